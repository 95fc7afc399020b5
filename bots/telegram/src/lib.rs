//! kraft-telegram: the Telegram front-end. A thin adapter around the core:
//! updates become `Incoming`s, actions become Bot API requests.
//!
//! What it owns is delivery discipline, because Telegram is at-least-once
//! on the way in and rate-limited on the way out:
//! - every update is stored in the core's inbox (with the new `getUpdates`
//!   offset, in one transaction) before anything acts on it, and is marked
//!   handled together with its queued replies, so a restart neither drops
//!   nor repeats an update, and a duplicate update is a no-op;
//! - replies leave through the core's outbox (split messages remember how
//!   many parts went out), through teloxide's `Throttle`, which keeps the
//!   per-chat and global limits and honours 429 `retry_after`;
//! - network failures and 5xx are retried with back-off, never dropped;
//!   a blocked bot is a dead letter, and the adviser is told.
//!
//! Advisers work from one group: a forum topic per ticket where the group
//! has topics, a reply thread otherwise. Only current members of that
//! group can claim, close or answer. The group can change under the bot:
//! a closed topic is reopened, a deleted one replaced, a group upgraded to
//! a supergroup followed to its new id (recorded in the state database),
//! and while the bot cannot post there at all `/healthz` says so.
pub mod doctor;
pub mod event;
pub mod format;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use kraft_core::buttons::{ButtonId, TicketOp};
use kraft_core::pump::{self, backoff, Frontend, Pump, PumpSettings, SendFailure};
use kraft_core::store::{Delivery, InboxEvent, InboxRow};
use kraft_core::texts::{CannotRedact, Redacted};
use kraft_core::{
    texts, Adviser, Assistant, CoreError, DeskError, Incoming, Lang, Observer, Platform, Redaction,
};
use serde::{Deserialize, Serialize};
use teloxide::adaptors::throttle::{Limits, Settings as ThrottleSettings};
use teloxide::adaptors::Throttle;
use teloxide::payloads::{
    AnswerCallbackQuerySetters, EditMessageReplyMarkupSetters, EditMessageTextSetters,
    GetUpdatesSetters, SendMessageSetters, SetMyCommandsSetters, SetWebhookSetters,
};
use teloxide::prelude::Requester;
use teloxide::types::{
    AllowedUpdate, BotCommand, ChatAction, ChatId, InlineKeyboardButton, InlineKeyboardMarkup,
    LinkPreviewOptions, MessageId, ParseMode, ReplyParameters, ThreadId, Update, UserId,
};
use teloxide::{ApiError, Bot, RequestError};
use tokio::sync::watch;

pub use event::{classify, Context, Event};

const OFFSET_CURSOR: &str = "telegram.offset";

/// Telegram's limit on an inline button's callback data.
pub const MAX_CALLBACK_DATA: usize = 64;

/// Where the new id of a migrated adviser group is recorded: keyed by the
/// configured id, so changing `telegram.adviser_group` to another group
/// starts clean, and setting it to the new id makes the record moot.
fn migration_cursor(configured: i64) -> String {
    format!("telegram.adviser_group.{configured}.migrated_to")
}

/// What a ticket's `threads` row holds on Telegram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// A forum topic (in a forum), or the first message of the ticket's
    /// reply chain (in a group without topics).
    Id(i32),
    /// In a forum: the ticket continues as a reply chain in General,
    /// rooted at this message, because a topic may exist whose id was
    /// never stored (see `Telegram::create_topic`).
    Root(i32),
    /// createForumTopic was called and its outcome is not known.
    Creating,
}

const CREATING: &str = "creating";

fn place(s: &str) -> Option<Place> {
    if s == CREATING {
        Some(Place::Creating)
    } else if let Some(r) = s.strip_prefix("r:") {
        r.parse().ok().map(Place::Root)
    } else {
        s.parse().ok().map(Place::Id)
    }
}

/// What a failed request to the adviser group says about the group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trouble {
    /// The group became a supergroup with this id.
    Migrated(ChatId),
    /// 400 TOPIC_CLOSED: the topic exists, an adviser closed it.
    TopicClosed,
    /// 400 "message thread not found": the topic was deleted.
    ThreadGone,
    /// The bot cannot post in the group at all (kicked, the group gone,
    /// no right to write or to make topics): nothing works until a person
    /// fixes it, so `/healthz` degrades.
    Unusable(&'static str),
    Other,
}

