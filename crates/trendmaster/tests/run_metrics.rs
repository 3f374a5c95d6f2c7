//! End-to-end: the run's own metrics (`--metrics-file`, `--pushgateway`) as the real binary
//! writes them, read by the real `promtool`, and the alert rules in `deploy/prometheus/` under
//! `promtool check rules` and `promtool test rules`.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const AS_OF: &str = "2026-11-15T00:00:00Z";
const HELD_API: &str = "/api_v3/service/multirequest";

/// The binary in `dir` with a clean environment and exactly `args` (no configuration is added,
/// so a test can give a bad one).
fn trendmaster(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trendmaster"))
        .current_dir(dir)
        .env_clear()
        .args(args)
        .output()
        .expect("the binary runs")
}

/// A quick run of partner 111's demo traffic with the shipped configuration: three days, no
/// forecast, no charts.
fn demo_run(dir: &Path, extra: &[&str]) -> Output {
    let config = common::root().join("config/config.yaml");
    let mut args = vec![
        "--config",
        config.to_str().unwrap(),
        "--as-of",
        AS_OF,
        "--partners",
        "111",
        "--forecaster",
        "none",
        "--no-charts",
        "--days",
        "3",
        "--output-dir",
        "out",
    ];
    args.extend_from_slice(extra);
    trendmaster(dir, &args)
}

