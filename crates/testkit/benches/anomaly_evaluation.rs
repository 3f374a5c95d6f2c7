//! The full form of the labelled anomaly benchmark: `cargo bench -p trendmaster-testkit --bench
//! anomaly_evaluation` (80 series: 4 levels × 2 noise levels × 10 seeds).

use std::time::Instant;
use trendmaster_testkit::evaluation::{builtin_settings, cases, evaluate};

fn main() {
    let (prime_time, anomaly, forecast) = builtin_settings();
    let cases = cases(10);
    let started = Instant::now();
    let evaluation = evaluate(&cases, &prime_time, &anomaly, &forecast);
    println!("{}", evaluation.render());
    println!(
        "analysis time: {:.1} ms per series (two analyses each)",
        started.elapsed().as_secs_f64() * 1000.0 / cases.len() as f64
    );
}
