//! The plan as a table for people, printed on stderr beside the logs (stdout stays data).

use std::fmt::Write as _;

use trendmaster_types::{ChangeStatus, PlannedLimit};

use crate::format::change_text;

/// The plan as a plain-text table (for stderr): one line per entry that is not unchanged, then
/// a count of the unchanged ones.
pub fn render_change_table(plan: &[PlannedLimit]) -> String {
    let mut out = format!(
        "{:<10} {:<46} {:>9} {:>11} {:>8} {:>9}\n",
        "partner", "api", "current", "recommended", "change", "status"
    );
    let unchanged = plan
        .iter()
        .filter(|p| p.status == ChangeStatus::Unchanged)
        .count();
    for entry in plan.iter().filter(|p| p.status != ChangeStatus::Unchanged) {
        let _ = writeln!(
            out,
            "{:<10} {:<46} {:>9} {:>11} {:>8} {:>9}",
            entry.key.partner,
            entry.key.api,
            entry.current.map_or("-".to_owned(), |v| v.to_string()),
            entry.recommended.map_or("-".to_owned(), |v| v.to_string()),
            change_text(entry),
            entry.status.as_str()
        );
    }
    let _ = writeln!(out, "({unchanged} unchanged)");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use trendmaster_types::SeriesKey;

    #[test]
    fn the_table_lists_what_changes_and_counts_the_rest() {
        let entry = |api: &str, current, recommended, emitted, status| PlannedLimit {
            key: SeriesKey::new("111", api),
            current,
            recommended,
            emitted,
            status,
        };
        let table = render_change_table(&[
            entry("/a", Some(1000), Some(3000), 1000, ChangeStatus::Held),
            entry("/b", Some(500), Some(500), 500, ChangeStatus::Unchanged),
            entry("/c", None, Some(200), 200, ChangeStatus::New),
        ]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4, "{table}");
        assert!(lines[0].starts_with("partner "), "{table}");
        assert!(
            lines[1].contains("×3 (+2000)") && lines[1].ends_with("held"),
            "{table}"
        );
        assert!(
            lines[2].contains(" - ") && lines[2].ends_with("new"),
            "{table}"
        );
        assert_eq!(lines[3], "(1 unchanged)");
    }
}
