//! A real `prometheus` process on 127.0.0.1, serving backfilled history from a temporary dir.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;
use trendmaster_types::FetchedSeries;

use crate::openmetrics::{BlockFiles, MetricShape};

/// `promtool` processes run at once, while this process writes the next file. On two cores,
/// 36 series × 14 days took 18–20 s with one, 11–16 s with two and no less with three.
const BACKFILL_JOBS: usize = 2;
/// How long Prometheus may take to open its blocks and answer `/-/ready`.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
const READY_POLL: Duration = Duration::from_millis(50);
/// Another process may take the port between our probe and Prometheus' bind.
const PORT_ATTEMPTS: usize = 3;

const NO_SCRAPES_COMMENT: &str = "# No scrape targets: all data is backfilled.\n";
const NO_SCRAPES: &str = "# No scrape targets: all data is backfilled.\nglobal: {}\n";

const INSTALL_HINT: &str =
    "run scripts/install-test-deps.sh (`make test` does) to install Prometheus 2.x";

/// A Prometheus server holding `series` as history, listening on 127.0.0.1 until dropped.
///
/// Dropping it kills the process, waits for it and deletes its directory, also when a test
/// panics. (A test process killed outright leaves it running: nothing then runs `Drop`.)
#[derive(Debug)]
pub struct PrometheusServer {
    child: Child,
    port: u16,
    log_path: PathBuf,
    backfill_seconds: f64,
    startup_seconds: f64,
    /// Last, so that it is deleted after the process has stopped.
    dir: TempDir,
}

impl PrometheusServer {
    /// Backfills `series` as `shape` counters (see [`crate::write_openmetrics`]) and starts
    /// Prometheus on them. Fails, never skips, when `prometheus` or `promtool` is not on PATH.
    pub fn start(series: &[FetchedSeries], shape: MetricShape) -> Result<Self, String> {
        Self::start_with_rules(series, shape, &[])
    }

    /// As [`Self::start`], with `rule_files` loaded and every rule evaluated each second (as a
    /// Prometheus does at its `evaluation_interval`), so that recorded series appear at once.
    pub fn start_with_rules(
        series: &[FetchedSeries],
        shape: MetricShape,
        rule_files: &[&Path],
    ) -> Result<Self, String> {
        let dir = temp_dir()?;
        let data_dir = dir.path().join("data");
        let started = Instant::now();
        Self::backfill_into(series, shape, &data_dir)?;
        let backfill_seconds = started.elapsed().as_secs_f64();
        let config = if rule_files.is_empty() {
            NO_SCRAPES.to_string()
        } else {
            let files: Vec<String> = rule_files
                .iter()
                .map(|path| format!("  - {:?}\n", path.display().to_string()))
                .collect();
            format!(
                "{}global:\n  evaluation_interval: 1s\nrule_files:\n{}",
                NO_SCRAPES_COMMENT,
                files.concat()
            )
        };
        Self::launch(dir, &data_dir, false, backfill_seconds, &config)
    }

    /// Backfills `series` as `shape` counters into `data_dir` (created if missing), for
    /// [`Self::start_on`]: benchmarks keep a fleet's TSDB between runs, because backfilling
    /// 1,000 series × 14 days takes minutes.
    pub fn backfill_into(
        series: &[FetchedSeries],
        shape: MetricShape,
        data_dir: &Path,
    ) -> Result<(), String> {
        let promtool = find_program("promtool", std::env::var_os("PATH").as_deref())?;
        let staging = data_dir.with_extension("openmetrics");
        for d in [data_dir, &staging] {
            fs::create_dir_all(d).map_err(|e| format!("cannot create {}: {e}", d.display()))?;
        }
        backfill(series, shape, &promtool, &staging, data_dir)?;
        fs::remove_dir_all(&staging)
            .map_err(|e| format!("cannot remove {}: {e}", staging.display()))
    }

    /// Starts Prometheus on an existing `data_dir`, which is left in place when the server
    /// stops. With `compact`, Prometheus compacts the two-hour blocks of a backfill into larger
    /// ones, as a long-running server has (the first minute after the start; see
    /// [`Self::wait_for_compaction`]); without, blocks stay as they are.
    pub fn start_on(data_dir: &Path, compact: bool) -> Result<Self, String> {
        Self::launch(temp_dir()?, data_dir, compact, 0.0, NO_SCRAPES)
    }

