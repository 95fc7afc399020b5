//! What the SME reads, on the programme's real knowledge base: the
//! examples the answer-quality issue reported as wrong each get a right,
//! complete answer (right first source, the facts in the text, nothing
//! cut off), and the evaluation question file itself is sound (size,
//! languages, unanswerable share, labels that point at real documents,
//! fact patterns that compile, a split that does not move).

use std::collections::HashSet;

use kraft_core::{Answer, AnswerKind};
use kraft_ingest::eval::{load_questions, Label, Split};
use kraft_tests::bot::{default_core_settings, real_kb, TestBot};

async fn bot() -> TestBot {
    TestBot::start(&real_kb(), default_core_settings()).await
}

async fn ask(b: &TestBot, q: &str) -> Answer {
    b.assistant.ask(q).await.expect("ask").0
}

/// Prints what a user would read, so a failure shows the whole answer.
fn shown(a: &Answer) -> String {
    format!(
        "[{}] {}\n  sources: {:?}",
        a.kind.as_str(),
        a.text,
        a.sources
            .iter()
            .map(|s| s.path.as_str())
            .collect::<Vec<_>>()
    )
}

fn first_source(a: &Answer) -> &str {
    a.sources.first().map_or("", |s| s.path.as_str())
}

/// Answered, from one of `sources` first, with every one of `facts`
/// (lower case) in the text, and not ending on a lead-in.
/// The answer's first word, lower-cased, without its "." or "!".
fn first_word(a: &Answer) -> String {
    let w = a
        .text
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_lowercase();
    w.trim_end_matches(['.', '!']).to_string()
}

fn assert_answers(a: &Answer, sources: &[&str], facts: &[&str]) {
    assert_eq!(a.kind, AnswerKind::Answered, "{}", shown(a));
    assert!(
        sources.contains(&first_source(a)),
        "first source: {}",
        shown(a)
    );
    let text = a.text.to_lowercase();
    for f in facts {
        assert!(text.contains(f), "missing {f:?}: {}", shown(a));
    }
    assert!(
        !a.text.trim_end().ends_with(':'),
        "ends on a lead-in: {}",
        shown(a)
    );
    // A page's "Nej." answers the page's own question, none of these.
    assert!(
        !matches!(first_word(a).as_str(), "ja" | "nej" | "yes" | "no"),
        "opens with another question's verdict: {}",
        shown(a)
    );
}

#[tokio::test]
async fn the_reported_programme_questions_get_right_complete_answers() {
    let b = bot().await;
    let about = [
        "programme/om-kraftsamling-ai-malardalen.md",
        "programme/about-kraftsamling-ai-malardalen.en.md",
    ];
    let a = ask(&b, "Vad är Kraftsamling AI Mälardalen?").await;
    assert_answers(
        &a,
        &about,
        &["mälardalens universitet", "västmanland och sörmland"],
    );

    // The list the sentence introduces comes with it.
    let a = ask(&b, "Vad menas med match-making i projektet?").await;
    assert_answers(
        &a,
        &["programme/aktiviteter.md"],
        &["akademin", "innovationsstödsystemet"],
    );

    let a = ask(&b, "Vilka aktiviteter erbjuder projektet till företag?").await;
    assert_answers(
        &a,
        &["programme/aktiviteter.md", "programme/delta.md"],
        &["behovsanalys"],
    );
    assert!(
        a.text.contains("föreläsning") || a.text.contains("nätverksträff"),
        "{}",
        shown(&a)
    );

    let a = ask(&b, "Who pays for the programme?").await;
    assert_answers(
        &a,
        &[
            "programme/funding-and-budget.en.md",
            "programme/organisation-and-partners.en.md",
        ],
        &["region västmanland", "region sörmland"],
    );
}

#[tokio::test]
async fn eligibility_questions_say_who_may_take_part_and_why() {
    let b = bot().await;
    let pages = [
        "programme/malgrupp.md",
        "faq/vilka-foretag-kan-delta.md",
        "programme/target-group.en.md",
        "faq/vilka-foretag-kan-delta.en.md",
    ];
    // Told as a story, answered from the eligibility page, with the reason.
    let a = ask(
        &b,
        "Vi är ett åkeri med 12 anställda i Köping. Kan vi vara med?",
    )
    .await;
    assert_answers(
        &a,
        &pages,
        &[
            "små och medelstora företag",
            "västmanland och sörmland",
            "bransch",
        ],
    );

    let a = ask(&b, "Är projektet bara för stora företag?").await;
    assert_answers(&a, &pages, &["små och medelstora"]);

    // English: the counties, from an English page.
    let a = ask(&b, "Which counties does the programme focus on?").await;
    assert_eq!(a.kind, AnswerKind::Answered, "{}", shown(&a));
    assert!(a.text.contains("Västmanland and Sörmland"), "{}", shown(&a));
    assert!(first_source(&a).ends_with(".en.md"), "{}", shown(&a));
}

