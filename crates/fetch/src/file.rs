//! Traffic files (CSV or Parquet) read with polars. Being written; see the crate docs.

use chrono::{DateTime, Utc};
use std::path::Path;
use trendmaster_types::{AnalysisWindow, FetchedSeries, SeriesKey};

use crate::{FetchError, FileOptions, SeriesFailure};

/// A traffic file, read whole.
#[derive(Debug)]
pub struct FileTraffic {
    step_secs: u32,
    end: DateTime<Utc>,
}

impl FileTraffic {
    pub fn open(path: &Path, _options: &FileOptions) -> Result<FileTraffic, FetchError> {
        Err(FetchError::File {
            path: path.display().to_string(),
            message: "the file source is not available yet in this version".into(),
        })
    }

    pub fn step_secs(&self) -> u32 {
        self.step_secs
    }

    pub fn end(&self) -> DateTime<Utc> {
        self.end
    }

    pub fn series(
        &self,
        _keys: &[SeriesKey],
        _window: &AnalysisWindow,
    ) -> (Vec<FetchedSeries>, Vec<SeriesFailure>) {
        (Vec::new(), Vec::new())
    }
}
