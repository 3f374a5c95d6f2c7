//! What applies when nothing else is configured: the built-in layer and the default environment.

/// The shipped `config/config.yaml`, which is also the built-in default layer.
pub const BUILT_IN_CONFIG: &str = include_str!("../../../config/config.yaml");

/// Name of the default environment when nothing selects one.
pub const DEFAULT_ENVIRONMENT: &str = "environment";
