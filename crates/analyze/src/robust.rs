//! Robust z-scores by hour of day.
//!
//! Traffic has a daily shape, so a point is judged against its own hour's usual level, not the
//! whole series': 500 req/min is normal at 21:00 and a spike at 04:00. Median and MAD are used
//! because the anomalies being hunted would drag a mean and standard deviation towards them.

/// MAD × this estimates the standard deviation of normally distributed data.
const MAD_TO_SIGMA: f64 = 1.4826;

/// Robust z-score of every point against the median and MAD of its local hour (`hours[i]`,
/// 0–23) on the same kind of day (`weekend[i]`); NaN where the value is missing.
///
/// Weekends get their own baseline because many audiences behave differently then; a bucket
/// with too few samples (a short window with no weekend) falls back to the hour across all days.
///
/// The spread is never taken below Poisson noise (√median, at least 1), because on sparse series
/// the MAD is often zero and every non-zero minute would look infinitely anomalous; nor below
/// `min_relative_spread` × median, because at high volumes Poisson noise is tiny and benign
/// drifts (growth over the window, the shape inside an hour) would look like anomalies.
pub fn scores_by_hour(
    values: &[f64],
    hours: &[u8],
    weekend: &[bool],
    min_relative_spread: f64,
    min_excess: f64,
) -> Vec<f64> {
    let bucket_of = |i: usize| usize::from(hours[i]) + if weekend[i] { 24 } else { 0 };
    let mut by_day_kind: Vec<Vec<f64>> = vec![Vec::new(); 48];
    let mut by_hour: Vec<Vec<f64>> = vec![Vec::new(); 24];
    for (i, value) in values.iter().enumerate() {
        if !value.is_nan() {
            by_day_kind[bucket_of(i)].push(*value);
            by_hour[usize::from(hours[i])].push(*value);
        }
    }
    let hour_baselines: Vec<(f64, f64)> = by_hour
        .iter_mut()
        .map(|bucket| baseline(bucket, min_relative_spread).unwrap_or((0.0, 1.0)))
        .collect();
    let baselines: Vec<(f64, f64)> = by_day_kind
        .iter_mut()
        .enumerate()
        .map(|(bucket, values)| {
            if values.len() >= MIN_BUCKET_POINTS {
                baseline(values, min_relative_spread).unwrap_or((0.0, 1.0))
            } else {
                hour_baselines[bucket % 24]
            }
        })
        .collect();
    values
        .iter()
        .enumerate()
        .map(|(i, value)| {
            let (median, scale) = baselines[bucket_of(i)];
            if (value - median).abs() < min_excess {
                0.0
            } else {
                (value - median) / scale
            }
        })
        .collect()
}

/// `(median, spread)` of one bucket; `None` when it is empty.
fn baseline(bucket: &mut [f64], min_relative_spread: f64) -> Option<(f64, f64)> {
    let median = median_of(bucket)?;
    let mut deviations: Vec<f64> = bucket.iter().map(|v| (v - median).abs()).collect();
    let mad = median_of(&mut deviations).unwrap_or(0.0);
    let floor = median.max(1.0).sqrt().max(min_relative_spread * median);
    Some((median, (MAD_TO_SIGMA * mad).max(floor)))
}

/// A day-kind bucket needs this many samples to stand on its own.
const MIN_BUCKET_POINTS: usize = 30;

/// Median by selection (O(n)); reorders `values`. `None` when empty.
fn median_of(values: &mut [f64]) -> Option<f64> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let mid = n / 2;
    let (lower, upper_mid, _) = values.select_nth_unstable_by(mid, f64::total_cmp);
    let upper_mid = *upper_mid;
    if n % 2 == 1 {
        Some(upper_mid)
    } else {
        let lower_mid = lower.iter().copied().fold(f64::MIN, f64::max);
        Some((lower_mid + upper_mid) / 2.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_of_odd_and_even_lengths() {
        assert_eq!(median_of(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median_of(&mut [4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median_of(&mut []), None);
    }

    #[test]
    fn points_are_scored_against_their_own_hour() {
        // Hour 0 sits around 10, hour 1 around 1000; 1000 at hour 0 is extreme, at hour 1 normal.
        let mut values = Vec::new();
        let mut hours = Vec::new();
        for i in 0..200 {
            values.push(10.0 + f64::from(i % 5));
            hours.push(0);
            values.push(1000.0 + f64::from(i % 50));
            hours.push(1);
        }
        values.push(1000.0);
        hours.push(0);
        values.push(1010.0);
        hours.push(1);
        let weekend = vec![false; values.len()];
        let scores = scores_by_hour(&values, &hours, &weekend, 0.0, 0.0);
        assert!(scores[400] > 100.0, "{}", scores[400]);
        assert!(scores[401].abs() < 2.0, "{}", scores[401]);
    }

    #[test]
    fn weekends_get_their_own_baseline_and_spread_has_a_relative_floor() {
        // Weekday evenings at 1000, weekend evenings at 1400: both normal for their day kind.
        let mut values = Vec::new();
        let mut weekend = Vec::new();
        for i in 0..100 {
            values.push(1000.0 + f64::from(i % 3));
            weekend.push(false);
            values.push(1400.0 + f64::from(i % 3));
            weekend.push(true);
        }
        let hours = vec![21; values.len()];
        let scores = scores_by_hour(&values, &hours, &weekend, 0.1, 0.0);
        assert!(scores.iter().all(|z| z.abs() < 1.0), "{scores:?}");
        // 1150 on a weekday is 15 % up: about 1.5 spreads with a 10 % floor, not hundreds.
        values.push(1150.0);
        weekend.push(false);
        let hours = vec![21; values.len()];
        let scores = scores_by_hour(&values, &hours, &weekend, 0.1, 0.0);
        let last = scores[scores.len() - 1];
        assert!((1.0..2.0).contains(&last), "{last}");
    }

    #[test]
    fn missing_values_score_nan_and_do_not_count() {
        let values = [5.0, f64::NAN, 5.0, 5.0];
        let scores = scores_by_hour(&values, &[0, 0, 0, 0], &[false; 4], 0.0, 0.0);
        assert!(scores[1].is_nan());
        assert_eq!(scores[0], 0.0);
    }
}
