use super::*;
use crate::configmap::{GenerationInfo, render_planned};
use crate::envoyfilter::render_envoyfilter;
use crate::global_envoyfilter::render_global_envoyfilter;
use crate::planned::Rollout;
use trendmaster_types::settings::{GlobalRateLimitSettings, LocalRateLimitSettings};
use trendmaster_types::testing::configmap_settings;
use trendmaster_types::{ChangeStatus, PlannedLimit, Profile, SeriesKey};

fn info() -> GenerationInfo {
    crate::configmap::test_info()
}

fn plan() -> Vec<PlannedLimit> {
    [
        ("111", "/api/a", 600),
        ("111", "/api/a/b", 60),
        ("222", "/api/a", 6),
    ]
    .map(|(partner, api, emitted)| PlannedLimit {
        key: SeriesKey::new(partner, api),
        current: None,
        recommended: Some(emitted),
        emitted,
        status: ChangeStatus::New,
    })
    .to_vec()
}

fn local_settings() -> LocalRateLimitSettings {
    LocalRateLimitSettings {
        replicas: 2,
        ..trendmaster_types::testing::local_ratelimit_settings()
    }
}

fn global_settings() -> GlobalRateLimitSettings {
    GlobalRateLimitSettings {
        rate_limit_headers: true,
        ..trendmaster_types::testing::global_ratelimit_settings()
    }
}

fn configmap_yaml() -> String {
    let settings = configmap_settings();
    render_planned(
        &plan(),
        Profile::Normal,
        None,
        Rollout::Enforce,
        &settings,
        &info(),
    )
    .unwrap()
    .yaml
}

fn local_yaml() -> String {
    render_envoyfilter(
        &plan(),
        "PARTNER",
        &local_settings(),
        Rollout::Enforce,
        &info(),
    )
    .unwrap()
    .yaml
}

fn global_yaml() -> String {
    render_global_envoyfilter(&plan(), &configmap_settings(), &global_settings(), &info())
        .unwrap()
        .yaml
}

/// Every problem of one file, as displayed.
fn shown(name: &str, text: &str) -> Vec<String> {
    check_file(name, text)
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn every_file_trendmaster_writes_passes() {
    let (configmap, local, global) = (configmap_yaml(), local_yaml(), global_yaml());
    let report = check_files([
        ("cm.yaml", configmap.as_str()),
        ("local.yaml", local.as_str()),
        ("global.yaml", global.as_str()),
    ]);
    assert!(report.valid(), "{:#?}", report.problems);
    let kinds: Vec<&[DocumentKind]> = report.files.iter().map(|f| &f.documents[..]).collect();
    assert_eq!(
        kinds,
        [
            &[DocumentKind::ConfigMap][..],
            &[DocumentKind::EnvoyFilter],
            &[DocumentKind::EnvoyFilter]
        ]
    );
    // The bare ratelimit file inside the ConfigMap passes too.
    let file = &serde_yaml::from_str::<ConfigMap>(&configmap)
        .unwrap()
        .data
        .unwrap()["config.yaml"];
    assert_eq!(shown("config.yaml", file), Vec::<String>::new());
}

#[test]
fn a_file_with_three_problems_reports_all_three() {
    // `remote_address` is the key Envoy's action of that name sends: its `_` is not ours to
    // refuse.
    let text = "domain: global-ratelimit\ndescriptors:\n  - key: PARTNER\n    value: '111'\n    ratelimit: {unit: minute, requests_per_unit: 5}\n  - key: PATH\n    rate_limit: {unit: fortnight, requests_per_unit: 5}\n  - key: remote_address\n    value: 10.0.0.1\n    rate_limit: {unit: second}\n";
    assert_eq!(
        shown("rl.yaml", text),
        [
            "rl.yaml: config error, unknown key 'ratelimit' (at descriptors[0].ratelimit)",
            "rl.yaml: invalid rate limit unit 'fortnight' (at descriptors[1].rate_limit)",
            "rl.yaml: stricter than the service: requests_per_unit is missing or 0, which the \
             service reads as \"block every request\" (at descriptors[2].rate_limit.requests_per_unit)",
        ]
    );
    let sources: Vec<CheckSource> = check_file("rl.yaml", text)
        .iter()
        .map(|p| p.source)
        .collect();
    assert_eq!(
        sources,
        [
            CheckSource::Loader,
            CheckSource::Loader,
            CheckSource::Trendmaster
        ]
    );
}

#[test]
fn configmap_problems_name_the_data_key_in_the_path() {
    let text = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: Ratelimit_Config
  labels: {app: ratelimit}
data:
  a.yaml: |
    domain: edge
    descriptors: [{key: PATH, rate_limit: {unit: minute}}]
  b.yaml: |
    domain: edge
"#;
    let found = shown("cm.yaml", text);
    assert_eq!(found.len(), 3, "{found:#?}");
    assert!(
        found[0].starts_with("cm.yaml: ") && found[0].ends_with("(at metadata.name)"),
        "{found:#?}"
    );
    assert_eq!(
        found[1..],
        [
            "cm.yaml: stricter than the service: requests_per_unit is missing or 0, which the \
             service reads as \"block every request\" \
             (at data[\"a.yaml\"].descriptors[0].rate_limit.requests_per_unit)",
            "cm.yaml: duplicate domain 'edge' in config file (at data[\"b.yaml\"].domain)",
        ]
    );
}

#[test]
fn a_configmap_the_api_server_would_refuse_says_where() {
    let found = check_file(
        "cm.yaml",
        "apiVersion: v2\nkind: ConfigMap\nmetadata: {name: rl, nmespace: x}\ndat:\n  config.yaml: 'domain: rl'\n",
    );
    let shown: Vec<(CheckSource, &str, &str)> = found
        .iter()
        .map(|p| (p.source, p.path.as_str(), p.message.as_str()))
        .collect();
    assert_eq!(
        shown,
        [
            (CheckSource::Kubernetes, "dat", "unknown field \"dat\""),
            (
                CheckSource::Kubernetes,
                "metadata.nmespace",
                "unknown field \"nmespace\""
            ),
            (
                CheckSource::Kubernetes,
                "apiVersion",
                "apiVersion `v2`: a ConfigMap is `v1`"
            ),
        ]
    );
    let found = check_file(
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: rl}\n",
    );
    assert_eq!(
        found.iter().map(ToString::to_string).collect::<Vec<_>>(),
        [
            "cm.yaml: stricter than the service: no data: the ratelimit service would load \
             nothing from this ConfigMap (at data)"
        ]
    );
    let found = check_file(
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: rl}\ndata: {config.yaml: 5}\n",
    );
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].path, "data.config.yaml");
    assert!(found[0].message.contains("expected a string"), "{found:#?}");
}

