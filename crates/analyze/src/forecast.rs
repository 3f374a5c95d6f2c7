//! Decomposition and forecast with augurs: MSTL with an AutoETS trend on the series' maxima at a
//! coarser resolution, seasonal periods derived from the step (a periodogram's reading recorded),
//! forecast error measured on a held-out tail, then a forecast of the next period.
//!
//! augurs' traps, and what is done about each: MSTL fails on NaN (gaps are interpolated inside
//! the series and filled at its edges); Log and Box-Cox fail on zeros, and Yeo-Johnson's inverse
//! fails on the bands of low-count series ("invalid domain", measured), so the series is fitted
//! untransformed; the periodogram misses daily cycles in minute data unless its maximum period is
//! set (it is); the prediction band can go negative for low counts (it is clamped at 0).

use augurs::ets::AutoETS;
use augurs::forecaster::transforms::LinearInterpolator;
use augurs::forecaster::{Forecaster, Transformer};
use augurs::mstl::MSTLModel;
use augurs::seasons::{Detector, PeriodogramDetector};
use trendmaster_types::settings::{ForecastSettings, ForecasterKind};
use trendmaster_types::{ForecastOutcome, ForecastSummary, TrafficSeries};

/// Forecasts `series` as configured, fitted on the points `clean` keeps (anomalies removed, so
/// that a bot spike does not teach the model a new normal); never fails, but says why when
/// there is no forecast.
pub fn forecast(
    series: &TrafficSeries,
    clean: &[bool],
    settings: &ForecastSettings,
) -> ForecastOutcome {
    let model = match settings.forecaster {
        ForecasterKind::None => return ForecastOutcome::Disabled,
        ForecasterKind::Mstl => Model::Mstl,
        #[cfg(feature = "prophet")]
        ForecasterKind::Prophet => Model::Prophet,
        #[cfg(not(feature = "prophet"))]
        ForecasterKind::Prophet => {
            return ForecastOutcome::Failed {
                reason: "this build has no Prophet support (build with `make build-prophet`)"
                    .into(),
            };
        }
    };
    match run(series, clean, settings, model) {
        Ok(summary) => ForecastOutcome::Fitted(summary),
        Err(reason) => ForecastOutcome::Failed { reason },
    }
}

/// The models behind the same pipeline.
#[derive(Debug, Clone, Copy)]
enum Model {
    Mstl,
    #[cfg(feature = "prophet")]
    Prophet,
}

/// What a model gives back: its in-sample fit and its forecast `horizon` points ahead.
pub(crate) struct Fit {
    pub in_sample: Vec<f64>,
    pub ahead: Vec<f64>,
}

/// The series on the coarse grid, and where that grid starts (Prophet needs timestamps).
#[cfg_attr(not(feature = "prophet"), allow(dead_code))]
pub(crate) struct Coarse<'a> {
    pub y: &'a [f64],
    pub start_secs: i64,
    pub resolution: u32,
    pub periods: &'a [usize],
}

impl Model {
    fn name(self) -> &'static str {
        match self {
            Model::Mstl => "mstl",
            #[cfg(feature = "prophet")]
            Model::Prophet => "prophet",
        }
    }

    fn fit(self, data: &Coarse<'_>, horizon: usize) -> Result<Fit, String> {
        match self {
            Model::Mstl => fit_mstl(data, horizon),
            #[cfg(feature = "prophet")]
            Model::Prophet => crate::prophet::fit(data, horizon),
        }
    }
}

