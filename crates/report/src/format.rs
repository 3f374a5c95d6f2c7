//! Numbers and changes as both reports and the change table print them.

use trendmaster_types::PlannedLimit;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_drop_needless_decimals() {
        assert_eq!(number(f64::NAN), "n/a");
        assert_eq!(number(2.0), "2");
        assert_eq!(number(1.005_1), "1.01");
        assert_eq!(number(2.5), "2.5");
    }
}
