//! Everything a user or adviser reads, in Swedish and English (the needs
//! analysis and match-making texts in their own modules below). Kept in one
//! place so wording is reviewed together and both languages stay in step.

use crate::model::Lang;

pub fn pick<'a>(lang: Lang, sv: &'a str, en: &'a str) -> &'a str {
    match lang {
        Lang::Sv => sv,
        Lang::En => en,
    }
}

pub fn welcome(lang: Lang, retention_days: i64) -> String {
    match lang {
        Lang::Sv => format!(
            "Hej! Jag är Kraft, assistent för Kraftsamling AI Mälardalen – projektet som hjälper små och medelstora företag i Västmanland och Sörmland att komma igång med AI.\n\n\
             Fråga mig till exempel:\n\
             • Vad är en behovsanalys och vad kostar den?\n\
             • Vilka evenemang kommer härnäst? (/events)\n\
             • Hur kan vi använda AI för offerter?\n\n\
             Jag svarar utifrån projektets kunskapsbas och visar alltid källor. Räcker inte jag till kan du prata med en rådgivare (/human).\n\n\
             Integritet: jag sparar dina meddelanden i högst {retention_days} dagar för att kunna svara och följa upp, och delar dem bara med projektets rådgivare när du får hjälp av en. Skriv /forget för att radera allt om dig."
        ),
        Lang::En => format!(
            "Hi! I'm Kraft, the assistant of Kraftsamling AI Mälardalen – the programme that helps small and medium-sized companies in Västmanland and Sörmland get started with AI.\n\n\
             Ask me, for example:\n\
             • What is a needs analysis and what does it cost?\n\
             • Which events are coming up? (/events)\n\
             • How can we use AI for quotes?\n\n\
             I answer from the programme's knowledge base and always show sources. If I'm not enough, you can talk to an adviser (/human).\n\n\
             Privacy: I keep your messages for at most {retention_days} days so I can answer and follow up, and share them only with the programme's advisers when one helps you. Send /forget to delete everything about you."
        ),
    }
}

pub fn help(lang: Lang) -> String {
    let (intro, outro) = match lang {
        Lang::Sv => (
            "Skriv din fråga med egna ord, på svenska eller engelska. Kommandon:",
            "Under varje svar kan du trycka 👍 eller 👎.",
        ),
        Lang::En => (
            "Write your question in your own words, in Swedish or English. Commands:",
            "Under each answer you can press 👍 or 👎.",
        ),
    };
    format!("{intro}\n{}\n{outro}", crate::commands::help_lines(lang))
}

pub fn unknown_command(lang: Lang, cmd: &str) -> String {
    let known = crate::commands::names(lang);
    match lang {
        Lang::Sv => format!(
            "Kommandot {cmd} känner jag inte till. Jag kan {known} – eller skriv bara din fråga."
        ),
        Lang::En => {
            format!("I don't know the command {cmd}. I know {known} – or just type your question.")
        }
    }
}

/// Shown once on first contact, whatever the first message was, and on
/// /privacy.
pub fn privacy(lang: Lang, retention_days: i64) -> String {
    match lang {
        Lang::Sv => format!(
            "🔒 Integritet: jag sparar dina meddelanden i högst {retention_days} dagar för att kunna svara och följa upp, och delar dem bara med projektets rådgivare när du får hjälp av en. Inga namn sparas. /forget raderar allt om dig, /privacy visar detta igen."
        ),
        Lang::En => format!(
            "🔒 Privacy: I keep your messages for at most {retention_days} days so I can answer and follow up, and share them only with the programme's advisers when one helps you. No names are stored. /forget deletes everything about you, /privacy shows this again."
        ),
    }
}

/// /lang without a valid choice.
pub fn lang_choose(lang: Lang) -> &'static str {
    pick(
        lang,
        "Vilket språk vill du att jag svarar på? Du kan också skriva /lang sv eller /lang en. En tydlig fråga på det andra språket besvaras ändå på det språket.",
        "Which language should I answer in? You can also type /lang sv or /lang en. A clear question in the other language is still answered in that language.",
    )
}

/// After /lang or a language button, in the chosen language.
pub fn lang_set(lang: Lang) -> &'static str {
    pick(
        lang,
        "Jag svarar på svenska från och med nu.",
        "I'll answer in English from now on.",
    )
}

pub fn btn_swedish() -> &'static str {
    "Svenska"
}

pub fn btn_english() -> &'static str {
    "English"
}

pub fn empty(lang: Lang) -> &'static str {
    pick(
        lang,
        "Jag fick inget att läsa. Skriv din fråga som text, till exempel \"Vad är en behovsanalys?\"",
        "I received nothing I can read. Please type your question, for example \"What is a needs analysis?\"",
    )
}

pub fn too_long(lang: Lang, got: usize, max: usize) -> String {
    match lang {
        Lang::Sv => format!(
            "Ditt meddelande är för långt för mig ({got} tecken; högst {max}). Korta ned det till själva frågan, så svarar jag gärna."
        ),
        Lang::En => format!(
            "Your message is too long for me ({got} characters; at most {max}). Please shorten it to the question itself and I'll gladly answer."
        ),
    }
}

pub fn greeting(lang: Lang) -> &'static str {
    pick(
        lang,
        "Hej! Vad vill du veta om AI i ditt företag eller om Kraftsamling AI Mälardalen? (/help visar vad jag kan.)",
        "Hi! What would you like to know about AI in your company or about Kraftsamling AI Mälardalen? (/help shows what I can do.)",
    )
}

pub fn thanks(lang: Lang) -> &'static str {
    pick(
        lang,
        "Varsågod! Hör av dig om du undrar något mer.",
        "You're welcome! Just ask if there's anything else.",
    )
}

pub fn boundary(lang: Lang) -> &'static str {
    pick(
        lang,
        "Jag hjälper gärna till, men låt oss hålla en vänlig ton. Vad vill du veta om AI i ditt företag? Vill du hellre prata med en människa, skriv /human.",
        "I'm happy to help, but let's keep it friendly. What would you like to know about AI in your company? If you'd rather talk to a person, send /human.",
    )
}

pub fn off_topic(lang: Lang) -> &'static str {
    pick(
        lang,
        "Det ligger utanför det jag kan hjälpa till med. Jag svarar på frågor om AI i små och medelstora företag och om Kraftsamling AI Mälardalen – till exempel behovsanalyser, evenemang och stöd.",
        "That's outside what I can help with. I answer questions about AI in small and medium-sized companies and about Kraftsamling AI Mälardalen – for example needs analyses, events and support.",
    )
}

