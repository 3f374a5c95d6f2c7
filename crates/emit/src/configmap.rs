//! The Kubernetes ConfigMap that carries the ratelimit config into the service's pods.
//!
//! The object is built from `k8s-openapi` types, then serialised with its conventional field
//! order (`apiVersion`, `kind`, `metadata`, `data`) so that the file reads like a hand-written
//! manifest. Nothing in it depends on the wall clock: the same recommendations, settings and
//! [`GenerationInfo`] always give byte-identical output, so diffs between runs show real changes.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_yaml::{Mapping, Value};
use trendmaster_types::settings::ConfigMapSettings;
use trendmaster_types::{AnalysisWindow, PlannedLimit, Profile};

use crate::deployed::Deployed;
use crate::error::EmitError;
use crate::kube_rules::{KubeProblem, check_configmap, check_yaml11_strings};
use crate::planned::{Rollout, planned_config};
use crate::ratelimit::{
    Descriptor, LoaderError, RateLimit, RateLimitConfig, RuleSource, validate_ratelimit_yaml,
};

/// The annotation that marks the degraded variant (`--rollback` re-applies a saved object as
/// the profile it was).
pub const PROFILE_ANNOTATION: &str = "trendmaster.io/profile";

/// What produced the file, recorded in its header and annotations.
///
/// Deliberately no generation time: two runs over the same window must give identical bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerationInfo {
    /// trendmaster's version.
    pub tool_version: String,
    /// The environment the limits are for, e.g. `testing`.
    pub environment: String,
    /// Where the traffic came from (`demo`, `prometheus`, `file:PATH`).
    pub source: String,
    /// The traffic window the limits were computed from.
    pub window: AnalysisWindow,
    /// Whether the files name [`window`](Self::window).
    pub stamp: Stamp,
}

impl GenerationInfo {
    /// The same info for files that leave the window out ([`Stamp::Stable`]).
    pub fn stable(&self) -> Self {
        Self {
            stamp: Stamp::Stable,
            ..self.clone()
        }
    }
}

/// Whether generated files name the analysed window: in the header comments, and as the
/// `trendmaster.io/window-start` and `window-end` annotations of the ConfigMap and the
/// EnvoyFilters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Stamp {
    /// The window is named: the output directory's timestamped files, which describe one run.
    #[default]
    Windowed,
    /// The window is left out (the header says it is in the run's report and JSON result), so
    /// that two runs with the same limits write the same bytes: `--gitops-dir`, where a
    /// repository's diff should show only real changes.
    Stable,
}

/// The ConfigMap object and its YAML file (header comment included).
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedConfigMap {
    /// The object.
    pub configmap: ConfigMap,
    /// The output file's content: the generated-by header, then the manifest.
    pub yaml: String,
}

/// Builds the ConfigMap for the `profile` entries of a plan against what is deployed (see
/// [`crate::planned`]): our entries at their planned values, everything else as deployed, then
/// checked against both the ratelimit loader's rules and the API server's, reporting every
/// problem at once. The degraded variant carries [`PROFILE_ANNOTATION`].
pub fn render_planned(
    plan: &[PlannedLimit],
    profile: Profile,
    deployed: Option<&Deployed>,
    rollout: Rollout,
    settings: &ConfigMapSettings,
    info: &GenerationInfo,
) -> Result<RenderedConfigMap, EmitError> {
    check_header_text(info)?;
    let config = planned_config(plan, deployed, settings, rollout)?;
    let empty = BTreeMap::new();
    let degraded_settings;
    let settings = match profile {
        Profile::Normal => settings,
        Profile::Degraded => {
            let mut marked = settings.clone();
            marked
                .annotations
                .insert(PROFILE_ANNOTATION.into(), "degraded".into());
            degraded_settings = marked;
            &degraded_settings
        }
    };
    finish(
        &config,
        deployed.map_or(&empty, |d| &d.other_data),
        settings,
        info,
    )
}

