//! General statistics: robust summaries (median, MAD, quantiles), means that skip gaps, and the
//! hour-of-day buckets that baselines and residuals are summarised by.
//!
//! Median and MAD rather than mean and standard deviation wherever anomalies may be among the
//! samples: the anomalies being hunted would drag a mean and a standard deviation towards them.

use chrono::{DateTime, Datelike, TimeZone, Timelike, Weekday};

/// MAD × this estimates the standard deviation of normally distributed data.
pub const MAD_TO_SIGMA: f64 = 1.4826;

/// Hour of day × kind of day (weekday, weekend).
pub const BUCKETS: usize = 48;

/// The bucket of a point at local `hour` (0–23) on a weekend day or not.
pub fn bucket_of(hour: u8, weekend: bool) -> usize {
    usize::from(hour) + if weekend { 24 } else { 0 }
}

/// Saturday and Sunday.
pub fn is_weekend(day: Weekday) -> bool {
    matches!(day, Weekday::Sat | Weekday::Sun)
}

/// The bucket of a moment, in the time zone it is expressed in.
pub fn bucket_at<Tz: TimeZone>(local: &DateTime<Tz>) -> usize {
    bucket_of(local.hour() as u8, is_weekend(local.weekday()))
}

/// A day-kind bucket needs this many samples to stand on its own.
const MIN_BUCKET_POINTS: usize = 30;

/// Robust summary of one bucket's samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketStats {
    pub median: f64,
    /// 1.4826 × MAD: the standard deviation, were the samples normal.
    pub sigma: f64,
    /// Mean with samples clipped to the median ± 3 sigma (at least ± 3): unlike the median, it stays near the
    /// mean of skewed counts (at 1 req/min with bursts, the median is 0), and unlike the mean
    /// it is not dragged by the anomalies being hunted.
    pub clipped_mean: f64,
}

/// The statistics of the samples of each bucket. Weekends get their own because many
/// audiences behave differently then; a bucket with too few samples (a short window with no
/// weekend) falls back to its hour across all days; `None` for an hour without samples.
pub fn bucket_stats(samples: impl Iterator<Item = (usize, f64)>) -> Vec<Option<BucketStats>> {
    let mut by_bucket: Vec<Vec<f64>> = vec![Vec::new(); BUCKETS];
    let mut by_hour: Vec<Vec<f64>> = vec![Vec::new(); 24];
    for (bucket, value) in samples {
        by_bucket[bucket].push(value);
        by_hour[bucket % 24].push(value);
    }
    let hour_stats: Vec<Option<BucketStats>> = by_hour.iter_mut().map(|b| summarise(b)).collect();
    by_bucket
        .iter_mut()
        .enumerate()
        .map(|(bucket, values)| {
            if values.len() >= MIN_BUCKET_POINTS {
                summarise(values)
            } else {
                hour_stats[bucket % 24]
            }
        })
        .collect()
}

/// `(median, 1.4826 × MAD)` of `values` (reordered); `None` when empty.
pub fn median_and_sigma(values: &mut [f64]) -> Option<(f64, f64)> {
    let median = median_of(values)?;
    let mut deviations: Vec<f64> = values.iter().map(|v| (v - median).abs()).collect();
    Some((
        median,
        MAD_TO_SIGMA * median_of(&mut deviations).unwrap_or(0.0),
    ))
}

fn summarise(values: &mut [f64]) -> Option<BucketStats> {
    let (median, sigma) = median_and_sigma(values)?;
    // Never clip closer than 3 requests: on sparse counts sigma is 0 or 1 while normal values
    // reach several times the median.
    let reach = (3.0 * sigma).max(3.0);
    let clipped_mean = values
        .iter()
        .map(|v| v.clamp(median - reach, median + reach))
        .sum::<f64>()
        / values.len() as f64;
    Some(BucketStats {
        median,
        sigma,
        clipped_mean,
    })
}

/// Median by selection (O(n)); reorders `values`. `None` when empty.
pub fn median_of(values: &mut [f64]) -> Option<f64> {
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

/// Mean of each run of `factor` points over those present (NaN when all are missing). Means,
/// not maxima: the model describes the typical level, and the band around it (from per-point
/// residuals) describes how far single points stray, maxima included.
pub fn means(values: &[f64], factor: usize) -> Vec<f64> {
    values
        .chunks(factor.max(1))
        .map(|chunk| {
            let (sum, count) = chunk
                .iter()
                .filter(|v| !v.is_nan())
                .fold((0.0, 0usize), |(s, c), v| (s + v, c + 1));
            if count == 0 {
                f64::NAN
            } else {
                sum / count as f64
            }
        })
        .collect()
}

/// Mean of the values that are not NaN (removed anomalies and gaps are NaN in the coarse
/// series); `None` when there are none.
pub fn mean(values: &[f64]) -> Option<f64> {
    let (sum, count) = values
        .iter()
        .filter(|v| !v.is_nan())
        .fold((0.0, 0usize), |(s, c), v| (s + v, c + 1));
    (count > 0).then(|| sum / count as f64)
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
    fn bucket_stats_are_median_and_scaled_mad() {
        let samples = (0..40).map(|i| (bucket_of(5, false), f64::from(i)));
        let stats = bucket_stats(samples);
        let expected = BucketStats {
            median: 19.5,
            sigma: MAD_TO_SIGMA * 10.0,
            clipped_mean: 19.5,
        };
        assert_eq!(stats[5], Some(expected));
        assert_eq!(stats[29], Some(expected), "weekend falls back");
        assert_eq!(stats[6], None);
        // Skewed counts: mostly 0, some 1–3, one burst of 50. The median says 0; the clipped
        // mean stays near the mean without the burst.
        let mut counts = vec![0.0; 30];
        counts.extend([1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 50.0]);
        let n = counts.len() as f64;
        let stats = bucket_stats(counts.into_iter().map(|c| (0, c)))[0].unwrap();
        assert_eq!(stats.median, 0.0);
        assert_eq!(stats.clipped_mean, 17.0 / n, "the burst clipped at 3");
    }

    #[test]
    fn quantiles_by_nearest_rank() {
        assert_eq!(quantile(&mut [5.0, 1.0, 3.0, 2.0, 4.0], 0.8), Some(4.0));
        assert_eq!(quantile(&mut [5.0, 1.0, 3.0, 2.0, 4.0], 1.0), Some(5.0));
        assert_eq!(quantile(&mut [], 0.5), None);
    }

    #[test]
    fn means_skip_gaps() {
        let m = means(&[1.0, 3.0, f64::NAN, f64::NAN, 2.0], 2);
        assert_eq!(m.len(), 3);
        assert_eq!(m[0], 2.0);
        assert!(m[1].is_nan(), "a bucket without samples stays a gap");
        assert_eq!(m[2], 2.0);
        assert_eq!(
            mean(&[1.0, f64::NAN, 3.0]),
            Some(2.0),
            "gaps do not poison a mean"
        );
        assert_eq!(mean(&[f64::NAN]), None);
    }
}
