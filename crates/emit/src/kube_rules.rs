//! The API server's validation rules for a ConfigMap, checked before anything is written.
//!
//! Ported from `kubernetes/apimachinery:pkg/util/validation` (`IsDNS1123Subdomain`,
//! `IsDNS1123Label`, `IsQualifiedName`, `IsValidLabelValue`, `IsConfigMapKey`) and
//! `ValidateConfigMap`, by hand rather than with regexes: each pattern is a few character
//! classes. One rule is ours: data keys must not start with `.`, because the ratelimit service
//! skips dot-files when `RUNTIME_IGNOREDOTFILES=true`, the setting the working recipe needs.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::ConfigMap;

/// `core.MaxSecretSize`, which also bounds a ConfigMap's data.
pub const MAX_DATA_BYTES: usize = 1024 * 1024;
/// `TotalAnnotationSizeLimitB`.
pub const MAX_ANNOTATION_BYTES: usize = 256 * 1024;
const MAX_SUBDOMAIN: usize = 253;
const MAX_LABEL: usize = 63;
const MAX_NAME_PART: usize = 63;
const MAX_DATA_KEY: usize = 253;

/// One rule a field breaks, e.g. `metadata.labels["Bad Key"]: …`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeProblem {
    /// Path of the offending field, e.g. `metadata.labels["Bad Key"]`.
    pub field: String,
    /// The rule it breaks.
    pub message: String,
}

impl fmt::Display for KubeProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Every rule the ConfigMap breaks; empty when the API server would accept it.
pub fn check_configmap(configmap: &ConfigMap) -> Vec<KubeProblem> {
    let mut problems = Problems::default();
    let meta = &configmap.metadata;
    let name = meta.name.as_deref().unwrap_or_default();
    problems.check("metadata.name", name, dns1123_subdomain);
    let namespace = meta.namespace.as_deref().unwrap_or_default();
    problems.check("metadata.namespace", namespace, dns1123_label);
    if let Some(labels) = &meta.labels {
        check_labels(&mut problems, labels);
    }
    if let Some(annotations) = &meta.annotations {
        check_annotations(&mut problems, annotations);
    }
    if let Some(data) = &configmap.data {
        check_data(&mut problems, data);
    }
    problems.0
}

#[derive(Default)]
struct Problems(Vec<KubeProblem>);

impl Problems {
    fn check(&mut self, field: &str, value: &str, rule: fn(&str) -> Result<(), String>) {
        if let Err(message) = rule(value) {
            self.push(field, message);
        }
    }

    fn push(&mut self, field: &str, message: String) {
        self.0.push(KubeProblem {
            field: field.to_owned(),
            message,
        });
    }
}

fn check_labels(problems: &mut Problems, labels: &BTreeMap<String, String>) {
    for (key, value) in labels {
        let field = format!("metadata.labels[{key:?}]");
        problems.check(&field, key, qualified_name);
        problems.check(&field, value, label_value);
    }
}

fn check_annotations(problems: &mut Problems, annotations: &BTreeMap<String, String>) {
    let mut total = 0;
    for (key, value) in annotations {
        let field = format!("metadata.annotations[{key:?}]");
        problems.check(&field, &key.to_lowercase(), qualified_name);
        total += key.len() + value.len();
    }
    if total > MAX_ANNOTATION_BYTES {
        let message = format!("annotations total {total} bytes, more than {MAX_ANNOTATION_BYTES}");
        problems.push("metadata.annotations", message);
    }
}

