//! Grouping findings into events, and deciding which points are left out.

use crate::detect::Finding;
use trendmaster_types::settings::AnomalySettings;
use trendmaster_types::{AnomalyEvent, AnomalyKind, Severity, TrafficSeries};

/// The events of `series`: touching findings of the same direction become one spike, surge or
/// drop, and runs of missing samples become gap events; sorted by start.
pub fn events(
    series: &TrafficSeries,
    findings: &[Finding],
    settings: &AnomalySettings,
) -> Vec<AnomalyEvent> {
    let mut events = gaps(series);
    let mut group: Vec<Finding> = Vec::new();
    for finding in findings {
        if let Some(last) = group.last()
            && (last.end != finding.start || last.z.signum() != finding.z.signum())
        {
            events.push(make_event(series, &group, settings));
            group.clear();
        }
        group.push(*finding);
    }
    if !group.is_empty() {
        events.push(make_event(series, &group, settings));
    }
    events.sort_by_key(|e| e.start);
    events
}

/// Runs of missing samples, as low-severity gap events (there is no data to leave out).
fn gaps(series: &TrafficSeries) -> Vec<AnomalyEvent> {
    let mut gaps = Vec::new();
    let mut start = None;
    for i in 0..=series.values.len() {
        let missing = series.values.get(i).is_some_and(|v| v.is_nan());
        match (start, missing) {
            (None, true) => start = Some(i),
            (Some(s), false) => {
                gaps.push(AnomalyEvent {
                    kind: AnomalyKind::Gap,
                    severity: Severity::Low,
                    start: series.window.timestamp(s),
                    end: series.window.timestamp(i),
                    points: i - s,
                    excluded: false,
                    peak_value: 0.0,
                    max_score: 0.0,
                    recurring: false,
                });
                start = None;
            }
            _ => {}
        }
    }
    gaps
}

/// One event from touching findings of one direction.
fn make_event(
    series: &TrafficSeries,
    group: &[Finding],
    settings: &AnomalySettings,
) -> AnomalyEvent {
    let window = &series.window;
    let (start, end) = (group[0].start, group[group.len() - 1].end);
    let points = end - start;
    let minutes = points as f64 * f64::from(window.step_secs) / 60.0;
    let kind = if group[0].z < 0.0 {
        AnomalyKind::Drop
    } else if minutes <= f64::from(settings.spike_max_minutes) {
        AnomalyKind::Spike
    } else {
        AnomalyKind::Surge
    };
    let thresholds = &settings.robust_zscore;
    // A run found by the scan is strong evidence by construction (its combined deviation
    // passed `sustained_zscore`); a single point is graded by how far out it is.
    let severity = group
        .iter()
        .map(|f| {
            let z = f.z.abs();
            if f.run || z >= thresholds.high {
                Severity::High
            } else if z >= thresholds.medium {
                Severity::Medium
            } else {
                Severity::Low
            }
        })
        .max()
        .unwrap_or(Severity::Low);
    AnomalyEvent {
        kind,
        severity,
        start: window.timestamp(start),
        end: window.timestamp(end),
        points,
        excluded: settings.severity_filter.contains(&severity)
            && settings.kind_filter.contains(&kind),
        peak_value: series.values[start..end]
            .iter()
            .copied()
            .filter(|v| !v.is_nan())
            .fold(0.0, f64::max),
        max_score: group.iter().map(|f| f.z.abs()).fold(0.0, f64::max),
        recurring: false,
    }
}

/// `true` for every point that is present and not inside an event `leave_out` picks.
pub fn clean_mask(
    series: &TrafficSeries,
    events: &[AnomalyEvent],
    leave_out: impl Fn(&AnomalyEvent) -> bool,
) -> Vec<bool> {
    let mut mask: Vec<bool> = series.values.iter().map(|v| !v.is_nan()).collect();
    let step = i64::from(series.window.step_secs);
    for event in events.iter().filter(|e| leave_out(e)) {
        let start = ((event.start - series.window.start).num_seconds() / step) as usize;
        for keep in &mut mask[start..start + event.points] {
            *keep = false;
        }
    }
    mask
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{anomaly_settings, window};

    fn finding(start: usize, end: usize, z: f64, run: bool) -> Finding {
        Finding { start, end, z, run }
    }

    #[test]
    fn touching_findings_of_one_direction_make_one_event() {
        let mut values = vec![10.0; 3000];
        values[100] = 90.0;
        values[2000..2003].iter_mut().for_each(|v| *v = f64::NAN);
        let series = TrafficSeries {
            key: trendmaster_types::SeriesKey::new("1", "/a"),
            window: window(3),
            values,
        };
        let findings = [
            finding(95, 100, 5.0, true),
            finding(100, 101, 7.0, false),
            finding(101, 103, -5.0, true),
            finding(500, 501, 6.5, false),
            finding(900, 960, 8.0, true),
        ];
        let events = events(&series, &findings, &anomaly_settings());
        let summary: Vec<_> = events
            .iter()
            .map(|e| (e.kind, e.severity, e.points, e.excluded))
            .collect();
        assert_eq!(
            summary,
            vec![
                (AnomalyKind::Spike, Severity::High, 6, true),
                (AnomalyKind::Drop, Severity::High, 2, false), // drops stay in by default
                (AnomalyKind::Spike, Severity::Medium, 1, false),
                (AnomalyKind::Surge, Severity::High, 60, true),
                (AnomalyKind::Gap, Severity::Low, 3, false),
            ]
        );
        assert_eq!(events[0].peak_value, 90.0);
        assert_eq!(events[0].max_score, 7.0);
        assert_eq!(events[4].start, series.window.timestamp(2000));
    }
}
