//! What is measured: one partner × API request-rate series on a regular time grid.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// One rate-limited thing: a partner calling an API path. Ordered by partner, then API, which is
/// the order of every table and ConfigMap we emit.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SeriesKey {
    /// Partner id, e.g. `111`.
    pub partner: String,
    /// API path, e.g. `/api_v3/service/multirequest`.
    pub api: String,
}

impl SeriesKey {
    /// The key of `partner` calling `api`.
    pub fn new(partner: impl Into<String>, api: impl Into<String>) -> Self {
        Self {
            partner: partner.into(),
            api: api.into(),
        }
    }
}

impl fmt::Display for SeriesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.partner, self.api)
    }
}

/// The half-open time range `[start, end)` that is analysed, sampled every `step_secs`.
///
/// `start` and `end` are multiples of the step since the Unix epoch, so that the same `--as-of`
/// always gives the same grid (and, with Prometheus, the same cacheable queries).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnalysisWindow {
    /// First grid point.
    pub start: DateTime<Utc>,
    /// Exclusive end.
    pub end: DateTime<Utc>,
    /// Grid step in seconds.
    pub step_secs: u32,
}

impl AnalysisWindow {
    /// The window of `days` days ending at `as_of` rounded down to the step.
    pub fn ending_at(as_of: DateTime<Utc>, days: u32, step_secs: u32) -> Self {
        let step = i64::from(step_secs.max(1));
        let end_secs = as_of.timestamp().div_euclid(step) * step;
        let end = DateTime::from_timestamp(end_secs, 0).unwrap_or(as_of);
        let start = end - TimeDelta::days(i64::from(days));
        Self {
            start,
            end,
            step_secs: step_secs.max(1),
        }
    }

    /// Number of grid points in the window.
    pub fn len(&self) -> usize {
        let secs = (self.end - self.start).num_seconds().max(0);
        (secs / i64::from(self.step_secs)) as usize
    }

    /// Whether the window holds no grid point.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Timestamp of grid point `index`.
    pub fn timestamp(&self, index: usize) -> DateTime<Utc> {
        self.start + TimeDelta::seconds(index as i64 * i64::from(self.step_secs))
    }

    /// Grid points per day (1,440 for one-minute data).
    pub fn points_per_day(&self) -> usize {
        (86_400 / self.step_secs.max(1)) as usize
    }
}

/// Requests per minute for one [`SeriesKey`], one value per grid point of `window`.
///
/// A missing sample (a scrape gap) is `f64::NAN`, never zero: zero means "no requests".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrafficSeries {
    /// What was measured.
    pub key: SeriesKey,
    /// The grid the values lie on.
    pub window: AnalysisWindow,
    /// Requests per minute, one per grid point; NaN for a gap.
    pub values: Vec<f64>,
}

impl TrafficSeries {
    /// Number of grid points that carry a sample.
    pub fn present_count(&self) -> usize {
        self.values.iter().filter(|v| !v.is_nan()).count()
    }

    /// `(timestamp, value)` for every grid point, gaps included as NaN.
    pub fn points(&self) -> impl Iterator<Item = (DateTime<Utc>, f64)> + '_ {
        self.values
            .iter()
            .enumerate()
            .map(|(i, v)| (self.window.timestamp(i), *v))
    }
}

/// The kind of an anomaly event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnomalyKind {
    /// A short burst above the normal level (a bot, a retry storm).
    Spike,
    /// A sustained rise above the normal level (a campaign, a migration).
    Surge,
    /// A fall towards zero (an outage upstream or at the partner).
    Drop,
    /// No data at all (scrape gaps). Never counted as traffic.
    Gap,
}

impl AnomalyKind {
    /// The configuration and report spelling: `spike`, `surge`, `drop`, `gap`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Spike => "spike",
            Self::Surge => "surge",
            Self::Drop => "drop",
            Self::Gap => "gap",
        }
    }
}

/// An anomaly that a source knows it put there (the demo simulator labels its injections). Used
/// by tests and the report to check the analysis against ground truth; real sources leave it empty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelledAnomaly {
    /// What was injected.
    pub kind: AnomalyKind,
    /// First grid index affected.
    pub start_index: usize,
    /// Number of grid points affected.
    pub len: usize,
}

