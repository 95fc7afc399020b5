//! The index layer: one collection schema and the trait both backends
//! implement.
//!
//! Schema: a BM25 sparse vector named `bm25` (IDF applied by the store), an
//! optional dense vector named `dense` (cosine), and a [`ChunkPayload`].
//! Payload indexes exist on every field a filter uses. One reserved point
//! holds [`IndexMeta`], so the index describes itself and a mismatch with the
//! configuration (another embedding model, other chunk sizes) is detected
//! instead of silently mixing vectors.
//!
//! Fusion, de-duplication and confidence live in `search`, above the
//! trait, so both backends rank identically.

pub mod edge;
pub mod server;

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::chunk::ChunkConfig;
use crate::doc::{Kind, Lang};
use crate::text::SparseVec;
use crate::IndexError;

pub const SPARSE_VECTOR: &str = "bm25";
/// Stored `region` of a document that names no region: relevant everywhere.
pub const ALL_REGIONS: &str = "all";
pub const DENSE_VECTOR: &str = "dense";

/// Payload fields with an index, and their type.
pub const INDEXED_FIELDS: &[(&str, FieldType)] = &[
    ("doc_path", FieldType::Keyword),
    ("kind", FieldType::Keyword),
    ("language", FieldType::Keyword),
    ("region", FieldType::Keyword),
    ("sectors", FieldType::Keyword),
    ("audience", FieldType::Keyword),
    ("example", FieldType::Bool),
    ("event_day", FieldType::Integer),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Keyword,
    Bool,
    Integer,
}

/// The id of the point that stores [`IndexMeta`].
pub fn meta_point_id() -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_OID, b"kraft-index-meta")
}

/// Describes how the stored vectors were made. Stored in the index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexMeta {
    pub schema_version: u32,
    pub bm25_k1: f64,
    pub bm25_b: f64,
    pub bm25_avg_len: f64,
    /// Mean character n-grams per chunk (the n-gram channel's avg_len).
    #[serde(default)]
    pub gram_avg_len: f64,
    #[serde(default)]
    pub gram_b: f64,
    pub dense_model: Option<String>,
    pub dense_dim: Option<usize>,
    pub chunk: ChunkConfig,
}

/// Bump when the indexed text or payload changes, so old indexes rebuild.
/// 3: the sparse vector also carries character 4-grams.
/// 4: the text of links to other knowledge-base pages is not indexed.
pub const SCHEMA_VERSION: u32 = 4;

impl IndexMeta {
    /// True when vectors made under `self` can be mixed with vectors made
    /// under `other`. `avg_len` may drift between incremental ingests.
    pub fn compatible_with(&self, other: &IndexMeta) -> bool {
        self.schema_version == other.schema_version
            && self.bm25_k1 == other.bm25_k1
            && self.bm25_b == other.bm25_b
            && self.gram_b == other.gram_b
            && self.dense_model == other.dense_model
            && self.dense_dim == other.dense_dim
            && self.chunk == other.chunk
    }
}

/// Everything stored with a chunk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkPayload {
    pub doc_path: String,
    pub title: String,
    pub kind: Kind,
    pub language: Lang,
    #[serde(default)]
    pub region: Vec<String>,
    #[serde(default)]
    pub audience: Vec<String>,
    #[serde(default)]
    pub sectors: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub source_url: Option<String>,
    pub reviewed: NaiveDate,
    #[serde(default)]
    pub example: bool,
    /// Event date as YYYYMMDD, so a plain integer range filters upcoming events.
    #[serde(default)]
    pub event_day: Option<i64>,
    #[serde(default)]
    pub event_date: Option<NaiveDate>,
    #[serde(default)]
    pub event_time: Option<String>,
    #[serde(default)]
    pub event_place: Option<String>,
    #[serde(default)]
    pub event_type: Option<String>,
    #[serde(default)]
    pub registration_url: Option<String>,
    #[serde(default)]
    pub translation: Option<String>,
    pub heading_path: Vec<String>,
    pub ordinal: usize,
    pub line: usize,
    pub text: String,
    pub content_hash: String,
    /// Hash of the whole source document (and chunking settings). All
    /// chunks of a document carry the same value once it is fully ingested,
    /// which is how an interrupted ingest is detected and repaired.
    pub doc_hash: String,
}