pub fn abstain(lang: Lang) -> &'static str {
    pick(
        lang,
        "Det vet jag tyvärr inte – jag hittar inget säkert svar i projektets kunskapsbas, och jag vill inte gissa.\n\
         Prova att formulera om frågan med andra ord, eller fråga om något närliggande (t.ex. behovsanalys, evenemang, finansiering). Du kan också prata med en rådgivare.",
        "I'm afraid I don't know – I can't find a reliable answer in the programme's knowledge base, and I won't guess.\n\
         Try rephrasing the question, or ask about something related (e.g. needs analysis, events, funding). You can also talk to an adviser.",
    )
}

pub fn sources_heading(lang: Lang) -> &'static str {
    pick(lang, "Källor:", "Sources:")
}

pub fn source_in_swedish(lang: Lang) -> &'static str {
    pick(lang, "", "(The source is in Swedish.)")
}

/// Leads the list of data a use case needs, in an answer about it.
pub fn data_needed(lang: Lang) -> &'static str {
    pick(lang, "Data som behövs:", "Data needed:")
}

pub fn next_step(lang: Lang) -> &'static str {
    pick(
        lang,
        "Fråga gärna vidare, eller skriv /human för att prata med en rådgivare.",
        "Feel free to ask a follow-up, or send /human to talk to an adviser.",
    )
}

pub fn btn_up() -> &'static str {
    "👍"
}

pub fn btn_down() -> &'static str {
    "👎"
}

pub fn slow_down(lang: Lang) -> &'static str {
    pick(
        lang,
        "Du skickar många meddelanden på kort tid. Vänta gärna en minut – sedan svarar jag igen. Meddelanden som kommer under tiden hoppar jag över.",
        "You are sending a lot of messages in a short time. Please wait a minute and I'll answer again. Messages sent meanwhile are skipped.",
    )
}

pub fn match_how(lang: Lang) -> &'static str {
    pick(
        lang,
        "Vad behöver ni hjälp med? Skriv till exempel: \"Vem kan hjälpa oss med kvalitetskontroll? Vi finns i Eskilstuna.\"",
        "What do you need help with? For example: \"Who can help us with quality inspection? We are in Eskilstuna.\"",
    )
}

pub fn btn_human(lang: Lang) -> &'static str {
    pick(lang, "Prata med en rådgivare", "Talk to an adviser")
}

pub fn btn_cancel_ticket(lang: Lang) -> &'static str {
    pick(lang, "Avbryt ärendet", "Cancel the request")
}

pub fn btn_forget_yes(lang: Lang) -> &'static str {
    pick(lang, "Ja, radera allt", "Yes, delete everything")
}

pub fn btn_forget_no(lang: Lang) -> &'static str {
    pick(lang, "Nej, behåll", "No, keep it")
}

pub fn thanks_up(lang: Lang) -> &'static str {
    pick(lang, "Tack för återkopplingen!", "Thanks for the feedback!")
}

pub fn thanks_down(lang: Lang) -> &'static str {
    pick(
        lang,
        "Tack – det hjälper oss att bli bättre. Ställ gärna frågan på ett annat sätt; räcker jag inte till kopplar jag in en rådgivare.",
        "Thanks – that helps us improve. Feel free to ask again in other words; if I'm still not enough, I'll bring in an adviser.",
    )
}

pub fn stale_button(lang: Lang) -> &'static str {
    pick(
        lang,
        "Den knappen gäller inte längre.",
        "That button is no longer valid.",
    )
}

pub fn forget_confirm(lang: Lang) -> &'static str {
    pick(
        lang,
        "Vill du att jag raderar allt som sparats om dig – dina meddelanden, mina svar, återkoppling och eventuella ärenden hos rådgivarna? Det går inte att ångra.",
        "Do you want me to delete everything stored about you – your messages, my answers, feedback and any requests with the advisers? This cannot be undone.",
    )
}

/// The `/forget` reply: exactly what was deleted from Kraft's database.
/// What was posted on the adviser side follows (`redaction_report`).
pub fn forget_report(lang: Lang, f: &crate::store::Forgotten) -> String {
    let mut lines: Vec<String> = Vec::new();
    let sv = lang == Lang::Sv;
    let n = |count: usize, one_sv: &str, many_sv: &str, one_en: &str, many_en: &str| -> String {
        let word = match (sv, count == 1) {
            (true, true) => one_sv,
            (true, false) => many_sv,
            (false, true) => one_en,
            (false, false) => many_en,
        };
        format!("• {count} {word}")
    };
    lines.push(n(
        f.messages,
        "meddelande (ditt eller mitt)",
        "meddelanden (dina och mina)",
        "message (yours or mine)",
        "messages (yours and mine)",
    ));
    if f.tickets > 0 {
        lines.push(n(
            f.tickets,
            "ärende hos rådgivarna",
            "ärenden hos rådgivarna",
            "request to the advisers",
            "requests to the advisers",
        ));
    }
    if f.analyses > 0 {
        lines.push(pick(lang, "• din behovsanalys", "• your needs analysis").to_string());
    }
    if f.feedback > 0 {
        lines.push(n(
            f.feedback,
            "omdöme (👍/👎)",
            "omdömen (👍/👎)",
            "rating (👍/👎)",
            "ratings (👍/👎)",
        ));
    }
    if f.identities > 1 {
        lines.push(n(
            f.identities - 1,
            "samtal med mig i en grupp",
            "samtal med mig i grupper",
            "conversation with me in a group",
            "conversations with me in groups",
        ));
    }
    let head = pick(
        lang,
        "Klart. Det här om dig är raderat ur min databas:",
        "Done. This about you has been deleted from my database:",
    );
    let tail = pick(
        lang,
        "Kvar finns bara anonym statistik som inte går att koppla till dig. Skriver du igen börjar vi från början.",
        "All that remains is anonymous statistics that cannot be linked to you. If you write again, we start from scratch.",
    );
    format!("{head}\n{}\n{tail}", lines.join("\n"))
}

/// How deleting what was posted on the adviser side went, per ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redacted {
    /// The ticket's topic or thread, with everything in it.
    Thread,
    /// Kraft's messages about the ticket (a group without topics).
    Messages(usize),
    /// Could not be deleted, and why (the advisers were asked to).
    Failed(CannotRedact),
}

