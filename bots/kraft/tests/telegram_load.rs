//! Load run: 500 simulated SMEs × 10 messages each through `kraft serve`
//! and the real teloxide client, against the Telegram double with
//! Telegram's rate limits (1 msg/s and 20/min per chat, 30/s overall).
//! Each SME waits for the answer before asking again, like a person.
//!
//! Checked: every message is answered exactly once. Measured: throughput,
//! latency and how often the double had to refuse a message for exceeding
//! a limit (429, which Kraft then retries), beside a single-user baseline taken in the same run (absolute
//! times on shared machines are noisy; the ratio is what to compare). The
//! table goes straight to stderr so it shows in `./tests/run` output.
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kraft_tests::bot::real_kb;
use kraft_tests::load::{p99_ratio, pct, print_table, Run, QUESTIONS};
use kraft_tests::serve::Serve;
use kraft_tests::tg::{TgDouble, TOKEN};

async fn sme(tg: Arc<TgDouble>, user: i64, n: usize, offset: usize) -> Vec<Duration> {
    let mut lat = Vec::with_capacity(n);
    for k in 0..n {
        let before = tg.count_to(user);
        let t0 = Instant::now();
        tg.user_says(user, QUESTIONS[(k + offset) % QUESTIONS.len()]);
        assert!(
            tg.wait_count(user, before + 1, Duration::from_secs(600))
                .await,
            "user {user}: message {k} was not answered"
        );
        lat.push(t0.elapsed());
    }
    lat
}

async fn run(tg: &Arc<TgDouble>, label: &str, first_user: i64, users: usize, n: usize) -> Run {
    let t0 = Instant::now();
    let tasks = (0..users)
        .map(|i| tokio::spawn(sme(tg.clone(), first_user + i as i64, n, i)))
        .collect();
    Run::gather(label, t0, n, tasks).await
}

#[tokio::test(flavor = "multi_thread")]
async fn load_500_smes_times_10_messages_each_answered_exactly_once() {
    let tmp = tempfile::tempdir().expect("tmp");
    let tg = Arc::new(TgDouble::start(TOKEN).await);
    let _s = Serve::start(
        env!("CARGO_BIN_EXE_kraft"),
        &tmp.path().join("data"),
        &real_kb(),
        &tg,
        &[
            ("KRAFT_LOG__FILTER", "warn,qdrant_edge=error"),
            ("KRAFT_TELEGRAM__MAX_CONCURRENT_CHATS", "512"),
        ],
    );
    // Warm-up (first connection, caches), not measured.
    run(&tg, "warm-up", 1, 1, 2).await;
    let base = run(&tg, "baseline: 1 SME × 10", 100, 1, 10).await;
    let load = run(&tg, "load: 500 SMEs × 10", 10_000, 500, 10).await;

    // Exactly once: nothing more arrives after a quiet moment. Checked for
    // every user and reported together, so a failure says who and how many.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let wrong: Vec<(i64, usize)> = (10_000..10_500)
        .chain(100..101)
        .map(|u| (u, tg.count_to(u)))
        .filter(|&(_, n)| n != 10)
        .collect();
    // Rate-limit refusals are reported, not asserted: Throttle paces
    // requests when it releases them, the double counts them when they
    // arrive, and on a loaded 2-core machine scheduling jitter can bunch
    // two releases closer than the double's 100 ms slack (seen once in
    // CI, once locally with 8 busy loops). Telegram answers such a
    // request with 429 as the double does; what must hold is that every
    // answer still arrives exactly once, which is asserted below.
    let refusals = tg.violations();
    print_table(
        "Telegram load run (kraft serve + teloxide Throttle → Bot API double, Telegram limits)",
        &[&base, &load],
    );
    eprintln!(
        "p99 under load / baseline p99: {:.1}× · rate-limit refusals: {} · users: {}\n",
        p99_ratio(&load, &base),
        refusals,
        load.users
    );
    assert!(
        wrong.is_empty(),
        "{} users did not get exactly 10 answers (user, answers): {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(20)]
    );
}