fn run(
    series: &TrafficSeries,
    clean: &[bool],
    settings: &ForecastSettings,
    model: Model,
) -> Result<ForecastSummary, String> {
    let resolution = resolution_secs(settings, series.window.step_secs)?;
    let cleaned: Vec<f64> = series
        .values
        .iter()
        .zip(clean)
        .map(|(v, keep)| if *keep { *v } else { f64::NAN })
        .collect();
    let mut y = maxima(&cleaned, (resolution / series.window.step_secs) as usize);
    fill_edges(&mut y).ok_or("no samples at all")?;
    let day = (86_400 / resolution) as usize;
    let candidates: Vec<usize> = [day, 7 * day]
        .into_iter()
        .filter(|p| 2 * p <= y.len())
        .collect();
    if candidates.is_empty() {
        return Err(format!(
            "{} points at {resolution} s cover less than two days: no daily cycle to learn",
            y.len()
        ));
    }
    // Periods come from the step (a day is a day); the periodogram's view is kept for the
    // record. Letting it veto the weekly period was measured to forecast a whole week at the
    // weekend's level whenever the window ended on a weekend.
    let detected = detect_periods(&y, *candidates.last().expect("not empty"));
    let periods = candidates;
    let start_secs = series.window.start.timestamp();

    let holdout = settings.holdout_days as usize * day;
    let holdout_smape = if holdout > 0 && y.len() > holdout + 2 * day {
        let (train, test) = y.split_at(y.len() - holdout);
        let train_periods: Vec<usize> = periods
            .iter()
            .copied()
            .filter(|p| 2 * p <= train.len())
            .collect();
        let data = Coarse {
            y: train,
            start_secs,
            resolution,
            periods: &train_periods,
        };
        smape(&model.fit(&data, holdout)?.ahead, test)
    } else {
        None
    };

    let horizon = settings.horizon_days as usize * day;
    let data = Coarse {
        y: &y,
        start_secs,
        resolution,
        periods: &periods,
    };
    let fit = model.fit(&data, horizon)?;
    let peak = fit.ahead.iter().copied().fold(0.0, f64::max);
    // The band is the point forecast plus the `level` quantile of in-sample residuals. ETS's own
    // multi-step intervals widen with every step, and 2,016 steps ahead they were measured at up
    // to 20× the observed peak: no use as a floor. Prophet's are sampled with an unseedable
    // random generator, so runs would differ.
    let mut residuals: Vec<f64> = y
        .iter()
        .zip(&fit.in_sample)
        .filter(|(actual, fitted)| !actual.is_nan() && !fitted.is_nan())
        .map(|(actual, fitted)| actual - fitted)
        .collect();
    let margin = quantile(&mut residuals, settings.interval_level)
        .unwrap_or(0.0)
        .max(0.0);
    // Whole weeks of forecast and of history cancel the weekly shape, leaving the trend.
    let recent = &y[y.len().saturating_sub(horizon)..];
    let trend_growth = match (mean(&fit.ahead), mean(recent)) {
        (Some(ahead), Some(behind)) if behind > 0.0 => ahead.max(0.0) / behind,
        _ => 1.0,
    };
    Ok(ForecastSummary {
        forecaster: model.name().into(),
        resolution_secs: resolution,
        periods,
        detected_periods: detected,
        holdout_smape,
        holdout_days: settings.holdout_days,
        horizon_days: settings.horizon_days,
        level: settings.interval_level,
        peak,
        peak_upper: peak + margin,
        trend_growth,
    })
}

/// MSTL with an AutoETS trend; gaps interpolated first, because a single NaN fails the fit.
fn fit_mstl(data: &Coarse<'_>, horizon: usize) -> Result<Fit, String> {
    let model = MSTLModel::new(
        data.periods.to_vec(),
        AutoETS::non_seasonal().into_trend_model(),
    );
    let mut forecaster =
        Forecaster::new(model).with_transformers(vec![LinearInterpolator::new().boxed()]);
    forecaster
        .fit(data.y)
        .map_err(|e| format!("MSTL fit failed: {e}"))?;
    let ahead = forecaster
        .predict(horizon, None)
        .map_err(|e| format!("MSTL forecast failed: {e}"))?
        .point;
    let in_sample = forecaster
        .predict_in_sample(None)
        .map_err(|e| format!("MSTL in-sample prediction failed: {e}"))?
        .point;
    Ok(Fit { in_sample, ahead })
}

/// The decomposition step: the configured resolution, or the series' own step if coarser.
fn resolution_secs(settings: &ForecastSettings, step_secs: u32) -> Result<u32, String> {
    let resolution = humantime::parse_duration(settings.resolution.trim())
        .map_err(|e| format!("FORECAST_CONFIG.resolution `{}`: {e}", settings.resolution))?
        .as_secs() as u32;
    let resolution = resolution.max(step_secs);
    if !resolution.is_multiple_of(step_secs) || !86_400u32.is_multiple_of(resolution) {
        return Err(format!(
            "resolution {resolution} s is not a multiple of the step ({step_secs} s) dividing a day"
        ));
    }
    Ok(resolution)
}

/// Maximum of each run of `factor` points (NaN when all are missing): peaks survive coarsening.
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

/// Fills leading and trailing gaps with the nearest sample (interior gaps are interpolated by
/// the forecaster's pipeline, which leaves the edges NaN). `None` when there is no sample.
fn fill_edges(y: &mut [f64]) -> Option<()> {
    let first = y.iter().position(|v| !v.is_nan())?;
    let last = y.iter().rposition(|v| !v.is_nan())?;
    let (head, tail) = (y[first], y[last]);
    y[..first].iter_mut().for_each(|v| *v = head);
    y[last + 1..].iter_mut().for_each(|v| *v = tail);
    Some(())
}

/// Periods the periodogram sees, looking up to the longest candidate.
fn detect_periods(y: &[f64], longest: usize) -> Vec<u32> {
    let max_period = longest.min(y.len() / 2).max(8) as u32;
    PeriodogramDetector::builder()
        .max_period(max_period)
        .build()
        .detect(y)
}

