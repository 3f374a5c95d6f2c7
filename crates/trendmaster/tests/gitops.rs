//! `--gitops-dir` and `scripts/gitops-pr.sh`, with the real binary: the files under fixed names
//! keep their bytes when only the window moves and change when a limit does; the
//! kustomization lists exactly the files written, a file no longer written is removed and
//! nothing else is touched; the script commits on a new branch and writes the pull request's
//! files in a scratch git repository, and writes none when nothing changed. No network.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use k8s_openapi::api::core::v1::ConfigMap;
use serde_json::Value as Json;
use serde_yaml::Value;

const CONFIGMAP: &str = "ratelimit-configmap.yaml";
const KUSTOMIZATION: &str = "kustomization.yaml";
/// Cut to a third in the deployed file of the script test: a 3× raise that governance holds.
const HELD_API: &str = "/api_v3/service/multirequest";
/// The demo's partner 444 on the APIs whose limit moves by less than the deadband between the
/// windows ending 2026-11-15 and 2026-11-16 (its other two are cut by more, and stepped).
const STEADY: [&str; 4] = [
    "--partners",
    "444",
    "--apis",
    "/api_v3/service/asset/action/list,/api_v3/service/entitlement/action/list,\
     /api_v3/service/household/action/get,/api_v3/service/multirequest,\
     /api_v3/service/ottuser/action/get",
];

/// A quick demo run (three days, no forecast, no charts) in `dir` ending at `as_of`, with
/// `extra` flags, asserting success; the JSON result.
fn run(dir: &Path, as_of: &str, extra: &[&str]) -> Json {
    let mut args = vec![
        "--as-of",
        as_of,
        "--forecaster",
        "none",
        "--no-charts",
        "--days",
        "3",
        "--output-format",
        "json",
    ];
    args.extend_from_slice(extra);
    common::trendmaster_json(dir, &args)
}

/// The files of `dir` by name, with their bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            (name, std::fs::read(entry.path()).unwrap())
        })
        .collect()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `kustomization.yaml`'s resources.
fn resources(dir: &Path) -> Vec<String> {
    let kustomization: Value =
        serde_yaml::from_str(&std::fs::read_to_string(dir.join(KUSTOMIZATION)).unwrap()).unwrap();
    assert_eq!(
        kustomization["apiVersion"], "kustomize.config.k8s.io/v1beta1",
        "{kustomization:?}"
    );
    assert_eq!(kustomization["kind"], "Kustomization");
    serde_yaml::from_value(kustomization["resources"].clone()).unwrap()
}

#[test]
fn the_same_limits_a_day_later_write_the_same_bytes_and_a_changed_limit_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let steady = |extra: &[&'static str]| [&STEADY[..], extra].concat();
    let first = run(
        dir.path(),
        "2026-11-15T00:00:00Z",
        &steady(&["--output-dir", "out1", "--gitops-dir", "day1"]),
    );
    // A day later, governed against the first day's ConfigMap, as a nightly job is against
    // what the repository holds: each recommendation moved a little, within the deadband, so
    // every limit is kept. Checked, not assumed: every entry must come out as deployed.
    let second = run(
        dir.path(),
        "2026-11-16T00:00:00Z",
        &steady(&[
            "--output-dir",
            "out2",
            "--gitops-dir",
            "day2",
            "--current-from",
            "day1/ratelimit-configmap.yaml",
        ]),
    );
    assert_ne!(first["window"], second["window"]);
    let plan = second["changes"]["plan"].as_array().unwrap();
    assert_eq!(
        plan.len(),
        first["changes"]["plan"].as_array().unwrap().len()
    );
    assert_eq!(plan.len(), 5);
    assert!(
        plan.iter().any(|e| e["recommended"] != e["current"]),
        "the recommendations moved"
    );
    for entry in plan {
        assert_eq!(entry["emitted"], entry["current"], "{entry}");
        assert!(
            ["kept", "unchanged"].contains(&entry["status"].as_str().unwrap()),
            "{entry}"
        );
    }
    let day1 = files(&dir.path().join("day1"));
    let day2 = files(&dir.path().join("day2"));
    assert_eq!(
        day1.keys().collect::<Vec<_>>(),
        [
            "global-envoyfilter.yaml",
            KUSTOMIZATION,
            "prometheusrule.yaml",
            CONFIGMAP
        ]
    );
    for (name, bytes) in &day1 {
        assert!(
            *bytes == day2[name],
            "{name} differs:\n{}\n---\n{}",
            text(bytes),
            text(&day2[name])
        );
        assert!(
            !text(bytes).contains("2026-11-1"),
            "{name} names the window"
        );
    }
    // The timestamped files keep the window, so those differ between the days.
    let stamped = |result: &Json| {
        std::fs::read_to_string(
            dir.path()
                .join(result["files"]["configmap"].as_str().unwrap()),
        )
        .unwrap()
    };
    assert!(stamped(&first).contains("# Source: demo; window 2026-11-12T00:00:00Z to"));
    assert!(stamped(&second).contains("# Source: demo; window 2026-11-13T00:00:00Z to"));
    assert!(
        text(&day1[CONFIGMAP]).contains(
            "# Source: demo; the analysed window is in the run's report and JSON result.\n"
        )
    );

    // Other limits (another seed of the demo traffic) change the ConfigMap.
    run(
        dir.path(),
        "2026-11-15T00:00:00Z",
        &steady(&[
            "--output-dir",
            "out3",
            "--gitops-dir",
            "seed",
            "--seed",
            "7",
        ]),
    );
    let other = files(&dir.path().join("seed"));
    assert_ne!(other[CONFIGMAP], day1[CONFIGMAP]);
    assert_eq!(other[KUSTOMIZATION], day1[KUSTOMIZATION]);
}

