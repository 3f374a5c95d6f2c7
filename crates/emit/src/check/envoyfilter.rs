//! An EnvoyFilter document: read into trendmaster's strict model of the EnvoyFilters it writes
//! ([`crate::envoyfilter`]), piece by piece so that each broken patch is reported, then checked
//! for what Kubernetes, Istio and Envoy would refuse and what would silently do nothing.
//!
//! Envoy's rules are its API's validation rules (`envoyproxy/data-plane-api`: `min_len`,
//! `min_items`, `lte` annotations) and the local rate limiter's own checks (`local rate limit
//! token bucket fill timer must be >= 50ms`, `token bucket must be set for per filter
//! configs`); see `envoy-istio-formats.md` § 2. Inside the local filter's TypedStruct, Envoy
//! 1.40 does not apply every annotation (it accepts `max_tokens: 0`, measured in
//! `crates/trendmaster/tests/envoy_local.rs`), so such rules are trendmaster's here.

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_yaml::Value;

use super::{CheckSource, METADATA_FIELDS, Sink, join, typed, unknown_fields};
use crate::envoyfilter::{
    API_VERSION, ConfigPatch, EnvoyFilter, EnvoyFilterSpec, FILTER_NAME, FilterConfig,
    FractionalPercent, HttpFilter, LOCAL_RATE_LIMIT, LocalRateLimit, PatchValue, RoutePatch,
    RuntimeFractionalPercent, TYPED_STRUCT, TokenBucket, TypedStruct, WorkloadSelector,
};
use crate::global_envoyfilter::{GLOBAL_FILTER_NAME, RATE_LIMIT, RateLimitFilter};
use crate::kube_rules;

const ENVOYFILTER_FIELDS: &[&str] = &["apiVersion", "kind", "metadata", "spec", "status"];
const CONTEXTS: &[&str] = &["ANY", "SIDECAR_INBOUND", "SIDECAR_OUTBOUND", "GATEWAY"];
const OPERATIONS: &[&str] = &[
    "MERGE",
    "ADD",
    "REMOVE",
    "INSERT_BEFORE",
    "INSERT_AFTER",
    "INSERT_FIRST",
    "REPLACE",
];
const INSERTS: &[&str] = &["INSERT_BEFORE", "INSERT_AFTER", "INSERT_FIRST"];
/// `RateLimit.stage` and `RouteAction.RateLimit.stage`: `lte: 10`.
const MAX_STAGE: u32 = 10;
/// The local rate limiter refuses shorter fill intervals.
const MIN_FILL_INTERVAL: Duration = Duration::from_millis(50);

/// Checks one EnvoyFilter document; returns `(path, domain)` of each global rate-limit filter.
pub(super) fn check_document(document: &Value, at: &mut Sink) -> Vec<(String, String)> {
    unknown_fields(
        document,
        "",
        ENVOYFILTER_FIELDS,
        at,
        CheckSource::Kubernetes,
    );
    let api_version = document.get("apiVersion").and_then(Value::as_str);
    if api_version != Some(API_VERSION) {
        let shown = api_version.map_or_else(|| "missing".to_owned(), |v| format!("`{v}`"));
        at.push(
            CheckSource::Kubernetes,
            "apiVersion",
            format!("apiVersion {shown}: Istio serves EnvoyFilter as `{API_VERSION}` only"),
        );
    }
    let Some(filter) = read(document, at) else {
        return Vec::new();
    };
    let mut check = Semantics {
        at,
        filter_stages: BTreeSet::new(),
        domains: Vec::new(),
    };
    check.object(&filter);
    check.domains
}

