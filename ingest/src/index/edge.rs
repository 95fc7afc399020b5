//! The embedded backend: a Qdrant Edge shard in this process, stored under
//! the data directory. No server, no network.
//!
//! Qdrant Edge writes every update to its WAL first, so a process killed in
//! the middle of an ingest replays cleanly on the next open; the ingest's
//! document-hash check then repairs any half-written document.
//!
//! `EdgeShard` flushes in `Drop` and panics if that fails (for example when
//! its directory is gone), so this type owns the shard, flushes explicitly,
//! and only removes the directory after the shard has been dropped.
//!
//! Decoded payloads are cached by point id. Reading a payload from the shard
//! (lz4, JSON, then our own type) was the largest single cost of a search
//! with a second stage, which reads 40 of them per question. The cache is
//! coherent because this process is the shard's only writer (the lock file
//! below): every write goes through this type, which forgets the cache and
//! moves a generation counter, and a reader only stores what it read if no
//! write finished in the meantime. The cache serves only an index that fits
//! in it: in a larger one most candidates would miss and be fetched by id
//! in a second call, so there the payloads come with the search as before
//! (at 30,000 chunks the two paths measured the same search p50).
//! Beside the payloads, the same cache keeps each listed document's point
//! ids: every answer lists its top page's sections, and the filtered
//! scroll for them (which reads every candidate point's payload to check
//! the filter) was a tenth of a turn.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use async_trait::async_trait;
use qdrant_edge::external::uuid::Uuid as EdgeUuid;
use qdrant_edge::{
    Condition, CountRequest, Distance, EdgeConfig, EdgeShard, EdgeSparseVectorParams,
    EdgeVectorParams, FieldCondition, FieldIndexOperations, Filter, JsonPath, Match, Modifier,
    NamedQuery, PayloadFieldSchema, PayloadSchemaType, PointId, PointInsertOperations,
    PointOperations, PointStruct, QueryEnum, QueryRequest, Range, ScoringQuery, ScrollRequest,
    SparseVector, UpdateOperation, VectorInternal, Vectors, WithPayloadInterface, WithVector,
};
use qdrant_edge::{CreateIndex, Vector};
use uuid::Uuid;

use super::{
    meta_point_id, ChunkPayload, ChunkPoint, FieldType, Hit, IndexBackend, IndexMeta, SearchFilter,
    StoredRef, DENSE_VECTOR, INDEXED_FIELDS, SPARSE_VECTOR,
};
use crate::text::SparseVec;
use crate::IndexError;

#[derive(Debug)]
pub struct EdgeIndex {
    dir: PathBuf,
    shard: RwLock<Option<EdgeShard>>,
    /// Held for the life of this value: Qdrant Edge is not safe for two
    /// processes at once, so a second `kraft` on the same data directory
    /// gets a clear error instead of a corrupted index. The OS releases the
    /// lock when the process dies, even by `kill -9`.
    _lock: std::fs::File,
    payloads: PayloadCache,
}

/// A point id and its payload, if it has a readable one.
type Looked = (Uuid, Option<Arc<ChunkPayload>>);

/// Decoded chunk payloads by point id (see the module header).
#[derive(Debug)]
struct PayloadCache {
    map: quick_cache::sync::Cache<Uuid, Arc<ChunkPayload>>,
    /// The point ids `list` found for a document (path, limit), in the
    /// order the shard gave them.
    pages: quick_cache::sync::Cache<(String, usize), Arc<Vec<Uuid>>>,
    /// Moved by every write, under this lock, after the shard applied it.
    generation: Mutex<u64>,
    /// Whether the whole index fits in `map`: 0 not known (after a write),
    /// 1 yes, 2 no.
    fits: std::sync::atomic::AtomicU8,
}

/// About 50 MB of typical chunks; the programme's knowledge base is under
/// a thousand, a national one (100k chunks) keeps its hot part.
const PAYLOAD_CACHE_ITEMS: usize = 20_000;

