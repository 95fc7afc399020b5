//! Reports for the project team on a database seeded through the real
//! core (known conversations, a needs analysis, feedback, an escalation and
//! an adviser reply 10 minutes later): the follow-up report's exact
//! numbers split by platform and region, no user identifiers in it, the
//! knowledge-gap grouping, and retention: after the purge the conversation
//! text is gone and the follow-up report is unchanged.

use chrono::Duration;
use kraft_core::model::{Action, Platform, UserRef};
use kraft_core::report;
use kraft_core::store::TicketStatus;
use kraft_ingest::text::{Analyzer, Bm25Params};
use kraft_tests::bot::{default_core_settings, real_kb, start_time, TestBot};

fn answer_id(actions: &[Action]) -> i64 {
    actions
        .iter()
        .flat_map(|a| match a {
            Action::Reply { buttons, .. } => buttons.clone(),
            _ => vec![],
        })
        .find_map(|b| b.id.strip_prefix("fb:up:").map(str::to_string))
        .expect("an answer with feedback buttons")
        .parse()
        .expect("message id")
}

const TEXTS: [&str; 6] = [
    "Vi är en mekanisk verkstad",
    "Vi finns i Eskilstuna",
    "Hur länge pågår projektet?",
    "Vad har ni för telefonnummer?",
    "Vad är en behovsanalys?",
    "Färre kassationer",
];

async fn seeded() -> (TestBot, i64, Vec<UserRef>) {
    let b = TestBot::start(&real_kb(), default_core_settings()).await;
    let a = UserRef::new(Platform::Telegram, "tg-user-4711", "chat-4711");
    let bb = UserRef::new(Platform::Discord, "dc-user-0815", "dm-0815");
    let c = UserRef::new(Platform::Telegram, "tg-user-9999", "chat-9999");

    // Day 1. A: a whole needs analysis (Sörmland), one question, 👍.
    b.say(&a, "/analys").await;
    for t in [
        TEXTS[0],
        "35",
        TEXTS[1],
        "Kvalitetskontroll",
        "Bilder",
        "Excel",
        TEXTS[5],
        "Ja",
    ] {
        b.say(&a, t).await;
    }
    b.say(&a, "Här i chatten").await;
    let up = answer_id(&b.say(&a, TEXTS[2]).await);
    b.press(&a, &format!("fb:up:{up}")).await;

    // B (Discord, region unknown): two abstentions → escalation; an adviser
    // answers 10 minutes later.
    b.say(&bb, TEXTS[3]).await;
    let second = b.say(&bb, TEXTS[3]).await;
    let ticket = second
        .iter()
        .find_map(|x| match x {
            Action::TicketOpened { ticket, .. } => Some(*ticket),
            _ => None,
        })
        .expect("two abstentions in a row open a ticket");
    b.clock.advance(Duration::minutes(10));
    b.assistant
        .desk()
        .reply(
            ticket,
            "Rådgivare Anna",
            "Hej! Det hjälper Skatteverket till med.",
            None,
        )
        .expect("adviser reply");

    // C: an answer voted 👎, then 40 minutes later a new conversation whose
    // question opens a ticket (👎 and asked again).
    let down = answer_id(&b.say(&c, TEXTS[2]).await);
    b.press(&c, &format!("fb:down:{down}")).await;
    b.clock.advance(Duration::minutes(40));
    b.say(&c, TEXTS[4]).await;

    // Day 2: A comes back.
    b.clock.advance(Duration::days(1));
    b.say(&a, TEXTS[2]).await;
    (b, ticket, vec![a, bb, c])
}

fn md_has_topic(md: &str, path: &str) -> bool {
    md.contains(&format!("| {path} | 3 |"))
}

fn follow_up(b: &TestBot) -> report::FollowUp {
    let from = start_time().date_naive();
    let to = from + Duration::days(1);
    let rows = b.assistant.store().stats(from, to).expect("stats");
    report::follow_up(&rows, from, to)
}

fn value(r: &report::FollowUp, metric: &str, column: &str) -> String {
    let c = r
        .columns
        .iter()
        .position(|x| x == column)
        .unwrap_or_else(|| panic!("no column {column}"));
    r.rows
        .iter()
        .find(|m| m.key == metric)
        .unwrap_or_else(|| panic!("no metric {metric}"))
        .values[c]
        .clone()
}

