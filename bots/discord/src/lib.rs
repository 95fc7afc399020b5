//! kraft-discord: the Discord front-end. A thin adapter around the core:
//! gateway events become `Incoming`s, actions become Discord HTTP requests,
//! both through serenity (gateway, resume, HTTP rate limits).
//!
//! What it owns is delivery discipline, as the Telegram front-end does:
//! - every event Kraft acts on is stored in the core's inbox (keyed by the
//!   message or interaction id) before anything acts on it, and is marked
//!   handled together with its queued replies, so a reconnect that replays
//!   events, or a restart, neither drops nor repeats one;
//! - interactions are acknowledged (deferred) as they arrive, well inside
//!   Discord's 3 seconds; the answer then edits that response;
//! - replies leave through the core's outbox, channel messages with a
//!   nonce Discord enforces, so a resend after a crash is not a second
//!   message; network failures and 5xx are retried, never dropped.
//!
//! Advisers work from one private channel: a private thread per ticket,
//! with claim / resolve / hand-back buttons. Only members with the adviser
//! role can act; Discord sends the roles with every event, so no lookup.
//!
//! It needs no privileged intent: slash commands, DMs and mentions carry
//! their text without MESSAGE_CONTENT.
pub mod doctor;
pub mod event;
pub mod format;

use kraft_core::buttons::ButtonId;
use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use kraft_core::pump::{self, Frontend, Pump, PumpSettings, SendFailure};
use kraft_core::store::{Delivery, InboxEvent, InboxRow};
use kraft_core::texts::{CannotRedact, Redacted};
use kraft_core::{
    texts, Assistant, CoreError, Incoming, Lang, Observer, Platform, Privately, Redaction, UserRef,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use serenity::all::{
    ChannelId, ChannelType, Client, ClientBuilder, Context as SContext, EventHandler,
    GatewayIntents, GuildId, Http, HttpBuilder, Interaction, InteractionId, Message, MessageId,
    MessagePagination, Ready, ResumedEvent, UserId,
};
use serenity::async_trait;
use serenity::http::HttpError;
use tokio::sync::watch;

pub use event::{AdviserAct, Ctx, DcEvent, Token, Via, Who};

/// An interaction token lives 15 minutes; after 14 the answer goes to the
/// channel instead.
const TOKEN_TTL_SECS: i64 = 14 * 60;
/// How long an event Discord will not resend is held in memory while the
/// state database is unavailable (an interaction can still be answered
/// then, its token lives 15 minutes).
const STORE_PATIENCE: Duration = Duration::from_secs(10 * 60);
/// The cursor holding the newest message id Kraft knows it received over
/// the gateway (a snowflake), the lower bound of the next catch-up.
const SEEN_CURSOR: &str = "discord.seen";
/// The cursor is written at most this often (ms of snowflake time); an
/// older value only makes a catch-up read a little more.
const SEEN_EVERY_MS: u64 = 10_000;
/// A catch-up reads from this long before the cursor: our clock and
/// Discord's may differ, and events can come a little out of order.
const CATCH_UP_MARGIN_MS: u64 = 30_000;
/// Pages of 100 messages read per chat at most when catching up.
const CATCH_UP_PAGES: usize = 10;
/// Discord's epoch (2015-01-01) in Unix milliseconds.
const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;

/// The snowflake of the first moment of Unix millisecond `ms`.
fn snowflake_at(ms: u64) -> u64 {
    ms.saturating_sub(DISCORD_EPOCH_MS) << 22
}

/// The Unix millisecond a snowflake was made.
fn snowflake_ms(id: u64) -> u64 {
    (id >> 22) + DISCORD_EPOCH_MS
}

/// Runs `store` until it succeeds, backing off from 250 ms to 5 s, for at
/// most `STORE_PATIENCE`. Every failure is logged; giving up is an error.
async fn patiently(
    what: &'static str,
    store: impl Fn() -> Result<(), CoreError>,
) -> Result<(), CoreError> {
    let end = Instant::now() + STORE_PATIENCE;
    let mut wait = Duration::from_millis(250);
    loop {
        match pump::blocking(&store) {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() < end => {
                tracing::warn!(error = %e, what, retry_in_ms = wait.as_millis() as u64, "cannot store a Discord event yet; holding it");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(5));
            }
            Err(e) => {
                tracing::error!(error = %e, what, "cannot store a Discord event for 10 minutes; it is lost");
                return Err(e);
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiscordSettings {
    /// Connect to this address (host:port) whenever Discord's API host
    /// is asked for, instead of resolving it: a pinned egress, or a local
    /// Discord double in tests. Empty = DNS. TLS is still checked for
    /// discord.com; the gateway address comes from the API.
    pub connect_to: String,
    /// A PEM certificate authority to trust in addition to the built-in
    /// roots (a TLS-inspecting egress proxy, or the double's test CA).
    pub ca_file: String,
    /// A server id: its slash commands are registered there (they show at
    /// once); 0 = globally (can take up to an hour to appear).
    pub guild: u64,
    /// Channels where @mentions are answered (threads under them too);
    /// empty = any channel the bot can see.
    pub channels: Vec<u64>,
    /// The private channel where tickets get a private thread each; 0 =
    /// none, and escalations are handled with `kraft tickets`.
    pub adviser_channel: u64,
    /// Members with this role may claim, resolve and answer tickets.
    pub adviser_role: u64,
    /// Users of these platforms get their tickets in this adviser channel.
    pub advisers_for: Vec<Platform>,
    /// Ask for the privileged MESSAGE_CONTENT intent, so advisers can
    /// answer in a ticket thread without mentioning the bot. Off by default:
    /// `/reply` and mentions work without it.
    pub message_content: bool,
    /// Chats handled at the same time (each chat's messages stay in order).
    pub max_concurrent_chats: usize,
    /// A send not confirmed after this is retried (after a crash).
    pub delivery_lease_secs: u64,
    /// Transient failures before a message is given up as a dead letter.
    pub max_delivery_attempts: i64,
    /// Requests a second to Discord's API, interaction answers apart
    /// (Discord's global limit is 50; a burst of a quarter of this is
    /// allowed, so no second ever holds more than 1.25 × this).
    pub requests_per_second: u32,
    /// How long Discord keeps enforcing a message nonce. A send retried
    /// later than this first looks in the channel for the message, since
    /// the nonce no longer stops a second one. Discord says "a few
    /// minutes"; keep this under that.
    pub nonce_window_secs: u64,
    /// After a new gateway session (not a resume), the DMs of users who
    /// wrote in this many days, or have an open ticket, and the threads of
    /// open tickets are read for messages sent while Kraft was away.
    /// 0 = no catch-up.
    pub catch_up_days: u64,
    /// In LLM mode the answer grows in place: one message, edited at most
    /// this often (ms; Discord allows 5 edits in 5 s). 0: the answer
    /// arrives whole.
    pub draft_every_ms: u64,
    /// On a state several instances share (PostgreSQL): one of them holds
    /// the bot's gateway connection under a lease in the state database,
    /// renewed every third of this; the others stand by (handling and
    /// sending what the holder stores) and take over within this long
    /// after the holder dies.
    pub gateway_lease_secs: u64,
}

impl Default for DiscordSettings {
    fn default() -> Self {
        Self {
            connect_to: String::new(),
            ca_file: String::new(),
            guild: 0,
            channels: Vec::new(),
            adviser_channel: 0,
            adviser_role: 0,
            advisers_for: vec![Platform::Discord],
            message_content: false,
            max_concurrent_chats: 64,
            delivery_lease_secs: 600,
            max_delivery_attempts: 30,
            requests_per_second: 40,
            nonce_window_secs: 60,
            catch_up_days: 14,
            draft_every_ms: 1200,
            gateway_lease_secs: 30,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiscordError {
    #[error("invalid Discord settings: {0}")]
    Config(String),
    #[error("Discord refused the bot token (check KRAFT_DISCORD_TOKEN)")]
    Unauthorized,
    #[error("Discord closed the gateway: the bot asks for an intent it is not allowed (enable it in the Developer Portal, or set discord.message_content = false)")]
    DisallowedIntents,
    #[error("the Discord gateway stopped: {0}")]
    Gateway(String),
    /// A Discord request failed for now; the event is handled again later.
    #[error("a Discord request failed for now ({0}); will retry")]
    Unavailable(&'static str),
    #[error(transparent)]
    Core(#[from] CoreError),
}

/// The name of the gateway lease in the state database.
const GATEWAY_LEASE: &str = "discord:gateway";

/// The gateway lease while this instance holds it: renewed in the
/// background, given back when dropped.
struct GatewayLease {
    store: Arc<dyn kraft_core::State>,
    owner: String,
    renew: tokio::task::JoinHandle<()>,
    /// Turns true when the renewal finds another holder.
    lost: watch::Receiver<bool>,
}

impl Drop for GatewayLease {
    fn drop(&mut self) {
        self.renew.abort();
        if let Err(e) = pump::blocking(|| self.store.lease_drop(GATEWAY_LEASE, &self.owner)) {
            tracing::warn!(error = %e, "cannot give the Discord gateway lease back; it expires");
        }
    }
}

/// Health for `/healthz`.
#[derive(Debug, Clone, Serialize)]
pub struct Health {
    pub ok: bool,
    /// READY received and the gateway not lost since.
    pub connected: bool,
    /// Another instance holds the gateway (on a shared state); this one
    /// handles and sends what it stores, and takes over if it dies.
    pub standby: bool,
    /// False from a refused ticket thread in the adviser channel until
    /// a later one is made: tickets wait meanwhile.
    pub adviser_channel_ok: bool,
    /// Why not (`no_rights`, `channel_not_found`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adviser_channel_error: Option<&'static str>,
}

/// The HTTP client serenity uses (see [`Discord::http_client`]).
fn http_client(settings: &DiscordSettings) -> Result<reqwest012::Client, DiscordError> {
    let mut b = reqwest012::Client::builder()
        .use_rustls_tls()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60));
    if let Ok(addr) = settings.connect_to.parse::<std::net::SocketAddr>() {
        b = b.resolve("discord.com", addr);
    }
    if !settings.ca_file.is_empty() {
        let pem = std::fs::read(&settings.ca_file)
            .map_err(|e| DiscordError::Config(format!("discord.ca_file: {e}")))?;
        let ca = reqwest012::Certificate::from_pem(&pem)
            .map_err(|_| DiscordError::Config("discord.ca_file is not PEM".into()))?;
        b = b.add_root_certificate(ca);
    }
    b.build()
        .map_err(|_| DiscordError::Config("cannot build the HTTP client".into()))
}

/// What a failed request was, without its URL (which can hold a token).
fn kind_of(e: &serenity::Error) -> (&'static str, u16, isize) {
    match e {
        serenity::Error::Http(HttpError::UnsuccessfulRequest(r)) => {
            let status = r.status_code.as_u16();
            let kind = match status {
                429 => "rate_limited",
                401 => "unauthorized",
                403 => "forbidden",
                404 => "not_found",
                400..=499 => "bad_request",
                _ => "server_error",
            };
            (kind, status, r.error.code)
        }
        serenity::Error::Http(HttpError::Request(_)) => ("network", 0, 0),
        serenity::Error::Http(HttpError::ApplicationIdMissing) => ("no_application_id", 0, 0),
        serenity::Error::Json(_) => ("invalid_json", 0, 0),
        serenity::Error::Gateway(_) => ("gateway", 0, 0),
        _ => ("other", 0, 0),
    }
}

/// Discord's application commands, from the core's command list: every
/// SME command (Swedish descriptions as `sv-SE` localisations), and the
/// advisers' `/reply`, hidden by default (`default_member_permissions`
/// "0": server admins grant it to the adviser role under Server Settings →
/// Integrations; Kraft checks the role on every use regardless).
fn application_commands() -> Value {
    use kraft_core::commands::{Audience, COMMANDS};
    let cmds: Vec<Value> = COMMANDS
        .iter()
        .map(|c| {
            let options: Vec<Value> = c
                .option
                .map(|o| {
                    let mut v = json!({"type": 3, "name": o.name, "description": o.en,
                        "description_localizations": {"sv-SE": o.sv}, "required": o.required,
                        "max_length": 1500});
                    if !o.choices.is_empty() {
                        v["choices"] = o
                            .choices
                            .iter()
                            .map(|(value, sv, en)| {
                                json!({"name": en, "name_localizations": {"sv-SE": sv}, "value": value})
                            })
                            .collect();
                    }
                    vec![v]
                })
                .unwrap_or_default();
            // Usable in servers (0) and in the bot's DMs (1).
            let mut v = json!({
                "name": c.name, "type": 1, "description": c.en,
                "description_localizations": {"sv-SE": c.sv},
                "options": options,
                "contexts": if c.audience == Audience::Adviser { json!([0]) } else { json!([0, 1]) },
                "integration_types": [0],
            });
            if c.audience == Audience::Adviser {
                v["default_member_permissions"] = json!("0");
            }
            v
        })
        .collect();
    Value::Array(cmds)
}

fn classify(e: &serenity::Error) -> SendFailure {
    let (kind, status, _) = kind_of(e);
    match status {
        400 | 403 | 404 => SendFailure::Permanent(kind),
        _ => SendFailure::Transient(kind, None),
    }
}

/// Unknown webhook / interaction, or an invalid webhook token: the
/// interaction can no longer be answered, the channel still can.
fn token_gone(e: &serenity::Error) -> bool {
    matches!(kind_of(e).2, 10015 | 10062 | 50027)
}

/// Where a queued reply goes, kept with it in the outbox.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Meta {
    /// Answer as the interaction's response while the token lives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    i: Option<Token>,
    /// Reply to this message (a mention inside an existing thread).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reply_to: Option<u64>,
    /// Mention this user (a server channel, where nobody is notified
    /// otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mention: Option<u64>,
    /// The streamed draft this reply replaces (its first part is an edit
    /// of that message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    draft: Option<u64>,
}

/// A streamed answer's draft: the interaction's response while its token
/// lives, else a message in the chat, posted once and then edited.
struct Draft<'a> {
    http: &'a Http,
    dc: &'a Discord,
    channel: u64,
    token: Option<String>,
    reply_to: Option<u64>,
    mention: Option<u64>,
    message: Option<u64>,
}

#[async_trait]
impl kraft_core::draft::DraftSink for Draft<'_> {
    async fn show(&mut self, text: &str) -> bool {
        let users: Vec<u64> = self.mention.into_iter().collect();
        let content = match self.mention {
            Some(u) => format!("<@{u}> {text}"),
            None => text.to_string(),
        };
        let mut body = format::message(&content, &[], &users, &[]);
        let r = if let Some(t) = &self.token {
            self.dc
                .paced(
                    self.http
                        .edit_original_interaction_response(t, &body, vec![]),
                )
                .await
                .map(|_| ())
        } else if let Some(m) = self.message {
            self.dc
                .paced(self.http.edit_message(
                    ChannelId::new(self.channel),
                    MessageId::new(m),
                    &body,
                    vec![],
                ))
                .await
                .map(|_| ())
        } else {
            if let Some(m) = self.reply_to {
                body["message_reference"] =
                    json!({"message_id": m.to_string(), "fail_if_not_exists": false});
            }
            self.dc
                .paced(
                    self.http
                        .send_message(ChannelId::new(self.channel), vec![], &body),
                )
                .await
                .map(|m| self.message = Some(m.id.get()))
        };
        match r {
            Ok(()) => true,
            Err(e) => {
                let (kind, status, code) = kind_of(&e);
                tracing::debug!(kind, status, code, "a draft could not be shown");
                false
            }
        }
    }
}

/// Interaction ids seen by this process: a replayed INTERACTION_CREATE
/// (after a resume) must not be acknowledged twice.
#[derive(Default)]
struct Seen {
    set: HashSet<u64>,
    order: VecDeque<u64>,
}

impl Seen {
    fn insert(&mut self, id: u64) -> bool {
        if !self.set.insert(id) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > 10_000 {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        true
    }
}

pub struct Discord {
    token: String,
    assistant: Arc<Assistant>,
    settings: DiscordSettings,
    observer: Arc<dyn Observer>,
    http: OnceLock<Arc<Http>>,
    ctx: OnceLock<Ctx>,
    connected: AtomicBool,
    /// Waiting for the gateway lease another instance holds.
    standby: AtomicBool,
    /// Why the adviser channel refused the last ticket thread, until one
    /// is made (see [`Health`]).
    adviser_error: Mutex<Option<&'static str>>,
    commands_set: AtomicBool,
    seen: Mutex<Seen>,
    /// Channel id → parent channel (threads) and whether it may be
    /// answered in; cached, since it never changes.
    channels: Mutex<HashMap<u64, Option<u64>>>,
    unreadable_noted: Mutex<HashMap<i64, Instant>>,
    /// User id → their DM channel with the bot (opened once, then stable).
    dms: Mutex<HashMap<u64, u64>>,
    /// Paces every API request but interaction answers, under Discord's
    /// global limit.
    budget: governor::DefaultDirectRateLimiter,
    /// A catch-up is due or running: the seen cursor must not move past
    /// what it has not read yet.
    catching_up: AtomicBool,
    /// The snowflake time (ms) last written to `SEEN_CURSOR`.
    seen_written: AtomicU64,
    pump: Pump,
}

impl std::fmt::Debug for Discord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        f.debug_struct("Discord")
            .field("adviser_channel", &self.settings.adviser_channel)
            .finish()
    }
}

struct Handler(Arc<Discord>);

#[async_trait]
impl EventHandler for Handler {
    async fn ready(&self, _: SContext, ready: Ready) {
        self.0.connected.store(true, Ordering::Relaxed);
        // The application id arrives with READY; commands need it. Once per
        // process: a new session does not change them.
        if !self.0.commands_set.swap(true, Ordering::Relaxed) {
            if let Some(http) = self.0.http() {
                http.set_application_id(ready.application.id);
                self.0.setup_commands(http).await;
            }
        }
        tracing::info!(
            guilds = ready.guilds.len(),
            "Discord gateway ready (session started)"
        );
        // A new session starts empty: what was sent while Kraft was away
        // (or while an old session could not be resumed) is not replayed.
        self.0.catching_up.store(true, Ordering::Relaxed);
        tokio::spawn(self.0.clone().catch_up());
    }

    async fn resume(&self, _: SContext, _: ResumedEvent) {
        self.0.connected.store(true, Ordering::Relaxed);
        tracing::info!("Discord gateway resumed; missed events are replayed");
    }

    async fn shard_stage_update(&self, _: SContext, e: serenity::gateway::ShardStageUpdateEvent) {
        use serenity::gateway::ConnectionStage;
        let up = matches!(e.new, ConnectionStage::Connected);
        self.0.connected.store(up, Ordering::Relaxed);
        if !up {
            tracing::info!(stage = %e.new, "Discord gateway reconnecting");
        }
    }

    async fn message(&self, _: SContext, m: Message) {
        self.0.accept_message(&m).await;
    }

    async fn interaction_create(&self, _: SContext, i: Interaction) {
        self.0.accept_interaction(i).await;
    }
}

impl Discord {
    /// Checks the settings; nothing is sent until `run`.
    pub fn new(
        token: &str,
        settings: DiscordSettings,
        assistant: Arc<Assistant>,
        observer: Arc<dyn Observer>,
    ) -> Result<Arc<Self>, DiscordError> {
        let token = token.trim();
        if token.is_empty() || token.contains(char::is_whitespace) || token.len() > 200 {
            return Err(DiscordError::Config(
                "the bot token is empty or malformed".into(),
            ));
        }
        if !settings.connect_to.is_empty()
            && settings.connect_to.parse::<std::net::SocketAddr>().is_err()
        {
            return Err(DiscordError::Config(format!(
                "discord.connect_to {:?} must be an address like 127.0.0.1:8443",
                settings.connect_to
            )));
        }
        if !settings.ca_file.is_empty() {
            let pem = std::fs::read(&settings.ca_file).map_err(|e| {
                DiscordError::Config(format!("discord.ca_file {:?}: {e}", settings.ca_file))
            })?;
            reqwest012::Certificate::from_pem(&pem).map_err(|_| {
                DiscordError::Config(format!(
                    "discord.ca_file {:?} is not a PEM certificate",
                    settings.ca_file
                ))
            })?;
        }
        let Some(rps) = NonZeroU32::new(settings.requests_per_second) else {
            return Err(DiscordError::Config(
                "discord.requests_per_second must be at least 1".into(),
            ));
        };
        let burst = NonZeroU32::new(rps.get() / 4).unwrap_or(NonZeroU32::MIN);
        let budget =
            governor::RateLimiter::direct(governor::Quota::per_second(rps).allow_burst(burst));
        if settings.adviser_channel != 0 && settings.adviser_role == 0 {
            return Err(DiscordError::Config(
                "discord.adviser_channel needs discord.adviser_role (the role whose members may act on tickets)".into(),
            ));
        }
        let pump = Pump::new(
            Platform::Discord,
            assistant.clone(),
            observer.clone(),
            PumpSettings {
                max_concurrent_chats: settings.max_concurrent_chats,
                max_delivery_attempts: settings.max_delivery_attempts,
                lease_secs: settings.delivery_lease_secs,
            },
        );
        Ok(Arc::new(Self {
            token: token.to_string(),
            assistant,
            settings,
            observer,
            http: OnceLock::new(),
            ctx: OnceLock::new(),
            connected: AtomicBool::new(false),
            standby: AtomicBool::new(false),
            adviser_error: Mutex::new(None),
            commands_set: AtomicBool::new(false),
            seen: Mutex::new(Seen::default()),
            channels: Mutex::new(HashMap::new()),
            unreadable_noted: Mutex::new(HashMap::new()),
            dms: Mutex::new(HashMap::new()),
            budget,
            catching_up: AtomicBool::new(true),
            seen_written: AtomicU64::new(0),
            pump,
        }))
    }

    pub fn settings(&self) -> &DiscordSettings {
        &self.settings
    }

    pub fn health(&self) -> Health {
        let connected = self.connected.load(Ordering::Relaxed);
        let adviser_channel_error = *self.adviser_error.lock().unwrap_or_else(|p| p.into_inner());
        let standby = self.standby.load(Ordering::Relaxed);
        Health {
            ok: (connected || standby) && adviser_channel_error.is_none(),
            connected,
            standby,
            adviser_channel_ok: adviser_channel_error.is_none(),
            adviser_channel_error,
        }
    }

    fn http(&self) -> Option<&Arc<Http>> {
        self.http.get()
    }

    /// Runs one API request once the budget allows. Interaction answers
    /// (callbacks, the interaction webhook) do not go through here:
    /// Discord does not count them, and the 3 s to acknowledge must not
    /// wait behind a burst of sends.
    async fn paced<T>(&self, request: impl Future<Output = T>) -> T {
        self.budget.until_ready().await;
        request.await
    }

    /// A message or interaction id received over the gateway: Kraft was
    /// connected when it was made, so a later catch-up can start there.
    fn saw(&self, id: u64) {
        if self.catching_up.load(Ordering::Relaxed) {
            return;
        }
        let ms = snowflake_ms(id);
        let last = self.seen_written.load(Ordering::Relaxed);
        if ms < last.saturating_add(SEEN_EVERY_MS) {
            return;
        }
        self.seen_written.store(ms, Ordering::Relaxed);
        let write = || {
            self.assistant
                .store()
                .set_cursor(SEEN_CURSOR, &id.to_string())
        };
        if let Err(e) = pump::blocking(write) {
            tracing::warn!(error = %e, "cannot record the last Discord event seen");
        }
    }

    fn lease(&self) -> Duration {
        self.pump.lease()
    }

    fn adviser_lang(&self) -> Lang {
        self.assistant.settings().escalation.adviser_language
    }

    fn now(&self) -> i64 {
        self.assistant.now().timestamp()
    }

    /// The HTTP client serenity uses. Serenity's own rate limiter stays on
    /// (it honours 429 `retry_after` and the per-route buckets); its
    /// `proxy` setting would switch it off, so a double is reached through
    /// `connect_to` instead, with TLS intact.
    fn http_client(&self) -> Result<reqwest012::Client, DiscordError> {
        http_client(&self.settings)
    }

    fn intents(&self) -> GatewayIntents {
        let mut i = GatewayIntents::GUILDS
            | GatewayIntents::GUILD_MESSAGES
            | GatewayIntents::DIRECT_MESSAGES;
        if self.settings.message_content {
            i |= GatewayIntents::MESSAGE_CONTENT;
        }
        i
    }

    /// Connects, then serves until `shutdown` turns true or the gateway
    /// stops for good (bad token, disallowed intents); in-flight messages
    /// are finished before it returns.
    pub async fn run(
        self: Arc<Self>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), DiscordError> {
        let http = HttpBuilder::new(&self.token)
            .client(self.http_client()?)
            .build();
        // Who am I: checks the token before the gateway is tried, and gives
        // the id mentions are matched against.
        let me = loop {
            let r = tokio::select! {
                r = self.paced(http.get_current_user()) => r,
                _ = shutdown.wait_for(|s| *s) => return Ok(()),
            };
            match r {
                Ok(me) => break me,
                Err(e) => {
                    let (kind, status, _) = kind_of(&e);
                    if status == 401 {
                        return Err(DiscordError::Unauthorized);
                    }
                    self.observer.error(Platform::Discord, kind);
                    tracing::warn!(kind, status, "cannot reach Discord; retrying in 5 s");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                        _ = shutdown.wait_for(|s| *s) => return Ok(()),
                    }
                }
            }
        };
        let _ = self.ctx.set(Ctx {
            bot_id: me.id.get(),
            adviser_role: self.settings.adviser_role,
        });
        let mut client: Client = ClientBuilder::new_with_http(http, self.intents())
            .event_handler(Handler(self.clone()))
            .await
            .map_err(|e| DiscordError::Gateway(kind_of(&e).0.to_string()))?;
        let http = client.http.clone();
        let _ = self.http.set(http.clone());
        let released = self
            .assistant
            .store()
            .release_leases(&[Platform::Discord], self.advisers_for())
            .map_err(CoreError::from)?;
        if released > 0 {
            tracing::info!(
                released,
                "unconfirmed deliveries from the last run will be sent"
            );
        }
        tracing::info!(
            adviser_channel = self.settings.adviser_channel != 0,
            message_content = self.settings.message_content,
            "Discord front-end starting"
        );
        let dispatch = tokio::spawn(pump::dispatch(self.clone(), shutdown.clone()));
        let outbox = tokio::spawn(pump::outbox(self.clone(), shutdown.clone()));
        // One gateway connection per bot: on a shared state the instances
        // take turns holding it (the others handle and send meanwhile).
        let lease = if self.assistant.store().shared() {
            match self.gateway_lease(&mut shutdown).await {
                Some(l) => Some(l),
                None => {
                    let _ = dispatch.await;
                    let _ = outbox.await;
                    tracing::info!("Discord front-end stopped (it was standing by)");
                    return Ok(());
                }
            }
        } else {
            None
        };
        let manager = client.shard_manager.clone();
        let mut stop = shutdown.clone();
        let gateway = tokio::spawn(async move { client.start().await });
        // Resolves only when the lease went to another instance; never
        // without a lease (one instance on SQLite).
        let lost = {
            let rx = lease.as_ref().map(|l| l.lost.clone());
            async move {
                if let Some(mut rx) = rx {
                    if rx.wait_for(|l| *l).await.is_ok() {
                        return;
                    }
                }
                std::future::pending::<()>().await
            }
        };
        let ended = tokio::select! {
            r = gateway => Some(match r {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(gateway_error(&e)),
                Err(_) => Err(DiscordError::Gateway("the gateway task failed".into())),
            }),
            _ = stop.wait_for(|s| *s) => None,
            // Another instance holds the gateway now (this one could not
            // renew its lease in time): stop, so there is one connection;
            // the supervisor's restart makes this instance a stand-by.
            _ = lost => Some(Err(DiscordError::Gateway(
                "the gateway lease went to another instance".into(),
            ))),
        };
        let result = match ended {
            Some(r) => {
                if r.is_err() {
                    manager.shutdown_all().await;
                }
                r
            }
            None => {
                manager.shutdown_all().await;
                Ok(())
            }
        };
        // Given back at once, so a stand-by takes over without waiting
        // for the lease to expire.
        drop(lease);
        self.connected.store(false, Ordering::Relaxed);
        if let Err(e) = &result {
            // Logged by the caller; the loops stop with the process.
            tracing::debug!(error = %e, "Discord gateway ended");
            return result;
        }
        let _ = dispatch.await;
        let _ = outbox.await;
        tracing::info!("Discord front-end stopped");
        result
    }

    /// Waits until this instance holds the gateway lease (`None`: shut
    /// down first), standing by meanwhile, and keeps it renewed.
    async fn gateway_lease(&self, shutdown: &mut watch::Receiver<bool>) -> Option<GatewayLease> {
        let store = self.assistant.store().clone();
        let owner = self.pump.owner().to_string();
        let ttl = Duration::from_secs(self.settings.gateway_lease_secs.max(3));
        let mut said = false;
        loop {
            let now = self.assistant.now();
            match pump::blocking(|| store.lease_take(GATEWAY_LEASE, &owner, now, ttl)) {
                Ok(true) => break,
                Ok(false) => {
                    if !said {
                        tracing::info!(
                            "another instance holds the Discord gateway; standing by to take over"
                        );
                        said = true;
                    }
                    self.standby.store(true, Ordering::Relaxed);
                }
                Err(e) => tracing::warn!(error = %e, "cannot take the Discord gateway lease"),
            }
            tokio::select! {
                _ = tokio::time::sleep(ttl / 3) => {}
                _ = shutdown.wait_for(|s| *s) => {
                    self.standby.store(false, Ordering::Relaxed);
                    return None;
                }
            }
        }
        self.standby.store(false, Ordering::Relaxed);
        if said {
            tracing::warn!("took over the Discord gateway from an instance that is gone");
        }
        let (tx, lost) = watch::channel(false);
        let renew = {
            let (store, owner, a) = (store.clone(), owner.clone(), self.assistant.clone());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(ttl / 3).await;
                    let now = a.now();
                    match pump::blocking(|| store.lease_take(GATEWAY_LEASE, &owner, now, ttl)) {
                        Ok(true) => {}
                        Ok(false) => {
                            tracing::error!("the Discord gateway lease went to another instance");
                            let _ = tx.send(true);
                            return;
                        }
                        // Kept trying: the lease lasts three periods.
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot renew the Discord gateway lease")
                        }
                    }
                }
            })
        };
        Some(GatewayLease {
            store,
            owner,
            renew,
            lost,
        })
    }

    /// Reads what was sent while no session was connected: the DMs of
    /// users in a conversation and the threads of open tickets, from the
    /// last event seen (less a margin) on. Each message is stored like a
    /// gateway event, under the same key, so what was received already is
    /// not answered again. Tried three times; until it succeeds the seen
    /// cursor stays where it was, so the next start reads again.
    async fn catch_up(self: Arc<Self>) {
        let started_ms = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0);
        for attempt in 1..=3u32 {
            match self.catch_up_once().await {
                Ok((chats, found)) => {
                    if chats > 0 {
                        tracing::info!(
                            chats,
                            found,
                            "caught up on messages sent while disconnected"
                        );
                    }
                    let write = || {
                        self.assistant
                            .store()
                            .set_cursor(SEEN_CURSOR, &snowflake_at(started_ms).to_string())
                    };
                    if let Err(e) = pump::blocking(write) {
                        tracing::warn!(error = %e, "cannot record the catch-up");
                    }
                    self.seen_written.store(started_ms, Ordering::Relaxed);
                    self.catching_up.store(false, Ordering::Relaxed);
                    return;
                }
                Err(failed) => {
                    tracing::warn!(
                        attempt,
                        failed,
                        "catching up after a new Discord session failed for some chats; trying again"
                    );
                    tokio::time::sleep(Duration::from_secs(10 * u64::from(attempt))).await;
                }
            }
        }
        tracing::error!(
            "catching up after a new Discord session failed; the next start tries again"
        );
    }

    /// One pass: (chats read, messages stored), or how many chats failed.
    async fn catch_up_once(&self) -> Result<(usize, usize), usize> {
        let (Some(http), Some(ctx)) = (self.http(), self.ctx.get()) else {
            return Err(1);
        };
        let store = self.assistant.store();
        let from = match pump::blocking(|| store.cursor(SEEN_CURSOR)) {
            Ok(Some(v)) => v.parse::<u64>().ok(),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the Discord seen cursor");
                return Err(1);
            }
        };
        // The first start has nothing it could have missed.
        let (Some(from), days @ 1..) = (from, self.settings.catch_up_days) else {
            return Ok((0, 0));
        };
        let after = snowflake_at(snowflake_ms(from).saturating_sub(CATCH_UP_MARGIN_MS));
        let days = i64::try_from(days)
            .unwrap_or(i64::MAX / 86_400_000)
            .min(36_500);
        let since = self.assistant.now() - chrono::Duration::days(days);
        let users = pump::blocking(|| store.users_in_conversation(Platform::Discord, since));
        let threads = pump::blocking(|| store.open_threads(Platform::Discord));
        let (Ok(users), Ok(threads)) = (users, threads) else {
            return Err(1);
        };
        let mut failed = 0;
        let mut chats: Vec<(u64, bool)> = Vec::new();
        for u in users.iter().filter_map(|u| u.parse::<u64>().ok()) {
            match self.dm_channel(http, u).await {
                Ok(ch) => chats.push((ch, false)),
                Err(SendFailure::Permanent(_)) => {}
                Err(SendFailure::Transient(..)) => failed += 1,
            }
        }
        let guild = if threads.is_empty() {
            None
        } else {
            self.adviser_guild(http).await
        };
        match guild {
            Some(_) => chats.extend(
                threads
                    .iter()
                    .filter_map(|t| t.parse::<u64>().ok())
                    .map(|t| (t, true)),
            ),
            None if !threads.is_empty() => failed += 1,
            None => {}
        }
        let mut found = 0;
        let mut members: HashMap<u64, Option<event::Member>> = HashMap::new();
        for &(ch, thread) in &chats {
            let g = if thread { guild } else { None };
            match self
                .catch_up_chat(http, ctx, ch, g, after, &mut members)
                .await
            {
                Ok(n) => found += n,
                Err(()) => failed += 1,
            }
        }
        if failed > 0 {
            return Err(failed);
        }
        Ok((chats.len(), found))
    }

    /// The server the adviser channel is in.
    async fn adviser_guild(&self, http: &Http) -> Option<u64> {
        if self.settings.guild != 0 {
            return Some(self.settings.guild);
        }
        let ch = ChannelId::new(self.settings.adviser_channel.max(1));
        match self.paced(http.get_channel(ch)).await {
            Ok(c) => c.guild().map(|g| g.guild_id.get()),
            Err(e) => {
                let (kind, status, code) = kind_of(&e);
                tracing::warn!(kind, status, code, "cannot look up the adviser channel");
                None
            }
        }
    }

    /// Stores the messages of one chat made after `after`. `guild`: the
    /// chat is a ticket thread in that server. Returns how many were new.
    async fn catch_up_chat(
        &self,
        http: &Http,
        ctx: &Ctx,
        channel: u64,
        guild: Option<u64>,
        mut after: u64,
        members: &mut HashMap<u64, Option<event::Member>>,
    ) -> Result<usize, ()> {
        let mut stored = 0;
        for _ in 0..CATCH_UP_PAGES {
            let mut page = match self.history_after(http, channel, after).await {
                Ok(p) => p,
                Err(e) => {
                    let (kind, status, code) = kind_of(&e);
                    // Gone, or no longer ours to read: nothing to catch up.
                    if status == 403 || status == 404 {
                        tracing::debug!(kind, status, code, "a chat cannot be read back");
                        return Ok(stored);
                    }
                    tracing::warn!(kind, status, code, "cannot read back a chat");
                    return Err(());
                }
            };
            page.sort_by_key(|m| m.id);
            for m in &page {
                if m.author.bot {
                    continue;
                }
                let ev = match guild {
                    None => event::from_history(m, ctx, false, false, None),
                    Some(g) => {
                        let who = m.author.id.get();
                        if let std::collections::hash_map::Entry::Vacant(e) = members.entry(who) {
                            e.insert(self.member(http, g, who).await?);
                        }
                        let member = members.get(&who).and_then(Option::as_ref);
                        event::from_history(m, ctx, true, true, member)
                    }
                };
                // Without MESSAGE_CONTENT a thread message that does not
                // mention the bot reads empty: live, the adviser is told
                // how to answer; read back later, it is chatter.
                let Some(ev) = ev.filter(|e| {
                    !matches!(
                        e,
                        DcEvent::Adviser {
                            act: AdviserAct::Unreadable,
                            ..
                        }
                    )
                }) else {
                    continue;
                };
                let key = format!("m:{}", m.id.get());
                match pump::blocking(|| self.store_event(&key, &ev)) {
                    Ok(true) => stored += 1,
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot store a message read back");
                        return Err(());
                    }
                }
            }
            if page.len() < 100 {
                break;
            }
            after = page.last().map_or(after, |m| m.id.get());
        }
        Ok(stored)
    }

    /// A server member's roles and nickname (`None`: no longer a member).
    async fn member(
        &self,
        http: &Http,
        guild: u64,
        user: u64,
    ) -> Result<Option<event::Member>, ()> {
        match self
            .paced(http.get_member(GuildId::new(guild.max(1)), UserId::new(user.max(1))))
            .await
        {
            Ok(m) => Ok(Some(event::Member {
                roles: m.roles.iter().map(|r| r.get()).collect(),
                nick: m.nick.clone(),
            })),
            Err(e) => {
                let (kind, status, code) = kind_of(&e);
                if status == 404 {
                    return Ok(None);
                }
                tracing::warn!(kind, status, code, "cannot look up a member");
                Err(())
            }
        }
    }

    /// Global commands, so DMs have them too (a server's own commands
    /// exist only in that server). Guild commands an older Kraft put in
    /// `discord.guild` are cleared, or the server would list each twice.
    async fn setup_commands(&self, http: &Http) {
        let cmds = application_commands();
        let r = self.paced(http.create_global_commands(&cmds)).await;
        if let Err(e) = r {
            let (kind, status, code) = kind_of(&e);
            tracing::warn!(
                kind,
                status,
                code,
                "registering slash commands failed; mentions and DMs still work"
            );
        }
        if self.settings.guild != 0 {
            let none = json!([]);
            let r = self
                .paced(http.create_guild_commands(self.settings.guild.into(), &none))
                .await;
            if let Err(e) = r {
                let (kind, status, code) = kind_of(&e);
                tracing::warn!(
                    kind,
                    status,
                    code,
                    "clearing the server's own commands failed"
                );
            }
        }
    }

    /// A gateway message: stored if it is addressed to the bot. Discord
    /// never sends it again, so a database that is locked or down is
    /// waited for (this runs in the event's own task), up to
    /// `STORE_PATIENCE`.
    async fn accept_message(&self, m: &Message) {
        let Some(ctx) = self.ctx.get() else {
            return;
        };
        let key = format!("m:{}", m.id.get());
        let stored = patiently("message", || {
            // Ticket threads live in a server; a DM needs no lookup.
            let thread = match m.guild_id {
                Some(_) => self.is_ticket_thread(m.channel_id.get())?,
                None => false,
            };
            match event::from_message(m, ctx, thread) {
                Some(ev) => self.store_event(&key, &ev).map(|_| ()),
                None => Ok(()),
            }
        })
        .await;
        match stored {
            Ok(()) => self.saw(m.id.get()),
            Err(_) => self.observer.error(Platform::Discord, "lost"),
        }
    }

    fn is_ticket_thread(&self, channel: u64) -> Result<bool, CoreError> {
        let ch = self.settings.adviser_channel;
        if ch == 0 || channel == ch {
            return Ok(false);
        }
        Ok(self
            .assistant
            .store()
            .ticket_of_thread(Platform::Discord, &ch.to_string(), &channel.to_string())?
            .is_some())
    }

    /// Stores an event for the pump; false if it was stored before (a
    /// replay, or a catch-up reading a message already received).
    fn store_event(&self, key: &str, ev: &DcEvent) -> Result<bool, CoreError> {
        let payload = serde_json::to_string(ev).unwrap_or_default();
        let chat = ev.channel().to_string();
        let new = self.assistant.store().inbox_add(
            Platform::Discord,
            &[InboxEvent {
                key,
                chat: &chat,
                payload: &payload,
            }],
            None,
            self.assistant.now(),
        )?;
        self.pump.wake.notify_one();
        Ok(new > 0)
    }

    /// An interaction: acknowledged at once (Discord allows 3 s), then
    /// stored; the answer edits the acknowledgement later.
    async fn accept_interaction(&self, i: Interaction) {
        let (Some(ctx), Some(http)) = (self.ctx.get(), self.http()) else {
            return;
        };
        let now = self.now();
        let ev = match &i {
            Interaction::Command(c) => Some(event::from_command(c, ctx, now)),
            Interaction::Component(b) => Some(event::from_component(b, ctx, now)),
            _ => None,
        };
        let Some(ev) = ev else {
            tracing::debug!("interaction ignored");
            return;
        };
        let Some(tok) = ev.token().cloned() else {
            return;
        };
        if !self
            .seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(tok.id)
        {
            tracing::info!("replayed interaction ignored");
            return;
        }
        // Advisers' outcomes are for the presser only.
        let ephemeral = matches!(ev, DcEvent::Adviser { .. });
        let defer =
            json!({"type": 5, "data": {"flags": if ephemeral { format::EPHEMERAL } else { 0 }}});
        if let Err(e) = http
            .create_interaction_response(InteractionId::new(tok.id), &tok.token, &defer, vec![])
            .await
        {
            let (kind, status, code) = kind_of(&e);
            self.observer.error(Platform::Discord, kind);
            tracing::warn!(
                kind,
                status,
                code,
                "acknowledging an interaction failed; the answer goes to the channel"
            );
        }
        let key = format!("i:{}", tok.id);
        let stored = patiently("interaction", || self.store_event(&key, &ev).map(|_| ())).await;
        if stored.is_ok() {
            self.saw(tok.id);
        } else {
            self.observer.error(Platform::Discord, "lost");
            // The user's language is not known yet (nothing was stored):
            // say it in both.
            let text = "Något gick fel hos mig, försök igen om en stund. / \
                        Something went wrong on my side, please try again shortly.";
            let _ = http
                .edit_original_interaction_response(
                    &tok.token,
                    &format::message(text, &[], &[], &[]),
                    vec![],
                )
                .await;
        }
    }

    async fn handle_row(&self, row: &InboxRow) -> Result<(), DiscordError> {
        let Ok(ev) = serde_json::from_str::<DcEvent>(&row.payload) else {
            tracing::warn!("unreadable stored event dropped");
            self.observer.error(Platform::Discord, "malformed_event");
            self.assistant.commit(row.id, &[], None, self.lease())?;
            return Ok(());
        };
        match ev {
            DcEvent::Sme {
                who,
                channel,
                guild,
                input,
                via,
            } => self.sme(row, who, channel, guild, input, via).await,
            DcEvent::Adviser {
                who,
                channel,
                act,
                token,
                key,
            } => {
                let answer = self.adviser(&who, channel, act, &key).await;
                if let (Some(t), Some(text)) = (token, answer) {
                    self.private_answer(&t, &text).await;
                }
                self.assistant.commit(row.id, &[], None, self.lease())?;
                self.pump.outbox_wake.notify_one();
                Ok(())
            }
        }
    }

    async fn sme(
        &self,
        row: &InboxRow,
        who: Who,
        channel: u64,
        guild: bool,
        input: kraft_core::Input,
        via: Via,
    ) -> Result<(), DiscordError> {
        let Some(http) = self.http() else {
            return Ok(());
        };
        // In a server, an adviser conversation goes to the user's DM (the
        // outbox opens it), never into the channel or its public thread.
        let user_in = |chat: u64| {
            let u = UserRef::new(Platform::Discord, who.id.to_string(), chat.to_string())
                .with_locale(who.locale.as_deref());
            if guild {
                u.in_public(Privately::At(format!("dm:{}", who.id)))
            } else {
                u
            }
        };
        // A mention where the bot does not answer is not ours at all.
        let place = match &via {
            Via::Mention { .. } => match self.place(http, channel).await {
                Place::Refused => {
                    tracing::debug!("mention outside the configured channels ignored");
                    self.assistant.commit(row.id, &[], None, self.lease())?;
                    return Ok(());
                }
                Place::Unknown => return Err(DiscordError::Unavailable("channel_lookup")),
                p => Some(p),
            },
            _ => None,
        };
        let mut chat = channel;
        let mut meta = Meta::default();
        if let Via::Interaction(t) = &via {
            meta.i = Some(t.clone());
        }
        // The flood limit before anything is made for the message (a
        // thread per message would otherwise be a flooder's to make): a
        // refusal is answered where the message was.
        if let Some(refused) = self.assistant.flood_check(&user_in(channel))? {
            if let Via::Mention { message } = &via {
                meta.reply_to = Some(*message);
            }
            if guild && meta.i.is_none() {
                meta.mention = Some(who.id);
            }
            let meta = serde_json::to_string(&meta).ok();
            if let Some(replies) =
                self.assistant
                    .commit(row.id, &refused, meta.as_deref(), self.lease())?
            {
                pump::deliver_now(self, replies, refused).await;
            }
            return Ok(());
        }
        match &via {
            Via::Interaction(t) => {
                // A question (or /human) in a server channel moves to a new
                // thread, so the channel stays readable. (A request for an
                // adviser beyond the daily limit is refused in place.)
                let human = matches!(&input, kraft_core::Input::Text(q) if q.starts_with("/human"));
                let starts = matches!(&input, kraft_core::Input::Text(q) if !q.starts_with('/'))
                    || (human && !self.assistant.ticket_cap_reached(&user_in(channel))?);
                if guild && starts && matches!(self.place(http, channel).await, Place::Channel) {
                    if let Some(th) = self.thread_for(http, channel, t, &input).await {
                        chat = th;
                        meta.i = None;
                    }
                }
            }
            Via::Dm { .. } => {}
            Via::Mention { message } => match place {
                Some(Place::Thread) => {
                    meta.reply_to = Some(*message);
                    meta.mention = Some(who.id);
                }
                _ => match self.start_thread(http, channel, *message, &input).await {
                    Ok(t) => chat = t,
                    Err(SendFailure::Transient(kind, _)) => {
                        return Err(DiscordError::Unavailable(kind))
                    }
                    Err(_) => {
                        // No right to start threads here: answer in place.
                        meta.reply_to = Some(*message);
                    }
                },
            },
        }
        // In a server, the asker is mentioned: it notifies them and adds
        // them to a new thread.
        if guild && meta.i.is_none() {
            meta.mention = Some(who.id);
        }
        let typing = meta.i.is_none() && matches!(input, kraft_core::Input::Text(_));
        if typing {
            let _ = self
                .paced(http.broadcast_typing(ChannelId::new(chat)))
                .await;
        }
        let t0 = Instant::now();
        let inc = Incoming {
            user: user_in(chat),
            input,
        };
        // Admitted above: the flood limit is not counted twice.
        let streams = matches!(inc.input, kraft_core::Input::Text(ref t) if !t.starts_with('/'))
            && self.settings.draft_every_ms > 0;
        let mut draft = Draft {
            http,
            dc: self,
            channel: chat,
            token: meta
                .i
                .as_ref()
                .filter(|t| self.now() - t.at < TOKEN_TTL_SECS)
                .map(|t| t.token.clone()),
            reply_to: meta.reply_to,
            mention: meta.mention,
            message: None,
        };
        let mut actions = if streams {
            let pace = kraft_core::draft::DraftPace {
                every: Duration::from_millis(self.settings.draft_every_ms),
                // Room for the mention in front.
                max_chars: format::MAX_MESSAGE - 32,
                max_shows: 20,
            };
            kraft_core::draft::handle_drafted(&self.assistant, &inc, true, pace, &mut draft)
                .await?
                .0
        } else {
            self.assistant.handle_admitted(&inc, None).await?
        };
        // /forget: the ticket threads go too; the reply says how it went.
        pump::redact(self, &mut actions).await;
        self.observer
            .handled(Platform::Discord, &actions, t0.elapsed());
        // The answer replaces its draft (an interaction's draft is its
        // response, which the answer edits anyway); other replies are new.
        let first = draft.message.and_then(|m| {
            serde_json::to_string(&Meta {
                draft: Some(m),
                ..meta.clone()
            })
            .ok()
        });
        let meta = serde_json::to_string(&meta).ok();
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
        Ok(())
    }

    /// Is a mention in `channel` ours to answer, and is it a thread?
    async fn place(&self, http: &Http, channel: u64) -> Place {
        let allowed =
            |c: u64| self.settings.channels.is_empty() || self.settings.channels.contains(&c);
        let cached = self
            .channels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&channel)
            .copied();
        let parent = match cached {
            Some(p) => p,
            None => match self.paced(http.get_channel(ChannelId::new(channel))).await {
                Ok(c) => {
                    let parent = c.guild().and_then(|g| {
                        matches!(
                            g.kind,
                            ChannelType::PublicThread | ChannelType::PrivateThread
                        )
                        .then(|| g.parent_id.map(|p| p.get()))
                        .flatten()
                    });
                    self.channels
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(channel, parent);
                    parent
                }
                Err(e) => {
                    let (kind, status, code) = kind_of(&e);
                    tracing::warn!(kind, status, code, "cannot look up a channel");
                    return if status == 403 || status == 404 {
                        Place::Refused
                    } else {
                        Place::Unknown
                    };
                }
            },
        };
        match parent {
            Some(p) if allowed(p) => Place::Thread,
            None if allowed(channel) => Place::Channel,
            _ => Place::Refused,
        }
    }

    /// A new public thread for a slash command asked in a channel; the
    /// interaction's response points to it. `None`: no right to make
    /// threads here, so the answer stays in place.
    async fn thread_for(
        &self,
        http: &Http,
        channel: u64,
        t: &Token,
        input: &kraft_core::Input,
    ) -> Option<u64> {
        let body = json!({"name": thread_name(input), "type": 11, "auto_archive_duration": 1440});
        let th = match self
            .paced(http.create_thread(ChannelId::new(channel), &body, None))
            .await
        {
            Ok(th) => th.id.get(),
            Err(e) => {
                let (kind, status, code) = kind_of(&e);
                tracing::warn!(
                    kind,
                    status,
                    code,
                    "cannot start a thread; answering in place"
                );
                return None;
            }
        };
        // Both languages: the user's is not known before the core answers.
        let pointer = format!("💬 <#{th}> (svar i tråden / answer in the thread)");
        if let Err(e) = http
            .edit_original_interaction_response(
                &t.token,
                &format::message(&pointer, &[], &[], &[]),
                vec![],
            )
            .await
        {
            let (kind, status, code) = kind_of(&e);
            tracing::warn!(
                kind,
                status,
                code,
                "cannot point the response to its thread"
            );
        }
        Some(th)
    }

    /// A thread started from the user's message; its id is the message's,
    /// so a retry after a crash finds the same thread.
    async fn start_thread(
        &self,
        http: &Http,
        channel: u64,
        message: u64,
        input: &kraft_core::Input,
    ) -> Result<u64, SendFailure> {
        let body = json!({"name": thread_name(input), "auto_archive_duration": 1440});
        match self
            .paced(http.create_thread_from_message(
                ChannelId::new(channel),
                MessageId::new(message),
                &body,
                None,
            ))
            .await
        {
            Ok(t) => Ok(t.id.get()),
            Err(e) => {
                let (kind, status, code) = kind_of(&e);
                if code == 160004 {
                    return Ok(message); // already started (a retry)
                }
                tracing::warn!(kind, status, code, "cannot start a thread");
                Err(classify(&e))
            }
        }
    }

    /// An adviser's button or text. Returns what the adviser should see
    /// privately (interactions only).
    async fn adviser(&self, who: &Who, channel: u64, act: AdviserAct, key: &str) -> Option<String> {
        let l = self.adviser_lang();
        let desk = self.assistant.desk();
        if !who.adviser {
            self.observer.error(Platform::Discord, "not_adviser");
            tracing::warn!("ticket action refused: no adviser role");
            return Some(texts::only_adviser_role(l).to_string());
        }
        // By account: two advisers with the same name are two.
        let adviser = kraft_core::Adviser::on(Platform::Discord, who.id, &who.name);
        let ch = self.settings.adviser_channel.to_string();
        let ticket = self
            .assistant
            .store()
            .ticket_of_thread(Platform::Discord, &ch, &channel.to_string())
            .ok()
            .flatten();
        match act {
            AdviserAct::Button(id) => {
                let Some(ButtonId::Ticket { op, ticket }) = ButtonId::parse(&id) else {
                    return None;
                };
                Some(desk.act(op, ticket, adviser).unwrap_or_else(|e| e))
            }
            AdviserAct::Text(text) => {
                let Some(ticket) = ticket else {
                    return Some(texts::use_reply_in_a_ticket_thread(l).to_string());
                };
                match desk.reply(ticket, adviser, &text, Some(key)) {
                    Ok(_) => Some(texts::sent_to_user(l, ticket)),
                    Err(kraft_core::DeskError::Empty) => {
                        Some(texts::empty_nothing_sent(l).to_string())
                    }
                    Err(e) => {
                        let t = desk.error_text(&e);
                        desk.note(Some(ticket), &t);
                        Some(t)
                    }
                }
            }
            AdviserAct::Unreadable => {
                let ticket = ticket?;
                let mut noted = self
                    .unreadable_noted
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                let fresh = noted
                    .get(&ticket)
                    .is_none_or(|at| at.elapsed() > Duration::from_secs(3600));
                if fresh {
                    noted.insert(ticket, Instant::now());
                    desk.note(Some(ticket), texts::mention_me_or_reply(l));
                }
                None
            }
        }
    }

    /// The private (ephemeral) answer to an adviser's interaction.
    async fn private_answer(&self, t: &Token, text: &str) {
        let Some(http) = self.http() else {
            return;
        };
        let body = json!({"content": text, "allowed_mentions": {"parse": []}});
        if let Err(e) = http
            .edit_original_interaction_response(&t.token, &body, vec![])
            .await
        {
            let (kind, status, code) = kind_of(&e);
            tracing::warn!(kind, status, code, "cannot answer an adviser's interaction");
        }
    }

    /// Part `part` of delivery `d` to a channel, with a nonce Discord
    /// enforces: the same nonce again (a resend after a crash) returns the
    /// first message instead of posting a second. Discord keeps a nonce
    /// for minutes only, so a resend of a delivery older than that
    /// (`resend_check`) first looks for the message in the channel.
    async fn post(
        &self,
        http: &Http,
        channel: u64,
        mut body: Value,
        d: &Delivery,
        part: usize,
    ) -> Result<u64, SendFailure> {
        if let Some(since) = self.resend_check(d) {
            let content = body["content"].as_str().unwrap_or_default();
            if let Some(id) = self.already_posted(http, channel, since, content).await {
                tracing::info!("a message sent before was found in the channel; not sent again");
                return Ok(id);
            }
        }
        body["nonce"] = json!(format!("k{}.{part}", d.id));
        body["enforce_nonce"] = json!(true);
        match self
            .paced(http.send_message(ChannelId::new(channel), vec![], &body))
            .await
        {
            Ok(m) => Ok(m.id.get()),
            Err(e) => {
                let (kind, status, code) = kind_of(&e);
                tracing::warn!(kind, status, code, "sending a Discord message failed");
                Err(classify(&e))
            }
        }
    }

    /// When a send of `d` can no longer trust its nonce: it was queued
    /// longer ago than Discord keeps a nonce, so an earlier attempt (one
    /// the outbox cannot see: a crash, or a response lost after Discord
    /// posted the message) may have posted it. Then the channel is read
    /// from its queueing time. A delivery that waited that long without
    /// any attempt costs one read.
    fn resend_check(&self, d: &Delivery) -> Option<chrono::DateTime<chrono::Utc>> {
        let window = i64::try_from(self.settings.nonce_window_secs).unwrap_or(i64::MAX);
        let age = self.now() - d.created_at.timestamp();
        (age >= window).then_some(d.created_at)
    }

    /// Up to 100 messages of `channel` made after message `after` (a
    /// snowflake), newest first, as Discord lists them.
    async fn history_after(
        &self,
        http: &Http,
        channel: u64,
        after: u64,
    ) -> serenity::Result<Vec<Message>> {
        self.paced(http.get_messages(
            ChannelId::new(channel),
            Some(MessagePagination::After(MessageId::new(after.max(1)))),
            Some(100),
        ))
        .await
    }

    /// The id of a message of the bot's with exactly `content` in
    /// `channel`, made since `since` (less a minute for clock skew).
    /// `None` when there is none, or the channel cannot be read (then the
    /// message is sent: a lost answer is worse than a repeated one).
    async fn already_posted(
        &self,
        http: &Http,
        channel: u64,
        since: chrono::DateTime<chrono::Utc>,
        content: &str,
    ) -> Option<u64> {
        let bot = self.ctx.get()?.bot_id;
        let ms = u64::try_from(since.timestamp_millis()).unwrap_or(0);
        let mut after = snowflake_at(ms.saturating_sub(60_000));
        for _ in 0..CATCH_UP_PAGES {
            let page = match self.history_after(http, channel, after).await {
                Ok(p) => p,
                Err(e) => {
                    let (kind, status, code) = kind_of(&e);
                    tracing::warn!(
                        kind,
                        status,
                        code,
                        "cannot read a channel before a resend; sending"
                    );
                    return None;
                }
            };
            if let Some(m) = page
                .iter()
                .find(|m| m.author.id.get() == bot && m.content == content)
            {
                return Some(m.id.get());
            }
            if page.len() < 100 {
                return None;
            }
            after = page.iter().map(|m| m.id.get()).max().unwrap_or(after);
        }
        None
    }

    /// The DM channel with `user`, opened (`POST /users/@me/channels`)
    /// the first time; Discord returns the same channel every time.
    async fn dm_channel(&self, http: &Http, user: u64) -> Result<u64, SendFailure> {
        if let Some(c) = self
            .dms
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&user)
        {
            return Ok(*c);
        }
        let body = json!({"recipient_id": user.to_string()});
        match self.paced(http.create_private_channel(&body)).await {
            Ok(c) => {
                let id = c.id.get();
                self.dms
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(user, id);
                Ok(id)
            }
            Err(e) => {
                let (kind, status, code) = kind_of(&e);
                tracing::warn!(kind, status, code, "cannot open a DM channel");
                Err(classify(&e))
            }
        }
    }

    fn part_sent(&self, d: &Delivery, i: usize, n: usize) {
        if n > 1 && i + 1 < n {
            if let Err(e) = self.assistant.store().set_parts_sent(d.id, i as i64 + 1) {
                tracing::error!(error = %e, "cannot record a sent part");
            }
        }
    }

    /// The buttons under a ticket's note follow its state (see the
    /// Telegram front-end); edited only when that changed.
    async fn refresh_note(&self, http: &Http, t: i64) {
        let desk = self.assistant.desk();
        let Some((chat, msg, buttons)) = pump::blocking(|| desk.note_update(t, Platform::Discord))
        else {
            return;
        };
        let (Ok(chat), Ok(msg)) = (chat.parse::<u64>(), msg.parse::<u64>()) else {
            return;
        };
        let body = json!({ "components": format::components(&buttons) });
        match self
            .paced(http.edit_message(ChannelId::new(chat), MessageId::new(msg), &body, vec![]))
            .await
        {
            Ok(_) => pump::blocking(|| desk.note_shown(t, Platform::Discord, &buttons)),
            Err(e) => {
                let (kind, status, code) = kind_of(&e);
                tracing::warn!(
                    kind,
                    status,
                    code,
                    ticket = t,
                    "cannot update the note's buttons"
                );
            }
        }
    }
}

