//! The robust seasonal curve: what each point is judged against when there is no fitted model
//! (forecasting off, or a series too short or too irregular to fit), before `band` turns it
//! into a baseline exactly as it does the forecast's fit.
//!
//! Traffic has a daily shape, so a point is judged against its own hour's usual level, not the
//! whole series': 500 req/min is normal at 21:00 and a spike at 04:00. Medians are used because
//! the anomalies being hunted would drag a mean towards them.

use crate::prime::LocalTime;
use crate::stats::{BucketStats, bucket_stats};

/// The median of each bucket (hour of day × kind of day), drawn as a line through the middle
/// of each hour so that the slope of the evening ramp is not read as minutes above and below a
/// step; NaN at points whose hour has no samples at all.
pub fn median_curve(values: &[f64], times: &[LocalTime], buckets: &[usize]) -> Vec<f64> {
    let medians = bucket_stats(
        values
            .iter()
            .zip(buckets)
            .filter(|(v, _)| !v.is_nan())
            .map(|(v, b)| (*b, *v)),
    );
    times
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
        .collect()
}
