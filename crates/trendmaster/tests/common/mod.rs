//! Shared by the end-to-end tests: the real binary, run in a directory of the test's own with
//! a clean environment and the shipped configuration.

// Each test file uses its own subset of these.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn root() -> PathBuf {
    trendmaster_testkit::workspace_dir()
}

/// `trendmaster --config config/config.yaml ARGS` in `dir`, with an empty environment.
pub fn trendmaster(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trendmaster"))
        .current_dir(dir)
        .env_clear()
        .arg("--config")
        .arg(root().join("config/config.yaml"))
        .args(args)
        .output()
        .expect("the binary runs")
}

/// Like [`trendmaster`], asserting success and parsing stdout as JSON (pass
/// `--output-format json`).
pub fn trendmaster_json(dir: &Path, args: &[&str]) -> serde_json::Value {
    let output = trendmaster(dir, args);
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON on stdout")
}

/// A quick run of the shipped configuration on the demo traffic into `dir/<out>` — three days
/// to 2026-11-15, no forecast, no charts: the same files with other numbers, in a third of the
/// time — with `extra` flags, asserting success.
pub fn quick_demo_run(dir: &Path, out: &str, extra: &[&str]) {
    let mut args = vec![
        "--as-of",
        "2026-11-15T00:00:00Z",
        "--forecaster",
        "none",
        "--no-charts",
        "--days",
        "3",
        "--output-dir",
        out,
    ];
    args.extend_from_slice(extra);
    let output = trendmaster(dir, &args);
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Every file under `dir` with its bytes, and every directory as `None`, by relative path: two
/// equal snapshots mean the tree did not change at all.
pub fn files_under(dir: &Path) -> std::collections::BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut all = std::collections::BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            let relative = path.strip_prefix(dir).unwrap().to_path_buf();
            if path.is_dir() {
                all.insert(relative, None);
                pending.push(path);
            } else {
                all.insert(relative, Some(std::fs::read(&path).unwrap()));
            }
        }
    }
    all
}

/// The `requests_per_unit` of `partner`'s `api` in the ConfigMap manifest at `path`.
pub fn configmap_limit(path: &Path, partner: &str, api: &str) -> u64 {
    let configmap: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let file: serde_yaml::Value =
        serde_yaml::from_str(configmap["data"]["config.yaml"].as_str().unwrap()).unwrap();
    let find = |list: &serde_yaml::Value, value: &str| {
        list.as_sequence()
            .unwrap()
            .iter()
            .find(|d| d["value"] == value)
            .unwrap_or_else(|| panic!("no descriptor `{value}` in {}", path.display()))
            .clone()
    };
    let partner = find(&file["descriptors"], partner);
    find(&partner["descriptors"], api)["rate_limit"]["requests_per_unit"]
        .as_u64()
        .unwrap()
}

/// The one file in `dir` named `prefix…suffix`.
pub fn only_file(dir: &Path, prefix: &str, suffix: &str) -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_string_lossy();
            name.starts_with(prefix) && name.ends_with(suffix)
        })
        .collect();
    assert_eq!(
        found.len(),
        1,
        "{prefix}*{suffix} in {}: {found:?}",
        dir.display()
    );
    found[0].clone()
}
