//! End-to-end in real Envoy: the local rate-limit EnvoyFilter the binary writes
//! (`--local-ratelimit`) is accepted by `envoy --mode validate` as emitted, TypedStruct
//! wrappers included, in every variant a run writes (enforced, `--shadow`, `--profile
//! degraded`); a broken copy is rejected, so the check can fail; and a running Envoy carrying
//! it lets a partner through exactly `max_tokens` times, then answers 429, or only counts the
//! excess under `--shadow`.
//!
//! Envoy stands alone here, not behind istiod: `trendmaster_testkit::envoy::bootstrap` applies
//! the filter's patches to a gateway-like skeleton the way Istio would.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde_json::Value;
use trendmaster_testkit::envoy::{self, BootstrapOptions};

const AS_OF: &str = "2026-11-15T00:00:00Z";
const FILTER: &str = "envoy.filters.http.local_ratelimit";
const PARTNER_HEADER: &str = "x-partner-id";
const STATS: &str = "http_local_rate_limiter.http_local_rate_limit";
/// Over the built-in configuration: 700 proxies share the budget, so partner 444's bucket
/// holds about a dozen tokens (12 on three days of demo traffic) and partner 111's about 80.
const SMALL_BUDGETS: &str =
    "COMMON:\n  LOCAL_RATELIMIT:\n    replicas: 700\n    burst_factor: 1.0\n";
/// The partner whose bucket is emptied, and one whose bucket must stay untouched.
const SMALL: &str = "444";
const OTHER: &str = "111";

/// The EnvoyFilter of a run of the shipped configuration on every configured partner's demo
/// traffic (three days of it) with `extra` flags, in `dir/<out>`, parsed.
fn shipped_envoyfilter(dir: &Path, out: &str, extra: &[&str]) -> Value {
    let mut args = vec!["--local-ratelimit"];
    args.extend_from_slice(extra);
    common::quick_demo_run(dir, out, &args);
    parse(&common::only_file(
        &dir.join(out),
        "environment_envoyfilter_",
        ".yaml",
    ))
}

/// The EnvoyFilter of a run with [`SMALL_BUDGETS`] on partners [`SMALL`] and [`OTHER`].
fn small_envoyfilter(dir: &Path, extra: &[&str]) -> Value {
    let config = dir.join("small.yaml");
    std::fs::write(&config, SMALL_BUDGETS).unwrap();
    let partners = format!("{SMALL},{OTHER}");
    let mut args = vec![
        "--config",
        config.to_str().unwrap(),
        "--as-of",
        AS_OF,
        "--partners",
        &partners,
        "--forecaster",
        "none",
        "--no-charts",
        "--days",
        "3",
        "--local-ratelimit",
        "--output-dir",
        "out",
    ];
    args.extend_from_slice(extra);
    let output = Command::new(env!("CARGO_BIN_EXE_trendmaster"))
        .current_dir(dir)
        .env_clear()
        .args(&args)
        .output()
        .expect("the binary runs");
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    parse(&common::only_file(
        &dir.join("out"),
        "environment_envoyfilter_",
        ".yaml",
    ))
}

fn parse(path: &Path) -> Value {
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `LocalRateLimit` the route patch carries (inside its TypedStruct).
fn route_config(filter: &mut Value) -> &mut Value {
    let patch = filter["spec"]["configPatches"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|p| p["applyTo"] == "HTTP_ROUTE")
        .expect("an HTTP_ROUTE patch");
    &mut patch["patch"]["value"]["typed_per_filter_config"][FILTER]["value"]
}

/// The descriptor bucket of `partner` in the route's config.
fn bucket<'a>(filter: &'a mut Value, partner: &str) -> &'a mut Value {
    route_config(filter)["descriptors"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|d| d["entries"][0]["value"] == partner)
        .unwrap_or_else(|| panic!("no descriptor for partner {partner}"))
        .get_mut("token_bucket")
        .unwrap()
}