#[tokio::test]
async fn follow_up_counts_are_exact_split_by_platform_and_region_and_anonymous() {
    let (b, _, users) = seeded().await;
    let r = follow_up(&b);
    let expect = [
        (
            "companies",
            [
                ("all", "3"),
                ("telegram", "2"),
                ("discord", "1"),
                ("sormland", "1"),
                ("unknown", "2"),
            ],
        ),
        (
            "conversations",
            [
                ("all", "5"),
                ("telegram", "4"),
                ("discord", "1"),
                ("sormland", "2"),
                ("unknown", "3"),
            ],
        ),
        (
            "questions",
            [
                ("all", "6"),
                ("telegram", "4"),
                ("discord", "2"),
                ("sormland", "2"),
                ("unknown", "4"),
            ],
        ),
        (
            "answered",
            [
                ("all", "4"),
                ("telegram", "4"),
                ("discord", "0"),
                ("sormland", "2"),
                ("unknown", "2"),
            ],
        ),
        (
            "abstained",
            [
                ("all", "2"),
                ("telegram", "0"),
                ("discord", "2"),
                ("sormland", "0"),
                ("unknown", "2"),
            ],
        ),
        (
            "analyses_started",
            [
                ("all", "1"),
                ("telegram", "1"),
                ("discord", "0"),
                ("sormland", "1"),
                ("unknown", "0"),
            ],
        ),
        (
            "analyses_completed",
            [
                ("all", "1"),
                ("telegram", "1"),
                ("discord", "0"),
                ("sormland", "1"),
                ("unknown", "0"),
            ],
        ),
        (
            "escalations",
            [
                ("all", "2"),
                ("telegram", "1"),
                ("discord", "1"),
                ("sormland", "0"),
                ("unknown", "2"),
            ],
        ),
        (
            "median_first_reply_min",
            [
                ("all", "10.0"),
                ("telegram", "–"),
                ("discord", "10.0"),
                ("sormland", "–"),
                ("unknown", "10.0"),
            ],
        ),
        (
            "feedback_up",
            [
                ("all", "1"),
                ("telegram", "1"),
                ("discord", "0"),
                ("sormland", "1"),
                ("unknown", "0"),
            ],
        ),
        (
            "feedback_down",
            [
                ("all", "1"),
                ("telegram", "1"),
                ("discord", "0"),
                ("sormland", "0"),
                ("unknown", "1"),
            ],
        ),
        (
            "feedback_ratio",
            [
                ("all", "50 %"),
                ("telegram", "50 %"),
                ("discord", "–"),
                ("sormland", "100 %"),
                ("unknown", "0 %"),
            ],
        ),
    ];
    for (metric, cols) in expect {
        for (col, want) in cols {
            assert_eq!(
                value(&r, metric, col),
                want,
                "{metric} / {col}\n{}",
                r.markdown()
            );
        }
    }
    assert_eq!(value(&r, "conversations", "vastmanland"), "0");
    // "Hur länge pågår projektet?" was answered three times from one page.
    assert_eq!(r.topics.first().map(|t| t.1), Some(3), "{:?}", r.topics);
    assert!(md_has_topic(&r.markdown(), &r.topics[0].0));
    assert_eq!(
        r.topics.iter().map(|t| t.1).sum::<usize>(),
        4,
        "one topic per answered question"
    );

    // A date range without day 2 loses A's return visit.
    let day1 = start_time().date_naive();
    let rows = b.assistant.store().stats(day1, day1).expect("stats");
    let r1 = report::follow_up(&rows, day1, day1);
    assert_eq!(value(&r1, "conversations", "all"), "4");

    // Nothing identifies a user: no platform ids, chat ids, subject tokens
    // or message text in either format.
    let md = r.markdown();
    let csv = r.csv().expect("csv");
    let dump = b.assistant.store().dump_all().expect("dump");
    let subjects: Vec<String> = dump
        .iter()
        .find(|(t, _)| t == "users")
        .map(|(_, rows)| rows.clone())
        .unwrap_or_default();
    assert_eq!(subjects.len(), 3);
    for out in [&md, &csv] {
        for u in &users {
            assert!(
                !out.contains(&u.user_id) && !out.contains(&u.chat_id),
                "{out}"
            );
        }
        for t in TEXTS {
            assert!(!out.contains(t), "message text {t:?} in the report:\n{out}");
        }
        let stats = b
            .assistant
            .store()
            .stats(day1, day1 + Duration::days(1))
            .expect("stats");
        for s in stats {
            assert!(!out.contains(&s.subject), "subject token in the report");
        }
    }
    assert!(
        csv.starts_with(
            "metric,all,telegram,discord,terminal,vastmanland,sormland,other,unknown\n"
        ),
        "{csv}"
    );
    assert!(csv.contains("\ncompanies,3,2,1,0,0,1,0,2\n"), "{csv}");
    assert!(
        md.contains("| Companies reached (distinct users) | 3 | 2 | 1 | 0 | 0 | 1 | 0 | 2 |"),
        "{md}"
    );
}

