//! The terminal as a chat platform (`kraft chat`): one local user types
//! on stdin and reads the answers on stdout, through the same [`Pump`] as
//! Telegram and Discord. A line is stored in the inbox before anything acts
//! on it, handled by the pump's worker for the user's chat, and its replies
//! go through the outbox; adviser messages queued by `kraft tickets` in
//! another terminal arrive through the outbox loop. Notes for advisers go
//! to stderr, so stdout is exactly what the user would see.
//!
//! Buttons are shown numbered; typing the number presses the button. During
//! a needs analysis a plain number is an answer ("12" employees), so there
//! the buttons are shown and pressed as "#1", "#2", ….

use std::collections::HashSet;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kraft_core::model::{Action, Button, Incoming, Lang, Platform, UserRef};
use kraft_core::pump::{self, Frontend, Pump, PumpSettings, SendFailure};
use kraft_core::store::{Delivery, InboxEvent, InboxRow};
use kraft_core::{texts, Assistant, CoreError, Observer};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::watch;

/// One typed line as the inbox keeps it until it is handled.
#[derive(Debug, Serialize, Deserialize)]
struct Line {
    user: String,
    text: String,
}

/// The terminal front-end for one local user.
pub struct Terminal {
    pump: Pump,
    user: String,
    /// Whether stdin is a terminal (then a prompt is shown).
    tty: bool,
    /// The buttons on screen, pressed by typing their number.
    buttons: Mutex<Vec<Button>>,
    /// What was streamed of the answer being written, so the reply prints
    /// only the rest.
    draft: Mutex<String>,
    /// Events (by key) whose handling failed: the user was told once and
    /// gets the prompt back; the pump tries them again.
    failed: Mutex<HashSet<String>>,
    /// Events (by key) this process has handled, or failed on once: the
    /// prompt waits for its line's key to appear here.
    settled: Mutex<HashSet<String>>,
    /// Tells lines of this run apart from earlier runs' in the inbox keys.
    run_id: u128,
}

impl std::fmt::Debug for Terminal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Terminal").finish_non_exhaustive()
    }
}

impl Terminal {
    /// `user`: the local user's name (1–64 printable characters, checked
    /// by the caller).
    pub fn new(
        user: &str,
        tty: bool,
        assistant: Arc<Assistant>,
        observer: Arc<dyn Observer>,
    ) -> Arc<Self> {
        let run_id = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        Arc::new(Self {
            pump: Pump::new(
                Platform::Terminal,
                assistant,
                observer,
                PumpSettings {
                    max_concurrent_chats: 1,
                    max_delivery_attempts: 5,
                    lease_secs: 30,
                },
            ),
            user: user.to_string(),
            tty,
            buttons: Mutex::new(Vec::new()),
            draft: Mutex::new(String::new()),
            failed: Mutex::new(HashSet::new()),
            settled: Mutex::new(HashSet::new()),
            run_id,
        })
    }

    fn assistant(&self) -> &Arc<Assistant> {
        self.pump.assistant()
    }

    fn prompt(&self) {
        if self.tty {
            print!("du/you> ");
            let _ = std::io::stdout().flush();
        }
    }

