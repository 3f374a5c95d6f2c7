//! Prime time: the configured daily window, read in the audience's time zone, and each day's
//! clean peak inside it.

use chrono::{Datelike, NaiveDate, Timelike};
use chrono_tz::Tz;
use trendmaster_types::settings::{PrimeTimeMethod, PrimeTimeSettings};
use trendmaster_types::{AnalysisWindow, DailyPeak, PrimeTimeWindow, TrafficSeries, hour_runs};

use crate::stats::{bucket_of, is_weekend};

/// Local date, hour and minute of one grid point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    pub date: NaiveDate,
    pub hour: u8,
    pub minute: u8,
}

impl LocalTime {
    /// Its bucket: hour of day × kind of day (see [`bucket_of`]).
    pub fn bucket(&self) -> usize {
        bucket_of(self.hour, is_weekend(self.date.weekday()))
    }
}

/// The local date and hour of every grid point of `window`.
pub fn local_times(window: &AnalysisWindow, timezone: Tz) -> Vec<LocalTime> {
    (0..window.len())
        .map(|i| {
            let local = window.timestamp(i).with_timezone(&timezone);
            LocalTime {
                date: local.date_naive(),
                hour: local.hour() as u8,
                minute: local.minute() as u8,
            }
        })
        .collect()
}

/// What prime time yielded for one series.
pub struct PrimeSummary {
    pub window: PrimeTimeWindow,
    pub peaks: Vec<DailyPeak>,
    pub days_skipped: usize,
    /// Clean points inside prime time.
    pub prime_used: usize,
}

/// Each day's highest clean value inside prime time, for days where at least
/// `min_day_coverage` of the prime-time grid points carry clean data. Partial days at the
/// window's edges count only if they meet the same coverage.
pub fn daily_peaks(
    series: &TrafficSeries,
    clean: &[bool],
    times: &[LocalTime],
    settings: &PrimeTimeSettings,
) -> PrimeSummary {
    let window = choose_window(series, clean, times, settings);
    let mut mask = [false; 24];
    for hour in &window.hours {
        mask[*hour as usize] = true;
    }
    let in_prime = |hour: u8| mask[usize::from(hour)];
    let points_per_hour = 3600.0 / f64::from(series.window.step_secs);
    let full_day = window.hours.len() as f64 * points_per_hour;

    let mut peaks = Vec::new();
    let mut days_skipped = 0;
    let mut prime_used = 0;
    let mut day: Option<DayAccumulator> = None;
    for (i, time) in times.iter().enumerate() {
        if day.as_ref().is_some_and(|d| d.date != time.date) {
            finish_day(
                day.take(),
                &series.window,
                full_day,
                settings.min_day_coverage,
                &mut peaks,
                &mut days_skipped,
            );
        }
        let current = day.get_or_insert_with(|| DayAccumulator::new(time.date));
        if !in_prime(time.hour) {
            continue;
        }
        current.prime_points += 1;
        if clean[i] {
            prime_used += 1;
            current.used += 1;
            let value = series.values[i];
            if current.peak.is_none_or(|(peak, _)| value > peak) {
                current.peak = Some((value, i));
            }
        }
    }
    finish_day(
        day,
        &series.window,
        full_day,
        settings.min_day_coverage,
        &mut peaks,
        &mut days_skipped,
    );

    PrimeSummary {
        window,
        peaks,
        days_skipped,
        prime_used,
    }
}

/// The detected prime time, or the configured window with the reason detection was not used.
pub fn choose_window(
    series: &TrafficSeries,
    clean: &[bool],
    times: &[LocalTime],
    settings: &PrimeTimeSettings,
) -> PrimeTimeWindow {
    let zone = settings.timezone.name();
    let fixed = |why: &str| {
        PrimeTimeWindow::from_range(
            settings.fixed_start_hour,
            settings.fixed_end_hour,
            zone,
            why,
        )
    };
    match settings.detection_method {
        PrimeTimeMethod::Fixed => fixed("configured"),
        PrimeTimeMethod::Dynamic => match detect(series, clean, times, settings) {
            Ok(hours) => PrimeTimeWindow {
                hours,
                timezone: zone.to_string(),
                source: "detected".into(),
            },
            Err(why) => fixed(&format!("configured fallback: {why}")),
        },
    }
}

