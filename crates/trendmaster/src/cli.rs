//! Every command-line flag, in one place, with its help text.

use clap::{Parser, ValueEnum};
use std::path::PathBuf;
use trendmaster_types::settings::ForecasterKind;
use trendmaster_types::{CalculationMode, SourceKind};

/// Envoy rate-limit ConfigMaps from per-partner, per-API traffic history.
///
/// Reads request history (built-in demo traffic, Prometheus or a file), removes anomalies, takes
/// each day's prime-time peak and turns it into a limit with the v3 formula, then writes a
/// ConfigMap and a report to the output directory. Logs go to stderr; stdout carries data only.
///
/// Exit codes: 0 success, 1 runtime failure, 2 changes present or held (only with
/// --detailed-exitcode), 3 invalid configuration or usage, 4 data source unavailable.
#[derive(Debug, Parser)]
#[command(name = "trendmaster", version, max_term_width = 100)]
// Where the deployed configuration comes from: a file, or the cluster (`--cluster` and
// `--apply` read it there; `--current-from` conflicts with both).
#[command(group(clap::ArgGroup::new("deployed").multiple(true)))]
pub struct Cli {
    /// Configuration file [default: config/config.yaml when present, else built-in defaults]
    #[arg(short = 'c', long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Environment to run for [default: from ENVIRONMENT, ENV, TRENDMASTER_ENV or DEPLOYMENT_ENV,
    /// else `environment`]
    #[arg(long = "env", value_name = "NAME")]
    pub environment: Option<String>,

    /// Print the detected environment and effective settings, then exit
    #[arg(long, conflicts_with = "validate_only")]
    pub show_env: bool,

    /// Check the configuration and the selected partners/APIs, report every problem, then exit
    #[arg(long)]
    pub validate_only: bool,

    /// Only these partners (comma-separated ids), each of which must be configured
    #[arg(long, value_delimiter = ',', value_name = "IDS")]
    pub partners: Option<Vec<String>>,

    /// Only these API paths (comma-separated), each of which must be configured
    #[arg(long, value_delimiter = ',', value_name = "PATHS")]
    pub apis: Option<Vec<String>>,

    /// Formula: `adaptive` (full v3 chain) or `fixed` (peak × multiplier × cache × margin)
    #[arg(long, value_enum)]
    pub mode: Option<ModeArg>,

    /// Forecaster: mstl (default), prophet (needs a build with the `prophet` feature) or none
    #[arg(long, value_enum)]
    pub forecaster: Option<ForecasterArg>,

    /// Traffic source: demo, prometheus or file:PATH [default: the environment's DATA_SOURCE]
    #[arg(long, value_name = "SOURCE")]
    pub source: Option<SourceKind>,

    /// Days of history to analyse
    #[arg(long, value_name = "N")]
    pub days: Option<u32>,

    /// Grid step, e.g. 1m, 5m, 300s (must divide one hour)
    #[arg(long, value_name = "DURATION")]
    pub step: Option<String>,

    /// Analyse the window ending at this time (RFC 3339, YYYY-MM-DD or Unix seconds) instead of
    /// now; the same value gives the same output
    #[arg(long, value_name = "TIMESTAMP")]
    pub as_of: Option<String>,

    /// Directory for ConfigMaps and reports
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,

    /// Prometheus or Trickster base URL
    #[arg(long, value_name = "URL")]
    pub prometheus_url: Option<String>,

    /// Extra HTTP header for Prometheus, e.g. -H 'X-Scope-OrgID: tenant-1' (repeatable)
    #[arg(short = 'H', long = "header", value_name = "'NAME: VALUE'")]
    pub headers: Vec<String>,

    /// Prometheus query preset (an entry of COMMON.PROMETHEUS_CONFIG.presets: nginx, istio, …)
    #[arg(long, value_name = "NAME")]
    pub query_preset: Option<String>,

    /// Per-query timeout for Prometheus, e.g. 30s
    #[arg(long, value_name = "DURATION")]
    pub prometheus_timeout: Option<String>,

    /// Cache Prometheus responses in DIR, so re-runs do not query again
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Answer from --cache-dir only; never send a query
    #[arg(long, requires = "cache_dir")]
    pub offline: bool,

