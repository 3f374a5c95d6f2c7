//! The forecast's in-sample band: the fitted model as the baseline for anomaly detection, and the
//! same band carried forward as the forecast's upper bound.
//!
//! The model is fitted on a coarser grid (5-minute means by default); its in-sample values are
//! interpolated back to every point of the series. What remains, value − fit, is summarised per
//! hour of day and kind of day: a clipped mean corrects a model that is systematically a little
//! low or high at some hour (smoothing flattens sharp evening peaks), and 1.4826 × MAD is the
//! band's half-width in standard deviations, wider at busy hours than at quiet ones as counting
//! noise is. A count model's variance (over-dispersed Poisson) is the least spread, since the
//! MAD understates how far skewed low counts stray.

use crate::detect::Baseline;
use crate::robust::bucket_stats;

/// The fitted model's view of normal, at every point and by bucket.
#[derive(Debug, Clone)]
pub struct Band {
    pub baseline: Baseline,
    /// `(mean residual, residual spread)` per bucket, see [`crate::robust::BucketStats`].
    by_bucket: Vec<(f64, f64)>,
    /// Variance ÷ mean of the residuals (at least 1, as for Poisson counts).
    dispersion: f64,
    min_relative_spread: f64,
    /// The `level` quantile of standardised residuals: how many spreads above the fit the
    /// upper band sits.
    upper_z: f64,
}

impl Band {
    /// The band of `values` around `in_sample` (one value per `factor` points), with residual
    /// statistics from the points `clean` keeps; `buckets[i]` as in [`crate::robust::bucket_of`].
    pub fn new(
        values: &[f64],
        clean: &[bool],
        in_sample: &[f64],
        factor: usize,
        buckets: &[usize],
        level: f64,
        min_relative_spread: f64,
    ) -> Band {
        let fit: Vec<f64> = (0..values.len())
            .map(|i| interpolate(in_sample, factor, i))
            .collect();
        let by_bucket: Vec<(f64, f64)> = bucket_stats(
            values
                .iter()
                .zip(&fit)
                .zip(clean.iter().zip(buckets))
                .filter(|((v, f), (keep, _))| **keep && !v.is_nan() && !f.is_nan())
                .map(|((v, f), (_, b))| (*b, v - f)),
        )
        .into_iter()
        .map(|stats| stats.map_or((0.0, 0.0), |s| (s.clipped_mean, s.sigma)))
        .collect();
        let expected: Vec<f64> = fit
            .iter()
            .zip(buckets)
            .map(|(f, b)| corrected(*f, by_bucket[*b].0))
            .collect();
        let dispersion = dispersion(values, clean, &fit, &expected);
        let spread: Vec<f64> = expected
            .iter()
            .zip(buckets)
            .map(|(e, b)| spread_at(*e, by_bucket[*b].1, dispersion, min_relative_spread))
            .collect();
        let baseline = Baseline { expected, spread };
        let upper_z = upper_z(values, clean, &baseline, level);
        Band {
            baseline,
            by_bucket,
            dispersion,
            min_relative_spread,
            upper_z,
        }
    }

    /// The band carried forward, point by point: `(expected, upper)` for each forecast value.
    pub fn ahead(&self, ahead: impl Iterator<Item = (f64, usize)>) -> Vec<(f64, f64)> {
        ahead
            .map(|(value, bucket)| {
                let (bias, sigma) = self.by_bucket[bucket];
                let expected = corrected(value, bias);
                let spread = spread_at(expected, sigma, self.dispersion, self.min_relative_spread);
                (expected, expected + self.upper_z * spread)
            })
            .collect()
    }

    /// How many spreads above the expected level the upper band sits.
    pub fn upper_z(&self) -> f64 {
        self.upper_z
    }
}

/// The `level` quantile of the standardised residuals of the points `clean` keeps: how many
/// spreads above `baseline`'s expected level the upper band sits (at least 0).
pub fn upper_z(values: &[f64], clean: &[bool], baseline: &Baseline, level: f64) -> f64 {
    let mut standardised: Vec<f64> = values
        .iter()
        .zip(clean)
        .zip(baseline.expected.iter().zip(&baseline.spread))
        .filter(|((v, keep), _)| **keep && !v.is_nan())
        .map(|((v, _), (e, s))| (v - e) / s)
        .collect();
    quantile(&mut standardised, level).unwrap_or(0.0).max(0.0)
}

/// The fit corrected by its bucket's mean residual, never negative.
fn corrected(fit: f64, bias: f64) -> f64 {
    (fit + bias).max(0.0)
}

/// The bucket's residual spread `sigma`, never below over-dispersed counting noise
/// (√(dispersion × expected), expected taken as at least 1, which also keeps it positive) nor
/// below `min_relative_spread` × expected.
fn spread_at(expected: f64, sigma: f64, dispersion: f64, min_relative_spread: f64) -> f64 {
    let floor = (dispersion * expected.max(1.0))
        .sqrt()
        .max(min_relative_spread * expected);
    sigma.max(floor)
}