impl ChunkPayload {
    /// The headings above the chunk below the page's title, joined: what
    /// the section itself is about.
    pub fn section_headings(&self) -> String {
        self.heading_path
            .iter()
            .filter(|h| **h != self.title)
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A point to write.
#[derive(Debug, Clone)]
pub struct ChunkPoint {
    pub id: Uuid,
    pub sparse: SparseVec,
    pub dense: Option<Vec<f32>>,
    pub payload: ChunkPayload,
}

/// What the manifest scan returns per stored chunk.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRef {
    pub id: Uuid,
    pub doc_path: String,
    pub doc_hash: String,
}

/// One scored chunk from a backend. The payload is shared: the embedded
/// backend hands out the same decoded payload to every search that finds
/// the chunk, and the second stage passes it on without copying.
#[derive(Debug, Clone)]
pub struct Hit {
    pub id: Uuid,
    pub score: f32,
    pub payload: std::sync::Arc<ChunkPayload>,
}

/// Metadata filters. Empty lists mean "no restriction".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchFilter {
    pub kinds: Vec<Kind>,
    /// Matches documents in any of these regions, and documents with no
    /// region (relevant everywhere).
    pub regions: Vec<String>,
    pub languages: Vec<Lang>,
    pub sectors: Vec<String>,
    /// Only events on or after this date (implies events only).
    pub upcoming_from: Option<NaiveDate>,
    /// Only chunks of this document.
    pub doc_path: Option<String>,
}

impl SearchFilter {
    pub fn is_empty(&self) -> bool {
        *self == SearchFilter::default()
    }
}

pub fn day_number(d: NaiveDate) -> i64 {
    use chrono::Datelike;
    i64::from(d.year()) * 10_000 + i64::from(d.month()) * 100 + i64::from(d.day())
}

/// The storage operations ingest and search need. One verb each; both
/// backends pass the same contract tests (`tests/tests/index_contract.rs`).
#[async_trait]
pub trait IndexBackend: Send + Sync + std::fmt::Debug {
    /// Short name for logs and tables ("edge", "server").
    fn name(&self) -> &'static str;
    /// Creates the collection if missing. If it exists with another dense
    /// dimension, it is dropped and recreated empty; returns true then.
    async fn ensure_collection(&self, dense_dim: Option<usize>) -> Result<bool, IndexError>;
    async fn read_meta(&self) -> Result<Option<IndexMeta>, IndexError>;
    async fn write_meta(&self, meta: &IndexMeta) -> Result<(), IndexError>;
    /// Every stored chunk's id, document and document hash.
    async fn manifest(&self) -> Result<Vec<StoredRef>, IndexError>;
    async fn upsert(&self, points: Vec<ChunkPoint>) -> Result<(), IndexError>;
    async fn delete(&self, ids: &[Uuid]) -> Result<(), IndexError>;
    async fn search_sparse(
        &self,
        query: &SparseVec,
        filter: &SearchFilter,
        limit: usize,
    ) -> Result<Vec<Hit>, IndexError>;
    async fn search_dense(
        &self,
        query: &[f32],
        filter: &SearchFilter,
        limit: usize,
    ) -> Result<Vec<Hit>, IndexError>;
    /// Chunks matching a filter, without scoring (e.g. all upcoming events).
    async fn list(&self, filter: &SearchFilter, limit: usize) -> Result<Vec<Hit>, IndexError>;
    /// Number of chunk points (the meta point excluded).
    async fn count(&self) -> Result<usize, IndexError>;
    /// Drops everything; the next `ensure_collection` starts fresh.
    async fn reset(&self) -> Result<(), IndexError>;
    /// Makes recent writes durable and fast to search (optimise, flush).
    async fn finish(&self) -> Result<(), IndexError>;
}

/// Groups a manifest by document.
pub fn manifest_by_doc(refs: &[StoredRef]) -> HashMap<String, Vec<&StoredRef>> {
    let mut m: HashMap<String, Vec<&StoredRef>> = HashMap::new();
    for r in refs {
        m.entry(r.doc_path.clone()).or_default().push(r);
    }
    m
}
