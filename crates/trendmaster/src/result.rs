//! What a run produced: printed in full by `--output-format json|yaml`, as tables otherwise.

use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;
use tracing::info;
use trendmaster_config::{EnvironmentInfo, ResolvedConfig};
use trendmaster_emit::{GitopsWritten, WrittenFiles};
use trendmaster_fetch::FetchStats;
use trendmaster_types::{
    AnalysisWindow, CalculationMode, Plan, PlannedLimit, Profile, RateRecommendation, SkippedSeries,
};

use crate::fleet::{Analysed, BusyTime};

/// Version stamped into every generated file.
pub const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");

/// What a run produced; printed in full by `--output-format json|yaml`.
#[derive(Debug, Serialize)]
pub struct RunResult {
    pub tool_version: &'static str,
    pub environment: EnvironmentInfo,
    pub source: String,
    pub window: AnalysisWindow,
    pub mode: CalculationMode,
    pub dry_run: bool,
    /// What fetching cost: queries, retries, bytes, missing points.
    pub fetch: FetchStats,
    pub recommendations: Vec<RateRecommendation>,
    /// Series with no recommendation (excluded, or too little data), each with its reason.
    /// They are not in the emitted ConfigMap.
    pub skipped: Vec<SkippedSeries>,
    /// The plan against the deployed configuration (`--current-from`); without one, every
    /// entry is new.
    pub changes: Changes,
    /// What was written; `None` for `--explain`, which writes nothing, and for `--shard`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<WrittenFiles>,
    /// `--shard`: the shard file for `trendmaster merge`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard_file: Option<PathBuf>,
    /// Local rate limit (`COMMON.LOCAL_RATELIMIT`): partner → tokens per minute per proxy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_ratelimit: Option<std::collections::BTreeMap<String, u32>>,
    /// `--apply`: what was applied where.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied: Option<Applied>,
    /// `--gitops-dir`: the files written there under fixed names, and those removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gitops: Option<GitopsWritten>,
    /// `--timings`: where the time went.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timings: Option<Timings>,
}

/// `--timings`: wall time of the run and its stages, busy time summed over threads (stages
/// overlap in the stream), peak memory and throughput.
#[derive(Debug, Clone, Serialize)]
pub struct Timings {
    pub wall_seconds: f64,
    /// From the first query until the last series was analysed (fetch and analysis overlap).
    pub fetch_and_analysis_seconds: f64,
    /// Waiting for Prometheus answers, summed over the concurrent queries.
    pub request_seconds: f64,
    /// Parsing Prometheus answers, summed over the concurrent queries.
    pub parse_seconds: f64,
    /// Analysis and calculation, summed over the worker threads.
    #[serde(flatten)]
    pub busy: BusyTime,
    /// Plan, render, charts and write (wall).
    pub output_seconds: f64,
    pub series_per_second: f64,
    /// The process's peak resident set (Linux `VmHWM`); `None` elsewhere.
    pub peak_rss_bytes: Option<u64>,
    /// CPU time of the process, user and system over all threads (Linux); `None` elsewhere.
    pub cpu_seconds: Option<f64>,
}

impl Timings {
    /// The run started at `started`, analysed as `analysed`, spent `output_seconds` on its output.
    pub fn new(started: Instant, analysed: &Analysed, output_seconds: f64) -> Self {
        let (fetch, busy) = (&analysed.fetch, analysed.busy);
        let wall_seconds = started.elapsed().as_secs_f64();
        let timings = Self {
            wall_seconds,
            fetch_and_analysis_seconds: analysed.analyse_seconds,
            request_seconds: fetch.request_millis as f64 / 1e3,
            parse_seconds: fetch.parse_millis as f64 / 1e3,
            busy,
            output_seconds,
            series_per_second: fetch.series as f64 / wall_seconds.max(1e-9),
            peak_rss_bytes: peak_rss_bytes(),
            cpu_seconds: cpu_seconds(),
        };
        info!(
            wall = timings.wall_seconds,
            fetch_and_analysis = timings.fetch_and_analysis_seconds,
            request = timings.request_seconds,
            parse = timings.parse_seconds,
            analysis = timings.busy.analysis_seconds,
            calculation = timings.busy.calculation_seconds,
            output = timings.output_seconds,
            peak_rss = timings.peak_rss_bytes,
            cpu = timings.cpu_seconds,
            "timings (seconds; request, parse, analysis and calculation summed over threads)"
        );
        timings
    }
}

