//! One contract for every state engine, per concern (`Users`, `Messages`,
//! `Tickets`, `Threads`, `Outbox`, `Inbox`, `Analyses`, `Stats`,
//! `Retention`). Each check talks to the engine only through the traits,
//! as the core does (`&dyn State`), so a second engine is proved by adding
//! it to `engines()`: SQLite always, PostgreSQL when
//! `TEST_POSTGRES_URL` names a server (`tests/run` starts one; each
//! check gets a database of its own, dropped after).
//!
//! The checks are behaviour the rest of Kraft relies on: ids are stable,
//! a repeated platform event or adviser message is stored once, a lease
//! keeps a delivery away from every other sender, a refused transition
//! changes nothing, `/forget` leaves no text behind.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use kraft_core::desk::DeskError;
use kraft_core::store::prelude::*;
use kraft_core::store::{
    AnalysisRow, Dialogue, InboxEvent, Moved, NewDelivery, NewMessage, NewStat, NewTicket, Opened,
    Role, Target, TicketStatus, Transition, UserRow,
};
use kraft_core::{Button, Lang, PgStore, Platform, Privately, Store, UserRef};
use kraft_tests::pg::TestDb;

/// Fresh storage of one engine: the store, a way to open a second handle
/// on the same storage (as a second process would), and the guard that
/// keeps the storage alive (and removes it after).
struct Engine {
    name: &'static str,
    store: Arc<dyn State>,
    reopen: Box<dyn Fn() -> Arc<dyn State>>,
    _guard: Box<dyn std::any::Any>,
}

/// Every engine under test, each on fresh storage. PostgreSQL only when a
/// server is given (else a loud SKIPPED line, once).
fn engines() -> Vec<Engine> {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("state.sqlite");
    let sqlite = Store::open(&path).expect("open sqlite");
    let mut v = vec![Engine {
        name: "sqlite",
        store: Arc::new(sqlite),
        reopen: Box::new(move || Arc::new(Store::open(&path).expect("reopen sqlite"))),
        _guard: Box::new(dir),
    }];
    if let Some(admin) = kraft_tests::pg::server("the store contract") {
        let db = TestDb::create(&admin);
        let pg = PgStore::open(&db.url).expect("open postgres");
        let url = db.url.clone();
        v.push(Engine {
            name: "postgres",
            store: Arc::new(pg),
            reopen: Box::new(move || Arc::new(PgStore::open(&url).expect("reopen postgres"))),
            _guard: Box::new(db),
        });
    }
    v
}

fn for_each_engine(check: impl Fn(&dyn State, DateTime<Utc>)) {
    let t0 = Utc
        .with_ymd_and_hms(2026, 3, 2, 9, 0, 0)
        .single()
        .expect("t0");
    for e in engines() {
        eprintln!("store contract on {}", e.name);
        check(e.store.as_ref(), t0);
    }
}

fn min(n: i64) -> chrono::Duration {
    chrono::Duration::minutes(n)
}

fn tg(s: &dyn State, user: &str, chat: &str, now: DateTime<Utc>) -> UserRow {
    s.touch_user(&UserRef::new(Platform::Telegram, user, chat), now)
        .expect("touch user")
}

fn open_ticket(s: &dyn State, u: &UserRow, now: DateTime<Utc>, max_per_day: i64) -> Opened {
    s.create_ticket(
        NewTicket {
            user_id: u.id,
            reason: "user_request",
            summary: "wants a contact",
            lang: Lang::Sv,
            platform: u.platform,
            chat_id: &u.chat_id,
            relay_chat: Some(&u.chat_id),
            max_per_day,
        },
        &|t| {
            vec![(
                Target::Advisers,
                format!("new request #{}", t.id),
                vec![Button::new(format!("t:claim:{}", t.id), "Claim")],
            )]
        },
        now,
        Duration::from_secs(60),
    )
    .expect("create ticket")
}

fn new_id(o: Opened) -> i64 {
    match o {
        Opened::New(id, _) => id,
        other => panic!("expected a new ticket, got {other:?}"),
    }
}

#[test]
fn users_are_found_by_identity_and_keep_their_dialogue() {
    for_each_engine(|s, t0| {
        let a = tg(s, "100", "100", t0);
        assert_eq!(a.seen_before, None, "a new user was not seen before");
        assert_eq!(a.dialogue, Dialogue::default());
        let again = tg(s, "100", "100", t0 + min(5));
        assert_eq!(again.id, a.id, "the same identity is the same user");
        assert_eq!(
            again.seen_before,
            Some(t0),
            "the previous visit is reported"
        );
        let other = tg(s, "200", "200", t0);
        assert_ne!(other.id, a.id);
        // The same id on another platform is somebody else.
        let dc = s
            .touch_user(&UserRef::new(Platform::Discord, "100", "dm-1"), t0)
            .expect("discord");
        assert_ne!(dc.id, a.id);

        assert_eq!(
            s.find_user(Platform::Telegram, "100")
                .expect("find")
                .map(|u| u.id),
            Some(a.id)
        );
        assert_eq!(s.find_user(Platform::Telegram, "999").expect("find"), None);
        assert_eq!(
            s.user(a.id).expect("user").map(|u| u.external_id),
            Some("100".into())
        );
        assert_eq!(s.user(-1).expect("user"), None);

        let mut u = s.user(a.id).expect("user").expect("exists");
        u.dialogue = Dialogue::AfterDownvote { low_streak: 2 };
        s.save_dialogue(&u).expect("save");
        assert_eq!(
            s.user(a.id).expect("user").expect("exists").dialogue,
            Dialogue::AfterDownvote { low_streak: 2 }
        );
        assert_eq!(
            s.user(other.id).expect("user").expect("exists").dialogue,
            Dialogue::default(),
            "saving one user's dialogue touches nobody else"
        );
    });
}

#[test]
fn the_privacy_notice_is_first_once_per_person() {
    for_each_engine(|s, t0| {
        let group = tg(s, "7@-500", "-500", t0);
        assert!(s.first_notice(&group, t0).expect("notice"), "first time");
        assert!(!s.first_notice(&group, t0).expect("notice"), "not twice");
        // The same person's private chat is the same person.
        let private = tg(s, "7", "7", t0);
        assert!(!s.first_notice(&private, t0).expect("notice"));
        let stranger = tg(s, "8", "8", t0);
        assert!(s.first_notice(&stranger, t0).expect("notice"));
        assert!(s.user(stranger.id).expect("user").expect("exists").noticed);
    });
}

