//! The dashboard end to end: `kraft serve` with the dashboard on, fed by
//! real conversations over the Telegram double; its pages checked over
//! HTTP against `kraft report followup`, for what curators need to see,
//! and for what must never be there (ids, message text, contact details).
//! The login: off by default, refused and rate-limited when wrong. The
//! source-link check against local servers (no internet in tests).
use std::path::Path;
use std::time::Duration;

use kraft_tests::bot::real_kb;
use kraft_tests::serve::Serve;
use kraft_tests::tg::{TgDouble, TOKEN};
use kraft_tests::{kraft_cmd, run_logged, write_files};

const BIN: &str = env!("CARGO_BIN_EXE_kraft");
const GROUP: i64 = -100_999;
const WAIT: Duration = Duration::from_secs(60);
const SECRET: &str = "dashboard-login-token-for-tests-0123";

/// A browser without one: cookies by hand, redirects not followed.
struct Web {
    base: String,
    client: reqwest::Client,
    cookie: Option<String>,
}

struct Got {
    status: u16,
    location: Option<String>,
    body: String,
}

impl Web {
    fn new(dashboard_url: &str) -> Web {
        let base = dashboard_url.trim_end_matches("/dashboard").to_string();
        Web {
            base,
            client: kraft_ingest::http::client_builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            cookie: None,
        }
    }

    async fn send(&self, r: reqwest::RequestBuilder) -> Got {
        let r = match &self.cookie {
            Some(c) => r.header("cookie", c),
            None => r,
        };
        let resp = r.send().await.expect("request to the dashboard");
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        Got {
            status,
            location,
            body: resp.text().await.unwrap_or_default(),
        }
    }

    async fn get(&self, path: &str) -> Got {
        self.send(self.client.get(format!("{}{path}", self.base)))
            .await
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> (Got, Option<String>) {
        let body: Vec<String> = form
            .iter()
            .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
            .collect();
        let mut r = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.join("&"));
        if let Some(c) = &self.cookie {
            r = r.header("cookie", c);
        }
        let resp = r.send().await.expect("POST to the dashboard");
        let cookie = resp
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(str::to_string);
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        (
            Got {
                status,
                location,
                body: resp.text().await.unwrap_or_default(),
            },
            cookie,
        )
    }

