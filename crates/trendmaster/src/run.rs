//! The pipeline, top to bottom: fetch → analyze → calculate → emit. Only wiring lives here.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use std::path::PathBuf;
use tracing::{debug, info, warn};
use trendmaster_calculate::Formula;
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
    pub files: WrittenFiles,
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
fn analyse_all(
    config: &ResolvedConfig,
    fetched: Vec<trendmaster_types::FetchedSeries>,
    formula: &Formula,
) -> Vec<Result<RateRecommendation, SkippedSeries>> {
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
                }
            });
        }
    });
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
        }
    }
}

/// Reads `--current-from` before anything is fetched, so that a wrong file fails fast.
fn read_deployed(
    config: &ResolvedConfig,
    request: &RunRequest,
) -> Result<Option<Deployed>, AppError> {
    let Some(path) = &request.current_from else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| AppError::Usage(format!("--current-from {}: {e}", path.display())))?;
    Ok(Some(trendmaster_emit::parse_deployed(
        &text,
        &path.display().to_string(),
        &config.configmap,
    )?))
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

pub fn run(config: &ResolvedConfig, request: &RunRequest) -> Result<RunResult, AppError> {
    let deployed = read_deployed(config, request)?;
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
    let source = Source::open(&config.source, &options)?;
    let step_secs = match source.native_step_secs() {
        Some(native) if !request.step_given => native,
        _ => config.step_secs,
    };
    let as_of = request.as_of.or(source.data_end()).unwrap_or_else(Utc::now);
    let window = AnalysisWindow::ending_at(as_of, config.days, step_secs);
    let (keys, excluded) = config.series_keys();
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
    for outcome in analyse_all(config, fetched, &formula) {
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
        deployed_from: deployed.as_ref().map(|d| d.origin.clone()),
        max_change_ratio,
        changed: plan.iter().filter(|p| p.status.is_change()).count(),
        held: plan
            .iter()
            .filter(|p| p.status == ChangeStatus::Held)
            .count(),
        plan,
        diff: None,
    };
    if deployed.is_some() {
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
    let now = Utc::now();
    let report = trendmaster_emit::render_markdown_report(&RunSummary {
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
        changes: changes
            .deployed_from
            .as_deref()
            .map(|deployed_from| trendmaster_emit::Changes {
                deployed_from,
                plan: &changes.plan,
                max_change_ratio,
            }),
    });
    let stamp = now.format("%Y%m%d_%H%M%S").to_string();
    let files = OutputWriter::new(&config.output_dir).write_run(
        &config.environment.name,
        &stamp,
        &RunFiles {
            configmap: &rendered.yaml,
            degraded_configmap: &degraded.yaml,
            report: &report,
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
    })
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
