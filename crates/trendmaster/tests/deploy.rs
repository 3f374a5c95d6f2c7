//! `deploy/`: every manifest parses into its Kubernetes type without losing a field, the RBAC
//! grants exactly the one ConfigMap the configuration names, and the flags the CronJob and the
//! CI workflow pass are accepted by the real binary. Also: the local rate-limit EnvoyFilter a
//! run writes parses into its type and holds each partner's budget.

mod common;

use std::path::Path;
use std::process::Command;

use common::root;

use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, PersistentVolumeClaim, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_yaml::Value;
use trendmaster_emit::EnvoyFilter;

fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).unwrap())
        .filter(|doc| !doc.is_null())
        .collect()
}

/// Parses `doc` as `T` and checks that serialising it back gives the same document: a
/// misspelled or misplaced field, which the typed parser would drop, fails here.
fn typed<T: DeserializeOwned + serde::Serialize>(doc: &Value) -> T {
    let object: T = serde_yaml::from_value(doc.clone()).unwrap_or_else(|e| {
        panic!("{}: {e}", doc["kind"].as_str().unwrap_or("?"));
    });
    let back = serde_yaml::to_value(&object).unwrap();
    assert_eq!(
        &back,
        doc,
        "{} loses or changes fields when parsed",
        doc["kind"].as_str().unwrap_or("?")
    );
    object
}

/// The shipped configuration's CONFIGMAP name and namespace.
fn configmap_identity() -> (String, String) {
    let config: Value =
        serde_yaml::from_str(&std::fs::read_to_string(root().join("config/config.yaml")).unwrap())
            .unwrap();
    let configmap = &config["COMMON"]["CONFIGMAP"];
    (
        configmap["namespace"].as_str().unwrap().to_owned(),
        configmap["name"].as_str().unwrap().to_owned(),
    )
}

/// The real binary, asked only to validate, with `args`: proves they are accepted.
/// (`--validate-only` goes first, so that it also precedes a subcommand such as `merge`.)
fn accepts(args: &[String]) {
    let output = Command::new(env!("CARGO_BIN_EXE_trendmaster"))
        .env_clear()
        .arg("--config")
        .arg(root().join("config/config.yaml"))
        .arg("--validate-only")
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn kubernetes_manifests_parse_and_grant_only_the_one_configmap() {
    let dir = root().join("deploy/kubernetes");
    let kustomization = documents(&dir.join("kustomization.yaml")).remove(0);
    let resources: Vec<&str> = kustomization["resources"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".yaml") && name != "kustomization.yaml")
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = resources.iter().map(|r| r.to_string()).collect();
    listed.sort();
    assert_eq!(listed, on_disk, "kustomization.yaml lists every manifest");

    let (mut roles, mut bindings, mut accounts, mut cronjobs, mut claims) =
        (vec![], vec![], vec![], vec![], vec![]);
    for file in &on_disk {
        for doc in documents(&dir.join(file)) {
            match doc["kind"].as_str().unwrap() {
                "Namespace" => drop(typed::<Namespace>(&doc)),
                "ServiceAccount" => accounts.push(typed::<ServiceAccount>(&doc)),
                "Role" => roles.push(typed::<Role>(&doc)),
                "RoleBinding" => bindings.push(typed::<RoleBinding>(&doc)),
                "PersistentVolumeClaim" => claims.push(typed::<PersistentVolumeClaim>(&doc)),
                "CronJob" => cronjobs.push(typed::<CronJob>(&doc)),
                other => panic!("{file}: unexpected kind {other}"),
            }
        }
    }
    let (namespace, name) = configmap_identity();
    let [role] = &roles[..] else {
        panic!("one Role")
    };
    assert_eq!(role.metadata.namespace.as_deref(), Some(namespace.as_str()));
    let rules = role.rules.as_ref().unwrap();
    for rule in rules {
        assert_eq!(
            rule.resources.as_deref(),
            Some(&["configmaps".to_string()][..])
        );
        match rule.resource_names.as_deref() {
            // Named: read and apply that one object, nothing more.
            Some(names) => {
                assert_eq!(names, std::slice::from_ref(&name));
                assert_eq!(rule.verbs, ["get", "patch"]);
            }
            // Kubernetes cannot restrict create by name: create only.
            None => assert_eq!(rule.verbs, ["create"]),
        }
    }
    let [account] = &accounts[..] else {
        panic!("one ServiceAccount")
    };
    let [binding] = &bindings[..] else {
        panic!("one RoleBinding")
    };
    assert_eq!(binding.role_ref.name, role.metadata.name.clone().unwrap());
    let subject = &binding.subjects.as_ref().unwrap()[0];
    assert_eq!(Some(&subject.name), account.metadata.name.as_ref());
    assert_eq!(subject.namespace, account.metadata.namespace);

    let [cronjob] = &cronjobs[..] else {
        panic!("one CronJob")
    };
    let job = cronjob
        .spec
        .as_ref()
        .unwrap()
        .job_template
        .spec
        .as_ref()
        .unwrap();
    let pod = job.template.spec.as_ref().unwrap();
    assert_eq!(pod.service_account_name, account.metadata.name);
    assert_eq!(
        first_claim(pod),
        claims[0].metadata.name.as_deref().unwrap()
    );
    // Exit code 2 (changes held) fails the Job at once instead of being retried.
    let rules = &job.pod_failure_policy.as_ref().unwrap().rules;
    assert!(rules.iter().any(|rule| {
        rule.action == "FailJob"
            && rule
                .on_exit_codes
                .as_ref()
                .is_some_and(|codes| codes.values.contains(&2))
    }));
    let args = pod.containers[0].args.clone().unwrap();
    assert!(args.contains(&"--apply".to_string()));
    assert!(args.contains(&"--detailed-exitcode".to_string()));
    accepts(&args);
}

