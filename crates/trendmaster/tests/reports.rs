//! End-to-end: what a demo run shows people: a PNG and an SVG chart per series under
//! `output/plots/<stamp>/`, linked from the Markdown report, and a self-contained HTML report
//! that headless Chromium renders offline (`scripts/screenshot-report.sh`).

mod common;

use std::process::Command;

use common::{root, trendmaster, trendmaster_json};

#[test]
fn every_series_gets_a_png_and_an_svg_chart_linked_from_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let result = trendmaster_json(
        dir.path(),
        &[
            "--as-of",
            "2026-11-15T00:00:00Z",
            "--partners",
            "111,222",
            "--output-dir",
            "out",
            "--output-format",
            "json",
        ],
    );
    let plots = dir.path().join(
        result["files"]["plots"]
            .as_str()
            .expect("a plots directory"),
    );
    let report =
        std::fs::read_to_string(dir.path().join(result["files"]["report"].as_str().unwrap()))
            .unwrap();
    let recommendations = result["recommendations"].as_array().unwrap();
    assert_eq!(recommendations.len(), 18);
    let mut linked = 0;
    for line in report.lines().filter(|l| l.starts_with("![")) {
        let target = &line[line.find("](").unwrap() + 2..line.len() - 1];
        let png = dir.path().join("out").join(target);
        let bytes = std::fs::read(&png).unwrap_or_else(|e| panic!("{target}: {e}"));
        assert!(bytes.starts_with(b"\x89PNG"), "{target}");
        let svg = std::fs::read_to_string(png.with_extension("svg")).unwrap();
        assert!(svg.starts_with("<svg"), "{target}");
        assert!(svg.contains("requests / minute"));
        assert!(png.starts_with(&plots));
        linked += 1;
    }
    assert_eq!(linked, recommendations.len(), "one chart per series");

    // --no-charts: no plots, no links.
    let output = trendmaster(
        dir.path(),
        &[
            "--as-of",
            "2026-11-15T00:00:00Z",
            "--partners",
            "111",
            "--output-dir",
            "bare",
            "--no-charts",
        ],
    );
    assert!(output.status.success());
    assert!(!dir.path().join("bare/plots").exists());
}

/// Every URL Chromium's net log mentions.
fn logged_urls(value: &serde_json::Value, found: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("url", serde_json::Value::String(url)) => found.push(url.clone()),
                    _ => logged_urls(value, found),
                }
            }
        }
        serde_json::Value::Array(values) => values.iter().for_each(|v| logged_urls(v, found)),
        _ => {}
    }
}

