//! Retrieval: BM25 and (optionally) dense candidates from the backend,
//! fused with configurable weights, de-duplicated per document, with a
//! confidence signal the assistant uses to abstain.
//!
//! Two pipelines share this entry point:
//! - **ranked** (the default): one sparse query carrying the question's
//!   words, their expansions in the other language ([`crate::terms`]) and
//!   character 4-grams, plus dense candidates when configured; then the
//!   second stage in [`crate::rank`] re-scores the candidates and gives a
//!   calibrated confidence.
//! - **baseline**: what shipped before, kept to be measured against in the
//!   same run (`kraft eval answers --compare`): BM25 over words only,
//!   weighted min-max fusion with dense, and term-frequency coverage as
//!   the confidence.
//!
//! Fusion in the baseline is a weighted sum of per-list min-max normalised
//! scores rather than plain RRF: on SweFAQ, equal-weight RRF does not beat
//! the better retriever alone, while a score-aware weighted sum does.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::doc::Lang;
use crate::embed::Embedder;
use crate::index::{ChunkPayload, Hit, IndexBackend, SearchFilter};
use crate::rank::{self, Candidate, Features, Query, RankerFile, TermCache};
use crate::text::Analyzer;
use crate::IndexError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SearchSettings {
    /// Candidates fetched from each retriever before fusion.
    pub candidates: usize,
    /// Weight of the normalised BM25 score in hybrid fusion.
    pub sparse_weight: f32,
    /// Weight of the normalised dense score in hybrid fusion.
    pub dense_weight: f32,
    /// In hybrid mode the first `sparse_slots + dense_slots` results always
    /// include the best `sparse_slots` documents of BM25 and the best
    /// `dense_slots` of dense retrieval (ordered by fused score), so one
    /// retriever's confident find is never drowned by the other.
    pub sparse_slots: usize,
    pub dense_slots: usize,
    /// Results returned by default.
    pub limit: usize,
    /// Below this confidence the assistant abstains instead of answering.
    /// The ranked pipeline's confidence is a calibrated probability that
    /// the question is answerable; the baseline's is term coverage.
    pub min_confidence: f32,
    /// Which pipeline answers searches.
    pub pipeline: Pipeline,
    /// Weight of each character 4-gram of the question in the sparse query
    /// (a word weighs 1).
    pub gram_weight: f32,
    /// Weight of expansion terms ([`crate::terms`]) and of the question's
    /// words analysed in the other language.
    pub expansion_weight: f32,
    /// Candidates the second stage re-ranks.
    pub rerank_candidates: usize,
    /// Fitted second-stage models to use instead of the shipped ones
    /// (`kraft eval fit --out FILE` on your own questions).
    pub ranker: Option<std::path::PathBuf>,
}

/// See the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Pipeline {
    #[default]
    Ranked,
    Baseline,
}

impl Default for SearchSettings {
    fn default() -> Self {
        Self {
            candidates: 50,
            sparse_weight: 0.4,
            dense_weight: 0.6,
            sparse_slots: 2,
            dense_slots: 3,
            limit: 5,
            min_confidence: 0.5,
            pipeline: Pipeline::Ranked,
            gram_weight: 0.5,
            expansion_weight: 0.5,
            rerank_candidates: 40,
            ranker: None,
        }
    }
}

/// Which retrievers to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Bm25,
    Dense,
    Hybrid,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Bm25 => "bm25",
            Mode::Dense => "dense",
            Mode::Hybrid => "hybrid",
        }
    }
}

/// One result: the best chunk of one document.
#[derive(Debug, Clone, Serialize)]
pub struct Found {
    pub id: Uuid,
    pub score: f32,
    pub bm25_score: Option<f32>,
    pub dense_score: Option<f32>,
    /// The second stage's features (ranked pipeline only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub features: Option<Features>,
    #[serde(flatten)]
    pub chunk: ChunkPayload,
}

#[derive(Debug, Clone, Serialize)]
pub struct SearchResponse {
    pub query_language: Lang,
    /// The mode actually used (hybrid degrades to bm25 when the embeddings
    /// endpoint fails).
    pub mode: Mode,
    /// 0..1: how well the best result covers the question.
    pub confidence: f32,
    pub results: Vec<Found>,
    /// Set when a retriever failed and the search degraded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    /// The question as the ranked pipeline analysed it (None from the
    /// baseline), so that composing the answer does not analyse it again.
    #[serde(skip)]
    pub query: Option<Arc<Query>>,
}

