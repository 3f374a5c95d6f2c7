use super::*;

/// Every problem in `yaml`, as displayed.
fn problems(yaml: &str) -> Vec<String> {
    match validate_ratelimit_yaml(yaml, "config.yaml") {
        Ok(config) => panic!("expected problems, the file was accepted as {config:?}"),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

fn assert_single(yaml: &str, expected: &str) {
    assert_eq!(problems(yaml), [expected], "for:\n{yaml}");
}

/// A descriptor `PATH=/a` with `rate_limit` set to the given lines (indented by the caller).
fn with_limit(limit: &str) -> String {
    format!("domain: rl\ndescriptors:\n  - key: PATH\n    value: /a\n    rate_limit:\n{limit}")
}

#[test]
fn a_file_using_every_feature_is_accepted_and_read_completely() {
    let yaml = r#"
domain: partner-api
descriptors:
  - key: api
    value: orders-read
    rate_limit: {unit: Minute, requests_per_unit: 50, name: api-default}
    descriptors:
      - key: partner
        value: '111'
        rate_limit:
          unit: minute
          requests_per_unit: 1200
          replaces: [{name: api-default}]
        shadow_mode: true
        detailed_metric: true
      - key: partner
        value: acme-*
        share_threshold: true
        value_to_metric: true
        quota_mode: false
        metadata: {team: payments, tier: 2}
        rate_limit: {unit: second, requests_per_unit: 5}
      - key: partner
        rate_limit: {unlimited: true}
"#;
    let config = validate_ratelimit_yaml(yaml, "config.yaml").unwrap();
    assert_eq!(config.domain, "partner-api");
    let api = &config.descriptors[0];
    assert_eq!(
        api.rate_limit.as_ref().unwrap().name.as_deref(),
        Some("api-default")
    );
    let partners = &api.descriptors;
    assert_eq!(partners.len(), 3);
    assert_eq!(partners[0].value.as_deref(), Some("111"));
    assert_eq!(partners[0].shadow_mode, Some(true));
    let replaces = &partners[0].rate_limit.as_ref().unwrap().replaces;
    assert_eq!(
        replaces,
        &[Replaces {
            name: "api-default".into()
        }]
    );
    assert_eq!(partners[1].share_threshold, Some(true));
    assert_eq!(partners[1].metadata.as_ref().unwrap().len(), 2);
    assert_eq!(partners[2].value, None);
    assert_eq!(
        partners[2].rate_limit.as_ref().unwrap().unlimited,
        Some(true)
    );
}

#[test]
fn every_problem_is_reported_not_only_the_first() {
    let yaml = r#"
domain: ""
descriptors:
  - key: ""
    unlimied: true
  - key: PATH
    value: /a
    rate_limit: {unit: fortnight, requests_per_unit: 1.5}
"#;
    assert_eq!(
        problems(yaml),
        [
            "config.yaml: config error, unknown key 'unlimied' (at descriptors[0].unlimied)",
            "config.yaml: error checking config (at descriptors[1].rate_limit.requests_per_unit)",
            "config.yaml: config file cannot have empty domain (at domain)",
            "config.yaml: descriptor has empty key (at descriptors[0])",
            "config.yaml: invalid rate limit unit 'fortnight' (at descriptors[1].rate_limit)",
        ]
    );
}

// ---- the loader's own rules (§1.4), in table order ---------------------------------------

#[test]
fn rule_1_yaml_syntax_error() {
    let found = problems("domain: rl\ndescriptors: [\n");
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("config.yaml: error loading config file: "),
        "{found:?}"
    );
}

#[test]
fn rule_1_a_document_that_is_not_a_map() {
    assert_single(
        "- domain: rl\n",
        "config.yaml: error loading config file: cannot unmarshal !!seq into map[interface {}]interface {}",
    );
}

#[test]
fn rule_1_type_mismatch_in_the_typed_load() {
    assert_single(
        &with_limit("      unit: minute\n      requests_per_unit: -5\n"),
        "config.yaml: error loading config file: cannot unmarshal !!int `-5` into uint32 \
         (at descriptors[0].rate_limit.requests_per_unit)",
    );
    assert_single(
        &with_limit("      unit: minute\n      requests_per_unit: 42949672960\n"),
        "config.yaml: error loading config file: cannot unmarshal !!int `4294967...` into uint32 \
         (at descriptors[0].rate_limit.requests_per_unit)",
    );
    assert_single(
        "domain: rl\ndescriptors:\n  - key: PATH\n    shadow_mode: maybe\n",
        "config.yaml: error loading config file: cannot unmarshal !!str `maybe` into bool \
         (at descriptors[0].shadow_mode)",
    );
    assert_single(
        "domain: rl\ndescriptors: {key: PATH}\n",
        "config.yaml: error loading config file: cannot unmarshal !!map into \
         []config.YamlDescriptor (at descriptors)",
    );
}

#[test]
fn rule_2_key_that_is_not_a_string() {
    assert_single(
        "domain: rl\n0.25: x\n",
        "config.yaml: config error, key is not of type string: 0.25",
    );
}

#[test]
fn rule_3_unknown_key_at_any_depth() {
    assert_single(
        &with_limit("      unit: minute\n      requests_per_unit: 5\n      unlimied: true\n"),
        "config.yaml: config error, unknown key 'unlimied' (at descriptors[0].rate_limit.unlimied)",
    );
    assert_single(
        "domain: rl\ndomian: rl\n",
        "config.yaml: config error, unknown key 'domian' (at domian)",
    );
}

#[test]
fn rule_4_list_item_that_is_not_a_map() {
    assert_single(
        "domain: rl\ndescriptors: [a]\n",
        "config.yaml: config error, yaml file contains list of type other than map: a \
         (at descriptors[0])",
    );
}

#[test]
fn rule_5_float_or_other_scalar_type() {
    assert_single(
        &with_limit("      unit: minute\n      requests_per_unit: 1.5\n"),
        "config.yaml: error checking config (at descriptors[0].rate_limit.requests_per_unit)",
    );
    assert_single(
        "domain: rl\ndescriptors:\n  - key: PATH\n    value: !custom x\n",
        "config.yaml: error checking config (at descriptors[0].value)",
    );
}

#[test]
fn rule_6_empty_or_missing_domain() {
    let expected = "config.yaml: config file cannot have empty domain (at domain)";
    assert_single("domain: ''\n", expected);
    assert_single("descriptors: []\n", expected);
    assert_single("", expected);
}

#[test]
fn rule_7_duplicate_domain_across_files() {
    let file = "domain: rl\ndescriptors: []\n";
    let errors = validate_ratelimit_files([("a.yaml", file), ("b.yaml", file)]).unwrap_err();
    let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        ["b.yaml: duplicate domain 'rl' in config file (at domain)"]
    );

    // A file the service loads without its second document still holds its domain.
    let two_documents = "domain: rl\n---\ndomain: other\n";
    let errors =
        validate_ratelimit_files([("a.yaml", file), ("b.yaml", two_documents)]).unwrap_err();
    assert!(
        errors
            .iter()
            .any(|e| e.message == "duplicate domain 'rl' in config file"),
        "{errors:?}"
    );

    let other = "domain: other\ndescriptors: []\n";
    let configs = validate_ratelimit_files([("a.yaml", file), ("b.yaml", other)]).unwrap();
    assert_eq!(configs.len(), 2);
}