#[test]
fn the_kustomization_lists_exactly_the_files_written_and_nothing_else_is_touched() {
    let dir = tempfile::tempdir().unwrap();
    let gitops = dir.path().join("gitops");
    std::fs::create_dir(&gitops).unwrap();
    std::fs::write(gitops.join("namespace.yaml"), "kind: Namespace\n").unwrap();
    let args = [
        "--partners",
        "111",
        "--output-dir",
        "out",
        "--gitops-dir",
        "gitops",
    ];
    let mut with_local = args.to_vec();
    with_local.push("--local-ratelimit");
    let result = run(dir.path(), "2026-11-15T00:00:00Z", &with_local);
    let written: Vec<String> = serde_json::from_value(result["gitops"]["written"].clone()).unwrap();
    assert_eq!(
        written,
        [
            CONFIGMAP,
            "global-envoyfilter.yaml",
            "local-envoyfilter.yaml",
            "prometheusrule.yaml",
            KUSTOMIZATION
        ]
    );
    assert_eq!(resources(&gitops), written[..4]);
    // Each resource is the object it says it is, with no window in its annotations.
    let configmap: ConfigMap =
        serde_yaml::from_str(&std::fs::read_to_string(gitops.join(CONFIGMAP)).unwrap()).unwrap();
    let annotations = configmap.metadata.annotations.unwrap();
    assert_eq!(annotations["trendmaster.io/environment"], "environment");
    assert!(!annotations.contains_key("trendmaster.io/window-end"));
    for (name, kind) in [
        ("global-envoyfilter.yaml", "EnvoyFilter"),
        ("local-envoyfilter.yaml", "EnvoyFilter"),
        ("prometheusrule.yaml", "PrometheusRule"),
    ] {
        let object: Value =
            serde_yaml::from_str(&std::fs::read_to_string(gitops.join(name)).unwrap()).unwrap();
        assert_eq!(object["kind"], kind, "{name}");
        assert!(object["metadata"]["annotations"]["trendmaster.io/window-start"].is_null());
    }

    // Without the local rate limit, its file goes and the kustomization stops listing it;
    // the namespace file is not ours and stays.
    let result = run(dir.path(), "2026-11-15T00:00:00Z", &args);
    assert_eq!(
        result["gitops"]["removed"],
        serde_json::json!(["local-envoyfilter.yaml"])
    );
    assert_eq!(
        resources(&gitops),
        [CONFIGMAP, "global-envoyfilter.yaml", "prometheusrule.yaml"]
    );
    assert_eq!(
        files(&gitops).into_keys().collect::<Vec<_>>(),
        [
            "global-envoyfilter.yaml",
            KUSTOMIZATION,
            "namespace.yaml",
            "prometheusrule.yaml",
            CONFIGMAP
        ]
    );
    assert_eq!(
        std::fs::read_to_string(gitops.join("namespace.yaml")).unwrap(),
        "kind: Namespace\n"
    );
}

