//! `assay backup` and `assay restore`: a consistent copy of the SQLite
//! store while the service runs, and putting one back into a stopped data
//! directory after checking it.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::{EXIT_OK, GlobalArgs};
use crate::store::backup;

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Where to write the backup (must not exist). A name ending in `.gz` is gzipped.
    #[arg(long, value_name = "FILE")]
    pub to: PathBuf,
    /// gzip the backup whatever its name.
    #[arg(long)]
    pub compress: bool,
    /// The database to back up. Default: `[storage] path` from the config.
    #[arg(long, value_name = "FILE")]
    pub db: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The backup to restore (as `assay backup` or `[storage.backup]` wrote it, gzipped or not).
    pub file: PathBuf,
    /// The database to restore into. Default: `[storage] path` from the config.
    #[arg(long, value_name = "FILE")]
    pub db: Option<PathBuf>,
    /// Replace an existing database (it is renamed aside, not deleted).
    #[arg(long)]
    pub replace: bool,
}

/// The SQLite file the command works on.
fn database(global: &GlobalArgs, given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(db) = given {
        return Ok(db);
    }
    let config = super::host_config(global)?;
    if config.storage.url.is_some() {
        anyhow::bail!(
            "the store is PostgreSQL (storage.url): back it up with pg_dump and restore it with pg_restore (README, \"Operations\")"
        );
    }
    Ok(config.storage.path)
}

pub(super) async fn backup(global: &GlobalArgs, args: BackupArgs) -> anyhow::Result<u8> {
    let db = database(global, args.db)?;
    let compress = args.compress
        || args
            .to
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    let to = args.to.clone();
    let done = tokio::task::spawn_blocking(move || backup::backup(&db, &to, compress))
        .await
        .context("the backup task failed")?
        .context("backup failed")?;
    eprintln!(
        "assay: backed up to {} ({} bytes{}, {} ms)",
        done.path.display(),
        done.bytes,
        if done.compressed {
            format!(", {} bytes uncompressed", done.database_bytes)
        } else {
            String::new()
        },
        done.took.as_millis()
    );
    Ok(EXIT_OK)
}

pub(super) async fn restore(global: &GlobalArgs, args: RestoreArgs) -> anyhow::Result<u8> {
    let db = database(global, args.db)?;
    let (file, target, replace) = (args.file.clone(), db.clone(), args.replace);
    let done = tokio::task::spawn_blocking(move || backup::restore(&file, &target, replace))
        .await
        .context("the restore task failed")?
        .context("restore failed")?;
    if let Some(kept) = &done.kept {
        eprintln!(
            "assay: the database that was there is kept as {}",
            kept.display()
        );
    }
    eprintln!(
        "assay: restored {} into {} (schema {}; {} reports, {} active alerts, {} notifications pending); start the service on it",
        args.file.display(),
        db.display(),
        done.schema,
        done.reports,
        done.alerts,
        done.pending_notifications
    );
    Ok(EXIT_OK)
}
