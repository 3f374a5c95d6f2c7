//! What goes to stdout: data only, as a table for people or as JSON/YAML for programs.

use serde::Serialize;
use std::fmt::Write as _;
use std::path::PathBuf;
use trendmaster_config::{Discovery, EnvironmentInfo, ResolvedConfig};
use trendmaster_types::{Secret, SourceKind};

use crate::cli::OutputFormat;
use crate::error::AppError;
use crate::result::{Applied, RunResult};

/// Serialises `value` in the machine formats; `None` for text (the caller renders its table).
pub fn machine(value: &impl Serialize, format: OutputFormat) -> Result<Option<String>, AppError> {
    let text = match format {
        OutputFormat::Text => return Ok(None),
        OutputFormat::Json => serde_json::to_string_pretty(value)
            .map(|mut s| {
                s.push('\n');
                s
            })
            .map_err(|e| AppError::Output(format!("cannot render JSON output: {e}")))?,
        OutputFormat::Yaml => serde_yaml::to_string(value)
            .map_err(|e| AppError::Output(format!("cannot render YAML output: {e}")))?,
    };
    Ok(Some(text))
}

/// The run result: a table of limits, or the full result with provenance.
pub fn render_run(result: &RunResult, format: OutputFormat) -> Result<String, AppError> {
    if let Some(text) = machine(result, format)? {
        return Ok(text);
    }
    if let Some(diff) = &result.changes.diff {
        return Ok(diff.clone());
    }
    let api_width = result
        .recommendations
        .iter()
        .map(|r| r.key.api.len())
        .max()
        .unwrap_or(3)
        .max(3);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<8} {:<api_width$} {:>8} {:>9} {:>17} {:<16} {:>7}",
        "PARTNER", "API", "LIMIT", "PEAK", "CONFIDENCE", "PATTERN", "REMOVED"
    );
    for r in &result.recommendations {
        let confidence = format!("{:.2} {}", r.confidence.score, r.confidence.level.as_str());
        let _ = writeln!(
            out,
            "{:<8} {:<api_width$} {:>8} {:>9.1} {:>17} {:<16} {:>7}",
            r.key.partner,
            r.key.api,
            r.requests_per_minute,
            r.effective_peak,
            confidence,
            r.pattern.as_str(),
            r.analysis.points.removed
        );
    }
    for s in &result.skipped {
        let _ = writeln!(
            out,
            "{:<8} {:<api_width$} {:>8} {}",
            s.key.partner, s.key.api, "-", s.reason
        );
    }
    Ok(out)
}

/// `--explain`: the derivation as text, or the recommendation with its plan entry as data.
pub fn render_explanation(
    result: &RunResult,
    config: &ResolvedConfig,
    format: OutputFormat,
) -> Result<String, AppError> {
    let Some(rec) = result.recommendations.first() else {
        let reason = result
            .skipped
            .first()
            .map_or("no recommendation".to_owned(), |s| {
                format!("{}: {}", s.key, s.reason)
            });
        return Err(AppError::NothingToEmit(format!("--explain: {reason}")));
    };
    let planned = result.changes.plan.iter().find(|p| p.key == rec.key);
    #[derive(Serialize)]
    struct Explained<'a> {
        recommendation: &'a trendmaster_types::RateRecommendation,
        plan: Option<&'a trendmaster_types::PlannedLimit>,
    }
    if let Some(text) = machine(
        &Explained {
            recommendation: rec,
            plan: planned,
        },
        format,
    )? {
        return Ok(text);
    }
    Ok(trendmaster_report::render_explanation(
        rec,
        planned,
        &config.configmap,
    ))
}

/// `--backtest`: the comparison as a table, or in full as data.
pub fn render_backtest(
    result: &crate::backtest::BacktestResult,
    format: OutputFormat,
) -> Result<String, AppError> {
    Ok(match machine(result, format)? {
        Some(text) => text,
        None => crate::backtest::render_table(result),
    })
}

/// `--rollback`: what was restored.
pub fn render_applied(applied: &Applied, format: OutputFormat) -> Result<String, AppError> {
    if let Some(text) = machine(applied, format)? {
        return Ok(text);
    }
    let mut out = format!(
        "applied configmap {} at {} (resourceVersion {})\n",
        applied.configmap,
        applied.server,
        applied.resource_version.as_deref().unwrap_or("?")
    );
    if let Some(path) = &applied.restored_from {
        let _ = writeln!(out, "restored from: {}", path.display());
    }
    if let Some(path) = &applied.saved_previous {
        let _ = writeln!(out, "replaced object saved to: {}", path.display());
    }
    Ok(out)
}

/// `--show-env`: what this run would use, secrets redacted.
#[derive(Debug, Serialize)]
pub struct EnvironmentReport<'a> {
    pub environment: &'a EnvironmentInfo,
    /// How the environment was chosen, in words.
    pub detected_from: String,
    pub config_files: &'a [String],
    pub source: &'a SourceKind,
    /// With any password in it redacted.
    pub prometheus_url: String,
    pub prometheus_token: Option<&'a Secret>,
    pub query_preset: &'a str,
    pub dry_run: bool,
    /// `--apply`/`--rollback` need `--confirm-production`.
    pub protected: bool,
    /// The ConfigMap trendmaster reads and applies, as namespace/name.
    pub configmap: String,
    pub kube_context: &'a str,
    pub discover_from_deployed: bool,
    pub calculation_mode: &'static str,
    pub safety_margin: f64,
    pub days: u32,
    pub step_seconds: u32,
    pub output_dir: &'a PathBuf,
    pub partners: &'a [String],
    pub apis: &'a [String],
    /// `partners: auto` / `apis: auto`: then `partners`/`apis` only narrow what is found.
    pub discovery: Discovery,
}

