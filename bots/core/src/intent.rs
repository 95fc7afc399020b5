//! What kind of message this is, before any retrieval: a command, a request
//! for a person, small talk, abuse, or a question (possibly a follow-up).
//! Plain word lists rather than a model: they are predictable, testable
//! and cheap, and the cases they cover are few and well known.

use crate::model::Lang;

/// What a command does; the names that invoke each are listed once in
/// [`crate::commands::COMMANDS`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Start,
    Help,
    Human,
    Events,
    Forget,
    /// Start or resume a needs analysis.
    Analysis,
    /// Match-making: who can help with the rest of the message.
    Match,
    /// A question as a command (Discord's `/ask`): the rest is the question.
    Ask,
    /// Choose the answer language (`/lang en`), or be offered the choice.
    Lang,
    /// The privacy notice again.
    Privacy,
    /// An adviser's answer (in the adviser room; not an SME's command).
    Reply,
    Unknown(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    Command(Command),
    /// "kan jag prata med en människa?"
    Human,
    /// "vi vill göra en behovsanalys"
    Analysis,
    /// "vem kan hjälpa oss med kvalitetskontroll?"
    Match,
    Greeting,
    Thanks,
    Abuse,
    Question,
}

/// Cleans raw platform text: drops control characters (binary junk,
/// escape sequences) except newlines and tabs, and trims.
pub fn sanitize(raw: &str) -> String {
    let s: String = raw
        .chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .filter(|c| *c != '\u{FFFD}')
        .collect();
    s.trim().to_string()
}

fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric() && c != '-')
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

pub fn command(text: &str) -> Option<Command> {
    let first = text.split_whitespace().next()?;
    let name = first.strip_prefix('/')?;
    // "/start@KraftBot" in Telegram groups.
    let name = name.split('@').next().unwrap_or(name).to_lowercase();
    Some(match crate::commands::find(&name) {
        Some(spec) => spec.command.clone(),
        None => Command::Unknown(first.chars().take(40).collect()),
    })
}

const ASK_VERBS_SV: &[&str] = &[
    "prata", "tala", "snacka", "chatta", "kontakt", "kontakta", "ringa", "träffa", "koppla",
];
const PERSON_SV: &[&str] = &[
    "människa",
    "person",
    "rådgivare",
    "handläggare",
    "någon",
    "personal",
];
const ASK_VERBS_EN: &[&str] = &[
    "talk", "speak", "chat", "contact", "call", "connect", "reach",
];
const PERSON_EN: &[&str] = &[
    "human", "person", "adviser", "advisor", "someone", "somebody", "agent", "people",
];

/// A plain-language request for a person, in either language. Needs both a
/// verb of contact and a person word, so "vad gör en rådgivare?" is a
/// question, not a request.
pub fn wants_human(text: &str) -> bool {
    let w = words(text);
    if w.len() > 25 {
        return false;
    }
    // Verbs match by prefix ("kontaktar", "talking"); person words only as
    // whole words or their plain inflections, so "personuppgifter" is not
    // "person" (found by the prompt-injection corpus).
    let verb = |list: &[&str]| w.iter().any(|x| list.iter().any(|l| x.starts_with(l)));
    let person = |list: &[&str]| {
        w.iter().any(|x| {
            list.iter().any(|l| {
                x.strip_prefix(l)
                    .is_some_and(|rest| ["", "n", "en", "na", "s", "er", "erna"].contains(&rest))
            })
        })
    };
    let sv = verb(ASK_VERBS_SV) && person(PERSON_SV);
    let en = verb(ASK_VERBS_EN) && person(PERSON_EN);
    sv || en
        || w.iter()
            .any(|x| x == "människa" || x == "human" || x == "människan")
            && w.len() <= 6
}

const ABUSE: &[&str] = &[
    "idiot", "idioter", "idiotisk", "jävla", "jävel", "javla", "helvete", "fitta", "hora", "kuk",
    "skitbot", "dumma", "dumbass", "fuck", "fucking", "shit", "bitch", "cunt", "stupid", "moron",
    "asshole",
];

pub fn is_abusive(text: &str) -> bool {
    words(text).iter().any(|w| ABUSE.contains(&w.as_str()))
}

const GREETINGS: &[&str] = &[
    "hej",
    "hejsan",
    "hallå",
    "tjena",
    "tja",
    "god",
    "morgon",
    "dag",
    "hello",
    "hi",
    "hey",
    "good",
    "morning",
    "afternoon",
];
const THANKS: &[&str] = &[
    "tack", "tusen", "stort", "thanks", "thank", "you", "så", "mycket", "much", "ok", "okej", "bra",
];

