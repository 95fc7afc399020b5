//! Text analysis shared by ingest and search: language detection (Swedish or
//! English) and BM25 sparse vectors with language-aware stemming and
//! stopwords.
//!
//! BM25 uses Qdrant Edge's `EdgeBm25`, whose token ids are the same as the
//! Qdrant server's `qdrant/bm25` model, so the vectors computed here can be
//! sent to either backend and IDF is applied by the store (`Modifier::Idf`).

use std::collections::HashSet;
use std::sync::Arc;

use lingua::{Language, LanguageDetector, LanguageDetectorBuilder};
use qdrant_edge::bm25_embed::{EdgeBm25, EdgeBm25Config};
use qdrant_edge::external::ordered_float::NotNan;

use crate::doc::Lang;
use crate::IndexError;

/// A sparse vector as (indices, values), independent of any backend's type.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SparseVec {
    pub indices: Vec<u32>,
    pub values: Vec<f32>,
}

impl SparseVec {
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }
}

/// BM25 parameters. `avg_len` is the corpus mean in tokens (and
/// `gram_avg_len` in character n-grams), stored with the index so
/// incremental ingests keep vectors comparable.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bm25Params {
    pub k1: f64,
    pub b: f64,
    pub avg_len: f64,
    /// Length normalisation of the n-gram channel.
    pub gram_b: f64,
    pub gram_avg_len: f64,
}

impl Default for Bm25Params {
    fn default() -> Self {
        Self {
            k1: 1.2,
            b: 0.75,
            avg_len: 100.0,
            gram_b: 0.75,
            gram_avg_len: 400.0,
        }
    }
}

/// Length of the character n-grams.
pub const GRAM_N: usize = 4;
/// Words shorter than this give no n-grams (the word channel has them).
const GRAM_MIN_WORD: usize = 3;

/// The character n-grams of `text`: every word of three or more letters,
/// lower-cased and framed by `_`, cut into overlapping 4-grams.
///
/// Swedish glues words together ("offerthantering", "vaccinationsintyg"),
/// and a stemmer does not split them, so "offert" never meets
/// "offerthantering" in the word channel. Shared 4-grams do meet, and they
/// also survive typos ("compnay"). On SweFAQ's dev half this channel alone
/// moved MRR@10 from 0.585 to 0.70 (README).
pub fn char_grams(text: &str, mut each: impl FnMut(&str)) {
    let lower = text.to_lowercase();
    let mut buf = String::with_capacity(32);
    let mut idx: Vec<usize> = Vec::with_capacity(32);
    for word in lower.split(|c: char| !c.is_alphanumeric()) {
        let n = word.chars().count();
        if n < GRAM_MIN_WORD {
            continue;
        }
        buf.clear();
        buf.push('_');
        buf.push_str(word);
        buf.push('_');
        idx.clear();
        idx.extend(buf.char_indices().map(|(i, _)| i));
        idx.push(buf.len());
        for w in idx.windows(GRAM_N + 1) {
            each(&buf[w[0]..w[GRAM_N]]);
        }
    }
}

/// Token id of an n-gram. FNV-1a from its own offset, so n-gram ids and
/// the word ids (murmur3 of stems) live side by side in one sparse vector
/// (a collision between the two is as unlikely as one among words).
pub fn gram_id(gram: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5 ^ 0x6772_616d;
    for b in gram.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    // Qdrant's word ids are non-negative i32 values; keep to the same range.
    h & 0x7fff_ffff
}

fn edge_bm25(lang: Lang, k1: f64, b: f64, avg_len: f64) -> Result<EdgeBm25, IndexError> {
    let nn =
        |v: f64| NotNan::new(v).map_err(|_| IndexError::Config("BM25 parameter is NaN".into()));
    let cfg = EdgeBm25Config {
        k: nn(k1)?,
        b: nn(b)?,
        avg_len: nn(avg_len.max(1.0))?,
        language: Some(
            match lang {
                Lang::Sv => "swedish",
                Lang::En => "english",
            }
            .into(),
        ),
        ..Default::default()
    };
    EdgeBm25::new(cfg).map_err(|e| IndexError::Config(format!("BM25: {e}")))
}

/// Everything needed to turn text into sparse vectors, per language.
pub struct Analyzer {
    params: Bm25Params,
    sv: EdgeBm25,
    en: EdgeBm25,
    // b = 0 models, used only to count tokens: with no length
    // normalisation each value is tf(k+1)/(tf+k), which can be inverted.
    sv_count: EdgeBm25,
    en_count: EdgeBm25,
    detector: LanguageDetector,
    /// Memos for the two analyses a turn repeats: the language of a text
    /// (the assistant and the retrieval both ask) and the terms of a word
    /// (each question word is looked up in both languages, and the same
    /// words recur across questions). Keyed by a hash, so no question text
    /// is held in memory.
    langs: quick_cache::sync::Cache<[u8; 32], Lang>,
    words: quick_cache::sync::Cache<(Lang, [u8; 32]), Arc<[u32]>>,
}

