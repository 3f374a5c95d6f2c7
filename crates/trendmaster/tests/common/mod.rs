//! Shared by the end-to-end tests: the real binary, run in a directory of the test's own with
//! a clean environment and the shipped configuration.

// Each test file uses its own subset of these.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
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
