//! Fuzz checks for the three parsers that read text from outside: the configuration file, the
//! ratelimit config (a deployed ConfigMap read back, and our own validator), and a Prometheus
//! `query_range` answer.
//!
//! Each check feeds one input through the public entry point and asserts what must hold for
//! *any* input, not only for well-formed ones: no panic, every error message one line (the
//! binary prints each as one `trendmaster: error:` line), and for accepted input the invariants
//! the next stage relies on. `cargo fuzz run <target>` (nightly) drives them with libFuzzer;
//! `tests/seeds.rs` replays the committed seeds on stable in CI.
//!
//! This crate owns no product code.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use chrono::{TimeZone, Utc};
use trendmaster_config::{LoadOptions, Overrides, ResolvedConfig, load, load_for_validation};
use trendmaster_types::{AnalysisWindow, SeriesKey};

/// The built-in configuration: the presets and ConfigMap settings the checks parse against.
fn built_in() -> &'static ResolvedConfig {
    static CONFIG: OnceLock<ResolvedConfig> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let options = LoadOptions {
            config_file: None,
            base_dir: Some(PathBuf::from("/nonexistent-trendmaster-fuzz")),
        };
        load(&options, &Overrides::default(), &|_| None).expect("the built-in config is valid")
    })
}

fn assert_one_line(message: &str, what: &str) {
    assert!(
        !message.contains('\n') && !message.contains('\r'),
        "{what}: a message spans lines: {message:?}"
    );
}

/// Environment variables a fuzzed config may substitute (`${VAR}`); others are unset.
fn lookup(name: &str) -> Option<String> {
    match name {
        "PROMETHEUS_URL" => Some("http://127.0.0.1:9090".into()),
        "TOKEN" => Some("fuzz-token".into()),
        "EMPTY" => Some(String::new()),
        _ => None,
    }
}

/// A configuration file: loading never panics, each problem is one line, and an accepted
/// configuration passes its own validation again (the checks are not order-dependent).
pub fn config(data: &[u8]) {
    static FILE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_dir, path) = FILE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("fuzz.yaml");
        (dir, path)
    });
    std::fs::write(path, data).expect("the fuzz input is written");
    let options = LoadOptions {
        config_file: Some(path.clone()),
        base_dir: Some(path.parent().expect("a directory").to_path_buf()),
    };
    match load_for_validation(&options, &Overrides::default(), &lookup) {
        Ok((resolved, problems)) => {
            for problem in problems.iter() {
                assert_one_line(&problem.to_string(), "config problem");
            }
            if problems.is_empty() {
                assert!(resolved.rate.min_rate_limit >= 1.0);
                assert!(resolved.rate.min_rate_limit <= resolved.rate.max_rate_limit);
                assert!(resolved.governance.max_change_ratio > 1.0);
                for problem in trendmaster_emit::check_configmap_settings(&resolved.configmap) {
                    assert_one_line(&problem, "ConfigMap settings problem");
                }
            }
        }
        Err(problems) => {
            assert!(!problems.is_empty(), "a refused config names a problem");
            for problem in problems.iter() {
                assert_one_line(&problem.to_string(), "config problem");
            }
        }
    }
}

/// A ratelimit config file: the loader-rules validator, the deployed-ConfigMap reader and
/// `check` never panic (nor hang) and give one-line messages; a file the validator accepts is
/// also readable as the deployed configuration, with limits the service can hold, and passes
/// `check`.
pub fn ratelimit(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let settings = &built_in().configmap;
    let validated = trendmaster_emit::validate_ratelimit_yaml(text, "config.yaml");
    if let Err(errors) = &validated {
        assert!(!errors.is_empty());
        for error in errors {
            assert_one_line(&error.to_string(), "loader rule");
        }
    }
    match trendmaster_emit::parse_deployed(text, "fuzz.yaml", settings) {
        Ok(deployed) => {
            for (key, limit) in &deployed.limits {
                assert!(!key.partner.is_empty() && !key.api.is_empty(), "{key}");
                // At most `u32::MAX` per second, the largest count in the shortest unit.
                assert!(*limit <= u64::from(u32::MAX) * 60, "{key}: {limit}");
            }
        }
        Err(error) => assert_one_line(&error.to_string(), "deployed ConfigMap"),
    }
    // `trendmaster check` on the same text: every problem one line, and a file the validator
    // accepts passes it.
    let problems = trendmaster_emit::check_file("fuzz.yaml", text);
    for problem in &problems {
        assert_one_line(&problem.to_string(), "check");
    }
    if validated.is_ok() {
        assert!(problems.is_empty(), "{problems:?}");
    }
}

/// A Prometheus `query_range` answer for three partners of one API: decoding never panics,
/// errors are one line, and every decoded value is missing (NaN) or a finite rate ≥ 0 on the
/// window's grid, one series per key.
pub fn prometheus_answer(data: &[u8]) {
    static WINDOW: OnceLock<AnalysisWindow> = OnceLock::new();
    let window = WINDOW.get_or_init(|| {
        let end = Utc.with_ymd_and_hms(2026, 11, 15, 0, 0, 0).unwrap();
        AnalysisWindow::ending_at(end, 1, 60)
    });
    let config = built_in();
    let preset = &config.prometheus.presets[&config.prometheus.preset];
    let api = "/api_v3/service/multirequest";
    let keys = [
        SeriesKey::new("111", api),
        SeriesKey::new("222", api),
        SeriesKey::new("333", api),
    ];
    let apis = [api, "/api_v3/service/multirequest/extra"];
    match trendmaster_fetch::decode_range_answer(data, &keys, &apis, window, preset) {
        Ok(report) => {
            let got: BTreeMap<&SeriesKey, usize> = report
                .series
                .iter()
                .map(|s| (&s.series.key, s.series.values.len()))
                .collect();
            assert_eq!(got.len(), keys.len(), "one series per key");
            for fetched in &report.series {
                assert_eq!(fetched.series.values.len(), window.len());
                for value in &fetched.series.values {
                    assert!(
                        value.is_nan() || (value.is_finite() && *value >= 0.0),
                        "{}: {value}",
                        fetched.series.key
                    );
                }
            }
        }
        Err(message) => assert_one_line(&message, "Prometheus answer"),
    }
}