/// A run that fails at once with exit 3: its configuration file is not YAML.
fn failing_run(dir: &Path, extra: &[&str]) -> Output {
    std::fs::write(dir.join("bad.yaml"), "COMMON: [\n").unwrap();
    let mut args = vec!["--config", "bad.yaml", "--env", "testing"];
    args.extend_from_slice(extra);
    let output = trendmaster(dir, &args);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert!(stderr(&output).contains("bad.yaml"), "{}", stderr(&output));
    output
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// `promtool ARGS` with `stdin`, in the workspace; asserts it passes and returns its stdout.
fn promtool(args: &[&str], stdin: Option<&str>) -> String {
    let mut child = Command::new("promtool")
        .args(args)
        .current_dir(common::root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs (scripts/install-test-deps.sh installs it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.unwrap_or_default().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "promtool {args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        stderr(&output)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Samples of a text-format exposition by `name{labels}` as written, after checking that every
/// sample's metric has a HELP and a gauge TYPE line before it.
fn samples(text: &str) -> BTreeMap<String, f64> {
    let mut typed = Vec::new();
    let mut helped = Vec::new();
    let mut all = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert_eq!(kind, "gauge", "{line}");
            typed.push(name.to_string());
        } else if let Some(rest) = line.strip_prefix("# HELP ") {
            helped.push(rest.split_once(' ').unwrap().0.to_string());
        } else {
            let (series, value) = line.rsplit_once(' ').unwrap();
            let name = series.split('{').next().unwrap();
            assert!(
                typed.iter().any(|t| t == name) && helped.iter().any(|h| h == name),
                "{name}: no HELP/TYPE before it in\n{text}"
            );
            let previous = all.insert(series.to_string(), value.parse::<f64>().unwrap());
            assert!(previous.is_none(), "{series} twice in\n{text}");
        }
    }
    all
}

fn sample(samples: &BTreeMap<String, f64>, name: &str, environment: &str) -> Option<f64> {
    samples
        .get(&format!("{name}{{environment=\"{environment}\"}}"))
        .copied()
}

/// The deployed ConfigMap: the run's own latest one with `HELD_API` at 40 % of its value, so the
/// next run's recommendation is a 2.5× rise, held; the other entries are unchanged.
fn deployed_with_a_held_entry(dir: &Path) -> PathBuf {
    let latest = dir.join("out/latest_configmap.yaml");
    let mut configmap: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(latest).unwrap()).unwrap();
    let mut file: serde_yaml::Value =
        serde_yaml::from_str(configmap["data"]["config.yaml"].as_str().unwrap()).unwrap();
    let partner = file["descriptors"]
        .as_sequence_mut()
        .unwrap()
        .iter_mut()
        .find(|d| d["value"] == "111")
        .unwrap();
    let entry = partner["descriptors"]
        .as_sequence_mut()
        .unwrap()
        .iter_mut()
        .find(|d| d["value"] == HELD_API)
        .unwrap();
    let limit = entry["rate_limit"]["requests_per_unit"].as_u64().unwrap();
    entry["rate_limit"]["requests_per_unit"] = (limit * 2 / 5).into();
    configmap["data"]["config.yaml"] = serde_yaml::to_string(&file).unwrap().into();
    let path = dir.join("deployed.yaml");
    std::fs::write(&path, serde_yaml::to_string(&configmap).unwrap()).unwrap();
    path
}

#[test]
fn a_run_writes_metrics_promtool_accepts_with_the_counts_of_its_result() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = dir.path().join("trendmaster.prom");
    let metrics_flag = metrics.to_str().unwrap();

    let before = now();
    let first = demo_run(dir.path(), &["--metrics-file", metrics_flag]);
    assert!(first.status.success(), "{}", stderr(&first));
    let first_samples = samples(&std::fs::read_to_string(&metrics).unwrap());
    let first_success = sample(
        &first_samples,
        "trendmaster_last_success_timestamp_seconds",
        "environment",
    )
    .expect("a successful run records its success");
    assert!(
        (before..=now()).contains(&first_success),
        "{first_success} not within the run ({before}..)"
    );

    // Against a deployed file with one entry far below its recommendation: held, exit 2.
    let deployed = deployed_with_a_held_entry(dir.path());
    let started = now();
    let second = demo_run(
        dir.path(),
        &[
            "--current-from",
            deployed.to_str().unwrap(),
            "--detailed-exitcode",
            "--output-format",
            "json",
            "--metrics-file",
            metrics_flag,
        ],
    );
    let finished = now();
    assert_eq!(second.status.code(), Some(2), "{}", stderr(&second));
    let result: serde_json::Value = serde_json::from_slice(&second.stdout).unwrap();

    let text = std::fs::read_to_string(&metrics).unwrap();
    promtool(&["check", "metrics"], Some(&text));
    let samples = samples(&text);
    let get = |name| sample(&samples, name, "environment").unwrap_or_else(|| panic!("{name}"));

    assert_eq!(get("trendmaster_last_run_exit_code"), 2.0);
    let last_run = get("trendmaster_last_run_timestamp_seconds");
    assert!((started..=finished).contains(&last_run), "{last_run}");
    let duration = get("trendmaster_last_run_duration_seconds");
    assert!(
        duration > 0.0 && duration <= finished - started,
        "{duration}"
    );
    // Exit 2 is a success: "changes present", not a failure.
    let success = get("trendmaster_last_success_timestamp_seconds");
    assert_eq!(success, last_run);
    assert!(success > first_success);

    // The entries by status are the JSON result's.
    let mut expected: BTreeMap<String, f64> = BTreeMap::new();
    for planned in result["changes"]["plan"].as_array().unwrap() {
        *expected
            .entry(planned["status"].as_str().unwrap().to_string())
            .or_default() += 1.0;
    }
    let skipped = result["skipped"].as_array().unwrap().len();
    expected.insert("skipped".into(), skipped as f64);
    assert_eq!(expected.get("held"), Some(&1.0), "{expected:?}");
    assert_eq!(
        result["changes"]["held"], 1,
        "the JSON result's own count agrees"
    );
    assert!(
        expected.values().filter(|n| **n > 0.0).count() >= 2,
        "a mix of statuses: {expected:?}"
    );
    let entries: BTreeMap<String, f64> = samples
        .iter()
        .filter_map(|(series, value)| {
            let status = series
                .strip_prefix("trendmaster_entries{environment=\"environment\",status=\"")?
                .strip_suffix("\"}")?;
            Some((status.to_string(), *value))
        })
        .filter(|(_, value)| *value > 0.0)
        .collect();
    let expected_nonzero: BTreeMap<String, f64> =
        expected.into_iter().filter(|(_, n)| *n > 0.0).collect();
    assert_eq!(entries, expected_nonzero);
    assert_eq!(
        get("trendmaster_series_analysed"),
        (result["recommendations"].as_array().unwrap().len() + skipped) as f64
    );
    // Zero counts are written too: an absent series means the run did not get that far.
    assert_eq!(
        samples.get("trendmaster_entries{environment=\"environment\",status=\"approved\"}"),
        Some(&0.0)
    );
    // Nothing but the file itself is left beside it.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains("trendmaster.prom"))
        .collect();
    assert_eq!(names, ["trendmaster.prom"]);
}

