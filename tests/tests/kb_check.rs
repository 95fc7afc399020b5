//! `kraft kb check`: each kind of problem is caught on a fixture, and the
//! shipped knowledge base passes.

use std::path::Path;

use chrono::NaiveDate;
use kraft_ingest::check::{check, CheckOptions, CheckReport, Severity, TWINS_REQUIRED};
use kraft_ingest::doc::Kind;
use kraft_tests::{doc, fixture_kb, workspace_root, write_files};

fn opts() -> CheckOptions {
    CheckOptions {
        today: NaiveDate::from_ymd_opt(2026, 11, 26).expect("date"),
        max_review_age_days: 365,
        near_duplicate: 0.8,
        max_file_bytes: 1024 * 1024,
        chunk: Default::default(),
        twins_required: Vec::new(),
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
    // As `kraft kb check` runs it.
    o.twins_required = TWINS_REQUIRED.to_vec();
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
    assert!(r.documents >= 100, "{}", r.documents);
}

/// A front matter with its own `source_url` line (the `doc` helper writes
/// a specific one).
fn with_source(title: &str, kind: &str, source: &str, extra: &str) -> String {
    format!(
        "---\ntitle: \"{title}\"\nkind: {kind}\nlanguage: sv\nreviewed: 2026-11-01\n{source}{extra}---\n# {title}\n\nText om {title}.\n"
    )
}

#[test]
fn a_factual_page_must_cite_more_than_a_home_page() {
    let tmp = tempfile::tempdir().expect("tmp");
    clean(tmp.path());
    write_files(
        tmp.path(),
        &[
            (
                "faq/hem.md",
                &with_source("Hem", "faq", "source_url: \"https://www.mdu.se/\"\n", ""),
            ),
            ("faq/ingen.md", &with_source("Ingen", "faq", "", "")),
            (
                "programme/beslut.md",
                &with_source(
                    "Beslut",
                    "project",
                    "source_title: \"Region Västmanland: Projektmedel (förslag till beslut)\"\n",
                    "",
                ),
            ),
            (
                "programme/hem-och-beslut.md",
                &with_source(
                    "Hem och beslut",
                    "project",
                    "source_url: \"https://www.mdu.se\"\nsource_title: \"Förslag till beslut\"\n",
                    "",
                ),
            ),
            (
                "support/sida.md",
                &with_source(
                    "Sida",
                    "support",
                    "source_url: \"https://www.almi.se/lan/\"\n",
                    "",
                ),
            ),
            (
                "guides/exempel.md",
                &with_source("Exempel", "guide", "", "example: true\n"),
            ),
            (
                "events/mote-2099.md",
                &with_source(
                    "Möte",
                    "event",
                    "source_url: \"https://www.mdu.se/\"\n",
                    "event:\n  date: 2099-01-01\n  place: Västerås\n  type: network\n",
                ),
            ),
        ],
    );
    let r = run(tmp.path());
    let bare: Vec<(String, usize)> = r
        .findings
        .iter()
        .filter(|f| f.code == "bare-source")
        .map(|f| (f.path.clone(), f.line))
        .collect();
    assert_eq!(
        bare,
        vec![
            ("faq/hem.md".to_string(), 6),
            ("faq/ingen.md".to_string(), 2)
        ],
        "{:#?}",
        r.findings
    );
    assert_eq!(r.errors(), 2, "{:#?}", r.findings);
    // An empty source_title is a schema error, not a way around the rule.
    write_files(
        tmp.path(),
        &[(
            "faq/tom.md",
            &with_source("Tom", "faq", "source_title: \" \"\n", ""),
        )],
    );
    let r = run(tmp.path());
    assert!(
        r.findings
            .iter()
            .any(|f| f.path == "faq/tom.md" && f.code == "schema"),
        "{:#?}",
        r.findings
    );
}

#[test]
fn swedish_pages_of_the_required_kinds_need_an_english_twin() {
    let tmp = tempfile::tempdir().expect("tmp");
    clean(tmp.path());
    let mut o = opts();
    o.twins_required = vec![Kind::Faq, Kind::Project, Kind::Support];
    let r = check(tmp.path(), &o).expect("check");
    // The fixture's support/almi.md is Swedish with no twin; its guides
    // are not of a required kind, and the English overview needs none.
    let missing: Vec<&str> = r
        .findings
        .iter()
        .filter(|f| f.code == "missing-translation")
        .map(|f| f.path.as_str())
        .collect();
    assert_eq!(missing, ["support/almi.md"], "{:#?}", r.findings);
    // With a twin that points back, it passes.
    write_files(
        tmp.path(),
        &[(
            "support/almi.en.md",
            &kraft_tests::doc(
                "Almi (English)",
                "support",
                "en",
                "translation: support/almi.md\n",
                "# Almi\n\nAlmi offers loans and advice to companies that want to grow.\n",
            ),
        )],
    );
    let almi = std::fs::read_to_string(tmp.path().join("support/almi.md")).expect("read");
    std::fs::write(
        tmp.path().join("support/almi.md"),
        almi.replacen("---\n", "---\ntranslation: support/almi.en.md\n", 1),
    )
    .expect("write");
    let r = check(tmp.path(), &o).expect("check");
    assert!(
        !r.findings.iter().any(|f| f.code == "missing-translation"),
        "{:#?}",
        r.findings
    );
}
