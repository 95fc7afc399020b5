//! The front-end loops of `kraft_core::pump` with a bug in the front-end:
//! handling one stored event, or sending one delivery, panics. The panic
//! stays with that event or delivery (dead-lettered, counted as `panic`),
//! the chat goes on with its next event, later events of the same chat are
//! still handled, the outbox keeps sending, and a restart handles nothing
//! twice.
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kraft_core::pump::{self, Frontend, Pump, PumpSettings, SendFailure};
use kraft_core::store::{Delivery, InboxEvent, InboxRow, NewDelivery, Target};
use kraft_core::{Action, Assistant, ChatRef, CoreError, Lang, Observer, Platform};
use kraft_tests::bot::{default_core_settings, start_time, TestBot};
use tokio::sync::watch;

/// Counts error kinds, as the Prometheus observer does.
#[derive(Debug, Default)]
struct Errors(Mutex<Vec<&'static str>>);

impl Observer for Errors {
    fn handled(&self, _: Platform, _: &[Action], _: Duration) {}
    fn sent(&self, _: Platform, _: &'static str) {}
    fn error(&self, _: Platform, kind: &'static str) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(kind);
    }
}

/// A front-end whose `process` panics on an event saying "boom" and whose
/// `send` panics on a delivery saying "boom"; everything else is recorded
/// and committed like a real front-end does.
struct Buggy {
    pump: Pump,
    assistant: Arc<Assistant>,
    errors: Arc<Errors>,
    handled: Mutex<Vec<String>>,
    sent: Mutex<Vec<String>>,
}

impl Buggy {
    fn new(assistant: Arc<Assistant>) -> Arc<Self> {
        let errors = Arc::new(Errors::default());
        Arc::new(Self {
            pump: Pump::new(
                Platform::Telegram,
                assistant.clone(),
                errors.clone(),
                PumpSettings {
                    max_concurrent_chats: 4,
                    max_delivery_attempts: 3,
                    lease_secs: 60,
                },
            ),
            assistant,
            errors,
            handled: Mutex::new(Vec::new()),
            sent: Mutex::new(Vec::new()),
        })
    }

    fn handled(&self) -> Vec<String> {
        self.handled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn sent(&self) -> Vec<String> {
        self.sent.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn errors(&self) -> Vec<&'static str> {
        self.errors
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

#[async_trait::async_trait]
impl Frontend for Buggy {
    type Error = CoreError;

    fn pump(&self) -> &Pump {
        &self.pump
    }

    fn advisers_for(&self) -> &[Platform] {
        &[]
    }

    async fn process(&self, row: &InboxRow) -> Result<(), CoreError> {
        tokio::task::yield_now().await;
        if row.payload.contains("boom") {
            // What a slicing bug does: index past the end of the text.
            let n = row.payload.len() + 1;
            let _ = &row.payload[..n];
        }
        self.handled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(row.key.clone());
        self.assistant
            .commit(row.id, &[], None, self.pump.lease())?;
        Ok(())
    }

    async fn send_to_user(&self, d: &Delivery, _chat: &str) -> Result<(), SendFailure> {
        self.send(d).await
    }

    async fn send_to_advisers(&self, d: &Delivery) -> Result<(), SendFailure> {
        self.send(d).await
    }

    fn unreachable_note(&self, _: Lang) -> &'static str {
        "unreachable"
    }
}

impl Buggy {
    async fn send(&self, d: &Delivery) -> Result<(), SendFailure> {
        tokio::task::yield_now().await;
        if d.text.contains("boom") {
            let v: Vec<u8> = Vec::new();
            let _ = v[d.text.len()];
        }
        self.sent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(d.text.clone());
        Ok(())
    }
}

async fn assistant(dir: &std::path::Path) -> Arc<Assistant> {
    let kb = dir.join("kb");
    kraft_tests::fixture_kb(&kb);
    let clock = Arc::new(kraft_core::model::ManualClock::new(start_time()));
    Arc::new(TestBot::open(dir, &kb, default_core_settings(), clock, false).await)
}

fn add(a: &Assistant, events: &[(&str, &str, &str)]) {
    let evs: Vec<InboxEvent<'_>> = events
        .iter()
        .map(|(key, chat, payload)| InboxEvent { key, chat, payload })
        .collect();
    a.store()
        .inbox_add(Platform::Telegram, &evs, None, a.now())
        .expect("stored");
}

async fn until(what: &str, f: impl Fn() -> bool) {
    let end = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_panicking_event_is_dead_lettered_and_its_chat_goes_on() {
    let tmp = tempfile::tempdir().expect("tmp");
    let a = assistant(tmp.path()).await;
    let f = Buggy::new(a.clone());
    let (stop_tx, stop) = watch::channel(false);
    let loop_ = tokio::spawn(pump::dispatch(f.clone(), stop.clone()));

    // The group's first event panics; the next one in the same group, and
    // another chat's, are handled.
    add(
        &a,
        &[
            ("1", "-5", "boom"),
            ("2", "-5", "next"),
            ("3", "7", "other"),
        ],
    );
    f.pump().wake.notify_one();
    until("the events after the panic", || f.handled().len() == 2).await;
    let mut done = f.handled();
    done.sort();
    assert_eq!(done, ["2", "3"]);
    assert_eq!(
        a.store().inbox_dead_letters(10).expect("dead letters"),
        vec![("telegram".to_string(), "1".to_string(), "panic".to_string())]
    );
    assert_eq!(f.errors(), ["panic"], "counted once, as a panic");

    // The group is not left marked busy: a later event in it is handled.
    add(&a, &[("4", "-5", "later")]);
    f.pump().wake.notify_one();
    until("a later event in the same group", || f.handled().len() == 3).await;
    assert_eq!(a.store().inbox_unhandled().expect("n"), 0);
    assert_eq!(a.store().inbox_oldest_unhandled().expect("oldest"), None);

    stop_tx.send(true).expect("stop");
    loop_.await.expect("the dispatcher ends cleanly");

    // A restart finds nothing to handle again, the panicking event included.
    let again = Buggy::new(a.clone());
    let (stop_tx, stop) = watch::channel(false);
    let loop_ = tokio::spawn(pump::dispatch(again.clone(), stop));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(again.handled().is_empty(), "{:?}", again.handled());
    assert!(again.errors().is_empty(), "{:?}", again.errors());
    stop_tx.send(true).expect("stop");
    loop_.await.expect("the dispatcher ends cleanly");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_panicking_send_is_dead_lettered_and_the_outbox_keeps_sending() {
    let tmp = tempfile::tempdir().expect("tmp");
    let a = assistant(tmp.path()).await;
    let f = Buggy::new(a.clone());
    let chat = ChatRef {
        platform: Platform::Telegram,
        chat_id: "7".into(),
    };
    let queue = |text: &str| {
        let d = NewDelivery {
            user_id: None,
            ticket_id: None,
            target: Target::User(chat.clone()),
            text,
            buttons: &[],
            dedupe_key: None,
            meta: None,
        };
        a.store()
            .enqueue(&d, a.now(), None)
            .expect("queued")
            .expect("new")
    };
    let boom = queue("boom");
    queue("fine");
    let (stop_tx, stop) = watch::channel(false);
    let loop_ = tokio::spawn(pump::outbox(f.clone(), stop));
    until("the delivery after the panic", || f.sent() == ["fine"]).await;
    // Still running: a delivery queued after the panic goes out too.
    queue("later");
    f.pump().outbox_wake.notify_one();
    until("a later delivery", || f.sent().len() == 2).await;
    let dead = a.store().dead_letters(10).expect("dead letters");
    assert_eq!(dead, vec![(boom.id, None, "panic".to_string())]);
    assert!(f.errors().contains(&"panic"), "{:?}", f.errors());
    assert_eq!(a.store().undelivered().expect("n"), 0);
    stop_tx.send(true).expect("stop");
    loop_.await.expect("the outbox loop ends cleanly");
}
