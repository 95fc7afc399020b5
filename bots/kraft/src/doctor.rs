//! `kraft doctor`: checks a deployment before it goes live, one line per
//! check, non-zero exit when any fails. The chat platforms check
//! themselves (`kraft_telegram::doctor`, `kraft_discord::doctor`); this
//! module adds what the binary owns: configuration, state database,
//! knowledge folder, index, embeddings and LLM endpoints. Nothing is
//! written except what opening the state database and index would write
//! anyway; nothing is sent to any chat.

use kraft_core::store::prelude::*;
use std::process::ExitCode;

use anyhow::Result;
use kraft_core::doctor::{worst, Check, Status};
use kraft_ingest::{BackendKind, Knowledge};

use crate::config::Settings;
use crate::tickets::state_path;

fn configuration(settings: &Settings) -> Check {
    let k = &settings.knowledge;
    let backend = match k.backend {
        BackendKind::Edge => format!("embedded index in {}", k.data_dir.join("index").display()),
        BackendKind::Server => format!("Qdrant server {}", k.qdrant.url),
    };
    let retrieval = if k.embeddings.enabled() {
        "hybrid (BM25 + dense)"
    } else {
        "BM25"
    };
    let answers = if settings.core.llm.enabled() {
        "LLM with extractive fallback"
    } else {
        "extractive"
    };
    let platforms: Vec<&str> = [
        settings.telegram_token.0.as_ref().map(|_| "Telegram"),
        settings.discord_token.0.as_ref().map(|_| "Discord"),
    ]
    .into_iter()
    .flatten()
    .collect();
    let platforms = if platforms.is_empty() {
        "no chat platform (set KRAFT_TELEGRAM_TOKEN or KRAFT_DISCORD_TOKEN)".to_string()
    } else {
        platforms.join(" and ")
    };
    let detail = format!(
        "read and valid; {backend}; {retrieval} retrieval; {answers} answers; {platforms}; retention {} days",
        settings.core.privacy.retention_days
    );
    if settings.telegram_token.0.is_none() && settings.discord_token.0.is_none() {
        Check::warn("configuration", detail)
    } else {
        Check::ok("configuration", detail)
    }
}

/// The PostgreSQL state: it opens (reachable, schema migrated) and its
/// schema is the one this build knows. The URL is shown without password.
fn postgres_state(settings: &Settings) -> Check {
    let what = "state database";
    let url = settings.postgres_url.0.as_deref().unwrap_or_default();
    let store = match kraft_core::PgStore::open_with_pool(url, 1) {
        Ok(s) => s,
        Err(e) => return Check::fail(what, e.to_string()),
    };
    match store.quick_check() {
        Ok(None) => Check::ok(
            what,
            format!(
                "PostgreSQL {}: opens, schema version {}",
                store.url(),
                store.schema_version().unwrap_or_default()
            ),
        ),
        Ok(Some(problem)) => Check::fail(what, format!("PostgreSQL {}: {problem}", store.url())),
        Err(e) => Check::fail(what, e.to_string()),
    }
}

fn state_database(settings: &Settings) -> Check {
    let path = state_path(settings);
    let what = "state database";
    if settings.state.engine == crate::config::StateEngine::Postgres {
        return postgres_state(settings);
    }
    if !path.exists() {
        let dir = path.parent().unwrap_or(std::path::Path::new("."));
        return match std::fs::create_dir_all(dir).and_then(|_| tempfile::tempfile_in(dir).map(drop))
        {
            Ok(()) => Check::ok(
                what,
                format!("{} will be created at the first start", path.display()),
            ),
            Err(e) => Check::fail(
                what,
                format!(
                    "{} cannot be created ({e}): check knowledge.data_dir",
                    dir.display()
                ),
            ),
        };
    }
    let store = match kraft_core::Store::open(&path) {
        Ok(s) => s,
        Err(e) => return Check::fail(what, e.to_string()),
    };
    match store.quick_check() {
        Ok(None) => Check::ok(
            what,
            format!(
                "{}: opens, schema version {}, integrity ok",
                path.display(),
                store.schema_version().unwrap_or_default()
            ),
        ),
        Ok(Some(problem)) => Check::fail(
            what,
            format!(
                "{} is damaged ({problem}): restore a backup (kraft restore)",
                path.display()
            ),
        ),
        Err(e) => Check::fail(what, e.to_string()),
    }
}

fn knowledge_folder(settings: &Settings) -> Check {
    let root = &settings.knowledge.knowledge_dir;
    let what = "knowledge folder";
    if !root.is_dir() {
        return Check::fail(
            what,
            format!(
                "{} is not a folder: check knowledge.knowledge_dir",
                root.display()
            ),
        );
    }
    let opts = crate::knowledge::kb_check_options(settings, chrono::Local::now().date_naive());
    match kraft_ingest::check::check(root, &opts) {
        Ok(r) if r.errors() > 0 => Check::fail(
            what,
            format!(
                "{}: {} documents, {} errors (see kraft kb check)",
                root.display(),
                r.documents,
                r.errors()
            ),
        ),
        Ok(r) if r.warnings() > 0 => Check::warn(
            what,
            format!(
                "{}: {} documents, {} warnings (see kraft kb check)",
                root.display(),
                r.documents,
                r.warnings()
            ),
        ),
        Ok(r) => Check::ok(
            what,
            format!("{}: {} documents, no findings", root.display(), r.documents),
        ),
        Err(e) => Check::fail(what, e.to_string()),
    }
}

