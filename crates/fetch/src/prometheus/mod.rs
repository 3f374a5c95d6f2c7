//! The Prometheus / Trickster source.
//!
//! One `query_range` per API path and group of up to `partners_per_query` partners (grouped by
//! partner and path labels) and per chunk of at most `max_points_per_query` grid points, so a
//! fleet costs O(APIs × chunks) queries rather than one per partner × API. A group's series are
//! handed over as soon as its last answer is in, and answers are folded into the series as
//! they arrive: memory holds the groups in flight, not every answer. Start and end are multiples of
//! the step, so Trickster's cache can answer repeats. Grid point `t` (the interval
//! `[t, t + step)`) is read from the evaluation at `t + step`, where `increase(m[step])` covers
//! exactly that interval. Chunks are stitched by grid index, so no point is duplicated or lost;
//! absent samples stay NaN.
//!
//! Paths are matched as substrings (as the Python original did, because real path labels carry
//! prefixes and suffixes) and each returned path is credited to the longest configured API it
//! contains, so `/asset/action/get` does not also count `/asset/action/getplaybackcontext`.
//! An API with a placeholder (`/users/{id}/profile`, see `paths`) matches the paths that fold
//! to it instead.
//!
//! Also here: [`PrometheusSource::discover`] (`partners: auto` / `apis: auto`, from
//! `/api/v1/series`) and [`series_promql`], the same matchers for the rules that watch a limit.

mod cache;
mod client;
mod paths;
mod promql;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;
use tracing::{debug, info, warn};
use trendmaster_types::settings::{PathRule, PrometheusSettings, QueryPreset};
use trendmaster_types::{AnalysisWindow, FetchedSeries, SeriesKey, TrafficSeries};

use crate::error::FetchError;
use crate::options::{FetchOptions, PrometheusOptions};
use crate::outcome::{FetchReport, FetchStats, SeriesFailure};
use client::{Politeness, PrometheusClient, QueryData, RangeSeries, Sample, Transport};
use paths::PathRules;
use promql::QueryContext;

pub use cache::ResponseCache;

/// The PromQL that watches one series' limit, as the query preset reads its traffic (see
/// [`series_promql`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesPromql {
    /// The series' requests per minute over the range.
    pub requests_per_minute: String,
    /// The share of its requests rejected over the range (the preset's `rejected_query`), when
    /// the preset has one.
    pub rejected_share: Option<String>,
}

/// One series' PromQL for rules that watch its limit: the preset's `query` with its `increase`
/// over `range_secs`, for `partner` and `api` alone, summed over the paths it matches (except
/// those of a longer API in `apis` that contains `api`, which the fetcher credits to that API;
/// an API with a placeholder of `path_rules` matches the paths that fold to it), divided by the
/// range in minutes; and the preset's `rejected_query` over the same range and paths.
pub fn series_promql(
    preset: &QueryPreset,
    path_rules: &[PathRule],
    partner: &str,
    api: &str,
    apis: &[String],
    range_secs: u32,
) -> Result<SeriesPromql, String> {
    let path_rules = PathRules::new(path_rules)?;
    let excluded: Vec<&str> = apis
        .iter()
        .map(String::as_str)
        .filter(|other| other.len() > api.len() && other.contains(api))
        .collect();
    let partners = [partner];
    let context = QueryContext {
        preset,
        partners: &partners,
        api,
        excluded_apis: &excluded,
        path_rules: &path_rules,
        step_secs: range_secs,
        window_secs: i64::from(range_secs),
    };
    let minutes = f64::from(range_secs) / 60.0;
    let rejected = preset.rejected_query.trim();
    Ok(SeriesPromql {
        requests_per_minute: format!("sum({}) / {minutes}", context.render(&preset.query)?),
        rejected_share: (!rejected.is_empty())
            .then(|| {
                context
                    .render(rejected)
                    .map(|query| format!("sum({query})"))
            })
            .transpose()?,
    })
}