#[derive(Clone)]
pub struct Retriever {
    backend: Arc<dyn IndexBackend>,
    analyzer: Arc<Analyzer>,
    embedder: Option<Embedder>,
    settings: SearchSettings,
    ranker: Arc<RankerFile>,
    cache: Arc<TermCache>,
}

impl std::fmt::Debug for Retriever {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Retriever")
            .field("backend", &self.backend.name())
            .field("dense", &self.embedder.is_some())
            .finish()
    }
}

/// Min-max normalisation over one candidate list. A single candidate, or
/// all equal, normalises to 1. (Distribution-based normalisation was tried
/// and scored lower on SweFAQ; see README.)
fn normalise(hits: &[Hit]) -> HashMap<Uuid, f32> {
    let max = hits.iter().map(|h| h.score).fold(f32::MIN, f32::max);
    let min = hits.iter().map(|h| h.score).fold(f32::MAX, f32::min);
    let span = max - min;
    hits.iter()
        .map(|h| {
            let v = if span > f32::EPSILON {
                (h.score - min) / span
            } else {
                1.0
            };
            (h.id, v)
        })
        .collect()
}

/// Fuses candidate lists into at most `limit` results, one per document.
/// Single-retriever modes keep raw scores, so BM25-only ranking is exactly
/// the store's; hybrid sums weighted min-max normalised scores.
pub fn fuse(
    sparse: Option<&[Hit]>,
    dense: Option<&[Hit]>,
    mode: Mode,
    p: &SearchSettings,
    limit: usize,
) -> Vec<Found> {
    let (sparse_weight, dense_weight) = (p.sparse_weight, p.dense_weight);
    /// Fused score, raw BM25 score, raw dense score, payload.
    type Entry<'a> = (f32, Option<f32>, Option<f32>, &'a ChunkPayload);
    let mut fused: HashMap<Uuid, Entry<'_>> = HashMap::new();
    let (ws, wd) = match mode {
        Mode::Bm25 => (1.0, 0.0),
        Mode::Dense => (0.0, 1.0),
        Mode::Hybrid => (sparse_weight, dense_weight),
    };
    for (hits, weight, is_dense) in [(sparse, ws, false), (dense, wd, true)] {
        let Some(hits) = hits else { continue };
        if weight == 0.0 {
            continue;
        }
        let norm = normalise(hits);
        for h in hits {
            let n = norm.get(&h.id).copied().unwrap_or(0.0);
            let e = fused.entry(h.id).or_insert((0.0, None, None, &h.payload));
            e.0 += if mode == Mode::Hybrid {
                weight * n
            } else {
                h.score
            };
            if is_dense {
                e.2 = Some(h.score);
            } else {
                e.1 = Some(h.score);
            }
        }
    }
    let mut all: Vec<(Uuid, Entry<'_>)> = fused.into_iter().collect();
    all.sort_by(|a, b| b.1 .0.total_cmp(&a.1 .0).then(a.0.cmp(&b.0)));
    let mut seen = HashSet::new();
    let ranked: Vec<Found> = all
        .into_iter()
        .filter(|f| seen.insert(f.1 .3.doc_path.as_str()))
        .map(|(id, (score, b, d, p))| Found {
            id,
            score,
            bm25_score: b,
            dense_score: d,
            features: None,
            chunk: ChunkPayload::clone(p),
        })
        .collect();
    let slots = p.sparse_slots + p.dense_slots;
    if mode != Mode::Hybrid || slots == 0 {
        return ranked.into_iter().take(limit).collect();
    }
    // The documents that must be in the first `slots` results.
    let mut head: Vec<&str> = Vec::with_capacity(slots);
    for (hits, k) in [(dense, p.dense_slots), (sparse, p.sparse_slots)] {
        let mut docs: Vec<&str> = Vec::with_capacity(k);
        for h in hits.unwrap_or_default() {
            if docs.len() == k {
                break;
            }
            if !docs.contains(&h.payload.doc_path.as_str()) {
                docs.push(h.payload.doc_path.as_str());
            }
        }
        for d in docs {
            if !head.contains(&d) {
                head.push(d);
            }
        }
    }
    for f in &ranked {
        if head.len() >= slots {
            break;
        }
        if !head.contains(&f.chunk.doc_path.as_str()) {
            head.push(f.chunk.doc_path.as_str());
        }
    }
    let head: HashSet<String> = head.into_iter().map(str::to_string).collect();
    let (first, rest): (Vec<Found>, Vec<Found>) = ranked
        .into_iter()
        .partition(|f| head.contains(&f.chunk.doc_path));
    first.into_iter().chain(rest).take(limit).collect()
}