/// Hours whose mean is at or above the percentile of the 24 hourly means, that are among the
/// day's top hours on at least `consistency_check` of the days, in runs of at least
/// `min_duration_minutes`.
fn detect(
    series: &TrafficSeries,
    clean: &[bool],
    times: &[LocalTime],
    settings: &PrimeTimeSettings,
) -> Result<Vec<u32>, String> {
    // Per day: sum and count of clean values per hour.
    let mut days: Vec<(NaiveDate, [(f64, usize); 24])> = Vec::new();
    for (i, time) in times.iter().enumerate() {
        if !clean[i] {
            continue;
        }
        if days.last().is_none_or(|(date, _)| *date != time.date) {
            days.push((time.date, [(0.0, 0); 24]));
        }
        let slot = &mut days.last_mut().expect("just pushed").1[usize::from(time.hour)];
        slot.0 += series.values[i];
        slot.1 += 1;
    }
    // Only days with every hour covered judge recurrence; at least two are needed.
    let full_days: Vec<[f64; 24]> = days
        .iter()
        .filter(|(_, hours)| hours.iter().all(|(_, n)| *n > 0))
        .map(|(_, hours)| hours.map(|(sum, n)| sum / n as f64))
        .collect();
    if full_days.len() < 2 {
        return Err(format!("{} complete days, 2 needed", full_days.len()));
    }
    let overall: Vec<f64> = (0..24)
        .map(|h| full_days.iter().map(|d| d[h]).sum::<f64>() / full_days.len() as f64)
        .collect();
    let threshold = percentile(&overall, settings.percentile_threshold);
    if overall
        .iter()
        .all(|m| (m - overall[0]).abs() <= f64::EPSILON * m.abs().max(1.0))
    {
        return Err("traffic is flat over the day".into());
    }
    let mut mask = [false; 24];
    for (hour, flag) in mask.iter_mut().enumerate() {
        if overall[hour] < threshold {
            continue;
        }
        let recurring = full_days
            .iter()
            .filter(|day| day[hour] >= percentile(day.as_slice(), settings.percentile_threshold))
            .count();
        *flag = recurring as f64 >= settings.consistency_check * full_days.len() as f64;
    }
    // Drop runs shorter than the minimum duration.
    let min_hours = settings.min_duration_minutes.div_ceil(60).max(1);
    let mut kept: Vec<u32> = hour_runs(&mask)
        .into_iter()
        .filter(|(_, len)| *len >= min_hours)
        .flat_map(|(start, len)| (start..start + len).map(|h| h % 24))
        .collect();
    if kept.is_empty() {
        return Err("no hour stands out on enough days".into());
    }
    kept.sort_unstable();
    Ok(kept)
}

/// Linear-interpolated percentile `p` (0–100) of `values`.
fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = (p / 100.0).clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (low, high) = (rank.floor() as usize, rank.ceil() as usize);
    sorted[low] + (sorted[high] - sorted[low]) * (rank - low as f64)
}

struct DayAccumulator {
    date: NaiveDate,
    prime_points: usize,
    used: usize,
    /// (value, grid index) of the highest clean prime-time point so far.
    peak: Option<(f64, usize)>,
}

impl DayAccumulator {
    fn new(date: NaiveDate) -> Self {
        Self {
            date,
            prime_points: 0,
            used: 0,
            peak: None,
        }
    }
}

