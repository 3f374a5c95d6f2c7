//! Censored demand: how often a series' traffic sat at its deployed limit.
//!
//! A rate limit clips what it limits: while traffic is held at the limit, the observed series
//! shows the limit, not the demand, and whatever was rejected is not in it. A series whose
//! prime-time traffic often sits at (or just under) its deployed limit, or whose source reports
//! rejected requests (HTTP 429), is **censored**: its observed peak understates demand, so the
//! plan never cuts it.

use chrono_tz::Tz;
use trendmaster_types::settings::GovernanceSettings;
use trendmaster_types::{PrimeTimeWindow, Saturation, TrafficSeries};

use crate::prime::local_times;

/// How often `series` sat at `deployed_limit_per_minute` inside prime time, and whether that
/// (or `rejected_share`, the share of requests the source reports as rejected) makes it
/// censored.
///
/// - Prime time is `prime`'s hours, read in its time zone (UTC when the name is not a known
///   IANA zone); only grid points with data count (`prime_minutes`).
/// - A point is saturated at or above `settings.saturated_level` × the limit; a limit that is
///   not a positive number saturates nothing.
/// - Censored when at least one point is saturated and their share of the prime-time points
///   reaches `settings.saturated_share`, or when `rejected_share` is above zero and reaches
///   `settings.rejected_share` (so that a threshold of 0 means "any", never "always").
pub fn saturation(
    series: &TrafficSeries,
    prime: &PrimeTimeWindow,
    deployed_limit_per_minute: f64,
    rejected_share: Option<f64>,
    settings: &GovernanceSettings,
) -> Saturation {
    let timezone: Tz = prime.timezone.parse().unwrap_or(Tz::UTC);
    let mut prime_hours = [false; 24];
    for hour in &prime.hours {
        prime_hours[(*hour % 24) as usize] = true;
    }
    let limit = deployed_limit_per_minute;
    let threshold = (limit.is_finite() && limit > 0.0).then_some(settings.saturated_level * limit);
    let (mut prime_minutes, mut saturated_minutes) = (0, 0);
    for (value, time) in series
        .values
        .iter()
        .zip(local_times(&series.window, timezone))
    {
        if !value.is_finite() || !prime_hours[usize::from(time.hour)] {
            continue;
        }
        prime_minutes += 1;
        if threshold.is_some_and(|threshold| *value >= threshold) {
            saturated_minutes += 1;
        }
    }
    let share = if prime_minutes == 0 {
        0.0
    } else {
        saturated_minutes as f64 / prime_minutes as f64
    };
    let rejected_share = rejected_share.filter(|share| share.is_finite());
    let saturated = saturated_minutes > 0 && share >= settings.saturated_share;
    let rejected = rejected_share.is_some_and(|r| r > 0.0 && r >= settings.rejected_share);
    Saturation {
        limit,
        prime_minutes,
        saturated_minutes,
        share,
        rejected_share,
        censored: saturated || rejected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use trendmaster_types::{AnalysisWindow, SeriesKey};

    const LIMIT: f64 = 1000.0;

    fn settings() -> GovernanceSettings {
        GovernanceSettings {
            max_change_ratio: 1.8,
            max_cut_share: 0.25,
            deadband: 0.1,
            max_cut_per_run: 0.2,
            saturated_level: 0.95,
            saturated_share: 0.05,
            rejected_share: 0.001,
        }
    }

    /// Two days at one minute from 2026-11-01T00:00Z, `value(day, hour, minute)` per point.
    fn series(value: impl Fn(usize, u32, u32) -> f64) -> TrafficSeries {
        let end: DateTime<Utc> = "2026-11-03T00:00:00Z".parse().unwrap();
        let window = AnalysisWindow::ending_at(end, 2, 60);
        let values = (0..window.len())
            .map(|i| {
                let (day, minute_of_day) = (i / 1440, (i % 1440) as u32);
                value(day, minute_of_day / 60, minute_of_day % 60)
            })
            .collect();
        TrafficSeries {
            key: SeriesKey::new("111", "/api/a"),
            window,
            values,
        }
    }

    fn evening(timezone: &str) -> PrimeTimeWindow {
        PrimeTimeWindow::from_range(19, 24, timezone, "configured")
    }

    #[test]
    fn traffic_pinned_at_the_limit_in_prime_time_is_censored() {
        // Every evening minute at 97 % of the limit, the rest of the day far below.
        let pinned = series(|_, hour, _| if hour >= 19 { 970.0 } else { 200.0 });
        let saturation = saturation(&pinned, &evening("UTC"), LIMIT, None, &settings());
        assert_eq!(saturation.prime_minutes, 2 * 5 * 60);
        assert_eq!(saturation.saturated_minutes, 2 * 5 * 60);
        assert_eq!(saturation.share, 1.0);
        assert_eq!(saturation.limit, LIMIT);
        assert_eq!(saturation.rejected_share, None);
        assert!(saturation.censored);
    }

    #[test]
    fn only_prime_time_points_with_data_count_and_the_level_is_inclusive() {
        // At the limit outside prime time (not counted); in prime time, 30 minutes a day at
        // exactly 95 % (saturated) and 30 at 94.9 % (not), one evening hour missing each day.
        let values = |_, hour: u32, minute: u32| match hour {
            0..=18 => LIMIT,
            19 => f64::NAN,
            20 if minute < 30 => 950.0,
            _ => 949.0,
        };
        let saturation = saturation(&series(values), &evening("UTC"), LIMIT, None, &settings());
        assert_eq!(saturation.prime_minutes, 2 * 4 * 60);
        assert_eq!(saturation.saturated_minutes, 2 * 30);
        assert_eq!(saturation.share, 60.0 / 480.0);
        assert!(saturation.censored, "12.5 % is above saturated_share 5 %");
    }

    #[test]
    fn a_share_below_the_threshold_is_not_censored() {
        // 10 minutes an evening at the limit: 20 of 600 prime-time minutes, 3.3 %.
        let brief = series(|_, hour, minute| {
            if hour == 21 && minute < 10 {
                LIMIT
            } else {
                500.0
            }
        });
        let saturation = saturation(&brief, &evening("UTC"), LIMIT, None, &settings());
        assert_eq!(saturation.saturated_minutes, 20);
        assert!(!saturation.censored);
        let strict = GovernanceSettings {
            saturated_share: 0.03,
            ..settings()
        };
        assert!(
            super::saturation(&brief, &evening("UTC"), LIMIT, None, &strict).censored,
            "3.3 % reaches a 3 % threshold"
        );
    }

    #[test]
    fn rejected_requests_censor_a_series_whatever_its_traffic() {
        let calm = series(|_, _, _| 100.0);
        let prime = evening("UTC");
        let with = |rejected| saturation(&calm, &prime, LIMIT, rejected, &settings());
        assert!(!with(None).censored);
        assert!(!with(Some(0.0)).censored, "no rejections");
        assert!(!with(Some(0.000_5)).censored, "below rejected_share 0.1 %");
        let rejected = with(Some(0.02));
        assert!(rejected.censored);
        assert_eq!(rejected.rejected_share, Some(0.02));
        assert_eq!(rejected.saturated_minutes, 0);
        assert!(!with(Some(f64::NAN)).censored);
        assert_eq!(with(Some(f64::NAN)).rejected_share, None);
        // A threshold of 0 means "any rejection", not "always".
        let any = GovernanceSettings {
            rejected_share: 0.0,
            saturated_share: 0.0,
            ..settings()
        };
        assert!(!saturation(&calm, &prime, LIMIT, Some(0.0), &any).censored);
        assert!(saturation(&calm, &prime, LIMIT, Some(1e-9), &any).censored);
    }

    #[test]
    fn prime_hours_are_read_in_the_analysis_time_zone() {
        // At the limit 18:00-19:00 UTC only: 19:00-20:00 in Amsterdam (UTC+1 in November).
        let pinned = series(|_, hour, _| if hour == 18 { LIMIT } else { 100.0 });
        let utc = saturation(&pinned, &evening("UTC"), LIMIT, None, &settings());
        assert_eq!(utc.saturated_minutes, 0);
        let amsterdam = saturation(
            &pinned,
            &evening("Europe/Amsterdam"),
            LIMIT,
            None,
            &settings(),
        );
        assert_eq!(amsterdam.saturated_minutes, 2 * 60);
        // The window starts at 01:00 local, so the two evenings are whole: 2 × 5 hours.
        assert_eq!(amsterdam.prime_minutes, 2 * 5 * 60);
        assert!(amsterdam.censored);
    }

    #[test]
    fn no_limit_and_no_data_saturate_nothing() {
        let pinned = series(|_, _, _| LIMIT);
        for limit in [0.0, -1.0, f64::NAN] {
            let saturation = saturation(&pinned, &evening("UTC"), limit, None, &settings());
            assert_eq!(saturation.saturated_minutes, 0, "limit {limit}");
            assert!(!saturation.censored);
        }
        let empty = series(|_, _, _| f64::NAN);
        let saturation = saturation(&empty, &evening("UTC"), LIMIT, None, &settings());
        assert_eq!((saturation.prime_minutes, saturation.share), (0, 0.0));
        assert!(!saturation.censored);
    }
}
