//! What the analysis stage learned about one series.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::series::{AnalysisWindow, AnomalyKind, SeriesKey};

/// How far outside the normal range an event lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Beyond `robust_zscore.low`.
    Low,
    /// Beyond `robust_zscore.medium`.
    Medium,
    /// Beyond `robust_zscore.high`, or a run beyond `sustained_zscore`.
    High,
}

impl Severity {
    /// The configuration and report spelling: `low`, `medium`, `high`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }
}

/// Consecutive anomalous grid points of one kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnomalyEvent {
    /// Spike, surge, drop or gap.
    pub kind: AnomalyKind,
    /// How far outside the normal range its most extreme point (or the run) lies.
    pub severity: Severity,
    /// First grid point of the event.
    pub start: DateTime<Utc>,
    /// Exclusive end.
    pub end: DateTime<Utc>,
    /// Grid points in the event.
    pub points: usize,
    /// Whether the event's points were left out of the peak (configuration decides per kind and
    /// severity; gaps never carry data).
    pub excluded: bool,
    /// Largest observed value in the event (NaN-free; 0 for gaps).
    pub peak_value: f64,
    /// Robust z-score of the most extreme point (0 for gaps).
    pub max_score: f64,
    /// An upward event of a pattern that recurs across the window (see [`RecurringBursts`]):
    /// demand the limit must clear, so never excluded, whatever its severity.
    #[serde(default)]
    pub recurring: bool,
}

impl AnomalyEvent {
    /// What became of the event, as the reports say it: `recurring demand` (kept for the burst
    /// floor), `removed` (a one-off, left out of the peak), `no data` (a gap), or `kept`.
    pub fn treatment(&self) -> &'static str {
        if self.recurring {
            "recurring demand"
        } else if self.kind == AnomalyKind::Gap {
            "no data"
        } else if self.excluded {
            "removed"
        } else {
            "kept"
        }
    }
}

/// Which technique produced the analysis. Feeds the "method" factor of confidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnalysisMethod {
    /// The forecast model's in-sample band supplied the baseline anomalies are judged against.
    Forecast,
    /// The robust seasonal baseline (median/MAD by hour of day and kind of day) did.
    Statistical,
    /// Too little data to judge anomalies; nothing was removed.
    None,
}

impl AnalysisMethod {
    /// The report spelling: `forecast`, `statistical`, `none`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Forecast => "forecast",
            Self::Statistical => "statistical",
            Self::None => "none",
        }
    }
}

/// The prime-time hours used to pick daily peaks, in the audience's time zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrimeTimeWindow {
    /// Local hours (0–23), ascending, that are prime time.
    pub hours: Vec<u32>,
    /// IANA time-zone name the hours are read in.
    pub timezone: String,
    /// `detected`, or `configured` with the reason the configured window was used.
    pub source: String,
}

impl PrimeTimeWindow {
    /// The window for `[start, end)` hours.
    pub fn from_range(start: u32, end: u32, timezone: &str, source: &str) -> Self {
        Self {
            hours: (start..end.min(24)).collect(),
            timezone: timezone.to_string(),
            source: source.to_string(),
        }
    }

    /// `19:00-24:00 UTC`; runs across midnight read `22:00-02:00`, several runs are joined with
    /// commas.
    pub fn describe(&self) -> String {
        let mut mask = [false; 24];
        for hour in &self.hours {
            mask[(*hour % 24) as usize] = true;
        }
        let runs = hour_runs(&mask);
        if runs.is_empty() {
            return format!("no hours {}", self.timezone);
        }
        let text: Vec<String> = runs
            .iter()
            .map(|(start, len)| {
                let end = start + len;
                let end = if end > 24 { end - 24 } else { end };
                format!("{start:02}:00-{end:02}:00")
            })
            .collect();
        format!("{} {}", text.join(", "), self.timezone)
    }
}

