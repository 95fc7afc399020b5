//! Operator tools end to end, with the real binary: `kraft backup` while
//! `kraft serve` answers SMEs and opens tickets over the Telegram double,
//! and `kraft restore` of such a copy.
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use kraft_tests::bot::real_kb;
use kraft_tests::tg::{Serve, TgDouble, TOKEN};
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
