//! The pipeline, top to bottom: fetch → analyze → calculate → emit. Only wiring lives here.

use chrono::{DateTime, NaiveDate, Utc};
use k8s_openapi::api::core::v1::ConfigMap;
use serde::Serialize;
use std::path::PathBuf;
use std::time::Instant;
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
use crate::fleet::{BusyTime, ChartPolicy, FleetOptions};
use crate::shard::Shard;

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
    /// What was written; `None` for `--explain`, which writes nothing, and for `--shard`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<WrittenFiles>,
    /// `--shard`: the shard file for `trendmaster merge`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard_file: Option<PathBuf>,
    /// Local rate limit (`COMMON.LOCAL_RATELIMIT`): partner → tokens per minute per proxy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_ratelimit: Option<std::collections::BTreeMap<String, u32>>,
    /// `--apply`: what was applied where.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied: Option<Applied>,
    /// `--timings`: where the time went.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timings: Option<Timings>,
}

/// `--timings`: wall time of the run and its stages, busy time summed over threads (stages
/// overlap in the stream), peak memory and throughput.
#[derive(Debug, Clone, Serialize)]
pub struct Timings {
    pub wall_seconds: f64,
    /// From the first query until the last series was analysed (fetch and analysis overlap).
    pub fetch_and_analysis_seconds: f64,
    /// Waiting for Prometheus answers, summed over the concurrent queries.
    pub request_seconds: f64,
    /// Parsing Prometheus answers, summed over the concurrent queries.
    pub parse_seconds: f64,
    /// Analysis and calculation, summed over the worker threads.
    #[serde(flatten)]
    pub busy: BusyTime,
    /// Plan, render, charts and write (wall).
    pub output_seconds: f64,
    pub series_per_second: f64,
    /// The process's peak resident set (Linux `VmHWM`); `None` elsewhere.
    pub peak_rss_bytes: Option<u64>,
}

impl Timings {
    fn new(
        started: Instant,
        busy: BusyTime,
        fetch: &FetchStats,
        fetch_and_analysis_seconds: f64,
        output_seconds: f64,
    ) -> Self {
        let wall_seconds = started.elapsed().as_secs_f64();
        let timings = Self {
            wall_seconds,
            fetch_and_analysis_seconds,
            request_seconds: fetch.request_millis as f64 / 1e3,
            parse_seconds: fetch.parse_millis as f64 / 1e3,
            busy,
            output_seconds,
            series_per_second: fetch.series as f64 / wall_seconds.max(1e-9),
            peak_rss_bytes: peak_rss_bytes(),
        };
        info!(
            wall = timings.wall_seconds,
            fetch_and_analysis = timings.fetch_and_analysis_seconds,
            request = timings.request_seconds,
            parse = timings.parse_seconds,
            analysis = timings.busy.analysis_seconds,
            calculation = timings.busy.calculation_seconds,
            output = timings.output_seconds,
            peak_rss = timings.peak_rss_bytes,
            "timings (seconds; request, parse, analysis and calculation summed over threads)"
        );
        timings
    }
}

/// Peak resident set size of this process, from `/proc/self/status`.
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