/// Documents whose point ids are kept (a few ids each).
const PAGE_CACHE_ITEMS: usize = 4_096;

impl PayloadCache {
    fn new() -> Self {
        Self {
            map: quick_cache::sync::Cache::new(PAYLOAD_CACHE_ITEMS),
            pages: quick_cache::sync::Cache::new(PAGE_CACHE_ITEMS),
            generation: Mutex::new(0),
            fits: std::sync::atomic::AtomicU8::new(0),
        }
    }

    fn generation(&self) -> u64 {
        *self.generation.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// After a write: nothing read before it may be served again.
    fn forget(&self) {
        let mut g = self.generation.lock().unwrap_or_else(|e| e.into_inner());
        self.map.clear();
        self.pages.clear();
        self.fits.store(0, std::sync::atomic::Ordering::Relaxed);
        *g += 1;
    }

    /// Stores a document's point ids listed while the generation was
    /// `seen`, unless a write has finished since.
    fn keep_page(&self, seen: u64, key: (String, usize), ids: Vec<Uuid>) {
        let g = self.generation.lock().unwrap_or_else(|e| e.into_inner());
        if *g == seen {
            self.pages.insert(key, Arc::new(ids));
        }
    }

    /// Stores payloads read while the generation was `seen`, unless a
    /// write has finished since (then they may be stale).
    fn keep(&self, seen: u64, read: &[(Uuid, Arc<ChunkPayload>)]) {
        let g = self.generation.lock().unwrap_or_else(|e| e.into_inner());
        if *g == seen {
            for (id, p) in read {
                self.map.insert(*id, p.clone());
            }
        }
    }
}

fn storage<E: std::fmt::Display>(e: E) -> IndexError {
    IndexError::Storage(e.to_string())
}

/// Field paths used here are static, valid identifiers.
fn jp(path: &str) -> JsonPath {
    JsonPath::try_from(path).unwrap_or_else(|_| unreachable!("static JSON path {path}"))
}

fn to_edge_id(id: Uuid) -> PointId {
    PointId::Uuid(EdgeUuid::from_bytes(id.into_bytes()))
}

fn from_edge_id(id: &PointId) -> Option<Uuid> {
    match id {
        PointId::Uuid(u) => Some(Uuid::from_bytes(*u.as_bytes())),
        PointId::NumId(_) => None,
    }
}

fn shard_config(dense_dim: Option<usize>) -> EdgeConfig {
    let mut b = EdgeConfig::builder().sparse_vector(
        SPARSE_VECTOR,
        EdgeSparseVectorParams::builder()
            .modifier(Modifier::Idf)
            .build(),
    );
    if let Some(dim) = dense_dim {
        b = b.vector(
            DENSE_VECTOR,
            EdgeVectorParams::builder(dim, Distance::Cosine).build(),
        );
    }
    b.build()
}

impl EdgeIndex {
    /// Opens the shard in `dir` if one exists. Creation waits for
    /// `ensure_collection`, which knows the dense dimension.
    pub fn open(dir: &Path) -> Result<Self, IndexError> {
        std::fs::create_dir_all(dir).map_err(|e| IndexError::Io {
            path: dir.display().to_string(),
            message: e.to_string(),
        })?;
        let lock_path = dir.with_extension("lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| IndexError::Io {
                path: lock_path.display().to_string(),
                message: e.to_string(),
            })?;
        if let Err(e) = lock.try_lock() {
            return Err(match e {
                std::fs::TryLockError::WouldBlock => IndexError::Locked(dir.display().to_string()),
                std::fs::TryLockError::Error(e) => IndexError::Io {
                    path: lock_path.display().to_string(),
                    message: e.to_string(),
                },
            });
        }
        let idx = Self {
            dir: dir.to_path_buf(),
            shard: RwLock::new(None),
            _lock: lock,
            payloads: PayloadCache::new(),
        };
        if dir.join("edge_config.json").exists() {
            let shard = EdgeShard::load(dir, None).map_err(storage)?;
            *idx.write()? = Some(shard);
        }
        Ok(idx)
    }

