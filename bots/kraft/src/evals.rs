//! `kraft eval`: `answers` (what the user reads, per language and split,
//! with the baseline beside it), `fit` (fits the second-stage ranker on
//! the dev split and writes `config/ranker.json`), `cv` (the same fit
//! judged by cross-validation within dev), `kb` (retrieval alone
//! over the knowledge base's questions) and `swefaq` (the public Swedish
//! FAQ benchmark).

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};

use kraft_core::evaluate::{self, Report, Row};
use kraft_ingest::eval::{KbQuestion, Label, Split};
use kraft_ingest::fit::{self, Cand, Example};
use kraft_ingest::index::SearchFilter;
use kraft_ingest::rank::{RankModel, RankerFile};
use kraft_ingest::search::{Mode, Pipeline, Retriever};
use kraft_ingest::{Knowledge, KnowledgeSettings};

use crate::config::Settings;
use crate::{knowledge, EvalCommand};

/// Which questions to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SplitArg {
    Dev,
    Test,
    All,
}

impl SplitArg {
    fn split(self) -> Option<Split> {
        match self {
            SplitArg::Dev => Some(Split::Dev),
            SplitArg::Test => Some(Split::Test),
            SplitArg::All => None,
        }
    }
}

/// The baseline settings: the pipeline and threshold that shipped before
/// the ranked pipeline (BM25 words only, leading sentences, coverage 0.6).
pub fn baseline(k: &KnowledgeSettings) -> KnowledgeSettings {
    let mut b = k.clone();
    b.search.pipeline = Pipeline::Baseline;
    b.search.min_confidence = 0.6;
    b
}

async fn assistant_on(
    settings: &Settings,
    knowledge: KnowledgeSettings,
    backend: &Knowledge,
    state: &Path,
) -> Result<kraft_core::Assistant> {
    let k = Knowledge::with_backend(
        backend.backend().clone(),
        knowledge,
        settings.secrets.clone(),
    )?;
    knowledge::assistant_with(settings, k, state).await
}

