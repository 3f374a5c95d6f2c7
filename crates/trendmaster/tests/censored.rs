//! End-to-end: censored demand (issue 16, part 4). A series whose traffic sat at its deployed
//! limit, or whose source reports rejected requests (HTTP 429), is never cut: its observed
//! traffic understates demand. On the file source (traffic pinned at the limit of a
//! `--current-from` ConfigMap) and on a real Prometheus (Istio metrics with 429s), each next to a
//! control series that is cut as usual.

mod common;

use serde_json::Value;
use trendmaster_fetch::DemoTraffic;
use trendmaster_testkit::{MetricShape, PrometheusServer};
use trendmaster_types::{AnalysisWindow, SeriesKey};

const AS_OF: &str = "2026-11-15T00:00:00Z";
const PINNED: &str = "/api_v3/service/multirequest";
const CONTROL: &str = "/api_v3/service/asset/action/list";

/// A ConfigMap as `kubectl get configmap -o yaml` prints it, holding `limits` (partner, API,
/// requests per minute), one partner after the other.
fn deployed_configmap(limits: &[(&str, &str, u64)]) -> String {
    let mut file = String::from("domain: global-ratelimit\ndescriptors:\n");
    let mut partner = "";
    for (owner, api, limit) in limits {
        if *owner != partner {
            partner = owner;
            file.push_str(&format!(
                "  - key: PARTNER\n    value: \"{partner}\"\n    descriptors:\n"
            ));
        }
        file.push_str(&format!(
            "      - key: PATH\n        value: {api}\n        rate_limit:\n          unit: minute\n          requests_per_unit: {limit}\n"
        ));
    }
    let indented: String = file.lines().map(|l| format!("    {l}\n")).collect();
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ratelimit-config\n  namespace: istio-system\ndata:\n  config.yaml: |\n{indented}"
    )
}

/// The plan entry of `partner`'s `api` in a run's JSON result.
fn planned<'a>(result: &'a Value, partner: &str, api: &str) -> &'a Value {
    result["changes"]["plan"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["key"]["partner"] == partner && p["key"]["api"] == api)
        .unwrap_or_else(|| panic!("no plan entry for {partner}:{api}"))
}

/// The recommendation of `partner`'s `api` in a run's JSON result.
fn recommendation<'a>(result: &'a Value, partner: &str, api: &str) -> &'a Value {
    result["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"]["partner"] == partner && r["key"]["api"] == api)
        .unwrap_or_else(|| panic!("no recommendation for {partner}:{api}"))
}

/// The formula reduced to "the effective peak, rounded up" (every multiplier 1, no cache
/// factor, the fixed 19:00-24:00 UTC prime time), and no anomaly filtering: the numbers below
/// are then worked out by hand, and the test is about governance, not about the filter.
const PLAIN_FORMULA: &str = "\
COMMON:
  RATE_CALCULATION:
    peak_multiplier: 1.0
    traffic_pattern:
      multipliers: {very_spiky: 1.0, moderately_spiky: 1.0, variable: 1.0, stable: 1.0}
  CACHE_CONFIG: {enable_cache_adjustment: false}
  ANOMALY_CONFIG: {min_points: 1000000}
  PRIME_TIME_CONFIG: {detection_method: fixed}
DEPLOYMENT_OVERRIDES:
  environment:
    COMMON:
      RATE_CALCULATION: {safety_margin: 1.0}
";

