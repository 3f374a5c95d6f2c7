//! The Markdown report: for every limit, the numbers it came from and how much to trust it.
//!
//! The derivation is printed from the calculator's own [`FormulaStep`] explanations, so the
//! report can never describe a formula other than the one that ran.

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};
use trendmaster_types::{
    AnomalyEvent, CacheAdjustment, ChangeStatus, ForecastOutcome, FormulaStep, PlannedLimit,
    RateRecommendation, SkippedSeries, one_line,
};

use crate::format::{censored_count, censored_text, change_text, number, saturation_text};
use crate::view::{DeployedComparison, ReportView, RunSummary, SeriesView};

/// The whole report. Recommendations appear in partner × API order whatever the input order.
pub fn render(view: &ReportView<'_>) -> String {
    let run = view.run;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Rate-limit recommendations for {}\n",
        run.environment
    );
    write_run_section(&mut out, run);
    write_summary_table(&mut out, &view.series);
    if let Some(changes) = &run.changes {
        write_changes(&mut out, changes, view);
    }
    write_skipped(
        &mut out,
        &view.skipped,
        run.changes.as_ref().map(|c| c.plan),
    );
    for series in &view.series {
        write_series_section(
            &mut out,
            series.recommendation,
            series.chart.map(|chart| chart.path.as_str()),
        );
    }
    out
}

// `fmt::Write` for `String` never fails, so the results of `writeln!` below are ignored.

fn write_changes(out: &mut String, changes: &DeployedComparison<'_>, view: &ReportView<'_>) {
    let _ = writeln!(
        out,
        "## Changes against the deployed configuration\n\nDeployed configuration: {}. Changes beyond ×{} (up or down) are held: the emitted ConfigMap keeps the deployed value (or raises it to the highest legitimate minute when it is below that) until approved with `--approve PARTNER:API`.\n",
        code(changes.deployed_from),
        number(changes.max_change_ratio)
    );
    let _ = writeln!(
        out,
        "| Partner | API | Current | Recommended | Change | Emitted | Status |\n|---|---|---:|---:|---:|---:|---|"
    );
    for entry in changes.plan {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            code(&entry.key.partner),
            code(&entry.key.api),
            entry.current.map_or("-".to_owned(), |v| v.to_string()),
            entry.recommended.map_or("-".to_owned(), |v| v.to_string()),
            change_text(entry),
            entry.emitted,
            entry.status.as_str()
        );
    }
    let held: Vec<&PlannedLimit> = changes
        .plan
        .iter()
        .filter(|p| p.status == ChangeStatus::Held)
        .collect();
    if held.is_empty() {
        let _ = writeln!(out);
        return;
    }
    let _ = writeln!(out, "\n### Awaiting approval\n");
    for entry in held {
        let evidence = view.series_of(&entry.key).map_or_else(String::new, |series| {
            let rec = series.recommendation;
            format!(
                ": effective peak {} req/min from {} daily prime-time peaks, {} anomalous points removed, confidence {} ({})",
                number(rec.effective_peak),
                rec.analysis.daily_peaks.len(),
                rec.analysis.points.removed,
                number(rec.confidence.score),
                rec.confidence.level.as_str()
            )
        });
        let _ = writeln!(
            out,
            "- {} {}: {} → {} ({}){evidence}. Release with `--approve {}:{}`.",
            code(&entry.key.partner),
            code(&entry.key.api),
            entry.current.unwrap_or_default(),
            entry.recommended.unwrap_or_default(),
            change_text(entry),
            entry.key.partner,
            entry.key.api
        );
    }
    let _ = writeln!(out);
}