fn hcm(bootstrap: &Value) -> &Value {
    &bootstrap["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
}

/// The bootstrap of `filter`, checked to carry it: otherwise validating it would prove nothing.
fn bootstrap_of(filter: &Value, upstream_port: u16) -> Value {
    let options = BootstrapOptions {
        upstream_port,
        ..BootstrapOptions::default()
    };
    let bootstrap = envoy::bootstrap(std::slice::from_ref(filter), &options);
    let names: Vec<&str> = hcm(&bootstrap)["http_filters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, [FILTER, "envoy.filters.http.router"]);
    let route = &hcm(&bootstrap)["route_config"]["virtual_hosts"][0]["routes"][0];
    assert!(
        route["typed_per_filter_config"][FILTER].is_object(),
        "{route}"
    );
    assert_eq!(route["route"]["cluster"], "upstream", "{route}");
    bootstrap
}

/// `envoy --mode validate` on `filter`'s bootstrap, timed.
fn validate(filter: &Value) -> Result<(), String> {
    let started = Instant::now();
    let result = envoy::validate(&bootstrap_of(filter, 0));
    eprintln!(
        "envoy --mode validate: {:.2} s",
        started.elapsed().as_secs_f64()
    );
    result
}

fn tokens(bucket: &Value, field: &str) -> u64 {
    bucket[field].as_u64().unwrap()
}

/// `count` GETs with `partner`'s header; their status codes, counted.
fn send(port: u16, partner: Option<&str>, count: u64) -> BTreeMap<u16, u64> {
    let headers: Vec<(&str, &str)> = partner.map(|p| (PARTNER_HEADER, p)).into_iter().collect();
    let mut statuses = BTreeMap::new();
    for _ in 0..count {
        *statuses
            .entry(envoy::get(port, "/api_v3/service/multirequest", &headers))
            .or_default() += 1;
    }
    statuses
}

fn stat(stats: &BTreeMap<String, u64>, name: &str) -> u64 {
    let name = format!("{STATS}.{name}");
    *stats
        .get(&name)
        .unwrap_or_else(|| panic!("no stat {name} in {stats:?}"))
}

#[test]
fn every_emitted_local_envoyfilter_passes_envoy_validate_and_a_broken_one_does_not() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    // Three runs at once: each takes about 2 s of one core.
    let (normal, shadow, degraded) = std::thread::scope(|scope| {
        let normal = scope.spawn(|| shipped_envoyfilter(dir.path(), "normal", &[]));
        let shadow = scope.spawn(|| shipped_envoyfilter(dir.path(), "shadow", &["--shadow"]));
        let degraded =
            scope.spawn(|| shipped_envoyfilter(dir.path(), "degraded", &["--profile", "degraded"]));
        (
            normal.join().unwrap(),
            shadow.join().unwrap(),
            degraded.join().unwrap(),
        )
    });
    // There is no separate degraded EnvoyFilter file: `--profile degraded` makes the one
    // EnvoyFilter from the degraded limits.
    for out in ["normal", "shadow", "degraded"] {
        let files: Vec<PathBuf> = std::fs::read_dir(dir.path().join(out))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                let name = p.file_name().unwrap().to_string_lossy();
                name.contains("envoyfilter") && name.contains("degraded")
            })
            .collect();
        assert_eq!(files, Vec::<PathBuf>::new(), "{out}");
    }
    let default_tokens = |filter: &Value| {
        tokens(
            &route_config(&mut filter.clone())["token_bucket"],
            "max_tokens",
        )
    };
    assert!(
        default_tokens(&degraded) < default_tokens(&normal),
        "the degraded profile's buckets are smaller: {} vs {}",
        default_tokens(&degraded),
        default_tokens(&normal)
    );
    let enforced = |filter: &Value| {
        route_config(&mut filter.clone())["filter_enforced"]["default_value"]["numerator"].clone()
    };
    assert_eq!(enforced(&normal), 100);
    assert_eq!(enforced(&shadow), 0);

    for (name, filter) in [
        ("normal", &normal),
        ("shadow", &shadow),
        ("degraded", &degraded),
    ] {
        validate(filter).unwrap_or_else(|e| panic!("{name}: {e}"));
    }

    // Envoy 1.40 does not check everything: it accepts (measured) a descriptor bucket with
    // `max_tokens: 0`, a default bucket with `max_tokens: 0`, and a descriptor refilled every
    // 90 s under a default bucket refilled every 60 s (older Envoys rejected that with "local
    // rate descriptor limit is not a multiple of token bucket fill timer"). So those are
    // checked here.
    for (name, filter) in [
        ("normal", &normal),
        ("shadow", &shadow),
        ("degraded", &degraded),
    ] {
        let mut filter = filter.clone();
        let config = route_config(&mut filter);
        let mut buckets = vec![config["token_bucket"].clone()];
        buckets.extend(
            config["descriptors"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["token_bucket"].clone()),
        );
        assert!(buckets.len() > 1, "{name}: the default and one per partner");
        for bucket in &buckets {
            assert!(
                tokens(bucket, "max_tokens") >= tokens(bucket, "tokens_per_fill"),
                "{name}: {bucket}"
            );
            assert!(tokens(bucket, "tokens_per_fill") > 0, "{name}: {bucket}");
            assert_eq!(
                bucket["fill_interval"], buckets[0]["fill_interval"],
                "{name}: {bucket}"
            );
        }
    }

    // What Envoy does reject, inside the TypedStruct as well: a refill faster than 50 ms, a
    // misspelled field, and a route without the default bucket.
    let mut fast = normal.clone();
    bucket(&mut fast, "111")["fill_interval"] = "0.01s".into();
    let error = validate(&fast).unwrap_err();
    assert!(error.contains("fill timer must be >= 50ms"), "{error}");
    let mut misspelled = normal.clone();
    let tokens_per_fill = bucket(&mut misspelled, "111")
        .as_object_mut()
        .unwrap()
        .remove("tokens_per_fill")
        .unwrap();
    bucket(&mut misspelled, "111")["tokens_per_fil"] = tokens_per_fill;
    let error = validate(&misspelled).unwrap_err();
    // Protobuf pads its JSON errors with random runs of spaces ("no   such  field"), so that
    // nobody matches them word for word: only the field's name and Envoy's own words here.
    assert!(
        error.contains("'tokens_per_fil'") && error.contains("has unknown fields"),
        "{error}"
    );
    let mut no_default = normal.clone();
    route_config(&mut no_default)
        .as_object_mut()
        .unwrap()
        .remove("token_bucket");
    let error = validate(&no_default).unwrap_err();
    assert!(
        error.contains("token bucket must be set for per filter configs"),
        "{error}"
    );
    eprintln!("test wall time: {:.1} s", started.elapsed().as_secs_f64());
}