/// Runs of consecutive true hours as `(start, length)`, a run through midnight counted once.
pub fn hour_runs(mask: &[bool; 24]) -> Vec<(u32, u32)> {
    if mask.iter().all(|m| *m) {
        return vec![(0, 24)];
    }
    // Start scanning just after an off hour, so a run across midnight is not split.
    let first_off = mask.iter().position(|m| !m).unwrap_or(0);
    let mut runs = Vec::new();
    let mut current: Option<(u32, u32)> = None;
    for offset in 1..=24 {
        let hour = (first_off + offset) % 24;
        if mask[hour] {
            match &mut current {
                Some((_, len)) => *len += 1,
                None => current = Some((hour as u32, 1)),
            }
        } else if let Some(run) = current.take() {
            runs.push(run);
        }
    }
    runs.extend(current);
    runs.sort_unstable();
    runs
}

/// The highest non-anomalous value within one day's prime-time window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DailyPeak {
    /// Local date (in the prime-time time zone).
    pub date: NaiveDate,
    /// The peak, requests per minute.
    pub peak: f64,
    /// When it was reached.
    pub at: DateTime<Utc>,
    /// Share of that day's prime-time grid points that had usable (present, non-excluded) data.
    pub coverage: f64,
}

/// How many grid points the analysis saw and what became of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PointCounts {
    /// Grid points in the window.
    pub expected: usize,
    /// Grid points with a sample.
    pub present: usize,
    /// Grid points without a sample (gaps).
    pub missing: usize,
    /// Present points left out as anomalous.
    pub removed: usize,
    /// Present points that remain (`present - removed`).
    pub used: usize,
    /// Used points inside the prime-time window.
    pub prime_used: usize,
}

/// Summary statistics of the used (clean) points.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct SeriesStats {
    /// Mean requests per minute.
    pub mean: f64,
    /// Population standard deviation.
    pub std_dev: f64,
    /// Coefficient of variation, `std_dev / mean` (0 when the mean is 0).
    pub cv: f64,
    /// Highest requests per minute.
    pub max: f64,
    /// `max / mean` (0 when the mean is 0).
    pub peak_to_mean: f64,
}

/// What the forecaster learned about one series: which seasonality it used, how well it
/// predicted a held-out tail of the window, and what it expects over the next period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForecastSummary {
    /// `mstl` (MSTL with an AutoETS trend) or `prophet`.
    pub forecaster: String,
    /// The series was decomposed at this step (means of the finer grid), in seconds.
    pub resolution_secs: u32,
    /// Seasonal periods used, in points at `resolution_secs` (288 = one day at 5 minutes).
    pub periods: Vec<usize>,
    /// Periods the periodogram found, in points, for the record.
    pub detected_periods: Vec<u32>,
    /// Symmetric mean absolute percentage error (0–2) of a fit without the last
    /// `holdout_days`, on those days; `None` when the window is too short to hold any back.
    pub holdout_smape: Option<f64>,
    /// Days held back at the end of the window to measure `holdout_smape`.
    pub holdout_days: u32,
    /// Days forecast past the window's end.
    pub horizon_days: u32,
    /// Prediction-interval level of `peak_upper` (e.g. 0.95).
    pub level: f64,
    /// Highest expected level over the horizon (requests/minute): the point forecast with the
    /// in-sample correction of its hour.
    pub peak: f64,
    /// Highest upper band over the horizon (requests/minute): how high a single minute is
    /// expected to go at `level`.
    pub peak_upper: f64,
    /// Trend growth over the horizon: fitted trend at the horizon's end ÷ at the window's end.
    /// For the record only: the limit's trend multiplier comes from [`TrendEvidence`] (the
    /// model's extrapolation swung ×0.35 → ×1.63 between consecutive weeks of steady traffic).
    pub trend_growth: f64,
}

/// The forecast, or why there is none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ForecastOutcome {
    /// The model was fitted; what it learned.
    Fitted(ForecastSummary),
    /// Forecasting switched off (`forecaster: none`).
    Disabled,
    /// The series could not be fitted (too short, too sparse, model error); the reason says which.
    Failed {
        /// Why, for the report.
        reason: String,
    },
}

impl ForecastOutcome {
    /// The fitted forecast, if there is one.
    pub fn summary(&self) -> Option<&ForecastSummary> {
        match self {
            Self::Fitted(summary) => Some(summary),
            _ => None,
        }
    }
}

