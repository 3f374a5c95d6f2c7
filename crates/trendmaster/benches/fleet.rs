//! `make bench`: the whole `trendmaster` run on a fleet, end to end, against a REAL Prometheus on
//! 127.0.0.1 and from a Parquet file.
//!
//! For each size (default 100, 1,000 and 5,000 series: 10 APIs × 10, 100 and 500 partners) the
//! demo simulator makes 14 days at one minute; they are backfilled with `promtool` into a TSDB
//! that is kept under `$HOME/.cache/trendmaster/bench/` (backfilling 1,000 series takes minutes,
//! so later runs reuse it) and compacted by Prometheus as a long-running server's would be. The
//! same series are written to Parquet. Then the release binary runs with `--timings` once per
//! source, and a table is printed: series, points, wall seconds, series per second, peak RSS,
//! queries sent, and the stages (summed over threads, as they overlap).
//!
//! Arguments (after `--`): `--sizes 100,1000`, `--sources prometheus,parquet`,
//! `--cache-dir DIR`, `--forecaster mstl|none`, `--csv FILE` (the table as CSV too). Without
//! `--sources`, Parquet runs only up to 1,000 series: the file source reads the whole file into
//! memory (2.8 GB at 1,000 series × 14 days × 1 minute).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use trendmaster_fetch::DemoTraffic;
use trendmaster_testkit::{MetricShape, PrometheusServer};
use trendmaster_types::{AnalysisWindow, FetchedSeries, SeriesKey};

const AS_OF: &str = "2026-11-15T00:00:00Z";
const SEED: u64 = 7;
const DAYS: u32 = 14;
const APIS: [&str; 10] = [
    "/api_v3/service/multirequest",
    "/api_v3/service/asset/action/list",
    "/api_v3/service/asset/action/get",
    "/api_v3/service/asset/action/getplaybackcontext",
    "/api_v3/service/ottuser/action/login",
    "/api_v3/service/ottuser/action/get",
    "/api_v3/service/household/action/get",
    "/api_v3/service/entitlement/action/list",
    "/api_v3/service/channel/action/list",
    "/api_v3/service/bookmark/action/list",
];

struct Options {
    sizes: Vec<usize>,
    sources: Vec<String>,
    /// `--sources` was given: run every source at every size.
    sources_given: bool,
    cache_dir: PathBuf,
    forecaster: String,
    csv: Option<PathBuf>,
}

fn options() -> Options {
    let mut options = Options {
        sizes: vec![100, 1_000, 5_000],
        sources: vec!["prometheus".into(), "parquet".into()],
        sources_given: false,
        cache_dir: std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir)
            .join(".cache/trendmaster/bench"),
        forecaster: "mstl".into(),
        csv: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--sizes" => {
                options.sizes = value()
                    .split(',')
                    .map(|n| n.trim().parse().expect("--sizes: numbers"))
                    .collect()
            }
            "--sources" => {
                options.sources = value().split(',').map(str::to_string).collect();
                options.sources_given = true;
            }
            "--cache-dir" => options.cache_dir = PathBuf::from(value()),
            "--forecaster" => options.forecaster = value(),
            "--csv" => options.csv = Some(PathBuf::from(value())),
            // `cargo bench` passes --bench to every bench target.
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    options
}

fn main() {
    let options = options();
    let mut rows = Vec::new();
    for &size in &options.sizes {
        let fleet = Fleet::new(size);
        eprintln!(
            "== {size} series ({} partners × {} APIs)",
            fleet.partners.len(),
            APIS.len()
        );
        let dir = options.cache_dir.join(format!("fleet-{size}-seed{SEED}"));
        std::fs::create_dir_all(&dir).expect("bench cache directory");
        let config = fleet.write_config(&dir);
        for source in &options.sources {
            if source == "parquet" && size > 1_000 && !options.sources_given {
                eprintln!("(Parquet skipped above 1,000 series; pass --sources to run it)");
                continue;
            }
            let row = match source.as_str() {
                "prometheus" => {
                    let data_dir = dir.join("tsdb");
                    fleet.backfill(&data_dir);
                    let server = PrometheusServer::start_on(&data_dir, true)
                        .expect("a real Prometheus (scripts/install-test-deps.sh installs it)");
                    let url = server.url();
                    run(
                        &fleet,
                        &config,
                        "prometheus",
                        &["--source", "prometheus", "--prometheus-url", &url],
                        &options,
                    )
                }
                "parquet" => {
                    let path = dir.join("fleet.parquet");
                    fleet.export(&path);
                    let source = format!("file:{}", path.display());
                    run(&fleet, &config, "parquet", &["--source", &source], &options)
                }
                other => panic!("unknown source {other}"),
            };
            eprintln!("{}", row.line());
            rows.push(row);
        }
    }
    println!("{}", Row::header());
    for row in &rows {
        println!("{}", row.line());
    }
    if let Some(path) = &options.csv {
        let mut csv = String::from(Row::CSV_HEADER);
        for row in &rows {
            csv.push_str(&row.csv());
        }
        std::fs::write(path, csv).expect("write --csv");
    }
}

