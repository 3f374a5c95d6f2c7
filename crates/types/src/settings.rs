//! The knobs each stage takes, exactly as they appear under `COMMON` in the configuration file.
//!
//! Defaults are not written here: they live in the shipped `config/config.yaml`, which the
//! config crate embeds as its built-in layer, so that the documented file and the behaviour can
//! never disagree. Field docs here say what each knob means; the YAML file says the same to users.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::analysis::Severity;
use crate::recommendation::{CalculationMode, TrafficPattern};
use crate::secret::Secret;
use crate::series::AnomalyKind;

/// `COMMON.RATE_CALCULATION`: the v3 formula's constants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RateCalculationSettings {
    /// `adaptive` (full v3 chain) or `fixed` (peak × multiplier × cache × margin).
    pub calculation_mode: CalculationMode,
    /// Headroom over the effective peak (2.5 in v3).
    pub peak_multiplier: f64,
    /// Environment safety margin; set per environment under `DEPLOYMENT_OVERRIDES`.
    pub safety_margin: f64,
    /// Lowest limit ever emitted (requests/minute).
    pub min_rate_limit: f64,
    /// Highest limit ever emitted (requests/minute).
    pub max_rate_limit: f64,
    /// Limits are rounded **up** to a multiple of this…
    pub rounding_step: f64,
    /// …unless that could add more than this share of the limit: then to the largest 1-2-5 step
    /// that cannot (see [`Rounding`]).
    pub max_rounding_share: f64,
    /// If clamping leaves the limit below the effective peak, it is raised to this × peak.
    pub below_peak_factor: f64,
    /// Lower bound of the trend multiplier (the growth of the daily peaks' robust line over the
    /// horizon, applied only when its slope is significant).
    pub trend_min: f64,
    /// Upper bound of the trend multiplier.
    pub trend_max: f64,
    /// Recurring bursts are demand: the limit is at least their highest minute × this.
    pub burst_headroom: f64,
    /// Below this share of the window's grid points present, no limit is recommended: the
    /// deployed one stays and the report says why ("degrade, don't guess").
    pub min_data_coverage: f64,
    /// Nor with fewer days whose prime-time peak could be read.
    pub min_daily_peaks: usize,
    /// How traffic is classified, and each class's multiplier.
    pub traffic_pattern: TrafficPatternSettings,
}

impl RateCalculationSettings {
    /// The rounding rule of `rounding_step` and `max_rounding_share`.
    pub fn rounding(&self) -> Rounding {
        Rounding {
            step: self.rounding_step,
            max_share: self.max_rounding_share,
        }
    }
}

/// How limits are rounded up: to a multiple of `step` (100), except where one step is more than
/// `max_share` (5 %) of the limit. There the step shrinks to the largest of 1, 2, 5 × 10ᵏ that is
/// not, so a small limit stays a round number without growing by a fifth: 169 req/min becomes
/// 170, not 200. (Measured on the demo's series of 30–60 req/min: the 100 step set limits at
/// 5.9–6.5× the next week's peak, and a 10× client lost under half its excess in 10 of 36 calm
/// windows; with the shrinking step, in none.) Limits of 2,000 and more are rounded as before.
///
/// Calculate rounds its result with it and plan rounds the limits it makes (floor raises,
/// stepped cuts, degraded tiers), so both speak the same numbers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rounding {
    /// The configured step (`rounding_step`).
    pub step: f64,
    /// The most one step may add, as a share of the value (`max_rounding_share`).
    pub max_share: f64,
}

impl Rounding {
    /// The step used at `value`: `step`, or the largest 1-2-5 × 10ᵏ (at least 1) within
    /// `max_share` of `value` when `step` is not.
    pub fn step_at(&self, value: f64) -> f64 {
        let allowed = value * self.max_share;
        if self.step <= allowed || !allowed.is_finite() {
            return self.step;
        }
        if allowed < 1.0 {
            // Limits are whole requests: no step below 1.
            return self.step.min(1.0);
        }
        let decade = 10f64.powf(allowed.log10().floor());
        let nice = [5.0, 2.0, 1.0]
            .into_iter()
            .map(|m| m * decade)
            .find(|&s| s <= allowed)
            .unwrap_or(decade);
        nice.min(self.step)
    }

