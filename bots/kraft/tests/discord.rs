//! `kraft serve` end to end with Discord: the real binary and the real
//! serenity client (gateway, HTTP, its rate limiter) against a Discord
//! double on 127.0.0.1 — an HTTPS API with a test CA, reached through
//! `discord.connect_to`, and a gateway websocket that sends HELLO, READY,
//! MESSAGE_CREATE, INTERACTION_CREATE and RECONNECT. The real knowledge
//! base answers.
use std::path::PathBuf;
use std::time::Duration;

use kraft_tests::bot::real_kb;
use kraft_tests::dc::{DcConfig, DcDouble, Fault, Posted, Via, CA_PEM, GUILD_ID, TOKEN};
use kraft_tests::serve::Serve;
use kraft_tests::tg::{TgDouble, TOKEN as TG_TOKEN};
use kraft_tests::{ChatBehaviour, ChatDouble};

const BIN: &str = env!("CARGO_BIN_EXE_kraft");
const WAIT: Duration = Duration::from_secs(60);
/// Discord's MESSAGE_CONTENT intent bit.
const MESSAGE_CONTENT: u64 = 1 << 15;

const HELP: u64 = 1_300_000_000_000_010_001;
const OTHER: u64 = 1_300_000_000_000_010_002;
const ADVISERS: u64 = 1_300_000_000_000_010_003;
const ROLE: u64 = 1_300_000_000_000_020_001;
const SME: u64 = 1_300_000_000_000_030_001;
const SME_DM: u64 = 1_300_000_000_000_040_001;
const ADVISER: u64 = 1_300_000_000_000_030_002;
const STRANGER: u64 = 1_300_000_000_000_030_003;

const QUESTION: &str = "Vad kostar det att delta i Kraftsamling AI Mälardalen?";
/// In every answer to /events, with events or without
/// (kraft_core::texts::events_heading, no_events), lowercased.
const EVENTS: &str = "kommande evenemang";

struct World {
    _tmp: tempfile::TempDir,
    data: PathBuf,
    ca: PathBuf,
    dc: DcDouble,
}

async fn world(cfg: DcConfig) -> World {
    let tmp = tempfile::tempdir().expect("tmp");
    let ca = tmp.path().join("double-ca.pem");
    std::fs::write(&ca, CA_PEM).expect("write CA");
    let dc = DcDouble::start(cfg).await;
    dc.add_channel(HELP, "hjälp");
    dc.add_channel(OTHER, "allmänt");
    dc.add_channel(ADVISERS, "rådgivare");
    World {
        data: tmp.path().join("data"),
        _tmp: tmp,
        ca,
        dc,
    }
}

impl World {
    fn env(&self) -> Vec<(String, String)> {
        vec![
            ("KRAFT_DISCORD_TOKEN".into(), TOKEN.into()),
            (
                "KRAFT_DISCORD__CONNECT_TO".into(),
                self.dc.tls_addr().to_string(),
            ),
            (
                "KRAFT_DISCORD__CA_FILE".into(),
                self.ca.display().to_string(),
            ),
            ("KRAFT_DISCORD__GUILD".into(), GUILD_ID.to_string()),
            ("KRAFT_DISCORD__CHANNELS".into(), format!("[{HELP}]")),
            (
                "KRAFT_DISCORD__ADVISER_CHANNEL".into(),
                ADVISERS.to_string(),
            ),
            ("KRAFT_DISCORD__ADVISER_ROLE".into(), ROLE.to_string()),
        ]
    }

    fn serve(&self, extra: &[(&str, &str)]) -> Serve {
        let env = self.env();
        let mut all: Vec<(&str, &str)> =
            env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        all.extend_from_slice(extra);
        Serve::start_with(BIN, &self.data, &real_kb(), &all)
    }

    /// Waits for READY and the slash commands.
    async fn ready(&self) {
        assert!(
            self.dc
                .wait_for(|d| d.is_live() && !d.commands().is_empty(), WAIT)
                .await,
            "the bot never connected and registered its commands"
        );
    }

    async fn wait_in(&self, channel: u64, n: usize) -> Vec<Posted> {
        assert!(
            self.dc.wait_messages_in(channel, n, WAIT).await,
            "channel {channel} has {} bot messages, expected {n}: {:#?}",
            self.dc.messages_in(channel).len(),
            self.dc
                .messages_in(channel)
                .iter()
                .map(|p| &p.content)
                .collect::<Vec<_>>()
        );
        self.dc.messages_in(channel)
    }

    /// Gives the bot time to send anything it still would (a duplicate).
    async fn settle(&self) {
        tokio::time::sleep(Duration::from_millis(2500)).await;
    }

    fn no_protocol_errors(&self) {
        assert!(
            self.dc.unknown_routes().is_empty(),
            "{:?}",
            self.dc.unknown_routes()
        );
        assert_eq!(
            self.dc.double_acks(),
            0,
            "an interaction was acknowledged twice"
        );
        assert_eq!(
            self.dc.late_acks(),
            0,
            "an interaction was acknowledged after 3 s"
        );
    }
}

/// Someone who uses the bot in these tests. `roles`: None = in a DM.
struct Person {
    id: u64,
    name: &'static str,
    roles: Option<&'static [u64]>,
}

impl Person {
    fn guild(&self) -> Option<(u64, Vec<u64>)> {
        self.roles.map(|r| (GUILD_ID, r.to_vec()))
    }
}

/// The SME, in her DM with the bot.
const ANNA: Person = Person {
    id: SME,
    name: "anna",
    roles: None,
};
/// The same SME in the server.
const ANNA_SERVER: Person = Person {
    id: SME,
    name: "anna",
    roles: Some(&[]),
};
/// An adviser (has the role).
const KARIN: Person = Person {
    id: ADVISER,
    name: "Karin",
    roles: Some(&[ROLE]),
};
/// A server member without the role.
const EVE: Person = Person {
    id: STRANGER,
    name: "eve",
    roles: Some(&[]),
};

impl World {
    /// `who` runs a slash command in `channel`; returns the interaction id.
    fn slash(&self, who: &Person, channel: u64, cmd: &str, opts: &[(&str, &str)]) -> u64 {
        let i = seq();
        self.dc.interaction_create(self.dc.slash(
            i,
            who.id,
            who.name,
            channel,
            who.guild(),
            "sv-SE",
            cmd,
            opts,
        ));
        i
    }

    /// `who` presses a button on message `on`; returns the interaction id.
    fn press(&self, who: &Person, channel: u64, custom_id: &str, on: u64) -> u64 {
        let i = seq();
        self.dc.interaction_create(self.dc.button(
            i,
            who.id,
            who.name,
            channel,
            who.guild(),
            custom_id,
            on,
        ));
        i
    }

