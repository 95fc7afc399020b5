//! A Discord protocol double on 127.0.0.1 for end-to-end tests of the real
//! serenity 0.12 client. It owns three listeners:
//!
//! * the REST API (`/api/v10/...`) over plain HTTP, for serenity's
//!   `HttpBuilder::proxy(api_url)`. Serenity only honours `proxy` when its
//!   ratelimiter is disabled (`Ratelimiter::perform` builds every request
//!   with no proxy, so with the ratelimiter on, requests go to the real
//!   discord.com);
//! * the same REST API over HTTPS with a certificate for `discord.com`
//!   issued by a test-only CA ([`CA_PEM`]), so a client that resolves
//!   discord.com to [`DcDouble::tls_addr`] and trusts that CA keeps
//!   serenity's ratelimiter, and so its 429 handling, in the loop
//!   ([`DcDouble::serenity_http`] builds one);
//! * the gateway websocket (plain `ws://`, text JSON frames): HELLO,
//!   heartbeat ACKs, IDENTIFY → READY, RESUME with replay of what the
//!   client missed, RECONNECT, INVALID SESSION and close codes. As on
//!   Discord, an event made while no session exists, or kept for a RESUME
//!   that never comes (the client identifies afresh), is lost to the
//!   gateway; the message stays readable with `GET /channels/{id}/messages`.
//!
//! It records every call, answers with JSON shapes serenity 0.12.5
//! deserialises, enforces the Discord rules a bot can trip over (one
//! interaction callback, 3 s to acknowledge, interaction tokens that
//! expire after 15 minutes, one thread per message, nonce de-duplication
//! within a window of minutes, the global limit of 50 requests a second,
//! empty/too-long messages, command name and locale rules, unknown
//! channels) and injects faults (429, 5xx, 403, a response lost after the
//! request took effect) on demand.
//! It also builds gateway events (DMs, guild messages, slash commands,
//! button presses) in Discord's shapes. Nothing here talks to the internet.
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// The ids and token of [`DcConfig::default`]; the free event builders
/// ([`dm`], [`slash`], …) use them.
pub const TOKEN: &str = "MTMwMDAwMDAwMDAwMDAwMDAwMQ.kraft.double-test-token";
pub const BOT_ID: u64 = 1_300_000_000_000_000_001;
/// On Discord an application made after 2021 has its bot user's id.
pub const APP_ID: u64 = BOT_ID;
pub const GUILD_ID: u64 = 1_300_000_000_000_000_100;
pub const BOT_NAME: &str = "Kraft";

/// The test-only CA that issued the double's `discord.com` certificate.
/// Trust it in the client that talks to [`DcDouble::tls_addr`], and
/// nowhere else.
pub const CA_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBgjCCASigAwIBAgICEAAwCgYIKoZIzj0EAwIwJzElMCMGA1UEAwwcS3JhZnQg
RGlzY29yZCBkb3VibGUgdGVzdCBDQTAgFw0yMDAxMDEwMDAwMDBaGA8yMTIwMDEw
MTAwMDAwMFowJzElMCMGA1UEAwwcS3JhZnQgRGlzY29yZCBkb3VibGUgdGVzdCBD
QTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABF0jbzuSYUlVsf2Wxl+lR+cU1sVr
crEPPIc4MrZ3ZNGEaFKUMVUJGQbe03fp3IZ6amFL0XUQIlIRWotcNbDM1/OjQjBA
MA8GA1UdEwEB/wQFMAMBAf8wDgYDVR0PAQH/BAQDAgEGMB0GA1UdDgQWBBTyxtvO
IaWbr4MpnJnk6odw2+DgjzAKBggqhkjOPQQDAgNIADBFAiBMHixxWJQzEsTCa4ah
UyP9eYHpsehi1k4cavcC9BRZ8QIhAMH75rRLd8m+RErWl4J3JCpMuPhoRD7kPaeJ
sI2f7QCM
-----END CERTIFICATE-----
";

/// Leaf certificate for discord.com, gateway.discord.gg, localhost and
/// 127.0.0.1, valid 2020–2120, signed by [`CA_PEM`].
const LEAF_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIB5DCCAYmgAwIBAgICEAEwCgYIKoZIzj0EAwIwJzElMCMGA1UEAwwcS3JhZnQg
RGlzY29yZCBkb3VibGUgdGVzdCBDQTAgFw0yMDAxMDEwMDAwMDBaGA8yMTIwMDEw
MTAwMDAwMFowFjEUMBIGA1UEAwwLZGlzY29yZC5jb20wWTATBgcqhkjOPQIBBggq
hkjOPQMBBwNCAAS3/13M9mFXfPmakRb9bAumhfqOoJGLYG33BKC1U0BOGEal5Tfg
efku5Qx9UPXyEJrfcfraZjZ+yJd8/YQMzpjMo4GzMIGwMAwGA1UdEwEB/wQCMAAw
DgYDVR0PAQH/BAQDAgeAMBMGA1UdJQQMMAoGCCsGAQUFBwMBMDsGA1UdEQQ0MDKC
C2Rpc2NvcmQuY29tghJnYXRld2F5LmRpc2NvcmQuZ2eCCWxvY2FsaG9zdIcEfwAA
ATAfBgNVHSMEGDAWgBTyxtvOIaWbr4MpnJnk6odw2+DgjzAdBgNVHQ4EFgQUk7D/
H6QHD2qXOV4rZ2HS/ZklCA4wCgYIKoZIzj0EAwIDSQAwRgIhALUg1N/4VyFzB0UQ
ZHuBa1r3kDoDbhQxiprnu0LCavxGAiEAhSNkzflN9JnNPX0kUMYBdlLt9EWa+P06
1OY+aqZLP38=
-----END CERTIFICATE-----
";

/// The leaf's key. A test fixture: it protects nothing but this double.
const LEAF_KEY_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgmArzMBmguSulqQJP
nNh+CC95zHBXnN17s/f2hMlt392hRANCAAS3/13M9mFXfPmakRb9bAumhfqOoJGL
YG33BKC1U0BOGEal5Tfgefku5Qx9UPXyEJrfcfraZjZ+yJd8/YQMzpjM
-----END PRIVATE KEY-----
";

/// Discord's locales: any other key in `name_localizations` or
/// `description_localizations` is refused with 50035.
const LOCALES: &[&str] = &[
    "id", "da", "de", "en-GB", "en-US", "es-ES", "es-419", "fr", "hr", "it", "lt", "hu", "nl",
    "no", "pl", "pt-BR", "ro", "fi", "sv-SE", "vi", "tr", "cs", "el", "bg", "ru", "uk", "hi", "th",
    "zh-CN", "ja", "zh-TW", "ko",
];

#[derive(Debug, Clone)]
pub struct DcConfig {
    /// The raw bot token (without "Bot "); HTTP requests must carry
    /// `Authorization: Bot <token>`, IDENTIFY/RESUME the token with or
    /// without that prefix (serenity sends it with the prefix).
    pub token: String,
    pub bot_id: u64,
    pub app_id: u64,
    pub guild_id: u64,
    pub heartbeat_ms: u64,
    /// The first IDENTIFY is answered by closing the socket with this code
    /// (e.g. 4014, disallowed intents) instead of READY.
    pub close_after_identify: Option<u16>,
    /// Discord's window for the initial interaction callback; later
    /// callbacks get 404 "Unknown interaction". 0 = no deadline.
    pub ack_deadline_ms: u64,
    /// The privileged intents switched on in the developer portal
    /// (GUILD_MEMBERS 1<<1, GUILD_PRESENCES 1<<8, MESSAGE_CONTENT 1<<15):
    /// an IDENTIFY asking for any other privileged intent is closed with
    /// 4014, as Discord does.
    pub privileged_intents: u64,
    /// How long `enforce_nonce` de-duplicates: Discord checks a nonce for
    /// uniqueness "in the past few minutes", not forever. After this the
    /// same nonce makes a second message. 0 = forever.
    pub nonce_window_ms: u64,
    /// Discord's global limit: requests per second per bot token, across
    /// all routes except interaction callbacks and interaction webhooks;
    /// one more in the same second gets 429 with `"global": true`.
    /// 0 = no limit.
    pub global_per_sec: usize,
    /// An interaction token is valid for 15 minutes; after that its
    /// webhook routes (edit/delete the response, follow-ups) answer
    /// 404 10015 "Unknown Webhook".
    pub token_ttl_ms: u64,
}

/// The privileged gateway intents.
pub const PRIVILEGED_INTENTS: u64 = (1 << 1) | (1 << 8) | (1 << 15);
const INTENT_GUILD_MESSAGES: u64 = 1 << 9;
const INTENT_DIRECT_MESSAGES: u64 = 1 << 12;
const INTENT_MESSAGE_CONTENT: u64 = 1 << 15;

impl Default for DcConfig {
    fn default() -> Self {
        Self {
            token: TOKEN.to_string(),
            bot_id: BOT_ID,
            app_id: APP_ID,
            guild_id: GUILD_ID,
            heartbeat_ms: 1000,
            close_after_identify: None,
            ack_deadline_ms: 3000,
            privileged_intents: PRIVILEGED_INTENTS,
            nonce_window_ms: 180_000,
            global_per_sec: 50,
            token_ttl_ms: 15 * 60 * 1000,
        }
    }
}

/// A fault for the next `n` requests matching a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// 429 with the body and headers Discord sends (`retry-after`,
    /// `x-ratelimit-*`), per-route ("global": false).
    RateLimited { retry_after_ms: u64 },
    /// 429 with `x-ratelimit-global: true` ("global": true).
    GlobalRateLimited { retry_after_ms: u64 },
    /// 502 Bad Gateway.
    ServerError,
    /// 403 with this JSON error code (50001 Missing Access, 50013 Missing
    /// Permissions, …).
    Forbidden { code: u64 },
    /// 403 50007 "Cannot send messages to this user" (DMs closed).
    CannotDm,
    /// Any status, code and message.
    Status {
        status: u16,
        code: u64,
        message: String,
    },
    /// The request takes effect, then the connection breaks before the
    /// response: the client cannot know it worked (as after a crash).
    DropAfter,
}

/// One HTTP request as it arrived. `path` is relative to `/api/v10`.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub body: Value,
    /// The status the double answered with.
    pub status: u16,
}

/// How a message the bot made came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// `POST /channels/{id}/messages`.
    Channel,
    /// The interaction's original response: a type 4 callback, a type 7
    /// update or `PATCH /webhooks/{app}/{token}/messages/@original`.
    Original { interaction: u64 },
    /// `POST /webhooks/{app}/{token}`.
    Followup { interaction: u64 },
}

