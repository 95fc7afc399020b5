//! What a question asks for by its question words ("when", "how long",
//! "what does it cost"), and whether a heading asks the same or a text
//! holds that kind of fact (a date, a time span, an amount).
//!
//! Section choice matched words only, so "Hur lång tid tar en
//! behovsanalys?" went to the section that says "tid" and "lång" in
//! passing ("Var tappar vi tid?") rather than the one that says "några
//! timmar"; "NIS2, who's covered?" went to the section naming NIS2 most,
//! not the one headed "Which … are covered?". The classes are the
//! question words of both languages, so they carry to questions nobody
//! has seen; how much each counts is fitted with the section model.

/// Question-word classes, as bits, so a question or heading can have
/// several ("När och var …?").
pub type Asks = u16;

pub const WHEN: Asks = 1;
pub const HOW_LONG: Asks = 1 << 1;
pub const COST: Asks = 1 << 2;
pub const HOW_MANY: Asks = 1 << 3;
pub const WHO: Asks = 1 << 4;
pub const WHY: Asks = 1 << 5;
pub const WHERE: Asks = 1 << 6;
pub const WHICH: Asks = 1 << 7;

/// Phrases per class (lower case, matched on word boundaries; a trailing
/// `*` matches a word prefix).
const PHRASES: &[(Asks, &[&str])] = &[
    (
        WHEN,
        &[
            "när",
            "when",
            "vilket datum",
            "what date",
            "from what date",
            "vilket år",
            "what year",
            "hur snart",
            "how soon",
            "deadline",
            "sista dag*",
        ],
    ),
    (
        HOW_LONG,
        &[
            "hur lång tid",
            "hur länge",
            "how long",
            "how much time",
            "hur mycket tid",
            "tidsåtgång",
        ],
    ),
    (
        COST,
        &[
            "vad kostar",
            "kostar",
            "kosta",
            "kostnad*",
            "pris*",
            "avgift*",
            "betala",
            "betalar",
            "gratis",
            "cost*",
            "price*",
            "pricing",
            "fee*",
            "pay",
            "pays",
            "charge*",
            "free",
            "how much does",
            "how much is",
        ],
    ),
    (
        HOW_MANY,
        &[
            "hur många",
            "how many",
            "antal*",
            "number of",
            "hur stor",
            "hur stort",
            "hur stora",
            "how big",
            "how large",
            "how much",
        ],
    ),
    (WHO, &["vem", "vems", "who", "whom", "whose", "who's"]),
    (WHY, &["varför", "why", "how come"]),
    (
        WHERE,
        &[
            "var finns",
            "var kan",
            "var ska",
            "var hittar",
            "var vänder",
            "vart",
            "where",
            "vilken ort",
        ],
    ),
    (WHICH, &["vilka", "vilken", "vilket", "which"]),
];

fn matches(words: &[String], phrase: &str) -> bool {
    let phrase = fold(phrase);
    let parts: Vec<&str> = phrase.split(' ').collect();
    if parts.is_empty() || words.len() < parts.len() {
        return false;
    }
    words.windows(parts.len()).any(|w| {
        w.iter()
            .zip(&parts)
            .all(|(word, p)| match p.strip_suffix('*') {
                Some(prefix) => word.starts_with(prefix),
                None => word == p,
            })
    })
}

/// Words with å, ä and ö folded to a and o: questions are often typed
/// without them ("hur lang tid").
fn words(lower: &str) -> Vec<String> {
    lower
        .split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '€'))
        .filter(|w| !w.is_empty())
        .map(fold)
        .collect()
}

fn fold(w: &str) -> String {
    w.chars()
        .map(|c| match c {
            'å' | 'ä' => 'a',
            'ö' => 'o',
            c => c,
        })
        .collect()
}

fn one_of(list: &[&str], w: &str) -> bool {
    list.iter().any(|x| fold(x) == w)
}

/// The classes a question (or a heading) asks, from its lower-cased text.
pub fn asks(lower: &str) -> Asks {
    let ws = words(lower);
    let mut out = 0;
    for (class, phrases) in PHRASES {
        if phrases.iter().any(|p| matches(&ws, p)) {
            out |= class;
        }
    }
    // "How long" says more than "when"; "how much does it cost" asks for
    // an amount, not a count.
    if out & HOW_LONG != 0 {
        out &= !WHEN;
    }
    if out & COST != 0 {
        out &= !HOW_MANY;
    }
    out
}

