//! End-to-end: the real binary against a Kubernetes API. No real API server exists on these
//! machines, so this is testkit's local fake (`KubeFake`), which serves the real ConfigMap paths
//! with server-side apply semantics and records every request.
//!
//! Covered: reading the deployed ConfigMap (`--cluster`), discovery of the partners and APIs
//! from it, the held 2.5× change and `--detailed-exitcode`, the refusals (dry-run environment,
//! protected environment, field conflicts), `--apply` (server dry run first, the replaced
//! object saved first) and `--rollback` restoring the previous object exactly.

use std::path::Path;
use std::process::{Command, Output};

use k8s_openapi::api::core::v1::ConfigMap;
use serde_json::Value;
use trendmaster_testkit::{KubeFake, kube_fake};

const AS_OF: &str = "2026-11-15T00:00:00Z";
const HELD_API: &str = "/api_v3/service/multirequest";
const NAMESPACE: &str = "istio-system";
const NAME: &str = "ratelimit-config";

/// The binary in `dir` on demo traffic (no forecast, for speed), environment `testing` unless
/// `extra` says otherwise, with only `vars` in its environment.
fn run(dir: &Path, vars: &[(&str, &str)], extra: &[&str]) -> Output {
    let config = trendmaster_testkit::workspace_dir().join("config/config.yaml");
    let mut args = vec![
        "--config",
        config.to_str().unwrap(),
        "--as-of",
        AS_OF,
        "--source",
        "demo",
        "--forecaster",
        "none",
        "--output-dir",
        "out",
    ];
    if !extra.contains(&"--env") {
        args.extend(["--env", "testing"]);
    }
    args.extend_from_slice(extra);
    Command::new(env!("CARGO_BIN_EXE_trendmaster"))
        .current_dir(dir)
        .env_clear()
        .envs(vars.iter().copied())
        .args(args)
        .output()
        .expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn ratelimit_file(object: &Value) -> serde_yaml::Value {
    serde_yaml::from_str(object["data"]["config.yaml"].as_str().unwrap()).unwrap()
}

fn limit(file: &serde_yaml::Value, partner: &str, api: &str) -> u64 {
    let partner = file["descriptors"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|d| d["value"] == partner)
        .expect("the partner");
    partner["descriptors"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|d| d["value"] == api)
        .expect("the API")["rate_limit"]["requests_per_unit"]
        .as_u64()
        .unwrap()
}

/// The fake holding what a person deployed with kubectl: partner 111's limits as trendmaster
/// would emit them, except `HELD_API` at a third of its value. Returns the fake, the
/// kubeconfig, and the held entry's deployed value.
fn deployed_cluster(dir: &Path) -> (KubeFake, String, u64) {
    let first = run(dir, &[], &["--partners", "111"]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let latest: ConfigMap = serde_yaml::from_str(
        &std::fs::read_to_string(dir.join("out/latest_configmap.yaml")).unwrap(),
    )
    .unwrap();
    let mut object = serde_json::to_value(&latest).unwrap();
    let mut file = ratelimit_file(&object);
    // A 2.5× rise, the deployed value above the highest legitimate minute (a held limit below
    // it would rise to it at once).
    let held = limit(&file, "111", HELD_API) * 2 / 5;
    for partner in file["descriptors"].as_sequence_mut().unwrap() {
        for path in partner["descriptors"].as_sequence_mut().unwrap() {
            if path["value"] == HELD_API {
                path["rate_limit"]["requests_per_unit"] = held.into();
            }
        }
    }
    object["data"]["config.yaml"] = serde_yaml::to_string(&file).unwrap().into();
    object["metadata"]["labels"]["team"] = "platform".into();
    std::fs::remove_dir_all(dir.join("out")).unwrap();
    let fake = KubeFake::start();
    fake.insert(object, "kubectl");
    let kubeconfig = fake.kubeconfig(dir).to_str().unwrap().to_owned();
    (fake, kubeconfig, held)
}

fn patches(fake: &KubeFake) -> Vec<bool> {
    fake.requests()
        .iter()
        .filter(|r| r.method == "PATCH")
        .map(|r| r.is_dry_run())
        .collect()
}

fn history(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("out/history"))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn deployed_entries_are_read_from_the_cluster_discovered_and_held() {
    let dir = tempfile::tempdir().unwrap();
    let (fake, kubeconfig, held) = deployed_cluster(dir.path());

    let output = run(
        dir.path(),
        &[],
        &[
            "--cluster",
            "--kubeconfig",
            &kubeconfig,
            "--detailed-exitcode",
            "--output-format",
            "json",
        ],
    );
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    let result: Value = serde_json::from_slice(&output.stdout).expect("JSON on stdout");
    // testing discovers from the deployed ConfigMap: partner 111's 9 entries, not the 4
    // configured partners.
    let keys: Vec<&str> = result["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"]["partner"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["111"; 9]);
    let deployed_from = result["changes"]["deployed_from"].as_str().unwrap();
    assert!(
        deployed_from.starts_with("configmap istio-system/ratelimit-config at http://127.0.0.1:"),
        "{deployed_from}"
    );
    assert_eq!(result["changes"]["held"], 1);
    let plan = result["changes"]["plan"].as_array().unwrap();
    let entry = plan.iter().find(|p| p["key"]["api"] == HELD_API).unwrap();
    assert_eq!(entry["status"], "held");
    assert_eq!(entry["emitted"], held);
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("awaiting approval") || stderr.contains("held"),
        "{stderr}"
    );
    // Reading never writes.
    assert!(patches(&fake).is_empty());
    let requests = fake.requests();
    assert_eq!(
        requests[0].path,
        "/api/v1/namespaces/istio-system/configmaps/ratelimit-config"
    );

    // Narrowed by --partners, discovery is off: the configured APIs of the named partner.
    let narrowed = run(
        dir.path(),
        &[],
        &[
            "--cluster",
            "--kubeconfig",
            &kubeconfig,
            "--partners",
            "222",
            "--output-format",
            "json",
        ],
    );
    assert!(narrowed.status.success(), "{}", text(&narrowed.stderr));
    let result: Value = serde_json::from_slice(&narrowed.stdout).unwrap();
    assert!(
        result["recommendations"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["key"]["partner"] == "222")
    );
}

#[test]
fn apply_is_refused_where_the_environment_forbids_it() {
    let dir = tempfile::tempdir().unwrap();
    let (fake, kubeconfig, _) = deployed_cluster(dir.path());
    let before = fake.object(NAMESPACE, NAME).unwrap();

    // testing is DRY_RUN in the shipped configuration.
    let output = run(dir.path(), &[], &["--apply", "--kubeconfig", &kubeconfig]);
    assert_eq!(output.status.code(), Some(3));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("--apply: environment `testing` is a dry run"),
        "{stderr}"
    );

    // production is PROTECTED: --confirm-production is required.
    let output = run(
        dir.path(),
        &[],
        &[
            "--env",
            "production",
            "--apply",
            "--kubeconfig",
            &kubeconfig,
        ],
    );
    assert_eq!(output.status.code(), Some(3));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("`production` is PROTECTED"), "{stderr}");
    assert!(stderr.contains("--confirm-production"), "{stderr}");

    // Without --force-conflicts, fields kubectl owns are not taken over: exit 1, one line.
    let output = run(
        dir.path(),
        &[("DRY_RUN", "false")],
        &["--apply", "--kubeconfig", &kubeconfig],
    );
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("conflict with \"kubectl\""), "{stderr}");
    assert!(stderr.contains("--force-conflicts"), "{stderr}");
    // Only the server dry run was sent, and it changed nothing.
    assert_eq!(patches(&fake), [true]);
    assert_eq!(fake.object(NAMESPACE, NAME).unwrap(), before);
    // And it came before any file: the refused run wrote nothing, no history either (the soak
    // found a conflicting night that had written every file and saved a history entry).
    assert!(
        !dir.path().join("out").exists(),
        "{:?}",
        std::fs::read_dir(dir.path().join("out")).map(|d| d.count())
    );
}