fn check_data(problems: &mut Problems, data: &BTreeMap<String, String>) {
    let mut total = 0;
    for (key, value) in data {
        problems.check(&format!("data[{key:?}]"), key, data_key);
        total += value.len();
    }
    if total > MAX_DATA_BYTES {
        let message = format!("data totals {total} bytes, more than {MAX_DATA_BYTES}");
        problems.push("data", message);
    }
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*`, at most 253 characters.
pub fn dns1123_subdomain(value: &str) -> Result<(), String> {
    if value.len() > MAX_SUBDOMAIN {
        return Err(too_long(value, MAX_SUBDOMAIN));
    }
    if value.split('.').all(is_dns_label_shape) {
        Ok(())
    } else {
        Err(format!(
            "{value:?} is not a DNS-1123 subdomain: lower-case letters, digits, '-' and '.', \
             starting and ending with a letter or digit"
        ))
    }
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 characters.
pub fn dns1123_label(value: &str) -> Result<(), String> {
    if value.len() > MAX_LABEL {
        return Err(too_long(value, MAX_LABEL));
    }
    if is_dns_label_shape(value) {
        Ok(())
    } else {
        Err(format!(
            "{value:?} is not a DNS-1123 label: lower-case letters, digits and '-', starting and \
             ending with a letter or digit"
        ))
    }
}

/// A label or annotation key: an optional DNS-subdomain prefix and `/`, then a name part.
pub fn qualified_name(value: &str) -> Result<(), String> {
    let name = match value.split_once('/') {
        None => value,
        Some((prefix, name)) => {
            if prefix.is_empty() {
                return Err(format!("{value:?} has an empty prefix before '/'"));
            }
            dns1123_subdomain(prefix).map_err(|err| format!("prefix of {value:?}: {err}"))?;
            name
        }
    };
    if name.is_empty() {
        return Err(format!("{value:?} has an empty name part"));
    }
    if name.len() > MAX_NAME_PART {
        return Err(too_long(name, MAX_NAME_PART));
    }
    if is_name_part_shape(name) {
        Ok(())
    } else {
        Err(format!(
            "name part {name:?} must be letters, digits, '-', '_' or '.', starting and ending \
             with a letter or digit"
        ))
    }
}

/// Empty, or a name part of at most 63 characters.
pub fn label_value(value: &str) -> Result<(), String> {
    if value.len() > MAX_LABEL {
        return Err(too_long(value, MAX_LABEL));
    }
    if value.is_empty() || is_name_part_shape(value) {
        Ok(())
    } else {
        Err(format!(
            "label value {value:?} must be empty or letters, digits, '-', '_' or '.', starting \
             and ending with a letter or digit"
        ))
    }
}

/// `[-._a-zA-Z0-9]+`, at most 253 characters, not `.`/`..`/`..*`; and (ours) no leading `.`.
pub fn data_key(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("data key is empty".to_owned());
    }
    if value.len() > MAX_DATA_KEY {
        return Err(too_long(value, MAX_DATA_KEY));
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(format!(
            "data key {value:?} may only contain letters, digits, '-', '_' and '.'"
        ));
    }
    if value.starts_with('.') {
        return Err(format!(
            "data key {value:?} starts with '.': Kubernetes reserves '..' and the ratelimit \
             service skips dot-files"
        ));
    }
    Ok(())
}

fn too_long(value: &str, max: usize) -> String {
    format!(
        "{value:?} is {} characters long, more than {max}",
        value.len()
    )
}

fn is_dns_label_shape(part: &str) -> bool {
    let bytes = part.as_bytes();
    let inner_ok = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-';
    let end_ok = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => end_ok(first) && end_ok(last) && bytes.iter().all(inner_ok),
        _ => false,
    }
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`.
fn is_name_part_shape(part: &str) -> bool {
    let bytes = part.as_bytes();
    let inner_ok = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && bytes.iter().all(inner_ok)
        }
        _ => false,
    }
}

/// Strings that a YAML 1.1 reader (kubectl's, via sigs.k8s.io/yaml) takes for booleans or
/// numbers when they are written unquoted, which serde_yaml (YAML 1.2) does for these.
///
/// Not an API-server rule: it catches metadata that `kubectl apply` would mangle before the
/// server sees it (a label `yes` becomes `true` and the apply fails).
pub fn yaml11_non_string(value: &str) -> bool {
    const BOOLEANS: &[&str] = &[
        "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off",
        "OFF",
    ];
    // yaml.v2 drops '_' from numbers (`1_000`), which YAML 1.2 reads as a string.
    let numeric_with_underscores = value.contains('_')
        && value.starts_with(|c: char| c.is_ascii_digit())
        && value.bytes().all(|b| b.is_ascii_digit() || b == b'_');
    BOOLEANS.contains(&value) || numeric_with_underscores
}

