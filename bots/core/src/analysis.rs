//! The needs analysis (behovsanalys) as a guided dialogue: the nine
//! questions, reading free-text answers into a profile (sector, size band,
//! region…), navigation (skip, back, pause, quit) and the texts, in Swedish
//! and English. Pure: no store, no retrieval. `assistant::guide` persists
//! the state and adds the knowledge-base suggestions.

use crate::buttons::{AnalysisButton, ButtonId};
use serde::{Deserialize, Serialize};

use crate::model::{Button, Lang};
use crate::texts::pick;
// The analysis's texts (questions, labels, what the user is told) live
// with every other text; they are re-exported here, where they are used.
pub use crate::texts::analysis::{
    already_done, answer_then_continue, back_at_start, btn_back, btn_pause, btn_quit, btn_restart,
    btn_resume, btn_skip, btn_summary, intro, label, paused, question, quit, resumed, skipped_note,
    step_prompt,
};

/// The questions, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    Sector,
    Size,
    Region,
    Processes,
    Data,
    Digital,
    Goals,
    Academia,
    Contact,
}

pub const STEPS: [Field; 9] = [
    Field::Sector,
    Field::Size,
    Field::Region,
    Field::Processes,
    Field::Data,
    Field::Digital,
    Field::Goals,
    Field::Academia,
    Field::Contact,
];

/// Longest free-text answer kept, in characters.
pub const MAX_ANSWER_CHARS: usize = 500;

/// One answer: what the user wrote (or the button label) and, where the
/// question has categories, the category it was read as.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// The profile: the answers so far, `None` for skipped or not yet asked.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    #[serde(default)]
    pub answers: Vec<(Field, Reply)>,
    /// Filled when completed: the use-case documents suggested (path, title).
    #[serde(default)]
    pub suggested: Vec<(String, String)>,
}

impl Profile {
    pub fn get(&self, f: Field) -> Option<&Reply> {
        self.answers.iter().find(|(k, _)| *k == f).map(|(_, r)| r)
    }

    pub fn set(&mut self, f: Field, r: Option<Reply>) {
        self.answers.retain(|(k, _)| *k != f);
        if let Some(r) = r {
            self.answers.push((f, r));
            self.answers
                .sort_by_key(|(k, _)| STEPS.iter().position(|s| s == k));
        }
    }

    pub fn code(&self, f: Field) -> Option<&str> {
        self.get(f).and_then(|r| r.code.as_deref())
    }

    pub fn text(&self, f: Field) -> Option<&str> {
        self.get(f).map(|r| r.text.as_str())
    }

    /// The region code, if the user gave one (vastmanland, sormland, other).
    pub fn region(&self) -> Option<&str> {
        self.code(Field::Region)
    }

    pub fn sector(&self) -> Option<&str> {
        self.code(Field::Sector).filter(|s| *s != "other")
    }

    /// Readable lines, one per answered question, in `lang`.
    pub fn lines(&self, lang: Lang) -> Vec<String> {
        let mut v = Vec::new();
        for f in STEPS {
            let Some(r) = self.get(f) else { continue };
            let shown = r
                .code
                .as_deref()
                .and_then(|c| option_label(f, c, lang))
                .map(|label| {
                    if normalise(&r.text) == normalise(label) || f == Field::Size {
                        label.to_string()
                    } else {
                        format!("{label} ({})", r.text)
                    }
                })
                .unwrap_or_else(|| r.text.clone());
            v.push(format!("• {}: {shown}", label(f, lang)));
        }
        v
    }
}

/// Where the user is in the dialogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Active,
    Paused,
    Completed,
    Quit,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Paused => "paused",
            Status::Completed => "completed",
            Status::Quit => "quit",
        }
    }

    pub fn parse(s: &str) -> Status {
        match s {
            "active" => Status::Active,
            "paused" => Status::Paused,
            "completed" => Status::Completed,
            _ => Status::Quit,
        }
    }
}

/// A navigation word typed instead of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Skip,
    Back,
    Pause,
    Quit,
}

fn normalise(t: &str) -> String {
    t.to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || c.is_whitespace())
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Only a whole message counts: "tillbaka" navigates, "vi vill komma
/// tillbaka till…" is an answer.
pub fn nav(text: &str) -> Option<Nav> {
    match normalise(text).as_str() {
        "hoppa över" | "hoppa" | "skippa" | "nästa" | "skip" | "next" | "pass" => Some(Nav::Skip),
        "tillbaka" | "bakåt" | "föregående" | "back" | "go back" | "previous" => Some(Nav::Back),
        "paus" | "pausa" | "senare" | "fortsätt senare" | "pause" | "later" | "continue later" => {
            Some(Nav::Pause)
        }
        "avbryt" | "avsluta" | "sluta" | "stopp" | "quit" | "cancel" | "stop" | "exit" => {
            Some(Nav::Quit)
        }
        _ => None,
    }
}

