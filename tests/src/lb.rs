//! A tiny round-robin HTTP load balancer on 127.0.0.1 (a port chosen at
//! run time), for tests that put several `kraft serve` behind one webhook
//! address, as an operator puts nginx or HAProxy in front. Every POST is
//! forwarded to the next backend in turn with its body and Telegram's
//! secret-token header; a backend that cannot be reached (or answers 5xx)
//! is skipped for that request and the next one is tried, which is what a
//! real balancer's passive health check does when an instance dies.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::post;
use axum::Router;

const SECRET_HEADER: &str = "X-Telegram-Bot-Api-Secret-Token";

#[derive(Default)]
struct Inner {
    backends: Mutex<Vec<String>>,
    next: AtomicUsize,
    /// Requests that went to another backend because the first failed.
    failovers: AtomicUsize,
    /// Requests per backend URL.
    served: Mutex<std::collections::HashMap<String, usize>>,
}

/// The balancer; stopped when dropped.
pub struct Balancer {
    inner: Arc<Inner>,
    /// Its base URL, e.g. `http://127.0.0.1:41234`.
    pub url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Balancer {
    /// Starts with no backends (requests get 503 until one is added).
    pub async fn start() -> Balancer {
        let inner = Arc::new(Inner::default());
        let app = Router::new()
            .route("/{*path}", post(forward))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the balancer on loopback");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Balancer { inner, url, task }
    }

    /// Adds a backend (a base URL such as `Serve::http`).
    pub fn add(&self, backend: &str) {
        self.inner
            .backends
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(backend.to_string());
    }

    /// Requests that had to go to another backend than the first tried.
    pub fn failovers(&self) -> usize {
        self.inner.failovers.load(Ordering::Relaxed)
    }

    /// How many requests `backend` answered.
    pub fn served(&self, backend: &str) -> usize {
        self.inner
            .served
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(backend)
            .copied()
            .unwrap_or(0)
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One client for every forward: its connections to the backends are kept
/// open between requests, as a balancer's are.
fn client() -> &'static reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(kraft_ingest::http::client)
}

async fn forward(
    State(lb): State<Arc<Inner>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let backends = lb
        .backends
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    if backends.is_empty() {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let first = lb.next.fetch_add(1, Ordering::Relaxed);
    let client = client();
    for i in 0..backends.len() {
        let b = &backends[(first + i) % backends.len()];
        let mut req = client
            .post(format!("{b}{}", uri.path()))
            .header("content-type", "application/json")
            .body(body.clone());
        if let Some(s) = headers.get(SECRET_HEADER).and_then(|v| v.to_str().ok()) {
            req = req.header(SECRET_HEADER, s);
        }
        match req.send().await {
            Ok(r) if !r.status().is_server_error() => {
                if i > 0 {
                    lb.failovers.fetch_add(1, Ordering::Relaxed);
                }
                *lb.served
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .entry(b.clone())
                    .or_default() += 1;
                return StatusCode::from_u16(r.status().as_u16()).unwrap_or(StatusCode::OK);
            }
            // Down, or failing: the next backend gets the request.
            _ => continue,
        }
    }
    StatusCode::BAD_GATEWAY
}