    async fn login(&mut self) {
        let (g, c) = self.post("/dashboard/login", &[("token", SECRET)]).await;
        assert_eq!(g.status, 303, "{}", g.body);
        let c = c.expect("a session cookie");
        assert!(c.starts_with("kraft_dashboard="), "{c}");
        self.cookie = Some(c);
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}

/// `data-metric`/`data-column` cells of the follow-up table.
fn table_cells(html: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for part in html.split("<td class=\"n\" data-metric=\"").skip(1) {
        let (metric, rest) = part.split_once('"').expect("metric");
        let rest = rest.strip_prefix(" data-column=\"").expect("column");
        let (column, rest) = rest.split_once('"').expect("column end");
        let value = rest
            .strip_prefix('>')
            .and_then(|r| r.split_once("</td>"))
            .map(|(v, _)| v.to_string())
            .expect("value");
        out.push((metric.to_string(), column.to_string(), value));
    }
    out
}

/// Answers, a 👎, a gap with contact details, a ticket: what the project
/// team's pages are made of.
async fn conversations(tg: &TgDouble) {
    let a = 7_001_001;
    tg.user_says(a, "Vad kostar det att delta i Kraftsamling AI Mälardalen?");
    assert!(tg.wait_count(a, 1, WAIT).await);
    let answer = tg.sent_to(a).remove(0);
    let down = answer
        .buttons
        .iter()
        .find(|b| b.starts_with("fb:down:"))
        .expect("👎")
        .clone();
    tg.press(a, "Anna", &answer, &down);
    assert!(tg.wait_count(a, 2, WAIT).await);

    let b = 7_001_002;
    tg.user_says(b, "Vi på Hemligbolaget AB undrar vad en behovsanalys är?");
    assert!(tg.wait_count(b, 1, WAIT).await);

    let c = 7_001_003;
    tg.user_says(
        c,
        "Hur många företag deltog i projektet förra året? Ring mig på 070-123 45 67",
    );
    assert!(tg.wait_count(c, 1, WAIT).await);

    let d = 7_001_004;
    tg.user_says(d, "/human");
    assert!(tg.wait_count(d, 1, WAIT).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_shows_the_reports_numbers_and_nothing_personal() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let tg = TgDouble::start(TOKEN).await;
    tg.set_forum(GROUP);
    let g = GROUP.to_string();
    let s = Serve::start(
        BIN,
        &data,
        &real_kb(),
        &tg,
        &[
            ("KRAFT_TELEGRAM__ADVISER_GROUP", &g),
            ("KRAFT_DASHBOARD__ENABLED", "true"),
            ("KRAFT_DASHBOARD__LISTEN", "127.0.0.1:0"),
            ("KRAFT_DASHBOARD_TOKEN", SECRET),
        ],
    );
    conversations(&tg).await;
    let mut web = Web::new(s.dashboard().expect("the dashboard is on"));
    let today = chrono::Utc::now().date_naive();
    let from = today - chrono::Duration::days(30);
    let range = format!("from={from}&to={today}");

    // No page without a login.
    let pages = [
        format!("/dashboard/followup?{range}"),
        format!("/dashboard/followup/print?{range}"),
        format!("/dashboard/followup.csv?{range}"),
        format!("/dashboard/followup.json?{range}"),
        format!("/dashboard/knowledge?{range}"),
        "/dashboard/tickets".to_string(),
        "/kb".to_string(),
        "/kb/faq/kostar-det-nagot.md".to_string(),
    ];
    for p in &pages {
        let r = web.get(p).await;
        assert_eq!(r.status, 303, "{p} without a login");
        assert!(
            r.location
                .as_deref()
                .is_some_and(|l| l.starts_with("/dashboard/login")),
            "{p}: {:?}",
            r.location
        );
    }
    let (r, _) = web.post("/dashboard/knowledge/links", &[]).await;
    assert_eq!(r.status, 401);

    web.login().await;
    let f = web.get(&format!("/dashboard/followup?{range}")).await;
    assert_eq!(f.status, 200);
    // Every number equals `kraft report followup` for the same range.
    let mut c = kraft_cmd(BIN, &data, &real_kb());
    c.args([
        "report",
        "followup",
        "--from",
        &from.to_string(),
        "--to",
        &today.to_string(),
        "--format",
        "csv",
    ]);
    let out = run_logged(&mut c);
    assert!(out.status.success());
    let csv = String::from_utf8_lossy(&out.stdout).to_string();
    let mut lines = csv.lines();
    let head: Vec<&str> = lines.next().expect("header").split(',').collect();
    let cells = table_cells(&f.body);
    let mut compared = 0;
    for line in lines.filter(|l| !l.starts_with("topic:")) {
        let rec: Vec<&str> = line.split(',').collect();
        for (col, want) in head.iter().zip(&rec).skip(1) {
            let shown = cells
                .iter()
                .find(|(m, c, _)| m == rec[0] && c == col)
                .unwrap_or_else(|| panic!("no cell {} / {col}", rec[0]));
            let shown = shown.2.trim_end_matches(" %").replace('–', "");
            assert_eq!(&shown, want, "{} / {col}", rec[0]);
            compared += 1;
        }
    }
    assert!(compared >= 16 * 8, "{compared} cells compared");
    let cell = |m: &str| {
        cells
            .iter()
            .find(|(k, c, _)| k == m && c == "all")
            .map(|x| x.2.clone())
            .unwrap_or_default()
    };
    assert_eq!(cell("feedback_down"), "1");
    assert_eq!(cell("escalations"), "1");
    assert_eq!(cell("abstained"), "1");
    // Charts, with the numbers beside them.
    assert!(f.body.matches("<svg class=\"chart\"").count() >= 6);
    assert!(f.body.contains("<details>"));

    // Knowledge: the 👎'd document, a never-cited one, the gap masked.
    let k = web.get(&format!("/dashboard/knowledge?{range}")).await;
    assert_eq!(k.status, 200);
    let section = |html: &str, id: &str| -> String {
        let start = html
            .find(&format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("no section {id}"));
        let rest = &html[start..];
        let end = rest[1..].find("<h2").map_or(rest.len(), |e| e + 1);
        rest[..end].to_string()
    };
    let down = section(&k.body, "downvoted");
    assert!(down.contains("faq/kostar-det-nagot.md"), "{down}");
    let never = section(&k.body, "never-cited");
    assert!(never.contains("guides/ai-ordlista.md"), "{never}");
    assert!(
        !never.contains("faq/kostar-det-nagot.md"),
        "cited, so not listed"
    );
    let gaps = section(&k.body, "gaps");
    assert!(gaps.contains("Hur många företag deltog"), "{gaps}");
    assert!(gaps.contains("Ring mig på [nummer]"), "masked: {gaps}");

    // Tickets: the open one, without its text.
    let t = web.get("/dashboard/tickets").await;
    assert_eq!(t.status, 200);
    assert!(t.body.contains("user_request"), "{}", t.body);

    // English on request.
    let en = web
        .get(&format!("/dashboard/followup?{range}&lang=en"))
        .await;
    assert!(en.body.contains("Companies reached"));
    assert!(f.body.contains("Företag som nåtts"));

    // The knowledge base as pages, links between them kept inside.
    let kb = web.get("/kb/faq/kostar-det-nagot.md").await;
    assert_eq!(kb.status, 200);
    assert!(kb.body.contains("<article"));
    assert_eq!(web.get("/kb/../Cargo.toml").await.status, 404);
    assert_eq!(web.get("/kb/faq/none.md").await.status, 404);

    // Nothing personal anywhere: no ids, no message text, no numbers.
    for p in &pages {
        let r = web.get(p).await;
        assert_eq!(r.status, 200, "{p}");
        for bad in [
            "7001001",
            "7001002",
            "7001003",
            "7001004",
            "Hemligbolaget",
            "070-123",
            "123 45 67",
            "Anna",
            SECRET,
        ] {
            assert!(!r.body.contains(bad), "{p} shows {bad:?}");
        }
    }

    // Log out: the session is gone.
    let (r, _) = web.post("/dashboard/logout", &[]).await;
    assert_eq!(r.status, 303);
    assert_eq!(web.get("/dashboard/tickets").await.status, 303);

    // A wrong token is refused; attempts beyond the limit are refused
    // even with the right one.
    web.cookie = None;
    let (r, c) = web.post("/dashboard/login", &[("token", "wrong")]).await;
    assert_eq!(r.status, 401);
    assert!(c.is_none());
    for _ in 0..4 {
        web.post("/dashboard/login", &[("token", "wrong")]).await;
    }
    let (r, c) = web.post("/dashboard/login", &[("token", SECRET)]).await;
    assert_eq!(r.status, 429, "rate-limited");
    assert!(c.is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_is_off_by_default_and_refuses_to_start_without_a_token() {
    let tmp = tempfile::tempdir().expect("tmp");
    let tg = TgDouble::start(TOKEN).await;
    let s = Serve::start(BIN, &tmp.path().join("data"), &real_kb(), &tg, &[]);
    assert!(s.dashboard().is_none());
    assert!(s.log().contains("") && !s.log().contains("dashboard:"));
    drop(s);

    let mut c = kraft_cmd(BIN, &tmp.path().join("data2"), &real_kb());
    c.env("KRAFT_DASHBOARD__ENABLED", "true")
        .env("KRAFT_SERVE__LISTEN", "127.0.0.1:0")
        .env("KRAFT_DASHBOARD_TOKEN", "short")
        .arg("serve");
    let out = run_logged(&mut c);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("KRAFT_DASHBOARD_TOKEN"), "{err}");
}

/// Serves `/ok` (200) and everything else 404, on a free loopback port.
async fn link_target() -> String {
    let app = axum::Router::new().route("/ok", axum::routing::get(|| async { "fine" }));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let a = l.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    format!("http://{a}")
}

/// A Markdown page whose source is `url`.
fn page(title: &str, url: &str, body: &str) -> String {
    format!(
        "---\ntitle: \"{title}\"\nkind: faq\nlanguage: sv\nreviewed: 2026-11-01\nsource_url: \"{url}\"\n---\n{body}\n"
    )
}

fn kb_with_sources(root: &Path, base: &str) {
    write_files(
        root,
        &[
            (
                "faq/bra.md",
                &page("Bra källa", &format!("{base}/ok"), "Text om bra saker."),
            ),
            (
                "faq/borta.md",
                &page("Borta", &format!("{base}/gone"), "Text om borta saker."),
            ),
            (
                "faq/nere.md",
                &page(
                    "Nere",
                    "http://127.0.0.1:9/",
                    "Se [bra](bra.md) och [saknas](saknas.md).",
                ),
            ),
        ],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn source_links_are_checked_on_demand_and_broken_links_listed() {
    let tmp = tempfile::tempdir().expect("tmp");
    let kb = tmp.path().join("kb");
    let base = link_target().await;
    kb_with_sources(&kb, &base);
    let tg = TgDouble::start(TOKEN).await;
    let s = Serve::start(
        BIN,
        &tmp.path().join("data"),
        &kb,
        &tg,
        &[
            ("KRAFT_DASHBOARD__ENABLED", "true"),
            ("KRAFT_DASHBOARD__LISTEN", "127.0.0.1:0"),
            ("KRAFT_DASHBOARD__LINK_TIMEOUT_SECS", "3"),
            ("KRAFT_DASHBOARD_TOKEN", SECRET),
        ],
    );
    let mut web = Web::new(s.dashboard().expect("on"));
    web.login().await;
    let k = web.get("/dashboard/knowledge").await;
    assert!(
        k.body.contains("saknas.md"),
        "the broken internal link is listed"
    );
    assert!(
        !k.body.contains("source-results"),
        "links are checked only on demand"
    );
    let (r, _) = web.post("/dashboard/knowledge/links?lang=en", &[]).await;
    assert_eq!(r.status, 200);
    let table = r
        .body
        .split("id=\"source-results\"")
        .nth(1)
        .expect("results");
    let row = |u: &str| {
        table
            .split("<tr>")
            .find(|row| row.contains(u))
            .unwrap_or_else(|| panic!("no row for {u}"))
            .to_string()
    };
    assert!(row(&format!("{base}/ok")).contains("class=\"ok\">200"));
    assert!(row(&format!("{base}/gone")).contains("class=\"bad\">404"));
    assert!(row("127.0.0.1:9/").contains("class=\"bad\">unreachable"));
}

/// A WebDriver session in headless Chromium, through Debian's
/// chromedriver (W3C WebDriver over HTTP; no client crate needed for the
/// few calls a test makes). Killed on drop.
struct Browser {
    driver: std::process::Child,
    base: String,
    session: String,
    http: reqwest::Client,
}

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

impl Browser {
    async fn start() -> Option<Browser> {
        let driver_bin = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
        let chrome = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        if !Path::new(&chrome).exists() {
            return None;
        }
        let port = kraft_tests::free_port();
        let driver = std::process::Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok()?;
        let base = format!("http://127.0.0.1:{port}");
        let http = kraft_ingest::http::client();
        let end = std::time::Instant::now() + Duration::from_secs(30);
        while std::time::Instant::now() < end {
            if http
                .get(format!("{base}/status"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let caps = serde_json::json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chrome, "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-dev-shm-usage", "--window-size=1280,1700", "--lang=sv-SE"
            ]}
        }}});
        let v: serde_json::Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let session = v["value"]["sessionId"].as_str()?.to_string();
        Some(Browser {
            driver,
            base,
            session,
            http,
        })
    }

    async fn call(&self, method: &str, path: &str, body: serde_json::Value) -> serde_json::Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let r = match method {
            "GET" => self.http.get(url),
            _ => self.http.post(url).json(&body),
        };
        let v: serde_json::Value = r
            .send()
            .await
            .expect("WebDriver request")
            .json()
            .await
            .expect("WebDriver JSON");
        assert!(v["value"]["error"].is_null(), "WebDriver {path}: {v}");
        v["value"].clone()
    }

    async fn go(&self, url: &str) {
        self.call("POST", "/url", serde_json::json!({ "url": url }))
            .await;
    }

    async fn find_all(&self, css: &str) -> Vec<String> {
        let v = self
            .call(
                "POST",
                "/elements",
                serde_json::json!({"using": "css selector", "value": css}),
            )
            .await;
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e[ELEMENT].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    async fn find(&self, css: &str) -> String {
        self.find_all(css)
            .await
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no element {css}"))
    }

    async fn text(&self, css: &str) -> String {
        let e = self.find(css).await;
        self.call(
            "GET",
            &format!("/element/{e}/text"),
            serde_json::Value::Null,
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    async fn url(&self) -> String {
        self.call("GET", "/url", serde_json::Value::Null)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// A PNG of the viewport, written to `path`.
    async fn screenshot(&self, path: &Path) {
        use std::io::Write;
        let b64 = self
            .call("GET", "/screenshot", serde_json::Value::Null)
            .await;
        let bytes = decode_base64(b64.as_str().unwrap_or_default());
        assert!(bytes.starts_with(b"\x89PNG"), "a PNG");
        let mut f = std::fs::File::create(path).expect("screenshot file");
        f.write_all(&bytes).expect("write screenshot");
    }
}

impl Drop for Browser {
    /// Ends the WebDriver session first, so chromedriver quits Chromium:
    /// killing chromedriver alone would leave the browser's processes
    /// running after the test (they pile up run after run). A plain HTTP
    /// DELETE over a std socket, since drop cannot await.
    fn drop(&mut self) {
        use std::io::{Read, Write};
        let addr = self.base.trim_start_matches("http://").to_string();
        if let Ok(mut s) = std::net::TcpStream::connect(&addr) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
            let req = format!(
                "DELETE /session/{} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                self.session
            );
            if s.write_all(req.as_bytes()).is_ok() {
                let mut sink = Vec::new();
                let _ = s.read_to_end(&mut sink);
            }
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn decode_base64(s: &str) -> Vec<u8> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes().filter_map(val) {
        acc = (acc << 6) | c;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

/// A real browser logs in, opens the follow-up page, finds the charts and
/// the numbers `kraft report followup` gives. Screenshots go to
/// `KRAFT_SCREENSHOTS` when set (the README's come from here).
#[tokio::test(flavor = "multi_thread")]
async fn a_real_browser_logs_in_and_sees_charts_and_the_reports_numbers() {
    let Some(browser) = Browser::start().await else {
        kraft_tests::loud(
            "SKIPPED: dashboard browser test — no Chromium/chromedriver (Debian packages chromium and chromium-driver; tests/run installs them). \
             Run: apt-get install chromium chromium-driver && cargo test -p kraft --test dashboard a_real_browser",
        );
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let tg = TgDouble::start(TOKEN).await;
    tg.set_forum(GROUP);
    let g = GROUP.to_string();
    let s = Serve::start(
        BIN,
        &data,
        &real_kb(),
        &tg,
        &[
            ("KRAFT_TELEGRAM__ADVISER_GROUP", &g),
            ("KRAFT_DASHBOARD__ENABLED", "true"),
            ("KRAFT_DASHBOARD__LISTEN", "127.0.0.1:0"),
            ("KRAFT_DASHBOARD_TOKEN", SECRET),
        ],
    );
    conversations(&tg).await;
    let url = s.dashboard().expect("on").to_string();
    let shots = std::env::var("KRAFT_SCREENSHOTS")
        .ok()
        .map(std::path::PathBuf::from);

    browser.go(&format!("{url}/followup?lang=sv")).await;
    assert!(
        browser.url().await.contains("/dashboard/login"),
        "sent to the login"
    );
    if let Some(d) = &shots {
        browser.screenshot(&d.join("login.png")).await;
    }
    let field = browser.find("#token").await;
    browser
        .call(
            "POST",
            &format!("/element/{field}/value"),
            serde_json::json!({ "text": SECRET }),
        )
        .await;
    let button = browser.find("#login").await;
    browser
        .call(
            "POST",
            &format!("/element/{button}/click"),
            serde_json::json!({}),
        )
        .await;
    let end = std::time::Instant::now() + WAIT;
    while !browser.url().await.contains("/dashboard/followup") && std::time::Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(browser.url().await.contains("/dashboard/followup"));
    assert!(browser.find_all("svg.chart").await.len() >= 6, "the charts");
    let shown = browser
        .text(r#"td[data-metric="questions"][data-column="all"]"#)
        .await;
    let out = run_logged(
        kraft_cmd(BIN, &data, &real_kb()).args(["report", "followup", "--format", "csv"]),
    );
    let csv = String::from_utf8_lossy(&out.stdout).to_string();
    let want = csv
        .lines()
        .find(|l| l.starts_with("questions,"))
        .and_then(|l| l.split(',').nth(1))
        .expect("questions in the report")
        .to_string();
    assert_eq!(shown.trim(), want, "the page and kraft report agree");
    assert_eq!(want, "3");
    if let Some(d) = &shots {
        browser.screenshot(&d.join("followup.png")).await;
        browser.go(&format!("{url}/knowledge?lang=sv")).await;
        browser.screenshot(&d.join("knowledge.png")).await;
        browser.go(&format!("{url}/tickets?lang=en")).await;
        browser.screenshot(&d.join("tickets.png")).await;
    }
}