enum Place {
    Channel,
    Thread,
    Refused,
    Unknown,
}

fn gateway_error(e: &serenity::Error) -> DiscordError {
    use serenity::gateway::GatewayError as G;
    match e {
        serenity::Error::Gateway(G::InvalidAuthentication) => DiscordError::Unauthorized,
        serenity::Error::Gateway(G::DisallowedGatewayIntents | G::InvalidGatewayIntents) => {
            DiscordError::DisallowedIntents
        }
        serenity::Error::Gateway(g) => DiscordError::Gateway(g.to_string()),
        other => DiscordError::Gateway(kind_of(other).0.to_string()),
    }
}

/// The snowflake in an inbox key (`m:<id>`, `i:<id>`): Discord's ids grow
/// with time, so they order one chat's events as they were sent.
fn snowflake_of(key: &str) -> u64 {
    key.split_once(':')
        .and_then(|(_, id)| id.parse().ok())
        .unwrap_or(u64::MAX)
}

#[async_trait]
impl Frontend for Discord {
    type Error = DiscordError;

    fn pump(&self) -> &Pump {
        &self.pump
    }

    /// Its advisers' room hosts these platforms' tickets once it has a
    /// room at all.
    fn advisers_for(&self) -> &[Platform] {
        if self.settings.adviser_channel != 0 {
            &self.settings.advisers_for
        } else {
            &[]
        }
    }

