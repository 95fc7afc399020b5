//! Layered, typed settings: the embedded `config/default.toml`, then an
//! optional TOML file (`--config` or `KRAFT_CONFIG`), then `KRAFT_*`
//! environment variables. Secrets come only from the environment and are
//! kept out of `Debug` output and logs.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use figment::providers::{Env, Format, Toml};
use figment::{Figment, Provider};
use kraft_core::CoreSettings;
use kraft_ingest::{KnowledgeSettings, Secrets};
use serde::Deserialize;

pub const DEFAULT_TOML: &str = include_str!("../../../config/default.toml");

/// Environment variables that hold secrets; never merged into settings.
const SECRET_VARS: &[&str] = &[
    "qdrant_api_key",
    "embeddings_api_key",
    "llm_api_key",
    "telegram_token",
    "telegram_webhook_secret",
    "discord_token",
    "dashboard_token",
    "postgres_url",
    "config",
];

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    pub filter: String,
    /// `text` for people, `json` (one object per line) for a log collector.
    pub format: LogFormat,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            filter: "info,qdrant_edge=error".into(),
            format: LogFormat::Text,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// `kraft serve`: the operations side.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeSettings {
    /// /healthz, /metrics and the Telegram webhook; keep it on loopback
    /// behind a reverse proxy.
    pub listen: String,
    /// Seconds between reminders/retention runs.
    pub tick_secs: u64,
    /// On SIGTERM, in-flight work gets this long to finish.
    pub shutdown_grace_secs: u64,
    /// Re-sync the knowledge folder at least this often (and on changes).
    pub sync_secs: u64,
    /// `/healthz` is unhealthy while a platform event has waited longer
    /// than this to be handled (a wedged chat, a stalled front-end).
    pub inbox_stale_secs: u64,
}

impl Default for ServeSettings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:9464".into(),
            tick_secs: 30,
            shutdown_grace_secs: 30,
            sync_secs: 60,
            inbox_stale_secs: 300,
        }
    }
}

/// `[state]`: where the assistant's state (users, conversations, tickets,
/// the outbox and inbox) is kept.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateSettings {
    /// `sqlite`: the file `<data_dir>/kraft.sqlite` (one process).
    /// `postgres`: the database at KRAFT_POSTGRES_URL (several processes).
    pub engine: StateEngine,
    /// PostgreSQL connections per process.
    pub postgres_pool: usize,
}

impl Default for StateSettings {
    fn default() -> Self {
        Self {
            engine: StateEngine::Sqlite,
            postgres_pool: kraft_core::store::pg::DEFAULT_POOL,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateEngine {
    #[default]
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub knowledge: KnowledgeSettings,
    pub core: CoreSettings,
    pub log: LogSettings,
    pub serve: ServeSettings,
    pub telegram: kraft_telegram::TelegramSettings,
    pub discord: kraft_discord::DiscordSettings,
    pub dashboard: kraft_dashboard::DashboardSettings,
    pub state: StateSettings,
    pub secrets: Secrets,
    /// KRAFT_LLM_API_KEY; never logged.
    pub llm_api_key: Redacted,
    /// KRAFT_TELEGRAM_TOKEN: Telegram is off without it.
    pub telegram_token: Redacted,
    /// KRAFT_TELEGRAM_WEBHOOK_SECRET (optional; derived from the token).
    pub telegram_webhook_secret: Redacted,
    /// KRAFT_DISCORD_TOKEN: Discord is off without it.
    pub discord_token: Redacted,
    /// KRAFT_DASHBOARD_TOKEN: the dashboard's login.
    pub dashboard_token: Redacted,
    /// KRAFT_POSTGRES_URL: the PostgreSQL state database (it may hold a
    /// password, so only from the environment).
    pub postgres_url: Redacted,
}

/// A secret that prints as `<redacted>`.
#[derive(Clone, Default)]
pub struct Redacted(pub Option<String>);

impl std::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "<redacted>"
        } else {
            "None"
        })
    }
}

