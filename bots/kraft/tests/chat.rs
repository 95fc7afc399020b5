//! The real binary as a newcomer uses it: `kraft chat` with questions on
//! stdin and answers on stdout, `kraft tickets` from "another terminal"
//! as the adviser, and `kraft ask --json` for scripts. Swedish and English,
//! on the programme's real knowledge base.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use kraft_tests::bot::real_kb;
use kraft_tests::{kraft_cmd, run_logged};

fn kraft(data: &Path) -> Command {
    let mut c = kraft_cmd(env!("CARGO_BIN_EXE_kraft"), data, &real_kb());
    c.env("KRAFT_LOG__FILTER", "warn,qdrant_edge=error");
    c
}

fn run(c: &mut Command) -> Output {
    run_logged(c)
}

/// A running `kraft chat`: write lines, wait for text on stdout.
struct Chat {
    child: Child,
    stdin: Option<ChildStdin>,
    out: Arc<(Mutex<String>, Condvar)>,
    seen: usize,
}

impl Chat {
    fn start(data: &Path, user: &str) -> Chat {
        let mut c = kraft(data);
        c.args(["chat", "--user", user]);
        Chat::spawn(c)
    }

    fn spawn(mut cmd: Command) -> Chat {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn kraft chat");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout");
        let out = Arc::new((Mutex::new(String::new()), Condvar::new()));
        let o = out.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let (m, cv) = &*o;
                if let Ok(mut s) = m.lock() {
                    s.push_str(&line);
                    s.push('\n');
                }
                cv.notify_all();
            }
        });
        Chat {
            child,
            stdin,
            out,
            seen: 0,
        }
    }

    fn say(&mut self, line: &str) {
        let w = self.stdin.as_mut().expect("stdin open");
        writeln!(w, "{line}").expect("write to kraft chat");
        w.flush().expect("flush");
    }

    /// Waits until `needle` appears in output not consumed yet; returns that
    /// output (up to and including the needle's line) and consumes it.
    fn expect(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        let (m, cv) = &*self.out;
        let mut s = m.lock().expect("lock");
        loop {
            if let Some(i) = s[self.seen..].find(needle) {
                let end = s[self.seen + i..]
                    .find('\n')
                    .map(|e| self.seen + i + e + 1)
                    .unwrap_or(s.len());
                let chunk = s[self.seen..end].to_string();
                self.seen = end;
                return chunk;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "timed out waiting for {needle:?}; unconsumed output:\n{}",
                &s[self.seen..]
            );
            s = cv.wait_timeout(s, left).expect("wait").0;
        }
    }

    /// Closes stdin and returns the whole transcript after exit.
    fn finish(mut self) -> String {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                assert!(st.success(), "kraft chat exited with {st}");
                break;
            }
            assert!(Instant::now() < deadline, "kraft chat did not exit on EOF");
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(100));
        let (m, _) = &*self.out;
        let s = m.lock().expect("lock").clone();
        s
    }
}

impl Drop for Chat {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tickets(data: &Path, args: &[&str]) -> Output {
    let mut c = kraft(data);
    c.arg("tickets").args(args);
    run(&mut c)
}

fn data_dir() -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().expect("tmp");
    let d = t.path().join("data");
    (t, d)
}

