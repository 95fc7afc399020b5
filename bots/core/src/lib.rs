//! kraft-core: the assistant without any chat platform. One call,
//! `Assistant::handle(incoming) -> actions`, owns retrieval, grounded
//! answers (extractive, or an LLM with fallback), the escalation decision,
//! dialogue state and the SQLite stores. Front-ends (terminal, Telegram,
//! Discord) only translate.

pub mod analysis;
pub mod assistant;
pub mod backup;
pub mod buttons;
pub mod commands;
pub mod desk;
pub mod doctor;
pub mod draft;
pub mod evaluate;
pub mod extract;
pub mod flood;
pub mod hours;
pub mod intent;
pub mod llm;
pub mod model;
pub mod observe;
pub mod pump;
pub mod report;
pub mod route;
pub mod sources;
pub mod split;
pub mod store;
pub mod texts;

use serde::{Deserialize, Serialize};

pub use assistant::{Answer, AnswerKind, Assistant, Escalation, SectionSample};
pub use desk::{Adviser, Desk, DeskError};
pub use llm::{LlmError, LlmSettings};
pub use model::{
    Action, Button, ChatRef, Clock, Incoming, Input, Lang, Platform, Privately, Redaction, UserRef,
};
pub use observe::{Observer, Quiet};
pub use store::{PgStore, State, Store, StoreError};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Index(#[from] kraft_ingest::IndexError),
    #[error(transparent)]
    Desk(#[from] DeskError),
    #[error("configuration: {0}")]
    Config(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AssistantSettings {
    /// Longer messages get a polite "please shorten it".
    pub max_message_chars: usize,
    /// Below this confidence (and above nothing) a question is off-topic
    /// rather than "not covered": a boundary, not an adviser offer.
    pub off_topic_below: f32,
    /// Length budget of an extractive answer, before the sources.
    pub answer_max_chars: usize,
    /// Events listed by /events.
    pub events_limit: usize,
    /// Seconds a front-end has to deliver an outbox message before another
    /// delivery loop may try it.
    pub delivery_lease_secs: u64,
    /// Flood limit per user: messages (and button presses) per minute…
    pub flood_per_minute: u32,
    /// …with this many allowed in a quick burst. Beyond it the user is told
    /// once per minute to slow down, and the extra messages are not answered.
    pub flood_burst: u32,
    /// The public address of Kraft's knowledge pages (the dashboard's
    /// `/kb`, with `dashboard.public_knowledge` on, behind your HTTPS
    /// proxy). Set: every source links to its page there. Empty: a source
    /// links to its own `source_url`, or shows its title only.
    pub knowledge_url: String,
}

impl Default for AssistantSettings {
    fn default() -> Self {
        Self {
            max_message_chars: 4000,
            off_topic_below: 0.2,
            answer_max_chars: 1000,
            events_limit: 5,
            delivery_lease_secs: 60,
            flood_per_minute: 30,
            flood_burst: 30,
            knowledge_url: String::new(),
        }
    }
}

/// A topic that needs a person, and the phrases that reveal it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topic {
    pub name: String,
    pub phrases: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EscalationSettings {
    /// Low-confidence answers in a row that open a ticket.
    pub low_confidence_in_a_row: i64,
    /// Minutes an unclaimed ticket waits before the advisers are reminded.
    pub remind_after_mins: i64,
    /// Minutes between further reminders.
    pub remind_every_mins: i64,
    /// Language of texts for advisers (handoff summary, reminders).
    pub adviser_language: Lang,
    pub topics: Vec<Topic>,
    /// Tickets one person may open in 24 hours (cancelled ones count);
    /// beyond it they are told politely and the advisers are not
    /// disturbed. 0 = no limit.
    pub max_tickets_per_day: i64,
    /// When advisers work, e.g. "mon-fri 08:00-17:00" (empty: always); a
    /// ticket opened outside them tells the user when to expect an answer.
    pub opening_hours: String,
    /// The time zone of `opening_hours` (IANA name).
    pub timezone: String,
}

impl Default for EscalationSettings {
    fn default() -> Self {
        Self {
            low_confidence_in_a_row: 2,
            remind_after_mins: 30,
            remind_every_mins: 60,
            adviser_language: Lang::Sv,
            topics: Vec::new(),
            max_tickets_per_day: 3,
            opening_hours: String::new(),
            timezone: "Europe/Stockholm".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrivacySettings {
    /// Conversations, feedback and resolved tickets older than this are
    /// deleted (checked at start and hourly).
    pub retention_days: i64,
}

impl Default for PrivacySettings {
    fn default() -> Self {
        Self {
            retention_days: 180,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CoreSettings {
    pub assistant: AssistantSettings,
    pub escalation: EscalationSettings,
    pub privacy: PrivacySettings,
    pub llm: LlmSettings,
}