/// Top-level keys a configuration may have. Anything else is a typo.
const KNOWN_KEYS: &[&str] = &[
    "backend",
    "data_dir",
    "knowledge_dir",
    "max_file_bytes",
    "max_review_age_days",
    "chunk",
    "bm25",
    "search",
    "qdrant",
    "embeddings",
    "log",
    "assistant",
    "llm",
    "escalation",
    "privacy",
    "serve",
    "telegram",
    "discord",
    "dashboard",
    "state",
];

fn env_secret(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

pub fn load(file: Option<&Path>) -> Result<Settings> {
    let mut fig = Figment::from(Toml::string(DEFAULT_TOML));
    let file: Option<PathBuf> = file
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("KRAFT_CONFIG").map(PathBuf::from));
    if let Some(f) = &file {
        if !f.is_file() {
            bail!("configuration file {} does not exist", f.display());
        }
        fig = fig.merge(Toml::file(f));
    }
    fig = fig.merge(Env::prefixed("KRAFT_").split("__").ignore(SECRET_VARS));

    let data = fig
        .data()
        .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
    for dict in data.values() {
        for key in dict.keys() {
            if !KNOWN_KEYS.contains(&key.as_str()) {
                bail!(
                    "unknown setting `{key}` (from a config file or a KRAFT_ environment variable); known: {}",
                    KNOWN_KEYS.join(", ")
                );
            }
        }
    }
    let knowledge: KnowledgeSettings = fig
        .extract()
        .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
    let core: CoreSettings = fig
        .extract()
        .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
    let log: LogSettings = fig
        .extract_inner("log")
        .map_err(|e| anyhow::anyhow!("invalid [log] configuration: {e}"))?;
    let serve: ServeSettings = fig
        .extract_inner("serve")
        .map_err(|e| anyhow::anyhow!("invalid [serve] configuration: {e}"))?;
    let telegram: kraft_telegram::TelegramSettings = fig
        .extract_inner("telegram")
        .map_err(|e| anyhow::anyhow!("invalid [telegram] configuration: {e}"))?;
    let discord: kraft_discord::DiscordSettings = fig
        .extract_inner("discord")
        .map_err(|e| anyhow::anyhow!("invalid [discord] configuration: {e}"))?;
    let dashboard: kraft_dashboard::DashboardSettings = fig
        .extract_inner("dashboard")
        .map_err(|e| anyhow::anyhow!("invalid [dashboard] configuration: {e}"))?;
    let state: StateSettings = fig
        .extract_inner("state")
        .map_err(|e| anyhow::anyhow!("invalid [state] configuration: {e}"))?;
    let postgres_url = Redacted(env_secret("KRAFT_POSTGRES_URL"));
    if state.engine == StateEngine::Postgres && postgres_url.0.is_none() {
        bail!(
            "state.engine = \"postgres\" needs KRAFT_POSTGRES_URL (e.g. postgres://kraft@db.internal/kraft; \
             only from the environment, as it may hold a password)"
        );
    }
    if state.postgres_pool == 0 {
        bail!("state.postgres_pool must be positive");
    }
    validate(&knowledge)?;
    validate_core(&core)?;
    if dashboard.enabled && dashboard.listen.parse::<std::net::SocketAddr>().is_err() {
        bail!(
            "dashboard.listen must be an address like 127.0.0.1:9465 (is {:?})",
            dashboard.listen
        );
    }
    if serve.listen.parse::<std::net::SocketAddr>().is_err() {
        bail!(
            "serve.listen must be an address like 127.0.0.1:9464 (is {:?})",
            serve.listen
        );
    }
    if serve.tick_secs == 0 {
        bail!("serve.tick_secs must be positive");
    }
    Ok(Settings {
        knowledge,
        core,
        log,
        serve,
        telegram,
        discord,
        dashboard,
        state,
        postgres_url,
        llm_api_key: Redacted(env_secret("KRAFT_LLM_API_KEY")),
        telegram_token: Redacted(env_secret("KRAFT_TELEGRAM_TOKEN")),
        telegram_webhook_secret: Redacted(env_secret("KRAFT_TELEGRAM_WEBHOOK_SECRET")),
        discord_token: Redacted(env_secret("KRAFT_DISCORD_TOKEN")),
        dashboard_token: Redacted(env_secret("KRAFT_DASHBOARD_TOKEN")),
        secrets: Secrets {
            qdrant_api_key: env_secret("KRAFT_QDRANT_API_KEY"),
            embeddings_api_key: env_secret("KRAFT_EMBEDDINGS_API_KEY"),
        },
    })
}