#[test]
fn a_failed_run_records_its_exit_code_and_keeps_the_last_success() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = dir.path().join("trendmaster.prom");
    let metrics_flag = metrics.to_str().unwrap();
    // What a successful run two days ago left.
    let success = 1_700_000_000.125;
    std::fs::write(
        &metrics,
        format!(
            "# HELP trendmaster_last_success_timestamp_seconds Last success.\n\
             # TYPE trendmaster_last_success_timestamp_seconds gauge\n\
             trendmaster_last_success_timestamp_seconds{{environment=\"testing\"}} {success}\n\
             # HELP trendmaster_entries Entries.\n\
             # TYPE trendmaster_entries gauge\n\
             trendmaster_entries{{environment=\"testing\",status=\"held\"}} 3\n"
        ),
    )
    .unwrap();

    let started = now();
    failing_run(dir.path(), &["--metrics-file", metrics_flag]);
    let text = std::fs::read_to_string(&metrics).unwrap();
    promtool(&["check", "metrics"], Some(&text));
    let samples = samples(&text);
    let get = |name| sample(&samples, name, "testing");
    assert_eq!(get("trendmaster_last_run_exit_code"), Some(3.0), "{text}");
    assert!(get("trendmaster_last_run_timestamp_seconds").unwrap() >= started);
    assert_eq!(
        get("trendmaster_last_success_timestamp_seconds"),
        Some(success)
    );
    // The run got nowhere near a plan: no counts, rather than the last run's.
    assert!(!text.contains("trendmaster_entries"), "{text}");
    assert!(!text.contains("trendmaster_series_analysed"), "{text}");

    // With no earlier file there is no last success to report.
    std::fs::remove_file(&metrics).unwrap();
    failing_run(dir.path(), &["--metrics-file", metrics_flag]);
    let text = std::fs::read_to_string(&metrics).unwrap();
    assert!(text.contains("trendmaster_last_run_exit_code"), "{text}");
    assert!(
        !text.contains("trendmaster_last_success_timestamp_seconds"),
        "{text}"
    );

    // A file that cannot be written is a warning; the exit code stays the run's.
    let output = failing_run(dir.path(), &["--metrics-file", "missing/dir/m.prom"]);
    assert!(
        stderr(&output).contains("WARN")
            && stderr(&output).contains("--metrics-file missing/dir/m.prom"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn runs_that_only_print_write_no_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::root().join("config/config.yaml");
    for args in [
        &["--show-env"][..],
        &["--validate-only"],
        &[
            "--explain",
            "111:/api_v3/service/multirequest",
            "--days",
            "3",
        ],
    ] {
        let mut args = args.to_vec();
        args.extend(["--config", config.to_str().unwrap()]);
        args.extend(["--metrics-file", "m.prom", "--forecaster", "none"]);
        let output = trendmaster(dir.path(), &args);
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        assert!(!dir.path().join("m.prom").exists(), "{args:?}");
    }
    // `check` reads no configuration and writes nothing: the flag is refused there.
    let output = trendmaster(dir.path(), &["--metrics-file", "m.prom", "check", "x.yaml"]);
    assert_eq!(output.status.code(), Some(3));
    assert!(stderr(&output).contains("check takes no --metrics-file"));
    assert!(!dir.path().join("m.prom").exists());
}

#[test]
fn the_alert_rules_pass_promtool() {
    let checked = promtool(
        &[
            "check",
            "rules",
            "deploy/prometheus/trendmaster-alerts.yaml",
        ],
        None,
    );
    assert!(checked.contains("SUCCESS: 3 rules found"), "{checked}");
    let tested = promtool(
        &[
            "test",
            "rules",
            "deploy/prometheus/trendmaster-alerts.test.yaml",
        ],
        None,
    );
    assert!(tested.contains("SUCCESS"), "{tested}");
}

/// One HTTP request as a tiny server on 127.0.0.1 received it.
#[derive(Debug)]
struct Received {
    request_line: String,
    body: String,
}

/// A server that answers `statuses` in turn, one request per connection, and reports each
/// request it received.
fn pushgateway(statuses: &'static [&'static str]) -> (String, mpsc::Receiver<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for status in statuses {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut length = 0;
            loop {
                let mut header = String::new();
                reader.read_line(&mut header).unwrap();
                if header.trim().is_empty() {
                    break;
                }
                if let Some((name, value)) = header.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let mut stream = stream;
            write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope"
            )
            .unwrap();
            let _ = sender.send(Received {
                request_line: request_line.trim_end().to_string(),
                body: String::from_utf8(body).unwrap(),
            });
        }
    });
    (url, receiver)
}

#[test]
fn the_metrics_are_pushed_to_the_pushgateway() {
    let dir = tempfile::tempdir().unwrap();
    let (url, received) = pushgateway(&["200 OK", "500 Internal Server Error"]);

    failing_run(
        dir.path(),
        &[
            "--metrics-file",
            "m.prom",
            "--pushgateway",
            &format!("{url}/"),
        ],
    );
    let push = received
        .recv_timeout(Duration::from_secs(10))
        .expect("the push arrives");
    assert_eq!(
        push.request_line,
        "PUT /metrics/job/trendmaster/environment/testing HTTP/1.1"
    );
    // The same text as the file, and one the Pushgateway's parser accepts.
    assert_eq!(
        push.body,
        std::fs::read_to_string(dir.path().join("m.prom")).unwrap()
    );
    promtool(&["check", "metrics"], Some(&push.body));
    assert_eq!(
        sample(
            &samples(&push.body),
            "trendmaster_last_run_exit_code",
            "testing"
        ),
        Some(3.0)
    );

    // A Pushgateway that refuses is a warning naming it; the exit code stays the run's.
    let output = failing_run(dir.path(), &["--pushgateway", &url]);
    received
        .recv_timeout(Duration::from_secs(10))
        .expect("the second push arrives");
    let stderr = stderr(&output);
    assert!(
        stderr.contains("WARN")
            && stderr.contains(&format!(
                "--pushgateway {url}: answered 500 Internal Server Error: nope"
            )),
        "{stderr}"
    );
}
