//! The run's output files: both ConfigMaps and the EnvoyFilter rendered from the plan (emit),
//! the charts and the reports drawn (report), all written atomically into the output directory;
//! with `--gitops-dir`, the files for the cluster again, without the window, under fixed names.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use chrono::{DateTime, Utc};
use tracing::{debug, info};
use trendmaster_config::ResolvedConfig;
use trendmaster_emit::{
    ChartFiles, Deployed, GenerationInfo, GitopsFiles, GitopsWritten, OutputWriter,
    RenderedConfigMap, RenderedEnvoyFilter, RenderedGlobalEnvoyFilter, RenderedRules, RunFiles,
    Stamp, WatchedLimit, WrittenFiles,
};
use trendmaster_report::{ChartLink, RenderedChart, ReportView, RunSummary};
use trendmaster_types::{
    AnalysisWindow, Plan, PlannedLimit, Profile, RateRecommendation, SeriesKey, SkippedSeries,
};

use crate::error::AppError;
use crate::request::RunRequest;
use crate::result::{Changes, TOOL_VERSION};

/// The plan rendered for the cluster: the ConfigMap of each profile, the global wiring
/// EnvoyFilter and the local rate-limit EnvoyFilter when they are enabled.
pub struct RenderedPlan {
    /// The normal profile's ConfigMap.
    pub normal: RenderedConfigMap,
    /// The degraded (load-shedding) profile's ConfigMap.
    pub degraded: RenderedConfigMap,
    /// The local rate-limit EnvoyFilter of the `--profile` variant, when enabled.
    pub envoyfilter: Option<RenderedEnvoyFilter>,
    /// The EnvoyFilter wiring Envoy to the ratelimit service for the ConfigMap's descriptors,
    /// when enabled (the same for both profiles: only the limits differ).
    pub global_envoyfilter: Option<RenderedGlobalEnvoyFilter>,
    /// Prometheus rules watching the `--profile` variant's limits (`COMMON.ALERTS`), when
    /// enabled.
    pub rules: Option<RenderedRules>,
}

impl RenderedPlan {
    /// The ConfigMap of `profile`.
    pub fn configmap(&self, profile: Profile) -> &RenderedConfigMap {
        match profile {
            Profile::Normal => &self.normal,
            Profile::Degraded => &self.degraded,
        }
    }
}

/// What produced the files, for their headers and annotations.
fn generation_info(config: &ResolvedConfig, window: AnalysisWindow) -> GenerationInfo {
    GenerationInfo {
        tool_version: TOOL_VERSION.to_string(),
        environment: config.environment.name.clone(),
        source: config.source.to_string(),
        window,
        stamp: Stamp::Windowed,
    }
}

/// Renders `plan` against what is deployed: both profiles' ConfigMaps (each checked against the
/// loader's and the API server's rules) and, unless only one series is explained, the
/// EnvoyFilter of the `--profile` variant.
pub fn render(
    config: &ResolvedConfig,
    request: &RunRequest,
    deployed: Option<&Deployed>,
    plan: &Plan,
    window: AnalysisWindow,
) -> Result<RenderedPlan, AppError> {
    render_with(
        config,
        request,
        deployed,
        plan,
        &generation_info(config, window),
    )
}

/// [`render`], with the files' headers and annotations from `info`.
fn render_with(
    config: &ResolvedConfig,
    request: &RunRequest,
    deployed: Option<&Deployed>,
    plan: &Plan,
    info: &GenerationInfo,
) -> Result<RenderedPlan, AppError> {
    let render = |profile| {
        trendmaster_emit::render_planned(
            plan.entries(profile),
            profile,
            deployed,
            request.rollout,
            &config.configmap,
            info,
        )
        .map_err(AppError::from)
    };
    let normal = render(Profile::Normal)?;
    let degraded = render(Profile::Degraded)?;
    let wanted = config.local_ratelimit.enabled || request.local_ratelimit;
    let envoyfilter = (wanted && request.only.is_none())
        .then(|| {
            trendmaster_emit::render_envoyfilter(
                plan.entries(request.profile),
                &config.configmap.partner_descriptor_key,
                &config.local_ratelimit,
                request.rollout,
                info,
            )
            .map_err(AppError::from)
        })
        .transpose()?;
    let global_envoyfilter = (config.global_ratelimit.enabled && request.only.is_none())
        .then(|| {
            trendmaster_emit::render_global_envoyfilter(
                plan.entries(Profile::Normal),
                &config.configmap,
                &config.global_ratelimit,
                info,
            )
            .map_err(AppError::from)
        })
        .transpose()?;
    let rules = (config.alerts.enabled && request.only.is_none())
        .then(|| render_rules(config, plan.entries(request.profile), info))
        .transpose()?;
    Ok(RenderedPlan {
        normal,
        degraded,
        envoyfilter,
        global_envoyfilter,
        rules,
    })
}

