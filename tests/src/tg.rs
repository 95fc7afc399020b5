//! A Telegram Bot API double on 127.0.0.1 for end-to-end tests of the real
//! teloxide client. It keeps an update queue with Telegram's confirmation
//! rule (an update is gone once a `getUpdates` offset passes it), answers
//! the methods Kraft uses with the Bot API's JSON shapes, records what was
//! sent, enforces Telegram's rate limits (answering 429 with `retry_after`
//! when a bot exceeds them, and counting it), and injects faults: 429s,
//! 5xx, dropped connections (before or after the request took effect) and
//! redelivered updates. It refuses what Telegram refuses, with Telegram's
//! error JSON: a message to a closed forum topic (400 TOPIC_CLOSED) or a
//! deleted one (400 "message thread not found"), any request to a group
//! upgraded to a supergroup (400 with `parameters.migrate_to_chat_id`), a
//! group the bot was kicked from (403), callback data over 64 bytes
//! (400 BUTTON_DATA_INVALID), and `getUpdates` while a webhook is set (409
//! "Conflict: can't use getUpdates method while webhook is active").
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};
use tokio::sync::Notify;

pub const BOT_ID: i64 = 4242;
pub const BOT_USERNAME: &str = "KraftTestBot";

#[derive(Debug, Clone)]
pub enum Fault {
    /// 429 Too Many Requests with `retry_after` seconds.
    TooMany(u32),
    /// 502 Bad Gateway.
    ServerError,
    /// The connection closes before a response is complete.
    Drop,
    /// An error Telegram gives for this request, e.g. 400 "Bad Request:
    /// message can't be deleted" (a bot's group message after 48 hours).
    Refuse(u16, &'static str),
    /// The request takes effect, then the connection closes before the
    /// response: the client cannot know it worked (as after a crash).
    DropAfter,
}

/// A message the bot sent.
#[derive(Debug, Clone)]
pub struct Sent {
    pub message_id: i64,
    pub chat: i64,
    pub text: String,
    pub parse_mode: Option<String>,
    pub thread: Option<i64>,
    pub reply_to: Option<i64>,
    /// Callback data of the inline keyboard, row by row flattened.
    pub buttons: Vec<String>,
    pub button_labels: Vec<String>,
    pub at: Instant,
    /// Deleted since (deleteMessage, or its forum topic deleted).
    pub deleted: bool,
    /// Links in the text as the user sees them: (visible text, address).
    pub links: Vec<(String, String)>,
    /// Every text the message has shown, first to last (editMessageText
    /// adds one).
    pub versions: Vec<String>,
}

/// The rate limits the double enforces, as Telegram documents them.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub per_chat_per_sec: usize,
    pub per_chat_per_min: usize,
    pub per_group_per_min: usize,
    pub overall_per_sec: usize,
    /// Clock slack: two requests the bot timed one second apart may
    /// arrive a little closer; windows are shortened by this much.
    pub slack: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            per_chat_per_sec: 1,
            per_chat_per_min: 20,
            per_group_per_min: 20,
            overall_per_sec: 30,
            slack: Duration::from_millis(100),
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    next_update: i64,
    next_message: i64,
    next_thread: i64,
    queue: VecDeque<Value>,
    /// Every update ever queued, by id (for redelivery).
    all: HashMap<i64, Value>,
    redeliver: Vec<Value>,
    sent: Vec<Sent>,
    chat_actions: Vec<(i64, String)>,
    callback_answers: Vec<(String, Option<String>)>,
    commands: Vec<(Option<String>, Vec<String>)>,
    topics: Vec<(i64, i64, String)>,
    /// Forum topics deleted with deleteForumTopic: (chat, thread).
    deleted_topics: Vec<(i64, i64)>,
    /// Forum topics an adviser deleted by hand: (chat, thread).
    gone_topics: HashSet<(i64, i64)>,
    /// Forum topics closed (by an adviser): (chat, thread).
    closed_topics: HashSet<(i64, i64)>,
    /// Groups upgraded to a supergroup: old id → new id.
    migrated: HashMap<i64, i64>,
    /// Groups the bot was kicked from.
    kicked: HashSet<i64>,
    members: HashMap<(i64, i64), String>,
    /// Administrator rights that are off, per (chat, user); every other
    /// right of an administrator is on.
    denied: HashMap<(i64, i64), Vec<String>>,
    /// Users' app languages (`language_code`); "sv" when not set.
    languages: HashMap<i64, String>,
    forums: HashSet<i64>,
    blocked: HashSet<i64>,
    faults: Vec<(String, Fault, usize)>,
    sends: VecDeque<(i64, Instant)>,
    /// Messages per chat (cheap to poll under load).
    counts: HashMap<i64, usize>,
    violations: usize,
    rate_limited: usize,
    calls: HashMap<String, usize>,
    webhook: Option<(String, Option<String>)>,
}

