//! The deployed-files corpus (`tests/deployed_corpus/cases.yaml`): one small file per rule and
//! quirk of the ratelimit service's loader, plus ConfigMaps and EnvoyFilters, each run through
//! the real binary twice: `trendmaster check FILE` (its verdict, exit code and every message)
//! and a demo run with `--current-from FILE` (refused with the loader's message and the place,
//! or run, with everything trendmaster does not manage carried into the emitted ConfigMap
//! unchanged).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use serde::Deserialize;
use serde_yaml::{Mapping, Value};

/// The configuration's `CONFIGMAP` keys (the shipped defaults).
const DATA_KEY: &str = "config.yaml";
const PARTNER: &str = "PARTNER";
const PATH: &str = "PATH";
/// The partner the demo runs analyse (`--partners`).
const ANALYSED: &str = "111";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    file: String,
    about: String,
    verdict: Verdict,
    /// Fragments of check's stderr, each on one problem line.
    check: Vec<String>,
    /// How many problem lines check prints, exactly.
    #[serde(default)]
    problems: Option<usize>,
    current_from: Expected,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Verdict {
    Refused,
    Loaded,
    Stricter,
    Kubernetes,
    Istio,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    exit: i32,
    #[serde(default)]
    stderr: Vec<String>,
}

fn corpus_dir() -> PathBuf {
    trendmaster_testkit::workspace_dir().join("crates/trendmaster/tests/deployed_corpus")
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(corpus_dir().join("cases.yaml")).unwrap();
    serde_yaml::from_str(&text).expect("cases.yaml parses")
}

/// The binary in the corpus folder (so messages name the files as given), with a clean
/// environment: no configuration file, the built-in one.
fn trendmaster(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trendmaster"))
        .current_dir(corpus_dir())
        .env_clear()
        .args(args)
        .output()
        .expect("the binary runs")
}

/// The `trendmaster: error:` lines of stderr, without that prefix.
fn problem_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter_map(|line| line.strip_prefix("trendmaster: error: "))
        .collect()
}