/// Reads the document into the model, reporting where each piece that does not fit fails.
fn read(document: &Value, at: &mut Sink) -> Option<EnvoyFilter> {
    let shape = |message: &str| format!("not the shape of trendmaster's EnvoyFilters: {message}");
    let metadata = match document.get("metadata") {
        None => {
            at.push(CheckSource::Kubernetes, "metadata", "missing");
            None
        }
        Some(metadata) => {
            unknown_fields(
                metadata,
                "metadata",
                METADATA_FIELDS,
                at,
                CheckSource::Kubernetes,
            );
            typed::<ObjectMeta>(metadata)
                .map_err(|(path, message)| {
                    at.push(CheckSource::Kubernetes, &join("metadata", &path), message)
                })
                .ok()
        }
    };
    let Some(spec) = document.get("spec") else {
        at.push(CheckSource::Istio, "spec", "missing");
        return None;
    };
    unknown_fields(
        spec,
        "spec",
        &["workloadSelector", "configPatches"],
        at,
        CheckSource::Trendmaster,
    );
    let workload_selector = match spec.get("workloadSelector") {
        None => {
            at.push(
                CheckSource::Trendmaster,
                "spec.workloadSelector",
                "missing: the patches would apply to every proxy of the namespace (of the \
                 mesh, in the root namespace)",
            );
            None
        }
        Some(selector) => typed::<WorkloadSelector>(selector)
            .map_err(|(path, message)| {
                let path = join("spec.workloadSelector", &path);
                at.push(CheckSource::Trendmaster, &path, shape(&message));
            })
            .ok(),
    };
    let patches = match spec.get("configPatches") {
        Some(Value::Sequence(patches)) => {
            let read: Vec<Option<ConfigPatch>> = patches
                .iter()
                .enumerate()
                .map(|(i, patch)| read_patch(patch, &format!("spec.configPatches[{i}]"), at))
                .collect();
            read.into_iter().collect::<Option<Vec<_>>>()
        }
        Some(other) => {
            let message = format!("a list of patches, not {}", describe(other));
            at.push(CheckSource::Istio, "spec.configPatches", message);
            None
        }
        None => Some(Vec::new()),
    };
    Some(EnvoyFilter {
        api_version: API_VERSION.to_owned(),
        kind: "EnvoyFilter".to_owned(),
        metadata: metadata?,
        spec: EnvoyFilterSpec {
            workload_selector: workload_selector?,
            config_patches: patches?,
        },
    })
}

/// One patch. The patch value and the filter config are untagged enums, whose errors only say
/// that no variant fits; on such an error the variant the patch means (by `applyTo`, by
/// `@type`) is read alone, which names the field.
fn read_patch(patch: &Value, path: &str, at: &mut Sink) -> Option<ConfigPatch> {
    let (error_path, message) = match typed::<ConfigPatch>(patch) {
        Ok(patch) => return Some(patch),
        Err(error) => error,
    };
    let (error_path, message) = match error_path.as_str() {
        "patch.value" => refine_patch_value(patch).unwrap_or((error_path, message)),
        _ => (error_path, message),
    };
    at.push(
        CheckSource::Trendmaster,
        &join(path, &error_path),
        format!("not the shape of trendmaster's EnvoyFilters: {message}"),
    );
    None
}

fn refine_patch_value(patch: &Value) -> Option<(String, String)> {
    let value = patch.get("patch")?.get("value")?;
    let prefixed = |(path, message): (String, String)| (join("patch.value", &path), message);
    match patch.get("applyTo")?.as_str()? {
        "HTTP_FILTER" => match typed::<HttpFilter>(value) {
            Ok(_) => None,
            Err((path, _)) if path == "typed_config" => {
                let config = value.get("typed_config")?;
                refine_typed_config(config)
                    .map(|(path, message)| (join("typed_config", &path), message))
                    .map(prefixed)
            }
            Err(error) => Some(prefixed(error)),
        },
        "HTTP_ROUTE" => typed::<RoutePatch>(value).err().map(prefixed),
        _ => None,
    }
}

