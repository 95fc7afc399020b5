//! The adviser side of a ticket: open (with a handoff summary), claim,
//! reply, resolve, cancel and remind. It needs only the state database, so
//! `kraft tickets` can run beside a live bot; everything it tells a user or
//! the advisers goes through the outbox, which the bot's delivery loop
//! sends exactly once.
//!
//! State machine (per ticket): waiting → active → resolved. While a ticket
//! is open the user is "with the advisers"; while it is active the bot
//! answers nothing itself.

use crate::buttons::{ButtonId, TicketOp};
use crate::store::prelude::*;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::intent::sanitize;
use crate::model::{Button, Clock, Lang, Platform, Privately};
use crate::store::{
    Delivery, MessageRow, Moved, NewDelivery, NewMessage, NewTicket, Opened, Role, StoreError,
    Target, TicketRow, TicketStatus, Transition, UserRow,
};
use crate::texts;
use crate::EscalationSettings;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeskError {
    #[error("ticket #{0} does not exist")]
    NotFound(i64),
    #[error("ticket #{ticket} is already handled by {by}; use --force to take it over")]
    ClaimedByOther { ticket: i64, by: String },
    #[error("ticket #{0} is resolved; the user is back with the bot")]
    Closed(i64),
    #[error("the message is empty")]
    Empty,
    #[error("the message is too long ({0} characters; at most {1})")]
    TooLong(usize, usize),
    #[error("adviser name must be 1–40 printable characters")]
    BadAdviser,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Longest adviser message relayed in one piece (Telegram's limit is 4096,
/// Discord's 2000; front-ends split, but a novel is a mistake).
pub const MAX_REPLY_CHARS: usize = 4000;

/// The result of an adviser reply.
#[derive(Debug, Clone, Serialize)]
pub struct Replied {
    pub ticket: TicketRow,
    /// False when the same reply (same dedupe key) was already queued.
    pub queued: bool,
    /// True when the reply also claimed a waiting ticket.
    pub claimed: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct TicketView {
    pub ticket: TicketRow,
    pub messages: Vec<MessageRow>,
    /// Minutes since the ticket was opened, or until it was claimed.
    pub waited_mins: i64,
}

#[derive(Clone)]
pub struct Desk {
    store: Arc<dyn State>,
    clock: Arc<dyn Clock>,
    settings: EscalationSettings,
}

impl std::fmt::Debug for Desk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Desk").finish()
    }
}

/// Longest adviser name shown; longer platform names are shortened.
const MAX_ADVISER_NAME: usize = 40;

fn adviser_name(raw: &str) -> Result<String, DeskError> {
    let s = sanitize(raw);
    if s.is_empty() || s.chars().count() > MAX_ADVISER_NAME || s.contains('\n') {
        return Err(DeskError::BadAdviser);
    }
    Ok(s)
}

/// An adviser as the desk knows them: who (a stable identity, what claims
/// are compared by) and a name to show. On a chat platform the identity
/// is the account, so two advisers with the same display name are two
/// advisers, and any display name (however long) can act; for `kraft
/// tickets --as NAME` the name is the identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adviser {
    id: String,
    name: String,
}

impl Adviser {
    /// A platform account, e.g. a member of the Telegram adviser group.
    /// The name is only shown: sanitized, on one line, shortened to 40
    /// characters; an empty one shows the account id.
    pub fn on(platform: Platform, user_id: impl std::fmt::Display, name: &str) -> Self {
        let id = format!("{}:{user_id}", platform.as_str());
        let mut shown: String = sanitize(name)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        if shown.chars().count() > MAX_ADVISER_NAME {
            shown = shown.chars().take(MAX_ADVISER_NAME - 1).collect::<String>() + "…";
        }
        if shown.is_empty() {
            shown = user_id.to_string();
        }
        Self { id, name: shown }
    }

