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

use chrono::{DateTime, SecondsFormat, Utc};
use polars::prelude::*;
use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use trendmaster_types::{AnalysisWindow, FetchedSeries, SeriesKey, TrafficSeries, one_line};

use crate::error::FetchError;
use crate::options::FileOptions;
use crate::outcome::SeriesFailure;

const REQUIRED_COLUMNS: [&str; 4] = ["timestamp", "partner", "api", "requests"];
const OPTIONAL_COLUMNS: [&str; 4] = [
    "cache_hits",
    "cache_total",
    "cache_hit_ratio",
    "rejected_share",
];

/// The last second of year 9999: integer timestamps beyond it are taken for milliseconds.
const MAX_UNIX_SECONDS: i64 = 253_402_300_799;

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

/// A traffic file, read whole and laid out on its grid.
#[derive(Debug)]
pub struct FileTraffic {
    /// The path as given, for messages.
    path: String,
    step_secs: u32,
    end: DateTime<Utc>,
    series: HashMap<SeriesKey, FileSeries>,
}

/// One series of the file: one entry per grid interval that has rows, in time order.
#[derive(Debug, Default)]
struct FileSeries {
    /// Start of each interval, in Unix seconds.
    starts: Vec<i64>,
    requests: Vec<f64>,
    /// `(hits, total)` per interval, when the file has cache counts and the interval has them.
    cache_counts: Vec<Option<(f64, f64)>>,
    /// From the `cache_hit_ratio` column.
    cache_hit_ratio: Option<f64>,
    /// From the `rejected_share` column.
    rejected_share: Option<f64>,
}

impl FileTraffic {
    /// Reads and checks the whole file at `path`; see the [module docs](self) for the schema.
    pub fn open(path: &Path, options: &FileOptions) -> Result<FileTraffic, FetchError> {
        let shown = path.display().to_string();
        read_traffic(path, options)
            .map(|(step_secs, end, series)| FileTraffic {
                path: shown.clone(),
                step_secs,
                end,
                series,
            })
            .map_err(|message| FetchError::File {
                path: shown,
                message,
            })
    }

    /// The grid step of the file: `--step`, or the one inferred from its timestamps.
    pub fn step_secs(&self) -> u32 {
        self.step_secs
    }

    /// One step after the last interval with data.
    pub fn end(&self) -> DateTime<Utc> {
        self.end
    }

    /// One series per key over `window`, in key order; keys without rows, and every key when
    /// the window's step is not the file's, are failures instead.
    pub fn series(
        &self,
        keys: &[SeriesKey],
        window: &AnalysisWindow,
    ) -> (Vec<FetchedSeries>, Vec<SeriesFailure>) {
        if window.step_secs != self.step_secs {
            let reason = format!(
                "{} has a step of {} s but the analysis step is {} s",
                self.path, self.step_secs, window.step_secs
            );
            let failures = keys
                .iter()
                .map(|key| SeriesFailure {
                    key: key.clone(),
                    reason: reason.clone(),
                })
                .collect();
            return (Vec::new(), failures);
        }
        let mut delivered = Vec::new();
        let mut failures = Vec::new();
        for key in keys {
            match self.series.get(key) {
                Some(rows) => delivered.push(rows.on_window(key, window)),
                None => failures.push(SeriesFailure {
                    key: key.clone(),
                    reason: format!("no rows for this partner and API in {}", self.path),
                }),
            }
        }
        (delivered, failures)
    }
}

