//! The HTML report: one self-contained file (styles, script and every chart inline, nothing
//! fetched), for the question users of recommenders ask most: "why this number?".
//!
//! A sortable summary table (partner, API, current, recommended, change, confidence, status),
//! then one section per partner × API with its chart, the derivation step by step, the
//! confidence factors and the anomaly events.

use std::fmt::Write as _;

use trendmaster_types::{ChangeStatus, PlannedLimit, RateRecommendation, SeriesKey};

use crate::format::{censored_count, censored_text, number};
use crate::view::{ReportView, SeriesView};

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:1260px;color:#222;padding:0 1rem}\
h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2.5rem;border-top:1px solid #ddd;padding-top:1rem}\
h3{font-size:1rem;margin-bottom:.3rem}table{border-collapse:collapse;margin:.5rem 0 1rem}\
th,td{border:1px solid #ccc;padding:.25rem .6rem;text-align:left;font-size:.9rem}\
td.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#f3f3f3}\
table.sortable th{cursor:pointer}table.sortable th:after{content:' \\2195';color:#999}\
.held{background:#fff3cd}.changed{background:#e8f4fd}.chart svg{max-width:100%;height:auto}\
ol li{margin:.15rem 0}.meta{color:#555}code{background:#f5f5f5;padding:0 .2rem}";

/// Sorts a table by the clicked column: numbers as numbers (from `data-sort` when set), text
/// as text; a second click reverses.
const SORT_SCRIPT: &str = "document.querySelectorAll('table.sortable th').forEach(function(th,i){th.addEventListener('click',function(){\
var body=th.closest('table').tBodies[0];var rows=Array.prototype.slice.call(body.rows);\
var asc=th.dataset.order!=='asc';th.dataset.order=asc?'asc':'desc';\
function key(r){var c=r.cells[i];return c.dataset.sort!==undefined?c.dataset.sort:c.textContent;}\
rows.sort(function(a,b){var x=key(a),y=key(b),nx=parseFloat(x),ny=parseFloat(y);\
var d=(!isNaN(nx)&&!isNaN(ny))?nx-ny:x.localeCompare(y);return asc?d:-d;});\
rows.forEach(function(r){body.appendChild(r);});});});";

/// The whole HTML report, each series' chart inline.
pub fn render(view: &ReportView<'_>) -> String {
    let run = view.run;
    let mut out = String::new();
    let title = format!("Rate-limit recommendations for {}", run.environment);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head><body>\n<h1>{}</h1>\n",
        escape(&title),
        escape(&title)
    );
    let _ = writeln!(
        out,
        "<p class=\"meta\">Environment <b>{}</b> ({}), source {}, window {} to {} ({}-second steps), \
         {} mode; generated {} by trendmaster {}.{}</p>",
        escape(run.environment),
        escape(run.environment_detection),
        escape(run.source),
        run.window.start.format("%Y-%m-%d %H:%M UTC"),
        run.window.end.format("%Y-%m-%d %H:%M UTC"),
        run.window.step_secs,
        run.mode.as_str(),
        run.generated_at.format("%Y-%m-%d %H:%M:%S UTC"),
        escape(run.tool_version),
        run.changes
            .map(|c| format!(
                " Compared with {}; changes beyond ×{} are held for approval.",
                escape(c.deployed_from),
                c.max_change_ratio
            ))
            .unwrap_or_default()
    );
    let censored = censored_count(run.recommendations);
    if censored > 0 {
        let _ = writeln!(
            out,
            "<p><b>Censored demand:</b> {censored} series sat at the deployed limit or saw \
             requests rejected; observed traffic understates their demand, so they are not cut.</p>"
        );
    }

    write_summary(&mut out, &view.series);
    for series in &view.series {
        write_section(
            &mut out,
            series.recommendation,
            series.planned,
            series.chart.map(|chart| chart.svg),
        );
    }
    if !view.skipped.is_empty() {
        let _ = writeln!(out, "<h2>Not recommended</h2><ul>");
        for skipped in &view.skipped {
            let _ = writeln!(
                out,
                "<li><code>{}</code> × <code>{}</code>: {}</li>",
                escape(&skipped.key.partner),
                escape(&skipped.key.api),
                escape(&skipped.reason)
            );
        }
        let _ = writeln!(out, "</ul>");
    }
    let _ = writeln!(out, "<script>{SORT_SCRIPT}</script>\n</body></html>");
    out
}

/// The anchor of a series' section.
fn anchor(key: &SeriesKey) -> String {
    let slug: String = format!("{}-{}", key.partner, key.api)
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("s-{slug}")
}

fn write_summary(out: &mut String, series: &[SeriesView<'_>]) {
    let _ = writeln!(
        out,
        "<h2>Summary</h2>\n<table class=\"sortable\" id=\"summary\"><thead><tr>\
         <th>Partner</th><th>API</th><th>Current</th><th>Recommended</th><th>Emitted</th>\
         <th>Change</th><th>Confidence</th><th>Status</th><th>Method</th></tr></thead><tbody>"
    );
    for SeriesView {
        recommendation: rec,
        planned,
        ..
    } in series
    {
        let current = planned.and_then(|p| p.current);
        let emitted = planned.map_or(rec.requests_per_minute, |p| p.emitted);
        let ratio = current
            .filter(|c| *c > 0)
            .map(|c| rec.requests_per_minute as f64 / c as f64);
        let status = planned.map_or("new", |p| p.status.as_str());
        let class = match planned.map(|p| p.status) {
            Some(ChangeStatus::Held | ChangeStatus::Censored) => " class=\"held\"",
            Some(ChangeStatus::Changed | ChangeStatus::Approved | ChangeStatus::Stepped) => {
                " class=\"changed\""
            }
            _ => "",
        };
        let _ = writeln!(
            out,
            "<tr{class}><td>{}</td><td><a href=\"#{}\">{}</a></td><td class=\"n\" data-sort=\"{}\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\" data-sort=\"{}\">{}</td>\
             <td class=\"n\" data-sort=\"{:.3}\">{:.2} {}</td><td>{}</td><td>{}</td></tr>",
            escape(&rec.key.partner),
            anchor(&rec.key),
            escape(&rec.key.api),
            current.map_or(-1, |c| c as i64),
            current.map_or("–".to_owned(), |c| c.to_string()),
            rec.requests_per_minute,
            emitted,
            ratio.unwrap_or(0.0),
            ratio.map_or("–".to_owned(), |r| format!("×{r:.2}")),
            rec.confidence.score,
            rec.confidence.score,
            rec.confidence.level.as_str(),
            status,
            rec.analysis.method.as_str()
        );
    }
    let _ = writeln!(
        out,
        "</tbody></table>\n<p class=\"meta\">Requests per minute. Recommended: what the formula \
         gives; emitted: what the ConfigMap holds (a held change keeps the current value). \
         Click a column to sort.</p>"
    );
}

fn write_section(
    out: &mut String,
    rec: &RateRecommendation,
    planned: Option<&PlannedLimit>,
    chart: Option<&str>,
) {
    let analysis = &rec.analysis;
    let _ = writeln!(
        out,
        "<section id=\"{}\"><h2>{} × {}</h2>",
        anchor(&rec.key),
        escape(&rec.key.partner),
        escape(&rec.key.api)
    );
    let _ = writeln!(
        out,
        "<p>Limit <b>{} requests/minute</b> ({} mode, analysis method {}).{}</p>",
        rec.requests_per_minute,
        rec.mode.as_str(),
        analysis.method.as_str(),
        planned
            .map(|p| match (p.status, p.current) {
                (ChangeStatus::Held, Some(current)) => format!(
                    " <b>Held for approval:</b> the ConfigMap {} until \
                     <code>--approve {}:{}</code>.",
                    crate::format::held_text(current, p.emitted),
                    escape(&rec.key.partner),
                    escape(&rec.key.api)
                ),
                (ChangeStatus::Stepped, Some(current)) => format!(
                    " <b>Stepped:</b> deployed {current}; a cut takes at most \
                     <code>max_cut_per_run</code> per run, so the ConfigMap holds {} this run.",
                    p.emitted
                ),
                (ChangeStatus::Censored, Some(current)) => format!(
                    " <b>Censored:</b> traffic sat at the deployed limit or was rejected, so it \
                     understates demand; the ConfigMap keeps {current} (never cut)."
                ),
                (ChangeStatus::Kept, Some(current)) => {
                    format!(" Within the deadband: the ConfigMap keeps {current}.")
                }
                (_, Some(current)) => format!(" Deployed now: {current}."),
                _ => String::new(),
            })
            .unwrap_or_default()
    );
    if let Some(censored) = censored_text(rec) {
        let _ = writeln!(out, "<p><b>Censored demand:</b> {}.</p>", escape(&censored));
    }
    if let Some(svg) = chart {
        let _ = writeln!(out, "<div class=\"chart\">{svg}</div>");
    }
    let _ = writeln!(out, "<h3>Derivation</h3><ol>");
    for step in &rec.steps {
        let _ = writeln!(out, "<li>{}</li>", escape(&step.explanation));
    }
    let _ = writeln!(out, "</ol>");

    let confidence = &rec.confidence;
    let _ = writeln!(
        out,
        "<h3>Confidence {:.2} ({})</h3><table><thead><tr><th>Factor</th><th>Measured</th>\
         <th>Score</th><th>Weight</th></tr></thead><tbody>",
        confidence.score,
        confidence.level.as_str()
    );
    for factor in &confidence.factors {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{:.2}</td><td class=\"n\">{:.2}</td></tr>",
            escape(&factor.name),
            number(factor.measured),
            factor.score,
            factor.weight
        );
    }
    let _ = writeln!(out, "</tbody></table>");

    let points = &analysis.points;
    let _ = writeln!(
        out,
        "<h3>Data</h3><p>{} points expected, {} present, {} missing, {} removed as anomalous, \
         {} used ({} in prime time); prime time {}; {} daily peaks used, {} days skipped.</p>",
        points.expected,
        points.present,
        points.missing,
        points.removed,
        points.used,
        points.prime_used,
        escape(&analysis.prime_time.describe()),
        analysis.daily_peaks.len(),
        analysis.days_skipped
    );

    if analysis.anomalies.is_empty() {
        let _ = writeln!(out, "<h3>Anomaly events</h3><p>None found.</p>");
    } else {
        let _ = writeln!(
            out,
            "<h3>Anomaly events</h3><table class=\"sortable\"><thead><tr><th>Kind</th>\
             <th>Severity</th><th>Start</th><th>End</th><th>Points</th><th>Peak value</th>\
             <th>Treated as</th></tr></thead><tbody>"
        );
        for event in &analysis.anomalies {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td>\
                 <td class=\"n\">{:.0}</td><td>{}</td></tr>",
                event.kind.as_str(),
                event.severity.as_str(),
                event.start.format("%Y-%m-%d %H:%M"),
                event.end.format("%Y-%m-%d %H:%M"),
                event.points,
                event.peak_value,
                event.treatment()
            );
        }
        let _ = writeln!(out, "</tbody></table>");
    }
    let _ = writeln!(out, "</section>");
}

/// Text for HTML element content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn censored_series_are_flagged_at_the_top_and_in_their_section() {
        use crate::test_support::{rec, window};
        use crate::view::RunSummary;
        let mut pinned = rec("111", "/a", 700);
        pinned.analysis.saturation = Some(trendmaster_types::Saturation {
            limit: 1000.0,
            prime_minutes: 4200,
            saturated_minutes: 420,
            share: 0.1,
            rejected_share: None,
            censored: true,
        });
        let recs = [pinned, rec("111", "/b", 700)];
        let charts = std::collections::BTreeMap::new();
        let summary = RunSummary {
            tool_version: "0.1.0",
            environment: "testing",
            environment_detection: "ENV=testing",
            source: "demo",
            window: window(),
            mode: trendmaster_types::CalculationMode::Adaptive,
            config_files: Vec::new(),
            generated_at: "2026-11-15T00:05:00Z".parse().unwrap(),
            recommendations: &recs,
            skipped: &[],
            changes: None,
            charts: &charts,
        };
        let html = render(&ReportView::new(&summary));
        assert!(
            html.contains("<p><b>Censored demand:</b> 1 series sat at the deployed limit"),
            "{html}"
        );
        assert!(
            html.contains(
                "<p><b>Censored demand:</b> traffic sat at the deployed limit (1000 req/min) on \
                 10 % of prime-time minutes: observed traffic understates demand, not cut.</p>"
            ),
            "{html}"
        );
        assert_eq!(html.matches("<b>Censored demand:</b>").count(), 2);
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            escape("<a href=\"x\">O'Neil & co</a>"),
            "&lt;a href=&quot;x&quot;&gt;O&#39;Neil &amp; co&lt;/a&gt;"
        );
    }
}
