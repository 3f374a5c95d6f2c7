//! The HTTP side of the Prometheus source: one client shared by the worker threads, gentle by
//! construction — a queries-per-second pace, retries with exponential backoff and full jitter
//! (honouring `Retry-After`) for what may pass (connection errors, timeouts, 5xx, 429), no retry
//! for what will not (other 4xx), and a circuit breaker that stops querying after N consecutive
//! failed queries. Prometheus' own `errorType`/`error` and `warnings` reach the user verbatim.

use rand::{RngExt, SeedableRng};
use reqwest::StatusCode;
use reqwest::blocking::{Client, Response};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use tracing::{debug, warn};
use trendmaster_types::{Secret, one_line};

use super::cache::{self, ResponseCache};
use crate::outcome::FetchStats;

/// Above this many bytes of URL-encoded parameters, queries are POSTed (long partner regexes
/// would exceed proxies' URL limits); below, GET keeps Trickster's cache effective.
const MAX_GET_PARAMS: usize = 6_000;

/// Retry, backoff and pacing knobs, already parsed.
#[derive(Debug, Clone)]
pub struct Politeness {
    pub max_retries: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    pub min_interval: Duration,
    pub breaker_failures: u32,
}

/// Transport settings, already read from files.
pub struct Transport {
    pub timeout: Duration,
    pub token: Option<Secret>,
    pub basic_auth: Option<(String, Secret)>,
    pub headers: Vec<(String, String)>,
    pub ca_pem: Option<Vec<u8>>,
    pub identity_pem: Option<Vec<u8>>,
    pub insecure: bool,
}

pub struct PrometheusClient {
    http: Client,
    base_url: String,
    basic_auth: Option<(String, Secret)>,
    politeness: Politeness,
    timeout: Duration,
    next_slot: Mutex<Instant>,
    consecutive_failures: AtomicU32,
    cache: Option<ResponseCache>,
    offline: bool,
    stats: Mutex<FetchStats>,
    /// Every credential this client sends (token, passwords), scrubbed from its messages: a
    /// proxy that echoes the request's headers in its error page must not put them in our logs.
    secrets: Vec<Secret>,
}

/// The JSON envelope of every Prometheus API answer.
#[derive(Debug, Deserialize)]
pub struct Envelope<T = QueryData> {
    pub status: String,
    #[serde(default = "none")]
    pub data: Option<T>,
    #[serde(rename = "errorType", default)]
    pub error_type: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub warnings: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
pub enum QueryData {
    Matrix(Vec<RangeSeries>),
    Vector(Vec<InstantSample>),
    Scalar(serde::de::IgnoredAny),
    String(serde::de::IgnoredAny),
}

#[derive(Debug, Deserialize)]
pub struct RangeSeries {
    pub metric: BTreeMap<String, String>,
    #[serde(default)]
    pub values: Vec<Sample>,
}

#[derive(Debug, Deserialize)]
pub struct InstantSample {
    pub metric: BTreeMap<String, String>,
    pub value: Sample,
}

/// One `[<unix seconds>, "<value>"]` pair, the value parsed as it is read (see [`sample_value`]).
///
/// Why not `(f64, String)`: a fleet's answer holds tens of millions of samples, and a `String`
/// per sample was one allocation each (the largest cost of parsing in the profile).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub time: f64,
    pub value: f64,
}

impl<'de> Deserialize<'de> for Sample {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SampleVisitor;
        /// The value string, parsed without keeping it.
        struct Value(f64);
        impl<'de> Deserialize<'de> for Value {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct ValueVisitor;
                impl serde::de::Visitor<'_> for ValueVisitor {
                    type Value = Value;
                    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                        f.write_str("a sample value as a string")
                    }
                    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Value, E> {
                        Ok(Value(sample_value(text)))
                    }
                }
                d.deserialize_str(ValueVisitor)
            }
        }
        impl<'de> serde::de::Visitor<'de> for SampleVisitor {
            type Value = Sample;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a [time, \"value\"] pair")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Sample, A::Error> {
                let missing = || serde::de::Error::invalid_length(0, &"a [time, \"value\"] pair");
                let time: f64 = seq.next_element()?.ok_or_else(missing)?;
                let Value(value) = seq.next_element()?.ok_or_else(missing)?;
                if seq.next_element::<serde::de::IgnoredAny>()?.is_some() {
                    return Err(serde::de::Error::invalid_length(
                        3,
                        &"a [time, \"value\"] pair",
                    ));
                }
                Ok(Sample { time, value })
            }
        }
        deserializer.deserialize_seq(SampleVisitor)
    }
}

