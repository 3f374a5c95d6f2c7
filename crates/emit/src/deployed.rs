//! What is deployed now.
//!
//! [`parse_deployed`] reads a ConfigMap manifest (as `kubectl get configmap -o yaml` prints it)
//! or a bare ratelimit file back into the model. Only the two-level partner → path entries of
//! our domain, with the configured descriptor keys, are ours to manage; everything else (other
//! descriptor keys, other settings on our entries, other data keys) is carried over untouched
//! (see [`crate::planned`]). Our entries, in requests per minute, are what the plan stage
//! compares the recommendations with.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use serde::Deserialize;
use trendmaster_types::SeriesKey;
use trendmaster_types::settings::ConfigMapSettings;

use crate::error::EmitError;
use crate::ratelimit::{Descriptor, RateLimit, RateLimitConfig, RuleSource};

/// The deployed ratelimit configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Deployed {
    /// Where it was read from (a file path, or `configmap NAMESPACE/NAME`), for messages.
    pub origin: String,
    /// The ratelimit file under our data key, whole.
    pub config: RateLimitConfig,
    /// The file's text as deployed, for `--diff`.
    pub text: String,
    /// The ConfigMap's other data keys (other files of the ratelimit service), untouched.
    pub other_data: BTreeMap<String, String>,
    /// Our entries: partner × path → requests per minute.
    pub limits: BTreeMap<SeriesKey, u64>,
}

/// Reads `text` (a ConfigMap manifest, or the ratelimit file itself) from `origin`.
pub fn parse_deployed(
    text: &str,
    origin: &str,
    settings: &ConfigMapSettings,
) -> Result<Deployed, EmitError> {
    let invalid = invalid_at(origin);
    let mut documents = serde_yaml::Deserializer::from_str(text);
    let value = match documents.next().map(serde_yaml::Value::deserialize) {
        None => serde_yaml::Value::Null,
        Some(Ok(value)) => value,
        // A manifest that is not YAML is kubectl's business; a ratelimit file, the loader's,
        // whose own message says why it would refuse it.
        Some(Err(error)) if text.lines().any(|line| line.starts_with("kind:")) => {
            return Err(invalid(format!("not YAML: {error}")));
        }
        Some(Err(_)) => return from_file(text.to_owned(), BTreeMap::new(), origin, settings),
    };
    let kind = value.get("kind").and_then(|k| k.as_str());
    match kind {
        Some("ConfigMap") => {
            if documents.next().is_some() {
                return Err(invalid(
                    "the file holds more than one YAML document; give the ConfigMap alone".into(),
                ));
            }
            let configmap: ConfigMap = serde_yaml::from_value(value)
                .map_err(|e| invalid(format!("not a ConfigMap: {e}")))?;
            from_configmap(configmap, origin, settings)
        }
        Some(kind) => Err(invalid(format!(
            "kind {kind}: not a ConfigMap or a ratelimit file"
        ))),
        // A bare ratelimit file: a second document is the loader's business (it drops it).
        None => from_file(text.to_owned(), BTreeMap::new(), origin, settings),
    }
}

/// Reads a ConfigMap as the API server returned it (`origin` names it in messages).
pub fn from_configmap(
    configmap: ConfigMap,
    origin: &str,
    settings: &ConfigMapSettings,
) -> Result<Deployed, EmitError> {
    let invalid = invalid_at(origin);
    let mut data = configmap.data.unwrap_or_default();
    let file = data.remove(&settings.data_key).ok_or_else(|| {
        let keys: Vec<&str> = data.keys().map(String::as_str).collect();
        invalid(format!(
            "the ConfigMap has no data key `{}` (it has: {})",
            settings.data_key,
            if keys.is_empty() {
                "none".to_owned()
            } else {
                keys.join(", ")
            }
        ))
    })?;
    from_file(file, data, origin, settings)
}

