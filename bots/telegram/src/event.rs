//! Reading a Telegram update: who wrote, in which role (SME or adviser),
//! and what. Pure: no requests, so every case is unit-tested.
use kraft_core::{Input, Platform, Privately, UserRef};
use teloxide::types::{
    CallbackQuery, ChatId, Message, MessageId, MessageKind, Update, UpdateKind, UserId,
};

/// What the bot knows about itself and its adviser group.
#[derive(Debug, Clone)]
pub struct Context {
    pub bot_id: UserId,
    /// Without the `@`.
    pub bot_username: String,
    pub adviser_group: Option<ChatId>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// An SME's message or button press for the core.
    Sme {
        user: UserRef,
        input: Input,
        /// In a group, answers reply to the message that asked.
        reply_to: Option<MessageId>,
        /// A callback to answer (stops the button's spinner).
        callback: Option<String>,
    },
    /// A member of the adviser group pressed a ticket button.
    AdviserButton {
        from: UserId,
        name: String,
        callback: String,
        data: String,
    },
    /// A message in the adviser group: maybe a reply to a ticket.
    AdviserMessage {
        from: UserId,
        name: String,
        message: MessageId,
        /// Forum topic the message was posted in.
        thread: Option<i32>,
        /// The message it replies to (reply-thread groups).
        reply_to: Option<MessageId>,
        text: Option<String>,
    },
    /// Nothing to do (service messages, other bots, group chatter…).
    Ignore(&'static str),
}

/// The chat an update belongs to, for per-chat ordering.
pub fn chat_key(u: &Update) -> String {
    match &u.kind {
        UpdateKind::Message(m) => m.chat.id.0.to_string(),
        UpdateKind::CallbackQuery(q) => q
            .message
            .as_ref()
            .map(|m| m.chat().id.0.to_string())
            .unwrap_or_else(|| format!("u{}", q.from.id.0)),
        _ => "other".into(),
    }
}

pub fn classify(u: &Update, ctx: &Context) -> Event {
    match &u.kind {
        UpdateKind::Message(m) => message(m, ctx),
        UpdateKind::CallbackQuery(q) => callback(q, ctx),
        _ => Event::Ignore("update kind"),
    }
}

fn display_name(u: &teloxide::types::User) -> String {
    match &u.username {
        Some(n) if u.first_name.trim().is_empty() => n.clone(),
        _ => u.full_name(),
    }
}

fn message(m: &Message, ctx: &Context) -> Event {
    let Some(from) = m.from.as_ref() else {
        return Event::Ignore("no sender");
    };
    if from.is_bot {
        return Event::Ignore("bot");
    }
    if Some(m.chat.id) == ctx.adviser_group {
        return Event::AdviserMessage {
            from: from.id,
            name: display_name(from),
            message: m.id,
            thread: if m.is_topic_message {
                m.thread_id.map(|t| t.0 .0)
            } else {
                None
            },
            reply_to: m.reply_to_message().map(|r| r.id),
            text: m.text().map(str::to_string),
        };
    }
    if !matches!(m.kind, MessageKind::Common(_)) {
        return Event::Ignore("service message");
    }
    let private = m.chat.is_private();
    let input = match m.text() {
        Some(t) => {
            if private {
                Input::Text(strip_command_suffix(t, &ctx.bot_username))
            } else {
                match addressed(m, t, ctx) {
                    Some(t) => Input::Text(t),
                    None => return Event::Ignore("group message not for the bot"),
                }
            }
        }
        None => {
            if !private && !replies_to_bot(m, ctx) {
                return Event::Ignore("group media not for the bot");
            }
            Input::Unsupported(media_kind(m).into())
        }
    };
    Event::Sme {
        user: sme(from.id, m.chat.id, private, ctx).with_locale(from.language_code.as_deref()),
        input,
        reply_to: (!private).then_some(m.id),
        callback: None,
    }
}

/// In a group, each member's conversation with the bot is its own: the
/// answers go to the group where it was asked. An adviser conversation
/// never does: a bot cannot start a private chat on Telegram, so the
/// member gets a link (`t.me/<bot>?start=<token>`) that opens one.
fn sme(user: UserId, chat: ChatId, private: bool, ctx: &Context) -> UserRef {
    if private {
        return UserRef::new(Platform::Telegram, user.0.to_string(), chat.0.to_string());
    }
    let privately = if ctx.bot_username.is_empty() {
        // No username, no link: the private chat is the user's id, which
        // works once the user has started the bot (otherwise the send is
        // refused and the adviser is told).
        Privately::At(user.0.to_string())
    } else {
        Privately::Link(format!("https://t.me/{}?start=", ctx.bot_username))
    };
    UserRef::new(
        Platform::Telegram,
        format!("{}@{}", user.0, chat.0),
        chat.0.to_string(),
    )
    .in_public(privately)
}

fn replies_to_bot(m: &Message, ctx: &Context) -> bool {
    m.reply_to_message()
        .and_then(|r| r.from.as_ref())
        .is_some_and(|u| u.id == ctx.bot_id)
}

/// The text of a group message meant for the bot (mention, command for
/// the bot, or reply to the bot), without the mention; None otherwise.
fn addressed(m: &Message, text: &str, ctx: &Context) -> Option<String> {
    let at = format!("@{}", ctx.bot_username);
    // Found in the original text, not in a lower-cased copy: lower-casing
    // changes byte lengths ("İ" is 2 bytes, "i̇" 3), so an offset found in
    // the copy can fall outside, or inside a character of, the original.
    if let Some(pos) = find_ascii_ci(text, &at).filter(|_| !ctx.bot_username.is_empty()) {
        // Commands like /help@kraftbot keep their slash.
        let mut t = String::with_capacity(text.len());
        t.push_str(&text[..pos]);
        t.push_str(&text[pos + at.len()..]);
        let t = t.split_whitespace().collect::<Vec<_>>().join(" ");
        return Some(t);
    }
    let mentions_bot = m.mentioned_users().any(|u| u.id == ctx.bot_id);
    if mentions_bot || replies_to_bot(m, ctx) {
        return Some(text.to_string());
    }
    None
}

/// The byte offset of the first ASCII-case-insensitive match of `needle`
/// in `haystack`. Telegram usernames are ASCII, and an ASCII byte never
/// occurs inside a multi-byte UTF-8 character, so a match of an ASCII
/// needle starts and ends on character boundaries of `haystack`.
fn find_ascii_ci(haystack: &str, needle: &str) -> Option<usize> {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    if n.is_empty() || !needle.is_ascii() || h.len() < n.len() {
        return None;
    }
    (0..=h.len() - n.len()).find(|&i| h[i..i + n.len()].eq_ignore_ascii_case(n))
}

fn strip_command_suffix(text: &str, bot: &str) -> String {
    if let Some(rest) = text.strip_prefix('/') {
        let (cmd, tail) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        if let Some((c, to)) = cmd.split_once('@') {
            if to.eq_ignore_ascii_case(bot) {
                return format!("/{c}{}{tail}", if tail.is_empty() { "" } else { " " });
            }
        }
    }
    text.to_string()
}

fn media_kind(m: &Message) -> &'static str {
    if m.photo().is_some() {
        "photo"
    } else if m.sticker().is_some() {
        "sticker"
    } else if m.voice().is_some() {
        "voice"
    } else if m.document().is_some() {
        "document"
    } else if m.video().is_some() || m.video_note().is_some() || m.animation().is_some() {
        "video"
    } else if m.audio().is_some() {
        "audio"
    } else if m.location().is_some() {
        "location"
    } else if m.contact().is_some() {
        "contact"
    } else {
        "other"
    }
}