/// The profile a ConfigMap was rendered for, from its [`PROFILE_ANNOTATION`].
pub fn profile_of(configmap: &ConfigMap) -> Profile {
    match configmap
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(PROFILE_ANNOTATION))
        .map(String::as_str)
    {
        Some("degraded") => Profile::Degraded,
        _ => Profile::Normal,
    }
}

fn finish(
    config: &RateLimitConfig,
    other_data: &BTreeMap<String, String>,
    settings: &ConfigMapSettings,
    info: &GenerationInfo,
) -> Result<RenderedConfigMap, EmitError> {
    let ratelimit_yaml = format!("{}\n{}", header_line(info), config.to_yaml()?);
    // Ours are applied last: they describe this run, whatever the settings carried over.
    let mut annotations = settings.annotations.clone();
    annotations.extend(generation_annotations(info));
    let mut configmap = build_configmap(settings, annotations, ratelimit_yaml);
    if let Some(data) = configmap.data.as_mut() {
        for (key, value) in other_data {
            data.entry(key.clone()).or_insert_with(|| value.clone());
        }
    }
    // What is not ours was carried over from the deployed file: the loader's rules still apply
    // to it (the service would refuse the file), but not trendmaster's stricter ones (an
    // operator's `remote_address` or `HTTP_METHOD` is theirs to name).
    validate(&configmap, settings, |location| {
        is_managed_location(config, settings, location)
    })?;
    let yaml = format!("{}{}", file_header(info), to_manifest_yaml(&configmap)?);
    Ok(RenderedConfigMap { configmap, yaml })
}

/// Problems the ConfigMap settings alone cause, for `--validate-only`, before any traffic is
/// fetched: names, labels, annotations and data key under the API server's rules, and domain
/// and descriptor keys under the loader's (checked on a one-limit sample file). One line each.
pub fn check_configmap_settings(settings: &ConfigMapSettings) -> Vec<String> {
    let sample = match sample_config(settings).to_yaml() {
        Ok(yaml) => yaml,
        Err(err) => return vec![err.to_string()],
    };
    let configmap = build_configmap(settings, settings.annotations.clone(), sample);
    let (ratelimit, kube) = find_problems(&configmap, &settings.data_key);
    // Each problem names the setting that caused it, not the sample file it was found in.
    let ratelimit = ratelimit.iter().map(|problem| {
        let key = match problem.location.as_str() {
            "domain" | "" => "domain",
            "descriptors[0]" | "descriptors[0].key" => "partner_descriptor_key",
            "descriptors[0].descriptors[0]" | "descriptors[0].descriptors[0].key" => {
                "path_descriptor_key"
            }
            _ => "unit",
        };
        format!("COMMON.CONFIGMAP.{key}: {}", problem.message)
    });
    let kube = kube.iter().map(|problem| {
        let key = match problem.field.split(['.', '[']).nth(1) {
            Some("name") => "name".to_string(),
            Some("namespace") => "namespace".to_string(),
            Some("labels") => "labels".to_string(),
            Some("annotations") => "annotations".to_string(),
            _ if problem.field.starts_with("data") => "data_key".to_string(),
            _ => return format!("COMMON.CONFIGMAP: {problem}"),
        };
        format!(
            "COMMON.CONFIGMAP.{key} ({}): {}",
            problem.field, problem.message
        )
    });
    ratelimit.chain(kube).collect()
}

/// One partner with one path: the smallest file that exercises every configured key.
fn sample_config(settings: &ConfigMapSettings) -> RateLimitConfig {
    let limit = RateLimit {
        unit: settings.unit.as_str().to_owned(),
        requests_per_unit: 1,
        ..RateLimit::default()
    };
    let path = Descriptor {
        key: settings.path_descriptor_key.clone(),
        value: Some("/sample".to_owned()),
        rate_limit: Some(limit),
        ..Descriptor::default()
    };
    let partner = Descriptor {
        key: settings.partner_descriptor_key.clone(),
        value: Some("sample".to_owned()),
        descriptors: vec![path],
        ..Descriptor::default()
    };
    RateLimitConfig {
        domain: settings.domain.clone(),
        descriptors: vec![partner],
    }
}

