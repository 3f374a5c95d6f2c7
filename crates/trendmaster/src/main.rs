//! `trendmaster`: wires the pipeline crates together (config → fetch → analyze → calculate →
//! emit) and turns their errors into one message and a documented exit code.

mod backtest;
mod cli;
mod error;
mod fleet;
mod lock;
mod logging;
mod output;
mod run;
mod shard;

use clap::Parser;
use std::io::Write;
use std::process::ExitCode;
use trendmaster_config::{
    ConfigProblems, ENVIRONMENT_VARIABLES, LoadOptions, Overrides, ResolvedConfig, load,
    load_for_validation,
};

use crate::cli::Cli;
use crate::error::{AppError, exit};
use crate::output::{EnvironmentReport, Validation};

fn main() -> ExitCode {
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

    let filter = match logging::filter(cli.verbose, &lookup) {
        Ok(filter) => filter,
        Err(message) => return fail(&AppError::Usage(message), cli.verbose),
    };
    if let Err(message) = logging::init(
        filter,
        cli.log_format,
        cli.log_file.as_ref().map(Option::as_deref),
        &log_name(&cli, &lookup),
    ) {
        return fail(&AppError::Usage(message), cli.verbose);
    }

    match execute(&cli, &lookup) {
        Ok((stdout, code)) => {
            let mut out = std::io::stdout().lock();
            if out
                .write_all(stdout.as_bytes())
                .and_then(|()| out.flush())
                .is_err()
            {
                // A closed pipe (`| head`) is not worth a panic.
                return ExitCode::from(exit::RUNTIME_FAILURE);
            }
            ExitCode::from(code)
        }
        Err(error) => fail(&error, cli.verbose),
    }
}

/// Runs what the flags ask for and returns what to print on stdout, and the exit code.
fn execute(cli: &Cli, lookup: &dyn Fn(&str) -> Option<String>) -> Result<(String, u8), AppError> {
    let (options, overrides) = config_request(cli)?;
    if cli.validate_only {
        return validate(cli, load_for_validation(&options, &overrides, lookup))
            .map(|out| (out, exit::SUCCESS));
    }
    let config = load(&options, &overrides, lookup).map_err(AppError::Config)?;
    if config.forecast.forecaster == trendmaster_types::settings::ForecasterKind::Prophet
        && !cfg!(feature = "prophet")
    {
        return Err(AppError::Usage(
            "--forecaster prophet: this build has no Prophet support; build with `make build-prophet` (cargo feature `prophet`) or use mstl".into(),
        ));
    }
    if cli.show_env {
        return output::render_environment(&EnvironmentReport::new(&config), cli.output_format)
            .map(|out| (out, exit::SUCCESS));
    }
    // A ConfigMap the API server or the ratelimit service would refuse is a configuration
    // error (exit 3) found before any traffic is fetched, as `--validate-only` finds it.
    let configmap_problems = trendmaster_emit::check_configmap_settings(&config.configmap);
    if !configmap_problems.is_empty() {
        return Err(AppError::Invalid(configmap_problems));
    }
    if (cli.force_conflicts || cli.confirm_production) && !cli.apply && cli.rollback.is_none() {
        return Err(AppError::Usage(
            "--force-conflicts and --confirm-production only apply to --apply and --rollback"
                .into(),
        ));
    }
    let as_of = cli.as_of.as_deref().map(run::parse_as_of).transpose()?;
    let mut request = run::RunRequest::from_cli(cli, as_of);
    if let Some(pair) = &cli.explain {
        let key = pair
            .split_once(':')
            .map(|(partner, api)| trendmaster_types::SeriesKey::new(partner.trim(), api.trim()))
            .filter(|key| !key.partner.is_empty() && key.api.starts_with('/'))
            .ok_or_else(|| {
                AppError::Usage(format!("--explain `{pair}`: expected PARTNER:API, e.g. 111:/api_v3/service/multirequest"))
            })?;
        request.only = Some(key);
        let result = run::run(&config, &request)?;
        return Ok((
            output::render_explanation(&result, &config, cli.output_format)?,
            exit::SUCCESS,
        ));
    }
    // Every run that writes to the output directory holds its lock until it returns; a shard
    // run writes only its own shard file (see `lock`).
    let _lock = if cli.shard.is_none() {
        Some(lock::OutputLock::acquire(&config.output_dir)?)
    } else {
        None
    };
    if cli.backtest {
        if cli.test_days == 0 {
            return Err(AppError::Usage("--test-days: must be at least 1".into()));
        }
        let result = backtest::backtest(&config, &request, cli.test_days)?;
        return Ok((
            output::render_backtest(&result, cli.output_format)?,
            exit::SUCCESS,
        ));
    }
    if let Some(n) = cli.rollback {
        let applied = run::rollback(&config, &request, n)?;
        return Ok((
            output::render_applied(&applied, cli.output_format)?,
            exit::SUCCESS,
        ));
    }
    let result = match &cli.command {
        Some(cli::Command::Merge { files }) => {
            if cli.shard.is_some() || cli.explain.is_some() || cli.backtest {
                return Err(AppError::Usage(
                    "merge: --shard, --explain and --backtest do not apply to a merge".into(),
                ));
            }
            run::merge(&config, &request, files)?
        }
        None => run::run(&config, &request)?,
    };
    if result.changes.deployed_from.is_some() {
        // A table for people, on stderr with the logs: stdout stays data.
        eprint!(
            "{}",
            trendmaster_emit::render_change_table(&result.changes.plan)
        );
    }
    let code = if cli.detailed_exitcode && result.changes.changed > 0 {
        exit::CHANGES
    } else {
        exit::SUCCESS
    };
    Ok((output::render_run(&result, cli.output_format)?, code))
}

