//! Traffic files: request history read from CSV or Parquet with polars, the format that
//! `--export-data` writes (see [`crate::export`]), so any fetch can be replayed with
//! `--source file:PATH`.
//!
//! # Schema
//!
//! The format follows the extension: `.csv` (comma-separated, with a header row) or `.parquet` /
//! `.pq`. One row is one sample of one partner × API series:
//!
//! | column            | required | content                                                       |
//! |-------------------|----------|---------------------------------------------------------------|
//! | `timestamp`       | yes      | RFC 3339 text with any offset (`2026-11-15T12:05:00Z`), integer Unix seconds, or a Parquet datetime (without a time zone it is read as UTC) |
//! | `partner`         | yes      | text; an integer column is read as text (`111` → `"111"`)      |
//! | `api`             | yes      | text                                                          |
//! | `requests`        | yes      | requests **per minute**: a finite number ≥ 0                   |
//! | `cache_hits`      | no       | requests served from cache (a count), together with `cache_total` |
//! | `cache_total`     | no       | all requests (a count), together with `cache_hits`             |
//! | `cache_hit_ratio` | no       | share served from cache, 0..=1, the same on every row of a series (empty = unknown) |
//! | `rejected_share`  | no       | share of requests rejected (HTTP 429) over the window, 0..=1, the same on every row of a series (empty = unknown) |
//!
//! A series' cache hit ratio is either `Σ cache_hits / Σ cache_total` over its rows inside the
//! analysis window (rows with an empty count are left out; `cache_hits` may not exceed
//! `cache_total`), or its `cache_hit_ratio`; a file gives one or the other, not both. Its
//! rejected share (what a Prometheus preset's `rejected_query` measures: a series with rejected
//! requests is censored and never cut) is, like `cache_hit_ratio`, one value per series. Any other
//! column is an error, so that a typo such as `request` cannot pass unnoticed. Rows are counted
//! from 1, the CSV header not included.
//!
//! # Rules
//!
//! - **Alignment.** The grid has a point every step since the Unix epoch; a row belongs to the
//!   grid interval `[t, t + step)` its timestamp falls in, because it describes the traffic of
//!   that interval: with a 5-minute step, a row at 12:04:53 is the 12:00 sample. Rows may come in
//!   any order.
//! - **Step.** `--step` when given. Otherwise the most common positive gap, rounded to whole
//!   seconds, between consecutive distinct timestamps of a series, counted over all series (on a
//!   tie, the smaller gap); it must divide one hour, or the file is refused with a hint to pass
//!   `--step`.
//! - **Duplicates.** Two rows of one series in one grid interval are an error naming the series,
//!   the rows and the interval, unless duplicates are to be summed: then their requests (and
//!   cache counts) are added up.
//! - **End.** The data ends one step after its last interval; that is the default window end
//!   when no `--as-of` is given.
//! - **Window.** Rows outside the analysis window are ignored, grid points without a row are
//!   missing (NaN), and a partner × API with no row in the whole file is a failed series, not an
//!   empty one.
//!
//! # Reading
//!
//! The file is read a batch at a time (`batches`: a Parquet row group, or a few MiB of CSV
//! lines), never whole. Opening it reads every batch once (`scan`): every row is checked
//! (`rows`), and only a few facts per series are kept — the batches it has rows in, its step
//! gaps, its cache ratio and rejected share. Fetching puts a group of series on the window's grid
//! (`grid`), reading only the batches they are in. Memory is the grids of one group (at most
//! [`GRID_BUDGET_BYTES`]) and a batch, not the file: 1,000 series × 14 days × 1 minute from
//! Parquet took 2.8 GB read whole into rows.

mod batches;
mod grid;
mod rows;
mod scan;

use chrono::{DateTime, SecondsFormat, Utc};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use trendmaster_types::{AnalysisWindow, FetchedSeries, SeriesKey};

use crate::LOCAL_BATCH;
use crate::error::FetchError;
use crate::options::FileOptions;
use crate::outcome::SeriesFailure;
use batches::{BatchReader, BatchSizes, FileIdentity};
use scan::Scanned;

/// At most this many bytes of grids at once: 1,000 series × 14 days × 1 minute are 161 MB of
/// points. A file that keeps each series' rows together is read in groups of [`LOCAL_BATCH`]
/// series, about once in all; one whose series are spread over it, in groups this large.
pub const GRID_BUDGET_BYTES: usize = 256 << 20;

/// The two table formats, chosen by the file's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TableFormat {
    Csv,
    Parquet,
}

