//! The bad-input corpus (`tests/bad_input/cases.yaml`): bad configuration files, flags, data
//! files and Prometheus answers, each run through the real binary and checked for its documented
//! exit code and its one-line message. A failing case must write nothing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;

use common::configmap_limit;
use serde::Deserialize;
use trendmaster_testkit::fake_prometheus::{FakePrometheus, Reply};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    #[serde(default)]
    args: Vec<String>,
    /// `prometheus`: run against a fake Prometheus answering every query with `reply`.
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    reply: Option<FakeReply>,
    /// Also run with `--validate-only`, which must find the same problems (exit 3).
    #[serde(default)]
    validate: bool,
    exit: i32,
    stderr: Vec<String>,
    /// Text that must not appear on stderr (a planted password).
    #[serde(default)]
    absent: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
enum FakeReply {
    Answer { status: u16, body: String },
    Fault(String),
}

impl FakeReply {
    fn reply(&self) -> Reply {
        match self {
            Self::Answer { status, body } => Reply::Send(*status, Vec::new(), body.clone()),
            Self::Fault(kind) => match kind.as_str() {
                "truncated" => Reply::Truncated(
                    4096,
                    r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric""#
                        .into(),
                ),
                "hangup" => Reply::Hangup,
                "slow" => Reply::Slow(std::time::Duration::from_secs(2), 200, "{}".into()),
                other => panic!("unknown fault `{other}`"),
            },
        }
    }
}

fn corpus_dir() -> PathBuf {
    trendmaster_testkit::workspace_dir().join("crates/trendmaster/tests/bad_input")
}

/// Runs in the corpus folder (so messages name `configs/…` as written), with a clean
/// environment and the built-in configuration under the case's files.
fn run(args: &[String], out: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trendmaster"))
        .current_dir(corpus_dir())
        .env_clear()
        .args(args)
        .arg("--output-dir")
        .arg(out)
        .arg("--no-charts")
        .output()
        .expect("the binary runs")
}

/// What is wrong with one run of a case; empty when it behaved as documented.
fn check(case: &Case, args: &[String], exit: i32, out: &Path) -> Vec<String> {
    let output = run(args, out);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let mut wrong = Vec::new();
    if output.status.code() != Some(exit) {
        wrong.push(format!("exit {:?}, expected {exit}", output.status.code()));
    }
    for expected in &case.stderr {
        if !stderr.contains(expected.as_str()) {
            wrong.push(format!("stderr lacks {expected:?}"));
        }
    }
    for unwanted in &case.absent {
        if stderr.contains(unwanted.as_str()) {
            wrong.push(format!("stderr shows {unwanted:?}"));
        }
    }
    if stderr.contains("panicked") {
        wrong.push("panicked".into());
    }
    if exit != 0 {
        let errors: Vec<&str> = stderr
            .lines()
            .filter(|line| line.starts_with("trendmaster: error:") || line.starts_with("error:"))
            .collect();
        if errors.is_empty() {
            wrong.push("no `trendmaster: error:` line".into());
        }
        if out.exists() {
            wrong.push(format!("a failed run left {}", out.display()));
        }
    } else if !out.join("latest_configmap.yaml").exists() {
        wrong.push("a successful run wrote no latest_configmap.yaml".into());
    }
    if wrong.is_empty() {
        Vec::new()
    } else {
        vec![format!(
            "{} ({}): {}\n    stderr: {}",
            case.name,
            args.join(" "),
            wrong.join("; "),
            stderr.trim().replace('\n', "\n            ")
        )]
    }
}

#[test]
fn every_bad_input_gets_its_documented_exit_code_and_message() {
    let text = std::fs::read_to_string(corpus_dir().join("cases.yaml")).unwrap();
    let cases: Vec<Case> = serde_yaml::from_str(&text).expect("cases.yaml parses");
    assert!(cases.len() >= 40, "the corpus has {} cases", cases.len());
    let scratch = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let mut args = case.args.clone();
        // Kept alive for the run; one fake per case, so that requests do not mix.
        let _fake = match case.source.as_deref() {
            Some("prometheus") => {
                let reply = case.reply.as_ref().expect("a Prometheus case has a reply");
                let fake = FakePrometheus::start(vec![reply.reply()]);
                args.extend(
                    [
                        "-c",
                        "prometheus.yaml",
                        "--source",
                        "prometheus",
                        "--prometheus-url",
                        &fake.url(),
                        "--partners",
                        "111",
                        "--as-of",
                        "2026-11-15",
                    ]
                    .map(String::from),
                );
                Some(fake)
            }
            Some(other) => panic!("{}: unknown source `{other}`", case.name),
            None => None,
        };
        failures.extend(check(
            case,
            &args,
            case.exit,
            &scratch.path().join(format!("out-{i}")),
        ));
        if case.validate {
            args.push("--validate-only".into());
            failures.extend(check(
                case,
                &args,
                3,
                &scratch.path().join(format!("out-{i}-validate")),
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases misbehaved:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn a_series_with_too_little_data_keeps_its_deployed_limit_and_the_report_says_why() {
    let (full, sparse) = (
        "/api_v3/service/multirequest",
        "/api_v3/service/asset/action/list",
    );
    let scratch = tempfile::tempdir().unwrap();
    let args = |file: &str, extra: &[&str]| -> Vec<String> {
        let mut args: Vec<String> = [
            "--source",
            file,
            "--partners",
            "111",
            "--apis",
            &format!("{full},{sparse}"),
            "--days",
            "7",
            "--as-of",
            "2026-11-15",
        ]
        .map(String::from)
        .to_vec();
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    // Deployed: yesterday's run on complete data, with the sparse series' limit set by hand.
    let deployed_run = scratch.path().join("deployed-run");
    let output = run(&args("file:data/sorted.csv", &[]), &deployed_run);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let latest = deployed_run.join("latest_configmap.yaml");
    let text = std::fs::read_to_string(&latest).unwrap();
    let recommended = configmap_limit(&latest, "111", sparse);
    let deployed = scratch.path().join("deployed.yaml");
    let marker = format!(
        "value: {sparse}\n        rate_limit:\n          unit: minute\n          requests_per_unit: {recommended}\n"
    );
    assert!(text.contains(&marker), "{text}");
    std::fs::write(
        &deployed,
        text.replace(&marker, &marker.replace(&recommended.to_string(), "777")),
    )
    .unwrap();

    // Today only two of seven days of the sparse series arrived: its entry stays at 777.
    let out = scratch.path().join("out");
    let output = run(
        &args(
            "file:data/gappy.csv",
            &["--current-from", deployed.to_str().unwrap()],
        ),
        &out,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let emitted = out.join("latest_configmap.yaml");
    assert_eq!(
        configmap_limit(&emitted, "111", sparse),
        777,
        "the deployed limit is kept"
    );
    assert_eq!(
        configmap_limit(&emitted, "111", full),
        configmap_limit(&latest, "111", full),
        "the complete series is recommended as before"
    );
    let report = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "md"))
        .expect("a Markdown report");
    let report = std::fs::read_to_string(report).unwrap();
    assert!(
        report.contains("- `111` × `/api_v3/service/asset/action/list`: too little data: 576 of 2016 points present (29%, minimum 50%, RATE_CALCULATION.min_data_coverage); the deployed limit (777 req/min) is kept"),
        "{report}"
    );
}
