//! `Users` on PostgreSQL: the same statements as SQLite's, in PostgreSQL's
//! dialect; random tokens come from `gen_random_uuid()`.

use super::*;

impl Users for PgStore {
    fn touch_user(&self, u: &UserRef, now: DateTime<Utc>) -> Result<UserRow> {
        self.tx(|c| {
            let before: Option<DateTime<Utc>> = c
                .opt(
                    "SELECT last_seen_at FROM users WHERE platform = $1 AND external_id = $2",
                    p![u.platform.as_str().to_string(), u.user_id.clone()],
                )?
                .map(|r| r.try_get(0))
                .transpose()?;
            let private = (u.privately == Privately::Here).then(|| u.chat_id.clone());
            // A new user starts in the language the platform says their
            // app uses; later messages and /lang change it.
            let r = c
                .opt(
                    "INSERT INTO users AS x (platform, external_id, chat_id, created_at, last_seen_at,
                                        subject, private_chat, lang)
                     VALUES ($1, $2, $3, $4, $4, replace(gen_random_uuid()::text, '-', ''), $5, $6)
                     ON CONFLICT (platform, external_id)
                     DO UPDATE SET chat_id = excluded.chat_id, last_seen_at = excluded.last_seen_at,
                        private_chat = COALESCE(excluded.private_chat, x.private_chat)
                     RETURNING *",
                    p![
                        u.platform.as_str().to_string(),
                        u.user_id.clone(),
                        u.chat_id.clone(),
                        now,
                        private,
                        u.lang_hint.unwrap_or_default().as_str().to_string()
                    ],
                )?
                .ok_or(StoreError::PgNoRow)?;
            let mut row = user_row(&r)?;
            row.seen_before = before;
            row.privately = u.privately.clone();
            Ok(row)
        })
    }

    fn find_user(&self, platform: Platform, external_id: &str) -> Result<Option<UserRow>> {
        self.conn()?
            .opt(
                "SELECT * FROM users WHERE platform = $1 AND external_id = $2",
                p![platform.as_str().to_string(), external_id.to_string()],
            )?
            .as_ref()
            .map(user_row)
            .transpose()
    }

    fn user(&self, id: i64) -> Result<Option<UserRow>> {
        self.conn()?
            .opt("SELECT * FROM users WHERE id = $1", p![id])?
            .as_ref()
            .map(user_row)
            .transpose()
    }

    fn save_dialogue(&self, u: &UserRow) -> Result<()> {
        update_dialogue(&mut self.conn()?, u)
    }

    fn first_notice(&self, u: &UserRow, now: DateTime<Utc>) -> Result<bool> {
        // The usual case costs nothing: this identity has seen it.
        if u.noticed {
            return Ok(false);
        }
        let person = person_of(&u.external_id).to_string();
        self.tx(|c| {
            let seen = c.opt(
                &format!(
                    "SELECT 1 FROM users u WHERE {SAME_PERSON} AND u.notice_at IS NOT NULL LIMIT 1"
                ),
                p![u.platform.as_str().to_string(), person],
            )?;
            c.exec(
                "UPDATE users SET notice_at = $2 WHERE id = $1 AND notice_at IS NULL",
                p![u.id, now],
            )?;
            Ok(seen.is_none())
        })
    }

    fn users_in_conversation(
        &self,
        platform: Platform,
        since: DateTime<Utc>,
    ) -> Result<Vec<String>> {
        self.conn()?
            .query(
                "SELECT external_id FROM users u
                  WHERE platform = $1
                    AND (last_seen_at >= $2 OR EXISTS (SELECT 1 FROM tickets t
                         WHERE t.user_id = u.id AND t.status != 'resolved'))
                  ORDER BY last_seen_at DESC",
                p![platform.as_str().to_string(), since],
            )?
            .iter()
            .map(|r| get(r, "external_id"))
            .collect()
    }
}

pub(super) fn update_dialogue(c: &mut Conn<'_>, u: &UserRow) -> Result<()> {
    c.exec(
        "UPDATE users SET lang = $2, dialogue = $3, lang_pref = $4 WHERE id = $1",
        p![
            u.id,
            u.lang.as_str().to_string(),
            serde_json::to_string(&u.dialogue).unwrap_or_default(),
            u.lang_pref.map(|l| l.as_str().to_string())
        ],
    )?;
    Ok(())
}
