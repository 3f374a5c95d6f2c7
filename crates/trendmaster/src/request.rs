//! Flags → one resolved [`Request`] (ripgrep's low-args → high-args step): what to do, where
//! the configuration comes from and what overrides it, and the run's own parameters. Every rule
//! between flags is checked here, once, before any configuration is loaded; past `main`'s
//! logging setup (which reads `-v`, `--log-format` and `--log-file` itself, before anything
//! else can fail), nothing looks at [`Cli`].

use std::path::PathBuf;

use chrono::{DateTime, NaiveDate, Utc};
use trendmaster_cluster::ClusterTarget;
use trendmaster_config::{LoadOptions, Overrides};
use trendmaster_emit::Rollout;
use trendmaster_types::{Profile, SeriesKey};

use crate::cli::{Cli, Command as CliCommand, OutputFormat};
use crate::error::AppError;
use crate::shard::Shard;

/// What one invocation asks for.
#[derive(Debug)]
pub struct Request {
    /// What to do.
    pub command: Command,
    /// Where the configuration comes from.
    pub load: LoadOptions,
    /// The flags that override configuration.
    pub overrides: Overrides,
    /// The run's own parameters.
    pub run: RunRequest,
    /// Format of the result on stdout.
    pub output_format: OutputFormat,
    /// `--detailed-exitcode`: exit 2 when limits change or changes are held.
    pub detailed_exitcode: bool,
}

/// What to do, in the order the flags take precedence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `--validate-only`, with the problems the flags themselves have (reported together with
    /// the configuration's).
    Validate { flag_problems: Vec<String> },
    /// `--show-env`.
    ShowEnv,
    /// `--explain PARTNER:API` (the series is [`RunRequest::only`]).
    Explain,
    /// `--backtest`.
    Backtest { test_days: u32 },
    /// `--rollback N`.
    Rollback(usize),
    /// `trendmaster merge [SHARD_FILE…]`.
    Merge { files: Vec<PathBuf> },
    /// `trendmaster check FILE…`: no configuration, no output directory.
    Check { files: Vec<PathBuf> },
    /// Analyse and emit (or, with `--shard`, analyse a part of the fleet).
    Run,
}

impl Command {
    /// Whether the command writes to the output directory, and so holds its lock. A shard run
    /// writes only its own shard file (see [`crate::lock`]).
    pub fn writes_output(&self, run: &RunRequest) -> bool {
        match self {
            Self::Validate { .. } | Self::ShowEnv | Self::Explain | Self::Check { .. } => false,
            Self::Run => run.shard.is_none(),
            Self::Backtest { .. } | Self::Rollback(_) | Self::Merge { .. } => true,
        }
    }
}

/// Run parameters that are not configuration: they come from flags of this invocation only.
#[derive(Debug, Clone, Default)]
pub struct RunRequest {
    /// `--as-of`; else the source's end of data (files), else now.
    pub as_of: Option<DateTime<Utc>>,
    /// `--step` was given: it wins over a file's own step.
    pub step_given: bool,
    /// `--cache-dir`.
    pub cache_dir: Option<PathBuf>,
    /// `--offline`.
    pub offline: bool,
    /// `--export-data`.
    pub export_data: Option<PathBuf>,
    /// `--sum-duplicates`.
    pub sum_duplicates: bool,
    /// Draw progress on stderr (only when it is a terminal).
    pub progress: bool,
    /// `--current-from`: the deployed ConfigMap or ratelimit file.
    pub current_from: Option<PathBuf>,
    /// `--approve`, as given (`PARTNER:API` or `all`).
    pub approve: Vec<String>,
    /// `--profile`: which variant `latest_configmap.yaml` holds.
    pub profile: Profile,
    /// `--diff`: keep a unified diff against the deployed file in the result.
    pub diff: bool,
    /// `--shadow`: new and changed limits go out in shadow mode.
    pub rollout: Rollout,
    /// `--cluster`, `--apply` or `--rollback`: where the cluster is.
    pub cluster: Option<ClusterTarget>,
    /// `--apply`: apply the emitted ConfigMap.
    pub apply: bool,
    /// `--force-conflicts`.
    pub force_conflicts: bool,
    /// `--confirm-production`.
    pub confirm_production: bool,
    /// `--local-ratelimit`.
    pub local_ratelimit: bool,
    /// Draw charts (not `--no-charts`).
    pub charts: bool,
    /// `--explain`: analyse this series only, and write nothing.
    pub only: Option<SeriesKey>,
    /// `--shard I/N`: analyse this part of the fleet and write a shard file.
    pub shard: Option<Shard>,
    /// `--timings`: measure the stages and report them in the result.
    pub timings: bool,
    /// `--gitops-dir`: also write the files for the cluster there, under fixed names.
    pub gitops_dir: Option<PathBuf>,
}

