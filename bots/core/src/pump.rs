//! The two loops every chat front-end runs around the core, and the
//! bookkeeping of one send: stored platform events are handed to per-chat
//! workers (one chat in order, chats side by side), and outbox entries are
//! leased, sent and confirmed, retried with back-off or kept as dead
//! letters. Platform I/O stays in the front-end, behind [`Frontend`]:
//! `process` (one stored event), `send_to_user` and `send_to_advisers`
//! (one delivery). The [`Pump`] owns what the loops share: the assistant,
//! the observer, the lease length and the bookkeeping of chats and sends.
//!
//! On a state several processes share (`Coordination::shared`, i.e.
//! PostgreSQL), any instance may have stored a chat's events (Telegram
//! webhooks behind a load balancer), so a worker first leases the chat in
//! the database (`chat:<platform>:<chat>`, renewed while it works, freed
//! when it is done, expired after a crash) and then re-reads what of the
//! chat is still unhandled: one chat is handled by one instance at a time,
//! in order, and an event another instance handled meanwhile is not
//! handled twice.
//!
//! A bug that panics on one event or one delivery stays with it: the
//! panic is caught, the event or delivery is dead-lettered (logged by its
//! key, counted as `panic`), and its chat goes on with the next one.

use std::collections::{HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::FutureExt;
use tokio::sync::{watch, Notify, OwnedSemaphorePermit};

use crate::store::{Delivery, InboxRow, State, Target};
use crate::{texts, Action, Assistant, Lang, Observer, Platform, Redaction};

/// Why a send failed, as far as retrying goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendFailure {
    /// Will never succeed (blocked, no access, chat gone): dead letter.
    Permanent(&'static str),
    /// Try again later; after the platform's `retry_after` if it gave one.
    Transient(&'static str, Option<Duration>),
}

/// Runs a store call (SQLite, synchronous, up to its 10 s busy timeout
/// when another process holds a lock) without starving the runtime: on a
/// multi-thread runtime the worker hands its other tasks to a fresh
/// thread first, so time-critical work (Discord's 3-second
/// acknowledgements) keeps running.
pub fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// 1 s, 2 s, 4 s … capped at 5 minutes.
pub fn backoff(attempts: i64) -> Duration {
    let exp = attempts.clamp(0, 9) as u32;
    Duration::from_secs((1u64 << exp).min(300))
}

/// A front-end's state for the loops: the assistant and observer they
/// work with, how long a leased delivery is the front-end's, which chats
/// are being worked on, which deliveries are being sent, and the wake-ups.
pub struct Pump {
    platform: Platform,
    assistant: Arc<Assistant>,
    observer: Arc<dyn Observer>,
    lease: Duration,
    max_concurrent_chats: usize,
    max_delivery_attempts: i64,
    busy: Mutex<HashSet<String>>,
    sending: Mutex<HashSet<i64>>,
    /// Events whose handling panicked but could not be dead-lettered yet
    /// (the database was busy): never handled again, only given up on.
    poisoned: Mutex<HashSet<i64>>,
    /// On a shared state: chats another instance holds, and when to look
    /// at them again (so the dispatcher does not spin on them).
    elsewhere: Mutex<HashMap<String, Instant>>,
    /// This process's name on chat leases.
    owner: String,
    /// New events are in the inbox.
    pub wake: Notify,
    /// New deliveries are in the outbox.
    pub outbox_wake: Notify,
}

impl std::fmt::Debug for Pump {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pump")
            .field("platform", &self.platform)
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

/// What a front-end's loops are set up with.
pub struct PumpSettings {
    pub max_concurrent_chats: usize,
    pub max_delivery_attempts: i64,
    /// How long a leased delivery is the front-end's to send (at least 5 s).
    pub lease_secs: u64,
}

impl Pump {
    pub fn new(
        platform: Platform,
        assistant: Arc<Assistant>,
        observer: Arc<dyn Observer>,
        s: PumpSettings,
    ) -> Self {
        let PumpSettings {
            max_concurrent_chats,
            max_delivery_attempts,
            lease_secs,
        } = s;
        Self {
            platform,
            assistant,
            observer,
            lease: Duration::from_secs(lease_secs.max(5)),
            max_concurrent_chats: max_concurrent_chats.max(1),
            max_delivery_attempts,
            busy: Mutex::new(HashSet::new()),
            sending: Mutex::new(HashSet::new()),
            poisoned: Mutex::new(HashSet::new()),
            elsewhere: Mutex::new(HashMap::new()),
            owner: format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()),
            wake: Notify::new(),
            outbox_wake: Notify::new(),
        }
    }

    pub fn platform(&self) -> Platform {
        self.platform
    }

    pub fn assistant(&self) -> &Arc<Assistant> {
        &self.assistant
    }

    pub fn observer(&self) -> &Arc<dyn Observer> {
        &self.observer
    }

    /// How long a leased delivery is this front-end's to send.
    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// How long a chat lease lasts without renewal: the delivery lease,
    /// at most 30 s, so a crashed instance's chats are free again soon
    /// (a live worker renews its lease every third of it).
    pub fn chat_lease(&self) -> Duration {
        self.lease.min(CHAT_LEASE_MAX)
    }

    /// The name this process takes chat leases under.
    pub fn owner(&self) -> &str {
        &self.owner
    }
}

/// The longest a chat lease lasts without renewal.
const CHAT_LEASE_MAX: Duration = Duration::from_secs(30);

/// How long a chat held by another instance is left alone before the
/// dispatcher tries it again.
const ELSEWHERE_BACKOFF: Duration = Duration::from_millis(300);

/// A chat leased in the shared state while a worker is on it: renewed in
/// the background, given up when the worker ends (however it ends).
struct ChatLease {
    store: Arc<dyn State>,
    name: String,
    owner: String,
    renew: tokio::task::JoinHandle<()>,
    /// The renewal failed (the lease expired and another instance took
    /// the chat): stop after the event in hand.
    lost: Arc<AtomicBool>,
}

impl ChatLease {
    /// Takes the chat's lease: `None` while another instance holds it (or
    /// the database cannot say).
    fn take(pump: &Pump, chat: &str) -> Option<ChatLease> {
        let a = pump.assistant.clone();
        let store = a.store().clone();
        let name = format!("chat:{}:{chat}", pump.platform.as_str());
        let owner = pump.owner.clone();
        let ttl = pump.chat_lease();
        match blocking(|| store.lease_take(&name, &owner, a.now(), ttl)) {
            Ok(true) => {}
            Ok(false) => return None,
            Err(e) => {
                tracing::error!(error = %e, "cannot lease a chat");
                pump.observer.error(pump.platform, "store");
                return None;
            }
        }
        let lost = Arc::new(AtomicBool::new(false));
        let renew = {
            let (store, name, owner, lost) =
                (store.clone(), name.clone(), owner.clone(), lost.clone());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(ttl / 3).await;
                    let now = a.now();
                    match blocking(|| store.lease_take(&name, &owner, now, ttl)) {
                        Ok(true) => {}
                        Ok(false) => {
                            tracing::warn!("a chat lease expired and another instance took the chat; stopping after the event in hand");
                            lost.store(true, Ordering::SeqCst);
                            return;
                        }
                        // Kept trying: the lease lasts three periods.
                        Err(e) => tracing::warn!(error = %e, "cannot renew a chat lease"),
                    }
                }
            })
        };
        Some(ChatLease {
            store,
            name,
            owner,
            renew,
            lost,
        })
    }
}

