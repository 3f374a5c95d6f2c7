//! Analysing a fleet as a stream: the source hands over batches of series as they are fetched,
//! a pool of workers (one per core) analyses and calculates each series and drops its raw
//! points, and only the results stay. Memory holds the batches in flight, not the fleet's raw
//! history (1,000 series × 14 days × 1 minute are 160 MB of points; 5,000 are 800 MB).

use std::collections::{BTreeMap, BinaryHeap};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tracing::{debug, info, warn};
use trendmaster_calculate::Formula;
use trendmaster_config::ResolvedConfig;
use trendmaster_fetch::{FetchStats, SeriesFailure, Source};
use trendmaster_types::{
    AnalysisResult, AnalysisWindow, FetchedSeries, RateRecommendation, SeriesChart, SeriesKey,
    SkippedSeries,
};

use crate::error::AppError;

/// The series one run analyses, and against what.
pub(crate) struct FleetSelection<'a> {
    pub source: &'a Source,
    pub keys: &'a [SeriesKey],
    pub window: &'a AnalysisWindow,
    /// Deployed limits (requests per minute): to tell censored series (traffic that sat at its
    /// limit), and to rank charts by change.
    pub deployed: Option<&'a BTreeMap<SeriesKey, u64>>,
    /// Series the configuration leaves out, with their reasons; reported as skipped.
    pub excluded: &'a [SkippedSeries],
}

/// What the analysis produced, sorted by key.
pub(crate) struct Analysed {
    pub recommendations: Vec<RateRecommendation>,
    /// Excluded and skipped series, with their reasons.
    pub skipped: Vec<SkippedSeries>,
    pub fetch: FetchStats,
    pub busy: BusyTime,
    /// Wall seconds from the first query until the last series was analysed.
    pub analyse_seconds: f64,
}

/// Fetches and analyses `selection` as a stream, and refuses the run when any series could not
/// be fetched. `charts`: keep chart data (up to `COMMON.OUTPUT.max_charts`); `export_data`:
/// also write the fetched traffic there.
pub(crate) fn analyse(
    config: &ResolvedConfig,
    selection: &FleetSelection<'_>,
    progress: bool,
    charts: bool,
    export_data: Option<&Path>,
) -> Result<Analysed, AppError> {
    let started = Instant::now();
    let formula = formula(config);
    let options = FleetOptions {
        progress,
        charts: ChartPolicy {
            max: if charts { config.max_charts } else { 0 },
            deployed: selection.deployed,
        },
        keep_fetched: export_data.is_some(),
        deployed: selection.deployed,
    };
    let fleet = analyse_fleet(
        config,
        selection.source,
        selection.keys,
        selection.window,
        &formula,
        &options,
    )?;
    let stats = fleet.fetch;
    info!(
        series = stats.series,
        queries = stats.queries,
        retries = stats.retries,
        from_cache = stats.cache_hits,
        bytes = stats.bytes,
        missing_points = stats.missing_points,
        "fetched {} series from {} ({} queries, {} retries, {} from cache, {} bytes, {} missing points)",
        stats.series,
        config.source,
        stats.queries,
        stats.retries,
        stats.cache_hits,
        stats.bytes,
        stats.missing_points
    );
    if !fleet.failures.is_empty() {
        for failure in &fleet.failures {
            warn!(series = %failure.key, "{}", failure.reason);
        }
        // Never emit a ConfigMap that silently lacks entries: refuse the whole run.
        return Err(AppError::FetchFailures(format!(
            "{} of {} series could not be fetched, so nothing was written; first: {}: {}",
            fleet.failures.len(),
            selection.keys.len(),
            fleet.failures[0].key,
            fleet.failures[0].reason
        )));
    }
    if let Some(path) = export_data {
        let mut kept = fleet.kept;
        kept.sort_by(|a, b| a.series.key.cmp(&b.series.key));
        trendmaster_fetch::export::export(path, &kept)?;
        info!(path = %path.display(), series = kept.len(), "exported fetched traffic");
    }

    let mut recommendations = Vec::with_capacity(fleet.outcomes.len());
    let mut skipped = selection.excluded.to_vec();
    for outcome in fleet.outcomes {
        match outcome {
            Ok(recommendation) => {
                debug!(
                    series = %recommendation.key,
                    limit = recommendation.requests_per_minute,
                    peak = recommendation.effective_peak,
                    "recommended"
                );
                recommendations.push(recommendation);
            }
            Err(skip) => {
                warn!(series = %skip.key, "no recommendation: {}", skip.reason);
                skipped.push(skip);
            }
        }
    }
    recommendations.sort_by(|a, b| a.key.cmp(&b.key));
    skipped.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(Analysed {
        recommendations,
        skipped,
        fetch: stats,
        busy: fleet.busy,
        analyse_seconds: started.elapsed().as_secs_f64(),
    })
}