    /// `who` writes in a server channel, mentioning the bot first if
    /// `mention`; returns the message id.
    fn say(&self, who: &Person, channel: u64, text: &str, mention: bool) -> u64 {
        let bot = kraft_tests::dc::BOT_ID;
        let (content, mentions) = if mention {
            (format!("<@{bot}> {text}"), vec![bot])
        } else {
            (text.to_string(), vec![])
        };
        let roles = who.roles.unwrap_or(&[]);
        let m = self
            .dc
            .guild_message(who.id, who.name, channel, &content, &mentions, roles);
        let id = m["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("message id");
        self.dc.message_create(m);
        id
    }
}

fn ids(p: &Posted) -> Vec<&str> {
    p.buttons.iter().map(|(id, _)| id.as_str()).collect()
}

fn seq() -> u64 {
    kraft_tests::dc::snowflake()
}

#[tokio::test(flavor = "multi_thread")]
async fn slash_ask_is_deferred_then_answered_with_sources_buttons_and_no_privileged_intent() {
    let w = world(DcConfig::default()).await;
    let s = w.serve(&[("KRAFT_ASSISTANT__KNOWLEDGE_URL", "https://kraft.example.se")]);
    w.ready().await;

    // No privileged intent; the five SME commands and /reply, in sv + en.
    let intents = w.dc.intents().expect("identified");
    assert_eq!(
        intents & MESSAGE_CONTENT,
        0,
        "asked for MESSAGE_CONTENT: {intents:b}"
    );
    // Global, so DMs have them; the server's own list is emptied (an
    // older Kraft registered there).
    let reg = w.dc.commands();
    let last = reg
        .iter()
        .rev()
        .find(|r| r.guild.is_none())
        .expect("global commands");
    assert!(
        reg.iter()
            .filter(|r| r.guild == Some(GUILD_ID))
            .all(|r| r.commands.is_empty()),
        "nothing twice in the server"
    );
    for c in &last.commands {
        assert!(
            c["contexts"]
                .as_array()
                .is_some_and(|a| a.contains(&serde_json::json!(0))),
            "{c}"
        );
    }
    let names: Vec<&str> = last
        .commands
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    for n in ["ask", "human", "events", "forget", "help", "reply"] {
        assert!(names.contains(&n), "{names:?}");
    }
    for c in &last.commands {
        assert!(c["description_localizations"]["sv-SE"].is_string(), "{c}");
    }

    let i = w.slash(&ANNA, SME_DM, "ask", &[("question", QUESTION)]);
    let got = w.wait_in(SME_DM, 1).await;
    let a = &got[0];
    assert_eq!(
        a.via,
        Via::Original { interaction: i },
        "the answer edits the deferred response"
    );
    assert!(
        w.dc.callbacks()
            .iter()
            .any(|(id, t, _)| *id == i && *t == 5),
        "{:?}",
        w.dc.callbacks()
    );
    assert!(a.content.contains("**Källor:**"), "{}", a.content);
    assert!(
        a.content.contains("[1] [") && a.content.contains("](<https://kraft.example.se/kb/faq/"),
        "the first source is a title linked to Kraft's page about it: {}",
        a.content
    );
    assert!(!a.content.contains(".md)"), "no file paths: {}", a.content);
    assert!(a.content.chars().count() <= 2000);
    let b = ids(a);
    assert!(b.iter().any(|id| id.starts_with("fb:up:")), "{b:?}");
    assert!(b.iter().any(|id| id.starts_with("fb:down:")), "{b:?}");
    assert!(b.contains(&"human"), "{b:?}");
    assert!(
        a.buttons.iter().any(|(_, l)| l == "Prata med en rådgivare"),
        "{:?}",
        a.buttons
    );
    assert_eq!(
        a.allowed_mentions["parse"],
        serde_json::json!([]),
        "nobody may be pinged by text"
    );

    // English in, English out; a DM message is answered without /ask.
    w.dc.message_create(w.dc.dm(
        SME + 1,
        "bob",
        SME_DM + 1,
        "How much does it cost to take part in the programme?",
    ));
    let got = w.wait_in(SME_DM + 1, 1).await;
    assert_eq!(got[0].via, Via::Channel);
    assert!(
        got[0]
            .buttons
            .iter()
            .any(|(_, l)| l == "Talk to an adviser"),
        "{:?}",
        got[0].buttons
    );
    assert!(got[0].nonce.is_some(), "channel sends carry a nonce");

    // A 👍 on the answer is an interaction too: deferred and answered once.
    let fb = b
        .iter()
        .find(|id| id.starts_with("fb:up:"))
        .expect("fb")
        .to_string();
    let p = w.press(&ANNA, SME_DM, &fb, a.id);
    let got = w.wait_in(SME_DM, 2).await;
    assert_eq!(got[1].via, Via::Original { interaction: p });

    // /forget asks first; the confirmation deletes everything.
    w.slash(&ANNA, SME_DM, "forget", &[]);
    let got = w.wait_in(SME_DM, 3).await;
    assert!(ids(&got[2]).contains(&"forget:yes"), "{:?}", got[2].buttons);
    w.press(&ANNA, SME_DM, "forget:yes", got[2].id);
    let got = w.wait_in(SME_DM, 4).await;
    assert!(got[3].content.contains("raderat"), "{}", got[3].content);

    // A command from an older registration gets a clear answer.
    w.slash(&ANNA, SME_DM, "frobnicate", &[]);
    let got = w.wait_in(SME_DM, 5).await;
    assert!(got[4].content.contains("/frobnicate"), "{}", got[4].content);

    let (code, body) = s.get("/healthz").await;
    assert_eq!(code, 200, "{body}");
    let h: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(h["discord"]["connected"], true, "{body}");
    let (_, metrics) = s.get("/metrics").await;
    assert!(metrics.contains("platform=\"discord\""), "{metrics}");

    w.settle().await;
    assert_eq!(w.dc.messages_in(SME_DM).len(), 5);
    w.no_protocol_errors();
    let log = s.log();
    assert!(
        !log.contains("Kraftsamling AI Mälardalen?"),
        "message text in an info log"
    );
    assert!(s.stop().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mention_in_a_help_channel_gets_a_thread_with_the_answer_and_chatter_is_ignored() {
    let w = world(DcConfig::default()).await;
    let s = w.serve(&[]);
    w.ready().await;

    // Chatter and a mention outside the configured channels: nothing.
    w.say(&ANNA_SERVER, HELP, "lunch någon?", false);
    w.say(&ANNA_SERVER, OTHER, QUESTION, true);
    let mid = w.say(&ANNA_SERVER, HELP, QUESTION, true);

    let got = w.wait_in(mid, 1).await;
    let t = w.dc.threads();
    let thread = t
        .iter()
        .find(|t| t.id == mid)
        .expect("a thread from the message");
    assert_eq!(thread.parent, HELP);
    assert_eq!(thread.kind, 11);
    assert!(got[0].content.contains("**Källor:**"), "{}", got[0].content);
    assert!(
        got[0].content.contains(&format!("<@{SME}>")),
        "the asker is mentioned: {}",
        got[0].content
    );
    assert_eq!(
        got[0].allowed_mentions["users"],
        serde_json::json!([SME.to_string()])
    );

    // A follow-up mention inside the thread is answered there, as a reply.
    let fid = w.say(&ANNA_SERVER, mid, "Och vem kan hjälpa oss?", true);
    let got = w.wait_in(mid, 2).await;
    assert_eq!(got[1].reply_to, Some(fid));
    assert_eq!(w.dc.threads().len(), 1, "no second thread");

    assert!(
        w.dc.messages_in(HELP).is_empty(),
        "the channel stays readable"
    );

    // /ask in the channel: a new thread holds the answer; the response in
    // the channel only points to it.
    let i = w.slash(
        &ANNA_SERVER,
        HELP,
        "ask",
        &[("question", "Vad är en behovsanalys?")],
    );
    assert!(
        w.dc.wait_for(|d| d.threads().len() == 2, WAIT).await,
        "{:?}",
        w.dc.threads()
    );
    let th =
        w.dc.threads()
            .into_iter()
            .find(|t| t.id != mid)
            .expect("thread");
    assert_eq!((th.parent, th.kind), (HELP, 11));
    assert_eq!(th.name, "Vad är en behovsanalys?");
    let got = w.wait_in(th.id, 1).await;
    assert!(got[0].content.contains("**Källor:**"), "{}", got[0].content);
    assert!(
        got[0].content.starts_with(&format!("<@{SME}>")),
        "{}",
        got[0].content
    );
    let pointer =
        w.dc.messages()
            .into_iter()
            .find(|p| p.via == Via::Original { interaction: i });
    let pointer = pointer.expect("the response points to the thread");
    assert!(
        pointer.content.contains(&format!("<#{}>", th.id)),
        "{}",
        pointer.content
    );
    // /ask inside the thread is answered in place.
    let j = w.slash(
        &ANNA_SERVER,
        th.id,
        "ask",
        &[("question", "Vad kostar den?")],
    );
    let got = w.wait_in(th.id, 2).await;
    assert_eq!(got[1].via, Via::Original { interaction: j });

    w.settle().await;
    assert_eq!(w.dc.threads().len(), 2);
    assert_eq!(
        w.dc.messages_in(HELP).len(),
        1,
        "only the pointer is in the channel: {:#?}",
        w.dc.messages_in(HELP)
    );
    assert!(
        w.dc.messages_in(OTHER).is_empty(),
        "not a configured channel"
    );
    w.no_protocol_errors();
    let log = s.log();
    assert!(!log.contains("lunch"), "chatter is not logged");
    assert!(s.stop().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn human_opens_a_private_adviser_thread_and_only_advisers_act_and_replies_arrive_once() {
    let w = world(DcConfig::default()).await;
    let s = w.serve(&[]);
    w.ready().await;

    w.slash(&ANNA, SME_DM, "ask", &[("question", QUESTION)]);
    w.wait_in(SME_DM, 1).await;
    w.slash(
        &ANNA,
        SME_DM,
        "human",
        &[("message", "Vi vill ha hjälp med offerter")],
    );
    w.wait_in(SME_DM, 2).await;

    assert!(
        w.dc.wait_for(|d| d.threads().iter().any(|t| t.parent == ADVISERS), WAIT)
            .await
    );
    let th =
        w.dc.threads()
            .into_iter()
            .find(|t| t.parent == ADVISERS)
            .expect("ticket thread");
    assert_eq!(th.kind, 12, "a private thread");
    assert!(!th.invitable);
    assert!(th.name.starts_with("#1"), "{}", th.name);
    assert_eq!(
        th.name, "#1 · vill prata med en person",
        "no user text in the name"
    );
    let intro = w.wait_in(th.id, 1).await;
    assert!(
        intro[0].content.starts_with(&format!("<@&{ROLE}>")),
        "{}",
        intro[0].content
    );
    assert_eq!(
        intro[0].allowed_mentions["roles"],
        serde_json::json!([ROLE.to_string()])
    );
    assert!(
        intro[0].content.contains(QUESTION),
        "the summary has the question: {}",
        intro[0].content
    );
    let b = ids(&intro[0]);
    for want in ["claim:1", "resolve:1", "handback:1"] {
        assert!(b.contains(&want), "{b:?}");
    }

    // Someone without the adviser role cannot claim; they are told privately.
    let x = w.press(&EVE, th.id, "claim:1", intro[0].id);
    assert!(
        w.dc.wait_for(
            |d| d
                .messages()
                .iter()
                .any(|p| p.via == Via::Original { interaction: x }),
            WAIT
        )
        .await
    );
    let refusal =
        w.dc.messages()
            .into_iter()
            .find(|p| p.via == Via::Original { interaction: x })
            .expect("refusal");
    assert!(
        refusal.content.contains("Bara rådgivare"),
        "{}",
        refusal.content
    );
    assert!(
        w.dc.callbacks()
            .iter()
            .any(|(id, t, f)| *id == x && *t == 5 && f & 64 != 0),
        "ephemeral"
    );
    // Nor can they answer the user.
    w.slash(&EVE, th.id, "reply", &[("text", "Jag är inte rådgivare")]);

    // The adviser claims: the user hears who took it.
    w.press(&KARIN, th.id, "claim:1", intro[0].id);
    let got = w.wait_in(SME_DM, 3).await;
    assert!(got[2].content.contains("Karin"), "{}", got[2].content);
    assert!(
        w.dc.wait_for(
            |d| d
                .messages_in(th.id)
                .iter()
                .any(|p| p.content.contains("tas av Karin")),
            WAIT
        )
        .await
    );
    // The note's buttons now say who has it.
    let note_labels = |d: &DcDouble| {
        d.messages_in(th.id)
            .into_iter()
            .find(|p| p.id == intro[0].id)
            .map(|p| p.buttons.iter().map(|(_, l)| l.clone()).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    assert!(
        w.dc.wait_for(
            |d| note_labels(d).first().is_some_and(|l| l == "✅ Karin"),
            WAIT
        )
        .await,
        "{:?}",
        note_labels(&w.dc)
    );

    // /reply and a mention in the thread both reach the user, once each,
    // also when Discord delivers the mention twice.
    w.slash(
        &KARIN,
        th.id,
        "reply",
        &[("text", "Hej Anna, jag ringer er i morgon.")],
    );
    let m = w.dc.guild_message(
        ADVISER,
        "Karin",
        th.id,
        &format!("<@{}> Ta med era offertmallar.", kraft_tests::dc::BOT_ID),
        &[kraft_tests::dc::BOT_ID],
        &[ROLE],
    );
    w.dc.message_create(m.clone());
    w.dc.message_create(m);
    // Without MESSAGE_CONTENT a plain message arrives empty: the advisers
    // are told how to answer, once.
    w.say(&KARIN, th.id, "", false);
    w.say(&KARIN, th.id, "", false);
    let got = w.wait_in(SME_DM, 5).await;
    w.settle().await;
    let got_now = w.dc.messages_in(SME_DM);
    assert_eq!(
        got_now.len(),
        5,
        "{:#?}",
        got_now.iter().map(|p| &p.content).collect::<Vec<_>>()
    );
    assert!(
        got[3].content.contains("jag ringer er i morgon")
            || got[4].content.contains("jag ringer er i morgon")
    );
    assert!(
        got_now
            .iter()
            .filter(|p| p.content.contains("offertmallar"))
            .count()
            == 1
    );
    assert!(
        !got_now.iter().any(|p| p.content.contains("inte rådgivare")),
        "a stranger's reply reached the user"
    );
    // The adviser closes it: the user is told, the advisers see who did.
    w.press(&KARIN, th.id, "resolve:1", intro[0].id);
    let got = w.wait_in(SME_DM, 6).await;
    assert!(
        got[5].content.contains("avslutat ärendet"),
        "{}",
        got[5].content
    );
    assert!(
        w.dc.wait_for(
            |d| d
                .messages_in(th.id)
                .iter()
                .any(|p| p.content.contains("avslutat av Karin")),
            WAIT
        )
        .await
    );
    let notes = w.dc.messages_in(th.id);
    assert_eq!(
        notes
            .iter()
            .filter(|p| p.content.contains("/reply"))
            .count(),
        1,
        "{:#?}",
        notes.iter().map(|p| &p.content).collect::<Vec<_>>()
    );
    // No buttons once it is closed.
    assert!(
        w.dc.wait_for(|d| note_labels(d).is_empty(), WAIT).await,
        "{:?}",
        note_labels(&w.dc)
    );
    // After the closing note, the thread is archived.
    assert!(
        w.dc.wait_for(|d| d.thread_archived(th.id), WAIT).await,
        "the resolved ticket's thread is archived"
    );
    // One tap says how it went; it counts in the follow-up report, once.
    let bye = &got[5];
    assert!(ids(bye).contains(&"sat:good:1"), "{:?}", bye.buttons);
    w.press(&ANNA, SME_DM, "sat:good:1", bye.id);
    let thanks = w.wait_in(SME_DM, 7).await;
    assert!(
        thanks[6].content.starts_with("Tack!"),
        "{}",
        thanks[6].content
    );
    w.press(&ANNA, SME_DM, "sat:bad:1", bye.id);
    w.wait_in(SME_DM, 8).await;
    let out = kraft_tests::run_logged(
        kraft_tests::kraft_cmd(BIN, &w.data, &real_kb())
            .args(["report", "followup", "--format", "csv"]),
    );
    let csv = String::from_utf8_lossy(&out.stdout).to_string();
    let row = |k: &str| {
        csv.lines()
            .find(|l| l.starts_with(&format!("{k},")))
            .and_then(|l| l.split(',').nth(1))
            .map(str::to_string)
    };
    assert_eq!(row("satisfied").as_deref(), Some("1"), "{csv}");
    assert_eq!(
        row("dissatisfied").as_deref(),
        Some("0"),
        "the first tap counts: {csv}"
    );

    w.no_protocol_errors();
    assert!(s.stop().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reconnect_mid_conversation_resumes_and_nothing_is_answered_twice() {
    let w = world(DcConfig::default()).await;
    let s = w.serve(&[]);
    w.ready().await;

    let first = w.dc.dm(SME, "anna", SME_DM, QUESTION);
    w.dc.message_create(first.clone());
    w.wait_in(SME_DM, 1).await;

    // RECONNECT; events sent meanwhile arrive in the replay after RESUME.
    assert!(w.dc.reconnect());
    let i = w.slash(&ANNA, SME_DM, "events", &[]);
    w.dc.message_create(w.dc.dm(
        SME,
        "anna",
        SME_DM,
        "Vilka stöd finns för att anställa en AI-konsult?",
    ));
    assert!(
        w.dc.wait_for(|d| d.resumes() == 1 && d.is_live(), WAIT)
            .await,
        "no RESUME"
    );
    let got = w.wait_in(SME_DM, 3).await;
    // Acknowledging needs no database, so it normally makes the 3 s and
    // the answer edits the response; on a starved machine (seen once with
    // two busy loops beside the suite) it can miss them, and then the
    // answer goes to the channel. Either way it arrives, once.
    let events: Vec<&Posted> = got
        .iter()
        .filter(|p| p.content.to_lowercase().contains(EVENTS))
        .collect();
    assert_eq!(events.len(), 1, "{got:#?}");
    eprintln!("the /events answer arrived {:?}", events[0].via);
    assert!(
        matches!(events[0].via, Via::Original { interaction } if interaction == i)
            || events[0].via == Via::Channel
    );

    // Discord may deliver an event again (at-least-once): still one answer.
    w.dc.message_create(first);
    w.dc.interaction_create(w.dc.slash(i, SME, "anna", SME_DM, None, "sv-SE", "events", &[]));
    w.settle().await;
    assert_eq!(w.dc.messages_in(SME_DM).len(), 3);
    assert_eq!(w.dc.identifies(), 1, "resumed, not a new session");
    w.no_protocol_errors();
    assert!(s.stop().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limits_and_server_errors_delay_but_every_answer_arrives_once() {
    let w = world(DcConfig::default()).await;
    let s = w.serve(&[]);
    w.ready().await;

    w.dc.fault(
        "POST /channels/*/messages",
        Fault::RateLimited {
            retry_after_ms: 700,
        },
        2,
    );
    w.dc.fault("POST /channels/*/messages", Fault::ServerError, 1);
    for k in 0..3u64 {
        w.dc.message_create(w.dc.dm(SME + k, "anna", SME_DM + k, QUESTION));
    }
    for k in 0..3u64 {
        w.wait_in(SME_DM + k, 1).await;
    }
    w.settle().await;
    for k in 0..3u64 {
        assert_eq!(w.dc.messages_in(SME_DM + k).len(), 1);
    }
    assert!(
        w.dc.rate_limited() >= 2,
        "the 429s were served: {}",
        w.dc.rate_limited()
    );
    w.no_protocol_errors();
    assert!(s.stop().success());
}

async fn exits_within(mut s: Serve, secs: u64) -> (std::process::ExitStatus, String) {
    for _ in 0..secs * 10 {
        if let Some(st) = s.try_wait() {
            return (st, s.log());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("kraft serve kept running: {}", s.log());
}

#[tokio::test(flavor = "multi_thread")]
async fn disallowed_intents_4014_and_a_bad_token_end_the_process_with_a_clear_message() {
    let cfg = DcConfig {
        close_after_identify: Some(4014),
        ..DcConfig::default()
    };
    let w = world(cfg).await;
    let s = w.serve(&[("KRAFT_DISCORD__MESSAGE_CONTENT", "true")]);
    let (st, log) = exits_within(s, 60).await;
    assert!(!st.success());
    assert!(log.contains("intent"), "{log}");
    assert!(
        log.contains("message_content"),
        "says what to change: {log}"
    );
    assert_eq!(w.dc.identifies(), 1, "no retry loop");
    assert!(!log.contains(TOKEN));

    let w = world(DcConfig {
        token: "another-token".into(),
        ..DcConfig::default()
    })
    .await;
    let s = w.serve(&[]);
    let (st, log) = exits_within(s, 60).await;
    assert!(!st.success());
    assert!(log.contains("refused the bot token"), "{log}");
    assert_eq!(
        w.dc.identifies(),
        0,
        "the gateway is not tried with a bad token"
    );
    assert!(!log.contains(TOKEN));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_telegram_users_ticket_is_answered_from_the_discord_adviser_channel() {
    let w = world(DcConfig::default()).await;
    let tg = TgDouble::start(TG_TOKEN).await;
    let api = tg.api_url();
    let s = w.serve(&[
        ("KRAFT_TELEGRAM_TOKEN", TG_TOKEN),
        ("KRAFT_TELEGRAM__API_URL", &api),
        ("KRAFT_TELEGRAM__POLL_TIMEOUT_SECS", "1"),
        ("KRAFT_TELEGRAM__ADVISERS_FOR", "[]"),
        ("KRAFT_DISCORD__ADVISERS_FOR", "[\"telegram\", \"discord\"]"),
    ]);
    w.ready().await;

    tg.user_says(4242, QUESTION);
    assert!(tg.wait_count(4242, 1, WAIT).await);
    tg.user_says(4242, "/human");
    assert!(tg.wait_count(4242, 2, WAIT).await);
    assert!(
        w.dc.wait_for(|d| d.threads().iter().any(|t| t.parent == ADVISERS), WAIT)
            .await
    );
    let th =
        w.dc.threads()
            .into_iter()
            .find(|t| t.parent == ADVISERS)
            .expect("thread");
    let intro = w.wait_in(th.id, 1).await;
    assert!(
        intro[0].content.contains("Telegram"),
        "{}",
        intro[0].content
    );

    w.slash(&KARIN, th.id, "reply", &[("text", "Hej från Discord!")]);
    assert!(tg.wait_count(4242, 3, WAIT).await);
    w.settle().await;
    let to_user = tg.sent_to(4242);
    assert_eq!(
        to_user
            .iter()
            .filter(|m| m.text.contains("Hej från Discord!"))
            .count(),
        1
    );
    w.no_protocol_errors();
    assert!(s.stop().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_log_holds_no_token_interaction_token_or_message_text() {
    let w = world(DcConfig::default()).await;
    let s = w.serve(&[("KRAFT_LOG__FILTER", "debug,qdrant_edge=error")]);
    w.ready().await;
    w.slash(
        &ANNA,
        SME_DM,
        "ask",
        &[("question", "Hemligt projekt Zebra: vad kostar det?")],
    );
    w.wait_in(SME_DM, 1).await;
    // An outage on the interaction webhook: errors are logged, tokens not.
    w.dc.fault("PATCH /webhooks/*", Fault::ServerError, 1);
    w.slash(&ANNA, SME_DM, "help", &[]);
    w.wait_in(SME_DM, 2).await;
    let log = s.log();
    assert!(s.stop().success());
    assert!(!log.contains(TOKEN), "the bot token leaked");
    assert!(!log.contains("itok-"), "an interaction token leaked");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_long_answer_is_split_under_2000_characters_with_buttons_on_the_last_part() {
    let w = world(DcConfig::default()).await;
    let para = "Det här är ett långt stycke om hur behovsanalysen går till [1]. ".repeat(8);
    let answer: Vec<String> = (1..=6)
        .map(|i| format!("Del {i}: {}", para.trim()))
        .collect();
    let answer = answer.join("\n\n");
    assert!(answer.chars().count() >= 3000, "{}", answer.chars().count());
    let llm = ChatDouble::start(ChatBehaviour::Ok, &answer).await;
    let url = llm.base_url();
    let s = w.serve(&[
        ("KRAFT_LLM__BASE_URL", &url),
        ("KRAFT_LLM__MODEL", "double"),
    ]);
    w.ready().await;

    let i = w.slash(
        &ANNA,
        SME_DM,
        "ask",
        &[("question", "Hur går en behovsanalys till?")],
    );
    w.wait_in(SME_DM, 2).await;
    w.settle().await;
    let parts = w.dc.messages_in(SME_DM);
    assert!(parts.len() >= 2, "{}", parts.len());
    assert_eq!(parts[0].via, Via::Original { interaction: i });
    for p in &parts[1..] {
        assert_eq!(p.via, Via::Followup { interaction: i });
    }
    for p in &parts {
        assert!(
            p.content.chars().count() <= 2000,
            "{}",
            p.content.chars().count()
        );
        // (The privacy notice that ends a first reply is a paragraph too.)
        assert!(
            p.content.starts_with("Del ")
                || p.content.starts_with("**")
                || p.content.starts_with("🔒"),
            "split at a paragraph: {}",
            &p.content[..30]
        );
    }
    let (last, rest) = parts.split_last().expect("parts");
    assert!(
        rest.iter().all(|p| p.buttons.is_empty()),
        "buttons only under the last part"
    );
    assert!(ids(last).iter().any(|b| b.starts_with("fb:up:")));
    assert!(parts.iter().any(|p| p.content.contains("**Källor:**")));
    w.no_protocol_errors();
    assert!(s.stop().success());
}

/// In LLM mode the answer grows in place, in a DM (a message the bot
/// edits) and for /ask (the interaction's response), and ends as the final
/// answer with linked sources and buttons; nothing is posted twice.
#[tokio::test(flavor = "multi_thread")]
async fn a_streamed_answer_grows_in_place_in_a_dm_and_for_ask() {
    let w = world(DcConfig::default()).await;
    let answer = "Att delta i Kraftsamling AI Mälardalen är kostnadsfritt för små och medelstora \
                  företag [1]. Projektet finansieras av EU och regionerna, så ni betalar varken för \
                  behovsanalysen, träffarna eller studiebesöken. Det ni lägger in är er egen tid.";
    let llm = ChatDouble::start_paced(ChatBehaviour::Ok, answer, Duration::from_millis(60)).await;
    let url = llm.base_url();
    let s = w.serve(&[
        ("KRAFT_LLM__BASE_URL", &url),
        ("KRAFT_LLM__MODEL", "double"),
        ("KRAFT_DISCORD__DRAFT_EVERY_MS", "250"),
        ("KRAFT_ASSISTANT__KNOWLEDGE_URL", "https://kraft.example.se"),
    ]);
    w.ready().await;
    let check = |m: &Posted, via: &str| {
        assert!(
            m.versions.len() >= 3,
            "{via}: {} versions: {:#?}",
            m.versions.len(),
            m.versions
        );
        let (last, drafts) = m.versions.split_last().expect("versions");
        for d in drafts.iter().filter(|d| !d.is_empty()) {
            let body = d
                .strip_suffix(" …")
                .unwrap_or_else(|| panic!("{via}: growing marker: {d}"));
            assert!(
                answer.starts_with(body.trim_end()),
                "{via}: the answer so far: {d}"
            );
        }
        assert!(last.starts_with("Att delta"), "{via}: {last}");
        assert!(
            last.contains("](<https://kraft.example.se/kb/"),
            "{via}: a source title linked to Kraft's page: {last}"
        );
        assert!(!last.contains(".md)"), "{via}: no file paths: {last}");
        assert!(ids(m).iter().any(|b| b.starts_with("fb:up:")), "{via}");
    };

    w.dc.message_create(w.dc.dm(SME, "anna", SME_DM, QUESTION));
    assert!(
        w.dc.wait_for(
            |d| d
                .messages_in(SME_DM)
                .iter()
                .any(|m| m.content.contains("**Källor:**")),
            WAIT
        )
        .await,
        "the final answer in the DM"
    );
    let i = w.slash(&ANNA, SME_DM + 1, "ask", &[("question", QUESTION)]);
    assert!(
        w.dc.wait_for(
            |d| d
                .messages_in(SME_DM + 1)
                .iter()
                .any(|m| m.content.contains("**Källor:**")),
            WAIT
        )
        .await,
        "the final answer to /ask"
    );
    w.settle().await;
    let dm = w.dc.messages_in(SME_DM);
    assert_eq!(
        dm.len(),
        1,
        "{:#?}",
        dm.iter().map(|m| &m.content).collect::<Vec<_>>()
    );
    assert_eq!(dm[0].via, Via::Channel);
    check(&dm[0], "DM");
    let ask = w.dc.messages_in(SME_DM + 1);
    assert_eq!(
        ask.len(),
        1,
        "{:#?}",
        ask.iter().map(|m| &m.content).collect::<Vec<_>>()
    );
    assert_eq!(ask[0].via, Via::Original { interaction: i });
    check(&ask[0], "/ask");
    w.no_protocol_errors();
    assert!(s.stop().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_interaction_token_falls_back_to_the_channel() {
    // Tokens that expire at once: every edit of the response is refused
    // with 10015, as Discord does after 15 minutes.
    let w = world(DcConfig {
        token_ttl_ms: 1,
        ..DcConfig::default()
    })
    .await;
    let s = w.serve(&[]);
    w.ready().await;
    w.slash(&ANNA, SME_DM, "ask", &[("question", QUESTION)]);
    let got = w.wait_in(SME_DM, 1).await;
    assert_eq!(got[0].via, Via::Channel);
    assert!(got[0].content.contains("**Källor:**"));
    w.settle().await;
    assert_eq!(w.dc.messages_in(SME_DM).len(), 1);
    assert!(s.stop().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kill_9_mid_way_loses_nothing_and_the_nonce_stops_duplicates() {
    let w = world(DcConfig::default()).await;
    let s = w.serve(&[]);
    w.ready().await;
    let users: Vec<u64> = (0..10).map(|k| SME + 100 + k).collect();
    for q in [QUESTION, "Vad är en behovsanalys?"] {
        for &u in &users {
            w.dc.message_create(w.dc.dm(u, "sme", u + 1_000_000, q));
        }
    }
    let answered = |d: &DcDouble| {
        users
            .iter()
            .map(|u| d.messages_in(u + 1_000_000).len())
            .sum::<usize>()
    };
    assert!(w.dc.wait_for(|d| answered(d) >= 4, WAIT).await);
    s.kill9();
    let _s = w.serve(&[("KRAFT_DISCORD__DELIVERY_LEASE_SECS", "5")]);
    for &u in &users {
        w.wait_in(u + 1_000_000, 2).await;
    }
    w.settle().await;
    for &u in &users {
        assert_eq!(w.dc.messages_in(u + 1_000_000).len(), 2, "user {u}");
    }
    eprintln!(
        "kill -9: 20 questions, all answered exactly once; {} resends stopped by the nonce",
        w.dc.deduped()
    );
    w.no_protocol_errors();
}

#[test]
fn bad_discord_settings_are_refused_with_the_key_name_and_no_token() {
    let tmp = tempfile::tempdir().expect("tmp");
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("KRAFT_DISCORD__ADVISER_CHANEL", "1")], "adviser_chanel"),
        (&[("KRAFT_DISCORD__ADVISER_CHANNEL", "123")], "adviser_role"),
        (
            &[("KRAFT_DISCORD__CONNECT_TO", "discord.local")],
            "connect_to",
        ),
        (
            &[("KRAFT_DISCORD__CA_FILE", "/nonexistent/ca.pem")],
            "ca_file",
        ),
        (&[("KRAFT_DISCORD__GUILD", "not-a-number")], "guild"),
    ];
    for (env, key) in cases {
        let mut c = kraft_tests::kraft_cmd(BIN, &tmp.path().join("d"), &real_kb());
        c.env("KRAFT_DISCORD_TOKEN", TOKEN)
            .env("KRAFT_SERVE__LISTEN", "127.0.0.1:0");
        for (k, v) in *env {
            c.env(k, v);
        }
        c.arg("serve");
        let out = kraft_tests::run_logged(&mut c);
        assert!(!out.status.success(), "{env:?} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.to_lowercase().contains(key), "{env:?}: {err}");
        assert!(!err.contains(TOKEN), "token leaked: {err}");
    }
    // A malformed token is refused before anything connects.
    let mut c = kraft_tests::kraft_cmd(BIN, &tmp.path().join("d"), &real_kb());
    c.env("KRAFT_DISCORD_TOKEN", "two words")
        .env("KRAFT_SERVE__LISTEN", "127.0.0.1:0")
        .arg("serve");
    let out = kraft_tests::run_logged(&mut c);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("token is empty or malformed"), "{err}");
    assert!(!err.contains("two words"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_locked_database_delays_but_loses_no_message_and_no_interaction() {
    let w = world(DcConfig::default()).await;
    let s = w.serve(&[]);
    w.ready().await;
    w.dc.message_create(w.dc.dm(SME, "anna", SME_DM, "Hur länge pågår projektet?"));
    w.wait_in(SME_DM, 1).await;

    // Discord never resends a gateway event: while another process holds
    // the database for 13 s (> the 10 s busy timeout), the DM and the
    // slash command must be held, not dropped.
    let holder = kraft_tests::lock_database(&w.data.join("kraft.sqlite"), 13);
    w.dc.message_create(w.dc.dm(SME, "anna", SME_DM, "Vad är en behovsanalys?"));
    let i = w.slash(&ANNA, SME_DM, "events", &[]);
    holder.join().expect("holder");
    let got = w.wait_in(SME_DM, 3).await;
    assert!(got.iter().any(|p| p.content.contains("behovsanalys")));
    // Acknowledging needs no database, so it normally makes the 3 s and
    // the answer edits the response; on a starved machine (seen once with
    // two busy loops beside the suite) it can miss them, and then the
    // answer goes to the channel. Either way it arrives, once.
    let events = got
        .iter()
        .filter(|p| {
            p.via == Via::Original { interaction: i }
                || p.content.contains("/events")
                || p.via == Via::Channel
        })
        .count();
    assert!(events >= 2, "the DM and the /events answer: {got:#?}");
    w.settle().await;
    assert_eq!(
        w.dc.messages_in(SME_DM).len(),
        3,
        "each answered exactly once"
    );
    // The lock must have been met: by the event store ("holding it"), or,
    // when a starved runtime dispatched the events only after it ended,
    // by the delivery that was recorded while it lasted.
    let log = s.log();
    assert!(
        log.contains("holding it") || log.contains("state database is busy"),
        "the lock was noticed:\n{log}"
    );
    assert!(!log.contains("panicked"), "{log}");
    assert!(
        w.dc.unknown_routes().is_empty(),
        "{:?}",
        w.dc.unknown_routes()
    );
    assert_eq!(w.dc.double_acks(), 0);
    assert!(s.stop().success());
}

/// A ticket opened in a DM stays in the DM: the same user then mentions
/// the bot in a help channel (answered in a public thread), and the
/// adviser's claim and reply still arrive in the DM only. (A user row
/// keeps only the latest chat; relays once followed it into the thread.)
#[tokio::test(flavor = "multi_thread")]
async fn a_dm_ticket_then_a_channel_mention_keeps_the_adviser_in_the_dm() {
    let w = world(DcConfig::default()).await;
    let s = w.serve(&[]);
    w.ready().await;
    w.slash(
        &ANNA,
        SME_DM,
        "human",
        &[("message", "Vi vill ha hjälp med offerter")],
    );
    w.wait_in(SME_DM, 1).await;
    assert!(
        w.dc.wait_for(|d| d.threads().iter().any(|t| t.parent == ADVISERS), WAIT)
            .await
    );
    let th =
        w.dc.threads()
            .into_iter()
            .find(|t| t.parent == ADVISERS)
            .expect("ticket thread");
    let intro = w.wait_in(th.id, 1).await;

    // In the server: a mention starts a public thread with the answer.
    let m = w.say(&ANNA_SERVER, HELP, QUESTION, true);
    let public = w.wait_in(m, 1).await;
    assert!(
        public[0].content.contains("Källor"),
        "{}",
        public[0].content
    );

    w.press(&KARIN, th.id, "claim:1", intro[0].id);
    w.slash(
        &KARIN,
        th.id,
        "reply",
        &[("text", "Hej Anna, jag ringer er i morgon.")],
    );
    let dm = w.wait_in(SME_DM, 3).await;
    assert!(dm[1].content.contains("Karin"), "{}", dm[1].content);
    assert!(
        dm[2].content.contains("ringer er i morgon"),
        "{}",
        dm[2].content
    );
    w.settle().await;
    for ch in [HELP, m] {
        let posted = w.dc.messages_in(ch);
        assert!(
            !posted
                .iter()
                .any(|p| p.content.contains("Karin") || p.content.contains("ringer")),
            "adviser text in public channel {ch}: {:#?}",
            posted.iter().map(|p| &p.content).collect::<Vec<_>>()
        );
    }
    assert_eq!(
        w.dc.messages_in(m).len(),
        1,
        "only the answer in the thread"
    );
    assert_eq!(w.dc.messages_in(SME_DM).len(), 3);
    w.no_protocol_errors();
    assert!(s.stop().success());
}

/// `/human` in a help channel: the channel's thread gets only a pointer
/// ("fortsätter i ett privat meddelande"); the bot opens a DM with the
/// user, and the whole adviser conversation runs there.
#[tokio::test(flavor = "multi_thread")]
async fn human_in_a_channel_continues_in_a_dm_and_the_thread_gets_only_a_pointer() {
    let w = world(DcConfig::default()).await;
    let s = w.serve(&[]);
    w.ready().await;
    w.slash(
        &ANNA_SERVER,
        HELP,
        "human",
        &[("message", "Vi vill ha hjälp med offerter")],
    );
    assert!(
        w.dc.wait_for(|d| d.threads().iter().any(|t| t.parent == HELP), WAIT)
            .await
    );
    let public =
        w.dc.threads()
            .into_iter()
            .find(|t| t.parent == HELP)
            .expect("the public thread");
    let pointer = w.wait_in(public.id, 1).await;
    assert!(
        pointer[0]
            .content
            .contains("fortsätter i ett privat meddelande"),
        "{}",
        pointer[0].content
    );
    assert!(
        w.dc.wait_for(|d| d.dm_channel_of(SME).is_some(), WAIT)
            .await,
        "no DM was opened"
    );
    let dm = w.dc.dm_channel_of(SME).expect("dm");
    let first = w.wait_in(dm, 1).await;
    assert!(first[0].content.contains("#1"), "{}", first[0].content);

    assert!(
        w.dc.wait_for(|d| d.threads().iter().any(|t| t.parent == ADVISERS), WAIT)
            .await
    );
    let th =
        w.dc.threads()
            .into_iter()
            .find(|t| t.parent == ADVISERS)
            .expect("ticket thread");
    let intro = w.wait_in(th.id, 1).await;
    w.press(&KARIN, th.id, "claim:1", intro[0].id);
    w.slash(
        &KARIN,
        th.id,
        "reply",
        &[("text", "Hej Anna, jag ringer er i morgon.")],
    );
    let got = w.wait_in(dm, 3).await;
    assert!(got[1].content.contains("Karin"), "{}", got[1].content);
    assert!(
        got[2].content.contains("ringer er i morgon"),
        "{}",
        got[2].content
    );
    // Anna answers in the DM: it reaches the adviser's thread.
    w.dc.message_create(w.dc.dm(SME, "anna", dm, "Tack, det passar bra."));
    assert!(
        w.dc.wait_for(
            |d| d
                .messages_in(th.id)
                .iter()
                .any(|p| p.content.contains("Tack, det passar bra.")),
            WAIT
        )
        .await
    );
    w.press(&KARIN, th.id, "resolve:1", intro[0].id);
    let got = w.wait_in(dm, 5).await;
    assert!(
        got[4].content.contains("avslutat ärendet"),
        "{}",
        got[4].content
    );
    w.settle().await;
    assert_eq!(
        w.dc.messages_in(public.id).len(),
        1,
        "the public thread has only the pointer: {:#?}",
        w.dc.messages_in(public.id)
            .iter()
            .map(|p| &p.content)
            .collect::<Vec<_>>()
    );
    for p in w.dc.messages_in(HELP) {
        assert!(!p.content.contains("Karin"), "{}", p.content);
    }
    w.no_protocol_errors();
    assert!(s.stop().success());
}

/// The flood limit is checked before a thread is made: a user mentioning
/// the bot in a help channel over and over gets threads only for the
/// messages within the limit, one "slow down" in place, then nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_flooding_user_gets_no_thread_beyond_the_flood_limit() {
    let w = world(DcConfig::default()).await;
    let s = w.serve(&[
        ("KRAFT_ASSISTANT__FLOOD_BURST", "2"),
        ("KRAFT_ASSISTANT__FLOOD_PER_MINUTE", "1"),
    ]);
    w.ready().await;
    let mut sent = Vec::new();
    for i in 0..5 {
        sent.push(w.say(
            &ANNA_SERVER,
            HELP,
            &format!("Fråga {i}: vad kostar det?"),
            true,
        ));
    }
    // Serenity hands each event to its own task, so which two are within
    // the limit depends on the order they are stored in; two of them.
    assert!(
        w.dc.wait_for(
            |d| d
                .messages_in(HELP)
                .iter()
                .any(|p| p.content.contains("Vänta gärna en minut"))
                && d.threads()
                    .iter()
                    .filter(|t| t.parent == HELP && !d.messages_in(t.id).is_empty())
                    .count()
                    == 2,
            WAIT
        )
        .await,
        "{:#?} {:#?}",
        w.dc.messages_in(HELP),
        w.dc.threads()
    );
    w.settle().await;
    let threads: Vec<u64> =
        w.dc.threads()
            .iter()
            .filter(|t| t.parent == HELP)
            .map(|t| t.id)
            .collect();
    assert_eq!(
        threads.len(),
        2,
        "threads only within the limit: {threads:?}"
    );
    assert!(threads.iter().all(|t| sent.contains(t)), "{threads:?}");
    let slow: Vec<Posted> = w.dc.messages_in(HELP);
    assert_eq!(slow.len(), 1, "one slow-down, in the channel");
    let to = slow[0].reply_to.expect("a reply to the message");
    assert!(sent.contains(&to) && !threads.contains(&to), "{to}");
    w.no_protocol_errors();
    assert!(s.stop().success());
}

/// `/forget` after a ticket: the ticket's private thread in the adviser
/// channel (the handoff summary with the user's words) is deleted, and
/// the reply says exactly what was deleted.
#[tokio::test(flavor = "multi_thread")]
async fn forget_deletes_the_tickets_adviser_thread_and_says_so() {
    let w = world(DcConfig::default()).await;
    let s = w.serve(&[]);
    w.ready().await;
    w.slash(
        &ANNA,
        SME_DM,
        "human",
        &[("message", "Zyxwvutsson AB vill ha hjälp med offerter")],
    );
    w.wait_in(SME_DM, 1).await;
    assert!(
        w.dc.wait_for(|d| d.threads().iter().any(|t| t.parent == ADVISERS), WAIT)
            .await
    );
    let th =
        w.dc.threads()
            .into_iter()
            .find(|t| t.parent == ADVISERS)
            .expect("ticket thread");
    let intro = w.wait_in(th.id, 1).await;
    assert!(
        intro[0].content.contains("Zyxwvutsson"),
        "{}",
        intro[0].content
    );

    w.slash(&ANNA, SME_DM, "forget", &[]);
    let got = w.wait_in(SME_DM, 2).await;
    w.press(&ANNA, SME_DM, "forget:yes", got[1].id);
    let got = w.wait_in(SME_DM, 3).await;
    let done = &got[2].content;
    assert!(done.contains("raderat ur min databas"), "{done}");
    assert!(done.contains("• 1 ärende hos rådgivarna"), "{done}");
    assert!(
        done.contains("ärende #1: tråden med det jag skrev om dig är raderad"),
        "{done}"
    );
    assert_eq!(w.dc.deleted_channels(), [th.id]);
    assert!(
        w.dc.messages()
            .iter()
            .filter(|p| p.content.contains("Zyxwvutsson"))
            .all(|p| p.deleted),
        "the summary is gone with its thread"
    );
    w.no_protocol_errors();
    assert!(s.stop().success());
}

/// The ticket thread in the adviser channel, and its first note.
async fn ticket_thread(w: &World) -> (u64, Posted) {
    assert!(
        w.dc.wait_for(|d| d.threads().iter().any(|t| t.parent == ADVISERS), WAIT)
            .await,
        "no ticket thread"
    );
    let th =
        w.dc.threads()
            .into_iter()
            .find(|t| t.parent == ADVISERS)
            .expect("ticket thread");
    let intro = w.wait_in(th.id, 1).await;
    (th.id, intro[0].clone())
}

#[tokio::test(flavor = "multi_thread")]
async fn what_was_sent_while_kraft_was_down_is_caught_up_once_after_a_new_session() {
    let w = world(DcConfig::default()).await;
    let s = w.serve(&[]);
    w.ready().await;
    w.dc.message_create(w.dc.dm(SME, "anna", SME_DM, QUESTION));
    w.wait_in(SME_DM, 1).await;
    w.slash(
        &ANNA,
        SME_DM,
        "human",
        &[("message", "Vi vill ha hjälp med offerter")],
    );
    w.wait_in(SME_DM, 2).await;
    let (th, intro) = ticket_thread(&w).await;
    w.press(&KARIN, th, "claim:1", intro.id);
    w.wait_in(SME_DM, 3).await;
    assert!(s.stop().success());

    // Kraft is away: the user asks again, the adviser answers in the
    // thread, and talks there without addressing the bot. Discord keeps
    // none of it for the next session.
    let dropped = w.dc.dropped_events();
    w.dc.message_create(w.dc.dm(SME, "anna", SME_DM, "Vad är en behovsanalys?"));
    let bot = kraft_tests::dc::BOT_ID;
    w.dc.message_create(w.dc.guild_message(
        ADVISER,
        "Karin",
        th,
        &format!("<@{bot}> Jag ringer er i morgon kl 10."),
        &[bot],
        &[ROLE],
    ));
    w.say(&KARIN, th, "", false);

    let s = w.serve(&[]);
    assert!(w.dc.wait_for(|d| d.identifies() == 2, WAIT).await);
    w.ready().await;
    assert!(
        w.dc.dropped_events() >= dropped + 3,
        "the double delivered events to a new session"
    );
    w.wait_in(SME_DM, 5).await;
    w.settle().await;
    let got = w.dc.messages_in(SME_DM);
    let texts: Vec<&str> = got.iter().map(|p| p.content.as_str()).collect();
    assert_eq!(got.len(), 5, "{texts:#?}");
    // The adviser has the conversation: what the user wrote went to her.
    assert!(
        texts[3..]
            .iter()
            .any(|t| t.contains("Skickat till rådgivaren")),
        "the message sent while away was not handled: {texts:#?}"
    );
    let notes = w.dc.messages_in(th);
    assert_eq!(
        notes
            .iter()
            .filter(|p| p.content.contains("Vad är en behovsanalys?"))
            .count(),
        1,
        "{:#?}",
        notes.iter().map(|p| &p.content).collect::<Vec<_>>()
    );
    assert_eq!(
        texts.iter().filter(|t| t.contains("kl 10")).count(),
        1,
        "the adviser's answer reaches the user once: {texts:#?}"
    );
    let notes = w.dc.messages_in(th);
    assert!(
        !notes.iter().any(|p| p.content.contains("/reply")),
        "chatter read back is not answered: {:#?}",
        notes.iter().map(|p| &p.content).collect::<Vec<_>>()
    );
    assert!(w
        .dc
        .calls()
        .iter()
        .any(|c| c.method == "GET" && c.path == format!("/channels/{SME_DM}/messages")));
    assert!(s.stop().success());

    // Another new session reads the same messages again (the catch-up
    // starts a margin before the last event seen): nothing twice.
    let s = w.serve(&[]);
    assert!(w.dc.wait_for(|d| d.identifies() == 3, WAIT).await);
    let reads = |d: &DcDouble| {
        d.calls()
            .iter()
            .filter(|c| c.method == "GET" && c.path == format!("/channels/{th}/messages"))
            .count()
    };
    assert!(w.dc.wait_for(|d| reads(d) >= 2, WAIT).await);
    w.settle().await;
    assert_eq!(w.dc.messages_in(SME_DM).len(), 5);
    w.no_protocol_errors();
    assert!(s.stop().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_resend_after_the_nonce_window_looks_in_the_channel_first() {
    let w = world(DcConfig {
        nonce_window_ms: 1000,
        ..DcConfig::default()
    })
    .await;
    let s = w.serve(&[("KRAFT_DISCORD__NONCE_WINDOW_SECS", "1")]);
    w.ready().await;
    // The answer is posted, and the response lost: Kraft cannot know.
    // Its retry comes after the nonce has expired.
    w.dc.fault("POST /channels/*/messages", Fault::DropAfter, 1);
    w.dc.message_create(w.dc.dm(SME, "anna", SME_DM, QUESTION));
    w.wait_in(SME_DM, 1).await;
    assert!(
        w.dc.wait_for(
            |d| d
                .calls()
                .iter()
                .any(|c| c.method == "GET" && c.path == format!("/channels/{SME_DM}/messages")),
            WAIT
        )
        .await,
        "the retry did not look in the channel: {}",
        s.log()
    );
    w.settle().await;
    assert_eq!(w.dc.faults_served(), 1);
    assert_eq!(
        w.dc.messages_in(SME_DM).len(),
        1,
        "posted twice after the nonce window"
    );
    // Inside the window the nonce is trusted: no read.
    w.dc.message_create(w.dc.dm(SME, "anna", SME_DM, "Vad är en behovsanalys?"));
    w.wait_in(SME_DM, 2).await;
    w.no_protocol_errors();
    assert!(s.stop().success());
}

/// Twenty users write at once; returns the global 429s Discord served.
async fn burst(rps: &str) -> usize {
    let w = world(DcConfig {
        global_per_sec: 8,
        ..DcConfig::default()
    })
    .await;
    let s = w.serve(&[("KRAFT_DISCORD__REQUESTS_PER_SECOND", rps)]);
    w.ready().await;
    let users: Vec<u64> = (0..20).map(|k| SME + 200 + k).collect();
    for &u in &users {
        w.dc.message_create(w.dc.dm(u, "sme", u + 1_000_000, QUESTION));
    }
    for &u in &users {
        w.wait_in(u + 1_000_000, 1).await;
    }
    w.settle().await;
    for &u in &users {
        assert_eq!(w.dc.messages_in(u + 1_000_000).len(), 1, "user {u}");
    }
    assert!(s.stop().success());
    w.dc.global_limited()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_stays_under_discords_global_limit() {
    // The same burst without a budget worth the name, then with one, both
    // against a limit of 8 a second.
    let unpaced = burst("1000").await;
    let paced = burst("5").await;
    eprintln!("global 429s: {unpaced} without a budget, {paced} at 5 requests/s");
    assert!(
        unpaced > 0,
        "the burst never went over the limit, so this test shows nothing"
    );
    assert_eq!(paced, 0, "Kraft went over Discord's global limit");
}

/// The adviser channel refuses ticket threads (the bot lost *Create
/// Private Threads*): `/healthz` turns 503 and names it, the note waits
/// instead of being dropped, and once the right is back the thread is
/// made and `/healthz` is 200 again.
#[tokio::test(flavor = "multi_thread")]
async fn healthz_degrades_while_the_adviser_channel_refuses_threads() {
    let w = world(DcConfig::default()).await;
    let s = w.serve(&[]);
    w.ready().await;
    w.dc.fault(
        "POST /channels/*/threads",
        Fault::Forbidden { code: 50013 },
        usize::MAX,
    );
    w.slash(
        &ANNA,
        SME_DM,
        "human",
        &[("message", "Vi vill ha hjälp med offerter")],
    );
    w.wait_in(SME_DM, 1).await;
    let end = std::time::Instant::now() + WAIT;
    let (mut code, mut body) = s.get("/healthz").await;
    while code == 200 && std::time::Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(100)).await;
        (code, body) = s.get("/healthz").await;
    }
    assert_eq!(code, 503, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(v["discord"]["adviser_channel_ok"], false, "{body}");
    assert_eq!(v["discord"]["adviser_channel_error"], "no_rights", "{body}");
    assert_eq!(v["discord"]["connected"], true, "{body}");

    w.dc.clear_faults();
    assert!(
        w.dc.wait_for(|d| d.threads().iter().any(|t| t.parent == ADVISERS), WAIT)
            .await,
        "the waiting note made its thread once the right was back"
    );
    let end = std::time::Instant::now() + WAIT;
    while code != 200 && std::time::Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(100)).await;
        (code, body) = s.get("/healthz").await;
    }
    assert_eq!(code, 200, "{body}");
    w.no_protocol_errors();
}

/// Language and privacy on first contact through a slash command: an
/// English client's first `/start` is English (from the interaction's
/// `locale`), the first question brings the privacy notice once, the
/// next DM message does not; `/lang sv` as a slash command with its
/// choice; the same commands as Telegram are registered, and `/reply` is
/// hidden from members by default.
#[tokio::test(flavor = "multi_thread")]
async fn first_contact_by_slash_command_speaks_the_clients_language_and_notices_once() {
    let w = world(DcConfig::default()).await;
    let _s = w.serve(&[]);
    w.ready().await;

    let reg = w.dc.commands();
    let last = reg
        .iter()
        .rev()
        .find(|r| r.guild.is_none())
        .expect("global commands");
    let by_name = |n: &str| {
        last.commands
            .iter()
            .find(|c| c["name"] == n)
            .unwrap_or_else(|| panic!("no /{n}: {:?}", last.commands))
            .clone()
    };
    for n in [
        "start", "help", "ask", "events", "analys", "match", "human", "lang", "privacy", "forget",
    ] {
        assert!(
            by_name(n)["default_member_permissions"].is_null(),
            "/{n} is for everyone"
        );
    }
    assert_eq!(by_name("reply")["default_member_permissions"], "0");
    assert_eq!(
        by_name("start")["contexts"],
        serde_json::json!([0, 1]),
        "DMs too"
    );
    assert_eq!(
        by_name("reply")["contexts"],
        serde_json::json!([0]),
        "servers only"
    );
    let lang = by_name("lang");
    assert_eq!(
        lang["options"][0]["choices"].as_array().map(Vec::len),
        Some(2),
        "{lang}"
    );

    let start = seq();
    w.dc.interaction_create(w.dc.slash(start, SME, "anna", SME_DM, None, "en-US", "start", &[]));
    let got = w.wait_in(SME_DM, 1).await;
    assert!(
        got[0].content.starts_with("Hi! I'm Kraft"),
        "{}",
        got[0].content
    );
    assert!(ids(&got[0]).contains(&"lang:sv"), "{:?}", got[0].buttons);

    // Another person, whose first contact is a question by slash command.
    let q = seq();
    w.dc.interaction_create(w.dc.slash(
        q,
        SME + 7,
        "per",
        SME_DM + 7,
        None,
        "sv-SE",
        "ask",
        &[("question", QUESTION)],
    ));
    let got = w.wait_in(SME_DM + 7, 1).await;
    let all: String = got.iter().map(|p| p.content.as_str()).collect();
    assert_eq!(all.matches("🔒 Integritet:").count(), 1, "{all}");
    w.dc.message_create(w.dc.dm(SME + 7, "per", SME_DM + 7, "Vad är en behovsanalys?"));
    let got = w.wait_in(SME_DM + 7, 2).await;
    assert!(!got[1].content.contains("🔒"), "once: {}", got[1].content);

    // /lang with its choice.
    let l = seq();
    w.dc.interaction_create(w.dc.slash(
        l,
        SME + 7,
        "per",
        SME_DM + 7,
        None,
        "sv-SE",
        "lang",
        &[("language", "en")],
    ));
    let got = w.wait_in(SME_DM + 7, 3).await;
    assert_eq!(got[2].content, "I'll answer in English from now on.");
    w.no_protocol_errors();
}
