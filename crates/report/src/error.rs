//! What can stop a report from being drawn.

use trendmaster_types::SeriesKey;

/// What can stop a report from being drawn. Each message is one line.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The chart of one series could not be drawn.
    #[error("chart of {series}: {reason}")]
    Chart {
        /// The series charted.
        series: SeriesKey,
        /// What plotters or the PNG encoder said.
        reason: String,
    },

    /// The backtest's chart could not be drawn.
    #[error("backtest chart: {reason}")]
    BacktestChart {
        /// What plotters or the PNG encoder said.
        reason: String,
    },
}