impl TableFormat {
    pub(crate) fn of(path: &Path) -> Result<Self, String> {
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match extension.as_deref() {
            Some("csv") => Ok(Self::Csv),
            Some("parquet" | "pq") => Ok(Self::Parquet),
            _ => Err("unsupported file extension: expected .csv, .parquet or .pq".into()),
        }
    }
}

/// A traffic file, checked in full when opened; its series are read from it when fetched.
#[derive(Debug)]
pub struct FileTraffic {
    /// The path as given, for messages.
    path: String,
    file: PathBuf,
    reader: BatchReader,
    identity: FileIdentity,
    scanned: Scanned,
}

impl FileTraffic {
    /// Reads and checks the whole file at `path`, a batch at a time; see the
    /// [module docs](self) for the schema.
    pub fn open(path: &Path, options: &FileOptions) -> Result<FileTraffic, FetchError> {
        Self::open_in_batches(path, options, BatchSizes::default())
    }

    fn open_in_batches(
        path: &Path,
        options: &FileOptions,
        sizes: BatchSizes,
    ) -> Result<FileTraffic, FetchError> {
        let shown = path.display().to_string();
        let error = |message| FetchError::File {
            path: shown.clone(),
            message,
        };
        let format = TableFormat::of(path).map_err(error)?;
        let identity = FileIdentity::of(path).map_err(error)?;
        let mut reader = BatchReader::new(path, format, sizes);
        let scanned =
            scan::scan(&mut reader, options.step_secs, options.sum_duplicates).map_err(error)?;
        identity.check(path).map_err(error)?;
        Ok(FileTraffic {
            path: shown,
            file: path.to_path_buf(),
            reader,
            identity,
            scanned,
        })
    }

    /// The grid step of the file: `--step`, or the one inferred from its timestamps.
    pub fn step_secs(&self) -> u32 {
        self.scanned.step_secs
    }

    /// One step after the last interval with data.
    pub fn end(&self) -> DateTime<Utc> {
        self.scanned.end
    }

    /// Every partner × API pair the file has rows for, in no order.
    pub fn keys(&self) -> impl Iterator<Item = &SeriesKey> {
        self.scanned.series.keys()
    }

    /// One series per key over `window`, in key order; keys without rows, and every key when
    /// the window's step is not the file's, are failures instead. Holds them all: runs over
    /// many series use [`Self::fetch_each`].
    pub fn series(
        &self,
        keys: &[SeriesKey],
        window: &AnalysisWindow,
    ) -> Result<(Vec<FetchedSeries>, Vec<SeriesFailure>), FetchError> {
        let (mut series, mut failures) = (Vec::new(), Vec::new());
        self.fetch_each(keys, window, &mut |batch, failed| {
            series.extend(batch);
            failures.extend(failed);
        })?;
        let order: HashMap<&SeriesKey, usize> =
            keys.iter().enumerate().map(|(i, k)| (k, i)).collect();
        series.sort_by_key(|s| order.get(&s.series.key).copied());
        Ok((series, failures))
    }

    /// Hands `sink` the series of `keys` over `window` in batches of at most [`LOCAL_BATCH`], in
    /// the order they are read (a file's order when its series' rows are kept together), and
    /// the keys that failed (without rows in the file, or all of them when
    /// the window's step is not the file's). A group of series within [`GRID_BUDGET_BYTES`] is
    /// read from the file at a time.
    pub fn fetch_each(
        &self,
        keys: &[SeriesKey],
        window: &AnalysisWindow,
        sink: &mut dyn FnMut(Vec<FetchedSeries>, Vec<SeriesFailure>),
    ) -> Result<(), FetchError> {
        let failure = |key: &SeriesKey, reason: String| SeriesFailure {
            key: key.clone(),
            reason,
        };
        if window.step_secs != self.scanned.step_secs {
            let reason = format!(
                "{} has a step of {} s but the analysis step is {} s",
                self.path, self.scanned.step_secs, window.step_secs
            );
            let failures = keys.iter().map(|k| failure(k, reason.clone())).collect();
            sink(Vec::new(), failures);
            return Ok(());
        }
        let (present, absent): (Vec<&SeriesKey>, Vec<&SeriesKey>) = keys
            .iter()
            .partition(|key| self.scanned.series.contains_key(*key));
        if !absent.is_empty() {
            let reason = format!("no rows for this partner and API in {}", self.path);
            sink(
                Vec::new(),
                absent.iter().map(|k| failure(k, reason.clone())).collect(),
            );
        }
        let grids = if self.scanned.cache == rows::CacheKind::Counts {
            3
        } else {
            1
        };
        let per_series = window.len().max(1) * grids * std::mem::size_of::<f64>();
        let max_group = (GRID_BUDGET_BYTES / per_series).max(1);
        for keys in grid::groups(&self.scanned, &present, max_group) {
            self.identity
                .check(&self.file)
                .map_err(|message| FetchError::File {
                    path: self.path.clone(),
                    message,
                })?;
            let mut filled =
                grid::fill(&self.reader, &self.scanned, &keys, window).map_err(|message| {
                    FetchError::File {
                        path: self.path.clone(),
                        message,
                    }
                })?;
            while !filled.is_empty() {
                let rest = filled.split_off(filled.len().min(LOCAL_BATCH));
                sink(std::mem::replace(&mut filled, rest), Vec::new());
            }
        }
        Ok(())
    }
}

