//! `kraft backup` and `kraft restore`: operator commands over the state
//! database (see `kraft_core::backup` for what a backup is and why
//! rotation follows the retention period). The knowledge index needs no
//! backup: it is rebuilt from `knowledge/` by `kraft ingest`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use chrono::Utc;
use kraft_core::backup::{self, Backup};
use kraft_core::Store;

use crate::config::Settings;
use crate::tickets::state_path;

/// Where backups go unless `--out` says otherwise.
pub fn default_dir(settings: &Settings) -> PathBuf {
    settings.knowledge.data_dir.join("backups")
}

fn keep(settings: &Settings) -> chrono::Duration {
    chrono::Duration::days(settings.core.privacy.retention_days)
}

fn describe(b: &Backup) -> String {
    format!(
        "{} · taken {} · {} tickets, {} users · {} KiB",
        b.path.display(),
        b.taken_at.format("%Y-%m-%d %H:%M:%S UTC"),
        b.tickets,
        b.users,
        b.bytes.div_ceil(1024)
    )
}

/// `kraft backup` and `kraft restore` copy the SQLite file; a PostgreSQL
/// state is backed up with PostgreSQL's own tools.
fn refuse_postgres(settings: &Settings) -> Result<()> {
    if settings.state.engine == crate::config::StateEngine::Postgres {
        anyhow::bail!(
            "state.engine is \"postgres\": back up and restore the database with PostgreSQL's tools \
             (pg_dump / pg_restore, or the server's base backups); kraft backup and restore copy the SQLite file"
        );
    }
    Ok(())
}

/// Copies the state database into `out` and rotates that folder.
pub fn run_backup(settings: &Settings, out: Option<PathBuf>, json: bool) -> Result<ExitCode> {
    refuse_postgres(settings)?;
    let state = state_path(settings);
    if !state.exists() {
        anyhow::bail!(
            "no state database at {} (nothing to back up yet; check knowledge.data_dir)",
            state.display()
        );
    }
    let dir = out.unwrap_or_else(|| default_dir(settings));
    let store = Store::open(&state)?;
    let now = Utc::now();
    let b = backup::backup(&store, &dir, now)
        .with_context(|| format!("backup into {} failed", dir.display()))?;
    let r = backup::rotate(&dir, now, keep(settings))
        .with_context(|| format!("rotating {} failed", dir.display()))?;
    if json {
        let v = serde_json::json!({ "backup": b, "rotation": r });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("backup: {}", describe(&b));
        println!(
            "rotation: {} kept, {} removed (older than privacy.retention_days = {})",
            r.kept,
            r.removed.len(),
            settings.core.privacy.retention_days
        );
        for p in &r.removed {
            println!("  removed {}", p.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Checks a backup, or replaces the state database with it.
pub fn run_restore(
    settings: &Settings,
    file: &Path,
    check: bool,
    out: Option<PathBuf>,
) -> Result<ExitCode> {
    if check {
        let b = backup::inspect(file)?;
        println!("ok: {}", describe(&b));
        return Ok(ExitCode::SUCCESS);
    }
    refuse_postgres(settings)?;
    let state = state_path(settings);
    let dir = out.unwrap_or_else(|| default_dir(settings));
    let r = backup::restore(&state, file, &dir, Utc::now(), keep(settings))?;
    println!("restored: {}", describe(&r.from));
    match &r.previous {
        Some(p) => println!("the database it replaced was saved first: {}", describe(p)),
        None => println!("there was no database before (nothing to save)"),
    }
    println!(
        "the knowledge index is not part of a backup: `kraft ingest` rebuilds it from {}",
        settings.knowledge.knowledge_dir.display()
    );
    Ok(ExitCode::SUCCESS)
}
