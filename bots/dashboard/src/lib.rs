//! kraft-dashboard: a read-only web dashboard for the project team and
//! funders, served by `kraft serve` on its own listener (loopback unless
//! configured otherwise), off by default.
//!
//! Pages: the follow-up numbers for a date range as charts beside the
//! numbers (and a printable version, CSV and JSON); knowledge curation
//! (gap groups with masked examples, 👎 per document, documents never
//! cited, review dates, broken links, source links checked on demand);
//! open tickets without message text; the knowledge base as pages.
//!
//! Everything shown is an aggregate, a document of the knowledge base, or
//! a masked example question: no chat id, user id, name or message text.
//! Every page needs a login: a token from the environment
//! (`KRAFT_DASHBOARD_TOKEN`), compared in constant time, with attempts
//! rate-limited per address and overall; a session is a random cookie
//! (HttpOnly, SameSite=Strict) that expires.

mod pages;
pub mod svg;
mod words;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::NaiveDate;
use governor::{Quota, RateLimiter};
use kraft_core::report::FollowUp;
use kraft_core::Lang;
use kraft_ingest::check::CheckOptions;
use kraft_ingest::text::Analyzer;
use serde::{Deserialize, Serialize};

/// `[dashboard]` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DashboardSettings {
    /// Off by default: nothing is served until this is true and
    /// `KRAFT_DASHBOARD_TOKEN` is set.
    pub enabled: bool,
    /// Its own address, apart from `/healthz` and `/metrics`; loopback
    /// unless you put it behind a reverse proxy on purpose.
    pub listen: String,
    /// A login lasts this long.
    pub session_hours: u64,
    /// Login attempts a minute from one address (and 6× that overall).
    pub login_attempts_per_minute: u32,
    /// Serve the knowledge base pages (`/kb/…`) without a login: they are
    /// the programme's public texts, so answers can link to them.
    pub public_knowledge: bool,
    /// How long a source link may take when checked.
    pub link_timeout_secs: u64,
}

impl Default for DashboardSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            listen: "127.0.0.1:9465".into(),
            session_hours: 8,
            login_attempts_per_minute: 5,
            public_knowledge: false,
            link_timeout_secs: 5,
        }
    }
}

/// The dashboard cannot be built as configured.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DashboardError {
    #[error("dashboard.enabled needs KRAFT_DASHBOARD_TOKEN set to a secret of at least 16 characters (e.g. `openssl rand -hex 24`)")]
    NoToken,
    #[error("dashboard: {0}")]
    Config(String),
    #[error("dashboard: {0}")]
    Io(#[from] std::io::Error),
}

type Keyed = RateLimiter<
    IpAddr,
    governor::state::keyed::DefaultKeyedStateStore<IpAddr>,
    governor::clock::DefaultClock,
>;
type Direct = RateLimiter<
    governor::state::NotKeyed,
    governor::state::InMemoryState,
    governor::clock::DefaultClock,
>;

/// The dashboard's state: what the pages read, and the logins.
pub struct Dashboard {
    store: Arc<dyn kraft_core::State>,
    knowledge_dir: PathBuf,
    check: CheckOptions,
    analyzer: Arc<Analyzer>,
    settings: DashboardSettings,
    token: blake3::Hash,
    /// blake3 of each session cookie → when it expires.
    sessions: Mutex<HashMap<[u8; 32], Instant>>,
    per_address: Keyed,
    overall: Direct,
}

impl std::fmt::Debug for Dashboard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dashboard")
            .field("knowledge_dir", &self.knowledge_dir)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

const COOKIE: &str = "kraft_dashboard";
const MAX_SESSIONS: usize = 1000;

