//! `Outbox` on PostgreSQL, for more than one instance on one database.
//! A lease is taken with `FOR UPDATE SKIP LOCKED` (two instances leasing
//! at once take different deliveries, neither waits) and marked with the
//! instance id (`leased_by`). An instance releases, retries or gives back
//! only leases it holds. At start-up (`release_leases`) it frees its own
//! leases and those of instances that are gone (whose advisory lock no
//! session holds: a crashed process), never a live instance's; an expired
//! lease is anyone's to take.

use super::*;

/// The delivery kinds a front-end takes (see `Outbox::lease_for`): $3 the
/// platforms of its users, $4 those whose advisers it hosts.
const FOR_FRONT_END: &str = "CASE target
        WHEN 'user' THEN platform = ANY($3::text[]) AND chat_id IS NOT NULL
        ELSE cardinality($4::text[]) > 0 AND (platform IS NULL OR platform = ANY($4::text[]))
    END";

impl Outbox for PgStore {
    fn enqueue(
        &self,
        d: &NewDelivery<'_>,
        now: DateTime<Utc>,
        lease: Option<Duration>,
    ) -> Result<Option<Delivery>> {
        insert_delivery(&mut self.conn()?, d, now, lease.map(|l| now + l))
    }

    fn lease_pending(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
        platforms: &[Platform],
    ) -> Result<Vec<Delivery>> {
        self.lease_for(now, lease, limit, platforms, platforms)
    }

    fn lease_for(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
        users_on: &[Platform],
        advisers_for: &[Platform],
    ) -> Result<Vec<Delivery>> {
        let mut c = self.conn()?;
        let me = i64::from(c.instance());
        // One statement: the rows are locked as they are picked, and rows
        // another instance is leasing right now are skipped, not waited on.
        let rows = c.query(
            &format!(
                "WITH picked AS (
                    SELECT id FROM outbox
                     WHERE delivered_at IS NULL AND failed_at IS NULL
                       AND (leased_until IS NULL OR leased_until < $1)
                       AND {FOR_FRONT_END}
                     ORDER BY id LIMIT $2
                     FOR UPDATE SKIP LOCKED)
                 UPDATE outbox o SET leased_until = $5, leased_by = $6, attempts = o.attempts + 1
                   FROM picked WHERE o.id = picked.id
                 RETURNING o.*"
            ),
            p![
                now,
                limit as i64,
                platforms(users_on),
                platforms(advisers_for),
                now + lease,
                me
            ],
        )?;
        let mut ds = rows.iter().map(delivery_row).collect::<Result<Vec<_>>>()?;
        // As SQLite reports it: the attempts made before this one.
        for d in &mut ds {
            d.attempts -= 1;
        }
        ds.sort_by_key(|d| d.id);
        Ok(ds)
    }

    fn release_leases(&self, users_on: &[Platform], advisers_for: &[Platform]) -> Result<usize> {
        let mut c = self.conn()?;
        let me = i64::from(c.instance());
        // A holder is alive while some session holds its advisory lock
        // (in this database: advisory locks are per database).
        c.exec(
            &format!(
                "UPDATE outbox SET leased_until = NULL, leased_by = NULL
                  WHERE delivered_at IS NULL AND failed_at IS NULL AND leased_until IS NOT NULL
                    AND {FOR_FRONT_END}
                    AND (leased_by IS NULL OR leased_by = $1 OR NOT EXISTS (
                         SELECT 1 FROM pg_locks l
                          WHERE l.locktype = 'advisory' AND l.granted
                            AND l.database = (SELECT oid FROM pg_database
                                               WHERE datname = current_database())
                            AND l.classid::bigint = $2 AND l.objid::bigint = outbox.leased_by
                            AND l.objsubid = 2))"
            ),
            p![
                me,
                i64::from(INSTANCE_LOCK_SPACE),
                platforms(users_on),
                platforms(advisers_for)
            ],
        )
    }

    fn retry_later(&self, id: i64, now: DateTime<Utc>, delay: Duration) -> Result<()> {
        let mut c = self.conn()?;
        let me = i64::from(c.instance());
        c.exec(
            "UPDATE outbox SET leased_until = $2, leased_by = $3
              WHERE id = $1 AND delivered_at IS NULL AND (leased_by IS NULL OR leased_by = $3)",
            p![id, now + delay, me],
        )?;
        Ok(())
    }

    fn dead_letter(&self, id: i64, now: DateTime<Utc>, error: &str) -> Result<()> {
        self.conn()?.exec(
            "UPDATE outbox SET failed_at = $2, error = $3 WHERE id = $1 AND delivered_at IS NULL",
            p![id, now, error.to_string()],
        )?;
        Ok(())
    }

    fn dead_letters(&self, limit: usize) -> Result<Vec<(i64, Option<i64>, String)>> {
        self.conn()?
            .query(
                "SELECT id, ticket_id, COALESCE(error, '') FROM outbox
                  WHERE failed_at IS NOT NULL ORDER BY id DESC LIMIT $1",
                p![limit as i64],
            )?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect()
    }

    fn set_parts_sent(&self, id: i64, parts: i64) -> Result<()> {
        self.conn()?.exec(
            "UPDATE outbox SET parts_sent = $2 WHERE id = $1",
            p![id, parts],
        )?;
        Ok(())
    }

    fn mark_delivered(&self, id: i64, now: DateTime<Utc>) -> Result<()> {
        self.conn()?.exec(
            "UPDATE outbox SET delivered_at = $2 WHERE id = $1 AND delivered_at IS NULL",
            p![id, now],
        )?;
        Ok(())
    }

    fn release(&self, id: i64) -> Result<()> {
        let mut c = self.conn()?;
        let me = i64::from(c.instance());
        // Only this instance's lease: one that expired and was taken over
        // by another instance is that instance's now.
        c.exec(
            "UPDATE outbox SET leased_until = NULL, leased_by = NULL
              WHERE id = $1 AND delivered_at IS NULL AND (leased_by IS NULL OR leased_by = $2)",
            p![id, me],
        )?;
        Ok(())
    }

    fn undelivered(&self) -> Result<usize> {
        let n: i64 = self.conn()?.value(
            "SELECT count(*) FROM outbox WHERE delivered_at IS NULL AND failed_at IS NULL",
            p![],
        )?;
        Ok(n as usize)
    }
}