impl Request {
    /// Resolves `cli`, or names the first flag that does not fit.
    pub fn from_cli(cli: &Cli) -> Result<Self, AppError> {
        let (load, overrides) = config_request(cli)?;
        let as_of = cli.as_of.as_deref().map(parse_as_of).transpose();
        let command = command(cli, as_of.as_ref().err())?;
        let as_of = match &command {
            // `--show-env` does not look at the window; `--validate-only` reports a bad one.
            Command::ShowEnv | Command::Validate { .. } => as_of.unwrap_or_default(),
            _ => as_of?,
        };
        let only = match (&command, &cli.explain) {
            (Command::Explain, Some(pair)) => Some(parse_series(pair)?),
            _ => None,
        };
        Ok(Self {
            run: RunRequest::from_cli(cli, as_of, only),
            command,
            load,
            overrides,
            output_format: cli.output_format,
            detailed_exitcode: cli.detailed_exitcode,
        })
    }
}

/// The command, after the rules between flags that clap's conflicts cannot say.
/// `as_of_problem`: why `--as-of` is not a time, if it is not.
fn command(cli: &Cli, as_of_problem: Option<&AppError>) -> Result<Command, AppError> {
    if let Some(CliCommand::Check { files }) = &cli.command {
        let given = run_flags(cli);
        if !given.is_empty() {
            return Err(AppError::Usage(format!(
                "check takes no {}: it reads no configuration and writes nothing (only \
                 --output-format, -v and the log flags apply)",
                given.join(", ")
            )));
        }
        return Ok(Command::Check {
            files: files.clone(),
        });
    }
    if cli.validate_only {
        let flag_problems = as_of_problem.map(ToString::to_string).into_iter().collect();
        return Ok(Command::Validate { flag_problems });
    }
    if cli.show_env {
        return Ok(Command::ShowEnv);
    }
    if (cli.force_conflicts || cli.confirm_production) && !cli.apply && cli.rollback.is_none() {
        return Err(AppError::Usage(
            "--force-conflicts and --confirm-production only apply to --apply and --rollback"
                .into(),
        ));
    }
    if let Some(CliCommand::Merge { files }) = &cli.command {
        if cli.shard.is_some() || cli.explain.is_some() || cli.backtest {
            return Err(AppError::Usage(
                "merge: --shard, --explain and --backtest do not apply to a merge".into(),
            ));
        }
        if cli.rollback.is_none() {
            return Ok(Command::Merge {
                files: files.clone(),
            });
        }
    }
    if cli.explain.is_some() {
        return Ok(Command::Explain);
    }
    if cli.backtest {
        if cli.test_days == 0 {
            return Err(AppError::Usage("--test-days: must be at least 1".into()));
        }
        return Ok(Command::Backtest {
            test_days: cli.test_days,
        });
    }
    if let Some(n) = cli.rollback {
        return Ok(Command::Rollback(n));
    }
    Ok(Command::Run)
}

