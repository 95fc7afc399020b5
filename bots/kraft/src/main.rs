//! The `kraft` binary: command-line parsing, settings, logging, and the
//! subcommands. Each subcommand is a thin layer over the library crates;
//! errors become one clear message and a non-zero exit, never a panic.

mod backup;
mod bench;
mod chat;
mod config;
mod doctor;
mod evals;
mod metrics;
mod progress;
mod report;
mod serve;
mod tickets;
mod watch;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use kraft_ingest::doc::Kind;
use kraft_ingest::index::SearchFilter;
use kraft_ingest::sync::IngestReport;
use kraft_ingest::{IngestOptions, Knowledge};

use crate::config::Settings;

/// Kraft: the AI guidance assistant of Kraftsamling AI Mälardalen.
#[derive(Debug, Parser)]
#[command(name = "kraft", version, about)]
struct Cli {
    /// A TOML file layered over the embedded defaults (also KRAFT_CONFIG).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Chat with the assistant in this terminal (ingests the knowledge base first if needed).
    Chat {
        /// Who you are in the conversation (state is kept per user).
        #[arg(long, default_value = "local")]
        user: String,
        /// Re-sync the knowledge folder at least this often (and on every file change); 0 = never.
        #[arg(long, default_value_t = 60)]
        sync_secs: u64,
    },
    /// Run in production: every configured front-end (Telegram when
    /// KRAFT_TELEGRAM_TOKEN is set), /healthz and /metrics, reminders and
    /// retention, and the knowledge folder followed. Stops on SIGTERM.
    Serve,
    /// Answer one question and exit: answer, sources, confidence, escalation.
    Ask {
        question: String,
        #[arg(long)]
        json: bool,
    },
    /// The adviser loop: list, show, claim, reply to and resolve tickets.
    Tickets {
        #[command(subcommand)]
        what: tickets::TicketsCommand,
    },
    /// A consistent copy of the state database, taken while `kraft serve`
    /// runs; copies older than privacy.retention_days are removed.
    Backup {
        /// Folder for the copies (default: <data_dir>/backups; prefer another disk).
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Replace the state database with a backup (the current one is saved
    /// first). Stop `kraft serve` before restoring.
    Restore {
        /// A file written by `kraft backup`.
        file: PathBuf,
        /// Only check the file (integrity, stamp, schema) and describe it.
        #[arg(long)]
        check: bool,
        /// Where the current database is saved first (default: <data_dir>/backups).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Check a deployment before going live: configuration, state database,
    /// knowledge and index, embeddings and LLM endpoints, each chat
    /// platform's token and adviser rights. One line per check; exits
    /// non-zero when any fails.
    Doctor {
        #[arg(long)]
        json: bool,
    },
    /// Reports for the project team: follow-up numbers and knowledge gaps.
    Report {
        #[command(subcommand)]
        what: report::ReportCommand,
    },
    /// Index the Markdown knowledge base (incremental; only changes are written).
    Ingest {
        /// Knowledge folder (default: the configured knowledge_dir).
        path: Option<PathBuf>,
        /// Show what would change without writing anything.
        #[arg(long)]
        dry_run: bool,
        /// Drop the index and build it again.
        #[arg(long)]
        rebuild: bool,
        /// Print the summary as JSON (one line per sync with --watch).
        #[arg(long)]
        json: bool,
        /// Keep running: re-sync when files change, and at least every --interval seconds.
        #[arg(long)]
        watch: bool,
        /// Seconds between periodic syncs in --watch mode (catches missed file events).
        #[arg(long, default_value_t = 60)]
        interval: u64,
    },
    /// Curator tools for the knowledge base.
    Kb {
        #[command(subcommand)]
        what: KbCommand,
    },
    /// Search the knowledge base (ingests first if the index is missing or stale).
    Search {
        query: String,
        /// Print results as JSON.
        #[arg(long)]
        json: bool,
        /// Only these kinds (project, case, support, event, faq, guide); repeatable.
        #[arg(long)]
        kind: Vec<String>,
        /// Only documents for this region (vastmanland, sormland, national, other); repeatable.
        #[arg(long)]
        region: Vec<String>,
        /// Only events from today on.
        #[arg(long)]
        upcoming: bool,
        /// Number of results.
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Measure retrieval quality.
    Eval {
        #[command(subcommand)]
        what: EvalCommand,
    },
    /// Measure speed and size: ingest throughput, query latency at 1k/10k/100k chunks, memory.
    Bench {
        /// Corpus sizes in chunks.
        #[arg(long, value_delimiter = ',', default_value = "1000,10000,100000")]
        sizes: Vec<usize>,
        /// Timed queries per size.
        #[arg(long, default_value_t = 2000)]
        queries: usize,
        /// SweFAQ folder, used as a source of real Swedish text and questions.
        #[arg(long, default_value = "../shared/data/swefaq")]
        swefaq: PathBuf,
        /// Messages sent through the assistant's `handle` (no LLM) on the real knowledge base; 0 skips.
        #[arg(long, default_value_t = 300)]
        handle_messages: usize,
        /// Skip the corpus-size runs (only the `handle` latency).
        #[arg(long)]
        handle_only: bool,
    },
}

#[derive(Debug, Subcommand)]
enum KbCommand {
    /// Validate every document; exits non-zero on errors (file:line messages).
    Check {
        /// Knowledge folder (default: the configured knowledge_dir).
        path: Option<PathBuf>,
        /// Warn when `reviewed` is older than this many days.
        #[arg(long, default_value_t = 365)]
        max_age_days: i64,
        /// Treat "today" as this date (YYYY-MM-DD), e.g. to preview next month.
        #[arg(long)]
        today: Option<chrono::NaiveDate>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum EvalCommand {
    /// The SweFAQ retrieval benchmark: R@1, R@5, MRR@10 per retrieval mode.
    Swefaq {
        /// Folder with swefaq_dev.jsonl and swefaq_test.jsonl.
        #[arg(long, default_value = "../shared/data/swefaq")]
        data: PathBuf,
        #[arg(long)]
        json: bool,
        /// Also score hybrid fusion with these BM25 weights (dense = 1 - w).
        #[arg(long, value_delimiter = ',')]
        sweep: Vec<f32>,
    },
    /// The knowledge base's own questions (knowledge/eval-questions.jsonl).
    Kb {
        /// Question file (default: <knowledge_dir>/eval-questions.jsonl).
        #[arg(long)]
        questions: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// What the user reads: first source, facts in the answer, abstention, per language.
    Answers {
        /// Question file (default: <knowledge_dir>/eval-questions.jsonl).
        #[arg(long)]
        questions: Option<PathBuf>,
        /// Which questions: dev (for tuning), test (for reporting), all.
        #[arg(long, value_enum, default_value = "dev")]
        split: evals::SplitArg,
        /// Also run the baseline pipeline (BM25 + leading sentences) in the same run.
        #[arg(long)]
        compare: bool,
        #[arg(long)]
        json: bool,
        /// List every question judged wrong, with the answer.
        #[arg(long)]
        misses: bool,
    },
    /// Fit the second-stage ranker on the dev split and write it (config/ranker.json).
    Fit {
        /// Question file (default: <knowledge_dir>/eval-questions.jsonl).
        #[arg(long)]
        questions: Option<PathBuf>,
        /// SweFAQ folder; its dev half is added to the ranking data when present.
        #[arg(long, default_value = "../shared/data/swefaq")]
        swefaq: PathBuf,
        /// Where to write the fitted models.
        #[arg(long, default_value = "config/ranker.json")]
        out: PathBuf,
        /// Largest share of answerable dev questions the confidence threshold may abstain on.
        #[arg(long, default_value_t = 0.03)]
        max_false_abstentions: f32,
        /// Also write each dev question's confidence inputs here (for analysis).
        #[arg(long)]
        dump: Option<PathBuf>,
    },
}

/// Libraries that put tokens in what they log: serenity records the
/// interaction token in its request spans, HTTP and websocket clients log
/// URLs and frames (webhook URLs and IDENTIFY carry tokens). They are kept
/// at `warn` unless the filter names them, so even `debug` leaks nothing.
const QUIET: &[&str] = &[
    "serenity",
    "reqwest",
    "hyper",
    "hyper_util",
    "tungstenite",
    "tokio_tungstenite",
];

fn log_filter(filter: &str) -> String {
    let mut f = filter.trim().to_string();
    for lib in QUIET {
        if !f.contains(lib) {
            if !f.is_empty() {
                f.push(',');
            }
            f.push_str(lib);
            f.push_str("=warn");
        }
    }
    f
}

fn init_logging(settings: &config::LogSettings) {
    let filter = log_filter(&std::env::var("RUST_LOG").unwrap_or_else(|_| settings.filter.clone()));
    let filter = tracing_subscriber::EnvFilter::try_new(&filter).unwrap_or_else(|_| "info".into());
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match settings.format {
        config::LogFormat::Text => b.try_init(),
        config::LogFormat::Json => b.json().try_init(),
    };
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match config::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("kraft: {e:#}");
            return ExitCode::from(2);
        }
    };
    init_logging(&settings.log);
    // At least four workers even on two cores: store calls block a worker
    // while SQLite waits for a lock, and the chat front-ends need a free one
    // for deadlines (Discord's 3-second acknowledgement).
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .max(4);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kraft: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli.command, settings)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("kraft: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cmd: Command, settings: Settings) -> Result<ExitCode> {
    match cmd {
        Command::Chat { user, sync_secs } => {
            let user = kraft_core::intent::sanitize(&user);
            if user.is_empty() || user.len() > 64 {
                anyhow::bail!("--user must be 1-64 printable characters");
            }
            let a = assistant(&settings, &tickets::state_path(&settings)).await?;
            let root = settings.knowledge.knowledge_dir.clone();
            let sync = (sync_secs > 0 && root.is_dir())
                .then(|| (root, std::time::Duration::from_secs(sync_secs)));
            chat::run(Arc::new(a), &user, sync).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve => {
            let a = assistant(&settings, &tickets::state_path(&settings)).await?;
            serve::run(&settings, a).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Ask { question, json } => {
            // Stores nothing: a throw-away state database.
            let tmp = tempfile::tempdir().context("temporary directory")?;
            let a = assistant(&settings, &tmp.path().join("ask.sqlite")).await?;
            let (ans, esc) = a.ask(&question).await?;
            if json {
                let v = serde_json::json!({
                    "answer": ans.render(&settings.core.assistant.knowledge_url),
                    "kind": ans.kind,
                    "language": ans.lang,
                    "confidence": ans.confidence,
                    "sources": ans.sources,
                    "generated": ans.generated,
                    "llm_fallback": ans.llm_fallback,
                    "escalation": esc,
                });
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                let body = match ans.kind {
                    kraft_core::AnswerKind::Answered => {
                        ans.render(&settings.core.assistant.knowledge_url)
                    }
                    kraft_core::AnswerKind::Abstained => {
                        kraft_core::texts::abstain(ans.lang).into()
                    }
                    kraft_core::AnswerKind::OffTopic => {
                        kraft_core::texts::off_topic(ans.lang).into()
                    }
                };
                println!("{body}\n");
                println!(
                    "confidence {:.2} · {} · {}{}",
                    ans.confidence,
                    ans.kind.as_str(),
                    if ans.generated { "llm" } else { "extractive" },
                    match (&esc.would_open_ticket, esc.offers_adviser) {
                        (Some(r), _) => format!(" · would open a ticket ({r})"),
                        (None, true) => " · offers an adviser".to_string(),
                        _ => String::new(),
                    }
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Tickets { what } => tickets::run(&settings, what),
        Command::Report { what } => report::run(&settings, what),
        Command::Doctor { json } => doctor::run(&settings, json).await,
        Command::Backup { out, json } => backup::run_backup(&settings, out, json),
        Command::Restore { file, check, out } => backup::run_restore(&settings, &file, check, out),
        Command::Ingest {
            path,
            dry_run,
            rebuild,
            json,
            watch,
            interval,
        } => {
            let root = path.unwrap_or_else(|| settings.knowledge.knowledge_dir.clone());
            let k = open(&settings).await?;
            if watch {
                watch::run(
                    &k,
                    &root,
                    json,
                    std::time::Duration::from_secs(interval.max(1)),
                )
                .await?;
                return Ok(ExitCode::SUCCESS);
            }
            let bar = progress::Bar::new();
            let report = k
                .ingest(&root, IngestOptions { dry_run, rebuild }, &bar)
                .await
                .with_context(|| format!("ingest of {} failed", root.display()))?;
            bar.done();
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_report(&report, &root);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Search {
            query,
            json,
            kind,
            region,
            upcoming,
            limit,
        } => {
            let mut filter = SearchFilter::default();
            for k in &kind {
                filter.kinds.push(Kind::parse(k).with_context(|| {
                    format!(
                        "unknown kind `{k}`; use one of project, case, support, event, faq, guide"
                    )
                })?);
            }
            for r in &region {
                if !kraft_ingest::doc::REGIONS.contains(&r.as_str()) {
                    anyhow::bail!(
                        "unknown region `{r}`; use one of {}",
                        kraft_ingest::doc::REGIONS.join(", ")
                    );
                }
                filter.regions.push(r.clone());
            }
            if upcoming {
                filter.upcoming_from = Some(chrono::Local::now().date_naive());
            }
            let k = open(&settings).await?;
            ensure_fresh(&k, &settings.knowledge.knowledge_dir).await?;
            let retriever = k.retriever().await?;
            let limit = limit
                .unwrap_or(settings.knowledge.search.limit)
                .clamp(1, 100);
            let resp = retriever.search(&query, &filter, limit).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&resp)?);
            } else {
                print_search(&resp);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Kb {
            what:
                KbCommand::Check {
                    path,
                    max_age_days,
                    today,
                    json,
                },
        } => {
            let root = path.unwrap_or_else(|| settings.knowledge.knowledge_dir.clone());
            let opts = kb_check_options(
                &settings,
                max_age_days,
                today.unwrap_or_else(|| chrono::Local::now().date_naive()),
            );
            let report = kraft_ingest::check::check(&root, &opts)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                for f in &report.findings {
                    println!(
                        "{}",
                        root.join(&f.path).display().to_string() + &f.to_string()[f.path.len()..]
                    );
                }
                println!(
                    "{}: {} documents, {} errors, {} warnings",
                    root.display(),
                    report.documents,
                    report.errors(),
                    report.warnings()
                );
            }
            Ok(if report.errors() > 0 {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Eval { what } => match what {
            EvalCommand::Swefaq { data, json, sweep } => {
                eval_swefaq(&settings, &data, json, &sweep).await
            }
            EvalCommand::Kb { questions, json } => {
                let qpath = questions.unwrap_or_else(|| {
                    settings
                        .knowledge
                        .knowledge_dir
                        .join("eval-questions.jsonl")
                });
                eval_kb(&settings, &qpath, json).await
            }
            EvalCommand::Answers {
                questions,
                split,
                compare,
                json,
                misses,
            } => {
                let qpath = questions.unwrap_or_else(|| {
                    settings
                        .knowledge
                        .knowledge_dir
                        .join("eval-questions.jsonl")
                });
                let k = open(&settings).await?;
                ensure_fresh(&k, &settings.knowledge.knowledge_dir).await?;
                evals::answers(&settings, &k, &qpath, split, compare, json, misses).await
            }
            EvalCommand::Fit {
                questions,
                swefaq,
                out,
                max_false_abstentions,
                dump,
            } => {
                let qpath = questions.unwrap_or_else(|| {
                    settings
                        .knowledge
                        .knowledge_dir
                        .join("eval-questions.jsonl")
                });
                let k = open(&settings).await?;
                ensure_fresh(&k, &settings.knowledge.knowledge_dir).await?;
                evals::fit(
                    &settings,
                    &k,
                    &qpath,
                    &swefaq,
                    &out,
                    max_false_abstentions,
                    dump.as_deref(),
                )
                .await
            }
        },
        Command::Bench {
            sizes,
            queries,
            swefaq,
            handle_messages,
            handle_only,
        } => {
            let sizes = if handle_only { Vec::new() } else { sizes };
            bench::run(&settings, &sizes, queries, &swefaq, handle_messages).await
        }
    }
}

/// The assistant on the configured knowledge index (refreshed first) and
/// the state database at `state`.
async fn assistant(settings: &Settings, state: &Path) -> Result<kraft_core::Assistant> {
    let k = open(settings).await?;
    ensure_fresh(&k, &settings.knowledge.knowledge_dir).await?;
    let store = kraft_core::Store::open(state).context("cannot open the state database")?;
    kraft_core::Assistant::new(
        Arc::new(k),
        Arc::new(store),
        settings.core.clone(),
        settings.llm_api_key.0.clone(),
        Arc::new(kraft_core::model::SystemClock),
    )
    .await
    .context("cannot start the assistant")
}

/// What `kraft kb check` (and `kraft doctor`) hold the knowledge base to.
fn kb_check_options(
    settings: &Settings,
    max_review_age_days: i64,
    today: chrono::NaiveDate,
) -> kraft_ingest::check::CheckOptions {
    kraft_ingest::check::CheckOptions {
        today,
        max_review_age_days,
        near_duplicate: 0.8,
        max_file_bytes: settings.knowledge.max_file_bytes,
        chunk: settings.knowledge.chunk,
        // What English users ask about most: the programme, its FAQ and
        // the support actors.
        twins_required: vec![
            kraft_ingest::doc::Kind::Faq,
            kraft_ingest::doc::Kind::Project,
            kraft_ingest::doc::Kind::Support,
        ],
    }
}

async fn open(settings: &Settings) -> Result<Knowledge> {
    Knowledge::open(settings.knowledge.clone(), settings.secrets.clone())
        .await
        .context("cannot open the knowledge index")
}

/// Ingests when the index is missing or out of date, so `search` and the
/// chat always answer from the current files.
async fn ensure_fresh(k: &Knowledge, root: &Path) -> Result<()> {
    if !root.is_dir() {
        return Ok(());
    }
    if k.is_stale(root).await? {
        let bar = progress::Bar::new();
        let report = k.ingest(root, IngestOptions::default(), &bar).await?;
        bar.done();
        eprintln!(
            "kraft: index updated from {} ({} added, {} updated, {} deleted)",
            root.display(),
            report.added.len(),
            report.updated.len(),
            report.deleted.len()
        );
        for s in &report.skipped {
            eprintln!("kraft: skipped {s}");
        }
    }
    Ok(())
}

pub(crate) fn print_report(r: &IngestReport, root: &Path) {
    let verb = if r.dry_run { "would be" } else { "" };
    if let Some(why) = &r.rebuilt {
        println!("Index rebuilt: {why}.");
    }
    let list = |label: &str, items: &[String]| {
        if !items.is_empty() {
            println!("{label} {verb}:");
            for i in items {
                println!("  {i}");
            }
        }
    };
    list("Added", &r.added);
    list("Updated", &r.updated);
    list("Deleted", &r.deleted);
    if !r.skipped.is_empty() {
        println!("Skipped:");
        for s in &r.skipped {
            println!("  {s}");
        }
    }
    println!(
        "{}: {} added, {} updated, {} deleted, {} unchanged, {} skipped; {} chunks written, {} removed; {} chunks in the index ({:.2}s){}",
        root.display(),
        r.added.len(),
        r.updated.len(),
        r.deleted.len(),
        r.unchanged.len(),
        r.skipped.len(),
        r.chunks_written,
        r.chunks_deleted,
        r.index_points,
        r.elapsed.as_secs_f64(),
        if r.dry_run { " — dry run, nothing was written" } else { "" }
    );
}

fn print_search(resp: &kraft_ingest::search::SearchResponse) {
    println!(
        "language: {}  mode: {}  confidence: {:.2}",
        resp.query_language,
        resp.mode.as_str(),
        resp.confidence
    );
    if let Some(w) = &resp.warning {
        println!("warning: {w}");
    }
    if resp.results.is_empty() {
        println!("No results.");
    }
    for (i, f) in resp.results.iter().enumerate() {
        let c = &f.chunk;
        // The H1 usually repeats the title; show only the sections below it.
        let path: Vec<&str> = c
            .heading_path
            .iter()
            .map(String::as_str)
            .filter(|h| *h != c.title)
            .collect();
        let heading = if path.is_empty() {
            String::new()
        } else {
            format!(" › {}", path.join(" › "))
        };
        println!(
            "{}. [{:.3}] {}{}  ({}:{}, {}{})",
            i + 1,
            f.score,
            c.title,
            heading,
            c.doc_path,
            c.line,
            c.kind,
            if c.example { ", example" } else { "" }
        );
        let snippet: String = c.text.split_whitespace().collect::<Vec<_>>().join(" ");
        let snippet: String = snippet.chars().take(200).collect();
        println!("   {snippet}");
        if let Some(u) = &c.source_url {
            println!("   {u}");
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
    let bar = progress::Bar::new();
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
    let k = open(settings).await?;
    ensure_fresh(&k, &settings.knowledge.knowledge_dir).await?;
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