/// Raw candidates of one query, before fusion.
#[derive(Debug, Clone)]
pub struct Candidates {
    pub language: Lang,
    pub sparse: Option<Vec<Hit>>,
    pub dense: Option<Vec<Hit>>,
}

impl Retriever {
    /// Fetches candidates from both retrievers (dense only when configured),
    /// for evaluation of fusion settings without re-embedding the query.
    pub async fn candidates(
        &self,
        query: &str,
        filter: &SearchFilter,
        want: usize,
    ) -> Result<Candidates, IndexError> {
        let language = self.analyzer.detect(query);
        let sparse = Some(
            self.backend
                .search_sparse(&self.analyzer.query_vector(query, language), filter, want)
                .await?,
        );
        let dense = match &self.embedder {
            Some(e) => Some(
                self.backend
                    .search_dense(&e.embed_query(query).await?, filter, want)
                    .await?,
            ),
            None => None,
        };
        Ok(Candidates {
            language,
            sparse,
            dense,
        })
    }

    pub fn new(
        backend: Arc<dyn IndexBackend>,
        analyzer: Arc<Analyzer>,
        embedder: Option<Embedder>,
        settings: SearchSettings,
    ) -> Self {
        Self {
            backend,
            analyzer,
            embedder,
            settings,
            ranker: Arc::new(RankerFile::shipped()),
            cache: Arc::new(TermCache::default()),
        }
    }

    /// The same retriever with other settings (e.g. the baseline pipeline
    /// beside the ranked one in an evaluation); shares the term cache.
    pub fn with_settings(&self, settings: SearchSettings) -> Self {
        Self {
            settings,
            ..self.clone()
        }
    }

    /// The same retriever over an analyzer with other BM25 lengths; the
    /// chunk-analysis cache starts empty, since its term weights depend on
    /// them.
    pub fn with_analyzer(&self, analyzer: Arc<Analyzer>) -> Self {
        Self {
            analyzer,
            cache: Arc::new(TermCache::default()),
            ..self.clone()
        }
    }

    /// Whether this retriever searches with `analyzer`.
    pub fn uses(&self, analyzer: &Arc<Analyzer>) -> bool {
        Arc::ptr_eq(&self.analyzer, analyzer)
    }

    /// Uses other fitted models (fitting, experiments).
    pub fn with_ranker(mut self, ranker: RankerFile) -> Self {
        self.ranker = Arc::new(ranker);
        self
    }

    pub fn ranker(&self) -> &RankerFile {
        &self.ranker
    }

    pub fn settings(&self) -> &SearchSettings {
        &self.settings
    }

    pub fn analyzer(&self) -> &Analyzer {
        &self.analyzer
    }

    /// Analyses every chunk of the index ahead of the first question, so
    /// the first users after a start are answered as fast as later ones
    /// (the second stage otherwise analyses each chunk the first time it
    /// is a candidate). Returns the chunks, for the caller's own caches,
    /// or nothing when the index is larger than the analysis cache holds
    /// (then warming would only evict itself).
    pub async fn warm(&self) -> Result<Vec<Hit>, IndexError> {
        if self.settings.pipeline == Pipeline::Baseline
            || self.backend.count().await? > rank::CACHE_MAX
        {
            return Ok(vec![]);
        }
        let hits = self
            .backend
            .list(&SearchFilter::default(), rank::CACHE_MAX)
            .await?;
        for h in &hits {
            self.cache.warm(&self.analyzer, h.id, &h.payload);
        }
        Ok(hits)
    }

