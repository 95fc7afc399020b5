//! `Retention` on PostgreSQL. Deleting a row there leaves a dead tuple (and
//! its WAL record) until VACUUM reclaims it and WAL is recycled, so after
//! `/forget` the touched tables are vacuumed at once (plain VACUUM: no
//! exclusive lock). What that cannot promise, WAL kept for replicas or
//! archives and backups, is said in the README's "State engines".

use super::*;

/// The tables that hold text about a person, vacuumed after `/forget`.
const PERSONAL_TABLES: &str =
    "users, messages, tickets, feedback, analyses, inbox, outbox, threads, thread_messages, notes";

impl Retention for PgStore {
    fn forget(&self, user_id: i64) -> Result<Forgotten> {
        let out = self.tx(|c| {
            // Already gone (a second /forget, or a purge in between):
            // nothing to delete is not an error.
            let Some(r) = c.opt(
                "SELECT platform, external_id FROM users WHERE id = $1",
                p![user_id],
            )?
            else {
                return Ok(Forgotten::default());
            };
            let platform: String = r.try_get(0)?;
            let ext: String = r.try_get(1)?;
            let person = person_of(&ext).to_string();
            // Locked, so a concurrent message of the person waits for the
            // delete rather than adding a row to a user being deleted.
            let ids: Vec<i64> = c
                .query(
                    &format!(
                        "SELECT u.id FROM users u WHERE {SAME_PERSON} ORDER BY u.id FOR UPDATE"
                    ),
                    p![platform, person],
                )?
                .iter()
                .map(|r| r.try_get(0))
                .collect::<std::result::Result<_, _>>()?;
            let mut f = Forgotten {
                identities: ids.len(),
                ..Default::default()
            };
            for id in ids {
                let tickets: Vec<(i64, String)> = c
                    .query(
                        "SELECT id, status FROM tickets WHERE user_id = $1 ORDER BY id",
                        p![id],
                    )?
                    .iter()
                    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                    .collect::<Result<_>>()?;
                for (t, status) in &tickets {
                    if status != "resolved" {
                        f.open.push(*t);
                    }
                    let threads: Vec<(String, String, String)> = c
                        .query(
                            "SELECT platform, chat_id, thread FROM threads WHERE ticket_id = $1",
                            p![*t],
                        )?
                        .iter()
                        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
                        .collect::<Result<_>>()?;
                    for (on, chat, thread) in threads {
                        // Numeric order for platform message ids (SQLite
                        // casts; PostgreSQL's cast would fail on a non-number).
                        let messages: Vec<String> = c
                            .query(
                                "SELECT message_id FROM thread_messages
                                  WHERE ticket_id = $1 AND platform = $2 AND chat_id = $3
                                  ORDER BY length(message_id), message_id",
                                p![*t, on.clone(), chat.clone()],
                            )?
                            .iter()
                            .map(|r| r.try_get(0))
                            .collect::<std::result::Result<_, _>>()?;
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
                f.feedback += c.exec("DELETE FROM feedback WHERE user_id = $1", p![id])?;
                f.analyses += c.exec("DELETE FROM analyses WHERE user_id = $1", p![id])?;
                // Handled events keep the chat id for a day (dedupe); the
                // person's private chat's go now. Unhandled ones are left
                // to be answered.
                c.exec(
                    "DELETE FROM inbox WHERE handled_at IS NOT NULL AND (platform, chat) IN
                        (SELECT platform, private_chat FROM users WHERE id = $1)",
                    p![id],
                )?;
                // Explicit deletes rather than trusting ON DELETE CASCADE
                // alone: outbox rows about the user's tickets may lack a
                // user_id.
                c.exec(
                    "DELETE FROM outbox WHERE user_id = $1
                        OR ticket_id IN (SELECT id FROM tickets WHERE user_id = $1)",
                    p![id],
                )?;
                f.messages += c.exec("DELETE FROM messages WHERE user_id = $1", p![id])?;
                c.exec("DELETE FROM tickets WHERE user_id = $1", p![id])?;
                c.exec("DELETE FROM users WHERE id = $1", p![id])?;
            }
            Ok(f)
        })?;
        if out.identities > 0 {
            self.checkpoint()?;
        }
        Ok(out)
    }

    /// PostgreSQL checks its own pages; what can be wrong here is a
    /// connection that does not work or a schema this build does not know.
    fn quick_check(&self) -> Result<Option<String>> {
        let found = self.schema_version()?;
        let known = pg_schema_versions();
        Ok((found != known).then(|| format!("schema version {found}, this kraft knows {known}")))
    }

    /// SQLite's checkpoint moves deleted text out of the WAL; the nearest
    /// PostgreSQL has without superuser rights is VACUUM of the tables
    /// with personal data, which turns deleted rows' space into free space
    /// (to be overwritten) instead of leaving dead tuples.
    fn checkpoint(&self) -> Result<()> {
        self.conn()?.batch(&format!("VACUUM {PERSONAL_TABLES}"))
    }

    fn purge(&self, now: DateTime<Utc>, keep: chrono::Duration) -> Result<Purged> {
        let cutoff = now - keep;
        let delivered_cutoff = now - chrono::Duration::days(7).min(keep);
        self.tx(|c| {
            let mut p = Purged::default();
            c.exec("DELETE FROM feedback WHERE created_at < $1", p![cutoff])?;
            p.messages = c.exec(
                "DELETE FROM messages WHERE created_at < $1
                   AND (ticket_id IS NULL OR ticket_id NOT IN
                        (SELECT id FROM tickets WHERE status IN ('waiting', 'active')))",
                p![cutoff],
            )?;
            p.analyses = c.exec("DELETE FROM analyses WHERE updated_at < $1", p![cutoff])?;
            // Sent or failed deliveries go after a week; one still unsent
            // after the whole retention period never will be, and its text
            // is conversation text like any other.
            p.deliveries = c.exec(
                "DELETE FROM outbox WHERE (delivered_at IS NOT NULL AND delivered_at < $1)
                    OR (failed_at IS NOT NULL AND failed_at < $1)
                    OR created_at < $2",
                p![delivered_cutoff, cutoff],
            )?;
            // Handled events keep only their key (for dedupe) for a day.
            c.exec(
                "DELETE FROM inbox WHERE handled_at IS NOT NULL AND handled_at < $1",
                p![now - chrono::Duration::days(1)],
            )?;
            p.tickets = c.exec(
                "DELETE FROM tickets WHERE status = 'resolved' AND resolved_at < $1",
                p![cutoff],
            )?;
            p.users = c.exec(
                "DELETE FROM users WHERE last_seen_at < $1
                   AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.user_id = users.id)
                   AND NOT EXISTS (SELECT 1 FROM tickets t WHERE t.user_id = users.id)
                   AND NOT EXISTS (SELECT 1 FROM analyses a WHERE a.user_id = users.id)
                   AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.user_id = users.id AND o.delivered_at IS NULL)",
                p![cutoff],
            )?;
            Ok(p)
        })
    }

    fn dump_all(&self) -> Result<Vec<(String, Vec<String>)>> {
        let mut c = self.conn()?;
        let tables: Vec<String> = c
            .query(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename",
                p![],
            )?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<std::result::Result<_, _>>()?;
        let mut out = Vec::new();
        for t in tables {
            // Each row as PostgreSQL's text form of the whole record.
            let quoted = format!("\"{}\"", t.replace('"', "\"\""));
            let rows: Vec<String> = c
                .query(&format!("SELECT r::text FROM {quoted} r"), p![])?
                .iter()
                .map(|r| r.try_get(0))
                .collect::<std::result::Result<_, _>>()?;
            out.push((t, rows));
        }
        Ok(out)
    }
}
