//! The pipeline, top to bottom: fetch → analyze → calculate → emit. Only wiring lives here.

use chrono::{DateTime, NaiveDate, Utc};
use k8s_openapi::api::core::v1::ConfigMap;
use serde::Serialize;
use std::path::PathBuf;
use tracing::{debug, info, warn};
use trendmaster_calculate::Formula;
use trendmaster_cluster::{Cluster, ClusterTarget, history};
use trendmaster_config::{EnvironmentInfo, ResolvedConfig};
use trendmaster_emit::{
    Approvals, ChangeStatus, Deployed, GenerationInfo, OutputWriter, PlannedLimit, Profile,
    Rollout, RunFiles, RunSummary, WrittenFiles,
};
use trendmaster_fetch::{FetchOptions, FetchStats, FileOptions, PrometheusOptions, Source};
use trendmaster_types::{
    AnalysisWindow, CalculationMode, RateRecommendation, SeriesKey, SkippedSeries,
};

use crate::cli::Cli;
use crate::error::AppError;

/// Version stamped into every generated file.
pub const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");

/// What a run produced; printed in full by `--output-format json|yaml`.
#[derive(Debug, Serialize)]
pub struct RunResult {
    pub tool_version: &'static str,
    pub environment: EnvironmentInfo,
    pub source: String,
    pub window: AnalysisWindow,
    pub mode: CalculationMode,
    pub dry_run: bool,
    /// What fetching cost: queries, retries, bytes, missing points.
    pub fetch: FetchStats,
    pub recommendations: Vec<RateRecommendation>,
    /// Series with no recommendation (excluded, or too little data), each with its reason.
    /// They are not in the emitted ConfigMap.
    pub skipped: Vec<SkippedSeries>,
    /// The plan against the deployed configuration (`--current-from`); without one, every
    /// entry is new.
    pub changes: Changes,
    /// What was written; `None` for `--explain`, which writes nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<WrittenFiles>,
    /// Local rate limit (`COMMON.LOCAL_RATELIMIT`): partner → tokens per minute per proxy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_ratelimit: Option<std::collections::BTreeMap<String, u32>>,
    /// `--apply`: what was applied where.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied: Option<Applied>,
}

/// An object applied to the cluster (`--apply`, `--rollback`).
#[derive(Debug, Serialize)]
pub struct Applied {
    pub server: String,
    /// namespace/name
    pub configmap: String,
    /// Which variant was applied.
    pub profile: Profile,
    /// Where the replaced object was saved; `None` when there was none (the apply created it).
    pub saved_previous: Option<PathBuf>,
    /// `--rollback`: the saved version that was re-applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restored_from: Option<PathBuf>,
    /// The object's `resourceVersion` after the apply.
    pub resource_version: Option<String>,
}

/// What the run changes against what is deployed.
#[derive(Debug, Serialize)]
pub struct Changes {
    /// Where the deployed configuration was read from, if it was.
    pub deployed_from: Option<String>,
    pub max_change_ratio: f64,
    pub plan: Vec<PlannedLimit>,
    /// Entries whose emitted limit differs from the deployed one, or that are held.
    pub changed: usize,
    pub held: usize,
    /// `--diff`: the deployed ratelimit file against the emitted one, unified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
}