/// A message the bot made, in its current state (edits update it).
#[derive(Debug, Clone)]
pub struct Posted {
    pub id: u64,
    pub channel: u64,
    pub content: String,
    /// (custom_id, label) of every button, rows flattened; a link button
    /// gives its url as the first element.
    pub buttons: Vec<(String, String)>,
    pub via: Via,
    pub flags: u64,
    pub allowed_mentions: Value,
    pub nonce: Option<String>,
    /// `message_reference.message_id`.
    pub reply_to: Option<u64>,
    pub embeds: Vec<Value>,
    /// How many times it was edited after it was made.
    pub edits: usize,
    pub deleted: bool,
    /// Its fields as sent: the creating body with every edit merged in.
    pub body: Value,
    /// Every content it has shown, first to last.
    pub versions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thread {
    pub id: u64,
    pub parent: u64,
    /// 11 public, 12 private.
    pub kind: u8,
    pub name: String,
    pub invitable: bool,
    /// Started from this message (its id is the thread's id).
    pub from_message: Option<u64>,
}

/// One `PUT .../commands` (a bulk overwrite).
#[derive(Debug, Clone)]
pub struct Registered {
    /// None: global commands.
    pub guild: Option<u64>,
    /// The request body: the commands as sent.
    pub commands: Vec<Value>,
}

#[derive(Debug, Clone)]
struct Chan {
    kind: u8,
    name: String,
    guild: Option<u64>,
    parent: Option<u64>,
    recipient: Option<u64>,
    invitable: bool,
    created: String,
}

#[derive(Debug, Clone)]
struct Itx {
    id: u64,
    kind: u8,
    channel: u64,
    at: Instant,
    /// The type of the first accepted callback.
    acked: Option<u8>,
    /// The message id of the original response, once there is one.
    original: Option<u64>,
    /// For a component interaction: the message the component was on.
    message: Option<u64>,
}

enum Out {
    Frame(String),
    Close(u16, &'static str),
    Drop,
}

struct Session {
    id: String,
    seq: u64,
    /// Every dispatch of the session: (seq, t, d).
    log: Vec<(u64, String, Value)>,
    /// The highest seq handed to a socket.
    written: u64,
    /// Invalidated (op 9 false): a RESUME is refused.
    dead: bool,
}

#[derive(Default)]
struct Gw {
    session: Option<Session>,
    /// The identified or resumed connection that dispatches go to.
    live: Option<(u64, UnboundedSender<Out>)>,
    /// The newest connection, identified or not.
    latest: Option<(u64, UnboundedSender<Out>)>,
    next_conn: u64,
    connections: usize,
    identifies: usize,
    resumes: usize,
    invalid_sessions: usize,
    heartbeats: usize,
    intents: Option<u64>,
    close_after_identify: Option<u16>,
    no_heartbeat_acks: bool,
}

#[derive(Default)]
struct Inner {
    calls: Vec<Call>,
    unknown: Vec<String>,
    faults: Vec<(String, Fault, usize)>,
    rate_limited: usize,
    faults_served: usize,
    channels: HashMap<u64, Chan>,
    dm_by_user: HashMap<u64, u64>,
    users: HashMap<u64, String>,
    messages: Vec<Posted>,
    /// (channel, message) pairs that exist: users' and the bot's.
    known_messages: HashSet<(u64, u64)>,
    /// (channel, nonce) → (index in `messages`, when it was made).
    nonces: HashMap<(u64, String), (usize, Instant)>,
    deduped: usize,
    /// Messages users wrote (from MESSAGE_CREATE), as `GET
    /// /channels/{id}/messages` returns them: (channel, id, message).
    history: Vec<(u64, u64, Value)>,
    /// Guild member roles seen in events, for `GET /guilds/{g}/members/{u}`.
    roles: HashMap<u64, Vec<u64>>,
    /// The @everyone role's permissions (`GET /guilds/{g}`); None = what
    /// a bot invited with Kraft's recommended rights has.
    everyone_permissions: Option<u64>,
    /// Roles the guild has besides those members were seen with.
    guild_roles: Vec<u64>,
    /// When the last requests that count towards the global limit came.
    recent: std::collections::VecDeque<Instant>,
    global_limited: usize,
    /// Dispatches lost because no session could take them (Discord does
    /// not keep events for a bot that is not connected, and a new session
    /// starts empty).
    dropped_events: usize,
    threads: Vec<Thread>,
    /// Channels (threads) deleted with `DELETE /channels/{id}`.
    deleted_channels: Vec<u64>,
    /// Threads archived (`PATCH /channels/{id}` with `archived: true`);
    /// a new message in one unarchives it, as Discord does.
    archived: HashSet<u64>,
    thread_members: Vec<(u64, u64)>,
    typing: HashMap<u64, usize>,
    commands: Vec<Registered>,
    interactions: HashMap<u64, Itx>,
    by_token: HashMap<String, u64>,
    callbacks: Vec<(u64, u8, u64)>,
    double_acks: usize,
    late_acks: usize,
    gw: Gw,
}

#[derive(Clone)]
struct Shared {
    cfg: Arc<DcConfig>,
    gateway_url: Arc<str>,
    inner: Arc<Mutex<Inner>>,
    stop: Arc<tokio::sync::watch::Sender<bool>>,
}

impl Shared {
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g)
    }
}

pub struct DcDouble {
    cfg: Arc<DcConfig>,
    http_addr: SocketAddr,
    tls_addr: SocketAddr,
    gw_addr: SocketAddr,
    shared: Shared,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for DcDouble {
    fn drop(&mut self) {
        let _ = self.shared.stop.send(true);
        for t in &self.tasks {
            t.abort();
        }
    }
}

// ---------------------------------------------------------------- helpers

static SNOWFLAKE_SEQ: AtomicU64 = AtomicU64::new(0);

/// A fresh, unique snowflake whose timestamp part is now (serenity's
/// `created_at` on it gives a sensible time).
pub fn snowflake() -> u64 {
    let ms = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0);
    let n = SNOWFLAKE_SEQ.fetch_add(1, Ordering::Relaxed) & 0x3F_FFFF;
    (ms.saturating_sub(1_420_070_400_000) << 22) | n
}

fn now_iso() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, false)
}

fn id_of(v: &Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

fn user_json(id: u64, name: &str, bot: bool) -> Value {
    json!({
        "id": id.to_string(), "username": name, "discriminator": "0",
        "global_name": if bot { Value::Null } else { json!(name) },
        "avatar": null, "bot": bot, "public_flags": 0,
        "avatar_decoration_data": null, "banner": null, "accent_color": null
    })
}

fn member_json(user: Option<Value>, roles: &[u64]) -> Value {
    let mut m = json!({
        "roles": roles.iter().map(u64::to_string).collect::<Vec<_>>(),
        "nick": null, "avatar": null, "banner": null, "joined_at": "2025-01-01T00:00:00.000000+00:00",
        "premium_since": null, "deaf": false, "mute": false, "flags": 0, "pending": false,
        "communication_disabled_until": null, "unusual_dm_activity_until": null
    });
    if let (Some(u), Some(o)) = (user, m.as_object_mut()) {
        o.insert("user".into(), u);
        // Interactions carry the member's permissions in the channel.
        o.insert("permissions".into(), json!("2248473465835073"));
    }
    m
}

/// A Message object as Discord returns it.
fn message_json(
    id: u64,
    channel: u64,
    author: Value,
    content: &str,
    kind: u8,
    extra: &[(&str, Value)],
) -> Value {
    let mut m = json!({
        "id": id.to_string(), "channel_id": channel.to_string(), "author": author,
        "content": content, "timestamp": now_iso(), "edited_timestamp": null,
        "tts": false, "mention_everyone": false, "mentions": [], "mention_roles": [],
        "attachments": [], "embeds": [], "components": [], "pinned": false,
        "type": kind, "flags": 0
    });
    if let Some(o) = m.as_object_mut() {
        for (k, v) in extra {
            o.insert((*k).to_string(), v.clone());
        }
    }
    m
}

fn derr(status: u16, code: u64, message: &str) -> Response {
    let st = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    (st, axum::Json(json!({"message": message, "code": code}))).into_response()
}

/// 400 Invalid Form Body with Discord's nested `errors` object, `field`
/// being a dotted path ("content", "components.0.components.1.label").
fn form_error(field: &str, code: &str, message: &str) -> Response {
    let mut errors = json!({"_errors": [{"code": code, "message": message}]});
    for part in field.rsplit('.') {
        errors = json!({ part: errors });
    }
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"message": "Invalid Form Body", "code": 50035, "errors": errors})),
    )
        .into_response()
}

fn unknown_channel() -> Response {
    derr(404, 10003, "Unknown Channel")
}

