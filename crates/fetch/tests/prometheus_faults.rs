//! The Prometheus source against a small local misbehaving HTTP server: every fault ends in a
//! clear message or a successful retry, never a panic or a hang.

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use trendmaster_fetch::{FetchOptions, FetchReport, PrometheusOptions, Source};
use trendmaster_testkit::fake_prometheus::{FakePrometheus, Reply};
use trendmaster_types::settings::PrometheusSettings;
use trendmaster_types::{AnalysisWindow, SeriesKey, SourceKind};

fn window() -> AnalysisWindow {
    AnalysisWindow::ending_at(
        Utc.with_ymd_and_hms(2026, 11, 15, 0, 0, 0).unwrap(),
        1,
        3600,
    )
}

/// The shipped defaults (config/config.yaml), made quick for tests.
fn settings() -> PrometheusSettings {
    let text =
        std::fs::read_to_string(trendmaster_testkit::workspace_dir().join("config/config.yaml"))
            .unwrap();
    let config: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let mut settings: PrometheusSettings =
        serde_yaml::from_value(config["COMMON"]["PROMETHEUS_CONFIG"].clone()).unwrap();
    settings.timeout = "500ms".into();
    settings.retry_base_delay = "10ms".into();
    settings.retry_max_delay = "2s".into();
    settings.max_retries = 2;
    settings.concurrency = 1;
    settings.queries_per_second = 1000.0;
    settings
}

fn open(url: &str, settings: PrometheusSettings) -> Source {
    let options = FetchOptions {
        prometheus: PrometheusOptions {
            url: url.to_string(),
            settings: Some(settings),
            ..PrometheusOptions::default()
        },
        ..FetchOptions::default()
    };
    Source::open(&SourceKind::Prometheus, &options).unwrap()
}

fn fetch_with(url: &str, settings: PrometheusSettings, keys: &[SeriesKey]) -> FetchReport {
    open(url, settings).fetch(keys, &window()).unwrap()
}

fn keys() -> Vec<SeriesKey> {
    vec![
        SeriesKey::new("111", "/api/a"),
        SeriesKey::new("222", "/api/a"),
    ]
}

fn no_cache(mut settings: PrometheusSettings) -> PrometheusSettings {
    for preset in settings.presets.values_mut() {
        preset.cache_query.clear();
    }
    settings
}

/// A matrix answer: partner 111 with value 60 (per hour step: 1 req/min) at every evaluation.
fn matrix() -> String {
    let w = window();
    let values: Vec<String> = (1..=w.len())
        .map(|i| format!("[{},\"60\"]", w.start.timestamp() + i as i64 * 3600))
        .collect();
    format!(
        r#"{{"status":"success","data":{{"resultType":"matrix","result":[{{"metric":{{"partner":"111","path":"/api/a"}},"values":[{}]}}]}}}}"#,
        values.join(",")
    )
}

#[test]
fn connection_refused_fails_every_series_with_a_clear_reason() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let report = fetch_with(
        &format!("http://127.0.0.1:{port}"),
        no_cache(settings()),
        &keys(),
    );
    assert!(report.series.is_empty());
    assert_eq!(report.failures.len(), 2);
    let reason = &report.failures[0].reason;
    assert!(reason.contains("cannot connect"), "{reason}");
    assert!(reason.contains("gave up after 3 attempts"), "{reason}");
    assert_eq!(report.stats.queries, 3);
    assert_eq!(report.stats.retries, 2);
}

#[test]
fn a_slow_answer_times_out_and_is_retried() {
    let server = FakePrometheus::start(vec![Reply::Slow(
        Duration::from_millis(1500),
        200,
        matrix(),
    )]);
    let started = Instant::now();
    let report = fetch_with(&server.url(), no_cache(settings()), &keys());
    assert_eq!(report.failures.len(), 2);
    assert!(
        report.failures[0].reason.contains("no answer within 500ms"),
        "{}",
        report.failures[0].reason
    );
    assert_eq!(report.stats.queries, 3);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "timeouts bound the wait"
    );
}

