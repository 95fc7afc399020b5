//! `kraft chat`: the terminal front-end. Lines from stdin become
//! `Incoming` messages for one local user; actions are printed to stdout.
//! Adviser messages queued by `kraft tickets` in another terminal arrive
//! through the outbox and are printed as they come. Notifications meant for
//! advisers go to stderr, so stdout is exactly what the user would see.
//!
//! Buttons are shown numbered; typing the number presses the button. During
//! a needs analysis a plain number is an answer ("12" employees), so there
//! the buttons are shown and pressed as "#1", "#2", ….

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use kraft_core::model::{Action, Button, Incoming, Platform, UserRef};
use kraft_core::Assistant;
use tokio::io::{AsyncBufReadExt, BufReader};

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

/// Prints an action; returns the buttons now on screen.
fn show(action: &Action, draft: &str, out: &mut impl Write) -> Option<Vec<Button>> {
    match action {
        Action::Reply {
            text,
            buttons,
            replaces_draft,
            ..
        } => {
            if !draft.is_empty() && !replaces_draft && text.starts_with(draft) {
                let _ = writeln!(out, "{}", &text[draft.len()..]);
            } else {
                if !draft.is_empty() {
                    let _ = writeln!(out);
                }
                let _ = writeln!(out, "{text}");
            }
            if !buttons.is_empty() {
                let hash = if needs_hash(buttons) { "#" } else { "" };
                let labels: Vec<String> = buttons
                    .iter()
                    .enumerate()
                    .map(|(i, b)| format!("[{hash}{}] {}", i + 1, b.label))
                    .collect();
                let _ = writeln!(out, "  {}", labels.join("   "));
            }
            let _ = writeln!(out);
            Some(buttons.clone())
        }
        Action::Ack { text, .. } => {
            let _ = writeln!(out, "{text}\n");
            None
        }
        Action::RelayToUser { text, .. } => {
            let _ = writeln!(out, "{text}\n");
            None
        }
        Action::NotifyAdvisers { text, ticket, .. } => {
            // Advisers of the terminal work with `kraft tickets`; the chat
            // rooms have buttons instead, so only here is it spelt out.
            let hint = ticket
                .map(|id| {
                    format!(
                        "\nkraft tickets claim {id} · kraft tickets reply {id} \"…\" · kraft tickets resolve {id}"
                    )
                })
                .unwrap_or_default();
            eprintln!("[till rådgivarna / to advisers]\n{text}{hint}\n");
            None
        }
        Action::TicketOpened { ticket, reason } => {
            tracing::info!(ticket, reason, "ticket opened");
            None
        }
        // The terminal hosts no adviser room: nothing was posted there.
        Action::Typing { .. }
        | Action::Delta { .. }
        | Action::Answered { .. }
        | Action::Redact { .. } => None,
    }
}

fn confirm(assistant: &Assistant, action: &Action) {
    if let Action::RelayToUser { delivery, .. } | Action::NotifyAdvisers { delivery, .. } = action {
        if let Err(e) = assistant.delivered(*delivery) {
            tracing::error!(error = %e, delivery, "could not confirm a delivery; it may be shown again");
        }
    }
}

fn deliver_pending(assistant: &Assistant) {
    match assistant.pending_for(&[Platform::Terminal], 50) {
        Ok(actions) => {
            let mut out = std::io::stdout().lock();
            for a in &actions {
                show(a, "", &mut out);
                let _ = out.flush();
                confirm(assistant, a);
            }
        }
        Err(e) => tracing::error!(error = %e, "reading the outbox failed"),
    }
}

/// `sync`: the knowledge folder to follow while chatting (curators see
/// their edits in the next answer), and the periodic sync interval.
pub async fn run(
    assistant: Arc<Assistant>,
    user: &str,
    sync: Option<(std::path::PathBuf, Duration)>,
) -> Result<()> {
    let me = UserRef::new(Platform::Terminal, user, user);
    let follower = sync.map(|(root, every)| {
        tokio::spawn(crate::watch::follow(
            assistant.knowledge().clone(),
            root,
            every,
        ))
    });
    let tty = std::io::stdin().is_terminal();
    if let Err(e) = assistant.tick() {
        tracing::error!(error = %e, "periodic work failed");
    }
    println!(
        "Kraft – Kraftsamling AI Mälardalen. Skriv en fråga, /start eller /help. Ctrl-D avslutar.\n\
         Type a question, /start or /help. Ctrl-D quits.\n"
    );
    deliver_pending(&assistant);
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut buttons: Vec<Button> = Vec::new();
    let mut outbox = tokio::time::interval(Duration::from_millis(500));
    let mut periodic = tokio::time::interval(Duration::from_secs(30));
    let prompt = || {
        if tty {
            print!("du/you> ");
            let _ = std::io::stdout().flush();
        }
    };
    prompt();
    loop {
        let line = tokio::select! {
            l = lines.next_line() => l,
            _ = outbox.tick() => { deliver_pending(&assistant); continue; }
            _ = periodic.tick() => {
                if let Err(e) = assistant.tick() {
                    tracing::error!(error = %e, "periodic work failed");
                }
                continue;
            }
        };
        let line = match line {
            Ok(Some(l)) => l,
            Ok(None) => break,
            Err(e) => {
                // Not UTF-8 (binary piped in): say so and go on.
                tracing::warn!(error = %e, "unreadable input line");
                println!("(Kunde inte läsa raden – skicka text. / Could not read that line – please send text.)\n");
                continue;
            }
        };
        let inc = match pressed(&line, &buttons) {
            Some(b) => Incoming::button(&me, b.id.clone()),
            None => Incoming::text(&me, line.clone()),
        };
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Action>();
        let printer = tokio::spawn(async move {
            let mut draft = String::new();
            while let Some(a) = rx.recv().await {
                if let Action::Delta { text, .. } = a {
                    print!("{text}");
                    let _ = std::io::stdout().flush();
                    draft.push_str(&text);
                }
            }
            draft
        });
        let result = assistant.handle_streaming(&inc, Some(tx)).await;
        let draft = printer.await.unwrap_or_default();
        match result {
            Ok(actions) => {
                let mut out = std::io::stdout().lock();
                for a in &actions {
                    if let Some(b) = show(a, draft.trim(), &mut out) {
                        buttons = b;
                    }
                    let _ = out.flush();
                    confirm(&assistant, a);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "handling a message failed");
                println!(
                    "Något gick fel – försök igen. / Something went wrong – please try again.\n"
                );
            }
        }
        prompt();
    }
    // Last chance for anything queued meanwhile (e.g. the final adviser reply).
    deliver_pending(&assistant);
    if let Some(f) = follower {
        f.abort();
    }
    Ok(())
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
}
