use std::fmt;

use trendmaster_types::one_line;

/// One configuration problem, naming the file, key, variable or flag it concerns.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read config file: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: invalid YAML: {message}")]
    Syntax { file: String, message: String },
    #[error("{file}: unknown key `{key}`{suggestion}")]
    UnknownKey {
        file: String,
        key: String,
        /// `" (did you mean `x`?)"` or empty.
        suggestion: String,
    },
    #[error("{file}: {key}: {message}")]
    WrongType {
        file: String,
        key: String,
        message: String,
    },
    #[error(
        "{file}: {key}: environment variable {variable} is not set and has no default (write ${{{variable}:-default}} to give one)"
    )]
    UnsetVariable {
        file: String,
        key: String,
        variable: String,
    },
    #[error("{origin}: unknown environment `{value}` (known: {known})")]
    UnknownEnvironment {
        origin: String,
        value: String,
        known: String,
    },
    /// A value that parsed but makes no sense; `origin` is the layer that set it.
    #[error("{origin}: {key}: {message}")]
    Invalid {
        origin: String,
        key: String,
        message: String,
    },
    #[error(
        "--partners: partner {partner} is not configured for environment `{environment}` (configured: {configured})"
    )]
    UnknownPartner {
        partner: String,
        environment: String,
        configured: String,
    },
    #[error(
        "--apis: API {api} is not configured for environment `{environment}` (configured: {configured})"
    )]
    UnknownApi {
        api: String,
        environment: String,
        configured: String,
    },
    #[error("environment variable {variable}: {message}")]
    Variable { variable: String, message: String },
    #[error("{flag}: {message}")]
    Flag { flag: String, message: String },
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
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Records `error`, on one line: keys, values and parser messages quoted from a bad file
    /// may hold line breaks, and every problem is printed as one `trendmaster: error:` line.
    pub fn push(&mut self, error: ConfigError) {
        self.0.push(error.on_one_line());
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

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
