//! Holds: each recommendation against its deployed value, after the stability rules
//! ([`crate::stability`]). A change beyond the governance ratio (default 1.8× up or down) is
//! held at the deployed value until someone approves it; deployed entries without a
//! recommendation this run are kept as they are.
//!
//! The hold is judged on the value this run would emit: a stepped cut moves by at most
//! `max_cut_per_run`, so it is never held while `max_cut_per_run ≤ 1 − 1/max_change_ratio`
//! (0.44 for 1.8). An approval (`--approve`) releases the whole change: a held change, and a
//! stepped cut too, go out in full (status `approved`), because the operator asked for that
//! value. Approval does not override censoring (a censored series is never cut) or the
//! deadband (nothing to release).

use std::collections::{BTreeMap, BTreeSet};

use trendmaster_types::SeriesKey;
use trendmaster_types::plan::{ChangeStatus, PlannedLimit, RecommendedLimit};

use crate::approvals::Approvals;
use crate::stability::{self, Stability, Target};

/// The entries for `recommended` against `deployed` (both series → requests per minute),
/// sorted by series. Without a deployed configuration every entry is new.
pub(crate) fn plan_entries(
    recommended: &BTreeMap<SeriesKey, RecommendedLimit>,
    deployed: Option<&BTreeMap<SeriesKey, u64>>,
    max_change_ratio: f64,
    stability: &Stability,
    approvals: &Approvals,
) -> Vec<PlannedLimit> {
    let empty = BTreeMap::new();
    let current = deployed.unwrap_or(&empty);
    let keys: BTreeSet<&SeriesKey> = recommended.keys().chain(current.keys()).collect();
    keys.into_iter()
        .map(|key| {
            let (old, new) = (current.get(key).copied(), recommended.get(key));
            let (status, emitted) = match (old, new) {
                (None, Some(new)) => (ChangeStatus::New, new.limit),
                (Some(old), None) => (ChangeStatus::Kept, old),
                (Some(old), Some(new)) => match stability::target(old, new, stability) {
                    Target::Keep(status) => (status, old),
                    Target::Move {
                        emitted,
                        full,
                        stepped,
                    } => {
                        let ratio = emitted as f64 / old.max(1) as f64;
                        let within = ratio <= max_change_ratio && ratio >= 1.0 / max_change_ratio;
                        if (stepped || !within) && approvals.covers(key) {
                            (ChangeStatus::Approved, full)
                        } else if !within {
                            (ChangeStatus::Held, held_at(old, new, stability))
                        } else if stepped {
                            (ChangeStatus::Stepped, emitted)
                        } else {
                            (ChangeStatus::Changed, emitted)
                        }
                    }
                },
                (None, None) => unreachable!("every key comes from one of the maps"),
            };
            PlannedLimit {
                key: key.clone(),
                current: old,
                recommended: new.map(|r| r.limit),
                emitted,
                status,
            }
        })
        .collect()
}