/// What is wrong with `check FILE` against the case; empty when it behaved as documented.
fn check_run(case: &Case) -> Vec<String> {
    let output = trendmaster(&["check", &case.file]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines = problem_lines(&stderr);
    let mut wrong = Vec::new();
    let expected_exit = if case.check.is_empty() { 0 } else { 3 };
    if output.status.code() != Some(expected_exit) {
        wrong.push(format!(
            "exit {:?}, expected {expected_exit}",
            output.status.code()
        ));
    }
    for fragment in &case.check {
        if !lines.iter().any(|line| line.contains(fragment.as_str())) {
            wrong.push(format!("no problem line holds {fragment:?}"));
        }
    }
    if let Some(count) = case.problems
        && lines.len() != count
    {
        wrong.push(format!("{} problem lines, expected {count}", lines.len()));
    }
    // Every line names the file first, in the house format.
    for line in &lines {
        if !line.starts_with(&format!("{}: ", case.file)) {
            wrong.push(format!(
                "a line that does not start with the file: {line:?}"
            ));
        }
    }
    let stricter = |line: &&str| line.contains(": stricter than the service: ");
    match case.verdict {
        Verdict::Refused | Verdict::Kubernetes | Verdict::Istio => {
            if lines.iter().all(stricter) {
                wrong.push("no problem the service (or Kubernetes, Istio) would refuse".into());
            }
        }
        Verdict::Stricter => {
            if lines.is_empty() || !lines.iter().all(stricter) {
                wrong.push("a stricter-only file, yet a problem the service refuses".into());
            }
        }
        Verdict::Loaded => {}
    }
    let verdict_line = if expected_exit == 0 {
        format!("{}: valid (", case.file)
    } else {
        format!("{}: {} problem", case.file, lines.len())
    };
    if !stdout.contains(&verdict_line) {
        wrong.push(format!("stdout lacks {verdict_line:?}: {stdout:?}"));
    }
    if stderr.contains("panicked") {
        wrong.push("panicked".into());
    }
    if wrong.is_empty() {
        return Vec::new();
    }
    vec![format!(
        "check {} ({}): {}\n    stderr: {}",
        case.file,
        case.about,
        wrong.join("; "),
        stderr.trim().replace('\n', "\n            ")
    )]
}

/// What is wrong with a demo run with `--current-from FILE`.
fn current_from_run(case: &Case, out: &Path) -> Vec<String> {
    let output = trendmaster(&[
        "--as-of",
        "2026-11-15T00:00:00Z",
        "--forecaster",
        "none",
        "--no-charts",
        "--days",
        "3",
        "--partners",
        ANALYSED,
        "--output-dir",
        out.to_str().unwrap(),
        "--current-from",
        &case.file,
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines = problem_lines(&stderr);
    let expected = &case.current_from;
    let mut wrong = Vec::new();
    if output.status.code() != Some(expected.exit) {
        wrong.push(format!(
            "exit {:?}, expected {}",
            output.status.code(),
            expected.exit
        ));
    }
    for fragment in &expected.stderr {
        if !lines.iter().any(|line| line.contains(fragment.as_str())) {
            wrong.push(format!("stderr lacks {fragment:?}"));
        }
    }
    if expected.exit != 0 {
        let named = format!("deployed configuration {}: ", case.file);
        if !lines.iter().any(|line| line.starts_with(&named)) {
            wrong.push(format!("no error line starts {named:?}"));
        }
        if out.exists() {
            wrong.push("a refused run wrote files".into());
        }
    } else {
        let deployed = std::fs::read_to_string(corpus_dir().join(&case.file)).unwrap();
        let emitted = out.join("latest_configmap.yaml");
        match std::fs::read_to_string(&emitted) {
            Ok(emitted) => {
                wrong.extend(round_trip(&deployed, &emitted));
                // What trendmaster writes from a file the service loads passes its own check.
                if case.verdict == Verdict::Loaded {
                    let path = out.join("latest_configmap.yaml");
                    let output = trendmaster(&["check", path.to_str().unwrap()]);
                    if !output.status.success() {
                        wrong.push(format!(
                            "the emitted ConfigMap fails check: {}",
                            String::from_utf8_lossy(&output.stderr)
                        ));
                    }
                }
            }
            Err(error) => wrong.push(format!("no latest_configmap.yaml: {error}")),
        }
    }
    if stderr.contains("panicked") {
        wrong.push("panicked".into());
    }
    if wrong.is_empty() {
        return Vec::new();
    }
    vec![format!(
        "--current-from {} ({}): {}\n    stderr: {}",
        case.file,
        case.about,
        wrong.join("; "),
        lines.join("\n            ")
    )]
}

fn first_document(text: &str) -> Value {
    serde_yaml::Deserializer::from_str(text)
        .next()
        .map(|document| Value::deserialize(document).unwrap())
        .unwrap_or(Value::Null)
}

/// The ratelimit files of a deployed file: a ConfigMap's data keys, or the file itself under
/// the configured data key.
fn data_of(text: &str) -> BTreeMap<String, String> {
    let document = first_document(text);
    if document["kind"] == "ConfigMap" {
        serde_yaml::from_value(document["data"].clone()).unwrap()
    } else {
        BTreeMap::from([(DATA_KEY.to_owned(), text.to_owned())])
    }
}

/// Differences between what was deployed and what was emitted, outside trendmaster's entries.
fn round_trip(deployed: &str, emitted: &str) -> Vec<String> {
    let (deployed, emitted) = (data_of(deployed), data_of(emitted));
    let mut wrong = Vec::new();
    // Other data keys: byte for byte.
    for (key, text) in deployed.iter().filter(|(key, _)| *key != DATA_KEY) {
        if emitted.get(key) != Some(text) {
            wrong.push(format!("data key {key} changed: {:?}", emitted.get(key)));
        }
    }
    let parts = |text: &str| unmanaged(&first_document(text));
    let (before, after) = (parts(&deployed[DATA_KEY]), parts(&emitted[DATA_KEY]));
    assert!(
        !before.is_empty(),
        "the deployed file has a domain at least"
    );
    for (label, value) in &before {
        match after.get(label) {
            Some(emitted) if emitted == value => {}
            other => wrong.push(format!(
                "{label}: deployed {}, emitted {}",
                serde_yaml::to_string(value).unwrap().trim(),
                other.map_or("nothing".to_owned(), |v| serde_yaml::to_string(v)
                    .unwrap()
                    .trim()
                    .to_owned())
            )),
        }
    }
    // Nothing appears that was not deployed, but the analysed partner's entries.
    let ours = format!("{PARTNER}={ANALYSED} fields");
    let our_paths = format!("{PARTNER}={ANALYSED}/{PATH}=");
    for label in after.keys() {
        if !before.contains_key(label) && *label != ours && !label.starts_with(&our_paths) {
            wrong.push(format!("{label} appeared in the emitted file"));
        }
    }
    // Top-level entries keep their order.
    let top = |parts: &BTreeMap<String, Value>, order: &[String]| -> Vec<String> {
        order
            .iter()
            .filter(|label| parts.contains_key(*label))
            .cloned()
            .collect()
    };
    let (order_before, order_after) = (
        top_order(&first_document(&deployed[DATA_KEY])),
        top_order(&first_document(&emitted[DATA_KEY])),
    );
    let kept: BTreeSet<&String> = order_before.iter().collect();
    let after_kept: Vec<String> = top(&after, &order_after)
        .into_iter()
        .filter(|label| kept.contains(label))
        .collect();
    if top(&before, &order_before) != after_kept {
        wrong.push(format!(
            "top-level order changed: {order_before:?} -> {order_after:?}"
        ));
    }
    wrong
}

/// The text of a scalar as the loader reads it into a string field (`111` is "111").
fn text(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Number(number)) => number.to_string(),
        Some(Value::Bool(flag)) => flag.to_string(),
        _ => String::new(),
    }
}

fn is_partner(descriptor: &Value) -> bool {
    descriptor["key"] == PARTNER && !text(descriptor.get("value")).is_empty()
}

fn label(descriptor: &Value) -> String {
    format!(
        "{}={}",
        text(descriptor.get("key")),
        text(descriptor.get("value"))
    )
}

fn top_order(file: &Value) -> Vec<String> {
    descriptors(file)
        .iter()
        .map(|d| {
            if is_partner(d) {
                format!("{} fields", label(d))
            } else {
                format!("top/{}", label(d))
            }
        })
        .collect()
}

fn descriptors(value: &Value) -> Vec<Value> {
    value["descriptors"]
        .as_sequence()
        .cloned()
        .unwrap_or_default()
}

/// Every part of a ratelimit file trendmaster does not manage, by a label that says where:
/// the domain, other top-level entries, a partner entry's own fields, other keys under a
/// partner, and the fields of our path entries other than `rate_limit` and `shadow_mode`.
fn unmanaged(file: &Value) -> BTreeMap<String, Value> {
    let mut parts = BTreeMap::new();
    parts.insert("domain".to_owned(), Value::from(text(file.get("domain"))));
    for descriptor in descriptors(file) {
        if !is_partner(&descriptor) {
            parts.insert(format!("top/{}", label(&descriptor)), normal(&descriptor));
            continue;
        }
        let partner = label(&descriptor);
        parts.insert(
            format!("{partner} fields"),
            without(&descriptor, &["descriptors"]),
        );
        for child in descriptors(&descriptor) {
            let name = format!("{partner}/{}", label(&child));
            if child["key"] == PATH && !text(child.get("value")).is_empty() {
                parts.insert(
                    format!("{name} fields"),
                    without(&child, &["rate_limit", "shadow_mode"]),
                );
            } else {
                parts.insert(name, normal(&child));
            }
        }
    }
    parts
}

fn without(descriptor: &Value, fields: &[&str]) -> Value {
    let mut normal = normal(descriptor);
    if let Value::Mapping(map) = &mut normal {
        for field in fields {
            map.remove(*field);
        }
    }
    normal
}

/// A descriptor as the loader reads it: null fields are absent, scalars in string fields are
/// their text, and an absent `requests_per_unit` is 0 (which the emitted file writes out).
/// `metadata` is left exactly as written.
fn normal(descriptor: &Value) -> Value {
    let Value::Mapping(map) = descriptor else {
        return descriptor.clone();
    };
    let mut out = Mapping::new();
    for (key, value) in map {
        let name = key.as_str().unwrap_or_default();
        let value = match (name, value) {
            (_, Value::Null) => continue,
            ("key" | "value", scalar) => Value::from(text(Some(scalar))),
            ("rate_limit", Value::Mapping(limit)) => {
                let mut limit = limit.clone();
                limit.retain(|_, v| !v.is_null());
                for field in ["unit", "name"] {
                    if let Some(scalar) = limit.get(field).cloned() {
                        limit.insert(field.into(), Value::from(text(Some(&scalar))));
                    }
                }
                if !limit.contains_key("requests_per_unit") {
                    limit.insert("requests_per_unit".into(), 0.into());
                }
                Value::Mapping(limit)
            }
            ("descriptors", Value::Sequence(children)) => {
                Value::Sequence(children.iter().map(normal).collect())
            }
            (_, other) => other.clone(),
        };
        out.insert(key.clone(), value);
    }
    Value::Mapping(out)
}

#[test]
fn every_deployed_file_gets_its_verdict_from_check_and_current_from() {
    let started = Instant::now();
    let cases = cases();
    assert!(cases.len() >= 30, "the corpus has {} cases", cases.len());
    // The manifest and the folder hold the same files, each once.
    let listed: BTreeSet<&str> = cases.iter().map(|c| c.file.as_str()).collect();
    assert_eq!(listed.len(), cases.len(), "a file listed twice");
    let on_disk: BTreeSet<String> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name != "cases.yaml")
        .collect();
    let on_disk: BTreeSet<&str> = on_disk.iter().map(String::as_str).collect();
    assert_eq!(listed, on_disk, "cases.yaml and the folder differ");
    // The manifest agrees with itself: what the service refuses, --current-from refuses.
    for case in &cases {
        match case.verdict {
            Verdict::Refused => assert_eq!(case.current_from.exit, 3, "{}", case.file),
            Verdict::Loaded => assert!(case.check.is_empty(), "{}", case.file),
            _ => assert!(!case.check.is_empty(), "{}", case.file),
        }
    }
    for verdict in [Verdict::Refused, Verdict::Loaded, Verdict::Stricter] {
        let count = cases.iter().filter(|c| c.verdict == verdict).count();
        assert!(count >= 5, "{count} cases of {verdict:?}");
    }

    let scratch = tempfile::tempdir().unwrap();
    let threads = 4;
    let failures: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|thread| {
                let (cases, scratch) = (&cases, scratch.path());
                scope.spawn(move || {
                    let mut failures = Vec::new();
                    for (i, case) in cases.iter().enumerate().skip(thread).step_by(threads) {
                        failures.extend(check_run(case));
                        failures.extend(current_from_run(case, &scratch.join(format!("out-{i}"))));
                    }
                    failures
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| handle.join().unwrap())
            .collect()
    });
    eprintln!(
        "{} cases, each through check and --current-from: {:.1} s",
        cases.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} of {} runs misbehaved:\n{}",
        failures.len(),
        cases.len() * 2,
        failures.join("\n")
    );
}

