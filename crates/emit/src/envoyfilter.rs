//! The optional local rate limit: an Istio `EnvoyFilter` (networking.istio.io/v1alpha3) that
//! inserts Envoy's `envoy.filters.http.local_ratelimit` with one token bucket per partner.
//!
//! It is a per-pod backstop in front of the global ratelimit service, not a replacement:
//! - one bucket per partner holds the sum of that partner's per-API limits (per-API limits
//!   stay with the global service, which sees every pod's traffic);
//! - each proxy only sees its own traffic, so the budget is divided by `replicas`;
//! - `tokens_per_fill` = the per-minute budget, `fill_interval` 60 s, `max_tokens` = the budget
//!   × `burst_factor` (≥ 1: a bucket smaller than one fill would throttle below the limit);
//! - `filter_enabled` and `filter_enforced` are set explicitly, because both default to 0 %
//!   (a filter that never limits); `--shadow` sets `filter_enforced` to 0 % so the proxy counts
//!   `rate_limited` without rejecting;
//! - the route-level default bucket is required by Envoy; it holds every partner's budget
//!   together, and `always_consume_default_token_bucket: false` keeps a partner's requests
//!   from also draining it. Requests without a known partner fall to that default bucket.
//!
//! The shape follows istio.io's local rate limit task (TypedStruct around the v3
//! `LocalRateLimit`), see `envoy-istio-formats.md` § 2.2. The types below are the subset of
//! the EnvoyFilter API we emit, strict on reading, so a test can parse every emitted object back
//! into them.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};
use trendmaster_types::settings::LocalRateLimitSettings;

use trendmaster_types::PlannedLimit;

use crate::configmap::{GenerationInfo, generation_annotations};
use crate::error::EmitError;
use crate::kube_rules;
use crate::planned::Rollout;

/// `apiVersion` of Istio's `EnvoyFilter` kind.
pub const API_VERSION: &str = "networking.istio.io/v1alpha3";
/// Envoy's name for the local rate-limit HTTP filter, also the key of its per-route config.
pub const FILTER_NAME: &str = "envoy.filters.http.local_ratelimit";
pub(crate) const TYPED_STRUCT: &str = "type.googleapis.com/udpa.type.v1.TypedStruct";
pub(crate) const LOCAL_RATE_LIMIT: &str =
    "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit";
const STAT_PREFIX: &str = "http_local_rate_limiter";
const FILL_INTERVAL: &str = "60s";

/// An Istio `EnvoyFilter` object: patches Istio applies to the Envoy config of selected proxies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnvoyFilter {
    /// `apiVersion`: [`API_VERSION`].
    pub api_version: String,
    /// `kind`: `EnvoyFilter`.
    pub kind: String,
    /// `metadata`: name, namespace, the managed-by label and the generation annotations.
    pub metadata: ObjectMeta,
    /// `spec`: which proxies, and the patches applied to them.
    pub spec: EnvoyFilterSpec,
}

/// `spec` of an `EnvoyFilter`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnvoyFilterSpec {
    /// `spec.workloadSelector`: the proxies the patches apply to.
    pub workload_selector: WorkloadSelector,
    /// `spec.configPatches`: applied in order, so the filter is inserted before routes configure it.
    pub config_patches: Vec<ConfigPatch>,
}

/// `spec.workloadSelector`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSelector {
    /// `workloadSelector.labels`: pods carrying all of these labels get the patches.
    pub labels: BTreeMap<String, String>,
}

/// One `spec.configPatches[]` entry: what kind of Envoy object to patch, which ones, and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigPatch {
    /// `configPatches[].applyTo`: `HTTP_FILTER` or `HTTP_ROUTE`.
    pub apply_to: String,
    /// `configPatches[].match`: which objects of that kind are patched.
    #[serde(rename = "match")]
    pub match_: PatchMatch,
    /// `configPatches[].patch`: the operation and the Envoy config it carries.
    pub patch: Patch,
}