fn trouble(e: &RequestError) -> Trouble {
    match e {
        RequestError::MigrateToChatId(to) => Trouble::Migrated(*to),
        RequestError::Api(
            ApiError::BotKicked
            | ApiError::BotKickedFromSupergroup
            | ApiError::BotKickedFromChannel,
        ) => Trouble::Unusable("kicked"),
        RequestError::Api(ApiError::ChatNotFound) => Trouble::Unusable("chat_not_found"),
        RequestError::Api(ApiError::NotEnoughRightsToPostMessages) => {
            Trouble::Unusable("no_rights")
        }
        // teloxide has no variants for these; the descriptions are
        // Telegram's ("Bad Request: TOPIC_CLOSED", "Bad Request: message
        // thread not found", "Bad Request: not enough rights to …").
        RequestError::Api(ApiError::Unknown(d)) => {
            let d = d.to_ascii_lowercase();
            if d.contains("topic_closed") {
                Trouble::TopicClosed
            } else if d.contains("message thread not found") || d.contains("topic_deleted") {
                Trouble::ThreadGone
            } else if d.contains("not enough rights")
                || d.contains("need administrator rights")
                || d.contains("chat_write_forbidden")
                || d.contains("not a member")
            {
                Trouble::Unusable("no_rights")
            } else {
                Trouble::Other
            }
        }
        _ => Trouble::Other,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// `getUpdates` long polling: works behind any NAT, no HTTPS needed.
    Polling,
    /// Telegram posts updates to `webhook_url` (HTTPS, in front of this
    /// process's HTTP port), verified by the secret token header.
    Webhook,
}

/// Telegram's published limits, enforced by teloxide's `Throttle`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitSettings {
    pub per_chat_per_sec: u32,
    pub per_chat_per_min: u32,
    pub per_group_per_min: u32,
    pub overall_per_sec: u32,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            per_chat_per_sec: 1,
            per_chat_per_min: 20,
            per_group_per_min: 20,
            overall_per_sec: 30,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelegramSettings {
    /// Bot API base URL; empty = https://api.telegram.org.
    pub api_url: String,
    pub mode: Mode,
    pub poll_timeout_secs: u32,
    /// Chat id of the adviser group (e.g. -1001234567890); 0 = none, and
    /// escalations are then handled with `kraft tickets`.
    pub adviser_group: i64,
    /// Users of these platforms get their tickets in this adviser group.
    pub advisers_for: Vec<Platform>,
    /// Public HTTPS URL Telegram posts to in webhook mode; it must reach
    /// `/telegram/webhook` on the HTTP port.
    pub webhook_url: String,
    /// How long an adviser-group membership check is trusted.
    pub membership_cache_secs: u64,
    /// Chats handled at the same time (each chat's messages stay in order).
    pub max_concurrent_chats: usize,
    /// A send that has not been confirmed after this is retried (only
    /// matters after a crash; a restart releases its own leases).
    pub delivery_lease_secs: u64,
    /// Transient failures before a message is given up as a dead letter.
    pub max_delivery_attempts: i64,
    /// In LLM mode the answer grows in place: one message, edited at most
    /// this often (ms). 0: the answer arrives whole.
    pub draft_every_ms: u64,
    pub limits: LimitSettings,
}

impl Default for TelegramSettings {
    fn default() -> Self {
        Self {
            api_url: String::new(),
            mode: Mode::Polling,
            poll_timeout_secs: 25,
            adviser_group: 0,
            advisers_for: vec![Platform::Telegram],
            webhook_url: String::new(),
            membership_cache_secs: 300,
            max_concurrent_chats: 64,
            delivery_lease_secs: 600,
            max_delivery_attempts: 30,
            draft_every_ms: 1500,
            limits: LimitSettings::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TelegramError {
    #[error("invalid Telegram settings: {0}")]
    Config(String),
    #[error("Telegram refused the bot token (check KRAFT_TELEGRAM_TOKEN)")]
    Unauthorized,
    #[error("setting the Telegram webhook failed: {0}")]
    Webhook(String),
    #[error(transparent)]
    Core(#[from] CoreError),
}

/// The outcome of a webhook request, for the HTTP layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookReply {
    /// Stored (or a duplicate): answer 200.
    Accepted,
    /// Wrong or missing secret token: answer 401.
    Unauthorized,
    /// Not an update: answer 400 (Telegram will not resend it).
    BadRequest,
    /// The state database is unavailable: answer 503 so Telegram retries.
    Unavailable,
}

/// Health for `/healthz`.
#[derive(Debug, Clone, Serialize)]
pub struct Health {
    /// Connected, and (polling) the Bot API answered within two minutes:
    /// long polls return at least every `poll_timeout_secs`.
    pub ok: bool,
    pub started: bool,
    /// Seconds since the Bot API last answered a request.
    pub last_contact_secs: Option<u64>,
    pub failing: bool,
    /// False while the bot cannot post in the adviser group (kicked, the
    /// group gone, no rights): tickets then reach nobody. True again after
    /// the next successful post there.
    pub adviser_group_ok: bool,
    /// Why not (`kicked`, `chat_not_found`, `no_rights`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adviser_group_error: Option<&'static str>,
    /// Polling is refused because someone else takes this bot's updates:
    /// `webhook_set` (a webhook was set, e.g. by another deployment) or
    /// `other_poller` (another process polls with the same token). No
    /// update arrives while it lasts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updates_conflict: Option<&'static str>,
}

pub struct Telegram {
    bot: Throttle<Bot>,
    assistant: Arc<Assistant>,
    settings: TelegramSettings,
    observer: Arc<dyn Observer>,
    ctx: OnceLock<Context>,
    forum: AtomicBool,
    webhook_secret: String,
    members: Mutex<HashMap<u64, (bool, Instant)>>,
    pump: Pump,
    started_at: Instant,
    /// Milliseconds after `started_at` of the last Bot API answer (-1: none).
    last_contact_ms: AtomicI64,
    failing: AtomicBool,
    /// The adviser group's id now: `settings.adviser_group`, or the
    /// supergroup it was upgraded to (followed and recorded); 0 = none.
    group_id: AtomicI64,
    /// Why the adviser group is unusable, while it is.
    group_trouble: Mutex<Option<&'static str>>,
    /// Why `getUpdates` is refused (409), while it is.
    conflict: Mutex<Option<&'static str>>,
}

impl std::fmt::Debug for Telegram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        f.debug_struct("Telegram")
            .field("mode", &self.settings.mode)
            .field("adviser_group", &self.settings.adviser_group)
            .finish()
    }
}

/// A 409 from `getUpdates`: someone else takes the bot's updates.
/// Telegram's text ("Conflict: can't use getUpdates method while webhook
/// is active; use deleteWebhook …") is longer than the one teloxide
/// matches, so it can arrive as `Unknown`.
fn updates_conflict(e: &RequestError) -> Option<&'static str> {
    match e {
        RequestError::Api(ApiError::CantGetUpdates) => Some("webhook_set"),
        RequestError::Api(ApiError::TerminatedByOtherGetUpdates) => Some("other_poller"),
        RequestError::Api(ApiError::Unknown(text)) => {
            let t = text.to_lowercase();
            if t.contains("webhook is active") {
                Some("webhook_set")
            } else if t.contains("terminated by other getupdates") {
                Some("other_poller")
            } else {
                None
            }
        }
        _ => None,
    }
}

fn error_kind(e: &RequestError) -> &'static str {
    match e {
        RequestError::Api(ApiError::BotBlocked) => "blocked",
        RequestError::Api(ApiError::UserDeactivated) => "user_deactivated",
        RequestError::Api(ApiError::ChatNotFound) => "chat_not_found",
        RequestError::Api(
            ApiError::BotKicked
            | ApiError::BotKickedFromSupergroup
            | ApiError::BotKickedFromChannel,
        ) => "kicked",
        RequestError::Api(ApiError::InvalidToken) => "unauthorized",
        RequestError::Api(ApiError::CantParseEntities(_)) => "bad_formatting",
        RequestError::Api(ApiError::ButtonDataInvalid) => "button_data_invalid",
        RequestError::Api(ApiError::Unknown(_)) => match trouble(e) {
            Trouble::TopicClosed => "topic_closed",
            Trouble::ThreadGone => "thread_not_found",
            Trouble::Unusable(kind) => kind,
            _ => "api",
        },
        RequestError::Api(_) => "api",
        RequestError::RetryAfter(_) => "rate_limited",
        RequestError::MigrateToChatId(_) => "migrated",
        RequestError::Network(_) => "network",
        RequestError::InvalidJson { .. } => "invalid_json",
        RequestError::Io(_) => "io",
    }
}

fn classify_failure(e: &RequestError) -> SendFailure {
    let kind = error_kind(e);
    match e {
        RequestError::Api(
            ApiError::BotBlocked
            | ApiError::UserDeactivated
            | ApiError::ChatNotFound
            | ApiError::BotKicked
            | ApiError::BotKickedFromSupergroup
            | ApiError::BotKickedFromChannel,
        )
        | RequestError::MigrateToChatId(_) => SendFailure::Permanent(kind),
        RequestError::RetryAfter(s) => SendFailure::Transient(kind, Some(s.duration())),
        _ => SendFailure::Transient(kind, None),
    }
}

/// A ticket's note: the message with its claim button.
/// Links in answers are sources the user chose to read about; a preview
/// card of the first one would bury the answer.
fn no_preview() -> LinkPreviewOptions {
    LinkPreviewOptions {
        is_disabled: true,
        url: None,
        prefer_small_media: false,
        prefer_large_media: false,
        show_above_text: false,
    }
}

fn carries_ticket_buttons(buttons: &[kraft_core::Button]) -> bool {
    buttons.iter().any(|b| {
        matches!(
            ButtonId::parse(&b.id),
            Some(ButtonId::Ticket {
                op: TicketOp::Claim,
                ..
            })
        )
    })
}

fn keyboard(buttons: &[kraft_core::Button]) -> InlineKeyboardMarkup {
    // Short buttons (👍 👎) share a row; longer ones get a row each.
    let mut rows: Vec<Vec<InlineKeyboardButton>> = Vec::new();
    let mut short = Vec::new();
    for b in buttons {
        // Telegram refuses the whole message (400 BUTTON_DATA_INVALID) for
        // one button over 64 bytes, which would make the answer a dead
        // letter; cutting the id would make it another button. Every id
        // the core makes fits (tested below with the longest ids), so this
        // only guards against a future one that does not.
        if b.id.len() > MAX_CALLBACK_DATA {
            tracing::error!(
                bytes = b.id.len(),
                "a button's callback data is over Telegram's 64 bytes; the button is left out"
            );
            continue;
        }
        let btn = InlineKeyboardButton::callback(b.label.clone(), b.id.clone());
        if b.label.chars().count() <= 3 {
            short.push(btn);
        } else {
            rows.push(vec![btn]);
        }
    }
    if !short.is_empty() {
        rows.insert(0, short);
    }
    InlineKeyboardMarkup::new(rows)
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Meta {
    #[serde(skip_serializing_if = "Option::is_none")]
    reply_to: Option<i32>,
    /// The streamed draft this reply replaces (its first part is an edit
    /// of that message).
    #[serde(skip_serializing_if = "Option::is_none")]
    draft: Option<i32>,
}

/// A streamed answer's draft in a Telegram chat: plain text (a half-written
/// answer may hold half an entity), posted once, then edited.
struct Draft<'a> {
    tg: &'a Telegram,
    chat: ChatId,
    reply_to: Option<i32>,
    message: Option<MessageId>,
}