/// The flags of a run that were given, by name: none of them means anything to `check`.
fn run_flags(cli: &Cli) -> Vec<&'static str> {
    [
        ("--config", cli.config.is_some()),
        ("--env", cli.environment.is_some()),
        ("--show-env", cli.show_env),
        ("--validate-only", cli.validate_only),
        ("--partners", cli.partners.is_some()),
        ("--apis", cli.apis.is_some()),
        ("--mode", cli.mode.is_some()),
        ("--forecaster", cli.forecaster.is_some()),
        ("--source", cli.source.is_some()),
        ("--days", cli.days.is_some()),
        ("--step", cli.step.is_some()),
        ("--as-of", cli.as_of.is_some()),
        ("--output-dir", cli.output_dir.is_some()),
        ("--prometheus-url", cli.prometheus_url.is_some()),
        ("--header", !cli.headers.is_empty()),
        ("--query-preset", cli.query_preset.is_some()),
        ("--prometheus-timeout", cli.prometheus_timeout.is_some()),
        ("--cache-dir", cli.cache_dir.is_some()),
        ("--offline", cli.offline),
        ("--export-data", cli.export_data.is_some()),
        ("--sum-duplicates", cli.sum_duplicates),
        ("--current-from", cli.current_from.is_some()),
        ("--cluster", cli.cluster),
        ("--apply", cli.apply),
        ("--rollback", cli.rollback.is_some()),
        ("--kubeconfig", cli.kubeconfig.is_some()),
        ("--context", cli.context.is_some()),
        ("--force-conflicts", cli.force_conflicts),
        ("--confirm-production", cli.confirm_production),
        ("--local-ratelimit", cli.local_ratelimit),
        ("--approve", !cli.approve.is_empty()),
        ("--diff", cli.diff),
        ("--detailed-exitcode", cli.detailed_exitcode),
        ("--shadow", cli.shadow),
        ("--profile", cli.profile != crate::cli::ProfileArg::Normal),
        ("--explain", cli.explain.is_some()),
        ("--backtest", cli.backtest),
        ("--no-charts", cli.no_charts),
        ("--gitops-dir", cli.gitops_dir.is_some()),
        ("--shard", cli.shard.is_some()),
        ("--timings", cli.timings),
        ("--metrics-file", cli.metrics_file.is_some()),
        ("--pushgateway", cli.pushgateway.is_some()),
        ("--seed", cli.seed.is_some()),
    ]
    .into_iter()
    .filter_map(|(flag, given)| given.then_some(flag))
    .collect()
}

/// `--explain PARTNER:API`.
fn parse_series(pair: &str) -> Result<SeriesKey, AppError> {
    pair.split_once(':')
        .map(|(partner, api)| SeriesKey::new(partner.trim(), api.trim()))
        .filter(|key| !key.partner.is_empty() && key.api.starts_with('/'))
        .ok_or_else(|| {
            AppError::Usage(format!(
                "--explain `{pair}`: expected PARTNER:API, e.g. 111:/api_v3/service/multirequest"
            ))
        })
}

