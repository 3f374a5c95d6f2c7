//! `--approve`: which held changes a person has looked at and released.

use std::collections::BTreeSet;

use trendmaster_types::SeriesKey;

use crate::error::PlanError;

/// Entries whose big changes are released: `--approve all`, or `--approve PARTNER:API`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Approvals {
    /// Every held change is released.
    All,
    /// These entries' changes are released.
    Some(BTreeSet<SeriesKey>),
    /// Nothing is released.
    #[default]
    None,
}

impl Approvals {
    /// Parses `--approve` values: `all`, or `PARTNER:API` pairs that this run analyses
    /// (`series`), because a typo would otherwise release nothing, silently.
    pub fn parse(values: &[String], series: &[SeriesKey]) -> Result<Self, PlanError> {
        if values.is_empty() {
            return Ok(Self::None);
        }
        if values.iter().any(|v| v == "all") {
            return Ok(Self::All);
        }
        let mut keys = BTreeSet::new();
        for value in values {
            let key = value
                .split_once(':')
                .map(|(partner, api)| SeriesKey::new(partner.trim(), api.trim()))
                .filter(|key| series.contains(key))
                .ok_or_else(|| PlanError::UnknownApproval {
                    value: value.clone(),
                })?;
            keys.insert(key);
        }
        Ok(Self::Some(keys))
    }

    /// Whether the change of `key` is released.
    pub(crate) fn covers(&self, key: &SeriesKey) -> bool {
        match self {
            Self::All => true,
            Self::Some(keys) => keys.contains(key),
            Self::None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::key;

    fn values(list: &[&str]) -> Vec<String> {
        list.iter().map(|v| (*v).to_owned()).collect()
    }

    #[test]
    fn approvals_name_analysed_entries_or_all() {
        let series = [key("111", "/api/a"), key("222", "/api/b")];
        assert_eq!(Approvals::parse(&[], &series).unwrap(), Approvals::None);
        assert_eq!(
            Approvals::parse(&values(&["111:/api/a", "all"]), &series).unwrap(),
            Approvals::All
        );
        let some = Approvals::parse(&values(&[" 222 : /api/b "]), &series).unwrap();
        assert!(some.covers(&key("222", "/api/b")) && !some.covers(&key("111", "/api/a")));
        for typo in ["111:/api/x", "111", "333:/api/a"] {
            let error = Approvals::parse(&values(&[typo]), &series)
                .unwrap_err()
                .to_string();
            assert_eq!(
                error,
                format!(
                    "--approve `{typo}`: expected `all` or PARTNER:API for a partner and API this run analyses"
                )
            );
        }
    }
}
