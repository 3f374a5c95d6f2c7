//! The recommendation-quality benchmark (issue 16; `make quality`, and a small form in
//! `tests/quality.rs`): would the limits have hurt legitimate traffic, would they stop a runaway
//! client, and do they hold still from one week to the next?
//!
//! Rolling backtests: train on 14 days, replay the next 7, move on by 7 days, for each series
//! of two groups:
//!
//! - **NAB**: the three real Twitter series of [`nab`](crate::nab) (about 55 days each, so 5
//!   windows each), each scaled so that its whole-file mean is 300 req/min (each 5-minute value
//!   read as a rate in req/min), so that `min_rate_limit` and the rounding step do not decide.
//!   Legitimate: every point outside NAB's labelled windows. (The 14-day NAB files cannot give
//!   a 14 + 7-day window and are left out.)
//! - **demo**: demo simulator series ([`DemoTraffic`]), each window fetched on its own (21
//!   days, 5-minute steps). Legitimate: every point outside the labelled anomalies; the
//!   labelled legitimate bursts (batch jobs, notification herds, campaigns) are legitimate.
//!
//! For each window three limits come from the training part alone: the original v1 rule, the
//! original v3 as its code ran (fixed prime-time hours), and trendmaster — analyse, recommend,
//! then plan against the limit trendmaster emitted for the same series the window before (none
//! in its first window), so the deadband and the bounded cuts act as in production; a change
//! governance holds is approved (an operator approving it, as a weekly cron with a person in the
//! loop would; see [`govern`]). Each test week is replayed through the ratelimit service's fixed
//! windows ([`trendmaster_backtest::replay`]).
//!
//! Metrics, per group and formula: the share of legitimate requests rejected; windows and series
//! with any false throttle; throttled legitimate minutes; headroom (limit ÷ the test week's
//! legitimate peak; min and median over windows); the week-over-week change `|L_w / L_{w−1} − 1|`
//! over consecutive windows of a series; and an abusive client: in the test week's busiest two
//! hours of legitimate traffic, a client adds 9× the legitimate rate (traffic becomes 10×); the
//! share of its excess the limit rejects is `(rejected with it − rejected without it) ÷ excess`
//! over those two hours.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, TimeDelta, Timelike, Utc};
use trendmaster_backtest::{ReplayOutcome, replay};
use trendmaster_calculate::Formula;
use trendmaster_calculate::originals::{v1_rule, v3_original};
use trendmaster_config::ResolvedConfig;
use trendmaster_fetch::DemoTraffic;
use trendmaster_plan::{Approvals, ChangeStatus, Governance};
use trendmaster_types::{
    AnalysisWindow, RateRecommendation, SeriesKey, SkippedSeries, TrafficSeries,
};

use crate::nab;

/// Days of training in each window.
pub const TRAIN_DAYS: u32 = 14;
/// Days replayed after the training.
pub const TEST_DAYS: u32 = 7;
/// Days between the starts of consecutive windows.
pub const STEP_DAYS: u32 = 7;
/// The grid step of both groups, in seconds (NAB's own).
pub const STEP_SECS: u32 = 300;
/// Each NAB series is scaled to this whole-file mean, in requests per minute.
pub const NAB_MEAN_RPM: f64 = 300.0;
/// The abusive client multiplies the legitimate traffic by this during its two hours.
pub const ABUSE_FACTOR: f64 = 10.0;
/// How long the abusive client runs, in seconds: the test week's busiest two hours.
pub const ABUSE_SECS: u32 = 2 * 3600;
/// A week-over-week change above this share counts as a large move.
pub const LARGE_CHANGE: f64 = 0.15;

/// The three NAB series long enough for rolling windows.
pub const NAB_TWITTER: [&str; 3] = [
    "Twitter_volume_FB.csv",
    "Twitter_volume_GOOG.csv",
    "Twitter_volume_KO.csv",
];

/// The NAB files too short (14 days) for a 14 + 7-day window, left out of the rolling table.
pub const NAB_TOO_SHORT: [&str; 7] = [
    "elb_request_count_8c0756.csv",
    "art_daily_jumpsup.csv",
    "art_load_balancer_spikes.csv",
    "art_daily_small_noise.csv",
    "art_daily_no_noise.csv",
    "art_noisy.csv",
    "art_flatline.csv",
];

/// The formulas compared, in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// The Python tool's v1: `max × 1.5` (spiky) or `max × 2.5` on the raw training window.
    V1,
    /// v3 as its code ran: raw series, fixed prime-time hours.
    V3Original,
    /// This tool: analyse, recommend, plan against last week's emitted limit.
    Trendmaster,
}

/// All variants, in report order (the index into every per-variant array).
pub const VARIANTS: [Variant; 3] = [Variant::V1, Variant::V3Original, Variant::Trendmaster];

impl Variant {
    /// The column title.
    pub fn name(self) -> &'static str {
        match self {
            Self::V1 => "v1 (max × 1.5/2.5)",
            Self::V3Original => "v3 original",
            Self::Trendmaster => "trendmaster",
        }
    }

    /// Index into per-variant arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// A group of series, summarised apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Group {
    /// The NAB Twitter series, scaled.
    Nab,
    /// Demo simulator series.
    Demo,
}

