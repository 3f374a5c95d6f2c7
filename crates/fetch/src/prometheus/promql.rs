//! Building the PromQL of a query preset: label matchers for the selected partners and API
//! paths, and the `{{placeholder}}` substitution.

use trendmaster_types::settings::QueryPreset;

use super::paths::{PathRules, regex_escape};

/// Everything a template can refer to.
pub struct QueryContext<'a> {
    pub preset: &'a QueryPreset,
    pub partners: &'a [&'a str],
    pub api: &'a str,
    /// Paths that contain `api` but belong to another (longer) API: left out by the matchers.
    /// The fetcher sorts them out on its side (every returned path goes to the longest API it
    /// contains); a rule evaluated by Prometheus cannot, so it excludes them here.
    pub excluded_apis: &'a [&'a str],
    /// How an API with a placeholder (`{id}`) is matched.
    pub path_rules: &'a PathRules,
    pub step_secs: u32,
    pub window_secs: i64,
}

impl QueryContext<'_> {
    /// `partner=~"111|222", path=~".*/api/x.*"` plus the preset's extra `selector`.
    ///
    /// Paths match as substrings, as in the Python original, because real path labels often
    /// carry prefixes or suffixes; results are mapped back to the configured API afterwards.
    pub fn matchers(&self) -> String {
        let partners: Vec<String> = self.partners.iter().map(|p| regex_escape(p)).collect();
        let mut matchers = format!(
            "{}=~\"{}\", {}=~\".*{}.*\"",
            self.preset.partner_label,
            promql_string(&partners.join("|")),
            self.preset.path_label,
            promql_string(&self.path_rules.pattern(self.api)),
        );
        for excluded in self.excluded_apis {
            matchers.push_str(&format!(
                ", {}!~\".*{}.*\"",
                self.preset.path_label,
                promql_string(&self.path_rules.pattern(excluded)),
            ));
        }
        let extra = self.preset.selector.trim();
        if !extra.is_empty() {
            matchers.push_str(", ");
            matchers.push_str(extra);
        }
        matchers
    }

    /// `template` with every placeholder replaced; an unknown `{{name}}` is an error naming it.
    pub fn render(&self, template: &str) -> Result<String, String> {
        let values = [
            ("metric", self.preset.metric.clone()),
            ("partner_label", self.preset.partner_label.clone()),
            ("path_label", self.preset.path_label.clone()),
            ("matchers", self.matchers()),
            ("step", format!("{}s", self.step_secs)),
            ("window", format!("{}s", self.window_secs)),
        ];
        let mut out = String::with_capacity(template.len() + 128);
        let mut rest = template;
        while let Some(start) = rest.find("{{") {
            // `{{{name}}}` is a literal brace followed by a placeholder.
            let (literal, tail) = rest.split_at(start);
            out.push_str(literal);
            let mut tail = tail;
            while tail.starts_with("{{{") {
                out.push('{');
                tail = &tail[1..];
            }
            let end = tail
                .find("}}")
                .ok_or_else(|| format!("unclosed `{{{{` in query template `{template}`"))?;
            let name = tail[2..end].trim();
            let value = values
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value)
                .ok_or_else(|| {
                    format!(
                        "unknown placeholder `{{{{{name}}}}}` in query template (known: metric, partner_label, path_label, matchers, step, window)"
                    )
                })?;
            out.push_str(value);
            rest = &tail[end + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// Escapes a value for a double-quoted PromQL string.
fn promql_string(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn preset(selector: &str) -> QueryPreset {
        QueryPreset {
            metric: "service_nginx_request_time_s_count".into(),
            partner_label: "partner".into(),
            path_label: "path".into(),
            selector: selector.into(),
            query: String::new(),
            cache_query: String::new(),
            rejected_query: String::new(),
        }
    }

    #[test]
    fn matchers_escape_regex_and_string_syntax() {
        let preset = preset("reporter=\"destination\"");
        let context = QueryContext {
            preset: &preset,
            partners: &["111", "a.b"],
            api: "/api_v3/service/asset/action/get",
            excluded_apis: &[],
            path_rules: &PathRules::default(),
            step_secs: 60,
            window_secs: 3600,
        };
        assert_eq!(
            context.matchers(),
            r#"partner=~"111|a\\.b", path=~".*/api_v3/service/asset/action/get.*", reporter="destination""#
        );
    }

    #[test]
    fn templates_render_every_placeholder() {
        let preset = preset("");
        let context = QueryContext {
            preset: &preset,
            partners: &["111"],
            api: "/x",
            excluded_apis: &[],
            path_rules: &PathRules::default(),
            step_secs: 300,
            window_secs: 1_209_600,
        };
        let query = context
            .render("sum by ({{partner_label}}, {{path_label}}) (increase({{metric}}{ {{matchers}} }[{{step}}])) / {{window}}")
            .unwrap();
        assert_eq!(
            query,
            r#"sum by (partner, path) (increase(service_nginx_request_time_s_count{ partner=~"111", path=~".*/x.*" }[300s])) / 1209600s"#
        );
        assert_eq!(
            context.render("m{{{matchers}}}").unwrap(),
            r#"m{partner=~"111", path=~".*/x.*"}"#
        );
        let error = context.render("{{nope}}").unwrap_err();
        assert!(error.contains("`{{nope}}`"), "{error}");
        assert!(context.render("{{metric").is_err());
    }
}
