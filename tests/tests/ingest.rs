//! Ingest end to end on the embedded backend: incremental behaviour, bad
//! input, filters, and persistence across a reopen.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use kraft_ingest::doc::Kind;
use kraft_ingest::index::edge::EdgeIndex;
use kraft_ingest::index::{IndexBackend, SearchFilter};
use kraft_ingest::sync::{IngestReport, NoProgress};
use kraft_ingest::{IngestOptions, Knowledge, KnowledgeSettings, Secrets};
use kraft_tests::{doc, fixture_kb, long_pages, write_files, write_pages};

struct Env {
    _tmp: tempfile::TempDir,
    kb: std::path::PathBuf,
    data: std::path::PathBuf,
}

fn env() -> Env {
    let tmp = tempfile::tempdir().expect("tempdir");
    let kb = tmp.path().join("knowledge");
    let data = tmp.path().join("data");
    fixture_kb(&kb);
    Env {
        _tmp: tmp,
        kb,
        data,
    }
}

fn settings(e: &Env) -> KnowledgeSettings {
    KnowledgeSettings {
        data_dir: e.data.clone(),
        knowledge_dir: e.kb.clone(),
        ..Default::default()
    }
}

async fn open(e: &Env) -> Knowledge {
    Knowledge::open(settings(e), Secrets::default())
        .await
        .expect("open")
}

async fn ingest(k: &Knowledge, root: &Path) -> IngestReport {
    k.ingest(root, IngestOptions::default(), &NoProgress)
        .await
        .expect("ingest")
}

/// doc_path -> set of (id, doc_hash)
async fn snapshot(k: &Knowledge) -> BTreeMap<String, BTreeSet<(uuid::Uuid, String)>> {
    let mut m: BTreeMap<String, BTreeSet<(uuid::Uuid, String)>> = BTreeMap::new();
    for r in k.backend().manifest().await.expect("manifest") {
        m.entry(r.doc_path).or_default().insert((r.id, r.doc_hash));
    }
    m
}

async fn top_doc(k: &Knowledge, q: &str) -> Option<String> {
    scores(k, q).await.into_iter().next().map(|(doc, _)| doc)
}

/// Every result's document and score for `q`, best first.
async fn scores(k: &Knowledge, q: &str) -> Vec<(String, f32)> {
    let r = k.retriever().await.expect("retriever");
    r.search(q, &SearchFilter::default(), 5)
        .await
        .expect("search")
        .results
        .into_iter()
        .map(|f| (f.chunk.doc_path, f.score))
        .collect()
}

/// `k` scores every result of each question as a fresh index of `kb` does.
async fn assert_scores_like_a_fresh_index(k: &Knowledge, kb: &Path, questions: &[&str]) {
    let fresh_data = tempfile::tempdir().expect("tmp");
    let fresh = Knowledge::open(
        KnowledgeSettings {
            data_dir: fresh_data.path().to_path_buf(),
            knowledge_dir: kb.to_path_buf(),
            ..Default::default()
        },
        Secrets::default(),
    )
    .await
    .expect("open fresh");
    ingest(&fresh, kb).await;
    for q in questions {
        let (a, b) = (scores(k, q).await, scores(&fresh, q).await);
        assert!(!a.is_empty(), "{q}");
        assert_eq!(a.len(), b.len(), "{q}: {a:?} against {b:?}");
        for ((da, sa), (db, sb)) in a.iter().zip(&b) {
            assert_eq!(da, db, "{q}: {a:?} against {b:?}");
            assert!((sa - sb).abs() < 1e-5, "{q}: {sa} against {sb}");
        }
    }
}

#[tokio::test]
async fn first_ingest_indexes_everything_and_second_changes_nothing() {
    let e = env();
    let k = open(&e).await;
    let r1 = ingest(&k, &e.kb).await;
    assert_eq!(r1.added.len(), 6, "{r1:#?}");
    assert!(r1.skipped.is_empty(), "{:#?}", r1.skipped);
    assert_eq!(r1.index_points, r1.chunks_total);
    let before = snapshot(&k).await;

    let r2 = ingest(&k, &e.kb).await;
    assert_eq!(r2.unchanged.len(), 6);
    assert!(!r2.changed());
    assert_eq!(r2.chunks_written, 0);
    assert_eq!(r2.chunks_deleted, 0);
    assert_eq!(
        snapshot(&k).await,
        before,
        "second ingest must not touch the index"
    );
    assert_eq!(
        top_doc(&k, "Vad kostar en behovsanalys?").await.as_deref(),
        Some("guides/behovsanalys.md")
    );
}

