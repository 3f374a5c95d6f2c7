//! Synthetic series with a known shape for the tests of this crate.

use chrono::{DateTime, Utc};
use trendmaster_types::settings::{
    AnomalySettings, ForecastSettings, ForecasterKind, PrimeTimeMethod, PrimeTimeSettings,
    SeverityThresholds,
};
use trendmaster_types::{AnalysisWindow, AnomalyKind, SeriesKey, Severity, TrafficSeries};

pub fn window(days: u32) -> AnalysisWindow {
    let end: DateTime<Utc> = "2026-11-16T00:00:00Z".parse().unwrap();
    AnalysisWindow::ending_at(end, days, 60)
}

/// A noiseless-but-not-flat daily shape: low at night, highest 20:00–22:00 UTC, plus a small
/// deterministic wiggle so that the MAD is not zero. `level` is the prime-time level.
pub fn daily_shape_series(days: u32, level: f64) -> TrafficSeries {
    let window = window(days);
    let values = (0..window.len())
        .map(|i| {
            let minute_of_day = (i % 1440) as f64;
            let hour = minute_of_day / 60.0;
            // Hours from 21:00 around the clock, so that the curve is continuous at midnight as
            // real traffic is.
            let from_peak = (hour - 21.0).abs().min(24.0 - (hour - 21.0).abs());
            let evening = (-(from_peak / 2.5).powi(2)).exp();
            let wiggle = 1.0 + 0.05 * ((i * 7919 % 101) as f64 / 100.0 - 0.5);
            (level * (0.25 + 0.75 * evening) * wiggle).round()
        })
        .collect();
    TrafficSeries {
        key: SeriesKey::new("111", "/api"),
        window,
        values,
    }
}

pub fn prime_settings() -> PrimeTimeSettings {
    PrimeTimeSettings {
        detection_method: PrimeTimeMethod::Fixed,
        percentile_threshold: 75.0,
        consistency_check: 0.6,
        min_duration_minutes: 60,
        timezone: chrono_tz::UTC,
        fixed_start_hour: 19,
        fixed_end_hour: 24,
        min_day_coverage: 0.5,
    }
}

pub fn anomaly_settings() -> AnomalySettings {
    AnomalySettings {
        robust_zscore: SeverityThresholds {
            low: 4.0,
            medium: 6.0,
            high: 10.0,
        },
        severity_filter: vec![Severity::High],
        kind_filter: vec![AnomalyKind::Spike, AnomalyKind::Surge],
        spike_max_minutes: 30,
        sustained_zscore: 4.5,
        min_relative_spread: 0.1,
        min_excess: 2.0,
        min_relative_excess: 0.5,
        min_points: 1440,
        recurring_min_days: 5,
    }
}

/// Forecasting off: the anomaly and prime-time tests do not need it.
pub fn no_forecast() -> ForecastSettings {
    ForecastSettings {
        forecaster: ForecasterKind::None,
        resolution: "5m".into(),
        horizon_days: 7,
        interval_level: 0.95,
        holdout_days: 1,
    }
}