#[test]
fn a_server_error_then_success_is_retried_transparently() {
    let server = FakePrometheus::start(vec![
        Reply::Send(
            500,
            vec![],
            r#"{"status":"error","errorType":"internal","error":"boom"}"#.into(),
        ),
        Reply::Send(200, vec![], matrix()),
    ]);
    let report = fetch_with(&server.url(), no_cache(settings()), &keys());
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!(report.stats.retries, 1);
    let partner_111 = &report.series[0];
    assert_eq!(partner_111.series.key, SeriesKey::new("111", "/api/a"));
    // 60 requests per one-hour step is 1 request per minute, at every grid point.
    assert!(
        partner_111.series.values.iter().all(|v| *v == 1.0),
        "{:?}",
        partner_111.series.values
    );
    // Partner 222 had no samples at all: a series of gaps, not a failure.
    assert!(report.series[1].series.values.iter().all(|v| v.is_nan()));
    assert_eq!(report.stats.missing_points, window().len());
}

#[test]
fn too_many_requests_waits_for_retry_after() {
    let server = FakePrometheus::start(vec![
        Reply::Send(429, vec![("Retry-After", "1".into())], "slow down".into()),
        Reply::Send(200, vec![], matrix()),
    ]);
    let started = Instant::now();
    let report = fetch_with(&server.url(), no_cache(settings()), &keys());
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After honoured"
    );
    assert_eq!(report.stats.retries, 1);
}

#[test]
fn invalid_json_and_prometheus_errors_are_reported_verbatim_without_retry() {
    let server = FakePrometheus::start(vec![Reply::Send(
        200,
        vec![],
        "<html>proxy error</html>".into(),
    )]);
    let report = fetch_with(&server.url(), no_cache(settings()), &keys());
    assert!(
        report.failures[0]
            .reason
            .contains("not Prometheus API JSON"),
        "{}",
        report.failures[0].reason
    );
    assert_eq!(report.stats.queries, 1, "a malformed answer is not retried");

    let server = FakePrometheus::start(vec![Reply::Send(
        400,
        vec![],
        r#"{"status":"error","errorType":"bad_data","error":"1:23: parse error: unexpected character"}"#.into(),
    )]);
    let report = fetch_with(&server.url(), no_cache(settings()), &keys());
    let reason = &report.failures[0].reason;
    assert!(
        reason.contains("HTTP 400: bad_data: 1:23: parse error: unexpected character"),
        "{reason}"
    );
    assert_eq!(report.stats.queries, 1, "4xx is not retried");
}

#[test]
fn a_truncated_body_is_retried_then_reported() {
    let body = matrix();
    let server = FakePrometheus::start(vec![
        Reply::Truncated(body.len(), body[..body.len() / 2].to_string()),
        Reply::Send(200, vec![], body.clone()),
    ]);
    let report = fetch_with(&server.url(), no_cache(settings()), &keys());
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!(report.stats.retries, 1);

    let server = FakePrometheus::start(vec![Reply::Truncated(body.len(), body[..10].to_string())]);
    let report = fetch_with(&server.url(), no_cache(settings()), &keys());
    assert!(
        report.failures[0]
            .reason
            .contains("gave up after 3 attempts"),
        "{}",
        report.failures[0].reason
    );
}

#[test]
fn the_circuit_breaker_stops_querying_and_names_unfetched_series() {
    let server = FakePrometheus::start(vec![Reply::Send(503, vec![], "unavailable".into())]);
    let mut settings = no_cache(settings());
    settings.max_retries = 0;
    settings.circuit_breaker_failures = 3;
    let keys: Vec<SeriesKey> = (0..10)
        .map(|i| SeriesKey::new("111", format!("/api/{i}")))
        .collect();
    let report = fetch_with(&server.url(), settings, &keys);
    assert_eq!(
        report.failures.len(),
        10,
        "every series is reported as not fetched"
    );
    assert_eq!(
        server.requests().len(),
        3,
        "nothing is sent once the breaker is open"
    );
    let open = report
        .failures
        .iter()
        .filter(|f| f.reason.contains("circuit breaker open after 3"))
        .count();
    assert_eq!(open, 7);
}

