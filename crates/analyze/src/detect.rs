//! Finding anomalous stretches against a baseline, point by point and over runs.
//!
//! A [`Baseline`] says, for every point, what value was expected and how far normal traffic
//! strays from it. Where it comes from (the forecast's in-sample fit, or medians by hour of day)
//! is the caller's business; this module only judges deviations from it, in two ways:
//!
//! - **single points**: `z = (value − expected) ÷ spread`, graded by `robust_zscore`;
//! - **runs** (a scan over window lengths from 2 minutes to 4 hours): the combined deviation of
//!   a window, `Σ(value − expected) ÷ √Σ spread²`, divided by that window length's own measured
//!   spread so that correlated residuals (a model that is a little off for an hour) do not add
//!   up to false alarms. A run at or above `sustained_zscore` is high severity: a 3× burst on a
//!   5 req/min series is inside the noise minute by minute, but not over five minutes.
//!
//! Candidates are taken most significant first and never overlap, so a sharp 5-minute spike is
//! claimed by its own 5-minute window before a 30-minute window around it can swallow normal
//! minutes; each accepted run is then trimmed to its strongest sub-run (a CUSUM-style maximum
//! sum with a drift allowance), which keeps the normal minutes at its edges.

use std::collections::BTreeMap;
use trendmaster_types::settings::AnomalySettings;

use crate::baseline::Baseline;
use crate::stats::median_and_sigma;

/// A stretch of points `[start, end)` judged anomalous together.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Finding {
    pub start: usize,
    pub end: usize,
    /// Signed z-score: the point's, or the run's combined one.
    pub z: f64,
    /// `true` for a run found by the scan, `false` for a single extreme point.
    pub run: bool,
}

/// The least expected count (requests) a point or run must cover to be judged: with fewer, no
/// test tells a burst from noise (at 1 req/min, 12 in a minute is rare but not anomalous).
const MIN_EXPECTED_COUNT: f64 = 10.0;

/// How far above normal a point must stay, in spreads, to extend a run when it is trimmed.
const TRIM_DRIFT: f64 = 0.5;

/// Run window lengths of the scan, in minutes, about 25 % apart so that the best-fitting window
/// is never much longer than the anomaly; anomalies longer than the last are covered by several
/// adjacent windows, merged into one event.
const RUN_MINUTES: [u32; 21] = [
    2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 60, 75, 90, 120, 150, 180, 240,
];

/// The anomalous stretches of `values` against `baseline`, sorted by start; missing values
/// (NaN) are never part of a finding.
pub fn find(
    values: &[f64],
    baseline: &Baseline,
    settings: &AnomalySettings,
    step_secs: u32,
) -> Vec<Finding> {
    let n = values.len();
    let residual: Vec<f64> = values
        .iter()
        .zip(&baseline.expected)
        .map(|(v, e)| if v.is_nan() { f64::NAN } else { v - e })
        .collect();
    let mut candidates = point_candidates(&residual, baseline, settings);
    // Prefix sums of residuals, variances and present points make every window O(1).
    let mut sum = Vec::with_capacity(n + 1);
    let mut expected = Vec::with_capacity(n + 1);
    let mut var = Vec::with_capacity(n + 1);
    let mut present = Vec::with_capacity(n + 1);
    sum.push(0.0);
    expected.push(0.0);
    var.push(0.0);
    present.push(0usize);
    for ((r, s), e) in residual
        .iter()
        .zip(&baseline.spread)
        .zip(&baseline.expected)
    {
        let known = !r.is_nan();
        let last = sum.len() - 1;
        sum.push(sum[last] + if known { *r } else { 0.0 });
        expected.push(expected[last] + if known { *e } else { 0.0 });
        var.push(var[last] + if known { s * s } else { 0.0 });
        present.push(present[last] + usize::from(known));
    }
    for len in run_lengths(step_secs).filter(|len| *len <= n) {
        let combined: Vec<f64> = (0..=n - len)
            .map(|t| {
                if present[t + len] - present[t] < len {
                    f64::NAN
                } else {
                    let e = expected[t + len] - expected[t];
                    count_z(e + sum[t + len] - sum[t], e, var[t + len] - var[t])
                }
            })
            .collect();
        let scale = window_scale(&combined);
        for (t, c) in combined.iter().enumerate() {
            let z = c / scale;
            let total = expected[t + len] - expected[t];
            if z.abs() >= settings.sustained_zscore
                && material(sum[t + len] - sum[t], total, len, settings)
            {
                candidates.push(Finding {
                    start: t,
                    end: t + len,
                    z,
                    run: true,
                });
            }
        }
    }
    // Most significant first; among equals the shorter (more precise) one, then the earlier.
    candidates.sort_by(|a, b| {
        b.z.abs()
            .total_cmp(&a.z.abs())
            .then((a.end - a.start).cmp(&(b.end - b.start)))
            .then(a.start.cmp(&b.start))
    });
    let mut taken: BTreeMap<usize, usize> = BTreeMap::new();
    let mut accepted = Vec::new();
    for candidate in candidates {
        let candidate = if candidate.run {
            match trim(&residual, &baseline.spread, candidate) {
                Some(trimmed) => trimmed,
                None => continue,
            }
        } else {
            candidate
        };
        let overlaps = taken
            .range(..candidate.end)
            .next_back()
            .is_some_and(|(_, end)| *end > candidate.start);
        if !overlaps {
            taken.insert(candidate.start, candidate.end);
            accepted.push(candidate);
        }
    }
    accepted.sort_by_key(|f| f.start);
    accepted
}