fn write_run_section(out: &mut String, run: &RunSummary<'_>) {
    let window = &run.window;
    let days = (window.end - window.start).num_seconds() as f64 / 86_400.0;
    let _ = writeln!(out, "## Run\n");
    let _ = writeln!(out, "- Tool: trendmaster {}", run.tool_version);
    let _ = writeln!(
        out,
        "- Environment: {} (detected from {})",
        code(run.environment),
        code(run.environment_detection)
    );
    let _ = writeln!(out, "- Source: {}", code(run.source));
    let _ = writeln!(
        out,
        "- Window: {} to {} ({} days, step {} s)",
        timestamp(window.start),
        timestamp(window.end),
        number(days),
        window.step_secs
    );
    let _ = writeln!(out, "- Calculation mode: {}", run.mode.as_str());
    let censored = censored_count(run.recommendations);
    if censored > 0 {
        let _ = writeln!(
            out,
            "- Censored demand: {censored} series sat at the deployed limit or saw requests \
             rejected; observed traffic understates their demand, so they are not cut"
        );
    }
    let files = if run.config_files.is_empty() {
        "none (built-in defaults)".to_owned()
    } else {
        run.config_files
            .iter()
            .map(|f| code(f))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(out, "- Configuration files: {files}");
    let _ = writeln!(out, "- Generated at: {}\n", timestamp(run.generated_at));
}

fn write_summary_table(out: &mut String, series: &[SeriesView<'_>]) {
    let _ = writeln!(out, "## Summary\n");
    if series.is_empty() {
        let _ = writeln!(out, "No recommendations were made.\n");
        return;
    }
    let _ = writeln!(
        out,
        "| Partner | API | Limit (req/min) | Effective peak (req/min) | Confidence | Pattern | Cache factor | Points removed / present |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---|---|---|---:|");
    for rec in series.iter().map(|s| s.recommendation) {
        let points = &rec.analysis.points;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.2} ({}) | {} | {} | {} / {} |",
            cell_code(&rec.key.partner),
            cell_code(&rec.key.api),
            rec.requests_per_minute,
            number(rec.effective_peak),
            rec.confidence.score,
            rec.confidence.level.as_str(),
            rec.pattern.as_str(),
            cache_text(&rec.cache),
            points.removed,
            points.present
        );
    }
    out.push('\n');
}

/// Each skipped series with its reason and what the ConfigMap does instead: with a deployed
/// configuration, its limit is kept (or it stays absent); without one, no entry is written.
fn write_skipped(out: &mut String, skipped: &[&SkippedSeries], plan: Option<&[PlannedLimit]>) {
    if skipped.is_empty() {
        return;
    }
    let _ = writeln!(out, "## Skipped\n");
    for series in skipped {
        let outcome = match plan.map(|plan| plan.iter().find(|p| p.key == series.key)) {
            Some(Some(kept)) => format!("the deployed limit ({} req/min) is kept", kept.emitted),
            Some(None) => "not deployed, so still not in the ConfigMap".to_string(),
            None => "no entry is written".to_string(),
        };
        let _ = writeln!(
            out,
            "- {} × {}: {}; {outcome}",
            code(&series.key.partner),
            code(&series.key.api),
            one_line(&series.reason)
        );
    }
    out.push('\n');
}

fn write_series_section(out: &mut String, rec: &RateRecommendation, plot: Option<&str>) {
    let analysis = &rec.analysis;
    let _ = writeln!(
        out,
        "## {} × {}\n",
        code(&rec.key.partner),
        code(&rec.key.api)
    );
    let _ = writeln!(
        out,
        "Limit **{} requests/minute** ({} mode, analysis method {}).\n",
        rec.requests_per_minute,
        rec.mode.as_str(),
        analysis.method.as_str()
    );
    if let Some(censored) = censored_text(rec) {
        let _ = writeln!(out, "**Censored:** {censored}.\n");
    }
    if let Some(plot) = plot {
        let _ = writeln!(
            out,
            "![traffic, expected level, removed anomalies, prime time and limits of {} × {}]({plot}.png)\n",
            rec.key.partner, rec.key.api
        );
    }
    write_derivation(out, &rec.steps);
    write_confidence(out, rec);

    let points = &analysis.points;
    let _ = writeln!(out, "### Data\n");
    let _ = writeln!(
        out,
        "- Points: {} expected, {} present, {} missing, {} removed as anomalous, {} used ({} in prime time)",
        points.expected,
        points.present,
        points.missing,
        points.removed,
        points.used,
        points.prime_used
    );
    let prime = &analysis.prime_time;
    let _ = writeln!(
        out,
        "- Prime time: {} ({})",
        prime.describe(),
        one_line(&prime.source)
    );
    if let Some(saturation) = &analysis.saturation {
        let _ = writeln!(
            out,
            "- Saturation: {} ({} of {} points){}",
            saturation_text(saturation),
            saturation.saturated_minutes,
            saturation.prime_minutes,
            if saturation.censored {
                ": censored"
            } else {
                ": not censored"
            }
        );
    }
    let _ = writeln!(
        out,
        "- Daily peaks used: {} (days skipped for low prime-time coverage: {})\n",
        analysis.daily_peaks.len(),
        analysis.days_skipped
    );
    write_forecast(out, &analysis.forecast);
    write_anomalies(out, &analysis.anomalies);
}

