//! The Prometheus / Trickster source.
//!
//! One `query_range` per API path (all selected partners at once, grouped by partner and path
//! labels) and per chunk of at most `max_points_per_query` grid points, so a fleet costs
//! O(APIs × chunks) queries rather than one per partner × API. Start and end are multiples of
//! the step, so Trickster's cache can answer repeats. Grid point `t` (the interval
//! `[t, t + step)`) is read from the evaluation at `t + step`, where `increase(m[step])` covers
//! exactly that interval. Chunks are stitched by grid index, so no point is duplicated or lost;
//! absent samples stay NaN.
//!
//! Paths are matched as substrings (as the Python original did, because real path labels carry
//! prefixes and suffixes) and each returned path is credited to the longest configured API it
//! contains, so `/asset/action/get` does not also count `/asset/action/getplaybackcontext`.

mod cache;
mod client;
mod promql;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;
use tracing::{debug, info, warn};
use trendmaster_types::settings::{PrometheusSettings, QueryPreset};
use trendmaster_types::{AnalysisWindow, FetchedSeries, SeriesKey, TrafficSeries};

use crate::{FetchError, FetchOptions, FetchReport, SeriesFailure};
use client::{Politeness, PrometheusClient, QueryData, RangeSeries, Transport, sample_value};
use promql::QueryContext;

pub use cache::ResponseCache;

/// An opened Prometheus source: a configured client and the query preset.
pub struct PrometheusSource {
    client: PrometheusClient,
    preset: QueryPreset,
    preset_name: String,
    max_points: usize,
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

/// One query to send.
#[derive(Debug, Clone)]
enum Job {
    /// Grid points `[from, to)` of one API's series.
    Range { api: usize, from: usize, to: usize },
    /// The cache hit ratio of one API's series over the window.
    CacheRatio { api: usize },
}

/// What came back for one job.
enum Answer {
    Range(Vec<RangeSeries>),
    Ratios(Vec<(BTreeMap<String, String>, f64)>),
}

impl PrometheusSource {
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
                "Prometheus URL `{url}` must start with http:// or https:// (PROMETHEUS_URL, --prometheus-url)"
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
        Ok(Self {
            client,
            preset,
            preset_name: settings.preset.clone(),
            max_points: settings.max_points_per_query.clamp(2, 11_000),
            concurrency: settings.concurrency.max(1),
            progress: options.progress,
        })
    }

