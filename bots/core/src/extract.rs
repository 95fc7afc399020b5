//! Extractive answers: the few sentences or list items of the best passage
//! that cover the question, copied verbatim (Markdown markup removed), so
//! the answer never says anything its source does not.
//!
//! [`select_answer`] (the ranked pipeline) picks units by how well each one
//! answers the question; [`select`] is the baseline that shipped before,
//! kept for comparison in `kraft eval answers --compare`.

use std::collections::HashSet;

pub use kraft_ingest::passage::{plain, units, Unit};
use kraft_ingest::rank::Query;
use kraft_ingest::text::Analyzer;

use crate::model::Lang;

/// A sentence that introduces what follows ("Det kan vara:", "The main
/// points are:"): it must never end an answer.
pub fn is_lead_in(u: &Unit) -> bool {
    !u.list_item && u.text.trim_end().ends_with(':')
}

/// A sentence that is only a yes or a no ("Nej.", "Yes."): it answers
/// the question its section's heading asks, and no other.
pub fn is_bare_verdict(u: &Unit) -> bool {
    let t = u
        .text
        .trim()
        .trim_end_matches(['.', '!', ','])
        .to_lowercase();
    matches!(
        t.as_str(),
        "ja" | "nej" | "yes" | "no" | "javisst" | "absolut" | "of course"
    )
}

/// How well one unit answers the question: the share of the question's
/// content words it contains, plus a little for shared character n-grams
/// (compounds, inflections the stemmer misses).
pub fn unit_score(analyzer: &Analyzer, q: &Query, u: &Unit, lang: Lang) -> f32 {
    if q.is_empty() {
        return 0.0;
    }
    let hits = q.word_hits(analyzer, &u.text, lang);
    let words = hits.iter().filter(|h| **h).count() as f32 / hits.len().max(1) as f32;
    words + 0.3 * q.gram_share(&u.text)
}

/// Questions that ask what something is or does.
pub fn asks_what(lower: &str) -> bool {
    [
        "vad är",
        "vad gör",
        "vad betyder",
        "vad innebär",
        "vad menas",
        "vem är",
        "vilka är",
        "berätta om",
        "what is",
        "what are",
        "what's",
        "what does",
        "what do",
        "who is",
        "who are",
        "tell me about",
        "explain",
    ]
    .iter()
    .any(|p| lower.contains(p))
}

/// The two asks of a two-part question ("When does it apply, and what
/// changes for machines with AI?", "Hur anmäler vi oss? Finns det ett
/// formulär?"), split where a second question starts: after a question
/// mark, or at "and"/"och" before a question word. None for a one-part
/// question, or when either part is under three words (", and why?").
pub fn question_parts(question: &str) -> Option<(String, String)> {
    const WH: &[&str] = &[
        "what", "how", "who", "when", "where", "why", "which", "is", "are", "do", "does", "can",
        "should", "vad", "hur", "vem", "när", "var", "varför", "vilka", "vilken", "vilket", "kan",
        "måste", "behöver", "är", "finns", "gäller",
    ];
    let t = question.trim();
    let words = |s: &str| s.split_whitespace().count();
    let ok = |a: &str, b: &str| words(a) >= 3 && words(b) >= 3;
    // After a question mark (not the last character).
    let body = t.trim_end_matches(['?', '!', '.', ' ']);
    if let Some(i) = body.find('?') {
        let (a, b) = (body[..i].trim(), body[i + 1..].trim());
        if ok(a, b) {
            return Some((format!("{a}?"), format!("{b}?")));
        }
    }
    // "…, and what …", "… och hur …".
    let lower = body.to_lowercase();
    let ws: Vec<(usize, &str)> = lower
        .split_whitespace()
        .map(|w| (w.as_ptr() as usize - lower.as_ptr() as usize, w))
        .collect();
    for k in 0..ws.len().saturating_sub(1) {
        let (at, w) = ws[k];
        let conj = matches!(w.trim_start_matches(','), "and" | "och");
        let next = ws[k + 1].1.trim_matches(|c: char| !c.is_alphanumeric());
        if conj && WH.contains(&next) {
            // Byte offsets of the lower-cased text match the original's
            // only when lower-casing kept every length; check.
            if lower.len() != body.len() {
                return None;
            }
            let a = body[..at].trim().trim_end_matches(',');
            let b = body[ws[k + 1].0..].trim();
            if ok(a, b) {
                return Some((format!("{a}?"), format!("{b}?")));
            }
        }
    }
    None
}