#[test]
fn rule_8_empty_or_missing_descriptor_key() {
    assert_single(
        "domain: rl\ndescriptors:\n  - value: x\n",
        "config.yaml: descriptor has empty key (at descriptors[0])",
    );
}

#[test]
fn rule_9_duplicate_composite_key_at_one_level() {
    let yaml = r#"
domain: rl
descriptors:
  - key: PARTNER
    value: acme
    descriptors:
      - {key: PATH, value: /a, rate_limit: {unit: minute, requests_per_unit: 1}}
      - {key: PATH, value: /a, rate_limit: {unit: hour, requests_per_unit: 9}}
  - key: PARTNER
    value: other
    descriptors:
      - {key: PATH, value: /a, rate_limit: {unit: minute, requests_per_unit: 1}}
"#;
    assert_single(
        yaml,
        "config.yaml: duplicate descriptor composite key 'rl.PARTNER_acme.PATH_/a' \
         (at descriptors[0].descriptors[1])",
    );
}

#[test]
fn rule_10_unlimited_together_with_a_unit() {
    assert_single(
        &with_limit("      unit: minute\n      unlimited: true\n"),
        "config.yaml: should not specify rate limit unit when unlimited (at descriptors[0].rate_limit)",
    );
}

#[test]
fn rule_11_invalid_or_missing_unit() {
    assert_single(
        &with_limit("      unit: minutes\n      requests_per_unit: 5\n"),
        "config.yaml: invalid rate limit unit 'minutes' (at descriptors[0].rate_limit)",
    );
    assert_single(
        &with_limit("      unit: unknown\n      requests_per_unit: 5\n"),
        "config.yaml: invalid rate limit unit 'unknown' (at descriptors[0].rate_limit)",
    );
    assert_single(
        &with_limit("      requests_per_unit: 5\n"),
        "config.yaml: invalid rate limit unit '' (at descriptors[0].rate_limit)",
    );
    for unit in ["SECOND", "Hour", "day", "week", "month", "year"] {
        let yaml = with_limit(&format!("      unit: {unit}\n      requests_per_unit: 5\n"));
        assert!(
            validate_ratelimit_yaml(&yaml, "config.yaml").is_ok(),
            "{unit}"
        );
    }
}