    /// Waits until Prometheus has compacted its blocks: the block count has not changed for
    /// `quiet`, and its first compaction (a minute after the start) has had time to begin.
    pub fn wait_for_compaction(&self, data_dir: &Path, quiet: Duration) -> Result<usize, String> {
        let count = || -> Result<usize, String> {
            Ok(fs::read_dir(data_dir)
                .map_err(|e| format!("cannot list {}: {e}", data_dir.display()))?
                .filter_map(Result::ok)
                .filter(|e| e.path().join("meta.json").is_file())
                .count())
        };
        let first_compaction = Instant::now() + Duration::from_secs(75);
        let mut last = count()?;
        let mut since = Instant::now();
        loop {
            thread::sleep(Duration::from_secs(2));
            let now = count()?;
            if now != last {
                last = now;
                since = Instant::now();
            } else if Instant::now() >= first_compaction && since.elapsed() >= quiet {
                return Ok(now);
            }
        }
    }

    fn launch(
        dir: TempDir,
        data_dir: &Path,
        compact: bool,
        backfill_seconds: f64,
        config_text: &str,
    ) -> Result<Self, String> {
        let path_var = std::env::var_os("PATH");
        let prometheus = find_program("prometheus", path_var.as_deref())?;
        let config = dir.path().join("prometheus.yml");
        fs::write(&config, config_text)
            .map_err(|e| format!("cannot write {}: {e}", config.display()))?;
        let log_path = dir.path().join("prometheus.log");

        let started = Instant::now();
        let mut last_error = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port()?;
            let mut child = spawn(&prometheus, &config, data_dir, &log_path, port, compact)?;
            match wait_ready(&mut child, port) {
                Ok(()) => {
                    return Ok(Self {
                        child,
                        port,
                        log_path,
                        backfill_seconds,
                        startup_seconds: started.elapsed().as_secs_f64(),
                        dir,
                    });
                }
                Err(error) => {
                    stop(&mut child);
                    let log = read_log(&log_path);
                    if !log.contains("address already in use") {
                        return Err(format!("{error}\n--- prometheus log ---\n{log}"));
                    }
                    last_error = error;
                }
            }
        }
        Err(format!(
            "{last_error}: {PORT_ATTEMPTS} ports in a row were taken"
        ))
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The port Prometheus listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Everything Prometheus has written to stdout and stderr so far.
    pub fn log(&self) -> String {
        read_log(&self.log_path)
    }

    /// Wall-clock seconds spent turning the series into TSDB blocks (writing OpenMetrics files
    /// and running `promtool` on them, overlapped).
    pub fn backfill_seconds(&self) -> f64 {
        self.backfill_seconds
    }

    /// Wall-clock seconds from starting `prometheus` until `/-/ready` answered 200.
    pub fn startup_seconds(&self) -> f64 {
        self.startup_seconds
    }

    /// The directory holding the data, the configuration and the log; deleted on drop.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

fn temp_dir() -> Result<TempDir, String> {
    tempfile::Builder::new()
        .prefix("trendmaster-prometheus-")
        .tempdir()
        .map_err(|e| format!("cannot create a temporary directory: {e}"))
}

/// Polls `/-/ready` until it answers 200, the process exits or [`READY_TIMEOUT`] passes.
fn wait_ready(child: &mut Child, port: u16) -> Result<(), String> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return Err(format!("prometheus exited during startup ({status})"));
        }
        if http_status(address, "/-/ready") == Some(200) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "prometheus was not ready on port {port} after {} s",
                READY_TIMEOUT.as_secs()
            ));
        }
        thread::sleep(READY_POLL);
    }
}

fn stop(child: &mut Child) {
    // Already exited is fine, and a test can do nothing else about a failed kill.
    let _ = child.kill();
    let _ = child.wait();
}