#[derive(Clone)]
struct Shared {
    token: String,
    limits: Limits,
    inner: Arc<Mutex<Inner>>,
    updates: Arc<Notify>,
}

pub struct TgDouble {
    addr: SocketAddr,
    shared: Shared,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for TgDouble {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn ok(result: Value) -> Response {
    axum::Json(json!({"ok": true, "result": result})).into_response()
}

fn err(code: u16, description: &str) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST);
    (
        status,
        axum::Json(json!({"ok": false, "error_code": code, "description": description})),
    )
        .into_response()
}

/// Telegram's answer to any request naming a group that was upgraded to
/// a supergroup.
fn migrated(to: i64) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({
            "ok": false, "error_code": 400,
            "description": "Bad Request: group chat was upgraded to a supergroup chat",
            "parameters": {"migrate_to_chat_id": to}
        })),
    )
        .into_response()
}

fn too_many(after: u32) -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        axum::Json(json!({
            "ok": false, "error_code": 429,
            "description": format!("Too Many Requests: retry after {after}"),
            "parameters": {"retry_after": after}
        })),
    )
        .into_response()
}

/// Headers go out, then the body fails: the client sees the connection
/// break mid-response. The Discord double uses it too.
pub(crate) fn dropped() -> Response {
    let stream = futures::stream::once(async {
        Err::<axum::body::Bytes, std::io::Error>(std::io::Error::other("dropped"))
    });
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

fn chat_json(id: i64, forum: bool) -> Value {
    if id > 0 {
        json!({"id": id, "type": "private", "first_name": format!("User{id}")})
    } else if forum {
        json!({"id": id, "type": "supergroup", "title": format!("Group{id}"), "is_forum": true})
    } else {
        json!({"id": id, "type": "supergroup", "title": format!("Group{id}")})
    }
}

fn user_json(id: i64, name: &str) -> Value {
    json!({"id": id, "is_bot": false, "first_name": name, "language_code": "sv"})
}

fn bot_json() -> Value {
    json!({"id": BOT_ID, "is_bot": true, "first_name": "Kraft", "username": BOT_USERNAME})
}

fn as_i64(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

/// Text fields of a multipart/form-data body (teloxide sends requests that
/// may carry files, e.g. setWebhook, as multipart), as a JSON object.
fn multipart_fields(content_type: &str, body: &[u8]) -> Option<Value> {
    let boundary = content_type.split("boundary=").nth(1)?.trim_matches('"');
    let text = String::from_utf8_lossy(body);
    let mut out = serde_json::Map::new();
    for part in text.split(&format!("--{boundary}")) {
        let Some((head, value)) = part.split_once("\r\n\r\n") else {
            continue;
        };
        let Some(name) = head
            .split("name=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
        else {
            continue;
        };
        let v = value.strip_suffix("\r\n").unwrap_or(value);
        out.insert(name.to_string(), Value::String(v.to_string()));
    }
    Some(Value::Object(out))
}

async fn api(
    State(s): State<Shared>,
    Path((bot, method)): Path<(String, String)>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    // Bot API method names are case-insensitive (teloxide sends "GetMe").
    let method = method.to_ascii_lowercase();
    if bot != format!("bot{}", s.token) {
        return err(401, "Unauthorized");
    }
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let p: Value = if body.is_empty() {
        json!({})
    } else if ct.starts_with("multipart/form-data") {
        match multipart_fields(&ct, &body) {
            Some(v) => v,
            None => return err(400, "Bad Request: invalid multipart"),
        }
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(_) => return err(400, "Bad Request: invalid JSON"),
        }
    };
    // Injected faults first.
    let mut drop_after = false;
    {
        let mut g = s.inner.lock().unwrap_or_else(|p| p.into_inner());
        *g.calls.entry(method.clone()).or_default() += 1;
        if let Some(i) = g
            .faults
            .iter()
            .position(|(m, _, n)| (m == &method || m == "*") && *n > 0)
        {
            let f = g.faults[i].1.clone();
            g.faults[i].2 -= 1;
            if g.faults[i].2 == 0 {
                g.faults.remove(i);
            }
            match f {
                Fault::TooMany(a) => return too_many(a),
                Fault::ServerError => return err(502, "Bad Gateway"),
                Fault::Drop => return dropped(),
                Fault::Refuse(code, description) => return err(code, description),
                Fault::DropAfter => drop_after = true,
            }
        }
        // A group's state, for every method that names it.
        if let Some(chat) = as_i64(&p["chat_id"]) {
            if let Some(to) = g.migrated.get(&chat) {
                return migrated(*to);
            }
            if g.kicked.contains(&chat) {
                return err(403, "Forbidden: bot was kicked from the supergroup chat");
            }
        }
    }
    let response = method_response(&s, &method, &p).await;
    if drop_after {
        return dropped();
    }
    response
}

async fn method_response(s: &Shared, method: &str, p: &Value) -> Response {
    match method {
        "getme" => ok(json!({
            "id": BOT_ID, "is_bot": true, "first_name": "Kraft", "username": BOT_USERNAME,
            "can_join_groups": true, "can_read_all_group_messages": false,
            "supports_inline_queries": false, "can_connect_to_business": false,
            "has_main_web_app": false
        })),
        "deletewebhook" => {
            s.inner.lock().unwrap_or_else(|p| p.into_inner()).webhook = None;
            ok(json!(true))
        }
        "setwebhook" => {
            let url = p["url"].as_str().unwrap_or_default().to_string();
            let secret = p["secret_token"].as_str().map(str::to_string);
            s.inner.lock().unwrap_or_else(|p| p.into_inner()).webhook = Some((url, secret));
            s.updates.notify_waiters();
            ok(json!(true))
        }
        "setmycommands" => {
            let names = p["commands"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|c| c["command"].as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            let lang = p["language_code"].as_str().map(str::to_string);
            s.inner
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .commands
                .push((lang, names));
            ok(json!(true))
        }
        "getchat" => {
            let id = as_i64(&p["chat_id"]).unwrap_or_default();
            let forum = s
                .inner
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .forums
                .contains(&id);
            let mut c = chat_json(id, forum);
            if let Some(o) = c.as_object_mut() {
                o.insert("accent_color_id".into(), json!(0));
                o.insert("max_reaction_count".into(), json!(11));
                o.insert(
                    "accepted_gift_types".into(),
                    json!({"unlimited_gifts": false, "limited_gifts": false,
                           "unique_gifts": false, "premium_subscription": false}),
                );
            }
            ok(c)
        }
        "getchatmember" => {
            let chat = as_i64(&p["chat_id"]).unwrap_or_default();
            let user = as_i64(&p["user_id"]).unwrap_or_default();
            let status = s
                .inner
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .members
                .get(&(chat, user))
                .cloned()
                .unwrap_or_else(|| "left".into());
            let mut m = json!({"status": status, "user": user_json(user, "Someone")});
            if let Some(o) = m.as_object_mut() {
                if status == "administrator" || status == "creator" {
                    o.insert("is_anonymous".into(), json!(false));
                }
                if status == "administrator" {
                    for f in [
                        "can_be_edited",
                        "can_manage_chat",
                        "can_change_info",
                        "can_delete_messages",
                        "can_manage_video_chats",
                        "can_invite_users",
                        "can_restrict_members",
                        "can_promote_members",
                        "can_post_stories",
                        "can_edit_stories",
                        "can_delete_stories",
                        "can_pin_messages",
                        "can_manage_topics",
                    ] {
                        o.insert(f.into(), json!(true));
                    }
                    let denied = s
                        .inner
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .denied
                        .get(&(chat, user))
                        .cloned()
                        .unwrap_or_default();
                    for f in denied {
                        o.insert(f, json!(false));
                    }
                }
            }
            ok(m)
        }
        "createforumtopic" => {
            let chat = as_i64(&p["chat_id"]).unwrap_or_default();
            let name = p["name"].as_str().unwrap_or_default().to_string();
            let mut g = s.inner.lock().unwrap_or_else(|p| p.into_inner());
            if !g.forums.contains(&chat) {
                return err(400, "Bad Request: the chat is not a forum");
            }
            g.next_thread += 1;
            let t = 1000 + g.next_thread;
            g.topics.push((chat, t, name.clone()));
            ok(json!({"message_thread_id": t, "name": name, "icon_color": 7322096}))
        }
        "sendchataction" => {
            let chat = as_i64(&p["chat_id"]).unwrap_or_default();
            let action = p["action"].as_str().unwrap_or_default().to_string();
            s.inner
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .chat_actions
                .push((chat, action));
            ok(json!(true))
        }
        "answercallbackquery" => {
            let id = p["callback_query_id"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let text = p["text"].as_str().map(str::to_string);
            s.inner
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .callback_answers
                .push((id, text));
            ok(json!(true))
        }
        "closeforumtopic" => {
            let chat = as_i64(&p["chat_id"]).unwrap_or_default();
            let thread = as_i64(&p["message_thread_id"]).unwrap_or_default();
            let mut g = s.inner.lock().unwrap_or_else(|p| p.into_inner());
            if !g.forums.contains(&chat) {
                return err(400, "Bad Request: the chat is not a forum");
            }
            if !topic_exists(&g, chat, thread) {
                return err(400, "Bad Request: message thread not found");
            }
            if !g.closed_topics.insert((chat, thread)) {
                return err(400, "Bad Request: TOPIC_NOT_MODIFIED");
            }
            ok(json!(true))
        }
        "reopenforumtopic" => {
            let chat = as_i64(&p["chat_id"]).unwrap_or_default();
            let thread = as_i64(&p["message_thread_id"]).unwrap_or_default();
            let mut g = s.inner.lock().unwrap_or_else(|p| p.into_inner());
            if !g.forums.contains(&chat) {
                return err(400, "Bad Request: the chat is not a forum");
            }
            if !topic_exists(&g, chat, thread) {
                return err(400, "Bad Request: message thread not found");
            }
            if !g.closed_topics.remove(&(chat, thread)) {
                return err(400, "Bad Request: TOPIC_NOT_MODIFIED");
            }
            ok(json!(true))
        }
        "deleteforumtopic" => {
            let chat = as_i64(&p["chat_id"]).unwrap_or_default();
            let thread = as_i64(&p["message_thread_id"]).unwrap_or_default();
            let mut g = s.inner.lock().unwrap_or_else(|p| p.into_inner());
            if !g.forums.contains(&chat) {
                return err(400, "Bad Request: the chat is not a forum");
            }
            if !g.topics.iter().any(|(c, t, _)| *c == chat && *t == thread)
                || g.deleted_topics.contains(&(chat, thread))
            {
                return err(400, "Bad Request: message thread not found");
            }
            g.deleted_topics.push((chat, thread));
            for m in g
                .sent
                .iter_mut()
                .filter(|m| m.chat == chat && m.thread == Some(thread))
            {
                m.deleted = true;
            }
            ok(json!(true))
        }
        "deletemessage" => {
            let chat = as_i64(&p["chat_id"]).unwrap_or_default();
            let id = as_i64(&p["message_id"]).unwrap_or_default();
            let mut g = s.inner.lock().unwrap_or_else(|p| p.into_inner());
            match g
                .sent
                .iter_mut()
                .find(|m| m.chat == chat && m.message_id == id && !m.deleted)
            {
                Some(m) => {
                    m.deleted = true;
                    ok(json!(true))
                }
                None => err(400, "Bad Request: message to delete not found"),
            }
        }
        "sendmessage" => send_message(s, p),
        "editmessagetext" => edit_message_text(s, p),
        "editmessagereplymarkup" => {
            let chat = as_i64(&p["chat_id"]).unwrap_or_default();
            let id = as_i64(&p["message_id"]).unwrap_or_default();
            let (buttons, labels) = keyboard_of(&p["reply_markup"]);
            let mut g = s.inner.lock().unwrap_or_else(|p| p.into_inner());
            let Some(m) = editable(&mut g, chat, id) else {
                return err(400, "Bad Request: message to edit not found");
            };
            if m.buttons == buttons && m.button_labels == labels {
                return err(
                    400,
                    "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message",
                );
            }
            m.buttons = buttons;
            m.button_labels = labels;
            let (text, thread) = (m.text.clone(), m.thread);
            let mut msg = json!({"message_id": id, "date": now_unix(),
                                 "chat": chat_json(chat, g.forums.contains(&chat)), "text": text});
            if let Some(t) = thread {
                msg["message_thread_id"] = json!(t);
            }
            ok(msg)
        }
        "getupdates" => get_updates(s, p).await,
        _ => err(404, "Not Found: method not found"),
    }
}

/// A forum topic that was made and is not deleted.
fn topic_exists(g: &Inner, chat: i64, thread: i64) -> bool {
    g.topics.iter().any(|(c, t, _)| *c == chat && *t == thread)
        && !g.deleted_topics.contains(&(chat, thread))
        && !g.gone_topics.contains(&(chat, thread))
}

/// The text a user sees and its links (visible text, address).
type Visible = (String, Vec<(String, String)>);

/// The text a user sees (and its links), or Telegram's refusal.
fn visible_text(text: &str, parse_mode: Option<&str>) -> Result<Visible, Box<Response>> {
    let v = match parse_mode {
        Some("HTML") => html_visible(text).ok_or_else(|| {
            Box::new(err(
                400,
                "Bad Request: can't parse entities: Unsupported start tag at byte offset 0",
            ))
        })?,
        _ => (text.to_string(), Vec::new()),
    };
    if v.0.trim().is_empty() {
        return Err(Box::new(err(400, "Bad Request: message text is empty")));
    }
    if v.0.encode_utf16().count() > 4096 {
        return Err(Box::new(err(400, "Bad Request: message is too long")));
    }
    Ok(v)
}

/// Buttons of an inline keyboard: (callback data, label) flattened.
fn keyboard_of(markup: &Value) -> (Vec<String>, Vec<String>) {
    let mut buttons = Vec::new();
    let mut labels = Vec::new();
    for row in markup["inline_keyboard"].as_array().into_iter().flatten() {
        for b in row.as_array().into_iter().flatten() {
            buttons.push(b["callback_data"].as_str().unwrap_or_default().to_string());
            labels.push(b["text"].as_str().unwrap_or_default().to_string());
        }
    }
    (buttons, labels)
}

/// The bot's message `id` in `chat`, if it is still there to edit.
fn editable(g: &mut Inner, chat: i64, id: i64) -> Option<&mut Sent> {
    g.sent
        .iter_mut()
        .find(|m| m.chat == chat && m.message_id == id && !m.deleted)
}

/// editMessageText: the text (and keyboard: none given, none kept, as
/// Telegram does) of a message the bot sent. Edits are not counted
/// against the sending limits (Telegram publishes none for them; Kraft
/// paces its own, see `telegram.draft_every_ms`).
fn edit_message_text(s: &Shared, p: &Value) -> Response {
    let chat = as_i64(&p["chat_id"]).unwrap_or_default();
    let id = as_i64(&p["message_id"]).unwrap_or_default();
    let text = p["text"].as_str().unwrap_or_default();
    let parse_mode = p["parse_mode"].as_str().map(str::to_string);
    let (visible, links) = match visible_text(text, parse_mode.as_deref()) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let (buttons, labels) = keyboard_of(&p["reply_markup"]);
    let mut g = s.inner.lock().unwrap_or_else(|p| p.into_inner());
    let forum = g.forums.contains(&chat);
    let Some(m) = editable(&mut g, chat, id) else {
        return err(400, "Bad Request: message to edit not found");
    };
    if m.text == visible && m.links == links && m.buttons == buttons && m.button_labels == labels {
        return err(
            400,
            "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message",
        );
    }
    m.text = visible.clone();
    m.links = links;
    m.parse_mode = parse_mode;
    m.buttons = buttons;
    m.button_labels = labels;
    m.versions.push(visible.clone());
    let mut msg = json!({"message_id": id, "date": now_unix(), "edit_date": now_unix(),
                         "chat": chat_json(chat, forum), "from": bot_json(), "text": visible});
    if let Some(t) = m.thread {
        msg["message_thread_id"] = json!(t);
    }
    if let Some(markup) = p.get("reply_markup") {
        msg["reply_markup"] = markup.clone();
    }
    ok(msg)
}

fn send_message(s: &Shared, p: &Value) -> Response {
    let Some(chat) = as_i64(&p["chat_id"]) else {
        return err(400, "Bad Request: chat_id is empty");
    };
    let text = p["text"].as_str().unwrap_or_default().to_string();
    if text.trim().is_empty() {
        return err(400, "Bad Request: message text is empty");
    }
    if text.encode_utf16().count() > 4096 * 2 {
        return err(400, "Bad Request: message is too long");
    }
    let parse_mode = p["parse_mode"].as_str().map(str::to_string);
    let (visible, links) = match visible_text(&text, parse_mode.as_deref()) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let mut g = s.inner.lock().unwrap_or_else(|p| p.into_inner());
    if g.blocked.contains(&chat) {
        return err(403, "Forbidden: bot was blocked by the user");
    }
    // Telegram checks the keyboard and the topic before anything is sent.
    let too_long = p["reply_markup"]["inline_keyboard"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_array)
        .flatten()
        .any(|b| b["callback_data"].as_str().is_some_and(|d| d.len() > 64));
    if too_long {
        return err(400, "Bad Request: BUTTON_DATA_INVALID");
    }
    if let Some(t) = as_i64(&p["message_thread_id"]) {
        if g.forums.contains(&chat) {
            if !topic_exists(&g, chat, t) {
                return err(400, "Bad Request: message thread not found");
            }
            if g.closed_topics.contains(&(chat, t)) {
                return err(400, "Bad Request: TOPIC_CLOSED");
            }
        }
    }
    // Rate limits, as Telegram applies them.
    let now = Instant::now();
    let l = s.limits;
    let sec = Duration::from_secs(1).saturating_sub(l.slack);
    let min = Duration::from_secs(60).saturating_sub(l.slack * 10);
    while g
        .sends
        .front()
        .is_some_and(|(_, t)| now.duration_since(*t) > Duration::from_secs(61))
    {
        g.sends.pop_front();
    }
    let in_chat_sec = g
        .sends
        .iter()
        .filter(|(c, t)| *c == chat && now.duration_since(*t) < sec)
        .count();
    let in_chat_min = g
        .sends
        .iter()
        .filter(|(c, t)| *c == chat && now.duration_since(*t) < min)
        .count();
    let overall = g
        .sends
        .iter()
        .filter(|(_, t)| now.duration_since(*t) < sec)
        .count();
    let per_min = if chat < 0 {
        l.per_group_per_min
    } else {
        l.per_chat_per_min
    };
    if in_chat_sec >= l.per_chat_per_sec || in_chat_min >= per_min || overall >= l.overall_per_sec {
        g.violations += 1;
        g.rate_limited += 1;
        return too_many(1);
    }
    g.sends.push_back((chat, now));
    let forum = g.forums.contains(&chat);
    g.next_message += 1;
    let id = g.next_message;
    let thread = as_i64(&p["message_thread_id"]);
    let reply_to = as_i64(&p["reply_parameters"]["message_id"]);
    let (buttons, labels) = keyboard_of(&p["reply_markup"]);
    *g.counts.entry(chat).or_default() += 1;
    g.sent.push(Sent {
        message_id: id,
        chat,
        text: visible.clone(),
        parse_mode,
        thread,
        reply_to,
        buttons,
        button_labels: labels,
        at: now,
        deleted: false,
        links,
        versions: vec![visible.clone()],
    });
    let mut m = json!({
        "message_id": id, "date": now_unix(), "chat": chat_json(chat, forum),
        "from": bot_json(), "text": visible,
    });
    if let (Some(t), Some(o)) = (thread, m.as_object_mut()) {
        o.insert("message_thread_id".into(), json!(t));
        o.insert("is_topic_message".into(), json!(true));
    }
    if let Some(markup) = p.get("reply_markup") {
        if let Some(o) = m.as_object_mut() {
            o.insert("reply_markup".into(), markup.clone());
        }
    }
    ok(m)
}

/// The text a user sees for an HTML message, and its links; None if it
/// does not parse (an unknown tag, a bare `<`/`&`, or a link without an
/// address, as Telegram rejects).
fn html_visible(s: &str) -> Option<Visible> {
    let mut out = String::new();
    let mut links = Vec::new();
    let mut open: Option<(usize, String)> = None;
    let mut rest = s;
    while let Some(i) = rest.find(['<', '&']) {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        if rest.starts_with('<') {
            let end = rest.find('>')?;
            let inner = &rest[1..end];
            if let Some(attrs) = inner.strip_prefix("a ") {
                let href = attrs.trim().strip_prefix("href=\"")?.strip_suffix('"')?;
                if open.is_some() || !(href.starts_with("http://") || href.starts_with("https://"))
                {
                    return None;
                }
                open = Some((out.len(), unescape(href)?));
            } else if inner == "/a" {
                let (at, href) = open.take()?;
                links.push((out[at..].to_string(), href));
            } else {
                let tag = inner.trim_start_matches('/');
                if !matches!(tag, "b" | "i" | "u" | "s" | "code" | "pre") {
                    return None;
                }
            }
            rest = &rest[end + 1..];
        } else {
            let end = rest.find(';')?;
            out.push(entity(&rest[..=end])?);
            rest = &rest[end + 1..];
        }
    }
    out.push_str(rest);
    open.is_none().then_some((out, links))
}

fn entity(e: &str) -> Option<char> {
    Some(match e {
        "&amp;" => '&',
        "&lt;" => '<',
        "&gt;" => '>',
        "&quot;" => '"',
        _ => return None,
    })
}

fn unescape(s: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let end = rest[i..].find(';')? + i;
        out.push(entity(&rest[i..=end])?);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

async fn get_updates(s: &Shared, p: &Value) -> Response {
    let offset = as_i64(&p["offset"]).unwrap_or(0);
    let timeout = as_i64(&p["timeout"]).unwrap_or(0).clamp(0, 50) as u64;
    let deadline = Instant::now() + Duration::from_secs(timeout);
    loop {
        let notified = s.updates.notified();
        {
            let mut g = s.inner.lock().unwrap_or_else(|p| p.into_inner());
            // Telegram refuses to poll a bot that has a webhook (updates go
            // there), and ends a pending long poll when one is set.
            if g.webhook.is_some() {
                return err(
                    409,
                    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
                );
            }
            // Confirmation: everything below the offset is forgotten.
            while g
                .queue
                .front()
                .is_some_and(|u| u["update_id"].as_i64().unwrap_or(0) < offset)
            {
                g.queue.pop_front();
            }
            let mut out: Vec<Value> = std::mem::take(&mut g.redeliver);
            out.extend(g.queue.iter().take(100).cloned());
            if !out.is_empty() || Instant::now() >= deadline {
                return ok(Value::Array(out));
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let _ = tokio::time::timeout(left, notified).await;
    }
}

impl TgDouble {
    pub async fn start(token: &str) -> TgDouble {
        Self::with_limits(token, Limits::default()).await
    }

    pub async fn with_limits(token: &str, limits: Limits) -> TgDouble {
        let shared = Shared {
            token: token.to_string(),
            limits,
            inner: Arc::new(Mutex::new(Inner {
                next_update: 100,
                ..Default::default()
            })),
            updates: Arc::new(Notify::new()),
        };
        let app = Router::new()
            .route("/{bot}/{method}", post(api))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the Telegram double");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TgDouble {
            addr,
            shared,
            server,
        }
    }

    /// What to put in `telegram.api_url`.
    pub fn api_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let mut g = self.shared.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g)
    }

    fn push(&self, kind: &str, body: Value) -> i64 {
        let id = self.with(|g| {
            g.next_update += 1;
            let id = g.next_update;
            let u = json!({"update_id": id, kind: body});
            g.all.insert(id, u.clone());
            g.queue.push_back(u);
            id
        });
        self.shared.updates.notify_waiters();
        id
    }

    fn next_message_id(&self) -> i64 {
        self.with(|g| {
            g.next_message += 1;
            g.next_message
        })
    }

    /// The `language_code` Telegram sends for `user` from now on (their
    /// app's language).
    pub fn set_language(&self, user: i64, code: &str) {
        self.with(|g| g.languages.insert(user, code.to_string()));
    }

    /// A User object for `user`, with their app language.
    fn from(&self, user: i64, name: &str) -> Value {
        let mut u = user_json(user, name);
        if let Some(code) = self.with(|g| g.languages.get(&user).cloned()) {
            u["language_code"] = json!(code);
        }
        u
    }

    /// A private message from user `user` (chat id = user id).
    pub fn user_says(&self, user: i64, text: &str) -> i64 {
        let id = self.next_message_id();
        let from = self.from(user, &format!("User{user}"));
        self.push(
            "message",
            json!({"message_id": id, "date": now_unix(), "chat": chat_json(user, false),
                   "from": from, "text": text}),
        )
    }

    /// Any other message shape from a user (photo, sticker…), merged in.
    pub fn user_sends(&self, user: i64, fields: Value) -> i64 {
        let id = self.next_message_id();
        let mut m = json!({"message_id": id, "date": now_unix(), "chat": chat_json(user, false),
                           "from": user_json(user, &format!("User{user}"))});
        if let (Some(o), Some(f)) = (m.as_object_mut(), fields.as_object()) {
            for (k, v) in f {
                o.insert(k.clone(), v.clone());
            }
        }
        self.push("message", m)
    }

    /// A message in a group; `thread` is a forum topic, `reply_to` a message.
    pub fn group_says(
        &self,
        group: i64,
        user: i64,
        name: &str,
        text: &str,
        thread: Option<i64>,
        reply_to: Option<&Sent>,
    ) -> i64 {
        let id = self.next_message_id();
        let forum = self.with(|g| g.forums.contains(&group));
        let from = self.from(user, name);
        let mut m = json!({"message_id": id, "date": now_unix(), "chat": chat_json(group, forum),
                           "from": from, "text": text});
        if let Some(o) = m.as_object_mut() {
            if let Some(t) = thread {
                o.insert("message_thread_id".into(), json!(t));
                o.insert("is_topic_message".into(), json!(true));
            }
            if let Some(r) = reply_to {
                o.insert(
                    "reply_to_message".into(),
                    json!({"message_id": r.message_id, "date": now_unix(),
                           "chat": chat_json(r.chat, forum), "from": bot_json(), "text": r.text}),
                );
            }
        }
        self.push("message", m)
    }

    /// `user` presses a button with `data` under the bot's message `on`.
    pub fn press(&self, user: i64, name: &str, on: &Sent, data: &str) -> i64 {
        let forum = self.with(|g| g.forums.contains(&on.chat));
        let qid = format!("cb{}", self.next_message_id());
        let from = self.from(user, name);
        self.push(
            "callback_query",
            json!({"id": qid, "chat_instance": "ci", "data": data,
                   "from": from,
                   "message": {"message_id": on.message_id, "date": now_unix(),
                               "chat": chat_json(on.chat, forum), "from": bot_json(),
                               "text": on.text}}),
        )
    }

    /// Telegram sends an already confirmed update again.
    pub fn redeliver(&self, update_id: i64) {
        self.with(|g| {
            if let Some(u) = g.all.get(&update_id).cloned() {
                g.redeliver.push(u);
            }
        });
        self.shared.updates.notify_waiters();
    }

    /// The raw JSON of an update (for posting it to a webhook).
    pub fn update_json(&self, update_id: i64) -> Option<Value> {
        self.with(|g| g.all.get(&update_id).cloned())
    }

    /// Takes an update out of the polling queue (it goes by webhook).
    pub fn take_update(&self, update_id: i64) -> Option<Value> {
        self.with(|g| {
            g.queue
                .retain(|u| u["update_id"].as_i64() != Some(update_id));
            g.all.get(&update_id).cloned()
        })
    }

    /// `status` with every right that status has (an administrator's
    /// rights all on).
    pub fn set_member(&self, group: i64, user: i64, status: &str) {
        self.with(|g| {
            g.denied.remove(&(group, user));
            g.members.insert((group, user), status.to_string())
        });
    }

    /// Makes `user` an administrator of `group` without the rights named
    /// (e.g. "can_manage_topics").
    pub fn set_admin_without(&self, group: i64, user: i64, rights: &[&str]) {
        self.with(|g| {
            g.members.insert((group, user), "administrator".to_string());
            g.denied.insert(
                (group, user),
                rights.iter().map(|r| r.to_string()).collect(),
            );
        });
    }

    pub fn set_forum(&self, group: i64) {
        self.with(|g| g.forums.insert(group));
    }

    pub fn block(&self, chat: i64) {
        self.with(|g| g.blocked.insert(chat));
    }

    /// An adviser closes a forum topic.
    pub fn close_topic(&self, chat: i64, thread: i64) {
        self.with(|g| g.closed_topics.insert((chat, thread)));
    }

    pub fn topic_closed(&self, chat: i64, thread: i64) -> bool {
        self.with(|g| g.closed_topics.contains(&(chat, thread)))
    }

    /// An adviser deletes a forum topic (not the bot: not in
    /// `deleted_topics`).
    pub fn delete_topic_by_hand(&self, chat: i64, thread: i64) {
        self.with(|g| g.gone_topics.insert((chat, thread)));
    }

    /// The group `from` is upgraded to the supergroup `to`: every request
    /// naming `from` is refused with `migrate_to_chat_id`.
    pub fn migrate(&self, from: i64, to: i64) {
        self.with(|g| g.migrated.insert(from, to));
    }

    /// The bot is removed from a group (`false`: added back).
    pub fn kick(&self, chat: i64, kicked: bool) {
        self.with(|g| {
            if kicked {
                g.kicked.insert(chat);
            } else {
                g.kicked.remove(&chat);
            }
        });
    }

    /// The next `n` calls of `method` ("*" = any) fail with `fault`.
    pub fn fault(&self, method: &str, fault: Fault, n: usize) {
        self.with(|g| g.faults.push((method.to_ascii_lowercase(), fault, n)));
    }

    /// Ends every injected fault (the outage is over).
    pub fn clear_faults(&self) {
        self.with(|g| g.faults.clear());
    }

    pub fn sent(&self) -> Vec<Sent> {
        self.with(|g| g.sent.clone())
    }

    pub fn sent_to(&self, chat: i64) -> Vec<Sent> {
        self.with(|g| g.sent.iter().filter(|s| s.chat == chat).cloned().collect())
    }

    pub fn chat_actions(&self, chat: i64) -> Vec<String> {
        self.with(|g| {
            g.chat_actions
                .iter()
                .filter(|(c, _)| *c == chat)
                .map(|(_, a)| a.clone())
                .collect()
        })
    }

    pub fn callback_answers(&self) -> Vec<(String, Option<String>)> {
        self.with(|g| g.callback_answers.clone())
    }

    pub fn commands(&self) -> Vec<(Option<String>, Vec<String>)> {
        self.with(|g| g.commands.clone())
    }

    pub fn topics(&self) -> Vec<(i64, i64, String)> {
        self.with(|g| g.topics.clone())
    }

    /// Forum topics deleted with deleteForumTopic: (chat, thread).
    pub fn deleted_topics(&self) -> Vec<(i64, i64)> {
        self.with(|g| g.deleted_topics.clone())
    }

    /// How many messages the bot has sent to `chat`.
    pub fn count_to(&self, chat: i64) -> usize {
        self.with(|g| g.counts.get(&chat).copied().unwrap_or(0))
    }

    /// Waits until at least `n` messages went to `chat`; false on timeout.
    pub async fn wait_count(&self, chat: i64, n: usize, within: Duration) -> bool {
        let end = Instant::now() + within;
        while self.count_to(chat) < n {
            if Instant::now() > end {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        true
    }

    /// sendMessage requests refused for exceeding a rate limit.
    pub fn violations(&self) -> usize {
        self.with(|g| g.violations)
    }

    pub fn calls(&self, method: &str) -> usize {
        self.with(|g| {
            g.calls
                .get(&method.to_ascii_lowercase())
                .copied()
                .unwrap_or(0)
        })
    }

    /// Updates not yet confirmed by a `getUpdates` offset.
    pub fn unconfirmed(&self) -> usize {
        self.with(|g| g.queue.len())
    }

    /// Sets or removes the bot's webhook as another deployment with the
    /// same token would (`setWebhook` / `deleteWebhook` from elsewhere).
    pub fn set_webhook_elsewhere(&self, url: Option<&str>) {
        self.with(|g| g.webhook = url.map(|u| (u.to_string(), None)));
        self.shared.updates.notify_waiters();
    }

    pub fn webhook(&self) -> Option<(String, Option<String>)> {
        self.with(|g| g.webhook.clone())
    }

    /// Waits until `f` holds on the sent messages, or panics after `within`.
    pub async fn wait_for(
        &self,
        within: Duration,
        what: &str,
        f: impl Fn(&[Sent]) -> bool,
    ) -> Vec<Sent> {
        let end = Instant::now() + within;
        loop {
            let sent = self.sent();
            if f(&sent) {
                return sent;
            }
            if Instant::now() > end {
                let dump: Vec<String> = sent
                    .iter()
                    .map(|s| format!("{} → {}: {:.80}", s.message_id, s.chat, s.text))
                    .collect();
                panic!(
                    "timed out waiting for {what}; sent so far:\n{}",
                    dump.join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// The bot token `kraft serve` is given for this double.
pub const TOKEN: &str = "123456:TEST-token_for-the-double";