/// Why the bot could not delete what it posted about a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CannotRedact {
    /// Telegram lets a bot delete its group messages for 48 hours only.
    TooOld,
    /// The bot lacks the right (or is no longer in the adviser room).
    NoRight,
    /// The platform could not be reached.
    Unreachable,
    /// The platform refused for another reason.
    Refused,
    /// Nothing of it is recorded to delete.
    NotRecorded,
    /// The adviser room is on another platform than the one the request
    /// came through.
    OtherPlatform,
}

impl CannotRedact {
    /// A short label for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            CannotRedact::TooOld => "too_old",
            CannotRedact::NoRight => "no_right",
            CannotRedact::Unreachable => "unreachable",
            CannotRedact::Refused => "refused",
            CannotRedact::NotRecorded => "not_recorded",
            CannotRedact::OtherPlatform => "other_platform",
        }
    }

    pub fn text(self, lang: Lang) -> &'static str {
        match self {
            CannotRedact::TooOld => pick(
                lang,
                "Telegram låter en bot radera sina meddelanden i högst 48 timmar",
                "Telegram lets a bot delete its messages for 48 hours only",
            ),
            CannotRedact::NoRight => pick(
                lang,
                "boten får inte radera där",
                "the bot is not allowed to delete there",
            ),
            CannotRedact::Unreachable => pick(
                lang,
                "plattformen gick inte att nå",
                "the platform could not be reached",
            ),
            CannotRedact::Refused => pick(lang, "plattformen vägrade", "the platform refused"),
            CannotRedact::NotRecorded => pick(
                lang,
                "boten vet inte vilka meddelanden det gäller",
                "the bot does not know which messages they are",
            ),
            CannotRedact::OtherPlatform => pick(
                lang,
                "rådgivarnas tråd finns på en annan plattform",
                "the advisers' thread is on another platform",
            ),
        }
    }
}

/// The adviser-side part of the `/forget` reply.
pub fn redaction_report(lang: Lang, done: &[(i64, Redacted)]) -> String {
    let mut s = pick(lang, "Hos rådgivarna:", "With the advisers:").to_string();
    for (t, r) in done {
        s.push_str("\n• ");
        s.push_str(&match (lang, r) {
            (Lang::Sv, Redacted::Thread) => {
                format!("ärende #{t}: tråden med det jag skrev om dig är raderad.")
            }
            (Lang::En, Redacted::Thread) => {
                format!("request #{t}: the thread with what I posted about you is deleted.")
            }
            (Lang::Sv, Redacted::Messages(n)) => {
                format!("ärende #{t}: mina {n} meddelanden om dig är raderade.")
            }
            (Lang::En, Redacted::Messages(n)) => {
                format!("request #{t}: my {n} messages about you are deleted.")
            }
            (Lang::Sv, Redacted::Failed(why)) => format!(
                "ärende #{t}: det jag skrev om dig kunde inte raderas ({}); rådgivarna har ombetts radera det.",
                why.text(lang)
            ),
            (Lang::En, Redacted::Failed(why)) => format!(
                "request #{t}: what I posted about you could not be deleted ({}); the advisers have been asked to delete it.",
                why.text(lang)
            ),
        });
    }
    s
}

/// For the advisers when the bot could not delete a ticket's posts.
pub fn redaction_failed_note(lang: Lang, id: i64, why: CannotRedact) -> String {
    let why = why.text(lang);
    match lang {
        Lang::Sv => format!(
            "🗑 Ärende #{id} raderades på användarens begäran (/forget), men boten kunde inte radera sina inlägg om det ({why}). Radera ärendets tråd eller meddelanden för hand."
        ),
        Lang::En => format!(
            "🗑 Request #{id} was deleted at the user's request (/forget), but the bot could not delete its posts about it ({why}). Please delete the request's thread or messages by hand."
        ),
    }
}

pub fn forget_kept(lang: Lang) -> &'static str {
    pick(lang, "Okej, inget raderades.", "OK, nothing was deleted.")
}

pub fn forget_pending_hint(lang: Lang) -> &'static str {
    pick(
        lang,
        "Svara \"ja\" för att radera allt, eller \"nej\" för att behålla.",
        "Reply \"yes\" to delete everything, or \"no\" to keep it.",
    )
}

pub fn ticket_opened(lang: Lang, id: i64, why: &str) -> String {
    match lang {
        Lang::Sv => format!(
            "{why}Jag har skickat din fråga till projektets rådgivare (ärende #{id}). En rådgivare svarar dig här i chatten så snart som möjligt. Under tiden kan du fortsätta fråga mig."
        ),
        Lang::En => format!(
            "{why}I've passed your question to the programme's advisers (request #{id}). An adviser will reply here in this chat as soon as possible. Meanwhile you can keep asking me."
        ),
    }
}

/// A ticket opened outside the advisers' opening hours.
pub fn outside_hours(lang: Lang, next: &str) -> String {
    match lang {
        Lang::Sv => format!(
            "🕒 Rådgivarna är inte på plats just nu. Räkna med svar tidigast {next}."
        ),
        Lang::En => format!(
            "🕒 The advisers are not at work right now. Expect an answer from {next} at the earliest."
        ),
    }
}

/// Where a user in a public chat (a group, a server channel) finds the
/// adviser conversation: a link to follow (Telegram) or their DMs.
fn private_place(lang: Lang, link: Option<&str>) -> String {
    match (lang, link) {
        (Lang::Sv, Some(l)) => format!("Öppna {l} och tryck Starta, så fortsätter vi där."),
        (Lang::En, Some(l)) => format!("Open {l} and press Start to continue there."),
        (Lang::Sv, None) => "Titta i dina direktmeddelanden från mig.".to_string(),
        (Lang::En, None) => "Look for my direct message to you.".to_string(),
    }
}

/// A ticket opened from a public chat: the chat gets only this pointer;
/// the adviser conversation happens privately.
pub fn ticket_opened_elsewhere(lang: Lang, id: i64, why: &str, link: Option<&str>) -> String {
    let place = private_place(lang, link);
    match lang {
        Lang::Sv => format!(
            "{why}Jag har skickat din fråga till projektets rådgivare (ärende #{id}). Samtalet med rådgivaren fortsätter i ett privat meddelande, inte här. {place}"
        ),
        Lang::En => format!(
            "{why}I've passed your question to the programme's advisers (request #{id}). Your conversation with the adviser is continued in a private message, not here. {place}"
        ),
    }
}