/// The shell command of a pod (`sh -c '...'`) as the arguments `trendmaster` gets, with the
/// variables the pod would have: `JOB_COMPLETION_INDEX` and today's date.
/// The claim of the pod's first volume (the output directory in every manifest).
fn first_claim(pod: &k8s_openapi::api::core::v1::PodSpec) -> &str {
    &pod.volumes.as_ref().unwrap()[0]
        .persistent_volume_claim
        .as_ref()
        .unwrap()
        .claim_name
}

fn shell_args(pod: &k8s_openapi::api::core::v1::PodSpec, index: u32) -> Vec<String> {
    let container = &pod.containers[0];
    assert_eq!(
        container.command.as_deref(),
        Some(&["/bin/sh".to_string(), "-c".to_string()][..])
    );
    let script = &container.args.as_ref().unwrap()[0];
    let script = script
        .replace("\"$(date -u +%Y-%m-%d)\"", "2026-11-15")
        .replace("\"${JOB_COMPLETION_INDEX}/4\"", &format!("{index}/4"));
    let words: Vec<String> = script.split_whitespace().map(str::to_string).collect();
    assert_eq!(words[..2], ["exec", "trendmaster"], "{script}");
    assert!(!script.contains('$'), "every variable replaced: {script}");
    words[2..].to_vec()
}

#[test]
fn the_sharded_example_is_an_indexed_job_and_a_merge_on_a_shared_volume() {
    let dir = root().join("deploy/kubernetes/sharded");
    let kustomization = documents(&dir.join("kustomization.yaml")).remove(0);
    let mut cronjobs = Vec::new();
    let mut claims = Vec::new();
    for resource in kustomization["resources"].as_sequence().unwrap() {
        for doc in documents(&dir.join(resource.as_str().unwrap())) {
            match doc["kind"].as_str().unwrap() {
                "CronJob" => cronjobs.push(typed::<CronJob>(&doc)),
                "PersistentVolumeClaim" => claims.push(typed::<PersistentVolumeClaim>(&doc)),
                other => panic!("unexpected kind {other}"),
            }
        }
    }
    let [claim] = &claims[..] else {
        panic!("one PersistentVolumeClaim")
    };
    // Pods of one Job on several nodes, and a merge after them: ReadWriteMany.
    assert_eq!(
        claim.spec.as_ref().unwrap().access_modes.as_deref(),
        Some(&["ReadWriteMany".to_string()][..])
    );
    let job_of = |name: &str| {
        let cronjob = cronjobs
            .iter()
            .find(|c| c.metadata.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("CronJob {name}"));
        cronjob
            .spec
            .as_ref()
            .unwrap()
            .job_template
            .spec
            .clone()
            .unwrap()
    };
    let shards = job_of("trendmaster-shards");
    assert_eq!(shards.completion_mode.as_deref(), Some("Indexed"));
    assert_eq!(shards.completions, Some(4));
    assert_eq!(shards.parallelism, Some(4));
    let merge = job_of("trendmaster-merge");
    for job in [&shards, &merge] {
        let pod = job.template.spec.as_ref().unwrap();
        assert_eq!(first_claim(pod), claim.metadata.name.as_deref().unwrap());
    }
    // Every shard index and the merge pass the real binary's checks.
    for index in 0..4 {
        let args = shell_args(shards.template.spec.as_ref().unwrap(), index);
        assert!(args.contains(&format!("{index}/4")), "{args:?}");
        accepts(&args);
    }
    let args = shell_args(merge.template.spec.as_ref().unwrap(), 0);
    assert_eq!(args.last().map(String::as_str), Some("merge"));
    assert!(args.contains(&"--apply".to_string()));
    accepts(&args);
}

