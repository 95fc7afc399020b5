//! `Tickets` on PostgreSQL. Each read-then-write (a transition, a move to
//! the private chat, opening a ticket) first locks the row it decides on
//! (`FOR UPDATE`), so two instances acting on one ticket or one user take
//! turns, as SQLite's single writer makes them.

use super::*;
use crate::store::tickets::{Change, Changed, Notify};

impl Tickets for PgStore {
    fn rate_ticket(&self, ticket: i64, score: &str) -> Result<bool> {
        let n = self.conn()?.exec(
            "UPDATE tickets SET satisfaction = $2 WHERE id = $1 AND satisfaction IS NULL",
            p![ticket, score.to_string()],
        )?;
        Ok(n == 1)
    }

    fn open_ticket_of(&self, user_id: i64) -> Result<Option<TicketRow>> {
        self.conn()?
            .opt(
                "SELECT * FROM tickets WHERE user_id = $1 AND status IN ('waiting', 'active')",
                p![user_id],
            )?
            .as_ref()
            .map(ticket_row)
            .transpose()
    }

    fn ticket(&self, id: i64) -> Result<Option<TicketRow>> {
        self.conn()?
            .opt("SELECT * FROM tickets WHERE id = $1", p![id])?
            .as_ref()
            .map(ticket_row)
            .transpose()
    }

    fn tickets(&self, statuses: &[TicketStatus], limit: usize) -> Result<Vec<TicketRow>> {
        let wanted: Vec<String> = statuses.iter().map(|s| s.as_str().to_string()).collect();
        self.conn()?
            .query(
                "SELECT * FROM tickets
                  WHERE cardinality($1::text[]) = 0 OR status = ANY($1::text[])
                  ORDER BY id DESC LIMIT $2",
                p![wanted, limit as i64],
            )?
            .iter()
            .map(ticket_row)
            .collect()
    }

