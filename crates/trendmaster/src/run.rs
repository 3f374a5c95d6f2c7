//! The pipeline, top to bottom: fetch → analyze → calculate → emit. Only wiring lives here.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use tracing::{debug, info, warn};
use trendmaster_calculate::Formula;
use trendmaster_config::{EnvironmentInfo, ResolvedConfig};
use trendmaster_emit::{GenerationInfo, OutputWriter, RunSummary, WrittenFiles};
use trendmaster_fetch::{FetchOptions, Source};
use trendmaster_types::{AnalysisWindow, CalculationMode, RateRecommendation, SkippedSeries};

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
    pub recommendations: Vec<RateRecommendation>,
    /// Series with no recommendation (excluded, or too little data), each with its reason.
    /// They are not in the emitted ConfigMap.
    pub skipped: Vec<SkippedSeries>,
    pub files: WrittenFiles,
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

pub fn run(config: &ResolvedConfig, as_of: DateTime<Utc>) -> Result<RunResult, AppError> {
    let window = AnalysisWindow::ending_at(as_of, config.days, config.step_secs);
    let (keys, excluded) = config.series_keys();
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

    let options = FetchOptions {
        demo_seed: config.demo_seed,
        ..FetchOptions::default()
    };
    let source = Source::open(&config.source, &options)?;
    let fetched = source.fetch(&keys, &window)?.series;

    let formula = Formula {
        rate: config.rate.clone(),
        cache: config.cache.clone(),
        confidence: config.confidence.clone(),
        multipliers: config.multipliers.clone(),
    };
    let mut recommendations = Vec::with_capacity(fetched.len());
    let mut skipped = excluded;
    for item in fetched {
        let analysis =
            trendmaster_analyze::analyze(&item.series, &config.prime_time, &config.anomaly);
        match trendmaster_calculate::recommend(analysis, item.cache_hit_ratio, &formula) {
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

    let source = config.source.to_string();
    let rendered = trendmaster_emit::render_configmap(
        &recommendations,
        &config.configmap,
        &GenerationInfo {
            tool_version: TOOL_VERSION.to_string(),
            environment: config.environment.name.clone(),
            source: source.clone(),
            window,
        },
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
    });
    let stamp = now.format("%Y%m%d_%H%M%S").to_string();
    let files = OutputWriter::new(&config.output_dir).write_run(
        &config.environment.name,
        &stamp,
        &rendered.yaml,
        &report,
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
        recommendations,
        skipped,
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
