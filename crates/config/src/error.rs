//! Configuration problems: one [`ConfigError`] per problem, all of them in [`ConfigProblems`].

use std::fmt;

use trendmaster_types::one_line;

/// One configuration problem, naming the file, key, variable or flag it concerns.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A config file exists (or was asked for) but cannot be read.
    #[error("{path}: cannot read config file: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why it cannot be read.
        #[source]
        source: std::io::Error,
    },
    /// A layer is not YAML, or not a mapping at the top.
    #[error("{file}: invalid YAML: {message}")]
    Syntax {
        /// The layer's label (a path, or `built-in defaults`).
        file: String,
        /// The parser's message.
        message: String,
    },
    /// A key the schema does not know.
    #[error("{file}: unknown key `{key}`{suggestion}")]
    UnknownKey {
        /// The layer that holds it.
        file: String,
        /// Dotted path of the key.
        key: String,
        /// `" (did you mean `x`?)"` or empty.
        suggestion: String,
    },
    /// A value of the wrong type, or a malformed `${VAR}`.
    #[error("{file}: {key}: {message}")]
    WrongType {
        /// The layer that holds it.
        file: String,
        /// Dotted path of the key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A `${VAR}` without default whose variable is not set.
    #[error(
        "{file}: {key}: environment variable {variable} is not set and has no default (write ${{{variable}:-default}} to give one)"
    )]
    UnsetVariable {
        /// The layer that holds it.
        file: String,
        /// Dotted path of the key whose value names it.
        key: String,
        /// The variable.
        variable: String,
    },
    /// `--env` or an environment variable names no environment or alias.
    #[error("{origin}: unknown environment `{value}` (known: {known})")]
    UnknownEnvironment {
        /// `--env`, or the variable that gave the name.
        origin: String,
        /// The name given.
        value: String,
        /// The environments there are, for the message.
        known: String,
    },
    /// A value that parsed but makes no sense; `origin` is the layer that set it.
    #[error("{origin}: {key}: {message}")]
    Invalid {
        /// The layer that set the key.
        origin: String,
        /// Dotted path of the key.
        key: String,
        /// What is wrong and what is expected.
        message: String,
    },
    /// `--partners` names a partner the environment does not configure.
    #[error(
        "--partners: partner {partner} is not configured for environment `{environment}` (configured: {configured})"
    )]
    UnknownPartner {
        /// The partner given.
        partner: String,
        /// The selected environment.
        environment: String,
        /// Its configured partners, for the message.
        configured: String,
    },
    /// `--apis` names an API the environment does not configure.
    #[error(
        "--apis: API {api} is not configured for environment `{environment}` (configured: {configured})"
    )]
    UnknownApi {
        /// The API given.
        api: String,
        /// The selected environment.
        environment: String,
        /// Its configured APIs, for the message.
        configured: String,
    },
    /// An environment variable with a value that cannot be used.
    #[error("environment variable {variable}: {message}")]
    Variable {
        /// The variable.
        variable: String,
        /// What is wrong.
        message: String,
    },
    /// A flag (or the configured key it stands in for) with a value that cannot be used.
    #[error("{flag}: {message}")]
    Flag {
        /// The flag, or the layer and key that set the value.
        flag: String,
        /// What is wrong.
        message: String,
    },
}

impl ConfigError {
    /// Every text field through [`one_line`].
    fn on_one_line(self) -> Self {
        let line = |text: String| one_line(&text);
        match self {
            Self::Read { path, source } => Self::Read {
                path: line(path),
                source,
            },
            Self::Syntax { file, message } => Self::Syntax {
                file: line(file),
                message: line(message),
            },
            Self::UnknownKey {
                file,
                key,
                suggestion,
            } => Self::UnknownKey {
                file: line(file),
                key: line(key),
                // Ours, from the known keys; keeps its leading space.
                suggestion,
            },
            Self::WrongType { file, key, message } => Self::WrongType {
                file: line(file),
                key: line(key),
                message: line(message),
            },
            Self::UnsetVariable {
                file,
                key,
                variable,
            } => Self::UnsetVariable {
                file: line(file),
                key: line(key),
                variable: line(variable),
            },
            Self::UnknownEnvironment {
                origin,
                value,
                known,
            } => Self::UnknownEnvironment {
                origin: line(origin),
                value: line(value),
                known: line(known),
            },
            Self::Invalid {
                origin,
                key,
                message,
            } => Self::Invalid {
                origin: line(origin),
                key: line(key),
                message: line(message),
            },
            Self::UnknownPartner {
                partner,
                environment,
                configured,
            } => Self::UnknownPartner {
                partner: line(partner),
                environment: line(environment),
                configured: line(configured),
            },
            Self::UnknownApi {
                api,
                environment,
                configured,
            } => Self::UnknownApi {
                api: line(api),
                environment: line(environment),
                configured: line(configured),
            },
            Self::Variable { variable, message } => Self::Variable {
                variable: line(variable),
                message: line(message),
            },
            Self::Flag { flag, message } => Self::Flag {
                flag: line(flag),
                message: line(message),
            },
        }
    }
}

/// Every problem found while loading the configuration, in the order found.
#[derive(Debug, Default)]
pub struct ConfigProblems(pub Vec<ConfigError>);

impl ConfigProblems {
    /// Whether no problem was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Records `error`, on one line: keys, values and parser messages quoted from a bad file
    /// may hold line breaks, and every problem is printed as one `trendmaster: error:` line.
    pub fn push(&mut self, error: ConfigError) {
        self.0.push(error.on_one_line());
    }

    /// Number of problems recorded.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The problems, in the order found.
    pub fn iter(&self) -> impl Iterator<Item = &ConfigError> {
        self.0.iter()
    }

    /// `Ok(value)` when no problem was recorded.
    pub fn into_result<T>(self, value: T) -> Result<T, ConfigProblems> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }
}

impl fmt::Display for ConfigProblems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigProblems {}