    pub fn backend(&self) -> &Arc<dyn IndexBackend> {
        &self.backend
    }

    pub fn has_dense(&self) -> bool {
        self.embedder.is_some()
    }

    /// The default mode: hybrid when an embeddings endpoint is configured.
    pub fn default_mode(&self) -> Mode {
        if self.embedder.is_some() {
            Mode::Hybrid
        } else {
            Mode::Bm25
        }
    }

    pub async fn search(
        &self,
        query: &str,
        filter: &SearchFilter,
        limit: usize,
    ) -> Result<SearchResponse, IndexError> {
        self.search_mode(query, filter, limit, self.default_mode())
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(mode = mode.as_str(), limit))]
    pub async fn search_mode(
        &self,
        query: &str,
        filter: &SearchFilter,
        limit: usize,
        mode: Mode,
    ) -> Result<SearchResponse, IndexError> {
        // Dense alone is a diagnostic mode (the embedding model by itself):
        // it keeps the model's own order, without the second stage.
        if self.settings.pipeline == Pipeline::Ranked && mode != Mode::Dense {
            return self.ranked(query, filter, limit, mode).await;
        }
        let lang = self.analyzer.detect(query);
        let mut warning = None;
        let mut mode = mode;
        if mode != Mode::Bm25 && self.embedder.is_none() {
            return Err(IndexError::Config(
                "dense retrieval needs an embeddings endpoint (set [embeddings] base_url)".into(),
            ));
        }
        // Over-fetch: several chunks of one document collapse into one result.
        let want = if mode == Mode::Bm25 {
            (limit * 4).max(20)
        } else {
            self.settings.candidates.max(limit * 4)
        };

        let dense_hits = match (mode, &self.embedder) {
            (Mode::Bm25, _) | (_, None) => None,
            (_, Some(e)) => match e.embed_query(query).await {
                Ok(v) => Some(self.backend.search_dense(&v, filter, want).await?),
                Err(err) if mode == Mode::Hybrid => {
                    tracing::warn!(error = %err, "dense retrieval failed; answering with BM25 only");
                    warning = Some(format!("dense retrieval unavailable ({err}); BM25 only"));
                    mode = Mode::Bm25;
                    None
                }
                Err(err) => return Err(IndexError::Embedding(err)),
            },
        };
        let sparse_hits = if mode == Mode::Dense {
            None
        } else {
            let qv = self.analyzer.query_vector(query, lang);
            Some(self.backend.search_sparse(&qv, filter, want).await?)
        };

        let results = fuse(
            sparse_hits.as_deref(),
            dense_hits.as_deref(),
            mode,
            &self.settings,
            limit,
        );
        let confidence = results
            .first()
            .map(|top| self.confidence(query, lang, top))
            .unwrap_or(0.0);
        Ok(SearchResponse {
            query_language: lang,
            mode,
            confidence,
            results,
            warning,
            query: None,
        })
    }

    /// First-stage candidates of the ranked pipeline, each with its
    /// features (scores left at 0): what fitting the second stage needs.
    pub async fn ranked_candidates(
        &self,
        query: &str,
        filter: &SearchFilter,
        mode: Mode,
    ) -> Result<(Query, Vec<rank::Scored>, Mode, Option<String>), IndexError> {
        let lang = self.analyzer.detect(query);
        let q = Query::new(&self.analyzer, query, lang);
        let mut mode = mode;
        let mut warning = None;
        if mode != Mode::Bm25 && self.embedder.is_none() {
            return Err(IndexError::Config(
                "dense retrieval needs an embeddings endpoint (set [embeddings] base_url)".into(),
            ));
        }
        let want = self
            .settings
            .candidates
            .max(self.settings.rerank_candidates)
            .max(1);
        let dense_hits = match (mode, &self.embedder) {
            (Mode::Bm25, _) | (_, None) => None,
            (_, Some(e)) => match e.embed_query(query).await {
                Ok(v) => Some(self.backend.search_dense(&v, filter, want).await?),
                Err(err) if mode == Mode::Hybrid => {
                    tracing::warn!(error = %err, "dense retrieval failed; answering with BM25 only");
                    warning = Some(format!("dense retrieval unavailable ({err}); BM25 only"));
                    mode = Mode::Bm25;
                    None
                }
                Err(err) => return Err(IndexError::Embedding(err)),
            },
        };
        let sparse_hits = if mode == Mode::Dense {
            None
        } else {
            let qv = q.sparse_vector(
                &self.analyzer,
                self.settings.expansion_weight,
                self.settings.gram_weight,
            );
            Some(self.backend.search_sparse(&qv, filter, want).await?)
        };
        // The best `rerank_candidates` of each list, merged by id.
        let k = self.settings.rerank_candidates.max(1);
        let mut cands: Vec<Candidate> = Vec::new();
        let mut at: HashMap<Uuid, usize> = HashMap::new();
        for (hits, is_dense) in [(&sparse_hits, false), (&dense_hits, true)] {
            for h in hits.iter().flatten().take(k) {
                let i = *at.entry(h.id).or_insert_with(|| {
                    cands.push(Candidate {
                        id: h.id,
                        sparse: None,
                        dense: None,
                        payload: h.payload.clone(),
                    });
                    cands.len() - 1
                });
                if is_dense {
                    cands[i].dense = Some(h.score);
                } else {
                    cands[i].sparse = Some(h.score);
                }
            }
        }
        let model = self.ranker.model(mode.as_str());
        let feats = rank::features(&self.analyzer, &self.cache, &q, &cands, &model.priors);
        let scored = cands
            .into_iter()
            .zip(feats)
            .map(|(candidate, features)| rank::Scored {
                candidate,
                features,
                score: 0.0,
            })
            .collect();
        Ok((q, scored, mode, warning))
    }

    /// The ranked pipeline: candidates, second-stage scores, one result per
    /// document, calibrated confidence.
    async fn ranked(
        &self,
        query: &str,
        filter: &SearchFilter,
        limit: usize,
        mode: Mode,
    ) -> Result<SearchResponse, IndexError> {
        let (q, mut scored, mode, warning) = self.ranked_candidates(query, filter, mode).await?;
        let model = self.ranker.model(mode.as_str());
        for s in &mut scored {
            s.score = model.score(&s.features);
        }
        let (results, confidence) = rank::finish(&model, &q, scored, limit);
        Ok(SearchResponse {
            query_language: q.lang,
            mode,
            confidence,
            results,
            warning,
            query: Some(Arc::new(q)),
        })
    }

    /// How well the best chunk covers the question ([`coverage`]), blended
    /// with the dense similarity when there is one.
    fn confidence(&self, query: &str, lang: Lang, top: &Found) -> f32 {
        let coverage = coverage(&self.analyzer, query, lang, &top.chunk);
        match top.dense_score {
            // e5 cosine similarities sit in roughly 0.75..0.92 for related
            // text; map that band onto 0..1.
            Some(cos) => {
                let dense = ((cos - 0.78) / 0.12).clamp(0.0, 1.0);
                0.6 * coverage + 0.4 * dense
            }
            None => coverage,
        }
    }
}

