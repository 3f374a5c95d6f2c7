//! MSTL's trend model: AutoETS fitted on 2-hour means of the deseasonalised series.
//!
//! Why not AutoETS on every point: callgrind on one 14-day minute series put 85 % of the whole
//! analysis in AutoETS's model search (its cost function over 4,032 five-minute points, for
//! every candidate model), although only its forecast is used (the in-sample baseline is the
//! decomposition's own trend and daily component, see `mstl`). A trend moves over days, not
//! minutes: hourly means kept it and gave the search twelve times fewer points, and it was
//! still 29 % of the analysis (`perf`, 100 demo series); 2-hour means halve that again
//! (23.6 → 19.1 ms per series). On those 100 series the forecast's upper band moved by at most
//! 1.8 % (median 0.01 %), no anomaly or daily peak changed, and the quality benchmark's every
//! window is as it was. The forecast is held for each 2-hour step (steps in a trend that moves
//! over days).

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

use augurs::ets::model::ModelType;
use augurs::ets::{AutoETS, FittedAutoETS};
use augurs::mstl::{FittedTrendModel, TrendModel};
use augurs::{Fit as _, Forecast, ForecastIntervals, Predict as _};

type BoxedError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// AutoETS on means of `factor` consecutive points.
#[derive(Debug, Clone)]
pub(crate) struct CoarseTrend {
    factor: usize,
    /// The ETS model to fit instead of searching for one.
    pinned: Option<EtsChoice>,
    /// The model the fit used, for the caller to read back (augurs keeps the fitted trend
    /// model to itself).
    chosen: Arc<OnceLock<EtsChoice>>,
}

/// An ETS model as AutoETS's search picks it: its components and whether its trend is damped.
#[derive(Debug, Clone, Copy)]
pub struct EtsChoice {
    model: ModelType,
    damped: bool,
}

impl CoarseTrend {
    /// Means of `factor` points (≥ 1) are fitted; `pinned` fits that model rather than
    /// searching (see [`crate::forecaster::Forecaster::fit_holdout`]).
    pub(crate) fn new(factor: usize, pinned: Option<EtsChoice>) -> Self {
        Self {
            factor: factor.max(1),
            pinned,
            chosen: Arc::default(),
        }
    }

    /// The model the last fit used (set once the fit has run).
    pub(crate) fn chosen(&self) -> Option<EtsChoice> {
        self.chosen.get().copied()
    }
}

/// AutoETS over the non-seasonal models with an additive error (`AZN`), or over only `pinned`
/// when given. The pinned search is the full one's arithmetic for that one model; should it
/// fail, the full search runs.
///
/// Why additive errors only: an ETS model's error type changes only the likelihood its
/// parameters are fitted by and its prediction intervals, and the intervals are never asked
/// for (the band is our own, see `band`). The multiplicative-error half of
/// the search was 8 % of all analysis time (augurs takes a logarithm of every forecast in every
/// cost evaluation): 19.1 → 17.5 ms per series (`fleet_profile`, 100 demo series). On those
/// series no anomaly, daily peak or trend slope changed; 57 of 100 forecast upper bands moved,
/// by −1.3 % to +0.3 % (median 0); the held-out sMAPE improved (median 0.46 → 0.42); the
/// quality benchmark's every window and every golden file's limit and confidence level are as
/// they were. Data that reaches zero never allowed a multiplicative error anyway, so quiet
/// and busy series are now fitted alike.
fn fit_ets(coarse: &[f64], pinned: Option<EtsChoice>) -> Result<FittedAutoETS, BoxedError> {
    if let Some(choice) = pinned {
        let pinned = AutoETS::new(1, choice.model.to_string().as_str())
            .and_then(|search| search.damped(choice.damped));
        if let Ok(fitted) = pinned.and_then(|search| search.fit(coarse)) {
            return Ok(fitted);
        }
    }
    Ok(AutoETS::new(1, "AZN")?.fit(coarse)?)
}

/// Fewer coarse points than this and the fit uses every point (a short series has no time to
/// spare and little to gain).
const MIN_COARSE_POINTS: usize = 48;