#[test]
fn check_reports_all_three_problems_of_a_file_with_three() {
    let output = trendmaster(&["check", "three_problems.yaml"]);
    assert_eq!(output.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        problem_lines(&stderr),
        [
            "three_problems.yaml: config error, unknown key 'ratelimit' (at descriptors[0].ratelimit)",
            "three_problems.yaml: invalid rate limit unit 'fortnight' (at descriptors[1].rate_limit)",
            "three_problems.yaml: stricter than the service: requests_per_unit is missing or 0, \
             which the service reads as \"block every request\" \
             (at descriptors[2].rate_limit.requests_per_unit)",
        ],
        "{stderr}"
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "three_problems.yaml: 3 problems (ratelimit file)\n\
         checked 1 file: 0 valid, 1 with problems (3 problems)\n"
    );
}

#[test]
fn check_output_for_programs_and_files_checked_together() {
    // JSON: every file, every problem with its file, path, message and source; an unreadable
    // file is a problem like the others.
    let output = trendmaster(&[
        "check",
        "--output-format",
        "json",
        "ok_configmap.yaml",
        "three_problems.yaml",
        "no_such_file.yaml",
    ]);
    assert_eq!(output.status.code(), Some(3));
    let verdict: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(verdict["valid"], false);
    let files: Vec<(&str, bool, usize)> = verdict["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["file"].as_str().unwrap(),
                f["valid"].as_bool().unwrap(),
                f["problems"].as_u64().unwrap() as usize,
            )
        })
        .collect();
    assert_eq!(
        files,
        [
            ("ok_configmap.yaml", true, 0),
            ("three_problems.yaml", false, 3),
            ("no_such_file.yaml", false, 1)
        ]
    );
    assert_eq!(
        verdict["files"][0]["documents"],
        serde_json::json!(["configmap"])
    );
    let problems = verdict["problems"].as_array().unwrap();
    let sources: Vec<&str> = problems
        .iter()
        .map(|p| p["source"].as_str().unwrap())
        .collect();
    assert_eq!(sources, ["loader", "loader", "trendmaster", "read"]);
    assert_eq!(problems[1]["path"], "descriptors[1].rate_limit");
    assert_eq!(
        problems[1]["message"],
        "invalid rate limit unit 'fortnight'"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(problem_lines(&stderr).len(), 4, "{stderr}");
    assert!(
        stderr.contains("trendmaster: error: no_such_file.yaml: cannot read it: "),
        "{stderr}"
    );

    // YAML, after the subcommand as well; valid files exit 0.
    let output = trendmaster(&["check", "ok_metadata.yaml", "--output-format", "yaml"]);
    assert!(output.status.success(), "{output:?}");
    let verdict: serde_yaml::Value = serde_yaml::from_slice(&output.stdout).unwrap();
    assert_eq!(verdict["valid"], true);
    assert_eq!(output.stderr, b"");

    // Bare files given together are one config directory: one domain twice is refused.
    let output = trendmaster(&["check", "ok_metadata.yaml", "ok_replaces.yaml"]);
    assert_eq!(output.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        problem_lines(&stderr),
        ["ok_replaces.yaml: duplicate domain 'global-ratelimit' in config file (at domain)"]
    );

    // check reads no configuration: the flags of a run are refused, naming them.
    let output = trendmaster(&["--partners", "111", "check", "ok_metadata.yaml"]);
    assert_eq!(output.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("check takes no --partners"), "{stderr}");
}

