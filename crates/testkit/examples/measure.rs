use std::time::Instant;
use trendmaster_fetch::DemoTraffic;
use trendmaster_testkit::{MetricShape, PrometheusServer};
use trendmaster_types::{AnalysisWindow, SeriesKey};
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let partners: usize = args[1].parse().unwrap();
    let apis: usize = args[2].parse().unwrap();
    let days: u32 = args[3].parse().unwrap();
    let end = "2026-11-15T00:00:00Z".parse().unwrap();
    let window = AnalysisWindow::ending_at(end, days, 60);
    let demo = DemoTraffic::new(1);
    let t = Instant::now();
    let series: Vec<_> = (0..partners)
        .flat_map(|p| {
            (0..apis).map(move |a| {
                SeriesKey::new(
                    format!("{}", 111 * (p + 1)),
                    format!("/api_v3/service/a{a}/action/list"),
                )
            })
        })
        .map(|k| demo.series(&k, &window))
        .collect();
    eprintln!("generate {:.2}s", t.elapsed().as_secs_f64());
    if std::env::var("WRITE_ONLY").is_ok() {
        let dir = tempfile::tempdir().unwrap();
        let t = Instant::now();
        let files = trendmaster_testkit::write_openmetrics(&series, MetricShape::Nginx, dir.path())
            .unwrap();
        let bytes: u64 = files
            .iter()
            .map(|f| std::fs::metadata(f).unwrap().len())
            .sum();
        println!(
            "write {:.2}s {} files {} MB",
            t.elapsed().as_secs_f64(),
            files.len(),
            bytes / 1_000_000
        );
        if std::env::var("KEEP").is_ok() { let kept = dir.keep(); println!("kept {}", kept.display()); return; }
        let t = Instant::now();
        let out = dir.path().join("data");
        std::fs::create_dir(&out).unwrap();
        for f in &files {
            assert!(
                std::process::Command::new("promtool")
                    .args(["tsdb", "create-blocks-from", "openmetrics", "-q"])
                    .arg(f)
                    .arg(&out)
                    .status()
                    .unwrap()
                    .success()
            );
        }
        println!("one promtool {:.2}s", t.elapsed().as_secs_f64());
        return;
    }
    let t = Instant::now();
    let server = PrometheusServer::start(&series, MetricShape::Nginx).unwrap();
    println!(
        "series {} days {} backfill {:.2}s startup {:.2}s total {:.2}s",
        series.len(),
        days,
        server.backfill_seconds(),
        server.startup_seconds(),
        t.elapsed().as_secs_f64()
    );
    let blocks = std::fs::read_dir(server.dir().join("data"))
        .unwrap()
        .count();
    println!("entries in data dir: {blocks}");
}
#[allow(dead_code)]
fn unused() {}
