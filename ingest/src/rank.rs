//! The second retrieval stage: re-ranks the first stage's candidate chunks
//! by how well each one answers the question, and says how confident the
//! result is.
//!
//! The first stage (BM25 words + character n-grams, and dense vectors when
//! configured) finds passages that share words with the question. That is
//! not the same as the passage a person would point to: a question naming
//! "AI Sweden" should land on AI Sweden's page, not on a paragraph that
//! mentions Sweden; "can AI help us with X" wants the use case, not an
//! example event that happens to mention X. So each candidate gets a few
//! cheap features (title and heading match, sentence-level coverage,
//! n-gram overlap, the document kind's prior for this kind of question,
//! …) and a linear score. The weights, the kind priors and the confidence
//! calibration are fitted on the dev half of the evaluation questions
//! (`kraft eval answers --fit`) and shipped in `config/ranker.json`.
//!
//! Coverage is measured per question *word*: an English word counts as
//! found in a Swedish page when one of its Swedish expansions is there
//! ([`crate::terms`]), so cross-language matches are judged like
//! same-language ones.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::doc::{Kind, Lang};
use crate::index::ChunkPayload;
use crate::terms::{words_of, CueSet};
use crate::text::Analyzer;

/// What kind of question this is, from its wording. A question can be
/// several kinds at once ("what does Almi offer for AI projects?").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    /// About the programme itself: what it is, joining, cost, activities.
    Programme,
    /// "Can we take part?", often after a description of the company.
    Eligibility,
    /// "Can AI help us with …", a business problem.
    UseCase,
    /// Who else can help: an organisation in the support system.
    Support,
    /// GDPR, the AI Act, security, law.
    Rules,
    /// Events: meetings, visits, lectures, webinars.
    Event,
    /// Getting started with AI in general.
    General,
}

impl Intent {
    pub const ALL: [Intent; 7] = [
        Intent::Programme,
        Intent::Eligibility,
        Intent::UseCase,
        Intent::Support,
        Intent::Rules,
        Intent::Event,
        Intent::General,
    ];
}

/// Cue phrases per intent (lower case; a trailing `*` matches a word
/// prefix). Written from the domain, in both languages.
const CUES: &[(Intent, &[&str])] = &[
    (
        Intent::Eligibility,
        &[
            "vara med",
            "kan vi delta",
            "får vi delta",
            "kan vi vara",
            "får vi vara",
            "passar vi",
            "passar det",
            "kvalificer*",
            "räknas vi",
            "är vi välkomna",
            "gäller det oss",
            "bara för",
            "endast för",
            "vem kan delta",
            "vilka företag",
            "vilka kan",
            "can we join",
            "can we take",
            "can we participate",
            "could we join",
            "are we eligible",
            "eligib*",
            "qualif*",
            "do we count",
            "is it for us",
            "only for",
            "who can",
            "which companies",
            "open to",
            "is this for",
            "are we too",
            "är vi för",
        ],
    ),
    (
        Intent::Event,
        &[
            "event*",
            "evenemang",
            "träff*",
            "nätverksträff*",
            "webinar*",
            "webbinar*",
            "seminar*",
            "studiebesök*",
            "study visit*",
            "föreläsning*",
            "lecture*",
            "workshop*",
            "meetup*",
            "network meeting*",
            "konferens*",
            "conference*",
            "next meeting",
            "nästa träff",
        ],
    ),
    (
        Intent::Rules,
        &[
            "gdpr",
            "dataskydd*",
            "personuppgift*",
            "personal data",
            "privacy",
            "ai-förordning*",
            "ai act",
            "ai-act",
            "förordning*",
            "lag",
            "lagen",
            "lagar",
            "law*",
            "legal*",
            "regel",
            "regler*",
            "rules",
            "regulat*",
            "juridi*",
            "compliance",
            "tillåtet",
            "allowed",
            "säkerhet*",
            "security",
            "sekretess",
            "confidential*",
            "imy",
        ],
    ),
    (
        Intent::Support,
        &[
            "almi",
            "vinnova",
            "rise",
            "ai sweden",
            "imy",
            "tillväxtverket",
            "science park*",
            "region sörmland",
            "region västmanland",
            "mitc",
            "shiftlabs",
            "edih",
            "automation region",
            "mälardalens universitet",
            "mdu",
            "universitet*",
            "universit*",
            "forskare",
            "researcher*",
            "vem kan hjälpa",
            "who can help",
            "who else",
            "lån",
            "loan*",
            "stödorganisation*",
            "myndighet*",
            "agency",
            "innovationsstöd*",
        ],
    ),
    (
        Intent::UseCase,
        &[
            "kan ai hjälpa",
            "can ai help",
            "could ai",
            "kan ai",
            "använda ai till",
            "använda ai för",
            "use ai for",
            "use ai to",
            "ai for",
            "ai till",
            "ai för att",
            "automatiser*",
            "automat*",
            "effektivisera",
            "spara tid",
            "save time",
            "smartare",
            "smarter",
            "vårt lager",
            "our stock",
            "prognos*",
            "forecast*",
            "offert*",
            "quote*",
            "faktur*",
            "invoice*",
            "underhåll*",
            "maintenance",
            "kvalitetskontroll*",
            "inspection",
            "kundtjänst*",
            "customer service",
            "rutt*",
            "route*",
            "ritning*",
            "drawing*",
            "energi*",
            "energy",
            "anbud*",
            "tender*",
            "gröd*",
            "crop*",
            "skog*",
            "forest*",
        ],
    ),
    (
        Intent::Programme,
        &[
            "kraftsamling",
            "projektet",
            "projekt",
            "programmet",
            "programme",
            "program",
            "project",
            "ni",
            "er",
            "you",
            "your",
            "delta",
            "deltar",
            "vara med",
            "take part",
            "join",
            "participat*",
            "anmäl*",
            "sign up",
            "register*",
            "kostar",
            "kostnad*",
            "cost*",
            "gratis",
            "free",
            "avgift*",
            "fee*",
            "behovsanalys*",
            "needs analys*",
            "match-making",
            "matchmaking",
            "matchning*",
            "aktivitet*",
            "activit*",
            "pågår",
            "how long",
            "finansier*",
            "fund*",
            "budget*",
            "pays",
            "målgrupp*",
            "target group",
            "vilka företag",
            "which companies",
            "eligib*",
            "qualif*",
            "kvalificer*",
            "län",
            "county",
            "counties",
            "uppfölj*",
            "follow-up",
            "bidrag*",
            "grant*",
        ],
    ),
];

