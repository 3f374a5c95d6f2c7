//! `trendmaster check FILE…`: reads the files, has the emit crate check them side by side
//! ([`trendmaster_emit::check_files`]), and turns its report into a verdict on stdout and one
//! line per problem on stderr. No configuration is read and nothing is written.

use std::path::PathBuf;

use serde::Serialize;
use trendmaster_emit::{CheckReport, CheckSource, DocumentKind};

use crate::cli::OutputFormat;
use crate::error::AppError;

/// The verdict on stdout.
#[derive(Debug, Serialize)]
pub struct Verdict {
    /// Every file was read and has no problem.
    pub valid: bool,
    /// Each file, in the order given.
    pub files: Vec<FileVerdict>,
    /// Every problem, file by file.
    pub problems: Vec<Problem>,
}

#[derive(Debug, Serialize)]
pub struct FileVerdict {
    pub file: String,
    pub valid: bool,
    /// What each of its YAML documents is; empty when it could not be read.
    pub documents: Vec<DocumentKind>,
    pub problems: usize,
}

#[derive(Debug, Serialize)]
pub struct Problem {
    pub file: String,
    /// Where in the document, e.g. `data["config.yaml"].descriptors[0]`; empty for the file.
    pub path: String,
    pub message: String,
    /// Who would refuse it: `loader` (the ratelimit service), `kubernetes`, `istio`,
    /// `trendmaster` (stricter than the service), or `read` (the file could not be read).
    pub source: &'static str,
    /// The line printed on stderr.
    pub line: String,
}

/// Checks `files`: the verdict rendered for stdout, and the problems' lines when there are any.
pub fn check(files: &[PathBuf], format: OutputFormat) -> Result<(String, Vec<String>), AppError> {
    let mut unreadable = Vec::new();
    let mut texts = Vec::new();
    for path in files {
        let name = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => texts.push((name, text)),
            Err(error) => unreadable.push(Problem {
                line: format!("{name}: cannot read it: {error}"),
                message: format!("cannot read it: {error}"),
                file: name,
                path: String::new(),
                source: "read",
            }),
        }
    }
    let report = trendmaster_emit::check_files(texts.iter().map(|(n, t)| (n.as_str(), t.as_str())));
    let verdict = verdict(files, report, unreadable);
    let lines = verdict.problems.iter().map(|p| p.line.clone()).collect();
    Ok((render(&verdict, format)?, lines))
}

fn verdict(files: &[PathBuf], report: CheckReport, unreadable: Vec<Problem>) -> Verdict {
    let mut problems: Vec<Problem> = report
        .problems
        .iter()
        .map(|problem| Problem {
            file: problem.file.clone(),
            path: problem.path.clone(),
            message: problem.message.clone(),
            source: match problem.source {
                CheckSource::Loader => "loader",
                CheckSource::Kubernetes => "kubernetes",
                CheckSource::Istio => "istio",
                CheckSource::Trendmaster => "trendmaster",
            },
            line: problem.to_string(),
        })
        .chain(unreadable)
        .collect();
    let order: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    problems.sort_by_key(|p| order.iter().position(|f| *f == p.file));
    let mut seen = Vec::new();
    let files = order
        .into_iter()
        .filter(|file| {
            let first = !seen.contains(file);
            seen.push(file.clone());
            first
        })
        .map(|file| {
            let documents = report
                .files
                .iter()
                .find(|checked| checked.file == file)
                .map(|checked| checked.documents.clone())
                .unwrap_or_default();
            let count = problems.iter().filter(|p| p.file == file).count();
            FileVerdict {
                valid: count == 0,
                documents,
                problems: count,
                file,
            }
        })
        .collect();
    Verdict {
        valid: problems.is_empty(),
        files,
        problems,
    }
}

fn render(verdict: &Verdict, format: OutputFormat) -> Result<String, AppError> {
    if let Some(text) = crate::stdout::machine(verdict, format)? {
        return Ok(text);
    }
    let mut out = String::new();
    for file in &verdict.files {
        let kinds: Vec<&str> = file
            .documents
            .iter()
            .map(|kind| match kind {
                DocumentKind::Ratelimit => "ratelimit file",
                DocumentKind::ConfigMap => "ConfigMap",
                DocumentKind::EnvoyFilter => "EnvoyFilter",
                DocumentKind::Other => "other",
            })
            .collect();
        let what = if kinds.is_empty() {
            "unreadable".to_owned()
        } else {
            kinds.join(", ")
        };
        let status = match file.problems {
            0 => "valid".to_owned(),
            n => count(n, "problem"),
        };
        out.push_str(&format!("{}: {status} ({what})\n", file.file));
    }
    let invalid = verdict.files.iter().filter(|f| !f.valid).count();
    out.push_str(&format!(
        "checked {}: {} valid, {invalid} with problems ({})\n",
        count(verdict.files.len(), "file"),
        verdict.files.len() - invalid,
        count(verdict.problems.len(), "problem")
    ));
    Ok(out)
}

fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}
