//! `kraft serve`: the production process. It owns the knowledge index
//! (following the folder), the state database, every configured chat
//! platform (`crate::platforms`: run, health, webhook routes), periodic
//! work (reminders, retention) and a small HTTP server for `/healthz`,
//! Prometheus `/metrics` and the platforms' routes.
//! SIGTERM or Ctrl-C stops taking new work, lets in-flight messages
//! finish (up to `serve.shutdown_grace_secs`), then exits.
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use kraft_core::{Assistant, Observer};
use tokio::sync::watch;

use crate::config::{Settings, StateEngine};
use crate::metrics::Metrics;
use crate::platforms::{self, ChatPlatform};

#[derive(Clone)]
struct App {
    assistant: Arc<Assistant>,
    metrics: Arc<Metrics>,
    platforms: Vec<Arc<dyn ChatPlatform>>,
    inbox_stale_secs: u64,
}

async fn healthz(State(app): State<App>) -> impl IntoResponse {
    let store = app.assistant.store();
    let outbox = store.undelivered();
    let db_ok = outbox.is_ok();
    // Unhealthy when the state database is unusable, or a platform does
    // not work (each says what that means for it).
    let mut platforms_ok = true;
    let mut platforms = serde_json::Map::new();
    for key in platforms::KNOWN {
        platforms.insert((*key).into(), serde_json::Value::Null);
    }
    for p in &app.platforms {
        let (ok, details) = p.health();
        platforms_ok &= ok;
        platforms.insert(p.key().into(), details);
    }
    // Connected is not enough: events that stay unhandled mean a chat (or
    // a whole front-end) has stopped answering.
    let oldest = store
        .inbox_oldest_unhandled()
        .ok()
        .flatten()
        .map(|t| (app.assistant.now() - t).num_seconds().max(0) as u64);
    let inbox_ok = oldest.is_none_or(|s| s <= app.inbox_stale_secs);
    // The index answers (a count: cheap in process, one request to a
    // Qdrant server), within a bound so /healthz itself never hangs.
    let k = app.assistant.knowledge();
    let index = match tokio::time::timeout(Duration::from_secs(3), k.backend().count()).await {
        Ok(Ok(n)) => serde_json::json!({"ok": n > 0, "backend": k.backend().name(), "chunks": n}),
        Ok(Err(e)) => serde_json::json!({"ok": false, "backend": k.backend().name(),
                                          "error": if e.is_transient() { "unreachable" } else { "error" }}),
        Err(_) => {
            serde_json::json!({"ok": false, "backend": k.backend().name(), "error": "timeout"})
        }
    };
    let index_ok = index["ok"].as_bool().unwrap_or(false);
    let ok = db_ok && platforms_ok && inbox_ok && index_ok;
    let mut body = serde_json::json!({
        "status": if ok { "ok" } else { "unhealthy" },
        "state_db": db_ok,
        "index": index,
        "outbox_pending": outbox.unwrap_or(0),
        "inbox_pending": store.inbox_unhandled().unwrap_or(0),
        "inbox_oldest_secs": oldest,
        "inbox_stale": !inbox_ok,
    });
    if let Some(o) = body.as_object_mut() {
        o.extend(platforms);
    }
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, axum::Json(body))
}

async fn metrics_page(State(app): State<App>) -> impl IntoResponse {
    let s = app.assistant.store();
    app.metrics
        .outbox_pending
        .set(s.undelivered().unwrap_or(0) as i64);
    app.metrics
        .inbox_pending
        .set(s.inbox_unhandled().unwrap_or(0) as i64);
    app.metrics
        .open_tickets
        .set(s.open_tickets().unwrap_or(0) as i64);
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        app.metrics.render(),
    )
}

async fn signal(tx: watch::Sender<bool>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM: finishing in-flight work"),
                    _ = tokio::signal::ctrl_c() => tracing::info!("interrupted: finishing in-flight work"),
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    let _ = tx.send(true);
}

/// Panics are logged through `tracing` with where they happened, not with
/// their message: a panic message can quote the text being worked on (a
/// slice out of bounds prints the string), and message text never goes to
/// the log above debug level. The message itself is logged at debug.
fn quiet_panics() {
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let thread = std::thread::current().name().unwrap_or("?").to_string();
        tracing::error!(at = %at, thread = %thread, "panicked (the message is logged at debug level)");
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        tracing::debug!(at = %at, message = %msg, "panic message");
    }));
}

