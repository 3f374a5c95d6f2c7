//! Prime time: the configured daily window, read in the audience's time zone, and each day's
//! clean peak inside it.

use chrono::{NaiveDate, Timelike};
use chrono_tz::Tz;
use trendmaster_types::settings::PrimeTimeSettings;
use trendmaster_types::{AnalysisWindow, DailyPeak, PrimeTimeWindow, TrafficSeries};

/// Local date and hour of one grid point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    pub date: NaiveDate,
    pub hour: u8,
}

/// The local date and hour of every grid point of `window`.
pub fn local_times(window: &AnalysisWindow, timezone: Tz) -> Vec<LocalTime> {
    (0..window.len())
        .map(|i| {
            let local = window.timestamp(i).with_timezone(&timezone);
            LocalTime {
                date: local.date_naive(),
                hour: local.hour() as u8,
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
    let in_prime = |hour: u8| {
        let hour = u32::from(hour);
        hour >= settings.fixed_start_hour && hour < settings.fixed_end_hour
    };
    let points_per_hour = 3600.0 / f64::from(series.window.step_secs);
    let full_day = f64::from(settings.fixed_end_hour - settings.fixed_start_hour) * points_per_hour;

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
        window: PrimeTimeWindow {
            start_hour: settings.fixed_start_hour,
            end_hour: settings.fixed_end_hour,
            timezone: settings.timezone.name().to_string(),
            source: "configured".into(),
        },
        peaks,
        days_skipped,
        prime_used,
    }
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
