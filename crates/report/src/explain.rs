//! `--explain`: how one entry's limit is derived, step by step, down to the number the
//! ConfigMap holds.

use std::fmt::Write as _;

use trendmaster_types::settings::ConfigMapSettings;
use trendmaster_types::{ChangeStatus, PlannedLimit, RateRecommendation, one_line};

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
    let emitted = planned.map_or(rec.requests_per_minute, |p| p.emitted);
    let _ = writeln!(
        out,
        "= {} requests/minute recommended",
        rec.requests_per_minute
    );
    if let Some(planned) = planned {
        match (planned.status, planned.current) {
            (ChangeStatus::Held, Some(current)) => {
                let _ = writeln!(
                    out,
                    "held: {} → {} is beyond the governance ratio; the ConfigMap keeps {current} until --approve {}:{}",
                    current, rec.requests_per_minute, rec.key.partner, rec.key.api
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{rec, settings};

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
}
