//! Backups of the state database: consistent copies taken while the bot
//! runs, their rotation, and restoring one.
//!
//! A copy is made with `VACUUM INTO`, which reads one snapshot of the
//! database while writers go on, and writes a fresh file without free
//! pages (so rows deleted before the copy, by `/forget` or retention, are
//! not in it even as leftovers). Each copy is stamped inside with when it
//! was taken, checked (`integrity_check`), and only then given its final
//! name, so a half-written copy never looks like a backup.
//!
//! Rotation keeps no copy longer than the retention period: a conversation
//! deleted by `/forget` or retention is gone from every backup at the
//! latest `privacy.retention_days` later, and a restore refuses a copy
//! older than that for the same reason.

use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDateTime, Utc};
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use serde::Serialize;

use crate::store::prelude::*;
use crate::store::{Store, StoreError};

/// File names of backups: `kraft-state-20261129T143000Z.sqlite`.
pub const PREFIX: &str = "kraft-state-";
const SUFFIX: &str = ".sqlite";
const STAMP: &str = "%Y%m%dT%H%M%SZ";
/// The table a copy carries its own description in (dropped on restore).
const META: &str = "kraft_backup";

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Sql {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The file is not a backup written by `kraft backup`.
    #[error("{path} is not a kraft backup: {why}")]
    NotABackup { path: PathBuf, why: String },
    /// The copy fails SQLite's integrity check.
    #[error("{path} is damaged: {detail}")]
    Damaged { path: PathBuf, detail: String },
    /// Restoring it would bring back conversations that retention (and
    /// possibly `/forget`) has deleted since.
    #[error(
        "{path} was taken {taken_at}, more than privacy.retention_days ({days}) ago: restoring it would bring back deleted conversations"
    )]
    TooOld {
        path: PathBuf,
        taken_at: DateTime<Utc>,
        days: i64,
    },
    /// Written by a newer kraft (a schema this one does not know).
    #[error(
        "{path} has schema version {found}, newer than this kraft knows ({known}); upgrade kraft"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
}

pub type Result<T> = std::result::Result<T, BackupError>;

/// One backup file, as checked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Backup {
    pub path: PathBuf,
    pub taken_at: DateTime<Utc>,
    pub schema_version: i64,
    /// Tickets in the copy (any status).
    pub tickets: i64,
    pub users: i64,
    pub bytes: u64,
}

/// What a rotation removed.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Rotation {
    pub kept: usize,
    pub removed: Vec<PathBuf>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn sql(path: &Path) -> impl FnOnce(rusqlite::Error) -> BackupError + '_ {
    move |source| BackupError::Sql {
        path: path.to_path_buf(),
        source,
    }
}

/// When the backup named `name` was taken, if it is one of ours.
pub fn taken_at_from_name(name: &str) -> Option<DateTime<Utc>> {
    let stamp = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    // A second backup within the same second gets "-2", "-3", …
    let stamp = stamp.split('-').next()?;
    NaiveDateTime::parse_from_str(stamp, STAMP)
        .ok()
        .map(|t| t.and_utc())
}

/// Creates `dir` readable by its owner only (backups hold conversations).
fn private_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io(dir))?;
    }
    Ok(())
}

