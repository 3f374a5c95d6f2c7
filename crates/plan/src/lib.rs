//! Governance: the stage between calculate and emit. It decides, for every partner × API
//! entry, what the emitted configuration holds, given what is deployed.
//!
//! Input: this run's recommendations, the deployed limits (requests per minute, as emit read
//! them back), the environment's governance and tier settings, and the approvals given.
//! Output: a [`Plan`] — per entry the deployed, recommended and emitted value and the status
//! that explains it, in the normal and the degraded profile — or a typed refusal
//! ([`PlanError::MassCut`]).
//!
//! The rules, applied in this order to each deployed entry with a recommendation (one module
//! each):
//! - `stability`, before anything is held:
//!   1. **floor**: a deployed limit below the highest legitimate minute
//!      ([`RecommendedLimit::floor`]) always rises, to `max(recommended, floor)` rounded up to
//!      the rounding step; the deadband does not keep it, censoring and the cut bound do not
//!      apply (it is a raise), but a raise beyond `max_change_ratio` is held like any other;
//!   2. **unchanged**: the recommendation equals the deployed limit;
//!   3. **censored**: when observed traffic understates demand ([`RecommendedLimit::censored`]),
//!      a cut keeps the deployed limit (status `censored`); a raise goes on as usual;
//!   4. **deadband**: a change smaller than `deadband` × deployed keeps it (status `kept`; not a
//!      change for `--detailed-exitcode`); a change exactly at the deadband goes on;
//!   5. **bounded cut**: a cut deeper than `max_cut_per_run` × deployed emits deployed ×
//!      (1 − `max_cut_per_run`) rounded up to the rounding step — at least one step below the
//!      deployed limit, never below the recommendation — status `stepped`; the next runs go
//!      on from there. Raises take effect at once.
//! - `holds`: a change beyond `max_change_ratio` (up or down), judged on the value this run
//!   would emit, is **held** at the deployed value until approved — except that a deployed
//!   value below the recommendation's floor (the highest legitimate minute) rises to the floor
//!   at once, since it throttles legitimate traffic today. A stepped cut is therefore
//!   never held while `max_cut_per_run ≤ 1 − 1/max_change_ratio`. A deployed entry without a
//!   recommendation is **kept**;
//! - [`Approvals`]: `--approve` releases a held change and a stepped cut in full (status
//!   `approved`): the operator asked for that value. It does not release a censored cut (such
//!   a series is never cut) or a change within the deadband;
//! - `gate`: the mass-cut sanity gate, which refuses the whole plan when too many deployed
//!   entries would be cut at once (broken data looks like that). It judges the
//!   recommendations, not the stepped values: broken data stepped down 20 % a run is still
//!   broken data. Approved and censored entries do not count;
//! - `degraded`: the load-shedding profile, each tier cut by its `degraded_factor` of the
//!   emitted value (entries of a tier that keeps everything keep their status).
//!
//! New entries (nothing deployed) are emitted as recommended.
//!
//! This crate does not read or write files, compute recommendations, or know the ratelimit
//! service's file format: the deployed state arrives as plain numbers, and emit renders the
//! plan.
//!
//! ```
//! use std::collections::BTreeMap;
//! use trendmaster_plan::{Approvals, ChangeStatus, Governance, RecommendedLimit, plan};
//! use trendmaster_types::SeriesKey;
//! use trendmaster_types::settings::{GovernanceSettings, Rounding, TierSettings};
//!
//! let (a, b, c) = (
//!     SeriesKey::new("111", "/api/a"),
//!     SeriesKey::new("111", "/api/b"),
//!     SeriesKey::new("111", "/api/c"),
//! );
//! let recommended = BTreeMap::from([
//!     (a.clone(), RecommendedLimit::new(3000)), // 3× up
//!     (b.clone(), RecommendedLimit::new(1050)), // +5 %
//!     (c.clone(), RecommendedLimit::new(400)),  // −60 %
//! ]);
//! let deployed = BTreeMap::from([(a, 1000), (b, 1000), (c, 1000)]);
//! let settings = GovernanceSettings {
//!     max_change_ratio: 1.8,
//!     max_cut_share: 0.5,
//!     deadband: 0.1,
//!     max_cut_per_run: 0.2,
//!     saturated_level: 0.95,
//!     saturated_share: 0.05,
//!     rejected_share: 0.001,
//! };
//! let tiers = TierSettings::default();
//! let rounding = Rounding { step: 100.0, max_share: 0.05 }; // as shipped
//! let governance = Governance::new(&settings, &tiers, rounding);
//! let plan = plan(&recommended, Some(&deployed), &Approvals::None, &governance).unwrap();
//! let outcome: Vec<_> = plan.normal.iter().map(|p| (p.status, p.emitted)).collect();
//! assert_eq!(
//!     outcome,
//!     [
//!         (ChangeStatus::Held, 1000),   // the deployed value stays until approved
//!         (ChangeStatus::Kept, 1000),   // within the deadband
//!         (ChangeStatus::Stepped, 800), // cut by 20 % this run
//!     ]
//! );
//! ```
#![warn(missing_docs)]

