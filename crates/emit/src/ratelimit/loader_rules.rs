//! The ratelimit service's load-time checks, re-implemented on the raw YAML text.
//!
//! A reload the service rejects is quiet: the old limits stay active and only a counter moves.
//! So every file we emit goes through the same checks first (`src/config/config_impl.go`), in
//! the same two passes as the loader: a key/type walk over the untyped document
//! (`validateYamlKeys`), then the typed load (`loadDescriptors`). Unlike the loader, which
//! panics at the first problem, all problems are collected.
//!
//! On top of the loader's own checks come those the reference says it skips but a generator
//! must not get wrong; they are marked [`RuleSource::Trendmaster`]. Text the loader accepts but
//! does not read as written (a second YAML document, a key at a level where it is never read, a
//! YAML 1.1 boolean or number) is marked [`RuleSource::ReadDifferently`].
//!
//! Known, deliberate differences: the YAML is read with YAML 1.2 rules (serde_yaml) while the
//! loader uses YAML 1.1 (gopkg.in/yaml.v2). Where a field wants a boolean or a number, a YAML
//! 1.1-only spelling (`yes`, `on`, `1_000`) is reported as read differently rather than as the
//! type error the loader does not raise; duplicate mapping keys are a syntax error here (the
//! loader keeps the last). Both make us stricter, never more lenient.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;

use serde::Deserialize;
use serde_yaml::{Mapping, Value};
use trendmaster_types::one_line;

use super::model::{Descriptor, RateLimit, RateLimitConfig, Replaces};

/// Every key the loader accepts anywhere (`validKeys`).
const VALID_KEYS: &[&str] = &[
    "domain",
    "key",
    "value",
    "descriptors",
    "rate_limit",
    "unit",
    "requests_per_unit",
    "unlimited",
    "shadow_mode",
    "quota_mode",
    "name",
    "replaces",
    "detailed_metric",
    "value_to_metric",
    "share_threshold",
    "metadata",
];

// Where each key is actually read by the typed load; a valid key anywhere else is dropped.
const ROOT_KEYS: &[&str] = &["domain", "descriptors"];
const DESCRIPTOR_KEYS: &[&str] = &[
    "key",
    "value",
    "rate_limit",
    "descriptors",
    "shadow_mode",
    "detailed_metric",
    "value_to_metric",
    "share_threshold",
    "quota_mode",
    "metadata",
];
const RATE_LIMIT_KEYS: &[&str] = &["unit", "requests_per_unit", "unlimited", "name", "replaces"];
const REPLACES_KEYS: &[&str] = &["name"];

/// Descriptor keys Envoy's rate-limit actions send by themselves, or by default when no
/// `descriptor_key` is given (`envoy/config/route/v3/route_components.proto`).
const ENVOY_ACTION_KEYS: &[&str] = &[
    "remote_address",
    "masked_remote_address",
    "source_cluster",
    "destination_cluster",
    "generic_key",
    "header_match",
    "query_match",
];

/// The `Unit` enum of `rls.proto` minus `UNKNOWN`; the loader upper-cases before looking up.
const UNITS: &[&str] = &["SECOND", "MINUTE", "HOUR", "DAY", "WEEK", "MONTH", "YEAR"];

/// Who would object to a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleSource {
    /// The ratelimit service refuses to load the file; the message is the loader's, verbatim
    /// (with the YAML library's own wording inside `error loading config file: …`).
    Loader,
    /// The service loads the file, but it would not do what a generator means; trendmaster
    /// refuses it.
    Trendmaster,
    /// The service loads the file, but does not read this part as it is written: it drops a
    /// second YAML document and any key at a level where the typed load never looks (`unit:`
    /// beside `key:`), and its YAML 1.1 reader takes `yes` for `true` and `1_000` for `1000`,
    /// which YAML 1.2 readers (trendmaster's) take for strings. trendmaster refuses it, and
    /// cannot carry it over from a deployed file: the rewritten file would lose or change it.
    ReadDifferently,
}

/// One problem in a ratelimit config file.
///
/// Displays as `<file_key>: <message>`, the loader's own format, followed by ` (at <location>)`
/// when the problem sits somewhere specific, because the loader's messages rarely say where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoaderError {
    /// The name the loader reports the file under (for a ConfigMap, its data key).
    pub file_key: String,
    /// What is wrong, in the loader's words where the loader raises it.
    pub message: String,
    /// Path inside the document, e.g. `descriptors[0].rate_limit.unit`; empty for the file.
    pub location: String,
    /// Whether the loader itself refuses this, or only trendmaster.
    pub source: RuleSource,
}

