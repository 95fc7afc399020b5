//! `Messages` on PostgreSQL.

use super::*;

impl Messages for PgStore {
    fn add_message(
        &self,
        user_id: i64,
        role: Role,
        m: &NewMessage<'_>,
        now: DateTime<Utc>,
    ) -> Result<i64> {
        insert_message(&mut self.conn()?, user_id, role, m, now)
    }

    fn add_reply(
        &self,
        user: &UserRow,
        m: &NewMessage<'_>,
        stats: &[NewStat<'_>],
        now: DateTime<Utc>,
    ) -> Result<i64> {
        self.tx(|c| {
            for st in stats {
                super::stats::insert_stat(c, user, now, st)?;
            }
            let id = insert_message(c, user.id, Role::Bot, m, now)?;
            super::users::update_dialogue(c, user)?;
            Ok(id)
        })
    }

    fn recent_messages(&self, user_id: i64, limit: usize) -> Result<Vec<MessageRow>> {
        let mut v = self
            .conn()?
            .query(
                "SELECT * FROM messages WHERE user_id = $1 ORDER BY id DESC LIMIT $2",
                p![user_id, limit as i64],
            )?
            .iter()
            .map(message_row)
            .collect::<Result<Vec<_>>>()?;
        v.reverse();
        Ok(v)
    }

    fn last_query(&self, user_id: i64, within: usize) -> Result<Option<String>> {
        let rows = self.conn()?.query(
            "SELECT role, query FROM messages WHERE user_id = $1 ORDER BY id DESC LIMIT $2",
            p![user_id, within as i64],
        )?;
        for r in &rows {
            let query: Option<String> = get(r, "query")?;
            if Role::parse(&get::<String>(r, "role")?) == Role::Bot && query.is_some() {
                return Ok(query);
            }
        }
        Ok(None)
    }

    fn message(&self, id: i64) -> Result<Option<MessageRow>> {
        self.conn()?
            .opt("SELECT * FROM messages WHERE id = $1", p![id])?
            .as_ref()
            .map(message_row)
            .transpose()
    }

    fn set_feedback(
        &self,
        user_id: i64,
        message_id: i64,
        vote: i8,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.conn()?.exec(
            "INSERT INTO feedback (user_id, message_id, vote, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (message_id) DO UPDATE SET vote = excluded.vote, created_at = excluded.created_at",
            p![user_id, message_id, i64::from(vote), now],
        )?;
        Ok(())
    }
}