impl Dashboard {
    /// `check` is what `kraft kb check` holds the knowledge base to (its
    /// `today` is set per request).
    pub fn new(
        store: Arc<dyn kraft_core::State>,
        knowledge_dir: PathBuf,
        check: CheckOptions,
        settings: DashboardSettings,
        token: Option<&str>,
    ) -> Result<Arc<Self>, DashboardError> {
        let token = token
            .map(str::trim)
            .filter(|t| t.chars().count() >= 16)
            .ok_or(DashboardError::NoToken)?;
        let per = NonZeroU32::new(settings.login_attempts_per_minute.max(1))
            .ok_or_else(|| DashboardError::Config("login_attempts_per_minute".into()))?;
        let all = NonZeroU32::new(settings.login_attempts_per_minute.max(1).saturating_mul(6))
            .ok_or_else(|| DashboardError::Config("login_attempts_per_minute".into()))?;
        let analyzer = Analyzer::new(kraft_ingest::text::Bm25Params::default())
            .map_err(|e| DashboardError::Config(e.to_string()))?;
        Ok(Arc::new(Self {
            store,
            knowledge_dir,
            check,
            analyzer: Arc::new(analyzer),
            settings,
            token: blake3::hash(token.as_bytes()),
            sessions: Mutex::new(HashMap::new()),
            per_address: RateLimiter::keyed(Quota::per_minute(per)),
            overall: RateLimiter::direct(Quota::per_minute(all)),
        }))
    }

    /// The routes, all under `/dashboard` and `/kb`.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/", get(|| async { Redirect::to("/dashboard") }))
            .route(
                "/dashboard",
                get(|| async { Redirect::to("/dashboard/followup") }),
            )
            .route("/dashboard/login", get(login_form).post(login))
            .route("/dashboard/logout", post(logout))
            .route("/dashboard/followup", get(followup))
            .route("/dashboard/followup/print", get(followup_print))
            .route("/dashboard/followup.csv", get(followup_csv))
            .route("/dashboard/followup.json", get(followup_json))
            .route("/dashboard/knowledge", get(knowledge))
            .route("/dashboard/knowledge/links", post(check_links))
            .route("/dashboard/tickets", get(tickets))
            .route("/kb", get(kb_index))
            .route("/kb/{*path}", get(kb_page))
            .fallback(not_found)
            .with_state(self.clone())
    }

    /// Serves on `settings.listen` until `shutdown` resolves; `bound` is
    /// told the address actually bound (port 0 picks one).
    pub async fn serve(
        self: Arc<Self>,
        bound: impl FnOnce(SocketAddr),
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), DashboardError> {
        let listener = tokio::net::TcpListener::bind(&self.settings.listen)
            .await
            .map_err(|e| {
                DashboardError::Config(format!("cannot listen on {}: {e}", self.settings.listen))
            })?;
        bound(listener.local_addr()?);
        axum::serve(
            listener,
            self.router()
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await?;
        Ok(())
    }

    fn session_ok(&self, headers: &HeaderMap) -> bool {
        let Some(c) = cookie(headers) else {
            return false;
        };
        let key = *blake3::hash(c.as_bytes()).as_bytes();
        let mut s = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        match s.get(&key) {
            Some(exp) if *exp > Instant::now() => true,
            Some(_) => {
                s.remove(&key);
                false
            }
            None => false,
        }
    }

    fn new_session(&self) -> String {
        let raw = format!("{}{}", uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        let cookie = blake3::hash(raw.as_bytes()).to_hex().to_string();
        let mut s = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        s.retain(|_, exp| *exp > now);
        if s.len() >= MAX_SESSIONS {
            // Oldest first out: a flood of logins cannot grow this.
            if let Some(k) = s.iter().min_by_key(|(_, e)| **e).map(|(k, _)| *k) {
                s.remove(&k);
            }
        }
        s.insert(
            *blake3::hash(cookie.as_bytes()).as_bytes(),
            now + Duration::from_secs(self.settings.session_hours.max(1) * 3600),
        );
        cookie
    }

    fn today(&self) -> chrono::NaiveDate {
        chrono::Utc::now().date_naive()
    }
}

fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
}