#[test]
fn users_in_conversation_are_recent_writers_and_ticket_holders() {
    for_each_engine(|s, t0| {
        let old = tg(s, "1", "1", t0 - min(600));
        let recent = tg(s, "2", "2", t0);
        let _discord = s
            .touch_user(&UserRef::new(Platform::Discord, "3", "3"), t0)
            .expect("discord");
        for u in [&old, &recent] {
            s.add_message(
                u.id,
                Role::User,
                &NewMessage {
                    text: "hej",
                    ..Default::default()
                },
                u.created_at,
            )
            .expect("message");
        }
        let mut ids = s
            .users_in_conversation(Platform::Telegram, t0 - min(60))
            .expect("users");
        ids.sort();
        assert_eq!(ids, vec!["2".to_string()]);
        new_id(open_ticket(s, &old, t0, 0));
        let mut ids = s
            .users_in_conversation(Platform::Telegram, t0 - min(60))
            .expect("users");
        ids.sort();
        assert_eq!(
            ids,
            vec!["1".to_string(), "2".to_string()],
            "an open ticket counts"
        );
    });
}

#[test]
fn messages_come_back_newest_last_with_what_was_stored() {
    for_each_engine(|s, t0| {
        let u = tg(s, "1", "1", t0);
        let other = tg(s, "2", "2", t0);
        let mut ids = Vec::new();
        for i in 0..5 {
            let text = format!("message {i}");
            ids.push(
                s.add_message(
                    u.id,
                    if i % 2 == 0 { Role::User } else { Role::Bot },
                    &NewMessage {
                        text: &text,
                        lang: Some(Lang::En),
                        outcome: (i % 2 == 1).then_some("answered"),
                        confidence: (i % 2 == 1).then_some(0.75),
                        sources: if i % 2 == 1 {
                            vec!["faq/a.md".into()]
                        } else {
                            vec![]
                        },
                        query: None,
                        ticket_id: None,
                    },
                    t0 + min(i),
                )
                .expect("add"),
            );
        }
        s.add_message(
            other.id,
            Role::User,
            &NewMessage {
                text: "not yours",
                ..Default::default()
            },
            t0,
        )
        .expect("add");
        let recent = s.recent_messages(u.id, 3).expect("recent");
        let texts: Vec<&str> = recent.iter().map(|m| m.text.as_str()).collect();
        assert_eq!(texts, ["message 2", "message 3", "message 4"]);
        let m = s.message(ids[3]).expect("message").expect("exists");
        assert_eq!(m.role, Role::Bot);
        assert_eq!(m.user_id, u.id);
        assert_eq!(m.outcome.as_deref(), Some("answered"));
        assert_eq!(m.sources, vec!["faq/a.md".to_string()]);
        assert_eq!(m.lang, Some(Lang::En));
        assert!((m.confidence.expect("confidence") - 0.75).abs() < 1e-6);
        assert_eq!(m.created_at, t0 + min(3));
        assert_eq!(s.message(-5).expect("message"), None);
        // No answer among them carried a query.
        assert_eq!(s.last_query(u.id, 10).expect("last query"), None);
        // A later answer's query is what a follow-up continues, as long as
        // it is among the newest messages asked about.
        s.add_message(
            u.id,
            Role::Bot,
            &NewMessage {
                text: "answer",
                query: Some("vad kostar det"),
                ..Default::default()
            },
            t0 + min(5),
        )
        .expect("add");
        for i in 6..8 {
            s.add_message(
                u.id,
                Role::User,
                &NewMessage {
                    text: "and then?",
                    query: Some("a user's message has no query; this must not count"),
                    ..Default::default()
                },
                t0 + min(i),
            )
            .expect("add");
        }
        assert_eq!(
            s.last_query(u.id, 3).expect("last query").as_deref(),
            Some("vad kostar det")
        );
        assert_eq!(s.last_query(u.id, 2).expect("last query"), None);
        assert_eq!(s.last_query(other.id, 10).expect("last query"), None);
        // A vote is kept (and voting again is allowed).
        s.set_feedback(u.id, ids[3], -1, t0).expect("vote");
        s.set_feedback(u.id, ids[3], 1, t0).expect("vote again");
    });
}

#[test]
fn tickets_open_once_per_user_and_respect_the_daily_cap() {
    for_each_engine(|s, t0| {
        let u = tg(s, "1", "1", t0);
        let Opened::New(id, notes) = open_ticket(s, &u, t0, 2) else {
            panic!("first ticket refused")
        };
        assert_eq!(
            notes.len(),
            1,
            "the advisers' note is queued with the ticket"
        );
        assert_eq!(notes[0].text, format!("new request #{id}"));
        assert_eq!(notes[0].ticket_id, Some(id));
        assert_eq!(open_ticket(s, &u, t0, 2), Opened::AlreadyOpen);
        let t = s.ticket(id).expect("ticket").expect("exists");
        assert_eq!(t.status, TicketStatus::Waiting);
        assert_eq!(t.user_id, u.id);
        assert_eq!(
            s.open_ticket_of(u.id).expect("open").map(|t| t.id),
            Some(id)
        );
        assert_eq!(s.open_tickets().expect("count"), 1);

        // Closed, the next one opens; the third in a day is capped, also
        // from the person's group identity.
        close(s, id, t0);
        assert_eq!(s.open_ticket_of(u.id).expect("open"), None);
        let second = new_id(open_ticket(s, &u, t0 + min(1), 2));
        close(s, second, t0 + min(2));
        let group = tg(s, "1@-9", "-9", t0);
        assert!(s
            .ticket_cap_reached(
                &UserRef::new(Platform::Telegram, "1@-9", "-9"),
                2,
                t0 + min(3)
            )
            .expect("cap"));
        assert_eq!(open_ticket(s, &group, t0 + min(3), 2), Opened::Capped);
        // A day later the cap is lifted; 0 means no cap.
        assert!(!s
            .ticket_cap_reached(
                &UserRef::new(Platform::Telegram, "1", "1"),
                2,
                t0 + min(25 * 60)
            )
            .expect("cap"));
        new_id(open_ticket(s, &group, t0 + min(3), 0));

        let listed = s
            .tickets(&[TicketStatus::Resolved], 10)
            .expect("tickets")
            .into_iter()
            .map(|t| t.id)
            .collect::<Vec<_>>();
        assert!(
            listed.contains(&id) && listed.contains(&second),
            "{listed:?}"
        );
        assert_eq!(
            s.tickets(&[TicketStatus::Waiting], 10)
                .expect("tickets")
                .len(),
            1
        );
    });
}

fn close(s: &dyn State, id: i64, now: DateTime<Utc>) {
    s.transition(id, now, None, &mut |_| {
        Ok(Transition {
            status: Some(TicketStatus::Resolved),
            resolution: Some("resolved"),
            ..Default::default()
        })
    })
    .expect("store")
    .expect("exists")
    .expect("allowed");
}

