//! Range and consistency checks on the resolved values: the problems that parse fine but would
//! make a wrong or dangerous limit.

use std::collections::BTreeSet;
use trendmaster_types::settings::ScoreTable;

use crate::error::{ConfigError, ConfigProblems};
use crate::layers::{Layer, origin_of};
use crate::resolve::ResolvedConfig;

/// Range and consistency checks on the merged values; each problem names the layer that set
/// the offending key.
pub fn validate(config: &ResolvedConfig, layers: &[Layer], problems: &mut ConfigProblems) {
    // An empty selection caused by unknown --partners/--apis values is already explained.
    let unknown_partner = problems
        .iter()
        .any(|p| matches!(p, ConfigError::UnknownPartner { .. }));
    let unknown_api = problems
        .iter()
        .any(|p| matches!(p, ConfigError::UnknownApi { .. }));
    let mut check = |ok: bool, path: &[&str], message: String| {
        if !ok {
            problems.push(ConfigError::Invalid {
                origin: origin_of(layers, path).to_string(),
                key: path.join("."),
                message,
            });
        }
    };
    let positive = |x: f64| x.is_finite() && x > 0.0;
    let env = config.environment.name.as_str();

    // Data and selection.
    check(
        config.days >= 1 && config.days <= 400,
        &["COMMON", "DATA", "days"],
        format!("must be between 1 and 400 days, got {}", config.days),
    );
    let partners_path = ["PARTNER_CONFIGS", env, "partners"];
    check(
        unknown_partner || !config.partners.is_empty(),
        &partners_path,
        "no partners selected".into(),
    );
    check(
        unknown_api || !config.apis.is_empty(),
        &["PARTNER_CONFIGS", env, "apis"],
        "no APIs selected".into(),
    );
    for (what, items) in [("partners", &config.partners), ("apis", &config.apis)] {
        let path = ["PARTNER_CONFIGS", env, what];
        let mut seen = BTreeSet::new();
        for item in items.iter() {
            check(
                seen.insert(item),
                &path,
                format!("`{item}` is listed twice"),
            );
            check(
                !item.trim().is_empty(),
                &path,
                "contains an empty entry".into(),
            );
            // A '.' splits ratelimit stat names (see envoy-istio-formats §1.3).
            check(
                !item.contains('.'),
                &path,
                format!(
                    "`{item}` contains `.`, which scrambles the ratelimit service's metric names"
                ),
            );
        }
    }
    for (partner, multiplier) in &config.multipliers.partner {
        let path = [
            "PARTNER_CONFIGS",
            env,
            "partner_multipliers",
            partner.as_str(),
        ];
        check(
            positive(*multiplier),
            &path,
            format!("must be a positive number, got {multiplier}"),
        );
    }
    for (pattern, multiplier) in &config.multipliers.path {
        let path = ["COMMON", "PATH_MULTIPLIERS", pattern.as_str()];
        check(
            positive(*multiplier),
            &path,
            format!("must be a positive number, got {multiplier}"),
        );
        check(
            !pattern.is_empty(),
            &path,
            "empty pattern matches every path".into(),
        );
    }

    // Formula constants.
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

    // Prime time and anomalies.
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
    let pc = |key: &'static str| ["COMMON", "PROMETHEUS_CONFIG", key];
    let prom = &config.prometheus;
    check(
        prom.presets.contains_key(&prom.preset),
        &pc("preset"),
        format!(
            "no preset `{}` under COMMON.PROMETHEUS_CONFIG.presets (defined: {})",
            prom.preset,
            prom.presets.keys().cloned().collect::<Vec<_>>().join(", ")
        ),
    );
    for (key, text) in [
        ("timeout", &prom.timeout),
        ("retry_base_delay", &prom.retry_base_delay),
        ("retry_max_delay", &prom.retry_max_delay),
    ] {
        check(
            humantime::parse_duration(text.trim()).is_ok_and(|d| !d.is_zero()),
            &pc(key),
            format!("`{text}` is not a positive duration such as 30s or 500ms"),
        );
    }
    check(
        prom.concurrency >= 1,
        &pc("concurrency"),
        "must be at least 1".into(),
    );
    check(
        positive(prom.queries_per_second),
        &pc("queries_per_second"),
        format!("must be a positive number, got {}", prom.queries_per_second),
    );
    check(
        (2..=11_000).contains(&prom.max_points_per_query),
        &pc("max_points_per_query"),
        format!(
            "must be between 2 and 11000 (Prometheus' limit per series), got {}",
            prom.max_points_per_query
        ),
    );
    check(
        prom.partners_per_query >= 1,
        &pc("partners_per_query"),
        "must be at least 1".into(),
    );
    check(
        prom.client_cert.is_empty() == prom.client_key.is_empty(),
        &pc("client_cert"),
        "client_cert and client_key must be given together".into(),
    );
    for (name, preset) in &prom.presets {
        let path = [
            "COMMON",
            "PROMETHEUS_CONFIG",
            "presets",
            name.as_str(),
            "query",
        ];
        check(
            !preset.query.trim().is_empty(),
            &path,
            "the range query template is empty".into(),
        );
    }

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
    let tiers = &config.multipliers.tiers;
    check(
        tiers.tiers.contains_key(&tiers.default_tier),
        &["COMMON", "TIERS", "default_tier"],
        format!(
            "`{}` is not one of COMMON.TIERS.tiers ({})",
            tiers.default_tier,
            tiers.tiers.keys().cloned().collect::<Vec<_>>().join(", ")
        ),
    );
    for (name, tier) in &tiers.tiers {
        check(
            positive(tier.multiplier),
            &["COMMON", "TIERS", "tiers", name, "multiplier"],
            format!("must be a positive number, got {}", tier.multiplier),
        );
        check(
            tier.degraded_factor > 0.0 && tier.degraded_factor <= 1.0,
            &["COMMON", "TIERS", "tiers", name, "degraded_factor"],
            format!(
                "must be above 0 and at most 1 (the share of the normal limit kept), got {}",
                tier.degraded_factor
            ),
        );
    }
    for (partner, tier) in &tiers.partner_tiers {
        check(
            tiers.tiers.contains_key(tier),
            &[
                "PARTNER_CONFIGS",
                &config.environment.name,
                "partner_tiers",
                partner,
            ],
            format!("tier `{tier}` is not one of COMMON.TIERS.tiers"),
        );
    }
    check(
        config.governance.max_change_ratio.is_finite() && config.governance.max_change_ratio > 1.0,
        &["COMMON", "GOVERNANCE", "max_change_ratio"],
        format!(
            "must be above 1 (1.8 holds changes beyond 1.8x up or down), got {}",
            config.governance.max_change_ratio
        ),
    );
    check(
        config.governance.max_cut_share > 0.0 && config.governance.max_cut_share <= 1.0,
        &["COMMON", "GOVERNANCE", "max_cut_share"],
        format!(
            "must be a share in (0, 1] (1 disables the gate), got {}",
            config.governance.max_cut_share
        ),
    );
    let local = &config.local_ratelimit;
    check(
        local.replicas >= 1,
        &["COMMON", "LOCAL_RATELIMIT", "replicas"],
        "must be at least 1 (the proxies that share the traffic)".to_string(),
    );
    check(
        local.burst_factor.is_finite() && local.burst_factor >= 1.0,
        &["COMMON", "LOCAL_RATELIMIT", "burst_factor"],
        format!(
            "must be at least 1 (a bucket smaller than one minute's budget throttles below the limit), got {}",
            local.burst_factor
        ),
    );
    check(
        ["GATEWAY", "SIDECAR_INBOUND", "SIDECAR_OUTBOUND"].contains(&local.context.as_str()),
        &["COMMON", "LOCAL_RATELIMIT", "context"],
        format!(
            "must be GATEWAY, SIDECAR_INBOUND or SIDECAR_OUTBOUND, got `{}`",
            local.context
        ),
    );
    check(
        !local.partner_header.trim().is_empty(),
        &["COMMON", "LOCAL_RATELIMIT", "partner_header"],
        "must name the request header that carries the partner id".to_string(),
    );
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
