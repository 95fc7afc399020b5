//! Kraft's knowledge index: Markdown documents in, ranked passages out.
//!
//! The pipeline is a handful of small steps, each in its own module:
//! [`doc`] reads and validates a file, [`chunk`] splits it along headings,
//! [`text`] makes BM25 vectors (and detects language), [`embed`] makes
//! dense vectors, [`index`] stores them in Qdrant Edge or a Qdrant server,
//! [`sync`] keeps the index equal to the folder, and [`search`] retrieves.
//! [`Knowledge`] ties them together for the binary and the assistant core.

pub mod check;
pub mod chunk;
pub mod doc;
pub mod embed;
pub mod eval;
pub mod fit;
pub mod http;
pub mod index;
pub mod passage;
pub mod rank;
pub mod search;
pub mod section;
pub mod sync;
pub mod terms;
pub mod text;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};

use crate::chunk::ChunkConfig;
use crate::embed::{EmbedError, EmbedSettings, Embedder};
use crate::index::edge::EdgeIndex;
use crate::index::server::{ServerIndex, ServerSettings};
use crate::index::{IndexBackend, IndexMeta, SCHEMA_VERSION};
use crate::search::{Retriever, SearchSettings};
use crate::sync::{IngestReport, Progress};
use crate::text::{Analyzer, Bm25Params};

/// Errors from the knowledge layer. `is_transient` tells a caller whether
/// retrying later can help.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IndexError {
    #[error("configuration error: {0}")]
    Config(String),
    #[error("index storage error: {0}")]
    Storage(String),
    #[error("index unavailable: {0}")]
    Unavailable(String),
    #[error("the index has not been created yet; run `kraft ingest` first")]
    NotInitialised,
    /// Another process has the embedded index open.
    #[error(
        "the index in {0} is in use by another kraft process; stop it or use another data_dir"
    )]
    Locked(String),
    #[error("{path}: {message}")]
    Io { path: String, message: String },
    #[error(transparent)]
    Embedding(#[from] EmbedError),
}

impl IndexError {
    pub fn is_transient(&self) -> bool {
        match self {
            IndexError::Unavailable(_) => true,
            IndexError::Embedding(e) => e.is_transient(),
            _ => false,
        }
    }
}

/// Which index backend to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum BackendKind {
    /// Qdrant Edge in this process (default; no server).
    #[default]
    Edge,
    /// A Qdrant server or cluster via qdrant-client.
    Server,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Bm25Settings {
    pub k1: f64,
    pub b: f64,
    /// Length normalisation of the character n-gram channel.
    pub gram_b: f64,
    /// Average chunk length in tokens; 0 = measure the corpus at the first
    /// (or a `--rebuild`) ingest and keep that value.
    pub avg_len: f64,
}

impl Default for Bm25Settings {
    fn default() -> Self {
        Self {
            k1: 1.2,
            b: 0.75,
            gram_b: 0.75,
            avg_len: 0.0,
        }
    }
}

/// Everything the knowledge layer needs, as configured. These are top-level
/// keys of the configuration, beside other sections the binary owns, so
/// unknown top-level keys are checked by the binary, not here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct KnowledgeSettings {
    pub backend: BackendKind,
    /// The embedded index lives in `<data_dir>/index`.
    pub data_dir: PathBuf,
    pub knowledge_dir: PathBuf,
    /// Files larger than this are skipped with a message.
    pub max_file_bytes: u64,
    /// `kraft kb check` warns about documents whose `reviewed` date is
    /// older than this many days.
    pub max_review_age_days: i64,
    pub chunk: ChunkConfig,
    pub bm25: Bm25Settings,
    pub search: SearchSettings,
    pub qdrant: ServerSettings,
    pub embeddings: EmbedSettings,
}