/// What an instance on a shared (PostgreSQL) state does not share with the
/// other instances, said at start-up so that an operator who starts a
/// second one knows what to keep to one, or to divide.
fn shared_state_notes(
    engine: StateEngine,
    telegram: Option<kraft_telegram::Mode>,
    discord: bool,
) -> Vec<&'static str> {
    if engine != StateEngine::Postgres {
        return Vec::new();
    }
    // The per-user flood limit is kept in PostgreSQL, shared by every
    // instance (`kraft_core::flood`), so it needs no note.
    let mut out = Vec::new();
    match telegram {
        Some(kraft_telegram::Mode::Polling) => out.push(
            "Telegram long polling gives a bot's updates to one poller only: run Telegram in one instance, or use webhooks behind a load balancer (see README: Several instances)",
        ),
        Some(kraft_telegram::Mode::Webhook) => out.push(
            "Telegram webhooks: any instance behind the load balancer takes any update, but each paces its own sends; Telegram's limits are per bot, so give each instance its share (telegram.limits.overall_per_sec = 30 / instances; see README: Several instances)",
        ),
        None => {}
    }
    if discord {
        out.push(
            "Discord: one instance holds the bot's gateway under a lease in the database, the others stand by and take over; each paces its own Discord requests, so divide discord.requests_per_second among the instances (see README: Several instances)",
        );
    }
    out
}