#[test]
fn a_transition_is_all_or_nothing_and_happens_once() {
    for_each_engine(|s, t0| {
        let u = tg(s, "1", "1", t0);
        let id = new_id(open_ticket(s, &u, t0, 0));
        assert_eq!(s.undelivered().expect("undelivered"), 1);

        // Refused: nothing changes, the refusal comes back as it was.
        let refused = s
            .transition(id, t0, None, &mut |_| Err(DeskError::Closed(id)))
            .expect("store")
            .expect("exists");
        assert!(matches!(refused, Err(DeskError::Closed(x)) if x == id));
        assert_eq!(
            s.ticket(id).expect("t").expect("t").status,
            TicketStatus::Waiting
        );

        // A claim with a reply to the user and an adviser message kept.
        let claim = |s: &dyn State| {
            s.transition(id, t0 + min(1), None, &mut |cur| {
                Ok(Transition {
                    status: Some(TicketStatus::Active),
                    adviser: Some(("tg:42", "Anna")),
                    message: Some(NewMessage {
                        text: "Hej, Anna här",
                        ticket_id: Some(id),
                        ..Default::default()
                    }),
                    deliveries: vec![NewDelivery {
                        dedupe_key: Some("reply:m1"),
                        ..NewDelivery::to_user(cur, "Anna: Hej")
                    }],
                    ..Default::default()
                })
            })
            .expect("store")
            .expect("exists")
            .expect("allowed")
            .1
            .len()
        };
        assert_eq!(claim(s), 1, "the reply is queued");
        let t = s.ticket(id).expect("t").expect("t");
        assert_eq!(t.status, TicketStatus::Active);
        assert_eq!(t.adviser.as_deref(), Some("Anna"));
        assert_eq!(t.adviser_id.as_deref(), Some("tg:42"));
        assert_eq!(t.claimed_at, Some(t0 + min(1)));
        assert_eq!(s.adviser_messages(id).expect("count"), 1);
        // The same adviser message delivered twice by the platform: no-op.
        assert_eq!(claim(s), 0, "a repeated transition queues nothing");
        assert_eq!(
            s.adviser_messages(id).expect("count"),
            1,
            "nor keeps the message twice"
        );
        assert_eq!(s.undelivered().expect("undelivered"), 2);

        assert!(s
            .transition(-1, t0, None, &mut |_| Ok(Transition::default()))
            .expect("store")
            .is_none());

        // Rated once, on any engine.
        close(s, id, t0 + min(2));
        let t = s.ticket(id).expect("t").expect("t");
        assert_eq!(t.resolved_at, Some(t0 + min(2)));
        assert!(s.rate_ticket(id, "good").expect("rate"));
        assert!(
            !s.rate_ticket(id, "bad").expect("rate"),
            "the first rating stands"
        );
    });
}

#[test]
fn waiting_tickets_are_reminded_on_schedule() {
    for_each_engine(|s, t0| {
        let u = tg(s, "1", "1", t0);
        let id = new_id(open_ticket(s, &u, t0, 0));
        let text = |t: &kraft_core::store::TicketRow| format!("still waiting #{}", t.id);
        assert!(s
            .remind(t0 + min(10), min(30), min(60), &text)
            .expect("remind")
            .is_empty());
        assert_eq!(
            s.remind(t0 + min(31), min(30), min(60), &text)
                .expect("remind"),
            vec![id]
        );
        assert!(
            s.remind(t0 + min(40), min(30), min(60), &text)
                .expect("remind")
                .is_empty(),
            "not again within `every`"
        );
        assert_eq!(
            s.remind(t0 + min(92), min(30), min(60), &text)
                .expect("remind"),
            vec![id]
        );
        assert_eq!(s.ticket(id).expect("t").expect("t").reminders, 2);
        close(s, id, t0 + min(100));
        assert!(s
            .remind(t0 + min(300), min(30), min(60), &text)
            .expect("remind")
            .is_empty());
    });
}

#[test]
fn a_link_token_moves_a_ticket_to_the_same_persons_private_chat_only() {
    for_each_engine(|s, t0| {
        let group = s
            .touch_user(
                &UserRef {
                    privately: Privately::Link("https://t.me/kraftbot?start=".into()),
                    ..UserRef::new(Platform::Telegram, "5@-100", "-100")
                },
                t0,
            )
            .expect("group user");
        let id = new_id(
            s.create_ticket(
                NewTicket {
                    user_id: group.id,
                    reason: "user_request",
                    summary: "s",
                    lang: Lang::Sv,
                    platform: Platform::Telegram,
                    chat_id: "-100",
                    relay_chat: None,
                    max_per_day: 0,
                },
                &|_| Vec::new(),
                t0,
                Duration::from_secs(60),
            )
            .expect("create"),
        );
        let token = s
            .ticket(id)
            .expect("t")
            .expect("t")
            .link_token
            .expect("a ticket without a private chat gets a token");
        assert_eq!(
            s.ticket_by_link(&token).expect("link").map(|t| t.id),
            Some(id)
        );
        let stranger = tg(s, "6", "6", t0);
        assert_eq!(
            s.move_to_private(&token, &stranger, t0).expect("move"),
            Moved::NotYours
        );
        assert_eq!(
            s.move_to_private("nope", &stranger, t0).expect("move"),
            Moved::Unknown
        );
        let private = tg(s, "5", "5", t0);
        assert_eq!(
            s.move_to_private(&token, &private, t0).expect("move"),
            Moved::Moved(id)
        );
        let t = s.ticket(id).expect("t").expect("t");
        assert_eq!(t.relay_chat.as_deref(), Some("5"));
        assert_eq!(t.user_id, private.id);
    });
}