/// A question's texts up to this many bytes have their terms memoised
/// (words, short expansions), not whole questions: a question is seldom
/// asked twice, and memoising it would only flatter a benchmark that
/// repeats its questions.
const MEMO_TERMS_BYTES: usize = 64;

/// Knowledge-base texts up to this many bytes have their terms memoised:
/// an answer is composed from the same few thousand sentences and
/// headings turn after turn.
const MEMO_TEXT_BYTES: usize = 1024;

impl std::fmt::Debug for Analyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analyzer")
            .field("params", &self.params)
            .finish()
    }
}

impl Analyzer {
    pub fn new(params: Bm25Params) -> Result<Self, IndexError> {
        Ok(Self {
            params,
            sv: edge_bm25(Lang::Sv, params.k1, params.b, params.avg_len)?,
            en: edge_bm25(Lang::En, params.k1, params.b, params.avg_len)?,
            sv_count: edge_bm25(Lang::Sv, params.k1, 0.0, 1.0)?,
            en_count: edge_bm25(Lang::En, params.k1, 0.0, 1.0)?,
            detector: LanguageDetectorBuilder::from_languages(&[
                Language::English,
                Language::Swedish,
            ])
            .build(),
            langs: quick_cache::sync::Cache::new(4_096),
            words: quick_cache::sync::Cache::new(50_000),
        })
    }

    pub fn params(&self) -> Bm25Params {
        self.params
    }

    /// Swedish unless the text is clearly English. Swedish is the programme's
    /// main language, and a short ambiguous query ("AI Act?") is better
    /// served by the Swedish stemmer that matches most documents.
    ///
    /// Å, ä and ö settle it only outside names: "What is the weather in
    /// Västerås tomorrow?" is English, and analysing it as Swedish keeps
    /// "what", "is" and "the" as content words. A capitalised word that
    /// does not start the text is taken for a name and left out.
    pub fn detect(&self, text: &str) -> Lang {
        let key = *blake3::hash(text.as_bytes()).as_bytes();
        if let Some(l) = self.langs.get(&key) {
            return l;
        }
        let l = self.detect_uncached(text);
        self.langs.insert(key, l);
        l
    }

    fn detect_uncached(&self, text: &str) -> Lang {
        let mut rest = String::with_capacity(text.len());
        // The same without names: "How do we join Kraftsamling AI
        // Mälardalen?" is English, however Swedish the programme's name.
        let mut plain = String::with_capacity(text.len());
        for (i, word) in text.split_whitespace().enumerate() {
            let lower = word.to_lowercase();
            let swedish_letters = lower.contains(['å', 'ä', 'ö']);
            let name = i > 0 && word.chars().next().is_some_and(char::is_uppercase);
            if swedish_letters && !name {
                return Lang::Sv;
            }
            if !swedish_letters {
                rest.push_str(&lower);
                rest.push(' ');
                if !name {
                    plain.push_str(&lower);
                    plain.push(' ');
                }
            }
        }
        let count = |s: &str| s.chars().filter(|c| c.is_alphabetic()).count();
        // Enough words of its own to tell by: the names go.
        if count(&plain) >= 10 {
            rest = plain;
        }
        let letters = count(&rest);
        if letters < 3 {
            return Lang::Sv;
        }
        let en = self
            .detector
            .compute_language_confidence(rest.trim_end(), Language::English);
        if en >= 0.6 {
            Lang::En
        } else {
            Lang::Sv
        }
    }

    fn model(&self, lang: Lang) -> &EdgeBm25 {
        match lang {
            Lang::Sv => &self.sv,
            Lang::En => &self.en,
        }
    }

    pub fn doc_vector(&self, text: &str, lang: Lang) -> SparseVec {
        let v = self.model(lang).embed_document(text);
        SparseVec {
            indices: v.indices,
            values: v.values,
        }
    }

    pub fn query_vector(&self, text: &str, lang: Lang) -> SparseVec {
        let v = self.model(lang).embed_query(text);
        SparseVec {
            indices: v.indices,
            values: v.values,
        }
    }

    /// Number of character n-grams in `text`, for `gram_avg_len`.
    pub fn gram_count(text: &str) -> f64 {
        let mut n = 0usize;
        char_grams(text, |_| n += 1);
        n as f64
    }

