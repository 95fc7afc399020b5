//! Several `kraft serve` on one PostgreSQL state, Telegram in webhook mode
//! behind a small round-robin load balancer (`kraft_tests::lb`), answers
//! going to the Telegram double. Simulated SMEs each ask their questions
//! one after another (waiting for each answer, like a person); every
//! update is posted to the balancer, which spreads them over the
//! instances, so any instance takes any update of any chat.
//!
//! Three phases in one run, on distinct users: one instance; two
//! instances; two instances with one killed (`kill -9`) when about a third
//! of the answers are in. Checked: every question is answered exactly
//! once (a duplicate is allowed only where it cannot be avoided: a reply
//! the killed instance had leased, and may have sent but not confirmed,
//! when it died); nothing is left in the inbox; every delivery the killed
//! instance held is sent by the survivor, not before its lease expired and
//! within the lease time after that. Measured, never asserted: throughput
//! and p99 for one and two instances, printed as a table.
//!
//! Scale: 100 SMEs × 5 questions per phase by default (CI); the issue's
//! full 500 × 10 with `MULTI_USERS=500 MULTI_QUESTIONS=10` (see README:
//! Several instances); `MULTI_PG_POOL` sets the instances'
//! `state.postgres_pool` (default 4). The debug binary is what
//! `cargo test` builds.
//! Without `TEST_POSTGRES_URL` (set by `./tests/run`) the test is skipped,
//! loudly.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kraft_tests::bot::real_kb;
use kraft_tests::lb::Balancer;
use kraft_tests::load::{print_table, Run, QUESTIONS};
use kraft_tests::pg::{postgres, TestDb};
use kraft_tests::serve::Serve;
use kraft_tests::tg::{Limits, TgDouble, TOKEN};

const SECRET: &str = "multi-instance-test-secret";
/// The delivery lease (and so the chat lease) of the instances, short so
/// that a killed instance's work is taken over quickly.
const LEASE_SECS: i64 = 10;
/// The first key of the advisory lock that marks a live store instance
/// (`kraft_core::store::pg`: "KRFT").
const INSTANCE_LOCK_SPACE: i64 = 0x4b52_4654;

fn scale() -> (usize, usize, bool) {
    let get = |k: &str| std::env::var(k).ok().and_then(|v| v.trim().parse().ok());
    let users = get("MULTI_USERS").unwrap_or(100usize).max(1);
    let questions = get("MULTI_QUESTIONS").unwrap_or(5usize).clamp(1, 18);
    (users, questions, users >= 500 && questions >= 10)
}

fn start(tg: &TgDouble, db: &TestDb, data: &std::path::Path) -> Serve {
    let lease = LEASE_SECS.to_string();
    // PostgreSQL connections per instance (`state.postgres_pool`); the
    // default unless MULTI_PG_POOL says otherwise.
    let pool = std::env::var("MULTI_PG_POOL").unwrap_or_else(|_| "4".into());
    Serve::start(
        env!("CARGO_BIN_EXE_kraft"),
        data,
        &real_kb(),
        tg,
        &[
            ("KRAFT_LOG__FILTER", "warn,qdrant_edge=error"),
            ("KRAFT_STATE__ENGINE", "postgres"),
            ("KRAFT_STATE__POSTGRES_POOL", &pool),
            ("KRAFT_POSTGRES_URL", &db.url),
            ("KRAFT_TELEGRAM__MODE", "webhook"),
            (
                "KRAFT_TELEGRAM__WEBHOOK_URL",
                "https://kraft.example.org/telegram/webhook",
            ),
            ("KRAFT_TELEGRAM_WEBHOOK_SECRET", SECRET),
            ("KRAFT_TELEGRAM__MAX_CONCURRENT_CHATS", "512"),
            ("KRAFT_TELEGRAM__DELIVERY_LEASE_SECS", &lease),
            // Telegram's limits are per bot, the same for one instance or
            // several, so they are lifted here (and in the double): the
            // run measures Kraft. (Each instance paces its own sends: see
            // README, Several instances, for what that costs.)
            ("KRAFT_TELEGRAM__LIMITS__OVERALL_PER_SEC", "100000"),
            ("KRAFT_TELEGRAM__LIMITS__PER_CHAT_PER_SEC", "100000"),
            ("KRAFT_TELEGRAM__LIMITS__PER_CHAT_PER_MIN", "100000"),
            ("KRAFT_TELEGRAM__LIMITS__PER_GROUP_PER_MIN", "100000"),
        ],
    )
}

