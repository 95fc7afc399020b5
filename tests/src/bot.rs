//! A whole assistant for end-to-end tests: the real knowledge base (or a
//! fixture) ingested into Qdrant Edge in a temp dir, a real SQLite state
//! file, and a manual clock, driven through `Assistant::handle` exactly as
//! a front-end would.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::TimeZone;
use kraft_core::model::{Action, Incoming, ManualClock, Platform, UserRef};
use kraft_core::{Assistant, CoreSettings, Store};
use kraft_ingest::sync::NoProgress;
use kraft_ingest::{IngestOptions, Knowledge, KnowledgeSettings, Secrets};

/// The programme's real knowledge base.
pub fn real_kb() -> PathBuf {
    crate::workspace_root().join("knowledge")
}

/// The core settings of the embedded `config/default.toml` (topics
/// included), read the way the binary reads them, so tests see what users get.
pub fn default_core_settings() -> CoreSettings {
    use figment::providers::{Format, Toml};
    figment::Figment::from(Toml::file(
        crate::workspace_root().join("config/default.toml"),
    ))
    .extract()
    .expect("config/default.toml has valid core settings")
}

pub struct TestBot {
    pub tmp: tempfile::TempDir,
    pub kb: PathBuf,
    pub assistant: Assistant,
    pub clock: Arc<ManualClock>,
    pub settings: CoreSettings,
}

/// 2026-11-27 09:00 UTC: before the example events of 2027.
pub fn start_time() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc
        .with_ymd_and_hms(2026, 11, 27, 9, 0, 0)
        .single()
        .expect("valid date")
}

pub fn user(id: &str) -> UserRef {
    UserRef::new(Platform::Telegram, id, format!("chat-{id}"))
}

impl TestBot {
    /// Ingests `kb` into a fresh temp data dir and starts the assistant.
    /// Sources link to Kraft's knowledge pages at [`KB_URL`] unless the
    /// settings name another address, so a test reads which documents an
    /// answer cites from its text, as a user's click would.
    pub async fn start(kb: &Path, mut settings: CoreSettings) -> TestBot {
        if settings.assistant.knowledge_url.is_empty() {
            settings.assistant.knowledge_url = KB_URL.into();
        }
        let tmp = tempfile::tempdir().expect("tempdir");
        let clock = Arc::new(ManualClock::new(start_time()));
        let assistant = Self::open(tmp.path(), kb, settings.clone(), clock.clone(), true).await;
        TestBot {
            tmp,
            kb: kb.to_path_buf(),
            assistant,
            clock,
            settings,
        }
    }

    pub async fn open(
        dir: &Path,
        kb: &Path,
        settings: CoreSettings,
        clock: Arc<ManualClock>,
        ingest: bool,
    ) -> Assistant {
        let ks = KnowledgeSettings {
            data_dir: dir.join("data"),
            knowledge_dir: kb.to_path_buf(),
            ..Default::default()
        };
        let k = Knowledge::open(ks, Secrets::default())
            .await
            .expect("open index");
        if ingest {
            let r = k
                .ingest(kb, IngestOptions::default(), &NoProgress)
                .await
                .expect("ingest");
            assert!(r.skipped.is_empty(), "skipped: {:?}", r.skipped);
        }
        let store = Store::open(&dir.join("data/kraft.sqlite")).expect("state db");
        Assistant::new(Arc::new(k), Arc::new(store), settings, None, clock)
            .await
            .expect("assistant")
    }

    /// Closes everything and opens it again from the same files, as after
    /// a process restart.
    pub async fn restart(&mut self) {
        let dir = self.tmp.path().to_path_buf();
        // Replace with a placeholder first so the index lock is released
        // before the new instance opens it.
        let placeholder_dir = tempfile::tempdir().expect("tempdir");
        let placeholder = Self::open(
            placeholder_dir.path(),
            &self.kb,
            self.settings.clone(),
            self.clock.clone(),
            false,
        )
        .await;
        drop(std::mem::replace(&mut self.assistant, placeholder));
        self.assistant = Self::open(
            &dir,
            &self.kb,
            self.settings.clone(),
            self.clock.clone(),
            false,
        )
        .await;
    }

    pub async fn say(&self, u: &UserRef, text: &str) -> Vec<Action> {
        self.assistant
            .handle(&Incoming::text(u, text))
            .await
            .expect("handle")
    }

    pub async fn press(&self, u: &UserRef, button: &str) -> Vec<Action> {
        self.assistant
            .handle(&Incoming::button(u, button))
            .await
            .expect("handle")
    }

    /// Delivers everything in the outbox, confirming each, and returns it.
    pub fn deliver(&self) -> Vec<Action> {
        let ds = self.assistant.pending(100).expect("pending");
        for d in &ds {
            confirm(&self.assistant, d);
        }
        ds
    }

    pub fn state_db(&self) -> PathBuf {
        self.tmp.path().join("data/kraft.sqlite")
    }
}

pub fn confirm(a: &Assistant, action: &Action) {
    if let Action::RelayToUser { delivery, .. } | Action::NotifyAdvisers { delivery, .. } = action {
        a.delivered(*delivery).expect("confirm delivery");
    }
}