/// The intents a question shows; `General` when none.
pub fn intents(question: &str) -> Vec<Intent> {
    static SET: std::sync::LazyLock<CueSet> = std::sync::LazyLock::new(|| {
        CueSet::new(CUES.iter().flat_map(|(_, cues)| cues.iter().copied()))
    });
    let lower = question.to_lowercase();
    let hits = SET.hits(&words_of(&lower));
    // The set holds every intent's cues in `CUES` order.
    let mut out: Vec<Intent> = Vec::new();
    let mut at = 0;
    for (intent, cues) in CUES {
        if hits[at..at + cues.len()].contains(&true) {
            out.push(*intent);
        }
        at += cues.len();
    }
    if out.is_empty() {
        out.push(Intent::General);
    }
    out
}

/// One content word of the question and the term ids that count as
/// finding it, per document language.
#[derive(Debug, Clone)]
struct QueryWord {
    sv: Vec<u32>,
    en: Vec<u32>,
    /// 1 for a word of the question itself; less for a word of the
    /// situation told before it ("Vi är ett åkeri i Köping. Kan vi vara
    /// med?": "åkeri" and "Köping" are context, "vara med" is the ask).
    weight: f32,
}

impl QueryWord {
    fn ids(&self, lang: Lang) -> &[u32] {
        match lang {
            Lang::Sv => &self.sv,
            Lang::En => &self.en,
        }
    }
}

/// A question, analysed once for ranking.
#[derive(Debug, Clone)]
pub struct Query {
    pub lang: Lang,
    pub lower: String,
    words: Vec<QueryWord>,
    grams: Vec<u32>,
    pub intents: Vec<Intent>,
}

impl Query {
    /// Splits the question into content words (stopwords dropped by the
    /// question language's model) and gives each its term ids in both
    /// languages: its own stem, and for the other language the stems of
    /// its expansions ([`crate::terms`]) and of the word itself (names).
    pub fn new(analyzer: &Analyzer, question: &str, lang: Lang) -> Self {
        let intents = intents(question);
        let lower = ranking_text(question, &intents);
        let core_from = core_start(&lower);
        let mut words = Vec::new();
        let mut seen: HashSet<Vec<u32>> = HashSet::new();
        let mut content: Vec<&str> = Vec::new();
        // Words of the ask first, so a word told in both parts counts as
        // part of the ask.
        let (context, core) = lower.split_at(core_from);
        for (part, weight) in [(core, 1.0), (context, CONTEXT_WEIGHT)] {
            for w in words_of(part).list {
                let own: Vec<u32> = sorted(analyzer.query_terms(w, lang));
                if own.is_empty() || !seen.insert(own.clone()) {
                    continue;
                }
                content.push(w);
                let exp = crate::terms::expand_word(w, lang);
                let exp_sv: Vec<u32> = if exp.is_empty() {
                    Vec::new()
                } else {
                    sorted(analyzer.query_terms(&exp, Lang::Sv))
                };
                let (sv, en) = match lang {
                    Lang::Sv => {
                        let mut sv = own.clone();
                        sv.extend(exp_sv);
                        (dedup(sv), sorted(analyzer.query_terms(w, Lang::En)))
                    }
                    Lang::En => {
                        let mut sv = sorted(analyzer.query_terms(w, Lang::Sv));
                        sv.extend(exp_sv);
                        let mut en = own;
                        let syn = crate::terms::synonyms_en(w);
                        if !syn.is_empty() {
                            en.extend(analyzer.query_terms(&syn, Lang::En));
                        }
                        (dedup(sv), dedup(en))
                    }
                };
                words.push(QueryWord { sv, en, weight });
            }
        }
        // Phrases of the term list ("take part", "customer service") are
        // matched on the whole question and count as one more word.
        let phrase_exp = crate::terms::expand_phrases(&lower, lang);
        if !phrase_exp.is_empty() {
            let sv = sorted(analyzer.query_terms(&phrase_exp, Lang::Sv));
            if !sv.is_empty() {
                words.push(QueryWord {
                    sv,
                    en: Vec::new(),
                    weight: 1.0,
                });
            }
        }
        // N-grams of the content words only: "how", "should" and "för"
        // share n-grams with every page and would make any question look
        // half answered.
        let mut grams = Vec::new();
        crate::text::char_grams(&content.join(" "), |g| grams.push(crate::text::gram_id(g)));
        grams.sort_unstable();
        grams.dedup();
        Self {
            lang,
            intents,
            lower,
            words,
            grams,
        }
    }

    /// For each content word: whether `text` (a knowledge-base text in
    /// `lang`) contains it.
    pub fn word_hits(&self, analyzer: &Analyzer, text: &str, lang: Lang) -> Vec<bool> {
        let ids = analyzer.text_terms(text, lang);
        self.words
            .iter()
            .map(|w| w.ids(lang).iter().any(|id| ids.contains(id)))
            .collect()
    }

    /// For each content word: whether the analysed term ids `ids` (of a
    /// text in `lang`) contain it.
    pub fn hits_in(&self, ids: &HashSet<u32>, lang: Lang) -> Vec<bool> {
        self.words
            .iter()
            .map(|w| w.ids(lang).iter().any(|id| ids.contains(id)))
            .collect()
    }

    /// How many of the terms `ids` (of a text in `lang`, typically a short
    /// heading) some question word stands for: a heading the question
    /// covers almost whole asks the question.
    pub fn covered_terms(&self, ids: &HashSet<u32>, lang: Lang) -> usize {
        ids.iter()
            .filter(|id| self.words.iter().any(|w| w.ids(lang).contains(id)))
            .count()
    }