    /// Waits until the event with `key` is handled (or has failed once:
    /// then the prompt comes back while the pump retries it), or `stop`.
    async fn settle(&self, key: &str, stop: &watch::Receiver<bool>) {
        let mut polls = 0u32;
        while !*stop.borrow() {
            if self
                .settled
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(key)
            {
                return;
            }
            // The pump may also give an event up (its handling panicked):
            // then only the inbox knows, so it is asked now and then.
            polls += 1;
            if polls.is_multiple_of(50) && !self.in_inbox(key) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Whether the inbox still holds the event with `key`.
    fn in_inbox(&self, key: &str) -> bool {
        match self
            .assistant()
            .store()
            .inbox_pending(Platform::Terminal, 10_000)
        {
            Ok(rows) => rows.iter().any(|r| r.key == key),
            Err(e) => {
                tracing::error!(error = %e, "cannot read the inbox");
                false
            }
        }
    }

    /// Reads lines until end of input or `stop`; each is stored, then
    /// handled by the pump before the next prompt. At the end every line
    /// typed has been handled and its replies sent.
    pub async fn run(self: Arc<Self>, stop: watch::Receiver<bool>) -> Result<(), CoreError> {
        let store = self.assistant().store().clone();
        let released = store.release_leases(&[Platform::Terminal], self.advisers_for())?;
        if released > 0 {
            tracing::info!(
                released,
                "unconfirmed deliveries from the last run will be shown"
            );
        }
        let (loops_tx, loops) = watch::channel(false);
        let dispatch = tokio::spawn(pump::dispatch(self.clone(), loops.clone()));
        let outbox = tokio::spawn(pump::outbox(self.clone(), loops));
        println!("{}\n", texts::terminal_welcome());
        self.prompt();
        let mut lines = BufReader::new(tokio::io::stdin()).lines();
        let mut stop_wait = stop.clone();
        let mut seq = 0u64;
        loop {
            let line = tokio::select! {
                l = lines.next_line() => l,
                _ = stop_wait.wait_for(|s| *s) => break,
            };
            let text = match line {
                Ok(Some(l)) => l,
                Ok(None) => break,
                Err(e) => {
                    // Not UTF-8 (binary piped in): say so and go on.
                    tracing::warn!(error = %e, "unreadable input line");
                    println!("{}\n", texts::terminal_unreadable());
                    self.prompt();
                    continue;
                }
            };
            seq += 1;
            let key = format!("{}:{}:{seq}", self.user, self.run_id);
            let payload = serde_json::to_string(&Line {
                user: self.user.clone(),
                text,
            })
            .unwrap_or_default();
            let now = self.assistant().now();
            store.inbox_add(
                Platform::Terminal,
                &[InboxEvent {
                    key: &key,
                    chat: &self.user,
                    payload: &payload,
                }],
                None,
                now,
            )?;
            self.pump.wake.notify_one();
            // The next prompt waits for the answer, as in a chat window.
            self.settle(&key, &stop).await;
            self.prompt();
        }
        // The loops stop after a last round, so replies and adviser
        // messages queued meanwhile are still shown.
        let _ = loops_tx.send(true);
        let _ = dispatch.await;
        let _ = outbox.await;
        Ok(())
    }

    fn settled(&self, key: &str) {
        self.settled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.to_string());
    }

    /// The button a typed line presses, if any.
    fn pressed(&self, line: &str) -> Option<Button> {
        let buttons = self.buttons.lock().unwrap_or_else(|p| p.into_inner());
        pressed(line, &buttons).cloned()
    }

    /// Handles one typed line: the answer is streamed to stdout as it is
    /// written, and the replies are stored and sent.
    async fn handle_row(&self, row: &InboxRow) -> Result<(), CoreError> {
        let a = self.assistant();
        let Ok(line) = serde_json::from_str::<Line>(&row.payload) else {
            tracing::warn!(
                event = row.key.as_str(),
                "unreadable terminal event dropped"
            );
            a.commit(row.id, &[], None, self.pump.lease())?;
            return Ok(());
        };
        let me = UserRef::new(Platform::Terminal, &line.user, &line.user);
        let inc = match self.pressed(&line.text) {
            Some(b) => Incoming::button(&me, b.id),
            None => Incoming::text(&me, line.text),
        };
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Action>();
        let printer = async {
            let mut draft = String::new();
            while let Some(act) = rx.recv().await {
                if let Action::Delta { text, .. } = act {
                    print!("{text}");
                    let _ = std::io::stdout().flush();
                    draft.push_str(&text);
                }
            }
            draft
        };
        let t0 = std::time::Instant::now();
        let (result, draft) = tokio::join!(a.handle_streaming(&inc, Some(tx)), printer);
        *self.draft.lock().unwrap_or_else(|p| p.into_inner()) = draft.trim().to_string();
        let mut actions = match result {
            Ok(actions) => actions,
            Err(e) => {
                // Kept in the inbox and tried again; the user hears once.
                if self
                    .failed
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(row.key.clone())
                {
                    println!("{}\n", texts::terminal_trouble());
                    self.settled(&row.key);
                }
                return Err(e);
            }
        };
        pump::redact(self, &mut actions).await;
        self.pump
            .observer()
            .handled(Platform::Terminal, &actions, t0.elapsed());
        for act in &actions {
            if let Action::TicketOpened { ticket, reason } = act {
                tracing::info!(ticket, reason, "ticket opened");
            }
        }
        let Some(replies) = a.commit(row.id, &actions, None, self.pump.lease())? else {
            return Ok(());
        };
        pump::deliver_now(self, replies, actions).await;
        Ok(())
    }
}

/// Buttons of a needs-analysis question: a typed number is an answer.
fn needs_hash(buttons: &[Button]) -> bool {
    buttons.iter().any(|b| b.id.starts_with("an:"))
}

/// The button a typed line presses, if any: "3" (or "#3" where numbers
/// are answers).
fn pressed<'a>(line: &str, buttons: &'a [Button]) -> Option<&'a Button> {
    let t = line.trim();
    let n = match t.strip_prefix('#') {
        Some(rest) => rest.trim().parse::<usize>().ok()?,
        None if !needs_hash(buttons) => t.parse::<usize>().ok()?,
        None => return None,
    };
    n.checked_sub(1).and_then(|i| buttons.get(i))
}