/// An opened Prometheus source: a configured client and the query preset.
pub struct PrometheusSource {
    client: PrometheusClient,
    preset: QueryPreset,
    path_rules: PathRules,
    preset_name: String,
    max_points: usize,
    partners_per_query: usize,
    concurrency: usize,
    progress: bool,
}

impl std::fmt::Debug for PrometheusSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrometheusSource")
            .field("preset", &self.preset_name)
            .finish_non_exhaustive()
    }
}

/// One query to send, for one group of series (an API and up to `partners_per_query` of its
/// partners).
#[derive(Debug, Clone)]
enum Job {
    /// Grid points `[from, to)` of the group's series.
    Range {
        group: usize,
        from: usize,
        to: usize,
    },
    /// A share of the group's series' requests over the window: cache hits or rejections.
    Ratio { group: usize, kind: RatioKind },
}

impl Job {
    fn group(&self) -> usize {
        match self {
            Job::Range { group, .. } | Job::Ratio { group, .. } => *group,
        }
    }
}

/// The instant queries of a preset, each a share per partner and path over the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RatioKind {
    /// `cache_query`: the share served from cache.
    Cache,
    /// `rejected_query`: the share rejected (HTTP 429).
    Rejected,
}

impl RatioKind {
    /// The preset field, for messages.
    fn field(self) -> &'static str {
        match self {
            Self::Cache => "cache_query",
            Self::Rejected => "rejected_query",
        }
    }
}

/// The series one set of queries asks for: one API, some of its partners.
struct Group<'a> {
    api: &'a str,
    keys: Vec<&'a SeriesKey>,
    range_query: String,
    ratio_query: Option<String>,
    rejected_query: Option<String>,
}

impl Group<'_> {
    fn instant_query(&self, kind: RatioKind) -> Option<&String> {
        match kind {
            RatioKind::Cache => self.ratio_query.as_ref(),
            RatioKind::Rejected => self.rejected_query.as_ref(),
        }
    }
}

/// What came back for one job.
enum Answer {
    Range(Vec<RangeSeries>),
    Ratios(Vec<(BTreeMap<String, String>, f64)>),
}