impl Default for KnowledgeSettings {
    fn default() -> Self {
        Self {
            backend: BackendKind::Edge,
            data_dir: PathBuf::from("data"),
            knowledge_dir: PathBuf::from("knowledge"),
            max_file_bytes: 1024 * 1024,
            max_review_age_days: 365,
            chunk: ChunkConfig::default(),
            bm25: Bm25Settings::default(),
            search: SearchSettings::default(),
            qdrant: ServerSettings::default(),
            embeddings: EmbedSettings::default(),
        }
    }
}

/// Secrets, read from the environment by the binary and never logged.
#[derive(Default, Clone)]
pub struct Secrets {
    pub qdrant_api_key: Option<String>,
    pub embeddings_api_key: Option<String>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets(<redacted>)")
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct IngestOptions {
    pub dry_run: bool,
    /// Drop the index and build it again (e.g. to re-measure avg_len).
    pub rebuild: bool,
}

/// The knowledge base as a whole: backend, embedder and analysis settings.
pub struct Knowledge {
    backend: Arc<dyn IndexBackend>,
    embedder: Option<Embedder>,
    settings: KnowledgeSettings,
    analyzer: RwLock<Option<Arc<Analyzer>>>,
}

impl std::fmt::Debug for Knowledge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Knowledge")
            .field("backend", &self.backend.name())
            .field("dense", &self.embedder.is_some())
            .finish()
    }
}

/// How far the chunks' mean length (words or n-grams) may move from the
/// one the index was built with before a sync writes every chunk again
/// with today's: a few percent is noise from ordinary edits; a base that
/// grew or changed in kind moves more (round 2 of the knowledge base
/// moved it 25 %).
pub const AVG_LEN_DRIFT: f64 = 0.05;

impl Knowledge {
    /// Opens the configured backend. A Qdrant server that does not answer
    /// is an error here, at start-up, with the URL in the message.
    pub async fn open(settings: KnowledgeSettings, secrets: Secrets) -> Result<Self, IndexError> {
        let backend: Arc<dyn IndexBackend> = match settings.backend {
            BackendKind::Edge => Arc::new(EdgeIndex::open(&settings.data_dir.join("index"))?),
            BackendKind::Server => Arc::new(
                ServerIndex::connect(settings.qdrant.clone(), secrets.qdrant_api_key.clone())
                    .await?,
            ),
        };
        Self::with_backend(backend, settings, secrets)
    }

    /// Uses an already opened backend (tests, benchmarks).
    pub fn with_backend(
        backend: Arc<dyn IndexBackend>,
        settings: KnowledgeSettings,
        secrets: Secrets,
    ) -> Result<Self, IndexError> {
        let embedder = if settings.embeddings.enabled() {
            Some(Embedder::new(
                settings.embeddings.clone(),
                secrets.embeddings_api_key,
            )?)
        } else {
            None
        };
        Ok(Self {
            backend,
            embedder,
            settings,
            analyzer: RwLock::new(None),
        })
    }

    pub fn backend(&self) -> &Arc<dyn IndexBackend> {
        &self.backend
    }

    pub fn settings(&self) -> &KnowledgeSettings {
        &self.settings
    }

    pub fn embedder(&self) -> Option<&Embedder> {
        self.embedder.as_ref()
    }

    fn wanted_meta(&self, avg: (f64, f64), dense_dim: Option<usize>) -> IndexMeta {
        IndexMeta {
            schema_version: SCHEMA_VERSION,
            bm25_k1: self.settings.bm25.k1,
            bm25_b: self.settings.bm25.b,
            bm25_avg_len: avg.0,
            gram_avg_len: avg.1,
            gram_b: self.settings.bm25.gram_b,
            dense_model: self.embedder.as_ref().map(|e| e.settings().fingerprint()),
            dense_dim,
            chunk: self.settings.chunk,
        }
    }

    /// Keeps the analyzer in use unless `a` has other parameters, so that
    /// a new one ([`Self::current_analyzer`]) means the mean lengths moved.
    fn set_analyzer(&self, a: Arc<Analyzer>) {
        if let Ok(mut g) = self.analyzer.write() {
            if g.as_ref().is_none_or(|old| old.params() != a.params()) {
                *g = Some(a);
            }
        }
    }

