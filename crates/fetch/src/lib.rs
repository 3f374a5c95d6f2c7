//! The data-source stage: turns a [`SourceKind`], the series keys to analyse and an
//! [`AnalysisWindow`] into one [`FetchedSeries`](trendmaster_types::FetchedSeries) per key, plus
//! a [`FetchReport`] of what it cost and which series could not be fetched.
//!
//! Sources:
//! - [`DemoTraffic`]: the built-in deterministic simulator with labelled anomalies;
//! - [`PrometheusSource`]: Prometheus or Trickster `query_range`, grouped per API, chunked under
//!   the 11,000-points limit, rate-limited, retried and circuit-broken, optionally cached on disk;
//! - [`FileTraffic`]: CSV or Parquet files read with polars (see [`file`](mod@file) for the
//!   schema), which is also the format [`export`] writes, so any fetch can be replayed offline.
//!
//! Every source delivers requests per minute on the window's grid: grid point `t` stands for
//! the interval `[t, t + step)`, and a missing sample is NaN, never zero.
//!
//! [`Source::fetch_each`] hands series over in batches as they complete, so that a fleet is
//! analysed while it is fetched and never held whole; [`Source::fetch`] collects everything
//! (small runs, tests, the backtest).
//!
//! This crate does not judge anomalies, pick peaks or compute limits.
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use trendmaster_fetch::{FetchOptions, Source};
//! use trendmaster_types::{AnalysisWindow, SeriesKey, SourceKind};
//!
//! let as_of = Utc.with_ymd_and_hms(2026, 11, 15, 12, 0, 0).unwrap();
//! let window = AnalysisWindow::ending_at(as_of, 14, 60);
//! let keys = [SeriesKey::new("111", "/api_v3/service/multirequest")];
//! let options = FetchOptions { demo_seed: 7, ..FetchOptions::default() };
//! let source = Source::open(&SourceKind::Demo, &options).unwrap();
//! let report = source.fetch(&keys, &window).unwrap();
//! assert_eq!(report.series[0].series.values.len(), 14 * 1440);
//! ```

#![warn(missing_docs)]

mod demo;
mod error;
#[cfg(feature = "files")]
pub mod export;
#[cfg(feature = "files")]
pub mod file;
mod options;
mod outcome;
mod prometheus;

pub use demo::{DemoTraffic, FLEET_APIS};
pub use error::FetchError;
#[cfg(feature = "files")]
pub use file::FileTraffic;
pub use options::{FetchOptions, FileOptions, PrometheusOptions};
pub use outcome::{FetchReport, FetchStats, SeriesFailure};
pub use prometheus::{PrometheusSource, SeriesPromql, decode_range_answer, series_promql};

use chrono::{DateTime, Utc};
use std::collections::HashMap;
use trendmaster_types::{AnalysisWindow, SeriesKey, SourceKind};

/// An opened data source.
#[derive(Debug)]
pub enum Source {
    /// The built-in simulator.
    Demo(DemoTraffic),
    /// A Prometheus or Trickster HTTP API.
    Prometheus(Box<PrometheusSource>),
    /// A CSV or Parquet file, checked in full when opened and read a batch at a time.
    #[cfg(feature = "files")]
    File(Box<FileTraffic>),
}

impl Source {
    /// Prepares `kind`: builds the HTTP client, or reads and checks the whole file (keeping a
    /// few facts per series, not the rows).
    pub fn open(kind: &SourceKind, options: &FetchOptions) -> Result<Source, FetchError> {
        Ok(match kind {
            SourceKind::Demo => Source::Demo(DemoTraffic::new(options.demo_seed)),
            SourceKind::Prometheus => Source::Prometheus(Box::new(PrometheusSource::new(options)?)),
            #[cfg(feature = "files")]
            SourceKind::File(path) => {
                Source::File(Box::new(FileTraffic::open(path, &options.file)?))
            }
            #[cfg(not(feature = "files"))]
            SourceKind::File(path) => {
                return Err(FetchError::Config(format!(
                    "{}: this build has no file source (feature `files`)",
                    path.display()
                )));
            }
        })
    }

    /// The step the data itself has, when the source knows it (a file's inferred step).
    pub fn native_step_secs(&self) -> Option<u32> {
        match self {
            #[cfg(feature = "files")]
            Source::File(file) => Some(file.step_secs()),
            _ => None,
        }
    }

    /// Where the data ends, when the source has an end (a file's last bucket + step): the
    /// default window end instead of "now".
    pub fn data_end(&self) -> Option<DateTime<Utc>> {
        match self {
            #[cfg(feature = "files")]
            Source::File(file) => Some(file.end()),
            _ => None,
        }
    }