/// 200 with JSON and roomy rate-limit headers: serenity parses them on
/// every answer, and a bucket that never runs dry keeps tests fast.
fn ok(v: Value) -> Response {
    let mut r = axum::Json(v).into_response();
    let h = r.headers_mut();
    h.insert("x-ratelimit-limit", "50".parse().expect("static header"));
    h.insert(
        "x-ratelimit-remaining",
        "49".parse().expect("static header"),
    );
    h.insert(
        "x-ratelimit-reset-after",
        "1.000".parse().expect("static header"),
    );
    h.insert(
        "x-ratelimit-bucket",
        "kraft-double".parse().expect("static header"),
    );
    r
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

fn rate_limited(ms: u64, global: bool) -> Response {
    let secs = ms as f64 / 1000.0;
    let reset = chrono::Utc::now().timestamp_millis() as f64 / 1000.0 + secs;
    // Discord's `retry-after` header is whole seconds; serenity parses it
    // as a float, so the exact value keeps tests fast.
    let mut b = Response::builder()
        .status(StatusCode::TOO_MANY_REQUESTS)
        .header("content-type", "application/json")
        .header("retry-after", format!("{secs:.3}"))
        .header("x-ratelimit-limit", "5")
        .header("x-ratelimit-remaining", "0")
        .header("x-ratelimit-reset", format!("{reset:.3}"))
        .header("x-ratelimit-reset-after", format!("{secs:.3}"))
        .header("x-ratelimit-bucket", "kraft-double")
        .header("x-ratelimit-scope", if global { "global" } else { "user" });
    if global {
        b = b.header("x-ratelimit-global", "true");
    }
    let body =
        json!({"message": "You are being rate limited.", "retry_after": secs, "global": global});
    b.body(axum::body::Body::from(body.to_string()))
        .unwrap_or_else(|_| StatusCode::TOO_MANY_REQUESTS.into_response())
}

/// The JSON part of a multipart/form-data body (`payload_json`), which
/// serenity sends when a message carries files.
fn multipart_payload(content_type: &str, body: &[u8]) -> Option<Value> {
    let boundary = content_type.split("boundary=").nth(1)?.trim_matches('"');
    let text = String::from_utf8_lossy(body);
    for part in text.split(&format!("--{boundary}")) {
        let Some((head, value)) = part.split_once("\r\n\r\n") else {
            continue;
        };
        if head.contains("name=\"payload_json\"") {
            let v = value.strip_suffix("\r\n").unwrap_or(value);
            return serde_json::from_str(v).ok();
        }
    }
    Some(json!({}))
}

/// `METHOD /a/*/b` (method optional). `*` is one segment, except at the
/// end, where it is a prefix match: "PATCH /webhooks/*" covers every
/// webhook route, while "POST /channels/*/messages" is that route only
/// (not `.../messages/{id}/threads`). A final `**` also matches nothing
/// more; "*" alone matches everything.
fn pattern_matches(pattern: &str, method: &str, segs: &[&str]) -> bool {
    let pattern = pattern.trim();
    if pattern == "*" {
        return true;
    }
    let (pm, pp) = match pattern.split_once(' ') {
        Some((m, p)) => (Some(m), p.trim()),
        None if pattern.starts_with('/') => (None, pattern),
        None => (Some(pattern), "/**"),
    };
    if let Some(m) = pm {
        if m != "*" && !m.eq_ignore_ascii_case(method) {
            return false;
        }
    }
    let pp = pp.strip_prefix("/api/v10").unwrap_or(pp);
    let ps: Vec<&str> = pp
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    for (i, p) in ps.iter().enumerate() {
        let last = i + 1 == ps.len();
        if last && *p == "**" {
            return true;
        }
        if last && *p == "*" {
            return segs.len() > i;
        }
        match segs.get(i) {
            Some(s) if *p == "*" || p == s => {}
            _ => return false,
        }
    }
    ps.len() == segs.len()
}

/// (custom_id or url, label) of every button in `components`.
fn buttons_of(components: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for row in components.as_array().into_iter().flatten() {
        for c in row["components"].as_array().into_iter().flatten() {
            if c["type"].as_u64() == Some(2) {
                let id = c["custom_id"]
                    .as_str()
                    .or_else(|| c["url"].as_str())
                    .unwrap_or_default();
                let label = c["label"].as_str().unwrap_or_default();
                out.push((id.to_string(), label.to_string()));
            }
        }
    }
    out
}

/// Discord's checks on a message body (create, edit, callback data):
/// `partial` is an edit, where absent fields keep their value.
fn check_message(body: &Value, partial: bool) -> Result<(), Box<Response>> {
    if let Some(c) = body["content"].as_str() {
        if c.chars().count() > 2000 {
            return Err(Box::new(form_error(
                "content",
                "BASE_TYPE_MAX_LENGTH",
                "Must be 2000 or fewer in length.",
            )));
        }
    }
    if let Some(rows) = body["components"].as_array() {
        if rows.len() > 5 {
            return Err(Box::new(form_error(
                "components",
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 0 and 5 in length.",
            )));
        }
        for (r, row) in rows.iter().enumerate() {
            let items = row["components"].as_array().map(Vec::len).unwrap_or(0);
            if row["type"].as_u64() != Some(1) || items == 0 || items > 5 {
                return Err(Box::new(form_error(
                    &format!("components.{r}.components"),
                    "BASE_TYPE_BAD_LENGTH",
                    "Must be between 1 and 5 in length.",
                )));
            }
            for (i, c) in row["components"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
            {
                let label = c["label"].as_str().unwrap_or_default().chars().count();
                let id = c["custom_id"].as_str().unwrap_or_default().chars().count();
                if label > 80 {
                    return Err(Box::new(form_error(
                        &format!("components.{r}.components.{i}.label"),
                        "BASE_TYPE_MAX_LENGTH",
                        "Must be 80 or fewer in length.",
                    )));
                }
                if id > 100 {
                    return Err(Box::new(form_error(
                        &format!("components.{r}.components.{i}.custom_id"),
                        "BASE_TYPE_MAX_LENGTH",
                        "Must be 100 or fewer in length.",
                    )));
                }
            }
        }
    }
    if !partial {
        let has = |k: &str| match &body[k] {
            Value::String(s) => !s.is_empty(),
            Value::Array(a) => !a.is_empty(),
            Value::Null => false,
            _ => true,
        };
        if ![
            "content",
            "embeds",
            "components",
            "sticker_ids",
            "attachments",
            "poll",
        ]
        .iter()
        .any(|k| has(k))
        {
            return Err(Box::new(derr(400, 50006, "Cannot send an empty message")));
        }
    }
    Ok(())
}

/// Discord's rules for application command names and descriptions.
fn check_commands(cmds: &[Value]) -> Result<(), Box<Response>> {
    fn name_ok(n: &str) -> bool {
        let len = n.chars().count();
        (1..=32).contains(&len)
            && !n.chars().any(|c| c.is_uppercase() || c.is_whitespace())
            && n.chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '_' || c == '\'')
    }
    fn desc_ok(d: &str) -> bool {
        (1..=100).contains(&d.chars().count())
    }
    fn locales_ok(v: &Value, ok: fn(&str) -> bool) -> Result<(), String> {
        for (k, s) in v.as_object().into_iter().flatten() {
            if !LOCALES.contains(&k.as_str()) {
                return Err(format!("{k}: invalid locale"));
            }
            if !s.as_str().is_some_and(ok) {
                return Err(format!("{k}: invalid value"));
            }
        }
        Ok(())
    }
    fn check_one(c: &Value, path: &str) -> Result<(), Box<Response>> {
        // Only CHAT_INPUT commands (type 1, the default) and their
        // options follow the lowercase/description rules.
        let chat = c["type"].as_u64().unwrap_or(1) == 1;
        let name = c["name"].as_str().unwrap_or_default();
        if chat && !name_ok(name) || name.is_empty() {
            return Err(Box::new(form_error(
                &format!("{path}name"),
                "APPLICATION_COMMAND_INVALID_NAME",
                "Command name is invalid",
            )));
        }
        if chat && !desc_ok(c["description"].as_str().unwrap_or_default()) {
            return Err(Box::new(form_error(
                &format!("{path}description"),
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 100 in length.",
            )));
        }
        if let Err(e) = locales_ok(&c["name_localizations"], name_ok) {
            return Err(Box::new(form_error(
                &format!("{path}name_localizations"),
                "LOCALE_INVALID",
                &e,
            )));
        }
        if let Err(e) = locales_ok(&c["description_localizations"], desc_ok) {
            return Err(Box::new(form_error(
                &format!("{path}description_localizations"),
                "LOCALE_INVALID",
                &e,
            )));
        }
        for (i, o) in c["options"].as_array().into_iter().flatten().enumerate() {
            check_one(o, &format!("{path}options.{i}."))?;
        }
        Ok(())
    }
    let mut names = HashSet::new();
    for (i, c) in cmds.iter().enumerate() {
        check_one(c, &format!("{i}."))?;
        let key = (
            c["type"].as_u64().unwrap_or(1),
            c["name"].as_str().unwrap_or_default().to_string(),
        );
        if !names.insert(key) {
            return Err(Box::new(form_error(
                &format!("{i}.name"),
                "APPLICATION_COMMANDS_DUPLICATE_NAME",
                "Application command names must be unique",
            )));
        }
    }
    Ok(())
}

// ------------------------------------------------------------ the state

/// The rights Kraft's README asks for in the adviser channel: view, send,
/// read history, embed links, manage threads, create private threads,
/// send in threads.
pub const RECOMMENDED_PERMISSIONS: u64 =
    (1 << 10) | (1 << 11) | (1 << 16) | (1 << 14) | (1 << 34) | (1 << 36) | (1 << 38);

fn role_json(id: u64, name: &str, permissions: u64, position: u16) -> Value {
    json!({"id": id.to_string(), "name": name, "color": 0,
           "colors": {"primary_color": 0, "secondary_color": null, "tertiary_color": null},
           "hoist": false, "icon": null, "unicode_emoji": null, "position": position,
           "permissions": permissions.to_string(), "managed": false, "mentionable": false,
           "flags": 0})
}

impl Inner {
    /// `GET /guilds/{id}`: the guild with @everyone and every role a
    /// member was seen with (those grant nothing of their own).
    fn guild_json(&self, cfg: &DcConfig) -> Value {
        let mut roles = vec![role_json(
            cfg.guild_id,
            "@everyone",
            self.everyone_permissions.unwrap_or(RECOMMENDED_PERMISSIONS),
            0,
        )];
        let mut seen: Vec<u64> = self.roles.values().flatten().copied().collect();
        seen.extend(&self.guild_roles);
        seen.sort_unstable();
        seen.dedup();
        for r in seen {
            roles.push(role_json(r, &format!("role{r}"), 0, 1));
        }
        json!({"id": cfg.guild_id.to_string(), "name": "Kraftsamling test", "icon": null,
               "icon_hash": null, "splash": null, "discovery_splash": null,
               "owner_id": (cfg.bot_id + 1).to_string(), "afk_channel_id": null,
               "afk_timeout": 300, "widget_enabled": false, "widget_channel_id": null,
               "verification_level": 1, "default_message_notifications": 1,
               "explicit_content_filter": 0, "roles": roles, "emojis": [], "features": [],
               "mfa_level": 0, "application_id": null, "system_channel_id": null,
               "system_channel_flags": 0, "rules_channel_id": null, "max_presences": null,
               "max_members": 500000, "vanity_url_code": null, "description": null,
               "banner": null, "premium_tier": 0, "premium_subscription_count": 0,
               "preferred_locale": "sv-SE", "public_updates_channel_id": null,
               "max_video_channel_users": 25, "max_stage_video_channel_users": 50,
               "nsfw_level": 0, "stickers": [], "premium_progress_bar_enabled": false,
               "safety_alerts_channel_id": null})
    }

    fn learn_user(&mut self, u: &Value) {
        if let (Some(id), Some(name)) = (id_of(&u["id"]), u["username"].as_str()) {
            self.users.insert(id, name.to_string());
        }
    }

    fn learn_roles(&mut self, user: &Value, member: &Value) {
        let (Some(id), Some(roles)) = (id_of(&user["id"]), member["roles"].as_array()) else {
            return;
        };
        self.roles
            .insert(id, roles.iter().filter_map(id_of).collect());
    }

    /// A channel seen in an event: a DM when there is no guild.
    fn learn_channel(&mut self, channel: u64, guild: Option<u64>, user: Option<u64>) {
        if self.channels.contains_key(&channel) {
            return;
        }
        let c = match guild {
            Some(g) => Chan {
                kind: 0,
                name: format!("channel-{channel}"),
                guild: Some(g),
                parent: None,
                recipient: None,
                invitable: false,
                created: now_iso(),
            },
            None => {
                if let Some(u) = user {
                    self.dm_by_user.entry(u).or_insert(channel);
                }
                Chan {
                    kind: 1,
                    name: String::new(),
                    guild: None,
                    parent: None,
                    recipient: user,
                    invitable: false,
                    created: now_iso(),
                }
            }
        };
        self.channels.insert(channel, c);
    }

    /// What the double learns from a dispatch it sends: channels, users,
    /// messages and interactions (so later REST calls can be checked and
    /// attributed).
    fn learn(&mut self, t: &str, d: &Value) {
        match t {
            "MESSAGE_CREATE" => {
                self.learn_user(&d["author"]);
                let (Some(ch), Some(id)) = (id_of(&d["channel_id"]), id_of(&d["id"])) else {
                    return;
                };
                self.learn_channel(ch, id_of(&d["guild_id"]), id_of(&d["author"]["id"]));
                self.learn_roles(&d["author"], &d["member"]);
                self.known_messages.insert((ch, id));
                // REST messages carry neither guild_id nor member: those
                // come with gateway events only.
                let mut rest = d.clone();
                if let Some(o) = rest.as_object_mut() {
                    o.remove("guild_id");
                    o.remove("member");
                }
                self.history.push((ch, id, rest));
            }
            "INTERACTION_CREATE" => {
                let user = if d["member"].is_object() {
                    &d["member"]["user"]
                } else {
                    &d["user"]
                };
                self.learn_user(user);
                self.learn_roles(user, &d["member"]);
                let (Some(id), Some(token), Some(ch)) = (
                    id_of(&d["id"]),
                    d["token"].as_str(),
                    id_of(&d["channel_id"]),
                ) else {
                    return;
                };
                self.learn_channel(ch, id_of(&d["guild_id"]), id_of(&user["id"]));
                let message = id_of(&d["message"]["id"]);
                if let Some(m) = message {
                    self.known_messages.insert((ch, m));
                }
                self.by_token.insert(token.to_string(), id);
                // A queued interaction passes here again when delivered;
                // its clock started when it was made.
                self.interactions.entry(id).or_insert(Itx {
                    id,
                    kind: u8::try_from(d["type"].as_u64().unwrap_or(2)).unwrap_or(2),
                    channel: ch,
                    at: Instant::now(),
                    acked: None,
                    original: None,
                    message,
                });
            }
            _ => {}
        }
    }

    /// What the session's intents let through, as Discord filters:
    /// MESSAGE_CREATE needs GUILD_MESSAGES or DIRECT_MESSAGES, and without
    /// MESSAGE_CONTENT a guild message that does not mention the bot comes
    /// with empty content, embeds, attachments and components.
    fn visible(&self, bot: u64, t: &str, mut d: Value) -> Option<Value> {
        if t != "MESSAGE_CREATE" {
            return Some(d);
        }
        let intents = self.gw.intents.unwrap_or(u64::MAX);
        let in_guild = !d["guild_id"].is_null();
        let need = if in_guild {
            INTENT_GUILD_MESSAGES
        } else {
            INTENT_DIRECT_MESSAGES
        };
        if intents & need == 0 {
            return None;
        }
        let mentioned = d["mentions"]
            .as_array()
            .is_some_and(|m| m.iter().any(|u| id_of(&u["id"]) == Some(bot)));
        let own = id_of(&d["author"]["id"]) == Some(bot);
        if in_guild && !mentioned && !own && intents & INTENT_MESSAGE_CONTENT == 0 {
            d["content"] = json!("");
            for k in ["embeds", "attachments", "components"] {
                d[k] = json!([]);
            }
        }
        Some(d)
    }

    /// Sends a dispatch to the live connection, or keeps it in the
    /// session for a RESUME to replay. With no session it is lost, as on
    /// Discord: a bot that is not connected misses events, and a new
    /// session (IDENTIFY) starts from its READY. The message itself stays
    /// readable over REST.
    fn push(&mut self, bot: u64, t: &str, d: Value) -> u64 {
        self.learn(t, &d);
        if self.gw.session.is_none() {
            self.dropped_events += 1;
            return 0;
        }
        let Some(d) = self.visible(bot, t, d) else {
            return 0;
        };
        let Some(sess) = self.gw.session.as_mut() else {
            return 0;
        };
        sess.seq += 1;
        let seq = sess.seq;
        let frame = json!({"op": 0, "t": t, "s": seq, "d": d}).to_string();
        sess.log.push((seq, t.to_string(), d));
        if let Some((_, tx)) = &self.gw.live {
            if tx.send(Out::Frame(frame)).is_ok() {
                sess.written = seq;
            }
        }
        seq
    }

    fn posted_mut(&mut self, id: u64) -> Option<&mut Posted> {
        self.messages.iter_mut().rev().find(|p| p.id == id)
    }

    /// Creates or edits (PATCH semantics) the bot's message `id`.
    fn upsert_posted(&mut self, id: u64, channel: u64, via: Via, body: &Value) -> Posted {
        if let Some(p) = self.posted_mut(id) {
            if let Some(c) = body.get("content") {
                p.content = c.as_str().unwrap_or_default().to_string();
                p.versions.push(p.content.clone());
            }
            if let Some(c) = body.get("components") {
                p.buttons = buttons_of(c);
            }
            if let Some(e) = body.get("embeds") {
                p.embeds = e.as_array().cloned().unwrap_or_default();
            }
            if let Some(f) = body.get("flags").and_then(Value::as_u64) {
                p.flags = f;
            }
            if let Some(a) = body.get("allowed_mentions") {
                p.allowed_mentions = a.clone();
            }
            p.edits += 1;
            if let (Some(m), Some(b)) = (p.body.as_object_mut(), body.as_object()) {
                for (k, v) in b {
                    m.insert(k.clone(), v.clone());
                }
            }
            return p.clone();
        }
        let p = Posted {
            id,
            channel,
            content: body["content"].as_str().unwrap_or_default().to_string(),
            buttons: buttons_of(&body["components"]),
            via,
            flags: body["flags"].as_u64().unwrap_or(0),
            allowed_mentions: body["allowed_mentions"].clone(),
            nonce: match &body["nonce"] {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            },
            reply_to: id_of(&body["message_reference"]["message_id"]),
            embeds: body["embeds"].as_array().cloned().unwrap_or_default(),
            edits: 0,
            deleted: false,
            body: body.clone(),
            versions: vec![body["content"].as_str().unwrap_or_default().to_string()],
        };
        self.known_messages.insert((channel, id));
        self.messages.push(p.clone());
        p
    }

    fn posted_json(&self, p: &Posted, cfg: &DcConfig) -> Value {
        let (kind, webhook) = match p.via {
            Via::Channel if p.reply_to.is_some() => (19, false),
            Via::Channel => (0, false),
            Via::Original { interaction } => {
                let slash = self
                    .interactions
                    .get(&interaction)
                    .is_some_and(|i| i.kind == 2);
                (if slash { 20 } else { 0 }, true)
            }
            Via::Followup { .. } => (0, true),
        };
        let embeds: Vec<Value> = p
            .embeds
            .iter()
            .map(|e| {
                let mut e = e.clone();
                if let Some(o) = e.as_object_mut() {
                    o.entry("type").or_insert(json!("rich"));
                }
                e
            })
            .collect();
        let mut extra = vec![
            ("embeds", json!(embeds)),
            ("components", p.body["components"].clone()),
            ("flags", json!(p.flags)),
        ];
        if p.body["components"].is_null() {
            extra[1].1 = json!([]);
        }
        if let Some(n) = &p.nonce {
            extra.push(("nonce", json!(n)));
        }
        if let Some(r) = p.reply_to {
            extra.push((
                "message_reference",
                json!({"type": 0, "message_id": r.to_string(), "channel_id": p.channel.to_string()}),
            ));
        }
        if webhook {
            extra.push(("webhook_id", json!(cfg.app_id.to_string())));
            extra.push(("application_id", json!(cfg.app_id.to_string())));
        }
        if p.edits > 0 {
            extra.push(("edited_timestamp", json!(now_iso())));
        }
        message_json(
            p.id,
            p.channel,
            user_json(cfg.bot_id, BOT_NAME, true),
            &p.content,
            kind,
            &extra,
        )
    }

    fn channel_json(&self, id: u64, cfg: &DcConfig) -> Option<Value> {
        let c = self.channels.get(&id)?;
        Some(match c.kind {
            1 => {
                let r = c.recipient.unwrap_or(0);
                let name = self
                    .users
                    .get(&r)
                    .cloned()
                    .unwrap_or_else(|| format!("user{r}"));
                json!({"id": id.to_string(), "type": 1, "last_message_id": null, "flags": 0,
                       "recipients": [user_json(r, &name, false)]})
            }
            11 | 12 => {
                let mut meta = json!({"archived": self.archived.contains(&id), "auto_archive_duration": 1440,
                                      "archive_timestamp": c.created, "locked": false,
                                      "create_timestamp": c.created});
                if c.kind == 12 {
                    meta["invitable"] = json!(c.invitable);
                }
                json!({"id": id.to_string(), "type": c.kind,
                       "guild_id": c.guild.unwrap_or(cfg.guild_id).to_string(),
                       "parent_id": c.parent.map(|p| p.to_string()),
                       "owner_id": cfg.bot_id.to_string(), "name": c.name,
                       "last_message_id": null, "rate_limit_per_user": 0, "flags": 0,
                       "message_count": 0, "member_count": 1, "total_message_sent": 0,
                       "thread_metadata": meta})
            }
            k => json!({"id": id.to_string(), "type": k,
                        "guild_id": c.guild.unwrap_or(cfg.guild_id).to_string(),
                        "name": c.name, "position": 0, "permission_overwrites": [],
                        "nsfw": false, "parent_id": null, "topic": null,
                        "last_message_id": null, "rate_limit_per_user": 0, "flags": 0}),
        })
    }
}

// ------------------------------------------------------------- REST API

async fn rest(
    axum::extract::State(s): axum::extract::State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let full = uri.path().to_string();
    let query = uri.query().map(str::to_string);
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let parsed: Result<Value, ()> = if body.is_empty() {
        Ok(Value::Null)
    } else if ct.starts_with("multipart/form-data") {
        multipart_payload(&ct, &body).ok_or(())
    } else {
        serde_json::from_slice(&body).map_err(|_| ())
    };
    let path = full.strip_prefix("/api/v10").map(str::to_string);
    let rel = path.clone().unwrap_or_else(|| full.clone());
    let body_v = parsed.clone().unwrap_or(Value::Null);
    let resp = match (path, parsed) {
        (None, _) => {
            s.with(|g| g.unknown.push(format!("{method} {full}")));
            derr(404, 0, "404: Not Found")
        }
        (Some(_), Err(())) => derr(400, 50109, "The request body contains invalid JSON."),
        (Some(p), Ok(b)) => {
            let segs: Vec<&str> = p.trim_matches('/').split('/').collect();
            let auth = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            // GET /gateway is the one route Discord serves without a token.
            if segs != ["gateway"] && auth != format!("Bot {}", s.cfg.token) {
                derr(401, 0, "401: Unauthorized")
            } else if let Some(r) = over_global_limit(&s, &segs) {
                r
            } else {
                match take_fault(&s, method.as_str(), &segs) {
                    Some(Ok(f)) => f,
                    Some(Err(DropAfter)) => {
                        let _ = route(&s, &method, &segs, query.as_deref(), &b);
                        crate::tg::dropped()
                    }
                    None => route(&s, &method, &segs, query.as_deref(), &b),
                }
            }
        }
    };
    let status = resp.status().as_u16();
    s.with(|g| {
        g.calls.push(Call {
            method: method.to_string(),
            path: rel,
            query,
            body: body_v,
            status,
        })
    });
    resp
}

/// Discord's global limit (`DcConfig::global_per_sec`): interaction
/// callbacks and interaction webhooks do not count.
fn over_global_limit(s: &Shared, segs: &[&str]) -> Option<Response> {
    let limit = s.cfg.global_per_sec;
    if limit == 0 || matches!(segs.first(), Some(&("interactions" | "webhooks"))) {
        return None;
    }
    s.with(|g| {
        let second = Duration::from_secs(1);
        while g.recent.front().is_some_and(|t| t.elapsed() >= second) {
            g.recent.pop_front();
        }
        if g.recent.len() >= limit {
            g.global_limited += 1;
            let wait = g
                .recent
                .front()
                .map_or(second, |t| second.saturating_sub(t.elapsed()));
            let ms = u64::try_from(wait.as_millis()).unwrap_or(1000).max(1);
            return Some(rate_limited(ms, true));
        }
        g.recent.push_back(Instant::now());
        None
    })
}

/// `Fault::DropAfter`: answer, then break the connection.
struct DropAfter;

fn take_fault(s: &Shared, method: &str, segs: &[&str]) -> Option<Result<Response, DropAfter>> {
    s.with(|g| {
        let i = g
            .faults
            .iter()
            .position(|(p, _, n)| *n > 0 && pattern_matches(p, method, segs))?;
        let f = g.faults[i].1.clone();
        g.faults[i].2 -= 1;
        if g.faults[i].2 == 0 {
            g.faults.remove(i);
        }
        g.faults_served += 1;
        Some(Ok(match f {
            Fault::RateLimited { retry_after_ms } => {
                g.rate_limited += 1;
                rate_limited(retry_after_ms, false)
            }
            Fault::GlobalRateLimited { retry_after_ms } => {
                g.rate_limited += 1;
                rate_limited(retry_after_ms, true)
            }
            Fault::ServerError => derr(502, 0, "502: Bad Gateway"),
            Fault::Forbidden { code } => {
                let msg = match code {
                    50001 => "Missing Access",
                    50013 => "Missing Permissions",
                    50007 => "Cannot send messages to this user",
                    _ => "Forbidden",
                };
                derr(403, code, msg)
            }
            Fault::CannotDm => derr(403, 50007, "Cannot send messages to this user"),
            Fault::Status {
                status,
                code,
                message,
            } => derr(status, code, &message),
            Fault::DropAfter => return Some(Err(DropAfter)),
        }))
    })
}

fn route(
    s: &Shared,
    method: &Method,
    segs: &[&str],
    query: Option<&str>,
    body: &Value,
) -> Response {
    let cfg = &*s.cfg;
    let m = method.as_str();
    let num = |i: usize| segs.get(i).and_then(|x| x.parse::<u64>().ok());
    match (m, segs) {
        ("GET", ["gateway"]) => ok(json!({"url": &*s.gateway_url})),
        ("GET", ["gateway", "bot"]) => ok(json!({
            "url": &*s.gateway_url, "shards": 1,
            "session_start_limit": {"total": 1000, "remaining": 999,
                                    "reset_after": 86_400_000u64, "max_concurrency": 1}
        })),
        ("GET", ["users", "@me"]) => {
            let mut u = user_json(cfg.bot_id, BOT_NAME, true);
            if let Some(o) = u.as_object_mut() {
                o.insert("system".into(), json!(false));
                o.insert("mfa_enabled".into(), json!(true));
                o.insert("locale".into(), json!("en-US"));
                o.insert("verified".into(), json!(true));
                o.insert("email".into(), Value::Null);
                o.insert("flags".into(), json!(0));
                o.insert("premium_type".into(), json!(0));
            }
            ok(u)
        }
        ("GET", ["oauth2", "applications", "@me"]) => ok(json!({
            "id": cfg.app_id.to_string(), "name": BOT_NAME, "icon": null,
            "description": "", "summary": "", "rpc_origins": [],
            "bot_public": false, "bot_require_code_grant": false,
            "verify_key": "0".repeat(64), "flags": 0, "team": null,
            "owner": user_json(cfg.bot_id + 1, "owner", false),
            "bot": user_json(cfg.bot_id, BOT_NAME, true),
            "redirect_uris": [], "interactions_endpoint_url": null,
            "role_connections_verification_url": null, "tags": [],
            "integration_types_config": {"0": {}}
        })),
        ("PUT", ["applications", app, "commands"]) => put_commands(s, app, None, body),
        ("PUT", ["applications", app, "guilds", guild, "commands"]) => {
            put_commands(s, app, guild.parse().ok().or(Some(0)), body)
        }
        ("GET", ["applications", app, "commands"]) => get_commands(s, app, None),
        ("GET", ["applications", app, "guilds", guild, "commands"]) => {
            get_commands(s, app, guild.parse().ok().or(Some(0)))
        }
        ("POST", ["interactions", id, token, "callback"]) => callback(s, id, token, body),
        ("PATCH", ["webhooks", app, token, "messages", which]) => {
            edit_webhook_message(s, app, token, which, body)
        }
        ("DELETE", ["webhooks", app, token, "messages", which]) => {
            delete_webhook_message(s, app, token, which)
        }
        ("POST", ["webhooks", app, token]) => followup(s, app, token, body),
        ("POST", ["channels", _, "messages"]) => match num(1) {
            Some(ch) => create_message(s, ch, body),
            None => unknown_channel(),
        },
        ("PATCH", ["channels", _, "messages", _]) => match (num(1), num(3)) {
            (Some(ch), Some(msg)) => edit_message(s, ch, msg, body),
            _ => derr(404, 10008, "Unknown Message"),
        },
        ("PATCH", ["channels", _]) => match num(1) {
            Some(ch) => s.with(|g| {
                let Some(kind) = g.channels.get(&ch).map(|c| c.kind) else {
                    return unknown_channel();
                };
                if let Some(a) = body["archived"].as_bool() {
                    if !matches!(kind, 11 | 12) {
                        return derr(400, 50024, "Cannot execute action on this channel type");
                    }
                    if a {
                        g.archived.insert(ch);
                    } else {
                        g.archived.remove(&ch);
                    }
                }
                g.channel_json(ch, cfg)
                    .map(ok)
                    .unwrap_or_else(unknown_channel)
            }),
            None => unknown_channel(),
        },
        ("DELETE", ["channels", _]) => match num(1) {
            Some(ch) => delete_channel(s, ch),
            None => unknown_channel(),
        },
        ("DELETE", ["channels", _, "messages", _]) => match (num(1), num(3)) {
            (Some(ch), Some(msg)) => delete_message(s, ch, msg),
            _ => derr(404, 10008, "Unknown Message"),
        },
        ("POST", ["channels", _, "messages", _, "threads"]) => match (num(1), num(3)) {
            (Some(ch), Some(msg)) => thread_from_message(s, ch, msg, body),
            _ => unknown_channel(),
        },
        ("POST", ["channels", _, "threads"]) => match num(1) {
            Some(ch) => thread_without_message(s, ch, body),
            None => unknown_channel(),
        },
        ("GET", ["channels", _, "messages"]) => match num(1) {
            Some(ch) => list_messages(s, ch, query),
            None => unknown_channel(),
        },
        ("GET", ["guilds", guild]) => {
            if guild.parse::<u64>().ok() != Some(cfg.guild_id) {
                return derr(404, 10004, "Unknown Guild");
            }
            ok(s.with(|g| g.guild_json(cfg)))
        }
        ("GET", ["guilds", guild, "members", user]) => {
            if guild.parse::<u64>().ok() != Some(cfg.guild_id) {
                return derr(404, 10004, "Unknown Guild");
            }
            let found = user.parse::<u64>().ok().and_then(|u| {
                s.with(|g| {
                    let name = if u == cfg.bot_id {
                        BOT_NAME.to_string()
                    } else {
                        g.users.get(&u)?.clone()
                    };
                    let roles = g.roles.get(&u).cloned().unwrap_or_default();
                    Some(member_json(Some(user_json(u, &name, false)), &roles))
                })
            });
            found.map_or_else(|| derr(404, 10007, "Unknown Member"), ok)
        }
        ("GET", ["channels", _]) => {
            let json = num(1).and_then(|ch| s.with(|g| g.channel_json(ch, cfg)));
            json.map(ok).unwrap_or_else(unknown_channel)
        }
        ("POST", ["users", "@me", "channels"]) => create_dm(s, body),
        ("POST", ["channels", _, "typing"]) => {
            let known = num(1).filter(|ch| s.with(|g| g.channels.contains_key(ch)));
            match known {
                Some(ch) => {
                    s.with(|g| *g.typing.entry(ch).or_default() += 1);
                    no_content()
                }
                None => unknown_channel(),
            }
        }
        ("PUT", ["channels", _, "thread-members", _]) => {
            let (Some(ch), Some(user)) = (num(1), num(3)) else {
                return unknown_channel();
            };
            s.with(|g| match g.channels.get(&ch).map(|c| c.kind) {
                None => unknown_channel(),
                Some(11 | 12) => {
                    g.thread_members.push((ch, user));
                    no_content()
                }
                Some(_) => derr(400, 50024, "Cannot execute action on this channel type"),
            })
        }
        _ => {
            s.with(|g| g.unknown.push(format!("{m} /{}", segs.join("/"))));
            derr(404, 0, "404: Not Found")
        }
    }
}

/// `GET /channels/{id}/messages`: users' messages and the bot's, newest
/// first; `after` gives the `limit` messages right after that id, `before`
/// those right before it. Like Discord, no nonce in what it lists.
fn list_messages(s: &Shared, ch: u64, query: Option<&str>) -> Response {
    let cfg = &*s.cfg;
    let mut limit = 50usize;
    let (mut after, mut before) = (None, None);
    for (k, v) in query
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.split_once('='))
    {
        match k {
            "limit" => match v.parse::<usize>() {
                Ok(n @ 1..=100) => limit = n,
                _ => return form_error("limit", "NUMBER_TYPE_MAX", "Must be between 1 and 100."),
            },
            "after" => after = v.parse::<u64>().ok(),
            "before" => before = v.parse::<u64>().ok(),
            _ => {}
        }
    }
    s.with(|g| {
        if !g.channels.contains_key(&ch) {
            return unknown_channel();
        }
        let mut all: Vec<(u64, Value)> = g
            .history
            .iter()
            .filter(|(c, _, _)| *c == ch)
            .map(|(_, id, m)| (*id, m.clone()))
            .collect();
        for p in g.messages.iter().filter(|p| p.channel == ch && !p.deleted) {
            // An interaction's response lives in the channel too; a
            // deferred one that was never edited has nothing to show.
            if p.content.is_empty() && p.embeds.is_empty() {
                continue;
            }
            let mut j = g.posted_json(p, cfg);
            if let Some(o) = j.as_object_mut() {
                o.remove("nonce");
            }
            all.push((p.id, j));
        }
        all.sort_by_key(|(id, _)| *id);
        all.dedup_by_key(|(id, _)| *id);
        let picked: Vec<Value> = match (after, before) {
            (Some(a), _) => {
                let mut v: Vec<Value> = all
                    .into_iter()
                    .filter(|(id, _)| *id > a)
                    .take(limit)
                    .map(|(_, m)| m)
                    .collect();
                v.reverse();
                v
            }
            (None, b) => all
                .into_iter()
                .rev()
                .filter(|(id, _)| b.is_none_or(|b| *id < b))
                .take(limit)
                .map(|(_, m)| m)
                .collect(),
        };
        ok(json!(picked))
    })
}