    /// Share of the question's character n-grams that `text` contains.
    pub fn gram_share(&self, text: &str) -> f32 {
        if self.grams.is_empty() {
            return 0.0;
        }
        let mut found: FxHashSet<u32> = FxHashSet::default();
        crate::text::char_grams(text, |g| {
            found.insert(crate::text::gram_id(g));
        });
        self.grams.iter().filter(|g| found.contains(g)).count() as f32 / self.grams.len() as f32
    }

    /// Share of the question's character n-grams among `grams` (the
    /// n-gram ids of a text, collected once).
    pub fn gram_share_in(&self, grams: &FxHashSet<u32>) -> f32 {
        if self.grams.is_empty() {
            return 0.0;
        }
        self.grams.iter().filter(|g| grams.contains(g)).count() as f32 / self.grams.len() as f32
    }

    /// Each content word's weight: 1 for the ask, less for the story.
    pub fn word_weights(&self) -> Vec<f32> {
        self.words.iter().map(|w| w.weight).collect()
    }

    /// Number of content words.
    pub fn len(&self) -> usize {
        self.words.len()
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The first-stage sparse query: the question's own terms at weight 1,
    /// other-language and expansion terms at `expansion_weight`, n-grams
    /// at `gram_weight`.
    pub fn sparse_vector(
        &self,
        analyzer: &Analyzer,
        expansion_weight: f32,
        gram_weight: f32,
    ) -> crate::text::SparseVec {
        // Offsets are taken in the ranking text (`lower`, built once in
        // `new`) and used only there: lower-casing can change byte lengths.
        let lower = self.lower.as_str();
        let core = &lower[core_start(lower)..];
        let own: HashSet<u32> = analyzer.query_terms(lower, self.lang);
        let own_core: HashSet<u32> = analyzer.query_terms(core, self.lang);
        let mut m: BTreeMap<u32, f32> = BTreeMap::new();
        for t in &own {
            let w = if own_core.contains(t) {
                1.0
            } else {
                CONTEXT_WEIGHT.max(0.5)
            };
            m.insert(*t, w);
        }
        for w in &self.words {
            for t in w.sv.iter().chain(&w.en) {
                m.entry(*t).or_insert(expansion_weight);
            }
        }
        if gram_weight > 0.0 {
            for g in &self.grams {
                *m.entry(*g).or_insert(0.0) += gram_weight;
            }
        }
        m.retain(|_, v| *v > 0.0);
        crate::text::SparseVec {
            indices: m.keys().copied().collect(),
            values: m.values().copied().collect(),
        }
    }
}

/// How much a word of the situation before the actual question counts.
const CONTEXT_WEIGHT: f32 = 0.35;

/// Words that, after a number, say how big the company is ("15
/// anställda", "40 staff"): a size, not a topic, so outside eligibility
/// questions they must not pull a question towards pages about employment
/// or staff monitoring.
const SIZE_WORDS: [&str; 11] = [
    "anställda",
    "anställd",
    "medarbetare",
    "personer",
    "pers",
    "employees",
    "employee",
    "staff",
    "people",
    "workers",
    "st",
];

/// The text a question is ranked by: lower case, and the company's size
/// blanked out unless the question asks whether the company may take part
/// (the programme is for companies under 250 employees, so there the size
/// is the point).
fn ranking_text(question: &str, intents: &[Intent]) -> String {
    let lower = without_names(question).to_lowercase();
    if intents.contains(&Intent::Eligibility) {
        lower
    } else {
        without_sizes(&lower)
    }
}

/// Company forms that follow a company's name ("Hemligbolaget AB").
const COMPANY_FORMS: [&str; 6] = ["AB", "HB", "KB", "Ltd", "Inc", "GmbH"];

/// Words that only say a question is coming ("Vi undrar …", "I was
/// wondering …").
const ASKING_WORDS: [&str; 6] = [
    "undrar",
    "undrade",
    "funderar",
    "wonder",
    "wondering",
    "wondered",
];

/// The question with a company's name ("Hemligbolaget AB") and the words
/// that only announce a question blanked out: neither says what is asked,
/// and a name the knowledge base cannot know must not make a question
/// look unanswerable.
fn without_names(question: &str) -> String {
    let tokens: Vec<&str> = question.split(' ').collect();
    let bare = |t: &str| t.trim_matches(|c: char| !c.is_alphanumeric()).to_string();
    let blank = |t: &str| {
        let w = bare(t);
        t.replacen(&w, &" ".repeat(w.chars().count()), 1)
    };
    let mut out: Vec<String> = tokens.iter().map(|t| t.to_string()).collect();
    for (i, t) in tokens.iter().enumerate() {
        let w = bare(t);
        if COMPANY_FORMS.contains(&w.as_str()) && i > 0 {
            let name = bare(tokens[i - 1]);
            if name.chars().next().is_some_and(char::is_uppercase) {
                out[i - 1] = blank(tokens[i - 1]);
                out[i] = blank(t);
            }
        } else if ASKING_WORDS.contains(&w.to_lowercase().as_str()) {
            out[i] = blank(t);
        }
    }
    out.join(" ")
}

/// The lower-cased question with each "<number> <size word>" blanked out.
fn without_sizes(lower: &str) -> String {
    let mut out = String::with_capacity(lower.len());
    let mut prev_number = false;
    let mut rest = lower;
    while !rest.is_empty() {
        let start = rest
            .find(|c: char| !c.is_whitespace())
            .unwrap_or(rest.len());
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let token = &rest[..end];
        let word = token.trim_matches(|c: char| !c.is_alphanumeric());
        let number = !word.is_empty() && word.chars().all(|c| c.is_ascii_digit() || c == '-');
        if prev_number && SIZE_WORDS.contains(&word) {
            // Keep the punctuation: a full stop after the size still ends
            // the story ("15 anställda. Hur …?").
            let at = token.find(word).unwrap_or(0);
            out.push_str(&token[..at]);
            out.push_str(&" ".repeat(word.chars().count()));
            out.push_str(&token[at + word.len()..]);
        } else {
            out.push_str(token);
        }
        prev_number = number;
        rest = &rest[end..];
    }
    out
}

/// Where the ask starts in a story-style message: the last sentence that
/// ends with "?" when sentences come before it ("Vi är ett snickeri med 15
/// anställda. Hur kan vi börja?"), otherwise 0 (all of it is the ask).
fn core_start(lower: &str) -> usize {
    let t = lower.trim_end();
    if !t.ends_with('?') {
        return 0;
    }
    let body = &t[..t.len() - 1];
    body.rfind(['.', '!', '?', '\n'])
        .map(|i| i + 1)
        .filter(|&i| body[i..].split_whitespace().count() >= 2)
        .unwrap_or(0)
}

fn sorted(s: HashSet<u32>) -> Vec<u32> {
    let mut v: Vec<u32> = s.into_iter().collect();
    v.sort_unstable();
    v
}

fn dedup(mut v: Vec<u32>) -> Vec<u32> {
    v.sort_unstable();
    v.dedup();
    v
}

/// The analysed text of one chunk, cached by content.
#[derive(Debug)]
struct ChunkTerms {
    title: Vec<u32>,
    /// The title's own terms, without the tags: what the page says it
    /// answers (a FAQ's title is its question).
    title_only: HashSet<u32>,
    /// The tags' terms alone.
    tags: HashSet<u32>,
    heading: Vec<u32>,
    /// Term id → BM25 term-frequency weight in the chunk text.
    body: FxHashMap<u32, f32>,
    sentences: Vec<Vec<u32>>,
    /// Looked up once per question n-gram and candidate: FxHash, since
    /// SipHash was a tenth of the features' samples (`perf`).
    grams: FxHashSet<u32>,
    /// The organisation or thing the page is about ("AI Sweden" in "AI
    /// Sweden – nationellt center …"), lower case, for support pages.
    name: Option<String>,
}

fn doc_name(p: &ChunkPayload) -> Option<String> {
    if p.kind != Kind::Support {
        return None;
    }
    let t = p.title.as_str();
    let cut = [" – ", " — ", " - ", ": "]
        .iter()
        .filter_map(|s| t.find(s))
        .min()?;
    let name = t[..cut].trim().to_lowercase();
    (name.chars().count() >= 3).then_some(name)
}

fn analyse_chunk(analyzer: &Analyzer, p: &ChunkPayload) -> ChunkTerms {
    let lang = p.language;
    // Tags are curated search words for the whole page ("målgrupp", "vem
    // kan delta"): they say what the page is about, like its title.
    let title_only = analyzer.query_terms(&p.title, lang);
    let tags = analyzer.query_terms(&p.tags.join(" "), lang);
    let title = sorted(title_only.union(&tags).copied().collect());
    let heading = sorted(analyzer.query_terms(&p.section_headings(), lang));
    let text = crate::passage::without_internal_links(&p.text);
    let d = analyzer.doc_vector(&text, lang);
    let body: FxHashMap<u32, f32> = d.indices.into_iter().zip(d.values).collect();
    let sentences = crate::passage::units(&text)
        .iter()
        .map(|u| sorted(analyzer.query_terms(&u.text, lang)))
        .filter(|s| !s.is_empty())
        .collect();
    let mut grams = FxHashSet::default();
    let full = crate::chunk::indexed_text(&p.title, &p.heading_path, &[], &text);
    crate::text::char_grams(&full, |g| {
        grams.insert(crate::text::gram_id(g));
    });
    ChunkTerms {
        title,
        title_only,
        tags,
        heading,
        body,
        sentences,
        grams,
        name: doc_name(p),
    }
}

/// Chunk analyses by content hash. The knowledge base is small, so after a
/// few questions ranking costs set look-ups, not text analysis; the cache
/// is emptied when it grows past its bound (a large index, many queries).
///
/// Keyed by chunk id alone, with the content hash checked on a hit: the
/// look-up runs for every candidate of every question, and a key holding
/// the hash cost a copy of it and hashing it each time (`perf`: 7 % of a
/// turn).
#[derive(Debug, Default)]
pub struct TermCache {
    map: Mutex<FxHashMap<Uuid, (String, Arc<ChunkTerms>)>>,
}

pub(crate) const CACHE_MAX: usize = 20_000;

impl TermCache {
    /// Analyses a chunk now, ahead of its first question.
    pub(crate) fn warm(&self, analyzer: &Analyzer, id: Uuid, p: &ChunkPayload) {
        self.get(analyzer, id, p);
    }

