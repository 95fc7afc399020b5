//! Anonymous counters for the follow-up report, and the questions the bot
//! could not answer (for the project team).
//!
//! `Stats` is the contract and `Store` (SQLite) implements it here;
//! `tests/tests/store_contract.rs` checks any implementation against it.

use super::*;

pub trait Stats {
    /// Records an anonymous statistic for the user (see migration 3).
    fn stat(
        &self,
        user: &UserRow,
        now: DateTime<Utc>,
        kind: &str,
        detail: Option<&str>,
        value: Option<f64>,
    ) -> Result<()>;

    /// Sets the user's region, and gives the user's earlier statistics
    /// that region too, so the report's region split covers the whole
    /// relationship and not only what came after the user said it.
    fn set_region(&self, user_id: i64, region: &str) -> Result<()>;

    /// Statistics with `from <= day <= to`, oldest first.
    fn stats(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<StatRow>>;

    /// Questions abstained on or voted down since `since` (still within
    /// retention: the text is what the report shows as examples).
    fn gap_questions(&self, since: DateTime<Utc>) -> Result<Vec<GapQuestion>>;
}

impl Stats for Store {
    fn stat(
        &self,
        user: &UserRow,
        now: DateTime<Utc>,
        kind: &str,
        detail: Option<&str>,
        value: Option<f64>,
    ) -> Result<()> {
        insert_stat(
            &*self.lock()?,
            user,
            now,
            &NewStat {
                kind,
                detail,
                value,
            },
        )
    }

    fn set_region(&self, user_id: i64, region: &str) -> Result<()> {
        self.tx(|tx| {
            tx.exec(
                "UPDATE users SET region = ?2 WHERE id = ?1",
                params![user_id, region],
            )?;
            tx.exec(
                "UPDATE stats SET region = ?2 WHERE region = 'unknown'
                   AND subject = (SELECT subject FROM users WHERE id = ?1)",
                params![user_id, region],
            )?;
            Ok(())
        })
    }

    fn stats(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<StatRow>> {
        let conn = self.lock()?;
        let mut st = conn.prepare(
            "SELECT day, platform, region, subject, kind, detail, value FROM stats
             WHERE day >= ?1 AND day <= ?2 ORDER BY id",
        )?;
        let rows = st.query_map(params![from.to_string(), to.to_string()], |r| {
            let day: String = r.get(0)?;
            Ok(StatRow {
                day: NaiveDate::parse_from_str(&day, "%Y-%m-%d").unwrap_or_default(),
                platform: r.get(1)?,
                region: r.get(2)?,
                subject: r.get(3)?,
                kind: r.get(4)?,
                detail: r.get(5)?,
                value: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn gap_questions(&self, since: DateTime<Utc>) -> Result<Vec<GapQuestion>> {
        let conn = self.lock()?;
        // The question is the user's message just before the bot's.
        let mut st = conn.prepare(
            "SELECT b.created_at, COALESCE(q.lang, b.lang, 'sv'), q.text,
                    CASE WHEN b.outcome = 'abstained' THEN 'abstained' ELSE 'downvoted' END
             FROM messages b
             JOIN messages q ON q.id = (SELECT MAX(id) FROM messages
                                         WHERE user_id = b.user_id AND role = 'user' AND id < b.id)
             WHERE b.role = 'bot' AND b.created_at >= ?1
               AND (b.outcome = 'abstained'
                    OR EXISTS (SELECT 1 FROM feedback f WHERE f.message_id = b.id AND f.vote < 0))
             ORDER BY b.id",
        )?;
        let rows = st.query_map([ts(since)], |r| {
            Ok(GapQuestion {
                day: parse_ts(&r.get::<_, String>(0)?).date_naive(),
                lang: lang_of(&r.get::<_, String>(1)?),
                text: r.get(2)?,
                why: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

pub(super) fn insert_stat(
    conn: &Connection,
    user: &UserRow,
    now: DateTime<Utc>,
    st: &NewStat<'_>,
) -> Result<()> {
    conn.exec(
        "INSERT INTO stats (day, platform, region, subject, kind, detail, value)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            now.date_naive().to_string(),
            user.platform.as_str(),
            user.region.as_deref().unwrap_or("unknown"),
            user.subject,
            st.kind,
            st.detail,
            st.value
        ],
    )?;
    Ok(())
}
