//! `Coordination` on PostgreSQL, where several instances share the state:
//! `shared` is true, so the pump leases a chat before handling it and the
//! assistant keeps the flood limit here. A lease is one upsert that only
//! changes a row that is free, expired or the caller's (the row lock makes
//! two instances taking it at once take turns: one wins). The flood limit
//! is the same GCRA upsert as SQLite's, so a user writing to several
//! instances is counted once per message, not once per instance.

use super::*;

use crate::flood::Verdict;
use crate::store::coord::{
    gcra, micros, FLOOD_ADMIT, FLOOD_PRUNE, FLOOD_WARN, LEASE_DROP, LEASE_HOLDER, LEASE_TAKE,
};

impl Coordination for PgStore {
    fn shared(&self) -> bool {
        true
    }

    fn lease_take(
        &self,
        name: &str,
        owner: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<bool> {
        Ok(self.conn()?.exec(
            LEASE_TAKE,
            p![name.to_string(), owner.to_string(), now, now + ttl],
        )? > 0)
    }

    fn lease_drop(&self, name: &str, owner: &str) -> Result<bool> {
        Ok(self
            .conn()?
            .exec(LEASE_DROP, p![name.to_string(), owner.to_string()])?
            > 0)
    }

    fn lease_holder(
        &self,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(String, DateTime<Utc>)>> {
        self.conn()?
            .opt(LEASE_HOLDER, p![name.to_string(), now])?
            .map(|r| Ok((get(&r, "owner")?, get(&r, "until")?)))
            .transpose()
    }

    fn flood_admit(
        &self,
        key: &str,
        now: DateTime<Utc>,
        per_minute: u32,
        burst: u32,
    ) -> Result<Verdict> {
        let (interval, tolerance) = gcra(per_minute, burst);
        let now = micros(now);
        let mut c = self.conn()?;
        // One statement each, no transaction: the upsert is atomic on its
        // own, and the warning claim only ever follows a refusal.
        let admitted = c
            .opt(FLOOD_ADMIT, p![key.to_string(), now, interval, tolerance])?
            .is_some();
        if admitted {
            return Ok(Verdict::Allow);
        }
        let warn = c.exec(FLOOD_WARN, p![key.to_string(), now])? > 0;
        Ok(if warn { Verdict::Warn } else { Verdict::Drop })
    }

    fn coord_prune(&self, now: DateTime<Utc>) -> Result<usize> {
        let mut c = self.conn()?;
        let flood = c.exec(FLOOD_PRUNE, p![micros(now)])?;
        let leases = c.exec(
            "DELETE FROM leases WHERE until < $1",
            p![now - chrono::Duration::minutes(1)],
        )?;
        Ok(flood + leases)
    }
}