fn point_candidates(
    residual: &[f64],
    baseline: &Baseline,
    settings: &AnomalySettings,
) -> Vec<Finding> {
    residual
        .iter()
        .zip(&baseline.spread)
        .enumerate()
        .filter(|(i, (r, _))| !r.is_nan() && material(**r, baseline.expected[*i], 1, settings))
        .map(|(i, (r, s))| {
            let expected = baseline.expected[i];
            Finding {
                start: i,
                end: i + 1,
                z: count_z(expected + r, expected, s * s),
                run: false,
            }
        })
        .filter(|f| f.z.abs() >= settings.robust_zscore.low)
        .collect()
}

/// Whether a deviation of `excess` over `len` points where `expected` was expected in total is
/// worth calling an anomaly: enough traffic to judge, and large enough (absolute and relative)
/// to matter for a limit.
fn material(excess: f64, expected: f64, len: usize, settings: &AnomalySettings) -> bool {
    let mean_excess = excess.abs() / len as f64;
    expected >= MIN_EXPECTED_COUNT
        && mean_excess >= settings.min_excess
        && excess.abs() >= settings.min_relative_excess * expected
}

/// How unusual a count of `observed` is where `expected` with variance `variance` was
/// expected, as a z-score: the Wilson–Hilferty transform of a gamma distribution with that mean
/// and variance (the continuous twin of an over-dispersed Poisson count).
///
/// Counts are skewed: at an expected 1 req/min with some over-dispersion, 21 in one minute is
/// twenty standard deviations up but happens a few times a fortnight. The cube root takes the
/// skew out, so that one threshold means the same at 5 and at 5,000 req/min; for large counts
/// it is the plain `(observed − expected) ÷ √variance`. Where the expected count is too small
/// for the approximation (shape under ¼) the plain score is used.
fn count_z(observed: f64, expected: f64, variance: f64) -> f64 {
    let variance = variance.max(f64::MIN_POSITIVE);
    let shape = expected * expected / variance;
    if shape < 0.25 {
        return (observed - expected) / variance.sqrt();
    }
    let c = 1.0 / (9.0 * shape);
    (cube_root(observed.max(0.0) / expected) - (1.0 - c)) / c.sqrt()
}

/// `x.cbrt()`, several times faster for the positive normal numbers the scan feeds it.
///
/// Why: `perf` on a fleet run put 30 % of all time in `f64::cbrt` (which resolves to
/// compiler-builtins' portable routine) called from [`count_z`], 400,000 times per series. A
/// guess from the exponent bits (within 6 %) and three Halley steps (each cubes the relative
/// error) agree with it to a few units in the last place, far below any threshold's resolution.
fn cube_root(x: f64) -> f64 {
    if !(x.is_normal() && x > 0.0) {
        return x.cbrt();
    }
    let mut y = f64::from_bits(x.to_bits() / 3 + 0x2A9F_7893_782D_A1CE);
    for _ in 0..3 {
        let y3 = y * y * y;
        y *= (y3 + 2.0 * x) / (2.0 * y3 + x);
    }
    y
}

