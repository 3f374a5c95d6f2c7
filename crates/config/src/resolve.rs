//! From layers, environment variables and flags to one validated [`ResolvedConfig`].

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use trendmaster_types::settings::{
    ForecasterKind, MultiplierSettings, PrometheusSettings, TierSettings,
};
use trendmaster_types::{CalculationMode, Secret, SourceKind};

use crate::defaults::{BUILT_IN_CONFIG, DEFAULT_ENVIRONMENT};
use crate::detect::{EnvironmentInfo, detect};
use crate::error::{ConfigError, ConfigProblems};
use crate::layers::{Layer, deserialize_checked, merge, origin_of};
use crate::resolved::{Discovery, ResolvedConfig};
use crate::schema::{ConfigFile, EnvironmentSection, Picked};
use crate::substitute::key_text;
use crate::validate::validate;

/// Where to look for configuration files.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `--config FILE`. Without it, `<base_dir>/config/config.yaml` is used when it exists.
    pub config_file: Option<PathBuf>,
    /// Directory holding `config/config.yaml` and `.local.config.yaml` (default: the current
    /// directory).
    pub base_dir: Option<PathBuf>,
}

/// Command-line settings, the top layer. `None` leaves the lower layers' value.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--env`.
    pub environment: Option<String>,
    /// `--partners`: analyse only these of the environment's partners.
    pub partners: Option<Vec<String>>,
    /// `--apis`: analyse only these of the environment's APIs.
    pub apis: Option<Vec<String>>,
    /// `--mode`.
    pub mode: Option<CalculationMode>,
    /// `--source`.
    pub source: Option<SourceKind>,
    /// `--days`.
    pub days: Option<u32>,
    /// A duration such as `1m` or `300s`.
    pub step: Option<String>,
    /// `--output-dir`.
    pub output_dir: Option<PathBuf>,
    /// `--prometheus-url`.
    pub prometheus_url: Option<String>,
    /// `--seed`.
    pub demo_seed: Option<u64>,
    /// `--forecaster`.
    pub forecaster: Option<ForecasterKind>,
    /// `--query-preset`.
    pub query_preset: Option<String>,
    /// `-H 'Name: value'`, in order; they win over configured headers of the same name.
    pub prometheus_headers: Vec<(String, String)>,
    /// `--prometheus-timeout`.
    pub prometheus_timeout: Option<String>,
}

const LOCAL_CONFIG: &str = ".local.config.yaml";
const DEFAULT_CONFIG: &str = "config/config.yaml";

