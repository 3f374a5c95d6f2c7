//! What a fetch delivers besides the series: the series that failed, and what it cost.

use serde::{Deserialize, Serialize};
use trendmaster_types::{FetchedSeries, SeriesKey};

/// A series that could not be fetched, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeriesFailure {
    /// The series.
    pub key: SeriesKey,
    /// Why, for the report.
    pub reason: String,
}

/// What a fetch cost; printed as the closing summary line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FetchStats {
    /// HTTP requests sent (retries included).
    pub queries: usize,
    /// Of those, repeats of a failed attempt.
    pub retries: usize,
    /// Response bytes received (or read from the response cache).
    pub bytes: u64,
    /// Queries answered from the response cache.
    pub cache_hits: usize,
    /// Series delivered.
    pub series: usize,
    /// Grid points without a sample, over all delivered series.
    pub missing_points: usize,
    /// Milliseconds spent waiting for answers (sending, Prometheus working, reading the body),
    /// summed over the concurrent queries.
    pub request_millis: u64,
    /// Milliseconds spent parsing answers, summed over the concurrent queries.
    pub parse_millis: u64,
}

impl std::ops::AddAssign for FetchStats {
    /// The cost of two fetches together (batches of one run, or the shards of a fleet).
    fn add_assign(&mut self, other: Self) {
        self.queries += other.queries;
        self.retries += other.retries;
        self.bytes += other.bytes;
        self.cache_hits += other.cache_hits;
        self.series += other.series;
        self.missing_points += other.missing_points;
        self.request_millis += other.request_millis;
        self.parse_millis += other.parse_millis;
    }
}

/// The fetched series (in the order of the requested keys, failures left out), the failures,
/// and what it cost.
#[derive(Debug, Clone, Default)]
pub struct FetchReport {
    /// The series fetched.
    pub series: Vec<FetchedSeries>,
    /// The series that could not be.
    pub failures: Vec<SeriesFailure>,
    /// What it cost.
    pub stats: FetchStats,
}

impl FetchReport {
    /// Fills in the series count and missing points from `series`.
    pub(crate) fn counted(mut self) -> Self {
        self.stats.series = self.series.len();
        self.stats.missing_points = self
            .series
            .iter()
            .map(|s| s.series.values.len() - s.series.present_count())
            .sum();
        self
    }
}
