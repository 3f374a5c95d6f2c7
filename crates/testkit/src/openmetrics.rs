//! Series as Prometheus counters, written as OpenMetrics text for `promtool` to backfill.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use trendmaster_types::FetchedSeries;

/// `promtool` cuts blocks at multiples of two hours since the epoch; one file per block.
pub(crate) const BLOCK_MILLIS: i64 = 2 * 3600 * 1000;

/// Which real-world metric the series are exposed as, matching a query preset of
/// `COMMON.PROMETHEUS_CONFIG.presets` in `config/config.yaml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricShape {
    /// `service_nginx_request_time_s_count{partner, path}`. A series with a cache hit ratio `r`
    /// becomes two: `cache_status="HIT"` with `r` of the requests and `cache_status="MISS"` with
    /// the rest; one without becomes a single series without a `cache_status` label.
    Nginx,
    /// `istio_requests_total{partner, request_path, reporter="destination"}`, plus an identical
    /// `reporter="source"` series that the preset's selector must leave out. A series with a
    /// rejected share `r` becomes `response_code="429"` with `r` of the requests and
    /// `response_code="200"` with the rest (the traffic counts both, as Istio's does).
    Istio,
}

impl MetricShape {
    /// The metric name, also the OpenMetrics family and sample name.
    pub fn metric(self) -> &'static str {
        match self {
            Self::Nginx => "service_nginx_request_time_s_count",
            Self::Istio => "istio_requests_total",
        }
    }

    /// One `(label set, share of the requests)` per Prometheus series that `fetched` becomes.
    fn tracks(self, fetched: &FetchedSeries) -> Vec<(String, f64)> {
        let key = &fetched.series.key;
        let partner = escape(&key.partner);
        let api = escape(&key.api);
        match self {
            Self::Nginx => match fetched.cache_hit_ratio {
                Some(ratio) => vec![
                    (
                        format!(r#"{{partner="{partner}",path="{api}",cache_status="HIT"}}"#),
                        ratio,
                    ),
                    (
                        format!(r#"{{partner="{partner}",path="{api}",cache_status="MISS"}}"#),
                        1.0 - ratio,
                    ),
                ],
                None => vec![(format!(r#"{{partner="{partner}",path="{api}"}}"#), 1.0)],
            },
            Self::Istio => ["destination", "source"]
                .into_iter()
                .flat_map(|reporter| {
                    let labels = format!(
                        r#"partner="{partner}",request_path="{api}",reporter="{reporter}""#
                    );
                    match fetched.rejected_share {
                        None => vec![(format!("{{{labels}}}"), 1.0)],
                        Some(rejected) => vec![
                            (
                                format!(r#"{{{labels},response_code="200"}}"#),
                                1.0 - rejected,
                            ),
                            (format!(r#"{{{labels},response_code="429"}}"#), rejected),
                        ],
                    }
                })
                .collect(),
        }
    }
}

/// Writes `series` as cumulative counters in OpenMetrics text, one file per two-hour block,
/// and returns the files in time order (blocks without samples get no file).
///
/// The convention, which makes `increase(metric[<step>])` return the grid values:
///
/// - Grid point `i` at time `t_i` with value `v` (requests per minute) and step `s` seconds
///   stands for the interval `[t_i, t_i + s)`: it adds `v · s / 60` requests to the counter,
///   spread evenly over four samples at `t_i + s/4`, `t_i + s/2`, `t_i + 3s/4` and `t_i + s`
///   (each adds a quarter).
/// - A NaN point emits no samples in its interval: a scrape gap.
/// - Every series starts with a sample of 0 at the window start `t_0`. Values are cumulative
///   floats and never reset.
///
/// So `increase(metric[<s>])` evaluated at `t_i + s` returns `v · s / 60`: on Prometheus 2.x
/// (closed range) as the difference of the samples at `t_i` and `t_i + s`; after a gap, and on
/// 3.x (left-open range), from the four samples of the interval, extrapolated to its start by
/// exactly the missing quarter. At a gap point it returns nothing (at most one sample).
///
/// Why one file per block: `promtool tsdb create-blocks-from openmetrics` re-reads the whole
/// input for every two-hour block it cuts, so one big file costs blocks × file size (over 20 min
/// for 1,000 series × 14 days, against about 2 min split). Grid values must be finite and
/// non-negative, or NaN; timestamps are written in seconds with millisecond precision.
pub fn write_openmetrics(
    series: &[FetchedSeries],
    shape: MetricShape,
    dir: &Path,
) -> io::Result<Vec<PathBuf>> {
    let mut blocks = BlockFiles::new(series, shape)?;
    let mut paths = Vec::new();
    while let Some(path) = blocks.write_next(dir)? {
        paths.push(path);
    }
    Ok(paths)
}

/// The files of [`write_openmetrics`], written one at a time so that a caller can backfill and
/// delete each before the next exists (14 days of 36 series are about half a gigabyte of text).
pub(crate) struct BlockFiles<'a> {
    metric: &'static str,
    counters: Vec<Counter<'a>>,
}

impl<'a> BlockFiles<'a> {
    pub(crate) fn new(series: &'a [FetchedSeries], shape: MetricShape) -> io::Result<Self> {
        let mut counters = Vec::new();
        for fetched in series {
            let values = &fetched.series.values;
            if let Some(bad) = values.iter().find(|v| **v < 0.0 || v.is_infinite()) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "{}: {bad} cannot be a counter increment (finite, >= 0 or NaN)",
                        fetched.series.key
                    ),
                ));
            }
            let window = &fetched.series.window;
            let step_millis = i64::from(window.step_secs) * 1000;
            for (labels, share) in shape.tracks(fetched) {
                counters.push(Counter {
                    labels,
                    values,
                    requests_per_value: f64::from(window.step_secs) / 60.0 * share,
                    start_millis: window.start.timestamp_millis(),
                    step_millis,
                    initial_pending: true,
                    index: 0,
                    quarter: 1,
                    total: 0.0,
                });
            }
        }
        Ok(Self {
            metric: shape.metric(),
            counters,
        })
    }

    /// Writes the next block that has samples into `dir`; `None` when all are written.
    pub(crate) fn write_next(&mut self, dir: &Path) -> io::Result<Option<PathBuf>> {
        let Some(first) = self.counters.iter_mut().filter_map(Counter::peek).min() else {
            return Ok(None);
        };
        let block_start = first.div_euclid(BLOCK_MILLIS) * BLOCK_MILLIS;
        let block_end = block_start + BLOCK_MILLIS;
        let path = dir.join(format!("block-{}.om.txt", block_start.div_euclid(1000)));
        let mut out = BufWriter::with_capacity(1 << 20, File::create(&path)?);
        writeln!(out, "# TYPE {} unknown", self.metric)?;
        for counter in &mut self.counters {
            while let Some((millis, value)) = counter.next_before(block_end) {
                write!(out, "{}{} {value} ", self.metric, counter.labels)?;
                write_seconds(&mut out, millis)?;
                out.write_all(b"\n")?;
            }
        }
        out.write_all(b"# EOF\n")?;
        out.flush()?;
        Ok(Some(path))
    }
}

/// One Prometheus series being written: its labels and where its sample stream stands.
struct Counter<'a> {
    /// `{name="value",...}`, escaped.
    labels: String,
    values: &'a [f64],
    /// Requests that one unit of grid value adds to this counter over one step.
    requests_per_value: f64,
    start_millis: i64,
    step_millis: i64,
    initial_pending: bool,
    /// Next grid point to emit, and which of its quarters (1..=4).
    index: usize,
    quarter: u8,
    /// Counter value at the start of grid point `index`.
    total: f64,
}

impl Counter<'_> {
    /// Timestamp of the next sample, skipping gaps.
    fn peek(&mut self) -> Option<i64> {
        if self.initial_pending {
            return Some(self.start_millis);
        }
        while self.values.get(self.index)?.is_nan() {
            self.index += 1;
        }
        Some(
            self.start_millis
                + self.index as i64 * self.step_millis
                + i64::from(self.quarter) * self.step_millis / 4,
        )
    }

    /// The next sample, if it is earlier than `end_millis`.
    fn next_before(&mut self, end_millis: i64) -> Option<(i64, f64)> {
        let millis = self.peek().filter(|&t| t < end_millis)?;
        if self.initial_pending {
            self.initial_pending = false;
            return Some((millis, 0.0));
        }
        let increment = self.values[self.index] * self.requests_per_value;
        let value = if self.quarter == 4 {
            self.total += increment;
            self.index += 1;
            self.quarter = 1;
            self.total
        } else {
            let value = self.total + increment * f64::from(self.quarter) / 4.0;
            self.quarter += 1;
            value
        };
        Some((millis, value))
    }
}

