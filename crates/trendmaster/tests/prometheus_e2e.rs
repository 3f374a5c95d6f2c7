//! End-to-end against a REAL Prometheus on 127.0.0.1: the demo traffic is backfilled with
//! `promtool tsdb create-blocks-from openmetrics`, and the real binary reads it back.
//! `make test` installs Prometheus when it is missing (scripts/install-test-deps.sh).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use trendmaster_fetch::DemoTraffic;
use trendmaster_testkit::{MetricShape, PrometheusServer};
use trendmaster_types::{AnalysisWindow, FetchedSeries, SeriesKey};

const AS_OF: &str = "2026-11-15T00:00:00Z";
const SEED: u64 = 1;

fn repo_config() -> PathBuf {
    trendmaster_testkit::workspace_dir().join("config/config.yaml")
}

/// The demo's series for the built-in `environment` partners and APIs (as in config.yaml).
fn demo_series(partners: &[&str], apis: &[&str]) -> Vec<FetchedSeries> {
    let window = AnalysisWindow::ending_at(AS_OF.parse().unwrap(), 14, 60);
    let demo = DemoTraffic::new(SEED);
    partners
        .iter()
        .flat_map(|p| apis.iter().map(move |a| SeriesKey::new(*p, *a)))
        .map(|key| demo.series(&key, &window))
        .collect()
}

const PARTNERS: [&str; 4] = ["111", "222", "333", "444"];
const APIS: [&str; 9] = [
    "/api_v3/service/multirequest",
    "/api_v3/service/asset/action/list",
    "/api_v3/service/asset/action/get",
    "/api_v3/service/asset/action/getplaybackcontext",
    "/api_v3/service/ottuser/action/login",
    "/api_v3/service/ottuser/action/get",
    "/api_v3/service/household/action/get",
    "/api_v3/service/entitlement/action/list",
    "/api_v3/service/channel/action/list",
];

fn trendmaster(dir: &Path, args: &[&str]) -> Output {
    let config = repo_config();
    Command::new(env!("CARGO_BIN_EXE_trendmaster"))
        .current_dir(dir)
        .env_clear()
        .args([
            "--config",
            config.to_str().unwrap(),
            "--as-of",
            AS_OF,
            "--seed",
            &SEED.to_string(),
        ])
        .args(["--output-format", "json"])
        .args(args)
        .output()
        .expect("the binary runs")
}

fn json(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("stdout is JSON")
}