/// What a fleet's analysis produced, in no particular order.
#[derive(Debug, Default)]
pub(crate) struct FleetAnalysis {
    pub outcomes: Vec<Result<RateRecommendation, SkippedSeries>>,
    pub failures: Vec<SeriesFailure>,
    pub fetch: FetchStats,
    pub busy: BusyTime,
    /// The fetched series, only when asked for (`--export-data`): this is the one case that
    /// holds the whole fleet in memory.
    pub kept: Vec<FetchedSeries>,
}

/// Time spent per stage, summed over the threads that ran it (stages overlap in a stream, so
/// these add up to more than the wall time on a machine with several cores).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct BusyTime {
    pub analysis_seconds: f64,
    pub calculation_seconds: f64,
}

/// Which series keep their chart data: at most `max`, ranked by [`chart_rank`].
pub(crate) struct ChartPolicy<'a> {
    pub max: usize,
    /// Deployed limits (requests per minute), to rank by change.
    pub deployed: Option<&'a BTreeMap<SeriesKey, u64>>,
}

/// How much a series deserves a chart: a change against the deployed limit first (by its
/// size), then a new entry (by its limit), then an unchanged one. Higher is drawn first; ties go
/// to the smaller key, so the choice does not depend on the order series arrive in.
pub(crate) fn chart_rank(
    recommendation: &RateRecommendation,
    deployed: Option<&BTreeMap<SeriesKey, u64>>,
) -> (u8, f64) {
    let limit = recommendation.requests_per_minute as f64;
    match deployed.and_then(|d| d.get(&recommendation.key)) {
        Some(&current) if current > 0 && recommendation.requests_per_minute != current => {
            (2, (limit / current as f64).ln().abs())
        }
        Some(_) => (0, limit),
        None => (1, limit),
    }
}

/// A bounded set of the best-ranked charts seen so far.
struct ChartKeeper {
    max: usize,
    /// Min-heap on rank: the root is the first to go.
    heap: BinaryHeap<std::cmp::Reverse<Ranked>>,
}

struct Ranked {
    rank: (u8, f64),
    key: SeriesKey,
    chart: SeriesChart,
}

impl Ranked {
    fn order(&self, other: &Self) -> std::cmp::Ordering {
        self.rank
            .0
            .cmp(&other.rank.0)
            .then(self.rank.1.total_cmp(&other.rank.1))
            // A smaller key ranks higher.
            .then_with(|| other.key.cmp(&self.key))
    }
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.order(other).is_eq()
    }
}
impl Eq for Ranked {}
impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.order(other)
    }
}

impl ChartKeeper {
    fn new(max: usize) -> Self {
        Self {
            max,
            heap: BinaryHeap::new(),
        }
    }

    fn offer(&mut self, rank: (u8, f64), key: SeriesKey, chart: SeriesChart) {
        if self.max == 0 {
            return;
        }
        self.heap
            .push(std::cmp::Reverse(Ranked { rank, key, chart }));
        if self.heap.len() > self.max {
            self.heap.pop();
        }
    }

    fn into_charts(self) -> BTreeMap<SeriesKey, SeriesChart> {
        self.heap
            .into_iter()
            .map(|std::cmp::Reverse(r)| (r.key, r.chart))
            .collect()
    }
}

