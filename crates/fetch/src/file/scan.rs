//! The first pass over a traffic file: every row is checked, and what the later passes need is
//! kept — the series, the batches each has rows in, the step and the end — but not the rows.
//! A file of 20 million rows (1,000 series × 14 days × 1 minute) needed ≈ 2.8 GB when it was
//! read whole into per-row structures; this pass keeps a few hundred bytes a series.
//!
//! Steps and duplicates need the times of a series in order. Rows of a series usually come in
//! time order (an export writes them so): then the gaps are counted as the rows go by, and a
//! series whose every gap is at least the step cannot have two rows in one interval. Only the
//! other series (rows out of order, or gaps shorter than the step) have their times read again,
//! by a pass over the batches they are in.

use chrono::{DateTime, Utc};
use std::collections::HashMap;
use trendmaster_types::SeriesKey;

use super::batches::{BatchPlace, BatchReader};
use super::rows::{CacheKind, FileColumns, RowCache};
use super::{SeriesName, rfc3339, unix_time};

/// What the first pass found.
#[derive(Debug)]
pub(super) struct Scanned {
    pub(super) step_secs: u32,
    /// One step after the last interval with data.
    pub(super) end: DateTime<Utc>,
    pub(super) cache: CacheKind,
    /// Every batch of the file, in order, with the number of its first row.
    pub(super) places: Vec<(BatchPlace, usize)>,
    pub(super) series: HashMap<SeriesKey, ScannedSeries>,
}

/// One series of the file.
#[derive(Debug)]
pub(super) struct ScannedSeries {
    /// Indices into [`Scanned::places`] of the batches with rows of this series, ascending.
    pub(super) batches: Vec<u32>,
    /// From the `cache_hit_ratio` column.
    pub(super) cache_hit_ratio: Option<f64>,
    /// From the `rejected_share` column.
    pub(super) rejected_share: Option<f64>,
}

/// A series while the file is read.
#[derive(Debug)]
struct SeriesScan {
    key: SeriesKey,
    batches: Vec<u32>,
    rows: usize,
    last_ms: i64,
    max_ms: i64,
    /// Rows came in time order (equal times included).
    in_order: bool,
    /// The smallest difference between consecutive rows' whole seconds (rows in order).
    min_gap_secs: i64,
    /// Gaps between consecutive distinct times in whole seconds, rounded, and how often each
    /// occurs (rows in order).
    gaps: HashMap<i64, usize>,
    ratio: Option<(f64, usize)>,
    rejected: Option<(f64, usize)>,
}

impl SeriesScan {
    fn new(key: SeriesKey) -> Self {
        Self {
            key,
            batches: Vec::new(),
            rows: 0,
            last_ms: i64::MIN,
            max_ms: i64::MIN,
            in_order: true,
            min_gap_secs: i64::MAX,
            gaps: HashMap::new(),
            ratio: None,
            rejected: None,
        }
    }

    fn add_time(&mut self, time_ms: i64) {
        if self.rows > 0 && self.in_order {
            if time_ms < self.last_ms {
                self.in_order = false;
                self.gaps = HashMap::new();
            } else {
                let whole = time_ms.div_euclid(1000) - self.last_ms.div_euclid(1000);
                self.min_gap_secs = self.min_gap_secs.min(whole);
                if time_ms > self.last_ms {
                    let seconds = (time_ms - self.last_ms + 500) / 1000;
                    if seconds > 0 {
                        *self.gaps.entry(seconds).or_default() += 1;
                    }
                }
            }
        }
        self.rows += 1;
        self.last_ms = time_ms;
        self.max_ms = self.max_ms.max(time_ms);
    }
}

