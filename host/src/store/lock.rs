//! The SQLite store's lock: one service at a time on a database file, and
//! `assay restore` refuses while one runs.
//!
//! An advisory `flock` on `DB.lock` (beside the database), held for the
//! life of the store and released by the kernel when the process ends, even
//! by `kill -9`; the file holds the holder's process id, for the error.
//! SQLite's own locks do not serve: in WAL mode a second writer process
//! would just wait its turn, and a restore would replace the file under it.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LockError {
    #[error(
        "the store {} is in use by another assay (process {pid}, holding {}); stop it first",
        db.display(),
        lock.display()
    )]
    Held {
        db: PathBuf,
        lock: PathBuf,
        pid: String,
    },
    #[error("cannot lock the store {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A held lock on a database file; released when dropped.
#[derive(Debug)]
pub(crate) struct StoreLock {
    _file: File,
}

/// The lock file of the database at `db`.
pub(crate) fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

impl StoreLock {
    /// Takes the lock of the database at `db` (its directory must exist),
    /// or says which process holds it.
    pub(crate) fn acquire(db: &Path) -> Result<StoreLock, LockError> {
        let path = lock_path(db);
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        if let Err(e) =
            rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive)
        {
            if e != rustix::io::Errno::WOULDBLOCK {
                return Err(io(e.into()));
            }
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            let pid = pid.trim();
            return Err(LockError::Held {
                db: db.to_owned(),
                lock: path.clone(),
                pid: if pid.is_empty() {
                    "unknown".into()
                } else {
                    pid.into()
                },
            });
        }
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        write!(file, "{}", std::process::id()).map_err(io)?;
        Ok(StoreLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_pid_until_it_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("assay.db");
        let first = StoreLock::acquire(&db).unwrap();
        let err = StoreLock::acquire(&db).unwrap_err().to_string();
        assert!(
            err.contains(&format!("process {}", std::process::id())) && err.contains("assay.db"),
            "{err}"
        );
        drop(first);
        StoreLock::acquire(&db).unwrap();
    }
}