#[test]
fn threads_notes_and_cursors_map_both_ways() {
    for_each_engine(|s, t0| {
        let u = tg(s, "1", "1", t0);
        let id = new_id(open_ticket(s, &u, t0, 0));
        let p = Platform::Telegram;
        assert_eq!(s.cursor("tg:offset").expect("cursor"), None);
        s.set_cursor("tg:offset", "41").expect("set");
        s.set_cursor("tg:offset", "42").expect("set");
        assert_eq!(
            s.cursor("tg:offset").expect("cursor").as_deref(),
            Some("42")
        );

        assert_eq!(s.thread_of(id, p).expect("thread"), None);
        s.set_thread(id, p, "-200", "77").expect("set thread");
        assert_eq!(
            s.thread_of(id, p).expect("thread"),
            Some(("-200".to_string(), "77".to_string()))
        );
        assert_eq!(s.ticket_of_thread(p, "-200", "77").expect("of"), Some(id));
        assert_eq!(s.ticket_of_thread(p, "-200", "78").expect("of"), None);
        assert_eq!(
            s.ticket_of_thread(Platform::Discord, "-200", "77")
                .expect("of"),
            None
        );
        assert_eq!(s.open_threads(p).expect("open"), vec!["77".to_string()]);

        s.remember_message(p, "-200", "9001", id).expect("remember");
        assert_eq!(
            s.ticket_of_message(p, "-200", "9001").expect("of"),
            Some(id)
        );
        assert_eq!(s.ticket_of_message(p, "-200", "9002").expect("of"), None);

        s.set_note(id, p, "-200", "9003", "waiting").expect("note");
        assert_eq!(
            s.note_of(id, p).expect("note"),
            Some(("-200".into(), "9003".into(), "waiting".into()))
        );
        s.set_note_shown(id, p, "active").expect("shown");
        assert_eq!(
            s.note_of(id, p).expect("note").map(|n| n.2),
            Some("active".into())
        );

        // A group that became a supergroup: its threads and messages move
        // with it, and the cursor is written in the same step.
        s.move_chat(p, "-200", "-1000200", "chat:moved")
            .expect("move");
        assert_eq!(
            s.ticket_of_thread(p, "-1000200", "77").expect("of"),
            Some(id)
        );
        assert_eq!(
            s.ticket_of_message(p, "-1000200", "9001").expect("of"),
            Some(id)
        );
        assert_eq!(s.ticket_of_thread(p, "-200", "77").expect("of"), None);

        s.clear_thread(id, p).expect("clear");
        assert_eq!(s.thread_of(id, p).expect("thread"), None);
        assert!(s.open_threads(p).expect("open").is_empty());
    });
}

#[test]
fn the_outbox_leases_each_delivery_to_one_sender_and_keeps_it_until_delivered() {
    for_each_engine(|s, t0| {
        let u = tg(s, "1", "1", t0);
        let lease = Duration::from_secs(30);
        let d = |text: &'static str, key: Option<&'static str>| NewDelivery {
            user_id: Some(u.id),
            ticket_id: None,
            target: Target::User(u.chat()),
            text,
            buttons: &[],
            dedupe_key: key,
            meta: None,
        };
        let a = s
            .enqueue(&d("a", Some("k1")), t0, None)
            .expect("enqueue")
            .expect("new");
        assert_eq!(
            s.enqueue(&d("a again", Some("k1")), t0, None)
                .expect("enqueue"),
            None
        );
        let b = s
            .enqueue(&d("b", None), t0, None)
            .expect("enqueue")
            .expect("new");
        // Leased by the caller at once: nobody else takes it.
        let c = s
            .enqueue(&d("c", None), t0, Some(lease))
            .expect("enqueue")
            .expect("new");
        assert_eq!(s.undelivered().expect("n"), 3);

        // Not for a front-end that carries another platform's users.
        assert!(s
            .lease_pending(t0, lease, 10, &[Platform::Discord])
            .expect("lease")
            .is_empty());
        let got = s
            .lease_pending(t0, lease, 10, &[Platform::Telegram])
            .expect("lease");
        assert_eq!(
            got.iter().map(|x| x.id).collect::<Vec<_>>(),
            vec![a.id, b.id]
        );
        assert_eq!(got[0].text, "a");
        assert!(
            s.lease_pending(t0, lease, 10, &[Platform::Telegram])
                .expect("lease")
                .is_empty(),
            "a leased delivery is nobody else's"
        );

        s.mark_delivered(a.id, t0).expect("delivered");
        s.release(b.id).expect("release");
        s.set_parts_sent(b.id, 1).expect("parts");
        let again = s
            .lease_pending(t0, lease, 10, &[Platform::Telegram])
            .expect("lease");
        assert_eq!(again.iter().map(|x| x.id).collect::<Vec<_>>(), vec![b.id]);
        assert_eq!(
            again[0].parts_sent, 1,
            "a resumed send skips the parts already out"
        );
        assert!(
            again[0].attempts > got[1].attempts,
            "each lease is an attempt"
        );
        s.retry_later(b.id, t0, Duration::from_secs(120))
            .expect("retry");
        let after_c = t0 + chrono::Duration::seconds(31);
        let due = s
            .lease_pending(after_c, lease, 10, &[Platform::Telegram])
            .expect("lease");
        assert_eq!(
            due.iter().map(|x| x.id).collect::<Vec<_>>(),
            vec![c.id],
            "b backs off"
        );
        s.dead_letter(c.id, after_c, "blocked").expect("dead");
        let late = t0 + chrono::Duration::seconds(200);
        let due = s
            .lease_pending(late, lease, 10, &[Platform::Telegram])
            .expect("lease");
        assert_eq!(due.iter().map(|x| x.id).collect::<Vec<_>>(), vec![b.id]);
        s.mark_delivered(b.id, late).expect("delivered");
        assert_eq!(s.undelivered().expect("n"), 0);
        let dead = s.dead_letters(10).expect("dead");
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].0, c.id);
        assert!(dead[0].2.contains("blocked"));
    });
}

#[test]
fn adviser_notes_go_to_the_front_end_that_hosts_those_advisers() {
    for_each_engine(|s, t0| {
        let tg_user = tg(s, "1", "1", t0);
        let dc_user = s
            .touch_user(&UserRef::new(Platform::Discord, "2", "dm-2"), t0)
            .expect("discord");
        let lease = Duration::from_secs(30);
        for u in [&tg_user, &dc_user] {
            s.enqueue(
                &NewDelivery::to_advisers(Some(u.id), None, "note"),
                t0,
                None,
            )
            .expect("enqueue")
            .expect("new");
        }
        // A Discord front-end hosting Telegram's advisers too takes both notes
        // but no Telegram user's messages.
        let got = s
            .lease_for(t0, lease, 10, &[Platform::Discord], &[Platform::Discord])
            .expect("lease");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].user_id, Some(dc_user.id));
        assert!(s
            .lease_for(t0, lease, 10, &[Platform::Discord], &[])
            .expect("lease")
            .is_empty());
        // At start-up a front-end frees what it held before a crash.
        assert_eq!(
            s.release_leases(&[Platform::Discord], &[Platform::Discord])
                .expect("free"),
            1
        );
        let got = s
            .lease_for(t0, lease, 10, &[], &[Platform::Discord, Platform::Telegram])
            .expect("lease");
        assert_eq!(got.len(), 2);
    });
}