/// The Prometheus rules for `entries`, each entry's traffic read by the configured query
/// preset's own query (whatever this run's source was: the rules run in the Prometheus the
/// preset describes).
fn render_rules(
    config: &ResolvedConfig,
    entries: &[PlannedLimit],
    info: &GenerationInfo,
) -> Result<RenderedRules, AppError> {
    let settings = &config.prometheus;
    let preset = settings.presets.get(&settings.preset).ok_or_else(|| {
        AppError::Usage(format!(
            "COMMON.PROMETHEUS_CONFIG.preset: no preset `{}` for the rules (COMMON.ALERTS)",
            settings.preset
        ))
    })?;
    // Validated by the config stage: a positive Prometheus duration.
    let range_secs =
        trendmaster_types::settings::prometheus_duration_minutes(&config.alerts.rate_window)
            .map_or(300, |minutes| (minutes * 60.0).round().max(1.0) as u32);
    let mut apis: Vec<String> = config.apis.clone();
    apis.extend(entries.iter().map(|entry| entry.key.api.clone()));
    apis.sort();
    apis.dedup();
    let template = |e: String| {
        AppError::Usage(format!(
            "COMMON.PROMETHEUS_CONFIG.presets.{}: {e} (rendering the rules, COMMON.ALERTS)",
            settings.preset
        ))
    };
    let limits = entries
        .iter()
        .map(|entry| {
            let watched = trendmaster_fetch::series_promql(
                preset,
                &settings.path_rules,
                &entry.key.partner,
                &entry.key.api,
                &apis,
                range_secs,
            )
            .map_err(template)?;
            Ok(WatchedLimit {
                key: entry.key.clone(),
                requests_per_minute: entry.emitted,
                traffic: watched.requests_per_minute,
                rejected_share: watched.rejected_share,
            })
        })
        .collect::<Result<Vec<_>, AppError>>()?;
    trendmaster_emit::render_rules(&limits, &config.alerts, info).map_err(AppError::from)
}

/// `--gitops-dir`: the plan rendered again without the window ([`Stamp::Stable`]), so that the
/// bytes change only when the limits do, and written under fixed names with a kustomization
/// (see [`trendmaster_emit::gitops`]).
pub fn write_gitops(
    config: &ResolvedConfig,
    request: &RunRequest,
    deployed: Option<&Deployed>,
    plan: &Plan,
    window: AnalysisWindow,
    dir: &Path,
) -> Result<GitopsWritten, AppError> {
    let info = generation_info(config, window).stable();
    let rendered = render_with(config, request, deployed, plan, &info)?;
    let files = GitopsFiles {
        configmap: &rendered.configmap(request.profile).yaml,
        global_envoyfilter: rendered
            .global_envoyfilter
            .as_ref()
            .map(|f| f.yaml.as_str()),
        local_envoyfilter: rendered.envoyfilter.as_ref().map(|f| f.yaml.as_str()),
        prometheus_rule: rendered.rules.as_ref().map(|r| r.prometheus_rule.as_str()),
    };
    let written = trendmaster_emit::write_gitops(dir, &files, &info)?;
    info!(
        dir = %dir.display(),
        written = written.written.join(", "),
        removed = written.removed.join(", "),
        "wrote the GitOps files"
    );
    Ok(written)
}

/// `--diff`: the deployed ratelimit file against the emitted (normal) one.
pub fn diff(config: &ResolvedConfig, deployed: &Deployed, rendered: &RenderedPlan) -> String {
    let emitted = rendered
        .normal
        .configmap
        .data
        .as_ref()
        .and_then(|data| data.get(&config.configmap.data_key))
        .map_or("", String::as_str);
    trendmaster_emit::unified_diff(deployed, emitted)
}