impl RunRequest {
    fn from_cli(cli: &Cli, as_of: Option<DateTime<Utc>>, only: Option<SeriesKey>) -> Self {
        use std::io::IsTerminal;
        Self {
            as_of,
            step_given: cli.step.is_some(),
            cache_dir: cli.cache_dir.clone(),
            offline: cli.offline,
            export_data: cli.export_data.clone(),
            sum_duplicates: cli.sum_duplicates,
            progress: std::io::stderr().is_terminal(),
            current_from: cli.current_from.clone(),
            approve: cli.approve.clone(),
            profile: cli.profile.into(),
            diff: cli.diff,
            rollout: if cli.shadow {
                Rollout::Shadow
            } else {
                Rollout::Enforce
            },
            cluster: (cli.cluster || cli.apply || cli.rollback.is_some()).then(|| ClusterTarget {
                kubeconfig: cli.kubeconfig.clone(),
                context: cli.context.clone(),
            }),
            apply: cli.apply,
            force_conflicts: cli.force_conflicts,
            confirm_production: cli.confirm_production,
            local_ratelimit: cli.local_ratelimit,
            charts: !cli.no_charts,
            only,
            shard: cli.shard,
            timings: cli.timings,
            gitops_dir: cli.gitops_dir.clone(),
        }
    }
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

/// `--as-of`: RFC 3339, a date (midnight UTC) or Unix seconds.
pub fn parse_as_of(text: &str) -> Result<DateTime<Utc>, AppError> {
    let text = text.trim();
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&Utc));
    }
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(date
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists")
            .and_utc());
    }
    if let Some(time) = text
        .parse::<i64>()
        .ok()
        .and_then(|s| DateTime::from_timestamp(s, 0))
    {
        return Ok(time);
    }
    Err(AppError::Usage(format!(
        "--as-of: `{text}` is not a time (use RFC 3339 such as 2026-11-15T00:00:00Z, a date such as 2026-11-15, or Unix seconds)"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn as_of_accepts_rfc3339_dates_and_epoch_seconds() {
        let expected: DateTime<Utc> = "2026-11-15T00:00:00Z".parse().unwrap();
        assert_eq!(parse_as_of("2026-11-15T00:00:00Z").unwrap(), expected);
        assert_eq!(parse_as_of("2026-11-15T01:00:00+01:00").unwrap(), expected);
        assert_eq!(parse_as_of("2026-11-15").unwrap(), expected);
        assert_eq!(
            parse_as_of(&expected.timestamp().to_string()).unwrap(),
            expected
        );
        let error = parse_as_of("yesterday").unwrap_err().to_string();
        assert!(error.contains("`yesterday`"), "{error}");
    }

    fn request(args: &[&str]) -> Result<Request, String> {
        let cli = Cli::try_parse_from(std::iter::once("trendmaster").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        Request::from_cli(&cli).map_err(|e| e.to_string())
    }

    #[test]
    fn flags_resolve_to_one_command_in_order_of_precedence() {
        let command = |args: &[&str]| request(args).unwrap().command;
        assert_eq!(command(&[]), Command::Run);
        assert_eq!(command(&["--show-env", "--rollback"]), Command::ShowEnv);
        assert_eq!(
            command(&["--validate-only", "--as-of", "soon"]),
            Command::Validate {
                flag_problems: vec![parse_as_of("soon").unwrap_err().to_string()]
            }
        );
        assert_eq!(command(&["--explain", "111:/a"]), Command::Explain);
        assert_eq!(
            command(&["--backtest", "--test-days", "3"]),
            Command::Backtest { test_days: 3 }
        );
        assert_eq!(command(&["--rollback", "2"]), Command::Rollback(2));
        assert_eq!(
            command(&["check", "a.yaml", "--output-format", "json", "b.yaml"]),
            Command::Check {
                files: vec![PathBuf::from("a.yaml"), PathBuf::from("b.yaml")]
            }
        );
        assert_eq!(
            command(&["merge", "a.json"]),
            Command::Merge {
                files: vec![PathBuf::from("a.json")]
            }
        );
        // `--show-env` never reads the window; a run does.
        assert!(request(&["--show-env", "--as-of", "soon"]).is_ok());
        assert!(
            request(&["--as-of", "soon"])
                .unwrap_err()
                .contains("`soon`")
        );
    }

    #[test]
    fn rules_between_flags_are_checked_before_anything_runs() {
        for (args, expected) in [
            (
                &["--force-conflicts"][..],
                "only apply to --apply and --rollback",
            ),
            (
                &["--backtest", "--test-days", "0"],
                "--test-days: must be at least 1",
            ),
            (&["--explain", "111"], "expected PARTNER:API"),
            (&["--explain", "111:/a", "merge"], "do not apply to a merge"),
            (
                &["--shard", "0/2", "--as-of", "2026-11-15", "merge"],
                "do not apply to a merge",
            ),
            (&["-H", "no colon"], "expected 'Name: value'"),
            (
                &["--partners", "111", "--no-charts", "check", "a.yaml"],
                "check takes no --partners, --no-charts: it reads no configuration",
            ),
            (
                &["--gitops-dir", "gitops", "check", "a.yaml"],
                "check takes no --gitops-dir",
            ),
        ] {
            let error = request(args).unwrap_err();
            assert!(error.contains(expected), "{args:?}: {error}");
        }
        let explained = request(&["--explain", " 111 : /a "]).unwrap();
        assert_eq!(explained.run.only, Some(SeriesKey::new("111", "/a")));
        // --validate-only reports problems rather than stopping at the first.
        assert!(request(&["--validate-only", "--force-conflicts"]).is_ok());
    }
}