/// The ratelimit file `file`, deployed beside `other_data`.
fn from_file(
    file: String,
    other_data: BTreeMap<String, String>,
    origin: &str,
    settings: &ConfigMapSettings,
) -> Result<Deployed, EmitError> {
    let invalid = invalid_at(origin);
    // Every data key is a file the service loads. One it would reject stops the run with the
    // loader's own reasons, all of them: read as-is, a misspelt key (`ratelimit:` for
    // `rate_limit:`) would be dropped and the descriptor carried on without its limit.
    let files = std::iter::once((settings.data_key.as_str(), file.as_str())).chain(
        other_data
            .iter()
            .map(|(key, text)| (key.as_str(), text.as_str())),
    );
    if let Err(errors) = crate::ratelimit::validate_ratelimit_files(files) {
        let reasons = |source: RuleSource| -> Vec<String> {
            errors
                .iter()
                .filter(|error| error.source == source)
                .map(ToString::to_string)
                .collect()
        };
        let (refused, misread) = (
            reasons(RuleSource::Loader),
            reasons(RuleSource::ReadDifferently),
        );
        // Text the service does not read as written (a second document, a key where it is
        // never read, `yes` for true) cannot be carried over: the rewritten file would lose or
        // change it, so the run stops and says where.
        let mut parts = Vec::new();
        if !refused.is_empty() {
            parts.push(format!(
                "the ratelimit service would refuse to load it: {}",
                refused.join("; ")
            ));
        }
        if !misread.is_empty() {
            parts.push(format!(
                "the ratelimit service would not read it as written, so trendmaster cannot carry \
                 it over (fix the file): {}",
                misread.join("; ")
            ));
        }
        if !parts.is_empty() {
            return Err(invalid(parts.join("; ")));
        }
    }
    // The file as the service reads it (an unquoted `value: 111` is the string "111").
    let config = crate::ratelimit::read_ratelimit_yaml(&file, &settings.data_key)
        .0
        .ok_or_else(|| invalid("not a ratelimit config".into()))?;
    if config.domain != settings.domain {
        return Err(invalid(format!(
            "its domain is `{}`, but CONFIGMAP.domain is `{}`",
            config.domain, settings.domain
        )));
    }
    let limits = managed_limits(&config, settings);
    Ok(Deployed {
        origin: origin.to_owned(),
        config,
        text: file,
        other_data,
        limits,
    })
}

/// Errors about the deployed configuration read from `origin`.
fn invalid_at(origin: &str) -> impl Fn(String) -> EmitError + '_ {
    // Reasons quote the deployed file's keys and values, which may hold line breaks.
    move |reason| EmitError::Deployed {
        origin: origin.to_owned(),
        reason: trendmaster_types::one_line(&reason),
    }
}

/// Our entries of `config`, converted to requests per minute (rounded up).
fn managed_limits(
    config: &RateLimitConfig,
    settings: &ConfigMapSettings,
) -> BTreeMap<SeriesKey, u64> {
    let mut limits = BTreeMap::new();
    for partner in partners(config, settings) {
        // An empty value matches every value in the service (like an absent one), so such a
        // descriptor is a catch-all of someone else's, not one of our partner × API entries.
        let Some(partner_id) = partner.value.as_ref().filter(|v| !v.is_empty()) else {
            continue;
        };
        for path in partner
            .descriptors
            .iter()
            .filter(|d| d.key == settings.path_descriptor_key)
        {
            let (Some(api), Some(limit)) = (
                path.value.as_ref().filter(|v| !v.is_empty()),
                &path.rate_limit,
            ) else {
                continue;
            };
            if let Some(per_minute) = per_minute(limit) {
                limits.insert(SeriesKey::new(partner_id.clone(), api.clone()), per_minute);
            }
        }
    }
    limits
}

fn partners<'a>(
    config: &'a RateLimitConfig,
    settings: &'a ConfigMapSettings,
) -> impl Iterator<Item = &'a Descriptor> {
    config
        .descriptors
        .iter()
        .filter(|d| d.key == settings.partner_descriptor_key)
}

/// A deployed limit in requests per minute; `None` for unlimited entries and units too coarse
/// to compare (week and longer).
fn per_minute(limit: &RateLimit) -> Option<u64> {
    if limit.unlimited == Some(true) {
        return None;
    }
    let n = u64::from(limit.requests_per_unit);
    // The loader upper-cases the unit before looking it up: `Minute` is a minute.
    match limit.unit.to_ascii_lowercase().as_str() {
        "second" => Some(n * 60),
        "minute" => Some(n),
        "hour" => Some(n.div_ceil(60)),
        "day" => Some(n.div_ceil(1440)),
        _ => None,
    }
}

