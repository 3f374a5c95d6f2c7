//! `trendmaster check`: offline validation of the files trendmaster deals in, as a pre-merge
//! step for a GitOps repository: bare ratelimit config files, the Kubernetes ConfigMaps that
//! carry them, and trendmaster's Istio EnvoyFilters (local and global).
//!
//! Every problem is reported, not only the first, each with its file, the path inside the
//! document (`data["config.yaml"].descriptors[0].rate_limit`) and who would object
//! ([`CheckSource`]): the ratelimit service's loader (its own message, verbatim), the Kubernetes
//! API server, Istio or Envoy, or only trendmaster, which is stricter than all of them (its
//! problems display as `stricter than the service: …`).
//!
//! What a file is comes from its first YAML document: one with a `kind` is a stream of
//! manifests, each `ConfigMap` and `EnvoyFilter` in it checked (other kinds are skipped when the
//! stream holds several documents, refused when they are the whole file); anything else is a
//! bare ratelimit file, read as the service reads it, first document only.
//!
//! Files are checked side by side as the service loads them: the bare ratelimit files given
//! together form one config directory, and so do the data keys of one ConfigMap (a domain in
//! two of them is refused, as without `MERGE_DOMAIN_CONFIG`). Two ConfigMaps are two
//! directories: a GitOps tree holds one per cluster or profile. A global EnvoyFilter checked
//! with ratelimit files must name one of their domains: the service answers OK to a domain it
//! does not know, so a mismatch would limit nothing, silently.
//!
//! Not checked: that Envoy's actions build descriptors the config has limits for (the
//! EnvoyFilters trendmaster writes do so by construction), wildcard overlap, and anything that
//! needs the cluster (the ConfigMap mounted without `subPath`, the ratelimit image's version).

mod envoyfilter;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use k8s_openapi::api::core::v1::ConfigMap;
use serde::Deserialize;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_yaml::Value;
use trendmaster_types::one_line;

use crate::kube_rules::check_configmap;
use crate::ratelimit::{LoaderError, RuleSource, validate_ratelimit_files};

/// Who would refuse what a [`CheckProblem`] describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckSource {
    /// The ratelimit service refuses to load the file; the message is its loader's.
    Loader,
    /// The Kubernetes API server (or kubectl) refuses the object.
    Kubernetes,
    /// Istio refuses the EnvoyFilter, or Envoy rejects the configuration it patches in (Istio
    /// then reports the object as accepted, and it does nothing).
    Istio,
    /// Every one of them accepts it, but trendmaster refuses it: stricter than the service.
    Trendmaster,
}

/// One problem in one file.
///
/// Displays as `<file>: <message> (at <path>)`, the loader's own `<file>: <message>` with the
/// place added; problems only trendmaster objects to read `<file>: stricter than the service:
/// <message> (at <path>)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckProblem {
    /// The file as it was named to the check.
    pub file: String,
    /// Where in the document, e.g. `data["config.yaml"].descriptors[0]`; empty for the file.
    pub path: String,
    /// What is wrong, in the words of whoever would refuse it where they are known.
    pub message: String,
    /// Who would refuse it.
    pub source: CheckSource,
}

impl fmt::Display for CheckProblem {
    /// One line: messages quote the file's own keys and values, which may hold line breaks.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", one_line(&self.file))?;
        if self.source == CheckSource::Trendmaster {
            f.write_str("stricter than the service: ")?;
        }
        f.write_str(&one_line(&self.message))?;
        if !self.path.is_empty() {
            write!(f, " (at {})", one_line(&self.path))?;
        }
        Ok(())
    }
}

/// What a checked document turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    /// A bare envoyproxy/ratelimit config file.
    Ratelimit,
    /// A Kubernetes `ConfigMap` whose data keys are ratelimit config files.
    #[serde(rename = "configmap")]
    ConfigMap,
    /// An Istio `EnvoyFilter`.
    #[serde(rename = "envoyfilter")]
    EnvoyFilter,
    /// A manifest of another kind, or a document that could not be read.
    Other,
}

/// One file's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckedFile {
    /// The file as it was named to the check.
    pub file: String,
    /// What each of its documents is, in order.
    pub documents: Vec<DocumentKind>,
    /// How many of the report's problems are in this file.
    pub problems: usize,
}

