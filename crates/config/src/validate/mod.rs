//! Range and consistency checks on the resolved values: the problems that parse fine but would
//! make a wrong or dangerous limit.
//!
//! One file per group of configuration sections. [`validate`] runs the groups' checks in the
//! order problems have always been reported in, which interleaves the sections; tests and the
//! bad-input corpus compare that order.

mod check;
mod detection;
mod formula;
mod prometheus;
mod rollout;
mod selection;

use crate::error::{ConfigError, ConfigProblems};
use crate::layers::{Layer, origin_of};
use crate::resolved::ResolvedConfig;

/// Range and consistency checks on the merged values; each problem names the layer that set
/// the offending key.
pub fn validate(config: &ResolvedConfig, layers: &[Layer], problems: &mut ConfigProblems) {
    // An empty selection caused by unknown --partners/--apis values is already explained.
    let unknown_partner = problems
        .iter()
        .any(|p| matches!(p, ConfigError::UnknownPartner { .. }));
    let unknown_api = problems
        .iter()
        .any(|p| matches!(p, ConfigError::UnknownApi { .. }));
    let mut check = |ok: bool, path: &[&str], message: String| {
        if !ok {
            problems.push(ConfigError::Invalid {
                origin: origin_of(layers, path).to_string(),
                key: path.join("."),
                message,
            });
        }
    };

    selection::check_data_and_selection(config, unknown_partner, unknown_api, &mut check);
    formula::check_rate_calculation(config, &mut check);
    formula::check_cache(config, &mut check);
    formula::check_confidence(config, &mut check);
    formula::check_trend_and_coverage(config, &mut check);
    detection::check_fixed_prime_time(config, &mut check);
    prometheus::check_prometheus(config, &mut check);
    detection::check_forecast(config, &mut check);
    detection::check_prime_time_detection(config, &mut check);
    detection::check_robust_zscores(config, &mut check);
    selection::check_tiers(config, &mut check);
    rollout::check_governance(config, &mut check);
    rollout::check_local_ratelimit(config, &mut check);
    rollout::check_global_ratelimit(config, &mut check);
    rollout::check_alerts(config, &mut check);
    detection::check_anomaly_thresholds(config, &mut check);
}
