//! `--export-data`: fetched series written in the file source's schema (see [`crate::file`]),
//! so that `--source file:PATH` reads back the same values, bit for bit.
//!
//! Columns: `timestamp` (RFC 3339 UTC text such as `2026-11-15T00:00:00Z` in CSV, a UTC
//! millisecond datetime in Parquet), `partner`, `api`, `requests` (per minute) and
//! `cache_hit_ratio` (the series' ratio on each of its rows, empty when unknown), and, when any
//! series has one, `rejected_share` (likewise). Missing samples are left out. CSV numbers are written in the shortest form that parses back to the same
//! `f64`.
//!
//! The file is written to a temporary file next to the target and renamed over it, so a failed
//! export leaves no partial file and any previous file as it was. [`Exporter`] writes it a batch
//! of series at a time, so that a fleet is never held whole; [`export`] writes series in memory.

use polars::prelude::*;
use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use trendmaster_types::{FetchedSeries, SeriesKey};

use crate::error::FetchError;
use crate::file::{TableFormat, rfc3339};
use trendmaster_types::one_line;

/// Writes `series` to `path` (CSV or Parquet by extension), atomically.
pub fn export(path: &Path, series: &[FetchedSeries]) -> Result<(), FetchError> {
    let rejected_share = series.iter().any(|s| s.rejected_share.is_some());
    let mut exporter = Exporter::create(path, rejected_share)?;
    for batch in series.chunks(crate::LOCAL_BATCH) {
        exporter.write(batch)?;
    }
    exporter.finish()
}

/// Rows per Parquet row group, as polars writes a whole frame.
const ROW_GROUP_ROWS: usize = 512 * 512;

/// An export written a batch of series at a time, so that a fleet is never held whole: into a
/// temporary file beside `path`, renamed over it by [`Exporter::finish`]. Dropped unfinished,
/// it deletes the temporary file and leaves `path` as it was.
pub struct Exporter {
    path: PathBuf,
    format: TableFormat,
    rejected_share: bool,
    temporary: tempfile::NamedTempFile,
    writer: BatchWriter,
    seen: HashSet<SeriesKey>,
    step_secs: Option<u32>,
}

enum BatchWriter {
    Csv(polars::io::csv::write::BatchedWriter<File>),
    Parquet(Box<polars::io::parquet::write::BatchedWriter<File>>),
}

impl Exporter {
    /// Starts an export to `path`, with a `rejected_share` column or without.
    pub fn create(path: &Path, rejected_share: bool) -> Result<Exporter, FetchError> {
        Self::start(path, rejected_share).map_err(|message| export_error(path, message))
    }

    fn start(path: &Path, rejected_share: bool) -> Result<Exporter, String> {
        let format = TableFormat::of(path)?;
        let directory = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        let temporary = temporary_builder()
            .tempfile_in(directory)
            .map_err(|e| format!("cannot create a file in {}: {e}", directory.display()))?;
        let file = temporary
            .as_file()
            .try_clone()
            .map_err(|e| format!("cannot write: {e}"))?;
        let schema = schema(format, rejected_share);
        let writer = match format {
            TableFormat::Csv => CsvWriter::new(file)
                .include_header(true)
                .batched(&schema)
                .map(BatchWriter::Csv),
            TableFormat::Parquet => ParquetWriter::new(file)
                .batched(&schema)
                .map(|writer| BatchWriter::Parquet(Box::new(writer))),
        }
        .map_err(write_error)?;
        Ok(Exporter {
            path: path.to_path_buf(),
            format,
            rejected_share,
            temporary,
            writer,
            seen: HashSet::new(),
            step_secs: None,
        })
    }

    /// Appends `series`; refuses what the file source would not read back the same.
    pub fn write(&mut self, series: &[FetchedSeries]) -> Result<(), FetchError> {
        self.append(series)
            .map_err(|message| export_error(&self.path, message))
    }

    fn append(&mut self, series: &[FetchedSeries]) -> Result<(), String> {
        let frame = frame_of(series, self)?;
        let mut offset = 0;
        while offset < frame.height() {
            let rows = ROW_GROUP_ROWS.min(frame.height() - offset);
            let slice = frame.slice(offset as i64, rows);
            match &mut self.writer {
                BatchWriter::Csv(writer) => writer.write_batch(&slice),
                BatchWriter::Parquet(writer) => writer.write_batch(&slice),
            }
            .map_err(write_error)?;
            offset += rows;
        }
        Ok(())
    }

    /// Completes the file and renames it over `path`.
    pub fn finish(self) -> Result<(), FetchError> {
        let path = self.path.clone();
        self.complete()
            .map_err(|message| export_error(&path, message))
    }

