//! `--shard I/N` and `trendmaster merge` on the real binary: four shards merged give the same
//! ConfigMaps as one unsharded run, and a merge refuses shard files that do not fit together.

mod common;

use common::{trendmaster, trendmaster_json};
use serde_json::Value;
use std::path::Path;

const AS_OF: &str = "2026-11-15T00:00:00Z";
const APIS: &str = "/api_v3/service/multirequest,/api_v3/service/asset/action/list,/api_v3/service/ottuser/action/login";

fn args<'a>(output_dir: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "--env",
        "environment",
        "--as-of",
        AS_OF,
        "--apis",
        APIS,
        "--output-dir",
        output_dir,
        "--output-format",
        "json",
    ];
    args.extend_from_slice(extra);
    args
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Recommendations as `partner:api → limit`, and the skipped keys.
fn limits(result: &Value) -> Vec<(String, u64)> {
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
            )
        })
        .collect()
}

#[test]
fn four_shards_merged_equal_one_unsharded_run() {
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole");
    let sharded = dir.path().join("sharded");
    let (whole_s, sharded_s) = (whole.to_str().unwrap(), sharded.to_str().unwrap());
    // Deployed: the demo's golden ConfigMap (same window), with partner 222's multirequest
    // limit (36,300) cut to 2,000, so that the plan holds an 18× change and carries over the 24 entries
    // of APIs this run does not analyse.
    let golden = read(&common::root().join("crates/trendmaster/tests/golden/demo/configmap.yaml"));
    assert_eq!(golden.matches("requests_per_unit: 36300").count(), 1);
    let deployed = dir.path().join("deployed.yaml");
    std::fs::write(
        &deployed,
        golden.replace("requests_per_unit: 36300", "requests_per_unit: 2000"),
    )
    .unwrap();
    let current = ["--current-from", deployed.to_str().unwrap()];

    let unsharded = trendmaster_json(dir.path(), &args(whole_s, &current));
    assert_eq!(unsharded["changes"]["held"], 1, "{}", unsharded["changes"]);

    let mut shard_series = Vec::new();
    for index in 0..4 {
        let shard = format!("{index}/4");
        let mut shard_args = vec!["--shard", shard.as_str()];
        shard_args.extend(current);
        let result = trendmaster_json(dir.path(), &args(sharded_s, &shard_args));
        // A shard writes its shard file and nothing else.
        let file = result["shard_file"]
            .as_str()
            .expect("shard_file in the result");
        assert!(
            file.ends_with(&format!("shard-{index}-of-4.json")),
            "{file}"
        );
        assert!(result.get("files").is_none());
        shard_series.push(limits(&result).len());
    }
    assert!(!sharded.join("latest_configmap.yaml").exists());
    assert_eq!(
        shard_series.iter().sum::<usize>(),
        limits(&unsharded).len(),
        "each series in exactly one shard: {shard_series:?}"
    );
    assert!(
        shard_series.iter().filter(|&&n| n > 0).count() >= 2,
        "the four partners spread over shards: {shard_series:?}"
    );

    // Merge with the shard files found by --as-of in OUTPUT/shards/.
    let mut merge_args = current.to_vec();
    merge_args.push("merge");
    let merged = trendmaster_json(dir.path(), &args(sharded_s, &merge_args));
    assert_eq!(limits(&merged), limits(&unsharded));
    assert_eq!(merged["changes"], unsharded["changes"]);
    assert_eq!(merged["fetch"]["series"], unsharded["fetch"]["series"]);
    for file in ["configmap", "degraded_configmap"] {
        let path = |result: &Value| result["files"][file].as_str().unwrap().to_string();
        let (a, b) = (
            read(Path::new(&path(&unsharded))),
            read(Path::new(&path(&merged))),
        );
        assert!(a.contains("requests_per_unit"), "{file}: {a}");
        assert_eq!(
            a, b,
            "{file} differs between the unsharded and the merged run"
        );
    }
    let latest = read(&sharded.join("latest_configmap.yaml"));
    assert_eq!(read(&whole.join("latest_configmap.yaml")), latest);
    // The held entry's deployed 2,000 is below its highest legitimate minute, so it rises to
    // that (11,200) while the rest of the raise waits; the other APIs' entries are carried over.
    assert!(!latest.contains("requests_per_unit: 2000\n"), "{latest}");
    assert!(latest.contains("requests_per_unit: 11200"), "{latest}");
    assert!(latest.contains("requests_per_unit: 19600"), "{latest}");
    // The merged report has the unsharded run's charts (the shard files carry them).
    let plots = |dir: &Path| -> Vec<String> {
        let mut names: Vec<String> = walk(&dir.join("plots"))
            .into_iter()
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        names.sort();
        names
    };
    assert!(!plots(&whole).is_empty());
    assert_eq!(plots(&whole), plots(&sharded));
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                found.extend(walk(&path));
            } else {
                found.push(path);
            }
        }
    }
    found
}

#[test]
fn a_merge_refuses_missing_or_mismatched_shards_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let out_s = out.to_str().unwrap();
    let mut files = Vec::new();
    for index in 0..2 {
        let shard = format!("{index}/2");
        let result = trendmaster_json(dir.path(), &args(out_s, &["--shard", &shard]));
        files.push(result["shard_file"].as_str().unwrap().to_string());
    }

    // One of two shards: exit 4 (the other shard's run failed or has not finished).
    let output = trendmaster(dir.path(), &args(out_s, &["merge", &files[0]]));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("shard 1/2 missing"), "{stderr}");
    assert!(!out.join("latest_configmap.yaml").exists());

    // The same shard twice: exit 3.
    let output = trendmaster(dir.path(), &args(out_s, &["merge", &files[0], &files[0]]));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("shard 0/2 twice"), "{stderr}");

    // Another configuration (a different formula mode) than the shards were made with: exit 3.
    let mut other = args(out_s, &["--mode", "fixed", "merge"]);
    other.extend(files.iter().map(String::as_str));
    let output = trendmaster(dir.path(), &other);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("another configuration"), "{stderr}");

    // A shard run needs --as-of (every shard must analyse the same window).
    let output = trendmaster(
        dir.path(),
        &[
            "--env",
            "environment",
            "--shard",
            "0/2",
            "--output-dir",
            out_s,
        ],
    );
    assert_eq!(output.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--as-of"));

    // Both shards: the merge writes the ConfigMap.
    let mut both = args(out_s, &["merge"]);
    both.extend(files.iter().map(String::as_str));
    let merged = trendmaster_json(dir.path(), &both);
    assert_eq!(limits(&merged).len(), 12);
    assert!(out.join("latest_configmap.yaml").exists());
}