/// `already_waiting`, asked again from a public chat.
pub fn already_waiting_elsewhere(lang: Lang, id: i64, link: Option<&str>) -> String {
    let place = private_place(lang, link);
    match lang {
        Lang::Sv => format!(
            "Ditt ärende #{id} ligger redan hos rådgivarna. Samtalet fortsätter i ett privat meddelande. {place}"
        ),
        Lang::En => format!(
            "Your request #{id} is already with the advisers. It is continued in a private message. {place}"
        ),
    }
}

/// The receipt in a public chat while an adviser owns the conversation:
/// the adviser answers privately, never here.
pub fn relayed_elsewhere(lang: Lang, link: Option<&str>) -> String {
    let place = private_place(lang, link);
    match lang {
        Lang::Sv => format!(
            "{} Rådgivaren svarar i ett privat meddelande. {place}",
            relayed(lang)
        ),
        Lang::En => format!(
            "{} The adviser replies in a private message. {place}",
            relayed(lang)
        ),
    }
}

/// The first message in the private place an adviser conversation moved to.
pub fn continued_here(lang: Lang, id: i64) -> String {
    match lang {
        Lang::Sv => format!(
            "Här fortsätter ditt ärende #{id} med projektets rådgivare. En rådgivare svarar dig här så snart som möjligt; under tiden kan du fortsätta fråga mig."
        ),
        Lang::En => format!(
            "Your request #{id} with the programme's advisers continues here. An adviser will reply to you here as soon as possible; meanwhile you can keep asking me."
        ),
    }
}

/// A `/start` link that is not this user's, or whose request is closed.
pub fn private_link_invalid(lang: Lang) -> &'static str {
    pick(
        lang,
        "Den här länken gäller inte för dig, eller så är ärendet redan avslutat. Skriv /human om du vill prata med en rådgivare.",
        "This link is not valid for you, or the request is already closed. Type /human to talk to an adviser.",
    )
}

/// For the advisers, in the ticket's thread.
pub fn moved_private_note(lang: Lang, id: i64) -> String {
    match lang {
        Lang::Sv => {
            format!("🔒 #{id}: användaren fortsätter i en privat chatt; dina svar går dit.")
        }
        Lang::En => {
            format!("🔒 #{id}: the user continues in a private chat; your replies go there.")
        }
    }
}

/// For the advisers: the user already had another open request.
pub fn merged_note(lang: Lang, id: i64, into: i64) -> String {
    match lang {
        Lang::Sv => format!("🔒 #{id} avslutat: användaren fortsätter i ärende #{into}."),
        Lang::En => format!("🔒 #{id} closed: the user continues in request #{into}."),
    }
}

/// The per-person daily ticket limit is reached.
pub fn ticket_limit(lang: Lang, max: i64) -> String {
    match lang {
        Lang::Sv => format!(
            "Du har redan skickat så många ärenden till rådgivarna som går på ett dygn ({max} st), så jag kan inte öppna ett till just nu. Försök gärna igen i morgon – under tiden svarar jag på dina frågor så gott jag kan."
        ),
        Lang::En => format!(
            "You have already sent as many requests to the advisers as one day allows ({max}), so I can't open another one right now. Please try again tomorrow – meanwhile I'll answer your questions as best I can."
        ),
    }
}

pub fn why_low_confidence(lang: Lang) -> &'static str {
    pick(
        lang,
        "Jag har inte kunnat svara säkert på dina senaste frågor. ",
        "I haven't been able to answer your last questions reliably. ",
    )
}

pub fn why_topic(lang: Lang) -> &'static str {
    pick(
        lang,
        "Det här är något en rådgivare kan hjälpa dig med personligen. ",
        "This is something an adviser can help you with in person. ",
    )
}

pub fn why_downvote(lang: Lang) -> &'static str {
    pick(
        lang,
        "Mitt förra svar hjälpte inte, så jag tar in en människa. ",
        "My last answer didn't help, so I'm bringing in a person. ",
    )
}

pub fn already_waiting(lang: Lang, id: i64) -> String {
    match lang {
        Lang::Sv => format!("Ditt ärende #{id} ligger redan hos rådgivarna; de svarar här i chatten. Vill du lägga till något, skriv det bara."),
        Lang::En => format!("Your request #{id} is already with the advisers; they will reply here. If you want to add something, just write it."),
    }
}

pub fn waiting_note(lang: Lang, id: i64) -> String {
    match lang {
        Lang::Sv => format!("(Ärende #{id} väntar på en rådgivare; din fråga finns med.)"),
        Lang::En => {
            format!("(Request #{id} is waiting for an adviser; your question is included.)")
        }
    }
}

pub fn relayed(lang: Lang) -> &'static str {
    pick(lang, "✓ Skickat till rådgivaren.", "✓ Sent to the adviser.")
}

pub fn ticket_cancelled(lang: Lang) -> &'static str {
    pick(
        lang,
        "Okej, jag har avbrutit ärendet. Du pratar med mig, Kraft, igen.",
        "OK, I've cancelled the request. You're talking to me, Kraft, again.",
    )
}

pub fn adviser_joined(lang: Lang, adviser: &str) -> String {
    match lang {
        Lang::Sv => format!("Rådgivaren {adviser} har tagit över samtalet. Det du skriver nu går direkt till {adviser}."),
        Lang::En => format!("Adviser {adviser} has taken over the conversation. What you write now goes straight to {adviser}."),
    }
}

pub fn adviser_says(lang: Lang, adviser: &str, text: &str) -> String {
    match lang {
        Lang::Sv => format!("💬 {adviser} (rådgivare): {text}"),
        Lang::En => format!("💬 {adviser} (adviser): {text}"),
    }
}

pub fn resolved(lang: Lang) -> &'static str {
    pick(
        lang,
        "Rådgivaren har avslutat ärendet. Du pratar med mig, Kraft, igen – fråga gärna vidare.\nHur nöjd är du med hjälpen du fick?",
        "The adviser has closed the request. You're talking to me, Kraft, again – feel free to ask more.\nHow satisfied are you with the help you got?",
    )
}

/// The one-tap satisfaction question under "the adviser has closed the
/// request".
pub fn satisfaction_buttons(lang: Lang, ticket: i64) -> Vec<crate::model::Button> {
    use crate::buttons::{ButtonId, Score};
    [
        (Score::Good, "😊 Nöjd", "😊 Satisfied"),
        (Score::Ok, "😐 Sådär", "😐 So-so"),
        (Score::Bad, "🙁 Missnöjd", "🙁 Dissatisfied"),
    ]
    .into_iter()
    .map(|(score, sv, en)| ButtonId::Satisfaction { score, ticket }.button(pick(lang, sv, en)))
    .collect()
}

