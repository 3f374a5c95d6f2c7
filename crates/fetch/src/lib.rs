//! The data-source stage: turns a [`SourceKind`], the series keys to analyse and an
//! [`AnalysisWindow`] into one [`FetchedSeries`] per key, in the order the keys were given.
//!
//! This crate only delivers traffic (requests per minute on the window's grid, gaps as NaN) and
//! what the source knows around it (cache hit ratio, labelled anomalies for demo data). It does
//! not judge anomalies, pick peaks or compute limits: that is the analysis and calculator stages.
//!
//! In this version only the built-in simulator ([`DemoTraffic`]) is available; Prometheus and
//! file sources are rejected with [`FetchError::NotAvailable`].
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use trendmaster_fetch::{fetch, FetchOptions};
//! use trendmaster_types::{AnalysisWindow, SeriesKey, SourceKind};
//!
//! let as_of = Utc.with_ymd_and_hms(2026, 11, 15, 12, 0, 0).unwrap();
//! let window = AnalysisWindow::ending_at(as_of, 14, 60);
//! let keys = [SeriesKey::new("111", "/api_v3/service/multirequest")];
//! let fetched = fetch(&SourceKind::Demo, &keys, &window, &FetchOptions { demo_seed: 7 }).unwrap();
//! assert_eq!(fetched[0].series.values.len(), 14 * 1440);
//! ```

mod demo;

pub use demo::DemoTraffic;

use trendmaster_types::{AnalysisWindow, FetchedSeries, SeriesKey, SourceKind};

/// How to fetch, beyond what is fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchOptions {
    /// Seed of the demo traffic simulator; the same seed and window give the same traffic.
    pub demo_seed: u64,
}

/// Why traffic could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The source exists in the configuration language but not yet in this build.
    // The field is not called `source`: thiserror would take it for the underlying error.
    #[error(
        "data source `{source_name}` is not available yet in this version (it arrives with a later release); use `--source demo`"
    )]
    NotAvailable { source_name: String },
}

/// Fetches one series per key from `source` over `window`, in the order of `keys`.
pub fn fetch(
    source: &SourceKind,
    keys: &[SeriesKey],
    window: &AnalysisWindow,
    options: &FetchOptions,
) -> Result<Vec<FetchedSeries>, FetchError> {
    match source {
        SourceKind::Demo => {
            let demo = DemoTraffic::new(options.demo_seed);
            Ok(keys.iter().map(|key| demo.series(key, window)).collect())
        }
        SourceKind::Prometheus | SourceKind::File(_) => Err(FetchError::NotAvailable {
            source_name: source.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use std::path::PathBuf;

    fn window() -> AnalysisWindow {
        let as_of = Utc.with_ymd_and_hms(2026, 11, 15, 12, 0, 0).unwrap();
        AnalysisWindow::ending_at(as_of, 2, 300)
    }

    #[test]
    fn unavailable_sources_are_named_and_point_to_demo() {
        let keys = [SeriesKey::new("111", "/a")];
        let options = FetchOptions { demo_seed: 1 };
        let cases = [
            (SourceKind::Prometheus, "prometheus"),
            (
                SourceKind::File(PathBuf::from("data/traffic.csv")),
                "file:data/traffic.csv",
            ),
        ];
        for (source, name) in cases {
            let err = fetch(&source, &keys, &window(), &options).unwrap_err();
            let FetchError::NotAvailable { source_name } = &err;
            assert_eq!(source_name, name);
            let message = err.to_string();
            assert!(message.contains(name), "{message}");
            assert!(message.contains("not available yet"), "{message}");
            assert!(message.contains("--source demo"), "{message}");
            assert!(!message.contains('\n'), "{message}");
        }
    }

    #[test]
    fn demo_output_follows_the_key_order() {
        let keys = [
            SeriesKey::new("333", "/b"),
            SeriesKey::new("111", "/a"),
            SeriesKey::new("333", "/a"),
        ];
        let fetched = fetch(
            &SourceKind::Demo,
            &keys,
            &window(),
            &FetchOptions { demo_seed: 3 },
        )
        .unwrap();
        let got: Vec<&SeriesKey> = fetched.iter().map(|f| &f.series.key).collect();
        assert_eq!(got, keys.iter().collect::<Vec<_>>());
        for f in &fetched {
            assert_eq!(f.series.window, window());
            assert_eq!(f.series.values.len(), window().len());
        }
    }
}
