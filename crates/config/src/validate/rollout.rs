//! What may change and how it is enforced: `COMMON.GOVERNANCE`, `COMMON.LOCAL_RATELIMIT` and
//! `COMMON.GLOBAL_RATELIMIT`.

use super::check::Check;
use crate::resolved::ResolvedConfig;

/// The change and cut gates.
pub(super) fn check_governance(config: &ResolvedConfig, check: &mut Check<'_>) {
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
    let governance = &config.governance;
    check(
        (0.0..1.0).contains(&governance.deadband),
        &["COMMON", "GOVERNANCE", "deadband"],
        format!(
            "must be a share in [0, 1) (0 disables the deadband), got {}",
            governance.deadband
        ),
    );
    for (key, value, meaning) in [
        (
            "max_cut_per_run",
            governance.max_cut_per_run,
            " (1 allows any cut in one run)",
        ),
        ("saturated_level", governance.saturated_level, ""),
        ("saturated_share", governance.saturated_share, ""),
        ("rejected_share", governance.rejected_share, ""),
    ] {
        check(
            value > 0.0 && value <= 1.0,
            &["COMMON", "GOVERNANCE", key],
            format!("must be a share in (0, 1]{meaning}, got {value}"),
        );
    }
}

/// The local rate limit's replicas, burst, context and partner header.
pub(super) fn check_local_ratelimit(config: &ResolvedConfig, check: &mut Check<'_>) {
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
}

/// The global wiring's context, header, service and timeout, and its agreement with the local
/// filter on the partner header.
pub(super) fn check_global_ratelimit(config: &ResolvedConfig, check: &mut Check<'_>) {
    let global = &config.global_ratelimit;
    let gr = |key: &'static str| ["COMMON", "GLOBAL_RATELIMIT", key];
    check(
        ["GATEWAY", "SIDECAR_INBOUND", "SIDECAR_OUTBOUND"].contains(&global.context.as_str()),
        &gr("context"),
        format!(
            "must be GATEWAY, SIDECAR_INBOUND or SIDECAR_OUTBOUND, got `{}`",
            global.context
        ),
    );
    check(
        !global.partner_header.trim().is_empty(),
        &gr("partner_header"),
        "must name the request header that carries the partner id".to_string(),
    );
    check(
        !global.service_cluster.trim().is_empty(),
        &gr("service_cluster"),
        "must name the Envoy cluster of the ratelimit service's gRPC port".to_string(),
    );
    check(
        humantime::parse_duration(global.timeout.trim()).is_ok_and(|d| !d.is_zero()),
        &gr("timeout"),
        format!(
            "`{}` is not a positive duration such as 100ms",
            global.timeout
        ),
    );
    let local = &config.local_ratelimit;
    check(
        !(global.enabled && local.enabled)
            || global
                .partner_header
                .eq_ignore_ascii_case(&local.partner_header),
        &gr("partner_header"),
        format!(
            "`{}` differs from COMMON.LOCAL_RATELIMIT.partner_header `{}`: both filters must read the partner from the same header",
            global.partner_header, local.partner_header
        ),
    );
}

pub(super) fn check_alerts(config: &ResolvedConfig, check: &mut Check<'_>) {
    let alerts = &config.alerts;
    let al = |key: &'static str| ["COMMON", "ALERTS", key];
    for (key, value) in [
        ("rate_window", &alerts.rate_window),
        ("approaching_for", &alerts.approaching_for),
        ("rejections_for", &alerts.rejections_for),
    ] {
        check(
            trendmaster_types::settings::prometheus_duration_minutes(value)
                .is_some_and(|minutes| minutes > 0.0),
            &al(key),
            format!("`{value}` is not a positive Prometheus duration such as 5m or 1h30m"),
        );
    }
    check(
        alerts.approaching_share > 0.0 && alerts.approaching_share <= 1.0,
        &al("approaching_share"),
        format!(
            "must be above 0 and at most 1 (a share of the limit), got {}",
            alerts.approaching_share
        ),
    );
    check(
        !alerts.enabled || !alerts.namespace.trim().is_empty(),
        &al("namespace"),
        "must name the namespace of the PrometheusRule".to_string(),
    );
}