fn build_configmap(
    settings: &ConfigMapSettings,
    annotations: BTreeMap<String, String>,
    ratelimit_yaml: String,
) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(settings.name.clone()),
            namespace: Some(settings.namespace.clone()),
            labels: Some(settings.labels.clone()).filter(|labels| !labels.is_empty()),
            annotations: Some(annotations),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([(
            settings.data_key.clone(),
            ratelimit_yaml,
        )])),
        ..ConfigMap::default()
    }
}

/// The annotations recording what produced an object: the window only with
/// [`Stamp::Windowed`].
pub(crate) fn generation_annotations(info: &GenerationInfo) -> Vec<(String, String)> {
    let mut annotations = vec![
        (
            "trendmaster.io/generated-by",
            format!("trendmaster {}", info.tool_version),
        ),
        ("trendmaster.io/environment", info.environment.clone()),
        ("trendmaster.io/source", info.source.clone()),
    ];
    if info.stamp == Stamp::Windowed {
        annotations.extend([
            ("trendmaster.io/window-start", rfc3339(info.window.start)),
            ("trendmaster.io/window-end", rfc3339(info.window.end)),
        ]);
    }
    annotations
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value))
        .collect()
}

/// Everything the API server and the ratelimit loader would refuse, gathered into one error;
/// trendmaster's own rules only where `managed` says a location is ours.
fn validate(
    configmap: &ConfigMap,
    settings: &ConfigMapSettings,
    managed: impl Fn(&str) -> bool,
) -> Result<(), EmitError> {
    let (mut ratelimit, kube) = find_problems(configmap, &settings.data_key);
    ratelimit.retain(|problem| problem.source == RuleSource::Loader || managed(&problem.location));
    if ratelimit.is_empty() && kube.is_empty() {
        return Ok(());
    }
    Err(EmitError::Rejected {
        namespace: settings.namespace.clone(),
        name: settings.name.clone(),
        data_key: settings.data_key.clone(),
        ratelimit,
        kube,
    })
}

/// Whether a problem at `location` of `config` concerns what trendmaster manages: the file
/// itself and its domain, a partner entry (`descriptors[i]` with the partner key), and the
/// path entries under it (`descriptors[i].descriptors[j]` with the path key, and everything
/// below). Not another top-level entry, another key under a partner, or a partner's own
/// settings (a partner-wide `rate_limit`): those were carried over as deployed.
fn is_managed_location(
    config: &RateLimitConfig,
    settings: &ConfigMapSettings,
    location: &str,
) -> bool {
    let Some((i, rest)) = indexed(location, "descriptors[") else {
        return true;
    };
    let Some(partner) = config.descriptors.get(i) else {
        return true;
    };
    if partner.key != settings.partner_descriptor_key {
        return false;
    }
    if rest.is_empty() {
        return true;
    }
    match indexed(rest, ".descriptors[") {
        Some((j, _)) => partner
            .descriptors
            .get(j)
            .is_none_or(|path| path.key == settings.path_descriptor_key),
        None => false,
    }
}

/// `N` and what follows `]` in a location starting `{prefix}N]`.
fn indexed<'a>(location: &'a str, prefix: &str) -> Option<(usize, &'a str)> {
    let (index, rest) = location.strip_prefix(prefix)?.split_once(']')?;
    Some((index.parse().ok()?, rest))
}

fn find_problems(configmap: &ConfigMap, data_key: &str) -> (Vec<LoaderError>, Vec<KubeProblem>) {
    let data = configmap.data.as_ref().and_then(|data| data.get(data_key));
    let ratelimit = match data.map(|text| validate_ratelimit_yaml(text, data_key)) {
        Some(Err(errors)) => errors,
        _ => Vec::new(),
    };
    let mut kube = check_configmap(configmap);
    kube.extend(check_yaml11_strings(configmap));
    (ratelimit, kube)
}