/// One SME: `n` questions, each posted to the balancer as Telegram would
/// post the update, then waiting for the answer.
async fn sme(tg: Arc<TgDouble>, lb: String, user: i64, n: usize) -> Vec<Duration> {
    let client = kraft_ingest::http::client();
    let mut lat = Vec::with_capacity(n);
    for k in 0..n {
        let before = tg.count_to(user);
        let t0 = Instant::now();
        let id = tg.user_says(user, QUESTIONS[(k + user as usize) % QUESTIONS.len()]);
        let update = tg.take_update(id).expect("the update just made");
        // Telegram retries a webhook POST that failed; so does this.
        let mut delivered = false;
        for _ in 0..30 {
            let r = client
                .post(format!("{lb}/telegram/webhook"))
                .header("content-type", "application/json")
                .header("X-Telegram-Bot-Api-Secret-Token", SECRET)
                .body(update.to_string())
                .send()
                .await;
            if r.is_ok_and(|r| r.status().is_success()) {
                delivered = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        assert!(
            delivered,
            "user {user}: the balancer never took update {id}"
        );
        assert!(
            tg.wait_count(user, before + 1, Duration::from_secs(300))
                .await,
            "user {user}: question {k} was not answered"
        );
        lat.push(t0.elapsed());
    }
    lat
}

async fn phase(
    tg: &Arc<TgDouble>,
    lb: &str,
    label: &str,
    first: i64,
    users: usize,
    n: usize,
) -> Run {
    let t0 = Instant::now();
    let tasks = (0..users)
        .map(|i| tokio::spawn(sme(tg.clone(), lb.to_string(), first + i as i64, n)))
        .collect();
    Run::gather(label, t0, n, tasks).await
}

/// A statement on the test database, off the async runtime (the
/// synchronous client runs a runtime of its own).
async fn sql<T: Send + 'static>(
    url: &str,
    f: impl FnOnce(&mut postgres::Client) -> T + Send + 'static,
) -> T {
    let url = url.to_string();
    tokio::task::spawn_blocking(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
        f(&mut c)
    })
    .await
    .expect("query")
}

/// What the killed instance held when it died: undelivered replies
/// leased by an instance whose advisory lock is gone, (id, chat, lease
/// end); and how many chat leases it held.
type Held = (Vec<(i64, String, chrono::DateTime<chrono::Utc>)>, i64);

async fn held_by_the_dead(url: &str, pid: u32) -> Held {
    sql(url, move |c| {
        let rows = c
            .query(
                "SELECT id, COALESCE(chat_id, ''), leased_until FROM outbox o
                  WHERE delivered_at IS NULL AND failed_at IS NULL AND leased_until > now()
                    AND leased_by IS NOT NULL AND NOT EXISTS (
                        SELECT 1 FROM pg_locks l
                         WHERE l.locktype = 'advisory' AND l.granted
                           AND l.classid::bigint = $1 AND l.objid::bigint = o.leased_by
                           AND l.objsubid = 2)",
                &[&INSTANCE_LOCK_SPACE],
            )
            .expect("leased outbox rows");
        let chats: i64 = c
            .query_one(
                "SELECT count(*) FROM leases WHERE owner LIKE $1 AND until > now()",
                &[&format!("{pid}-%")],
            )
            .expect("chat leases")
            .get(0);
        (
            rows.iter()
                .map(|r| (r.get(0), r.get(1), r.get(2)))
                .collect(),
            chats,
        )
    })
    .await
}

/// A plain test with a runtime of its own: the test database is made and
/// dropped outside it (the synchronous PostgreSQL client cannot run inside
/// a tokio runtime), even when the run panics.
#[test]
fn two_instances_behind_a_balancer_answer_every_question_once_and_survive_a_kill() {
    let Some(admin) = kraft_tests::pg::server("the multi-instance load test") else {
        return;
    };
    let db = TestDb::create(&admin);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(load_run(&db));
}

