//! Analysis of one traffic series: which points are anomalous, when prime time is, what each
//! day's clean prime-time peak was, and what the next period will look like.
//!
//! [`analyze`] takes a [`TrafficSeries`] and returns an [`AnalysisResult`], the plain value the
//! calculator consumes. The pipeline, and the module for each step:
//!
//! 1. `robust`: a line through the median of each hour of day (weekdays and weekends apart),
//!    which `band` turns into the robust seasonal baseline; `detect` + `events` against it: a
//!    first screen for anomalies.
//! 2. `forecast`: a `Forecaster` (the trait in `forecaster`, the seam) fitted on the screened
//!    series at a coarser resolution, with its error on a held-out tail: MSTL with an AutoETS
//!    trend (`mstl`; `trend`: fitted on 2-hour means) or Prophet (`prophet`, with the `prophet`
//!    feature). The model is chosen once, in `forecast`.
//! 3. `band`: the fit's in-sample band as the baseline, and detection again against it; this is
//!    the result (method `forecast`). The robust screen stays the result (method `statistical`)
//!    when there is no fit, or when the band is clearly wider than the robust baseline (the
//!    model explains the series worse than hour-of-day medians do).
//! 4. `recurring`: upward events that recur (on several days across the window, or weekly)
//!    are demand, summarised for the calculator's burst floor; one-off events stay anomalies.
//! 5. `prime`: prime-time windows detected from hourly means (or the fixed fallback), and each
//!    day's peak inside them over the points that are not excluded anomalies.
//! 6. `growth`: a Theil–Sen line through the daily peaks, and whether its slope's 95 %
//!    interval excludes zero: the only evidence of growth the calculator applies.
//!
//! Before them, `outage`: a day or more of zeros in a busy series (the partner was out) is
//! treated as missing, not as traffic.
//!
//! Beside the steps: `baseline`, the `Baseline` every detection judges against (built by
//! `band`, read by `detect` and `chart`, so that neither side depends on the other); `stats`,
//! general statistics (median, MAD, quantiles, means, hour-of-day buckets); `chart`, the data
//! behind a series' chart. Apart from [`analyze`]: [`saturation`], how often traffic sat at a
//! deployed limit (the caller knows the deployed limits; this crate does not read them).
//!
//! This crate does not fetch data, read configuration or compute limits: it is given resolved
//! settings and returns a plain result, the same type whichever model produced it.

#![warn(missing_docs)]

mod band;
mod baseline;
mod chart;
mod detect;
mod events;
mod forecast;
mod forecaster;
mod growth;
mod mstl;
mod outage;
mod prime;
#[cfg(feature = "prophet")]
mod prophet;
mod recurring;
mod robust;
mod saturation;
mod stats;
mod trend;

use trendmaster_types::settings::{AnomalySettings, ForecastSettings, PrimeTimeSettings};
use trendmaster_types::{
    AnalysisMethod, AnalysisResult, ForecastOutcome, PointCounts, SeriesStats, Severity,
    TrafficSeries,
};

pub use saturation::saturation;

