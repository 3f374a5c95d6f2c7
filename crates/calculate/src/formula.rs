//! What the formula takes besides the analysis: its configured constants.

use trendmaster_types::settings::{
    CacheSettings, ConfidenceSettings, MultiplierSettings, RateCalculationSettings,
};

/// Everything the formula needs besides the analysis.
#[derive(Debug, Clone, PartialEq)]
pub struct Formula {
    /// The formula's constants (`COMMON.RATE_CALCULATION`).
    pub rate: RateCalculationSettings,
    /// The cache factor (`COMMON.CACHE_CONFIG`).
    pub cache: CacheSettings,
    /// How confidence is scored (`COMMON.CONFIDENCE`).
    pub confidence: ConfidenceSettings,
    /// Partner, path and tier multipliers.
    pub multipliers: MultiplierSettings,
}