#[tokio::test]
async fn editing_one_section_replaces_only_that_documents_chunks() {
    let e = env();
    let k = open(&e).await;
    ingest(&k, &e.kb).await;
    let before = snapshot(&k).await;
    let path = e.kb.join("guides/offert.md");
    let text = std::fs::read_to_string(&path).expect("read");
    std::fs::write(
        &path,
        text.replace(
            "Tidigare offerter",
            "Tidigare offerter och kalkylblad med zebrafinkar",
        ),
    )
    .expect("write");

    let r = ingest(&k, &e.kb).await;
    assert_eq!(r.updated, vec!["guides/offert.md".to_string()]);
    assert_eq!(r.unchanged.len(), 5);
    let after = snapshot(&k).await;
    for (doc, chunks) in &before {
        if doc != "guides/offert.md" {
            assert_eq!(after.get(doc), Some(chunks), "{doc} must be untouched");
        }
    }
    let ids = |s: &BTreeSet<(uuid::Uuid, String)>| s.iter().map(|c| c.0).collect::<BTreeSet<_>>();
    assert_eq!(
        ids(&before["guides/offert.md"]),
        ids(&after["guides/offert.md"]),
        "same chunk ids"
    );
    assert_ne!(
        before["guides/offert.md"], after["guides/offert.md"],
        "new document hash"
    );
    assert_eq!(
        top_doc(&k, "zebrafinkar").await.as_deref(),
        Some("guides/offert.md")
    );
    assert_eq!(r.index_points, r.chunks_total);
}

#[tokio::test]
async fn shrinking_a_document_leaves_no_stale_chunk() {
    let e = env();
    let k = open(&e).await;
    ingest(&k, &e.kb).await;
    let n_before = snapshot(&k).await["guides/behovsanalys.md"].len();
    assert!(n_before >= 3);
    write_files(
        &e.kb,
        &[(
            "guides/behovsanalys.md",
            &doc(
                "Behovsanalys steg för steg",
                "guide",
                "sv",
                "",
                "# Behovsanalys steg för steg\n\nKort version utan priser.\n",
            ),
        )],
    );
    let r = ingest(&k, &e.kb).await;
    assert_eq!(r.updated, vec!["guides/behovsanalys.md".to_string()]);
    assert_eq!(r.chunks_deleted, n_before - 1);
    let snap = snapshot(&k).await;
    assert_eq!(snap["guides/behovsanalys.md"].len(), 1);
    // The removed section's words are gone from the whole index.
    let ret = k.retriever().await.expect("retriever");
    let res = ret
        .search("kostnadsfri", &SearchFilter::default(), 10)
        .await
        .expect("search");
    assert!(
        res.results
            .iter()
            .all(|f| f.chunk.doc_path != "guides/behovsanalys.md"),
        "{:#?}",
        res.results
    );
    assert_eq!(r.index_points, r.chunks_total);
}

#[tokio::test]
async fn deleting_a_document_removes_its_chunks() {
    let e = env();
    let k = open(&e).await;
    let r1 = ingest(&k, &e.kb).await;
    let almi = snapshot(&k).await["support/almi.md"].len();
    std::fs::remove_file(e.kb.join("support/almi.md")).expect("rm");
    let r = ingest(&k, &e.kb).await;
    assert_eq!(r.deleted, vec!["support/almi.md".to_string()]);
    assert_eq!(r.chunks_deleted, almi);
    assert!(!snapshot(&k).await.contains_key("support/almi.md"));
    assert_eq!(r.index_points, r1.index_points - almi);
    assert_ne!(
        top_doc(&k, "Almi lån").await.as_deref(),
        Some("support/almi.md")
    );
}

#[tokio::test]
async fn bad_files_are_named_and_the_run_goes_on() {
    let e = env();
    write_files(
        &e.kb,
        &[
            (
                "bad/front.md",
                "---\ntitle: [unclosed\nkind: guide\n---\nText\n",
            ),
            (
                "bad/kind.md",
                &doc("Okänd sort", "blogpost", "sv", "", "# X\n\nText.\n"),
            ),
            ("bad/empty.md", ""),
            ("bad/nofront.md", "# Bara text\n\nIngen front matter.\n"),
        ],
    );
    std::fs::write(
        e.kb.join("bad/latin1.md"),
        b"---\ntitle: R\xe4ksm\xf6rg\xe5s\n---\n",
    )
    .expect("write");
    // 50 MB: must be refused by size, without being read.
    let big = std::fs::File::create(e.kb.join("bad/huge.md")).expect("create");
    big.set_len(50 * 1024 * 1024).expect("set_len");

    let k = open(&e).await;
    let r = ingest(&k, &e.kb).await;
    assert_eq!(r.added.len(), 6, "good documents still indexed: {r:#?}");
    let reasons: BTreeMap<&str, String> = r
        .skipped
        .iter()
        .map(|s| (s.path.as_str(), s.to_string()))
        .collect();
    assert_eq!(reasons.len(), 6, "{reasons:#?}");
    assert!(
        reasons["bad/front.md"].starts_with("bad/front.md:"),
        "{}",
        reasons["bad/front.md"]
    );
    assert!(reasons["bad/front.md"].contains("front matter"));
    assert!(
        reasons["bad/kind.md"].starts_with("bad/kind.md:3:"),
        "{}",
        reasons["bad/kind.md"]
    );
    assert!(reasons["bad/kind.md"].contains("blogpost"));
    assert!(reasons["bad/empty.md"].contains("empty file"));
    assert!(reasons["bad/nofront.md"].contains("missing front matter"));
    assert!(
        reasons["bad/latin1.md"].contains("UTF-8"),
        "{}",
        reasons["bad/latin1.md"]
    );
    assert!(reasons["bad/latin1.md"].starts_with("bad/latin1.md:2:"));
    assert!(
        reasons["bad/huge.md"].contains("52428800 bytes"),
        "{}",
        reasons["bad/huge.md"]
    );
}

