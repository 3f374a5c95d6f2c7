//! `--metrics-file` and `--pushgateway`: every run reports on itself in Prometheus' text format
//! (node-exporter's textfile collector, or a Pushgateway), so a nightly job that silently stops,
//! keeps failing or keeps holding changes is noticed by an alert rather than by a person
//! reading logs (`deploy/prometheus/trendmaster-alerts.yaml`).
//!
//! The binary only wires this: [`Recorder::start`] before anything can fail, [`Observed`] filled
//! in by the run as it gets further, [`Recorder::finish`] with the exit code, whatever it is.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tracing::{debug, warn};

use crate::cli::{Cli, Command as CliCommand};
use crate::error::exit;
use crate::result::RunResult;
use trendmaster_types::ChangeStatus;

/// Series with no recommendation, counted beside the plan's statuses.
const SKIPPED: &str = "skipped";

const LAST_SUCCESS: &str = "trendmaster_last_success_timestamp_seconds";

/// What the run got as far as; `execute` fills it in as it goes.
#[derive(Debug, Default)]
pub struct Observed {
    /// The resolved environment's name, once the configuration loaded.
    pub environment: Option<String>,
    /// What the run produced, once it produced a result.
    pub counts: Option<Counts>,
}

/// Entries per plan status and the series analysed, from a run's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counts {
    pub entries: BTreeMap<&'static str, usize>,
    pub series: usize,
}

impl Counts {
    pub fn of(result: &RunResult) -> Self {
        // Every status and `skipped`, written even when zero: a series that is absent then
        // means "the run did not get that far", never "none held".
        let mut entries: BTreeMap<&'static str, usize> = ChangeStatus::ALL
            .iter()
            .map(|status| (status.as_str(), 0))
            .chain([(SKIPPED, 0)])
            .collect();
        for planned in &result.changes.plan {
            *entries.entry(planned.status.as_str()).or_default() += 1;
        }
        // Series with no recommendation; those with a deployed limit are `kept` in the plan too.
        entries.insert(SKIPPED, result.skipped.len());
        Self {
            entries,
            series: result.recommendations.len() + result.skipped.len(),
        }
    }
}

/// Measures one run from its start and reports it at its end.
#[derive(Debug)]
pub struct Recorder {
    file: Option<PathBuf>,
    pushgateway: Option<String>,
    /// The environment as the flags and variables name it, for a run that fails before its
    /// configuration is loaded.
    fallback_environment: String,
    started: Instant,
    pub observed: Observed,
}

impl Recorder {
    /// Starts the clock. Commands that only print (`--show-env`, `--validate-only`,
    /// `--explain`, `check`) report nothing: they are not the job being watched, and a failed
    /// `--validate-only` must not look like a failed night.
    pub fn start(cli: &Cli, fallback_environment: String) -> Self {
        let prints_only = cli.show_env
            || cli.validate_only
            || cli.explain.is_some()
            || matches!(cli.command, Some(CliCommand::Check { .. }));
        Self {
            file: cli.metrics_file.clone().filter(|_| !prints_only),
            pushgateway: cli.pushgateway.clone().filter(|_| !prints_only),
            fallback_environment,
            started: Instant::now(),
            observed: Observed::default(),
        }
    }

    /// Writes and pushes the metrics of a run that exits with `code`. Failures are warnings:
    /// the run's own outcome is what the exit code says, not whether it could report it.
    pub fn finish(self, code: u8) {
        if self.file.is_none() && self.pushgateway.is_none() {
            return;
        }
        let environment = self
            .observed
            .environment
            .clone()
            .unwrap_or_else(|| self.fallback_environment.clone());
        let now = unix_seconds(SystemTime::now());
        let succeeded = code == exit::SUCCESS || code == exit::CHANGES;
        let last_success = if succeeded {
            Some(now)
        } else {
            self.file.as_deref().and_then(previous_success)
        };
        let sample = Sample {
            environment: &environment,
            finished: now,
            duration: self.started.elapsed(),
            exit_code: code,
            last_success,
            counts: self.observed.counts.as_ref(),
        };
        let text = render(&sample);
        if let Some(path) = &self.file {
            match write_atomically(path, &text) {
                Ok(()) => debug!(path = %path.display(), "wrote run metrics"),
                Err(message) => warn!("{message}"),
            }
        }
        if let Some(url) = &self.pushgateway {
            match push(url, &environment, &text) {
                Ok(()) => debug!(url = %trendmaster_types::redact_url(url), "pushed run metrics"),
                Err(message) => warn!("{message}"),
            }
        }
    }
}

/// One run's metrics.
#[derive(Debug)]
pub struct Sample<'a> {
    pub environment: &'a str,
    /// Unix seconds when the run finished.
    pub finished: f64,
    pub duration: Duration,
    pub exit_code: u8,
    /// Unix seconds of the last run that succeeded (this one, or carried over).
    pub last_success: Option<f64>,
    pub counts: Option<&'a Counts>,
}

