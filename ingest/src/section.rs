//! Which section of the top document an answer is quoted from: each
//! section (chunk) of the page gets a few features of how it matches the
//! question, and a small linear model, fitted on dev by `kraft eval fit`
//! (see [`crate::fit::fit_sections`]), picks the best.
//!
//! The page is usually right before the section is: on dev most answers
//! with the right first source but without the asked-for facts had the
//! facts on that page, in another section. The features are the signals
//! the hand-set rule used (the question's rarer words in a sentence, the
//! heading, the ranker's own chunk, a heading that asks the question),
//! plus a few it could not weigh.

use std::collections::HashSet;
use std::sync::Arc;

use rustc_hash::FxHashSet;
use serde::{Deserialize, Serialize};

use crate::doc::Lang;
use crate::index::ChunkPayload;
use crate::passage::{units, Unit};
use crate::rank::Query;
use crate::text::Analyzer;

/// The analysed terms of one section (chunk): its headings below the
/// title, each unit, and its character n-grams. Analysing is the costly
/// part of choosing a section, and the same pages come back question after
/// question, so the assistant keeps these by content, together with the
/// units themselves: splitting a section's Markdown again for each answer
/// was a twelfth of a turn.
#[derive(Debug)]
pub struct SectionTerms {
    pub lang: Lang,
    pub heading: HashSet<u32>,
    pub units: Vec<HashSet<u32>>,
    /// The section's units ([`crate::passage::units`]), in order.
    pub parsed: Vec<Unit>,
    grams: FxHashSet<u32>,
    chars: usize,
}

impl SectionTerms {
    pub fn of(analyzer: &Analyzer, c: &ChunkPayload) -> Self {
        let us = units(&c.text);
        let mut grams = FxHashSet::default();
        let heading = c.section_headings();
        for t in std::iter::once(heading.as_str()).chain(us.iter().map(|u| u.text.as_str())) {
            crate::text::char_grams(&t.to_lowercase(), |g| {
                grams.insert(crate::text::gram_id(g));
            });
        }
        SectionTerms {
            lang: c.language,
            heading: analyzer.text_terms(&heading, c.language),
            units: us
                .iter()
                .map(|u| analyzer.text_terms(&u.text, c.language))
                .collect(),
            grams,
            chars: us.iter().map(|u| u.text.chars().count()).sum(),
            parsed: us,
        }
    }

    /// Characters of the section's plain text
    /// ([`crate::passage::plain`]: the units joined by spaces).
    pub fn plain_chars(&self) -> usize {
        self.chars + self.parsed.len().saturating_sub(1)
    }
}

/// The features of a section, in this order.
pub const NAMES: [&str; 10] = [
    // The best unit's share of the question's words (with the heading's),
    // each word weighted by how few of the page's sections contain it.
    "unit",   // The heading's share, weighted the same way.
    "head",   // The whole section's share, weighted the same way.
    "whole",  // The ranker's own chunk.
    "ranked", // F1 of the terms heading and question share (0 below two terms).
    "asks",   // That F1 is at least 0.6: the heading asks the question.
    "asked",  // The page's opening section.
    "first",  // Share of the question's character n-grams in the section.
    "grams",
    // The best unit's share of the question's words, the ask's words
    // counting more than the story's.
    "ask", // A short section (under 200 characters): a pointer or a lead-in.
    "short",
];

pub const N: usize = NAMES.len();

const UNIT: usize = 0;
const HEAD: usize = 1;
const ASKED: usize = 5;
const GRAMS: usize = 7;

/// The section's heading asks the question (see [`NAMES`]).
pub fn heading_asks(f: &[f32; N]) -> bool {
    f[ASKED] > 0.0
}

/// The features of every section of a page (sections in page order).
/// `ranked`: the index of the ranker's chunk, if it is on this page.
pub fn features(q: &Query, sections: &[Arc<SectionTerms>], ranked: Option<usize>) -> Vec<[f32; N]> {
    if sections.is_empty() {
        return Vec::new();
    }
    let per: Vec<(Vec<bool>, Vec<Vec<bool>>)> = sections
        .iter()
        .map(|s| {
            (
                q.hits_in(&s.heading, s.lang),
                s.units.iter().map(|u| q.hits_in(u, s.lang)).collect(),
            )
        })
        .collect();
    let n = sections.len() as f32;
    let words = q.len();
    let idf: Vec<f32> = (0..words)
        .map(|w| {
            let df = per
                .iter()
                .filter(|(h, us)| h[w] || us.iter().any(|u| u[w]))
                .count() as f32;
            (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
        })
        .collect();
    let total: f32 = idf.iter().sum::<f32>().max(1e-6);
    let weights = q.word_weights();
    let wsum: f32 = weights.iter().sum::<f32>().max(1e-6);
    per.iter()
        .zip(sections)
        .enumerate()
        .map(|(i, ((h, us), s))| {
            let share = |hit: &dyn Fn(usize) -> bool| {
                (0..words).filter(|&w| hit(w)).map(|w| idf[w]).sum::<f32>() / total
            };
            let head = share(&|w| h[w]);
            let unit = us
                .iter()
                .map(|u| share(&|w| u[w] || h[w]))
                .fold(0.0f32, f32::max);
            let whole = share(&|w| h[w] || us.iter().any(|u| u[w]));
            let ask = us
                .iter()
                .map(|u| {
                    (0..words)
                        .filter(|&w| u[w] || h[w])
                        .map(|w| weights[w])
                        .sum::<f32>()
                        / wsum
                })
                .fold(0.0f32, f32::max);
            let asks = heading_f1(q, s);
            [
                unit,
                head,
                whole,
                if ranked == Some(i) { 1.0 } else { 0.0 },
                asks,
                if asks >= 0.6 { 1.0 } else { 0.0 },
                if i == 0 { 1.0 } else { 0.0 },
                q.gram_share_in(&s.grams),
                ask,
                if s.chars < 200 { 1.0 } else { 0.0 },
            ]
        })
        .collect()
}

/// F1 of the terms a section's heading and the question share: how nearly
/// the heading asks the question. 0 when fewer than two heading terms are
/// covered.
fn heading_f1(q: &Query, s: &SectionTerms) -> f32 {
    let n = s.heading.len();
    if n == 0 || q.is_empty() {
        return 0.0;
    }
    let c = q.covered_terms(&s.heading, s.lang);
    if c < 2 {
        return 0.0;
    }
    let of_heading = c as f32 / n as f32;
    let asked = q.hits_in(&s.heading, s.lang).iter().filter(|h| **h).count();
    let of_question = asked as f32 / q.len() as f32;
    2.0 * of_heading * of_question / (of_heading + of_question).max(1e-6)
}

/// The section-choice weights, in the order of [`NAMES`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SectionModel {
    pub weights: Vec<f32>,
}

