//! One writing run at a time per output directory.
//!
//! The lock is an advisory `flock` on the output directory itself, not a lock file: a lock file
//! would change `output/` even when a run fails (a failed run must leave it byte for byte as it
//! was), and beside `output/` there may be no writable place (the CronJob's root filesystem is
//! read-only). The kernel drops the lock when the process ends, however it ends, so a killed
//! run never leaves a stale lock behind.
//!
//! Shard runs do not take it: the pods of an Indexed Job write their own files side by side.

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};

use crate::error::AppError;

/// Held for the whole run; dropping it releases the lock and removes the directories it had to
/// create, if the run left them empty (so a failed first run leaves no trace).
#[derive(Debug)]
pub struct OutputLock {
    _handle: File,
    /// Directories created to have something to lock, deepest first.
    created: Vec<PathBuf>,
}

impl OutputLock {
    /// Locks `dir` (creating it if needed), or says that another run holds it.
    pub fn acquire(dir: &Path) -> Result<Self, AppError> {
        let created = missing_ancestors(dir);
        std::fs::create_dir_all(dir).map_err(|e| {
            AppError::Output(format!(
                "{}: cannot create the output directory: {e}",
                dir.display()
            ))
        })?;
        let handle = match File::open(dir) {
            Ok(handle) => handle,
            Err(e) => {
                remove_if_empty(&created);
                return Err(AppError::Output(format!(
                    "{}: cannot open the output directory to lock it: {e}",
                    dir.display()
                )));
            }
        };
        match handle.try_lock() {
            Ok(()) => Ok(Self {
                _handle: handle,
                created,
            }),
            // The directory is the other run's now, empty or not: it is left alone.
            Err(TryLockError::WouldBlock) => Err(AppError::Busy(format!(
                "{}: another trendmaster run is writing to this output directory; nothing was done (run again when it has finished)",
                dir.display()
            ))),
            Err(TryLockError::Error(e)) => {
                remove_if_empty(&created);
                Err(AppError::Output(format!(
                    "{}: cannot lock the output directory: {e}",
                    dir.display()
                )))
            }
        }
    }
}

impl Drop for OutputLock {
    fn drop(&mut self) {
        remove_if_empty(&self.created);
    }
}

/// `dir` and those of its ancestors that do not exist yet, deepest first.
fn missing_ancestors(dir: &Path) -> Vec<PathBuf> {
    dir.ancestors()
        .take_while(|path| !path.as_os_str().is_empty() && !path.exists())
        .map(Path::to_path_buf)
        .collect()
}

fn remove_if_empty(dirs: &[PathBuf]) {
    for dir in dirs {
        // Fails, harmlessly, when the run wrote something there.
        if std::fs::remove_dir(dir).is_err() {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_directory_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let first = OutputLock::acquire(&out).unwrap();
        let error = OutputLock::acquire(&out).unwrap_err();
        assert!(matches!(error, AppError::Busy(_)), "{error}");
        assert!(error.to_string().contains("another trendmaster run"));
        drop(first);
        let again = OutputLock::acquire(&out).unwrap();
        drop(again);
    }

    #[test]
    fn directories_created_for_the_lock_go_away_when_left_empty() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b/out");
        drop(OutputLock::acquire(&nested).unwrap());
        assert!(!dir.path().join("a").exists());

        let kept = dir.path().join("kept");
        let lock = OutputLock::acquire(&kept).unwrap();
        std::fs::write(kept.join("file"), "x").unwrap();
        drop(lock);
        assert!(kept.join("file").exists());
    }
}