/// The verdict on every file checked together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    /// Each file, in the order given.
    pub files: Vec<CheckedFile>,
    /// Every problem, file by file in the order given.
    pub problems: Vec<CheckProblem>,
}

impl CheckReport {
    /// No problem at all.
    pub fn valid(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Checks one file on its own (see [`check_files`]).
pub fn check_file(name: &str, text: &str) -> Vec<CheckProblem> {
    check_files([(name, text)]).problems
}

/// Checks `(name, text)` files side by side (see the module docs) and reports every problem.
pub fn check_files<'a>(files: impl IntoIterator<Item = (&'a str, &'a str)>) -> CheckReport {
    let mut check = Check::default();
    let mut names = Vec::new();
    for (name, text) in files {
        names.push(name.to_owned());
        check.file(name, text);
    }
    check.finish(names)
}

/// The state of one `check_files` call: the files seen so far and what they reveal about each
/// other.
#[derive(Default)]
struct Check<'a> {
    problems: Vec<CheckProblem>,
    documents: BTreeMap<String, Vec<DocumentKind>>,
    /// Bare ratelimit files, loaded side by side at the end.
    ratelimit_files: Vec<(&'a str, &'a str)>,
    /// Domains of every ratelimit file and ConfigMap data key.
    domains: BTreeSet<String>,
    /// `(file, path, domain)` of every global rate-limit filter, matched against `domains`.
    filter_domains: Vec<(String, String, String)>,
}

impl<'a> Check<'a> {
    fn file(&mut self, name: &'a str, text: &'a str) {
        // Up to the first document that fails: the parser does not recover from an error,
        // and the iterator would repeat it forever.
        let mut documents: Vec<Result<Value, serde_yaml::Error>> = Vec::new();
        for document in serde_yaml::Deserializer::from_str(text) {
            let document = Value::deserialize(document);
            let failed = document.is_err();
            documents.push(document);
            if failed {
                break;
            }
        }
        let is_manifest = match documents.first() {
            Some(Ok(first)) => first.get("kind").is_some(),
            // Unreadable: a manifest if it looks like one, else the loader says why.
            Some(Err(_)) => text
                .lines()
                .any(|line| line.starts_with("kind:") || line.starts_with("apiVersion:")),
            None => false,
        };
        if !is_manifest {
            self.kinds(name).push(DocumentKind::Ratelimit);
            self.domains.extend(domain_of(documents.first()));
            self.ratelimit_files.push((name, text));
            return;
        }
        let several = documents.len() > 1;
        for (i, document) in documents.iter().enumerate() {
            let mut at = Sink {
                file: name,
                base: if several {
                    format!("documents[{i}]")
                } else {
                    String::new()
                },
                problems: Vec::new(),
            };
            let kind = match document {
                Err(err) => {
                    at.push(CheckSource::Kubernetes, "", format!("not YAML: {err}"));
                    DocumentKind::Other
                }
                // `---` at the end of a file, or an empty document between two.
                Ok(Value::Null) => continue,
                Ok(document) => match document.get("kind").and_then(Value::as_str) {
                    Some("ConfigMap") => {
                        let domains = check_configmap_document(document, &mut at);
                        self.domains.extend(domains);
                        DocumentKind::ConfigMap
                    }
                    Some("EnvoyFilter") => {
                        let domains = envoyfilter::check_document(document, &mut at);
                        self.filter_domains.extend(
                            domains
                                .into_iter()
                                .map(|(path, domain)| (name.to_owned(), path, domain)),
                        );
                        DocumentKind::EnvoyFilter
                    }
                    // A stream of manifests may hold a Deployment beside the ConfigMap.
                    _ if several => DocumentKind::Other,
                    other => {
                        let kind = other.map_or_else(|| "none".to_owned(), |k| format!("`{k}`"));
                        at.push(
                            CheckSource::Trendmaster,
                            "kind",
                            format!(
                                "kind {kind}: check reads ConfigMaps, EnvoyFilters and bare \
                                 ratelimit files"
                            ),
                        );
                        DocumentKind::Other
                    }
                },
            };
            self.problems.append(&mut at.problems);
            self.kinds(name).push(kind);
        }
        let nothing_checked = self.kinds(name).iter().all(|k| *k == DocumentKind::Other);
        if several && nothing_checked {
            let problem = CheckProblem {
                file: name.to_owned(),
                path: String::new(),
                message: "no ConfigMap or EnvoyFilter among its documents".to_owned(),
                source: CheckSource::Trendmaster,
            };
            self.problems.push(problem);
        }
    }

