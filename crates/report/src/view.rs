//! One view of a run, series by series, from which both reports are rendered.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use trendmaster_types::{
    AnalysisWindow, CalculationMode, PlannedLimit, RateRecommendation, SeriesKey, SkippedSeries,
};

/// Everything the reports describe about one run.
#[derive(Debug, Clone)]
pub struct RunSummary<'a> {
    /// trendmaster's version.
    pub tool_version: &'a str,
    /// The environment's name.
    pub environment: &'a str,
    /// How the environment was chosen, e.g. `ENV=testing` or `--environment`.
    pub environment_detection: &'a str,
    /// Where the traffic came from (`demo`, `prometheus`, `file:PATH`).
    pub source: &'a str,
    /// The analysed window.
    pub window: AnalysisWindow,
    /// The formula's mode.
    pub mode: CalculationMode,
    /// Configuration files read, in the order they were layered.
    pub config_files: Vec<String>,
    /// When the report was made (the only time in it that is not the window's).
    pub generated_at: DateTime<Utc>,
    /// Every recommendation, in any order.
    pub recommendations: &'a [RateRecommendation],
    /// Series without a recommendation, with their reasons.
    pub skipped: &'a [SkippedSeries],
    /// The plan against the deployed configuration, when one was read.
    pub changes: Option<DeployedComparison<'a>>,
    /// Each drawn series' chart; series without one are left out.
    pub charts: &'a BTreeMap<SeriesKey, ChartLink<'a>>,
}

/// The plan against a deployed configuration, for the reports.
#[derive(Debug, Clone, Copy)]
pub struct DeployedComparison<'a> {
    /// Where the deployed configuration was read from.
    pub deployed_from: &'a str,
    /// Every entry of the plan, deployed ones without a recommendation included.
    pub plan: &'a [PlannedLimit],
    /// Changes beyond this ratio (up or down) are held.
    pub max_change_ratio: f64,
}

/// One series' chart, as the reports show it.
#[derive(Debug, Clone)]
pub struct ChartLink<'a> {
    /// Where the chart's files are, relative to the reports, without extension (the Markdown
    /// report links the PNG).
    pub path: String,
    /// The SVG, inlined in the HTML report.
    pub svg: &'a str,
}

/// What the reports show about one recommended series.
#[derive(Debug, Clone, Copy)]
pub struct SeriesView<'a> {
    /// The recommendation and its analysis.
    pub recommendation: &'a RateRecommendation,
    /// Its plan entry, when a deployed configuration was read.
    pub planned: Option<&'a PlannedLimit>,
    /// Its chart, when one was drawn.
    pub chart: Option<&'a ChartLink<'a>>,
}

/// A run as the reports see it: the run's facts, then each series with its plan entry and chart,
/// in partner × API order whatever the input order.
#[derive(Debug, Clone)]
pub struct ReportView<'a> {
    /// The run's facts.
    pub run: &'a RunSummary<'a>,
    /// Every recommended series, sorted by key.
    pub series: Vec<SeriesView<'a>>,
    /// Every skipped series, sorted by key.
    pub skipped: Vec<&'a SkippedSeries>,
}

impl<'a> ReportView<'a> {
    /// The view of `run`.
    pub fn new(run: &'a RunSummary<'a>) -> Self {
        let planned: BTreeMap<&SeriesKey, &PlannedLimit> = run
            .changes
            .map(|changes| changes.plan.iter().map(|p| (&p.key, p)).collect())
            .unwrap_or_default();
        let mut series: Vec<SeriesView<'a>> = run
            .recommendations
            .iter()
            .map(|recommendation| SeriesView {
                recommendation,
                planned: planned.get(&recommendation.key).copied(),
                chart: run.charts.get(&recommendation.key),
            })
            .collect();
        series.sort_by(|a, b| a.recommendation.key.cmp(&b.recommendation.key));
        let mut skipped: Vec<&SkippedSeries> = run.skipped.iter().collect();
        skipped.sort_by(|a, b| a.key.cmp(&b.key));
        Self {
            run,
            series,
            skipped,
        }
    }

    /// The recommended series of `key`.
    pub fn series_of(&self, key: &SeriesKey) -> Option<&SeriesView<'a>> {
        self.series
            .binary_search_by(|s| s.recommendation.key.cmp(key))
            .ok()
            .map(|i| &self.series[i])
    }
}