impl Group {
    /// The group's title.
    pub fn name(self) -> &'static str {
        match self {
            Self::Nab => "NAB (realTweets, scaled to a mean of 300 req/min)",
            Self::Demo => "demo (simulator with labelled legitimate bursts)",
        }
    }
}

/// What to run: which NAB files and which demo series.
#[derive(Debug, Clone)]
pub struct QualitySet {
    /// NAB file names (each long enough for at least one 21-day window).
    pub nab: Vec<String>,
    /// The demo simulator's seed.
    pub demo_seed: u64,
    /// Demo series.
    pub demo_keys: Vec<SeriesKey>,
    /// End of the demo span (a midnight UTC).
    pub demo_end: DateTime<Utc>,
    /// Length of the demo span in days: `(days − 21) / 7 + 1` windows per series.
    pub demo_days: u32,
}

/// The demo partners and API paths of the `environment` environment (README's `make demo`).
const DEMO_PARTNERS: [&str; 4] = ["111", "222", "333", "444"];
const DEMO_APIS: [&str; 9] = [
    "/api_v3/service/multirequest",
    "/api_v3/service/asset/action/list",
    "/api_v3/service/asset/action/get",
    "/api_v3/service/asset/action/getplaybackcontext",
    "/api_v3/service/ottuser/action/login",
    "/api_v3/service/ottuser/action/get",
    "/api_v3/service/household/action/get",
    "/api_v3/service/entitlement/action/list",
    "/api_v3/service/channel/action/list",
];

/// The demo seed of the benchmark: `COMMON.DATA.demo_seed` of the built-in configuration.
pub const DEMO_SEED: u64 = 1;

impl QualitySet {
    /// `make quality`: the three Twitter series, and 16 demo series over 6 weeks (4 windows
    /// each): the first four APIs of each demo partner.
    pub fn full() -> Self {
        Self::with_demo(
            DEMO_PARTNERS
                .iter()
                .flat_map(|p| DEMO_APIS[..4].iter().map(move |a| SeriesKey::new(*p, *a)))
                .collect(),
        )
    }

    /// The test suite's form: the three Twitter series and six demo series (three with a
    /// legitimate burst pattern, three without, as seed 1 draws them).
    pub fn small() -> Self {
        Self::with_demo(vec![
            SeriesKey::new("111", DEMO_APIS[0]), // weekly campaign
            SeriesKey::new("111", DEMO_APIS[1]), // none
            SeriesKey::new("111", DEMO_APIS[3]), // push notification herd
            SeriesKey::new("222", DEMO_APIS[0]), // batch job
            SeriesKey::new("222", DEMO_APIS[2]), // none
            SeriesKey::new("333", DEMO_APIS[1]), // none
        ])
    }

    fn with_demo(demo_keys: Vec<SeriesKey>) -> Self {
        Self {
            nab: NAB_TWITTER.iter().map(|n| (*n).to_owned()).collect(),
            demo_seed: DEMO_SEED,
            demo_keys,
            demo_end: DateTime::parse_from_rfc3339("2026-11-23T00:00:00Z")
                .expect("a valid time")
                .with_timezone(&Utc),
            demo_days: 42,
        }
    }
}

/// The built-in configuration, environment `environment` (the README demo's), 5-minute steps.
///
/// # Panics
/// When the built-in configuration does not load.
pub fn config() -> ResolvedConfig {
    let options = trendmaster_config::LoadOptions {
        config_file: None,
        base_dir: Some("/nonexistent".into()),
    };
    let overrides = trendmaster_config::Overrides {
        environment: Some("environment".into()),
        step: Some("5m".into()),
        ..trendmaster_config::Overrides::default()
    };
    trendmaster_config::load(&options, &overrides, &|_| None)
        .expect("the built-in configuration is valid")
}

/// The calculator's inputs from `config`, as the binary builds them.
pub fn formula(config: &ResolvedConfig) -> Formula {
    Formula {
        rate: config.rate.clone(),
        cache: config.cache.clone(),
        confidence: config.confidence.clone(),
        multipliers: config.multipliers.clone(),
    }
}

/// trendmaster's recommendation for `series` (analyse, then recommend; no cache hit ratio).
pub fn recommend(
    config: &ResolvedConfig,
    series: &TrafficSeries,
) -> Result<RateRecommendation, SkippedSeries> {
    let analysis = trendmaster_analyze::analyze(
        series,
        &config.prime_time,
        &config.anomaly,
        &config.forecast,
    );
    trendmaster_calculate::recommend(analysis, None, &formula(config))
}

