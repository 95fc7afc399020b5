//! The scale-out backend: a Qdrant server or cluster through `qdrant-client`
//! (gRPC). Same schema and behaviour as the embedded backend; the
//! collection can be sharded and replicated.
//!
//! The client's version check is skipped deliberately: `qdrant-client`
//! 1.20 warns against servers more than one minor version apart, and the
//! features used here (named sparse vectors with IDF, payload indexes,
//! query API) are all present since server 1.10.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use qdrant_client::qdrant::{
    point_id::PointIdOptions, CollectionConfig, Condition, CountPointsBuilder,
    CreateCollectionBuilder, CreateFieldIndexCollectionBuilder, DeletePointsBuilder, Distance,
    FieldType as QFieldType, Filter, GetPointsBuilder, Modifier, NamedVectors,
    OptimizersConfigDiffBuilder, PayloadIncludeSelector, PointId, PointStruct, PointVectors,
    PointsIdsList, Query, QueryPointsBuilder, Range, ScoredPoint, ScrollPointsBuilder,
    SparseVectorParamsBuilder, SparseVectorsConfigBuilder, UpdateCollectionBuilder,
    UpdatePointVectorsBuilder, UpsertPointsBuilder, ValuesCount, Vector, VectorInput,
    VectorParamsBuilder, VectorsConfigBuilder,
};
use qdrant_client::{Payload, Qdrant, QdrantError};
use uuid::Uuid;

use super::{
    meta_point_id, ChunkPayload, ChunkPoint, FieldType, Hit, IndexBackend, IndexMeta, SearchFilter,
    StoredRef, ALL_REGIONS, DENSE_VECTOR, INDEXED_FIELDS, SPARSE_VECTOR,
};
use crate::text::SparseVec;
use crate::IndexError;

/// Connection and collection settings for the server backend.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// gRPC URL, e.g. `http://127.0.0.1:6334`.
    pub url: String,
    pub collection: String,
    pub shard_number: u32,
    pub replication_factor: u32,
    pub timeout_secs: u64,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            url: String::new(),
            collection: "kraft_knowledge".into(),
            shard_number: 1,
            replication_factor: 1,
            timeout_secs: 10,
        }
    }
}

pub struct ServerIndex {
    client: Qdrant,
    settings: ServerSettings,
}

impl std::fmt::Debug for ServerIndex {
    // The client holds the API key; never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerIndex")
            .field("url", &self.settings.url)
            .field("collection", &self.settings.collection)
            .finish()
    }
}

fn classify(e: QdrantError) -> IndexError {
    let msg = e.to_string();
    let transient = match &e {
        QdrantError::ResourceExhaustedError { .. } => true,
        // tonic's Code Display gives e.g. "The service is currently
        // unavailable"; match on the Debug name, which is stable.
        QdrantError::ResponseError { status } => matches!(
            format!("{:?}", status.code()).as_str(),
            "Unavailable" | "DeadlineExceeded" | "ResourceExhausted" | "Aborted"
        ),
        QdrantError::Io(_) => true,
        _ => false,
    };
    if transient {
        IndexError::Unavailable(msg)
    } else {
        IndexError::Storage(msg)
    }
}

/// A segment with any deleted point is vacuumed (from the smallest size
/// the server accepts): a deleted point that an immutable segment still
/// lists weighs its terms' IDF until then (see `delete`).
fn optimizers() -> OptimizersConfigDiffBuilder {
    OptimizersConfigDiffBuilder::default()
        .deleted_threshold(VACUUM_DELETED)
        .vacuum_min_vector_number(VACUUM_MIN_VECTORS)
}

const VACUUM_DELETED: f64 = 0.0;
const VACUUM_MIN_VECTORS: u64 = 100;

fn pid(id: Uuid) -> PointId {
    PointId::from(id.to_string())
}

fn from_pid(id: Option<&PointId>) -> Option<Uuid> {
    match id?.point_id_options.as_ref()? {
        PointIdOptions::Uuid(s) => Uuid::parse_str(s).ok(),
        PointIdOptions::Num(_) => None,
    }
}

fn json_payload(map: HashMap<String, qdrant_client::qdrant::Value>) -> serde_json::Value {
    serde_json::Value::Object(map.into_iter().map(|(k, v)| (k, v.into_json())).collect())
}

fn any_of(key: &str, values: Vec<String>) -> Condition {
    Condition::matches(key, values)
}

