//! The forecast driver: the configured [`Forecaster`] (MSTL with an AutoETS trend in `mstl`, or
//! Prophet in `prophet`) fitted on the series' means at a coarser resolution, with seasonal
//! periods derived from the step (a periodogram's reading recorded), its error measured on a
//! held-out tail, then a forecast of the next period.
//!
//! augurs' traps, and what is done about each: MSTL fails on NaN (gaps are interpolated inside
//! the series and filled at its edges); Log and Box-Cox fail on zeros, and Yeo-Johnson's inverse
//! fails on the bands of low-count series ("invalid domain", measured), so the series is fitted
//! untransformed; the periodogram misses daily cycles in minute data unless its maximum period is
//! set (it is); ETS's own intervals widen without bound over a week of steps and Prophet's are
//! sampled with an unseedable generator, so the band comes from in-sample residuals instead (see
//! `band`), clamped at 0 like the point forecast.

use augurs::seasons::{Detector, PeriodogramDetector};
use chrono::TimeDelta;
use chrono_tz::Tz;
use trendmaster_types::settings::{ForecastSettings, ForecasterKind};
use trendmaster_types::{ForecastOutcome, ForecastSummary, TrafficSeries};

use crate::band::Band;
use crate::forecaster::{Coarse, Forecaster};
use crate::mstl::Mstl;
#[cfg(feature = "prophet")]
use crate::prophet::Prophet;
use crate::stats::{bucket_at, bucket_stats, mean, means};

/// A fitted model: its in-sample values and forecast on the coarse grid, and what was measured
/// on the way.
#[derive(Debug, Clone)]
pub struct ModelFit {
    pub forecaster: &'static str,
    pub resolution_secs: u32,
    /// Series points per coarse point.
    pub factor: usize,
    pub periods: Vec<usize>,
    pub detected_periods: Vec<u32>,
    pub holdout_smape: Option<f64>,
    pub in_sample: Vec<f64>,
    pub ahead: Vec<f64>,
    /// Mean of the last horizon's worth of the fitted series, for the trend's growth.
    pub recent_mean: Option<f64>,
}

/// Why there is no fit.
#[derive(Debug, Clone, PartialEq)]
pub enum NoFit {
    /// `forecaster: none`.
    Disabled,
    Failed(String),
}

impl NoFit {
    /// The outcome to report.
    pub fn outcome(self) -> ForecastOutcome {
        match self {
            NoFit::Disabled => ForecastOutcome::Disabled,
            NoFit::Failed(reason) => ForecastOutcome::Failed { reason },
        }
    }
}

/// Fits `series` as configured, on the points `clean` keeps (anomalies removed, so that a bot
/// spike does not teach the model a new normal).
pub fn fit(
    series: &TrafficSeries,
    clean: &[bool],
    settings: &ForecastSettings,
    timezone: Tz,
) -> Result<ModelFit, NoFit> {
    let forecaster = forecaster(settings.forecaster)?;
    run(series, clean, settings, forecaster, timezone).map_err(NoFit::Failed)
}

/// The model `kind` names: the one place a forecaster is chosen. Prophet exists only in builds
/// with the `prophet` feature (wasmtime costs about 15 minutes of build and 25 MB of binary).
fn forecaster(kind: ForecasterKind) -> Result<&'static dyn Forecaster, NoFit> {
    match kind {
        ForecasterKind::None => Err(NoFit::Disabled),
        ForecasterKind::Mstl => Ok(&Mstl),
        #[cfg(feature = "prophet")]
        ForecasterKind::Prophet => Ok(&Prophet),
        #[cfg(not(feature = "prophet"))]
        ForecasterKind::Prophet => Err(NoFit::Failed(
            "this build has no Prophet support (build with `make build-prophet`)".into(),
        )),
    }
}

/// What the fit expects over the next `horizon_days`, with the band (see [`Band`]) carried
/// forward in the prime-time time zone's hours.
pub fn summary(
    fit: &ModelFit,
    band: &Band,
    series: &TrafficSeries,
    settings: &ForecastSettings,
    timezone: Tz,
) -> ForecastSummary {
    let (peak, peak_upper) = path(fit, band, series, timezone)
        .into_iter()
        .fold((0.0_f64, 0.0_f64), |(peak, upper), (expected, high)| {
            (peak.max(expected), upper.max(high))
        });
    // Whole weeks of forecast and of history cancel the weekly shape, leaving the trend.
    let trend_growth = match (mean(&fit.ahead), fit.recent_mean) {
        (Some(ahead), Some(behind)) if behind > 0.0 => ahead.max(0.0) / behind,
        _ => 1.0,
    };
    ForecastSummary {
        forecaster: fit.forecaster.into(),
        resolution_secs: fit.resolution_secs,
        periods: fit.periods.clone(),
        detected_periods: fit.detected_periods.clone(),
        holdout_smape: fit.holdout_smape,
        holdout_days: settings.holdout_days,
        horizon_days: settings.horizon_days,
        level: settings.interval_level,
        peak,
        peak_upper,
        trend_growth,
    }
}