/// The limit governance emits for `recommendation` (none: the series was skipped) against
/// `deployed`, the mass-cut gate off (one series at a time). A change governance holds is
/// approved — an operator approving it, as in a weekly cron with a person in the loop — and
/// planned again with that approval. Nothing else is approved: `--approve` would also release
/// a bounded (stepped) cut in full, which is not what an operator approving held changes does.
///
/// # Panics
/// When the plan is refused, which with the gate off it cannot be.
pub fn govern(
    config: &ResolvedConfig,
    key: &SeriesKey,
    recommendation: Option<&RateRecommendation>,
    deployed: Option<u64>,
) -> Option<(u64, ChangeStatus)> {
    let recommended: BTreeMap<_, _> = recommendation
        .map(|r| (key.clone(), r.plan_input()))
        .into_iter()
        .collect();
    let deployed = deployed.map(|limit| BTreeMap::from([(key.clone(), limit)]));
    let governance = Governance {
        mass_cut_gate: false,
        ..Governance::new(
            &config.governance,
            &config.multipliers.tiers,
            config.rate.rounding(),
        )
    };
    let entry = |approvals: &Approvals| {
        trendmaster_plan::plan(&recommended, deployed.as_ref(), approvals, &governance)
            .expect("no mass-cut gate for one series")
            .normal
            .into_iter()
            .find(|p| &p.key == key)
            .map(|p| (p.emitted, p.status))
    };
    match entry(&Approvals::None) {
        Some((_, ChangeStatus::Held)) => {
            entry(&Approvals::Some(std::iter::once(key.clone()).collect()))
        }
        planned => planned,
    }
}

/// Whether each point of `window` is in the configured fixed prime-time hours (what v3 used).
pub fn fixed_prime_time(config: &ResolvedConfig, window: &AnalysisWindow) -> Vec<bool> {
    let (start, end) = (
        config.prime_time.fixed_start_hour,
        config.prime_time.fixed_end_hour,
    );
    (0..window.len())
        .map(|i| {
            let hour = window
                .timestamp(i)
                .with_timezone(&config.prime_time.timezone)
                .hour();
            hour >= start && hour < end
        })
        .collect()
}

/// The training part of the first window of every series of `set` (NAB scaled, demo fetched as
/// the benchmark does), for tests that change a training window and compare the limits.
pub fn first_training_windows(set: &QualitySet) -> Vec<TrafficSeries> {
    subjects(set)
        .iter()
        .filter_map(|subject| {
            let window = *subject.windows().first()?;
            let data = subject.data(&window);
            let train = AnalysisWindow {
                end: window.start + TimeDelta::days(i64::from(TRAIN_DAYS)),
                ..window
            };
            Some(TrafficSeries {
                key: subject.key(),
                window: train,
                values: data.values[..train.len()].to_vec(),
            })
        })
        .collect()
}

fn subjects(set: &QualitySet) -> Vec<Subject> {
    let span = TRAIN_DAYS + TEST_DAYS;
    let demo_windows = if set.demo_days >= span {
        ((set.demo_days - span) / STEP_DAYS + 1) as usize
    } else {
        0
    };
    let demo = DemoTraffic::new(set.demo_seed);
    let start = set.demo_end - TimeDelta::days(i64::from(set.demo_days));
    set.nab
        .iter()
        .map(|name| Subject::nab(name))
        .chain(set.demo_keys.iter().map(|key| Subject::Demo {
            demo,
            key: key.clone(),
            start,
            windows: demo_windows,
        }))
        .collect()
}

/// One series of the benchmark.
#[derive(Debug, Clone)]
enum Subject {
    /// A scaled NAB file and its anomalous points.
    Nab {
        series: TrafficSeries,
        anomalous: Vec<bool>,
    },
    /// A demo series, fetched window by window.
    Demo {
        demo: DemoTraffic,
        key: SeriesKey,
        /// The first window's training start; later ones follow every 7 days.
        start: DateTime<Utc>,
        windows: usize,
    },
}

/// One window's data: 21 days of values, anomalous points, whether legitimate bursts are labelled.
struct WindowData {
    values: Vec<f64>,
    anomalous: Vec<bool>,
    bursts: bool,
}

const fn days_secs(days: u32) -> i64 {
    days as i64 * 86_400
}

impl Subject {
    fn nab(name: &str) -> Self {
        let mut series = nab::load(name);
        let finite: Vec<f64> = series
            .values
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .collect();
        let mean = finite.iter().sum::<f64>() / finite.len().max(1) as f64;
        let scale = if mean > 0.0 { NAB_MEAN_RPM / mean } else { 1.0 };
        for v in &mut series.values {
            *v *= scale;
        }
        let anomalous = nab::window_mask(&series, &nab::labelled_windows(name));
        Self::Nab { series, anomalous }
    }

    fn name(&self) -> String {
        match self {
            Self::Nab { series, .. } => series
                .key
                .api
                .trim_start_matches("Twitter_volume_")
                .trim_end_matches(".csv")
                .to_owned(),
            Self::Demo { key, .. } => format!("{}:{}", key.partner, short_api(&key.api)),
        }
    }

    fn group(&self) -> Group {
        match self {
            Self::Nab { .. } => Group::Nab,
            Self::Demo { .. } => Group::Demo,
        }
    }

