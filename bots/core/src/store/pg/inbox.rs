//! `Inbox` on PostgreSQL: the event key is unique in the database
//! (`UNIQUE (platform, key)`, `ON CONFLICT DO NOTHING`), so two instances
//! receiving the same event store it once. Which instance handles a
//! chat's events is settled by a lease on the chat (`pump`, through
//! `Coordination`), and `inbox_done` marks an event handled only once.

use super::*;

impl Inbox for PgStore {
    fn inbox_add(
        &self,
        platform: Platform,
        events: &[InboxEvent<'_>],
        cursor: Option<(&str, &str)>,
        now: DateTime<Utc>,
    ) -> Result<usize> {
        self.tx(|c| {
            let mut new = 0;
            for e in events {
                new += c.exec(
                    "INSERT INTO inbox (platform, key, chat, payload, received_at)
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (platform, key) DO NOTHING",
                    p![
                        platform.as_str().to_string(),
                        e.key.to_string(),
                        e.chat.to_string(),
                        e.payload.to_string(),
                        now
                    ],
                )?;
            }
            if let Some((name, value)) = cursor {
                put_cursor(c, name, value)?;
            }
            Ok(new)
        })
    }

    fn inbox_pending(&self, platform: Platform, limit: usize) -> Result<Vec<InboxRow>> {
        self.conn()?
            .query(
                "SELECT id, key, chat, COALESCE(payload, '') AS payload FROM inbox
                  WHERE platform = $1 AND handled_at IS NULL ORDER BY id LIMIT $2",
                p![platform.as_str().to_string(), limit as i64],
            )?
            .iter()
            .map(inbox_row)
            .collect()
    }

    fn inbox_pending_chat(
        &self,
        platform: Platform,
        chat: &str,
        limit: usize,
    ) -> Result<Vec<InboxRow>> {
        self.conn()?
            .query(
                "SELECT id, key, chat, COALESCE(payload, '') AS payload FROM inbox
                  WHERE platform = $1 AND handled_at IS NULL AND chat = $2 ORDER BY id LIMIT $3",
                p![
                    platform.as_str().to_string(),
                    chat.to_string(),
                    limit as i64
                ],
            )?
            .iter()
            .map(inbox_row)
            .collect()
    }

    fn inbox_oldest_unhandled(&self) -> Result<Option<DateTime<Utc>>> {
        self.conn()?.value(
            "SELECT min(received_at) FROM inbox WHERE handled_at IS NULL",
            p![],
        )
    }

    fn inbox_dead_letter(&self, id: i64, error: &str, now: DateTime<Utc>) -> Result<bool> {
        Ok(self.conn()?.exec(
            "UPDATE inbox SET handled_at = $2, payload = NULL, error = $3
              WHERE id = $1 AND handled_at IS NULL",
            p![id, now, error.to_string()],
        )? > 0)
    }

    fn inbox_dead_letters(&self, limit: usize) -> Result<Vec<(String, String, String)>> {
        self.conn()?
            .query(
                "SELECT platform, key, error FROM inbox WHERE error IS NOT NULL
                  ORDER BY id DESC LIMIT $1",
                p![limit as i64],
            )?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect()
    }

    fn inbox_unhandled(&self) -> Result<usize> {
        let n: i64 = self
            .conn()?
            .value("SELECT count(*) FROM inbox WHERE handled_at IS NULL", p![])?;
        Ok(n as usize)
    }

    fn inbox_done(
        &self,
        id: i64,
        replies: &[NewDelivery<'_>],
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Option<Vec<Delivery>>> {
        self.tx(|c| {
            // The row lock this UPDATE takes makes a concurrent second
            // `inbox_done` of the same event wait, then change nothing.
            let n = c.exec(
                "UPDATE inbox SET handled_at = $2, payload = NULL WHERE id = $1 AND handled_at IS NULL",
                p![id, now],
            )?;
            if n == 0 {
                return Ok(None);
            }
            let mut out = Vec::new();
            for d in replies {
                if let Some(d) = insert_delivery(c, d, now, Some(now + lease))? {
                    out.push(d);
                }
            }
            Ok(Some(out))
        })
    }
}

/// An inbox row from `SELECT id, key, chat, payload`.
fn inbox_row(r: &PgRow) -> Result<InboxRow> {
    Ok(InboxRow {
        id: get(r, "id")?,
        key: get(r, "key")?,
        chat: get(r, "chat")?,
        payload: get(r, "payload")?,
    })
}
