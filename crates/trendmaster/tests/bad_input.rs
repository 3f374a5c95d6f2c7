//! The bad-input corpus (`tests/bad_input/cases.yaml`): bad configuration files, flags, data
//! files and Prometheus answers, each run through the real binary and checked for its documented
//! exit code and its one-line message. A failing case must write nothing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad_input")
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
        wrong.push(format!(
            "exit {:?}, expected {exit}",
            output.status.code()
        ));
    }
    for expected in &case.stderr {
        if !stderr.contains(expected.as_str()) {
            wrong.push(format!("stderr lacks {expected:?}"));
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
        failures.extend(check(case, &args, case.exit, &scratch.path().join(format!("out-{i}"))));
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