/// `chunks_only` excludes the meta point (it has no vectors, so vector
/// searches never meet it and skip the payload condition).
fn server_filter(f: &SearchFilter, chunks_only: bool) -> Option<Filter> {
    let mut must = Vec::new();
    if chunks_only {
        must.push(Condition::values_count(
            "doc_path",
            ValuesCount {
                gte: Some(1),
                ..Default::default()
            },
        ));
    }
    if !f.kinds.is_empty() {
        must.push(any_of(
            "kind",
            f.kinds.iter().map(|k| k.as_str().to_string()).collect(),
        ));
    }
    if !f.languages.is_empty() {
        must.push(any_of(
            "language",
            f.languages.iter().map(|k| k.as_str().to_string()).collect(),
        ));
    }
    if !f.sectors.is_empty() {
        must.push(any_of("sectors", f.sectors.clone()));
    }
    if !f.regions.is_empty() {
        let mut regions = f.regions.clone();
        regions.push(ALL_REGIONS.to_string());
        must.push(any_of("region", regions));
    }
    if let Some(day) = f.upcoming_from {
        must.push(any_of("kind", vec!["event".into()]));
        must.push(Condition::range(
            "event_day",
            Range {
                gte: Some(super::day_number(day) as f64),
                ..Default::default()
            },
        ));
    }
    if let Some(p) = &f.doc_path {
        must.push(Condition::matches("doc_path", p.clone()));
    }
    (!must.is_empty()).then(|| Filter::must(must))
}

impl ServerIndex {
    /// Connects and checks the server answers, so a wrong URL fails at
    /// start-up with a clear message rather than on the first question.
    pub async fn connect(
        settings: ServerSettings,
        api_key: Option<String>,
    ) -> Result<Self, IndexError> {
        if settings.url.is_empty() {
            return Err(IndexError::Config("qdrant server URL is empty".into()));
        }
        let client = Qdrant::from_url(&settings.url)
            .api_key(api_key)
            .timeout(Duration::from_secs(settings.timeout_secs))
            .connect_timeout(Duration::from_secs(settings.timeout_secs.min(5)))
            .skip_compatibility_check()
            .build()
            .map_err(|e| IndexError::Config(format!("qdrant client: {e}")))?;
        client.health_check().await.map_err(|e| {
            IndexError::Unavailable(format!(
                "qdrant server at {} is not reachable: {e}",
                settings.url
            ))
        })?;
        Ok(Self { client, settings })
    }

    fn name_(&self) -> &str {
        &self.settings.collection
    }

    async fn exists(&self) -> Result<bool, IndexError> {
        self.client
            .collection_exists(self.name_())
            .await
            .map_err(classify)
    }

    async fn create(&self, dense_dim: Option<usize>) -> Result<(), IndexError> {
        let mut sparse = SparseVectorsConfigBuilder::default();
        sparse.add_named_vector_params(
            SPARSE_VECTOR,
            SparseVectorParamsBuilder::default().modifier(Modifier::Idf),
        );
        let mut builder = CreateCollectionBuilder::new(self.name_())
            .optimizers_config(optimizers())
            .sparse_vectors_config(sparse)
            .shard_number(self.settings.shard_number)
            .replication_factor(self.settings.replication_factor);
        if let Some(dim) = dense_dim {
            let mut dense = VectorsConfigBuilder::default();
            dense.add_named_vector_params(
                DENSE_VECTOR,
                VectorParamsBuilder::new(dim as u64, Distance::Cosine),
            );
            builder = builder.vectors_config(dense);
        }
        self.client
            .create_collection(builder)
            .await
            .map_err(classify)?;
        for (field, ty) in INDEXED_FIELDS {
            let t = match ty {
                FieldType::Keyword => QFieldType::Keyword,
                FieldType::Bool => QFieldType::Bool,
                FieldType::Integer => QFieldType::Integer,
            };
            self.client
                .create_field_index(
                    CreateFieldIndexCollectionBuilder::new(self.name_(), *field, t).wait(true),
                )
                .await
                .map_err(classify)?;
        }
        Ok(())
    }

    /// A collection created before its segments were vacuumed at any
    /// deleted point (or changed by hand) gets that setting back.
    async fn keep_vacuuming(&self, config: &CollectionConfig) -> Result<(), IndexError> {
        let set = config.optimizer_config.as_ref().is_some_and(|o| {
            o.deleted_threshold == Some(VACUUM_DELETED)
                && o.vacuum_min_vector_number == Some(VACUUM_MIN_VECTORS)
        });
        if !set {
            self.client
                .update_collection(
                    UpdateCollectionBuilder::new(self.name_()).optimizers_config(optimizers()),
                )
                .await
                .map_err(classify)?;
        }
        Ok(())
    }