/// Analyses one series. Never fails: a series with too little data yields method
/// [`AnalysisMethod::None`], no removed points, and (possibly) no daily peaks, which the
/// calculator turns into a skip with a reason.
pub fn analyze(
    series: &TrafficSeries,
    prime_time: &PrimeTimeSettings,
    anomaly: &AnomalySettings,
    forecast_settings: &ForecastSettings,
) -> AnalysisResult {
    // A day or more of zeros in a busy series is an outage: missing, not traffic (`outage`).
    let without_outages = outage::masked(series);
    let series = without_outages.as_ref().unwrap_or(series);
    let window = series.window;
    let times = prime::local_times(&window, prime_time.timezone);
    let buckets: Vec<usize> = times.iter().map(prime::LocalTime::bucket).collect();
    let present = series.present_count();
    let step = window.step_secs;
    let judged = present >= anomaly.min_points.max(1);

    let robust = judged.then(|| {
        let baseline = band::seasonal_baseline(
            &series.values,
            &times,
            &buckets,
            anomaly.min_relative_spread,
        );
        let found = detect::find(&series.values, &baseline, anomaly, step);
        (baseline, events::events(series, &found, anomaly))
    });
    let screened = robust.as_ref().map_or_else(
        || events::events(series, &[], anomaly),
        |(_, events)| events.clone(),
    );
    // The model learns normal traffic: every high-severity event is left out of its training
    // data, whatever the peak's filter says (an outage is not a pattern to forecast).
    let screened_clean = events::clean_mask(series, &screened, |e| e.severity == Severity::High);

    // Which baseline the chart draws (with its upper band's z), and the forecast path.
    let mut drawn: Option<(baseline::Baseline, Option<f64>)> = robust
        .as_ref()
        .map(|(baseline, _)| (baseline.clone(), None));
    let mut path = Vec::new();
    let (method, anomalies, forecast) = match forecast::fit(
        series,
        &screened_clean,
        forecast_settings,
        prime_time.timezone,
    ) {
        Err(no_fit) => (robust_method(judged), screened, no_fit.outcome()),
        Ok(fit) => {
            let band = band::Band::new(
                &series.values,
                &screened_clean,
                &fit.in_sample,
                fit.factor,
                &buckets,
                forecast_settings.interval_level,
                anomaly.min_relative_spread,
            );
            let summary =
                forecast::summary(&fit, &band, series, forecast_settings, prime_time.timezone);
            path = forecast::path(&fit, &band, series, prime_time.timezone);
            let band_fits = robust.as_ref().is_some_and(|(baseline, _)| {
                band.baseline.typical_spread(&series.values)
                    <= BAND_SLACK * baseline.typical_spread(&series.values)
            });
            if band_fits {
                let found = detect::find(&series.values, &band.baseline, anomaly, step);
                drawn = Some((band.baseline.clone(), Some(band.upper_z())));
                (
                    AnalysisMethod::Forecast,
                    events::events(series, &found, anomaly),
                    ForecastOutcome::Fitted(summary),
                )
            } else {
                (
                    robust_method(judged),
                    screened,
                    ForecastOutcome::Fitted(summary),
                )
            }
        }
    };
    let mut anomalies = anomalies;
    let recurring_bursts = recurring::mark(&mut anomalies, &window, anomaly);
    let clean = events::clean_mask(series, &anomalies, |e| e.excluded);

    let used: Vec<f64> = series
        .values
        .iter()
        .zip(&clean)
        .filter_map(|(v, keep)| keep.then_some(*v))
        .collect();
    let prime = prime::daily_peaks(series, &clean, &times, prime_time);
    let trend = growth::evidence(&prime.peaks, &window, forecast_settings.horizon_days);
    let chart = drawn.map(|(baseline, z)| {
        let level = forecast_settings.interval_level;
        let z = z.unwrap_or_else(|| band::upper_z(&series.values, &clean, &baseline, level));
        let resolution = match &forecast {
            ForecastOutcome::Fitted(summary) => summary.resolution_secs,
            _ => step,
        };
        chart::chart(series, &baseline, z, &path, resolution)
    });

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
        stats: series_stats(&used),
        prime_time: prime.window,
        daily_peaks: prime.peaks,
        days_skipped: prime.days_skipped,
        anomalies,
        forecast,
        recurring_bursts,
        trend,
        saturation: None,
        chart,
    }
}

/// The band judges the series unless its typical spread is this much wider than the robust
/// baseline's: the model is preferred (it knows the trend and the shape within the hour), but
/// not when hour-of-day medians describe the series clearly better.
const BAND_SLACK: f64 = 1.25;

fn robust_method(judged: bool) -> AnalysisMethod {
    if judged {
        AnalysisMethod::Statistical
    } else {
        AnalysisMethod::None
    }
}

/// Mean, population standard deviation, CV, max and peak-to-mean of `values` (all finite).
fn series_stats(values: &[f64]) -> SeriesStats {
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
    use trendmaster_types::AnomalyKind;

    #[test]
    fn stats_match_hand_computed_values() {
        let s = series_stats(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        assert_eq!(s.mean, 5.0);
        assert_eq!(s.std_dev, 2.0);
        assert_eq!(s.cv, 0.4);
        assert_eq!(s.max, 9.0);
        assert_eq!(s.peak_to_mean, 1.8);
        assert_eq!(series_stats(&[]), SeriesStats::default());
        assert_eq!(series_stats(&[0.0, 0.0]).cv, 0.0);
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
        assert_eq!(result.points.removed, 10, "{:?}", result.anomalies);
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
