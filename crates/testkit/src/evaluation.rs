//! A labelled benchmark of the anomaly filter: synthetic series with a known daily and weekly
//! shape, at volume levels from 5 to 5,000 requests per minute and two noise levels (Poisson, and
//! over-dispersed with 3× its variance), with anomalies of each kind injected at known positions
//! and sizes. It reports per-kind recall, the precision of removed events, and the error of the
//! effective peak against the same series without anomalies.
//!
//! A test runs the small form (one seed); `cargo bench -p trendmaster-testkit --bench
//! anomaly_evaluation` runs the full form (ten seeds).

use rand::SeedableRng;
use rand_distr::{Distribution, Gamma, Poisson};
use rand_pcg::Pcg64Mcg;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use trendmaster_types::settings::{AnomalySettings, ForecastSettings, PrimeTimeSettings};
use trendmaster_types::{AnalysisWindow, AnomalyKind, SeriesKey, Severity, TrafficSeries};

/// One synthetic series.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    /// Prime-time level, requests per minute.
    pub level: f64,
    /// Variance ÷ mean of the noise (1 = Poisson).
    pub dispersion: f64,
    /// Seed of the noise and of the anomalies' placement.
    pub seed: u64,
}

/// The cases of the benchmark: every level × noise, for `seeds` seeds.
pub fn cases(seeds: u64) -> Vec<Case> {
    let mut cases = Vec::new();
    for seed in 0..seeds {
        for level in [5.0, 50.0, 500.0, 5000.0] {
            for dispersion in [1.0, 3.0] {
                cases.push(Case {
                    level,
                    dispersion,
                    seed,
                });
            }
        }
    }
    cases
}

/// An injected anomaly: `kind` from `day` at `minute` of the day for `minutes`, at `factor` × the
/// expected level (ignored for gaps).
struct Injection {
    kind: AnomalyKind,
    day: usize,
    minute: usize,
    minutes: usize,
    factor: f64,
}

/// The catalogue: spikes of 3–10× (two of them only 3×), a 3-hour 3× surge through prime time,
/// an hour-long outage and a scrape gap.
const INJECTIONS: [Injection; 7] = [
    Injection {
        kind: AnomalyKind::Spike,
        day: 2,
        minute: 21 * 60,
        minutes: 5,
        factor: 3.0,
    },
    Injection {
        kind: AnomalyKind::Spike,
        day: 5,
        minute: 20 * 60 + 30,
        minutes: 10,
        factor: 6.0,
    },
    Injection {
        kind: AnomalyKind::Spike,
        day: 9,
        minute: 13 * 60,
        minutes: 15,
        factor: 10.0,
    },
    Injection {
        kind: AnomalyKind::Spike,
        day: 11,
        minute: 22 * 60,
        minutes: 8,
        factor: 3.0,
    },
    Injection {
        kind: AnomalyKind::Surge,
        day: 7,
        minute: 18 * 60,
        minutes: 180,
        factor: 3.0,
    },
    Injection {
        kind: AnomalyKind::Drop,
        day: 12,
        minute: 20 * 60,
        minutes: 60,
        factor: 0.02,
    },
    Injection {
        kind: AnomalyKind::Gap,
        day: 4,
        minute: 2 * 60,
        minutes: 20,
        factor: 0.0,
    },
];

/// Expected requests per minute at minute `i` of the window (which starts on a Monday).
fn expected(level: f64, i: usize) -> f64 {
    let hour = (i % 1440) as f64 / 60.0;
    // Hours from 21:00 around the clock, so that the curve is continuous at midnight as
    // real traffic is.
    let from_peak = (hour - 21.0).abs().min(24.0 - (hour - 21.0).abs());
    let evening = (-(from_peak / 3.0).powi(2)).exp();
    let weekend = if (i / 1440) % 7 >= 5 { 0.75 } else { 1.0 };
    level * (0.2 + 0.8 * evening) * weekend
}

fn sample(rng: &mut Pcg64Mcg, mean: f64, dispersion: f64) -> f64 {
    if mean <= 0.0 {
        return 0.0;
    }
    // Gamma-mixed Poisson (negative binomial) has variance mean × dispersion.
    let rate = if dispersion > 1.0 {
        let shape = mean / (dispersion - 1.0);
        Gamma::new(shape, dispersion - 1.0).map_or(mean, |g| g.sample(rng))
    } else {
        mean
    };
    Poisson::new(rate.max(1e-9)).map_or(rate, |p| p.sample(rng))
}