/// Reads every batch of the file once, checking every row; then settles the step (given, or
/// inferred) and refuses two rows of a series in one interval unless they are to be summed.
pub(super) fn scan(
    reader: &mut BatchReader,
    step_secs: Option<u32>,
    sum_duplicates: bool,
) -> Result<Scanned, String> {
    let mut index: HashMap<String, HashMap<String, usize>> = HashMap::new();
    let mut series: Vec<SeriesScan> = Vec::new();
    let mut places = Vec::new();
    let mut cache = None;
    let mut rows = 0usize;
    reader.read_all(&mut |batch| {
        let columns = FileColumns::of(&batch.frame)?;
        cache.get_or_insert(columns.cache_kind());
        let batch_index = places.len() as u32;
        places.push((batch.place, batch.first_row));
        let mut last: Option<usize> = None;
        columns.each_row(batch.first_row, &mut |row| {
            rows += 1;
            // Rows of one series usually come together: compare with the previous row's
            // series before hashing two strings per row.
            let slot = match last {
                Some(slot)
                    if series[slot].key.partner == row.partner
                        && series[slot].key.api == row.api =>
                {
                    slot
                }
                _ => match index
                    .get(row.partner)
                    .and_then(|by_api| by_api.get(row.api))
                {
                    Some(&slot) => slot,
                    None => {
                        let by_api = index.entry(row.partner.to_string()).or_default();
                        by_api.insert(row.api.to_string(), series.len());
                        series.push(SeriesScan::new(SeriesKey::new(row.partner, row.api)));
                        series.len() - 1
                    }
                },
            };
            last = Some(slot);
            let scan = &mut series[slot];
            if scan.batches.last() != Some(&batch_index) {
                scan.batches.push(batch_index);
            }
            let name = || SeriesName(row.partner, row.api);
            if let Some(share) = row.rejected {
                one_value(&mut scan.rejected, share, row.row, "rejected_share", name())?;
            }
            if let RowCache::Ratio(ratio) = row.cache {
                one_value(&mut scan.ratio, ratio, row.row, "cache_hit_ratio", name())?;
            }
            scan.add_time(row.time_ms);
            Ok(())
        })
    })?;
    if rows == 0 {
        return Err("no data rows".into());
    }

    // Times of the series whose rows were out of order, for the step and for duplicates.
    let mut times: HashMap<usize, Vec<(i64, usize)>> = HashMap::new();
    let out_of_order: Vec<usize> = (0..series.len())
        .filter(|&slot| !series[slot].in_order)
        .collect();
    read_times(reader, &places, &series, &out_of_order, &mut times)?;

    let step_secs = match step_secs {
        Some(0) => return Err("the step must be a positive number of seconds".into()),
        Some(step) => step,
        None => infer_step(&series, &times)?,
    };
    if !sum_duplicates {
        let step = i64::from(step_secs);
        let unsure: Vec<usize> = (0..series.len())
            .filter(|&slot| {
                let scan = &series[slot];
                scan.in_order && scan.rows > 1 && scan.min_gap_secs < step
            })
            .collect();
        read_times(reader, &places, &series, &unsure, &mut times)?;
        for (slot, scan) in series.iter().enumerate() {
            if let Some(times) = times.get(&slot) {
                refuse_duplicates(times, step_secs, &scan.key)?;
            }
        }
    }

    let last = series.iter().map(|s| s.max_ms).max().unwrap_or(0);
    let step_ms = i64::from(step_secs) * 1000;
    let last_start = last.div_euclid(step_ms) * i64::from(step_secs);
    let end =
        unix_time(last_start + i64::from(step_secs)).ok_or("the last timestamp is out of range")?;
    Ok(Scanned {
        step_secs,
        end,
        cache: cache.unwrap_or(CacheKind::None),
        places,
        series: series
            .into_iter()
            .map(|scan| {
                (
                    scan.key,
                    ScannedSeries {
                        batches: scan.batches,
                        cache_hit_ratio: scan.ratio.map(|(r, _)| r),
                        rejected_share: scan.rejected.map(|(r, _)| r),
                    },
                )
            })
            .collect(),
    })
}

