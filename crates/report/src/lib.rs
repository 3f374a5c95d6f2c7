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
//! # fn demo(summary: trendmaster_report::RunSummary<'_>) {
//! let view = trendmaster_report::ReportView::new(&summary);
//! let markdown = trendmaster_report::markdown::render(&view);
//! let html = trendmaster_report::html::render(&view);
//! assert!(markdown.starts_with("# Rate-limit recommendations for"));
//! assert!(html.starts_with("<!DOCTYPE html>"));
//! # }
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
pub use view::{Changes, ChartLink, ReportView, RunSummary, SeriesView};

#[cfg(test)]
pub(crate) mod test_support;