impl fmt::Display for LoaderError {
    /// One line: messages quote the file's own keys and values, which may hold line breaks.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}",
            one_line(&self.file_key),
            one_line(&self.message)
        )?;
        if !self.location.is_empty() {
            write!(f, " (at {})", one_line(&self.location))?;
        }
        Ok(())
    }
}

impl std::error::Error for LoaderError {}

/// Checks one ratelimit config file as the service's loader would, plus trendmaster's own
/// rules, and returns the typed config or every problem found.
///
/// `file_key` is the name the loader reports the file under (for a ConfigMap, its data key).
pub fn validate_ratelimit_yaml(
    text: &str,
    file_key: &str,
) -> Result<RateLimitConfig, Vec<LoaderError>> {
    match read_ratelimit_yaml(text, file_key) {
        (Some(config), errors) if errors.is_empty() => Ok(config),
        (_, errors) => Err(errors),
    }
}

/// The file as the service's loader reads it, with every problem [`validate_ratelimit_yaml`]
/// finds: the config is `None` only when the text is not YAML or not a map. With problems of
/// [`RuleSource::Trendmaster`] alone, it is exactly what the service loads (scalars in string
/// fields as their text, `requests_per_unit` 0 when absent); with others it is partial.
pub fn read_ratelimit_yaml(
    text: &str,
    file_key: &str,
) -> (Option<RateLimitConfig>, Vec<LoaderError>) {
    let mut check = Checker {
        file_key,
        errors: Vec::new(),
        limit_names: BTreeSet::new(),
        replaced: Vec::new(),
    };
    let Some(root) = check.parse(text) else {
        return (None, check.errors);
    };
    check.check_keys(&root, "");
    let config = check.load_root(&root);
    check.check_replaces_targets();
    (Some(config), check.errors)
}

/// Checks several files loaded side by side, as the service does with one config directory
/// (without `MERGE_DOMAIN_CONFIG`, so each domain may appear in one file only).
pub fn validate_ratelimit_files<'a>(
    files: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<Vec<RateLimitConfig>, Vec<LoaderError>> {
    let mut configs = Vec::new();
    let mut errors = Vec::new();
    let mut domains = HashSet::new();
    for (file_key, text) in files {
        let domain = match validate_ratelimit_yaml(text, file_key) {
            Ok(config) => {
                let domain = config.domain.clone();
                configs.push(config);
                Some(domain)
            }
            Err(mut problems) => {
                // A file only trendmaster objects to is still loaded by the service, so its
                // domain still collides with another file's.
                let loaded = problems.iter().all(|p| p.source != RuleSource::Loader);
                errors.append(&mut problems);
                loaded.then(|| domain_of(text)).flatten()
            }
        };
        if let Some(domain) = domain
            && !domains.insert(domain.clone())
        {
            errors.push(LoaderError {
                file_key: file_key.to_owned(),
                message: format!("duplicate domain '{domain}' in config file"),
                location: "domain".to_owned(),
                source: RuleSource::Loader,
            });
        }
    }
    if errors.is_empty() {
        Ok(configs)
    } else {
        Err(errors)
    }
}

/// The `domain` of a file that parses (of its first document, the one the loader reads).
fn domain_of(text: &str) -> Option<String> {
    let first = serde_yaml::Deserializer::from_str(text).next()?;
    let value = Value::deserialize(first).ok()?;
    value.get("domain")?.as_str().map(str::to_owned)
}

struct Checker<'a> {
    file_key: &'a str,
    errors: Vec<LoaderError>,
    /// `rate_limit.name`s defined anywhere in the file.
    limit_names: BTreeSet<String>,
    /// `(location, name)` of every `replaces` entry, checked once all names are known.
    replaced: Vec<(String, String)>,
}

