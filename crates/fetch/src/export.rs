//! `--export-data`: fetched series written in the file source's schema. Being written.

use std::path::Path;
use trendmaster_types::FetchedSeries;

use crate::FetchError;

/// Writes `series` to `path` (CSV or Parquet by extension), atomically.
pub fn export(path: &Path, _series: &[FetchedSeries]) -> Result<(), FetchError> {
    Err(FetchError::Export {
        path: path.display().to_string(),
        message: "not available yet in this version".into(),
    })
}