/// A unified diff (3 lines of context) of the deployed ratelimit file against `emitted`, the new
/// one; empty when they are equal.
pub fn unified_diff(deployed: &Deployed, emitted: &str) -> String {
    similar::TextDiff::from_lines(deployed.text.as_str(), emitted)
        .unified_diff()
        .context_radius(3)
        .header(&format!("deployed ({})", deployed.origin), "emitted")
        .to_string()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use trendmaster_types::testing::configmap_settings as settings;

    const DEPLOYED: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: ratelimit-config
  namespace: istio-system
data:
  other.yaml: |
    domain: other
    descriptors: [{key: remote_address, rate_limit: {unit: second, requests_per_unit: 5}}]
  config.yaml: |
    domain: global-ratelimit
    descriptors:
    - key: PARTNER
      value: '111'
      descriptors:
      - key: PATH
        value: /api/a
        shadow_mode: true
        detailed_metric: true
        rate_limit: {unit: minute, requests_per_unit: 1000}
      - key: PATH
        value: /api/b
        rate_limit: {unit: second, requests_per_unit: 10}
      - key: METHOD
        value: POST
        rate_limit: {unit: minute, requests_per_unit: 7}
    - key: remote_address
      rate_limit: {unit: second, requests_per_unit: 50}
"#;

    pub(crate) fn deployed() -> Deployed {
        parse_deployed(DEPLOYED, "cm.yaml", &settings()).unwrap()
    }

    fn key(partner: &str, api: &str) -> SeriesKey {
        SeriesKey::new(partner, api)
    }

    #[test]
    fn a_file_the_service_would_refuse_stops_with_every_loader_reason() {
        // Another data key with our domain: the service refuses the ConfigMap as a whole.
        let duplicate = DEPLOYED.replace("domain: other", "domain: global-ratelimit");
        let error = parse_deployed(&duplicate, "deployed.yaml", &settings())
            .unwrap_err()
            .to_string();
        assert!(error.contains("would refuse to load it"), "{error}");
        assert!(
            error.contains("duplicate domain 'global-ratelimit'"),
            "{error}"
        );
        // A misspelt key, which a serde read would have dropped with the limit under it.
        let misspelt = DEPLOYED.replacen(
            "rate_limit: {unit: minute, requests_per_unit: 1000}",
            "ratelimit: {unit: minute, requests_per_unit: 1000}",
            1,
        );
        let error = parse_deployed(&misspelt, "deployed.yaml", &settings())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("config.yaml: config error, unknown key 'ratelimit' (at descriptors[0].descriptors[0].ratelimit)"),
            "{error}"
        );
        // What the service loads passes.
        parse_deployed(DEPLOYED, "deployed.yaml", &settings()).unwrap();
    }

    #[test]
    fn the_file_is_read_as_the_service_reads_it() {
        // An unquoted partner id is the string "111" to the loader, and a unit is
        // case-insensitive to it.
        let file = "domain: global-ratelimit\ndescriptors:\n- key: PARTNER\n  value: 111\n  descriptors:\n  - key: PATH\n    value: /api/a\n    rate_limit: {unit: Minute, requests_per_unit: 7}\n  - key: PATH\n    value: /api/b\n    rate_limit: {unit: SECOND, requests_per_unit: 2}\n";
        let deployed = parse_deployed(file, "f.yaml", &settings()).unwrap();
        assert_eq!(
            deployed.limits,
            BTreeMap::from([(key("111", "/api/a"), 7), (key("111", "/api/b"), 120)])
        );
    }

    #[test]
    fn text_the_service_does_not_read_as_written_is_not_carried_over() {
        let refused = |text: &str| {
            parse_deployed(text, "deployed.yaml", &settings())
                .unwrap_err()
                .to_string()
        };
        let error = refused("domain: global-ratelimit\n---\ndomain: other\n");
        assert!(
            error.contains("would not read it as written")
                && error.contains("more than one YAML document"),
            "{error}"
        );
        let error = refused(
            "domain: global-ratelimit\ndescriptors:\n- key: remote_address\n  unit: minute\n",
        );
        assert!(
            error.contains("key 'unit' is not read at this level")
                && error.contains("(at descriptors[0].unit)"),
            "{error}"
        );
        let error = refused("apiVersion: networking.istio.io/v1alpha3\nkind: EnvoyFilter\n");
        assert!(
            error.contains("kind EnvoyFilter: not a ConfigMap or a ratelimit file"),
            "{error}"
        );
        let error = refused(&format!("{DEPLOYED}---\n{DEPLOYED}"));
        assert!(error.contains("more than one YAML document"), "{error}");
    }

    #[test]
    fn empty_values_are_catch_alls_not_entries() {
        let file = "domain: global-ratelimit\ndescriptors:\n- key: PARTNER\n  value: '111'\n  descriptors:\n  - key: PATH\n    value: ''\n    rate_limit: {unit: minute, requests_per_unit: 5}\n  - key: PATH\n    value: /api/a\n    rate_limit: {unit: minute, requests_per_unit: 7}\n- key: PARTNER\n  value: ''\n  descriptors:\n  - key: PATH\n    value: /api/a\n    rate_limit: {unit: minute, requests_per_unit: 9}\n";
        let deployed = parse_deployed(file, "f.yaml", &settings()).unwrap();
        assert_eq!(deployed.limits, BTreeMap::from([(key("111", "/api/a"), 7)]));
    }

    #[test]
    fn a_deployed_configmap_reads_back_into_our_entries_per_minute() {
        let deployed = deployed();
        assert_eq!(
            deployed.limits,
            BTreeMap::from([(key("111", "/api/a"), 1000), (key("111", "/api/b"), 600)])
        );
        assert_eq!(deployed.other_data.len(), 1);
        assert!(deployed.text.starts_with("domain: global-ratelimit"));
        // A bare ratelimit file works too.
        let bare = DEPLOYED.split("  config.yaml: |\n").nth(1).unwrap();
        let bare: String = bare
            .lines()
            .map(|l| format!("{}\n", l.strip_prefix("    ").unwrap_or(l)))
            .collect();
        assert_eq!(
            parse_deployed(&bare, "bare.yaml", &settings())
                .unwrap()
                .limits,
            deployed.limits
        );
    }

    #[test]
    fn unreadable_deployed_configs_name_the_origin_and_the_problem() {
        let wrong_key = DEPLOYED.replace("config.yaml: |", "limits.yaml: |");
        let error = parse_deployed(&wrong_key, "cm.yaml", &settings())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("cm.yaml") && error.contains("no data key `config.yaml`"),
            "{error}"
        );
        assert!(error.contains("limits.yaml"), "{error}");
        let wrong_domain = DEPLOYED.replace("domain: global-ratelimit", "domain: edge");
        let error = parse_deployed(&wrong_domain, "cm.yaml", &settings())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("`edge`") && error.contains("`global-ratelimit`"),
            "{error}"
        );
        let error = parse_deployed("a: [", "x.yaml", &settings())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("x.yaml: the ratelimit service would refuse to load it: config.yaml: error loading config file: "),
            "{error}"
        );
        let error = parse_deployed("kind: ConfigMap\ndata: [", "x.yaml", &settings())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("x.yaml") && error.contains("not YAML"),
            "{error}"
        );
    }

    #[test]
    fn the_diff_shows_changed_lines_with_context() {
        let deployed = deployed();
        assert_eq!(unified_diff(&deployed, &deployed.text), "");
        let emitted = deployed
            .text
            .replace("requests_per_unit: 1000", "requests_per_unit: 1100");
        let diff = unified_diff(&deployed, &emitted);
        assert!(
            diff.starts_with("--- deployed (cm.yaml)\n+++ emitted\n@@"),
            "{diff}"
        );
        let changed: Vec<&str> = diff
            .lines()
            .filter(|l| l.starts_with(['-', '+']) && !l.starts_with("---") && !l.starts_with("+++"))
            .collect();
        assert_eq!(changed.len(), 2, "{diff}");
        assert!(changed[0].starts_with('-') && changed[0].ends_with("requests_per_unit: 1000}"));
        assert!(changed[1].starts_with('+') && changed[1].ends_with("requests_per_unit: 1100}"));
    }
}
