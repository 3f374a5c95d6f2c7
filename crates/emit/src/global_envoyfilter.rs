//! The global rate limit's wiring: an Istio `EnvoyFilter` (networking.istio.io/v1alpha3) that
//! inserts Envoy's `envoy.filters.http.ratelimit`, which asks the envoyproxy/ratelimit service,
//! and the route `rate_limits` actions that make Envoy send exactly the descriptors our
//! ConfigMap has limits for.
//!
//! Why: a ConfigMap of limits does nothing unless Envoy sends matching descriptors, and "the
//! limit does nothing" — actions producing other descriptors than the config expects — is the
//! most common complaint of ratelimit and Istio users. This file is generated from the same plan
//! as the ConfigMap, with the same descriptor keys and domain, so the two cannot drift.
//!
//! The ConfigMap's tree is `PARTNER = <id>` → `PATH = <api>` (the keys are
//! `CONFIGMAP.partner_descriptor_key` and `path_descriptor_key`). Each API of the plan gets one
//! `rate_limits` entry whose two actions build that descriptor, in the tree's order:
//! 1. `request_headers`: the partner id from `partner_header`. A request without the header
//!    gets no descriptor from the entry (Envoy's `skip_if_absent` is false by default), so it is
//!    counted against no partner; an unknown partner's descriptor matches no entry of ours.
//! 2. `header_value_match`: `PATH = <api>` when `:path` **starts with** the API, so query
//!    strings (`/api/x?page=2`) and trailing IDs (`/api/x/42`) still count, as the data source
//!    counts every path that contains the API; and does **not** start with a longer API of the
//!    plan that extends it (`invert_match` prefix matchers), as the source credits a path to the
//!    longest configured API it contains. So a request is counted against one API at most.
//!
//! A prefix rather than the source's substring: Envoy sees the request path itself, which
//! starts with the API, while metric labels may carry a host or a route prefix. An API that
//! does not start with `/` could never match and is refused.
//!
//! Choices: the filter goes right before the router (after the local backstop, which is inserted
//! at the front); `failure_mode_deny` is false unless configured, so requests pass when the
//! service is unreachable (istio.io's task uses true; a rate limiter that fails closed turns its
//! own outage into everyone's); the actions and the filter use stage 1, so the local filter
//! (stage 0) and the global one never evaluate each other's actions and the service receives
//! only the descriptors of this file.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use trendmaster_types::PlannedLimit;
use trendmaster_types::settings::{ConfigMapSettings, GlobalRateLimitSettings};

use crate::configmap::GenerationInfo;
use crate::envoyfilter::{
    EnvoyFilter, FilterConfig, HeaderMatcher, HeaderValueMatchAction, HttpFilter, PatchValue,
    RateLimitAction, RequestHeadersAction, RoutePatch, RouteRateLimit, RouteRateLimits,
    StringMatcher, check_object_names, envoyfilter_object, insert_filter_patch, merge_route_patch,
};
use crate::error::EmitError;

/// Envoy's name for the global rate-limit HTTP filter.
pub const GLOBAL_FILTER_NAME: &str = "envoy.filters.http.ratelimit";
pub(crate) const RATE_LIMIT: &str =
    "type.googleapis.com/envoy.extensions.filters.http.ratelimit.v3.RateLimit";
const ROUTER: &str = "envoy.filters.http.router";
/// The stage of the filter and of its actions: not the local filter's 0 (see the module docs).
pub const STAGE: u32 = 1;

/// `envoy.extensions.filters.http.ratelimit.v3.RateLimit`, the fields we set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitFilter {
    /// `@type`: the message's type URL.
    #[serde(rename = "@type")]
    pub type_: String,
    /// `domain`: the ConfigMap's `domain`.
    pub domain: String,
    /// `stage`: only the route actions of this stage are evaluated.
    pub stage: u32,
    /// `failure_mode_deny`: reject requests when the service cannot answer.
    pub failure_mode_deny: bool,
    /// `timeout`: how long a request waits for the service, as a protobuf JSON duration.
    pub timeout: String,
    /// `enable_x_ratelimit_headers`: `DRAFT_VERSION_03` to add `X-RateLimit-*` headers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_x_ratelimit_headers: Option<String>,
    /// `rate_limit_service`: where the service is.
    pub rate_limit_service: RateLimitServiceConfig,
}