fn refine_typed_config(config: &Value) -> Option<(String, String)> {
    match config.get("@type").and_then(Value::as_str) {
        Some(TYPED_STRUCT) => typed::<TypedStruct>(config).err(),
        Some(RATE_LIMIT) => typed::<RateLimitFilter>(config).err(),
        other => Some((
            "@type".to_owned(),
            format!(
                "{}: expected {TYPED_STRUCT} (the local rate limit) or {RATE_LIMIT} (the global one)",
                other.map_or_else(|| "missing".to_owned(), |t| format!("`{t}`"))
            ),
        )),
    }
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a map",
        Value::Tagged(_) => "a tagged value",
    }
}

/// The checks on a filter that reads into the model.
struct Semantics<'s, 'a> {
    at: &'s mut Sink<'a>,
    /// Stages of the rate-limit filters this object inserts (the local filter's is 0).
    filter_stages: BTreeSet<u32>,
    /// `(path, domain)` of each global filter.
    domains: Vec<(String, String)>,
}

impl Semantics<'_, '_> {
    fn push(&mut self, source: CheckSource, path: &str, message: impl Into<String>) {
        self.at.push(source, path, message);
    }

    fn object(&mut self, filter: &EnvoyFilter) {
        // The API server's naming rules, as for a ConfigMap's metadata.
        let as_configmap = ConfigMap {
            metadata: filter.metadata.clone(),
            ..ConfigMap::default()
        };
        let no_namespace = filter.metadata.namespace.is_none();
        for problem in kube_rules::check_configmap(&as_configmap) {
            if !(no_namespace && problem.field == "metadata.namespace") {
                self.push(CheckSource::Kubernetes, &problem.field, problem.message);
            }
        }
        let labels = &filter.spec.workload_selector.labels;
        if labels.is_empty() {
            self.push(
                CheckSource::Trendmaster,
                "spec.workloadSelector.labels",
                "empty: the patches would apply to every proxy of the namespace (of the mesh, in \
                 the root namespace)",
            );
        }
        for (key, value) in labels {
            let path = format!("spec.workloadSelector.labels[{key:?}]");
            for rule in [
                kube_rules::qualified_name(key),
                kube_rules::label_value(value),
            ] {
                if let Err(message) = rule {
                    self.push(CheckSource::Istio, &path, message);
                }
            }
        }
        let patches = &filter.spec.config_patches;
        if patches.is_empty() {
            self.push(
                CheckSource::Trendmaster,
                "spec.configPatches",
                "no patches: the EnvoyFilter changes nothing",
            );
        }
        // Filters first, so that the routes' stages can be matched against theirs.
        for (i, patch) in patches.iter().enumerate() {
            if let PatchValue::Filter(filter) = &patch.patch.value {
                self.filter_stages.insert(match &filter.typed_config {
                    FilterConfig::Local(_) => 0,
                    FilterConfig::Global(global) => global.stage,
                });
            }
            self.patch(patch, &format!("spec.configPatches[{i}]"));
        }
    }

