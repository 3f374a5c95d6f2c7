use std::io;
use std::path::PathBuf;

use trendmaster_types::SeriesKey;

use crate::kube_rules::KubeProblem;
use crate::ratelimit::LoaderError;

/// Everything that can stop the emit stage. Each message is one line and names the series, key
/// or file concerned.
#[derive(Debug, thiserror::Error)]
pub enum EmitError {
    #[error(
        "limit for {series} is {requests_per_unit} requests per {unit}, above the ratelimit \
         service's maximum of 4294967295; choose a shorter unit"
    )]
    LimitTooLarge {
        series: SeriesKey,
        requests_per_unit: u128,
        unit: &'static str,
    },

    #[error("backtest chart: {reason}")]
    BacktestChart { reason: String },

    #[error("chart of {series}: {reason}")]
    Chart { series: SeriesKey, reason: String },

    #[error("EnvoyFilter (COMMON.LOCAL_RATELIMIT): {reason}")]
    EnvoyFilter { reason: String },

    #[error("deployed configuration {origin}: {reason}")]
    Deployed { origin: String, reason: String },

    #[error("two recommendations for {series}; each partner × API may appear only once")]
    DuplicateSeries { series: SeriesKey },

    #[error(
        "{field} {value:?} cannot go into the generated-file header: it contains a line break \
         or another control character"
    )]
    UnsafeHeaderText { field: &'static str, value: String },

    #[error(
        "ConfigMap {namespace}/{name} (data key {data_key}) would be rejected: {}",
        list_problems(ratelimit, kube)
    )]
    Rejected {
        namespace: String,
        name: String,
        data_key: String,
        ratelimit: Vec<LoaderError>,
        kube: Vec<KubeProblem>,
    },

    #[error("cannot serialise {what} to YAML: {source}")]
    Serialize {
        what: String,
        source: serde_yaml::Error,
    },

    #[error("invalid {what} {value:?} for an output file name: {reason}")]
    InvalidFileName {
        what: &'static str,
        value: String,
        reason: &'static str,
    },

    #[error("cannot create directory {}: {source}", path.display())]
    CreateDir { path: PathBuf, source: io::Error },

    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
}

fn list_problems(ratelimit: &[LoaderError], kube: &[KubeProblem]) -> String {
    let ratelimit = ratelimit.iter().map(ToString::to_string);
    let kube = kube.iter().map(ToString::to_string);
    ratelimit.chain(kube).collect::<Vec<_>>().join("; ")
}