/// `configPatches[].match`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PatchMatch {
    /// `configPatches[].match.context`: `GATEWAY`, `SIDECAR_INBOUND` or `SIDECAR_OUTBOUND`.
    pub context: String,
    /// `match.listener`: set on the filter patch, to find the HTTP connection manager.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener: Option<ListenerMatch>,
    /// `match.routeConfiguration`: set on the route patch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_configuration: Option<RouteConfigurationMatch>,
}

/// `match.listener`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListenerMatch {
    /// `match.listener.filterChain`: the listener's filter chains to patch.
    pub filter_chain: FilterChainMatch,
}

/// `match.listener.filterChain`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterChainMatch {
    /// `filterChain.filter`: a network filter the chain must contain.
    pub filter: NamedFilter,
}

/// `filterChain.filter`: a network filter matched by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedFilter {
    /// `filterChain.filter.name`: here `envoy.filters.network.http_connection_manager`.
    pub name: String,
    /// `filterChain.filter.subFilter`: the HTTP filter an `INSERT_BEFORE` goes before (absent:
    /// the front of the chain).
    #[serde(rename = "subFilter", default, skip_serializing_if = "Option::is_none")]
    pub sub_filter: Option<SubFilter>,
}

/// `filterChain.filter.subFilter`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubFilter {
    /// The HTTP filter's name, e.g. `envoy.filters.http.router`.
    pub name: String,
}

/// `match.routeConfiguration`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfigurationMatch {
    /// `routeConfiguration.vhost`: the virtual host whose routes are patched.
    pub vhost: VirtualHostMatch,
}

/// `match.routeConfiguration.vhost`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VirtualHostMatch {
    /// `vhost.name`, e.g. `inbound|http|8080`; absent: every virtual host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `vhost.route`: which of its routes.
    pub route: RouteMatch,
}

/// `match.routeConfiguration.vhost.route`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteMatch {
    /// `route.action`: `ANY`, so every route of the virtual host.
    pub action: String,
}

/// `configPatches[].patch`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Patch {
    /// `patch.operation`: `INSERT_BEFORE` for the filter, `MERGE` for the route.
    pub operation: String,
    /// `patch.value`: the Envoy config inserted or merged.
    pub value: PatchValue,
}

/// Envoy configuration (snake_case, as Envoy spells it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PatchValue {
    /// The HTTP filter the `HTTP_FILTER` patch inserts.
    Filter(Box<HttpFilter>),
    /// The route fields the `HTTP_ROUTE` patch merges.
    Route(RoutePatch),
}

/// An entry of the HTTP connection manager's `http_filters`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpFilter {
    /// `name`: [`FILTER_NAME`], or the global filter's.
    pub name: String,
    /// `typed_config`: the filter's config.
    pub typed_config: FilterConfig,
}

/// The `typed_config` of the filters we insert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FilterConfig {
    /// The local rate-limit filter's, wrapped in a `TypedStruct` as istio.io's task writes it.
    Local(Box<TypedStruct>),
    /// The global rate-limit filter's (`envoy.extensions.filters.http.ratelimit.v3.RateLimit`).
    Global(Box<crate::global_envoyfilter::RateLimitFilter>),
}

/// `udpa.type.v1.TypedStruct`: a message given as plain YAML plus its type URL, as istio.io's
/// local rate limit task writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypedStruct {
    /// `@type`: the `TypedStruct` type URL itself.
    #[serde(rename = "@type")]
    pub type_: String,
    /// `type_url`: the wrapped message's type, `…local_ratelimit.v3.LocalRateLimit`.
    pub type_url: String,
    /// `value`: the wrapped message.
    pub value: LocalRateLimit,
}

/// `envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit`, the fields we set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalRateLimit {
    /// `stat_prefix`: stats go under `<stat_prefix>.http_local_rate_limit.*`.
    pub stat_prefix: String,
    /// `token_bucket`: the default bucket; required per route, left out at filter level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_bucket: Option<TokenBucket>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// `filter_enabled`: share of requests checked; Envoy's default is 0 %.
    pub filter_enabled: Option<RuntimeFractionalPercent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// `filter_enforced`: share of over-limit requests rejected; 0 % only counts them.
    pub filter_enforced: Option<RuntimeFractionalPercent>,
    /// `always_consume_default_token_bucket`: whether a descriptor's requests also drain the
    /// default bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub always_consume_default_token_bucket: Option<bool>,
    /// `descriptors`: buckets for requests whose descriptor matches one exactly.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub descriptors: Vec<LocalDescriptor>,
}