#[test]
fn the_ci_workflow_runs_the_nightly_script_and_keeps_the_output() {
    let workflow = documents(&root().join("deploy/ci/github-actions-nightly.yml")).remove(0);
    assert!(workflow["on"]["schedule"][0]["cron"].is_string());
    let steps = workflow["jobs"]["rate-limits"]["steps"]
        .as_sequence()
        .unwrap();
    let run = steps
        .iter()
        .filter_map(|step| step["run"].as_str())
        .find(|run| run.starts_with("scripts/nightly.sh"))
        .expect("a step runs scripts/nightly.sh");
    let args: Vec<String> = run
        .split_whitespace()
        .skip(1)
        .map(|word| {
            word.trim_matches('"')
                .replace("$RUNNER_TEMP/kubeconfig", "kubeconfig")
        })
        .collect();
    assert!(args.contains(&"--cluster".to_string()));
    accepts(&args);
    let upload = steps
        .iter()
        .find(|step| {
            step["uses"]
                .as_str()
                .is_some_and(|uses| uses.starts_with("actions/upload-artifact"))
        })
        .expect("output/ is kept as an artifact");
    assert_eq!(upload["if"], "always()");
    assert_eq!(upload["with"]["path"], "output/");
}

#[test]
fn the_local_ratelimit_envoyfilter_parses_and_splits_each_partner_budget() {
    let dir = tempfile::tempdir().unwrap();
    let result = common::trendmaster_json(
        dir.path(),
        &[
            "--as-of",
            "2026-11-15T00:00:00Z",
            "--partners",
            "111,222",
            "--forecaster",
            "none",
            "--output-dir",
            "out",
            "--local-ratelimit",
            "--output-format",
            "json",
        ],
    );
    let path = dir
        .path()
        .join(result["files"]["envoyfilter"].as_str().unwrap());
    let filter: EnvoyFilter =
        serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).expect("an EnvoyFilter");
    assert_eq!(filter.api_version, "networking.istio.io/v1alpha3");
    assert_eq!(filter.kind, "EnvoyFilter");

    // Each partner's bucket = the sum of its per-minute limits in the ConfigMap ÷ 3 replicas,
    // rounded up.
    let configmap: ConfigMap = serde_yaml::from_str(
        &std::fs::read_to_string(dir.path().join("out/latest_configmap.yaml")).unwrap(),
    )
    .unwrap();
    let file: Value = serde_yaml::from_str(&configmap.data.unwrap()["config.yaml"]).unwrap();
    let budgets = &result["local_ratelimit"];
    for partner in file["descriptors"].as_sequence().unwrap() {
        let id = partner["value"].as_str().unwrap();
        let total: u64 = partner["descriptors"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|d| d["rate_limit"]["requests_per_unit"].as_u64().unwrap())
            .sum();
        assert_eq!(
            budgets[id].as_u64(),
            Some(total.div_ceil(3)),
            "partner {id}"
        );
    }
    assert_eq!(budgets.as_object().unwrap().len(), 2);
    let yaml = std::fs::read_to_string(&path).unwrap();
    for partner in ["111", "222"] {
        let tokens = budgets[partner].as_u64().unwrap();
        assert!(
            yaml.contains(&format!("tokens_per_fill: {tokens}")),
            "{partner}: {yaml}"
        );
    }
}