/// The metadata fields and data keys that [`yaml11_non_string`] flags.
pub fn check_yaml11_strings(configmap: &ConfigMap) -> Vec<KubeProblem> {
    let meta = &configmap.metadata;
    let mut fields: Vec<(String, &str)> = Vec::new();
    fields.extend(
        meta.name
            .as_deref()
            .map(|v| ("metadata.name".to_owned(), v)),
    );
    fields.extend(
        meta.namespace
            .as_deref()
            .map(|v| ("metadata.namespace".to_owned(), v)),
    );
    for (section, map) in [("labels", &meta.labels), ("annotations", &meta.annotations)] {
        for (key, value) in map.iter().flatten() {
            let field = format!("metadata.{section}[{key:?}]");
            fields.push((field.clone(), key));
            fields.push((field, value));
        }
    }
    for key in configmap.data.iter().flat_map(BTreeMap::keys) {
        fields.push((format!("data[{key:?}]"), key));
    }
    fields
        .into_iter()
        .filter(|(_, value)| yaml11_non_string(value))
        .map(|(field, value)| KubeProblem {
            field,
            message: format!(
                "{value:?} would be written unquoted and kubectl's YAML 1.1 reader would take \
                 it for a boolean or number; choose another value"
            ),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn valid() -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                name: Some("ratelimit-config".into()),
                namespace: Some("istio-system".into()),
                labels: Some([("app.kubernetes.io/instance".into(), "orp2-rl".into())].into()),
                annotations: Some([("trendmaster.io/source".into(), "demo".into())].into()),
                ..ObjectMeta::default()
            },
            data: Some([("config.yaml".into(), "domain: rl\n".into())].into()),
            ..ConfigMap::default()
        }
    }

    fn fields(configmap: &ConfigMap) -> Vec<String> {
        check_configmap(configmap)
            .into_iter()
            .map(|p| p.field)
            .collect()
    }

    #[test]
    fn a_valid_configmap_has_no_problems() {
        assert_eq!(check_configmap(&valid()), []);
        assert_eq!(check_yaml11_strings(&valid()), []);
    }

    #[test]
    fn name_must_be_a_dns_subdomain() {
        for bad in [
            "",
            "Ratelimit",
            "-rl",
            "rl-",
            "rl..config",
            "rl_config",
            &"a".repeat(254),
        ] {
            let mut cm = valid();
            cm.metadata.name = Some(bad.to_owned());
            assert_eq!(fields(&cm), ["metadata.name"], "{bad:?}");
        }
        for good in ["rl", "rl.config-2", &"a".repeat(63)] {
            assert!(dns1123_subdomain(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn namespace_must_be_a_dns_label() {
        for bad in ["", "istio.system", "Istio", &"a".repeat(64)] {
            let mut cm = valid();
            cm.metadata.namespace = Some(bad.to_owned());
            assert_eq!(fields(&cm), ["metadata.namespace"], "{bad:?}");
        }
        assert!(dns1123_label(&"a".repeat(63)).is_ok());
    }

    #[test]
    fn data_key_rules() {
        for bad in [
            "",
            ".",
            "..",
            "..data",
            ".hidden",
            "config/yaml",
            "a b",
            &"a".repeat(254),
        ] {
            let mut cm = valid();
            cm.data = Some([(bad.to_owned(), "x".to_owned())].into());
            assert_eq!(fields(&cm), [format!("data[{bad:?}]")], "{bad:?}");
        }
        assert!(data_key("Partner_API-1.yaml").is_ok());
    }

    #[test]
    fn data_size_is_capped_at_one_mebibyte() {
        let mut cm = valid();
        cm.data = Some(
            [
                ("a.yaml".to_owned(), "x".repeat(MAX_DATA_BYTES / 2)),
                ("b.yaml".to_owned(), "x".repeat(MAX_DATA_BYTES / 2)),
            ]
            .into(),
        );
        assert_eq!(fields(&cm), Vec::<String>::new());
        cm.data
            .as_mut()
            .unwrap()
            .insert("c.yaml".into(), "x".into());
        assert_eq!(fields(&cm), ["data"]);
    }

    #[test]
    fn label_keys_and_values() {
        let bad_keys = [
            "-app",
            "app-",
            "Example.com/app",
            "/app",
            "example.com/",
            "a/b/c",
            &"k".repeat(64),
        ];
        for bad in bad_keys {
            let mut cm = valid();
            cm.metadata.labels = Some([(bad.to_owned(), "ok".to_owned())].into());
            assert_eq!(
                fields(&cm),
                [format!("metadata.labels[{bad:?}]")],
                "{bad:?}"
            );
        }
        for bad in ["has space", "-x", "x-", &"v".repeat(64)] {
            let mut cm = valid();
            cm.metadata.labels = Some([("app".to_owned(), bad.to_owned())].into());
            assert_eq!(fields(&cm), ["metadata.labels[\"app\"]"], "{bad:?}");
        }
        assert!(qualified_name("Example_Key.1").is_ok());
        assert!(label_value("").is_ok());
    }

    #[test]
    fn annotation_keys_are_checked_lower_cased_and_sizes_summed() {
        let mut cm = valid();
        cm.metadata.annotations = Some([("Example.COM/Key".to_owned(), String::new())].into());
        assert_eq!(fields(&cm), Vec::<String>::new());

        cm.metadata.annotations = Some([("bad key".to_owned(), String::new())].into());
        assert_eq!(fields(&cm), ["metadata.annotations[\"bad key\"]"]);

        let half = "v".repeat(MAX_ANNOTATION_BYTES / 2);
        cm.metadata.annotations =
            Some([("a".to_owned(), half.clone()), ("b".to_owned(), half)].into());
        let problems = check_configmap(&cm);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].field, "metadata.annotations");
        assert!(
            problems[0].message.contains("262146 bytes"),
            "{}",
            problems[0]
        );
    }

    #[test]
    fn yaml11_booleans_and_underscored_numbers_are_flagged() {
        let mut cm = valid();
        cm.metadata.labels = Some([("enabled".to_owned(), "yes".to_owned())].into());
        cm.metadata.annotations = Some([("count".to_owned(), "1_000".to_owned())].into());
        let flagged: Vec<String> = check_yaml11_strings(&cm)
            .into_iter()
            .map(|p| p.field)
            .collect();
        assert_eq!(
            flagged,
            [
                "metadata.labels[\"enabled\"]",
                "metadata.annotations[\"count\"]"
            ]
        );
        assert!(!yaml11_non_string("yesterday"));
        assert!(!yaml11_non_string("v1_0"));
    }
}
