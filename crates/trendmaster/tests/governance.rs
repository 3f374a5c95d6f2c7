//! End-to-end: the real binary against a "deployed" ConfigMap (`--current-from`): the change
//! table, a 2.5× change held until `--approve`, entries we do not manage carried over, and
//! `--detailed-exitcode`; and the degraded (load-shedding) profile written beside the normal one.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use k8s_openapi::api::core::v1::ConfigMap;
use serde_yaml::Value;

const AS_OF: &str = "2026-11-15T00:00:00Z";
const HELD_API: &str = "/api_v3/service/multirequest";
const NUDGED_API: &str = "/api_v3/service/asset/action/list";

/// The binary on partner 111's demo traffic (no forecast: the plan does not depend on it and
/// the runs stay quick), in `dir`, with a clean environment.
fn run(dir: &Path, extra: &[&str]) -> Output {
    let config = trendmaster_testkit::workspace_dir().join("config/config.yaml");
    run_with(dir, config.to_str().unwrap(), "111", extra)
}

fn run_with(dir: &Path, config: &str, partners: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "--config",
        config,
        "--as-of",
        AS_OF,
        "--partners",
        partners,
        "--forecaster",
        "none",
        "--output-dir",
        "out",
    ];
    args.extend_from_slice(extra);
    Command::new(env!("CARGO_BIN_EXE_trendmaster"))
        .current_dir(dir)
        .env_clear()
        .args(args)
        .output()
        .expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// The ratelimit file inside the ConfigMap at `path`, as a YAML value.
fn ratelimit_file(path: &Path) -> (ConfigMap, Value) {
    let configmap: ConfigMap =
        serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).expect("a v1 ConfigMap");
    let file = configmap.data.as_ref().unwrap()["config.yaml"].clone();
    (configmap, serde_yaml::from_str(&file).unwrap())
}

/// The descriptor of partner 111's `api` in a ratelimit file.
fn entry<'a>(file: &'a mut Value, api: &str) -> &'a mut Value {
    let partner = file["descriptors"]
        .as_sequence_mut()
        .unwrap()
        .iter_mut()
        .find(|d| d["value"] == "111")
        .expect("partner 111");
    partner["descriptors"]
        .as_sequence_mut()
        .unwrap()
        .iter_mut()
        .find(|d| d["value"] == api)
        .expect("the API")
}

fn limit(file: &mut Value, api: &str) -> u64 {
    entry(file, api)["rate_limit"]["requests_per_unit"]
        .as_u64()
        .unwrap()
}

/// A deployed ConfigMap made from a run's own output: `HELD_API` at 40 % of its value (so the
/// new recommendation is a 2.5× rise, while the deployed value stays above the highest
/// legitimate minute — a held limit below that rises to it at once), `NUDGED_API` 10 % lower, and a descriptor of ours
/// carrying `shadow_mode` plus an entry we do not manage, both of which must survive.
/// Returns its path, the held entry's deployed and recommended values, and the nudged entry's
/// recommended value.
fn deployed_from(latest: &Path, dir: &Path) -> (PathBuf, u64, u64, u64) {
    let (mut configmap, mut file) = ratelimit_file(latest);
    let recommended_held = limit(&mut file, HELD_API);
    let deployed_held = recommended_held * 2 / 5;
    entry(&mut file, HELD_API)["rate_limit"]["requests_per_unit"] = deployed_held.into();
    let recommended_nudged = limit(&mut file, NUDGED_API);
    let nudged = recommended_nudged * 9 / 10;
    entry(&mut file, NUDGED_API)["rate_limit"]["requests_per_unit"] = nudged.into();
    entry(&mut file, NUDGED_API)["shadow_mode"] = true.into();
    file["descriptors"].as_sequence_mut().unwrap().push(
        serde_yaml::from_str(
            "{key: remote_address, rate_limit: {unit: second, requests_per_unit: 50}}",
        )
        .unwrap(),
    );
    configmap
        .data
        .as_mut()
        .unwrap()
        .insert("config.yaml".into(), serde_yaml::to_string(&file).unwrap());
    let path = dir.join("deployed.yaml");
    std::fs::write(&path, serde_yaml::to_string(&configmap).unwrap()).unwrap();
    (path, deployed_held, recommended_held, recommended_nudged)
}

