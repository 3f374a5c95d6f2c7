//! The degraded (load-shedding) profile: for an incident, every partner keeps only its tier's
//! `degraded_factor` of its limits, so lower tiers are cut hardest and the top tier is kept.

use trendmaster_types::plan::{ChangeStatus, PlannedLimit};
use trendmaster_types::settings::{Rounding, TierSettings};

/// The degraded variant of `plan`: every emitted limit cut to its partner's tier
/// `degraded_factor` (rounded up, and never above the normal limit), and
/// marked to be written even where the normal plan keeps the deployed value. Entries of a tier
/// that keeps everything (factor 1) stay exactly as in the normal plan.
pub(crate) fn degraded(
    plan: &[PlannedLimit],
    tiers: &TierSettings,
    rounding: Rounding,
) -> Vec<PlannedLimit> {
    plan.iter()
        .map(|entry| {
            let factor = tiers
                .tier_of(&entry.key.partner)
                .1
                .map_or(1.0, |tier| tier.degraded_factor);
            if factor >= 1.0 {
                return entry.clone();
            }
            let cut = rounding.up(entry.emitted as f64 * factor) as u64;
            PlannedLimit {
                emitted: cut.clamp(1, entry.emitted.max(1)),
                status: ChangeStatus::Changed,
                ..entry.clone()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::approvals::Approvals;
    use crate::holds::plan_entries;
    use crate::test_support::{deployed, key, limits, stability};
    use trendmaster_types::settings::Tier;

    #[test]
    fn the_degraded_profile_cuts_lower_tiers_and_keeps_the_top_one() {
        let tiers = TierSettings {
            default_tier: "free".into(),
            tiers: [
                (
                    "free".into(),
                    Tier {
                        multiplier: 1.0,
                        degraded_factor: 0.5,
                    },
                ),
                (
                    "enterprise".into(),
                    Tier {
                        multiplier: 1.0,
                        degraded_factor: 1.0,
                    },
                ),
            ]
            .into(),
            partner_tiers: [("111".into(), "enterprise".into())].into(),
        };
        let deployed = deployed();
        let recommended = limits([
            (key("111", "/api/a"), 3000), // held at 1000
            (key("111", "/api/b"), 300),  // stepped: 600 → 500
            (key("222", "/api/a"), 1500),
            (key("222", "/api/b"), 150),
        ]);
        let normal = plan_entries(
            &recommended,
            Some(&deployed),
            1.8,
            &stability(),
            &Approvals::None,
        );
        let cut = degraded(&normal, &tiers, crate::test_support::STEP_100);
        for (n, d) in normal.iter().zip(&cut) {
            assert!(d.emitted <= n.emitted, "{d:?} vs {n:?}");
            if n.key.partner == "111" {
                assert_eq!(d, n, "the top tier keeps everything");
            }
        }
        let values: Vec<(ChangeStatus, u64)> = cut.iter().map(|p| (p.status, p.emitted)).collect();
        assert_eq!(
            values,
            vec![
                (ChangeStatus::Held, 1000),
                (ChangeStatus::Stepped, 500),
                (ChangeStatus::Changed, 800),
                (ChangeStatus::Changed, 100)
            ],
            "111's statuses flow through, 222 halved, rounded up to 100"
        );
    }
}