    /// `value` rounded up to a multiple of [`Self::step_at`] it; a tolerance keeps float noise
    /// (300.0000000001) from costing a whole step.
    pub fn up(&self, value: f64) -> f64 {
        let step = self.step_at(value);
        ((value / step) - 1e-9).ceil().max(1.0) * step
    }

    /// [`Self::up`] for a whole number of requests.
    pub fn up_whole(&self, value: u64) -> u64 {
        self.up(value as f64).round() as u64
    }

    /// The largest rounded value strictly below `value` (at least 0): one step down, for a cut
    /// that rounding would otherwise undo.
    pub fn below(&self, value: u64) -> u64 {
        let step = self.step_at(value as f64).max(1.0) as u64;
        value.saturating_sub(1) / step * step
    }
}

/// `COMMON.RATE_CALCULATION.traffic_pattern`: classification thresholds and multipliers.
///
/// Very spiky: peak/mean > `spike_threshold_high` **and** CV > `variability_threshold_high`;
/// moderately spiky: the same with the `_medium` thresholds; variable: peak/mean >
/// `variable_peak_to_mean` **or** CV > `variable_cv`; stable otherwise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrafficPatternSettings {
    /// Peak-to-mean ratio above which traffic may be very spiky.
    pub spike_threshold_high: f64,
    /// Peak-to-mean ratio above which traffic may be moderately spiky.
    pub spike_threshold_medium: f64,
    /// CV above which traffic may be very spiky.
    pub variability_threshold_high: f64,
    /// CV above which traffic may be moderately spiky.
    pub variability_threshold_medium: f64,
    /// Peak-to-mean ratio above which traffic is at least variable.
    pub variable_peak_to_mean: f64,
    /// CV above which traffic is at least variable.
    pub variable_cv: f64,
    /// The multiplier of each class.
    pub multipliers: PatternMultipliers,
}

/// Multiplier per traffic pattern. Spiky traffic gets less headroom because its daily peaks are
/// already far above its normal level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatternMultipliers {
    /// Of [`TrafficPattern::VerySpiky`] traffic.
    pub very_spiky: f64,
    /// Of [`TrafficPattern::ModeratelySpiky`] traffic.
    pub moderately_spiky: f64,
    /// Of [`TrafficPattern::Variable`] traffic.
    pub variable: f64,
    /// Of [`TrafficPattern::Stable`] traffic.
    pub stable: f64,
}

impl PatternMultipliers {
    /// The multiplier of `pattern`.
    pub fn of(&self, pattern: TrafficPattern) -> f64 {
        match pattern {
            TrafficPattern::VerySpiky => self.very_spiky,
            TrafficPattern::ModeratelySpiky => self.moderately_spiky,
            TrafficPattern::Variable => self.variable,
            TrafficPattern::Stable => self.stable,
        }
    }
}

/// `COMMON.CACHE_CONFIG`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheSettings {
    /// Apply a cache factor at all.
    pub enable_cache_adjustment: bool,
    /// Factor is `1 + hit_ratio × cache_hit_weight` when a hit ratio was measured.
    pub cache_hit_weight: f64,
    /// Factor used when no hit ratio was measured.
    pub cache_adjustment_factor: f64,
}

/// `COMMON.CONFIDENCE`: the original's four weighted factors and the level thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfidenceSettings {
    /// Weight of each factor in the score; they add up to 1.
    pub weights: ConfidenceWeights,
    /// Score at or above which the level is `high`.
    pub high: f64,
    /// Score at or above which the level is `medium` (below: `low`).
    pub medium: f64,
    /// Score by number of used points: first threshold the count is **at least**.
    pub data_volume: ScoreTable,
    /// Score by coefficient of variation: first threshold the CV is **below**.
    pub stability: ScoreTable,
    /// Score by share of used points inside prime time: first threshold the share is **at least**.
    pub prime_coverage: ScoreTable,
    /// Score by forecast quality, or by analysis method without a measured error.
    pub method: MethodScores,
}

