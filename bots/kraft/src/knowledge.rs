//! The knowledge commands of the binary: `kraft ingest`, `search`,
//! `kb check` and `ask`, and what they share with the other commands
//! (opening the index, keeping it fresh, the assistant on it, the rules
//! `kb check` applies). Output formatting for people lives here too;
//! `--json` prints the library's own types.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use kraft_ingest::doc::Kind;
use kraft_ingest::index::SearchFilter;
use kraft_ingest::sync::IngestReport;
use kraft_ingest::{IngestOptions, Knowledge};

use crate::config::{Settings, StateEngine};
use crate::{ingest_lock, progress, watch};
use kraft_core::State;

/// `kraft ingest`: once (with a progress bar), or, with `watch` (seconds
/// between looks), following the folder until stopped.
pub(crate) async fn ingest(
    settings: &Settings,
    path: Option<PathBuf>,
    opts: IngestOptions,
    json: bool,
    watch: Option<u64>,
) -> Result<ExitCode> {
    let root = path.unwrap_or_else(|| settings.knowledge.knowledge_dir.clone());
    let k = open(settings).await?;
    // A shared Qdrant server: ingests take turns through the state database.
    let lock_store = lock_store(settings, &k)?;
    if let Some(interval) = watch {
        watch::run(
            &k,
            &root,
            json,
            std::time::Duration::from_secs(interval.max(1)),
            lock_store,
        )
        .await?;
        return Ok(ExitCode::SUCCESS);
    }
    let _lock = match &lock_store {
        Some(s) => ingest_lock::take(s, true).await?,
        None => None,
    };
    let bar = progress::Bar::new();
    let report = k
        .ingest(&root, opts, &bar)
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

/// `kraft search`: the retriever's results for `query`, filtered.
pub(crate) async fn search(
    settings: &Settings,
    query: &str,
    kind: &[String],
    region: &[String],
    upcoming: bool,
    limit: Option<usize>,
    json: bool,
) -> Result<ExitCode> {
    let mut filter = SearchFilter::default();
    for k in kind {
        filter.kinds.push(Kind::parse(k).with_context(|| {
            format!("unknown kind `{k}`; use one of project, case, support, event, faq, guide")
        })?);
    }
    for r in region {
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
    let k = open(settings).await?;
    ensure_fresh(settings, &k, &settings.knowledge.knowledge_dir).await?;
    let retriever = k.retriever().await?;
    let limit = limit
        .unwrap_or(settings.knowledge.search.limit)
        .clamp(1, 100);
    let resp = retriever.search(query, &filter, limit).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&resp)?);
    } else {
        print_search(&resp);
    }
    Ok(ExitCode::SUCCESS)
}

