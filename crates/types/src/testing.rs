//! Small values for unit tests of the stages that consume these types (feature `testing`,
//! enabled only in dev-dependencies), so that each stage's tests build them the same way.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::analysis::{AnalysisMethod, AnalysisResult, PointCounts, PrimeTimeWindow, SeriesStats};
use crate::recommendation::{
    CacheAdjustment, CalculationMode, Confidence, ConfidenceLevel, RateRecommendation,
    TrafficPattern,
};
use crate::series::{AnalysisWindow, SeriesKey};
use crate::settings::{
    ConfigMapSettings, GlobalRateLimitSettings, LocalRateLimitSettings, RateLimitUnit,
};

/// The ConfigMap settings of the shipped configuration (`PARTNER` → `PATH`, per minute), with
/// one label.
pub fn configmap_settings() -> ConfigMapSettings {
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

/// The shipped `LOCAL_RATELIMIT`, enabled, with 3 replicas and a burst factor of 1.5.
pub fn local_ratelimit_settings() -> LocalRateLimitSettings {
    LocalRateLimitSettings {
        enabled: true,
        name: "trendmaster-local-ratelimit".into(),
        namespace: "istio-system".into(),
        workload_labels: [("istio".to_owned(), "ingressgateway".to_owned())].into(),
        context: "GATEWAY".into(),
        vhost: String::new(),
        partner_header: "x-partner-id".into(),
        replicas: 3,
        burst_factor: 1.5,
    }
}

/// The shipped `GLOBAL_RATELIMIT`.
pub fn global_ratelimit_settings() -> GlobalRateLimitSettings {
    GlobalRateLimitSettings {
        enabled: true,
        name: "trendmaster-global-ratelimit".into(),
        namespace: "istio-system".into(),
        workload_labels: [("istio".to_owned(), "ingressgateway".to_owned())].into(),
        context: "GATEWAY".into(),
        vhost: String::new(),
        partner_header: "x-partner-id".into(),
        service_cluster: "outbound|8081||ratelimit.ratelimit.svc.cluster.local".into(),
        service_authority: "ratelimit.ratelimit.svc.cluster.local".into(),
        timeout: "100ms".into(),
        failure_mode_deny: false,
        rate_limit_headers: false,
    }
}

/// Fourteen days at one minute, ending 2026-11-15T00:00:00Z.
pub fn window() -> AnalysisWindow {
    let end: DateTime<Utc> = "2026-11-15T00:00:00Z".parse().expect("a fixed time");
    AnalysisWindow::ending_at(end, 14, 60)
}

/// A recommendation with just enough filled in for the emitters and the reports.
pub fn recommendation(partner: &str, api: &str, requests_per_minute: u64) -> RateRecommendation {
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
            forecast: crate::analysis::ForecastOutcome::Disabled,
            recurring_bursts: None,
            trend: None,
            saturation: None,
            chart: None,
        },
    }
}
