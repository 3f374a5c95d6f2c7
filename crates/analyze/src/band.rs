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
//!
//! The robust screen's line through hourly medians (`robust`) becomes the seasonal baseline
//! the same way, so that both baselines are corrected and spread alike.

use crate::baseline::Baseline;
use crate::prime::LocalTime;
use crate::robust::median_curve;
use crate::stats::{bucket_stats, median_of, quantile};

/// The fitted model's view of normal, at every point and by bucket.
#[derive(Debug, Clone)]
pub struct Band {
    pub baseline: Baseline,
    /// `(mean residual, residual spread)` per bucket, see [`crate::stats::BucketStats`].
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
    /// statistics from the points `clean` keeps; `buckets[i]` as in [`crate::stats::bucket_of`].
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

/// The seasonal baseline: the line through hourly medians (see [`median_curve`]), then
/// corrected and given a spread from its own residuals, exactly as the forecast's band is.
///
/// The spread is never below Poisson noise (√expected, at least 1), because on sparse series
/// the MAD is often zero and every non-zero minute would look infinitely anomalous; nor below
/// `min_relative_spread` × expected, because this baseline has no trend: growth over the window
/// would look like anomalies on busy series, where Poisson noise is tiny.
pub fn seasonal_baseline(
    values: &[f64],
    times: &[LocalTime],
    buckets: &[usize],
    min_relative_spread: f64,
) -> Baseline {
    let curve = median_curve(values, times, buckets);
    let present: Vec<bool> = values.iter().map(|v| !v.is_nan()).collect();
    Band::new(
        values,
        &present,
        &curve,
        1,
        buckets,
        0.5,
        min_relative_spread,
    )
    .baseline
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
    median_of(&mut ratios).map_or(1.0, |m| (m / CHI2_1_MEDIAN).max(1.0))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::bucket_of;

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

    fn at(hour: u8, minute: u8) -> LocalTime {
        LocalTime {
            date: chrono::NaiveDate::from_ymd_opt(2026, 11, 2).unwrap(),
            hour,
            minute,
        }
    }

    #[test]
    fn points_are_judged_against_their_own_hour_and_day_kind() {
        // Hour 0 sits around 10, hour 1 around 1000 on weekdays and 1400 at weekends; all
        // samples at the middle of the hour, so the line through the medians is the median.
        let mut values = Vec::new();
        let mut times = Vec::new();
        let mut buckets = Vec::new();
        for i in 0..200 {
            let mut push = |value: f64, hour: u8, weekend: bool| {
                values.push(value);
                times.push(at(hour, 30));
                buckets.push(bucket_of(hour, weekend));
            };
            push(10.0 + f64::from(i % 5), 0, false);
            push(1000.0 + f64::from(i % 50), 1, false);
            push(1400.0 + f64::from(i % 3), 1, true);
        }
        let baseline = seasonal_baseline(&values, &times, &buckets, 0.1);
        // The line through minute 30 leans 1/120 of the way to the next hour's median, and the
        // residual correction takes it back to this hour's median.
        assert!((baseline.expected[0] - 12.0).abs() < 1e-9);
        assert!((baseline.expected[1] - 1024.5).abs() < 1.0);
        assert!((baseline.expected[2] - 1401.0).abs() < 1.0);
        // Spreads: hour 0 keeps its Poisson floor; busy hours get the 10 % relative floor,
        // not their small MAD.
        assert!((baseline.spread[0] - baseline.expected[0].sqrt()).abs() < 1e-9);
        assert!((baseline.spread[1] - 0.1 * baseline.expected[1]).abs() < 1e-9);
        assert!((baseline.spread[2] - 0.1 * baseline.expected[2]).abs() < 1e-9);
    }

    #[test]
    fn the_line_through_hourly_medians_follows_a_ramp() {
        // Traffic rising 60 per hour, a little each minute: the baseline follows the ramp, it
        // does not jump at the top of each hour.
        let mut values = Vec::new();
        let mut times = Vec::new();
        for day in 0..3 {
            for minute in 0..1440u32 {
                let _ = day;
                values.push(100.0 + f64::from(minute));
                times.push(at((minute / 60) as u8, (minute % 60) as u8));
            }
        }
        let buckets: Vec<usize> = times.iter().map(|t| bucket_of(t.hour, false)).collect();
        let baseline = seasonal_baseline(&values, &times, &buckets, 0.0);
        for i in [60 * 5 + 1, 60 * 12 + 45, 60 * 20] {
            assert!(
                (baseline.expected[i] - values[i]).abs() < 1.0,
                "minute {i}: {} vs {}",
                baseline.expected[i],
                values[i]
            );
        }
    }
}
