//! Extractive answers: the few sentences or list items of the best passage
//! that cover the question, copied verbatim (Markdown markup removed), so
//! the answer never says anything its source does not.

use std::collections::HashSet;

use pulldown_cmark::{Event, Parser, Tag, TagEnd};

use kraft_ingest::text::Analyzer;

use crate::model::Lang;

/// One readable piece of a passage: a sentence of a paragraph, or a whole
/// list item.
#[derive(Debug, Clone, PartialEq)]
pub struct Unit {
    pub text: String,
    pub list_item: bool,
    /// Index of the block (paragraph or list) the unit belongs to.
    pub block: usize,
}

/// Plain text of a Markdown passage, split into units. Headings are
/// dropped (the heading path is context, not content); links keep their
/// text; code and emphasis keep their words.
pub fn units(markdown: &str) -> Vec<Unit> {
    let mut out = Vec::new();
    let mut buf = String::new();
    let mut in_heading = false;
    let mut item_depth = 0usize;
    let mut block = 0usize;
    let flush = |buf: &mut String, out: &mut Vec<Unit>, list: bool, block: usize| {
        let t = buf.split_whitespace().collect::<Vec<_>>().join(" ");
        buf.clear();
        if t.is_empty() {
            return;
        }
        if list {
            out.push(Unit {
                text: t,
                list_item: true,
                block,
            });
        } else {
            for s in sentences(&t) {
                out.push(Unit {
                    text: s,
                    list_item: false,
                    block,
                });
            }
        }
    };
    for ev in Parser::new(markdown) {
        match ev {
            Event::Start(Tag::Heading { .. }) => in_heading = true,
            Event::End(TagEnd::Heading(_)) => {
                in_heading = false;
                buf.clear();
            }
            Event::Start(Tag::Item) => {
                if item_depth == 0 {
                    flush(&mut buf, &mut out, false, block);
                }
                item_depth += 1;
            }
            Event::End(TagEnd::Item) => {
                item_depth = item_depth.saturating_sub(1);
                if item_depth == 0 {
                    flush(&mut buf, &mut out, true, block);
                } else {
                    buf.push(' ');
                }
            }
            Event::Start(Tag::List(_)) if item_depth == 0 => block += 1,
            Event::End(TagEnd::List(_)) if item_depth == 0 => block += 1,
            Event::End(TagEnd::Paragraph) if item_depth == 0 => {
                flush(&mut buf, &mut out, false, block);
                block += 1;
            }
            Event::End(TagEnd::Paragraph) => buf.push(' '),
            Event::Text(t) | Event::Code(t) if !in_heading => buf.push_str(&t),
            Event::SoftBreak | Event::HardBreak => buf.push(' '),
            Event::End(TagEnd::TableCell) => buf.push_str(" | "),
            Event::End(TagEnd::TableRow) | Event::End(TagEnd::TableHead) => {
                flush(&mut buf, &mut out, true, block)
            }
            _ => {}
        }
    }
    flush(&mut buf, &mut out, item_depth > 0, block);
    out
}

/// Splits at ". ", "? ", "! " followed by an upper-case letter or digit, so
/// "t.ex. AI" and "ca. 2 timmar" stay whole.
fn sentences(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if matches!(c, '.' | '?' | '!')
            && chars.get(i + 1) == Some(&' ')
            && chars
                .get(i + 2)
                .is_some_and(|n| n.is_uppercase() || n.is_ascii_digit())
        {
            // Skip abbreviations like "t.ex." / "bl.a." (a short word before).
            let word_start = chars[..i]
                .iter()
                .rposition(|ch| *ch == ' ')
                .map(|p| p + 1)
                .unwrap_or(0);
            let word: String = chars[word_start..i].iter().collect();
            if !(word.contains('.') && word.len() <= 5) {
                let s: String = chars[start..=i].iter().collect();
                out.push(s.trim().to_string());
                start = i + 2;
            }
        }
        i += 1;
    }
    let rest: String = chars[start.min(chars.len())..].iter().collect();
    if !rest.trim().is_empty() {
        out.push(rest.trim().to_string());
    }
    out
}

