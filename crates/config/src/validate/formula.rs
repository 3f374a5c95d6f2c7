//! The formula's constants: `COMMON.RATE_CALCULATION`, `COMMON.CACHE_CONFIG` and
//! `COMMON.CONFIDENCE`.

use trendmaster_types::settings::ScoreTable;

use super::check::{Check, positive};
use crate::resolved::ResolvedConfig;

/// The multipliers, bounds, rounding and traffic-pattern thresholds of the formula.
pub(super) fn check_rate_calculation(config: &ResolvedConfig, check: &mut Check<'_>) {
    let rate = &config.rate;
    let rc = |key: &'static str| ["COMMON", "RATE_CALCULATION", key];
    for (key, value) in [
        ("peak_multiplier", rate.peak_multiplier),
        ("safety_margin", rate.safety_margin),
        ("rounding_step", rate.rounding_step),
        ("max_rate_limit", rate.max_rate_limit),
    ] {
        check(
            positive(value),
            &rc(key),
            format!("must be a positive number, got {value}"),
        );
    }
    // requests_per_unit 0 blocks all traffic, so the floor is at least 1.
    check(
        rate.min_rate_limit.is_finite() && rate.min_rate_limit >= 1.0,
        &rc("min_rate_limit"),
        format!(
            "must be at least 1 (0 would block every request), got {}",
            rate.min_rate_limit
        ),
    );
    check(
        rate.min_rate_limit <= rate.max_rate_limit,
        &rc("min_rate_limit"),
        format!(
            "min_rate_limit {} is above max_rate_limit {}",
            rate.min_rate_limit, rate.max_rate_limit
        ),
    );
    check(
        rate.max_rate_limit <= f64::from(u32::MAX),
        &rc("max_rate_limit"),
        "must fit requests_per_unit (at most 4294967295)".into(),
    );
    check(
        rate.below_peak_factor.is_finite() && rate.below_peak_factor >= 1.0,
        &rc("below_peak_factor"),
        format!("must be at least 1, got {}", rate.below_peak_factor),
    );
    check(
        rate.max_rounding_share > 0.0 && !rate.max_rounding_share.is_nan(),
        &rc("max_rounding_share"),
        format!(
            "must be a positive share (0.05: rounding adds at most 5 %), got {}",
            rate.max_rounding_share
        ),
    );
    check(
        rate.burst_headroom.is_finite() && rate.burst_headroom >= 1.0,
        &rc("burst_headroom"),
        format!(
            "must be at least 1 (a limit below a recurring burst throttles it), got {}",
            rate.burst_headroom
        ),
    );
    let tp = &rate.traffic_pattern;
    let tpp = |key: &'static str| ["COMMON", "RATE_CALCULATION", "traffic_pattern", key];
    for (key, value) in [
        ("spike_threshold_high", tp.spike_threshold_high),
        ("spike_threshold_medium", tp.spike_threshold_medium),
        ("variability_threshold_high", tp.variability_threshold_high),
        (
            "variability_threshold_medium",
            tp.variability_threshold_medium,
        ),
        ("variable_peak_to_mean", tp.variable_peak_to_mean),
        ("variable_cv", tp.variable_cv),
    ] {
        check(
            positive(value),
            &tpp(key),
            format!("must be a positive number, got {value}"),
        );
    }
    check(
        tp.spike_threshold_high >= tp.spike_threshold_medium,
        &tpp("spike_threshold_high"),
        "must not be below spike_threshold_medium".into(),
    );
    check(
        tp.variability_threshold_high >= tp.variability_threshold_medium,
        &tpp("variability_threshold_high"),
        "must not be below variability_threshold_medium".into(),
    );
    let m = &tp.multipliers;
    for (key, value) in [
        ("very_spiky", m.very_spiky),
        ("moderately_spiky", m.moderately_spiky),
        ("variable", m.variable),
        ("stable", m.stable),
    ] {
        check(
            positive(value),
            &[
                "COMMON",
                "RATE_CALCULATION",
                "traffic_pattern",
                "multipliers",
                key,
            ],
            format!("must be a positive number, got {value}"),
        );
    }
}