/// HTML-escapes text for element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Query parameters every page understands.
#[derive(Debug, Default, Deserialize)]
struct Params {
    lang: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

impl Params {
    fn lang(&self, headers: &HeaderMap) -> Lang {
        match self.lang.as_deref() {
            Some("en") => Lang::En,
            Some("sv") => Lang::Sv,
            _ => {
                let accept = headers
                    .get(header::ACCEPT_LANGUAGE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                if accept.trim_start().starts_with("en") {
                    Lang::En
                } else {
                    Lang::Sv
                }
            }
        }
    }

    /// The date range: both given and in order, else the current month so
    /// far (as `kraft report followup`).
    fn range(&self, today: chrono::NaiveDate) -> (chrono::NaiveDate, chrono::NaiveDate) {
        use chrono::Datelike;
        let parse = |s: &Option<String>| {
            s.as_deref()
                .and_then(|v| chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").ok())
        };
        let from = parse(&self.from).unwrap_or_else(|| today.with_day(1).unwrap_or(today));
        let to = parse(&self.to).unwrap_or(today);
        if from > to {
            (to, from)
        } else {
            (from, to)
        }
    }
}

/// Headers every response carries: no caching (numbers change, pages are
/// behind a login), no framing, no scripts, nothing fetched from elsewhere.
fn secure(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

fn html(body: String) -> Response {
    secure(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response())
}

/// Not logged in: to the login page (keeping the language).
fn to_login(lang: Lang) -> Response {
    secure(Redirect::to(&format!("/dashboard/login?lang={}", lang.as_str())).into_response())
}

async fn login_form(
    State(d): State<Arc<Dashboard>>,
    Query(p): Query<Params>,
    headers: HeaderMap,
) -> Response {
    let lang = p.lang(&headers);
    if d.session_ok(&headers) {
        return secure(Redirect::to("/dashboard/followup").into_response());
    }
    html(pages::login(lang, None))
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    token: String,
    #[serde(default)]
    lang: Option<String>,
}

async fn login(
    State(d): State<Arc<Dashboard>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Form(f): Form<LoginForm>,
) -> Response {
    let lang = if f.lang.as_deref() == Some("en") {
        Lang::En
    } else {
        Lang::Sv
    };
    if d.per_address.check_key(&addr.ip()).is_err() || d.overall.check().is_err() {
        tracing::warn!("dashboard: login attempts over the limit");
        let mut r = html(pages::login(lang, Some(words::TOO_MANY)));
        *r.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        return r;
    }
    // blake3::Hash compares in constant time.
    if blake3::hash(f.token.trim().as_bytes()) != d.token {
        tracing::warn!("dashboard: a login was refused");
        let mut r = html(pages::login(lang, Some(words::WRONG)));
        *r.status_mut() = StatusCode::UNAUTHORIZED;
        return r;
    }
    let c = d.new_session();
    let mut r =
        Redirect::to(&format!("/dashboard/followup?lang={}", lang.as_str())).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{COOKIE}={c}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
        d.settings.session_hours.max(1) * 3600
    )) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    secure(r)
}

async fn logout(State(d): State<Arc<Dashboard>>, headers: HeaderMap) -> Response {
    if let Some(c) = cookie(&headers) {
        let key = *blake3::hash(c.as_bytes()).as_bytes();
        d.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&key);
    }
    let mut r = Redirect::to("/dashboard/login").into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("kraft_dashboard=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
    );
    secure(r)
}

/// A page behind the login: `render` with the language and date range of
/// the request, as HTML; the way to the login without a session.
fn page(
    d: &Dashboard,
    p: &Params,
    headers: &HeaderMap,
    render: impl FnOnce(&Dashboard, Lang, NaiveDate, NaiveDate) -> Result<String, String>,
) -> Response {
    let lang = p.lang(headers);
    if !d.session_ok(headers) {
        return to_login(lang);
    }
    let (from, to) = p.range(d.today());
    match render(d, lang, from, to) {
        Ok(b) => html(b),
        Err(e) => failed(e),
    }
}

/// The follow-up report of the request's range, or the way to the login.
fn report(d: &Dashboard, p: &Params, headers: &HeaderMap) -> Result<FollowUp, Box<Response>> {
    let lang = p.lang(headers);
    if !d.session_ok(headers) {
        return Err(Box::new(to_login(lang)));
    }
    let (from, to) = p.range(d.today());
    d.store
        .stats(from, to)
        .map(|rows| kraft_core::report::follow_up(&rows, from, to))
        .map_err(|e| Box::new(failed(e.to_string())))
}

async fn followup(
    State(d): State<Arc<Dashboard>>,
    Query(p): Query<Params>,
    headers: HeaderMap,
) -> Response {
    page(&d, &p, &headers, |d, l, f, t| {
        pages::followup(d, l, f, t, false)
    })
}

async fn followup_print(
    State(d): State<Arc<Dashboard>>,
    Query(p): Query<Params>,
    headers: HeaderMap,
) -> Response {
    page(&d, &p, &headers, |d, l, f, t| {
        pages::followup(d, l, f, t, true)
    })
}

fn download(kind: &'static str, name: String, body: String) -> Response {
    secure(
        (
            [
                (header::CONTENT_TYPE, kind.to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{name}\""),
                ),
            ],
            body,
        )
            .into_response(),
    )
}

