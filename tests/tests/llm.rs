//! LLM mode against a local OpenAI-protocol double (real async-openai
//! client, real HTTP on 127.0.0.1): a normal answer, a streamed one, and
//! every failure the user must never see — HTTP 500, a timeout, malformed
//! responses, a stream that breaks half-way. Failures fall back to the
//! extractive answer.

use kraft_core::model::{Action, Incoming};
use kraft_core::CoreSettings;
use kraft_tests::bot::{
    assert_grounded, cited_paths, default_core_settings, real_kb, reply_text, user, TestBot,
};
use kraft_tests::{ChatBehaviour, ChatDouble};

const MODEL_SAYS: &str = "Projektet pågår från 1 mars 2025 till 28 februari 2028 [1].";
const QUESTION: &str = "Hur länge pågår projektet?";

fn settings(double: &ChatDouble, stream: bool, timeout_secs: u64) -> CoreSettings {
    let mut s = default_core_settings();
    s.llm.base_url = double.base_url();
    s.llm.model = "double".into();
    s.llm.stream = stream;
    s.llm.timeout_secs = timeout_secs;
    s.llm.retries = 1;
    s
}

/// Asks QUESTION with a progress channel; returns (deltas, final actions).
async fn ask_streaming(b: &TestBot) -> (Vec<String>, Vec<Action>) {
    let u = user("1");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let actions = b
        .assistant
        .handle_streaming(&Incoming::text(&u, QUESTION), Some(tx))
        .await
        .expect("handle");
    let mut deltas = Vec::new();
    while let Ok(a) = rx.try_recv() {
        if let Action::Delta { text, .. } = a {
            deltas.push(text);
        }
    }
    (deltas, actions)
}

fn replaces_draft(actions: &[Action]) -> bool {
    actions.iter().any(|a| {
        matches!(
            a,
            Action::Reply {
                replaces_draft: true,
                ..
            }
        )
    })
}

/// The extractive fallback: grounded, cited, and no trace of the failure.
fn assert_fallback(r: &str, kb: &std::path::Path) {
    assert!(r.contains("28 februari 2028"), "{r}");
    assert!(!r.contains("[1]."), "not the model's text: {r}");
    for leak in ["error", "Error", "500", "timeout", "timed out", "fel"] {
        assert!(
            !r.contains(leak),
            "the user must not see the failure ({leak}): {r}"
        );
    }
    assert_grounded(r, kb);
}

#[tokio::test]
async fn normal_answer_uses_the_model_with_numbered_sources() {
    let d = ChatDouble::start(ChatBehaviour::Ok, MODEL_SAYS).await;
    let b = TestBot::start(&real_kb(), settings(&d, false, 10)).await;
    let (ans, _) = b.assistant.ask(QUESTION).await.expect("ask");
    assert!(ans.generated, "{ans:?}");
    assert_eq!(ans.text, MODEL_SAYS);
    assert_eq!(ans.sources.len(), 1, "only the cited source is listed");
    let r = reply_text(&b.say(&user("1"), QUESTION).await);
    assert!(r.starts_with(MODEL_SAYS), "{r}");
    assert_eq!(cited_paths(&r), ["faq/hur-lange-pagar-projektet.md"], "{r}");

    // What the model was told: answer only from numbered sources.
    let reqs = d.requests();
    let req = reqs.last().expect("a request");
    let msgs = req["messages"].as_array().expect("messages");
    let system = msgs[0]["content"].as_str().expect("system text");
    assert!(
        system.contains("ENDAST utifrån de numrerade källorna"),
        "{system}"
    );
    assert!(system.contains("gissa inte"), "{system}");
    let user_msg = msgs[1]["content"].as_str().expect("user text");
    assert!(user_msg.contains("[1] "), "{user_msg}");
    assert!(
        user_msg.contains("28 februari 2028"),
        "the context carries the facts"
    );
    assert!(
        user_msg.ends_with(&format!("<fråga>\n{QUESTION}\n</fråga>")),
        "the question comes last, fenced: {user_msg}"
    );
    assert_eq!(req["stream"].as_bool(), None);
    // The name every OpenAI-compatible server reads (llama.cpp ignores
    // `max_completion_tokens` and would write until its context is full).
    assert_eq!(req["max_tokens"].as_u64(), Some(400), "{req}");
}

