//! Golden files: every output of fixed demo runs (`--as-of`), byte for byte, produced by the
//! real binary, so that a refactor proves it changed nothing (sloth's way). The files were
//! checked by hand when they were first written; refresh them only on purpose, with
//! `UPDATE_GOLDEN=1 cargo test -p trendmaster --test golden`, and review the diff.
//!
//! Only what differs between two identical runs is masked: the run's timestamp (in file names
//! and "generated at") and the checkout's path. Everything else is compared as written.
//!
//! The runs, each in a scratch directory with the shipped configuration:
//! - `demo/`: the README's demo (all 36 series, no deployed state, text on stdout);
//! - `governed/`: three APIs against a hand-written deployed ConfigMap
//!   (`tests/fixtures/golden/deployed_configmap.yaml`) that meets every plan status, with
//!   `--approve`, `--diff`, the local rate-limit EnvoyFilter, JSON on stdout, the HTML report
//!   and two charts;
//! - `explain/`: `--explain` of the held entry of that plan, as text and as JSON;
//! - `backtest/`: `--backtest` on two partners × two APIs: the table, the JSON file, the chart;
//! - `merge/`: the governed run split in two shards and merged, rolled out with `--shadow`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

const AS_OF: &str = "2026-11-15T00:00:00Z";
const APIS: &str = "/api_v3/service/multirequest,/api_v3/service/asset/action/list,/api_v3/service/ottuser/action/login";
/// The held entry of the governed plan (deployed 2000, recommended 10500).
const HELD: &str = "222:/api_v3/service/multirequest";
/// A 0.3× cut in the governed plan, released by `--approve`.
const APPROVED: &str = "333:/api_v3/service/multirequest";

/// The binary in `dir` with the shipped configuration, the default environment, the fixed
/// window and `out/` as the output directory.
fn run(dir: &Path, args: &[&str]) -> Output {
    let mut all = vec![
        "--env",
        "environment",
        "--as-of",
        AS_OF,
        "--output-dir",
        "out",
    ];
    all.extend_from_slice(args);
    let output = common::trendmaster(dir, &all);
    assert!(
        output.status.success(),
        "{all:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A scratch directory holding the deployed ConfigMap of the governed runs as `deployed.yaml`
/// (a relative path: it is quoted in the outputs).
fn scratch_with_deployed() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        trendmaster_testkit::workspace_dir()
            .join("crates/trendmaster/tests/fixtures/golden/deployed_configmap.yaml"),
        dir.path().join("deployed.yaml"),
    )
    .unwrap();
    dir
}

/// The flags of the governed run (and of its shards and merge).
const GOVERNED: [&str; 7] = [
    "--apis",
    APIS,
    "--current-from",
    "deployed.yaml",
    "--approve",
    APPROVED,
    "--local-ratelimit",
];

#[test]
fn demo_run() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(dir.path(), &[]);
    let out = dir.path().join("out");
    let golden = Golden::new("demo");
    golden.check("stdout.txt", &text(&output.stdout));
    let files = golden.check_outputs(&out);
    assert_eq!(
        read(&files.latest),
        read(&files.configmap),
        "latest_configmap.yaml is the normal profile's file"
    );
    assert!(
        !files.envoyfilter.exists(),
        "local rate limits are off by default"
    );
}

#[test]
fn governed_run() {
    let dir = scratch_with_deployed();
    let mut args = GOVERNED.to_vec();
    args.extend(["--diff", "--output-format", "json"]);
    let output = run(dir.path(), &args);
    let out = dir.path().join("out");
    let golden = Golden::new("governed");
    golden.check("result.json", &text(&output.stdout));
    golden.check("changes.txt", &change_table(&text(&output.stderr)));
    let files = golden.check_outputs(&out);
    // The HTML around the charts, and two of the charts in full (the held entry's, and a new
    // partner's): every chart is drawn by the same code, and twelve would be a megabyte.
    golden.check("report.html", &without_svg_bodies(&read(&files.html)));
    for chart in [
        "222__api_v3_service_multirequest",
        "444__api_v3_service_asset_action_list",
    ] {
        golden.check(
            &format!("chart_{chart}.svg"),
            &read(&files.plots.join(format!("{chart}.svg"))),
        );
    }
}