/// The clean series and the same series with the catalogue injected.
fn generate(case: Case) -> (TrafficSeries, TrafficSeries) {
    // 2026-11-02 is a Monday.
    let end = "2026-11-16T00:00:00Z".parse().expect("constant");
    let window = AnalysisWindow::ending_at(end, 14, 60);
    let mut rng = Pcg64Mcg::seed_from_u64(
        case.seed.wrapping_mul(7919) ^ case.level as u64 ^ (case.dispersion as u64) << 32,
    );
    let clean: Vec<f64> = (0..window.len())
        .map(|i| sample(&mut rng, expected(case.level, i), case.dispersion))
        .collect();
    let mut injected = clean.clone();
    for injection in &INJECTIONS {
        let start = injection.day * 1440 + injection.minute;
        let run = &mut injected[start..start + injection.minutes];
        for (offset, value) in run.iter_mut().enumerate() {
            *value = match injection.kind {
                AnomalyKind::Gap => f64::NAN,
                _ => sample(
                    &mut rng,
                    expected(case.level, start + offset) * injection.factor,
                    case.dispersion,
                ),
            };
        }
    }
    let key = SeriesKey::new(format!("l{}", case.level), format!("/d{}", case.dispersion));
    (
        TrafficSeries {
            key: key.clone(),
            window,
            values: clean,
        },
        TrafficSeries {
            key,
            window,
            values: injected,
        },
    )
}

/// Counts of one kind: injected, and found by the filter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Recall {
    /// Anomalies injected.
    pub injected: usize,
    /// Of those, found by the filter.
    pub found: usize,
}

impl Recall {
    /// `found ÷ injected` (1 when nothing was injected).
    pub fn rate(&self) -> f64 {
        if self.injected == 0 {
            1.0
        } else {
            self.found as f64 / self.injected as f64
        }
    }
}

/// The benchmark's result.
#[derive(Debug, Clone, Default)]
pub struct Evaluation {
    /// Series evaluated.
    pub series: usize,
    /// Recall per injected kind, by its name (`spike`, `gap`, …).
    pub recall: BTreeMap<&'static str, Recall>,
    /// Recall of spikes and surges per level.
    pub recall_by_level: BTreeMap<u64, Recall>,
    /// Removed events, and those that overlap an injected anomaly.
    pub removed_events: usize,
    /// Of the removed events, those that overlap an injected anomaly.
    pub removed_true: usize,
    /// (level, |effective peak − anomaly-free effective peak| ÷ anomaly-free), per series.
    pub peak_errors: Vec<(u64, f64)>,
    /// How many series each detection method judged (`forecast` band or `statistical`).
    pub methods: BTreeMap<&'static str, usize>,
}

impl Evaluation {
    /// Share of removed events that overlap an injected anomaly (1 when none was removed).
    pub fn precision(&self) -> f64 {
        if self.removed_events == 0 {
            1.0
        } else {
            self.removed_true as f64 / self.removed_events as f64
        }
    }

    /// Largest effective-peak error among series of at least `level` requests per minute.
    pub fn max_peak_error(&self, level: u64) -> f64 {
        self.peak_errors
            .iter()
            .filter(|(l, _)| *l >= level)
            .map(|(_, e)| *e)
            .fold(0.0, f64::max)
    }

    /// Recall of spikes and surges among series of at least `level` requests per minute.
    pub fn recall_from(&self, level: u64) -> f64 {
        let (found, injected) = self
            .recall_by_level
            .range(level..)
            .fold((0, 0), |(f, i), (_, r)| (f + r.found, i + r.injected));
        if injected == 0 {
            1.0
        } else {
            found as f64 / injected as f64
        }
    }

    /// A table for people.
    pub fn render(&self) -> String {
        let mut out = format!(
            "{} series, 14 days at 1 minute; detection method: {:?}\n\nkind     injected  found  recall\n",
            self.series, self.methods
        );
        for (kind, recall) in &self.recall {
            let _ = writeln!(
                out,
                "{kind:<8} {:>8} {:>6} {:>7.3}",
                recall.injected,
                recall.found,
                recall.rate()
            );
        }
        out.push_str("\nspikes+surges by level (req/min)\n");
        for (level, recall) in &self.recall_by_level {
            let _ = writeln!(
                out,
                "{level:>6}: {}/{} = {:.3}",
                recall.found,
                recall.injected,
                recall.rate()
            );
        }
        let _ = writeln!(
            out,
            "\nprecision of removed events: {}/{} = {:.3}\nmax effective-peak error by level:",
            self.removed_true,
            self.removed_events,
            self.precision()
        );
        for level in self.recall_by_level.keys() {
            let errors: Vec<f64> = self
                .peak_errors
                .iter()
                .filter(|(l, _)| l == level)
                .map(|(_, e)| *e)
                .collect();
            let max = errors.iter().copied().fold(0.0, f64::max);
            let mean = errors.iter().sum::<f64>() / errors.len().max(1) as f64;
            let _ = writeln!(out, "{level:>6}: mean {mean:.4}, max {max:.4}");
        }
        out
    }
}