/// What a chart of one series draws, at a coarse step so that a 14-day chart stays small and
/// readable: the observed maximum of each step (peaks must stay visible), the model's expected
/// level and upper band over the window, and the same carried forward over the forecast
/// horizon. Not part of a result's output (it is for pictures, the numbers are elsewhere in the
/// result); serialised only into shard files, with gaps (NaN) as `null`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SeriesChart {
    /// Start of the first step.
    pub start: DateTime<Utc>,
    /// The chart's step, in seconds (coarser than the analysis grid).
    pub step_secs: u32,
    /// Highest observed value of each step, requests per minute (NaN: no data).
    #[serde(with = "nan_as_null")]
    pub observed_max: Vec<f64>,
    /// The baseline's expected level, mean of each step (NaN: none).
    #[serde(with = "nan_as_null")]
    pub expected: Vec<f64>,
    /// The upper band (expected + the interval's spread), highest of each step.
    #[serde(with = "nan_as_null")]
    pub upper: Vec<f64>,
    /// From the window's end, one step apart: `(expected, upper)` of the forecast.
    #[serde(with = "nan_pairs_as_null")]
    pub forecast: Vec<(f64, f64)>,
}

/// JSON has no NaN: gaps travel as `null`.
mod nan_as_null {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(values: &[f64], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(values.iter().map(|v| v.is_finite().then_some(*v)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        let values = Vec::<Option<f64>>::deserialize(d)?;
        Ok(values.into_iter().map(|v| v.unwrap_or(f64::NAN)).collect())
    }
}

mod nan_pairs_as_null {
    use serde::{Deserialize, Deserializer, Serializer};

    type Pair = (Option<f64>, Option<f64>);

    pub fn serialize<S: Serializer>(values: &[(f64, f64)], s: S) -> Result<S::Ok, S::Error> {
        let finite = |v: f64| v.is_finite().then_some(v);
        s.collect_seq(values.iter().map(|(a, b)| (finite(*a), finite(*b))))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(f64, f64)>, D::Error> {
        let values = Vec::<Pair>::deserialize(d)?;
        let nan = |v: Option<f64>| v.unwrap_or(f64::NAN);
        Ok(values.into_iter().map(|(a, b)| (nan(a), nan(b))).collect())
    }
}

/// Bit-for-bit, so that a chart with gaps (NaN) equals itself.
impl PartialEq for SeriesChart {
    fn eq(&self, other: &Self) -> bool {
        let same = |a: &[f64], b: &[f64]| {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
        };
        let pairs = |v: &[(f64, f64)]| v.iter().flat_map(|(a, b)| [*a, *b]).collect::<Vec<_>>();
        self.start == other.start
            && self.step_secs == other.step_secs
            && same(&self.observed_max, &other.observed_max)
            && same(&self.expected, &other.expected)
            && same(&self.upper, &other.upper)
            && same(&pairs(&self.forecast), &pairs(&other.forecast))
    }
}

/// Everything the calculator needs to know about one series, and the evidence behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalysisResult {
    /// The series analysed.
    pub key: SeriesKey,
    /// The window it was analysed over.
    pub window: AnalysisWindow,
    /// What supplied the baseline anomalies were judged against.
    pub method: AnalysisMethod,
    /// What became of the window's grid points.
    pub points: PointCounts,
    /// Statistics of the used (clean) points.
    pub stats: SeriesStats,
    /// The hours daily peaks were read in.
    pub prime_time: PrimeTimeWindow,
    /// One entry per day whose prime-time coverage met the configured minimum, oldest first.
    pub daily_peaks: Vec<DailyPeak>,
    /// Days skipped because too little of their prime time had usable data.
    pub days_skipped: usize,
    /// Every anomaly event found, excluded from the peak or not.
    pub anomalies: Vec<AnomalyEvent>,
    /// The forecast, or why there is none.
    pub forecast: ForecastOutcome,
    /// Upward events that recur on several days of the window, kept as demand; `None` when
    /// the series has none (its upward events, if any, are one-off anomalies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurring_bursts: Option<RecurringBursts>,
    /// The evidence for (or against) growth in the daily peaks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trend: Option<TrendEvidence>,
    /// How often traffic sat at the deployed limit, when one was deployed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saturation: Option<Saturation>,
    /// What the charts draw (`None` when the series had no data to draw).
    #[serde(skip)]
    pub chart: Option<SeriesChart>,
}

impl AnalysisResult {
    /// Number of points removed by events of `kind`.
    pub fn removed_by_kind(&self, kind: AnomalyKind) -> usize {
        self.anomalies
            .iter()
            .filter(|e| e.excluded && e.kind == kind)
            .map(|e| e.points)
            .sum()
    }
}

/// Upward events (spikes and surges) on several distinct days, spread over the window: a
/// partner's batch job, a notification herd, news-driven bursts. They are demand, not
/// anomalies: one-off events are still removed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecurringBursts {
    /// Upward events kept as demand.
    pub events: usize,
    /// Of those, events that repeat a whole number of weeks apart in overlapping hours at a
    /// similar height (the others recur on several days across the window).
    #[serde(default)]
    pub weekly: usize,
    /// Distinct days (UTC) they fell on.
    pub days: usize,
    /// First and last of those days.
    pub first_day: NaiveDate,
    /// Last of those days.
    pub last_day: NaiveDate,
    /// The highest minute among them, requests per minute.
    pub peak: f64,
    /// The height they reached on at least two different days: the second-highest of the
    /// days' highest burst minutes. What the burst floor clears: a single day's extreme (one
    /// bot spike among the bursts) cannot move it further than the next day's height.
    pub demand: f64,
}

/// A robust (Theil–Sen) line through the daily clean peaks, with the 95 % confidence interval
/// of its slope: growth is applied only when that interval excludes zero.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrendEvidence {
    /// Daily peaks the line was fitted to.
    pub days: usize,
    /// Median pairwise slope, requests per minute per day.
    pub slope_per_day: f64,
    /// Lower end of the slope's 95 % confidence interval.
    pub slope_low: f64,
    /// Upper end of the slope's 95 % confidence interval.
    pub slope_high: f64,
    /// The line's level in the middle of the window (where the effective peak, a mean of the
    /// daily peaks, sits).
    pub level: f64,
    /// Days from the middle of the window to the end of the forecast horizon.
    pub days_ahead: f64,
    /// The line's level at the end of the horizon ÷ `level` when the interval excludes zero;
    /// otherwise exactly 1 (no evidence of growth or decline).
    pub growth: f64,
}

