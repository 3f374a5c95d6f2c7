//! A plan rendered into the ratelimit service's file: the deployed file (when there is one)
//! with our entries set to their planned values, and nothing else touched.

use std::collections::BTreeSet;

use serde::Serialize;
use trendmaster_types::settings::{ConfigMapSettings, RateLimitUnit};
use trendmaster_types::{ChangeStatus, PlannedLimit, SeriesKey};

use crate::deployed::Deployed;
use crate::error::EmitError;
use crate::ratelimit::{Descriptor, RateLimit, RateLimitConfig};

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
/// not manage left as it was. Held, kept, censored and unchanged entries keep their deployed
/// limit exactly (unit included) unless the plan moved it (a held raise goes to its floor);
/// kept entries not analysed this run are not touched at all.
pub fn planned_config(
    plan: &[PlannedLimit],
    deployed: Option<&Deployed>,
    settings: &ConfigMapSettings,
    rollout: Rollout,
) -> Result<RateLimitConfig, EmitError> {
    // A plan holds each partner × API once; a second entry would silently win over the first.
    let mut seen = BTreeSet::new();
    if let Some(twice) = plan.iter().find(|entry| !seen.insert(&entry.key)) {
        return Err(EmitError::DuplicateSeries {
            series: twice.key.clone(),
        });
    }
    let mut config = deployed.map_or_else(
        || RateLimitConfig {
            domain: settings.domain.clone(),
            descriptors: Vec::new(),
        },
        |d| d.config.clone(),
    );
    for entry in plan {
        // A held change whose deployed limit was below the floor still moves (to the floor).
        let keeps_deployed = deployed.is_some()
            && entry.current == Some(entry.emitted)
            && matches!(
                entry.status,
                ChangeStatus::Held
                    | ChangeStatus::Kept
                    | ChangeStatus::Censored
                    | ChangeStatus::Unchanged
            );
        if entry.status == ChangeStatus::Kept && entry.recommended.is_none() {
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

/// The `requests_per_unit` of `key`'s limit (see [`RateLimitUnit::requests_per_unit`]), within
/// the service's `uint32`.
pub fn requests_per_unit(
    key: &SeriesKey,
    requests_per_minute: u64,
    unit: RateLimitUnit,
) -> Result<u32, EmitError> {
    let scaled = unit.requests_per_unit(requests_per_minute);
    u32::try_from(scaled).map_err(|_| EmitError::LimitTooLarge {
        series: key.clone(),
        requests_per_unit: scaled,
        unit: unit.as_str(),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::deployed::tests::deployed;
    use trendmaster_types::RateRecommendation;
    use trendmaster_types::testing::{configmap_settings as settings, recommendation as rec};

    /// The plan of `recs` when nothing is deployed: every entry new, in key order.
    pub(crate) fn all_new(recs: &[RateRecommendation]) -> Vec<PlannedLimit> {
        let mut plan: Vec<PlannedLimit> = recs
            .iter()
            .map(|rec| PlannedLimit {
                key: rec.key.clone(),
                current: None,
                recommended: Some(rec.requests_per_minute),
                emitted: rec.requests_per_minute,
                status: ChangeStatus::New,
            })
            .collect();
        plan.sort_by(|a, b| a.key.cmp(&b.key));
        plan
    }

    /// Two levels, partner then API path, sorted whatever the order of `recs`.
    fn config_from_recommendations(
        recs: &[RateRecommendation],
        settings: &ConfigMapSettings,
    ) -> Result<RateLimitConfig, EmitError> {
        planned_config(&all_new(recs), None, settings, Rollout::Enforce)
    }

    fn planned(
        partner: &str,
        api: &str,
        (current, recommended, emitted): (Option<u64>, Option<u64>, u64),
        status: ChangeStatus,
    ) -> PlannedLimit {
        PlannedLimit {
            key: SeriesKey::new(partner, api),
            current,
            recommended,
            emitted,
            status,
        }
    }

    #[test]
    fn the_emitted_file_changes_only_our_limits() {
        let deployed = deployed();
        // As the plan stage decides against `deployed` (1000 and 600 req/min).
        let plan = [
            planned(
                "111",
                "/api/a",
                (Some(1000), Some(1100), 1100),
                ChangeStatus::Changed,
            ),
            // Held: stays 10 per second.
            planned(
                "111",
                "/api/b",
                (Some(600), Some(3000), 600),
                ChangeStatus::Held,
            ),
            planned("222", "/api/x", (None, Some(400), 400), ChangeStatus::New),
        ];
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

        // A held raise whose deployed limit was below the floor goes to the floor, in our unit.
        let mut floored = plan.clone();
        floored[1].emitted = 1500;
        let config =
            planned_config(&floored, Some(&deployed), &settings(), Rollout::Enforce).unwrap();
        let b = config.descriptors[0].descriptors[1]
            .rate_limit
            .as_ref()
            .unwrap();
        assert_eq!((b.unit.as_str(), b.requests_per_unit), ("minute", 1500));

        // --shadow: the changed and the new entry go out in shadow mode, the held one does not.
        let shadow = planned_config(&plan, Some(&deployed), &settings(), Rollout::Shadow).unwrap();
        let shadowed =
            |partner: usize, path: usize| shadow.descriptors[partner].descriptors[path].shadow_mode;
        assert_eq!(shadowed(0, 0), Some(true));
        assert_eq!(shadowed(0, 1), None);
        assert_eq!(shadowed(2, 0), Some(true));
    }

    #[test]
    fn descriptors_are_partner_then_path_sorted_whatever_the_input_order() {
        let recs = [
            rec("222", "/b", 10),
            rec("111", "/z", 20),
            rec("111", "/a", 30),
        ];
        let config = config_from_recommendations(&recs, &settings()).unwrap();
        assert_eq!(config.domain, "global-ratelimit");
        let shape: Vec<(String, Vec<(String, u32)>)> = config
            .descriptors
            .iter()
            .map(|partner| {
                assert_eq!(partner.key, "PARTNER");
                assert!(partner.rate_limit.is_none());
                let paths = partner
                    .descriptors
                    .iter()
                    .map(|path| {
                        assert_eq!(path.key, "PATH");
                        let limit = path.rate_limit.as_ref().unwrap();
                        assert_eq!(limit.unit, "minute");
                        (path.value.clone().unwrap(), limit.requests_per_unit)
                    })
                    .collect();
                (partner.value.clone().unwrap(), paths)
            })
            .collect();
        assert_eq!(
            shape,
            [
                ("111".into(), vec![("/a".into(), 30), ("/z".into(), 20)]),
                ("222".into(), vec![("/b".into(), 10)]),
            ]
        );
    }

    #[test]
    fn limits_are_scaled_to_the_unit_and_rounded_up() {
        let scaled = |rpm, unit| {
            let settings = ConfigMapSettings { unit, ..settings() };
            let config = config_from_recommendations(&[rec("p", "/a", rpm)], &settings).unwrap();
            config.descriptors[0].descriptors[0]
                .rate_limit
                .as_ref()
                .unwrap()
                .requests_per_unit
        };
        assert_eq!(scaled(120, RateLimitUnit::Second), 2);
        assert_eq!(scaled(121, RateLimitUnit::Second), 3);
        assert_eq!(scaled(1, RateLimitUnit::Second), 1);
        assert_eq!(scaled(0, RateLimitUnit::Minute), 1);
        assert_eq!(scaled(7, RateLimitUnit::Hour), 420);
        assert_eq!(scaled(7, RateLimitUnit::Day), 10_080);
    }

    #[test]
    fn a_limit_beyond_uint32_names_the_series() {
        let settings = ConfigMapSettings {
            unit: RateLimitUnit::Day,
            ..settings()
        };
        let err =
            config_from_recommendations(&[rec("acme", "/big", 3_000_000)], &settings).unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, EmitError::LimitTooLarge { .. }), "{message}");
        assert!(message.contains("acme:/big"), "{message}");
        assert!(message.contains("4320000000 requests per day"), "{message}");
    }

    #[test]
    fn the_same_series_twice_is_refused() {
        let err =
            config_from_recommendations(&[rec("acme", "/a", 1), rec("acme", "/a", 2)], &settings())
                .unwrap_err();
        assert!(matches!(err, EmitError::DuplicateSeries { .. }));
        assert!(err.to_string().contains("acme:/a"), "{err}");
    }

    #[test]
    fn yaml_puts_fields_in_loader_order_and_leaves_unset_ones_out() {
        let config = config_from_recommendations(&[rec("111", "/a", 5)], &settings()).unwrap();
        let yaml = config.to_yaml().unwrap();
        assert_eq!(
            yaml,
            "domain: global-ratelimit\n\
             descriptors:\n\
             - key: PARTNER\n  value: '111'\n  descriptors:\n\
             \x20 - key: PATH\n    value: /a\n    rate_limit:\n      unit: minute\n      requests_per_unit: 5\n"
        );
        let back: RateLimitConfig = serde_yaml::from_str(&yaml).unwrap();
        assert_eq!(back, config);
    }
}
