//! Stability: what one recommendation does to its deployed limit before the hold is judged.
//! Limits must not flap with a week's noise, must not be cut on traffic that the limit itself
//! pinned down, and must come down gently (as Kubernetes' HPA stabilises scale-down) but go up
//! at once. In order:
//!
//! 1. **floor**: a deployed limit below the highest legitimate minute throttles legitimate
//!    traffic today, so it rises to `max(recommended, floor)` rounded up (the calculator's rounding):
//!    never kept by the deadband, never stepped, never censored (it is a raise);
//! 2. **unchanged**: the recommendation equals the deployed limit;
//! 3. **censored**: observed traffic understates demand, so a cut keeps the deployed limit
//!    (status `censored`); a raise goes on through the rules below;
//! 4. **deadband**: a change smaller than `deadband` × deployed keeps it (status `kept`);
//! 5. **bounded cut**: a cut deeper than `max_cut_per_run` × deployed goes to
//!    deployed × (1 − `max_cut_per_run`) rounded up (status `stepped`), at least
//!    one rounding step below the deployed limit and never below the recommendation; later
//!    runs go on. Raises are not bounded.
//!
//! The floor and censoring never meet: the floor applies only below it, where the outcome is
//! a raise, and censoring only to cuts.

use trendmaster_types::plan::{ChangeStatus, RecommendedLimit};
use trendmaster_types::settings::{GovernanceSettings, Rounding};

/// Absorbs the binary noise of `share × limit` so that a change exactly at the deadband or at
/// `max_cut_per_run` counts as at it (requests per minute are whole numbers).
const EPSILON: f64 = 1e-9;

/// The stability settings of one plan.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stability {
    /// `GOVERNANCE.deadband`: changes smaller than this share of the deployed limit keep it.
    pub(crate) deadband: f64,
    /// `GOVERNANCE.max_cut_per_run`: the deepest cut of one run, as a share of the deployed limit.
    pub(crate) max_cut_per_run: f64,
    /// How limits are rounded up.
    pub(crate) rounding: Rounding,
}

impl Stability {
    /// The stability rules of `settings`, rounding by `rounding`.
    pub(crate) fn new(settings: &GovernanceSettings, rounding: Rounding) -> Self {
        Self {
            deadband: settings.deadband,
            max_cut_per_run: settings.max_cut_per_run,
            rounding,
        }
    }
}

/// What the stability rules make of a recommendation against a deployed limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// The deployed limit stays, for this reason (`Unchanged`, `Censored` or `Kept`): no
    /// change, so there is nothing to hold.
    Keep(ChangeStatus),
    /// The limit moves to `emitted`; `full` is where it would go without the per-run bound (what
    /// `--approve` releases), and `stepped` says the bound applied.
    Move {
        /// What this run emits, unless held.
        emitted: u64,
        /// The recommendation (raised to the floor): what an approval emits.
        full: u64,
        /// The cut was bounded by `max_cut_per_run`.
        stepped: bool,
    },
}