/// Window lengths of the scan, in points at `step_secs` (at least 2, no repeats).
fn run_lengths(step_secs: u32) -> impl Iterator<Item = usize> {
    let step = step_secs.max(1);
    let mut lengths: Vec<usize> = RUN_MINUTES
        .iter()
        .map(|m| (m * 60 / step) as usize)
        .filter(|len| *len >= 2)
        .collect();
    lengths.dedup();
    lengths.into_iter()
}

/// The measured standard deviation of one window length's combined scores (1.4826 × MAD), at
/// least 1: independent noise gives about 1, residuals that move together give more, and the
/// few anomalous windows barely move a median.
fn window_scale(combined: &[f64]) -> f64 {
    let mut known: Vec<f64> = combined.iter().copied().filter(|c| !c.is_nan()).collect();
    median_and_sigma(&mut known).map_or(1.0, |(_, sigma)| sigma.max(1.0))
}

/// The sub-run of `finding` with the largest sum of `z − TRIM_DRIFT` (in its direction), or
/// `None` when no point of it deviates that way by more than the drift.
fn trim(residual: &[f64], spread: &[f64], finding: Finding) -> Option<Finding> {
    let sign = finding.z.signum();
    let (mut best, mut best_range) = (0.0, None);
    let (mut running, mut run_start) = (0.0, finding.start);
    for i in finding.start..finding.end {
        let gain = sign * residual[i] / spread[i] - TRIM_DRIFT;
        if running <= 0.0 {
            running = 0.0;
            run_start = i;
        }
        running += gain;
        if running > best {
            best = running;
            best_range = Some((run_start, i + 1));
        }
    }
    best_range.map(|(start, end)| Finding {
        start,
        end,
        ..finding
    })
}

#[cfg(test)]
mod cube_root_tests {
    use super::cube_root;

    #[test]
    fn cube_root_agrees_with_std_to_a_few_ulps() {
        let mut worst = 0.0_f64;
        // Ratios the scan sees (0 to thousands) and the extremes of the normal range.
        let mut x = f64::MIN_POSITIVE;
        while x < 1e300 {
            for scale in [1.0, 1.234_567, 2.0, 3.0, 7.77, 9.999] {
                let v = x * scale;
                let relative = (cube_root(v) - v.cbrt()).abs() / v.cbrt();
                worst = worst.max(relative);
            }
            x *= 3.3;
        }
        for i in 0..100_000 {
            let v = i as f64 * 0.001;
            let relative = if v == 0.0 {
                cube_root(v)
            } else {
                (cube_root(v) - v.cbrt()).abs() / v.cbrt()
            };
            worst = worst.max(relative);
        }
        assert!(
            worst <= 4.0 * f64::EPSILON,
            "worst relative error {worst:e}"
        );
        assert_eq!(cube_root(0.0), 0.0);
        assert_eq!(cube_root(27.0), 3.0);
        assert!(cube_root(f64::NAN).is_nan());
        assert_eq!(cube_root(f64::INFINITY), f64::INFINITY);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::anomaly_settings;

    /// Flat expected level with Poisson spread, and a deterministic ±1-spread wiggle.
    fn flat(n: usize, level: f64) -> (Vec<f64>, Baseline) {
        let spread = level.sqrt();
        let values = (0..n)
            .map(|i| level + spread * ((i * 37 % 11) as f64 / 5.0 - 1.0))
            .collect();
        let baseline = Baseline {
            expected: vec![level; n],
            spread: vec![spread; n],
        };
        (values, baseline)
    }

    fn settings(min_excess: f64) -> AnomalySettings {
        AnomalySettings {
            min_excess,
            sustained_zscore: 4.5,
            ..anomaly_settings()
        }
    }

    #[test]
    fn noise_alone_finds_nothing() {
        let (values, baseline) = flat(5000, 100.0);
        assert_eq!(find(&values, &baseline, &settings(0.0), 60), vec![]);
    }

    #[test]
    fn a_single_extreme_point_is_a_point_finding() {
        let (mut values, baseline) = flat(2000, 100.0);
        values[700] = 300.0; // 20 spreads up; about 13 once the count's skew is taken out
        let found = find(&values, &baseline, &settings(0.0), 60);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            (found[0].start, found[0].end, found[0].run),
            (700, 701, false)
        );
        assert!((found[0].z - count_z(300.0, 100.0, 100.0)).abs() < 1e-9);
        assert!((12.0..15.0).contains(&found[0].z), "{}", found[0].z);
        // Under min_excess it is not worth reporting.
        assert_eq!(find(&values, &baseline, &settings(250.0), 60), vec![]);
    }

