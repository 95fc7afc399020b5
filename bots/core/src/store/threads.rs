//! Where tickets live on the adviser side and the platforms' read positions:
//! a ticket's thread or topic per platform, the messages Kraft posted there,
//! the status note, and named cursors.
//!
//! `Threads` is the contract and `Store` (SQLite) implements it here;
//! `tests/tests/store_contract.rs` checks any implementation against it.

use super::*;

pub trait Threads {
    /// Writes a named cursor (a platform's read position, a followed chat).
    fn set_cursor(&self, name: &str, value: &str) -> Result<()>;

    /// The adviser-side threads on `platform` of tickets not resolved.
    fn open_threads(&self, platform: Platform) -> Result<Vec<String>>;

    /// Reads a named cursor.
    fn cursor(&self, name: &str) -> Result<Option<String>>;

    /// The adviser-side thread (topic, reply chain) of a ticket.
    fn thread_of(&self, ticket: i64, platform: Platform) -> Result<Option<(String, String)>>;

    /// Records the thread (Telegram topic, Discord thread) that holds a
    /// ticket on the adviser side of `platform`.
    fn set_thread(&self, ticket: i64, platform: Platform, chat: &str, thread: &str) -> Result<()>;

    /// Forgets a ticket's adviser-side thread (it is gone, or creating it
    /// was refused), so the next send makes a new one.
    fn clear_thread(&self, ticket: i64, platform: Platform) -> Result<()>;

    /// Follows a platform chat that moved to a new id (a Telegram group
    /// upgraded to a supergroup): the move is recorded under `cursor` (so
    /// it survives a restart) and the tickets' threads and remembered
    /// messages of the old chat point at the new one, in one transaction.
    fn move_chat(&self, platform: Platform, from: &str, to: &str, cursor: &str) -> Result<()>;

    /// The ticket whose thread `thread` is (reverse of `thread_of`).
    fn ticket_of_thread(&self, platform: Platform, chat: &str, thread: &str)
        -> Result<Option<i64>>;

    /// Remembers that a message in the adviser chat belongs to a ticket, so
    /// a reply to it finds the ticket.
    fn remember_message(
        &self,
        platform: Platform,
        chat: &str,
        message: &str,
        ticket: i64,
    ) -> Result<()>;

    /// Remembers the message that carries a ticket's buttons in the
    /// adviser room (its note) and what they show; the first one stays.
    fn set_note(
        &self,
        ticket: i64,
        platform: Platform,
        chat: &str,
        message: &str,
        shown: &str,
    ) -> Result<()>;

    /// The ticket's note on `platform`: (chat, message id, what its
    /// buttons show).
    fn note_of(&self, ticket: i64, platform: Platform) -> Result<Option<(String, String, String)>>;

    /// What a ticket's note shows now, after an edit.
    fn set_note_shown(&self, ticket: i64, platform: Platform, shown: &str) -> Result<()>;

    /// The ticket a message Kraft posted on the adviser side belongs to
    /// (an adviser replying to it replies to that ticket).
    fn ticket_of_message(
        &self,
        platform: Platform,
        chat: &str,
        message: &str,
    ) -> Result<Option<i64>>;
}

impl Threads for Store {
    fn set_cursor(&self, name: &str, value: &str) -> Result<()> {
        let conn = self.lock()?;
        Ok(put_cursor(&conn, name, value)?)
    }

