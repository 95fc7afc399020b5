//! The real `kraft` binary, run the way a person or a script runs it:
//! ingest and search on a fixture knowledge base, configuration errors,
//! and `kill -9` in the middle of an ingest.

use kraft_core::store::prelude::*;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use kraft_tests::{doc, fixture_kb, kraft_cmd, run_logged, write_files};

fn kraft(dir: &Path) -> Command {
    let mut c = kraft_cmd(
        env!("CARGO_BIN_EXE_kraft"),
        &dir.join("data"),
        &dir.join("knowledge"),
    );
    c.current_dir(dir);
    c
}

fn run(c: &mut Command) -> Output {
    run_logged(c)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn ingest_then_search_from_the_command_line() {
    let tmp = tempfile::tempdir().expect("tmp");
    fixture_kb(&tmp.path().join("knowledge"));
    let o = run(kraft(tmp.path()).arg("ingest"));
    assert!(o.status.success());
    assert!(
        stdout(&o).contains("6 added, 0 updated, 0 deleted, 0 unchanged, 0 skipped"),
        "{}",
        stdout(&o)
    );

    let o = run(kraft(tmp.path()).args(["ingest", "--dry-run"]));
    assert!(stdout(&o).contains("0 added, 0 updated, 0 deleted, 6 unchanged"));

    let o = run(kraft(tmp.path()).args(["search", "Vad kostar en behovsanalys?", "--json"]));
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["results"][0]["doc_path"], "guides/behovsanalys.md");
    assert_eq!(v["query_language"], "sv");
    assert_eq!(v["mode"], "bm25");
    assert!(v["confidence"].as_f64().unwrap_or(0.0) > 0.5);
    assert!(v["results"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .contains("kostnadsfri"));

    let o = run(kraft(tmp.path()).args([
        "search",
        "nätverksträff",
        "--upcoming",
        "--region",
        "sormland",
    ]));
    assert!(stdout(&o).contains("events/natverk-2099.md"));
    assert!(!stdout(&o).contains("studiebesok-2001"));
}

#[test]
fn search_ingests_a_stale_index_first() {
    let tmp = tempfile::tempdir().expect("tmp");
    fixture_kb(&tmp.path().join("knowledge"));
    let o = run(kraft(tmp.path()).args(["search", "Almi", "--json"]));
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("index updated"));
    write_files(
        &tmp.path().join("knowledge"),
        &[(
            "faq/ny.md",
            &doc(
                "Ny fråga",
                "faq",
                "sv",
                "",
                "# Ny\n\nPelikanfrågan besvaras här.\n",
            ),
        )],
    );
    let o = run(kraft(tmp.path()).args(["search", "pelikanfrågan", "--json"]));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["results"][0]["doc_path"], "faq/ny.md");
}

#[test]
fn bad_configuration_and_arguments_get_clear_errors() {
    let tmp = tempfile::tempdir().expect("tmp");
    fixture_kb(&tmp.path().join("knowledge"));
    let o = run(kraft(tmp.path())
        .env("KRAFT_SERCH__LIMIT", "3")
        .args(["search", "x"]));
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown setting `serch`"));

    let o = run(kraft(tmp.path())
        .env("KRAFT_CHUNK__MAX_CHARS", "lots")
        .args(["search", "x"]));
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr)
        .to_lowercase()
        .contains("chunk.max_chars"));

    let o = run(kraft(tmp.path())
        .env("KRAFT_ESCALATION__OPENING_HOURS", "weekdays 9-5")
        .args(["search", "x"]));
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("escalation.opening_hours"));

    let o = run(kraft(tmp.path()).args(["search", "x", "--kind", "blog"]));
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown kind `blog`"));

    let o = run(kraft(tmp.path()).args(["--config", "/nonexistent.toml", "search", "x"]));
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("does not exist"));

    let o = run(kraft(tmp.path()).args(["ingest", "/no/such/folder"]));
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("knowledge folder not found"));

    let o = run(kraft(tmp.path()).arg("frobnicate"));
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unrecognized subcommand"));
}