/// The forecast with its band, one `(expected, upper)` per coarse step from the window's end.
pub fn path(fit: &ModelFit, band: &Band, series: &TrafficSeries, timezone: Tz) -> Vec<(f64, f64)> {
    let start = series.window.end;
    let step = TimeDelta::seconds(i64::from(fit.resolution_secs));
    band.ahead(fit.ahead.iter().enumerate().map(|(j, value)| {
        // The middle of the coarse interval decides its hour.
        let local = (start + step * j as i32 + step / 2).with_timezone(&timezone);
        (value.max(0.0), bucket_at(&local))
    }))
}

fn run(
    series: &TrafficSeries,
    clean: &[bool],
    settings: &ForecastSettings,
    forecaster: &dyn Forecaster,
    timezone: Tz,
) -> Result<ModelFit, String> {
    let resolution = resolution_secs(settings, series.window.step_secs)?;
    let cleaned: Vec<f64> = series
        .values
        .iter()
        .zip(clean)
        .map(|(v, keep)| if *keep { *v } else { f64::NAN })
        .collect();
    let factor = (resolution / series.window.step_secs) as usize;
    let mut y = means(&cleaned, factor);
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

    let horizon = settings.horizon_days as usize * day;
    let data = Coarse {
        y: &y,
        start_secs,
        resolution,
        periods: &periods,
    };
    let fit = forecaster.fit(&data, horizon)?;

    // The held-out fit after the full one, which it may reuse (see `Forecaster::fit_holdout`).
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
        let held_out = forecaster.fit_holdout(&data, holdout, &fit)?;
        // Corrected by hour and kind of day as the final forecast's band is (see `Band`):
        // 13 days cannot hold two weekly cycles, so without it a held-out weekend day would be
        // forecast at weekday level and the error would measure the calendar, not the model.
        let bucket = |j: usize| {
            let middle = series.window.start
                + TimeDelta::seconds(i64::from(resolution) * j as i64 + i64::from(resolution / 2));
            bucket_at(&middle.with_timezone(&timezone))
        };
        let correction: Vec<f64> = bucket_stats(
            train
                .iter()
                .zip(&held_out.in_sample)
                .enumerate()
                .filter(|(_, (y, f))| !y.is_nan() && !f.is_nan())
                .map(|(j, (y, f))| (bucket(j), y - f)),
        )
        .into_iter()
        .map(|stats| stats.map_or(0.0, |s| s.clipped_mean))
        .collect();
        let ahead: Vec<f64> = held_out
            .ahead
            .iter()
            .enumerate()
            .map(|(k, v)| (v + correction[bucket(train.len() + k)]).max(0.0))
            .collect();
        smape(&ahead, test)
    } else {
        None
    };

    Ok(ModelFit {
        forecaster: forecaster.name(),
        resolution_secs: resolution,
        factor,
        periods,
        detected_periods: detected,
        holdout_smape,
        in_sample: fit.in_sample,
        ahead: fit.ahead,
        recent_mean: mean(&y[y.len().saturating_sub(horizon)..]),
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prime::{LocalTime, local_times};
    use crate::test_support::daily_shape_series;

    /// Fit, band and summary, as `analyze` chains them.
    fn forecast(
        series: &TrafficSeries,
        keep: &[bool],
        settings: &ForecastSettings,
    ) -> ForecastOutcome {
        match fit(series, keep, settings, chrono_tz::UTC) {
            Err(no_fit) => no_fit.outcome(),
            Ok(fit) => {
                let buckets: Vec<usize> = local_times(&series.window, chrono_tz::UTC)
                    .iter()
                    .map(LocalTime::bucket)
                    .collect();
                let band = Band::new(
                    &series.values,
                    keep,
                    &fit.in_sample,
                    fit.factor,
                    &buckets,
                    settings.interval_level,
                    0.0,
                );
                ForecastOutcome::Fitted(summary(&fit, &band, series, settings, chrono_tz::UTC))
            }
        }
    }

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
    fn growth_over_the_window_is_carried_into_the_forecast() {
        // 2 % more traffic every day: the next week averages well above the last one.
        let mut series = daily_shape_series(14, 1000.0);
        for (i, v) in series.values.iter_mut().enumerate() {
            *v *= 1.0 + 0.02 * i as f64 / 1440.0;
        }
        // An anomaly removed in the last week leaves NaN in the coarse series: it must not
        // hide the growth.
        let mut keep = vec![true; series.values.len()];
        keep[12 * 1440..12 * 1440 + 30]
            .iter_mut()
            .for_each(|k| *k = false);
        let ForecastOutcome::Fitted(summary) = forecast(&series, &keep, &settings()) else {
            panic!()
        };
        assert!(
            (1.03..1.3).contains(&summary.trend_growth),
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
        let mut y = [f64::NAN, 2.0, f64::NAN, 4.0, f64::NAN];
        fill_edges(&mut y).unwrap();
        assert_eq!(y[0], 2.0);
        assert_eq!(y[4], 4.0);
        assert!(y[2].is_nan(), "interior gaps are left to the interpolator");
        assert_eq!(smape(&[1.0, 2.0], &[1.0, f64::NAN]), Some(0.0));
        assert_eq!(smape(&[2.0], &[1.0]), Some(2.0 / 3.0));
    }
}