fn put_commands(s: &Shared, app: &str, guild: Option<u64>, body: &Value) -> Response {
    let cfg = &*s.cfg;
    if app.parse::<u64>().ok() != Some(cfg.app_id) {
        return derr(403, 50001, "Missing Access");
    }
    if guild.is_some_and(|g| g != cfg.guild_id) {
        return derr(403, 50001, "Missing Access");
    }
    let Some(cmds) = body.as_array() else {
        return form_error("_", "BASE_TYPE_ARRAY", "Must be an array.");
    };
    if cmds.len() > 100 {
        return form_error(
            "_",
            "BASE_TYPE_MAX_LENGTH",
            "Must be 100 or fewer in length.",
        );
    }
    if let Err(e) = check_commands(cmds) {
        return *e;
    }
    s.with(|g| {
        g.commands.push(Registered {
            guild,
            commands: cmds.clone(),
        })
    });
    ok(commands_json(cfg, guild, cmds))
}

fn commands_json(cfg: &DcConfig, guild: Option<u64>, cmds: &[Value]) -> Value {
    let out: Vec<Value> = cmds
        .iter()
        .map(|c| {
            let mut o = c.as_object().cloned().unwrap_or_default();
            let id = snowflake();
            o.insert("id".into(), json!(id.to_string()));
            o.insert("application_id".into(), json!(cfg.app_id.to_string()));
            o.insert("version".into(), json!(snowflake().to_string()));
            o.entry("type").or_insert(json!(1));
            o.entry("description").or_insert(json!(""));
            o.entry("default_member_permissions").or_insert(Value::Null);
            o.entry("nsfw").or_insert(json!(false));
            o.entry("integration_types").or_insert(json!([0]));
            o.entry("contexts").or_insert(Value::Null);
            if let Some(g) = guild {
                o.insert("guild_id".into(), json!(g.to_string()));
            }
            Value::Object(o)
        })
        .collect();
    Value::Array(out)
}