#[test]
fn explain_a_held_entry() {
    let dir = scratch_with_deployed();
    let golden = Golden::new("explain");
    // `--approve` is left out: --explain analyses one series, and approvals must name one.
    let mut args = vec![
        "--apis",
        APIS,
        "--current-from",
        "deployed.yaml",
        "--explain",
        HELD,
    ];
    golden.check("held.txt", &text(&run(dir.path(), &args).stdout));
    args.extend(["--output-format", "json"]);
    golden.check("held.json", &text(&run(dir.path(), &args).stdout));
    assert!(!dir.path().join("out").exists(), "--explain writes nothing");
}

#[test]
fn backtest() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(
        dir.path(),
        &[
            "--backtest",
            "--partners",
            "111,222",
            "--apis",
            "/api_v3/service/multirequest,/api_v3/service/asset/action/list",
        ],
    );
    let out = dir.path().join("out");
    let golden = Golden::new("backtest");
    golden.check("table.txt", &text(&output.stdout));
    golden.check("files.txt", &file_list(&out));
    let json = common::only_file(&out, "backtest_", ".json");
    golden.check("result.json", &read(&json));
    golden.check("chart.svg", &read(&json.with_extension("svg")));
}

#[test]
fn merge_of_two_shards() {
    let dir = scratch_with_deployed();
    let mut args = GOVERNED.to_vec();
    args.push("--shadow");
    for shard in ["0/2", "1/2"] {
        let mut shard_args = args.clone();
        shard_args.extend(["--shard", shard]);
        run(dir.path(), &shard_args);
    }
    args.extend(["--output-format", "json", "merge"]);
    let output = run(dir.path(), &args);
    let out = dir.path().join("out");
    let golden = Golden::new("merge");
    golden.check("result.json", &text(&output.stdout));
    golden.check_outputs(&out);
}

/// One run's folder of golden files.
struct Golden {
    dir: PathBuf,
}

impl Golden {
    fn new(name: &str) -> Self {
        Self {
            dir: trendmaster_testkit::workspace_dir()
                .join("crates/trendmaster/tests/golden")
                .join(name),
        }
    }

    /// Pins what a run wrote to `out`: the list of files, both ConfigMaps, the EnvoyFilters
    /// when they were written, and the Markdown report.
    fn check_outputs(&self, out: &Path) -> RunFiles {
        self.check("files.txt", &file_list(out));
        let files = RunFiles::in_dir(out);
        self.check("configmap.yaml", &read(&files.latest));
        self.check("configmap_degraded.yaml", &read(&files.degraded));
        if files.envoyfilter.exists() {
            self.check("envoyfilter.yaml", &read(&files.envoyfilter));
        }
        if files.global_envoyfilter.exists() {
            self.check("global_envoyfilter.yaml", &read(&files.global_envoyfilter));
        }
        self.check("report.md", &read(&files.report));
        files
    }

    /// Compares `actual`, masked, with the golden file `name` (or writes it, with
    /// `UPDATE_GOLDEN=1`), showing the differing lines on failure.
    fn check(&self, name: &str, actual: &str) {
        let actual = mask(actual);
        let path = self.dir.join(name);
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::create_dir_all(&self.dir).unwrap();
            std::fs::write(&path, &actual).unwrap();
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (UPDATE_GOLDEN=1 creates it; review it by hand)",
                path.display()
            )
        });
        if actual != expected {
            let diff = similar::TextDiff::from_lines(&expected, &actual)
                .unified_diff()
                .context_radius(2)
                .header("golden", "actual")
                .to_string();
            let shown: String = diff.lines().take(60).map(|l| format!("{l}\n")).collect();
            panic!(
                "{} changed; if that is intended, UPDATE_GOLDEN=1 and review the diff:\n{shown}",
                path.display()
            );
        }
    }
}

