//! The pipeline, top to bottom: select (what is deployed, the source, the window, the series) →
//! fetch and analyze (the fleet stream) → plan → render and write → apply. Only wiring lives
//! here; each step is one call into a stage crate or a module of the binary.

use std::path::PathBuf;
use std::time::Instant;

use chrono::Utc;
use tracing::info;
use trendmaster_config::ResolvedConfig;
use trendmaster_plan::Governance;
use trendmaster_types::Plan;

use crate::cluster;
use crate::error::AppError;
use crate::files::{self, ReportInput};
use crate::fleet::Analysed;
use crate::request::RunRequest;
use crate::result::{Changes, RunResult, Timings};
use crate::select::{Selection, select};

/// Analyses and emits; with `--shard`, analyses this shard's part and writes its shard file.
pub fn run(config: &ResolvedConfig, request: &RunRequest) -> Result<RunResult, AppError> {
    let started = Instant::now();
    check_before_analysis(config, request)?;
    let mut selection = select(config, request)?;
    if let Some(shard) = request.shard {
        // This run's part of the fleet; `merge` puts the parts together.
        let all = selection.keys.len();
        selection.keys.retain(|key| shard.owns(&key.partner));
        selection
            .excluded
            .retain(|skip| shard.owns(&skip.key.partner));
        let mine = selection.keys.len();
        info!(shard = %shard, series = mine, "shard {shard}: {mine} of {all} series");
        let analysed = analyse(config, request, &selection)?;
        let path =
            crate::shard::write(config, &selection.window, shard, &selection.keys, &analysed)?;
        let timings = request
            .timings
            .then(|| Timings::new(started, &analysed, 0.0));
        return Ok(RunResult::of_shard(
            config,
            selection.window,
            analysed,
            path,
            timings,
        ));
    }
    let analysed = analyse(config, request, &selection)?;
    finish(config, request, selection, analysed, started)
}

/// `trendmaster merge`: the shard files of one fleet, put together and emitted as one run.
pub fn merge(
    config: &ResolvedConfig,
    request: &RunRequest,
    files: &[PathBuf],
) -> Result<RunResult, AppError> {
    let started = Instant::now();
    check_before_analysis(config, request)?;
    let shards = crate::shard::read_all(config, request.as_of, files)?;
    let mut request = request.clone();
    request.as_of = Some(shards.window.end);
    let selection = select(config, &request)?;
    let analysed = shards.into_analysed(
        &selection.keys,
        &selection.window,
        selection.deployed.as_ref().map(|d| &d.limits),
    )?;
    finish(config, &request, selection, analysed, started)
}

/// What would stop the run at its end, found before anything is fetched: an `--apply` that is
/// not allowed here, a `--gitops-dir` holding a file of our names that is not ours.
fn check_before_analysis(config: &ResolvedConfig, request: &RunRequest) -> Result<(), AppError> {
    if request.apply {
        cluster::check_may_change(config, request, "--apply")?;
    }
    if let Some(dir) = &request.gitops_dir {
        trendmaster_emit::check_gitops_dir(dir)?;
    }
    Ok(())
}

/// Fetches and analyses the selected series (see [`crate::fleet`]).
fn analyse(
    config: &ResolvedConfig,
    request: &RunRequest,
    selection: &Selection,
) -> Result<Analysed, AppError> {
    let export_data = request.export_data.as_deref();
    let fleet = selection.fleet();
    crate::fleet::analyse(
        config,
        &fleet,
        request.progress,
        request.charts,
        export_data,
    )
}

/// Plans against the deployed state, renders, writes (with `--gitops-dir`, there too) and (with
/// `--apply`) applies. `--explain` (`only`) stops after rendering: the numbers are all there,
/// and nothing is written.
fn finish(
    config: &ResolvedConfig,
    request: &RunRequest,
    selection: Selection,
    analysed: Analysed,
    started: Instant,
) -> Result<RunResult, AppError> {
    let output_started = Instant::now();
    if analysed.recommendations.is_empty() {
        return Err(AppError::NothingToEmit(format!(
            "none of the {} series yielded a recommendation; nothing was written",
            selection.keys.len()
        )));
    }
    let plan = govern(config, request, &selection, &analysed)?;
    let deployed = selection.deployed.as_ref();
    let rendered = files::render(config, request, deployed, &plan, selection.window)?;
    let mut changes = Changes::of(
        selection.deployed_from.clone(),
        &plan,
        &analysed.recommendations,
    );
    if request.diff
        && let Some(deployed) = deployed
    {
        changes.diff = Some(files::diff(config, deployed, &rendered));
    }
    let (written, gitops, applied) = if request.only.is_some() {
        (None, None, None)
    } else {
        let now = Utc::now();
        let report = ReportInput {
            window: selection.window,
            recommendations: &analysed.recommendations,
            skipped: &analysed.skipped,
            changes: &changes,
        };
        // The server dry run before any file is written: a conflict or a refusal leaves
        // `output/` as it was.
        let checked = match (request.apply, &selection.cluster) {
            (true, Some(state)) => {
                let object = &rendered.configmap(request.profile).configmap;
                Some((state, cluster::dry_run(request, state, object)?))
            }
            _ => None,
        };
        let written = files::write(config, request, &rendered, &report, now)?;
        // After the output directory's files, so that the repository only ever gets files of
        // a run whose report exists.
        let gitops = request
            .gitops_dir
            .as_deref()
            .map(|dir| files::write_gitops(config, request, deployed, &plan, selection.window, dir))
            .transpose()?;
        let applied = checked
            .map(|(state, checked)| {
                let stamp = files::stamp(now);
                cluster::apply(config, state, checked, &stamp, request.profile, None)
            })
            .transpose()?;
        (Some(written), gitops, applied)
    };
    let timings = request.timings.then(|| {
        let output_seconds = output_started.elapsed().as_secs_f64();
        Timings::new(started, &analysed, output_seconds)
    });
    Ok(RunResult {
        files: written,
        local_ratelimit: rendered.envoyfilter.map(|filter| filter.budgets),
        applied,
        gitops,
        timings,
        ..RunResult::new(config, selection.window, analysed, changes)
    })
}

/// The governance stage: the plan against what is deployed, or the mass-cut refusal.
fn govern(
    config: &ResolvedConfig,
    request: &RunRequest,
    selection: &Selection,
    analysed: &Analysed,
) -> Result<Plan, AppError> {
    let recommended = analysed
        .recommendations
        .iter()
        .map(|r| (r.key.clone(), r.plan_input()))
        .collect();
    let governance = Governance {
        // `--explain` writes nothing, so it may look at one series of a refused fleet.
        mass_cut_gate: request.only.is_none(),
        ..Governance::new(
            &config.governance,
            &config.multipliers.tiers,
            config.rate.rounding(),
        )
    };
    let deployed = selection.deployed.as_ref().map(|d| &d.limits);
    let plan = trendmaster_plan::plan(&recommended, deployed, &selection.approvals, &governance)?;
    if selection.deployed_from.is_some() {
        info!(
            changed = plan.changed(),
            held = plan.held(),
            "{} of {} entries change against the deployed configuration, {} held for approval",
            plan.changed(),
            plan.normal.len(),
            plan.held()
        );
    }
    Ok(plan)
}