#[test]
fn a_kustomization_someone_else_wrote_stops_the_run_before_anything_is_fetched() {
    let dir = tempfile::tempdir().unwrap();
    let gitops = dir.path().join("gitops");
    std::fs::create_dir(&gitops).unwrap();
    let theirs = "resources:\n- deployment.yaml\n";
    std::fs::write(gitops.join(KUSTOMIZATION), theirs).unwrap();
    let output = common::trendmaster(
        dir.path(),
        &[
            "--as-of",
            "2026-11-15T00:00:00Z",
            "--output-dir",
            "out",
            "--gitops-dir",
            "gitops",
        ],
    );
    assert_eq!(output.status.code(), Some(3), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("kustomization.yaml was not written by trendmaster"),
        "{stderr}"
    );
    assert_eq!(
        files(&gitops).into_keys().collect::<Vec<_>>(),
        [KUSTOMIZATION]
    );
    assert_eq!(
        std::fs::read_to_string(gitops.join(KUSTOMIZATION)).unwrap(),
        theirs
    );
    assert!(!dir.path().join("out").exists());

    // Run-only: refused where nothing is emitted.
    let output = common::trendmaster(dir.path(), &["--gitops-dir", "g", "check", "x.yaml"]);
    assert_eq!(output.status.code(), Some(3));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("check takes no --config, --gitops-dir"),
        "{stderr}"
    );
}

/// `git ARGS` in `repo`, with no system or user configuration, asserting success; stdout.
fn git(repo: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap())
        .env("HOME", repo.parent().unwrap())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        text(&output.stderr)
    );
    text(&output.stdout)
}

/// `scripts/gitops-pr.sh REPO SUBDIR FLAGS` in `dir`, with a clean environment and no network
/// configuration at all: the script has nothing to reach.
fn gitops_pr(dir: &Path, repo: &Path, subdir: &str, flags: &[&str]) -> Output {
    Command::new("bash")
        .arg(common::root().join("scripts/gitops-pr.sh"))
        .arg(repo)
        .arg(subdir)
        .arg("--config")
        .arg(common::root().join("config/config.yaml"))
        .args(flags)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap())
        .env("HOME", dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("TRENDMASTER", env!("CARGO_BIN_EXE_trendmaster"))
        .env("OUT", "out")
        .output()
        .unwrap()
}

/// A repository whose `clusters/demo/` holds the run's own ConfigMap with `HELD_API` cut to a
/// third (held) and every other path of partner 111 at 70 % (a raise that goes out), committed
/// on `main`.
fn config_repository(dir: &Path, flags: &[&str]) -> PathBuf {
    let repo = dir.join("config-repo");
    let subdir = repo.join("clusters/demo");
    let mut args = flags.to_vec();
    args.extend(["--output-dir", "first", "--gitops-dir"]);
    let subdir_arg = subdir.to_str().unwrap();
    args.push(subdir_arg);
    let output = common::trendmaster(dir, &args);
    assert!(output.status.success(), "{}", text(&output.stderr));

    let path = subdir.join(CONFIGMAP);
    let mut configmap: ConfigMap =
        serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let data = configmap.data.as_mut().unwrap();
    let mut file: Value = serde_yaml::from_str(&data["config.yaml"]).unwrap();
    for partner in file["descriptors"].as_sequence_mut().unwrap() {
        for path in partner["descriptors"].as_sequence_mut().unwrap() {
            let held = path["value"] == HELD_API;
            let limit = &mut path["rate_limit"]["requests_per_unit"];
            let value = limit.as_u64().unwrap();
            *limit = if held { value / 3 } else { value * 7 / 10 }.into();
        }
    }
    data.insert("config.yaml".into(), serde_yaml::to_string(&file).unwrap());
    std::fs::write(&path, serde_yaml::to_string(&configmap).unwrap()).unwrap();

    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["config", "user.name", "Nightly Bot"]);
    git(&repo, &["config", "user.email", "nightly@example.invalid"]);
    git(&repo, &["config", "commit.gpgsign", "false"]);
    std::fs::write(repo.join("README.md"), "configuration\n").unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "deployed"]);
    repo
}

