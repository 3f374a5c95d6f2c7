//! Errors of every stage, turned into one message and an exit code here, at the edge.

use trendmaster_config::ConfigProblems;

/// Documented exit codes (README "Exit codes").
pub mod exit {
    pub const SUCCESS: u8 = 0;
    pub const RUNTIME_FAILURE: u8 = 1;
    /// `--detailed-exitcode`: changes present or held.
    pub const CHANGES: u8 = 2;
    pub const INVALID_CONFIG: u8 = 3;
    pub const SOURCE_UNAVAILABLE: u8 = 4;
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Config(ConfigProblems),
    #[error("{0}")]
    Usage(String),
    /// `--validate-only` found problems (configuration and ConfigMap naming together).
    #[error("{}", .0.join("\n"))]
    Invalid(Vec<String>),
    #[error(transparent)]
    Fetch(#[from] trendmaster_fetch::FetchError),
    /// Boxed: emit errors carry paths and I/O errors, and would make every `Result` here large.
    #[error(transparent)]
    Emit(Box<trendmaster_emit::EmitError>),
    /// No plan: an `--approve` that names nothing analysed, or the mass-cut sanity gate.
    #[error(transparent)]
    Plan(#[from] trendmaster_plan::PlanError),
    #[error(transparent)]
    Report(#[from] trendmaster_report::ReportError),
    #[error(transparent)]
    Cluster(#[from] trendmaster_cluster::ClusterError),
    #[error("{0}")]
    NothingToEmit(String),
    /// Some series could not be fetched; the run refuses to emit a partial ConfigMap.
    #[error("{0}")]
    FetchFailures(String),
    /// `merge`: a shard file is missing or unreadable (a shard run failed or has not finished).
    #[error("{0}")]
    ShardsIncomplete(String),
    #[error("{0}")]
    Output(String),
    /// Another run holds the output directory.
    #[error("{0}")]
    Busy(String),
}

impl From<trendmaster_emit::EmitError> for AppError {
    fn from(error: trendmaster_emit::EmitError) -> Self {
        Self::Emit(Box::new(error))
    }
}

impl AppError {
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Config(_) | Self::Usage(_) | Self::Invalid(_) => exit::INVALID_CONFIG,
            Self::Fetch(trendmaster_fetch::FetchError::Config(_)) => exit::INVALID_CONFIG,
            Self::Fetch(trendmaster_fetch::FetchError::Export { .. }) => exit::RUNTIME_FAILURE,
            Self::Fetch(_) | Self::FetchFailures(_) | Self::ShardsIncomplete(_) => {
                exit::SOURCE_UNAVAILABLE
            }
            // A `--current-from` file we cannot read is bad input, like a bad config file; so is
            // a `--gitops-dir` holding a file under one of our names that someone else wrote.
            Self::Emit(error)
                if matches!(
                    **error,
                    trendmaster_emit::EmitError::Deployed { .. }
                        | trendmaster_emit::EmitError::NotOurs { .. }
                ) =>
            {
                exit::INVALID_CONFIG
            }
            Self::Plan(trendmaster_plan::PlanError::UnknownApproval { .. }) => exit::INVALID_CONFIG,
            Self::Plan(trendmaster_plan::PlanError::MassCut { .. }) => exit::RUNTIME_FAILURE,
            Self::Cluster(error) => match error {
                trendmaster_cluster::ClusterError::Config(_)
                | trendmaster_cluster::ClusterError::NoSuchVersion { .. } => exit::INVALID_CONFIG,
                trendmaster_cluster::ClusterError::Unreachable { .. } => exit::SOURCE_UNAVAILABLE,
                _ => exit::RUNTIME_FAILURE,
            },
            Self::Emit(_)
            | Self::Report(_)
            | Self::NothingToEmit(_)
            | Self::Output(_)
            | Self::Busy(_) => exit::RUNTIME_FAILURE,
        }
    }

    /// One line per problem (a configuration can have several).
    pub fn lines(&self) -> Vec<String> {
        match self {
            Self::Config(problems) => problems.iter().map(ToString::to_string).collect(),
            Self::Invalid(problems) => problems.clone(),
            other => vec![other.to_string()],
        }
    }
}