#[test]
fn queries_are_grouped_per_api_chunked_and_step_aligned() {
    let server = FakePrometheus::start(vec![Reply::Send(200, vec![], matrix())]);
    let mut settings = settings();
    settings.max_points_per_query = 10; // 24 points → chunks of 10, 10 and 4
    let keys = vec![
        SeriesKey::new("111", "/api/a"),
        SeriesKey::new("222", "/api/a"),
        SeriesKey::new("111", "/api/b"),
    ];
    let report = fetch_with(&server.url(), settings, &keys);
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    let requests = server.requests();
    let ranges: Vec<&String> = requests
        .iter()
        .filter(|r| r.contains("query_range"))
        .collect();
    assert_eq!(
        ranges.len(),
        2 * 3,
        "one query per API per chunk: {requests:#?}"
    );
    assert_eq!(
        requests.len(),
        2 * 3 + 2,
        "plus one cache ratio query per API"
    );
    let start = window().start.timestamp();
    let first_chunk = format!("start={}&end={}&step=3600", start + 3600, start + 10 * 3600);
    assert!(
        ranges.iter().any(|r| r.contains(&first_chunk)),
        "{ranges:#?}"
    );
    // Partners of one API share a query.
    assert!(
        ranges.iter().any(|r| r.contains("111%7C222")),
        "{ranges:#?}"
    );
    // The stitched series has every point exactly once.
    assert!(report.series[0].series.values.iter().all(|v| *v == 1.0));
    // The fake answers the cache query with a matrix: that is no measurement, not a failure.
    assert!(report.series.iter().all(|s| s.cache_hit_ratio.is_none()));
}

#[test]
fn a_fleet_streams_by_partner_group_with_at_most_concurrency_queries_in_flight() {
    // Every answer takes 40 ms, so queries overlap as far as the client lets them.
    let server = FakePrometheus::start(vec![Reply::Slow(Duration::from_millis(40), 200, matrix())]);
    let mut settings = settings();
    settings.concurrency = 3;
    settings.partners_per_query = 2;
    settings.max_points_per_query = 10; // 24 points → 3 chunks
    let apis = ["/api/a", "/api/b", "/api/c", "/api/d"];
    let keys: Vec<SeriesKey> = ["111", "222", "333"]
        .iter()
        .flat_map(|p| apis.iter().map(move |a| SeriesKey::new(*p, *a)))
        .collect();
    let source = open(&server.url(), settings);
    let mut batches = Vec::new();
    let stats = source
        .fetch_each(&keys, &window(), &mut |batch| {
            assert!(batch.failures.is_empty(), "{:?}", batch.failures);
            batches.push(
                batch
                    .series
                    .iter()
                    .map(|s| s.series.key.to_string())
                    .collect::<Vec<_>>(),
            );
        })
        .unwrap();
    // 4 APIs × 2 partner groups (2 + 1 partners), each 3 range chunks and a cache query.
    assert_eq!(batches.len(), 8, "{batches:?}");
    let mut sizes: Vec<usize> = batches.iter().map(Vec::len).collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [1, 1, 1, 1, 2, 2, 2, 2]);
    let mut delivered: Vec<String> = batches.concat();
    delivered.sort();
    let mut expected: Vec<String> = keys.iter().map(ToString::to_string).collect();
    expected.sort();
    assert_eq!(delivered, expected, "every series exactly once");
    assert_eq!(stats.queries, 8 * 4);
    assert_eq!(server.requests().len(), 8 * 4);
    assert_eq!(stats.series, keys.len());
    assert_eq!(
        server.max_in_flight(),
        3,
        "never more than `concurrency` queries at once, and that many used"
    );
    // Each group's answer held partners 111 (from the fake) only where it asked for 111.
    let queries = server.requests();
    assert!(
        queries.iter().any(|q| q.contains("111%7C222")),
        "{queries:#?}"
    );
    assert!(
        queries
            .iter()
            .filter(|q| q.contains("query_range"))
            .all(|q| !q.contains("111%7C222%7C333")),
        "no group holds more than partners_per_query partners"
    );
}

