//! The cluster side of a run: what is deployed (from `--current-from` or the cluster), whether
//! this environment may be changed, and applying or rolling back the ConfigMap with its history.

use std::path::PathBuf;

use chrono::Utc;
use k8s_openapi::api::core::v1::ConfigMap;
use tracing::info;
use trendmaster_cluster::{Cluster, ClusterTarget, DryRun, history};
use trendmaster_config::ResolvedConfig;
use trendmaster_emit::Deployed;
use trendmaster_types::Profile;

use crate::error::AppError;
use crate::request::RunRequest;
use crate::result::Applied;

/// `--apply` and `--rollback` run only where the environment allows changes.
pub fn check_may_change(
    config: &ResolvedConfig,
    request: &RunRequest,
    flag: &str,
) -> Result<(), AppError> {
    let name = &config.environment.name;
    if config.dry_run {
        return Err(AppError::Usage(format!(
            "{flag}: environment `{name}` is a dry run (ENVIRONMENTS.{name}.DRY_RUN or DRY_RUN=true), so nothing is applied; set DRY_RUN=false to allow it"
        )));
    }
    if config.protected && !request.confirm_production {
        return Err(AppError::Usage(format!(
            "{flag}: environment `{name}` is PROTECTED (ENVIRONMENTS.{name}.PROTECTED); add --confirm-production to change it"
        )));
    }
    Ok(())
}

/// The cluster of this environment: `--context` wins over `KUBE_CONTEXT`.
fn connect(config: &ResolvedConfig, target: &ClusterTarget) -> Result<Cluster, AppError> {
    let mut target = target.clone();
    if target.context.is_none() && !config.kube_context.is_empty() {
        target.context = Some(config.kube_context.clone());
    }
    Ok(Cluster::connect(&target)?)
}

/// What is deployed, where it was read from, and the cluster connection when there is one.
#[derive(Default)]
pub struct DeployedState {
    /// What is deployed; `None` when nothing was read, or the ConfigMap does not exist.
    pub deployed: Option<Deployed>,
    /// Where it was read from (a path, or the ConfigMap and the cluster).
    pub origin: Option<String>,
    /// The cluster, when the deployed state was read there.
    pub cluster: Option<ClusterState>,
}

/// The deployed state, read from the cluster.
pub struct ClusterState {
    cluster: Cluster,
    /// The object as read (saved to history before an apply replaces it).
    current: Option<ConfigMap>,
}

/// Reads the deployed configuration (`--current-from`, or the cluster) before anything is
/// fetched, so that a wrong file or an unreachable cluster fails fast.
pub fn read_deployed(
    config: &ResolvedConfig,
    request: &RunRequest,
) -> Result<DeployedState, AppError> {
    if let Some(path) = &request.current_from {
        let text = std::fs::read_to_string(path)
            .map_err(|e| AppError::Usage(format!("--current-from {}: {e}", path.display())))?;
        let origin = path.display().to_string();
        let deployed = trendmaster_emit::parse_deployed(&text, &origin, &config.configmap)?;
        return Ok(DeployedState {
            deployed: Some(deployed),
            origin: Some(origin),
            cluster: None,
        });
    }
    let Some(target) = &request.cluster else {
        return Ok(DeployedState::default());
    };
    let cluster = connect(config, target)?;
    let (namespace, name) = (&config.configmap.namespace, &config.configmap.name);
    let current = cluster.get(namespace, name)?;
    let origin = format!("configmap {namespace}/{name} at {}", cluster.server());
    let deployed = match &current {
        Some(configmap) => Some(trendmaster_emit::from_configmap(
            configmap.clone(),
            &origin,
            &config.configmap,
        )?),
        None => {
            info!("{origin} does not exist: every entry is new");
            None
        }
    };
    Ok(DeployedState {
        deployed,
        origin: Some(origin),
        cluster: Some(ClusterState { cluster, current }),
    })
}

/// The server dry run of applying `object` over what was read: run before the run's files are
/// written, so that a conflict or a refusal stops the run with `output/` as it was. The apply
/// carries the `resourceVersion` that was read, so the copy [`apply`] saves is exactly what it
/// replaces.
pub fn dry_run(
    request: &RunRequest,
    state: &ClusterState,
    object: &ConfigMap,
) -> Result<DryRun, AppError> {
    let expected_version = state
        .current
        .as_ref()
        .and_then(|current| current.metadata.resource_version.as_deref());
    Ok(state
        .cluster
        .dry_run(object, request.force_conflicts, expected_version)?)
}

/// Saves the object about to be replaced, then makes the apply that `checked` rehearsed.
pub fn apply(
    config: &ResolvedConfig,
    state: &ClusterState,
    checked: DryRun,
    stamp: &str,
    profile: Profile,
    restored_from: Option<PathBuf>,
) -> Result<Applied, AppError> {
    let history_dir = config.output_dir.join("history");
    let saved_previous = state
        .current
        .as_ref()
        .map(|current| history::save(&history_dir, current, stamp))
        .transpose()?;
    let outcome = state.cluster.apply_dry_run(checked)?;
    let configmap = format!("{}/{}", config.configmap.namespace, config.configmap.name);
    info!(
        configmap = %configmap,
        server = %state.cluster.server(),
        resource_version = outcome.applied.metadata.resource_version.as_deref().unwrap_or(""),
        "applied configmap {configmap} (server dry run passed first)"
    );
    Ok(Applied {
        server: state.cluster.server().to_owned(),
        configmap,
        profile,
        saved_previous,
        restored_from,
        resource_version: outcome.applied.metadata.resource_version,
    })
}

/// `--rollback N`: re-applies the Nth most recent saved version of the ConfigMap, after saving
/// the current one (so that a second rollback undoes the first).
pub fn rollback(
    config: &ResolvedConfig,
    request: &RunRequest,
    n: usize,
) -> Result<Applied, AppError> {
    check_may_change(config, request, "--rollback")?;
    let (namespace, name) = (&config.configmap.namespace, &config.configmap.name);
    let (path, saved) = history::nth(&config.output_dir.join("history"), namespace, name, n)?;
    let target = request.cluster.clone().unwrap_or_default();
    let cluster = connect(config, &target)?;
    let current = cluster.get(namespace, name)?;
    let state = ClusterState { cluster, current };
    let stamp = crate::files::stamp(Utc::now());
    let profile = trendmaster_emit::profile_of(&saved);
    info!(path = %path.display(), "rolling back configmap {namespace}/{name} to {}", path.display());
    let checked = dry_run(request, &state, &saved)?;
    apply(config, &state, checked, &stamp, profile, Some(path))
}