/// `COMMON.CONFIDENCE.weights`: the weight of each factor in the confidence score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfidenceWeights {
    /// Of the number of used points.
    pub data_volume: f64,
    /// Of the coefficient of variation.
    pub stability: f64,
    /// Of the forecast's quality or the analysis method.
    pub method: f64,
    /// Of the share of used points inside prime time.
    pub prime_coverage: f64,
}

/// A step function: `scores[i]` for the first matching `thresholds[i]`, else `otherwise`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreTable {
    /// Thresholds in the order they are tried (the factor's doc says which way they compare).
    pub thresholds: Vec<f64>,
    /// Score of each threshold, pairwise.
    pub scores: Vec<f64>,
    /// Score when no threshold matches.
    pub otherwise: f64,
}

/// Score of the "method" factor: measured forecast quality when there is a forecast, else by
/// analysis method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MethodScores {
    /// By held-out sMAPE of the forecast: first threshold the error is **below**.
    pub forecast_error: ScoreTable,
    /// A forecast whose error could not be measured (window too short to hold days back).
    pub forecast: f64,
    /// No forecast, robust statistical filter.
    pub statistical: f64,
    /// No forecast and too little data to filter.
    pub none: f64,
}

/// How prime time is found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrimeTimeMethod {
    /// Per series, from its own hourly means (the fixed window is the fallback).
    Dynamic,
    /// The configured `[fixed_start_hour, fixed_end_hour)` window.
    Fixed,
}

/// `COMMON.PRIME_TIME_CONFIG`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrimeTimeSettings {
    /// Per series (`dynamic`), or the fixed window for all.
    pub detection_method: PrimeTimeMethod,
    /// IANA zone the hours are read in (prime time follows the audience's clock, DST included).
    pub timezone: chrono_tz::Tz,
    /// First prime-time hour (0–23).
    pub fixed_start_hour: u32,
    /// Hour prime time ends, exclusive (1–24; 24 = midnight).
    pub fixed_end_hour: u32,
    /// A day's peak counts only if at least this share of its prime-time points has usable data.
    pub min_day_coverage: f64,
    /// Dynamic: hours whose mean is at or above this percentile of the 24 hourly means…
    pub percentile_threshold: f64,
    /// …and that are among that day's top hours on at least this share of days…
    pub consistency_check: f64,
    /// …grouped into windows of at least this many minutes.
    pub min_duration_minutes: u32,
}

/// `COMMON.ANOMALY_CONFIG`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnomalySettings {
    /// z-score of a single point against its baseline (the forecast's in-sample band, or the
    /// robust hour-of-day baseline) at which it becomes anomalous with each severity.
    pub robust_zscore: SeverityThresholds,
    /// The spread a point is measured in is at least this share of its hour's median: benign
    /// drifts of a few percent must not look anomalous on busy series, where Poisson noise is
    /// tiny.
    pub min_relative_spread: f64,
    /// Deviations smaller than this many requests per minute are never anomalous: on sparse
    /// series they are noise, and they cannot move a limit whose floor is `min_rate_limit`.
    pub min_excess: f64,
    /// Deviations smaller than this share of the expected level are never anomalies (0.5: a
    /// run must average 1.5× normal, or half of it for a drop). Leaving a modest hump in the
    /// data only raises a limit a little; removing legitimate evening traffic as a "surge"
    /// would lower it, which is the costly mistake.
    pub min_relative_excess: f64,
    /// Severities whose events (of `kind_filter` kinds) are left out of the peak.
    pub severity_filter: Vec<Severity>,
    /// Kinds of event left out of the peak (default spike and surge). Drops cannot inflate a
    /// peak and gaps hold no data, so leaving them in changes nothing but the report's counts.
    pub kind_filter: Vec<AnomalyKind>,
    /// Runs above normal lasting at most this many minutes are spikes; longer ones are surges.
    pub spike_max_minutes: u32,
    /// Combined z-score of a run of points (their total against the expected total, in the
    /// count model's standard deviations, calibrated per run length) at which the run is a
    /// high-severity anomaly even if no single point crosses `robust_zscore.low`: a 3× burst
    /// on a 5 req/min series is within the noise minute by minute, not over five minutes.
    pub sustained_zscore: f64,
    /// Below this many present points, no anomaly filtering is attempted (method `none`).
    pub min_points: usize,
    /// Upward events (spikes, surges) on at least this many distinct days, spread over at
    /// least half the window, are a recurring pattern: demand, kept in the peak. Fewer are
    /// one-off anomalies and are removed. 0 disables the rule.
    pub recurring_min_days: usize,
}

