//! Numbers and changes as both reports and the change table print them.

use trendmaster_types::{PlannedLimit, RateRecommendation, Saturation};

/// Whole numbers without decimals, others with up to two; NaN (no data) as `n/a`.
pub(crate) fn number(value: f64) -> String {
    if !value.is_finite() {
        return "n/a".to_owned();
    }
    if value.fract() == 0.0 && value.abs() < 1e15 {
        return format!("{value:.0}");
    }
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// `×1.25 (+50)`, or `-` without both values.
pub(crate) fn change_text(entry: &PlannedLimit) -> String {
    match (entry.ratio(), entry.current, entry.recommended) {
        (Some(ratio), Some(old), Some(new)) => {
            format!("×{} ({:+})", number(ratio), new as i64 - old as i64)
        }
        _ => "-".to_owned(),
    }
}

/// A share (0..=1) as a percentage: `7.14 %`.
pub(crate) fn percent(share: f64) -> String {
    format!("{} %", number(share * 100.0))
}

/// How often traffic sat at the deployed limit, and the rejected share when the source
/// measured one: `traffic sat at the deployed limit (1000 req/min) on 7.14 % of prime-time
/// minutes (2 % of requests rejected)`.
pub(crate) fn saturation_text(saturation: &Saturation) -> String {
    let rejected = saturation
        .rejected_share
        .map(|share| format!(" ({} of requests rejected)", percent(share)))
        .unwrap_or_default();
    format!(
        "traffic sat at the deployed limit ({} req/min) on {} of prime-time minutes{rejected}",
        number(saturation.limit),
        percent(saturation.share)
    )
}

/// The one-line flag of a censored series; `None` when it is not censored.
pub(crate) fn censored_text(rec: &RateRecommendation) -> Option<String> {
    let saturation = rec.analysis.saturation.as_ref()?;
    saturation.censored.then(|| {
        format!(
            "{}: observed traffic understates demand, not cut",
            saturation_text(saturation)
        )
    })
}

/// How many of `recommendations` are censored.
pub(crate) fn censored_count<'a>(
    recommendations: impl IntoIterator<Item = &'a RateRecommendation>,
) -> usize {
    recommendations
        .into_iter()
        .filter(|rec| censored_text(rec).is_some())
        .count()
}

/// What the ConfigMap does with a held change: `keeps 600`, or `rises to 1500 at once (…) and
/// the rest of the raise waits` when the deployed limit was below that floor.
pub(crate) fn held_text(current: u64, emitted: u64) -> String {
    if emitted > current {
        format!(
            "rises to {emitted} at once (the highest legitimate minute) and the rest of the raise waits"
        )
    } else {
        format!("keeps {current}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn censored_series_are_flagged_with_their_numbers() {
        let mut rec = crate::test_support::rec("111", "/a", 800);
        assert_eq!(censored_text(&rec), None);
        let mut saturation = Saturation {
            limit: 1000.0,
            prime_minutes: 4200,
            saturated_minutes: 300,
            share: 300.0 / 4200.0,
            rejected_share: Some(0.02),
            censored: true,
        };
        rec.analysis.saturation = Some(saturation.clone());
        assert_eq!(
            censored_text(&rec).unwrap(),
            "traffic sat at the deployed limit (1000 req/min) on 7.14 % of prime-time minutes \
             (2 % of requests rejected): observed traffic understates demand, not cut"
        );
        assert_eq!(censored_count([&rec, &rec]), 2);
        saturation.rejected_share = None;
        assert_eq!(
            saturation_text(&saturation),
            "traffic sat at the deployed limit (1000 req/min) on 7.14 % of prime-time minutes"
        );
        saturation.censored = false;
        rec.analysis.saturation = Some(saturation);
        assert_eq!(censored_text(&rec), None);
        assert_eq!(censored_count([&rec]), 0);
    }

    #[test]
    fn a_held_change_keeps_the_deployed_limit_unless_it_is_below_the_floor() {
        assert_eq!(held_text(600, 600), "keeps 600");
        assert_eq!(
            held_text(2000, 11200),
            "rises to 11200 at once (the highest legitimate minute) and the rest of the raise waits"
        );
    }

    #[test]
    fn numbers_drop_needless_decimals() {
        assert_eq!(number(f64::NAN), "n/a");
        assert_eq!(number(2.0), "2");
        assert_eq!(number(1.005_1), "1.01");
        assert_eq!(number(2.5), "2.5");
    }
}
