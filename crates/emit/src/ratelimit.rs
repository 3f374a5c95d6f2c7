//! The envoyproxy/ratelimit service's configuration file, as a typed model (`model`), and a
//! re-implementation of its loader's checks (`loader_rules`).
//!
//! The model covers the loader's whole schema (`src/config/config_impl.go`), not only what
//! trendmaster emits, so that [`validate_ratelimit_yaml`] can hand back any file the loader
//! accepts without dropping fields. Optional fields are left out of the YAML when unset, and
//! fields come out in the order the upstream README documents them.

mod loader_rules;
mod model;

pub use loader_rules::{
    LoaderError, RuleSource, read_ratelimit_yaml, validate_ratelimit_files, validate_ratelimit_yaml,
};
pub use model::{Descriptor, RateLimit, RateLimitConfig, Replaces};