#[tokio::test]
async fn knowledge_gaps_group_similar_questions_with_counts_and_examples() {
    let (b, _, _) = seeded().await;
    let qs = b
        .assistant
        .store()
        .gap_questions(start_time() - Duration::days(1))
        .expect("gaps");
    assert_eq!(qs.len(), 3, "two abstentions and one 👎: {qs:#?}");
    let analyzer = Analyzer::new(Bm25Params::default()).expect("analyzer");
    let gaps = report::gaps(&qs, &analyzer, 0.5);
    assert_eq!(gaps.len(), 2, "{gaps:#?}");
    assert_eq!(
        (gaps[0].count, gaps[0].abstained, gaps[0].downvoted),
        (2, 2, 0)
    );
    assert_eq!(
        gaps[0].examples,
        ["Vad har ni för telefonnummer?"],
        "duplicates shown once"
    );
    assert_eq!((gaps[1].count, gaps[1].downvoted), (1, 1));
    let md = report::gaps_markdown(&gaps, start_time().date_naive());
    assert!(md.contains("3 questions in 2 groups"), "{md}");
    let csv = report::gaps_csv(&gaps).expect("csv");
    assert!(
        csv.lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("1,2,2,0,sv,")),
        "{csv}"
    );
}

#[tokio::test]
async fn retention_removes_old_text_and_leaves_the_report_unchanged() {
    let (b, ticket, users) = seeded().await;
    b.assistant.desk().resolve(ticket, None).expect("resolve");
    for t in b
        .assistant
        .store()
        .tickets(&[TicketStatus::Waiting, TicketStatus::Active], 100)
        .expect("tickets")
    {
        b.assistant.desk().resolve(t.id, None).expect("resolve");
    }
    let before = follow_up(&b);
    let dump = format!("{:?}", b.assistant.store().dump_all().expect("dump"));
    assert!(
        dump.contains("telefonnummer") && dump.contains("Eskilstuna"),
        "seeded text is there first"
    );

    // Past the retention period; the scheduled clean-up runs from `tick`.
    b.clock
        .advance(Duration::days(b.settings.privacy.retention_days + 1));
    b.assistant.tick().expect("tick");

    let dump = b.assistant.store().dump_all().expect("dump");
    let all = format!("{dump:?}");
    for t in TEXTS {
        assert!(!all.contains(t), "{t:?} survived retention");
    }
    for u in &users {
        assert!(
            !all.contains(&u.user_id),
            "user {} survived retention",
            u.user_id
        );
    }
    for (table, rows) in &dump {
        if ["messages", "analyses", "tickets", "users", "feedback"].contains(&table.as_str()) {
            assert!(rows.is_empty(), "{table} still has {} rows", rows.len());
        }
    }
    let after = follow_up(&b);
    assert_eq!(before.markdown(), after.markdown());
    assert_eq!(before.csv().expect("csv"), after.csv().expect("csv"));
    // Gaps have no text left to show.
    let qs = b
        .assistant
        .store()
        .gap_questions(start_time())
        .expect("gaps");
    assert!(qs.is_empty());
}