#[test]
fn apply_then_rollback_restores_the_previous_object_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (fake, kubeconfig, held) = deployed_cluster(dir.path());
    let before = fake.object(NAMESPACE, NAME).unwrap();
    let allowed = [("DRY_RUN", "false")];

    let output = run(
        dir.path(),
        &allowed,
        &[
            "--apply",
            "--kubeconfig",
            &kubeconfig,
            "--force-conflicts",
            "--approve",
            &format!("111:{HELD_API}"),
            "--output-format",
            "json",
        ],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let result: Value = serde_json::from_slice(&output.stdout).unwrap();
    // Dry run first, then the real apply, both as field manager trendmaster, forced.
    assert_eq!(patches(&fake), [true, false]);
    for patch in fake.requests().iter().filter(|r| r.method == "PATCH") {
        assert_eq!(patch.query["fieldManager"], "trendmaster");
        assert_eq!(patch.query["force"], "true");
    }
    // What the cluster holds now is what was written to latest_configmap.yaml.
    let applied = fake.object(NAMESPACE, NAME).unwrap();
    let latest: ConfigMap = serde_yaml::from_str(
        &std::fs::read_to_string(dir.path().join("out/latest_configmap.yaml")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        applied["data"]["config.yaml"].as_str(),
        latest
            .data
            .as_ref()
            .unwrap()
            .get("config.yaml")
            .map(String::as_str)
    );
    assert!(
        limit(&ratelimit_file(&applied), "111", HELD_API) > held * 2,
        "approved"
    );
    // The replaced object was saved before anything changed.
    let saved = result["applied"]["saved_previous"].as_str().unwrap();
    assert_eq!(history(dir.path()).len(), 1);
    let saved: ConfigMap =
        serde_yaml::from_str(&std::fs::read_to_string(dir.path().join(saved)).unwrap()).unwrap();
    assert_eq!(serde_json::to_value(&saved.data).unwrap(), before["data"]);

    let output = run(
        dir.path(),
        &allowed,
        &[
            "--rollback",
            "--kubeconfig",
            &kubeconfig,
            "--force-conflicts",
        ],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).contains("restored from:"),
        "{}",
        text(&output.stdout)
    );
    let restored = fake.object(NAMESPACE, NAME).unwrap();
    assert_eq!(restored["data"], before["data"]);
    assert_eq!(restored["metadata"]["labels"], before["metadata"]["labels"]);
    assert_eq!(
        restored["metadata"].get("annotations"),
        before["metadata"].get("annotations")
    );
    // The rollback saved what it replaced: a second rollback would undo it.
    assert_eq!(history(dir.path()).len(), 2);

    // Asking for a version that does not exist is a usage error that names the count.
    let output = run(
        dir.path(),
        &allowed,
        &["--rollback", "9", "--kubeconfig", &kubeconfig],
    );
    assert_eq!(output.status.code(), Some(3));
    assert!(
        text(&output.stderr).contains("--rollback 9: 2 saved version(s)"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn an_unreachable_cluster_is_exit_4_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (kubeconfig, port) = kube_fake::unreachable_kubeconfig(dir.path());
    let output = run(
        dir.path(),
        &[],
        &["--cluster", "--kubeconfig", kubeconfig.to_str().unwrap()],
    );
    assert_eq!(output.status.code(), Some(4), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(stderr.contains(&format!("127.0.0.1:{port}")), "{stderr}");
    assert!(!dir.path().join("out").exists());
}

#[test]
fn the_degraded_profile_is_applied_in_an_incident_and_the_normal_one_restores() {
    let dir = tempfile::tempdir().unwrap();
    let (fake, kubeconfig, _) = deployed_cluster(dir.path());
    let apply = |profile: &str| {
        let output = run(
            dir.path(),
            &[("DRY_RUN", "false")],
            &[
                "--apply",
                "--kubeconfig",
                &kubeconfig,
                "--force-conflicts",
                "--approve",
                "all",
                "--profile",
                profile,
                "--output-format",
                "json",
            ],
        );
        assert!(output.status.success(), "{}", text(&output.stderr));
        let result: Value = serde_json::from_slice(&output.stdout).unwrap();
        let written: ConfigMap = serde_yaml::from_str(
            &std::fs::read_to_string(
                dir.path()
                    .join(result["files"]["degraded_configmap"].as_str().unwrap()),
            )
            .unwrap(),
        )
        .unwrap();
        (fake.object(NAMESPACE, NAME).unwrap(), written)
    };
    let (in_cluster, degraded) = apply("degraded");
    assert_eq!(
        in_cluster["metadata"]["annotations"]["trendmaster.io/profile"],
        "degraded"
    );
    assert_eq!(
        in_cluster["data"]["config.yaml"].as_str(),
        degraded
            .data
            .as_ref()
            .unwrap()
            .get("config.yaml")
            .map(String::as_str)
    );
    let (in_cluster, _) = apply("normal");
    assert!(
        in_cluster["metadata"]["annotations"]
            .get("trendmaster.io/profile")
            .is_none(),
        "server-side apply removes the annotation the normal profile does not set"
    );
    let normal = ratelimit_file(&in_cluster);
    let degraded: serde_yaml::Value =
        serde_yaml::from_str(&degraded.data.unwrap()["config.yaml"]).unwrap();
    assert!(limit(&normal, "111", HELD_API) >= limit(&degraded, "111", HELD_API));
}