    /// The partner × API pairs the data holds over `window`, for `partners: auto` and
    /// `apis: auto`, sorted: a file's series, or the partner and path label pairs Prometheus
    /// has for the query preset's metric. With `apis`, only those APIs: a file's exactly, a
    /// Prometheus path credited to the longest listed API it contains (as the fetch credits
    /// it). The demo has no inventory to discover from.
    pub fn discover(
        &self,
        window: &AnalysisWindow,
        apis: Option<&[String]>,
    ) -> Result<Vec<SeriesKey>, FetchError> {
        let mut keys = match self {
            Source::Demo(_) => {
                return Err(FetchError::Config(
                    "the demo source has no partners or APIs to discover: list them in PARTNER_CONFIGS (partners: auto and apis: auto need a file or Prometheus)".into(),
                ));
            }
            Source::Prometheus(source) => source.discover(window, apis)?,
            #[cfg(feature = "files")]
            Source::File(file) => file
                .keys()
                .filter(|key| apis.is_none_or(|apis| apis.contains(&key.api)))
                .cloned()
                .collect(),
        };
        keys.sort();
        keys.dedup();
        Ok(keys)
    }

    /// One series per key over `window`, in key order; keys that could not be fetched are in
    /// `failures` instead. Holds the whole fleet in memory: runs over many series use
    /// [`Self::fetch_each`].
    pub fn fetch(
        &self,
        keys: &[SeriesKey],
        window: &AnalysisWindow,
    ) -> Result<FetchReport, FetchError> {
        let mut report = FetchReport::default();
        report.stats = self.fetch_each(keys, window, &mut |batch| {
            report.series.extend(batch.series);
            report.failures.extend(batch.failures);
        })?;
        // Batches complete in any order; callers get the keys' order.
        let order: HashMap<&SeriesKey, usize> =
            keys.iter().enumerate().map(|(i, k)| (k, i)).collect();
        report
            .series
            .sort_by_key(|s| order.get(&s.series.key).copied());
        Ok(report)
    }

    /// Fetches `keys` in batches and hands each to `sink` as soon as it is complete (a
    /// Prometheus query group, or [`LOCAL_BATCH`] keys of a local source), so that a caller can
    /// analyse and drop the series while the rest is fetched. Returns what fetching cost, with
    /// the series and missing points counted over all batches.
    pub fn fetch_each(
        &self,
        keys: &[SeriesKey],
        window: &AnalysisWindow,
        sink: &mut dyn FnMut(FetchReport),
    ) -> Result<FetchStats, FetchError> {
        let mut counted = FetchStats::default();
        let mut counting_sink = |batch: FetchReport| {
            let batch = batch.counted();
            counted += batch.stats;
            sink(batch);
        };
        let mut stats = match self {
            Source::Demo(demo) => {
                for chunk in keys.chunks(LOCAL_BATCH) {
                    counting_sink(FetchReport {
                        series: chunk.iter().map(|key| demo.series(key, window)).collect(),
                        ..FetchReport::default()
                    });
                }
                FetchStats::default()
            }
            Source::Prometheus(prometheus) => {
                prometheus.fetch_each(keys, window, &mut counting_sink)?
            }
            #[cfg(feature = "files")]
            Source::File(file) => {
                file.fetch_each(keys, window, &mut |series, failures| {
                    counting_sink(FetchReport {
                        series,
                        failures,
                        ..FetchReport::default()
                    })
                })?;
                FetchStats::default()
            }
        };
        stats.series = counted.series;
        stats.missing_points = counted.missing_points;
        Ok(stats)
    }
}

/// Keys per batch from a local source (demo, file): enough to keep every core busy, few enough
/// that a batch's raw points (64 × 20,160 minutes × 8 bytes = 10 MB) stay small.
pub const LOCAL_BATCH: usize = 64;

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn window() -> AnalysisWindow {
        let as_of = Utc.with_ymd_and_hms(2026, 11, 15, 12, 0, 0).unwrap();
        AnalysisWindow::ending_at(as_of, 2, 300)
    }

    #[test]
    fn demo_output_follows_the_key_order_and_is_counted() {
        let keys = [
            SeriesKey::new("333", "/b"),
            SeriesKey::new("111", "/a"),
            SeriesKey::new("333", "/a"),
        ];
        let options = FetchOptions {
            demo_seed: 3,
            ..FetchOptions::default()
        };
        let report = Source::open(&SourceKind::Demo, &options)
            .unwrap()
            .fetch(&keys, &window())
            .unwrap();
        let got: Vec<&SeriesKey> = report.series.iter().map(|f| &f.series.key).collect();
        assert_eq!(got, keys.iter().collect::<Vec<_>>());
        for f in &report.series {
            assert_eq!(f.series.window, window());
            assert_eq!(f.series.values.len(), window().len());
        }
        assert_eq!(report.stats.series, 3);
        let missing: usize = report
            .series
            .iter()
            .map(|s| s.series.values.iter().filter(|v| v.is_nan()).count())
            .sum();
        assert_eq!(report.stats.missing_points, missing);
        assert_eq!(report.stats.queries, 0);
    }

    #[test]
    fn prometheus_without_settings_is_a_configuration_error() {
        let error = Source::open(&SourceKind::Prometheus, &FetchOptions::default()).unwrap_err();
        assert!(matches!(error, FetchError::Config(_)), "{error}");
    }
}