/// A list item in a word: its bold opening, or the part before a dash or
/// colon when short, else the item shortened.
fn compact(u: &Unit) -> String {
    if let Some(h) = &u.head {
        return h.trim_end_matches([':', '.', ',']).to_string();
    }
    for sep in [" – ", " — ", ": ", " - "] {
        if let Some(pos) = u.text.find(sep) {
            let before = &u.text[..pos];
            if before.chars().count() <= 60 {
                return before.to_string();
            }
        }
    }
    shorten(&u.text, 70)
}

/// The first list of a section, each item in a word ("Sales or order
/// history", "Known events", …): what a use case's data section names.
pub fn list_heads(units: &[Unit]) -> Vec<String> {
    let Some(i) = units.iter().position(|u| u.list_item) else {
        return Vec::new();
    };
    units[list_from(units, i)].iter().map(compact).collect()
}

/// The first list that a lead-in sentence introduces, with the lead-in:
/// in a use case's problem section, "AI kan hjälpa till att:" and what
/// AI does there, which is what "can AI help us with …?" asks for.
pub fn led_list(units: &[Unit]) -> Option<std::ops::Range<usize>> {
    let lead = units
        .windows(2)
        .position(|w| is_lead_in(&w[0]) && w[1].list_item)?;
    Some(lead..list_from(units, lead + 1).end)
}

/// The contiguous list items from `i` on (same list).
fn list_from(units: &[Unit], i: usize) -> std::ops::Range<usize> {
    let block = units[i].block;
    let mut end = i;
    while end < units.len() && units[end].list_item && units[end].block == block {
        end += 1;
    }
    i..end
}

/// Picks the units of a passage that answer the question, in source order,
/// within `max_chars`:
/// - when the section's heading already asks the question
///   (`heading_answers`), the section's opening is the answer;
/// - otherwise the unit that best answers it, then the rest of its
///   paragraph, and further paragraphs and lists that also match;
/// - a list item brings the sentence that introduces its list, and such a
///   lead-in brings its list, so an answer never stops at "Det kan vara:";
///   a list too long to quote whole is given item by item in a word
///   ("Bilder, märkta exempel, …");
/// - leftover room goes to the best-matching sentences before it.
pub fn select_answer(
    analyzer: &Analyzer,
    q: &Query,
    lang: Lang,
    units: &[Unit],
    max_chars: usize,
    heading_answers: bool,
) -> Vec<Unit> {
    if units.is_empty() {
        return Vec::new();
    }
    let len = |t: &str| t.chars().count() + 1;
    let total: usize = units.iter().map(|u| len(&u.text)).sum();
    if total <= max_chars {
        return units.to_vec();
    }
    let scores: Vec<f32> = units
        .iter()
        .map(|u| unit_score(analyzer, q, u, lang))
        .collect();
    let best_score = scores.iter().copied().fold(0.0f32, f32::max);
    let start = if heading_answers || best_score <= 0.0 {
        0
    } else {
        // The best unit; ties go to the earliest (passages lead with the point).
        let mut b = 0;
        for (i, sc) in scores.iter().enumerate() {
            if *sc > scores[b] + 1e-6 {
                b = i;
            }
        }
        b
    };
    // Chosen units by index, with the text to show.
    let mut out: std::collections::BTreeMap<usize, String> = Default::default();
    let mut used = 0usize;
    // Adds a list (full, or compact when it does not fit); false if not
    // even one compact item fits.
    let add_list = |r: std::ops::Range<usize>,
                    out: &mut std::collections::BTreeMap<usize, String>,
                    used: &mut usize|
     -> bool {
        let full: usize = r.clone().map(|i| len(&units[i].text)).sum();
        if *used + full <= max_chars {
            for i in r {
                out.insert(i, units[i].text.clone());
            }
            *used += full;
            return true;
        }
        // Every item in a word first; then as many as the room allows in
        // full, those that match the question before the others, so the
        // list keeps its detail ("prompt injection") where it can.
        let mut any = false;
        let mut shown: Vec<usize> = Vec::new();
        for i in r {
            let c = compact(&units[i]);
            if *used + len(&c) > max_chars {
                break;
            }
            *used += len(&c);
            out.insert(i, c);
            shown.push(i);
            any = true;
        }
        let mut order = shown;
        order.sort_by(|a, b| scores[*b].total_cmp(&scores[*a]).then(a.cmp(b)));
        for i in order {
            let short = len(&out[&i]);
            let full = len(&units[i].text);
            if *used - short + full <= max_chars {
                *used = *used - short + full;
                out.insert(i, units[i].text.clone());
            }
        }
        any
    };
    let add_unit =
        |i: usize, out: &mut std::collections::BTreeMap<usize, String>, used: &mut usize| -> bool {
            if out.contains_key(&i) {
                return true;
            }
            if *used + len(&units[i].text) > max_chars {
                return false;
            }
            *used += len(&units[i].text);
            out.insert(i, units[i].text.clone());
            true
        };
    // The anchor's paragraph (from the anchor on) or list (with its lead-in).
    let mut i = start;
    if units[start].list_item {
        let first = (0..start)
            .rev()
            .take_while(|&k| units[k].list_item && units[k].block == units[start].block)
            .last()
            .unwrap_or(start);
        if first > 0 && is_lead_in(&units[first - 1]) {
            add_unit(first - 1, &mut out, &mut used);
        }
        let r = list_from(units, first);
        i = r.end;
        if !add_list(r, &mut out, &mut used) {
            add_unit(start, &mut out, &mut used);
        }
    } else {
        let block = units[start].block;
        while i < units.len() && !units[i].list_item && units[i].block == block {
            if !add_unit(i, &mut out, &mut used) {
                break;
            }
            i += 1;
        }
    }
    // Onwards: a lead-in's list, then paragraphs and lists that also match.
    while i < units.len() && used < max_chars {
        if units[i].list_item {
            let r = list_from(units, i);
            let led = i > 0 && out.contains_key(&(i - 1)) && is_lead_in(&units[i - 1]);
            let matches = r.clone().any(|k| scores[k] > 0.0);
            if led || matches {
                add_list(r.clone(), &mut out, &mut used);
            }
            i = r.end;
            continue;
        }
        if scores[i] > 0.0 {
            add_unit(i, &mut out, &mut used);
        }
        i += 1;
    }
    // Leftover room: the best-matching sentences elsewhere.
    let mut rest: Vec<usize> = (0..units.len())
        .filter(|k| !out.contains_key(k) && scores[*k] > 0.0)
        .filter(|k| !units[*k].list_item && !is_lead_in(&units[*k]))
        .collect();
    rest.sort_by(|a, b| scores[*b].total_cmp(&scores[*a]).then(a.cmp(b)));
    for r in rest {
        add_unit(r, &mut out, &mut used);
    }
    // A lead-in without its list goes.
    let keys: Vec<usize> = out.keys().copied().collect();
    for k in keys {
        if is_lead_in(&units[k]) && !out.contains_key(&(k + 1)) {
            out.remove(&k);
        }
    }
    if out.is_empty() {
        out.insert(start, shorten(&units[start].text, max_chars));
    }
    out.into_iter()
        .map(|(i, text)| Unit {
            text,
            ..units[i].clone()
        })
        .collect()
}