impl Drop for ChatLease {
    fn drop(&mut self) {
        self.renew.abort();
        if let Err(e) = blocking(|| self.store.lease_drop(&self.name, &self.owner)) {
            // It expires on its own.
            tracing::warn!(error = %e, "cannot give a chat lease back");
        }
    }
}

/// What a front-end does itself; the loops do the rest.
#[async_trait::async_trait]
pub trait Frontend: Send + Sync + 'static {
    type Error: std::fmt::Display + Send;

    fn pump(&self) -> &Pump;
    /// Users of these platforms have their tickets in this front-end's
    /// adviser room (empty when it has none).
    fn advisers_for(&self) -> &[Platform];
    /// Handles one stored event and commits it. `Err`: left in the inbox
    /// and tried again on a later round.
    async fn process(&self, row: &InboxRow) -> Result<(), Self::Error>;
    /// Sends one delivery to a user in `chat` (every part not yet sent).
    async fn send_to_user(&self, d: &Delivery, chat: &str) -> Result<(), SendFailure>;
    /// Sends one delivery to this front-end's adviser room (in the
    /// ticket's thread when it has one).
    async fn send_to_advisers(&self, d: &Delivery) -> Result<(), SendFailure>;
    /// The note for the advisers when a message can never reach the user.
    fn unreachable_note(&self, lang: Lang) -> &'static str;
    /// Deletes what Kraft posted about a ticket in this front-end's
    /// adviser room (`/forget`). `Err`: why it could not, in a few words
    /// for the user.
    async fn redact(&self, _r: &Redaction) -> Result<texts::Redacted, texts::CannotRedact> {
        Err(texts::CannotRedact::NoRight)
    }
    /// Puts one chat's stored events in the order to handle them.
    fn order(&self, _rows: &mut [InboxRow]) {}
}