fn read_log(path: &Path) -> String {
    match fs::read(path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

/// Writes the OpenMetrics files one block at a time and runs `promtool` on each, deleting each
/// file once it is in `data_dir`, so that the text never exists all at once.
fn backfill(
    series: &[FetchedSeries],
    shape: MetricShape,
    promtool: &Path,
    staging: &Path,
    data_dir: &Path,
) -> Result<(), String> {
    let mut blocks = BlockFiles::new(series, shape).map_err(|e| e.to_string())?;
    // Bounded: the writer stays at most one file ahead of each promtool.
    let (sender, receiver) = mpsc::sync_channel::<PathBuf>(BACKFILL_JOBS);
    let receiver = Mutex::new(receiver);
    let failure: Mutex<Option<String>> = Mutex::new(None);

    thread::scope(|scope| {
        for _ in 0..BACKFILL_JOBS {
            scope.spawn(|| {
                // Keeps receiving after a failure, so that the writer never blocks on a full
                // channel; it stops when the writer hangs up.
                while let Ok(Ok(file)) = receiver.lock().map(|r| r.recv()) {
                    if has_failed(&failure) {
                        continue;
                    }
                    if let Err(error) = create_blocks(promtool, &file, data_dir) {
                        record(&failure, error);
                    }
                }
            });
        }
        while !has_failed(&failure) {
            match blocks.write_next(staging) {
                Ok(Some(file)) => {
                    if sender.send(file).is_err() {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let dir = staging.display();
                    record(
                        &failure,
                        format!("cannot write OpenMetrics into {dir}: {e}"),
                    );
                }
            }
        }
        drop(sender);
    });

    match failure.into_inner().unwrap_or_else(|e| e.into_inner()) {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

fn has_failed(failure: &Mutex<Option<String>>) -> bool {
    failure.lock().map_or(true, |f| f.is_some())
}

/// Keeps the first error: later ones are usually consequences.
fn record(failure: &Mutex<Option<String>>, error: String) {
    let mut first = failure.lock().unwrap_or_else(|e| e.into_inner());
    first.get_or_insert(error);
}

fn create_blocks(promtool: &Path, file: &Path, data_dir: &Path) -> Result<(), String> {
    let output = Command::new(promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics", "--quiet"])
        .arg(file)
        .arg(data_dir)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", promtool.display()))?;
    if !output.status.success() {
        return Err(format!(
            "promtool failed on {} ({}):\n{}{}",
            file.display(),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    fs::remove_file(file).map_err(|e| format!("cannot remove {}: {e}", file.display()))
}

fn spawn(
    prometheus: &Path,
    config: &Path,
    data_dir: &Path,
    log_path: &Path,
    port: u16,
    compact: bool,
) -> Result<Child, String> {
    let log =
        File::create(log_path).map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
    let log_too = log.try_clone().map_err(|e| e.to_string())?;
    let listen = format!("127.0.0.1:{port}");
    let mut command = Command::new(prometheus);
    command
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", data_dir.display()))
        .arg(format!("--web.listen-address={listen}"))
        // Links in the UI and API point here instead of at the machine's hostname.
        .arg(format!("--web.external-url=http://{listen}/"))
        // The history may be weeks or years old: it must not be deleted as expired.
        .arg("--storage.tsdb.retention.time=100y");
    if !compact {
        // The history never changes: compacting its many two-hour blocks a minute after the
        // start would only compete with the tests for the CPU. (Hidden flags, as Thanos uses.)
        command
            .arg("--storage.tsdb.min-block-duration=2h")
            .arg("--storage.tsdb.max-block-duration=2h");
    }
    command
        .current_dir(config.parent().unwrap_or(Path::new(".")))
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_too)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", prometheus.display()))
}

/// The first executable `name` in `path_var`, or an error that says how to install it.
pub fn find_program(name: &str, path_var: Option<&OsStr>) -> Result<PathBuf, String> {
    let found = path_var
        .into_iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate));
    found.ok_or_else(|| format!("`{name}` is not on PATH: {INSTALL_HINT}"))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A port that was free a moment ago: bind to port 0, read it, release it.
fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| format!("cannot bind 127.0.0.1:0: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

/// The status code of an HTTP/1.0 GET, or `None` if there is no well-formed answer.
fn http_status(address: SocketAddr, path: &str) -> Option<u16> {
    let timeout = Duration::from_secs(2);
    let mut stream = TcpStream::connect_timeout(&address, timeout).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    stream.set_write_timeout(Some(timeout)).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n").ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    // "HTTP/1.x 200"
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use serde_json::Value;
    use std::collections::HashMap;
    use std::io;
    use trendmaster_fetch::DemoTraffic;
    use trendmaster_types::{AnalysisWindow, SeriesKey};

    const PARTNERS: [&str; 4] = ["111", "222", "333", "444"];
    const APIS: [&str; 2] = [
        "/api_v3/service/multirequest",
        "/api_v3/service/asset/action/list",
    ];

    fn window(days: u32) -> AnalysisWindow {
        let end: DateTime<Utc> = "2026-11-15T00:00:00Z".parse().unwrap();
        AnalysisWindow::ending_at(end, days, 60)
    }

    /// 4 partners × 2 APIs of the demo over two days: gaps, and series with and without a
    /// cache hit ratio.
    fn demo_series() -> Vec<FetchedSeries> {
        let demo = DemoTraffic::new(1);
        let window = window(2);
        let series: Vec<FetchedSeries> = PARTNERS
            .iter()
            .flat_map(|p| APIS.iter().map(move |a| SeriesKey::new(*p, *a)))
            .map(|key| demo.series(&key, &window))
            .collect();
        assert!(series.iter().any(|s| s.cache_hit_ratio.is_some()));
        assert!(series.iter().any(|s| s.cache_hit_ratio.is_none()));
        assert!(
            series
                .iter()
                .any(|s| s.series.present_count() < window.len())
        );
        series
    }

    fn start(series: &[FetchedSeries], shape: MetricShape) -> PrometheusServer {
        PrometheusServer::start(series, shape).unwrap_or_else(|e| panic!("{e}"))
    }

    fn url_encode(text: &str) -> String {
        let mut encoded = String::new();
        for byte in text.bytes() {
            match byte {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    encoded.push(char::from(byte));
                }
                _ => encoded.push_str(&format!("%{byte:02X}")),
            }
        }
        encoded
    }

    /// `GET /api/v1/<endpoint>?<params>` over HTTP/1.0; panics unless the answer is a success.
    fn api(server: &PrometheusServer, endpoint: &str, params: &[(&str, String)]) -> Value {
        let query: Vec<String> = params
            .iter()
            .map(|(name, value)| format!("{name}={}", url_encode(value)))
            .collect();
        let mut stream = TcpStream::connect(("127.0.0.1", server.port())).unwrap();
        write!(
            stream,
            "GET /api/v1/{endpoint}?{} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n",
            query.join("&")
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        assert!(
            head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
            "{response}"
        );
        let json: Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["status"], "success", "{body}");
        json["data"]["result"].clone()
    }

    fn seconds(t: DateTime<Utc>) -> String {
        t.timestamp().to_string()
    }

    fn label<'a>(result: &'a Value, name: &str) -> &'a str {
        result["metric"][name].as_str().unwrap_or_default()
    }

    fn number(pair: &Value) -> (i64, f64) {
        let t = pair[0].as_f64().unwrap();
        let v = pair[1].as_str().unwrap().parse().unwrap();
        (t as i64, v)
    }

    fn assert_close(actual: f64, expected: f64, what: &str) {
        let tolerance = 1e-9 * expected.abs();
        assert!(
            (actual - expected).abs() <= tolerance,
            "{what}: {actual} != {expected}"
        );
    }

    /// Runs the preset's per-step query and checks it returns every series' grid values at the
    /// right timestamps, and nothing at gaps.
    fn assert_increase_gives_back_the_grid(
        server: &PrometheusServer,
        series: &[FetchedSeries],
        query: &str,
        path_label: &str,
    ) {
        let window = series[0].series.window;
        let step = i64::from(window.step_secs);
        let results = api(
            server,
            "query_range",
            &[
                ("query", query.to_string()),
                ("start", (window.start.timestamp() + step).to_string()),
                ("end", seconds(window.end)),
                ("step", step.to_string()),
            ],
        );
        let mut by_key: HashMap<SeriesKey, HashMap<i64, f64>> = HashMap::new();
        for result in results.as_array().unwrap() {
            let key = SeriesKey::new(label(result, "partner"), label(result, path_label));
            let values = result["values"].as_array().unwrap().iter().map(number);
            assert!(by_key.insert(key, values.collect()).is_none());
        }
        assert_eq!(by_key.len(), series.len());
        for fetched in series {
            let key = &fetched.series.key;
            let returned = &by_key[key];
            assert_eq!(returned.len(), fetched.series.present_count(), "{key}");
            for (i, value) in fetched.series.values.iter().enumerate() {
                let evaluated_at = window.start.timestamp() + (i as i64 + 1) * step;
                match returned.get(&evaluated_at) {
                    None => assert!(value.is_nan(), "{key}: no value for point {i}"),
                    Some(actual) => {
                        assert!(!value.is_nan(), "{key}: {actual} at gap point {i}");
                        let expected = value * step as f64 / 60.0;
                        assert_close(*actual, expected, &format!("{key} point {i}"));
                    }
                }
            }
        }
    }

    #[test]
    fn nginx_preset_queries_give_back_the_demo_values_and_cache_hit_ratios() {
        let series = demo_series();
        let server = start(&series, MetricShape::Nginx);
        assert_increase_gives_back_the_grid(
            &server,
            &series,
            "sum by (partner, path) (increase(service_nginx_request_time_s_count[60s]))",
            "path",
        );

        let window = series[0].series.window;
        let range = (window.end - window.start).num_seconds();
        let m = "service_nginx_request_time_s_count";
        let ratio_query = format!(
            r#"sum by (partner, path) (increase({m}{{partner=~".+", cache_status=~"HIT|EXPIRED|STALE"}}[{range}s]))
             / sum by (partner, path) (increase({m}{{partner=~".+", cache_status!=""}}[{range}s]))"#
        );
        let results = api(
            &server,
            "query",
            &[("query", ratio_query), ("time", seconds(window.end))],
        );
        let ratios: HashMap<SeriesKey, f64> = results
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let key = SeriesKey::new(label(r, "partner"), label(r, "path"));
                (key, number(&r["value"]).1)
            })
            .collect();
        let with_ratio: Vec<_> = series
            .iter()
            .filter(|s| s.cache_hit_ratio.is_some())
            .collect();
        assert_eq!(ratios.len(), with_ratio.len(), "{ratios:?}");
        for fetched in with_ratio {
            let key = &fetched.series.key;
            assert_close(
                ratios[key],
                fetched.cache_hit_ratio.unwrap(),
                &key.to_string(),
            );
        }
    }

    #[test]
    fn istio_preset_query_counts_the_destination_reporter_only() {
        let series = demo_series();
        let server = start(&series, MetricShape::Istio);
        assert_increase_gives_back_the_grid(
            &server,
            &series,
            r#"sum by (partner, request_path) (increase(istio_requests_total{reporter="destination"}[60s]))"#,
            "request_path",
        );

        // The source-reporter duplicates exist: the selector is what leaves them out.
        let window = series[0].series.window;
        let results = api(
            &server,
            "query",
            &[
                (
                    "query",
                    "count by (reporter) (last_over_time(istio_requests_total[2d]))".into(),
                ),
                ("time", seconds(window.end)),
            ],
        );
        let mut counts: Vec<(String, f64)> = results
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (label(r, "reporter").to_string(), number(&r["value"]).1))
            .collect();
        counts.sort_by(|a, b| a.0.cmp(&b.0));
        let n = series.len() as f64;
        assert_eq!(counts, [("destination".into(), n), ("source".into(), n)]);
    }

    #[test]
    fn dropping_the_server_stops_it_and_deletes_its_directory() {
        let key = SeriesKey::new("111", APIS[0]);
        let series = [DemoTraffic::new(1).series(&key, &window(1))];
        let server = start(&series, MetricShape::Nginx);
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, server.port()));
        assert_eq!(http_status(address, "/-/ready"), Some(200));
        assert_eq!(server.url(), format!("http://127.0.0.1:{}", server.port()));
        assert!(server.log().contains("Server is ready"), "{}", server.log());
        let dir = server.dir().to_path_buf();
        assert!(server.backfill_seconds() > 0.0 && server.startup_seconds() > 0.0);

        drop(server);
        let refused = TcpStream::connect_timeout(&address, Duration::from_secs(2)).unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
        assert!(!dir.exists(), "{} is left behind", dir.display());
    }

    #[test]
    fn a_failing_promtool_stops_the_backfill_with_its_message() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let promtool = dir.path().join("promtool");
        fs::write(&promtool, "#!/bin/sh\necho 'bad input' >&2\nexit 3\n").unwrap();
        fs::set_permissions(&promtool, fs::Permissions::from_mode(0o755)).unwrap();
        let (staging, data) = (dir.path().join("om"), dir.path().join("data"));
        fs::create_dir(&staging).unwrap();
        // Two days are 24 blocks: more than the channel holds, so a stuck writer would hang.
        let series = [DemoTraffic::new(1).series(&SeriesKey::new("1", "/a"), &window(2))];
        let err = backfill(&series, MetricShape::Nginx, &promtool, &staging, &data).unwrap_err();
        assert!(
            err.contains("promtool failed") && err.contains("bad input"),
            "{err}"
        );
    }

    #[test]
    fn missing_programs_are_an_error_that_says_how_to_install_them() {
        let empty = tempfile::tempdir().unwrap();
        let err = find_program("promtool", Some(empty.path().as_os_str())).unwrap_err();
        assert!(err.contains("`promtool` is not on PATH"), "{err}");
        assert!(err.contains("scripts/install-test-deps.sh"), "{err}");
        assert!(find_program("prometheus", None).is_err());

        // A file of that name that cannot be executed does not count.
        fs::write(empty.path().join("promtool"), "").unwrap();
        assert!(find_program("promtool", Some(empty.path().as_os_str())).is_err());
    }
}
