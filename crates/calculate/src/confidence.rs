//! Confidence: the original's four weighted factors, so that scores stay comparable with it.

use trendmaster_types::settings::{ConfidenceSettings, ScoreTable};
use trendmaster_types::{
    AnalysisMethod, AnalysisResult, Confidence, ConfidenceFactor, ConfidenceLevel, ForecastSummary,
};

/// Weighted sum of data volume, stability, method and prime coverage scores, and its level.
pub fn confidence(analysis: &AnalysisResult, settings: &ConfidenceSettings) -> Confidence {
    let points = &analysis.points;
    let used = points.used as f64;
    let prime_share = if points.used > 0 {
        points.prime_used as f64 / used
    } else {
        0.0
    };
    // Measured forecast quality when there is one; otherwise what the analysis could do.
    let (method_measured, method_score) = match analysis.forecast.summary() {
        Some(ForecastSummary {
            holdout_smape: Some(error),
            ..
        }) => (*error, below(&settings.method.forecast_error, *error)),
        Some(_) => (settings.method.forecast, settings.method.forecast),
        None => {
            let score = match analysis.method {
                AnalysisMethod::Forecast => settings.method.forecast,
                AnalysisMethod::Statistical => settings.method.statistical,
                AnalysisMethod::None => settings.method.none,
            };
            (score, score)
        }
    };
    let w = &settings.weights;
    let factors = vec![
        factor(
            "data_volume",
            used,
            at_least(&settings.data_volume, used),
            w.data_volume,
        ),
        factor(
            "stability",
            analysis.stats.cv,
            below(&settings.stability, analysis.stats.cv),
            w.stability,
        ),
        factor("method", method_measured, method_score, w.method),
        factor(
            "prime_coverage",
            prime_share,
            at_least(&settings.prime_coverage, prime_share),
            w.prime_coverage,
        ),
    ];
    let raw: f64 = factors.iter().map(|f| f.score * f.weight).sum();
    // Rounded so that 0.65 computed as 0.6499999999 is still "medium".
    let score = (raw * 1e6).round() / 1e6;
    let level = if score >= settings.high {
        ConfidenceLevel::High
    } else if score >= settings.medium {
        ConfidenceLevel::Medium
    } else {
        ConfidenceLevel::Low
    };
    Confidence {
        score,
        level,
        factors,
    }
}

fn factor(name: &str, measured: f64, score: f64, weight: f64) -> ConfidenceFactor {
    ConfidenceFactor {
        name: name.to_string(),
        measured,
        score,
        weight,
    }
}

/// Score of the first threshold that `value` is at least.
fn at_least(table: &ScoreTable, value: f64) -> f64 {
    table
        .thresholds
        .iter()
        .zip(&table.scores)
        .find(|(threshold, _)| value >= **threshold)
        .map_or(table.otherwise, |(_, score)| *score)
}

/// Score of the first threshold that `value` is below.
fn below(table: &ScoreTable, value: f64) -> f64 {
    table
        .thresholds
        .iter()
        .zip(&table.scores)
        .find(|(threshold, _)| value < **threshold)
        .map_or(table.otherwise, |(_, score)| *score)
}