    async fn process(&self, row: &InboxRow) -> Result<(), DiscordError> {
        self.handle_row(row).await
    }

    async fn send_to_user(&self, d: &Delivery, chat: &str) -> Result<(), SendFailure> {
        let Some(http) = self.http() else {
            return Err(SendFailure::Transient("not_connected", None));
        };
        let chat: u64 = match chat.strip_prefix("dm:") {
            Some(user) => {
                let user = user
                    .parse()
                    .map_err(|_| SendFailure::Permanent("bad_chat_id"))?;
                self.dm_channel(http, user).await?
            }
            None => chat
                .parse()
                .map_err(|_| SendFailure::Permanent("bad_chat_id"))?,
        };
        let meta: Meta = d
            .meta
            .as_deref()
            .and_then(|m| serde_json::from_str(m).ok())
            .unwrap_or_default();
        let mut text = format::to_discord(&d.text);
        let users: Vec<u64> = meta.mention.into_iter().collect();
        if let Some(u) = meta.mention {
            text = format!("<@{u}> {text}");
        }
        let parts = format::split(&text);
        let n = parts.len();
        let mut token = meta
            .i
            .as_ref()
            .filter(|t| self.now() - t.at < TOKEN_TTL_SECS);
        for (i, part) in parts.iter().enumerate().skip(d.parts_sent.max(0) as usize) {
            let last = i + 1 == n;
            let buttons: &[kraft_core::Button] = if last { &d.buttons } else { &[] };
            let mut body = format::message(part, buttons, &users, &[]);
            if let Some(t) = token {
                // The deferred response is the first part (an edit is
                // idempotent); the rest are follow-ups.
                let r = if i == 0 {
                    http.edit_original_interaction_response(&t.token, &body, vec![])
                        .await
                } else {
                    http.create_followup_message(&t.token, &body, vec![]).await
                };
                match r {
                    Ok(_) => {
                        self.part_sent(d, i, n);
                        continue;
                    }
                    Err(e) => {
                        let (kind, status, code) = kind_of(&e);
                        tracing::warn!(kind, status, code, "answering an interaction failed");
                        if !token_gone(&e) && status != 404 {
                            return Err(classify(&e));
                        }
                        // The response is gone or was never acknowledged
                        // in time: the channel still takes the answer.
                        token = None;
                    }
                }
            }
            if let (0, Some(m)) = (i, meta.draft) {
                // An edit is idempotent: a retry never shows it twice.
                match self
                    .paced(http.edit_message(
                        ChannelId::new(chat),
                        MessageId::new(m),
                        &body,
                        vec![],
                    ))
                    .await
                {
                    Ok(_) => {
                        self.part_sent(d, i, n);
                        continue;
                    }
                    Err(e) => {
                        let (kind, status, code) = kind_of(&e);
                        if status != 404 {
                            tracing::warn!(kind, status, code, "replacing a draft failed");
                            return Err(classify(&e));
                        }
                        // The draft was deleted: the answer is posted anew.
                    }
                }
            }
            if i == 0 {
                if let Some(m) = meta.reply_to {
                    body["message_reference"] =
                        json!({"message_id": m.to_string(), "fail_if_not_exists": false});
                }
            }
            self.post(http, chat, body, d, i).await?;
            self.part_sent(d, i, n);
        }
        Ok(())
    }