/// `envoy.config.ratelimit.v3.RateLimitServiceConfig`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitServiceConfig {
    /// `grpc_service`: the service's gRPC endpoint.
    pub grpc_service: GrpcService,
    /// `transport_api_version`: `V3`, the only one Envoy still speaks.
    pub transport_api_version: String,
}

/// `envoy.config.core.v3.GrpcService`, Envoy's own gRPC client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrpcService {
    /// `envoy_grpc`: a cluster Envoy knows.
    pub envoy_grpc: EnvoyGrpc,
}

/// `GrpcService.EnvoyGrpc`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvoyGrpc {
    /// `cluster_name`: the service's cluster, as Istio names it.
    pub cluster_name: String,
    /// `authority`: the `:authority` of the calls; absent: the cluster name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority: Option<String>,
}

/// The global EnvoyFilter and its YAML.
#[derive(Debug, Clone)]
pub struct RenderedGlobalEnvoyFilter {
    /// The object.
    pub filter: EnvoyFilter,
    /// `filter` as YAML, the output file's content.
    pub yaml: String,
}

/// The global wiring for the entries of `plan` (the plan the ConfigMap is rendered from).
pub fn render_global_envoyfilter(
    plan: &[PlannedLimit],
    configmap: &ConfigMapSettings,
    settings: &GlobalRateLimitSettings,
    info: &GenerationInfo,
) -> Result<RenderedGlobalEnvoyFilter, EmitError> {
    let mut problems = check_object_names(
        "GLOBAL_RATELIMIT",
        &settings.name,
        &settings.namespace,
        &settings.workload_labels,
    );
    let timeout = match humantime::parse_duration(settings.timeout.trim()) {
        Ok(timeout) if !timeout.is_zero() => protobuf_duration(timeout),
        _ => {
            problems.push(format!(
                "GLOBAL_RATELIMIT.timeout `{}`: not a positive duration such as 100ms",
                settings.timeout
            ));
            String::new()
        }
    };
    let apis: BTreeSet<&str> = plan.iter().map(|entry| entry.key.api.as_str()).collect();
    for api in &apis {
        if !api.starts_with('/') {
            problems.push(format!(
                "API `{api}` does not start with `/`: Envoy matches the request path by prefix, so GLOBAL_RATELIMIT could never count it (disable GLOBAL_RATELIMIT or configure the API as a path)"
            ));
        }
    }
    if !problems.is_empty() {
        return Err(EmitError::EnvoyFilter {
            reason: problems.join("; "),
        });
    }
    let filter_patch = insert_filter_patch(
        &settings.context,
        Some(ROUTER),
        HttpFilter {
            name: GLOBAL_FILTER_NAME.into(),
            typed_config: FilterConfig::Global(Box::new(RateLimitFilter {
                type_: RATE_LIMIT.into(),
                domain: configmap.domain.clone(),
                stage: STAGE,
                failure_mode_deny: settings.failure_mode_deny,
                timeout,
                enable_x_ratelimit_headers: settings
                    .rate_limit_headers
                    .then(|| "DRAFT_VERSION_03".to_owned()),
                rate_limit_service: RateLimitServiceConfig {
                    grpc_service: GrpcService {
                        envoy_grpc: EnvoyGrpc {
                            cluster_name: settings.service_cluster.clone(),
                            authority: Some(settings.service_authority.clone())
                                .filter(|a| !a.is_empty()),
                        },
                    },
                    transport_api_version: "V3".into(),
                },
            })),
        },
    );
    let rate_limits = apis
        .iter()
        .map(|api| RouteRateLimit {
            stage: Some(STAGE),
            actions: vec![
                RateLimitAction {
                    request_headers: Some(RequestHeadersAction {
                        header_name: settings.partner_header.clone(),
                        descriptor_key: configmap.partner_descriptor_key.clone(),
                    }),
                    header_value_match: None,
                },
                RateLimitAction {
                    request_headers: None,
                    header_value_match: Some(path_match(
                        api,
                        &apis,
                        &configmap.path_descriptor_key,
                    )),
                },
            ],
        })
        .collect();
    let route_patch = merge_route_patch(
        &settings.context,
        &settings.vhost,
        RoutePatch {
            route: RouteRateLimits { rate_limits },
            typed_per_filter_config: Default::default(),
        },
    );
    let filter = envoyfilter_object(
        &settings.name,
        &settings.namespace,
        &settings.workload_labels,
        vec![filter_patch, route_patch],
        info,
    );
    let yaml = serde_yaml::to_string(&filter).map_err(|source| EmitError::Serialize {
        what: "global EnvoyFilter".into(),
        source,
    })?;
    crate::envoyfilter::check_written("the global wiring EnvoyFilter", &yaml)?;
    Ok(RenderedGlobalEnvoyFilter { filter, yaml })
}

