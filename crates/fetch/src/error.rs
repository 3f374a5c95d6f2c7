//! Why a fetch failed as a whole.

/// Why traffic could not be fetched at all. Failures of single series are
/// [`SeriesFailure`](crate::outcome::SeriesFailure)s.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// A problem with how the source was configured (URL, TLS files, templates…).
    #[error("{0}")]
    Config(String),
    /// The source could not be read (unreachable server, broken file…).
    #[error("{0}")]
    Unavailable(String),
    /// A traffic file with the wrong shape or content.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: String,
        /// What is wrong, and where in the file.
        message: String,
    },
    /// The export file could not be written.
    #[error("--export-data {path}: {message}")]
    Export {
        /// The file being written.
        path: String,
        /// What went wrong.
        message: String,
    },
}
