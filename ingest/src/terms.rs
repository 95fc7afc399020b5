//! Query expansion: a small bilingual term list, so that an English
//! question finds a Swedish-only page ("maintenance" → "underhåll"), and a
//! handful of everyday Swedish words find the words the documents use
//! ("pengar" → "bidrag finansiering").
//!
//! The list is domain vocabulary taken from the knowledge base's titles,
//! headings and tags (the words documents are written in). A few everyday
//! keys were added after misses on the dev split of the evaluation
//! questions (ban → prohibited, grocery, throw away → waste, högrisk →
//! hög risk), which dev is for; never from test. Expansion terms are added to the query with a
//! lower weight than the user's own words, so they help a page that has no
//! other match without outranking one that matches the question itself.

use std::collections::HashMap;
use std::sync::LazyLock;

use crate::doc::Lang;

/// English word (or stem prefix ending in `*`) → Swedish search words.
const EN_SV: &[(&str, &str)] = &[
    // The programme and taking part.
    ("programme", "projektet"),
    ("program", "projektet"),
    ("project", "projektet"),
    ("initiative", "projektet"),
    ("join", "delta anmälan"),
    ("participat*", "delta"),
    ("take part", "delta"),
    ("sign up", "anmälan delta"),
    ("register*", "anmälan"),
    ("apply", "ansöka delta"),
    ("eligib*", "delta målgrupp"),
    ("qualif*", "delta målgrupp"),
    ("who can", "vem kan delta målgrupp"),
    ("target group", "målgrupp"),
    ("small", "små"),
    ("medium-sized", "medelstora"),
    ("sme*", "smf små medelstora företag"),
    ("big", "små medelstora målgrupp"),
    ("large", "små medelstora målgrupp"),
    ("compan*", "företag"),
    ("business*", "företag"),
    ("firm*", "företag"),
    ("county", "län"),
    ("counties", "län"),
    ("region*", "region län"),
    ("cost*", "kostnad kostar avgift"),
    ("fee*", "avgift kostnad"),
    ("price*", "pris kostnad"),
    ("pay*", "finansiering kostnad betala"),
    ("free", "kostnadsfri gratis"),
    ("charge*", "avgift kostnad"),
    ("fund*", "finansiering finansieras"),
    ("financ*", "finansiering"),
    ("budget*", "budget"),
    ("money", "pengar bidrag finansiering"),
    ("grant*", "bidrag"),
    ("subsid*", "bidrag stöd"),
    ("loan*", "lån"),
    ("how long", "pågår period"),
    ("duration", "period pågår"),
    ("end*", "slutdatum slutar"),
    ("last*", "pågår"),
    ("activit*", "aktiviteter"),
    ("offer*", "erbjuder"),
    ("event*", "evenemang aktiviteter"),
    ("lecture*", "föreläsning"),
    ("talk*", "föreläsning"),
    ("seminar*", "seminarium föreläsning"),
    ("network*", "nätverk nätverksträff"),
    ("meetup*", "nätverksträff"),
    ("study visit*", "studiebesök"),
    ("visit*", "studiebesök"),
    ("webinar*", "webbinarium"),
    ("workshop*", "workshop"),
    ("matchmaking", "match-making matchning"),
    ("match-making", "match-making matchning"),
    ("match*", "match-making matchning"),
    ("needs analys*", "behovsanalys"),
    ("needs assessment*", "behovsanalys behovskartläggning"),
    ("assessment*", "behovsanalys"),
    ("follow-up", "uppföljning"),
    ("follow*", "uppföljning"),
    ("report*", "rapport lägesrapport slutrapport"),
    ("evaluat*", "utvärdering"),
    ("sustainab*", "hållbarhet"),
    ("environment*", "miljö"),
    ("behind", "organisation står bakom"),
    ("run*", "driver"),
    ("partner*", "partner samarbete"),
    ("universit*", "universitet"),
    ("researcher*", "forskare forskning"),
    ("research*", "forskning"),
    ("student*", "studenter"),
    ("thesis", "examensarbete exjobb"),
    ("intern*", "praktik"),
    ("contact*", "kontakt"),
    // Getting started.
    ("start*", "komma igång börja"),
    ("begin*", "börja komma igång"),
    ("first step*", "första steg"),
    ("pilot*", "pilot pilotprojekt"),
    ("data", "data"),
    ("quality", "kvalitet datakvalitet"),
    ("ready", "redo mognad"),
    ("maturity", "mognad datamognad"),
    ("benefit*", "nytta"),
    ("profit*", "lönsamhet nytta"),
    ("return on investment", "lönsamhet investering"),
    ("roi", "lönsamhet"),
    ("invest*", "investering"),
    ("buy*", "köpa"),
    ("build*", "bygga"),
    ("develop*", "utveckla bygga"),
    ("vendor*", "leverantör"),
    ("supplier*", "leverantör"),
    ("consultant*", "konsult leverantör"),
    ("security", "säkerhet informationssäkerhet"),
    ("secure", "säker informationssäkerhet"),
    ("leak*", "dataläckage"),
    (
        "confidential*",
        "konfidentiell sekretess informationssäkerhet",
    ),
    ("cloud", "molntjänster"),
    ("policy", "riktlinjer"),
    ("guideline*", "riktlinjer"),
    ("glossary", "ordlista begrepp"),
    ("machine learning", "maskininlärning"),
    ("language model*", "språkmodell"),
    ("agent*", "ai-agent"),
    ("knowledge", "kunskap förkunskaper"),
    ("experience", "erfarenhet förkunskaper"),
    ("beginner*", "nybörjare"),
    ("skill*", "kompetens"),
    // Rules.
    ("personal data", "personuppgifter"),
    ("privacy", "dataskydd personuppgifter integritet"),
    ("data protection", "dataskydd"),
    ("law*", "lag juridik"),
    ("legal*", "juridik lag"),
    ("rule*", "regler"),
    ("regulation*", "förordning regler"),
    ("ai act", "ai-förordningen"),
    ("risk*", "risk riskkategorier"),
    ("transparen*", "transparens"),
    ("literacy", "ai-kunnighet"),
    ("supervis*", "tillsyn"),
    ("authority", "myndighet"),
    // Support organisations.
    ("advice", "rådgivning"),
    ("advisor*", "rådgivare rådgivning"),
    ("adviser*", "rådgivare rådgivning"),
    ("mentor*", "mentor"),
    ("test bed*", "testbädd"),
    ("testbed*", "testbädd"),
    ("test before invest", "test before invest"),
    ("innovation*", "innovation"),
    ("call*", "utlysning"),
    ("science park", "science park"),
    ("cluster*", "kluster"),
    ("automation", "automation"),
    ("national", "nationellt"),
    ("centre", "center"),
    ("center", "center"),
    ("agency", "myndighet"),
    ("regional development", "regional utveckling"),
    // Use cases.
    ("maintenan*", "underhåll prediktivt underhåll"),
    ("breakdown*", "haveri maskinstopp"),
    ("downtime", "stillestånd maskinstopp"),
    ("machine*", "maskin maskiner"),
    ("equipment", "utrustning"),
    ("sensor*", "sensorer"),
    ("manufactur*", "tillverkning tillverkande"),
    ("factory", "fabrik produktion"),
    ("production", "produktion"),
    ("inspect*", "inspektion kvalitetskontroll"),
    ("defect*", "defekter kassation"),
    ("scrap*", "kassation"),
    ("camera*", "kamera"),
    ("vision", "datorseende"),
    ("forecast*", "prognos efterfrågeprognoser"),
    ("demand", "efterfrågan"),
    ("sales", "försäljning"),
    ("stock", "lager"),
    ("inventor*", "lager lageroptimering"),
    ("warehouse*", "lager"),
    ("purchas*", "inköp"),
    ("quote*", "offert offerthantering"),
    ("quotation*", "offert offerthantering"),
    ("estimat*", "kalkyl offert"),
    ("tender*", "anbud upphandling"),
    ("bid*", "anbud"),
    ("procurement", "upphandling"),
    ("invoice*", "faktura fakturahantering"),
    ("bookkeeping", "bokföring"),
    ("accounting", "bokföring redovisning"),
    ("customer service", "kundtjänst"),
    ("customer*", "kund kundtjänst"),
    ("chatbot*", "chattbot kundtjänst"),
    ("chat bot*", "chattbot"),
    ("support", "stöd"),
    ("energy", "energi energioptimering"),
    ("electricity", "el elpris energi"),
    ("power", "el energi"),
    ("heating", "värme energi"),
    ("route*", "ruttplanering"),
    ("routing", "ruttplanering"),
    ("transport*", "transport ruttplanering"),
    ("logistic*", "logistik"),
    ("truck*", "transport ruttplanering"),
    ("haulage", "transport åkeri"),
    ("deliver*", "leveranser"),
    ("drawing*", "ritningar"),
    ("specification*", "specifikationer"),
    ("manual*", "manualer teknisk dokumentation"),
    ("documentation", "dokumentation"),
    ("document*", "dokument"),
    ("crop*", "grödor"),
    ("farm*", "lantbruk jordbruk"),
    ("agricultur*", "lantbruk"),
    ("forest*", "skog skogsbruk"),
    ("drone*", "drönare"),
    ("satellite*", "satellitbilder"),
    ("product*", "produkt produkter"),
    ("service*", "tjänster"),
    ("office", "kontor"),
    ("email*", "e-post mejl"),
    ("text*", "text"),
    ("write", "skriva"),
    ("writing", "skriva textproduktion"),
];

