//! The global wiring EnvoyFilter (`<env>_global_envoyfilter_*.yaml`) in real Envoy:
//! - every variant a run writes (normal, `--profile degraded`, `--shadow`), alone and together
//!   with the local filter, passes `envoy --mode validate`, and a broken copy does not;
//! - its route actions make Envoy build exactly the ConfigMap's descriptor for every demo
//!   partner × API — with a query string, with an ID after the path — and none of the entries'
//!   descriptors for an unknown partner or a request without the header.
//!
//! The second is proven without the ratelimit service: Envoy's local rate-limit filter
//! evaluates the same route `rate_limits` actions. A probe filter of stage 1 (the global
//! filter's) gets one bucket of one token per ConfigMap entry (`PARTNER` = p, `PATH` = api),
//! matched by Envoy verbatim and in full, next to a large default bucket. A request whose
//! actions build an entry's descriptor spends that entry's token: the second such request is
//! answered 429. A request that builds another descriptor, or none, falls to the default bucket.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{Value, json};
use trendmaster_testkit::envoy::{self, BootstrapOptions};

const GLOBAL: &str = "envoy.filters.http.ratelimit";
const LOCAL: &str = "envoy.filters.http.local_ratelimit";
const SERVICE_CLUSTER: &str = "outbound|8081||ratelimit.ratelimit.svc.cluster.local";
const PARTNER_HEADER: &str = "x-partner-id";

/// A run of the shipped configuration on three days of demo traffic with `extra` flags, in
/// `dir/<out>`.
fn run(dir: &Path, out: &str, extra: &[&str]) {
    common::quick_demo_run(dir, out, extra);
}

