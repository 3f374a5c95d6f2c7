//! End-to-end: what a demo run shows people: a PNG and an SVG chart per series under
//! `output/plots/<stamp>/`, linked from the Markdown report.

use std::path::Path;
use std::process::Command;

fn root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn every_series_gets_a_png_and_an_svg_chart_linked_from_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_trendmaster"))
        .current_dir(dir.path())
        .env_clear()
        .arg("--config")
        .arg(root().join("config/config.yaml"))
        .args([
            "--as-of",
            "2026-11-15T00:00:00Z",
            "--partners",
            "111,222",
            "--output-dir",
            "out",
            "--output-format",
            "json",
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let plots = dir.path().join(
        result["files"]["plots"]
            .as_str()
            .expect("a plots directory"),
    );
    let report =
        std::fs::read_to_string(dir.path().join(result["files"]["report"].as_str().unwrap()))
            .unwrap();
    let recommendations = result["recommendations"].as_array().unwrap();
    assert_eq!(recommendations.len(), 18);
    let mut linked = 0;
    for line in report.lines().filter(|l| l.starts_with("![")) {
        let target = &line[line.find("](").unwrap() + 2..line.len() - 1];
        let png = dir.path().join("out").join(target);
        let bytes = std::fs::read(&png).unwrap_or_else(|e| panic!("{target}: {e}"));
        assert!(bytes.starts_with(b"\x89PNG"), "{target}");
        let svg = std::fs::read_to_string(png.with_extension("svg")).unwrap();
        assert!(svg.starts_with("<svg"), "{target}");
        assert!(svg.contains("requests / minute"));
        assert!(png.starts_with(&plots));
        linked += 1;
    }
    assert_eq!(linked, recommendations.len(), "one chart per series");

    // --no-charts: no plots, no links.
    let output = Command::new(env!("CARGO_BIN_EXE_trendmaster"))
        .current_dir(dir.path())
        .env_clear()
        .arg("--config")
        .arg(root().join("config/config.yaml"))
        .args([
            "--as-of",
            "2026-11-15T00:00:00Z",
            "--partners",
            "111",
            "--output-dir",
            "bare",
            "--no-charts",
        ])
        .output()
        .unwrap();
    assert!(output.status.success());
    assert!(!dir.path().join("bare/plots").exists());
}