/// Everyday Swedish (and common misspellings) → the documents' words.
const SV_SV: &[(&str, &str)] = &[
    ("pengar", "bidrag finansiering"),
    ("gratis", "kostnadsfri"),
    ("betala*", "kostnad avgift"),
    ("funkar", "fungerar"),
    ("börja*", "komma igång kom igång första steg"),
    ("starta", "komma igång"),
    ("igång", "kom igång"),
    ("exjobb*", "examensarbete"),
    ("praktikant*", "praktik studenter"),
    ("chatbot*", "chattbot"),
    ("chattbot*", "kundtjänst"),
    ("matchning*", "match-making"),
    ("matcha*", "match-making"),
    ("anmäl*", "delta anmälan"),
    ("vara med", "delta"),
    ("hänga med", "delta"),
    ("småföretag*", "små företag smf"),
    ("stora", "små medelstora smf målgrupp"),
    ("storföretag*", "små medelstora smf målgrupp"),
    ("enmansföretag*", "små företag smf"),
    ("smf", "små medelstora företag"),
    ("ai act", "ai-förordningen"),
    ("ai-act*", "ai-förordningen"),
    ("lagar", "lag regler"),
    ("regler*", "regler förordning"),
    ("stöd", "stöd"),
    ("kostar", "kostnad avgift"),
    ("hålla på", "pågår"),
    ("håller på", "pågår"),
    ("slutar", "slutdatum"),
    ("räkna hem", "lönsamhet nytta"),
    ("lönar", "lönsamhet"),
    ("underhåll*", "prediktivt underhåll"),
    ("offert*", "offerthantering"),
    ("faktur*", "fakturahantering"),
    ("prognos*", "efterfrågeprognoser"),
    // The AI Act guides write "hög risk" as two words.
    ("högrisk*", "hög risk"),
    ("slänga*", "svinn"),
    ("slänger", "svinn"),
];