    /// The n-gram channel of a document: BM25 term-frequency weights of
    /// its n-grams (IDF is applied by the store, as for words).
    pub fn gram_doc_vector(&self, text: &str) -> SparseVec {
        let mut tf: std::collections::HashMap<u32, u32> = std::collections::HashMap::new();
        let mut len = 0usize;
        char_grams(text, |g| {
            *tf.entry(gram_id(g)).or_insert(0) += 1;
            len += 1;
        });
        let (k1, b) = (self.params.k1, self.params.gram_b);
        let avg = self.params.gram_avg_len.max(1.0);
        let norm = k1 * (1.0 - b + b * len as f64 / avg);
        let mut pairs: Vec<(u32, f32)> = tf
            .into_iter()
            .map(|(id, n)| {
                let n = f64::from(n);
                (id, (n * (k1 + 1.0) / (n + norm)) as f32)
            })
            .collect();
        pairs.sort_unstable_by_key(|p| p.0);
        SparseVec {
            indices: pairs.iter().map(|p| p.0).collect(),
            values: pairs.iter().map(|p| p.1).collect(),
        }
    }

    /// The n-gram channel of a query: each distinct n-gram weighs `weight`.
    pub fn gram_query_vector(&self, text: &str, weight: f32) -> SparseVec {
        let mut ids: Vec<u32> = Vec::new();
        char_grams(text, |g| ids.push(gram_id(g)));
        ids.sort_unstable();
        ids.dedup();
        SparseVec {
            values: vec![weight; ids.len()],
            indices: ids,
        }
    }

    /// What is stored for a chunk: its words and its n-grams in one sparse
    /// vector (the two id spaces do not meet).
    pub fn index_vector(&self, text: &str, lang: Lang) -> SparseVec {
        merge(&self.doc_vector(text, lang), &self.gram_doc_vector(text))
    }

    /// Token ids of the query (stemmed, stopwords removed), used to measure
    /// how much of a question a passage covers.
    pub fn query_terms(&self, text: &str, lang: Lang) -> HashSet<u32> {
        self.terms(text, lang, MEMO_TERMS_BYTES)
    }

    /// [`Self::query_terms`] of a knowledge-base text (a sentence, a
    /// heading): the same analysis, memoised for longer texts.
    pub fn text_terms(&self, text: &str, lang: Lang) -> HashSet<u32> {
        self.terms(text, lang, MEMO_TEXT_BYTES)
    }

    fn terms(&self, text: &str, lang: Lang, memo_up_to: usize) -> HashSet<u32> {
        if text.len() > memo_up_to {
            return self
                .model(lang)
                .embed_query(text)
                .indices
                .into_iter()
                .collect();
        }
        let key = (lang, *blake3::hash(text.as_bytes()).as_bytes());
        let ids = match self.words.get(&key) {
            Some(ids) => ids,
            None => {
                let ids: Arc<[u32]> = self.model(lang).embed_query(text).indices.into();
                self.words.insert(key, ids.clone());
                ids
            }
        };
        ids.iter().copied().collect()
    }

    /// Number of tokens BM25 sees in `text` (after stopwords), for avg_len.
    pub fn token_count(&self, text: &str, lang: Lang) -> f64 {
        let model = match lang {
            Lang::Sv => &self.sv_count,
            Lang::En => &self.en_count,
        };
        let k = self.params.k1;
        model
            .embed_document(text)
            .values
            .iter()
            .map(|&v| {
                let v = f64::from(v);
                // v = tf (k+1) / (tf + k)  =>  tf = v k / (k + 1 - v)
                let denom = (k + 1.0 - v).max(1e-9);
                (v * k / denom).round()
            })
            .sum()
    }
}