/// Resident memory of a process, from /proc (Linux), in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

const SOAK_GROUP: i64 = -100_900;
const SOAK_ADVISER: i64 = 900;

/// One soak user: `n` questions; an escalating user asks for a person at
/// message `escalate_at`, and then plays the adviser too: claim, reply in
/// the ticket's topic, resolve, each confirmed by what the user receives.
async fn soak_user(
    tg: Arc<TgDouble>,
    user: i64,
    n: usize,
    escalate_at: Option<usize>,
    skip: usize,
) -> Vec<Duration> {
    let mut lat = Vec::with_capacity(n);
    let wait = Duration::from_secs(1200);
    for k in skip..n {
        let before = tg.count_to(user);
        let t0 = Instant::now();
        if escalate_at == Some(k) {
            tg.user_says(user, "/human");
            assert!(
                tg.wait_count(user, before + 1, wait).await,
                "user {user}: /human unanswered"
            );
            lat.push(t0.elapsed());
            let opened = tg.sent_to(user).pop().map(|s| s.text).unwrap_or_default();
            let ticket: String = opened
                .split('#')
                .nth(1)
                .unwrap_or_default()
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            assert!(!ticket.is_empty(), "no ticket number in {opened:?}");
            let claim = format!("claim:{ticket}");
            let note = tg
                .wait_for(wait, "the ticket note", |s| {
                    s.iter()
                        .any(|m| m.chat == SOAK_GROUP && m.buttons.contains(&claim))
                })
                .await
                .into_iter()
                .find(|m| m.chat == SOAK_GROUP && m.buttons.contains(&claim))
                .expect("note");
            let c = tg.count_to(user);
            tg.press(SOAK_ADVISER, "Anna", &note, &claim);
            assert!(
                tg.wait_count(user, c + 1, wait).await,
                "user {user}: no 'adviser joined'"
            );
            tg.group_says(
                SOAK_GROUP,
                SOAK_ADVISER,
                "Anna",
                "Hej! Jag hjälper dig gärna.",
                note.thread,
                None,
            );
            assert!(
                tg.wait_count(user, c + 2, wait).await,
                "user {user}: adviser reply lost"
            );
            tg.press(SOAK_ADVISER, "Anna", &note, &format!("resolve:{ticket}"));
            assert!(
                tg.wait_count(user, c + 3, wait).await,
                "user {user}: no 'resolved'"
            );
            continue;
        }
        tg.user_says(user, QUESTIONS[(k + user as usize) % QUESTIONS.len()]);
        assert!(
            tg.wait_count(user, before + 1, wait).await,
            "user {user}: message {k} was not answered"
        );
        lat.push(t0.elapsed());
    }
    lat
}

