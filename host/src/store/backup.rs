//! Backups of the SQLite store that can be restored: a consistent copy
//! taken while the service runs (`VACUUM INTO`, in one read transaction, so
//! writers go on and the copy is one moment's database), optionally
//! gzipped; and restoring one into a stopped data directory after checking
//! it.
//!
//! Every file is written beside its destination under a temporary name,
//! synced, and renamed into place, so a crash leaves either the old file or
//! the new one, never half of one.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

use super::lock::{LockError, StoreLock};

const SQLITE_MAGIC: &[u8] = b"SQLite format 3\0";
const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];

#[derive(Debug, thiserror::Error)]
pub(crate) enum BackupError {
    #[error("there is no store at {} to back up", .0.display())]
    NoStore(PathBuf),
    #[error("{} already exists; choose another name or remove it", .0.display())]
    Exists(PathBuf),
    #[error(
        "{} already holds a store; pass --replace to replace it (it is kept as {})",
        db.display(),
        kept.display()
    )]
    WouldReplace { db: PathBuf, kept: PathBuf },
    #[error("{} is neither an SQLite database nor a gzipped one", .0.display())]
    NotABackup(PathBuf),
    #[error("{} fails SQLite's integrity check: {detail}", path.display())]
    Corrupt { path: PathBuf, detail: String },
    #[error("{} is not an assay store (it has no assay schema)", .0.display())]
    NotAssay(PathBuf),
    #[error(
        "{} was written by a newer assay (schema {found}; this one knows up to {known})",
        path.display()
    )]
    TooNew {
        path: PathBuf,
        found: usize,
        known: usize,
    },
    #[error(transparent)]
    Locked(#[from] LockError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.to_owned(),
        source,
    }
}

fn sql(path: &Path) -> impl FnOnce(rusqlite::Error) -> BackupError + '_ {
    move |source| BackupError::Sqlite {
        path: path.to_owned(),
        source,
    }
}

/// A backup written.
#[derive(Debug, Clone)]
pub(crate) struct Backup {
    pub path: PathBuf,
    /// The file's size (compressed, if it is).
    pub bytes: u64,
    /// The database's size before compression.
    pub database_bytes: u64,
    pub compressed: bool,
    pub took: Duration,
}

/// Writes a consistent copy of the SQLite database at `db` to `dest`
/// (which must not exist), gzipped if `compress`. Safe while a service
/// writes to `db`: the copy is the database as of one read transaction.
pub(crate) fn backup(db: &Path, dest: &Path, compress: bool) -> Result<Backup, BackupError> {
    let started = Instant::now();
    if !db.is_file() {
        return Err(BackupError::NoStore(db.to_owned()));
    }
    if dest.exists() {
        return Err(BackupError::Exists(dest.to_owned()));
    }
    let dir = parent(dest);
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let raw = sibling(dest, "partial.db");
    let _ = std::fs::remove_file(&raw);
    let copied = (|| {
        let conn = Connection::open_with_flags(
            db,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sql(db))?;
        conn.busy_timeout(Duration::from_secs(30))
            .map_err(sql(db))?;
        let target = raw.to_str().ok_or_else(|| BackupError::Io {
            path: raw.clone(),
            source: std::io::Error::other("the path is not UTF-8"),
        })?;
        conn.execute("VACUUM INTO ?1", [target]).map_err(sql(db))?;
        drop(conn);
        check_quick(&raw)?;
        let database_bytes = std::fs::metadata(&raw).map_err(io(&raw))?.len();
        let written = if compress {
            let gz = sibling(dest, "partial.gz");
            gzip(&raw, &gz)?;
            std::fs::remove_file(&raw).map_err(io(&raw))?;
            gz
        } else {
            sync_file(&raw)?;
            raw.clone()
        };
        std::fs::rename(&written, dest).map_err(io(dest))?;
        sync_dir(&dir);
        Ok(database_bytes)
    })();
    let database_bytes = copied.inspect_err(|_: &BackupError| {
        let _ = std::fs::remove_file(&raw);
        let _ = std::fs::remove_file(sibling(dest, "partial.gz"));
    })?;
    Ok(Backup {
        path: dest.to_owned(),
        bytes: std::fs::metadata(dest).map_err(io(dest))?.len(),
        database_bytes,
        compressed: compress,
        took: started.elapsed(),
    })
}