    /// `kraft tickets --as NAME`: identified by the name (1–40 printable
    /// characters, checked when it acts).
    pub fn named(name: &str) -> Self {
        Self {
            id: format!("name:{}", sanitize(name)),
            name: name.to_string(),
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The adviser as stored: a typed name is checked, a platform name
    /// was made presentable already.
    fn checked(self) -> Result<Self, DeskError> {
        if self.id.starts_with("name:") {
            let name = adviser_name(&self.name)?;
            Ok(Self {
                id: format!("name:{name}"),
                name,
            })
        } else {
            Ok(self)
        }
    }
}

impl From<&str> for Adviser {
    fn from(name: &str) -> Self {
        Adviser::named(name)
    }
}

impl From<&String> for Adviser {
    fn from(name: &String) -> Self {
        Adviser::named(name)
    }
}

impl Desk {
    pub fn new(store: Arc<dyn State>, clock: Arc<dyn Clock>, settings: EscalationSettings) -> Self {
        Self {
            store,
            clock,
            settings,
        }
    }

    pub fn store(&self) -> &Arc<dyn State> {
        &self.store
    }

    /// When a ticket's note on `platform` shows other buttons than its
    /// state calls for (see [`note_buttons`]): the note (chat, message id)
    /// and the buttons to show. None when it is up to date, so a front-end
    /// edits only when a claim or a close changed something.
    pub fn note_update(
        &self,
        ticket: i64,
        platform: Platform,
    ) -> Option<(String, String, Vec<Button>)> {
        let (chat, msg, shown) = self.store.note_of(ticket, platform).ok().flatten()?;
        let t = self.store.ticket(ticket).ok().flatten()?;
        let buttons = note_buttons(self.lang(), &t);
        (shown_as(&buttons) != shown).then_some((chat, msg, buttons))
    }

    /// Records that a ticket's note now shows `buttons`.
    pub fn note_shown(&self, ticket: i64, platform: Platform, buttons: &[Button]) {
        if let Err(e) = self
            .store
            .set_note_shown(ticket, platform, &shown_as(buttons))
        {
            tracing::warn!(error = %e, ticket, "cannot record the note's buttons");
        }
    }

    /// What a ticket's topic or thread is called in the adviser room:
    /// "#12 · behovsanalys · Västmanland" (number, why, the user's region
    /// when known). Categories only: never a name or message text.
    pub fn ticket_title(&self, ticket: i64) -> String {
        let l = self.lang();
        let Ok(Some(t)) = self.store.ticket(ticket) else {
            return format!("#{ticket}");
        };
        let mut parts = vec![format!("#{ticket}"), texts::reason_short(l, &t.reason)];
        if let Ok(Some(u)) = self.store.user(t.user_id) {
            if let Some(r) = u.region.as_deref() {
                parts.push(texts::region_name(l, r).to_string());
            }
        }
        parts.join(" · ")
    }

    fn lang(&self) -> Lang {
        self.settings.adviser_language
    }

    /// An adviser's ticket button or command from a chat front-end:
    /// `claim`, `resolve` or `handback` by `by`. `Ok` is the note, already
    /// queued for the ticket's thread so every adviser sees it; `Err` is
    /// why not, for the adviser who asked (nothing is queued).
    pub fn act(
        &self,
        op: TicketOp,
        id: i64,
        adviser: impl Into<Adviser>,
    ) -> Result<String, String> {
        let l = self.lang();
        let adviser = adviser.into();
        let by = adviser.name().to_string();
        let res = match op {
            TicketOp::Claim => self.claim(id, adviser, false).map(|_| ()),
            TicketOp::Resolve => self.resolve(id, None).map(|_| ()),
            TicketOp::Handback => self.hand_back(id).map(|_| ()),
        }
        .map(|()| texts::ticket_op_done(l, op, id, &by));
        match res {
            Ok(note) => {
                self.note(Some(id), &note);
                Ok(note)
            }
            Err(e) => Err(self.error_text(&e)),
        }
    }

    /// A note for the advisers (in the ticket's thread when `ticket` is
    /// set), through the outbox. A failure is logged: a note is never
    /// worth failing the adviser's action for.
    pub fn note(&self, ticket: Option<i64>, text: &str) {
        let res = self.store.enqueue(
            &NewDelivery::to_advisers(None, ticket, text),
            self.clock.now(),
            None,
        );
        if let Err(e) = res {
            tracing::error!(error = %e, "cannot queue an adviser note");
        }
    }

    /// A desk error as the adviser reads it, in the advisers' language.
    pub fn error_text(&self, e: &DeskError) -> String {
        texts::desk_error(self.lang(), e)
    }

    /// What an adviser needs to take over without asking the user again:
    /// the questions, the bot's last answer and its sources, language,
    /// platform and how long the user has been waiting.
    pub fn handoff_summary(
        &self,
        user: &UserRow,
        reason: &str,
        history: &[MessageRow],
        now: DateTime<Utc>,
    ) -> String {
        let l = self.lang();
        // The conversation "started" at the first message after the last
        // gap of more than two hours.
        let mut start = now;
        let mut prev: Option<DateTime<Utc>> = None;
        for m in history.iter().rev() {
            if let Some(p) = prev {
                if p - m.created_at > chrono::Duration::hours(2) {
                    break;
                }
            }
            start = m.created_at;
            prev = Some(m.created_at);
        }
        let waited = (now - start).num_minutes();
        let mut s = String::new();
        s.push_str(&texts::handoff_header(
            l,
            reason,
            user.platform.label(),
            user.lang,
            waited,
        ));
        let questions: Vec<&MessageRow> = history
            .iter()
            .filter(|m| m.role == Role::User && m.created_at >= start)
            .collect();
        if !questions.is_empty() {
            s.push_str(texts::handoff_questions(l));
            for q in questions.iter().rev().take(5).rev() {
                s.push_str(&format!("• {}\n", clip(&q.text, 300)));
            }
        }
        if let Some(b) = history
            .iter()
            .rev()
            .find(|m| m.role == Role::Bot && m.outcome.is_some() && m.created_at >= start)
        {
            s.push_str(&texts::handoff_last_answer(
                l,
                b.outcome.as_deref().unwrap_or(""),
                b.confidence.unwrap_or(0.0),
                &clip(&b.text, 500),
            ));
            if !b.sources.is_empty() {
                s.push_str(&format!(
                    "{} {}\n",
                    texts::sources_heading(l),
                    b.sources.join(", ")
                ));
            }
        }
        s
    }

    /// Stores the ticket and the advisers' notification together; not if
    /// the user already has an open ticket, or has opened
    /// `max_tickets_per_day` in the last 24 hours.
    /// `extra` is appended to the summary: the needs-analysis profile, or
    /// the match-making suggestions an introduction request is about.
    pub fn open(
        &self,
        user: &UserRow,
        reason: &str,
        history: &[MessageRow],
        extra: Option<&str>,
        lease: Duration,
    ) -> Result<Opened, DeskError> {
        let now = self.clock.now();
        let mut summary = self.handoff_summary(user, reason, history, now);
        if let Some(x) = extra.filter(|x| !x.trim().is_empty()) {
            summary.push_str(x.trim_end());
            summary.push('\n');
        }
        let l = self.lang();
        // The adviser conversation goes to a private chat only: this one if
        // it is private, the one the front-end can open, or (a Telegram
        // group) the one the user opens with the ticket's link.
        let relay = match &user.privately {
            Privately::Here => Some(user.chat_id.as_str()),
            Privately::At(c) => Some(c.as_str()),
            Privately::Link(_) => None,
        };
        let elsewhere = matches!(user.privately, Privately::At(_));
        let res = self.store.create_ticket(
            NewTicket {
                user_id: user.id,
                reason,
                summary: &summary,
                lang: user.lang,
                platform: user.platform,
                chat_id: &user.chat_id,
                relay_chat: relay,
                max_per_day: self.settings.max_tickets_per_day,
            },
            &|t| {
                let id = t.id;
                let mut out = vec![(
                    Target::Advisers,
                    // No `kraft tickets` hint here: the note goes to chat
                    // rooms with buttons; the terminal adds its own.
                    texts::new_request_note(l, id, &summary, t.relay_chat.is_none()),
                    note_buttons(l, t),
                )];
                if elsewhere {
                    // Opens the private chat (a Discord DM) at once, so
                    // the user finds where the adviser will answer.
                    out.push((
                        Target::User(t.relay()),
                        texts::continued_here(user.lang, id),
                        vec![],
                    ));
                }
                out
            },
            now,
            lease,
        )?;
        match &res {
            Opened::New(id, _) => tracing::info!(
                ticket = id,
                reason,
                platform = user.platform.as_str(),
                "ticket opened"
            ),
            Opened::Capped => tracing::info!(
                reason,
                platform = user.platform.as_str(),
                "ticket refused: the daily limit per user is reached"
            ),
            Opened::AlreadyOpen => {}
        }
        Ok(res)
    }

    fn user_of(&self, t: &TicketRow) -> Result<UserRow, DeskError> {
        self.store.user(t.user_id)?.ok_or(DeskError::NotFound(t.id))
    }

    /// An adviser takes a ticket. Claiming one's own active ticket again is
    /// a no-op; someone else's needs `force`.
    pub fn claim(
        &self,
        id: i64,
        adviser: impl Into<Adviser>,
        force: bool,
    ) -> Result<TicketRow, DeskError> {
        let adviser = adviser.into().checked()?;
        let t = self.store.ticket(id)?.ok_or(DeskError::NotFound(id))?;
        let user = self.user_of(&t)?;
        let joined = texts::adviser_joined(user.lang, adviser.name());
        let res = self
            .store
            .transition(id, self.clock.now(), None, &mut |cur| match cur.status {
                TicketStatus::Resolved => Err(DeskError::Closed(id)),
                // The same adviser again (whatever they are called now).
                TicketStatus::Active if cur.adviser_id.as_deref() == Some(adviser.id()) => {
                    Ok(Transition::default())
                }
                TicketStatus::Active if !force => Err(DeskError::ClaimedByOther {
                    ticket: id,
                    by: cur.adviser.clone().unwrap_or_default(),
                }),
                _ => Ok(Transition {
                    status: Some(TicketStatus::Active),
                    adviser: Some((adviser.id(), adviser.name())),
                    deliveries: vec![NewDelivery::to_user(cur, &joined)],
                    ..Default::default()
                }),
            })?
            .ok_or(DeskError::NotFound(id))??;
        tracing::info!(ticket = id, "ticket claimed");
        Ok(res.0)
    }

    /// Queues an adviser's message for the user. A waiting ticket is
    /// claimed by the same step. `dedupe_key` (e.g. the platform message id)
    /// makes a redelivered adviser message a no-op.
    pub fn reply(
        &self,
        id: i64,
        adviser: impl Into<Adviser>,
        text: &str,
        dedupe_key: Option<&str>,
    ) -> Result<Replied, DeskError> {
        let adviser = adviser.into().checked()?;
        let body = sanitize(text);
        if body.is_empty() {
            return Err(DeskError::Empty);
        }
        let n = body.chars().count();
        if n > MAX_REPLY_CHARS {
            return Err(DeskError::TooLong(n, MAX_REPLY_CHARS));
        }
        let t = self.store.ticket(id)?.ok_or(DeskError::NotFound(id))?;
        let user = self.user_of(&t)?;
        let first = self.store.adviser_messages(id)? == 0;
        let joined = texts::adviser_joined(user.lang, adviser.name());
        let said = texts::adviser_says(user.lang, adviser.name(), &body);
        let claim = t.status == TicketStatus::Waiting;
        let key = dedupe_key.map(|k| format!("reply:{k}"));
        let res = self
            .store
            .transition(id, self.clock.now(), None, &mut |cur| {
                if cur.status == TicketStatus::Resolved {
                    return Err(DeskError::Closed(id));
                }
                let mut deliveries = Vec::new();
                if cur.status == TicketStatus::Waiting {
                    deliveries.push(NewDelivery::to_user(cur, &joined));
                }
                deliveries.push(NewDelivery {
                    dedupe_key: key.as_deref(),
                    ..NewDelivery::to_user(cur, &said)
                });
                Ok(Transition {
                    status: (cur.status == TicketStatus::Waiting).then_some(TicketStatus::Active),
                    adviser: (cur.status == TicketStatus::Waiting || cur.adviser.is_none())
                        .then_some((adviser.id(), adviser.name())),
                    message: Some(NewMessage {
                        text: &body,
                        ticket_id: Some(id),
                        ..Default::default()
                    }),
                    deliveries,
                    ..Default::default()
                })
            })?
            .ok_or(DeskError::NotFound(id))??;
        let queued = !res.1.is_empty();
        if first && queued {
            // Time to an adviser's first reply, for the follow-up report.
            let secs = (self.clock.now() - t.created_at).num_seconds().max(0) as f64;
            self.store
                .stat(&user, self.clock.now(), "first_reply", None, Some(secs))?;
        }
        tracing::info!(ticket = id, queued, "adviser reply");
        Ok(Replied {
            ticket: res.0,
            queued,
            claimed: claim && queued,
        })
    }

    /// Closes a ticket; the user is told and is back with the bot.
    pub fn resolve(&self, id: i64, note: Option<&str>) -> Result<TicketRow, DeskError> {
        self.close(id, note, false)
    }

    /// The adviser gives the conversation back to the bot without solving
    /// it (the question was one the bot can answer after all, or the user
    /// went quiet); the user is told they can go on asking the bot.
    pub fn hand_back(&self, id: i64) -> Result<TicketRow, DeskError> {
        self.close(id, Some("handed back to the bot"), true)
    }

    fn close(
        &self,
        id: i64,
        note: Option<&str>,
        handed_back: bool,
    ) -> Result<TicketRow, DeskError> {
        let t = self.store.ticket(id)?.ok_or(DeskError::NotFound(id))?;
        let user = self.user_of(&t)?;
        let bye = if handed_back {
            texts::handed_back(user.lang)
        } else {
            texts::resolved(user.lang)
        };
        let note = note.map(sanitize);
        // A resolved ticket asks how it went, in one tap (counted in the
        // follow-up report); a handed-back one was not the adviser's to
        // answer.
        let rate: Vec<Button> = if handed_back {
            Vec::new()
        } else {
            texts::satisfaction_buttons(user.lang, id)
        };
        let res = self
            .store
            .transition(id, self.clock.now(), None, &mut |cur| {
                if cur.status == TicketStatus::Resolved {
                    return Err(DeskError::Closed(id));
                }
                let mut bye_delivery = NewDelivery::to_user(cur, bye);
                bye_delivery.buttons = &rate;
                Ok(Transition {
                    status: Some(TicketStatus::Resolved),
                    resolution: Some(note.as_deref().unwrap_or("resolved")),
                    deliveries: vec![bye_delivery],
                    ..Default::default()
                })
            })?
            .ok_or(DeskError::NotFound(id))??;
        tracing::info!(ticket = id, handed_back, "ticket closed");
        Ok(res.0)
    }

    /// The user withdrew the request; the advisers are told (the returned
    /// deliveries are leased for `lease`).
    pub fn cancel_by_user(
        &self,
        id: i64,
        lease: Option<Duration>,
    ) -> Result<Vec<Delivery>, DeskError> {
        let l = self.lang();
        let msg = texts::user_cancelled_note(l, id);
        let res = self
            .store
            .transition(id, self.clock.now(), lease, &mut |cur| {
                if cur.status == TicketStatus::Resolved {
                    return Err(DeskError::Closed(id));
                }
                Ok(Transition {
                    status: Some(TicketStatus::Resolved),
                    resolution: Some("cancelled by user"),
                    deliveries: vec![NewDelivery::to_advisers(Some(cur.user_id), Some(id), &msg)],
                    ..Default::default()
                })
            })?;
        match res {
            None | Some(Err(DeskError::Closed(_))) => Ok(Vec::new()),
            Some(Err(e)) => Err(e),
            Some(Ok((_, ds))) => Ok(ds),
        }
    }

    /// `/start <token>` in a private chat: the adviser conversation of
    /// the ticket the token belongs to moves here, if it is this person's
    /// (a group member following the link the group was given). The
    /// advisers are told in the ticket's thread. Returns what the user
    /// is told.
    pub fn move_to_private(&self, token: &str, user: &UserRow) -> Result<String, DeskError> {
        let l = self.lang();
        let now = self.clock.now();
        Ok(match self.store.move_to_private(token, user, now)? {
            Moved::Moved(id) => {
                tracing::info!(ticket = id, "adviser conversation moved to a private chat");
                self.note(Some(id), &texts::moved_private_note(l, id));
                texts::continued_here(user.lang, id)
            }
            Moved::Merged { ticket, into } => {
                tracing::info!(ticket, into, "adviser conversation merged into an open one");
                self.note(Some(ticket), &texts::merged_note(l, ticket, into));
                texts::already_waiting(user.lang, into)
            }
            Moved::NotYours | Moved::Unknown => {
                tracing::info!("a private-chat link was refused (not this user's, or closed)");
                texts::private_link_invalid(user.lang).to_string()
            }
        })
    }

    /// Where a ticket's adviser conversation goes, for a pointer: the
    /// link that opens it, when it is not open yet.
    pub fn private_link(&self, t: &TicketRow, privately: &Privately) -> Option<String> {
        match (privately, &t.link_token) {
            (Privately::Link(prefix), Some(token)) => Some(format!("{prefix}{token}")),
            _ => None,
        }
    }

    /// Queues the user's message for the adviser who owns the ticket.
    pub fn relay_to_adviser(
        &self,
        t: &TicketRow,
        user: &UserRow,
        text: &str,
        lease: Option<Duration>,
    ) -> Result<Option<Delivery>, DeskError> {
        let l = self.lang();
        let body = texts::user_writes_note(l, t.id, text);
        Ok(self.store.enqueue(
            &NewDelivery::to_advisers(Some(user.id), Some(t.id), &body),
            self.clock.now(),
            lease,
        )?)
    }

    pub fn list(
        &self,
        statuses: &[TicketStatus],
        limit: usize,
    ) -> Result<Vec<TicketRow>, DeskError> {
        Ok(self.store.tickets(statuses, limit)?)
    }

    pub fn show(&self, id: i64) -> Result<TicketView, DeskError> {
        let t = self.store.ticket(id)?.ok_or(DeskError::NotFound(id))?;
        let messages = self.store.recent_messages(t.user_id, 30)?;
        let until = t.claimed_at.unwrap_or_else(|| self.clock.now());
        Ok(TicketView {
            waited_mins: (until - t.created_at).num_minutes(),
            ticket: t,
            messages,
        })
    }

    /// Queues reminders for tickets nobody has claimed in time.
    pub fn remind(&self) -> Result<Vec<i64>, DeskError> {
        let now = self.clock.now();
        let l = self.lang();
        let ids = self.store.remind(
            now,
            chrono::Duration::minutes(self.settings.remind_after_mins.max(1)),
            chrono::Duration::minutes(self.settings.remind_every_mins.max(1)),
            &|t| {
                texts::reminder_note(
                    l,
                    t.id,
                    (now - t.created_at).num_minutes(),
                    t.platform.label(),
                    &t.reason,
                )
            },
        )?;
        if !ids.is_empty() {
            tracing::info!(tickets = ?ids, "reminders queued for unclaimed tickets");
        }
        Ok(ids)
    }

    /// Tells the advisers that a ticket was deleted at the user's request,
    /// without repeating anything about the user.
    pub fn announce_forgotten(
        &self,
        ids: &[i64],
        lease: Option<Duration>,
    ) -> Result<Vec<Delivery>, DeskError> {
        let l = self.lang();
        let mut out = Vec::new();
        for id in ids {
            let msg = texts::deleted_on_request_note(l, *id);
            out.extend(self.store.enqueue(
                &NewDelivery::to_advisers(None, None, &msg),
                self.clock.now(),
                lease,
            )?);
        }
        Ok(out)
    }
}

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max).collect();
        t.push('…');
        t
    }
}
/// The buttons under a ticket's note in the adviser room, by state: to
/// take it, close it or give it back while it waits; once taken, the first
/// names who has it ("✅ Anna"; pressed by another adviser it says so);
/// none once it is resolved.
pub fn note_buttons(l: Lang, t: &TicketRow) -> Vec<Button> {
    let op = |op| ButtonId::Ticket { op, ticket: t.id };
    let first = match (t.status, t.adviser.as_deref()) {
        (TicketStatus::Resolved, _) => return Vec::new(),
        (TicketStatus::Active, Some(name)) => op(TicketOp::Claim).button(format!("✅ {name}")),
        _ => op(TicketOp::Claim).button(texts::btn_take(l)),
    };
    vec![
        first,
        op(TicketOp::Resolve).button(texts::btn_close(l)),
        op(TicketOp::Handback).button(texts::btn_back_to_bot(l)),
    ]
}

/// Buttons as the `notes.shown` column records them.
pub fn shown_as(buttons: &[Button]) -> String {
    buttons
        .iter()
        .map(|b| format!("{}={}", b.id, b.label))
        .collect::<Vec<_>>()
        .join("\u{1f}")
}
