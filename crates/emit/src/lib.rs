//! The files the pipeline produces for the cluster: the ratelimit service's config, the
//! Kubernetes ConfigMap that carries it, the Istio EnvoyFilter, and the atomic writing of every
//! output file (the reports' too).
//!
//! This crate owns:
//! - [`ratelimit`]: the envoyproxy/ratelimit service's config model and a re-implementation of
//!   every check its loader makes at load time (plus the ones it silently skips), so that a file
//!   we emit can never be rejected on reload;
//! - [`deployed`]: the deployed configuration read back (a ConfigMap or a bare ratelimit file),
//!   with our entries in requests per minute for the plan stage;
//! - [`planned`]: a plan rendered into that model, everything we do not manage carried over;
//! - [`configmap`]: the Kubernetes ConfigMap carrying it, built from `k8s-openapi` types and
//!   checked against the API server's validation rules ([`kube_rules`]);
//! - [`envoyfilter`]: the optional Istio `EnvoyFilter` with per-pod local rate limits (and the
//!   EnvoyFilter object model both filters share);
//! - [`global_envoyfilter`]: the Istio `EnvoyFilter` that wires Envoy to the ratelimit service
//!   for exactly the ConfigMap's descriptors;
//! - [`prometheus_rules`]: each entry's limit and utilisation as Prometheus recording rules,
//!   and alerts on them, as a rule file and a `PrometheusRule`;
//! - [`write`](mod@write): atomic writing of the output files;
//! - [`gitops`]: the files under fixed names in a kustomize directory (`--gitops-dir`);
//! - [`check`]: offline validation of ratelimit files, ConfigMaps holding them and our
//!   EnvoyFilters (`trendmaster check`), every problem with its file and path.
//!
//! It does not compute limits or decide what changes (the calculator and the plan stage do),
//! it does not draw reports (the report crate does), and it never talks to a cluster: output
//! is files, and applying them is the operator's or the binary's business.
//!
//! ```no_run
//! # fn demo(plan: &trendmaster_types::Plan,
//! #         settings: &trendmaster_types::settings::ConfigMapSettings,
//! #         info: &trendmaster_emit::GenerationInfo) -> Result<(), trendmaster_emit::EmitError> {
//! use trendmaster_emit::{OutputWriter, Rollout, RunFiles, render_planned};
//! use trendmaster_types::Profile;
//! let normal = render_planned(&plan.normal, Profile::Normal, None, Rollout::Enforce, settings, info)?;
//! let degraded =
//!     render_planned(&plan.degraded, Profile::Degraded, None, Rollout::Enforce, settings, info)?;
//! let files = RunFiles {
//!     configmap: &normal.yaml,
//!     degraded_configmap: &degraded.yaml,
//!     report: "# report\n",
//!     envoyfilter: None,
//!     global_envoyfilter: None,
//!     rules: None,
//!     prometheus_rule: None,
//!     html_report: None,
//!     plots: &[],
//! };
//! OutputWriter::new("output").write_run("testing", "20261115_123400", &files, Profile::Normal)?;
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

pub mod check;
pub mod configmap;
pub mod deployed;
pub mod envoyfilter;
mod error;
pub mod gitops;
pub mod global_envoyfilter;
pub mod kube_rules;
pub mod planned;
pub mod prometheus_rules;
pub mod ratelimit;
pub mod write;

pub use check::{
    CheckProblem, CheckReport, CheckSource, CheckedFile, DocumentKind, check_file, check_files,
};
pub use configmap::{
    GenerationInfo, PROFILE_ANNOTATION, RenderedConfigMap, Stamp, check_configmap_settings,
    profile_of, render_planned,
};
pub use deployed::{Deployed, from_configmap, parse_deployed, unified_diff};
pub use envoyfilter::{EnvoyFilter, RenderedEnvoyFilter, render_envoyfilter};
pub use error::EmitError;
pub use gitops::{GitopsFiles, GitopsWritten, check_gitops_dir, write_gitops};
pub use global_envoyfilter::{RenderedGlobalEnvoyFilter, render_global_envoyfilter};
pub use kube_rules::KubeProblem;
pub use planned::{Rollout, planned_config, requests_per_unit};
pub use prometheus_rules::{RenderedRules, WatchedLimit, render_rules};
pub use ratelimit::{
    Descriptor, LoaderError, RateLimit, RateLimitConfig, Replaces, RuleSource, read_ratelimit_yaml,
    validate_ratelimit_files, validate_ratelimit_yaml,
};
pub use write::{ChartFiles, OutputWriter, RunFiles, WrittenFiles, plot_path, write_atomic};