    async fn send_to_advisers(&self, d: &Delivery) -> Result<(), SendFailure> {
        let Some(http) = self.http() else {
            return Err(SendFailure::Transient("not_connected", None));
        };
        let ch = self.settings.adviser_channel;
        if ch == 0 {
            return Err(SendFailure::Permanent("no_adviser_channel"));
        }
        let store = self.assistant.store();
        let mut target = ch;
        let mut new_thread = false;
        if let Some(t) = d.ticket_id {
            let known = store
                .thread_of(t, Platform::Discord)
                .map_err(|_| SendFailure::Transient("store", None))?
                .and_then(|(_, th)| th.parse::<u64>().ok());
            target = match known {
                Some(th) => th,
                None => {
                    let title = pump::blocking(|| self.assistant.desk().ticket_title(t));
                    let name: String = title.chars().take(100).collect();
                    let body = json!({"name": name, "type": 12, "invitable": false, "auto_archive_duration": 10080});
                    let th = self
                        .paced(http.create_thread(ChannelId::new(ch), &body, None))
                        .await
                        .map_err(|e| {
                            let (kind, status, code) = kind_of(&e);
                            tracing::warn!(kind, status, code, "cannot create a ticket thread");
                            let unusable = match status {
                                403 => Some("no_rights"),
                                404 => Some("channel_not_found"),
                                _ => None,
                            };
                            match unusable {
                                Some(why) => {
                                    *self.adviser_error.lock().unwrap_or_else(|p| p.into_inner()) =
                                        Some(why);
                                    // Not a dead letter: the note waits (with
                                    // back-off, up to `max_delivery_attempts`)
                                    // for a person to fix the channel.
                                    SendFailure::Transient(why, None)
                                }
                                None => classify(&e),
                            }
                        })?
                        .id
                        .get();
                    *self.adviser_error.lock().unwrap_or_else(|p| p.into_inner()) = None;
                    store
                        .set_thread(t, Platform::Discord, &ch.to_string(), &th.to_string())
                        .map_err(|_| SendFailure::Transient("store", None))?;
                    new_thread = true;
                    th
                }
            };
        }
        let role = self.settings.adviser_role;
        // Mentioning the role in a new private thread adds its members, so
        // every adviser sees the ticket; later messages ping nobody.
        let (text, roles) = if new_thread && role != 0 {
            (format!("<@&{role}> {}", d.text), vec![role])
        } else {
            (d.text.clone(), vec![])
        };
        let parts = format::split(&text);
        let n = parts.len();
        for (i, part) in parts.iter().enumerate().skip(d.parts_sent.max(0) as usize) {
            let buttons: &[kraft_core::Button] = if i + 1 == n { &d.buttons } else { &[] };
            let body = format::message(part, buttons, &[], &roles);
            let id = self.post(http, target, body, d, i).await?;
            if let Some(t) = d
                .ticket_id
                .filter(|_| buttons.iter().any(|b| b.id.starts_with("claim:")))
            {
                let _ = pump::blocking(|| {
                    store.set_note(
                        t,
                        Platform::Discord,
                        &target.to_string(),
                        &id.to_string(),
                        &kraft_core::desk::shown_as(buttons),
                    )
                });
            }
            self.part_sent(d, i, n);
        }
        // A later note: the first note's buttons follow the ticket's state
        // (who has it; none once closed).
        if let Some(t) = d.ticket_id.filter(|_| target != ch) {
            self.refresh_note(http, t).await;
        }
        // The closing note of a resolved ticket: its thread is archived,
        // so the channel's thread list shows what is still open (a later
        // message in it unarchives it, as Discord does).
        if let Some(t) = d.ticket_id.filter(|_| target != ch) {
            let resolved = pump::blocking(|| store.ticket(t))
                .ok()
                .flatten()
                .is_some_and(|tk| tk.status == kraft_core::store::TicketStatus::Resolved);
            if resolved {
                let r = self
                    .paced(http.edit_thread(
                        ChannelId::new(target),
                        &json!({"archived": true}),
                        None,
                    ))
                    .await;
                if let Err(e) = r {
                    let (kind, status, code) = kind_of(&e);
                    tracing::warn!(
                        kind,
                        status,
                        code,
                        ticket = t,
                        "cannot archive the resolved ticket's thread"
                    );
                }
            }
        }
        Ok(())
    }