#[tokio::test]
async fn a_document_that_breaks_keeps_its_last_good_version() {
    let e = env();
    let k = open(&e).await;
    ingest(&k, &e.kb).await;
    let n = snapshot(&k).await["support/almi.md"].len();
    std::fs::write(
        e.kb.join("support/almi.md"),
        "---\ntitle: Almi\nkind: nope\n---\n",
    )
    .expect("write");
    let r = ingest(&k, &e.kb).await;
    assert_eq!(r.skipped.len(), 1);
    assert_eq!(r.skipped[0].kept_chunks, n);
    assert!(r.deleted.is_empty());
    assert_eq!(snapshot(&k).await["support/almi.md"].len(), n);
}

#[tokio::test]
async fn dry_run_writes_nothing() {
    let e = env();
    let k = open(&e).await;
    let r = k
        .ingest(
            &e.kb,
            IngestOptions {
                dry_run: true,
                rebuild: false,
            },
            &NoProgress,
        )
        .await
        .expect("dry run");
    assert_eq!(r.added.len(), 6);
    assert_eq!(k.backend().count().await.expect("count"), 0);
    ingest(&k, &e.kb).await;
    std::fs::remove_file(e.kb.join("support/almi.md")).expect("rm");
    let before = snapshot(&k).await;
    let r = k
        .ingest(
            &e.kb,
            IngestOptions {
                dry_run: true,
                rebuild: false,
            },
            &NoProgress,
        )
        .await
        .expect("dry run");
    assert_eq!(r.deleted, vec!["support/almi.md".to_string()]);
    assert_eq!(snapshot(&k).await, before);
}

#[tokio::test]
async fn changed_chunking_settings_rebuild_the_index() {
    let e = env();
    let k = open(&e).await;
    ingest(&k, &e.kb).await;
    drop(k);
    let mut s = settings(&e);
    s.chunk.max_chars = 300;
    s.chunk.min_chars = 50;
    let k = Knowledge::open(s, Secrets::default()).await.expect("open");
    assert!(
        k.is_stale(&e.kb).await.expect("stale"),
        "other settings make the index stale"
    );
    let r = ingest(&k, &e.kb).await;
    assert!(r.rebuilt.is_some(), "{r:#?}");
    assert!(!k.is_stale(&e.kb).await.expect("stale"));
    assert_eq!(r.added.len(), 6);
    assert_eq!(r.index_points, r.chunks_total);
}

#[tokio::test]
async fn a_sync_that_moves_the_mean_chunk_length_rewrites_every_chunk_and_answers_like_a_fresh_index(
) {
    let e = env();
    let k = open(&e).await;
    ingest(&k, &e.kb).await;
    // A small edit keeps the index (and its lengths).
    let page = e.kb.join("guides/behovsanalys.md");
    let text = std::fs::read_to_string(&page).expect("read");
    assert!(text.contains("vardera."), "the fixture changed");
    std::fs::write(&page, text.replace("vardera.", "vardera, ibland tre.")).expect("write");
    let r = ingest(&k, &e.kb).await;
    assert!(r.rebuilt.is_none(), "a small edit rebuilt: {r:#?}");
    assert_eq!(r.updated.len(), 1, "{r:#?}");
    // Long pages: the chunks' mean length moves far past the limit.
    let pages = long_pages();
    write_pages(&e.kb, &pages);
    let r = ingest(&k, &e.kb).await;
    let why = r.rebuilt.clone().expect("the sync wrote every chunk again");
    assert!(why.contains("mean length"), "{why}");
    // The report still says what changed in the folder.
    assert_eq!(r.added.len(), 4, "{r:#?}");
    assert!(r.updated.is_empty() && r.deleted.is_empty(), "{r:#?}");
    assert_eq!(r.chunks_written, r.chunks_total, "{r:#?}");
    assert_eq!(r.index_points, r.chunks_total);

    // A fresh index of the same pages scores every result the same.
    assert_scores_like_a_fresh_index(
        &k,
        &e.kb,
        &["Vad kostar en behovsanalys?", "prognoser för inköp i butik"],
    )
    .await;
}