fn parse(path: &Path) -> Value {
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn global_filter(dir: &Path, out: &str) -> Value {
    parse(&common::only_file(
        &dir.join(out),
        "environment_global_envoyfilter_",
        ".yaml",
    ))
}

/// Every (partner, API) entry of the ConfigMap's ratelimit file.
fn configmap_entries(dir: &Path, out: &str) -> BTreeSet<(String, String)> {
    let configmap = parse(&dir.join(out).join("latest_configmap.yaml"));
    let file: Value =
        serde_yaml::from_str(configmap["data"]["config.yaml"].as_str().unwrap()).unwrap();
    let mut entries = BTreeSet::new();
    for partner in file["descriptors"].as_array().unwrap() {
        assert_eq!(partner["key"], "PARTNER");
        for path in partner["descriptors"].as_array().unwrap() {
            assert_eq!(path["key"], "PATH");
            entries.insert((
                partner["value"].as_str().unwrap().to_owned(),
                path["value"].as_str().unwrap().to_owned(),
            ));
        }
    }
    entries
}

fn options(upstream_port: u16) -> BootstrapOptions {
    BootstrapOptions {
        upstream_port,
        extra_clusters: vec![(SERVICE_CLUSTER.to_owned(), 0, true)],
        ..BootstrapOptions::default()
    }
}

fn http_filter_names(bootstrap: &Value) -> Vec<String> {
    bootstrap["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
        ["http_filters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn every_emitted_global_envoyfilter_passes_envoy_validate_and_a_broken_one_does_not() {
    let dir = tempfile::tempdir().unwrap();
    std::thread::scope(|scope| {
        scope.spawn(|| run(dir.path(), "normal", &["--local-ratelimit"]));
        scope.spawn(|| run(dir.path(), "degraded", &["--profile", "degraded"]));
        scope.spawn(|| run(dir.path(), "shadow", &["--shadow"]));
    });
    let normal = global_filter(dir.path(), "normal");
    for out in ["degraded", "shadow"] {
        // The wiring depends on the entries, not on their limits.
        let mut other = global_filter(dir.path(), out);
        other["metadata"] = normal["metadata"].clone();
        assert_eq!(other, normal, "{out}");
    }
    let local = parse(&common::only_file(
        &dir.path().join("normal"),
        "environment_envoyfilter_",
        ".yaml",
    ));

    let alone = envoy::bootstrap(std::slice::from_ref(&normal), &options(0));
    assert_eq!(
        http_filter_names(&alone),
        [GLOBAL, "envoy.filters.http.router"]
    );
    envoy::validate(&alone).unwrap();
    let both = envoy::bootstrap(&[local, normal.clone()], &options(0));
    assert_eq!(
        http_filter_names(&both),
        [LOCAL, GLOBAL, "envoy.filters.http.router"],
        "the local backstop first, the global filter right before the router"
    );
    envoy::validate(&both).unwrap();

    // A misspelt field in the header matcher: Envoy refuses the bootstrap.
    let text = serde_json::to_string(&alone)
        .unwrap()
        .replace("\"invert_match\"", "\"invert_matches\"");
    assert!(text.contains("invert_matches"));
    let error = envoy::validate(&serde_json::from_str(&text).unwrap()).unwrap_err();
    assert!(error.contains("invert_matches"), "{error}");
}

/// `filter` with its Envoy filter replaced by a local rate-limit probe of the same stage that
/// has one single-token bucket per entry of `entries`.
fn probe(filter: &Value, entries: &BTreeSet<(String, String)>) -> Value {
    let mut probe = filter.clone();
    let patches = probe["spec"]["configPatches"].as_array_mut().unwrap();
    let stage = patches[1]["patch"]["value"]["route"]["rate_limits"][0]["stage"].clone();
    assert_eq!(stage, json!(1));
    patches[0]["patch"]["value"] = json!({
        "name": LOCAL,
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
            "stat_prefix": "probe",
        },
    });
    let one_token = json!({"max_tokens": 1, "tokens_per_fill": 1, "fill_interval": "3600s"});
    let descriptors: Vec<Value> = entries
        .iter()
        .map(|(partner, api)| {
            json!({
                "entries": [{"key": "PARTNER", "value": partner}, {"key": "PATH", "value": api}],
                "token_bucket": one_token,
            })
        })
        .collect();
    patches[1]["patch"]["value"]["typed_per_filter_config"] = json!({
        LOCAL: {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
            "stat_prefix": "probe",
            "stage": stage,
            "token_bucket": {"max_tokens": 100000, "tokens_per_fill": 100000, "fill_interval": "3600s"},
            "filter_enabled": {"runtime_key": "probe_enabled", "default_value": {"numerator": 100, "denominator": "HUNDRED"}},
            "filter_enforced": {"runtime_key": "probe_enforced", "default_value": {"numerator": 100, "denominator": "HUNDRED"}},
            "always_consume_default_token_bucket": false,
            "descriptors": descriptors,
        },
    });
    probe
}

/// GET `path` with `partner`'s header (none: without it); the status code.
fn get(port: u16, path: &str, partner: Option<&str>) -> u16 {
    let headers: Vec<(&str, &str)> = partner.map(|p| (PARTNER_HEADER, p)).into_iter().collect();
    envoy::get(port, path, &headers)
}

#[test]
fn envoy_builds_exactly_the_configmap_descriptor_for_every_demo_entry() {
    let dir = tempfile::tempdir().unwrap();
    run(dir.path(), "out", &[]);
    let filter = global_filter(dir.path(), "out");
    let entries = configmap_entries(dir.path(), "out");
    assert_eq!(entries.len(), 36, "4 partners × 9 APIs");
    let upstream = envoy::upstream();
    let probe = probe(&filter, &entries);

    // Longest APIs first, then shortest first, each in a fresh Envoy: an action that also
    // built a shorter (or longer) API's descriptor would spend that entry's only token, and
    // its own first request would be refused.
    let mut order: Vec<&(String, String)> = entries.iter().collect();
    order.sort_by_key(|(partner, api)| (std::cmp::Reverse(api.len()), partner.clone()));
    for pass in [order.clone(), order.into_iter().rev().collect()] {
        let bootstrap = envoy::bootstrap(std::slice::from_ref(&probe), &options(upstream.port()));
        let envoy = envoy::start(&bootstrap).unwrap();
        let port = envoy.listener_port();
        // Neither an unknown partner nor a request without the header builds an entry's
        // descriptor: the default bucket lets them through, again and again.
        for _ in 0..3 {
            assert_eq!(get(port, "/api_v3/service/multirequest", Some("999")), 200);
            assert_eq!(get(port, "/api_v3/service/multirequest", None), 200);
        }
        for (partner, api) in &pass {
            assert_eq!(
                get(port, &format!("{api}/42?page=2"), Some(partner)),
                200,
                "{partner} {api}: the first request spends the entry's token"
            );
            assert_eq!(
                get(port, &format!("{api}?page=2"), Some(partner)),
                429,
                "{partner} {api}: with a query string, the same descriptor"
            );
            assert_eq!(
                get(port, api, Some(partner)),
                429,
                "{partner} {api}: the path itself, the same descriptor"
            );
        }
        let stats = envoy.stats();
        let limited = stats["probe.http_local_rate_limit.rate_limited"];
        assert_eq!(limited, 2 * entries.len() as u64, "{stats:?}");
    }
}
