//! End-to-end: the real `trendmaster` binary on the built-in demo data, in a scratch directory,
//! with a clean environment (no ENV/ENVIRONMENT leaking in from the machine running the tests).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::only_file;

use k8s_openapi::api::core::v1::ConfigMap;

const AS_OF: &str = "2026-11-15T00:00:00Z";

fn repo_config() -> PathBuf {
    trendmaster_testkit::workspace_dir().join("config/config.yaml")
}

/// The binary, run in `dir` with only the given environment variables.
fn trendmaster(dir: &Path, vars: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_trendmaster"));
    command.current_dir(dir).env_clear();
    for (name, value) in vars {
        command.env(name, value);
    }
    command.args(args).output().expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("UTF-8 output")
}

fn demo_run(dir: &Path, extra: &[&str]) -> Output {
    let config = repo_config();
    let mut args = vec![
        "--config",
        config.to_str().unwrap(),
        "--as-of",
        AS_OF,
        "--output-dir",
        "out",
    ];
    args.extend_from_slice(extra);
    trendmaster(dir, &[], &args)
}

#[test]
fn demo_run_writes_a_valid_configmap_and_report_and_json_on_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let output = demo_run(dir.path(), &["--output-format", "json"]);
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("wrote ConfigMap and report"),
        "logs go to stderr: {stderr}"
    );

    // stdout is exactly one JSON document.
    let result: serde_json::Value = serde_json::from_slice(&output.stdout).expect("stdout is JSON");
    let recommendations = result["recommendations"].as_array().unwrap();
    assert_eq!(recommendations.len(), 36, "4 partners × 9 APIs");
    assert_eq!(result["environment"]["name"], "environment");
    assert_eq!(result["window"]["end"], "2026-11-15T00:00:00Z");

    // The ConfigMap parses as a Kubernetes ConfigMap and its data passes the loader's rules.
    let out = dir.path().join("out");
    let path = only_file(&out, "environment_configmap_2", ".yaml");
    // The degraded variant is written beside it and parses too.
    let degraded = only_file(&out, "environment_configmap_degraded_", ".yaml");
    let _: ConfigMap = serde_yaml::from_str(&std::fs::read_to_string(degraded).unwrap())
        .expect("the degraded variant is a v1 ConfigMap");
    let yaml = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        yaml,
        std::fs::read_to_string(out.join("latest_configmap.yaml")).unwrap()
    );
    let configmap: ConfigMap = serde_yaml::from_str(&yaml).expect("a v1 ConfigMap");
    assert_eq!(configmap.metadata.name.as_deref(), Some("ratelimit-config"));
    assert_eq!(
        configmap.metadata.namespace.as_deref(),
        Some("istio-system")
    );
    let data = configmap.data.unwrap();
    let ratelimit = trendmaster_emit::validate_ratelimit_yaml(&data["config.yaml"], "config.yaml")
        .unwrap_or_else(|problems| panic!("loader rules: {problems:?}"));
    assert_eq!(ratelimit.domain, "global-ratelimit");

    // Every emitted limit is ≥ the minimum and ≥ the effective peak in its provenance.
    let mut emitted = 0;
    for partner in &ratelimit.descriptors {
        assert_eq!(partner.key, "PARTNER");
        for path in &partner.descriptors {
            let limit = path.rate_limit.as_ref().unwrap();
            assert_eq!(limit.unit, "minute");
            let rec = recommendations
                .iter()
                .find(|r| {
                    r["key"]["partner"] == partner.value.as_deref().unwrap()
                        && r["key"]["api"] == path.value.as_deref().unwrap()
                })
                .expect("each descriptor has a recommendation");
            let peak = rec["effective_peak"].as_f64().unwrap();
            assert!(f64::from(limit.requests_per_unit) >= 100.0);
            assert!(f64::from(limit.requests_per_unit) >= peak, "{rec}");
            assert_eq!(
                u64::from(limit.requests_per_unit),
                rec["requests_per_minute"].as_u64().unwrap()
            );
            // Provenance: the steps end at the emitted value and start at the peak.
            let steps = rec["steps"].as_array().unwrap();
            assert_eq!(steps[0]["output"].as_f64().unwrap(), peak);
            assert_eq!(
                steps.last().unwrap()["output"].as_f64().unwrap(),
                f64::from(limit.requests_per_unit)
            );
            emitted += 1;
        }
    }
    assert_eq!(emitted, 36);

    let report = std::fs::read_to_string(only_file(&out, "analysis_report_", ".md")).unwrap();
    assert!(
        report.contains("| `444` | `/api_v3/service/multirequest` |"),
        "summary row"
    );
    assert!(
        report.contains("effective peak"),
        "derivations are in the report"
    );
}

