//! The data behind a series' chart: the series and its baseline at a coarse step.
//!
//! Fourteen days at one minute are 20,160 points, far more than a chart 1,200 pixels wide can
//! show. Each 15-minute step keeps its highest observation (a one-minute bot spike must stay
//! visible, an average would hide it), the mean expected level and the highest upper band.

use trendmaster_types::{SeriesChart, TrafficSeries};

use crate::baseline::Baseline;
use crate::stats::means;

/// Chart resolution, or the series' own step when that is coarser.
const CHART_STEP_SECS: u32 = 900;

/// The chart of `series` around `baseline` (upper band `z` spreads above it), with the
/// forecast `path` (`(expected, upper)` every `path_step_secs` from the window's end).
pub fn chart(
    series: &TrafficSeries,
    baseline: &Baseline,
    z: f64,
    path: &[(f64, f64)],
    path_step_secs: u32,
) -> SeriesChart {
    let step = series.window.step_secs.max(1);
    let factor = (CHART_STEP_SECS / step).max(1) as usize;
    let upper: Vec<f64> = baseline
        .expected
        .iter()
        .zip(&baseline.spread)
        .map(|(e, s)| e + z * s)
        .collect();
    let path_factor = (step as usize * factor / path_step_secs.max(1) as usize).max(1);
    let (path_expected, path_upper): (Vec<f64>, Vec<f64>) = path.iter().copied().unzip();
    SeriesChart {
        start: series.window.start,
        step_secs: step * factor as u32,
        observed_max: maxima(&series.values, factor),
        expected: means(&baseline.expected, factor),
        upper: maxima(&upper, factor),
        forecast: means(&path_expected, path_factor)
            .into_iter()
            .zip(maxima(&path_upper, path_factor))
            .collect(),
    }
}

/// Highest value of each run of `factor` points that is not NaN; NaN when there is none.
fn maxima(values: &[f64], factor: usize) -> Vec<f64> {
    values
        .chunks(factor.max(1))
        .map(|chunk| {
            chunk
                .iter()
                .copied()
                .filter(|v| !v.is_nan())
                .fold(f64::NAN, f64::max)
        })
        .collect()
}

/// When step `index` of `chart` starts.
#[cfg(test)]
fn step_start(chart: &SeriesChart, index: usize) -> chrono::DateTime<chrono::Utc> {
    chart.start + chrono::TimeDelta::seconds(i64::from(chart.step_secs) * index as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use trendmaster_types::{AnalysisWindow, SeriesKey};

    #[test]
    fn steps_keep_the_highest_observation_and_the_mean_expectation() {
        let window = AnalysisWindow::ending_at("2026-11-15T00:00:00Z".parse().unwrap(), 1, 60);
        let mut values = vec![10.0; window.len()];
        values[7] = 500.0; // a one-minute spike in the first quarter hour
        values[20] = f64::NAN;
        for value in &mut values[30..45] {
            *value = f64::NAN; // a whole step missing
        }
        let series = TrafficSeries {
            key: SeriesKey::new("1", "/a"),
            window,
            values,
        };
        let baseline = Baseline {
            expected: (0..window.len()).map(|i| (i % 15) as f64).collect(),
            spread: vec![2.0; window.len()],
        };
        let path = vec![(10.0, 14.0), (20.0, 30.0), (12.0, 16.0)];
        let chart = chart(&series, &baseline, 2.0, &path, 300);
        assert_eq!(chart.step_secs, 900);
        assert_eq!(chart.observed_max.len(), 96);
        assert_eq!(chart.observed_max[0], 500.0, "the spike stays visible");
        assert_eq!(
            chart.observed_max[1], 10.0,
            "a missing minute does not hide its step"
        );
        assert!(chart.observed_max[2].is_nan(), "a missing step is a gap");
        assert_eq!(chart.expected[0], 7.0, "mean of 0..15");
        assert_eq!(chart.upper[0], 14.0 + 4.0, "highest expected + 2 × 2");
        assert_eq!(
            chart.forecast,
            [(14.0, 30.0)],
            "three 5-minute points per step"
        );
        assert_eq!(
            step_start(&chart, 4),
            window.start + chrono::TimeDelta::hours(1)
        );
    }
}
