//! `--explain`: how one entry's limit is derived, step by step, down to the number the
//! ConfigMap holds.

use std::fmt::Write as _;

use trendmaster_types::settings::ConfigMapSettings;
use trendmaster_types::{AnomalyKind, ChangeStatus, PlannedLimit, RateRecommendation, one_line};

/// `--explain`: one entry's derivation in words, ending with the number the ConfigMap holds for
/// it (the recommendation, or the deployed value while a change is held).
pub fn render_explanation(
    rec: &RateRecommendation,
    planned: Option<&PlannedLimit>,
    settings: &ConfigMapSettings,
) -> String {
    let mut out = format!(
        "{} × {}: window {} to {}, analysis method {}, confidence {:.2} ({})\n",
        rec.key.partner,
        rec.key.api,
        rec.analysis.window.start.format("%Y-%m-%d %H:%M UTC"),
        rec.analysis.window.end.format("%Y-%m-%d %H:%M UTC"),
        rec.analysis.method.as_str(),
        rec.confidence.score,
        rec.confidence.level.as_str()
    );
    let width = rec.steps.len().to_string().len();
    for (i, step) in rec.steps.iter().enumerate() {
        let _ = writeln!(out, "{:>width$}. {}", i + 1, one_line(&step.explanation));
    }
    write_events(&mut out, rec);
    let emitted = planned.map_or(rec.requests_per_minute, |p| p.emitted);
    let _ = writeln!(
        out,
        "= {} requests/minute recommended",
        rec.requests_per_minute
    );
    if let Some(saturation) = &rec.analysis.saturation {
        let verdict = if saturation.censored {
            "censored (observed traffic understates demand)"
        } else {
            "not censored"
        };
        let _ = writeln!(
            out,
            "saturation: {} ({} of {} points): {verdict}",
            crate::format::saturation_text(saturation),
            saturation.saturated_minutes,
            saturation.prime_minutes
        );
    }
    if let Some(planned) = planned {
        match (planned.status, planned.current) {
            (ChangeStatus::Held, Some(current)) => {
                let _ = writeln!(
                    out,
                    "held: {} → {} is beyond the governance ratio; the ConfigMap {} until --approve {}:{}",
                    current,
                    rec.requests_per_minute,
                    crate::format::held_text(current, planned.emitted),
                    rec.key.partner,
                    rec.key.api
                );
            }
            (ChangeStatus::Stepped, Some(current)) => {
                let _ = writeln!(
                    out,
                    "stepped: {} → {} cuts more than GOVERNANCE.max_cut_per_run in one run; the ConfigMap holds {} this run and later runs go on (--approve {}:{} cuts in full)",
                    current, rec.requests_per_minute, planned.emitted, rec.key.partner, rec.key.api
                );
            }
            (ChangeStatus::Censored, Some(current)) => {
                let _ = writeln!(
                    out,
                    "censored: traffic sat at the deployed limit or was rejected, so it understates demand; the ConfigMap keeps {current} (never cut)"
                );
            }
            (ChangeStatus::Kept, Some(current)) => {
                let _ = writeln!(
                    out,
                    "kept: {} → {} is within GOVERNANCE.deadband; the ConfigMap keeps {current}",
                    current, rec.requests_per_minute
                );
            }
            (status, Some(current)) => {
                let _ = writeln!(out, "deployed now: {current} ({})", status.as_str());
            }
            _ => {}
        }
    }
    // The ConfigMap was rendered (and its values checked against the service's uint32) before
    // anything is explained, so this is the number it holds.
    let value = settings.unit.requests_per_unit(emitted);
    let _ = writeln!(
        out,
        "ConfigMap {}/{} ({}): {} = {}, {} = {}: requests_per_unit {} per {}",
        settings.namespace,
        settings.name,
        settings.data_key,
        settings.partner_descriptor_key,
        rec.key.partner,
        settings.path_descriptor_key,
        rec.key.api,
        value,
        settings.unit.as_str()
    );
    out
}