/// Analyses and calculates every series on a pool of threads (one per core): each series is
/// independent, and decomposition is the expensive part of a run.
///
/// With `progress` (stderr is a terminal), a bar on stderr counts the series done.
pub(crate) fn analyse_all(
    config: &ResolvedConfig,
    fetched: Vec<trendmaster_types::FetchedSeries>,
    formula: &Formula,
    progress: bool,
) -> Vec<Result<RateRecommendation, SkippedSeries>> {
    let bar = progress.then(|| {
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(fetched.len() as u64),
            indicatif::ProgressDrawTarget::stderr(),
        );
        bar.set_message("analysing series");
        bar
    });
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(fetched.len().max(1));
    let queue = std::sync::Mutex::new(fetched.into_iter().enumerate());
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let Some((index, item)) = queue.lock().expect("queue").next() else {
                        break;
                    };
                    let analysis = trendmaster_analyze::analyze(
                        &item.series,
                        &config.prime_time,
                        &config.anomaly,
                        &config.forecast,
                    );
                    let outcome =
                        trendmaster_calculate::recommend(analysis, item.cache_hit_ratio, formula);
                    results.lock().expect("results").push((index, outcome));
                    if let Some(bar) = &bar {
                        bar.inc(1);
                    }
                }
            });
        }
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let mut results = results.into_inner().expect("results");
    results.sort_by_key(|(index, _)| *index);
    results.into_iter().map(|(_, outcome)| outcome).collect()
}

/// `--as-of`: RFC 3339, a date (midnight UTC) or Unix seconds.
pub fn parse_as_of(text: &str) -> Result<DateTime<Utc>, AppError> {
    let text = text.trim();
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&Utc));
    }
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(date
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists")
            .and_utc());
    }
    if let Some(time) = text
        .parse::<i64>()
        .ok()
        .and_then(|s| DateTime::from_timestamp(s, 0))
    {
        return Ok(time);
    }
    Err(AppError::Usage(format!(
        "--as-of: `{text}` is not a time (use RFC 3339 such as 2026-11-15T00:00:00Z, a date such as 2026-11-15, or Unix seconds)"
    )))
}

/// Run parameters that are not configuration: they come from flags of this invocation only.
#[derive(Debug, Clone, Default)]
pub struct RunRequest {
    /// `--as-of`; else the source's end of data (files), else now.
    pub as_of: Option<DateTime<Utc>>,
    /// `--step` was given: it wins over a file's own step.
    pub step_given: bool,
    pub cache_dir: Option<PathBuf>,
    pub offline: bool,
    pub export_data: Option<PathBuf>,
    pub sum_duplicates: bool,
    /// Draw progress on stderr (only when it is a terminal).
    pub progress: bool,
    /// `--current-from`: the deployed ConfigMap or ratelimit file.
    pub current_from: Option<PathBuf>,
    /// `--approve`, as given (`PARTNER:API` or `all`).
    pub approve: Vec<String>,
    /// `--profile`: which variant `latest_configmap.yaml` holds.
    pub profile: Profile,
    /// `--diff`: keep a unified diff against the deployed file in the result.
    pub diff: bool,
    /// `--shadow`: new and changed limits go out in shadow mode.
    pub rollout: Rollout,
    /// `--cluster`, `--apply` or `--rollback`: where the cluster is.
    pub cluster: Option<ClusterTarget>,
    /// `--apply`: apply the emitted ConfigMap.
    pub apply: bool,
    /// `--force-conflicts`.
    pub force_conflicts: bool,
    /// `--confirm-production`.
    pub confirm_production: bool,
    /// `--local-ratelimit`.
    pub local_ratelimit: bool,
    /// Draw charts (not `--no-charts`).
    pub charts: bool,
    /// `--explain`: analyse this series only, and write nothing.
    pub only: Option<SeriesKey>,
}

impl RunRequest {
    pub fn from_cli(cli: &Cli, as_of: Option<DateTime<Utc>>) -> Self {
        use std::io::IsTerminal;
        Self {
            as_of,
            step_given: cli.step.is_some(),
            cache_dir: cli.cache_dir.clone(),
            offline: cli.offline,
            export_data: cli.export_data.clone(),
            sum_duplicates: cli.sum_duplicates,
            progress: std::io::stderr().is_terminal(),
            current_from: cli.current_from.clone(),
            approve: cli.approve.clone(),
            profile: cli.profile.into(),
            diff: cli.diff,
            rollout: if cli.shadow {
                Rollout::Shadow
            } else {
                Rollout::Enforce
            },
            cluster: (cli.cluster || cli.apply || cli.rollback.is_some()).then(|| ClusterTarget {
                kubeconfig: cli.kubeconfig.clone(),
                context: cli.context.clone(),
            }),
            apply: cli.apply,
            force_conflicts: cli.force_conflicts,
            confirm_production: cli.confirm_production,
            local_ratelimit: cli.local_ratelimit,
            charts: !cli.no_charts,
            only: None,
        }
    }
}