impl FileSeries {
    fn on_window(&self, key: &SeriesKey, window: &AnalysisWindow) -> FetchedSeries {
        let step = i64::from(window.step_secs);
        let start = window.start.timestamp();
        let end = window.end.timestamp();
        let mut values = vec![f64::NAN; window.len()];
        let (mut hits, mut total) = (0.0, 0.0);
        let first = self.starts.partition_point(|&t| t < start);
        for i in first..self.starts.len() {
            let offset = self.starts[i] - start;
            if self.starts[i] >= end {
                break;
            }
            if offset % step != 0 {
                continue;
            }
            if let Some(value) = values.get_mut((offset / step) as usize) {
                *value = self.requests[i];
            }
            if let Some(Some((h, t))) = self.cache_counts.get(i) {
                hits += h;
                total += t;
            }
        }
        let cache_hit_ratio = if self.cache_counts.is_empty() {
            self.cache_hit_ratio
        } else if total > 0.0 {
            Some(hits / total)
        } else {
            None
        };
        FetchedSeries {
            series: TrafficSeries {
                key: key.clone(),
                window: *window,
                values,
            },
            cache_hit_ratio,
            labelled_anomalies: Vec::new(),
            rejected_share: self.rejected_share,
            labelled_bursts: Vec::new(),
        }
    }
}

type ReadResult = (u32, DateTime<Utc>, HashMap<SeriesKey, FileSeries>);

fn read_traffic(path: &Path, options: &FileOptions) -> Result<ReadResult, String> {
    let format = TableFormat::of(path)?;
    let frame = read_frame(path, format)?;
    let columns = FileColumns::of(&frame)?;
    let rows = columns.rows()?;
    let step_secs = match options.step_secs {
        Some(0) => return Err("the step must be a positive number of seconds".into()),
        Some(step) => step,
        None => infer_step(&rows)?,
    };
    let series = lay_out(rows, step_secs, options.sum_duplicates)?;
    let last = series
        .values()
        .filter_map(|s| s.starts.last())
        .max()
        .copied()
        .ok_or("no data rows")?;
    let end = unix_time(last + i64::from(step_secs)).ok_or("the last timestamp is out of range")?;
    Ok((step_secs, end, series))
}

fn read_frame(path: &Path, format: TableFormat) -> Result<DataFrame, String> {
    let metadata = std::fs::metadata(path).map_err(|e| format!("cannot read the file: {e}"))?;
    if metadata.is_dir() {
        return Err("is a directory, not a file".into());
    }
    if metadata.len() == 0 {
        return Err("the file is empty: expected a header and data rows".into());
    }
    let frame = match format {
        // Every CSV column is read as text and converted here, so that partner `007` stays
        // `007`, and numbers and timestamps are parsed (and reported) by one set of rules.
        TableFormat::Csv => CsvReadOptions::default()
            .with_has_header(true)
            .with_infer_schema_length(Some(0))
            .try_into_reader_with_file_path(Some(PathBuf::from(path)))
            .and_then(|reader| reader.finish()),
        TableFormat::Parquet => File::open(path)
            .map_err(PolarsError::from)
            .and_then(|file| ParquetReader::new(file).finish()),
    };
    // polars messages can span lines (with hints); ours are one line.
    frame.map_err(|e| format!("cannot read the file: {}", one_line(&e.to_string())))
}

/// The file's columns, checked against the schema.
struct FileColumns<'a> {
    timestamp: &'a Column,
    partner: &'a Column,
    api: &'a Column,
    requests: &'a Column,
    cache: CacheColumns<'a>,
    rejected: Option<&'a Column>,
}

enum CacheColumns<'a> {
    None,
    Counts { hits: &'a Column, total: &'a Column },
    Ratio(&'a Column),
}

