//! The mass-cut sanity gate: too many deployed entries cut beyond the governance ratio at once
//! looks like broken data (a partial answer, a unit change), not like a fleet that shrank, so
//! the plan is refused and nothing is written. Approved cuts do not count: someone looked at
//! them. Censored entries do not count either: they are not cut, and no approval would cut
//! them.
//!
//! The gate judges the recommendations against the deployed limits, not the values this run
//! emits: stepping spreads a cut over runs (20 % a run by default), so broken data would
//! otherwise go out a step at a time, run after run, never tripping the gate.

use trendmaster_types::plan::{ChangeStatus, PlannedLimit};

use crate::error::PlanError;

/// Refuses `plan` when more than `max_cut_share` of its deployed entries with a recommendation
/// would be cut by more than `max_change_ratio` (recommended against deployed, whether this
/// run holds, steps or emits the cut).
pub(crate) fn check_mass_cut(
    plan: &[PlannedLimit],
    max_change_ratio: f64,
    max_cut_share: f64,
) -> Result<(), PlanError> {
    let compared: Vec<(&PlannedLimit, u64, u64)> = plan
        .iter()
        .filter_map(|p| Some((p, p.current?, p.recommended?)))
        .collect();
    let cuts: Vec<&PlannedLimit> = compared
        .iter()
        .filter(|(p, old, new)| {
            !matches!(p.status, ChangeStatus::Approved | ChangeStatus::Censored)
                && (*new as f64) * max_change_ratio < *old as f64
        })
        .map(|(p, ..)| *p)
        .collect();
    let share = cuts.len() as f64 / compared.len().max(1) as f64;
    if cuts.is_empty() || share <= max_cut_share {
        return Ok(());
    }
    Err(PlanError::MassCut {
        cuts: cuts.len(),
        compared: compared.len(),
        share,
        max_change_ratio,
        max_cut_share,
        first: cuts[0].key.clone(),
        first_current: cuts[0].current.unwrap_or_default(),
        first_recommended: cuts[0].recommended.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::key;

    fn entry(partner: &str, current: Option<u64>, recommended: Option<u64>) -> PlannedLimit {
        let status = match (current, recommended) {
            (None, _) => ChangeStatus::New,
            (_, None) => ChangeStatus::Kept,
            _ => ChangeStatus::Held,
        };
        PlannedLimit {
            key: key(partner, "/api"),
            current,
            recommended,
            emitted: current.or(recommended).unwrap_or_default(),
            status,
        }
    }

    #[test]
    fn a_cut_of_more_than_the_share_is_refused_with_the_first_cut_named() {
        // 2 of 4 compared entries cut below 1/1.8 of their deployed value: 50 % > 25 %.
        let plan = [
            entry("a", Some(1000), Some(100)),
            entry("b", Some(1000), Some(500)),
            entry("c", Some(1000), Some(1000)),
            entry("d", Some(1000), Some(2000)),
            entry("e", None, Some(10)),   // new: not compared
            entry("f", Some(1000), None), // kept: not compared
        ];
        let error = check_mass_cut(&plan, 1.8, 0.25).unwrap_err();
        assert!(
            matches!(
                error,
                PlanError::MassCut {
                    cuts: 2,
                    compared: 4,
                    ..
                }
            ),
            "{error:?}"
        );
        assert_eq!(
            error.to_string(),
            "2 of 4 deployed entries (50%) would be cut by more than 1.8x at once, above COMMON.GOVERNANCE.max_cut_share (25%), so nothing was written; first: a:/api 1000 -> 100 req/min. Broken or partial traffic data looks like this: check the source, then --approve the cuts or raise max_cut_share"
        );
        // At the share exactly, and with the gate at 1, the plan passes.
        assert!(check_mass_cut(&plan, 1.8, 0.5).is_ok());
        assert!(check_mass_cut(&plan, 1.8, 1.0).is_ok());
    }

    #[test]
    fn approved_censored_and_within_the_ratio_cuts_do_not_count_stepped_ones_do() {
        let mut approved = entry("a", Some(1000), Some(100));
        approved.status = ChangeStatus::Approved;
        let within = entry("b", Some(1000), Some(556)); // 556 × 1.8 ≥ 1000
        let mut censored = entry("c", Some(1000), Some(100));
        (censored.status, censored.emitted) = (ChangeStatus::Censored, 1000);
        let plan = [approved, within, censored];
        assert!(check_mass_cut(&plan, 1.8, 0.0).is_ok());
        // A stepped cut counts by its recommendation, not by the 20 % this run emits.
        let mut stepped = entry("d", Some(1000), Some(100));
        (stepped.status, stepped.emitted) = (ChangeStatus::Stepped, 800);
        assert!(check_mass_cut(&[stepped], 1.8, 0.0).is_err());
        // The same cut, not approved, is refused even at a share of 0.
        let plan = [entry("a", Some(1000), Some(100))];
        assert!(check_mass_cut(&plan, 1.8, 0.0).is_err());
        // Nothing compared: nothing to refuse.
        assert!(check_mass_cut(&[entry("e", None, Some(1))], 1.8, 0.0).is_ok());
    }
}