#[test]
fn same_as_of_gives_byte_identical_configmaps() {
    let first = tempfile::tempdir().unwrap();
    let second = tempfile::tempdir().unwrap();
    assert!(demo_run(first.path(), &[]).status.success());
    assert!(demo_run(second.path(), &[]).status.success());
    let read = |dir: &Path| std::fs::read(dir.join("out/latest_configmap.yaml")).unwrap();
    assert_eq!(read(first.path()), read(second.path()));

    // And a different window really does change it (the comparison above can fail).
    let third = tempfile::tempdir().unwrap();
    let config = repo_config();
    let output = trendmaster(
        third.path(),
        &[],
        &[
            "--config",
            config.to_str().unwrap(),
            "--as-of",
            "2026-11-08",
            "--output-dir",
            "out",
        ],
    );
    assert!(output.status.success());
    assert_ne!(read(first.path()), read(third.path()));
}

#[test]
fn text_output_is_a_table_on_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let output = demo_run(dir.path(), &[]);
    let stdout = text(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("PARTNER"), "{stdout}");
    assert_eq!(lines.len(), 37, "header + 36 rows: {stdout}");
    assert!(!stdout.contains("INFO"), "no log lines on stdout");
}

#[test]
fn yaml_output_parses() {
    let dir = tempfile::tempdir().unwrap();
    let output = demo_run(
        dir.path(),
        &[
            "--output-format",
            "yaml",
            "--partners",
            "111",
            "--apis",
            "/api_v3/service/multirequest",
        ],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let result: serde_yaml::Value = serde_yaml::from_slice(&output.stdout).expect("stdout is YAML");
    assert_eq!(result["recommendations"].as_sequence().unwrap().len(), 1);
}

#[test]
fn show_env_reports_environment_and_detection() {
    let dir = tempfile::tempdir().unwrap();
    let output = trendmaster(
        dir.path(),
        &[("ENVIRONMENT", "production")],
        &["--show-env", "--output-format", "json"],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let env: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(env["environment"]["name"], "production");
    assert_eq!(env["partners"].as_array().unwrap().len(), 5);
    assert_eq!(env["apis"].as_array().unwrap().len(), 11);
    assert_eq!(env["safety_margin"], 1.3);

    let output = trendmaster(dir.path(), &[("ENV", "testing")], &["--show-env"]);
    let stdout = text(&output.stdout);
    assert!(output.status.success());
    assert!(stdout.contains("environment:   testing"), "{stdout}");
    assert!(stdout.contains("detected from: ENV=testing"), "{stdout}");
    assert!(
        stdout.contains("partners (4):  111, 222, 333, 444"),
        "{stdout}"
    );

    let output = trendmaster(dir.path(), &[("TRENDMASTER_ENV", "prod")], &["--show-env"]);
    assert!(text(&output.stdout).contains("TRENDMASTER_ENV=prod (alias of production)"));
}

#[test]
fn secrets_never_appear_in_output_or_logs() {
    let dir = tempfile::tempdir().unwrap();
    let planted = "planted-s3cret-7f3a";
    for args in [
        vec!["--show-env"],
        vec!["--show-env", "--output-format", "json"],
        vec!["--show-env", "-vv"],
    ] {
        let output = trendmaster(dir.path(), &[("PROMETHEUS_TOKEN", planted)], &args);
        assert!(output.status.success());
        let all = text(&output.stdout) + &text(&output.stderr);
        assert!(!all.contains(planted), "token leaked with {args:?}");
        assert!(
            all.contains("***redacted***") || args.contains(&"-vv"),
            "{all}"
        );
    }
}

#[test]
fn validate_only_accepts_known_partners_and_names_unknown_ones() {
    let dir = tempfile::tempdir().unwrap();
    let output = trendmaster(dir.path(), &[], &["--partners", "111", "--validate-only"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("configuration is valid"));

    let output = trendmaster(dir.path(), &[], &["--partners", "999", "--validate-only"]);
    assert_eq!(output.status.code(), Some(3));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("partner 999 is not configured for environment `environment`"),
        "{stderr}"
    );
}

#[test]
fn validate_only_reports_every_problem_of_a_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.yaml"),
        "COMMON:\n  RATE_CALCULATION:\n    peak_multipler: 3\n    min_rate_limit: 0\n  CONFIGMAP:\n    name: Not_A_Name\n",
    )
    .unwrap();
    let output = trendmaster(
        dir.path(),
        &[],
        &[
            "-c",
            "bad.yaml",
            "--validate-only",
            "--output-format",
            "json",
        ],
    );
    assert_eq!(output.status.code(), Some(3));
    let verdict: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("JSON verdict on stdout");
    assert_eq!(verdict["valid"], false);
    let problems: Vec<String> = verdict["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    let all = problems.join("\n");
    assert!(all.contains("bad.yaml: unknown key `COMMON.RATE_CALCULATION.peak_multipler` (did you mean `peak_multiplier`?)"), "{all}");
    assert!(
        all.contains("COMMON.RATE_CALCULATION.min_rate_limit: must be at least 1"),
        "{all}"
    );
    assert!(all.contains("Not_A_Name"), "{all}");
    assert_eq!(problems.len(), 3, "{all}");
    let stderr = text(&output.stderr);
    assert_eq!(
        stderr
            .lines()
            .filter(|l| l.starts_with("trendmaster: error:"))
            .count(),
        3,
        "{stderr}"
    );
}

#[test]
fn bad_input_exits_with_documented_codes_and_one_line_causes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("broken.yaml"), "COMMON: [unclosed\n").unwrap();
    let output = trendmaster(dir.path(), &[], &["-c", "broken.yaml"]);
    assert_eq!(output.status.code(), Some(3));
    assert!(
        text(&output.stderr).contains("broken.yaml: invalid YAML"),
        "{}",
        text(&output.stderr)
    );

    // Nothing listens on this port: a source that is down is exit 4, and nothing is written.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let output = trendmaster(
        dir.path(),
        &[],
        &[
            "--source",
            "prometheus",
            "--prometheus-url",
            &url,
            "--output-dir",
            "out",
            "--partners",
            "111",
        ],
    );
    assert_eq!(output.status.code(), Some(4), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("9 of 9 series could not be fetched, so nothing was written"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("cannot connect to {url}: ")),
        "{stderr}"
    );
    assert!(
        !dir.path().join("out").exists(),
        "nothing written on failure"
    );

    let output = trendmaster(dir.path(), &[], &["--days", "many"]);
    assert_eq!(
        output.status.code(),
        Some(3),
        "usage errors exit 3, not clap's 2"
    );

    let output = trendmaster(
        dir.path(),
        &[],
        &["--forecaster", "prophet", "--partners", "111"],
    );
    assert_eq!(
        output.status.code(),
        Some(3),
        "a build without Prophet refuses it"
    );
    assert!(text(&output.stderr).contains("no Prophet support; build with `make build-prophet`"));

    let output = trendmaster(dir.path(), &[("ENV", "qa9")], &["--show-env"]);
    assert_eq!(output.status.code(), Some(3));
    assert!(text(&output.stderr).contains("environment variable ENV: unknown environment `qa9`"));
}

#[test]
fn log_file_receives_the_logs() {
    let dir = tempfile::tempdir().unwrap();
    let output = demo_run(dir.path(), &["--log-file", "run.log", "--partners", "111"]);
    assert!(output.status.success());
    let log = std::fs::read_to_string(dir.path().join("run.log")).unwrap();
    assert!(log.contains("wrote ConfigMap and report"), "{log}");
}

/// Flags are resolved before the configuration is read: a combination of flags that cannot
/// work is reported as such, even when the configuration file is missing too.
#[test]
fn flag_rules_are_checked_before_the_configuration_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let output = trendmaster(
        dir.path(),
        &[],
        &["--config", "missing.yaml", "--force-conflicts"],
    );
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("--force-conflicts and --confirm-production only apply to --apply"),
        "{stderr}"
    );
    assert!(!stderr.contains("missing.yaml"), "{stderr}");
    // Without the flag, the missing file is what is reported.
    let output = trendmaster(dir.path(), &[], &["--config", "missing.yaml"]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("missing.yaml"), "{stderr}");
}
