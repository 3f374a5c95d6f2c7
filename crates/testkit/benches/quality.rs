//! The recommendation-quality benchmark (`make quality`, issue 16): rolling backtests (train 14
//! days, test 7, weekly) of the v1 rule, the original v3 and trendmaster over the NAB Twitter
//! series and demo series with labelled legitimate bursts. Prints the summary tables, every
//! window, and the time taken. See `trendmaster_testkit::quality`.

use std::time::Instant;

use trendmaster_testkit::quality::{QualitySet, render, render_windows, run};

fn main() {
    let set = QualitySet::full();
    let started = Instant::now();
    let quality = run(&set);
    let elapsed = started.elapsed();
    println!("# Recommendation quality\n");
    println!("{}", render(&quality));
    println!("## Every window\n");
    println!("{}", render_windows(&quality));
    println!(
        "{} windows of {} series in {:.1} s ({:.2} s per window, {} threads)",
        quality.windows.len(),
        quality.groups.iter().map(|g| g.series).sum::<usize>(),
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() / quality.windows.len().max(1) as f64,
        std::thread::available_parallelism().map_or(1, usize::from)
    );
}