/// What a held change emits: the deployed limit, unless it is below the highest legitimate
/// minute the analysis kept. Such a limit throttles legitimate traffic today, so it rises to
/// that floor at once (rounded up); the rest of the raise waits for approval. (Broken data
/// that inflates the traffic — a unit mix-up — then raises a limit: it fails open, never
/// throttling.)
fn held_at(deployed: u64, recommended: &RecommendedLimit, stability: &Stability) -> u64 {
    if recommended.floor > deployed {
        stability.rounding.up_whole(recommended.floor)
    } else {
        deployed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{deployed, key, limits, stability};

    #[test]
    fn big_changes_are_held_until_approved_and_absent_entries_are_kept() {
        let deployed = deployed();
        let recommended = limits([
            (key("111", "/api/a"), 3000), // 3×: held
            (key("111", "/api/b"), 700),  // ×1.17: changed
            (key("222", "/api/a"), 400),  // new
        ]);
        let held = plan_entries(
            &recommended,
            Some(&deployed),
            1.8,
            &stability(),
            &Approvals::None,
        );
        let summary: Vec<_> = held
            .iter()
            .map(|p| (p.key.clone(), p.status, p.emitted))
            .collect();
        assert_eq!(
            summary,
            vec![
                (key("111", "/api/a"), ChangeStatus::Held, 1000),
                (key("111", "/api/b"), ChangeStatus::Changed, 700),
                (key("222", "/api/a"), ChangeStatus::New, 400),
            ]
        );
        assert_eq!(held[0].ratio(), Some(3.0));
        let approved = plan_entries(
            &recommended,
            Some(&deployed),
            1.8,
            &stability(),
            &Approvals::Some([key("111", "/api/a")].into()),
        );
        assert_eq!(
            (approved[0].status, approved[0].emitted),
            (ChangeStatus::Approved, 3000)
        );
        // Approval does not touch a change that needs none.
        assert_eq!(approved[1].status, ChangeStatus::Changed);
        // An entry without a recommendation is kept.
        let kept = plan_entries(
            &limits([(key("111", "/api/a"), 1000)]),
            Some(&deployed),
            1.8,
            &stability(),
            &Approvals::None,
        );
        assert_eq!((kept[1].status, kept[1].emitted), (ChangeStatus::Kept, 600));
        assert!(!kept[1].status.is_change());
    }

    #[test]
    fn a_cut_beyond_the_ratio_is_stepped_not_held_and_approval_releases_it_in_full() {
        let deployed = deployed();
        let recommended = limits([(key("111", "/api/a"), 500)]); // ×0.5: beyond 1/1.8
        let stepped = plan_entries(
            &recommended,
            Some(&deployed),
            1.8,
            &stability(),
            &Approvals::None,
        );
        assert_eq!(
            (stepped[0].status, stepped[0].emitted),
            (ChangeStatus::Stepped, 800)
        );
        assert!(stepped[0].status.is_change());
        let approved = plan_entries(
            &recommended,
            Some(&deployed),
            1.8,
            &stability(),
            &Approvals::All,
        );
        assert_eq!(
            (approved[0].status, approved[0].emitted),
            (ChangeStatus::Approved, 500)
        );
        // A step larger than the ratio allows is held on the value it would emit (×0.5 < 1/1.8),
        // and released in full.
        let big_steps = Stability {
            max_cut_per_run: 0.5,
            ..stability()
        };
        let held = plan_entries(
            &limits([(key("111", "/api/a"), 100)]),
            Some(&deployed),
            1.8,
            &big_steps,
            &Approvals::None,
        );
        assert_eq!(
            (held[0].status, held[0].emitted),
            (ChangeStatus::Held, 1000)
        );
        // A step within the ratio (×0.6) goes out.
        let within = plan_entries(
            &limits([(key("111", "/api/a"), 100)]),
            Some(&deployed),
            1.8,
            &Stability {
                max_cut_per_run: 0.4,
                ..stability()
            },
            &Approvals::None,
        );
        assert_eq!(
            (within[0].status, within[0].emitted),
            (ChangeStatus::Stepped, 600)
        );
    }

    #[test]
    fn equal_values_are_unchanged_and_the_ratio_bounds_are_inclusive() {
        let deployed = deployed();
        let recommended = limits([
            (key("111", "/api/a"), 1000), // equal
            (key("111", "/api/b"), 1080), // exactly 1.8×
        ]);
        let plan = plan_entries(
            &recommended,
            Some(&deployed),
            1.8,
            &stability(),
            &Approvals::None,
        );
        assert_eq!(plan[0].status, ChangeStatus::Unchanged);
        assert_eq!(
            (plan[1].status, plan[1].emitted),
            (ChangeStatus::Changed, 1080)
        );
        // Nothing deployed: every entry is new, whatever the ratio.
        let fresh = plan_entries(&recommended, None, 1.8, &stability(), &Approvals::None);
        assert!(fresh.iter().all(|p| p.status == ChangeStatus::New));
    }

    #[test]
    fn small_changes_censored_cuts_and_floors_keep_or_raise_the_deployed_limit() {
        let deployed = deployed();
        let recommended = BTreeMap::from([
            // Within the deadband (10 % of 1000): kept.
            (key("111", "/api/a"), RecommendedLimit::new(1050)),
            // Censored: the cut keeps 600, whatever approval says.
            (
                key("111", "/api/b"),
                RecommendedLimit {
                    limit: 300,
                    floor: 0,
                    censored: true,
                },
            ),
        ]);
        let plan = plan_entries(
            &recommended,
            Some(&deployed),
            1.8,
            &stability(),
            &Approvals::All,
        );
        let summary: Vec<_> = plan.iter().map(|p| (p.status, p.emitted)).collect();
        assert_eq!(
            summary,
            [(ChangeStatus::Kept, 1000), (ChangeStatus::Censored, 600)]
        );
        assert!(plan.iter().all(|p| !p.status.is_change()));
        // A floor far above the deployed limit: the raise beyond the ratio is held, but the
        // limit rises to the floor at once (it throttles legitimate traffic today).
        let floor = BTreeMap::from([(
            key("111", "/api/b"),
            RecommendedLimit {
                limit: 3000,
                floor: 1450,
                censored: false,
            },
        )]);
        let held = plan_entries(&floor, Some(&deployed), 1.8, &stability(), &Approvals::None);
        assert_eq!(
            (held[1].status, held[1].emitted),
            (ChangeStatus::Held, 1500)
        );
        let approved = plan_entries(&floor, Some(&deployed), 1.8, &stability(), &Approvals::All);
        assert_eq!(
            (approved[1].status, approved[1].emitted),
            (ChangeStatus::Approved, 3000)
        );
        // Without a floor above it, a held raise keeps the deployed limit.
        let no_floor = limits([(key("111", "/api/b"), 3000)]);
        let held = plan_entries(
            &no_floor,
            Some(&deployed),
            1.8,
            &stability(),
            &Approvals::None,
        );
        assert_eq!((held[1].status, held[1].emitted), (ChangeStatus::Held, 600));
    }
}