/// A chat a worker is on: freed (busy flag cleared, permit returned, the
/// dispatcher woken) when the worker ends, however it ends, so no chat is
/// left marked busy by a worker that died.
struct ChatSlot<F: Frontend> {
    f: Arc<F>,
    chat: String,
    permit: Option<OwnedSemaphorePermit>,
}

impl<F: Frontend> Drop for ChatSlot<F> {
    fn drop(&mut self) {
        drop(self.permit.take());
        let pump = self.f.pump();
        pump.busy
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.chat);
        pump.wake.notify_one();
    }
}

/// Handles one stored event; a panic is caught and the event given up on.
/// `false`: stop this chat for now (a failure to retry later).
async fn process_one<F: Frontend>(f: &F, row: &InboxRow) -> bool {
    let pump = f.pump();
    let poisoned = pump
        .poisoned
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .contains(&row.id);
    if !poisoned {
        match AssertUnwindSafe(f.process(row)).catch_unwind().await {
            Ok(Ok(())) => return true,
            Ok(Err(e)) => {
                tracing::error!(error = %e, event = row.key.as_str(), "handling an event failed; will retry");
                f.pump().observer().error(pump.platform, "handle");
                tokio::time::sleep(Duration::from_secs(1)).await;
                return false;
            }
            Err(_) => {
                // The panic's own message may quote the event's text, so
                // only the key is logged here (the hook of `kraft serve`
                // logs where it panicked).
                tracing::error!(
                    platform = pump.platform.as_str(),
                    event = row.key.as_str(),
                    "handling an event panicked; it is dead-lettered and its chat goes on"
                );
                f.pump().observer().error(pump.platform, "panic");
                pump.poisoned
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(row.id);
            }
        }
    }
    let a = f.pump().assistant();
    match blocking(|| a.store().inbox_dead_letter(row.id, "panic", a.now())) {
        Ok(_) => {
            pump.poisoned
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&row.id);
            true
        }
        Err(e) => {
            tracing::error!(error = %e, event = row.key.as_str(), "cannot dead-letter an event; will try again");
            f.pump().observer().error(pump.platform, "store");
            tokio::time::sleep(Duration::from_secs(1)).await;
            false
        }
    }
}