#[test]
fn the_inbox_keeps_each_event_once_and_in_order() {
    for_each_engine(|s, t0| {
        let p = Platform::Telegram;
        let ev = |key: &'static str, chat: &'static str| InboxEvent {
            key,
            chat,
            payload: "{\"text\":\"hej\"}",
        };
        assert_eq!(
            s.inbox_add(
                p,
                &[ev("1", "c1"), ev("2", "c2")],
                Some(("tg:offset", "3")),
                t0
            )
            .expect("add"),
            2
        );
        assert_eq!(s.cursor("tg:offset").expect("cursor").as_deref(), Some("3"));
        assert_eq!(
            s.inbox_add(p, &[ev("2", "c2"), ev("3", "c1")], None, t0)
                .expect("add"),
            1
        );
        assert_eq!(
            s.inbox_add(Platform::Discord, &[ev("1", "x")], None, t0)
                .expect("add"),
            1
        );
        assert_eq!(s.inbox_unhandled().expect("n"), 4);
        assert_eq!(s.inbox_oldest_unhandled().expect("oldest"), Some(t0));

        let pending = s.inbox_pending(p, 10).expect("pending");
        let keys: Vec<&str> = pending.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(keys, ["1", "2", "3"], "oldest first, one platform");
        assert_eq!(pending[0].payload, "{\"text\":\"hej\"}");

        // Handled with its reply, once.
        let u = tg(s, "1", "c1", t0);
        let reply = NewDelivery {
            user_id: Some(u.id),
            ticket_id: None,
            target: Target::User(u.chat()),
            text: "svar",
            buttons: &[],
            dedupe_key: None,
            meta: None,
        };
        let queued = s
            .inbox_done(
                pending[0].id,
                std::slice::from_ref(&reply),
                t0,
                Duration::from_secs(30),
            )
            .expect("done")
            .expect("first time");
        assert_eq!(queued.len(), 1);
        assert_eq!(
            s.inbox_done(pending[0].id, &[reply], t0, Duration::from_secs(30))
                .expect("done"),
            None,
            "handling it again queues nothing"
        );
        assert_eq!(s.undelivered().expect("n"), 1);

        // A poisoned event is set aside so its chat goes on.
        assert!(s
            .inbox_dead_letter(pending[1].id, "panicked", t0)
            .expect("dead"));
        assert!(!s
            .inbox_dead_letter(pending[1].id, "panicked", t0)
            .expect("dead"));
        let keys: Vec<String> = s
            .inbox_pending(p, 10)
            .expect("pending")
            .into_iter()
            .map(|r| r.key)
            .collect();
        assert_eq!(keys, ["3"]);
        let dead = s.inbox_dead_letters(10).expect("dead");
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].1, "2");
        assert!(dead[0].2.contains("panicked"));
        assert!(
            !format!("{dead:?}").contains("hej"),
            "no text in dead letters"
        );
    });
}

#[test]
fn an_analysis_is_saved_and_read_back_per_user() {
    for_each_engine(|s, t0| {
        let u = tg(s, "1", "1", t0);
        assert_eq!(s.analysis(u.id).expect("analysis"), None);
        let mut a = AnalysisRow {
            user_id: u.id,
            status: "active".into(),
            step: 2,
            answers: "{\"sector\":\"verkstad\"}".into(),
            started_at: t0,
            updated_at: t0,
        };
        s.save_analysis(&a).expect("save");
        assert_eq!(s.analysis(u.id).expect("analysis"), Some(a.clone()));
        a.step = 3;
        a.updated_at = t0 + min(5);
        s.save_analysis(&a).expect("save again");
        assert_eq!(s.analysis(u.id).expect("analysis"), Some(a));
        let other = tg(s, "2", "2", t0);
        assert_eq!(s.analysis(other.id).expect("analysis"), None);
    });
}

#[test]
fn statistics_are_anonymous_and_follow_the_region_back_in_time() {
    for_each_engine(|s, t0| {
        let u = tg(s, "1", "1", t0);
        s.stat(&u, t0, "question", Some("answered"), None)
            .expect("stat");
        s.stat(
            &u,
            t0 + chrono::Duration::days(1),
            "first_reply",
            None,
            Some(90.0),
        )
        .expect("stat");
        s.set_region(u.id, "sormland").expect("region");
        let day = t0.date_naive();
        let rows = s.stats(day, day + chrono::Days::new(1)).expect("stats");
        assert_eq!(rows.len(), 2);
        assert!(rows.iter().all(|r| r.region == "sormland"), "{rows:?}");
        assert_eq!(rows[0].kind, "question");
        assert_eq!(rows[1].value, Some(90.0));
        assert_eq!(
            rows[0].subject, u.subject,
            "a random subject, not the user id"
        );
        assert_ne!(rows[0].subject, u.external_id);
        assert_eq!(
            s.stats(day, day).expect("stats").len(),
            1,
            "bounds are days"
        );

        // Abstentions and 👎 answers are the knowledge gaps.
        let q = s
            .add_message(
                u.id,
                Role::User,
                &NewMessage {
                    text: "vad kostar en robot?",
                    lang: Some(Lang::Sv),
                    ..Default::default()
                },
                t0,
            )
            .expect("q");
        s.add_message(
            u.id,
            Role::Bot,
            &NewMessage {
                text: "Det vet jag inte.",
                outcome: Some("abstained"),
                query: Some("vad kostar en robot?"),
                ..Default::default()
            },
            t0,
        )
        .expect("a");
        let gaps = s.gap_questions(t0 - min(1)).expect("gaps");
        assert_eq!(gaps.len(), 1, "{gaps:?}");
        assert_eq!(gaps[0].why, "abstained");
        assert!(gaps[0].text.contains("robot"));
        assert!(s.gap_questions(t0 + min(1)).expect("gaps").is_empty());
        assert!(s.message(q).expect("q").is_some());
    });
}

#[test]
fn a_reply_its_statistics_and_the_dialogue_state_are_kept_together_or_not_at_all() {
    for_each_engine(|s, t0| {
        let mut u = tg(s, "1", "1", t0);
        u.dialogue = Dialogue::Idle { low_streak: 2 };
        let reply = NewMessage {
            text: "Svar.",
            lang: Some(Lang::Sv),
            outcome: Some("answered"),
            sources: vec!["faq/a.md".into()],
            query: Some("fråga"),
            ..Default::default()
        };
        let stats = [
            NewStat {
                kind: "answer",
                detail: Some("answered"),
                value: None,
            },
            NewStat {
                kind: "topic",
                detail: Some("faq/a.md"),
                value: None,
            },
        ];
        let id = s.add_reply(&u, &reply, &stats, t0).expect("reply");
        let m = s.message(id).expect("message").expect("kept");
        assert_eq!(m.role, Role::Bot);
        assert_eq!(m.user_id, u.id);
        assert_eq!(m.sources, vec!["faq/a.md".to_string()]);
        assert_eq!(m.query.as_deref(), Some("fråga"));
        assert_eq!(
            s.user(u.id).expect("user").expect("exists").dialogue,
            Dialogue::Idle { low_streak: 2 },
            "the dialogue state is saved with the reply"
        );
        let day = t0.date_naive();
        let kinds = |s: &dyn State| -> Vec<(String, Option<String>)> {
            s.stats(day, day)
                .expect("stats")
                .into_iter()
                .map(|r| (r.kind, r.detail))
                .collect()
        };
        assert_eq!(
            kinds(s),
            [
                ("answer".to_string(), Some("answered".to_string())),
                ("topic".to_string(), Some("faq/a.md".to_string()))
            ]
        );

        // A reply that cannot be stored (its user is gone) leaves no
        // statistic behind: the turn's writes are one transaction.
        let mut gone = u.clone();
        gone.id = -7;
        assert!(s.add_reply(&gone, &reply, &stats, t0).is_err());
        assert_eq!(kinds(s).len(), 2, "nothing of the failed reply is kept");
    });
}

