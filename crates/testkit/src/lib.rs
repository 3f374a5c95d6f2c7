//! Dev-only test support: a real Prometheus server on 127.0.0.1 holding backfilled history, so
//! that integration tests query the real PromQL engine instead of a mock.
//!
//! [`PrometheusServer::start`] turns [`FetchedSeries`](trendmaster_types::FetchedSeries) (requests
//! per minute on a grid) into counters shaped like one of the query presets of
//! `config/config.yaml` ([`MetricShape`]), backfills them with `promtool tsdb
//! create-blocks-from openmetrics` and starts `prometheus` on a free port. The counters follow a
//! convention (see [`write_openmetrics`]) under which the presets' `increase(metric[<step>])`
//! gives back the grid values exactly and gaps stay gaps. The server stops when dropped.
//!
//! `prometheus` and `promtool` (2.x) must be on PATH: `scripts/install-test-deps.sh` installs
//! them. When they are missing, `start` fails with a message saying so; tests should fail, not
//! skip.
//!
//! ```no_run
//! use chrono::{DateTime, Utc};
//! use trendmaster_fetch::DemoTraffic;
//! use trendmaster_testkit::{MetricShape, PrometheusServer};
//! use trendmaster_types::{AnalysisWindow, SeriesKey};
//!
//! let as_of: DateTime<Utc> = "2026-11-15T00:00:00Z".parse().unwrap();
//! let window = AnalysisWindow::ending_at(as_of, 2, 60);
//! let key = SeriesKey::new("111", "/api_v3/service/multirequest");
//! let series = vec![DemoTraffic::new(1).series(&key, &window)];
//! let server = PrometheusServer::start(&series, MetricShape::Nginx).unwrap();
//! // Point the client under test at server.url(), e.g. http://127.0.0.1:41234
//! println!("{} (backfill took {:.1} s)", server.url(), server.backfill_seconds());
//! ```
//!
//! Costs, measured on two cores with Prometheus 2.42 at one-minute steps: 8 series × 2 days
//! backfill in about 1 s; 36 series × 14 days (170 blocks, 630 MB of OpenMetrics text, never all
//! on disk at once) in 11–16 s. Prometheus is ready 0.05–0.1 s after it starts.
//!
//! There is no real Kubernetes API server here: [`KubeFake`] serves the real ConfigMap paths
//! (GET, server-side apply with `fieldManager`, `force` and `dryRun`, 404, 409 conflicts) on
//! 127.0.0.1 and records what it received.
//!
//! [`envoy`] does the same for Envoy: it turns the EnvoyFilters trendmaster emits into an Envoy
//! bootstrap (applying their patches as Istio would), has `envoy --mode validate` check it, and
//! runs it on 127.0.0.1 in front of a stub upstream, so tests see real token buckets at work.
//!
//! Also here: [`fake_prometheus`], a scripted misbehaving Prometheus for the faults a real one
//! cannot be made to produce on cue, [`fault_proxy`], a proxy that makes a real one slow or
//! kills it mid-answer (the soak's), [`evaluation`], the labelled benchmark of the anomaly
//! filter, [`nab`], the Numenta Anomaly Benchmark fixtures, and [`quality`], the
//! recommendation-quality benchmark (rolling backtests of v1, v3 and trendmaster; `make quality`).
//!
//! [`ratelimit_service`] is a test ratelimit service: the real gRPC API
//! (`envoy.service.ratelimit.v3`) on 127.0.0.1, recording what Envoy asks, and the service's
//! descriptor lookup rules; the envoyproxy/ratelimit service itself (Go, with Redis) cannot be
//! had here.
//!
//! This crate is a dev-dependency only: nothing it holds ships in the binary. It states no
//! expectations either; the tests that use it do.

#![warn(missing_docs)]

pub mod envoy;
pub mod evaluation;
pub mod fake_prometheus;
pub mod fault_proxy;
pub mod kube_fake;
pub mod nab;
mod openmetrics;
pub mod quality;
pub mod ratelimit_service;
mod server;

pub use kube_fake::KubeFake;
pub use openmetrics::{MetricShape, write_openmetrics};
pub use server::{PrometheusServer, find_program};

/// The checkout's root directory (where `Cargo.lock` is), found from the `CARGO_MANIFEST_DIR`
/// that Cargo sets when it runs a test or bench, at run time. A path compiled in with `env!`
/// goes stale: `.ci/run` keeps the target directory outside the clone, so a checkout reuses
/// test binaries that another checkout built, and their compiled-in paths may be gone (a
/// README test read `/check/work/main/README.md` from a binary built by CI's clone).
pub fn workspace_dir() -> std::path::PathBuf {
    let package = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    package
        .ancestors()
        .find(|dir| dir.join("Cargo.lock").is_file())
        .unwrap_or(&package)
        .to_path_buf()
}