impl<'a> FileColumns<'a> {
    fn of(frame: &'a DataFrame) -> Result<Self, String> {
        let names: Vec<&str> = frame
            .get_column_names()
            .into_iter()
            .map(|n| n.as_str())
            .collect();
        let mut problems = Vec::new();
        let missing: Vec<String> = REQUIRED_COLUMNS
            .iter()
            .filter(|c| !names.contains(c))
            .map(|c| format!("`{c}`"))
            .collect();
        if !missing.is_empty() {
            problems.push(format!("missing column {}", missing.join(", ")));
        }
        let unknown: Vec<String> = names
            .iter()
            .filter(|n| !REQUIRED_COLUMNS.contains(n) && !OPTIONAL_COLUMNS.contains(n))
            .map(|n| format!("`{n}`"))
            .collect();
        if !unknown.is_empty() {
            problems.push(format!("unknown column {}", unknown.join(", ")));
        }
        if !problems.is_empty() {
            let accepted: Vec<&str> = REQUIRED_COLUMNS
                .into_iter()
                .chain(OPTIONAL_COLUMNS)
                .collect();
            return Err(format!(
                "{} (accepted columns: {})",
                problems.join("; "),
                accepted.join(", ")
            ));
        }
        let column = |name: &str| frame.column(name).ok();
        let cache = match (
            column("cache_hits"),
            column("cache_total"),
            column("cache_hit_ratio"),
        ) {
            (None, None, None) => CacheColumns::None,
            (Some(hits), Some(total), None) => CacheColumns::Counts { hits, total },
            (None, None, Some(ratio)) => CacheColumns::Ratio(ratio),
            (Some(_), None, None) | (None, Some(_), None) => {
                return Err("columns `cache_hits` and `cache_total` go together".into());
            }
            (_, _, Some(_)) => {
                return Err(
                    "give either `cache_hits` and `cache_total` or `cache_hit_ratio`, not both"
                        .into(),
                );
            }
        };
        if frame.height() == 0 {
            return Err("no data rows".into());
        }
        Ok(Self {
            timestamp: frame.column("timestamp").map_err(|e| e.to_string())?,
            partner: frame.column("partner").map_err(|e| e.to_string())?,
            api: frame.column("api").map_err(|e| e.to_string())?,
            requests: frame.column("requests").map_err(|e| e.to_string())?,
            cache,
            rejected: column("rejected_share"),
        })
    }