    /// The windows' positions: NAB from the first midnight of the file.
    fn windows(&self) -> Vec<AnalysisWindow> {
        let span = days_secs(TRAIN_DAYS + TEST_DAYS);
        let step = days_secs(STEP_DAYS);
        let make = |start: i64| AnalysisWindow {
            start: DateTime::from_timestamp(start, 0).expect("in range"),
            end: DateTime::from_timestamp(start + span, 0).expect("in range"),
            step_secs: STEP_SECS,
        };
        match self {
            Self::Nab { series, .. } => {
                let first = series.window.start.timestamp();
                let start = (first + 86_399).div_euclid(86_400) * 86_400;
                let end = series.window.end.timestamp();
                (0..)
                    .map(|w| start + w * step)
                    .take_while(|s| s + span <= end)
                    .map(make)
                    .collect()
            }
            Self::Demo { start, windows, .. } => (0..*windows as i64)
                .map(|w| make(start.timestamp() + w * step))
                .collect(),
        }
    }

    fn data(&self, window: &AnalysisWindow) -> WindowData {
        match self {
            Self::Nab { series, anomalous } => {
                let from = ((window.start - series.window.start).num_seconds()
                    / i64::from(STEP_SECS)) as usize;
                let to = from + window.len();
                WindowData {
                    values: series.values[from..to].to_vec(),
                    anomalous: anomalous[from..to].to_vec(),
                    bursts: false,
                }
            }
            Self::Demo { demo, key, .. } => {
                let fetched = demo.series(key, window);
                let mut anomalous = vec![false; fetched.series.values.len()];
                for a in &fetched.labelled_anomalies {
                    anomalous[a.start_index..a.start_index + a.len].fill(true);
                }
                WindowData {
                    values: fetched.series.values,
                    anomalous,
                    bursts: !fetched.labelled_bursts.is_empty(),
                }
            }
        }
    }

    fn key(&self) -> SeriesKey {
        match self {
            Self::Nab { series, .. } => series.key.clone(),
            Self::Demo { key, .. } => key.clone(),
        }
    }
}

fn short_api(api: &str) -> &str {
    api.trim_start_matches("/api_v3/service/")
}

/// One window of one series.
#[derive(Debug, Clone)]
pub struct WindowResult {
    /// The series' group.
    pub group: Group,
    /// The series, shortly (`FB`, `111:multirequest`).
    pub series: String,
    /// The window's position in the series, from 0.
    pub index: usize,
    /// Start of training.
    pub train_start: DateTime<Utc>,
    /// The series has labelled legitimate bursts (demo only).
    pub bursts: bool,
    /// The test week's highest legitimate value, req/min.
    pub legit_peak: f64,
    /// The test week's median legitimate value, req/min (`legit_peak ÷ this`: how bursty).
    pub legit_median: f64,
    /// Per variant: the limit in force during the test week (trendmaster: the emitted one).
    pub limits: [Option<u64>; 3],
    /// trendmaster's raw recommendation, before governance.
    pub recommended: Option<u64>,
    /// Governance's status for trendmaster's entry.
    pub status: Option<ChangeStatus>,
    /// Why trendmaster made no recommendation, if it did not.
    pub skipped: Option<String>,
    /// Per variant: the replay of the test week.
    pub outcomes: [Option<ReplayOutcome>; 3],
    /// Per variant: the share of the abusive client's excess rejected (none without traffic).
    pub abuse_rejected: [Option<f64>; 3],
}

impl WindowResult {
    /// `limit ÷ legit_peak` of `variant`.
    pub fn headroom(&self, variant: Variant) -> Option<f64> {
        let limit = self.limits[variant.index()]? as f64;
        (self.legit_peak > 0.0).then(|| limit / self.legit_peak)
    }
}

/// Week-over-week change of limits: `|L_w / L_{w−1} − 1|` over consecutive windows of a series.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ChangeSummary {
    /// Consecutive pairs.
    pub pairs: usize,
    /// Median change (0.05 = 5 %).
    pub median: f64,
    /// Largest change.
    pub max: f64,
    /// Pairs that changed by more than [`LARGE_CHANGE`].
    pub large: usize,
    /// Of those, cuts (the rest are raises).
    pub large_cuts: usize,
}

impl ChangeSummary {
    /// Of signed changes (`L_w / L_{w−1} − 1`); median, max and `large` by size.
    fn of(signed: &[f64]) -> Self {
        let changes: Vec<f64> = signed.iter().map(|c| c.abs()).collect();
        Self {
            pairs: changes.len(),
            median: median(&changes).unwrap_or(0.0),
            max: changes.iter().copied().fold(0.0, f64::max),
            large: changes.iter().filter(|c| **c > LARGE_CHANGE).count(),
            large_cuts: signed.iter().filter(|c| **c < -LARGE_CHANGE).count(),
        }
    }

    /// Share of pairs with a large change.
    pub fn large_share(&self) -> f64 {
        ratio(self.large as f64, self.pairs as f64)
    }
}