#[test]
fn swedish_conversation_with_an_adviser_taking_over_and_handing_back() {
    let (_t, data) = data_dir();
    let mut chat = Chat::start(&data, "anna-ab");
    chat.expect("Ctrl-D");

    chat.say("Hur länge pågår projektet?");
    let a = chat.expect("Källor:");
    assert!(a.contains("28 februari 2028"), "{a}");
    chat.expect("[1] Hur länge pågår Kraftsamling AI Mälardalen?");

    // Something only a person can say. (Before the ranked pipeline this was
    // "Vad kostar en F-skattsedel?", which the cost FAQ now answers: a miss
    // the answer evaluation counts, question q093.)
    chat.say("Vad har ni för telefonnummer?");
    // Answers now carry the adviser button too, so wait for the abstention
    // itself, then its button.
    chat.expect("Det vet jag tyvärr inte");
    chat.expect("Prata med en rådgivare");

    chat.say("jag vill prata med en människa");
    let a = chat.expect("ärende #1");
    assert!(a.contains("rådgivare"), "{a}");

    // The adviser, in another terminal.
    let o = tickets(&data, &["list"]);
    assert!(o.status.success());
    let list = String::from_utf8_lossy(&o.stdout);
    assert!(
        list.contains("waiting") && list.contains("user_request"),
        "{list}"
    );
    let o = tickets(&data, &["show", "1"]);
    let show = String::from_utf8_lossy(&o.stdout);
    assert!(show.contains("Vad har ni för telefonnummer?"), "{show}");
    assert!(tickets(&data, &["claim", "1", "--as", "Anna"])
        .status
        .success());
    chat.expect("Rådgivaren Anna har tagit över");
    let o = tickets(
        &data,
        &[
            "reply",
            "1",
            "Hej! Jag ringer dig kl 14. /Anna-unik-7",
            "--as",
            "Anna",
            "--key",
            "m1",
        ],
    );
    assert!(o.status.success());
    // The same reply again (a retried adviser command) is not sent twice.
    let o = tickets(
        &data,
        &[
            "reply",
            "1",
            "Hej! Jag ringer dig kl 14. /Anna-unik-7",
            "--as",
            "Anna",
            "--key",
            "m1",
        ],
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("not sent again"));
    chat.expect("Anna-unik-7");

    // The bot is silent while Anna owns the conversation.
    chat.say("Hur länge pågår projektet?");
    let a = chat.expect("Skickat till rådgivaren");
    assert!(!a.contains("Källor:"), "{a}");

    assert!(tickets(&data, &["resolve", "1"]).status.success());
    chat.expect("avslutat ärendet");
    chat.say("Vem driver projektet?");
    chat.expect("Källor:");

    let transcript = chat.finish();
    assert_eq!(
        transcript.matches("Anna-unik-7").count(),
        1,
        "the adviser reply reached the user exactly once:\n{transcript}"
    );
    // After resolve the adviser cannot write into the closed ticket.
    let o = tickets(&data, &["reply", "1", "hallå?"]);
    assert_eq!(o.status.code(), Some(2), "who is writing must be said");
    assert!(String::from_utf8_lossy(&o.stderr).contains("--as"));
    let o = tickets(&data, &["reply", "1", "hallå?", "--as", "Anna"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("resolved"));
    let o = tickets(&data, &["claim", "99", "--as", "Anna"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("#99 does not exist"));
}

#[test]
fn english_conversation_buttons_forget_and_a_restart() {
    let (_t, data) = data_dir();
    let mut chat = Chat::start(&data, "bob");
    chat.expect("Ctrl-D");
    chat.say("What is a needs analysis?");
    let a = chat.expect("Sources:");
    assert!(a.to_lowercase().contains("needs analysis"), "{a}");
    chat.expect("[1] 👍   [2] 👎");
    chat.say("1");
    chat.expect("Thanks for the feedback!");
    // Bytes that are not text get a clear answer and the chat goes on.
    {
        let w = chat.stdin.as_mut().expect("stdin");
        w.write_all(b"\xff\xfe\x00\x01binary\n").expect("write");
        w.flush().expect("flush");
    }
    chat.expect("Could not read that line");
    // (A passport question is now off-topic: a boundary, no adviser offer.)
    chat.say("What is your phone number?");
    let a = chat.expect("Talk to an adviser");
    assert!(a.contains("I'm afraid I don't know"), "{a}");
    assert!(!a.contains("Sources:"), "{a}");
    chat.say("Can I talk to a human?");
    chat.expect("request #1");
    let _ = chat.finish();

    // Restart: the open ticket and the conversation are still there.
    let o = tickets(&data, &["list", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v[0]["status"], "waiting");
    assert_eq!(v[0]["lang"], "en");
    assert!(
        tickets(&data, &["reply", "1", "Hi Bob, Carl here.", "--as", "Carl"])
            .status
            .success()
    );
    let mut chat = Chat::start(&data, "bob");
    chat.expect("Carl here.");
    chat.say("/forget");
    chat.expect("[1] Yes, delete everything");
    chat.say("1");
    chat.expect("This about you has been deleted from my database:");
    chat.expect("• 1 request to the advisers");
    let _ = chat.finish();
    let o = tickets(&data, &["list", "--all", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v.as_array().map(Vec::len), Some(0), "{v}");
}

#[test]
fn ask_prints_answer_sources_confidence_and_escalation_as_json() {
    let (_t, data) = data_dir();
    let o = run(kraft(&data).args(["ask", "Hur länge pågår projektet?", "--json"]));
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["kind"], "answered");
    assert_eq!(v["language"], "sv");
    assert!(v["answer"]
        .as_str()
        .unwrap_or("")
        .contains("28 februari 2028"));
    assert_eq!(v["sources"][0]["path"], "faq/hur-lange-pagar-projektet.md");
    assert!(v["confidence"].as_f64().unwrap_or(0.0) >= 0.5);
    assert_eq!(
        v["escalation"]["would_open_ticket"],
        serde_json::Value::Null
    );

    let o = run(kraft(&data).args(["ask", "Can we get help with a grant application?", "--json"]));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["language"], "en");
    assert_eq!(
        v["escalation"]["would_open_ticket"],
        "topic:funding application"
    );

    let o = run(kraft(&data).args(["ask", "Vad har ni för telefonnummer?"]));
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(
        s.contains("Det vet jag tyvärr inte") && s.contains("offers an adviser"),
        "{s}"
    );
}

#[test]
fn a_knowledge_edit_reaches_the_next_answer_without_a_restart() {
    let tmp = tempfile::tempdir().expect("tmp");
    let kb = tmp.path().join("knowledge");
    kraft_tests::fixture_kb(&kb);
    let mut c = kraft_cmd(env!("CARGO_BIN_EXE_kraft"), &tmp.path().join("data"), &kb);
    c.env("KRAFT_LOG__FILTER", "warn,qdrant_edge=error").args([
        "chat",
        "--user",
        "curator",
        "--sync-secs",
        "2",
    ]);
    let mut chat = Chat::spawn(c);
    chat.expect("Ctrl-D");
    chat.say("Vad kostar en behovsanalys?");
    let a = chat.expect("Källor:");
    assert!(a.contains("kostnadsfri"), "{a}");

    // A curator edits the document while the chat runs.
    let doc = kb.join("guides/behovsanalys.md");
    let text = std::fs::read_to_string(&doc).expect("read");
    let edited = text.replace(
        "Behovsanalysen i programmet är kostnadsfri för små och medelstora företag.",
        "Behovsanalysen i programmet kostar 1 250 kronor per företag.",
    );
    assert_ne!(text, edited, "the fixture sentence exists");
    std::fs::write(&doc, edited).expect("write");

    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        std::thread::sleep(Duration::from_millis(700));
        chat.say("Vad kostar en behovsanalys?");
        let a = chat.expect("Källor:");
        if a.contains("1 250 kronor") {
            assert!(!a.contains("kostnadsfri"), "the old text is gone: {a}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the edit never reached an answer; last answer:\n{a}"
        );
    }
    let _ = chat.finish();
}
