//! Recurring bursts: upward events that are demand, not anomalies.
//!
//! Why: on bursty series (news-driven traffic, a partner's nightly batch job, a daily push
//! notification herd) every burst of the training window was classified spike or surge and
//! removed, so the limit was built on the calm peak; on real bursty traces the next week's
//! bursts then met limits at 0.17–0.4× their height. One-off events (a bot, a retry storm)
//! must still be removed: that is what the filter is for. The difference is recurrence.
//!
//! An upward event (spike or surge, medium or high severity) recurs when
//! - upward events fell on at least `recurring_min_days` distinct days, spread over at least
//!   half the window (an attack on several days of one week is one event, not a pattern), or
//! - another upward event happened a whole number of weeks earlier or later
//!   (a weekly campaign: twice in two weeks, same weekday, overlapping hours, peaks within 2×
//!   of each other). Such pairs are their own
//!   pattern and do not count towards the days of the first rule, so that a weekly campaign
//!   and two stray one-offs do not make every spike of the window "recurring".
//!
//! What the limit must clear is the height the bursts reached on at least two different days
//! (the second-highest daily burst maximum), not the single highest minute: one day's extreme
//! (a bot's spike among the bursts) moves it at most to the next day's height, so a one-off
//! does not set the limit, while a height reached twice is demand.
//!
//! Recurring events stay `excluded` from the calm peak (the chain starts from the calm level)
//! but are marked `recurring`; [`RecurringBursts`] summarises them for the calculator's burst
//! floor, which makes the limit clear them with `burst_headroom`.

use chrono::{NaiveDate, TimeDelta};
use trendmaster_types::settings::AnomalySettings;
use trendmaster_types::{AnalysisWindow, AnomalyEvent, AnomalyKind, RecurringBursts, Severity};

/// Events a whole number of weeks apart whose hours overlap (within this) are the same weekly
/// event…
const WEEKLY_TOLERANCE: TimeDelta = TimeDelta::minutes(15);
/// …when neither peak is more than this × the other (a campaign is about as big each week; a
/// bot's spike that happens to fall near last week's herd is not).
const WEEKLY_HEIGHT_RATIO: f64 = 2.0;

fn is_upward(event: &AnomalyEvent) -> bool {
    matches!(event.kind, AnomalyKind::Spike | AnomalyKind::Surge)
        && event.severity >= Severity::Medium
}

/// Marks the upward events of `events` that belong to a recurring pattern, and summarises
/// them; `None` (and nothing marked) when the series has no recurring pattern.
pub(crate) fn mark(
    events: &mut [AnomalyEvent],
    window: &AnalysisWindow,
    settings: &AnomalySettings,
) -> Option<RecurringBursts> {
    if settings.recurring_min_days == 0 {
        return None;
    }
    let upward: Vec<usize> = (0..events.len())
        .filter(|i| is_upward(&events[*i]))
        .collect();
    // Weekly first: a weekly campaign is its own pattern, and its days must not help stray
    // one-offs reach the day count below.
    let mut recurring = vec![false; events.len()];
    for (a, &i) in upward.iter().enumerate() {
        for &j in &upward[a + 1..] {
            if weeks_apart(&events[i], &events[j])
                && similar_height(events[i].peak_value, events[j].peak_value)
            {
                recurring[i] = true;
                recurring[j] = true;
            }
        }
    }
    let weekly = recurring.iter().filter(|r| **r).count();
    let unexplained: Vec<usize> = upward.iter().copied().filter(|i| !recurring[*i]).collect();
    if spread_over_days(events, &unexplained, window, settings.recurring_min_days) {
        for i in unexplained {
            recurring[i] = true;
        }
    }

    let kept: Vec<&mut AnomalyEvent> = events
        .iter_mut()
        .zip(&recurring)
        .filter_map(|(event, recurs)| recurs.then_some(event))
        .collect();
    if kept.is_empty() {
        return None;
    }
    // Each day's highest burst minute, highest first.
    let mut daily: Vec<(NaiveDate, f64)> = Vec::new();
    for event in &kept {
        let day = event.start.date_naive();
        match daily.iter_mut().find(|(d, _)| *d == day) {
            Some((_, height)) => *height = height.max(event.peak_value),
            None => daily.push((day, event.peak_value)),
        }
    }
    daily.sort_by(|a, b| b.1.total_cmp(&a.1));
    let peak = daily[0].1;
    let demand = daily.get(1).map_or(peak, |(_, height)| *height);
    let first_day = daily.iter().map(|(d, _)| *d).min().unwrap_or_default();
    let last_day = daily.iter().map(|(d, _)| *d).max().unwrap_or_default();
    let events_kept = kept.len();
    for event in kept {
        event.recurring = true;
    }
    Some(RecurringBursts {
        events: events_kept,
        weekly,
        days: daily.len(),
        first_day,
        last_day,
        peak,
        demand,
    })
}

/// Whether the upward events fall on at least `min_days` distinct days, the first and the
/// last at least half the window apart.
fn spread_over_days(
    events: &[AnomalyEvent],
    upward: &[usize],
    window: &AnalysisWindow,
    min_days: usize,
) -> bool {
    let mut days: Vec<NaiveDate> = upward
        .iter()
        .map(|i| events[*i].start.date_naive())
        .collect();
    days.sort_unstable();
    days.dedup();
    if days.len() < min_days {
        return false;
    }
    let spread = days[days.len() - 1] - days[0];
    let half_window = (window.end - window.start) / 2;
    spread + TimeDelta::days(1) >= half_window
}

