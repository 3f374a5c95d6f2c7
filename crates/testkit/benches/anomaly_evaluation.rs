//! The full form of the labelled anomaly benchmark: `cargo bench -p trendmaster-testkit --bench
//! anomaly_evaluation` (80 series: 4 levels × 2 noise levels × 10 seeds).

use std::time::Instant;
use trendmaster_config::{LoadOptions, Overrides, load};
use trendmaster_testkit::evaluation::{cases, evaluate};
use trendmaster_types::settings::{ForecasterKind, PrimeTimeMethod};

fn main() {
    let options = LoadOptions {
        config_file: None,
        base_dir: Some("/nonexistent".into()),
    };
    let overrides = Overrides {
        forecaster: Some(ForecasterKind::None),
        ..Overrides::default()
    };
    let mut config = load(&options, &overrides, &|_| None).expect("built-in configuration");
    config.prime_time.detection_method = PrimeTimeMethod::Fixed;
    let cases = cases(10);
    let started = Instant::now();
    let evaluation = evaluate(
        &cases,
        &config.prime_time,
        &config.anomaly,
        &config.forecast,
    );
    println!("{}", evaluation.render());
    println!(
        "analysis time: {:.1} ms per series (two analyses each)",
        started.elapsed().as_secs_f64() * 1000.0 / cases.len() as f64
    );
}