    pub fn fetch(
        &self,
        keys: &[SeriesKey],
        window: &AnalysisWindow,
    ) -> Result<FetchReport, FetchError> {
        let apis: Vec<&str> = {
            let mut apis: Vec<&str> = keys.iter().map(|k| k.api.as_str()).collect();
            apis.sort_unstable();
            apis.dedup();
            apis
        };
        let partners_of = |api: &str| -> Vec<&str> {
            let mut partners: Vec<&str> = keys
                .iter()
                .filter(|k| k.api == api)
                .map(|k| k.partner.as_str())
                .collect();
            partners.sort_unstable();
            partners.dedup();
            partners
        };

        // Render every query first, so a broken template fails before anything is sent.
        let mut jobs = Vec::new();
        let mut queries = Vec::new();
        for (index, api) in apis.iter().enumerate() {
            let partners = partners_of(api);
            let context = QueryContext {
                preset: &self.preset,
                partners: &partners,
                api,
                step_secs: window.step_secs,
                window_secs: (window.end - window.start).num_seconds(),
            };
            let template_error = |field: &str, e: String| {
                FetchError::Config(format!(
                    "COMMON.PROMETHEUS_CONFIG.presets.{}.{field}: {e}",
                    self.preset_name
                ))
            };
            let range = context
                .render(&self.preset.query)
                .map_err(|e| template_error("query", e))?;
            let ratio = if self.preset.cache_query.trim().is_empty() {
                None
            } else {
                Some(
                    context
                        .render(&self.preset.cache_query)
                        .map_err(|e| template_error("cache_query", e))?,
                )
            };
            for (from, to) in chunks(window.len(), self.max_points) {
                jobs.push(Job::Range {
                    api: index,
                    from,
                    to,
                });
            }
            if ratio.is_some() {
                jobs.push(Job::CacheRatio { api: index });
            }
            queries.push((range, ratio));
        }
        debug!(
            queries = jobs.len(),
            apis = apis.len(),
            "querying Prometheus"
        );

        let answers = self.run_jobs(&jobs, &queries, window);

        // Assemble per API: every failed job fails all of that API's keys.
        let mut series_by_key: BTreeMap<&SeriesKey, FetchedSeries> = BTreeMap::new();
        let mut failures = Vec::new();
        for (index, api) in apis.iter().enumerate() {
            let api_keys: Vec<&SeriesKey> = keys.iter().filter(|k| k.api == *api).collect();
            let api_answers: Vec<(&Job, &Result<Answer, String>)> = jobs
                .iter()
                .zip(&answers)
                .filter(|(job, _)| job_api(job) == index)
                .collect();
            // A failed range query fails the API's series; a failed cache ratio query only
            // means no measurement (the calculator falls back and the report says so).
            let failed_range = api_answers
                .iter()
                .find(|(job, answer)| matches!(job, Job::Range { .. }) && answer.is_err());
            if let Some((Job::Range { from, to, .. }, Err(error))) = failed_range {
                for key in api_keys {
                    failures.push(SeriesFailure {
                        key: key.clone(),
                        reason: format!("not fetched from Prometheus: query_range for grid points {from}..{to}: {error}"),
                    });
                }
                continue;
            }
            for (_, answer) in api_answers
                .iter()
                .filter(|(job, _)| matches!(job, Job::CacheRatio { .. }))
            {
                if let Err(error) = answer {
                    warn!(api = %api, "cache ratio query failed, using the fallback cache factor: {error}");
                }
            }
            let mut assembled = Assembly::new(&api_keys, api, &apis, window);
            for (job, answer) in api_answers {
                match (job, answer) {
                    (Job::Range { from, to, .. }, Ok(Answer::Range(result))) => {
                        assembled.add_range(result, *from..*to, &self.preset)
                    }
                    (Job::CacheRatio { .. }, Ok(Answer::Ratios(result))) => {
                        assembled.add_ratios(result, &self.preset)
                    }
                    _ => {}
                }
            }
            for series in assembled.finish() {
                let key = keys
                    .iter()
                    .find(|k| **k == series.series.key)
                    .expect("assembled keys are requested keys");
                series_by_key.insert(key, series);
            }
        }
        let series = keys
            .iter()
            .filter_map(|k| series_by_key.remove(k))
            .collect();
        let report = FetchReport {
            series,
            failures,
            stats: self.client.stats(),
        };
        info!(
            queries = report.stats.queries,
            retries = report.stats.retries,
            cache_hits = report.stats.cache_hits,
            bytes = report.stats.bytes,
            "Prometheus answered"
        );
        Ok(report)
    }

    /// Runs every job on a pool of `concurrency` threads; answers are in job order.
    fn run_jobs(
        &self,
        jobs: &[Job],
        queries: &[(String, Option<String>)],
        window: &AnalysisWindow,
    ) -> Vec<Result<Answer, String>> {
        let progress = self.progress.then(|| {
            let bar = indicatif::ProgressBar::with_draw_target(
                Some(jobs.len() as u64),
                indicatif::ProgressDrawTarget::stderr(),
            );
            bar.set_message("Prometheus queries");
            bar
        });
        let next = Mutex::new(0usize);
        let answers: Vec<Mutex<Option<Result<Answer, String>>>> =
            jobs.iter().map(|_| Mutex::new(None)).collect();
        std::thread::scope(|scope| {
            for _ in 0..self.concurrency.min(jobs.len()) {
                scope.spawn(|| {
                    loop {
                        let index = {
                            let mut next = next.lock().expect("job queue");
                            let index = *next;
                            *next += 1;
                            index
                        };
                        let Some(job) = jobs.get(index) else { break };
                        let answer = self.run_job(job, queries, window);
                        *answers[index].lock().expect("answer slot") = Some(answer);
                        if let Some(bar) = &progress {
                            bar.inc(1);
                        }
                    }
                });
            }
        });
        if let Some(bar) = progress {
            bar.finish_and_clear();
        }
        answers
            .into_iter()
            .map(|slot| {
                slot.into_inner()
                    .expect("answer slot")
                    .expect("every job ran")
            })
            .collect()
    }

    fn run_job(
        &self,
        job: &Job,
        queries: &[(String, Option<String>)],
        window: &AnalysisWindow,
    ) -> Result<Answer, String> {
        let step = i64::from(window.step_secs);
        match job {
            Job::Range { api, from, to } => {
                // Evaluation at t + step covers grid point t.
                let start = window.start.timestamp() + (*from as i64 + 1) * step;
                let end = window.start.timestamp() + *to as i64 * step;
                let params = [
                    ("query", queries[*api].0.clone()),
                    ("start", start.to_string()),
                    ("end", end.to_string()),
                    ("step", step.to_string()),
                ];
                match self.client.call("/api/v1/query_range", &params)? {
                    QueryData::Matrix(result) => Ok(Answer::Range(result)),
                    other => Err(format!(
                        "expected a matrix from query_range, got {}",
                        kind(&other)
                    )),
                }
            }
            Job::CacheRatio { api } => {
                let query = queries[*api]
                    .1
                    .clone()
                    .expect("cache jobs exist only with a cache query");
                let params = [
                    ("query", query),
                    ("time", window.end.timestamp().to_string()),
                ];
                match self.client.call("/api/v1/query", &params)? {
                    QueryData::Vector(result) => Ok(Answer::Ratios(
                        result
                            .into_iter()
                            .map(|s| (s.metric, sample_value(&s.value.1)))
                            .collect(),
                    )),
                    other => Err(format!(
                        "expected a vector from the cache query, got {}",
                        kind(&other)
                    )),
                }
            }
        }
    }
}