#[test]
fn forget_removes_every_trace_of_the_person_and_nobody_elses() {
    for_each_engine(|s, t0| {
        let private = tg(s, "1", "1", t0);
        let group = tg(s, "1@-7", "-7", t0);
        let other = tg(s, "2", "2", t0);
        for (u, text) in [
            (&private, "Lisa Larsson, 070-1234567"),
            (&group, "gruppfråga från Lisa"),
            (&other, "Nils fråga"),
        ] {
            s.add_message(
                u.id,
                Role::User,
                &NewMessage {
                    text,
                    ..Default::default()
                },
                t0,
            )
            .expect("message");
        }
        let open = new_id(open_ticket(s, &group, t0, 0));
        s.set_thread(open, Platform::Telegram, "-200", "5")
            .expect("thread");
        let done = s.forget(private.id).expect("forget");
        assert_eq!(done.identities, 2);
        assert_eq!(done.messages, 2);
        assert_eq!(done.open, vec![open]);
        let all = format!("{:?}", s.dump_all().expect("dump"));
        assert!(
            !all.contains("Lisa"),
            "no text of the person is left: {all}"
        );
        assert!(all.contains("Nils fråga"), "another user's rows stay");
        assert_eq!(s.user(private.id).expect("user"), None);
        assert_eq!(s.user(group.id).expect("user"), None);
        assert_eq!(s.ticket(open).expect("ticket"), None);
        assert!(s.user(other.id).expect("user").is_some());
        assert_eq!(s.forget(private.id).expect("again"), Default::default());
    });
}

#[test]
fn retention_purges_what_is_older_than_the_period() {
    for_each_engine(|s, t0| {
        let old = tg(s, "1", "1", t0 - chrono::Duration::days(200));
        s.add_message(
            old.id,
            Role::User,
            &NewMessage {
                text: "gammal fråga",
                ..Default::default()
            },
            t0 - chrono::Duration::days(200),
        )
        .expect("old");
        let fresh = tg(s, "2", "2", t0);
        s.add_message(
            fresh.id,
            Role::User,
            &NewMessage {
                text: "ny fråga",
                ..Default::default()
            },
            t0,
        )
        .expect("fresh");
        let d = s
            .enqueue(
                &NewDelivery::to_advisers(Some(fresh.id), None, "x"),
                t0,
                None,
            )
            .expect("enqueue")
            .expect("new");
        s.mark_delivered(d.id, t0 - chrono::Duration::days(200))
            .expect("delivered");
        let p = s.purge(t0, chrono::Duration::days(90)).expect("purge");
        assert_eq!(p.messages, 1);
        assert_eq!(p.users, 1);
        assert!(p.deliveries >= 1, "{p:?}");
        assert_eq!(s.user(old.id).expect("user"), None);
        assert_eq!(s.recent_messages(fresh.id, 10).expect("recent").len(), 1);
        assert_eq!(
            s.purge(t0, chrono::Duration::days(90)).expect("again"),
            Default::default()
        );
        assert_eq!(s.quick_check().expect("check"), None);
        s.checkpoint().expect("checkpoint");
    });
}

#[test]
fn two_handles_on_one_database_never_lease_the_same_delivery() {
    let t0 = Utc
        .with_ymd_and_hms(2026, 3, 2, 9, 0, 0)
        .single()
        .expect("t0");
    for e in engines() {
        eprintln!("store contract on {}", e.name);
        let a = e.store.clone();
        let b = (e.reopen)();
        let u = tg(a.as_ref(), "1", "1", t0);
        let mut all = Vec::new();
        for i in 0..40 {
            let text = format!("m{i}");
            let d = NewDelivery {
                user_id: Some(u.id),
                ticket_id: None,
                target: Target::User(u.chat()),
                text: &text,
                buttons: &[],
                dedupe_key: None,
                meta: None,
            };
            all.push(a.enqueue(&d, t0, None).expect("enqueue").expect("new").id);
        }
        // Both handles lease at once, a few at a time, until none is left.
        let taken: Vec<Vec<i64>> = std::thread::scope(|sc| {
            let runs: Vec<_> = [a.clone(), b.clone()]
                .into_iter()
                .map(|s| {
                    sc.spawn(move || {
                        let mut got = Vec::new();
                        loop {
                            let ds = s
                                .lease_pending(
                                    t0,
                                    Duration::from_secs(60),
                                    3,
                                    &[Platform::Telegram],
                                )
                                .expect("lease");
                            if ds.is_empty() {
                                return got;
                            }
                            got.extend(ds.iter().map(|d| d.id));
                        }
                    })
                })
                .collect();
            runs.into_iter()
                .map(|r| r.join().expect("leaser"))
                .collect()
        });
        let mut both: Vec<i64> = taken.concat();
        both.sort();
        assert_eq!(
            both, all,
            "every delivery leased exactly once across both handles"
        );
    }
}