const MONTHS: &[&str] = &[
    "januari",
    "februari",
    "mars",
    "april",
    "maj",
    "juni",
    "juli",
    "augusti",
    "september",
    "oktober",
    "november",
    "december",
    "january",
    "february",
    "march",
    "may",
    "june",
    "july",
    "august",
    "october",
];

const SPANS: &[&str] = &[
    "minut", "timm", "timme", "dag", "dagar", "vecka", "veckor", "månad", "år", "minute", "hour",
    "day", "week", "month", "year", "halvdag", "half-day", "kvart",
];

const MONEY: &[&str] = &[
    "kr",
    "kronor",
    "sek",
    "euro",
    "eur",
    "€",
    "gratis",
    "kostnadsfri",
    "kostnadsfritt",
    "kostnadsfria",
    "avgiftsfri",
    "avgiftsfritt",
    "free",
    "licens",
    "licence",
    "license",
    "per månad",
    "per month",
    "per user",
    "per användare",
];

const COUNTS: &[&str] = &[
    "två", "tre", "fyra", "fem", "sex", "sju", "åtta", "nio", "tio", "two", "three", "four",
    "five", "six", "seven", "eight", "nine", "ten", "dussin", "dozen",
];

/// The kinds of fact a text holds, in the same bits: a date or year
/// ([`WHEN`]), a time span ([`HOW_LONG`]), an amount or "free" ([`COST`]),
/// a number ([`HOW_MANY`]).
pub fn holds(lower: &str) -> Asks {
    let ws = words(lower);
    let number = |w: &str| w.chars().next().is_some_and(|c| c.is_ascii_digit());
    let year =
        |w: &str| w.len() == 4 && w.starts_with("20") && w.chars().all(|c| c.is_ascii_digit());
    let mut out = 0;
    if ws.iter().any(|w| one_of(MONTHS, w) || year(w)) {
        out |= WHEN;
    }
    let span = |w: &str| {
        SPANS
            .iter()
            .map(|s| fold(s))
            .any(|s| w == s || (w.starts_with(&s) && w.chars().count() <= s.chars().count() + 3))
    };
    let amount = |w: &str| {
        one_of(
            &["några", "ett", "en", "a", "few", "par", "several", "flera"],
            w,
        ) || number(w)
    };
    if ws.windows(2).any(|p| amount(&p[0]) && span(&p[1])) {
        out |= HOW_LONG;
    }
    if MONEY.iter().any(|m| matches(&ws, m)) {
        out |= COST;
    }
    if ws
        .iter()
        .any(|w| (number(w) && !year(w)) || one_of(COUNTS, w))
    {
        out |= HOW_MANY;
    }
    out
}

/// The classes whose facts [`holds`] can find and that are rare enough
/// to tell sections apart (a number of some kind is in most sections).
pub const FACTS: Asks = WHEN | HOW_LONG | COST;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn question_words_of_both_languages_are_classed() {
        assert_eq!(asks("hur lång tid tar en behovsanalys ungefär?"), HOW_LONG);
        assert_eq!(asks("how long does a needs analysis take?"), HOW_LONG);
        assert_eq!(asks("hur lang tid tar det?"), HOW_LONG);
        assert_eq!(asks("när börjar maskinförordningen gälla?"), WHEN);
        assert_eq!(asks("nis2, who's covered?"), WHO);
        assert_eq!(asks("vad kostar det?"), COST);
        assert_eq!(asks("how many companies took part?"), HOW_MANY);
        assert_eq!(asks("var finns närmaste science park?"), WHERE);
        // "var" alone is "was" or "each" as often as "where".
        assert_eq!(asks("det var bra"), 0);
        assert_eq!(asks("vad är en behovsanalys?"), 0);
    }

    #[test]
    fn facts_of_each_kind_are_found_and_words_in_passing_are_not() {
        assert_ne!(
            holds("räkna med några timmar för en första genomgång.") & HOW_LONG,
            0
        );
        assert_eq!(
            holds("var tappar vi tid, pengar eller kunder i dag?") & HOW_LONG,
            0
        );
        assert_ne!(holds("it applies from 20 january 2027.") & WHEN, 0);
        assert_ne!(
            holds("deltagandet är kostnadsfritt för företagen.") & COST,
            0
        );
        assert_ne!(holds("a licence costs 30 € per user and month.") & COST, 0);
        assert_eq!(holds("ai kan hjälpa till med planering.") & FACTS, 0);
    }
}
