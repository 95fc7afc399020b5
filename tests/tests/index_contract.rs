//! One contract for every index backend. It runs against Qdrant Edge
//! always, and against a Qdrant server when `QDRANT_URL` points at one
//! (gRPC, e.g. `http://127.0.0.1:6334`); without it the server run is
//! skipped, loudly.

use std::sync::Arc;

use chrono::NaiveDate;
use kraft_ingest::chunk::ChunkConfig;
use kraft_ingest::doc::{Kind, Lang};
use kraft_ingest::index::edge::EdgeIndex;
use kraft_ingest::index::server::{ServerIndex, ServerSettings};
use kraft_ingest::index::{
    ChunkPayload, ChunkPoint, IndexBackend, IndexMeta, SearchFilter, SCHEMA_VERSION,
};
use kraft_ingest::text::{Analyzer, Bm25Params};
use kraft_tests::loud;
use uuid::Uuid;

fn payload(
    path: &str,
    kind: Kind,
    region: &[&str],
    text: &str,
    event: Option<NaiveDate>,
) -> ChunkPayload {
    ChunkPayload {
        doc_path: path.into(),
        title: path.into(),
        kind,
        language: Lang::Sv,
        region: if region.is_empty() {
            vec!["all".into()]
        } else {
            region.iter().map(|s| s.to_string()).collect()
        },
        audience: vec!["sme".into()],
        sectors: vec![],
        tags: vec![],
        source_url: None,
        reviewed: NaiveDate::from_ymd_opt(2026, 1, 1).expect("date"),
        example: false,
        event_day: event.map(kraft_ingest::index::day_number),
        event_date: event,
        event_time: None,
        event_place: event.map(|_| "Västerås".to_string()),
        event_type: event.map(|_| "network".to_string()),
        registration_url: None,
        translation: None,
        heading_path: vec![],
        ordinal: 0,
        line: 1,
        text: text.into(),
        content_hash: "h".into(),
        doc_hash: format!("hash-{path}"),
    }
}

fn point(a: &Analyzer, p: ChunkPayload, dense: Option<Vec<f32>>) -> ChunkPoint {
    ChunkPoint {
        id: kraft_ingest::chunk::chunk_id(&p.doc_path, &[], 0),
        sparse: a.doc_vector(&p.text, Lang::Sv),
        dense,
        payload: p,
    }
}