/// Loads, merges and validates the configuration. `lookup` reads environment variables (pass
/// `|name| std::env::var(name).ok()`; tests pass a map).
pub fn load(
    options: &LoadOptions,
    overrides: &Overrides,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<ResolvedConfig, ConfigProblems> {
    let (config, problems) = load_for_validation(options, overrides, lookup)?;
    problems.into_result(config)
}

/// Like [`load`], but when the files are structurally sound it also returns the resolved
/// configuration alongside its value problems, so that `--validate-only` can run further checks
/// (such as the emitted ConfigMap's naming rules) and report everything at once.
pub fn load_for_validation(
    options: &LoadOptions,
    overrides: &Overrides,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(ResolvedConfig, ConfigProblems), ConfigProblems> {
    let mut problems = ConfigProblems::default();
    let mut layers = read_layers(options, lookup, &mut problems);
    if problems
        .iter()
        .any(|p| !matches!(p, ConfigError::UnknownKey { .. }))
    {
        return Err(problems);
    }

    let mut merged = layers[0].tree.clone();
    for layer in &layers[1..] {
        merge(&mut merged, &layer.tree);
    }
    let Some(file) = deserialize_merged(&merged, &layers, &mut problems) else {
        return Err(problems);
    };
    for environment in file.deployment_overrides.keys() {
        if !file.environments.contains_key(environment) {
            let key = format!("DEPLOYMENT_OVERRIDES.{environment}");
            problems.push(ConfigError::Invalid {
                origin: origin_of(&layers, &["DEPLOYMENT_OVERRIDES", environment]).to_string(),
                key,
                message: format!("no environment `{environment}` is defined under ENVIRONMENTS"),
            });
        }
    }
    check_aliases(&file, &layers, &mut problems);

    let environment = match detect(
        overrides.environment.as_deref(),
        lookup,
        DEFAULT_ENVIRONMENT,
        &file.environments,
    ) {
        Ok(environment) => environment,
        Err(error) => {
            problems.push(error);
            return Err(problems);
        }
    };

    // The environment's overrides are the next layer up.
    let file = match file.deployment_overrides.get(&environment.name) {
        Some(tree) if !tree.is_null() => {
            let label = format!(
                "{} (DEPLOYMENT_OVERRIDES.{})",
                origin_of(&layers, &["DEPLOYMENT_OVERRIDES", &environment.name]),
                environment.name
            );
            merge(&mut merged, tree);
            layers.push(Layer {
                label,
                tree: tree.clone(),
            });
            match deserialize_merged(&merged, &layers, &mut problems) {
                Some(file) => file,
                None => return Err(problems),
            }
        }
        _ => file,
    };

    let resolved = resolve(file, environment, &layers, overrides, lookup, &mut problems);
    match resolved {
        Some(config) => {
            validate(&config, &layers, &mut problems);
            Ok((config, problems))
        }
        None => Err(problems),
    }
}

/// The merged tree as the file schema. Unknown keys were already reported against the file
/// that holds them, so only type errors of the combination are recorded here.
fn deserialize_merged(
    merged: &serde_yaml::Value,
    layers: &[Layer],
    problems: &mut ConfigProblems,
) -> Option<ConfigFile> {
    let mut scratch = ConfigProblems::default();
    let file = deserialize_checked(merged, "configuration", "", &layers[0].tree, &mut scratch);
    for problem in scratch.0 {
        if !matches!(problem, ConfigError::UnknownKey { .. }) {
            problems.push(problem);
        }
    }
    file
}

/// Built-in defaults, then the config file, then `.local.config.yaml`; each checked on its own
/// so that problems name the right file.
fn read_layers(
    options: &LoadOptions,
    lookup: &dyn Fn(&str) -> Option<String>,
    problems: &mut ConfigProblems,
) -> Vec<Layer> {
    let builtin = Layer::parse("built-in defaults", BUILT_IN_CONFIG, lookup, problems)
        .expect("the built-in configuration is valid YAML (checked by tests)");
    let base = options.base_dir.clone().unwrap_or_default();
    let mut candidates: Vec<(PathBuf, bool)> = Vec::new();
    match &options.config_file {
        Some(path) => candidates.push((path.clone(), true)),
        None => candidates.push((base.join(DEFAULT_CONFIG), false)),
    }
    candidates.push((base.join(LOCAL_CONFIG), false));

    let mut layers = vec![builtin];
    for (path, required) in candidates {
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if !required && error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => {
                problems.push(ConfigError::Read {
                    path: path.display().to_string(),
                    source,
                });
                continue;
            }
        };
        let label = display_path(&path);
        if let Some(layer) = Layer::parse(&label, &text, lookup, problems) {
            check_layer(&layers[0], &layer, problems);
            layers.push(layer);
        }
    }
    layers
}

fn display_path(path: &Path) -> String {
    path.strip_prefix("./")
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Checks one file on top of the built-in layer, and each of its `DEPLOYMENT_OVERRIDES` on top of
/// that, recording unknown keys and type errors against the file.
fn check_layer(builtin: &Layer, layer: &Layer, problems: &mut ConfigProblems) {
    let mut candidate = builtin.tree.clone();
    merge(&mut candidate, &layer.tree);
    deserialize_checked(&candidate, &layer.label, "", &builtin.tree, problems);
    let Some(overrides) = layer
        .get(&["DEPLOYMENT_OVERRIDES"])
        .and_then(|v| v.as_mapping())
    else {
        return;
    };
    for (environment, tree) in overrides {
        let environment = key_text(environment);
        let mut candidate = builtin.tree.clone();
        merge(&mut candidate, tree);
        let prefix = format!("DEPLOYMENT_OVERRIDES.{environment}.");
        deserialize_checked(&candidate, &layer.label, &prefix, &builtin.tree, problems);
    }
}

fn check_aliases(file: &ConfigFile, layers: &[Layer], problems: &mut ConfigProblems) {
    let mut seen: BTreeSet<String> = file
        .environments
        .keys()
        .map(|n| n.to_ascii_lowercase())
        .collect();
    for (name, section) in &file.environments {
        for alias in &section.aliases {
            if !seen.insert(alias.to_ascii_lowercase()) {
                problems.push(ConfigError::Invalid {
                    origin: origin_of(layers, &["ENVIRONMENTS", name, "ALIASES"]).to_string(),
                    key: format!("ENVIRONMENTS.{name}.ALIASES"),
                    message: format!("alias `{alias}` is already an environment name or alias"),
                });
            }
        }
    }
}

/// Applies environment variables and flags and picks the environment's partners and APIs.
fn resolve(
    file: ConfigFile,
    environment: EnvironmentInfo,
    layers: &[Layer],
    overrides: &Overrides,
    lookup: &dyn Fn(&str) -> Option<String>,
    problems: &mut ConfigProblems,
) -> Option<ResolvedConfig> {
    let env_section = file.environments[&environment.name].clone();
    let Some(partner_section) = file.partner_configs.get(&environment.name).cloned() else {
        problems.push(ConfigError::Invalid {
            origin: origin_of(layers, &["PARTNER_CONFIGS"]).to_string(),
            key: "PARTNER_CONFIGS".into(),
            message: format!(
                "no partners are configured for environment `{}`",
                environment.name
            ),
        });
        return None;
    };
    let var = |name: &str| lookup(name).filter(|v| !v.is_empty());

    let source = resolve_source(overrides, var("TRENDMASTER_SOURCE"), &env_section, problems);
    let dry_run = resolve_dry_run(var("DRY_RUN"), &env_section, problems);
    let prometheus_url = overrides
        .prometheus_url
        .clone()
        .or_else(|| var("PROMETHEUS_URL"))
        .unwrap_or(env_section.prometheus_url);
    let prometheus_token = var("PROMETHEUS_TOKEN")
        .map(Secret::new)
        .or(env_section.prometheus_token)
        .filter(|token| !token.is_empty());
    let output_dir = overrides
        .output_dir
        .clone()
        .or_else(|| var("TRENDMASTER_OUTPUT_DIR").map(PathBuf::from))
        .unwrap_or(file.common.output.directory);
    let max_charts = file.common.output.max_charts;
    let step_secs = resolve_step(overrides, &file.common.data.step, layers, problems);

    let (partners, discover_partners) = pick(
        overrides.partners.as_deref(),
        &partner_section.partners,
        |partner, configured| ConfigError::UnknownPartner {
            partner: partner.to_string(),
            environment: environment.name.clone(),
            configured: configured.join(", "),
        },
        problems,
    );
    let (apis, discover_apis) = pick(
        overrides.apis.as_deref(),
        &partner_section.apis,
        |api, configured| ConfigError::UnknownApi {
            api: api.to_string(),
            environment: environment.name.clone(),
            configured: configured.join(", "),
        },
        problems,
    );

    let prometheus = prometheus_with_flags(file.common.prometheus, overrides);
    let mut forecast = file.common.forecast;
    if let Some(kind) = overrides.forecaster {
        forecast.forecaster = kind;
    }

    let mut rate = file.common.rate_calculation;
    if let Some(mode) = overrides.mode {
        rate.calculation_mode = mode;
    }

    Some(ResolvedConfig {
        config_files: layers.iter().map(|l| l.label.clone()).collect(),
        source,
        prometheus_url,
        prometheus_token,
        prometheus,
        dry_run,
        days: overrides.days.unwrap_or(file.common.data.days),
        step_secs,
        demo_seed: overrides.demo_seed.unwrap_or(file.common.data.demo_seed),
        output_dir,
        max_charts,
        rate,
        cache: file.common.cache,
        confidence: file.common.confidence,
        prime_time: file.common.prime_time,
        anomaly: file.common.anomaly,
        forecast,
        multipliers: MultiplierSettings {
            partner: partner_section.partner_multipliers.clone(),
            path: file.common.path_multipliers,
            tiers: TierSettings {
                partner_tiers: partner_section.partner_tiers.clone(),
                ..file.common.tiers
            },
        },
        exclusions: file.common.exclusions,
        configmap: file.common.configmap,
        governance: file.common.governance,
        local_ratelimit: file.common.local_ratelimit,
        global_ratelimit: file.common.global_ratelimit,
        alerts: file.common.alerts,
        protected: env_section.protected,
        kube_context: env_section.kube_context.clone(),
        discover_from_deployed: env_section.discover_from_deployed
            && overrides.partners.is_none()
            && overrides.apis.is_none(),
        partners,
        apis,
        discovery: Discovery {
            partners: discover_partners,
            apis: discover_apis,
            max_series: partner_section.max_series,
        },
        environment,
    })
}

/// The selected items and whether they are discovered from the data: `configured` (a list or
/// `auto`) narrowed by `wanted` (`--partners`/`--apis`; the value `auto` discovers for this run).
/// Under `auto`, a `wanted` list narrows what is discovered and is not checked against a list.
fn pick(
    wanted: Option<&[String]>,
    configured: &Picked,
    unknown: impl Fn(&str, &[String]) -> ConfigError,
    problems: &mut ConfigProblems,
) -> (Vec<String>, bool) {
    let wants_auto = wanted.is_some_and(|w| w.len() == 1 && w[0].trim() == "auto");
    match configured {
        _ if wants_auto => (Vec::new(), true),
        Picked::Auto => {
            let narrowed = wanted.map_or_else(Vec::new, |wanted| {
                let mut narrowed: Vec<String> = wanted
                    .iter()
                    .map(|w| w.trim().to_string())
                    .filter(|w| !w.is_empty())
                    .collect();
                narrowed.dedup();
                narrowed
            });
            (narrowed, true)
        }
        Picked::Listed(list) => (
            select(wanted, list, |item| unknown(item, list), problems),
            false,
        ),
    }
}

/// `--source`, else `TRENDMASTER_SOURCE`, else the environment's `DATA_SOURCE`.
fn resolve_source(
    overrides: &Overrides,
    variable: Option<String>,
    env_section: &EnvironmentSection,
    problems: &mut ConfigProblems,
) -> SourceKind {
    match (&overrides.source, variable) {
        (Some(source), _) => source.clone(),
        (None, Some(text)) => text.parse().unwrap_or_else(|message| {
            problems.push(ConfigError::Variable {
                variable: "TRENDMASTER_SOURCE".into(),
                message,
            });
            env_section.data_source.clone()
        }),
        (None, None) => env_section.data_source.clone(),
    }
}

/// `DRY_RUN`, else the environment's `DRY_RUN`.
fn resolve_dry_run(
    variable: Option<String>,
    env_section: &EnvironmentSection,
    problems: &mut ConfigProblems,
) -> bool {
    match variable {
        Some(text) => parse_bool(&text).unwrap_or_else(|| {
            problems.push(ConfigError::Variable {
                variable: "DRY_RUN".into(),
                message: format!("`{text}` is not a boolean (use true or false)"),
            });
            env_section.dry_run
        }),
        None => env_section.dry_run,
    }
}

/// `--step`, else `COMMON.DATA.step`, in seconds; a bad value is reported against whichever
/// set it, and one minute is used meanwhile.
fn resolve_step(
    overrides: &Overrides,
    configured: &str,
    layers: &[Layer],
    problems: &mut ConfigProblems,
) -> u32 {
    let (step_text, step_origin) = match &overrides.step {
        Some(step) => (step.clone(), "--step".to_string()),
        None => (
            configured.to_string(),
            format!(
                "{}: COMMON.DATA.step",
                origin_of(layers, &["COMMON", "DATA", "step"])
            ),
        ),
    };
    parse_step(&step_text).unwrap_or_else(|message| {
        problems.push(ConfigError::Flag {
            flag: step_origin,
            message,
        });
        60
    })
}

/// `COMMON.PROMETHEUS_CONFIG` with `--query-preset`, `--prometheus-timeout` and `-H` applied.
fn prometheus_with_flags(
    mut prometheus: PrometheusSettings,
    overrides: &Overrides,
) -> PrometheusSettings {
    if let Some(preset) = &overrides.query_preset {
        prometheus.preset = preset.clone();
    }
    if let Some(timeout) = &overrides.prometheus_timeout {
        prometheus.timeout = timeout.clone();
    }
    for (name, value) in &overrides.prometheus_headers {
        prometheus.headers.insert(name.clone(), value.clone());
    }
    prometheus
}

/// The flag's selection (deduplicated, each checked against `configured`), or all configured.
fn select(
    wanted: Option<&[String]>,
    configured: &[String],
    unknown: impl Fn(&str) -> ConfigError,
    problems: &mut ConfigProblems,
) -> Vec<String> {
    let Some(wanted) = wanted else {
        return configured.to_vec();
    };
    let mut selected: Vec<String> = Vec::new();
    for item in wanted.iter().map(|w| w.trim()).filter(|w| !w.is_empty()) {
        if !configured.iter().any(|c| c == item) {
            problems.push(unknown(item));
        } else if !selected.iter().any(|s| s == item) {
            selected.push(item.to_string());
        }
    }
    selected
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// Whole seconds that divide an hour, so that hours (and days) hold whole numbers of points.
fn parse_step(text: &str) -> Result<u32, String> {
    let seconds = match text.trim().parse::<u64>() {
        Ok(seconds) => seconds,
        Err(_) => {
            let duration = humantime::parse_duration(text.trim())
                .map_err(|e| format!("`{text}` is not a duration such as 1m or 300s: {e}"))?;
            if duration.subsec_nanos() != 0 {
                return Err(format!("`{text}` is not a whole number of seconds"));
            }
            duration.as_secs()
        }
    };
    if seconds == 0 || 3600 % seconds != 0 {
        return Err(format!(
            "step `{text}` must be a positive number of seconds that divides one hour (e.g. 30s, 1m, 5m, 15m, 1h)"
        ));
    }
    Ok(seconds as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use trendmaster_types::SeriesKey;

    /// A directory with optional `config/config.yaml` and `.local.config.yaml`.
    struct Fixture {
        dir: tempfile::TempDir,
        vars: HashMap<String, String>,
    }

    impl Fixture {
        fn new() -> Self {
            Self {
                dir: tempfile::tempdir().unwrap(),
                vars: HashMap::new(),
            }
        }
        fn config(self, text: &str) -> Self {
            std::fs::create_dir_all(self.dir.path().join("config")).unwrap();
            std::fs::write(self.dir.path().join(DEFAULT_CONFIG), text).unwrap();
            self
        }
        fn local(self, text: &str) -> Self {
            std::fs::write(self.dir.path().join(LOCAL_CONFIG), text).unwrap();
            self
        }
        fn var(mut self, name: &str, value: &str) -> Self {
            self.vars.insert(name.into(), value.into());
            self
        }
        fn load(&self, overrides: &Overrides) -> Result<ResolvedConfig, ConfigProblems> {
            let options = LoadOptions {
                config_file: None,
                base_dir: Some(self.dir.path().to_path_buf()),
            };
            load(&options, overrides, &|name| self.vars.get(name).cloned())
        }
        fn problems(&self, overrides: &Overrides) -> Vec<String> {
            self.load(overrides)
                .expect_err("configuration should be rejected")
                .iter()
                .map(ToString::to_string)
                .collect()
        }
    }

    #[test]
    fn partners_and_apis_may_be_auto_and_a_flag_discovers_for_one_run() {
        let auto = Fixture::new()
            .local("PARTNER_CONFIGS:\n  environment:\n    partners: auto\n    max_series: 50\n")
            .load(&Overrides::default())
            .unwrap();
        assert!(auto.discovery.partners && !auto.discovery.apis);
        assert!(auto.partners.is_empty());
        assert_eq!(auto.discovery.max_series, 50);
        assert_eq!(auto.apis.len(), 9);
        // Under `auto`, `--partners` narrows what is found and is not checked against a list.
        let narrowed = Fixture::new()
            .local("PARTNER_CONFIGS:\n  environment:\n    partners: auto\n")
            .load(&Overrides {
                partners: Some(vec!["9002".into()]),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(narrowed.partners, ["9002"]);
        assert!(narrowed.discovery.partners);
        // `--apis auto` over a listed configuration.
        let flagged = Fixture::new()
            .load(&Overrides {
                apis: Some(vec!["auto".into()]),
                ..Default::default()
            })
            .unwrap();
        assert!(flagged.discovery.apis && flagged.apis.is_empty());
        assert_eq!(flagged.partners, ["111", "222", "333", "444"]);
        // Anything else than a list or `auto` names the key.
        let problems = Fixture::new()
            .local("PARTNER_CONFIGS:\n  environment:\n    apis: sometimes\n")
            .problems(&Overrides::default())
            .join("\n");
        assert!(
            problems.contains("expected a list or `auto`, got `sometimes`"),
            "{problems}"
        );
    }

    #[test]
    fn built_in_environments_match_the_documented_table() {
        let environment = Fixture::new().load(&Overrides::default()).unwrap();
        assert_eq!(environment.environment.name, "environment");
        assert_eq!(environment.partners, ["111", "222", "333", "444"]);
        assert_eq!(environment.apis.len(), 9);
        assert_eq!(environment.source, SourceKind::Demo);
        assert!(environment.dry_run);
        assert_eq!(environment.rate.safety_margin, 1.5);
        // The constants of the README's worked example.
        assert_eq!(environment.rate.peak_multiplier, 2.5);
        assert_eq!(environment.cache.cache_adjustment_factor, 1.2);
        assert_eq!(environment.rate.traffic_pattern.multipliers.variable, 1.1);
        assert_eq!(
            (
                environment.rate.min_rate_limit,
                environment.rate.max_rate_limit
            ),
            (100.0, 50_000.0)
        );
        assert_eq!(environment.rate.rounding_step, 100.0);
        assert_eq!(environment.rate.below_peak_factor, 1.2);
        assert_eq!(environment.step_secs, 60);
        assert_eq!(
            environment.config_files,
            [
                "built-in defaults",
                "built-in defaults (DEPLOYMENT_OVERRIDES.environment)"
            ]
        );

        let production = Fixture::new()
            .var("ENVIRONMENT", "production")
            .load(&Overrides::default())
            .unwrap();
        assert_eq!(production.partners, ["101", "201", "301", "401", "501"]);
        assert_eq!(production.apis.len(), 11);
        assert_eq!(production.rate.safety_margin, 1.3);
        assert!(!production.dry_run);

        let testing = Fixture::new()
            .var("ENV", "staging")
            .load(&Overrides::default())
            .unwrap();
        assert_eq!(testing.environment.name, "testing");
        assert_eq!(
            testing.environment.to_string(),
            "ENV=staging (alias of testing)"
        );
        assert_eq!(testing.apis.len(), 9);
    }

    #[test]
    fn the_shipped_file_as_a_layer_has_no_problems() {
        let fixture = Fixture::new().config(BUILT_IN_CONFIG);
        let config = fixture.load(&Overrides::default()).unwrap();
        assert_eq!(config.config_files.len(), 3, "{:?}", config.config_files);
        assert!(config.config_files[1].ends_with("config/config.yaml"));
    }

    #[test]
    fn layers_apply_in_order_file_local_variable_flag() {
        let fixture = Fixture::new()
            .config("ENVIRONMENTS:\n  environment:\n    PROMETHEUS_URL: http://file:9090\nCOMMON:\n  DATA: {days: 7}\n")
            .local("ENVIRONMENTS:\n  environment:\n    PROMETHEUS_URL: http://local:9090\n");
        let config = fixture.load(&Overrides::default()).unwrap();
        assert_eq!(config.prometheus_url, "http://local:9090");
        assert_eq!(
            config.days, 7,
            "the file's value survives the local layer's deep merge"
        );

        let fixture = fixture.var("PROMETHEUS_URL", "http://variable:9090");
        assert_eq!(
            fixture.load(&Overrides::default()).unwrap().prometheus_url,
            "http://variable:9090"
        );

        let flags = Overrides {
            prometheus_url: Some("http://flag:9090".into()),
            days: Some(3),
            ..Overrides::default()
        };
        let config = fixture.load(&flags).unwrap();
        assert_eq!(config.prometheus_url, "http://flag:9090");
        assert_eq!(config.days, 3);
    }

    #[test]
    fn deployment_overrides_of_the_selected_environment_beat_the_file() {
        let fixture = Fixture::new().config(
            "COMMON:\n  RATE_CALCULATION: {safety_margin: 2.0, peak_multiplier: 3.0}\nDEPLOYMENT_OVERRIDES:\n  testing:\n    COMMON: {RATE_CALCULATION: {safety_margin: 1.7}}\n",
        );
        let testing = fixture
            .load(&Overrides {
                environment: Some("testing".into()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(testing.rate.safety_margin, 1.7);
        assert_eq!(testing.rate.peak_multiplier, 3.0);
        // The built-in override for `environment` still applies on top of the file.
        let local = fixture.load(&Overrides::default()).unwrap();
        assert_eq!(local.rate.safety_margin, 1.5);
    }

    #[test]
    fn every_problem_is_reported_with_file_key_and_suggestion() {
        let fixture = Fixture::new().config(
            "COMMON:\n  RATE_CALCULATION:\n    peak_multiplierr: 3\n    min_rate_limit: 900\n    max_rate_limit: 500\n  PRIME_TIME_CONFIG: {fixed_end_hour: 25}\nPARTNER_CONFIG: {}\n",
        );
        let problems = fixture.problems(&Overrides::default());
        let text = problems.join("\n");
        assert!(text.contains("config/config.yaml: unknown key `COMMON.RATE_CALCULATION.peak_multiplierr` (did you mean `peak_multiplier`?)"), "{text}");
        assert!(
            text.contains("unknown key `PARTNER_CONFIG` (did you mean `PARTNER_CONFIGS`?)"),
            "{text}"
        );
        assert!(text.contains("COMMON.RATE_CALCULATION.min_rate_limit: min_rate_limit 900 is above max_rate_limit 500"), "{text}");
        assert!(
            text.contains("config/config.yaml: COMMON.PRIME_TIME_CONFIG.fixed_end_hour"),
            "{text}"
        );
        assert_eq!(problems.len(), 4, "{text}");
    }

    #[test]
    fn anomaly_and_governance_values_out_of_range_are_named() {
        let fixture = Fixture::new().config(
            "COMMON:\n  ANOMALY_CONFIG: {min_relative_excess: 1.2, sustained_zscore: 0}\n  GOVERNANCE: {max_change_ratio: 0.5}\n",
        );
        let text = fixture.problems(&Overrides::default()).join("\n");
        for expected in [
            "COMMON.ANOMALY_CONFIG.min_relative_excess: must be at least 0 and below 1",
            "COMMON.ANOMALY_CONFIG.sustained_zscore: must be a positive number",
            "COMMON.GOVERNANCE.max_change_ratio: must be above 1",
        ] {
            assert!(text.contains(expected), "{expected}\n{text}");
        }
        let fixture =
            Fixture::new().config("COMMON:\n  ANOMALY_CONFIG: {kind_filter: [spike, bump]}\n");
        let text = fixture.problems(&Overrides::default()).join("\n");
        assert!(
            text.contains("COMMON.ANOMALY_CONFIG.kind_filter[1]: unknown variant `bump`"),
            "{text}"
        );
    }

    #[test]
    fn wrong_types_name_the_file_and_key_path() {
        let problems = Fixture::new()
            .local("COMMON:\n  RATE_CALCULATION:\n    safety_margin: lots\n")
            .problems(&Overrides::default());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains(
                ".local.config.yaml: COMMON.RATE_CALCULATION.safety_margin: invalid type"
            ),
            "{}",
            problems[0]
        );
    }

    #[test]
    fn unknown_keys_inside_deployment_overrides_are_named_with_their_prefix() {
        let problems = Fixture::new()
            .config("DEPLOYMENT_OVERRIDES:\n  production:\n    COMMON: {RATE_CALCULATION: {safety_marign: 1.1}}\n  prodution: {}\n")
            .problems(&Overrides::default());
        let text = problems.join("\n");
        assert!(text.contains("unknown key `DEPLOYMENT_OVERRIDES.production.COMMON.RATE_CALCULATION.safety_marign` (did you mean `safety_margin`?)"), "{text}");
        assert!(
            text.contains("DEPLOYMENT_OVERRIDES.prodution: no environment `prodution`"),
            "{text}"
        );
    }

    #[test]
    fn substitution_uses_variables_and_reports_unset_ones_by_key() {
        let fixture = Fixture::new()
            .config("ENVIRONMENTS:\n  environment:\n    PROMETHEUS_URL: http://${PROM_HOST:-localhost}:9090\n    PROMETHEUS_TOKEN: ${MY_TOKEN}\n")
            .var("PROM_HOST", "prom.internal")
            .var("MY_TOKEN", "t0ken");
        let config = fixture.load(&Overrides::default()).unwrap();
        assert_eq!(config.prometheus_url, "http://prom.internal:9090");
        assert_eq!(
            config.prometheus_token.as_ref().map(Secret::expose),
            Some("t0ken")
        );
        let shown = serde_json::to_string(&config.prometheus_token).unwrap();
        assert!(!shown.contains("t0ken"));

        let problems = Fixture::new()
            .config("ENVIRONMENTS:\n  environment:\n    PROMETHEUS_TOKEN: ${MY_TOKEN}\n")
            .problems(&Overrides::default());
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("config/config.yaml: ENVIRONMENTS.environment.PROMETHEUS_TOKEN: environment variable MY_TOKEN is not set"), "{}", problems[0]);
    }

    #[test]
    fn selecting_an_unknown_partner_names_it_and_the_environment() {
        let overrides = Overrides {
            partners: Some(vec!["111".into(), "999".into()]),
            apis: Some(vec!["/nope".into()]),
            ..Default::default()
        };
        let problems = Fixture::new().problems(&overrides);
        let text = problems.join("\n");
        assert!(text.contains("--partners: partner 999 is not configured for environment `environment` (configured: 111, 222, 333, 444)"), "{text}");
        assert!(
            text.contains("--apis: API /nope is not configured"),
            "{text}"
        );

        let one = Fixture::new()
            .load(&Overrides {
                partners: Some(vec!["111".into(), "111".into()]),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(one.partners, ["111"]);
    }

    #[test]
    fn numeric_partner_ids_and_multipliers_are_read_as_text() {
        let config = Fixture::new()
            .config("PARTNER_CONFIGS:\n  environment:\n    partners: [111, 222]\n    partner_multipliers: {111: 1.5}\nCOMMON:\n  EXCLUSIONS:\n    partner_paths: {222: [/api_v3/service/multirequest]}\n")
            .load(&Overrides::default())
            .unwrap();
        assert_eq!(config.partners, ["111", "222"]);
        assert_eq!(config.multipliers.partner.get("111"), Some(&1.5));
        let (analysed, excluded) = config.series_keys();
        assert_eq!(analysed.len(), 2 * 9 - 1);
        assert_eq!(excluded.len(), 1);
        assert_eq!(
            excluded[0].key,
            SeriesKey::new("222", "/api_v3/service/multirequest")
        );
        assert!(excluded[0].reason.contains("EXCLUSIONS.partner_paths.222"));
    }

    #[test]
    fn variables_with_bad_values_are_named() {
        let problems = Fixture::new()
            .var("DRY_RUN", "maybe")
            .var("TRENDMASTER_SOURCE", "influx")
            .var("ENV", "qa9")
            .problems(&Overrides::default());
        let text = problems.join("\n");
        assert!(
            text.contains("environment variable ENV: unknown environment `qa9`"),
            "{text}"
        );

        let problems = Fixture::new()
            .var("DRY_RUN", "maybe")
            .var("TRENDMASTER_SOURCE", "influx")
            .problems(&Overrides::default());
        let text = problems.join("\n");
        assert!(
            text.contains("environment variable DRY_RUN: `maybe` is not a boolean"),
            "{text}"
        );
        assert!(
            text.contains("environment variable TRENDMASTER_SOURCE: unknown data source `influx`"),
            "{text}"
        );
    }

    #[test]
    fn steps_must_divide_an_hour() {
        assert_eq!(parse_step("1m"), Ok(60));
        assert_eq!(parse_step("300"), Ok(300));
        assert_eq!(parse_step("5m"), Ok(300));
        assert!(parse_step("7m").unwrap_err().contains("divides one hour"));
        assert!(parse_step("0s").is_err());
        assert!(parse_step("soon").unwrap_err().contains("`soon`"));
    }

    #[test]
    fn a_missing_explicit_config_file_is_an_error_naming_it() {
        let options = LoadOptions {
            config_file: Some(PathBuf::from("/nonexistent/trendmaster.yaml")),
            base_dir: None,
        };
        let problems = load(&options, &Overrides::default(), &|_| None)
            .unwrap_err()
            .to_string();
        assert!(
            problems.starts_with("/nonexistent/trendmaster.yaml: cannot read config file"),
            "{problems}"
        );
    }

    #[test]
    fn confidence_tables_and_weights_are_checked() {
        let problems = Fixture::new()
            .config("COMMON:\n  CONFIDENCE:\n    weights: {data_volume: 0.5}\n    stability: {thresholds: [0.4, 0.2], scores: [0.9, 0.8], otherwise: 0.5}\n    data_volume: {thresholds: [10], scores: [0.9, 0.8], otherwise: 0.1}\n")
            .problems(&Overrides::default());
        let text = problems.join("\n");
        assert!(text.contains("COMMON.CONFIDENCE.weights: weights must be 0 or more and add up to 1, they add up to 1.25"), "{text}");
        assert!(
            text.contains("COMMON.CONFIDENCE.stability: thresholds must be strictly increasing"),
            "{text}"
        );
        assert!(
            text.contains("COMMON.CONFIDENCE.data_volume: 1 thresholds but 2 scores"),
            "{text}"
        );
    }
}