    fn complete(mut self) -> Result<(), String> {
        match &mut self.writer {
            BatchWriter::Csv(writer) => writer.finish(),
            BatchWriter::Parquet(writer) => writer.finish().map(|_| ()),
        }
        .map_err(write_error)?;
        drop(self.writer);
        self.temporary
            .as_file()
            .sync_all()
            .map_err(|e| format!("cannot write: {e}"))?;
        // On failure the temporary file is dropped, which deletes it.
        let path = self.path;
        self.temporary.persist(&path).map_err(|e| {
            if path.is_dir() {
                "is a directory, not a file".to_string()
            } else {
                format!("cannot replace the file: {}", e.error)
            }
        })?;
        Ok(())
    }
}

fn export_error(path: &Path, message: String) -> FetchError {
    FetchError::Export {
        path: path.display().to_string(),
        message,
    }
}

fn write_error(error: PolarsError) -> String {
    format!("cannot write: {}", one_line(&error.to_string()))
}

/// The columns of an export in `format`.
fn schema(format: TableFormat, rejected_share: bool) -> Schema {
    let timestamp = match format {
        TableFormat::Csv => DataType::String,
        TableFormat::Parquet => DataType::Datetime(TimeUnit::Milliseconds, Some(TimeZone::UTC)),
    };
    let mut fields = vec![
        Field::new("timestamp".into(), timestamp),
        Field::new("partner".into(), DataType::String),
        Field::new("api".into(), DataType::String),
        Field::new("requests".into(), DataType::Float64),
        Field::new("cache_hit_ratio".into(), DataType::Float64),
    ];
    // Only sources with a rejected-requests query measure it: files of the others stay as
    // they were.
    if rejected_share {
        fields.push(Field::new("rejected_share".into(), DataType::Float64));
    }
    Schema::from_iter(fields)
}

/// Temporary files are private by default; the export should get the usual permissions.
fn temporary_builder() -> tempfile::Builder<'static, 'static> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(".trendmaster-export-").suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    builder
}