    fn write(&self) -> Result<std::sync::RwLockWriteGuard<'_, Option<EdgeShard>>, IndexError> {
        self.shard
            .write()
            .map_err(|_| IndexError::Storage("index lock poisoned".into()))
    }

    fn with_shard<T>(
        &self,
        f: impl FnOnce(&EdgeShard) -> Result<T, IndexError>,
    ) -> Result<T, IndexError> {
        let guard = self
            .shard
            .read()
            .map_err(|_| IndexError::Storage("index lock poisoned".into()))?;
        match guard.as_ref() {
            Some(s) => f(s),
            None => Err(IndexError::NotInitialised),
        }
    }

    fn dense_dim(shard: &EdgeShard) -> Option<usize> {
        shard.config().vectors.get(DENSE_VECTOR).map(|v| v.size)
    }

    fn create(&self, dense_dim: Option<usize>) -> Result<EdgeShard, IndexError> {
        let shard = EdgeShard::new(&self.dir, shard_config(dense_dim)).map_err(storage)?;
        for (field, ty) in INDEXED_FIELDS {
            let schema = match ty {
                FieldType::Keyword => PayloadSchemaType::Keyword,
                FieldType::Bool => PayloadSchemaType::Bool,
                FieldType::Integer => PayloadSchemaType::Integer,
            };
            shard
                .update(UpdateOperation::FieldIndexOperation(
                    FieldIndexOperations::CreateIndex(CreateIndex {
                        field_name: jp(field),
                        field_schema: Some(PayloadFieldSchema::FieldType(schema)),
                    }),
                ))
                .map_err(storage)?;
        }
        Ok(shard)
    }

    fn drop_shard(&self) -> Result<(), IndexError> {
        let mut guard = self.write()?;
        if let Some(shard) = guard.take() {
            shard.flush();
            drop(shard);
        }
        self.payloads.forget();
        // Only now, with the shard closed, is it safe to remove its files.
        if self.dir.exists() {
            std::fs::remove_dir_all(&self.dir).map_err(|e| IndexError::Io {
                path: self.dir.display().to_string(),
                message: e.to_string(),
            })?;
        }
        std::fs::create_dir_all(&self.dir).map_err(|e| IndexError::Io {
            path: self.dir.display().to_string(),
            message: e.to_string(),
        })?;
        Ok(())
    }

    fn upsert_raw(&self, points: Vec<PointStruct>) -> Result<(), IndexError> {
        let res = self.with_shard(|s| {
            s.update(UpdateOperation::PointOperation(
                PointOperations::UpsertPoints(PointInsertOperations::PointsList(
                    points.into_iter().map(Into::into).collect(),
                )),
            ))
            .map_err(storage)
        });
        // Also after a failed write: it may have applied in part.
        self.payloads.forget();
        res
    }

    /// Whether searches read payloads through the cache (see the module
    /// header). Both answers are correct; only the cost differs.
    fn cached(&self) -> Result<bool, IndexError> {
        use std::sync::atomic::Ordering::Relaxed;
        match self.payloads.fits.load(Relaxed) {
            1 => Ok(true),
            2 => Ok(false),
            _ => {
                let n = self.with_shard(|s| Ok(s.info().points_count))?;
                let fits = n <= PAYLOAD_CACHE_ITEMS;
                self.payloads.fits.store(if fits { 1 } else { 2 }, Relaxed);
                Ok(fits)
            }
        }
    }

    /// The payloads of `ids`, in order, from the cache or else the shard;
    /// `None` for an id without a readable payload.
    fn payloads(&self, ids: &[PointId]) -> Result<Vec<Looked>, IndexError> {
        let seen = self.payloads.generation();
        let mut out: Vec<Looked> = ids
            .iter()
            .filter_map(from_edge_id)
            .map(|id| (id, self.payloads.map.get(&id)))
            .collect();
        let missing: Vec<PointId> = out
            .iter()
            .filter(|(_, p)| p.is_none())
            .map(|(id, _)| to_edge_id(*id))
            .collect();
        if !missing.is_empty() {
            let records = self.with_shard(|s| {
                s.retrieve(
                    &missing,
                    Some(WithPayloadInterface::Bool(true)),
                    Some(WithVector::Bool(false)),
                )
                .map_err(storage)
            })?;
            let read: Vec<(Uuid, Arc<ChunkPayload>)> = records
                .iter()
                .filter_map(|r| {
                    let id = from_edge_id(&r.id)?;
                    Some((id, Arc::new(decode_payload(r.payload.as_ref()?)?)))
                })
                .collect();
            self.payloads.keep(seen, &read);
            let read: std::collections::HashMap<Uuid, Arc<ChunkPayload>> =
                read.into_iter().collect();
            for (id, p) in &mut out {
                if p.is_none() {
                    *p = read.get(id).cloned();
                }
            }
        }
        Ok(out)
    }

    /// Hits from points the shard returned, with their payloads: from the
    /// cache when `cached`, else decoded from what the shard sent along.
    fn hits(
        &self,
        points: Vec<(PointId, f32, Option<qdrant_edge::Payload>)>,
        cached: bool,
    ) -> Result<Vec<Hit>, IndexError> {
        if !cached {
            return Ok(points
                .into_iter()
                .filter_map(|(id, score, payload)| {
                    Some(Hit {
                        id: from_edge_id(&id)?,
                        score,
                        payload: Arc::new(decode_payload(payload.as_ref()?)?),
                    })
                })
                .collect());
        }
        let ids: Vec<PointId> = points.iter().map(|p| p.0).collect();
        let found = self.payloads(&ids)?;
        // `payloads` keeps only UUID ids, in order; match them back.
        let mut found = found.into_iter().peekable();
        let mut out = Vec::with_capacity(points.len());
        for (pid, score, _) in points {
            let Some(id) = from_edge_id(&pid) else {
                continue;
            };
            let Some((fid, payload)) = found.next_if(|(fid, _)| *fid == id) else {
                continue;
            };
            if let Some(payload) = payload {
                out.push(Hit {
                    id: fid,
                    score,
                    payload,
                });
            }
        }
        Ok(out)
    }

    fn query(
        &self,
        query: VectorInternal,
        using: &str,
        filter: &SearchFilter,
        limit: usize,
    ) -> Result<Vec<Hit>, IndexError> {
        let cached = self.cached()?;
        let req = QueryRequest {
            prefetches: vec![],
            query: Some(ScoringQuery::Vector(QueryEnum::Nearest(NamedQuery {
                query,
                using: Some(using.to_string()),
            }))),
            // The meta point has no vectors, so vector search never returns
            // it; no payload condition is needed (and one would cost a
            // payload read per candidate).
            filter: edge_filter(filter, false),
            score_threshold: None,
            limit,
            offset: 0,
            params: None,
            with_vector: WithVector::Bool(false),
            with_payload: WithPayloadInterface::Bool(!cached),
        };
        let points = self.with_shard(|s| s.query(req).map_err(storage))?;
        self.hits(
            points
                .into_iter()
                .map(|p| (p.id, p.score, p.payload))
                .collect(),
            cached,
        )
    }

    fn scroll_all(
        &self,
        filter: Option<Filter>,
        with_payload: WithPayloadInterface,
        max: usize,
    ) -> Result<Vec<qdrant_edge::Record>, IndexError> {
        let mut out = Vec::new();
        let mut offset = None;
        loop {
            let req = ScrollRequest {
                offset,
                limit: Some(1000.min(max.saturating_sub(out.len())).max(1)),
                filter: filter.clone(),
                with_payload: Some(with_payload.clone()),
                with_vector: WithVector::Bool(false),
                order_by: None,
            };
            let (mut records, next) = self.with_shard(|s| s.scroll(req).map_err(storage))?;
            out.append(&mut records);
            match next {
                Some(n) if out.len() < max => offset = Some(n),
                _ => break,
            }
        }
        Ok(out)
    }
}