/// The benchmark fleet: `size / 10` partners × the ten APIs.
struct Fleet {
    partners: Vec<String>,
    window: AnalysisWindow,
}

impl Fleet {
    fn new(size: usize) -> Self {
        assert!(
            size.is_multiple_of(APIS.len()) && size > 0,
            "sizes are multiples of 10"
        );
        Self {
            partners: (0..size / APIS.len())
                .map(|i| (100_000 + i).to_string())
                .collect(),
            window: AnalysisWindow::ending_at(AS_OF.parse().unwrap(), DAYS, 60),
        }
    }

    fn keys(&self) -> Vec<SeriesKey> {
        self.partners
            .iter()
            .flat_map(|p| APIS.iter().map(move |a| SeriesKey::new(p, *a)))
            .collect()
    }

    /// The demo simulator's series, without a cache hit ratio: one Prometheus counter per
    /// partner × API (a ratio would add a HIT and a MISS series each, doubling the backfill).
    fn series(&self) -> Vec<FetchedSeries> {
        let demo = DemoTraffic::new(SEED);
        self.keys()
            .iter()
            .map(|key| {
                let mut series = demo.series(key, &self.window);
                series.cache_hit_ratio = None;
                series
            })
            .collect()
    }

    fn points(&self) -> usize {
        self.partners.len() * APIS.len() * self.window.len()
    }

    /// The repository's configuration with this fleet as the `environment` partners and APIs.
    fn write_config(&self, dir: &Path) -> PathBuf {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/config.yaml");
        let text = std::fs::read_to_string(&repo).expect("config/config.yaml");
        let mut config: serde_yaml::Value = serde_yaml::from_str(&text).expect("config YAML");
        let environment = &mut config["PARTNER_CONFIGS"]["environment"];
        environment["partners"] = serde_yaml::to_value(&self.partners).unwrap();
        environment["apis"] = serde_yaml::to_value(APIS).unwrap();
        if let Some(map) = environment.as_mapping_mut() {
            // Tiers and other per-partner settings name the demo's partners.
            map.remove("partner_tiers");
        }
        let path = dir.join("config.yaml");
        std::fs::write(&path, serde_yaml::to_string(&config).unwrap()).expect("write config");
        path
    }

    /// Backfills the fleet into `data_dir` once; a `complete` marker says it is done (and
    /// compacted), so an interrupted backfill is redone rather than half-used.
    fn backfill(&self, data_dir: &Path) {
        let marker = data_dir.join("complete");
        if marker.exists() {
            return;
        }
        if data_dir.exists() {
            std::fs::remove_dir_all(data_dir).expect("remove a half-made TSDB");
        }
        let started = Instant::now();
        let series = self.series();
        PrometheusServer::backfill_into(&series, MetricShape::Nginx, data_dir)
            .expect("promtool backfill");
        drop(series);
        let backfilled = started.elapsed();
        eprintln!(
            "backfilled {} in {:.0} s; compacting",
            data_dir.display(),
            backfilled.as_secs_f64()
        );
        let started = Instant::now();
        let server = PrometheusServer::start_on(data_dir, true).expect("prometheus");
        let blocks = server
            .wait_for_compaction(data_dir, Duration::from_secs(20))
            .expect("compaction");
        drop(server);
        eprintln!(
            "compacted into {blocks} blocks in {:.0} s",
            started.elapsed().as_secs_f64()
        );
        std::fs::write(
            &marker,
            format!(
                "backfill_seconds {:.1}\ncompaction_seconds {:.1}\n",
                backfilled.as_secs_f64(),
                started.elapsed().as_secs_f64()
            ),
        )
        .expect("marker");
    }