fn validate(k: &KnowledgeSettings) -> Result<()> {
    if k.chunk.max_chars < 100 {
        bail!(
            "chunk.max_chars must be at least 100 (is {})",
            k.chunk.max_chars
        );
    }
    if k.chunk.min_chars >= k.chunk.max_chars {
        bail!("chunk.min_chars must be below chunk.max_chars");
    }
    if k.search.limit == 0 || k.search.candidates == 0 {
        bail!("search.limit and search.candidates must be positive");
    }
    if k.search.sparse_weight < 0.0 || k.search.dense_weight < 0.0 {
        bail!("search weights must not be negative");
    }
    if k.backend == kraft_ingest::BackendKind::Server && k.qdrant.url.trim().is_empty() {
        bail!("backend = \"server\" needs qdrant.url (KRAFT_QDRANT__URL)");
    }
    if k.max_file_bytes == 0 {
        bail!("max_file_bytes must be positive");
    }
    if k.max_review_age_days <= 0 {
        bail!("max_review_age_days must be positive");
    }
    Ok(())
}

fn validate_core(c: &CoreSettings) -> Result<()> {
    if c.assistant.max_message_chars == 0 || c.assistant.answer_max_chars < 80 {
        bail!("assistant.max_message_chars must be positive and assistant.answer_max_chars at least 80");
    }
    let k = c.assistant.knowledge_url.trim();
    if !(k.is_empty() || k.starts_with("https://") || k.starts_with("http://"))
        || k.contains(['?', '#', ' ', '"', '<', '>'])
    {
        bail!("assistant.knowledge_url must be an http(s) address without query or fragment, e.g. \"https://kraft.example.se\" (or empty)");
    }
    if !(0.0..=1.0).contains(&c.assistant.off_topic_below) {
        bail!("assistant.off_topic_below must be between 0 and 1");
    }
    if c.escalation.remind_after_mins < 1 || c.escalation.remind_every_mins < 1 {
        bail!("escalation.remind_after_mins and remind_every_mins must be at least 1");
    }
    if let Err(e) =
        kraft_core::hours::OpeningHours::parse(&c.escalation.opening_hours, &c.escalation.timezone)
    {
        bail!("{e}");
    }
    if c.escalation.low_confidence_in_a_row < 1 {
        bail!("escalation.low_confidence_in_a_row must be at least 1");
    }
    if c.privacy.retention_days < 1 {
        bail!("privacy.retention_days must be at least 1");
    }
    if c.llm.enabled() {
        if c.llm.timeout_secs == 0 {
            bail!("llm.timeout_secs must be positive");
        }
        if c.llm.model.trim().is_empty() {
            bail!("llm.model must be set when llm.base_url is");
        }
        if !c.llm.base_url.starts_with("http://") && !c.llm.base_url.starts_with("https://") {
            bail!(
                "llm.base_url must start with http:// or https:// (is {:?})",
                c.llm.base_url
            );
        }
    }
    for t in &c.escalation.topics {
        if t.name.trim().is_empty() || t.phrases.iter().any(|p| p.trim().is_empty()) {
            bail!("every [[escalation.topics]] needs a name and non-empty phrases");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every default is written twice, in `config/default.toml` (what
    /// operators read) and in the code's `Default` (what a missing key
    /// gets); they must say the same.
    #[test]
    fn the_embedded_defaults_and_the_codes_defaults_agree() {
        let fig = Figment::from(Toml::string(DEFAULT_TOML));
        let telegram: kraft_telegram::TelegramSettings =
            fig.extract_inner("telegram").expect("telegram");
        assert_eq!(telegram, kraft_telegram::TelegramSettings::default());
        let discord: kraft_discord::DiscordSettings =
            fig.extract_inner("discord").expect("discord");
        assert_eq!(discord, kraft_discord::DiscordSettings::default());
        let dashboard: kraft_dashboard::DashboardSettings =
            fig.extract_inner("dashboard").expect("dashboard");
        assert_eq!(dashboard, kraft_dashboard::DashboardSettings::default());
        let serve: ServeSettings = fig.extract_inner("serve").expect("serve");
        assert_eq!(serve, ServeSettings::default());
        let log: LogSettings = fig.extract_inner("log").expect("log");
        assert_eq!(log, LogSettings::default());
        let state: StateSettings = fig.extract_inner("state").expect("state");
        assert_eq!(state, StateSettings::default());
        assert_eq!(
            state.engine,
            StateEngine::Sqlite,
            "SQLite stays the default"
        );
        let core: CoreSettings = fig.extract().expect("core");
        let mut want = CoreSettings::default();
        // The topics that need a person are the programme's, not the code's.
        assert!(!core.escalation.topics.is_empty());
        want.escalation.topics = core.escalation.topics.clone();
        assert_eq!(core, want);
        let knowledge: KnowledgeSettings = fig.extract().expect("knowledge");
        assert_eq!(
            serde_json::to_value(&knowledge).expect("json"),
            serde_json::to_value(KnowledgeSettings::default()).expect("json")
        );
    }

    #[test]
    fn the_postgres_engine_needs_its_url_from_the_environment() {
        // Only meaningful where the operator's variable is not set.
        if std::env::var_os("KRAFT_POSTGRES_URL").is_some() {
            return;
        }
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("k.toml");
        std::fs::write(&p, "[state]\nengine = \"postgres\"\n").expect("write");
        let e = load(Some(&p)).expect_err("no URL").to_string();
        assert!(e.contains("KRAFT_POSTGRES_URL"), "{e}");
        // The URL is a secret: a config file cannot set it.
        std::fs::write(&p, "[state]\npostgres_url = \"postgres://u:pw@h/db\"\n").expect("write");
        let e = load(Some(&p)).expect_err("not a setting").to_string();
        assert!(e.contains("postgres_url"), "{e}");
    }

    #[test]
    fn a_knowledge_url_must_be_a_plain_web_address() {
        let with = |u: &str| {
            let mut c = CoreSettings::default();
            c.assistant.knowledge_url = u.into();
            validate_core(&c).map_err(|e| e.to_string())
        };
        assert!(with("").is_ok());
        assert!(with("https://kraft.example.se").is_ok());
        assert!(with("http://127.0.0.1:9465/").is_ok());
        for bad in [
            "kraft.example.se",
            "ftp://x.se",
            "https://x.se/?a=1",
            "https://x.se/\"><b>",
        ] {
            let e = with(bad).expect_err(bad);
            assert!(e.contains("assistant.knowledge_url"), "{e}");
        }
    }

    #[test]
    fn the_production_example_loads_and_keeps_secrets_out() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/production.example.toml");
        let s = load(Some(&p)).expect("production example is valid");
        assert_eq!(s.telegram.adviser_group, -1_001_234_567_890);
        assert_eq!(s.telegram.mode, kraft_telegram::Mode::Polling);
        assert_eq!(s.serve.listen, "127.0.0.1:9464");
        assert_eq!(s.discord.adviser_role, 1_300_000_000_000_020_001);
        assert_eq!(s.discord.channels, vec![1_300_000_000_000_010_001]);
        assert!(
            !s.discord.message_content,
            "no privileged intent by default"
        );
        let text = std::fs::read_to_string(&p).expect("read");
        assert!(
            !text.lines().any(|l| l.trim_start().starts_with("token")),
            "no token key in the file"
        );
    }
}