fn decode_payload(p: &qdrant_edge::Payload) -> Option<ChunkPayload> {
    let v = serde_json::Value::Object(p.0.clone().into_iter().collect());
    serde_json::from_value(v).ok()
}

fn keyword_any(key: &str, values: Vec<String>) -> Condition {
    Condition::Field(FieldCondition::new_match(jp(key), Match::from(values)))
}

/// Translates our filter into Qdrant Edge's. `None` when unrestricted.
/// `chunks_only` excludes the meta point, which only scrolls and counts
/// can meet.
fn edge_filter(f: &SearchFilter, chunks_only: bool) -> Option<Filter> {
    let mut must: Vec<Condition> = Vec::new();
    if chunks_only {
        must.push(Condition::Field(FieldCondition::new_values_count(
            jp("doc_path"),
            qdrant_edge::ValuesCount {
                lt: None,
                gt: None,
                gte: Some(1),
                lte: None,
            },
        )));
    }
    if !f.kinds.is_empty() {
        must.push(keyword_any(
            "kind",
            f.kinds.iter().map(|k| k.as_str().to_string()).collect(),
        ));
    }
    if !f.languages.is_empty() {
        must.push(keyword_any(
            "language",
            f.languages.iter().map(|k| k.as_str().to_string()).collect(),
        ));
    }
    if !f.sectors.is_empty() {
        must.push(keyword_any("sectors", f.sectors.clone()));
    }
    if !f.regions.is_empty() {
        // Documents without a region are stored as region "all".
        let mut regions = f.regions.clone();
        regions.push(super::ALL_REGIONS.to_string());
        must.push(keyword_any("region", regions));
    }
    if let Some(day) = f.upcoming_from {
        must.push(keyword_any("kind", vec!["event".into()]));
        must.push(Condition::Field(FieldCondition::new_range(
            jp("event_day"),
            Range {
                lt: None,
                gt: None,
                gte: Some((super::day_number(day) as f64).into()),
                lte: None,
            },
        )));
    }
    if let Some(p) = &f.doc_path {
        must.push(Condition::Field(FieldCondition::new_match(
            jp("doc_path"),
            Match::from(p.clone()),
        )));
    }
    if must.is_empty() {
        return None;
    }
    Some(Filter {
        should: None,
        min_should: None,
        must: Some(must),
        must_not: None,
    })
}