fn finish_day(
    day: Option<DayAccumulator>,
    window: &AnalysisWindow,
    full_day: f64,
    min_coverage: f64,
    peaks: &mut Vec<DailyPeak>,
    days_skipped: &mut usize,
) {
    let Some(day) = day else { return };
    if day.prime_points == 0 {
        return; // the window does not reach this day's prime time at all
    }
    let coverage = (day.used as f64 / full_day).min(1.0);
    match day.peak {
        Some((peak, index)) if coverage >= min_coverage => peaks.push(DailyPeak {
            date: day.date,
            peak,
            at: window.timestamp(index),
            coverage,
        }),
        _ => *days_skipped += 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::*;

    fn peaks_of(series: &TrafficSeries, settings: &PrimeTimeSettings) -> PrimeSummary {
        let times = local_times(&series.window, settings.timezone);
        let clean: Vec<bool> = series.values.iter().map(|v| !v.is_nan()).collect();
        daily_peaks(series, &clean, &times, settings)
    }

    #[test]
    fn each_day_yields_its_prime_time_maximum() {
        let mut series = daily_shape_series(3, 100.0);
        series.values.iter_mut().for_each(|v| *v = 1.0);
        // Day 1: a high value at 18:59 (outside) and the day's prime maximum at 23:59.
        series.values[1440 + 18 * 60 + 59] = 500.0;
        series.values[1440 + 23 * 60 + 59] = 40.0;
        let summary = peaks_of(&series, &prime_settings());
        let peaks: Vec<f64> = summary.peaks.iter().map(|p| p.peak).collect();
        assert_eq!(peaks, [1.0, 40.0, 1.0]);
        assert_eq!(
            summary.peaks[1].at,
            series.window.timestamp(1440 + 23 * 60 + 59)
        );
        assert_eq!(summary.peaks[1].coverage, 1.0);
        assert_eq!(summary.prime_used, 3 * 5 * 60);
    }

    #[test]
    fn prime_hours_follow_the_configured_time_zone() {
        // 19:00–24:00 in Amsterdam (UTC+1 in November) is 18:00–23:00 UTC.
        let mut series = daily_shape_series(2, 100.0);
        series.values.iter_mut().for_each(|v| *v = 1.0);
        series.values[18 * 60 + 30] = 70.0; // 18:30 UTC = 19:30 local
        series.values[23 * 60 + 30] = 90.0; // 23:30 UTC = 00:30 local, next day, outside
        let mut settings = prime_settings();
        settings.timezone = chrono_tz::Europe::Amsterdam;
        let summary = peaks_of(&series, &settings);
        assert_eq!(summary.peaks[0].peak, 70.0);
        assert!(summary.peaks.iter().all(|p| p.peak != 90.0));
        assert_eq!(summary.window.timezone, "Europe/Amsterdam");
    }

    #[test]
    fn dynamic_detection_finds_the_evening_and_falls_back_on_flat_traffic() {
        let series = daily_shape_series(14, 100.0);
        let mut settings = prime_settings();
        settings.detection_method = PrimeTimeMethod::Dynamic;
        let times = local_times(&series.window, settings.timezone);
        let clean = vec![true; series.values.len()];
        let window = choose_window(&series, &clean, &times, &settings);
        assert_eq!(window.source, "detected");
        // The shape peaks at 21:00: the top quarter of hours is the evening around it.
        assert_eq!(window.describe(), "18:00-24:00 UTC", "{window:?}");

        let mut flat = daily_shape_series(3, 1.0);
        flat.values.iter_mut().for_each(|v| *v = 7.0);
        let times = local_times(&flat.window, settings.timezone);
        let window = choose_window(&flat, &vec![true; flat.values.len()], &times, &settings);
        assert_eq!(window.hours, (19..24).collect::<Vec<_>>());
        assert_eq!(
            window.source,
            "configured fallback: traffic is flat over the day"
        );

        let short = daily_shape_series(1, 50.0);
        let times = local_times(&short.window, settings.timezone);
        let window = choose_window(&short, &vec![true; short.values.len()], &times, &settings);
        assert!(
            window.source.contains("1 complete days, 2 needed"),
            "{}",
            window.source
        );
    }

    #[test]
    fn percentiles_interpolate() {
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0, 5.0], 50.0), 3.0);
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0, 5.0], 75.0), 4.0);
        assert_eq!(percentile(&[0.0, 10.0], 25.0), 2.5);
    }

    #[test]
    fn days_with_too_little_prime_time_data_are_skipped() {
        let mut series = daily_shape_series(3, 100.0);
        // Blank out 80 % of day 2's prime time.
        let start = 2 * 1440 + 19 * 60;
        for v in &mut series.values[start..start + 240] {
            *v = f64::NAN;
        }
        let summary = peaks_of(&series, &prime_settings());
        assert_eq!(summary.peaks.len(), 2);
        assert_eq!(summary.days_skipped, 1);
    }
}
