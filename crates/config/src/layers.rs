//! Configuration layers as YAML trees: parsing, `${VAR}` expansion, deep merging, and checking
//! each layer for unknown keys and wrong types so that every problem names the file it is in.

use serde_yaml::{Mapping, Value};

use crate::error::{ConfigError, ConfigProblems};
use crate::schema::ConfigFile;
use crate::substitute::{self, SubstitutionError};

/// One source of settings: a file, or the built-in defaults.
#[derive(Debug, Clone)]
pub struct Layer {
    /// What to call it in messages: a path, or `built-in defaults`.
    pub label: String,
    pub tree: Value,
}

impl Layer {
    /// Parses `text`, turns numeric map keys into strings and expands `${VAR}`s. Problems are
    /// recorded; `None` when the text is not YAML at all.
    pub fn parse(
        label: &str,
        text: &str,
        lookup: &dyn Fn(&str) -> Option<String>,
        problems: &mut ConfigProblems,
    ) -> Option<Layer> {
        let mut tree: Value = match serde_yaml::from_str(text) {
            Ok(tree) => tree,
            Err(error) => {
                problems.push(ConfigError::Syntax {
                    file: label.to_string(),
                    message: error.to_string(),
                });
                return None;
            }
        };
        // An empty file is an empty mapping, not an error.
        if tree.is_null() {
            tree = Value::Mapping(Mapping::new());
        }
        if !tree.is_mapping() {
            problems.push(ConfigError::Syntax {
                file: label.to_string(),
                message: "the top level must be a mapping of section names".into(),
            });
            return None;
        }
        stringify_keys(&mut tree);
        substitute::expand_tree(&mut tree, lookup, &mut |key, error| {
            problems.push(match error {
                SubstitutionError::Unset(variable) => ConfigError::UnsetVariable {
                    file: label.to_string(),
                    key: key.to_string(),
                    variable,
                },
                SubstitutionError::Malformed(message) => ConfigError::WrongType {
                    file: label.to_string(),
                    key: key.to_string(),
                    message,
                },
            })
        });
        Some(Layer {
            label: label.to_string(),
            tree,
        })
    }

    /// The value at a dotted path, if this layer sets it.
    pub fn get(&self, path: &[&str]) -> Option<&Value> {
        path.iter()
            .try_fold(&self.tree, |node, segment| node.as_mapping()?.get(*segment))
    }
}

/// Partner ids are often written as numbers (`111: 1.5`); map keys are always text for us.
fn stringify_keys(value: &mut Value) {
    match value {
        Value::Mapping(map) => {
            let entries = std::mem::take(map);
            for (key, mut item) in entries {
                stringify_keys(&mut item);
                let key = match key {
                    Value::Number(_) | Value::Bool(_) => Value::String(substitute::key_text(&key)),
                    other => other,
                };
                map.insert(key, item);
            }
        }
        Value::Sequence(items) => items.iter_mut().for_each(stringify_keys),
        _ => {}
    }
}