    fn patch(&mut self, patch: &ConfigPatch, path: &str) {
        let context = &patch.match_.context;
        if !CONTEXTS.contains(&context.as_str()) {
            self.push(
                CheckSource::Istio,
                &join(path, "match.context"),
                format!("`{context}`: not one of {}", CONTEXTS.join(", ")),
            );
        }
        let operation = patch.patch.operation.as_str();
        if !OPERATIONS.contains(&operation) {
            self.push(
                CheckSource::Istio,
                &join(path, "patch.operation"),
                format!("`{operation}`: not one of {}", OPERATIONS.join(", ")),
            );
        }
        let value_path = join(path, "patch.value");
        match (patch.apply_to.as_str(), &patch.patch.value) {
            ("HTTP_FILTER", value) => {
                if patch.match_.route_configuration.is_some() {
                    self.push(
                        CheckSource::Istio,
                        &join(path, "match"),
                        "Envoy filter: applyTo for listener class objects cannot have non \
                         listener match",
                    );
                }
                if OPERATIONS.contains(&operation) && !INSERTS.contains(&operation) {
                    self.push(
                        CheckSource::Trendmaster,
                        &join(path, "patch.operation"),
                        format!(
                            "`{operation}`: a rate-limit filter is inserted into the chain \
                             (INSERT_BEFORE, INSERT_AFTER or INSERT_FIRST)"
                        ),
                    );
                }
                match value {
                    PatchValue::Filter(filter) => self.http_filter(filter, &value_path),
                    PatchValue::Route(_) => self.push(
                        CheckSource::Istio,
                        &value_path,
                        "route fields in an HTTP_FILTER patch: the value must be an HTTP filter",
                    ),
                }
            }
            ("HTTP_ROUTE", value) => {
                if patch.match_.listener.is_some() {
                    self.push(
                        CheckSource::Istio,
                        &join(path, "match"),
                        "Envoy filter: applyTo for http route class objects cannot have non \
                         route configuration match",
                    );
                }
                if OPERATIONS.contains(&operation) && operation != "MERGE" {
                    self.push(
                        CheckSource::Trendmaster,
                        &join(path, "patch.operation"),
                        format!("`{operation}`: rate_limits are merged into routes (MERGE)"),
                    );
                }
                match value {
                    PatchValue::Route(route) => self.route(route, &value_path),
                    PatchValue::Filter(_) => self.push(
                        CheckSource::Istio,
                        &value_path,
                        "an HTTP filter in an HTTP_ROUTE patch: the value must be route fields",
                    ),
                }
            }
            (other, _) => self.push(
                CheckSource::Trendmaster,
                &join(path, "applyTo"),
                format!("`{other}`: trendmaster's EnvoyFilters patch HTTP_FILTER and HTTP_ROUTE"),
            ),
        }
    }

    fn http_filter(&mut self, filter: &HttpFilter, path: &str) {
        let config_path = join(path, "typed_config");
        let expected_name = match &filter.typed_config {
            FilterConfig::Local(typed) => {
                self.typed_struct(typed, &config_path, false);
                FILTER_NAME
            }
            FilterConfig::Global(global) => {
                self.global(global, &config_path);
                GLOBAL_FILTER_NAME
            }
        };
        if filter.name != expected_name {
            self.push(
                CheckSource::Trendmaster,
                &join(path, "name"),
                format!(
                    "`{}`: its typed_config is {expected_name}'s, which is the name Envoy \
                     reports it under",
                    filter.name
                ),
            );
        }
    }

    fn global(&mut self, filter: &RateLimitFilter, path: &str) {
        if filter.type_ != RATE_LIMIT {
            self.push(
                CheckSource::Istio,
                &join(path, "@type"),
                format!("`{}`: expected {RATE_LIMIT}", filter.type_),
            );
        }
        let domain_path = join(path, "domain");
        if filter.domain.is_empty() {
            self.push(
                CheckSource::Istio,
                &domain_path,
                "empty: Envoy requires a domain (min_len 1), the ratelimit service's config is \
                 looked up by it",
            );
        } else {
            if filter.domain.contains('.') {
                self.push(
                    CheckSource::Trendmaster,
                    &domain_path,
                    format!(
                        "domain '{}' contains '.', which scrambles the Prometheus labels of the \
                         ratelimit service's stats",
                        filter.domain
                    ),
                );
            }
            self.domains
                .push((self.at.path(&domain_path), filter.domain.clone()));
        }
        self.stage(filter.stage, &join(path, "stage"));
        match protobuf_duration(&filter.timeout) {
            None => self.push(
                CheckSource::Istio,
                &join(path, "timeout"),
                bad_duration(&filter.timeout),
            ),
            Some(timeout) if timeout.is_zero() => self.push(
                CheckSource::Trendmaster,
                &join(path, "timeout"),
                "0s: not a positive duration such as 0.1s",
            ),
            Some(_) => {}
        }
        if let Some(headers) = &filter.enable_x_ratelimit_headers
            && !["OFF", "DRAFT_VERSION_03"].contains(&headers.as_str())
        {
            self.push(
                CheckSource::Istio,
                &join(path, "enable_x_ratelimit_headers"),
                format!("`{headers}`: not one of OFF, DRAFT_VERSION_03"),
            );
        }
        let service = &filter.rate_limit_service;
        if service.transport_api_version != "V3" {
            self.push(
                CheckSource::Istio,
                &join(path, "rate_limit_service.transport_api_version"),
                format!(
                    "`{}`: Envoy only speaks V3 to the ratelimit service",
                    service.transport_api_version
                ),
            );
        }
        if service.grpc_service.envoy_grpc.cluster_name.is_empty() {
            self.push(
                CheckSource::Istio,
                &join(
                    path,
                    "rate_limit_service.grpc_service.envoy_grpc.cluster_name",
                ),
                "empty: Envoy requires the ratelimit service's cluster (min_len 1)",
            );
        }
    }

