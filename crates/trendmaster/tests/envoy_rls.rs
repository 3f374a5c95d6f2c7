//! End to end in the data plane: real Envoy on 127.0.0.1 carrying the global wiring EnvoyFilter
//! a run wrote, a local upstream, and a test ratelimit service speaking the real gRPC API
//! (`trendmaster_testkit::ratelimit_service`) that records what Envoy asks. For every partner ×
//! API of the demo — plain, with a query string, with an ID after the path — Envoy asks about
//! exactly one descriptor, and the service's lookup rules find for it exactly that entry of the
//! emitted ConfigMap and its limit; an unknown partner's descriptor finds none of ours, and a
//! request without the partner header, or to a path of no API, asks nothing.

mod common;

use std::path::Path;
use std::time::Instant;

use serde_json::Value;
use trendmaster_testkit::envoy::{self, BootstrapOptions};
use trendmaster_testkit::ratelimit_service::{RateLimitServiceFake, RecordedRequest, lookup};

const SERVICE_CLUSTER: &str = "outbound|8081||ratelimit.ratelimit.svc.cluster.local";
const PARTNER_HEADER: &str = "x-partner-id";
const DOMAIN: &str = "global-ratelimit";

fn parse(path: &Path) -> Value {
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The ratelimit file of the emitted ConfigMap.
fn ratelimit_file(out: &Path) -> Value {
    let configmap = parse(&out.join("latest_configmap.yaml"));
    serde_yaml::from_str(configmap["data"]["config.yaml"].as_str().unwrap()).unwrap()
}

/// (partner, API, requests_per_unit) of every entry of `file`.
fn entries(file: &Value) -> Vec<(String, String, u64)> {
    let mut entries = Vec::new();
    for partner in file["descriptors"].as_array().unwrap() {
        for path in partner["descriptors"].as_array().unwrap() {
            entries.push((
                partner["value"].as_str().unwrap().to_owned(),
                path["value"].as_str().unwrap().to_owned(),
                path["rate_limit"]["requests_per_unit"].as_u64().unwrap(),
            ));
        }
    }
    entries
}

fn descriptor(partner: &str, api: &str) -> Vec<(String, String)> {
    vec![
        ("PARTNER".to_owned(), partner.to_owned()),
        ("PATH".to_owned(), api.to_owned()),
    ]
}

#[test]
fn envoy_asks_the_service_for_exactly_the_configmap_entry_of_every_request() {
    let dir = tempfile::tempdir().unwrap();
    common::quick_demo_run(dir.path(), "out", &[]);
    let out = dir.path().join("out");
    let filter = parse(&common::only_file(
        &out,
        "environment_global_envoyfilter_",
        ".yaml",
    ));
    let file = ratelimit_file(&out);
    assert_eq!(file["domain"], DOMAIN);
    let entries = entries(&file);
    assert_eq!(entries.len(), 36, "4 partners × 9 APIs");

    let service = RateLimitServiceFake::start().unwrap();
    let upstream = envoy::upstream();
    let options = BootstrapOptions {
        upstream_port: upstream.port(),
        extra_clusters: vec![(SERVICE_CLUSTER.to_owned(), service.port(), true)],
        ..BootstrapOptions::default()
    };
    let started = Instant::now();
    let envoy = envoy::start(&envoy::bootstrap(std::slice::from_ref(&filter), &options)).unwrap();
    eprintln!("Envoy ready in {:.2} s", started.elapsed().as_secs_f64());
    let port = envoy.listener_port();
    let asked = |path: &str, partner: Option<&str>| -> Vec<RecordedRequest> {
        let headers: Vec<(&str, &str)> = partner.map(|p| (PARTNER_HEADER, p)).into_iter().collect();
        assert_eq!(envoy::get(port, path, &headers), 200, "{path} {partner:?}");
        service.take()
    };

    let started = Instant::now();
    for (partner, api, limit) in &entries {
        for path in [api.clone(), format!("{api}?page=2"), format!("{api}/42")] {
            let requests = asked(&path, Some(partner));
            assert_eq!(
                requests,
                [RecordedRequest {
                    domain: DOMAIN.to_owned(),
                    descriptors: vec![descriptor(partner, api)],
                }],
                "{partner} {path}"
            );
            let (matched, rate_limit) = lookup(&file, &requests[0].descriptors[0])
                .unwrap_or_else(|| panic!("{partner} {path}: no entry of the ConfigMap"));
            assert_eq!(matched, [partner.clone(), api.clone()], "{partner} {path}");
            assert_eq!(rate_limit["requests_per_unit"], *limit, "{partner} {path}");
            assert_eq!(rate_limit["unit"], "minute");
        }
        // An unknown partner: Envoy asks, and none of our entries answers.
        let requests = asked(api, Some("999"));
        assert_eq!(requests.len(), 1, "{api}");
        assert_eq!(requests[0].descriptors, [descriptor("999", api)]);
        assert_eq!(lookup(&file, &requests[0].descriptors[0]), None, "{api}");
        // Without the partner header: no descriptor, no call at all.
        assert_eq!(asked(api, None), [], "{api} without the header");
    }
    assert_eq!(asked("/healthz", Some("111")), [], "a path of no API");
    eprintln!(
        "{} requests through Envoy and the service in {:.2} s",
        entries.len() * 5 + 1,
        started.elapsed().as_secs_f64()
    );
    assert_eq!(upstream.requests(), entries.len() as u64 * 5 + 1);
}
