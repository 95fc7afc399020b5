//! Load run: 500 simulated SMEs × 10 DMs each through `kraft serve` and the
//! real serenity client (gateway, HTTPS, rate limiter) against the Discord
//! double. Each SME waits for the answer before asking again, like a
//! person.
//!
//! Checked: every message is answered exactly once. Measured: throughput
//! and latency beside a single-user baseline taken in the same run
//! (absolute times on shared machines are noisy; the ratio is what to
//! compare). The double enforces no request quota, so this is Kraft's and
//! serenity's own ceiling; Discord's (50 requests/s per bot, 5 messages per
//! 5 s per channel) is above what one SME in one DM can use. The table goes
//! straight to stderr so it shows in `./tests/run` output.
use std::sync::Arc;
use std::time::{Duration, Instant};

use kraft_tests::bot::real_kb;
use kraft_tests::dc::{DcConfig, DcDouble, CA_PEM, TOKEN};
use kraft_tests::load::{p99_ratio, print_table, Run, QUESTIONS};
use kraft_tests::serve::Serve;

/// DM channel ids are the user id plus this.
const DM: u64 = 1_000_000;

async fn sme(dc: Arc<DcDouble>, user: u64, n: usize, offset: usize) -> Vec<Duration> {
    let mut lat = Vec::with_capacity(n);
    for k in 0..n {
        let before = dc.messages_in(user + DM).len();
        let t0 = Instant::now();
        dc.message_create(dc.dm(
            user,
            "sme",
            user + DM,
            QUESTIONS[(k + offset) % QUESTIONS.len()],
        ));
        assert!(
            dc.wait_messages_in(user + DM, before + 1, Duration::from_secs(600))
                .await,
            "user {user}: message {k} was not answered"
        );
        lat.push(t0.elapsed());
    }
    lat
}

async fn run(dc: &Arc<DcDouble>, label: &str, first: u64, users: u64, n: usize) -> Run {
    let t0 = Instant::now();
    let tasks = (0..users)
        .map(|i| tokio::spawn(sme(dc.clone(), first + i, n, i as usize)))
        .collect();
    Run::gather(label, t0, n, tasks).await
}

#[tokio::test(flavor = "multi_thread")]
async fn load_500_smes_times_10_dms_each_answered_exactly_once() {
    let tmp = tempfile::tempdir().expect("tmp");
    let ca = tmp.path().join("ca.pem");
    std::fs::write(&ca, CA_PEM).expect("ca");
    // Kraft's own ceiling: Discord's global limit (and Kraft's budget
    // under it) would bind first, at about 20 answers a second.
    let dc = Arc::new(
        DcDouble::start(DcConfig {
            global_per_sec: 0,
            ..DcConfig::default()
        })
        .await,
    );
    let addr = dc.tls_addr().to_string();
    let ca = ca.display().to_string();
    let _s = Serve::start_with(
        env!("CARGO_BIN_EXE_kraft"),
        &tmp.path().join("data"),
        &real_kb(),
        &[
            ("KRAFT_DISCORD_TOKEN", TOKEN),
            ("KRAFT_DISCORD__CONNECT_TO", &addr),
            ("KRAFT_DISCORD__CA_FILE", &ca),
            ("KRAFT_DISCORD__MAX_CONCURRENT_CHATS", "512"),
            ("KRAFT_DISCORD__REQUESTS_PER_SECOND", "1000000"),
            ("KRAFT_LOG__FILTER", "warn,qdrant_edge=error"),
        ],
    );
    assert!(
        dc.wait_for(|d| d.is_live(), Duration::from_secs(120)).await,
        "no gateway connection"
    );
    run(&dc, "warm-up", 1, 1, 2).await;
    let base = run(&dc, "baseline: 1 SME × 10", 100, 1, 10).await;
    let load = run(&dc, "load: 500 SMEs × 10", 10_000, 500, 10).await;

    tokio::time::sleep(Duration::from_secs(3)).await;
    let wrong: Vec<(u64, usize)> = (10_000..10_500)
        .map(|u| (u, dc.messages_in(u + DM).len()))
        .filter(|&(_, n)| n != 10)
        .collect();
    print_table(
        "Discord load run (kraft serve + serenity → Discord double over HTTPS, no quota)",
        &[&base, &load],
    );
    eprintln!(
        "p99 under load / baseline p99: {:.1}× · users answered a wrong number of times: {}\n",
        p99_ratio(&load, &base),
        wrong.len()
    );
    assert!(
        wrong.is_empty(),
        "answered a wrong number of times: {wrong:?}"
    );
    assert!(dc.unknown_routes().is_empty(), "{:?}", dc.unknown_routes());
}