#[test]
fn kb_check_review_age_comes_from_configuration_or_the_flag() {
    let tmp = tempfile::tempdir().expect("tmp");
    fixture_kb(&tmp.path().join("knowledge"));
    std::fs::remove_file(tmp.path().join("knowledge/events/studiebesok-2001.md")).expect("rm");
    // Every fixture document says `reviewed: 2026-11-01`: 92 days before.
    let check = |env: Option<&str>, extra: &[&str]| {
        let mut c = kraft(tmp.path());
        if let Some(days) = env {
            c.env("KRAFT_MAX_REVIEW_AGE_DAYS", days);
        }
        c.args(["kb", "check", "--today", "2027-02-01", "--json"])
            .args(extra);
        run(&mut c)
    };
    // (stale-review warnings, errors, documents)
    let stale = |o: &Output| -> (usize, usize, usize) {
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
        let f = v["findings"].as_array().expect("findings");
        let n = f
            .iter()
            .filter(|f| f["code"] == "stale-review" && f["severity"] == "warning")
            .count();
        let errors = f.iter().filter(|f| f["severity"] == "error").count();
        (n, errors, v["documents"].as_u64().unwrap_or(0) as usize)
    };

    // The fixture's Swedish guides have no English twins: errors that the
    // review age must neither add to nor hide.
    let o = check(None, &[]);
    let (n, errors, _) = stale(&o);
    assert_eq!(n, 0, "365 days by default: {}", stdout(&o));

    let o = check(Some("60"), &[]);
    let (n, errors_60, docs) = stale(&o);
    assert_eq!(errors_60, errors, "old reviews warn, they do not fail");
    assert!(docs >= 5 && n == docs, "{n} of {docs} documents flagged");

    let o = check(Some("60"), &["--max-age-days", "120"]);
    assert_eq!(stale(&o).0, 0, "the flag overrides the configuration");

    let o = check(Some("0"), &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("max_review_age_days"));
}

/// Many documents, so an ingest takes long enough to be interrupted.
fn big_kb(root: &Path, n: usize, variant: &str) {
    for i in 0..n {
        let body: String = (0..6)
            .map(|s| format!("## Avsnitt {s}\n\nDokument {i} avsnitt {s} {variant} handlar om AI i företag nummer {i}, med fler ord för att fylla ut texten ordentligt.\n\n"))
            .collect();
        write_files(
            root,
            &[(
                &format!("d/{i:04}.md"),
                &doc(&format!("Dokument {i}"), "guide", "sv", "", &body),
            )],
        );
    }
}

