//! Where traffic comes from: `COMMON.PROMETHEUS_CONFIG`.

use super::check::{Check, positive};
use crate::resolved::ResolvedConfig;

/// The preset, durations, concurrency, query sizes, TLS pair and query templates.
pub(super) fn check_prometheus(config: &ResolvedConfig, check: &mut Check<'_>) {
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
}
