//! What is deployed now, and the plan from it to what is emitted.
//!
//! [`parse_deployed`] reads a ConfigMap manifest (as `kubectl get configmap -o yaml` prints it)
//! or a bare ratelimit file back into the model. Only the two-level partner → path entries of
//! our domain, with the configured descriptor keys, are ours to manage; everything else (other
//! descriptor keys, other settings on our entries, other data keys) is carried over untouched.
//!
//! [`plan`] compares each recommendation with its deployed value. A change beyond the
//! governance ratio (default 1.8× up or down) is **held**: the emitted file keeps the deployed
//! value until someone approves the new one (`--approve PARTNER:API` or `all`). Deployed
//! entries without a recommendation this run are **kept** as they are.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::ConfigMap;
use serde::Serialize;
use trendmaster_types::SeriesKey;
use trendmaster_types::settings::{ConfigMapSettings, RateLimitUnit, TierSettings};

use crate::EmitError;
use crate::ratelimit::{Descriptor, RateLimit, RateLimitConfig};

/// The deployed ratelimit configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Deployed {
    /// Where it was read from (a file path, or `configmap NAMESPACE/NAME`), for messages.
    pub origin: String,
    /// The ratelimit file under our data key, whole.
    pub config: RateLimitConfig,
    /// The file's text as deployed, for `--diff`.
    pub text: String,
    /// The ConfigMap's other data keys (other files of the ratelimit service), untouched.
    pub other_data: BTreeMap<String, String>,
    /// Our entries: partner × path → requests per minute.
    pub limits: BTreeMap<SeriesKey, u64>,
}

/// Reads `text` (a ConfigMap manifest, or the ratelimit file itself) from `origin`.
pub fn parse_deployed(
    text: &str,
    origin: &str,
    settings: &ConfigMapSettings,
) -> Result<Deployed, EmitError> {
    let invalid = invalid_at(origin);
    let value: serde_yaml::Value =
        serde_yaml::from_str(text).map_err(|e| invalid(format!("not YAML: {e}")))?;
    let is_configmap = value.get("kind").and_then(|k| k.as_str()) == Some("ConfigMap");
    if is_configmap {
        let configmap: ConfigMap =
            serde_yaml::from_value(value).map_err(|e| invalid(format!("not a ConfigMap: {e}")))?;
        return from_configmap(configmap, origin, settings);
    }
    from_file(text.to_owned(), BTreeMap::new(), origin, settings)
}

/// Reads a ConfigMap as the API server returned it (`origin` names it in messages).
pub fn from_configmap(
    configmap: ConfigMap,
    origin: &str,
    settings: &ConfigMapSettings,
) -> Result<Deployed, EmitError> {
    let invalid = invalid_at(origin);
    let mut data = configmap.data.unwrap_or_default();
    let file = data.remove(&settings.data_key).ok_or_else(|| {
        let keys: Vec<&str> = data.keys().map(String::as_str).collect();
        invalid(format!(
            "the ConfigMap has no data key `{}` (it has: {})",
            settings.data_key,
            if keys.is_empty() {
                "none".to_owned()
            } else {
                keys.join(", ")
            }
        ))
    })?;
    from_file(file, data, origin, settings)
}

/// The ratelimit file `file`, deployed beside `other_data`.
fn from_file(
    file: String,
    other_data: BTreeMap<String, String>,
    origin: &str,
    settings: &ConfigMapSettings,
) -> Result<Deployed, EmitError> {
    let invalid = invalid_at(origin);
    let config: RateLimitConfig =
        serde_yaml::from_str(&file).map_err(|e| invalid(format!("not a ratelimit config: {e}")))?;
    if config.domain != settings.domain {
        return Err(invalid(format!(
            "its domain is `{}`, but CONFIGMAP.domain is `{}`",
            config.domain, settings.domain
        )));
    }
    let limits = managed_limits(&config, settings);
    Ok(Deployed {
        origin: origin.to_owned(),
        config,
        text: file,
        other_data,
        limits,
    })
}