impl TrendModel for CoarseTrend {
    fn name(&self) -> Cow<'_, str> {
        Cow::Borrowed("AutoETS on 2-hour means")
    }

    fn fit(&self, y: &[f64]) -> Result<Box<dyn FittedTrendModel + Sync + Send>, BoxedError> {
        let factor = if y.len() / self.factor >= MIN_COARSE_POINTS {
            self.factor
        } else {
            1
        };
        // The partial bucket goes at the start, so that the last mean ends where the series
        // does and the forecast starts right after it.
        let offset = y.len() % factor;
        let coarse: Vec<f64> = y[offset..]
            .chunks(factor)
            .map(|chunk| chunk.iter().sum::<f64>() / chunk.len() as f64)
            .collect();
        let model = fit_ets(&coarse, self.pinned)?;
        let _ = self.chosen.set(EtsChoice {
            model: model.model().model_type(),
            damped: model.model().damped(),
        });
        Ok(Box::new(CoarseTrendFit {
            model,
            factor,
            offset,
            len: y.len(),
        }))
    }
}

#[derive(Debug)]
struct CoarseTrendFit {
    model: FittedAutoETS,
    factor: usize,
    /// Points before the first full bucket.
    offset: usize,
    len: usize,
}

impl CoarseTrendFit {
    /// Each coarse value held for `factor` points, cut to `len`.
    fn expand(&self, coarse: &[f64], lead: usize, len: usize) -> Vec<f64> {
        let first = coarse.first().copied().unwrap_or(f64::NAN);
        std::iter::repeat_n(first, lead)
            .chain(
                coarse
                    .iter()
                    .flat_map(|v| std::iter::repeat_n(*v, self.factor)),
            )
            .take(len)
            .collect()
    }

    fn expand_into(&self, coarse: Forecast, lead: usize, len: usize, forecast: &mut Forecast) {
        forecast.point = self.expand(&coarse.point, lead, len);
        forecast.intervals = coarse.intervals.map(|i| ForecastIntervals {
            level: i.level,
            lower: self.expand(&i.lower, lead, len),
            upper: self.expand(&i.upper, lead, len),
        });
    }
}

impl FittedTrendModel for CoarseTrendFit {
    fn predict_inplace(
        &self,
        horizon: usize,
        level: Option<f64>,
        forecast: &mut Forecast,
    ) -> Result<(), BoxedError> {
        let coarse = self.model.predict(horizon.div_ceil(self.factor), level)?;
        self.expand_into(coarse, 0, horizon, forecast);
        Ok(())
    }

    fn predict_in_sample_inplace(
        &self,
        level: Option<f64>,
        forecast: &mut Forecast,
    ) -> Result<(), BoxedError> {
        let coarse = self.model.predict_in_sample(level)?;
        self.expand_into(coarse, self.offset, self.len, forecast);
        Ok(())
    }

    fn training_data_size(&self) -> Option<usize> {
        Some(self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forecast_continues_the_hourly_trend_at_full_resolution() {
        // Five-minute points of a line rising by 1 per hour, with a wobble inside each hour
        // that the hourly means average out.
        let y: Vec<f64> = (0..12 * 24 * 7 + 5)
            .map(|i| 100.0 + i as f64 / 12.0 + if i % 2 == 0 { 3.0 } else { -3.0 })
            .collect();
        let fitted = CoarseTrend::new(12, None).fit(&y).unwrap();
        let mut ahead = Forecast::empty();
        fitted.predict_inplace(30, None, &mut ahead).unwrap();
        assert_eq!(ahead.point.len(), 30);
        // Held for each hour: 12 equal points, then the next hour's value.
        assert!(ahead.point[..12].iter().all(|v| *v == ahead.point[0]));
        assert!(ahead.point[12] > ahead.point[11]);
        // The last hour's mean is 100 + (len - 6.5) / 12; the next hour is about one higher.
        let last_mean = 100.0 + (y.len() as f64 - 6.5) / 12.0;
        assert!(
            (ahead.point[0] - (last_mean + 1.0)).abs() < 0.5,
            "{} vs {}",
            ahead.point[0],
            last_mean + 1.0
        );

        let mut in_sample = Forecast::empty();
        fitted
            .predict_in_sample_inplace(None, &mut in_sample)
            .unwrap();
        assert_eq!(in_sample.point.len(), y.len());
        // The 5 points before the first full hour take the first hour's value.
        assert!(
            in_sample.point[..17]
                .iter()
                .all(|v| *v == in_sample.point[0])
        );
        assert_eq!(fitted.training_data_size(), Some(y.len()));
    }

    #[test]
    fn short_series_are_fitted_point_by_point() {
        let y: Vec<f64> = (0..40).map(|i| 10.0 + i as f64).collect();
        let fitted = CoarseTrend::new(12, None).fit(&y).unwrap();
        let mut ahead = Forecast::empty();
        fitted.predict_inplace(3, None, &mut ahead).unwrap();
        // Not held: each point is its own forecast step.
        assert_ne!(ahead.point[0], ahead.point[1]);
    }
}
