//! Adviser tickets: opening one (with the advisers' notification, capped per
//! person and day), reading them, every status change as one transaction with
//! the messages it causes, reminders, private-chat links and the one-tap
//! rating.
//!
//! `Tickets` is the contract and `Store` (SQLite) implements it here;
//! `tests/tests/store_contract.rs` checks any implementation against it.

use super::*;
use crate::desk::DeskError;

/// A transition's decision on the ticket as it is inside the transaction:
/// the change to make, or the caller's refusal (returned unchanged).
pub type Change<'c, 'a> =
    &'c mut dyn FnMut(&TicketRow) -> std::result::Result<Transition<'a>, DeskError>;

/// What a transition did: the ticket after it and the deliveries queued
/// (empty when the same transition had already happened), or the refusal.
pub type Changed = std::result::Result<(TicketRow, Vec<Delivery>), DeskError>;

/// What a new ticket's advisers are told, composed once its id is known:
/// (where, text, buttons) per message.
pub type Notify<'c> = &'c dyn Fn(&TicketRow) -> Vec<(Target, String, Vec<Button>)>;

/// A new ticket's notifications (what `notify` says for it) as deliveries
/// of the ticket's user, each stored by `insert`, the engine's own
/// statement, in the ticket's transaction: the same for every engine.
pub(crate) fn notices(
    row: &TicketRow,
    notify: Notify<'_>,
    mut insert: impl FnMut(&NewDelivery<'_>) -> Result<Option<Delivery>>,
) -> Result<Vec<Delivery>> {
    let mut ds = Vec::new();
    for (target, text, buttons) in notify(row) {
        let n = NewDelivery {
            user_id: Some(row.user_id),
            ticket_id: Some(row.id),
            target,
            text: &text,
            buttons: &buttons,
            dedupe_key: None,
            meta: None,
        };
        if let Some(d) = insert(&n)? {
            ds.push(d);
        }
    }
    Ok(ds)
}

pub trait Tickets {
    /// Records the user's satisfaction with a resolved ticket; false when
    /// it was rated already (the first tap counts).
    fn rate_ticket(&self, ticket: i64, score: &str) -> Result<bool>;

    /// The user's ticket that is not resolved, if any (at most one).
    fn open_ticket_of(&self, user_id: i64) -> Result<Option<TicketRow>>;

    /// One ticket by id.
    fn ticket(&self, id: i64) -> Result<Option<TicketRow>>;

    /// Tickets in any of `statuses`, newest first, at most `limit`.
    fn tickets(&self, statuses: &[TicketStatus], limit: usize) -> Result<Vec<TicketRow>>;

    /// Stores a ticket and its notifications in one transaction; the
    /// notifications are leased to the caller, who delivers them now.
    /// Not when the user already has an open ticket, or the same person
    /// (a Telegram group identity counts as its account) opened
    /// `max_per_day` in the last 24 hours.
    fn create_ticket(
        &self,
        t: NewTicket<'_>,
        notify: Notify<'_>,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Opened>;

    /// Whether the person behind `u` has opened `max` tickets in the last
    /// 24 hours (so a front-end need not make a thread for one more).
    fn ticket_cap_reached(&self, u: &UserRef, max: i64, now: DateTime<Utc>) -> Result<bool>;

    /// Applies a ticket transition and queues the messages about it, in one
    /// transaction. `change` sees the current row and returns the update or
    /// a refusal. `Ok(None)`: no such ticket.
    fn transition<'a>(
        &self,
        ticket_id: i64,
        now: DateTime<Utc>,
        lease: Option<Duration>,
        change: Change<'_, 'a>,
    ) -> Result<Option<Changed>>;

    /// How many tickets are not resolved (a metric).
    fn open_tickets(&self) -> Result<usize>;

    /// The open ticket a private-chat link token opens, if any.
    fn ticket_by_link(&self, token: &str) -> Result<Option<TicketRow>>;

    /// Moves the adviser conversation of the ticket that `token` opens to
    /// `user`'s private chat, if `user` is the same person on the same
    /// platform as the ticket's user (a group member's private identity):
    /// the ticket becomes the private user's (so their messages there
    /// reach the adviser) and the messages waiting for a chat go there.
    /// Following the link again changes nothing. If the private user
    /// already has another open ticket, this one is closed and that one
    /// goes on. One transaction.
    fn move_to_private(&self, token: &str, user: &UserRow, now: DateTime<Utc>) -> Result<Moved>;

    /// Waiting tickets that are due a reminder: unclaimed for `after`, and
    /// not reminded within `every`. Marks them reminded and queues `text(t)`
    /// for the advisers, in one transaction.
    fn remind(
        &self,
        now: DateTime<Utc>,
        after: chrono::Duration,
        every: chrono::Duration,
        text: &dyn Fn(&TicketRow) -> String,
    ) -> Result<Vec<i64>>;

    /// How many adviser messages a ticket has.
    fn adviser_messages(&self, ticket: i64) -> Result<i64>;
}

impl Tickets for Store {
    fn rate_ticket(&self, ticket: i64, score: &str) -> Result<bool> {
        let n = self.lock()?.exec(
            "UPDATE tickets SET satisfaction = ?2 WHERE id = ?1 AND satisfaction IS NULL",
            params![ticket, score],
        )?;
        Ok(n == 1)
    }

    fn open_ticket_of(&self, user_id: i64) -> Result<Option<TicketRow>> {
        Ok(self
            .lock()?
            .row(
                "SELECT * FROM tickets WHERE user_id = ?1 AND status IN ('waiting', 'active')",
                [user_id],
                TicketRow::from_row,
            )
            .optional()?)
    }

    fn ticket(&self, id: i64) -> Result<Option<TicketRow>> {
        Ok(self
            .lock()?
            .row(
                "SELECT * FROM tickets WHERE id = ?1",
                [id],
                TicketRow::from_row,
            )
            .optional()?)
    }

    fn tickets(&self, statuses: &[TicketStatus], limit: usize) -> Result<Vec<TicketRow>> {
        let conn = self.lock()?;
        let mut st = conn.prepare("SELECT * FROM tickets ORDER BY id DESC")?;
        let rows = st.query_map([], TicketRow::from_row)?;
        let mut out = Vec::new();
        for r in rows {
            let t = r?;
            if statuses.is_empty() || statuses.contains(&t.status) {
                out.push(t);
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    fn create_ticket(
        &self,
        t: NewTicket<'_>,
        notify: Notify<'_>,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Opened> {
        self.tx(|tx| {
            let open: Option<i64> = tx
                .row(
                    "SELECT id FROM tickets WHERE user_id = ?1 AND status IN ('waiting', 'active')",
                    [t.user_id],
                    |r| r.get(0),
                )
                .optional()?;
            if open.is_some() {
                return Ok(Opened::AlreadyOpen);
            }
            if t.max_per_day > 0 && count_recent_tickets(tx, t.user_id, now)? >= t.max_per_day {
                return Ok(Opened::Capped);
            }
            tx.exec(
                "INSERT INTO tickets (user_id, status, reason, summary, lang, platform, created_at,
                                      chat_id, relay_chat, link_token)
                 VALUES (?1, 'waiting', ?2, ?3, ?4, ?5, ?6, ?7, ?8,
                         CASE WHEN ?9 THEN lower(hex(randomblob(16))) END)",
                params![
                    t.user_id,
                    t.reason,
                    t.summary,
                    t.lang.as_str(),
                    t.platform.as_str(),
                    ts(now),
                    t.chat_id,
                    t.relay_chat,
                    t.relay_chat.is_none()
                ],
            )?;
            let id = tx.last_insert_rowid();
            let row = tx.row(
                "SELECT * FROM tickets WHERE id = ?1",
                [id],
                TicketRow::from_row,
            )?;
            let ds = notices(&row, notify, |n| {
                insert_delivery(tx, n, now, Some(now + lease))
            })?;
            Ok(Opened::New(id, ds))
        })
    }

    fn ticket_cap_reached(&self, u: &UserRef, max: i64, now: DateTime<Utc>) -> Result<bool> {
        if max <= 0 {
            return Ok(false);
        }
        let conn = self.lock()?;
        let n: i64 = conn.row(
            "SELECT count(*) FROM tickets t JOIN users u ON u.id = t.user_id
              WHERE u.platform = ?1
                AND (u.external_id = ?2 OR substr(u.external_id, 1, length(?2) + 1) = ?2 || '@')
                AND t.created_at > ?3",
            params![
                u.platform.as_str(),
                person_of(&u.user_id),
                ts(now - chrono::Duration::hours(24))
            ],
            |r| r.get(0),
        )?;
        Ok(n >= max)
    }

    fn transition<'a>(
        &self,
        ticket_id: i64,
        now: DateTime<Utc>,
        lease: Option<Duration>,
        change: Change<'_, 'a>,
    ) -> Result<Option<Changed>> {
        self.tx(|tx| {
            let Some(cur) = tx
                .row(
                    "SELECT * FROM tickets WHERE id = ?1",
                    [ticket_id],
                    TicketRow::from_row,
                )
                .optional()?
            else {
                return Ok(None);
            };
            let tr = match change(&cur) {
                Ok(tr) => tr,
                Err(e) => return Ok(Some(Err(e))),
            };
            // A delivery seen before (same dedupe key) means this whole
            // transition already happened: change nothing.
            for d in &tr.deliveries {
                if let Some(k) = d.dedupe_key {
                    let seen: Option<i64> = tx
                        .row("SELECT id FROM outbox WHERE dedupe_key = ?1", [k], |r| {
                            r.get(0)
                        })
                        .optional()?;
                    if seen.is_some() {
                        return Ok(Some(Ok((cur, Vec::new()))));
                    }
                }
            }
            let now_s = ts(now);
            if let Some(status) = tr.status {
                tx.exec(
                    "UPDATE tickets SET status = ?2,
                        claimed_at = CASE WHEN ?2 = 'active' AND claimed_at IS NULL THEN ?3 ELSE claimed_at END,
                        resolved_at = CASE WHEN ?2 = 'resolved' THEN ?3 ELSE resolved_at END
                     WHERE id = ?1",
                    params![ticket_id, status.as_str(), now_s],
                )?;
            }
            if let Some((id, name)) = tr.adviser {
                tx.exec(
                    "UPDATE tickets SET adviser_id = ?2, adviser = ?3 WHERE id = ?1",
                    params![ticket_id, id, name],
                )?;
            }
            if let Some(res) = tr.resolution {
                tx.exec(
                    "UPDATE tickets SET resolution = ?2 WHERE id = ?1",
                    params![ticket_id, res],
                )?;
            }
            if let Some(m) = &tr.message {
                insert_message(tx, cur.user_id, Role::Adviser, m, now)?;
            }
            if tr.status == Some(TicketStatus::Resolved) {
                tx.exec(
                    "UPDATE users SET dialogue = ?2 WHERE id = ?1",
                    params![
                        cur.user_id,
                        serde_json::to_string(&Dialogue::default()).unwrap_or_default()
                    ],
                )?;
            }
            let mut ds = Vec::new();
            for d in &tr.deliveries {
                if let Some(d) = insert_delivery(tx, d, now, lease.map(|l| now + l))? {
                    ds.push(d);
                }
            }
            let row = tx.row(
                "SELECT * FROM tickets WHERE id = ?1",
                [ticket_id],
                TicketRow::from_row,
            )?;
            Ok(Some(Ok((row, ds))))
        })
    }

    fn open_tickets(&self) -> Result<usize> {
        Ok(self.lock()?.row(
            "SELECT count(*) FROM tickets WHERE status IN ('waiting', 'active')",
            [],
            |r| r.get::<_, i64>(0),
        )? as usize)
    }

    fn ticket_by_link(&self, token: &str) -> Result<Option<TicketRow>> {
        Ok(self
            .lock()?
            .row(
                "SELECT * FROM tickets WHERE link_token = ?1 AND status IN ('waiting', 'active')",
                [token],
                TicketRow::from_row,
            )
            .optional()?)
    }

    fn move_to_private(&self, token: &str, user: &UserRow, now: DateTime<Utc>) -> Result<Moved> {
        self.tx(|tx| {
            let Some(t) = tx
                .row(
                    "SELECT * FROM tickets WHERE link_token = ?1 AND status IN ('waiting', 'active')",
                    [token],
                    TicketRow::from_row,
                )
                .optional()?
            else {
                return Ok(Moved::Unknown);
            };
            let owner: Option<(String, String)> = tx
                .row(
                    "SELECT platform, external_id FROM users WHERE id = ?1",
                    [t.user_id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let same = owner.is_some_and(|(p, ext)| {
                p == user.platform.as_str() && person_of(&ext) == person_of(&user.external_id)
            });
            if !same {
                return Ok(Moved::NotYours);
            }
            tx.exec(
                "UPDATE outbox SET chat_id = ?2
                  WHERE ticket_id = ?1 AND target = 'user' AND chat_id IS NULL
                    AND delivered_at IS NULL AND failed_at IS NULL",
                params![t.id, user.chat_id],
            )?;
            let other: Option<i64> = tx
                .row(
                    "SELECT id FROM tickets WHERE user_id = ?1 AND id <> ?2
                        AND status IN ('waiting', 'active')",
                    params![user.id, t.id],
                    |r| r.get(0),
                )
                .optional()?;
            match other {
                None => {
                    tx.exec(
                        "UPDATE tickets SET user_id = ?2, relay_chat = ?3 WHERE id = ?1",
                        params![t.id, user.id, user.chat_id],
                    )?;
                    Ok(Moved::Moved(t.id))
                }
                Some(into) => {
                    tx.exec(
                        "UPDATE tickets SET relay_chat = ?2, link_token = NULL, status = 'resolved',
                            resolved_at = ?3, resolution = ?4 WHERE id = ?1",
                        params![t.id, user.chat_id, ts(now), format!("continued in #{into}")],
                    )?;
                    Ok(Moved::Merged { ticket: t.id, into })
                }
            }
        })
    }

    fn remind(
        &self,
        now: DateTime<Utc>,
        after: chrono::Duration,
        every: chrono::Duration,
        text: &dyn Fn(&TicketRow) -> String,
    ) -> Result<Vec<i64>> {
        self.tx(|tx| {
            let mut st = tx.prepare(
                "SELECT * FROM tickets WHERE status = 'waiting' AND created_at <= ?1
                   AND (reminded_at IS NULL OR reminded_at <= ?2)",
            )?;
            let due: Vec<TicketRow> = st
                .query_map(
                    params![ts(now - after), ts(now - every)],
                    TicketRow::from_row,
                )?
                .collect::<rusqlite::Result<_>>()?;
            let mut ids = Vec::new();
            for t in due {
                tx.exec(
                    "UPDATE tickets SET reminded_at = ?2, reminders = reminders + 1 WHERE id = ?1",
                    params![t.id, ts(now)],
                )?;
                let body = text(&t);
                insert_delivery(
                    tx,
                    &NewDelivery::to_advisers(Some(t.user_id), Some(t.id), &body),
                    now,
                    None,
                )?;
                ids.push(t.id);
            }
            Ok(ids)
        })
    }

    fn adviser_messages(&self, ticket: i64) -> Result<i64> {
        Ok(self.lock()?.row(
            "SELECT COUNT(*) FROM messages WHERE ticket_id = ?1 AND role = 'adviser'",
            [ticket],
            |r| r.get(0),
        )?)
    }
}