/// Categories a question offers as buttons: (code, Swedish, English).
pub fn options(f: Field) -> &'static [(&'static str, &'static str, &'static str)] {
    match f {
        Field::Sector => &[
            ("manufacturing", "Tillverkning", "Manufacturing"),
            ("engineering", "Teknikkonsult", "Engineering services"),
            ("logistics", "Logistik", "Logistics"),
            ("retail", "Handel/e-handel", "Retail/e-commerce"),
            ("construction", "Bygg/fastighet", "Construction/property"),
            ("energy", "Energi", "Energy"),
            ("agriculture", "Jord/skog", "Agriculture/forestry"),
            (
                "professional_services",
                "Tjänsteföretag",
                "Professional services",
            ),
            ("care", "Vård/omsorg", "Care/welfare"),
            ("hospitality", "Hotell/restaurang", "Hotels/restaurants"),
            ("other", "Annat", "Other"),
        ],
        Field::Size => &[
            ("1-9", "1–9", "1–9"),
            ("10-49", "10–49", "10–49"),
            ("50-249", "50–249", "50–249"),
            ("250+", "250+", "250+"),
        ],
        Field::Region => &[
            ("vastmanland", "Västmanland", "Västmanland"),
            ("sormland", "Sörmland", "Sörmland"),
            ("other", "Annan region", "Other region"),
        ],
        Field::Academia => &[
            ("yes", "Ja, gärna", "Yes, gladly"),
            ("maybe", "Kanske", "Maybe"),
            ("no", "Nej, inte nu", "Not now"),
        ],
        Field::Contact => &[
            ("chat", "Här i chatten", "Here in the chat"),
            ("phone", "Telefon", "Phone"),
            ("email", "E-post", "E-mail"),
            ("meeting", "Möte", "Meeting"),
        ],
        _ => &[],
    }
}

fn option_label(f: Field, code: &str, lang: Lang) -> Option<&'static str> {
    options(f)
        .iter()
        .find(|(c, _, _)| *c == code)
        .map(|(_, sv, en)| pick(lang, sv, en))
}

// Care and hospitality come first: "hemtjänst" would otherwise read as
// professional services ("tjänst"), and a hotel's "restaurant" as nothing.
const SECTOR_WORDS: &[(&str, &[&str])] = &[
    (
        "care",
        &[
            "omsorg",
            "hemtjänst",
            "äldreboende",
            "vårdföretag",
            "assistans",
            "home care",
            "elderly care",
            "care home",
            "nursing",
            "welfare",
        ],
    ),
    (
        "hospitality",
        &[
            "hotell",
            "restaurang",
            "vandrarhem",
            "café",
            "catering",
            "hotel",
            "restaurant",
            "hostel",
            "hospitality",
        ],
    ),
    (
        "manufacturing",
        &[
            "tillverk",
            "industri",
            "verkstad",
            "produktion",
            "fabrik",
            "gjuteri",
            "plast",
            "metall",
            "manufactur",
            "factory",
            "production",
            "plant",
            "machining",
            "foundry",
        ],
    ),
    (
        "engineering",
        &[
            "teknikkonsult",
            "ingenjör",
            "konstruktion",
            "engineering",
            "design office",
        ],
    ),
    (
        "logistics",
        &[
            "logistik",
            "transport",
            "åkeri",
            "spedition",
            "logistic",
            "haulage",
            "freight",
            "warehous",
        ],
    ),
    (
        "retail",
        &[
            "handel", "butik", "e-handel", "webbshop", "retail", "shop", "commerce", "store",
        ],
    ),
    (
        "construction",
        &[
            "bygg",
            "fastighet",
            "anläggning",
            "construction",
            "building",
            "property",
            "real estate",
        ],
    ),
    (
        "energy",
        &[
            "energi",
            "elnät",
            "kraftverk",
            "solcell",
            "energy",
            "power",
            "utility",
        ],
    ),
    (
        "agriculture",
        &[
            "jordbruk", "lantbruk", "skog", "gård", "odling", "agricult", "farm", "forest",
        ],
    ),
    (
        "professional_services",
        &[
            "redovisning",
            "byrå",
            "juridik",
            "advokat",
            "konsult",
            "tjänst",
            "rekrytering",
            "accounting",
            "law",
            "agency",
            "consult",
            "services",
            "recruit",
        ],
    ),
];

