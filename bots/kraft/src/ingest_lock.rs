//! The ingest lock. With a Qdrant server or cluster the index is shared by
//! every Kraft process that points at it, and two ingests writing one
//! collection at once would interleave deletes and upserts of the same
//! documents. So an ingest into a server first takes the lease `ingest`
//! in the state database (`Coordination::lease_take`: a row with the
//! holder and an expiry, on SQLite or PostgreSQL alike), renews it while
//! it works and gives it back when done; a crashed holder's lease expires
//! after `TTL`. The in-process Edge index belongs to one process, so it
//! needs no lock.
//!
//! Who waits: `kraft ingest` and the ingest at start-up wait for the
//! holder to finish (saying so once) and then ingest, which finds little
//! or nothing left to do; the folder follower of a running `kraft serve`
//! skips its round instead, because the holder is syncing the same files.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Result};
use kraft_core::State;
use kraft_ingest::{BackendKind, Knowledge};

/// The lease's name in the state database.
pub(crate) const NAME: &str = "ingest";

/// How long the lease lasts without renewal (renewed every third of it).
pub(crate) const TTL: Duration = Duration::from_secs(60);

/// How long `kraft ingest` waits for another holder before giving up.
const WAIT_MAX: Duration = Duration::from_secs(30 * 60);

/// The lease while it is held; given back on drop.
pub(crate) struct IngestLock {
    store: Arc<dyn State>,
    owner: String,
    renew: tokio::task::JoinHandle<()>,
}

impl Drop for IngestLock {
    fn drop(&mut self) {
        self.renew.abort();
        if let Err(e) = self.store.lease_drop(NAME, &self.owner) {
            // It expires on its own after TTL.
            tracing::warn!(error = %e, "cannot give the ingest lock back");
        }
    }
}

/// Whether ingests into `k` need the lock (a shared Qdrant server).
pub(crate) fn needed(k: &Knowledge) -> bool {
    k.settings().backend == BackendKind::Server
}

/// This process, as the holder is shown to another one: host and pid
/// (plus a random tail, so two processes never share a name).
fn owner() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "?".into());
    let tail = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("{host}:{}:{tail:08x}", std::process::id())
}

/// Takes the lock. `wait`: until it is free (at most `WAIT_MAX`, saying
/// once who holds it); otherwise `None` at once while another holds it.
pub(crate) async fn take(store: &Arc<dyn State>, wait: bool) -> Result<Option<IngestLock>> {
    let me = owner();
    let started = std::time::Instant::now();
    let mut said = false;
    loop {
        let now = chrono::Utc::now();
        if store.lease_take(NAME, &me, now, TTL)? {
            break;
        }
        if !wait {
            return Ok(None);
        }
        let holder = store.lease_holder(NAME, now)?;
        if !said {
            let who = holder
                .as_ref()
                .map(|(o, until)| format!("{o}, lease until {}", until.format("%H:%M:%S UTC")))
                .unwrap_or_else(|| "just finishing".into());
            eprintln!(
                "kraft: another process ({who}) is ingesting into the shared Qdrant index; waiting for it to finish"
            );
            tracing::info!("waiting for the ingest lock");
            said = true;
        }
        if started.elapsed() > WAIT_MAX {
            bail!(
                "another process has held the ingest lock for over {} minutes; not ingesting at the same time (see README: Several instances)",
                WAIT_MAX.as_secs() / 60
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let renew = {
        let (store, me) = (store.clone(), me.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(TTL / 3).await;
                match store.lease_take(NAME, &me, chrono::Utc::now(), TTL) {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::error!("the ingest lock expired and another process took it");
                        return;
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot renew the ingest lock"),
                }
            }
        })
    };
    Ok(Some(IngestLock {
        store: store.clone(),
        owner: me,
        renew,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_ingest_waits_or_skips_while_the_first_holds_the_lock() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("s.sqlite");
        let a: Arc<dyn State> = Arc::new(kraft_core::Store::open(&path).expect("a"));
        // A second process on the same file.
        let b: Arc<dyn State> = Arc::new(kraft_core::Store::open(&path).expect("b"));
        let held = take(&a, false).await.expect("take").expect("free at first");
        assert!(
            take(&b, false).await.expect("try").is_none(),
            "a second ingest must not run beside the first"
        );
        let holder = b
            .lease_holder(NAME, chrono::Utc::now())
            .expect("holder")
            .expect("held");
        assert!(holder.0.contains(&std::process::id().to_string()));
        // The waiting one goes ahead as soon as the first is done.
        let waiter = tokio::spawn({
            let b = b.clone();
            async move { take(&b, true).await.map(|l| l.is_some()) }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!waiter.is_finished(), "it waits while the lock is held");
        drop(held);
        assert!(waiter.await.expect("join").expect("take"), "then it runs");
    }
}