async fn contract(b: Arc<dyn IndexBackend>) {
    let name = b.name();
    let a = Analyzer::new(Bm25Params::default()).expect("analyzer");
    assert!(
        !b.ensure_collection(Some(3)).await.expect("create"),
        "{name}: fresh create is not a reset"
    );
    assert!(
        !b.ensure_collection(Some(3)).await.expect("again"),
        "{name}: idempotent"
    );
    assert_eq!(b.count().await.expect("count"), 0);

    let meta = IndexMeta {
        schema_version: SCHEMA_VERSION,
        bm25_k1: 1.2,
        bm25_b: 0.75,
        bm25_avg_len: 42.0,
        gram_avg_len: 300.0,
        gram_b: 0.75,
        dense_model: Some("m".into()),
        dense_dim: Some(3),
        chunk: ChunkConfig::default(),
    };
    b.write_meta(&meta).await.expect("meta");
    assert_eq!(
        b.read_meta().await.expect("read meta"),
        Some(meta.clone()),
        "{name}"
    );

    let future = NaiveDate::from_ymd_opt(2099, 1, 1).expect("date");
    let past = NaiveDate::from_ymd_opt(2001, 1, 1).expect("date");
    let points = vec![
        point(
            &a,
            payload(
                "a.md",
                Kind::Guide,
                &["vastmanland"],
                "behovsanalys för tillverkande företag",
                None,
            ),
            Some(vec![1.0, 0.0, 0.0]),
        ),
        point(
            &a,
            payload(
                "b.md",
                Kind::Support,
                &[],
                "finansiering och lån från Almi",
                None,
            ),
            Some(vec![0.0, 1.0, 0.0]),
        ),
        point(
            &a,
            payload(
                "c.md",
                Kind::Event,
                &["sormland"],
                "nätverksträff om AI",
                Some(future),
            ),
            Some(vec![0.0, 0.0, 1.0]),
        ),
        point(
            &a,
            payload(
                "d.md",
                Kind::Event,
                &["vastmanland"],
                "studiebesök om AI",
                Some(past),
            ),
            Some(vec![0.0, 0.7, 0.7]),
        ),
    ];
    let ids: Vec<Uuid> = points.iter().map(|p| p.id).collect();
    b.upsert(points.clone()).await.expect("upsert");
    b.upsert(points).await.expect("upsert twice");
    b.finish().await.expect("finish");
    assert_eq!(
        b.count().await.expect("count"),
        4,
        "{name}: ids are stable, no duplicates; meta excluded"
    );

    let mut m = b.manifest().await.expect("manifest");
    m.sort_by(|x, y| x.doc_path.cmp(&y.doc_path));
    assert_eq!(
        m.iter().map(|r| r.doc_path.as_str()).collect::<Vec<_>>(),
        ["a.md", "b.md", "c.md", "d.md"],
        "{name}"
    );
    assert_eq!(m[0].doc_hash, "hash-a.md");

    let q = a.query_vector("finansiering och lån", Lang::Sv);
    let hits = b
        .search_sparse(&q, &SearchFilter::default(), 10)
        .await
        .expect("sparse");
    assert_eq!(hits[0].payload.doc_path, "b.md", "{name}: {hits:#?}");
    assert!(hits[0].score > 0.0);

    let hits = b
        .search_dense(&[0.0, 0.0, 1.0], &SearchFilter::default(), 2)
        .await
        .expect("dense");
    assert_eq!(hits[0].payload.doc_path, "c.md", "{name}");
    assert_eq!(hits.len(), 2);

    let f = SearchFilter {
        kinds: vec![Kind::Event],
        ..Default::default()
    };
    let hits = b
        .search_sparse(&a.query_vector("AI", Lang::Sv), &f, 10)
        .await
        .expect("kind");
    assert_eq!(hits.len(), 2, "{name}");

    let f = SearchFilter {
        regions: vec!["sormland".into()],
        ..Default::default()
    };
    let mut got: Vec<String> = b
        .list(&f, 100)
        .await
        .expect("region")
        .into_iter()
        .map(|h| h.payload.doc_path.clone())
        .collect();
    got.sort();
    assert_eq!(got, ["b.md", "c.md"], "{name}: region or no region");

    let f = SearchFilter {
        upcoming_from: NaiveDate::from_ymd_opt(2026, 11, 26),
        ..Default::default()
    };
    let got: Vec<String> = b
        .list(&f, 100)
        .await
        .expect("upcoming")
        .into_iter()
        .map(|h| h.payload.doc_path.clone())
        .collect();
    assert_eq!(got, ["c.md"], "{name}");

    // An edited chunk is read as it is now, by search and by list, after
    // both have read it before (the Edge backend caches decoded payloads
    // and a document's chunk ids).
    let page = SearchFilter {
        doc_path: Some("b.md".into()),
        ..Default::default()
    };
    for _ in 0..2 {
        assert_eq!(b.list(&page, 10).await.expect("page").len(), 1, "{name}");
    }
    let edited = point(
        &a,
        payload(
            "b.md",
            Kind::Support,
            &[],
            "finansiering och lån från Almi, nu med garantier",
            None,
        ),
        Some(vec![0.0, 1.0, 0.0]),
    );
    assert_eq!(edited.id, ids[1]);
    b.upsert(vec![edited]).await.expect("edit");
    let hits = b
        .search_sparse(&q, &SearchFilter::default(), 10)
        .await
        .expect("sparse after edit");
    assert_eq!(
        hits[0].payload.text, "finansiering och lån från Almi, nu med garantier",
        "{name}: search reads the edit"
    );
    let f = SearchFilter {
        doc_path: Some("b.md".into()),
        ..Default::default()
    };
    let listed = b.list(&f, 10).await.expect("list after edit");
    assert_eq!(listed.len(), 1, "{name}");
    assert!(
        listed[0].payload.text.ends_with("nu med garantier"),
        "{name}"
    );
    // A chunk added to a listed document is listed with it.
    let mut added = point(
        &a,
        payload("b.md", Kind::Support, &[], "ett nytt avsnitt om Almi", None),
        Some(vec![0.0, 0.0, 1.0]),
    );
    added.id = kraft_ingest::chunk::chunk_id("b.md", &["Nytt".to_string()], 1);
    added.payload.line = 9;
    let added_id = added.id;
    b.upsert(vec![added]).await.expect("add a section");
    let listed = b.list(&f, 10).await.expect("list after adding");
    assert_eq!(listed.len(), 2, "{name}: the new section is listed");
    b.delete(&[added_id])
        .await
        .expect("delete the added section");
    assert_eq!(b.list(&f, 10).await.expect("list").len(), 1, "{name}");

    b.delete(&ids[..2]).await.expect("delete");
    assert_eq!(b.count().await.expect("count"), 2, "{name}");
    assert!(
        b.list(&f, 10).await.expect("list after delete").is_empty(),
        "{name}: a deleted chunk is not listed"
    );
    assert!(
        b.search_sparse(&q, &SearchFilter::default(), 10)
            .await
            .expect("sparse after delete")
            .iter()
            .all(|h| h.payload.doc_path != "b.md"),
        "{name}: nor found"
    );
    b.delete(&[]).await.expect("empty delete is fine");

    // Deleted points weigh nothing in the scores once the writes are
    // finished: the remaining points score as they do in a collection
    // that never held the deleted ones (BM25's IDF counts every point,
    // and Qdrant keeps a deleted one in an immutable segment's posting
    // lists until the segment is vacuumed).
    b.finish().await.expect("finish after delete");
    let ai = a.query_vector("AI nätverksträff", Lang::Sv);
    let scores = |hits: Vec<kraft_ingest::index::Hit>| -> Vec<(String, f32)> {
        let mut s: Vec<(String, f32)> = hits
            .into_iter()
            .map(|h| (h.payload.doc_path.clone(), h.score))
            .collect();
        s.sort_by(|x, y| x.0.cmp(&y.0));
        s
    };
    let after_delete = scores(
        b.search_sparse(&ai, &SearchFilter::default(), 10)
            .await
            .expect("sparse after delete"),
    );
    let remaining: Vec<_> = b
        .list(&SearchFilter::default(), 100)
        .await
        .expect("list remaining")
        .into_iter()
        .map(|h| point(&a, (*h.payload).clone(), Some(vec![0.0, 0.0, 1.0])))
        .collect();
    b.reset().await.expect("reset for the fresh comparison");
    assert!(!b.ensure_collection(Some(3)).await.expect("recreate"));
    b.write_meta(&meta).await.expect("meta again");
    b.upsert(remaining)
        .await
        .expect("upsert the remaining points");
    b.finish().await.expect("finish fresh");
    let fresh = scores(
        b.search_sparse(&ai, &SearchFilter::default(), 10)
            .await
            .expect("sparse fresh"),
    );
    assert_eq!(
        after_delete.iter().map(|s| &s.0).collect::<Vec<_>>(),
        fresh.iter().map(|s| &s.0).collect::<Vec<_>>(),
        "{name}: the same points match"
    );
    for (x, y) in after_delete.iter().zip(&fresh) {
        assert!(
            (x.1 - y.1).abs() <= 1e-4 * y.1.abs().max(1.0),
            "{name}: {} scores {} after deletes but {} in a fresh collection: deleted points still count",
            x.0,
            x.1,
            y.1
        );
    }

    assert!(
        b.ensure_collection(Some(5)).await.expect("dim change"),
        "{name}: new dimension resets"
    );
    assert_eq!(b.count().await.expect("count"), 0);
    b.reset().await.expect("reset");
    assert_eq!(b.count().await.expect("count after reset"), 0);
}