#[tokio::test]
async fn an_english_question_naming_the_programme_is_answered_in_english() {
    let b = bot().await;
    // The programme's Swedish name must not make the question Swedish.
    let a = ask(&b, "How do we join Kraftsamling AI Mälardalen?").await;
    assert_answers(
        &a,
        &["programme/how-to-take-part.en.md"],
        &["contact the project"],
    );
    assert_eq!(a.lang, kraft_core::model::Lang::En, "{}", shown(&a));
}

#[tokio::test]
async fn getting_started_and_use_case_questions_land_on_the_page_that_answers() {
    let b = bot().await;
    let a = ask(
        &b,
        "Vi är ett snickeri med 15 anställda i Västerås. Hur kan vi börja använda AI?",
    )
    .await;
    assert_answers(
        &a,
        &[
            "guides/behovsanalys.md",
            "programme/delta.md",
            "faq/maste-vi-kunna-ai.md",
            "faq/vad-ar-en-behovsanalys.md",
        ],
        &["behovsanalys"],
    );

    // "Can AI help us with X" is answered by the use case, not an example
    // event that mentions X.
    let a = ask(
        &b,
        "Kan AI hjälpa oss med kvalitetskontroll i produktionen?",
    )
    .await;
    assert_answers(
        &a,
        &["usecases/visuell-kvalitetskontroll.md"],
        &["kamer", "datorseende"],
    );
    assert!(a.sources.iter().all(|s| !s.example), "{}", shown(&a));

    // English, from the use case's English page.
    let a = ask(
        &b,
        "Can AI help a small manufacturer with maintenance of its machines?",
    )
    .await;
    assert_answers(
        &a,
        &["usecases/prediktivt-underhall.en.md"],
        &["predictive maintenance"],
    );

    // A question naming an organisation lands on its page.
    let a = ask(&b, "What does AI Sweden do?").await;
    assert_answers(
        &a,
        &["support/ai-sweden.en.md"],
        &["national centre for applied"],
    );
}

#[tokio::test]
async fn questions_the_knowledge_base_cannot_answer_are_not_bluffed() {
    let b = bot().await;
    for q in [
        "How long should I boil an egg for a soft yolk?",
        "vad har ni för telefonnummer?",
        "hur många företag har varit med i programmet hittills?",
        "Vem vann allsvenskan förra året?",
    ] {
        let a = ask(&b, q).await;
        assert_ne!(a.kind, AnswerKind::Answered, "{q}: {}", shown(&a));
    }
}

#[tokio::test]
async fn a_pages_yes_or_no_answers_only_its_own_question() {
    let b = bot().await;
    // The FAQ "Behöver vi förkunskaper om AI?" opens with "Nej.": right
    // for that question, false for others that land on the same page.
    for q in [
        "Behöver vi förkunskaper om AI?",
        "Måste vi kunna nåt om AI innan vi hör av oss?",
    ] {
        let a = ask(&b, q).await;
        assert!(a.text.starts_with("Nej."), "{q}: {}", shown(&a));
    }
    for q in [
        "Vi är ett snickeri med 15 anställda i Västerås. Hur kan vi börja använda AI?",
        "behöver vi en ai-policy för de anställda?",
    ] {
        let a = ask(&b, q).await;
        assert!(
            !matches!(first_word(&a).as_str(), "ja" | "nej"),
            "{q}: {}",
            shown(&a)
        );
    }
}

