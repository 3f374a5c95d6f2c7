//! The Prometheus rules a run writes (`COMMON.ALERTS`): the real `promtool` accepts them, the
//! `PrometheusRule` holds the same groups, and a REAL Prometheus on 127.0.0.1 that loads them
//! over backfilled traffic records each entry's utilisation as the traffic ÷ its limit.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use serde_json::Value;
use trendmaster_fetch::DemoTraffic;
use trendmaster_testkit::{MetricShape, PrometheusServer, find_program};
use trendmaster_types::{AnalysisWindow, FetchedSeries, SeriesKey};

/// A demo run (the shipped configuration: 36 entries, with `COMMON.ALERTS.rate_window` set to
/// `rate_window`) into `dir`; the paths of its rule file and its `PrometheusRule`.
fn demo_run(dir: &Path, rate_window: &str) -> (PathBuf, PathBuf) {
    demo_run_with(dir, rate_window, &[])
}

/// [`demo_run`] with more flags.
fn demo_run_with(dir: &Path, rate_window: &str, flags: &[&str]) -> (PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let shipped = trendmaster_testkit::workspace_dir().join("config/config.yaml");
    let text = std::fs::read_to_string(shipped).unwrap();
    let setting = "    rate_window: 5m ";
    assert!(
        text.contains(setting),
        "config.yaml's COMMON.ALERTS.rate_window moved"
    );
    let config = dir.join("config.yaml");
    std::fs::write(
        &config,
        text.replace(setting, &format!("    rate_window: {rate_window} ")),
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_trendmaster"))
        .env_clear()
        .args(["--config", config.to_str().unwrap()])
        .args(["--as-of", "2026-11-15T00:00:00Z", "--seed", "1"])
        .args(["--output-format", "json", "--output-dir"])
        .arg(dir)
        .args(flags)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result: Value = serde_json::from_slice(&output.stdout).unwrap();
    let path = |key: &str| PathBuf::from(result["files"][key].as_str().expect(key));
    (path("rules"), path("prometheus_rule"))
}

fn yaml(path: &Path) -> serde_yaml::Value {
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Each entry's limit, from the rule file's recorded limits.
fn limits(rules: &serde_yaml::Value) -> BTreeMap<SeriesKey, f64> {
    rules["groups"][0]["rules"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter(|rule| rule["record"] == "trendmaster_rate_limit_requests_per_minute")
        .map(|rule| {
            let key = SeriesKey::new(
                rule["labels"]["partner"].as_str().unwrap(),
                rule["labels"]["path"].as_str().unwrap(),
            );
            let expr = rule["expr"].as_str().unwrap();
            let limit = expr["vector(".len()..expr.len() - 1].parse().unwrap();
            (key, limit)
        })
        .collect()
}

#[test]
fn promtool_accepts_the_rules_and_the_prometheus_rule_holds_the_same_groups() {
    let dir = tempfile::tempdir().unwrap();
    let (rules, prometheus_rule) = demo_run(dir.path(), "5m");
    let promtool = find_program("promtool", std::env::var_os("PATH").as_deref()).unwrap();
    let checked = Command::new(&promtool)
        .args(["check", "rules"])
        .arg(&rules)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&checked.stdout);
    assert!(
        checked.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    // 36 entries × (limit + utilisation) + the approaching alert (the nginx preset sees no
    // rejections).
    assert!(said.contains("SUCCESS: 73 rules found"), "{said}");
    let file = yaml(&rules);
    assert_eq!(limits(&file).len(), 36);
    let object = yaml(&prometheus_rule);
    assert_eq!(object["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(object["kind"], "PrometheusRule");
    assert_eq!(object["spec"], file);

    // The istio preset sees rejections (response_code="429"): each entry also records its
    // rejected share, and the rejection alert is written.
    let istio_dir = dir.path().join("istio");
    let (istio, _) = demo_run_with(&istio_dir, "5m", &["--query-preset", "istio"]);
    let checked = Command::new(&promtool)
        .args(["check", "rules"])
        .arg(&istio)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&checked.stdout);
    assert!(checked.status.success(), "{said}");
    assert!(said.contains("SUCCESS: 110 rules found"), "{said}");
    let alerts = yaml(&istio)["groups"][1]["rules"].clone();
    assert_eq!(alerts[1]["alert"], "TrendmasterRateLimitRejecting");

    // A broken copy fails, so the check above can fail.
    let broken = dir.path().join("broken.yaml");
    let text = std::fs::read_to_string(&rules).unwrap();
    std::fs::write(&broken, text.replacen("vector(", "vector((", 1)).unwrap();
    let refused = Command::new(&promtool)
        .args(["check", "rules"])
        .arg(&broken)
        .output()
        .unwrap();
    assert!(!refused.status.success());
}

/// Traffic at a constant rate per series (each its own, so that a rule reading another
/// series' traffic is caught) for the last three hours, up to the last 15 seconds.
///
/// Why it ends now and not later: a Prometheus refuses recorded samples older than its newest
/// block ("out of bounds"), so traffic backfilled into the future would stop every rule. And
/// why the rules read an hour: evaluated a few seconds after the traffic ends, `increase`
/// extrapolates that last stretch by half a sample interval only, which is a share of the
/// range: at most about 20 of 3,600 seconds here (0.5 %), but a tenth of a 5-minute range.
fn steady_traffic(keys: &[SeriesKey]) -> (Vec<FetchedSeries>, BTreeMap<SeriesKey, f64>) {
    let step_secs = 15;
    let end = AnalysisWindow::ending_at(Utc::now(), 0, step_secs).end;
    let window = AnalysisWindow {
        start: end - TimeDelta::hours(3),
        end,
        step_secs,
    };
    let demo = DemoTraffic::new(1);
    let mut rates = BTreeMap::new();
    let series = keys
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let rate = 10.0 + 7.0 * i as f64;
            rates.insert(key.clone(), rate);
            let mut fetched = demo.series(key, &window);
            fetched.series.values = vec![rate; window.len()];
            fetched.cache_hit_ratio = None;
            fetched
        })
        .collect();
    (series, rates)
}

#[test]
fn a_real_prometheus_records_each_entrys_utilisation_as_traffic_over_its_limit() {
    let dir = tempfile::tempdir().unwrap();
    let (rules, _) = demo_run(dir.path(), "1h");
    let limits = limits(&yaml(&rules));
    let keys: Vec<SeriesKey> = limits.keys().cloned().collect();
    let (series, rates) = steady_traffic(&keys);
    let server = PrometheusServer::start_with_rules(&series, MetricShape::Nginx, &[&rules])
        .expect("a real Prometheus (scripts/install-test-deps.sh installs it)");

    // Rules are evaluated every second once loaded; wait for every entry's first sample.
    let deadline = Instant::now() + Duration::from_secs(60);
    let recorded = loop {
        let body = reqwest::blocking::Client::new()
            .get(format!("{}/api/v1/query", server.url()))
            .query(&[("query", "trendmaster_rate_limit_utilisation")])
            .send()
            .unwrap()
            .text()
            .unwrap();
        let answer: Value = serde_json::from_str(&body).unwrap();
        let result = answer["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if result.len() == keys.len() {
            break result;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} utilisation series after 60 s: {answer}\n{}",
            result.len(),
            keys.len(),
            server.log()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let mut worst = 0.0_f64;
    for sample in &recorded {
        let key = SeriesKey::new(
            sample["metric"]["partner"].as_str().unwrap(),
            sample["metric"]["path"].as_str().unwrap(),
        );
        assert_eq!(sample["metric"]["environment"], "environment");
        let value: f64 = sample["value"][1].as_str().unwrap().parse().unwrap();
        let expected = rates[&key] / limits[&key];
        worst = worst.max((value / expected - 1.0).abs());
        assert!(
            (value / expected - 1.0).abs() < 0.01,
            "{key}: recorded {value}, traffic {} ÷ limit {} = {expected}",
            rates[&key],
            limits[&key]
        );
    }
    eprintln!(
        "{} entries, worst deviation {:.3} %",
        recorded.len(),
        worst * 100.0
    );
}