/// One attempt's outcome when it did not succeed.
enum Failure {
    /// Worth another try, after at least `retry_after` if the server said so.
    Transient {
        message: String,
        retry_after: Option<Duration>,
    },
    /// Will fail the same way again.
    Permanent(String),
}

impl PrometheusClient {
    pub fn new(
        base_url: &str,
        transport: Transport,
        politeness: Politeness,
        cache: Option<ResponseCache>,
        offline: bool,
    ) -> Result<Self, String> {
        let mut headers = HeaderMap::new();
        for (name, value) in &transport.headers {
            let name = HeaderName::from_bytes(name.trim().as_bytes())
                .map_err(|_| format!("header `{name}` is not a valid HTTP header name"))?;
            let value = HeaderValue::from_str(value.trim())
                .map_err(|_| format!("header `{name}` has a value that is not valid in HTTP"))?;
            headers.insert(name, value);
        }
        if let Some(token) = &transport.token {
            let mut value =
                HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| {
                    "the bearer token contains characters not allowed in HTTP headers".to_string()
                })?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        let mut builder = Client::builder()
            .timeout(transport.timeout)
            .connect_timeout(transport.timeout.min(Duration::from_secs(10)))
            .default_headers(headers)
            .user_agent(concat!("trendmaster/", env!("CARGO_PKG_VERSION")))
            .danger_accept_invalid_certs(transport.insecure);
        if let Some(pem) = &transport.ca_pem {
            for cert in reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| format!("CA file: not a PEM certificate bundle: {e}"))?
            {
                builder = builder.add_root_certificate(cert);
            }
        }
        if let Some(pem) = &transport.identity_pem {
            let identity = reqwest::Identity::from_pem(pem)
                .map_err(|e| format!("client certificate and key: not usable PEM: {e}"))?;
            builder = builder.identity(identity);
        }
        let http = builder
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {}", chain(&e)))?;
        let url_password = trendmaster_types::url_password(base_url).map(Secret::new);
        let secrets = [
            transport.token.clone(),
            transport.basic_auth.as_ref().map(|(_, p)| p.clone()),
            url_password,
        ]
        .into_iter()
        .flatten()
        .filter(|secret| !secret.is_empty())
        .collect();
        Ok(Self {
            secrets,
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
            basic_auth: transport.basic_auth,
            politeness,
            timeout: transport.timeout,
            next_slot: Mutex::new(Instant::now()),
            consecutive_failures: AtomicU32::new(0),
            cache,
            offline,
            stats: Mutex::new(FetchStats::default()),
        })
    }

    pub fn stats(&self) -> FetchStats {
        *self.stats.lock().expect("stats lock")
    }

    /// Calls `endpoint` (e.g. `/api/v1/query_range`) with `params` and returns its data, with
    /// retries, pacing, the circuit breaker and the response cache.
    pub fn call<T: DeserializeOwned>(
        &self,
        endpoint: &str,
        params: &[(&str, String)],
    ) -> Result<T, String> {
        self.call_unscrubbed(endpoint, params)
            .map_err(|message| self.scrub(message))
    }

    /// `message` with every credential of this client replaced by [`Secret::REDACTED`].
    fn scrub(&self, mut message: String) -> String {
        for secret in &self.secrets {
            message = message.replace(secret.expose(), Secret::REDACTED);
        }
        message
    }

    fn call_unscrubbed<T: DeserializeOwned>(
        &self,
        endpoint: &str,
        params: &[(&str, String)],
    ) -> Result<T, String> {
        let key = cache::key(&self.base_url, endpoint, params);
        if let Some(body) = self.cache.as_ref().and_then(|c| c.get(&key)) {
            self.count(|s| {
                s.cache_hits += 1;
                s.bytes += body.len() as u64;
            });
            let started = Instant::now();
            let parsed = parse(&body).map(|(data, _)| data);
            self.count(|s| s.parse_millis += millis(started));
            return parsed;
        }
        if self.offline {
            return Err(
                "not in the response cache, and --offline forbids asking Prometheus".into(),
            );
        }
        let limit = self.politeness.breaker_failures.max(1);
        if self.consecutive_failures.load(Ordering::SeqCst) >= limit {
            return Err(format!(
                "not sent: circuit breaker open after {limit} consecutive failed queries"
            ));
        }

        let mut last = String::new();
        for attempt in 0..=self.politeness.max_retries {
            self.pace();
            self.count(|s| {
                s.queries += 1;
                s.retries += usize::from(attempt > 0);
            });
            let started = Instant::now();
            let attempt_result = self.attempt(endpoint, params);
            self.count(|s| s.request_millis += millis(started));
            match attempt_result {
                Ok(body) => {
                    self.count(|s| s.bytes += body.len() as u64);
                    let started = Instant::now();
                    let parsed = parse(&body);
                    self.count(|s| s.parse_millis += millis(started));
                    match parsed {
                        Ok((data, warnings)) => {
                            for warning in warnings {
                                let warning = self.scrub(one_line(&warning));
                                warn!(endpoint, "Prometheus warning: {warning}");
                            }
                            self.consecutive_failures.store(0, Ordering::SeqCst);
                            if let Some(cache) = &self.cache
                                && let Err(message) = cache.put(&key, &body)
                            {
                                warn!("response cache: {message}");
                            }
                            return Ok(data);
                        }
                        Err(message) => {
                            self.consecutive_failures.fetch_add(1, Ordering::SeqCst);
                            return Err(message);
                        }
                    }
                }
                Err(Failure::Permanent(message)) => {
                    self.consecutive_failures.fetch_add(1, Ordering::SeqCst);
                    return Err(message);
                }
                Err(Failure::Transient {
                    message,
                    retry_after,
                }) => {
                    // Scrubbed here already: it is logged before `call` returns it.
                    let message = self.scrub(message);
                    if attempt < self.politeness.max_retries {
                        let delay = self.backoff(attempt, retry_after);
                        debug!(endpoint, attempt, ?delay, "retrying after: {message}");
                        std::thread::sleep(delay);
                    }
                    last = message;
                }
            }
        }
        self.consecutive_failures.fetch_add(1, Ordering::SeqCst);
        Err(format!(
            "{last} (gave up after {} attempts)",
            self.politeness.max_retries + 1
        ))
    }

    fn count(&self, update: impl FnOnce(&mut FetchStats)) {
        update(&mut self.stats.lock().expect("stats lock"));
    }

    /// Waits for this query's slot so that at most `queries_per_second` start per second.
    fn pace(&self) {
        let slot = {
            let mut next = self.next_slot.lock().expect("pace lock");
            let slot = (*next).max(Instant::now());
            *next = slot + self.politeness.min_interval;
            slot
        };
        let now = Instant::now();
        if slot > now {
            std::thread::sleep(slot - now);
        }
    }

    /// Full-jitter exponential backoff, or what `Retry-After` asked for (capped by the maximum).
    fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let p = &self.politeness;
        if let Some(wait) = retry_after {
            return wait.min(p.max_delay);
        }
        let ceiling = p
            .base_delay
            .saturating_mul(1u32 << attempt.min(16))
            .min(p.max_delay);
        // Jitter only has to decorrelate clients, not be unpredictable.
        let mut rng = rand_pcg::Pcg32::seed_from_u64(nanos_now() ^ u64::from(attempt));
        ceiling.mul_f64(rng.random::<f64>())
    }

    fn attempt(&self, endpoint: &str, params: &[(&str, String)]) -> Result<Vec<u8>, Failure> {
        let url = format!("{}{endpoint}", self.base_url);
        let encoded: usize = params.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
        let mut request = if encoded > MAX_GET_PARAMS {
            self.http.post(&url).form(params)
        } else {
            self.http.get(&url).query(params)
        };
        if let Some((user, password)) = &self.basic_auth {
            request = request.basic_auth(user, Some(password.expose()));
        }
        let response = request.send().map_err(|e| self.transport_failure(&e))?;
        let status = response.status();
        let retry_after = retry_after(&response);
        let body = response
            .bytes()
            .map_err(|e| Failure::Transient {
                message: format!("response body incomplete: {}", chain(&e)),
                retry_after: None,
            })?
            .to_vec();
        if status.is_success() {
            return Ok(body);
        }
        let message = format!("HTTP {}{}", status.as_u16(), error_detail(&body));
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            Err(Failure::Transient {
                message,
                retry_after,
            })
        } else {
            Err(Failure::Permanent(message))
        }
    }

    fn transport_failure(&self, error: &reqwest::Error) -> Failure {
        let message = if error.is_timeout() {
            format!(
                "no answer within {}",
                humantime::format_duration(self.timeout)
            )
        } else if error.is_connect() {
            // The base URL, not the request's (a page of PromQL), with any password redacted.
            format!(
                "cannot connect to {}: {}",
                trendmaster_types::redact_url(&self.base_url),
                chain(error)
            )
        } else {
            chain(error)
        };
        Failure::Transient {
            message,
            retry_after: None,
        }
    }
}