pub async fn run(settings: &Settings, assistant: Assistant) -> Result<()> {
    quiet_panics();
    let assistant = Arc::new(assistant);
    tokio::spawn({
        let a = assistant.clone();
        async move { a.warm().await }
    });
    let metrics = Arc::new(Metrics::new());
    {
        let k = assistant.knowledge();
        let retrieval = if k.embedder().is_some() {
            "hybrid"
        } else {
            "bm25"
        };
        metrics.set_build(retrieval, k.backend().name());
    }
    let (stop_tx, stop) = watch::channel(false);
    tokio::spawn(signal(stop_tx.clone()));

    let observer = metrics.clone() as Arc<dyn Observer>;
    let platforms = platforms::configured(settings, &assistant, &observer)?;
    if platforms.is_empty() {
        tracing::warn!("no chat front-end is configured; serving /healthz and /metrics only");
    }
    let has = |k: &str| platforms.iter().any(|p| p.key() == k);
    for note in shared_state_notes(
        settings.state.engine,
        has("telegram").then_some(settings.telegram.mode),
        has("discord"),
    ) {
        tracing::warn!("{note}");
        eprintln!("kraft serve: {note}");
    }

    let addr: SocketAddr = settings
        .serve
        .listen
        .parse()
        .context("serve.listen is not an address")?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let bound = listener.local_addr().unwrap_or(addr);
    let mut app = Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_page))
        .with_state(App {
            assistant: assistant.clone(),
            metrics: metrics.clone(),
            platforms: platforms.clone(),
            inbox_stale_secs: settings.serve.inbox_stale_secs,
        });
    for p in &platforms {
        app = app.merge(p.clone().routes());
    }
    // The dashboard, on its own address (before the line below, which
    // tells scripts that serve is up).
    let dashboard = if settings.dashboard.enabled {
        let d = kraft_dashboard::Dashboard::new(
            assistant.store().clone(),
            settings.knowledge.knowledge_dir.clone(),
            crate::knowledge::kb_check_options(settings, chrono::Utc::now().date_naive()),
            settings.dashboard.clone(),
            settings.dashboard_token.0.as_deref(),
        )
        .context("cannot set up the dashboard")?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let mut d_stop = stop.clone();
        let task = tokio::spawn(async move {
            let r = d
                .serve(
                    move |a| {
                        let _ = tx.send(a);
                    },
                    async move {
                        let _ = d_stop.wait_for(|s| *s).await;
                    },
                )
                .await;
            if let Err(e) = r {
                tracing::error!(error = %e, "dashboard failed");
            }
        });
        match rx.await {
            Ok(a) => {
                println!("kraft serve: dashboard on http://{a}/dashboard");
                tracing::info!(%a, "dashboard: /dashboard, /kb");
            }
            Err(_) => anyhow::bail!(
                "the dashboard cannot listen on {}",
                settings.dashboard.listen
            ),
        }
        Some(task)
    } else {
        None
    };
    // Printed on stdout so scripts (and tests) can find a port chosen by
    // the system (serve.listen = "127.0.0.1:0").
    println!("kraft serve: listening on http://{bound}");
    tracing::info!(%bound, "HTTP: /healthz, /metrics, /telegram/webhook");
    let mut http_stop = stop.clone();
    let http = tokio::spawn(async move {
        let r = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = http_stop.wait_for(|s| *s).await;
            })
            .await;
        if let Err(e) = r {
            tracing::error!(error = %e, "HTTP server failed");
        }
    });

    let root = settings.knowledge.knowledge_dir.clone();
    let follower = (settings.serve.sync_secs > 0 && root.is_dir()).then(|| {
        tokio::spawn(crate::watch::follow(
            assistant.knowledge().clone(),
            root,
            Duration::from_secs(settings.serve.sync_secs),
            crate::ingest_lock::needed(assistant.knowledge()).then(|| assistant.store().clone()),
        ))
    });

    // A front-end that cannot start (bad token, disallowed intents) is
    // fatal for `serve`: the supervisor (systemd) shows it instead of a
    // silent bot, and nothing retries in a loop.
    let mut tasks: Vec<(&'static str, tokio::task::JoinHandle<Result<()>>)> = Vec::new();
    for p in &platforms {
        let (p, stop, stop_tx) = (p.clone(), stop.clone(), stop_tx.clone());
        let name = p.name();
        tasks.push((
            name,
            tokio::spawn(async move {
                let r = p.run(stop).await;
                if let Err(e) = &r {
                    tracing::error!(platform = name, error = %e, "front-end failed");
                    let _ = stop_tx.send(true);
                }
                r
            }),
        ));
    }

    let mut periodic = tokio::time::interval(Duration::from_secs(settings.serve.tick_secs));
    let mut stop_wait = stop.clone();
    loop {
        tokio::select! {
            _ = periodic.tick() => {
                if let Err(e) = assistant.tick() {
                    tracing::error!(error = %e, "periodic work failed");
                    metrics.error(kraft_core::Platform::Telegram, "tick");
                }
            }
            _ = stop_wait.wait_for(|s| *s) => break,
        }
    }

    let grace = Duration::from_secs(settings.serve.shutdown_grace_secs.max(1));
    let mut failed = None;
    let deadline = tokio::time::Instant::now() + grace;
    for (name, t) in tasks {
        match tokio::time::timeout_at(deadline, t).await {
            Ok(Ok(Err(e))) => failed = failed.or(Some(e.context(name))),
            Ok(_) => {}
            Err(_) => tracing::warn!(
                front_end = name,
                "in-flight work did not finish within the grace period"
            ),
        }
    }
    if let Some(f) = follower {
        f.abort();
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), http).await;
    if let Some(d) = dashboard {
        let _ = tokio::time::timeout(Duration::from_secs(5), d).await;
    }
    if let Err(e) = assistant.store().checkpoint() {
        tracing::warn!(error = %e, "final WAL checkpoint failed");
    }
    tracing::info!("kraft serve stopped");
    match failed {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_state_start_says_what_stays_one_per_bot() {
        assert!(shared_state_notes(
            StateEngine::Sqlite,
            Some(kraft_telegram::Mode::Polling),
            true
        )
        .is_empty());
        let notes = shared_state_notes(
            StateEngine::Postgres,
            Some(kraft_telegram::Mode::Polling),
            true,
        );
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes[0].contains("long polling"));
        assert!(notes[1].contains("Discord") && notes[1].contains("stand by"));
        assert!(
            !notes.iter().any(|n| n.contains("flood")),
            "the flood limit is shared on PostgreSQL: {notes:?}"
        );
        let notes = shared_state_notes(
            StateEngine::Postgres,
            Some(kraft_telegram::Mode::Webhook),
            false,
        );
        assert!(
            notes
                .iter()
                .any(|n| n.contains("webhooks") && n.contains("overall_per_sec")),
            "{notes:?}"
        );
        assert!(!notes.iter().any(|n| n.contains("Discord")), "{notes:?}");
    }
}