impl PrometheusSource {
    /// Checks the settings, builds the HTTP client and opens the response cache; a
    /// [`FetchError::Config`] names what is wrong.
    pub fn new(options: &FetchOptions) -> Result<Self, FetchError> {
        let prometheus = &options.prometheus;
        let settings = prometheus
            .settings
            .as_ref()
            .ok_or_else(|| FetchError::Config("no PROMETHEUS_CONFIG settings were given".into()))?;
        let config = |message: String| FetchError::Config(message);
        let url = prometheus.url.trim();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(config(format!(
                "Prometheus URL `{}` must start with http:// or https:// (PROMETHEUS_URL, --prometheus-url)",
                trendmaster_types::redact_url(url)
            )));
        }
        let preset = settings
            .presets
            .get(&settings.preset)
            .cloned()
            .ok_or_else(|| {
                config(format!(
                    "COMMON.PROMETHEUS_CONFIG.preset: no preset `{}` (defined: {})",
                    settings.preset,
                    settings
                        .presets
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
        let transport = transport(prometheus, settings).map_err(config)?;
        let politeness = politeness(settings).map_err(config)?;
        let cache = options.cache_dir.as_deref().map(ResponseCache::new);
        if options.offline && cache.is_none() {
            return Err(config(
                "--offline needs --cache-dir: there is nothing to answer from".into(),
            ));
        }
        let client = PrometheusClient::new(url, transport, politeness, cache, options.offline)
            .map_err(config)?;
        let path_rules = PathRules::new(&settings.path_rules).map_err(config)?;
        Ok(Self {
            client,
            preset,
            path_rules,
            preset_name: settings.preset.clone(),
            max_points: settings.max_points_per_query.clamp(2, 11_000),
            partners_per_query: settings.partners_per_query.max(1),
            concurrency: settings.concurrency.max(1),
            progress: options.progress,
        })
    }

    /// The partner × path label pairs of the preset's metric (with its `selector`) that have
    /// samples in `window` (`/api/v1/series`): with `apis`, only paths containing one of them,
    /// each credited to the longest it contains; without, every path as its own API.
    pub fn discover(
        &self,
        window: &AnalysisWindow,
        apis: Option<&[String]>,
    ) -> Result<Vec<SeriesKey>, FetchError> {
        let preset = &self.preset;
        let mut matchers: Vec<String> = Vec::new();
        let selector = preset.selector.trim();
        if !selector.is_empty() {
            matchers.push(selector.to_string());
        }
        if let Some(apis) = apis {
            let alternatives: Vec<String> =
                apis.iter().map(|a| self.path_rules.pattern(a)).collect();
            matchers.push(format!(
                "{}=~\".*({}).*\"",
                preset.path_label,
                alternatives
                    .join("|")
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
            ));
        }
        let params = [
            (
                "match[]",
                format!("{}{{{}}}", preset.metric, matchers.join(", ")),
            ),
            ("start", window.start.timestamp().to_string()),
            ("end", window.end.timestamp().to_string()),
        ];
        let found: Vec<BTreeMap<String, String>> =
            self.client.call("/api/v1/series", &params).map_err(|e| {
                FetchError::Unavailable(format!("discovering series (/api/v1/series): {e}"))
            })?;
        let listed: Option<Vec<&str>> = apis.map(|apis| apis.iter().map(String::as_str).collect());
        let keys = found
            .iter()
            .filter_map(|labels| {
                let partner = labels.get(&preset.partner_label)?;
                let path = labels.get(&preset.path_label)?;
                let api = match &listed {
                    Some(listed) => owning_api(path, listed, &self.path_rules)?.to_string(),
                    None => self.path_rules.fold(path).into_owned(),
                };
                Some(SeriesKey::new(partner.clone(), api))
            })
            .collect();
        Ok(keys)
    }

    /// Fetches `keys` one group (an API and up to `partners_per_query` partners) at a time and
    /// hands each group's series and failures to `sink` as soon as its last answer is in, so
    /// the caller can analyse and drop them while later queries run: memory holds the groups
    /// in flight, not the fleet. Returns what the queries cost.
    pub fn fetch_each(
        &self,
        keys: &[SeriesKey],
        window: &AnalysisWindow,
        sink: &mut dyn FnMut(FetchReport),
    ) -> Result<FetchStats, FetchError> {
        let mut apis: Vec<&str> = keys.iter().map(|k| k.api.as_str()).collect();
        apis.sort_unstable();
        apis.dedup();

        // Render every query first, so a broken template fails before anything is sent.
        let mut groups = Vec::new();
        let mut jobs = Vec::new();
        for api in &apis {
            let mut api_keys: Vec<&SeriesKey> = keys.iter().filter(|k| k.api == *api).collect();
            api_keys.sort_by(|a, b| a.partner.cmp(&b.partner));
            api_keys.dedup();
            for group_keys in api_keys.chunks(self.partners_per_query) {
                let partners: Vec<&str> = group_keys.iter().map(|k| k.partner.as_str()).collect();
                let context = QueryContext {
                    preset: &self.preset,
                    partners: &partners,
                    api,
                    excluded_apis: &[],
                    path_rules: &self.path_rules,
                    step_secs: window.step_secs,
                    window_secs: (window.end - window.start).num_seconds(),
                };
                let template_error = |field: &str, e: String| {
                    FetchError::Config(format!(
                        "COMMON.PROMETHEUS_CONFIG.presets.{}.{field}: {e}",
                        self.preset_name
                    ))
                };
                let range_query = context
                    .render(&self.preset.query)
                    .map_err(|e| template_error("query", e))?;
                // Instant queries over the whole window, when the preset has them.
                let instant = |kind: RatioKind, template: &str| {
                    if template.trim().is_empty() {
                        return Ok(None);
                    }
                    context
                        .render(template)
                        .map(Some)
                        .map_err(|e| template_error(kind.field(), e))
                };
                let ratio_query = instant(RatioKind::Cache, &self.preset.cache_query)?;
                let rejected_query = instant(RatioKind::Rejected, &self.preset.rejected_query)?;
                let group = groups.len();
                for (from, to) in chunks(window.len(), self.max_points) {
                    jobs.push(Job::Range { group, from, to });
                }
                for (kind, query) in [
                    (RatioKind::Cache, &ratio_query),
                    (RatioKind::Rejected, &rejected_query),
                ] {
                    if query.is_some() {
                        jobs.push(Job::Ratio { group, kind });
                    }
                }
                groups.push(Group {
                    api,
                    keys: group_keys.to_vec(),
                    range_query,
                    ratio_query,
                    rejected_query,
                });
            }
        }
        debug!(
            queries = jobs.len(),
            apis = apis.len(),
            groups = groups.len(),
            "querying Prometheus"
        );

        let mut remaining: Vec<usize> = vec![0; groups.len()];
        for job in &jobs {
            remaining[job.group()] += 1;
        }
        let mut assemblies: Vec<Option<Assembly>> = groups.iter().map(|_| None).collect();
        self.run_jobs(&jobs, &groups, window, &mut |index, answer| {
            let job = &jobs[index];
            let group_index = job.group();
            let group = &groups[group_index];
            let assembly = assemblies[group_index]
                .get_or_insert_with(|| {
                    Assembly::new(&group.keys, group.api, &apis, &self.path_rules, window)
                });
            match (job, answer) {
                (Job::Range { from, to, .. }, Ok(Answer::Range(result))) => {
                    assembly.add_range(&result, *from..*to, &self.preset)
                }
                (Job::Ratio { kind, .. }, Ok(Answer::Ratios(result))) => {
                    assembly.add_ratios(*kind, &result, &self.preset)
                }
                // A failed range query fails the group's series; a failed ratio query only
                // means no measurement (the calculator falls back to its default cache factor,
                // censoring falls back to saturation alone, and the report says so).
                (Job::Range { from, to, .. }, Err(error)) => {
                    assembly.failed.get_or_insert(format!(
                        "not fetched from Prometheus: query_range for grid points {from}..{to}: {error}"
                    ));
                }
                (Job::Ratio { kind: RatioKind::Cache, .. }, Err(error)) => {
                    warn!(api = %group.api, "cache ratio query failed, using the fallback cache factor: {error}");
                }
                (Job::Ratio { kind: RatioKind::Rejected, .. }, Err(error)) => {
                    warn!(api = %group.api, "rejected-requests query failed, judging censored demand by saturation alone: {error}");
                }
                _ => {}
            }
            remaining[group_index] -= 1;
            if remaining[group_index] == 0
                && let Some(assembly) = assemblies[group_index].take()
            {
                sink(assembly.finish());
            }
        });
        let stats = self.client.stats();
        info!(
            queries = stats.queries,
            retries = stats.retries,
            cache_hits = stats.cache_hits,
            bytes = stats.bytes,
            "Prometheus answered"
        );
        Ok(stats)
    }

    /// Runs every job on a pool of `concurrency` threads and hands each answer to `take` on the
    /// calling thread as it arrives. Jobs start in order, so groups finish roughly in order;
    /// the channel holds at most `concurrency` answers, so a slow consumer slows the queries
    /// down instead of piling answers up.
    fn run_jobs(
        &self,
        jobs: &[Job],
        groups: &[Group<'_>],
        window: &AnalysisWindow,
        take: &mut dyn FnMut(usize, Result<Answer, String>),
    ) {
        let progress = self.progress.then(|| {
            let bar = indicatif::ProgressBar::with_draw_target(
                Some(jobs.len() as u64),
                indicatif::ProgressDrawTarget::stderr(),
            );
            bar.set_message("Prometheus queries");
            bar
        });
        let next = AtomicUsize::new(0);
        let (sender, receiver) = mpsc::sync_channel(self.concurrency);
        std::thread::scope(|scope| {
            for _ in 0..self.concurrency.min(jobs.len()) {
                let sender = sender.clone();
                let next = &next;
                scope.spawn(move || {
                    loop {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        let Some(job) = jobs.get(index) else { break };
                        let answer = self.run_job(job, groups, window);
                        if sender.send((index, answer)).is_err() {
                            break;
                        }
                    }
                });
            }
            drop(sender);
            for (index, answer) in receiver {
                take(index, answer);
                if let Some(bar) = &progress {
                    bar.inc(1);
                }
            }
        });
        if let Some(bar) = progress {
            bar.finish_and_clear();
        }
    }

    fn run_job(
        &self,
        job: &Job,
        groups: &[Group<'_>],
        window: &AnalysisWindow,
    ) -> Result<Answer, String> {
        let step = i64::from(window.step_secs);
        match job {
            Job::Range { group, from, to } => {
                // Evaluation at t + step covers grid point t.
                let start = window.start.timestamp() + (*from as i64 + 1) * step;
                let end = window.start.timestamp() + *to as i64 * step;
                let params = [
                    ("query", groups[*group].range_query.clone()),
                    ("start", start.to_string()),
                    ("end", end.to_string()),
                    ("step", step.to_string()),
                ];
                match self.client.call("/api/v1/query_range", &params)? {
                    QueryData::Matrix(result) => Ok(Answer::Range(result)),
                    other => Err(format!(
                        "expected a matrix from query_range, got {}",
                        data_kind(&other)
                    )),
                }
            }
            Job::Ratio { group, kind } => {
                let query = groups[*group]
                    .instant_query(*kind)
                    .cloned()
                    .expect("ratio jobs exist only with their query");
                let params = [
                    ("query", query),
                    ("time", window.end.timestamp().to_string()),
                ];
                match self.client.call("/api/v1/query", &params)? {
                    QueryData::Vector(result) => Ok(Answer::Ratios(
                        result
                            .into_iter()
                            .map(|s| (s.metric, s.value.value))
                            .collect(),
                    )),
                    other => Err(format!(
                        "expected a vector from the {} query, got {}",
                        kind.field(),
                        data_kind(&other)
                    )),
                }
            }
        }
    }
}

fn data_kind(data: &QueryData) -> &'static str {
    match data {
        QueryData::Matrix(_) => "a matrix",
        QueryData::Vector(_) => "a vector",
        QueryData::Scalar(_) => "a scalar",
        QueryData::String(_) => "a string",
    }
}

/// `[from, to)` ranges of at most `max` points covering `0..len`.
fn chunks(len: usize, max: usize) -> Vec<(usize, usize)> {
    (0..len)
        .step_by(max)
        .map(|from| (from, (from + max).min(len)))
        .collect()
}

/// The configured API a returned path belongs to: the longest one it contains.
fn owning_api<'a>(path: &str, apis: &[&'a str], rules: &PathRules) -> Option<&'a str> {
    apis.iter()
        .copied()
        .filter(|api| rules.contains(path, api))
        .max_by_key(|api| api.len())
}

/// Series of one API being put together from chunk answers.
struct Assembly<'a> {
    api: &'a str,
    apis: &'a [&'a str],
    rules: &'a PathRules,
    window: &'a AnalysisWindow,
    /// Per partner: values (requests per step, summed over raw paths) and per raw path totals.
    partners: BTreeMap<&'a str, (Vec<f64>, BTreeMap<String, f64>)>,
    ratios: BTreeMap<(String, String), f64>,
    /// Rejected shares by partner and raw path; `None` until the rejected query answered
    /// (then a path it does not mention had no rejected requests).
    rejected: Option<BTreeMap<(String, String), f64>>,
    /// Why a range query of this group failed: every series of the group then fails.
    failed: Option<String>,
}