/// `COMMON.ANOMALY_CONFIG.robust_zscore`: the z-score at which a point becomes anomalous with
/// each severity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeverityThresholds {
    /// Of [`Severity::Low`].
    pub low: f64,
    /// Of [`Severity::Medium`].
    pub medium: f64,
    /// Of [`Severity::High`].
    pub high: f64,
}

/// Per-partner and per-path multipliers (`PARTNER_CONFIGS.<env>.partner_multipliers`,
/// `COMMON.PATH_MULTIPLIERS`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MultiplierSettings {
    /// Partner id → multiplier (absent: 1.0).
    pub partner: BTreeMap<String, f64>,
    /// Substring of the API path → multiplier; the longest matching pattern wins (absent: 1.0).
    pub path: BTreeMap<String, f64>,
    /// Partner tiers and their multipliers (`COMMON.TIERS`, `PARTNER_CONFIGS.<env>.partner_tiers`).
    pub tiers: TierSettings,
}

/// `COMMON.TIERS`: service tiers (e.g. free / pro / enterprise), each with a multiplier on the
/// limit and the factor its limits are cut by in the degraded (load-shedding) profile.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TierSettings {
    /// Tier of partners that `partner_tiers` does not name.
    pub default_tier: String,
    /// Tier name → its settings.
    pub tiers: BTreeMap<String, Tier>,
    /// Partner id → tier name (`PARTNER_CONFIGS.<env>.partner_tiers`).
    #[serde(default)]
    pub partner_tiers: BTreeMap<String, String>,
}

/// One service tier of `COMMON.TIERS.tiers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tier {
    /// Multiplies the limit in the normal profile.
    pub multiplier: f64,
    /// Share of the normal limit kept in the degraded profile (0 < factor ≤ 1; the top tier
    /// keeps 1, lower tiers are cut hardest).
    pub degraded_factor: f64,
}

impl TierSettings {
    /// The tier of `partner` (its own, else the default) and its settings, if configured.
    pub fn tier_of(&self, partner: &str) -> (&str, Option<&Tier>) {
        let name = self
            .partner_tiers
            .get(partner)
            .map_or(self.default_tier.as_str(), String::as_str);
        (name, self.tiers.get(name))
    }
}

/// Rate-limit unit of the envoyproxy/ratelimit service. Only the units every ratelimit image
/// understands are offered (week/month/year need 2025 images).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateLimitUnit {
    /// Per second.
    Second,
    /// Per minute, the unit recommendations are computed in.
    Minute,
    /// Per hour.
    Hour,
    /// Per day.
    Day,
}

