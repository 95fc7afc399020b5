//! `kraft eval answers`: judges what the user reads, not what the
//! retriever found. Each question of `knowledge/eval-questions.jsonl` goes
//! through the assistant's one-shot path ([`Assistant::ask`], nothing
//! stored) and is judged on:
//! - the **first source**: one of the documents that answer it;
//! - the **facts**: every fact regex matches the answer's text (sources
//!   not included), so a right page with the wrong sentences fails;
//! - **abstention**: questions that must not be answered get "I don't
//!   know" (or an off-topic boundary), and answerable ones do not.
//!
//! Results are split by language and by the fixed dev/test split; tuning
//! looks at dev only.

use std::collections::BTreeMap;

use regex::{Regex, RegexBuilder};
use serde::Serialize;

use kraft_ingest::eval::{KbQuestion, Label, Split};

use crate::model::Lang;
use crate::{Answer, AnswerKind, Assistant, CoreError};

/// One question, judged.
#[derive(Debug, Clone, Serialize)]
pub struct Judged {
    pub id: String,
    pub split: Split,
    pub lang: Lang,
    pub label: Label,
    pub origin: String,
    pub question: String,
    pub answered: bool,
    pub kind: AnswerKind,
    pub confidence: f32,
    pub first_source: Option<String>,
    pub source_right: bool,
    pub facts_right: bool,
    /// Fact regexes that did not match.
    pub missing_facts: Vec<String>,
    /// Judged right overall: for `answer`, answered with a right first
    /// source and every fact; for `abstain`, not answered; for `either`,
    /// not answered or answered right.
    pub right: bool,
    pub text: String,
}

/// The scores of one group of questions (a language, or all).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Row {
    pub group: String,
    /// Questions that must be answered.
    pub answerable: usize,
    pub source_right: usize,
    pub facts_right: usize,
    /// Both a right first source and every fact.
    pub right: usize,
    pub false_abstentions: usize,
    /// Questions that must not be answered.
    pub unanswerable: usize,
    pub abstained: usize,
    /// Questions where either is fine, and how many were handled well.
    pub either: usize,
    pub either_right: usize,
    /// Median length in characters of the answers given (sources not
    /// counted): longer answers hold more facts, so the table shows what
    /// that costs the reader.
    pub median_chars: usize,
}

impl Row {
    pub fn pct(n: usize, of: usize) -> f64 {
        if of == 0 {
            0.0
        } else {
            100.0 * n as f64 / of as f64
        }
    }