#[test]
fn the_html_report_is_self_contained_and_renders_offline_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let result = trendmaster_json(
        dir.path(),
        &[
            "--as-of",
            "2026-11-15T00:00:00Z",
            "--partners",
            "111,222",
            "--output-dir",
            "out",
            "--output-format",
            "json",
        ],
    );
    let html_path = dir.path().join(
        result["files"]["html_report"]
            .as_str()
            .expect("an HTML report"),
    );
    let html = std::fs::read_to_string(&html_path).unwrap();

    // Self-contained: every chart inline, nothing to fetch.
    let recommendations = result["recommendations"].as_array().unwrap();
    assert_eq!(html.matches("<svg").count(), recommendations.len());
    assert_eq!(html.matches("<section id=").count(), recommendations.len());
    for forbidden in ["src=", "<link", "@import", "url(", "<iframe", "fetch("] {
        assert!(
            !html.contains(forbidden),
            "the report refers out: `{forbidden}`"
        );
    }
    let without_namespaces = html.replace("http://www.w3.org/", "");
    assert!(!without_namespaces.contains("http://") && !without_namespaces.contains("https://"));
    // The summary is one sortable row per series, each with the limit the ConfigMap holds.
    let summary = &html[html.find("id=\"summary\"").unwrap()..html.find("</tbody>").unwrap()];
    assert_eq!(summary.matches("<tr").count(), recommendations.len() + 1);
    for rec in recommendations {
        let limit = rec["requests_per_minute"].as_u64().unwrap();
        assert!(
            summary.contains(&format!("<td class=\"n\">{limit}</td>")),
            "{limit}"
        );
    }

    // Rendered by Chromium, offline: a full-size screenshot, and the net log holds no request
    // but Chromium's own background services (update, time, accounts), which the script's
    // resolver rules and dead proxy stop at this machine.
    let shot = dir.path().join("report.png");
    let netlog = dir.path().join("netlog.json");
    let status = Command::new("bash")
        .arg(root().join("scripts/screenshot-report.sh"))
        .args([&html_path, &shot, &netlog])
        .status()
        .unwrap();
    assert!(status.success(), "screenshot-report.sh failed");
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let info = decoder.read_info().unwrap().info().clone();
    assert_eq!((info.width, info.height), (1300, 2400));
    assert!(
        std::fs::metadata(&shot).unwrap().len() > 100_000,
        "a page, not a blank"
    );
    let log: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&netlog).unwrap()).unwrap();
    let mut urls = Vec::new();
    logged_urls(&log["events"], &mut urls);
    // (file:// loads bypass the network stack and are not logged.)
    assert!(
        log["events"].as_array().is_some_and(|e| !e.is_empty()),
        "a net log"
    );
    for url in &urls {
        let host = url
            .split("://")
            .nth(1)
            .map(|rest| rest.split(['/', ':', '?']).next().unwrap_or(""))
            .unwrap_or("");
        assert!(
            url.starts_with("file://")
                || url.starts_with("data:")
                || url.starts_with("chrome")
                || url.starts_with("about:")
                || host.ends_with("google.com")
                || host.ends_with("googleapis.com")
                || host == "~notfound",
            "the page asked for {url}"
        );
    }
}

#[test]
fn explain_ends_with_the_number_the_configmap_holds_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec!["--as-of", "2026-11-15T00:00:00Z", "--partners", "111"];
        args.extend_from_slice(extra);
        trendmaster(dir.path(), &args)
    };
    let api = "/api_v3/service/multirequest";
    let output = run(&["--output-dir", "out", "--no-charts"]);
    assert!(output.status.success());
    let deployed =
        common::configmap_limit(&dir.path().join("out/latest_configmap.yaml"), "111", api);

    let output = run(&[
        "--output-dir",
        "explained",
        "--explain",
        &format!("111:{api}"),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    let last = text.lines().last().unwrap();
    assert!(
        last.ends_with(&format!("requests_per_unit {deployed} per minute")),
        "{last} vs {deployed}"
    );
    assert!(text.contains("effective peak"), "{text}");
    assert!(text.contains("round up to a multiple of"), "{text}");
    assert!(
        !dir.path().join("explained").exists(),
        "--explain writes nothing"
    );

    let output = run(&["--explain", "111:/nope"]);
    assert_eq!(output.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--explain 111:/nope"));
}

#[test]
fn progress_is_drawn_on_a_terminal_only_and_never_on_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let binary = env!("CARGO_BIN_EXE_trendmaster");
    let config = root().join("config/config.yaml");
    let args = format!(
        "--config {} --as-of 2026-11-15 --partners 111 --no-charts --output-dir out --output-format json",
        config.display()
    );
    // `script` (util-linux) gives the binary a terminal for stderr; stdout goes to a file.
    let log = dir.path().join("terminal.log");
    let status = Command::new("script")
        .current_dir(dir.path())
        .args(["-qec", &format!("{binary} {args} > result.json")])
        .arg(&log)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("script(1) runs");
    assert!(status.success());
    let terminal = std::fs::read_to_string(&log).unwrap();
    assert!(
        terminal.contains(" 9/9"),
        "a progress bar counts the 9 series: {terminal}"
    );
    let stdout = std::fs::read_to_string(dir.path().join("result.json")).unwrap();
    serde_json::from_str::<serde_json::Value>(&stdout).expect("stdout is only the JSON result");

    // Not a terminal: no bar at all.
    let output = Command::new(binary)
        .current_dir(dir.path())
        .env_clear()
        .args(args.split(' '))
        .output()
        .unwrap();
    assert!(output.status.success());
    assert!(!String::from_utf8_lossy(&output.stderr).contains("9/9"));
}
