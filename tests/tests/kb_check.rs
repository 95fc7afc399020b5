//! `kraft kb check`: each kind of problem is caught on a fixture, and the
//! shipped knowledge base passes.

use std::path::Path;

use chrono::NaiveDate;
use kraft_ingest::check::{check, CheckOptions, CheckReport, Severity};
use kraft_tests::{doc, fixture_kb, workspace_root, write_files};

fn opts() -> CheckOptions {
    CheckOptions {
        today: NaiveDate::from_ymd_opt(2026, 11, 26).expect("date"),
        max_review_age_days: 365,
        near_duplicate: 0.8,
        max_file_bytes: 1024 * 1024,
        chunk: Default::default(),
    }
}

fn run(root: &Path) -> CheckReport {
    check(root, &opts()).expect("check runs")
}

fn codes(r: &CheckReport) -> Vec<(String, usize, &'static str)> {
    r.findings
        .iter()
        .map(|f| (f.path.clone(), f.line, f.code))
        .collect()
}

/// The fixture minus its deliberately past event: a clean base.
fn clean(root: &Path) {
    fixture_kb(root);
    std::fs::remove_file(root.join("events/studiebesok-2001.md")).expect("rm");
}

#[test]
fn a_clean_base_has_no_findings() {
    let tmp = tempfile::tempdir().expect("tmp");
    clean(tmp.path());
    let r = run(tmp.path());
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
    assert_eq!(r.documents, 5);
}

#[test]
fn schema_errors_are_reported_with_file_and_line() {
    let tmp = tempfile::tempdir().expect("tmp");
    clean(tmp.path());
    write_files(
        tmp.path(),
        &[(
            "x/bad.md",
            &doc("Dålig", "blogpost", "sv", "", "# X\n\nText.\n"),
        )],
    );
    let r = run(tmp.path());
    assert_eq!(codes(&r), vec![("x/bad.md".into(), 3, "schema")]);
    assert_eq!(r.errors(), 1);
    assert!(
        r.findings[0]
            .to_string()
            .starts_with("x/bad.md:3: error[schema]: "),
        "{}",
        r.findings[0]
    );
}

#[test]
fn broken_internal_links_are_caught() {
    let tmp = tempfile::tempdir().expect("tmp");
    clean(tmp.path());
    write_files(
        tmp.path(),
        &[(
            "guides/links.md",
            &doc(
                "Länkar",
                "guide",
                "sv",
                "",
                "# Länkar\n\nSe [Almi](../support/almi.md) och [webben](https://almi.se/).\n\nMen [den här](../support/finns-inte.md) saknas.\n",
            ),
        )],
    );
    let r = run(tmp.path());
    assert_eq!(
        codes(&r),
        vec![("guides/links.md".into(), 12, "broken-link")],
        "{:#?}",
        r.findings
    );
    assert!(r.findings[0].message.contains("finns-inte.md"));
}

#[test]
fn duplicate_titles_and_near_duplicate_sections_are_caught() {
    let tmp = tempfile::tempdir().expect("tmp");
    clean(tmp.path());
    let copy = std::fs::read_to_string(tmp.path().join("guides/behovsanalys.md")).expect("read");
    std::fs::write(tmp.path().join("guides/kopia.md"), copy).expect("write");
    let r = run(tmp.path());
    let c = codes(&r);
    assert!(
        c.contains(&("guides/behovsanalys.md".into(), 2, "duplicate-title")),
        "{c:#?}"
    );
    assert!(
        c.contains(&("guides/kopia.md".into(), 2, "duplicate-title")),
        "{c:#?}"
    );
    assert!(
        c.iter()
            .any(|f| f.0 == "guides/kopia.md" && f.2 == "near-duplicate"),
        "{c:#?}"
    );
}

#[test]
fn past_events_still_listed_are_caught_unless_archived() {
    let tmp = tempfile::tempdir().expect("tmp");
    fixture_kb(tmp.path());
    let r = run(tmp.path());
    assert_eq!(r.errors(), 1, "{:#?}", r.findings);
    assert_eq!(r.findings[0].code, "past-event");
    assert_eq!(r.findings[0].path, "events/studiebesok-2001.md");
    std::fs::create_dir_all(tmp.path().join("events/archive")).expect("mkdir");
    std::fs::rename(
        tmp.path().join("events/studiebesok-2001.md"),
        tmp.path().join("events/archive/studiebesok-2001.md"),
    )
    .expect("mv");
    assert_eq!(run(tmp.path()).errors(), 0);
}

#[test]
fn old_reviews_are_warnings_not_errors() {
    let tmp = tempfile::tempdir().expect("tmp");
    clean(tmp.path());
    let p = tmp.path().join("support/almi.md");
    let t = std::fs::read_to_string(&p)
        .expect("read")
        .replace("reviewed: 2026-11-01", "reviewed: 2024-01-15");
    std::fs::write(&p, t).expect("write");
    let r = run(tmp.path());
    assert_eq!(r.errors(), 0);
    assert_eq!(r.warnings(), 1);
    assert_eq!(r.findings[0].severity, Severity::Warning);
    assert_eq!(
        (r.findings[0].path.as_str(), r.findings[0].line),
        ("support/almi.md", 5)
    );
}

#[test]
fn required_english_counterparts_are_checked() {
    let tmp = tempfile::tempdir().expect("tmp");
    clean(tmp.path());
    write_files(
        tmp.path(),
        &[
            (
                "programme/om.md",
                &doc(
                    "Om programmet",
                    "project",
                    "sv",
                    "needs_translation: true\n",
                    "# Om\n\nProgrammet hjälper SMF.\n",
                ),
            ),
            (
                "programme/halv.md",
                &doc(
                    "Halv",
                    "project",
                    "sv",
                    "needs_translation: true\ntranslation: programme/half.en.md\n",
                    "# Halv\n\nText på svenska.\n",
                ),
            ),
            (
                "programme/half.en.md",
                &doc(
                    "Half",
                    "project",
                    "en",
                    "",
                    "# Half\n\nEnglish text without a link back.\n",
                ),
            ),
        ],
    );
    let r = run(tmp.path());
    let c = codes(&r);
    assert!(
        c.contains(&("programme/om.md".into(), 7, "missing-translation")),
        "{c:#?}"
    );
    assert!(
        c.iter()
            .any(|f| f.0 == "programme/halv.md" && f.2 == "missing-translation"),
        "{c:#?}"
    );
    assert_eq!(r.errors(), 2, "{:#?}", r.findings);
}

#[test]
fn the_shipped_knowledge_base_passes() {
    let root = workspace_root().join("knowledge");
    let mut o = opts();
    o.today = chrono::Local::now().date_naive();
    let r = check(&root, &o).expect("check");
    let errors: Vec<String> = r
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| f.to_string())
        .collect();
    assert!(
        errors.is_empty(),
        "kraft kb check fails on knowledge/:\n{}",
        errors.join("\n")
    );
    assert!(r.documents >= 60, "{}", r.documents);
}
