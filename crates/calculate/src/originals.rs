//! The Python tool's rules, as its code implemented them (`original-v3.md` §§ 3–4), so that a
//! backtest can set ours beside them:
//!
//! - **v1** (2024): `max × 1.5` when `max > 3 × mean`, else `max × 2.5`, on the raw series.
//! - **v3** as shipped: its anomaly filter was never called, so everything runs on the raw
//!   series; effective peak = the 95th percentile of the prime-time values (fixed hours: the
//!   detector's result was thrown away), × 2.5, × 1.2 (the cache factor was always the
//!   fallback), × the traffic-pattern multiplier, × the safety margin; clamped; raised to
//!   1.2 × the peak when below it; rounded to the *nearest* hundred (banker's rounding), which
//!   can land below the computed rate.

use trendmaster_types::SeriesStats;
use trendmaster_types::settings::RateCalculationSettings;

use crate::steps::classify_pattern;

/// v1: `max × 1.5` if `max > 3 × mean`, else `max × 2.5` (requests per minute, rounded up).
/// `None` without data.
pub fn v1_rule(values: &[f64]) -> Option<u64> {
    let stats = stats(values)?;
    let rate = if stats.max > 3.0 * stats.mean {
        stats.max * 1.5
    } else {
        stats.max * 2.5
    };
    Some(rate.ceil() as u64)
}

/// v3 as its code ran: `values` raw, `prime[i]` whether point `i` is in the fixed prime-time
/// hours. `None` without data.
pub fn v3_original(
    values: &[f64],
    prime: &[bool],
    settings: &RateCalculationSettings,
) -> Option<u64> {
    let all = stats(values)?;
    let mut prime_values: Vec<f64> = values
        .iter()
        .zip(prime)
        .filter(|(v, p)| **p && v.is_finite())
        .map(|(v, _)| *v)
        .collect();
    if prime_values.is_empty() {
        prime_values = values.iter().copied().filter(|v| v.is_finite()).collect();
    }
    let peak = percentile(&mut prime_values, 0.95);
    let pattern = classify_pattern(&all, &settings.traffic_pattern);
    let pattern_multiplier = settings.traffic_pattern.multipliers.of(pattern);
    let mut rate = peak * 2.5 * 1.2 * pattern_multiplier * settings.safety_margin;
    rate = rate.clamp(settings.min_rate_limit, settings.max_rate_limit);
    if rate < peak {
        rate = rate.max(1.2 * peak);
    }
    Some((round_half_even(rate / 100.0) * 100.0).max(100.0) as u64)
}

/// Mean, population deviation, CV, max and peak-to-mean of the finite values.
fn stats(values: &[f64]) -> Option<SeriesStats> {
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.is_empty() {
        return None;
    }
    let n = finite.len() as f64;
    let mean = finite.iter().sum::<f64>() / n;
    let std_dev = (finite.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    let max = finite.iter().copied().fold(f64::MIN, f64::max);
    let positive = mean > 0.0;
    Some(SeriesStats {
        mean,
        std_dev,
        cv: if positive { std_dev / mean } else { 0.0 },
        max,
        peak_to_mean: if positive { max / mean } else { 0.0 },
    })
}

/// numpy's default (linear) percentile, `q` in 0..=1.
fn percentile(values: &mut [f64], q: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let rank = q * (values.len() - 1) as f64;
    let (low, high) = (rank.floor() as usize, rank.ceil() as usize);
    values[low] + (values[high] - values[low]) * (rank - low as f64)
}

/// Python's `round`: halves go to the even neighbour.
fn round_half_even(x: f64) -> f64 {
    let rounded = x.round();
    if (x - x.trunc()).abs() == 0.5 && rounded % 2.0 != 0.0 {
        rounded - x.signum()
    } else {
        rounded
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::formula;

    #[test]
    fn v1_uses_the_smaller_multiplier_for_spiky_series() {
        assert_eq!(
            v1_rule(&[10.0, 10.0, 10.0, 100.0]),
            Some(150),
            "100 > 3 × 32.5"
        );
        assert_eq!(
            v1_rule(&[10.0, 20.0, f64::NAN, 30.0]),
            Some(75),
            "30 ≤ 3 × 20"
        );
        assert_eq!(v1_rule(&[f64::NAN]), None);
    }

    #[test]
    fn v3_rounds_to_the_nearest_hundred_even_below_the_computed_rate() {
        let settings = formula().rate;
        // Flat 10 req/min: stable pattern; 10 × 2.5 × 1.2 × stable × margin, clamped to 100.
        let flat = vec![10.0; 100];
        let prime = vec![true; 100];
        assert_eq!(v3_original(&flat, &prime, &settings), Some(100));
        // A rate of 249.x rounds down to 200: the original's bug, kept on purpose.
        let target = 249.0
            / (2.5 * 1.2 * settings.traffic_pattern.multipliers.stable * settings.safety_margin);
        let values = vec![target; 100];
        assert_eq!(v3_original(&values, &prime, &settings), Some(200));
        assert_eq!(round_half_even(2.5), 2.0);
        assert_eq!(round_half_even(3.5), 4.0);
        assert_eq!(percentile(&mut [1.0, 2.0, 3.0, 4.0, 5.0], 0.95), 4.8);
    }
}
