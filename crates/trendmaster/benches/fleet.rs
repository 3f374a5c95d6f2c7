//! `make bench`: the whole `trendmaster` run on a fleet, end to end, against a REAL Prometheus on
//! 127.0.0.1 and from a Parquet file, each case repeated.
//!
//! For each size (10 APIs × size/10 partners) the demo simulator makes 14 days at one minute;
//! they are backfilled with `promtool` into a TSDB that is kept under
//! `$HOME/.cache/trendmaster/bench/` (backfilling 1,000 series takes minutes, so later runs reuse
//! it) and compacted by Prometheus as a long-running server's would be. The same series are
//! written to Parquet (a batch of partners at a time). Then the release binary runs with
//! `--timings` `--runs` times per case, and a table gives the median and the range (min–max) of
//! the wall time, the process's CPU time and its peak RSS, and the median of each stage (busy
//! time summed over threads, as stages overlap; "setup" is what comes before the first series is
//! analysed: configuration, reading the deployed file, opening the source).
//!
//! Default cases: Parquet and Prometheus at 100 and 1,000 series; `--large` adds Parquet at
//! 10,000 and Prometheus at 5,000 (the first backfill of 5,000 series takes about 15 minutes).
//! Arguments (after `--`): `--sizes 100,1000` (instead of the defaults, for every source),
//! `--sources prometheus,parquet`, `--large`, `--runs N` (3), `--cache-dir DIR`,
//! `--forecaster mstl|none`, `--csv FILE` (every run as CSV).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use trendmaster_fetch::export::Exporter;
use trendmaster_fetch::{DemoTraffic, FLEET_APIS as APIS};
use trendmaster_testkit::{MetricShape, PrometheusServer};
use trendmaster_types::{AnalysisWindow, FetchedSeries, SeriesKey};

const AS_OF: &str = "2026-11-15T00:00:00Z";
const SEED: u64 = 7;
const DAYS: u32 = 14;

struct Options {
    /// `(source, size)` in the order they run.
    cases: Vec<(String, usize)>,
    runs: usize,
    cache_dir: PathBuf,
    forecaster: String,
    csv: Option<PathBuf>,
}

fn options() -> Options {
    let mut sizes: Option<Vec<usize>> = None;
    let mut sources = vec!["parquet".to_string(), "prometheus".to_string()];
    let mut large = false;
    let mut options = Options {
        cases: Vec::new(),
        runs: 3,
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
                sizes = Some(
                    value()
                        .split(',')
                        .map(|n| n.trim().parse().expect("--sizes: numbers"))
                        .collect(),
                )
            }
            "--sources" => sources = value().split(',').map(str::to_string).collect(),
            "--large" => large = true,
            "--runs" => options.runs = value().parse().expect("--runs: a number"),
            "--cache-dir" => options.cache_dir = PathBuf::from(value()),
            "--forecaster" => options.forecaster = value(),
            "--csv" => options.csv = Some(PathBuf::from(value())),
            // `cargo bench` passes --bench to every bench target.
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    assert!(options.runs > 0, "--runs: at least 1");
    for source in &sources {
        let sizes = sizes.clone().unwrap_or_else(|| {
            let largest = match source.as_str() {
                "parquet" => 10_000,
                _ => 5_000,
            };
            let mut defaults = vec![100, 1_000];
            if large {
                defaults.push(largest);
            }
            defaults
        });
        for size in sizes {
            options.cases.push((source.clone(), size));
        }
    }
    options
        .cases
        .sort_by_key(|(source, size)| (*size, source.clone()));
    options
}