#[async_trait::async_trait]
impl kraft_core::draft::DraftSink for Draft<'_> {
    async fn show(&mut self, text: &str) -> bool {
        let r = match self.message {
            None => {
                let mut req = self.tg.bot.send_message(self.chat, text);
                if let Some(r) = self.reply_to {
                    req = req.reply_parameters(
                        ReplyParameters::new(MessageId(r)).allow_sending_without_reply(),
                    );
                }
                req.await.map(|m| self.message = Some(m.id))
            }
            Some(m) => self
                .tg
                .bot
                .edit_message_text(self.chat, m, text)
                .await
                .map(|_| ()),
        };
        match r {
            Ok(()) | Err(RequestError::Api(ApiError::MessageNotModified)) => true,
            Err(e) => {
                tracing::debug!(kind = error_kind(&e), "a draft could not be shown");
                false
            }
        }
    }
}

impl Telegram {
    /// Builds the client; nothing is sent until `run`. Must be called
    /// inside a Tokio runtime (the throttle worker is spawned here).
    pub fn new(
        token: &str,
        webhook_secret: Option<String>,
        settings: TelegramSettings,
        assistant: Arc<Assistant>,
        observer: Arc<dyn Observer>,
    ) -> Result<Arc<Self>, TelegramError> {
        if token.trim().is_empty() || token.contains(char::is_whitespace) {
            return Err(TelegramError::Config(
                "the bot token is empty or malformed".into(),
            ));
        }
        let mut bot = Bot::new(token.trim());
        if !settings.api_url.is_empty() {
            let url = url::Url::parse(&settings.api_url).map_err(|e| {
                TelegramError::Config(format!("telegram.api_url {:?}: {e}", settings.api_url))
            })?;
            bot = bot.set_api_url(url);
        }
        if settings.mode == Mode::Webhook && !settings.webhook_url.starts_with("https://") {
            return Err(TelegramError::Config(
                "webhook mode needs telegram.webhook_url = \"https://…\"".into(),
            ));
        }
        let l = settings.limits;
        if l.per_chat_per_sec == 0 || l.overall_per_sec == 0 || l.per_chat_per_min == 0 {
            return Err(TelegramError::Config(
                "telegram.limits must be positive".into(),
            ));
        }
        let limits = Limits {
            messages_per_sec_chat: l.per_chat_per_sec,
            messages_per_min_chat: l.per_chat_per_min,
            messages_per_min_channel_or_supergroup: l.per_group_per_min.max(1),
            messages_per_sec_overall: l.overall_per_sec,
        };
        let bot = Throttle::spawn_with_settings(bot, ThrottleSettings::default().limits(limits));
        // The secret Telegram echoes in every webhook request; derived from
        // the token when not configured, so it is stable across restarts
        // without revealing the token.
        let webhook_secret = webhook_secret
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| blake3::hash(token.as_bytes()).to_hex()[..48].to_string());
        if !webhook_secret
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            || webhook_secret.len() > 256
        {
            return Err(TelegramError::Config(
                "KRAFT_TELEGRAM_WEBHOOK_SECRET may only hold A-Z, a-z, 0-9, _ and - (1–256)".into(),
            ));
        }
        let pump = Pump::new(
            Platform::Telegram,
            assistant.clone(),
            observer.clone(),
            PumpSettings {
                max_concurrent_chats: settings.max_concurrent_chats,
                max_delivery_attempts: settings.max_delivery_attempts,
                lease_secs: settings.delivery_lease_secs,
            },
        );
        // A group upgraded to a supergroup while the configuration still
        // names the old id: the new id was recorded when the bot followed
        // it, and is used until the configuration names the new id.
        let mut group_id = settings.adviser_group;
        if group_id != 0 {
            match assistant
                .store()
                .cursor(&migration_cursor(settings.adviser_group))
            {
                Ok(Some(v)) => {
                    if let Ok(to) = v.parse::<i64>() {
                        tracing::warn!(
                            configured = settings.adviser_group,
                            to,
                            "the adviser group was upgraded to a supergroup earlier; using its new id (set telegram.adviser_group to it)"
                        );
                        group_id = to;
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the adviser group's recorded id; using the configured one")
                }
            }
        }
        Ok(Arc::new(Self {
            bot,
            assistant,
            settings,
            observer,
            ctx: OnceLock::new(),
            forum: AtomicBool::new(false),
            webhook_secret,
            members: Mutex::new(HashMap::new()),
            pump,
            started_at: Instant::now(),
            last_contact_ms: AtomicI64::new(-1),
            failing: AtomicBool::new(false),
            group_id: AtomicI64::new(group_id),
            group_trouble: Mutex::new(None),
            conflict: Mutex::new(None),
        }))
    }

    pub fn settings(&self) -> &TelegramSettings {
        &self.settings
    }

    pub fn health(&self) -> Health {
        let ms = self.last_contact_ms.load(Ordering::Relaxed);
        let last = (ms >= 0).then(|| {
            self.started_at
                .elapsed()
                .saturating_sub(Duration::from_millis(ms as u64))
                .as_secs()
        });
        let started = self.ctx.get().is_some();
        let failing = self.failing.load(Ordering::Relaxed);
        let group_error = *self.group_trouble.lock().unwrap_or_else(|p| p.into_inner());
        let conflict = *self.conflict.lock().unwrap_or_else(|p| p.into_inner());
        let ok = started
            && group_error.is_none()
            && conflict.is_none()
            && match self.settings.mode {
                Mode::Polling => last.is_some_and(|s| s < 120),
                // Webhook: silence is normal; only failing requests count.
                Mode::Webhook => !failing,
            };
        Health {
            ok,
            started,
            last_contact_secs: last,
            failing,
            adviser_group_ok: group_error.is_none(),
            adviser_group_error: group_error,
            updates_conflict: conflict,
        }
    }

    /// Records whether the adviser group can be posted in (`None`: yes).
    fn group_usable(&self, trouble: Option<&'static str>) {
        let mut g = self.group_trouble.lock().unwrap_or_else(|p| p.into_inner());
        if *g != trouble {
            match trouble {
                Some(kind) => tracing::error!(
                    kind,
                    "the bot cannot post in the adviser group; tickets wait until it can (/healthz degraded)"
                ),
                None => tracing::info!("the adviser group can be posted in again"),
            }
            *g = trouble;
        }
    }

    /// Follows the adviser group to the supergroup it was upgraded to, and
    /// records the new id (it survives a restart; the configuration still
    /// names the old one, see `migration_cursor`). Tickets' threads and
    /// remembered messages move with it.
    fn follow_migration(&self, from: ChatId, to: ChatId) -> Result<(), SendFailure> {
        self.assistant
            .store()
            .move_chat(
                Platform::Telegram,
                &from.0.to_string(),
                &to.0.to_string(),
                &migration_cursor(self.settings.adviser_group),
            )
            .map_err(|e| {
                tracing::error!(error = %e, "cannot record the adviser group's new id");
                SendFailure::Transient("store", None)
            })?;
        self.group_id.store(to.0, Ordering::Relaxed);
        tracing::warn!(
            from = from.0,
            to = to.0,
            "the adviser group was upgraded to a supergroup; following it to its new id (recorded; set telegram.adviser_group to it)"
        );
        Ok(())
    }

    fn contact(&self, ok: bool) {
        if ok {
            self.last_contact_ms.store(
                self.started_at.elapsed().as_millis() as i64,
                Ordering::Relaxed,
            );
        }
        self.failing.store(!ok, Ordering::Relaxed);
    }

    fn lease(&self) -> Duration {
        self.pump.lease()
    }

    fn group(&self) -> Option<ChatId> {
        let g = self.group_id.load(Ordering::Relaxed);
        (g != 0).then_some(ChatId(g))
    }