/// Variance ÷ mean of the residuals of the kept points, robustly: the median of
/// residual² ÷ expected, divided by 0.455 (the median of a squared standard normal), at least 1
/// as for Poisson counts. A mean would be the count model's textbook estimate, but on bursty
/// real traffic the bursts being hunted would inflate it until they looked normal.
fn dispersion(values: &[f64], clean: &[bool], fit: &[f64], expected: &[f64]) -> f64 {
    let mut ratios: Vec<f64> = values
        .iter()
        .zip(clean)
        .zip(fit.iter().zip(expected))
        .filter(|((v, keep), (f, _))| **keep && !v.is_nan() && !f.is_nan())
        .map(|((v, _), (_, e))| (v - e).powi(2) / e.max(1.0))
        .collect();
    crate::robust::median_of(&mut ratios).map_or(1.0, |m| (m / CHI2_1_MEDIAN).max(1.0))
}

/// Median of the χ² distribution with one degree of freedom.
const CHI2_1_MEDIAN: f64 = 0.454_936;

/// The coarse series at fine point `i`, linear between the centres of the coarse buckets (so
/// that the baseline has no 5-minute steps for a ramp to look anomalous against).
fn interpolate(coarse: &[f64], factor: usize, i: usize) -> f64 {
    let factor = factor.max(1);
    let last = coarse.len().saturating_sub(1);
    let position = (i as f64 - (factor as f64 - 1.0) / 2.0) / factor as f64;
    if coarse.is_empty() {
        return f64::NAN;
    }
    if position <= 0.0 {
        return coarse[0];
    }
    let below = (position.floor() as usize).min(last);
    let above = (below + 1).min(last);
    let t = position - below as f64;
    coarse[below] + (coarse[above] - coarse[below]) * t.min(1.0)
}

/// The `q` quantile (nearest rank) of `values`, reordering them; `None` when empty.
pub fn quantile(values: &mut [f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let rank =
        ((q.clamp(0.0, 1.0) * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1;
    let (_, value, _) = values.select_nth_unstable_by(rank, f64::total_cmp);
    Some(*value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::robust::bucket_of;

    #[test]
    fn interpolation_runs_between_bucket_centres() {
        let coarse = [10.0, 20.0, 40.0];
        // Factor 5: centres at points 2, 7, 12.
        assert_eq!(interpolate(&coarse, 5, 0), 10.0);
        assert_eq!(interpolate(&coarse, 5, 2), 10.0);
        assert_eq!(interpolate(&coarse, 5, 7), 20.0);
        assert!((interpolate(&coarse, 5, 9) - 28.0).abs() < 1e-9);
        assert_eq!(interpolate(&coarse, 5, 14), 40.0);
        assert_eq!(interpolate(&coarse, 1, 1), 20.0);
    }

    #[test]
    fn the_band_corrects_bias_by_hour_and_is_wider_where_traffic_is_noisier() {
        // The "model" says 100 everywhere; hour 1 really runs at 120 with ±30 noise, hour 0 at
        // 100 with ±2.
        let n = 2400;
        let buckets: Vec<usize> = (0..n).map(|i| bucket_of((i % 2) as u8, false)).collect();
        let values: Vec<f64> = (0..n)
            .map(|i| {
                let wiggle = (i / 2 % 3) as f64 - 1.0;
                if i % 2 == 0 {
                    100.0 + 2.0 * wiggle
                } else {
                    120.0 + 30.0 * wiggle
                }
            })
            .collect();
        let band = Band::new(
            &values,
            &vec![true; n],
            &vec![100.0; n],
            1,
            &buckets,
            0.95,
            0.0,
        );
        assert_eq!(band.baseline.expected[0], 100.0);
        assert_eq!(band.baseline.expected[1], 120.0);
        assert_eq!(band.baseline.spread[0], 10.0, "Poisson floor √100");
        assert!((band.baseline.spread[1] - 30.0 * 1.4826).abs() < 1e-9);
        // Forward: a forecast of 100 at hour 1 is lifted to 120 and its upper band is above.
        let [(peak, upper)] = band.ahead([(100.0, bucket_of(1, false))].into_iter())[..] else {
            panic!("one value in, one out");
        };
        assert_eq!(peak, 120.0);
        assert!(
            upper > peak && upper < 120.0 + 2.0 * 30.0 * 1.4826,
            "{upper}"
        );
    }

    #[test]
    fn quantiles_by_nearest_rank() {
        assert_eq!(quantile(&mut [5.0, 1.0, 3.0, 2.0, 4.0], 0.8), Some(4.0));
        assert_eq!(quantile(&mut [5.0, 1.0, 3.0, 2.0, 4.0], 1.0), Some(5.0));
        assert_eq!(quantile(&mut [], 0.5), None);
    }
}
