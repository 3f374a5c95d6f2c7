//! Analysis of a demo fleet, single-threaded, for profiling and for proving that an
//! optimisation leaves every result unchanged.
//!
//! ```text
//! cargo run --release -p trendmaster-analyze --example fleet_profile -- \
//!     [--partners N] [--dump FILE] [--holdout-days N]
//! ```
//!
//! Series: partners 100000.. × the ten APIs of `crates/trendmaster/benches/fleet.rs`, 14 days at
//! one minute from the demo simulator (seed 7), analysed with the shipped default settings
//! (`config/config.yaml`). Prints the CPU time of the analysis alone (the series are simulated
//! first), per series; `--dump FILE` writes every result's `Debug` text, one per line, to diff.

use std::io::Write as _;

use trendmaster_fetch::{DemoTraffic, FLEET_APIS as APIS};
use trendmaster_types::{AnalysisWindow, SeriesKey};

/// CPU time of this thread so far, in seconds (`/proc/thread-self/schedstat`, nanoseconds).
fn thread_cpu_seconds() -> f64 {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").expect("schedstat");
    let nanos: u64 = text
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .expect("schedstat's first field");
    nanos as f64 / 1e9
}

fn main() {
    let mut partners = 10usize;
    let mut dump: Option<String> = None;
    let mut holdout_days: Option<u32> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--partners" => partners = args.next().and_then(|n| n.parse().ok()).expect("N"),
            "--dump" => dump = args.next(),
            // What the held-out fit costs: `--holdout-days 0` skips it.
            "--holdout-days" => holdout_days = args.next().and_then(|n| n.parse().ok()),
            other => panic!("unknown argument {other}"),
        }
    }
    let options = trendmaster_config::LoadOptions {
        config_file: None,
        base_dir: Some("/nonexistent".into()),
    };
    let overrides = trendmaster_config::Overrides {
        environment: Some("environment".into()),
        ..trendmaster_config::Overrides::default()
    };
    let mut config = trendmaster_config::load(&options, &overrides, &|_| None)
        .expect("the built-in configuration is valid");
    if let Some(days) = holdout_days {
        config.forecast.holdout_days = days;
    }

    let window = AnalysisWindow::ending_at("2026-11-15T00:00:00Z".parse().unwrap(), 14, 60);
    let demo = DemoTraffic::new(7);
    let series: Vec<_> = (0..partners)
        .flat_map(|p| {
            APIS.iter()
                .map(move |api| SeriesKey::new((100_000 + p).to_string(), *api))
        })
        .map(|key| demo.series(&key, &window).series)
        .collect();

    let started = thread_cpu_seconds();
    let results: Vec<_> = series
        .iter()
        .map(|s| {
            trendmaster_analyze::analyze(s, &config.prime_time, &config.anomaly, &config.forecast)
        })
        .collect();
    let cpu = thread_cpu_seconds() - started;
    println!(
        "{} series, {:.3} s CPU, {:.2} ms per series",
        results.len(),
        cpu,
        cpu * 1e3 / results.len() as f64
    );
    if let Some(path) = dump {
        let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("dump file"));
        for result in &results {
            writeln!(out, "{result:?}").expect("write");
        }
    }
}
