use std::path::PathBuf;

/// What went wrong talking to the cluster or with the saved history.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// No usable kubeconfig or in-cluster service account, or a bad `--context`.
    #[error("kubernetes: {0}")]
    Config(String),
    /// The API server could not be reached, or did not answer in time.
    #[error("kubernetes API at {server} is unreachable: {reason}")]
    Unreachable { server: String, reason: String },
    /// Server-side apply found fields owned by another manager with other values.
    #[error("applying configmap {object}: conflict: {message}")]
    Conflict { object: String, message: String },
    /// Any other answer than success from the API server.
    #[error("{action} configmap {object}: the API server answered {code} {reason}: {message}")]
    Api {
        action: &'static str,
        object: String,
        code: u16,
        reason: String,
        message: String,
    },
    /// `--rollback N` asked for more versions than are saved.
    #[error(
        "--rollback {requested}: {available} saved version(s) of configmap {object} in {}",
        dir.display()
    )]
    NoSuchVersion {
        requested: usize,
        available: usize,
        object: String,
        dir: PathBuf,
    },
    #[error("history {path}: {reason}")]
    History { path: PathBuf, reason: String },
}
