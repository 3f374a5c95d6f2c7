//! End-to-end: `--backtest` on the demo data, 21 days (14 to train, 7 to replay): our limits
//! throttle no normal minute, and every variant is charged the same injected bot spikes.

mod common;

#[test]
fn our_limits_never_throttle_a_normal_minute_of_the_following_week() {
    let dir = tempfile::tempdir().unwrap();
    let result = common::trendmaster_json(
        dir.path(),
        &[
            "--as-of",
            "2026-11-22T00:00:00Z",
            "--partners",
            "111,222",
            "--backtest",
            "--test-days",
            "7",
            "--output-format",
            "json",
            "--output-dir",
            "out",
        ],
    );
    assert_eq!(result["train"]["start"], "2026-11-01T00:00:00Z");
    assert_eq!(result["train"]["end"], "2026-11-15T00:00:00Z");
    assert_eq!(result["test"]["end"], "2026-11-22T00:00:00Z");
    assert_eq!(result["anomalies_from"], "labels");
    let variants = result["variants"].as_array().unwrap();
    let names: Vec<&str> = variants
        .iter()
        .map(|v| v["variant"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["v1 (max × 1.5 or 2.5)", "v3 original", "trendmaster"]
    );
    let spikes = variants[0]["spike_requests"].as_f64().unwrap();
    assert!(spikes > 0.0, "the test week holds injected bot spikes");
    for variant in variants {
        assert_eq!(variant["series"].as_array().unwrap().len(), 18);
        assert_eq!(
            variant["spike_requests"].as_f64(),
            Some(spikes),
            "same traffic for all"
        );
        let total = &variant["total"];
        assert!(total["requests_normal"].as_f64().unwrap() > 1e6);
    }
    let ours = &variants[2];
    assert_eq!(ours["total"]["rejected_normal"], 0.0, "no false throttle");
    assert_eq!(ours["total"]["minutes_throttled_normal"], 0.0);
    assert!(ours["total"]["headroom"].as_f64().unwrap() > 1.0);
    // Also written: the JSON and a chart naming each formula.
    let files: Vec<&str> = result["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert_eq!(files.len(), 3);
    let svg = std::fs::read_to_string(dir.path().join(files[1])).unwrap();
    assert!(svg.contains("trendmaster") && svg.contains("v3 original"));
    assert!(
        std::fs::read(dir.path().join(files[2]))
            .unwrap()
            .starts_with(b"\x89PNG")
    );
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join(files[0])).unwrap()).unwrap();
    assert_eq!(written["variants"], result["variants"]);
    assert!(
        ours["spike_rejected"].as_f64().unwrap() > 0.2 * spikes,
        "a limit that stops no bot spike is no limit: {}",
        ours["spike_rejected"]
    );
}

#[test]
fn a_file_source_without_labels_is_judged_by_the_detector() {
    let dir = tempfile::tempdir().unwrap();
    // 21 days of demo traffic exported to the file source's format (no labels in a file).
    let output = common::trendmaster(
        dir.path(),
        &[
            "--as-of",
            "2026-11-22T00:00:00Z",
            "--days",
            "21",
            "--partners",
            "111",
            "--forecaster",
            "none",
            "--no-charts",
            "--output-dir",
            "export",
            "--export-data",
            "traffic.csv",
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result = common::trendmaster_json(
        dir.path(),
        &[
            "--source",
            "file:traffic.csv",
            "--partners",
            "111",
            "--backtest",
            "--output-format",
            "json",
            "--output-dir",
            "out",
        ],
    );
    assert_eq!(result["anomalies_from"], "detector");
    assert_eq!(
        result["test"]["end"], "2026-11-22T00:00:00Z",
        "the file's end of data"
    );
    let ours = &result["variants"][2];
    assert_eq!(ours["variant"], "trendmaster");
    assert_eq!(ours["series"].as_array().unwrap().len(), 9);
    assert_eq!(ours["total"]["rejected_normal"], 0.0);
    assert!(
        ours["spike_requests"].as_f64().unwrap() > 0.0,
        "the detector finds the spikes"
    );
}