/// Where to find configuration, and the flags that override it.
fn config_request(cli: &Cli) -> Result<(LoadOptions, Overrides), AppError> {
    let prometheus_headers = cli
        .headers
        .iter()
        .map(|header| {
            header
                .split_once(':')
                .map(|(name, value)| (name.trim().to_string(), value.trim().to_string()))
                .filter(|(name, _)| !name.is_empty())
                .ok_or_else(|| AppError::Usage(format!("-H `{header}`: expected 'Name: value'")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let options = LoadOptions {
        config_file: cli.config.clone(),
        base_dir: None,
    };
    let overrides = Overrides {
        environment: cli.environment.clone(),
        partners: cli.partners.clone(),
        apis: cli.apis.clone(),
        mode: cli.mode.map(Into::into),
        source: cli.source.clone(),
        days: cli.days,
        step: cli.step.clone(),
        output_dir: cli.output_dir.clone(),
        prometheus_url: cli.prometheus_url.clone(),
        demo_seed: cli.seed,
        query_preset: cli.query_preset.clone(),
        forecaster: cli.forecaster.map(Into::into),
        prometheus_headers,
        prometheus_timeout: cli.prometheus_timeout.clone(),
    };
    Ok((options, overrides))
}

/// `--validate-only`: the configuration's problems plus the emitted ConfigMap's naming rules,
/// all at once.
fn validate(
    cli: &Cli,
    loaded: Result<(ResolvedConfig, ConfigProblems), ConfigProblems>,
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
    }
    if let Some(as_of) = &cli.as_of
        && let Err(error) = run::parse_as_of(as_of)
    {
        problems.push(error.to_string());
    }
    let validation = Validation {
        valid: problems.is_empty(),
        environment: config.map(|c| c.environment.name.as_str()),
        partners: config.map_or(0, |c| c.partners.len()),
        apis: config.map_or(0, |c| c.apis.len()),
        problems,
    };
    let rendered = output::render_validation(&validation, cli.output_format)?;
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
fn fail(error: &AppError, verbose: u8) -> ExitCode {
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
    ExitCode::from(error.exit_code())
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