pub fn is_greeting(text: &str) -> bool {
    let w = words(text);
    !w.is_empty() && w.len() <= 3 && w.iter().all(|x| GREETINGS.contains(&x.as_str()))
}

pub fn is_thanks(text: &str) -> bool {
    let w = words(text);
    !w.is_empty()
        && w.len() <= 5
        && w.iter()
            .any(|x| x == "tack" || x == "thanks" || x == "thank")
        && w.iter().all(|x| THANKS.contains(&x.as_str()))
}

const MATCH_PHRASES: &[&str] = &[
    "vem kan hjälpa",
    "vilka kan hjälpa",
    "vem skulle kunna hjälpa",
    "finns det någon som kan hjälpa",
    "vem ska vi vända oss till",
    "vem kan vi vända oss till",
    "vart kan vi vända oss",
    "vart ska vi vända oss",
    "vem kan stötta",
    "who can help",
    "who could help",
    "where can we get help",
    "where can i get help",
    "who should we talk to",
    "who can support",
];

/// "Vem kan hjälpa oss med …?": a request for match-making suggestions.
pub fn wants_match(text: &str) -> bool {
    let t = words(text).join(" ");
    MATCH_PHRASES.iter().any(|p| t.contains(p))
}

const ANALYSIS_WORDS: &[&str] = &[
    "behovsanalys",
    "behovsanalysen",
    "needs analysis",
    "needs assessment",
];
const ANALYSIS_VERBS: &[&str] = &[
    "vill", "göra", "gör", "starta", "börja", "boka", "kör", "want", "start", "begin", "do",
    "like", "book", "run", "lets", "let's",
];
const QUESTION_STARTS: &[&str] = &[
    "vad", "hur", "varför", "när", "vem", "what", "how", "why", "when", "who", "is", "does",
];

/// A request to start a needs analysis in the chat ("vi vill göra en
/// behovsanalys"), as opposed to a question about one ("vad är en
/// behovsanalys?", "hur lång tid tar en behovsanalys?").
pub fn wants_analysis(text: &str) -> bool {
    let w = words(text);
    let t = w.join(" ");
    if w.len() > 20 || !ANALYSIS_WORDS.iter().any(|a| t.contains(a)) {
        return false;
    }
    if w.first()
        .is_some_and(|f| QUESTION_STARTS.contains(&f.as_str()))
    {
        return false;
    }
    w.iter().any(|x| ANALYSIS_VERBS.contains(&x.as_str()))
}

pub fn classify(text: &str) -> Intent {
    if let Some(c) = command(text) {
        return Intent::Command(c);
    }
    if is_abusive(text) {
        return Intent::Abuse;
    }
    if wants_analysis(text) {
        return Intent::Analysis;
    }
    if wants_match(text) {
        return Intent::Match;
    }
    if wants_human(text) {
        return Intent::Human;
    }
    if is_greeting(text) {
        return Intent::Greeting;
    }
    if is_thanks(text) {
        return Intent::Thanks;
    }
    Intent::Question
}

pub fn is_yes(text: &str) -> bool {
    matches!(
        words(text).as_slice(),
        [w] if ["ja", "yes", "japp", "jo", "y"].contains(&w.as_str())
    )
}

pub fn is_no(text: &str) -> bool {
    matches!(
        words(text).as_slice(),
        [w] if ["nej", "no", "nope", "n"].contains(&w.as_str())
    )
}

const FOLLOW_START: &[&str] = &["och", "men", "and", "but", "also", "samt", "så"];
const FOLLOW_REF: &[&str] = &[
    "det", "den", "dem", "dessa", "detta", "där", "dit", "it", "that", "this", "they", "them",
    "those", "there",
];

/// A message that explicitly continues the previous question: it starts
/// with "och"/"and"/"what about" ("och vad kostar det?").
pub fn continues(text: &str) -> bool {
    let w = words(text);
    if w.is_empty() || w.len() > 10 {
        return false;
    }
    let lower = text.trim_start().to_lowercase();
    FOLLOW_START.contains(&w[0].as_str())
        || lower.starts_with("what about")
        || lower.starts_with("how about")
        || lower.starts_with("hur är det med")
}

/// A short message that points back with a pronoun ("vad kostar det?").
/// Swedish "det" is also a dummy subject ("blir det regn?"), so this is
/// only a hint: the assistant checks that the combined query still covers
/// the message's own words.
pub fn refers_back(text: &str) -> bool {
    let w = words(text);
    !w.is_empty() && w.len() <= 6 && w.iter().any(|x| FOLLOW_REF.contains(&x.as_str()))
}