impl<'a> EnvironmentReport<'a> {
    pub fn new(config: &'a ResolvedConfig) -> Self {
        Self {
            environment: &config.environment,
            detected_from: config.environment.to_string(),
            config_files: &config.config_files,
            source: &config.source,
            prometheus_url: trendmaster_types::redact_url(&config.prometheus_url),
            prometheus_token: config.prometheus_token.as_ref(),
            query_preset: &config.prometheus.preset,
            dry_run: config.dry_run,
            protected: config.protected,
            configmap: format!("{}/{}", config.configmap.namespace, config.configmap.name),
            kube_context: &config.kube_context,
            discover_from_deployed: config.discover_from_deployed,
            calculation_mode: config.rate.calculation_mode.as_str(),
            safety_margin: config.rate.safety_margin,
            days: config.days,
            step_seconds: config.step_secs,
            output_dir: &config.output_dir,
            partners: &config.partners,
            apis: &config.apis,
            discovery: config.discovery,
        }
    }
}

pub fn render_environment(
    report: &EnvironmentReport,
    format: OutputFormat,
) -> Result<String, AppError> {
    if let Some(text) = machine(report, format)? {
        return Ok(text);
    }
    let mut out = String::new();
    let line = |out: &mut String, label: &str, value: &dyn std::fmt::Display| {
        // At least one space after a label, however long.
        let _ = writeln!(out, "{label:<14} {value}");
    };
    line(&mut out, "environment:", &report.environment.name);
    line(&mut out, "detected from:", &report.detected_from);
    if !report.environment.description.is_empty() {
        line(&mut out, "description:", &report.environment.description);
    }
    line(&mut out, "config files:", &report.config_files.join(", "));
    line(&mut out, "data source:", report.source);
    let token = report
        .prometheus_token
        .map_or("none".to_string(), ToString::to_string);
    line(
        &mut out,
        "prometheus:",
        &format!("{} (token: {token})", report.prometheus_url),
    );
    line(&mut out, "dry run:", &report.dry_run);
    line(&mut out, "protected:", &report.protected);
    let context = if report.kube_context.is_empty() {
        "current context, or in-cluster"
    } else {
        report.kube_context
    };
    line(
        &mut out,
        "configmap:",
        &format!("{} (kube context: {context})", report.configmap),
    );
    if report.discover_from_deployed {
        line(
            &mut out,
            "series:",
            &"those of the deployed ConfigMap when one is read (--cluster, --apply, --current-from)",
        );
    }
    line(&mut out, "mode:", &report.calculation_mode);
    line(&mut out, "safety margin:", &report.safety_margin);
    line(
        &mut out,
        "window:",
        &format!("{} days at {} s steps", report.days, report.step_seconds),
    );
    line(&mut out, "output dir:", &report.output_dir.display());
    line(
        &mut out,
        &format!(
            "partners ({}):",
            count(report.partners, report.discovery.partners)
        ),
        &listed(report.partners, report.discovery.partners),
    );
    let _ = writeln!(
        out,
        "apis ({}):{}",
        count(report.apis, report.discovery.apis),
        if report.discovery.apis && report.apis.is_empty() {
            " discovered from the data at run time"
        } else {
            ""
        }
    );
    for api in report.apis {
        let _ = writeln!(out, "  {api}");
    }
    Ok(out)
}

/// How many are selected: a count, or `auto` when they are discovered from the data.
fn count(items: &[String], discovered: bool) -> String {
    match (discovered, items.len()) {
        (false, n) => n.to_string(),
        (true, 0) => "auto".into(),
        (true, n) => format!("auto, narrowed to {n}"),
    }
}

fn listed(items: &[String], discovered: bool) -> String {
    if discovered && items.is_empty() {
        "discovered from the data at run time".into()
    } else {
        items.join(", ")
    }
}

/// `--validate-only` verdict.
#[derive(Debug, Serialize)]
pub struct Validation<'a> {
    pub valid: bool,
    pub environment: Option<&'a str>,
    pub partners: usize,
    pub apis: usize,
    /// Present when the configuration loaded; `partners`/`apis` are 0 under `auto`.
    pub discovery: Option<Discovery>,
    pub problems: Vec<String>,
}

pub fn render_validation(
    validation: &Validation,
    format: OutputFormat,
) -> Result<String, AppError> {
    if let Some(text) = machine(validation, format)? {
        return Ok(text);
    }
    Ok(if validation.valid {
        let discovery = validation.discovery;
        let partners = discovery.is_some_and(|d| d.partners);
        let apis = discovery.is_some_and(|d| d.apis);
        format!(
            "configuration is valid: environment `{}`, {} partners × {} APIs\n",
            validation.environment.unwrap_or("?"),
            if partners && validation.partners == 0 {
                "auto".to_string()
            } else {
                validation.partners.to_string()
            },
            if apis && validation.apis == 0 {
                "auto".to_string()
            } else {
                validation.apis.to_string()
            }
        )
    } else {
        format!(
            "configuration is invalid: {} problems\n",
            validation.problems.len()
        )
    })
}