    /// Also write the fetched traffic to PATH (.csv or .parquet), the file source's format
    #[arg(long, value_name = "PATH")]
    pub export_data: Option<PathBuf>,

    /// File source: add up rows that fall into the same grid bucket instead of rejecting them
    #[arg(long)]
    pub sum_duplicates: bool,

    /// The deployed ConfigMap (or ratelimit file) to compare with: prints the changes, holds big
    /// ones, and carries over every entry trendmaster does not manage
    #[arg(long, value_name = "FILE", group = "deployed", conflicts_with_all = ["cluster", "apply"])]
    pub current_from: Option<PathBuf>,

    /// Read the deployed ConfigMap (CONFIGMAP.namespace/name) from the cluster, as
    /// --current-from does from a file
    #[arg(long, group = "deployed")]
    pub cluster: bool,

    /// Apply the emitted ConfigMap (the --profile variant) to the cluster: server-side apply as
    /// field manager `trendmaster`, a server dry run first, the replaced object saved to
    /// OUTPUT/history/ first. Refused where the environment is DRY_RUN
    #[arg(long, group = "deployed")]
    pub apply: bool,

    /// Re-apply the Nth most recent saved version from OUTPUT/history/ (1 = the object the
    /// last apply replaced); the current object is saved first, so a second rollback undoes it
    #[arg(long, value_name = "N", num_args = 0..=1, default_missing_value = "1",
          conflicts_with_all = ["deployed", "validate_only"])]
    pub rollback: Option<usize>,

    /// kubeconfig file [default: KUBECONFIG, else ~/.kube/config, else the in-cluster service
    /// account]
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,

    /// kubeconfig context [default: ENVIRONMENTS.<env>.KUBE_CONTEXT, else the current context]
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,

    /// With --apply or --rollback: take over fields another field manager owns (a 409
    /// conflict otherwise)
    #[arg(long)]
    pub force_conflicts: bool,

    /// With --apply or --rollback in a PROTECTED environment (production): yes, really
    #[arg(long)]
    pub confirm_production: bool,

    /// Also write the local rate-limit EnvoyFilter (COMMON.LOCAL_RATELIMIT.enabled does it
    /// always)
    #[arg(long)]
    pub local_ratelimit: bool,

    /// Release a held change: PARTNER:API, or `all` (repeatable)
    #[arg(long, value_name = "PARTNER:API", requires = "deployed")]
    pub approve: Vec<String>,

    /// Print a unified diff of the deployed ratelimit file against the emitted one on stdout
    /// instead of the table (in JSON/YAML output: `changes.diff`)
    #[arg(long, requires = "deployed")]
    pub diff: bool,

    /// Exit 2 when the emitted limits differ from the deployed ones or changes are held, 0 when
    /// nothing changes (errors stay 1, 3, 4)
    #[arg(long)]
    pub detailed_exitcode: bool,

    /// Emit new and changed limits with `shadow_mode: true` (the ratelimit service counts what
    /// it would reject but lets it through); a later run without it enforces them
    #[arg(long)]
    pub shadow: bool,

    /// Which limits latest_configmap.yaml holds: normal, or degraded (each tier cut by its
    /// degraded_factor, for an incident); both variants are always written
    #[arg(long, value_enum, default_value_t = ProfileArg::Normal)]
    pub profile: ProfileArg,

    /// Print how one entry's limit is derived, step by step, down to the number the ConfigMap
    /// holds; analyses only that series and writes nothing
    #[arg(long, value_name = "PARTNER:API", conflicts_with_all = ["apply", "rollback", "validate_only", "show_env"])]
    pub explain: Option<String>,

    /// Would the limits have hurt? Compute limits on the --days before the last --test-days,
    /// replay those test days minute by minute through the ratelimit service's windows, and
    /// compare the original v1 rule, the original v3 and trendmaster; writes the result as
    /// backtest_<stamp>.json and a chart (.svg, .png)
    #[arg(long, conflicts_with_all = ["apply", "rollback", "explain", "validate_only", "show_env", "deployed"])]
    pub backtest: bool,

    /// With --backtest: days replayed after the training window
    #[arg(long, value_name = "N", default_value_t = 7, requires = "backtest")]
    pub test_days: u32,

    /// Skip the charts (output/plots/) and the HTML report that shows them
    #[arg(long)]
    pub no_charts: bool,

    /// After a successful run, also write the files for the cluster into DIR under fixed names
    /// for a GitOps repository (Argo CD, Flux): ratelimit-configmap.yaml (the --profile
    /// variant), global-envoyfilter.yaml and local-envoyfilter.yaml when enabled,
    /// prometheusrule.yaml with COMMON.ALERTS, and a kustomization.yaml listing them. Their bytes
    /// change only when the limits do (no window in them); files of ours no longer written are
    /// removed, nothing else in DIR is touched
    #[arg(long, value_name = "DIR", conflicts_with_all = ["shard", "explain", "backtest", "rollback"])]
    pub gitops_dir: Option<PathBuf>,

    /// Analyse part I of N of the fleet (0-based I, partners split by a stable hash) and write
    /// OUTPUT/shards/<window end>/shard-I-of-N.json for `trendmaster merge`; needs --as-of, so
    /// that every shard analyses the same window. Give shards the merge's --cluster or
    /// --current-from too: they decide which entries are analysed (DISCOVER_FROM_DEPLOYED) and
    /// which charts are kept
    #[arg(long, value_name = "I/N", requires = "as_of", conflicts_with_all = ["apply", "rollback", "explain", "backtest", "show_env", "export_data"])]
    pub shard: Option<crate::shard::Shard>,

    /// Measure the run: wall time, per-stage time, peak memory and series per second, logged
    /// and added to the --output-format json|yaml result as `timings`
    #[arg(long)]
    pub timings: bool,

    /// At the end of the run, whatever its exit code, write its metrics to PATH in Prometheus'
    /// text format for node-exporter's textfile collector (last run, duration, exit code, last
    /// success, entries by status); the last success of a failed run is carried over from the
    /// file. Written to a temporary file and renamed; a failure to write is a warning. Not
    /// written by --show-env, --validate-only, --explain or check
    #[arg(long, value_name = "PATH")]
    pub metrics_file: Option<PathBuf>,

    /// Also PUT the same metrics to a Prometheus Pushgateway at URL, as the group
    /// job=trendmaster, environment=<env>; a failed push is a warning. Give --metrics-file too,
    /// or a failed run cannot carry the last success over
    #[arg(long, value_name = "URL")]
    pub pushgateway: Option<String>,

    /// What to do; without a command, analyse and emit
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Seed of the demo traffic simulator
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Format of the result on stdout
    #[arg(long, value_enum, default_value_t = OutputFormat::Text, global = true)]
    pub output_format: OutputFormat,

    /// More logging on stderr (-v debug, -vv trace); overrides LOG_LEVEL and RUST_LOG
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Format of log lines
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Also write logs to FILE [default with no value: logs/trendmaster_<env>_<timestamp>.log]
    #[arg(long, value_name = "FILE", num_args = 0..=1)]
    pub log_file: Option<Option<PathBuf>>,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Combine the shard files of `--shard I/N` runs into the final ConfigMaps and report, as
    /// one unsharded run would have written them. Flags go before `merge`, and must match the
    /// shard runs' (the same config, environment and --as-of); --current-from, --cluster,
    /// --apply and --approve work as in a normal run
    Merge {
        /// Shard files [default: all of OUTPUT/shards/<--as-of window end>/]
        #[arg(value_name = "SHARD_FILE")]
        files: Vec<PathBuf>,
    },
    /// Check deployed files offline, as a pre-merge CI step: bare ratelimit config files,
    /// ConfigMaps holding them and trendmaster's EnvoyFilters. Reports every problem on
    /// stderr, one line each with its file and where in it, and a verdict on stdout
    /// (--output-format json|yaml for programs); exit 0 when every file passes, 3 otherwise.
    /// Reads no configuration and writes nothing
    Check {
        /// Files to check; bare ratelimit files given together are checked as one config
        /// directory (a domain in two of them is refused)
        #[arg(value_name = "FILE", required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    Fixed,
    Adaptive,
}

