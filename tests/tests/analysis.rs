//! Needs analysis and match-making end to end through `Assistant::handle`
//! on the real knowledge base (Qdrant Edge) and a real SQLite state file:
//! a whole analysis in Swedish and in English, skip/back/pause/quit,
//! resume after a restart, a question on the side, the summary's sources,
//! the profile on the escalation, and region/sector-aware match-making.

use std::path::Path;

use kraft_core::model::{Action, Platform, UserRef};
use kraft_tests::bot::{
    adviser_notes, buttons, default_core_settings, real_kb, reply_text, user, TestBot,
};

async fn bot() -> TestBot {
    TestBot::start(&real_kb(), default_core_settings()).await
}

/// All replies' texts, joined (a side question yields two replies).
fn replies(actions: &[Action]) -> String {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Reply { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n---\n")
}

/// Knowledge paths linked in the text (Kraft's knowledge pages).
fn paths(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(kraft_tests::bot::path_of_link)
        .collect()
}

/// The `region:` list of a knowledge document's front matter.
fn regions_of(kb: &Path, path: &str) -> Vec<String> {
    let raw = std::fs::read_to_string(kb.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    raw.lines()
        .find_map(|l| l.strip_prefix("region:"))
        .map(|r| {
            r.trim()
                .trim_matches(|c| c == '[' || c == ']')
                .split(',')
                .map(|x| x.trim().to_string())
                .filter(|x| !x.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// The section of `text` that starts at `heading` (up to the next blank-
/// line-separated heading of the summary).
fn section<'a>(text: &'a str, heading: &str) -> &'a str {
    let i = text
        .find(heading)
        .unwrap_or_else(|| panic!("no {heading:?} in:\n{text}"));
    let rest = &text[i..];
    match rest[heading.len()..].find("\n\n") {
        Some(j) => &rest[..heading.len() + j],
        None => rest,
    }
}

#[tokio::test]
async fn a_full_needs_analysis_in_swedish_cites_real_use_cases_and_reaches_the_adviser() {
    let b = bot().await;
    let u = user("sv");
    let a = b.say(&u, "/analys").await;
    let t = reply_text(&a);
    assert!(t.contains("nio korta frågor"), "{t}");
    assert!(t.contains("Fråga 1 av 9: Vilken bransch"), "{t}");
    let bs = buttons(&a);
    assert!(bs.contains(&"an:opt:manufacturing".to_string()), "{bs:?}");
    assert!(bs.contains(&"an:quit".to_string()), "{bs:?}");

    let steps = [
        (
            "Vi är en mekanisk verkstad som tillverkar detaljer åt industrin",
            "Fråga 2 av 9",
        ),
        ("ungefär 35 anställda", "Fråga 3 av 9"),
        ("Vi finns i Eskilstuna", "Fråga 4 av 9"),
        (
            "Manuell okulär kontroll av detaljer och att ta fram offerter tar mest tid",
            "Fråga 5 av 9",
        ),
        (
            "Mätdata från maskinerna, bilder från kontrollen och order i affärssystemet",
            "Fråga 6 av 9",
        ),
        ("Affärssystem och Excel, ingen AI än", "Fråga 7 av 9"),
        ("Färre kassationer och snabbare offerter", "Fråga 8 av 9"),
    ];
    for (answer, next) in steps {
        let t = reply_text(&b.say(&u, answer).await);
        assert!(t.contains(next), "after {answer:?}: {t}");
    }
    let t = reply_text(&b.press(&u, "an:opt:yes").await);
    assert!(t.contains("Fråga 9 av 9"), "{t}");
    let done = b.say(&u, "Här i chatten").await;
    let s = reply_text(&done);

    // The profile, read into categories.
    for want in [
        "Profil",
        "Tillverkning",
        "10–49",
        "Sörmland",
        "Ja, gärna",
        "Här i chatten",
    ] {
        assert!(s.contains(want), "{want:?} missing in:\n{s}");
    }
    // 2–3 opportunities, each a real use-case document of the library.
    let opp = section(&s, "AI-möjligheter");
    let cases = paths(opp);
    assert!((2..=3).contains(&cases.len()), "{cases:?} in:\n{opp}");
    for p in &cases {
        assert!(p.starts_with("usecases/"), "{p}");
        assert!(b.kb.join(p).is_file(), "cited {p} does not exist");
    }
    assert!(
        cases
            .iter()
            .any(|p| p.contains("kvalitetskontroll") || p.contains("offert")),
        "quality inspection or quoting should be among {cases:?}"
    );
    // A first step, taken from the top use case's own text.
    let first = section(&s, "Ett första steg");
    let top_doc = std::fs::read_to_string(b.kb.join(&cases[0])).expect("top case");
    let step_line = first.lines().nth(1).expect("first-step text");
    let probe: String = step_line.chars().take(40).collect();
    assert!(
        top_doc
            .replace("**", "")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .contains(&probe.replace("**", "")),
        "first step not from {}: {step_line}",
        cases[0]
    );
    // Activities and actors: real documents, none outside Sörmland/national.
    let fit = section(&s, "Aktiviteter och stöd");
    let fits = paths(fit);
    assert!(!fits.is_empty(), "{fit}");
    for p in &fits {
        let r = regions_of(&b.kb, p);
        assert!(
            r.is_empty() || r.iter().any(|x| x == "sormland" || x == "national"),
            "{p} ({r:?}) is not for a Sörmland company"
        );
    }
    let bs = buttons(&done);
    assert!(bs.contains(&"human".to_string()), "{bs:?}");

    // The stored state says completed; a new /analys offers the summary.
    let again = b.say(&u, "/analys").await;
    assert!(reply_text(&again).contains("Ni gjorde en behovsanalys"));
    assert_eq!(buttons(&again), ["an:summary", "an:restart"]);
    let again = reply_text(&b.press(&u, "an:summary").await);
    assert!(again.contains("AI-möjligheter"), "{again}");

    // The escalation carries the profile.
    let esc = b.press(&u, "human").await;
    let notes = adviser_notes(&esc);
    assert_eq!(notes.len(), 1, "{esc:#?}");
    for want in [
        "Behovsanalys (klar",
        "Tillverkning",
        "Eskilstuna",
        "Färre kassationer",
        "Föreslagna mönster",
        &cases[0],
    ] {
        assert!(
            notes[0].contains(want),
            "{want:?} missing in the ticket:\n{}",
            notes[0]
        );
    }
}

#[tokio::test]
async fn a_full_needs_analysis_in_english() {
    let b = bot().await;
    let u = user("en");
    let t = reply_text(&b.say(&u, "I would like to do a needs analysis").await);
    assert!(t.contains("Question 1 of 9: Which sector"), "{t}");
    b.press(&u, "an:opt:manufacturing").await;
    b.press(&u, "an:opt:50-249").await;
    b.say(&u, "We are based in Västerås").await;
    b.say(
        &u,
        "Planning maintenance and machine breakdowns take the most time",
    )
    .await;
    b.say(&u, "Sensor data from our machines and a maintenance log")
        .await;
    b.say(&u, "An ERP system, no AI yet").await;
    b.say(&u, "Less unplanned downtime").await;
    b.say(&u, "Maybe").await;
    let s = reply_text(&b.say(&u, "A meeting").await);
    for want in [
        "Profile",
        "Manufacturing",
        "50–249",
        "Västmanland",
        "Maybe",
        "Meeting",
        "AI opportunities",
        "A first step",
    ] {
        assert!(s.contains(want), "{want:?} missing in:\n{s}");
    }
    assert!(
        !s.contains("Profil\n"),
        "Swedish headings in an English summary:\n{s}"
    );
    let cases = paths(section(&s, "AI opportunities"));
    assert!(
        cases
            .iter()
            .any(|p| p == "usecases/prediktivt-underhall.md"),
        "predictive maintenance expected among {cases:?}:\n{s}"
    );
    assert!(
        s.contains("(in Swedish)"),
        "Swedish sources are marked:\n{s}"
    );
    for p in paths(section(&s, "Activities and support")) {
        let r = regions_of(&b.kb, &p);
        assert!(
            r.is_empty() || r.iter().any(|x| x == "vastmanland" || x == "national"),
            "{p} ({r:?}) is not for a Västmanland company"
        );
    }
}

#[tokio::test]
async fn skip_back_side_question_pause_and_resume_after_a_restart() {
    let mut b = bot().await;
    let u = user("nav");
    b.say(&u, "/analys").await;
    b.say(&u, "Handel, vi har en webbshop").await;
    // Skip the size question.
    let t = reply_text(&b.say(&u, "hoppa över").await);
    assert!(
        t.contains("vi hoppar över") && t.contains("Fråga 3 av 9"),
        "{t}"
    );
    // Back to it: the earlier answer (none) and the question again.
    let t = reply_text(&b.press(&u, "an:back").await);
    assert!(t.contains("Fråga 2 av 9"), "{t}");
    let t = reply_text(&b.say(&u, "tillbaka").await);
    assert!(
        t.contains("Fråga 1 av 9") && t.contains("Ert svar hittills: Handel, vi har en webbshop"),
        "{t}"
    );
    let t = reply_text(&b.press(&u, "an:opt:retail").await);
    assert!(t.contains("Fråga 2 av 9"), "{t}");
    b.say(&u, "12").await;
    // A question on the side is answered, then the analysis goes on.
    let side = b.say(&u, "Vad kostar det att delta i projektet?").await;
    let all = replies(&side);
    assert!(
        all.contains("Källor:"),
        "the side question is answered:\n{all}"
    );
    assert!(
        all.contains("Vi fortsätter med behovsanalysen") && all.contains("Fråga 3 av 9"),
        "{all}"
    );
    // A button from an old question is stale, not an answer.
    let t = reply_text(&b.press(&u, "an:opt:manufacturing").await);
    assert!(!t.contains("Fråga 4"), "{t}");
    // Pause: ordinary questions work again.
    let t = reply_text(&b.say(&u, "paus").await);
    assert!(t.contains("Pausat") && t.contains("/analys"), "{t}");
    let t = reply_text(&b.say(&u, "Hur länge pågår projektet?").await);
    assert!(
        t.contains("2028"),
        "a paused analysis does not swallow questions: {t}"
    );

    b.restart().await;
    let t = reply_text(&b.say(&u, "/analys").await);
    assert!(
        t.contains("Välkommen tillbaka") && t.contains("Fråga 3 av 9"),
        "{t}"
    );
    for a in [
        "Katrineholm",
        "Packning och returer",
        "Orderdata i e-handeln",
        "Shopify",
        "Bättre prognoser för lagret",
        "Nej",
    ] {
        b.say(&u, a).await;
    }
    let s = reply_text(&b.say(&u, "e-post").await);
    for want in [
        "Handel/e-handel",
        "10–49",
        "Sörmland (Katrineholm)",
        "E-post",
        "Nej, inte nu",
    ] {
        assert!(s.contains(want), "{want:?} missing in:\n{s}");
    }

    // Quit deletes the answers.
    let q = user("quit");
    b.say(&q, "/analys").await;
    b.say(&q, "Bygg").await;
    let t = reply_text(&b.say(&q, "avbryt").await);
    assert!(t.contains("avbruten"), "{t}");
    let dump = format!("{:?}", b.assistant.store().dump_all().expect("dump"));
    assert!(
        !dump.contains("\"Bygg\""),
        "a quit analysis keeps no answers"
    );
    let t = reply_text(&b.say(&q, "Hur länge pågår projektet?").await);
    assert!(t.contains("2028"), "{t}");
}

#[tokio::test]
async fn match_making_ranks_actors_for_the_companys_region_and_sector() {
    let b = bot().await;
    let u = user("m");
    let a = b
        .say(
            &u,
            "Vem kan hjälpa oss med visuell kvalitetskontroll? Vi är ett tillverkande företag i Eskilstuna.",
        )
        .await;
    let t = reply_text(&a);
    assert!(t.contains("Sörmland · tillverkning"), "{t}");
    let head = t.split("\nAktiviteter och evenemang").next().unwrap_or(&t);
    let actors = paths(head);
    assert!(actors.len() >= 3, "{t}");
    // The first three are for Sörmland or national, and the top one is
    // named in the quality-inspection pattern or based in Sörmland.
    for p in &actors[..3] {
        let r = regions_of(&b.kb, p);
        assert!(
            r.is_empty() || r.iter().any(|x| x == "sormland" || x == "national"),
            "{p} ({r:?}) ranked for a Sörmland company:\n{t}"
        );
        assert!(!r.iter().all(|x| x == "vastmanland"), "{p}");
    }
    let first = head.lines().find(|l| l.starts_with("1. ")).expect("first");
    assert!(
        first.contains("nämns som stöd i mönstret") || first.contains("verkar i Sörmland"),
        "the top actor has a reason tied to the need or region: {first}"
    );
    assert!(
        actors[..3]
            .iter()
            .any(|p| regions_of(&b.kb, p).iter().any(|x| x == "sormland")),
        "a Sörmland actor is in the top three: {actors:?}"
    );
    // Activities: the manufacturing study visit in Eskilstuna (an example
    // event, labelled as such).
    let acts = t
        .split("\nAktiviteter och evenemang")
        .nth(1)
        .expect("activities");
    assert!(
        acts.contains("events/studiebesok-eskilstuna-2027-03.md"),
        "{acts}"
    );
    assert!(acts.contains("Exempel"), "{acts}");
    assert_eq!(buttons(&a), ["match:intro", "human"]);

    // The same need in Västerås gets Västmanland's actors instead.
    let w = user("w");
    let t2 = reply_text(
        &b.say(
            &w,
            "Vem kan hjälpa oss med kvalitetskontroll? Vi tillverkar i Västerås.",
        )
        .await,
    );
    for p in paths(&t2) {
        let r = regions_of(&b.kb, &p);
        assert!(
            !(r.len() == 1 && r[0] == "sormland"),
            "{p} for a Västerås company:\n{t2}"
        );
    }

    // Asking for an introduction opens a ticket carrying the suggestions.
    let intro = b.press(&u, "match:intro").await;
    let opened: Vec<String> = intro
        .iter()
        .filter_map(|a| match a {
            Action::TicketOpened { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(opened, ["introduction"]);
    let notes = adviser_notes(&intro);
    assert!(notes[0].contains("introducerad"), "{}", notes[0]);
    assert!(
        notes[0].contains(&actors[0]),
        "the ticket lists the suggestions:\n{}",
        notes[0]
    );
}

#[tokio::test]
async fn english_match_making_and_the_command_form() {
    let b = bot().await;
    let u = UserRef::new(Platform::Discord, "d1", "dm-d1");
    let t = reply_text(&b.say(&u, "/match").await);
    assert!(
        t.contains("Vem kan hjälpa oss med"),
        "a bare /match explains itself: {t}"
    );
    let t = reply_text(
        &b.say(
            &u,
            "Who can help us with demand forecasting? We are a retailer in Nyköping.",
        )
        .await,
    );
    assert!(
        t.starts_with("These can help you (Sörmland · retail"),
        "{t}"
    );
    assert!(t.contains("Read more about the pattern: "), "{t}");
    assert!(
        paths(&t)
            .iter()
            .any(|p| p == "usecases/efterfrageprognoser.md"),
        "{t}"
    );
}