impl RateLimitUnit {
    /// The ratelimit service's spelling: `second`, `minute`, `hour`, `day`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Second => "second",
            Self::Minute => "minute",
            Self::Hour => "hour",
            Self::Day => "day",
        }
    }

    /// Length of one window in minutes (fractional for seconds).
    pub fn minutes(self) -> f64 {
        match self {
            Self::Second => 1.0 / 60.0,
            Self::Minute => 1.0,
            Self::Hour => 60.0,
            Self::Day => 1440.0,
        }
    }

    /// `ceil(requests_per_minute × minutes per unit)`, at least 1: the `requests_per_unit` the
    /// ratelimit file holds for a limit in requests per minute.
    ///
    /// Integer arithmetic rather than [`minutes`](Self::minutes): 1/60 is not exact in floating
    /// point, and a limit must never be rounded below the recommendation. Zero is lifted to 1
    /// because the service reads 0 as "block everything". The caller checks that the result fits
    /// the service's `uint32`.
    pub fn requests_per_unit(self, requests_per_minute: u64) -> u128 {
        let per_minute = u128::from(requests_per_minute.max(1));
        match self {
            Self::Second => per_minute.div_ceil(60),
            Self::Minute => per_minute,
            Self::Hour => per_minute * 60,
            Self::Day => per_minute * 1440,
        }
    }
}

/// `COMMON.CONFIGMAP`: what the emitted ConfigMap is called and how its descriptors are keyed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigMapSettings {
    /// The ConfigMap's name.
    pub name: String,
    /// The namespace it lives in.
    pub namespace: String,
    /// Ratelimit domain; must equal the `domain` of the Envoy rate-limit filter.
    pub domain: String,
    /// Key of the ConfigMap `data` entry holding the ratelimit YAML (one file per key).
    pub data_key: String,
    /// Descriptor key of the first level (the partner header's descriptor key).
    pub partner_descriptor_key: String,
    /// Descriptor key of the second level (the API path).
    pub path_descriptor_key: String,
    /// Unit of every emitted limit. Recommendations are per minute and are scaled to it.
    pub unit: RateLimitUnit,
    /// `metadata.labels` of the ConfigMap.
    pub labels: BTreeMap<String, String>,
    /// `metadata.annotations` of the ConfigMap.
    pub annotations: BTreeMap<String, String>,
}

/// `COMMON.LOCAL_RATELIMIT`: an optional Istio `EnvoyFilter` with Envoy's local (per-pod)
/// rate-limit filter, one token bucket per partner, as a backstop in front of the global
/// ratelimit service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalRateLimitSettings {
    /// Write `<env>_envoyfilter_<timestamp>.yaml` next to the ConfigMap (`--local-ratelimit`).
    pub enabled: bool,
    /// The EnvoyFilter's name.
    pub name: String,
    /// The namespace it lives in.
    pub namespace: String,
    /// `workloadSelector.labels` of the proxies that enforce it.
    pub workload_labels: BTreeMap<String, String>,
    /// Istio patch context: `GATEWAY`, `SIDECAR_INBOUND` or `SIDECAR_OUTBOUND`.
    pub context: String,
    /// Virtual host to patch (e.g. `inbound|http|8080`); empty: every virtual host.
    pub vhost: String,
    /// Request header that carries the partner id.
    pub partner_header: String,
    /// Proxies sharing the traffic: each gets the partner's budget divided by this, because a
    /// local bucket only sees its own pod's requests.
    pub replicas: u32,
    /// `max_tokens` = per-minute budget × this (≥ 1): how far a quiet minute's unused budget
    /// may carry into the next.
    pub burst_factor: f64,
}

/// `COMMON.ALERTS`: the Prometheus rules written with every run: each entry's limit and
/// utilisation as recorded series, and alerts on them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertSettings {
    /// Write `<env>_rules_<timestamp>.yaml` and `<env>_prometheusrule_<timestamp>.yaml`.
    pub enabled: bool,
    /// The namespace of the `PrometheusRule` object.
    pub namespace: String,
    /// Utilisation is the requests per minute over this window (a Prometheus duration) ÷ the
    /// limit.
    pub rate_window: String,
    /// An entry above this share of its limit (0–1]…
    pub approaching_share: f64,
    /// …for this long (a Prometheus duration) fires `TrendmasterRateLimitApproaching`.
    pub approaching_for: String,
    /// Requests rejected (the preset's `rejected_query`) for this long fire
    /// `TrendmasterRateLimitRejecting`.
    pub rejections_for: String,
}