fn write_forecast(out: &mut String, forecast: &ForecastOutcome) {
    let _ = writeln!(
        out,
        "### Forecast
"
    );
    match forecast {
        ForecastOutcome::Fitted(f) => {
            let periods: Vec<String> = f.periods.iter().map(ToString::to_string).collect();
            let error =
                f.holdout_smape
                    .map_or("not measured (window too short)".to_string(), |e| {
                        format!(
                            "sMAPE {} on the last {} day(s), held out",
                            number(e),
                            f.holdout_days
                        )
                    });
            let _ = writeln!(
                out,
                "- Forecaster: {} at {} s resolution, seasonal periods [{}] points (periodogram saw {:?})",
                f.forecaster,
                f.resolution_secs,
                periods.join(", "),
                f.detected_periods
            );
            let _ = writeln!(out, "- Held-out error: {error}");
            let _ = writeln!(
                out,
                "- Next {} days: peak {} req/min, upper band {} ({} % interval), model trend ×{} (not applied: the trend step reads the daily peaks)\n",
                f.horizon_days,
                number(f.peak),
                number(f.peak_upper),
                number(f.level * 100.0),
                number(f.trend_growth)
            );
        }
        ForecastOutcome::Disabled => {
            let _ = writeln!(out, "- No forecast (forecaster: none)\n");
        }
        ForecastOutcome::Failed { reason } => {
            let _ = writeln!(out, "- No forecast: {}\n", one_line(reason));
        }
    }
}

fn write_derivation(out: &mut String, steps: &[FormulaStep]) {
    let _ = writeln!(out, "### Derivation\n");
    if steps.is_empty() {
        let _ = writeln!(out, "No derivation steps were recorded.\n");
        return;
    }
    for (i, step) in steps.iter().enumerate() {
        let _ = writeln!(out, "{}. {}", i + 1, one_line(&step.explanation));
    }
    out.push('\n');
}

fn write_confidence(out: &mut String, rec: &RateRecommendation) {
    let confidence = &rec.confidence;
    let _ = writeln!(
        out,
        "### Confidence: {:.2} ({})\n",
        confidence.score,
        confidence.level.as_str()
    );
    if confidence.factors.is_empty() {
        return;
    }
    let _ = writeln!(out, "| Factor | Measured | Score | Weight |");
    let _ = writeln!(out, "|---|---:|---:|---:|");
    for factor in &confidence.factors {
        let _ = writeln!(
            out,
            "| {} | {} | {:.2} | {:.2} |",
            cell(&factor.name),
            number(factor.measured),
            factor.score,
            factor.weight
        );
    }
    out.push('\n');
}

fn write_anomalies(out: &mut String, events: &[AnomalyEvent]) {
    let _ = writeln!(out, "### Anomaly events\n");
    if events.is_empty() {
        let _ = writeln!(out, "None detected.\n");
        return;
    }
    let _ = writeln!(
        out,
        "| Kind | Severity | Start | End | Points | Peak value | Treated as |"
    );
    let _ = writeln!(out, "|---|---|---|---|---:|---:|---|");
    for event in events {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            event.kind.as_str(),
            event.severity.as_str(),
            timestamp(event.start),
            timestamp(event.end),
            event.points,
            number(event.peak_value),
            event.treatment()
        );
    }
    out.push('\n');
}

fn cache_text(cache: &CacheAdjustment) -> String {
    match cache {
        CacheAdjustment::Measured { hit_ratio, factor } => {
            format!("{factor:.2} (measured, hit ratio {hit_ratio:.2})")
        }
        CacheAdjustment::Fallback { factor } => format!("{factor:.2} (fallback)"),
        CacheAdjustment::Disabled => "1.00 (disabled)".to_owned(),
    }
}

fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A table cell: a `|` would start a new column.
fn cell(text: &str) -> String {
    one_line(text).replace('|', "\\|")
}