/// A series as delivered by a data source, with what the source knows around it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FetchedSeries {
    /// The traffic itself.
    pub series: TrafficSeries,
    /// Measured share of requests served from cache (0..=1), when the source knows it.
    pub cache_hit_ratio: Option<f64>,
    /// Share of requests rejected with HTTP 429 over the window (0..=1), when the source knows
    /// it (the preset's `rejected_query`).
    #[serde(default)]
    pub rejected_share: Option<f64>,
    /// Ground-truth anomalies (demo data only).
    pub labelled_anomalies: Vec<LabelledAnomaly>,
    /// Ground-truth legitimate bursts (demo data only): recurring demand that a limit must
    /// clear, unlike the anomalies.
    #[serde(default)]
    pub labelled_bursts: Vec<LabelledBurst>,
}

/// A legitimate burst the demo simulator put into a series (a partner's batch job, a push
/// notification herd, a weekly campaign): demand, not an anomaly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelledBurst {
    /// What caused it, e.g. `batch job`.
    pub cause: String,
    /// First grid index affected.
    pub start_index: usize,
    /// Number of grid points affected.
    pub len: usize,
}

/// Where traffic comes from: `demo`, `prometheus` or `file:PATH`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum SourceKind {
    /// The built-in deterministic traffic simulator.
    Demo,
    /// A Prometheus (or Trickster) HTTP API.
    Prometheus,
    /// A CSV or Parquet file.
    File(PathBuf),
}

impl FromStr for SourceKind {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim() {
            "demo" => Ok(Self::Demo),
            "prometheus" | "trickster" => Ok(Self::Prometheus),
            other => match other.strip_prefix("file:") {
                Some(path) if !path.is_empty() => Ok(Self::File(PathBuf::from(path))),
                _ => Err(format!(
                    "unknown data source `{other}` (expected demo, prometheus or file:PATH)"
                )),
            },
        }
    }
}

impl TryFrom<String> for SourceKind {
    type Error = String;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<SourceKind> for String {
    fn from(kind: SourceKind) -> Self {
        kind.to_string()
    }
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Demo => f.write_str("demo"),
            Self::Prometheus => f.write_str("prometheus"),
            Self::File(path) => write!(f, "file:{}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_is_aligned_to_the_step_and_has_whole_days() {
        let as_of = DateTime::parse_from_rfc3339("2026-11-15T12:34:56Z")
            .unwrap()
            .with_timezone(&Utc);
        let window = AnalysisWindow::ending_at(as_of, 14, 60);
        assert_eq!(window.end.to_rfc3339(), "2026-11-15T12:34:00+00:00");
        assert_eq!(window.len(), 14 * 1440);
        assert_eq!(window.points_per_day(), 1440);
        assert_eq!(window.timestamp(1), window.start + TimeDelta::seconds(60));

        let five_minute = AnalysisWindow::ending_at(as_of, 1, 300);
        assert_eq!(five_minute.end.to_rfc3339(), "2026-11-15T12:30:00+00:00");
        assert_eq!(five_minute.len(), 288);
    }

    #[test]
    fn source_kind_round_trips_and_rejects_unknown_names() {
        for text in ["demo", "prometheus", "file:data/traffic.csv"] {
            let kind: SourceKind = text.parse().unwrap();
            assert_eq!(kind.to_string(), text);
        }
        assert_eq!(
            "trickster".parse::<SourceKind>(),
            Ok(SourceKind::Prometheus)
        );
        assert!("file:".parse::<SourceKind>().is_err());
        let err = "influx".parse::<SourceKind>().unwrap_err();
        assert!(err.contains("influx"), "{err}");
    }

    #[test]
    fn series_key_orders_by_partner_then_api() {
        let mut keys = [
            SeriesKey::new("222", "/a"),
            SeriesKey::new("111", "/b"),
            SeriesKey::new("111", "/a"),
        ];
        keys.sort();
        let shown: Vec<String> = keys.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["111:/a", "111:/b", "222:/a"]);
    }
}
