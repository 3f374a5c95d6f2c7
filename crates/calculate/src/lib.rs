//! The v3 rate-limit formula: from an [`AnalysisResult`] to a [`RateRecommendation`] that
//! carries every step of its derivation.
//!
//! Adaptive mode (the default), in order:
//!
//! 1. **effective peak** = mean of the daily prime-time peaks, after anomalies were removed;
//! 2. × `peak_multiplier` (2.5);
//! 3. × cache factor: `1 + hit_ratio × cache_hit_weight` when a hit ratio was measured, else the
//!    configured `cache_adjustment_factor`;
//! 4. × traffic-pattern multiplier (very spiky / moderately spiky / variable / stable);
//! 5. × trend multiplier: the growth of a Theil–Sen line through the daily peaks from the
//!    window's middle to the end of the horizon, **only when its slope's 95 % interval
//!    excludes zero** (else 1), bounded to [`trend_min`, `trend_max`] (0.95 … 1.3);
//! 6. × partner multiplier, × path multiplier (longest matching pattern);
//! 7. × environment `safety_margin`;
//! 8. clamp to `[min_rate_limit, max_rate_limit]`;
//! 9. if that is below the effective peak, raise it to `below_peak_factor` × peak (a limit under
//!    the observed peak would throttle legitimate traffic, whatever the bounds say);
//! 10. if the series has recurring bursts (demand, not anomalies: see the analyze crate) and
//!     the value is below their highest minute × `burst_headroom`, raise it there;
//! 11. if that is below the forecast's upper band over the next period, raise it to the band;
//! 12. **round up** to a multiple of `rounding_step` (a smaller 1-2-5 step where that one would
//!     add more than `max_rounding_share`), so the limit is never below the computed safe rate.
//!
//! Fixed mode is steps 1, 2, 3, 7, 8, 9, 10, 11, 12. Confidence keeps the original's four weighted
//! factors ([`confidence`]).
//!
//! [`originals`] keeps the Python tool's v1 and v3 rules as its code ran them, for backtests.
//!
//! This crate does not analyse series or read configuration files: it takes plain values.

#![warn(missing_docs)]

mod confidence;
mod format;
mod formula;
pub mod originals;
mod steps;
#[cfg(test)]
mod test_support;

pub use confidence::confidence;
pub use formula::Formula;
pub use steps::classify_pattern;

use trendmaster_types::settings::RateCalculationSettings;
use trendmaster_types::{AnalysisResult, CalculationMode, RateRecommendation, SkippedSeries};

/// Computes the recommendation for one analysed series, or says why none can be made.
///
/// `cache_hit_ratio` is the measured share of cached responses, when there is one.
pub fn recommend(
    analysis: AnalysisResult,
    cache_hit_ratio: Option<f64>,
    formula: &Formula,
) -> Result<RateRecommendation, SkippedSeries> {
    let skip = |reason: String| SkippedSeries {
        key: analysis.key.clone(),
        reason,
    };
    enough_data(&analysis, &formula.rate).map_err(skip)?;
    let mut chain = steps::Chain::start(&analysis).map_err(skip)?;
    let effective_peak = chain.value();
    let rate = &formula.rate;
    let adaptive = rate.calculation_mode == CalculationMode::Adaptive;

    chain.peak_multiplier(rate.peak_multiplier);
    let cache = chain.cache(cache_hit_ratio, &formula.cache);
    let pattern = classify_pattern(&analysis.stats, &rate.traffic_pattern);
    if adaptive {
        chain.traffic_pattern(pattern, &analysis.stats, &rate.traffic_pattern);
        chain.trend(analysis.trend.as_ref(), rate.trend_min, rate.trend_max);
        chain.partner_multiplier(&analysis.key.partner, &formula.multipliers);
        chain.path_multiplier(&analysis.key.api, &formula.multipliers);
    }
    chain.safety_margin(rate.safety_margin);
    chain.clamp(rate.min_rate_limit, rate.max_rate_limit);
    chain.peak_floor(effective_peak, rate.below_peak_factor);
    chain.burst_floor(analysis.recurring_bursts.as_ref(), rate.burst_headroom);
    chain.forecast_floor(analysis.forecast.summary());
    let limit = chain.round_up(rate.rounding());
    // Only absurd input gets here (a peak of 10^300 req/min from a unit mix-up): say so and
    // keep the deployed limit rather than emit a number nobody meant.
    if chain.value().is_nan() || chain.value() > MAX_LIMIT_PER_MINUTE {
        return Err(skip(format!(
            "the limit would be {:.3e} req/min, above the ratelimit service's largest count ({}): the traffic data looks wrong (check the source's units)",
            chain.value(),
            MAX_LIMIT_PER_MINUTE
        )));
    }

    Ok(RateRecommendation {
        key: analysis.key.clone(),
        requests_per_minute: limit,
        mode: rate.calculation_mode,
        effective_peak,
        pattern,
        cache,
        steps: chain.into_steps(),
        confidence: confidence(&analysis, &formula.confidence),
        analysis,
    })
}

