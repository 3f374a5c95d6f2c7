//! Fixtures shared by the tests of this crate: the documented formula and a typical analysis.

use chrono::{DateTime, NaiveDate, Utc};
use trendmaster_types::settings::{
    CacheSettings, ConfidenceSettings, ConfidenceWeights, MethodScores, MultiplierSettings,
    PatternMultipliers, RateCalculationSettings, ScoreTable, TrafficPatternSettings,
};
use trendmaster_types::{
    AnalysisMethod, AnalysisResult, AnalysisWindow, AnomalyEvent, AnomalyKind, CalculationMode,
    DailyPeak, ForecastOutcome, ForecastSummary, PointCounts, PrimeTimeWindow, SeriesKey,
    SeriesStats, Severity, TrendEvidence,
};

use crate::formula::Formula;

/// The documented defaults of config/config.yaml (environment `environment`: margin 1.5).
pub fn formula() -> Formula {
    Formula {
        rate: RateCalculationSettings {
            calculation_mode: CalculationMode::Adaptive,
            peak_multiplier: 2.5,
            safety_margin: 1.5,
            min_rate_limit: 100.0,
            max_rate_limit: 50_000.0,
            rounding_step: 100.0,
            max_rounding_share: 0.05,
            below_peak_factor: 1.2,
            trend_min: 0.95,
            trend_max: 1.3,
            burst_headroom: 1.5,
            // The shipped default is 3; the formula tests use one or two peaks.
            min_data_coverage: 0.5,
            min_daily_peaks: 1,
            traffic_pattern: TrafficPatternSettings {
                spike_threshold_high: 8.0,
                spike_threshold_medium: 4.0,
                variability_threshold_high: 1.0,
                variability_threshold_medium: 0.6,
                variable_peak_to_mean: 2.0,
                variable_cv: 0.3,
                multipliers: PatternMultipliers {
                    very_spiky: 0.9,
                    moderately_spiky: 1.0,
                    variable: 1.1,
                    stable: 1.2,
                },
            },
        },
        cache: CacheSettings {
            enable_cache_adjustment: true,
            cache_hit_weight: 0.2,
            cache_adjustment_factor: 1.2,
        },
        confidence: ConfidenceSettings {
            weights: ConfidenceWeights {
                data_volume: 0.25,
                stability: 0.30,
                method: 0.25,
                prime_coverage: 0.20,
            },
            high: 0.80,
            medium: 0.65,
            data_volume: ScoreTable {
                thresholds: vec![2000.0, 1000.0, 500.0, 100.0],
                scores: vec![0.95, 0.85, 0.75, 0.65],
                otherwise: 0.45,
            },
            stability: ScoreTable {
                thresholds: vec![0.2, 0.4, 0.8],
                scores: vec![0.95, 0.85, 0.70],
                otherwise: 0.50,
            },
            prime_coverage: ScoreTable {
                thresholds: vec![0.3, 0.15],
                scores: vec![0.90, 0.75],
                otherwise: 0.60,
            },
            method: MethodScores {
                forecast_error: ScoreTable {
                    thresholds: vec![0.1, 0.2, 0.35],
                    scores: vec![0.95, 0.90, 0.75],
                    otherwise: 0.60,
                },
                forecast: 0.80,
                statistical: 0.75,
                none: 0.60,
            },
        },
        multipliers: MultiplierSettings::default(),
    }
}

/// An analysis with the given daily peaks and clean-point statistics.
pub fn analysis(peaks: &[f64], peak_to_mean: f64, cv: f64) -> AnalysisResult {
    let end: DateTime<Utc> = "2026-11-16T00:00:00Z".parse().unwrap();
    let window = AnalysisWindow::ending_at(end, 14, 60);
    let used = 20_000;
    AnalysisResult {
        key: SeriesKey::new("111", "/api_v3/service/multirequest"),
        window,
        method: AnalysisMethod::Statistical,
        points: PointCounts {
            expected: 20_160,
            present: 20_100,
            missing: 60,
            removed: 100,
            used,
            prime_used: 4_160,
        },
        stats: SeriesStats {
            mean: 30.0,
            std_dev: 30.0 * cv,
            cv,
            max: 30.0 * peak_to_mean,
            peak_to_mean,
        },
        prime_time: PrimeTimeWindow::from_range(19, 24, "UTC", "configured"),
        daily_peaks: peaks
            .iter()
            .enumerate()
            .map(|(i, peak)| DailyPeak {
                date: NaiveDate::from_ymd_opt(2026, 11, 2 + i as u32).unwrap(),
                peak: *peak,
                at: end,
                coverage: 1.0,
            })
            .collect(),
        days_skipped: 0,
        anomalies: vec![AnomalyEvent {
            kind: AnomalyKind::Spike,
            severity: Severity::High,
            start: end,
            end,
            points: 100,
            excluded: true,
            peak_value: 900.0,
            max_score: 40.0,
            recurring: false,
        }],
        forecast: ForecastOutcome::Fitted(forecast_summary(0.12)),
        recurring_bursts: None,
        trend: None,
        saturation: None,
        chart: None,
    }
}

/// Daily peaks rising significantly: ×`growth` 14 days ahead.
pub fn trend_evidence(growth: f64) -> TrendEvidence {
    TrendEvidence {
        days: 14,
        slope_per_day: 0.2,
        slope_low: 0.1,
        slope_high: 0.3,
        level: 68.0,
        days_ahead: 14.0,
        growth,
    }
}

/// A fitted forecast: next-week peak 80, upper band 95, growth ×1.04, held-out `smape`.
pub fn forecast_summary(smape: f64) -> ForecastSummary {
    ForecastSummary {
        forecaster: "mstl".into(),
        resolution_secs: 300,
        periods: vec![288, 2016],
        detected_periods: vec![288],
        holdout_smape: Some(smape),
        holdout_days: 1,
        horizon_days: 7,
        level: 0.95,
        peak: 80.0,
        peak_upper: 95.0,
        trend_growth: 1.04,
    }
}