/// Hands stored events to per-chat workers until `shutdown`; every
/// started chat finishes the event in hand before it returns.
pub async fn dispatch<F: Frontend>(f: Arc<F>, mut shutdown: watch::Receiver<bool>) {
    let pump = f.pump();
    let platform = pump.platform;
    let sem = Arc::new(tokio::sync::Semaphore::new(pump.max_concurrent_chats));
    let mut workers = tokio::task::JoinSet::new();
    loop {
        if *shutdown.borrow() {
            break;
        }
        while workers.try_join_next().is_some() {}
        // Chats busy when the inbox is read: their rows in that read may be
        // ones a worker is handling right now, and if the worker finishes
        // before the rows are sorted below, its chat is no longer busy and
        // they would be handled a second time. They wait for the next pass,
        // which the finishing worker's wake-up guarantees.
        let busy_at_read = pump.busy.lock().unwrap_or_else(|p| p.into_inner()).clone();
        match blocking(|| f.pump().assistant().store().inbox_pending(platform, 1000)) {
            Ok(rows) => {
                let mut by_chat: Vec<(String, Vec<InboxRow>)> = Vec::new();
                {
                    let busy = pump.busy.lock().unwrap_or_else(|p| p.into_inner());
                    let mut elsewhere = pump.elsewhere.lock().unwrap_or_else(|p| p.into_inner());
                    let now = Instant::now();
                    elsewhere.retain(|_, until| *until > now);
                    for r in rows {
                        if busy.contains(&r.chat)
                            || busy_at_read.contains(&r.chat)
                            || elsewhere.contains_key(&r.chat)
                        {
                            continue;
                        }
                        match by_chat.iter_mut().find(|(c, _)| *c == r.chat) {
                            Some((_, v)) => v.push(r),
                            None => by_chat.push((r.chat.clone(), vec![r])),
                        }
                    }
                }
                for (chat, mut rows) in by_chat {
                    let Ok(permit) = sem.clone().try_acquire_owned() else {
                        break;
                    };
                    f.order(&mut rows);
                    pump.busy
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(chat.clone());
                    let slot = ChatSlot {
                        f: f.clone(),
                        chat,
                        permit: Some(permit),
                    };
                    let stop = shutdown.clone();
                    let shared = pump.assistant.store().shared();
                    workers.spawn(async move {
                        let mut rows = rows;
                        let mut lease = None;
                        if shared {
                            let pump = slot.f.pump();
                            let Some(l) = ChatLease::take(pump, &slot.chat) else {
                                pump.elsewhere
                                    .lock()
                                    .unwrap_or_else(|p| p.into_inner())
                                    .insert(slot.chat.clone(), Instant::now() + ELSEWHERE_BACKOFF);
                                return;
                            };
                            lease = Some(l);
                            let store = pump.assistant.store();
                            match blocking(|| {
                                store.inbox_pending_chat(pump.platform, &slot.chat, 1000)
                            }) {
                                Ok(r) => {
                                    rows = r;
                                    slot.f.order(&mut rows);
                                }
                                Err(e) => {
                                    tracing::error!(error = %e, "cannot read the inbox");
                                    pump.observer.error(pump.platform, "store");
                                    return;
                                }
                            }
                        }
                        for row in rows {
                            if *stop.borrow() {
                                break;
                            }
                            if lease
                                .as_ref()
                                .is_some_and(|l: &ChatLease| l.lost.load(Ordering::SeqCst))
                            {
                                break;
                            }
                            if !process_one(&*slot.f, &row).await {
                                break;
                            }
                        }
                        // The lease goes before the slot: the dispatcher,
                        // woken by the slot, may lease the chat again.
                        drop(lease);
                        drop(slot);
                    });
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot read the inbox");
                f.pump().observer().error(platform, "store");
            }
        }
        tokio::select! {
            _ = pump.wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.wait_for(|s| *s) => break,
        }
    }
    while workers.join_next().await.is_some() {}
}

/// Leases and sends outbox entries until `shutdown`, then once more, so
/// replies queued by the last events still go out.
pub async fn outbox<F: Frontend>(f: Arc<F>, mut shutdown: watch::Receiver<bool>) {
    let platform = f.pump().platform;
    loop {
        let stopping = *shutdown.borrow();
        match blocking(|| {
            f.pump().assistant().lease_deliveries(
                &[platform],
                f.advisers_for(),
                200,
                f.pump().lease(),
            )
        }) {
            Ok(ds) if !ds.is_empty() => {
                // One chat's messages in order; chats side by side.
                let mut groups: Vec<(String, Vec<Delivery>)> = Vec::new();
                for d in ds {
                    let key = match &d.target {
                        Target::User(c) => c.chat_id.clone(),
                        Target::Advisers => "advisers".into(),
                    };
                    match groups.iter_mut().find(|(k, _)| *k == key) {
                        Some((_, v)) => v.push(d),
                        None => groups.push((key, vec![d])),
                    }
                }
                let f = &*f;
                futures::future::join_all(groups.into_iter().map(|(_, ds)| async move {
                    for d in ds {
                        deliver(f, d, "outbox").await;
                    }
                }))
                .await;
                continue;
            }
            Ok(_) => {}
            Err(e) => {
                tracing::error!(error = %e, "cannot read the outbox");
                f.pump().observer().error(platform, "store");
            }
        }
        if stopping {
            break;
        }
        tokio::select! {
            _ = f.pump().outbox_wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// Carries out a `/forget`'s `Action::Redact`s: deletes what Kraft posted
/// on the adviser side where this front-end hosts it, asks the advisers
/// to do it by hand where it cannot (or the room is another platform's),
/// and adds exactly what happened to the `/forget` reply among `actions`.
/// Call it before committing the event, so the reply is stored with it.
pub async fn redact<F: Frontend + ?Sized>(f: &F, actions: &mut [Action]) {
    let platform = f.pump().platform;
    let mut done: Vec<(i64, texts::Redacted)> = Vec::new();
    let mut lang = Lang::default();
    for a in actions.iter() {
        let Action::Redact {
            redaction: r,
            lang: l,
        } = a
        else {
            continue;
        };
        lang = *l;
        let outcome = if r.on != platform {
            Err(texts::CannotRedact::OtherPlatform)
        } else {
            f.redact(r).await
        };
        let outcome = outcome.unwrap_or_else(|why| {
            f.pump().observer().error(platform, "redact");
            tracing::warn!(
                ticket = r.ticket,
                why = why.as_str(),
                "cannot delete a ticket's adviser posts"
            );
            let l = f.pump().assistant().settings().escalation.adviser_language;
            f.pump()
                .assistant()
                .desk()
                .note(None, &texts::redaction_failed_note(l, r.ticket, why));
            f.pump().outbox_wake.notify_one();
            texts::Redacted::Failed(why)
        });
        done.push((r.ticket, outcome));
    }
    if done.is_empty() {
        return;
    }
    for a in actions.iter_mut() {
        if let Action::Reply { text, .. } = a {
            text.push_str("\n\n");
            text.push_str(&texts::redaction_report(lang, &done));
            break;
        }
    }
}

/// Sends the deliveries the core leased to this front-end while it
/// handled an event: its replies, then the adviser notes and relays among
/// `actions`. A note for advisers another front-end hosts is let go at
/// once, and that front-end sends it.
pub async fn deliver_now<F: Frontend + ?Sized>(
    f: &F,
    replies: Vec<Delivery>,
    actions: Vec<Action>,
) {
    let platform = f.pump().platform;
    for d in replies {
        deliver(f, d, "reply").await;
    }
    for a in actions {
        if let Some(d) = Delivery::leased(a) {
            if d.sent_by(platform, f.advisers_for()) {
                deliver(f, d, "adviser").await;
            } else if let Err(e) = f.pump().assistant().retry_later(d.id, Duration::ZERO) {
                tracing::error!(error = %e, "cannot hand a delivery to the other front-end");
            }
        }
    }
}

/// Sends one outbox entry and records the outcome. Never panics, never
/// drops: a failure is retried later or kept as a dead letter (and the
/// advisers are told when it was for a user with a ticket).
pub async fn deliver<F: Frontend + ?Sized>(f: &F, d: Delivery, what: &'static str) {
    let pump = f.pump();
    let platform = pump.platform;
    if !pump
        .sending
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(d.id)
    {
        return;
    }
    let _sending = Sending {
        set: &pump.sending,
        id: d.id,
    };
    let res = match &d.target {
        Target::User(c) if c.platform != platform => Err(SendFailure::Permanent("wrong_platform")),
        // A panic here would end the outbox loop (and with it every later
        // delivery of the process): it makes this one a dead letter.
        _ => match AssertUnwindSafe(async {
            match &d.target {
                Target::User(c) => f.send_to_user(&d, &c.chat_id).await,
                Target::Advisers => f.send_to_advisers(&d).await,
            }
        })
        .catch_unwind()
        .await
        {
            Ok(r) => r,
            Err(_) => Err(SendFailure::Permanent("panic")),
        },
    };
    let a = f.pump().assistant();
    let outcome = match res {
        Ok(()) => {
            f.pump().observer().sent(platform, what);
            a.delivered(d.id)
        }
        Err(SendFailure::Permanent(kind)) => {
            f.pump().observer().error(platform, kind);
            tracing::warn!(
                delivery = d.id,
                kind,
                "delivery cannot arrive; kept as a dead letter"
            );
            let r = a.dead_letter(d.id, kind);
            if let (Target::User(_), Some(t)) = (&d.target, d.ticket_id) {
                let l = a.settings().escalation.adviser_language;
                a.desk().note(
                    Some(t),
                    &format!("⚠️ #{t} {} ({kind}).", f.unreachable_note(l)),
                );
                pump.outbox_wake.notify_one();
            }
            r
        }
        Err(SendFailure::Transient(kind, after)) => {
            f.pump().observer().error(platform, kind);
            if d.attempts >= pump.max_delivery_attempts {
                tracing::error!(
                    delivery = d.id,
                    kind,
                    attempts = d.attempts,
                    "giving up on a delivery"
                );
                a.dead_letter(d.id, "gave_up")
            } else {
                let wait = after.unwrap_or_else(|| backoff(d.attempts));
                tracing::warn!(
                    delivery = d.id,
                    kind,
                    retry_in_s = wait.as_secs(),
                    "send failed; will retry"
                );
                a.retry_later(d.id, wait)
            }
        }
    };
    if let Err(e) = outcome {
        tracing::error!(error = %e, delivery = d.id, "cannot record a delivery outcome");
    }
}

/// A delivery being sent; off the list when the send ends, however it ends.
struct Sending<'a> {
    set: &'a Mutex<HashSet<i64>>,
    id: i64,
}

impl Drop for Sending<'_> {
    fn drop(&mut self) {
        self.set
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(0), Duration::from_secs(1));
        assert_eq!(backoff(3), Duration::from_secs(8));
        assert_eq!(backoff(100), Duration::from_secs(300));
        assert_eq!(backoff(-5), Duration::from_secs(1));
    }
}
