//! The last pipeline stage: turns recommendations into files an operator can apply and read.
//!
//! This crate owns:
//! - [`ratelimit`]: the envoyproxy/ratelimit service's config model and a re-implementation of
//!   every check its loader makes at load time (plus the ones it silently skips), so that a file
//!   we emit can never be rejected on reload;
//! - [`configmap`]: the Kubernetes ConfigMap carrying that config, built from `k8s-openapi`
//!   types and checked against the API server's validation rules ([`kube_rules`]);
//! - [`deployed`]: the deployed configuration read back, and the plan from it to what is
//!   emitted (diff, changes held for approval, entries we do not manage carried over);
//! - [`envoyfilter`]: the optional Istio `EnvoyFilter` with per-pod local rate limits;
//! - [`charts`] and [`html`]: a chart per series and the self-contained HTML report;
//! - [`report`]: the Markdown report explaining every limit;
//! - [`write`](mod@write): atomic writing of the output files.
//!
//! It does not compute limits (the calculator does) and never talks to a cluster: output is
//! files, and applying them is the operator's or the binary's business.
//!
//! ```no_run
//! # fn demo(recs: &[trendmaster_types::RateRecommendation],
//! #         settings: &trendmaster_types::settings::ConfigMapSettings,
//! #         info: &trendmaster_emit::GenerationInfo) -> Result<(), trendmaster_emit::EmitError> {
//! let rendered = trendmaster_emit::render_configmap(recs, settings, info)?;
//! let writer = trendmaster_emit::OutputWriter::new("output");
//! let files = trendmaster_emit::RunFiles {
//!     configmap: &rendered.yaml,
//!     degraded_configmap: &rendered.yaml,
//!     report: "# report\n",
//!     envoyfilter: None,
//!     html_report: None,
//!     plots: &[],
//! };
//! writer.write_run("testing", "20261115_123400", &files, trendmaster_emit::Profile::Normal)?;
//! # Ok(()) }
//! ```

pub mod charts;
pub mod configmap;
pub mod deployed;
pub mod envoyfilter;
mod error;
pub mod html;
pub mod kube_rules;
pub mod ratelimit;
pub mod report;
pub mod write;

pub use charts::{BacktestBar, ChartLimits, RenderedChart, render_backtest_chart, render_chart};
pub use configmap::{
    GenerationInfo, RenderedConfigMap, check_configmap_settings, render_configmap, render_planned,
};
pub use deployed::{
    Approvals, ChangeStatus, Deployed, PlannedLimit, Rollout, degraded, from_configmap,
    parse_deployed, plan, planned_config, unified_diff,
};
pub use envoyfilter::{EnvoyFilter, RenderedEnvoyFilter, render_envoyfilter};
pub use error::EmitError;
pub use html::render_html_report;
pub use kube_rules::KubeProblem;
pub use ratelimit::{
    Descriptor, LoaderError, RateLimit, RateLimitConfig, Replaces, RuleSource,
    validate_ratelimit_files, validate_ratelimit_yaml,
};
pub use report::{
    Changes, RunSummary, render_change_table, render_explanation, render_markdown_report,
};
pub use write::{OutputWriter, Profile, RunFiles, WrittenFiles, plot_path, write_atomic};
