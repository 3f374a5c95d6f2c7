//! One ConfigMap on one cluster: get, and server-side apply (dry run, then for real).

use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use tokio::runtime::Runtime;

use crate::error::ClusterError;

/// The field manager of every apply: `kubectl get cm -o yaml --show-managed-fields` shows which
/// fields trendmaster owns.
pub const FIELD_MANAGER: &str = "trendmaster";

/// A call that does not finish in this time fails rather than hanging a cron job.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Which cluster to talk to.
#[derive(Debug, Clone, Default)]
pub struct ClusterTarget {
    /// `--kubeconfig`; else `KUBECONFIG`, else `~/.kube/config`, else the in-cluster account.
    pub kubeconfig: Option<PathBuf>,
    /// `--context`; else the kubeconfig's current context.
    pub context: Option<String>,
}

/// A connected client and the runtime that drives it.
pub struct Cluster {
    runtime: Runtime,
    client: kube::Client,
    /// The API server's URL, for messages.
    server: String,
}

/// An apply the server accepted in a dry run, to be made for real with
/// [`Cluster::apply_dry_run`].
#[derive(Debug, Clone)]
pub struct DryRun {
    object: ConfigMap,
    force: bool,
    answer: ConfigMap,
}

/// What [`Cluster::apply_checked`] did.
#[derive(Debug, Clone)]
pub struct ApplyOutcome {
    /// The object as the server dry run said it would be.
    pub dry_run: ConfigMap,
    /// The object as stored.
    pub applied: ConfigMap,
}

