//! The one stage that changes a cluster: reads the deployed ratelimit ConfigMap, applies a new
//! one, and keeps what it replaced so that it can be restored.
//!
//! This crate owns:
//! - [`Cluster`]: a Kubernetes client (kubeconfig with a context, or the in-cluster service
//!   account) for one ConfigMap: get it, and server-side apply it as field manager
//!   `trendmaster`, always as a server dry run first ([`Cluster::apply_checked`]);
//! - [`history`]: the objects replaced by an apply, saved under `output/history/` before
//!   anything changes, and read back for `--rollback N`.
//!
//! It does not decide what to apply (the emit stage renders the ConfigMap; the binary decides
//! whether this environment may be changed at all) and never parses the ratelimit file inside.
//!
//! kube is async; the binary is not. [`Cluster`] owns a current-thread Tokio runtime and
//! blocks on each call, so nothing else in the workspace needs an executor.

#![warn(missing_docs)]

mod client;
mod error;
pub mod history;

pub use client::{ApplyOutcome, Cluster, ClusterTarget, DryRun, FIELD_MANAGER, applicable};
pub use error::ClusterError;
pub use history::SavedVersion;