/// One row per present sample, series after series, in time order. Refuses what the file source
/// would not read back the same, in this batch and after the batches before.
fn frame_of(series: &[FetchedSeries], exporter: &mut Exporter) -> Result<DataFrame, String> {
    let format = exporter.format;
    let mut times_ms = Vec::new();
    let mut partners = Vec::new();
    let mut apis = Vec::new();
    let mut requests = Vec::new();
    let mut ratios = Vec::new();
    let mut rejected = Vec::new();
    for fetched in series {
        let key = &fetched.series.key;
        if !exporter.seen.insert(key.clone()) {
            return Err(format!("series {key} is given twice"));
        }
        let step = fetched.series.window.step_secs;
        let step_secs = *exporter.step_secs.get_or_insert(step);
        if step != step_secs {
            return Err(format!(
                "series {key} has a step of {step} s, others {step_secs} s; a file holds one step"
            ));
        }
        if fetched.rejected_share.is_some() && !exporter.rejected_share {
            return Err(format!(
                "series {key} has a rejected share, but the export has no rejected_share column"
            ));
        }
        if let Some(ratio) = fetched.cache_hit_ratio.filter(|r| !(0.0..=1.0).contains(r)) {
            return Err(format!(
                "series {key} has a cache hit ratio of {ratio}, not between 0 and 1"
            ));
        }
        if let Some(share) = fetched.rejected_share.filter(|r| !(0.0..=1.0).contains(r)) {
            return Err(format!(
                "series {key} has a rejected share of {share}, not between 0 and 1"
            ));
        }
        for (time, value) in fetched.series.points() {
            if value.is_nan() {
                continue;
            }
            if value.is_infinite() || value < 0.0 {
                return Err(format!(
                    "series {key} has {value} requests per minute at {}; only finite values ≥ 0 \
                     can be exported",
                    rfc3339(time)
                ));
            }
            times_ms.push(time.timestamp_millis());
            partners.push(key.partner.as_str());
            apis.push(key.api.as_str());
            requests.push(value);
            ratios.push(fetched.cache_hit_ratio);
            rejected.push(fetched.rejected_share);
        }
    }
    let timestamp = match format {
        TableFormat::Csv => {
            let texts: Vec<String> = times_ms
                .iter()
                .map(|&ms| {
                    chrono::DateTime::from_timestamp_millis(ms)
                        .map(rfc3339)
                        .ok_or_else(|| format!("timestamp {ms} ms is out of range"))
                })
                .collect::<Result<_, _>>()?;
            Column::new("timestamp".into(), texts)
        }
        TableFormat::Parquet => Int64Chunked::from_vec("timestamp".into(), times_ms)
            .into_datetime(TimeUnit::Milliseconds, Some(TimeZone::UTC))
            .into_column(),
    };
    let height = requests.len();
    let mut columns = vec![
        timestamp,
        Column::new("partner".into(), partners),
        Column::new("api".into(), apis),
        Column::new("requests".into(), requests),
        Column::new("cache_hit_ratio".into(), ratios),
    ];
    if exporter.rejected_share {
        columns.push(Column::new("rejected_share".into(), rejected));
    }
    DataFrame::new(height, columns).map_err(|e| one_line(&e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file::FileTraffic;
    use crate::options::FileOptions;
    use chrono::{TimeZone as _, Utc};
    use trendmaster_types::{AnalysisWindow, SeriesKey, TrafficSeries};

    fn window(step_secs: u32) -> AnalysisWindow {
        let as_of = Utc.with_ymd_and_hms(2026, 11, 15, 0, 0, 0).unwrap();
        AnalysisWindow::ending_at(as_of, 1, step_secs)
    }

    /// Values that are hard to print and read back exactly, with gaps.
    fn awkward_series(step_secs: u32) -> Vec<FetchedSeries> {
        let window = window(step_secs);
        let tricky = [
            0.1 + 0.2,
            1.0 / 3.0,
            5e-324,
            f64::MAX,
            1e21,
            123_456_789.123_456_78,
            -0.0,
            0.0,
            2.0f64.sqrt() * 1e-7,
        ];
        let first: Vec<f64> = (0..window.len())
            .map(|i| match i % 7 {
                3 => f64::NAN,
                _ if i < tricky.len() => tricky[i],
                _ => tricky[i % tricky.len()] + (i / tricky.len()) as f64 * 0.01,
            })
            .collect();
        let mut second = vec![f64::NAN; window.len()];
        second[5] = 42.5;
        second[window.len() - 1] = 1e-9;
        let fetched = |partner: &str, api: &str, values, ratio| FetchedSeries {
            series: TrafficSeries {
                key: SeriesKey::new(partner, api),
                window,
                values,
            },
            cache_hit_ratio: ratio,
            labelled_anomalies: Vec::new(),
            rejected_share: None,
            labelled_bursts: Vec::new(),
        };
        let mut all = vec![
            fetched(
                "111",
                "/api_v3/service/multirequest",
                first,
                Some(0.1 + 0.7),
            ),
            fetched("007", "/a,\"quoted\"", second, None),
        ];
        // One series with a measured rejected share: the column is written, empty for the other.
        all[0].rejected_share = Some(0.1 + 0.2 - 0.3 + 1e-3);
        all
    }

    fn assert_round_trip(name: &str, step_secs: u32) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        let exported = awkward_series(step_secs);
        export(&path, &exported).unwrap();
        let file = FileTraffic::open(&path, &FileOptions::default()).unwrap();
        assert_eq!(file.step_secs(), step_secs);
        assert_eq!(file.end(), window(step_secs).end);
        let keys: Vec<SeriesKey> = exported.iter().map(|f| f.series.key.clone()).collect();
        let (read, failures) = file.series(&keys, &window(step_secs)).unwrap();
        assert!(failures.is_empty(), "{failures:?}");
        for (back, original) in read.iter().zip(&exported) {
            assert_eq!(back.series.key, original.series.key);
            assert_eq!(back.series.window, original.series.window);
            let bits = |values: &[f64]| values.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            // NaN payloads aside, every bit must survive.
            let canonical = |values: &[f64]| {
                bits(
                    &values
                        .iter()
                        .map(|v| if v.is_nan() { f64::NAN } else { *v })
                        .collect::<Vec<_>>(),
                )
            };
            assert_eq!(
                canonical(&back.series.values),
                canonical(&original.series.values)
            );
            assert_eq!(
                back.cache_hit_ratio.map(f64::to_bits),
                original.cache_hit_ratio.map(f64::to_bits)
            );
            assert_eq!(
                back.rejected_share.map(f64::to_bits),
                original.rejected_share.map(f64::to_bits)
            );
        }
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "only the export itself: {leftovers:?}");
    }

    #[test]
    fn csv_round_trips_bit_for_bit() {
        assert_round_trip("traffic.csv", 300);
    }

    #[test]
    fn parquet_round_trips_bit_for_bit() {
        assert_round_trip("traffic.parquet", 60);
    }

    #[test]
    fn csv_rows_have_utc_text_timestamps_and_leave_gaps_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        let mut values = vec![f64::NAN; window(3600).len()];
        values[0] = 1.5;
        values[2] = 7.0;
        let series = FetchedSeries {
            series: TrafficSeries {
                key: SeriesKey::new("111", "/a"),
                window: window(3600),
                values,
            },
            cache_hit_ratio: None,
            labelled_anomalies: Vec::new(),
            rejected_share: None,
            labelled_bursts: Vec::new(),
        };
        export(&path, &[series]).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "timestamp,partner,api,requests,cache_hit_ratio\n\
             2026-11-14T00:00:00Z,111,/a,1.5,\n\
             2026-11-14T02:00:00Z,111,/a,7.0,\n"
        );
    }

    #[test]
    fn a_failed_export_leaves_no_temporary_file_and_the_old_file_intact() {
        let dir = tempfile::tempdir().unwrap();
        let series = awkward_series(300);

        // The target is a directory: the data is written, the rename fails.
        let target = dir.path().join("out.csv");
        std::fs::create_dir(&target).unwrap();
        let error = export(&target, &series).unwrap_err().to_string();
        assert!(
            error.ends_with("out.csv: is a directory, not a file"),
            "{error}"
        );
        assert!(target.is_dir());

        // The "directory" is a file: nothing can be created in it.
        let old = dir.path().join("old.csv");
        std::fs::write(&old, "old content").unwrap();
        let error = export(&old.join("new.csv"), &series)
            .unwrap_err()
            .to_string();
        assert!(error.contains("cannot create a file in"), "{error}");
        assert_eq!(std::fs::read_to_string(&old).unwrap(), "old content");

        // A read-only directory; only meaningful where permissions are enforced (not as root).
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let locked = dir.path().join("locked");
            std::fs::create_dir(&locked).unwrap();
            let existing = locked.join("traffic.csv");
            std::fs::write(&existing, "previous export").unwrap();
            std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).unwrap();
            let enforced = std::fs::write(locked.join("probe"), "").is_err();
            if enforced {
                let error = export(&existing, &series).unwrap_err();
                assert!(matches!(error, FetchError::Export { .. }), "{error}");
                assert_eq!(
                    std::fs::read_to_string(&existing).unwrap(),
                    "previous export"
                );
                assert_eq!(std::fs::read_dir(&locked).unwrap().count(), 1);
            }
            std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
        }

        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != "locked")
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(
            names.iter().all(|n| n == "out.csv" || n == "old.csv"),
            "{names:?}"
        );
    }

    #[test]
    fn an_export_written_a_series_at_a_time_is_the_same_file() {
        let dir = tempfile::tempdir().unwrap();
        let series = awkward_series(60);
        for name in ["whole.parquet", "whole.csv"] {
            export(&dir.path().join(name), &series).unwrap();
        }
        for (name, whole) in [
            ("batched.parquet", "whole.parquet"),
            ("batched.csv", "whole.csv"),
        ] {
            let path = dir.path().join(name);
            let mut exporter = Exporter::create(&path, true).unwrap();
            for one in &series {
                exporter.write(std::slice::from_ref(one)).unwrap();
            }
            // Nothing at the target until the export is finished.
            assert!(!path.exists());
            exporter.finish().unwrap();
            let read = |name: &str| {
                let file =
                    FileTraffic::open(&dir.path().join(name), &FileOptions::default()).unwrap();
                let keys: Vec<SeriesKey> = series.iter().map(|f| f.series.key.clone()).collect();
                format!("{:?}", file.series(&keys, &window(60)).unwrap())
            };
            assert_eq!(read(name), read(whole));
        }
        // A series given in two batches is still a series given twice; an unfinished export
        // leaves nothing behind.
        let path = dir.path().join("twice.csv");
        let mut exporter = Exporter::create(&path, true).unwrap();
        exporter.write(&series[..1]).unwrap();
        let error = exporter.write(&series[..1]).unwrap_err().to_string();
        assert!(error.contains("is given twice"), "{error}");
        drop(exporter);
        let mut exporter = Exporter::create(&path, false).unwrap();
        let error = exporter.write(&series).unwrap_err().to_string();
        assert!(
            error.contains("has a rejected share, but the export has no rejected_share column"),
            "{error}"
        );
        drop(exporter);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 4);
    }

    #[test]
    fn what_would_not_read_back_the_same_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        let mut series = awkward_series(300);
        series[1].series.values[0] = f64::INFINITY;
        let error = export(&path, &series).unwrap_err().to_string();
        assert!(
            error.starts_with("--export-data ")
                && error.contains("series 007:/a,\"quoted\" has inf requests per minute"),
            "{error}"
        );

        let mut series = awkward_series(300);
        series[1].series.window.step_secs = 60;
        let error = export(&path, &series).unwrap_err().to_string();
        assert!(error.contains("a file holds one step"), "{error}");

        let error = export(&dir.path().join("t.xlsx"), &[])
            .unwrap_err()
            .to_string();
        assert!(error.ends_with("unsupported file extension: expected .csv, .parquet or .pq"));
        assert!(!path.exists());
    }
}