fn sparse(v: &SparseVec) -> Result<SparseVector, IndexError> {
    SparseVector::new(v.indices.clone(), v.values.clone())
        .map_err(|e| IndexError::Storage(format!("invalid sparse vector: {e}")))
}

#[async_trait]
impl IndexBackend for EdgeIndex {
    fn name(&self) -> &'static str {
        "edge"
    }

    async fn ensure_collection(&self, dense_dim: Option<usize>) -> Result<bool, IndexError> {
        let existing = {
            let g = self
                .shard
                .read()
                .map_err(|_| IndexError::Storage("index lock poisoned".into()))?;
            g.as_ref().map(Self::dense_dim)
        };
        match existing {
            Some(dim) if dim == dense_dim => Ok(false),
            Some(_) => {
                self.drop_shard()?;
                let shard = self.create(dense_dim)?;
                *self.write()? = Some(shard);
                self.payloads.forget();
                Ok(true)
            }
            None => {
                let shard = self.create(dense_dim)?;
                *self.write()? = Some(shard);
                self.payloads.forget();
                Ok(false)
            }
        }
    }

    async fn read_meta(&self) -> Result<Option<IndexMeta>, IndexError> {
        let found = self.with_shard(|s| {
            s.retrieve(
                &[to_edge_id(meta_point_id())],
                Some(WithPayloadInterface::Bool(true)),
                Some(WithVector::Bool(false)),
            )
            .map_err(storage)
        });
        let records = match found {
            Ok(r) => r,
            Err(IndexError::NotInitialised) => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(records.first().and_then(|r| {
            let p = r.payload.as_ref()?;
            serde_json::from_value(p.0.get("kraft_meta")?.clone()).ok()
        }))
    }

    async fn write_meta(&self, meta: &IndexMeta) -> Result<(), IndexError> {
        let payload = serde_json::json!({ "kraft_meta": meta });
        let point = PointStruct::new(
            to_edge_id(meta_point_id()),
            Vectors::new_named(Vec::<(String, Vector)>::new()),
            payload,
        );
        self.upsert_raw(vec![point])
    }

    async fn manifest(&self) -> Result<Vec<StoredRef>, IndexError> {
        let records = match self.scroll_all(
            None,
            WithPayloadInterface::Fields(vec![jp("doc_path"), jp("doc_hash")]),
            usize::MAX,
        ) {
            Ok(r) => r,
            Err(IndexError::NotInitialised) => return Ok(vec![]),
            Err(e) => return Err(e),
        };
        Ok(records
            .into_iter()
            .filter_map(|r| {
                let id = from_edge_id(&r.id)?;
                let p = r.payload?;
                Some(StoredRef {
                    id,
                    doc_path: p.0.get("doc_path")?.as_str()?.to_string(),
                    doc_hash: p.0.get("doc_hash")?.as_str()?.to_string(),
                })
            })
            .collect())
    }

    async fn upsert(&self, points: Vec<ChunkPoint>) -> Result<(), IndexError> {
        let mut out = Vec::with_capacity(points.len());
        for p in points {
            let mut named: Vec<(String, Vector)> =
                vec![(SPARSE_VECTOR.to_string(), Vector::from(sparse(&p.sparse)?))];
            if let Some(d) = p.dense {
                named.push((DENSE_VECTOR.to_string(), Vector::new_dense(d)));
            }
            let payload = serde_json::to_value(&p.payload)
                .map_err(|e| IndexError::Storage(format!("payload: {e}")))?;
            out.push(PointStruct::new(
                to_edge_id(p.id),
                Vectors::new_named(named),
                payload,
            ));
        }
        self.upsert_raw(out)
    }

    async fn delete(&self, ids: &[Uuid]) -> Result<(), IndexError> {
        if ids.is_empty() {
            return Ok(());
        }
        let res = self.with_shard(|s| {
            s.update(UpdateOperation::PointOperation(
                PointOperations::DeletePoints {
                    ids: ids.iter().copied().map(to_edge_id).collect(),
                },
            ))
            .map_err(storage)
        });
        self.payloads.forget();
        res
    }

    async fn search_sparse(
        &self,
        query: &SparseVec,
        filter: &SearchFilter,
        limit: usize,
    ) -> Result<Vec<Hit>, IndexError> {
        if query.is_empty() {
            return Ok(vec![]);
        }
        self.query(
            VectorInternal::Sparse(sparse(query)?),
            SPARSE_VECTOR,
            filter,
            limit,
        )
    }

    async fn search_dense(
        &self,
        query: &[f32],
        filter: &SearchFilter,
        limit: usize,
    ) -> Result<Vec<Hit>, IndexError> {
        self.query(
            VectorInternal::Dense(query.to_vec()),
            DENSE_VECTOR,
            filter,
            limit,
        )
    }

    async fn list(&self, filter: &SearchFilter, limit: usize) -> Result<Vec<Hit>, IndexError> {
        let cached = self.cached()?;
        // One document's chunks (an answer's page): its ids are kept too.
        let page = filter
            .doc_path
            .as_ref()
            .filter(|_| cached)
            .filter(|d| {
                *filter
                    == SearchFilter {
                        doc_path: Some(d.to_string()),
                        ..Default::default()
                    }
            })
            .map(|d| (d.clone(), limit));
        if let Some(ids) = page.as_ref().and_then(|k| self.payloads.pages.get(k)) {
            return self.hits(
                ids.iter().map(|id| (to_edge_id(*id), 0.0, None)).collect(),
                true,
            );
        }
        let seen = self.payloads.generation();
        let records = self.scroll_all(
            edge_filter(filter, true),
            WithPayloadInterface::Bool(!cached),
            limit,
        )?;
        let points: Vec<(PointId, f32, Option<qdrant_edge::Payload>)> = records
            .into_iter()
            .map(|r| (r.id, 0.0, r.payload))
            .collect();
        if let Some(key) = page {
            let ids = points.iter().filter_map(|p| from_edge_id(&p.0)).collect();
            self.payloads.keep_page(seen, key, ids);
        }
        self.hits(points, cached)
    }

    async fn count(&self) -> Result<usize, IndexError> {
        match self.with_shard(|s| {
            s.count(CountRequest {
                filter: edge_filter(&SearchFilter::default(), true),
                exact: true,
            })
            .map_err(storage)
        }) {
            Err(IndexError::NotInitialised) => Ok(0),
            other => other,
        }
    }

    async fn reset(&self) -> Result<(), IndexError> {
        self.drop_shard()
    }

    async fn finish(&self) -> Result<(), IndexError> {
        match self.with_shard(|s| {
            // A deleted point stays in its segment's posting lists, and so
            // in the IDF of its terms, until the segment is vacuumed; by
            // default only segments of 1,000 points or more are, so in a
            // knowledge base this size a removed page went on weighing the
            // terms of every later question, and answers depended on what
            // the folder once held. Any deleted point now triggers it.
            let mut o = s.config().optimizers.clone();
            if o.deleted_threshold != Some(0.0) || o.vacuum_min_vector_number != Some(1) {
                o.deleted_threshold = Some(0.0);
                o.vacuum_min_vector_number = Some(1);
                s.set_optimizers_config(o).map_err(storage)?;
            }
            s.optimize().map_err(storage)?;
            s.flush();
            Ok(())
        }) {
            Err(IndexError::NotInitialised) => Ok(()),
            other => other,
        }
    }
}