/// The text of the (single) Reply among `actions`.
pub fn reply_text(actions: &[Action]) -> String {
    let replies: Vec<&String> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Reply { text, .. } => Some(text),
            _ => None,
        })
        .collect();
    assert_eq!(
        replies.len(),
        1,
        "expected exactly one reply in {actions:#?}"
    );
    replies[0].clone()
}

/// The texts of the notifications for advisers among `actions`.
pub fn adviser_notes(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::NotifyAdvisers { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect()
}

pub fn buttons(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .flat_map(|a| match a {
            Action::Reply { buttons, .. } => buttons.iter().map(|b| b.id.clone()).collect(),
            _ => Vec::new(),
        })
        .collect()
}

/// Where test assistants' knowledge pages are (see [`TestBot::start`]).
pub const KB_URL: &str = "https://kraft.test";

/// The knowledge path a link to Kraft's page points at
/// (`…/kb/faq/x.md?lang=sv` → `faq/x.md`).
pub fn path_of_link(line: &str) -> Option<String> {
    let at = line.find("/kb/")? + "/kb/".len();
    let rest = &line[at..];
    let end = rest.find(['?', ' ', ')', '>']).unwrap_or(rest.len());
    Some(rest[..end].to_string())
}

/// Knowledge paths listed under "Källor:"/"Sources:", read from their
/// links to Kraft's knowledge pages.
pub fn cited_paths(reply: &str) -> Vec<String> {
    let Some(i) = reply.find("\nKällor:").or_else(|| reply.find("\nSources:")) else {
        return Vec::new();
    };
    reply[i..]
        .lines()
        .skip(1)
        .filter_map(path_of_link)
        .collect()
}

/// The answer body: everything before the next-step line and sources.
pub fn answer_body(reply: &str) -> String {
    let cut = [
        "\n\n🔒",
        "\n\nFråga gärna vidare",
        "\n\nFeel free to ask",
        "\n\nKällor:",
        "\n\nSources:",
    ]
    .iter()
    .filter_map(|m| reply.find(m))
    .min()
    .unwrap_or(reply.len());
    reply[..cut].to_string()
}

/// The sentences of one answer line: split after `.`, `!` or `?` where a
/// space and a capital letter or digit follow ("t.ex. en" stays whole).
fn sentences(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    for w in chars.windows(3) {
        let [(_, end), (_, space), (next_at, next)] = [w[0], w[1], w[2]];
        if matches!(end, '.' | '!' | '?')
            && space == ' '
            && (next.is_uppercase() || next.is_ascii_digit())
        {
            out.push(line[start..next_at].trim());
            start = next_at;
        }
    }
    out.push(line[start..].trim());
    out.retain(|s| !s.is_empty());
    out
}

/// Asserts that every sentence of the answer body (bullets included) is
/// text of one of the cited documents, Markdown removed: nothing is stated
/// that the sources do not say. Sentence by sentence, because an answer
/// may put a section's sentence and the next section's on one line.
pub fn assert_grounded(reply: &str, kb: &Path) {
    let cited = cited_paths(reply);
    assert!(!cited.is_empty(), "no sources cited in:\n{reply}");
    let sources: Vec<String> = cited
        .iter()
        .map(|p| {
            let raw = std::fs::read_to_string(kb.join(p))
                .unwrap_or_else(|e| panic!("cited source {p} is not readable: {e}"));
            let body = raw.splitn(3, "---").nth(2).unwrap_or(&raw).to_string();
            kraft_core::extract::plain(&body)
        })
        .collect();
    let body = answer_body(reply);
    for line in body.lines() {
        let line = line.trim().trim_start_matches("• ").trim();
        if line.is_empty() || line == "(The source is in Swedish.)" {
            continue;
        }
        for sentence in sentences(line) {
            assert!(
                sources.iter().any(|s| s.contains(sentence)),
                "answer sentence not found in the cited sources {cited:?}:\n  {sentence}\nfull reply:\n{reply}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_split_where_a_new_one_starts() {
        assert_eq!(
            sentences("En rad. Nästa rad, t.ex. en lista? 2027 gäller det. slut"),
            [
                "En rad.",
                "Nästa rad, t.ex. en lista?",
                "2027 gäller det. slut"
            ]
        );
        assert_eq!(sentences("  "), Vec::<&str>::new());
    }

    #[test]
    fn a_sentence_the_sources_do_not_say_is_caught() {
        let kb = tempfile::tempdir().expect("tmp");
        std::fs::create_dir_all(kb.path().join("faq")).expect("dir");
        std::fs::write(
            kb.path().join("faq/a.md"),
            "---\ntitle: \"A\"\n---\n# A\n\n## Ett\n\nFörsta meningen.\n\n## Två\n\nAndra meningen.\n",
        )
        .expect("page");
        let reply = |body: &str| {
            format!("{body}\n\nKällor:\n[1] A – https://kraft.test/kb/faq/a.md?lang=sv")
        };
        // Two sections' sentences on one line: both are in the source.
        assert_grounded(&reply("Första meningen. Andra meningen."), kb.path());
        let invented = reply("Första meningen. Det kostar 5 000 kr.");
        let caught = std::panic::catch_unwind(|| assert_grounded(&invented, kb.path()));
        assert!(caught.is_err(), "an invented sentence must fail the check");
    }
}