/// `envoy.type.v3.TokenBucket`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenBucket {
    /// `max_tokens`: the bucket's size and initial fill; > 0.
    pub max_tokens: u32,
    /// `tokens_per_fill`: tokens added every `fill_interval`; > 0.
    pub tokens_per_fill: u32,
    /// `fill_interval`, e.g. `60s`; a descriptor's must be a multiple of the default bucket's.
    pub fill_interval: String,
}

/// `envoy.config.core.v3.RuntimeFractionalPercent`: a percentage a runtime key may override.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeFractionalPercent {
    /// `runtime_key`: the runtime setting that overrides `default_value` when present.
    pub runtime_key: String,
    /// `default_value`: the percentage otherwise.
    pub default_value: FractionalPercent,
}

/// `envoy.type.v3.FractionalPercent`: `numerator` out of `denominator`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FractionalPercent {
    /// `numerator`.
    pub numerator: u32,
    /// `denominator`: `HUNDRED`, `TEN_THOUSAND` or `MILLION`.
    pub denominator: String,
}

/// One `LocalRateLimit.descriptors[]` entry: a bucket of its own for matching requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalDescriptor {
    /// `entries`: the key/value pairs a request's descriptor must equal, in action order.
    pub entries: Vec<DescriptorEntry>,
    /// `token_bucket`: this descriptor's bucket.
    pub token_bucket: TokenBucket,
}

/// One `descriptors[].entries[]` pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DescriptorEntry {
    /// `key`: the action's `descriptor_key`.
    pub key: String,
    /// `value`: matched verbatim; here a partner id.
    pub value: String,
}

/// The fields the `HTTP_ROUTE` patch merges into each Envoy `Route`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutePatch {
    /// `route`: the route action, of which we set only `rate_limits`.
    pub route: RouteRateLimits,
    /// `typed_per_filter_config`: per-route filter config, keyed by filter name (the local
    /// filter's buckets; the global filter has none).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub typed_per_filter_config: BTreeMap<String, TypedStruct>,
}

/// `route` of an Envoy `Route` (`RouteAction`), the part we merge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteRateLimits {
    /// `route.rate_limits`: each entry builds one descriptor per request.
    pub rate_limits: Vec<RouteRateLimit>,
}

/// One `rate_limits[]` entry (`envoy.config.route.v3.RateLimit`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteRateLimit {
    /// `stage`: only filters of the same stage evaluate this entry (absent: 0, the local
    /// filter's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<u32>,
    /// `actions`: each adds one descriptor entry, in order; if one yields nothing, no descriptor.
    pub actions: Vec<RateLimitAction>,
}

/// One `rate_limits[].actions[]` entry: exactly one of its fields is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitAction {
    /// `request_headers`: a descriptor entry from a request header's value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_headers: Option<RequestHeadersAction>,
    /// `header_value_match`: a fixed descriptor entry when the request's headers match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_value_match: Option<HeaderValueMatchAction>,
}

/// `RateLimit.Action.HeaderValueMatch`: `(descriptor_key, descriptor_value)` when every header
/// matcher matches, else nothing (and no descriptor from its `rate_limits` entry).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderValueMatchAction {
    /// `descriptor_key`: the entry's key.
    pub descriptor_key: String,
    /// `descriptor_value`: the entry's value.
    pub descriptor_value: String,
    /// `headers`: all must match (AND).
    pub headers: Vec<HeaderMatcher>,
}

/// `envoy.config.route.v3.HeaderMatcher`, the fields we set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderMatcher {
    /// `name`: the header, here the pseudo-header `:path`.
    pub name: String,
    /// `string_match`: how its value must look.
    pub string_match: StringMatcher,
    /// `invert_match`: match when the value does **not** match.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub invert_match: bool,
}

