//! The validated result of loading: [`ResolvedConfig`], what every later stage reads instead of
//! files or environment variables.

use serde::Serialize;
use std::path::PathBuf;
use trendmaster_types::settings::{
    AlertSettings, AnomalySettings, CacheSettings, ConfidenceSettings, ConfigMapSettings,
    ForecastSettings, GlobalRateLimitSettings, GovernanceSettings, LocalRateLimitSettings,
    MultiplierSettings, PrimeTimeSettings, PrometheusSettings, RateCalculationSettings,
};
use trendmaster_types::{Secret, SeriesKey, SkippedSeries, SourceKind};

use crate::detect::EnvironmentInfo;
use crate::schema::Exclusions;

/// Everything a run needs to know, validated. Serialises with secrets redacted.
#[derive(Debug, Clone, Serialize)]
pub struct ResolvedConfig {
    /// The selected environment, and how it was selected.
    pub environment: EnvironmentInfo,
    /// The layers that were read, lowest first.
    pub config_files: Vec<String>,
    /// Where traffic comes from (`--source`, `TRENDMASTER_SOURCE`, `DATA_SOURCE`).
    pub source: SourceKind,
    /// Prometheus or Trickster base URL (`--prometheus-url`, `PROMETHEUS_URL`).
    pub prometheus_url: String,
    /// Bearer token (`PROMETHEUS_TOKEN`); `None` when empty or unset.
    pub prometheus_token: Option<Secret>,
    /// `COMMON.PROMETHEUS_CONFIG` with the query flags applied.
    pub prometheus: PrometheusSettings,
    /// Never change a cluster (`DRY_RUN`).
    pub dry_run: bool,
    /// `--apply` and `--rollback` need `--confirm-production`.
    pub protected: bool,
    /// kubeconfig context (`ENVIRONMENTS.<env>.KUBE_CONTEXT`); empty: the default.
    pub kube_context: String,
    /// Analyse the deployed entries instead of the configured lists (when a deployed
    /// ConfigMap is read and neither `--partners` nor `--apis` narrowed the selection).
    pub discover_from_deployed: bool,
    /// Selected partners (all configured ones unless `--partners` narrowed them). Under
    /// discovery ([`Discovery::partners`]), a filter on what the data has; empty: no filter.
    pub partners: Vec<String>,
    /// Selected API paths (all configured ones unless `--apis` narrowed them); as `partners`
    /// under [`Discovery::apis`].
    pub apis: Vec<String>,
    /// `partners: auto` / `apis: auto` (or `--partners auto` / `--apis auto`).
    pub discovery: Discovery,
    /// Length of the analysis window, in days (`--days`, `COMMON.DATA.days`).
    pub days: u32,
    /// Grid step in seconds (`--step`, `COMMON.DATA.step`); divides one hour.
    pub step_secs: u32,
    /// Seed of the demo traffic simulator (`--seed`, `COMMON.DATA.demo_seed`).
    pub demo_seed: u64,
    /// Where output is written (`--output-dir`, `TRENDMASTER_OUTPUT_DIR`, `COMMON.OUTPUT`).
    pub output_dir: PathBuf,
    /// `COMMON.OUTPUT.max_charts`: at most this many series get a chart (the largest changes
    /// against the deployed limits, else the largest limits), so that a fleet's report stays
    /// readable and small.
    pub max_charts: usize,
    /// `COMMON.RATE_CALCULATION`, with `--mode` applied.
    pub rate: RateCalculationSettings,
    /// `COMMON.CACHE_CONFIG`.
    pub cache: CacheSettings,
    /// `COMMON.CONFIDENCE`.
    pub confidence: ConfidenceSettings,
    /// `COMMON.PRIME_TIME_CONFIG`.
    pub prime_time: PrimeTimeSettings,
    /// `COMMON.ANOMALY_CONFIG`.
    pub anomaly: AnomalySettings,
    /// `COMMON.FORECAST_CONFIG`, with `--forecaster` applied.
    pub forecast: ForecastSettings,
    /// The environment's partner multipliers and tiers, `COMMON.PATH_MULTIPLIERS` and
    /// `COMMON.TIERS`.
    pub multipliers: MultiplierSettings,
    /// `COMMON.EXCLUSIONS`.
    pub exclusions: Exclusions,
    /// `COMMON.CONFIGMAP`.
    pub configmap: ConfigMapSettings,
    /// `COMMON.GOVERNANCE`.
    pub governance: GovernanceSettings,
    /// `COMMON.LOCAL_RATELIMIT`.
    pub local_ratelimit: LocalRateLimitSettings,
    /// `COMMON.GLOBAL_RATELIMIT`.
    pub global_ratelimit: GlobalRateLimitSettings,
    /// `COMMON.ALERTS`.
    pub alerts: AlertSettings,
}