#[test]
fn a_partner_gets_max_tokens_requests_then_429_and_others_are_untouched() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let mut filter = small_envoyfilter(dir.path(), &[]);
    let max_tokens = tokens(bucket(&mut filter, SMALL), "max_tokens");
    // Even if Envoy refills continuously rather than once a minute, a token comes back only
    // every 60 s ÷ max_tokens (5 s for 12); this many requests take about 10 ms, so no refill
    // can blur the edge.
    assert!((2..=100).contains(&max_tokens), "{max_tokens}");
    let upstream = envoy::upstream();
    let proxy = envoy::start(&bootstrap_of(&filter, upstream.port())).unwrap();
    eprintln!("Envoy ready in {:.2} s", proxy.startup_seconds());
    let port = proxy.listener_port();

    assert_eq!(
        send(port, Some(SMALL), max_tokens),
        BTreeMap::from([(200, max_tokens)])
    );
    assert_eq!(envoy::get(port, "/", &[(PARTNER_HEADER, SMALL)]), 429);
    // Partner 111's own bucket, and the default one (no header), are still full.
    assert_eq!(envoy::get(port, "/", &[(PARTNER_HEADER, OTHER)]), 200);
    assert_eq!(envoy::get(port, "/", &[]), 200);
    assert_eq!(
        upstream.requests(),
        max_tokens + 2,
        "the rejected request never reached the upstream"
    );
    let stats = proxy.stats();
    assert_eq!(stat(&stats, "rate_limited"), 1);
    assert_eq!(stat(&stats, "enforced"), 1);
    assert_eq!(stat(&stats, "ok"), max_tokens + 2);
    eprintln!("test wall time: {:.1} s", started.elapsed().as_secs_f64());
}

#[test]
fn under_shadow_the_excess_is_counted_but_let_through() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let mut filter = small_envoyfilter(dir.path(), &["--shadow"]);
    let max_tokens = tokens(bucket(&mut filter, SMALL), "max_tokens");
    assert!((2..=100).contains(&max_tokens), "{max_tokens}");
    let upstream = envoy::upstream();
    let proxy = envoy::start(&bootstrap_of(&filter, upstream.port())).unwrap();
    eprintln!("Envoy ready in {:.2} s", proxy.startup_seconds());

    assert_eq!(
        send(proxy.listener_port(), Some(SMALL), max_tokens + 5),
        BTreeMap::from([(200, max_tokens + 5)])
    );
    assert_eq!(upstream.requests(), max_tokens + 5);
    let stats = proxy.stats();
    assert_eq!(stat(&stats, "rate_limited"), 5);
    assert_eq!(stat(&stats, "enforced"), 0);
    eprintln!("test wall time: {:.1} s", started.elapsed().as_secs_f64());
}
