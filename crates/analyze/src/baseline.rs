//! The seam between the models and detection: what each point is judged against.
//!
//! `band` builds a [`Baseline`] (from the forecast's in-sample fit, or from the line through
//! hourly medians), `detect` judges points against it and `chart` draws it. It lives with
//! neither side, so that neither depends on the other.

use crate::stats::median_of;

/// What each point is judged against.
#[derive(Debug, Clone, PartialEq)]
pub struct Baseline {
    /// Expected value of each point (requests per minute).
    pub expected: Vec<f64>,
    /// Standard deviation of normal deviations from `expected`, per point (always > 0).
    pub spread: Vec<f64>,
}

impl Baseline {
    /// Median spread over the points that have a value: how tight the baseline is overall.
    pub fn typical_spread(&self, values: &[f64]) -> f64 {
        let mut spreads: Vec<f64> = values
            .iter()
            .zip(&self.spread)
            .filter(|(v, _)| !v.is_nan())
            .map(|(_, s)| *s)
            .collect();
        median_of(&mut spreads).unwrap_or(f64::INFINITY)
    }
}
