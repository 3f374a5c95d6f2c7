//! The envoyproxy/ratelimit service's configuration file, as a typed model.
//!
//! The model covers the loader's whole schema (`src/config/config_impl.go`), not only what
//! trendmaster emits, so that [`validate_ratelimit_yaml`] can hand back any file the loader
//! accepts without dropping fields. Optional fields are left out of the YAML when unset, and
//! fields come out in the order the upstream README documents them.

mod loader_rules;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use trendmaster_types::RateRecommendation;
use trendmaster_types::settings::ConfigMapSettings;

use crate::EmitError;
use crate::deployed::{self, Approvals, Rollout};

pub use loader_rules::{
    LoaderError, RuleSource, validate_ratelimit_files, validate_ratelimit_yaml,
};

/// One ratelimit config file: a domain and its descriptor tree.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RateLimitConfig {
    pub domain: String,
    #[serde(default)]
    pub descriptors: Vec<Descriptor>,
}

/// One level of the descriptor tree. A request descriptor matches a path exactly as deep as it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Descriptor {
    pub key: String,
    /// Absent: the default entry for `key` at this level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Absent (and no nested descriptors): requests matching here are not limited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow_mode: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detailed_metric: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_to_metric: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_threshold: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota_mode: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_yaml::Mapping>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub descriptors: Vec<Descriptor>,
}

/// The limit applied where a descriptor path ends.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RateLimit {
    /// `second`, `minute`, `hour`, `day` (newer images also `week`, `month`, `year`); empty only
    /// for an unlimited entry.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub unit: String,
    /// 0 blocks every request, which is why the validator refuses it.
    #[serde(default)]
    pub requests_per_unit: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unlimited: Option<bool>,
    /// Target for another limit's `replaces`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replaces: Vec<Replaces>,
}

/// One entry of `rate_limit.replaces`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Replaces {
    pub name: String,
}

impl RateLimitConfig {
    /// Two levels, partner then API path, each path carrying its limit in `settings.unit`.
    ///
    /// Partners and paths come out sorted (by [`SeriesKey`](trendmaster_types::SeriesKey)'s order), whatever the order of
    /// `recs`, so the same recommendations always give the same file.
    pub fn from_recommendations(
        recs: &[RateRecommendation],
        settings: &ConfigMapSettings,
    ) -> Result<Self, EmitError> {
        let mut recommended = BTreeMap::new();
        for rec in recs {
            if recommended
                .insert(rec.key.clone(), rec.requests_per_minute)
                .is_some()
            {
                return Err(EmitError::DuplicateSeries {
                    series: rec.key.clone(),
                });
            }
        }
        // With nothing deployed every entry is new, so the ratio and approvals play no part.
        let plan = deployed::plan(&recommended, None, f64::INFINITY, &Approvals::None);
        deployed::planned_config(&plan, None, settings, Rollout::Enforce)
    }