/// A Prometheus duration (`5m`, `1h30m`, `90s`: whole numbers with a unit, largest unit
/// first) in minutes, or `None` when Prometheus would not accept it.
pub fn prometheus_duration_minutes(text: &str) -> Option<f64> {
    const UNITS: [(&str, f64); 7] = [
        ("y", 525_600.0),
        ("w", 10_080.0),
        ("d", 1_440.0),
        ("h", 60.0),
        ("m", 1.0),
        ("s", 1.0 / 60.0),
        ("ms", 1.0 / 60_000.0),
    ];
    let mut rest = text;
    let mut minutes = 0.0;
    let mut last_unit = None;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let number: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        // `ms` before `m`: the longest unit that matches.
        let (index, (unit, scale)) = UNITS
            .iter()
            .enumerate()
            .filter(|(_, (unit, _))| rest.starts_with(unit))
            .max_by_key(|(_, (unit, _))| unit.len())?;
        if last_unit.is_some_and(|last| index <= last) {
            return None;
        }
        last_unit = Some(index);
        minutes += number as f64 * scale;
        rest = &rest[unit.len()..];
    }
    last_unit.map(|_| minutes)
}

/// `COMMON.GLOBAL_RATELIMIT`: the Istio `EnvoyFilter` that wires Envoy to the ratelimit service
/// for the ConfigMap's descriptors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GlobalRateLimitSettings {
    /// Write `<env>_global_envoyfilter_<timestamp>.yaml` next to the ConfigMap.
    pub enabled: bool,
    /// The EnvoyFilter's name.
    pub name: String,
    /// The namespace it lives in.
    pub namespace: String,
    /// `workloadSelector.labels` of the proxies that call the service.
    pub workload_labels: BTreeMap<String, String>,
    /// Istio patch context: `GATEWAY`, `SIDECAR_INBOUND` or `SIDECAR_OUTBOUND`.
    pub context: String,
    /// Virtual host whose routes get the actions (e.g. `*:8080`); empty: every virtual host.
    pub vhost: String,
    /// Request header that carries the partner id (the local filter's `partner_header` must
    /// agree when both are enabled).
    pub partner_header: String,
    /// The Envoy cluster of the ratelimit service's gRPC port, as Istio names it
    /// (`outbound|8081||ratelimit.ratelimit.svc.cluster.local`).
    pub service_cluster: String,
    /// `:authority` of the gRPC calls; empty: Envoy's default (the cluster name).
    pub service_authority: String,
    /// How long a request waits for the service's answer (`100ms`, `1s`).
    pub timeout: String,
    /// Reject requests when the service cannot be reached (false: let them through).
    pub failure_mode_deny: bool,
    /// Add the `X-RateLimit-*` headers (draft 03) to responses.
    pub rate_limit_headers: bool,
}

/// `COMMON.GOVERNANCE`: how far a limit may move in one run without a person approving it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GovernanceSettings {
    /// A change above this ratio (up, or down by its inverse) against the deployed limit is held:
    /// the emitted ConfigMap keeps the deployed value until `--approve` releases it.
    pub max_change_ratio: f64,
    /// Nothing is written when more than this share of the deployed entries would be cut by
    /// more than `max_change_ratio` at once: a mass cut means broken data far more often than
    /// a fleet that shrank overnight. 1 disables the gate.
    pub max_cut_share: f64,
    /// A change smaller than this share of the deployed limit keeps the deployed value
    /// (status `kept`): a week's noise must not move limits. 0 disables the deadband.
    pub deadband: f64,
    /// A cut may take at most this share of the deployed limit per run (status `stepped`);
    /// raises take effect at once. Kubernetes' HPA stabilises scale-down the same way. 1
    /// allows any cut.
    pub max_cut_per_run: f64,
    /// A prime-time minute at or above this share of the deployed limit counts as saturated.
    pub saturated_level: f64,
    /// When at least this share of prime-time minutes is saturated, observed traffic
    /// understates demand: the series is not cut (status `censored`).
    pub saturated_share: f64,
    /// When the source reports at least this share of requests rejected (HTTP 429), the
    /// series is censored too.
    pub rejected_share: f64,
}

