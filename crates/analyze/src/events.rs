//! Grouping anomalous points into events, and deciding which points are left out.

use trendmaster_types::settings::AnomalySettings;
use trendmaster_types::{AnomalyEvent, AnomalyKind, Severity, TrafficSeries};

/// Which way a point deviates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Deviation {
    Above,
    Below,
    Missing,
}

/// Runs of consecutive points deviating the same way, as events. Without `scores` (too little
/// data to judge) only gaps are reported.
pub fn find_events(
    series: &TrafficSeries,
    scores: Option<&[f64]>,
    settings: &AnomalySettings,
) -> Vec<AnomalyEvent> {
    let low = settings.robust_zscore.low;
    let deviation = |i: usize| -> Option<Deviation> {
        if series.values[i].is_nan() {
            return Some(Deviation::Missing);
        }
        let score = scores?[i];
        if score >= low {
            Some(Deviation::Above)
        } else if score <= -low {
            Some(Deviation::Below)
        } else {
            None
        }
    };

    let mut events = Vec::new();
    let mut run: Option<(Deviation, usize)> = None;
    for i in 0..=series.values.len() {
        let current = if i < series.values.len() { deviation(i) } else { None };
        if let Some((kind, start)) = run
            && current != Some(kind)
        {
            events.push(make_event(series, scores, settings, kind, start, i));
            run = None;
        }
        if run.is_none() {
            run = current.map(|kind| (kind, i));
        }
    }
    events
}

fn make_event(
    series: &TrafficSeries,
    scores: Option<&[f64]>,
    settings: &AnomalySettings,
    deviation: Deviation,
    start: usize,
    end: usize,
) -> AnomalyEvent {
    let window = &series.window;
    let points = end - start;
    let minutes = points as f64 * f64::from(window.step_secs) / 60.0;
    let kind = match deviation {
        Deviation::Missing => AnomalyKind::Gap,
        Deviation::Below => AnomalyKind::Drop,
        Deviation::Above if minutes <= f64::from(settings.spike_max_minutes) => AnomalyKind::Spike,
        Deviation::Above => AnomalyKind::Surge,
    };
    let values = &series.values[start..end];
    let peak_value = values.iter().copied().filter(|v| !v.is_nan()).fold(0.0, f64::max);
    let max_score = scores
        .map(|s| s[start..end].iter().map(|z| z.abs()).fold(0.0, f64::max))
        .unwrap_or(0.0);
    let thresholds = &settings.robust_zscore;
    let severity = if kind == AnomalyKind::Gap || max_score < thresholds.medium {
        Severity::Low
    } else if max_score < thresholds.high {
        Severity::Medium
    } else {
        Severity::High
    };
    AnomalyEvent {
        kind,
        severity,
        start: window.timestamp(start),
        end: window.timestamp(end),
        points,
        // Gaps carry no data to leave out.
        excluded: kind != AnomalyKind::Gap && settings.severity_filter.contains(&severity),
        peak_value,
        max_score,
    }
}

/// `true` for every point that is present and not inside an excluded event.
pub fn clean_mask(series: &TrafficSeries, events: &[AnomalyEvent]) -> Vec<bool> {
    let mut mask: Vec<bool> = series.values.iter().map(|v| !v.is_nan()).collect();
    let step = i64::from(series.window.step_secs);
    for event in events.iter().filter(|e| e.excluded) {
        let start = ((event.start - series.window.start).num_seconds() / step) as usize;
        for keep in &mut mask[start..start + event.points] {
            *keep = false;
        }
    }
    mask
}
