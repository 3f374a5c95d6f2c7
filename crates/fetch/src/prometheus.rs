//! Prometheus / Trickster source. Being written.

use trendmaster_types::{AnalysisWindow, SeriesKey};

use crate::{FetchError, FetchOptions, FetchReport};

#[derive(Debug)]
pub struct PrometheusSource {}

impl PrometheusSource {
    pub fn new(options: &FetchOptions) -> Result<Self, FetchError> {
        options
            .prometheus
            .settings
            .as_ref()
            .ok_or_else(|| FetchError::Config("no PROMETHEUS_CONFIG settings".into()))?;
        Ok(Self {})
    }

    pub fn fetch(
        &self,
        _keys: &[SeriesKey],
        _window: &AnalysisWindow,
    ) -> Result<FetchReport, FetchError> {
        Err(FetchError::Unavailable(
            "prometheus source not written yet".into(),
        ))
    }
}