/// Keeps the charts of the `max` best-ranked recommendations and drops the others' (the chart
/// data is the largest part of a result: 15-minute steps over the window and the horizon).
pub(crate) fn keep_best_charts(
    recommendations: &mut [RateRecommendation],
    policy: &ChartPolicy<'_>,
) {
    let mut keeper = ChartKeeper::new(policy.max);
    for rec in recommendations.iter_mut() {
        if let Some(chart) = rec.analysis.chart.take() {
            keeper.offer(chart_rank(rec, policy.deployed), rec.key.clone(), chart);
        }
    }
    let mut charts = keeper.into_charts();
    for rec in recommendations {
        rec.analysis.chart = charts.remove(&rec.key);
    }
}

/// How a fleet is analysed, beyond what.
pub(crate) struct FleetOptions<'a> {
    /// Draw a progress bar on stderr.
    pub progress: bool,
    pub charts: ChartPolicy<'a>,
    /// Keep the fetched series (`--export-data`).
    pub keep_fetched: bool,
    /// Deployed limits (requests per minute): a series that sat at its limit is censored.
    pub deployed: Option<&'a BTreeMap<SeriesKey, u64>>,
}

/// The calculator's settings of `config`.
pub(crate) fn formula(config: &ResolvedConfig) -> Formula {
    Formula {
        rate: config.rate.clone(),
        cache: config.cache.clone(),
        confidence: config.confidence.clone(),
        multipliers: config.multipliers.clone(),
    }
}

/// Fetches `keys` from `source` and analyses them as they arrive.
pub(crate) fn analyse_fleet(
    config: &ResolvedConfig,
    source: &Source,
    keys: &[SeriesKey],
    window: &AnalysisWindow,
    formula: &Formula,
    options: &FleetOptions<'_>,
) -> Result<FleetAnalysis, trendmaster_fetch::FetchError> {
    let mut failures = Vec::new();
    let mut kept = Vec::new();
    let total = keys.len();
    let (mut analysis, fetched) = analyse_pool(
        config,
        formula,
        total,
        options.progress,
        &options.charts,
        options.deployed,
        |push| {
            source.fetch_each(keys, window, &mut |batch| {
                failures.extend(batch.failures);
                for series in batch.series {
                    if options.keep_fetched {
                        kept.push(series.clone());
                    }
                    push(series);
                }
            })
        },
    );
    analysis.fetch = fetched?;
    analysis.failures = failures;
    analysis.kept = kept;
    Ok(analysis)
}

/// Analyses series already in memory (the backtest's training windows), in their order.
pub(crate) fn analyse_all(
    config: &ResolvedConfig,
    fetched: Vec<FetchedSeries>,
    formula: &Formula,
    progress: bool,
) -> Vec<Result<RateRecommendation, SkippedSeries>> {
    let order: BTreeMap<SeriesKey, usize> = fetched
        .iter()
        .enumerate()
        .map(|(i, s)| (s.series.key.clone(), i))
        .collect();
    let all_charts = ChartPolicy {
        max: usize::MAX,
        deployed: None,
    };
    let (mut analysis, ()) = analyse_pool(
        config,
        formula,
        fetched.len(),
        progress,
        &all_charts,
        None,
        |push| fetched.into_iter().for_each(push),
    );
    analysis.outcomes.sort_by_key(|outcome| {
        let key = match outcome {
            Ok(rec) => &rec.key,
            Err(skip) => &skip.key,
        };
        order.get(key).copied()
    });
    analysis.outcomes
}