/// `text` cut to at most `max` characters at a word boundary, with "…".
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out = String::new();
    for w in text.split_whitespace() {
        if out.chars().count() + w.chars().count() + 2 > max {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    }
    let out = out.trim_end_matches([',', ';', ':', '–', '-']).trim_end();
    format!("{out} …")
}

/// Picks the units of a passage that answer the question: the best
/// matching unit and its neighbours in the same block, in source order,
/// within `max_chars`. A list keeps its lead-in sentence. (The baseline.)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_part_questions_are_split_where_the_second_ask_starts() {
        assert_eq!(
            question_parts(
                "When does the regulation apply, and what changes for machines with AI?"
            ),
            Some((
                "When does the regulation apply?".to_string(),
                "what changes for machines with AI?".to_string()
            ))
        );
        assert_eq!(
            question_parts("Hur anmäler vi oss till projektet? Finns det nåt formulär?"),
            Some((
                "Hur anmäler vi oss till projektet?".to_string(),
                "Finns det nåt formulär?".to_string()
            ))
        );
        assert_eq!(
            question_parts("Vad kostar det att införa AI och hur räknar man på lönsamheten?"),
            Some((
                "Vad kostar det att införa AI?".to_string(),
                "hur räknar man på lönsamheten?".to_string()
            ))
        );
        // One ask, or a second part too short to be one.
        assert_eq!(
            question_parts("Can AI help us plan routes and shifts?"),
            None
        );
        assert_eq!(question_parts("Is it free, and why?"), None);
        assert_eq!(question_parts("kostar det nåt?"), None);
    }

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
        let a = Analyzer::new(kraft_ingest::text::Bm25Params::default()).expect("analyzer");
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

    fn analyzer() -> Analyzer {
        Analyzer::new(kraft_ingest::text::Bm25Params::default()).expect("analyzer")
    }

    fn query(a: &Analyzer, q: &str) -> Query {
        Query::new(a, q, Lang::Sv)
    }

    #[test]
    fn a_lead_in_never_ends_an_answer_it_brings_its_list() {
        let a = analyzer();
        let md = "Lång inledning om projektet och allt det gör för företag i regionen, som inte handlar om frågan alls men tar plats. \
                  Ännu en mening som fyller ut stycket utan att säga något om saken.\n\n\
                  Match-making betyder att projektet kopplar ihop företag med andra. Det kan vara:\n\n\
                  - **Akademin** – forskare och studenter vid universitetet som kan undersöka en idé tillsammans med företaget.\n\
                  - **Kommersiella aktörer** – leverantörer och konsulter som säljer färdiga lösningar och tjänster.\n\
                  - **Innovationsstödsystemet** – till exempel Almi, RISE och science parks i regionen.\n";
        let u = units(md);
        let q = query(&a, "Vad menas med match-making?");
        // Room for the lead-in and the list in a word, not the whole list.
        let s = select_answer(&a, &q, Lang::Sv, &u, 170, false);
        let text = render(&s);
        assert!(text.starts_with("Match-making betyder"), "{text}");
        assert!(!text.trim_end().ends_with(':'), "{text}");
        for item in [
            "Akademin",
            "Kommersiella aktörer",
            "Innovationsstödsystemet",
        ] {
            assert!(text.contains(&format!("• {item}")), "{item} in {text}");
        }
        assert!(text.chars().count() <= 170 + 10, "{text}");
        // With room, the items are quoted whole.
        let s = select_answer(&a, &q, Lang::Sv, &u, 420, false);
        assert!(
            render(&s).contains("forskare och studenter"),
            "{}",
            render(&s)
        );
        // A lead-in that cannot bring even one item is dropped.
        let s = select_answer(&a, &q, Lang::Sv, &u, 90, false);
        assert!(!render(&s).trim_end().ends_with(':'), "{}", render(&s));
    }

    #[test]
    fn the_sentence_that_answers_is_chosen_not_the_first() {
        let a = analyzer();
        let md = "Projektet erbjuder många saker till företag i regionen och det här är en lång inledning. \
                  Seminarier hålls varje vår och höst i olika städer runt om i länen. \
                  Behovsanalysen är kostnadsfri för små och medelstora företag. \
                  Den tar ungefär två möten.\n\nHelt annat stycke om studiebesök, nätverk och fika.";
        let u = units(md);
        let q = query(&a, "Vad kostar behovsanalysen?");
        let text = render(&select_answer(&a, &q, Lang::Sv, &u, 120, false));
        assert!(text.starts_with("Behovsanalysen är kostnadsfri"), "{text}");
        assert!(!text.contains("fika"), "{text}");
        // When the heading already asks the question, the section's
        // opening is the answer.
        let text = render(&select_answer(&a, &q, Lang::Sv, &u, 120, true));
        assert!(text.starts_with("Projektet erbjuder"), "{text}");
    }

    #[test]
    fn a_list_too_long_to_quote_keeps_the_matching_item_whole() {
        let a = analyzer();
        let md = "Riskerna är:\n\n\
                  - **Dataläckage** – det ni skriver in kan sparas hos leverantören och användas för träning.\n\
                  - **Felaktiga svar** – modellen kan hitta på fakta som låter rimliga men är fel.\n\
                  - **Manipulation** – prompt injection i dokument kan få verktyget att göra annat än ni tänkt.\n\
                  - **Beroende** – priser och villkor kan ändras när som helst av leverantören.\n";
        let u = units(md);
        let q = query(&a, "Vad är prompt injection?");
        let text = render(&select_answer(&a, &q, Lang::Sv, &u, 170, false));
        assert!(text.contains("prompt injection i dokument"), "{text}");
        for item in ["Dataläckage", "Felaktiga svar", "Beroende"] {
            assert!(text.contains(item), "{item} in {text}");
        }
        assert!(!text.contains("hitta på fakta"), "{text}");
        assert!(text.chars().count() <= 170 + 10, "{text}");
    }

    #[test]
    fn only_a_bare_yes_or_no_is_a_verdict() {
        let u = units("Nej. Ni behöver inte kunna något. Ja, det går bra. No!");
        let v: Vec<bool> = u.iter().map(is_bare_verdict).collect();
        assert_eq!(v, [true, false, false, true]);
    }

    #[test]
    fn what_is_questions_are_recognised() {
        assert!(asks_what("vad är en behovsanalys?"));
        assert!(asks_what("what does ai sweden do?"));
        assert!(!asks_what("hur anmäler vi oss?"));
    }
}