    fn kinds(&mut self, name: &str) -> &mut Vec<DocumentKind> {
        self.documents.entry(name.to_owned()).or_default()
    }

    fn finish(mut self, names: Vec<String>) -> CheckReport {
        if let Err(errors) = validate_ratelimit_files(self.ratelimit_files.iter().copied()) {
            self.problems
                .extend(errors.into_iter().map(|error| loader_problem(error, None)));
        }
        if !self.domains.is_empty() {
            for (file, path, domain) in &self.filter_domains {
                if !self.domains.contains(domain) {
                    let known: Vec<&str> = self.domains.iter().map(String::as_str).collect();
                    self.problems.push(CheckProblem {
                        file: file.clone(),
                        path: path.clone(),
                        message: format!(
                            "domain '{domain}' is not the domain of any ratelimit file checked \
                             with it ({}): the service answers OK to a domain it does not know, \
                             so nothing would be limited",
                            known.join(", ")
                        ),
                        source: CheckSource::Trendmaster,
                    });
                }
            }
        }
        // File by file, in the order given; within a file, in the order found.
        let order: BTreeMap<&str, usize> = names
            .iter()
            .enumerate()
            .map(|(i, name)| (name.as_str(), i))
            .rev()
            .collect();
        self.problems
            .sort_by_key(|problem| order.get(problem.file.as_str()).copied());
        let mut files: Vec<CheckedFile> = Vec::new();
        for name in names {
            if files.iter().any(|file| file.file == name) {
                continue;
            }
            files.push(CheckedFile {
                problems: self.problems.iter().filter(|p| p.file == name).count(),
                documents: self.documents.get(&name).cloned().unwrap_or_default(),
                file: name,
            });
        }
        CheckReport {
            files,
            problems: self.problems,
        }
    }
}

/// Problems of one document, with its place in the file.
struct Sink<'a> {
    file: &'a str,
    /// Where the document is in its file: `documents[N]` in a stream of several, else empty.
    base: String,
    problems: Vec<CheckProblem>,
}

impl Sink<'_> {
    fn push(&mut self, source: CheckSource, path: &str, message: impl Into<String>) {
        self.problems.push(CheckProblem {
            file: self.file.to_owned(),
            path: join(&self.base, path),
            message: message.into(),
            source,
        });
    }

    /// `path` inside this document (for the domain cross-check).
    fn path(&self, path: &str) -> String {
        join(&self.base, path)
    }
}

/// `path` then `rest`, as `a.b`, `a[0]` or either alone.
fn join(path: &str, rest: &str) -> String {
    match (path.is_empty(), rest.is_empty()) {
        (_, true) => path.to_owned(),
        (true, false) => rest.to_owned(),
        (false, false) if rest.starts_with('[') => format!("{path}{rest}"),
        (false, false) => format!("{path}.{rest}"),
    }
}

fn source_of(rule: RuleSource) -> CheckSource {
    match rule {
        RuleSource::Loader => CheckSource::Loader,
        RuleSource::Trendmaster | RuleSource::ReadDifferently => CheckSource::Trendmaster,
    }
}

/// A loader problem as a check problem: in a bare file (`within` `None`) the file key is the
/// file; in a ConfigMap it is the data key, which goes into the path.
fn loader_problem(error: LoaderError, within: Option<(&str, &str)>) -> CheckProblem {
    let (file, path) = match within {
        None => (error.file_key, error.location),
        Some((file, base)) => {
            let data = join(base, &format!("data[{:?}]", error.file_key));
            (file.to_owned(), join(&data, &error.location))
        }
    };
    CheckProblem {
        file,
        path,
        message: error.message,
        source: source_of(error.source),
    }
}

fn domain_of(document: Option<&Result<Value, serde_yaml::Error>>) -> Option<String> {
    match document? {
        Ok(value) => value.get("domain")?.as_str().map(str::to_owned),
        Err(_) => None,
    }
}

