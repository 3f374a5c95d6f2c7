//! The reports: what a person reads about a run. Every limit with the numbers it came from and
//! how much to trust it, the plan against the deployed configuration, and a chart per series.
//!
//! This crate owns:
//! - [`ReportView`]: one view of the run, series by series (recommendation, plan entry,
//!   chart), from which both reports are rendered, so that they cannot disagree;
//! - [`markdown`]: the Markdown report; [`html`]: the self-contained HTML report (charts
//!   inline, sortable tables);
//! - [`charts`]: a chart per series and the backtest's bar chart, as SVG and PNG;
//! - [`explain`]: `--explain`'s derivation of one limit; [`changes`]: the change table printed
//!   for people on stderr.
//!
//! It does not compute limits or plans (the calculator and the plan stage do), and it does not
//! write files: emit writes what is rendered here.
//!
//! ```
//! use std::collections::BTreeMap;
//! use trendmaster_report::{ReportView, RunSummary, html, markdown};
//! use trendmaster_types::{AnalysisWindow, CalculationMode};
//!
//! let charts = BTreeMap::new();
//! let summary = RunSummary {
//!     tool_version: "0.1.0",
//!     environment: "testing",
//!     environment_detection: "--env testing",
//!     source: "demo",
//!     window: AnalysisWindow::ending_at("2026-11-15T00:00:00Z".parse().unwrap(), 14, 60),
//!     mode: CalculationMode::Adaptive,
//!     config_files: Vec::new(),
//!     generated_at: "2026-11-15T00:05:00Z".parse().unwrap(),
//!     recommendations: &[],
//!     skipped: &[],
//!     changes: None,
//!     charts: &charts,
//! };
//! let view = ReportView::new(&summary);
//! assert!(markdown::render(&view).starts_with("# Rate-limit recommendations for testing"));
//! assert!(html::render(&view).starts_with("<!DOCTYPE html>"));
//! ```
#![warn(missing_docs)]

pub mod changes;
pub mod charts;
mod error;
pub mod explain;
mod format;
pub mod html;
pub mod markdown;
mod view;

pub use changes::render_change_table;
pub use charts::{
    BacktestBar, ChartLimits, RenderedChart, render_backtest_chart, render_chart,
    render_series_charts,
};
pub use error::ReportError;
pub use explain::render_explanation;
pub use view::{ChartLink, DeployedComparison, ReportView, RunSummary, SeriesView};

#[cfg(test)]
pub(crate) mod test_support;
