//! LLM mode against a real, independent OpenAI-compatible server
//! (llama.cpp's server with Gemma 3 270M, all from PyPI, on 127.0.0.1),
//! beside our own protocol double: the real async-openai client must
//! handle a real server's JSON and SSE, plain and streamed. The model is a
//! tiny base model, so only the protocol is asserted, never the wording.
//! Skipped loudly when the server is not installed (tests/run installs it).

use kraft_core::model::{Action, Incoming};
use kraft_tests::bot::{cited_paths, default_core_settings, real_kb, reply_text, user, TestBot};
use kraft_tests::LlamaServer;

#[tokio::test]
async fn a_real_llama_cpp_server_answers_plain_and_streamed() {
    let Some(server) = tokio::task::spawn_blocking(LlamaServer::start)
        .await
        .expect("join")
    else {
        return;
    };
    for stream in [false, true] {
        let mut s = default_core_settings();
        s.llm.base_url = server.base_url();
        s.llm.model = "gemma".into();
        s.llm.stream = stream;
        s.llm.max_tokens = 40;
        s.llm.timeout_secs = 120;
        let b = TestBot::start(&real_kb(), s).await;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let actions = b
            .assistant
            .handle_streaming(
                &Incoming::text(&user("1"), "Hur länge pågår projektet?"),
                Some(tx),
            )
            .await
            .expect("handle");
        let mut deltas = Vec::new();
        while let Ok(a) = rx.try_recv() {
            if let Action::Delta { text, .. } = a {
                deltas.push(text);
            }
        }
        let (ans, _) = b
            .assistant
            .ask("Hur länge pågår projektet?")
            .await
            .expect("ask");
        assert!(
            ans.generated,
            "stream={stream}: the real server's answer was used: {:?}",
            ans.llm_fallback
        );
        assert!(!ans.text.trim().is_empty());
        let r = reply_text(&actions);
        assert!(!cited_paths(&r).is_empty(), "sources listed: {r}");
        if stream {
            assert!(deltas.len() >= 2, "streamed in pieces: {deltas:?}");
            let draft = deltas.concat();
            assert!(
                r.starts_with(draft.trim()),
                "the reply completes the draft:\n{r}"
            );
        } else {
            assert!(deltas.is_empty());
        }
    }
}
