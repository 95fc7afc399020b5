//! `Stats` on PostgreSQL (days are `date`, not text).

use super::*;

impl Stats for PgStore {
    fn stat(
        &self,
        user: &UserRow,
        now: DateTime<Utc>,
        kind: &str,
        detail: Option<&str>,
        value: Option<f64>,
    ) -> Result<()> {
        insert_stat(
            &mut self.conn()?,
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
        self.tx(|c| {
            c.exec(
                "UPDATE users SET region = $2 WHERE id = $1",
                p![user_id, region.to_string()],
            )?;
            c.exec(
                "UPDATE stats SET region = $2 WHERE region = 'unknown'
                   AND subject = (SELECT subject FROM users WHERE id = $1)",
                p![user_id, region.to_string()],
            )?;
            Ok(())
        })
    }

    fn stats(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<StatRow>> {
        self.conn()?
            .query(
                "SELECT day, platform, region, subject, kind, detail, value FROM stats
                 WHERE day >= $1 AND day <= $2 ORDER BY id",
                p![from, to],
            )?
            .iter()
            .map(|r| {
                Ok(StatRow {
                    day: get(r, "day")?,
                    platform: get(r, "platform")?,
                    region: get(r, "region")?,
                    subject: get(r, "subject")?,
                    kind: get(r, "kind")?,
                    detail: get(r, "detail")?,
                    value: get(r, "value")?,
                })
            })
            .collect()
    }

    fn gap_questions(&self, since: DateTime<Utc>) -> Result<Vec<GapQuestion>> {
        // The question is the user's message just before the bot's.
        self.conn()?
            .query(
                "SELECT b.created_at, COALESCE(q.lang, b.lang, 'sv') AS lang, q.text,
                        CASE WHEN b.outcome = 'abstained' THEN 'abstained' ELSE 'downvoted' END AS why
                 FROM messages b
                 JOIN messages q ON q.id = (SELECT MAX(id) FROM messages
                                             WHERE user_id = b.user_id AND role = 'user' AND id < b.id)
                 WHERE b.role = 'bot' AND b.created_at >= $1
                   AND (b.outcome = 'abstained'
                        OR EXISTS (SELECT 1 FROM feedback f WHERE f.message_id = b.id AND f.vote < 0))
                 ORDER BY b.id",
                p![since],
            )?
            .iter()
            .map(|r| {
                Ok(GapQuestion {
                    day: get::<DateTime<Utc>>(r, "created_at")?.date_naive(),
                    lang: lang_of(&get::<String>(r, "lang")?),
                    text: get(r, "text")?,
                    why: get(r, "why")?,
                })
            })
            .collect()
    }
}

pub(super) fn insert_stat(
    c: &mut Conn<'_>,
    user: &UserRow,
    now: DateTime<Utc>,
    st: &NewStat<'_>,
) -> Result<()> {
    c.exec(
        "INSERT INTO stats (day, platform, region, subject, kind, detail, value)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        p![
            now.date_naive(),
            user.platform.as_str().to_string(),
            user.region.clone().unwrap_or_else(|| "unknown".into()),
            user.subject.clone(),
            st.kind.to_string(),
            own(st.detail),
            st.value
        ],
    )?;
    Ok(())
}