/// The first line of both the ratelimit file and the manifest.
fn header_line(info: &GenerationInfo) -> String {
    format!(
        "# Generated by trendmaster {} for environment {}. Do not edit: re-run trendmaster instead.",
        info.tool_version, info.environment
    )
}

fn file_header(info: &GenerationInfo) -> String {
    match info.stamp {
        Stamp::Windowed => format!(
            "{}\n# Source: {}; window {} to {} (step {} s).\n",
            header_line(info),
            info.source,
            rfc3339(info.window.start),
            rfc3339(info.window.end),
            info.window.step_secs
        ),
        Stamp::Stable => format!(
            "{}\n# Source: {}; the analysed window is in the run's report and JSON result.\n",
            header_line(info),
            info.source,
        ),
    }
}

/// A line break in a header field would end the comment and turn the rest into YAML.
fn check_header_text(info: &GenerationInfo) -> Result<(), EmitError> {
    let fields = [
        ("tool version", &info.tool_version),
        ("environment", &info.environment),
        ("source", &info.source),
    ];
    for (field, value) in fields {
        if value.chars().any(char::is_control) {
            return Err(EmitError::UnsafeHeaderText {
                field,
                value: value.clone(),
            });
        }
    }
    Ok(())
}

/// The manifest with `metadata` before `data` and `name`/`namespace` first in `metadata`;
/// k8s-openapi serialises fields alphabetically, which buries the name under the annotations.
fn to_manifest_yaml(configmap: &ConfigMap) -> Result<String, EmitError> {
    let serialize_error = |source| EmitError::Serialize {
        what: format!(
            "ConfigMap {}",
            configmap.metadata.name.as_deref().unwrap_or_default()
        ),
        source,
    };
    let mut manifest = serde_yaml::to_value(configmap).map_err(serialize_error)?;
    if let Value::Mapping(top) = &mut manifest {
        if let Some(Value::Mapping(meta)) = top.get_mut("metadata") {
            reorder(meta, &["name", "namespace", "labels", "annotations"]);
        }
        reorder(top, &["apiVersion", "kind", "metadata", "data"]);
    }
    serde_yaml::to_string(&manifest).map_err(serialize_error)
}