/// 0..1: how strongly `chunk` matches the question's content terms
/// (stemmed, stopwords removed), term by term.
///
/// Each query term scores its BM25 term-frequency component in the chunk,
/// `tf (k1 + 1) / (tf + k1 (1 - b + b len / avg_len))`: 0 when missing, 1
/// for one mention in a chunk of average length, more for repeated
/// mentions or a short chunk, less for a passing mention in a long one.
/// The mean over the question's terms, capped at 1, is the confidence.
///
/// Plain term coverage (the share of terms present) rated "Vilket väder
/// blir det i morgon?" 0.5 because a long chunk happened to contain
/// "väder" and "blir"; here such incidental matches count for little,
/// while a chunk that is about the question's words keeps a high score
/// even when the question has a word the knowledge base never uses
/// ("nåt", a typo). IDF weighting was tried and abstained worse on this
/// corpus: its topical words ("AI", "företag", "Kraftsamling") are common
/// in it, and answerable questions are full of rare paraphrases (README).
pub fn coverage(analyzer: &Analyzer, query: &str, lang: Lang, chunk: &ChunkPayload) -> f32 {
    let q = analyzer.query_terms(query, lang);
    if q.is_empty() {
        return 0.0;
    }
    let text =
        crate::chunk::indexed_text(&chunk.title, &chunk.heading_path, &chunk.tags, &chunk.text);
    // The chunk is analysed in the question's language so that both sides
    // are stemmed alike, even for an English question on a Swedish page.
    let d = analyzer.doc_vector(&text, lang);
    let matched: f32 = d
        .indices
        .iter()
        .zip(&d.values)
        .filter(|(t, _)| q.contains(t))
        .map(|(_, v)| *v)
        .sum();
    (matched / q.len() as f32).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hits(docs: &[(usize, f32)]) -> Vec<Hit> {
        docs.iter()
            .map(|&(i, score)| Hit {
                id: crate::chunk::chunk_id(&format!("swefaq/{i}"), &[], 0),
                score,
                payload: crate::eval::passage_payload(i, "t").into(),
            })
            .collect()
    }

    fn paths(f: &[Found]) -> Vec<String> {
        f.iter().map(|x| x.chunk.doc_path.clone()).collect()
    }

    #[test]
    fn a_passing_mention_in_a_long_chunk_gives_less_confidence() {
        // avg_len is 100 tokens; the long chunk mentions both words once
        // among 300 tokens, the short one is about them.
        let a = Analyzer::new(crate::text::Bm25Params::default()).expect("analyzer");
        let q = "Kaffe för företag?";
        let filler = "lorem ".repeat(300);
        let long = crate::eval::passage_payload(0, &format!("{filler} kaffe företag"));
        let short = crate::eval::passage_payload(1, "Kaffe för företag.");
        let half = crate::eval::passage_payload(2, "Kaffe och kaka.");
        let long_c = coverage(&a, q, Lang::Sv, &long);
        let short_c = coverage(&a, q, Lang::Sv, &short);
        let half_c = coverage(&a, q, Lang::Sv, &half);
        // Plain term coverage rated the long chunk a full match (1.0).
        assert!(long_c < 0.6, "{long_c}");
        assert!((short_c - 1.0).abs() < 1e-6, "{short_c}");
        assert!(half_c > 0.5 && half_c < short_c, "{half_c}");
        assert_eq!(
            coverage(&a, "och i det", Lang::Sv, &short),
            0.0,
            "stopwords only"
        );
    }

    #[test]
    fn hybrid_slots_keep_each_retrievers_best_documents_in_the_head() {
        // Dense prefers 1..4, BM25 finds 9 first but scores it low relative
        // to its own spread; plain weighted fusion would push 9 out of the top 5.
        let dense = hits(&[
            (1, 0.90),
            (2, 0.89),
            (3, 0.88),
            (4, 0.87),
            (5, 0.86),
            (9, 0.10),
        ]);
        let sparse = hits(&[(9, 5.0), (1, 4.9), (2, 4.8), (3, 4.7), (4, 4.6), (5, 4.5)]);
        let mut s = SearchSettings {
            sparse_weight: 0.1,
            dense_weight: 0.9,
            sparse_slots: 0,
            dense_slots: 0,
            ..Default::default()
        };
        let plain = fuse(Some(&sparse), Some(&dense), Mode::Hybrid, &s, 5);
        assert!(
            !paths(&plain).contains(&"swefaq/9".to_string()),
            "{:?}",
            paths(&plain)
        );
        s.sparse_slots = 1;
        s.dense_slots = 3;
        let slotted = fuse(Some(&sparse), Some(&dense), Mode::Hybrid, &s, 5);
        let p = paths(&slotted);
        assert_eq!(p.len(), 5);
        assert!(p[..4].contains(&"swefaq/9".to_string()), "{p:?}");
        for d in ["swefaq/1", "swefaq/2", "swefaq/3"] {
            assert!(p[..4].contains(&d.to_string()), "{p:?}");
        }
        // The head is ordered by fused score, and single modes ignore slots.
        assert!(slotted[0].score >= slotted[1].score);
        let bm25 = fuse(Some(&sparse), None, Mode::Bm25, &s, 3);
        assert_eq!(paths(&bm25), ["swefaq/9", "swefaq/1", "swefaq/2"]);
    }
}