/// Peak resident set size of this process, from `/proc/self/status`.
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// CPU time of this process so far, from `/proc/self/stat`: `utime` and `stime`, in clock ticks
/// of 1/100 s (Linux's `USER_HZ` is 100 on every architecture it reports in ticks for).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name may hold spaces and parentheses: the fields start after its last ')'.
    let fields: Vec<&str> = stat
        .get(stat.rfind(')')? + 1..)?
        .split_whitespace()
        .collect();
    // Fields 14 and 15 of proc(5); the rest starts at field 3.
    let ticks = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some((ticks(14)? + ticks(15)?) as f64 / 100.0)
}

impl Changes {
    /// `plan` (its normal entries) against the configuration read from `deployed_from`, for
    /// `recommendations` (which say which series are censored).
    pub fn of(
        deployed_from: Option<String>,
        plan: &Plan,
        recommendations: &[RateRecommendation],
    ) -> Self {
        Self {
            deployed_from,
            max_change_ratio: plan.max_change_ratio,
            plan: plan.normal.clone(),
            changed: plan.changed(),
            held: plan.held(),
            censored: censored(recommendations),
            diff: None,
        }
    }

    /// No plan: a shard run plans nothing (`merge` does).
    pub fn none(config: &ResolvedConfig) -> Self {
        Self {
            deployed_from: None,
            max_change_ratio: config.governance.max_change_ratio,
            plan: Vec::new(),
            changed: 0,
            held: 0,
            censored: 0,
            diff: None,
        }
    }
}

/// How many of `recommendations` are censored: their traffic sat at the deployed limit, or the
/// source saw requests rejected (see `Saturation`).
pub fn censored(recommendations: &[RateRecommendation]) -> usize {
    recommendations
        .iter()
        .filter(|r| r.plan_input().censored)
        .count()
}

impl RunResult {
    /// What a run of `config` over `window` produced, before its files, EnvoyFilter budgets,
    /// apply and timings are added.
    pub fn new(
        config: &ResolvedConfig,
        window: AnalysisWindow,
        analysed: Analysed,
        changes: Changes,
    ) -> Self {
        Self {
            tool_version: TOOL_VERSION,
            environment: config.environment.clone(),
            source: config.source.to_string(),
            window,
            mode: config.rate.calculation_mode,
            dry_run: config.dry_run,
            fetch: analysed.fetch,
            recommendations: analysed.recommendations,
            skipped: analysed.skipped,
            changes,
            files: None,
            shard_file: None,
            local_ratelimit: None,
            applied: None,
            gitops: None,
            timings: None,
        }
    }

    /// A shard run: its analysis and its shard file; it plans nothing (`merge` does).
    pub fn of_shard(
        config: &ResolvedConfig,
        window: AnalysisWindow,
        analysed: Analysed,
        shard_file: PathBuf,
        timings: Option<Timings>,
    ) -> Self {
        let changes = Changes::none(config);
        Self {
            shard_file: Some(shard_file),
            timings,
            ..Self::new(config, window, analysed, changes)
        }
    }
}

/// An object applied to the cluster (`--apply`, `--rollback`).
#[derive(Debug, Serialize)]
pub struct Applied {
    pub server: String,
    /// namespace/name
    pub configmap: String,
    /// Which variant was applied.
    pub profile: Profile,
    /// Where the replaced object was saved; `None` when there was none (the apply created it).
    pub saved_previous: Option<PathBuf>,
    /// `--rollback`: the saved version that was re-applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restored_from: Option<PathBuf>,
    /// The object's `resourceVersion` after the apply.
    pub resource_version: Option<String>,
}

/// What the run changes against what is deployed.
#[derive(Debug, Serialize)]
pub struct Changes {
    /// Where the deployed configuration was read from, if it was.
    pub deployed_from: Option<String>,
    pub max_change_ratio: f64,
    pub plan: Vec<PlannedLimit>,
    /// Entries whose emitted limit differs from the deployed one, or that are held.
    pub changed: usize,
    pub held: usize,
    /// Series whose observed traffic understates demand (it sat at the deployed limit, or the
    /// source saw requests rejected): never cut, whatever the recommendation.
    pub censored: usize,
    /// `--diff`: the deployed ratelimit file against the emitted one, unified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
}