#[test]
fn the_evaluation_questions_are_sound() {
    let path = real_kb().join("eval-questions.jsonl");
    let qs = load_questions(&path).expect("eval questions load");
    let n = qs.len();
    assert!(n >= 250, "{n} questions");
    let en = qs
        .iter()
        .filter(|q| q.language.as_deref() == Some("en"))
        .count();
    assert!(en * 10 >= n * 4, "{en} of {n} in English");
    let abstain = qs.iter().filter(|q| q.label() == Label::Abstain).count();
    assert!(abstain >= 40, "{abstain} must-abstain questions");
    let mut ids = HashSet::new();
    labelled_soundly(&qs, &mut ids);
    // The split is by the id's hash, so it cannot drift; both halves are
    // a real share of the file, and the examples are dev.
    let dev = qs.iter().filter(|q| q.split() == Split::Dev).count();
    assert!(dev * 3 > n && dev * 3 < n * 2, "{dev} of {n} in dev");
    for q in qs.iter().filter(|q| q.origin.as_deref() == Some("issue")) {
        assert_eq!(q.split(), Split::Dev, "{}", q.id);
    }
    let b0 = qs.iter().find(|q| q.id == "b001").expect("b001");
    assert_eq!(b0.split(), b0.clone().split());
    // A side fixed in the file is only for the round-3 training
    // questions (ids t…), and only dev: no question measured on test
    // before can be moved off it.
    for q in qs.iter().filter(|q| q.fixed_split.is_some()) {
        assert!(q.id.starts_with('t'), "{}: a fixed split", q.id);
        assert_eq!(q.split(), Split::Dev, "{}", q.id);
    }
    let mut moved = qs
        .iter()
        .find(|q| q.fixed_split.is_none() && q.split() == Split::Test)
        .expect("a test question")
        .clone();
    moved.fixed_split = Some(Split::Dev);
    assert_eq!(moved.split(), Split::Dev, "the file's side wins");
    // The held-out probe set: the same rules, and ids of its own.
    let probe = load_questions(&real_kb().join("probe/eval-probe.jsonl")).expect("probe loads");
    assert!(probe.len() >= 80, "{} probe questions", probe.len());
    labelled_soundly(&probe, &mut ids);
}

/// Unique ids (across every file checked with the same `ids`), labels
/// that agree with their pages and facts, pages that exist, patterns
/// that compile (the evaluation refuses the file otherwise).
fn labelled_soundly(qs: &[kraft_ingest::eval::KbQuestion], ids: &mut HashSet<String>) {
    for q in qs {
        assert!(ids.insert(q.id.clone()), "duplicate id {}", q.id);
        match q.label() {
            Label::Abstain => assert!(q.expect.is_empty() && q.facts.is_empty(), "{}", q.id),
            Label::Answer | Label::Either => {
                assert!(!q.expect.is_empty() && !q.facts.is_empty(), "{}", q.id);
                for p in &q.expect {
                    assert!(real_kb().join(p).is_file(), "{}: no document {p}", q.id);
                }
            }
        }
        for f in &q.facts {
            if let Err(e) = regex::RegexBuilder::new(f).case_insensitive(true).build() {
                panic!("{}: {f}: {e}", q.id);
            }
        }
    }
}

/// "Can AI help us plan the visits?" is answered by what AI does there:
/// the list the use case's problem section introduces ("AI kan hjälpa
/// till att:"), the item that matches the question in full, and how to
/// begin; not only by the sentences that describe the problem.
#[tokio::test]
async fn a_use_case_answer_names_what_ai_does_from_the_pages_list() {
    let b = bot().await;
    let a = ask(
        &b,
        "Vi driver hemtjänst i Köping med 25 undersköterskor. Kan AI hjälpa oss att planera besöken?",
    )
    .await;
    assert_answers(
        &a,
        &["usecases/hemtjanst-och-omsorg.md"],
        &[
            "ai kan hjälpa till att:",
            "scheman och rutter utifrån tidsfönster",
            "börja med planeringen",
        ],
    );
}

#[tokio::test]
async fn a_use_case_answer_says_what_ai_does_what_data_it_takes_and_how_to_begin() {
    let b = bot().await;
    let a = ask(
        &b,
        "Can AI help forecast demand for our webshop so we don't overstock?",
    )
    .await;
    assert_answers(
        &a,
        &["usecases/efterfrageprognoser.en.md"],
        &[
            "forecasts can take more factors",
            "data needed: sales or order history",
            "choose one product group",
        ],
    );
    let a = ask(
        &b,
        "Vi har tre matbutiker och slänger för mycket färskvaror. Kan AI hjälpa oss att beställa rätt mängd?",
    )
    .await;
    let t = shown(&a);
    assert!(t.contains("Data som behövs:"), "{t}");
    assert!(t.chars().filter(|c| *c == '\n').count() >= 2, "{t}");
}

/// A two-part question gets both parts answered: the section the model
/// chooses for the whole question (here: what the Regulation is and how it
/// applies) and, in the room left, the best section for the ask it leaves
/// out (what changes for machines with AI). Before, the second ask got at
/// most one sentence, and only one that shared a word the answer lacked.
#[tokio::test]
async fn both_asks_of_a_two_part_question_are_answered() {
    let b = bot().await;
    let a = ask(
        &b,
        "When does the new EU Machinery Regulation start to apply, and what changes for machines with AI?",
    )
    .await;
    assert_answers(
        &a,
        &["guides/machinery-regulation.en.md"],
        &["applies", "self-evolving behaviour"],
    );
}