    /// Every row, converted and checked, grouped by series in order of first appearance.
    fn rows(&self) -> Result<Vec<(SeriesKey, Vec<Row>)>, String> {
        let timestamps = timestamps_ms(self.timestamp)?;
        let partners = text(self.partner, "partner")?;
        let apis = text(self.api, "api")?;
        let requests = numbers(self.requests, "requests")?;
        let cache = match self.cache {
            CacheColumns::None => None,
            CacheColumns::Counts { hits, total } => Some((
                numbers(hits, "cache_hits")?,
                Some(numbers(total, "cache_total")?),
            )),
            CacheColumns::Ratio(ratio) => Some((numbers(ratio, "cache_hit_ratio")?, None)),
        };
        let rejected = self
            .rejected
            .map(|column| numbers(column, "rejected_share"))
            .transpose()?;

        let mut index: HashMap<String, HashMap<String, usize>> = HashMap::new();
        let mut grouped: Vec<(SeriesKey, Vec<Row>)> = Vec::new();
        let mut last: Option<usize> = None;
        for (i, (partner, api)) in partners.iter().zip(apis.iter()).enumerate() {
            let row = i + 1;
            let partner = partner
                .filter(|p| !p.is_empty())
                .ok_or_else(|| format!("column `partner`, row {row}: empty value"))?;
            let api = api
                .filter(|a| !a.is_empty())
                .ok_or_else(|| format!("column `api`, row {row}: empty value"))?;
            let series = SeriesName(partner, api);
            let requests = match requests[i] {
                None => {
                    return Err(format!(
                        "column `requests`, row {row} ({series}): empty value"
                    ));
                }
                Some(r) if !r.is_finite() || r < 0.0 => {
                    return Err(format!(
                        "column `requests`, row {row} ({series}): {r} is not a finite number ≥ 0"
                    ));
                }
                Some(r) => r,
            };
            let cache = match &cache {
                None => RowCache::None,
                Some((hits, Some(total))) => cache_counts(hits[i], total[i], row, series)?,
                Some((ratio, None)) => match ratio[i] {
                    None => RowCache::None,
                    Some(r) if (0.0..=1.0).contains(&r) => RowCache::Ratio(r),
                    Some(r) => {
                        return Err(format!(
                            "column `cache_hit_ratio`, row {row} ({series}): {r} is not between 0 and 1"
                        ));
                    }
                },
            };
            let rejected = match rejected.as_ref().and_then(|shares| shares[i]) {
                None => None,
                Some(r) if (0.0..=1.0).contains(&r) => Some(r),
                Some(r) => {
                    return Err(format!(
                        "column `rejected_share`, row {row} ({series}): {r} is not between 0 and 1"
                    ));
                }
            };
            // Rows of one series usually come together (an export writes them so): compare
            // with the previous row's series before hashing two strings per row.
            let slot = match last {
                Some(slot) if grouped[slot].0.partner == partner && grouped[slot].0.api == api => {
                    slot
                }
                _ => match index.get(partner).and_then(|by_api| by_api.get(api)) {
                    Some(&slot) => slot,
                    None => {
                        let by_api = index.entry(partner.to_string()).or_default();
                        by_api.insert(api.to_string(), grouped.len());
                        grouped.push((SeriesKey::new(partner, api), Vec::new()));
                        grouped.len() - 1
                    }
                },
            };
            last = Some(slot);
            grouped[slot].1.push(Row {
                row,
                time_ms: timestamps[i],
                requests,
                cache,
                rejected,
            });
        }
        Ok(grouped)
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

/// One checked row.
#[derive(Debug, Clone, Copy)]
struct Row {
    /// 1-based data row number, for messages.
    row: usize,
    time_ms: i64,
    requests: f64,
    cache: RowCache,
    /// From the `rejected_share` column.
    rejected: Option<f64>,
}

#[derive(Debug, Clone, Copy)]
enum RowCache {
    None,
    Counts(f64, f64),
    Ratio(f64),
}

fn cache_counts(
    hits: Option<f64>,
    total: Option<f64>,
    row: usize,
    series: SeriesName<'_>,
) -> Result<RowCache, String> {
    let check = |name: &str, value: f64| {
        if value.is_finite() && value >= 0.0 {
            Ok(value)
        } else {
            Err(format!(
                "column `{name}`, row {row} ({series}): {value} is not a finite number ≥ 0"
            ))
        }
    };
    match (hits, total) {
        (Some(hits), Some(total)) => {
            let (hits, total) = (check("cache_hits", hits)?, check("cache_total", total)?);
            if hits > total {
                return Err(format!(
                    "row {row} ({series}): cache_hits {hits} exceeds cache_total {total}"
                ));
            }
            Ok(RowCache::Counts(hits, total))
        }
        _ => Ok(RowCache::None),
    }
}

/// Timestamps in Unix milliseconds, one per row.
fn timestamps_ms(column: &Column) -> Result<Vec<i64>, String> {
    let empty = |i: usize| format!("column `timestamp`, row {}: empty value", i + 1);
    match column.dtype() {
        DataType::String => {
            let texts = column.str().map_err(|e| e.to_string())?;
            texts
                .iter()
                .enumerate()
                .map(|(i, text)| {
                    let text = text.map(str::trim).filter(|t| !t.is_empty());
                    parse_timestamp(text.ok_or_else(|| empty(i))?)
                        .map_err(|why| format!("column `timestamp`, row {}: {why}", i + 1))
                })
                .collect()
        }
        DataType::Datetime(unit, _) => {
            let per_ms = match unit {
                TimeUnit::Milliseconds => 1,
                TimeUnit::Microseconds => 1_000,
                TimeUnit::Nanoseconds => 1_000_000,
            };
            let times = column.datetime().map_err(|e| e.to_string())?;
            times
                .physical()
                .iter()
                .enumerate()
                .map(|(i, t)| t.map(|t| t.div_euclid(per_ms)).ok_or_else(|| empty(i)))
                .collect()
        }
        dtype if dtype.is_integer() => {
            let seconds = column.cast(&DataType::Int64).map_err(|e| e.to_string())?;
            let seconds = seconds.i64().map_err(|e| e.to_string())?;
            seconds
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    unix_seconds_ms(s.ok_or_else(|| empty(i))?)
                        .map_err(|why| format!("column `timestamp`, row {}: {why}", i + 1))
                })
                .collect()
        }
        dtype => Err(format!(
            "column `timestamp` has type {dtype}; expected RFC 3339 text, integer Unix seconds or a datetime"
        )),
    }
}

