//! The Grafana dashboard in `deploy/grafana/trendmaster.json`: its shape, every PromQL query in
//! it (panel targets and the `label_values(...)` selectors of its variables) accepted by the real
//! `promtool check rules`, and every metric those queries name one that trendmaster's rules, its
//! run metrics or a query preset produces.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use trendmaster_emit::prometheus_rules::{LIMIT_SERIES, REJECTED_SERIES, UTILISATION_SERIES};
use trendmaster_testkit::{find_program, workspace_dir};

fn dashboard() -> Value {
    let path = workspace_dir().join("deploy/grafana/trendmaster.json");
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Panels that show data: the top level's and those inside collapsed rows, without the rows.
fn data_panels(dashboard: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        if panel["type"] == "row" {
            out.extend(panel["panels"].as_array().into_iter().flatten());
        } else {
            out.push(panel);
        }
    }
    out
}

/// A template variable's query: a string, or Grafana 10's `{query: ...}` object.
fn variable_query(variable: &Value) -> &str {
    variable["query"]
        .as_str()
        .or_else(|| variable["query"]["query"].as_str())
        .unwrap_or_else(|| panic!("variable {} has no query", variable["name"]))
}

/// The series selector `label_values(SELECTOR, LABEL)` reads; `None` for `label_values(LABEL)`,
/// which names no metric.
fn label_values_selector(query: &str) -> Option<&str> {
    let inner = query
        .trim()
        .strip_prefix("label_values(")
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("not a label_values(...) query: {query}"));
    // The last comma outside braces and quotes separates the selector from the label.
    let (mut depth, mut quoted, mut split) = (0i32, false, None);
    for (i, c) in inner.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '{' | '(' if !quoted => depth += 1,
            '}' | ')' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => split = Some(i),
            _ => {}
        }
    }
    split.map(|i| inner[..i].trim())
}

/// Every PromQL expression of the dashboard, named by where it is: panel targets' `expr` and
/// the selectors of `label_values` variables.
fn queries(dashboard: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for variable in dashboard["templating"]["list"].as_array().unwrap() {
        if variable["type"] == "query" {
            let name = variable["name"].as_str().unwrap();
            if let Some(selector) = label_values_selector(variable_query(variable)) {
                out.push((format!("variable {name}"), selector.to_string()));
            }
        }
    }
    for panel in data_panels(dashboard) {
        for target in panel["targets"].as_array().into_iter().flatten() {
            if let Some(expr) = target["expr"].as_str() {
                let at = format!("panel {:?} target {}", panel["title"], target["refId"]);
                out.push((at, expr.to_string()));
            }
        }
    }
    out
}

/// `expr` with Grafana's template variables (`$name`, `${name}`, `${name:format}`) replaced by
/// plausible literal values; an unknown variable is a panic, so a misspelt one fails the test.
fn substitute(expr: &str) -> String {
    let value = |name: &str| match name {
        "environment" => "production",
        "partner" => "partner-a",
        "path" => "/api/v1/orders",
        "__rate_interval" => "5m",
        "__interval" => "1m",
        "__range" => "1d",
        "datasource" => "prometheus",
        other => panic!("unknown template variable ${other} in {expr}"),
    };
    let mut out = String::new();
    let mut rest = expr;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, len) = if let Some(braced) = after.strip_prefix('{') {
            let end = braced.find('}').expect("an unclosed ${");
            let name = braced[..end].split(':').next().unwrap();
            (name, end + 2)
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        out.push_str(value(name));
        rest = &after[len..];
    }
    out.push_str(rest);
    out
}