async fn followup_csv(
    State(d): State<Arc<Dashboard>>,
    Query(p): Query<Params>,
    headers: HeaderMap,
) -> Response {
    let r = match report(&d, &p, &headers) {
        Ok(r) => r,
        Err(resp) => return *resp,
    };
    match r.csv() {
        Ok(csv) => download(
            "text/csv; charset=utf-8",
            format!("kraft-followup-{}-{}.csv", r.from, r.to),
            csv,
        ),
        Err(e) => failed(e),
    }
}

async fn followup_json(
    State(d): State<Arc<Dashboard>>,
    Query(p): Query<Params>,
    headers: HeaderMap,
) -> Response {
    match report(&d, &p, &headers) {
        Ok(r) => download(
            "application/json",
            format!("kraft-followup-{}-{}.json", r.from, r.to),
            serde_json::to_string_pretty(&r).unwrap_or_default(),
        ),
        Err(resp) => *resp,
    }
}

async fn knowledge(
    State(d): State<Arc<Dashboard>>,
    Query(p): Query<Params>,
    headers: HeaderMap,
) -> Response {
    page(&d, &p, &headers, |d, l, f, t| {
        pages::knowledge(d, l, f, t, None)
    })
}

async fn check_links(
    State(d): State<Arc<Dashboard>>,
    Query(p): Query<Params>,
    headers: HeaderMap,
) -> Response {
    let lang = p.lang(&headers);
    if !d.session_ok(&headers) {
        return secure(StatusCode::UNAUTHORIZED.into_response());
    }
    let (from, to) = p.range(d.today());
    let results = pages::check_sources(&d).await;
    match pages::knowledge(&d, lang, from, to, Some(results)) {
        Ok(b) => html(b),
        Err(e) => failed(e),
    }
}

async fn tickets(
    State(d): State<Arc<Dashboard>>,
    Query(p): Query<Params>,
    headers: HeaderMap,
) -> Response {
    page(&d, &p, &headers, |d, l, _, _| pages::tickets(d, l))
}

async fn kb_index(
    State(d): State<Arc<Dashboard>>,
    Query(p): Query<Params>,
    headers: HeaderMap,
) -> Response {
    let lang = p.lang(&headers);
    let logged_in = d.session_ok(&headers);
    if !d.settings.public_knowledge && !logged_in {
        return to_login(lang);
    }
    match pages::kb_index(&d, lang, logged_in) {
        Ok(b) => html(b),
        Err(e) => failed(e),
    }
}

async fn kb_page(
    State(d): State<Arc<Dashboard>>,
    Path(path): Path<String>,
    Query(p): Query<Params>,
    headers: HeaderMap,
) -> Response {
    let lang = p.lang(&headers);
    let logged_in = d.session_ok(&headers);
    if !d.settings.public_knowledge && !logged_in {
        return to_login(lang);
    }
    match pages::kb_page(&d, lang, &path, logged_in) {
        Some(b) => html(b),
        None => missing(lang),
    }
}

async fn not_found(Query(p): Query<Params>, headers: HeaderMap) -> Response {
    missing(p.lang(&headers))
}

fn missing(lang: Lang) -> Response {
    let mut r = html(pages::message(lang, words::NOT_FOUND));
    *r.status_mut() = StatusCode::NOT_FOUND;
    r
}

fn failed(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "dashboard page failed");
    secure((StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response())
}
