//! Prometheus rules that put the limits where an SRE already looks: each entry's limit and
//! utilisation as recorded series, and alerts when an entry runs close to its limit or has
//! requests rejected. Written with every run twice: as a plain rule file (`rule_files:` of a
//! Prometheus, `promtool check rules`) and as the same groups in a prometheus-operator
//! `PrometheusRule` object (`monitoring.coreos.com/v1`), as sloth turns an SLO spec into both.
//!
//! Series, each with `environment`, `partner` and `path` labels (`path` is the configured API,
//! whatever the preset's path label is called):
//! - `trendmaster_rate_limit_requests_per_minute`: the emitted limit, a constant;
//! - `trendmaster_rate_limit_utilisation`: the entry's traffic in requests per minute, read by
//!   the source's own query (the caller renders it, see [`WatchedLimit::traffic`]), ÷ the limit;
//! - `trendmaster_rate_limit_rejected_share`: the share of its requests rejected, where the
//!   query preset can see rejections (`rejected_query`).
//!
//! One rule per entry and series, not one rule joined against a generated series: each entry's
//! traffic needs its own path matchers (paths match as substrings, and a longer API's paths are
//! left out), which no single `on (partner, path)` join can express.
//!
//! This module renders text; it does not know PromQL beyond the alerts' thresholds (the
//! traffic expressions come from the fetch stage's preset) and does not load or apply rules.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;
use trendmaster_types::SeriesKey;
use trendmaster_types::settings::AlertSettings;

use crate::configmap::{GenerationInfo, Stamp};
use crate::error::EmitError;

/// The recorded limit.
pub const LIMIT_SERIES: &str = "trendmaster_rate_limit_requests_per_minute";
/// The recorded traffic ÷ limit.
pub const UTILISATION_SERIES: &str = "trendmaster_rate_limit_utilisation";
/// The recorded share of requests rejected.
pub const REJECTED_SERIES: &str = "trendmaster_rate_limit_rejected_share";

/// One entry for the rules: its limit and how to read its traffic.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchedLimit {
    /// The partner × API entry.
    pub key: SeriesKey,
    /// The emitted limit.
    pub requests_per_minute: u64,
    /// PromQL: the entry's traffic in requests per minute.
    pub traffic: String,
    /// PromQL: the share of the entry's requests rejected, when the source can see them.
    pub rejected_share: Option<String>,
}

/// The rules as a plain rule file and as a `PrometheusRule` manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedRules {
    /// `groups:` for a Prometheus's `rule_files`.
    pub rule_file: String,
    /// The same groups in a `PrometheusRule` object.
    pub prometheus_rule: String,
    /// How many rules each holds (recording and alerting).
    pub rules: usize,
}

#[derive(Debug, Serialize)]
struct RuleFile {
    groups: Vec<RuleGroup>,
}

#[derive(Debug, Serialize)]
struct RuleGroup {
    name: String,
    rules: Vec<Rule>,
}

#[derive(Debug, Serialize)]
struct Rule {
    #[serde(skip_serializing_if = "Option::is_none")]
    record: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    alert: Option<String>,
    expr: String,
    #[serde(rename = "for", skip_serializing_if = "Option::is_none")]
    for_: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
}