/// `queries` as recording rules in a rule file in `dir`; `promtool check rules`' output.
fn promtool_check(dir: &Path, queries: &[(String, String)]) -> Output {
    let rules: Vec<Value> = queries
        .iter()
        .enumerate()
        .map(|(i, (_, expr))| {
            serde_json::json!({"record": format!("dashboard:query_{i}"), "expr": substitute(expr)})
        })
        .collect();
    let file = serde_json::json!({"groups": [{"name": "dashboard", "rules": rules}]});
    let path: PathBuf = dir.join("dashboard-rules.yaml");
    std::fs::write(&path, serde_yaml::to_string(&file).unwrap()).unwrap();
    let promtool = find_program("promtool", std::env::var_os("PATH").as_deref()).unwrap();
    Command::new(promtool)
        .args(["check", "rules"])
        .arg(&path)
        .output()
        .unwrap()
}

const AGGREGATIONS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
];
/// Keywords followed by a parenthesised list of label names.
const GROUPING: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];
const KEYWORDS: &[&str] = &[
    "and", "or", "unless", "atan2", "bool", "offset", "start", "end", "inf", "nan",
];

/// The metric names `expr` selects: identifiers outside strings, label matchers and range
/// brackets that are neither a function (followed by `(`), an aggregation nor a keyword.
/// Simple, not a PromQL parser: enough for the dashboard's own queries.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    // Skips from an opening `open` to just past its `close`, stepping over quoted strings.
    let skip = |mut i: usize, close: char| -> usize {
        while i < chars.len() && chars[i] != close {
            if matches!(chars[i], '"' | '\'' | '`') {
                let quote = chars[i];
                i += 1;
                while i < chars.len() && chars[i] != quote {
                    i += if chars[i] == '\\' { 2 } else { 1 };
                }
            }
            i += 1;
        }
        i + 1
    };
    while i < chars.len() {
        let c = chars[i];
        if matches!(c, '"' | '\'' | '`') {
            i = skip(i + 1, c);
        } else if c == '{' {
            i = skip(i + 1, '}');
        } else if c == '[' {
            i = skip(i + 1, ']');
        } else if c == '#' {
            i = skip(i + 1, '\n');
        } else if c.is_ascii_digit() || c == '.' {
            // Numbers and durations (`26`, `0.8`, `1e3`, `72h`): no identifier starts inside.
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '_' | ':'))
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let mut next = i;
            while next < chars.len() && chars[next].is_whitespace() {
                next += 1;
            }
            let lower = word.to_ascii_lowercase();
            if GROUPING.contains(&lower.as_str()) {
                if chars.get(next) == Some(&'(') {
                    i = skip(next + 1, ')');
                }
            } else if chars.get(next) == Some(&'(')
                || AGGREGATIONS.contains(&lower.as_str())
                || KEYWORDS.contains(&lower.as_str())
            {
                // A function, an aggregation (its `by (...)` may come first) or a keyword.
            } else {
                names.insert(word);
            }
        } else {
            i += 1;
        }
    }
    names
}

/// The run's own gauges: the `"trendmaster_…"` string literals of run_metrics.rs, read at run
/// time so that a renamed gauge fails this test rather than leaving a panel empty.
fn run_metrics() -> BTreeSet<String> {
    let path = workspace_dir().join("crates/trendmaster/src/run_metrics.rs");
    let source = std::fs::read_to_string(path).unwrap();
    // Each `"trendmaster_` up to the next quote, when all of it is a metric name (not the
    // start of a longer literal such as a sample line).
    let names: BTreeSet<String> = source
        .match_indices("\"trendmaster_")
        .filter_map(|(at, _)| {
            let literal = &source[at + 1..];
            let literal = &literal[..literal.find('"')?];
            literal
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '_')
                .then(|| literal.to_string())
        })
        .collect();
    // The README's table of run metrics; they must all still be written.
    for documented in [
        "trendmaster_last_run_timestamp_seconds",
        "trendmaster_last_run_duration_seconds",
        "trendmaster_last_run_exit_code",
        "trendmaster_last_success_timestamp_seconds",
        "trendmaster_entries",
        "trendmaster_series_analysed",
    ] {
        assert!(
            names.contains(documented),
            "run_metrics.rs no longer writes {documented}"
        );
    }
    names
}