pub fn satisfaction_thanks(lang: Lang) -> &'static str {
    pick(
        lang,
        "Tack! Det hjälper projektet att bli bättre.",
        "Thank you! It helps the programme get better.",
    )
}

pub fn no_events(lang: Lang) -> &'static str {
    pick(
        lang,
        "Jag hittar inga kommande evenemang i kunskapsbasen just nu. Håll utkik – eller fråga en rådgivare (/human).",
        "I can't find any upcoming events in the knowledge base right now. Stay tuned – or ask an adviser (/human).",
    )
}

pub fn events_heading(lang: Lang) -> &'static str {
    pick(lang, "Kommande evenemang:", "Upcoming events:")
}

pub fn example_marker(lang: Lang) -> &'static str {
    pick(lang, " (exempel)", " (example)")
}

pub fn register(lang: Lang) -> &'static str {
    pick(lang, "Anmälan", "Registration")
}

pub fn trouble(lang: Lang) -> &'static str {
    pick(
        lang,
        "Något gick fel hos mig just nu, och jag vill inte svara fel. Försök igen om en liten stund, eller skriv /human.",
        "Something went wrong on my side just now, and I don't want to answer wrongly. Please try again shortly, or send /human.",
    )
}

// ---- adviser-facing ----

/// A ticket's reason in a word or two, for its topic or thread name.
pub fn reason_short(lang: Lang, reason: &str) -> String {
    let (sv, en) = match reason {
        "user_request" => ("vill prata med en person", "asked for a person"),
        "low_confidence" => ("boten osäker", "bot unsure"),
        "downvote" => ("👎 och frågade vidare", "👎 and asked again"),
        "introduction" => ("introduktion", "introduction"),
        other => {
            let topic = other.strip_prefix("topic:").unwrap_or(other);
            return topic.chars().take(40).collect();
        }
    };
    pick(lang, sv, en).to_string()
}

/// A region key as people write it.
pub fn region_name(lang: Lang, region: &str) -> &'static str {
    match region {
        "vastmanland" => "Västmanland",
        "sormland" => "Sörmland",
        _ => pick(lang, "annat län", "other county"),
    }
}

pub fn reason_label(lang: Lang, reason: &str) -> String {
    let (sv, en) = match reason {
        "user_request" => (
            "användaren bad om en människa",
            "the user asked for a person",
        ),
        "low_confidence" => (
            "boten kunde inte svara säkert två gånger i rad",
            "the bot could not answer reliably twice in a row",
        ),
        "downvote" => (
            "användaren gav 👎 och frågade vidare",
            "the user gave 👎 and asked again",
        ),
        "introduction" => (
            "användaren vill bli introducerad till en aktör (förslagen nedan)",
            "the user asks for an introduction (suggestions below)",
        ),
        other => {
            let topic = other.strip_prefix("topic:").unwrap_or(other);
            return match lang {
                Lang::Sv => format!("ämne som kräver en person: {topic}"),
                Lang::En => format!("topic that needs a person: {topic}"),
            };
        }
    };
    pick(lang, sv, en).to_string()
}

pub fn language_name(adviser: Lang, of: Lang) -> &'static str {
    match (adviser, of) {
        (Lang::Sv, Lang::Sv) => "svenska",
        (Lang::Sv, Lang::En) => "engelska",
        (Lang::En, Lang::Sv) => "Swedish",
        (Lang::En, Lang::En) => "English",
    }
}

pub fn minutes(lang: Lang, mins: i64) -> String {
    match (lang, mins) {
        (_, m) if m < 1 => pick(lang, "under en minut", "less than a minute").to_string(),
        (Lang::Sv, m) if m < 120 => format!("{m} min"),
        (Lang::En, m) if m < 120 => format!("{m} min"),
        (Lang::Sv, m) => format!("{} h {} min", m / 60, m % 60),
        (Lang::En, m) => format!("{} h {} min", m / 60, m % 60),
    }
}

pub fn text_only(lang: Lang) -> &'static str {
    pick(
        lang,
        "Jag kan bara läsa text än så länge. Skriv din fråga, så svarar jag.",
        "I can only read text for now. Type your question and I'll answer.",
    )
}

pub fn handed_back(lang: Lang) -> &'static str {
    pick(
        lang,
        "Rådgivaren har lämnat tillbaka samtalet till mig, Kraft. Fråga gärna vidare här – och skriv /human om du vill nå en rådgivare igen.",
        "The adviser has handed the conversation back to me, Kraft. Feel free to ask more here – and type /human to reach an adviser again.",
    )
}

/// The note every adviser sees after a ticket button or command.
pub fn ticket_op_done(l: Lang, op: crate::buttons::TicketOp, id: i64, by: &str) -> String {
    use crate::buttons::TicketOp;
    match op {
        TicketOp::Claim => format!("✅ #{id} {} {by}", pick(l, "tas av", "taken by")),
        TicketOp::Resolve => format!("☑️ #{id} {} {by}", pick(l, "avslutat av", "closed by")),
        TicketOp::Handback => format!(
            "↩️ #{id} {} {by}",
            pick(l, "tillbaka till boten av", "handed back to the bot by")
        ),
    }
}

/// A desk error as the adviser who caused it reads it.
pub fn desk_error(l: Lang, e: &crate::desk::DeskError) -> String {
    use crate::desk::DeskError;
    match e {
        DeskError::ClaimedByOther { ticket, by } => format!(
            "⚠️ #{ticket} {} {by}",
            pick(l, "har redan tagits av", "is already taken by")
        ),
        DeskError::Closed(t) => format!(
            "⚠️ #{t} {}",
            pick(
                l,
                "är avslutat; användaren fick inte detta.",
                "is closed; the user did not get this."
            )
        ),
        DeskError::NotFound(t) => format!(
            "⚠️ #{t} {}",
            pick(l, "finns inte (raderat?).", "does not exist (deleted?).")
        ),
        DeskError::TooLong(n, max) => format!(
            "⚠️ {} ({n} > {max})",
            pick(l, "För långt, skicka i delar", "Too long, send it in parts")
        ),
        other => format!("⚠️ {other}"),
    }
}

/// The first lines of a hand-off summary: why, where, in which language,
/// and how long the user has waited.
pub fn handoff_header(
    l: Lang,
    reason: &str,
    platform: &str,
    user_lang: Lang,
    waited: i64,
) -> String {
    format!(
        "{}: {}\n{}: {platform} · {}\n{}: {}\n",
        pick(l, "Anledning", "Reason"),
        reason_label(l, reason),
        pick(l, "Kanal", "Channel"),
        language_name(l, user_lang),
        pick(l, "Användaren har väntat", "User has waited"),
        minutes(l, waited),
    )
}