#[tokio::test]
async fn the_index_survives_a_reopen() {
    let e = env();
    let k = open(&e).await;
    let r = ingest(&k, &e.kb).await;
    drop(k);
    let k = open(&e).await;
    assert_eq!(k.backend().count().await.expect("count"), r.index_points);
    assert!(!k.is_stale(&e.kb).await.expect("stale"));
    assert_eq!(
        top_doc(&k, "Almi finansiering").await.as_deref(),
        Some("support/almi.md")
    );
}

#[tokio::test]
async fn filters_by_kind_region_and_upcoming_events() {
    let e = env();
    let k = open(&e).await;
    ingest(&k, &e.kb).await;
    let ret = k.retriever().await.expect("retriever");
    let f = SearchFilter {
        kinds: vec![Kind::Support],
        ..Default::default()
    };
    let r = ret.search("företag", &f, 10).await.expect("search");
    assert!(!r.results.is_empty());
    assert!(r.results.iter().all(|x| x.chunk.kind == Kind::Support));

    // Region: documents for Sörmland plus documents with no region.
    let f = SearchFilter {
        regions: vec!["sormland".into()],
        ..Default::default()
    };
    let r = ret
        .search("nätverksträff studiebesök AI", &f, 10)
        .await
        .expect("search");
    let paths: Vec<&str> = r
        .results
        .iter()
        .map(|x| x.chunk.doc_path.as_str())
        .collect();
    assert!(paths.contains(&"events/natverk-2099.md"), "{paths:?}");
    assert!(!paths.contains(&"events/studiebesok-2001.md"), "{paths:?}");

    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 26).expect("date");
    let f = SearchFilter {
        upcoming_from: Some(today),
        ..Default::default()
    };
    let events = k.backend().list(&f, 100).await.expect("list");
    let paths: BTreeSet<String> = events
        .into_iter()
        .map(|h| h.payload.doc_path.clone())
        .collect();
    assert_eq!(
        paths,
        BTreeSet::from(["events/natverk-2099.md".to_string()])
    );
}

#[tokio::test]
async fn english_questions_use_english_analysis() {
    let e = env();
    let k = open(&e).await;
    ingest(&k, &e.kb).await;
    let ret = k.retriever().await.expect("retriever");
    let r = ret
        .search("Who runs the programme?", &SearchFilter::default(), 3)
        .await
        .expect("search");
    assert_eq!(r.query_language, kraft_ingest::doc::Lang::En);
    assert_eq!(r.results[0].chunk.doc_path, "programme/overview.en.md");
    assert!(r.confidence > 0.5, "{}", r.confidence);
    let r = ret
        .search("Hur bokar jag tvättstugan?", &SearchFilter::default(), 3)
        .await
        .expect("search");
    assert!(
        r.confidence < 0.5,
        "unrelated question must have low confidence: {}",
        r.confidence
    );
}

#[tokio::test]
async fn edge_backend_reports_uninitialised_index_as_empty() {
    let tmp = tempfile::tempdir().expect("tmp");
    let b: Arc<dyn IndexBackend> = Arc::new(EdgeIndex::open(&tmp.path().join("i")).expect("open"));
    assert_eq!(b.count().await.expect("count"), 0);
    assert!(b.manifest().await.expect("manifest").is_empty());
    assert!(b.read_meta().await.expect("meta").is_none());
}

#[tokio::test]
async fn removed_pages_leave_no_trace_in_the_scores() {
    // Qdrant keeps a deleted point in its segment's posting lists (and so
    // in its terms' IDF) until the segment is vacuumed, which by default
    // happens only from 1,000 points up: removed pages went on weighing
    // every question's terms.
    let e = env();
    let pages = long_pages();
    write_pages(&e.kb, &pages);
    let k = open(&e).await;
    ingest(&k, &e.kb).await;
    for (p, _) in &pages {
        std::fs::remove_file(e.kb.join(p)).expect("remove");
    }
    let r = ingest(&k, &e.kb).await;
    assert_eq!(r.deleted.len(), 4, "{r:#?}");
    assert_scores_like_a_fresh_index(
        &k,
        &e.kb,
        &[
            "Hur kommer vi igång med AI?",
            "Vem kan hjälpa oss med finansiering?",
            "prognoser för inköp i butik",
        ],
    )
    .await;
}
