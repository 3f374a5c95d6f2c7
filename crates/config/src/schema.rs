//! The configuration file's shape. Section names follow the Python original (`PARTNER_CONFIGS`,
//! `DEPLOYMENT_OVERRIDES`, `COMMON.RATE_CALCULATION`, …) so its users recognise their file.
//!
//! No field has a serde default: every key is present in the built-in layer, which every other
//! layer is merged onto, so a missing key here can only mean a broken build.

use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use trendmaster_types::settings::{
    AlertSettings, AnomalySettings, CacheSettings, ConfidenceSettings, ConfigMapSettings,
    ForecastSettings, GlobalRateLimitSettings, GovernanceSettings, LocalRateLimitSettings,
    PrimeTimeSettings, PrometheusSettings, RateCalculationSettings, TierSettings,
};
use trendmaster_types::{Secret, SourceKind};

#[derive(Debug, Clone, Deserialize)]
pub struct ConfigFile {
    #[serde(rename = "ENVIRONMENTS")]
    pub environments: BTreeMap<String, EnvironmentSection>,
    #[serde(rename = "PARTNER_CONFIGS")]
    pub partner_configs: BTreeMap<String, PartnerSection>,
    #[serde(rename = "COMMON")]
    pub common: CommonSection,
    /// Environment name → partial tree merged over the whole file. Checked separately, because
    /// its keys are those of the top level.
    #[serde(rename = "DEPLOYMENT_OVERRIDES")]
    pub deployment_overrides: BTreeMap<String, serde_yaml::Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EnvironmentSection {
    #[serde(rename = "DESCRIPTION", default)]
    pub description: String,
    #[serde(rename = "ALIASES", default)]
    pub aliases: Vec<String>,
    #[serde(rename = "DATA_SOURCE")]
    pub data_source: SourceKind,
    #[serde(rename = "PROMETHEUS_URL")]
    pub prometheus_url: String,
    #[serde(rename = "PROMETHEUS_TOKEN", default)]
    pub prometheus_token: Option<Secret>,
    #[serde(rename = "DRY_RUN")]
    pub dry_run: bool,
    /// `--apply` and `--rollback` need `--confirm-production` here.
    #[serde(rename = "PROTECTED", default)]
    pub protected: bool,
    /// kubeconfig context for this environment's cluster (`--context` wins); empty: the
    /// kubeconfig's current context, or the in-cluster service account.
    #[serde(rename = "KUBE_CONTEXT", default)]
    pub kube_context: String,
    /// Analyse the partner × API entries of the deployed ConfigMap (when one is read) instead
    /// of `PARTNER_CONFIGS`, as the original did; the configured lists remain the fallback.
    #[serde(rename = "DISCOVER_FROM_DEPLOYED", default)]
    pub discover_from_deployed: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PartnerSection {
    /// A list, or `auto`: every partner the data has.
    #[serde(deserialize_with = "ids_or_auto")]
    pub partners: Picked,
    /// A list, or `auto`: every API path the data has.
    #[serde(deserialize_with = "ids_or_auto")]
    pub apis: Picked,
    /// With `auto`, at most this many series are analysed; more is an error (an unnormalised
    /// path label with ids in it discovers one series per id).
    #[serde(default = "default_max_series")]
    pub max_series: usize,
    #[serde(default)]
    pub partner_multipliers: BTreeMap<String, f64>,
    /// Partner id → tier name (an entry of `COMMON.TIERS.tiers`).
    #[serde(default)]
    pub partner_tiers: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CommonSection {
    #[serde(rename = "DATA")]
    pub data: DataSection,
    #[serde(rename = "OUTPUT")]
    pub output: OutputSection,
    #[serde(rename = "PROMETHEUS_CONFIG")]
    pub prometheus: PrometheusSettings,
    #[serde(rename = "RATE_CALCULATION")]
    pub rate_calculation: RateCalculationSettings,
    #[serde(rename = "CACHE_CONFIG")]
    pub cache: CacheSettings,
    #[serde(rename = "CONFIDENCE")]
    pub confidence: ConfidenceSettings,
    #[serde(rename = "PRIME_TIME_CONFIG")]
    pub prime_time: PrimeTimeSettings,
    #[serde(rename = "ANOMALY_CONFIG")]
    pub anomaly: AnomalySettings,
    #[serde(rename = "FORECAST_CONFIG")]
    pub forecast: ForecastSettings,
    #[serde(rename = "PATH_MULTIPLIERS")]
    pub path_multipliers: BTreeMap<String, f64>,
    #[serde(rename = "EXCLUSIONS")]
    pub exclusions: Exclusions,
    #[serde(rename = "CONFIGMAP")]
    pub configmap: ConfigMapSettings,
    #[serde(rename = "GOVERNANCE")]
    pub governance: GovernanceSettings,
    #[serde(rename = "TIERS")]
    pub tiers: TierSettings,
    #[serde(rename = "LOCAL_RATELIMIT")]
    pub local_ratelimit: LocalRateLimitSettings,
    #[serde(rename = "GLOBAL_RATELIMIT")]
    pub global_ratelimit: GlobalRateLimitSettings,
    #[serde(rename = "ALERTS")]
    pub alerts: AlertSettings,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DataSection {
    pub days: u32,
    /// A duration such as `1m`, `5m` or `60s`.
    pub step: String,
    pub demo_seed: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct OutputSection {
    pub directory: PathBuf,
    /// Series drawn per run (charts and the HTML report): the biggest changes first.
    pub max_charts: usize,
}

/// `COMMON.EXCLUSIONS`: partner × API pairs that are neither analysed nor emitted.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Exclusions {
    /// Partners excluded on every API.
    #[serde(deserialize_with = "ids")]
    pub global_partners: Vec<String>,
    /// APIs excluded for every partner.
    pub global_paths: Vec<String>,
    /// Partner id → the APIs excluded for that partner.
    pub partner_paths: BTreeMap<String, Vec<String>>,
}

impl Exclusions {
    /// Why `partner`/`api` is excluded, or `None` when it is analysed.
    pub fn reason(&self, partner: &str, api: &str) -> Option<String> {
        if self.global_partners.iter().any(|p| p == partner) {
            return Some(format!(
                "partner {partner} is in EXCLUSIONS.global_partners"
            ));
        }
        if self.global_paths.iter().any(|p| p == api) {
            return Some(format!("API {api} is in EXCLUSIONS.global_paths"));
        }
        if self
            .partner_paths
            .get(partner)
            .is_some_and(|paths| paths.iter().any(|p| p == api))
        {
            return Some(format!("listed in EXCLUSIONS.partner_paths.{partner}"));
        }
        None
    }
}

/// `PARTNER_CONFIGS.<env>.partners` / `apis`: listed, or discovered from the data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Picked {
    /// `auto`.
    Auto,
    /// The list as written.
    Listed(Vec<String>),
}

fn default_max_series() -> usize {
    10_000
}

/// A list of ids (see [`ids`]), or the word `auto`.
fn ids_or_auto<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Picked, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Word(String),
        #[serde(deserialize_with = "ids")]
        List(Vec<String>),
    }
    match Either::deserialize(deserializer)? {
        Either::Word(word) if word == "auto" => Ok(Picked::Auto),
        Either::Word(word) => Err(serde::de::Error::custom(format!(
            "expected a list or `auto`, got `{word}`"
        ))),
        Either::List(list) => Ok(Picked::Listed(list)),
    }
}

/// Partner ids are strings, but people write `partners: [111, 222]`; accept numbers as text.
fn ids<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        Text(String),
        Number(u64),
    }
    let ids = Vec::<Id>::deserialize(deserializer)?;
    Ok(ids
        .into_iter()
        .map(|id| match id {
            Id::Text(text) => text,
            Id::Number(number) => number.to_string(),
        })
        .collect())
}