/// One formula's results over a group.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VariantSummary {
    /// Windows with a limit.
    pub windows: usize,
    /// Legitimate requests in the test weeks.
    pub legit_requests: f64,
    /// Of those, rejected.
    pub legit_rejected: f64,
    /// Windows with any legitimate request rejected.
    pub windows_false_throttle: usize,
    /// Series with at least one such window.
    pub series_false_throttle: usize,
    /// Legitimate minutes (ratelimit windows) with a rejection.
    pub throttled_minutes: f64,
    /// Smallest headroom (limit ÷ the test week's legitimate peak).
    pub headroom_min: f64,
    /// Median headroom.
    pub headroom_median: f64,
    /// Week-over-week change of the limit in force.
    pub change: ChangeSummary,
    /// Windows where the abusive client had traffic to multiply.
    pub abuse_windows: usize,
    /// Median share of its excess rejected.
    pub abuse_median: f64,
    /// Windows where at least half its excess was rejected.
    pub abuse_stopped: usize,
    /// The same two counts over series without labelled legitimate bursts (demo only):
    /// (windows ≥ 50 %, windows).
    pub abuse_stopped_without_bursts: Option<(usize, usize)>,
    /// The same, only windows whose legitimate peak is at least [`ROUNDING_FREE_PEAK`]: below
    /// it a fixed 100-req/min rounding step alone decided whether the client was stopped
    /// (before `max_rounding_share`; kept to show the small series separately).
    pub abuse_stopped_without_bursts_above_rounding: Option<(usize, usize)>,
}

/// A legitimate peak (req/min) from which the rounding step (100) is under 10 % of the 10×
/// client's margin (a limit stops half its excess when it is at most 5.5× the legitimate
/// level): 100 ÷ (5.5 × 200) = 9 %. The demo's smallest series peak at 31 req/min, where the
/// formula's ~5× lands on 155, which a fixed 100 step rounded to 200 = 6.5× (now 160).
pub const ROUNDING_FREE_PEAK: f64 = 200.0;

impl VariantSummary {
    /// Share of legitimate requests rejected.
    pub fn legit_rejected_share(&self) -> f64 {
        ratio(self.legit_rejected, self.legit_requests)
    }
}

/// A group's results.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupSummary {
    /// Which group.
    pub group: Group,
    /// Series in it.
    pub series: usize,
    /// Series with labelled legitimate bursts.
    pub series_with_bursts: usize,
    /// Windows in it.
    pub windows: usize,
    /// Per variant, in [`VARIANTS`] order.
    pub variants: [VariantSummary; 3],
    /// Week-over-week change of trendmaster's raw recommendation (before governance).
    pub recommended_change: ChangeSummary,
    /// Windows in which trendmaster made no recommendation.
    pub skipped: usize,
}

impl GroupSummary {
    /// The summary of `variant`.
    pub fn variant(&self, variant: Variant) -> &VariantSummary {
        &self.variants[variant.index()]
    }
}

/// The benchmark's result.
#[derive(Debug, Clone)]
pub struct Quality {
    /// Every window, by group, series and position.
    pub windows: Vec<WindowResult>,
    /// Per group, NAB first.
    pub groups: Vec<GroupSummary>,
}

impl Quality {
    /// The summary of `group`.
    ///
    /// # Panics
    /// When the run had no series of that group.
    pub fn group(&self, group: Group) -> &GroupSummary {
        self.groups
            .iter()
            .find(|g| g.group == group)
            .unwrap_or_else(|| panic!("no {} series in this run", group.name()))
    }
}

/// Runs the benchmark on `set` with the built-in configuration ([`config`]); series run in
/// parallel, each series' windows in order (each plans against the window before).
pub fn run(set: &QualitySet) -> Quality {
    let config = config();
    let subjects = subjects(set);
    let threads = std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(1)
        .max(1);
    let mut per_subject: Vec<Vec<WindowResult>> = vec![Vec::new(); subjects.len()];
    std::thread::scope(|scope| {
        let config = &config;
        let subjects = &subjects;
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    (t..subjects.len())
                        .step_by(threads)
                        .map(|i| (i, run_subject(config, &subjects[i])))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for handle in handles {
            for (i, results) in handle.join().expect("a benchmark thread panicked") {
                per_subject[i] = results;
            }
        }
    });
    let windows: Vec<WindowResult> = per_subject.into_iter().flatten().collect();
    let groups = [Group::Nab, Group::Demo]
        .into_iter()
        .filter_map(|group| summarise(group, &windows))
        .collect();
    Quality { windows, groups }
}