/// Errors about the deployed configuration read from `origin`.
fn invalid_at(origin: &str) -> impl Fn(String) -> EmitError + '_ {
    // Reasons quote the deployed file's keys and values, which may hold line breaks.
    move |reason| EmitError::Deployed {
        origin: origin.to_owned(),
        reason: trendmaster_types::one_line(&reason),
    }
}

/// Our entries of `config`, converted to requests per minute (rounded up).
fn managed_limits(
    config: &RateLimitConfig,
    settings: &ConfigMapSettings,
) -> BTreeMap<SeriesKey, u64> {
    let mut limits = BTreeMap::new();
    for partner in partners(config, settings) {
        // An empty value matches every value in the service (like an absent one), so such a
        // descriptor is a catch-all of someone else's, not one of our partner × API entries.
        let Some(partner_id) = partner.value.as_ref().filter(|v| !v.is_empty()) else {
            continue;
        };
        for path in partner
            .descriptors
            .iter()
            .filter(|d| d.key == settings.path_descriptor_key)
        {
            let (Some(api), Some(limit)) = (
                path.value.as_ref().filter(|v| !v.is_empty()),
                &path.rate_limit,
            ) else {
                continue;
            };
            if let Some(per_minute) = per_minute(limit) {
                limits.insert(SeriesKey::new(partner_id.clone(), api.clone()), per_minute);
            }
        }
    }
    limits
}

fn partners<'a>(
    config: &'a RateLimitConfig,
    settings: &'a ConfigMapSettings,
) -> impl Iterator<Item = &'a Descriptor> {
    config
        .descriptors
        .iter()
        .filter(|d| d.key == settings.partner_descriptor_key)
}

/// A deployed limit in requests per minute; `None` for unlimited entries and units too coarse
/// to compare (week and longer).
fn per_minute(limit: &RateLimit) -> Option<u64> {
    if limit.unlimited == Some(true) {
        return None;
    }
    let n = u64::from(limit.requests_per_unit);
    match limit.unit.as_str() {
        "second" => Some(n * 60),
        "minute" => Some(n),
        "hour" => Some(n.div_ceil(60)),
        "day" => Some(n.div_ceil(1440)),
        _ => None,
    }
}

/// What happens to one partner × API entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeStatus {
    /// Not deployed yet: emitted as recommended.
    New,
    /// Deployed with the recommended value already.
    Unchanged,
    /// Within the governance ratio: emitted as recommended.
    Changed,
    /// Beyond the governance ratio: the deployed value is kept until approved.
    Held,
    /// Beyond the ratio, released with `--approve`.
    Approved,
    /// Deployed, but no recommendation this run: kept as deployed.
    Kept,
}

impl ChangeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Unchanged => "unchanged",
            Self::Changed => "changed",
            Self::Held => "held",
            Self::Approved => "approved",
            Self::Kept => "kept",
        }
    }

    /// Whether the emitted value differs from the deployed one (or there was none), or a change
    /// waits for approval: what `--detailed-exitcode` reports as 2.
    pub fn is_change(self) -> bool {
        !matches!(self, Self::Unchanged | Self::Kept)
    }
}

/// One entry of the plan, all values in requests per minute.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedLimit {
    pub key: SeriesKey,
    pub current: Option<u64>,
    pub recommended: Option<u64>,
    pub emitted: u64,
    pub status: ChangeStatus,
}

impl PlannedLimit {
    /// `recommended ÷ current`, when both exist.
    pub fn ratio(&self) -> Option<f64> {
        match (self.recommended, self.current) {
            (Some(new), Some(old)) if old > 0 => Some(new as f64 / old as f64),
            _ => None,
        }
    }
}

/// Entries whose big changes are released: `--approve all`, or `--approve PARTNER:API`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Approvals {
    All,
    Some(BTreeSet<SeriesKey>),
    #[default]
    None,
}

impl Approvals {
    fn covers(&self, key: &SeriesKey) -> bool {
        match self {
            Self::All => true,
            Self::Some(keys) => keys.contains(key),
            Self::None => false,
        }
    }
}