    fn stage(&mut self, stage: u32, path: &str) {
        if stage > MAX_STAGE {
            self.push(
                CheckSource::Istio,
                path,
                format!("{stage}: Envoy allows stages 0 to {MAX_STAGE}"),
            );
        }
    }

    fn typed_struct(&mut self, typed: &TypedStruct, path: &str, per_route: bool) {
        if typed.type_ != TYPED_STRUCT {
            self.push(
                CheckSource::Istio,
                &join(path, "@type"),
                format!("`{}`: expected {TYPED_STRUCT}", typed.type_),
            );
        }
        if typed.type_url != LOCAL_RATE_LIMIT {
            self.push(
                CheckSource::Istio,
                &join(path, "type_url"),
                format!("`{}`: expected {LOCAL_RATE_LIMIT}", typed.type_url),
            );
        }
        self.local(&typed.value, &join(path, "value"), per_route);
    }

    fn local(&mut self, config: &LocalRateLimit, path: &str, per_route: bool) {
        if config.stat_prefix.is_empty() {
            self.push(
                CheckSource::Istio,
                &join(path, "stat_prefix"),
                "empty: Envoy requires a stat prefix (min_len 1)",
            );
        }
        let default_fill = match &config.token_bucket {
            Some(bucket) => self.bucket(bucket, &join(path, "token_bucket")),
            None if per_route => {
                self.push(
                    CheckSource::Istio,
                    &join(path, "token_bucket"),
                    "missing: token bucket must be set for per filter configs (Envoy)",
                );
                None
            }
            None => None,
        };
        for (field, percent, effect) in [
            (
                "filter_enabled",
                &config.filter_enabled,
                "checks no request",
            ),
            (
                "filter_enforced",
                &config.filter_enforced,
                "rejects no request",
            ),
        ] {
            match percent {
                Some(percent) => self.percent(percent, &join(path, field)),
                None if per_route => self.push(
                    CheckSource::Trendmaster,
                    &join(path, field),
                    format!("missing: Envoy's default is 0 %, so the filter {effect}"),
                ),
                None => {}
            }
        }
        for (i, descriptor) in config.descriptors.iter().enumerate() {
            let at = join(path, &format!("descriptors[{i}]"));
            if descriptor.entries.is_empty() {
                self.push(
                    CheckSource::Istio,
                    &join(&at, "entries"),
                    "empty: Envoy requires at least one entry (min_items 1)",
                );
            }
            for (j, entry) in descriptor.entries.iter().enumerate() {
                if entry.key.is_empty() {
                    self.push(
                        CheckSource::Istio,
                        &join(&at, &format!("entries[{j}].key")),
                        "empty: Envoy requires a key (min_len 1)",
                    );
                }
            }
            let bucket_path = join(&at, "token_bucket");
            let fill = self.bucket(&descriptor.token_bucket, &bucket_path);
            if let (Some(fill), Some(default)) = (fill, default_fill)
                && !default.is_zero()
                && fill.as_nanos() % default.as_nanos() != 0
            {
                // Older Envoys rejected the listener for this; 1.40 accepts it (measured).
                self.push(
                    CheckSource::Trendmaster,
                    &join(&bucket_path, "fill_interval"),
                    format!(
                        "local rate descriptor limit is not a multiple of token bucket fill \
                         timer ({} against the default bucket's {}): Envoys before 1.40 \
                         reject the listener",
                        descriptor.token_bucket.fill_interval,
                        config
                            .token_bucket
                            .as_ref()
                            .map_or("", |b| b.fill_interval.as_str())
                    ),
                );
            }
        }
    }