/// English → English: everyday words for the words the English pages use.
const EN_EN: &[(&str, &str)] = &[
    ("pay*", "fund funded funding finance financed"),
    ("paid", "fund funded funding"),
    ("money", "funding grant loan"),
    ("cost*", "fee fees charge"),
    ("price*", "fee cost"),
    ("free", "fee cost"),
    ("join*", "take part participate"),
    ("sign", "take part register"),
    ("run*", "behind organisation lead"),
    ("behind", "organisation partners"),
    ("big", "small medium-sized sme"),
    ("large", "small medium-sized sme"),
    ("tiny", "small sme"),
    ("startup*", "small company"),
    ("start-up*", "small company"),
    ("counties", "county västmanland sörmland"),
    ("area", "county region"),
    ("eligib*", "target group take part"),
    ("qualif*", "target group take part"),
    ("begin*", "start getting started first step"),
    ("start*", "first step getting started"),
    ("kick", "start"),
    ("uni", "university"),
    ("thesis", "degree project"),
    ("intern*", "student placement"),
    ("chatbot*", "customer service assistant"),
    ("bot", "assistant chatbot"),
    ("breakdown*", "maintenance stoppage"),
    ("downtime", "stoppage maintenance"),
    ("fix", "maintenance repair"),
    ("law*", "regulation rules legal"),
    ("legal*", "law regulation"),
    ("privacy", "personal data gdpr"),
    ("gdpr", "personal data"),
    // The AI Act's words for what users call a ban.
    ("ban", "prohibited prohibitions"),
    ("banned", "prohibited prohibitions"),
    ("forbidden", "prohibited prohibitions"),
    ("illegal", "prohibited"),
    // Everyday words for the forecasting pages' "waste" and "food".
    ("grocer*", "food retail"),
    ("throw", "waste"),
    ("thrown", "waste"),
    ("leftover*", "waste"),
];

