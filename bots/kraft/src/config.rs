//! Layered, typed settings: the embedded `config/default.toml`, then an
//! optional TOML file (`--config` or `KRAFT_CONFIG`), then `KRAFT_*`
//! environment variables. Secrets come only from the environment and are
//! kept out of `Debug` output and logs.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use figment::providers::{Env, Format, Toml};
use figment::{Figment, Provider};
use kraft_ingest::{KnowledgeSettings, Secrets};
use serde::Deserialize;

pub const DEFAULT_TOML: &str = include_str!("../../../config/default.toml");

/// Environment variables that hold secrets; never merged into settings.
const SECRET_VARS: &[&str] = &[
    "qdrant_api_key",
    "embeddings_api_key",
    "llm_api_key",
    "config",
];

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    pub filter: String,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub knowledge: KnowledgeSettings,
    pub log: LogSettings,
    pub secrets: Secrets,
}

/// Top-level keys a configuration may have. Anything else is a typo.
const KNOWN_KEYS: &[&str] = &[
    "backend",
    "data_dir",
    "knowledge_dir",
    "max_file_bytes",
    "chunk",
    "bm25",
    "search",
    "qdrant",
    "embeddings",
    "log",
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
    let log: LogSettings = fig
        .extract_inner("log")
        .map_err(|e| anyhow::anyhow!("invalid [log] configuration: {e}"))?;
    validate(&knowledge)?;
    Ok(Settings {
        knowledge,
        log,
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
    Ok(())
}
