//! A traffic file read a batch at a time, so that memory is bounded by a batch and not by the
//! file: Parquet one row group (or a slice of a large one) at a time, CSV a few MiB of whole
//! lines at a time with the header line in front. The first pass over the file records where
//! each batch is ([`BatchPlace`]), so that later passes read exactly the batches they need.

use polars::prelude::*;
use std::fs::File;
use std::io::{Cursor, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::SystemTime;
use trendmaster_types::one_line;

use super::TableFormat;

/// How big a batch may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct BatchSizes {
    /// Rows per Parquet batch when a row group is larger.
    pub(super) parquet_rows: usize,
    /// Bytes of CSV lines per batch (a longer line is read whole).
    pub(super) csv_bytes: u64,
}

impl Default for BatchSizes {
    fn default() -> Self {
        Self {
            // polars writes row groups of 262,144 rows; other writers may put a whole file in one.
            parquet_rows: 1 << 20,
            // ≈ 130,000 rows of an export, ≈ 40 MB as a frame of text columns.
            csv_bytes: 8 << 20,
        }
    }
}

/// Where one batch is in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BatchPlace {
    /// Rows `[offset, offset + len)` of a Parquet file.
    Parquet { offset: usize, len: usize },
    /// Bytes `[start, end)` of a CSV file: whole lines after the header.
    Csv { start: u64, end: u64 },
}

/// One batch: its place, the 1-based number of its first data row, and its rows.
pub(super) struct Batch {
    pub(super) place: BatchPlace,
    pub(super) first_row: usize,
    pub(super) frame: DataFrame,
}

/// The file's size and modification time when the first pass read it: a later pass that finds
/// others refuses the file rather than mixing two versions of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FileIdentity {
    len: u64,
    modified: Option<SystemTime>,
}

impl FileIdentity {
    pub(super) fn of(path: &Path) -> Result<Self, String> {
        let metadata = std::fs::metadata(path).map_err(|e| format!("cannot read the file: {e}"))?;
        if metadata.is_dir() {
            return Err("is a directory, not a file".into());
        }
        if metadata.len() == 0 {
            return Err("the file is empty: expected a header and data rows".into());
        }
        Ok(Self {
            len: metadata.len(),
            modified: metadata.modified().ok(),
        })
    }

    /// Fails when the file at `path` is no longer the one first read.
    pub(super) fn check(&self, path: &Path) -> Result<(), String> {
        match Self::of(path) {
            Ok(now) if now == *self => Ok(()),
            _ => Err("the file changed while it was being read; run again".into()),
        }
    }
}

/// The file being read in batches.
#[derive(Debug)]
pub(super) struct BatchReader {
    path: PathBuf,
    format: TableFormat,
    sizes: BatchSizes,
    /// CSV: the header line, put in front of every batch.
    header: Vec<u8>,
}

impl BatchReader {
    pub(super) fn new(path: &Path, format: TableFormat, sizes: BatchSizes) -> Self {
        Self {
            path: path.to_path_buf(),
            format,
            sizes,
            header: Vec::new(),
        }
    }

    /// Reads the whole file, batch after batch, handing each to `each`. There is at least one
    /// batch, possibly without rows, so that the header (the schema) is always seen.
    ///
    /// The file is decoded on a thread of its own, one batch ahead of `each`: the first pass
    /// was 1.8 s of a 1,000-series run, single-threaded, about half of it decoding (`perf`),
    /// and the other core was idle. An error of `each` comes first (it is about an earlier
    /// row than any the reader has not handed over); then the reader's.
    pub(super) fn read_all(
        &mut self,
        each: &mut dyn FnMut(Batch) -> Result<(), String>,
    ) -> Result<(), String> {
        // A rendezvous channel: at most one decoded batch waits while `each` takes another.
        let (sender, receiver) = std::sync::mpsc::sync_channel::<Batch>(0);
        std::thread::scope(|scope| {
            let reading = scope.spawn(move || {
                // A failed send means `each` stopped with an error of its own, returned below.
                let mut hand_over = |batch: Batch| sender.send(batch).map_err(|_| String::new());
                match self.format {
                    TableFormat::Parquet => self.read_all_parquet(&mut hand_over),
                    TableFormat::Csv => self.read_all_csv(&mut hand_over),
                }
            });
            let mut taken = Ok(());
            for batch in &receiver {
                taken = each(batch);
                if taken.is_err() {
                    break;
                }
            }
            drop(receiver);
            let read = reading
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            taken.and(read)
        })
    }

    /// Reads the batches at `places` (from [`Self::read_all`]), in the order given.
    pub(super) fn read_places(
        &self,
        places: &[(BatchPlace, usize)],
        each: &mut dyn FnMut(Batch) -> Result<(), String>,
    ) -> Result<(), String> {
        for &(place, first_row) in places {
            let frame = match place {
                BatchPlace::Parquet { offset, len } => self.parquet_slice(offset, len)?,
                BatchPlace::Csv { start, end } => {
                    let mut file = self.open()?;
                    file.seek(SeekFrom::Start(start)).map_err(read_error)?;
                    let mut body = Vec::with_capacity((end - start) as usize);
                    file.take(end - start)
                        .read_to_end(&mut body)
                        .map_err(read_error)?;
                    self.csv_frame(&body)?
                }
            };
            each(Batch {
                place,
                first_row,
                frame,
            })?;
        }
        Ok(())
    }

