//! `kraft chat`: runs the terminal platform ([`kraft_terminal::Terminal`])
//! for one local user through the same [`ChatPlatform`] interface `kraft
//! serve` runs Telegram and Discord with, plus what a local session adds:
//! the knowledge folder followed while chatting (curators see their edits
//! in the next answer) and the core's periodic work.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use kraft_core::{Assistant, Quiet};
use kraft_terminal::Terminal;
use tokio::sync::watch;

use crate::platforms::ChatPlatform;

/// `sync`: the knowledge folder to follow while chatting, and the periodic
/// sync interval.
pub async fn run(
    assistant: Arc<Assistant>,
    user: &str,
    sync: Option<(std::path::PathBuf, Duration)>,
) -> Result<()> {
    let follower = sync.map(|(root, every)| {
        tokio::spawn(crate::watch::follow(
            assistant.knowledge().clone(),
            root,
            every,
            crate::ingest_lock::needed(assistant.knowledge()).then(|| assistant.store().clone()),
        ))
    });
    let periodic = {
        let a = assistant.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(30));
            loop {
                every.tick().await;
                if let Err(e) = a.tick() {
                    tracing::error!(error = %e, "periodic work failed");
                }
            }
        })
    };
    let terminal = Terminal::new(
        user,
        std::io::stdin().is_terminal(),
        assistant,
        Arc::new(Quiet),
    );
    // Ends at end of input; Ctrl-C ends the process as before.
    let (_stop_tx, stop) = watch::channel(false);
    let r = ChatPlatform::run(terminal, stop).await;
    periodic.abort();
    if let Some(f) = follower {
        f.abort();
    }
    r
}