fn get_commands(s: &Shared, app: &str, guild: Option<u64>) -> Response {
    let cfg = &*s.cfg;
    if app.parse::<u64>().ok() != Some(cfg.app_id) {
        return derr(403, 50001, "Missing Access");
    }
    let last = s.with(|g| {
        g.commands
            .iter()
            .rev()
            .find(|r| r.guild == guild)
            .map(|r| r.commands.clone())
            .unwrap_or_default()
    });
    ok(commands_json(cfg, guild, &last))
}

fn callback(s: &Shared, id: &str, token: &str, body: &Value) -> Response {
    let cfg = &*s.cfg;
    let kind = u8::try_from(body["type"].as_u64().unwrap_or(0)).unwrap_or(0);
    let flags = body["data"]["flags"].as_u64().unwrap_or(0);
    s.with(|g| {
        let Some(iid) = id
            .parse::<u64>()
            .ok()
            .filter(|i| g.by_token.get(token) == Some(i))
        else {
            return derr(404, 10062, "Unknown interaction");
        };
        let Some(itx) = g.interactions.get(&iid).cloned() else {
            return derr(404, 10062, "Unknown interaction");
        };
        if itx.acked.is_some() {
            g.double_acks += 1;
            return derr(400, 40060, "Interaction has already been acknowledged.");
        }
        if cfg.ack_deadline_ms > 0 && itx.at.elapsed() > Duration::from_millis(cfg.ack_deadline_ms)
        {
            g.late_acks += 1;
            return derr(404, 10062, "Unknown interaction");
        }
        // 6 and 7 answer a component; 4, 5, 9 anything but a ping.
        let valid = match kind {
            4 | 5 | 9 => true,
            6 | 7 => itx.kind == 3,
            8 => itx.kind == 4,
            _ => false,
        };
        if !valid {
            return form_error(
                "type",
                "BASE_TYPE_CHOICES",
                "Value must be one of {4, 5, 6, 7, 8, 9}.",
            );
        }
        if kind == 4 {
            if let Err(e) = check_message(&body["data"], false) {
                return *e;
            }
        }
        if kind == 7 {
            if let Err(e) = check_message(&body["data"], true) {
                return *e;
            }
        }
        g.callbacks.push((iid, kind, flags));
        let mut original = None;
        match kind {
            4 => {
                let mid = snowflake();
                g.upsert_posted(
                    mid,
                    itx.channel,
                    Via::Original { interaction: iid },
                    &body["data"],
                );
                original = Some(mid);
            }
            5 => original = Some(snowflake()),
            6 => original = itx.message,
            7 => {
                if let Some(mid) = itx.message {
                    g.upsert_posted(
                        mid,
                        itx.channel,
                        Via::Original { interaction: iid },
                        &body["data"],
                    );
                    original = Some(mid);
                }
            }
            _ => {}
        }
        if let Some(i) = g.interactions.get_mut(&iid) {
            i.acked = Some(kind);
            i.original = original;
        }
        no_content()
    })
}

/// The interaction a webhook URL belongs to, or Discord's 404 (also once
/// the token's 15 minutes are over).
fn webhook_itx(g: &Inner, cfg: &DcConfig, app: &str, token: &str) -> Result<Itx, Box<Response>> {
    if app.parse::<u64>().ok() != Some(cfg.app_id) {
        return Err(Box::new(derr(404, 10015, "Unknown Webhook")));
    }
    g.by_token
        .get(token)
        .and_then(|i| g.interactions.get(i))
        .filter(|i| i.at.elapsed() <= Duration::from_millis(cfg.token_ttl_ms))
        .cloned()
        .ok_or_else(|| Box::new(derr(404, 10015, "Unknown Webhook")))
}

fn edit_webhook_message(s: &Shared, app: &str, token: &str, which: &str, body: &Value) -> Response {
    let cfg = &*s.cfg;
    if let Err(e) = check_message(body, true) {
        return *e;
    }
    s.with(|g| {
        let itx = match webhook_itx(g, cfg, app, token) {
            Ok(i) => i,
            Err(e) => return *e,
        };
        let target = if which == "@original" {
            itx.original
        } else {
            which.parse::<u64>().ok().filter(|m| {
                g.messages.iter().any(|p| {
                    p.id == *m
                        && p.via
                            == Via::Followup {
                                interaction: itx.id,
                            }
                })
            })
        };
        // Before any callback there is no original response to edit.
        let Some(mid) = target else {
            return derr(404, 10008, "Unknown Message");
        };
        // The edit must leave something to show: merge it into what the
        // message holds now (nothing, for a deferred response).
        let mut merged = g
            .messages
            .iter()
            .rev()
            .find(|p| p.id == mid)
            .map(|p| p.body.clone())
            .unwrap_or_else(|| json!({}));
        if let (Some(m), Some(b)) = (merged.as_object_mut(), body.as_object()) {
            for (k, v) in b {
                m.insert(k.clone(), v.clone());
            }
        }
        if let Err(e) = check_message(&merged, false) {
            return *e;
        }
        let p = g.upsert_posted(
            mid,
            itx.channel,
            Via::Original {
                interaction: itx.id,
            },
            body,
        );
        ok(g.posted_json(&p, cfg))
    })
}

fn delete_webhook_message(s: &Shared, app: &str, token: &str, which: &str) -> Response {
    let cfg = &*s.cfg;
    s.with(|g| {
        let itx = match webhook_itx(g, cfg, app, token) {
            Ok(i) => i,
            Err(e) => return *e,
        };
        let target = if which == "@original" {
            itx.original
        } else {
            which.parse().ok()
        };
        match target.and_then(|m| g.posted_mut(m)) {
            Some(p) if !p.deleted => {
                p.deleted = true;
                no_content()
            }
            _ => derr(404, 10008, "Unknown Message"),
        }
    })
}

fn followup(s: &Shared, app: &str, token: &str, body: &Value) -> Response {
    let cfg = &*s.cfg;
    if let Err(e) = check_message(body, false) {
        return *e;
    }
    s.with(|g| {
        let itx = match webhook_itx(g, cfg, app, token) {
            Ok(i) => i,
            Err(e) => return *e,
        };
        // Follow-ups need the interaction to be acknowledged first.
        if itx.acked.is_none() {
            return derr(404, 10015, "Unknown Webhook");
        }
        let p = g.upsert_posted(
            snowflake(),
            itx.channel,
            Via::Followup {
                interaction: itx.id,
            },
            body,
        );
        ok(g.posted_json(&p, cfg))
    })
}