/// A column with one value per series (`cache_hit_ratio`, `rejected_share`): the first value
/// seen, or an error naming both rows when another differs.
fn one_value(
    first: &mut Option<(f64, usize)>,
    value: f64,
    row: usize,
    column: &str,
    series: SeriesName<'_>,
) -> Result<(), String> {
    match *first {
        Some((seen, seen_row)) if seen != value => Err(format!(
            "rows {seen_row} and {row} of {series} give different {column} values \
             ({seen} and {value}); a series has one"
        )),
        Some(_) => Ok(()),
        None => {
            *first = Some((value, row));
            Ok(())
        }
    }
}

/// Reads the `(time, row)` of every row of the series at `slots` (those not read yet), in file
/// order, from the batches they are in.
fn read_times(
    reader: &BatchReader,
    places: &[(BatchPlace, usize)],
    series: &[SeriesScan],
    slots: &[usize],
    times: &mut HashMap<usize, Vec<(i64, usize)>>,
) -> Result<(), String> {
    let wanted: HashMap<(&str, &str), usize> = slots
        .iter()
        .filter(|slot| !times.contains_key(slot))
        .map(|&slot| {
            let key = &series[slot].key;
            ((key.partner.as_str(), key.api.as_str()), slot)
        })
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let chosen: Vec<(BatchPlace, usize)> =
        batches_of(wanted.values().map(|&slot| series[slot].batches.as_slice()))
            .iter()
            .map(|&b| places[b as usize])
            .collect();
    for &slot in wanted.values() {
        times.insert(slot, Vec::with_capacity(series[slot].rows));
    }
    reader.read_places(&chosen, &mut |batch| {
        let columns = FileColumns::of(&batch.frame)?;
        columns.each_row(batch.first_row, &mut |row| {
            if let Some(slot) = wanted.get(&(row.partner, row.api)) {
                times
                    .get_mut(slot)
                    .expect("a vector per wanted series")
                    .push((row.time_ms, row.row));
            }
            Ok(())
        })
    })
}

/// The batches of some series (each list ascending), each once, ascending.
pub(super) fn batches_of<'a>(series: impl Iterator<Item = &'a [u32]>) -> Vec<u32> {
    let mut batches: Vec<u32> = series.flatten().copied().collect();
    batches.sort_unstable();
    batches.dedup();
    batches
}

/// The most common gap between consecutive distinct timestamps of a series, over all series.
fn infer_step(
    series: &[SeriesScan],
    times: &HashMap<usize, Vec<(i64, usize)>>,
) -> Result<u32, String> {
    let mut gaps: HashMap<i64, usize> = HashMap::new();
    for (slot, scan) in series.iter().enumerate() {
        if scan.in_order {
            for (&gap, &count) in &scan.gaps {
                *gaps.entry(gap).or_default() += count;
            }
        } else {
            let mut sorted: Vec<i64> = times[&slot].iter().map(|&(t, _)| t).collect();
            sorted.sort_unstable();
            sorted.dedup();
            for pair in sorted.windows(2) {
                let seconds = (pair[1] - pair[0] + 500) / 1000;
                if seconds > 0 {
                    *gaps.entry(seconds).or_default() += 1;
                }
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

/// Fails on the first two rows of a series (in time order) that fall in one grid interval.
fn refuse_duplicates(
    times: &[(i64, usize)],
    step_secs: u32,
    key: &SeriesKey,
) -> Result<(), String> {
    let step_ms = i64::from(step_secs) * 1000;
    let mut intervals: Vec<(i64, usize)> = times
        .iter()
        .map(|&(time_ms, row)| (time_ms.div_euclid(step_ms), row))
        .collect();
    // Stable: rows of one interval stay in file order, so the message names the earlier first.
    intervals.sort_by_key(|&(interval, _)| interval);
    for pair in intervals.windows(2) {
        let ((interval, first), (next, second)) = (pair[0], pair[1]);
        if interval == next {
            let start = interval * i64::from(step_secs);
            return Err(format!(
                "rows {first} and {second} of {} both fall in the {step_secs} s interval \
                 starting {}; remove one, or pass --sum-duplicates to add them up",
                SeriesName(&key.partner, &key.api),
                unix_time(start).map_or_else(|| start.to_string(), rfc3339)
            ));
        }
    }
    Ok(())
}