/// `kraft kb check`: every rule over the knowledge folder; errors fail.
pub(crate) fn kb_check(
    settings: &Settings,
    path: Option<PathBuf>,
    max_age_days: Option<i64>,
    today: Option<chrono::NaiveDate>,
    json: bool,
) -> Result<ExitCode> {
    let root = path.unwrap_or_else(|| settings.knowledge.knowledge_dir.clone());
    let mut opts = kb_check_options(
        settings,
        today.unwrap_or_else(|| chrono::Local::now().date_naive()),
    );
    if let Some(days) = max_age_days {
        anyhow::ensure!(days > 0, "--max-age-days must be positive");
        opts.max_review_age_days = days;
    }
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

/// `kraft ask`: one question as a new user would get it, storing nothing.
pub(crate) async fn ask(settings: &Settings, question: &str, json: bool) -> Result<ExitCode> {
    // Stores nothing: a throw-away state database.
    let tmp = tempfile::tempdir().context("temporary directory")?;
    let a = assistant(settings, &tmp.path().join("ask.sqlite")).await?;
    let (ans, esc) = a.ask(question).await?;
    let links = &settings.core.assistant.knowledge_url;
    if json {
        let v = serde_json::json!({
            "answer": ans.render(links),
            "kind": ans.kind,
            "language": ans.lang,
            "confidence": ans.confidence,
            "sources": ans.sources,
            "generated": ans.generated,
            "llm_fallback": ans.llm_fallback,
            "escalation": esc,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    let body = match ans.kind {
        kraft_core::AnswerKind::Answered => ans.render(links),
        kraft_core::AnswerKind::Abstained => kraft_core::texts::abstain(ans.lang).into(),
        kraft_core::AnswerKind::OffTopic => kraft_core::texts::off_topic(ans.lang).into(),
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
    Ok(ExitCode::SUCCESS)
}

/// The assistant on the configured knowledge index (refreshed first) and
/// the configured state engine (`[state]`; SQLite: the database at `state`).
pub(crate) async fn assistant(settings: &Settings, state: &Path) -> Result<kraft_core::Assistant> {
    let k = open(settings).await?;
    let store = open_state(settings, state)?;
    let lock = ingest_lock::needed(&k).then(|| store.clone());
    ensure_fresh_locked(&k, &settings.knowledge.knowledge_dir, lock.as_ref()).await?;
    assistant_on(settings, k, store).await
}

/// The state database to take the ingest lock in, when ingests into `k`
/// need it (a Qdrant server); `None` for the in-process index.
pub(crate) fn lock_store(settings: &Settings, k: &Knowledge) -> Result<Option<Arc<dyn State>>> {
    if !ingest_lock::needed(k) {
        return Ok(None);
    }
    Ok(Some(open_state(
        settings,
        &crate::tickets::state_path(settings),
    )?))
}

/// The configured state engine: SQLite at `sqlite`, or PostgreSQL at
/// KRAFT_POSTGRES_URL. A bad or unreachable URL is an error here, at
/// start-up, shown with its password redacted.
pub(crate) fn open_state(settings: &Settings, sqlite: &Path) -> Result<Arc<dyn State>> {
    match settings.state.engine {
        StateEngine::Sqlite => Ok(Arc::new(
            kraft_core::Store::open(sqlite).context("cannot open the state database")?,
        )),
        StateEngine::Postgres => {
            // `config::load` refuses the engine without a URL.
            let url = settings.postgres_url.0.as_deref().unwrap_or_default();
            let store = kraft_core::PgStore::open_with_pool(url, settings.state.postgres_pool)
                .context("cannot open the PostgreSQL state database (KRAFT_POSTGRES_URL)")?;
            Ok(Arc::new(store))
        }
    }
}

/// The assistant on knowledge `k` and the SQLite state database at `state`.
pub(crate) async fn assistant_with(
    settings: &Settings,
    k: Knowledge,
    state: &Path,
) -> Result<kraft_core::Assistant> {
    let store = kraft_core::Store::open(state).context("cannot open the state database")?;
    assistant_on(settings, k, Arc::new(store)).await
}

async fn assistant_on(
    settings: &Settings,
    k: Knowledge,
    store: Arc<dyn State>,
) -> Result<kraft_core::Assistant> {
    kraft_core::Assistant::new(
        Arc::new(k),
        store,
        settings.core.clone(),
        settings.llm_api_key.0.clone(),
        Arc::new(kraft_core::model::SystemClock),
    )
    .await
    .context("cannot start the assistant")
}

/// What `kraft kb check` (and `kraft doctor`) hold the knowledge base to.
pub(crate) fn kb_check_options(
    settings: &Settings,
    today: chrono::NaiveDate,
) -> kraft_ingest::check::CheckOptions {
    kraft_ingest::check::CheckOptions {
        today,
        max_review_age_days: settings.knowledge.max_review_age_days,
        near_duplicate: 0.8,
        max_file_bytes: settings.knowledge.max_file_bytes,
        chunk: settings.knowledge.chunk,
        twins_required: kraft_ingest::check::TWINS_REQUIRED.to_vec(),
    }
}

pub(crate) async fn open(settings: &Settings) -> Result<Knowledge> {
    Knowledge::open(settings.knowledge.clone(), settings.secrets.clone())
        .await
        .context("cannot open the knowledge index")
}

/// Ingests when the index is missing or out of date, so `search` and the
/// chat always answer from the current files. A Qdrant server's ingest
/// takes the ingest lock in the state database (opened for it only when
/// an ingest is due).
pub(crate) async fn ensure_fresh(settings: &Settings, k: &Knowledge, root: &Path) -> Result<()> {
    if !root.is_dir() || !k.is_stale(root).await? {
        return Ok(());
    }
    let lock = lock_store(settings, k)?;
    ensure_fresh_locked(k, root, lock.as_ref()).await
}

/// `ensure_fresh` with the state database for the ingest lock (`None`:
/// no lock needed).
async fn ensure_fresh_locked(
    k: &Knowledge,
    root: &Path,
    lock: Option<&Arc<dyn State>>,
) -> Result<()> {
    if !root.is_dir() {
        return Ok(());
    }
    if k.is_stale(root).await? {
        // Waits while another process ingests; then usually little is left.
        let _lock = match lock {
            Some(s) => ingest_lock::take(s, true).await?,
            None => None,
        };
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