/// "partner P, API A" in messages, built only when one is shown.
#[derive(Debug, Clone, Copy)]
struct SeriesName<'a>(&'a str, &'a str);

impl std::fmt::Display for SeriesName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "partner {}, API {}", self.0, self.1)
    }
}

fn unix_time(seconds: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(seconds, 0)
}

pub(crate) fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use polars::prelude::*;
    use std::fmt::Write as _;
    use std::fs::File;

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 15, h, m, s).unwrap()
    }

    fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn open(path: &Path) -> Result<FileTraffic, FetchError> {
        FileTraffic::open(path, &FileOptions::default())
    }

    fn open_err(dir: &tempfile::TempDir, text: &str) -> String {
        let path = write(dir, "traffic.csv", text);
        let message = open(&path).unwrap_err().to_string();
        assert!(
            message.starts_with(&path.display().to_string()),
            "{message}"
        );
        assert!(!message.contains('\n'), "{message}");
        message
    }

    /// A window of one hour ending at 13:00 on the file's step.
    fn hour(step_secs: u32) -> AnalysisWindow {
        AnalysisWindow {
            start: at(12, 0, 0),
            end: at(13, 0, 0),
            step_secs,
        }
    }

    #[test]
    fn five_minute_rows_at_53_seconds_land_in_their_interval_and_give_the_step() {
        let dir = tempfile::tempdir().unwrap();
        let mut text = String::from("timestamp,partner,api,requests\n");
        for i in 0..6 {
            writeln!(text, "2026-11-15T12:{:02}:53Z,111,/a,{}", i * 5 + 4, i * 10).unwrap();
        }
        let file = open(&write(&dir, "t.csv", &text)).unwrap();
        assert_eq!(file.step_secs(), 300);
        // Last row 12:29:53 → interval 12:25; the data ends one step later.
        assert_eq!(file.end(), at(12, 30, 0));
        let (series, failures) = file
            .series(&[SeriesKey::new("111", "/a")], &hour(300))
            .unwrap();
        assert!(failures.is_empty());
        let values = &series[0].series.values;
        assert_eq!(&values[..6], &[0.0, 10.0, 20.0, 30.0, 40.0, 50.0]);
        assert!(values[6..].iter().all(|v| v.is_nan()));
        assert_eq!(series[0].cache_hit_ratio, None);
    }

    #[test]
    fn offsets_and_unix_seconds_are_the_same_instant_and_order_does_not_matter() {
        let dir = tempfile::tempdir().unwrap();
        let text = "timestamp,partner,api,requests\n\
                    2026-11-15T13:10:00+01:00,111,/a,3\n\
                    1794744000,111,/a,1\n\
                    2026-11-15T12:05:00Z,111,/a,2\n";
        let file = open(&write(&dir, "t.csv", text)).unwrap();
        assert_eq!(file.step_secs(), 300);
        let (series, _) = file
            .series(&[SeriesKey::new("111", "/a")], &hour(300))
            .unwrap();
        assert_eq!(&series[0].series.values[..3], &[1.0, 2.0, 3.0]);
    }

    #[test]
    fn duplicates_are_refused_unless_summed() {
        let dir = tempfile::tempdir().unwrap();
        let text = "timestamp,partner,api,requests,cache_hits,cache_total\n\
                    2026-11-15T12:00:00Z,111,/a,5,1,4\n\
                    2026-11-15T12:01:00Z,111,/a,6,1,4\n\
                    2026-11-15T12:00:30Z,111,/a,7,3,4\n";
        let path = write(&dir, "t.csv", text);
        let refusing = FileOptions {
            step_secs: Some(60),
            sum_duplicates: false,
        };
        let error = FileTraffic::open(&path, &refusing).unwrap_err().to_string();
        assert!(
            error.contains("rows 1 and 3 of partner 111, API /a")
                && error.contains("interval starting 2026-11-15T12:00:00Z"),
            "{error}"
        );
        let summing = FileOptions {
            sum_duplicates: true,
            ..refusing
        };
        let file = FileTraffic::open(&path, &summing).unwrap();
        let (series, _) = file
            .series(&[SeriesKey::new("111", "/a")], &hour(60))
            .unwrap();
        assert_eq!(&series[0].series.values[..2], &[12.0, 6.0]);
        assert_eq!(series[0].cache_hit_ratio, Some(5.0 / 12.0));
    }

    #[test]
    fn a_given_step_wins_over_the_inferred_one() {
        let dir = tempfile::tempdir().unwrap();
        let text = "timestamp,partner,api,requests\n\
                    2026-11-15T12:00:00Z,111,/a,1\n\
                    2026-11-15T12:07:00Z,111,/a,2\n\
                    2026-11-15T12:14:00Z,111,/a,3\n";
        let path = write(&dir, "t.csv", text);
        // A 7-minute gap does not divide an hour, so the step cannot be inferred…
        let error = open(&path).unwrap_err().to_string();
        assert!(error.contains("pass --step"), "{error}");
        let options = FileOptions {
            step_secs: Some(300),
            ..FileOptions::default()
        };
        // …but a given one is used as is.
        let file = FileTraffic::open(&path, &options).unwrap();
        assert_eq!(file.step_secs(), 300);
        assert_eq!(file.end(), at(12, 15, 0));
        let (series, _) = file
            .series(&[SeriesKey::new("111", "/a")], &hour(300))
            .unwrap();
        assert_eq!(&series[0].series.values[..3], &[1.0, 2.0, 3.0]);
        assert!(series[0].series.values[3].is_nan());
    }

    #[test]
    fn numeric_partners_are_text_and_cache_counts_give_the_ratio_inside_the_window() {
        let dir = tempfile::tempdir().unwrap();
        let text = "partner,api,timestamp,requests,cache_hits,cache_total\n\
                    111,/a,2026-11-15T11:59:00Z,9,0,100\n\
                    111,/a,2026-11-15T12:00:00Z,1,30,40\n\
                    111,/a,2026-11-15T12:01:00Z,2,10,\n\
                    111,/a,2026-11-15T12:02:00Z,3,10,60\n\
                    0222,/b,2026-11-15T12:00:00Z,4,0,0\n";
        let file = open(&write(&dir, "t.csv", text)).unwrap();
        let keys = [SeriesKey::new("111", "/a"), SeriesKey::new("0222", "/b")];
        let (series, failures) = file.series(&keys, &hour(60)).unwrap();
        assert!(failures.is_empty(), "{failures:?}");
        assert_eq!(series[0].series.key, keys[0]);
        assert_eq!(&series[0].series.values[..3], &[1.0, 2.0, 3.0]);
        assert_eq!(series[0].cache_hit_ratio, Some(0.4));
        assert_eq!(series[1].series.key.partner, "0222");
        assert_eq!(series[1].cache_hit_ratio, None);
    }

    #[test]
    fn an_integer_partner_column_in_parquet_is_read_as_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        let mut frame = df!(
            "timestamp" => [1_794_744_000i64, 1_794_744_060],
            "partner" => [111i64, 111],
            "api" => ["/a", "/a"],
            "requests" => [1i64, 2],
            "cache_hit_ratio" => [0.25, 0.25],
        )
        .unwrap();
        ParquetWriter::new(File::create(&path).unwrap())
            .finish(&mut frame)
            .unwrap();
        let file = open(&path).unwrap();
        let (series, failures) = file
            .series(&[SeriesKey::new("111", "/a")], &hour(60))
            .unwrap();
        assert!(failures.is_empty(), "{failures:?}");
        assert_eq!(&series[0].series.values[..2], &[1.0, 2.0]);
        assert_eq!(series[0].cache_hit_ratio, Some(0.25));
    }

    #[test]
    fn parquet_datetimes_without_a_zone_are_utc_and_sub_second_gaps_round() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.pq");
        let noon_ns = at(12, 0, 0).timestamp_nanos_opt().unwrap();
        let times = Int64Chunked::from_vec(
            "timestamp".into(),
            vec![noon_ns + 500_000_000, noon_ns + 60_250_000_000],
        )
        .into_datetime(TimeUnit::Nanoseconds, None)
        .into_column();
        let mut frame = DataFrame::new(
            2,
            vec![
                times,
                Column::new("partner".into(), ["p", "p"]),
                Column::new("api".into(), ["/a", "/a"]),
                Column::new("requests".into(), [1.5, 2.5]),
            ],
        )
        .unwrap();
        ParquetWriter::new(File::create(&path).unwrap())
            .finish(&mut frame)
            .unwrap();
        let file = open(&path).unwrap();
        // The gap is 59.75 s.
        assert_eq!(file.step_secs(), 60);
        assert_eq!(file.end(), at(12, 2, 0));
        let (series, _) = file
            .series(&[SeriesKey::new("p", "/a")], &hour(60))
            .unwrap();
        assert_eq!(&series[0].series.values[..2], &[1.5, 2.5]);
        assert!(series[0].series.values[2].is_nan());
    }

    #[test]
    fn absent_keys_and_a_different_step_are_failures() {
        let dir = tempfile::tempdir().unwrap();
        let text = "timestamp,partner,api,requests\n\
                    2026-11-15T12:00:00Z,111,/a,1\n\
                    2026-11-15T12:01:00Z,111,/a,2\n\
                    2026-11-15T09:00:00Z,222,/a,2\n";
        let path = write(&dir, "t.csv", text);
        let file = open(&path).unwrap();
        let keys = [
            SeriesKey::new("999", "/a"),
            SeriesKey::new("222", "/a"),
            SeriesKey::new("111", "/a"),
        ];
        let (series, failures) = file.series(&keys, &hour(60)).unwrap();
        assert_eq!(series.len(), 2);
        // Rows outside the window are ignored, but the series exists.
        assert_eq!(series[0].series.key, keys[1]);
        assert_eq!(series[0].series.present_count(), 0);
        assert_eq!(series[1].series.key, keys[2]);
        assert_eq!(
            failures,
            [SeriesFailure {
                key: keys[0].clone(),
                reason: format!("no rows for this partner and API in {}", path.display()),
            }]
        );

        let (series, failures) = file.series(&keys, &hour(300)).unwrap();
        assert!(series.is_empty());
        assert_eq!(failures.len(), 3);
        for (failure, key) in failures.iter().zip(&keys) {
            assert_eq!(&failure.key, key);
            assert!(
                failure.reason.contains("step of 60 s")
                    && failure.reason.contains("analysis step is 300 s"),
                "{}",
                failure.reason
            );
        }
    }

    #[test]
    fn schema_errors_name_the_column_and_the_row() {
        let dir = tempfile::tempdir().unwrap();
        let header = "timestamp,partner,api,requests\n";
        let cases = [
            (
                "timestamp,partner,requests\n2026-11-15T12:00:00Z,1,2\n".to_string(),
                "missing column `api`",
            ),
            (
                "timestamp,partner,api,request\n2026-11-15T12:00:00Z,1,/a,2\n".to_string(),
                "missing column `requests`; unknown column `request` (accepted columns: \
                 timestamp, partner, api, requests, cache_hits, cache_total, cache_hit_ratio, \
                 rejected_share)",
            ),
            (
                format!("{header}2026-11-15T12:00:00Z,1,/a,2\n2026-11-15T12:01:00Z,1,/a,many\n"),
                "column `requests`, row 2: `many` is not a number",
            ),
            (
                format!("{header}2026-11-15T12:00:00Z,1,/a,2\n2026-11-15T12:01:00Z,1,/a,-3\n"),
                "column `requests`, row 2 (partner 1, API /a): -3 is not a finite number ≥ 0",
            ),
            (
                format!("{header}2026-11-15T12:00:00Z,1,/a,NaN\n"),
                "column `requests`, row 1 (partner 1, API /a): NaN is not a finite number ≥ 0",
            ),
            (
                format!("{header}2026-11-15T12:00:00Z,1,/a,inf\n"),
                "column `requests`, row 1 (partner 1, API /a): inf is not a finite number ≥ 0",
            ),
            (
                format!("{header}2026-11-15T12:00:00Z,1,/a,1\n15/11/2026 12:01,1,/a,1\n"),
                "column `timestamp`, row 2: `15/11/2026 12:01` is neither an RFC 3339 time",
            ),
            (
                format!("{header}1794744000000,1,/a,1\n"),
                "column `timestamp`, row 1: 1794744000000 is out of range for Unix seconds",
            ),
            (header.to_string(), "no data rows"),
            (String::new(), "the file is empty"),
            (
                format!("{header}2026-11-15T12:00:00Z,1,/a,1\n2026-11-15T12:07:00Z,1,/a,1\n"),
                "the inferred step (420 s, the most common gap between timestamps) does not \
                 divide one hour; pass --step",
            ),
            (
                "timestamp,partner,api,requests,cache_hits\n2026-11-15T12:00:00Z,1,/a,1,1\n"
                    .to_string(),
                "columns `cache_hits` and `cache_total` go together",
            ),
            (
                "timestamp,partner,api,requests,cache_hit_ratio\n\
                 2026-11-15T12:00:00Z,1,/a,1,0.5\n2026-11-15T12:01:00Z,1,/a,1,0.6\n"
                    .to_string(),
                "rows 1 and 2 of partner 1, API /a give different cache_hit_ratio values",
            ),
            (
                "timestamp,partner,api,requests,rejected_share\n\
                 2026-11-15T12:00:00Z,1,/a,1,0.5\n2026-11-15T12:01:00Z,1,/a,1,0.6\n"
                    .to_string(),
                "rows 1 and 2 of partner 1, API /a give different rejected_share values",
            ),
            (
                "timestamp,partner,api,requests,rejected_share\n\
                 2026-11-15T12:00:00Z,1,/a,1,1.5\n"
                    .to_string(),
                "column `rejected_share`, row 1 (partner 1, API /a): 1.5 is not between 0 and 1",
            ),
        ];
        for (text, expected) in cases {
            let message = open_err(&dir, &text);
            assert!(
                message.contains(expected),
                "{message}\nexpected: {expected}"
            );
        }
    }

    #[test]
    fn a_rejected_share_column_gives_each_series_its_share() {
        let dir = tempfile::tempdir().unwrap();
        // Empty values are unknown, and may sit beside the series' value; 222 has none.
        let path = write(
            &dir,
            "traffic.csv",
            "timestamp,partner,api,requests,rejected_share\n\
             2026-11-15T12:00:00Z,111,/a,5,0.02\n\
             2026-11-15T12:01:00Z,111,/a,5,\n\
             2026-11-15T12:00:00Z,222,/a,5,\n",
        );
        let traffic = open(&path).unwrap();
        let keys = [SeriesKey::new("111", "/a"), SeriesKey::new("222", "/a")];
        let (series, failures) = traffic.series(&keys, &hour(60)).unwrap();
        assert!(failures.is_empty(), "{failures:?}");
        assert_eq!(series[0].rejected_share, Some(0.02));
        assert_eq!(series[1].rejected_share, None);
        assert_eq!(series[0].cache_hit_ratio, None);
    }

    /// The series, step, end and cache ratios of a file, opened with `sizes`.
    fn read_back(path: &Path, sizes: BatchSizes, keys: &[SeriesKey]) -> String {
        let file = FileTraffic::open_in_batches(path, &FileOptions::default(), sizes).unwrap();
        let window = AnalysisWindow {
            start: at(12, 0, 0),
            end: at(14, 0, 0),
            step_secs: file.step_secs(),
        };
        let (series, failures) = file.series(keys, &window).unwrap();
        assert!(failures.is_empty(), "{failures:?}");
        format!(
            "{} {} {:?}",
            file.step_secs(),
            file.end(),
            series
                .iter()
                .map(|s| (&s.series.values, s.cache_hit_ratio))
                .collect::<Vec<_>>()
        )
    }

    fn tiny(csv_bytes: u64, parquet_rows: usize) -> BatchSizes {
        BatchSizes {
            parquet_rows,
            csv_bytes,
        }
    }

    #[test]
    fn batches_cut_anywhere_read_the_same_series_and_name_the_same_rows() {
        let dir = tempfile::tempdir().unwrap();
        // Three series interleaved and out of order, one API with a comma and a line break in
        // quotes, cache counts, 2-minute steps.
        let apis = ["/a", "\"/b,\nc\"", "/d"];
        let mut text = String::from("timestamp,partner,api,requests,cache_hits,cache_total\n");
        for i in (0..30).rev() {
            for (a, api) in apis.iter().enumerate() {
                let minute = 2 * ((i * 7 + a * 3) % 30);
                writeln!(
                    text,
                    "2026-11-15T12:{minute:02}:00Z,111,{api},{},{},{}",
                    i + a,
                    i % 3,
                    3
                )
                .unwrap();
            }
        }
        let path = write(&dir, "t.csv", &text);
        let keys = [
            SeriesKey::new("111", "/a"),
            SeriesKey::new("111", "/b,\nc"),
            SeriesKey::new("111", "/d"),
        ];
        let whole = read_back(&path, BatchSizes::default(), &keys);
        assert!(whole.starts_with("120 2026-11-15 13:00:00 UTC"), "{whole}");
        for csv_bytes in [1, 7, 40, 64, 333] {
            assert_eq!(
                read_back(&path, tiny(csv_bytes, 1), &keys),
                whole,
                "{csv_bytes} B"
            );
        }

        // A bad value on line 77 (row 58: rows of API "/b,\nc" take two lines) is row 58
        // however the file is cut.
        let mut lines: Vec<&str> = text.lines().collect();
        let bad = lines[77].replacen(",3", ",three", 1);
        lines[77] = &bad;
        let path = write(&dir, "bad.csv", &(lines.join("\n") + "\n"));
        for csv_bytes in [1, 50, 8 << 20] {
            let error =
                FileTraffic::open_in_batches(&path, &FileOptions::default(), tiny(csv_bytes, 1))
                    .unwrap_err()
                    .to_string();
            assert!(
                error.contains("column `cache_total`, row 58: `three` is not a number"),
                "{error}"
            );
        }

        // The same rows in Parquet, in row groups of 7 read 3 rows at a time.
        let path = dir.path().join("t.parquet");
        let mut frame = CsvReadOptions::default()
            .with_has_header(true)
            .with_infer_schema_length(Some(0))
            .try_into_reader_with_file_path(Some(dir.path().join("t.csv")))
            .unwrap()
            .finish()
            .unwrap();
        ParquetWriter::new(File::create(&path).unwrap())
            .with_row_group_size(Some(7))
            .finish(&mut frame)
            .unwrap();
        assert_eq!(read_back(&path, tiny(1, 3), &keys), whole);
        assert_eq!(read_back(&path, BatchSizes::default(), &keys), whole);
    }

    #[test]
    fn series_kept_together_are_read_in_small_groups_and_scattered_ones_in_one() {
        let dir = tempfile::tempdir().unwrap();
        let keys: Vec<SeriesKey> = (0..130)
            .map(|i| SeriesKey::new(i.to_string(), "/a"))
            .collect();
        let rows: Vec<(usize, usize)> =
            (0..130).flat_map(|k| (0..3).map(move |m| (k, m))).collect();
        // The same rows in a pseudo-random order: every batch holds rows of other series.
        let mut scattered = rows.clone();
        scattered.sort_by_key(|&(k, m)| (k * 3 + m) * 7_919 % 397);
        for (order, expected) in [(rows, vec![64, 64, 2]), (scattered, vec![130])] {
            let mut text = String::from("timestamp,partner,api,requests\n");
            for (k, m) in order {
                writeln!(text, "2026-11-15T12:0{m}:00Z,{k},/a,{k}").unwrap();
            }
            let path = write(&dir, "t.csv", &text);
            let file =
                FileTraffic::open_in_batches(&path, &FileOptions::default(), tiny(200, 1)).unwrap();
            let wanted: Vec<&SeriesKey> = keys.iter().collect();
            let groups = grid::groups(&file.scanned, &wanted, 1_000);
            let sizes: Vec<usize> = groups.iter().map(Vec::len).collect();
            assert_eq!(sizes, expected);
            let (series, failures) = file.series(&keys, &hour(60)).unwrap();
            assert!(failures.is_empty(), "{failures:?}");
            for (read, key) in series.iter().zip(&keys) {
                assert_eq!(&read.series.key, key);
                let value: f64 = key.partner.parse().unwrap();
                assert_eq!(&read.series.values[..3], &[value; 3]);
            }
        }
    }

    #[test]
    fn duplicates_are_found_across_batches_in_any_order() {
        let dir = tempfile::tempdir().unwrap();
        // In order, but two rows 30 s apart share a minute; out of order, the second row of
        // a minute comes far later.
        let text = "timestamp,partner,api,requests\n\
                    2026-11-15T12:00:00Z,1,/in,1\n\
                    2026-11-15T12:01:00Z,1,/in,1\n\
                    2026-11-15T12:02:00Z,1,/in,1\n\
                    2026-11-15T12:02:30Z,1,/in,1\n\
                    2026-11-15T12:03:00Z,1,/in,1\n";
        let out_of_order = "timestamp,partner,api,requests\n\
                    2026-11-15T12:03:00Z,1,/out,1\n\
                    2026-11-15T12:01:00Z,1,/out,1\n\
                    2026-11-15T12:02:00Z,1,/out,1\n\
                    2026-11-15T12:00:00Z,1,/out,1\n\
                    2026-11-15T12:01:59Z,1,/out,1\n";
        for (text, expected) in [
            (
                text,
                "rows 3 and 4 of partner 1, API /in both fall in the 60 s interval starting 2026-11-15T12:02:00Z",
            ),
            (
                out_of_order,
                "rows 2 and 5 of partner 1, API /out both fall in the 60 s interval starting 2026-11-15T12:01:00Z",
            ),
        ] {
            let path = write(&dir, "t.csv", text);
            let options = FileOptions {
                step_secs: Some(60),
                sum_duplicates: false,
            };
            for csv_bytes in [1, 8 << 20] {
                let error = FileTraffic::open_in_batches(&path, &options, tiny(csv_bytes, 1))
                    .unwrap_err()
                    .to_string();
                assert!(error.contains(expected), "{error}");
            }
        }
    }

    #[test]
    fn a_file_changed_after_opening_is_refused_when_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let text = "timestamp,partner,api,requests\n\
                    2026-11-15T12:00:00Z,1,/a,1\n\
                    2026-11-15T12:01:00Z,1,/a,2\n";
        let path = write(&dir, "t.csv", text);
        let file = open(&path).unwrap();
        std::fs::write(&path, format!("{text}2026-11-15T12:02:00Z,1,/a,3\n")).unwrap();
        let error = file
            .series(&[SeriesKey::new("1", "/a")], &hour(60))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("the file changed while it was being read"),
            "{error}"
        );
    }

    /// Set in the child process of the test below: the file it reads.
    const MEMORY_CHILD: &str = "TRENDMASTER_FILE_MEMORY_CHILD";

    fn peak_rss_bytes() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
        let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        kib * 1024
    }

    /// 1,000 series × 2 days × 1 minute (2.9 million rows) are read, and every series fetched,
    /// in a fresh process; its peak memory must stay below what the rows alone would take at
    /// 40 bytes a row (the old reader took ≈ 140), however many rows the file has.
    #[test]
    fn a_large_file_is_read_in_bounded_memory() {
        if let Some(path) = std::env::var_os(MEMORY_CHILD) {
            let before = peak_rss_bytes();
            let file = open(Path::new(&path)).unwrap();
            let window = AnalysisWindow::ending_at(file.end(), 2, 60);
            let keys: Vec<SeriesKey> = (0..1_000)
                .map(|i| SeriesKey::new((1_000 + i / 10).to_string(), format!("/api/{}", i % 10)))
                .collect();
            let mut points = 0;
            file.fetch_each(&keys, &window, &mut |series, failures| {
                assert!(failures.is_empty());
                points += series
                    .iter()
                    .map(|s| s.series.present_count())
                    .sum::<usize>();
            })
            .unwrap();
            println!("MEMORY {before} {} {points}", peak_rss_bytes());
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fleet.parquet");
        let (series, minutes) = (1_000usize, 2 * 1_440usize);
        let rows = series * minutes;
        let start = at(0, 0, 0).timestamp_millis();
        let times: Vec<i64> = (0..rows)
            .map(|r| start + (r % minutes) as i64 * 60_000)
            .collect();
        let partners: Vec<i64> = (0..rows)
            .map(|r| 1_000 + (r / minutes / 10) as i64)
            .collect();
        let apis: Vec<String> = (0..rows)
            .map(|r| format!("/api/{}", r / minutes % 10))
            .collect();
        let requests: Vec<f64> = (0..rows).map(|r| (r % 97) as f64).collect();
        let mut frame = DataFrame::new(
            rows,
            vec![
                Int64Chunked::from_vec("timestamp".into(), times)
                    .into_datetime(TimeUnit::Milliseconds, None)
                    .into_column(),
                Column::new("partner".into(), partners),
                Column::new("api".into(), apis),
                Column::new("requests".into(), requests),
            ],
        )
        .unwrap();
        ParquetWriter::new(File::create(&path).unwrap())
            .finish(&mut frame)
            .unwrap();
        drop(frame);

        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "file::tests::a_large_file_is_read_in_bounded_memory",
                "--nocapture",
            ])
            .env(MEMORY_CHILD, &path)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let line = stdout
            .lines()
            .find(|l| l.starts_with("MEMORY "))
            .expect(&stdout);
        let numbers: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .map(|n| n.parse().unwrap())
            .collect();
        let (before, peak, points) = (numbers[0], numbers[1], numbers[2]);
        assert_eq!(points as usize, rows, "every row read back");
        let grown = peak.saturating_sub(before);
        eprintln!(
            "{rows} rows: peak {} MiB, {} MiB more than at the start",
            peak >> 20,
            grown >> 20
        );
        assert!(
            grown < 40 * rows as u64,
            "{} MiB for {rows} rows",
            grown >> 20
        );
    }

    #[test]
    fn other_extensions_are_refused_before_reading() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "traffic.json", "[]");
        let message = open(&path).unwrap_err().to_string();
        assert_eq!(
            message,
            format!(
                "{}: unsupported file extension: expected .csv, .parquet or .pq",
                path.display()
            )
        );
    }
}
