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
use crate::stats::MAD_TO_SIGMA;

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
    // Why the scan is written this way: `perf` on a 100-series demo fleet put 46 % of the
    // analysis in `find` (twice per series): 25 % in the window scores (seven divisions and a
    // square root each, 420,000 windows per call, bound by the divider: a two-lane SIMD
    // version measured no faster), 10 % in the per-length medians, 5 % in `trim`. Lengths
    // that cannot yield a candidate are skipped before any score is computed (below); the
    // others' scores go straight into one key buffer reused across lengths, where their
    // medians select over integers; `trim` reads residuals standardised once. `find` went
    // from 46 % to 40 % of the analysis, and every result is bit-for-bit what the
    // straightforward loop gave (checked on 300 demo series).
    let standardised: Vec<f64> = residual
        .iter()
        .zip(&baseline.spread)
        .map(|(r, s)| r / s)
        .collect();
    let prefix = Prefix {
        sum,
        expected,
        var,
        present,
    };
    let mut keys = Vec::with_capacity(n);
    let mut material_scores: Vec<(usize, f64)> = Vec::new();
    for len in run_lengths(step_secs).filter(|len| *len <= n) {
        // Only material windows can be candidates, and the scale is at least 1, so a length
        // none of whose material windows scores `sustained_zscore` before scaling has no
        // candidate whatever its scale: its scores and medians are skipped (894 of 4,200
        // length scans on the 100-series demo fleet; the result is the same).
        // Both ends' prefix sums as slices of one length, so the loop has no bounds checks.
        let windows = n - len + 1;
        let (sum0, sum1) = (&prefix.sum[..windows], &prefix.sum[len..]);
        let (exp0, exp1) = (&prefix.expected[..windows], &prefix.expected[len..]);
        material_scores.clear();
        for (t, ((s0, s1), (e0, e1))) in
            sum0.iter().zip(sum1).zip(exp0.iter().zip(exp1)).enumerate()
        {
            if material(s1 - s0, e1 - e0, len, settings) {
                material_scores.push((t, window_score(&prefix, t, len)));
            }
        }
        if !material_scores
            .iter()
            .any(|(_, c)| c.abs() >= settings.sustained_zscore)
        {
            continue;
        }
        window_score_keys(&prefix, len, &mut keys);
        let scale = window_scale(&mut keys);
        for &(t, c) in &material_scores {
            let z = c / scale;
            if z.abs() >= settings.sustained_zscore {
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
        // A run inside one taken stretch would overlap it however it were trimmed: skipped
        // before trimming (`trim` was 5 % of the analysis, mostly on such runs).
        let inside_taken = taken
            .range(..=candidate.start)
            .next_back()
            .is_some_and(|(_, end)| *end >= candidate.end);
        if inside_taken {
            continue;
        }
        let candidate = if candidate.run {
            match trim(&standardised, candidate) {
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
    // The division last: the scan asks this of every window, and most fail a comparison first.
    expected >= MIN_EXPECTED_COUNT
        && excess.abs() >= settings.min_relative_excess * expected
        && excess.abs() / len as f64 >= settings.min_excess
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

/// The least number of windows a length's scale is measured on.
///
/// Why a sample: the scale is a median and a MAD, and measuring it on every 4th window of a
/// 14-day minute series (5,040 of 20,160) moves it by about 1 %, while scoring every window
/// for it was 22 % of the analysis (`perf`, 100 demo series). Analysis went from 33.1 to
/// 26.8 ms per series; on those series 12 of 100 had an anomaly's edges moved (mostly by a
/// minute or a few), one daily peak changed, and the quality benchmark's every window is as it
/// was. Series of fewer than twice this many points are measured on every window.
const SCALE_SAMPLES: usize = 4096;

/// Every how many windows a length's scale is measured on: 1 to 4, leaving at least
/// [`SCALE_SAMPLES`].
fn scale_stride(windows: usize) -> usize {
    (windows / SCALE_SAMPLES).clamp(1, 4)
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

/// Prefix sums over the series (one more than points): residuals, expected values and
/// variances of the present points, and the count of present points.
struct Prefix {
    sum: Vec<f64>,
    expected: Vec<f64>,
    var: Vec<f64>,
    present: Vec<usize>,
}

/// The [`order_key`]s of the combined scores of the windows of `len` points that have no gap,
/// starting every [`scale_stride`] points, into `keys`.
fn window_score_keys(prefix: &Prefix, len: usize, keys: &mut Vec<u64>) {
    let windows = prefix.sum.len() - len;
    let (sum0, sum1) = (&prefix.sum[..windows], &prefix.sum[len..]);
    let (exp0, exp1) = (&prefix.expected[..windows], &prefix.expected[len..]);
    let (var0, var1) = (&prefix.var[..windows], &prefix.var[len..]);
    let (present0, present1) = (&prefix.present[..windows], &prefix.present[len..]);
    keys.clear();
    for t in (0..windows).step_by(scale_stride(windows)) {
        let score = score(
            (sum0[t], sum1[t]),
            (exp0[t], exp1[t]),
            (var0[t], var1[t]),
            present1[t] - present0[t] < len,
        );
        if !score.is_nan() {
            keys.push(order_key(score));
        }
    }
}

/// The combined score of the window of `len` points from `t`, as [`window_score_keys`] reads it.
fn window_score(prefix: &Prefix, t: usize, len: usize) -> f64 {
    score(
        (prefix.sum[t], prefix.sum[t + len]),
        (prefix.expected[t], prefix.expected[t + len]),
        (prefix.var[t], prefix.var[t + len]),
        prefix.present[t + len] - prefix.present[t] < len,
    )
}

/// The combined score of a window from its prefix sums at either end (NaN with a gap).
#[inline(always)]
fn score(sum: (f64, f64), expected: (f64, f64), var: (f64, f64), gap: bool) -> f64 {
    if gap {
        f64::NAN
    } else {
        let e = expected.1 - expected.0;
        count_z(e + sum.1 - sum.0, e, var.1 - var.0)
    }
}

/// The measured standard deviation of one window length's combined scores (1.4826 × MAD), at
/// least 1: independent noise gives about 1, residuals that move together give more, and the
/// few anomalous windows barely move a median. `keys` are the known scores' [`order_key`]s
/// (reordered and overwritten).
///
/// Exactly [`crate::stats::median_and_sigma`]'s sigma, but selecting over integer keys of the
/// scores' total order (cheaper to compare than `f64::total_cmp`) in a buffer reused across
/// window lengths, with the deviations written over the scores.
fn window_scale(keys: &mut [u64]) -> f64 {
    let Some(median) = median_of_keys(keys) else {
        return 1.0;
    };
    for key in keys.iter_mut() {
        *key = order_key((from_order_key(*key) - median).abs());
    }
    let mad = median_of_keys(keys).unwrap_or(0.0);
    (MAD_TO_SIGMA * mad).max(1.0)
}

/// A key whose unsigned order is `f64::total_cmp`'s order.
fn order_key(x: f64) -> u64 {
    let bits = x.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | 1 << 63
    }
}

/// The value of an [`order_key`].
fn from_order_key(key: u64) -> f64 {
    f64::from_bits(if key >> 63 == 1 {
        key & !(1 << 63)
    } else {
        !key
    })
}

/// [`crate::stats::median_of`] over order keys: the same value (the middle one, or the mean of
/// the two middle ones); reorders `keys`.
fn median_of_keys(keys: &mut [u64]) -> Option<f64> {
    let n = keys.len();
    if n == 0 {
        return None;
    }
    let mid = n / 2;
    let (lower, upper_mid, _) = keys.select_nth_unstable(mid);
    let upper_mid = from_order_key(*upper_mid);
    if n % 2 == 1 {
        Some(upper_mid)
    } else {
        let lower_mid = lower.iter().copied().max().map_or(f64::MIN, from_order_key);
        Some((lower_mid + upper_mid) / 2.0)
    }
}

/// The sub-run of `finding` with the largest sum of `z − TRIM_DRIFT` (in its direction), or
/// `None` when no point of it deviates that way by more than the drift; `standardised` is
/// residual ÷ spread per point.
fn trim(standardised: &[f64], finding: Finding) -> Option<Finding> {
    let sign = finding.z.signum();
    let (mut best, mut best_range) = (0.0, None);
    let (mut running, mut run_start) = (0.0, finding.start);
    let points = standardised[finding.start..finding.end].iter();
    for (i, z) in (finding.start..).zip(points) {
        // `sign × (residual ÷ spread)` is bit-for-bit `sign × residual ÷ spread` (sign is ±1).
        let gain = sign * z - TRIM_DRIFT;
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
    fn the_window_scale_is_median_and_sigmas_bit_for_bit() {
        use crate::stats::median_and_sigma;
        let mut keys: Vec<u64> = Vec::new();
        for n in [0usize, 1, 2, 3, 10, 11, 1000, 1001] {
            let scores: Vec<f64> = (0..n)
                .map(|i| match i % 13 {
                    0 => f64::NAN,
                    1 => -0.0,
                    2 => 0.0,
                    k => (i as f64 * 0.731).sin() * k as f64 * 3.3,
                })
                .collect();
            let mut known: Vec<f64> = scores.iter().copied().filter(|c| !c.is_nan()).collect();
            // Keys in the original order: `median_and_sigma` reorders `known`.
            keys.clear();
            keys.extend(known.iter().map(|c| order_key(*c)));
            let original = keys.clone();
            let expected = median_and_sigma(&mut known).map_or(1.0, |(_, s)| s.max(1.0));
            keys.clone_from(&original);
            assert_eq!(window_scale(&mut keys).to_bits(), expected.to_bits());
        }
        for x in [-1e300, -2.5, -0.0, 0.0, 1e-310, 3.0, f64::INFINITY] {
            assert_eq!(from_order_key(order_key(x)).to_bits(), x.to_bits());
        }
        assert!(order_key(-0.0) < order_key(0.0) && order_key(-3.0) < order_key(-2.0));
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