    fn get(&self, analyzer: &Analyzer, id: Uuid, p: &ChunkPayload) -> Arc<ChunkTerms> {
        if let Ok(m) = self.map.lock() {
            if let Some((hash, t)) = m.get(&id) {
                if *hash == p.content_hash {
                    return t.clone();
                }
            }
        }
        let t = Arc::new(analyse_chunk(analyzer, p));
        if let Ok(mut m) = self.map.lock() {
            if m.len() >= CACHE_MAX {
                m.clear();
            }
            m.insert(id, (p.content_hash.clone(), t.clone()));
        }
        t
    }
}

/// A first-stage candidate.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub id: Uuid,
    pub sparse: Option<f32>,
    pub dense: Option<f32>,
    pub payload: std::sync::Arc<ChunkPayload>,
}

/// The features of one candidate. All lie in 0..1 except `prior`
/// (a log-probability) and `entity`, `lang`, `example`, `lead` (0 or 1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Features {
    /// First-stage sparse score over the best one among the candidates.
    pub sparse: f32,
    /// Dense similarity, min-max normalised over the candidates (0 without
    /// dense retrieval), so no embedding model's cosine range is assumed.
    pub dense: f32,
    /// Share of the question's words (IDF-weighted) in the title.
    pub title: f32,
    /// … in the headings above the chunk.
    pub heading: f32,
    /// … anywhere in the chunk text.
    pub body: f32,
    /// Mean BM25 term-frequency match of the question's words (capped at 1).
    pub tf: f32,
    /// Best single sentence's share of the question's words.
    pub sentence: f32,
    /// Share of the question's character n-grams found in the chunk.
    pub gram: f32,
    /// ln P(document kind | question intent), learned on dev.
    pub prior: f32,
    /// The question names the organisation the page is about.
    pub entity: f32,
    /// The chunk is in the question's language.
    pub lang: f32,
    /// The page is an illustrative example.
    pub example: f32,
    /// The chunk opens its document.
    pub lead: f32,
    /// How nearly the question is the page's title: F1 of the title's
    /// terms the question covers and the question's words the title
    /// contains ("Which companies can join the programme?" against "Which
    /// companies can take part in …?"). A long page that merely mentions
    /// every word scores low here.
    #[serde(default)]
    pub asks: f32,
    /// Share of the question's words (IDF-weighted) in the page's tags
    /// (`title` counts the title and the tags together).
    #[serde(default)]
    pub tags: f32,
    /// Share of the question's words that any candidate contains: the
    /// same for every candidate of a question. Low when the
    /// question is about things the knowledge base never mentions. Used
    /// by the confidence model, not for ranking.
    #[serde(default)]
    pub known: f32,
    /// Share of the question's words (IDF-weighted) that the chunk's
    /// document contains in any of its candidate chunks.
    #[serde(default)]
    pub doc: f32,
    /// The same, every word counting alike.
    #[serde(default)]
    pub doc_plain: f32,
    /// Share of the question's words found in the title or headings of
    /// any candidate: the same for every candidate.
    #[serde(default)]
    pub topical: f32,
}