/// The `q` quantile (nearest rank) of `values`, reordering them; `None` when empty.
fn quantile(values: &mut [f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let rank =
        ((q.clamp(0.0, 1.0) * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1;
    let (_, value, _) = values.select_nth_unstable_by(rank, f64::total_cmp);
    Some(*value)
}

/// Symmetric MAPE (0–2) over the points where the actual value is known and not both are zero.
fn smape(predicted: &[f64], actual: &[f64]) -> Option<f64> {
    let terms: Vec<f64> = predicted
        .iter()
        .zip(actual)
        .filter(|(p, a)| !a.is_nan() && !p.is_nan() && (p.abs() + a.abs()) > 0.0)
        .map(|(p, a)| 2.0 * (p - a).abs() / (p.abs() + a.abs()))
        .collect();
    mean(&terms)
}

fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::daily_shape_series;

    fn settings() -> ForecastSettings {
        ForecastSettings {
            forecaster: ForecasterKind::Mstl,
            resolution: "5m".into(),
            horizon_days: 7,
            interval_level: 0.95,
            holdout_days: 1,
        }
    }

    #[test]
    fn a_clean_daily_series_is_forecast_accurately() {
        let series = daily_shape_series(14, 100.0);
        let keep = vec![true; series.values.len()];
        let ForecastOutcome::Fitted(summary) = forecast(&series, &keep, &settings()) else {
            panic!(
                "fitted expected: {:?}",
                forecast(&series, &keep, &settings())
            );
        };
        assert_eq!(summary.resolution_secs, 300);
        assert_eq!(summary.periods[0], 288, "daily period at 5 minutes");
        let smape = summary.holdout_smape.unwrap();
        assert!(smape < 0.1, "held-out sMAPE {smape}");
        // The daily peak of the shape is about 100 (±2.5 % wiggle): the forecast agrees.
        assert!((90.0..115.0).contains(&summary.peak), "{}", summary.peak);
        assert!(summary.peak_upper >= summary.peak);
        assert!(
            (0.9..1.1).contains(&summary.trend_growth),
            "{}",
            summary.trend_growth
        );
    }

    #[test]
    fn gaps_and_zeros_do_not_break_the_fit() {
        let mut series = daily_shape_series(14, 3.0);
        for (i, v) in series.values.iter_mut().enumerate() {
            if i % 97 == 0 || !(50..=20_100).contains(&i) {
                *v = f64::NAN;
            } else if i % 5 == 0 {
                *v = 0.0;
            }
        }
        let outcome = forecast(&series, &vec![true; series.values.len()], &settings());
        assert!(matches!(outcome, ForecastOutcome::Fitted(_)), "{outcome:?}");
    }

    #[test]
    fn short_empty_and_disabled_series_say_why() {
        let short = daily_shape_series(1, 50.0);
        let keep = vec![true; 20_160];
        let ForecastOutcome::Failed { reason } = forecast(&short, &keep, &settings()) else {
            panic!()
        };
        assert!(reason.contains("less than two days"), "{reason}");
        let mut empty = daily_shape_series(3, 50.0);
        empty.values.iter_mut().for_each(|v| *v = f64::NAN);
        let ForecastOutcome::Failed { reason } = forecast(&empty, &keep, &settings()) else {
            panic!()
        };
        assert!(reason.contains("no samples"), "{reason}");
        let off = ForecastSettings {
            forecaster: ForecasterKind::None,
            ..settings()
        };
        assert_eq!(forecast(&short, &keep, &off), ForecastOutcome::Disabled);
    }

    /// Prophet (wasmtime, offline) on the same series as MSTL: a sound forecast, the same twice.
    #[cfg(feature = "prophet")]
    #[test]
    fn prophet_forecasts_offline_and_reproducibly() {
        let series = daily_shape_series(14, 100.0);
        let keep = vec![true; series.values.len()];
        let prophet = ForecastSettings {
            forecaster: ForecasterKind::Prophet,
            ..settings()
        };
        let started = std::time::Instant::now();
        let first = forecast(&series, &keep, &prophet);
        eprintln!("prophet: {:?} for two fits", started.elapsed());
        let ForecastOutcome::Fitted(summary) = &first else {
            panic!("{first:?}")
        };
        assert_eq!(summary.forecaster, "prophet");
        assert!((85.0..120.0).contains(&summary.peak), "{}", summary.peak);
        assert!(
            summary.holdout_smape.unwrap() < 0.2,
            "{:?}",
            summary.holdout_smape
        );
        assert_eq!(
            forecast(&series, &keep, &prophet),
            first,
            "no random sampling in the result"
        );
    }

    #[test]
    fn helpers_behave() {
        let m = maxima(&[1.0, 3.0, f64::NAN, f64::NAN, 2.0], 2);
        assert_eq!(m.len(), 3);
        assert_eq!(m[0], 3.0);
        assert!(m[1].is_nan(), "a bucket without samples stays a gap");
        assert_eq!(m[2], 2.0);
        let mut y = [f64::NAN, 2.0, f64::NAN, 4.0, f64::NAN];
        fill_edges(&mut y).unwrap();
        assert_eq!(y[0], 2.0);
        assert_eq!(y[4], 4.0);
        assert!(y[2].is_nan(), "interior gaps are left to the interpolator");
        assert_eq!(smape(&[1.0, 2.0], &[1.0, f64::NAN]), Some(0.0));
        assert_eq!(smape(&[2.0], &[1.0]), Some(2.0 / 3.0));
        assert_eq!(quantile(&mut [5.0, 1.0, 3.0, 2.0, 4.0], 0.8), Some(4.0));
        assert_eq!(quantile(&mut [5.0, 1.0, 3.0, 2.0, 4.0], 1.0), Some(5.0));
        assert_eq!(quantile(&mut [], 0.5), None);
    }
}