#[test]
fn kill_9_during_ingest_leaves_a_consistent_index() {
    let tmp = tempfile::tempdir().expect("tmp");
    let kb = tmp.path().join("knowledge");
    big_kb(&kb, 400, "först");
    let full = run(kraft(tmp.path()).args(["ingest", "--json"]));
    assert!(full.status.success());
    let v: serde_json::Value = serde_json::from_slice(&full.stdout).expect("json");
    let total = v["chunks_total"].as_u64().expect("total");
    let t_full = v["index_points"].as_u64().expect("points");
    assert_eq!(total, t_full);

    // Change every document, then kill ingests at different points.
    big_kb(&kb, 400, "sedan");
    let mut killed_mid_run = 0;
    for delay_ms in [150u64, 400, 800] {
        let mut child = kraft(tmp.path())
            .args(["ingest", "--json"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL
        let status = child.wait().expect("wait");
        if std::os::unix::process::ExitStatusExt::signal(&status) == Some(9) {
            killed_mid_run += 1;
        }
    }
    assert!(
        killed_mid_run > 0,
        "no ingest was still running when killed; make the corpus larger"
    );
    // Half the documents are now deleted, too, so orphans would show.
    for i in 200..400 {
        std::fs::remove_file(kb.join(format!("d/{i:04}.md"))).expect("rm");
    }
    let o = run(kraft(tmp.path()).args(["ingest", "--json"]));
    assert!(o.status.success(), "the next ingest recovers");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(
        v["index_points"], v["chunks_total"],
        "no duplicates, no orphans"
    );
    assert_eq!(v["chunks_total"].as_u64(), Some(total / 2));

    let o = run(kraft(tmp.path()).args(["ingest", "--json"]));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(
        v["unchanged"].as_array().map(Vec::len),
        Some(200),
        "stable afterwards"
    );
    let o = run(kraft(tmp.path()).args(["search", "dokument 17 sedan", "--json"]));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert!(
        v["results"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .contains("sedan"),
        "new text, not stale"
    );
}

#[test]
fn watch_mode_picks_up_edits_without_a_restart() {
    use std::io::BufRead;
    let tmp = tempfile::tempdir().expect("tmp");
    let kb = tmp.path().join("knowledge");
    fixture_kb(&kb);
    let mut child = kraft(tmp.path())
        .args(["ingest", "--watch", "--json", "--interval", "600"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn watch");
    let (tx, rx) = std::sync::mpsc::channel::<serde_json::Value>();
    let out = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str(&line) {
                let _ = tx.send(v);
            }
        }
    });
    let first = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("initial sync");
    assert_eq!(first["added"].as_array().map(Vec::len), Some(6));

    // While it runs, a second process on the same index is refused clearly.
    let o = run(kraft(tmp.path()).args(["search", "Almi"]));
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("in use by another kraft process"));

    let p = kb.join("support/almi.md");
    let t = std::fs::read_to_string(&p).expect("read");
    std::fs::write(
        &p,
        t.replace("lån och rådgivning", "lån, rådgivning och flamingokurser"),
    )
    .expect("edit");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut seen = false;
    while std::time::Instant::now() < deadline {
        if let Ok(v) = rx.recv_timeout(Duration::from_secs(5)) {
            if v["updated"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == "support/almi.md"))
            {
                seen = true;
                break;
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(seen, "the edit was synced while watching");
    let o = run(kraft(tmp.path()).args(["search", "flamingokurser", "--json"]));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["results"][0]["doc_path"], "support/almi.md");
}

#[test]
fn report_followup_and_gaps_from_the_command_line() {
    use chrono::TimeZone;
    use kraft_core::model::{Platform, UserRef};
    use kraft_core::store::{NewMessage, Role, Store};

    let tmp = tempfile::tempdir().expect("tmp");
    // No state yet: a clear error, not an empty report.
    let o = run(kraft(tmp.path()).args(["report", "followup"]));
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("no state database"));

    std::fs::create_dir_all(tmp.path().join("data")).expect("data dir");
    let store = Store::open(&tmp.path().join("data/kraft.sqlite")).expect("store");
    let day = |d: u32| {
        chrono::Utc
            .with_ymd_and_hms(2027, 1, d, 10, 0, 0)
            .single()
            .expect("t")
    };
    let a = store
        .touch_user(&UserRef::new(Platform::Telegram, "u-a", "c-a"), day(3))
        .expect("user");
    store.set_region(a.id, "vastmanland").expect("region");
    let a = store.user(a.id).expect("read").expect("user a");
    let b = store
        .touch_user(&UserRef::new(Platform::Discord, "u-b", "c-b"), day(4))
        .expect("user");
    for (u, d, kind, detail) in [
        (&a, 3, "conversation", None),
        (&a, 3, "answer", Some("abstained")),
        (&b, 4, "conversation", None),
        (&b, 4, "analysis", Some("started")),
        (&b, 20, "conversation", None),
        (&b, 28, "conversation", None),
    ] {
        store.stat(u, day(d), kind, detail, None).expect("stat");
    }
    // The abstained question, for the gap report (with a phone number).
    store
        .add_message(
            a.id,
            Role::User,
            &NewMessage {
                text: "Vad kostar en F-skattsedel? Ring 070-123 45 67",
                ..Default::default()
            },
            day(3),
        )
        .expect("q");
    store
        .add_message(
            a.id,
            Role::Bot,
            &NewMessage {
                text: "Det vet jag tyvärr inte.",
                outcome: Some("abstained"),
                ..Default::default()
            },
            day(3),
        )
        .expect("a");
    drop(store);

    let o = run(kraft(tmp.path()).args([
        "report",
        "followup",
        "--from",
        "2027-01-01",
        "--to",
        "2027-01-20",
        "--format",
        "csv",
    ]));
    assert!(o.status.success());
    let csv = stdout(&o);
    assert!(csv.contains("\ncompanies,2,1,1,0,1,0,0,1\n"), "{csv}");
    assert!(
        csv.contains("\nconversations,3,1,2,0,1,0,0,2\n"),
        "the 28th is outside the range: {csv}"
    );
    assert!(
        csv.contains("\nanalyses_started,1,0,1,0,0,0,0,1\n"),
        "{csv}"
    );
    assert!(!csv.contains("u-a") && !csv.contains("c-b"), "{csv}");

    let o = run(kraft(tmp.path()).args([
        "report",
        "followup",
        "--from",
        "2027-02-01",
        "--to",
        "2027-01-01",
    ]));
    assert!(!o.status.success(), "an inverted range is refused");

    let out = tmp.path().join("gaps.md");
    let o = run(kraft(tmp.path())
        .args(["report", "gaps", "--since", "2027-01-01", "--out"])
        .arg(&out));
    assert!(o.status.success());
    let md = std::fs::read_to_string(&out).expect("written");
    assert!(md.contains("1 questions in 1 groups"), "{md}");
    assert!(
        md.contains("Vad kostar en F-skattsedel? Ring [nummer]"),
        "masked example: {md}"
    );
    assert!(!md.contains("123 45"), "{md}");
}

/// `log.format = "json"`: every log line is one JSON object a collector
/// can parse; an unknown format is a configuration error.
#[test]
fn logs_can_be_json_lines() {
    let tmp = tempfile::tempdir().expect("tmp");
    fixture_kb(&tmp.path().join("knowledge"));
    let o = run(kraft(tmp.path())
        .env("KRAFT_LOG__FORMAT", "json")
        .args(["tickets", "list"]));
    assert!(o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    let logs: Vec<&str> = err.lines().filter(|l| l.starts_with('{')).collect();
    assert!(!logs.is_empty(), "no log lines: {err}");
    for l in &logs {
        let v: serde_json::Value = serde_json::from_str(l).expect("a JSON log line");
        assert!(v["level"].is_string() && v["timestamp"].is_string(), "{l}");
    }
    let o = run(kraft(tmp.path())
        .env("KRAFT_LOG__FORMAT", "yaml")
        .args(["tickets", "list"]));
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("json"));
}

/// `kraft eval cv` judges every dev question once per halving, on a fit
/// that did not see it, and never reads the test split.
#[test]
fn cross_validation_judges_each_dev_question_once_per_halving() {
    let tmp = tempfile::tempdir().expect("tmp");
    let kb = tmp.path().join("knowledge");
    fixture_kb(&kb);
    // The issue's own examples ("origin": "issue") are always dev.
    let q = |id: &str, text: &str, label: &str, expect: &str, fact: &str| {
        serde_json::json!({
            "id": id, "question": text, "language": "sv", "origin": "issue",
            "label": label, "expect": if expect.is_empty() { vec![] } else { vec![expect] },
            "facts": if fact.is_empty() { vec![] } else { vec![fact] },
        })
        .to_string()
    };
    let lines = [
        q(
            "c1",
            "Vad kostar en behovsanalys?",
            "answer",
            "guides/behovsanalys.md",
            "kostnadsfri",
        ),
        q(
            "c2",
            "Hur lång tid tar en behovsanalys?",
            "answer",
            "guides/behovsanalys.md",
            "två möten",
        ),
        q(
            "c3",
            "Vilka data behövs för offerter?",
            "answer",
            "guides/offert.md",
            "ritningar",
        ),
        q(
            "c4",
            "När ska jag kontakta Almi?",
            "answer",
            "support/almi.md",
            "finansiering",
        ),
        q(
            "c5",
            "Who runs the programme?",
            "answer",
            "programme/overview.en.md",
            "mälardalen university",
        ),
        q("c6", "Vad kostar en Tesla?", "abstain", "", ""),
        q(
            "c7",
            "Vilken är bästa pizzerian i Eskilstuna?",
            "abstain",
            "",
            "",
        ),
    ];
    std::fs::write(kb.join("eval-questions.jsonl"), lines.join("\n") + "\n").expect("questions");
    let o =
        run(kraft(tmp.path()).args(["eval", "cv", "--seeds", "2", "--swefaq", "no-such-folder"]));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = stdout(&o);
    assert!(out.contains("test untouched"), "{out}");
    // 5 answerable and 2 unanswerable dev questions, each judged once in
    // each of the 2 halvings.
    let all = out
        .lines()
        .find(|l| l.starts_with("| ranked | all |"))
        .unwrap_or_else(|| panic!("no totals row: {out}"));
    let cells: Vec<&str> = all.split('|').map(str::trim).collect();
    assert_eq!(cells[3], "10", "{all}");
    assert_eq!(cells[8], "4", "{all}");
}