/// One rule of [`PrometheusSettings::path_rules`]: a whole path segment that matches
/// `segment` becomes `placeholder`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathRule {
    /// A regular expression (RE2, as Prometheus reads it) a whole segment must match, e.g.
    /// `[0-9]+` or a UUID's.
    pub segment: String,
    /// What the segment becomes, e.g. `{id}`: braces around a name.
    pub placeholder: String,
}

/// `COMMON.PROMETHEUS_CONFIG`: how traffic is read from Prometheus or Trickster, and how gently.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrometheusSettings {
    /// Name of the entry of `presets` to use (`nginx`, `istio`, or one of your own).
    pub preset: String,
    /// Preset name → its query templates and labels.
    pub presets: BTreeMap<String, QueryPreset>,
    /// Per-query timeout, e.g. `30s`.
    pub timeout: String,
    /// Queries in flight at once.
    pub concurrency: usize,
    /// Queries started per second, at most.
    pub queries_per_second: f64,
    /// Retries after the first attempt, for connection errors, timeouts, 5xx and 429.
    pub max_retries: u32,
    /// First backoff delay, e.g. `500ms`; doubles each retry (full jitter), capped by
    /// `retry_max_delay`.
    pub retry_base_delay: String,
    /// Longest backoff delay, e.g. `30s`.
    pub retry_max_delay: String,
    /// Consecutive failed queries after which no further query is sent.
    pub circuit_breaker_failures: u32,
    /// Points per series per `query_range` call; Prometheus refuses more than 11,000.
    pub max_points_per_query: usize,
    /// Partners per query: an API's partners are asked for in groups of this many, which bounds
    /// an answer's size and the memory of the series in flight (a fleet then costs
    /// APIs × ⌈partners / this⌉ × chunks queries, never one per partner × API).
    pub partners_per_query: usize,
    /// File holding a bearer token (read at start; `PROMETHEUS_TOKEN` wins).
    pub token_file: String,
    /// User name for HTTP basic authentication; empty: none.
    pub basic_auth_username: String,
    /// Password for HTTP basic authentication.
    pub basic_auth_password: Secret,
    /// Extra request headers, e.g. `X-Scope-OrgID` for Mimir.
    pub headers: BTreeMap<String, String>,
    /// PEM file of CA certificates to trust besides the system's.
    pub ca_file: String,
    /// PEM client certificate for mutual TLS (with `client_key`).
    pub client_cert: String,
    /// PEM private key of `client_cert`.
    pub client_key: String,
    /// Path segments folded into a placeholder when paths are discovered (`apis: auto`), so
    /// that `/users/12345/profile` and `/users/67890/profile` are one API,
    /// `/users/{id}/profile`; an API with a placeholder matches every path that folds to it.
    #[serde(default)]
    pub path_rules: Vec<PathRule>,
    /// Accept any server certificate (testing only).
    pub insecure_skip_verify: bool,
}

/// PromQL templates and the label names they use.
///
/// Placeholders: `{{metric}}`, `{{partner_label}}`, `{{path_label}}`, `{{matchers}}` (the
/// partner and path regex matchers plus `selector`), `{{step}}` (the grid step as a PromQL
/// duration) and `{{window}}` (the whole analysis window, for `cache_query`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryPreset {
    /// The request counter's metric name.
    pub metric: String,
    /// Label that carries the partner id.
    pub partner_label: String,
    /// Label that carries the API path.
    pub path_label: String,
    /// Extra label matchers added to every selector, e.g. `reporter="destination"`.
    pub selector: String,
    /// Range query returning requests per `{{step}}`, grouped by partner and path labels.
    pub query: String,
    /// Instant query returning the cache hit ratio per partner and path over the window; empty
    /// when the metric has no cache information.
    pub cache_query: String,
    /// Instant query returning the share of requests rejected (HTTP 429) per partner and path
    /// over the window; empty when the metric has no response code.
    #[serde(default)]
    pub rejected_query: String,
}