/// Inline code, so that `*` or `_` in partner names and paths are not read as emphasis; the
/// fence is longer than any backtick run inside.
fn code(text: &str) -> String {
    let text = one_line(text);
    let longest_run = text
        .split(|c| c != '`')
        .map(str::len)
        .max()
        .unwrap_or_default();
    let fence = "`".repeat(longest_run + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{text}{pad}{fence}")
}

/// Inline code inside a table cell; GFM reads `\|` as a literal pipe even in code spans.
fn cell_code(text: &str) -> String {
    code(text).replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{rec, window};
    use crate::view::RunSummary;
    use std::collections::BTreeMap;
    use trendmaster_types::{
        AnomalyKind, CalculationMode, ConfidenceFactor, DailyPeak, PointCounts, SeriesKey,
        Severity, StepKind,
    };

    fn step(step: StepKind, input: f64, factor: f64, explanation: &str) -> FormulaStep {
        FormulaStep {
            step,
            input,
            factor: Some(factor),
            output: input * factor,
            explanation: explanation.into(),
        }
    }

    fn detailed_rec() -> RateRecommendation {
        let mut rec = rec("111", "/api/v3/orders|list", 1350);
        rec.effective_peak = 300.5;
        rec.cache = CacheAdjustment::Measured {
            hit_ratio: 0.25,
            factor: 1.05,
        };
        rec.steps = vec![
            step(
                StepKind::EffectivePeak,
                300.5,
                1.0,
                "The effective peak is 300.5 req/min.",
            ),
            step(
                StepKind::PeakMultiplier,
                300.5,
                2.5,
                "Multiplying by 2.5 gives 751.25.",
            ),
            step(
                StepKind::RoundUp,
                1342.0,
                1.0,
                "Rounding up to a multiple of 50 gives 1350.",
            ),
        ];
        rec.confidence.factors = vec![ConfidenceFactor {
            name: "data_volume".into(),
            measured: 20_160.0,
            score: 1.0,
            weight: 0.3,
        }];
        rec.analysis.points = PointCounts {
            expected: 20_160,
            present: 20_000,
            missing: 160,
            removed: 45,
            used: 19_955,
            prime_used: 9_000,
        };
        rec.analysis.days_skipped = 1;
        rec.analysis.daily_peaks = vec![DailyPeak {
            date: "2026-11-02".parse().unwrap(),
            peak: 300.5,
            at: "2026-11-02T18:00:00Z".parse().unwrap(),
            coverage: 0.99,
        }];
        rec.analysis.anomalies = vec![AnomalyEvent {
            kind: AnomalyKind::Spike,
            severity: Severity::High,
            start: "2026-11-03T10:00:00Z".parse().unwrap(),
            end: "2026-11-03T10:15:00Z".parse().unwrap(),
            points: 15,
            excluded: true,
            peak_value: 4200.0,
            max_score: 12.5,
            recurring: false,
        }];
        rec
    }

    fn report(recs: &[RateRecommendation], skipped: &[SkippedSeries]) -> String {
        let charts = BTreeMap::new();
        let summary = RunSummary {
            changes: None,
            tool_version: "0.1.0",
            environment: "testing",
            environment_detection: "ENV=testing",
            source: "demo",
            window: window(),
            mode: CalculationMode::Adaptive,
            config_files: vec!["config/config.yaml".into()],
            generated_at: "2026-11-15T00:05:00Z".parse().unwrap(),
            recommendations: recs,
            skipped,
            charts: &charts,
        };
        render(&ReportView::new(&summary))
    }

    #[test]
    fn run_section_says_where_everything_came_from() {
        let text = report(&[detailed_rec()], &[]);
        assert!(text.starts_with("# Rate-limit recommendations for testing\n"));
        for line in [
            "- Environment: `testing` (detected from `ENV=testing`)",
            "- Source: `demo`",
            "- Window: 2026-11-01T00:00:00Z to 2026-11-15T00:00:00Z (14 days, step 60 s)",
            "- Calculation mode: adaptive",
            "- Configuration files: `config/config.yaml`",
            "- Generated at: 2026-11-15T00:05:00Z",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        assert!(!text.contains("## Skipped"));
    }

    #[test]
    fn summary_row_escapes_pipes_and_shows_every_column() {
        let text = report(&[detailed_rec()], &[]);
        let row = "| `111` | `/api/v3/orders\\|list` | 1350 | 300.5 | 0.76 (medium) | stable | \
                   1.05 (measured, hit ratio 0.25) | 45 / 20000 |";
        assert!(text.contains(row), "missing {row:?} in\n{text}");
    }

    #[test]
    fn derivation_lines_are_numbered_in_step_order() {
        let text = report(&[detailed_rec()], &[]);
        let expected = "### Derivation\n\n\
                        1. The effective peak is 300.5 req/min.\n\
                        2. Multiplying by 2.5 gives 751.25.\n\
                        3. Rounding up to a multiple of 50 gives 1350.\n";
        assert!(text.contains(expected), "{text}");
    }

    #[test]
    fn per_series_details_include_confidence_points_and_anomalies() {
        let text = report(&[detailed_rec()], &[]);
        for line in [
            "### Confidence: 0.76 (medium)",
            "| data_volume | 20160 | 1.00 | 0.30 |",
            "- Points: 20160 expected, 20000 present, 160 missing, 45 removed as anomalous, 19955 used (9000 in prime time)",
            "- Prime time: 09:00-21:00 Europe/Berlin (configured)",
            "- Daily peaks used: 1 (days skipped for low prime-time coverage: 1)",
            "| spike | high | 2026-11-03T10:00:00Z | 2026-11-03T10:15:00Z | 15 | 4200 | removed |",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
    }

    #[test]
    fn skipped_series_are_listed_with_reasons_in_order() {
        let skipped = [
            SkippedSeries {
                key: SeriesKey::new("333", "/b"),
                reason: "no data in the window".into(),
            },
            SkippedSeries {
                key: SeriesKey::new("222", "/a"),
                reason: "only 3 points\npresent".into(),
            },
        ];
        let text = report(&[], &skipped);
        let expected = "## Skipped\n\n\
                        - `222` × `/a`: only 3 points present; no entry is written\n\
                        - `333` × `/b`: no data in the window; no entry is written\n";
        assert!(text.contains(expected), "{text}");
        assert!(text.contains("No recommendations were made."));
    }

    #[test]
    fn recommendations_appear_in_partner_then_api_order() {
        let text = report(
            &[rec("b", "/x", 10), rec("a", "/y", 10), rec("a", "/x", 10)],
            &[],
        );
        let headings: Vec<&str> = text.lines().filter(|l| l.starts_with("## `")).collect();
        assert_eq!(
            headings,
            ["## `a` × `/x`", "## `a` × `/y`", "## `b` × `/x`"]
        );
    }

    #[test]
    fn censored_series_are_flagged_in_the_run_section_and_their_own() {
        let saturation = |censored, rejected_share| trendmaster_types::Saturation {
            limit: 1000.0,
            prime_minutes: 4200,
            saturated_minutes: if censored { 420 } else { 0 },
            share: if censored { 0.1 } else { 0.0 },
            rejected_share,
            censored,
        };
        let mut pinned = rec("111", "/a", 700);
        pinned.analysis.saturation = Some(saturation(true, Some(0.02)));
        let mut calm = rec("111", "/b", 700);
        calm.analysis.saturation = Some(saturation(false, None));
        let text = report(&[pinned, calm, rec("111", "/c", 700)], &[]);
        for line in [
            "- Censored demand: 1 series sat at the deployed limit or saw requests rejected; \
             observed traffic understates their demand, so they are not cut\n",
            "**Censored:** traffic sat at the deployed limit (1000 req/min) on 10 % of \
             prime-time minutes (2 % of requests rejected): observed traffic understates \
             demand, not cut.\n",
            "- Saturation: traffic sat at the deployed limit (1000 req/min) on 10 % of \
             prime-time minutes (2 % of requests rejected) (420 of 4200 points): censored\n",
            "- Saturation: traffic sat at the deployed limit (1000 req/min) on 0 % of \
             prime-time minutes (0 of 4200 points): not censored\n",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        assert_eq!(text.matches("**Censored:**").count(), 1);
        let without = report(&[rec("111", "/c", 700)], &[]);
        assert!(!without.contains("Censored"), "{without}");
        assert!(!without.contains("Saturation"), "{without}");
    }

    #[test]
    fn helpers_keep_markdown_intact() {
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`x"), "`` `x ``");
        assert_eq!(cell("a|b\nc"), "a\\|b c");
        assert_eq!(number(f64::NAN), "n/a");
        assert_eq!(number(2.0), "2");
        assert_eq!(number(1.005_1), "1.01");
    }
}
