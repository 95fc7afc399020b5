//! The assistant's state, one trait per concern (`Users`, `Messages`,
//! `Tickets`, `Threads`, `Outbox`, `Inbox`, `Analyses`, `Stats`,
//! `Retention`; together `State`), and `Store`, the SQLite engine that
//! implements them. This module owns the engine: opening the file, WAL
//! mode so the running bot and `kraft tickets` in another process work on
//! one file, versioned migrations, `secure_delete` so `/forget` really
//! removes text, and the row types every engine returns. Each concern's
//! trait and its SQLite implementation live in their own file; the
//! contract suite `tests/tests/store_contract.rs` checks an engine
//! against the traits. `pg` is the second engine, `PgStore` on
//! PostgreSQL, for more than one process on one state.
//!
//! Every multi-row change (a ticket and the notification about it, a claim
//! and the message telling the user) is one transaction: either both are
//! stored or neither is.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};
use serde::{Deserialize, Serialize};

use crate::model::{person_of, Button, ChatRef, Lang, Platform, Privately, Redaction, UserRef};

mod analyses;
mod coord;
mod inbox;
mod messages;
mod outbox;
pub mod pg;
mod retention;
mod stats;
mod threads;
mod tickets;
mod users;

pub use analyses::Analyses;
pub use coord::Coordination;
pub use inbox::Inbox;
pub use messages::Messages;
pub use outbox::Outbox;
pub use pg::{redact_url, PgStore};
pub use retention::Retention;
pub use stats::Stats;
pub use threads::Threads;
pub use tickets::Tickets;
pub use users::Users;

/// Everything the assistant keeps, one trait per concern. A storage engine
/// implements the concerns; this blanket trait is what the core holds
/// (`Arc<dyn State>`), so the engine is chosen at start-up.
pub trait State:
    Users
    + Messages
    + Tickets
    + Threads
    + Outbox
    + Inbox
    + Analyses
    + Stats
    + Retention
    + Coordination
    + Send
    + Sync
{
}

impl<T> State for T where
    T: Users
        + Messages
        + Tickets
        + Threads
        + Outbox
        + Inbox
        + Analyses
        + Stats
        + Retention
        + Coordination
        + Send
        + Sync
{
}

