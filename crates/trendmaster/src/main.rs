//! `trendmaster`: wires the pipeline crates together (config → fetch → analyze → calculate →
//! plan → emit and report) and turns their errors into one message and a documented exit code.
//!
//! The binary's own modules, in the order a run meets them: [`cli`] (every flag), [`request`]
//! (flags → one resolved request), [`logging`], [`lock`] (one writing run per output directory),
//! [`run`] (the pipeline: [`select`] decides what is analysed, [`fleet`] streams the analysis,
//! [`shard`] splits and merges a fleet, [`cluster`] reads what is deployed and applies, [`files`]
//! renders and writes the output files), [`backtest`],
//! [`result`] and [`stdout`] (what is printed), [`error`] (exit codes), [`run_metrics`] (the
//! run's own metrics for Prometheus, whatever its exit code); [`check`] is the offline `check`
//! subcommand, which reads no configuration.

mod backtest;
mod check;
mod cli;
mod cluster;
mod error;
mod files;
mod fleet;
mod lock;
mod logging;
mod request;
mod result;
mod run;
mod run_metrics;
mod select;
mod shard;
mod stdout;

use clap::Parser;
use std::io::Write;
use std::process::ExitCode;
use trendmaster_config::{ConfigProblems, ENVIRONMENT_VARIABLES, ResolvedConfig};

use crate::cli::Cli;
use crate::error::{AppError, exit};
use crate::request::{Command, Request};
use crate::stdout::{EnvironmentReport, Validation};

fn main() -> ExitCode {
    survive_file_size_limit();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            // clap would exit 2 for usage errors; 2 is ours for "changes present".
            let _ = error.print();
            return ExitCode::from(if error.use_stderr() {
                exit::INVALID_CONFIG
            } else {
                exit::SUCCESS
            });
        }
    };
    let lookup = |name: &str| std::env::var(name).ok();
    // Started before anything can fail, so that a failed run is measured and reported too.
    let mut metrics = run_metrics::Recorder::start(&cli, log_name(&cli, &lookup));
    let code = run_cli(&cli, &lookup, &mut metrics.observed);
    metrics.finish(code);
    ExitCode::from(code)
}

/// A file size limit (`ulimit -f`, `prlimit --fsize`) sends SIGXFSZ to a process that writes
/// past it, and by default the signal kills it: the run died mid-write with no message and left
/// its temporary file behind (found by the soak, `tests/soak.rs`). With a handler installed the
/// write fails with EFBIG instead, and the run stops like on any other write error: one line
/// naming the file, nothing half-written. (The handler only sets a flag nobody reads.)
fn survive_file_size_limit() {
    #[cfg(unix)]
    {
        let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        if let Err(e) = signal_hook::flag::register(signal_hook::consts::SIGXFSZ, flag) {
            eprintln!("trendmaster: warning: cannot handle SIGXFSZ: {e}");
        }
    }
}

/// Everything after the flags are parsed; returns the exit code.
fn run_cli(
    cli: &Cli,
    lookup: &dyn Fn(&str) -> Option<String>,
    observed: &mut run_metrics::Observed,
) -> u8 {
    let filter = match logging::filter(cli.verbose, lookup) {
        Ok(filter) => filter,
        Err(message) => return fail(&AppError::Usage(message), cli.verbose),
    };
    if let Err(message) = logging::init(
        filter,
        cli.log_format,
        cli.log_file.as_ref().map(Option::as_deref),
        &log_name(cli, lookup),
    ) {
        return fail(&AppError::Usage(message), cli.verbose);
    }

    let outcome = Request::from_cli(cli).and_then(|request| execute(&request, lookup, observed));
    match outcome {
        Ok((stdout, code)) => {
            let mut out = std::io::stdout().lock();
            if out
                .write_all(stdout.as_bytes())
                .and_then(|()| out.flush())
                .is_err()
            {
                // A closed pipe (`| head`) is not worth a panic.
                return exit::RUNTIME_FAILURE;
            }
            code
        }
        Err(error) => fail(&error, cli.verbose),
    }
}