/// The built-in analysis settings the benchmark measures, with the fixed prime-time window so
/// that the peak error measures the filter only.
pub fn builtin_settings() -> (PrimeTimeSettings, AnomalySettings, ForecastSettings) {
    let options = trendmaster_config::LoadOptions {
        config_file: None,
        base_dir: Some("/nonexistent".into()),
    };
    let mut config =
        trendmaster_config::load(&options, &trendmaster_config::Overrides::default(), &|_| {
            None
        })
        .expect("the built-in configuration is valid");
    config.prime_time.detection_method = trendmaster_types::settings::PrimeTimeMethod::Fixed;
    (config.prime_time, config.anomaly, config.forecast)
}

/// Runs the benchmark on `cases` with the given analysis settings.
pub fn evaluate(
    cases: &[Case],
    prime_time: &PrimeTimeSettings,
    anomaly: &AnomalySettings,
    forecast: &ForecastSettings,
) -> Evaluation {
    let mut evaluation = Evaluation {
        series: cases.len(),
        ..Evaluation::default()
    };
    // The truth is the clean series' peak with nothing left out; it needs no forecast.
    let mut truth_settings = anomaly.clone();
    truth_settings.severity_filter.clear();
    let truth_forecast = ForecastSettings {
        forecaster: trendmaster_types::settings::ForecasterKind::None,
        ..forecast.clone()
    };
    for case in cases {
        let (clean, injected) = generate(*case);
        let truth =
            trendmaster_analyze::analyze(&clean, prime_time, &truth_settings, &truth_forecast);
        let analysis = trendmaster_analyze::analyze(&injected, prime_time, anomaly, forecast);
        *evaluation
            .methods
            .entry(analysis.method.as_str())
            .or_default() += 1;
        let index = |t: chrono::DateTime<chrono::Utc>| {
            ((t - injected.window.start).num_seconds() / 60) as usize
        };
        let overlaps = |event: &trendmaster_types::AnomalyEvent, start: usize, len: usize| {
            index(event.start) < start + len && index(event.end) > start
        };
        for injection in &INJECTIONS {
            let start = injection.day * 1440 + injection.minute;
            let found = analysis.anomalies.iter().any(|e| {
                overlaps(e, start, injection.minutes)
                    && match injection.kind {
                        AnomalyKind::Gap => e.kind == AnomalyKind::Gap,
                        AnomalyKind::Drop => {
                            e.kind == AnomalyKind::Drop && e.severity >= Severity::Medium
                        }
                        _ => e.excluded && e.kind != AnomalyKind::Drop,
                    }
            });
            let recall = evaluation
                .recall
                .entry(injection.kind.as_str())
                .or_default();
            recall.injected += 1;
            recall.found += usize::from(found);
            if matches!(injection.kind, AnomalyKind::Spike | AnomalyKind::Surge) {
                let by_level = evaluation
                    .recall_by_level
                    .entry(case.level as u64)
                    .or_default();
                by_level.injected += 1;
                by_level.found += usize::from(found);
            }
        }
        for event in analysis.anomalies.iter().filter(|e| e.excluded) {
            evaluation.removed_events += 1;
            let genuine = INJECTIONS.iter().any(|i| {
                i.kind != AnomalyKind::Gap && overlaps(event, i.day * 1440 + i.minute, i.minutes)
            });
            evaluation.removed_true += usize::from(genuine);
        }
        let peak = |a: &trendmaster_types::AnalysisResult| {
            a.daily_peaks.iter().map(|p| p.peak).sum::<f64>() / a.daily_peaks.len().max(1) as f64
        };
        let (got, want) = (peak(&analysis), peak(&truth));
        evaluation
            .peak_errors
            .push((case.level as u64, (got - want).abs() / want.max(1e-9)));
    }
    evaluation
}