/// A consistent copy of `store` in `dir`, checked and stamped; the
/// database stays usable (and writable by others) throughout.
pub fn backup(store: &Store, dir: &Path, now: DateTime<Utc>) -> Result<Backup> {
    private_dir(dir)?;
    let stamp = now.format(STAMP).to_string();
    let mut name = format!("{PREFIX}{stamp}{SUFFIX}");
    let mut n = 1;
    while dir.join(&name).exists() {
        n += 1;
        name = format!("{PREFIX}{stamp}-{n}{SUFFIX}");
    }
    let partial = dir.join(format!(".{name}.partial"));
    if partial.exists() {
        std::fs::remove_file(&partial).map_err(io(&partial))?;
    }
    store.vacuum_into(&partial)?;
    let stamped = (|| {
        let conn = Connection::open(&partial).map_err(sql(&partial))?;
        conn.execute_batch(&format!(
            "CREATE TABLE {META} (taken_at TEXT NOT NULL, kraft_version TEXT NOT NULL);"
        ))
        .map_err(sql(&partial))?;
        conn.execute(
            &format!("INSERT INTO {META} (taken_at, kraft_version) VALUES (?1, ?2)"),
            rusqlite::params![crate::store::ts(now), env!("CARGO_PKG_VERSION").to_string()],
        )
        .map_err(sql(&partial))?;
        drop(conn);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o600))
                .map_err(io(&partial))?;
        }
        inspect(&partial)
    })();
    if let Err(e) = stamped {
        let _ = std::fs::remove_file(&partial);
        return Err(e);
    }
    let path = dir.join(&name);
    std::fs::rename(&partial, &path).map_err(io(&path))?;
    inspect(&path)
}

/// Opens a backup read-only and checks it: SQLite's integrity check, the
/// stamp `backup` writes, a schema this kraft knows.
pub fn inspect(path: &Path) -> Result<Backup> {
    let bytes = std::fs::metadata(path).map_err(io(path))?.len();
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sql(path))?;
    let not = |why: &str| BackupError::NotABackup {
        path: path.to_path_buf(),
        why: why.to_string(),
    };
    // A file that is not SQLite at all fails here ("file is not a database").
    let check: String = match conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)) {
        Ok(c) => c,
        Err(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::NotADatabase =>
        {
            return Err(not("not an SQLite database"));
        }
        Err(e) => return Err(sql(path)(e)),
    };
    if check != "ok" {
        return Err(BackupError::Damaged {
            path: path.to_path_buf(),
            detail: check,
        });
    }
    let has_meta: Option<String> = conn
        .query_row(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [META],
            |r| r.get(0),
        )
        .optional()
        .map_err(sql(path))?;
    if has_meta.is_none() {
        return Err(not("it carries no backup stamp (made by `kraft backup`?)"));
    }
    let taken: String = conn
        .query_row(&format!("SELECT taken_at FROM {META}"), [], |r| r.get(0))
        .map_err(|_| not("its backup stamp is unreadable"))?;
    let taken_at = DateTime::parse_from_rfc3339(&taken)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| not("its backup stamp is unreadable"))?;
    let schema_version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(sql(path))?;
    let known = crate::store::schema_versions();
    if schema_version > known {
        return Err(BackupError::TooNew {
            path: path.to_path_buf(),
            found: schema_version,
            known,
        });
    }
    let count = |table: &str| -> Result<i64> {
        conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
            .map_err(|_| not(&format!("it has no {table} table")))
    };
    Ok(Backup {
        path: path.to_path_buf(),
        taken_at,
        schema_version,
        tickets: count("tickets")?,
        users: count("users")?,
        bytes,
    })
}

/// Removes backups in `dir` taken more than `keep` before `now`, and
/// copies a crash left half-written. Other files are left alone.
pub fn rotate(dir: &Path, now: DateTime<Utc>, keep: chrono::Duration) -> Result<Rotation> {
    let mut r = Rotation::default();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(r),
        Err(e) => return Err(io(dir)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let stale = if name.starts_with(&format!(".{PREFIX}")) && name.ends_with(".partial") {
            true
        } else if let Some(t) = taken_at_from_name(&name) {
            if now - t > keep {
                true
            } else {
                r.kept += 1;
                false
            }
        } else {
            false
        };
        if stale {
            std::fs::remove_file(&path).map_err(io(&path))?;
            r.removed.push(path);
        }
    }
    r.removed.sort();
    Ok(r)
}

/// What a restore did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Restored {
    pub from: Backup,
    /// The database as it was before, saved as a backup first (None when
    /// there was none).
    pub previous: Option<Backup>,
}