/// `PATH = api` when `:path` starts with `api` and with none of the longer APIs of `apis`
/// that extend it.
fn path_match(api: &str, apis: &BTreeSet<&str>, path_key: &str) -> HeaderValueMatchAction {
    let prefix = |prefix: &str, invert_match: bool| HeaderMatcher {
        name: ":path".into(),
        string_match: StringMatcher {
            prefix: prefix.to_owned(),
        },
        invert_match,
    };
    let mut headers = vec![prefix(api, false)];
    headers.extend(
        apis.iter()
            .filter(|longer| longer.len() > api.len() && longer.starts_with(api))
            .map(|longer| prefix(longer, true)),
    );
    HeaderValueMatchAction {
        descriptor_key: path_key.to_owned(),
        descriptor_value: api.to_owned(),
        headers,
    }
}

/// A duration as protobuf's JSON mapping writes it: seconds with up to 9 decimals and an `s`.
fn protobuf_duration(duration: std::time::Duration) -> String {
    let nanos = duration.subsec_nanos();
    if nanos == 0 {
        format!("{}s", duration.as_secs())
    } else {
        let fraction = format!("{nanos:09}");
        format!("{}.{}s", duration.as_secs(), fraction.trim_end_matches('0'))
    }
}

impl EnvoyFilter {
    /// The descriptors the global filter's actions make Envoy send for a request with `path`
    /// and these `headers` (name, value; names lower-case), following Envoy's rules for the
    /// actions we emit: one descriptor per `rate_limits` entry of [`STAGE`] whose actions all
    /// produce an entry. For tests and `--explain`, not a general Envoy emulator.
    pub fn global_descriptors(
        &self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Vec<Vec<(String, String)>> {
        let header = |name: &str| {
            if name == ":path" {
                Some(path)
            } else {
                headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(name))
                    .map(|(_, v)| *v)
            }
        };
        let mut descriptors = Vec::new();
        for patch in &self.spec.config_patches {
            let PatchValue::Route(route) = &patch.patch.value else {
                continue;
            };
            for limit in &route.route.rate_limits {
                if limit.stage != Some(STAGE) {
                    continue;
                }
                let entries: Option<Vec<(String, String)>> = limit
                    .actions
                    .iter()
                    .map(|action| {
                        if let Some(rh) = &action.request_headers {
                            header(&rh.header_name)
                                .map(|value| (rh.descriptor_key.clone(), value.to_owned()))
                        } else if let Some(hvm) = &action.header_value_match {
                            hvm.headers
                                .iter()
                                .all(|m| {
                                    header(&m.name).is_some_and(|value| {
                                        value.starts_with(&m.string_match.prefix)
                                    }) != m.invert_match
                                })
                                .then(|| (hvm.descriptor_key.clone(), hvm.descriptor_value.clone()))
                        } else {
                            None
                        }
                    })
                    .collect();
                descriptors.extend(entries);
            }
        }
        descriptors
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trendmaster_types::{ChangeStatus, SeriesKey};

    fn settings() -> GlobalRateLimitSettings {
        trendmaster_types::testing::global_ratelimit_settings()
    }

    fn configmap() -> ConfigMapSettings {
        serde_yaml::from_str(
            "{name: ratelimit-config, namespace: istio-system, domain: global-ratelimit, data_key: config.yaml, partner_descriptor_key: PARTNER, path_descriptor_key: PATH, unit: minute, labels: {}, annotations: {}}",
        )
        .unwrap()
    }

    fn info() -> GenerationInfo {
        crate::configmap::test_info()
    }

    fn entry(partner: &str, api: &str) -> PlannedLimit {
        PlannedLimit {
            key: SeriesKey::new(partner, api),
            current: None,
            recommended: Some(100),
            emitted: 100,
            status: ChangeStatus::New,
        }
    }

    fn plan() -> Vec<PlannedLimit> {
        vec![
            entry("111", "/api/asset/get"),
            entry("111", "/api/asset/getplaybackcontext"),
            entry("222", "/api/asset/get"),
            entry("222", "/api/login"),
        ]
    }

    fn descriptor(partner: &str, api: &str) -> Vec<(String, String)> {
        vec![
            ("PARTNER".to_owned(), partner.to_owned()),
            ("PATH".to_owned(), api.to_owned()),
        ]
    }

    #[test]
    fn each_request_gets_the_descriptor_of_its_longest_api_only() {
        let rendered =
            render_global_envoyfilter(&plan(), &configmap(), &settings(), &info()).unwrap();
        let parsed: EnvoyFilter = serde_yaml::from_str(&rendered.yaml).unwrap();
        assert_eq!(parsed, rendered.filter);
        let sent = |path: &str, partner: Option<&str>| {
            let headers: Vec<(&str, &str)> =
                partner.map(|p| ("x-partner-id", p)).into_iter().collect();
            parsed.global_descriptors(path, &headers)
        };
        assert_eq!(
            sent("/api/asset/get", Some("111")),
            [descriptor("111", "/api/asset/get")]
        );
        // A query string and a trailing id still count against the API.
        assert_eq!(
            sent("/api/asset/get?id=1", Some("111")),
            [descriptor("111", "/api/asset/get")]
        );
        assert_eq!(
            sent("/api/asset/get/42", Some("222")),
            [descriptor("222", "/api/asset/get")]
        );
        // The longer API wins, and only it.
        assert_eq!(
            sent("/api/asset/getplaybackcontext?x=1", Some("111")),
            [descriptor("111", "/api/asset/getplaybackcontext")]
        );
        // Descriptors are per API, not per partner: the service looks them up.
        assert_eq!(
            sent("/api/login", Some("999")),
            [descriptor("999", "/api/login")]
        );
        assert!(
            sent("/api/login", None).is_empty(),
            "no header, no descriptor"
        );
        assert!(sent("/other", Some("111")).is_empty());
        assert!(sent("/api/asse", Some("111")).is_empty());
    }

    #[test]
    fn the_filter_carries_the_configmap_domain_and_the_service() {
        let mut settings = settings();
        settings.rate_limit_headers = true;
        settings.timeout = "1500ms".into();
        let rendered =
            render_global_envoyfilter(&plan(), &configmap(), &settings, &info()).unwrap();
        let PatchValue::Filter(filter) = &rendered.filter.spec.config_patches[0].patch.value else {
            panic!("the first patch inserts the filter");
        };
        let FilterConfig::Global(config) = &filter.typed_config else {
            panic!("the global filter's config");
        };
        assert_eq!(config.domain, "global-ratelimit");
        assert_eq!(config.timeout, "1.5s");
        assert!(!config.failure_mode_deny);
        assert_eq!(
            config.enable_x_ratelimit_headers.as_deref(),
            Some("DRAFT_VERSION_03")
        );
        assert_eq!(
            config
                .rate_limit_service
                .grpc_service
                .envoy_grpc
                .cluster_name,
            "outbound|8081||ratelimit.ratelimit.svc.cluster.local"
        );
        assert!(rendered.yaml.contains("subFilter:\n"), "{}", rendered.yaml);
        assert_eq!(protobuf_duration(std::time::Duration::from_secs(2)), "2s");
        assert_eq!(
            protobuf_duration(std::time::Duration::from_millis(100)),
            "0.1s"
        );
    }

    #[test]
    fn what_it_writes_goes_through_the_same_checks_as_trendmaster_check() {
        let mut no_domain = configmap();
        no_domain.domain = String::new();
        let error = render_global_envoyfilter(&plan(), &no_domain, &settings(), &info())
            .unwrap_err()
            .to_string();
        assert!(error.contains("the global wiring EnvoyFilter"), "{error}");
        assert!(error.contains("domain"), "{error}");
    }

    #[test]
    fn bad_names_timeouts_and_apis_that_are_not_paths_are_refused() {
        let mut bad = settings();
        bad.name = "Global_RL".into();
        bad.timeout = "soon".into();
        let mut plan = plan();
        plan.push(entry("111", "service/multirequest"));
        let error = render_global_envoyfilter(&plan, &configmap(), &bad, &info())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("GLOBAL_RATELIMIT.name `Global_RL`"),
            "{error}"
        );
        assert!(error.contains("GLOBAL_RATELIMIT.timeout `soon`"), "{error}");
        assert!(
            error.contains("API `service/multirequest` does not start with `/`"),
            "{error}"
        );
    }
}