    fn unreachable_note(&self, l: Lang) -> &'static str {
        texts::unreachable_on_discord(l)
    }

    /// A ticket's private thread is deleted with everything in it.
    async fn redact(&self, r: &Redaction) -> Result<Redacted, CannotRedact> {
        let http = self.http().ok_or(CannotRedact::Unreachable)?;
        let thread: u64 = r
            .thread
            .as_deref()
            .and_then(|t| t.parse().ok())
            .ok_or(CannotRedact::NotRecorded)?;
        match self
            .paced(http.delete_channel(ChannelId::new(thread), None))
            .await
        {
            Ok(_) => Ok(Redacted::Thread),
            Err(e) => {
                let (kind, status, code) = kind_of(&e);
                tracing::warn!(kind, status, code, "cannot delete a ticket thread");
                Err(match status {
                    404 => return Ok(Redacted::Thread), // already gone
                    403 => CannotRedact::NoRight,
                    0 | 500.. => CannotRedact::Unreachable,
                    _ => CannotRedact::Refused,
                })
            }
        }
    }

    // Serenity hands each event to its own task, so two quick messages can
    // be stored out of order; their snowflake ids are in the order they
    // were sent.
    fn order(&self, rows: &mut [InboxRow]) {
        rows.sort_by_key(|r| snowflake_of(&r.key));
    }
}

/// A thread's name: the first line of the question (Discord allows 100
/// characters), or "Kraft".
fn thread_name(input: &kraft_core::Input) -> String {
    let name: String = match input {
        kraft_core::Input::Text(t) => t
            .trim_start_matches("/human")
            .trim()
            .lines()
            .next()
            .unwrap_or("")
            .chars()
            .take(80)
            .collect(),
        _ => String::new(),
    };
    if name.trim().is_empty() {
        "Kraft".to_string()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snowflakes_carry_discords_clock() {
        // 2026-11-29T00:00:00Z
        let ms = 1_795_910_400_000;
        let id = snowflake_at(ms);
        assert_eq!(snowflake_ms(id), ms);
        // A real id's low bits (worker, sequence) do not move its time.
        assert_eq!(snowflake_ms(id | 0x3F_FFFF), ms);
        assert!(snowflake_at(ms + 1) > id | 0x3F_FFFF);
        // Before Discord's epoch there is nothing to read back.
        assert_eq!(snowflake_at(0), 0);
    }
}