fn parse_timestamp(text: &str) -> Result<i64, String> {
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.timestamp_millis());
    }
    match text.parse::<i64>() {
        Ok(seconds) => unix_seconds_ms(seconds),
        Err(_) => Err(format!(
            "`{text}` is neither an RFC 3339 time (e.g. 2026-11-15T12:00:00Z) nor integer Unix seconds"
        )),
    }
}

fn unix_seconds_ms(seconds: i64) -> Result<i64, String> {
    if seconds.abs() > MAX_UNIX_SECONDS {
        return Err(format!(
            "{seconds} is out of range for Unix seconds (milliseconds are not accepted)"
        ));
    }
    Ok(seconds * 1000)
}

/// Text values of a text or integer column.
fn text(column: &Column, name: &str) -> Result<StringChunked, String> {
    let dtype = column.dtype();
    if !(dtype == &DataType::String || dtype.is_integer()) {
        return Err(format!("column `{name}` has type {dtype}; expected text"));
    }
    let column = column.cast(&DataType::String).map_err(|e| e.to_string())?;
    column.str().cloned().map_err(|e| e.to_string())
}

/// Numbers of a numeric column, or of a text column (CSV) parsed as decimal numbers; an empty
/// value is `None`.
fn numbers(column: &Column, name: &str) -> Result<Vec<Option<f64>>, String> {
    match column.dtype() {
        DataType::String => {
            let texts = column.str().map_err(|e| e.to_string())?;
            texts
                .iter()
                .enumerate()
                .map(
                    |(i, text)| match text.map(str::trim).filter(|t| !t.is_empty()) {
                        None => Ok(None),
                        Some(text) => text.parse::<f64>().map(Some).map_err(|_| {
                            format!("column `{name}`, row {}: `{text}` is not a number", i + 1)
                        }),
                    },
                )
                .collect()
        }
        dtype if dtype.is_primitive_numeric() => {
            let values = column.cast(&DataType::Float64).map_err(|e| e.to_string())?;
            Ok(values.f64().map_err(|e| e.to_string())?.iter().collect())
        }
        dtype => Err(format!(
            "column `{name}` has type {dtype}; expected numbers"
        )),
    }
}

/// The most common gap between consecutive distinct timestamps of a series, over all series.
fn infer_step(rows: &[(SeriesKey, Vec<Row>)]) -> Result<u32, String> {
    let mut gaps: HashMap<i64, usize> = HashMap::new();
    for (_, series) in rows {
        let mut times: Vec<i64> = series.iter().map(|r| r.time_ms).collect();
        times.sort_unstable();
        times.dedup();
        for pair in times.windows(2) {
            let seconds = (pair[1] - pair[0] + 500) / 1000;
            if seconds > 0 {
                *gaps.entry(seconds).or_default() += 1;
            }
        }
    }
    let (step, _) = gaps
        .into_iter()
        .max_by_key(|&(gap, count)| (count, std::cmp::Reverse(gap)))
        .ok_or("cannot infer the step: no series has two distinct timestamps; pass --step")?;
    match u32::try_from(step) {
        Ok(step) if 3600 % step == 0 => Ok(step),
        _ => Err(format!(
            "the inferred step ({step} s, the most common gap between timestamps) does not divide \
             one hour; pass --step (e.g. --step 5m)"
        )),
    }
}

