//! `Threads` on PostgreSQL.

use super::*;

fn s(v: &str) -> String {
    v.to_string()
}

fn pl(p: Platform) -> String {
    p.as_str().to_string()
}

fn pair(r: &PgRow) -> Result<(String, String)> {
    Ok((r.try_get(0)?, r.try_get(1)?))
}

impl Threads for PgStore {
    fn set_cursor(&self, name: &str, value: &str) -> Result<()> {
        put_cursor(&mut self.conn()?, name, value)
    }

    fn open_threads(&self, platform: Platform) -> Result<Vec<String>> {
        self.conn()?
            .query(
                "SELECT th.thread FROM threads th JOIN tickets t ON t.id = th.ticket_id
                  WHERE th.platform = $1 AND t.status != 'resolved' ORDER BY t.id",
                p![pl(platform)],
            )?
            .iter()
            .map(|r| Ok(r.try_get(0)?))
            .collect()
    }

    fn cursor(&self, name: &str) -> Result<Option<String>> {
        self.conn()?
            .opt("SELECT value FROM cursors WHERE name = $1", p![s(name)])?
            .map(|r| Ok(r.try_get(0)?))
            .transpose()
    }

    fn thread_of(&self, ticket: i64, platform: Platform) -> Result<Option<(String, String)>> {
        self.conn()?
            .opt(
                "SELECT chat_id, thread FROM threads WHERE ticket_id = $1 AND platform = $2",
                p![ticket, pl(platform)],
            )?
            .as_ref()
            .map(pair)
            .transpose()
    }

    fn set_thread(&self, ticket: i64, platform: Platform, chat: &str, thread: &str) -> Result<()> {
        self.conn()?.exec(
            "INSERT INTO threads (ticket_id, platform, chat_id, thread) VALUES ($1, $2, $3, $4)
             ON CONFLICT (ticket_id, platform) DO UPDATE SET chat_id = excluded.chat_id, thread = excluded.thread",
            p![ticket, pl(platform), s(chat), s(thread)],
        )?;
        Ok(())
    }

    fn clear_thread(&self, ticket: i64, platform: Platform) -> Result<()> {
        self.conn()?.exec(
            "DELETE FROM threads WHERE ticket_id = $1 AND platform = $2",
            p![ticket, pl(platform)],
        )?;
        Ok(())
    }

    fn move_chat(&self, platform: Platform, from: &str, to: &str, cursor: &str) -> Result<()> {
        self.tx(|c| {
            put_cursor(c, cursor, to)?;
            c.exec(
                "UPDATE threads SET chat_id = $3 WHERE platform = $1 AND chat_id = $2",
                p![pl(platform), s(from), s(to)],
            )?;
            // SQLite's UPDATE OR IGNORE: a message already known under the
            // new chat keeps its row there, the old one stays as it was.
            c.exec(
                "UPDATE thread_messages o SET chat_id = $3 WHERE platform = $1 AND chat_id = $2
                   AND NOT EXISTS (SELECT 1 FROM thread_messages n
                                    WHERE n.platform = $1 AND n.chat_id = $3
                                      AND n.message_id = o.message_id)",
                p![pl(platform), s(from), s(to)],
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
        self.conn()?
            .opt(
                "SELECT ticket_id FROM threads WHERE platform = $1 AND chat_id = $2 AND thread = $3",
                p![pl(platform), s(chat), s(thread)],
            )?
            .map(|r| Ok(r.try_get(0)?))
            .transpose()
    }

    fn remember_message(
        &self,
        platform: Platform,
        chat: &str,
        message: &str,
        ticket: i64,
    ) -> Result<()> {
        self.conn()?.exec(
            "INSERT INTO thread_messages (platform, chat_id, message_id, ticket_id)
             SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM tickets WHERE id = $4)
             ON CONFLICT DO NOTHING",
            p![pl(platform), s(chat), s(message), ticket],
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
        self.conn()?.exec(
            "INSERT INTO notes (ticket_id, platform, chat_id, message_id, shown)
             SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM tickets WHERE id = $1)
             ON CONFLICT DO NOTHING",
            p![ticket, pl(platform), s(chat), s(message), s(shown)],
        )?;
        Ok(())
    }

    fn note_of(&self, ticket: i64, platform: Platform) -> Result<Option<(String, String, String)>> {
        self.conn()?
            .opt(
                "SELECT chat_id, message_id, shown FROM notes WHERE ticket_id = $1 AND platform = $2",
                p![ticket, pl(platform)],
            )?
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .transpose()
    }

    fn set_note_shown(&self, ticket: i64, platform: Platform, shown: &str) -> Result<()> {
        self.conn()?.exec(
            "UPDATE notes SET shown = $3 WHERE ticket_id = $1 AND platform = $2",
            p![ticket, pl(platform), s(shown)],
        )?;
        Ok(())
    }

    fn ticket_of_message(
        &self,
        platform: Platform,
        chat: &str,
        message: &str,
    ) -> Result<Option<i64>> {
        self.conn()?
            .opt(
                "SELECT ticket_id FROM thread_messages WHERE platform = $1 AND chat_id = $2 AND message_id = $3",
                p![pl(platform), s(chat), s(message)],
            )?
            .map(|r| Ok(r.try_get(0)?))
            .transpose()
    }
}
