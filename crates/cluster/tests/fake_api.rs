//! The cluster client against the local Kubernetes API fake (no real API server exists on
//! these machines): the real paths, server-side apply semantics and error answers.

use k8s_openapi::api::core::v1::ConfigMap;
use serde_json::json;
use trendmaster_cluster::{Cluster, ClusterError, ClusterTarget, history};
use trendmaster_testkit::{KubeFake, kube_fake};

fn configmap(value: &str, label: &str) -> ConfigMap {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "ratelimit-config", "namespace": "istio-system",
                     "labels": {"updated_at": label}},
        "data": {"config.yaml": value}
    }))
    .unwrap()
}

fn connect(fake: &KubeFake, dir: &std::path::Path) -> Cluster {
    Cluster::connect(&ClusterTarget {
        kubeconfig: Some(fake.kubeconfig(dir)),
        context: Some("fake".into()),
    })
    .unwrap()
}

#[test]
fn apply_creates_then_updates_with_a_dry_run_first() {
    let fake = KubeFake::start();
    let dir = tempfile::tempdir().unwrap();
    let cluster = connect(&fake, dir.path());
    assert_eq!(
        cluster.get("istio-system", "ratelimit-config").unwrap(),
        None
    );

    let outcome = cluster
        .apply_checked(&configmap("domain: a\n", "1"), false, None)
        .unwrap();
    assert_eq!(outcome.applied.data.unwrap()["config.yaml"], "domain: a\n");
    let requests = fake.requests();
    let methods: Vec<(&str, bool)> = requests
        .iter()
        .map(|r| (r.method.as_str(), r.is_dry_run()))
        .collect();
    assert_eq!(methods, [("GET", false), ("PATCH", true), ("PATCH", false)]);
    for patch in &requests[1..] {
        assert_eq!(
            patch.path,
            "/api/v1/namespaces/istio-system/configmaps/ratelimit-config"
        );
        assert_eq!(patch.query["fieldManager"], "trendmaster");
        assert_eq!(
            patch.content_type.as_deref(),
            Some("application/apply-patch+yaml")
        );
        assert_eq!(patch.authorization.as_deref(), Some("Bearer fake-token"));
    }

    // A second apply that drops a label trendmaster owned removes it, as SSA does.
    let mut next = configmap("domain: b\n", "2");
    next.metadata.labels = None;
    cluster.apply_checked(&next, false, None).unwrap();
    let stored = fake.object("istio-system", "ratelimit-config").unwrap();
    assert_eq!(stored["data"]["config.yaml"], "domain: b\n");
    assert_eq!(stored["metadata"]["labels"], json!({}));
}

#[test]
fn a_field_owned_by_someone_else_is_a_conflict_unless_forced() {
    let fake = KubeFake::start();
    fake.insert(
        serde_json::to_value(configmap("domain: by-hand\n", "0")).unwrap(),
        "kubectl",
    );
    let dir = tempfile::tempdir().unwrap();
    let cluster = connect(&fake, dir.path());
    let error = cluster
        .apply_checked(&configmap("domain: ours\n", "1"), false, None)
        .unwrap_err();
    assert!(matches!(error, ClusterError::Conflict { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("conflict with \"kubectl\""), "{message}");
    assert!(message.contains("--force-conflicts"), "{message}");
    // The dry run failed, so the real apply was never sent and nothing changed.
    assert_eq!(
        fake.requests()
            .iter()
            .filter(|r| r.method == "PATCH")
            .count(),
        1
    );
    assert_eq!(
        fake.object("istio-system", "ratelimit-config").unwrap()["data"]["config.yaml"],
        "domain: by-hand\n"
    );
    cluster
        .apply_checked(&configmap("domain: ours\n", "1"), true, None)
        .unwrap();
    assert_eq!(
        fake.object("istio-system", "ratelimit-config").unwrap()["data"]["config.yaml"],
        "domain: ours\n"
    );
    // The object changed since it was read: the apply is refused, whatever --force says.
    let error = cluster
        .apply_checked(&configmap("domain: late\n", "2"), true, Some("1"))
        .unwrap_err()
        .to_string();
    assert!(error.contains("the object has been modified"), "{error}");
    assert!(error.contains("changed since it was read"), "{error}");
}

#[test]
fn a_saved_version_with_server_fields_applies_back_exactly() {
    let fake = KubeFake::start();
    let original = configmap("domain: before\n", "0");
    fake.insert(serde_json::to_value(&original).unwrap(), "kubectl");
    let before = fake.object("istio-system", "ratelimit-config").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cluster = connect(&fake, dir.path());

    let current = cluster
        .get("istio-system", "ratelimit-config")
        .unwrap()
        .unwrap();
    assert!(current.metadata.managed_fields.is_some());
    history::save(&dir.path().join("history"), &current, "20261122_120000").unwrap();
    let mut ours = configmap("domain: after\n", "1");
    ours.metadata
        .labels
        .as_mut()
        .unwrap()
        .insert("app.kubernetes.io/managed-by".into(), "trendmaster".into());
    cluster.apply_checked(&ours, true, None).unwrap();

    let (_, saved) = history::nth(
        &dir.path().join("history"),
        "istio-system",
        "ratelimit-config",
        1,
    )
    .unwrap();
    // resourceVersion is in the saved file; applying it as-is would be a stale precondition.
    assert!(saved.metadata.resource_version.is_some());
    cluster.apply_checked(&saved, true, None).unwrap();
    let after = fake.object("istio-system", "ratelimit-config").unwrap();
    assert_eq!(after["data"], before["data"]);
    assert_eq!(after["metadata"]["labels"], before["metadata"]["labels"]);
    assert_eq!(
        after["metadata"].get("annotations"),
        before["metadata"].get("annotations")
    );
}

#[test]
fn an_unreachable_server_and_a_missing_context_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let (path, port) = kube_fake::unreachable_kubeconfig(dir.path());
    let cluster = Cluster::connect(&ClusterTarget {
        kubeconfig: Some(path.clone()),
        context: None,
    })
    .unwrap();
    let error = cluster.get("istio-system", "ratelimit-config").unwrap_err();
    assert!(
        matches!(error, ClusterError::Unreachable { .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains(&format!("127.0.0.1:{port}")),
        "{error}"
    );

    let error = Cluster::connect(&ClusterTarget {
        kubeconfig: Some(path),
        context: Some("nope".into()),
    })
    .err()
    .expect("an unknown context fails");
    assert!(error.to_string().contains("nope"), "{error}");
}
