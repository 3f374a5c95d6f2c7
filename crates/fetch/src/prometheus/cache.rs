//! Prometheus responses cached on disk (`--cache-dir`), so that re-runs and CI need not query
//! Prometheus again, and `--offline` can run from the cache alone.
//!
//! One file per request, named by the SHA-256 of everything that determines the answer (base
//! URL, endpoint and every parameter), holding the raw response body. Only successful answers
//! are stored; files are written to a temporary name and renamed, so a crash never leaves a
//! truncated entry behind.

use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct ResponseCache {
    dir: PathBuf,
}

impl ResponseCache {
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
        }
    }

    fn path(&self, key: &str) -> PathBuf {
        let digest = Sha256::digest(key.as_bytes());
        let name: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        self.dir.join(format!("{name}.json"))
    }

    /// The cached body for `key`, if any.
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        std::fs::read(self.path(key)).ok()
    }

    /// Stores `body` under `key`; failures are reported but never fatal to a run.
    pub fn put(&self, key: &str, body: &[u8]) -> Result<(), String> {
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| format!("cannot create cache directory {}: {e}", self.dir.display()))?;
        let target = self.path(key);
        let mut file = tempfile::NamedTempFile::new_in(&self.dir).map_err(|e| {
            format!(
                "cannot write to cache directory {}: {e}",
                self.dir.display()
            )
        })?;
        file.write_all(body)
            .and_then(|()| file.as_file().sync_all())
            .map_err(|e| format!("cannot write cache entry {}: {e}", target.display()))?;
        file.persist(&target)
            .map_err(|e| format!("cannot write cache entry {}: {e}", target.display()))?;
        Ok(())
    }
}

/// The cache key of one request: base URL, endpoint and parameters in order.
pub fn key(base_url: &str, endpoint: &str, params: &[(&str, String)]) -> String {
    let mut key = format!("{base_url}\n{endpoint}");
    for (name, value) in params {
        key.push('\n');
        key.push_str(name);
        key.push('=');
        key.push_str(value);
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_differ_by_every_parameter() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ResponseCache::new(&dir.path().join("nested"));
        let a = key(
            "http://p:9090",
            "/api/v1/query_range",
            &[("query", "up".into()), ("step", "60".into())],
        );
        let b = key(
            "http://p:9090",
            "/api/v1/query_range",
            &[("query", "up".into()), ("step", "300".into())],
        );
        let c = key(
            "http://q:9090",
            "/api/v1/query_range",
            &[("query", "up".into()), ("step", "60".into())],
        );
        assert!(cache.get(&a).is_none());
        cache.put(&a, b"{\"status\":\"success\"}").unwrap();
        assert_eq!(
            cache.get(&a).as_deref(),
            Some(&b"{\"status\":\"success\"}"[..])
        );
        assert!(cache.get(&b).is_none());
        assert!(cache.get(&c).is_none());
        let files: Vec<_> = std::fs::read_dir(dir.path().join("nested"))
            .unwrap()
            .collect();
        assert_eq!(files.len(), 1, "no temporary files left behind");
    }
}