/// The query presets' `metric`s in the shipped config/config.yaml.
fn preset_metrics() -> BTreeSet<String> {
    let path = workspace_dir().join("config/config.yaml");
    let config: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let presets = config["COMMON"]["PROMETHEUS_CONFIG"]["presets"]
        .as_mapping()
        .expect("COMMON.PROMETHEUS_CONFIG.presets");
    presets
        .values()
        .map(|preset| {
            preset["metric"]
                .as_str()
                .expect("a preset's metric")
                .to_string()
        })
        .collect()
}

/// Every metric a query may name.
fn known_metrics() -> BTreeSet<String> {
    let mut known: BTreeSet<String> = [LIMIT_SERIES, UTILISATION_SERIES, REJECTED_SERIES]
        .map(str::to_string)
        .into();
    known.extend(run_metrics());
    known.extend(preset_metrics());
    known
}

/// `(where, metric)` for each metric a query names that is not in `known`.
fn unknown_metrics(
    queries: &[(String, String)],
    known: &BTreeSet<String>,
) -> Vec<(String, String)> {
    queries
        .iter()
        .flat_map(|(at, expr)| {
            metric_names(expr)
                .into_iter()
                .filter(|name| !known.contains(name))
                .map(move |name| (at.clone(), name))
        })
        .collect()
}

#[test]
fn the_dashboard_has_its_variables_and_every_panel_a_datasource_and_a_query() {
    let dashboard = dashboard();
    assert_eq!(dashboard["title"], "trendmaster: rate limits");
    assert_eq!(dashboard["uid"], "trendmaster");
    assert_eq!(dashboard["schemaVersion"], 39);
    assert!(
        dashboard["id"].is_null(),
        "an importable dashboard has no id"
    );

    let variables = dashboard["templating"]["list"].as_array().unwrap();
    let names: Vec<&str> = variables
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["datasource", "environment", "partner", "path"]);
    assert_eq!(variables[0]["type"], "datasource");
    assert_eq!(variables[0]["query"], "prometheus");
    // Chained: each variable reads the recorded limits, narrowed by the ones before it.
    let mut before: Vec<&str> = Vec::new();
    for variable in &variables[1..] {
        let name = variable["name"].as_str().unwrap();
        assert_eq!(variable["type"], "query", "{name}");
        assert_eq!(variable["datasource"]["uid"], "${datasource}", "{name}");
        let query = variable_query(variable);
        let selector = label_values_selector(query).expect(name);
        assert!(selector.starts_with(LIMIT_SERIES), "{name}: {query}");
        assert!(query.ends_with(&format!(", {name})")), "{name}: {query}");
        for earlier in &before {
            assert!(
                query.contains(&format!("\"${earlier}\"")),
                "{name} is not narrowed by {earlier}: {query}"
            );
        }
        before.push(name);
    }

    let panels = data_panels(&dashboard);
    assert!(panels.len() >= 10, "{} panels", panels.len());
    let mut ids = BTreeSet::new();
    for panel in &panels {
        let title = panel["title"].as_str().expect("a title");
        assert!(
            ids.insert(panel["id"].as_u64().expect("an id")),
            "{title}: id repeated"
        );
        assert!(panel["gridPos"]["w"].as_u64().is_some(), "{title}: gridPos");
        assert_eq!(panel["datasource"]["type"], "prometheus", "{title}");
        assert_eq!(panel["datasource"]["uid"], "${datasource}", "{title}");
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title}: no target");
        let mut refs = BTreeSet::new();
        for target in targets {
            assert_eq!(target["datasource"]["uid"], "${datasource}", "{title}");
            assert!(
                refs.insert(target["refId"].as_str().unwrap()),
                "{title}: refId repeated"
            );
            let expr = target["expr"].as_str().expect("an expr");
            assert!(
                expr.contains("$environment"),
                "{title}: not narrowed to $environment: {expr}"
            );
        }
    }

    // Every recorded series and every run metric is on the dashboard.
    let named: BTreeSet<String> = queries(&dashboard)
        .iter()
        .flat_map(|(_, expr)| metric_names(expr))
        .collect();
    let shown = [LIMIT_SERIES, UTILISATION_SERIES, REJECTED_SERIES].map(str::to_string);
    for metric in shown.into_iter().chain(run_metrics()) {
        assert!(named.contains(&metric), "no panel shows {metric}");
    }
}