    /// A webhook request: checks the secret token and stores the update.
    pub fn accept_webhook(&self, secret: Option<&str>, body: &[u8]) -> WebhookReply {
        let ok = secret.is_some_and(|s| {
            // Constant-time enough for a 48-char secret over HTTPS.
            s.len() == self.webhook_secret.len()
                && s.bytes()
                    .zip(self.webhook_secret.bytes())
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                    == 0
        });
        if !ok {
            self.observer
                .error(Platform::Telegram, "webhook_unauthorized");
            return WebhookReply::Unauthorized;
        }
        let Ok(u) = serde_json::from_slice::<Update>(body) else {
            self.observer
                .error(Platform::Telegram, "webhook_bad_request");
            return WebhookReply::BadRequest;
        };
        match self.store_updates(&[u], None) {
            Ok(_) => WebhookReply::Accepted,
            Err(e) => {
                tracing::error!(error = %e, "cannot store a webhook update");
                WebhookReply::Unavailable
            }
        }
    }

    fn store_updates(&self, updates: &[Update], offset: Option<i64>) -> Result<usize, CoreError> {
        let keyed: Vec<(String, String, String)> = updates
            .iter()
            .map(|u| {
                (
                    u.id.0.to_string(),
                    event::chat_key(u),
                    serde_json::to_string(u).unwrap_or_default(),
                )
            })
            .collect();
        let events: Vec<InboxEvent<'_>> = keyed
            .iter()
            .map(|(k, c, p)| InboxEvent {
                key: k,
                chat: c,
                payload: p,
            })
            .collect();
        let off = offset.map(|o| o.to_string());
        let new = self.assistant.store().inbox_add(
            Platform::Telegram,
            &events,
            off.as_deref().map(|o| (OFFSET_CURSOR, o)),
            self.assistant.now(),
        )?;
        if new < updates.len() {
            tracing::info!(
                duplicates = updates.len() - new,
                "duplicate updates ignored"
            );
        }
        self.pump.wake.notify_one();
        Ok(new)
    }

    /// Connects, then serves until `shutdown` turns true; in-flight
    /// messages are finished before it returns.
    pub async fn run(
        self: Arc<Self>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), TelegramError> {
        let Some(ctx) = self.connect(&mut shutdown).await? else {
            return Ok(());
        };
        let _ = self.ctx.set(ctx);
        self.setup_commands().await;
        self.setup_adviser_group().await;
        match self.settings.mode {
            Mode::Polling => {
                if let Err(e) = self.bot.delete_webhook().await {
                    tracing::warn!(
                        kind = error_kind(&e),
                        "deleteWebhook failed; polling anyway"
                    );
                }
            }
            Mode::Webhook => {
                let url = url::Url::parse(&self.settings.webhook_url)
                    .map_err(|e| TelegramError::Config(format!("telegram.webhook_url: {e}")))?;
                self.bot
                    .set_webhook(url)
                    .secret_token(self.webhook_secret.clone())
                    .allowed_updates(vec![AllowedUpdate::Message, AllowedUpdate::CallbackQuery])
                    .await
                    .map_err(|e| TelegramError::Webhook(e.to_string()))?;
            }
        }
        // Leases held by a previous run of this process are void now.
        let released = self
            .assistant
            .store()
            .release_leases(&[Platform::Telegram], self.advisers_for())
            .map_err(CoreError::from)?;
        if released > 0 {
            tracing::info!(
                released,
                "unconfirmed deliveries from the last run will be sent"
            );
        }
        tracing::info!(
            mode = ?self.settings.mode,
            adviser_group = self.group().is_some(),
            forum = self.forum.load(Ordering::Relaxed),
            "Telegram front-end running"
        );

        let poller = (self.settings.mode == Mode::Polling)
            .then(|| tokio::spawn(self.clone().poll(shutdown.clone())));
        let outbox = tokio::spawn(pump::outbox(self.clone(), shutdown.clone()));
        pump::dispatch(self.clone(), shutdown.clone()).await;
        if let Some(p) = poller {
            let _ = p.await;
        }
        let _ = outbox.await;
        tracing::info!("Telegram front-end stopped");
        Ok(())
    }

    async fn connect(
        &self,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<Option<Context>, TelegramError> {
        let mut attempt = 0;
        loop {
            let res = tokio::select! {
                r = self.bot.get_me() => r,
                _ = shutdown.wait_for(|s| *s) => return Ok(None),
            };
            match res {
                Ok(me) => {
                    self.contact(true);
                    return Ok(Some(Context {
                        bot_id: me.user.id,
                        // `Me::username()` panics on a bot without one; never trust that.
                        bot_username: me.user.username.clone().unwrap_or_default(),
                        adviser_group: self.group(),
                    }));
                }
                Err(RequestError::Api(ApiError::InvalidToken)) => {
                    return Err(TelegramError::Unauthorized)
                }
                Err(e) => {
                    self.contact(false);
                    self.observer.error(Platform::Telegram, error_kind(&e));
                    let wait = backoff(attempt).min(Duration::from_secs(30));
                    tracing::warn!(kind = error_kind(&e), error = %e, retry_in_s = wait.as_secs(), "cannot reach Telegram");
                    attempt += 1;
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = shutdown.wait_for(|s| *s) => return Ok(None),
                    }
                }
            }
        }
    }

    async fn setup_commands(&self) {
        for lang in [None, Some(Lang::Sv), Some(Lang::En)] {
            let l = lang.unwrap_or(Lang::Sv);
            // The SME commands a Telegram user can type, from the core's
            // list (so /help and this menu always agree).
            let cmds: Vec<BotCommand> = kraft_core::commands::for_smes(true)
                .map(|c| BotCommand::new(c.name, c.description(l)))
                .collect();
            let mut req = self.bot.set_my_commands(cmds);
            if let Some(l) = lang {
                req = req.language_code(l.as_str());
            }
            if let Err(e) = req.await {
                tracing::warn!(
                    kind = error_kind(&e),
                    "setMyCommands failed; commands still work"
                );
            }
        }
    }

    async fn setup_adviser_group(&self) {
        let Some(g) = self.group() else {
            tracing::info!(
                "no telegram.adviser_group: escalations are handled with `kraft tickets`"
            );
            return;
        };
        let mut res = self.bot.get_chat(g).await;
        // Upgraded to a supergroup while Kraft was stopped: follow it now.
        if let Err(RequestError::MigrateToChatId(to)) = &res {
            let to = *to;
            if self.follow_migration(g, to).is_ok() {
                res = self.bot.get_chat(to).await;
            }
        }
        match res {
            Ok(c) => {
                use teloxide::types::{ChatFullInfoKind, ChatFullInfoPublicKind};
                let forum = matches!(&c.kind, ChatFullInfoKind::Public(p)
                    if matches!(&p.kind, ChatFullInfoPublicKind::Supergroup(s) if s.is_forum));
                self.forum.store(forum, Ordering::Relaxed);
            }
            Err(e) => {
                self.observer.error(Platform::Telegram, "adviser_group");
                tracing::error!(
                    kind = error_kind(&e),
                    "cannot read the adviser group; using reply threads"
                );
                if let Trouble::Unusable(kind) = trouble(&e) {
                    self.group_usable(Some(kind));
                }
            }
        }
    }