/// English synonyms of one English word (empty when none).
pub fn synonyms_en(word: &str) -> String {
    let lower = word.to_lowercase();
    let mut out: Vec<&str> = Vec::new();
    for (key, terms) in EN_EN {
        let hit = match key.strip_suffix('*') {
            Some(k) => lower.starts_with(k),
            None => lower == *key,
        };
        if hit && !out.contains(terms) {
            out.push(terms);
        }
    }
    out.join(" ")
}

/// The expansion of `question` (empty when nothing applies), written in
/// Swedish; analyse it with the Swedish model.
pub fn expand(question: &str, lang: Lang) -> String {
    expand_with(question, lang, |_| true)
}

/// The expansion from one-word entries only (for a single word).
pub fn expand_word(word: &str, lang: Lang) -> String {
    expand_with(word, lang, |key| !key.contains(' '))
}

/// The expansion from phrase entries only ("take part", "customer service").
pub fn expand_phrases(text: &str, lang: Lang) -> String {
    expand_with(text, lang, |key| key.contains(' '))
}

fn table(lang: Lang) -> &'static [(&'static str, &'static str)] {
    match lang {
        Lang::En => EN_SV,
        Lang::Sv => SV_SV,
    }
}

/// A question's words, and the same words joined with single spaces and
/// padded (" hur mycket kostar det "), for cues of several words; built
/// once per question, not once per cue.
pub(crate) struct Words<'a> {
    pub(crate) list: Vec<&'a str>,
    joined: String,
}

pub(crate) fn words_of(lower: &str) -> Words<'_> {
    let list: Vec<&str> = lower
        .split(|c: char| !(c.is_alphanumeric() || c == '-'))
        .filter(|w| !w.is_empty())
        .collect();
    let joined = format!(" {} ", list.join(" "));
    Words { list, joined }
}

/// Whether `cue` is among the words: a word, a word prefix (`offert*`),
/// or several words in a row (`take part`, `hur mycket*`).
pub(crate) fn cue_hits(words: &Words<'_>, cue: &str) -> bool {
    let (key, prefix) = match cue.strip_suffix('*') {
        Some(k) => (k, true),
        None => (cue, false),
    };
    if key.contains(' ') {
        // " {key}" (and " {key} " unless a prefix) inside the padded text;
        // every occurrence is tried, overlapping ones too.
        let j = &words.joined;
        let mut from = 0;
        while let Some(i) = j[from..].find(key).map(|i| i + from) {
            if j[..i].ends_with(' ') && (prefix || j[i + key.len()..].starts_with(' ')) {
                return true;
            }
            from = i + key.chars().next().map_or(1, char::len_utf8);
        }
        false
    } else if prefix {
        words.list.iter().any(|w| w.starts_with(key))
    } else {
        words.list.contains(&key)
    }
}

