//! The later passes over a traffic file: the rows of a group of series put on the analysis
//! window's grid, reading only the batches those series have rows in (one pass reads a
//! file exported series after series once, whatever the number of groups).

use std::collections::HashMap;
use trendmaster_types::{AnalysisWindow, FetchedSeries, SeriesKey, TrafficSeries};

use super::batches::{BatchPlace, BatchReader};
use super::rows::{CacheKind, FileColumns, RowCache};
use super::scan::{self, Scanned};
use crate::LOCAL_BATCH;

/// One series being filled.
struct Filling<'k> {
    key: &'k SeriesKey,
    values: Vec<f64>,
    /// Cache hits and totals per grid point (NaN: none), when the file has cache counts.
    hits: Vec<f64>,
    totals: Vec<f64>,
}

/// The series of `keys` (each in the file) over `window`, in the keys' order. Rows outside the
/// window are left out; with `sum_duplicates`, rows of one interval are added up in file order.
pub(super) fn fill(
    reader: &BatchReader,
    scanned: &Scanned,
    keys: &[&SeriesKey],
    window: &AnalysisWindow,
) -> Result<Vec<FetchedSeries>, String> {
    let len = window.len();
    let counts = scanned.cache == CacheKind::Counts;
    let mut filling: Vec<Filling<'_>> = keys
        .iter()
        .map(|&key| Filling {
            key,
            values: vec![f64::NAN; len],
            hits: if counts {
                vec![f64::NAN; len]
            } else {
                Vec::new()
            },
            totals: if counts {
                vec![f64::NAN; len]
            } else {
                Vec::new()
            },
        })
        .collect();
    let slots: HashMap<(&str, &str), usize> = keys
        .iter()
        .enumerate()
        .map(|(slot, key)| ((key.partner.as_str(), key.api.as_str()), slot))
        .collect();
    let places: Vec<(BatchPlace, usize)> = batches_of(keys, scanned)
        .iter()
        .map(|&b| scanned.places[b as usize])
        .collect();

    let step = i64::from(window.step_secs);
    let step_ms = step * 1000;
    let start = window.start.timestamp();
    reader.read_places(&places, &mut |batch| {
        let columns = FileColumns::of(&batch.frame)?;
        // The previous row's slot: rows of one series usually come together.
        let mut last: Option<usize> = None;
        columns.each_row(batch.first_row, &mut |row| {
            let slot = match last {
                Some(slot) if keys[slot].partner == row.partner && keys[slot].api == row.api => {
                    Some(slot)
                }
                _ => slots.get(&(row.partner, row.api)).copied(),
            };
            last = slot;
            let Some(slot) = slot else {
                return Ok(());
            };
            let offset = row.time_ms.div_euclid(step_ms) * step - start;
            if offset < 0 || offset % step != 0 {
                return Ok(());
            }
            let at = (offset / step) as usize;
            let series = &mut filling[slot];
            if at >= series.values.len() {
                return Ok(());
            }
            series.values[at] = add(series.values[at], row.requests);
            if let RowCache::Counts(hits, total) = row.cache {
                series.hits[at] = add(series.hits[at], hits);
                series.totals[at] = add(series.totals[at], total);
            }
            Ok(())
        })
    })?;

    Ok(filling
        .into_iter()
        .map(|series| {
            let scanned_series = &scanned.series[series.key];
            let cache_hit_ratio = match scanned.cache {
                CacheKind::Counts => {
                    // In time order, as the ratio has always been summed.
                    let (mut hits, mut total) = (0.0, 0.0);
                    for (h, t) in series.hits.iter().zip(&series.totals) {
                        if !h.is_nan() {
                            hits += h;
                            total += t;
                        }
                    }
                    (total > 0.0).then(|| hits / total)
                }
                CacheKind::Ratio => scanned_series.cache_hit_ratio,
                CacheKind::None => None,
            };
            FetchedSeries {
                series: TrafficSeries {
                    key: series.key.clone(),
                    window: *window,
                    values: series.values,
                },
                cache_hit_ratio,
                labelled_anomalies: Vec::new(),
                rejected_share: scanned_series.rejected_share,
                labelled_bursts: Vec::new(),
            }
        })
        .collect())
}

/// `value` into a grid point that is NaN when empty.
fn add(point: f64, value: f64) -> f64 {
    if point.is_nan() { value } else { point + value }
}

/// The groups in which `keys` are put on the grid, one group per pass over (part of) the file,
/// none larger than `max_group` series. When the file keeps each series' rows together (as an
/// export does), groups of [`LOCAL_BATCH`] series in file order read it about once in all, and
/// each group is read while the one before is analysed; otherwise (rows of every series spread
/// over the file) each group reads most of the file, so groups are as large as memory allows.
pub(super) fn groups<'k>(
    scanned: &Scanned,
    keys: &[&'k SeriesKey],
    max_group: usize,
) -> Vec<Vec<&'k SeriesKey>> {
    let mut in_file_order = keys.to_vec();
    in_file_order.sort_by_key(|key| scanned.series[*key].batches.first().copied());
    let small = LOCAL_BATCH.min(max_group);
    let batch_reads: usize = in_file_order
        .chunks(small)
        .map(|group| batches_of(group, scanned).len())
        .sum();
    // Groups of series kept together read their own stretch of the file, sharing at most a
    // batch at each end with their neighbours.
    let groups = in_file_order.len().div_ceil(small);
    if batch_reads <= scanned.places.len() + 2 * groups {
        in_file_order.chunks(small).map(<[_]>::to_vec).collect()
    } else {
        keys.chunks(max_group).map(<[_]>::to_vec).collect()
    }
}

/// The batches the series of `keys` have rows in, each once, ascending.
fn batches_of(keys: &[&SeriesKey], scanned: &Scanned) -> Vec<u32> {
    scan::batches_of(
        keys.iter()
            .map(|key| scanned.series[*key].batches.as_slice()),
    )
}