/// The Prometheus text exposition format (version 0.0.4), as node-exporter's textfile collector
/// and the Pushgateway read it.
pub fn render(sample: &Sample) -> String {
    let label = format!("environment=\"{}\"", escape_label(sample.environment));
    let mut out = String::new();
    let mut gauge = |name: &str, help: &str, samples: &[(String, String)]| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    };
    let one = |value: String| [(label.clone(), value)];
    gauge(
        "trendmaster_last_run_timestamp_seconds",
        "When the last trendmaster run finished, in Unix seconds.",
        &one(format!("{:.3}", sample.finished)),
    );
    gauge(
        "trendmaster_last_run_duration_seconds",
        "How long the last trendmaster run took.",
        &one(format!("{:.3}", sample.duration.as_secs_f64())),
    );
    gauge(
        "trendmaster_last_run_exit_code",
        "Exit code of the last trendmaster run (0 success, 2 changes present or held, 1 runtime failure, 3 invalid configuration, 4 data unavailable).",
        &one(sample.exit_code.to_string()),
    );
    if let Some(success) = sample.last_success {
        gauge(
            LAST_SUCCESS,
            "When a trendmaster run last succeeded (exit 0 or 2), in Unix seconds; failed runs carry it over.",
            &one(format!("{success:.3}")),
        );
    }
    if let Some(counts) = sample.counts {
        let entries: Vec<(String, String)> = counts
            .entries
            .iter()
            .map(|(status, n)| (format!("{label},status=\"{status}\""), n.to_string()))
            .collect();
        gauge(
            "trendmaster_entries",
            "Partner x API entries of the last run that got as far as a plan, by status (skipped: no recommendation).",
            &entries,
        );
        gauge(
            "trendmaster_series_analysed",
            "Series the last run analysed (recommended or skipped).",
            &one(counts.series.to_string()),
        );
    }
    out
}

/// The last success recorded in the metrics file at `path` by an earlier run, so a failing
/// night does not reset it. The file belongs to this job, so its label is not compared: a run
/// that fails before its configuration loads may name the environment by an alias.
pub fn previous_success(path: &Path) -> Option<f64> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return None,
        Err(error) => {
            warn!(
                "--metrics-file {}: cannot read the previous last success: {error}",
                path.display()
            );
            return None;
        }
    };
    text.lines()
        .filter(|line| {
            line.strip_prefix(LAST_SUCCESS)
                .is_some_and(|rest| rest.starts_with(['{', ' ']))
        })
        .find_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .filter(|value| value.is_finite())
}

/// Writes `text` to a temporary file beside `path` and renames it into place, so the textfile
/// collector never reads half a file. The temporary name does not end in `.prom`, which the
/// collector would otherwise pick up.
fn write_atomically(path: &Path, text: &str) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("--metrics-file {}: cannot write: {e}", path.display());
    let name = path
        .file_name()
        .ok_or_else(|| format!("--metrics-file {}: not a file name", path.display()))?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let temporary = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let written = std::fs::File::create(&temporary)
        .and_then(|mut file| {
            file.write_all(text.as_bytes())?;
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&temporary, path));
    if let Err(error) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(fail(error));
    }
    Ok(())
}

/// PUT: the group `job="trendmaster", environment=<env>` is replaced as a whole, as the
/// textfile is, so counts of an earlier run never outlive a failed one.
fn push(url: &str, environment: &str, text: &str) -> Result<(), String> {
    let shown = trendmaster_types::redact_url(url);
    let target = format!(
        "{}/metrics/job/trendmaster/{}",
        url.trim_end_matches('/'),
        grouping_label("environment", environment)
    );
    let fail = |e: reqwest::Error| format!("--pushgateway {shown}: {}", chain(e));
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(fail)?;
    let response = client
        .put(&target)
        .header(
            reqwest::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )
        .body(text.to_owned())
        .send()
        .map_err(fail)?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let body = response.text().unwrap_or_default();
    Err(format!(
        "--pushgateway {shown}: answered {status}: {}",
        trendmaster_types::one_line(body.trim())
    ))
}

/// A reqwest error and its causes on one line, without the URL (it may carry a password).
fn chain(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut parts = vec![error.to_string()];
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

/// A Pushgateway grouping-key path segment: plain when the value is safe in a URL path, else
/// in the Pushgateway's `@base64` form (RFC 4648 URL-safe), so no name can break the path.
fn grouping_label(name: &str, value: &str) -> String {
    let plain = !value.is_empty()
        && value != "."
        && value != ".."
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if plain {
        format!("{name}/{value}")
    } else {
        format!("{name}@base64/{}", base64_url(value.as_bytes()))
    }
}

fn base64_url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    if bytes.is_empty() {
        // The Pushgateway's spelling of an empty value.
        return "=".into();
    }
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    while !out.len().is_multiple_of(4) {
        out.push('=');
    }
    out
}

fn escape_label(value: &str) -> String {
    value
        .replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

fn unix_seconds(time: SystemTime) -> f64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grouping_labels_stay_one_path_segment() {
        assert_eq!(
            grouping_label("environment", "production"),
            "environment/production"
        );
        // RFC 4648 §10 vectors, URL-safe alphabet.
        assert_eq!(base64_url(b"f"), "Zg==");
        assert_eq!(base64_url(b"foob"), "Zm9vYg==");
        assert_eq!(base64_url(b"fooba"), "Zm9vYmE=");
        assert_eq!(base64_url(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64_url(&[0xfb, 0xff]), "-_8=");
        assert_eq!(
            grouping_label("environment", "a/b"),
            "environment@base64/YS9i"
        );
        assert_eq!(grouping_label("environment", ""), "environment@base64/=");
    }

    #[test]
    fn the_last_success_is_read_back_and_labels_are_escaped() {
        let dir = std::env::temp_dir().join(format!("tm-run-metrics-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("m.prom");
        let sample = Sample {
            environment: "a\"b\\c",
            finished: 1_800_000_000.5,
            duration: Duration::from_millis(1500),
            exit_code: 4,
            last_success: Some(1_700_000_000.25),
            counts: None,
        };
        let text = render(&sample);
        assert!(
            text.contains("trendmaster_last_run_exit_code{environment=\"a\\\"b\\\\c\"} 4\n"),
            "{text}"
        );
        assert!(!text.contains("trendmaster_entries"), "{text}");
        write_atomically(&path, &text).unwrap();
        assert_eq!(previous_success(&path), Some(1_700_000_000.25));
        assert_eq!(previous_success(&dir.join("none.prom")), None);
        let names: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file is left behind");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
