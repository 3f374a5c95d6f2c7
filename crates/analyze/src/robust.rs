//! Robust z-scores by hour of day.
//!
//! Traffic has a daily shape, so a point is judged against its own hour's usual level, not the
//! whole series': 500 req/min is normal at 21:00 and a spike at 04:00. Median and MAD are used
//! because the anomalies being hunted would drag a mean and standard deviation towards them.

/// MAD × this estimates the standard deviation of normally distributed data.
const MAD_TO_SIGMA: f64 = 1.4826;

/// Robust z-score of every point against the median and MAD of its local hour (`hours[i]`,
/// 0–23); NaN where the value is missing.
///
/// The spread is never taken below Poisson noise (√median, at least 1): request counts are
/// Poisson-like, and on sparse series the MAD is often zero, which would make every non-zero
/// minute look infinitely anomalous.
pub fn scores_by_hour(values: &[f64], hours: &[u8]) -> Vec<f64> {
    let mut buckets: Vec<Vec<f64>> = vec![Vec::new(); 24];
    for (value, hour) in values.iter().zip(hours) {
        if !value.is_nan() {
            buckets[usize::from(*hour)].push(*value);
        }
    }
    let centre_and_scale: Vec<(f64, f64)> = buckets
        .iter_mut()
        .map(|bucket| {
            let Some(median) = median_of(bucket) else {
                return (0.0, 1.0);
            };
            let mut deviations: Vec<f64> = bucket.iter().map(|v| (v - median).abs()).collect();
            let mad = median_of(&mut deviations).unwrap_or(0.0);
            let poisson = median.max(1.0).sqrt();
            (median, (MAD_TO_SIGMA * mad).max(poisson))
        })
        .collect();
    values
        .iter()
        .zip(hours)
        .map(|(value, hour)| {
            let (median, scale) = centre_and_scale[usize::from(*hour)];
            (value - median) / scale
        })
        .collect()
}

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
        let scores = scores_by_hour(&values, &hours);
        assert!(scores[400] > 100.0, "{}", scores[400]);
        assert!(scores[401].abs() < 2.0, "{}", scores[401]);
    }

    #[test]
    fn missing_values_score_nan_and_do_not_count() {
        let values = [5.0, f64::NAN, 5.0, 5.0];
        let scores = scores_by_hour(&values, &[0, 0, 0, 0]);
        assert!(scores[1].is_nan());
        assert_eq!(scores[0], 0.0);
    }
}