    fn open_threads(&self, platform: Platform) -> Result<Vec<String>> {
        let conn = self.lock()?;
        let mut st = conn.prepare(
            "SELECT th.thread FROM threads th JOIN tickets t ON t.id = th.ticket_id
              WHERE th.platform = ?1 AND t.status != 'resolved' ORDER BY t.id",
        )?;
        let rows = st
            .query_map([platform.as_str()], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    fn cursor(&self, name: &str) -> Result<Option<String>> {
        Ok(self
            .lock()?
            .row("SELECT value FROM cursors WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()?)
    }

    fn thread_of(&self, ticket: i64, platform: Platform) -> Result<Option<(String, String)>> {
        Ok(self
            .lock()?
            .row(
                "SELECT chat_id, thread FROM threads WHERE ticket_id = ?1 AND platform = ?2",
                params![ticket, platform.as_str()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    fn set_thread(&self, ticket: i64, platform: Platform, chat: &str, thread: &str) -> Result<()> {
        self.lock()?.exec(
            "INSERT INTO threads (ticket_id, platform, chat_id, thread) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (ticket_id, platform) DO UPDATE SET chat_id = excluded.chat_id, thread = excluded.thread",
            params![ticket, platform.as_str(), chat, thread],
        )?;
        Ok(())
    }

    fn clear_thread(&self, ticket: i64, platform: Platform) -> Result<()> {
        self.lock()?.exec(
            "DELETE FROM threads WHERE ticket_id = ?1 AND platform = ?2",
            params![ticket, platform.as_str()],
        )?;
        Ok(())
    }

    fn move_chat(&self, platform: Platform, from: &str, to: &str, cursor: &str) -> Result<()> {
        self.tx(|tx| {
            put_cursor(tx, cursor, to)?;
            tx.exec(
                "UPDATE threads SET chat_id = ?3 WHERE platform = ?1 AND chat_id = ?2",
                params![platform.as_str(), from, to],
            )?;
            tx.exec(
                "UPDATE OR IGNORE thread_messages SET chat_id = ?3 WHERE platform = ?1 AND chat_id = ?2",
                params![platform.as_str(), from, to],
            )?;
            Ok(())
        })
    }

    fn ticket_of_thread(
        &self,
        platform: Platform,
        chat: &str,
        thread: &str,
    ) -> Result<Option<i64>> {
        Ok(self
            .lock()?
            .row(
                "SELECT ticket_id FROM threads WHERE platform = ?1 AND chat_id = ?2 AND thread = ?3",
                params![platform.as_str(), chat, thread],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn remember_message(
        &self,
        platform: Platform,
        chat: &str,
        message: &str,
        ticket: i64,
    ) -> Result<()> {
        self.lock()?.exec(
            "INSERT INTO thread_messages (platform, chat_id, message_id, ticket_id)
             SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM tickets WHERE id = ?4)
             ON CONFLICT DO NOTHING",
            params![platform.as_str(), chat, message, ticket],
        )?;
        Ok(())
    }

    fn set_note(
        &self,
        ticket: i64,
        platform: Platform,
        chat: &str,
        message: &str,
        shown: &str,
    ) -> Result<()> {
        self.lock()?.exec(
            "INSERT OR IGNORE INTO notes (ticket_id, platform, chat_id, message_id, shown)
             SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM tickets WHERE id = ?1)",
            params![ticket, platform.as_str(), chat, message, shown],
        )?;
        Ok(())
    }

    fn note_of(&self, ticket: i64, platform: Platform) -> Result<Option<(String, String, String)>> {
        Ok(self
            .lock()?
            .row(
                "SELECT chat_id, message_id, shown FROM notes WHERE ticket_id = ?1 AND platform = ?2",
                params![ticket, platform.as_str()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?)
    }

    fn set_note_shown(&self, ticket: i64, platform: Platform, shown: &str) -> Result<()> {
        self.lock()?.exec(
            "UPDATE notes SET shown = ?3 WHERE ticket_id = ?1 AND platform = ?2",
            params![ticket, platform.as_str(), shown],
        )?;
        Ok(())
    }

    fn ticket_of_message(
        &self,
        platform: Platform,
        chat: &str,
        message: &str,
    ) -> Result<Option<i64>> {
        Ok(self
            .lock()?
            .row(
                "SELECT ticket_id FROM thread_messages WHERE platform = ?1 AND chat_id = ?2 AND message_id = ?3",
                params![platform.as_str(), chat, message],
                |r| r.get(0),
            )
            .optional()?)
    }
}