impl Default for SectionModel {
    /// The hand-set rule this model replaced: the best unit's weighted
    /// share, a little for the heading, a lead for the ranker's chunk, and
    /// a heading that asks the question wins outright.
    fn default() -> Self {
        Self {
            weights: NAMES
                .iter()
                .map(|n| match *n {
                    "unit" => 1.0,
                    "head" => 0.3,
                    "ranked" => 0.4,
                    "asked" => 4.0,
                    "asks" => 0.5,
                    _ => 0.0,
                })
                .collect(),
        }
    }
}

impl SectionModel {
    pub fn score(&self, f: &[f32; N]) -> f32 {
        f.iter().zip(&self.weights).map(|(x, w)| x * w).sum()
    }

    /// The best section; ties go to the earlier one. None when no section
    /// shares a word or n-gram with the question.
    pub fn choose(&self, feats: &[[f32; N]]) -> Option<usize> {
        let mut best: Option<(f32, usize)> = None;
        for (i, f) in feats.iter().enumerate() {
            if f[UNIT] <= 0.0 && f[HEAD] <= 0.0 && f[GRAMS] <= 0.0 {
                continue;
            }
            let s = self.score(f);
            if best.is_none_or(|(b, _)| s > b + 1e-6) {
                best = Some((s, i));
            }
        }
        best.map(|(_, i)| i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rank::RankerFile;

    fn analyzer() -> Analyzer {
        Analyzer::new(crate::text::Bm25Params::default()).expect("analyzer")
    }

    fn chunk(heading: &str, text: &str, line: usize) -> ChunkPayload {
        let mut c: ChunkPayload = serde_json::from_value(serde_json::json!({
            "doc_path": "guides/x.md", "title": "AI-förordningen", "kind": "guide",
            "language": "sv", "reviewed": "2026-01-01", "heading_path": ["AI-förordningen", heading],
            "ordinal": 0, "line": line, "text": text, "content_hash": "h", "doc_hash": "d",
        }))
        .expect("payload");
        c.line = line;
        c
    }

    fn terms(a: &Analyzer, cs: &[ChunkPayload]) -> Vec<Arc<SectionTerms>> {
        cs.iter()
            .map(|c| Arc::new(SectionTerms::of(a, c)))
            .collect()
    }

    /// Both the hand-set rule and the shipped (fitted) model.
    fn models() -> [SectionModel; 2] {
        [SectionModel::default(), RankerFile::shipped().section]
    }

    #[test]
    fn the_section_with_the_questions_rarer_word_is_chosen() {
        let a = analyzer();
        let t = terms(
            &a,
            &[
                chunk("Tidplan", "AI-förordningen gäller i etapper från 2025 till 2027.", 3),
                chunk(
                    "Riskkategorier",
                    "AI-förordningen delar in AI i risknivåer. Högrisk är till exempel AI i rekrytering.",
                    9,
                ),
                chunk("Vad gäller för oss?", "AI-förordningen ställer krav på AI-kunnighet.", 15),
            ],
        );
        let q = Query::new(
            &a,
            "Vad räknas som högrisk enligt AI-förordningen?",
            Lang::Sv,
        );
        let f = features(&q, &t, None);
        for m in models() {
            assert_eq!(m.choose(&f), Some(1), "{m:?} {f:?}");
        }
        let none = Query::new(&a, "Hur bokar jag tvättstugan?", Lang::Sv);
        let f = features(&none, &t, None);
        for m in models() {
            assert_eq!(m.choose(&f), None, "{m:?} {f:?}");
        }
    }

    #[test]
    fn a_heading_that_asks_the_question_is_found() {
        let a = analyzer();
        let t = terms(
            &a,
            &[
                chunk(
                    "Vem är projektet till för?",
                    "Små och medelstora företag i länen.",
                    3,
                ),
                chunk(
                    "Räknas vårt företag som ett litet eller medelstort företag?",
                    "Ett SMF har färre än 250 anställda.",
                    9,
                ),
                chunk(
                    "Vilka företag prioriteras?",
                    "Företag med egna produkter.",
                    15,
                ),
            ],
        );
        let q = Query::new(
            &a,
            "Räknas vi som medelstort företag med 180 anställda?",
            Lang::Sv,
        );
        let f = features(&q, &t, Some(0));
        assert!(heading_asks(&f[1]), "{f:?}");
        for m in models() {
            assert_eq!(m.choose(&f), Some(1), "{m:?} {f:?}");
        }
        // One shared word is not the question.
        let q = Query::new(&a, "Hur många företag har varit med hittills?", Lang::Sv);
        let f = features(&q, &t, Some(0));
        assert!(!f.iter().any(heading_asks), "{f:?}");
    }
}