/// The stability rules (module docs) for `recommended` against `deployed`.
pub(crate) fn target(deployed: u64, recommended: &RecommendedLimit, rules: &Stability) -> Target {
    let limit = recommended.limit;
    if deployed < recommended.floor {
        let raised = rules.rounding.up_whole(limit.max(recommended.floor));
        return Target::Move {
            emitted: raised,
            full: raised,
            stepped: false,
        };
    }
    if limit == deployed {
        return Target::Keep(ChangeStatus::Unchanged);
    }
    if recommended.censored && limit < deployed {
        return Target::Keep(ChangeStatus::Censored);
    }
    let change = limit.abs_diff(deployed) as f64;
    if change < rules.deadband * deployed as f64 - EPSILON {
        return Target::Keep(ChangeStatus::Kept);
    }
    if limit < deployed && change > rules.max_cut_per_run * deployed as f64 + EPSILON {
        let bounded = deployed as f64 * (1.0 - rules.max_cut_per_run);
        let mut emitted = rules.rounding.up(bounded) as u64;
        if emitted >= deployed {
            // The step is coarser than the bound (400 cut by 20 % rounds back up to 400 with a
            // fixed 100 step): one step down instead, or the cut would never start.
            emitted = rules.rounding.below(deployed);
        }
        return if emitted > limit {
            Target::Move {
                emitted,
                full: limit,
                stepped: true,
            }
        } else {
            Target::Move {
                emitted: limit,
                full: limit,
                stepped: false,
            }
        };
    }
    Target::Move {
        emitted: limit,
        full: limit,
        stepped: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(step: u64) -> Stability {
        Stability {
            deadband: 0.1,
            max_cut_per_run: 0.2,
            rounding: Rounding {
                step: step as f64,
                max_share: f64::INFINITY,
            },
        }
    }

    fn rec(limit: u64, floor: u64, censored: bool) -> RecommendedLimit {
        RecommendedLimit {
            limit,
            floor,
            censored,
        }
    }

    fn moved(emitted: u64, full: u64, stepped: bool) -> Target {
        Target::Move {
            emitted,
            full,
            stepped,
        }
    }

    #[test]
    fn the_deadband_keeps_small_changes_and_lets_its_boundary_through() {
        let r = rules(1);
        assert_eq!(
            target(1000, &rec(1000, 0, false), &r),
            Target::Keep(ChangeStatus::Unchanged)
        );
        assert_eq!(
            target(1000, &rec(1099, 0, false), &r),
            Target::Keep(ChangeStatus::Kept)
        );
        assert_eq!(
            target(1000, &rec(901, 0, false), &r),
            Target::Keep(ChangeStatus::Kept)
        );
        // Exactly at the deadband (10 % of 1000), up or down: a change.
        assert_eq!(
            target(1000, &rec(1100, 0, false), &r),
            moved(1100, 1100, false)
        );
        assert_eq!(
            target(1000, &rec(900, 0, false), &r),
            moved(900, 900, false)
        );
        // A deadband of 0 keeps nothing.
        let none = Stability { deadband: 0.0, ..r };
        assert_eq!(
            target(1000, &rec(1001, 0, false), &none),
            moved(1001, 1001, false)
        );
    }

    #[test]
    fn deep_cuts_are_stepped_and_raises_are_not() {
        let r = rules(100);
        // Exactly max_cut_per_run (20 %): in full.
        assert_eq!(
            target(1000, &rec(800, 0, false), &r),
            moved(800, 800, false)
        );
        // Deeper: 20 % this run, the recommendation for approval.
        assert_eq!(target(1000, &rec(700, 0, false), &r), moved(800, 700, true));
        assert_eq!(target(1000, &rec(100, 0, false), &r), moved(800, 100, true));
        // Rounded up to the step: 1050 × 0.8 = 840 → 900.
        assert_eq!(target(1050, &rec(300, 0, false), &r), moved(900, 300, true));
        assert_eq!(
            target(1000, &rec(790, 0, false), &rules(50)),
            moved(800, 790, true)
        );
        assert_eq!(
            target(1010, &rec(805, 0, false), &rules(10)),
            moved(810, 805, true)
        );
        // A step coarser than the bound: 400 × 0.8 = 320 rounds back up to 400, so one step
        // down; never below the recommendation, which then goes out in full.
        assert_eq!(target(400, &rec(100, 0, false), &r), moved(300, 100, true));
        assert_eq!(target(300, &rec(200, 0, false), &r), moved(200, 200, false));
        assert_eq!(target(300, &rec(230, 0, false), &r), moved(230, 230, false));
        // Raises take effect at once, however large.
        assert_eq!(
            target(1000, &rec(5000, 0, false), &r),
            moved(5000, 5000, false)
        );
        // max_cut_per_run 1: any cut in full.
        let any = Stability {
            max_cut_per_run: 1.0,
            ..r
        };
        assert_eq!(
            target(1000, &rec(100, 0, false), &any),
            moved(100, 100, false)
        );
    }

    #[test]
    fn a_deployed_limit_below_the_floor_always_rises() {
        let r = rules(100);
        // Inside the deadband, and even equal to the recommendation: up to the floor, rounded.
        assert_eq!(
            target(1000, &rec(1000, 1020, false), &r),
            moved(1100, 1100, false)
        );
        assert_eq!(
            target(1000, &rec(1050, 1010, false), &rules(50)),
            moved(1050, 1050, false)
        );
        // A recommendation below the floor (not in practice): the floor wins, never a cut, even
        // censored.
        assert_eq!(
            target(1000, &rec(600, 1201, true), &r),
            moved(1300, 1300, false)
        );
        // At the floor exactly, the deployed limit is not below it: the usual rules.
        assert_eq!(
            target(1000, &rec(1050, 1000, false), &rules(50)),
            Target::Keep(ChangeStatus::Kept)
        );
    }

    #[test]
    fn censored_series_are_not_cut_but_rise() {
        let r = rules(100);
        assert_eq!(
            target(1000, &rec(500, 0, true), &r),
            Target::Keep(ChangeStatus::Censored)
        );
        // Even a cut inside the deadband says why it is kept.
        assert_eq!(
            target(1000, &rec(950, 0, true), &rules(50)),
            Target::Keep(ChangeStatus::Censored)
        );
        // A raise goes out as usual, a small one is kept by the deadband as usual.
        assert_eq!(
            target(1000, &rec(1500, 0, true), &r),
            moved(1500, 1500, false)
        );
        assert_eq!(
            target(1000, &rec(1050, 0, true), &rules(50)),
            Target::Keep(ChangeStatus::Kept)
        );
        assert_eq!(
            target(1000, &rec(1000, 0, true), &r),
            Target::Keep(ChangeStatus::Unchanged)
        );
    }
}