    async fn poll(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let store = self.assistant.store().clone();
        let mut offset: i64 = match store.cursor(OFFSET_CURSOR) {
            Ok(v) => v.and_then(|v| v.parse().ok()).unwrap_or(0),
            Err(e) => {
                tracing::error!(error = %e, "cannot read the update offset; starting from Telegram's");
                0
            }
        };
        let mut failures = 0;
        loop {
            let req = self
                .bot
                .get_updates()
                .offset(offset.clamp(0, i32::MAX as i64) as i32)
                .timeout(self.settings.poll_timeout_secs)
                .allowed_updates(vec![AllowedUpdate::Message, AllowedUpdate::CallbackQuery]);
            let res = tokio::select! {
                r = req => r,
                // An abandoned getUpdates confirms nothing: safe to drop.
                _ = shutdown.wait_for(|s| *s) => break,
            };
            match res {
                Ok(updates) => {
                    failures = 0;
                    self.contact(true);
                    if let Some(was) = self
                        .conflict
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .take()
                    {
                        tracing::info!(was, "getUpdates works again");
                    }
                    if updates.is_empty() {
                        continue;
                    }
                    let next = updates.iter().map(|u| u.id.0 as i64).max().unwrap_or(0) + 1;
                    match self.store_updates(&updates, Some(next.max(offset))) {
                        Ok(_) => offset = next.max(offset),
                        Err(e) => {
                            // Not stored: the same updates come again.
                            tracing::error!(error = %e, "cannot store updates; fetching them again");
                            self.observer.error(Platform::Telegram, "store");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    }
                }
                Err(e) => {
                    self.contact(false);
                    self.observer.error(Platform::Telegram, error_kind(&e));
                    if let Some(kind) = updates_conflict(&e) {
                        let before = self
                            .conflict
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .replace(kind);
                        // Once per episode: it is retried until it ends.
                        if before.is_none() {
                            tracing::error!(
                                kind,
                                "Telegram gives this bot's updates to someone else ({}); no message arrives until that stops",
                                match kind {
                                    "webhook_set" => "a webhook is set, e.g. by another deployment in webhook mode: remove it with deleteWebhook, or run this one with telegram.mode = \"webhook\"",
                                    _ => "another process polls with the same token: stop it",
                                }
                            );
                        }
                    }
                    let wait = match &e {
                        RequestError::RetryAfter(s) => s.duration(),
                        _ => backoff(failures).min(Duration::from_secs(30)),
                    };
                    failures += 1;
                    tracing::warn!(
                        kind = error_kind(&e),
                        retry_in_ms = wait.as_millis() as u64,
                        "getUpdates failed"
                    );
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = shutdown.wait_for(|s| *s) => break,
                    }
                }
            }
        }
    }

    fn ctx(&self) -> Option<&Context> {
        self.ctx.get()
    }

    async fn handle_row(&self, row: &InboxRow) -> Result<(), CoreError> {
        let Some(ctx) = self.ctx() else {
            return Ok(());
        };
        // The adviser group as it is now (it may have been followed to a
        // new id since connecting).
        let ctx = &Context {
            adviser_group: self.group(),
            ..ctx.clone()
        };
        let update: Update = match serde_json::from_str(&row.payload) {
            Ok(u) => u,
            Err(_) => {
                tracing::warn!(update = row.key.as_str(), "unreadable update dropped");
                self.observer.error(Platform::Telegram, "malformed_update");
                self.assistant.commit(row.id, &[], None, self.lease())?;
                return Ok(());
            }
        };
        match event::classify(&update, ctx) {
            Event::Ignore(why) => {
                tracing::debug!(why, "update ignored");
                self.assistant.commit(row.id, &[], None, self.lease())?;
            }
            Event::Sme {
                user,
                input,
                reply_to,
                callback,
            } => {
                if let Some(cb) = callback {
                    // Stops the button's spinner; harmless if it fails.
                    let _ = self
                        .bot
                        .answer_callback_query(teloxide::types::CallbackQueryId(cb))
                        .await;
                }
                let chat = ChatId(user.chat_id.parse().unwrap_or_default());
                let typing = matches!(input, kraft_core::Input::Text(_));
                let t0 = Instant::now();
                let inc = Incoming { user, input };
                let mut draft = Draft {
                    tg: self,
                    chat,
                    reply_to: reply_to.map(|m| m.0),
                    message: None,
                };
                let handle = async {
                    if typing && self.settings.draft_every_ms > 0 {
                        let pace = kraft_core::draft::DraftPace {
                            every: Duration::from_millis(self.settings.draft_every_ms),
                            max_chars: format::MAX_MESSAGE,
                            max_shows: 20,
                        };
                        kraft_core::draft::handle_drafted(
                            &self.assistant,
                            &inc,
                            false,
                            pace,
                            &mut draft,
                        )
                        .await
                        .map(|(a, _)| a)
                    } else {
                        self.assistant.handle(&inc).await
                    }
                };
                // "typing…" goes out alongside the work (and is renewed every
                // 4 s, Telegram shows it for 5); the answer follows it.
                let refresh = async {
                    loop {
                        tokio::time::sleep(Duration::from_secs(4)).await;
                        let _ = self.bot.send_chat_action(chat, ChatAction::Typing).await;
                    }
                };
                let first = async {
                    if typing {
                        let _ = self.bot.send_chat_action(chat, ChatAction::Typing).await;
                    }
                };
                let work = async {
                    tokio::select! {
                        r = handle => r,
                        _ = refresh, if typing => unreachable!("the refresh loop never ends"),
                    }
                };
                let ((), res) = tokio::join!(first, work);
                let mut actions = res?;
                // /forget: what was posted in the adviser group goes too,
                // and the reply says how that went.
                pump::redact(self, &mut actions).await;
                self.observer
                    .handled(Platform::Telegram, &actions, t0.elapsed());
                let meta = reply_to.map(|m| {
                    serde_json::to_string(&Meta {
                        reply_to: Some(m.0),
                        draft: None,
                    })
                    .unwrap_or_default()
                });
                // The answer replaces its draft; any other reply is new.
                let first = draft.message.map(|d| {
                    serde_json::to_string(&Meta {
                        reply_to: reply_to.map(|m| m.0),
                        draft: Some(d.0),
                    })
                    .unwrap_or_default()
                });
                let Some(replies) = self.assistant.commit_replacing(
                    row.id,
                    &actions,
                    meta.as_deref(),
                    first.as_deref(),
                    self.lease(),
                )?
                else {
                    return Ok(());
                };
                pump::deliver_now(self, replies, actions).await;
            }
            Event::AdviserButton {
                from,
                name,
                callback,
                data,
            } => {
                let text = self.adviser_button(from, &name, &data).await;
                let _ = self
                    .bot
                    .answer_callback_query(teloxide::types::CallbackQueryId(callback))
                    .text(text)
                    .await;
                self.assistant.commit(row.id, &[], None, self.lease())?;
                self.pump.outbox_wake.notify_one();
            }
            Event::AdviserMessage {
                from,
                name,
                message,
                thread,
                reply_to,
                text,
            } => {
                self.adviser_message(from, &name, message, thread, reply_to, text)
                    .await?;
                self.assistant.commit(row.id, &[], None, self.lease())?;
                self.pump.outbox_wake.notify_one();
            }
        }
        Ok(())
    }

    fn adviser_lang(&self) -> Lang {
        self.assistant.settings().escalation.adviser_language
    }