#[test]
fn bad_urls_and_presets_are_configuration_errors() {
    let options = |url: &str, settings| FetchOptions {
        prometheus: PrometheusOptions {
            url: url.to_string(),
            settings: Some(settings),
            ..PrometheusOptions::default()
        },
        ..FetchOptions::default()
    };
    let error = Source::open(
        &SourceKind::Prometheus,
        &options("prometheus:9090", settings()),
    )
    .unwrap_err();
    assert!(
        error.to_string().contains("must start with http://"),
        "{error}"
    );
    let mut unknown = settings();
    unknown.preset = "graphite".into();
    let error = Source::open(
        &SourceKind::Prometheus,
        &options("http://127.0.0.1:1", unknown),
    )
    .unwrap_err();
    assert!(
        error.to_string().contains("no preset `graphite`"),
        "{error}"
    );
}

#[test]
fn token_and_headers_are_sent_and_never_printed() {
    let server = FakePrometheus::start(vec![Reply::Send(200, vec![], matrix())]);
    let mut settings = no_cache(settings());
    settings
        .headers
        .insert("X-Scope-OrgID".into(), "tenant-1".into());
    let options = FetchOptions {
        prometheus: PrometheusOptions {
            url: server.url(),
            token: Some(trendmaster_types::Secret::new("t0ken-xyz")),
            extra_headers: vec![("X-Extra".into(), "from-flag".into())],
            settings: Some(settings.clone()),
        },
        ..FetchOptions::default()
    };
    let source = Source::open(&SourceKind::Prometheus, &options).unwrap();
    assert!(
        !format!("{source:?}").contains("t0ken"),
        "Debug output never shows the token"
    );
    let report = source.fetch(&keys(), &window()).unwrap();
    assert!(report.failures.is_empty());
    let request = &server.requests()[0];
    assert!(
        request.contains("authorization: bearer t0ken-xyz"),
        "{request}"
    );
    assert!(request.contains("x-scope-orgid: tenant-1"), "{request}");
    assert!(request.contains("x-extra: from-flag"), "{request}");

    // A token and basic auth together are ambiguous: refused before anything is sent.
    settings.basic_auth_username = "user".into();
    let options = FetchOptions {
        prometheus: PrometheusOptions {
            url: server.url(),
            token: Some(trendmaster_types::Secret::new("t0ken-xyz")),
            extra_headers: Vec::new(),
            settings: Some(settings),
        },
        ..FetchOptions::default()
    };
    let error = Source::open(&SourceKind::Prometheus, &options)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("both a bearer token and basic auth"),
        "{error}"
    );
    assert!(!error.contains("t0ken"), "{error}");
}

#[test]
fn basic_auth_and_a_token_file_are_used() {
    let server = FakePrometheus::start(vec![Reply::Send(200, vec![], matrix())]);
    let mut with_basic = no_cache(settings());
    with_basic.basic_auth_username = "grafana".into();
    with_basic.basic_auth_password = trendmaster_types::Secret::new("pa55");
    let report = fetch_with(&server.url(), with_basic, &keys());
    assert!(report.failures.is_empty());
    // base64("grafana:pa55")
    assert!(
        server.requests()[0].contains("authorization: basic z3jhzmfuytpwytu1"),
        "{}",
        server.requests()[0]
    );

    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "from-file\n").unwrap();
    let server = FakePrometheus::start(vec![Reply::Send(200, vec![], matrix())]);
    let mut with_file = no_cache(settings());
    with_file.token_file = token_file.display().to_string();
    let report = fetch_with(&server.url(), with_file, &keys());
    assert!(report.failures.is_empty());
    assert!(
        server.requests()[0].contains("authorization: bearer from-file"),
        "{}",
        server.requests()[0]
    );
}