/// Unix seconds, with a fraction only when there are milliseconds.
fn write_seconds(out: &mut impl Write, millis: i64) -> io::Result<()> {
    let (seconds, fraction) = (millis.div_euclid(1000), millis.rem_euclid(1000));
    if fraction == 0 {
        write!(out, "{seconds}")
    } else {
        write!(out, "{seconds}.{fraction:03}")
    }
}

/// A label value as OpenMetrics quotes it.
fn escape(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str(r"\\"),
            '"' => escaped.push_str(r#"\""#),
            '\n' => escaped.push_str(r"\n"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, TimeDelta, Utc};
    use trendmaster_types::{AnalysisWindow, SeriesKey, TrafficSeries};

    fn fetched(key: SeriesKey, start: &str, values: Vec<f64>, ratio: Option<f64>) -> FetchedSeries {
        let start = DateTime::parse_from_rfc3339(start)
            .unwrap()
            .with_timezone(&Utc);
        let window = AnalysisWindow {
            start,
            end: start + TimeDelta::seconds(60 * values.len() as i64),
            step_secs: 60,
        };
        FetchedSeries {
            series: TrafficSeries {
                key,
                window,
                values,
            },
            cache_hit_ratio: ratio,
            labelled_anomalies: Vec::new(),
            rejected_share: None,
            labelled_bursts: Vec::new(),
        }
    }

    fn read(paths: &[PathBuf]) -> Vec<String> {
        paths
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect()
    }

    #[test]
    fn nginx_counters_split_by_cache_status_and_cut_at_two_hour_blocks() {
        // 2026-11-15T00:00:00Z is 1_794_700_800, a multiple of two hours.
        let series = [
            fetched(
                SeriesKey::new("111", "/a"),
                "2026-11-14T23:58:00Z",
                vec![8.0, f64::NAN, 4.0],
                Some(0.25),
            ),
            fetched(
                SeriesKey::new("2\"2", "/b\\"),
                "2026-11-14T23:59:00Z",
                vec![2.0],
                None,
            ),
        ];
        let dir = tempfile::tempdir().unwrap();
        let paths = write_openmetrics(&series, MetricShape::Nginx, dir.path()).unwrap();
        let names: Vec<_> = paths.iter().map(|p| p.file_name().unwrap()).collect();
        assert_eq!(
            names,
            ["block-1794693600.om.txt", "block-1794700800.om.txt"]
        );

        let m = "service_nginx_request_time_s_count";
        let hit = r#"{partner="111",path="/a",cache_status="HIT"}"#;
        let miss = r#"{partner="111",path="/a",cache_status="MISS"}"#;
        let other = r#"{partner="2\"2",path="/b\\"}"#;
        let before = format!(
            "# TYPE {m} unknown\n\
             {m}{hit} 0 1794700680\n\
             {m}{hit} 0.5 1794700695\n{m}{hit} 1 1794700710\n\
             {m}{hit} 1.5 1794700725\n{m}{hit} 2 1794700740\n\
             {m}{miss} 0 1794700680\n\
             {m}{miss} 1.5 1794700695\n{m}{miss} 3 1794700710\n\
             {m}{miss} 4.5 1794700725\n{m}{miss} 6 1794700740\n\
             {m}{other} 0 1794700740\n\
             {m}{other} 0.5 1794700755\n{m}{other} 1 1794700770\n\
             {m}{other} 1.5 1794700785\n\
             # EOF\n"
        );
        // The gap at 23:59 leaves no samples; the last point ends exactly on the boundary.
        let after = format!(
            "# TYPE {m} unknown\n\
             {m}{hit} 2.25 1794700815\n{m}{hit} 2.5 1794700830\n\
             {m}{hit} 2.75 1794700845\n{m}{hit} 3 1794700860\n\
             {m}{miss} 6.75 1794700815\n{m}{miss} 7.5 1794700830\n\
             {m}{miss} 8.25 1794700845\n{m}{miss} 9 1794700860\n\
             {m}{other} 2 1794700800\n\
             # EOF\n"
        );
        assert_eq!(read(&paths), [before, after]);
    }

    #[test]
    fn istio_counters_come_from_both_reporters_at_quarter_seconds() {
        let mut one = fetched(
            SeriesKey::new("111", "/a"),
            "2026-11-15T00:00:00Z",
            vec![60.0],
            Some(0.5),
        );
        one.series.window.step_secs = 1;
        let dir = tempfile::tempdir().unwrap();
        let paths = write_openmetrics(&[one], MetricShape::Istio, dir.path()).unwrap();
        let m = "istio_requests_total";
        let labels =
            |reporter| format!(r#"{{partner="111",request_path="/a",reporter="{reporter}"}}"#);
        let samples = |reporter| {
            let l = labels(reporter);
            format!(
                "{m}{l} 0 1794700800\n{m}{l} 0.25 1794700800.250\n{m}{l} 0.5 1794700800.500\n\
                 {m}{l} 0.75 1794700800.750\n{m}{l} 1 1794700801\n"
            )
        };
        let expected = format!(
            "# TYPE {m} unknown\n{}{}# EOF\n",
            samples("destination"),
            samples("source")
        );
        assert_eq!(read(&paths), [expected]);
    }

    #[test]
    fn istio_rejected_requests_are_a_429_share_of_each_reporter() {
        let mut one = fetched(
            SeriesKey::new("111", "/a"),
            "2026-11-15T00:00:00Z",
            vec![60.0],
            None,
        );
        one.rejected_share = Some(0.25);
        let labels = |reporter, code| {
            format!(
                r#"{{partner="111",request_path="/a",reporter="{reporter}",response_code="{code}"}}"#
            )
        };
        assert_eq!(
            MetricShape::Istio.tracks(&one),
            [
                (labels("destination", "200"), 0.75),
                (labels("destination", "429"), 0.25),
                (labels("source", "200"), 0.75),
                (labels("source", "429"), 0.25),
            ]
        );
    }

    #[test]
    fn negative_or_infinite_values_are_refused_and_empty_input_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        for bad in [-1.0, f64::INFINITY] {
            let series = fetched(
                SeriesKey::new("1", "/x"),
                "2026-11-15T00:00:00Z",
                vec![bad],
                None,
            );
            let err = write_openmetrics(&[series], MetricShape::Nginx, dir.path()).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
            assert!(err.to_string().contains("1:/x"), "{err}");
        }
        let none = write_openmetrics(&[], MetricShape::Nginx, dir.path()).unwrap();
        assert!(none.is_empty());
    }
}