/// Picks the units of a passage that answer the question: the best
/// matching unit and its neighbours in the same block, in source order,
/// within `max_chars`. A list keeps its lead-in sentence.
pub fn select(
    analyzer: &Analyzer,
    question: &str,
    lang: Lang,
    passage_units: &[Unit],
    max_chars: usize,
) -> Vec<Unit> {
    if passage_units.is_empty() {
        return Vec::new();
    }
    let total: usize = passage_units
        .iter()
        .map(|u| u.text.chars().count() + 1)
        .sum();
    if total <= max_chars {
        return passage_units.to_vec();
    }
    let q = analyzer.query_terms(question, lang);
    let score = |u: &Unit| -> f32 {
        let d: HashSet<u32> = analyzer
            .doc_vector(&u.text, lang)
            .indices
            .into_iter()
            .collect();
        q.intersection(&d).count() as f32
    };
    let scores: Vec<f32> = passage_units.iter().map(score).collect();
    // The best unit; ties go to the earliest (passages lead with the point).
    let mut best = 0;
    for (i, s) in scores.iter().enumerate() {
        if *s > scores[best] {
            best = i;
        }
    }
    let mut chosen: Vec<usize> = vec![best];
    let mut used = passage_units[best].text.chars().count();
    let block = passage_units[best].block;
    // A list item pulls in the sentence that introduces the list.
    if passage_units[best].list_item {
        if let Some(lead) = (0..best).rev().find(|&i| !passage_units[i].list_item) {
            if used + passage_units[lead].text.chars().count() <= max_chars {
                used += passage_units[lead].text.chars().count();
                chosen.push(lead);
            }
        }
    }
    // Grow forward through the same block (a list, a paragraph), then the
    // following unit if it is also relevant.
    let mut next = best + 1;
    while next < passage_units.len() {
        let u = &passage_units[next];
        // Same paragraph or list, or the list a paragraph introduces.
        let same_block = u.block == block
            || (u.list_item && (passage_units[best].list_item || u.block == block + 1));
        if !(same_block || scores[next] > 0.0) {
            break;
        }
        let len = u.text.chars().count();
        if used + len > max_chars {
            break;
        }
        used += len;
        chosen.push(next);
        next += 1;
    }
    chosen.sort_unstable();
    chosen.dedup();
    chosen
        .into_iter()
        .map(|i| passage_units[i].clone())
        .collect()
}

/// Renders units as a short answer: sentences run together, list items as
/// bullets.
pub fn render(units: &[Unit]) -> String {
    let mut out = String::new();
    let mut prev_list = None;
    for u in units {
        match (prev_list, u.list_item) {
            (None, true) => out.push_str("• "),
            (None, false) => {}
            (Some(_), true) => out.push_str("\n• "),
            (Some(true), false) => out.push('\n'),
            (Some(false), false) => out.push(' '),
        }
        out.push_str(&u.text);
        prev_list = Some(u.list_item);
    }
    out
}

/// Lower-cased text with whitespace collapsed and Markdown markup removed:
/// what "this sentence is in the source" is checked against.
pub fn plain(markdown: &str) -> String {
    units(markdown)
        .iter()
        .map(|u| u.text.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_becomes_sentences_and_list_items() {
        let md = "## Rubrik\n\nProjektet pågår från **1 mars 2025**. Det finns t.ex. seminarier. Läs [mer](x.md).\n\n- Almi – lån.\n- [Vinnova](../v.md) – utlysningar.\n\nSlut.";
        let u = units(md);
        let t: Vec<&str> = u.iter().map(|u| u.text.as_str()).collect();
        assert_eq!(
            t,
            [
                "Projektet pågår från 1 mars 2025.",
                "Det finns t.ex. seminarier.",
                "Läs mer.",
                "Almi – lån.",
                "Vinnova – utlysningar.",
                "Slut."
            ]
        );
        assert!(u[3].list_item && u[4].list_item && !u[5].list_item);
        assert_eq!(
            render(&u[2..5]),
            "Läs mer.\n• Almi – lån.\n• Vinnova – utlysningar."
        );
    }

    #[test]
    fn selection_keeps_the_matching_part_of_a_long_passage() {
        let a = Analyzer::new(kraft_ingest::text::Bm25Params {
            k1: 1.2,
            b: 0.75,
            avg_len: 100.0,
        })
        .expect("analyzer");
        let md = "Vi erbjuder många saker till företag i regionen och det här är en lång inledning om allt möjligt. \
                  Seminarier hålls varje vår och höst i olika städer. \
                  Behovsanalysen är kostnadsfri för små och medelstora företag. \
                  Den tar ungefär två möten. \n\nHelt annat stycke om studiebesök och nätverk och fika.";
        let u = units(md);
        let s = select(&a, "Vad kostar behovsanalysen?", Lang::Sv, &u, 120);
        let text = render(&s);
        assert!(text.starts_with("Behovsanalysen är kostnadsfri"), "{text}");
        assert!(text.chars().count() <= 120, "{text}");
        assert!(!text.contains("studiebesök"), "{text}");
    }
}
