//! What the calculator recommends for one series, with every step that led there.

use serde::{Deserialize, Serialize};

use crate::analysis::AnalysisResult;
use crate::series::SeriesKey;

/// `adaptive` (the v3 formula) or `fixed` (peak × multiplier × cache × margin).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CalculationMode {
    Fixed,
    Adaptive,
}

impl CalculationMode {
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
    VerySpiky,
    ModeratelySpiky,
    Variable,
    Stable,
}

impl TrafficPattern {
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
    Measured { hit_ratio: f64, factor: f64 },
    /// The configured constant, because no hit ratio was measured.
    Fallback { factor: f64 },
    /// Cache adjustment switched off in configuration (factor 1).
    Disabled,
}

impl CacheAdjustment {
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
    EffectivePeak,
    PeakMultiplier,
    CacheAdjustment,
    TrafficPattern,
    Trend,
    PartnerMultiplier,
    PathMultiplier,
    SafetyMargin,
    Clamp,
    PeakFloor,
    ForecastFloor,
    RoundUp,
}

impl StepKind {
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
            Self::ForecastFloor => "never below forecast",
            Self::RoundUp => "round up",
        }
    }
}

/// One step of the derivation: `input` went in, `output` came out, `explanation` says why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FormulaStep {
    pub step: StepKind,
    pub input: f64,
    /// The multiplier applied, for multiplicative steps.
    pub factor: Option<f64>,
    pub output: f64,
    pub explanation: String,
}

/// `high`, `medium` or `low`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfidenceLevel {
    Low,
    Medium,
    High,
}

impl ConfidenceLevel {
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
    pub score: f64,
    pub weight: f64,
}

/// How much to trust a recommendation: a weighted sum of factors, and its level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Confidence {
    pub score: f64,
    pub level: ConfidenceLevel,
    pub factors: Vec<ConfidenceFactor>,
}

/// The recommended limit for one series, with its full provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RateRecommendation {
    pub key: SeriesKey,
    /// The limit to deploy, requests per minute (`requests_per_unit` with unit `minute`).
    pub requests_per_minute: u64,
    pub mode: CalculationMode,
    /// The peak the limit is built on (requests per minute).
    pub effective_peak: f64,
    pub pattern: TrafficPattern,
    pub cache: CacheAdjustment,
    pub steps: Vec<FormulaStep>,
    pub confidence: Confidence,
    /// The analysis this recommendation was computed from: window, point counts, anomalies,
    /// prime time, daily peaks.
    pub analysis: AnalysisResult,
}

/// A series for which no recommendation was made, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedSeries {
    pub key: SeriesKey,
    pub reason: String,
}