/// Many cues matched against one text at once, each as [`cue_hits`]
/// would: a word by one lookup, a word prefix by looking up each of the
/// word's own prefixes, phrases one by one. Matching the term lists cue
/// by cue was about a tenth of a turn: every query word is expanded on
/// its own, against a few hundred keys.
pub(crate) struct CueSet {
    exact: HashMap<&'static str, Vec<usize>>,
    prefix: HashMap<&'static str, Vec<usize>>,
    /// Phrases by their first word, which must be one of the text's words
    /// for the phrase to occur; tried with [`cue_hits`].
    phrases: HashMap<&'static str, Vec<(usize, &'static str)>>,
    /// Cues with no first word (a leading space, the empty prefix), tried
    /// with [`cue_hits`] on every text.
    rest: Vec<(usize, &'static str)>,
    len: usize,
}

impl CueSet {
    pub(crate) fn new(cues: impl IntoIterator<Item = &'static str>) -> Self {
        let mut set = CueSet {
            exact: HashMap::new(),
            prefix: HashMap::new(),
            phrases: HashMap::new(),
            rest: Vec::new(),
            len: 0,
        };
        for (i, cue) in cues.into_iter().enumerate() {
            set.len = i + 1;
            let first = cue.split(' ').next().unwrap_or_default();
            match cue.strip_suffix('*') {
                _ if cue.contains(' ') && !first.is_empty() => {
                    set.phrases.entry(first).or_default().push((i, cue));
                }
                _ if cue.contains(' ') => set.rest.push((i, cue)),
                Some("") => set.rest.push((i, cue)),
                Some(k) => set.prefix.entry(k).or_default().push(i),
                None => set.exact.entry(cue).or_default().push(i),
            }
        }
        set
    }

    /// Which cues (by position) are among the words.
    pub(crate) fn hits(&self, words: &Words<'_>) -> Vec<bool> {
        fn mark(out: &mut [bool], ix: Option<&Vec<usize>>) {
            for i in ix.into_iter().flatten() {
                out[*i] = true;
            }
        }
        let mut out = vec![false; self.len];
        for w in &words.list {
            for (i, cue) in self.phrases.get(w).into_iter().flatten() {
                if !out[*i] && cue_hits(words, cue) {
                    out[*i] = true;
                }
            }
            mark(&mut out, self.exact.get(w));
            if !self.prefix.is_empty() {
                let ends = w.char_indices().skip(1).map(|(i, _)| i);
                for end in ends.chain(std::iter::once(w.len())) {
                    mark(&mut out, self.prefix.get(&w[..end]));
                }
            }
        }
        for (i, cue) in &self.rest {
            if cue_hits(words, cue) {
                out[*i] = true;
            }
        }
        out
    }
}

static EN_SV_CUES: LazyLock<CueSet> = LazyLock::new(|| CueSet::new(EN_SV.iter().map(|(k, _)| *k)));
static SV_SV_CUES: LazyLock<CueSet> = LazyLock::new(|| CueSet::new(SV_SV.iter().map(|(k, _)| *k)));

