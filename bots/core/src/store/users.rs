//! Users and where each one's conversation stands: finding or creating a user
//! by platform identity, the dialogue state, the one-time privacy notice, and
//! who is currently talking with an adviser.
//!
//! `Users` is the contract and `Store` (SQLite) implements it here;
//! `tests/tests/store_contract.rs` checks any implementation against it.

use super::*;

pub trait Users {
    /// Finds or creates the user, remembering the chat to answer in.
    fn touch_user(&self, u: &UserRef, now: DateTime<Utc>) -> Result<UserRow>;

    /// The user with this platform identity, if known (no row is made).
    fn find_user(&self, platform: Platform, external_id: &str) -> Result<Option<UserRow>>;

    /// The user with this id, if they still exist.
    fn user(&self, id: i64) -> Result<Option<UserRow>>;

    /// Stores where `u`'s conversation stands (`u.dialogue`); nothing else of the row.
    fn save_dialogue(&self, u: &UserRow) -> Result<()>;

    /// Marks the privacy notice as shown to the person behind `u`; true
    /// when it had not been shown to them before, in any of their chats
    /// on this platform (a Telegram group identity and the private chat
    /// are one person).
    fn first_notice(&self, u: &UserRow, now: DateTime<Utc>) -> Result<bool>;

    /// Users of `platform` who wrote since `since` or have a ticket that
    /// is not resolved (their external ids): whose chats a front-end that
    /// missed events reads again.
    fn users_in_conversation(
        &self,
        platform: Platform,
        since: DateTime<Utc>,
    ) -> Result<Vec<String>>;
}

impl Users for Store {
    fn touch_user(&self, u: &UserRef, now: DateTime<Utc>) -> Result<UserRow> {
        self.tx(|tx| {
            let before: Option<String> = tx
                .row(
                    "SELECT last_seen_at FROM users WHERE platform = ?1 AND external_id = ?2",
                    params![u.platform.as_str(), u.user_id],
                    |r| r.get(0),
                )
                .optional()?;
            let private = (u.privately == Privately::Here).then_some(u.chat_id.as_str());
            // A new user starts in the language the platform says their
            // app uses; later messages and /lang change it.
            tx.exec(
                "INSERT INTO users (platform, external_id, chat_id, created_at, last_seen_at, subject,
                                    private_chat, lang)
                 VALUES (?1, ?2, ?3, ?4, ?4, lower(hex(randomblob(16))), ?5, ?6)
                 ON CONFLICT (platform, external_id)
                 DO UPDATE SET chat_id = excluded.chat_id, last_seen_at = excluded.last_seen_at,
                    private_chat = COALESCE(excluded.private_chat, private_chat)",
                params![
                    u.platform.as_str(),
                    u.user_id,
                    u.chat_id,
                    ts(now),
                    private,
                    u.lang_hint.unwrap_or_default().as_str()
                ],
            )?;
            let mut row = tx.row(
                "SELECT * FROM users WHERE platform = ?1 AND external_id = ?2",
                params![u.platform.as_str(), u.user_id],
                UserRow::from_row,
            )?;
            row.seen_before = before.as_deref().map(parse_ts);
            row.privately = u.privately.clone();
            Ok(row)
        })
    }

    fn find_user(&self, platform: Platform, external_id: &str) -> Result<Option<UserRow>> {
        Ok(self
            .lock()?
            .row(
                "SELECT * FROM users WHERE platform = ?1 AND external_id = ?2",
                params![platform.as_str(), external_id],
                UserRow::from_row,
            )
            .optional()?)
    }

    fn user(&self, id: i64) -> Result<Option<UserRow>> {
        Ok(self
            .lock()?
            .row("SELECT * FROM users WHERE id = ?1", [id], UserRow::from_row)
            .optional()?)
    }

    fn save_dialogue(&self, u: &UserRow) -> Result<()> {
        update_dialogue(&*self.lock()?, u)
    }

    fn first_notice(&self, u: &UserRow, now: DateTime<Utc>) -> Result<bool> {
        // The usual case costs nothing: this identity has seen it.
        if u.noticed {
            return Ok(false);
        }
        let person = person_of(&u.external_id).to_string();
        self.tx(|tx| {
            let seen: Option<i64> = tx
                .row(
                    "SELECT 1 FROM users WHERE platform = ?1 AND notice_at IS NOT NULL
                       AND (external_id = ?2 OR substr(external_id, 1, length(?2) + 1) = ?2 || '@')
                     LIMIT 1",
                    params![u.platform.as_str(), person],
                    |r| r.get(0),
                )
                .optional()?;
            tx.exec(
                "UPDATE users SET notice_at = ?2 WHERE id = ?1 AND notice_at IS NULL",
                params![u.id, ts(now)],
            )?;
            Ok(seen.is_none())
        })
    }

    fn users_in_conversation(
        &self,
        platform: Platform,
        since: DateTime<Utc>,
    ) -> Result<Vec<String>> {
        let conn = self.lock()?;
        let mut st = conn.prepare(
            "SELECT external_id FROM users u
              WHERE platform = ?1
                AND (last_seen_at >= ?2 OR EXISTS (SELECT 1 FROM tickets t
                     WHERE t.user_id = u.id AND t.status != 'resolved'))
              ORDER BY last_seen_at DESC",
        )?;
        let rows = st
            .query_map(params![platform.as_str(), ts(since)], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }
}

pub(super) fn update_dialogue(conn: &Connection, u: &UserRow) -> Result<()> {
    conn.exec(
        "UPDATE users SET lang = ?2, dialogue = ?3, lang_pref = ?4 WHERE id = ?1",
        params![
            u.id,
            u.lang.as_str(),
            serde_json::to_string(&u.dialogue).unwrap_or_default(),
            u.lang_pref.map(Lang::as_str)
        ],
    )?;
    Ok(())
}