/// Whether neither of two peaks is more than [`WEEKLY_HEIGHT_RATIO`] × the other.
fn similar_height(a: f64, b: f64) -> bool {
    a.max(b) <= WEEKLY_HEIGHT_RATIO * a.min(b)
}

/// Whether `a` and `b` overlap when one is moved by a whole, non-zero number of weeks (within
/// the tolerance at either end): detection finds a campaign's start a few minutes apart from
/// week to week, but its hours overlap.
fn weeks_apart(a: &AnomalyEvent, b: &AnomalyEvent) -> bool {
    let (first, second) = if a.start <= b.start { (a, b) } else { (b, a) };
    let week = TimeDelta::weeks(1);
    let weeks = ((second.start - first.start).num_seconds() as f64 / week.num_seconds() as f64)
        .round() as i32;
    if weeks < 1 {
        return false;
    }
    let (start, end) = (second.start - week * weeks, second.end - week * weeks);
    start < first.end + WEEKLY_TOLERANCE && first.start < end + WEEKLY_TOLERANCE
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::anomaly_settings;

    fn window() -> AnalysisWindow {
        AnalysisWindow {
            start: "2026-11-02T00:00:00Z".parse().unwrap(),
            end: "2026-11-16T00:00:00Z".parse().unwrap(),
            step_secs: 60,
        }
    }

    fn spike(day: i64, hour: i64, peak: f64) -> AnomalyEvent {
        let start = window().start + TimeDelta::days(day) + TimeDelta::hours(hour);
        AnomalyEvent {
            kind: AnomalyKind::Spike,
            severity: Severity::High,
            start,
            end: start + TimeDelta::minutes(10),
            points: 10,
            excluded: true,
            peak_value: peak,
            max_score: 30.0,
            recurring: false,
        }
    }

    #[test]
    fn one_off_events_stay_anomalies() {
        let mut events = vec![spike(3, 21, 900.0), spike(4, 2, 700.0)];
        assert_eq!(mark(&mut events, &window(), &anomaly_settings()), None);
        assert!(events.iter().all(|e| !e.recurring && e.excluded));
    }

    #[test]
    fn bursts_on_several_days_across_the_window_are_demand() {
        let mut events: Vec<AnomalyEvent> = [1, 4, 6, 8, 12]
            .iter()
            .map(|day| spike(*day, 8 + *day, 500.0 + *day as f64 * 10.0))
            .collect();
        events.push(spike(12, 22, 580.0));
        let bursts = mark(&mut events, &window(), &anomaly_settings()).unwrap();
        assert_eq!((bursts.events, bursts.days), (6, 5));
        assert_eq!(bursts.peak, 620.0);
        assert_eq!(bursts.demand, 580.0, "day 8's 580, the second-highest day");
        assert!(events.iter().all(|e| e.recurring));
        // Five days in one week: a week-long attack, not a pattern; four days: too few.
        let mut attack: Vec<AnomalyEvent> = [0, 1, 2, 3, 4]
            .iter()
            .map(|d| spike(*d, 8 + *d, 500.0))
            .collect();
        assert_eq!(mark(&mut attack, &window(), &anomaly_settings()), None);
        let mut attack: Vec<AnomalyEvent> = [1, 4, 8, 12]
            .iter()
            .map(|d| spike(*d, 8 + *d, 500.0))
            .collect();
        assert_eq!(mark(&mut attack, &window(), &anomaly_settings()), None);
    }

    #[test]
    fn a_weekly_campaign_recurs_on_the_same_weekday_and_hour() {
        let mut events = vec![spike(2, 12, 300.0), spike(9, 12, 320.0), spike(5, 3, 900.0)];
        let bursts = mark(&mut events, &window(), &anomaly_settings()).unwrap();
        assert_eq!((bursts.events, bursts.weekly), (2, 2));
        assert!(events[0].recurring && events[1].recurring && !events[2].recurring);
    }

    #[test]
    fn a_weekly_pair_does_not_lend_its_days_to_one_offs() {
        let mut events = vec![
            spike(2, 13, 76.0),
            spike(9, 13, 77.0),
            spike(5, 21, 360.0),
            spike(10, 23, 396.0),
        ];
        let bursts = mark(&mut events, &window(), &anomaly_settings()).unwrap();
        assert_eq!((bursts.events, bursts.days), (2, 2));
        assert!(!events[2].recurring && !events[3].recurring);
    }

    #[test]
    fn one_day_far_above_the_pattern_does_not_set_the_demand() {
        let mut events: Vec<AnomalyEvent> =
            (0..10).map(|d| spike(d, 8 + d, 500.0 + d as f64)).collect();
        events.push(spike(11, 21, 5000.0));
        let bursts = mark(&mut events, &window(), &anomaly_settings()).unwrap();
        assert_eq!((bursts.events, bursts.days), (11, 11));
        assert_eq!(bursts.peak, 5000.0);
        assert_eq!(bursts.demand, 509.0);
    }

    #[test]
    fn drops_and_low_severity_events_never_recur() {
        let mut events: Vec<AnomalyEvent> =
            [1, 5, 9, 13].iter().map(|d| spike(*d, 20, 500.0)).collect();
        for event in &mut events {
            event.kind = AnomalyKind::Drop;
        }
        assert_eq!(mark(&mut events, &window(), &anomaly_settings()), None);
        let mut settings = anomaly_settings();
        settings.recurring_min_days = 0;
        let mut bursts: Vec<AnomalyEvent> =
            [1, 5, 9, 13].iter().map(|d| spike(*d, 20, 500.0)).collect();
        assert_eq!(
            mark(&mut bursts, &window(), &settings),
            None,
            "0 disables the rule"
        );
    }
}
