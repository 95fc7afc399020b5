//! Incremental, idempotent ingest: the knowledge folder on disk is made the
//! truth of the index.
//!
//! The index itself is the ledger: every chunk carries its document's hash.
//! A document is unchanged only if all its stored chunks carry the current
//! hash and their ids are exactly the expected ones. Anything else (an
//! edit, a shrink, an ingest killed half-way) makes it "changed": its new
//! chunks are upserted first, then every stored id it no longer has is
//! deleted, so no stale chunk survives and a reader never sees it empty.
//! Ids are deterministic, so re-running never duplicates.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;
use uuid::Uuid;

use crate::chunk::{chunk_markdown, Chunk, ChunkConfig};
use crate::doc::{self, DocError, Document};
use crate::embed::Embedder;
use crate::index::{day_number, ChunkPayload, ChunkPoint, IndexBackend, StoredRef, ALL_REGIONS};
use crate::text::Analyzer;
use crate::IndexError;

/// Where progress goes (a progress bar in the binary, nothing in tests).
pub trait Progress: Send + Sync {
    fn start(&self, _total: u64, _what: &str) {}
    fn advance(&self, _n: u64) {}
    fn note(&self, _msg: &str) {}
    fn finish(&self) {}
}

/// Discards progress.
#[derive(Debug, Default)]
pub struct NoProgress;
impl Progress for NoProgress {}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Skipped {
    pub path: String,
    pub line: Option<usize>,
    pub reason: String,
    /// Chunks of an earlier good version left in place.
    pub kept_chunks: usize,
}

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{}: {}", self.path, l, self.reason)?,
            None => write!(f, "{}: {}", self.path, self.reason)?,
        }
        if self.kept_chunks > 0 {
            write!(
                f,
                " (kept {} chunks of the last good version)",
                self.kept_chunks
            )?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct IngestReport {
    pub dry_run: bool,
    pub rebuilt: Option<String>,
    pub added: Vec<String>,
    pub updated: Vec<String>,
    pub deleted: Vec<String>,
    pub unchanged: Vec<String>,
    pub skipped: Vec<Skipped>,
    pub chunks_written: usize,
    pub chunks_deleted: usize,
    pub chunks_total: usize,
    /// Chunk points in the index after the run (equals `chunks_total`
    /// plus any kept chunks of skipped files when the index is consistent).
    pub index_points: usize,
    #[serde(skip)]
    pub elapsed: Duration,
}

impl IngestReport {
    pub fn changed(&self) -> bool {
        !(self.added.is_empty() && self.updated.is_empty() && self.deleted.is_empty())
    }
}

/// A document read from disk and chunked.
#[derive(Debug, Clone)]
pub struct LoadedDoc {
    pub doc: Document,
    pub chunks: Vec<Chunk>,
    pub doc_hash: String,
}

/// Result of scanning the knowledge folder.
#[derive(Debug, Default, Clone)]
pub struct Scan {
    pub docs: Vec<LoadedDoc>,
    pub skipped: Vec<Skipped>,
}

fn doc_error_line(e: &DocError) -> Option<usize> {
    match e {
        DocError::Binary { line }
        | DocError::NotUtf8 { line, .. }
        | DocError::UnclosedFrontMatter { line }
        | DocError::InvalidFrontMatter { line, .. }
        | DocError::Schema { line, .. } => Some(*line),
        DocError::MissingFrontMatter => Some(1),
        _ => None,
    }
}

/// Strips the "line N: " prefix that DocError's Display adds, since the
/// report prints `path:line:` itself.
fn doc_error_reason(e: &DocError) -> String {
    let s = e.to_string();
    match s.split_once(": ") {
        Some((head, rest)) if head.starts_with("line ") => rest.to_string(),
        _ => s,
    }
}

/// Lists the Markdown files under `root`, sorted, as (absolute, relative).
pub fn markdown_files(root: &Path) -> Result<Vec<(PathBuf, String)>, IndexError> {
    if !root.is_dir() {
        return Err(IndexError::Io {
            path: root.display().to_string(),
            message: "knowledge folder not found".into(),
        });
    }
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(root)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'))
    {
        let Ok(entry) = entry else { continue };
        if !entry.file_type().is_file() {
            continue;
        }
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("md")
            || entry.file_name() == "README.md"
        {
            continue;
        }
        let Ok(rel) = path.strip_prefix(root) else {
            continue;
        };
        let rel = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        out.push((path.to_path_buf(), rel));
    }
    Ok(out)
}

/// Reads, validates and chunks every document. Bad files are reported and
/// skipped; they never stop the run.
pub fn scan(root: &Path, max_file_bytes: u64, chunk_cfg: &ChunkConfig) -> Result<Scan, IndexError> {
    let mut scan = Scan::default();
    let cfg_tag = serde_json::to_string(chunk_cfg).unwrap_or_default();
    for (abs, rel) in markdown_files(root)? {
        match doc::load(&abs, &rel, max_file_bytes) {
            Ok(d) => {
                let chunks = chunk_markdown(&rel, &d.body, d.body_line, chunk_cfg);
                if chunks.is_empty() {
                    scan.skipped.push(Skipped {
                        path: rel,
                        line: None,
                        reason: "no indexable text after the front matter".into(),
                        kept_chunks: 0,
                    });
                    continue;
                }
                let doc_hash = blake3::hash(
                    format!(
                        "{}|{}|{}",
                        d.raw_hash,
                        cfg_tag,
                        crate::index::SCHEMA_VERSION
                    )
                    .as_bytes(),
                )
                .to_hex()
                .to_string();
                scan.docs.push(LoadedDoc {
                    doc: d,
                    chunks,
                    doc_hash,
                });
            }
            Err(e) => scan.skipped.push(Skipped {
                path: rel,
                line: doc_error_line(&e),
                reason: doc_error_reason(&e),
                kept_chunks: 0,
            }),
        }
    }
    Ok(scan)
}

/// Builds the stored payload of one chunk.
pub fn payload(d: &LoadedDoc, c: &Chunk) -> ChunkPayload {
    let m = &d.doc.meta;
    let ev = m.event.as_ref();
    ChunkPayload {
        doc_path: d.doc.path.clone(),
        title: m.title.clone(),
        kind: m.kind,
        language: m.language,
        region: if m.region.is_empty() {
            vec![ALL_REGIONS.to_string()]
        } else {
            m.region.clone()
        },
        audience: if m.audience.is_empty() {
            vec!["sme".into()]
        } else {
            m.audience.clone()
        },
        sectors: m.sectors.clone(),
        tags: m.tags.clone(),
        source_url: m.source_url.clone(),
        reviewed: m.reviewed,
        example: m.example,
        event_day: ev.map(|e| day_number(e.date)),
        event_date: ev.map(|e| e.date),
        event_time: ev.and_then(|e| e.time.clone()),
        event_place: ev.map(|e| e.place.clone()),
        event_type: ev.map(|e| e.event_type.clone()),
        registration_url: ev.and_then(|e| e.registration_url.clone()),
        translation: m.translation.clone(),
        heading_path: c.heading_path.clone(),
        ordinal: c.ordinal,
        line: c.line,
        text: c.text.clone(),
        content_hash: c.content_hash.clone(),
        doc_hash: d.doc_hash.clone(),
    }
}

/// Whether `scan` differs from what the index holds (`stored`): a
/// document added, removed or changed. Cheap: hashes only.
pub fn changes(scan: &Scan, stored: &[StoredRef]) -> bool {
    let mut held: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for r in stored {
        held.entry(r.doc_path.as_str())
            .or_default()
            .insert(r.doc_hash.as_str());
    }
    if held.len()
        != scan.docs.len()
            + scan
                .skipped
                .iter()
                .filter(|s| held.contains_key(s.path.as_str()))
                .count()
    {
        return true;
    }
    scan.docs.iter().any(|d| {
        held.get(d.doc.path.as_str())
            .is_none_or(|h| h.len() != 1 || !h.contains(d.doc_hash.as_str()))
    })
}

/// Mean BM25 token count and mean character n-gram count over all chunks,
/// for `avg_len` and `gram_avg_len`.
pub fn mean_lengths(analyzer: &Analyzer, docs: &[LoadedDoc]) -> (f64, f64) {
    let (mut words, mut grams) = (0.0, 0.0);
    let mut n = 0usize;
    for d in docs {
        for c in &d.chunks {
            let text = c.indexed_text(&d.doc.meta.title, &d.doc.meta.tags);
            words += analyzer.token_count(&text, d.doc.meta.language);
            grams += Analyzer::gram_count(&text);
            n += 1;
        }
    }
    if n == 0 {
        (100.0, 400.0)
    } else {
        ((words / n as f64).max(1.0), (grams / n as f64).max(1.0))
    }
}

/// What to do with one document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Add,
    Update,
    Unchanged,
}

