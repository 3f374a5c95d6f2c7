//! The seam between the forecast driver and the models: the [`Forecaster`] trait, what a model
//! is given ([`Coarse`]) and what it gives back ([`Fit`]), as augurs' `Fit`/`Predict` are.
//!
//! The implementations are `mstl` (MSTL with an AutoETS trend, the default) and `prophet`
//! (only in builds with the `prophet` feature); `forecast` chooses one in a single place and
//! otherwise drives it through this trait alone.

/// A model that learns a series' normal level on the coarse grid and forecasts it.
pub trait Forecaster {
    /// The name reported in the forecast summary (`mstl`, `prophet`).
    fn name(&self) -> &'static str;

    /// Fits `data` and forecasts `horizon` coarse points past its end.
    fn fit(&self, data: &Coarse<'_>, horizon: usize) -> Result<Fit, String>;

    /// Fits the held-out training data (`data`, a head of the series `full` was fitted on)
    /// to measure the model's error. A model that searches among variants may reuse `full`'s
    /// choice: the error is then that of the model actually used, and the search is not paid
    /// twice.
    fn fit_holdout(&self, data: &Coarse<'_>, horizon: usize, full: &Fit) -> Result<Fit, String> {
        let _ = full;
        self.fit(data, horizon)
    }
}

/// The series on the coarse grid, and where that grid starts (Prophet needs timestamps).
#[cfg_attr(not(feature = "prophet"), allow(dead_code))]
pub struct Coarse<'a> {
    /// One mean per coarse step. The edges are filled; inside, NaN where every point of the
    /// step was missing or removed (MSTL interpolates them, Prophet drops them).
    pub y: &'a [f64],
    pub start_secs: i64,
    pub resolution: u32,
    /// Seasonal periods, in coarse points.
    pub periods: &'a [usize],
}

/// What a model gives back: its in-sample fit and its forecast `horizon` points ahead.
pub struct Fit {
    pub in_sample: Vec<f64>,
    pub ahead: Vec<f64>,
    /// MSTL's trend model, as its search chose it (`None` for other models).
    pub ets: Option<crate::trend::EtsChoice>,
}
