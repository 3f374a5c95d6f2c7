//! The anomaly filter on real labelled data: a subset of the Numenta Anomaly Benchmark
//! (tests/fixtures/nab, MIT). Prints window hits and flags outside windows for each series.

use chrono::{DateTime, NaiveDateTime, Utc};
use trendmaster_config::{LoadOptions, Overrides, ResolvedConfig, load};
use trendmaster_types::{
    AnalysisWindow, AnomalyEvent, AnomalyKind, SeriesKey, Severity, TrafficSeries,
};

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

fn time(text: &str) -> DateTime<Utc> {
    let text = text.split('.').next().unwrap();
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
        .unwrap()
        .and_utc()
}

/// A NAB file on a 5-minute grid (timestamps floored to it, as the file source does).
fn series(name: &str) -> TrafficSeries {
    let path = format!("{}/tests/fixtures/nab/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path).unwrap();
    let rows: Vec<(i64, f64)> = text
        .lines()
        .skip(1)
        .map(|line| {
            let (t, v) = line.split_once(',').unwrap();
            (
                time(t).timestamp().div_euclid(300) * 300,
                v.parse().unwrap(),
            )
        })
        .collect();
    let start = DateTime::from_timestamp(rows[0].0, 0).unwrap();
    let end = DateTime::from_timestamp(rows[rows.len() - 1].0 + 300, 0).unwrap();
    let window = AnalysisWindow {
        start,
        end,
        step_secs: 300,
    };
    let mut values = vec![f64::NAN; window.len()];
    for (t, v) in rows {
        values[((t - start.timestamp()) / 300) as usize] = v;
    }
    TrafficSeries {
        key: SeriesKey::new("nab", name),
        window,
        values,
    }
}

/// Detections: spike, surge and drop events of medium or high severity. (Only high ones are
/// removed before the peak by default; medium ones are reported.)
fn flagged(name: &str) -> Vec<AnomalyEvent> {
    let config = config();
    let analysis = trendmaster_analyze::analyze(
        &series(name),
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

/// (windows hit, flags outside every window).
fn score(name: &str, windows: &[(&str, &str)]) -> (usize, usize) {
    let events = flagged(name);
    let windows: Vec<(DateTime<Utc>, DateTime<Utc>)> =
        windows.iter().map(|(a, b)| (time(a), time(b))).collect();
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
    let (hit, outside) = score(
        "elb_request_count_8c0756.csv",
        &[
            ("2014-04-12 09:04:00", "2014-04-13 01:44:00"),
            ("2014-04-22 11:14:00", "2014-04-23 03:54:00"),
        ],
    );
    assert_eq!(hit, 2);
    // Bursty real traffic: NAB's windows are narrow against two weeks of 5-minute counts.
    assert!(outside <= 6, "{outside} flags outside the labelled windows");
}

#[test]
fn synthetic_anomalies_are_found() {
    // Not asserted: art_load_balancer_spikes peaks at 3.2 (median 0), inside the Poisson noise
    // floor of a count series; such a series gets the minimum limit anyway.
    score(
        "art_load_balancer_spikes.csv",
        &[("2014-04-10 11:50:00", "2014-04-11 21:20:00")],
    );
    let (hit, _) = score(
        "art_daily_jumpsup.csv",
        &[("2014-04-10 16:15:00", "2014-04-12 01:45:00")],
    );
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
        let (_, outside) = score(name, &[]);
        assert!(
            outside <= 1,
            "{name}: {outside} flags on a series without anomalies"
        );
    }
}
