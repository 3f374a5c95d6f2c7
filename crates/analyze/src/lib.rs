//! Analysis of one traffic series: which points are anomalous, when prime time is, and what
//! each day's clean prime-time peak was.
//!
//! [`analyze`] takes a [`TrafficSeries`] and returns an [`AnalysisResult`], the plain value the
//! calculator consumes. Anomalies are found with a robust filter: each point is compared with the
//! median of its hour of day on the same kind of day (weekday or weekend, in the prime-time time
//! zone), in units of the median absolute deviation, with Poisson noise and a share of the median
//! as the least spread, so that neither sparse nor very busy series look anomalous everywhere.
//! Stretches whose mean deviation stays high count as sustained even when no single point is
//! extreme. Consecutive anomalous points become events (spike, surge, drop; runs of missing
//! samples become gap events), and events whose severity is configured for removal are left out
//! of the peak. Prime time is the configured fixed window.
//!
//! This crate does not fetch data or compute limits. Forecast-based detection and dynamic prime
//! time replace the pieces here in a later release; the result type stays the same.

mod events;
mod forecast;
mod prime;
#[cfg(feature = "prophet")]
mod prophet;
mod robust;

use chrono::{Datelike, Weekday};
use trendmaster_types::settings::{AnomalySettings, ForecastSettings, PrimeTimeSettings};
use trendmaster_types::{AnalysisMethod, AnalysisResult, PointCounts, SeriesStats, TrafficSeries};

/// Analyses one series. Never fails: a series with too little data yields method
/// [`AnalysisMethod::None`], no removed points, and (possibly) no daily peaks, which the
/// calculator turns into a skip with a reason.
pub fn analyze(
    series: &TrafficSeries,
    prime_time: &PrimeTimeSettings,
    anomaly: &AnomalySettings,
    forecast_settings: &ForecastSettings,
) -> AnalysisResult {
    let window = series.window;
    let times = prime::local_times(&window, prime_time.timezone);
    let hours: Vec<u8> = times.iter().map(|t| t.hour).collect();
    let weekend: Vec<bool> = times
        .iter()
        .map(|t| matches!(t.date.weekday(), Weekday::Sat | Weekday::Sun))
        .collect();
    let present = series.present_count();

    let (method, scores) = if present >= anomaly.min_points.max(1) {
        let scores = robust::scores_by_hour(
            &series.values,
            &hours,
            &weekend,
            anomaly.min_relative_spread,
            anomaly.min_excess,
        );
        (AnalysisMethod::Statistical, Some(scores))
    } else {
        (AnalysisMethod::None, None)
    };
    let anomalies = events::find_events(series, scores.as_deref(), anomaly);
    let clean = events::clean_mask(series, &anomalies);

    let used: Vec<f64> = series
        .values
        .iter()
        .zip(&clean)
        .filter_map(|(v, keep)| keep.then_some(*v))
        .collect();
    let prime = prime::daily_peaks(series, &clean, &times, prime_time);

    AnalysisResult {
        key: series.key.clone(),
        window,
        method,
        points: PointCounts {
            expected: window.len(),
            present,
            missing: series.values.len() - present,
            removed: present - used.len(),
            used: used.len(),
            prime_used: prime.prime_used,
        },
        stats: stats(&used),
        prime_time: prime.window,
        daily_peaks: prime.peaks,
        days_skipped: prime.days_skipped,
        anomalies,
        forecast: forecast::forecast(series, &clean, forecast_settings),
    }
}