impl Changes {
    /// No plan: a shard run plans nothing (`merge` does).
    fn none(config: &ResolvedConfig) -> Self {
        Self {
            deployed_from: None,
            max_change_ratio: config.governance.max_change_ratio,
            plan: Vec::new(),
            changed: 0,
            held: 0,
            diff: None,
        }
    }
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
    /// `--shard I/N`: analyse this part of the fleet and write a shard file.
    pub shard: Option<Shard>,
    /// `--timings`: measure the stages and report them in the result.
    pub timings: bool,
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
            shard: cli.shard,
            timings: cli.timings,
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

/// What a run analyses: the deployed state, the source, the window and the series.
struct Selection {
    deployed: Option<Deployed>,
    deployed_from: Option<String>,
    cluster: Option<ClusterState>,
    source: Source,
    window: AnalysisWindow,
    keys: Vec<SeriesKey>,
    excluded: Vec<SkippedSeries>,
    approvals: Approvals,
}

/// What the analysis produced, sorted by key.
pub(crate) struct Analysed {
    pub recommendations: Vec<RateRecommendation>,
    /// Excluded and skipped series, with their reasons.
    pub skipped: Vec<SkippedSeries>,
    pub fetch: FetchStats,
    pub busy: BusyTime,
    /// Wall seconds from the first query until the last series was analysed.
    pub analyse_seconds: f64,
}

pub fn run(config: &ResolvedConfig, request: &RunRequest) -> Result<RunResult, AppError> {
    let started = Instant::now();
    if request.apply {
        check_may_change(config, request, "--apply")?;
    }
    let mut selection = select(config, request)?;
    if let Some(shard) = request.shard {
        // This run's part of the fleet; `merge` puts the parts together.
        let (mine, others): (Vec<SeriesKey>, Vec<SeriesKey>) = std::mem::take(&mut selection.keys)
            .into_iter()
            .partition(|key| shard.owns(&key.partner));
        selection
            .excluded
            .retain(|skip| shard.owns(&skip.key.partner));
        info!(
            shard = %shard,
            series = mine.len(),
            "shard {shard}: {} of {} series",
            mine.len(),
            mine.len() + others.len()
        );
        selection.keys = mine;
        let analysed = analyse(config, request, &selection)?;
        let path =
            crate::shard::write(config, &selection.window, shard, &selection.keys, &analysed)?;
        let timings = request.timings.then(|| {
            Timings::new(
                started,
                analysed.busy,
                &analysed.fetch,
                analysed.analyse_seconds,
                0.0,
            )
        });
        return Ok(RunResult {
            tool_version: TOOL_VERSION,
            environment: config.environment.clone(),
            source: config.source.to_string(),
            window: selection.window,
            mode: config.rate.calculation_mode,
            dry_run: config.dry_run,
            fetch: analysed.fetch,
            recommendations: analysed.recommendations,
            skipped: analysed.skipped,
            changes: Changes::none(config),
            files: None,
            shard_file: Some(path),
            local_ratelimit: None,
            applied: None,
            timings,
        });
    }
    let analysed = analyse(config, request, &selection)?;
    finish(config, request, selection, analysed, started)
}

/// `trendmaster merge`: the shard files of one fleet, put together and emitted as one run.
pub fn merge(
    config: &ResolvedConfig,
    request: &RunRequest,
    files: &[PathBuf],
) -> Result<RunResult, AppError> {
    let started = Instant::now();
    if request.apply {
        check_may_change(config, request, "--apply")?;
    }
    let shards = crate::shard::read_all(config, request, files)?;
    let mut request = request.clone();
    request.as_of = Some(shards.window.end);
    let selection = select(config, &request)?;
    let analysed = shards.into_analysed(
        &selection.keys,
        &selection.window,
        selection.deployed.as_ref().map(|d| &d.limits),
    )?;
    finish(config, &request, selection, analysed, started)
}

/// Reads what is deployed, opens the source and decides the window and the series.
fn select(config: &ResolvedConfig, request: &RunRequest) -> Result<Selection, AppError> {
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
    Ok(Selection {
        deployed,
        deployed_from,
        cluster,
        source,
        window,
        keys,
        excluded,
        approvals,
    })
}

/// Fetches and analyses the selected series as a stream (see [`crate::fleet`]).
fn analyse(
    config: &ResolvedConfig,
    request: &RunRequest,
    selection: &Selection,
) -> Result<Analysed, AppError> {
    let started = Instant::now();
    let formula = Formula {
        rate: config.rate.clone(),
        cache: config.cache.clone(),
        confidence: config.confidence.clone(),
        multipliers: config.multipliers.clone(),
    };
    let options = FleetOptions {
        progress: request.progress,
        charts: ChartPolicy {
            max: if request.charts { config.max_charts } else { 0 },
            deployed: selection.deployed.as_ref().map(|d| &d.limits),
        },
        keep_fetched: request.export_data.is_some(),
    };
    let fleet = crate::fleet::analyse_fleet(
        config,
        &selection.source,
        &selection.keys,
        &selection.window,
        &formula,
        &options,
    )?;
    let stats = fleet.fetch;
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
    if !fleet.failures.is_empty() {
        for failure in &fleet.failures {
            warn!(series = %failure.key, "{}", failure.reason);
        }
        // Never emit a ConfigMap that silently lacks entries: refuse the whole run.
        return Err(AppError::FetchFailures(format!(
            "{} of {} series could not be fetched, so nothing was written; first: {}: {}",
            fleet.failures.len(),
            selection.keys.len(),
            fleet.failures[0].key,
            fleet.failures[0].reason
        )));
    }
    if let Some(path) = &request.export_data {
        let mut kept = fleet.kept;
        kept.sort_by(|a, b| a.series.key.cmp(&b.series.key));
        trendmaster_fetch::export::export(path, &kept)?;
        info!(path = %path.display(), series = kept.len(), "exported fetched traffic");
    }

    let mut recommendations = Vec::with_capacity(fleet.outcomes.len());
    let mut skipped = selection.excluded.clone();
    for outcome in fleet.outcomes {
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
    Ok(Analysed {
        recommendations,
        skipped,
        fetch: stats,
        busy: fleet.busy,
        analyse_seconds: started.elapsed().as_secs_f64(),
    })
}

/// Plans against the deployed state, renders, writes and (with `--apply`) applies.
fn finish(
    config: &ResolvedConfig,
    request: &RunRequest,
    selection: Selection,
    analysed: Analysed,
    started: Instant,
) -> Result<RunResult, AppError> {
    let output_started = Instant::now();
    let Selection {
        deployed,
        deployed_from,
        cluster,
        window,
        keys,
        approvals,
        ..
    } = selection;
    let Analysed {
        recommendations,
        skipped,
        fetch: stats,
        busy,
        analyse_seconds,
    } = analysed;
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
    // `--explain` writes nothing, so it may look at one series of a refused fleet.
    if request.only.is_none() {
        check_mass_cut(&plan, max_change_ratio, config.governance.max_cut_share)?;
    }
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
        shard_file: None,
        local_ratelimit: envoyfilter.map(|filter| filter.budgets),
        applied,
        timings: request.timings.then(|| {
            Timings::new(
                started,
                busy,
                &stats,
                analyse_seconds,
                output_started.elapsed().as_secs_f64(),
            )
        }),
    })
}