fn create_message(s: &Shared, ch: u64, body: &Value) -> Response {
    let cfg = &*s.cfg;
    s.with(|g| {
        if !g.channels.contains_key(&ch) {
            return unknown_channel();
        }
        if let Err(e) = check_message(body, false) {
            return *e;
        }
        g.archived.remove(&ch);
        let nonce = match &body["nonce"] {
            Value::String(x) => Some(x.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        if let Some(n) = &nonce {
            if n.len() > 25 {
                return form_error(
                    "nonce",
                    "BASE_TYPE_MAX_LENGTH",
                    "Must be 25 or fewer in length.",
                );
            }
        }
        // enforce_nonce: the same nonce in the same channel within the
        // window gives back the first message instead of a second one.
        if let (Some(n), true) = (&nonce, body["enforce_nonce"].as_bool() == Some(true)) {
            let window = Duration::from_millis(cfg.nonce_window_ms);
            if let Some(&(i, at)) = g.nonces.get(&(ch, n.clone())) {
                if cfg.nonce_window_ms == 0 || at.elapsed() <= window {
                    g.deduped += 1;
                    let p = g.messages[i].clone();
                    return ok(g.posted_json(&p, cfg));
                }
            }
        }
        if let Some(r) = id_of(&body["message_reference"]["message_id"]) {
            let rch = id_of(&body["message_reference"]["channel_id"]).unwrap_or(ch);
            let strict = body["message_reference"]["fail_if_not_exists"].as_bool() != Some(false);
            if strict && !g.known_messages.contains(&(rch, r)) {
                return form_error(
                    "message_reference",
                    "MESSAGE_REFERENCE_UNKNOWN_MESSAGE",
                    "Unknown message",
                );
            }
        }
        let p = g.upsert_posted(snowflake(), ch, Via::Channel, body);
        if let Some(n) = nonce {
            let i = g.messages.len() - 1;
            g.nonces.insert((ch, n), (i, Instant::now()));
        }
        ok(g.posted_json(&p, cfg))
    })
}

fn edit_message(s: &Shared, ch: u64, msg: u64, body: &Value) -> Response {
    let cfg = &*s.cfg;
    if let Err(e) = check_message(body, true) {
        return *e;
    }
    s.with(|g| {
        if !g.channels.contains_key(&ch) {
            return unknown_channel();
        }
        let exists = g
            .messages
            .iter()
            .any(|p| p.id == msg && p.channel == ch && !p.deleted);
        if !exists {
            // Users' messages exist but are not the bot's to edit.
            return if g.known_messages.contains(&(ch, msg)) {
                derr(403, 50005, "Cannot edit a message authored by another user")
            } else {
                derr(404, 10008, "Unknown Message")
            };
        }
        let p = g.upsert_posted(msg, ch, Via::Channel, body);
        ok(g.posted_json(&p, cfg))
    })
}

/// `DELETE /channels/{id}`: a thread goes with every message in it (the
/// bot may delete threads in the adviser channel: Manage Threads); other
/// channels are refused, as a bot without Manage Channels is.
fn delete_channel(s: &Shared, ch: u64) -> Response {
    let cfg = &*s.cfg;
    s.with(|g| {
        let Some(json) = g.channel_json(ch, cfg) else {
            return unknown_channel();
        };
        if !matches!(g.channels.get(&ch).map(|c| c.kind), Some(11 | 12)) {
            return derr(403, 50013, "Missing Permissions");
        }
        g.channels.remove(&ch);
        g.deleted_channels.push(ch);
        for p in g.messages.iter_mut().filter(|p| p.channel == ch) {
            p.deleted = true;
        }
        ok(json)
    })
}

fn delete_message(s: &Shared, ch: u64, msg: u64) -> Response {
    s.with(|g| {
        if !g.channels.contains_key(&ch) {
            return unknown_channel();
        }
        match g.posted_mut(msg) {
            Some(p) if p.channel == ch && !p.deleted => {
                p.deleted = true;
                no_content()
            }
            _ => derr(404, 10008, "Unknown Message"),
        }
    })
}

fn check_thread_body(body: &Value) -> Result<(String, u64), Box<Response>> {
    let name = body["name"].as_str().unwrap_or_default().to_string();
    if !(1..=100).contains(&name.chars().count()) {
        return Err(Box::new(form_error(
            "name",
            "BASE_TYPE_BAD_LENGTH",
            "Must be between 1 and 100 in length.",
        )));
    }
    let archive = body["auto_archive_duration"].as_u64().unwrap_or(1440);
    if ![60, 1440, 4320, 10080].contains(&archive) {
        return Err(Box::new(form_error(
            "auto_archive_duration",
            "BASE_TYPE_CHOICES",
            "Value must be one of {60, 1440, 4320, 10080}.",
        )));
    }
    Ok((name, archive))
}

fn thread_from_message(s: &Shared, ch: u64, msg: u64, body: &Value) -> Response {
    let cfg = &*s.cfg;
    let (name, _) = match check_thread_body(body) {
        Ok(x) => x,
        Err(e) => return *e,
    };
    s.with(|g| {
        let Some(parent) = g.channels.get(&ch).cloned() else {
            return unknown_channel();
        };
        if !matches!(parent.kind, 0 | 5) {
            return derr(400, 50024, "Cannot execute action on this channel type");
        }
        if g.threads.iter().any(|t| t.from_message == Some(msg)) {
            return derr(
                400,
                160004,
                "A thread has already been created for this message",
            );
        }
        if !g.known_messages.contains(&(ch, msg)) {
            return derr(404, 10008, "Unknown Message");
        }
        // On Discord a thread started from a message has that message's id.
        let id = msg;
        g.channels.insert(
            id,
            Chan {
                kind: 11,
                name: name.clone(),
                guild: parent.guild,
                parent: Some(ch),
                recipient: None,
                invitable: false,
                created: now_iso(),
            },
        );
        g.threads.push(Thread {
            id,
            parent: ch,
            kind: 11,
            name,
            invitable: false,
            from_message: Some(msg),
        });
        g.channel_json(id, cfg)
            .map(ok)
            .unwrap_or_else(unknown_channel)
    })
}

fn thread_without_message(s: &Shared, ch: u64, body: &Value) -> Response {
    let cfg = &*s.cfg;
    let (name, _) = match check_thread_body(body) {
        Ok(x) => x,
        Err(e) => return *e,
    };
    // Discord's default here is a private thread.
    let kind = body["type"].as_u64().unwrap_or(12);
    if kind != 11 && kind != 12 {
        return form_error(
            "type",
            "BASE_TYPE_CHOICES",
            "Value must be one of {10, 11, 12}.",
        );
    }
    let kind = if kind == 11 { 11u8 } else { 12u8 };
    let invitable = kind == 12 && body["invitable"].as_bool().unwrap_or(true);
    s.with(|g| {
        let Some(parent) = g.channels.get(&ch).cloned() else {
            return unknown_channel();
        };
        if !matches!(parent.kind, 0 | 5) {
            return derr(400, 50024, "Cannot execute action on this channel type");
        }
        let id = snowflake();
        g.channels.insert(
            id,
            Chan {
                kind,
                name: name.clone(),
                guild: parent.guild,
                parent: Some(ch),
                recipient: None,
                invitable,
                created: now_iso(),
            },
        );
        g.threads.push(Thread {
            id,
            parent: ch,
            kind,
            name,
            invitable,
            from_message: None,
        });
        g.channel_json(id, cfg)
            .map(ok)
            .unwrap_or_else(unknown_channel)
    })
}

fn create_dm(s: &Shared, body: &Value) -> Response {
    let cfg = &*s.cfg;
    let Some(user) = id_of(&body["recipient_id"]) else {
        return form_error(
            "recipient_id",
            "BASE_TYPE_REQUIRED",
            "This field is required",
        );
    };
    s.with(|g| {
        let ch = match g.dm_by_user.get(&user) {
            Some(&c) => c,
            None => {
                let c = snowflake();
                g.learn_channel(c, None, Some(user));
                c
            }
        };
        g.channel_json(ch, cfg)
            .map(ok)
            .unwrap_or_else(unknown_channel)
    })
}

// -------------------------------------------------------------- gateway

fn token_ok(cfg: &DcConfig, v: &Value) -> bool {
    let t = v.as_str().unwrap_or_default();
    t.strip_prefix("Bot ").unwrap_or(t) == cfg.token
}

fn close_reason(code: u16) -> &'static str {
    match code {
        4000 => "Unknown error.",
        4001 => "Unknown opcode.",
        4002 => "Decode error.",
        4003 => "Not authenticated.",
        4004 => "Authentication failed.",
        4005 => "Already authenticated.",
        4007 => "Invalid seq.",
        4008 => "Rate limited.",
        4009 => "Session timed out.",
        4010 => "Invalid shard.",
        4011 => "Sharding required.",
        4012 => "Invalid API version.",
        4013 => "Invalid intent(s).",
        4014 => "Disallowed intent(s).",
        _ => "",
    }
}

/// One client frame, handled under the lock so that READY, replays and
/// dispatches pushed by the test keep one order and one sequence.
fn on_frame(s: &Shared, conn: u64, tx: &UnboundedSender<Out>, authed: &mut bool, text: &str) {
    let cfg = &*s.cfg;
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        let _ = tx.send(Out::Close(4002, close_reason(4002)));
        return;
    };
    let d = &v["d"];
    s.with(|g| match v["op"].as_u64() {
        Some(1) => {
            g.gw.heartbeats += 1;
            if !g.gw.no_heartbeat_acks {
                let _ = tx.send(Out::Frame(
                    json!({"op": 11, "d": null, "s": null, "t": null}).to_string(),
                ));
            }
        }
        Some(2) => {
            g.gw.identifies += 1;
            g.gw.intents = d["intents"].as_u64();
            if *authed {
                let _ = tx.send(Out::Close(4005, close_reason(4005)));
                return;
            }
            if !token_ok(cfg, &d["token"]) {
                let _ = tx.send(Out::Close(4004, close_reason(4004)));
                return;
            }
            let asked = d["intents"].as_u64().unwrap_or(0);
            if asked & PRIVILEGED_INTENTS & !cfg.privileged_intents != 0 {
                let _ = tx.send(Out::Close(4014, close_reason(4014)));
                return;
            }
            if let Some(code) = g.gw.close_after_identify.take() {
                let _ = tx.send(Out::Close(code, close_reason(code)));
                return;
            }
            *authed = true;
            // A new session starts empty: what the old one kept for a
            // RESUME that never came is lost, as on Discord.
            if let Some(old) = g.gw.session.take() {
                let unsent = old.log.iter().filter(|(seq, _, _)| *seq > old.written);
                g.dropped_events += unsent.count();
            }
            let sid = uuid::Uuid::new_v4().simple().to_string();
            g.gw.session = Some(Session {
                id: sid.clone(),
                seq: 0,
                log: Vec::new(),
                written: 0,
                dead: false,
            });
            g.gw.live = Some((conn, tx.clone()));
            let shard = if d["shard"].is_array() {
                d["shard"].clone()
            } else {
                json!([0, 1])
            };
            let ready = json!({
                "v": 10,
                "user": {
                    "id": cfg.bot_id.to_string(), "username": BOT_NAME, "discriminator": "0",
                    "global_name": null, "avatar": null, "bot": true, "verified": true,
                    "mfa_enabled": true, "email": null, "flags": 0
                },
                "guilds": [{"id": cfg.guild_id.to_string(), "unavailable": true}],
                "session_id": sid,
                "session_type": "normal",
                "resume_gateway_url": &*s.gateway_url,
                "shard": shard,
                "application": {"id": cfg.app_id.to_string(), "flags": 0},
                "private_channels": [], "relationships": [], "presences": [],
                "guild_join_requests": [], "geo_ordered_rtc_regions": [],
                "user_settings": {}, "_trace": ["kraft-dc-double"]
            });
            g.push(cfg.bot_id, "READY", ready);
        }
        Some(6) => {
            g.gw.resumes += 1;
            if !token_ok(cfg, &d["token"]) {
                let _ = tx.send(Out::Close(4004, close_reason(4004)));
                return;
            }
            let known = g.gw.session.as_ref().is_some_and(|sess| {
                !sess.dead && d["session_id"].as_str() == Some(sess.id.as_str())
            });
            if !known {
                g.gw.invalid_sessions += 1;
                let _ = tx.send(Out::Frame(
                    json!({"op": 9, "d": false, "s": null, "t": null}).to_string(),
                ));
                return;
            }
            *authed = true;
            g.gw.live = Some((conn, tx.clone()));
            let client_seq = d["seq"].as_u64().unwrap_or(0);
            if let Some(sess) = g.gw.session.as_mut() {
                for (seq, t, d) in sess.log.iter().filter(|(seq, _, _)| *seq > client_seq) {
                    let frame = json!({"op": 0, "t": t, "s": seq, "d": d}).to_string();
                    if tx.send(Out::Frame(frame)).is_ok() {
                        sess.written = sess.written.max(*seq);
                    }
                }
            }
            g.push(
                cfg.bot_id,
                "RESUMED",
                json!({"_trace": ["kraft-dc-double"]}),
            );
        }
        // Presence updates, guild member requests, voice: accepted, unused.
        Some(3 | 4 | 8 | 31) => {
            if !*authed {
                let _ = tx.send(Out::Close(4003, close_reason(4003)));
            }
        }
        _ => {
            let _ = tx.send(Out::Close(4001, close_reason(4001)));
        }
    });
}