/// Mean, population standard deviation, CV, max and peak-to-mean of `values` (all finite).
fn stats(values: &[f64]) -> SeriesStats {
    if values.is_empty() {
        return SeriesStats::default();
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    let std_dev = variance.sqrt();
    let max = values.iter().copied().fold(f64::MIN, f64::max);
    let ratio = |x: f64| if mean > 0.0 { x / mean } else { 0.0 };
    SeriesStats {
        mean,
        std_dev,
        cv: ratio(std_dev),
        max,
        peak_to_mean: ratio(max),
    }
}

#[cfg(test)]
mod test_support;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::*;
    use trendmaster_types::{AnomalyKind, Severity};

    #[test]
    fn stats_match_hand_computed_values() {
        let s = stats(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        assert_eq!(s.mean, 5.0);
        assert_eq!(s.std_dev, 2.0);
        assert_eq!(s.cv, 0.4);
        assert_eq!(s.max, 9.0);
        assert_eq!(s.peak_to_mean, 1.8);
        assert_eq!(stats(&[]), SeriesStats::default());
        assert_eq!(stats(&[0.0, 0.0]).cv, 0.0);
    }

    #[test]
    fn a_prime_time_spike_is_removed_and_does_not_inflate_the_daily_peak() {
        let mut series = daily_shape_series(14, 100.0);
        let clean_peaks: Vec<f64> = analyze(
            &series,
            &prime_settings(),
            &anomaly_settings(),
            &no_forecast(),
        )
        .daily_peaks
        .iter()
        .map(|p| p.peak)
        .collect();
        // A 10-minute bot spike at 21:00 on day 5, at 10× the normal level.
        let start = 5 * 1440 + 21 * 60;
        for v in &mut series.values[start..start + 10] {
            *v *= 10.0;
        }
        let result = analyze(
            &series,
            &prime_settings(),
            &anomaly_settings(),
            &no_forecast(),
        );
        assert_eq!(result.method, AnalysisMethod::Statistical);
        let spikes: Vec<_> = result
            .anomalies
            .iter()
            .filter(|e| e.kind == AnomalyKind::Spike)
            .collect();
        assert_eq!(spikes.len(), 1, "{:?}", result.anomalies);
        assert_eq!(spikes[0].points, 10);
        assert_eq!(spikes[0].severity, Severity::High);
        assert!(spikes[0].excluded);
        assert_eq!(result.points.removed, 10);
        let peaks: Vec<f64> = result.daily_peaks.iter().map(|p| p.peak).collect();
        assert_eq!(peaks, clean_peaks, "the spike day's peak is the clean peak");
    }

    #[test]
    fn sustained_rises_are_surges_and_falls_are_drops() {
        let mut series = daily_shape_series(14, 200.0);
        let surge = 3 * 1440 + 12 * 60; // 4 hours from noon on day 3
        for v in &mut series.values[surge..surge + 240] {
            *v *= 3.0;
        }
        let drop = 9 * 1440 + 20 * 60; // 60 minutes at 20:00 on day 9
        for v in &mut series.values[drop..drop + 60] {
            *v = 0.0;
        }
        let result = analyze(
            &series,
            &prime_settings(),
            &anomaly_settings(),
            &no_forecast(),
        );
        let surge_event = result
            .anomalies
            .iter()
            .find(|e| e.kind == AnomalyKind::Surge)
            .expect("a surge");
        assert!(
            surge_event.points >= 200 && surge_event.points <= 240,
            "{surge_event:?}"
        );
        assert!(surge_event.excluded);
        let drop_event = result
            .anomalies
            .iter()
            .find(|e| e.kind == AnomalyKind::Drop)
            .expect("a drop");
        assert_eq!(drop_event.points, 60);
        assert_eq!(drop_event.peak_value, 0.0);
    }

    #[test]
    fn gaps_are_events_and_never_data() {
        let mut series = daily_shape_series(14, 50.0);
        for v in &mut series.values[100..130] {
            *v = f64::NAN;
        }
        let result = analyze(
            &series,
            &prime_settings(),
            &anomaly_settings(),
            &no_forecast(),
        );
        let gap = result
            .anomalies
            .iter()
            .find(|e| e.kind == AnomalyKind::Gap)
            .expect("a gap");
        assert_eq!(gap.points, 30);
        assert_eq!(gap.start, series.window.timestamp(100));
        assert_eq!(result.points.missing, 30);
        assert_eq!(
            result.points.present + result.points.missing,
            result.points.expected
        );
        assert_eq!(result.points.removed, 0);
    }

    #[test]
    fn sparse_counts_are_not_all_anomalous() {
        // Mostly zeros with the odd request: MAD is zero, Poisson noise is the floor.
        let mut series = daily_shape_series(14, 0.0);
        for (i, v) in series.values.iter_mut().enumerate() {
            *v = if i % 7 == 0 {
                1.0
            } else if i % 31 == 0 {
                2.0
            } else {
                0.0
            };
        }
        let result = analyze(
            &series,
            &prime_settings(),
            &anomaly_settings(),
            &no_forecast(),
        );
        assert_eq!(result.points.removed, 0, "{:?}", result.anomalies.first());
        assert!(result.anomalies.is_empty());
    }

    #[test]
    fn short_series_are_not_filtered() {
        let series = daily_shape_series(1, 100.0);
        let mut settings = anomaly_settings();
        settings.min_points = 2000;
        let result = analyze(&series, &prime_settings(), &settings, &no_forecast());
        assert_eq!(result.method, AnalysisMethod::None);
        assert_eq!(result.points.removed, 0);
    }
}