/// What the reports describe.
pub struct ReportInput<'a> {
    /// The analysed window.
    pub window: AnalysisWindow,
    /// Every recommendation, sorted by key.
    pub recommendations: &'a [RateRecommendation],
    /// Every series without one, with its reason.
    pub skipped: &'a [SkippedSeries],
    /// The plan against what is deployed.
    pub changes: &'a Changes,
}

/// Draws the charts and the reports, then writes everything: charts first, the reports, the
/// ConfigMaps and the EnvoyFilter, `latest_configmap.yaml` (the `--profile` variant) last.
pub fn write(
    config: &ResolvedConfig,
    request: &RunRequest,
    rendered: &RenderedPlan,
    input: &ReportInput<'_>,
    now: DateTime<Utc>,
) -> Result<WrittenFiles, AppError> {
    let stamp = stamp(now);
    let charts = if request.charts {
        draw_charts(input.recommendations, &input.changes.plan)?
    } else {
        Vec::new()
    };
    let links: BTreeMap<SeriesKey, ChartLink<'_>> = charts
        .iter()
        .map(|(key, chart)| {
            let link = ChartLink {
                path: trendmaster_emit::plot_path(&stamp, key),
                svg: chart.svg.as_str(),
            };
            (key.clone(), link)
        })
        .collect();
    let source = config.source.to_string();
    let environment_detection = config.environment.to_string();
    let summary = RunSummary {
        tool_version: TOOL_VERSION,
        environment: &config.environment.name,
        environment_detection: &environment_detection,
        source: &source,
        window: input.window,
        mode: config.rate.calculation_mode,
        config_files: config.config_files.clone(),
        generated_at: now,
        recommendations: input.recommendations,
        skipped: input.skipped,
        changes: input.changes.deployed_from.as_deref().map(|deployed_from| {
            trendmaster_report::DeployedComparison {
                deployed_from,
                plan: &input.changes.plan,
                max_change_ratio: input.changes.max_change_ratio,
            }
        }),
        charts: &links,
    };
    let view = ReportView::new(&summary);
    let report = trendmaster_report::markdown::render(&view);
    let html_report = request
        .charts
        .then(|| trendmaster_report::html::render(&view));
    let chart_files: Vec<ChartFiles<'_>> = charts
        .iter()
        .map(|(key, chart)| ChartFiles {
            key,
            svg: &chart.svg,
            png: &chart.png,
        })
        .collect();
    let files = OutputWriter::new(&config.output_dir).write_run(
        &config.environment.name,
        &stamp,
        &RunFiles {
            configmap: &rendered.normal.yaml,
            degraded_configmap: &rendered.degraded.yaml,
            report: &report,
            envoyfilter: rendered.envoyfilter.as_ref().map(|f| f.yaml.as_str()),
            global_envoyfilter: rendered
                .global_envoyfilter
                .as_ref()
                .map(|f| f.yaml.as_str()),
            rules: rendered.rules.as_ref().map(|r| r.rule_file.as_str()),
            prometheus_rule: rendered.rules.as_ref().map(|r| r.prometheus_rule.as_str()),
            html_report: html_report.as_deref(),
            plots: &chart_files,
        },
        request.profile,
    )?;
    info!(
        configmap = %files.configmap.display(),
        report = %files.report.display(),
        limits = input.recommendations.len(),
        skipped = input.skipped.len(),
        "wrote ConfigMap and report"
    );
    Ok(files)
}

/// The stamp in the names of a run's files, its history entries, backtests and log files.
pub fn stamp(now: DateTime<Utc>) -> String {
    now.format("%Y%m%d_%H%M%S").to_string()
}

/// One chart per recommendation, with the emitted and the deployed limit as lines.
fn draw_charts(
    recommendations: &[RateRecommendation],
    plan: &[trendmaster_types::PlannedLimit],
) -> Result<Vec<(SeriesKey, RenderedChart)>, AppError> {
    let started = Instant::now();
    let charts = trendmaster_report::render_series_charts(recommendations, plan)?;
    debug!(
        charts = charts.len(),
        seconds = started.elapsed().as_secs_f64(),
        "drew charts"
    );
    Ok(charts)
}