pub async fn answers(
    settings: &Settings,
    knowledge: &Knowledge,
    questions: &Path,
    split: SplitArg,
    compare: bool,
    json: bool,
    misses: bool,
) -> Result<ExitCode> {
    let qs = kraft_ingest::eval::load_questions(questions)?;
    let tmp = tempfile::tempdir().context("temporary directory")?;
    let mut reports = Vec::new();
    let ranked = assistant_on(
        settings,
        settings.knowledge.clone(),
        knowledge,
        &tmp.path().join("a.sqlite"),
    )
    .await?;
    let name = match settings.knowledge.search.pipeline {
        Pipeline::Ranked => "ranked",
        Pipeline::Baseline => "baseline",
    };
    reports.push(evaluate::run(&ranked, name, &qs, split.split()).await?);
    if compare {
        let base = assistant_on(
            settings,
            baseline(&settings.knowledge),
            knowledge,
            &tmp.path().join("b.sqlite"),
        )
        .await?;
        reports.push(evaluate::run(&base, "baseline", &qs, split.split()).await?);
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
        return Ok(ExitCode::SUCCESS);
    }
    let r0 = &reports[0];
    println!(
        "Answers on the {} split: {} questions from {} (retrieval: {})",
        r0.split,
        r0.judged.len(),
        questions.display(),
        if knowledge.embedder().is_some() {
            "hybrid"
        } else {
            "bm25"
        }
    );
    println!();
    print_table(&reports, |r| &r.rows);
    println!();
    println!("By origin (blind: written without the documents; kb: beside them; issue: reported examples):");
    println!();
    print_table(&reports, |r| &r.by_origin);
    if misses {
        if split == SplitArg::Test {
            eprintln!("kraft: listing test misses; tune on dev only");
        }
        for r in &reports {
            println!("\n## {} misses", r.pipeline);
            for j in r.judged.iter().filter(|j| !j.right) {
                let what = match j.label {
                    Label::Abstain => "should abstain".to_string(),
                    _ if !j.answered => format!("abstained ({:.2})", j.confidence),
                    _ if !j.source_right => {
                        format!("source {}", j.first_source.as_deref().unwrap_or("-"))
                    }
                    _ => format!("missing {}", j.missing_facts.join(" ; ")),
                };
                println!(
                    "- {} [{}] {} → {what}\n    {}",
                    j.id,
                    j.lang.as_str(),
                    j.question,
                    j.text.chars().take(220).collect::<String>()
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_table(reports: &[Report], rows: impl Fn(&Report) -> &Vec<Row>) {
    println!("| pipeline | questions | answerable | first source right | facts in answer | right | false abstentions | unanswerable | abstained | either ok | median answer chars |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for r in reports {
        for row in rows(r) {
            let p = |n: usize, of: usize| format!("{:.1} % ({n}/{of})", Row::pct(n, of));
            println!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                r.pipeline,
                row.group,
                row.answerable,
                p(row.source_right, row.answerable),
                p(row.facts_right, row.answerable),
                p(row.right, row.answerable),
                p(row.false_abstentions, row.answerable),
                row.unanswerable,
                p(row.abstained, row.unanswerable),
                p(row.either_right, row.either),
                row.median_chars,
            );
        }
    }
}

/// Candidates of the dev questions under `retriever`, as fitting examples.
async fn examples(
    retriever: &Retriever,
    qs: &[(String, Vec<String>, Option<bool>, f32)],
    mode: Mode,
) -> Result<Vec<Example>> {
    let mut out = Vec::with_capacity(qs.len());
    for (q, expect, answerable, weight) in qs {
        let (query, scored, _, _) = retriever
            .ranked_candidates(q, &SearchFilter::default(), mode)
            .await?;
        out.push(Example {
            query,
            cands: scored
                .into_iter()
                .map(|s| Cand {
                    kind: s.candidate.payload.kind,
                    doc_path: s.candidate.payload.doc_path.clone(),
                    features: s.features,
                })
                .collect(),
            expect: expect.clone(),
            answerable: *answerable,
            weight: *weight,
        });
    }
    Ok(out)
}

/// Where a fit goes and how it reports.
pub struct FitTo<'a> {
    /// The ranker file to write.
    pub out: &'a Path,
    /// Largest share of answerable dev questions the threshold may abstain on.
    pub max_false: f32,
    /// Also write each dev question's confidence inputs here.
    pub dump: Option<&'a Path>,
    /// No progress lines (cross-validation fits many times).
    pub quiet: bool,
}

/// How much one of the answer-quality issue's examples counts in the fit
/// against any other dev question.
const ISSUE_WEIGHT: f32 = 2.0;

/// The dev split of a question file.
fn dev_questions(questions: &Path) -> Result<Vec<KbQuestion>> {
    Ok(kraft_ingest::eval::load_questions(questions)?
        .into_iter()
        .filter(|q| q.split() == Split::Dev)
        .collect())
}

/// Fits the second stage on dev questions `qs` of the knowledge base,
/// plus SweFAQ's dev half (ranking only) when it is there.
pub async fn fit(
    settings: &Settings,
    knowledge: &Knowledge,
    qs: &[KbQuestion],
    swefaq: &Path,
    to: FitTo<'_>,
) -> Result<ExitCode> {
    let FitTo {
        out,
        max_false,
        dump,
        quiet,
    } = to;
    let kb: Vec<(String, Vec<String>, Option<bool>, f32)> = qs
        .iter()
        .map(|q| {
            let answerable = match q.label() {
                Label::Answer => Some(true),
                Label::Abstain => Some(false),
                Label::Either => None,
            };
            // The answer-quality issue's own examples are requirements
            // (its tests demand right, complete answers to each), so the
            // fit gives them more say than one question of 437.
            let weight = if q.origin.as_deref() == Some("issue") {
                ISSUE_WEIGHT
            } else {
                1.0
            };
            (q.question.clone(), q.expect.clone(), answerable, weight)
        })
        .collect();
    let retriever = knowledge
        .retriever()
        .await?
        .with_ranker(RankerFile::default());
    let mut modes = vec![Mode::Bm25];
    if retriever.has_dense() {
        modes.push(Mode::Hybrid);
    }
    // SweFAQ's dev half in its own throw-away index (ranking only).
    let work = tempfile::tempdir().context("temporary directory")?;
    let sf = if swefaq.join("swefaq_dev.jsonl").is_file() {
        let data = kraft_ingest::eval::load_swefaq(swefaq)?;
        let backend: Arc<dyn kraft_ingest::index::IndexBackend> = Arc::new(
            kraft_ingest::index::edge::EdgeIndex::open(&work.path().join("index"))?,
        );
        backend.reset().await?;
        let r = kraft_ingest::eval::index_passages(
            backend,
            &settings.knowledge,
            &settings.secrets,
            &data.passages,
            1000,
            |_| {},
        )
        .await?
        .with_ranker(RankerFile::default());
        let dev: Vec<(String, Vec<String>, Option<bool>, f32)> = data
            .queries
            .iter()
            .zip(&data.splits)
            .filter(|(_, s)| **s == Split::Dev)
            .map(|((q, gold), _)| (q.clone(), vec![format!("swefaq/{gold}")], None, 0.5))
            .collect();
        Some((r, dev))
    } else {
        eprintln!(
            "kraft: {} not found; fitting on the knowledge base's questions only",
            swefaq.display()
        );
        None
    };
    let mut file = RankerFile {
        fitted_on: String::new(),
        models: Default::default(),
        section: Default::default(),
    };
    let mut described = Vec::new();
    for mode in modes {
        let mut ex = examples(&retriever, &kb, mode).await?;
        let n_kb = ex.len();
        let mut n_sf = 0;
        if let Some((r, dev)) = &sf {
            // SweFAQ has no dense run here unless the same endpoint embeds it.
            let m = if r.has_dense() { mode } else { Mode::Bm25 };
            let more = examples(r, dev, m).await?;
            n_sf = more.len();
            ex.extend(more);
        }
        let model = fit::fit(&mut ex, &RankModel::untrained(), max_false);
        if let Some(path) = dump {
            // The confidence inputs of every dev question, for analysis.
            let rows: Vec<serde_json::Value> = ex
                .iter()
                .filter_map(|e| {
                    let x = fit::top_inputs(&model.weights, e)?;
                    Some(
                        serde_json::json!({"q": e.query.lower, "answerable": e.answerable, "x": x}),
                    )
                })
                .collect();
            let path = path.with_extension(format!("{}.json", mode.as_str()));
            std::fs::write(&path, serde_json::to_string(&rows)?)?;
        }
        if !quiet {
            println!(
                "{}: objective {:.3} (hand-set {:.3}) on {n_kb} knowledge-base + {n_sf} SweFAQ dev questions",
                mode.as_str(),
                fit::objective(&model.weights, &ex),
                fit::objective(&RankModel::untrained().weights, &ex),
            );
        }
        described.push(format!("{} ({n_kb} kb + {n_sf} SweFAQ)", mode.as_str()));
        file.models.insert(mode.as_str().to_string(), model);
    }
    file.fitted_on = format!(
        "`kraft eval fit` on the dev split only: {}; false abstentions allowed on dev: {:.0} %; \
         section choice (bm25) on the dev questions with facts whose top page is right",
        described.join(", "),
        max_false * 100.0
    );
    let write = |file: &RankerFile| -> Result<()> {
        let text = serde_json::to_string_pretty(file)? + "\n";
        std::fs::write(out, text).with_context(|| format!("cannot write {}", out.display()))
    };
    // The section choice is fitted on the answers the new ranker gives,
    // so the ranker goes to disk first and an assistant reads it back.
    write(&file)?;
    file.section = fit_sections(settings, knowledge, qs, out, quiet).await?;
    write(&file)?;
    if !quiet {
        println!("wrote {}", out.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Cross-validation within dev: for each of `seeds` random halvings of
/// the dev questions, fits on one half and judges the answers on the
/// other, and the other way round; prints the counts summed over the
/// folds. A change to features, cues or term lists can be judged on
/// questions its fit never saw without running the test split (the
/// in-sample dev numbers reward whatever was fitted on them).
pub async fn cv(
    settings: &Settings,
    knowledge: &Knowledge,
    questions: &Path,
    swefaq: &Path,
    seeds: u32,
    max_false: f32,
) -> Result<ExitCode> {
    let dev = dev_questions(questions)?;
    let work = tempfile::tempdir().context("temporary directory")?;
    // Every fold's judged questions; summarised once at the end, so the
    // counts are summed over the folds and the medians taken over them all.
    let mut judged = Vec::new();
    for seed in 0..seeds.max(1) {
        // A question's half under this seed, from its id: the folds do
        // not depend on the order of the file.
        let half =
            |q: &KbQuestion| blake3::hash(format!("{seed}:{}", q.id).as_bytes()).as_bytes()[0] % 2;
        for fold in 0..2u8 {
            let (train, judge): (Vec<KbQuestion>, Vec<KbQuestion>) =
                dev.iter().cloned().partition(|q| half(q) == fold);
            let ranker = work.path().join("ranker.json");
            fit(
                settings,
                knowledge,
                &train,
                swefaq,
                FitTo {
                    out: &ranker,
                    max_false,
                    dump: None,
                    quiet: true,
                },
            )
            .await?;
            let mut ks = settings.knowledge.clone();
            ks.search.ranker = Some(ranker.clone());
            let state = work.path().join(format!("cv-{seed}-{fold}.sqlite"));
            let assistant = assistant_on(settings, ks, knowledge, &state).await?;
            let report = evaluate::run(&assistant, "ranked", &judge, Some(Split::Dev)).await?;
            judged.extend(report.judged);
        }
    }
    let report = evaluate::summarise("ranked", Some(Split::Dev), judged);
    println!(
        "Cross-validation within dev: {} dev questions from {}, {} halvings × 2 folds, each fold fitted on the other half (test untouched); counts summed over the folds",
        dev.len(),
        questions.display(),
        seeds.max(1)
    );
    println!();
    print_table(std::slice::from_ref(&report), |r| &r.rows);
    println!();
    println!("By origin (blind: written without the documents; kb: beside them; issue: reported examples):");
    println!();
    print_table(std::slice::from_ref(&report), |r| &r.by_origin);
    Ok(ExitCode::SUCCESS)
}

/// Fits the section choice: for each answerable dev question with facts
/// whose top page (under the ranker in `ranker`, BM25) is a right one,
/// which of the page's sections hold every fact.
async fn fit_sections(
    settings: &Settings,
    knowledge: &Knowledge,
    qs: &[KbQuestion],
    ranker: &Path,
    quiet: bool,
) -> Result<kraft_ingest::section::SectionModel> {
    let mut ks = settings.knowledge.clone();
    ks.search.ranker = Some(ranker.to_path_buf());
    // Under the embedded default (BM25), whatever else is configured: the
    // section model serves every mode, and the default is what most
    // deployments run and what the README's answer numbers measure.
    ks.embeddings.base_url = String::new();
    let bm25 = Knowledge::with_backend(knowledge.backend().clone(), ks, settings.secrets.clone())?;
    let tmp = tempfile::tempdir().context("temporary directory")?;
    let store = kraft_core::Store::open(&tmp.path().join("s.sqlite"))
        .context("cannot open the state database")?;
    let assistant = kraft_core::Assistant::new(
        Arc::new(bm25),
        Arc::new(store),
        settings.core.clone(),
        None,
        Arc::new(kraft_core::model::SystemClock),
    )
    .await
    .context("cannot start the assistant")?;
    let facts = evaluate::compile(qs)?;
    let mut ex = Vec::new();
    for q in qs.iter().filter(|q| q.label() == Label::Answer) {
        let Some(f) = facts.get(&q.id).filter(|f| !f.is_empty()) else {
            continue;
        };
        let Some(s) = assistant.section_sample(&q.question).await else {
            continue;
        };
        if !q.expect.contains(&s.doc_path) {
            continue;
        }
        let has_facts = s
            .quotable
            .iter()
            .map(|t| {
                let t = evaluate::normalise(t);
                f.iter().all(|r| r.is_match(&t))
            })
            .collect();
        ex.push(fit::SectionExample {
            features: s.features,
            has_facts,
        });
    }
    let init = kraft_ingest::section::SectionModel::default();
    let model = fit::fit_sections(&ex, &init);
    if !quiet {
        println!(
            "sections: objective {:.3} (hand-set {:.3}) on {} dev questions",
            fit::section_objective(&model, &ex),
            fit::section_objective(&init, &ex),
            ex.len()
        );
    }
    Ok(model)
}

/// The knowledge index, brought up to date with the knowledge folder.
async fn fresh_knowledge(settings: &Settings) -> Result<Knowledge> {
    let k = knowledge::open(settings).await?;
    knowledge::ensure_fresh(settings, &k, &settings.knowledge.knowledge_dir).await?;
    Ok(k)
}

/// Runs one `kraft eval` subcommand.
pub(crate) async fn run(settings: &Settings, what: EvalCommand) -> Result<ExitCode> {
    let questions = |q: Option<std::path::PathBuf>| {
        q.unwrap_or_else(|| {
            settings
                .knowledge
                .knowledge_dir
                .join("eval-questions.jsonl")
        })
    };
    match what {
        EvalCommand::Swefaq { data, json, sweep } => {
            eval_swefaq(settings, &data, json, &sweep).await
        }
        EvalCommand::Kb { questions: q, json } => eval_kb(settings, &questions(q), json).await,
        EvalCommand::Answers {
            questions: q,
            split,
            compare,
            json,
            misses,
        } => {
            let k = fresh_knowledge(settings).await?;
            answers(settings, &k, &questions(q), split, compare, json, misses).await
        }
        EvalCommand::Fit {
            questions: q,
            swefaq,
            out,
            max_false_abstentions,
            dump,
        } => {
            let k = fresh_knowledge(settings).await?;
            fit(
                settings,
                &k,
                &dev_questions(&questions(q))?,
                &swefaq,
                FitTo {
                    out: &out,
                    max_false: max_false_abstentions,
                    dump: dump.as_deref(),
                    quiet: false,
                },
            )
            .await
        }
        EvalCommand::Cv {
            questions: q,
            swefaq,
            seeds,
            max_false_abstentions,
        } => {
            let k = fresh_knowledge(settings).await?;
            cv(
                settings,
                &k,
                &questions(q),
                &swefaq,
                seeds,
                max_false_abstentions,
            )
            .await
        }
    }
}

async fn eval_swefaq(
    settings: &Settings,
    data: &Path,
    json: bool,
    sweep: &[f32],
) -> Result<ExitCode> {
    let work = tempfile::tempdir().context("cannot create a temporary directory")?;
    let bar = crate::progress::Bar::new();
    bar.set(219, "embedding");
    let report = kraft_ingest::eval::swefaq(
        data,
        &settings.knowledge,
        &settings.secrets,
        &work.path().join("index"),
        sweep,
        |n| bar.position(n as u64),
    )
    .await
    .with_context(|| format!("SweFAQ evaluation on {} failed", data.display()))?;
    bar.done();
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "SweFAQ: {} passages, {} questions, backend {}, fusion weights bm25 {:.2} / dense {:.2}",
        report.passages, report.queries, report.backend, report.sparse_weight, report.dense_weight
    );
    println!(
        "| pipeline | retriever | split | weights bm25/dense | R@1 | R@5 | MRR@10 | nDCG@10 | p50 ms |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for m in &report.modes {
        let weights = if m.pipeline == "ranked" {
            "second stage".to_string()
        } else {
            format!("{:.2}/{:.2}", m.sparse_weight, m.dense_weight)
        };
        println!(
            "| {} | {} | {} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |",
            m.pipeline,
            m.mode.as_str(),
            m.split,
            weights,
            m.recall_at_1,
            m.recall_at_5,
            m.mrr_at_10,
            m.ndcg_at_10,
            m.p50_ms
        );
    }
    if !report
        .modes
        .iter()
        .any(|m| m.mode != kraft_ingest::search::Mode::Bm25)
    {
        println!("(dense and hybrid need an embeddings endpoint: set KRAFT_EMBEDDINGS__BASE_URL)");
    }
    Ok(ExitCode::SUCCESS)
}

async fn eval_kb(settings: &Settings, questions: &Path, json: bool) -> Result<ExitCode> {
    let qs = kraft_ingest::eval::load_questions(questions)?;
    let k = knowledge::open(settings).await?;
    knowledge::ensure_fresh(settings, &k, &settings.knowledge.knowledge_dir).await?;
    let retriever = k.retriever().await?;
    let report =
        kraft_ingest::eval::kb(&retriever, &qs, settings.knowledge.search.min_confidence).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "Knowledge-base questions from {} (abstain below confidence {:.2})",
        questions.display(),
        report.threshold
    );
    println!("| retriever | answerable | Recall@5 | MRR@10 | false abstentions | unanswerable | abstained |");
    println!("|---|---|---|---|---|---|---|");
    for m in &report.modes {
        println!(
            "| {} | {} | {:.3} | {:.3} | {} | {} | {:.0} % |",
            m.mode.as_str(),
            m.answerable,
            m.recall_at_5,
            m.mrr_at_10,
            m.false_abstentions,
            m.unanswerable,
            m.abstention_rate * 100.0
        );
    }
    for m in &report.modes {
        if !m.misses.is_empty() {
            println!(
                "{} missed (not in top 5): {}",
                m.mode.as_str(),
                m.misses.join(", ")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