#[test]
fn a_two_and_a_half_fold_change_is_held_until_approved() {
    let dir = tempfile::tempdir().unwrap();
    let first = run(dir.path(), &[]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let latest = dir.path().join("out/latest_configmap.yaml");

    // The run's own output deployed: nothing changes, exit 0 even with --detailed-exitcode.
    let same = run(
        dir.path(),
        &[
            "--current-from",
            latest.to_str().unwrap(),
            "--detailed-exitcode",
        ],
    );
    assert_eq!(same.status.code(), Some(0), "{}", text(&same.stderr));
    assert!(
        text(&same.stderr).contains("(9 unchanged)"),
        "{}",
        text(&same.stderr)
    );

    let (deployed, deployed_held, recommended_held, recommended_nudged) =
        deployed_from(&latest, dir.path());
    let held = run(
        dir.path(),
        &[
            "--current-from",
            deployed.to_str().unwrap(),
            "--detailed-exitcode",
            "--output-format",
            "json",
        ],
    );
    assert_eq!(held.status.code(), Some(2), "{}", text(&held.stderr));
    let stderr = text(&held.stderr);
    let held_line = stderr
        .lines()
        .find(|l| l.contains(HELD_API))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(held_line.trim_end().ends_with("held"), "{held_line}");
    assert!(
        held_line.contains(&deployed_held.to_string()),
        "{held_line}"
    );
    assert!(
        held_line.contains(&recommended_held.to_string()),
        "{held_line}"
    );
    let result: serde_json::Value = serde_json::from_slice(&held.stdout).expect("JSON on stdout");
    assert_eq!(result["changes"]["held"], 1);
    assert_eq!(
        result["changes"]["changed"], 2,
        "the held and the nudged entries"
    );
    // The emitted ConfigMap keeps the deployed value for the held entry, takes the new one for
    // the nudged entry (keeping its shadow_mode), and carries over what is not ours.
    let (_, mut emitted) = ratelimit_file(&latest);
    assert_eq!(limit(&mut emitted, HELD_API), deployed_held);
    assert_eq!(
        limit(&mut emitted, NUDGED_API),
        recommended_nudged,
        "the recommendation, not the deployed value"
    );
    // Deployed in shadow mode, now enforced: a run without --shadow promotes it.
    assert_eq!(entry(&mut emitted, NUDGED_API)["shadow_mode"], Value::Null);
    assert!(
        emitted["descriptors"]
            .as_sequence()
            .unwrap()
            .iter()
            .any(|d| d["key"] == "remote_address"),
        "the entry we do not manage is still there"
    );
    let report = std::fs::read_dir(dir.path().join("out"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .max()
        .unwrap();
    let report = std::fs::read_to_string(report).unwrap();
    assert!(report.contains("### Awaiting approval"), "{report}");
    assert!(
        report.contains(&format!("--approve 111:{HELD_API}")),
        "{report}"
    );

    // Approved: the new value goes out.
    let approved = run(
        dir.path(),
        &[
            "--current-from",
            deployed.to_str().unwrap(),
            "--detailed-exitcode",
            "--approve",
            &format!("111:{HELD_API}"),
        ],
    );
    assert_eq!(
        approved.status.code(),
        Some(2),
        "{}",
        text(&approved.stderr)
    );
    assert!(text(&approved.stderr).contains("approved"));
    let (_, mut emitted) = ratelimit_file(&latest);
    assert_eq!(limit(&mut emitted, HELD_API), recommended_held);

    // --shadow: the changed entry goes out counted but not enforced; the held one is untouched.
    let shadow = run(
        dir.path(),
        &["--current-from", deployed.to_str().unwrap(), "--shadow"],
    );
    assert!(shadow.status.success(), "{}", text(&shadow.stderr));
    let (_, mut emitted) = ratelimit_file(&latest);
    assert_eq!(
        entry(&mut emitted, NUDGED_API)["shadow_mode"],
        Value::from(true)
    );
    assert_eq!(entry(&mut emitted, HELD_API)["shadow_mode"], Value::Null);
    assert_eq!(limit(&mut emitted, HELD_API), deployed_held);
}

#[test]
fn bad_governance_input_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = run(dir.path(), &["--current-from", "nope.yaml"]);
    assert_eq!(missing.status.code(), Some(3));
    assert!(
        text(&missing.stderr).contains("--current-from nope.yaml"),
        "{}",
        text(&missing.stderr)
    );
    std::fs::write(
        dir.path().join("bad.yaml"),
        "domain: elsewhere\ndescriptors: []\n",
    )
    .unwrap();
    let wrong_domain = run(dir.path(), &["--current-from", "bad.yaml"]);
    assert_eq!(wrong_domain.status.code(), Some(3));
    assert!(text(&wrong_domain.stderr).contains("bad.yaml: its domain is `elsewhere`"));
    std::fs::write(
        dir.path().join("ok.yaml"),
        "domain: global-ratelimit\ndescriptors: []\n",
    )
    .unwrap();
    let typo = run(
        dir.path(),
        &["--current-from", "ok.yaml", "--approve", "111:/api_v3/nope"],
    );
    assert_eq!(typo.status.code(), Some(3));
    assert!(
        text(&typo.stderr).contains("--approve `111:/api_v3/nope`"),
        "{}",
        text(&typo.stderr)
    );
    assert!(!dir.path().join("out").exists(), "nothing written");
}

/// Every partner × API limit of the ConfigMap at `path`.
fn all_limits(path: &Path) -> std::collections::BTreeMap<(String, String), u64> {
    let (_, file) = ratelimit_file(path);
    let mut limits = std::collections::BTreeMap::new();
    for partner in file["descriptors"].as_sequence().unwrap() {
        for api in partner["descriptors"].as_sequence().unwrap() {
            limits.insert(
                (
                    partner["value"].as_str().unwrap().to_owned(),
                    api["value"].as_str().unwrap().to_owned(),
                ),
                api["rate_limit"]["requests_per_unit"].as_u64().unwrap(),
            );
        }
    }
    limits
}

#[test]
fn the_degraded_profile_cuts_lower_tiers_and_keeps_the_top_one() {
    let dir = tempfile::tempdir().unwrap();
    // The shipped tiers (free 0.5, standard 0.75, enterprise 1), with 111 enterprise and 222
    // free; 333 falls to the default tier, standard.
    std::fs::write(
        dir.path().join("tiers.yaml"),
        "PARTNER_CONFIGS:\n  environment:\n    partner_tiers: {111: enterprise, 222: free}\n",
    )
    .unwrap();
    let output = run_with(
        dir.path(),
        "tiers.yaml",
        "111,222,333",
        &["--profile", "degraded"],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let out = dir.path().join("out");
    let file = |infix: &str| {
        std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                name.starts_with(&format!("environment_configmap_{infix}"))
            })
            .unwrap()
    };
    let (normal, degraded) = (all_limits(&file("2")), all_limits(&file("degraded_")));
    assert_eq!(normal.len(), 27);
    assert_eq!(
        normal.keys().collect::<Vec<_>>(),
        degraded.keys().collect::<Vec<_>>()
    );
    // The shipped rounding: up to the 100 step, a 1-2-5 step within 5 % below 2,000.
    let rounding = trendmaster_types::settings::Rounding {
        step: 100.0,
        max_share: 0.05,
    };
    let rounded_up = |value: f64| rounding.up(value) as u64;
    for (key, limit) in &normal {
        let cut = degraded[key];
        assert!(cut <= *limit, "{key:?}: {cut} above {limit}");
        match key.0.as_str() {
            "111" => assert_eq!(cut, *limit, "{key:?}: the top tier keeps its limit"),
            "222" => assert_eq!(
                cut,
                rounded_up(*limit as f64 / 2.0),
                "{key:?}: free keeps half"
            ),
            // Rounded up, so never above the normal limit.
            _ => assert_eq!(
                cut,
                rounded_up(*limit as f64 * 0.75),
                "{key:?}: standard keeps three quarters"
            ),
        }
    }
    // `--profile degraded`: latest_configmap.yaml is the degraded variant, marked as such.
    let latest = std::fs::read_to_string(out.join("latest_configmap.yaml")).unwrap();
    assert_eq!(latest, std::fs::read_to_string(file("degraded_")).unwrap());
    assert!(latest.contains("trendmaster.io/profile: degraded"));
}

#[test]
fn a_mass_cut_is_refused_before_anything_is_written_unless_approved() {
    let dir = tempfile::tempdir().unwrap();
    let first = run(dir.path(), &["--no-charts"]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let latest = dir.path().join("out/latest_configmap.yaml");
    let cut_apis = [
        "/api_v3/service/multirequest",
        "/api_v3/service/asset/action/list",
        "/api_v3/service/asset/action/get",
    ];
    // Deployed at 3x today's recommendation: each recommendation is a 3x cut (ratio 1.8).
    let deployed_with = |apis: &[&str], name: &str| {
        let (mut configmap, mut file) = ratelimit_file(&latest);
        for api in apis {
            let tripled = limit(&mut file, api) * 3;
            entry(&mut file, api)["rate_limit"]["requests_per_unit"] = tripled.into();
        }
        configmap
            .data
            .as_mut()
            .unwrap()
            .insert("config.yaml".into(), serde_yaml::to_string(&file).unwrap());
        std::fs::write(
            dir.path().join(name),
            serde_yaml::to_string(&configmap).unwrap(),
        )
        .unwrap();
    };
    deployed_with(&cut_apis, "three.yaml");
    deployed_with(&cut_apis[..2], "two.yaml");
    let before = common::files_under(&dir.path().join("out"));

    // 3 of 9 entries (33 %) is above max_cut_share (25 %): refused, nothing written.
    let refused = run(dir.path(), &["--current-from", "three.yaml", "--no-charts"]);
    let stderr = text(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("trendmaster: error: 3 of 9 deployed entries (33%) would be cut by more than 1.8x at once, above COMMON.GOVERNANCE.max_cut_share (25%), so nothing was written; first: 111:/api_v3/service/asset/action/get"),
        "{stderr}"
    );
    assert_eq!(
        common::files_under(&dir.path().join("out")),
        before,
        "output/ unchanged"
    );

    // 2 of 9 (22 %) passes the gate; the two cuts are held as usual (exit 2).
    let held = run(
        dir.path(),
        &[
            "--current-from",
            "two.yaml",
            "--no-charts",
            "--detailed-exitcode",
        ],
    );
    assert_eq!(held.status.code(), Some(2), "{}", text(&held.stderr));

    // Cuts someone approved do not count against the gate.
    let approved = run(
        dir.path(),
        &[
            "--current-from",
            "three.yaml",
            "--no-charts",
            "--approve",
            "all",
        ],
    );
    assert!(approved.status.success(), "{}", text(&approved.stderr));
}
