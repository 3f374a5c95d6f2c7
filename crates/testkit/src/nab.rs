//! A subset of the Numenta Anomaly Benchmark (numenta/NAB, MIT) in `fixtures/nab`: real and
//! synthetic 5-minute series with NAB's labelled anomaly windows (see the README there).
//!
//! ```
//! let series = trendmaster_testkit::nab::load("Twitter_volume_FB.csv");
//! assert_eq!(series.window.step_secs, 300);
//! let windows = trendmaster_testkit::nab::labelled_windows("Twitter_volume_FB.csv");
//! assert_eq!(windows.len(), 2);
//! ```

use std::path::PathBuf;

use chrono::{DateTime, NaiveDateTime, Utc};
use trendmaster_types::{AnalysisWindow, SeriesKey, TrafficSeries};

/// The grid step of every NAB file, in seconds.
pub const STEP_SECS: u32 = 300;

/// The directory holding the NAB files, their licence and `combined_windows.json`.
pub fn fixture_dir() -> PathBuf {
    crate::workspace_dir().join("crates/testkit/fixtures/nab")
}

/// A NAB timestamp (`YYYY-MM-DD HH:MM:SS`, optionally with fractional seconds), UTC.
///
/// # Panics
/// On text in another format: the fixtures are fixed, so that is a broken checkout.
pub fn time(text: &str) -> DateTime<Utc> {
    let text = text.split('.').next().unwrap_or(text);
    NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%d %H:%M:%S")
        .unwrap_or_else(|e| panic!("NAB timestamp {text:?}: {e}"))
        .and_utc()
}

/// The NAB file `name` (e.g. `Twitter_volume_FB.csv`) on a 5-minute grid: timestamps floored to
/// it, as the file source does; grid points without a row are NaN. Values are as in the file.
/// The key is `nab` × `name`.
///
/// # Panics
/// When the file is missing or malformed.
pub fn load(name: &str) -> TrafficSeries {
    let path = fixture_dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let step = i64::from(STEP_SECS);
    let rows: Vec<(i64, f64)> = text
        .lines()
        .skip(1)
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let (t, v) = line
                .split_once(',')
                .unwrap_or_else(|| panic!("{name}: bad row {line:?}"));
            let value = v
                .trim()
                .parse()
                .unwrap_or_else(|e| panic!("{name}: bad value in {line:?}: {e}"));
            (time(t).timestamp().div_euclid(step) * step, value)
        })
        .collect();
    let (first, last) = match (rows.first(), rows.last()) {
        (Some(first), Some(last)) => (first.0, last.0),
        _ => panic!("{name} holds no rows"),
    };
    let window = AnalysisWindow {
        start: DateTime::from_timestamp(first, 0).expect("a NAB time is in range"),
        end: DateTime::from_timestamp(last + step, 0).expect("a NAB time is in range"),
        step_secs: STEP_SECS,
    };
    let mut values = vec![f64::NAN; window.len()];
    for (t, v) in rows {
        values[((t - first) / step) as usize] = v;
    }
    TrafficSeries {
        key: SeriesKey::new("nab", name),
        window,
        values,
    }
}

/// NAB's labelled anomaly windows (`[start, end]`) of the file `name`, from
/// `combined_windows.json` (whose keys carry NAB's folder, e.g. `realTweets/`); empty for a
/// file NAB labels without anomalies.
///
/// # Panics
/// When `combined_windows.json` does not list `name`.
pub fn labelled_windows(name: &str) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let path = fixture_dir().join("combined_windows.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let all: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&text).expect("combined_windows.json is a JSON object");
    let (_, windows) = all
        .iter()
        .find(|(file, _)| file.rsplit('/').next() == Some(name))
        .unwrap_or_else(|| panic!("combined_windows.json does not list {name}"));
    windows
        .as_array()
        .expect("a file's windows are an array")
        .iter()
        .map(|pair| {
            let bound = |i: usize| time(pair[i].as_str().expect("a window bound is a string"));
            (bound(0), bound(1))
        })
        .collect()
}

/// For each point of `series`, whether its grid step `[t, t + step)` overlaps one of
/// `windows`: NAB's anomalous points.
pub fn window_mask(
    series: &TrafficSeries,
    windows: &[(DateTime<Utc>, DateTime<Utc>)],
) -> Vec<bool> {
    let step = chrono::TimeDelta::seconds(i64::from(series.window.step_secs));
    (0..series.values.len())
        .map(|i| {
            let at = series.window.timestamp(i);
            windows
                .iter()
                .any(|(start, end)| at < *end && at + step > *start)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_twitter_series_span_about_55_days_on_the_5_minute_grid() {
        for name in [
            "Twitter_volume_FB.csv",
            "Twitter_volume_GOOG.csv",
            "Twitter_volume_KO.csv",
        ] {
            let series = load(name);
            let days = series.values.len() as f64 * 300.0 / 86_400.0;
            assert!((54.0..56.0).contains(&days), "{name}: {days:.1} days");
            assert!(series.present_count() > 15_800, "{name}");
            assert_eq!(series.window.start.timestamp() % 300, 0);
            let windows = labelled_windows(name);
            assert!((2..=3).contains(&windows.len()), "{name}");
            let flagged = window_mask(&series, &windows)
                .iter()
                .filter(|m| **m)
                .count();
            // NAB's windows: 10 % of the file in all.
            let share = flagged as f64 / series.values.len() as f64;
            assert!((0.08..0.13).contains(&share), "{name}: {share:.3}");
        }
    }

    #[test]
    fn a_file_without_anomalies_has_no_windows() {
        assert!(labelled_windows("art_flatline.csv").is_empty());
        assert_eq!(
            labelled_windows("elb_request_count_8c0756.csv")[0],
            (
                time("2014-04-12 09:04:00"),
                time("2014-04-13 01:44:00.000000")
            )
        );
    }
}