impl From<ModeArg> for CalculationMode {
    fn from(mode: ModeArg) -> Self {
        match mode {
            ModeArg::Fixed => CalculationMode::Fixed,
            ModeArg::Adaptive => CalculationMode::Adaptive,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ForecasterArg {
    Mstl,
    Prophet,
    None,
}

impl From<ForecasterArg> for ForecasterKind {
    fn from(kind: ForecasterArg) -> Self {
        match kind {
            ForecasterArg::Mstl => ForecasterKind::Mstl,
            ForecasterArg::Prophet => ForecasterKind::Prophet,
            ForecasterArg::None => ForecasterKind::None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProfileArg {
    Normal,
    Degraded,
}

impl From<ProfileArg> for trendmaster_types::Profile {
    fn from(profile: ProfileArg) -> Self {
        match profile {
            ProfileArg::Normal => Self::Normal,
            ProfileArg::Degraded => Self::Degraded,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// A table for people
    Text,
    /// The full result, provenance included
    Json,
    /// The full result, provenance included
    Yaml,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn flag_definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn original_flags_keep_their_meaning() {
        let cli = Cli::try_parse_from([
            "trendmaster",
            "-c",
            "my.yaml",
            "--partners",
            "111,222",
            "--apis",
            "/a,/b",
            "--output-format",
            "json",
            "-vv",
            "--mode",
            "fixed",
            "--source",
            "file:t.csv",
        ])
        .unwrap();
        assert_eq!(cli.config, Some(PathBuf::from("my.yaml")));
        assert_eq!(
            cli.partners,
            Some(vec!["111".to_string(), "222".to_string()])
        );
        assert_eq!(cli.apis, Some(vec!["/a".to_string(), "/b".to_string()]));
        assert_eq!(cli.output_format, OutputFormat::Json);
        assert_eq!(cli.verbose, 2);
        assert_eq!(cli.mode, Some(ModeArg::Fixed));
        assert_eq!(cli.source, Some(SourceKind::File("t.csv".into())));
        assert!(Cli::try_parse_from(["trendmaster", "--source", "influx"]).is_err());
        assert!(Cli::try_parse_from(["trendmaster", "--show-env", "--validate-only"]).is_err());
        assert!(
            Cli::try_parse_from(["trendmaster", "--offline"]).is_err(),
            "--offline needs --cache-dir"
        );
        let cli = Cli::try_parse_from(["trendmaster", "-H", "A: 1", "--header", "B: 2"]).unwrap();
        assert_eq!(cli.headers, ["A: 1", "B: 2"]);
        assert!(
            Cli::try_parse_from(["trendmaster", "--approve", "all"]).is_err(),
            "--approve needs a deployed configuration"
        );
        assert!(Cli::try_parse_from(["trendmaster", "--approve", "all", "--cluster"]).is_ok());
        assert!(Cli::try_parse_from(["trendmaster", "--cluster", "--apply"]).is_ok());
        assert!(
            Cli::try_parse_from(["trendmaster", "--current-from", "f", "--apply"]).is_err(),
            "the deployed state comes from one place"
        );
        let cli = Cli::try_parse_from(["trendmaster", "--rollback"]).unwrap();
        assert_eq!(cli.rollback, Some(1));
        let cli = Cli::try_parse_from(["trendmaster", "--rollback", "3"]).unwrap();
        assert_eq!(cli.rollback, Some(3));
        assert!(Cli::try_parse_from(["trendmaster", "--rollback", "--apply"]).is_err());
        for other in [
            &["--shard", "0/2", "--as-of", "2026-11-15"][..],
            &["--explain", "111:/a"],
            &["--backtest"],
            &["--rollback"],
        ] {
            let mut args = vec!["trendmaster", "--gitops-dir", "gitops"];
            args.extend_from_slice(other);
            assert!(
                Cli::try_parse_from(args).is_err(),
                "--gitops-dir is for a run that emits, not {other:?}"
            );
        }
        let cli = Cli::try_parse_from(["trendmaster", "--gitops-dir", "g", "--apply"]).unwrap();
        assert_eq!(cli.gitops_dir, Some(PathBuf::from("g")));
    }

    #[test]
    fn log_file_value_is_optional() {
        let cli = Cli::try_parse_from(["trendmaster", "--log-file"]).unwrap();
        assert_eq!(cli.log_file, Some(None));
        let cli = Cli::try_parse_from(["trendmaster", "--log-file", "x.log"]).unwrap();
        assert_eq!(cli.log_file, Some(Some(PathBuf::from("x.log"))));
        assert_eq!(Cli::try_parse_from(["trendmaster"]).unwrap().log_file, None);
    }
}