fn repository_root() -> PathBuf {
    trendmaster_testkit::workspace_dir()
}

/// `deploy/ci/check-ratelimit.sh DIRS` with the test's binary, in `dir`.
fn ci_check(dir: &Path, dirs: &[&str], github: bool) -> Output {
    let mut command = Command::new("bash");
    command
        .arg(repository_root().join("deploy/ci/check-ratelimit.sh"))
        .args(dirs)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("TRENDMASTER", env!("CARGO_BIN_EXE_trendmaster"));
    if github {
        command.env("GITHUB_ACTIONS", "true");
    }
    command.output().expect("bash runs")
}

#[test]
fn the_ci_script_checks_a_gitops_tree_directory_by_directory() {
    let tree = tempfile::tempdir().unwrap();
    let copy = |from: &str, to: &str| {
        let to = tree.path().join(to);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(corpus_dir().join(from), to).unwrap();
    };
    // Two environments, each with its own files of one domain; and files that are not ours.
    copy("ok_configmap.yaml", "gitops/prod/ratelimit-configmap.yaml");
    copy("envoyfilter_global_ok.yaml", "gitops/prod/envoyfilter.yaml");
    copy("ok_metadata.yaml", "gitops/staging/ratelimit/config.yaml");
    copy("ok_replaces.yaml", "gitops/prod/ratelimit/config.yml");
    let other = tree.path().join("gitops/prod/app.yaml");
    std::fs::write(
        &other,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app}\ndata: {LOG_LEVEL: debug}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: app}\n",
    )
    .unwrap();
    std::fs::write(tree.path().join("gitops/README.md"), "domain: not yaml\n").unwrap();

    let output = ci_check(tree.path(), &["gitops"], false);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    for file in [
        "gitops/prod/ratelimit-configmap.yaml: valid (ConfigMap)",
        "gitops/prod/envoyfilter.yaml: valid (EnvoyFilter)",
        "gitops/staging/ratelimit/config.yaml: valid (ratelimit file)",
        "gitops/prod/ratelimit/config.yml: valid (ratelimit file)",
    ] {
        assert!(stdout.contains(file), "{file}: {stdout}");
    }
    // Three directories, one check each; the application's manifests are not looked at.
    assert_eq!(stdout.matches("checked ").count(), 3, "{stdout}");
    assert!(!stdout.contains("app.yaml"), "{stdout}");

    // The whole corpus dropped into the tree: every file the service refuses is named, with
    // its message, and annotated for GitHub.
    for case in cases() {
        copy(&case.file, &format!("gitops/corpus/{}", case.file));
    }
    let output = ci_check(tree.path(), &["gitops"], true);
    assert_eq!(output.status.code(), Some(3), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    for case in cases().iter().filter(|c| c.verdict == Verdict::Refused) {
        let file = format!("gitops/corpus/{}", case.file);
        // An empty file holds nothing the script recognises as a ratelimit file.
        if case.file == "r06_empty_file.yaml" {
            assert!(!stdout.contains(&file), "{stdout}");
            continue;
        }
        let fragment = &case.check[0];
        assert!(
            stderr.lines().any(
                |line| line.starts_with(&format!("trendmaster: error: {file}: "))
                    && line.contains(fragment.trim_start_matches(&format!("{}: ", case.file)))
            ),
            "{file}: {fragment}\n{stderr}"
        );
        assert!(
            stdout.contains(&format!("::error file={file},title=trendmaster check::")),
            "{file}: {stdout}"
        );
    }
    // The other directories still pass.
    assert!(stdout.contains("gitops/prod/envoyfilter.yaml: valid (EnvoyFilter)"));

    // A path with nothing to check fails rather than passing unseen.
    std::fs::create_dir(tree.path().join("empty")).unwrap();
    let output = ci_check(tree.path(), &["empty"], false);
    assert_eq!(output.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("no ratelimit ConfigMap"),
        "{output:?}"
    );
}