/// The store's traits, for `use kraft_core::store::prelude::*` where
/// their methods are called.
pub mod prelude {
    pub use super::{
        Analyses, Coordination, Inbox, Messages, Outbox, Retention, State, Stats, Threads, Tickets,
        Users,
    };
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("state database {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error(
        "state database {path} has schema version {found}, newer than this kraft knows ({known}); upgrade kraft"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    /// Another process holds a write lock for longer than the busy timeout.
    #[error("state database is busy; try again")]
    Busy,
    #[error("state database: {0}")]
    Sql(rusqlite::Error),
    /// PostgreSQL could not be reached or refused the connection (the URL
    /// is shown with its password redacted).
    #[error("PostgreSQL state database {url}: {source}")]
    PgOpen {
        url: String,
        source: postgres::Error,
    },
    #[error(
        "PostgreSQL state database {url} has schema version {found}, newer than this kraft knows ({known}); upgrade kraft"
    )]
    PgTooNew { url: String, found: i64, known: i64 },
    /// A statement failed on PostgreSQL.
    #[error("PostgreSQL state database: {0}")]
    Postgres(postgres::Error),
    /// The thread holding a PostgreSQL connection stopped; the next call
    /// gets a new one, so trying again is right.
    #[error("PostgreSQL state database connection lost; try again")]
    PgGone,
    /// A statement that always returns a row returned none.
    #[error("PostgreSQL state database: a row expected was missing")]
    PgNoRow,
}

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> Self {
        use postgres::error::SqlState;
        // Conflicts between concurrent transactions: the caller may retry,
        // as with SQLite's busy database.
        match e.code() {
            Some(c)
                if *c == SqlState::T_R_SERIALIZATION_FAILURE
                    || *c == SqlState::T_R_DEADLOCK_DETECTED
                    || *c == SqlState::LOCK_NOT_AVAILABLE =>
            {
                StoreError::Busy
            }
            _ if e.is_closed() => StoreError::PgGone,
            _ => StoreError::Postgres(e),
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy) | Some(rusqlite::ErrorCode::DatabaseLocked) => {
                StoreError::Busy
            }
            _ => StoreError::Sql(e),
        }
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Schema migrations, applied in order; `PRAGMA user_version` records how
/// many have run. Never edit a released entry: add a new one.
const MIGRATIONS: &[&str] = &[
    // 1: the initial schema.
    r#"
    CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        platform TEXT NOT NULL,
        external_id TEXT NOT NULL,
        chat_id TEXT NOT NULL,
        lang TEXT NOT NULL DEFAULT 'sv',
        low_streak INTEGER NOT NULL DEFAULT 0,
        downvoted INTEGER NOT NULL DEFAULT 0,
        forget_pending INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        last_seen_at TEXT NOT NULL,
        UNIQUE (platform, external_id)
    );
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        role TEXT NOT NULL CHECK (role IN ('user', 'bot', 'adviser')),
        text TEXT NOT NULL,
        lang TEXT,
        outcome TEXT,
        confidence REAL,
        sources TEXT,
        query TEXT,
        ticket_id INTEGER,
        created_at TEXT NOT NULL
    );
    CREATE INDEX messages_by_user ON messages(user_id, id);
    CREATE TABLE tickets (
        id INTEGER PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        status TEXT NOT NULL CHECK (status IN ('waiting', 'active', 'resolved')),
        reason TEXT NOT NULL,
        summary TEXT NOT NULL,
        lang TEXT NOT NULL,
        platform TEXT NOT NULL,
        adviser TEXT,
        created_at TEXT NOT NULL,
        claimed_at TEXT,
        resolved_at TEXT,
        reminded_at TEXT,
        reminders INTEGER NOT NULL DEFAULT 0,
        resolution TEXT
    );
    CREATE UNIQUE INDEX one_open_ticket_per_user ON tickets(user_id)
        WHERE status IN ('waiting', 'active');
    CREATE TABLE feedback (
        id INTEGER PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        message_id INTEGER NOT NULL UNIQUE REFERENCES messages(id) ON DELETE CASCADE,
        vote INTEGER NOT NULL CHECK (vote IN (-1, 1)),
        created_at TEXT NOT NULL
    );
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        user_id INTEGER REFERENCES users(id) ON DELETE CASCADE,
        ticket_id INTEGER,
        target TEXT NOT NULL CHECK (target IN ('user', 'advisers')),
        platform TEXT,
        chat_id TEXT,
        text TEXT NOT NULL,
        buttons TEXT NOT NULL DEFAULT '[]',
        dedupe_key TEXT UNIQUE,
        created_at TEXT NOT NULL,
        leased_until TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        delivered_at TEXT
    );
    CREATE INDEX outbox_pending ON outbox(delivered_at, id);
    "#,
    // 2: chat front-ends. `inbox` makes platform events durable before they
    // are handled (and handled at most once); `cursors` keeps a platform's
    // read position (Telegram's update offset); `threads` and
    // `thread_messages` map tickets to their adviser-side topic/thread;
    // the outbox learns multi-part progress, platform hints and dead letters.
    r#"
    CREATE TABLE inbox (
        id INTEGER PRIMARY KEY,
        platform TEXT NOT NULL,
        key TEXT NOT NULL,
        chat TEXT NOT NULL,
        payload TEXT,
        received_at TEXT NOT NULL,
        handled_at TEXT,
        UNIQUE (platform, key)
    );
    CREATE INDEX inbox_pending ON inbox(platform, handled_at, id);
    CREATE TABLE cursors (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE threads (
        ticket_id INTEGER NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
        platform TEXT NOT NULL,
        chat_id TEXT NOT NULL,
        thread TEXT NOT NULL,
        PRIMARY KEY (ticket_id, platform)
    );
    CREATE TABLE thread_messages (
        platform TEXT NOT NULL,
        chat_id TEXT NOT NULL,
        message_id TEXT NOT NULL,
        ticket_id INTEGER NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
        PRIMARY KEY (platform, chat_id, message_id)
    );
    ALTER TABLE outbox ADD COLUMN meta TEXT;
    ALTER TABLE outbox ADD COLUMN parts_sent INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE outbox ADD COLUMN failed_at TEXT;
    ALTER TABLE outbox ADD COLUMN error TEXT;
    "#,
    // 3: needs analyses and anonymous statistics. `subject` is a random
    // token per user: statistics carry it instead of the user id, so once
    // the user row is gone (retention or /forget) nothing links a statistic
    // to a person. `stats` keeps only a day, a platform, a region and a
    // category: the follow-up report is computed from it alone, so it
    // survives the retention purge of conversation text unchanged.
    r#"
    ALTER TABLE users ADD COLUMN subject TEXT;
    UPDATE users SET subject = lower(hex(randomblob(16)));
    ALTER TABLE users ADD COLUMN region TEXT;
    CREATE TABLE stats (
        id INTEGER PRIMARY KEY,
        day TEXT NOT NULL,
        platform TEXT NOT NULL,
        region TEXT NOT NULL DEFAULT 'unknown',
        subject TEXT NOT NULL,
        kind TEXT NOT NULL,
        detail TEXT,
        value REAL
    );
    CREATE INDEX stats_by_day ON stats(day, kind);
    CREATE INDEX stats_by_subject ON stats(subject);
    CREATE TABLE analyses (
        user_id INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
        status TEXT NOT NULL CHECK (status IN ('active', 'paused', 'completed', 'quit')),
        step INTEGER NOT NULL,
        answers TEXT NOT NULL,
        started_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    "#,
    // 4: dead-lettered platform events. An event whose handling panicked
    // is marked handled with the reason in `error` (and its payload
    // dropped), so it is not retried forever and its chat goes on.
    r#"
    ALTER TABLE inbox ADD COLUMN error TEXT;
    "#,
    // 5: a ticket remembers where it was opened (`chat_id`) and where the
    // adviser conversation goes (`relay_chat`): a private chat only, never
    // the user's latest chat, which can be a public group or channel.
    // NULL = not known yet (a Telegram group member has not opened the
    // private chat with `link_token` yet); messages for the user wait in
    // the outbox with no chat until then. Open tickets from before: a
    // Telegram group member's private chat is their user id, a Discord
    // user's DM is opened by the front-end (`dm:<id>`), so nothing that
    // was queued goes to a group or channel; their queued messages follow.
    r#"
    ALTER TABLE tickets ADD COLUMN chat_id TEXT;
    ALTER TABLE tickets ADD COLUMN relay_chat TEXT;
    ALTER TABLE tickets ADD COLUMN link_token TEXT;
    CREATE UNIQUE INDEX tickets_by_link_token ON tickets(link_token)
        WHERE link_token IS NOT NULL;
    UPDATE tickets SET chat_id = (SELECT u.chat_id FROM users u WHERE u.id = tickets.user_id);
    UPDATE tickets SET relay_chat = (SELECT CASE
            WHEN u.platform = 'telegram' AND instr(u.external_id, '@') > 0
                THEN substr(u.external_id, 1, instr(u.external_id, '@') - 1)
            WHEN u.platform = 'discord' THEN 'dm:' || u.external_id
            ELSE u.chat_id END
        FROM users u WHERE u.id = tickets.user_id);
    UPDATE outbox SET chat_id = (SELECT t.relay_chat FROM tickets t WHERE t.id = outbox.ticket_id)
     WHERE target = 'user' AND delivered_at IS NULL AND failed_at IS NULL
       AND ticket_id IN (SELECT id FROM tickets);
    "#,
    // 6: advisers are identified by `adviser_id` (`telegram:<user id>`,
    // `discord:<user id>`, or `name:<name>` for `kraft tickets --as`);
    // `adviser` is only the name shown. Before, two advisers with the same
    // display name shared a claim. Claims from before were by name.
    r#"
    ALTER TABLE tickets ADD COLUMN adviser_id TEXT;
    UPDATE tickets SET adviser_id = 'name:' || adviser WHERE adviser IS NOT NULL;
    "#,
    // 7: the user's private chat (a private chat or DM they wrote in), so
    // /forget can delete the handled inbox entries of that chat and no
    // other: a group's entries belong to all its members.
    r#"
    ALTER TABLE users ADD COLUMN private_chat TEXT;
    UPDATE users SET private_chat = chat_id
     WHERE (platform = 'telegram' AND chat_id = external_id) OR platform = 'terminal';
    "#,
    // 8: the language the user chose with /lang (NULL: none chosen), and
    // when the privacy notice was shown (NULL: not yet). Users from before
    // saw the notice only if they sent /start; they get it once more.
    r#"
    ALTER TABLE users ADD COLUMN lang_pref TEXT;
    ALTER TABLE users ADD COLUMN notice_at TEXT;
    "#,
    // 9: the user's one-tap satisfaction with a resolved ticket, and the
    // message in each adviser room that carries a ticket's buttons (so
    // they can follow its state).
    r#"
    ALTER TABLE tickets ADD COLUMN satisfaction TEXT;
    CREATE TABLE notes (
        ticket_id INTEGER NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
        platform TEXT NOT NULL,
        chat_id TEXT NOT NULL,
        message_id TEXT NOT NULL,
        shown TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (ticket_id, platform)
    );
    "#,
    // 10: where the conversation stands is one value (`Dialogue`, JSON)
    // instead of three flags; the flags go.
    r#"
    ALTER TABLE users ADD COLUMN dialogue TEXT NOT NULL DEFAULT '{"state":"idle","low_streak":0}';
    UPDATE users SET dialogue = CASE
        WHEN forget_pending != 0 THEN '{"state":"confirm_forget"}'
        WHEN downvoted != 0 THEN json_object('state', 'after_downvote', 'low_streak', low_streak)
        ELSE json_object('state', 'idle', 'low_streak', low_streak)
    END;
    ALTER TABLE users DROP COLUMN low_streak;
    ALTER TABLE users DROP COLUMN downvoted;
    ALTER TABLE users DROP COLUMN forget_pending;
    "#,
    // 11: coordination between processes (`coord`): named leases with a
    // holder and an expiry (the index ingest, a chat being handled), and
    // the flood limit's GCRA state per key (µs since the epoch).
    r#"
    CREATE TABLE leases (
        name TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        until TEXT NOT NULL
    );
    CREATE TABLE flood (
        key TEXT PRIMARY KEY,
        tat INTEGER NOT NULL,
        warned_at INTEGER
    );
    "#,
];

/// How many schema versions this build knows (the newest it can open).
pub fn schema_versions() -> i64 {
    MIGRATIONS.len() as i64
}

pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn parse_ts(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_default()
}

fn lang_of(s: &str) -> Lang {
    Lang::parse(s).unwrap_or_default()
}

/// Where a user's conversation with the bot stands between messages: one
/// value, stored as JSON in `users.dialogue`. (A needs analysis and an
/// adviser's ticket have tables of their own, with their data; see
/// `crate::route` for how the three decide what a message is for.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Dialogue {
    /// Answering questions; the last `low_streak` answers in a row were
    /// "I don't know" (enough of them open a ticket).
    Idle { low_streak: i64 },
    /// As `Idle`, and the last answer got a 👎: the next question opens a
    /// ticket, with "downvote" as the reason.
    AfterDownvote { low_streak: i64 },
    /// "Delete everything about you?" was asked: the next message or
    /// button answers it (only a yes deletes), then the conversation
    /// starts afresh.
    ConfirmForget,
}