#[tokio::test]
async fn edge_backend_meets_the_contract() {
    let tmp = tempfile::tempdir().expect("tmp");
    contract(Arc::new(
        EdgeIndex::open(&tmp.path().join("index")).expect("open"),
    ))
    .await;
}

#[tokio::test]
async fn server_backend_meets_the_contract() {
    let Ok(url) = std::env::var("QDRANT_URL") else {
        loud(
            "SKIPPED: Qdrant server contract test — QDRANT_URL is not set. \
             Start a Qdrant server on 127.0.0.1 and run: QDRANT_URL=http://127.0.0.1:6334 cargo test -p kraft-tests --test index_contract",
        );
        return;
    };
    let settings = ServerSettings {
        url,
        collection: format!("kraft_contract_{}", Uuid::new_v4().simple()),
        ..Default::default()
    };
    let key = std::env::var("QDRANT_API_KEY").ok();
    let b = ServerIndex::connect(settings.clone(), key.clone())
        .await
        .expect("connect");
    contract(Arc::new(b)).await;
    vacuum_setting_is_put_back(settings, key).await;
}

/// A collection whose segments are no longer vacuumed at any deleted
/// point (made before that setting, or changed by hand) gets it back
/// when the backend next ensures it.
async fn vacuum_setting_is_put_back(settings: ServerSettings, key: Option<String>) {
    use qdrant_client::qdrant::{OptimizersConfigDiffBuilder, UpdateCollectionBuilder};
    let b = ServerIndex::connect(settings.clone(), key.clone())
        .await
        .expect("connect");
    b.ensure_collection(Some(3)).await.expect("create");
    let mut client = qdrant_client::Qdrant::from_url(&settings.url).skip_compatibility_check();
    if let Some(k) = key {
        client = client.api_key(k);
    }
    let client = client.build().expect("client");
    let vacuum = || async {
        let info = client
            .collection_info(&settings.collection)
            .await
            .expect("info");
        let o = info
            .result
            .and_then(|r| r.config)
            .and_then(|c| c.optimizer_config)
            .expect("optimizer config");
        (o.deleted_threshold, o.vacuum_min_vector_number)
    };
    assert_eq!(vacuum().await, (Some(0.0), Some(100)), "as created");
    client
        .update_collection(
            UpdateCollectionBuilder::new(&settings.collection).optimizers_config(
                OptimizersConfigDiffBuilder::default()
                    .deleted_threshold(0.2)
                    .vacuum_min_vector_number(1000),
            ),
        )
        .await
        .expect("change by hand");
    assert_eq!(vacuum().await, (Some(0.2), Some(1000)), "changed");
    assert!(!b.ensure_collection(Some(3)).await.expect("ensure"));
    assert_eq!(vacuum().await, (Some(0.0), Some(100)), "put back");
    b.reset().await.expect("drop");
}

#[tokio::test]
async fn unreachable_server_is_a_clear_startup_error() {
    let port = kraft_tests::free_port();
    let settings = ServerSettings {
        url: format!("http://127.0.0.1:{port}"),
        timeout_secs: 2,
        ..Default::default()
    };
    let err = ServerIndex::connect(settings, None)
        .await
        .expect_err("nothing listens there");
    assert!(err.is_transient(), "{err}");
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
}