pub fn handoff_questions(l: Lang) -> &'static str {
    pick(l, "Frågor:\n", "Questions:\n")
}

pub fn handoff_last_answer(l: Lang, outcome: &str, confidence: f32, text: &str) -> String {
    format!(
        "{} ({outcome}, {} {confidence:.2}):\n{text}\n",
        pick(l, "Botens senaste svar", "The bot's last answer"),
        pick(l, "säkerhet", "confidence"),
    )
}

/// The advisers' note about a new ticket; `in_group`: the user wrote in a
/// group and has not opened the private chat yet.
pub fn new_request_note(l: Lang, id: i64, summary: &str, in_group: bool) -> String {
    let group = if in_group {
        pick(
            l,
            "🔒 Skrivet i en grupp: dina svar når användaren när hen har öppnat den privata chatten med länken hen fick.\n",
            "🔒 Written in a group: your replies reach the user once they have opened the private chat with the link they were given.\n",
        )
    } else {
        ""
    };
    format!(
        "🆘 {} #{id}\n{summary}{group}",
        pick(l, "Nytt ärende", "New request")
    )
}

pub fn user_cancelled_note(l: Lang, id: i64) -> String {
    format!(
        "{} #{id}",
        pick(l, "Användaren avbröt ärende", "The user cancelled request")
    )
}

pub fn user_writes_note(l: Lang, id: i64, text: &str) -> String {
    format!(
        "💬 #{id} {}: {text}",
        pick(l, "användaren skriver", "the user writes")
    )
}

pub fn reminder_note(l: Lang, id: i64, waited: i64, platform: &str, reason: &str) -> String {
    format!(
        "⏰ {} #{id} {} {} ({platform}, {}).",
        pick(l, "Ärende", "Request"),
        pick(l, "har väntat", "has waited"),
        minutes(l, waited),
        reason_label(l, reason),
    )
}

pub fn deleted_on_request_note(l: Lang, id: i64) -> String {
    format!(
        "🗑 {} #{id} {}",
        pick(l, "Ärende", "Request"),
        pick(
            l,
            "raderades på användarens begäran (/forget).",
            "was deleted at the user's request (/forget)."
        )
    )
}

pub fn btn_take(l: Lang) -> &'static str {
    pick(l, "Ta ärendet", "Take it")
}

pub fn btn_close(l: Lang) -> &'static str {
    pick(l, "Avsluta", "Close")
}

pub fn btn_back_to_bot(l: Lang) -> &'static str {
    pick(l, "Tillbaka till boten", "Back to the bot")
}

// Texts the chat front-ends show advisers in their adviser rooms.

/// A Telegram button or command from outside the adviser group.
pub fn only_group_members(l: Lang) -> &'static str {
    pick(
        l,
        "Bara medlemmar i rådgivargruppen kan hantera ärenden.",
        "Only members of the adviser group can handle requests.",
    )
}

/// A Discord ticket button pressed without the adviser role.
pub fn only_adviser_role(l: Lang) -> &'static str {
    pick(
        l,
        "Bara rådgivare (med rådgivarrollen) kan hantera ärenden.",
        "Only advisers (with the adviser role) can handle requests.",
    )
}

pub fn unknown_button(l: Lang) -> &'static str {
    pick(l, "Okänd knapp.", "Unknown button.")
}

/// An adviser sent a photo or file into a ticket's topic.
pub fn only_text_is_passed_on(l: Lang) -> &'static str {
    pick(
        l,
        "Bara text vidarebefordras till användaren.",
        "Only text is passed on to the user.",
    )
}

/// A ticket whose topic may exist without its id continues in a reply
/// chain in the group's General topic.
pub fn ticket_continues_here(l: Lang, ticket: i64) -> String {
    match l {
        Lang::Sv => format!("#{ticket} fortsätter här: svara på det här meddelandet eller på dem under det. Ett tomt ämne \"#{ticket} …\" kan ha skapats; det kan tas bort."),
        Lang::En => format!("#{ticket} continues here: reply to this message or the ones below it. An empty topic \"#{ticket} …\" may have been made; it can be deleted."),
    }
}

pub fn unreachable_on_telegram(l: Lang) -> &'static str {
    pick(
        l,
        "Meddelandet nådde inte användaren: användaren har blockerat boten eller lämnat chatten",
        "The message did not reach the user: the user has blocked the bot or left the chat",
    )
}

/// The terminal's greeting (before the user's language is known).
pub fn terminal_welcome() -> &'static str {
    "Kraft – Kraftsamling AI Mälardalen. Skriv en fråga, /start eller /help. Ctrl-D avslutar.\n\
     Type a question, /start or /help. Ctrl-D quits."
}

/// A line on stdin that is not text.
pub fn terminal_unreadable() -> &'static str {
    "(Kunde inte läsa raden – skicka text. / Could not read that line – please send text.)"
}

/// Handling a terminal line failed; it is kept and tried again.
pub fn terminal_trouble() -> &'static str {
    "Något gick fel – meddelandet är sparat och prövas igen strax. / Something went wrong – your message is kept and will be tried again shortly."
}

pub fn unreachable_on_terminal(l: Lang) -> &'static str {
    pick(
        l,
        "Meddelandet nådde inte användaren: terminalen är stängd",
        "The message did not reach the user: the terminal was closed",
    )
}

pub fn unreachable_on_discord(l: Lang) -> &'static str {
    pick(
        l,
        "Meddelandet nådde inte användaren: användaren tar inte emot meddelanden från boten eller har lämnat servern",
        "The message did not reach the user: the user does not accept messages from the bot or has left the server",
    )
}

/// `/reply` used outside a ticket's thread.
pub fn use_reply_in_a_ticket_thread(l: Lang) -> &'static str {
    pick(
        l,
        "Använd /reply i ett ärendes tråd i rådgivarkanalen.",
        "Use /reply in a ticket's thread in the adviser channel.",
    )
}

/// The adviser's private receipt for `/reply`.
pub fn sent_to_user(l: Lang, ticket: i64) -> String {
    format!(
        "✉️ #{ticket} {}",
        pick(l, "skickat till användaren.", "sent to the user.")
    )
}

pub fn empty_nothing_sent(l: Lang) -> &'static str {
    pick(l, "Tom text: inget skickades.", "Empty: nothing was sent.")
}