/// partner:api → (limit, effective peak, cache source) of a run's recommendations.
fn limits(result: &Value) -> Vec<(String, u64, f64, String)> {
    result["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                format!(
                    "{}:{}",
                    r["key"]["partner"].as_str().unwrap(),
                    r["key"]["api"].as_str().unwrap()
                ),
                r["requests_per_minute"].as_u64().unwrap(),
                r["effective_peak"].as_f64().unwrap(),
                r["cache"]["source"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn configmap_data(dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join("latest_configmap.yaml")).unwrap();
    let configmap: Value = serde_yaml::from_str(&text).unwrap();
    configmap["data"]["config.yaml"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn prometheus_demo_file_and_cache_agree_on_a_real_server() {
    let series = demo_series(&PARTNERS, &APIS);
    let server = PrometheusServer::start(&series, MetricShape::Nginx)
        .expect("a real Prometheus (make test installs it)");
    eprintln!(
        "backfill {:.1} s, startup {:.1} s",
        server.backfill_seconds(),
        server.startup_seconds()
    );
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // 1. Prometheus → ConfigMap and report, with a few dozen queries for 36 series × 14 days.
    let from_prometheus = json(&trendmaster(
        d,
        &[
            "--source",
            "prometheus",
            "--prometheus-url",
            &url,
            "--output-dir",
            "prom",
            "--export-data",
            "traffic.csv",
            "--cache-dir",
            "cache",
        ],
    ));
    let queries = from_prometheus["fetch"]["queries"].as_u64().unwrap();
    eprintln!("fetch: {}", from_prometheus["fetch"]);
    assert!(queries <= 36, "grouped and chunked: {queries} queries");
    assert!(queries >= 18, "9 APIs × 2 chunks at least: {queries}");
    assert_eq!(from_prometheus["fetch"]["series"], 36);
    assert!(d.join("prom/latest_configmap.yaml").exists());
    let reports = std::fs::read_dir(d.join("prom")).unwrap().filter(|e| {
        let name = e.as_ref().unwrap().file_name();
        let name = name.to_string_lossy();
        name.starts_with("analysis_report_") && name.ends_with(".md")
    });
    assert_eq!(reports.count(), 1);

    // 2. Consistency with the demo source on the same window: the same limits.
    let from_demo = json(&trendmaster(
        d,
        &["--source", "demo", "--output-dir", "demo"],
    ));
    let (prom, demo) = (limits(&from_prometheus), limits(&from_demo));
    assert_eq!(prom.len(), 36);
    for (p, q) in prom.iter().zip(&demo) {
        assert_eq!(p.0, q.0);
        assert_eq!(
            p.1, q.1,
            "{}: limit from Prometheus {} vs demo {}",
            p.0, p.1, q.1
        );
        assert!(
            (p.2 - q.2).abs() <= 1e-6 * q.2.max(1.0),
            "{}: peak {} vs {}",
            p.0,
            p.2,
            q.2
        );
        assert_eq!(p.3, q.3, "{}: measured vs fallback cache factor", p.0);
    }
    assert!(
        prom.iter().any(|p| p.3 == "measured"),
        "the cache-ratio query found ratios"
    );
    assert_eq!(
        configmap_data(&d.join("prom")),
        configmap_data(&d.join("demo"))
    );

    // 3. --export-data then --source file: reproduces the Prometheus run exactly.
    let from_file = json(&trendmaster(
        d,
        &["--source", "file:traffic.csv", "--output-dir", "file"],
    ));
    assert_eq!(
        from_file["recommendations"],
        from_prometheus["recommendations"]
    );
    assert_eq!(
        configmap_data(&d.join("file")),
        configmap_data(&d.join("prom"))
    );

    // 4. The response cache answers a re-run without querying, and --offline works from it.
    let cached = json(&trendmaster(
        d,
        &[
            "--source",
            "prometheus",
            "--prometheus-url",
            &url,
            "--output-dir",
            "cached",
            "--cache-dir",
            "cache",
            "--offline",
        ],
    ));
    assert_eq!(cached["fetch"]["queries"], 0);
    assert_eq!(cached["fetch"]["cache_hits"].as_u64().unwrap(), queries);
    assert_eq!(
        cached["recommendations"],
        from_prometheus["recommendations"]
    );
    let empty = trendmaster(
        d,
        &[
            "--source",
            "prometheus",
            "--prometheus-url",
            &url,
            "--cache-dir",
            "empty-cache",
            "--offline",
        ],
    );
    assert_eq!(empty.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&empty.stderr).contains("--offline forbids asking Prometheus"));
}

#[test]
fn the_istio_preset_reads_istio_metrics() {
    let partners = ["111", "444"];
    let apis = [
        "/api_v3/service/multirequest",
        "/api_v3/service/asset/action/get",
        "/api_v3/service/asset/action/getplaybackcontext",
    ];
    let series = demo_series(&partners, &apis);
    let server = PrometheusServer::start(&series, MetricShape::Istio).expect("a real Prometheus");
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    let selection = ["--partners", "111,444", "--apis", &apis.join(",")];
    let mut args = vec![
        "--source",
        "prometheus",
        "--prometheus-url",
        &url,
        "--query-preset",
        "istio",
        "--output-dir",
        "istio",
    ];
    args.extend(selection);
    let istio = json(&trendmaster(dir.path(), &args));
    let mut args = vec!["--source", "demo", "--output-dir", "demo"];
    args.extend(selection);
    let demo = json(&trendmaster(dir.path(), &args));
    let (istio, demo) = (limits(&istio), limits(&demo));
    assert_eq!(istio.len(), 6);
    for (i, d) in istio.iter().zip(&demo) {
        // Istio metrics carry no cache status: the peak matches, the cache factor falls back.
        assert_eq!(i.3, "fallback", "{}", i.0);
        assert!(
            (i.2 - d.2).abs() <= 1e-6 * d.2.max(1.0),
            "{}: peak {} vs {}",
            i.0,
            i.2,
            d.2
        );
    }
}

#[test]
fn planted_credentials_appear_in_no_output_log_report_or_error_even_at_trace_level() {
    let (token, password) = ("planted-token-5e1f", "planted-password-9c2d");
    let apis = &APIS[..2];
    let server = PrometheusServer::start(&demo_series(&["111"], apis), MetricShape::Nginx)
        .expect("a real Prometheus");
    let url = format!("http://admin:{password}@127.0.0.1:{}", server.port());
    let dir = tempfile::tempdir().unwrap();
    let config = repo_config();
    let run = |args: &[&str], rust_log: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_trendmaster"));
        command
            .current_dir(dir.path())
            .env_clear()
            .env("PROMETHEUS_TOKEN", token)
            .args(["--config", config.to_str().unwrap(), "--as-of", AS_OF])
            .args(args);
        if let Some(filter) = rust_log {
            command.env("RUST_LOG", filter);
        }
        command.output().unwrap()
    };
    let selection = ["--partners", "111", "--apis", &apis.join(",")];
    let mut outputs = Vec::new();

    // A full run at debug level, logging to a file too; then everything at trace level.
    let mut args = vec![
        "--source",
        "prometheus",
        "--prometheus-url",
        &url,
        "-vv",
        "--log-file",
        "run.log",
        "--output-format",
        "json",
        "--output-dir",
        "out",
    ];
    args.extend(selection);
    let full = run(&args, None);
    assert!(
        full.status.success(),
        "{}",
        String::from_utf8_lossy(&full.stderr)
    );
    outputs.push(("debug run", full));
    let mut args = vec![
        "--source",
        "prometheus",
        "--prometheus-url",
        &url,
        "--output-dir",
        "out-trace",
        "--no-charts",
    ];
    args.extend(selection);
    let traced = run(&args, Some("trace"));
    assert!(traced.status.success());
    assert!(
        String::from_utf8_lossy(&traced.stderr).contains("TRACE"),
        "trace logs were on"
    );
    outputs.push(("trace run", traced));

    // A proxy that echoes the credentials in its error page: the message must not repeat them.
    let echo = trendmaster_testkit::fake_prometheus::FakePrometheus::start(vec![
        trendmaster_testkit::fake_prometheus::Reply::Send(
            401,
            Vec::new(),
            format!("denied: Authorization: Bearer {token}; user admin:{password}"),
        ),
    ]);
    let echo_url = echo
        .url()
        .replace("http://", &format!("http://admin:{password}@"));
    let mut args = vec![
        "--source",
        "prometheus",
        "--prometheus-url",
        &echo_url,
        "-vv",
        "--output-dir",
        "out-echo",
    ];
    args.extend(selection);
    let refused = run(&args, None);
    assert_eq!(refused.status.code(), Some(4));
    let refused_stderr = String::from_utf8_lossy(&refused.stderr).into_owned();
    assert!(
        refused_stderr.contains(
            "HTTP 401: denied: Authorization: Bearer ***redacted***; user admin:***redacted***"
        ),
        "{refused_stderr}"
    );
    outputs.push(("echoing proxy", refused));

    for args in [
        vec!["--prometheus-url", &url, "--show-env"],
        vec![
            "--prometheus-url",
            &url,
            "--show-env",
            "--output-format",
            "json",
        ],
        vec!["--prometheus-url", &url, "--validate-only", "-vv"],
        vec![
            "--prometheus-url",
            "ftp://admin:planted-password-9c2d@x",
            "--source",
            "prometheus",
        ],
    ] {
        outputs.push(("other", run(&args, None)));
    }

    for (what, output) in &outputs {
        for text in [&output.stdout, &output.stderr] {
            let text = String::from_utf8_lossy(text);
            for secret in [token, password] {
                assert!(!text.contains(secret), "{what}: {secret} in\n{text}");
            }
        }
    }
    // Read as text, lossily: charts are binary.
    let files: Vec<(PathBuf, String)> = common::files_under(dir.path())
        .into_iter()
        .filter_map(|(path, bytes)| Some((path, String::from_utf8_lossy(&bytes?).into_owned())))
        .collect();
    assert!(
        files.iter().any(|(path, _)| path.ends_with("run.log"))
            && files
                .iter()
                .any(|(path, _)| path.ends_with("latest_configmap.yaml")),
        "{:?}",
        files.iter().map(|(p, _)| p).collect::<Vec<_>>()
    );
    for (path, text) in &files {
        for secret in [token, password] {
            assert!(!text.contains(secret), "{secret} in {}", path.display());
        }
    }
    // The URL is still shown, with its password redacted.
    assert!(
        String::from_utf8_lossy(&outputs[3].1.stdout).contains(&format!(
            "http://admin:***redacted***@127.0.0.1:{}",
            server.port()
        )),
        "{}",
        String::from_utf8_lossy(&outputs[3].1.stdout)
    );
}