fn nanos_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// A reqwest error and its causes on one line, without the URL (it may carry credentials).
fn chain(error: &reqwest::Error) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    let text = parts.join(": ");
    match error.url() {
        Some(url) => text.replace(url.as_str(), "<url>"),
        None => text,
    }
}

fn millis(since: Instant) -> u64 {
    since.elapsed().as_millis() as u64
}

/// `Retry-After` as seconds or an HTTP date.
fn retry_after(response: &Response) -> Option<Duration> {
    let value = response.headers().get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = when.timestamp() - chrono::Utc::now().timestamp();
    Some(Duration::from_secs(wait.max(0) as u64))
}

/// `: <errorType>: <error>` from a Prometheus error body, or a short excerpt of anything else.
fn error_detail(body: &[u8]) -> String {
    if let Ok(envelope) = serde_json::from_slice::<Envelope<serde::de::IgnoredAny>>(body)
        && let Some(error) = envelope.error
    {
        let detail = match envelope.error_type {
            Some(kind) => format!(": {kind}: {error}"),
            None => format!(": {error}"),
        };
        // PromQL parse errors can span lines; every message we print is one line.
        return one_line(&detail);
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        String::new()
    } else {
        let excerpt: String = text.chars().take(200).collect();
        format!(": {}", one_line(&excerpt))
    }
}