    /// A token bucket's rules; its fill interval when that is valid.
    fn bucket(&mut self, bucket: &TokenBucket, path: &str) -> Option<Duration> {
        // Envoy's API says `gt: 0` for both, but Envoy 1.40 accepts 0 inside the TypedStruct
        // (measured, `crates/trendmaster/tests/envoy_local.rs`), so these are ours to refuse.
        if bucket.max_tokens == 0 {
            self.push(
                CheckSource::Trendmaster,
                &join(path, "max_tokens"),
                "0: a bucket of no tokens rejects every request",
            );
        }
        if bucket.tokens_per_fill == 0 {
            self.push(
                CheckSource::Trendmaster,
                &join(path, "tokens_per_fill"),
                "0: the bucket is never refilled, so it rejects every request once drained",
            );
        }
        if bucket.max_tokens > 0 && bucket.max_tokens < bucket.tokens_per_fill {
            self.push(
                CheckSource::Trendmaster,
                path,
                format!(
                    "max_tokens {} is below tokens_per_fill {}: the bucket never holds a whole \
                     fill, so it throttles below the limit",
                    bucket.max_tokens, bucket.tokens_per_fill
                ),
            );
        }
        let fill_path = join(path, "fill_interval");
        match protobuf_duration(&bucket.fill_interval) {
            None => {
                self.push(
                    CheckSource::Istio,
                    &fill_path,
                    bad_duration(&bucket.fill_interval),
                );
                None
            }
            Some(fill) if fill < MIN_FILL_INTERVAL => {
                self.push(
                    CheckSource::Istio,
                    &fill_path,
                    format!(
                        "local rate limit token bucket fill timer must be >= 50ms (it is {})",
                        bucket.fill_interval
                    ),
                );
                None
            }
            Some(fill) => Some(fill),
        }
    }

    fn percent(&mut self, percent: &RuntimeFractionalPercent, path: &str) {
        let FractionalPercent {
            numerator,
            denominator,
        } = &percent.default_value;
        let scale = match denominator.as_str() {
            "HUNDRED" => 100,
            "TEN_THOUSAND" => 10_000,
            "MILLION" => 1_000_000,
            other => {
                self.push(
                    CheckSource::Istio,
                    &join(path, "default_value.denominator"),
                    format!("`{other}`: not one of HUNDRED, TEN_THOUSAND, MILLION"),
                );
                return;
            }
        };
        if *numerator > scale {
            self.push(
                CheckSource::Trendmaster,
                &join(path, "default_value.numerator"),
                format!("{numerator} out of {denominator}: more than 100 %"),
            );
        }
    }