/// The plan for `recommended` (series → requests per minute) against `deployed`, sorted by
/// series. Without a deployed configuration every entry is new.
pub fn plan(
    recommended: &BTreeMap<SeriesKey, u64>,
    deployed: Option<&Deployed>,
    max_change_ratio: f64,
    approvals: &Approvals,
) -> Vec<PlannedLimit> {
    let empty = BTreeMap::new();
    let current = deployed.map_or(&empty, |d| &d.limits);
    let keys: BTreeSet<&SeriesKey> = recommended.keys().chain(current.keys()).collect();
    keys.into_iter()
        .map(|key| {
            let (old, new) = (current.get(key).copied(), recommended.get(key).copied());
            let (status, emitted) = match (old, new) {
                (None, Some(new)) => (ChangeStatus::New, new),
                (Some(old), None) => (ChangeStatus::Kept, old),
                (Some(old), Some(new)) if old == new => (ChangeStatus::Unchanged, new),
                (Some(old), Some(new)) => {
                    let ratio = new as f64 / old.max(1) as f64;
                    if ratio <= max_change_ratio && ratio >= 1.0 / max_change_ratio {
                        (ChangeStatus::Changed, new)
                    } else if approvals.covers(key) {
                        (ChangeStatus::Approved, new)
                    } else {
                        (ChangeStatus::Held, old)
                    }
                }
                (None, None) => unreachable!("every key comes from one of the maps"),
            };
            PlannedLimit {
                key: key.clone(),
                current: old,
                recommended: new,
                emitted,
                status,
            }
        })
        .collect()
}

/// A unified diff (3 lines of context) of the deployed ratelimit file against `emitted`, the new
/// one; empty when they are equal.
pub fn unified_diff(deployed: &Deployed, emitted: &str) -> String {
    similar::TextDiff::from_lines(deployed.text.as_str(), emitted)
        .unified_diff()
        .context_radius(3)
        .header(&format!("deployed ({})", deployed.origin), "emitted")
        .to_string()
}

/// The degraded (load-shedding) variant of `plan`: every emitted limit cut to its partner's
/// tier `degraded_factor` (rounded up to `rounding_step`, so never above the normal limit), and
/// marked to be written even where the normal plan keeps the deployed value. Entries of a tier
/// that keeps everything (factor 1) stay exactly as in the normal plan.
pub fn degraded(
    plan: &[PlannedLimit],
    tiers: &TierSettings,
    rounding_step: u64,
) -> Vec<PlannedLimit> {
    let step = rounding_step.max(1);
    plan.iter()
        .map(|entry| {
            let factor = tiers
                .tier_of(&entry.key.partner)
                .1
                .map_or(1.0, |tier| tier.degraded_factor);
            if factor >= 1.0 {
                return entry.clone();
            }
            let cut = (entry.emitted as f64 * factor / step as f64).ceil() as u64 * step;
            PlannedLimit {
                emitted: cut.clamp(1, entry.emitted.max(1)),
                status: ChangeStatus::Changed,
                ..entry.clone()
            }
        })
        .collect()
}

/// How changed limits go out: enforced at once, or first in shadow mode (`--shadow`), where
/// the ratelimit service counts what it would reject without rejecting it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rollout {
    /// Every entry decided this run is enforced (`shadow_mode` removed): a later run without
    /// `--shadow` promotes what an earlier one shadowed.
    #[default]
    Enforce,
    /// New, changed and approved entries get `shadow_mode: true`; the others keep theirs.
    Shadow,
}