#[test]
fn every_query_passes_promtool_and_a_broken_one_does_not() {
    let dashboard = dashboard();
    let all = queries(&dashboard);
    // 11 panel targets and the selectors of the environment, partner and path variables.
    assert_eq!(all.len(), 14, "{all:#?}");
    let dir = tempfile::tempdir().unwrap();
    let checked = promtool_check(dir.path(), &all);
    let said = String::from_utf8_lossy(&checked.stdout);
    assert!(
        checked.status.success(),
        "{all:#?}\n{said}{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    assert!(
        said.contains(&format!("SUCCESS: {} rules found", all.len())),
        "{said}"
    );

    // A copy of the dashboard with one query's closing parenthesis gone fails.
    let mut broken = dashboard.clone();
    let panel = broken["panels"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|p| p["title"] == "Closest to their limit (top 10)")
        .unwrap();
    let expr = panel["targets"][0]["expr"].as_str().unwrap();
    let unbalanced = expr.strip_suffix(')').expect("ends in )").to_string();
    panel["targets"][0]["expr"] = unbalanced.into();
    let refused = promtool_check(dir.path(), &queries(&broken));
    assert!(
        !refused.status.success(),
        "{}",
        String::from_utf8_lossy(&refused.stdout)
    );
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("unclosed left parenthesis"), "{said}");
}

#[test]
fn every_query_names_a_metric_trendmaster_or_a_preset_produces() {
    let known = known_metrics();
    assert!(
        known.contains("service_nginx_request_time_s_count"),
        "{known:?}"
    );
    assert!(known.contains("istio_requests_total"), "{known:?}");
    let queries = queries(&dashboard());
    let unknown = unknown_metrics(&queries, &known);
    assert!(unknown.is_empty(), "{unknown:#?}");
    let named: usize = queries
        .iter()
        .map(|(_, expr)| metric_names(expr).len())
        .sum();
    assert!(named >= queries.len(), "every query names a metric");
}

#[test]
fn the_metric_check_finds_unknown_metrics_and_not_label_names() {
    let names = |expr: &str| metric_names(expr).into_iter().collect::<Vec<_>>();
    assert_eq!(
        names(
            r#"sort_desc(topk(10, sum by (partner, path) (rate(foo:bar_total{path=~"a|b", x="y{"}[5m] offset 1h)) / on (partner) group_left (path) baz)) > bool 0.8 and time() - qux"#
        ),
        ["baz", "foo:bar_total", "qux"]
    );
    assert_eq!(names("max without (instance) (up)"), ["up"]);

    let known = known_metrics();
    let queries = vec![
        (
            "ours".to_string(),
            format!("{UTILISATION_SERIES} > 0.8"),
        ),
        (
            "a typo".to_string(),
            "time() - max by (environment) (trendmaster_last_succes_timestamp_seconds{environment=\"$environment\"})".to_string(),
        ),
        (
            "bare".to_string(),
            "sum(rate(nginx_requests_total[5m]))".to_string(),
        ),
    ];
    assert_eq!(
        unknown_metrics(&queries, &known),
        [
            (
                "a typo".to_string(),
                "trendmaster_last_succes_timestamp_seconds".to_string()
            ),
            ("bare".to_string(), "nginx_requests_total".to_string()),
        ]
    );
}
