//! Privacy and upkeep: forgetting a person on request, purging what is older
//! than the retention period, and checking the database.
//!
//! `Retention` is the contract and `Store` (SQLite) implements it here;
//! `tests/tests/store_contract.rs` checks any implementation against it.

use super::*;

pub trait Retention {
    /// Deletes every row about the person behind the user, in every table,
    /// and checkpoints the WAL so the text does not linger there either.
    /// The person is all their identities on the platform: `<user>` and
    /// every group identity `<user>@<chat>`. Nobody else's rows are
    /// touched: handled inbox entries go only for the person's private
    /// chats (a group's entries are every member's, hold no text and go
    /// after a day). Returns what was deleted, the tickets that were open
    /// (advisers are told they are gone) and what Kraft posted about the
    /// tickets on the adviser side (to delete there). A user who is
    /// already gone forgets nothing, without an error.
    fn forget(&self, user_id: i64) -> Result<Forgotten>;

    /// SQLite's `quick_check`: None when the file is sound, else the first
    /// problem it reports.
    fn quick_check(&self) -> Result<Option<String>>;

    /// Moves WAL content into the main file and truncates the WAL.
    fn checkpoint(&self) -> Result<()>;

    /// Retention: removes conversations older than `keep`, resolved tickets
    /// resolved before then, delivered outbox rows, and users with no
    /// remaining messages or open tickets who were last seen before then.
    fn purge(&self, now: DateTime<Utc>, keep: chrono::Duration) -> Result<Purged>;

    /// Every stored row as text, for tests that prove something is gone
    /// (the `/forget` test scans the whole database with it).
    fn dump_all(&self) -> Result<Vec<(String, Vec<String>)>>;
}