/// `envoy.type.matcher.v3.StringMatcher`: we only match prefixes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StringMatcher {
    /// `prefix`: the value starts with this.
    pub prefix: String,
}

/// `RateLimit.Action.RequestHeaders`: `(descriptor_key, <header value>)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestHeadersAction {
    /// `header_name`: the header read; a request without it gets no descriptor.
    pub header_name: String,
    /// `descriptor_key`: the entry's key, matched against [`DescriptorEntry::key`].
    pub descriptor_key: String,
}

/// The EnvoyFilter and its YAML.
#[derive(Debug, Clone)]
pub struct RenderedEnvoyFilter {
    /// The object.
    pub filter: EnvoyFilter,
    /// `filter` as YAML, the output file's content.
    pub yaml: String,
    /// Partner → tokens per minute per proxy, for the report.
    pub budgets: BTreeMap<String, u32>,
}

/// Per-proxy token buckets from the emitted limits of `plan` (requests per minute).
pub fn render_envoyfilter(
    plan: &[PlannedLimit],
    partner_descriptor_key: &str,
    settings: &LocalRateLimitSettings,
    rollout: Rollout,
    info: &GenerationInfo,
) -> Result<RenderedEnvoyFilter, EmitError> {
    let (budgets, descriptors) = partner_buckets(plan, partner_descriptor_key, settings)?;
    let total: u64 = budgets.values().map(|&tokens| u64::from(tokens)).sum();
    let total = u32::try_from(total.max(1)).map_err(|_| too_large("(all)", total))?;
    let enforced = match rollout {
        Rollout::Enforce => 100,
        Rollout::Shadow => 0,
    };
    let route_config = LocalRateLimit {
        stat_prefix: STAT_PREFIX.into(),
        token_bucket: Some(bucket(total, total)),
        filter_enabled: Some(percent("local_rate_limit_enabled", 100)),
        filter_enforced: Some(percent("local_rate_limit_enforced", enforced)),
        always_consume_default_token_bucket: Some(false),
        descriptors,
    };
    let filter_patch = filter_patch(settings);
    let route_patch = route_patch(settings, partner_descriptor_key, route_config);
    let filter = envoyfilter_object(
        &settings.name,
        &settings.namespace,
        &settings.workload_labels,
        vec![filter_patch, route_patch],
        info,
    );
    let problems = check_names(settings);
    if !problems.is_empty() {
        return Err(EmitError::EnvoyFilter {
            reason: problems.join("; "),
        });
    }
    let yaml = serde_yaml::to_string(&filter).map_err(|source| EmitError::Serialize {
        what: "EnvoyFilter".into(),
        source,
    })?;
    check_written("the local rate-limit EnvoyFilter", &yaml)?;
    Ok(RenderedEnvoyFilter {
        filter,
        yaml,
        budgets,
    })
}

/// `yaml`, an EnvoyFilter we are about to write, through the same checks as `trendmaster check`
/// (Istio's and Envoy's rules, and the model we emit): validated on write like the ConfigMap.
pub(crate) fn check_written(what: &str, yaml: &str) -> Result<(), EmitError> {
    let report = crate::check::check_files([(what, yaml)]);
    if report.valid() {
        return Ok(());
    }
    let problems: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
    Err(EmitError::EnvoyFilter {
        reason: problems.join("; "),
    })
}

/// An Envoy token bucket's counts are `uint32`.
fn too_large(partner: &str, tokens: u64) -> EmitError {
    EmitError::EnvoyFilter {
        reason: format!(
            "partner {partner} needs {tokens} tokens per minute per proxy, above Envoy's maximum of {}",
            u32::MAX
        ),
    }
}

