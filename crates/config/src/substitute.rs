//! `${VAR}` and `${VAR:-default}` in configuration values.
//!
//! Hand-written rather than `shellexpand`, because shell expansion also rewrites bare `$NAME`,
//! which appears legitimately in regular expressions and PromQL templates.

use serde_yaml::Value;

/// Why a string could not be expanded.
#[derive(Debug, PartialEq, Eq)]
pub enum SubstitutionError {
    /// `${NAME}` with `NAME` unset and no `:-default`.
    Unset(String),
    /// `${` without a closing `}` or with an invalid variable name.
    Malformed(String),
}

/// Expands `${VAR}` and `${VAR:-default}` in `text`; `$${` is a literal `${`.
/// A variable set to the empty string counts as unset for `:-` (as in the shell).
pub fn expand(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, SubstitutionError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(literal) = after.strip_prefix("${") {
            out.push_str("${");
            rest = literal;
            continue;
        }
        let Some(body_start) = after.strip_prefix('{') else {
            out.push('$');
            rest = after;
            continue;
        };
        let end = body_start
            .find('}')
            .ok_or_else(|| SubstitutionError::Malformed(format!("unclosed `${{` in `{text}`")))?;
        let body = &body_start[..end];
        let (name, default) = match body.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (body, None),
        };
        if !is_variable_name(name) {
            return Err(SubstitutionError::Malformed(format!(
                "`${{{body}}}` is not a valid variable reference"
            )));
        }
        match (lookup(name).filter(|v| !v.is_empty()), default) {
            (Some(value), _) => out.push_str(&value),
            (None, Some(default)) => out.push_str(default),
            (None, None) => return Err(SubstitutionError::Unset(name.to_string())),
        }
        rest = &body_start[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Expands every string in `value`, calling `on_error(key_path, error)` for each failure.
///
/// A string that contained a reference and expands to a number or boolean becomes that scalar,
/// so `safety_margin: ${MARGIN:-1.5}` is a number, as it would be written literally.
pub fn expand_tree(
    value: &mut Value,
    lookup: &dyn Fn(&str) -> Option<String>,
    on_error: &mut dyn FnMut(&str, SubstitutionError),
) {
    walk(value, &mut String::new(), lookup, on_error);
}

fn walk(
    value: &mut Value,
    path: &mut String,
    lookup: &dyn Fn(&str) -> Option<String>,
    on_error: &mut dyn FnMut(&str, SubstitutionError),
) {
    match value {
        Value::String(text) if text.contains('$') => match expand(text, lookup) {
            Ok(expanded) => *value = typed_scalar(expanded),
            Err(error) => on_error(path, error),
        },
        Value::Sequence(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                walk(item, path, lookup, on_error);
                path.truncate(len);
            }
        }
        Value::Mapping(map) => {
            for (key, item) in map.iter_mut() {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(&key_text(key));
                walk(item, path, lookup, on_error);
                path.truncate(len);
            }
        }
        Value::Tagged(tagged) => walk(&mut tagged.value, path, lookup, on_error),
        _ => {}
    }
}

fn typed_scalar(text: String) -> Value {
    match serde_yaml::from_str::<Value>(&text) {
        Ok(scalar @ (Value::Number(_) | Value::Bool(_))) => scalar,
        _ => Value::String(text),
    }
}

/// A mapping key as text (keys are strings or numbers in our files).
pub fn key_text(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => serde_yaml::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("prom.local".into()),
            "EMPTY" => Some(String::new()),
            "MARGIN" => Some("1.75".into()),
            _ => None,
        }
    }

    #[test]
    fn expands_set_variables_and_defaults() {
        assert_eq!(
            expand("http://${HOST}:9090", &env).unwrap(),
            "http://prom.local:9090"
        );
        assert_eq!(expand("${MISSING:-fallback}", &env).unwrap(), "fallback");
        assert_eq!(expand("${EMPTY:-fallback}", &env).unwrap(), "fallback");
        assert_eq!(expand("${MISSING:-}", &env).unwrap(), "");
    }

    #[test]
    fn leaves_bare_dollars_and_escapes_alone() {
        assert_eq!(expand("path=~\".*$\"", &env).unwrap(), "path=~\".*$\"");
        assert_eq!(expand("$${HOST}", &env).unwrap(), "${HOST}");
        assert_eq!(expand("$HOST", &env).unwrap(), "$HOST");
    }

    #[test]
    fn unset_without_default_and_malformed_references_are_errors() {
        assert_eq!(
            expand("${MISSING}", &env),
            Err(SubstitutionError::Unset("MISSING".into()))
        );
        assert!(matches!(
            expand("${HOST", &env),
            Err(SubstitutionError::Malformed(_))
        ));
        assert!(matches!(
            expand("${1BAD}", &env),
            Err(SubstitutionError::Malformed(_))
        ));
    }

    #[test]
    fn tree_expansion_types_numbers_and_reports_key_paths() {
        let mut tree: Value = serde_yaml::from_str(
            "COMMON:\n  RATE_CALCULATION:\n    safety_margin: ${MARGIN}\n  urls: [\"${HOST}\", \"${NOPE}\"]\n",
        )
        .unwrap();
        let mut errors = Vec::new();
        expand_tree(&mut tree, &env, &mut |path, error| {
            errors.push((path.to_string(), error))
        });
        assert_eq!(
            tree["COMMON"]["RATE_CALCULATION"]["safety_margin"].as_f64(),
            Some(1.75)
        );
        assert_eq!(tree["COMMON"]["urls"][0].as_str(), Some("prom.local"));
        assert_eq!(
            errors,
            vec![(
                "COMMON.urls[1]".to_string(),
                SubstitutionError::Unset("NOPE".into())
            )]
        );
    }
}
