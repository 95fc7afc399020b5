//! Every text the dashboard shows, in Swedish and English, in one table
//! per page area: the project team reads Swedish, funders and the
//! follow-up researcher may read English.

use kraft_core::Lang;

/// (Swedish, English).
pub type Pair = (&'static str, &'static str);

pub fn t(lang: Lang, p: Pair) -> &'static str {
    match lang {
        Lang::Sv => p.0,
        Lang::En => p.1,
    }
}

pub const TITLE: Pair = ("Kraft – översikt", "Kraft – dashboard");
pub const FOLLOW_UP: Pair = ("Uppföljning", "Follow-up");
pub const KNOWLEDGE: Pair = ("Kunskap", "Knowledge");
pub const TICKETS: Pair = ("Ärenden", "Tickets");
pub const KB: Pair = ("Kunskapsbasen", "Knowledge base");
pub const LOG_OUT: Pair = ("Logga ut", "Log out");
pub const LOG_IN: Pair = ("Logga in", "Log in");
pub const TOKEN: Pair = ("Åtkomstnyckel", "Access token");
pub const WRONG: Pair = ("Fel nyckel. Försök igen.", "Wrong token. Try again.");
pub const TOO_MANY: Pair = (
    "För många försök. Vänta en minut.",
    "Too many attempts. Wait a minute.",
);
pub const FROM: Pair = ("Från", "From");
pub const TO: Pair = ("Till", "To");
pub const SHOW: Pair = ("Visa", "Show");
pub const PRINT: Pair = ("Utskriftsversion", "Printable version");
pub const DOWNLOAD: Pair = ("Ladda ner", "Download");
pub const METRIC: Pair = ("Mått", "Metric");
pub const AGGREGATES: Pair = (
    "Endast antal; inga användaruppgifter. \"Företag som nåtts\" räknar unika chattanvändare.",
    "Counts only; no user identifiers. \"Companies reached\" counts distinct chat users.",
);
pub const BY_PERIOD: Pair = ("Per vecka", "By week");
pub const BY_MONTH: Pair = ("Per månad", "By month");
pub const QUESTIONS_CHART: Pair = ("Frågor", "Questions");
pub const ANSWERED: Pair = ("besvarade", "answered");
pub const ABSTAINED: Pair = ("utan svar", "abstained");
pub const COMPANIES_CHART: Pair = ("Företag som nåtts", "Companies reached");
pub const ESCALATIONS_CHART: Pair = (
    "Rådgivare och behovsanalyser",
    "Advisers and needs analyses",
);
pub const ESCALATIONS: Pair = ("ärenden", "escalations");
pub const ANALYSES: Pair = ("behovsanalyser", "needs analyses");
pub const MATCHES: Pair = ("match-making", "match-making");
pub const FEEDBACK_CHART: Pair = ("Omdömen", "Feedback");
pub const REGION_CHART: Pair = ("Företag per region", "Companies by region");
pub const PLATFORM_CHART: Pair = ("Frågor per plattform", "Questions by platform");
pub const TOP_TOPICS: Pair = ("Mest citerade dokument", "Most-cited documents");
pub const ANSWERS: Pair = ("svar", "answers");
pub const NONE: Pair = ("(inga under perioden)", "(none in this period)");
pub const PERIOD: Pair = ("Period", "Period");

