//! Governance: the stage between calculate and emit. It decides, for every partner × API
//! entry, what the emitted configuration holds, given what is deployed.
//!
//! Input: this run's recommendations, the deployed limits (requests per minute, as emit read
//! them back), the environment's governance and tier settings, and the approvals given.
//! Output: a [`Plan`] — per entry the deployed, recommended and emitted value and the status
//! that explains it, in the normal and the degraded profile — or a typed refusal
//! ([`PlanError::MassCut`]).
//!
//! The rules, one module each:
//! - `holds`: a change beyond `max_change_ratio` (up or down) is **held** at the deployed
//!   value until approved; a deployed entry without a recommendation is **kept**;
//! - [`Approvals`]: which held changes `--approve` releases;
//! - `gate`: the mass-cut sanity gate, which refuses the whole plan when too many deployed
//!   entries would be cut at once (broken data looks like that);
//! - `degraded`: the load-shedding profile, each tier cut by its `degraded_factor`.
//!
//! This crate does not read or write files, compute recommendations, or know the ratelimit
//! service's file format: the deployed state arrives as plain numbers, and emit renders the
//! plan.
//!
//! ```
//! use std::collections::BTreeMap;
//! use trendmaster_plan::{Approvals, ChangeStatus, Governance, plan};
//! use trendmaster_types::SeriesKey;
//! use trendmaster_types::settings::{GovernanceSettings, TierSettings};
//!
//! let key = SeriesKey::new("111", "/api/a");
//! let recommended = BTreeMap::from([(key.clone(), 3000)]);
//! let deployed = BTreeMap::from([(key.clone(), 1000)]);
//! let settings = GovernanceSettings { max_change_ratio: 1.8, max_cut_share: 0.25 };
//! let tiers = TierSettings::default();
//! let governance = Governance::new(&settings, &tiers, 100);
//! let plan = plan(&recommended, Some(&deployed), &Approvals::None, &governance).unwrap();
//! assert_eq!(plan.normal[0].status, ChangeStatus::Held);
//! assert_eq!(plan.normal[0].emitted, 1000, "the deployed value stays until approved");
//! ```
#![warn(missing_docs)]

mod approvals;
mod degraded;
mod error;
mod gate;
mod holds;

use std::collections::BTreeMap;

use trendmaster_types::SeriesKey;
use trendmaster_types::settings::{GovernanceSettings, TierSettings};

pub use approvals::Approvals;
pub use error::PlanError;
pub use trendmaster_types::plan::{ChangeStatus, Plan, PlannedLimit, Profile};

/// The rules a plan follows: the environment's settings, and whether the mass-cut gate applies.
#[derive(Debug, Clone, Copy)]
pub struct Governance<'a> {
    /// `COMMON.GOVERNANCE`: the hold ratio and the mass-cut share.
    pub settings: &'a GovernanceSettings,
    /// `COMMON.TIERS`: each partner's tier and its degraded factor.
    pub tiers: &'a TierSettings,
    /// Degraded limits are rounded up to this step, as the calculator rounds normal ones.
    pub rounding_step: u64,
    /// Refuse a mass cut. Off only where nothing is written (`--explain` looks at one series
    /// of a fleet that may be refused).
    pub mass_cut_gate: bool,
}

impl<'a> Governance<'a> {
    /// The rules of `settings` and `tiers`, with the mass-cut gate on.
    pub fn new(
        settings: &'a GovernanceSettings,
        tiers: &'a TierSettings,
        rounding_step: u64,
    ) -> Self {
        Self {
            settings,
            tiers,
            rounding_step,
            mass_cut_gate: true,
        }
    }
}

/// The plan for `recommended` (series → requests per minute) against `deployed` (the same, as
/// deployed; `None` when nothing deployed was read, so every entry is new).
pub fn plan(
    recommended: &BTreeMap<SeriesKey, u64>,
    deployed: Option<&BTreeMap<SeriesKey, u64>>,
    approvals: &Approvals,
    governance: &Governance<'_>,
) -> Result<Plan, PlanError> {
    let max_change_ratio = governance.settings.max_change_ratio;
    let normal = holds::plan_entries(recommended, deployed, max_change_ratio, approvals);
    if governance.mass_cut_gate {
        gate::check_mass_cut(&normal, max_change_ratio, governance.settings.max_cut_share)?;
    }
    let degraded = degraded::degraded(&normal, governance.tiers, governance.rounding_step);
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

    pub(crate) fn key(partner: &str, api: &str) -> SeriesKey {
        SeriesKey::new(partner, api)
    }

    /// Two deployed entries of partner 111: `/api/a` at 1000 and `/api/b` at 600 req/min.
    pub(crate) fn deployed() -> BTreeMap<SeriesKey, u64> {
        BTreeMap::from([(key("111", "/api/a"), 1000), (key("111", "/api/b"), 600)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{deployed, key};

    #[test]
    fn a_plan_counts_its_changes_and_refuses_a_mass_cut_unless_the_gate_is_off() {
        let settings = GovernanceSettings {
            max_change_ratio: 1.8,
            max_cut_share: 0.25,
        };
        let tiers = TierSettings::default();
        let mut governance = Governance::new(&settings, &tiers, 100);
        let deployed = deployed();
        // Both deployed entries cut to a tenth: a mass cut.
        let recommended = BTreeMap::from([(key("111", "/api/a"), 100), (key("111", "/api/b"), 60)]);
        let error = plan(&recommended, Some(&deployed), &Approvals::None, &governance).unwrap_err();
        assert!(
            matches!(error, PlanError::MassCut { cuts: 2, .. }),
            "{error}"
        );
        governance.mass_cut_gate = false;
        let held = plan(&recommended, Some(&deployed), &Approvals::None, &governance).unwrap();
        assert_eq!((held.changed(), held.held()), (2, 2));
        // Approved, the cuts pass the gate and go out.
        governance.mass_cut_gate = true;
        let approved = plan(&recommended, Some(&deployed), &Approvals::All, &governance).unwrap();
        assert_eq!(
            approved
                .normal
                .iter()
                .map(|p| p.emitted)
                .collect::<Vec<_>>(),
            [100, 60]
        );
        // Without tiers configured every partner keeps its limits when degraded.
        assert_eq!(
            approved.entries(Profile::Degraded),
            approved.entries(Profile::Normal)
        );
    }
}