impl Features {
    pub const NAMES: [&'static str; 16] = [
        "sparse", "dense", "title", "heading", "body", "tf", "sentence", "gram", "prior", "entity",
        "lang", "example", "lead", "doc", "asks", "tags",
    ];

    pub fn to_array(self) -> [f32; 16] {
        [
            self.sparse,
            self.dense,
            self.title,
            self.heading,
            self.body,
            self.tf,
            self.sentence,
            self.gram,
            self.prior,
            self.entity,
            self.lang,
            self.example,
            self.lead,
            self.doc,
            self.asks,
            self.tags,
        ]
    }
}

/// Kind priors per intent: ln P(kind | intent).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KindPriors(pub BTreeMap<Intent, BTreeMap<Kind, f32>>);

impl KindPriors {
    /// The best prior over the question's intents (a question that is
    /// both about rules and a support organisation favours both kinds).
    pub fn get(&self, intents: &[Intent], kind: Kind) -> f32 {
        intents
            .iter()
            .filter_map(|i| self.0.get(i).and_then(|m| m.get(&kind)).copied())
            .fold(None, |a: Option<f32>, b| Some(a.map_or(b, |a| a.max(b))))
            .unwrap_or(0.0)
    }
}

/// Logistic calibration of the top result: P(answerable | features).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Weights over [`confidence_inputs`], the intercept last.
    pub weights: Vec<f32>,
}

impl Calibration {
    pub fn probability(&self, x: &[f32]) -> f32 {
        if self.weights.len() != x.len() + 1 {
            return 0.5;
        }
        let z: f32 = self.weights[..x.len()]
            .iter()
            .zip(x)
            .map(|(w, v)| w * v)
            .sum::<f32>()
            + self.weights[x.len()];
        1.0 / (1.0 + (-z).exp())
    }
}

/// Everything fitted: one model per retrieval mode ("bm25", "hybrid").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RankerFile {
    /// How and on what the models were fitted (for the README and review).
    pub fitted_on: String,
    pub models: BTreeMap<String, RankModel>,
    /// Which section of the top page is quoted (all retrieval modes).
    #[serde(default)]
    pub section: crate::section::SectionModel,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RankModel {
    /// Weights in the order of [`Features::NAMES`].
    pub weights: Vec<f32>,
    pub priors: KindPriors,
    pub calibration: Calibration,
}

/// The shipped models, fitted on the dev split (see module docs).
pub const SHIPPED: &str = include_str!("../../config/ranker.json");

impl RankerFile {
    pub fn shipped() -> Self {
        serde_json::from_str(SHIPPED).unwrap_or_default()
    }

    /// Models from a file written by `kraft eval fit`.
    pub fn load(path: &std::path::Path) -> Result<Self, crate::IndexError> {
        let text = std::fs::read_to_string(path).map_err(|e| crate::IndexError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        serde_json::from_str(&text).map_err(|e| {
            crate::IndexError::Config(format!("{}: not a ranker file ({e})", path.display()))
        })
    }

    /// The model for a retrieval mode; hybrid and dense fall back to the
    /// BM25 model when none was fitted for them.
    pub fn model(&self, mode: &str) -> RankModel {
        self.models
            .get(mode)
            .or_else(|| self.models.get("bm25"))
            .cloned()
            .unwrap_or_else(RankModel::untrained)
    }
}

impl RankModel {
    /// Hand-set weights for when no fitted model exists: the first stage's
    /// order, nudged by title and sentence matches.
    pub fn untrained() -> Self {
        Self {
            weights: Features::NAMES
                .iter()
                .map(|n| match *n {
                    "sparse" | "dense" => 1.0,
                    "title" | "sentence" | "entity" => 0.3,
                    "example" => -0.3,
                    "lang" => 0.1,
                    "prior" | "lead" => 0.0,
                    _ => 0.2,
                })
                .collect(),
            priors: KindPriors::default(),
            calibration: Calibration::default(),
        }
    }