    fn add(&mut self, j: &Judged) {
        match j.label {
            Label::Answer => {
                self.answerable += 1;
                self.source_right += usize::from(j.answered && j.source_right);
                self.facts_right += usize::from(j.answered && j.facts_right);
                self.right += usize::from(j.right);
                self.false_abstentions += usize::from(!j.answered);
            }
            Label::Abstain => {
                self.unanswerable += 1;
                self.abstained += usize::from(!j.answered);
            }
            Label::Either => {
                self.either += 1;
                self.either_right += usize::from(j.right);
            }
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// "ranked" or "baseline".
    pub pipeline: String,
    /// "dev", "test" or "all".
    pub split: String,
    /// Swedish, English, all.
    pub rows: Vec<Row>,
    /// The same by where the questions come from (blind, kb, issue).
    pub by_origin: Vec<Row>,
    pub judged: Vec<Judged>,
}

/// Fact regexes, compiled once; a bad one is an error naming its question.
pub fn compile(qs: &[KbQuestion]) -> Result<BTreeMap<String, Vec<Regex>>, CoreError> {
    let mut out = BTreeMap::new();
    for q in qs {
        let mut v = Vec::new();
        for f in &q.facts {
            let r = RegexBuilder::new(f)
                .case_insensitive(true)
                .build()
                .map_err(|e| CoreError::Config(format!("question {}: fact {f:?}: {e}", q.id)))?;
            v.push(r);
        }
        out.insert(q.id.clone(), v);
    }
    Ok(out)
}

/// Text as facts are matched against it: whitespace collapsed, bullets as
/// plain separators.
pub fn normalise(text: &str) -> String {
    text.replace('•', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn judge(q: &KbQuestion, a: &Answer, facts: &[Regex]) -> Judged {
    let answered = a.kind == AnswerKind::Answered;
    let first_source = a.sources.first().map(|s| s.path.clone());
    let source_right = first_source
        .as_ref()
        .is_some_and(|p| q.expect.iter().any(|e| e == p));
    let text = normalise(&a.text);
    let missing_facts: Vec<String> = facts
        .iter()
        .filter(|r| !answered || !r.is_match(&text))
        .map(|r| r.as_str().to_string())
        .collect();
    let facts_right = answered && missing_facts.is_empty();
    let label = q.label();
    let right = match label {
        Label::Answer => answered && source_right && facts_right,
        Label::Abstain => !answered,
        Label::Either => !answered || (source_right && facts_right),
    };
    Judged {
        id: q.id.clone(),
        split: q.split(),
        lang: match q.lang() {
            kraft_ingest::doc::Lang::En => Lang::En,
            kraft_ingest::doc::Lang::Sv => Lang::Sv,
        },
        label,
        origin: q.origin.clone().unwrap_or_else(|| "kb".into()),
        question: q.question.clone(),
        answered,
        kind: a.kind,
        confidence: a.confidence,
        first_source,
        source_right,
        facts_right,
        missing_facts,
        right,
        text,
    }
}

/// Runs every question of `split` (None: all) through `assistant`.
pub async fn run(
    assistant: &Assistant,
    pipeline: &str,
    qs: &[KbQuestion],
    split: Option<Split>,
) -> Result<Report, CoreError> {
    let facts = compile(qs)?;
    let mut judged = Vec::new();
    for q in qs.iter().filter(|q| split.is_none_or(|s| q.split() == s)) {
        let (a, _) = assistant.ask(&q.question).await?;
        let f = facts.get(&q.id).map(Vec::as_slice).unwrap_or_default();
        judged.push(judge(q, &a, f));
    }
    Ok(summarise(pipeline, split, judged))
}

pub fn summarise(pipeline: &str, split: Option<Split>, judged: Vec<Judged>) -> Report {
    let mut rows: Vec<Row> = ["sv", "en", "all"]
        .iter()
        .map(|g| Row {
            group: g.to_string(),
            ..Default::default()
        })
        .collect();
    let mut by_origin: BTreeMap<String, Row> = BTreeMap::new();
    // Answer lengths per row of `rows` and per origin (kept apart, so an
    // origin can never share a language's name).
    let mut lengths: [Vec<usize>; 3] = Default::default();
    let mut origin_lengths: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for j in &judged {
        let i = if j.lang == Lang::En { 1 } else { 0 };
        if j.answered {
            let n = j.text.chars().count();
            lengths[i].push(n);
            lengths[2].push(n);
            origin_lengths.entry(&j.origin).or_default().push(n);
        }
        rows[i].add(j);
        rows[2].add(j);
        by_origin
            .entry(j.origin.clone())
            .or_insert_with(|| Row {
                group: j.origin.clone(),
                ..Default::default()
            })
            .add(j);
    }
    fn median(v: &mut [usize]) -> usize {
        v.sort_unstable();
        v.get(v.len() / 2).copied().unwrap_or(0)
    }
    for (r, v) in rows.iter_mut().zip(lengths.iter_mut()) {
        r.median_chars = median(v);
    }
    for (origin, r) in by_origin.iter_mut() {
        r.median_chars = origin_lengths
            .get_mut(origin.as_str())
            .map_or(0, |v| median(v));
    }
    Report {
        pipeline: pipeline.to_string(),
        split: split.map_or("all", Split::as_str).to_string(),
        rows,
        by_origin: by_origin.into_values().collect(),
        judged,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SourceRef;

    fn q(label: &str, expect: &[&str], facts: &[&str]) -> KbQuestion {
        serde_json::from_value(serde_json::json!({
            "id": "t1", "question": "Vad kostar det?", "language": "sv",
            "label": label, "expect": expect, "facts": facts,
        }))
        .expect("question")
    }

    fn answer(kind: AnswerKind, path: &str, text: &str) -> Answer {
        Answer {
            kind,
            lang: Lang::Sv,
            text: text.into(),
            sources: vec![SourceRef {
                title: "T".into(),
                path: path.into(),
                url: None,
                example: false,
            }],
            confidence: 0.9,
            query: String::new(),
            follow_up: false,
            generated: false,
            llm_fallback: None,
            degraded: false,
            replaces_draft: false,
        }
    }

    #[test]
    fn an_answer_is_right_only_with_the_right_source_and_every_fact() {
        let qq = q(
            "answer",
            &["faq/kostar.md"],
            &["kostnadsfri|free", "avgift"],
        );
        let facts = compile(std::slice::from_ref(&qq)).expect("compile");
        let f = &facts["t1"];
        let good = answer(
            AnswerKind::Answered,
            "faq/kostar.md",
            "Det är KOSTNADSFRITT,\n• ingen avgift.",
        );
        assert!(judge(&qq, &good, f).right);
        let wrong_source = answer(
            AnswerKind::Answered,
            "guides/x.md",
            "kostnadsfri, ingen avgift",
        );
        let j = judge(&qq, &wrong_source, f);
        assert!(!j.right && !j.source_right && j.facts_right);
        let missing = answer(
            AnswerKind::Answered,
            "faq/kostar.md",
            "Det är kostnadsfritt.",
        );
        let j = judge(&qq, &missing, f);
        assert!(!j.right && j.source_right && j.missing_facts == ["avgift"]);
        let abst = answer(AnswerKind::Abstained, "faq/kostar.md", "kostnadsfri avgift");
        assert!(
            !judge(&qq, &abst, f).right,
            "an abstention is never a right answer"
        );
    }

    #[test]
    fn the_median_length_counts_only_answers_given_per_group() {
        let qq = q("answer", &["a.md"], &[]);
        let judged: Vec<Judged> = [
            (AnswerKind::Answered, "12345"),
            (AnswerKind::Answered, "1"),
            (AnswerKind::Answered, "123"),
            (AnswerKind::Abstained, &"x".repeat(500)),
        ]
        .into_iter()
        .map(|(k, t)| judge(&qq, &answer(k, "a.md", t), &[]))
        .collect();
        let r = summarise("ranked", None, judged);
        let all = r.rows.iter().find(|x| x.group == "all").expect("all");
        assert_eq!(all.median_chars, 3, "an abstention's text is not an answer");
        let sv = r.rows.iter().find(|x| x.group == "sv").expect("sv");
        assert_eq!(sv.median_chars, 3);
        let en = r.rows.iter().find(|x| x.group == "en").expect("en");
        assert_eq!(en.median_chars, 0, "no English answers");
        assert_eq!(r.by_origin[0].median_chars, 3);
    }

    #[test]
    fn abstain_and_either_questions_are_judged_by_their_label() {
        let no = q("abstain", &[], &[]);
        let said = answer(AnswerKind::Answered, "x.md", "something");
        assert!(!judge(&no, &said, &[]).right);
        assert!(judge(&no, &answer(AnswerKind::OffTopic, "", ""), &[]).right);
        let either = q("either", &["a.md"], &["ja"]);
        let f = compile(std::slice::from_ref(&either)).expect("compile");
        assert!(judge(&either, &answer(AnswerKind::Abstained, "", ""), &f["t1"]).right);
        assert!(
            judge(
                &either,
                &answer(AnswerKind::Answered, "a.md", "ja"),
                &f["t1"]
            )
            .right
        );
        assert!(
            !judge(
                &either,
                &answer(AnswerKind::Answered, "b.md", "ja"),
                &f["t1"]
            )
            .right
        );
        let r = summarise(
            "ranked",
            None,
            vec![
                judge(&no, &said, &[]),
                judge(&either, &answer(AnswerKind::Abstained, "", ""), &f["t1"]),
            ],
        );
        let all = &r.rows[2];
        assert_eq!(
            (
                all.unanswerable,
                all.abstained,
                all.either,
                all.either_right
            ),
            (1, 0, 1, 1)
        );
    }

    #[test]
    fn a_broken_fact_regex_names_its_question() {
        let bad = q("answer", &["a.md"], &["(unclosed"]);
        let e = compile(&[bad]).expect_err("bad regex");
        assert!(e.to_string().contains("t1"), "{e}");
    }
}
