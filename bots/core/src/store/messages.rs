//! The conversation history: what users wrote and what Kraft or an adviser
//! answered, with the outcome, sources and feedback of each answer.
//!
//! `Messages` is the contract and `Store` (SQLite) implements it here;
//! `tests/tests/store_contract.rs` checks any implementation against it.

use super::*;

pub trait Messages {
    /// Keeps one message of the conversation; returns its id.
    fn add_message(
        &self,
        user_id: i64,
        role: Role,
        m: &NewMessage<'_>,
        now: DateTime<Utc>,
    ) -> Result<i64>;

    /// A turn's last writes in one transaction: the bot's reply to `user`,
    /// the statistics the turn counts and `user`'s dialogue state (as
    /// `save_dialogue`). Returns the reply's id. One commit instead of one
    /// per row (a commit was the largest single cost of a turn after the
    /// ranking), and a crash keeps all of it or none.
    fn add_reply(
        &self,
        user: &UserRow,
        m: &NewMessage<'_>,
        stats: &[NewStat<'_>],
        now: DateTime<Utc>,
    ) -> Result<i64>;

    /// The newest `limit` messages of a user, oldest first.
    fn recent_messages(&self, user_id: i64, limit: usize) -> Result<Vec<MessageRow>>;

    /// The retrieval query of the newest answer among a user's newest
    /// `within` messages (what a follow-up question continues), if one
    /// has a query. Every question turn asks this, so it reads two
    /// columns instead of whole messages.
    fn last_query(&self, user_id: i64, within: usize) -> Result<Option<String>>;

    /// One message by id, if it is still kept.
    fn message(&self, id: i64) -> Result<Option<MessageRow>>;

    /// Records a vote; a second vote on the same answer replaces the first.
    fn set_feedback(
        &self,
        user_id: i64,
        message_id: i64,
        vote: i8,
        now: DateTime<Utc>,
    ) -> Result<()>;
}

impl Messages for Store {
    fn add_message(
        &self,
        user_id: i64,
        role: Role,
        m: &NewMessage<'_>,
        now: DateTime<Utc>,
    ) -> Result<i64> {
        let conn = self.lock()?;
        insert_message(&conn, user_id, role, m, now)
    }

    fn add_reply(
        &self,
        user: &UserRow,
        m: &NewMessage<'_>,
        stats: &[NewStat<'_>],
        now: DateTime<Utc>,
    ) -> Result<i64> {
        self.tx(|tx| {
            for st in stats {
                super::stats::insert_stat(tx, user, now, st)?;
            }
            let id = insert_message(tx, user.id, Role::Bot, m, now)?;
            super::users::update_dialogue(tx, user)?;
            Ok(id)
        })
    }

    fn recent_messages(&self, user_id: i64, limit: usize) -> Result<Vec<MessageRow>> {
        let conn = self.lock()?;
        // Read on every turn, so prepared once per connection. The limit is
        // part of the text, not a parameter: SQLite re-compiles a statement
        // whenever a LIMIT parameter is bound again (it plans with the
        // value), which `perf` put at one in twenty of a turn's samples.
        let mut st = conn.prepare_cached(&format!(
            "SELECT * FROM messages WHERE user_id = ?1 ORDER BY id DESC LIMIT {limit}"
        ))?;
        let mut v: Vec<MessageRow> = st
            .query_map(params![user_id], MessageRow::from_row)?
            .collect::<rusqlite::Result<_>>()?;
        v.reverse();
        Ok(v)
    }

    fn last_query(&self, user_id: i64, within: usize) -> Result<Option<String>> {
        let conn = self.lock()?;
        // The limit is part of the text, as in `recent_messages`.
        let mut st = conn.prepare_cached(&format!(
            "SELECT role, query FROM messages WHERE user_id = ?1 ORDER BY id DESC LIMIT {within}"
        ))?;
        let rows = st.query_map(params![user_id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
        })?;
        for row in rows {
            let (role, query) = row?;
            if Role::parse(&role) == Role::Bot && query.is_some() {
                return Ok(query);
            }
        }
        Ok(None)
    }

    fn message(&self, id: i64) -> Result<Option<MessageRow>> {
        Ok(self
            .lock()?
            .row(
                "SELECT * FROM messages WHERE id = ?1",
                [id],
                MessageRow::from_row,
            )
            .optional()?)
    }

    fn set_feedback(
        &self,
        user_id: i64,
        message_id: i64,
        vote: i8,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.lock()?.exec(
            "INSERT INTO feedback (user_id, message_id, vote, created_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (message_id) DO UPDATE SET vote = excluded.vote, created_at = excluded.created_at",
            params![user_id, message_id, vote as i64, ts(now)],
        )?;
        Ok(())
    }
}
