//! Saved versions of the ConfigMap, one YAML file each, under `output/history/`.
//!
//! Every apply and every rollback first saves the object it is about to replace, as the API
//! server returned it (without `managedFields`). Files are numbered, so "the Nth previous
//! version" never depends on clocks: `<namespace>_<name>_<seq>_<timestamp>.yaml`, newest =
//! highest `seq`. A rollback saves the object it replaces too, so rolling back twice undoes the
//! rollback, as `kubectl rollout undo` does.

use std::io::Write;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::ConfigMap;

use crate::error::ClusterError;

/// One saved version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedVersion {
    /// The YAML file.
    pub path: PathBuf,
    /// Its number; the newest version has the highest.
    pub sequence: u64,
}

/// Saves `configmap` as the newest version of its namespace/name. Written to a temporary
/// file and renamed without replacing anything, so a crash leaves no half file and two
/// savers never overwrite each other.
pub fn save(dir: &Path, configmap: &ConfigMap, stamp: &str) -> Result<PathBuf, ClusterError> {
    let namespace = configmap.metadata.namespace.as_deref().unwrap_or("default");
    let name = configmap.metadata.name.as_deref().unwrap_or("unnamed");
    let failed = |path: &Path, e: &dyn std::fmt::Display| ClusterError::History {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    std::fs::create_dir_all(dir).map_err(|e| failed(dir, &e))?;
    let mut saved = configmap.clone();
    saved.metadata.managed_fields = None;
    let yaml = serde_yaml::to_string(&saved).map_err(|e| failed(dir, &e))?;
    let mut temp = tempfile::Builder::new()
        .prefix(".trendmaster-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| failed(dir, &e))?;
    temp.write_all(yaml.as_bytes())
        .and_then(|()| temp.as_file().sync_all())
        .map_err(|e| failed(dir, &e))?;
    let mut sequence = versions(dir, namespace, name)?
        .first()
        .map_or(1, |newest| newest.sequence + 1);
    loop {
        let path = dir.join(format!("{namespace}_{name}_{sequence:06}_{stamp}.yaml"));
        match temp.persist_noclobber(&path) {
            Ok(_) => return Ok(path),
            Err(error) if error.error.kind() == std::io::ErrorKind::AlreadyExists => {
                temp = error.file;
                sequence += 1;
            }
            Err(error) => return Err(failed(&path, &error.error)),
        }
    }
}

/// The saved versions of namespace/name, newest first.
pub fn versions(
    dir: &Path,
    namespace: &str,
    name: &str,
) -> Result<Vec<SavedVersion>, ClusterError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => {
            return Err(ClusterError::History {
                path: dir.to_path_buf(),
                reason: error.to_string(),
            });
        }
    };
    let prefix = format!("{namespace}_{name}_");
    let mut found: Vec<SavedVersion> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let file_name = entry.file_name().into_string().ok()?;
            let rest = file_name.strip_prefix(&prefix)?.strip_suffix(".yaml")?;
            let sequence = rest.split('_').next()?.parse().ok()?;
            Some(SavedVersion {
                path: entry.path(),
                sequence,
            })
        })
        .collect();
    found.sort_by_key(|version| std::cmp::Reverse(version.sequence));
    Ok(found)
}

/// The `n`th most recent saved version (1 = the newest).
pub fn nth(
    dir: &Path,
    namespace: &str,
    name: &str,
    n: usize,
) -> Result<(PathBuf, ConfigMap), ClusterError> {
    let versions = versions(dir, namespace, name)?;
    let Some(version) = n.checked_sub(1).and_then(|i| versions.get(i)) else {
        return Err(ClusterError::NoSuchVersion {
            requested: n,
            available: versions.len(),
            object: format!("{namespace}/{name}"),
            dir: dir.to_path_buf(),
        });
    };
    let text = std::fs::read_to_string(&version.path).map_err(|e| ClusterError::History {
        path: version.path.clone(),
        reason: e.to_string(),
    })?;
    let configmap = serde_yaml::from_str(&text).map_err(|e| ClusterError::History {
        path: version.path.clone(),
        reason: format!("not a ConfigMap: {e}"),
    })?;
    Ok((version.path.clone(), configmap))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ManagedFieldsEntry, ObjectMeta};

    fn configmap(value: &str) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                name: Some("ratelimit-config".into()),
                namespace: Some("istio-system".into()),
                resource_version: Some("7".into()),
                managed_fields: Some(vec![ManagedFieldsEntry {
                    manager: Some("kubectl".into()),
                    ..ManagedFieldsEntry::default()
                }]),
                ..ObjectMeta::default()
            },
            data: Some([("config.yaml".to_string(), value.to_string())].into()),
            ..ConfigMap::default()
        }
    }

    #[test]
    fn versions_are_numbered_newest_first_and_survive_the_same_stamp() {
        let dir = tempfile::tempdir().unwrap();
        for value in ["one", "two", "three"] {
            // The same stamp each time: order comes from the sequence, not the clock.
            save(dir.path(), &configmap(value), "20261122_120000").unwrap();
        }
        let listed = versions(dir.path(), "istio-system", "ratelimit-config").unwrap();
        assert_eq!(
            listed.iter().map(|v| v.sequence).collect::<Vec<_>>(),
            [3, 2, 1]
        );
        let (_, newest) = nth(dir.path(), "istio-system", "ratelimit-config", 1).unwrap();
        assert_eq!(newest.data.unwrap()["config.yaml"], "three");
        let (_, oldest) = nth(dir.path(), "istio-system", "ratelimit-config", 3).unwrap();
        assert_eq!(oldest.data.unwrap()["config.yaml"], "one");
        assert_eq!(
            oldest.metadata.managed_fields, None,
            "managed fields are not kept"
        );
        assert_eq!(oldest.metadata.resource_version.as_deref(), Some("7"));
        // Other objects' files and temporary files are not versions of this one.
        assert!(
            versions(dir.path(), "istio-system", "other")
                .unwrap()
                .is_empty()
        );
        let error = nth(dir.path(), "istio-system", "ratelimit-config", 4)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("--rollback 4: 3 saved version(s)"),
            "{error}"
        );
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn no_history_directory_means_no_versions() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("history");
        assert!(versions(&missing, "ns", "name").unwrap().is_empty());
        assert!(nth(&missing, "ns", "name", 1).is_err());
    }
}