/// Västmanland's and Sörmland's municipalities (lower case).
const VASTMANLAND: &[&str] = &[
    "arboga",
    "fagersta",
    "hallstahammar",
    "kungsör",
    "köping",
    "norberg",
    "sala",
    "skinnskatteberg",
    "surahammar",
    "västerås",
    "västmanland",
];
const SORMLAND: &[&str] = &[
    "eskilstuna",
    "flen",
    "gnesta",
    "katrineholm",
    "nyköping",
    "oxelösund",
    "strängnäs",
    "trosa",
    "vingåker",
    "sörmland",
    "södermanland",
];

/// Reads a region out of free text: a municipality or county name.
pub fn region_in(text: &str) -> Option<&'static str> {
    let t = normalise(text);
    let has = |list: &[&str]| {
        t.split_whitespace()
            .any(|w| list.iter().any(|m| w.starts_with(m)))
    };
    if has(SORMLAND) {
        Some("sormland")
    } else if has(VASTMANLAND) {
        Some("vastmanland")
    } else {
        None
    }
}

/// Reads a sector out of free text.
pub fn sector_in(text: &str) -> Option<&'static str> {
    let t = normalise(text);
    SECTOR_WORDS
        .iter()
        .find(|(_, words)| words.iter().any(|w| t.contains(w)))
        .map(|(code, _)| *code)
}

fn size_band(text: &str) -> Option<&'static str> {
    let t = normalise(text);
    if [
        "enmans",
        "ensam",
        "bara jag",
        "just me",
        "sole",
        "solo",
        "one person",
    ]
    .iter()
    .any(|w| t.contains(w))
    {
        return Some("1-9");
    }
    // The largest number mentioned ("mellan 20 och 30" → 30).
    let n = t
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|d| d.parse::<u64>().ok())
        .max()?;
    Some(match n {
        0..=9 => "1-9",
        10..=49 => "10-49",
        50..=249 => "50-249",
        _ => "250+",
    })
}

fn keyword_code(f: Field, text: &str) -> Option<&'static str> {
    let t = normalise(text);
    let any = |ws: &[&str]| {
        t.split_whitespace().any(|w| {
            ws.iter()
                .any(|x| w == *x || w.starts_with(x) && x.len() > 3)
        })
    };
    match f {
        Field::Academia => {
            if any(&["kanske", "eventuellt", "maybe", "perhaps", "possibly"]) {
                Some("maybe")
            } else if any(&["nej", "no", "inte", "not", "nope"]) {
                Some("no")
            } else if any(&[
                "ja",
                "gärna",
                "absolut",
                "yes",
                "sure",
                "definitely",
                "gladly",
                "jajamen",
            ]) {
                Some("yes")
            } else {
                None
            }
        }
        Field::Contact => {
            if any(&[
                "chatt", "chatten", "chat", "här", "here", "telegram", "discord",
            ]) {
                Some("chat")
            } else if any(&["telefon", "ring", "ringa", "phone", "call", "mobil"]) {
                Some("phone")
            } else if any(&["mejl", "mail", "e-post", "epost", "email", "e-mail"]) {
                Some("email")
            } else if any(&[
                "möte", "träff", "besök", "meeting", "meet", "visit", "teams", "zoom",
            ]) {
                Some("meeting")
            } else {
                None
            }
        }
        _ => None,
    }
}

/// Masks e-mail addresses and long numbers: the contact question asks for
/// a channel, not the details, and the profile keeps no more than that.
fn strip_contact_details(text: &str) -> String {
    crate::report::mask(text)
}

/// Reads an answer (typed text or a button's code) for question `f`.
pub fn read(f: Field, text: &str, lang: Lang) -> Reply {
    let clipped: String = text.chars().take(MAX_ANSWER_CHARS).collect();
    // A button label or code typed back verbatim.
    let n = normalise(&clipped);
    if let Some((code, sv, en)) = options(f)
        .iter()
        .find(|(c, sv, en)| n == normalise(c) || n == normalise(sv) || n == normalise(en))
    {
        return Reply {
            text: pick(lang, sv, en).to_string(),
            code: Some(code.to_string()),
        };
    }
    let code = match f {
        Field::Sector => Some(sector_in(&clipped).unwrap_or("other")),
        Field::Size => size_band(&clipped),
        Field::Region => Some(region_in(&clipped).unwrap_or("other")),
        Field::Academia | Field::Contact => keyword_code(f, &clipped),
        _ => None,
    };
    let text = if f == Field::Contact {
        strip_contact_details(&clipped)
    } else {
        clipped
    };
    Reply {
        text,
        code: code.map(str::to_string),
    }
}

/// Every option code of every question (for the button-id limits).
pub fn option_codes() -> Vec<&'static str> {
    STEPS
        .iter()
        .flat_map(|f| options(*f).iter().map(|(c, _, _)| *c))
        .collect()
}