/// Each partner's budget (the sum of its emitted limits, per minute, divided across the
/// proxies) and its descriptor with that token bucket.
fn partner_buckets(
    plan: &[PlannedLimit],
    partner_descriptor_key: &str,
    settings: &LocalRateLimitSettings,
) -> Result<(BTreeMap<String, u32>, Vec<LocalDescriptor>), EmitError> {
    let mut per_partner: BTreeMap<&str, u64> = BTreeMap::new();
    for entry in plan {
        *per_partner.entry(&entry.key.partner).or_default() += entry.emitted;
    }
    let replicas = u64::from(settings.replicas.max(1));
    let mut budgets = BTreeMap::new();
    let mut descriptors = Vec::new();
    for (partner, per_minute) in per_partner {
        // Rounded up: the proxies together never allow less than the global limit.
        let tokens = per_minute.div_ceil(replicas);
        let fill = u32::try_from(tokens).map_err(|_| too_large(partner, tokens))?;
        let burst = (tokens as f64 * settings.burst_factor.max(1.0)).ceil() as u64;
        let max_tokens = u32::try_from(burst).map_err(|_| too_large(partner, burst))?;
        budgets.insert(partner.to_owned(), fill);
        descriptors.push(LocalDescriptor {
            entries: vec![DescriptorEntry {
                key: partner_descriptor_key.to_owned(),
                value: partner.to_owned(),
            }],
            token_bucket: bucket(max_tokens.max(1), fill.max(1)),
        });
    }
    Ok((budgets, descriptors))
}

/// Inserts the local rate-limit filter, unconfigured, at the front of the HTTP connection
/// manager's filters; the routes configure it.
fn filter_patch(settings: &LocalRateLimitSettings) -> ConfigPatch {
    insert_filter_patch(
        &settings.context,
        None,
        HttpFilter {
            name: FILTER_NAME.into(),
            typed_config: FilterConfig::Local(Box::new(typed(LocalRateLimit {
                stat_prefix: STAT_PREFIX.into(),
                token_bucket: None,
                filter_enabled: None,
                filter_enforced: None,
                always_consume_default_token_bucket: None,
                descriptors: Vec::new(),
            }))),
        },
    )
}

/// Every route of the matched virtual host: the partner header as descriptor, and the buckets.
fn route_patch(
    settings: &LocalRateLimitSettings,
    partner_descriptor_key: &str,
    route_config: LocalRateLimit,
) -> ConfigPatch {
    merge_route_patch(
        &settings.context,
        &settings.vhost,
        RoutePatch {
            route: RouteRateLimits {
                rate_limits: vec![RouteRateLimit {
                    stage: None,
                    actions: vec![RateLimitAction {
                        request_headers: Some(RequestHeadersAction {
                            header_name: settings.partner_header.clone(),
                            descriptor_key: partner_descriptor_key.to_owned(),
                        }),
                        header_value_match: None,
                    }],
                }],
            },
            typed_per_filter_config: BTreeMap::from([(
                FILTER_NAME.to_owned(),
                typed(route_config),
            )]),
        },
    )
}

/// An `HTTP_FILTER` patch in `context` inserting `filter` into the HTTP connection manager's
/// filters: right before the HTTP filter named `before`, or at the front.
pub(crate) fn insert_filter_patch(
    context: &str,
    before: Option<&str>,
    filter: HttpFilter,
) -> ConfigPatch {
    ConfigPatch {
        apply_to: "HTTP_FILTER".into(),
        match_: PatchMatch {
            context: context.to_owned(),
            listener: Some(ListenerMatch {
                filter_chain: FilterChainMatch {
                    filter: NamedFilter {
                        name: "envoy.filters.network.http_connection_manager".into(),
                        sub_filter: before.map(|name| SubFilter {
                            name: name.to_owned(),
                        }),
                    },
                },
            }),
            route_configuration: None,
        },
        patch: Patch {
            operation: "INSERT_BEFORE".into(),
            value: PatchValue::Filter(Box::new(filter)),
        },
    }
}

/// An `HTTP_ROUTE` patch in `context` merging `route` into every route of the virtual host
/// `vhost` (empty: of every virtual host).
pub(crate) fn merge_route_patch(context: &str, vhost: &str, route: RoutePatch) -> ConfigPatch {
    ConfigPatch {
        apply_to: "HTTP_ROUTE".into(),
        match_: PatchMatch {
            context: context.to_owned(),
            listener: None,
            route_configuration: Some(RouteConfigurationMatch {
                vhost: VirtualHostMatch {
                    name: Some(vhost.to_owned()).filter(|name| !name.is_empty()),
                    route: RouteMatch {
                        action: "ANY".into(),
                    },
                },
            }),
        },
        patch: Patch {
            operation: "MERGE".into(),
            value: PatchValue::Route(route),
        },
    }
}

