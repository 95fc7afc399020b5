//! Text analysis shared by ingest and search: language detection (Swedish or
//! English) and BM25 sparse vectors with language-aware stemming and
//! stopwords.
//!
//! BM25 uses Qdrant Edge's `EdgeBm25`, whose token ids are the same as the
//! Qdrant server's `qdrant/bm25` model, so the vectors computed here can be
//! sent to either backend and IDF is applied by the store (`Modifier::Idf`).

use std::collections::HashSet;

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

/// BM25 parameters. `avg_len` is the corpus mean in tokens, stored with the
/// index so incremental ingests keep vectors comparable.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bm25Params {
    pub k1: f64,
    pub b: f64,
    pub avg_len: f64,
}

impl Default for Bm25Params {
    fn default() -> Self {
        Self {
            k1: 1.2,
            b: 0.75,
            avg_len: 100.0,
        }
    }
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
}

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
        let mut rest = String::with_capacity(text.len());
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
            }
        }
        let letters = rest.chars().filter(|c| c.is_alphabetic()).count();
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

    /// Token ids of the query (stemmed, stopwords removed), used to measure
    /// how much of a question a passage covers.
    pub fn query_terms(&self, text: &str, lang: Lang) -> HashSet<u32> {
        self.model(lang)
            .embed_query(text)
            .indices
            .into_iter()
            .collect()
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
    fn token_count_inverts_tf() {
        let a = analyzer();
        let n = a.token_count("katt hund katt fisk katt", Lang::Sv);
        assert_eq!(n, 5.0);
    }
}
