//! The vocabulary between the core and the front-ends: who wrote
//! (`Incoming`), and what should happen next (`Action`). Front-ends only
//! translate platform events into `Incoming` and `Action`s into platform
//! requests; nothing here does I/O.

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use kraft_ingest::doc::Lang;

/// Where a conversation lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    Telegram,
    Discord,
    Terminal,
}

impl Platform {
    /// Every platform, for what concerns them all (the outbox of the
    /// terminal chat, which delivers for anyone).
    pub const ALL: [Platform; 3] = [Platform::Telegram, Platform::Discord, Platform::Terminal];

    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Telegram => "telegram",
            Platform::Discord => "discord",
            Platform::Terminal => "terminal",
        }
    }

    pub fn parse(s: &str) -> Option<Platform> {
        match s {
            "telegram" => Some(Platform::Telegram),
            "discord" => Some(Platform::Discord),
            "terminal" => Some(Platform::Terminal),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Platform::Telegram => "Telegram",
            Platform::Discord => "Discord",
            Platform::Terminal => "terminal",
        }
    }
}

/// A user as the platform knows them, plus the chat to answer in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRef {
    pub platform: Platform,
    /// The platform's stable user id (Telegram user id, Discord user id).
    /// A member of a Telegram group is `<user>@<chat>`: their conversation
    /// with the bot in the group is kept apart from their private one, and
    /// both belong to the same person (see [`person_of`]).
    pub user_id: String,
    /// The chat/channel to reply in (a private chat or DM channel, or the
    /// group, channel or thread the user wrote in).
    pub chat_id: String,
    /// How the user is reached privately from this chat: where an adviser
    /// conversation goes, never into a public chat.
    #[serde(default)]
    pub privately: Privately,
    /// The language the platform says the user's app is set to
    /// (Telegram's `language_code`, Discord's `locale`): what a first
    /// message too short to tell ("/start") is answered in.
    #[serde(default)]
    pub lang_hint: Option<Lang>,
}

/// A platform's language code ("sv", "sv-SE", "en-US", "de") as the
/// language Kraft answers in: Swedish for Swedish, English for any other
/// (the programme's second language is the likelier shared one).
pub fn lang_of_locale(code: &str) -> Option<Lang> {
    let c = code.trim().to_ascii_lowercase();
    if c.is_empty() {
        None
    } else if c == "sv" || c.starts_with("sv-") || c.starts_with("sv_") {
        Some(Lang::Sv)
    } else {
        Some(Lang::En)
    }
}

impl UserRef {
    /// A user in a private chat (a DM, the terminal).
    pub fn new(platform: Platform, user_id: impl Into<String>, chat_id: impl Into<String>) -> Self {
        Self {
            platform,
            user_id: user_id.into(),
            chat_id: chat_id.into(),
            privately: Privately::Here,
            lang_hint: None,
        }
    }

    /// With the platform's language code for the user (see [`lang_of_locale`]).
    pub fn with_locale(mut self, code: Option<&str>) -> Self {
        self.lang_hint = code.and_then(lang_of_locale);
        self
    }

    /// The same user writing in a public chat (a group, a server channel
    /// or thread), reachable privately as `privately` says.
    pub fn in_public(mut self, privately: Privately) -> Self {
        self.privately = privately;
        self
    }
}

/// The account behind a user id: `<user>` for both `<user>` and a group
/// identity `<user>@<chat>`.
pub fn person_of(user_id: &str) -> &str {
    user_id.split('@').next().unwrap_or(user_id)
}

/// Where a user can be written to privately, seen from the chat they
/// wrote in. Adviser conversations go there and nowhere else; a public
/// chat only ever gets a pointer to it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Privately {
    /// The chat itself is private to the user and the bot (a private
    /// chat, a DM, the terminal).
    #[default]
    Here,
    /// A public chat; the front-end can write to the user privately at
    /// this chat id itself (Discord: `dm:<user id>`, a DM it opens).
    At(String),
    /// A public chat, and the bot cannot start a private chat itself
    /// (Telegram): the user opens one by following this link with a
    /// ticket's token appended (`https://t.me/<bot>?start=`).
    Link(String),
}