    #[test]
    fn a_burst_inside_the_noise_point_by_point_is_found_as_a_run_of_its_own_length() {
        // 3× a level of 5 for 6 minutes: each minute is about 4.5 spreads up, under `low`
        // with the wiggle taken off, but 6 such minutes together are far outside the noise.
        let (mut values, baseline) = flat(3000, 5.0);
        for v in &mut values[1000..1006] {
            *v = 13.0;
        }
        let found = find(&values, &baseline, &settings(0.0), 60);
        assert_eq!(found.len(), 1, "{found:?}");
        let f = found[0];
        assert!(f.run && f.z > 4.5, "{f:?}");
        assert!(
            f.start >= 998 && f.start <= 1000 && f.end >= 1006 && f.end <= 1008,
            "the run is the burst, not the 30-minute window around it: {f:?}"
        );
    }

    #[test]
    fn drops_are_negative_runs_and_gaps_are_never_inside_a_finding() {
        let (mut values, baseline) = flat(3000, 400.0);
        for v in &mut values[500..560] {
            *v = 0.0;
        }
        for v in &mut values[1500..1520] {
            *v = f64::NAN;
        }
        let found = find(&values, &baseline, &settings(0.0), 60);
        assert!(!found.is_empty());
        assert!(
            found
                .iter()
                .all(|f| f.z < 0.0 && f.start >= 500 && f.end <= 560)
        );
        let covered: usize = found.iter().map(|f| f.end - f.start).sum();
        assert_eq!(covered, 60, "{found:?}");
    }

    #[test]
    fn correlated_residuals_do_not_add_up_to_a_run() {
        // The baseline is 2 % off for hours at a time (a model slightly off), with tiny noise:
        // each long window's combined score is huge in Poisson units, but so is every other
        // window's of that length, and the measured window scale absorbs it.
        let n = 6000;
        let values: Vec<f64> = (0..n)
            .map(|i| {
                let drift = if (i / 180) % 2 == 0 { 1.02 } else { 0.98 };
                10_000.0 * drift + ((i * 37 % 11) as f64 - 5.0) * 20.0
            })
            .collect();
        let baseline = Baseline {
            expected: vec![10_000.0; n],
            spread: vec![100.0; n],
        };
        assert_eq!(find(&values, &baseline, &settings(0.0), 60), vec![]);
    }

    #[test]
    fn count_scores_take_the_skew_out_of_small_counts() {
        // Large counts: the plain z-score.
        let plain = (10_300.0 - 10_000.0) / 100.0;
        assert!((count_z(10_300.0, 10_000.0, 10_000.0) - plain).abs() < 0.05);
        // 21 where 1 was expected with variance 3: far less extreme than (21 − 1) ÷ √3 = 11.5.
        let small = count_z(21.0, 1.0, 3.0);
        assert!((3.0..5.0).contains(&small), "{small}");
        // Monotone, and zero is below normal.
        assert!(count_z(5.0, 5.0, 5.0) < count_z(6.0, 5.0, 5.0));
        assert!(count_z(0.0, 5.0, 5.0) < -2.0);
        // Too small an expectation for the transform: the plain score.
        assert_eq!(count_z(3.0, 0.1, 1.0), 2.9);
    }

    #[test]
    fn run_lengths_follow_the_step() {
        let minute: Vec<usize> = run_lengths(60).collect();
        assert_eq!(minute.first(), Some(&2));
        assert_eq!(minute.last(), Some(&240));
        let five: Vec<usize> = run_lengths(300).collect();
        assert_eq!(five, vec![2, 3, 4, 5, 6, 8, 10, 12, 15, 18, 24, 30, 36, 48]);
    }
}