impl<'a> Assembly<'a> {
    fn new(
        keys: &[&'a SeriesKey],
        api: &'a str,
        apis: &'a [&'a str],
        rules: &'a PathRules,
        window: &'a AnalysisWindow,
    ) -> Self {
        let partners = keys
            .iter()
            .map(|k| {
                (
                    k.partner.as_str(),
                    (vec![f64::NAN; window.len()], BTreeMap::new()),
                )
            })
            .collect();
        Self {
            api,
            apis,
            rules,
            window,
            partners,
            ratios: BTreeMap::new(),
            rejected: None,
            failed: None,
        }
    }

    /// Adds one chunk's answer. Points outside the chunk's grid range are ignored, so a proxy
    /// or cache that answers more than was asked cannot count a point twice.
    fn add_range(
        &mut self,
        result: &[RangeSeries],
        chunk: std::ops::Range<usize>,
        preset: &QueryPreset,
    ) {
        let step = f64::from(self.window.step_secs);
        let start = self.window.start.timestamp() as f64;
        for RangeSeries {
            metric: labels,
            values,
        } in result
        {
            let (Some(partner), Some(path)) = (
                labels.get(&preset.partner_label),
                labels.get(&preset.path_label),
            ) else {
                continue;
            };
            if owning_api(path, self.apis, self.rules) != Some(self.api) {
                continue;
            }
            let Some((series, totals)) = self.partners.get_mut(partner.as_str()) else {
                continue;
            };
            let total = totals.entry(path.clone()).or_insert(0.0);
            for &Sample { time, value } in values {
                let index = ((time - start) / step).round() as i64 - 1;
                // A rate is never negative: a negative sample is a broken recording rule or
                // proxy, so it counts as missing rather than lowering the peak (NaN fails too).
                if value.is_nan() || value < 0.0 || index < 0 || !chunk.contains(&(index as usize))
                {
                    continue;
                }
                let slot = &mut series[index as usize];
                let sum = if slot.is_nan() { value } else { *slot + value };
                // Two huge samples must not add up to infinity: the point becomes missing.
                *slot = if sum.is_finite() { sum } else { f64::NAN };
                *total += value;
            }
        }
    }