/// A plain message in a ticket's thread that Discord delivered without
/// its text (no MESSAGE_CONTENT intent).
pub fn mention_me_or_reply(l: Lang) -> &'static str {
    pick(
        l,
        "Jag kan bara läsa meddelanden som nämner mig. Svara användaren med /reply (eller @Kraft och texten).",
        "I can only read messages that mention me. Answer the user with /reply (or @Kraft and the text).",
    )
}

/// The needs analysis: its questions, the labels of its summary, and
/// what the user is told between questions.
pub mod analysis {
    use super::pick;
    use crate::analysis::Field;
    use crate::model::Lang;

    pub fn label(f: Field, lang: Lang) -> &'static str {
        match f {
            Field::Sector => pick(lang, "Bransch", "Sector"),
            Field::Size => pick(lang, "Storlek", "Size"),
            Field::Region => pick(lang, "Ort/region", "Location"),
            Field::Processes => pick(lang, "Mest tidskrävande", "Most time-consuming"),
            Field::Data => pick(lang, "Data som finns", "Data available"),
            Field::Digital => pick(
                lang,
                "Digitala verktyg och AI i dag",
                "Digital tools and AI today",
            ),
            Field::Goals => pick(lang, "Mål för nästa år", "Goals for next year"),
            Field::Academia => pick(lang, "Studenter/forskare", "Students/researchers"),
            Field::Contact => pick(lang, "Kontaktsätt", "Preferred contact"),
        }
    }

    pub fn question(f: Field, lang: Lang) -> &'static str {
        match f {
            Field::Sector => pick(
                lang,
                "Vilken bransch är ni verksamma i?",
                "Which sector is your company in?",
            ),
            Field::Size => pick(
                lang,
                "Hur många anställda har ni, ungefär?",
                "Roughly how many employees do you have?",
            ),
            Field::Region => pick(
                lang,
                "I vilken kommun eller region finns ni?",
                "Which municipality or region are you in?",
            ),
            Field::Processes => pick(
                lang,
                "Vilka arbetsmoment eller processer tar mest tid hos er i dag?",
                "Which tasks or processes take the most time in your company today?",
            ),
            Field::Data => pick(
                lang,
                "Vilka data har ni redan, till exempel i affärssystem, maskiner, kundregister eller Excel?",
                "What data do you already have, for example in business systems, machines, customer records or spreadsheets?",
            ),
            Field::Digital => pick(
                lang,
                "Vilka digitala verktyg använder ni, och använder ni AI i någon form redan?",
                "Which digital tools do you use, and do you use AI in any form already?",
            ),
            Field::Goals => pick(
                lang,
                "Vad vill ni ha uppnått om ett år?",
                "What would you like to have achieved a year from now?",
            ),
            Field::Academia => pick(
                lang,
                "Kan ni tänka er att arbeta med studenter (t.ex. examensarbeten) eller forskare?",
                "Would you consider working with students (e.g. thesis projects) or researchers?",
            ),
            Field::Contact => pick(
                lang,
                "Hur vill ni helst bli kontaktade av en rådgivare? (Skriv inte telefonnummer eller e-post här – rådgivaren frågar när ni har fått kontakt.)",
                "How would you prefer an adviser to contact you? (Please don't type phone numbers or e-mail here – the adviser will ask once you are in touch.)",
            ),
        }
    }

    pub fn intro(lang: Lang) -> &'static str {
        pick(
            lang,
            "Välkommen till en första behovsanalys! Jag ställer nio korta frågor om ert företag (ungefär fem minuter). Svara med egna ord eller med knapparna. Skriv \"hoppa över\", \"tillbaka\", \"paus\" eller \"avbryt\" när ni vill – svaren sparas, så ni kan fortsätta senare med /analys. Efteråt får ni förslag på AI-möjligheter, ett första steg och vilka aktiviteter och aktörer som passar.",
            "Welcome to a first needs analysis! I'll ask nine short questions about your company (about five minutes). Answer in your own words or with the buttons. Type \"skip\", \"back\", \"pause\" or \"quit\" at any time – your answers are saved, so you can continue later with /analysis. Afterwards you get suggested AI opportunities, a first step, and the activities and actors that fit.",
        )
    }

    pub fn resumed(lang: Lang) -> &'static str {
        pick(
            lang,
            "Välkommen tillbaka! Vi fortsätter där vi var.",
            "Welcome back! Let's continue where we left off.",
        )
    }

    pub fn paused(lang: Lang, retention_days: i64) -> String {
        match lang {
            Lang::Sv => format!("Pausat. Era svar sparas i {retention_days} dagar; skriv /analys när ni vill fortsätta. Under tiden kan ni ställa frågor som vanligt."),
            Lang::En => format!("Paused. Your answers are kept for {retention_days} days; type /analysis when you want to continue. Meanwhile, ask questions as usual."),
        }
    }

    pub fn quit(lang: Lang) -> &'static str {
        pick(
            lang,
            "Behovsanalysen är avbruten och svaren är borttagna. Ni kan börja om när som helst med /analys.",
            "The needs analysis is cancelled and the answers are deleted. You can start again any time with /analysis.",
        )
    }

    pub fn skipped_note(lang: Lang) -> &'static str {
        pick(lang, "Okej, vi hoppar över den.", "OK, skipping that one.")
    }

    pub fn back_at_start(lang: Lang) -> &'static str {
        pick(
            lang,
            "Det här är första frågan.",
            "This is the first question.",
        )
    }

    pub fn answer_then_continue(lang: Lang) -> &'static str {
        pick(
            lang,
            "Vi fortsätter med behovsanalysen:",
            "Let's continue with the needs analysis:",
        )
    }

    pub fn already_done(lang: Lang, date: &str) -> String {
        match lang {
            Lang::Sv => format!("Ni gjorde en behovsanalys {date}. Vill ni se sammanfattningen igen eller göra om den?"),
            Lang::En => format!("You completed a needs analysis on {date}. Would you like to see the summary again, or start over?"),
        }
    }

    pub fn btn_summary(lang: Lang) -> &'static str {
        pick(lang, "Visa sammanfattningen", "Show the summary")
    }

    pub fn btn_restart(lang: Lang) -> &'static str {
        pick(lang, "Gör om analysen", "Start over")
    }

    pub fn btn_resume(lang: Lang) -> &'static str {
        pick(lang, "Fortsätt analysen", "Continue the analysis")
    }

    /// "Fråga 3 av 9: …".
    pub fn step_prompt(lang: Lang, n: usize, of: usize, question: &str) -> String {
        format!(
            "{} {n} {} {of}: {question}",
            pick(lang, "Fråga", "Question"),
            pick(lang, "av", "of"),
        )
    }

    pub fn btn_back(lang: Lang) -> &'static str {
        pick(lang, "◀ Tillbaka", "◀ Back")
    }

    pub fn btn_skip(lang: Lang) -> &'static str {
        pick(lang, "Hoppa över", "Skip")
    }

    pub fn btn_pause(lang: Lang) -> &'static str {
        pick(lang, "Pausa", "Pause")
    }

    pub fn btn_quit(lang: Lang) -> &'static str {
        pick(lang, "Avbryt", "Quit")
    }
}