/// Replaces the state database at `state` with the backup `src`, after
/// checking it and saving the current database into `dir`. Uses SQLite's
/// backup API, so a process that still has the database open sees the
/// restored content rather than a file swapped under it (stop `kraft
/// serve` first all the same: its in-flight work refers to the old rows).
pub fn restore(
    state: &Path,
    src: &Path,
    dir: &Path,
    now: DateTime<Utc>,
    keep: chrono::Duration,
) -> Result<Restored> {
    let from = inspect(src)?;
    if now - from.taken_at > keep {
        return Err(BackupError::TooOld {
            path: src.to_path_buf(),
            taken_at: from.taken_at,
            days: keep.num_days(),
        });
    }
    let previous = if state.exists() {
        let store = Store::open(state)?;
        let b = backup(&store, dir, now)?;
        Some(b)
    } else {
        None
    };
    {
        let mut conn = Connection::open(state).map_err(sql(state))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(sql(state))?;
        conn.restore(
            rusqlite::MAIN_DB,
            src,
            None::<fn(rusqlite::backup::Progress)>,
        )
        .map_err(sql(state))?;
        conn.execute_batch(&format!("DROP TABLE IF EXISTS {META};"))
            .map_err(sql(state))?;
    }
    // Brings an older schema up to date, and proves the result opens.
    let store = Store::open(state)?;
    store.checkpoint()?;
    Ok(Restored { from, previous })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_time_they_were_taken() {
        let t = taken_at_from_name("kraft-state-20261129T143000Z.sqlite").expect("ours");
        assert_eq!(crate::store::ts(t), "2026-11-29T14:30:00.000000Z");
        assert!(taken_at_from_name("kraft-state-20261129T143000Z-2.sqlite").is_some());
        assert!(taken_at_from_name("kraft.sqlite").is_none());
        assert!(taken_at_from_name("kraft-state-yesterday.sqlite").is_none());
        assert!(taken_at_from_name("notes.txt").is_none());
    }

    use crate::model::{Lang, Platform, UserRef};
    use crate::store::{NewMessage, NewTicket, Role};

    /// A database with one user who wrote `text` and opened a ticket.
    fn seeded(path: &Path, who: &str, text: &str) -> Store {
        let s = Store::open(path).expect("open");
        let u = s
            .touch_user(&UserRef::new(Platform::Telegram, who, who), Utc::now())
            .expect("user");
        s.add_message(
            u.id,
            Role::User,
            &NewMessage {
                text,
                lang: Some(Lang::Sv),
                ..Default::default()
            },
            Utc::now(),
        )
        .expect("message");
        s.create_ticket(
            NewTicket {
                user_id: u.id,
                reason: "user_request",
                summary: "s",
                lang: Lang::Sv,
                platform: Platform::Telegram,
                chat_id: who,
                relay_chat: Some(who),
                max_per_day: 0,
            },
            &|_| Vec::new(),
            Utc::now(),
            std::time::Duration::from_secs(60),
        )
        .expect("ticket");
        s
    }

    fn contains(path: &Path, needle: &str) -> bool {
        let bytes = std::fs::read(path).expect("read");
        bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
    }

    #[test]
    fn a_backup_is_a_checked_private_copy_without_forgotten_text() {
        let dir = tempfile::tempdir().expect("tmp");
        let s = seeded(&dir.path().join("kraft.sqlite"), "1", "hemligt-ord-anna");
        let u2 = s
            .touch_user(&UserRef::new(Platform::Telegram, "2", "2"), Utc::now())
            .expect("user");
        s.add_message(
            u2.id,
            Role::User,
            &NewMessage {
                text: "glomska-ord-bertil",
                ..Default::default()
            },
            Utc::now(),
        )
        .expect("message");
        s.forget(u2.id).expect("forget");
        let out = dir.path().join("backups");
        let b = backup(&s, &out, Utc::now()).expect("backup");
        assert_eq!(b.tickets, 1);
        assert!(b.path.starts_with(&out));
        assert!(taken_at_from_name(&b.path.file_name().expect("name").to_string_lossy()).is_some());
        assert!(
            contains(&b.path, "hemligt-ord-anna"),
            "the copy has the data"
        );
        assert!(
            !contains(&b.path, "glomska-ord-bertil"),
            "a forgotten message is not even a leftover in the copy"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&b.path)
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "owner only: {mode:o}");
        }
        // Two in the same second keep apart.
        let b2 = backup(&s, &out, b.taken_at).expect("second");
        assert_ne!(b.path, b2.path);
        assert!(std::fs::read_dir(&out).expect("dir").all(|e| !e
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .ends_with(".partial")));
    }

    #[test]
    fn rotation_removes_what_outlived_the_retention_period_and_nothing_else() {
        let dir = tempfile::tempdir().expect("tmp");
        let now = Utc::now();
        let s = seeded(&dir.path().join("kraft.sqlite"), "1", "x");
        let out = dir.path().join("backups");
        let old = backup(&s, &out, now - chrono::Duration::days(31)).expect("old");
        let new = backup(&s, &out, now - chrono::Duration::days(1)).expect("new");
        std::fs::write(out.join("notes.txt"), "keep me").expect("write");
        std::fs::write(out.join(".kraft-state-x.sqlite.partial"), "crash").expect("write");
        let r = rotate(&out, now, chrono::Duration::days(30)).expect("rotate");
        assert_eq!(r.kept, 1);
        assert_eq!(r.removed.len(), 2, "{r:?}");
        assert!(!old.path.exists());
        assert!(new.path.exists());
        assert!(out.join("notes.txt").exists());
        // A missing folder has nothing to rotate.
        assert_eq!(
            rotate(&dir.path().join("none"), now, chrono::Duration::days(1)).expect("none"),
            Rotation::default()
        );
    }

    #[test]
    fn restore_checks_the_copy_saves_the_current_database_and_refuses_what_retention_deleted() {
        let dir = tempfile::tempdir().expect("tmp");
        let now = Utc::now();
        let out = dir.path().join("backups");
        let state = dir.path().join("kraft.sqlite");
        let s = seeded(&state, "1", "fore-backup");
        let b = backup(&s, &out, now).expect("backup");
        // Life goes on after the backup; then the database is lost to a
        // bad change.
        let later = seeded(&state, "2", "efter-backup");
        drop(later);
        drop(s);
        let r = restore(&state, &b.path, &out, now, chrono::Duration::days(30)).expect("restore");
        assert_eq!(r.from.tickets, 1);
        let prev = r.previous.expect("the current database was saved first");
        assert_eq!(prev.tickets, 2);
        let s = Store::open(&state).expect("open");
        let dump = format!("{:?}", s.dump_all().expect("dump"));
        assert!(dump.contains("fore-backup"));
        assert!(!dump.contains("efter-backup"));
        assert!(!dump.contains(META), "the stamp stays in the copy");
        drop(s);

        // Not a backup: random bytes, a database without the stamp.
        let junk = dir.path().join("junk.sqlite");
        std::fs::write(
            &junk,
            b"\x00\x01 not a database at all, just bytes \xff".repeat(200),
        )
        .expect("write");
        assert!(matches!(
            restore(&state, &junk, &out, now, chrono::Duration::days(30)),
            Err(BackupError::NotABackup { .. })
        ));
        assert!(matches!(
            inspect(&state),
            Err(BackupError::NotABackup { .. })
        ));
        // Older than the retention period.
        match restore(
            &state,
            &b.path,
            &out,
            now + chrono::Duration::days(31),
            chrono::Duration::days(30),
        ) {
            Err(BackupError::TooOld { days: 30, .. }) => {}
            other => panic!("expected TooOld, got {other:?}"),
        }
        // A refused restore changed nothing.
        let s = Store::open(&state).expect("open");
        assert!(format!("{:?}", s.dump_all().expect("dump")).contains("fore-backup"));
    }
}