    pub fn score(&self, f: &Features) -> f32 {
        f.to_array()
            .iter()
            .zip(&self.weights)
            .map(|(x, w)| x * w)
            .sum()
    }
}

/// A candidate with its features and score.
#[derive(Debug, Clone)]
pub struct Scored {
    pub candidate: Candidate,
    pub features: Features,
    pub score: f32,
}

/// Computes every candidate's features. `priors` may be empty (fitting
/// computes them itself and fills `prior` later).
pub fn features(
    analyzer: &Analyzer,
    cache: &TermCache,
    q: &Query,
    cands: &[Candidate],
    priors: &KindPriors,
) -> Vec<Features> {
    let terms: Vec<Arc<ChunkTerms>> = cands
        .iter()
        .map(|c| cache.get(analyzer, c.id, &c.payload))
        .collect();
    let n = cands.len() as f32;
    // Which question words each candidate contains (its text or title),
    // looked up once: the local IDF, the known share, the body share and
    // the per-document union below all read it.
    let hits: Vec<Vec<bool>> = cands
        .iter()
        .zip(&terms)
        .map(|(c, t)| {
            q.words
                .iter()
                .map(|w| {
                    w.ids(c.payload.language)
                        .iter()
                        .any(|id| t.body.contains_key(id) || t.title.binary_search(id).is_ok())
                })
                .collect()
        })
        .collect();
    // Local IDF of each question word: how many candidates contain it.
    let idf: Vec<f32> = q
        .words
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let df = hits.iter().filter(|h| h[i]).count() as f32;
            w.weight * (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
        })
        .collect();
    let total: f32 = idf.iter().sum::<f32>().max(1e-6);
    // A word no candidate contains has df 0; its share of the weight is
    // what the knowledge base does not know about.
    // Plain shares (each word by its own weight, not by local IDF): a word
    // every candidate contains is exactly the word the knowledge base
    // knows best, and must count as known.
    let plain_total: f32 = q.words.iter().map(|w| w.weight).sum::<f32>().max(1e-6);
    let known = q
        .words
        .iter()
        .enumerate()
        .filter(|(i, _)| hits.iter().any(|h| h[*i]))
        .map(|(_, w)| w.weight)
        .sum::<f32>()
        / plain_total;
    let max_sparse = cands.iter().filter_map(|c| c.sparse).fold(0.0f32, f32::max);
    let dense: Vec<f32> = cands.iter().filter_map(|c| c.dense).collect();
    let (dmin, dmax) = dense
        .iter()
        .fold((f32::MAX, f32::MIN), |(a, b), &x| (a.min(x), b.max(x)));
    // The union over the candidates of one document: a page can answer
    // one part of the question in one section and another part in the
    // next.
    // The question's words that some candidate's title or headings
    // carry: the knowledge base is *about* them, not just mentions them
    // ("väder" occurs in a forecasting page; no page is about weather).
    let topical = {
        let about: Vec<bool> = q
            .words
            .iter()
            .map(|w| {
                cands.iter().zip(&terms).any(|(c, t)| {
                    w.ids(c.payload.language).iter().any(|id| {
                        t.title.binary_search(id).is_ok() || t.heading.binary_search(id).is_ok()
                    })
                })
            })
            .collect();
        about
            .iter()
            .zip(&q.words)
            .filter(|(a, _)| **a)
            .map(|(_, w)| w.weight)
            .sum::<f32>()
            / plain_total
    };
    let mut by_doc: HashMap<&str, Vec<bool>> = HashMap::new();
    for (c, h) in cands.iter().zip(&hits) {
        let e = by_doc
            .entry(c.payload.doc_path.as_str())
            .or_insert_with(|| vec![false; h.len()]);
        for (a, b) in e.iter_mut().zip(h) {
            *a |= *b;
        }
    }
    // The IDF-weighted share of the question's words that `hits` marks.
    let hit_share = |hits: &[bool]| -> f32 {
        hits.iter()
            .zip(&idf)
            .filter(|(h, _)| **h)
            .map(|(_, i)| *i)
            .sum::<f32>()
            / total
    };
    cands
        .iter()
        .zip(&terms)
        .zip(&hits)
        .map(|((c, t), own)| {
            let lang = c.payload.language;
            let doc_hits = &by_doc[c.payload.doc_path.as_str()];
            let doc = hit_share(doc_hits);
            let doc_plain = if doc_hits.is_empty() {
                0.0
            } else {
                doc_hits.iter().filter(|h| **h).count() as f32 / doc_hits.len() as f32
            };
            let share = |has: &dyn Fn(u32) -> bool| -> f32 {
                q.words
                    .iter()
                    .zip(&idf)
                    .filter(|(w, _)| w.ids(lang).iter().any(|id| has(*id)))
                    .map(|(_, i)| *i)
                    .sum::<f32>()
                    / total
            };
            let title = share(&|id| t.title.binary_search(&id).is_ok());
            let heading = share(&|id| t.heading.binary_search(&id).is_ok());
            let tags = share(&|id| t.tags.contains(&id));
            let body = hit_share(own);
            let tf = if q.words.is_empty() {
                0.0
            } else {
                q.words
                    .iter()
                    .map(|w| {
                        w.ids(lang)
                            .iter()
                            .filter_map(|id| t.body.get(id))
                            .fold(0.0f32, |a, b| a.max(*b))
                    })
                    .sum::<f32>()
                    / q.words.len() as f32
            };
            // A sentence's words are among its chunk's, so only the words
            // the chunk has are looked up in each sentence (`perf`: the
            // sentence loop was most of this function).
            let present: Vec<usize> = (0..q.words.len()).filter(|&i| own[i]).collect();
            let sentence = t
                .sentences
                .iter()
                .map(|s| {
                    present
                        .iter()
                        .filter(|&&i| {
                            q.words[i]
                                .ids(lang)
                                .iter()
                                .any(|id| s.binary_search(id).is_ok())
                        })
                        .map(|&i| idf[i])
                        .sum::<f32>()
                        / total
                })
                .fold(0.0f32, f32::max);
            let gram = if q.grams.is_empty() {
                0.0
            } else {
                q.grams.iter().filter(|g| t.grams.contains(g)).count() as f32 / q.grams.len() as f32
            };
            let asks = {
                let covered = q.covered_terms(&t.title_only, lang) as f32;
                let of_title = covered / t.title_only.len().max(1) as f32;
                let of_question = q
                    .words
                    .iter()
                    .filter(|w| w.ids(lang).iter().any(|id| t.title_only.contains(id)))
                    .map(|w| w.weight)
                    .sum::<f32>()
                    / plain_total;
                if of_title + of_question > 0.0 {
                    2.0 * of_title * of_question / (of_title + of_question)
                } else {
                    0.0
                }
            };
            let entity = t
                .name
                .as_ref()
                .is_some_and(|name| contains_phrase(&q.lower, name));
            Features {
                sparse: match (c.sparse, max_sparse > 0.0) {
                    (Some(s), true) => s / max_sparse,
                    _ => 0.0,
                },
                dense: match c.dense {
                    Some(d) if dmax > dmin => (d - dmin) / (dmax - dmin),
                    Some(_) => 1.0,
                    None => 0.0,
                },
                title,
                heading,
                body,
                tf: tf.min(1.0),
                sentence,
                gram,
                prior: priors.get(&q.intents, c.payload.kind),
                entity: f32::from(u8::from(entity)),
                lang: f32::from(u8::from(lang == q.lang)),
                example: f32::from(u8::from(c.payload.example)),
                lead: f32::from(u8::from(
                    c.payload.ordinal == 0 && c.payload.heading_path.len() <= 1,
                )),
                asks,
                tags,
                known,
                doc,
                doc_plain,
                topical,
            }
        })
        .collect()
}

