//! `--backtest`: would these limits have hurt? Limits are computed on a training window (the
//! configured `--days`), then the following `--test-days` are replayed minute by minute through
//! the ratelimit service's fixed windows, for three formulas side by side: the original v1
//! rule, the original v3 as its code ran, and ours.
//!
//! Anomalous minutes of the test window come from the source's ground truth when it has one
//! (the demo simulator labels its injections), else from our detector run on the test window.

use chrono::{DateTime, Timelike, Utc};
use serde::Serialize;
use tracing::info;
use trendmaster_backtest::{ReplayOutcome, replay};
use trendmaster_calculate::originals::{v1_rule, v3_original};
use trendmaster_config::ResolvedConfig;
use trendmaster_types::{AnalysisWindow, AnomalyKind, FetchedSeries, SeriesKey, TrafficSeries};

use crate::error::AppError;
use crate::fleet::analyse_all;
use crate::request::RunRequest;
use crate::select::open_source;

/// The formulas compared, in report order.
pub const VARIANTS: [&str; 3] = ["v1 (max × 1.5 or 2.5)", "v3 original", "trendmaster"];

#[derive(Debug, Serialize)]
pub struct BacktestResult {
    pub train: AnalysisWindow,
    pub test: AnalysisWindow,
    /// `labels` (the source's ground truth) or `detector`.
    pub anomalies_from: &'static str,
    pub variants: Vec<VariantResult>,
    /// `backtest_<stamp>.json`, `.svg` and `.png` in the output directory.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<std::path::PathBuf>,
}

#[derive(Debug, Serialize)]
pub struct VariantResult {
    pub variant: &'static str,
    pub total: ReplayOutcome,
    /// Bot spikes alone (a subset of the anomalous minutes): requests, and those rejected.
    pub spike_requests: f64,
    pub spike_rejected: f64,
    pub series: Vec<SeriesOutcome>,
}

impl VariantResult {
    /// Share of bot-spike requests rejected (0 when there were none).
    pub fn spike_rejected_share(&self) -> f64 {
        if self.spike_requests > 0.0 {
            self.spike_rejected / self.spike_requests
        } else {
            0.0
        }
    }
}

#[derive(Debug, Serialize)]
pub struct SeriesOutcome {
    pub key: SeriesKey,
    #[serde(flatten)]
    pub outcome: ReplayOutcome,
    pub spike_requests: f64,
    pub spike_rejected: f64,
}

