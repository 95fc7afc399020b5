//! The delivery outbox: every message Kraft sends is queued here first,
//! leased to one sender, retried with back-off, marked delivered part by
//! part, or dead-lettered. This is what makes a crash between "decided" and
//! "sent" lose nothing and send nothing twice.
//!
//! `Outbox` is the contract and `Store` (SQLite) implements it here;
//! `tests/tests/store_contract.rs` checks any implementation against it.

use super::*;

pub trait Outbox {
    /// Queues a message; without a lease the delivery loop (of this or
    /// another process) picks it up, with one the caller delivers it now. `None`: the
    /// dedupe key was seen before, so nothing was queued.
    fn enqueue(
        &self,
        d: &NewDelivery<'_>,
        now: DateTime<Utc>,
        lease: Option<Duration>,
    ) -> Result<Option<Delivery>>;

    /// Takes undelivered messages whose lease is free, leasing them for
    /// `lease` so no other loop sends them meanwhile. Only messages for the
    /// given platforms (plus those for no platform in particular), so a
    /// terminal chat never swallows a Telegram user's reply.
    fn lease_pending(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
        platforms: &[Platform],
    ) -> Result<Vec<Delivery>>;

    /// Like `lease_pending`, with the two kinds of delivery chosen apart:
    /// messages to users on `users_on`, and adviser notes about users on
    /// `advisers_for` (the platforms whose advisers this front-end hosts).
    fn lease_for(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
        users_on: &[Platform],
        advisers_for: &[Platform],
    ) -> Result<Vec<Delivery>>;

    /// Frees every lease on the deliveries a front-end would take (see
    /// `lease_for`): at its start, nothing of its own is in flight any more.
    fn release_leases(&self, users_on: &[Platform], advisers_for: &[Platform]) -> Result<usize>;

    /// Keeps a failed delivery for another try after `delay` (the lease
    /// doubles as the back-off timer).
    fn retry_later(&self, id: i64, now: DateTime<Utc>, delay: Duration) -> Result<()>;

    /// Gives up on a delivery that can never arrive (the user blocked the
    /// bot, the chat is gone); it stays visible as a dead letter until the
    /// retention purge.
    fn dead_letter(&self, id: i64, now: DateTime<Utc>, error: &str) -> Result<()>;

    /// Dead letters, newest first (error kinds, no message text).
    fn dead_letters(&self, limit: usize) -> Result<Vec<(i64, Option<i64>, String)>>;

    /// Records that the first `parts` parts of a split message went out.
    fn set_parts_sent(&self, id: i64, parts: i64) -> Result<()>;

    /// Records that a delivery went out in full; it is never sent again.
    fn mark_delivered(&self, id: i64, now: DateTime<Utc>) -> Result<()>;

    /// Gives a leased delivery back after a failed send, to be retried.
    fn release(&self, id: i64) -> Result<()>;

    /// How many deliveries are neither delivered nor dead-lettered.
    fn undelivered(&self) -> Result<usize>;
}

impl Outbox for Store {
    fn enqueue(
        &self,
        d: &NewDelivery<'_>,
        now: DateTime<Utc>,
        lease: Option<Duration>,
    ) -> Result<Option<Delivery>> {
        self.tx(|tx| insert_delivery(tx, d, now, lease.map(|l| now + l)))
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
        let now_s = ts(now);
        let until = ts(now + lease);
        let (users, advisers) = (platform_list(users_on), platform_list(advisers_for));
        self.tx(|tx| {
            let mut st = tx.prepare(
                "SELECT * FROM outbox WHERE delivered_at IS NULL AND failed_at IS NULL
                   AND (leased_until IS NULL OR leased_until < ?1)
                   AND CASE target
                       WHEN 'user' THEN platform IN (SELECT value FROM json_each(?3))
                            AND chat_id IS NOT NULL
                       ELSE json_array_length(?4) > 0
                            AND (platform IS NULL OR platform IN (SELECT value FROM json_each(?4)))
                   END
                 ORDER BY id LIMIT ?2",
            )?;
            let ds: Vec<Delivery> = st
                .query_map(
                    params![now_s, limit as i64, users, advisers],
                    Delivery::from_row,
                )?
                .collect::<rusqlite::Result<_>>()?;
            for d in &ds {
                tx.exec(
                    "UPDATE outbox SET leased_until = ?2, attempts = attempts + 1 WHERE id = ?1",
                    params![d.id, until],
                )?;
            }
            Ok(ds)
        })
    }

    fn release_leases(&self, users_on: &[Platform], advisers_for: &[Platform]) -> Result<usize> {
        Ok(self.lock()?.exec(
            "UPDATE outbox SET leased_until = NULL
              WHERE delivered_at IS NULL AND failed_at IS NULL AND leased_until IS NOT NULL
                AND CASE target
                    WHEN 'user' THEN platform IN (SELECT value FROM json_each(?1))
                    ELSE json_array_length(?2) > 0
                         AND (platform IS NULL OR platform IN (SELECT value FROM json_each(?2)))
                END",
            params![platform_list(users_on), platform_list(advisers_for)],
        )?)
    }

    fn retry_later(&self, id: i64, now: DateTime<Utc>, delay: Duration) -> Result<()> {
        self.lock()?.exec(
            "UPDATE outbox SET leased_until = ?2 WHERE id = ?1 AND delivered_at IS NULL",
            params![id, ts(now + delay)],
        )?;
        Ok(())
    }

    fn dead_letter(&self, id: i64, now: DateTime<Utc>, error: &str) -> Result<()> {
        self.lock()?.exec(
            "UPDATE outbox SET failed_at = ?2, error = ?3 WHERE id = ?1 AND delivered_at IS NULL",
            params![id, ts(now), error],
        )?;
        Ok(())
    }

    fn dead_letters(&self, limit: usize) -> Result<Vec<(i64, Option<i64>, String)>> {
        let conn = self.lock()?;
        let mut st = conn.prepare(
            "SELECT id, ticket_id, COALESCE(error, '') FROM outbox
              WHERE failed_at IS NOT NULL ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = st
            .query_map([limit as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    fn set_parts_sent(&self, id: i64, parts: i64) -> Result<()> {
        self.lock()?.exec(
            "UPDATE outbox SET parts_sent = ?2 WHERE id = ?1",
            params![id, parts],
        )?;
        Ok(())
    }

    fn mark_delivered(&self, id: i64, now: DateTime<Utc>) -> Result<()> {
        self.lock()?.exec(
            "UPDATE outbox SET delivered_at = ?2 WHERE id = ?1 AND delivered_at IS NULL",
            params![id, ts(now)],
        )?;
        Ok(())
    }

    fn release(&self, id: i64) -> Result<()> {
        self.lock()?.exec(
            "UPDATE outbox SET leased_until = NULL WHERE id = ?1 AND delivered_at IS NULL",
            [id],
        )?;
        Ok(())
    }

    fn undelivered(&self) -> Result<usize> {
        Ok(self.lock()?.row(
            "SELECT count(*) FROM outbox WHERE delivered_at IS NULL AND failed_at IS NULL",
            [],
            |r| r.get::<_, i64>(0),
        )? as usize)
    }
}