#[test]
fn a_start_up_release_frees_only_leases_whose_holder_is_gone() {
    let t0 = Utc
        .with_ymd_and_hms(2026, 3, 2, 9, 0, 0)
        .single()
        .expect("t0");
    let lease = Duration::from_secs(60);
    for e in engines() {
        eprintln!("store contract on {}", e.name);
        let a = e.store.clone();
        let u = tg(a.as_ref(), "1", "1", t0);
        for text in ["a", "b"] {
            a.enqueue(
                &NewDelivery {
                    user_id: Some(u.id),
                    ticket_id: None,
                    target: Target::User(u.chat()),
                    text,
                    buttons: &[],
                    dedupe_key: None,
                    meta: None,
                },
                t0,
                None,
            )
            .expect("enqueue");
        }
        let held = a
            .lease_pending(t0, lease, 10, &[Platform::Telegram])
            .expect("lease");
        assert_eq!(held.len(), 2);
        // A second instance starts while the first is alive.
        let b = (e.reopen)();
        let freed = b
            .release_leases(&[Platform::Telegram], &[])
            .expect("release");
        if e.name == "sqlite" {
            // SQLite is one process's engine: a start-up frees every lease
            // (they can only be a crashed run's). Documented in the README.
            assert_eq!(freed, 2);
            continue;
        }
        assert_eq!(freed, 0, "a live instance's leases are left alone");
        assert!(
            b.lease_pending(t0, lease, 10, &[Platform::Telegram])
                .expect("lease")
                .is_empty(),
            "and not taken while they run"
        );
        // An expired lease is anyone's.
        let later = t0 + chrono::Duration::seconds(61);
        let taken = b
            .lease_pending(later, lease, 1, &[Platform::Telegram])
            .expect("lease");
        assert_eq!(taken.len(), 1, "an expired lease is taken over");
        // The first instance, late, gives it back or postpones it: that is
        // no longer its lease, so nothing changes.
        a.release(taken[0].id).expect("release");
        a.retry_later(taken[0].id, t0, Duration::from_secs(0))
            .expect("retry");
        let soon = t0 + chrono::Duration::seconds(1);
        assert!(
            b.lease_pending(soon, lease, 10, &[Platform::Telegram])
                .expect("lease")
                .is_empty(),
            "the lease taken over stays the second instance's"
        );
        // The first instance dies (its connections close): the next start
        // frees what it held, but not what the live second one holds.
        drop(held);
        drop(a);
        let Engine {
            store,
            reopen,
            _guard,
            ..
        } = e;
        drop(store);
        let c = reopen();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let freed = loop {
            // The server notices the closed sessions a moment later.
            let n = c
                .release_leases(&[Platform::Telegram], &[])
                .expect("release");
            if n > 0 || std::time::Instant::now() > deadline {
                break n;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        assert_eq!(freed, 1, "the dead instance's lease, not the live one's");
        let got = c
            .lease_pending(t0, lease, 10, &[Platform::Telegram])
            .expect("lease");
        assert_eq!(got.len(), 1);
        assert_ne!(got[0].id, taken[0].id);
        drop(_guard);
    }
}

/// What a new ticket's advisers are told (as `Tickets::create_ticket` takes it).
type Notify<'c> = &'c dyn Fn(&kraft_core::store::TicketRow) -> Vec<(Target, String, Vec<Button>)>;

#[test]
fn a_panic_inside_a_transaction_rolls_it_back_and_the_store_goes_on() {
    for_each_engine(|s, t0| {
        let u = tg(s, "7", "7", t0);
        let new = |notify: Notify<'_>| {
            s.create_ticket(
                NewTicket {
                    user_id: u.id,
                    reason: "user_request",
                    summary: "s",
                    lang: Lang::Sv,
                    platform: Platform::Telegram,
                    chat_id: "7",
                    relay_chat: Some("7"),
                    max_per_day: 0,
                },
                notify,
                t0,
                Duration::from_secs(60),
            )
        };
        let panicked = std::thread::scope(|sc| {
            sc.spawn(|| new(&|_| panic!("a bug while composing the note")))
                .join()
        });
        assert!(panicked.is_err(), "the closure panicked");
        assert_eq!(s.open_ticket_of(u.id).expect("usable"), None, "rolled back");
        assert_eq!(s.undelivered().expect("n"), 0);
        let made = new(&|_| Vec::new()).expect("usable after the panic");
        assert!(matches!(made, Opened::New(..)), "{made:?}");
    });
}

/// The store traits are synchronous and called from async code: the
/// PostgreSQL engine must work from inside a runtime (the `postgres`
/// crate alone would panic there), on both runtime flavours.
#[test]
fn postgres_works_from_inside_both_tokio_runtimes() {
    let Some(admin) = kraft_tests::pg::server("the store contract") else {
        return;
    };
    let db = TestDb::create(&admin);
    for multi in [false, true] {
        let rt = if multi {
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
        } else {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
        }
        .expect("runtime");
        let url = db.url.clone();
        let n = rt.block_on(async move {
            let s = PgStore::open(&url).expect("open inside a runtime");
            let u = s
                .touch_user(&UserRef::new(Platform::Telegram, "1", "1"), Utc::now())
                .expect("a call inside a runtime");
            let s = Arc::new(s);
            let s2 = s.clone();
            tokio::spawn(async move { s2.user(u.id).expect("from a task").is_some() })
                .await
                .expect("task")
        });
        assert!(n, "the user is read back (multi-thread: {multi})");
    }
}

/// PostgreSQL's migrations: applied once at open, by one of several
/// instances starting at once; a schema newer than this build is refused.
#[test]
fn postgres_migrations_run_once_even_when_instances_start_together() {
    let Some(admin) = kraft_tests::pg::server("the store contract") else {
        return;
    };
    let db = TestDb::create(&admin);
    let opened: Vec<PgStore> = std::thread::scope(|sc| {
        let starts: Vec<_> = (0..3)
            .map(|_| sc.spawn(|| PgStore::open(&db.url).expect("open")))
            .collect();
        starts
            .into_iter()
            .map(|s| s.join().expect("start"))
            .collect()
    });
    let known = kraft_core::store::pg::pg_schema_versions();
    for s in &opened {
        assert_eq!(s.schema_version().expect("version"), known);
    }
    let ids: std::collections::HashSet<i32> = opened.iter().map(|s| s.instance()).collect();
    assert_eq!(ids.len(), 3, "live instances have distinct ids");
    let mut c = postgres::Client::connect(&db.url, postgres::NoTls).expect("connect");
    let versions: i64 = c
        .query_one("SELECT count(*) FROM kraft_schema_version", &[])
        .expect("count")
        .get(0);
    assert_eq!(versions, known, "each migration recorded once");
    c.execute(
        "INSERT INTO kraft_schema_version (version) VALUES ($1)",
        &[&(known + 1)],
    )
    .expect("a newer schema");
    let e = PgStore::open(&db.url).expect_err("newer schema");
    assert!(
        matches!(e, kraft_core::StoreError::PgTooNew { .. }),
        "{e:?}"
    );
}

#[test]
fn a_lease_has_one_holder_until_it_expires_or_is_given_back() {
    for_each_engine(|s, t0| {
        let ttl = Duration::from_secs(60);
        assert!(s.lease_take("ingest", "a", t0, ttl).expect("take"));
        assert!(
            !s.lease_take("ingest", "b", t0 + min(0), ttl).expect("try"),
            "held by another"
        );
        assert!(
            s.lease_take("other", "b", t0, ttl).expect("take"),
            "leases are by name"
        );
        // The holder renews it; the other still cannot take it.
        assert!(s
            .lease_take("ingest", "a", t0 + chrono::Duration::seconds(50), ttl)
            .expect("renew"));
        assert!(!s
            .lease_take("ingest", "b", t0 + chrono::Duration::seconds(70), ttl)
            .expect("renewed, still held"));
        let (who, until) = s
            .lease_holder("ingest", t0 + chrono::Duration::seconds(70))
            .expect("holder")
            .expect("held");
        assert_eq!(who, "a");
        assert_eq!(until, t0 + chrono::Duration::seconds(110));
        // Expired: anyone's, and the old holder's drop changes nothing.
        let later = t0 + chrono::Duration::seconds(111);
        assert_eq!(s.lease_holder("ingest", later).expect("holder"), None);
        assert!(s.lease_take("ingest", "b", later, ttl).expect("take over"));
        assert!(!s.lease_drop("ingest", "a").expect("drop"), "not a's now");
        assert_eq!(
            s.lease_holder("ingest", later).expect("h").map(|h| h.0),
            Some("b".to_string())
        );
        assert!(s.lease_drop("ingest", "b").expect("drop"));
        assert_eq!(s.lease_holder("ingest", later).expect("h"), None);
        assert!(s.lease_take("ingest", "a", later, ttl).expect("free again"));
        // Leases expired for a minute are pruned; live ones stay.
        s.coord_prune(later + min(2) + chrono::Duration::seconds(1))
            .expect("prune");
        assert_eq!(s.lease_holder("ingest", later).expect("h"), None, "pruned");
    });
}

#[test]
fn two_handles_racing_for_a_lease_give_it_to_exactly_one() {
    let t0 = Utc
        .with_ymd_and_hms(2026, 3, 2, 9, 0, 0)
        .single()
        .expect("t0");
    for e in engines() {
        eprintln!("store contract on {}", e.name);
        let handles = [e.store.clone(), (e.reopen)()];
        let barrier = std::sync::Barrier::new(2);
        let won: Vec<Vec<bool>> = std::thread::scope(|sc| {
            let runs: Vec<_> = handles
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let barrier = &barrier;
                    sc.spawn(move || {
                        (0..30)
                            .map(|round| {
                                barrier.wait();
                                s.lease_take(
                                    &format!("chat:telegram:{round}"),
                                    &format!("instance-{i}"),
                                    t0,
                                    Duration::from_secs(30),
                                )
                                .expect("take")
                            })
                            .collect()
                    })
                })
                .collect();
            runs.into_iter().map(|r| r.join().expect("taker")).collect()
        });
        for (round, (a, b)) in won[0].iter().zip(&won[1]).enumerate() {
            assert_eq!(
                u8::from(*a) + u8::from(*b),
                1,
                "round {round}: exactly one handle holds the lease ({})",
                e.name
            );
        }
    }
}

