//! The rows of one batch, checked against the schema and converted: every rule of the
//! [module docs](super) that one row can break is found here, with its column and row number.

use chrono::DateTime;
use polars::prelude::*;

use super::SeriesName;

const REQUIRED_COLUMNS: [&str; 4] = ["timestamp", "partner", "api", "requests"];
const OPTIONAL_COLUMNS: [&str; 4] = [
    "cache_hits",
    "cache_total",
    "cache_hit_ratio",
    "rejected_share",
];

/// The last second of year 9999: integer timestamps beyond it are taken for milliseconds.
const MAX_UNIX_SECONDS: i64 = 253_402_300_799;

/// Which cache columns a file has (the same in every batch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CacheKind {
    None,
    Counts,
    Ratio,
}

/// A batch's columns, checked against the schema.
pub(super) struct FileColumns<'a> {
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

/// One checked row, borrowing its texts from the batch.
#[derive(Debug, Clone, Copy)]
pub(super) struct Row<'a> {
    /// 1-based data row number, for messages.
    pub(super) row: usize,
    pub(super) partner: &'a str,
    pub(super) api: &'a str,
    pub(super) time_ms: i64,
    pub(super) requests: f64,
    pub(super) cache: RowCache,
    /// From the `rejected_share` column.
    pub(super) rejected: Option<f64>,
}

#[derive(Debug, Clone, Copy)]
pub(super) enum RowCache {
    None,
    Counts(f64, f64),
    Ratio(f64),
}

impl<'a> FileColumns<'a> {
    pub(super) fn of(frame: &'a DataFrame) -> Result<Self, String> {
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
        Ok(Self {
            timestamp: frame.column("timestamp").map_err(|e| e.to_string())?,
            partner: frame.column("partner").map_err(|e| e.to_string())?,
            api: frame.column("api").map_err(|e| e.to_string())?,
            requests: frame.column("requests").map_err(|e| e.to_string())?,
            cache,
            rejected: column("rejected_share"),
        })
    }

    pub(super) fn cache_kind(&self) -> CacheKind {
        match self.cache {
            CacheColumns::None => CacheKind::None,
            CacheColumns::Counts { .. } => CacheKind::Counts,
            CacheColumns::Ratio(_) => CacheKind::Ratio,
        }
    }

    /// Every row of the batch, converted and checked, in file order; `first_row` is the number
    /// of the batch's first row in the file.
    pub(super) fn each_row(
        &self,
        first_row: usize,
        each: &mut dyn FnMut(Row<'_>) -> Result<(), String>,
    ) -> Result<(), String> {
        let timestamps = timestamps_ms(self.timestamp, first_row)?;
        let partners = text(self.partner, "partner")?;
        let apis = text(self.api, "api")?;
        let requests = numbers(self.requests, "requests", first_row)?;
        let cache = match self.cache {
            CacheColumns::None => None,
            CacheColumns::Counts { hits, total } => Some((
                numbers(hits, "cache_hits", first_row)?,
                Some(numbers(total, "cache_total", first_row)?),
            )),
            CacheColumns::Ratio(ratio) => {
                Some((numbers(ratio, "cache_hit_ratio", first_row)?, None))
            }
        };
        let rejected = self
            .rejected
            .map(|column| numbers(column, "rejected_share", first_row))
            .transpose()?;

        for (i, (partner, api)) in partners.iter().zip(apis.iter()).enumerate() {
            let row = first_row + i;
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
            each(Row {
                row,
                partner,
                api,
                time_ms: timestamps[i],
                requests,
                cache,
                rejected,
            })?;
        }
        Ok(())
    }
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
fn timestamps_ms(column: &Column, first_row: usize) -> Result<Vec<i64>, String> {
    let empty = |i: usize| format!("column `timestamp`, row {}: empty value", first_row + i);
    match column.dtype() {
        DataType::String => {
            let texts = column.str().map_err(|e| e.to_string())?;
            texts
                .iter()
                .enumerate()
                .map(|(i, text)| {
                    let text = text.map(str::trim).filter(|t| !t.is_empty());
                    parse_timestamp(text.ok_or_else(|| empty(i))?)
                        .map_err(|why| format!("column `timestamp`, row {}: {why}", first_row + i))
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
                        .map_err(|why| format!("column `timestamp`, row {}: {why}", first_row + i))
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
fn numbers(column: &Column, name: &str, first_row: usize) -> Result<Vec<Option<f64>>, String> {
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
                            format!(
                                "column `{name}`, row {}: `{text}` is not a number",
                                first_row + i
                            )
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
