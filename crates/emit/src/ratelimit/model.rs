//! The model: a ratelimit config file as the service's loader reads it.

use serde::{Deserialize, Serialize};

use crate::error::EmitError;

/// One ratelimit config file: a domain and its descriptor tree.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RateLimitConfig {
    /// `domain`: required, unique across loaded files; Envoy's ratelimit filter names it.
    pub domain: String,
    /// `descriptors`: the tree's top level.
    #[serde(default)]
    pub descriptors: Vec<Descriptor>,
}

/// One level of the descriptor tree. A request descriptor matches a path exactly as deep as it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Descriptor {
    /// `key`: required, non-empty; the request descriptor entry's key.
    pub key: String,
    /// `value`, may hold `*` wildcards; absent: the default entry for `key` at this level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Absent (and no nested descriptors): requests matching here are not limited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// `shadow_mode`: count over-limit requests but always answer OK.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow_mode: Option<bool>,
    /// `detailed_metric`: put the request's value in the stat name (beware cardinality).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detailed_metric: Option<bool>,
    /// `value_to_metric`: the request's value in the stat name for this level only (newer images).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_to_metric: Option<bool>,
    /// `share_threshold`: all values matching this wildcard share one counter (newer images).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_threshold: Option<bool>,
    /// `quota_mode`: a soft limit, reported in metadata instead of rejected (newest images).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota_mode: Option<bool>,
    /// `metadata`: free-form map returned to the client (newest images).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_yaml::Mapping>,
    /// `descriptors`: the next level of the tree.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub descriptors: Vec<Descriptor>,
}

/// The limit applied where a descriptor path ends.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RateLimit {
    /// `second`, `minute`, `hour`, `day` (newer images also `week`, `month`, `year`); empty only
    /// for an unlimited entry.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub unit: String,
    /// 0 blocks every request, which is why the validator refuses it.
    #[serde(default)]
    pub requests_per_unit: u32,
    /// `unlimited`: never limit, answered without Redis; `unit` must then be empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unlimited: Option<bool>,
    /// Target for another limit's `replaces`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `replaces`: named limits this one overrides when both match a request.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replaces: Vec<Replaces>,
}

/// One entry of `rate_limit.replaces`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Replaces {
    /// `name`: another limit's `name`; non-empty, never this limit's own.
    pub name: String,
}

impl RateLimitConfig {
    /// The file as the ratelimit service reads it (no header; see [`crate::configmap`]).
    pub fn to_yaml(&self) -> Result<String, EmitError> {
        serde_yaml::to_string(self).map_err(|source| EmitError::Serialize {
            what: format!("ratelimit config for domain {}", self.domain),
            source,
        })
    }
}