/// The API server's naming rules for the EnvoyFilter's metadata and selector.
pub fn check_names(settings: &LocalRateLimitSettings) -> Vec<String> {
    check_object_names(
        "LOCAL_RATELIMIT",
        &settings.name,
        &settings.namespace,
        &settings.workload_labels,
    )
}

/// The API server's naming rules for an EnvoyFilter configured under `section`.
pub(crate) fn check_object_names(
    section: &str,
    name: &str,
    namespace: &str,
    workload_labels: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let mut check = |field: &str, value: &str, rule: fn(&str) -> Result<(), String>| {
        if let Err(message) = rule(value) {
            problems.push(format!("{section}.{field} `{value}`: {message}"));
        }
    };
    check("name", name, kube_rules::dns1123_subdomain);
    check("namespace", namespace, kube_rules::dns1123_label);
    for (key, value) in workload_labels {
        check("workload_labels", key, kube_rules::qualified_name);
        check("workload_labels", value, kube_rules::label_value);
    }
    problems
}

/// An `EnvoyFilter` object named `name` in `namespace`, labelled as ours and annotated with
/// the run, patching the proxies `workload_labels` select.
pub(crate) fn envoyfilter_object(
    name: &str,
    namespace: &str,
    workload_labels: &BTreeMap<String, String>,
    config_patches: Vec<ConfigPatch>,
    info: &GenerationInfo,
) -> EnvoyFilter {
    EnvoyFilter {
        api_version: API_VERSION.into(),
        kind: "EnvoyFilter".into(),
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(namespace.to_owned()),
            labels: Some(BTreeMap::from([(
                "app.kubernetes.io/managed-by".to_owned(),
                "trendmaster".to_owned(),
            )])),
            annotations: Some(generation_annotations(info).into_iter().collect()),
            ..ObjectMeta::default()
        },
        spec: EnvoyFilterSpec {
            workload_selector: WorkloadSelector {
                labels: workload_labels.clone(),
            },
            config_patches,
        },
    }
}

fn bucket(max_tokens: u32, tokens_per_fill: u32) -> TokenBucket {
    TokenBucket {
        max_tokens,
        tokens_per_fill,
        fill_interval: FILL_INTERVAL.into(),
    }
}

fn percent(runtime_key: &str, numerator: u32) -> RuntimeFractionalPercent {
    RuntimeFractionalPercent {
        runtime_key: runtime_key.into(),
        default_value: FractionalPercent {
            numerator,
            denominator: "HUNDRED".into(),
        },
    }
}