impl Rule {
    fn record(name: &str, expr: String, labels: BTreeMap<String, String>) -> Rule {
        Rule {
            record: Some(name.into()),
            alert: None,
            expr,
            for_: None,
            labels,
            annotations: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PrometheusRule {
    api_version: &'static str,
    kind: &'static str,
    metadata: ObjectMeta,
    spec: RuleFile,
}

/// The rules for `limits` in `info.environment`.
pub fn render_rules(
    limits: &[WatchedLimit],
    settings: &AlertSettings,
    info: &GenerationInfo,
) -> Result<RenderedRules, EmitError> {
    let environment = &info.environment;
    let mut recorded = Vec::with_capacity(limits.len() * 3);
    for limit in limits {
        let labels = BTreeMap::from([
            ("environment".to_string(), environment.clone()),
            ("partner".to_string(), limit.key.partner.clone()),
            ("path".to_string(), limit.key.api.clone()),
        ]);
        let per_minute = limit.requests_per_minute;
        recorded.push(Rule::record(
            LIMIT_SERIES,
            format!("vector({per_minute})"),
            labels.clone(),
        ));
        // A limit of 0 blocks every request: there is no share of it to record.
        if per_minute > 0 {
            recorded.push(Rule::record(
                UTILISATION_SERIES,
                format!("({}) / {per_minute}", limit.traffic),
                labels.clone(),
            ));
        }
        if let Some(rejected) = &limit.rejected_share {
            recorded.push(Rule::record(REJECTED_SERIES, rejected.clone(), labels));
        }
    }
    let mut alerts = vec![Rule {
        record: None,
        alert: Some("TrendmasterRateLimitApproaching".into()),
        expr: format!(
            "{UTILISATION_SERIES}{{environment=\"{environment}\"}} > {}",
            settings.approaching_share
        ),
        for_: Some(settings.approaching_for.clone()),
        labels: BTreeMap::from([("severity".to_string(), "warning".to_string())]),
        annotations: BTreeMap::from([
            (
                "summary".to_string(),
                "Partner {{ $labels.partner }} on {{ $labels.path }} runs at {{ $value | humanizePercentage }} of its rate limit".to_string(),
            ),
            (
                "description".to_string(),
                format!(
                    "Above {} of the limit trendmaster set for {{{{ $labels.environment }}}} for {}: a legitimate peak may soon be throttled; check the partner's traffic and the next run's recommendation.",
                    percent(settings.approaching_share),
                    settings.approaching_for
                ),
            ),
        ]),
    }];
    if limits.iter().any(|l| l.rejected_share.is_some()) {
        alerts.push(Rule {
            record: None,
            alert: Some("TrendmasterRateLimitRejecting".into()),
            expr: format!("{REJECTED_SERIES}{{environment=\"{environment}\"}} > 0"),
            for_: Some(settings.rejections_for.clone()),
            labels: BTreeMap::from([("severity".to_string(), "warning".to_string())]),
            annotations: BTreeMap::from([(
                "summary".to_string(),
                "Partner {{ $labels.partner }} on {{ $labels.path }} has {{ $value | humanizePercentage }} of its requests rejected (HTTP 429)".to_string(),
            )]),
        });
    }
    let rules = recorded.len() + alerts.len();
    let file = RuleFile {
        groups: vec![
            RuleGroup {
                name: format!("trendmaster-limits-{environment}"),
                rules: recorded,
            },
            RuleGroup {
                name: format!("trendmaster-alerts-{environment}"),
                rules: alerts,
            },
        ],
    };
    let header = header(info);
    let rule_file = format!("{header}{}", to_yaml(&file)?);
    let object = PrometheusRule {
        api_version: "monitoring.coreos.com/v1",
        kind: "PrometheusRule",
        metadata: ObjectMeta {
            name: Some(format!("trendmaster-{environment}")),
            namespace: Some(settings.namespace.clone()),
            labels: Some(BTreeMap::from([(
                "app.kubernetes.io/managed-by".to_string(),
                "trendmaster".to_string(),
            )])),
            ..ObjectMeta::default()
        },
        spec: file,
    };
    let prometheus_rule = format!("{header}{}", to_yaml(&object)?);
    Ok(RenderedRules {
        rule_file,
        prometheus_rule,
        rules,
    })
}

/// `0.8` as `80 %`.
fn percent(share: f64) -> String {
    format!("{} %", (share * 1000.0).round() / 10.0)
}

/// The generated-by comment, as the ConfigMap's: the window only with [`Stamp::Windowed`].
fn header(info: &GenerationInfo) -> String {
    match info.stamp {
        Stamp::Windowed => format!(
            "# Generated by trendmaster {} for {} from {} ({} to {}). Regenerated by every run.\n",
            info.tool_version,
            info.environment,
            info.source,
            info.window.start.format("%Y-%m-%d %H:%M UTC"),
            info.window.end.format("%Y-%m-%d %H:%M UTC"),
        ),
        Stamp::Stable => format!(
            "# Generated by trendmaster {} for {} from {}. Regenerated by every run; the analysed \
             window is in the run's report and JSON result.\n",
            info.tool_version, info.environment, info.source,
        ),
    }
}

fn to_yaml(value: &impl Serialize) -> Result<String, EmitError> {
    serde_yaml::to_string(value).map_err(|e| EmitError::Rules {
        reason: format!("cannot write the rules as YAML: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> GenerationInfo {
        crate::configmap::test_info()
    }

    fn settings() -> AlertSettings {
        AlertSettings {
            enabled: true,
            namespace: "monitoring".into(),
            rate_window: "5m".into(),
            approaching_share: 0.8,
            approaching_for: "15m".into(),
            rejections_for: "5m".into(),
        }
    }

    fn watched(partner: &str, api: &str, limit: u64, rejected: bool) -> WatchedLimit {
        WatchedLimit {
            key: SeriesKey::new(partner, api),
            requests_per_minute: limit,
            traffic: format!("sum(rate(m{{partner=\"{partner}\"}}[5m])) * 60"),
            rejected_share: rejected.then(|| "sum(x) / sum(y)".to_string()),
        }
    }

    #[test]
    fn a_stable_stamp_leaves_the_window_out_of_the_header() {
        let limits = [watched("111", "/a", 2300, false)];
        let windowed = render_rules(&limits, &settings(), &info()).unwrap();
        assert!(
            windowed
                .rule_file
                .contains("(2026-11-01 00:00 UTC to 2026-11-15 00:00 UTC)")
        );
        let stable = render_rules(&limits, &settings(), &info().stable()).unwrap();
        for text in [&stable.rule_file, &stable.prometheus_rule] {
            assert!(
                text.starts_with(
                    "# Generated by trendmaster 0.1.0 for testing from demo. Regenerated by \
                     every run; the analysed window is in the run's report and JSON result.\n"
                ),
                "{text}"
            );
            assert!(!text.contains("2026-11-"), "{text}");
        }
    }

    #[test]
    fn each_entry_records_its_limit_and_utilisation_and_the_alerts_read_them() {
        let limits = [
            watched("111", "/a", 2300, false),
            watched("222", "/b", 40, false),
        ];
        let rendered = render_rules(&limits, &settings(), &info()).unwrap();
        let file: serde_yaml::Value = serde_yaml::from_str(&rendered.rule_file).unwrap();
        let groups = file["groups"].as_sequence().unwrap();
        assert_eq!(groups.len(), 2);
        let recorded = groups[0]["rules"].as_sequence().unwrap();
        assert_eq!(recorded.len(), 4);
        assert_eq!(recorded[0]["record"], LIMIT_SERIES);
        assert_eq!(recorded[0]["expr"], "vector(2300)");
        assert_eq!(recorded[0]["labels"]["partner"], "111");
        assert_eq!(recorded[0]["labels"]["path"], "/a");
        assert_eq!(recorded[0]["labels"]["environment"], "testing");
        assert_eq!(recorded[3]["record"], UTILISATION_SERIES);
        assert_eq!(
            recorded[3]["expr"],
            "(sum(rate(m{partner=\"222\"}[5m])) * 60) / 40"
        );
        let alerts = groups[1]["rules"].as_sequence().unwrap();
        // No preset query for rejections: no rejection alert.
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0]["alert"], "TrendmasterRateLimitApproaching");
        assert_eq!(
            alerts[0]["expr"],
            "trendmaster_rate_limit_utilisation{environment=\"testing\"} > 0.8"
        );
        assert_eq!(alerts[0]["for"], "15m");
        assert_eq!(rendered.rules, 5);
        assert!(
            rendered
                .rule_file
                .starts_with("# Generated by trendmaster 0.1.0")
        );

        let object: serde_yaml::Value = serde_yaml::from_str(&rendered.prometheus_rule).unwrap();
        assert_eq!(object["apiVersion"], "monitoring.coreos.com/v1");
        assert_eq!(object["kind"], "PrometheusRule");
        assert_eq!(object["metadata"]["name"], "trendmaster-testing");
        assert_eq!(object["metadata"]["namespace"], "monitoring");
        assert_eq!(object["spec"], file);
    }

    #[test]
    fn rejections_are_recorded_and_alerted_where_the_preset_sees_them() {
        let limits = [
            watched("111", "/a", 100, true),
            watched("111", "/b", 100, false),
        ];
        let rendered = render_rules(&limits, &settings(), &info()).unwrap();
        let file: serde_yaml::Value = serde_yaml::from_str(&rendered.rule_file).unwrap();
        let recorded = file["groups"][0]["rules"].as_sequence().unwrap();
        let rejected: Vec<_> = recorded
            .iter()
            .filter(|r| r["record"] == REJECTED_SERIES)
            .collect();
        assert_eq!(rejected.len(), 1);
        assert_eq!(rejected[0]["labels"]["path"], "/a");
        let alerts = file["groups"][1]["rules"].as_sequence().unwrap();
        assert_eq!(alerts[1]["alert"], "TrendmasterRateLimitRejecting");
        assert_eq!(alerts[1]["for"], "5m");
    }

    #[test]
    fn a_zero_limit_is_recorded_without_a_utilisation() {
        let rendered =
            render_rules(&[watched("111", "/a", 0, false)], &settings(), &info()).unwrap();
        let file: serde_yaml::Value = serde_yaml::from_str(&rendered.rule_file).unwrap();
        let recorded = file["groups"][0]["rules"].as_sequence().unwrap();
        assert_eq!(recorded.len(), 1);
        assert_eq!(recorded[0]["expr"], "vector(0)");
    }
}
