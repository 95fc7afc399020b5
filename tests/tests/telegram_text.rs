//! Telegram text through the whole path a real update takes before the
//! core answers it: the update's JSON, read by teloxide, classified by the
//! Telegram front-end (mention stripping, per-member group identities),
//! then `Assistant::handle`. The text is generated around the characters
//! whose case mapping changes their length or is special (İ, ẞ, Σ/ς, the
//! Kelvin sign, combining marks), with the bot's @mention in any case at
//! any place. Each addressed message gets an answer in its own chat, the
//! mention is cut out exactly, and nothing panics.
use kraft_core::{Action, Incoming, Input};
use kraft_telegram::{classify, Context, Event};
use kraft_tests::bot::{default_core_settings, TestBot};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use teloxide::types::{ChatId, Update, UserId};

const BOT: &str = "KraftTestBot";
const TRAPS: &str = "[İıiIẞßΣσςKkŉﬁǅ\u{0301}\u{0308}\u{0307}\u{212A}\u{2126}åÅäÄöÖ?@/ a-zA-Z😀]";

/// Up to `max` characters of `TRAPS`.
fn traps(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("{TRAPS}{{0,{max}}}")).expect("a valid regex")
}

/// "@KraftTestBot" in any mix of upper and lower case.
fn mention() -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<bool>(), BOT.len()).prop_map(|up| {
        let name: String = BOT
            .chars()
            .zip(up)
            .map(|(c, u)| {
                if u {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect();
        format!("@{name}")
    })
}

#[derive(Debug, Clone)]
struct Case {
    before: String,
    mention: Option<String>,
    after: String,
    group: bool,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop_oneof![traps(40), Just("İ".to_string()), Just("ΟΔΟΣ ẞ".to_string())],
        proptest::option::weighted(0.8, mention()),
        prop_oneof![
            traps(40),
            Just(" hej".to_string()),
            Just(" vad kostar det?".to_string())
        ],
        any::<bool>(),
    )
        .prop_map(|(before, mention, after, group)| Case {
            before,
            mention,
            after,
            group,
        })
}

fn update(c: &Case, n: u32) -> Update {
    let text = format!(
        "{}{}{}",
        c.before,
        c.mention.as_deref().unwrap_or(""),
        c.after
    );
    let from = 10_000 + i64::from(n);
    let chat = if c.group {
        serde_json::json!({"id": -100_500, "type": "supergroup", "title": "SME group"})
    } else {
        serde_json::json!({"id": from, "type": "private", "first_name": "U"})
    };
    let raw = serde_json::json!({"update_id": n, "message": {
        "message_id": n, "date": 1_700_000_000, "chat": chat,
        "from": {"id": from, "is_bot": false, "first_name": "U"},
        "text": text,
    }})
    .to_string();
    serde_json::from_str(&raw).expect("a valid update")
}

#[test]
fn case_changing_and_multi_byte_text_goes_from_update_to_answer() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let tmp = tempfile::tempdir().expect("tmp");
    kraft_tests::fixture_kb(tmp.path());
    let bot = rt.block_on(TestBot::start(tmp.path(), default_core_settings()));
    let ctx = Context {
        bot_id: UserId(4242),
        bot_username: BOT.into(),
        adviser_group: Some(ChatId(-100_999)),
    };
    let mut runner = TestRunner::new(Config {
        // PROPTEST_CASES raises the count for a longer run (RELIABILITY.md).
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(96),
        ..Config::default()
    });
    let n = std::sync::atomic::AtomicU32::new(0);
    runner
        .run(&case(), |c| {
            let i = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let u = update(&c, i + 1);
            let (user, input) = match classify(&u, &ctx) {
                Event::Sme { user, input, .. } => (user, input),
                Event::Ignore(_) => {
                    // Only a group message without a mention is left alone.
                    let mentioned = c.mention.is_some()
                        || format!("{}{}", c.before, c.after)
                            .to_ascii_lowercase()
                            .contains("@krafttestbot");
                    prop_assert!(c.group && !mentioned, "{:?} ignored", c);
                    return Ok(());
                }
                e => return Err(TestCaseError::fail(format!("{c:?}: {e:?}"))),
            };
            if c.group {
                prop_assert!(user.user_id.ends_with("@-100500"), "{}", user.user_id);
                prop_assert_eq!(&user.chat_id, "-100500");
                if c.mention.is_some() && !c.before.to_ascii_lowercase().contains("@krafttestbot") {
                    let want = format!("{}{}", c.before, c.after)
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" ");
                    prop_assert_eq!(&input, &Input::Text(want));
                }
            }
            let actions = rt
                .block_on(bot.assistant.handle(&Incoming {
                    user: user.clone(),
                    input,
                }))
                .map_err(|e| TestCaseError::fail(format!("handle failed: {e}")))?;
            let replies = actions
                .iter()
                .filter(|a| matches!(a, Action::Reply { .. } | Action::Ack { .. }))
                .count();
            prop_assert!(replies >= 1, "no answer to {:?}", c);
            for a in &actions {
                if let Action::Reply { chat, text, .. } | Action::Ack { chat, text } = a {
                    prop_assert_eq!(&chat.chat_id, &user.chat_id);
                    prop_assert!(!text.trim().is_empty());
                }
            }
            Ok(())
        })
        .expect("property");
    assert!(n.load(std::sync::atomic::Ordering::Relaxed) >= 96);
}