    /// Membership of the adviser group, cached; any doubt means no.
    async fn is_member(&self, user: UserId) -> bool {
        let Some(g) = self.group() else {
            return false;
        };
        let ttl = Duration::from_secs(self.settings.membership_cache_secs);
        if let Some((ok, at)) = self
            .members
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&user.0)
        {
            if at.elapsed() < ttl {
                return *ok;
            }
        }
        match self.bot.get_chat_member(g, user).await {
            Ok(m) => {
                let ok = m.kind.is_present();
                self.members
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(user.0, (ok, Instant::now()));
                ok
            }
            Err(e) => {
                tracing::warn!(kind = error_kind(&e), "membership check failed; refusing");
                false
            }
        }
    }

    /// A note in the ticket's thread, through the outbox.
    fn note(&self, ticket: Option<i64>, text: &str) {
        self.assistant.desk().note(ticket, text);
    }

    async fn adviser_button(&self, from: UserId, name: &str, data: &str) -> String {
        let l = self.adviser_lang();
        if !self.is_member(from).await {
            self.observer.error(Platform::Telegram, "not_adviser");
            tracing::warn!("ticket action refused: not a member of the adviser group");
            return texts::only_group_members(l).to_string();
        }
        let Some(ButtonId::Ticket { op, ticket: id }) = ButtonId::parse(data) else {
            return texts::unknown_button(l).to_string();
        };
        // The presser sees the outcome either way.
        self.ticket_op(op, id, Self::adviser(from, name))
            .await
            .unwrap_or_else(|e| e)
    }

    /// Claims, closes or hands back a ticket. `Ok`: the note posted in the
    /// ticket's thread; `Err`: why not, for the adviser.
    async fn ticket_op(&self, op: TicketOp, id: i64, by: Adviser) -> Result<String, String> {
        self.assistant.desk().act(op, id, by)
    }

    /// A member of the adviser group as the desk knows them: by account,
    /// so two advisers with the same name are two, and any name can act.
    fn adviser(from: UserId, name: &str) -> Adviser {
        Adviser::on(Platform::Telegram, from.0, name)
    }

    async fn adviser_message(
        &self,
        from: UserId,
        name: &str,
        message: MessageId,
        thread: Option<i32>,
        reply_to: Option<MessageId>,
        text: Option<String>,
    ) -> Result<(), CoreError> {
        let Some(g) = self.group() else {
            return Ok(());
        };
        let store = self.assistant.store();
        let gs = g.0.to_string();
        let mut ticket = None;
        if let Some(t) = thread {
            ticket = store.ticket_of_thread(Platform::Telegram, &gs, &t.to_string())?;
        }
        if ticket.is_none() {
            if let Some(r) = reply_to {
                ticket = store.ticket_of_message(Platform::Telegram, &gs, &r.0.to_string())?;
            }
        }
        let Some(ticket) = ticket else {
            return Ok(()); // chatter outside ticket threads
        };
        let l = self.adviser_lang();
        if !self.is_member(from).await {
            self.observer.error(Platform::Telegram, "not_adviser");
            return Ok(());
        }
        let Some(text) = text else {
            self.note(Some(ticket), texts::only_text_is_passed_on(l));
            return Ok(());
        };
        let cmd = text.split_whitespace().next().unwrap_or("");
        let cmd = cmd.split('@').next().unwrap_or("");
        let op = match cmd {
            "/claim" => Some(TicketOp::Claim),
            "/resolve" | "/close" => Some(TicketOp::Resolve),
            "/handback" => Some(TicketOp::Handback),
            _ => None,
        };
        if let Some(op) = op {
            if let Err(why) = self.ticket_op(op, ticket, Self::adviser(from, name)).await {
                self.note(Some(ticket), &why);
            }
            return Ok(());
        }
        let key = format!("tg:{gs}:{}", message.0);
        match self
            .assistant
            .desk()
            .reply(ticket, Self::adviser(from, name), &text, Some(&key))
        {
            Ok(_) => {
                store.remember_message(Platform::Telegram, &gs, &message.0.to_string(), ticket)?;
            }
            Err(DeskError::Empty) => {}
            Err(e) => self.note(Some(ticket), &self.assistant.desk().error_text(&e)),
        }
        Ok(())
    }

    /// Sends a message's text with `send(body, html)`: as HTML first, and
    /// as plain text if Telegram cannot parse it (it should never happen
    /// with escaped text; plain text always parses). Contact with Telegram
    /// is recorded either way.
    async fn html_or_plain<T, F, Fut>(&self, text: &str, send: F) -> Result<T, RequestError>
    where
        F: Fn(String, bool) -> Fut,
        Fut: std::future::Future<Output = Result<T, RequestError>>,
    {
        let r = match send(format::to_html(text), true).await {
            Err(RequestError::Api(ApiError::CantParseEntities(_))) => {
                self.observer.error(Platform::Telegram, "bad_formatting");
                send(text.to_string(), false).await
            }
            r => r,
        };
        match &r {
            Ok(_) => self.contact(true),
            Err(RequestError::Network(_) | RequestError::Io(_)) => self.contact(false),
            Err(_) => {}
        }
        r
    }

    /// Replaces a streamed draft with the final text of the answer's first
    /// part. `Ok(false)`: the draft is gone (deleted, too old to edit), so
    /// the part is sent as a new message. An edit is idempotent, so a
    /// retry after a crash never shows the answer twice.
    async fn replace_draft(
        &self,
        chat: ChatId,
        draft: i32,
        text: &str,
        buttons: &[kraft_core::Button],
    ) -> Result<bool, RequestError> {
        let r = self
            .html_or_plain(text, |body, html| {
                let mut req = self
                    .bot
                    .edit_message_text(chat, MessageId(draft), body)
                    .link_preview_options(no_preview());
                if html {
                    req = req.parse_mode(ParseMode::Html);
                }
                if !buttons.is_empty() {
                    req = req.reply_markup(keyboard(buttons));
                }
                async move { req.await.map(|_| ()) }
            })
            .await;
        match r {
            Ok(()) | Err(RequestError::Api(ApiError::MessageNotModified)) => Ok(true),
            Err(RequestError::Api(
                ApiError::MessageToEditNotFound | ApiError::MessageCantBeEdited,
            )) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn send_part(
        &self,
        chat: ChatId,
        text: &str,
        reply_to: Option<i32>,
        thread: Option<i32>,
        buttons: &[kraft_core::Button],
    ) -> Result<MessageId, RequestError> {
        self.html_or_plain(text, |body, html| {
            let mut req = self
                .bot
                .send_message(chat, body)
                .link_preview_options(no_preview());
            if html {
                req = req.parse_mode(ParseMode::Html);
            }
            if let Some(r) = reply_to {
                req = req.reply_parameters(
                    ReplyParameters::new(MessageId(r)).allow_sending_without_reply(),
                );
            }
            if let Some(t) = thread {
                req = req.message_thread_id(ThreadId(MessageId(t)));
            }
            if !buttons.is_empty() {
                req = req.reply_markup(keyboard(buttons));
            }
            async move { req.await.map(|m| m.id) }
        })
        .await
    }

    /// After a later note of a ticket ("✅ #12 taken by Anna", "☑️ #12
    /// closed by …"), the buttons under its note follow its state: who has
    /// it, and none once it is closed. Edited only when that changed.
    async fn refresh_note(&self, ticket: Option<i64>) {
        let Some(t) = ticket else {
            return;
        };
        let desk = self.assistant.desk();
        let Some((chat, msg, buttons)) = pump::blocking(|| desk.note_update(t, Platform::Telegram))
        else {
            return;
        };
        let (Ok(chat), Ok(msg)) = (chat.parse::<i64>(), msg.parse::<i32>()) else {
            return;
        };
        match self
            .bot
            .edit_message_reply_markup(ChatId(chat), MessageId(msg))
            .reply_markup(keyboard(&buttons))
            .await
        {
            Ok(_) => pump::blocking(|| desk.note_shown(t, Platform::Telegram, &buttons)),
            Err(e) => tracing::warn!(
                ticket = t,
                kind = error_kind(&e),
                "note buttons not updated"
            ),
        }
    }

    /// After the last note of a resolved ticket ("☑️ #12 closed by …"),
    /// its topic is closed, so the group's topic list shows what is still
    /// open. A later note for it reopens it (see `TopicClosed` above). A
    /// failure (no right to manage topics) is logged, nothing more.
    async fn close_if_resolved(&self, g: ChatId, ticket: Option<i64>, thread: Option<i32>) {
        let (Some(t), Some(th)) = (ticket, thread) else {
            return;
        };
        let store = self.assistant.store();
        let resolved = pump::blocking(|| store.ticket(t))
            .ok()
            .flatten()
            .is_some_and(|tk| tk.status == kraft_core::store::TicketStatus::Resolved);
        if !resolved {
            return;
        }
        if let Err(e) = self.bot.close_forum_topic(g, ThreadId(MessageId(th))).await {
            tracing::warn!(
                ticket = t,
                kind = error_kind(&e),
                "cannot close the resolved ticket's topic"
            );
        }
    }

    /// Creates a ticket's forum topic and records its id. `Err`: a store
    /// failure; `Ok(Err)`: Telegram's answer.
    ///
    /// Telegram has no idempotency key for createForumTopic, so the
    /// guarantee is built around the call: the intent (`creating`) is
    /// committed before the request, and only a definite answer from
    /// Telegram replaces it, with the topic's id on success, or removed on
    /// a refusal (which created nothing). A crash, or a lost response,
    /// leaves the intent, and a send that finds it never calls
    /// createForumTopic for that ticket again: the ticket continues as a
    /// reply chain in General. So a ticket never gets a second topic; at
    /// worst one empty topic is left, and the advisers are told.
    async fn create_topic(
        &self,
        g: ChatId,
        ticket: i64,
    ) -> Result<Result<i32, RequestError>, SendFailure> {
        let store = self.assistant.store();
        let store_err = |_| SendFailure::Transient("store", None);
        let gs = g.0.to_string();
        store
            .set_thread(ticket, Platform::Telegram, &gs, CREATING)
            .map_err(store_err)?;
        let title = pump::blocking(|| self.assistant.desk().ticket_title(ticket));
        let name: String = title.chars().take(120).collect();
        match self.bot.create_forum_topic(g, name).await {
            Ok(topic) => {
                self.group_usable(None);
                let th = topic.thread_id.0 .0;
                store
                    .set_thread(ticket, Platform::Telegram, &gs, &th.to_string())
                    .map_err(store_err)?;
                Ok(Ok(th))
            }
            Err(e) => {
                let refused = matches!(
                    e,
                    RequestError::Api(_)
                        | RequestError::RetryAfter(_)
                        | RequestError::MigrateToChatId(_)
                );
                if refused {
                    store
                        .clear_thread(ticket, Platform::Telegram)
                        .map_err(store_err)?;
                }
                Ok(Err(e))
            }
        }
    }
}

#[async_trait::async_trait]
impl Frontend for Telegram {
    type Error = CoreError;

    fn pump(&self) -> &Pump {
        &self.pump
    }

    /// Its advisers' room hosts these platforms' tickets once it has a
    /// room at all.
    fn advisers_for(&self) -> &[Platform] {
        if self.group().is_some() {
            &self.settings.advisers_for
        } else {
            &[]
        }
    }

    async fn process(&self, row: &InboxRow) -> Result<(), CoreError> {
        self.handle_row(row).await
    }

    async fn send_to_user(&self, d: &Delivery, chat: &str) -> Result<(), SendFailure> {
        let chat = ChatId(
            chat.parse()
                .map_err(|_| SendFailure::Permanent("bad_chat_id"))?,
        );
        let meta: Meta = d
            .meta
            .as_deref()
            .and_then(|m| serde_json::from_str(m).ok())
            .unwrap_or_default();
        let parts = format::split(&d.text, format::MAX_MESSAGE);
        let n = parts.len();
        for (i, part) in parts.iter().enumerate().skip(d.parts_sent.max(0) as usize) {
            let last = i + 1 == n;
            let reply_to = if i == 0 { meta.reply_to } else { None };
            let buttons: &[kraft_core::Button] = if last { &d.buttons } else { &[] };
            let replaced = match meta.draft {
                Some(draft) if i == 0 => self
                    .replace_draft(chat, draft, part, buttons)
                    .await
                    .map_err(|e| classify_failure(&e))?,
                _ => false,
            };
            if !replaced {
                self.send_part(chat, part, reply_to, None, buttons)
                    .await
                    .map_err(|e| classify_failure(&e))?;
            }
            if n > 1 && !last {
                if let Err(e) = self.assistant.store().set_parts_sent(d.id, i as i64 + 1) {
                    tracing::error!(error = %e, "cannot record a sent part");
                }
            }
        }
        Ok(())
    }

    /// Posts a delivery in the adviser group: in the ticket's topic (made
    /// on first use) or reply chain. What the group does meanwhile is
    /// handled here, each at most once per attempt: a group upgraded to a
    /// supergroup is followed, a closed topic reopened, a deleted topic
    /// replaced (the ticket gets the new thread id). These are permanent
    /// for the thread, so retrying the same request would never succeed.
    async fn send_to_advisers(&self, d: &Delivery) -> Result<(), SendFailure> {
        let store = self.assistant.store();
        let store_err = |_| SendFailure::Transient("store", None);
        let mut sent = d.parts_sent.max(0) as usize;
        let mut followed = false;
        let mut repaired = false;
        loop {
            let Some(g) = self.group() else {
                return Err(SendFailure::Permanent("no_adviser_group"));
            };
            let gs = g.0.to_string();
            let forum = self.forum.load(Ordering::Relaxed);
            let mut thread: Option<i32> = None;
            let mut reply_root: Option<i32> = None;
            let mut failure: Option<RequestError> = None;
            if let Some(t) = d.ticket_id {
                let known = store
                    .thread_of(t, Platform::Telegram)
                    .map_err(store_err)?
                    .and_then(|(_, th)| place(&th));
                match (known, forum) {
                    (Some(Place::Id(th)), true) => thread = Some(th),
                    (Some(Place::Id(root) | Place::Root(root)), _) => reply_root = Some(root),
                    (Some(Place::Creating), true) => {
                        tracing::warn!(
                            ticket = t,
                            "a topic for this ticket may exist without its id (a crash or a lost answer); it continues in General instead of a second topic"
                        );
                        // The advisers are told, in a message that becomes
                        // the root of the ticket's reply chain.
                        let l = self.adviser_lang();
                        let notice = texts::ticket_continues_here(l, t);
                        match self.send_part(g, &notice, None, None, &[]).await {
                            Ok(id) => {
                                self.group_usable(None);
                                let ids = id.0.to_string();
                                let _ = store.remember_message(Platform::Telegram, &gs, &ids, t);
                                store
                                    .set_thread(t, Platform::Telegram, &gs, &format!("r:{ids}"))
                                    .map_err(store_err)?;
                                reply_root = Some(id.0);
                            }
                            Err(e) => failure = Some(e),
                        }
                    }
                    (Some(Place::Creating), false) | (None, false) => {}
                    (None, true) => match self.create_topic(g, t).await? {
                        Ok(th) => thread = Some(th),
                        Err(e) => failure = Some(e),
                    },
                }
            }
            if failure.is_none() {
                let parts = format::split(&d.text, format::MAX_MESSAGE);
                let n = parts.len();
                for (i, part) in parts.iter().enumerate().skip(sent) {
                    let buttons: &[kraft_core::Button] = if i + 1 == n { &d.buttons } else { &[] };
                    match self.send_part(g, part, reply_root, thread, buttons).await {
                        Ok(id) => {
                            self.group_usable(None);
                            if let Some(t) = d.ticket_id.filter(|_| carries_ticket_buttons(buttons))
                            {
                                let _ = store.set_note(
                                    t,
                                    Platform::Telegram,
                                    &gs,
                                    &id.0.to_string(),
                                    &kraft_core::desk::shown_as(buttons),
                                );
                            }
                            sent = i + 1;
                            if let Some(t) = d.ticket_id {
                                let ids = id.0.to_string();
                                let _ = store.remember_message(Platform::Telegram, &gs, &ids, t);
                                if !forum && reply_root.is_none() {
                                    let _ = store.set_thread(t, Platform::Telegram, &gs, &ids);
                                    reply_root = Some(id.0);
                                }
                            }
                            if n > 1 && i + 1 < n {
                                let _ = store.set_parts_sent(d.id, i as i64 + 1);
                            }
                        }
                        Err(e) => {
                            failure = Some(e);
                            break;
                        }
                    }
                }
            }
            let Some(e) = failure else {
                self.refresh_note(d.ticket_id).await;
                self.close_if_resolved(g, d.ticket_id, thread).await;
                return Ok(());
            };
            match (trouble(&e), d.ticket_id) {
                (Trouble::Migrated(to), _) if !followed => {
                    followed = true;
                    self.follow_migration(g, to)?;
                }
                (Trouble::TopicClosed, Some(t)) if !repaired && thread.is_some() => {
                    repaired = true;
                    let th = ThreadId(MessageId(thread.unwrap_or_default()));
                    match self.bot.reopen_forum_topic(g, th).await {
                        Ok(_) => {
                            tracing::warn!(ticket = t, "the ticket's topic was closed; reopened it")
                        }
                        Err(e) => {
                            // Cannot reopen (no right to manage topics):
                            // a new topic the bot can post in.
                            tracing::warn!(ticket = t, kind = error_kind(&e), "the ticket's topic is closed and cannot be reopened; making a new one");
                            store
                                .clear_thread(t, Platform::Telegram)
                                .map_err(store_err)?;
                        }
                    }
                }
                (Trouble::ThreadGone, Some(t)) if !repaired && thread.is_some() => {
                    repaired = true;
                    tracing::warn!(
                        ticket = t,
                        "the ticket's topic was deleted; making a new one"
                    );
                    store
                        .clear_thread(t, Platform::Telegram)
                        .map_err(store_err)?;
                }
                (Trouble::Unusable(kind), _) => {
                    self.group_usable(Some(kind));
                    // Not a dead letter: the notes wait (with back-off, up
                    // to `max_delivery_attempts`) for a person to fix it.
                    return Err(SendFailure::Transient(kind, None));
                }
                _ => return Err(classify_failure(&e)),
            }
        }
    }

    /// A forum topic is deleted with everything in it; in a group without
    /// topics each message Kraft posted for the ticket is. Telegram lets
    /// a bot delete its own group messages for 48 hours only.
    async fn redact(&self, r: &Redaction) -> Result<Redacted, CannotRedact> {
        let g = ChatId(r.chat.parse().map_err(|_| CannotRedact::NotRecorded)?);
        let why = |e: &RequestError| match e {
            RequestError::Api(ApiError::MessageCantBeDeleted) => CannotRedact::TooOld,
            RequestError::Api(
                ApiError::BotKicked | ApiError::BotKickedFromSupergroup | ApiError::ChatNotFound,
            ) => CannotRedact::NoRight,
            RequestError::Api(ApiError::Unknown(d)) if d.contains("rights") => {
                CannotRedact::NoRight
            }
            RequestError::Network(_) | RequestError::Io(_) | RequestError::RetryAfter(_) => {
                CannotRedact::Unreachable
            }
            _ => CannotRedact::Refused,
        };
        let topic = r.thread.as_deref().and_then(|t| t.parse::<i32>().ok());
        if let (true, Some(t)) = (self.forum.load(Ordering::Relaxed), topic) {
            return match self.bot.delete_forum_topic(g, ThreadId(MessageId(t))).await {
                Ok(_) => Ok(Redacted::Thread),
                Err(e) => {
                    tracing::warn!(kind = error_kind(&e), "cannot delete a ticket's topic");
                    Err(why(&e))
                }
            };
        }
        let mut deleted = 0;
        let mut failed = None;
        for m in r.messages.iter().filter_map(|m| m.parse::<i32>().ok()) {
            match self.bot.delete_message(g, MessageId(m)).await {
                // Already gone (an adviser deleted it): as good as deleted.
                Ok(_) | Err(RequestError::Api(ApiError::MessageToDeleteNotFound)) => deleted += 1,
                Err(e) => {
                    tracing::warn!(kind = error_kind(&e), "cannot delete a ticket message");
                    failed = Some(why(&e));
                }
            }
        }
        match failed {
            Some(why) => Err(why),
            None if deleted == 0 => Err(CannotRedact::NotRecorded),
            None => Ok(Redacted::Messages(deleted)),
        }
    }

    fn unreachable_note(&self, l: Lang) -> &'static str {
        texts::unreachable_on_telegram(l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kraft_core::Button;

    fn callback_data(m: &InlineKeyboardMarkup) -> Vec<String> {
        use teloxide::types::InlineKeyboardButtonKind;
        m.inline_keyboard
            .iter()
            .flatten()
            .filter_map(|b| match &b.kind {
                InlineKeyboardButtonKind::CallbackData(d) => Some(d.clone()),
                _ => None,
            })
            .collect()
    }

    /// Every kind of button the core makes, with the longest id each can
    /// have: ids are SQLite row ids (i64), whose longest text is i64::MIN.
    /// A new kind of button belongs in this list.
    fn every_button_kind_at_its_longest() -> Vec<Button> {
        let id = i64::MIN;
        let mut b = vec![
            Button::new(format!("fb:up:{id}"), "👍"),
            Button::new(format!("fb:down:{id}"), "👎"),
            Button::new(format!("claim:{id}"), "Ta ärendet"),
            Button::new(format!("resolve:{id}"), "Avsluta"),
            Button::new(format!("handback:{id}"), "Tillbaka till boten"),
            Button::new("human", "Prata med en rådgivare"),
            Button::new("ticket:cancel", "Avbryt"),
            Button::new("forget:yes", "Ja"),
            Button::new("forget:no", "Nej"),
            Button::new("match:intro", "Be om en introduktion"),
            Button::new("an:summary", "Sammanfattning"),
            Button::new("an:restart", "Börja om"),
            Button::new("an:resume", "Fortsätt"),
        ];
        // The needs analysis's own buttons, as it makes them, every step.
        for step in 0..32 {
            for lang in [Lang::Sv, Lang::En] {
                b.extend(kraft_core::analysis::prompt(step, lang).1);
            }
        }
        b
    }

    #[test]
    fn every_buttons_callback_data_fits_telegrams_64_bytes() {
        let all = every_button_kind_at_its_longest();
        let data = callback_data(&keyboard(&all));
        assert_eq!(data.len(), all.len(), "no button may be left out");
        for d in &data {
            assert!(d.len() <= MAX_CALLBACK_DATA, "{d:?} is {} bytes", d.len());
        }
        // Telegram counts bytes, not characters.
        assert!(data.iter().any(|d| d.starts_with("handback:-922")));
    }

    #[test]
    fn a_button_over_64_bytes_is_never_sent() {
        let long = "x".repeat(MAX_CALLBACK_DATA + 1);
        let just = "å".repeat(MAX_CALLBACK_DATA / 2); // 64 bytes, 32 characters
        let m = keyboard(&[
            Button::new("fb:up:1", "👍"),
            Button::new(long, "Too long"),
            Button::new(just.clone(), "Just fits"),
        ]);
        assert_eq!(callback_data(&m), vec!["fb:up:1".to_string(), just]);
    }

    #[test]
    fn a_refused_get_updates_says_who_takes_the_updates() {
        let api = |d: &str| RequestError::Api(ApiError::Unknown(d.into()));
        assert_eq!(
            updates_conflict(&api("Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first")),
            Some("webhook_set")
        );
        assert_eq!(
            updates_conflict(&RequestError::Api(ApiError::CantGetUpdates)),
            Some("webhook_set")
        );
        assert_eq!(
            updates_conflict(&RequestError::Api(ApiError::TerminatedByOtherGetUpdates)),
            Some("other_poller")
        );
        assert_eq!(updates_conflict(&api("Bad Request: chat not found")), None);
    }

    #[test]
    fn adviser_group_errors_are_told_apart() {
        let api = |d: &str| RequestError::Api(ApiError::Unknown(d.into()));
        assert_eq!(
            trouble(&api("Bad Request: TOPIC_CLOSED")),
            Trouble::TopicClosed
        );
        assert_eq!(
            trouble(&api("Bad Request: message thread not found")),
            Trouble::ThreadGone
        );
        assert_eq!(
            trouble(&api("Bad Request: not enough rights to create a topic")),
            Trouble::Unusable("no_rights")
        );
        assert_eq!(
            trouble(&RequestError::MigrateToChatId(ChatId(-1_005))),
            Trouble::Migrated(ChatId(-1_005))
        );
        assert_eq!(
            trouble(&RequestError::Api(ApiError::BotKickedFromSupergroup)),
            Trouble::Unusable("kicked")
        );
        assert_eq!(
            trouble(&RequestError::Api(ApiError::ChatNotFound)),
            Trouble::Unusable("chat_not_found")
        );
        assert_eq!(trouble(&api("Bad Gateway")), Trouble::Other);
        assert_eq!(
            error_kind(&api("Bad Request: TOPIC_CLOSED")),
            "topic_closed"
        );
    }

    #[test]
    fn stored_threads_are_read_back() {
        assert_eq!(place("1234"), Some(Place::Id(1234)));
        assert_eq!(place("r:77"), Some(Place::Root(77)));
        assert_eq!(place(CREATING), Some(Place::Creating));
        assert_eq!(place("garbage"), None);
    }
}
