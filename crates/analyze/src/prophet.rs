//! Prophet (augurs' port, with Prophet's Stan model compiled to WebAssembly and run in wasmtime:
//! fully offline, nothing downloaded). Only in builds with the `prophet` feature.
//!
//! The optimiser is compiled once per process (about 1.1 s) and cloned per series. Uncertainty
//! sampling is off: augurs draws it from an unseedable generator, so runs would differ; the band
//! comes from in-sample residuals instead, as for MSTL.

use std::num::NonZeroU32;
use std::sync::OnceLock;

use augurs::prophet::wasmstan::WasmstanOptimizer;
use augurs::prophet::{
    IncludeHistory, OptProphetOptions, PredictionData, Prophet as ProphetModel, ProphetOptions,
    TrainingData,
};

use crate::forecaster::{Coarse, Fit, Forecaster};

fn optimizer() -> WasmstanOptimizer {
    static OPTIMIZER: OnceLock<WasmstanOptimizer> = OnceLock::new();
    OPTIMIZER.get_or_init(WasmstanOptimizer::new).clone()
}

/// Prophet, fitted by the Stan optimiser in wasmtime.
#[derive(Debug, Clone, Copy)]
pub struct Prophet;

impl Forecaster for Prophet {
    fn name(&self) -> &'static str {
        "prophet"
    }

    fn fit(&self, data: &Coarse<'_>, horizon: usize) -> Result<Fit, String> {
        let step = i64::from(data.resolution);
        let ds: Vec<i64> = (0..data.y.len() as i64)
            .map(|i| data.start_secs + i * step)
            .collect();
        // Prophet drops NaN rows itself (gaps need no interpolation).
        let training = TrainingData::new(ds.clone(), data.y.to_vec())
            .map_err(|e| format!("Prophet data: {e}"))?;
        let options: ProphetOptions = OptProphetOptions {
            uncertainty_samples: Some(0),
            ..Default::default()
        }
        .into();
        let mut prophet = ProphetModel::new(options, optimizer());
        prophet
            .fit(training, Default::default())
            .map_err(|e| format!("Prophet fit failed: {e}"))?;
        let horizon = NonZeroU32::new(horizon as u32).ok_or("empty forecast horizon")?;
        let future = prophet
            .make_future_dataframe(horizon, IncludeHistory::No)
            .map_err(|e| format!("Prophet horizon: {e}"))?;
        let ahead = prophet
            .predict(future)
            .map_err(|e| format!("Prophet forecast failed: {e}"))?
            .yhat
            .point;
        // In-sample at every grid point, gaps included, so residuals line up with the series.
        let in_sample = prophet
            .predict(PredictionData::new(ds))
            .map_err(|e| format!("Prophet in-sample prediction failed: {e}"))?
            .yhat
            .point;
        Ok(Fit {
            in_sample,
            ahead,
            ets: None,
        })
    }
}