/// Puts every row in its grid interval, merging or refusing duplicates.
fn lay_out(
    rows: Vec<(SeriesKey, Vec<Row>)>,
    step_secs: u32,
    sum_duplicates: bool,
) -> Result<HashMap<SeriesKey, FileSeries>, String> {
    let step_ms = i64::from(step_secs) * 1000;
    let mut laid_out = HashMap::with_capacity(rows.len());
    for (key, mut rows) in rows {
        // Stable: duplicates stay in file order, so the message names the earlier row first.
        rows.sort_by_key(|r| r.time_ms.div_euclid(step_ms));
        let has_counts = rows.iter().any(|r| matches!(r.cache, RowCache::Counts(..)));
        let mut series = FileSeries::default();
        let mut ratio: Option<(f64, usize)> = None;
        let mut rejected: Option<(f64, usize)> = None;
        let mut previous_row = 0;
        for row in &rows {
            if let Some(share) = row.rejected {
                match rejected {
                    Some((first, first_row)) if first != share => {
                        return Err(format!(
                            "rows {first_row} and {} of {} give different rejected_share \
                             values ({first} and {share}); a series has one",
                            row.row,
                            SeriesName(&key.partner, &key.api)
                        ));
                    }
                    Some(_) => {}
                    None => rejected = Some((share, row.row)),
                }
            }
            let start = row.time_ms.div_euclid(step_ms) * i64::from(step_secs);
            let counts = match row.cache {
                RowCache::Counts(hits, total) => Some((hits, total)),
                RowCache::Ratio(r) => {
                    match ratio {
                        Some((first, first_row)) if first != r => {
                            return Err(format!(
                                "rows {first_row} and {} of {} give different cache_hit_ratio \
                                 values ({first} and {r}); a series has one",
                                row.row,
                                SeriesName(&key.partner, &key.api)
                            ));
                        }
                        Some(_) => {}
                        None => ratio = Some((r, row.row)),
                    }
                    None
                }
                RowCache::None => None,
            };
            if series.starts.last() == Some(&start) {
                if !sum_duplicates {
                    return Err(format!(
                        "rows {previous_row} and {} of {} both fall in the {step_secs} s \
                         interval starting {}; remove one, or pass --sum-duplicates to add them up",
                        row.row,
                        SeriesName(&key.partner, &key.api),
                        unix_time(start).map_or_else(|| start.to_string(), rfc3339)
                    ));
                }
                if let Some(total) = series.requests.last_mut() {
                    *total += row.requests;
                }
                if let Some(last) = series.cache_counts.last_mut() {
                    *last = match (*last, counts) {
                        (Some((h1, t1)), Some((h2, t2))) => Some((h1 + h2, t1 + t2)),
                        (a, b) => a.or(b),
                    };
                }
            } else {
                series.starts.push(start);
                series.requests.push(row.requests);
                if has_counts {
                    series.cache_counts.push(counts);
                }
            }
            previous_row = row.row;
        }
        series.cache_hit_ratio = ratio.map(|(r, _)| r);
        series.rejected_share = rejected.map(|(r, _)| r);
        laid_out.insert(key, series);
    }
    Ok(laid_out)
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
    use std::fmt::Write as _;

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
        let (series, failures) = file.series(&[SeriesKey::new("111", "/a")], &hour(300));
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
        let (series, _) = file.series(&[SeriesKey::new("111", "/a")], &hour(300));
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
        let (series, _) = file.series(&[SeriesKey::new("111", "/a")], &hour(60));
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
        let (series, _) = file.series(&[SeriesKey::new("111", "/a")], &hour(300));
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
        let (series, failures) = file.series(&keys, &hour(60));
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
        let (series, failures) = file.series(&[SeriesKey::new("111", "/a")], &hour(60));
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
        let (series, _) = file.series(&[SeriesKey::new("p", "/a")], &hour(60));
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
        let (series, failures) = file.series(&keys, &hour(60));
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

        let (series, failures) = file.series(&keys, &hour(300));
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
        let (series, failures) = traffic.series(&keys, &hour(60));
        assert!(failures.is_empty(), "{failures:?}");
        assert_eq!(series[0].rejected_share, Some(0.02));
        assert_eq!(series[1].rejected_share, None);
        assert_eq!(series[0].cache_hit_ratio, None);
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
