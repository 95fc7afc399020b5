//! A per-person cap on tickets: "/human" then "cancel", over and over,
//! would open a ticket (and an adviser topic or thread) each time. After
//! `escalation.max_tickets_per_day` tickets in 24 hours the user is told
//! politely, in their language, and the advisers hear nothing; the cap
//! counts a Telegram member's group and private identities together.
use kraft_core::{Action, Platform, UserRef};
use kraft_tests::bot::{default_core_settings, reply_text, TestBot};

/// The small fixture knowledge base, in a temp dir kept as long as `.0`.
fn fixture_kb_dir() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tmp");
    kraft_tests::fixture_kb(dir.path());
    let p = dir.path().to_path_buf();
    (dir, p)
}

fn opened(actions: &[Action]) -> bool {
    actions
        .iter()
        .any(|a| matches!(a, Action::TicketOpened { .. }))
}

fn to_advisers(actions: &[Action]) -> usize {
    actions
        .iter()
        .filter(|a| matches!(a, Action::NotifyAdvisers { .. }))
        .count()
}

/// "/human", then the cancel button: one ticket opened and withdrawn.
async fn open_and_cancel(bot: &TestBot, u: &UserRef) {
    let a = bot.say(u, "/human").await;
    assert!(opened(&a), "{a:#?}");
    bot.press(u, "ticket:cancel").await;
}

#[tokio::test]
async fn the_fourth_ticket_in_a_day_is_refused_politely_in_both_languages() {
    let (_kb, kb) = fixture_kb_dir();
    let bot = TestBot::start(&kb, default_core_settings()).await;
    assert_eq!(bot.settings.escalation.max_tickets_per_day, 3);
    let sv = UserRef::new(Platform::Telegram, "11", "11");
    for _ in 0..3 {
        open_and_cancel(&bot, &sv).await;
    }
    let a = bot.say(&sv, "/human").await;
    assert!(!opened(&a) && to_advisers(&a) == 0, "{a:#?}");
    let t = reply_text(&a);
    assert!(t.contains("som går på ett dygn (3 st)"), "{t}");
    assert!(t.contains("i morgon"), "{t}");
    // Asking in words is the same request.
    let a = bot.say(&sv, "Jag vill prata med en människa").await;
    assert!(!opened(&a) && to_advisers(&a) == 0, "{a:#?}");

    let en = UserRef::new(Platform::Discord, "12", "dm-12");
    bot.say(&en, "How do I sign up my company for a needs analysis?")
        .await;
    for _ in 0..3 {
        open_and_cancel(&bot, &en).await;
    }
    let t = reply_text(&bot.say(&en, "I want to talk to a human").await);
    assert!(t.contains("as one day allows (3)"), "{t}");

    // A day later the user may ask again.
    bot.clock.advance(chrono::Duration::hours(25));
    let a = bot.say(&sv, "/human").await;
    assert!(opened(&a), "{a:#?}");
}

#[tokio::test]
async fn a_telegram_members_group_and_private_tickets_count_together() {
    let (_kb, kb) = fixture_kb_dir();
    let bot = TestBot::start(&kb, default_core_settings()).await;
    let private = UserRef::new(Platform::Telegram, "21", "21");
    let in_group = UserRef::new(Platform::Telegram, "21@-900", "-900").in_public(
        kraft_core::Privately::Link("https://t.me/KraftBot?start=".into()),
    );
    let other = UserRef::new(Platform::Telegram, "210", "210");
    open_and_cancel(&bot, &private).await;
    open_and_cancel(&bot, &in_group).await;
    open_and_cancel(&bot, &private).await;
    let a = bot.say(&in_group, "/human").await;
    assert!(!opened(&a), "the fourth, from the group: {a:#?}");
    // Someone else (whose id merely starts with the same digits) is not
    // affected.
    assert!(opened(&bot.say(&other, "/human").await));
}

#[tokio::test]
async fn the_limit_is_configurable_and_zero_means_none() {
    let (_kb, kb) = fixture_kb_dir();
    let mut settings = default_core_settings();
    settings.escalation.max_tickets_per_day = 1;
    let bot = TestBot::start(&kb, settings.clone()).await;
    let u = UserRef::new(Platform::Telegram, "31", "31");
    open_and_cancel(&bot, &u).await;
    let t = reply_text(&bot.say(&u, "/human").await);
    assert!(t.contains("(1 st)"), "{t}");

    settings.escalation.max_tickets_per_day = 0;
    let bot = TestBot::start(&kb, settings).await;
    for _ in 0..6 {
        open_and_cancel(&bot, &u).await;
    }
}