#[tokio::test]
async fn streamed_answer_arrives_in_pieces_and_the_reply_completes_it() {
    let d = ChatDouble::start(ChatBehaviour::Ok, MODEL_SAYS).await;
    let b = TestBot::start(&real_kb(), settings(&d, true, 10)).await;
    let (deltas, actions) = ask_streaming(&b).await;
    assert!(deltas.len() > 3, "streamed in pieces: {deltas:?}");
    let streamed: String = deltas.concat();
    assert_eq!(streamed.trim(), MODEL_SAYS);
    let r = reply_text(&actions);
    assert!(
        r.starts_with(streamed.trim()),
        "the final reply continues the draft: {r}"
    );
    assert!(r.contains("Källor:"), "{r}");
    assert!(!replaces_draft(&actions));
    assert_eq!(
        d.requests().last().and_then(|r| r["stream"].as_bool()),
        Some(true)
    );
}

#[tokio::test]
async fn http_500_falls_back_to_the_extractive_answer() {
    let d = ChatDouble::start(ChatBehaviour::ServerError, MODEL_SAYS).await;
    let b = TestBot::start(&real_kb(), settings(&d, true, 10)).await;
    let (deltas, actions) = ask_streaming(&b).await;
    assert!(deltas.is_empty());
    assert_fallback(&reply_text(&actions), &b.kb);
    let (ans, _) = b.assistant.ask(QUESTION).await.expect("ask");
    assert!(!ans.generated);
    assert!(
        ans.llm_fallback.is_some(),
        "the reason is kept for logs: {ans:?}"
    );
    assert!(d.requests().len() >= 2, "5xx is retried before giving up");
}

#[tokio::test]
async fn timeout_falls_back_to_the_extractive_answer() {
    let d = ChatDouble::start(ChatBehaviour::Hang, MODEL_SAYS).await;
    let b = TestBot::start(&real_kb(), settings(&d, false, 1)).await;
    let actions = b.say(&user("1"), QUESTION).await;
    assert_fallback(&reply_text(&actions), &b.kb);
    assert_eq!(d.requests().len(), 2, "one retry after a timeout");
}

#[tokio::test]
async fn malformed_responses_fall_back_streamed_or_not() {
    for stream in [false, true] {
        let d = ChatDouble::start(ChatBehaviour::Malformed, MODEL_SAYS).await;
        let b = TestBot::start(&real_kb(), settings(&d, stream, 10)).await;
        let (deltas, actions) = ask_streaming(&b).await;
        assert!(deltas.is_empty(), "stream={stream}");
        assert_fallback(&reply_text(&actions), &b.kb);
    }
}

#[tokio::test]
async fn a_stream_that_breaks_half_way_is_replaced_by_the_extractive_answer() {
    let d = ChatDouble::start(ChatBehaviour::BreaksMidStream, MODEL_SAYS).await;
    let b = TestBot::start(&real_kb(), settings(&d, true, 10)).await;
    let (deltas, actions) = ask_streaming(&b).await;
    assert!(!deltas.is_empty(), "part of the answer was shown");
    assert!(
        replaces_draft(&actions),
        "the front-end is told to replace the draft"
    );
    assert_fallback(&reply_text(&actions), &b.kb);
    assert_eq!(d.requests().len(), 1, "no retry once text reached the user");
}

#[tokio::test]
async fn abstention_does_not_ask_the_model() {
    let d = ChatDouble::start(ChatBehaviour::Ok, "Självklart! Ring oss på 021-10 13 00.").await;
    let b = TestBot::start(&real_kb(), settings(&d, false, 10)).await;
    let r = reply_text(&b.say(&user("1"), "Vad har ni för telefonnummer?").await);
    assert!(r.contains("Det vet jag tyvärr inte"), "{r}");
    assert!(
        d.requests().is_empty(),
        "low confidence never reaches the model"
    );
}