impl Cluster {
    /// Builds a client from the kubeconfig (or the in-cluster service account) without
    /// contacting the server yet.
    pub fn connect(target: &ClusterTarget) -> Result<Self, ClusterError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ClusterError::Config(format!("cannot start the client runtime: {e}")))?;
        let options = KubeConfigOptions {
            context: target.context.clone(),
            ..KubeConfigOptions::default()
        };
        let config = runtime.block_on(async {
            match &target.kubeconfig {
                Some(path) => {
                    let kubeconfig = Kubeconfig::read_from(path).map_err(|e| {
                        ClusterError::Config(format!("--kubeconfig {}: {e}", path.display()))
                    })?;
                    kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                        .await
                        .map_err(|e| {
                            ClusterError::Config(format!("--kubeconfig {}: {e}", path.display()))
                        })
                }
                // A named context only makes sense in a kubeconfig; never fall back to the
                // in-cluster account when one was asked for.
                None if target.context.is_some() => kube::Config::from_kubeconfig(&options)
                    .await
                    .map_err(|e| ClusterError::Config(format!("kubeconfig: {e}"))),
                None => kube::Config::infer().await.map_err(|e| {
                    ClusterError::Config(format!(
                        "no kubeconfig (KUBECONFIG, ~/.kube/config) and not running in a pod: {e}"
                    ))
                }),
            }
        })?;
        let mut config = config;
        config.connect_timeout = Some(REQUEST_TIMEOUT);
        config.read_timeout = Some(REQUEST_TIMEOUT);
        config.write_timeout = Some(REQUEST_TIMEOUT);
        let server = config.cluster_url.to_string();
        // The client spawns its request buffer on the runtime, so build it inside.
        let client = runtime.block_on(async { kube::Client::try_from(config) });
        let client = client.map_err(|e| ClusterError::Config(format!("kubernetes client: {e}")))?;
        Ok(Self {
            runtime,
            client,
            server,
        })
    }

    /// The API server's URL.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The ConfigMap, or `None` when it does not exist.
    pub fn get(&self, namespace: &str, name: &str) -> Result<Option<ConfigMap>, ClusterError> {
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), namespace);
        self.runtime
            .block_on(api.get_opt(name))
            .map_err(|e| self.error("reading", namespace, name, e))
    }

    /// Server-side apply as [`FIELD_MANAGER`]: a server dry run first, so that admission and
    /// validation problems surface before anything changes, then the real apply.
    /// `force` takes over fields another manager owns (`--force-conflicts`).
    ///
    /// `expected_version` is the `resourceVersion` the caller read (and saved to history): the
    /// apply is refused with a conflict if the object changed since, so the saved copy is
    /// always the object that was replaced.
    pub fn apply_checked(
        &self,
        configmap: &ConfigMap,
        force: bool,
        expected_version: Option<&str>,
    ) -> Result<ApplyOutcome, ClusterError> {
        let checked = self.dry_run(configmap, force, expected_version)?;
        self.apply_dry_run(checked)
    }

    /// The first half of [`Self::apply_checked`]: the server dry run alone. A run does it
    /// before it writes its files, so that a conflict or a refusal leaves the output directory
    /// as it was (the soak found a conflicting night that had written every file and a history
    /// entry first), then [`Self::apply_dry_run`] once they are written.
    pub fn dry_run(
        &self,
        configmap: &ConfigMap,
        force: bool,
        expected_version: Option<&str>,
    ) -> Result<DryRun, ClusterError> {
        let mut object = applicable(configmap);
        object.metadata.resource_version = expected_version.map(str::to_owned);
        let answer = self.apply(&object, force, true)?;
        Ok(DryRun {
            object,
            force,
            answer,
        })
    }

    /// The second half of [`Self::apply_checked`]: the apply that `checked` rehearsed. Its
    /// `resourceVersion` still guards it: a change since the read is a conflict.
    pub fn apply_dry_run(&self, checked: DryRun) -> Result<ApplyOutcome, ClusterError> {
        let applied = self.apply(&checked.object, checked.force, false)?;
        Ok(ApplyOutcome {
            dry_run: checked.answer,
            applied,
        })
    }

    fn apply(
        &self,
        object: &ConfigMap,
        force: bool,
        dry_run: bool,
    ) -> Result<ConfigMap, ClusterError> {
        let (namespace, name) = identity(object)?;
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), &namespace);
        let mut params = PatchParams::apply(FIELD_MANAGER);
        params.force = force;
        params.dry_run = dry_run;
        let action = if dry_run {
            "applying (server dry run)"
        } else {
            "applying"
        };
        self.runtime
            .block_on(api.patch(&name, &params, &Patch::Apply(object)))
            .map_err(|e| self.error(action, &namespace, &name, e))
    }

    fn error(
        &self,
        action: &'static str,
        namespace: &str,
        name: &str,
        error: kube::Error,
    ) -> ClusterError {
        let object = format!("{namespace}/{name}");
        match error {
            kube::Error::Api(status) if status.is_conflict() && action.starts_with("applying") => {
                let hint = if status.message.starts_with("Apply failed") {
                    "re-run with --force-conflicts to take over those fields"
                } else {
                    "it changed since it was read; nothing was applied, re-run"
                };
                ClusterError::Conflict {
                    object,
                    message: format!("{} ({hint})", status.message),
                }
            }
            kube::Error::Api(status) => ClusterError::Api {
                action,
                object,
                code: status.code,
                reason: status.reason,
                message: status.message,
            },
            kube::Error::HyperError(_) | kube::Error::Service(_) => ClusterError::Unreachable {
                server: self.server.clone(),
                reason: error_chain(&error),
            },
            other => ClusterError::Api {
                action,
                object,
                code: 0,
                reason: "client error".into(),
                message: error_chain(&other),
            },
        }
    }
}

/// The object as an apply configuration: only what we mean to own. Server-set fields
/// (`managedFields`, `resourceVersion`, `uid`, timestamps) are dropped; the API server rejects
/// an apply that carries `managedFields`, and a stale `resourceVersion` would turn a rollback
/// into a conflict.
pub fn applicable(configmap: &ConfigMap) -> ConfigMap {
    let meta = &configmap.metadata;
    ConfigMap {
        metadata: ObjectMeta {
            name: meta.name.clone(),
            namespace: meta.namespace.clone(),
            labels: meta.labels.clone(),
            annotations: meta.annotations.clone(),
            ..ObjectMeta::default()
        },
        data: configmap.data.clone(),
        binary_data: configmap.binary_data.clone(),
        immutable: configmap.immutable,
    }
}

fn identity(configmap: &ConfigMap) -> Result<(String, String), ClusterError> {
    match (&configmap.metadata.namespace, &configmap.metadata.name) {
        (Some(namespace), Some(name)) => Ok((namespace.clone(), name.clone())),
        _ => Err(ClusterError::Config(
            "the ConfigMap to apply has no namespace or name".into(),
        )),
    }
}

/// `error: cause: cause`, because hyper's own message ("client error (Connect)") hides the
/// useful part.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
