//! The inbox: every platform event is kept before it is handled, so a crash
//! mid-way handles it again on restart; events of one chat are handled in
//! order; events that keep failing are dead-lettered so they cannot wedge the
//! chat.
//!
//! `Inbox` is the contract and `Store` (SQLite) implements it here;
//! `tests/tests/store_contract.rs` checks any implementation against it.

use super::*;

pub trait Inbox {
    /// Stores platform events before anything acts on them, and moves the
    /// platform's cursor in the same transaction, so an event is either
    /// kept or will be fetched again. Returns how many were new.
    fn inbox_add(
        &self,
        platform: Platform,
        events: &[InboxEvent<'_>],
        cursor: Option<(&str, &str)>,
        now: DateTime<Utc>,
    ) -> Result<usize>;

    /// Events not yet handled, oldest first.
    fn inbox_pending(&self, platform: Platform, limit: usize) -> Result<Vec<InboxRow>>;

    /// Events of one chat not yet handled, oldest first (what a process
    /// that has just leased the chat still has to do: another may have
    /// handled some since they were listed).
    fn inbox_pending_chat(
        &self,
        platform: Platform,
        chat: &str,
        limit: usize,
    ) -> Result<Vec<InboxRow>>;

    /// When the oldest event still waiting to be handled arrived.
    fn inbox_oldest_unhandled(&self) -> Result<Option<DateTime<Utc>>>;

    /// Gives up on an event that cannot be handled (its handling
    /// panicked): marks it handled with `error`, dropping its payload, so
    /// its chat goes on with the next event and a restart does not try it
    /// again. `false`: it was already handled.
    fn inbox_dead_letter(&self, id: i64, error: &str, now: DateTime<Utc>) -> Result<bool>;

    /// Dead-lettered events (platform, key, error), newest first.
    fn inbox_dead_letters(&self, limit: usize) -> Result<Vec<(String, String, String)>>;

    /// How many events wait to be handled, on every platform.
    fn inbox_unhandled(&self) -> Result<usize>;

    /// Marks an event handled (dropping its payload: the text lives on in
    /// `messages` only as long as retention allows) and queues its replies,
    /// leased to the caller, in one transaction. An event handled before
    /// queues nothing: `None`.
    fn inbox_done(
        &self,
        id: i64,
        replies: &[NewDelivery<'_>],
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Option<Vec<Delivery>>>;
}

impl Inbox for Store {
    fn inbox_add(
        &self,
        platform: Platform,
        events: &[InboxEvent<'_>],
        cursor: Option<(&str, &str)>,
        now: DateTime<Utc>,
    ) -> Result<usize> {
        self.tx(|tx| {
            let mut new = 0;
            for e in events {
                new += tx.exec(
                    "INSERT INTO inbox (platform, key, chat, payload, received_at)
                     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (platform, key) DO NOTHING",
                    params![platform.as_str(), e.key, e.chat, e.payload, ts(now)],
                )?;
            }
            if let Some((name, value)) = cursor {
                put_cursor(tx, name, value)?;
            }
            Ok(new)
        })
    }

    fn inbox_pending(&self, platform: Platform, limit: usize) -> Result<Vec<InboxRow>> {
        let conn = self.lock()?;
        let mut st = conn.prepare(
            "SELECT id, key, chat, COALESCE(payload, '') FROM inbox
              WHERE platform = ?1 AND handled_at IS NULL ORDER BY id LIMIT ?2",
        )?;
        let rows = st
            .query_map(params![platform.as_str(), limit as i64], inbox_row)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    fn inbox_pending_chat(
        &self,
        platform: Platform,
        chat: &str,
        limit: usize,
    ) -> Result<Vec<InboxRow>> {
        let conn = self.lock()?;
        let mut st = conn.prepare_cached(
            "SELECT id, key, chat, COALESCE(payload, '') FROM inbox
              WHERE platform = ?1 AND handled_at IS NULL AND chat = ?2 ORDER BY id LIMIT ?3",
        )?;
        let rows = st
            .query_map(params![platform.as_str(), chat, limit as i64], inbox_row)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    fn inbox_oldest_unhandled(&self) -> Result<Option<DateTime<Utc>>> {
        let oldest: Option<String> = self.lock()?.row(
            "SELECT min(received_at) FROM inbox WHERE handled_at IS NULL",
            [],
            |r| r.get(0),
        )?;
        Ok(oldest.as_deref().map(parse_ts))
    }

    fn inbox_dead_letter(&self, id: i64, error: &str, now: DateTime<Utc>) -> Result<bool> {
        Ok(self.lock()?.exec(
            "UPDATE inbox SET handled_at = ?2, payload = NULL, error = ?3
              WHERE id = ?1 AND handled_at IS NULL",
            params![id, ts(now), error],
        )? > 0)
    }

    fn inbox_dead_letters(&self, limit: usize) -> Result<Vec<(String, String, String)>> {
        let conn = self.lock()?;
        let mut st = conn.prepare(
            "SELECT platform, key, error FROM inbox WHERE error IS NOT NULL
              ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = st
            .query_map([limit as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    fn inbox_unhandled(&self) -> Result<usize> {
        Ok(self.lock()?.row(
            "SELECT count(*) FROM inbox WHERE handled_at IS NULL",
            [],
            |r| r.get::<_, i64>(0),
        )? as usize)
    }

    fn inbox_done(
        &self,
        id: i64,
        replies: &[NewDelivery<'_>],
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Option<Vec<Delivery>>> {
        self.tx(|tx| {
            let n = tx.exec(
                "UPDATE inbox SET handled_at = ?2, payload = NULL WHERE id = ?1 AND handled_at IS NULL",
                params![id, ts(now)],
            )?;
            if n == 0 {
                return Ok(None);
            }
            let mut out = Vec::new();
            for d in replies {
                if let Some(d) = insert_delivery(tx, d, now, Some(now + lease))? {
                    out.push(d);
                }
            }
            Ok(Some(out))
        })
    }
}

/// An inbox row from `SELECT id, key, chat, payload`.
fn inbox_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<InboxRow> {
    Ok(InboxRow {
        id: r.get(0)?,
        key: r.get(1)?,
        chat: r.get(2)?,
        payload: r.get(3)?,
    })
}