    /// The collection's configuration as the server reports it (None when
    /// there is no collection).
    async fn config(&self) -> Result<Option<CollectionConfig>, IndexError> {
        if !self.exists().await? {
            return Ok(None);
        }
        let info = self
            .client
            .collection_info(self.name_())
            .await
            .map_err(classify)?;
        Ok(Some(info.result.and_then(|r| r.config).unwrap_or_default()))
    }

    /// The dense vectors' dimension in a collection's configuration.
    fn dense_dim(config: &CollectionConfig) -> Option<usize> {
        config
            .params
            .clone()
            .and_then(|p| p.vectors_config)
            .and_then(|v| v.config)
            .and_then(|c| match c {
                qdrant_client::qdrant::vectors_config::Config::ParamsMap(m) => {
                    m.map.get(DENSE_VECTOR).map(|p| p.size as usize)
                }
                qdrant_client::qdrant::vectors_config::Config::Params(_) => None,
            })
    }

    fn hits(points: Vec<ScoredPoint>) -> Vec<Hit> {
        points
            .into_iter()
            .filter_map(|p| {
                let id = from_pid(p.id.as_ref())?;
                let payload: ChunkPayload = serde_json::from_value(json_payload(p.payload)).ok()?;
                Some(Hit {
                    id,
                    score: p.score,
                    payload: payload.into(),
                })
            })
            .collect()
    }

    async fn query(
        &self,
        input: VectorInput,
        using: &str,
        filter: &SearchFilter,
        limit: usize,
    ) -> Result<Vec<Hit>, IndexError> {
        let mut q = QueryPointsBuilder::new(self.name_())
            .query(Query::new_nearest(input))
            .using(using)
            .limit(limit as u64)
            .with_payload(true);
        if let Some(f) = server_filter(filter, false) {
            q = q.filter(f);
        }
        let res = self.client.query(q).await.map_err(classify)?;
        Ok(Self::hits(res.result))
    }
}