    fn open(&self) -> Result<File, String> {
        File::open(&self.path).map_err(read_error)
    }

    fn read_all_parquet(
        &mut self,
        each: &mut dyn FnMut(Batch) -> Result<(), String>,
    ) -> Result<(), String> {
        let mut reader = ParquetReader::new(self.open()?);
        let groups: Vec<usize> = reader
            .get_metadata()
            .map_err(polars_error)?
            .row_groups
            .iter()
            .map(|group| group.num_rows())
            .collect();
        let mut offset = 0;
        for rows in groups {
            let mut done = 0;
            while done < rows {
                let len = (rows - done).min(self.sizes.parquet_rows);
                let place = BatchPlace::Parquet {
                    offset: offset + done,
                    len,
                };
                let frame = self.parquet_slice(offset + done, len)?;
                each(Batch {
                    place,
                    first_row: offset + done + 1,
                    frame,
                })?;
                done += len;
            }
            offset += rows;
        }
        if offset == 0 {
            // No rows: the schema alone.
            let frame = ParquetReader::new(self.open()?)
                .finish()
                .map_err(polars_error)?;
            each(Batch {
                place: BatchPlace::Parquet { offset: 0, len: 0 },
                first_row: 1,
                frame,
            })?;
        }
        Ok(())
    }

    fn parquet_slice(&self, offset: usize, len: usize) -> Result<DataFrame, String> {
        // Over row groups, polars skips the groups outside the slice.
        ParquetReader::new(self.open()?)
            .with_slice(Some((offset, len)))
            .read_parallel(ParallelStrategy::RowGroups)
            .finish()
            .map_err(polars_error)
    }

    fn read_all_csv(
        &mut self,
        each: &mut dyn FnMut(Batch) -> Result<(), String>,
    ) -> Result<(), String> {
        let mut file = self.open()?;
        let len = file.metadata().map_err(read_error)?.len();
        let mut head = Vec::new();
        let header_end = loop {
            let eof = read_more(&mut file, &mut head, 64 * 1024)?;
            match line_end(&head, Line::First) {
                Some(end) => break end,
                None if eof => break head.len(),
                None => {}
            }
        };
        self.header = head[..header_end].to_vec();
        if !self.header.ends_with(b"\n") {
            self.header.push(b'\n');
        }
        let mut position = header_end as u64;
        let mut first_row = 1;
        loop {
            // Whole lines from `position`, about `csv_bytes` of them; a batch starts outside
            // quotes, as it starts after a line end outside them.
            let max = self.sizes.csv_bytes;
            file.seek(SeekFrom::Start(position)).map_err(read_error)?;
            let mut body = Vec::with_capacity(max as usize);
            let mut eof = read_more(&mut file, &mut body, max)?;
            while !eof {
                if let Some(end) = line_end(&body, Line::Last) {
                    body.truncate(end);
                    break;
                }
                // A line longer than a batch: read on to its end.
                eof = read_more(&mut file, &mut body, max)?;
            }
            let end = position + body.len() as u64;
            let frame = self.csv_frame(&body)?;
            let rows = frame.height();
            each(Batch {
                place: BatchPlace::Csv {
                    start: position,
                    end,
                },
                first_row,
                frame,
            })?;
            first_row += rows;
            position = end;
            if position >= len {
                return Ok(());
            }
        }
    }

    /// The rows of `body` (whole CSV lines), every column read as text.
    fn csv_frame(&self, body: &[u8]) -> Result<DataFrame, String> {
        let mut bytes = Vec::with_capacity(self.header.len() + body.len());
        bytes.extend_from_slice(&self.header);
        bytes.extend_from_slice(body);
        // Every CSV column is read as text and converted by the caller, so that partner `007`
        // stays `007`, and numbers and timestamps are parsed (and reported) by one set of rules.
        CsvReadOptions::default()
            .with_has_header(true)
            .with_infer_schema_length(Some(0))
            .into_reader_with_file_handle(Cursor::new(bytes))
            .finish()
            .map_err(polars_error)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Line {
    First,
    Last,
}

/// The end (exclusive) of the first or last line of `bytes` that ends outside a quoted field,
/// reading from outside one. A quote toggles "inside a quoted field" (an escaped quote is two,
/// so it toggles twice): all RFC 4180 needs to tell a line end from a newline in a field.
fn line_end(bytes: &[u8], which: Line) -> Option<usize> {
    let mut quoted = false;
    let mut last = None;
    for (i, &byte) in bytes.iter().enumerate() {
        match byte {
            b'"' => quoted = !quoted,
            b'\n' if !quoted => {
                last = Some(i + 1);
                if which == Line::First {
                    break;
                }
            }
            _ => {}
        }
    }
    last
}

/// Appends up to `max` bytes of `file` to `buffer`; true at the end of the file.
fn read_more(file: &mut File, buffer: &mut Vec<u8>, max: u64) -> Result<bool, String> {
    let read = file.take(max).read_to_end(buffer).map_err(read_error)?;
    Ok((read as u64) < max)
}

fn read_error(error: std::io::Error) -> String {
    format!("cannot read the file: {error}")
}

// polars messages can span lines (with hints); ours are one line.
fn polars_error(error: PolarsError) -> String {
    format!("cannot read the file: {}", one_line(&error.to_string()))
}