    fn route(&mut self, route: &RoutePatch, path: &str) {
        let rate_limits = &route.route.rate_limits;
        if rate_limits.is_empty() && route.typed_per_filter_config.is_empty() {
            self.push(
                CheckSource::Trendmaster,
                path,
                "no rate_limits and no per-route config: the patch changes nothing",
            );
        }
        for (i, entry) in rate_limits.iter().enumerate() {
            let at = join(path, &format!("route.rate_limits[{i}]"));
            let stage = entry.stage.unwrap_or(0);
            self.stage(stage, &join(&at, "stage"));
            if !self.filter_stages.is_empty() && !self.filter_stages.contains(&stage) {
                let stages: Vec<String> = self.filter_stages.iter().map(u32::to_string).collect();
                self.push(
                    CheckSource::Trendmaster,
                    &join(&at, "stage"),
                    format!(
                        "stage {stage}: the rate-limit filters of this EnvoyFilter evaluate \
                         stage {} only, so no descriptor is sent for this entry",
                        stages.join(" and ")
                    ),
                );
            }
            if entry.actions.is_empty() {
                self.push(
                    CheckSource::Istio,
                    &join(&at, "actions"),
                    "empty: Envoy requires at least one action (min_items 1)",
                );
            }
            for (j, action) in entry.actions.iter().enumerate() {
                let at = join(&at, &format!("actions[{j}]"));
                self.action(action, &at);
            }
        }
        for (name, typed) in &route.typed_per_filter_config {
            let at = join(path, &format!("typed_per_filter_config[{name:?}]"));
            if name != FILTER_NAME {
                self.push(
                    CheckSource::Trendmaster,
                    &at,
                    format!("`{name}`: only {FILTER_NAME} is configured per route"),
                );
            }
            self.typed_struct(typed, &at, true);
        }
    }

    fn action(&mut self, action: &crate::envoyfilter::RateLimitAction, path: &str) {
        match (&action.request_headers, &action.header_value_match) {
            (None, None) => self.push(
                CheckSource::Istio,
                path,
                "no action: Envoy requires exactly one of request_headers, header_value_match, …",
            ),
            (Some(_), Some(_)) => self.push(
                CheckSource::Istio,
                path,
                "both request_headers and header_value_match: an action is exactly one of them",
            ),
            _ => {}
        }
        if let Some(headers) = &action.request_headers {
            let at = join(path, "request_headers");
            for (field, value) in [
                ("header_name", &headers.header_name),
                ("descriptor_key", &headers.descriptor_key),
            ] {
                if value.is_empty() {
                    self.push(
                        CheckSource::Istio,
                        &join(&at, field),
                        "empty: Envoy requires it (min_len 1)",
                    );
                }
            }
        }
        if let Some(matcher) = &action.header_value_match {
            let at = join(path, "header_value_match");
            if matcher.descriptor_value.is_empty() {
                self.push(
                    CheckSource::Istio,
                    &join(&at, "descriptor_value"),
                    "empty: Envoy requires it (min_len 1)",
                );
            }
            if matcher.headers.is_empty() {
                self.push(
                    CheckSource::Istio,
                    &join(&at, "headers"),
                    "empty: Envoy requires at least one header matcher (min_items 1)",
                );
            }
            for (k, header) in matcher.headers.iter().enumerate() {
                let at = join(&at, &format!("headers[{k}]"));
                if header.name.is_empty() {
                    self.push(
                        CheckSource::Istio,
                        &join(&at, "name"),
                        "empty: Envoy requires it (min_len 1)",
                    );
                }
                if header.string_match.prefix.is_empty() {
                    self.push(
                        CheckSource::Istio,
                        &join(&at, "string_match.prefix"),
                        "empty: Envoy requires it (min_len 1)",
                    );
                }
            }
        }
    }
}

fn bad_duration(text: &str) -> String {
    format!(
        "`{text}`: not a protobuf duration (seconds with up to 9 decimals and an `s`, such as \
         60s or 0.1s)"
    )
}

/// protobuf's JSON form of a `Duration`: `<seconds>[.<up to 9 digits>]s`, not negative.
pub(crate) fn protobuf_duration(text: &str) -> Option<Duration> {
    let number = text.strip_suffix('s')?;
    let (seconds, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(seconds) || (number.contains('.') && (!digits(fraction) || fraction.len() > 9)) {
        return None;
    }
    let nanos = if fraction.is_empty() {
        0
    } else {
        format!("{fraction:0<9}").parse().ok()?
    };
    Some(Duration::new(seconds.parse().ok()?, nanos))
}
