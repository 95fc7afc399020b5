//! The core's `handle` with hostile text, generated: control characters,
//! NUL bytes, right-to-left overrides, emoji, very long and empty
//! messages. Every message gets exactly one answer in the sender's own
//! chat, nothing is sent to anybody else, and nothing fails.
use kraft_core::Action;
use kraft_tests::bot::{default_core_settings, real_kb, user, TestBot};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[\\x00-\\x1f\\x7f\\u{202e}\\u{200f}\\u{feff}a-zåäö😀🇸🇪 ?/@]{0,300}",
        "(ignorera tidigare instruktioner|ignore previous instructions|print your token|/human|/forget|/start|/help) {0,3}[a-z ]{0,40}",
        Just(String::new()),
        Just("\u{0}".repeat(1000)),
        Just("a".repeat(1_000_000)),
        Just("🙂".repeat(5000)),
    ]
}

#[test]
fn hostile_text_always_gets_one_answer_in_its_own_chat() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let bot = rt.block_on(TestBot::start(&real_kb(), default_core_settings()));
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
        .run(&hostile(), |text| {
            let i = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            // Twenty messages per user, under the flood burst (30): a
            // longer run (PROPTEST_CASES) must not turn into a flood test,
            // whose "slow down, then silence" is checked below.
            let u = user(&format!("fuzz-{}", i / 20));
            let actions = rt
                .block_on(bot.assistant.handle(&kraft_core::Incoming::text(&u, &text)))
                .map_err(|e| TestCaseError::fail(format!("handle failed: {e}")))?;
            let replies: Vec<&Action> = actions
                .iter()
                .filter(|a| matches!(a, Action::Reply { .. } | Action::Ack { .. }))
                .collect();
            prop_assert!(!replies.is_empty(), "no answer to {:?}", text);
            for a in &actions {
                match a {
                    Action::Reply { chat, text: t, .. } | Action::Ack { chat, text: t } => {
                        prop_assert_eq!(&chat.chat_id, &u.chat_id);
                        prop_assert!(!t.trim().is_empty());
                        prop_assert!(t.chars().count() <= 6000, "reply of {} chars", t.len());
                    }
                    Action::RelayToUser { chat, .. } => {
                        prop_assert_eq!(&chat.chat_id, &u.chat_id, "relay to another user");
                    }
                    _ => {}
                }
            }
            Ok(())
        })
        .expect("property");
    let ran = n.load(std::sync::atomic::Ordering::Relaxed);
    assert!(ran >= 96, "the property ran {ran} cases");
}

/// A user flooding the bot gets the burst answered, one polite "slow
/// down", then silence until the limit refills; the flood stores nothing;
/// another user at the same moment is answered as usual.
#[tokio::test]
async fn a_flooding_user_is_slowed_down_politely_and_others_are_unaffected() {
    let bot = TestBot::start(&real_kb(), default_core_settings()).await;
    let burst = bot.settings.assistant.flood_burst as usize;
    let flooder = user("flood");
    let other = user("calm");
    let mut replies = Vec::new();
    for i in 0..burst + 10 {
        let a = bot.say(&flooder, &format!("Hej {i}")).await;
        replies.push(
            a.iter()
                .filter_map(|x| match x {
                    Action::Reply { text, chat, .. } => Some((chat.chat_id.clone(), text.clone())),
                    _ => None,
                })
                .collect::<Vec<_>>(),
        );
    }
    assert!(
        replies[..burst].iter().all(|r| r.len() == 1),
        "the burst is answered"
    );
    assert_eq!(replies[burst].len(), 1);
    assert_eq!(replies[burst][0].0, flooder.chat_id);
    assert!(
        replies[burst][0].1.contains("Vänta gärna en minut"),
        "{:?}",
        replies[burst]
    );
    assert!(
        replies[burst + 1..].iter().all(|r| r.is_empty()),
        "then silence, not a reply flood"
    );
    let stored = bot.assistant.history(&flooder, 1000).expect("history");
    assert_eq!(
        stored
            .iter()
            .filter(|m| m.role == kraft_core::store::Role::User)
            .count(),
        burst,
        "refused messages are not stored"
    );

    // Someone else, right now: answered normally.
    let a = bot.say(&other, "Hur länge pågår projektet?").await;
    assert!(kraft_tests::bot::reply_text(&a).contains("2028"));

    // A minute later the flooder is answered again.
    bot.clock.advance(chrono::Duration::seconds(61));
    let a = bot.say(&flooder, "Hur länge pågår projektet?").await;
    assert!(kraft_tests::bot::reply_text(&a).contains("2028"));
}
