//! The anomaly filter on real labelled data: a subset of the Numenta Anomaly Benchmark
//! (numenta/NAB, MIT; crates/testkit/fixtures/nab, read with `trendmaster_testkit::nab`).
//! Prints window hits and flags outside windows for each series.

use trendmaster_config::{LoadOptions, Overrides, ResolvedConfig, load};
use trendmaster_testkit::nab;
use trendmaster_types::{AnomalyEvent, AnomalyKind, Severity};

fn config() -> ResolvedConfig {
    let options = LoadOptions {
        config_file: None,
        base_dir: Some("/nonexistent".into()),
    };
    let overrides = Overrides {
        step: Some("5m".into()),
        ..Overrides::default()
    };
    load(&options, &overrides, &|_| None).unwrap()
}

/// Detections: spike, surge and drop events of medium or high severity. (Only high ones are
/// removed before the peak by default; medium ones are reported.)
fn flagged(name: &str) -> Vec<AnomalyEvent> {
    let config = config();
    let analysis = trendmaster_analyze::analyze(
        &nab::load(name),
        &config.prime_time,
        &config.anomaly,
        &config.forecast,
    );
    analysis
        .anomalies
        .into_iter()
        .filter(|e| e.kind != AnomalyKind::Gap && e.severity >= Severity::Medium)
        .collect()
}

/// (windows hit, flags outside every window), against NAB's labelled windows of `name`.
fn score(name: &str) -> (usize, usize) {
    let events = flagged(name);
    let windows = nab::labelled_windows(name);
    let hit = windows
        .iter()
        .filter(|(start, end)| events.iter().any(|e| e.start < *end && e.end > *start))
        .count();
    let outside = events
        .iter()
        .filter(|e| {
            !windows
                .iter()
                .any(|(start, end)| e.start < *end && e.end > *start)
        })
        .count();
    eprintln!(
        "{name}: {hit}/{} windows hit, {outside} flags outside windows, {} flags",
        windows.len(),
        events.len()
    );
    (hit, outside)
}

#[test]
fn the_real_load_balancer_series_hits_both_labelled_windows() {
    let (hit, outside) = score("elb_request_count_8c0756.csv");
    assert_eq!(hit, 2);
    // Bursty real traffic: NAB's windows are narrow against two weeks of 5-minute counts.
    assert!(outside <= 6, "{outside} flags outside the labelled windows");
}

#[test]
fn synthetic_anomalies_are_found() {
    // Not asserted: art_load_balancer_spikes peaks at 3.2 (median 0), inside the Poisson noise
    // floor of a count series; such a series gets the minimum limit anyway.
    score("art_load_balancer_spikes.csv");
    let (hit, _) = score("art_daily_jumpsup.csv");
    assert_eq!(hit, 1);
}

#[test]
fn series_without_anomalies_raise_almost_no_flags() {
    for name in [
        "art_daily_small_noise.csv",
        "art_daily_no_noise.csv",
        "art_noisy.csv",
        "art_flatline.csv",
    ] {
        assert!(nab::labelled_windows(name).is_empty(), "{name}");
        let (_, outside) = score(name);
        assert!(
            outside <= 1,
            "{name}: {outside} flags on a series without anomalies"
        );
    }
}
