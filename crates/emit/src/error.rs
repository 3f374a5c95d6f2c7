use std::io;
use std::path::PathBuf;

use trendmaster_types::SeriesKey;

use crate::kube_rules::KubeProblem;
use crate::ratelimit::LoaderError;

/// Everything that can stop the emit stage. Each message is one line and names the series, key
/// or file concerned.
#[derive(Debug, thiserror::Error)]
pub enum EmitError {
    /// A limit too large for the service's `uint32` `requests_per_unit` in the configured unit.
    #[error(
        "limit for {series} is {requests_per_unit} requests per {unit}, above the ratelimit \
         service's maximum of 4294967295; choose a shorter unit"
    )]
    LimitTooLarge {
        /// The series whose limit overflowed.
        series: SeriesKey,
        /// The limit expressed in `unit`.
        requests_per_unit: u128,
        /// The configured unit, e.g. `day`.
        unit: &'static str,
    },

    /// The local rate-limit EnvoyFilter cannot be built: a bucket too large for Envoy, or a
    /// name or label the API server would reject.
    #[error("EnvoyFilter (COMMON.LOCAL_RATELIMIT): {reason}")]
    EnvoyFilter {
        /// Every problem found, joined with `; `.
        reason: String,
    },

    /// The deployed configuration cannot be read or does not hold a ratelimit config.
    #[error("deployed configuration {origin}: {reason}")]
    Deployed {
        /// Where it was read from, as the caller names it.
        origin: String,
        /// What is wrong with it, on one line.
        reason: String,
    },

    /// The Prometheus rules (`COMMON.ALERTS`) cannot be built.
    #[error("Prometheus rules (COMMON.ALERTS): {reason}")]
    Rules {
        /// What is wrong, on one line.
        reason: String,
    },

    /// Two recommendations for one series, which would give two descriptors with one key.
    #[error("two recommendations for {series}; each partner × API may appear only once")]
    DuplicateSeries {
        /// The series given twice.
        series: SeriesKey,
    },

    /// Generation info with a control character, which would break out of the header comment.
    #[error(
        "{field} {value:?} cannot go into the generated-file header: it contains a line break \
         or another control character"
    )]
    UnsafeHeaderText {
        /// Which field: `tool version`, `environment` or `source`.
        field: &'static str,
        /// Its value.
        value: String,
    },

    /// The ConfigMap would be refused by the ratelimit loader (or trendmaster's stricter checks)
    /// or by the API server; lists every problem.
    #[error(
        "ConfigMap {namespace}/{name} (data key {data_key}) would be rejected: {}",
        list_problems(ratelimit, kube)
    )]
    Rejected {
        /// The ConfigMap's namespace.
        namespace: String,
        /// The ConfigMap's name.
        name: String,
        /// The data key holding the ratelimit file.
        data_key: String,
        /// Problems with the ratelimit file.
        ratelimit: Vec<LoaderError>,
        /// Problems with the Kubernetes object.
        kube: Vec<KubeProblem>,
    },

    /// serde_yaml refused to serialise an output object.
    #[error("cannot serialise {what} to YAML: {source}")]
    Serialize {
        /// The object, e.g. `EnvoyFilter`.
        what: String,
        /// serde_yaml's error.
        source: serde_yaml::Error,
    },

    /// An environment or timestamp that cannot be part of an output file name.
    #[error("invalid {what} {value:?} for an output file name: {reason}")]
    InvalidFileName {
        /// `environment` or `timestamp`.
        what: &'static str,
        /// The value refused.
        value: String,
        /// The rule it breaks.
        reason: &'static str,
    },

    /// An output directory cannot be created.
    #[error("cannot create directory {}: {source}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },

    /// `--gitops-dir` holds a file under one of trendmaster's fixed names that trendmaster did
    /// not write; nothing was written.
    #[error(
        "{} was not written by trendmaster; give --gitops-dir a directory of its own (or remove \
         the file)",
        path.display()
    )]
    NotOurs {
        /// The file.
        path: PathBuf,
    },

    /// An output file cannot be written; the previous file, if any, is left as it was.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
}

fn list_problems(ratelimit: &[LoaderError], kube: &[KubeProblem]) -> String {
    let ratelimit = ratelimit.iter().map(ToString::to_string);
    let kube = kube.iter().map(ToString::to_string);
    ratelimit.chain(kube).collect::<Vec<_>>().join("; ")
}