    fn add_ratios(
        &mut self,
        kind: RatioKind,
        result: &[(BTreeMap<String, String>, f64)],
        preset: &QueryPreset,
    ) {
        let ratios = match kind {
            RatioKind::Cache => &mut self.ratios,
            RatioKind::Rejected => self.rejected.get_or_insert_with(BTreeMap::new),
        };
        for (labels, ratio) in result {
            if let (Some(partner), Some(path)) = (
                labels.get(&preset.partner_label),
                labels.get(&preset.path_label),
            ) && ratio.is_finite()
            {
                ratios.insert((partner.clone(), path.clone()), *ratio);
            }
        }
    }

    /// Per-minute series, and each partner's hit ratio and rejected share weighted by its
    /// paths' request totals.
    fn finish(self) -> FetchReport {
        if let Some(reason) = self.failed {
            return FetchReport {
                failures: self
                    .partners
                    .into_keys()
                    .map(|partner| SeriesFailure {
                        key: SeriesKey::new(partner, self.api),
                        reason: reason.clone(),
                    })
                    .collect(),
                ..FetchReport::default()
            };
        }
        let per_minute = 60.0 / f64::from(self.window.step_secs);
        let series = self
            .partners
            .into_iter()
            .map(|(partner, (mut values, totals))| {
                values.iter_mut().for_each(|v| {
                    *v *= per_minute;
                    if !v.is_finite() {
                        *v = f64::NAN;
                    }
                });
                let weighted: Vec<(f64, f64)> = totals
                    .iter()
                    .filter_map(|(path, total)| {
                        self.ratios
                            .get(&(partner.to_string(), path.clone()))
                            .map(|ratio| (*ratio, *total))
                    })
                    .collect();
                let cache_hit_ratio = weighted_mean(&weighted);
                // A path the rejected query answered nothing for had no rejected requests
                // (`increase` of a 429 series that does not exist is no series at all).
                let rejected_share = self.rejected.as_ref().and_then(|rejected| {
                    let weighted: Vec<(f64, f64)> = totals
                        .iter()
                        .map(|(path, total)| {
                            let share = rejected.get(&(partner.to_string(), path.clone()));
                            (share.copied().unwrap_or(0.0), *total)
                        })
                        .collect();
                    weighted_mean(&weighted)
                });
                FetchedSeries {
                    series: TrafficSeries {
                        key: SeriesKey::new(partner, self.api),
                        window: *self.window,
                        values,
                    },
                    cache_hit_ratio,
                    labelled_anomalies: Vec::new(),
                    rejected_share,
                    labelled_bursts: Vec::new(),
                }
            })
            .collect();
        FetchReport {
            series,
            ..FetchReport::default()
        }
    }
}