impl TrendEvidence {
    /// Whether the slope's confidence interval excludes zero.
    pub fn is_significant(&self) -> bool {
        self.slope_low > 0.0 || self.slope_high < 0.0
    }
}

/// How often the observed traffic sat at the deployed limit: when it did, observed traffic
/// understates demand (the rest was rejected), and the series must not be cut.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Saturation {
    /// The deployed limit, requests per minute.
    pub limit: f64,
    /// Prime-time minutes with data.
    pub prime_minutes: usize,
    /// Of those, minutes at or above `GOVERNANCE.saturated_level` × the limit.
    pub saturated_minutes: usize,
    /// `saturated_minutes ÷ prime_minutes`.
    pub share: f64,
    /// Share of requests the source reports as rejected (HTTP 429) over the window, when its
    /// preset has a `rejected_query`.
    pub rejected_share: Option<f64>,
    /// Whether observed traffic is censored: `share` reached `GOVERNANCE.saturated_share`, or
    /// `rejected_share` reached `GOVERNANCE.rejected_share`.
    pub censored: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prime_time_is_described_in_clock_ranges() {
        assert_eq!(
            PrimeTimeWindow::from_range(19, 24, "UTC", "configured").describe(),
            "19:00-24:00 UTC"
        );
        let wrap = PrimeTimeWindow {
            hours: vec![0, 1, 22, 23],
            timezone: "UTC".into(),
            source: "detected".into(),
        };
        assert_eq!(wrap.describe(), "22:00-02:00 UTC");
        let two = PrimeTimeWindow {
            hours: vec![9, 10, 20, 21],
            timezone: "Europe/Paris".into(),
            source: "detected".into(),
        };
        assert_eq!(two.describe(), "09:00-11:00, 20:00-22:00 Europe/Paris");
    }
}
