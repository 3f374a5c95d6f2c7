//! Environment detection and layered configuration: everything trendmaster knows before it
//! reads any traffic.
//!
//! [`load`] turns the layers — built-in defaults (the shipped `config/config.yaml`, compiled in),
//! the config file, `.local.config.yaml`, the environment's `DEPLOYMENT_OVERRIDES`, environment
//! variables and command-line [`Overrides`] — into one validated [`ResolvedConfig`]. Nothing
//! downstream reads files or environment variables on its own.
//!
//! Every problem is collected, not just the first: unknown keys (with a "did you mean"), wrong
//! types, unset `${VAR}`s and out-of-range values each become one [`ConfigError`] naming the file
//! and key, gathered in [`ConfigProblems`].
//!
//! This crate does not fetch data, compute limits or check Kubernetes naming rules of the
//! emitted ConfigMap (the emit crate owns those).
//!
//! ```no_run
//! use trendmaster_config::{load, LoadOptions, Overrides};
//! let config = load(&LoadOptions::default(), &Overrides::default(), &|name| std::env::var(name).ok())
//!     .expect("valid configuration");
//! println!("{} partners in {}", config.partners.len(), config.environment.name);
//! ```

#![warn(missing_docs)]

mod defaults;
mod detect;
mod error;
mod layers;
mod resolve;
mod resolved;
mod schema;
mod substitute;
mod validate;

pub use defaults::{BUILT_IN_CONFIG, DEFAULT_ENVIRONMENT};
pub use detect::{Detection, ENVIRONMENT_VARIABLES, EnvironmentInfo};
pub use error::{ConfigError, ConfigProblems};
pub use resolve::{LoadOptions, Overrides, load, load_for_validation};
pub use resolved::{Discovery, ResolvedConfig};
pub use schema::Exclusions;