impl Drop for EdgeIndex {
    fn drop(&mut self) {
        // Flush while the directory is known to exist; EdgeShard's own Drop
        // would flush again, which is cheap once clean.
        if let Ok(mut g) = self.shard.write() {
            if let Some(s) = g.take() {
                if self.dir.exists() {
                    s.flush();
                    drop(s);
                } else {
                    // The directory vanished under us: flushing would panic.
                    std::mem::forget(s);
                    tracing::error!(dir = %self.dir.display(), "index directory disappeared; recent writes may be lost");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A search that read a payload before a write finished must not
    /// leave it in the cache: the write may have changed it.
    #[test]
    fn payloads_read_before_a_write_are_not_kept() {
        let c = PayloadCache::new();
        let id = Uuid::nil();
        let p = Arc::new(crate::eval::passage_payload(0, "old"));
        let seen = c.generation();
        c.forget();
        c.keep(seen, &[(id, p.clone())]);
        assert!(c.map.get(&id).is_none());
        c.keep(c.generation(), &[(id, p)]);
        assert!(c.map.get(&id).is_some());
        let key = ("a.md".to_string(), 64);
        let seen = c.generation();
        c.forget();
        c.keep_page(seen, key.clone(), vec![id]);
        assert!(c.pages.get(&key).is_none(), "a page listed before a write");
        c.keep_page(c.generation(), key.clone(), vec![id]);
        assert!(c.pages.get(&key).is_some());
        c.forget();
        assert!(c.pages.get(&key).is_none(), "a write forgets pages");
    }
}