#[test]
fn rule_12_empty_replaces_entry() {
    assert_single(
        &with_limit(
            "      unit: minute\n      requests_per_unit: 5\n      replaces: [{name: ''}]\n",
        ),
        "config.yaml: should not have an empty replaces entry (at descriptors[0].rate_limit.replaces[0])",
    );
}

#[test]
fn rule_13_replaces_naming_itself() {
    assert_single(
        &with_limit(
            "      unit: minute\n      requests_per_unit: 5\n      name: me\n      replaces: [{name: me}]\n",
        ),
        "config.yaml: replaces should not contain name of same descriptor \
         (at descriptors[0].rate_limit.replaces[0])",
    );
}

#[test]
fn rule_14_share_threshold_without_a_wildcard() {
    assert_single(
        "domain: rl\ndescriptors:\n  - key: PATH\n    value: /a\n    share_threshold: true\n",
        "config.yaml: share_threshold can only be used with wildcard values (containing '*'), \
         but found key 'PATH_/a' (at descriptors[0])",
    );
}

#[test]
fn rule_15_metadata_that_is_not_a_string_keyed_map() {
    assert_single(
        "domain: rl\ndescriptors:\n  - key: PATH\n    metadata: {1: one}\n",
        "config.yaml: error parsing metadata: key is not of type string: 1 (at descriptors[0].metadata)",
    );
    assert_single(
        "domain: rl\ndescriptors:\n  - key: PATH\n    metadata: [a]\n",
        "config.yaml: error parsing metadata: !!seq is not a map (at descriptors[0].metadata)",
    );
}

// ---- what the loader accepts but trendmaster refuses ---------------------------------------

#[test]
fn requests_per_unit_missing_or_zero_blocks_everything() {
    let expected = "config.yaml: requests_per_unit is missing or 0, which the service reads as \
                    \"block every request\" (at descriptors[0].rate_limit.requests_per_unit)";
    assert_single(&with_limit("      unit: minute\n"), expected);
    assert_single(
        &with_limit("      unit: minute\n      requests_per_unit: 0\n"),
        expected,
    );
    let unlimited = with_limit("      unlimited: true\n");
    assert!(validate_ratelimit_yaml(&unlimited, "config.yaml").is_ok());
}

#[test]
fn underscore_in_a_descriptor_key() {
    assert_single(
        "domain: rl\ndescriptors:\n  - key: PARTNER_ID\n    value: acme\n",
        "config.yaml: descriptor key 'PARTNER_ID' contains '_', the separator of composite keys, \
         so it can collide with another key and value (at descriptors[0])",
    );
}

#[test]
fn keys_and_addresses_envoy_fixes_are_not_ours_to_refuse() {
    let yaml = "domain: rl\ndescriptors:\n  - key: remote_address\n    value: 10.0.0.1\n    rate_limit: {unit: second, requests_per_unit: 5}\n  - key: generic_key\n    value: slow_path\n    rate_limit: {unit: second, requests_per_unit: 5}\n";
    assert!(validate_ratelimit_yaml(yaml, "k").is_ok());
    // An operator's own key with `_` is still ambiguous.
    assert!(validate_ratelimit_yaml(&yaml.replace("generic_key", "generic_keys"), "k").is_err());
}

#[test]
fn dot_in_the_domain() {
    assert_single(
        "domain: partner.api\n",
        "config.yaml: domain 'partner.api' contains '.', which scrambles the Prometheus labels of \
         its stats (at domain)",
    );
}

#[test]
fn dot_in_a_descriptor_value() {
    assert_single(
        "domain: rl\ndescriptors:\n  - key: PARTNER\n    value: acme.com\n",
        "config.yaml: descriptor value 'acme.com' contains '.', which scrambles the Prometheus \
         labels of its stats (at descriptors[0])",
    );
}

#[test]
fn a_second_yaml_document() {
    assert_single(
        "domain: rl\n---\ndomain: other\n",
        "config.yaml: the file holds more than one YAML document; the loader reads the first and \
         silently drops the rest",
    );
    assert!(validate_ratelimit_yaml("---\ndomain: rl\n", "config.yaml").is_ok());
}