    fn export(&self, path: &Path) {
        if path.exists() {
            return;
        }
        let partial = path.with_extension("partial.parquet");
        trendmaster_fetch::export::export(&partial, &self.series()).expect("export Parquet");
        std::fs::rename(&partial, path).expect("rename Parquet");
    }
}

struct Row {
    source: &'static str,
    series: usize,
    points: usize,
    wall: f64,
    timings: BTreeMap<String, f64>,
    peak_rss: f64,
    queries: u64,
    bytes: u64,
}

fn run(
    fleet: &Fleet,
    config: &Path,
    source: &'static str,
    args: &[&str],
    options: &Options,
) -> Row {
    let out = tempfile::tempdir().expect("output dir");
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_trendmaster"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .args(["--config", config.to_str().unwrap(), "--env", "environment"])
        .args(["--as-of", AS_OF, "--seed", &SEED.to_string()])
        .args(["--forecaster", &options.forecaster])
        .args(["--output-dir", out.path().to_str().unwrap()])
        .args(["--output-format", "json", "--timings"])
        .args(args)
        .output()
        .expect("the trendmaster binary runs");
    let wall = started.elapsed().as_secs_f64();
    assert!(
        output.status.success(),
        "trendmaster failed on {source}:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result: Value = serde_json::from_slice(&output.stdout).expect("stdout is JSON");
    let recommended = result["recommendations"].as_array().map_or(0, Vec::len);
    let skipped = result["skipped"].as_array().map_or(0, Vec::len);
    assert_eq!(
        recommended + skipped,
        fleet.partners.len() * APIS.len(),
        "every series is accounted for"
    );
    let timings: BTreeMap<String, f64> = result["timings"]
        .as_object()
        .expect("--timings in the result")
        .iter()
        .filter_map(|(k, v)| v.as_f64().map(|v| (k.clone(), v)))
        .collect();
    Row {
        source,
        series: recommended + skipped,
        points: fleet.points(),
        wall,
        peak_rss: timings.get("peak_rss_bytes").copied().unwrap_or(f64::NAN) / (1 << 20) as f64,
        queries: result["fetch"]["queries"].as_u64().unwrap_or(0),
        bytes: result["fetch"]["bytes"].as_u64().unwrap_or(0),
        timings,
    }
}

impl Row {
    const CSV_HEADER: &'static str = "source,series,points,wall_s,series_per_s,peak_rss_mib,queries,response_mib,fetch_and_analysis_s,request_s,parse_s,analysis_s,calculation_s,output_s\n";

    fn header() -> String {
        format!(
            "{:<10} {:>6} {:>11} {:>7} {:>8} {:>8} {:>7} {:>8} | {:>9} {:>8} {:>7} {:>9} {:>6} {:>7}",
            "source",
            "series",
            "points",
            "wall s",
            "series/s",
            "RSS MiB",
            "queries",
            "resp MiB",
            "fetch+an",
            "request",
            "parse",
            "analysis",
            "calc",
            "output"
        )
    }

    fn stage(&self, name: &str) -> f64 {
        self.timings.get(name).copied().unwrap_or(f64::NAN)
    }

    /// The measured columns after `source` and `series`, in table order.
    fn measured(&self) -> [f64; 12] {
        [
            self.points as f64,
            self.wall,
            self.series as f64 / self.wall,
            self.peak_rss,
            self.queries as f64,
            self.bytes as f64 / (1 << 20) as f64,
            self.stage("fetch_and_analysis_seconds"),
            self.stage("request_seconds"),
            self.stage("parse_seconds"),
            self.stage("analysis_seconds"),
            self.stage("calculation_seconds"),
            self.stage("output_seconds"),
        ]
    }

    fn line(&self) -> String {
        let [
            points,
            wall,
            rate,
            rss,
            queries,
            mib,
            streamed,
            request,
            parse,
            analysis,
            calc,
            output,
        ] = self.measured();
        format!(
            "{:<10} {:>6} {points:>11} {wall:>7.1} {rate:>8.1} {rss:>8.0} {queries:>7} {mib:>8.0} | {streamed:>9.1} {request:>8.1} {parse:>7.1} {analysis:>9.1} {calc:>6.2} {output:>7.2}",
            self.source, self.series,
        )
    }

    fn csv(&self) -> String {
        let values: Vec<String> = self.measured().iter().map(|v| format!("{v:.3}")).collect();
        format!("{},{},{}\n", self.source, self.series, values.join(","))
    }
}
