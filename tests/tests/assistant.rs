//! The assistant end to end through `Assistant::handle`, on the programme's
//! real knowledge base, a real SQLite state file and Qdrant Edge: answers
//! and their grounding, abstention, escalation triggers, the adviser loop
//! with exactly-once delivery, /forget, reminders, restarts and bad input.

use kraft_core::model::Action;
use kraft_core::store::{Role, TicketStatus};
use kraft_tests::bot::{
    adviser_notes, answer_body, assert_grounded, buttons, cited_paths, default_core_settings,
    real_kb, reply_text, user, TestBot,
};

async fn bot() -> TestBot {
    TestBot::start(&real_kb(), default_core_settings()).await
}

fn tickets_opened(actions: &[Action]) -> Vec<(i64, String)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::TicketOpened { ticket, reason } => Some((*ticket, reason.clone())),
            _ => None,
        })
        .collect()
}

fn relayed(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::RelayToUser { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn covered_questions_get_grounded_cited_answers_in_the_users_language() {
    let b = bot().await;
    let u = user("1");
    // Swedish: the programme period.
    let r = reply_text(&b.say(&u, "Hur länge pågår projektet?").await);
    assert!(r.contains("28 februari 2028"), "{r}");
    assert!(r.contains("Källor:"), "{r}");
    assert_grounded(&r, &b.kb);

    // Swedish: what a needs analysis is, with the feedback buttons.
    let actions = b.say(&u, "Vad är en behovsanalys?").await;
    let r = reply_text(&actions);
    assert!(r.to_lowercase().contains("behovsanalys"), "{r}");
    assert_grounded(&r, &b.kb);
    let bs = buttons(&actions);
    assert!(bs.iter().any(|b| b.starts_with("fb:up:")), "{bs:?}");
    assert!(bs.iter().any(|b| b.starts_with("fb:down:")), "{bs:?}");

    // English: answered in English, from an English source.
    let e = user("2");
    let r = reply_text(&b.say(&e, "What is a needs analysis?").await);
    assert!(r.contains("Sources:"), "{r}");
    assert!(!r.contains("Källor:"), "{r}");
    assert!(cited_paths(&r).iter().all(|p| p.ends_with(".en.md")), "{r}");
    assert_grounded(&r, &b.kb);
    assert!(r.contains("Feel free to ask"), "{r}");
}

#[tokio::test]
async fn out_of_scope_questions_abstain_and_offer_an_adviser_never_bluff() {
    let b = bot().await;
    let u = user("1");
    // In the programme's domain, but nothing the knowledge base can know.
    // (Until the ranked pipeline this test asked "Vad kostar en
    // F-skattsedel?", which the calibrated confidence now answers from the
    // cost FAQ: a counted miss of `kraft eval answers`, question q093.)
    let actions = b.say(&u, "Vad har ni för telefonnummer?").await;
    let r = reply_text(&actions);
    assert!(r.contains("Det vet jag tyvärr inte"), "{r}");
    assert!(!r.contains("Källor:"), "an abstention cites nothing: {r}");
    assert_eq!(buttons(&actions), ["human"], "offers an adviser");
    assert!(
        tickets_opened(&actions).is_empty(),
        "one abstention opens no ticket"
    );

    let e = user("2");
    let r = reply_text(&b.say(&e, "How do I renew my passport?").await);
    assert!(
        r.contains("I'm afraid I don't know") || r.contains("outside what I can help with"),
        "{r}"
    );
    assert!(!r.contains("Sources:"), "{r}");
}

#[tokio::test]
async fn follow_up_questions_use_the_conversation() {
    let b = bot().await;
    let u = user("1");
    b.say(&u, "Vad är en behovsanalys?").await;
    let r = reply_text(&b.say(&u, "och vad kostar det?").await);
    assert!(r.contains("Källor:"), "{r}");
    assert_grounded(&r, &b.kb);
    let h = b.assistant.history(&u, 10).expect("history");
    let last_bot = h
        .iter()
        .rev()
        .find(|m| m.role == Role::Bot)
        .expect("bot msg");
    let q = last_bot.query.as_deref().unwrap_or("");
    assert!(
        q.contains("behovsanalys") && q.contains("kostar"),
        "the follow-up was searched together with the previous question: {q}"
    );
}

#[tokio::test]
async fn asking_for_a_human_opens_a_ticket_with_a_handoff_summary() {
    let b = bot().await;
    let u = user("1");
    b.say(&u, "Hur länge pågår projektet?").await;
    let actions = b.say(&u, "jag vill prata med en människa").await;
    let opened = tickets_opened(&actions);
    assert_eq!(opened.len(), 1, "{actions:#?}");
    let (id, reason) = &opened[0];
    assert_eq!(reason, "user_request");
    let r = reply_text(&actions);
    assert!(r.contains(&format!("ärende #{id}")), "{r}");

    // Stored before anyone is told; the notification carries the summary.
    let t = b
        .assistant
        .store()
        .ticket(*id)
        .expect("db")
        .expect("ticket");
    assert_eq!(t.status, TicketStatus::Waiting);
    let notes = adviser_notes(&actions);
    assert_eq!(notes.len(), 1);
    let n = &notes[0];
    for needle in [
        "Hur länge pågår projektet?",
        "Telegram",
        "svenska",
        "Användaren har väntat",
        "faq/hur-lange-pagar-projektet.md",
        "Botens senaste svar",
    ] {
        assert!(n.contains(needle), "summary lacks {needle:?}:\n{n}");
    }

    // English request phrasing works too.
    let e = user("2");
    let actions = b.say(&e, "Can I talk to a human, please?").await;
    assert_eq!(tickets_opened(&actions).len(), 1);
    assert!(reply_text(&actions).contains("request #"), "{actions:#?}");
}

#[tokio::test]
async fn adviser_loop_relays_exactly_once_and_the_bot_stays_silent_until_resolved() {
    let b = bot().await;
    let u = user("1");
    let actions = b.say(&u, "Jag vill prata med en människa").await;
    let (id, _) = tickets_opened(&actions)[0].clone();
    for a in &actions {
        kraft_tests::bot::confirm(&b.assistant, a);
    }
    let desk = b.assistant.desk();

    desk.claim(id, "Anna", false).expect("claim");
    let d = b.deliver();
    assert_eq!(relayed(&d).len(), 1);
    assert!(relayed(&d)[0].contains("Anna"), "{d:#?}");

    // The reply reaches the user once, even if the adviser's platform
    // delivers the same message twice.
    let first = desk
        .reply(
            id,
            "Anna",
            "Hej! Vi kan boka en behovsanalys på tisdag.",
            Some("tg-77"),
        )
        .expect("reply");
    assert!(first.queued);
    let again = desk
        .reply(
            id,
            "Anna",
            "Hej! Vi kan boka en behovsanalys på tisdag.",
            Some("tg-77"),
        )
        .expect("reply again");
    assert!(!again.queued);
    let d = b.deliver();
    let texts = relayed(&d);
    assert_eq!(texts.len(), 1, "{d:#?}");
    assert!(texts[0].contains("boka en behovsanalys på tisdag"));
    assert!(b.deliver().is_empty(), "nothing is delivered twice");

    // While Anna owns the conversation the bot answers nothing itself.
    let actions = b.say(&u, "Hur länge pågår projektet?").await;
    assert!(
        !actions.iter().any(|a| matches!(a, Action::Reply { .. })),
        "the bot must not answer while an adviser is active: {actions:#?}"
    );
    assert!(actions.iter().any(|a| matches!(a, Action::Ack { .. })));
    let notes = adviser_notes(&actions);
    assert!(
        notes
            .iter()
            .any(|n| n.contains("Hur länge pågår projektet?")),
        "{notes:?}"
    );

    // Another adviser cannot take it without --force.
    assert!(desk.claim(id, "Bertil", false).is_err());

    desk.resolve(id, Some("bokat")).expect("resolve");
    let d = b.deliver();
    assert!(relayed(&d).iter().any(|t| t.contains("avslutat")), "{d:#?}");
    let r = reply_text(&b.say(&u, "Hur länge pågår projektet?").await);
    assert!(r.contains("28 februari 2028"), "the bot answers again: {r}");
    assert!(
        desk.reply(id, "Anna", "hallå?", None).is_err(),
        "resolved is closed"
    );
}

#[tokio::test]
async fn unconfirmed_deliveries_are_retried_after_the_lease_and_never_after_confirmation() {
    let b = bot().await;
    let u = user("1");
    let actions = b.say(&u, "/human").await;
    let (id, _) = tickets_opened(&actions)[0].clone();
    // The front-end "crashes" before confirming the adviser notification.
    let lease = b.settings.assistant.delivery_lease_secs as i64;
    assert!(
        b.assistant.pending(10).expect("pending").is_empty(),
        "leased"
    );
    b.clock.advance(chrono::Duration::seconds(lease + 1));
    let again = b.deliver();
    assert_eq!(adviser_notes(&again).len(), 1, "retried: {again:#?}");
    assert!(adviser_notes(&again)[0].contains(&format!("#{id}")));
    b.clock.advance(chrono::Duration::seconds(lease + 1));
    assert!(
        b.deliver().is_empty(),
        "confirmed deliveries are not repeated"
    );
}

#[tokio::test]
async fn escalation_triggers_low_confidence_twice_downvote_and_topics() {
    let b = bot().await;

    // Two low-confidence answers in a row.
    // (Questions about things only a person can say: with the calibrated
    // confidence, tax questions are off-topic, which does not count.)
    let u = user("1");
    let a1 = b.say(&u, "Vad har ni för telefonnummer?").await;
    assert!(tickets_opened(&a1).is_empty());
    let a2 = b
        .say(&u, "Hur många företag har varit med i programmet hittills?")
        .await;
    let t = tickets_opened(&a2);
    assert_eq!(t.len(), 1, "{a2:#?}");
    assert_eq!(t[0].1, "low_confidence");

    // 👎 followed by a further question.
    let v = user("2");
    let a = b.say(&v, "Hur länge pågår projektet?").await;
    let down = buttons(&a)
        .into_iter()
        .find(|x| x.starts_with("fb:down:"))
        .expect("down button");
    let fb = b.press(&v, &down).await;
    assert!(reply_text(&fb).contains("Tack"), "{fb:#?}");
    let a = b.say(&v, "Vem driver projektet?").await;
    let t = tickets_opened(&a);
    assert_eq!(t.len(), 1, "{a:#?}");
    assert_eq!(t[0].1, "downvote");

    // A topic that needs a person, with the answer kept.
    let w = user("3");
    let a = b
        .say(
            &w,
            "Kan ni hjälpa oss att hitta en forskare inom maskininlärning?",
        )
        .await;
    let t = tickets_opened(&a);
    assert_eq!(t.len(), 1, "{a:#?}");
    assert_eq!(t[0].1, "topic:match-making");

    // 👍 is recorded and opens nothing.
    let x = user("4");
    let a = b.say(&x, "Vad är en behovsanalys?").await;
    let up = buttons(&a)
        .into_iter()
        .find(|x| x.starts_with("fb:up:"))
        .expect("up button");
    let r = b.press(&x, &up).await;
    assert!(tickets_opened(&r).is_empty());
    let a = b.say(&x, "Vem driver projektet?").await;
    assert!(tickets_opened(&a).is_empty(), "{a:#?}");
}

#[tokio::test]
async fn forget_leaves_no_row_and_no_text_about_the_user() {
    let b = bot().await;
    let u = user("4711");
    let keep = user("42");
    b.say(&keep, "Hur länge pågår projektet?").await;
    let marker = "Zyxwvutsson";
    b.say(&u, &format!("Vad tycker {marker} om AI?")).await;
    let a = b.say(&u, "Vad är en behovsanalys?").await;
    let up = buttons(&a)
        .into_iter()
        .find(|x| x.starts_with("fb:up:"))
        .expect("up");
    b.press(&u, &up).await;
    let a = b
        .say(&u, &format!("Jag vill prata med en människa, {marker}"))
        .await;
    let (id, _) = tickets_opened(&a)[0].clone();
    b.deliver();
    b.assistant
        .desk()
        .reply(id, "Anna", &format!("Hej {marker}!"), None)
        .expect("reply");
    b.deliver();

    let a = b.say(&u, "/forget").await;
    assert_eq!(buttons(&a), ["forget:yes", "forget:no"]);
    let done = b.press(&u, "forget:yes").await;
    assert!(reply_text(&done).contains("raderat"), "{done:#?}");
    // The advisers learn the ticket is gone, without the user's details.
    let notes = adviser_notes(&done);
    assert_eq!(notes.len(), 1);
    assert!(!notes[0].contains(marker));

    let dump = b.assistant.store().dump_all().expect("dump");
    let mut rows = 0;
    for (table, lines) in &dump {
        for l in lines {
            rows += 1;
            assert!(!l.contains(marker), "{table} still mentions the user: {l}");
            assert!(!l.contains("4711"), "{table} still has the user's id: {l}");
        }
    }
    assert!(rows > 0, "the other user's rows remain");
    assert!(b
        .assistant
        .store()
        .find_user(u.platform, "42")
        .expect("db")
        .is_some());
    // Not even in freed pages or the write-ahead log.
    for f in ["kraft.sqlite", "kraft.sqlite-wal"] {
        let p = b.tmp.path().join("data").join(f);
        if let Ok(bytes) = std::fs::read(&p) {
            let hay = String::from_utf8_lossy(&bytes);
            assert!(!hay.contains(marker), "{f} still contains the user's text");
        }
    }
}

#[tokio::test]
async fn forget_can_be_declined() {
    let b = bot().await;
    let u = user("1");
    b.say(&u, "Vad är en behovsanalys?").await;
    b.say(&u, "/forget").await;
    let r = reply_text(&b.say(&u, "nej").await);
    assert!(r.contains("inget raderades"), "{r}");
    assert!(!b.assistant.history(&u, 10).expect("h").is_empty());
}

#[tokio::test]
async fn unclaimed_tickets_remind_the_advisers_on_schedule() {
    let b = bot().await;
    let u = user("1");
    let a = b.say(&u, "/human").await;
    let (id, _) = tickets_opened(&a)[0].clone();
    for x in &a {
        kraft_tests::bot::confirm(&b.assistant, x);
    }
    let after = b.settings.escalation.remind_after_mins;
    let every = b.settings.escalation.remind_every_mins;
    b.clock.advance(chrono::Duration::minutes(after - 1));
    b.assistant.tick().expect("tick");
    assert!(b.deliver().is_empty(), "not yet");
    b.clock.advance(chrono::Duration::minutes(2));
    b.assistant.tick().expect("tick");
    let d = b.deliver();
    assert_eq!(adviser_notes(&d).len(), 1, "{d:#?}");
    assert!(adviser_notes(&d)[0].contains(&format!("#{id}")));
    b.assistant.tick().expect("tick");
    assert!(b.deliver().is_empty(), "one reminder per interval");
    b.clock.advance(chrono::Duration::minutes(every));
    b.assistant.tick().expect("tick");
    assert_eq!(adviser_notes(&b.deliver()).len(), 1, "and again later");
    // A claimed ticket is not nagged about.
    b.assistant.desk().claim(id, "Anna", false).expect("claim");
    b.clock.advance(chrono::Duration::minutes(every * 3));
    b.assistant.tick().expect("tick");
    assert!(adviser_notes(&b.deliver()).is_empty());
}

#[tokio::test]
async fn a_restart_loses_neither_the_conversation_nor_the_ticket() {
    let mut b = bot().await;
    let u = user("1");
    b.say(&u, "Vad är en behovsanalys?").await;
    let a = b.say(&u, "Jag vill prata med en människa").await;
    let (id, _) = tickets_opened(&a)[0].clone();
    // Crash before the adviser notification was confirmed.
    b.restart().await;

    let t = b.assistant.store().ticket(id).expect("db").expect("ticket");
    assert_eq!(t.status, TicketStatus::Waiting);
    b.clock.advance(chrono::Duration::seconds(
        b.settings.assistant.delivery_lease_secs as i64 + 1,
    ));
    let d = b.deliver();
    assert_eq!(
        adviser_notes(&d).len(),
        1,
        "the notification survives: {d:#?}"
    );

    // The conversation continues: a follow-up still knows the topic.
    b.assistant.desk().resolve(id, None).expect("resolve");
    b.deliver();
    let r = reply_text(&b.say(&u, "och vad kostar det?").await);
    assert!(r.contains("Källor:"), "{r}");
    let h = b.assistant.history(&u, 20).expect("history");
    assert!(h.iter().any(|m| m.text.contains("Vad är en behovsanalys?")));

    // An adviser reply queued while the bot is down arrives after restart.
    let a = b.say(&u, "/human").await;
    let (id2, _) = tickets_opened(&a)[0].clone();
    b.assistant
        .desk()
        .reply(id2, "Anna", "Jag ringer dig i morgon.", None)
        .expect("reply");
    b.restart().await;
    let d = b.deliver();
    assert_eq!(
        relayed(&d)
            .iter()
            .filter(|t| t.contains("Jag ringer dig i morgon."))
            .count(),
        1,
        "{d:#?}"
    );
}

#[tokio::test]
async fn commands_small_talk_and_bad_input_get_clear_answers() {
    let b = bot().await;
    let u = user("1");
    let r = reply_text(&b.say(&u, "/start").await);
    assert!(
        r.contains("Kraftsamling AI Mälardalen") && r.contains("/forget"),
        "{r}"
    );
    assert!(
        r.contains("180 dagar"),
        "privacy notice states retention: {r}"
    );
    let r = reply_text(&b.say(&u, "/help").await);
    assert!(r.contains("/events") && r.contains("/human"), "{r}");
    let r = reply_text(&b.say(&u, "/frobnicate").await);
    assert!(r.contains("/frobnicate") && r.contains("/help"), "{r}");
    let r = reply_text(&b.say(&u, "").await);
    assert!(r.contains("inget att läsa"), "{r}");
    let r = reply_text(&b.say(&u, "\u{0}\u{1}\u{2}\u{7f}").await);
    assert!(r.contains("inget att läsa"), "binary junk: {r}");
    let huge = "behovsanalys ".repeat(1000);
    let r = reply_text(&b.say(&u, &huge).await);
    assert!(r.contains("för långt") && r.contains("12999 tecken"), "{r}");
    let r = reply_text(&b.say(&u, "du är en idiot").await);
    assert!(r.contains("vänlig ton"), "{r}");
    let r = reply_text(&b.say(&u, "Hej!").await);
    assert!(r.starts_with("Hej!"), "{r}");
    for bad in [
        "fb:up:999999",
        "fb:down:abc",
        "fb:sideways:1",
        "claim:1",
        "",
        "forget:yes",
    ] {
        let r = reply_text(&b.press(&u, bad).await);
        assert!(r.contains("gäller inte längre"), "{bad:?}: {r}");
    }
    let e = user("2");
    let r = reply_text(&b.say(&e, "Hello there, what can you do?").await);
    assert!(!r.is_empty());
    let r = reply_text(&b.say(&e, "/start").await);
    assert!(
        r.contains("Privacy"),
        "English /start after English text: {r}"
    );
}

#[tokio::test]
async fn events_lists_upcoming_events_by_date_in_the_users_language() {
    let b = bot().await;
    let u = user("1");
    let r = reply_text(&b.say(&u, "/events").await);
    assert!(r.starts_with("Kommande evenemang:"), "{r}");
    assert!(
        r.contains("\n\n🔒 Integritet:"),
        "the first reply ends with the privacy notice: {r}"
    );
    let again = reply_text(&b.say(&u, "/events").await);
    assert!(!again.contains("🔒"), "only once: {again}");
    let dates: Vec<&str> = r
        .lines()
        .filter_map(|l| l.strip_prefix("📅 "))
        .map(|l| &l[..10])
        .collect();
    assert!(dates.len() >= 3, "{r}");
    let mut sorted = dates.clone();
    sorted.sort();
    assert_eq!(dates, sorted, "by date");
    assert!(
        dates.iter().all(|d| *d >= "2026-11-27"),
        "upcoming only: {dates:?}"
    );

    // After the last event, nothing is listed.
    b.clock.advance(chrono::Duration::days(3 * 365));
    let r = reply_text(&b.say(&u, "/events").await);
    assert!(r.contains("inga kommande evenemang"), "{r}");
}

#[tokio::test]
async fn example_content_is_labelled_as_an_example_when_cited() {
    let b = bot().await;
    let u = user("1");
    // A question about one example event. (A general "Vad händer på
    // nätverksträffen i Västerås?" is now answered from the activities
    // page, which says what network meetings are; example events are no
    // longer the first source for general questions.)
    let r = reply_text(
        &b.say(
            &u,
            "Vad ska vi göra på workshopen om behovsanalys i grupp i Västerås?",
        )
        .await,
    );
    let cited = cited_paths(&r);
    assert_eq!(
        cited.first().map(String::as_str),
        Some("events/workshop-behovsanalys-vasteras-2027-05.md"),
        "{r}"
    );
    let line = r
        .lines()
        .find(|l| l.contains("workshop-behovsanalys-vasteras-2027-05.md"))
        .expect("source line");
    assert!(line.contains("(exempel)"), "{line}");
    // Real content carries no such label.
    let r = reply_text(&b.say(&u, "Hur länge pågår projektet?").await);
    assert!(!r.contains("(exempel)"), "{r}");
}

#[tokio::test]
async fn the_body_of_an_extractive_answer_is_short() {
    let b = bot().await;
    let u = user("1");
    for q in [
        "Vad är en behovsanalys?",
        "Hur kan AI hjälpa till med offerter?",
        "Vilka företag kan delta?",
    ] {
        let r = reply_text(&b.say(&u, q).await);
        let body = answer_body(&r);
        assert!(
            body.chars().count() <= b.settings.assistant.answer_max_chars + 40,
            "{q}: {} chars\n{body}",
            body.chars().count()
        );
    }
}

#[tokio::test]
async fn each_front_end_takes_only_its_own_platforms_deliveries() {
    use kraft_core::model::{Platform, UserRef};
    let b = bot().await;
    let tg = user("1");
    let dc = UserRef::new(Platform::Discord, "9", "dm-9");
    let t1 = tickets_opened(&b.say(&tg, "/human").await)[0].0;
    let t2 = tickets_opened(&b.say(&dc, "/human").await)[0].0;
    // Both notifications were leased by `handle`; let the leases lapse.
    b.clock.advance(chrono::Duration::seconds(
        b.settings.assistant.delivery_lease_secs as i64 + 1,
    ));
    b.assistant
        .desk()
        .reply(t1, "Anna", "till telegram", None)
        .expect("reply");
    b.assistant
        .desk()
        .reply(t2, "Anna", "till discord", None)
        .expect("reply");

    let term = b
        .assistant
        .pending_for(&[Platform::Terminal], 50)
        .expect("pending");
    assert!(
        term.is_empty(),
        "a terminal chat takes nobody else's messages: {term:#?}"
    );
    let d = b
        .assistant
        .pending_for(&[Platform::Discord], 50)
        .expect("pending");
    let texts: Vec<String> = relayed(&d);
    assert!(texts.iter().any(|t| t.contains("till discord")), "{d:#?}");
    assert!(!texts.iter().any(|t| t.contains("till telegram")), "{d:#?}");
    assert!(
        adviser_notes(&d)
            .iter()
            .all(|n| n.contains(&format!("#{t2}"))),
        "Discord advisers hear about Discord tickets: {d:#?}"
    );
    let t = b
        .assistant
        .pending_for(&[Platform::Telegram], 50)
        .expect("pending");
    assert!(
        relayed(&t).iter().any(|x| x.contains("till telegram")),
        "{t:#?}"
    );
}

#[tokio::test]
async fn an_edited_page_is_quoted_as_it_reads_now() {
    // An edit that is ingested reaches the very next answer: nothing the
    // assistant keeps between turns (its section analyses, the ranker's
    // term cache, both keyed by content) may quote the page as it was.
    let kb = tempfile::tempdir().expect("tempdir");
    let page = |fee: &str| {
        kraft_tests::doc(
            "Fika i Fagersta",
            "faq",
            "sv",
            "",
            &format!(
                "# Fika i Fagersta\n\nFikaklubben träffas i Fagersta varje vecka.\n\n\
                 ## Vad kostar fikaklubben?\n\nMedlemsavgiften för fikaklubben är {fee} kronor per år.\n"
            ),
        )
    };
    kraft_tests::write_files(kb.path(), &[("faq/fika.md", &page("120"))]);
    let b = TestBot::start(kb.path(), default_core_settings()).await;
    let u = user("1");
    let r = reply_text(&b.say(&u, "Vad kostar fikaklubben i Fagersta?").await);
    assert!(r.contains("120 kronor"), "{r}");

    kraft_tests::write_files(kb.path(), &[("faq/fika.md", &page("150"))]);
    let report = b
        .assistant
        .knowledge()
        .ingest(
            kb.path(),
            kraft_ingest::IngestOptions::default(),
            &kraft_ingest::sync::NoProgress,
        )
        .await
        .expect("ingest");
    assert_eq!(
        report.updated,
        vec!["faq/fika.md".to_string()],
        "{report:?}"
    );
    let r = reply_text(
        &b.say(&user("2"), "Vad kostar fikaklubben i Fagersta?")
            .await,
    );
    assert!(r.contains("150 kronor"), "{r}");
    assert!(!r.contains("120 kronor"), "{r}");
}

#[tokio::test]
async fn a_running_assistant_answers_like_a_fresh_one_after_a_sync_writes_the_index_again() {
    // As `kraft serve`'s folder follower does: the same knowledge, synced
    // while the assistant runs. Four long pages are removed, so the
    // chunks' mean length falls far enough that every chunk is written
    // again; the assistant must then weigh terms by the new lengths too.
    let tmp = tempfile::tempdir().expect("tmp");
    let kb = tmp.path().join("knowledge");
    kraft_tests::fixture_kb(&kb);
    let pages = kraft_tests::long_pages();
    kraft_tests::write_pages(&kb, &pages);
    let b = TestBot::start(&kb, default_core_settings()).await;
    let questions = [
        "Vad kostar en behovsanalys?",
        "Hur gör man en behovsanalys steg för steg?",
        "Vem kan hjälpa oss med finansiering?",
        "Hur kommer vi igång med AI?",
    ];
    let mut before = Vec::new();
    for q in questions {
        before.push(b.assistant.ask(q).await.expect("ask").0.confidence);
    }
    for (p, _) in &pages {
        std::fs::remove_file(kb.join(p)).expect("remove");
    }
    let r = b
        .assistant
        .knowledge()
        .ingest(
            &kb,
            kraft_ingest::IngestOptions::default(),
            &kraft_ingest::sync::NoProgress,
        )
        .await
        .expect("sync");
    assert!(
        r.rebuilt
            .as_deref()
            .is_some_and(|w| w.contains("mean length")),
        "the fixture no longer moves the mean length: {r:#?}"
    );
    let fresh = TestBot::start(&kb, default_core_settings()).await;
    let mut moved = false;
    for (q, old) in questions.iter().zip(&before) {
        let running = b.assistant.ask(q).await.expect("ask").0;
        let anew = fresh.assistant.ask(q).await.expect("ask").0;
        assert_eq!(running.text, anew.text, "{q}");
        assert!(
            (running.confidence - anew.confidence).abs() < 1e-5,
            "{q}: the running assistant says {}, a fresh one {}",
            running.confidence,
            anew.confidence
        );
        moved |= (anew.confidence - old).abs() > 1e-4;
    }
    assert!(
        moved,
        "no confidence moved, so this test would not see a stale analyzer"
    );
}