/// Every window of one series, in order.
fn run_subject(config: &ResolvedConfig, subject: &Subject) -> Vec<WindowResult> {
    let key = subject.key();
    let train_len = (days_secs(TRAIN_DAYS) / i64::from(STEP_SECS)) as usize;
    let mut deployed: Option<u64> = None;
    let mut results = Vec::new();
    for (index, window) in subject.windows().iter().enumerate() {
        let data = subject.data(window);
        let train_window = AnalysisWindow {
            end: window.start + TimeDelta::days(i64::from(TRAIN_DAYS)),
            ..*window
        };
        let train = &data.values[..train_len];
        let (test, test_anomalous) = (&data.values[train_len..], &data.anomalous[train_len..]);

        let v1 = v1_rule(train);
        let v3 = v3_original(
            train,
            &fixed_prime_time(config, &train_window),
            &config.rate,
        );
        let series = TrafficSeries {
            key: key.clone(),
            window: train_window,
            values: train.to_vec(),
        };
        let recommendation = recommend(config, &series);
        let governed = govern(config, &key, recommendation.as_ref().ok(), deployed);
        deployed = governed.map(|(limit, _)| limit);
        let limits = [v1, v3, governed.map(|(limit, _)| limit)];

        let legit: Vec<f64> = test
            .iter()
            .zip(test_anomalous)
            .filter(|(v, a)| !**a && v.is_finite())
            .map(|(v, _)| *v)
            .collect();
        let outcomes =
            limits.map(|limit| limit.map(|l| replay(test, test_anomalous, STEP_SECS, l)));
        let abuse_rejected = limits.map(|limit| limit.and_then(|l| abuse(test, test_anomalous, l)));
        results.push(WindowResult {
            group: subject.group(),
            series: subject.name(),
            index,
            train_start: window.start,
            bursts: data.bursts,
            legit_peak: legit.iter().copied().fold(0.0, f64::max),
            legit_median: median(&legit).unwrap_or(0.0),
            limits,
            recommended: recommendation.as_ref().ok().map(|r| r.requests_per_minute),
            status: governed.map(|(_, status)| status),
            skipped: recommendation.err().map(|s| s.reason),
            outcomes,
            abuse_rejected,
        });
    }
    // A series with a burst in any window counts as bursty in all of them.
    let bursty = results.iter().any(|r| r.bursts);
    for r in &mut results {
        r.bursts = bursty;
    }
    results
}

/// The share of a 10× client's excess that `limit` rejects in the busiest two hours of
/// legitimate traffic of `test` (none when there was no legitimate traffic).
fn abuse(test: &[f64], anomalous: &[bool], limit: u64) -> Option<f64> {
    let span = (ABUSE_SECS / STEP_SECS) as usize;
    if test.len() < span {
        return None;
    }
    let legit: Vec<f64> = test
        .iter()
        .zip(anomalous)
        .map(|(v, a)| if *a || !v.is_finite() { 0.0 } else { *v })
        .collect();
    let mut sum: f64 = legit[..span].iter().sum();
    let (mut best, mut best_sum) = (0, sum);
    for start in 1..=legit.len() - span {
        sum += legit[start + span - 1] - legit[start - 1];
        if sum > best_sum {
            (best, best_sum) = (start, sum);
        }
    }
    if best_sum <= 0.0 {
        return None;
    }
    let without = &legit[best..best + span];
    let with: Vec<f64> = without.iter().map(|v| v * ABUSE_FACTOR).collect();
    let normal = vec![false; span];
    let windows = f64::from(STEP_SECS) / 60.0;
    let excess = without.iter().sum::<f64>() * (ABUSE_FACTOR - 1.0) * windows;
    let rejected = replay(&with, &normal, STEP_SECS, limit).rejected_normal
        - replay(without, &normal, STEP_SECS, limit).rejected_normal;
    Some(rejected / excess)
}

fn summarise(group: Group, all: &[WindowResult]) -> Option<GroupSummary> {
    let windows: Vec<&WindowResult> = all.iter().filter(|w| w.group == group).collect();
    if windows.is_empty() {
        return None;
    }
    let mut series: Vec<&str> = windows.iter().map(|w| w.series.as_str()).collect();
    series.dedup();
    let with_bursts = series
        .iter()
        .filter(|s| windows.iter().any(|w| w.series == **s && w.bursts))
        .count();
    let variants = VARIANTS.map(|variant| summarise_variant(group, variant, &windows));
    let raw: Vec<Option<u64>> = windows.iter().map(|w| w.recommended).collect();
    Some(GroupSummary {
        group,
        series: series.len(),
        series_with_bursts: with_bursts,
        windows: windows.len(),
        variants,
        recommended_change: ChangeSummary::of(&changes(&windows, &raw)),
        skipped: windows.iter().filter(|w| w.recommended.is_none()).count(),
    })
}