/// Match-making and the needs analysis's summary: headings, the reasons
/// shown beside a suggestion, and the profile the advisers get.
pub mod guide {
    use super::pick;
    use crate::model::Lang;

    pub fn other_region(lang: Lang) -> &'static str {
        pick(lang, "annan region", "another region")
    }

    /// After a source whose language is not the reader's.
    pub fn in_the_other_language(lang: Lang) -> &'static str {
        pick(lang, " (på engelska)", " (in Swedish)")
    }

    pub fn answer_so_far(lang: Lang, answer: &str) -> String {
        format!(
            "\n({}: {answer})",
            pick(lang, "Ert svar hittills", "Your answer so far")
        )
    }

    pub fn summary_heading(lang: Lang) -> &'static str {
        pick(
            lang,
            "Tack! Här är sammanfattningen av er behovsanalys.\n\nProfil\n",
            "Thank you! Here is the summary of your needs analysis.\n\nProfile\n",
        )
    }

    pub fn no_answers(lang: Lang) -> &'static str {
        pick(lang, "(inga svar)\n", "(no answers)\n")
    }

    pub fn no_pattern(lang: Lang) -> &'static str {
        pick(
            lang,
            "\nJag hittade inget mönster i användningsfallsbiblioteket som passar svaren – en rådgivare kan hjälpa er vidare.\n",
            "\nI found no pattern in the use-case library that fits the answers – an adviser can take it from here.\n",
        )
    }

    pub fn opportunities_heading(lang: Lang) -> &'static str {
        pick(
            lang,
            "\nAI-möjligheter att titta närmare på (mönster ur användningsfallsbiblioteket)\n",
            "\nAI opportunities worth a closer look (patterns from the use-case library)\n",
        )
    }

    pub fn first_step(lang: Lang, pattern: &str, step: &str) -> String {
        format!(
            "\n{} ({pattern})\n{step}\n",
            pick(lang, "Ett första steg", "A first step")
        )
    }

    pub fn fitting_support_heading(lang: Lang) -> &'static str {
        pick(
            lang,
            "\nAktiviteter och stöd som passar er\n",
            "\nActivities and support that fit you\n",
        )
    }

    pub fn take_it_further(lang: Lang) -> &'static str {
        pick(
            lang,
            "\nVill ni gå vidare? En rådgivare får er profil och kan ta nästa steg med er.",
            "\nWant to take it further? An adviser gets your profile and can take the next step with you.",
        )
    }

    // Why a suggestion fits, shown beside it.

    pub fn common_in(lang: Lang, sector: &str) -> String {
        format!("{} {sector}", pick(lang, "vanligt inom", "common in"))
    }

    pub fn named_in_pattern(lang: Lang, pattern: &str) -> String {
        format!(
            "{} ”{pattern}”",
            pick(
                lang,
                "nämns som stöd i mönstret",
                "named as support in the pattern"
            )
        )
    }

    pub fn matches_question(lang: Lang) -> &'static str {
        pick(lang, "matchar er fråga", "matches your question")
    }

    pub fn works_in(lang: Lang, region: &str) -> String {
        format!("{} {region}", pick(lang, "verkar i", "works in"))
    }

    pub fn national_actor(lang: Lang) -> &'static str {
        pick(lang, "nationell aktör", "national actor")
    }

    pub fn works_with(lang: Lang, sector: &str) -> String {
        format!("{} {sector}", pick(lang, "arbetar med", "works with"))
    }

    pub fn in_region(lang: Lang, region: &str) -> String {
        format!("{} {region}", pick(lang, "i", "in"))
    }

    pub fn for_sector(lang: Lang, sector: &str) -> String {
        format!("{} {sector}", pick(lang, "för", "for"))
    }

    // The match-making reply.

    pub fn btn_ask_intro(lang: Lang) -> &'static str {
        pick(lang, "Be om en introduktion", "Ask for an introduction")
    }

    pub fn these_can_help(lang: Lang) -> &'static str {
        pick(lang, "De här kan hjälpa er", "These can help you")
    }

    pub fn activities_heading(lang: Lang) -> &'static str {
        pick(
            lang,
            "\nAktiviteter och evenemang\n",
            "\nActivities and events\n",
        )
    }

    pub fn read_more_pattern(lang: Lang, pattern: &str) -> String {
        format!(
            "\n{} {pattern}",
            pick(lang, "Läs mer om mönstret:", "Read more about the pattern:")
        )
    }

    pub fn tell_where(lang: Lang) -> &'static str {
        pick(
            lang,
            "\nSäg gärna var ni finns (t.ex. Västerås eller Eskilstuna), så anpassar jag förslagen.",
            "\nTell me where you are (e.g. Västerås or Eskilstuna) and I'll tailor the suggestions.",
        )
    }

    pub fn want_intro(lang: Lang) -> &'static str {
        pick(
            lang,
            "\nVill ni bli introducerade? Tryck på knappen, så tar en rådgivare kontakt.",
            "\nWould you like an introduction? Press the button and an adviser will get in touch.",
        )
    }

    // The profile in the advisers' language.

    pub fn profile_heading(l: Lang, completed: bool, date: &str) -> String {
        format!(
            "{} ({}, {date}):\n",
            pick(l, "Behovsanalys", "Needs analysis"),
            if completed {
                pick(l, "klar", "completed")
            } else {
                pick(l, "påbörjad", "in progress")
            },
        )
    }

    /// Above the match-making reply, in an introduction request.
    pub fn suggestions_shown(l: Lang) -> &'static str {
        pick(
            l,
            "Förslag som användaren fick:",
            "Suggestions the user was shown:",
        )
    }

    pub fn suggested_patterns(l: Lang) -> &'static str {
        pick(l, "Föreslagna mönster: ", "Suggested patterns: ")
    }
}