/// The cache factor's weight and fallback.
pub(super) fn check_cache(config: &ResolvedConfig, check: &mut Check<'_>) {
    let cache = &config.cache;
    check(
        cache.cache_hit_weight.is_finite() && cache.cache_hit_weight >= 0.0,
        &["COMMON", "CACHE_CONFIG", "cache_hit_weight"],
        format!("must be 0 or more, got {}", cache.cache_hit_weight),
    );
    check(
        positive(cache.cache_adjustment_factor),
        &["COMMON", "CACHE_CONFIG", "cache_adjustment_factor"],
        format!(
            "must be a positive number, got {}",
            cache.cache_adjustment_factor
        ),
    );
}

/// The confidence weights, levels and score tables.
pub(super) fn check_confidence(config: &ResolvedConfig, check: &mut Check<'_>) {
    // Confidence.
    let conf = &config.confidence;
    let w = &conf.weights;
    let sum = w.data_volume + w.stability + w.method + w.prime_coverage;
    let weights_ok = [w.data_volume, w.stability, w.method, w.prime_coverage]
        .iter()
        .all(|x| x.is_finite() && *x >= 0.0);
    check(
        weights_ok && (sum - 1.0).abs() < 1e-6,
        &["COMMON", "CONFIDENCE", "weights"],
        format!("weights must be 0 or more and add up to 1, they add up to {sum}"),
    );
    check(
        (0.0..=1.0).contains(&conf.medium) && conf.medium <= conf.high && conf.high <= 1.0,
        &["COMMON", "CONFIDENCE", "high"],
        format!(
            "need 0 <= medium ({}) <= high ({}) <= 1",
            conf.medium, conf.high
        ),
    );
    for (key, table, descending) in [
        ("data_volume", &conf.data_volume, true),
        ("stability", &conf.stability, false),
        ("prime_coverage", &conf.prime_coverage, true),
    ] {
        if let Err(message) = check_score_table(table, descending) {
            check(false, &["COMMON", "CONFIDENCE", key], message);
        }
    }
    let ms = &conf.method;
    if let Err(message) = check_score_table(&ms.forecast_error, false) {
        check(
            false,
            &["COMMON", "CONFIDENCE", "method", "forecast_error"],
            message,
        );
    }
    check(
        [ms.forecast, ms.statistical, ms.none]
            .iter()
            .all(|s| (0.0..=1.0).contains(s)),
        &["COMMON", "CONFIDENCE", "method"],
        "scores must lie between 0 and 1".into(),
    );
}

/// The trend bounds and the minimum data a limit needs.
pub(super) fn check_trend_and_coverage(config: &ResolvedConfig, check: &mut Check<'_>) {
    let rc_trend = ["COMMON", "RATE_CALCULATION", "trend_min"];
    check(
        positive(config.rate.trend_min)
            && config.rate.trend_min <= 1.0
            && config.rate.trend_max >= 1.0,
        &rc_trend,
        format!(
            "need 0 < trend_min ({}) <= 1 <= trend_max ({})",
            config.rate.trend_min, config.rate.trend_max
        ),
    );

    check(
        (0.0..=1.0).contains(&config.rate.min_data_coverage),
        &["COMMON", "RATE_CALCULATION", "min_data_coverage"],
        format!(
            "must be a share in [0, 1], got {}",
            config.rate.min_data_coverage
        ),
    );
    check(
        config.rate.min_daily_peaks >= 1,
        &["COMMON", "RATE_CALCULATION", "min_daily_peaks"],
        "must be at least 1 (a limit needs at least one daily peak)".to_string(),
    );
}

fn check_score_table(table: &ScoreTable, descending: bool) -> Result<(), String> {
    if table.thresholds.len() != table.scores.len() {
        return Err(format!(
            "{} thresholds but {} scores: they must pair up",
            table.thresholds.len(),
            table.scores.len()
        ));
    }
    let scores_ok = table
        .scores
        .iter()
        .chain([&table.otherwise])
        .all(|s| (0.0..=1.0).contains(s));
    if !scores_ok {
        return Err("scores must lie between 0 and 1".into());
    }
    let ordered = table.thresholds.windows(2).all(|pair| {
        if descending {
            pair[0] > pair[1]
        } else {
            pair[0] < pair[1]
        }
    });
    if !ordered {
        return Err(format!(
            "thresholds must be strictly {}",
            if descending {
                "decreasing"
            } else {
                "increasing"
            }
        ));
    }
    Ok(())
}
