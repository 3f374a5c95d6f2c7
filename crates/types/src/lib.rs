//! Plain data types where trendmaster's pipeline stages meet.
//!
//! The pipeline is config → fetch → analyze → calculate → emit. Each stage is its own crate and
//! none of them depends on another stage: they exchange the values defined here.
//!
//! - [`series`]: what is measured — [`SeriesKey`] (partner × API), [`AnalysisWindow`],
//!   [`TrafficSeries`] (requests per minute on a regular grid, gaps as NaN) and [`FetchedSeries`].
//! - [`settings`]: the knobs each stage takes, as deserialised from the configuration file.
//! - [`analysis`]: what the analysis stage learned about one series ([`AnalysisResult`]).
//! - [`recommendation`]: what the calculator recommends and why ([`RateRecommendation`]).
//!
//! This crate owns no behaviour beyond small accessors; it does not read files, talk to networks
//! or compute limits.

pub mod analysis;
pub mod recommendation;
pub mod secret;
pub mod series;
pub mod settings;
pub mod text;

pub use analysis::{
    AnalysisMethod, AnalysisResult, AnomalyEvent, AnomalyKind, DailyPeak, ForecastOutcome,
    ForecastSummary, PointCounts, PrimeTimeWindow, SeriesChart, SeriesStats, Severity, hour_runs,
};
pub use recommendation::{
    CacheAdjustment, CalculationMode, Confidence, ConfidenceFactor, ConfidenceLevel, FormulaStep,
    RateRecommendation, SkippedSeries, StepKind, TrafficPattern,
};
pub use secret::{Secret, redact_url, url_password};
pub use series::{
    AnalysisWindow, FetchedSeries, LabelledAnomaly, SeriesKey, SourceKind, TrafficSeries,
};
pub use text::one_line;