/// The Istio preset: a `query_range` answer of partner 111 on two raw paths (1 and 3 req/min)
/// and of 222 on one (1 req/min), then the rejected-requests answer: half of 111's requests on
/// `/api/a` were rejected, its other path and 222 are not mentioned (no 429s).
fn istio_replies(rejected: Reply) -> Vec<Reply> {
    let w = window();
    let track = |partner: &str, path: &str, per_step: u32| {
        let values: Vec<String> = (1..=w.len())
            .map(|i| format!("[{},\"{per_step}\"]", w.start.timestamp() + i as i64 * 3600))
            .collect();
        format!(
            r#"{{"metric":{{"partner":"{partner}","request_path":"{path}"}},"values":[{}]}}"#,
            values.join(",")
        )
    };
    let matrix = format!(
        r#"{{"status":"success","data":{{"resultType":"matrix","result":[{},{},{}]}}}}"#,
        track("111", "/api/a", 60),
        track("111", "/v2/api/a", 180),
        track("222", "/api/a", 60)
    );
    vec![Reply::Send(200, vec![], matrix), rejected]
}

fn istio() -> PrometheusSettings {
    let mut settings = settings();
    settings.preset = "istio".into();
    settings
}

#[test]
fn the_rejected_query_runs_like_the_cache_query_and_is_weighted_by_path() {
    let time = window().end.timestamp();
    let vector = format!(
        r#"{{"status":"success","data":{{"resultType":"vector","result":[{{"metric":{{"partner":"111","request_path":"/api/a"}},"value":[{time},"0.5"]}}]}}}}"#
    );
    let server = FakePrometheus::start(istio_replies(Reply::Send(200, vec![], vector)));
    let report = fetch_with(&server.url(), istio(), &keys());
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "one range query and one rejected query");
    // An instant query at the window's end over the whole window, 429s over all responses.
    let rejected = &requests[1];
    assert!(rejected.contains("/api/v1/query?"), "{rejected}");
    assert!(rejected.contains(&format!("time={time}")), "{rejected}");
    assert!(
        rejected.contains("response_code%3D%22429%22") && rejected.contains("%5B86400s%5D"),
        "{rejected}"
    );
    // 111: 0.5 of 1 req/min and nothing of 3 req/min on its other path.
    assert_eq!(report.series[0].rejected_share, Some(0.125));
    assert_eq!(report.series[1].rejected_share, Some(0.0), "222 had none");
    assert!(report.series.iter().all(|s| s.cache_hit_ratio.is_none()));
}

#[test]
fn a_failed_rejected_query_only_means_no_measurement_and_nginx_has_none() {
    let error = r#"{"status":"error","errorType":"bad_data","error":"unknown label"}"#;
    let server = FakePrometheus::start(istio_replies(Reply::Send(400, vec![], error.to_string())));
    let report = fetch_with(&server.url(), istio(), &keys());
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!(report.series.len(), 2);
    assert!(report.series.iter().all(|s| s.rejected_share.is_none()));
    assert_eq!(
        report.series[0].series.values[0], 4.0,
        "the traffic is there"
    );

    // The nginx preset's rejected_query is empty: no query, no share.
    let server = FakePrometheus::start(vec![Reply::Send(200, vec![], matrix())]);
    let report = fetch_with(&server.url(), no_cache(settings()), &keys());
    assert_eq!(server.requests().len(), 1);
    assert!(report.series.iter().all(|s| s.rejected_share.is_none()));
}