#[async_trait]
impl IndexBackend for ServerIndex {
    fn name(&self) -> &'static str {
        "server"
    }

    async fn ensure_collection(&self, dense_dim: Option<usize>) -> Result<bool, IndexError> {
        match self.config().await? {
            Some(config) if Self::dense_dim(&config) == dense_dim => {
                self.keep_vacuuming(&config).await?;
                Ok(false)
            }
            Some(_) => {
                self.reset().await?;
                self.create(dense_dim).await?;
                Ok(true)
            }
            None => {
                self.create(dense_dim).await?;
                Ok(false)
            }
        }
    }

    async fn read_meta(&self) -> Result<Option<IndexMeta>, IndexError> {
        if !self.exists().await? {
            return Ok(None);
        }
        let res = self
            .client
            .get_points(
                GetPointsBuilder::new(self.name_(), vec![pid(meta_point_id())]).with_payload(true),
            )
            .await
            .map_err(classify)?;
        Ok(res.result.into_iter().next().and_then(|p| {
            let v = json_payload(p.payload);
            serde_json::from_value(v.get("kraft_meta")?.clone()).ok()
        }))
    }

    async fn write_meta(&self, meta: &IndexMeta) -> Result<(), IndexError> {
        let payload = Payload::try_from(serde_json::json!({ "kraft_meta": meta }))
            .map_err(|e| IndexError::Storage(e.to_string()))?;
        let point = PointStruct::new(pid(meta_point_id()), NamedVectors::default(), payload);
        self.client
            .upsert_points(UpsertPointsBuilder::new(self.name_(), vec![point]).wait(true))
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn manifest(&self) -> Result<Vec<StoredRef>, IndexError> {
        if !self.exists().await? {
            return Ok(vec![]);
        }
        let mut out = Vec::new();
        let mut offset: Option<PointId> = None;
        loop {
            let mut b = ScrollPointsBuilder::new(self.name_())
                .limit(1000)
                .with_payload(PayloadIncludeSelector {
                    fields: vec!["doc_path".to_string(), "doc_hash".to_string()],
                });
            if let Some(o) = offset.take() {
                b = b.offset(o);
            }
            let res = self.client.scroll(b).await.map_err(classify)?;
            for p in res.result {
                let Some(id) = from_pid(p.id.as_ref()) else {
                    continue;
                };
                let v = json_payload(p.payload);
                let (Some(path), Some(hash)) = (
                    v.get("doc_path").and_then(|x| x.as_str()),
                    v.get("doc_hash").and_then(|x| x.as_str()),
                ) else {
                    continue;
                };
                out.push(StoredRef {
                    id,
                    doc_path: path.to_string(),
                    doc_hash: hash.to_string(),
                });
            }
            match res.next_page_offset {
                Some(o) => offset = Some(o),
                None => break,
            }
        }
        Ok(out)
    }

    async fn upsert(&self, points: Vec<ChunkPoint>) -> Result<(), IndexError> {
        let mut out = Vec::with_capacity(points.len());
        for p in points {
            let mut named = NamedVectors::default().add_vector(
                SPARSE_VECTOR,
                Vector::new_sparse(p.sparse.indices.clone(), p.sparse.values.clone()),
            );
            if let Some(d) = p.dense {
                named = named.add_vector(DENSE_VECTOR, Vector::new_dense(d));
            }
            let payload = Payload::try_from(
                serde_json::to_value(&p.payload).map_err(|e| IndexError::Storage(e.to_string()))?,
            )
            .map_err(|e| IndexError::Storage(e.to_string()))?;
            out.push(PointStruct::new(pid(p.id), named, payload));
        }
        self.client
            .upsert_points(UpsertPointsBuilder::new(self.name_(), out).wait(true))
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn delete(&self, ids: &[Uuid]) -> Result<(), IndexError> {
        if ids.is_empty() {
            return Ok(());
        }
        // Qdrant keeps a deleted point in the sparse posting lists, and so
        // in the document frequency behind every term's IDF, until its
        // segment is vacuumed: a removed page went on weighing the terms
        // of every later question (the contract test caught a remaining
        // chunk scoring 3.78 instead of 1.46). Emptying the sparse vector
        // first takes the point out of a mutable segment's lists at once.
        let empty: Vec<PointVectors> = ids
            .iter()
            .map(|id| PointVectors {
                id: Some(pid(*id)),
                vectors: Some(
                    NamedVectors::default()
                        .add_vector(
                            SPARSE_VECTOR,
                            Vector::new_sparse(Vec::<u32>::new(), Vec::<f32>::new()),
                        )
                        .into(),
                ),
            })
            .collect();
        if let Err(e) = self
            .client
            .update_vectors(UpdatePointVectorsBuilder::new(self.name_(), empty).wait(true))
            .await
        {
            // A point that is already gone has nothing to empty; anything
            // else is a real failure.
            let missing = matches!(&e, QdrantError::ResponseError { status }
                if format!("{:?}", status.code()) == "NotFound");
            if !missing {
                return Err(classify(e));
            }
        }
        self.client
            .delete_points(
                DeletePointsBuilder::new(self.name_())
                    .points(PointsIdsList {
                        ids: ids.iter().copied().map(pid).collect(),
                    })
                    .wait(true),
            )
            .await
            .map_err(classify)?;
        Ok(())
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
            VectorInput::new_sparse(query.indices.clone(), query.values.clone()),
            SPARSE_VECTOR,
            filter,
            limit,
        )
        .await
    }

    async fn search_dense(
        &self,
        query: &[f32],
        filter: &SearchFilter,
        limit: usize,
    ) -> Result<Vec<Hit>, IndexError> {
        self.query(
            VectorInput::new_dense(query.to_vec()),
            DENSE_VECTOR,
            filter,
            limit,
        )
        .await
    }

    async fn list(&self, filter: &SearchFilter, limit: usize) -> Result<Vec<Hit>, IndexError> {
        let res = self
            .client
            .scroll(
                ScrollPointsBuilder::new(self.name_())
                    .filter(server_filter(filter, true).unwrap_or_default())
                    .limit(limit.min(10_000) as u32)
                    .with_payload(true),
            )
            .await
            .map_err(classify)?;
        Ok(res
            .result
            .into_iter()
            .filter_map(|p| {
                Some(Hit {
                    id: from_pid(p.id.as_ref())?,
                    score: 0.0,
                    payload: serde_json::from_value::<ChunkPayload>(json_payload(p.payload))
                        .ok()?
                        .into(),
                })
            })
            .collect())
    }

    async fn count(&self) -> Result<usize, IndexError> {
        if !self.exists().await? {
            return Ok(0);
        }
        let res = self
            .client
            .count(
                CountPointsBuilder::new(self.name_())
                    .filter(server_filter(&SearchFilter::default(), true).unwrap_or_default())
                    .exact(true),
            )
            .await
            .map_err(classify)?;
        Ok(res.result.map(|r| r.count as usize).unwrap_or(0))
    }

    async fn reset(&self) -> Result<(), IndexError> {
        if self.exists().await? {
            self.client
                .delete_collection(self.name_())
                .await
                .map_err(classify)?;
        }
        Ok(())
    }

    async fn finish(&self) -> Result<(), IndexError> {
        // Writes use wait=true and the server optimises on its own.
        Ok(())
    }
}