/// Runs `feed` on the calling thread; every series it pushes is analysed and calculated on a
/// pool of workers (one per core). The queue between them is short, so a feed that fetches is
/// slowed down by the analysis instead of piling series up in memory.
///
/// With `progress` (stderr is a terminal), a bar on stderr counts the `total` series done.
/// With `deployed` limits, each series with one is checked for censored demand.
fn analyse_pool<R>(
    config: &ResolvedConfig,
    formula: &Formula,
    total: usize,
    progress: bool,
    charts: &ChartPolicy<'_>,
    deployed: Option<&BTreeMap<SeriesKey, u64>>,
    feed: impl FnOnce(&mut dyn FnMut(FetchedSeries)) -> R,
) -> (FleetAnalysis, R) {
    let bar = progress.then(|| {
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(total as u64),
            indicatif::ProgressDrawTarget::stderr(),
        );
        bar.set_message("analysing series");
        bar
    });
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(total.max(1));
    let (sender, receiver) = mpsc::sync_channel::<FetchedSeries>(workers * 2);
    let receiver = Mutex::new(receiver);
    let outcomes = Mutex::new(Vec::with_capacity(total));
    let keeper = Mutex::new(ChartKeeper::new(charts.max));
    let analysis_nanos = AtomicU64::new(0);
    let calculation_nanos = AtomicU64::new(0);
    let fed = std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let Ok(item) = receiver.lock().expect("queue").recv() else {
                        break;
                    };
                    let started = Instant::now();
                    let analysis = analyse_series(config, &item, deployed);
                    let analysed = Instant::now();
                    drop(item.series);
                    let mut outcome =
                        trendmaster_calculate::recommend(analysis, item.cache_hit_ratio, formula);
                    add(&analysis_nanos, analysed - started);
                    add(&calculation_nanos, analysed.elapsed());
                    if let Ok(rec) = &mut outcome
                        && let Some(chart) = rec.analysis.chart.take()
                    {
                        let rank = chart_rank(rec, charts.deployed);
                        keeper
                            .lock()
                            .expect("charts")
                            .offer(rank, rec.key.clone(), chart);
                    }
                    outcomes.lock().expect("outcomes").push(outcome);
                    if let Some(bar) = &bar {
                        bar.inc(1);
                    }
                }
            });
        }
        let mut push = |series: FetchedSeries| {
            // Fails only when every worker has died, which a panic reports by itself.
            let _ = sender.send(series);
        };
        let fed = feed(&mut push);
        drop(sender);
        fed
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let mut charts = keeper.into_inner().expect("charts").into_charts();
    let mut outcomes = outcomes.into_inner().expect("outcomes");
    for rec in outcomes.iter_mut().flatten() {
        rec.analysis.chart = charts.remove(&rec.key);
    }
    let seconds = |nanos: AtomicU64| nanos.into_inner() as f64 / 1e9;
    (
        FleetAnalysis {
            outcomes,
            busy: BusyTime {
                analysis_seconds: seconds(analysis_nanos),
                calculation_seconds: seconds(calculation_nanos),
            },
            ..FleetAnalysis::default()
        },
        fed,
    )
}

/// One series' analysis and, when it has a deployed limit, how often its prime-time traffic sat
/// at that limit (or the source saw requests rejected): censored demand, which is never cut.
fn analyse_series(
    config: &ResolvedConfig,
    fetched: &FetchedSeries,
    deployed: Option<&BTreeMap<SeriesKey, u64>>,
) -> AnalysisResult {
    let series = &fetched.series;
    let mut analysis = trendmaster_analyze::analyze(
        series,
        &config.prime_time,
        &config.anomaly,
        &config.forecast,
    );
    if let Some(&limit) = deployed.and_then(|limits| limits.get(&series.key)) {
        analysis.saturation = Some(trendmaster_analyze::saturation(
            series,
            &analysis.prime_time,
            limit as f64,
            fetched.rejected_share,
            &config.governance,
        ));
    }
    analysis
}

fn add(total: &AtomicU64, elapsed: Duration) {
    total.fetch_add(elapsed.as_nanos() as u64, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranked(rank: (u8, f64), key: &str) -> (u8, f64, SeriesKey) {
        (rank.0, rank.1, SeriesKey::new(key, "/a"))
    }

    #[test]
    fn the_keeper_keeps_the_best_ranked_and_breaks_ties_by_key() {
        let mut keeper = ChartKeeper::new(3);
        let offers = [
            ranked((1, 500.0), "5"),
            ranked((2, 0.1), "4"),
            ranked((0, 9_000.0), "3"),
            ranked((1, 500.0), "2"),
            ranked((1, 100.0), "1"),
            ranked((1, 500.0), "6"),
        ];
        for (class, size, key) in offers {
            keeper.offer((class, size), key, SeriesChart::default());
        }
        let kept: Vec<String> = keeper
            .into_charts()
            .into_keys()
            .map(|k| k.partner)
            .collect();
        // The change (class 2) first, then the two largest new limits, the smaller keys of the
        // three tied at 500.
        assert_eq!(kept, ["2", "4", "5"]);

        let mut none = ChartKeeper::new(0);
        none.offer((2, 1.0), SeriesKey::new("1", "/a"), SeriesChart::default());
        assert!(none.into_charts().is_empty());
    }
}