/// The ratelimit file to emit: the deployed one (when there is one) with our entries set to
/// their planned values, new partners and paths appended in key order, and everything we do
/// not manage left as it was. Held, kept and unchanged entries keep their deployed limit
/// exactly (unit included); kept entries (not analysed this run) are not touched at all.
pub fn planned_config(
    plan: &[PlannedLimit],
    deployed: Option<&Deployed>,
    settings: &ConfigMapSettings,
    rollout: Rollout,
) -> Result<RateLimitConfig, EmitError> {
    let mut config = deployed.map_or_else(
        || RateLimitConfig {
            domain: settings.domain.clone(),
            descriptors: Vec::new(),
        },
        |d| d.config.clone(),
    );
    for entry in plan {
        let keeps_deployed = deployed.is_some()
            && matches!(
                entry.status,
                ChangeStatus::Held | ChangeStatus::Kept | ChangeStatus::Unchanged
            );
        if entry.status == ChangeStatus::Kept {
            continue;
        }
        let limit = RateLimit {
            unit: settings.unit.as_str().to_owned(),
            requests_per_unit: requests_per_unit(&entry.key, entry.emitted, settings.unit)?,
            ..RateLimit::default()
        };
        let partner = match config.descriptors.iter().position(|d| {
            d.key == settings.partner_descriptor_key
                && d.value.as_deref() == Some(&entry.key.partner)
        }) {
            Some(index) => &mut config.descriptors[index],
            None => {
                config.descriptors.push(Descriptor {
                    key: settings.partner_descriptor_key.clone(),
                    value: Some(entry.key.partner.clone()),
                    ..Descriptor::default()
                });
                config.descriptors.last_mut().expect("just pushed")
            }
        };
        let index = match partner.descriptors.iter().position(|d| {
            d.key == settings.path_descriptor_key && d.value.as_deref() == Some(&entry.key.api)
        }) {
            Some(index) => index,
            None => {
                partner.descriptors.push(Descriptor {
                    key: settings.path_descriptor_key.clone(),
                    value: Some(entry.key.api.clone()),
                    ..Descriptor::default()
                });
                partner.descriptors.len() - 1
            }
        };
        // Only the limit and its rollout are ours: metric flags and the rest stay.
        let path = &mut partner.descriptors[index];
        if !keeps_deployed {
            path.rate_limit = Some(limit);
        }
        match rollout {
            Rollout::Enforce => path.shadow_mode = None,
            Rollout::Shadow if !keeps_deployed => path.shadow_mode = Some(true),
            Rollout::Shadow => {}
        }
    }
    Ok(config)
}