fn typed(value: LocalRateLimit) -> TypedStruct {
    TypedStruct {
        type_: TYPED_STRUCT.into(),
        type_url: LOCAL_RATE_LIMIT.into(),
        value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trendmaster_types::{AnalysisWindow, ChangeStatus, SeriesKey};

    fn settings() -> LocalRateLimitSettings {
        trendmaster_types::testing::local_ratelimit_settings()
    }

    fn info() -> GenerationInfo {
        crate::configmap::test_info()
    }

    fn entry(partner: &str, api: &str, emitted: u64) -> PlannedLimit {
        PlannedLimit {
            key: SeriesKey::new(partner, api),
            current: None,
            recommended: Some(emitted),
            emitted,
            status: ChangeStatus::New,
        }
    }

    fn route_config(filter: &EnvoyFilter) -> &LocalRateLimit {
        let PatchValue::Route(route) = &filter.spec.config_patches[1].patch.value else {
            panic!("the second patch is the route's");
        };
        &route.typed_per_filter_config[FILTER_NAME].value
    }

    #[test]
    fn a_stable_stamp_leaves_the_window_annotations_out() {
        let plan = [entry("111", "/a", 1000)];
        let render = |info: &GenerationInfo| {
            render_envoyfilter(&plan, "PARTNER", &settings(), Rollout::Enforce, info).unwrap()
        };
        let windowed = render(&info());
        assert!(windowed.yaml.contains("trendmaster.io/window-end: "));
        let stable = render(&info().stable());
        assert!(
            !stable.yaml.contains("trendmaster.io/window-"),
            "{}",
            stable.yaml
        );
        assert!(stable.yaml.contains("trendmaster.io/source: demo"));
        let later = GenerationInfo {
            window: AnalysisWindow::ending_at("2026-11-16T00:00:00Z".parse().unwrap(), 14, 60),
            ..info().stable()
        };
        assert_eq!(render(&later).yaml, stable.yaml);
    }

    #[test]
    fn one_bucket_per_partner_divided_across_replicas_and_parsed_back() {
        let plan = [
            entry("111", "/a", 1000),
            entry("111", "/b", 500),
            entry("222", "/a", 10),
        ];
        let rendered =
            render_envoyfilter(&plan, "PARTNER", &settings(), Rollout::Enforce, &info()).unwrap();
        // 1500 / 3 = 500 per proxy; 10 / 3 rounds up to 4, never below the global limit.
        assert_eq!(
            rendered.budgets,
            BTreeMap::from([("111".into(), 500), ("222".into(), 4)])
        );
        let parsed: EnvoyFilter = serde_yaml::from_str(&rendered.yaml).unwrap();
        assert_eq!(parsed, rendered.filter);
        assert_eq!(parsed.api_version, "networking.istio.io/v1alpha3");
        let config = route_config(&parsed);
        let buckets: Vec<(&str, u32, u32, &str)> = config
            .descriptors
            .iter()
            .map(|d| {
                (
                    d.entries[0].value.as_str(),
                    d.token_bucket.max_tokens,
                    d.token_bucket.tokens_per_fill,
                    d.token_bucket.fill_interval.as_str(),
                )
            })
            .collect();
        assert_eq!(buckets, [("111", 750, 500, "60s"), ("222", 6, 4, "60s")]);
        assert_eq!(config.token_bucket.as_ref().unwrap().tokens_per_fill, 504);
        assert_eq!(
            config
                .filter_enabled
                .as_ref()
                .unwrap()
                .default_value
                .numerator,
            100
        );
        assert_eq!(
            config
                .filter_enforced
                .as_ref()
                .unwrap()
                .default_value
                .numerator,
            100
        );
        assert_eq!(config.always_consume_default_token_bucket, Some(false));
        assert!(
            rendered
                .yaml
                .contains("\"@type\": type.googleapis.com/udpa.type.v1.TypedStruct")
                || rendered
                    .yaml
                    .contains("'@type': type.googleapis.com/udpa.type.v1.TypedStruct"),
            "{}",
            rendered.yaml
        );
    }

    #[test]
    fn shadow_counts_without_enforcing() {
        let rendered = render_envoyfilter(
            &[entry("111", "/a", 60)],
            "PARTNER",
            &settings(),
            Rollout::Shadow,
            &info(),
        )
        .unwrap();
        let config = route_config(&rendered.filter);
        assert_eq!(
            config
                .filter_enabled
                .as_ref()
                .unwrap()
                .default_value
                .numerator,
            100
        );
        assert_eq!(
            config
                .filter_enforced
                .as_ref()
                .unwrap()
                .default_value
                .numerator,
            0
        );
    }

    #[test]
    fn bad_names_and_oversized_budgets_are_refused() {
        let mut bad = settings();
        bad.name = "Local_RL".into();
        let error = render_envoyfilter(
            &[entry("1", "/a", 1)],
            "PARTNER",
            &bad,
            Rollout::Enforce,
            &info(),
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("LOCAL_RATELIMIT.name `Local_RL`"), "{error}");
        let mut single = settings();
        single.replicas = 1;
        let error = render_envoyfilter(
            &[entry("1", "/a", u64::from(u32::MAX) + 1)],
            "PARTNER",
            &single,
            Rollout::Enforce,
            &info(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("partner 1 needs 4294967296 tokens"),
            "{error}"
        );
    }
}
