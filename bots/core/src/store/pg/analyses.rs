//! `Analyses` on PostgreSQL.

use super::*;

impl Analyses for PgStore {
    fn analysis(&self, user_id: i64) -> Result<Option<AnalysisRow>> {
        let Some(r) = self.conn()?.opt(
            "SELECT user_id, status, step, answers, started_at, updated_at
             FROM analyses WHERE user_id = $1",
            p![user_id],
        )?
        else {
            return Ok(None);
        };
        Ok(Some(AnalysisRow {
            user_id: get(&r, "user_id")?,
            status: get(&r, "status")?,
            step: get(&r, "step")?,
            answers: get(&r, "answers")?,
            started_at: get(&r, "started_at")?,
            updated_at: get(&r, "updated_at")?,
        }))
    }

    fn save_analysis(&self, a: &AnalysisRow) -> Result<()> {
        self.conn()?.exec(
            "INSERT INTO analyses (user_id, status, step, answers, started_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (user_id) DO UPDATE SET status = excluded.status, step = excluded.step,
                answers = excluded.answers, started_at = excluded.started_at,
                updated_at = excluded.updated_at",
            p![
                a.user_id,
                a.status.clone(),
                a.step,
                a.answers.clone(),
                a.started_at,
                a.updated_at
            ],
        )?;
        Ok(())
    }
}
