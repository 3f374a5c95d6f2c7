//! `partners: auto` / `apis: auto` (and `--partners auto` / `--apis auto` for one run): the
//! series are taken from the data. A CSV of partners nobody configured is analysed end to end;
//! a REAL Prometheus on 127.0.0.1 with 12 partners × 3 APIs backfilled is discovered to exactly
//! those 36 series.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
use trendmaster_fetch::DemoTraffic;
use trendmaster_testkit::{MetricShape, PrometheusServer};
use trendmaster_types::{AnalysisWindow, FetchedSeries, SeriesKey};

const AS_OF: &str = "2026-11-15T00:00:00Z";

fn demo_series(keys: &[SeriesKey], days: u32) -> Vec<FetchedSeries> {
    let window = AnalysisWindow::ending_at(AS_OF.parse().unwrap(), days, 60);
    let demo = DemoTraffic::new(3);
    keys.iter().map(|key| demo.series(key, &window)).collect()
}

fn trendmaster(dir: &Path, config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trendmaster"))
        .current_dir(dir)
        .env_clear()
        .args(["--config", config.to_str().unwrap(), "--as-of", AS_OF])
        .args(["--output-format", "json", "--no-charts", "--output-dir"])
        .arg(dir.join("out"))
        .args(args)
        .output()
        .unwrap()
}

/// A run against the Prometheus at `url`, over the last `days` days before `AS_OF`.
fn from_prometheus(dir: &Path, config: &Path, url: &str, days: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "--source",
        "prometheus",
        "--prometheus-url",
        url,
        "--days",
        days,
    ];
    args.extend_from_slice(extra);
    trendmaster(dir, config, &args)
}

/// The shipped configuration with the `environment` environment's partner list replaced.
fn config_with_partners(dir: &Path, partners: &str) -> std::path::PathBuf {
    let shipped = trendmaster_testkit::workspace_dir().join("config/config.yaml");
    let text = std::fs::read_to_string(shipped).unwrap();
    let listed = r#"    partners: ["111", "222", "333", "444"]"#;
    assert!(text.contains(listed), "config.yaml's partner list moved");
    let path = dir.join("config.yaml");
    std::fs::write(
        &path,
        text.replacen(listed, &format!("    partners: {partners}"), 1),
    )
    .unwrap();
    path
}