#[test]
fn the_script_commits_changes_on_a_branch_and_writes_the_pull_request_files() {
    let dir = tempfile::tempdir().unwrap();
    let flags = [
        "--as-of",
        "2026-11-15T00:00:00Z",
        "--partners",
        "111",
        "--forecaster",
        "none",
        "--no-charts",
    ];
    let repo = config_repository(dir.path(), &flags);
    let deployed = repo.join("clusters/demo").join(CONFIGMAP);
    let mut governed = flags.to_vec();
    governed.extend(["--current-from", deployed.to_str().unwrap()]);

    let output = gitops_pr(dir.path(), &repo, "clusters/demo", &governed);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("committed clusters/demo on branch trendmaster/environment-2026-11-15"),
        "{stdout}"
    );
    let out = dir.path().join("out");
    let read = |name: &str| std::fs::read_to_string(out.join(name)).unwrap();
    let branch = read("pr-branch.txt");
    assert_eq!(branch, "trendmaster/environment-2026-11-15\n");
    let title = read("pr-title.txt");
    assert!(
        title.starts_with("trendmaster: environment rate limits to 2026-11-15 ("),
        "{title}"
    );
    assert!(
        title.contains(" held)\n") && title.lines().count() == 1,
        "{title}"
    );

    // The body: counts by status, then every entry that changes or waits, deployed → emitted.
    let result: Json = serde_json::from_str(&read("gitops-result.json")).unwrap();
    let body = read("pr-body.md");
    let plan = result["changes"]["plan"].as_array().unwrap();
    let status = |entry: &Json| entry["status"].as_str().unwrap().to_owned();
    let mut counts = BTreeMap::new();
    for entry in plan {
        *counts.entry(status(entry)).or_insert(0) += 1;
    }
    for (status, count) in &counts {
        assert!(body.contains(&format!("| {status} | {count} |")), "{body}");
    }
    let row = |entry: &Json| {
        let number = |v: &Json| {
            let n = v.as_u64().unwrap();
            let digits = n.to_string();
            // Thousands separated by commas, as the body writes them.
            let mut grouped = String::new();
            for (i, c) in digits.chars().enumerate() {
                if i > 0 && (digits.len() - i).is_multiple_of(3) {
                    grouped.push(',');
                }
                grouped.push(c);
            }
            grouped
        };
        format!(
            "| 111 | `{}` | {} | {} → {} |",
            entry["key"]["api"].as_str().unwrap(),
            status(entry),
            number(&entry["current"]),
            number(&entry["emitted"]),
        )
    };
    let held: Vec<&Json> = plan.iter().filter(|e| status(e) == "held").collect();
    assert_eq!(held.len(), 1, "{body}");
    assert_eq!(held[0]["key"]["api"], HELD_API);
    let changed: Vec<&Json> = plan
        .iter()
        .filter(|e| e["emitted"] != e["current"] || status(e) == "held")
        .collect();
    assert!(changed.len() > 1, "{body}");
    for entry in &changed {
        assert!(body.contains(&row(entry)), "{}\n{body}", row(entry));
    }
    assert!(
        body.contains("## Entries that change or wait for approval"),
        "{body}"
    );
    assert!(body.contains("1 held for approval"), "{body}");
    assert!(
        body.contains("Compared with the deployed configuration read from"),
        "{body}"
    );

    // Committed on the new branch, only the GitOps directory, nothing left over.
    assert_eq!(git(&repo, &["rev-parse", "--abbrev-ref", "HEAD"]), branch);
    assert_eq!(git(&repo, &["status", "--porcelain"]), "");
    assert_eq!(
        git(&repo, &["log", "--format=%s"])
            .lines()
            .collect::<Vec<_>>(),
        [title.trim_end(), "deployed"]
    );
    // The limits changed, so did the rules watching them; the wiring did not.
    let touched = git(&repo, &["diff", "--name-only", "main", "HEAD"]);
    assert_eq!(
        touched.lines().collect::<Vec<_>>(),
        [
            "clusters/demo/prometheusrule.yaml",
            "clusters/demo/ratelimit-configmap.yaml"
        ]
    );

    // The next night, the same limits: nothing changes, no pull request files, exit 0.
    let output = gitops_pr(dir.path(), &repo, "clusters/demo", &governed);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("no change in") && stdout.contains("(1 held for approval)"),
        "{stdout}"
    );
    for name in ["pr-branch.txt", "pr-title.txt", "pr-body.md"] {
        assert!(!out.join(name).exists(), "{name} left behind");
    }
    assert_eq!(git(&repo, &["log", "--format=%s"]).lines().count(), 2);

    // Bad arguments: exit 3 before anything runs.
    let output = gitops_pr(dir.path(), &repo, "/abs", &governed);
    assert_eq!(output.status.code(), Some(3));
    let output = gitops_pr(dir.path(), &dir.path().join("nowhere"), "x", &governed);
    assert_eq!(output.status.code(), Some(3));
}