pub fn backtest(
    config: &ResolvedConfig,
    request: &RunRequest,
    test_days: u32,
) -> Result<BacktestResult, AppError> {
    let source = open_source(config, request)?;
    let step_secs = match source.native_step_secs() {
        Some(native) if !request.step_given => native,
        _ => config.step_secs,
    };
    let as_of = request.as_of.or(source.data_end()).unwrap_or_else(Utc::now);
    let whole = AnalysisWindow::ending_at(as_of, config.days + test_days, step_secs);
    let split = whole.start + chrono::TimeDelta::days(i64::from(config.days));
    let train = AnalysisWindow {
        end: split,
        ..whole
    };
    let test = AnalysisWindow {
        start: split,
        ..whole
    };
    let (keys, _) = config.series_keys();
    info!(
        series = keys.len(),
        "backtest: limits from {} to {}, replayed from {} to {}",
        train.start,
        train.end,
        test.start,
        test.end
    );
    let report = source.fetch(&keys, &whole)?;
    if let Some(failure) = report.failures.first() {
        return Err(AppError::FetchFailures(format!(
            "{} of {} series could not be fetched; first: {}: {}",
            report.failures.len(),
            keys.len(),
            failure.key,
            failure.reason
        )));
    }
    let cut = train.len();
    let labelled = report
        .series
        .iter()
        .any(|fetched| !fetched.labelled_anomalies.is_empty());

    // Ours: the whole pipeline on the training window.
    let training: Vec<FetchedSeries> = report
        .series
        .iter()
        .map(|fetched| FetchedSeries {
            series: part(&fetched.series, train, 0, cut),
            cache_hit_ratio: fetched.cache_hit_ratio,
            rejected_share: fetched.rejected_share,
            labelled_anomalies: Vec::new(),
            labelled_bursts: Vec::new(),
        })
        .collect();
    let ours = analyse_all(
        config,
        training,
        &crate::fleet::formula(config),
        request.progress,
    );

    let mut variants: Vec<VariantResult> = VARIANTS
        .iter()
        .map(|variant| VariantResult {
            variant,
            total: ReplayOutcome::default(),
            spike_requests: 0.0,
            spike_rejected: 0.0,
            series: Vec::new(),
        })
        .collect();
    // v3 used the fixed prime-time hours: the same mask for every series.
    let prime = fixed_prime_time(config, train);
    for (fetched, ours) in report.series.iter().zip(ours) {
        let Ok(ours) = ours else { continue };
        let series = &fetched.series;
        let training = &series.values[..cut.min(series.values.len())];
        let tested = part(series, test, cut, series.values.len());
        let (anomalous, spikes) = if labelled {
            labelled_minutes(fetched, cut, tested.values.len())
        } else {
            detected(config, &tested)
        };
        let limits = [
            v1_rule(training),
            v3_original(training, &prime, &config.rate),
            Some(ours.requests_per_minute),
        ];
        for (variant, limit) in variants.iter_mut().zip(limits) {
            let Some(limit) = limit else { continue };
            // Replayed once more with only the spikes marked, to count them apart.
            let spike = replay(&tested.values, &spikes, step_secs, limit);
            variant.series.push(SeriesOutcome {
                key: series.key.clone(),
                outcome: replay(&tested.values, &anomalous, step_secs, limit),
                spike_requests: spike.requests_anomalous,
                spike_rejected: spike.rejected_anomalous,
            });
        }
    }
    for variant in &mut variants {
        variant.total = ReplayOutcome::total(variant.series.iter().map(|s| &s.outcome));
        variant.spike_requests = variant.series.iter().map(|s| s.spike_requests).sum();
        variant.spike_rejected = variant.series.iter().map(|s| s.spike_rejected).sum();
    }
    let mut result = BacktestResult {
        train,
        test,
        anomalies_from: if labelled { "labels" } else { "detector" },
        variants,
        files: Vec::new(),
    };
    result.files = write_files(config, &result)?;
    Ok(result)
}

/// The test window's anomalous minutes, and its bot-spike minutes, from the source's labels
/// (`cut`: where the test window starts in the fetched series; `len`: its length).
fn labelled_minutes(fetched: &FetchedSeries, cut: usize, len: usize) -> (Vec<bool>, Vec<bool>) {
    let mut mask = vec![false; len];
    let mut spikes = mask.clone();
    for label in &fetched.labelled_anomalies {
        for index in label.start_index..label.start_index + label.len {
            let Some(i) = index.checked_sub(cut).filter(|i| *i < mask.len()) else {
                continue;
            };
            mask[i] = true;
            spikes[i] |= label.kind == AnomalyKind::Spike;
        }
    }
    (mask, spikes)
}

/// The result as JSON and as a chart, next to the other outputs.
fn write_files(
    config: &ResolvedConfig,
    result: &BacktestResult,
) -> Result<Vec<std::path::PathBuf>, AppError> {
    let bars: Vec<trendmaster_report::BacktestBar> = result
        .variants
        .iter()
        .map(|v| trendmaster_report::BacktestBar {
            variant: v.variant.to_owned(),
            spike_rejected: v.spike_rejected_share(),
            anomalous_rejected: v.total.anomalous_rejected_share(),
            normal_rejected: v.total.normal_rejected_share(),
        })
        .collect();
    let title = format!(
        "Backtest: limits from {} to {}, replayed {} to {}",
        result.train.start.format("%d %b"),
        result.train.end.format("%d %b"),
        result.test.start.format("%d %b"),
        result.test.end.format("%d %b %Y")
    );
    let chart = trendmaster_report::render_backtest_chart(&title, &bars)?;
    let json = serde_json::to_string_pretty(result)
        .map_err(|e| AppError::Output(format!("cannot render the backtest as JSON: {e}")))?;
    let stamp = crate::files::stamp(Utc::now());
    let base = config.output_dir.join(format!("backtest_{stamp}"));
    let files = [
        (base.with_extension("json"), json.into_bytes()),
        (base.with_extension("svg"), chart.svg.into_bytes()),
        (base.with_extension("png"), chart.png),
    ];
    for (path, bytes) in &files {
        trendmaster_emit::write_atomic(path, bytes)?;
    }
    info!(path = %base.display(), "wrote the backtest as JSON and a chart (.svg, .png)");
    Ok(files.into_iter().map(|(path, _)| path).collect())
}