fn expand_with(text: &str, lang: Lang, keep: impl Fn(&str) -> bool) -> String {
    let lower = text.to_lowercase();
    let words = words_of(&lower);
    let hits = match lang {
        Lang::En => &EN_SV_CUES,
        Lang::Sv => &SV_SV_CUES,
    }
    .hits(&words);
    let mut out: Vec<&str> = Vec::new();
    for ((key, terms), hit) in table(lang).iter().zip(hits) {
        if hit && keep(key) && !out.contains(terms) {
            out.push(terms);
        }
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cue test as first written (one string built per cue), kept as
    /// the reference the allocation-free version must agree with.
    fn cue_hits_reference(words: &[&str], cue: &str) -> bool {
        let (key, prefix) = match cue.strip_suffix('*') {
            Some(k) => (k, true),
            None => (cue, false),
        };
        if key.contains(' ') {
            let joined = format!(" {} ", words.join(" "));
            if prefix {
                joined.contains(&format!(" {key}"))
            } else {
                joined.contains(&format!(" {key} "))
            }
        } else if prefix {
            words.iter().any(|w| w.starts_with(key))
        } else {
            words.contains(&key)
        }
    }

    proptest::proptest! {
        #[test]
        fn phrase_cues_match_as_before(
            q in "[ab åx-]{0,24}",
            cue in "[ab å]{1,6}\\*?",
        ) {
            let lower = q.to_lowercase();
            let w = words_of(&lower);
            proptest::prop_assert_eq!(cue_hits(&w, &cue), cue_hits_reference(&w.list, &cue));
        }
    }

    proptest::proptest! {
        /// The set finds exactly the cues that [`cue_hits`] finds one by one.
        #[test]
        fn a_cue_set_matches_each_cue_as_alone(
            q in "[ab åx-]{0,24}",
            cues in proptest::collection::vec("[ab å]{0,5}\\*?", 1..12),
        ) {
            let lower = q.to_lowercase();
            let w = words_of(&lower);
            let cues: Vec<&'static str> =
                cues.into_iter().map(|c| &*Box::leak(c.into_boxed_str())).collect();
            let set = CueSet::new(cues.iter().copied());
            let alone: Vec<bool> = cues.iter().map(|c| cue_hits(&w, c)).collect();
            proptest::prop_assert_eq!(set.hits(&w), alone);
        }
    }

    #[test]
    fn the_term_lists_match_as_cue_by_cue() {
        for (text, lang) in [
            (
                "Can AI help a small manufacturer with maintenance of its machines?",
                Lang::En,
            ),
            (
                "how do we take part, and who pays? grocery leftovers",
                Lang::En,
            ),
            (
                "kan vi få pengar? är det gratis, hur mycket kostar det",
                Lang::Sv,
            ),
        ] {
            let lower = text.to_lowercase();
            let w = words_of(&lower);
            let slow: Vec<bool> = table(lang).iter().map(|(k, _)| cue_hits(&w, k)).collect();
            let set = match lang {
                Lang::En => &EN_SV_CUES,
                Lang::Sv => &SV_SV_CUES,
            };
            assert_eq!(set.hits(&w), slow, "{text}");
            assert!(
                slow.iter().any(|h| *h),
                "{text}: the case matches something"
            );
        }
    }

    #[test]
    fn phrase_cues_find_an_overlapping_occurrence() {
        let w = words_of(" xab ab ab ");
        assert!(cue_hits(&w, "ab ab"));
        assert!(!cue_hits(&w, "b ab"));
        assert!(cue_hits(&w, "ab a*"));
    }

    #[test]
    fn english_words_bring_swedish_search_words() {
        let e = expand(
            "Can AI help a small manufacturer with maintenance of its machines?",
            Lang::En,
        );
        for w in ["underhåll", "maskin", "tillverkning", "små"] {
            assert!(e.contains(w), "{w} in {e}");
        }
        assert!(expand("Who pays for the programme?", Lang::En).contains("finansiering"));
        // Phrases match whole words only: "costumer" is not "cost".
        assert_eq!(expand("nothing here at all", Lang::En), "");
        assert!(!expand("take a partial view", Lang::En).contains("delta"));
        assert!(expand("how do we take part?", Lang::En).contains("delta"));
    }

    #[test]
    fn everyday_swedish_finds_document_words() {
        assert!(expand("kan vi få pengar?", Lang::Sv).contains("bidrag"));
        assert!(expand("Är det gratis?", Lang::Sv).contains("kostnadsfri"));
        assert_eq!(expand("Vad är en behovsanalys?", Lang::Sv), "");
    }
}
