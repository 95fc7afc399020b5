//! The `kraft` binary: command-line parsing, settings, logging, and the
//! subcommands. Each subcommand is a thin layer over the library crates;
//! errors become one clear message and a non-zero exit, never a panic.

mod backup;
mod bench;
mod chat;
mod config;
mod doctor;
mod evals;
mod ingest_lock;
mod knowledge;
mod metrics;
mod platforms;
mod progress;
mod report;
mod serve;
mod tickets;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;
use clap::{Parser, Subcommand};
use kraft_ingest::IngestOptions;

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
        /// Messages sent through the assistant's `handle` (no LLM) on the real knowledge base, one user per 15; 0 skips.
        /// The default, three passes over the questions, gives a p99 steady to about ±0.3× of the ratio; 300 did not.
        #[arg(long, default_value_t = 1650)]
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
        /// Warn when `reviewed` is older than this many days (default: the
        /// configured max_review_age_days, 365).
        #[arg(long)]
        max_age_days: Option<i64>,
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
        #[arg(long, default_value_t = 0.04)]
        max_false_abstentions: f32,
        /// Also write each dev question's confidence inputs here (for analysis).
        #[arg(long)]
        dump: Option<PathBuf>,
    },
    /// Cross-validation within dev: fit on one half of the dev questions, judge the answers on
    /// the other, for several random halvings; the test split is never read.
    Cv {
        /// Question file (default: <knowledge_dir>/eval-questions.jsonl).
        #[arg(long)]
        questions: Option<PathBuf>,
        /// SweFAQ folder; its dev half is added to each fit's ranking data when present.
        #[arg(long, default_value = "../shared/data/swefaq")]
        swefaq: PathBuf,
        /// How many random halvings (each gives two folds).
        #[arg(long, default_value_t = 3)]
        seeds: u32,
        /// As for `fit`.
        #[arg(long, default_value_t = 0.04)]
        max_false_abstentions: f32,
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
            let a = knowledge::assistant(&settings, &tickets::state_path(&settings)).await?;
            let root = settings.knowledge.knowledge_dir.clone();
            let sync = (sync_secs > 0 && root.is_dir())
                .then(|| (root, std::time::Duration::from_secs(sync_secs)));
            let a = Arc::new(a);
            tokio::spawn({
                let a = a.clone();
                async move { a.warm().await }
            });
            chat::run(a, &user, sync).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve => {
            let a = knowledge::assistant(&settings, &tickets::state_path(&settings)).await?;
            serve::run(&settings, a).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Ask { question, json } => knowledge::ask(&settings, &question, json).await,
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
            let opts = IngestOptions { dry_run, rebuild };
            knowledge::ingest(&settings, path, opts, json, watch.then_some(interval)).await
        }
        Command::Search {
            query,
            json,
            kind,
            region,
            upcoming,
            limit,
        } => knowledge::search(&settings, &query, &kind, &region, upcoming, limit, json).await,
        Command::Kb {
            what:
                KbCommand::Check {
                    path,
                    max_age_days,
                    today,
                    json,
                },
        } => knowledge::kb_check(&settings, path, max_age_days, today, json),
        Command::Eval { what } => evals::run(&settings, what).await,
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