/// Applies `scan` to `backend`. `stored` is the manifest before the run.
#[allow(clippy::too_many_arguments)]
pub async fn apply(
    backend: &dyn IndexBackend,
    analyzer: &Analyzer,
    embedder: Option<&Embedder>,
    scan: Scan,
    stored: Vec<StoredRef>,
    dry_run: bool,
    progress: &dyn Progress,
) -> Result<IngestReport, IndexError> {
    let started = Instant::now();
    let mut report = IngestReport {
        dry_run,
        skipped: scan.skipped,
        ..Default::default()
    };
    let mut by_doc: BTreeMap<String, Vec<StoredRef>> = BTreeMap::new();
    for r in stored {
        by_doc.entry(r.doc_path.clone()).or_default().push(r);
    }
    // A file that exists but failed to parse keeps its last good chunks:
    // a typo in front matter should not make the bot forget the document.
    for s in report.skipped.iter_mut() {
        if let Some(old) = by_doc.remove(&s.path) {
            s.kept_chunks = old.len();
        }
    }

    let mut plan: Vec<(Action, LoadedDoc, Vec<Uuid>)> = Vec::new();
    for d in scan.docs {
        let old = by_doc.remove(&d.doc.path).unwrap_or_default();
        let new_ids: HashSet<Uuid> = d.chunks.iter().map(|c| c.id).collect();
        let old_ids: HashSet<Uuid> = old.iter().map(|r| r.id).collect();
        let action = if old.is_empty() {
            Action::Add
        } else if old.iter().all(|r| r.doc_hash == d.doc_hash) && old_ids == new_ids {
            Action::Unchanged
        } else {
            Action::Update
        };
        let stale: Vec<Uuid> = old_ids.difference(&new_ids).copied().collect();
        plan.push((action, d, stale));
    }
    // What is left in by_doc has no file any more.
    let deletions: Vec<(String, Vec<Uuid>)> = by_doc
        .into_iter()
        .map(|(p, refs)| (p, refs.into_iter().map(|r| r.id).collect()))
        .collect();

    let to_write: u64 = plan
        .iter()
        .filter(|(a, _, _)| *a != Action::Unchanged)
        .map(|(_, d, _)| d.chunks.len() as u64)
        .sum();
    if !dry_run {
        progress.start(to_write + deletions.len() as u64, "indexing");
    }

    for (action, d, stale) in plan {
        let path = d.doc.path.clone();
        report.chunks_total += d.chunks.len();
        match action {
            Action::Unchanged => {
                report.unchanged.push(path);
                continue;
            }
            Action::Add => report.added.push(path.clone()),
            Action::Update => report.updated.push(path.clone()),
        }
        report.chunks_written += d.chunks.len();
        report.chunks_deleted += stale.len();
        if dry_run {
            continue;
        }
        let texts: Vec<String> = d
            .chunks
            .iter()
            .map(|c| c.indexed_text(&d.doc.meta.title, &d.doc.meta.tags))
            .collect();
        let dense = match embedder {
            Some(e) => Some(e.embed_passages(&texts, |_| {}).await?),
            None => None,
        };
        let mut points = Vec::with_capacity(d.chunks.len());
        for (i, c) in d.chunks.iter().enumerate() {
            points.push(ChunkPoint {
                id: c.id,
                sparse: analyzer.index_vector(&texts[i], d.doc.meta.language),
                dense: dense.as_ref().map(|v| v[i].clone()),
                payload: payload(&d, c),
            });
        }
        backend.upsert(points).await?;
        backend.delete(&stale).await?;
        progress.advance(d.chunks.len() as u64);
        tracing::debug!(doc = %path, chunks = d.chunks.len(), stale = stale.len(), "document indexed");
    }
    for (path, ids) in deletions {
        report.chunks_deleted += ids.len();
        report.deleted.push(path);
        if !dry_run {
            backend.delete(&ids).await?;
            progress.advance(1);
        }
    }
    if !dry_run {
        backend.finish().await?;
        progress.finish();
    }
    report.index_points = backend.count().await?;
    report.elapsed = started.elapsed();
    Ok(report)
}