fn summarise_variant(group: Group, variant: Variant, windows: &[&WindowResult]) -> VariantSummary {
    let v = variant.index();
    let mut summary = VariantSummary::default();
    let mut headrooms = Vec::new();
    let mut false_series: Vec<&str> = Vec::new();
    let mut abuse = Vec::new();
    let (mut stopped_calm, mut calm) = (0, 0);
    let (mut stopped_calm_big, mut calm_big) = (0, 0);
    for w in windows {
        let Some(outcome) = w.outcomes[v] else {
            continue;
        };
        summary.windows += 1;
        summary.legit_requests += outcome.requests_normal;
        summary.legit_rejected += outcome.rejected_normal;
        summary.throttled_minutes += outcome.minutes_throttled_normal;
        if outcome.rejected_normal > 0.0 {
            summary.windows_false_throttle += 1;
            if !false_series.contains(&w.series.as_str()) {
                false_series.push(&w.series);
            }
        }
        headrooms.extend(w.headroom(variant));
        if let Some(share) = w.abuse_rejected[v] {
            abuse.push(share);
            if !w.bursts {
                calm += 1;
                stopped_calm += usize::from(share >= 0.5);
                if w.legit_peak >= ROUNDING_FREE_PEAK {
                    calm_big += 1;
                    stopped_calm_big += usize::from(share >= 0.5);
                }
            }
        }
    }
    summary.series_false_throttle = false_series.len();
    summary.headroom_min = headrooms.iter().copied().fold(f64::INFINITY, f64::min);
    summary.headroom_median = median(&headrooms).unwrap_or(f64::NAN);
    let limits: Vec<Option<u64>> = windows.iter().map(|w| w.limits[v]).collect();
    summary.change = ChangeSummary::of(&changes(windows, &limits));
    summary.abuse_windows = abuse.len();
    summary.abuse_median = median(&abuse).unwrap_or(f64::NAN);
    summary.abuse_stopped = abuse.iter().filter(|s| **s >= 0.5).count();
    summary.abuse_stopped_without_bursts = (group == Group::Demo).then_some((stopped_calm, calm));
    summary.abuse_stopped_without_bursts_above_rounding =
        (group == Group::Demo).then_some((stopped_calm_big, calm_big));
    summary
}

/// `L_w / L_{w−1} − 1` (negative: a cut) for consecutive windows of the same series
/// (`limits[i]` belongs to `windows[i]`).
fn changes(windows: &[&WindowResult], limits: &[Option<u64>]) -> Vec<f64> {
    let mut changes = Vec::new();
    for i in 1..windows.len() {
        let (before, after) = (windows[i - 1], windows[i]);
        if before.series != after.series || after.index != before.index + 1 {
            continue;
        }
        if let (Some(a), Some(b)) = (limits[i - 1], limits[i])
            && a > 0
        {
            changes.push(b as f64 / a as f64 - 1.0);
        }
    }
    changes
}

fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    Some(if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    })
}

fn ratio(part: f64, whole: f64) -> f64 {
    if whole > 0.0 { part / whole } else { 0.0 }
}

fn percent(share: f64) -> String {
    if share.is_nan() {
        "–".to_owned()
    } else if share > 0.0 && share < 0.0001 {
        "<0.01 %".to_owned()
    } else {
        format!("{:.2} %", 100.0 * share)
    }
}

/// The summary tables, one per group, formulas side by side, with the notes that say how to
/// read them.
pub fn render(quality: &Quality) -> String {
    let mut out = String::new();
    for g in &quality.groups {
        let _ = writeln!(
            out,
            "## {}: {} series{}, {} windows (train {TRAIN_DAYS} d, test {TEST_DAYS} d, every {STEP_DAYS} d)\n",
            g.group.name(),
            g.series,
            if g.group == Group::Demo {
                format!(" ({} with legitimate bursts)", g.series_with_bursts)
            } else {
                String::new()
            },
            g.windows
        );
        let _ = writeln!(
            out,
            "| metric | {} | {} | {} |",
            Variant::V1.name(),
            Variant::V3Original.name(),
            Variant::Trendmaster.name()
        );
        out.push_str("|---|---:|---:|---:|\n");
        let row = |out: &mut String, name: &str, cell: &dyn Fn(&VariantSummary) -> String| {
            let cells: Vec<String> = g.variants.iter().map(cell).collect();
            let _ = writeln!(out, "| {name} | {} |", cells.join(" | "));
        };
        row(&mut out, "legitimate requests rejected", &|s| {
            percent(s.legit_rejected_share())
        });
        row(&mut out, "windows with any false throttle", &|s| {
            format!("{} of {}", s.windows_false_throttle, s.windows)
        });
        row(&mut out, "series with any false throttle", &|s| {
            format!("{} of {}", s.series_false_throttle, g.series)
        });
        row(&mut out, "throttled legitimate minutes", &|s| {
            format!("{:.0}", s.throttled_minutes)
        });
        row(&mut out, "headroom: min / median", &|s| {
            format!("{:.2}× / {:.2}×", s.headroom_min, s.headroom_median)
        });
        row(&mut out, "week-over-week change: median / max", &|s| {
            format!("{} / {}", percent(s.change.median), percent(s.change.max))
        });
        row(
            &mut out,
            "week-over-week change > 15 % (of which cuts)",
            &|s| {
                format!(
                    "{} of {} ({}; {})",
                    s.change.large,
                    s.change.pairs,
                    percent(s.change.large_share()),
                    s.change.large_cuts
                )
            },
        );
        row(
            &mut out,
            "10× client: median share of excess rejected",
            &|s| percent(s.abuse_median),
        );
        row(&mut out, "10× client: windows ≥ 50 % rejected", &|s| {
            format!("{} of {}", s.abuse_stopped, s.abuse_windows)
        });
        if g.group == Group::Demo {
            row(
                &mut out,
                "10× client, series without legitimate bursts: windows ≥ 50 %",
                &|s| match s.abuse_stopped_without_bursts {
                    Some((stopped, of)) => format!("{stopped} of {of}"),
                    None => "–".to_owned(),
                },
            );
            row(
                &mut out,
                "… of those, legitimate peak ≥ 200 req/min",
                &|s| match s.abuse_stopped_without_bursts_above_rounding {
                    Some((stopped, of)) => format!("{stopped} of {of}"),
                    None => "–".to_owned(),
                },
            );
        }
        let raw = &g.recommended_change;
        let _ = writeln!(
            out,
            "\ntrendmaster's raw recommendation (before governance), week over week: median {}, max {}, > 15 % in {} of {} pairs.{}\n",
            percent(raw.median),
            percent(raw.max),
            raw.large,
            raw.pairs,
            if g.skipped > 0 {
                format!(
                    " No recommendation in {} windows (the deployed limit stayed).",
                    g.skipped
                )
            } else {
                String::new()
            }
        );
    }
    let _ = writeln!(
        out,
        "Notes:\n\
         - Limits come from the {TRAIN_DAYS} training days alone; the next {TEST_DAYS} days are replayed through \
         the ratelimit service's one-minute windows ({STEP_SECS} s steps).\n\
         - trendmaster is planned against the limit it emitted for the series the window before \
         (none in the first), so the deadband and bounded cuts act as in a weekly cron; a change \
         governance holds is approved (an operator approving it: planned again with --approve for \
         that series). Stepped cuts are not approved (--approve would release them in full).\n\
         - Legitimate: NAB — every point outside NAB's labelled windows; demo — every point outside \
         the labelled anomalies (labelled legitimate bursts are legitimate).\n\
         - Headroom: limit ÷ the test week's legitimate peak. Week-over-week: |L_w / L_(w-1) − 1| over \
         consecutive windows of a series.\n\
         - 10× client: in the test week's busiest 2 hours of legitimate traffic, a client adds 9× the \
         legitimate rate; share = (rejected with it − rejected without it) ÷ its excess. Where \
         legitimate bursts themselves reach 10× the calm level (peak ÷ median in the window table), \
         no fixed-window limit can tell the client from them.\n\
         - The 14-day NAB files ({}) cannot give a {TRAIN_DAYS} + {TEST_DAYS}-day window and are left out.",
        NAB_TOO_SHORT.join(", ")
    );
    out
}

