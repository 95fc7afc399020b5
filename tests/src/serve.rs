//! A running `kraft serve` (the real binary) for end-to-end tests: started
//! with a test's own data folder and settings, its HTTP address and log
//! captured, stopped with SIGTERM like systemd does (or killed on drop).
//! `Serve::start` wires it to a Telegram double; `start_with` takes any
//! settings (the Discord tests use it).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::tg::{TgDouble, TOKEN};

/// A running `kraft serve` (the real binary) wired to a Telegram double.
/// Killed on drop; `stop()` sends SIGTERM and waits, like systemd.
pub struct Serve {
    child: std::process::Child,
    /// Base URL of its HTTP server (healthz, metrics, webhook).
    pub http: String,
    pub log: Arc<Mutex<String>>,
    /// The dashboard's URL, when it is on.
    dashboard: Option<String>,
}

impl Serve {
    /// `bin` = `env!("CARGO_BIN_EXE_kraft")`. Telegram points at `double`
    /// with a 1-second long poll; `env` adds or overrides settings.
    pub fn start(
        bin: &str,
        data: &std::path::Path,
        kb: &std::path::Path,
        double: &TgDouble,
        env: &[(&str, &str)],
    ) -> Serve {
        let api = double.api_url();
        let mut all: Vec<(&str, &str)> = vec![
            ("KRAFT_TELEGRAM_TOKEN", TOKEN),
            ("KRAFT_TELEGRAM__API_URL", &api),
            ("KRAFT_TELEGRAM__POLL_TIMEOUT_SECS", "1"),
        ];
        all.extend_from_slice(env);
        Serve::start_with(bin, data, kb, &all)
    }

    /// `kraft serve` with only the settings in `env` (no Telegram unless
    /// they add it), e.g. for the Discord tests.
    pub fn start_with(
        bin: &str,
        data: &std::path::Path,
        kb: &std::path::Path,
        env: &[(&str, &str)],
    ) -> Serve {
        use std::io::BufRead;
        let mut c = crate::kraft_cmd(bin, data, kb);
        c.env("KRAFT_SERVE__LISTEN", "127.0.0.1:0")
            .env("KRAFT_LOG__FILTER", "info,qdrant_edge=error")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        for (k, v) in env {
            c.env(k, v);
        }
        c.arg("serve");
        let mut child = c.spawn().expect("start kraft serve");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("stderr");
        let l2 = log.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                eprintln!("[serve] {line}");
                let mut g = l2.lock().unwrap_or_else(|p| p.into_inner());
                g.push_str(&line);
                g.push('\n');
            }
        });
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        let dashboard: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
        let d2 = dashboard.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                eprintln!("[serve:out] {line}");
                if let Some(url) = line.strip_prefix("kraft serve: dashboard on ") {
                    *d2.lock().unwrap_or_else(|p| p.into_inner()) = Some(url.trim().to_string());
                }
                if let Some(url) = line.strip_prefix("kraft serve: listening on ") {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        let http = match rx.recv_timeout(Duration::from_secs(180)) {
            Ok(u) => u,
            Err(_) => {
                let _ = child.kill();
                panic!("kraft serve did not start within 180 s");
            }
        };
        let dashboard = dashboard.lock().unwrap_or_else(|p| p.into_inner()).clone();
        Serve {
            child,
            http,
            log,
            dashboard,
        }
    }

    /// The dashboard's URL (`…/dashboard`) when it is on.
    pub fn dashboard(&self) -> Option<&str> {
        self.dashboard.as_deref()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// SIGTERM, then waits for the exit status.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let end = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s;
            }
            if Instant::now() > end {
                let _ = self.child.kill();
                panic!("kraft serve did not stop within 60 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The exit status if the process has ended on its own.
    pub fn try_wait(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// SIGKILL: no chance to finish anything.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let r = kraft_ingest::http::client()
            .get(format!("{}{path}", self.http))
            .send()
            .await
            .expect("HTTP request to kraft serve");
        let code = r.status().as_u16();
        (code, r.text().await.unwrap_or_default())
    }
}

impl Serve {
    pub async fn post(&self, path: &str, secret: Option<&str>, body: String) -> u16 {
        let mut r = kraft_ingest::http::client()
            .post(format!("{}{path}", self.http))
            .header("content-type", "application/json")
            .body(body);
        if let Some(s) = secret {
            r = r.header("X-Telegram-Bot-Api-Secret-Token", s);
        }
        r.send()
            .await
            .expect("HTTP POST to kraft serve")
            .status()
            .as_u16()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
