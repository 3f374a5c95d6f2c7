//! Why there is no plan: the typed refusals of the governance stage.

use trendmaster_types::SeriesKey;

/// Why there is no plan. Each message is one line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    /// An `--approve` value that names no entry this run analyses.
    #[error(
        "--approve `{value}`: expected `all` or PARTNER:API for a partner and API this run analyses"
    )]
    UnknownApproval {
        /// The value as given.
        value: String,
    },

    /// The mass-cut sanity gate: too many deployed entries would be cut at once.
    #[error(
        "{cuts} of {compared} deployed entries ({share_percent:.0}%) would be cut by more than {max_change_ratio}x at once, above COMMON.GOVERNANCE.max_cut_share ({max_cut_percent:.0}%), so nothing was written; first: {first} {first_current} -> {first_recommended} req/min. Broken or partial traffic data looks like this: check the source, then --approve the cuts or raise max_cut_share",
        share_percent = .share * 100.0,
        max_cut_percent = .max_cut_share * 100.0
    )]
    MassCut {
        /// Deployed entries cut beyond the ratio (approved cuts do not count).
        cuts: usize,
        /// Deployed entries with a recommendation this run.
        compared: usize,
        /// `cuts ÷ compared`.
        share: f64,
        /// `COMMON.GOVERNANCE.max_change_ratio`.
        max_change_ratio: f64,
        /// `COMMON.GOVERNANCE.max_cut_share`.
        max_cut_share: f64,
        /// The first cut entry, its deployed and its recommended limit.
        first: SeriesKey,
        /// Deployed limit of `first`.
        first_current: u64,
        /// Recommended limit of `first`.
        first_recommended: u64,
    },
}