async fn load_run(db: &TestDb) {
    let (users, n, full) = scale();
    if !full {
        kraft_tests::loud(&format!(
            "SMALL SCALE: the multi-instance load test runs {users} SMEs × {n} questions per phase \
             (CI). The issue's full run is 500 × 10: MULTI_USERS=500 MULTI_QUESTIONS=10 \
             ./tests/run --test multi_instance -- --nocapture"
        ));
    }
    let started = Instant::now();
    let tmp = tempfile::tempdir().expect("tmp");
    let tg = Arc::new(
        TgDouble::with_limits(
            TOKEN,
            Limits {
                per_chat_per_sec: 100_000,
                per_chat_per_min: 100_000,
                per_group_per_min: 100_000,
                overall_per_sec: 100_000,
                ..Limits::default()
            },
        )
        .await,
    );
    let lb = Balancer::start().await;

    // One instance.
    let a = start(&tg, db, &tmp.path().join("a"));
    lb.add(&a.http);
    phase(&tg, &lb.url, "warm-up", 1, 2, 2).await;
    let one = phase(&tg, &lb.url, "1 instance", 100_000, users, n).await;

    // Two instances.
    let b = start(&tg, db, &tmp.path().join("b"));
    lb.add(&b.http);
    let a_before = lb.served(&a.http);
    let two = phase(&tg, &lb.url, "2 instances", 200_000, users, n).await;
    let (a_served, b_served) = (lb.served(&a.http) - a_before, lb.served(&b.http));

    // Two instances, one killed mid-run.
    let total = users * n;
    let first = 300_000i64;
    let run = {
        let (tg, lb_url) = (tg.clone(), lb.url.clone());
        tokio::spawn(async move {
            phase(
                &tg,
                &lb_url,
                "2 instances, one killed (kill -9) at 1/3",
                first,
                users,
                n,
            )
            .await
        })
    };
    let answered = |tg: &TgDouble| -> usize {
        (0..users)
            .map(|i| tg.count_to(first + i as i64))
            .sum::<usize>()
    };
    while answered(&tg) < total / 3 && !run.is_finished() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pid = a.pid();
    a.kill9();
    let killed_at = chrono::Utc::now();
    // PostgreSQL drops the dead process's sessions (and its instance
    // lock) as soon as their sockets close.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (held, chat_leases) = held_by_the_dead(&db.url, pid).await;
    let killed = run.await.expect("the killed run");
    // Let anything late arrive before counting.
    tokio::time::sleep(Duration::from_secs(3)).await;

    print_table(
        &format!(
            "Several instances (kraft serve, debug build, one PostgreSQL; Telegram webhooks through a round-robin balancer → Bot API double, Telegram's per-bot limits lifted){}",
            if full { "" } else { " — SMALL SCALE" }
        ),
        &[&one, &two, &killed],
    );
    eprintln!(
        "2-instance phase: balancer sent {a_served} / {b_served} requests to A / B · failovers after the kill: {} · \
         held by the killed instance: {} replies, {chat_leases} chats · rate-limit refusals: {} · whole test {:.0} s\n",
        lb.failovers(),
        held.len(),
        tg.violations(),
        started.elapsed().as_secs_f64()
    );

    // Exactly once, per user and phase.
    let held_chats: std::collections::HashSet<String> =
        held.iter().map(|(_, c, _)| c.clone()).collect();
    let mut wrong = Vec::new();
    let mut duplicates = Vec::new();
    for (start_id, count) in [(100_000i64, users), (200_000, users), (first, users)] {
        for u in start_id..start_id + count as i64 {
            let got = tg.count_to(u);
            if got == n {
                continue;
            }
            // A reply the killed instance may have sent but not confirmed.
            if start_id == first && got > n && held_chats.contains(&u.to_string()) {
                duplicates.push((u, got));
            } else {
                wrong.push((u, got));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} users did not get exactly {n} answers (user, answers): {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(20)]
    );
    assert!(
        duplicates.len() <= held.len(),
        "more duplicates than replies in flight at the kill: {duplicates:?}"
    );
    if !duplicates.is_empty() {
        eprintln!(
            "{} answers arrived twice: replies the killed instance had leased (sent, not yet confirmed) when it died: {duplicates:?}",
            duplicates.len()
        );
    }

    // Nothing left behind, nothing given up.
    let ids: Vec<i64> = held.iter().map(|(id, _, _)| *id).collect();
    let (unhandled, dead, unsent, taken_over) = sql(&db.url, move |c| {
        let one = |c: &mut postgres::Client, q: &str| -> i64 {
            c.query_one(q, &[]).expect("count").get(0)
        };
        let unhandled = one(c, "SELECT count(*) FROM inbox WHERE handled_at IS NULL");
        let dead = one(c, "SELECT count(*) FROM inbox WHERE error IS NOT NULL")
            + one(c, "SELECT count(*) FROM outbox WHERE failed_at IS NOT NULL");
        let unsent = one(
            c,
            "SELECT count(*) FROM outbox WHERE delivered_at IS NULL AND failed_at IS NULL",
        );
        let taken_over: Vec<(i64, Option<chrono::DateTime<chrono::Utc>>)> = c
            .query(
                "SELECT id, delivered_at FROM outbox WHERE id = ANY($1)",
                &[&ids],
            )
            .expect("held rows")
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        (unhandled, dead, unsent, taken_over)
    })
    .await;
    assert_eq!(unhandled, 0, "every stored update was handled");
    assert_eq!(dead, 0, "no event or reply was given up on");
    assert_eq!(unsent, 0, "every reply was sent");

    // The killed instance's replies: sent by the survivor once their lease
    // expired (not before: a lease is its holder's until then), and within
    // the lease time after it (the survivor looks every half second).
    let mut worst = Duration::ZERO;
    for (id, _, until) in &held {
        let delivered = taken_over
            .iter()
            .find(|(i, _)| i == id)
            .and_then(|(_, d)| *d)
            .unwrap_or_else(|| panic!("delivery {id} of the killed instance was never sent"));
        assert!(
            delivered >= *until,
            "delivery {id} was taken over before its lease expired"
        );
        worst = worst.max((delivered - *until).to_std().unwrap_or_default());
    }
    assert!(
        worst <= Duration::from_secs(LEASE_SECS as u64),
        "the killed instance's replies were taken over {worst:?} after their lease expired (lease {LEASE_SECS} s)"
    );
    eprintln!(
        "killed at {killed_at}; its {} leased replies were taken over at most {:.1} s after their {LEASE_SECS}-s lease expired",
        held.len(),
        worst.as_secs_f64()
    );
    drop(b);
}
