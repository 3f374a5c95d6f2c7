//! Growth that needs evidence: a robust line through the daily clean peaks.
//!
//! Why not the forecast's trend: the trend multiplier used to be the growth of a 7-day
//! MSTL/ETS extrapolation fitted on two weeks; on a steady web server's traffic it swung
//! ×0.35 → ×1.63 between consecutive weeks while the effective peak moved ±10 %. The peaks
//! themselves are what the limit is built on, so their own slope is the evidence: the
//! Theil–Sen slope (the median of the pairwise slopes, unmoved by a few odd days) with Sen's
//! rank-based 95 % confidence interval. Growth is applied only when that interval excludes
//! zero; otherwise it is exactly 1.

use trendmaster_types::{AnalysisWindow, DailyPeak, TrendEvidence};

use crate::stats::median_of;

/// Fewer daily peaks than this and there is no line to judge: a week and a half.
const MIN_DAYS: usize = 10;
/// The normal quantile of the two-sided 95 % interval.
const Z_95: f64 = 1.959_964;

/// The evidence for growth in `peaks` over `window`, projected `horizon_days` past its end;
/// `None` with fewer than [`MIN_DAYS`] peaks.
pub(crate) fn evidence(
    peaks: &[DailyPeak],
    window: &AnalysisWindow,
    horizon_days: u32,
) -> Option<TrendEvidence> {
    if peaks.len() < MIN_DAYS {
        return None;
    }
    let first = window.start.date_naive();
    // Each peak at noon of its day, in days from the window's first day.
    let points: Vec<(f64, f64)> = peaks
        .iter()
        .map(|p| ((p.date - first).num_days() as f64 + 0.5, p.peak))
        .collect();
    let (slope, low, high) = theil_sen(&points)?;
    let mut residuals: Vec<f64> = points.iter().map(|(t, y)| y - slope * t).collect();
    let intercept = median_of(&mut residuals)?;
    let middle = points.iter().map(|(t, _)| t).sum::<f64>() / points.len() as f64;
    let level = intercept + slope * middle;
    let window_days = (window.end - window.start).num_seconds() as f64 / 86_400.0;
    let days_ahead = window_days - middle + f64::from(horizon_days);
    let mut evidence = TrendEvidence {
        days: points.len(),
        slope_per_day: slope,
        slope_low: low,
        slope_high: high,
        level,
        days_ahead,
        growth: 1.0,
    };
    if evidence.is_significant() && level > 0.0 {
        evidence.growth = ((level + slope * days_ahead) / level).max(0.0);
    }
    Some(evidence)
}

/// Theil–Sen slope of `(x, y)` with Sen's (1968) 95 % interval: the pairwise slopes whose
/// ranks are `(N ∓ C) / 2`, `C = z · √(n(n−1)(2n+5)/18)` (the variance of Kendall's S without
/// ties). `None` without two distinct `x`.
fn theil_sen(points: &[(f64, f64)]) -> Option<(f64, f64, f64)> {
    let mut slopes = Vec::with_capacity(points.len() * points.len() / 2);
    for (i, (x1, y1)) in points.iter().enumerate() {
        for (x2, y2) in &points[i + 1..] {
            if x2 != x1 {
                slopes.push((y2 - y1) / (x2 - x1));
            }
        }
    }
    if slopes.is_empty() {
        return None;
    }
    slopes.sort_by(f64::total_cmp);
    let n = points.len() as f64;
    let count = slopes.len() as f64;
    let c = Z_95 * (n * (n - 1.0) * (2.0 * n + 5.0) / 18.0).sqrt();
    let rank = |r: f64| slopes[(r.round().max(1.0).min(count) as usize) - 1];
    let low = rank((count - c) / 2.0);
    let high = rank((count + c) / 2.0 + 1.0);
    let mut all = slopes.clone();
    let slope = median_of(&mut all)?;
    Some((slope, low, high))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeDelta};

    fn window(days: i64) -> AnalysisWindow {
        let start = "2026-11-02T00:00:00Z".parse().unwrap();
        AnalysisWindow {
            start,
            end: start + TimeDelta::days(days),
            step_secs: 60,
        }
    }

    fn peaks(values: &[f64]) -> Vec<DailyPeak> {
        let first = NaiveDate::from_ymd_opt(2026, 11, 2).unwrap();
        values
            .iter()
            .enumerate()
            .map(|(i, peak)| DailyPeak {
                date: first + TimeDelta::days(i as i64),
                peak: *peak,
                at: "2026-11-02T21:00:00Z".parse().unwrap(),
                coverage: 1.0,
            })
            .collect()
    }

    #[test]
    fn steady_growth_is_projected_to_the_end_of_the_horizon() {
        // 100 rising by 2 a day, with a wobble that the median shrugs off.
        let values: Vec<f64> = (0..14)
            .map(|i| 100.0 + 2.0 * i as f64 + if i % 2 == 0 { 3.0 } else { -3.0 })
            .collect();
        let evidence = evidence(&peaks(&values), &window(14), 7).unwrap();
        assert!(evidence.is_significant(), "{evidence:?}");
        assert!((evidence.slope_per_day - 2.0).abs() < 0.8, "{evidence:?}");
        assert!(evidence.slope_low > 0.0);
        // Middle of the window at day 7, end of the horizon at day 21: 14 days ahead.
        assert_eq!(evidence.days_ahead, 14.0);
        let expected = (evidence.level + evidence.slope_per_day * 14.0) / evidence.level;
        assert_eq!(evidence.growth, expected);
        assert!(
            evidence.growth > 1.15 && evidence.growth < 1.35,
            "{evidence:?}"
        );
    }

    #[test]
    fn noise_without_a_trend_gives_exactly_one() {
        // A steady server's week: ±10 % day to day, no direction.
        let values = [
            100.0, 112.0, 95.0, 104.0, 91.0, 108.0, 99.0, 110.0, 93.0, 102.0, 97.0, 109.0, 90.0,
            101.0,
        ];
        let evidence = evidence(&peaks(&values), &window(14), 7).unwrap();
        assert!(!evidence.is_significant(), "{evidence:?}");
        assert!(evidence.slope_low < 0.0 && evidence.slope_high > 0.0);
        assert_eq!(evidence.growth, 1.0);
    }

    #[test]
    fn a_clear_decline_is_evidence_too_and_short_windows_have_none() {
        let values: Vec<f64> = (0..14).map(|i| 300.0 - 5.0 * i as f64).collect();
        let evidence = evidence(&peaks(&values), &window(14), 7).unwrap();
        assert!(evidence.slope_high < 0.0);
        assert!(evidence.growth < 1.0);
        assert!(super::evidence(&peaks(&values[..9]), &window(9), 7).is_none());
    }

    #[test]
    fn the_interval_follows_sens_ranks() {
        // y = x exactly: every pairwise slope is 1, so is the interval.
        let points: Vec<(f64, f64)> = (0..12).map(|i| (i as f64, i as f64)).collect();
        assert_eq!(theil_sen(&points), Some((1.0, 1.0, 1.0)));
        assert_eq!(theil_sen(&[(1.0, 1.0), (1.0, 2.0)]), None);
    }
}