/// The largest `requests_per_unit` the ratelimit service reads (a `uint32`), per minute.
pub const MAX_LIMIT_PER_MINUTE: f64 = u32::MAX as f64;

/// "Degrade, don't guess": too little data for any limit is a skip, not a low-confidence guess.
/// A skipped series keeps its deployed limit, and the report lists the reason.
fn enough_data(analysis: &AnalysisResult, rate: &RateCalculationSettings) -> Result<(), String> {
    let points = &analysis.points;
    let coverage = if points.expected == 0 {
        0.0
    } else {
        points.present as f64 / points.expected as f64
    };
    if coverage < rate.min_data_coverage {
        return Err(format!(
            "too little data: {} of {} points present ({:.0}%, minimum {:.0}%, RATE_CALCULATION.min_data_coverage)",
            points.present,
            points.expected,
            coverage * 100.0,
            rate.min_data_coverage * 100.0
        ));
    }
    let days = analysis.daily_peaks.len();
    if days > 0 && days < rate.min_daily_peaks {
        return Err(format!(
            "too little data: {days} day{} with a usable prime-time peak (minimum {}, RATE_CALCULATION.min_daily_peaks; {} days skipped)",
            if days == 1 { "" } else { "s" },
            rate.min_daily_peaks,
            analysis.days_skipped
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{analysis, forecast_summary, formula, trend_evidence};
    use chrono::NaiveDate;
    use trendmaster_types::{
        AnalysisMethod, CacheAdjustment, ConfidenceLevel, ForecastOutcome, RecurringBursts,
        SeriesKey, SeriesStats, StepKind, TrafficPattern, TrendEvidence,
    };

    fn step(rec: &RateRecommendation, kind: StepKind) -> &trendmaster_types::FormulaStep {
        rec.steps
            .iter()
            .find(|s| s.step == kind)
            .expect("step present")
    }

    #[test]
    fn worked_example_of_the_readme() {
        // Peaks averaging 68, variable traffic, no measured cache ratio, margin 1.5.
        let rec = recommend(analysis(&[60.0, 68.0, 76.0], 2.5, 0.5), None, &formula()).unwrap();
        let outputs: Vec<(StepKind, f64)> = rec.steps.iter().map(|s| (s.step, s.output)).collect();
        let expected = [
            (StepKind::EffectivePeak, 68.0),
            (StepKind::PeakMultiplier, 170.0),
            (StepKind::CacheAdjustment, 204.0),
            (StepKind::TrafficPattern, 224.4),
            (StepKind::Trend, 224.4),
            (StepKind::PartnerMultiplier, 224.4),
            (StepKind::PathMultiplier, 224.4),
            (StepKind::SafetyMargin, 336.6),
            (StepKind::Clamp, 336.6),
            (StepKind::PeakFloor, 336.6),
            (StepKind::BurstFloor, 336.6),
            (StepKind::ForecastFloor, 336.6),
            (StepKind::RoundUp, 340.0),
        ];
        assert_eq!(outputs.len(), expected.len());
        for ((kind, value), (want_kind, want)) in outputs.iter().zip(expected) {
            assert_eq!(*kind, want_kind);
            assert!((value - want).abs() < 1e-9, "{kind:?}: {value} != {want}");
        }
        assert_eq!(rec.requests_per_minute, 340);
        assert_eq!(rec.effective_peak, 68.0);
        assert_eq!(rec.pattern, TrafficPattern::Variable);
        assert_eq!(rec.cache, CacheAdjustment::Fallback { factor: 1.2 });
        assert_eq!(
            step(&rec, StepKind::EffectivePeak).explanation,
            "effective peak 68 req/min = mean of 3 daily prime-time peaks (19:00-24:00 UTC) after removing 100 anomalous points (1 spike)"
        );
        assert_eq!(
            step(&rec, StepKind::SafetyMargin).explanation,
            "224.4 × 1.5 (environment safety margin) = 336.6"
        );
        assert_eq!(
            step(&rec, StepKind::ForecastFloor).explanation,
            "336.6 ≥ forecast upper band 95 for the next 7 days (95 %): unchanged"
        );
        assert_eq!(
            step(&rec, StepKind::RoundUp).explanation,
            "round up to a multiple of 10 (a step of 100 would add more than 5 %): 336.6 → 340"
        );
    }

    /// The README's worked example is this calculation's derivation, verbatim.
    #[test]
    fn readme_shows_the_worked_example_exactly() {
        let rec = recommend(analysis(&[60.0, 68.0, 76.0], 2.5, 0.5), None, &formula()).unwrap();
        let rendered: String = rec
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| format!("{}. {}\n", i + 1, s.explanation))
            .collect();
        // Found at run time: a test binary built by another checkout sharing the target
        // directory (`.ci/run`) would read that checkout's README with a compiled-in path.
        let package =
            std::env::var("CARGO_MANIFEST_DIR").unwrap_or(env!("CARGO_MANIFEST_DIR").into());
        let readme =
            std::fs::read_to_string(std::path::Path::new(&package).join("../../README.md"))
                .unwrap();
        let start = "<!-- worked-example:start -->\n```text\n";
        let block = readme
            .split_once(start)
            .and_then(|(_, rest)| rest.split_once("```\n<!-- worked-example:end -->"))
            .map(|(block, _)| block)
            .expect("README has the worked-example block");
        assert_eq!(
            block, rendered,
            "README worked example is out of date; it should read:\n{rendered}"
        );
    }

    #[test]
    fn measured_cache_ratio_replaces_the_fallback() {
        let rec = recommend(analysis(&[100.0], 2.5, 0.5), Some(0.5), &formula()).unwrap();
        assert_eq!(
            rec.cache,
            CacheAdjustment::Measured {
                hit_ratio: 0.5,
                factor: 1.1
            }
        );
        assert!((step(&rec, StepKind::CacheAdjustment).output - 275.0).abs() < 1e-9);

        // A ratio outside [0, 1] is not a measurement.
        let rec = recommend(analysis(&[100.0], 2.5, 0.5), Some(1.7), &formula()).unwrap();
        assert_eq!(rec.cache, CacheAdjustment::Fallback { factor: 1.2 });
        assert!(
            step(&rec, StepKind::CacheAdjustment)
                .explanation
                .contains("1.7 is not in [0, 1]")
        );

        let mut disabled = formula();
        disabled.cache.enable_cache_adjustment = false;
        let rec = recommend(analysis(&[100.0], 2.5, 0.5), Some(0.5), &disabled).unwrap();
        assert_eq!(rec.cache, CacheAdjustment::Disabled);
        assert_eq!(step(&rec, StepKind::CacheAdjustment).factor, Some(1.0));
    }

    #[test]
    fn patterns_follow_the_documented_thresholds() {
        let settings = formula().rate.traffic_pattern;
        let classify = |p2m: f64, cv: f64| {
            let stats = SeriesStats {
                peak_to_mean: p2m,
                cv,
                ..SeriesStats::default()
            };
            classify_pattern(&stats, &settings)
        };
        assert_eq!(classify(9.0, 1.1), TrafficPattern::VerySpiky);
        assert_eq!(
            classify(9.0, 0.9),
            TrafficPattern::ModeratelySpiky,
            "high p2m needs high CV too"
        );
        assert_eq!(classify(5.0, 0.7), TrafficPattern::ModeratelySpiky);
        assert_eq!(classify(5.0, 0.5), TrafficPattern::Variable);
        assert_eq!(
            classify(2.1, 0.1),
            TrafficPattern::Variable,
            "variable is p2m OR cv"
        );
        assert_eq!(classify(1.5, 0.31), TrafficPattern::Variable);
        assert_eq!(
            classify(2.0, 0.3),
            TrafficPattern::Stable,
            "thresholds are strict"
        );
    }

    #[test]
    fn partner_and_longest_path_multipliers_apply() {
        let mut formula = formula();
        formula.multipliers.partner.insert("111".into(), 2.0);
        formula.multipliers.path.insert("service".into(), 3.0);
        formula.multipliers.path.insert("multirequest".into(), 0.5);
        let rec = recommend(analysis(&[100.0], 1.5, 0.1), None, &formula).unwrap();
        assert_eq!(step(&rec, StepKind::PartnerMultiplier).factor, Some(2.0));
        let path = step(&rec, StepKind::PathMultiplier);
        assert_eq!(path.factor, Some(0.5));
        assert!(path.explanation.contains("`multirequest`"));

        // A tier multiplies the partner's factor and is named.
        formula.multipliers.tiers = trendmaster_types::settings::TierSettings {
            default_tier: "standard".into(),
            tiers: [
                ("standard".into(), tier(1.0, 0.75)),
                ("enterprise".into(), tier(1.5, 1.0)),
            ]
            .into(),
            partner_tiers: [("111".into(), "enterprise".into())].into(),
        };
        let rec = recommend(analysis(&[100.0], 1.5, 0.1), None, &formula).unwrap();
        let partner = step(&rec, StepKind::PartnerMultiplier);
        assert_eq!(partner.factor, Some(3.0));
        assert!(
            partner.explanation.contains("tier enterprise ×1.5"),
            "{}",
            partner.explanation
        );
    }

    fn tier(multiplier: f64, degraded_factor: f64) -> trendmaster_types::settings::Tier {
        trendmaster_types::settings::Tier {
            multiplier,
            degraded_factor,
        }
    }

    #[test]
    fn bounds_clamp_and_the_peak_always_wins() {
        // Tiny traffic is raised to the minimum.
        let rec = recommend(analysis(&[2.0], 1.5, 0.1), None, &formula()).unwrap();
        assert_eq!(step(&rec, StepKind::Clamp).output, 100.0);
        assert_eq!(rec.requests_per_minute, 100);

        // A maximum below the peak is overruled by 1.2 × peak, then rounded up.
        let mut capped = formula();
        capped.rate.max_rate_limit = 1_000.0;
        let rec = recommend(analysis(&[5_000.0], 1.5, 0.1), None, &capped).unwrap();
        assert_eq!(step(&rec, StepKind::Clamp).output, 1_000.0);
        assert_eq!(step(&rec, StepKind::PeakFloor).output, 6_000.0);
        assert_eq!(rec.requests_per_minute, 6_000);
        assert!(rec.requests_per_minute as f64 >= rec.effective_peak);
    }

    #[test]
    fn rounding_is_always_up_and_never_below_the_safe_rate() {
        let mut formula = formula();
        formula.rate.rounding_step = 50.0;
        for peak in [1.0, 37.3, 68.0, 99.99, 1234.5, 8000.0] {
            let rec = recommend(analysis(&[peak], 1.5, 0.1), None, &formula).unwrap();
            let safe = step(&rec, StepKind::PeakFloor).output;
            let limit = rec.requests_per_minute as f64;
            assert!(limit >= safe, "{limit} < {safe}");
            // One step at most, and never more than 5 % (max_rounding_share) or the 50 step.
            assert!(
                limit - safe < (safe * 0.05).clamp(1.0, 50.0) + 1e-6,
                "rounded more than one step: {safe} → {limit}"
            );
            let step_used = if safe >= 1_000.0 { 50.0 } else { 1.0 };
            assert_eq!(limit % step_used, 0.0, "{safe} → {limit}");
        }
        // A small series' safe rate is rounded by a small step, not the whole 50.
        let small = recommend(analysis(&[68.0], 1.5, 0.1), None, &formula).unwrap();
        let rounded = step(&small, StepKind::RoundUp);
        assert!(
            rounded.output - rounded.input <= rounded.input * 0.05,
            "{rounded:?}"
        );
        // Exact multiples stay put despite float noise.
        let mut exact = formula;
        exact.rate.peak_multiplier = 1.0;
        exact.rate.safety_margin = 1.0;
        exact.cache.enable_cache_adjustment = false;
        exact.rate.traffic_pattern.multipliers.stable = 3.0;
        let mut flat = analysis(&[100.0 / 3.0 * 3.0], 1.5, 0.1);
        flat.forecast = ForecastOutcome::Disabled;
        flat.trend = None;
        let rec = recommend(flat, None, &exact).unwrap();
        assert_eq!(rec.requests_per_minute, 300);
    }

    #[test]
    fn fixed_mode_is_peak_times_multiplier_cache_and_margin() {
        let mut fixed = formula();
        fixed.rate.calculation_mode = CalculationMode::Fixed;
        fixed.multipliers.partner.insert("111".into(), 10.0);
        let rec = recommend(analysis(&[68.0], 2.5, 0.5), None, &fixed).unwrap();
        let kinds: Vec<StepKind> = rec.steps.iter().map(|s| s.step).collect();
        assert_eq!(
            kinds,
            [
                StepKind::EffectivePeak,
                StepKind::PeakMultiplier,
                StepKind::CacheAdjustment,
                StepKind::SafetyMargin,
                StepKind::Clamp,
                StepKind::PeakFloor,
                StepKind::BurstFloor,
                StepKind::ForecastFloor,
                StepKind::RoundUp
            ]
        );
        assert!((step(&rec, StepKind::SafetyMargin).output - 306.0).abs() < 1e-9);
        // A step of 100 would add 94 (31 %): 10 is the 1-2-5 step within 5 % of 306.
        assert_eq!(rec.requests_per_minute, 310);
        assert_eq!(rec.mode, CalculationMode::Fixed);
    }

    #[test]
    fn trend_is_bounded_and_the_forecast_band_is_a_floor() {
        let mut a = analysis(&[40.0], 1.5, 0.1);
        a.trend = Some(trend_evidence(1.8));
        let mut summary = forecast_summary(0.1);
        summary.peak_upper = 900.0;
        a.forecast = ForecastOutcome::Fitted(summary);
        let rec = recommend(a, None, &formula()).unwrap();
        let trend = step(&rec, StepKind::Trend);
        assert_eq!(trend.factor, Some(1.3));
        assert!(
            trend.explanation.contains("bounded to [0.95, 1.3]"),
            "{}",
            trend.explanation
        );
        let floor = step(&rec, StepKind::ForecastFloor);
        assert_eq!(floor.output, 900.0);
        assert!(
            floor.explanation.contains("raised to it"),
            "{}",
            floor.explanation
        );
        assert_eq!(rec.requests_per_minute, 900);

        let mut shrinking = analysis(&[40.0], 1.5, 0.1);
        shrinking.trend = Some(trend_evidence(0.5));
        let rec = recommend(shrinking, None, &formula()).unwrap();
        assert_eq!(step(&rec, StepKind::Trend).factor, Some(0.95));
    }

    #[test]
    fn growth_without_evidence_is_exactly_one_whatever_the_forecast_says() {
        let mut noisy = analysis(&[40.0], 1.5, 0.1);
        let mut summary = forecast_summary(0.1);
        summary.trend_growth = 1.63;
        noisy.forecast = ForecastOutcome::Fitted(summary);
        noisy.trend = Some(TrendEvidence {
            slope_low: -0.4,
            slope_high: 0.9,
            growth: 1.0,
            ..trend_evidence(1.0)
        });
        let rec = recommend(noisy.clone(), None, &formula()).unwrap();
        let trend = step(&rec, StepKind::Trend);
        assert_eq!(trend.factor, Some(1.0));
        assert!(
            trend.explanation.contains("includes 0"),
            "{}",
            trend.explanation
        );
        noisy.trend = None;
        let rec = recommend(noisy, None, &formula()).unwrap();
        assert_eq!(step(&rec, StepKind::Trend).factor, Some(1.0));
    }

    #[test]
    fn recurring_bursts_raise_the_limit_to_their_peak_with_headroom() {
        let mut bursty = analysis(&[68.0], 2.5, 0.5);
        bursty.recurring_bursts = Some(RecurringBursts {
            events: 6,
            weekly: 0,
            days: 5,
            first_day: NaiveDate::from_ymd_opt(2026, 11, 3).unwrap(),
            last_day: NaiveDate::from_ymd_opt(2026, 11, 14).unwrap(),
            peak: 900.0,
            demand: 700.0,
        });
        let rec = recommend(bursty.clone(), None, &formula()).unwrap();
        let floor = step(&rec, StepKind::BurstFloor);
        assert_eq!(floor.output, 1050.0, "700 × 1.5");
        assert!(
            floor
                .explanation
                .contains("6 recurring bursts on 5 days (2026-11-03 … 2026-11-14), 700 reached on two days or more"),
            "{}",
            floor.explanation
        );
        // 5 % of 1,050 is 52.5: a step of 50, and 1,050 is a multiple of it.
        assert_eq!(rec.requests_per_minute, 1050);
        assert_eq!(rec.plan_input().floor, 700);
        assert!(
            step(&rec, StepKind::EffectivePeak)
                .explanation
                .contains("6 recurring bursts are demand"),
            "{}",
            step(&rec, StepKind::EffectivePeak).explanation
        );
        // Low bursts leave the calm formula's limit alone.
        bursty.recurring_bursts.as_mut().unwrap().demand = 150.0;
        let rec = recommend(bursty, None, &formula()).unwrap();
        assert!(
            step(&rec, StepKind::BurstFloor)
                .explanation
                .ends_with("unchanged")
        );
        assert_eq!(rec.requests_per_minute, 340);
    }

    #[test]
    fn no_daily_peak_means_no_recommendation_with_a_reason() {
        let mut empty = analysis(&[], 1.5, 0.1);
        empty.days_skipped = 14;
        let skipped = recommend(empty, None, &formula()).unwrap_err();
        assert_eq!(
            skipped.key,
            SeriesKey::new("111", "/api_v3/service/multirequest")
        );
        assert!(
            skipped.reason.contains("no usable prime-time data"),
            "{}",
            skipped.reason
        );
        assert!(
            skipped.reason.contains("14 days skipped"),
            "{}",
            skipped.reason
        );
    }

    #[test]
    fn confidence_reproduces_the_originals_0_7625() {
        // 0.95·0.25 + 0.50·0.30 + 0.90·0.25 + 0.75·0.20 with a forecast method, CV 0.85 and
        // a prime share of 0.208 (5 of 24 hours).
        // A forecast with a held-out sMAPE of 0.15 scores 0.90, as "Prophet ran" did.
        let mut a = analysis(&[100.0], 3.0, 0.85);
        a.forecast = ForecastOutcome::Fitted(forecast_summary(0.15));
        a.points.used = 10_081;
        a.points.prime_used = 2_100;
        let c = confidence(&a, &formula().confidence);
        assert_eq!(c.score, 0.7625);
        assert_eq!(c.level, ConfidenceLevel::Medium);
        let scores: Vec<f64> = c.factors.iter().map(|f| f.score).collect();
        assert_eq!(scores, [0.95, 0.50, 0.90, 0.75]);

        a.forecast = ForecastOutcome::Disabled;
        a.method = AnalysisMethod::Statistical;
        assert_eq!(confidence(&a, &formula().confidence).score, 0.725);
        // A poor forecast (sMAPE 0.5) scores 0.60: 0.2375 + 0.15 + 0.15 + 0.15.
        a.forecast = ForecastOutcome::Fitted(forecast_summary(0.5));
        assert_eq!(confidence(&a, &formula().confidence).score, 0.6875);
    }

    #[test]
    fn confidence_levels_and_factor_tables() {
        let mut a = analysis(&[100.0], 1.5, 0.1);
        a.points.used = 50;
        a.points.prime_used = 0;
        a.method = AnalysisMethod::None;
        a.forecast = ForecastOutcome::Disabled;
        let c = confidence(&a, &formula().confidence);
        // 0.45·0.25 + 0.95·0.30 + 0.60·0.25 + 0.60·0.20 = 0.6675
        assert_eq!(c.score, 0.6675);
        assert_eq!(c.level, ConfidenceLevel::Medium);

        a.stats.cv = 2.0;
        let c = confidence(&a, &formula().confidence);
        // 0.45·0.25 + 0.50·0.30 + 0.60·0.25 + 0.60·0.20 = 0.5325
        assert_eq!(c.score, 0.5325);
        assert_eq!(c.level, ConfidenceLevel::Low);

        let mut b = analysis(&[100.0], 1.5, 0.1);
        b.points.used = 2_000;
        b.points.prime_used = 600;
        b.forecast = ForecastOutcome::Disabled;
        let c = confidence(&b, &formula().confidence);
        // 0.95·0.25 + 0.95·0.30 + 0.75·0.25 + 0.90·0.20 = 0.89
        assert_eq!(c.score, 0.89);
        assert_eq!(c.level, ConfidenceLevel::High);
    }

    #[test]
    fn too_little_data_is_a_skip_with_the_reason_not_a_guess() {
        let mut formula = formula();
        formula.rate.min_daily_peaks = 3;
        let two_days = recommend(analysis(&[100.0, 120.0], 3.0, 0.5), None, &formula)
            .expect_err("two daily peaks are under the minimum of 3");
        assert!(
            two_days.reason.starts_with("too little data: 2 days with a usable prime-time peak (minimum 3, RATE_CALCULATION.min_daily_peaks"),
            "{}",
            two_days.reason
        );
        assert!(recommend(analysis(&[100.0, 120.0, 90.0], 3.0, 0.5), None, &formula).is_ok());

        let mut sparse = analysis(&[100.0, 120.0, 90.0], 3.0, 0.5);
        sparse.points.present = 10_000;
        let skip = recommend(sparse.clone(), None, &formula).expect_err("49.6% present");
        assert!(
            skip.reason
                .starts_with("too little data: 10000 of 20160 points present (50%, minimum 50%"),
            "{}",
            skip.reason
        );
        sparse.points.present = 10_080;
        assert!(
            recommend(sparse, None, &formula).is_ok(),
            "exactly half is enough"
        );
    }

    #[test]
    fn an_absurd_peak_is_a_skip_not_an_overflowing_limit() {
        let skip = recommend(analysis(&[1e300], 3.0, 0.5), None, &formula())
            .expect_err("no limit from 10^300 req/min");
        assert!(
            skip.reason
                .contains("above the ratelimit service's largest count (4294967295)"),
            "{}",
            skip.reason
        );
        let limit = recommend(analysis(&[1e6], 3.0, 0.5), None, &formula()).unwrap();
        assert!(
            limit.requests_per_minute >= 1_200_000,
            "the peak floor still holds: {}",
            limit.requests_per_minute
        );
    }
}