    /// The analyzer searches should use now, if one was made: after a sync
    /// that wrote every chunk again with new mean lengths it is a new one,
    /// and a retriever made before ([`Retriever::with_analyzer`]) weighs
    /// terms by the old lengths.
    pub fn current_analyzer(&self) -> Option<Arc<Analyzer>> {
        self.analyzer.read().ok().and_then(|g| g.clone())
    }

    /// BM25 parameters from the settings and measured corpus means (none:
    /// neutral placeholders, for counting only).
    fn bm25_params(&self, avg: Option<(f64, f64)>) -> Bm25Params {
        let d = Bm25Params::default();
        let (avg_len, gram_avg_len) = avg.unwrap_or((d.avg_len, d.gram_avg_len));
        Bm25Params {
            k1: self.settings.bm25.k1,
            b: self.settings.bm25.b,
            avg_len,
            gram_b: self.settings.bm25.gram_b,
            gram_avg_len: if gram_avg_len > 0.0 {
                gram_avg_len
            } else {
                d.gram_avg_len
            },
        }
    }

    /// The analyzer matching the stored index (its avg_len).
    pub async fn analyzer(&self) -> Result<Arc<Analyzer>, IndexError> {
        if let Some(a) = self.analyzer.read().ok().and_then(|g| g.clone()) {
            return Ok(a);
        }
        let meta = self.backend.read_meta().await?;
        let params = self.bm25_params(meta.map(|m| (m.bm25_avg_len, m.gram_avg_len)));
        let a = Arc::new(Analyzer::new(params)?);
        self.set_analyzer(a.clone());
        Ok(a)
    }

    /// A retriever over the current index.
    pub async fn retriever(&self) -> Result<Retriever, IndexError> {
        let r = Retriever::new(
            self.backend.clone(),
            self.analyzer().await?,
            self.embedder.clone(),
            self.settings.search.clone(),
        );
        Ok(match &self.settings.search.ranker {
            Some(path) => r.with_ranker(crate::rank::RankerFile::load(path)?),
            None => r,
        })
    }