/// The data and warnings of a successful answer; Prometheus' error verbatim otherwise.
pub(super) fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<(T, Vec<String>), String> {
    // serde's message quotes the offending input, which may hold line breaks.
    let envelope: Envelope<T> = serde_json::from_slice(body).map_err(|e| {
        format!(
            "the answer is not Prometheus API JSON ({}; {} bytes)",
            one_line(&e.to_string()),
            body.len()
        )
    })?;
    if envelope.status != "success" {
        return Err(format!(
            "Prometheus answered {}{}",
            one_line(&envelope.status),
            error_detail(body)
        ));
    }
    let data = envelope
        .data
        .ok_or_else(|| "the answer has status success but no data".to_string())?;
    Ok((data, envelope.warnings))
}

/// A sample value as Prometheus writes it (`"12.5"`, `"NaN"`, `"+Inf"`); non-finite is missing.
pub fn sample_value(text: &str) -> f64 {
    match text.parse::<f64>() {
        Ok(value) if value.is_finite() => value,
        _ => f64::NAN,
    }
}

/// `#[serde(default)]` for a generic `Option`, which serde cannot derive without `T: Default`.
fn none<T>() -> Option<T> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_must_be_time_and_value_pairs() {
        let parse_sample = |json: &str| serde_json::from_str::<Sample>(json);
        assert_eq!(
            parse_sample(r#"[1700000060.5, "12.25"]"#).unwrap(),
            Sample {
                time: 1_700_000_060.5,
                value: 12.25
            }
        );
        assert!(parse_sample(r#"[1, "+Inf"]"#).unwrap().value.is_nan());
        assert!(parse_sample(r#"[1, "x"]"#).unwrap().value.is_nan());
        for bad in [r#"[1]"#, r#"[1, "2", 3]"#, r#"[1, 2]"#, r#""1""#, "[]"] {
            assert!(parse_sample(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_matrices_vectors_and_errors() {
        let body = br#"{"status":"success","warnings":["w1"],"data":{"resultType":"matrix","result":[{"metric":{"partner":"111"},"values":[[1700000060,"5"],[1700000120,"NaN"]]}]}}"#;
        let (data, warnings) = parse::<QueryData>(body).unwrap();
        assert_eq!(warnings, ["w1"]);
        let QueryData::Matrix(series) = data else {
            panic!("matrix expected")
        };
        assert_eq!(series[0].metric["partner"], "111");
        assert_eq!(
            series[0].values[0],
            Sample {
                time: 1_700_000_060.0,
                value: 5.0
            }
        );
        assert!(series[0].values[1].value.is_nan());
        assert!(sample_value("+Inf").is_nan());
        assert_eq!(sample_value("0.25"), 0.25);

        let body = br#"{"status":"error","errorType":"bad_data","error":"parse error at char 5"}"#;
        assert_eq!(
            parse::<QueryData>(body).unwrap_err(),
            "Prometheus answered error: bad_data: parse error at char 5"
        );
        let error = parse::<QueryData>(b"<html>").unwrap_err();
        assert!(
            error.starts_with("the answer is not Prometheus API JSON"),
            "{error}"
        );
        assert!(
            parse::<QueryData>(br#"{"status":"success"}"#)
                .unwrap_err()
                .contains("no data")
        );
    }

    #[test]
    fn error_details_prefer_prometheus_fields() {
        assert_eq!(
            error_detail(
                br#"{"status":"error","errorType":"execution","error":"query timed out"}"#
            ),
            ": execution: query timed out"
        );
        assert_eq!(
            error_detail(b"upstream\nconnect error"),
            ": upstream connect error"
        );
        assert_eq!(error_detail(b""), "");
    }
}