impl Retention for Store {
    fn forget(&self, user_id: i64) -> Result<Forgotten> {
        let out = self.tx(|tx| {
            // Already gone (a second /forget, or a purge in between):
            // nothing to delete is not an error.
            let Some((platform, ext)) = tx
                .query_row(
                    "SELECT platform, external_id FROM users WHERE id = ?1",
                    [user_id],
                    |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
                )
                .optional()?
            else {
                return Ok(Forgotten::default());
            };
            let person = person_of(&ext).to_string();
            let ids: Vec<i64> = {
                let mut st = tx.prepare(
                    "SELECT id FROM users WHERE platform = ?1
                       AND (external_id = ?2 OR substr(external_id, 1, length(?2) + 1) = ?2 || '@')",
                )?;
                let v = st
                    .query_map(params![platform, person], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?;
                v
            };
            let mut f = Forgotten {
                identities: ids.len(),
                ..Default::default()
            };
            for id in &ids {
                let id = *id;
                let mut st = tx.prepare(
                    "SELECT id, status FROM tickets WHERE user_id = ?1 ORDER BY id",
                )?;
                let tickets: Vec<(i64, String)> = st
                    .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<rusqlite::Result<_>>()?;
                for (t, status) in &tickets {
                    if status != "resolved" {
                        f.open.push(*t);
                    }
                    let mut st = tx.prepare(
                        "SELECT platform, chat_id, thread FROM threads WHERE ticket_id = ?1",
                    )?;
                    let threads: Vec<(String, String, String)> = st
                        .query_map([t], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                        .collect::<rusqlite::Result<_>>()?;
                    for (on, chat, thread) in threads {
                        let mut st = tx.prepare(
                            "SELECT message_id FROM thread_messages
                              WHERE ticket_id = ?1 AND platform = ?2 AND chat_id = ?3
                              ORDER BY CAST(message_id AS INTEGER)",
                        )?;
                        let messages: Vec<String> = st
                            .query_map(params![t, on, chat], |r| r.get(0))?
                            .collect::<rusqlite::Result<_>>()?;
                        f.redactions.push(Redaction {
                            ticket: *t,
                            on: Platform::parse(&on).unwrap_or(Platform::Terminal),
                            chat,
                            thread: Some(thread),
                            messages,
                        });
                    }
                }
                f.tickets += tickets.len();
                f.feedback += tx.execute("DELETE FROM feedback WHERE user_id = ?1", [id])?;
                f.analyses += tx.execute("DELETE FROM analyses WHERE user_id = ?1", [id])?;
                // Handled events keep the chat id for a day (dedupe); the
                // person's private chat's go now. Unhandled ones are left
                // to be answered.
                tx.execute(
                    "DELETE FROM inbox WHERE handled_at IS NOT NULL AND (platform, chat) IN
                        (SELECT platform, private_chat FROM users WHERE id = ?1)",
                    [id],
                )?;
                // Explicit deletes rather than trusting ON DELETE CASCADE
                // alone: outbox rows about the user's tickets may lack a
                // user_id.
                tx.execute(
                    "DELETE FROM outbox WHERE user_id = ?1
                        OR ticket_id IN (SELECT id FROM tickets WHERE user_id = ?1)",
                    [id],
                )?;
                f.messages += tx.execute("DELETE FROM messages WHERE user_id = ?1", [id])?;
                tx.execute("DELETE FROM tickets WHERE user_id = ?1", [id])?;
                tx.execute("DELETE FROM users WHERE id = ?1", [id])?;
            }
            Ok(f)
        })?;
        self.checkpoint()?;
        Ok(out)
    }

    fn quick_check(&self) -> Result<Option<String>> {
        let r: String = self
            .lock()?
            .query_row("PRAGMA quick_check", [], |r| r.get(0))?;
        Ok((r != "ok").then_some(r))
    }

    fn checkpoint(&self) -> Result<()> {
        // Busy (1 in the first column) when the checkpoint thread or a
        // reader holds the WAL: wait a little for it, so that what
        // `/forget` deleted has left the WAL when this returns.
        for _ in 0..50 {
            let busy: i64 = self
                .lock()?
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
            if busy == 0 {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        tracing::warn!("the WAL stayed busy for a second; it is truncated at the next checkpoint");
        Ok(())
    }

    fn purge(&self, now: DateTime<Utc>, keep: chrono::Duration) -> Result<Purged> {
        let cutoff = ts(now - keep);
        let delivered_cutoff = ts(now - chrono::Duration::days(7).min(keep));
        let p = self.tx(|tx| {
            let mut p = Purged::default();
            tx.execute(
                "DELETE FROM feedback WHERE created_at < ?1",
                [&cutoff],
            )?;
            p.messages = tx.execute(
                "DELETE FROM messages WHERE created_at < ?1
                   AND (ticket_id IS NULL OR ticket_id NOT IN
                        (SELECT id FROM tickets WHERE status IN ('waiting', 'active')))",
                [&cutoff],
            )?;
            p.analyses = tx.execute(
                "DELETE FROM analyses WHERE updated_at < ?1",
                [&cutoff],
            )?;
            // Sent or failed deliveries go after a week; one still unsent
            // after the whole retention period never will be, and its text
            // is conversation text like any other.
            p.deliveries = tx.execute(
                "DELETE FROM outbox WHERE (delivered_at IS NOT NULL AND delivered_at < ?1)
                    OR (failed_at IS NOT NULL AND failed_at < ?1)
                    OR created_at < ?2",
                [&delivered_cutoff, &cutoff],
            )?;
            // Handled events keep only their key (for dedupe) for a day.
            tx.execute(
                "DELETE FROM inbox WHERE handled_at IS NOT NULL AND handled_at < ?1",
                [ts(now - chrono::Duration::days(1))],
            )?;
            p.tickets = tx.execute(
                "DELETE FROM tickets WHERE status = 'resolved' AND resolved_at < ?1",
                [&cutoff],
            )?;
            p.users = tx.execute(
                "DELETE FROM users WHERE last_seen_at < ?1
                   AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.user_id = users.id)
                   AND NOT EXISTS (SELECT 1 FROM tickets t WHERE t.user_id = users.id)
                   AND NOT EXISTS (SELECT 1 FROM analyses a WHERE a.user_id = users.id)
                   AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.user_id = users.id AND o.delivered_at IS NULL)",
                [&cutoff],
            )?;
            Ok(p)
        })?;
        Ok(p)
    }

    fn dump_all(&self) -> Result<Vec<(String, Vec<String>)>> {
        let conn = self.lock()?;
        let mut names = conn.prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        )?;
        let tables: Vec<String> = names
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let mut out = Vec::new();
        for t in tables {
            let mut st = conn.prepare(&format!("SELECT * FROM \"{t}\""))?;
            let n = st.column_count();
            let rows = st.query_map([], |r| {
                let mut cells = Vec::with_capacity(n);
                for i in 0..n {
                    let v: rusqlite::types::Value = r.get(i)?;
                    cells.push(format!("{v:?}"));
                }
                Ok(cells.join(" | "))
            })?;
            let rows: Vec<String> = rows.collect::<rusqlite::Result<_>>()?;
            out.push((t, rows));
        }
        Ok(out)
    }
}