fn main() {
    let options = options();
    let mut cases = Vec::new();
    for (source, size) in &options.cases {
        let fleet = Fleet::new(*size);
        eprintln!(
            "== {source}, {size} series ({} partners × {} APIs), {} runs",
            fleet.partners.len(),
            APIS.len(),
            options.runs
        );
        let dir = options.cache_dir.join(format!("fleet-{size}-seed{SEED}"));
        std::fs::create_dir_all(&dir).expect("bench cache directory");
        let config = fleet.write_config(&dir);
        let runs: Vec<Run> = match source.as_str() {
            "prometheus" => {
                let data_dir = dir.join("tsdb");
                fleet.backfill(&data_dir);
                let server = PrometheusServer::start_on(&data_dir, true)
                    .expect("a real Prometheus (scripts/install-test-deps.sh installs it)");
                let url = server.url();
                (0..options.runs)
                    .map(|_| {
                        let mut args = vec!["--source", "prometheus", "--prometheus-url", &url];
                        args.extend(fleet.shard_args());
                        run(&fleet, &config, "prometheus", &args, &options)
                    })
                    .collect()
            }
            "parquet" => {
                let path = dir.join("fleet.parquet");
                fleet.export(&path);
                let source = format!("file:{}", path.display());
                let mut args = vec!["--source", source.as_str()];
                args.extend(fleet.shard_args());
                (0..options.runs)
                    .map(|_| run(&fleet, &config, "parquet", &args, &options))
                    .collect()
            }
            other => panic!("unknown source {other}"),
        };
        for run in &runs {
            eprintln!("   {}", run.line());
        }
        let case = Case::of(runs);
        eprintln!("{}\n{}", Case::header(), case.line());
        cases.push(case);
    }
    println!("{}", Case::header());
    for case in &cases {
        println!("{}", case.line());
    }
    println!(
        "\nmedian of {} runs [min–max]; stages are medians, busy time summed over threads",
        options.runs
    );
    if let Some(path) = &options.csv {
        let mut csv = String::from(Run::CSV_HEADER);
        for case in &cases {
            for run in &case.runs {
                csv.push_str(&run.csv());
            }
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

    /// One ConfigMap holds at most 1 MiB, and 10,000 entries take 1.3 MB, which a run refuses
    /// to write: above 5,000 series the run is one shard of one (`--shard 0/1`), which
    /// analyses every series the same way and writes a shard file instead.
    fn shard_args(&self) -> Vec<&'static str> {
        if self.partners.len() * APIS.len() > 5_000 {
            vec!["--shard", "0/1"]
        } else {
            Vec::new()
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
        let repo = trendmaster_testkit::workspace_dir().join("config/config.yaml");
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

    /// Writes the fleet to Parquet once, 10 partners at a time (10,000 series of 14 days would
    /// take 1.6 GB as one batch of series, and a frame of them several times that).
    fn export(&self, path: &Path) {
        if path.exists() {
            return;
        }
        let partial = path.with_extension("partial.parquet");
        let demo = DemoTraffic::new(SEED);
        let keys = self.keys();
        let mut exporter = Exporter::create(&partial, false).expect("start the Parquet export");
        for batch in keys.chunks(10 * APIS.len()) {
            let series: Vec<FetchedSeries> = batch
                .iter()
                .map(|key| {
                    let mut series = demo.series(key, &self.window);
                    series.cache_hit_ratio = None;
                    series
                })
                .collect();
            exporter.write(&series).expect("export Parquet");
        }
        exporter.finish().expect("finish the Parquet export");
        std::fs::rename(&partial, path).expect("rename Parquet");
    }
}

/// One run of the binary.
struct Run {
    source: &'static str,
    series: usize,
    points: usize,
    wall: f64,
    timings: BTreeMap<String, f64>,
    queries: u64,
    bytes: u64,
}

fn run(
    fleet: &Fleet,
    config: &Path,
    source: &'static str,
    args: &[&str],
    options: &Options,
) -> Run {
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
    Run {
        source,
        series: recommended + skipped,
        points: fleet.points(),
        wall,
        queries: result["fetch"]["queries"].as_u64().unwrap_or(0),
        bytes: result["fetch"]["bytes"].as_u64().unwrap_or(0),
        timings,
    }
}

/// The stages of `--timings`, in table order: (column, key).
const STAGES: [(&str, &str); 7] = [
    ("setup", "setup_seconds"),
    ("fetch+an", "fetch_and_analysis_seconds"),
    ("request", "request_seconds"),
    ("parse", "parse_seconds"),
    ("analysis", "analysis_seconds"),
    ("calc", "calculation_seconds"),
    ("output", "output_seconds"),
];

impl Run {
    const CSV_HEADER: &'static str = "source,series,points,wall_s,cpu_s,peak_rss_mib,queries,response_mib,setup_s,fetch_and_analysis_s,request_s,parse_s,analysis_s,calculation_s,output_s\n";

    fn stage(&self, key: &str) -> f64 {
        if key == "setup_seconds" {
            // Before the first series is analysed: configuration, the deployed file, opening
            // the source (a file is read and checked in full there).
            return self.stage("wall_seconds")
                - self.stage("fetch_and_analysis_seconds")
                - self.stage("output_seconds");
        }
        self.timings.get(key).copied().unwrap_or(f64::NAN)
    }

    fn cpu(&self) -> f64 {
        self.stage("cpu_seconds")
    }

    fn rss_mib(&self) -> f64 {
        self.stage("peak_rss_bytes") / (1 << 20) as f64
    }

    fn line(&self) -> String {
        format!(
            "run: wall {:.1} s, CPU {:.1} s, peak RSS {:.0} MiB",
            self.wall,
            self.cpu(),
            self.rss_mib()
        )
    }

    fn csv(&self) -> String {
        let mut values = vec![
            self.points as f64,
            self.wall,
            self.cpu(),
            self.rss_mib(),
            self.queries as f64,
            self.bytes as f64 / (1 << 20) as f64,
        ];
        values.extend(STAGES.iter().map(|(_, key)| self.stage(key)));
        let values: Vec<String> = values.iter().map(|v| format!("{v:.3}")).collect();
        format!("{},{},{}\n", self.source, self.series, values.join(","))
    }
}

/// The runs of one case.
struct Case {
    runs: Vec<Run>,
}

/// Median, min and max.
struct Spread {
    median: f64,
    min: f64,
    max: f64,
}

impl Spread {
    fn of(values: impl Iterator<Item = f64>) -> Self {
        let mut values: Vec<f64> = values.collect();
        values.sort_by(f64::total_cmp);
        let n = values.len();
        let median = if n % 2 == 1 {
            values[n / 2]
        } else {
            (values[n / 2 - 1] + values[n / 2]) / 2.0
        };
        Self {
            median,
            min: values[0],
            max: values[n - 1],
        }
    }

    fn show(&self, decimals: usize) -> String {
        format!(
            "{:.d$} [{:.d$}–{:.d$}]",
            self.median,
            self.min,
            self.max,
            d = decimals
        )
    }
}

impl Case {
    fn of(runs: Vec<Run>) -> Self {
        Self { runs }
    }

    fn header() -> String {
        let mut header = format!(
            "{:<10} {:>6} {:>10} {:>18} {:>18} {:>18} {:>7} {:>8} |",
            "source", "series", "points", "wall s", "CPU s", "RSS MiB", "queries", "resp MiB"
        );
        for (column, _) in STAGES {
            header.push_str(&format!(" {column:>8}"));
        }
        header
    }

    fn line(&self) -> String {
        let first = &self.runs[0];
        let wall = Spread::of(self.runs.iter().map(|r| r.wall));
        let cpu = Spread::of(self.runs.iter().map(Run::cpu));
        let rss = Spread::of(self.runs.iter().map(Run::rss_mib));
        let mut line = format!(
            "{:<10} {:>6} {:>10} {:>18} {:>18} {:>18} {:>7} {:>8.0} |",
            first.source,
            first.series,
            first.points,
            wall.show(1),
            cpu.show(1),
            rss.show(0),
            first.queries,
            first.bytes as f64 / (1 << 20) as f64,
        );
        for (_, key) in STAGES {
            let stage = Spread::of(self.runs.iter().map(|r| r.stage(key)));
            line.push_str(&format!(" {:>8.2}", stage.median));
        }
        line
    }
}
