//! Faults during a run against an output directory that already holds earlier runs: a source
//! that dies mid-run, and a second run while one is going. Neither may change a byte of
//! `output/`. The Prometheus here is a fake on 127.0.0.1 (`testkit::fake_prometheus`), because a
//! real one cannot be made to die between two particular queries.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{files_under as snapshot, root, trendmaster};
use trendmaster_testkit::fake_prometheus::{FakePrometheus, Reply};

/// `out/` after two demo runs: ConfigMaps, reports, charts and `latest_configmap.yaml`.
fn earlier_runs(dir: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    for as_of in ["2026-11-14", "2026-11-15"] {
        let output = trendmaster(
            dir,
            &["--partners", "111", "--as-of", as_of, "--output-dir", "out"],
        );
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        // Output files are stamped to the second.
        std::thread::sleep(Duration::from_millis(1100));
    }
    let before = snapshot(&dir.join("out"));
    assert!(before.len() > 8, "{:?}", before.keys());
    assert!(before.contains_key(Path::new("latest_configmap.yaml")));
    before
}

/// A well-formed `query_range` answer with traffic for partner 111's multirequest API.
fn matrix() -> String {
    let values: Vec<String> = (1..=600)
        .map(|i| format!("[{},\"{}\"]", 1_794_096_000 + i * 60, 40 + i % 7))
        .collect();
    format!(
        r#"{{"status":"success","data":{{"resultType":"matrix","result":[{{"metric":{{"partner":"111","path":"/api_v3/service/multirequest"}},"values":[{}]}}]}}}}"#,
        values.join(",")
    )
}

fn prometheus_args(url: &str) -> Vec<String> {
    let fast = root().join("crates/trendmaster/tests/bad_input/prometheus.yaml");
    [
        "-c",
        fast.to_str().unwrap(),
        "--source",
        "prometheus",
        "--prometheus-url",
        url,
        "--partners",
        "111",
        "--as-of",
        "2026-11-15",
        "--output-dir",
        "out",
    ]
    .map(String::from)
    .to_vec()
}

fn run_in(dir: &Path, args: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trendmaster"))
        .current_dir(dir)
        .env_clear()
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn a_source_killed_mid_run_leaves_the_output_directory_byte_for_byte_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let before = earlier_runs(dir.path());

    // Three good answers, then the server is gone: a query cut off mid-run, later ones refused.
    let good = Reply::Send(200, Vec::new(), matrix());
    let fake = FakePrometheus::start(vec![good.clone(), good.clone(), good, Reply::Die]);
    let output = run_in(dir.path(), &prometheus_args(&fake.url()));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("series could not be fetched, so nothing was written"),
        "{stderr}"
    );
    assert!(
        fake.requests().len() >= 3,
        "the run got answers before the source died: {}",
        fake.requests().len()
    );
    assert_eq!(
        snapshot(&dir.path().join("out")),
        before,
        "output/ changed although the run failed"
    );
    // No temporary file of ours is left beside the output directory either.
    let stray: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|name| name != "out")
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
}

#[test]
fn a_second_run_on_the_same_output_directory_exits_with_a_clear_message_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let before = earlier_runs(dir.path());

    // The first run waits on a slow source while it holds the output directory.
    let slow = Reply::Slow(
        Duration::from_secs(3),
        200,
        r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#.into(),
    );
    let fake = FakePrometheus::start(vec![slow]);
    let first = Command::new(env!("CARGO_BIN_EXE_trendmaster"))
        .current_dir(dir.path())
        .env_clear()
        .args(prometheus_args(&fake.url()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while fake.requests().is_empty() {
        assert!(Instant::now() < deadline, "the first run never queried");
        std::thread::sleep(Duration::from_millis(20));
    }

    let second = trendmaster(dir.path(), &["--partners", "111", "--output-dir", "out"]);
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("trendmaster: error: out: another trendmaster run is writing to this output directory; nothing was done"),
        "{stderr}"
    );
    assert_eq!(snapshot(&dir.path().join("out")), before);

    // The first run was not disturbed: it ends on its own terms (no traffic: nothing written).
    let first = first.wait_with_output().unwrap();
    let first_stderr = String::from_utf8_lossy(&first.stderr);
    assert_eq!(first.status.code(), Some(1), "{first_stderr}");
    assert!(
        first_stderr.contains("none of the 9 series yielded a recommendation"),
        "{first_stderr}"
    );
    assert_eq!(snapshot(&dir.path().join("out")), before);

    // With the first run gone, the lock is free again.
    let third = trendmaster(
        dir.path(),
        &["--partners", "111", "--output-dir", "out", "--no-charts"],
    );
    assert!(
        third.status.success(),
        "{}",
        String::from_utf8_lossy(&third.stderr)
    );
}

#[test]
fn a_file_size_limit_fails_the_run_with_one_line_and_leaves_the_output_directory_as_it_was() {
    // Found by the soak (tests/soak.rs): past a file size limit (`ulimit -f`, `prlimit
    // --fsize`) the kernel sends SIGXFSZ, which killed the run mid-write with no message and
    // left its temporary file; and a run that failed after its first chart left that chart's
    // directory behind.
    let dir = tempfile::tempdir().unwrap();
    let before = earlier_runs(dir.path());
    let output = Command::new("prlimit")
        .arg("--fsize=65536")
        .arg(env!("CARGO_BIN_EXE_trendmaster"))
        .current_dir(dir.path())
        .env_clear()
        .arg("--config")
        .arg(root().join("config/config.yaml"))
        .args([
            "--partners",
            "111",
            "--as-of",
            "2026-11-16",
            "--output-dir",
            "out",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("trendmaster: error: "))
        .collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].contains("File too large"), "{stderr}");
    assert_eq!(
        snapshot(&dir.path().join("out")),
        before,
        "output/ changed although the run failed"
    );
}