/// Orders scored candidates, keeps the best chunk per document, and
/// computes the calibrated confidence of the best one.
pub fn finish(
    model: &RankModel,
    q: &Query,
    mut scored: Vec<Scored>,
    limit: usize,
) -> (Vec<crate::search::Found>, f32) {
    scored.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.candidate.id.cmp(&b.candidate.id))
    });
    let mut seen: HashSet<String> = HashSet::new();
    scored.retain(|s| seen.insert(s.candidate.payload.doc_path.clone()));
    let confidence = match scored.first() {
        Some(top) => {
            let x = confidence_inputs(&top.features, top.score, q);
            model.calibration.probability(&x)
        }
        None => 0.0,
    };
    let results = scored
        .into_iter()
        .take(limit)
        .map(|s| crate::search::Found {
            id: s.candidate.id,
            score: s.score,
            bm25_score: s.candidate.sparse,
            dense_score: s.candidate.dense,
            features: Some(s.features),
            chunk: std::sync::Arc::unwrap_or_clone(s.candidate.payload),
        })
        .collect();
    (results, confidence)
}

/// `needle` occurs in `hay` as whole words.
fn contains_phrase(hay: &str, needle: &str) -> bool {
    let mut from = 0;
    while let Some(pos) = hay[from..].find(needle) {
        let start = from + pos;
        let end = start + needle.len();
        let before = hay[..start].chars().next_back();
        let after = hay[end..].chars().next();
        let boundary = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric());
        if boundary(before) && boundary(after) {
            return true;
        }
        from = start + needle.len().max(1);
        while !hay.is_char_boundary(from) {
            from += 1;
        }
    }
    false
}

/// Questions that ask for what a knowledge base of general programme
/// information cannot hold: a person, a number to call, a count of
/// participants so far, a booking, a promise, an exact date, our own
/// contract or case judged. These must go to a person, however well
/// their words match a page.
const SPECIFIC: &[&str] = &[
    "telefonnummer",
    "telefon",
    "ringa",
    "ring",
    "phone",
    "call you",
    "mejladress",
    "e-postadress",
    "epostadress",
    "email address",
    "e-mail address",
    "mail address",
    "kontaktperson",
    "contact person",
    "vem ska jag",
    "who should i",
    "vad heter",
    "what is the name",
    "hur många företag",
    "how many companies",
    "how many firms",
    "hur många har",
    "how many have",
    "hittills",
    "so far",
    "procent av",
    "percentage of",
    "boka",
    "book a",
    "booking",
    "möte på",
    "meeting on",
    "imorgon",
    "i morgon",
    "tomorrow",
    "i helgen",
    "this weekend",
    "ikväll",
    "tonight",
    "öppettider",
    "opening hours",
    "exakt datum",
    "exact date",
    "vilket datum",
    "which date",
    "what date",
    "exakt var",
    "exactly where",
    "lova",
    "promise",
    "garanti*",
    "guarantee*",
    "vårt avtal",
    "our contract",
    "klausul*",
    "clause",
    "i vårt fall",
    "in our case",
    "lagligt",
    "legal for us",
    "hur mycket pengar",
    "how much money",
    "how many kronor",
    "hur många kronor",
    "kön",
    "queue",
    "waiting list",
    "platser kvar",
    "places left",
    "seats left",
    "email",
    "e-mail",
    "mejl",
    "e-post",
    "namn på",
    "name of",
    "their name",
    "vem är ansvarig",
    "who is responsible",
    "register me",
    "register us",
    "anmäla mig",
    "anmäl mig",
    "anmäl oss",
    "sign me up",
    "sign us up",
    "right now",
    "just nu",
    "nda",
    "sekretessavtal",
    "charge",
    "ta betalt",
    "timpris",
    "per timme",
    "per hour",
    "accept us",
    "antar oss",
    "kommer vi att få",
    "will we get",
    "will they",
    "recommend a",
    "rekommendera en",
    "just tell me",
    "säg bara",
    "next call",
    "nästa utlysning",
    "vilka företag i",
    "which companies in",
    // The same categories in the other words people use for them,
    // written from the categories (not from questions).
    "contact details",
    "kontaktuppgifter",
    "reach you",
    "nå er",
    "phone number",
    "mobilnummer",
    "who do i contact",
    "vem kontaktar jag",
    "vem ringer jag",
    "what's the name",
    "vad är namnet",
    "namnet på",
    "how many smes",
    "hur många smf",
    "how many businesses",
    "how many participants",
    "hur många deltagare",
    "how many have taken part",
    "hur många har deltagit",
    "when is the next",
    "när är nästa",
    "när blir nästa",
    "next event",
    "nästa evenemang",
    "nästa träff",
    "deadline",
    "sista ansökningsdag",
    "how much can we get",
    "hur mycket kan vi få",
    "how big a grant",
    "how large a grant",
    "hur stort bidrag",
    "hur stort stöd",
    "reserve a",
    "reservera",
    "book us",
    "boka in",
    "sign the",
    "skriva under",
    "our agreement",
    "vårt kontrakt",
];

/// 1 when the question asks for something specific in [`SPECIFIC`].
pub fn asks_specific(lower: &str) -> f32 {
    static SET: std::sync::LazyLock<CueSet> =
        std::sync::LazyLock::new(|| CueSet::new(SPECIFIC.iter().copied()));
    f32::from(u8::from(SET.hits(&words_of(lower)).into_iter().any(|h| h)))
}

