//! One advisory lock per ledger, so two `tally run`s (a slow night and the next timer, cron and a
//! person) never push at the same time. The standard library's [`File::try_lock`] (`flock(2)` on
//! Unix, `LockFileEx` on Windows) is released by the operating system when the process ends,
//! however it ends (kill -9 included): no stale lock files to clean up.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Why the lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another tally run holds the lock {path}{}", holder.as_deref().map(|h| format!(" ({h})")).unwrap_or_default())]
    Held {
        path: PathBuf,
        /// What the holder wrote into the file (pid and start time), if readable.
        holder: Option<String>,
    },
    #[error("cannot open the lock file {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot lock {path}: {source}")]
    Lock {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A held lock; released when dropped or when the process ends.
#[derive(Debug)]
pub struct RunLock {
    file: File,
    path: PathBuf,
}

impl RunLock {
    /// Takes the lock without waiting: a second run fails at once instead of piling up behind a
    /// stuck one.
    pub fn try_acquire(path: &Path) -> Result<RunLock, LockError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|source| LockError::Open {
                path: path.to_path_buf(),
                source,
            })?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(path)
                    .ok()
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty());
                return Err(LockError::Held {
                    path: path.to_path_buf(),
                    holder,
                });
            }
            // A file system without locks (some network mounts): taking no lock would let two runs
            // push at once, so this is an error like a file that cannot be opened.
            Err(TryLockError::Error(source)) => {
                return Err(LockError::Lock {
                    path: path.to_path_buf(),
                    source,
                })
            }
        }
        let mut lock = RunLock {
            file,
            path: path.to_path_buf(),
        };
        lock.describe();
        Ok(lock)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes who holds it, for the message the next run prints. Best effort.
    fn describe(&mut self) {
        let text = format!(
            "pid {} since {}\n",
            std::process::id(),
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
        let _ = self.file.set_len(0);
        let _ = self.file.write_all(text.as_bytes());
        let _ = self.file.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("tally.lock");
        let first = RunLock::try_acquire(&path).expect("first");
        // File locks belong to the open file description: a second open conflicts even in the
        // same process, as a second process would.
        let err = RunLock::try_acquire(&path).expect_err("second");
        let text = err.to_string();
        assert!(text.contains("another tally run holds the lock"), "{text}");
        assert!(
            text.contains(&format!("pid {}", std::process::id())),
            "{text}"
        );
        drop(first);
        RunLock::try_acquire(&path).expect("after release");
    }
}