pub const GAPS: Pair = ("Kunskapsluckor", "Knowledge gaps");
pub const GAPS_NOTE: Pair = (
    "Frågor som boten inte kunde besvara eller som fick 👎, grupperade. Exemplen är maskerade.",
    "Questions the bot could not answer or that got 👎, grouped. Examples are masked.",
);
pub const COUNT: Pair = ("Antal", "Count");
pub const EXAMPLES: Pair = ("Exempel", "Examples");
pub const DOWN_PER_DOC: Pair = ("👎 per dokument", "👎 per document");
pub const DOCUMENT: Pair = ("Dokument", "Document");
pub const NEVER_CITED: Pair = (
    "Aldrig källa till ett svar",
    "Never the source of an answer",
);
pub const NEVER_CITED_NOTE: Pair = (
    "Dokument som inte var första källa till något svar under perioden.",
    "Documents that were not the first source of any answer in this period.",
);
pub const STALE: Pair = ("Granskningsdatum passerat", "Past their review date");
pub const BROKEN_LINKS: Pair = ("Trasiga interna länkar", "Broken internal links");
pub const SOURCES: Pair = ("Källänkar", "Source links");
pub const CHECK_SOURCES: Pair = ("Kontrollera källänkarna nu", "Check the source links now");
pub const SOURCES_NOTE: Pair = (
    "Varje dokuments källa hämtas med tidsgräns; resultatet visas här.",
    "Each document's source is fetched with a timeout; the result shows here.",
);
pub const STATUS: Pair = ("Status", "Status");
pub const ALL_GOOD: Pair = ("Inget att åtgärda.", "Nothing to fix.");

pub const OPEN_TICKETS: Pair = ("Öppna ärenden", "Open tickets");
pub const WAITING: Pair = ("väntar", "waiting");
pub const ACTIVE: Pair = ("pågår", "active");
pub const REASON: Pair = ("Anledning", "Reason");
pub const PLATFORM: Pair = ("Plattform", "Platform");
pub const OPENED: Pair = ("Öppnat", "Opened");
pub const WAITED: Pair = ("Väntetid", "Waiting time");
pub const CLAIMED: Pair = ("Tagit av rådgivare", "Claimed by an adviser");
pub const REMINDERS: Pair = ("Påminnelser", "Reminders");
pub const YES: Pair = ("ja", "yes");
pub const NO: Pair = ("nej", "no");
pub const BY_REASON: Pair = ("Per anledning", "By reason");
pub const NO_TICKET_TEXT: Pair = (
    "Utan meddelandetext; ärendet läses i rådgivargruppen eller med kraft tickets.",
    "Without message text; read the ticket in the adviser room or with kraft tickets.",
);

pub const KIND: Pair = ("Typ", "Kind");
pub const LANGUAGE: Pair = ("Språk", "Language");
pub const REVIEWED: Pair = ("Granskad", "Reviewed");
pub const SOURCE: Pair = ("Källa", "Source");
pub const NOT_FOUND: Pair = ("Sidan finns inte.", "No such page.");

/// The follow-up report's metrics, by key (labels of `kraft_core::report`).
pub fn metric(lang: Lang, key: &str, english: &'static str) -> &'static str {
    let sv = match key {
        "companies" => "Företag som nåtts (unika användare)",
        "conversations" => "Samtal",
        "questions" => "Frågor",
        "answered" => "… besvarade från kunskapsbasen",
        "abstained" => "… utan svar (\"vet inte\")",
        "analyses_started" => "Behovsanalyser påbörjade",
        "analyses_completed" => "Behovsanalyser slutförda",
        "matchmaking" => "Förfrågningar om match-making",
        "escalations" => "Ärenden till rådgivare",
        "median_first_reply_min" => "Mediantid till rådgivarens första svar (min)",
        "feedback_up" => "Omdömen 👍",
        "feedback_down" => "Omdömen 👎",
        "feedback_ratio" => "Andel 👍 av omdömena (%)",
        "satisfied" => "Efter en rådgivare: nöjd 😊",
        "so_so" => "Efter en rådgivare: sådär 😐",
        "dissatisfied" => "Efter en rådgivare: missnöjd 🙁",
        _ => english,
    };
    t(lang, (sv, english))
}

/// A report column ("all", a platform, a region) as people name it.
pub fn column(lang: Lang, key: &str) -> String {
    let p: Pair = match key {
        "all" => ("alla", "all"),
        "telegram" => ("Telegram", "Telegram"),
        "discord" => ("Discord", "Discord"),
        "terminal" => ("terminal", "terminal"),
        "vastmanland" => ("Västmanland", "Västmanland"),
        "sormland" => ("Sörmland", "Sörmland"),
        "other" => ("övriga län", "other counties"),
        "unknown" => ("okänd region", "region unknown"),
        other => return other.to_string(),
    };
    t(lang, p).to_string()
}