/// Deep merge: mappings merge key by key; anything else in `overlay` replaces `base`. An empty
/// (null) overlay value keeps the base, so `annotations:` with nothing after it changes nothing.
pub fn merge(base: &mut Value, overlay: &Value) {
    match (base, overlay) {
        (_, Value::Null) => {}
        (Value::Mapping(base_map), Value::Mapping(overlay_map)) => {
            for (key, value) in overlay_map {
                match base_map.get_mut(key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        base_map.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (base, overlay) => *base = overlay.clone(),
    }
}

/// Deserialises `tree` into the file schema, recording unknown keys and type errors against
/// `file`. `prefix` is prepended to key paths (for `DEPLOYMENT_OVERRIDES.<env>.`); `known` is the
/// tree whose keys are offered as "did you mean" suggestions.
pub fn deserialize_checked(
    tree: &Value,
    file: &str,
    prefix: &str,
    known: &Value,
    problems: &mut ConfigProblems,
) -> Option<ConfigFile> {
    let mut unknown: Vec<String> = Vec::new();
    let mut record = |path: serde_ignored::Path| unknown.push(path.to_string());
    let deserializer = serde_ignored::Deserializer::new(tree.clone(), &mut record);
    let parsed: Result<ConfigFile, _> = serde_path_to_error::deserialize(deserializer);
    for key in unknown {
        problems.push(ConfigError::UnknownKey {
            file: file.to_string(),
            suggestion: suggestion(known, &key),
            key: format!("{prefix}{key}"),
        });
    }
    match parsed {
        Ok(config) => Some(config),
        Err(error) => {
            problems.push(ConfigError::WrongType {
                file: file.to_string(),
                key: format!("{prefix}{}", error.path()),
                message: error.into_inner().to_string(),
            });
            None
        }
    }
}

/// `" (did you mean `x`?)"` when a known sibling key is close to the last segment of `path`.
fn suggestion(known: &Value, path: &str) -> String {
    let segments: Vec<&str> = path.split('.').collect();
    let Some((unknown, parents)) = segments.split_last() else {
        return String::new();
    };
    let Some(siblings) = parents
        .iter()
        .try_fold(known, |node, segment| node.as_mapping()?.get(*segment))
        .and_then(Value::as_mapping)
    else {
        return String::new();
    };
    let wanted = unknown.to_ascii_lowercase();
    siblings
        .keys()
        .filter_map(Value::as_str)
        .filter(|candidate| candidate != unknown)
        .map(|candidate| {
            let score =
                strsim::normalized_damerau_levenshtein(&wanted, &candidate.to_ascii_lowercase());
            (score, candidate)
        })
        .filter(|(score, _)| *score >= 0.7)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| format!(" (did you mean `{candidate}`?)"))
        .unwrap_or_default()
}

/// The label of the last layer that sets `path`, for messages about merged values.
pub fn origin_of<'a>(layers: &'a [Layer], path: &[&str]) -> &'a str {
    layers
        .iter()
        .rev()
        .find(|layer| layer.get(path).is_some())
        .map_or("configuration", |layer| layer.label.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Value {
        serde_yaml::from_str(text).unwrap()
    }

    #[test]
    fn merge_is_deep_for_maps_and_replaces_lists_and_scalars() {
        let mut base = parse("a: {x: 1, y: [1, 2]}\nb: 2\n");
        merge(&mut base, &parse("a: {y: [3], z: 4}\nb: ~\n"));
        assert_eq!(base, parse("a: {x: 1, y: [3], z: 4}\nb: 2\n"));
    }

    #[test]
    fn numeric_keys_become_strings() {
        let mut problems = ConfigProblems::default();
        let layer = Layer::parse(
            "f.yaml",
            "m: {111: 1.5, true: 2}\n",
            &|_| None,
            &mut problems,
        )
        .unwrap();
        assert!(problems.is_empty());
        assert_eq!(layer.get(&["m", "111"]).and_then(Value::as_f64), Some(1.5));
        assert_eq!(layer.get(&["m", "true"]).and_then(Value::as_f64), Some(2.0));
    }

    #[test]
    fn syntax_errors_name_the_file_and_position() {
        let mut problems = ConfigProblems::default();
        assert!(Layer::parse("my.yaml", "a: [1, 2\n", &|_| None, &mut problems).is_none());
        let message = problems.to_string();
        assert!(message.starts_with("my.yaml: invalid YAML:"), "{message}");
        assert!(message.contains("line"), "{message}");
    }

    #[test]
    fn suggestions_come_from_known_siblings() {
        let known = parse("COMMON: {RATE_CALCULATION: {peak_multiplier: 2.5, safety_margin: 1.2}}");
        assert_eq!(
            suggestion(&known, "COMMON.RATE_CALCULATION.peak_multiplierr"),
            " (did you mean `peak_multiplier`?)"
        );
        assert_eq!(suggestion(&known, "COMMON.RATE_CALCULATION.zzz"), "");
        assert_eq!(suggestion(&known, "common"), " (did you mean `COMMON`?)");
    }
}