fn callback(q: &CallbackQuery, ctx: &Context) -> Event {
    let Some(data) = q.data.clone() else {
        return Event::Ignore("callback without data");
    };
    let chat = q.message.as_ref().map(|m| m.chat().clone());
    if let (Some(c), Some(g)) = (&chat, ctx.adviser_group) {
        if c.id == g {
            return Event::AdviserButton {
                from: q.from.id,
                name: display_name(&q.from),
                callback: q.id.0.clone(),
                data,
            };
        }
    }
    let Some(chat) = chat else {
        return Event::Ignore("callback without message");
    };
    Event::Sme {
        user: sme(q.from.id, chat.id, chat.is_private(), ctx)
            .with_locale(q.from.language_code.as_deref()),
        input: Input::Button(data),
        reply_to: None,
        callback: Some(q.id.0.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context {
        Context {
            bot_id: UserId(42),
            bot_username: "KraftBot".into(),
            adviser_group: Some(ChatId(-1001)),
        }
    }

    fn update(v: serde_json::Value) -> Update {
        // From text, as on the wire: teloxide's `Update` does not read
        // message kinds from a `serde_json::Value` (it falls back to Error).
        serde_json::from_str(&v.to_string()).expect("update json")
    }

    fn msg(chat: serde_json::Value, extra: serde_json::Value) -> Update {
        let mut m = serde_json::json!({
            "message_id": 5, "date": 1_700_000_000,
            "chat": chat,
            "from": {"id": 7, "is_bot": false, "first_name": "Ann", "language_code": "sv"},
        });
        if let (Some(o), Some(e)) = (m.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                o.insert(k.clone(), v.clone());
            }
        }
        update(serde_json::json!({"update_id": 1, "message": m}))
    }

    fn private() -> serde_json::Value {
        serde_json::json!({"id": 7, "type": "private", "first_name": "Ann"})
    }

    fn group(id: i64) -> serde_json::Value {
        serde_json::json!({"id": id, "type": "supergroup", "title": "G"})
    }

    #[test]
    fn private_text_and_commands_for_this_bot() {
        match classify(
            &msg(private(), serde_json::json!({"text": "/help@KraftBot"})),
            &ctx(),
        ) {
            Event::Sme {
                user,
                input,
                reply_to,
                ..
            } => {
                assert_eq!(user.user_id, "7");
                assert_eq!(user.chat_id, "7");
                assert_eq!(user.privately, Privately::Here);
                assert_eq!(input, Input::Text("/help".into()));
                assert_eq!(reply_to, None);
            }
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn group_messages_only_when_mentioned_and_per_member() {
        let e = classify(
            &msg(group(-5), serde_json::json!({"text": "hej alla"})),
            &ctx(),
        );
        assert!(matches!(e, Event::Ignore(_)));
        match classify(
            &msg(
                group(-5),
                serde_json::json!({"text": "@kraftbot vad kostar det?"}),
            ),
            &ctx(),
        ) {
            Event::Sme {
                user,
                input,
                reply_to,
                ..
            } => {
                assert_eq!(input, Input::Text("vad kostar det?".into()));
                assert_eq!(user.user_id, "7@-5");
                assert_eq!(user.chat_id, "-5");
                // Adviser conversations move to a private chat by a link.
                assert_eq!(
                    user.privately,
                    Privately::Link("https://t.me/KraftBot?start=".into())
                );
                assert_eq!(reply_to, Some(MessageId(5)));
            }
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn a_mention_after_case_changing_characters_is_cut_out_exactly() {
        // "İ" lower-cases to 3 bytes, "ẞ" to 2, "K" (Kelvin) to 1, "Σ"
        // stays 2: byte offsets in a lower-cased copy are not offsets in
        // the original text.
        for (text, want) in [
            ("İ @KraftBot hej", "İ hej"),
            ("İİİİ @kraftbot", "İİİİ"),
            ("ẞ @KRAFTBOT vad kostar det?", "ẞ vad kostar det?"),
            ("ΟΔΟΣ e\u{301} @KraftBot", "ΟΔΟΣ e\u{301}"),
            ("\u{212A}\u{212A} @KraftBot x", "\u{212A}\u{212A} x"),
            ("/help@KraftBot", "/help"),
        ] {
            match classify(&msg(group(-5), serde_json::json!({ "text": text })), &ctx()) {
                Event::Sme { input, .. } => assert_eq!(input, Input::Text(want.into()), "{text:?}"),
                e => panic!("{text:?}: {e:?}"),
            }
        }
        // Not a mention of this bot: no match by Unicode case folding.
        let e = classify(
            &msg(
                group(-5),
                serde_json::json!({"text": "@\u{212A}raftBot hej"}),
            ),
            &ctx(),
        );
        assert!(matches!(e, Event::Ignore(_)), "{e:?}");
    }

    #[test]
    fn media_is_unsupported_input() {
        let e = classify(
            &msg(
                private(),
                serde_json::json!({"photo": [{"file_id": "a", "file_unique_id": "b", "width": 1, "height": 1}]}),
            ),
            &ctx(),
        );
        assert!(
            matches!(&e, Event::Sme { input: Input::Unsupported(k), .. } if k == "photo"),
            "{e:?}"
        );
    }

    #[test]
    fn adviser_group_messages_and_buttons_are_adviser_events() {
        let e = classify(
            &msg(
                group(-1001),
                serde_json::json!({"text": "Hej!", "message_thread_id": 9, "is_topic_message": true}),
            ),
            &ctx(),
        );
        assert!(
            matches!(&e, Event::AdviserMessage { thread: Some(9), text: Some(t), .. } if t == "Hej!"),
            "{e:?}"
        );
        let q = update(serde_json::json!({"update_id": 2, "callback_query": {
            "id": "cb1", "chat_instance": "x", "data": "claim:3",
            "from": {"id": 8, "is_bot": false, "first_name": "Eva"},
            "message": {"message_id": 3, "date": 1_700_000_000, "chat": group(-1001), "text": "t"}
        }}));
        assert!(matches!(
            classify(&q, &ctx()),
            Event::AdviserButton { data, .. } if data == "claim:3"
        ));
    }
}

#[cfg(test)]
mod robustness {
    //! Whatever JSON arrives (from Telegram, a proxy, or an attacker on the
    //! webhook), reading it never panics, and a text never becomes an
    //! adviser action outside the adviser group.
    use super::*;
    use proptest::prelude::*;

    fn ctx() -> Context {
        Context {
            bot_id: UserId(42),
            bot_username: "KraftBot".into(),
            adviser_group: Some(ChatId(-1001)),
        }
    }

    /// Characters whose case mapping changes their length or is special:
    /// "İ" (2 bytes, lower case 3), "ẞ" (3 → "ß" 2), final and medial
    /// sigma, the Kelvin sign (3 → "k" 1), "ŉ" (upper case two chars),
    /// combining marks, the Turkish dotless i, ligatures.
    const CASE_TRAPS: &str =
        "[İıiIẞßΣσςKkŉﬁǅ\u{0301}\u{0308}\u{0307}\u{212A}\u{2126}åÅäÄöÖ@/ a-zA-Z😀]";

    fn any_text() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "[\\x00-\\x1f\\u{202e}\\u{200f}@/a-zA-Z0-9 åäö😀]{0,200}",
            traps(60),
            (traps(30), mention(), traps(30)).prop_map(|(a, m, b)| format!("{a}{m}{b}")),
            Just("@KraftBot".to_string()),
            Just("İ @KraftBot hej".to_string()),
            Just("/help@KraftBot extra".to_string()),
            Just("/".to_string()),
            Just("\u{0}".repeat(10)),
        ]
    }

    /// Up to `max` characters of `CASE_TRAPS`.
    fn traps(max: usize) -> impl Strategy<Value = String> {
        proptest::string::string_regex(&format!("{CASE_TRAPS}{{0,{max}}}")).expect("a valid regex")
    }

    /// "@KraftBot" in any mix of upper and lower case.
    fn mention() -> impl Strategy<Value = String> {
        proptest::collection::vec(any::<bool>(), 8).prop_map(|up| {
            let name: String = "kraftbot"
                .chars()
                .zip(up)
                .map(|(c, u)| if u { c.to_ascii_uppercase() } else { c })
                .collect();
            format!("@{name}")
        })
    }

    proptest! {
        // PROPTEST_CASES raises the count for a longer run (RELIABILITY.md).
        #![proptest_config(ProptestConfig::with_cases(
            std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(300)
        ))]

        #[test]
        fn any_message_text_in_any_chat_is_read_without_panicking(
            text in any_text(),
            chat in prop_oneof![Just(7i64), Just(-5i64), Just(-1001i64), any::<i64>()],
            from in any::<u32>(),
            thread in proptest::option::of(any::<i32>()),
            kind in prop_oneof![Just("private"), Just("group"), Just("supergroup"), Just("channel")],
        ) {
            let mut m = serde_json::json!({
                "message_id": 1, "date": 1_700_000_000,
                "chat": {"id": chat, "type": kind, "title": "t", "first_name": "f"},
                "from": {"id": from, "is_bot": false, "first_name": "x"},
                "text": text,
            });
            if let (Some(t), Some(o)) = (thread, m.as_object_mut()) {
                o.insert("message_thread_id".into(), t.into());
                o.insert("is_topic_message".into(), true.into());
            }
            let raw = serde_json::json!({"update_id": 1, "message": m}).to_string();
            let u: Update = serde_json::from_str(&raw).expect("a valid update");
            let e = classify(&u, &ctx());
            if chat != -1001 {
                let adviser = matches!(
                    e,
                    Event::AdviserButton { .. } | Event::AdviserMessage { .. }
                );
                prop_assert!(!adviser);
            }
            if kind == "private" && chat != -1001 {
                // Really read as a message, not as teloxide's fallback.
                let is_text = matches!(&e, Event::Sme { input: Input::Text(_), .. });
                prop_assert!(is_text, "{:?}", e);
            }
            prop_assert_eq!(chat_key(&u), chat.to_string());
        }

        #[test]
        fn a_mention_is_cut_out_of_any_text_around_it(
            before in traps(40),
            at in mention(),
            after in traps(40),
        ) {
            // The first mention is the one removed; keep it the only one.
            prop_assume!(find_ascii_ci(&before, "@kraftbot").is_none());
            let text = format!("{before}{at}{after}");
            let raw = serde_json::json!({"update_id": 1, "message": {
                "message_id": 1, "date": 1_700_000_000,
                "chat": {"id": -5, "type": "supergroup", "title": "G"},
                "from": {"id": 9, "is_bot": false, "first_name": "x"},
                "text": text,
            }}).to_string();
            let u: Update = serde_json::from_str(&raw).expect("a valid update");
            let want = format!("{before}{after}")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            match classify(&u, &ctx()) {
                Event::Sme { input: Input::Text(t), user, .. } => {
                    prop_assert_eq!(t, want);
                    prop_assert_eq!(user.user_id, "9@-5");
                }
                e => prop_assert!(false, "not read as addressed: {:?}", e),
            }
        }

        #[test]
        fn arbitrary_bytes_as_an_update_never_panic(raw in any::<Vec<u8>>(), s in any::<String>()) {
            for input in [raw.as_slice(), s.as_bytes()] {
                if let Ok(u) = serde_json::from_slice::<Update>(input) {
                    let _ = classify(&u, &ctx());
                    let _ = chat_key(&u);
                }
            }
        }

        #[test]
        fn callback_data_is_passed_on_not_acted_upon_outside_the_group(
            data in any::<String>(),
            chat in prop_oneof![Just(7i64), Just(-5i64)],
        ) {
            let raw = serde_json::json!({"update_id": 2, "callback_query": {
                "id": "q", "chat_instance": "c", "data": data,
                "from": {"id": 9, "is_bot": false, "first_name": "M"},
                "message": {"message_id": 3, "date": 1_700_000_000,
                            "chat": {"id": chat, "type": "supergroup", "title": "G"}, "text": "t"}
            }}).to_string();
            let u: Update = serde_json::from_str(&raw).expect("valid callback");
            match classify(&u, &ctx()) {
                Event::Sme { input: Input::Button(d), .. } => prop_assert_eq!(d, data),
                e => prop_assert!(false, "unexpected {:?}", e),
            }
        }
    }
}