pub fn is_follow_up(text: &str) -> bool {
    continues(text) || refers_back(text)
}

/// The first configured topic whose phrase occurs in the text.
pub fn topic<'a>(text: &str, topics: &'a [crate::Topic]) -> Option<&'a str> {
    let t = text.to_lowercase();
    topics
        .iter()
        .find(|topic| topic.phrases.iter().any(|p| t.contains(&p.to_lowercase())))
        .map(|topic| topic.name.as_str())
}

/// A very short message says little about its language ("ok", "events?");
/// then the language the user has been writing in wins.
pub fn too_short_to_detect(text: &str) -> bool {
    words(text).len() < 3
}

pub fn lang_hint(text: &str) -> Option<Lang> {
    let w = words(text);
    let sv = w
        .iter()
        .any(|x| ["hej", "tack", "ja", "nej", "och", "vad", "hur"].contains(&x.as_str()));
    let en = w.iter().any(|x| {
        ["hi", "hello", "thanks", "yes", "no", "and", "what", "how"].contains(&x.as_str())
    });
    match (sv, en) {
        (true, false) => Some(Lang::Sv),
        (false, true) => Some(Lang::En),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse_with_bot_suffix_and_unknowns_are_kept() {
        assert_eq!(command("/start"), Some(Command::Start));
        assert_eq!(command("/help@KraftBot"), Some(Command::Help));
        assert_eq!(command("/EVENTS"), Some(Command::Events));
        assert_eq!(command("/analys"), Some(Command::Analysis));
        assert_eq!(command("/match"), Some(Command::Match));
        assert_eq!(command("/glöm"), Some(Command::Forget));
        assert_eq!(
            command("/frobnicate now"),
            Some(Command::Unknown("/frobnicate".into()))
        );
        assert_eq!(command("vad är /start?"), None);
    }

    #[test]
    fn human_requests_in_both_languages_but_not_questions_about_advisers() {
        for t in [
            "kan jag prata med en människa?",
            "Jag vill prata med en människa",
            "Jag vill tala med en rådgivare",
            "can I talk to a human please",
            "I'd like to speak to an adviser",
            "människa!",
        ] {
            assert!(wants_human(t), "{t}");
        }
        for t in [
            "Vad gör en rådgivare i projektet?",
            "What does an adviser do?",
            "Hur kan AI hjälpa människor i vården?",
            // Found by the injection corpus: prefixes of other words.
            "How do we connect our ERP system to real-time AI?",
            "Can we call the API from our own system in real time?",
            "Hur kontaktar vi Almi angående personuppgifter?",
        ] {
            assert!(!wants_human(t), "{t}");
        }
    }

    #[test]
    fn classify_small_talk_abuse_and_follow_ups() {
        assert_eq!(classify("Hej!"), Intent::Greeting);
        assert_eq!(classify("tack så mycket"), Intent::Thanks);
        assert_eq!(classify("du är en idiot"), Intent::Abuse);
        assert_eq!(classify("Vad är en behovsanalys?"), Intent::Question);
        assert!(is_follow_up("och vad kostar det?"));
        assert!(is_follow_up("what about the cost?"));
        assert!(!is_follow_up(
            "Vad kostar en behovsanalys för ett tillverkande företag?"
        ));
    }

    #[test]
    fn analysis_requests_and_match_making_are_told_from_questions() {
        for t in [
            "Vi vill göra en behovsanalys",
            "Kan vi starta en behovsanalys här?",
            "I want to do a needs analysis",
            "Let's start the needs analysis",
        ] {
            assert_eq!(classify(t), Intent::Analysis, "{t}");
        }
        for t in [
            "Vad är en behovsanalys?",
            "Hur lång tid tar en behovsanalys?",
            "Vad händer efter behovsanalysen?",
            "What is a needs analysis?",
        ] {
            assert_eq!(classify(t), Intent::Question, "{t}");
        }
        for t in [
            "Vem kan hjälpa oss med kvalitetskontroll?",
            "Who can help us with demand forecasting?",
            "Vart kan vi vända oss för att få hjälp med AI i produktionen?",
        ] {
            assert_eq!(classify(t), Intent::Match, "{t}");
        }
        assert_eq!(classify("Vad kan AI hjälpa oss med?"), Intent::Question);
    }

    #[test]
    fn sanitize_drops_control_bytes() {
        assert_eq!(sanitize("\u{0}\u{1b}[31mhej\u{7}  "), "[31mhej");
        assert_eq!(sanitize("\u{0}\u{1}\u{2}"), "");
        assert_eq!(sanitize("rad 1\nrad 2"), "rad 1\nrad 2");
    }
}