/// The mean of `(value, weight)` pairs: a single value as it is, several weighted (`None` when
/// there are none, or their weights add up to nothing).
fn weighted_mean(weighted: &[(f64, f64)]) -> Option<f64> {
    let weight: f64 = weighted.iter().map(|(_, w)| w).sum();
    match weighted {
        [] => None,
        [(value, _)] => Some(*value),
        _ if weight > 0.0 => Some(weighted.iter().map(|(v, w)| v * w).sum::<f64>() / weight),
        _ => None,
    }
}

/// Decodes one `query_range` answer for `keys` (all of one API, among the configured `apis`)
/// into their series on `window`'s grid, exactly as a fetch does: every sample outside the grid,
/// negative or not finite is dropped and every value of the result is finite or NaN (missing).
///
/// The entry point of the `prometheus_answer` fuzz target; a fetch goes through the same
/// `Assembly` chunk by chunk.
pub fn decode_range_answer(
    body: &[u8],
    keys: &[SeriesKey],
    apis: &[&str],
    window: &AnalysisWindow,
    preset: &QueryPreset,
) -> Result<FetchReport, String> {
    let Some(api) = keys.first().map(|key| key.api.as_str()) else {
        return Ok(FetchReport::default());
    };
    if let Some(other) = keys.iter().find(|key| key.api != api) {
        return Err(format!("keys of two APIs: {api} and {}", other.api));
    }
    let data = match client::parse::<QueryData>(body)?.0 {
        QueryData::Matrix(result) => result,
        other => return Err(format!("expected a matrix, got {}", data_kind(&other))),
    };
    let keys: Vec<&SeriesKey> = keys.iter().collect();
    let rules = PathRules::default();
    let mut assembly = Assembly::new(&keys, api, apis, &rules, window);
    assembly.add_range(&data, 0..window.len(), preset);
    Ok(assembly.finish())
}