mod approvals;
mod degraded;
mod error;
mod gate;
mod holds;
mod stability;

use std::collections::BTreeMap;

use trendmaster_types::SeriesKey;
use trendmaster_types::settings::{GovernanceSettings, Rounding, TierSettings};

pub use approvals::Approvals;
pub use error::PlanError;
pub use trendmaster_types::plan::{ChangeStatus, Plan, PlannedLimit, Profile, RecommendedLimit};

/// The rules a plan follows: the environment's settings, and whether the mass-cut gate applies.
#[derive(Debug, Clone, Copy)]
pub struct Governance<'a> {
    /// `COMMON.GOVERNANCE`: the hold ratio, the mass-cut share, the deadband and the cut bound.
    pub settings: &'a GovernanceSettings,
    /// `COMMON.TIERS`: each partner's tier and its degraded factor.
    pub tiers: &'a TierSettings,
    /// Stepped cuts, limits raised to the floor and degraded limits are rounded up by this
    /// rule, as the calculator rounds normal ones.
    pub rounding: Rounding,
    /// Refuse a mass cut. Off only where nothing is written (`--explain` looks at one series
    /// of a fleet that may be refused).
    pub mass_cut_gate: bool,
}

impl<'a> Governance<'a> {
    /// The rules of `settings` and `tiers`, with the mass-cut gate on.
    pub fn new(
        settings: &'a GovernanceSettings,
        tiers: &'a TierSettings,
        rounding: Rounding,
    ) -> Self {
        Self {
            settings,
            tiers,
            rounding,
            mass_cut_gate: true,
        }
    }
}

/// The plan for `recommended` (series → this run's recommendation, its floor and whether it is
/// censored) against `deployed` (series → requests per minute, as deployed; `None` when nothing
/// deployed was read, so every entry is new), following the rules in the crate docs.
pub fn plan(
    recommended: &BTreeMap<SeriesKey, RecommendedLimit>,
    deployed: Option<&BTreeMap<SeriesKey, u64>>,
    approvals: &Approvals,
    governance: &Governance<'_>,
) -> Result<Plan, PlanError> {
    let max_change_ratio = governance.settings.max_change_ratio;
    let stability = stability::Stability::new(governance.settings, governance.rounding);
    let normal = holds::plan_entries(
        recommended,
        deployed,
        max_change_ratio,
        &stability,
        approvals,
    );
    if governance.mass_cut_gate {
        gate::check_mass_cut(&normal, max_change_ratio, governance.settings.max_cut_share)?;
    }
    let degraded = degraded::degraded(&normal, governance.tiers, governance.rounding);
    Ok(Plan {
        max_change_ratio,
        normal,
        degraded,
    })
}

#[cfg(test)]
mod test_support {
    use std::collections::BTreeMap;
    use trendmaster_types::SeriesKey;
    use trendmaster_types::plan::RecommendedLimit;
    use trendmaster_types::settings::{GovernanceSettings, Rounding};

    use crate::stability::Stability;

    pub(crate) fn key(partner: &str, api: &str) -> SeriesKey {
        SeriesKey::new(partner, api)
    }

    /// Two deployed entries of partner 111: `/api/a` at 1000 and `/api/b` at 600 req/min.
    pub(crate) fn deployed() -> BTreeMap<SeriesKey, u64> {
        BTreeMap::from([(key("111", "/api/a"), 1000), (key("111", "/api/b"), 600)])
    }