impl Checker<'_> {
    fn loader(&mut self, location: &str, message: impl Into<String>) {
        self.push(RuleSource::Loader, location, message.into());
    }

    fn trendmaster(&mut self, location: &str, message: impl Into<String>) {
        self.push(RuleSource::Trendmaster, location, message.into());
    }

    fn read_differently(&mut self, location: &str, message: impl Into<String>) {
        self.push(RuleSource::ReadDifferently, location, message.into());
    }

    fn push(&mut self, source: RuleSource, location: &str, message: String) {
        self.errors.push(LoaderError {
            file_key: self.file_key.to_owned(),
            message,
            location: location.to_owned(),
            source,
        });
    }

    /// The first YAML document as an untyped tree, or `None` after a syntax error.
    fn parse(&mut self, text: &str) -> Option<Mapping> {
        let mut documents = serde_yaml::Deserializer::from_str(text);
        let mut root = match documents.next().map(Value::deserialize) {
            None => Value::Null,
            Some(Ok(root)) => root,
            Some(Err(err)) => {
                self.yaml_error(&err);
                return None;
            }
        };
        if documents.next().is_some() {
            self.read_differently(
                "",
                "the file holds more than one YAML document; the loader reads the first and \
                 silently drops the rest",
            );
        }
        // yaml.v2 resolves `<<` merge keys while decoding; do the same before looking at keys.
        if let Err(err) = root.apply_merge() {
            self.yaml_error(&err);
            return None;
        }
        match root {
            Value::Null => Some(Mapping::new()),
            Value::Mapping(map) => Some(map),
            other => {
                let message = format!(
                    "error loading config file: cannot unmarshal {} into map[interface {{}}]interface {{}}",
                    yaml_tag(&other)
                );
                self.loader("", message);
                None
            }
        }
    }

    fn yaml_error(&mut self, err: &serde_yaml::Error) {
        let detail = err.to_string().replace('\n', " ");
        self.loader("", format!("error loading config file: {detail}"));
    }

    // ---- first pass: `validateYamlKeys` -------------------------------------------------

    fn check_keys(&mut self, map: &Mapping, path: &str) {
        for (key, value) in map {
            let Value::String(name) = key else {
                let message = format!(
                    "config error, key is not of type string: {}",
                    go_format(key)
                );
                self.loader(path, message);
                continue;
            };
            let here = join(path, name);
            if !VALID_KEYS.contains(&name.as_str()) {
                self.loader(&here, format!("config error, unknown key '{name}'"));
                continue;
            }
            // `metadata` is free-form by design; its contents are checked when it is loaded.
            if name != "metadata" {
                self.check_value(value, &here);
            }
        }
    }

    fn check_value(&mut self, value: &Value, here: &str) {
        match value {
            Value::Sequence(items) => {
                for (i, item) in items.iter().enumerate() {
                    let at = format!("{here}[{i}]");
                    match item {
                        Value::Mapping(map) => self.check_keys(map, &at),
                        other => {
                            let message = format!(
                                "config error, yaml file contains list of type other than map: {}",
                                go_format(other)
                            );
                            self.loader(&at, message);
                        }
                    }
                }
            }
            Value::Mapping(map) => self.check_keys(map, here),
            Value::Null | Value::Bool(_) | Value::String(_) => {}
            // Go's `int` is 64-bit; larger integers decode as uint64/float64 and fail the switch.
            Value::Number(n) if n.is_i64() => {}
            Value::Number(_) | Value::Tagged(_) => self.loader(here, "error checking config"),
        }
    }

    // ---- second pass: the typed load (`loadConfig` / `loadDescriptors`) ------------------

    fn load_root(&mut self, root: &Mapping) -> RateLimitConfig {
        self.misplaced_keys(root, "", ROOT_KEYS);
        let domain = self.string(root, "", "domain").unwrap_or_default();
        if domain.is_empty() {
            self.loader("domain", "config file cannot have empty domain");
        } else if domain.contains('.') {
            self.trendmaster(
                "domain",
                format!(
                    "domain '{domain}' contains '.', which scrambles the Prometheus labels of \
                     its stats"
                ),
            );
        }
        let descriptors = self.load_descriptors(root, "", &format!("{domain}."));
        RateLimitConfig {
            domain,
            descriptors,
        }
    }

    /// `parent_key` is the composite path so far, e.g. `domain.PARTNER_111.`.
    fn load_descriptors(&mut self, map: &Mapping, path: &str, parent_key: &str) -> Vec<Descriptor> {
        let here = join(path, "descriptors");
        let items = match map.get("descriptors") {
            None | Some(Value::Null) => return Vec::new(),
            Some(Value::Sequence(items)) => items,
            Some(other) => {
                self.type_error(&here, other, "[]config.YamlDescriptor");
                return Vec::new();
            }
        };
        let mut seen = HashSet::new();
        let mut loaded = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            // Non-map items were reported by the first pass.
            if let Value::Mapping(entry) = item {
                let at = format!("{here}[{i}]");
                loaded.push(self.load_descriptor(entry, &at, parent_key, &mut seen));
            }
        }
        loaded
    }

    fn load_descriptor(
        &mut self,
        map: &Mapping,
        at: &str,
        parent_key: &str,
        seen: &mut HashSet<String>,
    ) -> Descriptor {
        self.misplaced_keys(map, at, DESCRIPTOR_KEYS);
        let key = self.string(map, at, "key").unwrap_or_default();
        let value = self.string(map, at, "value").filter(|v| !v.is_empty());
        // The loader's map key at this level, and the name of the stats and Redis keys.
        let final_key = match &value {
            Some(value) => format!("{key}_{value}"),
            None => key.clone(),
        };
        self.check_identity(at, &key, value.as_deref());
        if !key.is_empty() && !seen.insert(final_key.clone()) {
            let message = format!("duplicate descriptor composite key '{parent_key}{final_key}'");
            self.loader(at, message);
        }
        let rate_limit = self.load_rate_limit(map, at);
        let share_threshold = self.bool(map, at, "share_threshold");
        if share_threshold == Some(true) && !final_key.contains('*') {
            let message = format!(
                "share_threshold can only be used with wildcard values (containing '*'), but \
                 found key '{final_key}'"
            );
            self.loader(at, message);
        }
        Descriptor {
            rate_limit,
            shadow_mode: self.bool(map, at, "shadow_mode"),
            detailed_metric: self.bool(map, at, "detailed_metric"),
            value_to_metric: self.bool(map, at, "value_to_metric"),
            share_threshold,
            quota_mode: self.bool(map, at, "quota_mode"),
            metadata: self.load_metadata(map, at),
            descriptors: self.load_descriptors(map, at, &format!("{parent_key}{final_key}.")),
            key,
            value,
        }
    }

    /// Empty key (loader), plus the characters that make keys ambiguous (trendmaster). Keys
    /// that Envoy's actions fix (`remote_address`, …) are exempt: nobody can rename them, and
    /// an address's dots are not a name one could choose either.
    fn check_identity(&mut self, at: &str, key: &str, value: Option<&str>) {
        let envoy_key = ENVOY_ACTION_KEYS.contains(&key);
        if key.is_empty() {
            self.loader(at, "descriptor has empty key");
        } else if key.contains('_') && !envoy_key {
            let message = format!(
                "descriptor key '{key}' contains '_', the separator of composite keys, so it can \
                 collide with another key and value"
            );
            self.trendmaster(at, message);
        }
        let address = matches!(key, "remote_address" | "masked_remote_address");
        if let Some(value) = value.filter(|v| v.contains('.') && !address) {
            let message = format!(
                "descriptor value '{value}' contains '.', which scrambles the Prometheus labels of \
                 its stats"
            );
            self.trendmaster(at, message);
        }
    }

    fn load_rate_limit(&mut self, map: &Mapping, path: &str) -> Option<RateLimit> {
        let here = join(path, "rate_limit");
        let fields = match map.get("rate_limit")? {
            Value::Null => return None,
            Value::Mapping(fields) => fields,
            other => {
                self.type_error(&here, other, "config.YamlRateLimit");
                return None;
            }
        };
        self.misplaced_keys(fields, &here, RATE_LIMIT_KEYS);
        let limit = RateLimit {
            unit: self.string(fields, &here, "unit").unwrap_or_default(),
            requests_per_unit: self.requests_per_unit(fields, &here),
            unlimited: self.bool(fields, &here, "unlimited"),
            name: self.string(fields, &here, "name"),
            replaces: self.load_replaces(fields, &here),
        };
        self.check_limit(&limit, &here);
        Some(limit)
    }

    fn check_limit(&mut self, limit: &RateLimit, here: &str) {
        let unlimited = limit.unlimited == Some(true);
        let valid_unit = UNITS.contains(&limit.unit.to_uppercase().as_str());
        if unlimited && valid_unit {
            self.loader(here, "should not specify rate limit unit when unlimited");
        } else if !unlimited && !valid_unit {
            self.loader(here, format!("invalid rate limit unit '{}'", limit.unit));
        }

        let own_name = limit.name.as_deref().unwrap_or_default();
        for (i, entry) in limit.replaces.iter().enumerate() {
            let at = format!("{here}.replaces[{i}]");
            if entry.name.is_empty() {
                self.loader(&at, "should not have an empty replaces entry");
            } else if entry.name == own_name {
                self.loader(&at, "replaces should not contain name of same descriptor");
            } else {
                self.replaced.push((at, entry.name.clone()));
            }
        }
        if let Some(name) = &limit.name {
            self.limit_names.insert(name.clone());
        }
    }

    /// `requests_per_unit`, with 0 for absent; refuses 0 because it blocks all traffic.
    fn requests_per_unit(&mut self, fields: &Mapping, here: &str) -> u32 {
        let at = join(here, "requests_per_unit");
        let unlimited = matches!(fields.get("unlimited"), Some(Value::Bool(true)));
        let count = match fields.get("requests_per_unit") {
            None | Some(Value::Null) => 0,
            // Floats and integers past i64 were reported by the first pass.
            Some(Value::Number(n)) if !n.is_i64() => return 0,
            Some(Value::String(text)) if yaml11_int(text).is_some() => {
                let number = yaml11_int(text).unwrap_or_default();
                let message = format!(
                    "'{text}' is the number {number} to the service's YAML 1.1 reader but a string \
                     to YAML 1.2 readers; write {number}"
                );
                self.read_differently(&at, message);
                return u32::try_from(number).unwrap_or_default();
            }
            Some(value @ Value::Number(n)) => match n.as_u64().map(u32::try_from) {
                Some(Ok(count)) => count,
                _ => {
                    self.type_error(&at, value, "uint32");
                    return 0;
                }
            },
            Some(other) => {
                self.type_error(&at, other, "uint32");
                return 0;
            }
        };
        if count == 0 && !unlimited {
            self.trendmaster(
                &at,
                "requests_per_unit is missing or 0, which the service reads as \"block every \
                 request\"",
            );
        }
        count
    }

    fn load_replaces(&mut self, fields: &Mapping, here: &str) -> Vec<Replaces> {
        let at = join(here, "replaces");
        let items = match fields.get("replaces") {
            None | Some(Value::Null) => return Vec::new(),
            Some(Value::Sequence(items)) => items,
            Some(other) => {
                self.type_error(&at, other, "[]config.yamlReplaces");
                return Vec::new();
            }
        };
        let mut replaces = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            if let Value::Mapping(entry) = item {
                let at = format!("{at}[{i}]");
                self.misplaced_keys(entry, &at, REPLACES_KEYS);
                let name = self.string(entry, &at, "name").unwrap_or_default();
                replaces.push(Replaces { name });
            }
        }
        replaces
    }

    /// `metadata` becomes a protobuf `Struct`, which only has string keys.
    fn load_metadata(&mut self, map: &Mapping, path: &str) -> Option<Mapping> {
        let here = join(path, "metadata");
        match map.get("metadata")? {
            Value::Null => None,
            Value::Mapping(metadata) => {
                if let Some(key) = first_non_string_key(metadata) {
                    let message = format!(
                        "error parsing metadata: key is not of type string: {}",
                        go_format(key)
                    );
                    self.loader(&here, message);
                }
                Some(metadata.clone())
            }
            other => {
                self.loader(
                    &here,
                    format!("error parsing metadata: {} is not a map", yaml_tag(other)),
                );
                None
            }
        }
    }

    /// A `replaces` that names no limit in the file has no effect; the loader does not say so.
    fn check_replaces_targets(&mut self) {
        let unknown: Vec<(String, String)> = self
            .replaced
            .iter()
            .filter(|(_, name)| !self.limit_names.contains(name))
            .cloned()
            .collect();
        for (at, name) in unknown {
            let message = format!(
                "replaces names '{name}', but no rate_limit in this file has that name, so it \
                 replaces nothing"
            );
            self.trendmaster(&at, message);
        }
    }

    /// A key the loader accepts somewhere, at a level where the typed load never reads it: the
    /// classic `unit:` written beside `key:` instead of under `rate_limit:`, which leaves the
    /// descriptor without any limit.
    fn misplaced_keys(&mut self, map: &Mapping, path: &str, read_here: &[&str]) {
        for key in map.keys() {
            let Value::String(name) = key else { continue };
            if VALID_KEYS.contains(&name.as_str()) && !read_here.contains(&name.as_str()) {
                let message = format!(
                    "key '{name}' is not read at this level, so the loader silently ignores it"
                );
                self.read_differently(&join(path, name), message);
            }
        }
    }

    // ---- typed field readers, with yaml.v2's conversions --------------------------------

    /// yaml.v2 stores any scalar's text in a string field; maps and lists do not fit.
    fn string(&mut self, map: &Mapping, path: &str, name: &str) -> Option<String> {
        match map.get(name)? {
            Value::Null => None,
            Value::String(text) => Some(text.clone()),
            Value::Bool(flag) => Some(flag.to_string()),
            Value::Number(number) => Some(number.to_string()),
            other => {
                self.type_error(&join(path, name), other, "string");
                None
            }
        }
    }

    fn bool(&mut self, map: &Mapping, path: &str, name: &str) -> Option<bool> {
        match map.get(name)? {
            Value::Null => None,
            Value::Bool(flag) => Some(*flag),
            Value::String(text) if yaml11_bool(text).is_some() => {
                let message = format!(
                    "'{text}' is a boolean to the service's YAML 1.1 reader but a string to YAML \
                     1.2 readers; write {}",
                    yaml11_bool(text).unwrap_or_default()
                );
                self.read_differently(&join(path, name), message);
                yaml11_bool(text)
            }
            other => {
                self.type_error(&join(path, name), other, "bool");
                None
            }
        }
    }

    /// yaml.v2's `cannot unmarshal <tag> [`<text>`] into <Go type>`.
    fn type_error(&mut self, at: &str, value: &Value, go_type: &str) {
        // Custom-tagged nodes were already refused by the first pass.
        if matches!(value, Value::Tagged(_)) {
            return;
        }
        let message = format!(
            "error loading config file: cannot unmarshal {} into {go_type}",
            yaml_tag(value)
        );
        self.loader(at, message);
    }
}

