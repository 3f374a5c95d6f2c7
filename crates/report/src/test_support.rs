//! The shared test values under the names this crate's tests use.

pub(crate) use trendmaster_types::testing::{
    configmap_settings as settings, recommendation as rec, window,
};