#[test]
fn the_ci_workflow_builds_trendmaster_and_runs_the_script() {
    let text =
        std::fs::read_to_string(repository_root().join("deploy/ci/github-actions-check.yml"))
            .unwrap();
    let workflow: Value = serde_yaml::from_str(&text).unwrap();
    assert!(workflow["on"]["pull_request"].is_mapping(), "{workflow:?}");
    let steps = workflow["jobs"]["ratelimit-files"]["steps"]
        .as_sequence()
        .unwrap();
    let run = |prefix: &str| {
        steps
            .iter()
            .find(|step| step["run"].as_str().is_some_and(|r| r.starts_with(prefix)))
            .unwrap_or_else(|| panic!("no step runs {prefix}"))
            .clone()
    };
    let build = run("cargo build");
    let check = run("deploy/ci/check-ratelimit.sh");
    // The binary the check step uses is the one the build step makes.
    let binary = check["env"]["TRENDMASTER"].as_str().unwrap();
    let profile = if build["run"].as_str().unwrap().contains("--release") {
        "release"
    } else {
        "debug"
    };
    assert_eq!(binary, format!("target/{profile}/trendmaster"));
    assert!(
        workflow["on"]["pull_request"]["paths"]
            .as_sequence()
            .unwrap()
            .iter()
            .any(|path| path == "deploy/ci/check-ratelimit.sh")
    );
}