/// Moves `first` keys (those present) to the front, in that order; the rest keep their order.
fn reorder(map: &mut Mapping, first: &[&str]) {
    let mut ordered = Mapping::with_capacity(map.len());
    for key in first {
        if let Some(value) = map.remove(*key) {
            ordered.insert(Value::from(*key), value);
        }
    }
    ordered.extend(std::mem::take(map));
    *map = ordered;
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The generation info the emit crate's tests render with: the shared test window
/// (`trendmaster_types::testing::window`), environment `testing`, source `demo`.
#[cfg(test)]
pub(crate) fn test_info() -> GenerationInfo {
    GenerationInfo {
        tool_version: "0.1.0".into(),
        environment: "testing".into(),
        source: "demo".into(),
        window: trendmaster_types::testing::window(),
        stamp: Stamp::Windowed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planned::tests::all_new;
    use trendmaster_types::RateRecommendation;
    use trendmaster_types::testing::{
        configmap_settings as settings, recommendation as rec, window,
    };

    /// The ConfigMap of `recs` when nothing is deployed.
    fn render_configmap(
        recs: &[RateRecommendation],
        settings: &ConfigMapSettings,
        info: &GenerationInfo,
    ) -> Result<RenderedConfigMap, EmitError> {
        let plan = all_new(recs);
        render_planned(
            &plan,
            Profile::Normal,
            None,
            Rollout::Enforce,
            settings,
            info,
        )
    }

    fn info() -> GenerationInfo {
        crate::configmap::test_info()
    }

    fn recs() -> Vec<RateRecommendation> {
        vec![
            rec("222", "/api/v3/service/ENDPOINT_2", 300),
            rec("111", "/api/v3/service/ENDPOINT_1", 500),
        ]
    }

    fn rejected(settings: &ConfigMapSettings) -> Vec<String> {
        match render_configmap(&recs(), settings, &info()) {
            Err(EmitError::Rejected {
                ratelimit, kube, ..
            }) => ratelimit
                .iter()
                .map(ToString::to_string)
                .chain(kube.iter().map(|p| p.field.clone()))
                .collect(),
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    #[test]
    fn emitted_yaml_parses_back_as_the_same_configmap() {
        let rendered = render_configmap(&recs(), &settings(), &info()).unwrap();
        let parsed: ConfigMap = serde_yaml::from_str(&rendered.yaml).unwrap();
        assert_eq!(parsed, rendered.configmap);

        let meta = &parsed.metadata;
        assert_eq!(meta.name.as_deref(), Some("ratelimit-config"));
        assert_eq!(meta.namespace.as_deref(), Some("istio-system"));
        assert_eq!(
            meta.labels.as_ref().unwrap()["app.kubernetes.io/instance"],
            "orp2-istio-ratelimit"
        );
        let annotations = meta.annotations.as_ref().unwrap();
        assert_eq!(
            annotations["trendmaster.io/generated-by"],
            "trendmaster 0.1.0"
        );
        assert_eq!(annotations["trendmaster.io/environment"], "testing");
        assert_eq!(annotations["trendmaster.io/source"], "demo");
        assert_eq!(
            annotations["trendmaster.io/window-start"],
            "2026-11-01T00:00:00Z"
        );
        assert_eq!(
            annotations["trendmaster.io/window-end"],
            "2026-11-15T00:00:00Z"
        );

        let data = &parsed.data.as_ref().unwrap()["config.yaml"];
        let config = validate_ratelimit_yaml(data, "config.yaml").unwrap();
        assert_eq!(config.descriptors[0].value.as_deref(), Some("111"));
        let first_limit = config.descriptors[0].descriptors[0]
            .rate_limit
            .as_ref()
            .unwrap();
        assert_eq!(first_limit.requests_per_unit, 500);
    }

    #[test]
    fn file_and_data_start_with_the_generated_header() {
        let rendered = render_configmap(&recs(), &settings(), &info()).unwrap();
        let header = "# Generated by trendmaster 0.1.0 for environment testing. Do not edit: \
                      re-run trendmaster instead.\n";
        assert!(rendered.yaml.starts_with(header), "{}", rendered.yaml);
        assert!(rendered.yaml.contains(
            "# Source: demo; window 2026-11-01T00:00:00Z to 2026-11-15T00:00:00Z (step 60 s).\n\
             apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ratelimit-config\n"
        ));
        let data = &rendered.configmap.data.as_ref().unwrap()["config.yaml"];
        assert!(data.starts_with(header), "{data}");
    }

    #[test]
    fn a_stable_stamp_leaves_the_window_out_so_another_window_gives_the_same_bytes() {
        let a_day = chrono::TimeDelta::days(1);
        let next_day = AnalysisWindow {
            start: window().start + a_day,
            end: window().end + a_day,
            ..window()
        };
        let render = |info: &GenerationInfo| render_configmap(&recs(), &settings(), info).unwrap();
        let stable = render(&info().stable());
        let stable_next_day = render(&GenerationInfo {
            window: next_day,
            ..info().stable()
        });
        assert_eq!(stable.yaml, stable_next_day.yaml);
        assert!(!stable.yaml.contains("2026-11-"), "{}", stable.yaml);
        assert!(
            stable.yaml.contains(
                "# Source: demo; the analysed window is in the run's report and JSON result.\n\
                 apiVersion: v1\n"
            ),
            "{}",
            stable.yaml
        );
        let annotations = stable.configmap.metadata.annotations.unwrap();
        let ours: Vec<&str> = annotations
            .keys()
            .filter(|key| key.starts_with("trendmaster.io/"))
            .map(String::as_str)
            .collect();
        assert_eq!(
            ours,
            [
                "trendmaster.io/environment",
                "trendmaster.io/generated-by",
                "trendmaster.io/source"
            ]
        );
        // The timestamped files keep the window, so those differ.
        let windowed_next_day = render(&GenerationInfo {
            window: next_day,
            ..info()
        });
        assert_ne!(render(&info()).yaml, windowed_next_day.yaml);
    }

    #[test]
    fn data_is_a_literal_block_and_numeric_partners_stay_strings() {
        let rendered = render_configmap(&recs(), &settings(), &info()).unwrap();
        assert!(
            rendered
                .yaml
                .contains("data:\n  config.yaml: |\n    # Generated by"),
            "{}",
            rendered.yaml
        );
        assert!(rendered.yaml.contains("value: '111'"), "{}", rendered.yaml);

        // Read the data without any schema: a bare 111 would come back as a number.
        let parsed: ConfigMap = serde_yaml::from_str(&rendered.yaml).unwrap();
        let data: Value = serde_yaml::from_str(&parsed.data.unwrap()["config.yaml"]).unwrap();
        assert_eq!(data["descriptors"][0]["value"], Value::from("111"));
        assert_eq!(data["descriptors"][1]["value"], Value::from("222"));
    }

    #[test]
    fn rendering_is_deterministic_whatever_the_input_order() {
        let first = render_configmap(&recs(), &settings(), &info()).unwrap();
        let mut reversed = recs();
        reversed.reverse();
        let second = render_configmap(&reversed, &settings(), &info()).unwrap();
        assert_eq!(first.yaml, second.yaml);
    }

    #[test]
    fn generation_annotations_override_configured_ones() {
        let mut settings = settings();
        settings
            .annotations
            .insert("trendmaster.io/source".into(), "stale".into());
        settings
            .annotations
            .insert("team".into(), "platform".into());
        let rendered = render_configmap(&recs(), &settings, &info()).unwrap();
        let annotations = rendered.configmap.metadata.annotations.unwrap();
        assert_eq!(annotations["trendmaster.io/source"], "demo");
        assert_eq!(annotations["team"], "platform");
    }

    #[test]
    fn kubernetes_rules_reject_bad_settings() {
        type Spoil = fn(&mut ConfigMapSettings);
        let cases: [(Spoil, &str); 6] = [
            (|s| s.name = "Ratelimit_Config".into(), "metadata.name"),
            (
                |s| s.namespace = "istio.system".into(),
                "metadata.namespace",
            ),
            (
                |s| s.data_key = ".config.yaml".into(),
                "data[\".config.yaml\"]",
            ),
            (
                |s| drop(s.labels.insert("bad key".into(), "x".into())),
                "metadata.labels[\"bad key\"]",
            ),
            (
                |s| drop(s.labels.insert("app".into(), "-x".into())),
                "metadata.labels[\"app\"]",
            ),
            (
                |s| drop(s.annotations.insert("bad/key/x".into(), "x".into())),
                "metadata.annotations[\"bad/key/x\"]",
            ),
        ];
        for (spoil, field) in cases {
            let mut settings = settings();
            spoil(&mut settings);
            assert_eq!(rejected(&settings), [field]);
        }
    }

    #[test]
    fn oversized_data_and_annotations_are_rejected() {
        // Long paths reach the 1 MiB cap with few descriptors, which keeps the test quick.
        let long_path = format!("/{}", "segment/".repeat(128));
        let many: Vec<RateRecommendation> = (0..1_100)
            .map(|i| rec(&format!("partner-{i:04}"), &long_path, 100))
            .collect();
        let err = render_configmap(&many, &settings(), &info()).unwrap_err();
        assert!(err.to_string().contains("data: data totals"), "{err}");

        let mut settings = settings();
        settings
            .annotations
            .insert("big".into(), "x".repeat(300_000));
        assert_eq!(rejected(&settings), ["metadata.annotations"]);
    }

    #[test]
    fn loader_rules_reject_what_the_service_would_refuse() {
        let mut settings = settings();
        settings.domain = "global.ratelimit".into();
        settings.partner_descriptor_key = "PARTNER_ID".into();
        let problems = rejected(&settings);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].starts_with("config.yaml: domain 'global.ratelimit' contains '.'"));
        assert!(problems[1].starts_with("config.yaml: descriptor key 'PARTNER_ID' contains '_'"));
    }

    #[test]
    fn a_dotted_partner_is_refused_with_its_location() {
        let err = render_configmap(&[rec("acme.com", "/a", 5)], &settings(), &info()).unwrap_err();
        let message = err.to_string();
        assert!(
            message.starts_with(
                "ConfigMap istio-system/ratelimit-config (data key config.yaml) would be rejected: "
            ),
            "{message}"
        );
        assert!(
            message.contains("descriptor value 'acme.com' contains '.'"),
            "{message}"
        );
        assert!(message.contains("(at descriptors[0])"), "{message}");
        assert!(!message.contains('\n'));
    }

    #[test]
    fn stricter_rules_spare_what_is_carried_over_but_not_our_entries() {
        // An operator's entries, under a partner and at the top, that only trendmaster's own
        // rules object to: the service loads them, so they are carried over as they are.
        let deployed = crate::deployed::parse_deployed(
            r#"domain: global-ratelimit
descriptors:
- key: PARTNER
  value: '111'
  rate_limit: {unit: minute, requests_per_unit: 0}
  descriptors:
  - key: HTTP_METHOD
    value: POST
    rate_limit: {unit: minute, requests_per_unit: 7}
  - key: PATH
    value: /api/a
    rate_limit: {unit: minute, requests_per_unit: 400}
- key: remote_address
  value: 10.0.0.1
  rate_limit: {unit: second, requests_per_unit: 0}
"#,
            "deployed.yaml",
            &settings(),
        )
        .unwrap();
        let render = |recs: &[RateRecommendation]| {
            render_planned(
                &all_new(recs),
                Profile::Normal,
                Some(&deployed),
                Rollout::Enforce,
                &settings(),
                &info(),
            )
        };
        let rendered = render(&[rec("111", "/api/a", 500)]).unwrap();
        let file = &rendered.configmap.data.as_ref().unwrap()["config.yaml"];
        assert!(file.contains("key: HTTP_METHOD"), "{file}");
        assert!(file.contains("value: 10.0.0.1"), "{file}");
        // Our own entries still answer to every rule.
        let error = render(&[rec("111", "/api/a.json", 500)])
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("descriptor value '/api/a.json' contains '.'")
                && error.contains("(at descriptors[0].descriptors[2])"),
            "{error}"
        );
        assert!(!error.contains("HTTP_METHOD"), "{error}");
    }

    #[test]
    fn yaml11_ambiguous_metadata_is_refused() {
        let mut settings = settings();
        settings.labels.insert("enabled".into(), "yes".into());
        assert_eq!(rejected(&settings), ["metadata.labels[\"enabled\"]"]);
    }

    #[test]
    fn settings_alone_can_be_checked_before_any_traffic_is_fetched() {
        assert_eq!(check_configmap_settings(&settings()), Vec::<String>::new());

        let mut bad = settings();
        bad.namespace = "Istio".into();
        bad.path_descriptor_key = "API_PATH".into();
        let problems = check_configmap_settings(&bad);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems[0].starts_with(
                "COMMON.CONFIGMAP.path_descriptor_key: descriptor key 'API_PATH' contains '_'"
            ),
            "{problems:?}"
        );
        assert!(
            problems[1].starts_with(
                "COMMON.CONFIGMAP.namespace (metadata.namespace): \"Istio\" is not a DNS-1123 label"
            ),
            "{problems:?}"
        );
    }

    #[test]
    fn a_line_break_in_a_header_field_is_refused() {
        let info = GenerationInfo {
            environment: "testing\napiVersion: v2".into(),
            ..info()
        };
        let err = render_configmap(&recs(), &settings(), &info).unwrap_err();
        assert!(matches!(
            err,
            EmitError::UnsafeHeaderText {
                field: "environment",
                ..
            }
        ));
        assert!(!err.to_string().contains('\n'), "{err}");
    }
}