/// The mass-cut sanity gate: too many deployed entries cut beyond the governance ratio at once
/// looks like broken data (a partial answer, a unit change), not like a fleet that shrank, so
/// nothing is written. Approved cuts do not count: someone looked at them.
fn check_mass_cut(
    plan: &[PlannedLimit],
    max_change_ratio: f64,
    max_cut_share: f64,
) -> Result<(), AppError> {
    let compared: Vec<(&PlannedLimit, u64, u64)> = plan
        .iter()
        .filter_map(|p| Some((p, p.current?, p.recommended?)))
        .collect();
    let cuts: Vec<&PlannedLimit> = compared
        .iter()
        .filter(|(p, old, new)| {
            p.status != ChangeStatus::Approved && (*new as f64) * max_change_ratio < *old as f64
        })
        .map(|(p, ..)| *p)
        .collect();
    let share = cuts.len() as f64 / compared.len().max(1) as f64;
    if cuts.is_empty() || share <= max_cut_share {
        return Ok(());
    }
    Err(AppError::SanityGate(format!(
        "{} of {} deployed entries ({:.0}%) would be cut by more than {}x at once, above COMMON.GOVERNANCE.max_cut_share ({:.0}%), so nothing was written; first: {} {} -> {} req/min. Broken or partial traffic data looks like this: check the source, then --approve the cuts or raise max_cut_share",
        cuts.len(),
        compared.len(),
        share * 100.0,
        max_change_ratio,
        max_cut_share * 100.0,
        cuts[0].key,
        cuts[0].current.unwrap_or_default(),
        cuts[0].recommended.unwrap_or_default()
    )))
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