/// Reads token and TLS files; every problem names the setting.
fn transport(
    options: &PrometheusOptions,
    settings: &PrometheusSettings,
) -> Result<Transport, String> {
    let read = |what: &str, path: &str| -> Result<Option<Vec<u8>>, String> {
        if path.trim().is_empty() {
            return Ok(None);
        }
        std::fs::read(Path::new(path.trim()))
            .map(Some)
            .map_err(|e| format!("COMMON.PROMETHEUS_CONFIG.{what}: cannot read {path}: {e}"))
    };
    let token = match &options.token {
        Some(token) => Some(token.clone()),
        None => read("token_file", &settings.token_file)?
            .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_string())
            .filter(|t| !t.is_empty())
            .map(trendmaster_types::Secret::new),
    };
    let basic_auth = (!settings.basic_auth_username.is_empty()).then(|| {
        (
            settings.basic_auth_username.clone(),
            settings.basic_auth_password.clone(),
        )
    });
    if token.is_some() && basic_auth.is_some() {
        return Err(
            "COMMON.PROMETHEUS_CONFIG: both a bearer token and basic auth are set; choose one"
                .into(),
        );
    }
    let identity_pem = match (
        read("client_cert", &settings.client_cert)?,
        read("client_key", &settings.client_key)?,
    ) {
        (Some(mut cert), Some(key)) => {
            cert.push(b'\n');
            cert.extend_from_slice(&key);
            Some(cert)
        }
        (None, None) => None,
        _ => {
            return Err(
                "COMMON.PROMETHEUS_CONFIG: client_cert and client_key must be given together"
                    .into(),
            );
        }
    };
    let mut headers: Vec<(String, String)> = settings
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    headers.extend(options.extra_headers.iter().cloned());
    Ok(Transport {
        timeout: duration("timeout", &settings.timeout)?,
        token,
        basic_auth,
        headers,
        ca_pem: read("ca_file", &settings.ca_file)?,
        identity_pem,
        insecure: settings.insecure_skip_verify,
    })
}