/// Every window as a table: limits, rejected legitimate share and the 10× client's rejected
/// share per formula.
pub fn render_windows(quality: &Quality) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<5} {:<26} {:>2} {:<10} {:>8} {:>6} | {:>7} {:>7} {:>7} | {:>7} {:<10} | {:>8} {:>8} {:>8} | {:>5} {:>5} {:>5}",
        "GROUP",
        "SERIES",
        "W",
        "TRAIN",
        "PEAK",
        "PK/MED",
        "V1",
        "V3",
        "TM",
        "TM RAW",
        "STATUS",
        "REJ V1",
        "REJ V3",
        "REJ TM",
        "AB V1",
        "AB V3",
        "AB TM"
    );
    for w in &quality.windows {
        let limit = |v: Variant| {
            w.limits[v.index()]
                .map(|l| l.to_string())
                .unwrap_or_else(|| "–".into())
        };
        let rejected = |v: Variant| {
            w.outcomes[v.index()]
                .map(|o| percent(o.normal_rejected_share()))
                .unwrap_or_else(|| "–".into())
        };
        let abuse = |v: Variant| {
            w.abuse_rejected[v.index()]
                .map(|s| format!("{:.0}%", 100.0 * s))
                .unwrap_or_else(|| "–".into())
        };
        let series = if w.bursts {
            format!("{}*", w.series)
        } else {
            w.series.clone()
        };
        let _ = writeln!(
            out,
            "{:<5} {:<26} {:>2} {:<10} {:>8.0} {:>6.1} | {:>7} {:>7} {:>7} | {:>7} {:<10} | {:>8} {:>8} {:>8} | {:>5} {:>5} {:>5}",
            match w.group {
                Group::Nab => "nab",
                Group::Demo => "demo",
            },
            series,
            w.index,
            w.train_start.format("%Y-%m-%d"),
            w.legit_peak,
            ratio(w.legit_peak, w.legit_median),
            limit(Variant::V1),
            limit(Variant::V3Original),
            limit(Variant::Trendmaster),
            w.recommended
                .map(|l| l.to_string())
                .unwrap_or_else(|| "–".into()),
            w.status.map(|s| s.as_str()).unwrap_or("–"),
            rejected(Variant::V1),
            rejected(Variant::V3Original),
            rejected(Variant::Trendmaster),
            abuse(Variant::V1),
            abuse(Variant::V3Original),
            abuse(Variant::Trendmaster),
        );
    }
    out.push_str(
        "\nPEAK: the test week's legitimate peak (req/min); PK/MED: that ÷ its median; V1, V3, TM: the \
         limit in force in the test week (TM: emitted after governance, what the next window is \
         planned against; TM RAW: trendmaster's recommendation; STATUS: governance's); REJ: \
         legitimate requests rejected; AB: share of the 10× client's excess rejected; *: a demo \
         series with labelled legitimate bursts.\n",
    );
    out
}