/// The partner × API pairs a run's JSON result analysed (recommended or skipped).
fn analysed(output: &Output) -> BTreeSet<SeriesKey> {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result: Value = serde_json::from_slice(&output.stdout).unwrap();
    let recommended = result["recommendations"].as_array().unwrap().iter();
    let skipped = result["skipped"].as_array().unwrap().iter();
    recommended
        .chain(skipped)
        .map(|entry| {
            let key = &entry["key"];
            SeriesKey::new(
                key["partner"].as_str().unwrap(),
                key["api"].as_str().unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_file_of_partners_nobody_configured_is_analysed_with_partners_auto() {
    let dir = tempfile::tempdir().unwrap();
    let apis = [
        "/api_v3/service/multirequest",
        "/api_v3/service/asset/action/list",
    ];
    let partners = ["9001", "9002", "9003"];
    let keys: Vec<SeriesKey> = partners
        .iter()
        .flat_map(|p| apis.iter().map(move |a| SeriesKey::new(*p, *a)))
        .collect();
    let file = dir.path().join("traffic.csv");
    trendmaster_fetch::export::export(&file, &demo_series(&keys, 14)).unwrap();
    let source = format!("file:{}", file.display());

    // Configured partners only: none of the file's.
    let config = config_with_partners(dir.path(), r#"["111", "222"]"#);
    let listed = trendmaster(dir.path(), &config, &["--source", &source]);
    assert!(
        !listed.status.success(),
        "the configured partners are not in the file"
    );

    // `partners: auto`: the file's three partners on the configured APIs it has.
    let config = config_with_partners(dir.path(), "auto");
    let run = trendmaster(dir.path(), &config, &["--source", &source]);
    let found = analysed(&run);
    assert_eq!(found, keys.iter().cloned().collect::<BTreeSet<_>>());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("discovered 6 series"), "{stderr}");
    let result: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(result["recommendations"].as_array().unwrap().len(), 6);

    // A narrowing `--partners` under `auto`, and the one-run flag over a listed config.
    let one = trendmaster(
        dir.path(),
        &config,
        &["--source", &source, "--partners", "9002"],
    );
    assert_eq!(analysed(&one).len(), 2);
    let config = config_with_partners(dir.path(), r#"["111"]"#);
    let flagged = trendmaster(
        dir.path(),
        &config,
        &["--source", &source, "--partners", "auto"],
    );
    assert_eq!(analysed(&flagged).len(), 6);

    // More than max_series is refused, naming the key.
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replacen(
            r#"    partners: ["111"]"#,
            "    partners: auto\n    max_series: 5",
            1,
        ),
    )
    .unwrap();
    let capped = trendmaster(dir.path(), &config, &["--source", &source]);
    assert_eq!(capped.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&capped.stderr);
    assert!(
        stderr.contains("max_series: 6 series discovered, more than the 5 allowed"),
        "{stderr}"
    );
}

#[test]
fn a_real_prometheus_with_12_partners_and_3_apis_is_discovered_to_exactly_36_series() {
    let dir = tempfile::tempdir().unwrap();
    // `get` is contained in `getplaybackcontext`: with the APIs listed, each path must be
    // credited once.
    let apis = [
        "/api_v3/service/asset/action/get",
        "/api_v3/service/asset/action/getplaybackcontext",
        "/api_v3/service/ottuser/action/login",
    ];
    let partners: Vec<String> = (0..12).map(|i| (5100 + i).to_string()).collect();
    let keys: Vec<SeriesKey> = partners
        .iter()
        .flat_map(|p| apis.iter().map(move |a| SeriesKey::new(p.as_str(), *a)))
        .collect();
    // Three days are enough to be found (the analysis itself is another test's business).
    let server = PrometheusServer::start(&demo_series(&keys, 3), MetricShape::Nginx)
        .expect("a real Prometheus (scripts/install-test-deps.sh installs it)");
    let config = config_with_partners(dir.path(), "auto");
    let run = from_prometheus(dir.path(), &config, &server.url(), "3", &["--apis", "auto"]);
    let stderr = String::from_utf8_lossy(&run.stderr).to_string();
    let found = analysed(&run);
    assert_eq!(
        found,
        keys.iter().cloned().collect::<BTreeSet<_>>(),
        "{stderr}"
    );
    assert!(stderr.contains("discovered 36 series"), "{stderr}");
    assert!(stderr.contains("12 partners, 3 APIs"), "{stderr}");

    // With the configured APIs listed (partners still `auto`), Prometheus is asked for their
    // paths only and each path goes to the longest API it contains, as the fetch credits it.
    let listed = from_prometheus(dir.path(), &config, &server.url(), "3", &[]);
    assert_eq!(analysed(&listed), found);
}

#[test]
fn paths_with_ids_are_folded_into_one_api_whose_traffic_is_their_sum() {
    let dir = tempfile::tempdir().unwrap();
    let users: Vec<SeriesKey> = [1001, 1002, 1003]
        .iter()
        .map(|id| SeriesKey::new("5200", format!("/api/v1/users/{id}/profile")))
        .collect();
    let catalog = SeriesKey::new("5200", "/api/v1/catalog");
    let mut keys = users.clone();
    keys.push(catalog.clone());
    // Without the demo's scrape gaps, so that every minute has a sum to compare.
    let mut series = demo_series(&keys, 3);
    for fetched in &mut series {
        for value in &mut fetched.series.values {
            *value = if value.is_nan() { 0.0 } else { *value };
        }
    }
    let server = PrometheusServer::start(&series, MetricShape::Nginx)
        .expect("a real Prometheus (scripts/install-test-deps.sh installs it)");
    let config = config_with_partners(dir.path(), "auto");
    let export = dir.path().join("fetched.csv");
    let run = from_prometheus(
        dir.path(),
        &config,
        &server.url(),
        "3",
        &["--apis", "auto", "--export-data", export.to_str().unwrap()],
    );
    // The shipped PROMETHEUS_CONFIG.path_rules fold the numeric segment.
    let templated = SeriesKey::new("5200", "/api/v1/users/{id}/profile");
    assert_eq!(
        analysed(&run),
        BTreeSet::from([templated.clone(), catalog.clone()])
    );

    // What was fetched for `{id}` is, minute by minute, the three users' traffic summed.
    let text = std::fs::read_to_string(&export).unwrap();
    let fetched: Vec<f64> = text
        .lines()
        .skip(1)
        .filter(|line| line.contains(&templated.api))
        .map(|line| line.split(',').nth(3).unwrap().parse().unwrap())
        .collect();
    let summed: Vec<f64> = (0..series[0].series.values.len())
        .map(|i| series[..3].iter().map(|s| s.series.values[i]).sum())
        .collect();
    assert_eq!(fetched.len(), summed.len());
    let worst = fetched
        .iter()
        .zip(&summed)
        .map(|(f, s)| (f - s).abs())
        .fold(0.0_f64, f64::max);
    assert!(worst < 1e-6, "largest difference {worst}");
}