/// The answer a button press stands for ([`AnalysisButton::Option`]).
pub fn read_option(f: Field, code: &str, lang: Lang) -> Option<Reply> {
    options(f)
        .iter()
        .find(|(c, _, _)| *c == code)
        .map(|(c, sv, en)| Reply {
            text: pick(lang, sv, en).to_string(),
            code: Some(c.to_string()),
        })
}

/// "Fråga 3 av 9" plus the question, and its buttons (options, then
/// back/skip/pause/quit).
pub fn prompt(step: usize, lang: Lang) -> (String, Vec<Button>) {
    let f = STEPS[step.min(STEPS.len() - 1)];
    let text = step_prompt(lang, step + 1, STEPS.len(), question(f, lang));
    let id = |a: AnalysisButton| ButtonId::Analysis(a);
    let mut b: Vec<Button> = options(f)
        .iter()
        .map(|(c, sv, en)| id(AnalysisButton::Option(c.to_string())).button(pick(lang, sv, en)))
        .collect();
    if step > 0 {
        b.push(id(AnalysisButton::Back).button(btn_back(lang)));
    }
    b.push(id(AnalysisButton::Skip).button(btn_skip(lang)));
    b.push(id(AnalysisButton::Pause).button(btn_pause(lang)));
    b.push(id(AnalysisButton::Quit).button(btn_quit(lang)));
    (text, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_text_answers_are_read_into_categories() {
        let l = Lang::Sv;
        assert_eq!(
            read(Field::Sector, "Vi är en mekanisk verkstad", l)
                .code
                .as_deref(),
            Some("manufacturing")
        );
        assert_eq!(
            read(Field::Sector, "We run a small e-commerce shop", Lang::En)
                .code
                .as_deref(),
            Some("retail")
        );
        assert_eq!(
            read(Field::Sector, "Vi driver hemtjänst i Sala", l)
                .code
                .as_deref(),
            Some("care")
        );
        assert_eq!(
            read(Field::Sector, "A family hotel with a restaurant", Lang::En)
                .code
                .as_deref(),
            Some("hospitality")
        );
        assert_eq!(read(Field::Sector, "Tillverkning", l).text, "Tillverkning");
        assert_eq!(
            read(Field::Size, "ungefär 35 personer", l).code.as_deref(),
            Some("10-49")
        );
        assert_eq!(
            read(Field::Size, "bara jag", l).code.as_deref(),
            Some("1-9")
        );
        assert_eq!(read(Field::Size, "vet inte", l).code, None);
        assert_eq!(
            read(Field::Region, "Vi sitter i Eskilstuna", l)
                .code
                .as_deref(),
            Some("sormland")
        );
        assert_eq!(
            read(Field::Region, "Köping", l).code.as_deref(),
            Some("vastmanland")
        );
        assert_eq!(
            read(Field::Region, "Örebro", l).code.as_deref(),
            Some("other")
        );
        assert_eq!(
            read(Field::Academia, "Ja, gärna!", l).code.as_deref(),
            Some("yes")
        );
        assert_eq!(
            read(Field::Academia, "not really", Lang::En)
                .code
                .as_deref(),
            Some("no")
        );
        let c = read(Field::Contact, "ring mig på 070 123 45 67", l);
        assert_eq!(c.code.as_deref(), Some("phone"));
        assert!(!c.text.contains("123"), "{}", c.text);
        let long = "x".repeat(2_000);
        assert_eq!(
            read(Field::Goals, &long, l).text.chars().count(),
            MAX_ANSWER_CHARS
        );
    }

    #[test]
    fn navigation_words_only_count_as_the_whole_message() {
        assert_eq!(nav("Hoppa över"), Some(Nav::Skip));
        assert_eq!(nav("tillbaka!"), Some(Nav::Back));
        assert_eq!(nav("Pause"), Some(Nav::Pause));
        assert_eq!(nav("avbryt"), Some(Nav::Quit));
        assert_eq!(nav("vi vill komma tillbaka till leveranstiderna"), None);
    }

    #[test]
    fn prompts_number_the_questions_and_offer_navigation() {
        let (t, b) = prompt(0, Lang::Sv);
        assert!(t.starts_with("Fråga 1 av 9: Vilken bransch"), "{t}");
        assert!(b.iter().any(|b| b.id == "an:opt:manufacturing"));
        assert!(
            !b.iter().any(|b| b.id == "an:back"),
            "no back on the first question"
        );
        let (t, b) = prompt(8, Lang::En);
        assert!(
            t.starts_with("Question 9 of 9: How would you prefer"),
            "{t}"
        );
        assert!(b.iter().any(|b| b.id == "an:back"));
    }
}
