//! The index going away while the assistant runs, as a Qdrant server does
//! when it restarts: the backend answers `IndexError::Unavailable` (the
//! error the server backend returns for a refused or timed-out connection)
//! for the next N reads. It wraps the real Qdrant Edge index, so everything
//! else is the real thing. Checked: short outages are retried and the user
//! gets the answer; a long one gets an honest "try again", the question is
//! kept, and the next question after the outage is answered.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use kraft_core::model::ManualClock;
use kraft_core::store::Role;
use kraft_core::{Assistant, Store};
use kraft_ingest::index::{ChunkPoint, Hit, IndexBackend, IndexMeta, SearchFilter, StoredRef};
use kraft_ingest::sync::NoProgress;
use kraft_ingest::text::SparseVec;
use kraft_ingest::{IndexError, IngestOptions, Knowledge, KnowledgeSettings, Secrets};
use kraft_tests::bot::{default_core_settings, real_kb, reply_text, start_time, user};
use uuid::Uuid;

/// Reads fail while `down` is above zero (each failure counts it down).
#[derive(Debug)]
struct Outage {
    inner: Arc<dyn IndexBackend>,
    down: AtomicUsize,
    failed: AtomicUsize,
}

impl Outage {
    fn gate(&self) -> Result<(), IndexError> {
        let took = self
            .down
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        if took.is_ok() {
            self.failed.fetch_add(1, Ordering::SeqCst);
            return Err(IndexError::Unavailable(
                "qdrant server at http://127.0.0.1:6334 is not reachable (outage injected)".into(),
            ));
        }
        Ok(())
    }
}

#[async_trait]
impl IndexBackend for Outage {
    fn name(&self) -> &'static str {
        "outage"
    }
    async fn ensure_collection(&self, dense_dim: Option<usize>) -> Result<bool, IndexError> {
        self.inner.ensure_collection(dense_dim).await
    }
    async fn read_meta(&self) -> Result<Option<IndexMeta>, IndexError> {
        self.inner.read_meta().await
    }
    async fn write_meta(&self, meta: &IndexMeta) -> Result<(), IndexError> {
        self.inner.write_meta(meta).await
    }
    async fn manifest(&self) -> Result<Vec<StoredRef>, IndexError> {
        self.inner.manifest().await
    }
    async fn upsert(&self, points: Vec<ChunkPoint>) -> Result<(), IndexError> {
        self.inner.upsert(points).await
    }
    async fn delete(&self, ids: &[Uuid]) -> Result<(), IndexError> {
        self.inner.delete(ids).await
    }
    async fn search_sparse(
        &self,
        query: &SparseVec,
        filter: &SearchFilter,
        limit: usize,
    ) -> Result<Vec<Hit>, IndexError> {
        self.gate()?;
        self.inner.search_sparse(query, filter, limit).await
    }
    async fn search_dense(
        &self,
        query: &[f32],
        filter: &SearchFilter,
        limit: usize,
    ) -> Result<Vec<Hit>, IndexError> {
        self.gate()?;
        self.inner.search_dense(query, filter, limit).await
    }
    async fn list(&self, filter: &SearchFilter, limit: usize) -> Result<Vec<Hit>, IndexError> {
        self.gate()?;
        self.inner.list(filter, limit).await
    }
    async fn count(&self) -> Result<usize, IndexError> {
        self.inner.count().await
    }
    async fn reset(&self) -> Result<(), IndexError> {
        self.inner.reset().await
    }
    async fn finish(&self) -> Result<(), IndexError> {
        self.inner.finish().await
    }
}

async fn assistant() -> (tempfile::TempDir, Arc<Outage>, Assistant) {
    let tmp = tempfile::tempdir().expect("tmp");
    let ks = KnowledgeSettings {
        data_dir: tmp.path().join("data"),
        knowledge_dir: real_kb(),
        ..Default::default()
    };
    let k = Knowledge::open(ks.clone(), Secrets::default())
        .await
        .expect("open");
    k.ingest(&real_kb(), IngestOptions::default(), &NoProgress)
        .await
        .expect("ingest");
    let outage = Arc::new(Outage {
        inner: k.backend().clone(),
        down: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
    });
    let k = Knowledge::with_backend(outage.clone(), ks, Secrets::default()).expect("wrap");
    let store = Store::open(&tmp.path().join("data/kraft.sqlite")).expect("store");
    let a = Assistant::new(
        Arc::new(k),
        Arc::new(store),
        default_core_settings(),
        None,
        Arc::new(ManualClock::new(start_time())),
    )
    .await
    .expect("assistant");
    (tmp, outage, a)
}

#[tokio::test]
async fn a_short_index_outage_is_retried_and_the_user_gets_the_answer() {
    let (_tmp, outage, a) = assistant().await;
    let u = user("1");
    outage.down.store(2, Ordering::SeqCst);
    let r = reply_text(
        &a.handle(&kraft_core::Incoming::text(
            &u,
            "Hur länge pågår projektet?",
        ))
        .await
        .expect("handle"),
    );
    assert_eq!(outage.failed.load(Ordering::SeqCst), 2, "two reads failed");
    assert!(r.contains("2028"), "answered after the retries: {r}");
}

#[tokio::test]
async fn a_long_outage_gets_an_honest_reply_keeps_the_question_and_recovers() {
    let (_tmp, outage, a) = assistant().await;
    let u = user("1");
    outage.down.store(1_000, Ordering::SeqCst);
    let r = reply_text(
        &a.handle(&kraft_core::Incoming::text(&u, "Vad kostar det att delta?"))
            .await
            .expect("handle never fails on an outage"),
    );
    assert!(r.contains("Försök igen om en liten stund"), "{r}");
    assert_eq!(outage.failed.load(Ordering::SeqCst), 3, "tried three times");
    let h = a.history(&u, 10).expect("history");
    assert!(
        h.iter()
            .any(|m| m.role == Role::User && m.text == "Vad kostar det att delta?"),
        "the question is kept"
    );

    // The server is back: the next question is answered.
    outage.down.store(0, Ordering::SeqCst);
    let r = reply_text(
        &a.handle(&kraft_core::Incoming::text(
            &u,
            "Hur länge pågår projektet?",
        ))
        .await
        .expect("handle"),
    );
    assert!(r.contains("2028"), "{r}");
}
