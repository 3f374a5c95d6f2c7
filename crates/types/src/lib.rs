//! Plain data types where trendmaster's pipeline stages meet.
//!
//! The pipeline is config → fetch → analyze → calculate → plan → emit and report. Each stage is
//! its own crate and none of them depends on another stage: they exchange the values defined
//! here.
//!
//! - [`series`]: what is measured — [`SeriesKey`] (partner × API), [`AnalysisWindow`],
//!   [`TrafficSeries`] (requests per minute on a regular grid, gaps as NaN) and [`FetchedSeries`]
//!   with the [`AnomalyKind`]s a source labelled.
//! - [`settings`]: the knobs each stage takes, as deserialised from the configuration file.
//! - [`analysis`]: what the analysis stage learned about one series ([`AnalysisResult`]).
//! - [`recommendation`]: what the calculator recommends and why ([`RateRecommendation`]).
//! - [`plan`]: what governance decided against the deployed limits ([`Plan`], [`PlannedLimit`]).
//! - [`secret`] and [`text`]: a [`Secret`] that never prints, and [`one_line`] for quoting outside
//!   text in messages.
//!
//! This crate owns no behaviour beyond small accessors; it does not read files, talk to networks
//! or compute limits.

#![warn(missing_docs)]

pub mod analysis;
pub mod plan;
pub mod recommendation;
pub mod secret;
pub mod series;
pub mod settings;
#[cfg(feature = "testing")]
pub mod testing;
pub mod text;

pub use analysis::{
    AnalysisMethod, AnalysisResult, AnomalyEvent, DailyPeak, ForecastOutcome, ForecastSummary,
    PointCounts, PrimeTimeWindow, RecurringBursts, Saturation, SeriesChart, SeriesStats, Severity,
    TrendEvidence, hour_runs,
};
pub use plan::{ChangeStatus, Plan, PlannedLimit, Profile, RecommendedLimit};
pub use recommendation::{
    CacheAdjustment, CalculationMode, Confidence, ConfidenceFactor, ConfidenceLevel, FormulaStep,
    RateRecommendation, SkippedSeries, StepKind, TrafficPattern,
};
pub use secret::{Secret, redact_url, url_password};
pub use series::{
    AnalysisWindow, AnomalyKind, FetchedSeries, LabelledAnomaly, LabelledBurst, SeriesKey,
    SourceKind, TrafficSeries,
};
pub use text::one_line;