impl Default for Dialogue {
    fn default() -> Self {
        Dialogue::Idle { low_streak: 0 }
    }
}

impl Dialogue {
    pub fn low_streak(self) -> i64 {
        match self {
            Dialogue::Idle { low_streak } | Dialogue::AfterDownvote { low_streak } => low_streak,
            Dialogue::ConfirmForget => 0,
        }
    }

    pub fn confirming_forget(self) -> bool {
        self == Dialogue::ConfirmForget
    }

    /// After a 👎 on an answer.
    pub fn downvoted(self) -> Dialogue {
        Dialogue::AfterDownvote {
            low_streak: self.low_streak(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct UserRow {
    pub id: i64,
    pub platform: Platform,
    pub external_id: String,
    pub chat_id: String,
    pub lang: Lang,
    /// Where the conversation stands between messages.
    pub dialogue: Dialogue,
    pub created_at: DateTime<Utc>,
    /// Random token for anonymous statistics (migration 3).
    pub subject: String,
    /// vastmanland | sormland | other, once the user has said.
    pub region: Option<String>,
    /// When the user was last seen before this message (set by
    /// `touch_user` only; `None` for a new user).
    pub seen_before: Option<DateTime<Utc>>,
    /// How the user is reached privately from the chat of this message
    /// (set by `touch_user` only; not stored).
    pub privately: Privately,
    /// The language chosen with /lang, if any: what short messages are
    /// answered in (a clear question is still answered in its own).
    pub lang_pref: Option<Lang>,
    /// This identity has been shown the privacy notice.
    pub noticed: bool,
}

impl UserRow {
    pub fn chat(&self) -> ChatRef {
        ChatRef {
            platform: self.platform,
            chat_id: self.chat_id.clone(),
        }
    }

    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        let platform: String = r.get("platform")?;
        Ok(Self {
            id: r.get("id")?,
            platform: Platform::parse(&platform).unwrap_or(Platform::Terminal),
            external_id: r.get("external_id")?,
            chat_id: r.get("chat_id")?,
            lang: lang_of(&r.get::<_, String>("lang")?),
            // An unreadable value (written by a newer build) starts over.
            dialogue: serde_json::from_str(&r.get::<_, String>("dialogue")?).unwrap_or_default(),
            created_at: parse_ts(&r.get::<_, String>("created_at")?),
            subject: r.get::<_, Option<String>>("subject")?.unwrap_or_default(),
            region: r.get("region")?,
            seen_before: None,
            privately: Privately::Here,
            lang_pref: r
                .get::<_, Option<String>>("lang_pref")?
                .as_deref()
                .and_then(Lang::parse),
            noticed: r.get::<_, Option<String>>("notice_at")?.is_some(),
        })
    }
}

/// One anonymous statistic: what happened, on which day, where. No user
/// id, no text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatRow {
    pub day: NaiveDate,
    pub platform: String,
    pub region: String,
    pub subject: String,
    pub kind: String,
    pub detail: Option<String>,
    pub value: Option<f64>,
}

/// A question the bot could not answer well: abstained on, or answered
/// and then voted 👎. For the knowledge-gap report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GapQuestion {
    pub day: NaiveDate,
    pub lang: Lang,
    pub text: String,
    /// "abstained" or "downvoted".
    pub why: String,
}

/// A needs analysis in progress or done; `answers` is the
/// `analysis::Answers` JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalysisRow {
    pub user_id: i64,
    pub status: String,
    pub step: i64,
    pub answers: String,
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    User,
    Bot,
    Adviser,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Bot => "bot",
            Role::Adviser => "adviser",
        }
    }

    fn parse(s: &str) -> Role {
        match s {
            "bot" => Role::Bot,
            "adviser" => Role::Adviser,
            _ => Role::User,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct NewMessage<'a> {
    pub text: &'a str,
    pub lang: Option<Lang>,
    /// For bot messages: answered, abstained, off_topic, boundary, …
    pub outcome: Option<&'a str>,
    pub confidence: Option<f32>,
    /// Knowledge paths the answer cited.
    pub sources: Vec<String>,
    /// The retrieval query actually used (differs for follow-ups).
    pub query: Option<&'a str>,
    pub ticket_id: Option<i64>,
}

/// One anonymous statistic to record (see `Stats::stat`).
#[derive(Debug, Clone, Copy, Default)]
pub struct NewStat<'a> {
    pub kind: &'a str,
    pub detail: Option<&'a str>,
    pub value: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MessageRow {
    pub id: i64,
    pub user_id: i64,
    pub role: Role,
    pub text: String,
    pub lang: Option<Lang>,
    pub outcome: Option<String>,
    pub confidence: Option<f32>,
    pub sources: Vec<String>,
    pub query: Option<String>,
    pub ticket_id: Option<i64>,
    pub created_at: DateTime<Utc>,
}

impl MessageRow {
    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        let sources: Option<String> = r.get("sources")?;
        Ok(Self {
            id: r.get("id")?,
            user_id: r.get("user_id")?,
            role: Role::parse(&r.get::<_, String>("role")?),
            text: r.get("text")?,
            lang: r
                .get::<_, Option<String>>("lang")?
                .and_then(|l| Lang::parse(&l)),
            outcome: r.get("outcome")?,
            confidence: r.get::<_, Option<f64>>("confidence")?.map(|c| c as f32),
            sources: sources
                .and_then(|s| serde_json::from_str(&s).ok())
                .unwrap_or_default(),
            query: r.get("query")?,
            ticket_id: r.get("ticket_id")?,
            created_at: parse_ts(&r.get::<_, String>("created_at")?),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketStatus {
    Waiting,
    Active,
    Resolved,
}

impl TicketStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TicketStatus::Waiting => "waiting",
            TicketStatus::Active => "active",
            TicketStatus::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<TicketStatus> {
        match s {
            "waiting" => Some(TicketStatus::Waiting),
            "active" => Some(TicketStatus::Active),
            "resolved" => Some(TicketStatus::Resolved),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TicketRow {
    pub id: i64,
    pub user_id: i64,
    pub status: TicketStatus,
    pub reason: String,
    pub summary: String,
    pub lang: Lang,
    pub platform: Platform,
    /// The name shown for the adviser who holds the ticket.
    pub adviser: Option<String>,
    /// Who holds it (see `desk::Adviser`): what claims are compared by.
    pub adviser_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub claimed_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub reminders: i64,
    pub resolution: Option<String>,
    /// The chat the ticket was opened from.
    pub chat_id: Option<String>,
    /// The private chat the adviser conversation goes to; `None` until
    /// the user has opened one (see migration 5).
    pub relay_chat: Option<String>,
    /// Opens the private chat (Telegram's `/start <token>`) while the
    /// ticket is open; only for the same person. Not shown anywhere but
    /// in the link given to the user.
    #[serde(skip)]
    pub link_token: Option<String>,
}

impl TicketRow {
    /// Where messages for the user about this ticket go: its private
    /// chat, or (empty chat id) nowhere yet, to wait in the outbox.
    pub fn relay(&self) -> ChatRef {
        ChatRef {
            platform: self.platform,
            chat_id: self.relay_chat.clone().unwrap_or_default(),
        }
    }

    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        let opt_ts = |c: &str| -> rusqlite::Result<Option<DateTime<Utc>>> {
            Ok(r.get::<_, Option<String>>(c)?.map(|s| parse_ts(&s)))
        };
        Ok(Self {
            id: r.get("id")?,
            user_id: r.get("user_id")?,
            status: TicketStatus::parse(&r.get::<_, String>("status")?)
                .unwrap_or(TicketStatus::Resolved),
            reason: r.get("reason")?,
            summary: r.get("summary")?,
            lang: lang_of(&r.get::<_, String>("lang")?),
            platform: Platform::parse(&r.get::<_, String>("platform")?)
                .unwrap_or(Platform::Terminal),
            adviser: r.get("adviser")?,
            adviser_id: r.get("adviser_id")?,
            created_at: parse_ts(&r.get::<_, String>("created_at")?),
            claimed_at: opt_ts("claimed_at")?,
            resolved_at: opt_ts("resolved_at")?,
            reminders: r.get("reminders")?,
            resolution: r.get("resolution")?,
            chat_id: r.get("chat_id")?,
            relay_chat: r.get("relay_chat")?,
            link_token: r.get("link_token")?,
        })
    }
}

/// Who an outbox entry is for.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    User(ChatRef),
    Advisers,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewDelivery<'a> {
    pub user_id: Option<i64>,
    pub ticket_id: Option<i64>,
    pub target: Target,
    pub text: &'a str,
    pub buttons: &'a [Button],
    /// Same key twice = stored once (e.g. an adviser message id that a
    /// platform delivered twice).
    pub dedupe_key: Option<&'a str>,
    /// Front-end hints the core does not interpret (JSON, e.g. which
    /// message to reply to in a group).
    pub meta: Option<&'a str>,
}

impl<'a> NewDelivery<'a> {
    /// A message for the user of a ticket, to the ticket's private chat
    /// (held in the outbox while that is not known yet).
    pub fn to_user(ticket: &TicketRow, text: &'a str) -> Self {
        Self {
            user_id: Some(ticket.user_id),
            ticket_id: Some(ticket.id),
            target: Target::User(ticket.relay()),
            text,
            buttons: &[],
            dedupe_key: None,
            meta: None,
        }
    }

    /// A note for the advisers; `user_id` None = about nobody in particular.
    pub fn to_advisers(user_id: Option<i64>, ticket_id: Option<i64>, text: &'a str) -> Self {
        Self {
            user_id,
            ticket_id,
            target: Target::Advisers,
            text,
            buttons: &[],
            dedupe_key: None,
            meta: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub id: i64,
    pub ticket_id: Option<i64>,
    pub target: Target,
    pub text: String,
    pub buttons: Vec<Button>,
    pub attempts: i64,
    /// The user the delivery is about (adviser notes included).
    pub user_id: Option<i64>,
    pub meta: Option<String>,
    /// Parts of a split message already sent (a retry resumes after them).
    pub parts_sent: i64,
    /// When it was queued: no attempt to send it can be older.
    pub created_at: DateTime<Utc>,
}

impl Delivery {
    /// Whether the front-end of `platform`, which hosts the advisers of
    /// users on `advisers_for`, sends this delivery that was leased to it
    /// while it handled one of its own users.
    pub fn sent_by(&self, platform: Platform, advisers_for: &[Platform]) -> bool {
        match &self.target {
            Target::User(c) => c.platform == platform,
            Target::Advisers => advisers_for.contains(&platform),
        }
    }

    /// The outbox entry behind an action the core already queued and
    /// leased to the caller (`NotifyAdvisers`, `RelayToUser`), so a
    /// front-end can send it at once and confirm it like any delivery.
    pub fn leased(a: crate::Action) -> Option<Delivery> {
        let (id, ticket_id, target, text, buttons) = match a {
            crate::Action::NotifyAdvisers {
                delivery,
                ticket,
                text,
                buttons,
            } => (delivery, ticket, Target::Advisers, text, buttons),
            crate::Action::RelayToUser {
                delivery,
                chat,
                ticket,
                text,
            } => (delivery, ticket, Target::User(chat), text, Vec::new()),
            _ => return None,
        };
        Some(Delivery {
            id,
            ticket_id,
            target,
            text,
            buttons,
            attempts: 1,
            user_id: None,
            meta: None,
            parts_sent: 0,
            // Leased at its making: this is its first attempt.
            created_at: Utc::now(),
        })
    }
}

impl Delivery {
    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        let target: String = r.get("target")?;
        let target = if target == "user" {
            let platform: Option<String> = r.get("platform")?;
            Target::User(ChatRef {
                platform: platform
                    .as_deref()
                    .and_then(Platform::parse)
                    .unwrap_or(Platform::Terminal),
                chat_id: r.get::<_, Option<String>>("chat_id")?.unwrap_or_default(),
            })
        } else {
            Target::Advisers
        };
        let buttons: String = r.get("buttons")?;
        Ok(Self {
            id: r.get("id")?,
            ticket_id: r.get("ticket_id")?,
            target,
            text: r.get("text")?,
            buttons: serde_json::from_str(&buttons).unwrap_or_default(),
            attempts: r.get("attempts")?,
            user_id: r.get("user_id")?,
            meta: r.get("meta")?,
            parts_sent: r.get("parts_sent")?,
            created_at: parse_ts(&r.get::<_, String>("created_at")?),
        })
    }
}

/// Counts for `kraft tickets` and metrics.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Purged {
    pub messages: usize,
    pub analyses: usize,
    pub tickets: usize,
    pub users: usize,
    pub deliveries: usize,
}

#[derive(Debug)]
pub struct Store {
    conn: Mutex<Connection>,
    path: PathBuf,
    _checkpoints: Checkpointer,
}

/// WAL size at which the checkpoint thread copies the WAL back into the
/// database: SQLite's own default (1,000 pages of 4 KiB).
const CHECKPOINT_WAL_BYTES: u64 = 4 * 1024 * 1024;
/// SQLite's automatic checkpoint stays on as a safety net, ten times
/// later, for the case that the checkpoint thread cannot keep up.
const SAFETY_NET_PAGES: i64 = 10_000;
const CHECKPOINT_POLL: Duration = Duration::from_millis(200);

/// WAL checkpoints off the answering path. SQLite's automatic checkpoint
/// runs inside the commit that crosses its threshold: that user's turn
/// waited for the copy and the fsyncs (`kraft bench --handle-only`: the
/// slowest turns, 5–10 ms against a median of 1.5 ms, were exactly those).
/// This thread, with a connection of its own, watches the WAL's size and
/// runs a passive checkpoint, which never blocks the writer or readers.
/// It stops (and is joined) when the store is dropped.
#[derive(Debug)]
struct Checkpointer {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    fn start(path: &Path) -> Self {
        let (stop, rx) = std::sync::mpsc::channel::<()>();
        let db = path.to_path_buf();
        let mut wal = db.clone().into_os_string();
        wal.push("-wal");
        let wal = PathBuf::from(wal);
        let thread = std::thread::Builder::new()
            .name("kraft-checkpoint".into())
            .spawn(move || {
                let conn = match Connection::open(&db) {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(error = %e, "checkpoint thread: cannot open the database; SQLite's automatic checkpoint stays in charge");
                        return;
                    }
                };
                let _ = conn.busy_timeout(Duration::from_secs(1));
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    rx.recv_timeout(CHECKPOINT_POLL)
                {
                    let size = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
                    if size < CHECKPOINT_WAL_BYTES {
                        continue;
                    }
                    if let Err(e) =
                        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                    {
                        tracing::warn!(error = %e, "checkpoint failed; retried on the next poll");
                    }
                }
            });
        match thread {
            Ok(t) => Self {
                stop: Some(stop),
                thread: Some(t),
            },
            Err(e) => {
                tracing::warn!(error = %e, "cannot start the checkpoint thread; SQLite's automatic checkpoint stays in charge");
                Self {
                    stop: None,
                    thread: None,
                }
            }
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Statements through the connection's prepared-statement cache: a turn
/// runs the same dozen statements every time, and parsing each anew cost
/// more than running it.
pub(crate) trait Cached {
    fn exec<P: rusqlite::Params>(&self, sql: &str, p: P) -> rusqlite::Result<usize>;
    fn row<T, P, F>(&self, sql: &str, p: P, f: F) -> rusqlite::Result<T>
    where
        P: rusqlite::Params,
        F: FnOnce(&Row<'_>) -> rusqlite::Result<T>;
}

impl Cached for Connection {
    fn exec<P: rusqlite::Params>(&self, sql: &str, p: P) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(p)
    }

    fn row<T, P, F>(&self, sql: &str, p: P, f: F) -> rusqlite::Result<T>
    where
        P: rusqlite::Params,
        F: FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    {
        self.prepare_cached(sql)?.query_row(p, f)
    }
}

impl Store {
    /// Opens (creating if needed) the database and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self> {
        let err = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir).map_err(|e| {
                    err(rusqlite::Error::SqliteFailure(
                        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                        Some(format!("cannot create {}: {e}", dir.display())),
                    ))
                })?;
            }
        }
        let mut conn = Connection::open(path).map_err(err)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(err)?;
        // Deleted rows are overwritten, not just unlinked: /forget means gone.
        conn.pragma_update(None, "secure_delete", "ON")
            .map_err(err)?;
        migrate(&mut conn, path)?;
        conn.set_prepared_statement_cache_capacity(64);
        let checkpoints = Checkpointer::start(path);
        let safety_net = if checkpoints.thread.is_some() {
            SAFETY_NET_PAGES
        } else {
            1_000
        };
        conn.pragma_update(None, "wal_autocheckpoint", safety_net)
            .map_err(err)?;
        Ok(Self {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
            _checkpoints: checkpoints,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn schema_version(&self) -> Result<i64> {
        Ok(self
            .lock()?
            .pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    /// The connection. A panic elsewhere while it was held (a closure run
    /// inside `tx`, say) poisons the mutex, but not the connection: an open
    /// transaction is rolled back when its guard drops during the unwind.
    /// So the lock is taken back rather than failing every later call,
    /// which would stop the whole process over one bad event.
    fn lock(&self) -> Result<MutexGuard<'_, Connection>> {
        Ok(self.conn.lock().unwrap_or_else(|p| {
            self.conn.clear_poison();
            p.into_inner()
        }))
    }

    fn tx<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.lock()?;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// Writes a consistent copy of the database to `dest` (which must not
    /// exist) with `VACUUM INTO`: one read snapshot, so writers go on.
    pub fn vacuum_into(&self, dest: &Path) -> Result<()> {
        self.lock()?
            .execute("VACUUM INTO ?1", [dest.to_string_lossy()])?;
        Ok(())
    }
}

/// A platform event to keep before handling it.
#[derive(Debug, Clone)]
pub struct InboxEvent<'a> {
    /// Unique per platform (Telegram: the update id).
    pub key: &'a str,
    /// Events of one chat are handled in order, one at a time.
    pub chat: &'a str,
    pub payload: &'a str,
}

#[derive(Debug, Clone, PartialEq)]
pub struct InboxRow {
    pub id: i64,
    pub key: String,
    pub chat: String,
    pub payload: String,
}

#[derive(Debug, Clone)]
pub struct NewTicket<'a> {
    pub user_id: i64,
    pub reason: &'a str,
    pub summary: &'a str,
    pub lang: Lang,
    pub platform: Platform,
    /// Where it was opened.
    pub chat_id: &'a str,
    /// The user's private chat, if known; `None` also makes a link token.
    pub relay_chat: Option<&'a str>,
    /// Tickets the same person may have opened in the last 24 hours
    /// before this one is refused; 0 = no limit.
    pub max_per_day: i64,
}

/// The outcome of `Store::create_ticket`.
#[derive(Debug, Clone, PartialEq)]
pub enum Opened {
    /// Stored, with its notifications (leased to the caller).
    New(i64, Vec<Delivery>),
    /// The user already has an open ticket.
    AlreadyOpen,
    /// The person opened `max_per_day` tickets in the last 24 hours.
    Capped,
}

/// What `Store::forget` deleted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Forgotten {
    /// The person's identities (a private one, one per group).
    pub identities: usize,
    pub messages: usize,
    pub tickets: usize,
    pub analyses: usize,
    pub feedback: usize,
    /// Tickets that were still open.
    pub open: Vec<i64>,
    /// What Kraft posted about the tickets on the adviser side.
    pub redactions: Vec<Redaction>,
}

/// The outcome of `Store::move_to_private`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moved {
    /// The ticket now goes on in the private chat.
    Moved(i64),
    /// The user already had `into` open there; `ticket` was closed.
    Merged { ticket: i64, into: i64 },
    /// The token belongs to another person's ticket.
    NotYours,
    /// No open ticket has this token.
    Unknown,
}

/// What a ticket transition changes.
#[derive(Debug, Clone, Default)]
pub struct Transition<'a> {
    pub status: Option<TicketStatus>,
    /// The adviser who now holds the ticket: (identity, name shown).
    pub adviser: Option<(&'a str, &'a str)>,
    pub resolution: Option<&'a str>,
    /// An adviser message to keep in the conversation history.
    pub message: Option<NewMessage<'a>>,
    pub deliveries: Vec<NewDelivery<'a>>,
}

/// Tickets opened in the last 24 hours by the person behind user
/// `user_id`: that user and the person's other identities on the same
/// platform (`<user>` and `<user>@<chat>`).
fn count_recent_tickets(conn: &Connection, user_id: i64, now: DateTime<Utc>) -> Result<i64> {
    let (platform, ext): (String, String) = conn.query_row(
        "SELECT platform, external_id FROM users WHERE id = ?1",
        [user_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let person = person_of(&ext);
    Ok(conn.query_row(
        "SELECT count(*) FROM tickets t JOIN users u ON u.id = t.user_id
          WHERE u.platform = ?1
            AND (u.external_id = ?2 OR substr(u.external_id, 1, length(?2) + 1) = ?2 || '@')
            AND t.created_at > ?3",
        params![platform, person, ts(now - chrono::Duration::hours(24))],
        |r| r.get(0),
    )?)
}

fn insert_message(
    conn: &Connection,
    user_id: i64,
    role: Role,
    m: &NewMessage<'_>,
    now: DateTime<Utc>,
) -> Result<i64> {
    let sources = if m.sources.is_empty() {
        None
    } else {
        serde_json::to_string(&m.sources).ok()
    };
    conn.exec(
        "INSERT INTO messages (user_id, role, text, lang, outcome, confidence, sources, query, ticket_id, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            user_id,
            role.as_str(),
            m.text,
            m.lang.map(|l| l.as_str()),
            m.outcome,
            m.confidence.map(f64::from),
            sources,
            m.query,
            m.ticket_id,
            ts(now)
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

fn insert_delivery(
    conn: &Connection,
    d: &NewDelivery<'_>,
    now: DateTime<Utc>,
    leased_until: Option<DateTime<Utc>>,
) -> Result<Option<Delivery>> {
    let (target, platform, chat_id) = match &d.target {
        // No chat yet: held until the ticket's private chat is known.
        Target::User(c) => (
            "user",
            Some(c.platform.as_str()),
            Some(c.chat_id.as_str()).filter(|c| !c.is_empty()),
        ),
        Target::Advisers => ("advisers", None, None),
    };
    let buttons = serde_json::to_string(d.buttons).unwrap_or_else(|_| "[]".into());
    let n = conn.exec(
        // Adviser notifications carry the user's platform, so each
        // front-end tells its own advisers about its own users.
        "INSERT INTO outbox (user_id, ticket_id, target, platform, chat_id, text, buttons, dedupe_key, created_at, leased_until, meta)
         VALUES (?1, ?2, ?3, COALESCE(?4, (SELECT platform FROM users WHERE id = ?1)), ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT (dedupe_key) DO NOTHING",
        params![
            d.user_id,
            d.ticket_id,
            target,
            platform,
            chat_id,
            d.text,
            buttons,
            d.dedupe_key,
            ts(now),
            leased_until.map(ts),
            d.meta
        ],
    )?;
    if n == 0 {
        return Ok(None);
    }
    Ok(Some(Delivery {
        id: conn.last_insert_rowid(),
        ticket_id: d.ticket_id,
        target: d.target.clone(),
        text: d.text.to_string(),
        buttons: d.buttons.to_vec(),
        attempts: 0,
        user_id: d.user_id,
        meta: d.meta.map(str::to_string),
        parts_sent: 0,
        created_at: now,
    }))
}

/// Writes a named cursor (a platform's read position, a followed chat).
fn put_cursor(conn: &Connection, name: &str, value: &str) -> rusqlite::Result<()> {
    conn.exec(
        "INSERT INTO cursors (name, value) VALUES (?1, ?2)
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        params![name, value],
    )?;
    Ok(())
}

/// Platforms as a JSON array, for `json_each` in SQL.
fn platform_list(ps: &[Platform]) -> String {
    let v: Vec<&str> = ps.iter().map(|p| p.as_str()).collect();
    serde_json::to_string(&v).unwrap_or_else(|_| "[]".into())
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    let known = MIGRATIONS.len() as i64;
    let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if found > known {
        return Err(StoreError::TooNew {
            path: path.to_path_buf(),
            found,
            known,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
        tracing::info!(version = i + 1, "state database migrated");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_run_once_and_a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("s.sqlite");
        let s = Store::open(&p).expect("fresh");
        assert_eq!(s.schema_version().expect("v"), MIGRATIONS.len() as i64);
        let u = s
            .touch_user(&UserRef::new(Platform::Terminal, "u", "u"), Utc::now())
            .expect("user");
        drop(s);
        // Reopening keeps the data and runs nothing again.
        let s = Store::open(&p).expect("reopen");
        assert_eq!(
            s.user(u.id).expect("db").map(|x| x.external_id),
            Some("u".into())
        );
        s.lock()
            .expect("lock")
            .pragma_update(None, "user_version", 99)
            .expect("set version");
        drop(s);
        match Store::open(&p) {
            Err(StoreError::TooNew { found: 99, .. }) => {}
            other => panic!("expected TooNew, got {other:?}"),
        }
    }

    /// The WAL is copied back by the checkpoint thread, not left for the
    /// safety-net automatic checkpoint (ten times later): after 5 MB of
    /// messages the database file itself holds them. (Without the thread
    /// the database file stays at its empty size until 40 MB of WAL.)
    #[test]
    fn the_checkpoint_thread_copies_the_wal_back() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("s.sqlite");
        let s = Store::open(&p).expect("open");
        let u = s
            .touch_user(&UserRef::new(Platform::Terminal, "u", "u"), Utc::now())
            .expect("user");
        // Few, large commits: the frames stay well under the safety net's
        // 10,000 pages.
        let text = "x".repeat(6_000);
        for _ in 0..900 {
            s.add_message(
                u.id,
                Role::User,
                &NewMessage {
                    text: &text,
                    lang: None,
                    outcome: None,
                    confidence: None,
                    sources: vec![],
                    query: None,
                    ticket_id: None,
                },
                Utc::now(),
            )
            .expect("message");
        }
        let size = || std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while size() < CHECKPOINT_WAL_BYTES && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            size() >= CHECKPOINT_WAL_BYTES,
            "the database file is {} bytes: nothing was checkpointed",
            size()
        );
        let auto: i64 = s
            .lock()
            .expect("lock")
            .pragma_query_value(None, "wal_autocheckpoint", |r| r.get(0))
            .expect("pragma");
        assert_eq!(auto, SAFETY_NET_PAGES);
    }

    #[test]
    fn the_database_is_in_wal_mode_with_secure_delete() {
        let dir = tempfile::tempdir().expect("tmp");
        let s = Store::open(&dir.path().join("s.sqlite")).expect("open");
        let c = s.lock().expect("lock");
        let mode: String = c
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .expect("mode");
        assert_eq!(mode, "wal");
        let sd: i64 = c
            .pragma_query_value(None, "secure_delete", |r| r.get(0))
            .expect("sd");
        assert_eq!(sd, 1);
    }

    #[test]
    fn inbox_events_are_kept_once_and_handled_once() {
        let dir = tempfile::tempdir().expect("tmp");
        let s = Store::open(&dir.path().join("s.sqlite")).expect("open");
        let now = Utc::now();
        let ev = |k: &'static str| InboxEvent {
            key: k,
            chat: "7",
            payload: "{}",
        };
        let n = s
            .inbox_add(
                Platform::Telegram,
                &[ev("1"), ev("2")],
                Some(("tg", "3")),
                now,
            )
            .expect("add");
        assert_eq!(n, 2);
        // Redelivered: stored once; the cursor still moves.
        let n = s
            .inbox_add(
                Platform::Telegram,
                &[ev("2"), ev("3")],
                Some(("tg", "4")),
                now,
            )
            .expect("add");
        assert_eq!(n, 1);
        assert_eq!(s.cursor("tg").expect("cursor").as_deref(), Some("4"));
        let rows = s.inbox_pending(Platform::Telegram, 10).expect("pending");
        assert_eq!(
            rows.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(),
            ["1", "2", "3"]
        );
        let chat = ChatRef {
            platform: Platform::Telegram,
            chat_id: "7".into(),
        };
        let reply = NewDelivery {
            user_id: None,
            ticket_id: None,
            target: Target::User(chat),
            text: "svar",
            buttons: &[],
            dedupe_key: None,
            meta: Some(r#"{"reply_to":5}"#),
        };
        let lease = Duration::from_secs(60);
        let first = s
            .inbox_done(rows[0].id, std::slice::from_ref(&reply), now, lease)
            .expect("done");
        assert_eq!(first.map(|d| d.len()), Some(1));
        let again = s
            .inbox_done(rows[0].id, std::slice::from_ref(&reply), now, lease)
            .expect("done");
        assert_eq!(again, None, "a handled event queues nothing twice");
        assert_eq!(s.undelivered().expect("n"), 1);
        assert_eq!(s.inbox_unhandled().expect("n"), 2);
        // The payload is gone once handled.
        let dump = s.dump_all().expect("dump");
        let inbox = &dump.iter().find(|(t, _)| t == "inbox").expect("inbox").1;
        assert_eq!(
            inbox.iter().filter(|r| r.contains("Text(\"{}\")")).count(),
            2
        );
    }

    #[test]
    fn a_dead_lettered_event_is_handled_once_and_the_oldest_pending_is_known() {
        let dir = tempfile::tempdir().expect("tmp");
        let s = Store::open(&dir.path().join("s.sqlite")).expect("open");
        // Whole seconds: timestamps are stored to the microsecond.
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).expect("a time");
        let ev = |k: &'static str| InboxEvent {
            key: k,
            chat: "-5",
            payload: "İ @bot hej",
        };
        s.inbox_add(Platform::Telegram, &[ev("1")], None, t0)
            .expect("add");
        s.inbox_add(
            Platform::Telegram,
            &[ev("2")],
            None,
            t0 + chrono::Duration::seconds(5),
        )
        .expect("add");
        assert_eq!(s.inbox_oldest_unhandled().expect("oldest"), Some(t0));
        let rows = s.inbox_pending(Platform::Telegram, 10).expect("pending");
        assert!(s
            .inbox_dead_letter(rows[0].id, "panic", t0)
            .expect("dead letter"));
        assert!(
            !s.inbox_dead_letter(rows[0].id, "panic", t0).expect("again"),
            "already handled"
        );
        // Not pending any more, not retried; the next one is the oldest.
        let left = s.inbox_pending(Platform::Telegram, 10).expect("pending");
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].key, "2");
        assert_eq!(
            s.inbox_oldest_unhandled().expect("oldest"),
            Some(t0 + chrono::Duration::seconds(5))
        );
        assert_eq!(
            s.inbox_dead_letters(10).expect("dl"),
            vec![("telegram".into(), "1".into(), "panic".into())]
        );
        // The text is gone with it.
        let dump = s.dump_all().expect("dump");
        let inbox = &dump.iter().find(|(t, _)| t == "inbox").expect("inbox").1;
        assert_eq!(inbox.iter().filter(|r| r.contains("hej")).count(), 1);
        s.inbox_done(left[0].id, &[], t0, Duration::from_secs(1))
            .expect("done");
        assert_eq!(s.inbox_oldest_unhandled().expect("oldest"), None);
    }

    #[test]
    fn a_panic_inside_a_transaction_rolls_it_back_and_the_store_goes_on() {
        let dir = tempfile::tempdir().expect("tmp");
        let s = std::sync::Arc::new(Store::open(&dir.path().join("s.sqlite")).expect("open"));
        let u = s
            .touch_user(&UserRef::new(Platform::Telegram, "7", "7"), Utc::now())
            .expect("user");
        let s2 = s.clone();
        let uid = u.id;
        let panicked = std::thread::spawn(move || {
            s2.create_ticket(
                NewTicket {
                    user_id: uid,
                    reason: "user_request",
                    summary: "s",
                    lang: Lang::Sv,
                    platform: Platform::Telegram,
                    chat_id: "7",
                    relay_chat: Some("7"),
                    max_per_day: 0,
                },
                &|_| panic!("a bug while composing the note"),
                Utc::now(),
                Duration::from_secs(60),
            )
        })
        .join();
        assert!(panicked.is_err(), "the closure panicked");
        // The half-made ticket was rolled back, and the store still works.
        assert_eq!(s.open_ticket_of(uid).expect("usable"), None);
        let made = s
            .create_ticket(
                NewTicket {
                    user_id: uid,
                    reason: "user_request",
                    summary: "s",
                    lang: Lang::Sv,
                    platform: Platform::Telegram,
                    chat_id: "7",
                    relay_chat: Some("7"),
                    max_per_day: 0,
                },
                &|_| Vec::new(),
                Utc::now(),
                Duration::from_secs(60),
            )
            .expect("usable after the panic");
        assert!(matches!(made, Opened::New(..)), "{made:?}");
    }

    #[test]
    fn a_moved_chat_takes_its_threads_and_messages_and_is_recorded() {
        let dir = tempfile::tempdir().expect("tmp");
        let s = Store::open(&dir.path().join("s.sqlite")).expect("open");
        let u = s
            .touch_user(&UserRef::new(Platform::Telegram, "7", "7"), Utc::now())
            .expect("user");
        let made = s
            .create_ticket(
                NewTicket {
                    user_id: u.id,
                    reason: "user_request",
                    summary: "s",
                    lang: Lang::Sv,
                    platform: Platform::Telegram,
                    chat_id: "7",
                    relay_chat: Some("7"),
                    max_per_day: 0,
                },
                &|_| Vec::new(),
                Utc::now(),
                Duration::from_secs(60),
            )
            .expect("ticket");
        let Opened::New(t, _) = made else {
            panic!("{made:?}")
        };
        s.set_thread(t, Platform::Telegram, "-5", "11")
            .expect("thread");
        s.remember_message(Platform::Telegram, "-5", "12", t)
            .expect("message");
        s.move_chat(Platform::Telegram, "-5", "-1005", "tg.moved")
            .expect("move");
        assert_eq!(
            s.cursor("tg.moved").expect("cursor").as_deref(),
            Some("-1005")
        );
        assert_eq!(
            s.thread_of(t, Platform::Telegram).expect("thread"),
            Some(("-1005".into(), "11".into()))
        );
        assert_eq!(
            s.ticket_of_message(Platform::Telegram, "-1005", "12")
                .expect("message"),
            Some(t)
        );
        assert_eq!(
            s.ticket_of_message(Platform::Telegram, "-5", "12")
                .expect("message"),
            None
        );
        s.clear_thread(t, Platform::Telegram).expect("clear");
        assert_eq!(s.thread_of(t, Platform::Telegram).expect("thread"), None);
    }

    #[test]
    fn migration_10_turns_the_three_flags_into_one_dialogue() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("s.sqlite");
        {
            let conn = Connection::open(&p).expect("open");
            for (i, sql) in MIGRATIONS[..9].iter().enumerate() {
                conn.execute_batch(sql).expect("old migration");
                conn.pragma_update(None, "user_version", (i + 1) as i64)
                    .expect("version");
            }
            let now = ts(Utc::now());
            // (id, low_streak, downvoted, forget_pending)
            for (id, low, down, forget) in [(1, 0, 0, 0), (2, 1, 0, 0), (3, 1, 1, 0), (4, 1, 1, 1)]
            {
                conn.execute(
                    "INSERT INTO users (id, platform, external_id, chat_id, created_at, last_seen_at,
                                        low_streak, downvoted, forget_pending)
                     VALUES (?1, 'telegram', ?1, ?1, ?2, ?2, ?3, ?4, ?5)",
                    params![id, now, low, down, forget],
                )
                .expect("user");
            }
        }
        let s = Store::open(&p).expect("migrated");
        let got: Vec<Dialogue> = (1..=4)
            .map(|id| s.user(id).expect("db").expect("user").dialogue)
            .collect();
        assert_eq!(
            got,
            [
                Dialogue::Idle { low_streak: 0 },
                Dialogue::Idle { low_streak: 1 },
                Dialogue::AfterDownvote { low_streak: 1 },
                Dialogue::ConfirmForget,
            ]
        );
        // Saved and read back as one value.
        let mut u = s.user(2).expect("db").expect("user");
        u.dialogue = u.dialogue.downvoted();
        s.save_dialogue(&u).expect("save");
        assert_eq!(
            s.user(2).expect("db").expect("user").dialogue,
            Dialogue::AfterDownvote { low_streak: 1 }
        );
    }

    #[test]
    fn open_tickets_from_before_migration_5_keep_their_conversation_private() {
        // A database as the previous release left it: open tickets of a
        // Telegram group member, a Discord user last seen in a server
        // thread, and a terminal user, each with an adviser reply queued
        // for the user's latest chat.
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("s.sqlite");
        {
            let conn = Connection::open(&p).expect("open");
            for (i, sql) in MIGRATIONS[..4].iter().enumerate() {
                conn.execute_batch(sql).expect("old migration");
                conn.pragma_update(None, "user_version", (i + 1) as i64)
                    .expect("version");
            }
            let now = ts(Utc::now());
            for (id, platform, ext, chat) in [
                (1, "telegram", "7@-5", "-5"),
                (2, "discord", "42", "900"),
                (3, "terminal", "anna", "anna"),
            ] {
                conn.execute(
                    "INSERT INTO users (id, platform, external_id, chat_id, created_at, last_seen_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                    params![id, platform, ext, chat, now],
                )
                .expect("user");
                conn.execute(
                    "INSERT INTO tickets (id, user_id, status, reason, summary, lang, platform, created_at)
                     VALUES (?1, ?1, 'active', 'user_request', 's', 'sv', ?2, ?3)",
                    params![id, platform, now],
                )
                .expect("ticket");
                conn.execute(
                    "INSERT INTO outbox (user_id, ticket_id, target, platform, chat_id, text, created_at)
                     VALUES (?1, ?1, 'user', ?2, ?3, 'adviser reply', ?4)",
                    params![id, platform, chat, now],
                )
                .expect("outbox");
            }
        }
        {
            let conn = Connection::open(&p).expect("open");
            conn.execute("UPDATE tickets SET adviser = 'Karin' WHERE id = 3", [])
                .expect("a claim by name");
        }
        let s = Store::open(&p).expect("migrated");
        let t3 = s.ticket(3).expect("db").expect("ticket");
        assert_eq!(t3.adviser_id.as_deref(), Some("name:Karin"), "migration 6");
        let relay: Vec<Option<String>> = (1..=3)
            .map(|id| s.ticket(id).expect("db").expect("ticket").relay_chat)
            .collect();
        assert_eq!(
            relay,
            [Some("7".into()), Some("dm:42".into()), Some("anna".into())]
        );
        let opened = s.ticket(1).expect("db").expect("ticket").chat_id;
        assert_eq!(opened.as_deref(), Some("-5"), "where it was opened");
        let mut queued: Vec<String> = s
            .lease_for(
                Utc::now(),
                Duration::from_secs(60),
                10,
                &[Platform::Telegram, Platform::Discord, Platform::Terminal],
                &[],
            )
            .expect("lease")
            .into_iter()
            .map(|d| match d.target {
                Target::User(c) => c.chat_id,
                Target::Advisers => "advisers".into(),
            })
            .collect();
        queued.sort();
        assert_eq!(queued, ["7", "anna", "dm:42"], "none to a group or channel");
    }

    #[test]
    fn leases_split_user_and_adviser_deliveries_and_skip_dead_letters() {
        let dir = tempfile::tempdir().expect("tmp");
        let s = Store::open(&dir.path().join("s.sqlite")).expect("open");
        let now = Utc::now();
        let tg = ChatRef {
            platform: Platform::Telegram,
            chat_id: "1".into(),
        };
        let to_user = NewDelivery {
            user_id: None,
            ticket_id: None,
            target: Target::User(tg),
            text: "a",
            buttons: &[],
            dedupe_key: None,
            meta: None,
        };
        let u = s.enqueue(&to_user, now, None).expect("q").expect("new");
        let dead = s.enqueue(&to_user, now, None).expect("q").expect("new");
        s.dead_letter(dead.id, now, "blocked").expect("dead");
        s.enqueue(&NewDelivery::to_advisers(None, None, "note"), now, None)
            .expect("q");
        let lease = Duration::from_secs(60);
        // A front-end without advisers takes only its users' messages.
        let got = s
            .lease_for(now, lease, 10, &[Platform::Telegram], &[])
            .expect("lease");
        assert_eq!(got.iter().map(|d| d.id).collect::<Vec<_>>(), [u.id]);
        // Leased: nobody else gets it until released.
        assert!(s
            .lease_for(now, lease, 10, &[Platform::Telegram], &[])
            .expect("lease")
            .is_empty());
        assert_eq!(
            s.release_leases(&[Platform::Telegram], &[]).expect("rel"),
            1
        );
        let got = s
            .lease_for(now, lease, 10, &[Platform::Discord], &[Platform::Telegram])
            .expect("lease");
        assert_eq!(got.len(), 1, "only the adviser note: {got:?}");
        assert_eq!(got[0].target, Target::Advisers);
        assert_eq!(
            s.dead_letters(10).expect("dl"),
            vec![(dead.id, None, "blocked".to_string())]
        );
        assert_eq!(
            s.undelivered().expect("n"),
            2,
            "dead letters are not pending"
        );
    }
}