#[test]
fn configmaps_are_directories_of_their_own_and_bare_files_share_one() {
    let configmap = configmap_yaml();
    let degraded = configmap.replace("name: ratelimit-config", "name: ratelimit-config-2");
    // Two ConfigMaps with one domain: two config directories, no collision.
    assert!(
        check_files([
            ("a.yaml", configmap.as_str()),
            ("b.yaml", degraded.as_str())
        ])
        .valid()
    );
    // Two bare files with one domain: one directory, as `ratelimit_config_check -config_dir`.
    let file = "domain: edge\n";
    let report = check_files([("x/a.yaml", file), ("x/b.yaml", file)]);
    let found: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        found,
        ["x/b.yaml: duplicate domain 'edge' in config file (at domain)"]
    );
    assert_eq!(report.files[0].problems, 0);
    assert_eq!(report.files[1].problems, 1);
}

#[test]
fn a_syntax_error_is_one_problem_in_the_loaders_words() {
    // The YAML parser repeats its error forever if asked for the next document.
    let found = shown("rl.yaml", "domain: rl\ndescriptors: [{key: a\n");
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0].starts_with("rl.yaml: error loading config file: "),
        "{found:#?}"
    );
    let found = shown("cm.yaml", "kind: ConfigMap\ndata: {a: [\n");
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(found[0].starts_with("cm.yaml: not YAML: "), "{found:#?}");
}

#[test]
fn what_the_loader_reads_differently_is_stricter_than_the_service() {
    assert_eq!(
        shown("rl.yaml", "domain: edge\n---\ndomain: other\n"),
        [
            "rl.yaml: stricter than the service: the file holds more than one YAML document; the \
             loader reads the first and silently drops the rest"
        ]
    );
}

#[test]
fn the_global_filter_must_name_a_domain_checked_with_it() {
    let configmap = configmap_yaml();
    let global = global_yaml().replace("domain: global-ratelimit", "domain: partner-api");
    let report = check_files([
        ("cm.yaml", configmap.as_str()),
        ("ef.yaml", global.as_str()),
    ]);
    let found: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0].starts_with(
            "ef.yaml: stricter than the service: domain 'partner-api' is not the domain of any \
             ratelimit file checked with it (global-ratelimit)"
        ),
        "{found:#?}"
    );
    assert!(
        found[0].ends_with("(at spec.configPatches[0].patch.value.typed_config.domain)"),
        "{found:#?}"
    );
    // Alone, the filter has nothing to be matched against.
    assert!(check_files([("ef.yaml", global.as_str())]).valid());
}