/// What is taken from the data rather than from the configured lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Discovery {
    /// Every partner the data has (narrowed by [`ResolvedConfig::partners`] when it is set).
    pub partners: bool,
    /// Every API path the data has (narrowed by [`ResolvedConfig::apis`] when it is set).
    pub apis: bool,
    /// `PARTNER_CONFIGS.<env>.max_series`: more discovered series than this is an error.
    pub max_series: usize,
}

impl Discovery {
    /// Whether anything is discovered.
    pub fn any(&self) -> bool {
        self.partners || self.apis
    }
}

impl ResolvedConfig {
    /// The APIs to ask the source for when discovering: the listed ones, or `None` (every
    /// path) under `apis: auto` without a narrowing list.
    pub fn listed_apis(&self) -> Option<&[String]> {
        (!self.discovery.apis || !self.apis.is_empty()).then_some(self.apis.as_slice())
    }

    /// `found` (the partner × API pairs the data has) narrowed to the selection, split into
    /// those to analyse and those excluded by configuration; more than
    /// [`Discovery::max_series`] to analyse is an error naming the count.
    pub fn discovered_keys(
        &self,
        found: impl IntoIterator<Item = SeriesKey>,
    ) -> Result<(Vec<SeriesKey>, Vec<SkippedSeries>), String> {
        let wanted =
            |listed: &[String], item: &str| listed.is_empty() || listed.iter().any(|l| l == item);
        let selected = found
            .into_iter()
            .filter(|key| wanted(&self.partners, &key.partner) && wanted(&self.apis, &key.api));
        let (keys, excluded) = self.series_keys_among(selected);
        if keys.len() > self.discovery.max_series {
            return Err(format!(
                "PARTNER_CONFIGS.{}.max_series: {} series discovered, more than the {} allowed (list the partners or APIs, add exclusions, or raise max_series)",
                self.environment.name,
                keys.len(),
                self.discovery.max_series
            ));
        }
        Ok((keys, excluded))
    }

    /// The selected partner × API pairs to analyse, and those excluded by configuration.
    pub fn series_keys(&self) -> (Vec<SeriesKey>, Vec<SkippedSeries>) {
        let configured = self.partners.iter().flat_map(|partner| {
            self.apis
                .iter()
                .map(move |api| SeriesKey::new(partner, api))
        });
        self.series_keys_among(configured)
    }

    /// `candidates` (e.g. the entries of the deployed ConfigMap, `DISCOVER_FROM_DEPLOYED`)
    /// split into those to analyse and those excluded by configuration.
    pub fn series_keys_among(
        &self,
        candidates: impl IntoIterator<Item = SeriesKey>,
    ) -> (Vec<SeriesKey>, Vec<SkippedSeries>) {
        let mut analysed = Vec::new();
        let mut excluded = Vec::new();
        for key in candidates {
            match self.exclusions.reason(&key.partner, &key.api) {
                Some(reason) => excluded.push(SkippedSeries { key, reason }),
                None => analysed.push(key),
            }
        }
        analysed.sort();
        analysed.dedup();
        excluded.sort_by(|a, b| a.key.cmp(&b.key));
        (analysed, excluded)
    }
}