    /// Brings the index in line with the folder `root`.
    #[tracing::instrument(level = "info", skip_all, fields(root = %root.display(), dry_run = opts.dry_run))]
    pub async fn ingest(
        &self,
        root: &Path,
        opts: IngestOptions,
        progress: &dyn Progress,
    ) -> Result<IngestReport, IndexError> {
        let dense_dim = match &self.embedder {
            Some(e) => Some(e.embed_query("dimension probe").await?.len()),
            None => None,
        };
        let mut rebuilt = None;
        let stored_meta = self.backend.read_meta().await?;
        let wanted = self.wanted_meta((0.0, 0.0), dense_dim);
        let compatible = stored_meta.as_ref().map(|m| m.compatible_with(&wanted));
        if !opts.dry_run {
            if opts.rebuild {
                rebuilt = Some("requested with --rebuild".to_string());
            } else if compatible == Some(false) {
                rebuilt = Some(
                    "the index was built with other settings (embedding model, chunking or BM25 parameters)"
                        .to_string(),
                );
            }
            if rebuilt.is_some() {
                self.backend.reset().await?;
            }
            if self.backend.ensure_collection(dense_dim).await? && rebuilt.is_none() {
                rebuilt = Some("the dense vector dimension changed".into());
            }
        }
        let scan = sync::scan(root, self.settings.max_file_bytes, &self.settings.chunk)?;
        let keep_old_avg = rebuilt.is_none() && compatible == Some(true);
        let avg = match (keep_old_avg, &stored_meta) {
            (true, Some(m)) if m.gram_avg_len > 0.0 => (m.bm25_avg_len, m.gram_avg_len),
            _ => {
                let counter = Analyzer::new(self.bm25_params(None))?;
                sync::mean_lengths(&counter, &scan.docs)
            }
        };
        let avg = if self.settings.bm25.avg_len > 0.0 {
            (self.settings.bm25.avg_len, avg.1)
        } else {
            avg
        };
        let mut stored = if rebuilt.is_some() {
            Vec::new()
        } else {
            self.backend.manifest().await?
        };
        // The lengths stay fixed so that an incremental sync writes vectors
        // comparable with the ones already stored; but then an index first
        // built from another knowledge base keeps that base's lengths, and
        // answers depend on the index's history (an index built from the
        // pages before round 2 and synced to today's scored 232 of 277 dev
        // questions differently from a fresh one). When a sync changes
        // something and the chunks' mean length has moved past
        // `AVG_LEN_DRIFT`, every chunk is written again with today's (only
        // when every file parses, so that no broken file's last good
        // version keeps the old lengths).
        let mut avg = avg;
        let mut changes = None;
        if keep_old_avg
            && !opts.dry_run
            && self.settings.bm25.avg_len <= 0.0
            && scan.skipped.is_empty()
            && sync::changes(&scan, &stored)
        {
            let counter = Analyzer::new(self.bm25_params(None))?;
            let now = sync::mean_lengths(&counter, &scan.docs);
            let moved = |old: f64, new: f64| (new - old).abs() / old.max(1.0);
            let drift = moved(avg.0, now.0).max(moved(avg.1, now.1));
            if drift > AVG_LEN_DRIFT {
                // What the sync changes, for the report.
                let old = Analyzer::new(self.bm25_params(Some(avg)))?;
                changes = Some(
                    sync::apply(
                        self.backend.as_ref(),
                        &old,
                        None,
                        scan.clone(),
                        stored.clone(),
                        true,
                        &sync::NoProgress,
                    )
                    .await?,
                );
                // Every chunk is written again with today's lengths, in
                // place: the index is never empty, so a bot answering from
                // it meanwhile (this process or another) is not left
                // without pages, as a reset would.
                for r in &mut stored {
                    r.doc_hash.clear();
                }
                rebuilt = Some(format!(
                    "the chunks' mean length moved {:.0} % from the one the index was built with, so every chunk was written again",
                    drift * 100.0
                ));
                avg = now;
            }
        }
        let analyzer = Arc::new(Analyzer::new(self.bm25_params(Some(avg)))?);
        if !opts.dry_run {
            self.backend
                .write_meta(&self.wanted_meta(avg, dense_dim))
                .await?;
        }
        let mut report = sync::apply(
            self.backend.as_ref(),
            &analyzer,
            self.embedder.as_ref(),
            scan,
            stored,
            opts.dry_run,
            progress,
        )
        .await?;
        report.rebuilt = rebuilt;
        // Rebuilt for the lengths: the report still says what changed in
        // the folder, not that every page was added.
        if let Some(c) = changes {
            report.added = c.added;
            report.updated = c.updated;
            report.deleted = c.deleted;
            report.unchanged = c.unchanged;
            report.chunks_deleted = c.chunks_deleted;
        }
        if !opts.dry_run {
            self.set_analyzer(analyzer);
        }
        Ok(report)
    }

    /// True when an ingest would change something: the index is empty,
    /// was built with other settings, or a file changed.
    pub async fn is_stale(&self, root: &Path) -> Result<bool, IndexError> {
        let Some(meta) = self.backend.read_meta().await? else {
            return Ok(true);
        };
        let dim = if self.embedder.is_some() {
            meta.dense_dim
        } else {
            None
        };
        if !meta.compatible_with(&self.wanted_meta((meta.bm25_avg_len, meta.gram_avg_len), dim))
            || (self.embedder.is_some() && meta.dense_dim.is_none())
        {
            return Ok(true);
        }
        let r = self
            .ingest(
                root,
                IngestOptions {
                    dry_run: true,
                    rebuild: false,
                },
                &sync::NoProgress,
            )
            .await?;
        Ok(r.changed())
    }
}
