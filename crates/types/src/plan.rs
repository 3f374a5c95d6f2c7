//! What governance decided for each partner × API entry: the deployed limit, the recommended
//! one, the one emitted, and why ([`ChangeStatus`]). The plan stage makes a [`Plan`]; emit
//! renders it into ConfigMaps and EnvoyFilters, and the reports describe it.

use serde::Serialize;

use crate::series::SeriesKey;

/// What happens to one partner × API entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeStatus {
    /// Not deployed yet: emitted as recommended.
    New,
    /// Deployed with the recommended value already.
    Unchanged,
    /// Within the governance ratio: emitted as recommended.
    Changed,
    /// Beyond the governance ratio: the deployed value is kept until approved — or, when it
    /// is below the highest legitimate minute, raised to that at once (the rest waits).
    Held,
    /// Released with `--approve`: a change beyond the ratio, or a stepped cut that then goes
    /// out in full.
    Approved,
    /// Kept as deployed: no recommendation this run, or a change smaller than
    /// `GOVERNANCE.deadband` (limits do not flap with the noise of one week's traffic).
    Kept,
    /// A cut larger than `GOVERNANCE.max_cut_per_run`: this run cuts by that share of the
    /// deployed value, later runs go on (raises take effect at once, cuts are spread out).
    Stepped,
    /// Traffic sat at the deployed limit, or the source reports rejected requests: observed
    /// traffic understates demand, so the deployed limit is not cut (a raise still goes out).
    Censored,
}

impl ChangeStatus {
    /// Every status, in the reports' order.
    pub const ALL: [ChangeStatus; 8] = [
        Self::New,
        Self::Changed,
        Self::Held,
        Self::Approved,
        Self::Stepped,
        Self::Censored,
        Self::Kept,
        Self::Unchanged,
    ];

    /// The status as the reports and the JSON result spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Unchanged => "unchanged",
            Self::Changed => "changed",
            Self::Held => "held",
            Self::Approved => "approved",
            Self::Kept => "kept",
            Self::Stepped => "stepped",
            Self::Censored => "censored",
        }
    }

    /// Whether the emitted value differs from the deployed one (or there was none), or a change
    /// waits for approval: what `--detailed-exitcode` reports as 2.
    pub fn is_change(self) -> bool {
        !matches!(self, Self::Unchanged | Self::Kept | Self::Censored)
    }
}

/// What the plan is given for one recommended entry, all values in requests per minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RecommendedLimit {
    /// This run's recommendation.
    pub limit: u64,
    /// The highest legitimate minute the analysis kept (rounded up): a deployed limit below it
    /// throttles legitimate traffic today, so it rises whatever the deadband says.
    pub floor: u64,
    /// Observed traffic understates demand (see `Saturation`): never cut.
    pub censored: bool,
}

impl RecommendedLimit {
    /// A recommendation with no floor and no censoring (tests and fresh runs).
    pub fn new(limit: u64) -> Self {
        Self {
            limit,
            floor: 0,
            censored: false,
        }
    }
}

/// One entry of the plan, all values in requests per minute.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedLimit {
    /// The partner × API entry.
    pub key: SeriesKey,
    /// The deployed limit; `None` when the entry is not deployed (or nothing deployed was read).
    pub current: Option<u64>,
    /// This run's recommendation; `None` for a deployed entry this run did not analyse.
    pub recommended: Option<u64>,
    /// What the emitted ConfigMap holds.
    pub emitted: u64,
    /// Why `emitted` is what it is.
    pub status: ChangeStatus,
}

impl PlannedLimit {
    /// `recommended ÷ current`, when both exist.
    pub fn ratio(&self) -> Option<f64> {
        match (self.recommended, self.current) {
            (Some(new), Some(old)) if old > 0 => Some(new as f64 / old as f64),
            _ => None,
        }
    }
}

/// Which variant of the limits is current: the normal one, or the degraded (load-shedding) one
/// for an incident, in which each tier keeps its `degraded_factor` of its normal limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Profile {
    /// The limits as planned.
    #[default]
    Normal,
    /// Each tier's limits cut by its degraded factor.
    Degraded,
}

/// The plan of one run against what is deployed, in both profiles, sorted by series.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Changes beyond this ratio (up, or down by its inverse) are held.
    pub max_change_ratio: f64,
    /// Every entry this run emits: the recommended ones and the deployed ones it keeps.
    pub normal: Vec<PlannedLimit>,
    /// The same entries, each tier cut by its degraded factor.
    pub degraded: Vec<PlannedLimit>,
}

impl Plan {
    /// The entries of `profile`.
    pub fn entries(&self, profile: Profile) -> &[PlannedLimit] {
        match profile {
            Profile::Normal => &self.normal,
            Profile::Degraded => &self.degraded,
        }
    }

    /// Entries whose emitted limit differs from the deployed one, or that are held.
    pub fn changed(&self) -> usize {
        self.normal.iter().filter(|p| p.status.is_change()).count()
    }

    /// Entries held for approval.
    pub fn held(&self) -> usize {
        self.normal
            .iter()
            .filter(|p| p.status == ChangeStatus::Held)
            .count()
    }
}

#[cfg(test)]
mod status_tests {
    use super::ChangeStatus;

    #[test]
    fn all_lists_every_status_once_in_order() {
        // A new status does not compile here until it is placed in `ALL` too.
        let position = |status: ChangeStatus| match status {
            ChangeStatus::New => 0,
            ChangeStatus::Changed => 1,
            ChangeStatus::Held => 2,
            ChangeStatus::Approved => 3,
            ChangeStatus::Stepped => 4,
            ChangeStatus::Censored => 5,
            ChangeStatus::Kept => 6,
            ChangeStatus::Unchanged => 7,
        };
        for (index, status) in ChangeStatus::ALL.iter().enumerate() {
            assert_eq!(position(*status), index, "{status:?}");
        }
    }
}
