//! `scripts/nightly.sh`, the script the scheduled CI workflow runs, with the real binary: no
//! change → 0; a held change → exit 2 with an error annotation and the report in the job
//! summary, or a REVIEW.md with `ON_CHANGES=review`; trendmaster's own errors pass through.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use k8s_openapi::api::core::v1::ConfigMap;
use serde_yaml::Value;

const HELD_API: &str = "/api_v3/service/multirequest";

fn root() -> PathBuf {
    trendmaster_testkit::workspace_dir()
}

fn common_args() -> Vec<String> {
    [
        "--config",
        root().join("config/config.yaml").to_str().unwrap(),
        "--as-of",
        "2026-11-15T00:00:00Z",
        "--partners",
        "111",
        "--forecaster",
        "none",
    ]
    .map(String::from)
    .to_vec()
}

fn nightly(dir: &Path, vars: &[(&str, &str)], extra: &[&str]) -> Output {
    Command::new("bash")
        .arg(root().join("scripts/nightly.sh"))
        .args(common_args())
        .args(extra)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap())
        .env("TRENDMASTER", env!("CARGO_BIN_EXE_trendmaster"))
        .env("OUTPUT_DIR", "out")
        .envs(vars.iter().copied())
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The run's own ConfigMap, and a copy with `HELD_API` at a third of its value (a 3× rise
/// that governance holds).
fn deployed_files(dir: &Path) -> (PathBuf, PathBuf) {
    let output = Command::new(env!("CARGO_BIN_EXE_trendmaster"))
        .current_dir(dir)
        .env_clear()
        .args(common_args())
        .args(["--output-dir", "first"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    let same = dir.join("first/latest_configmap.yaml");
    let mut configmap: ConfigMap =
        serde_yaml::from_str(&std::fs::read_to_string(&same).unwrap()).unwrap();
    let data = configmap.data.as_mut().unwrap();
    let mut file: Value = serde_yaml::from_str(&data["config.yaml"]).unwrap();
    for partner in file["descriptors"].as_sequence_mut().unwrap() {
        for path in partner["descriptors"].as_sequence_mut().unwrap() {
            if path["value"] == HELD_API {
                let limit = &mut path["rate_limit"]["requests_per_unit"];
                *limit = (limit.as_u64().unwrap() / 3).into();
            }
        }
    }
    data.insert("config.yaml".into(), serde_yaml::to_string(&file).unwrap());
    let held = dir.join("held.yaml");
    std::fs::write(&held, serde_yaml::to_string(&configmap).unwrap()).unwrap();
    (same, held)
}

#[test]
fn held_changes_fail_visibly_or_ask_for_review() {
    let dir = tempfile::tempdir().unwrap();
    let (same, held) = deployed_files(dir.path());

    let output = nightly(dir.path(), &[], &["--current-from", same.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("no change"));
    assert!(dir.path().join("out/nightly.log").exists());

    let summary = dir.path().join("summary.md");
    let output = nightly(
        dir.path(),
        &[("GITHUB_STEP_SUMMARY", summary.to_str().unwrap())],
        &["--current-from", held.to_str().unwrap()],
    );
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(
        stdout.starts_with("::error title=trendmaster::"),
        "{stdout}"
    );
    assert!(stdout.contains("1 held for approval"), "{stdout}");
    let summary = std::fs::read_to_string(&summary).unwrap();
    assert!(summary.contains("Awaiting approval"), "{summary}");
    assert!(summary.contains(HELD_API), "{summary}");

    let output = nightly(
        dir.path(),
        &[("ON_CHANGES", "review")],
        &["--current-from", held.to_str().unwrap()],
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(text(&output.stdout).starts_with("::warning title=trendmaster::"));
    let review = std::fs::read_to_string(dir.path().join("out/REVIEW.md")).unwrap();
    assert!(
        review.starts_with("# trendmaster: review needed"),
        "{review}"
    );
    assert!(review.contains("Awaiting approval"), "{review}");
}

#[test]
fn errors_pass_through_with_their_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let output = nightly(dir.path(), &[], &["--days", "0"]);
    assert_eq!(output.status.code(), Some(3), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(
        stdout.starts_with("::error title=trendmaster::trendmaster failed with exit code 3"),
        "{stdout}"
    );

    let output = nightly(dir.path(), &[("ON_CHANGES", "sometimes")], &[]);
    assert_eq!(output.status.code(), Some(3));
    assert!(text(&output.stderr).contains("ON_CHANGES=sometimes"));
}
