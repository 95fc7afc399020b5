//! The chat platforms `kraft serve` runs, as plug-ins: each is a
//! [`ChatPlatform`] (its whole life cycle: run until shutdown, health for
//! `/healthz`, the HTTP routes it needs such as a webhook), and
//! [`configured`] is the one list of them. Adding a platform (Slack,
//! Matrix, Teams) is a front-end crate, one `impl` here and one line in
//! [`configured`]; `serve` itself names no platform. The terminal
//! (`kraft chat`) is one more: its crate, its `impl` here, and the line
//! in `chat.rs` that runs it.

use std::sync::Arc;

use anyhow::{Context, Result};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use kraft_core::{Assistant, Observer};
use kraft_discord::Discord;
use kraft_telegram::{Mode, Telegram, WebhookReply};
use kraft_terminal::Terminal;
use tokio::sync::watch;

use crate::config::Settings;

/// One chat platform's front-end, as `kraft serve` drives it.
#[async_trait::async_trait]
pub trait ChatPlatform: Send + Sync {
    /// Its key in `/healthz` ("telegram").
    fn key(&self) -> &'static str;
    /// Its name for people, in logs and errors ("Telegram").
    fn name(&self) -> &'static str;
    /// Whether it works now, and the details for `/healthz`.
    fn health(&self) -> (bool, serde_json::Value);
    /// Routes it serves on `serve.listen` (a webhook); none by default.
    fn routes(self: Arc<Self>) -> Router {
        Router::new()
    }
    /// Runs until `stop` turns true. `Err`: it cannot run at all (a bad
    /// token, a refused intent), which stops `serve`.
    async fn run(self: Arc<Self>, stop: watch::Receiver<bool>) -> Result<()>;
}

/// Every platform `kraft serve` knows, by key, whether configured or not
/// (`/healthz` lists the others as `null`).
pub const KNOWN: &[&str] = &["telegram", "discord"];

/// The platforms whose tokens are set, ready to run.
pub fn configured(
    settings: &Settings,
    assistant: &Arc<Assistant>,
    observer: &Arc<dyn Observer>,
) -> Result<Vec<Arc<dyn ChatPlatform>>> {
    let mut out: Vec<Arc<dyn ChatPlatform>> = Vec::new();
    match settings.telegram_token.0.as_deref() {
        Some(token) => out.push(
            Telegram::new(
                token,
                settings.telegram_webhook_secret.0.clone(),
                settings.telegram.clone(),
                assistant.clone(),
                observer.clone(),
            )
            .context("cannot set up Telegram")?,
        ),
        None => tracing::info!("Telegram is off: KRAFT_TELEGRAM_TOKEN is not set"),
    }
    match settings.discord_token.0.as_deref() {
        Some(token) => out.push(
            Discord::new(
                token,
                settings.discord.clone(),
                assistant.clone(),
                observer.clone(),
            )
            .context("cannot set up Discord")?,
        ),
        None => tracing::info!("Discord is off: KRAFT_DISCORD_TOKEN is not set"),
    }
    Ok(out)
}

#[async_trait::async_trait]
impl ChatPlatform for Telegram {
    fn key(&self) -> &'static str {
        "telegram"
    }

    fn name(&self) -> &'static str {
        "Telegram"
    }

    fn health(&self) -> (bool, serde_json::Value) {
        let h = Telegram::health(self);
        (h.ok, serde_json::to_value(&h).unwrap_or_default())
    }

    fn routes(self: Arc<Self>) -> Router {
        Router::new()
            .route("/telegram/webhook", post(telegram_webhook))
            .with_state(self)
    }

    async fn run(self: Arc<Self>, stop: watch::Receiver<bool>) -> Result<()> {
        Telegram::run(self, stop).await.map_err(anyhow::Error::from)
    }
}

/// Telegram's webhook: 404 unless Telegram is in webhook mode.
async fn telegram_webhook(
    State(tg): State<Arc<Telegram>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    if tg.settings().mode != Mode::Webhook {
        return StatusCode::NOT_FOUND;
    }
    let secret = headers
        .get("x-telegram-bot-api-secret-token")
        .and_then(|v| v.to_str().ok());
    match tg.accept_webhook(secret, &body) {
        WebhookReply::Accepted => StatusCode::OK,
        WebhookReply::Unauthorized => StatusCode::UNAUTHORIZED,
        WebhookReply::BadRequest => StatusCode::BAD_REQUEST,
        WebhookReply::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    }
}

#[async_trait::async_trait]
impl ChatPlatform for Discord {
    fn key(&self) -> &'static str {
        "discord"
    }

    fn name(&self) -> &'static str {
        "Discord"
    }

    fn health(&self) -> (bool, serde_json::Value) {
        let h = Discord::health(self);
        (h.ok, serde_json::to_value(&h).unwrap_or_default())
    }

    async fn run(self: Arc<Self>, stop: watch::Receiver<bool>) -> Result<()> {
        Discord::run(self, stop).await.map_err(anyhow::Error::from)
    }
}

#[async_trait::async_trait]
impl ChatPlatform for Terminal {
    fn key(&self) -> &'static str {
        "terminal"
    }

    fn name(&self) -> &'static str {
        "Terminal"
    }

    fn health(&self) -> (bool, serde_json::Value) {
        (true, serde_json::json!({ "ok": true }))
    }

    async fn run(self: Arc<Self>, stop: watch::Receiver<bool>) -> Result<()> {
        Terminal::run(self, stop).await.map_err(anyhow::Error::from)
    }
}
