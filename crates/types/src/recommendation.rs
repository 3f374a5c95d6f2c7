//! What the calculator recommends for one series, with every step that led there.

use serde::{Deserialize, Serialize};

use crate::analysis::AnalysisResult;
use crate::series::SeriesKey;

/// `adaptive` (the v3 formula) or `fixed` (peak × multiplier × cache × margin).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CalculationMode {
    /// Peak × multiplier × cache × margin, clamped, floored and rounded.
    Fixed,
    /// The full v3 chain, with traffic pattern, trend and partner and path multipliers.
    Adaptive,
}

impl CalculationMode {
    /// The configuration spelling: `fixed`, `adaptive`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fixed => "fixed",
            Self::Adaptive => "adaptive",
        }
    }
}

/// Traffic shape class, from peak-to-mean ratio and coefficient of variation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrafficPattern {
    /// Peak-to-mean and CV both above the `_high` thresholds.
    VerySpiky,
    /// Peak-to-mean and CV both above the `_medium` thresholds.
    ModeratelySpiky,
    /// Peak-to-mean or CV above the `variable_` thresholds.
    Variable,
    /// None of the above.
    Stable,
}

impl TrafficPattern {
    /// The configuration spelling (`very_spiky`, …), as in `traffic_pattern.multipliers`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VerySpiky => "very_spiky",
            Self::ModeratelySpiky => "moderately_spiky",
            Self::Variable => "variable",
            Self::Stable => "stable",
        }
    }
}

/// Where the cache factor came from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum CacheAdjustment {
    /// `1 + hit_ratio × weight`, from a measured hit ratio.
    Measured {
        /// Measured share of requests served from cache (0..=1).
        hit_ratio: f64,
        /// The factor applied.
        factor: f64,
    },
    /// The configured constant, because no hit ratio was measured.
    Fallback {
        /// The factor applied (`cache_adjustment_factor`).
        factor: f64,
    },
    /// Cache adjustment switched off in configuration (factor 1).
    Disabled,
}

impl CacheAdjustment {
    /// The factor the limit was multiplied by (1 when disabled).
    pub fn factor(&self) -> f64 {
        match self {
            Self::Measured { factor, .. } | Self::Fallback { factor } => *factor,
            Self::Disabled => 1.0,
        }
    }
}

/// One step of the formula.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// Mean of the daily prime-time peaks: where the chain starts.
    EffectivePeak,
    /// × `peak_multiplier`.
    PeakMultiplier,
    /// × the cache factor.
    CacheAdjustment,
    /// × the traffic pattern's multiplier.
    TrafficPattern,
    /// × the growth of the daily peaks' robust line when significant (else 1), bounded by
    /// `trend_min` and `trend_max`.
    Trend,
    /// × the partner's multiplier.
    PartnerMultiplier,
    /// × the longest matching path pattern's multiplier.
    PathMultiplier,
    /// × the environment's `safety_margin`.
    SafetyMargin,
    /// Into `[min_rate_limit, max_rate_limit]`.
    Clamp,
    /// Raised to `below_peak_factor` × peak when below the effective peak.
    PeakFloor,
    /// Raised to the recurring bursts' highest minute × `burst_headroom` when below it.
    BurstFloor,
    /// Raised to the forecast's upper band when below it.
    ForecastFloor,
    /// Up to a multiple of `rounding_step`.
    RoundUp,
}

impl StepKind {
    /// How the step is named in reports and explanations.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EffectivePeak => "effective peak",
            Self::PeakMultiplier => "peak multiplier",
            Self::CacheAdjustment => "cache adjustment",
            Self::TrafficPattern => "traffic pattern",
            Self::Trend => "trend",
            Self::PartnerMultiplier => "partner multiplier",
            Self::PathMultiplier => "path multiplier",
            Self::SafetyMargin => "safety margin",
            Self::Clamp => "clamp to bounds",
            Self::PeakFloor => "never below peak",
            Self::BurstFloor => "never below recurring bursts",
            Self::ForecastFloor => "never below forecast",
            Self::RoundUp => "round up",
        }
    }
}

/// One step of the derivation: `input` went in, `output` came out, `explanation` says why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FormulaStep {
    /// Which step.
    pub step: StepKind,
    /// Requests per minute going in.
    pub input: f64,
    /// The multiplier applied, for multiplicative steps.
    pub factor: Option<f64>,
    /// Requests per minute coming out.
    pub output: f64,
    /// Why, in words, for the report.
    pub explanation: String,
}

/// `high`, `medium` or `low`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfidenceLevel {
    /// Score below `CONFIDENCE.medium`.
    Low,
    /// Score at least `CONFIDENCE.medium`.
    Medium,
    /// Score at least `CONFIDENCE.high`.
    High,
}

impl ConfidenceLevel {
    /// The report spelling: `low`, `medium`, `high`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }
}

/// One weighted factor of the confidence score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfidenceFactor {
    /// `data_volume`, `stability`, `method` or `prime_coverage`.
    pub name: String,
    /// The measured quantity the score was read from (points, CV, share…).
    pub measured: f64,
    /// The score (0–1) the factor's table gave `measured`.
    pub score: f64,
    /// The factor's weight in the sum.
    pub weight: f64,
}

/// How much to trust a recommendation: a weighted sum of factors, and its level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Confidence {
    /// Weighted sum of the factors' scores (0–1).
    pub score: f64,
    /// The score's level.
    pub level: ConfidenceLevel,
    /// The factors the score was summed from.
    pub factors: Vec<ConfidenceFactor>,
}

/// The recommended limit for one series, with its full provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RateRecommendation {
    /// The series limited.
    pub key: SeriesKey,
    /// The limit to deploy, requests per minute (`requests_per_unit` with unit `minute`).
    pub requests_per_minute: u64,
    /// The formula that computed it.
    pub mode: CalculationMode,
    /// The peak the limit is built on (requests per minute).
    pub effective_peak: f64,
    /// The traffic's shape class.
    pub pattern: TrafficPattern,
    /// The cache factor and where it came from.
    pub cache: CacheAdjustment,
    /// Every step of the derivation, in order.
    pub steps: Vec<FormulaStep>,
    /// How much to trust the limit.
    pub confidence: Confidence,
    /// The analysis this recommendation was computed from: window, point counts, anomalies,
    /// prime time, daily peaks.
    pub analysis: AnalysisResult,
}

impl RateRecommendation {
    /// What governance is given for this series: the limit, the highest legitimate minute the
    /// analysis kept or the recurring bursts' demand (a deployed limit below it must rise), and whether observed traffic was
    /// censored by the deployed limit.
    pub fn plan_input(&self) -> crate::plan::RecommendedLimit {
        crate::plan::RecommendedLimit {
            limit: self.requests_per_minute,
            floor: self
                .analysis
                .stats
                .max
                .max(
                    self.analysis
                        .recurring_bursts
                        .as_ref()
                        .map_or(0.0, |b| b.demand),
                )
                .max(0.0)
                .ceil() as u64,
            censored: self
                .analysis
                .saturation
                .as_ref()
                .is_some_and(|saturation| saturation.censored),
        }
    }
}

/// A series for which no recommendation was made, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedSeries {
    /// The series without a recommendation.
    pub key: SeriesKey,
    /// Why, for the report.
    pub reason: String,
}