#[test]
fn the_flood_limit_admits_a_burst_warns_once_and_regains_over_time() {
    use kraft_core::flood::Verdict;
    for_each_engine(|s, t0| {
        // 20 a minute, a burst of 8: one message regained every 3 s.
        let check = |key: &str, at: DateTime<Utc>| s.flood_admit(key, at, 20, 8).expect("flood");
        assert_eq!(check("telegram:0", t0), Verdict::Allow);
        let verdicts: Vec<Verdict> = (0..12).map(|_| check("telegram:1", t0)).collect();
        assert_eq!(&verdicts[..8], &[Verdict::Allow; 8], "the burst passes");
        assert_eq!(verdicts[8], Verdict::Warn);
        assert_eq!(&verdicts[9..], &[Verdict::Drop; 3]);
        assert_eq!(check("telegram:2", t0), Verdict::Allow, "others unaffected");
        let t3 = t0 + chrono::Duration::seconds(3);
        assert_eq!(check("telegram:1", t3), Verdict::Allow);
        assert_eq!(check("telegram:1", t3), Verdict::Drop, "warned this minute");
        let t64 = t3 + chrono::Duration::seconds(61);
        for _ in 0..8 {
            assert_eq!(check("telegram:1", t64), Verdict::Allow);
        }
        assert_eq!(
            check("telegram:1", t64),
            Verdict::Warn,
            "again after a minute"
        );
        // Quiet keys are forgotten: back at a full burst at once.
        let quiet = t64 + min(10);
        assert!(s.coord_prune(quiet).expect("prune") >= 3);
        for _ in 0..8 {
            assert_eq!(check("telegram:1", quiet), Verdict::Allow);
        }
    });
}

#[test]
fn two_handles_share_one_flood_limit() {
    use kraft_core::flood::Verdict;
    let t0 = Utc
        .with_ymd_and_hms(2026, 3, 2, 9, 0, 0)
        .single()
        .expect("t0");
    for e in engines() {
        eprintln!("store contract on {}", e.name);
        assert_eq!(
            e.store.shared(),
            e.name == "postgres",
            "only PostgreSQL is shared by several processes"
        );
        let handles = [e.store.clone(), (e.reopen)()];
        // Two instances get one user's messages at the same moment.
        let verdicts: Vec<Verdict> = std::thread::scope(|sc| {
            let runs: Vec<_> = handles
                .iter()
                .map(|s| {
                    sc.spawn(move || {
                        (0..20)
                            .map(|_| s.flood_admit("telegram:7", t0, 20, 8).expect("flood"))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            runs.into_iter()
                .flat_map(|r| r.join().expect("checker"))
                .collect()
        });
        let count = |v: Verdict| verdicts.iter().filter(|&&x| x == v).count();
        assert_eq!(
            count(Verdict::Allow),
            8,
            "one burst between both ({})",
            e.name
        );
        assert_eq!(count(Verdict::Warn), 1, "one warning between both");
        assert_eq!(count(Verdict::Drop), 31);
    }
}

#[test]
fn the_events_of_one_chat_are_listed_for_whoever_leases_it() {
    for_each_engine(|s, t0| {
        let p = Platform::Telegram;
        let ev = |key: &'static str, chat: &'static str| InboxEvent {
            key,
            chat,
            payload: "{}",
        };
        s.inbox_add(
            p,
            &[ev("1", "a"), ev("2", "b"), ev("3", "a"), ev("4", "a")],
            None,
            t0,
        )
        .expect("add");
        let a = s.inbox_pending_chat(p, "a", 10).expect("pending");
        assert_eq!(
            a.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(),
            ["1", "3", "4"],
            "that chat's only, oldest first"
        );
        // Handled meanwhile (by another instance): no longer listed.
        s.inbox_done(a[0].id, &[], t0, Duration::from_secs(60))
            .expect("done");
        let a = s.inbox_pending_chat(p, "a", 10).expect("pending");
        assert_eq!(
            a.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(),
            ["3", "4"]
        );
        assert!(s
            .inbox_pending_chat(Platform::Discord, "a", 10)
            .expect("other platform")
            .is_empty());
    });
}
