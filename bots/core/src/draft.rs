//! A streamed answer shown growing in place in a chat: the core's `Delta`s
//! are gathered into a draft that the front-end posts once and then edits,
//! no faster than the platform allows and never past its message limit.
//! The final reply (with sources and buttons) replaces the draft through
//! the outbox, so what the user ends up with is exactly what was stored.
//!
//! Platform I/O stays in the front-end, behind [`DraftSink`].

use std::time::Duration;

use tokio::sync::mpsc::unbounded_channel;
use tokio::time::Instant;

use crate::{Action, Assistant, CoreError, Incoming};

/// How often and how far a draft may grow on one platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DraftPace {
    /// At least this long between two shows (a post or an edit).
    pub every: Duration,
    /// The platform's message limit in characters: a longer draft is cut
    /// (the final reply is split into parts as usual).
    pub max_chars: usize,
    /// At most this many shows per answer, so a long answer never runs
    /// into a per-minute limit.
    pub max_shows: usize,
}

/// Where a front-end shows a draft: the first call posts it, later calls
/// edit that message. `false`: it could not (the draft is then left as it
/// is; the final reply still arrives through the outbox).
#[async_trait::async_trait]
pub trait DraftSink: Send {
    async fn show(&mut self, text: &str) -> bool;
}

/// The marker at the end of a draft: the answer is still being written.
const GROWING: &str = " …";

/// The text to show for `body` within `max_chars`, and whether it was cut.
fn shown(body: &str, max_chars: usize) -> (String, bool) {
    let room = max_chars.saturating_sub(GROWING.chars().count()).max(1);
    let n = body.chars().count();
    if n <= room {
        (format!("{}{GROWING}", body.trim_end()), false)
    } else {
        let cut: String = body.chars().take(room).collect();
        (format!("{}{GROWING}", cut.trim_end()), true)
    }
}

/// Handles `inc` (already admitted by the flood limit when `admitted`)
/// while its streamed pieces are shown through `sink` at `pace`. Returns
/// the actions as `Assistant::handle` would, and whether a draft was shown
/// (then the first reply to that chat should replace it).
pub async fn handle_drafted(
    assistant: &Assistant,
    inc: &Incoming,
    admitted: bool,
    pace: DraftPace,
    sink: &mut dyn DraftSink,
) -> Result<(Vec<Action>, bool), CoreError> {
    let (tx, mut rx) = unbounded_channel();
    let work = async {
        if admitted {
            assistant.handle_admitted(inc, Some(tx)).await
        } else {
            assistant.handle_streaming(inc, Some(tx)).await
        }
    };
    tokio::pin!(work);
    let mut body = String::new();
    let mut posted = false;
    let mut shows = 0usize;
    let mut last: Option<Instant> = None;
    let mut dirty = false;
    let mut done = false; // cut at the limit, or out of shows
    loop {
        let due = last.map_or_else(Instant::now, |t| t + pace.every);
        tokio::select! {
            r = &mut work => return r.map(|a| (a, posted)),
            Some(a) = rx.recv() => {
                if let Action::Delta { text, .. } = a {
                    body.push_str(&text);
                    dirty = !body.trim().is_empty();
                }
            }
            _ = tokio::time::sleep_until(due), if dirty && !done => {
                dirty = false;
                let (text, cut) = shown(&body, pace.max_chars);
                if sink.show(&text).await {
                    posted = true;
                    shows += 1;
                } else if !posted {
                    // The first post failed: no draft, the reply goes out
                    // as a new message.
                    done = true;
                }
                last = Some(Instant::now());
                done |= cut || shows >= pace.max_shows;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_draft_ends_with_the_growing_marker_and_fits_the_limit() {
        assert_eq!(shown("Hej ", 100), ("Hej …".to_string(), false));
        let long = "a".repeat(50);
        let (t, cut) = shown(&long, 20);
        assert!(cut);
        assert_eq!(t.chars().count(), 20);
        assert!(t.ends_with(GROWING));
        // Multi-byte text is cut at characters, never inside one.
        let (t, cut) = shown(&"åäö".repeat(10), 11);
        assert!(cut);
        assert_eq!(t, "åäöåäöåäö …");
    }
}