/// What a restore did.
#[derive(Debug)]
pub(crate) struct Restored {
    /// The schema version of the restored store.
    pub schema: usize,
    /// Where the store it replaced was kept, if there was one.
    pub kept: Option<PathBuf>,
    /// Rows in the main tables: reports, alerts, pending notifications.
    pub reports: i64,
    pub alerts: i64,
    pub pending_notifications: i64,
}

/// Restores the backup `src` (plain or gzipped) as the database `db`, after
/// checking it (`PRAGMA integrity_check`, and an assay schema no newer than
/// this assay's). Refuses while a service holds `db`, and, unless
/// `replace`, when `db` exists; with `replace` the old database (and its
/// WAL) is renamed aside, not deleted.
pub(crate) fn restore(src: &Path, db: &Path, replace: bool) -> Result<Restored, BackupError> {
    let mut head = [0u8; 16];
    let n = File::open(src)
        .and_then(|mut f| read_up_to(&mut f, &mut head))
        .map_err(io(src))?;
    let gzipped = head[..n].starts_with(GZIP_MAGIC);
    if !gzipped && &head[..n] != SQLITE_MAGIC {
        return Err(BackupError::NotABackup(src.to_owned()));
    }
    let dir = parent(db);
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let _lock = StoreLock::acquire(db)?;
    let kept = db_with_suffix(db, &format!(".replaced-{}", stamp()));
    let present = [db.to_owned(), wal(db, "-wal"), wal(db, "-shm")]
        .into_iter()
        .filter(|p| p.exists())
        .collect::<Vec<_>>();
    if !present.is_empty() && !replace {
        return Err(BackupError::WouldReplace {
            db: db.to_owned(),
            kept,
        });
    }
    let partial = sibling(db, "restoring");
    let _ = std::fs::remove_file(&partial);
    let checked = (|| {
        if gzipped {
            gunzip(src, &partial)?;
        } else {
            std::fs::copy(src, &partial).map_err(io(&partial))?;
            sync_file(&partial)?;
        }
        let schema = check_full(&partial)?;
        let conn = Connection::open_with_flags(&partial, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(sql(&partial))?;
        let count = |q: &str| -> Result<i64, BackupError> {
            conn.query_row(q, [], |r| r.get(0)).map_err(sql(&partial))
        };
        let counts = (
            count("SELECT count(*) FROM reports")?,
            count("SELECT count(*) FROM alerts")?,
            count("SELECT count(*) FROM notifications WHERE status = 'pending'")?,
        );
        Ok((schema, counts))
    })();
    let (schema, (reports, alerts, pending_notifications)) =
        checked.inspect_err(|_: &BackupError| {
            let _ = std::fs::remove_file(&partial);
        })?;
    let mut kept_at = None;
    if !present.is_empty() {
        for (from, suffix) in [
            (db.to_owned(), ""),
            (wal(db, "-wal"), "-wal"),
            (wal(db, "-shm"), "-shm"),
        ] {
            if from.exists() {
                let to = wal(&kept, suffix);
                std::fs::rename(&from, &to).map_err(io(&from))?;
            }
        }
        kept_at = Some(kept);
    }
    std::fs::rename(&partial, db).map_err(io(db))?;
    sync_dir(&dir);
    Ok(Restored {
        schema,
        kept: kept_at,
        reports,
        alerts,
        pending_notifications,
    })
}

/// `PRAGMA quick_check` on a fresh copy.
fn check_quick(path: &Path) -> Result<(), BackupError> {
    let conn =
        Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(sql(path))?;
    integrity(&conn, path, "PRAGMA quick_check")
}

/// `PRAGMA integrity_check`, then the schema: an assay store this assay can open.
pub(crate) fn check_full(path: &Path) -> Result<usize, BackupError> {
    let conn =
        Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(sql(path))?;
    integrity(&conn, path, "PRAGMA integrity_check")?;
    let version: usize = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(sql(path))?;
    let has_reports: bool = conn
        .query_row(
            "SELECT count(*) > 0 FROM sqlite_schema WHERE type = 'table' AND name = 'reports'",
            [],
            |r| r.get(0),
        )
        .map_err(sql(path))?;
    if version == 0 || !has_reports {
        return Err(BackupError::NotAssay(path.to_owned()));
    }
    let known = super::schema::SQLITE.len();
    if version > known {
        return Err(BackupError::TooNew {
            path: path.to_owned(),
            found: version,
            known,
        });
    }
    Ok(version)
}

fn integrity(conn: &Connection, path: &Path, pragma: &str) -> Result<(), BackupError> {
    let corrupt = |detail: String| BackupError::Corrupt {
        path: path.to_owned(),
        detail,
    };
    let mut st = conn.prepare(pragma).map_err(|e| corrupt(e.to_string()))?;
    let lines = st
        .query_map([], |r| r.get::<_, String>(0))
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(|e| corrupt(e.to_string()))?;
    if lines != ["ok"] {
        let mut detail = lines.into_iter().take(5).collect::<Vec<_>>().join("; ");
        detail.truncate(1000);
        return Err(corrupt(detail));
    }
    Ok(())
}

fn gzip(from: &Path, to: &Path) -> Result<(), BackupError> {
    let mut input = BufReader::new(File::open(from).map_err(io(from))?);
    let out = File::create(to).map_err(io(to))?;
    let mut enc =
        flate2::write::GzEncoder::new(BufWriter::new(out), flate2::Compression::default());
    std::io::copy(&mut input, &mut enc).map_err(io(to))?;
    let out = enc
        .finish()
        .and_then(|w| w.into_inner().map_err(|e| e.into_error()))
        .map_err(io(to))?;
    out.sync_all().map_err(io(to))
}

fn gunzip(from: &Path, to: &Path) -> Result<(), BackupError> {
    let input = BufReader::new(File::open(from).map_err(io(from))?);
    let mut dec = flate2::read::GzDecoder::new(input);
    let mut out = BufWriter::new(File::create(to).map_err(io(to))?);
    std::io::copy(&mut dec, &mut out).map_err(io(from))?;
    let out = out.into_inner().map_err(|e| BackupError::Io {
        path: to.to_owned(),
        source: e.into_error(),
    })?;
    out.sync_all().map_err(io(to))
}

fn read_up_to(f: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            m => n += m,
        }
    }
    Ok(n)
}

fn sync_file(path: &Path) -> Result<(), BackupError> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(io(path))
}

/// Makes a rename durable (best effort: not every filesystem allows it).
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

fn parent(p: &Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// `.NAME.WHAT-PID` beside `p`: a temporary name no one else uses.
fn sibling(p: &Path, what: &str) -> PathBuf {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    parent(p).join(format!(".{name}.{what}-{}", std::process::id()))
}

/// `DB-wal` and `DB-shm`, as SQLite names them.
fn wal(db: &Path, suffix: &str) -> PathBuf {
    db_with_suffix(db, suffix)
}

fn db_with_suffix(db: &Path, suffix: &str) -> PathBuf {
    let mut s = db.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Now, as `20261203T091500Z`: file names that sort by time.
pub(crate) fn stamp() -> String {
    stamp_at(crate::clock::now_ms())
}

/// `ms` (Unix time) as `YYYYMMDDTHHMMSSZ`.
pub(crate) fn stamp_at(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_seconds(t)
        .to_string()
        .replace(['-', ':'], "")
}