async fn ws_conn(s: Shared, tcp: tokio::net::TcpStream) {
    let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
        return;
    };
    let (tx, mut rx) = unbounded_channel::<Out>();
    let conn = s.with(|g| {
        g.gw.next_conn += 1;
        g.gw.connections += 1;
        g.gw.latest = Some((g.gw.next_conn, tx.clone()));
        g.gw.next_conn
    });
    let hello = json!({"op": 10, "s": null, "t": null,
                       "d": {"heartbeat_interval": s.cfg.heartbeat_ms, "_trace": ["kraft-dc-double"]}});
    let mut stop = s.stop.subscribe();
    let mut authed = false;
    if ws.send(WsMessage::Text(hello.to_string())).await.is_ok() {
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                out = rx.recv() => match out {
                    Some(Out::Frame(t)) => {
                        if ws.send(WsMessage::Text(t)).await.is_err() {
                            break;
                        }
                    }
                    Some(Out::Close(code, reason)) => {
                        let frame = CloseFrame { code: CloseCode::from(code), reason: reason.into() };
                        let _ = ws.close(Some(frame)).await;
                        // Let the client read it; its answer ends the stream.
                        let _ = tokio::time::timeout(Duration::from_secs(1), async {
                            while let Some(Ok(_)) = ws.next().await {}
                        })
                        .await;
                        break;
                    }
                    Some(Out::Drop) | None => break,
                },
                msg = ws.next() => match msg {
                    Some(Ok(WsMessage::Text(t))) => on_frame(&s, conn, &tx, &mut authed, &t),
                    Some(Ok(WsMessage::Close(_))) => {
                        // tungstenite queued the answering close frame;
                        // serenity waits for it when it shuts a shard down.
                        let _ = ws.flush().await;
                        break;
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => break,
                },
            }
        }
    }
    s.with(|g| {
        if g.gw.live.as_ref().is_some_and(|(c, _)| *c == conn) {
            g.gw.live = None;
        }
        if g.gw.latest.as_ref().is_some_and(|(c, _)| *c == conn) {
            g.gw.latest = None;
        }
    });
}

// ------------------------------------------------------------------ TLS

struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            // A failed handshake is that client's problem; keep serving.
            if let Ok(Ok(tls)) =
                tokio::time::timeout(Duration::from_secs(5), self.acceptor.accept(tcp)).await
            {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

fn tls_acceptor() -> tokio_rustls::TlsAcceptor {
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = vec![
        CertificateDer::from_pem_slice(LEAF_PEM.as_bytes()).expect("leaf certificate PEM"),
        CertificateDer::from_pem_slice(CA_PEM.as_bytes()).expect("CA certificate PEM"),
    ];
    let key = PrivateKeyDer::from_pem_slice(LEAF_KEY_PEM.as_bytes()).expect("leaf key PEM");
    // The same provider as every client (see `kraft_ingest::http`), named
    // here rather than relying on the process default being installed.
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .expect("TLS certificate");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

// ------------------------------------------------------- event builders

#[derive(Clone, Copy)]
struct Ids {
    bot: u64,
    app: u64,
    guild: u64,
}

const DEFAULT_IDS: Ids = Ids {
    bot: BOT_ID,
    app: APP_ID,
    guild: GUILD_ID,
};

fn mention_json(ids: Ids, id: u64) -> Value {
    if id == ids.bot {
        user_json(id, BOT_NAME, true)
    } else {
        user_json(id, &format!("user{id}"), false)
    }
}

fn dm_with(user_id: u64, user_name: &str, channel_id: u64, content: &str) -> Value {
    message_json(
        snowflake(),
        channel_id,
        user_json(user_id, user_name, false),
        content,
        0,
        &[],
    )
}

fn guild_message_with(
    ids: Ids,
    user_id: u64,
    user_name: &str,
    channel_id: u64,
    content: &str,
    mentions: &[u64],
    roles: &[u64],
) -> Value {
    // Gateway messages carry the guild and the author's member object; each
    // mentioned user carries a member object too (without `user`).
    let mentioned: Vec<Value> = mentions
        .iter()
        .map(|&m| {
            let mut u = mention_json(ids, m);
            u["member"] = member_json(None, &[]);
            u
        })
        .collect();
    message_json(
        snowflake(),
        channel_id,
        user_json(user_id, user_name, false),
        content,
        0,
        &[
            ("guild_id", json!(ids.guild.to_string())),
            ("member", member_json(None, roles)),
            ("mentions", json!(mentioned)),
        ],
    )
}

/// What an interaction has in common, whatever its type.
#[allow(clippy::too_many_arguments)]
fn interaction_base(
    ids: Ids,
    kind: u8,
    interaction_id: u64,
    user_id: u64,
    user_name: &str,
    channel: Value,
    channel_id: u64,
    guild: Option<(u64, Vec<u64>)>,
    locale: &str,
) -> Value {
    let user = user_json(user_id, user_name, false);
    let mut v = json!({
        "id": interaction_id.to_string(),
        "application_id": ids.app.to_string(),
        "type": kind,
        "token": format!("itok-{interaction_id}"),
        "version": 1,
        "channel_id": channel_id.to_string(),
        "channel": channel,
        "locale": locale,
        "app_permissions": "2248473465835073",
        "entitlements": [],
        "attachment_size_limit": 10_485_760,
    });
    if let Some(o) = v.as_object_mut() {
        match guild {
            Some((g, roles)) => {
                o.insert("guild_id".into(), json!(g.to_string()));
                o.insert("guild_locale".into(), json!("sv-SE"));
                o.insert(
                    "guild".into(),
                    json!({"id": g.to_string(), "locale": "sv-SE", "features": []}),
                );
                o.insert("member".into(), member_json(Some(user), &roles));
                o.insert(
                    "authorizing_integration_owners".into(),
                    json!({"0": g.to_string()}),
                );
                o.insert("context".into(), json!(0));
            }
            None => {
                o.insert("user".into(), user);
                // A guild-installed app used in its bot's DM: owner "0".
                o.insert("authorizing_integration_owners".into(), json!({"0": "0"}));
                o.insert("context".into(), json!(1));
            }
        }
    }
    v
}

fn partial_channel(
    channel_id: u64,
    guild: Option<u64>,
    user: Value,
    known: Option<&Chan>,
) -> Value {
    match (guild, known) {
        (_, Some(c)) if c.kind == 11 || c.kind == 12 => json!({
            "id": channel_id.to_string(), "type": c.kind, "name": c.name,
            "guild_id": c.guild.or(guild).map(|g| g.to_string()),
            "parent_id": c.parent.map(|p| p.to_string()),
            "permissions": "2248473465835073", "flags": 0,
            "thread_metadata": {"archived": false, "auto_archive_duration": 1440,
                                "archive_timestamp": c.created, "locked": false}
        }),
        (Some(g), known) => json!({
            "id": channel_id.to_string(), "type": 0,
            "name": known.map(|c| c.name.clone()).unwrap_or_else(|| format!("channel-{channel_id}")),
            "guild_id": g.to_string(), "parent_id": null, "position": 0, "nsfw": false,
            "topic": null, "rate_limit_per_user": 0, "last_message_id": null, "flags": 0,
            "permissions": "2248473465835073"
        }),
        (None, _) => json!({
            "id": channel_id.to_string(), "type": 1, "flags": 0, "last_message_id": null,
            "recipients": [user]
        }),
    }
}

#[allow(clippy::too_many_arguments)]
fn slash_with(
    ids: Ids,
    known: Option<&Chan>,
    interaction_id: u64,
    user_id: u64,
    user_name: &str,
    channel_id: u64,
    guild: Option<(u64, Vec<u64>)>,
    locale: &str,
    command_name: &str,
    options: &[(&str, &str)],
) -> Value {
    let channel = partial_channel(
        channel_id,
        guild.as_ref().map(|g| g.0),
        user_json(user_id, user_name, false),
        known,
    );
    let mut v = interaction_base(
        ids,
        2,
        interaction_id,
        user_id,
        user_name,
        channel,
        channel_id,
        guild.clone(),
        locale,
    );
    let opts: Vec<Value> = options
        .iter()
        .map(|(n, val)| json!({"name": n, "type": 3, "value": val}))
        .collect();
    // A stable id per command name, as a registered command has.
    let hash = command_name
        .bytes()
        .fold(17u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    let command_id = (ids.app ^ hash) & 0x7FFF_FFFF_FFFF_FFFF;
    let mut data = json!({
        "id": command_id.max(1).to_string(), "name": command_name, "type": 1, "options": opts
    });
    if let Some((g, _)) = guild {
        data["guild_id"] = json!(g.to_string());
    }
    v["data"] = data;
    v
}

#[allow(clippy::too_many_arguments)]
fn button_with(
    ids: Ids,
    known: Option<&Chan>,
    on: Option<&Posted>,
    interaction_id: u64,
    user_id: u64,
    user_name: &str,
    channel_id: u64,
    guild: Option<(u64, Vec<u64>)>,
    custom_id: &str,
    message_id: u64,
) -> Value {
    let channel = partial_channel(
        channel_id,
        guild.as_ref().map(|g| g.0),
        user_json(user_id, user_name, false),
        known,
    );
    let mut v = interaction_base(
        ids,
        3,
        interaction_id,
        user_id,
        user_name,
        channel,
        channel_id,
        guild,
        "sv-SE",
    );
    // The message the button was on: the bot's, as the double knows it,
    // or one made up that holds just this button.
    let (content, components) = match on {
        Some(p) => (
            p.content.clone(),
            if p.body["components"].is_array() {
                p.body["components"].clone()
            } else {
                json!([])
            },
        ),
        None => (
            String::new(),
            json!([{"type": 1, "components": [
                {"type": 2, "style": 1, "label": custom_id, "custom_id": custom_id}
            ]}]),
        ),
    };
    v["message"] = message_json(
        message_id,
        channel_id,
        user_json(ids.bot, BOT_NAME, true),
        &content,
        0,
        &[("components", components)],
    );
    v["data"] = json!({"custom_id": custom_id, "component_type": 2});
    v
}

/// A MESSAGE_CREATE payload (`d`) for a DM (no guild) with the default ids.
pub fn dm(user_id: u64, user_name: &str, channel_id: u64, content: &str) -> Value {
    dm_with(user_id, user_name, channel_id, content)
}

/// A MESSAGE_CREATE payload in [`GUILD_ID`]: `mentions` are user ids
/// (put `<@id>` in `content` yourself, as a client would), `roles` the
/// author's roles.
pub fn guild_message(
    user_id: u64,
    user_name: &str,
    channel_id: u64,
    content: &str,
    mentions: &[u64],
    roles: &[u64],
) -> Value {
    guild_message_with(
        DEFAULT_IDS,
        user_id,
        user_name,
        channel_id,
        content,
        mentions,
        roles,
    )
}

/// An INTERACTION_CREATE payload for a slash command with string
/// options, for the default application. `guild`: (guild id, the user's
/// roles), or None for a DM. Its token is `itok-<interaction_id>`.
#[allow(clippy::too_many_arguments)]
pub fn slash(
    interaction_id: u64,
    user_id: u64,
    user_name: &str,
    channel_id: u64,
    guild: Option<(u64, Vec<u64>)>,
    locale: &str,
    command_name: &str,
    options: &[(&str, &str)],
) -> Value {
    slash_with(
        DEFAULT_IDS,
        None,
        interaction_id,
        user_id,
        user_name,
        channel_id,
        guild,
        locale,
        command_name,
        options,
    )
}

/// An INTERACTION_CREATE payload for a button press (custom_id) on the
/// bot's message `message_id`, for the default application.
#[allow(clippy::too_many_arguments)]
pub fn button(
    interaction_id: u64,
    user_id: u64,
    user_name: &str,
    channel_id: u64,
    guild: Option<(u64, Vec<u64>)>,
    custom_id: &str,
    message_id: u64,
) -> Value {
    button_with(
        DEFAULT_IDS,
        None,
        None,
        interaction_id,
        user_id,
        user_name,
        channel_id,
        guild,
        custom_id,
        message_id,
    )
}

// ------------------------------------------------------------ the double

impl DcDouble {
    pub async fn start(cfg: DcConfig) -> DcDouble {
        let http_l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the Discord double (HTTP)");
        let tls_l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the Discord double (HTTPS)");
        let gw_l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the Discord double (gateway)");
        let http_addr = http_l.local_addr().expect("addr");
        let tls_addr = tls_l.local_addr().expect("addr");
        let gw_addr = gw_l.local_addr().expect("addr");
        let (stop, _) = tokio::sync::watch::channel(false);
        let close_after = cfg.close_after_identify;
        let cfg = Arc::new(cfg);
        let shared = Shared {
            cfg: cfg.clone(),
            gateway_url: format!("ws://{gw_addr}").into(),
            inner: Arc::new(Mutex::new(Inner::default())),
            stop: Arc::new(stop),
        };
        shared.with(|g| g.gw.close_after_identify = close_after);
        let app = Router::new().fallback(rest).with_state(shared.clone());
        let app2 = app.clone();
        let mut tasks = vec![tokio::spawn(async move {
            let _ = axum::serve(http_l, app).await;
        })];
        let acceptor = tls_acceptor();
        tasks.push(tokio::spawn(async move {
            let l = TlsListener {
                tcp: tls_l,
                acceptor,
            };
            let _ = axum::serve(l, app2).await;
        }));
        let gs = shared.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = gw_l.accept().await else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                tokio::spawn(ws_conn(gs.clone(), tcp));
            }
        }));
        DcDouble {
            cfg,
            http_addr,
            tls_addr,
            gw_addr,
            shared,
            tasks,
        }
    }

    pub fn config(&self) -> &DcConfig {
        &self.cfg
    }

    /// What to give `HttpBuilder::proxy` (with the ratelimiter disabled:
    /// serenity ignores the proxy otherwise).
    pub fn api_url(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    /// The HTTPS listener: resolve `discord.com` here and trust [`CA_PEM`].
    pub fn tls_addr(&self) -> SocketAddr {
        self.tls_addr
    }

    pub fn gateway_url(&self) -> String {
        format!("ws://{}", self.gw_addr)
    }

    /// A serenity `Http` for `token` that reaches this double with its
    /// ratelimiter on: a reqwest client that resolves discord.com to the
    /// HTTPS listener and trusts only the test CA.
    pub fn serenity_http_as(&self, token: &str) -> serenity::http::Http {
        let ca = reqwest012::Certificate::from_pem(CA_PEM.as_bytes()).expect("test CA");
        let client = reqwest012::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(ca)
            .resolve("discord.com", self.tls_addr)
            .build()
            .expect("reqwest client for the double");
        serenity::http::HttpBuilder::new(token)
            .client(client)
            .build()
    }

    /// [`Self::serenity_http_as`] with the configured token.
    pub fn serenity_http(&self) -> serenity::http::Http {
        self.serenity_http_as(&self.cfg.token)
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        self.shared.with(f)
    }

    fn ids(&self) -> Ids {
        Ids {
            bot: self.cfg.bot_id,
            app: self.cfg.app_id,
            guild: self.cfg.guild_id,
        }
    }

    // --- world setup

    /// What the guild's @everyone role may do (the bot has no other
    /// role): Discord permission bits.
    pub fn set_everyone_permissions(&self, bits: u64) {
        self.with(|g| g.everyone_permissions = Some(bits));
    }

    /// A role of the guild (with no permissions of its own).
    pub fn add_role(&self, id: u64) {
        self.with(|g| g.guild_roles.push(id));
    }

    /// A guild text channel (in the configured guild) the bot can see.
    pub fn add_channel(&self, id: u64, name: &str) {
        let guild = self.cfg.guild_id;
        self.with(|g| {
            g.channels.insert(
                id,
                Chan {
                    kind: 0,
                    name: name.to_string(),
                    guild: Some(guild),
                    parent: None,
                    recipient: None,
                    invitable: false,
                    created: now_iso(),
                },
            )
        });
    }

    /// The next `n` requests matching `pattern` fail with `fault`.
    /// Patterns: "POST /channels/*/messages" (that route), "PATCH
    /// /webhooks/*" (a final `*` matches the rest of the path),
    /// "/users/@me" (any method), "POST" (any path), "*" (anything).
    /// Faults come after the token check; the first matching fault with
    /// requests left is used.
    pub fn fault(&self, pattern: &str, fault: Fault, n: usize) {
        self.with(|g| g.faults.push((pattern.to_string(), fault, n)));
    }

    pub fn clear_faults(&self) {
        self.with(|g| g.faults.clear());
    }

    // --- event builders with this double's ids (and its knowledge of
    // --- channels and of the bot's messages)

    pub fn dm(&self, user_id: u64, user_name: &str, channel_id: u64, content: &str) -> Value {
        dm_with(user_id, user_name, channel_id, content)
    }

    pub fn guild_message(
        &self,
        user_id: u64,
        user_name: &str,
        channel_id: u64,
        content: &str,
        mentions: &[u64],
        roles: &[u64],
    ) -> Value {
        let ids = self.ids();
        let mut v = guild_message_with(
            ids, user_id, user_name, channel_id, content, mentions, roles,
        );
        // A message in a thread belongs to the thread's guild too.
        if let Some(g) = self.with(|g| g.channels.get(&channel_id).and_then(|c| c.guild)) {
            v["guild_id"] = json!(g.to_string());
        }
        v
    }

    #[allow(clippy::too_many_arguments)]
    pub fn slash(
        &self,
        interaction_id: u64,
        user_id: u64,
        user_name: &str,
        channel_id: u64,
        guild: Option<(u64, Vec<u64>)>,
        locale: &str,
        command_name: &str,
        options: &[(&str, &str)],
    ) -> Value {
        let known = self.with(|g| g.channels.get(&channel_id).cloned());
        slash_with(
            self.ids(),
            known.as_ref(),
            interaction_id,
            user_id,
            user_name,
            channel_id,
            guild,
            locale,
            command_name,
            options,
        )
    }

    #[allow(clippy::too_many_arguments)]
    pub fn button(
        &self,
        interaction_id: u64,
        user_id: u64,
        user_name: &str,
        channel_id: u64,
        guild: Option<(u64, Vec<u64>)>,
        custom_id: &str,
        message_id: u64,
    ) -> Value {
        let (known, on) = self.with(|g| {
            (
                g.channels.get(&channel_id).cloned(),
                g.messages
                    .iter()
                    .rev()
                    .find(|p| p.id == message_id)
                    .cloned(),
            )
        });
        button_with(
            self.ids(),
            known.as_ref(),
            on.as_ref(),
            interaction_id,
            user_id,
            user_name,
            channel_id,
            guild,
            custom_id,
            message_id,
        )
    }

    // --- gateway controls

    /// Dispatches MESSAGE_CREATE; returns its seq (0 if no session
    /// existed: lost to the gateway, readable over REST).
    pub fn message_create(&self, message: Value) -> u64 {
        self.dispatch("MESSAGE_CREATE", message)
    }

    /// Dispatches INTERACTION_CREATE; the interaction's 3 s starts now.
    pub fn interaction_create(&self, interaction: Value) -> u64 {
        self.dispatch("INTERACTION_CREATE", interaction)
    }

    /// Any dispatch. With a session whose client is away it waits for a
    /// RESUME (replay); a new session (IDENTIFY) never gets it, and with
    /// no session it is lost at once.
    pub fn dispatch(&self, t: &str, d: Value) -> u64 {
        let bot = self.cfg.bot_id;
        self.with(|g| g.push(bot, t, d))
    }

    /// Sends op 7 RECONNECT; until the client RESUMEs, dispatches are
    /// kept for the replay. False if no client was connected.
    pub fn reconnect(&self) -> bool {
        self.with(|g| match g.gw.live.take() {
            Some((_, tx)) => tx
                .send(Out::Frame(
                    json!({"op": 7, "d": null, "s": null, "t": null}).to_string(),
                ))
                .is_ok(),
            None => false,
        })
    }

    /// Sends op 9 INVALID SESSION; not `resumable` ends the session.
    pub fn invalidate_session(&self, resumable: bool) -> bool {
        self.with(|g| {
            if !resumable {
                if let Some(sess) = g.gw.session.as_mut() {
                    sess.dead = true;
                }
            }
            match g.gw.live.take() {
                Some((_, tx)) => tx
                    .send(Out::Frame(
                        json!({"op": 9, "d": resumable, "s": null, "t": null}).to_string(),
                    ))
                    .is_ok(),
                None => false,
            }
        })
    }

    /// Closes the client's socket with `code` (4014 disallowed intents,
    /// 4004 authentication failed, 4000 unknown error, …).
    pub fn close(&self, code: u16) -> bool {
        self.with(|g| {
            let target = g.gw.live.take().or_else(|| g.gw.latest.take());
            target.is_some_and(|(_, tx)| tx.send(Out::Close(code, close_reason(code))).is_ok())
        })
    }

    /// Drops the client's TCP connection without a close frame.
    pub fn drop_connection(&self) -> bool {
        self.with(|g| {
            let target = g.gw.live.take().or_else(|| g.gw.latest.take());
            target.is_some_and(|(_, tx)| tx.send(Out::Drop).is_ok())
        })
    }

    /// The next IDENTIFY is answered by closing with `code` (None: READY).
    pub fn set_close_after_identify(&self, code: Option<u16>) {
        self.with(|g| g.gw.close_after_identify = code);
    }

    /// Stop (or resume) answering heartbeats: a zombie connection.
    pub fn set_heartbeat_acks(&self, on: bool) {
        self.with(|g| g.gw.no_heartbeat_acks = !on);
    }

    // --- gateway inspection

    pub fn identifies(&self) -> usize {
        self.with(|g| g.gw.identifies)
    }

    pub fn resumes(&self) -> usize {
        self.with(|g| g.gw.resumes)
    }

    /// The intents of the last IDENTIFY.
    pub fn intents(&self) -> Option<u64> {
        self.with(|g| g.gw.intents)
    }

    /// RESUMEs refused with op 9.
    pub fn invalid_sessions(&self) -> usize {
        self.with(|g| g.gw.invalid_sessions)
    }

    pub fn heartbeats(&self) -> usize {
        self.with(|g| g.gw.heartbeats)
    }

    /// Websocket connections accepted so far.
    pub fn connections(&self) -> usize {
        self.with(|g| g.gw.connections)
    }

    /// A client is identified or resumed and gets dispatches now.
    pub fn is_live(&self) -> bool {
        self.with(|g| g.gw.live.is_some())
    }

    // --- REST inspection

    pub fn calls(&self) -> Vec<Call> {
        self.with(|g| g.calls.clone())
    }

    /// Every message the bot made, in order, in its current state
    /// (deleted ones included, flagged).
    pub fn messages(&self) -> Vec<Posted> {
        self.with(|g| g.messages.clone())
    }

    pub fn messages_in(&self, channel: u64) -> Vec<Posted> {
        self.with(|g| {
            g.messages
                .iter()
                .filter(|p| p.channel == channel)
                .cloned()
                .collect()
        })
    }

    /// (interaction id, callback type, data.flags) of accepted callbacks.
    pub fn callbacks(&self) -> Vec<(u64, u8, u64)> {
        self.with(|g| g.callbacks.clone())
    }

    /// Second callbacks refused with 40060.
    pub fn double_acks(&self) -> usize {
        self.with(|g| g.double_acks)
    }

    /// Callbacks refused for coming after the ack deadline.
    pub fn late_acks(&self) -> usize {
        self.with(|g| g.late_acks)
    }

    pub fn threads(&self) -> Vec<Thread> {
        self.with(|g| g.threads.clone())
    }

    /// (thread, user) of `PUT /channels/{thread}/thread-members/{user}`.
    pub fn thread_members(&self) -> Vec<(u64, u64)> {
        self.with(|g| g.thread_members.clone())
    }

    pub fn commands(&self) -> Vec<Registered> {
        self.with(|g| g.commands.clone())
    }

    /// Typing indicators triggered in `channel`.
    pub fn typing(&self, channel: u64) -> usize {
        self.with(|g| g.typing.get(&channel).copied().unwrap_or(0))
    }

    /// Creates answered with an earlier message because of enforce_nonce.
    pub fn deduped(&self) -> usize {
        self.with(|g| g.deduped)
    }

    /// Requests refused with a global 429 for going over
    /// `DcConfig::global_per_sec`.
    pub fn global_limited(&self) -> usize {
        self.with(|g| g.global_limited)
    }

    /// Dispatches lost because no session could take them.
    pub fn dropped_events(&self) -> usize {
        self.with(|g| g.dropped_events)
    }

    /// 429s served (injected).
    pub fn rate_limited(&self) -> usize {
        self.with(|g| g.rate_limited)
    }

    /// Injected faults served, of any kind.
    pub fn faults_served(&self) -> usize {
        self.with(|g| g.faults_served)
    }

    /// "METHOD /path" of requests no route knew.
    pub fn unknown_routes(&self) -> Vec<String> {
        self.with(|g| g.unknown.clone())
    }

    /// Whether thread `id` is archived now.
    pub fn thread_archived(&self, id: u64) -> bool {
        self.with(|g| g.archived.contains(&id))
    }

    /// Threads deleted with `DELETE /channels/{id}`.
    pub fn deleted_channels(&self) -> Vec<u64> {
        self.with(|g| g.deleted_channels.clone())
    }

    /// The DM channel the double uses for `user` (from events or
    /// `POST /users/@me/channels`).
    pub fn dm_channel_of(&self, user: u64) -> Option<u64> {
        self.with(|g| g.dm_by_user.get(&user).copied())
    }

    /// Waits until `f` holds; false after `within`.
    pub async fn wait_for(&self, f: impl Fn(&DcDouble) -> bool, within: Duration) -> bool {
        let end = Instant::now() + within;
        loop {
            if f(self) {
                return true;
            }
            if Instant::now() > end {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until `channel` holds at least `n` of the bot's messages.
    pub async fn wait_messages_in(&self, channel: u64, n: usize, within: Duration) -> bool {
        self.wait_for(|d| d.messages_in(channel).len() >= n, within)
            .await
    }
}