/// Runs what `request` asks for and returns what to print on stdout, and the exit code.
fn execute(
    request: &Request,
    lookup: &dyn Fn(&str) -> Option<String>,
    observed: &mut run_metrics::Observed,
) -> Result<(String, u8), AppError> {
    let format = request.output_format;
    if let Command::Check { files } = &request.command {
        let (verdict, problems) = check::check(files, format)?;
        if problems.is_empty() {
            return Ok((verdict, exit::SUCCESS));
        }
        // As `--validate-only`: the verdict on stdout for programs, the problems on stderr.
        print!("{verdict}");
        return Err(AppError::Invalid(problems));
    }
    if let Command::Validate { flag_problems } = &request.command {
        let loaded =
            trendmaster_config::load_for_validation(&request.load, &request.overrides, lookup);
        return validate(request, loaded, flag_problems).map(|out| (out, exit::SUCCESS));
    }
    let config = trendmaster_config::load(&request.load, &request.overrides, lookup)
        .map_err(AppError::Config)?;
    observed.environment = Some(config.environment.name.clone());
    check_build(&config)?;
    if request.command == Command::ShowEnv {
        return stdout::render_environment(&EnvironmentReport::new(&config), format)
            .map(|out| (out, exit::SUCCESS));
    }
    // A ConfigMap the API server or the ratelimit service would refuse is a configuration
    // error (exit 3) found before any traffic is fetched, as `--validate-only` finds it.
    let configmap_problems = trendmaster_emit::check_configmap_settings(&config.configmap);
    if !configmap_problems.is_empty() {
        return Err(AppError::Invalid(configmap_problems));
    }
    // Every run that writes to the output directory holds its lock until it returns.
    let _lock = request
        .command
        .writes_output(&request.run)
        .then(|| lock::OutputLock::acquire(&config.output_dir))
        .transpose()?;
    let result = match &request.command {
        Command::Validate { .. } | Command::ShowEnv | Command::Check { .. } => {
            unreachable!("answered above")
        }
        Command::Explain => {
            let result = run::run(&config, &request.run)?;
            let out = stdout::render_explanation(&result, &config, format)?;
            return Ok((out, exit::SUCCESS));
        }
        Command::Backtest { test_days } => {
            let result = backtest::backtest(&config, &request.run, *test_days)?;
            return Ok((stdout::render_backtest(&result, format)?, exit::SUCCESS));
        }
        Command::Rollback(n) => {
            let applied = cluster::rollback(&config, &request.run, *n)?;
            return Ok((stdout::render_applied(&applied, format)?, exit::SUCCESS));
        }
        Command::Merge { files } => run::merge(&config, &request.run, files)?,
        Command::Run => run::run(&config, &request.run)?,
    };
    observed.counts = Some(run_metrics::Counts::of(&result));
    if result.changes.deployed_from.is_some() {
        // A table for people, on stderr with the logs: stdout stays data.
        eprint!(
            "{}",
            trendmaster_report::render_change_table(&result.changes.plan)
        );
        if result.changes.censored > 0 {
            eprintln!(
                "({} censored: traffic sat at the deployed limit or requests were rejected, so observed traffic understates demand; not cut)",
                result.changes.censored
            );
        }
    }
    let code = if request.detailed_exitcode && result.changes.changed > 0 {
        exit::CHANGES
    } else {
        exit::SUCCESS
    };
    Ok((stdout::render_run(&result, format)?, code))
}

/// A configuration this build cannot run.
fn check_build(config: &ResolvedConfig) -> Result<(), AppError> {
    if config.forecast.forecaster == trendmaster_types::settings::ForecasterKind::Prophet
        && !cfg!(feature = "prophet")
    {
        return Err(AppError::Usage(
            "--forecaster prophet: this build has no Prophet support; build with `make build-prophet` (cargo feature `prophet`) or use mstl".into(),
        ));
    }
    Ok(())
}

/// `--validate-only`: the configuration's problems plus the emitted ConfigMap's naming rules
/// and the flags' own, all at once.
fn validate(
    request: &Request,
    loaded: Result<(ResolvedConfig, ConfigProblems), ConfigProblems>,
    flag_problems: &[String],
) -> Result<String, AppError> {
    let (config, mut problems): (Option<&ResolvedConfig>, Vec<String>) = match &loaded {
        Ok((config, problems)) => (
            Some(config),
            problems.iter().map(ToString::to_string).collect(),
        ),
        Err(problems) => (None, problems.iter().map(ToString::to_string).collect()),
    };
    if let Some(config) = config {
        problems.extend(trendmaster_emit::check_configmap_settings(
            &config.configmap,
        ));
        // `--current-from`: the deployed file must be one the ratelimit service would load.
        if let Some(path) = &request.run.current_from {
            let read = std::fs::read_to_string(path)
                .map_err(|e| format!("--current-from {}: {e}", path.display()))
                .and_then(|text| {
                    let origin = path.display().to_string();
                    trendmaster_emit::parse_deployed(&text, &origin, &config.configmap)
                        .map_err(|e| e.to_string())
                });
            problems.extend(read.err());
        }
    }
    problems.extend(flag_problems.iter().cloned());
    let validation = Validation {
        valid: problems.is_empty(),
        environment: config.map(|c| c.environment.name.as_str()),
        partners: config.map_or(0, |c| c.partners.len()),
        apis: config.map_or(0, |c| c.apis.len()),
        discovery: config.map(|c| c.discovery),
        problems,
    };
    let rendered = stdout::render_validation(&validation, request.output_format)?;
    if validation.valid {
        Ok(rendered)
    } else {
        // The verdict still goes to stdout for programs; the problems go to stderr as errors.
        print!("{rendered}");
        Err(AppError::Invalid(validation.problems))
    }
}

/// Prints every line of the error to stderr and returns its exit code. With `-v`, the chain of
/// causes follows each line.
fn fail(error: &AppError, verbose: u8) -> u8 {
    let mut stderr = std::io::stderr().lock();
    // The stages give one-line messages; this is the backstop for text quoted from bad input.
    for line in error.lines() {
        let _ = writeln!(
            stderr,
            "trendmaster: error: {}",
            trendmaster_types::one_line(&line)
        );
    }
    if verbose > 0 {
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            let text = trendmaster_types::one_line(&cause.to_string());
            let _ = writeln!(stderr, "  caused by: {text}");
            source = cause.source();
        }
    }
    error.exit_code()
}

/// The environment name for a default log file name, before the configuration is loaded.
fn log_name(cli: &Cli, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    cli.environment
        .clone()
        .or_else(|| {
            ENVIRONMENT_VARIABLES
                .iter()
                .find_map(|v| lookup(v).filter(|s| !s.is_empty()))
        })
        .unwrap_or_else(|| trendmaster_config::DEFAULT_ENVIRONMENT.to_string())
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}