fn job_api(job: &Job) -> usize {
    match job {
        Job::Range { api, .. } | Job::CacheRatio { api } => *api,
    }
}

fn kind(data: &QueryData) -> &'static str {
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
fn owning_api<'a>(path: &str, apis: &[&'a str]) -> Option<&'a str> {
    apis.iter()
        .copied()
        .filter(|api| path.contains(api))
        .max_by_key(|api| api.len())
}

/// Series of one API being put together from chunk answers.
struct Assembly<'a> {
    api: &'a str,
    apis: &'a [&'a str],
    window: &'a AnalysisWindow,
    /// Per partner: values (requests per step, summed over raw paths) and per raw path totals.
    partners: BTreeMap<&'a str, (Vec<f64>, BTreeMap<String, f64>)>,
    ratios: BTreeMap<(String, String), f64>,
}

impl<'a> Assembly<'a> {
    fn new(
        keys: &[&'a SeriesKey],
        api: &'a str,
        apis: &'a [&'a str],
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
            window,
            partners,
            ratios: BTreeMap::new(),
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
            if owning_api(path, self.apis) != Some(self.api) {
                continue;
            }
            let Some((series, totals)) = self.partners.get_mut(partner.as_str()) else {
                continue;
            };
            let total = totals.entry(path.clone()).or_insert(0.0);
            for (time, text) in values {
                let value = sample_value(text);
                let index = ((time - start) / step).round() as i64 - 1;
                if value.is_nan() || index < 0 || !chunk.contains(&(index as usize)) {
                    continue;
                }
                let slot = &mut series[index as usize];
                *slot = if slot.is_nan() { value } else { *slot + value };
                *total += value;
            }
        }
    }

    fn add_ratios(&mut self, result: &[(BTreeMap<String, String>, f64)], preset: &QueryPreset) {
        for (labels, ratio) in result {
            if let (Some(partner), Some(path)) = (
                labels.get(&preset.partner_label),
                labels.get(&preset.path_label),
            ) && ratio.is_finite()
            {
                self.ratios.insert((partner.clone(), path.clone()), *ratio);
            }
        }
    }

    /// Per-minute series, and each partner's hit ratio weighted by its paths' request totals.
    fn finish(self) -> Vec<FetchedSeries> {
        let per_minute = 60.0 / f64::from(self.window.step_secs);
        self.partners
            .into_iter()
            .map(|(partner, (mut values, totals))| {
                values.iter_mut().for_each(|v| *v *= per_minute);
                let weighted: Vec<(f64, f64)> = totals
                    .iter()
                    .filter_map(|(path, total)| {
                        self.ratios
                            .get(&(partner.to_string(), path.clone()))
                            .map(|ratio| (*ratio, *total))
                    })
                    .collect();
                let weight: f64 = weighted.iter().map(|(_, w)| w).sum();
                let cache_hit_ratio = match weighted.as_slice() {
                    [] => None,
                    [(ratio, _)] => Some(*ratio),
                    _ if weight > 0.0 => {
                        Some(weighted.iter().map(|(r, w)| r * w).sum::<f64>() / weight)
                    }
                    _ => None,
                };
                FetchedSeries {
                    series: TrafficSeries {
                        key: SeriesKey::new(partner, self.api),
                        window: *self.window,
                        values,
                    },
                    cache_hit_ratio,
                    labelled_anomalies: Vec::new(),
                }
            })
            .collect()
    }
}

/// Reads token and TLS files; every problem names the setting.
fn transport(
    options: &crate::PrometheusOptions,
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
            owning_api("/api_v3/service/asset/action/getplaybackcontext", &apis),
            Some("/asset/action/getplaybackcontext")
        );
        assert_eq!(
            owning_api("/api_v3/service/asset/action/get?x=1", &apis),
            Some("/asset/action/get")
        );
        assert_eq!(owning_api("/other", &apis), None);
    }
}