async fn index(settings: &Settings) -> (Check, Option<Knowledge>) {
    let what = "knowledge index";
    let k = match Knowledge::open(settings.knowledge.clone(), settings.secrets.clone()).await {
        Ok(k) => k,
        Err(e) => return (Check::fail(what, format!("cannot be opened: {e}")), None),
    };
    let count = match k.backend().count().await {
        Ok(n) => n,
        Err(e) => return (Check::fail(what, format!("cannot be read: {e}")), Some(k)),
    };
    let root = &settings.knowledge.knowledge_dir;
    let check = match k.is_stale(root).await {
        Ok(false) => Check::ok(
            what,
            format!("{} ({count} chunks), up to date with the folder", k.backend().name()),
        ),
        Ok(true) if count == 0 => Check::warn(
            what,
            "empty: kraft serve builds it at start (or run kraft ingest)",
        ),
        Ok(true) => Check::warn(
            what,
            format!(
                "{} ({count} chunks) is behind the folder: kraft serve re-syncs at start (or run kraft ingest)",
                k.backend().name()
            ),
        ),
        Err(e) => Check::warn(what, format!("{count} chunks; freshness unknown: {e}")),
    };
    (check, Some(k))
}

async fn embeddings(k: Option<&Knowledge>) -> Option<Check> {
    let e = k?.embedder()?;
    let what = "embeddings endpoint";
    Some(match e.embed_query("kraft doctor").await {
        Ok(v) => Check::ok(
            what,
            format!("{} answers ({} dimensions)", e.settings().base_url, v.len()),
        ),
        Err(err) => Check::fail(
            what,
            format!(
                "{} fails ({err}); search falls back to BM25 while it does",
                e.settings().base_url
            ),
        ),
    })
}

async fn llm(settings: &Settings) -> Option<Check> {
    let s = &settings.core.llm;
    if !s.enabled() {
        return None;
    }
    let what = "LLM endpoint";
    let llm = match kraft_core::llm::Llm::new(s.clone(), settings.llm_api_key.0.clone()) {
        Ok(l) => l,
        Err(e) => return Some(Check::fail(what, e.to_string())),
    };
    Some(match llm.probe().await {
        Ok(()) => Check::ok(
            what,
            format!("{} answers with model {}", s.base_url, s.model),
        ),
        Err(e) => Check::fail(
            what,
            format!(
                "{} fails ({e}); answers stay extractive while it does",
                s.base_url
            ),
        ),
    })
}

fn dashboard(settings: &Settings) -> Option<Check> {
    let d = &settings.dashboard;
    if !d.enabled {
        return None;
    }
    let what = "dashboard";
    let token_ok = settings
        .dashboard_token
        .0
        .as_deref()
        .is_some_and(|t| t.trim().chars().count() >= 16);
    Some(if !token_ok {
        Check::fail(
            what,
            "enabled, but KRAFT_DASHBOARD_TOKEN is missing or shorter than 16 characters",
        )
    } else if d
        .listen
        .parse::<std::net::SocketAddr>()
        .is_ok_and(|a| !a.ip().is_loopback())
    {
        Check::warn(
            what,
            format!(
                "listens on {}, beyond this machine: put it behind HTTPS (a reverse proxy)",
                d.listen
            ),
        )
    } else {
        Check::ok(
            what,
            format!("on http://{}/dashboard, behind a login", d.listen),
        )
    })
}

/// Source links to Kraft's own pages must lead somewhere a user can read.
fn source_links(settings: &Settings) -> Option<Check> {
    let url = settings.core.assistant.knowledge_url.trim();
    if url.is_empty() {
        return None;
    }
    let d = &settings.dashboard;
    let what = "source links";
    Some(if !d.enabled || !d.public_knowledge {
        Check::warn(
            what,
            format!("sources link to {url}/kb/…, but the dashboard's knowledge pages are not public: set dashboard.enabled and dashboard.public_knowledge"),
        )
    } else {
        Check::ok(
            what,
            format!(
                "sources link to {url}/kb/… (the dashboard on {} must be reachable there)",
                d.listen
            ),
        )
    })
}

/// Every check, in the order a deployment depends on them.
pub async fn checks(settings: &Settings) -> Vec<Check> {
    let mut out = vec![
        configuration(settings),
        state_database(settings),
        knowledge_folder(settings),
    ];
    let (c, k) = index(settings).await;
    out.push(c);
    out.extend(embeddings(k.as_ref()).await);
    drop(k);
    out.extend(llm(settings).await);
    out.extend(dashboard(settings));
    out.extend(source_links(settings));
    if let Some(t) = &settings.telegram_token.0 {
        out.extend(kraft_telegram::doctor::doctor(t, &settings.telegram).await);
    }
    if let Some(t) = &settings.discord_token.0 {
        out.extend(kraft_discord::doctor::doctor(t, &settings.discord).await);
    }
    out
}

pub async fn run(settings: &Settings, json: bool) -> Result<ExitCode> {
    let all = checks(settings).await;
    let status = worst(&all);
    if json {
        let v = serde_json::json!({ "status": status, "checks": all });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        for c in &all {
            println!("{}", c.line());
        }
        let fails = all.iter().filter(|c| c.status == Status::Fail).count();
        let warns = all.iter().filter(|c| c.status == Status::Warn).count();
        println!("{} checks: {fails} failed, {warns} warnings", all.len());
    }
    Ok(if status == Status::Fail {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
