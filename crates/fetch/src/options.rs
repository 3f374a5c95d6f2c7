//! How to fetch, beyond what is fetched: the demo seed, where Prometheus is, how to read a file,
//! the response cache.

use std::path::PathBuf;
use trendmaster_types::Secret;
use trendmaster_types::settings::PrometheusSettings;

/// How to fetch, beyond what is fetched.
#[derive(Debug, Clone, Default)]
pub struct FetchOptions {
    /// Seed of the demo traffic simulator; the same seed and window give the same traffic.
    pub demo_seed: u64,
    /// Where Prometheus is and how to talk to it.
    pub prometheus: PrometheusOptions,
    /// How to read a traffic file.
    pub file: FileOptions,
    /// Directory of cached Prometheus responses (`--cache-dir`); `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
    /// Answer from the response cache only; a miss is an error (`--offline`).
    pub offline: bool,
    /// Draw a progress bar on stderr (the caller decides: only when stderr is a terminal).
    pub progress: bool,
}

/// Where Prometheus is and how to talk to it.
#[derive(Debug, Clone, Default)]
pub struct PrometheusOptions {
    /// Base URL, e.g. `http://prometheus:9090` or a Trickster origin URL.
    pub url: String,
    /// Bearer token (already resolved from `PROMETHEUS_TOKEN`, the config or the token file).
    pub token: Option<Secret>,
    /// Headers from `-H 'K: V'`, added after (and winning over) the configured ones.
    pub extra_headers: Vec<(String, String)>,
    /// `None` only in tests of other sources; the Prometheus source requires it.
    pub settings: Option<PrometheusSettings>,
}

/// How to read a traffic file.
#[derive(Debug, Clone, Default)]
pub struct FileOptions {
    /// The grid step; inferred from the timestamps when `None`.
    pub step_secs: Option<u32>,
    /// Add up rows that land in the same partner × API × grid bucket instead of rejecting them.
    pub sum_duplicates: bool,
}