/// Each upward event and what became of it: recurring demand (why), or a one-off removed.
fn write_events(out: &mut String, rec: &RateRecommendation) {
    let upward: Vec<_> = rec
        .analysis
        .anomalies
        .iter()
        .filter(|e| matches!(e.kind, AnomalyKind::Spike | AnomalyKind::Surge))
        .collect();
    if upward.is_empty() {
        return;
    }
    let why = match &rec.analysis.recurring_bursts {
        Some(b) => {
            let mut how = Vec::new();
            if b.weekly > 0 {
                how.push(format!(
                    "{} repeat weekly in the same hours at a similar height",
                    b.weekly
                ));
            }
            if b.events > b.weekly {
                how.push(format!(
                    "{} fall on days spread over the window (at least ANOMALY_CONFIG.recurring_min_days)",
                    b.events - b.weekly
                ));
            }
            format!(
                "recurring bursts on {} days ({} … {}): {}; they are demand (burst floor), the rest are one-offs",
                b.days,
                b.first_day,
                b.last_day,
                how.join(", ")
            )
        }
        None => "no recurring pattern: upward events are one-offs".to_string(),
    };
    let _ = writeln!(out, "   {why}:");
    for event in upward {
        let _ = writeln!(
            out,
            "   - {} {} {} for {} points, peak {}: {}",
            event.start.format("%Y-%m-%d %H:%M"),
            event.severity.as_str(),
            event.kind.as_str(),
            event.points,
            crate::format::number(event.peak_value),
            event.treatment()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{rec, settings};

    #[test]
    fn upward_events_say_whether_they_were_demand_or_removed_and_why() {
        use trendmaster_types::{AnomalyEvent, RecurringBursts, Severity};
        let mut rec = rec("111", "/a", 300);
        let event = |day: u32, peak: f64, recurring: bool| AnomalyEvent {
            kind: AnomalyKind::Surge,
            severity: Severity::High,
            start: format!("2026-11-{day:02}T13:00:00Z").parse().unwrap(),
            end: format!("2026-11-{day:02}T15:00:00Z").parse().unwrap(),
            points: 120,
            excluded: true,
            peak_value: peak,
            max_score: 12.0,
            recurring,
        };
        rec.analysis.anomalies = vec![
            event(6, 101.0, true),
            event(9, 416.0, false),
            event(13, 97.0, true),
        ];
        rec.analysis.recurring_bursts = Some(RecurringBursts {
            events: 2,
            weekly: 2,
            days: 2,
            first_day: "2026-11-06".parse().unwrap(),
            last_day: "2026-11-13".parse().unwrap(),
            peak: 101.0,
            demand: 97.0,
        });
        let text = render_explanation(&rec, None, &settings());
        for line in [
            "recurring bursts on 2 days (2026-11-06 … 2026-11-13): 2 repeat weekly in the same hours at a similar height; they are demand (burst floor), the rest are one-offs:",
            "- 2026-11-06 13:00 high surge for 120 points, peak 101: recurring demand",
            "- 2026-11-09 13:00 high surge for 120 points, peak 416: removed",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        rec.analysis.recurring_bursts = None;
        rec.analysis.anomalies = vec![event(9, 416.0, false)];
        let text = render_explanation(&rec, None, &settings());
        assert!(
            text.contains("no recurring pattern: upward events are one-offs:"),
            "{text}"
        );
    }

    #[test]
    fn an_explanation_ends_with_the_emitted_value_in_the_configmap_unit() {
        use trendmaster_types::settings::RateLimitUnit;
        let rec = rec("111", "/a", 3000);
        let held = PlannedLimit {
            key: rec.key.clone(),
            current: Some(600),
            recommended: Some(3000),
            emitted: 600,
            status: ChangeStatus::Held,
        };
        let per_second = ConfigMapSettings {
            unit: RateLimitUnit::Second,
            ..settings()
        };
        let text = render_explanation(&rec, Some(&held), &per_second);
        assert!(
            text.contains("= 3000 requests/minute recommended"),
            "{text}"
        );
        assert!(
            text.contains("the ConfigMap keeps 600 until --approve 111:/a"),
            "{text}"
        );
        assert!(
            text.trim_end().ends_with("requests_per_unit 10 per second"),
            "600/min held, in seconds: {text}"
        );
        let text = render_explanation(&rec, None, &settings());
        assert!(
            text.trim_end()
                .ends_with("requests_per_unit 3000 per minute"),
            "{text}"
        );
    }

    #[test]
    fn an_explanation_shows_how_often_traffic_sat_at_the_deployed_limit() {
        let mut rec = rec("111", "/a", 700);
        let mut saturation = trendmaster_types::Saturation {
            limit: 1000.0,
            prime_minutes: 4200,
            saturated_minutes: 420,
            share: 0.1,
            rejected_share: Some(0.02),
            censored: true,
        };
        rec.analysis.saturation = Some(saturation.clone());
        let text = render_explanation(&rec, None, &settings());
        assert!(
            text.contains(
                "saturation: traffic sat at the deployed limit (1000 req/min) on 10 % of \
                 prime-time minutes (2 % of requests rejected) (420 of 4200 points): censored \
                 (observed traffic understates demand)\n"
            ),
            "{text}"
        );
        saturation.censored = false;
        rec.analysis.saturation = Some(saturation);
        let text = render_explanation(&rec, None, &settings());
        assert!(
            text.contains("(420 of 4200 points): not censored\n"),
            "{text}"
        );
        rec.analysis.saturation = None;
        let text = render_explanation(&rec, None, &settings());
        assert!(!text.contains("saturation"), "{text}");
    }
}