/// What yaml.v2 (YAML 1.1) resolves a plain scalar to when YAML 1.2 reads it as a string:
/// `y`, `yes`, `on`, … (`true`/`false` are booleans to both).
fn yaml11_bool(text: &str) -> Option<bool> {
    match text {
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Some(true),
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => Some(false),
        _ => None,
    }
}

/// yaml.v2 drops `_` from integers (`1_000`), which YAML 1.2 reads as a string.
fn yaml11_int(text: &str) -> Option<u64> {
    let digits = text.starts_with(|c: char| c.is_ascii_digit())
        && text.contains('_')
        && text.bytes().all(|b| b.is_ascii_digit() || b == b'_');
    digits.then(|| text.replace('_', "").parse().ok()).flatten()
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

/// The node as yaml.v2 names it in type errors: the tag, and for scalars the text (shortened
/// past 10 characters, as yaml.v2 does).
fn yaml_tag(value: &Value) -> String {
    let (tag, text) = match value {
        Value::Null => ("!!null", String::new()),
        Value::Bool(flag) => ("!!bool", flag.to_string()),
        Value::Number(n) if n.is_f64() => ("!!float", n.to_string()),
        Value::Number(n) => ("!!int", n.to_string()),
        Value::String(text) => ("!!str", text.clone()),
        Value::Sequence(_) => return "!!seq".to_owned(),
        Value::Mapping(_) => return "!!map".to_owned(),
        Value::Tagged(tagged) => return tagged.tag.to_string(),
    };
    if text.chars().count() > 10 {
        let head: String = text.chars().take(7).collect();
        format!("{tag} `{head}...`")
    } else {
        format!("{tag} `{text}`")
    }
}

/// A value as Go's `%v` prints what yaml.v2 decoded, which is how the loader quotes values.
fn go_format(value: &Value) -> String {
    match value {
        Value::Null => "<nil>".to_owned(),
        Value::Bool(flag) => flag.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(text) => text.clone(),
        Value::Sequence(items) => {
            let items: Vec<String> = items.iter().map(go_format).collect();
            format!("[{}]", items.join(" "))
        }
        Value::Mapping(map) => {
            // fmt sorts map keys when printing.
            let entries: BTreeMap<String, String> = map
                .iter()
                .map(|(k, v)| (go_format(k), go_format(v)))
                .collect();
            let entries: Vec<String> = entries.iter().map(|(k, v)| format!("{k}:{v}")).collect();
            format!("map[{}]", entries.join(" "))
        }
        Value::Tagged(tagged) => format!("{} {}", tagged.tag, go_format(&tagged.value)),
    }
}

fn first_non_string_key(map: &Mapping) -> Option<&Value> {
    map.iter().find_map(|(key, value)| {
        if !key.is_string() {
            return Some(key);
        }
        match value {
            Value::Mapping(inner) => first_non_string_key(inner),
            Value::Sequence(items) => items.iter().find_map(|item| match item {
                Value::Mapping(inner) => first_non_string_key(inner),
                _ => None,
            }),
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests;
