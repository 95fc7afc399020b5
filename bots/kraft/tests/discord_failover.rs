//! Discord on several instances: one gateway connection per bot, held by
//! one `kraft serve` under a lease in the shared PostgreSQL state; the
//! other stands by (healthy, handling and sending what the holder
//! stores). Killing the holder (`kill -9`) hands the gateway to the
//! stand-by once the lease expires, and a message sent after the kill is
//! answered, once. Against the Discord double (real serenity client).
//! Without `TEST_POSTGRES_URL` (set by `./tests/run`) it is skipped, loudly.

use std::time::Duration;

use kraft_tests::bot::real_kb;
use kraft_tests::dc::{DcConfig, DcDouble, CA_PEM, GUILD_ID, TOKEN};
use kraft_tests::pg::TestDb;
use kraft_tests::serve::Serve;

const HELP: u64 = 1_300_000_000_000_010_001;
const ADVISERS: u64 = 1_300_000_000_000_010_003;
const ROLE: u64 = 1_300_000_000_000_020_001;
const SME: u64 = 1_300_000_000_000_030_001;
const SME_DM: u64 = 1_300_000_000_000_040_001;
const QUESTION: &str = "Vad kostar det att delta i Kraftsamling AI Mälardalen?";
const WAIT: Duration = Duration::from_secs(90);
/// The gateway lease in this test (the default is 30 s).
const LEASE_SECS: u64 = 4;

fn start(dc: &DcDouble, ca: &std::path::Path, db: &TestDb, data: &std::path::Path) -> Serve {
    let env: Vec<(String, String)> = vec![
        ("KRAFT_DISCORD_TOKEN".into(), TOKEN.into()),
        (
            "KRAFT_DISCORD__CONNECT_TO".into(),
            dc.tls_addr().to_string(),
        ),
        ("KRAFT_DISCORD__CA_FILE".into(), ca.display().to_string()),
        ("KRAFT_DISCORD__GUILD".into(), GUILD_ID.to_string()),
        ("KRAFT_DISCORD__CHANNELS".into(), format!("[{HELP}]")),
        (
            "KRAFT_DISCORD__ADVISER_CHANNEL".into(),
            ADVISERS.to_string(),
        ),
        ("KRAFT_DISCORD__ADVISER_ROLE".into(), ROLE.to_string()),
        (
            "KRAFT_DISCORD__GATEWAY_LEASE_SECS".into(),
            LEASE_SECS.to_string(),
        ),
        ("KRAFT_STATE__ENGINE".into(), "postgres".into()),
        ("KRAFT_POSTGRES_URL".into(), db.url.clone()),
        ("KRAFT_LOG__FILTER".into(), "info,qdrant_edge=error".into()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Serve::start_with(env!("CARGO_BIN_EXE_kraft"), data, &real_kb(), &env)
}

async fn health(s: &Serve) -> serde_json::Value {
    let (_, body) = s.get("/healthz").await;
    serde_json::from_str(&body).unwrap_or_default()
}

/// The test database is made and dropped outside the runtime (the
/// synchronous PostgreSQL client cannot run inside one).
#[test]
fn one_instance_holds_the_discord_gateway_and_a_standby_takes_over_when_it_dies() {
    let Some(admin) = kraft_tests::pg::server("the Discord fail-over test") else {
        return;
    };
    let db = TestDb::create(&admin);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(failover(&db));
}

async fn failover(db: &TestDb) {
    let tmp = tempfile::tempdir().expect("tmp");
    let ca = tmp.path().join("double-ca.pem");
    std::fs::write(&ca, CA_PEM).expect("write CA");
    let dc = DcDouble::start(DcConfig::default()).await;
    dc.add_channel(HELP, "hjälp");
    dc.add_channel(ADVISERS, "rådgivare");

    let a = start(&dc, &ca, db, &tmp.path().join("a"));
    assert!(
        dc.wait_for(|d| d.is_live(), WAIT).await,
        "the first instance never connected"
    );
    let b = start(&dc, &ca, db, &tmp.path().join("b"));
    // The second one stands by, healthy, without a connection of its own.
    let end = tokio::time::Instant::now() + WAIT;
    let mut hb = health(&b).await;
    while hb["discord"]["standby"] != true && tokio::time::Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(200)).await;
        hb = health(&b).await;
    }
    assert_eq!(hb["discord"]["standby"], true, "{hb}");
    assert_eq!(hb["discord"]["ok"], true, "a stand-by is healthy: {hb}");
    // Longer than a lease period: the holder renews, nobody takes over.
    tokio::time::sleep(Duration::from_secs(LEASE_SECS + 2)).await;
    assert_eq!(dc.identifies(), 1, "one gateway connection for the bot");
    assert_eq!(health(&a).await["discord"]["connected"], true);

    dc.message_create(dc.dm(SME, "anna", SME_DM, QUESTION));
    assert!(
        dc.wait_messages_in(SME_DM, 1, WAIT).await,
        "the question before the kill is answered"
    );

    a.kill9();
    assert!(
        dc.wait_for(|d| d.identifies() == 2 && d.is_live(), WAIT)
            .await,
        "the stand-by never took the gateway over"
    );
    let hb = health(&b).await;
    assert_eq!(hb["discord"]["standby"], false, "{hb}");
    assert!(
        b.log().contains("took over the Discord gateway"),
        "the take-over is logged"
    );

    dc.message_create(dc.dm(SME, "anna", SME_DM, "Hur anmäler jag mitt företag?"));
    assert!(
        dc.wait_messages_in(SME_DM, 2, WAIT).await,
        "the question after the kill is answered by the new holder"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        dc.messages_in(SME_DM).len(),
        2,
        "each question answered once"
    );
    drop(b);
}