/// Which model forecasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ForecasterKind {
    /// MSTL with an AutoETS trend (fast, the default).
    Mstl,
    /// Prophet with the WASM-compiled Stan optimiser (needs the `prophet` build feature).
    Prophet,
    /// No forecast.
    None,
}

impl ForecasterKind {
    /// The configuration spelling: `mstl`, `prophet`, `none`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mstl => "mstl",
            Self::Prophet => "prophet",
            Self::None => "none",
        }
    }
}

/// `COMMON.FORECAST_CONFIG`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForecastSettings {
    /// Which model forecasts (`--forecaster`).
    pub forecaster: ForecasterKind,
    /// Decompose at this step (means of the finer grid), e.g. `5m`: a 14-day minute series
    /// becomes 4,032 points instead of 20,160.
    pub resolution: String,
    /// Days forecast past the window's end.
    pub horizon_days: u32,
    /// Prediction-interval level, e.g. 0.95.
    pub interval_level: f64,
    /// Days at the end of the window held back to measure forecast error.
    pub holdout_days: u32,
}

#[cfg(test)]
mod tests {
    use super::Rounding;

    const SHIPPED: Rounding = Rounding {
        step: 100.0,
        max_share: 0.05,
    };

    #[test]
    fn large_limits_round_to_the_configured_step() {
        assert_eq!(SHIPPED.up(2_000.0), 2_000.0);
        assert_eq!(SHIPPED.up(2_000.5), 2_100.0);
        assert_eq!(SHIPPED.up(20_650.0), 20_700.0);
        assert_eq!(SHIPPED.up(300.000_000_000_1 * 10.0), 3_000.0);
    }

    #[test]
    fn small_limits_round_to_a_1_2_5_step_within_the_share() {
        // 5 % of 169 is 8.45: step 5. Of 306: 15.3, step 10. Of 1,234: 61.7, step 50.
        assert_eq!(SHIPPED.up(169.17), 170.0);
        assert_eq!(SHIPPED.up(306.19), 310.0);
        assert_eq!(SHIPPED.up(1_234.0), 1_250.0);
        assert_eq!(SHIPPED.up(1_999.0), 2_000.0);
        assert_eq!(SHIPPED.up(12.3), 13.0);
        for value in [1.0, 7.5, 99.0, 101.0, 450.0, 999.9, 1_500.0, 7_777.0] {
            let rounded = SHIPPED.up(value);
            assert!(
                rounded >= value && rounded <= value * 1.05 + 1.0,
                "{value} → {rounded}"
            );
        }
    }

    #[test]
    fn a_large_share_keeps_the_fixed_step() {
        let fixed = Rounding {
            step: 100.0,
            max_share: 10.0,
        };
        assert_eq!(fixed.up(169.17), 200.0);
        assert_eq!(fixed.up(31.0), 100.0);
        let one = Rounding {
            step: 100.0,
            max_share: 1.0,
        };
        // A 100 step would add 69 to 31 (more than 100 %): 20 adds at most 31.
        assert_eq!(one.up(31.0), 40.0);
    }

    #[test]
    fn one_step_below_uses_the_step_at_the_value() {
        assert_eq!(SHIPPED.below(400), 380);
        assert_eq!(SHIPPED.below(4_000), 3_900);
        assert_eq!(SHIPPED.below(1), 0);
    }
}

#[cfg(test)]
mod duration_tests {
    use super::prometheus_duration_minutes as minutes;

    #[test]
    fn prometheus_durations_are_read_as_prometheus_reads_them() {
        assert_eq!(minutes("5m"), Some(5.0));
        assert_eq!(minutes("1h30m"), Some(90.0));
        assert_eq!(minutes("90s"), Some(1.5));
        assert_eq!(minutes("500ms"), Some(500.0 / 60_000.0));
        assert_eq!(minutes("2d"), Some(2_880.0));
        for bad in ["", "5", "m", "5 minutes", "30m1h", "5m5m", "1.5h", "-5m"] {
            assert_eq!(minutes(bad), None, "{bad}");
        }
    }
}