/// A reply as printed: the text (only the part not already streamed), then
/// the buttons numbered.
fn render(text: &str, buttons: &[Button], draft: &str) -> String {
    let mut out = String::new();
    if !draft.is_empty() && text.starts_with(draft) {
        out.push_str(&text[draft.len()..]);
    } else {
        if !draft.is_empty() {
            out.push('\n');
        }
        out.push_str(text);
    }
    out.push('\n');
    if !buttons.is_empty() {
        let hash = if needs_hash(buttons) { "#" } else { "" };
        let labels: Vec<String> = buttons
            .iter()
            .enumerate()
            .map(|(i, b)| format!("[{hash}{}] {}", i + 1, b.label))
            .collect();
        out.push_str(&format!("  {}\n", labels.join("   ")));
    }
    out
}

#[async_trait::async_trait]
impl Frontend for Terminal {
    type Error = CoreError;

    fn pump(&self) -> &Pump {
        &self.pump
    }

    /// Advisers of terminal users work with `kraft tickets`; their notes
    /// are shown here, on stderr.
    fn advisers_for(&self) -> &[Platform] {
        &[Platform::Terminal]
    }

    async fn process(&self, row: &InboxRow) -> Result<(), CoreError> {
        self.handle_row(row).await?;
        self.failed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&row.key);
        self.settled(&row.key);
        Ok(())
    }

    async fn send_to_user(&self, d: &Delivery, _chat: &str) -> Result<(), SendFailure> {
        let draft = std::mem::take(&mut *self.draft.lock().unwrap_or_else(|p| p.into_inner()));
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", render(&d.text, &d.buttons, &draft))
            .and_then(|()| out.flush())
            .map_err(|_| SendFailure::Permanent("stdout_closed"))?;
        if !d.buttons.is_empty() {
            *self.buttons.lock().unwrap_or_else(|p| p.into_inner()) = d.buttons.clone();
        }
        Ok(())
    }

    async fn send_to_advisers(&self, d: &Delivery) -> Result<(), SendFailure> {
        let hint = d
            .ticket_id
            .map(|id| {
                format!(
                    "\nkraft tickets claim {id} · kraft tickets reply {id} \"…\" · kraft tickets resolve {id}"
                )
            })
            .unwrap_or_default();
        let mut err = std::io::stderr().lock();
        writeln!(err, "[till rådgivarna / to advisers]\n{}{hint}\n", d.text)
            .map_err(|_| SendFailure::Transient("stderr", None))
    }

    fn unreachable_note(&self, l: Lang) -> &'static str {
        texts::unreachable_on_terminal(l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_press_buttons_except_where_they_are_answers() {
        let fb = vec![
            Button::new("fb:up:1", "👍"),
            Button::new("human", "Rådgivare"),
        ];
        assert_eq!(pressed("2", &fb).map(|b| b.id.as_str()), Some("human"));
        assert_eq!(pressed("#1", &fb).map(|b| b.id.as_str()), Some("fb:up:1"));
        assert!(pressed("3", &fb).is_none());
        assert!(pressed("0", &fb).is_none());
        let an = vec![
            Button::new("an:opt:1-9", "1–9"),
            Button::new("an:skip", "Hoppa över"),
        ];
        assert!(pressed("2", &an).is_none(), "a number of employees");
        assert_eq!(pressed("#2", &an).map(|b| b.id.as_str()), Some("an:skip"));
    }

    #[test]
    fn a_streamed_answer_is_completed_not_repeated() {
        let b = vec![Button::new("fb:up:1", "👍")];
        assert_eq!(render("Hej där", &b, "Hej"), " där\n  [1] 👍\n");
        assert_eq!(render("Annat svar", &[], "Hej"), "\nAnnat svar\n");
        assert_eq!(render("Svar", &[], ""), "Svar\n");
    }
}