/// Points `from..to` of `series` as a series over `window`.
fn part(series: &TrafficSeries, window: AnalysisWindow, from: usize, to: usize) -> TrafficSeries {
    TrafficSeries {
        key: series.key.clone(),
        window,
        values: series.values[from.min(series.values.len())..to.min(series.values.len())].to_vec(),
    }
}

/// The points our detector removes from the test window, and those of spike events.
fn detected(config: &ResolvedConfig, tested: &TrafficSeries) -> (Vec<bool>, Vec<bool>) {
    let analysis = trendmaster_analyze::analyze(
        tested,
        &config.prime_time,
        &config.anomaly,
        &config.forecast,
    );
    let mut mask = vec![false; tested.values.len()];
    let mut spikes = mask.clone();
    for event in analysis.anomalies.iter().filter(|e| e.excluded) {
        for i in 0..mask.len() {
            let at = tested.window.timestamp(i);
            if at >= event.start && at < event.end {
                mask[i] = true;
                spikes[i] |= event.kind == AnomalyKind::Spike;
            }
        }
    }
    (mask, spikes)
}

/// Whether each point of `window` is in the configured fixed prime-time hours (v3 threw its
/// detector's result away and used these).
fn fixed_prime_time(config: &ResolvedConfig, window: AnalysisWindow) -> Vec<bool> {
    let (start, end) = (
        config.prime_time.fixed_start_hour,
        config.prime_time.fixed_end_hour,
    );
    (0..window.len())
        .map(|i| {
            let at: DateTime<Utc> = window.timestamp(i);
            let hour = at.with_timezone(&config.prime_time.timezone).hour();
            hour >= start && hour < end
        })
        .collect()
}

/// The comparison as a table for people.
pub fn render_table(result: &BacktestResult) -> String {
    use std::fmt::Write as _;
    let mut out = format!(
        "trained {} → {}, replayed {} → {}; anomalous minutes from {}\n\n",
        result.train.start.format("%Y-%m-%d %H:%M"),
        result.train.end.format("%Y-%m-%d %H:%M"),
        result.test.start.format("%Y-%m-%d %H:%M"),
        result.test.end.format("%Y-%m-%d %H:%M"),
        result.anomalies_from
    );
    let _ = writeln!(
        out,
        "{:<22} {:>6} {:>15} {:>9} {:>13} {:>8} {:>13} {:>8} {:>9}",
        "VARIANT",
        "SERIES",
        "FALSE THROTTLE",
        "MINUTES",
        "ANOMALOUS REJ",
        "SHARE",
        "SPIKE REJ",
        "SHARE",
        "HEADROOM"
    );
    for variant in &result.variants {
        let t = &variant.total;
        let _ = writeln!(
            out,
            "{:<22} {:>6} {:>15.0} {:>9.0} {:>13.0} {:>7.1}% {:>13.0} {:>7.1}% {:>8.2}x",
            variant.variant,
            variant.series.len(),
            t.rejected_normal,
            t.minutes_throttled_normal,
            t.rejected_anomalous,
            100.0 * t.anomalous_rejected_share(),
            variant.spike_rejected,
            100.0 * variant.spike_rejected_share(),
            t.headroom
        );
    }
    out.push_str(
        "\nFALSE THROTTLE: requests rejected in normal minutes (MINUTES: how many such minutes);\n\
         ANOMALOUS REJ: requests rejected in anomalous minutes, SPIKE REJ: in bot-spike minutes;\n\
         HEADROOM: the smallest limit ÷ test-window normal peak of any series.\n",
    );
    out
}
