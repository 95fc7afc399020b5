//! Prometheus metrics for `kraft serve`: the `Observer` the front-ends
//! report to, rendered in the text exposition format on `/metrics`.
//! Labels are platforms, answer kinds, escalation reasons and error kinds:
//! never user ids or message text.
use std::sync::Mutex;
use std::time::Duration;

use kraft_core::{Action, Observer, Platform};
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct On {
    platform: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Build {
    version: String,
    /// The retrieval mode and index backend this process runs with.
    retrieval: String,
    backend: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Kind {
    platform: String,
    kind: String,
}

pub struct Metrics {
    registry: Mutex<Registry>,
    messages: Family<On, Counter>,
    answers: Family<Kind, Counter>,
    escalations: Family<Kind, Counter>,
    sent: Family<Kind, Counter>,
    errors: Family<Kind, Counter>,
    latency: Family<On, Histogram>,
    llm_fallbacks: Family<On, Counter>,
    degraded: Family<On, Counter>,
    build: Family<Build, Gauge>,
    pub outbox_pending: Gauge,
    pub inbox_pending: Gauge,
    pub open_tickets: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut r = Registry::with_prefix("kraft");
        let messages = Family::<On, Counter>::default();
        let answers = Family::<Kind, Counter>::default();
        let escalations = Family::<Kind, Counter>::default();
        let sent = Family::<Kind, Counter>::default();
        let errors = Family::<Kind, Counter>::default();
        // 1 ms … ~33 s: extractive answers take milliseconds, LLM ones seconds.
        let latency = Family::<On, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.0, 16))
        });
        let llm_fallbacks = Family::<On, Counter>::default();
        let degraded = Family::<On, Counter>::default();
        let build = Family::<Build, Gauge>::default();
        let outbox_pending = Gauge::default();
        let inbox_pending = Gauge::default();
        let open_tickets = Gauge::default();
        r.register(
            "messages",
            "User events handled (messages and button presses)",
            messages.clone(),
        );
        r.register(
            "answers",
            "Questions by outcome: answered, abstained, off_topic",
            answers.clone(),
        );
        r.register(
            "escalations",
            "Tickets opened, by reason",
            escalations.clone(),
        );
        r.register("sent", "Messages sent, by kind", sent.clone());
        r.register("errors", "Failures by kind", errors.clone());
        r.register(
            "handle_seconds",
            "Time the core took per user event",
            latency.clone(),
        );
        r.register(
            "llm_fallbacks",
            "Answers given extractively because the configured LLM failed",
            llm_fallbacks.clone(),
        );
        r.register(
            "degraded_answers",
            "Answers found with a retriever down (e.g. dense, when the embeddings endpoint fails)",
            degraded.clone(),
        );
        r.register(
            "build_info",
            "1, labelled with this build's version, retrieval mode and index backend",
            build.clone(),
        );
        r.register(
            "outbox_pending",
            "Deliveries not yet confirmed",
            outbox_pending.clone(),
        );
        r.register(
            "inbox_pending",
            "Platform events not yet handled",
            inbox_pending.clone(),
        );
        r.register(
            "open_tickets",
            "Tickets waiting or active",
            open_tickets.clone(),
        );
        Self {
            registry: Mutex::new(r),
            messages,
            answers,
            escalations,
            sent,
            errors,
            latency,
            llm_fallbacks,
            degraded,
            build,
            outbox_pending,
            inbox_pending,
            open_tickets,
        }
    }

    /// Sets `kraft_build_info` (once, at start).
    pub fn set_build(&self, retrieval: &str, backend: &str) {
        self.build
            .get_or_create(&Build {
                version: env!("CARGO_PKG_VERSION").into(),
                retrieval: retrieval.into(),
                backend: backend.into(),
            })
            .set(1);
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let r = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        if encode(&mut out, &r).is_err() {
            out.clear();
        }
        out
    }
}

fn kind(p: Platform, k: &str) -> Kind {
    Kind {
        platform: p.as_str().into(),
        kind: k.into(),
    }
}

impl Observer for Metrics {
    fn handled(&self, platform: Platform, actions: &[Action], took: Duration) {
        let on = On {
            platform: platform.as_str().into(),
        };
        self.messages.get_or_create(&on).inc();
        self.latency.get_or_create(&on).observe(took.as_secs_f64());
        for a in actions {
            match a {
                Action::Answered {
                    kind: k,
                    llm_fallback,
                    degraded,
                    ..
                } => {
                    self.answers.get_or_create(&kind(platform, k)).inc();
                    if *llm_fallback {
                        self.llm_fallbacks.get_or_create(&on).inc();
                    }
                    if *degraded {
                        self.degraded.get_or_create(&on).inc();
                    }
                }
                Action::TicketOpened { reason, .. } => {
                    // "topic:x" → "topic": bounded label values.
                    let r = reason.split(':').next().unwrap_or("other");
                    self.escalations.get_or_create(&kind(platform, r)).inc();
                }
                _ => {}
            }
        }
    }

    fn sent(&self, platform: Platform, what: &'static str) {
        self.sent.get_or_create(&kind(platform, what)).inc();
    }

    fn error(&self, platform: Platform, k: &'static str) {
        self.errors.get_or_create(&kind(platform, k)).inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kraft_core::ChatRef;

    #[test]
    fn outcomes_become_labelled_series_without_content() {
        let m = Metrics::new();
        let chat = ChatRef {
            platform: Platform::Telegram,
            chat_id: "12345".into(),
        };
        m.handled(
            Platform::Telegram,
            &[
                Action::Answered {
                    kind: "abstained".into(),
                    confidence: 0.3,
                    llm_fallback: true,
                    degraded: false,
                },
                Action::Answered {
                    kind: "answered".into(),
                    confidence: 0.8,
                    llm_fallback: false,
                    degraded: true,
                },
                Action::TicketOpened {
                    ticket: 1,
                    reason: "topic:funding".into(),
                },
                Action::Reply {
                    chat,
                    text: "secret question text".into(),
                    buttons: vec![],
                    replaces_draft: false,
                },
            ],
            Duration::from_millis(3),
        );
        m.error(Platform::Telegram, "network");
        m.set_build("bm25", "edge");
        let out = m.render();
        assert!(
            out.contains(r#"kraft_llm_fallbacks_total{platform="telegram"} 1"#),
            "{out}"
        );
        assert!(
            out.contains(r#"kraft_degraded_answers_total{platform="telegram"} 1"#),
            "{out}"
        );
        assert!(
            out.contains(&format!(
                r#"kraft_build_info{{version="{}",retrieval="bm25",backend="edge"}} 1"#,
                env!("CARGO_PKG_VERSION")
            )),
            "{out}"
        );
        assert!(
            out.contains(r#"kraft_messages_total{platform="telegram"} 1"#),
            "{out}"
        );
        assert!(
            out.contains(r#"kraft_answers_total{platform="telegram",kind="abstained"} 1"#),
            "{out}"
        );
        assert!(
            out.contains(r#"kraft_escalations_total{platform="telegram",kind="topic"} 1"#),
            "{out}"
        );
        assert!(
            out.contains(r#"kraft_errors_total{platform="telegram",kind="network"} 1"#),
            "{out}"
        );
        assert!(out.contains("kraft_handle_seconds_bucket"), "{out}");
        assert!(!out.contains("12345") && !out.contains("secret"), "{out}");
    }
}