/// The inputs of the confidence model, from the best result's features.
pub fn confidence_inputs(top: &Features, top_score: f32, q: &Query) -> Vec<f32> {
    // Few, and each with a plain meaning: cross-validated on the dev
    // questions, this set abstained more at 5 % false abstentions than
    // every feature together (collinear inputs made the fit unstable).
    vec![
        top_score,
        top.title.max(top.heading),
        top.gram,
        top.known,
        asks_specific(&q.lower),
        top.topical,
        top.doc_plain,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intents_follow_the_wording() {
        assert_eq!(
            intents("Kan AI hjälpa oss med kvalitetskontroll i produktionen?"),
            [Intent::UseCase]
        );
        assert!(intents("Who pays for the programme?").contains(&Intent::Programme));
        assert!(intents("What does AI Sweden do?").contains(&Intent::Support));
        assert!(intents("När är nästa nätverksträff?").contains(&Intent::Event));
        assert_eq!(intents("Hej hur mår du"), [Intent::General]);
    }

    #[test]
    fn questions_only_a_person_can_answer_are_recognised() {
        for q in [
            "What's the name of the project manager?",
            "när är nästa träff?",
            "How much can we get from you?",
            "Vilka kontaktuppgifter har ni?",
        ] {
            assert_eq!(asks_specific(&q.to_lowercase()), 1.0, "{q}");
        }
        for q in ["What is a needs analysis?", "Hur kommer vi igång med AI?"] {
            assert_eq!(asks_specific(&q.to_lowercase()), 0.0, "{q}");
        }
    }

    #[test]
    fn phrases_match_whole_words() {
        assert!(contains_phrase("what does ai sweden do?", "ai sweden"));
        assert!(!contains_phrase("brainstorm", "rise"));
        assert!(contains_phrase("kan rise hjälpa", "rise"));
        assert!(!contains_phrase("enterprises", "rise"));
    }

    #[test]
    fn calibration_is_a_logistic_of_its_inputs() {
        let c = Calibration {
            weights: vec![2.0, -1.0],
        };
        assert!((c.probability(&[0.5]) - 0.5).abs() < 1e-6);
        assert!(c.probability(&[2.0]) > 0.9);
        // A model of another shape says "don't know" rather than panic.
        assert_eq!(Calibration::default().probability(&[1.0, 2.0]), 0.5);
    }

    #[test]
    fn the_shipped_models_fit_the_features_and_inputs() {
        // A stale config/ranker.json (fitted before a feature was added)
        // would silently fall back to "don't know": refuse it here.
        let f: RankerFile = serde_json::from_str(SHIPPED).expect("config/ranker.json parses");
        let m = f.models.get("bm25").expect("a bm25 model is shipped");
        assert_eq!(m.weights.len(), Features::NAMES.len());
        let a = Analyzer::new(crate::text::Bm25Params::default()).expect("analyzer");
        let q = Query::new(&a, "Vad kostar det?", Lang::Sv);
        let inputs = confidence_inputs(&Features::default(), 0.0, &q);
        assert_eq!(m.calibration.weights.len(), inputs.len() + 1);
        for i in Intent::ALL {
            assert!(m.priors.0.contains_key(&i), "prior for {i:?}");
        }
    }

    #[test]
    fn a_story_is_told_before_the_ask() {
        let t = "vi är ett åkeri med 12 anställda i köping. kan vi vara med?";
        assert_eq!(&t[core_start(t)..], " kan vi vara med?");
        assert_eq!(core_start("kan vi vara med?"), 0);
        assert_eq!(
            core_start("vi är ett åkeri. och?"),
            0,
            "a one-word ask keeps the story"
        );
        // Case changes that change byte lengths never cut a character.
        let t = "İ är ett företag. Kan vi vara med?".to_lowercase();
        assert!(t.is_char_boundary(core_start(&t)));
    }

    #[test]
    fn a_company_size_is_not_a_topic() {
        assert_eq!(
            without_sizes("vi är ett snickeri med 15 anställda. hur börjar vi?"),
            "vi är ett snickeri med 15          . hur börjar vi?"
        );
        assert_eq!(
            without_sizes("we have 40 staff, 12 trucks"),
            "we have 40      , 12 trucks"
        );
        // An eligibility question keeps the size: it is what is asked about.
        let e = "vi är ett åkeri med 12 anställda i köping. kan vi vara med?";
        assert!(ranking_text(e, &intents(e)).contains("12 anställda"));
        let s = "vi är ett snickeri med 15 anställda. hur kan vi börja?";
        assert!(!ranking_text(s, &intents(s)).contains("anställda"));
        // A company's name and "undrar" say nothing about what is asked.
        let n = "Vi på Hemligbolaget AB undrar vad en behovsanalys är?";
        let t = ranking_text(n, &intents(n));
        assert!(
            !t.contains("hemligbolaget") && !t.contains(" ab ") && !t.contains("undrar"),
            "{t}"
        );
        assert!(t.contains("behovsanalys"), "{t}");
        // "AB" after a lower-case word is not a company form.
        assert!(without_names("vad är ab testning").contains("ab"));
        // Staff as the topic stays.
        assert_eq!(
            without_sizes("måste vi utbilda personalen?"),
            "måste vi utbilda personalen?"
        );
    }

    #[test]
    fn story_words_weigh_less_than_the_ask() {
        let a = Analyzer::new(crate::text::Bm25Params::default()).expect("analyzer");
        let q = Query::new(
            &a,
            "Vi har ett åkeri i Köping. Hur börjar vi med AI?",
            Lang::Sv,
        );
        let core: Vec<f32> = q.words.iter().map(|w| w.weight).collect();
        assert!(
            core.contains(&1.0) && core.contains(&CONTEXT_WEIGHT),
            "{core:?}"
        );
        let v = q.sparse_vector(&a, 0.5, 0.0);
        let akeri = a.query_terms("åkeri", Lang::Sv);
        let borja = a.query_terms("börjar", Lang::Sv);
        let w = |ids: &HashSet<u32>| {
            v.indices
                .iter()
                .zip(&v.values)
                .find(|(i, _)| ids.contains(i))
                .map(|(_, v)| *v)
        };
        assert!(w(&akeri) < w(&borja), "{:?} < {:?}", w(&akeri), w(&borja));
    }
}
