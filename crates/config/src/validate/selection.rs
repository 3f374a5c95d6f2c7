//! What is analysed and how it is weighted: `COMMON.DATA`, `PARTNER_CONFIGS` (selection,
//! partner multipliers and tiers), `COMMON.PATH_MULTIPLIERS` and `COMMON.TIERS`.

use std::collections::BTreeSet;

use super::check::{Check, positive};
use crate::resolved::ResolvedConfig;

/// The window's length, the selected partners and APIs, and the partner and path multipliers.
/// `unknown_partner`/`unknown_api`: an unknown `--partners`/`--apis` value already explains an
/// empty selection.
pub(super) fn check_data_and_selection(
    config: &ResolvedConfig,
    unknown_partner: bool,
    unknown_api: bool,
    check: &mut Check<'_>,
) {
    let env = config.environment.name.as_str();
    check(
        config.days >= 1 && config.days <= 400,
        &["COMMON", "DATA", "days"],
        format!("must be between 1 and 400 days, got {}", config.days),
    );
    let partners_path = ["PARTNER_CONFIGS", env, "partners"];
    check(
        unknown_partner || config.discovery.partners || !config.partners.is_empty(),
        &partners_path,
        "no partners selected".into(),
    );
    check(
        unknown_api || config.discovery.apis || !config.apis.is_empty(),
        &["PARTNER_CONFIGS", env, "apis"],
        "no APIs selected".into(),
    );
    for (what, items) in [("partners", &config.partners), ("apis", &config.apis)] {
        let path = ["PARTNER_CONFIGS", env, what];
        let mut seen = BTreeSet::new();
        for item in items.iter() {
            check(
                seen.insert(item),
                &path,
                format!("`{item}` is listed twice"),
            );
            check(
                !item.trim().is_empty(),
                &path,
                "contains an empty entry".into(),
            );
            // A '.' splits ratelimit stat names (see envoy-istio-formats §1.3).
            check(
                !item.contains('.'),
                &path,
                format!(
                    "`{item}` contains `.`, which scrambles the ratelimit service's metric names"
                ),
            );
        }
    }
    check(
        config.discovery.max_series >= 1,
        &["PARTNER_CONFIGS", env, "max_series"],
        "must be at least 1".into(),
    );
    for (partner, multiplier) in &config.multipliers.partner {
        let path = [
            "PARTNER_CONFIGS",
            env,
            "partner_multipliers",
            partner.as_str(),
        ];
        check(
            positive(*multiplier),
            &path,
            format!("must be a positive number, got {multiplier}"),
        );
    }
    for (pattern, multiplier) in &config.multipliers.path {
        let path = ["COMMON", "PATH_MULTIPLIERS", pattern.as_str()];
        check(
            positive(*multiplier),
            &path,
            format!("must be a positive number, got {multiplier}"),
        );
        check(
            !pattern.is_empty(),
            &path,
            "empty pattern matches every path".into(),
        );
    }
}

/// The default tier and every tier exist, and their factors are in range.
pub(super) fn check_tiers(config: &ResolvedConfig, check: &mut Check<'_>) {
    let tiers = &config.multipliers.tiers;
    check(
        tiers.tiers.contains_key(&tiers.default_tier),
        &["COMMON", "TIERS", "default_tier"],
        format!(
            "`{}` is not one of COMMON.TIERS.tiers ({})",
            tiers.default_tier,
            tiers.tiers.keys().cloned().collect::<Vec<_>>().join(", ")
        ),
    );
    for (name, tier) in &tiers.tiers {
        check(
            positive(tier.multiplier),
            &["COMMON", "TIERS", "tiers", name, "multiplier"],
            format!("must be a positive number, got {}", tier.multiplier),
        );
        check(
            tier.degraded_factor > 0.0 && tier.degraded_factor <= 1.0,
            &["COMMON", "TIERS", "tiers", name, "degraded_factor"],
            format!(
                "must be above 0 and at most 1 (the share of the normal limit kept), got {}",
                tier.degraded_factor
            ),
        );
    }
    for (partner, tier) in &tiers.partner_tiers {
        check(
            tiers.tiers.contains_key(tier),
            &[
                "PARTNER_CONFIGS",
                &config.environment.name,
                "partner_tiers",
                partner,
            ],
            format!("tier `{tier}` is not one of COMMON.TIERS.tiers"),
        );
    }
}
