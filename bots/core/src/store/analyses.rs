//! Needs analyses in progress: one row per user with the step reached and the
//! answers so far.
//!
//! `Analyses` is the contract and `Store` (SQLite) implements it here;
//! `tests/tests/store_contract.rs` checks any implementation against it.

use super::*;

pub trait Analyses {
    /// The user's needs analysis, if they started one.
    fn analysis(&self, user_id: i64) -> Result<Option<AnalysisRow>>;

    /// Creates or replaces the user's needs analysis.
    fn save_analysis(&self, a: &AnalysisRow) -> Result<()>;
}

impl Analyses for Store {
    fn analysis(&self, user_id: i64) -> Result<Option<AnalysisRow>> {
        Ok(self
            .lock()?
            .row(
                "SELECT user_id, status, step, answers, started_at, updated_at
                 FROM analyses WHERE user_id = ?1",
                [user_id],
                |r| {
                    Ok(AnalysisRow {
                        user_id: r.get(0)?,
                        status: r.get(1)?,
                        step: r.get(2)?,
                        answers: r.get(3)?,
                        started_at: parse_ts(&r.get::<_, String>(4)?),
                        updated_at: parse_ts(&r.get::<_, String>(5)?),
                    })
                },
            )
            .optional()?)
    }

    fn save_analysis(&self, a: &AnalysisRow) -> Result<()> {
        self.lock()?.exec(
            "INSERT INTO analyses (user_id, status, step, answers, started_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (user_id) DO UPDATE SET status = excluded.status, step = excluded.step,
                answers = excluded.answers, started_at = excluded.started_at,
                updated_at = excluded.updated_at",
            params![
                a.user_id,
                a.status,
                a.step,
                a.answers,
                ts(a.started_at),
                ts(a.updated_at)
            ],
        )?;
        Ok(())
    }
}
