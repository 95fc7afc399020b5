//! Coordination between processes that share one state: named leases
//! (one holder at a time, with an expiry, for the index ingest, a chat
//! being handled, a gateway connection) and the per-user flood limit kept
//! in the database. On one SQLite file there is one process, so the
//! assistant keeps its flood limit in memory there and the pump needs no
//! chat leases (`shared` is false); the SQLite engine still implements
//! every method alike, so the contract suite holds both engines to one
//! behaviour, and a lease on SQLite still keeps two processes on one
//! machine (`kraft ingest` beside `kraft serve`) apart.
//!
//! `Coordination` is the contract and `Store` (SQLite) implements it
//! here; `pg/coord.rs` is PostgreSQL's.

use super::*;

use crate::flood::Verdict;

/// GCRA state kept for one key: `tat` (the theoretical arrival time, µs
/// since the epoch) is when the key is back at a full burst; a message is
/// admitted while `tat - now` stays within the burst. Both engines run
/// this one statement, an atomic upsert, so concurrent instances count
/// each message exactly once. $1 key, $2 now (µs), $3 emission interval
/// (µs), $4 tolerance ((burst - 1) × interval, µs). No row back: refused.
/// (The casts are for PostgreSQL, which cannot type `$2 + $3` alone;
/// SQLite reads them as integer affinity.)
pub(crate) const FLOOD_ADMIT: &str = "INSERT INTO flood (key, tat)
     VALUES ($1, CAST($2 AS BIGINT) + CAST($3 AS BIGINT))
     ON CONFLICT (key) DO UPDATE
        SET tat = (CASE WHEN flood.tat > CAST($2 AS BIGINT) THEN flood.tat ELSE CAST($2 AS BIGINT) END)
                  + CAST($3 AS BIGINT)
      WHERE (CASE WHEN flood.tat > CAST($2 AS BIGINT) THEN flood.tat ELSE CAST($2 AS BIGINT) END)
            - CAST($2 AS BIGINT) <= CAST($4 AS BIGINT)
     RETURNING tat";

/// A refused key is told to slow down at most once a minute: the first
/// refusal after a minute claims the warning. $1 key, $2 now (µs).
pub(crate) const FLOOD_WARN: &str = "UPDATE flood SET warned_at = CAST($2 AS BIGINT)
      WHERE key = $1 AND (warned_at IS NULL OR warned_at <= CAST($2 AS BIGINT) - 60000000)";

/// Keys back at a full burst and not warned in the last minute are
/// forgotten (the limiter's memory stays bounded by recent users, and a
/// user id is kept no longer than that). $1 now (µs).
pub(crate) const FLOOD_PRUNE: &str = "DELETE FROM flood
      WHERE tat <= CAST($1 AS BIGINT)
        AND (warned_at IS NULL OR warned_at <= CAST($1 AS BIGINT) - 60000000)";

/// Takes or renews a lease: changes only a row that is free, expired or
/// the caller's. $1 name, $2 owner, $3 now, $4 until.
pub(crate) const LEASE_TAKE: &str = "INSERT INTO leases (name, owner, until) VALUES ($1, $2, $4)
     ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until
      WHERE leases.owner = excluded.owner OR leases.until < $3";

/// $1 name, $2 owner.
pub(crate) const LEASE_DROP: &str = "DELETE FROM leases WHERE name = $1 AND owner = $2";

/// $1 name, $2 now.
pub(crate) const LEASE_HOLDER: &str =
    "SELECT owner, until FROM leases WHERE name = $1 AND until >= $2";

/// The GCRA parameters of `per_minute` with `burst`, in µs: (emission
/// interval, tolerance).
pub(crate) fn gcra(per_minute: u32, burst: u32) -> (i64, i64) {
    let interval = 60_000_000 / i64::from(per_minute.max(1));
    (interval, interval * (i64::from(burst.max(1)) - 1))
}

pub(crate) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub trait Coordination {
    /// Whether more than one process may work on this state at once (so
    /// chats are leased before they are handled, and the flood limit is
    /// kept here rather than in memory).
    fn shared(&self) -> bool {
        false
    }

    /// Takes or renews the lease `name` for `owner` until `now + ttl`:
    /// `true` when it is free, expired or already `owner`'s; `false` (and
    /// nothing changed) while another owner holds it.
    fn lease_take(
        &self,
        name: &str,
        owner: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<bool>;

    /// Gives the lease up, if `owner` holds it (`false`: it did not).
    fn lease_drop(&self, name: &str, owner: &str) -> Result<bool>;

    /// Who holds `name` and until when, unless it is free or expired.
    fn lease_holder(
        &self,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(String, DateTime<Utc>)>>;

    /// One message from `key` against the flood limit (`per_minute`,
    /// `burst`): counted once however many instances check at once.
    fn flood_admit(
        &self,
        key: &str,
        now: DateTime<Utc>,
        per_minute: u32,
        burst: u32,
    ) -> Result<Verdict>;

    /// Forgets flood keys back at a full burst and leases expired for a
    /// minute or more. Returns how many rows went.
    fn coord_prune(&self, now: DateTime<Utc>) -> Result<usize>;
}

/// `$n` to SQLite's `?n`: the statements above are shared by both engines.
fn lite(sql: &str) -> String {
    sql.replace('$', "?")
}

impl Coordination for Store {
    fn lease_take(
        &self,
        name: &str,
        owner: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<bool> {
        let until = now + ttl;
        // Timestamps are `ts()` text, one fixed format in UTC, so they
        // compare as strings.
        Ok(self
            .lock()?
            .exec(&lite(LEASE_TAKE), params![name, owner, ts(now), ts(until)])?
            > 0)
    }

    fn lease_drop(&self, name: &str, owner: &str) -> Result<bool> {
        Ok(self.lock()?.exec(&lite(LEASE_DROP), params![name, owner])? > 0)
    }

    fn lease_holder(
        &self,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(String, DateTime<Utc>)>> {
        let row: Option<(String, String)> = self
            .lock()?
            .row(&lite(LEASE_HOLDER), params![name, ts(now)], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        Ok(row.map(|(o, u)| (o, parse_ts(&u))))
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
        self.tx(|tx| {
            let admitted = tx
                .row(
                    &lite(FLOOD_ADMIT),
                    params![key, now, interval, tolerance],
                    |r| r.get::<_, i64>(0),
                )
                .optional()?
                .is_some();
            if admitted {
                return Ok(Verdict::Allow);
            }
            let warn = tx.exec(&lite(FLOOD_WARN), params![key, now])? > 0;
            Ok(if warn { Verdict::Warn } else { Verdict::Drop })
        })
    }

    fn coord_prune(&self, now: DateTime<Utc>) -> Result<usize> {
        self.tx(|tx| {
            let flood = tx.exec(&lite(FLOOD_PRUNE), params![micros(now)])?;
            let leases = tx.exec(
                "DELETE FROM leases WHERE until < ?1",
                params![ts(now - chrono::Duration::minutes(1))],
            )?;
            Ok(flood + leases)
        })
    }
}
