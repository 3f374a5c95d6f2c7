//! The cluster crate's one error type.

use std::path::PathBuf;

/// What went wrong talking to the cluster or with the saved history.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// No usable kubeconfig or in-cluster service account, or a bad `--context`.
    #[error("kubernetes: {0}")]
    Config(String),
    /// The API server could not be reached, or did not answer in time.
    #[error("kubernetes API at {server} is unreachable: {reason}")]
    Unreachable {
        /// The API server's URL.
        server: String,
        /// The client's error chain.
        reason: String,
    },
    /// Server-side apply found fields owned by another manager with other values.
    #[error("applying configmap {object}: conflict: {message}")]
    Conflict {
        /// `namespace/name` of the ConfigMap.
        object: String,
        /// The API server's message, with what to do about it.
        message: String,
    },
    /// Any other answer than success from the API server.
    #[error("{action} configmap {object}: the API server answered {code} {reason}: {message}")]
    Api {
        /// What was being done (`reading`, `applying`, `applying (server dry run)`).
        action: &'static str,
        /// `namespace/name` of the ConfigMap.
        object: String,
        /// HTTP status code (0 when the client failed before an answer).
        code: u16,
        /// The `Status` reason, e.g. `Forbidden`.
        reason: String,
        /// The `Status` message.
        message: String,
    },
    /// `--rollback N` asked for more versions than are saved.
    #[error(
        "--rollback {requested}: {available} saved version(s) of configmap {object} in {}",
        dir.display()
    )]
    NoSuchVersion {
        /// N of `--rollback N`.
        requested: usize,
        /// Versions saved.
        available: usize,
        /// `namespace/name` of the ConfigMap.
        object: String,
        /// The history directory.
        dir: PathBuf,
    },
    /// A saved version could not be written, listed or read back.
    #[error("history {path}: {reason}")]
    History {
        /// The file or directory.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}
