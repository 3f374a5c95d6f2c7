//! Which environment this run is for, and how we know.

use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

use crate::error::ConfigError;
use crate::schema::EnvironmentSection;

/// Variables consulted in order; the first one set (and non-empty) wins.
pub const ENVIRONMENT_VARIABLES: [&str; 4] =
    ["ENVIRONMENT", "ENV", "TRENDMASTER_ENV", "DEPLOYMENT_ENV"];

/// Where the environment name came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "from", rename_all = "snake_case")]
pub enum Detection {
    /// `--env NAME`.
    Flag {
        /// The name given.
        value: String,
    },
    /// One of [`ENVIRONMENT_VARIABLES`].
    Variable {
        /// Which variable.
        variable: String,
        /// Its value.
        value: String,
    },
    /// Nothing was set.
    Default,
}

/// The selected environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnvironmentInfo {
    /// Canonical name (a key of `ENVIRONMENTS`).
    pub name: String,
    /// `ENVIRONMENTS.<name>.DESCRIPTION`.
    pub description: String,
    /// Where the name came from.
    pub detection: Detection,
    /// The alias that matched, when the given value was not the canonical name.
    pub alias: Option<String>,
}

impl fmt::Display for EnvironmentInfo {
    /// How the environment was chosen, e.g. `ENV=staging (alias of testing)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.detection {
            Detection::Flag { value } => write!(f, "--env {value}")?,
            Detection::Variable { variable, value } => write!(f, "{variable}={value}")?,
            Detection::Default => {
                return write!(
                    f,
                    "default (none of {} is set)",
                    ENVIRONMENT_VARIABLES.join(", ")
                );
            }
        }
        if self.alias.is_some() {
            write!(f, " (alias of {})", self.name)?;
        }
        Ok(())
    }
}

/// Picks the environment: `--env`, else the first set variable, else `default`.
pub fn detect(
    flag: Option<&str>,
    lookup: &dyn Fn(&str) -> Option<String>,
    default: &str,
    environments: &BTreeMap<String, EnvironmentSection>,
) -> Result<EnvironmentInfo, ConfigError> {
    let (detection, value) = if let Some(value) = flag {
        (
            Detection::Flag {
                value: value.to_string(),
            },
            value.to_string(),
        )
    } else if let Some((variable, value)) = ENVIRONMENT_VARIABLES.iter().find_map(|variable| {
        lookup(variable)
            .filter(|value| !value.trim().is_empty())
            .map(|value| (variable.to_string(), value))
    }) {
        (
            Detection::Variable {
                variable,
                value: value.clone(),
            },
            value,
        )
    } else {
        (Detection::Default, default.to_string())
    };

    let (name, alias) =
        canonical_name(&value, environments).ok_or_else(|| ConfigError::UnknownEnvironment {
            origin: match &detection {
                Detection::Flag { .. } => "--env".to_string(),
                Detection::Variable { variable, .. } => format!("environment variable {variable}"),
                Detection::Default => "default environment".to_string(),
            },
            value: value.clone(),
            known: known_names(environments),
        })?;
    Ok(EnvironmentInfo {
        description: environments[&name].description.clone(),
        name,
        detection,
        alias,
    })
}

/// `(canonical name, alias used)` for a value naming an environment or one of its aliases,
/// compared case-insensitively.
fn canonical_name(
    value: &str,
    environments: &BTreeMap<String, EnvironmentSection>,
) -> Option<(String, Option<String>)> {
    let wanted = value.trim().to_ascii_lowercase();
    if let Some(name) = environments
        .keys()
        .find(|name| name.to_ascii_lowercase() == wanted)
    {
        return Some((name.clone(), None));
    }
    environments.iter().find_map(|(name, section)| {
        section
            .aliases
            .iter()
            .find(|alias| alias.to_ascii_lowercase() == wanted)
            .map(|alias| (name.clone(), Some(alias.clone())))
    })
}

fn known_names(environments: &BTreeMap<String, EnvironmentSection>) -> String {
    environments
        .iter()
        .map(|(name, section)| {
            if section.aliases.is_empty() {
                name.clone()
            } else {
                format!("{name} [{}]", section.aliases.join(", "))
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use trendmaster_types::SourceKind;

    fn environments() -> BTreeMap<String, EnvironmentSection> {
        let section = |aliases: &[&str]| EnvironmentSection {
            description: String::new(),
            aliases: aliases.iter().map(|a| a.to_string()).collect(),
            data_source: SourceKind::Demo,
            prometheus_url: String::new(),
            prometheus_token: None,
            dry_run: true,
            protected: false,
            kube_context: String::new(),
            discover_from_deployed: false,
        };
        BTreeMap::from([
            ("environment".to_string(), section(&["local", "dev"])),
            ("testing".to_string(), section(&["staging"])),
            ("production".to_string(), section(&["prod"])),
        ])
    }

    fn vars(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.to_string())
        }
    }

    #[test]
    fn variables_are_consulted_in_documented_order() {
        let lookup = vars(&[("DEPLOYMENT_ENV", "production"), ("ENV", "testing")]);
        let info = detect(None, &lookup, "environment", &environments()).unwrap();
        assert_eq!(info.name, "testing");
        assert_eq!(info.to_string(), "ENV=testing");

        let lookup = vars(&[("ENVIRONMENT", "prod"), ("ENV", "testing")]);
        let info = detect(None, &lookup, "environment", &environments()).unwrap();
        assert_eq!(info.name, "production");
        assert_eq!(info.alias.as_deref(), Some("prod"));
        assert_eq!(info.to_string(), "ENVIRONMENT=prod (alias of production)");
    }

    #[test]
    fn flag_beats_variables_and_empty_variables_are_ignored() {
        let lookup = vars(&[("ENVIRONMENT", ""), ("ENV", "testing")]);
        let info = detect(Some("Staging"), &lookup, "environment", &environments()).unwrap();
        assert_eq!(info.name, "testing");
        assert_eq!(
            info.detection,
            Detection::Flag {
                value: "Staging".into()
            }
        );

        let info = detect(
            None,
            &vars(&[("ENVIRONMENT", " ")]),
            "environment",
            &environments(),
        )
        .unwrap();
        assert_eq!(info.name, "environment");
        assert_eq!(info.detection, Detection::Default);
    }

    #[test]
    fn unknown_names_are_errors_listing_what_is_known() {
        let error = detect(
            None,
            &vars(&[("TRENDMASTER_ENV", "qa2")]),
            "environment",
            &environments(),
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("TRENDMASTER_ENV"), "{error}");
        assert!(error.contains("`qa2`"), "{error}");
        assert!(error.contains("testing [staging]"), "{error}");
    }
}