/// `ceil(requests_per_minute × minutes per unit)`, at least 1.
///
/// Integer arithmetic rather than `unit.minutes()`: 1/60 is not exact in floating point, and
/// a limit must never be rounded below the recommendation. Zero is lifted to 1 because the
/// service reads 0 as "block everything".
pub fn requests_per_unit(
    key: &SeriesKey,
    requests_per_minute: u64,
    unit: RateLimitUnit,
) -> Result<u32, EmitError> {
    let per_minute = u128::from(requests_per_minute.max(1));
    let scaled = match unit {
        RateLimitUnit::Second => per_minute.div_ceil(60),
        RateLimitUnit::Minute => per_minute,
        RateLimitUnit::Hour => per_minute * 60,
        RateLimitUnit::Day => per_minute * 1440,
    };
    u32::try_from(scaled).map_err(|_| EmitError::LimitTooLarge {
        series: key.clone(),
        requests_per_unit: scaled,
        unit: unit.as_str(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratelimit::tests::settings;

    const DEPLOYED: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: ratelimit-config
  namespace: istio-system
data:
  other.yaml: |
    domain: other
    descriptors: [{key: remote_address, rate_limit: {unit: second, requests_per_unit: 5}}]
  config.yaml: |
    domain: global-ratelimit
    descriptors:
    - key: PARTNER
      value: '111'
      descriptors:
      - key: PATH
        value: /api/a
        shadow_mode: true
        detailed_metric: true
        rate_limit: {unit: minute, requests_per_unit: 1000}
      - key: PATH
        value: /api/b
        rate_limit: {unit: second, requests_per_unit: 10}
      - key: METHOD
        value: POST
        rate_limit: {unit: minute, requests_per_unit: 7}
    - key: remote_address
      rate_limit: {unit: second, requests_per_unit: 50}
"#;

    fn deployed() -> Deployed {
        parse_deployed(DEPLOYED, "cm.yaml", &settings()).unwrap()
    }

    fn key(partner: &str, api: &str) -> SeriesKey {
        SeriesKey::new(partner, api)
    }

    #[test]
    fn empty_values_are_catch_alls_not_entries() {
        let file = "domain: global-ratelimit\ndescriptors:\n- key: PARTNER\n  value: '111'\n  descriptors:\n  - key: PATH\n    value: ''\n    rate_limit: {unit: minute, requests_per_unit: 5}\n  - key: PATH\n    value: /api/a\n    rate_limit: {unit: minute, requests_per_unit: 7}\n- key: PARTNER\n  value: ''\n  descriptors:\n  - key: PATH\n    value: /api/a\n    rate_limit: {unit: minute, requests_per_unit: 9}\n";
        let deployed = parse_deployed(file, "f.yaml", &settings()).unwrap();
        assert_eq!(deployed.limits, BTreeMap::from([(key("111", "/api/a"), 7)]));
    }

    #[test]
    fn a_deployed_configmap_reads_back_into_our_entries_per_minute() {
        let deployed = deployed();
        assert_eq!(
            deployed.limits,
            BTreeMap::from([(key("111", "/api/a"), 1000), (key("111", "/api/b"), 600)])
        );
        assert_eq!(deployed.other_data.len(), 1);
        assert!(deployed.text.starts_with("domain: global-ratelimit"));
        // A bare ratelimit file works too.
        let bare = DEPLOYED.split("  config.yaml: |\n").nth(1).unwrap();
        let bare: String = bare
            .lines()
            .map(|l| format!("{}\n", l.strip_prefix("    ").unwrap_or(l)))
            .collect();
        assert_eq!(
            parse_deployed(&bare, "bare.yaml", &settings())
                .unwrap()
                .limits,
            deployed.limits
        );
    }

    #[test]
    fn unreadable_deployed_configs_name_the_origin_and_the_problem() {
        let wrong_key = DEPLOYED.replace("config.yaml: |", "limits.yaml: |");
        let error = parse_deployed(&wrong_key, "cm.yaml", &settings())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("cm.yaml") && error.contains("no data key `config.yaml`"),
            "{error}"
        );
        assert!(error.contains("limits.yaml"), "{error}");
        let wrong_domain = DEPLOYED.replace("domain: global-ratelimit", "domain: edge");
        let error = parse_deployed(&wrong_domain, "cm.yaml", &settings())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("`edge`") && error.contains("`global-ratelimit`"),
            "{error}"
        );
        let error = parse_deployed("a: [", "x.yaml", &settings())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("x.yaml") && error.contains("not YAML"),
            "{error}"
        );
    }

    #[test]
    fn big_changes_are_held_until_approved_and_absent_entries_are_kept() {
        let deployed = deployed();
        let recommended = BTreeMap::from([
            (key("111", "/api/a"), 3000), // 3×: held
            (key("111", "/api/b"), 700),  // ×1.17: changed
            (key("222", "/api/a"), 400),  // new
        ]);
        let held = plan(&recommended, Some(&deployed), 1.8, &Approvals::None);
        let summary: Vec<_> = held
            .iter()
            .map(|p| (p.key.clone(), p.status, p.emitted))
            .collect();
        assert_eq!(
            summary,
            vec![
                (key("111", "/api/a"), ChangeStatus::Held, 1000),
                (key("111", "/api/b"), ChangeStatus::Changed, 700),
                (key("222", "/api/a"), ChangeStatus::New, 400),
            ]
        );
        assert_eq!(held[0].ratio(), Some(3.0));
        let approved = plan(
            &recommended,
            Some(&deployed),
            1.8,
            &Approvals::Some([key("111", "/api/a")].into()),
        );
        assert_eq!(
            (approved[0].status, approved[0].emitted),
            (ChangeStatus::Approved, 3000)
        );
        // A cut beyond the ratio is held too; an entry without a recommendation is kept.
        let cut = plan(
            &BTreeMap::from([(key("111", "/api/a"), 500)]),
            Some(&deployed),
            1.8,
            &Approvals::None,
        );
        assert_eq!((cut[0].status, cut[0].emitted), (ChangeStatus::Held, 1000));
        assert_eq!((cut[1].status, cut[1].emitted), (ChangeStatus::Kept, 600));
        assert!(!cut[1].status.is_change() && cut[0].status.is_change());
    }

    #[test]
    fn the_degraded_profile_cuts_lower_tiers_and_keeps_the_top_one() {
        use trendmaster_types::settings::Tier;
        let tiers = TierSettings {
            default_tier: "free".into(),
            tiers: [
                (
                    "free".into(),
                    Tier {
                        multiplier: 1.0,
                        degraded_factor: 0.5,
                    },
                ),
                (
                    "enterprise".into(),
                    Tier {
                        multiplier: 1.0,
                        degraded_factor: 1.0,
                    },
                ),
            ]
            .into(),
            partner_tiers: [("111".into(), "enterprise".into())].into(),
        };
        let deployed = deployed();
        let recommended = BTreeMap::from([
            (key("111", "/api/a"), 3000), // held at 1000
            (key("222", "/api/a"), 1500),
            (key("222", "/api/b"), 150),
        ]);
        let normal = plan(&recommended, Some(&deployed), 1.8, &Approvals::None);
        let cut = degraded(&normal, &tiers, 100);
        for (n, d) in normal.iter().zip(&cut) {
            assert!(d.emitted <= n.emitted, "{d:?} vs {n:?}");
            if n.key.partner == "111" {
                assert_eq!(d, n, "the top tier keeps everything");
            }
        }
        let values: Vec<u64> = cut.iter().map(|p| p.emitted).collect();
        assert_eq!(
            values,
            vec![1000, 600, 800, 100],
            "222 halved, rounded up to 100"
        );
    }

    #[test]
    fn the_diff_shows_changed_lines_with_context() {
        let deployed = deployed();
        assert_eq!(unified_diff(&deployed, &deployed.text), "");
        let emitted = deployed
            .text
            .replace("requests_per_unit: 1000", "requests_per_unit: 1100");
        let diff = unified_diff(&deployed, &emitted);
        assert!(
            diff.starts_with("--- deployed (cm.yaml)\n+++ emitted\n@@"),
            "{diff}"
        );
        let changed: Vec<&str> = diff
            .lines()
            .filter(|l| l.starts_with(['-', '+']) && !l.starts_with("---") && !l.starts_with("+++"))
            .collect();
        assert_eq!(changed.len(), 2, "{diff}");
        assert!(changed[0].starts_with('-') && changed[0].ends_with("requests_per_unit: 1000}"));
        assert!(changed[1].starts_with('+') && changed[1].ends_with("requests_per_unit: 1100}"));
    }

    #[test]
    fn the_emitted_file_changes_only_our_limits() {
        let deployed = deployed();
        let recommended = BTreeMap::from([
            (key("111", "/api/a"), 1100),
            (key("111", "/api/b"), 3000), // held: stays 10 per second
            (key("222", "/api/x"), 400),
        ]);
        let plan = plan(&recommended, Some(&deployed), 1.8, &Approvals::None);
        let config = planned_config(&plan, Some(&deployed), &settings(), Rollout::Enforce).unwrap();
        let partner = &config.descriptors[0];
        let a = &partner.descriptors[0];
        assert_eq!(a.rate_limit.as_ref().unwrap().requests_per_unit, 1100);
        assert_eq!(
            a.shadow_mode, None,
            "enforced: a run without --shadow promotes it"
        );
        assert_eq!(
            a.detailed_metric,
            Some(true),
            "other settings on our entries stay"
        );
        let b = &partner.descriptors[1];
        assert_eq!(b.rate_limit.as_ref().unwrap().unit, "second");
        assert_eq!(b.rate_limit.as_ref().unwrap().requests_per_unit, 10);
        assert_eq!(
            partner.descriptors[2],
            deployed.config.descriptors[0].descriptors[2]
        );
        assert_eq!(
            config.descriptors[1], deployed.config.descriptors[1],
            "not ours"
        );
        assert_eq!(
            config.descriptors[2].value.as_deref(),
            Some("222"),
            "new partner appended"
        );
        assert_eq!(config.descriptors.len(), 3);

        // --shadow: the changed and the new entry go out in shadow mode, the held one does not.
        let shadow = planned_config(&plan, Some(&deployed), &settings(), Rollout::Shadow).unwrap();
        let shadowed =
            |partner: usize, path: usize| shadow.descriptors[partner].descriptors[path].shadow_mode;
        assert_eq!(shadowed(0, 0), Some(true));
        assert_eq!(shadowed(0, 1), None);
        assert_eq!(shadowed(2, 0), Some(true));
    }
}
