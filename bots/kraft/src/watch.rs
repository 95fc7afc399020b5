//! `kraft ingest --watch`: keeps the index in step with the knowledge
//! folder while curators edit it. File events trigger a sync after a short
//! quiet period (editors write files in several steps); a periodic sync
//! catches events that were missed, e.g. on network file systems.
//! Into a shared Qdrant server each sync takes the ingest lock
//! (`crate::ingest_lock`): `kraft ingest --watch` waits for it, a running
//! assistant's follower skips the round while another process holds it.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use kraft_core::State;
use kraft_ingest::sync::NoProgress;
use kraft_ingest::{IngestOptions, Knowledge};
use notify::{RecursiveMode, Watcher};

/// Quiet time after the last file event before syncing.
const SETTLE: Duration = Duration::from_millis(400);

async fn sync_once(
    k: &Knowledge,
    root: &Path,
    json: bool,
    always: bool,
    lock: Option<&std::sync::Arc<dyn State>>,
) -> Result<()> {
    let _lock = match lock {
        Some(s) => crate::ingest_lock::take(s, true).await?,
        None => None,
    };
    match k.ingest(root, IngestOptions::default(), &NoProgress).await {
        Ok(r) => {
            if json {
                println!("{}", serde_json::to_string(&r)?);
            } else if always || r.changed() || !r.skipped.is_empty() {
                crate::knowledge::print_report(&r, root);
            }
        }
        // A failed sync (e.g. the embeddings server is down) is reported
        // and retried at the next event or tick; nothing is lost because
        // the files remain the source of truth.
        Err(e) => eprintln!("kraft: sync failed, will retry: {e}"),
    }
    Ok(())
}

/// File-change notifications for `root` (access events ignored). Keep the
/// watcher alive as long as the receiver is used.
pub fn changes(
    root: &Path,
) -> Result<(
    notify::RecommendedWatcher,
    tokio::sync::mpsc::UnboundedReceiver<()>,
)> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let mut watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
        if let Ok(ev) = ev {
            if !ev.kind.is_access() {
                let _ = tx.send(());
            }
        }
    })
    .context("cannot start the file watcher")?;
    watcher
        .watch(root, RecursiveMode::Recursive)
        .with_context(|| format!("cannot watch {}", root.display()))?;
    Ok((watcher, rx))
}

/// Lets a burst of events settle into one sync.
pub async fn settle(rx: &mut tokio::sync::mpsc::UnboundedReceiver<()>) {
    while let Ok(Some(())) = tokio::time::timeout(SETTLE, rx.recv()).await {}
}

/// Keeps a running assistant's index in step with the knowledge folder:
/// an incremental ingest after each burst of file events and every
/// `interval`. Searches see the new chunks at once, so no restart is
/// needed: the BM25 mean lengths are kept between incremental ingests,
/// and when a sync moves them far enough to write every chunk again, the
/// assistant takes the new analyzer at its next turn.
pub async fn follow(
    k: std::sync::Arc<Knowledge>,
    root: std::path::PathBuf,
    interval: Duration,
    lock: Option<std::sync::Arc<dyn State>>,
) {
    let (_watcher, mut rx) = match changes(&root) {
        Ok(w) => (Some(w.0), w.1),
        Err(e) => {
            eprintln!(
                "kraft: {e:#}; syncing every {} s instead",
                interval.as_secs()
            );
            let (_tx, rx) = tokio::sync::mpsc::unbounded_channel();
            (None, rx)
        }
    };
    let mut tick = tokio::time::interval(interval);
    tick.tick().await;
    loop {
        tokio::select! {
            ev = rx.recv() => {
                if ev.is_none() {
                    // No watcher: only the periodic sync remains.
                    tick.tick().await;
                } else {
                    settle(&mut rx).await;
                }
            }
            _ = tick.tick() => {}
        }
        let _lock = match &lock {
            Some(s) => match crate::ingest_lock::take(s, false).await {
                Ok(Some(l)) => Some(l),
                // Another process is syncing the shared index right now.
                Ok(None) => {
                    tracing::info!("another process holds the ingest lock; this sync is skipped");
                    continue;
                }
                Err(e) => {
                    eprintln!(
                        "kraft: knowledge sync skipped, the ingest lock is unavailable: {e:#}"
                    );
                    continue;
                }
            },
            None => None,
        };
        match k.ingest(&root, IngestOptions::default(), &NoProgress).await {
            Ok(r) if r.changed() => eprintln!(
                "kraft: knowledge updated ({} added, {} updated, {} deleted)",
                r.added.len(),
                r.updated.len(),
                r.deleted.len()
            ),
            Ok(_) => {}
            Err(e) => eprintln!("kraft: knowledge sync failed, will retry: {e}"),
        }
    }
}

pub async fn run(
    k: &Knowledge,
    root: &Path,
    json: bool,
    interval: Duration,
    lock: Option<std::sync::Arc<dyn State>>,
) -> Result<()> {
    let lock = lock.as_ref();
    let (_watcher, mut rx) = changes(root)?;
    eprintln!("kraft: watching {} (Ctrl-C to stop)", root.display());
    sync_once(k, root, json, true, lock).await?;
    let mut tick = tokio::time::interval(interval);
    tick.tick().await;
    loop {
        tokio::select! {
            ev = rx.recv() => {
                if ev.is_none() {
                    break;
                }
                settle(&mut rx).await;
                sync_once(k, root, json, false, lock).await?;
            }
            _ = tick.tick() => sync_once(k, root, json, false, lock).await?,
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    Ok(())
}