#[test]
fn envoyfilter_rules_each_name_their_field() {
    let local = local_yaml();
    assert!(local.contains("max_tokens: 333\n"), "{local}");
    let broken = local
        .replacen("max_tokens: 333\n", "max_tokens: 0\n", 1)
        .replacen("tokens_per_fill: 333\n", "tokens_per_fill: 0\n", 1)
        .replacen("fill_interval: 60s", "fill_interval: 0.01s", 1);
    let found = check_file("local.yaml", &broken);
    let at = |field: &str| -> Vec<(CheckSource, String)> {
        found
            .iter()
            .filter(|p| p.path.ends_with(field))
            .map(|p| (p.source, p.message.clone()))
            .collect()
    };
    assert_eq!(
        at("max_tokens"),
        [(
            CheckSource::Trendmaster,
            "0: a bucket of no tokens rejects every request".to_owned()
        )],
        "{found:#?}"
    );
    assert_eq!(
        at("tokens_per_fill"),
        [(
            CheckSource::Trendmaster,
            "0: the bucket is never refilled, so it rejects every request once drained".to_owned()
        )]
    );
    let fill = at("fill_interval");
    assert!(
        fill.iter()
            .any(|(source, message)| *source == CheckSource::Istio
                && message.starts_with("local rate limit token bucket fill timer must be >= 50ms")),
        "{found:#?}"
    );

    let global = global_yaml()
        .replace("domain: global-ratelimit", "domain: ''")
        .replace("timeout: 0.1s", "timeout: 100ms");
    let found = shown("global.yaml", &global);
    assert!(
        found
            .iter()
            .any(|p| p.contains("empty: Envoy requires a domain")
                && p.ends_with("(at spec.configPatches[0].patch.value.typed_config.domain)")),
        "{found:#?}"
    );
    assert!(
        found
            .iter()
            .any(|p| p.contains("`100ms`: not a protobuf duration")),
        "{found:#?}"
    );
}

#[test]
fn a_field_outside_the_model_is_reported_where_it_is() {
    let global = global_yaml();
    let misspelt = global.replacen("failure_mode_deny:", "failure_mode_denied:", 1);
    let found = check_file("global.yaml", &misspelt);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(
        found[0].path,
        "spec.configPatches[0].patch.value.typed_config.failure_mode_denied"
    );
    assert!(
        found[0]
            .message
            .contains("unknown field `failure_mode_denied`"),
        "{found:#?}"
    );
    assert_eq!(found[0].source, CheckSource::Trendmaster);
    // In a route patch too, and in two patches at once.
    let both = misspelt.replacen("descriptor_key: PATH", "descriptor_keys: PATH", 1);
    let found = check_file("global.yaml", &both);
    let paths: Vec<&str> = found.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(paths.len(), 2, "{found:#?}");
    assert!(
        paths[1].starts_with("spec.configPatches[1].patch.value.route.rate_limits[0].actions[1]"),
        "{found:#?}"
    );
}

#[test]
fn a_stream_of_manifests_is_checked_document_by_document() {
    let deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n";
    let stream = format!(
        "{deployment}---\n{}---\n{}",
        configmap_yaml(),
        global_yaml().replace("stage: 1\n", "stage: 11\n")
    );
    let report = check_files([("all.yaml", stream.as_str())]);
    assert_eq!(
        report.files[0].documents,
        [
            DocumentKind::Other,
            DocumentKind::ConfigMap,
            DocumentKind::EnvoyFilter
        ]
    );
    assert!(!report.problems.is_empty());
    assert!(
        report
            .problems
            .iter()
            .all(|p| p.path.starts_with("documents[2].")),
        "{:#?}",
        report.problems
    );
    // Alone, another kind is not something check can say anything about.
    let found = shown("deploy.yaml", deployment);
    assert_eq!(
        found,
        [
            "deploy.yaml: stricter than the service: kind `Deployment`: check reads ConfigMaps, \
             EnvoyFilters and bare ratelimit files (at kind)"
        ]
    );
}

#[test]
fn protobuf_durations() {
    use super::envoyfilter::protobuf_duration;
    use std::time::Duration;
    assert_eq!(protobuf_duration("60s"), Some(Duration::from_secs(60)));
    assert_eq!(protobuf_duration("0.05s"), Some(Duration::from_millis(50)));
    assert_eq!(protobuf_duration("1.000000001s"), Some(Duration::new(1, 1)));
    for bad in ["100ms", "1m", "-1s", ".5s", "1.s", "s", "1.0000000001s", ""] {
        assert_eq!(protobuf_duration(bad), None, "{bad}");
    }
}
