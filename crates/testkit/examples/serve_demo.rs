//! A real Prometheus on 127.0.0.1 holding demo traffic, for trying `--source prometheus` by
//! hand and for measuring fetches:
//!
//! ```sh
//! cargo run -p trendmaster-testkit --example serve_demo -- 25 4 14   # partners, APIs, days
//! trendmaster --source prometheus --prometheus-url <printed URL> --as-of 2026-11-15
//! ```
//!
//! Partners are named `p000`, `p001`, …; APIs `/api/v1/endpoint00`, …; the window ends
//! 2026-11-15T00:00:00Z at a 1-minute step, demo seed 1. The server stops when stdin closes
//! (press Ctrl-D).

use std::io::Read;
use trendmaster_fetch::DemoTraffic;
use trendmaster_testkit::{MetricShape, PrometheusServer};
use trendmaster_types::{AnalysisWindow, SeriesKey};

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numbers"))
        .collect();
    let (partners, apis, days) = match args.as_slice() {
        [p, a, d] => (*p, *a, *d as u32),
        _ => (4, 9, 14),
    };
    let window = AnalysisWindow::ending_at("2026-11-15T00:00:00Z".parse().unwrap(), days, 60);
    let demo = DemoTraffic::new(1);
    let series: Vec<_> = (0..partners)
        .flat_map(|p| {
            (0..apis)
                .map(move |a| SeriesKey::new(format!("p{p:03}"), format!("/api/v1/endpoint{a:02}")))
        })
        .map(|key| demo.series(&key, &window))
        .collect();
    let server =
        PrometheusServer::start(&series, MetricShape::Nginx).unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "{} series × {days} days backfilled in {:.1} s; Prometheus at {} (Ctrl-D stops it)",
        series.len(),
        server.backfill_seconds(),
        server.url()
    );
    println!("{}", server.url());
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
}