/// Where a message goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatRef {
    pub platform: Platform,
    pub chat_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Input {
    /// A typed message (commands included: "/help").
    Text(String),
    /// A button press; the id is what `Button::id` carried.
    Button(String),
    /// Something that is not text (photo, sticker, voice, document…);
    /// the kind is for logs only.
    Unsupported(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incoming {
    pub user: UserRef,
    pub input: Input,
}

impl Incoming {
    pub fn text(user: &UserRef, text: impl Into<String>) -> Self {
        Self {
            user: user.clone(),
            input: Input::Text(text.into()),
        }
    }

    pub fn button(user: &UserRef, id: impl Into<String>) -> Self {
        Self {
            user: user.clone(),
            input: Input::Button(id.into()),
        }
    }
}

/// An inline button. `id` is at most 64 bytes (Telegram's callback limit).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Button {
    pub id: String,
    pub label: String,
}

impl Button {
    pub fn new(id: impl Into<String>, label: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            label: label.into(),
        }
    }
}

/// A knowledge-base document an answer rests on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceRef {
    pub title: String,
    /// Path inside the knowledge folder, e.g. `faq/kostar-det-nagot.md`.
    pub path: String,
    pub url: Option<String>,
    /// Example content (`example: true`): labelled as such when cited.
    pub example: bool,
}

/// What the front-end should do. Deliveries (`NotifyAdvisers`,
/// `RelayToUser`) come from the durable outbox: the front-end sends them and
/// then calls `Assistant::delivered(delivery)`, so a crash in between means
/// the delivery is retried instead of lost.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Show "typing…" while the answer is prepared (sent early, through
    /// the progress channel of `handle_streaming`).
    Typing { chat: ChatRef },
    /// A piece of a streamed answer (progress channel only); the final
    /// `Reply` carries the whole text.
    Delta { chat: ChatRef, text: String },
    /// The answer to the message just handled.
    Reply {
        chat: ChatRef,
        text: String,
        buttons: Vec<Button>,
        /// True when this text replaces a streamed draft (the LLM stream
        /// failed half-way and the extractive answer was used instead).
        replaces_draft: bool,
    },
    /// A short receipt while an adviser owns the conversation (a ✓ or a
    /// reaction; never an answer).
    Ack { chat: ChatRef, text: String },
    /// A ticket was stored (for logs and metrics; the user reply and the
    /// adviser notification are separate actions).
    TicketOpened { ticket: i64, reason: String },
    /// A question was answered or not (for logs and metrics only; the
    /// `Reply` carries what the user sees). `kind` is `AnswerKind::as_str`;
    /// `llm_fallback`: an LLM is configured but failed, so the answer is
    /// extractive; `degraded`: a retriever failed (e.g. the embeddings
    /// endpoint), so it came from the others alone.
    Answered {
        kind: String,
        confidence: f32,
        llm_fallback: bool,
        degraded: bool,
    },
    NotifyAdvisers {
        delivery: i64,
        ticket: Option<i64>,
        text: String,
        buttons: Vec<Button>,
    },
    RelayToUser {
        delivery: i64,
        chat: ChatRef,
        ticket: Option<i64>,
        text: String,
    },
    /// `/forget`: delete what Kraft posted about the user on the adviser
    /// side of a ticket (already gone from the database). The front-end
    /// hosting those advisers deletes it now and says in the `/forget`
    /// reply what was deleted and what could not be
    /// (`kraft_core::pump::redact`), in the user's language `lang`.
    Redact { redaction: Redaction, lang: Lang },
}

/// What Kraft posted about a ticket on the adviser side, to delete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redaction {
    pub ticket: i64,
    /// The front-end whose adviser room it is in.
    pub on: Platform,
    /// The adviser group or channel.
    pub chat: String,
    /// The ticket's topic or thread (a reply-thread group: its first message).
    pub thread: Option<String>,
    /// Every message Kraft posted for the ticket, as far as recorded.
    pub messages: Vec<String>,
}

/// Time, injectable so tests can let an hour pass in a microsecond.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> DateTime<Utc>;
}

#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self(Mutex::new(start))
    }

    pub fn advance(&self, by: chrono::Duration) {
        if let Ok(mut t) = self.0.lock() {
            *t += by;
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        self.0.lock().map(|t| *t).unwrap_or_else(|_| Utc::now())
    }
}