    fn create_ticket(
        &self,
        t: NewTicket<'_>,
        notify: Notify<'_>,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Opened> {
        self.tx(|c| {
            // The user's row is the turnstile: a second create for the
            // same user waits here, then finds the first one's ticket.
            if c
                .opt("SELECT id FROM users WHERE id = $1 FOR UPDATE", p![t.user_id])?
                .is_none()
            {
                return Err(StoreError::PgNoRow);
            }
            let open = c.opt(
                "SELECT id FROM tickets WHERE user_id = $1 AND status IN ('waiting', 'active')",
                p![t.user_id],
            )?;
            if open.is_some() {
                return Ok(Opened::AlreadyOpen);
            }
            if t.max_per_day > 0 && count_recent_tickets(c, t.user_id, now)? >= t.max_per_day {
                return Ok(Opened::Capped);
            }
            let r = c
                .opt(
                    "INSERT INTO tickets (user_id, status, reason, summary, lang, platform, created_at,
                                          chat_id, relay_chat, link_token)
                     VALUES ($1, 'waiting', $2, $3, $4, $5, $6, $7, $8,
                             CASE WHEN $9 THEN replace(gen_random_uuid()::text, '-', '') END)
                     RETURNING *",
                    p![
                        t.user_id,
                        t.reason.to_string(),
                        t.summary.to_string(),
                        t.lang.as_str().to_string(),
                        t.platform.as_str().to_string(),
                        now,
                        t.chat_id.to_string(),
                        own(t.relay_chat),
                        t.relay_chat.is_none()
                    ],
                )?
                .ok_or(StoreError::PgNoRow)?;
            let row = ticket_row(&r)?;
            let id = row.id;
            let ds = crate::store::tickets::notices(&row, notify, |n| {
                insert_delivery(c, n, now, Some(now + lease))
            })?;
            Ok(Opened::New(id, ds))
        })
    }

    fn ticket_cap_reached(&self, u: &UserRef, max: i64, now: DateTime<Utc>) -> Result<bool> {
        if max <= 0 {
            return Ok(false);
        }
        let n: i64 = self.conn()?.value(
            &format!(
                "SELECT count(*) FROM tickets t JOIN users u ON u.id = t.user_id
                  WHERE {SAME_PERSON} AND t.created_at > $3"
            ),
            p![
                u.platform.as_str().to_string(),
                person_of(&u.user_id).to_string(),
                now - chrono::Duration::hours(24)
            ],
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
        self.tx(|c| {
            let Some(cur) = c.opt(
                "SELECT * FROM tickets WHERE id = $1 FOR UPDATE",
                p![ticket_id],
            )?
            else {
                return Ok(None);
            };
            let cur = ticket_row(&cur)?;
            let tr = match change(&cur) {
                Ok(tr) => tr,
                Err(e) => return Ok(Some(Err(e))),
            };
            // A delivery seen before (same dedupe key) means this whole
            // transition already happened: change nothing.
            for d in &tr.deliveries {
                if let Some(k) = d.dedupe_key {
                    let seen = c.opt(
                        "SELECT id FROM outbox WHERE dedupe_key = $1",
                        p![k.to_string()],
                    )?;
                    if seen.is_some() {
                        return Ok(Some(Ok((cur, Vec::new()))));
                    }
                }
            }
            if let Some(status) = tr.status {
                c.exec(
                    "UPDATE tickets SET status = $2::text,
                        claimed_at = CASE WHEN $2::text = 'active' AND claimed_at IS NULL
                                          THEN $3::timestamptz ELSE claimed_at END,
                        resolved_at = CASE WHEN $2::text = 'resolved'
                                           THEN $3::timestamptz ELSE resolved_at END
                     WHERE id = $1",
                    p![ticket_id, status.as_str().to_string(), now],
                )?;
            }
            if let Some((id, name)) = tr.adviser {
                c.exec(
                    "UPDATE tickets SET adviser_id = $2, adviser = $3 WHERE id = $1",
                    p![ticket_id, id.to_string(), name.to_string()],
                )?;
            }
            if let Some(res) = tr.resolution {
                c.exec(
                    "UPDATE tickets SET resolution = $2 WHERE id = $1",
                    p![ticket_id, res.to_string()],
                )?;
            }
            if let Some(m) = &tr.message {
                insert_message(c, cur.user_id, Role::Adviser, m, now)?;
            }
            if tr.status == Some(TicketStatus::Resolved) {
                c.exec(
                    "UPDATE users SET dialogue = $2 WHERE id = $1",
                    p![
                        cur.user_id,
                        serde_json::to_string(&Dialogue::default()).unwrap_or_default()
                    ],
                )?;
            }
            let mut ds = Vec::new();
            for d in &tr.deliveries {
                if let Some(d) = insert_delivery(c, d, now, lease.map(|l| now + l))? {
                    ds.push(d);
                }
            }
            let row = c
                .opt("SELECT * FROM tickets WHERE id = $1", p![ticket_id])?
                .ok_or(StoreError::PgNoRow)?;
            Ok(Some(Ok((ticket_row(&row)?, ds))))
        })
    }

    fn open_tickets(&self) -> Result<usize> {
        let n: i64 = self.conn()?.value(
            "SELECT count(*) FROM tickets WHERE status IN ('waiting', 'active')",
            p![],
        )?;
        Ok(n as usize)
    }

    fn ticket_by_link(&self, token: &str) -> Result<Option<TicketRow>> {
        self.conn()?
            .opt(
                "SELECT * FROM tickets WHERE link_token = $1 AND status IN ('waiting', 'active')",
                p![token.to_string()],
            )?
            .as_ref()
            .map(ticket_row)
            .transpose()
    }

    fn move_to_private(&self, token: &str, user: &UserRow, now: DateTime<Utc>) -> Result<Moved> {
        self.tx(|c| {
            let Some(t) = c.opt(
                "SELECT * FROM tickets WHERE link_token = $1 AND status IN ('waiting', 'active')
                 FOR UPDATE",
                p![token.to_string()],
            )?
            else {
                return Ok(Moved::Unknown);
            };
            let t = ticket_row(&t)?;
            let owner: Option<(String, String)> = c
                .opt(
                    "SELECT platform, external_id FROM users WHERE id = $1",
                    p![t.user_id],
                )?
                .map(|r| -> Result<_> { Ok((r.try_get(0)?, r.try_get(1)?)) })
                .transpose()?;
            let same = owner.is_some_and(|(p, ext)| {
                p == user.platform.as_str() && person_of(&ext) == person_of(&user.external_id)
            });
            if !same {
                return Ok(Moved::NotYours);
            }
            c.exec(
                "UPDATE outbox SET chat_id = $2
                  WHERE ticket_id = $1 AND target = 'user' AND chat_id IS NULL
                    AND delivered_at IS NULL AND failed_at IS NULL",
                p![t.id, user.chat_id.clone()],
            )?;
            let other: Option<i64> = c
                .opt(
                    "SELECT id FROM tickets WHERE user_id = $1 AND id <> $2
                        AND status IN ('waiting', 'active')",
                    p![user.id, t.id],
                )?
                .map(|r| r.try_get(0))
                .transpose()?;
            match other {
                None => {
                    c.exec(
                        "UPDATE tickets SET user_id = $2, relay_chat = $3 WHERE id = $1",
                        p![t.id, user.id, user.chat_id.clone()],
                    )?;
                    Ok(Moved::Moved(t.id))
                }
                Some(into) => {
                    c.exec(
                        "UPDATE tickets SET relay_chat = $2, link_token = NULL, status = 'resolved',
                            resolved_at = $3, resolution = $4 WHERE id = $1",
                        p![
                            t.id,
                            user.chat_id.clone(),
                            now,
                            format!("continued in #{into}")
                        ],
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
        self.tx(|c| {
            // Tickets another instance is reminding right now are its.
            let due = c
                .query(
                    "SELECT * FROM tickets WHERE status = 'waiting' AND created_at <= $1
                       AND (reminded_at IS NULL OR reminded_at <= $2)
                     ORDER BY id FOR UPDATE SKIP LOCKED",
                    p![now - after, now - every],
                )?
                .iter()
                .map(ticket_row)
                .collect::<Result<Vec<_>>>()?;
            let mut ids = Vec::new();
            for t in due {
                c.exec(
                    "UPDATE tickets SET reminded_at = $2, reminders = reminders + 1 WHERE id = $1",
                    p![t.id, now],
                )?;
                let body = text(&t);
                insert_delivery(
                    c,
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
        self.conn()?.value(
            "SELECT COUNT(*) FROM messages WHERE ticket_id = $1 AND role = 'adviser'",
            p![ticket],
        )
    }
}