    /// The file as the ratelimit service reads it (no header; see [`crate::configmap`]).
    pub fn to_yaml(&self) -> Result<String, EmitError> {
        serde_yaml::to_string(self).map_err(|source| EmitError::Serialize {
            what: format!("ratelimit config for domain {}", self.domain),
            source,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use trendmaster_types::settings::RateLimitUnit;
    use trendmaster_types::{
        AnalysisMethod, AnalysisResult, AnalysisWindow, CacheAdjustment, CalculationMode,
        Confidence, ConfidenceLevel, PointCounts, PrimeTimeWindow, SeriesKey, SeriesStats,
        TrafficPattern,
    };

    pub(crate) fn settings() -> ConfigMapSettings {
        ConfigMapSettings {
            name: "ratelimit-config".into(),
            namespace: "istio-system".into(),
            domain: "global-ratelimit".into(),
            data_key: "config.yaml".into(),
            partner_descriptor_key: "PARTNER".into(),
            path_descriptor_key: "PATH".into(),
            unit: RateLimitUnit::Minute,
            labels: [(
                "app.kubernetes.io/instance".to_owned(),
                "orp2-istio-ratelimit".to_owned(),
            )]
            .into(),
            annotations: BTreeMap::new(),
        }
    }

    pub(crate) fn window() -> AnalysisWindow {
        let end: DateTime<Utc> = "2026-11-15T00:00:00Z".parse().unwrap();
        AnalysisWindow::ending_at(end, 14, 60)
    }

    /// A recommendation with just enough filled in for the emitters.
    pub(crate) fn rec(partner: &str, api: &str, requests_per_minute: u64) -> RateRecommendation {
        let key = SeriesKey::new(partner, api);
        RateRecommendation {
            key: key.clone(),
            requests_per_minute,
            mode: CalculationMode::Adaptive,
            effective_peak: requests_per_minute as f64 / 4.5,
            pattern: TrafficPattern::Stable,
            cache: CacheAdjustment::Fallback { factor: 1.2 },
            steps: Vec::new(),
            confidence: Confidence {
                score: 0.7625,
                level: ConfidenceLevel::Medium,
                factors: Vec::new(),
            },
            analysis: AnalysisResult {
                key,
                window: window(),
                method: AnalysisMethod::Statistical,
                points: PointCounts::default(),
                stats: SeriesStats::default(),
                prime_time: PrimeTimeWindow::from_range(9, 21, "Europe/Berlin", "configured"),
                daily_peaks: Vec::new(),
                days_skipped: 0,
                anomalies: Vec::new(),
                forecast: trendmaster_types::ForecastOutcome::Disabled,
                chart: None,
            },
        }
    }

    #[test]
    fn descriptors_are_partner_then_path_sorted_whatever_the_input_order() {
        let recs = [
            rec("222", "/b", 10),
            rec("111", "/z", 20),
            rec("111", "/a", 30),
        ];
        let config = RateLimitConfig::from_recommendations(&recs, &settings()).unwrap();
        assert_eq!(config.domain, "global-ratelimit");
        let shape: Vec<(String, Vec<(String, u32)>)> = config
            .descriptors
            .iter()
            .map(|partner| {
                assert_eq!(partner.key, "PARTNER");
                assert!(partner.rate_limit.is_none());
                let paths = partner
                    .descriptors
                    .iter()
                    .map(|path| {
                        assert_eq!(path.key, "PATH");
                        let limit = path.rate_limit.as_ref().unwrap();
                        assert_eq!(limit.unit, "minute");
                        (path.value.clone().unwrap(), limit.requests_per_unit)
                    })
                    .collect();
                (partner.value.clone().unwrap(), paths)
            })
            .collect();
        assert_eq!(
            shape,
            [
                ("111".into(), vec![("/a".into(), 30), ("/z".into(), 20)]),
                ("222".into(), vec![("/b".into(), 10)]),
            ]
        );
    }

    #[test]
    fn limits_are_scaled_to_the_unit_and_rounded_up() {
        let scaled = |rpm, unit| {
            let settings = ConfigMapSettings { unit, ..settings() };
            let config =
                RateLimitConfig::from_recommendations(&[rec("p", "/a", rpm)], &settings).unwrap();
            config.descriptors[0].descriptors[0]
                .rate_limit
                .as_ref()
                .unwrap()
                .requests_per_unit
        };
        assert_eq!(scaled(120, RateLimitUnit::Second), 2);
        assert_eq!(scaled(121, RateLimitUnit::Second), 3);
        assert_eq!(scaled(1, RateLimitUnit::Second), 1);
        assert_eq!(scaled(0, RateLimitUnit::Minute), 1);
        assert_eq!(scaled(7, RateLimitUnit::Hour), 420);
        assert_eq!(scaled(7, RateLimitUnit::Day), 10_080);
    }

    #[test]
    fn a_limit_beyond_uint32_names_the_series() {
        let settings = ConfigMapSettings {
            unit: RateLimitUnit::Day,
            ..settings()
        };
        let err =
            RateLimitConfig::from_recommendations(&[rec("acme", "/big", 3_000_000)], &settings)
                .unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, EmitError::LimitTooLarge { .. }), "{message}");
        assert!(message.contains("acme:/big"), "{message}");
        assert!(message.contains("4320000000 requests per day"), "{message}");
    }

    #[test]
    fn the_same_series_twice_is_refused() {
        let err = RateLimitConfig::from_recommendations(
            &[rec("acme", "/a", 1), rec("acme", "/a", 2)],
            &settings(),
        )
        .unwrap_err();
        assert!(matches!(err, EmitError::DuplicateSeries { .. }));
        assert!(err.to_string().contains("acme:/a"), "{err}");
    }

    #[test]
    fn yaml_puts_fields_in_loader_order_and_leaves_unset_ones_out() {
        let config =
            RateLimitConfig::from_recommendations(&[rec("111", "/a", 5)], &settings()).unwrap();
        let yaml = config.to_yaml().unwrap();
        assert_eq!(
            yaml,
            "domain: global-ratelimit\n\
             descriptors:\n\
             - key: PARTNER\n  value: '111'\n  descriptors:\n\
             \x20 - key: PATH\n    value: /a\n    rate_limit:\n      unit: minute\n      requests_per_unit: 5\n"
        );
        let back: RateLimitConfig = serde_yaml::from_str(&yaml).unwrap();
        assert_eq!(back, config);
    }
}
