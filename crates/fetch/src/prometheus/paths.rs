//! Path normalisation (`COMMON.PROMETHEUS_CONFIG.path_rules`): path labels with ids in them
//! are a cardinality trap — `apis: auto` would discover one API per user id. A rule folds every
//! whole path segment that matches its regular expression into its placeholder, so that
//! `/users/12345/profile` is discovered as `/users/{id}/profile`; an API written with a
//! placeholder then matches, in PromQL and when answers are credited, every path that folds to
//! it. APIs without a placeholder are matched as before (as substrings), untouched by the rules.

use std::borrow::Cow;

use regex::Regex;
use trendmaster_types::settings::PathRule;

/// The compiled rules.
#[derive(Debug, Clone, Default)]
pub struct PathRules {
    rules: Vec<Compiled>,
}

#[derive(Debug, Clone)]
struct Compiled {
    whole_segment: Regex,
    segment: String,
    placeholder: String,
}

impl PathRules {
    /// Compiles `rules`; an error names the rule and what is wrong with it.
    pub fn new(rules: &[PathRule]) -> Result<PathRules, String> {
        let compiled = rules
            .iter()
            .enumerate()
            .map(|(i, rule)| {
                let name = format!("COMMON.PROMETHEUS_CONFIG.path_rules[{i}]");
                let placeholder = rule.placeholder.trim();
                let braced = placeholder.len() > 2
                    && placeholder.starts_with('{')
                    && placeholder.ends_with('}')
                    && !placeholder[1..placeholder.len() - 1].contains(['{', '}', '/']);
                if !braced {
                    return Err(format!(
                        "{name}.placeholder `{}` must be a name in braces, such as {{id}}",
                        rule.placeholder
                    ));
                }
                let whole_segment = Regex::new(&format!("^(?:{})$", rule.segment))
                    .map_err(|e| format!("{name}.segment `{}`: {e}", rule.segment))?;
                Ok(Compiled {
                    whole_segment,
                    segment: rule.segment.clone(),
                    placeholder: placeholder.to_string(),
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(PathRules { rules: compiled })
    }

    /// `path` with every segment a rule matches replaced by its placeholder (the first rule
    /// that matches a segment wins).
    pub fn fold<'a>(&self, path: &'a str) -> Cow<'a, str> {
        if self.rules.is_empty() {
            return Cow::Borrowed(path);
        }
        let mut changed = false;
        let segments: Vec<&str> = path
            .split('/')
            .map(|segment| {
                match self
                    .rules
                    .iter()
                    .find(|rule| !segment.is_empty() && rule.whole_segment.is_match(segment))
                {
                    Some(rule) => {
                        changed = true;
                        rule.placeholder.as_str()
                    }
                    None => segment,
                }
            })
            .collect();
        if changed {
            Cow::Owned(segments.join("/"))
        } else {
            Cow::Borrowed(path)
        }
    }

    /// Whether `api` holds a placeholder of one of the rules.
    pub fn templated(&self, api: &str) -> bool {
        api.split('/')
            .any(|segment| self.rules.iter().any(|rule| rule.placeholder == segment))
    }

    /// The RE2 pattern matching the paths that fold to `api`: its segments literally, each
    /// placeholder as its rule's expression.
    pub fn pattern(&self, api: &str) -> String {
        api.split('/')
            .map(
                |segment| match self.rules.iter().find(|rule| rule.placeholder == segment) {
                    Some(rule) => format!("(?:{})", rule.segment),
                    None => regex_escape(segment),
                },
            )
            .collect::<Vec<_>>()
            .join("/")
    }

    /// Whether `path` belongs to `api`: contains it, or, for an API with a placeholder,
    /// contains it once folded.
    pub fn contains(&self, path: &str, api: &str) -> bool {
        if self.templated(api) {
            self.fold(path).contains(api)
        } else {
            path.contains(api)
        }
    }
}

/// Escapes RE2 metacharacters so a partner id or path matches literally.
pub fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> PathRules {
        PathRules::new(&[
            PathRule {
                segment: "[0-9]+".into(),
                placeholder: "{id}".into(),
            },
            PathRule {
                segment: "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}".into(),
                placeholder: "{uuid}".into(),
            },
        ])
        .unwrap()
    }

    #[test]
    fn ids_in_realistic_paths_fold_and_the_rest_is_left_alone() {
        let rules = rules();
        for (path, folded) in [
            ("/api/v1/users/12345/profile", "/api/v1/users/{id}/profile"),
            ("/api/v1/users/67890/profile", "/api/v1/users/{id}/profile"),
            (
                "/api/v1/orders/2024/items/7",
                "/api/v1/orders/{id}/items/{id}",
            ),
            (
                "/api/v1/sessions/3f2b1c4d-9a8e-4b7c-8d6e-5f4a3b2c1d0e/refresh",
                "/api/v1/sessions/{uuid}/refresh",
            ),
            // Not whole segments, or not ids: unchanged.
            (
                "/api_v3/service/asset/action/get",
                "/api_v3/service/asset/action/get",
            ),
            ("/api/v2/user123/profile", "/api/v2/user123/profile"),
            ("/", "/"),
        ] {
            assert_eq!(rules.fold(path), folded, "{path}");
        }
    }

    #[test]
    fn a_templated_api_matches_exactly_the_paths_that_fold_to_it() {
        let rules = rules();
        let api = "/api/v1/users/{id}/profile";
        assert!(rules.templated(api));
        assert!(!rules.templated("/api/v1/users"));
        let pattern = Regex::new(&format!("^.*{}.*$", rules.pattern(api))).unwrap();
        for (path, belongs) in [
            ("/api/v1/users/12345/profile", true),
            ("/prefix/api/v1/users/1/profile?x=1", true),
            ("/api/v1/users/abc/profile", false),
            ("/api/v1/users/12345/settings", false),
        ] {
            assert_eq!(pattern.is_match(path), belongs, "{path}");
            assert_eq!(rules.contains(path, api), belongs, "{path}");
        }
        // A literal API is still a substring match, even with digits in the path.
        assert!(rules.contains("/api/v1/items/42", "/api/v1/items/42"));
    }

    #[test]
    fn bad_rules_are_refused_naming_them() {
        let bad = |segment: &str, placeholder: &str| {
            PathRules::new(&[PathRule {
                segment: segment.into(),
                placeholder: placeholder.into(),
            }])
            .unwrap_err()
        };
        assert!(bad("[0-9", "{id}").contains("path_rules[0].segment `[0-9`"));
        assert!(bad("[0-9]+", "id").contains("path_rules[0].placeholder `id`"));
        assert!(bad("[0-9]+", "{a/b}").contains("must be a name in braces"));
    }
}