    /// Recommendations without a floor or censoring.
    pub(crate) fn limits<const N: usize>(
        entries: [(SeriesKey, u64); N],
    ) -> BTreeMap<SeriesKey, RecommendedLimit> {
        entries
            .into_iter()
            .map(|(key, limit)| (key, RecommendedLimit::new(limit)))
            .collect()
    }

    /// The default governance settings (`config/config.yaml`).
    pub(crate) fn settings() -> GovernanceSettings {
        GovernanceSettings {
            max_change_ratio: 1.8,
            max_cut_share: 0.25,
            deadband: 0.1,
            max_cut_per_run: 0.2,
            saturated_level: 0.95,
            saturated_share: 0.05,
            rejected_share: 0.001,
        }
    }

    /// Rounding to a fixed step of 100 at every size, so the rules' arithmetic reads plainly.
    pub(crate) const STEP_100: Rounding = Rounding {
        step: 100.0,
        max_share: f64::INFINITY,
    };

    /// The stability rules of [`settings`], rounding to a fixed 100.
    pub(crate) fn stability() -> Stability {
        Stability::new(&settings(), STEP_100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{STEP_100, deployed, key, limits, settings};

    #[test]
    fn a_plan_counts_its_changes_and_refuses_a_mass_cut_unless_the_gate_is_off() {
        let settings = settings();
        let tiers = TierSettings::default();
        let mut governance = Governance::new(&settings, &tiers, STEP_100);
        let deployed = deployed();
        // Both deployed entries cut to a tenth: a mass cut. This run would only step them down
        // by 20 %, but the gate judges the recommendations: broken data is refused.
        let recommended = limits([(key("111", "/api/a"), 100), (key("111", "/api/b"), 60)]);
        let error = plan(&recommended, Some(&deployed), &Approvals::None, &governance).unwrap_err();
        assert!(
            matches!(error, PlanError::MassCut { cuts: 2, .. }),
            "{error}"
        );
        governance.mass_cut_gate = false;
        let stepped = plan(&recommended, Some(&deployed), &Approvals::None, &governance).unwrap();
        assert_eq!((stepped.changed(), stepped.held()), (2, 0));
        let outcome: Vec<_> = stepped
            .normal
            .iter()
            .map(|p| (p.status, p.emitted))
            .collect();
        assert_eq!(
            outcome,
            [(ChangeStatus::Stepped, 800), (ChangeStatus::Stepped, 500)],
            "600 × 0.8 = 480, rounded up to 500"
        );
        // Approved, the cuts pass the gate and go out in full.
        governance.mass_cut_gate = true;
        let approved = plan(&recommended, Some(&deployed), &Approvals::All, &governance).unwrap();
        assert_eq!(
            approved
                .normal
                .iter()
                .map(|p| (p.status, p.emitted))
                .collect::<Vec<_>>(),
            [(ChangeStatus::Approved, 100), (ChangeStatus::Approved, 60)]
        );
        // Without tiers configured every partner keeps its limits when degraded.
        assert_eq!(
            approved.entries(Profile::Degraded),
            approved.entries(Profile::Normal)
        );
    }

    #[test]
    fn censored_cuts_are_kept_and_do_not_trip_the_gate() {
        let settings = settings();
        let tiers = TierSettings::default();
        let governance = Governance::new(&settings, &tiers, STEP_100);
        let deployed = deployed();
        let censored = |limit| RecommendedLimit {
            limit,
            floor: 0,
            censored: true,
        };
        // Both would be deep cuts, but traffic sat at the limits: nothing is cut, nothing
        // refused, nothing to report as a change.
        let recommended = BTreeMap::from([
            (key("111", "/api/a"), censored(100)),
            (key("111", "/api/b"), censored(60)),
        ]);
        let plan = plan(&recommended, Some(&deployed), &Approvals::All, &governance).unwrap();
        assert_eq!(plan.changed(), 0);
        assert!(
            plan.normal
                .iter()
                .all(|p| p.status == ChangeStatus::Censored && Some(p.emitted) == p.current)
        );
        assert_eq!(
            plan.entries(Profile::Degraded),
            plan.entries(Profile::Normal)
        );
    }
}