/// The soak: 1,000 SMEs × 20 messages with escalations and adviser
/// replies mixed in; memory sampled after warm-up and at the end. About
/// 12 minutes (Telegram's 30 messages/s is the ceiling), so it is not part
/// of `./tests/run`:
///
///     cargo test -p kraft --test telegram_load -- --ignored soak --nocapture
#[tokio::test(flavor = "multi_thread")]
#[ignore = "12-minute soak; run explicitly (see RELIABILITY.md)"]
async fn soak_1000_smes_times_20_with_escalations_memory_flat() {
    const USERS: i64 = 1_000;
    const N: usize = 20;
    const WARM: usize = 2;
    let tmp = tempfile::tempdir().expect("tmp");
    let tg = Arc::new(TgDouble::start(TOKEN).await);
    tg.set_forum(SOAK_GROUP);
    tg.set_member(SOAK_GROUP, SOAK_ADVISER, "member");
    let g = SOAK_GROUP.to_string();
    let s = Serve::start(
        env!("CARGO_BIN_EXE_kraft"),
        &tmp.path().join("data"),
        &real_kb(),
        &tg,
        &[
            ("KRAFT_LOG__FILTER", "warn,qdrant_edge=error"),
            ("KRAFT_TELEGRAM__MAX_CONCURRENT_CHATS", "1024"),
            ("KRAFT_TELEGRAM__ADVISER_GROUP", &g),
        ],
    );
    let pid = s.pid();
    run(&tg, "warm-up", 1, 1, 2).await;
    let base = run(&tg, "baseline: 1 SME × 10", 100, 1, 10).await;

    // Warm-up: every user's first messages (per-user state exists now).
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for u in 0..USERS {
        tasks.push(tokio::spawn(soak_user(
            tg.clone(),
            20_000 + u,
            WARM,
            None,
            0,
        )));
    }
    let mut warm_lat = Vec::new();
    for t in tasks {
        warm_lat.extend(t.await.expect("user"));
    }
    let warm_wall = t0.elapsed();
    let rss_warm = rss_kib(pid).unwrap_or(0);

    // The rest, with escalations: every 50th user asks for a person once.
    let sampler = {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let st = stop.clone();
        let h = tokio::spawn(async move {
            let mut peak = 0u64;
            while !st.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(rss_kib(pid).unwrap_or(0));
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
            peak
        });
        (stop, h)
    };
    let t1 = Instant::now();
    let mut tasks = Vec::new();
    for u in 0..USERS {
        let esc = (u % 50 == 0).then_some(WARM + 3 + (u as usize / 50) % 12);
        tasks.push(tokio::spawn(soak_user(
            tg.clone(),
            20_000 + u,
            N,
            esc,
            WARM,
        )));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.expect("user"));
    }
    let wall = t1.elapsed();
    sampler.0.store(true, std::sync::atomic::Ordering::Relaxed);
    let peak = sampler.1.await.unwrap_or(0);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_end = rss_kib(pid).unwrap_or(0);
    lat.sort();
    warm_lat.sort();

    let wrong: Vec<(i64, usize, usize)> = (0..USERS)
        .map(|u| {
            let want = if u % 50 == 0 { N + 3 } else { N };
            (20_000 + u, want, tg.count_to(20_000 + u))
        })
        .filter(|(_, want, got)| want != got)
        .collect();
    let growth = (rss_end as f64 - rss_warm as f64) / (rss_warm.max(1) as f64) * 100.0;
    let mut err = std::io::stderr();
    let _ = writeln!(
        err,
        "\nSoak (kraft serve + teloxide → Bot API double, Telegram limits; 1,000 SMEs × 20, 20 escalations with adviser claim/reply/resolve)\n\
         | run | messages | wall s | answers/s | p50 ms | p99 ms | max ms |\n|---|---:|---:|---:|---:|---:|---:|"
    );
    for (label, l, w) in [
        ("baseline: 1 SME × 10", &base.latencies, base.wall),
        ("warm-up: 1,000 × 2", &warm_lat, warm_wall),
        ("soak: 1,000 × 18 + escalations", &lat, wall),
    ] {
        let _ = writeln!(
            err,
            "| {label} | {} | {:.1} | {:.1} | {} | {} | {} |",
            l.len(),
            w.as_secs_f64(),
            l.len() as f64 / w.as_secs_f64(),
            pct(l, 0.5).as_millis(),
            pct(l, 0.99).as_millis(),
            pct(l, 1.0).as_millis()
        );
    }
    let _ = writeln!(
        err,
        "RSS after warm-up {} MiB, at the end {} MiB ({growth:+.1} %), peak {} MiB · rate-limit refusals {} · wrong counts {}\n",
        rss_warm / 1024,
        rss_end / 1024,
        peak / 1024,
        tg.violations(),
        wrong.len()
    );
    assert!(
        wrong.is_empty(),
        "(user, expected, got): {:?}",
        &wrong[..wrong.len().min(20)]
    );
    assert!(rss_warm > 0 && rss_end > 0, "RSS not readable");
    assert!(
        growth <= 20.0,
        "RSS grew {growth:.1} % from warm-up to the end (limit 20 %)"
    );
}
