//! How traffic is judged: `COMMON.PRIME_TIME_CONFIG`, `COMMON.FORECAST_CONFIG` and
//! `COMMON.ANOMALY_CONFIG`.

use super::check::{Check, positive};
use crate::resolved::ResolvedConfig;

/// The fixed prime-time hours and the coverage a day needs.
pub(super) fn check_fixed_prime_time(config: &ResolvedConfig, check: &mut Check<'_>) {
    let pt = &config.prime_time;
    check(
        pt.fixed_start_hour < 24,
        &["COMMON", "PRIME_TIME_CONFIG", "fixed_start_hour"],
        format!("must be an hour 0-23, got {}", pt.fixed_start_hour),
    );
    check(
        pt.fixed_end_hour > pt.fixed_start_hour && pt.fixed_end_hour <= 24,
        &["COMMON", "PRIME_TIME_CONFIG", "fixed_end_hour"],
        format!(
            "must be after fixed_start_hour ({}) and at most 24, got {}",
            pt.fixed_start_hour, pt.fixed_end_hour
        ),
    );
    check(
        pt.min_day_coverage > 0.0 && pt.min_day_coverage <= 1.0,
        &["COMMON", "PRIME_TIME_CONFIG", "min_day_coverage"],
        format!("must be a share in (0, 1], got {}", pt.min_day_coverage),
    );
}

/// The forecast's resolution, horizon, interval and hold-out.
pub(super) fn check_forecast(config: &ResolvedConfig, check: &mut Check<'_>) {
    let fc = |key: &'static str| ["COMMON", "FORECAST_CONFIG", key];
    let forecast = &config.forecast;
    let resolution = humantime::parse_duration(forecast.resolution.trim()).ok();
    check(
        resolution.is_some_and(|r| {
            let secs = r.as_secs();
            r.subsec_nanos() == 0
                && secs > 0
                && 3600 % secs == 0
                && secs % u64::from(config.step_secs) == 0
        }),
        &fc("resolution"),
        format!(
            "`{}` must be a whole number of seconds that divides one hour and is a multiple of the step ({} s)",
            forecast.resolution, config.step_secs
        ),
    );
    check(
        (1..=60).contains(&forecast.horizon_days),
        &fc("horizon_days"),
        format!("must be between 1 and 60, got {}", forecast.horizon_days),
    );
    check(
        forecast.interval_level > 0.0 && forecast.interval_level < 1.0,
        &fc("interval_level"),
        format!(
            "must lie strictly between 0 and 1, got {}",
            forecast.interval_level
        ),
    );
    check(
        forecast.holdout_days < config.days,
        &fc("holdout_days"),
        format!(
            "must be shorter than the window ({} days), got {}",
            config.days, forecast.holdout_days
        ),
    );
}

/// The prime-time detector's percentile and consistency share.
pub(super) fn check_prime_time_detection(config: &ResolvedConfig, check: &mut Check<'_>) {
    let pt = &config.prime_time;
    check(
        (0.0..100.0).contains(&pt.percentile_threshold),
        &["COMMON", "PRIME_TIME_CONFIG", "percentile_threshold"],
        format!(
            "must be a percentile in [0, 100), got {}",
            pt.percentile_threshold
        ),
    );
    check(
        pt.consistency_check > 0.0 && pt.consistency_check <= 1.0,
        &["COMMON", "PRIME_TIME_CONFIG", "consistency_check"],
        format!("must be a share in (0, 1], got {}", pt.consistency_check),
    );
}

/// The robust z-score severities and the minimum spread.
pub(super) fn check_robust_zscores(config: &ResolvedConfig, check: &mut Check<'_>) {
    let z = &config.anomaly.robust_zscore;
    check(
        positive(z.low) && z.low <= z.medium && z.medium <= z.high,
        &["COMMON", "ANOMALY_CONFIG", "robust_zscore"],
        format!(
            "need 0 < low ({}) <= medium ({}) <= high ({})",
            z.low, z.medium, z.high
        ),
    );
    check(
        config.anomaly.min_relative_spread.is_finite() && config.anomaly.min_relative_spread >= 0.0,
        &["COMMON", "ANOMALY_CONFIG", "min_relative_spread"],
        format!(
            "must be 0 or more, got {}",
            config.anomaly.min_relative_spread
        ),
    );
}

/// The detectors' minimum excess, sustained z-score and spike length.
pub(super) fn check_anomaly_thresholds(config: &ResolvedConfig, check: &mut Check<'_>) {
    check(
        config.anomaly.min_relative_excess.is_finite()
            && (0.0..1.0).contains(&config.anomaly.min_relative_excess),
        &["COMMON", "ANOMALY_CONFIG", "min_relative_excess"],
        format!(
            "must be at least 0 and below 1 (a drop cannot fall below zero), got {}",
            config.anomaly.min_relative_excess
        ),
    );
    check(
        positive(config.anomaly.sustained_zscore),
        &["COMMON", "ANOMALY_CONFIG", "sustained_zscore"],
        format!(
            "must be a positive number, got {}",
            config.anomaly.sustained_zscore
        ),
    );
    check(
        config.anomaly.spike_max_minutes >= 1,
        &["COMMON", "ANOMALY_CONFIG", "spike_max_minutes"],
        "must be at least 1".into(),
    );
}
