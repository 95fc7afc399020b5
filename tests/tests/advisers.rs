//! Advisers are identified by their platform account, not by the name
//! the platform shows: two advisers called "Anna" are two advisers (one
//! cannot take over the other's ticket by claiming it), the same adviser
//! under a new name is still the same, and a long display name (Telegram
//! allows 64 characters for first and last name each) can act; it is
//! shortened for showing.
use kraft_core::buttons::TicketOp;
use kraft_core::{Adviser, Platform, UserRef};
use kraft_tests::bot::{default_core_settings, TestBot};

async fn bot_with_ticket() -> (tempfile::TempDir, TestBot, i64) {
    let kb = tempfile::tempdir().expect("tmp");
    kraft_tests::fixture_kb(kb.path());
    let bot = TestBot::start(kb.path(), default_core_settings()).await;
    let u = UserRef::new(Platform::Telegram, "77", "77");
    bot.say(&u, "/human").await;
    let id = bot
        .assistant
        .store()
        .open_ticket_of(
            bot.assistant
                .store()
                .find_user(Platform::Telegram, "77")
                .expect("db")
                .expect("user")
                .id,
        )
        .expect("db")
        .expect("ticket")
        .id;
    bot.deliver();
    (kb, bot, id)
}

#[tokio::test]
async fn two_advisers_with_the_same_name_do_not_share_a_claim() {
    let (_kb, bot, id) = bot_with_ticket().await;
    let desk = bot.assistant.desk();
    let anna = Adviser::on(Platform::Telegram, 501, "Anna");
    let other_anna = Adviser::on(Platform::Telegram, 502, "Anna");
    let note = desk
        .act(TicketOp::Claim, id, anna.clone())
        .expect("claimed");
    assert!(note.contains("tas av Anna"), "{note}");
    // The other Anna is told it is taken, and nothing changes.
    let refused = desk
        .act(TicketOp::Claim, id, other_anna.clone())
        .expect_err("taken by someone else");
    assert!(refused.contains("har redan tagits av Anna"), "{refused}");
    let t = bot.assistant.store().ticket(id).expect("db").expect("t");
    assert_eq!(t.adviser_id.as_deref(), Some("telegram:501"));
    // Taking over needs force, as for any other adviser.
    desk.claim(id, other_anna, true).expect("forced");
    let t = bot.assistant.store().ticket(id).expect("db").expect("t");
    assert_eq!(t.adviser_id.as_deref(), Some("telegram:502"));
    // The first Anna, renamed, is still herself: her claim is refused now
    // (the ticket is the other Anna's), not a no-op.
    let renamed = Adviser::on(Platform::Telegram, 501, "Anna Svensson");
    assert!(desk.act(TicketOp::Claim, id, renamed).is_err());
    // The same account under a new name claiming its own ticket: a no-op.
    let same = Adviser::on(Platform::Telegram, 502, "Anna B.");
    desk.claim(id, same, false).expect("own ticket");
}

#[tokio::test]
async fn a_long_display_name_can_act_and_is_shortened_for_showing() {
    let (_kb, bot, id) = bot_with_ticket().await;
    let desk = bot.assistant.desk();
    let long = format!(
        "{} {}",
        "Maximiliana".repeat(5),
        "Vonderhaus-Lindqvist".repeat(3)
    );
    assert!(long.chars().count() > 100);
    let adviser = Adviser::on(Platform::Telegram, 601, &long);
    desk.act(TicketOp::Claim, id, adviser.clone())
        .expect("a long name can claim");
    let r = desk
        .reply(id, adviser, "Hej! Jag hjälper dig.", Some("m1"))
        .expect("and reply");
    let shown = r.ticket.adviser.expect("name");
    assert_eq!(shown.chars().count(), 40, "{shown}");
    assert!(shown.ends_with('…'), "{shown}");
    let out = bot.deliver();
    assert!(
        out.iter().any(|a| matches!(a,
            kraft_core::Action::RelayToUser { text, .. } if text.contains(&shown) && text.contains("Jag hjälper dig"))),
        "{out:#?}"
    );
    // `kraft tickets --as` keeps its rule: a typed name of 1–40 characters.
    assert!(desk.claim(id, "", true).is_err());
    assert!(desk.claim(id, "x".repeat(41).as_str(), true).is_err());
}

/// With opening hours set, a ticket opened after hours tells the user
/// when an adviser is next at work (in Stockholm time); one opened during
/// them does not.
#[tokio::test]
async fn a_ticket_opened_after_hours_says_when_to_expect_an_answer() {
    let kb = tempfile::tempdir().expect("tmp");
    kraft_tests::fixture_kb(kb.path());
    let mut settings = default_core_settings();
    settings.escalation.opening_hours = "mon-fri 08:00-17:00".into();
    let bot = TestBot::start(kb.path(), settings).await;
    // Friday 27 November 2026, 10:00 in Stockholm.
    let r = kraft_tests::bot::reply_text(
        &bot.say(&UserRef::new(Platform::Telegram, "81", "81"), "/human")
            .await,
    );
    assert!(r.contains("#1") && !r.contains("🕒"), "{r}");
    // The same Friday at 20:00: Monday morning.
    bot.clock.advance(chrono::Duration::hours(10));
    let r = kraft_tests::bot::reply_text(
        &bot.say(&UserRef::new(Platform::Telegram, "82", "82"), "/human")
            .await,
    );
    assert!(
        r.contains("🕒 Rådgivarna är inte på plats just nu. Räkna med svar tidigast måndag 30 november kl. 08:00."),
        "{r}"
    );
    let r = kraft_tests::bot::reply_text(
        &bot.say(
            &UserRef::new(Platform::Telegram, "83", "83"),
            "Can I talk to a person please?",
        )
        .await,
    );
    assert!(r.contains("Monday 30 November at 08:00"), "{r}");
}