/// Masks what differs between two identical runs: the run's stamp (`20261201_211503`), the
/// generation time, and the checkout's path.
fn mask(text: &str) -> String {
    let root = common::root();
    let text = text.replace(&root.display().to_string(), "<repo>");
    let text = replace_pattern(&text, "########_######", "<stamp>");
    let text = replace_pattern(
        &text,
        "Generated at: ####-##-##T##:##:##Z",
        "Generated at: <now>",
    );
    replace_pattern(
        &text,
        "generated ####-##-## ##:##:## UTC",
        "generated <now>",
    )
}

/// Replaces every match of `pattern` (`#` stands for one ASCII digit) with `with`.
fn replace_pattern(text: &str, pattern: &str, with: &str) -> String {
    let (text, pattern) = (text.as_bytes(), pattern.as_bytes());
    let matches_at = |i: usize| {
        text.len() - i >= pattern.len()
            && pattern.iter().zip(&text[i..]).all(|(p, t)| match p {
                b'#' => t.is_ascii_digit(),
                p => p == t,
            })
    };
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if matches_at(i) {
            out.extend_from_slice(with.as_bytes());
            i += pattern.len();
        } else {
            out.push(text[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("only ASCII was replaced")
}

/// `html` with each inline `<svg …>…</svg>` cut down to its opening tag and its length.
fn without_svg_bodies(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(start) = rest.find("<svg") {
        let end =
            start + rest[start..].find("</svg>").expect("every <svg> is closed") + "</svg>".len();
        let tag_end = start + rest[start..].find('>').expect("the tag ends") + 1;
        out.push_str(&rest[..tag_end]);
        out.push_str(&format!("<!-- {} bytes of chart --></svg>", end - start));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// The files written under `out`, one relative path a line, sorted (stamps masked by
/// [`mask`]): pins which files a run writes, charts included.
fn file_list(out: &Path) -> String {
    let mut paths: Vec<String> = common::files_under(out)
        .into_iter()
        .filter(|(_, bytes)| bytes.is_some())
        .map(|(path, _)| mask(&path.display().to_string()))
        .collect();
    paths.sort();
    paths.iter().map(|p| format!("{p}\n")).collect()
}

/// The change table printed on stderr between the logs: from its header to `(N unchanged)`.
fn change_table(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.starts_with("partner "))
        .unwrap_or_else(|| panic!("no change table on stderr:\n{stderr}"));
    let end = start
        + lines[start..]
            .iter()
            .position(|l| l.ends_with(" unchanged)"))
            .expect("the table ends with the count of unchanged entries");
    lines[start..=end]
        .iter()
        .map(|l| format!("{l}\n"))
        .collect()
}

/// The files one run wrote to its output directory, named by the run's stamp.
struct RunFiles {
    latest: PathBuf,
    configmap: PathBuf,
    degraded: PathBuf,
    envoyfilter: PathBuf,
    global_envoyfilter: PathBuf,
    report: PathBuf,
    html: PathBuf,
    plots: PathBuf,
}

impl RunFiles {
    fn in_dir(out: &Path) -> Self {
        let report = common::only_file(out, "analysis_report_", ".md");
        let name = report.file_name().unwrap().to_string_lossy();
        let stamp = &name["analysis_report_".len()..name.len() - ".md".len()];
        Self {
            latest: out.join("latest_configmap.yaml"),
            configmap: out.join(format!("environment_configmap_{stamp}.yaml")),
            degraded: out.join(format!("environment_configmap_degraded_{stamp}.yaml")),
            envoyfilter: out.join(format!("environment_envoyfilter_{stamp}.yaml")),
            global_envoyfilter: out.join(format!("environment_global_envoyfilter_{stamp}.yaml")),
            html: report.with_extension("html"),
            plots: out.join("plots").join(stamp),
            report,
        }
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("UTF-8 output")
}
