//! Would a limit have hurt? Replays a test window's traffic, minute by minute, through the
//! envoyproxy/ratelimit service's semantics and counts what it would have rejected.
//!
//! The service counts requests per descriptor in fixed windows aligned to the epoch (a
//! `minute` limit resets at every whole minute) and rejects each request beyond the limit in
//! its window. With one sample per grid step of `step_secs` holding requests per minute, a step
//! covers `step_secs / 60` windows at that rate, so each window rejects `max(0, rate − limit)`.
//! (At one-minute steps, the grid's minutes are the service's windows exactly.)
//!
//! Minutes are split into normal and anomalous ones (from a source's ground-truth labels or
//! the detector's events): rejections in normal minutes are **false throttles**, the cost of a
//! limit set too low; rejections in anomalous minutes are the point of having one.
//!
//! This crate owns only the replay and its summary; which limits and which minutes are
//! anomalous are its caller's business.

#![warn(missing_docs)]

use serde::Serialize;

/// What replaying one series against one limit gives.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct ReplayOutcome {
    /// The limit, requests per minute.
    pub limit: u64,
    /// Requests in normal minutes.
    pub requests_normal: f64,
    /// Requests in anomalous minutes.
    pub requests_anomalous: f64,
    /// Requests rejected in normal minutes: false throttles.
    pub rejected_normal: f64,
    /// Requests rejected in anomalous minutes.
    pub rejected_anomalous: f64,
    /// Normal minutes (service windows) with at least one rejection.
    pub minutes_throttled_normal: f64,
    /// Anomalous minutes with at least one rejection.
    pub minutes_throttled_anomalous: f64,
    /// The test window's highest normal minute.
    pub normal_peak: f64,
    /// `limit ÷ normal_peak`: how far above the legitimate peak the limit sits.
    pub headroom: f64,
}

impl ReplayOutcome {
    /// Share of anomalous requests rejected (0 when there were none).
    pub fn anomalous_rejected_share(&self) -> f64 {
        share(self.rejected_anomalous, self.requests_anomalous)
    }

    /// Share of normal requests rejected.
    pub fn normal_rejected_share(&self) -> f64 {
        share(self.rejected_normal, self.requests_normal)
    }

    /// Sums outcomes of several series (headroom: the smallest, the riskiest entry).
    pub fn total<'a>(outcomes: impl IntoIterator<Item = &'a ReplayOutcome>) -> ReplayOutcome {
        outcomes
            .into_iter()
            .fold(None, |total: Option<ReplayOutcome>, o| {
                Some(match total {
                    None => *o,
                    Some(t) => ReplayOutcome {
                        limit: t.limit + o.limit,
                        requests_normal: t.requests_normal + o.requests_normal,
                        requests_anomalous: t.requests_anomalous + o.requests_anomalous,
                        rejected_normal: t.rejected_normal + o.rejected_normal,
                        rejected_anomalous: t.rejected_anomalous + o.rejected_anomalous,
                        minutes_throttled_normal: t.minutes_throttled_normal
                            + o.minutes_throttled_normal,
                        minutes_throttled_anomalous: t.minutes_throttled_anomalous
                            + o.minutes_throttled_anomalous,
                        normal_peak: t.normal_peak.max(o.normal_peak),
                        headroom: t.headroom.min(o.headroom),
                    },
                })
            })
            .unwrap_or_default()
    }
}

fn share(part: f64, whole: f64) -> f64 {
    if whole > 0.0 { part / whole } else { 0.0 }
}

/// Replays `values` (requests per minute, one per `step_secs`, NaN = no data) against
/// `limit` requests per minute; `anomalous[i]` marks point `i`'s minutes as anomalous.
pub fn replay(values: &[f64], anomalous: &[bool], step_secs: u32, limit: u64) -> ReplayOutcome {
    let windows = f64::from(step_secs.max(60)) / 60.0;
    let cap = limit as f64;
    let mut outcome = ReplayOutcome {
        limit,
        ..ReplayOutcome::default()
    };
    for (value, is_anomalous) in values.iter().zip(anomalous) {
        if !value.is_finite() || *value <= 0.0 {
            continue;
        }
        let requests = value * windows;
        let rejected = (value - cap).max(0.0) * windows;
        let throttled = if rejected > 0.0 { windows } else { 0.0 };
        if *is_anomalous {
            outcome.requests_anomalous += requests;
            outcome.rejected_anomalous += rejected;
            outcome.minutes_throttled_anomalous += throttled;
        } else {
            outcome.requests_normal += requests;
            outcome.rejected_normal += rejected;
            outcome.minutes_throttled_normal += throttled;
            outcome.normal_peak = outcome.normal_peak.max(*value);
        }
    }
    outcome.headroom = if outcome.normal_peak > 0.0 {
        cap / outcome.normal_peak
    } else {
        f64::INFINITY
    };
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_beyond_the_limit_in_each_minute_are_rejected() {
        let values = [50.0, 120.0, 90.0, 400.0, f64::NAN, 100.0];
        let anomalous = [false, false, false, true, false, false];
        let outcome = replay(&values, &anomalous, 60, 100);
        assert_eq!(outcome.requests_normal, 360.0);
        assert_eq!(outcome.rejected_normal, 20.0, "the 120 minute loses 20");
        assert_eq!(
            outcome.minutes_throttled_normal, 1.0,
            "exactly at the limit passes"
        );
        assert_eq!(outcome.requests_anomalous, 400.0);
        assert_eq!(outcome.rejected_anomalous, 300.0);
        assert_eq!(outcome.normal_peak, 120.0);
        assert!((outcome.headroom - 100.0 / 120.0).abs() < 1e-12);
        assert_eq!(outcome.anomalous_rejected_share(), 0.75);
    }

    #[test]
    fn a_coarse_step_covers_several_windows_at_its_rate() {
        // 5-minute steps: 130 req/min for 5 minutes against 100 → 30 × 5 rejected.
        let outcome = replay(&[130.0], &[false], 300, 100);
        assert_eq!(outcome.requests_normal, 650.0);
        assert_eq!(outcome.rejected_normal, 150.0);
        assert_eq!(outcome.minutes_throttled_normal, 5.0);
    }

    #[test]
    fn totals_add_up_and_keep_the_tightest_headroom() {
        let a = replay(&[50.0, 200.0], &[false, true], 60, 100);
        let b = replay(&[90.0], &[false], 60, 100);
        let total = ReplayOutcome::total([&a, &b]);
        assert_eq!(total.requests_normal, 140.0);
        assert_eq!(total.rejected_anomalous, 100.0);
        assert!((total.headroom - 100.0 / 90.0).abs() < 1e-12);
        assert_eq!(ReplayOutcome::total([]), ReplayOutcome::default());
    }
}
