//! The robust seasonal baseline: what each point is judged against when there is no fitted
//! model (forecasting off, or a series too short or too irregular to fit).
//!
//! Traffic has a daily shape, so a point is judged against its own hour's usual level, not the
//! whole series': 500 req/min is normal at 21:00 and a spike at 04:00. Median and MAD are used
//! because the anomalies being hunted would drag a mean and standard deviation towards them.
//! The same per-bucket statistics summarise the forecast's residuals in `band`.

use chrono::{DateTime, Datelike, TimeZone, Timelike, Weekday};

use crate::band::Band;
use crate::detect::Baseline;
use crate::prime::LocalTime;

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

/// The seasonal baseline: the median of each bucket (hour of day × kind of day), drawn as a
/// line through the middle of each hour so that the slope of the evening ramp is not read as
/// minutes above and below a step; then corrected and given a spread from its own residuals,
/// exactly as the forecast's band is (see [`Band`]).
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
    let medians = bucket_stats(
        values
            .iter()
            .zip(buckets)
            .filter(|(v, _)| !v.is_nan())
            .map(|(v, b)| (*b, *v)),
    );
    let curve: Vec<f64> = times
        .iter()
        .zip(buckets)
        .map(|(time, bucket)| {
            let Some(BucketStats { median: own, .. }) = medians[*bucket] else {
                return f64::NAN;
            };
            // Offset from the middle of the hour, in hours (−0.5 … 0.5), and the neighbouring
            // hour on that side (same kind of day).
            let offset = (f64::from(time.minute) + 0.5) / 60.0 - 0.5;
            let day_kind = bucket - bucket % 24;
            let hour = bucket % 24;
            let neighbour = if offset < 0.0 {
                (hour + 23) % 24
            } else {
                (hour + 1) % 24
            };
            medians[day_kind + neighbour]
                .map_or(own, |other| own + (other.median - own) * offset.abs())
        })
        .collect();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_of_odd_and_even_lengths() {
        assert_eq!(median_of(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median_of(&mut [4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median_of(&mut []), None);
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
}