/// `value` as a `T`, or serde's message and the path where it failed (empty: the value itself).
fn typed<T: DeserializeOwned>(value: &Value) -> Result<T, (String, String)> {
    serde_path_to_error::deserialize(value.clone()).map_err(|error| {
        let path = error.path().to_string();
        let path = if path == "." { String::new() } else { path };
        (path, error.into_inner().to_string())
    })
}

/// The fields of a ConfigMap (`kubectl apply` refuses others under strict field validation).
const CONFIGMAP_FIELDS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "data",
    "binaryData",
    "immutable",
];

/// The fields of `metadata` (`ObjectMeta`).
pub(crate) const METADATA_FIELDS: &[&str] = &[
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

/// Fields of a mapping that are not in `known`, each as a problem at `path.<field>`.
fn unknown_fields(value: &Value, path: &str, known: &[&str], at: &mut Sink, source: CheckSource) {
    let Some(map) = value.as_mapping() else {
        return;
    };
    for key in map.keys() {
        let name = key
            .as_str()
            .map_or_else(|| format!("{key:?}"), str::to_owned);
        if !known.contains(&name.as_str()) {
            at.push(
                source,
                &join(path, &name),
                format!("unknown field \"{name}\""),
            );
        }
    }
}

/// A ConfigMap: the object under the API server's rules, every data key under the loader's as
/// one config directory. Returns the domains of its files.
fn check_configmap_document(document: &Value, at: &mut Sink) -> Vec<String> {
    unknown_fields(document, "", CONFIGMAP_FIELDS, at, CheckSource::Kubernetes);
    if let Some(metadata) = document.get("metadata") {
        unknown_fields(
            metadata,
            "metadata",
            METADATA_FIELDS,
            at,
            CheckSource::Kubernetes,
        );
    }
    let api_version = document.get("apiVersion").and_then(Value::as_str);
    if api_version != Some("v1") {
        let shown = api_version.map_or_else(|| "missing".to_owned(), |v| format!("`{v}`"));
        at.push(
            CheckSource::Kubernetes,
            "apiVersion",
            format!("apiVersion {shown}: a ConfigMap is `v1`"),
        );
        return Vec::new();
    }
    let configmap: ConfigMap = match typed(document) {
        Ok(configmap) => configmap,
        Err((path, message)) => {
            at.push(CheckSource::Kubernetes, &path, message);
            return Vec::new();
        }
    };
    // A manifest without a namespace is applied to kubectl's current one.
    let no_namespace = configmap.metadata.namespace.is_none();
    for problem in check_configmap(&configmap) {
        if !(no_namespace && problem.field == "metadata.namespace") {
            at.push(CheckSource::Kubernetes, &problem.field, problem.message);
        }
    }
    let data = configmap.data.unwrap_or_default();
    let binary = configmap.binary_data.unwrap_or_default();
    for key in binary.keys().filter(|key| data.contains_key(*key)) {
        at.push(
            CheckSource::Kubernetes,
            &format!("binaryData[{key:?}]"),
            "duplicate of key present in data",
        );
    }
    // The kubelet writes binaryData keys as files too; the service loads every file.
    let mut files: Vec<(String, String)> = data.into_iter().collect();
    for (key, bytes) in binary {
        match String::from_utf8(bytes.0) {
            Ok(text) => files.push((key, text)),
            Err(_) => at.push(
                CheckSource::Loader,
                &format!("binaryData[{key:?}]"),
                "not UTF-8 text, so not a ratelimit config file",
            ),
        }
    }
    if files.is_empty() {
        at.push(
            CheckSource::Trendmaster,
            "data",
            "no data: the ratelimit service would load nothing from this ConfigMap",
        );
    }
    let domains = files
        .iter()
        .filter_map(|(_, text)| {
            let value: Value = serde_yaml::Deserializer::from_str(text)
                .next()
                .and_then(|document| Value::deserialize(document).ok())?;
            value.get("domain")?.as_str().map(str::to_owned)
        })
        .collect();
    let files = files
        .iter()
        .map(|(key, text)| (key.as_str(), text.as_str()));
    if let Err(errors) = validate_ratelimit_files(files) {
        let (file, base) = (at.file, at.base.clone());
        at.problems.extend(
            errors
                .into_iter()
                .map(|error| loader_problem(error, Some((file, &base)))),
        );
    }
    domains
}

#[cfg(test)]
mod tests;
