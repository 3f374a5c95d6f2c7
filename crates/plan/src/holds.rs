//! Holds: each recommendation against its deployed value. A change beyond the governance ratio
//! (default 1.8× up or down) is held at the deployed value until someone approves it; deployed
//! entries without a recommendation this run are kept as they are.

use std::collections::{BTreeMap, BTreeSet};

use trendmaster_types::SeriesKey;
use trendmaster_types::plan::{ChangeStatus, PlannedLimit};

use crate::approvals::Approvals;

/// The entries for `recommended` against `current` (both series → requests per minute),
/// sorted by series. Without a deployed configuration every entry is new.
pub(crate) fn plan_entries(
    recommended: &BTreeMap<SeriesKey, u64>,
    deployed: Option<&BTreeMap<SeriesKey, u64>>,
    max_change_ratio: f64,
    approvals: &Approvals,
) -> Vec<PlannedLimit> {
    let empty = BTreeMap::new();
    let current = deployed.unwrap_or(&empty);
    let keys: BTreeSet<&SeriesKey> = recommended.keys().chain(current.keys()).collect();
    keys.into_iter()
        .map(|key| {
            let (old, new) = (current.get(key).copied(), recommended.get(key).copied());
            let (status, emitted) = match (old, new) {
                (None, Some(new)) => (ChangeStatus::New, new),
                (Some(old), None) => (ChangeStatus::Kept, old),
                (Some(old), Some(new)) if old == new => (ChangeStatus::Unchanged, new),
                (Some(old), Some(new)) => {
                    let ratio = new as f64 / old.max(1) as f64;
                    if ratio <= max_change_ratio && ratio >= 1.0 / max_change_ratio {
                        (ChangeStatus::Changed, new)
                    } else if approvals.covers(key) {
                        (ChangeStatus::Approved, new)
                    } else {
                        (ChangeStatus::Held, old)
                    }
                }
                (None, None) => unreachable!("every key comes from one of the maps"),
            };
            PlannedLimit {
                key: key.clone(),
                current: old,
                recommended: new,
                emitted,
                status,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{deployed, key};

    #[test]
    fn big_changes_are_held_until_approved_and_absent_entries_are_kept() {
        let deployed = deployed();
        let recommended = BTreeMap::from([
            (key("111", "/api/a"), 3000), // 3×: held
            (key("111", "/api/b"), 700),  // ×1.17: changed
            (key("222", "/api/a"), 400),  // new
        ]);
        let held = plan_entries(&recommended, Some(&deployed), 1.8, &Approvals::None);
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
            &Approvals::Some([key("111", "/api/a")].into()),
        );
        assert_eq!(
            (approved[0].status, approved[0].emitted),
            (ChangeStatus::Approved, 3000)
        );
        // A cut beyond the ratio is held too; an entry without a recommendation is kept.
        let cut = plan_entries(
            &BTreeMap::from([(key("111", "/api/a"), 500)]),
            Some(&deployed),
            1.8,
            &Approvals::None,
        );
        assert_eq!((cut[0].status, cut[0].emitted), (ChangeStatus::Held, 1000));
        assert_eq!((cut[1].status, cut[1].emitted), (ChangeStatus::Kept, 600));
        assert!(!cut[1].status.is_change() && cut[0].status.is_change());
    }

    #[test]
    fn equal_values_are_unchanged_and_the_ratio_bounds_are_inclusive() {
        let deployed = deployed();
        let recommended = BTreeMap::from([
            (key("111", "/api/a"), 1000), // equal
            (key("111", "/api/b"), 1080), // exactly 1.8×
        ]);
        let plan = plan_entries(&recommended, Some(&deployed), 1.8, &Approvals::None);
        assert_eq!(plan[0].status, ChangeStatus::Unchanged);
        assert_eq!(
            (plan[1].status, plan[1].emitted),
            (ChangeStatus::Changed, 1080)
        );
        // Nothing deployed: every entry is new, whatever the ratio.
        let fresh = plan_entries(&recommended, None, 1.8, &Approvals::None);
        assert!(fresh.iter().all(|p| p.status == ChangeStatus::New));
    }
}