/// The sum of two sparse vectors (values of a shared index add up).
pub fn merge(a: &SparseVec, b: &SparseVec) -> SparseVec {
    let mut m: std::collections::BTreeMap<u32, f32> = std::collections::BTreeMap::new();
    for (i, v) in a.indices.iter().zip(&a.values) {
        *m.entry(*i).or_insert(0.0) += v;
    }
    for (i, v) in b.indices.iter().zip(&b.values) {
        *m.entry(*i).or_insert(0.0) += v;
    }
    SparseVec {
        indices: m.keys().copied().collect(),
        values: m.values().copied().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn analyzer() -> Analyzer {
        Analyzer::new(Bm25Params::default()).expect("analyzer")
    }

    #[test]
    fn detects_swedish_and_english() {
        let a = analyzer();
        assert_eq!(a.detect("Kan AI hjälpa oss med offerthantering?"), Lang::Sv);
        assert_eq!(
            a.detect("Vilket stöd finns för att anställa en konsult"),
            Lang::Sv
        );
        assert_eq!(
            a.detect("When is the next network meeting in Eskilstuna?"),
            Lang::En
        );
        assert_eq!(a.detect("How do we get started with AI?"), Lang::En);
        // Place names with å, ä, ö do not make a question Swedish...
        assert_eq!(
            a.detect("What is the weather in Västerås tomorrow?"),
            Lang::En
        );
        assert_eq!(
            a.detect("Can students from Mälardalen University do a thesis project?"),
            Lang::En
        );
        // ...but the same letters in ordinary words, or first, do.
        assert_eq!(a.detect("Är det gratis?"), Lang::Sv);
        assert_eq!(a.detect("Hur fungerar Kraftsamling i Västerås?"), Lang::Sv);
        assert_eq!(a.detect("?"), Lang::Sv);
        // A Swedish name without å, ä, ö does not outvote the question's
        // own words...
        assert_eq!(
            a.detect("How do we join Kraftsamling AI Mälardalen?"),
            Lang::En
        );
        assert_eq!(a.detect("I'm based in Uppsala, can I join?"), Lang::En);
        // ...and the names still count when there is little else.
        assert_eq!(a.detect("Vad gör Almi?"), Lang::Sv);
        assert_eq!(a.detect("Om Kraftsamling Mälardalen"), Lang::Sv);
    }

    /// The memos give what the analysis gives, per language, the second
    /// time as the first (a key without the language would hand English
    /// terms to a Swedish look-up).
    #[test]
    fn memoised_analyses_equal_fresh_ones() {
        let a = analyzer();
        let fresh = |w: &str, l: Lang| -> HashSet<u32> {
            a.model(l).embed_query(w).indices.into_iter().collect()
        };
        for _ in 0..2 {
            for w in ["företagen", "companies", "running", "AI-förordningen"] {
                for l in [Lang::Sv, Lang::En] {
                    assert_eq!(a.query_terms(w, l), fresh(w, l), "{w} {l:?}");
                }
            }
            // A sentence of a page, past the question memo's length.
            let s = "Projektet vänder sig till små och medelstora företag i Västmanland och Sörmland som vill komma igång med AI.";
            assert!(s.len() > MEMO_TERMS_BYTES && s.len() <= MEMO_TEXT_BYTES);
            for l in [Lang::Sv, Lang::En] {
                assert_eq!(a.text_terms(s, l), fresh(s, l), "{l:?}");
                assert_eq!(a.query_terms(s, l), fresh(s, l), "{l:?}");
            }
        }
        assert_ne!(
            a.query_terms("running", Lang::Sv),
            a.query_terms("running", Lang::En),
            "the stemmers differ on this word, so the memo must keep them apart"
        );
        for t in ["How do we join?", "Hur går vi med?", "How do we join?"] {
            assert_eq!(a.detect(t), a.detect_uncached(t), "{t}");
        }
    }

    #[test]
    fn swedish_stemming_matches_inflections() {
        let a = analyzer();
        let q = a.query_terms("företagens offerter", Lang::Sv);
        let d = a.query_terms("företag offert", Lang::Sv);
        assert!(!q.is_empty());
        assert_eq!(q, d, "inflected forms share stems");
    }

    #[test]
    fn char_grams_frame_words_and_skip_short_ones() {
        let mut g = Vec::new();
        char_grams("AI för Offert-hantering", |x| g.push(x.to_string()));
        // "ai" is too short; "för" gives two grams; the hyphen splits words.
        assert_eq!(
            g,
            [
                "_för", "för_", "_off", "offe", "ffer", "fert", "ert_", "_han", "hant", "ante",
                "nter", "teri", "erin", "ring", "ing_"
            ]
        );
        // A compound shares n-grams with its parts.
        let a = analyzer();
        let q: HashSet<u32> = a
            .gram_query_vector("offert", 1.0)
            .indices
            .into_iter()
            .collect();
        let d = a.gram_doc_vector("offerthantering");
        assert!(d.indices.iter().filter(|i| q.contains(i)).count() >= 3);
        assert!(d.values.iter().all(|v| *v > 0.0));
    }

    #[test]
    fn merged_vectors_keep_both_channels() {
        let a = analyzer();
        let w = a.doc_vector("offerthantering", Lang::Sv);
        let g = a.gram_doc_vector("offerthantering");
        let m = a.index_vector("offerthantering", Lang::Sv);
        assert_eq!(m.indices.len(), w.indices.len() + g.indices.len());
        assert!(m.indices.windows(2).all(|p| p[0] < p[1]), "sorted, unique");
    }

    #[test]
    fn token_count_inverts_tf() {
        let a = analyzer();
        let n = a.token_count("katt hund katt fisk katt", Lang::Sv);
        assert_eq!(n, 5.0);
    }
}