#[test]
fn a_valid_key_at_a_level_where_it_is_ignored() {
    assert_single(
        "domain: rl\ndescriptors:\n  - key: PATH\n    value: /a\n    unit: minute\n",
        "config.yaml: key 'unit' is not read at this level, so the loader silently ignores it \
         (at descriptors[0].unit)",
    );
}

#[test]
fn replaces_naming_a_limit_that_does_not_exist() {
    assert_single(
        &with_limit(
            "      unit: minute\n      requests_per_unit: 5\n      replaces: [{name: ghost}]\n",
        ),
        "config.yaml: replaces names 'ghost', but no rate_limit in this file has that name, so it \
         replaces nothing (at descriptors[0].rate_limit.replaces[0])",
    );
}

#[test]
fn problems_are_tagged_with_who_would_object() {
    let errors = validate_ratelimit_yaml("domain: a.b\nfoo: 1\n", "k").unwrap_err();
    let sources: Vec<RuleSource> = errors.iter().map(|e| e.source).collect();
    assert_eq!(sources, [RuleSource::Loader, RuleSource::Trendmaster]);
}

// ---- what the loader reads differently from the text ---------------------------------------

#[test]
fn text_the_loader_drops_or_reads_differently_is_marked_so() {
    let sources = |yaml: &str| -> Vec<(RuleSource, String)> {
        validate_ratelimit_yaml(yaml, "k")
            .unwrap_err()
            .into_iter()
            .map(|e| (e.source, e.location))
            .collect()
    };
    assert_eq!(
        sources("domain: rl\n---\ndomain: other\n"),
        [(RuleSource::ReadDifferently, String::new())]
    );
    assert_eq!(
        sources("domain: rl\ndescriptors:\n  - key: PATH\n    unit: minute\n"),
        [(
            RuleSource::ReadDifferently,
            "descriptors[0].unit".to_owned()
        )]
    );
}

#[test]
fn yaml_1_1_booleans_and_numbers_are_not_reported_as_loader_type_errors() {
    // yaml.v2 reads `yes` as true and `1_000` as 1000, so the service loads these; a YAML 1.2
    // reader sees strings. Not a loader error, but not what trendmaster can read either.
    assert_single(
        "domain: rl\ndescriptors:\n  - key: PATH\n    shadow_mode: yes\n",
        "config.yaml: 'yes' is a boolean to the service's YAML 1.1 reader but a string to YAML \
         1.2 readers; write true (at descriptors[0].shadow_mode)",
    );
    let errors = validate_ratelimit_yaml(
        &with_limit("      unit: minute\n      requests_per_unit: 1_000\n"),
        "config.yaml",
    )
    .unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].source, RuleSource::ReadDifferently);
    assert_eq!(
        errors[0].message,
        "'1_000' is the number 1000 to the service's YAML 1.1 reader but a string to YAML 1.2 \
         readers; write 1000"
    );
    // YAML 1.2's own spellings are booleans to both readers.
    for flag in ["true", "True", "TRUE", "false"] {
        let yaml = format!("domain: rl\ndescriptors:\n  - key: PATH\n    shadow_mode: {flag}\n");
        assert!(validate_ratelimit_yaml(&yaml, "k").is_ok(), "{flag}");
    }
    // A string the loader cannot take for a boolean stays the loader's type error.
    assert_eq!(
        validate_ratelimit_yaml(
            "domain: rl\ndescriptors:\n  - key: PATH\n    shadow_mode: maybe\n",
            "k"
        )
        .unwrap_err()[0]
            .source,
        RuleSource::Loader
    );
}

#[test]
fn the_read_config_is_the_loaders_view_even_with_trendmaster_only_problems() {
    // Unquoted numbers in string fields are read as their text, as yaml.v2 does.
    let yaml = "domain: rl\ndescriptors:\n  - key: PARTNER\n    value: 111\n    rate_limit: {unit: minute}\n";
    let (config, errors) = read_ratelimit_yaml(yaml, "k");
    let config = config.unwrap();
    assert_eq!(config.descriptors[0].value.as_deref(), Some("111"));
    assert_eq!(
        config.descriptors[0]
            .rate_limit
            .as_ref()
            .unwrap()
            .requests_per_unit,
        0
    );
    let sources: Vec<RuleSource> = errors.iter().map(|e| e.source).collect();
    assert_eq!(sources, [RuleSource::Trendmaster]);
    assert_eq!(read_ratelimit_yaml("a: [", "k").0, None);
}