/// `--apply` and `--rollback` run only where the environment allows changes.
fn check_may_change(
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
struct DeployedState {
    deployed: Option<Deployed>,
    origin: Option<String>,
    cluster: Option<ClusterState>,
}

/// The deployed state, read from the cluster.
struct ClusterState {
    cluster: Cluster,
    /// The object as read (saved to history before an apply replaces it).
    current: Option<ConfigMap>,
}

/// Reads the deployed configuration (`--current-from`, or the cluster) before anything is
/// fetched, so that a wrong file or an unreachable cluster fails fast.
fn read_deployed(config: &ResolvedConfig, request: &RunRequest) -> Result<DeployedState, AppError> {
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

/// `--approve` values: `all`, or `PARTNER:API` pairs that this run analyses (a typo would
/// otherwise release nothing, silently).
fn parse_approvals(values: &[String], series: &[SeriesKey]) -> Result<Approvals, AppError> {
    if values.is_empty() {
        return Ok(Approvals::None);
    }
    if values.iter().any(|v| v == "all") {
        return Ok(Approvals::All);
    }
    let mut keys = std::collections::BTreeSet::new();
    for value in values {
        let key = value
            .split_once(':')
            .map(|(partner, api)| SeriesKey::new(partner.trim(), api.trim()))
            .filter(|key| series.contains(key))
            .ok_or_else(|| {
                AppError::Usage(format!(
                    "--approve `{value}`: expected `all` or PARTNER:API for a partner and API this run analyses"
                ))
            })?;
        keys.insert(key);
    }
    Ok(Approvals::Some(keys))
}

/// The configured data source, with this run's fetch options.
pub(crate) fn open_source(
    config: &ResolvedConfig,
    request: &RunRequest,
) -> Result<Source, AppError> {
    let options = FetchOptions {
        demo_seed: config.demo_seed,
        prometheus: PrometheusOptions {
            url: config.prometheus_url.clone(),
            token: config.prometheus_token.clone(),
            extra_headers: Vec::new(),
            settings: Some(config.prometheus.clone()),
        },
        file: FileOptions {
            step_secs: request.step_given.then_some(config.step_secs),
            sum_duplicates: request.sum_duplicates,
        },
        cache_dir: request.cache_dir.clone(),
        offline: request.offline,
        progress: request.progress,
    };
    Ok(Source::open(&config.source, &options)?)
}

pub fn run(config: &ResolvedConfig, request: &RunRequest) -> Result<RunResult, AppError> {
    if request.apply {
        check_may_change(config, request, "--apply")?;
    }
    let DeployedState {
        deployed,
        origin: deployed_from,
        cluster,
    } = read_deployed(config, request)?;
    let source = open_source(config, request)?;
    let step_secs = match source.native_step_secs() {
        Some(native) if !request.step_given => native,
        _ => config.step_secs,
    };
    let as_of = request.as_of.or(source.data_end()).unwrap_or_else(Utc::now);
    let window = AnalysisWindow::ending_at(as_of, config.days, step_secs);
    let (keys, excluded) = match &deployed {
        // As the original did in testing and production: analyse what is deployed.
        Some(deployed) if config.discover_from_deployed && !deployed.limits.is_empty() => {
            info!(
                entries = deployed.limits.len(),
                "analysing the {} partner x API entries of {} (DISCOVER_FROM_DEPLOYED)",
                deployed.limits.len(),
                deployed.origin
            );
            config.series_keys_among(deployed.limits.keys().cloned())
        }
        _ => config.series_keys(),
    };
    let keys = match &request.only {
        Some(only) if keys.contains(only) => vec![only.clone()],
        Some(only) => {
            return Err(AppError::Usage(format!(
                "--explain {}:{}: not among the {} partner x API pairs this run analyses (check --partners, --apis and PARTNER_CONFIGS)",
                only.partner,
                only.api,
                keys.len()
            )));
        }
        None => keys,
    };
    let approvals = parse_approvals(&request.approve, &keys)?;
    info!(
        environment = %config.environment.name,
        source = %config.source,
        series = keys.len(),
        start = %window.start,
        end = %window.end,
        "analysing {} series over {} days",
        keys.len(),
        config.days
    );
    for skipped in &excluded {
        debug!(series = %skipped.key, reason = %skipped.reason, "excluded");
    }

    let report = source.fetch(&keys, &window)?;
    let stats = report.stats;
    info!(
        series = stats.series,
        queries = stats.queries,
        retries = stats.retries,
        from_cache = stats.cache_hits,
        bytes = stats.bytes,
        missing_points = stats.missing_points,
        "fetched {} series from {} ({} queries, {} retries, {} from cache, {} bytes, {} missing points)",
        stats.series,
        config.source,
        stats.queries,
        stats.retries,
        stats.cache_hits,
        stats.bytes,
        stats.missing_points
    );
    if !report.failures.is_empty() {
        for failure in &report.failures {
            warn!(series = %failure.key, "{}", failure.reason);
        }
        // Never emit a ConfigMap that silently lacks entries: refuse the whole run.
        return Err(AppError::FetchFailures(format!(
            "{} of {} series could not be fetched, so nothing was written; first: {}: {}",
            report.failures.len(),
            keys.len(),
            report.failures[0].key,
            report.failures[0].reason
        )));
    }
    if let Some(path) = &request.export_data {
        trendmaster_fetch::export::export(path, &report.series)?;
        info!(path = %path.display(), series = report.series.len(), "exported fetched traffic");
    }
    let fetched = report.series;

    let formula = Formula {
        rate: config.rate.clone(),
        cache: config.cache.clone(),
        confidence: config.confidence.clone(),
        multipliers: config.multipliers.clone(),
    };
    let mut recommendations = Vec::with_capacity(fetched.len());
    let mut skipped = excluded;
    for outcome in analyse_all(config, fetched, &formula, request.progress) {
        match outcome {
            Ok(recommendation) => {
                debug!(
                    series = %recommendation.key,
                    limit = recommendation.requests_per_minute,
                    peak = recommendation.effective_peak,
                    "recommended"
                );
                recommendations.push(recommendation);
            }
            Err(skip) => {
                warn!(series = %skip.key, "no recommendation: {}", skip.reason);
                skipped.push(skip);
            }
        }
    }
    recommendations.sort_by(|a, b| a.key.cmp(&b.key));
    skipped.sort_by(|a, b| a.key.cmp(&b.key));
    if recommendations.is_empty() {
        return Err(AppError::NothingToEmit(format!(
            "none of the {} series yielded a recommendation; nothing was written",
            keys.len()
        )));
    }

    let recommended = recommendations
        .iter()
        .map(|r| (r.key.clone(), r.requests_per_minute))
        .collect();
    let max_change_ratio = config.governance.max_change_ratio;
    let plan = trendmaster_emit::plan(
        &recommended,
        deployed.as_ref(),
        max_change_ratio,
        &approvals,
    );
    let mut changes = Changes {
        deployed_from,
        max_change_ratio,
        changed: plan.iter().filter(|p| p.status.is_change()).count(),
        held: plan
            .iter()
            .filter(|p| p.status == ChangeStatus::Held)
            .count(),
        plan,
        diff: None,
    };
    if changes.deployed_from.is_some() {
        info!(
            changed = changes.changed,
            held = changes.held,
            "{} of {} entries change against the deployed configuration, {} held for approval",
            changes.changed,
            changes.plan.len(),
            changes.held
        );
    }

    let source = config.source.to_string();
    let info = GenerationInfo {
        tool_version: TOOL_VERSION.to_string(),
        environment: config.environment.name.clone(),
        source: source.clone(),
        window,
    };
    let rendered = trendmaster_emit::render_planned(
        &changes.plan,
        deployed.as_ref(),
        request.rollout,
        &config.configmap,
        &info,
    )?;
    if request.diff
        && let Some(deployed) = &deployed
    {
        let emitted = rendered
            .configmap
            .data
            .as_ref()
            .and_then(|data| data.get(&config.configmap.data_key))
            .map_or("", String::as_str);
        changes.diff = Some(trendmaster_emit::unified_diff(deployed, emitted));
    }
    // The load-shedding variant: the same object, each tier cut by its degraded factor.
    let degraded_plan = trendmaster_emit::degraded(
        &changes.plan,
        &config.multipliers.tiers,
        config.rate.rounding_step.max(1.0) as u64,
    );
    let mut degraded_settings = config.configmap.clone();
    degraded_settings
        .annotations
        .insert("trendmaster.io/profile".into(), "degraded".into());
    let degraded = trendmaster_emit::render_planned(
        &degraded_plan,
        deployed.as_ref(),
        request.rollout,
        &degraded_settings,
        &info,
    )?;
    let selected_plan = match request.profile {
        Profile::Normal => &changes.plan,
        Profile::Degraded => &degraded_plan,
    };
    let envoyfilter = ((config.local_ratelimit.enabled || request.local_ratelimit)
        && request.only.is_none())
    .then(|| {
        trendmaster_emit::render_envoyfilter(
            selected_plan,
            &config.configmap.partner_descriptor_key,
            &config.local_ratelimit,
            request.rollout,
            &info,
        )
        .map_err(AppError::from)
    })
    .transpose()?;
    // `--explain` (`only`): the numbers are all there; nothing is written or applied.
    let (files, applied) = if request.only.is_some() {
        (None, None)
    } else {
        let now = Utc::now();
        let stamp = now.format("%Y%m%d_%H%M%S").to_string();
        let plots = if request.charts {
            render_charts(&recommendations, &changes.plan)?
        } else {
            Vec::new()
        };
        let plot_paths: std::collections::BTreeMap<SeriesKey, String> = plots
            .iter()
            .map(|(key, _)| (key.clone(), trendmaster_emit::plot_path(&stamp, key)))
            .collect();
        let summary = RunSummary {
            tool_version: TOOL_VERSION,
            environment: &config.environment.name,
            environment_detection: &config.environment.to_string(),
            source: &source,
            window,
            mode: config.rate.calculation_mode,
            config_files: config.config_files.clone(),
            generated_at: now,
            recommendations: &recommendations,
            skipped: &skipped,
            changes: changes.deployed_from.as_deref().map(|deployed_from| {
                trendmaster_emit::Changes {
                    deployed_from,
                    plan: &changes.plan,
                    max_change_ratio,
                }
            }),
            plots: &plot_paths,
        };
        let report = trendmaster_emit::render_markdown_report(&summary);
        let html_report = request.charts.then(|| {
            let svgs = plots
                .iter()
                .map(|(key, chart)| (key.clone(), chart.svg.as_str()))
                .collect();
            trendmaster_emit::render_html_report(&summary, &svgs)
        });
        let files = OutputWriter::new(&config.output_dir).write_run(
            &config.environment.name,
            &stamp,
            &RunFiles {
                configmap: &rendered.yaml,
                degraded_configmap: &degraded.yaml,
                report: &report,
                envoyfilter: envoyfilter.as_ref().map(|filter| filter.yaml.as_str()),
                html_report: html_report.as_deref(),
                plots: &plots,
            },
            request.profile,
        )?;
        info!(
            configmap = %files.configmap.display(),
            report = %files.report.display(),
            limits = recommendations.len(),
            skipped = skipped.len(),
            "wrote ConfigMap and report"
        );

        let applied = match (request.apply, cluster) {
            (true, Some(state)) => {
                let object = match request.profile {
                    Profile::Normal => &rendered.configmap,
                    Profile::Degraded => &degraded.configmap,
                };
                Some(apply(
                    config,
                    request,
                    &state,
                    object,
                    &stamp,
                    request.profile,
                    None,
                )?)
            }
            _ => None,
        };
        (Some(files), applied)
    };

    Ok(RunResult {
        tool_version: TOOL_VERSION,
        environment: config.environment.clone(),
        source,
        window,
        mode: config.rate.calculation_mode,
        dry_run: config.dry_run,
        fetch: stats,
        recommendations,
        skipped,
        changes,
        files,
        local_ratelimit: envoyfilter.map(|filter| filter.budgets),
        applied,
    })
}

/// One chart per recommendation, with the emitted and the deployed limit as lines.
fn render_charts(
    recommendations: &[RateRecommendation],
    plan: &[PlannedLimit],
) -> Result<Vec<(SeriesKey, trendmaster_emit::RenderedChart)>, AppError> {
    let started = std::time::Instant::now();
    let planned: std::collections::BTreeMap<&SeriesKey, &PlannedLimit> =
        plan.iter().map(|p| (&p.key, p)).collect();
    let mut charts = Vec::with_capacity(recommendations.len());
    for rec in recommendations {
        let planned = planned.get(&rec.key);
        let limits = trendmaster_emit::ChartLimits {
            recommended: planned.map_or(rec.requests_per_minute, |p| p.emitted),
            current: planned.and_then(|p| p.current),
        };
        if let Some(chart) = trendmaster_emit::render_chart(rec, limits)? {
            charts.push((rec.key.clone(), chart));
        }
    }
    debug!(
        charts = charts.len(),
        seconds = started.elapsed().as_secs_f64(),
        "drew charts"
    );
    Ok(charts)
}

/// Saves the object about to be replaced, then applies `object` (server dry run first). The
/// apply carries the `resourceVersion` that was read, so the saved copy is exactly what it
/// replaces.
fn apply(
    config: &ResolvedConfig,
    request: &RunRequest,
    state: &ClusterState,
    object: &ConfigMap,
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
    let expected_version = state
        .current
        .as_ref()
        .and_then(|current| current.metadata.resource_version.as_deref());
    let outcome = state
        .cluster
        .apply_checked(object, request.force_conflicts, expected_version)?;
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
    let stamp = Utc::now().format("%Y%m%d_%H%M%S").to_string();
    let profile = match saved
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("trendmaster.io/profile"))
        .map(String::as_str)
    {
        Some("degraded") => Profile::Degraded,
        _ => Profile::Normal,
    };
    info!(path = %path.display(), "rolling back configmap {namespace}/{name} to {}", path.display());
    apply(config, request, &state, &saved, &stamp, profile, Some(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_of_accepts_rfc3339_dates_and_epoch_seconds() {
        let expected: DateTime<Utc> = "2026-11-15T00:00:00Z".parse().unwrap();
        assert_eq!(parse_as_of("2026-11-15T00:00:00Z").unwrap(), expected);
        assert_eq!(parse_as_of("2026-11-15T01:00:00+01:00").unwrap(), expected);
        assert_eq!(parse_as_of("2026-11-15").unwrap(), expected);
        assert_eq!(
            parse_as_of(&expected.timestamp().to_string()).unwrap(),
            expected
        );
        let error = parse_as_of("yesterday").unwrap_err().to_string();
        assert!(error.contains("`yesterday`"), "{error}");
    }
}