fn politeness(settings: &PrometheusSettings) -> Result<Politeness, String> {
    if !(settings.queries_per_second.is_finite() && settings.queries_per_second > 0.0) {
        return Err(format!(
            "COMMON.PROMETHEUS_CONFIG.queries_per_second: must be a positive number, got {}",
            settings.queries_per_second
        ));
    }
    Ok(Politeness {
        max_retries: settings.max_retries,
        base_delay: duration("retry_base_delay", &settings.retry_base_delay)?,
        max_delay: duration("retry_max_delay", &settings.retry_max_delay)?,
        min_interval: Duration::from_secs_f64(1.0 / settings.queries_per_second),
        breaker_failures: settings.circuit_breaker_failures,
    })
}

fn duration(key: &str, text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|e| {
        format!(
            "COMMON.PROMETHEUS_CONFIG.{key}: `{text}` is not a duration such as 30s or 500ms: {e}"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_reads_one_series_per_minute_without_the_longer_apis_that_contain_its_path() {
        let preset = QueryPreset {
            metric: "istio_requests_total".into(),
            partner_label: "partner".into(),
            path_label: "request_path".into(),
            selector: "reporter=\"destination\"".into(),
            query: "sum by ({{partner_label}}, {{path_label}}) (increase({{metric}}{ {{matchers}} }[{{step}}]))".into(),
            cache_query: String::new(),
            rejected_query: "sum(increase({{metric}}{ {{matchers}}, response_code=\"429\" }[{{window}}])) / sum(increase({{metric}}{ {{matchers}} }[{{window}}]))".into(),
        };
        let apis = ["/a/get".to_string(), "/a/getplayback".into(), "/b".into()];
        let watched = series_promql(&preset, &[], "111", "/a/get", &apis, 300).unwrap();
        assert_eq!(
            watched.requests_per_minute,
            "sum(sum by (partner, request_path) (increase(istio_requests_total{ partner=~\"111\", \
             request_path=~\".*/a/get.*\", request_path!~\".*/a/getplayback.*\", \
             reporter=\"destination\" }[300s]))) / 5"
        );
        let rejected = watched.rejected_share.unwrap();
        assert!(
            rejected.contains("response_code=\"429\" }[300s]"),
            "{rejected}"
        );
        // The longer API excludes nothing of its own.
        let longer = series_promql(&preset, &[], "111", "/a/getplayback", &apis, 60).unwrap();
        assert!(!longer.requests_per_minute.contains("!~"), "{longer:?}");
        assert!(longer.requests_per_minute.ends_with(") / 1"), "{longer:?}");
        let no_rejections = QueryPreset {
            rejected_query: " ".into(),
            ..preset
        };
        let plain = series_promql(&no_rejections, &[], "111", "/b", &apis, 300).unwrap();
        assert_eq!(plain.rejected_share, None);
    }

    #[test]
    fn chunks_cover_the_window_without_overlap() {
        assert_eq!(chunks(20_160, 11_000), [(0, 11_000), (11_000, 20_160)]);
        assert_eq!(chunks(10, 5), [(0, 5), (5, 10)]);
        assert_eq!(chunks(3, 11_000), [(0, 3)]);
        assert!(chunks(0, 10).is_empty());
    }

    #[test]
    fn paths_belong_to_their_longest_configured_api() {
        let apis = [
            "/asset/action/get",
            "/asset/action/getplaybackcontext",
            "/multirequest",
        ];
        assert_eq!(
            owning_api(
                "/api_v3/service/asset/action/getplaybackcontext",
                &apis,
                &PathRules::default()
            ),
            Some("/asset/action/getplaybackcontext")
        );
        assert_eq!(
            owning_api(
                "/api_v3/service/asset/action/get?x=1",
                &apis,
                &PathRules::default()
            ),
            Some("/asset/action/get")
        );
        assert_eq!(owning_api("/other", &apis, &PathRules::default()), None);
    }
}