/// 14 days at one minute of partner 111 on two APIs, as CSV. Both run at 300 req/min outside
/// prime time and 500 inside; `PINNED` also sits at 990 (99 % of its deployed 1000) from 20:00
/// to 22:00 on three evenings: 360 of 4,200 prime-time minutes (8.6 %) at the limit.
fn pinned_traffic() -> String {
    let window = AnalysisWindow::ending_at(AS_OF.parse().unwrap(), 14, 60);
    let mut csv = String::from("timestamp,partner,api,requests\n");
    for api in [PINNED, CONTROL] {
        for i in 0..window.len() {
            let (day, minute) = (i / 1440, i % 1440);
            let hour = minute / 60;
            let value = match hour {
                20 | 21 if api == PINNED && [2, 7, 12].contains(&day) => 990,
                19..=23 => 500,
                _ => 300,
            };
            let at = window.timestamp(i).format("%Y-%m-%dT%H:%M:%SZ");
            csv.push_str(&format!("{at},111,{api},{value}\n"));
        }
    }
    csv
}

#[test]
fn a_series_pinned_at_its_deployed_limit_is_never_cut_on_the_file_source() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("traffic.csv"), pinned_traffic()).unwrap();
    std::fs::write(d.join("plain.yaml"), PLAIN_FORMULA).unwrap();
    std::fs::write(
        d.join("deployed.yaml"),
        deployed_configmap(&[("111", PINNED, 1000), ("111", CONTROL, 600)]),
    )
    .unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_trendmaster"))
        .current_dir(d)
        .env_clear()
        .args(["--config", "plain.yaml", "--as-of", AS_OF])
        .args(["--source", "file:traffic.csv", "--partners", "111"])
        .args(["--apis", &format!("{PINNED},{CONTROL}")])
        .args(["--forecaster", "none", "--output-dir", "out"])
        .args(["--current-from", "deployed.yaml", "--output-format", "json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let result: Value = serde_json::from_slice(&output.stdout).unwrap();

    // The formula would cut both: the pinned series' effective peak is the mean of 11 daily
    // peaks of 500 and 3 of 990, 605 → 620 (a step of 20: 100 would add more than 5 %) against
    // 1000 deployed; the control's 500 against 600.
    let pinned = recommendation(&result, "111", PINNED);
    assert_eq!(pinned["requests_per_minute"], 620, "{pinned:#}");
    let saturation = &pinned["analysis"]["saturation"];
    assert_eq!(saturation["limit"], 1000.0);
    assert_eq!(saturation["prime_minutes"], 14 * 5 * 60);
    assert_eq!(saturation["saturated_minutes"], 3 * 2 * 60);
    assert_eq!(
        saturation["rejected_share"],
        Value::Null,
        "a file without the column"
    );
    assert_eq!(saturation["censored"], true);
    let control = recommendation(&result, "111", CONTROL);
    assert_eq!(control["requests_per_minute"], 500);
    assert_eq!(control["analysis"]["saturation"]["saturated_minutes"], 0);
    assert_eq!(control["analysis"]["saturation"]["censored"], false);

    // Censored: the deployed value stays. The control is cut (at once or stepped).
    let entry = planned(&result, "111", PINNED);
    assert_eq!(entry["status"], "censored", "{entry:#}");
    assert_eq!(entry["emitted"], 1000);
    let entry = planned(&result, "111", CONTROL);
    let emitted = entry["emitted"].as_u64().unwrap();
    assert!(emitted < 600, "the control is cut: {entry:#}");
    assert!(
        ["changed", "stepped"].contains(&entry["status"].as_str().unwrap()),
        "{entry:#}"
    );
    assert_eq!(result["changes"]["censored"], 1);
    let latest = d.join("out/latest_configmap.yaml");
    assert_eq!(common::configmap_limit(&latest, "111", PINNED), 1000);
    assert_eq!(common::configmap_limit(&latest, "111", CONTROL), emitted);

    // Flagged on stderr, at the top of the report and in the series' section.
    assert!(
        stderr.contains("(1 censored: traffic sat at the deployed limit"),
        "{stderr}"
    );
    let report =
        std::fs::read_to_string(common::only_file(&d.join("out"), "analysis_report_", ".md"))
            .unwrap();
    assert!(report.contains("- Censored demand: 1 series"), "{report}");
    let flag = "**Censored:** traffic sat at the deployed limit (1000 req/min) on 8.57 % of \
                prime-time minutes: observed traffic understates demand, not cut.";
    assert!(report.contains(flag), "{report}");
    assert_eq!(report.matches("**Censored:**").count(), 1, "{report}");
    let html = std::fs::read_to_string(common::only_file(
        &d.join("out"),
        "analysis_report_",
        ".html",
    ))
    .unwrap();
    assert!(html.contains("<b>Censored demand:</b> 1 series"), "{html}");
}

#[test]
fn rejected_requests_in_istio_metrics_censor_a_series_on_a_real_prometheus() {
    // Partner 111 had 2 % of its requests answered 429, partner 222 none.
    let window = AnalysisWindow::ending_at(AS_OF.parse().unwrap(), 14, 60);
    let demo = DemoTraffic::new(1);
    let series: Vec<_> = ["111", "222"]
        .into_iter()
        .map(|partner| {
            let mut fetched = demo.series(&SeriesKey::new(partner, PINNED), &window);
            fetched.rejected_share = (partner == "111").then_some(0.02);
            fetched
        })
        .collect();
    let server = PrometheusServer::start(&series, MetricShape::Istio)
        .expect("a real Prometheus (make test installs it)");
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "--as-of",
            AS_OF,
            "--source",
            "prometheus",
            "--prometheus-url",
            &url,
            "--query-preset",
            "istio",
            "--partners",
            "111,222",
            "--apis",
            PINNED,
            "--forecaster",
            "none",
            "--no-charts",
            "--output-format",
            "json",
        ];
        args.extend_from_slice(extra);
        common::trendmaster_json(d, &args)
    };

    // What the formula recommends, with nothing deployed: nothing to censor against.
    let fresh = run(&["--output-dir", "fresh"]);
    let recommended = |partner| {
        recommendation(&fresh, partner, PINNED)["requests_per_minute"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(
        recommendation(&fresh, "111", PINNED)["analysis"]["saturation"],
        Value::Null
    );
    assert_eq!(fresh["changes"]["censored"], 0);

    // Deployed at 1.5x the recommendation: a cut beyond the deadband, short of a hold.
    let deployed = |partner| (recommended(partner) * 3 / 2).div_ceil(100) * 100;
    let configmap = deployed_configmap(&[
        ("111", PINNED, deployed("111")),
        ("222", PINNED, deployed("222")),
    ]);
    std::fs::write(d.join("deployed.yaml"), configmap).unwrap();
    let result = run(&["--output-dir", "out", "--current-from", "deployed.yaml"]);

    let saturation = &recommendation(&result, "111", PINNED)["analysis"]["saturation"];
    let rejected = saturation["rejected_share"].as_f64().unwrap();
    assert!((rejected - 0.02).abs() < 1e-6, "{saturation:#}");
    assert_eq!(saturation["saturated_minutes"], 0, "far below its limit");
    assert_eq!(saturation["censored"], true);
    let entry = planned(&result, "111", PINNED);
    assert_eq!(entry["status"], "censored", "{entry:#}");
    assert_eq!(entry["emitted"], deployed("111"));
    assert!(recommended("111") < deployed("111"));

    let control = &recommendation(&result, "222", PINNED)["analysis"]["saturation"];
    assert_eq!(
        control["rejected_share"], 0.0,
        "the query answered: no 429s"
    );
    assert_eq!(control["censored"], false);
    let entry = planned(&result, "222", PINNED);
    assert!(
        entry["emitted"].as_u64().unwrap() < deployed("222"),
        "the control is cut: {entry:#}"
    );
    assert_eq!(result["changes"]["censored"], 1);
    let latest = d.join("out/latest_configmap.yaml");
    assert_eq!(
        common::configmap_limit(&latest, "111", PINNED),
        deployed("111")
    );
    assert!(common::configmap_limit(&latest, "222", PINNED) < deployed("222"));
}
