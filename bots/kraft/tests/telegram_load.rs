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
use kraft_tests::tg::{Serve, TgDouble, TOKEN};

const QUESTIONS: [&str; 10] = [
    "Vad kostar det att delta?",
    "Hur anmäler jag mitt företag?",
    "Vad är en behovsanalys?",
    "Vilka län omfattar projektet?",
    "What is Kraftsamling AI Mälardalen?",
    "Hur lång tid tar en behovsanalys?",
    "Vad är matchmaking med akademin?",
    "Vem driver projektet?",
    "How much does it cost to take part?",
    "Vad händer efter behovsanalysen?",
];

struct Run {
    label: String,
    users: usize,
    messages: usize,
    wall: Duration,
    latencies: Vec<Duration>,
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

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
    let mut tasks = Vec::new();
    for i in 0..users {
        tasks.push(tokio::spawn(sme(tg.clone(), first_user + i as i64, n, i)));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.expect("simulated user"));
    }
    latencies.sort();
    Run {
        label: label.into(),
        users,
        messages: users * n,
        wall: t0.elapsed(),
        latencies,
    }
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
    let mut err = std::io::stderr();
    let _ = writeln!(
        err,
        "\nTelegram load run (kraft serve + teloxide Throttle → Bot API double, Telegram limits)\n\
         | run | messages | wall s | answers/s | p50 ms | p99 ms | max ms |\n\
         |---|---:|---:|---:|---:|---:|---:|"
    );
    for r in [&base, &load] {
        let _ = writeln!(
            err,
            "| {} | {} | {:.1} | {:.1} | {} | {} | {} |",
            r.label,
            r.messages,
            r.wall.as_secs_f64(),
            r.messages as f64 / r.wall.as_secs_f64(),
            pct(&r.latencies, 0.5).as_millis(),
            pct(&r.latencies, 0.99).as_millis(),
            pct(&r.latencies, 1.0).as_millis(),
        );
    }
    let _ = writeln!(
        err,
        "p99 under load / baseline p99: {:.1}× · rate-limit refusals: {} · users: {}\n",
        pct(&load.latencies, 0.99).as_secs_f64()
            / pct(&base.latencies, 0.99).as_secs_f64().max(1e-6),
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
