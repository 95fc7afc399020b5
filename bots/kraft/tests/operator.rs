//! Operator tools end to end, with the real binary: `kraft backup` while
//! `kraft serve` answers SMEs and opens tickets over the Telegram double,
//! and `kraft restore` of such a copy.
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use kraft_tests::bot::real_kb;
use kraft_tests::serve::Serve;
use kraft_tests::tg::{TgDouble, TOKEN};
use kraft_tests::{kraft_cmd, run_logged};

const BIN: &str = env!("CARGO_BIN_EXE_kraft");
const GROUP: i64 = -100_888;
const WAIT: Duration = Duration::from_secs(120);
const RETENTION: &str = "30";

fn kraft(data: &Path, args: &[&str]) -> std::process::Output {
    let mut c = kraft_cmd(BIN, data, &real_kb());
    c.env("KRAFT_PRIVACY__RETENTION_DAYS", RETENTION).args(args);
    run_logged(&mut c)
}

/// `kraft backup --json`, parsed.
fn backup(data: &Path) -> serde_json::Value {
    let out = kraft(data, &["backup", "--json"]);
    assert!(out.status.success(), "kraft backup failed");
    serde_json::from_slice(&out.stdout).expect("JSON")
}

/// One SME: a question, then asks for a person; returns when told the
/// ticket is open.
async fn sme(tg: Arc<TgDouble>, user: i64) {
    tg.user_says(user, "Vad är en behovsanalys?");
    assert!(tg.wait_count(user, 1, WAIT).await, "user {user}: no answer");
    tg.user_says(user, "/human");
    assert!(tg.wait_count(user, 2, WAIT).await, "user {user}: no ticket");
    let sent = tg.sent_to(user);
    assert!(sent[1].text.contains('#'), "{}", sent[1].text);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_taken_under_load_has_every_ticket_and_no_copy_outlives_retention() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let tg = Arc::new(TgDouble::start(TOKEN).await);
    tg.set_forum(GROUP);
    let g = GROUP.to_string();
    let _s = Serve::start(
        BIN,
        &data,
        &real_kb(),
        &tg,
        &[
            ("KRAFT_TELEGRAM__ADVISER_GROUP", &g),
            ("KRAFT_PRIVACY__RETENTION_DAYS", RETENTION),
        ],
    );
    // A copy from 40 days ago, left in the folder: older than retention.
    tg.user_says(1, "Hej");
    assert!(tg.wait_count(1, 1, WAIT).await, "serve is up");
    let first = backup(&data);
    let first_path = first["backup"]["path"].as_str().expect("path").to_string();
    let old = Path::new(&first_path).with_file_name(format!(
        "kraft-state-{}.sqlite",
        (chrono::Utc::now() - chrono::Duration::days(40)).format("%Y%m%dT%H%M%SZ")
    ));
    std::fs::rename(&first_path, &old).expect("backdate");

    // 40 SMEs open tickets while backups are taken.
    const USERS: i64 = 40;
    let tasks: Vec<_> = (0..USERS)
        .map(|i| tokio::spawn(sme(tg.clone(), 2000 + i)))
        .collect();
    let mut during = Vec::new();
    for _ in 0..3 {
        let d = data.clone();
        during.push(
            tokio::task::spawn_blocking(move || backup(&d))
                .await
                .expect("backup task"),
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    for t in tasks {
        t.await.expect("sme");
    }
    // Each copy taken under load opens, passes its checks and is a
    // snapshot: never more tickets than exist, never fewer than an earlier one.
    let mut last = 0;
    for b in &during {
        let n = b["backup"]["tickets"].as_i64().expect("tickets");
        assert!((last..=USERS).contains(&n), "{n} after {last}");
        last = n;
    }
    // Taken after the last ticket opened: every ticket is in it.
    let after = backup(&data);
    assert_eq!(after["backup"]["tickets"].as_i64(), Some(USERS), "{after}");
    let path = after["backup"]["path"].as_str().expect("path");
    let check = kraft(&data, &["restore", "--check", path]);
    assert!(check.status.success());
    assert!(String::from_utf8_lossy(&check.stdout).contains(&format!("{USERS} tickets")));
    // The copy from 40 days ago went at the first rotation.
    assert!(!old.exists(), "a backup older than retention survived");
    let removed = during[0]["rotation"]["removed"]
        .as_array()
        .expect("removed");
    assert_eq!(removed.len(), 1, "{removed:?}");
}

#[test]
fn restore_brings_back_a_copy_and_keeps_the_database_it_replaced() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    // A database with a ticket, made through the adviser CLI's store.
    let store = kraft_core::Store::open(&data.join("kraft.sqlite")).expect("open");
    drop(store);
    let b = backup(&data);
    let path = b["backup"]["path"].as_str().expect("path").to_string();

    let out = kraft(&data, &["restore", &path]);
    assert!(out.status.success());
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("restored:"), "{said}");
    assert!(said.contains("saved first"), "{said}");

    // Not a backup, a missing file, the live database itself: refused
    // with a clear line, non-zero, nothing changed.
    let junk = tmp.path().join("junk.sqlite");
    std::fs::write(&junk, [0u8, 159, 146, 150].repeat(1000)).expect("write");
    for bad in [
        junk.to_string_lossy().into_owned(),
        tmp.path()
            .join("missing.sqlite")
            .to_string_lossy()
            .into_owned(),
        data.join("kraft.sqlite").to_string_lossy().into_owned(),
    ] {
        let out = kraft(&data, &["restore", &bad]);
        assert!(!out.status.success(), "{bad} was restored");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("kraft:"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

/// `kraft doctor` with `env` on top of a clean environment: (exit ok, lines).
fn doctor(data: &Path, env: &[(&str, &str)]) -> (bool, Vec<String>) {
    let mut c = kraft_cmd(BIN, data, &real_kb());
    for (k, v) in env {
        c.env(k, v);
    }
    let out = run_logged(c.arg("doctor"));
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    (out.status.success(), lines)
}

fn line<'a>(lines: &'a [String], start: &str) -> &'a str {
    lines
        .iter()
        .find(|l| l.starts_with(start))
        .unwrap_or_else(|| panic!("no line starting {start:?} in {lines:#?}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_names_a_missing_topic_right_and_a_bad_telegram_token() {
    use kraft_tests::tg::BOT_ID;
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let tg = TgDouble::start(TOKEN).await;
    tg.set_forum(GROUP);
    tg.set_admin_without(GROUP, BOT_ID, &["can_manage_topics"]);
    let api = tg.api_url();
    let g = GROUP.to_string();
    let env = [
        ("KRAFT_TELEGRAM_TOKEN", TOKEN),
        ("KRAFT_TELEGRAM__API_URL", api.as_str()),
        ("KRAFT_TELEGRAM__ADVISER_GROUP", g.as_str()),
    ];

    let (ok, lines) = doctor(&data, &env);
    assert!(!ok, "a failed check exits non-zero");
    assert!(line(&lines, "ok   telegram token").contains("@"));
    let group = line(&lines, &format!("FAIL telegram adviser group {GROUP}"));
    assert!(group.contains("Manage topics"), "{group}");
    // Everything else is judged too, and the token is never printed.
    line(&lines, "ok   state database");
    line(&lines, "ok   knowledge folder");
    assert!(lines.iter().all(|l| !l.contains(TOKEN)), "{lines:#?}");

    // The right given: the group passes, and so does the whole run.
    tg.set_member(GROUP, BOT_ID, "administrator");
    let (ok, lines) = doctor(&data, &env);
    assert!(line(&lines, &format!("ok   telegram adviser group {GROUP}")).contains("forum"));
    assert!(ok, "{lines:#?}");

    // A plain member of a forum group cannot make topics either.
    tg.set_member(GROUP, BOT_ID, "member");
    let (ok, lines) = doctor(&data, &env);
    assert!(!ok);
    line(&lines, &format!("FAIL telegram adviser group {GROUP}"));

    // A token Telegram does not know: one clear line, nothing after it.
    let bad = [
        ("KRAFT_TELEGRAM_TOKEN", "999:not-the-token"),
        ("KRAFT_TELEGRAM__API_URL", api.as_str()),
        ("KRAFT_TELEGRAM__ADVISER_GROUP", g.as_str()),
    ];
    let (ok, lines) = doctor(&data, &bad);
    assert!(!ok);
    assert!(
        line(&lines, "FAIL telegram token").contains("refused"),
        "{lines:#?}"
    );
    assert!(
        !lines.iter().any(|l| l.contains("adviser group")),
        "{lines:#?}"
    );
    assert!(lines.iter().all(|l| !l.contains("not-the-token")));
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_names_missing_thread_rights_and_a_bad_discord_token() {
    use kraft_tests::dc::{
        DcConfig, DcDouble, CA_PEM, GUILD_ID, RECOMMENDED_PERMISSIONS, TOKEN as DC_TOKEN,
    };
    const ADVISERS: u64 = 1_300_000_000_000_010_003;
    const ROLE: u64 = 1_300_000_000_000_020_001;
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let ca = tmp.path().join("ca.pem");
    std::fs::write(&ca, CA_PEM).expect("CA");
    let dc = DcDouble::start(DcConfig::default()).await;
    dc.add_channel(ADVISERS, "rådgivare");
    dc.add_role(ROLE);
    let addr = dc.tls_addr().to_string();
    let ca = ca.display().to_string();
    let guild = GUILD_ID.to_string();
    let channel = ADVISERS.to_string();
    let role = ROLE.to_string();
    let env = |token: &'static str| {
        vec![
            ("KRAFT_DISCORD_TOKEN", token),
            ("KRAFT_DISCORD__CONNECT_TO", addr.as_str()),
            ("KRAFT_DISCORD__CA_FILE", ca.as_str()),
            ("KRAFT_DISCORD__GUILD", guild.as_str()),
            ("KRAFT_DISCORD__ADVISER_CHANNEL", channel.as_str()),
            ("KRAFT_DISCORD__ADVISER_ROLE", role.as_str()),
        ]
    };

    let (ok, lines) = doctor(&data, &env(DC_TOKEN));
    assert!(ok, "{lines:#?}");
    line(&lines, "ok   discord token");
    line(&lines, &format!("ok   discord server {GUILD_ID}"));
    line(&lines, &format!("ok   discord adviser channel {ADVISERS}"));
    line(&lines, "ok   discord adviser role");

    // Without Create Private Threads: tickets cannot get their thread.
    dc.set_everyone_permissions(RECOMMENDED_PERMISSIONS & !(1 << 36));
    let (ok, lines) = doctor(&data, &env(DC_TOKEN));
    assert!(!ok);
    let l = line(&lines, &format!("FAIL discord adviser channel {ADVISERS}"));
    assert!(l.contains("Create Private Threads"), "{l}");
    // Without Manage Threads only /forget's clean-up suffers: a warning.
    dc.set_everyone_permissions(RECOMMENDED_PERMISSIONS & !(1 << 34));
    let (ok, lines) = doctor(&data, &env(DC_TOKEN));
    assert!(ok, "{lines:#?}");
    assert!(
        line(&lines, &format!("warn discord adviser channel {ADVISERS}"))
            .contains("Manage Threads")
    );

    let (ok, lines) = doctor(&data, &env("MTIz.bad.token-for-the-double"));
    assert!(!ok);
    assert!(
        line(&lines, "FAIL discord token").contains("refused"),
        "{lines:#?}"
    );
    assert!(lines.iter().all(|l| !l.contains("bad.token")));
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_checks_the_llm_and_embeddings_endpoints() {
    use kraft_tests::{ChatBehaviour, ChatDouble, EmbedBehaviour, EmbedDouble};
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let llm_ok = ChatDouble::start(ChatBehaviour::Ok, "Svar.").await;
    let llm_bad = ChatDouble::start(ChatBehaviour::ServerError, "").await;
    let emb_ok = EmbedDouble::start(EmbedBehaviour::Ok).await;
    let emb_bad = EmbedDouble::start(EmbedBehaviour::AlwaysFail).await;
    let (good_llm, bad_llm) = (llm_ok.base_url(), llm_bad.base_url());
    let (good_emb, bad_emb) = (emb_ok.base_url(), emb_bad.base_url());

    let (ok, lines) = doctor(
        &data,
        &[
            ("KRAFT_LLM__BASE_URL", good_llm.as_str()),
            ("KRAFT_EMBEDDINGS__BASE_URL", good_emb.as_str()),
        ],
    );
    assert!(ok, "{lines:#?}");
    line(&lines, "ok   LLM endpoint");
    assert!(line(&lines, "ok   embeddings endpoint").contains("dimensions"));
    assert!(line(&lines, "warn configuration").contains("hybrid"));

    let (ok, lines) = doctor(
        &data,
        &[
            ("KRAFT_LLM__BASE_URL", bad_llm.as_str()),
            ("KRAFT_LLM__TIMEOUT_SECS", "5"),
            ("KRAFT_EMBEDDINGS__BASE_URL", bad_emb.as_str()),
        ],
    );
    assert!(!ok);
    assert!(line(&lines, "FAIL LLM endpoint").contains("extractive"));
    assert!(line(&lines, "FAIL embeddings endpoint").contains("BM25"));
}
