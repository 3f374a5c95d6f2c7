//! A partner that stops sending altogether (an outage, a migration, a client switched off)
//! leaves a stretch of zeros that says nothing about its demand: those points are treated as
//! missing, not as traffic.
//!
//! Why: the soak (`crates/trendmaster/tests/soak.rs`) kept a partner at zero for three nights,
//! and each night its limit fell (300 → 270 → 250 → 230 req/min): each zero day was a daily
//! peak of 0 in the effective peak's mean, and pulled the growth line down. Its traffic came
//! back the next day to the level it had before. As missing points, the days drop out of the
//! peaks and the trend like a scrape gap does; a partner out for over half the window falls
//! below the minimum-data rule, so its deployed limit is kept rather than cut to the floor.
//!
//! A stretch counts only when it is a whole day or longer of exact zeros, in a series whose
//! other points carry at least [`MIN_DAILY_REQUESTS`] a day on average: a quiet series' zeros
//! are its traffic, a night without requests is not an outage, and a series at zero all window
//! (an API never used) is left as it is.

use trendmaster_types::TrafficSeries;

/// The least average requests a day, outside the zero stretch, for a day of zeros to be an
/// outage rather than quiet traffic: a Poisson day of 100 expected requests has none with
/// probability e⁻¹⁰⁰.
const MIN_DAILY_REQUESTS: f64 = 100.0;

/// `series` with every outage's points set to NaN (missing), or `None` when it has none.
pub(crate) fn masked(series: &TrafficSeries) -> Option<TrafficSeries> {
    let per_day = (86_400 / series.window.step_secs.max(1)) as usize;
    if per_day == 0 {
        return None;
    }
    let runs = zero_runs(&series.values, per_day);
    if runs.is_empty() {
        return None;
    }
    // The average day outside the runs (present points only).
    let mut inside = vec![false; series.values.len()];
    for &(start, end) in &runs {
        inside[start..end].fill(true);
    }
    let (sum, count) = series
        .values
        .iter()
        .zip(&inside)
        .filter(|(v, inside)| !v.is_nan() && !**inside)
        .fold((0.0, 0usize), |(sum, count), (v, _)| (sum + v, count + 1));
    // A series at zero all window has nothing to tell an outage from an unused API by: left
    // as it is (the floor, and governance's limit on cuts of a deployed value, as before).
    let daily = sum / count.max(1) as f64 * per_day as f64;
    if count == 0 || daily < MIN_DAILY_REQUESTS {
        return None;
    }
    let mut values = series.values.clone();
    for (start, end) in runs {
        values[start..end].fill(f64::NAN);
    }
    Some(TrafficSeries {
        values,
        ..series.clone()
    })
}

/// `[start, end)` of every run of exact zeros at least `min_len` points long (gaps, NaN, end a
/// run: an outage is what was measured as zero).
fn zero_runs(values: &[f64], min_len: usize) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut start = None;
    for (i, v) in values.iter().chain(std::iter::once(&f64::NAN)).enumerate() {
        match (*v == 0.0, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                if i - s >= min_len {
                    runs.push((s, i));
                }
                start = None;
            }
            _ => {}
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;
    use trendmaster_types::{AnalysisWindow, SeriesKey};

    fn series(values: Vec<f64>) -> TrafficSeries {
        let start = "2026-11-01T00:00:00Z".parse().unwrap();
        TrafficSeries {
            key: SeriesKey::new("1", "/a"),
            window: AnalysisWindow {
                start,
                end: start + chrono::TimeDelta::hours(values.len() as i64),
                step_secs: 3600,
            },
            values,
        }
    }

    #[test]
    fn a_whole_day_of_zeros_in_a_busy_series_is_missing() {
        // Hourly: 2 days at 10 req/h (240 a day), a day and an hour at zero, a day at 10.
        let mut values = vec![10.0; 48];
        values.extend(vec![0.0; 25]);
        values.extend(vec![10.0; 24]);
        let masked = masked(&series(values)).expect("an outage");
        assert!(masked.values[48..73].iter().all(|v| v.is_nan()));
        assert_eq!(masked.values[47], 10.0);
        assert_eq!(masked.values[73], 10.0);
    }

    #[test]
    fn shorter_stretches_and_quiet_series_are_left_alone() {
        // 23 hours of zeros is not a day.
        let mut values = vec![10.0; 48];
        values.extend(vec![0.0; 23]);
        values.extend(vec![10.0; 24]);
        assert!(masked(&series(values)).is_none());
        // A day of zeros where days carry 48 requests: quiet traffic, not an outage.
        let mut values = vec![2.0; 48];
        values.extend(vec![0.0; 24]);
        assert!(masked(&series(values)).is_none());
        // A gap ends a run: 12 zeros, a gap, 12 zeros are two short runs.
        let mut values = vec![10.0; 48];
        values.extend(vec![0.0; 12]);
        values.push(f64::NAN);
        values.extend(vec![0.0; 12]);
        assert!(masked(&series(values)).is_none());
    }

    #[test]
    fn a_window_of_zeros_is_left_as_it_is() {
        assert!(masked(&series(vec![0.0; 72])).is_none());
    }
}
