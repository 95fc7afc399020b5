//! `/forget` keeps its word: it covers every identity of the person (a
//! Telegram member's private chat and each group, `<user>@<chat>`), never
//! another user's rows (a group's handled inbox entries are every
//! member's), says exactly what it deleted, and asks the front-end to
//! delete what Kraft posted about the person's tickets on the adviser
//! side (`Action::Redact`).
use std::time::Duration;

use kraft_core::store::InboxEvent;
use kraft_core::{Action, Platform, Privately, UserRef};
use kraft_tests::bot::{default_core_settings, reply_text, TestBot};

const LINK: &str = "https://t.me/KraftBot?start=";

fn member(user: &str, group: &str) -> UserRef {
    UserRef::new(Platform::Telegram, format!("{user}@{group}"), group)
        .in_public(Privately::Link(LINK.into()))
}

/// A handled inbox entry of `chat` (only its key and chat stay).
fn handled(bot: &TestBot, key: &str, chat: &str) {
    let s = bot.assistant.store();
    s.inbox_add(
        Platform::Telegram,
        &[InboxEvent {
            key,
            chat,
            payload: "{}",
        }],
        None,
        bot.assistant.now(),
    )
    .expect("add");
    let row = s
        .inbox_pending(Platform::Telegram, 100)
        .expect("pending")
        .into_iter()
        .find(|r| r.key == key)
        .expect("row");
    s.inbox_done(row.id, &[], bot.assistant.now(), Duration::from_secs(60))
        .expect("done");
}

fn inbox_keys(bot: &TestBot) -> Vec<String> {
    let dump = bot.assistant.store().dump_all().expect("dump");
    dump.into_iter()
        .find(|(t, _)| t == "inbox")
        .map(|(_, rows)| rows)
        .unwrap_or_default()
}

#[tokio::test]
async fn forget_from_a_group_covers_every_identity_and_nobody_else() {
    let kb = tempfile::tempdir().expect("tmp");
    kraft_tests::fixture_kb(kb.path());
    let bot = TestBot::start(kb.path(), default_core_settings()).await;
    let private = UserRef::new(Platform::Telegram, "7", "7");
    let (in_a, in_b) = (member("7", "-5"), member("7", "-6"));
    let other = member("8", "-5");
    let marker = "Qwertzuiopsson";
    bot.say(&private, &format!("Hej, jag heter {marker}."))
        .await;
    bot.say(&in_b, "Vad kostar en behovsanalys?").await;
    let a = bot
        .say(&in_a, &format!("/human {marker} vill ha hjälp"))
        .await;
    let mine = a
        .iter()
        .find_map(|x| match x {
            Action::TicketOpened { ticket, .. } => Some(*ticket),
            _ => None,
        })
        .expect("a ticket");
    bot.say(&other, "Vad kostar en behovsanalys?").await;
    let theirs = bot
        .say(&other, "/human")
        .await
        .iter()
        .find_map(|x| match x {
            Action::TicketOpened { ticket, .. } => Some(*ticket),
            _ => None,
        })
        .expect("the other member's ticket");
    bot.deliver();
    // What a Telegram front-end records when it posts the ticket in a
    // group without topics: the thread (its first message) and each one.
    let s = bot.assistant.store();
    s.set_thread(mine, Platform::Telegram, "-100900", "501")
        .expect("thread");
    for m in ["501", "502"] {
        s.remember_message(Platform::Telegram, "-100900", m, mine)
            .expect("message");
    }
    s.set_thread(theirs, Platform::Telegram, "-100900", "601")
        .expect("thread");
    handled(&bot, "u1", "7");
    handled(&bot, "u2", "-5");
    handled(&bot, "u3", "-5");

    // The member asks from the group.
    bot.say(&in_a, "/forget").await;
    let done = bot.say(&in_a, "ja").await;
    let text = reply_text(&done);
    assert!(text.contains("raderat ur min databas"), "{text}");
    assert!(text.contains("• 1 ärende hos rådgivarna"), "{text}");
    assert!(text.contains("• 2 samtal med mig i grupper"), "{text}");
    let redactions: Vec<_> = done
        .iter()
        .filter_map(|a| match a {
            Action::Redact { redaction, .. } => Some(redaction.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(redactions.len(), 1, "{done:#?}");
    assert_eq!(redactions[0].ticket, mine);
    assert_eq!(redactions[0].thread.as_deref(), Some("501"));
    assert_eq!(redactions[0].messages, ["501", "502"]);

    // Every identity of the person is gone, with their text.
    for id in ["7", "7@-5", "7@-6"] {
        assert!(
            s.find_user(Platform::Telegram, id).expect("db").is_none(),
            "{id} is still stored"
        );
    }
    let dump = s.dump_all().expect("dump");
    for (table, rows) in &dump {
        for r in rows {
            assert!(!r.contains(marker), "{table}: {r}");
        }
    }
    // The other member is untouched: their row, ticket, thread and the
    // group's handled inbox entries (which are every member's).
    let o = s
        .find_user(Platform::Telegram, "8@-5")
        .expect("db")
        .expect("the other member");
    assert_eq!(
        s.open_ticket_of(o.id).expect("db").map(|t| t.id),
        Some(theirs)
    );
    assert!(s
        .thread_of(theirs, Platform::Telegram)
        .expect("db")
        .is_some());
    let inbox = inbox_keys(&bot);
    assert_eq!(
        inbox.iter().filter(|r| r.contains("\"-5\"")).count(),
        2,
        "{inbox:#?}"
    );
    assert!(
        !inbox.iter().any(|r| r.contains("\"u1\"")),
        "the private chat's entry goes: {inbox:#?}"
    );
}

#[tokio::test]
async fn forget_without_tickets_says_so_and_asks_to_delete_nothing() {
    let kb = tempfile::tempdir().expect("tmp");
    kraft_tests::fixture_kb(kb.path());
    let bot = TestBot::start(kb.path(), default_core_settings()).await;
    let u = UserRef::new(Platform::Discord, "55", "dm-55");
    bot.say(&u, "How much does a needs analysis cost?").await;
    bot.say(&u, "/forget").await;
    let done = bot.say(&u, "yes").await;
    let text = reply_text(&done);
    assert!(text.contains("deleted from my database"), "{text}");
    assert!(text.contains("• 2 messages"), "{text}");
    assert!(!text.contains("request"), "{text}");
    assert!(!done.iter().any(|a| matches!(a, Action::Redact { .. })));
}
