//! The Discord double against the real serenity 0.12.5 client: its
//! events deserialise into serenity's models, serenity's gateway client
//! identifies, receives and resumes against it, serenity's HTTP client
//! (ratelimiter included) gets answers it accepts, and the double enforces
//! the Discord rules the adapter must live with. Everything is on
//! 127.0.0.1; each test takes a few seconds at most.

use std::time::{Duration, Instant};

use kraft_tests::dc::{self, DcConfig, DcDouble, Fault, Via};
use serde_json::{json, Value};
use serenity::all::{
    ChannelId, ChannelType, Client, ClientBuilder, Command, CommandDataOptionValue,
    ComponentInteractionDataKind, Context, CreateActionRow, CreateButton, CreateCommand,
    CreateEmbed, CreateInteractionResponse, CreateInteractionResponseFollowup,
    CreateInteractionResponseMessage, CreateMessage, CreateThread, EditInteractionResponse,
    EventHandler, GatewayIntents, GuildId, Http, HttpBuilder, Interaction, InteractionId, Message,
    Ready, ResumedEvent, UserId,
};
use serenity::gateway::GatewayError;
use serenity::model::event::{Event, GatewayEvent};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

const WAIT: Duration = Duration::from_secs(5);
const USER: u64 = 1_300_000_000_000_000_500;
const DM_CHANNEL: u64 = 1_300_000_000_000_000_600;
const TEXT_CHANNEL: u64 = 1_300_000_000_000_000_700;

#[derive(Debug)]
enum Ev {
    Ready(Box<Ready>),
    Message(Box<Message>),
    Interaction(Box<Interaction>),
    Resumed,
}

/// Forwards what serenity hands an adapter into a channel.
struct Fwd(UnboundedSender<Ev>);

#[serenity::async_trait]
impl EventHandler for Fwd {
    async fn ready(&self, _: Context, r: Ready) {
        let _ = self.0.send(Ev::Ready(Box::new(r)));
    }
    async fn message(&self, _: Context, m: Message) {
        let _ = self.0.send(Ev::Message(Box::new(m)));
    }
    async fn interaction_create(&self, _: Context, i: Interaction) {
        let _ = self.0.send(Ev::Interaction(Box::new(i)));
    }
    async fn resume(&self, _: Context, _: ResumedEvent) {
        let _ = self.0.send(Ev::Resumed);
    }
}

fn intents() -> GatewayIntents {
    GatewayIntents::DIRECT_MESSAGES | GatewayIntents::GUILD_MESSAGES | GatewayIntents::GUILDS
}

struct Running {
    http: std::sync::Arc<Http>,
    events: UnboundedReceiver<Ev>,
    task: tokio::task::JoinHandle<serenity::Result<()>>,
}

/// A serenity client on `http`, started in the background.
async fn start_client(http: Http) -> Running {
    let (tx, events) = unbounded_channel();
    let mut client: Client = ClientBuilder::new_with_http(http, intents())
        .event_handler(Fwd(tx))
        .await
        .expect("serenity client");
    let http = client.http.clone();
    let task = tokio::spawn(async move { client.start().await });
    Running { http, events, task }
}

async fn next_event(rx: &mut UnboundedReceiver<Ev>, what: &str) -> Ev {
    match tokio::time::timeout(WAIT, rx.recv()).await {
        Ok(Some(e)) => e,
        _ => panic!("no {what} from serenity within {WAIT:?}"),
    }
}

/// The next message event, skipping others.
async fn next_message(rx: &mut UnboundedReceiver<Ev>) -> Message {
    loop {
        if let Ev::Message(m) = next_event(rx, "message").await {
            return *m;
        }
    }
}

async fn next_interaction(rx: &mut UnboundedReceiver<Ev>) -> Interaction {
    loop {
        if let Ev::Interaction(i) = next_event(rx, "interaction").await {
            return *i;
        }
    }
}

async fn wait_ready(rx: &mut UnboundedReceiver<Ev>) -> Ready {
    loop {
        if let Ev::Ready(r) = next_event(rx, "READY").await {
            return *r;
        }
    }
}

/// The JSON error code of a failed serenity HTTP call.
fn discord_code(e: &serenity::Error) -> (u16, isize) {
    match e {
        serenity::Error::Http(serenity::http::HttpError::UnsuccessfulRequest(r)) => {
            (r.status_code.as_u16(), r.error.code)
        }
        other => panic!("expected an unsuccessful request, got {other:?}"),
    }
}

#[test]
fn event_builders_deserialise_into_serenity_models() {
    let ev = |t: &str, d: Value| -> Event {
        match serde_json::from_value::<GatewayEvent>(json!({"op": 0, "s": 7, "t": t, "d": d})) {
            Ok(GatewayEvent::Dispatch(7, e)) => e,
            other => panic!("{t} did not deserialise as a dispatch: {other:?}"),
        }
    };

    let Event::MessageCreate(m) = ev("MESSAGE_CREATE", dc::dm(USER, "Anna", DM_CHANNEL, "hej"))
    else {
        panic!("not a message")
    };
    assert_eq!(m.message.content, "hej");
    assert_eq!(m.message.author.id.get(), USER);
    assert_eq!(m.message.author.name, "Anna");
    assert_eq!(m.message.channel_id.get(), DM_CHANNEL);
    assert!(m.message.guild_id.is_none());
    assert!(!m.message.author.bot);

    let Event::MessageCreate(m) = ev(
        "MESSAGE_CREATE",
        dc::guild_message(
            USER,
            "Anna",
            TEXT_CHANNEL,
            &format!("<@{}> hej", dc::BOT_ID),
            &[dc::BOT_ID],
            &[11, 12],
        ),
    ) else {
        panic!("not a message")
    };
    assert_eq!(m.message.guild_id.map(|g| g.get()), Some(dc::GUILD_ID));
    let member = m.message.member.as_ref().expect("member");
    assert_eq!(
        member.roles.iter().map(|r| r.get()).collect::<Vec<_>>(),
        [11, 12]
    );
    assert!(m.message.mentions_user_id(UserId::new(dc::BOT_ID)));
    assert!(m.message.mentions[0].bot);

    for guild in [Some((dc::GUILD_ID, vec![11u64])), None] {
        let v = dc::slash(
            900,
            USER,
            "Anna",
            TEXT_CHANNEL,
            guild.clone(),
            "sv-SE",
            "fraga",
            &[("text", "Vad kostar det?")],
        );
        let Event::InteractionCreate(i) = ev("INTERACTION_CREATE", v) else {
            panic!("not an interaction")
        };
        let Interaction::Command(c) = i.interaction else {
            panic!("slash is not Interaction::Command")
        };
        assert_eq!(c.id.get(), 900);
        assert_eq!(c.token, "itok-900");
        assert_eq!(c.application_id.get(), dc::APP_ID);
        assert_eq!(c.data.name, "fraga");
        assert_eq!(c.locale, "sv-SE");
        assert_eq!(c.channel_id.get(), TEXT_CHANNEL);
        // In a guild serenity copies member.user into `user`.
        assert_eq!(c.user.id.get(), USER);
        assert_eq!(c.user.name, "Anna");
        assert_eq!(
            c.data.options[0].value,
            CommandDataOptionValue::String("Vad kostar det?".into())
        );
        match guild {
            Some(_) => {
                assert_eq!(c.guild_id.map(|g| g.get()), Some(dc::GUILD_ID));
                let member = c.member.expect("member");
                assert_eq!(member.roles[0].get(), 11);
                assert_eq!(member.guild_id.get(), dc::GUILD_ID);
            }
            None => {
                assert!(c.guild_id.is_none());
                assert!(c.member.is_none());
            }
        }
    }

    let v = dc::button(
        901,
        USER,
        "Anna",
        DM_CHANNEL,
        None,
        "feedback:up",
        1_300_000_000_000_000_999,
    );
    let Event::InteractionCreate(i) = ev("INTERACTION_CREATE", v) else {
        panic!("not an interaction")
    };
    let Interaction::Component(c) = i.interaction else {
        panic!("button is not Interaction::Component")
    };
    assert_eq!(c.data.custom_id, "feedback:up");
    assert!(matches!(c.data.kind, ComponentInteractionDataKind::Button));
    assert_eq!(c.message.id.get(), 1_300_000_000_000_000_999);
    assert_eq!(c.message.author.id.get(), dc::BOT_ID);
    assert_eq!(c.token, "itok-901");
    assert_eq!(c.user.id.get(), USER);
}

#[tokio::test]
async fn serenity_client_gets_ready_dm_slash_and_button_and_answers_reach_the_double() {
    let d = DcDouble::start(DcConfig::default()).await;
    d.add_channel(TEXT_CHANNEL, "allmänt");
    let mut c = start_client(d.serenity_http()).await;

    let ready = wait_ready(&mut c.events).await;
    assert_eq!(ready.user.id.get(), dc::BOT_ID);
    assert_eq!(ready.application.id.get(), dc::APP_ID);
    assert_eq!(d.identifies(), 1);
    assert_eq!(d.intents(), Some(intents().bits()));

    // A DM.
    d.message_create(d.dm(USER, "Anna", DM_CHANNEL, "Hej, vad gör ni?"));
    let m = next_message(&mut c.events).await;
    assert_eq!(m.content, "Hej, vad gör ni?");
    assert!(m.guild_id.is_none());

    // Without MESSAGE_CONTENT a guild message not mentioning the bot has
    // no content; one mentioning it does (Discord's rule).
    d.message_create(d.guild_message(USER, "Anna", TEXT_CHANNEL, "bara prat", &[], &[]));
    let m = next_message(&mut c.events).await;
    assert_eq!(m.content, "");
    let text = format!("<@{}> en fråga", dc::BOT_ID);
    d.message_create(d.guild_message(USER, "Anna", TEXT_CHANNEL, &text, &[dc::BOT_ID], &[5]));
    let m = next_message(&mut c.events).await;
    assert_eq!(m.content, text);

    // A slash command in the guild: defer, then edit the answer in.
    let v = d.slash(
        5001,
        USER,
        "Anna",
        TEXT_CHANNEL,
        Some((dc::GUILD_ID, vec![5])),
        "sv-SE",
        "fraga",
        &[("text", "Vad kostar en behovsanalys?")],
    );
    d.interaction_create(v);
    let Interaction::Command(cmd) = next_interaction(&mut c.events).await else {
        panic!("slash did not arrive as Interaction::Command")
    };
    assert_eq!(
        cmd.data.options[0].value.as_str(),
        Some("Vad kostar en behovsanalys?")
    );
    cmd.create_response(
        &c.http,
        CreateInteractionResponse::Defer(CreateInteractionResponseMessage::new()),
    )
    .await
    .expect("defer");
    // Discord refuses a second callback with 40060; serenity surfaces it.
    let again = cmd
        .create_response(
            &c.http,
            CreateInteractionResponse::Defer(CreateInteractionResponseMessage::new()),
        )
        .await
        .expect_err("a second callback is refused");
    assert_eq!(discord_code(&again), (400, 40060));
    assert_eq!(d.double_acks(), 1);
    let first = cmd
        .edit_response(&c.http, EditInteractionResponse::new().content("Tänker…"))
        .await
        .expect("edit original");
    let answer = cmd
        .edit_response(
            &c.http,
            EditInteractionResponse::new()
                .content("Den är kostnadsfri.")
                .components(vec![CreateActionRow::Buttons(vec![CreateButton::new(
                    "feedback:up",
                )
                .label("👍")])]),
        )
        .await
        .expect("edit original again");
    assert_eq!(first.id, answer.id, "@original is one message");
    assert_eq!(answer.channel_id.get(), TEXT_CHANNEL);
    let follow = cmd
        .create_followup(
            &c.http,
            CreateInteractionResponseFollowup::new().content("Källa: Almi"),
        )
        .await
        .expect("follow-up");
    assert_ne!(follow.id, answer.id);
    assert!(d.wait_messages_in(TEXT_CHANNEL, 2, WAIT).await);
    let msgs = d.messages_in(TEXT_CHANNEL);
    assert_eq!(msgs[0].content, "Den är kostnadsfri.");
    assert_eq!(msgs[0].via, Via::Original { interaction: 5001 });
    assert_eq!(msgs[0].edits, 1);
    assert_eq!(
        msgs[0].buttons,
        vec![("feedback:up".to_string(), "👍".to_string())]
    );
    assert_eq!(msgs[1].via, Via::Followup { interaction: 5001 });
    assert_eq!(d.callbacks(), vec![(5001, 5, 0)]);

    // A button on that answer, answered with a deferred update.
    let v = d.button(
        5002,
        USER,
        "Anna",
        TEXT_CHANNEL,
        Some((dc::GUILD_ID, vec![5])),
        "feedback:up",
        answer.id.get(),
    );
    d.interaction_create(v);
    let Interaction::Component(b) = next_interaction(&mut c.events).await else {
        panic!("button did not arrive as Interaction::Component")
    };
    assert_eq!(b.data.custom_id, "feedback:up");
    assert_eq!(b.message.id, answer.id);
    assert_eq!(b.message.content, "Den är kostnadsfri.");
    b.create_response(&c.http, CreateInteractionResponse::Acknowledge)
        .await
        .expect("deferred update");
    assert_eq!(d.callbacks().last(), Some(&(5002, 6, 0)));

    assert!(d.unknown_routes().is_empty(), "{:?}", d.unknown_routes());
    c.task.abort();
}

#[tokio::test]
async fn a_429_is_retried_by_serenitys_ratelimiter_after_retry_after() {
    let d = DcDouble::start(DcConfig::default()).await;
    d.add_channel(TEXT_CHANNEL, "allmänt");
    let http = d.serenity_http();
    d.fault(
        "POST /channels/*/messages",
        Fault::RateLimited {
            retry_after_ms: 300,
        },
        1,
    );
    let t0 = Instant::now();
    let m = ChannelId::new(TEXT_CHANNEL)
        .send_message(
            &http,
            CreateMessage::new()
                .content("hej")
                .embed(CreateEmbed::new().title("Almi").description("Lån")),
        )
        .await
        .expect("serenity retries a 429 by itself");
    assert!(
        t0.elapsed() >= Duration::from_millis(300),
        "waited retry_after"
    );
    assert_eq!(m.embeds[0].title.as_deref(), Some("Almi"));
    assert_eq!(d.rate_limited(), 1);
    assert_eq!(d.messages_in(TEXT_CHANNEL).len(), 1);
    let posts: Vec<u16> = d
        .calls()
        .iter()
        .filter(|c| c.method == "POST" && c.path.ends_with("/messages"))
        .map(|c| c.status)
        .collect();
    assert_eq!(posts, vec![429, 200]);

    // A global 429 too.
    d.fault(
        "POST /channels/*/messages",
        Fault::GlobalRateLimited {
            retry_after_ms: 100,
        },
        1,
    );
    ChannelId::new(TEXT_CHANNEL)
        .say(&http, "igen")
        .await
        .expect("global 429 retried");
    assert_eq!(d.rate_limited(), 2);
    assert_eq!(d.messages_in(TEXT_CHANNEL).len(), 2);

    // 5xx and 403 are not retried: the caller sees them.
    d.fault("POST /channels/*/messages", Fault::ServerError, 1);
    let e = ChannelId::new(TEXT_CHANNEL)
        .say(&http, "x")
        .await
        .expect_err("502");
    assert_eq!(discord_code(&e).0, 502);
    d.fault("POST /channels/*/messages", Fault::CannotDm, 1);
    let e = ChannelId::new(TEXT_CHANNEL)
        .say(&http, "x")
        .await
        .expect_err("50007");
    assert_eq!(discord_code(&e), (403, 50007));
    assert_eq!(d.messages_in(TEXT_CHANNEL).len(), 2);
}

#[tokio::test]
async fn proxy_mode_works_only_with_the_ratelimiter_disabled_and_then_429_is_an_error() {
    let d = DcDouble::start(DcConfig::default()).await;
    let http = HttpBuilder::new(dc::TOKEN)
        .proxy(d.api_url())
        .ratelimiter_disabled(true)
        .build();
    let me = http.get_current_user().await.expect("GET /users/@me");
    assert_eq!(me.id.get(), dc::BOT_ID);
    assert!(me.bot);
    d.fault(
        "GET /users/@me",
        Fault::RateLimited { retry_after_ms: 50 },
        1,
    );
    let e = http
        .get_current_user()
        .await
        .expect_err("no ratelimiter, no retry");
    // Discord's 429 body has no "code"; serenity reports -1 then.
    assert_eq!(discord_code(&e), (429, -1));
    let calls = d.calls();
    assert!(calls.iter().all(|c| c.path == "/users/@me"), "{calls:?}");
}

#[tokio::test]
async fn wrong_token_gets_401_on_rest_and_4004_on_the_gateway() {
    let d = DcDouble::start(DcConfig::default()).await;
    let e = d
        .serenity_http_as("not-the-token")
        .get_current_user()
        .await
        .expect_err("401");
    assert_eq!(discord_code(&e), (401, 0));
    assert_eq!(d.calls()[0].status, 401);

    // GET /gateway needs no token, so serenity reaches IDENTIFY and the
    // gateway closes with 4004; Client::start returns that error.
    let c = start_client(d.serenity_http_as("not-the-token")).await;
    let r = tokio::time::timeout(WAIT, c.task)
        .await
        .expect("start() returns")
        .expect("join");
    assert!(
        matches!(
            r,
            Err(serenity::Error::Gateway(
                GatewayError::InvalidAuthentication
            ))
        ),
        "{r:?}"
    );
    assert_eq!(d.identifies(), 1);
}

#[tokio::test]
async fn close_4014_after_identify_ends_client_start_without_reconnecting() {
    let d = DcDouble::start(DcConfig {
        close_after_identify: Some(4014),
        ..DcConfig::default()
    })
    .await;
    let c = start_client(d.serenity_http()).await;
    let r = tokio::time::timeout(WAIT, c.task)
        .await
        .expect("start() returns within 5 s")
        .expect("join");
    assert!(
        matches!(
            r,
            Err(serenity::Error::Gateway(
                GatewayError::DisallowedGatewayIntents
            ))
        ),
        "{r:?}"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(d.identifies(), 1);
    assert_eq!(d.connections(), 1);

    // The same close comes from asking for a privileged intent the portal
    // has not switched on.
    let d = DcDouble::start(DcConfig {
        privileged_intents: 0,
        ..DcConfig::default()
    })
    .await;
    let (tx, _rx) = unbounded_channel();
    let mut client = ClientBuilder::new_with_http(
        d.serenity_http(),
        intents() | GatewayIntents::MESSAGE_CONTENT,
    )
    .event_handler(Fwd(tx))
    .await
    .expect("client");
    let r = tokio::time::timeout(WAIT, client.start())
        .await
        .expect("start() returns");
    assert!(
        matches!(
            r,
            Err(serenity::Error::Gateway(
                GatewayError::DisallowedGatewayIntents
            ))
        ),
        "{r:?}"
    );
}

#[tokio::test]
async fn reconnect_makes_serenity_resume_and_a_missed_event_arrives_once() {
    let d = DcDouble::start(DcConfig::default()).await;
    let mut c = start_client(d.serenity_http()).await;
    wait_ready(&mut c.events).await;
    d.message_create(d.dm(USER, "Anna", DM_CHANNEL, "före"));
    assert_eq!(next_message(&mut c.events).await.content, "före");

    assert!(d.reconnect());
    // Dispatched while serenity is between sockets: kept for the replay.
    d.message_create(d.dm(USER, "Anna", DM_CHANNEL, "under"));
    let mut got_under = 0;
    let mut resumed = false;
    let end = Instant::now() + WAIT;
    while !(resumed && got_under > 0) && Instant::now() < end {
        match next_event(&mut c.events, "replay and RESUMED").await {
            Ev::Message(m) if m.content == "under" => got_under += 1,
            Ev::Resumed => resumed = true,
            Ev::Ready(_) => panic!("serenity re-identified instead of resuming"),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(resumed, "no RESUMED");
    assert_eq!(got_under, 1);
    assert_eq!(d.resumes(), 1);
    assert_eq!(d.identifies(), 1);
    assert!(d.is_live());

    d.message_create(d.dm(USER, "Anna", DM_CHANNEL, "efter"));
    assert_eq!(next_message(&mut c.events).await.content, "efter");
    // Nothing arrives twice.
    assert!(
        tokio::time::timeout(Duration::from_millis(800), c.events.recv())
            .await
            .is_err(),
        "an event was delivered twice"
    );
    c.task.abort();
}

#[tokio::test]
async fn events_made_while_no_session_exists_are_lost_to_the_gateway_but_listed_over_rest() {
    let d = DcDouble::start(DcConfig::default()).await;
    d.message_create(d.dm(USER, "Anna", DM_CHANNEL, "tidig"));
    assert_eq!(d.dropped_events(), 1);
    let mut c = start_client(d.serenity_http()).await;
    wait_ready(&mut c.events).await;
    assert!(
        tokio::time::timeout(Duration::from_millis(800), next_message(&mut c.events))
            .await
            .is_err(),
        "a new session got an event made before it existed"
    );
    // The message is there for a bot that reads the channel.
    let got = c
        .http
        .get_messages(ChannelId::new(DM_CHANNEL), None, Some(10))
        .await
        .expect("serenity reads the history");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].content, "tidig");
    assert_eq!(got[0].author.id.get(), USER);
    assert!(got[0].guild_id.is_none() && got[0].member.is_none());

    // A session the client does not resume: what it kept is lost too.
    d.message_create(d.dm(USER, "Anna", DM_CHANNEL, "före"));
    assert_eq!(next_message(&mut c.events).await.content, "före");
    assert!(d.invalidate_session(false));
    d.message_create(d.dm(USER, "Anna", DM_CHANNEL, "mellan"));
    // Serenity's shard queue waits 5 s between IDENTIFYs.
    let again = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            match c.events.recv().await {
                Some(Ev::Ready(_)) => return true,
                Some(Ev::Message(m)) => panic!("{:?} reached the new session", m.content),
                Some(_) => {}
                None => return false,
            }
        }
    })
    .await;
    assert_eq!(again, Ok(true), "serenity did not identify again");
    d.message_create(d.dm(USER, "Anna", DM_CHANNEL, "efter"));
    assert_eq!(next_message(&mut c.events).await.content, "efter");
    assert_eq!(d.identifies(), 2);
    assert_eq!(d.dropped_events(), 2, "'mellan' was lost with the session");
    c.task.abort();
}

#[tokio::test]
async fn message_history_pages_as_discord_does_and_members_have_roles() {
    let d = DcDouble::start(DcConfig::default()).await;
    let http = d.serenity_http();
    let ch = ChannelId::new(TEXT_CHANNEL);
    let mut ids = Vec::new();
    for k in 0..5 {
        let m = d.guild_message(USER, "Anna", TEXT_CHANNEL, &format!("m{k}"), &[], &[42]);
        ids.push(
            m["id"]
                .as_str()
                .and_then(|s| s.parse::<u64>().ok())
                .expect("id"),
        );
        d.message_create(m);
    }
    let mine = ch.say(&http, "svar").await.expect("post");
    // `after`: the messages right after that id, newest first.
    let after = http
        .get_messages(
            ch,
            Some(serenity::all::MessagePagination::After(ids[1].into())),
            Some(2),
        )
        .await
        .expect("after");
    let got: Vec<&str> = after.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(got, ["m3", "m2"]);
    // No pagination: the newest, the bot's own included, without a nonce.
    let newest = http.get_messages(ch, None, Some(2)).await.expect("newest");
    assert_eq!(newest[0].id, mine.id);
    assert!(newest[0].author.bot && newest[0].nonce.is_none());
    assert_eq!(newest[1].content, "m4");
    let before = http
        .get_messages(
            ch,
            Some(serenity::all::MessagePagination::Before(ids[1].into())),
            None,
        )
        .await
        .expect("before");
    assert_eq!(before.len(), 1);
    let e = http
        .get_messages(ChannelId::new(9), None, None)
        .await
        .expect_err("unknown channel");
    assert_eq!(discord_code(&e), (404, 10003));
    // Roles come from what the member did; strangers are unknown.
    let member = http
        .get_member(GuildId::new(dc::GUILD_ID), UserId::new(USER))
        .await
        .expect("member");
    assert_eq!(
        member.roles.iter().map(|r| r.get()).collect::<Vec<_>>(),
        [42]
    );
    let e = http
        .get_member(GuildId::new(dc::GUILD_ID), UserId::new(77))
        .await
        .expect_err("unknown member");
    assert_eq!(discord_code(&e), (404, 10007));
}

#[tokio::test]
async fn a_nonce_de_duplicates_only_inside_its_window() {
    let d = DcDouble::start(DcConfig {
        nonce_window_ms: 400,
        ..DcConfig::default()
    })
    .await;
    d.add_channel(TEXT_CHANNEL, "allmänt");
    let http = d.serenity_http();
    let ch = ChannelId::new(TEXT_CHANNEL);
    let body = json!({"content": "en gång", "nonce": "k1.0", "enforce_nonce": true});
    let first = http.send_message(ch, vec![], &body).await.expect("first");
    let again = http.send_message(ch, vec![], &body).await.expect("again");
    assert_eq!(first.id, again.id, "inside the window: the first message");
    assert_eq!(d.deduped(), 1);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let late = http.send_message(ch, vec![], &body).await.expect("late");
    assert_ne!(late.id, first.id, "after the window: a second message");
    assert_eq!(d.messages_in(TEXT_CHANNEL).len(), 2);

    // A response lost after the message was made: serenity sees an
    // error, the message exists.
    d.fault("POST /channels/*/messages", Fault::DropAfter, 1);
    let e = ch.say(&http, "tappat svar").await;
    assert!(e.is_err(), "the client cannot know it worked");
    assert_eq!(d.messages_in(TEXT_CHANNEL).len(), 3);
}

#[tokio::test]
async fn the_global_limit_is_enforced_and_serenity_waits_it_out() {
    let d = DcDouble::start(DcConfig {
        global_per_sec: 4,
        ..DcConfig::default()
    })
    .await;
    d.add_channel(TEXT_CHANNEL, "allmänt");
    let http = std::sync::Arc::new(d.serenity_http());
    http.set_application_id(dc::APP_ID.into());
    // Ten requests at once on different routes (no per-route bucket
    // slows them): over the global limit, Discord answers 429 global;
    // serenity waits and retries, so all arrive.
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for k in 0..10u64 {
        let http = http.clone();
        tasks.push(tokio::spawn(async move {
            ChannelId::new(TEXT_CHANNEL + k % 2)
                .say(&http, format!("m{k}"))
                .await
                .map(|_| ())
                .or_else(|e| match discord_code(&e) {
                    (404, 10003) => Ok(()),
                    other => Err(other),
                })
        }));
    }
    for t in tasks {
        t.await
            .expect("task")
            .expect("every request gets through in the end");
    }
    assert!(
        d.global_limited() > 0,
        "ten requests in a second went unpunished"
    );
    assert!(
        t0.elapsed() >= Duration::from_millis(900),
        "waited for the next second"
    );
    assert_eq!(d.messages_in(TEXT_CHANNEL).len(), 5);
    // Interaction callbacks do not count.
    let before = d.global_limited();
    for i in 0..6u64 {
        let id = 8000 + i;
        d.interaction_create(d.slash(id, USER, "Anna", DM_CHANNEL, None, "en-US", "fraga", &[]));
        http.create_interaction_response(
            InteractionId::new(id),
            &format!("itok-{id}"),
            &json!({"type": 5, "data": {}}),
            vec![],
        )
        .await
        .expect("callback");
    }
    assert_eq!(d.global_limited(), before);
}

#[tokio::test]
async fn an_interaction_token_expires() {
    let d = DcDouble::start(DcConfig {
        token_ttl_ms: 600,
        ..DcConfig::default()
    })
    .await;
    let http = d.serenity_http();
    http.set_application_id(dc::APP_ID.into());
    d.interaction_create(d.slash(7101, USER, "Anna", DM_CHANNEL, None, "en-US", "fraga", &[]));
    http.create_interaction_response(
        InteractionId::new(7101),
        "itok-7101",
        &json!({"type": 5, "data": {}}),
        vec![],
    )
    .await
    .expect("ack");
    http.edit_original_interaction_response("itok-7101", &json!({"content": "snart"}), vec![])
        .await
        .expect("inside the token's life");
    tokio::time::sleep(Duration::from_millis(700)).await;
    let e = http
        .edit_original_interaction_response("itok-7101", &json!({"content": "sent"}), vec![])
        .await
        .expect_err("expired");
    assert_eq!(discord_code(&e), (404, 10015));
    let e = http
        .create_followup_message("itok-7101", &json!({"content": "sent"}), vec![])
        .await
        .expect_err("expired");
    assert_eq!(discord_code(&e), (404, 10015));
}

#[tokio::test]
async fn rest_routes_follow_discords_rules() {
    let d = DcDouble::start(DcConfig::default()).await;
    d.add_channel(TEXT_CHANNEL, "allmänt");
    let http = d.serenity_http();
    http.set_application_id(dc::APP_ID.into());
    let ch = ChannelId::new(TEXT_CHANNEL);

    // Channels.
    let chan = ch.to_channel(&http).await.expect("GET channel");
    let g = chan.guild().expect("a guild channel");
    assert_eq!(g.name, "allmänt");
    assert_eq!(g.kind, ChannelType::Text);
    let e = ChannelId::new(42)
        .to_channel(&http)
        .await
        .expect_err("unknown");
    assert_eq!(discord_code(&e), (404, 10003));
    let e = ChannelId::new(42)
        .say(&http, "hej")
        .await
        .expect_err("unknown");
    assert_eq!(discord_code(&e), (404, 10003));

    // Nonce de-duplication.
    let send = || {
        ch.send_message(
            &http,
            CreateMessage::new()
                .content("en gång")
                .nonce(serenity::all::Nonce::String("kraft-1".into()))
                .enforce_nonce(true),
        )
    };
    let a = send().await.expect("first");
    let b = send().await.expect("second");
    assert_eq!(a.id, b.id);
    assert_eq!(d.messages_in(TEXT_CHANNEL).len(), 1);
    assert_eq!(d.deduped(), 1);
    assert_eq!(
        d.messages_in(TEXT_CHANNEL)[0].nonce.as_deref(),
        Some("kraft-1")
    );
    let e = ch
        .send_message(&http, CreateMessage::new())
        .await
        .expect_err("empty");
    assert_eq!(discord_code(&e), (400, 50006));

    // A reply to a user's message the double dispatched.
    let user_msg = d.guild_message(USER, "Anna", TEXT_CHANNEL, "fråga", &[], &[]);
    let user_msg_id: u64 = user_msg["id"].as_str().expect("id").parse().expect("u64");
    d.message_create(user_msg);
    let r = ch
        .send_message(
            &http,
            CreateMessage::new()
                .content("svar")
                .reference_message((ch, user_msg_id.into())),
        )
        .await
        .expect("reply");
    assert_eq!(d.messages_in(TEXT_CHANNEL)[1].reply_to, Some(user_msg_id));
    assert!(r.message_reference.is_some());

    // Threads: from a message (same id), once; and without a message.
    let t = ch
        .create_thread_from_message(&http, user_msg_id, CreateThread::new("Fråga från Anna"))
        .await
        .expect("thread from message");
    assert_eq!(t.id.get(), user_msg_id);
    assert_eq!(t.kind, ChannelType::PublicThread);
    assert_eq!(t.parent_id, Some(ch));
    let e = ch
        .create_thread_from_message(&http, user_msg_id, CreateThread::new("igen"))
        .await
        .expect_err("one thread per message");
    assert_eq!(discord_code(&e), (400, 160004));
    let p = ch
        .create_thread(
            &http,
            CreateThread::new("Privat")
                .kind(ChannelType::PrivateThread)
                .invitable(false),
        )
        .await
        .expect("private thread");
    assert_eq!(p.kind, ChannelType::PrivateThread);
    assert!(!p.thread_metadata.expect("metadata").invitable);
    let threads = d.threads();
    assert_eq!(threads.len(), 2);
    assert_eq!((threads[1].kind, threads[1].invitable), (12, false));
    let back = p.id.to_channel(&http).await.expect("GET thread");
    assert_eq!(back.guild().expect("guild").parent_id, Some(ch));
    p.id.add_thread_member(&http, UserId::new(USER))
        .await
        .expect("thread member");
    assert_eq!(d.thread_members(), vec![(p.id.get(), USER)]);
    p.id.say(&http, "i tråden").await.expect("post in thread");
    assert_eq!(d.messages_in(p.id.get()).len(), 1);

    // DMs: one channel per user, type 1.
    let dm1 = UserId::new(USER)
        .create_dm_channel(&http)
        .await
        .expect("DM channel");
    let dm2 = UserId::new(USER)
        .create_dm_channel(&http)
        .await
        .expect("DM channel again");
    assert_eq!(dm1.id, dm2.id);
    assert_eq!(dm1.recipient.id.get(), USER);
    let back = dm1.id.to_channel(&http).await.expect("GET DM");
    assert!(back.private().is_some());

    // Typing.
    ch.broadcast_typing(&http).await.expect("typing");
    ch.broadcast_typing(&http).await.expect("typing");
    assert_eq!(d.typing(TEXT_CHANNEL), 2);

    // Commands with localizations, global and per guild.
    let cmds = Command::set_global_commands(
        &http,
        vec![CreateCommand::new("fraga")
            .description("Ställ en fråga")
            .name_localized("en-US", "ask")
            .description_localized("en-US", "Ask a question")],
    )
    .await
    .expect("global commands");
    assert_eq!(cmds[0].name, "fraga");
    assert_eq!(cmds[0].application_id.get(), dc::APP_ID);
    assert_eq!(
        cmds[0]
            .name_localizations
            .as_ref()
            .and_then(|l| l.get("en-US"))
            .map(String::as_str),
        Some("ask")
    );
    GuildId::new(dc::GUILD_ID)
        .set_commands(
            &http,
            vec![CreateCommand::new("kraft").description("Om Kraft")],
        )
        .await
        .expect("guild commands");
    let reg = d.commands();
    assert_eq!(reg[0].guild, None);
    assert_eq!(reg[0].commands[0]["name_localizations"]["en-US"], "ask");
    assert_eq!(reg[1].guild, Some(dc::GUILD_ID));
    let e = Command::set_global_commands(
        &http,
        vec![CreateCommand::new("fraga")
            .description("x")
            .name_localized("sv", "fraga")],
    )
    .await
    .expect_err("\"sv\" is not a Discord locale");
    assert_eq!(discord_code(&e), (400, 50035));
    let e = Command::set_global_commands(&http, vec![CreateCommand::new("Fråga").description("x")])
        .await
        .expect_err("uppercase name");
    assert_eq!(discord_code(&e), (400, 50035));

    // A route the double does not know is a 404 and is recorded.
    let e = http
        .get_guild_roles(GuildId::new(dc::GUILD_ID))
        .await
        .expect_err("unknown route");
    assert_eq!(discord_code(&e).0, 404);
    assert_eq!(
        d.unknown_routes(),
        vec![format!("GET /guilds/{}/roles", dc::GUILD_ID)]
    );
    // A known one: the guild, with @everyone's permissions.
    let g = GuildId::new(dc::GUILD_ID)
        .to_partial_guild(&http)
        .await
        .expect("GET /guilds/{id}");
    assert!(g.roles[&serenity::all::RoleId::new(dc::GUILD_ID)]
        .permissions
        .contains(serenity::all::Permissions::CREATE_PRIVATE_THREADS));
}

#[tokio::test]
async fn interaction_callbacks_follow_discords_rules() {
    let d = DcDouble::start(DcConfig {
        ack_deadline_ms: 300,
        ..DcConfig::default()
    })
    .await;
    let http = d.serenity_http();
    http.set_application_id(dc::APP_ID.into());
    let defer = json!({"type": 5, "data": {}});

    // Too late: Discord has forgotten the interaction.
    d.interaction_create(d.slash(7001, USER, "Anna", DM_CHANNEL, None, "en-US", "fraga", &[]));
    tokio::time::sleep(Duration::from_millis(400)).await;
    let e = http
        .create_interaction_response(InteractionId::new(7001), "itok-7001", &defer, vec![])
        .await
        .expect_err("late");
    assert_eq!(discord_code(&e), (404, 10062));
    assert_eq!(d.late_acks(), 1);

    // Editing or following up before any callback.
    d.interaction_create(d.slash(7002, USER, "Anna", DM_CHANNEL, None, "en-US", "fraga", &[]));
    let e = http
        .edit_original_interaction_response("itok-7002", &json!({"content": "x"}), vec![])
        .await
        .expect_err("no original yet");
    assert_eq!(discord_code(&e), (404, 10008));
    let e = http
        .create_followup_message("itok-7002", &json!({"content": "x"}), vec![])
        .await
        .expect_err("no ack yet");
    assert_eq!(discord_code(&e), (404, 10015));
    // A type 4 callback is the answer itself, in the interaction's channel.
    http.create_interaction_response(
        InteractionId::new(7002),
        "itok-7002",
        &json!({"type": 4, "data": {"content": "Svar direkt", "flags": 64}}),
        vec![],
    )
    .await
    .expect("type 4");
    let msgs = d.messages_in(DM_CHANNEL);
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].content, "Svar direkt");
    assert_eq!(msgs[0].flags, 64);
    assert_eq!(msgs[0].via, Via::Original { interaction: 7002 });
    assert_eq!(d.callbacks(), vec![(7002, 4, 64)]);
    // A type 6 answer is only for components.
    d.interaction_create(d.slash(7003, USER, "Anna", DM_CHANNEL, None, "en-US", "fraga", &[]));
    let e = http
        .create_interaction_response(
            InteractionId::new(7003),
            "itok-7003",
            &json!({"type": 6}),
            vec![],
        )
        .await
        .expect_err("type 6 on a command");
    assert_eq!(discord_code(&e), (400, 50035));
    // Unknown token.
    let e = http
        .create_interaction_response(InteractionId::new(7003), "itok-nope", &defer, vec![])
        .await
        .expect_err("unknown token");
    assert_eq!(discord_code(&e), (404, 10062));

    // A button answered by updating its message (type 7).
    let on = ChannelId::new(DM_CHANNEL)
        .send_message(
            &http,
            CreateMessage::new()
                .content("Hjälpte svaret?")
                .components(vec![CreateActionRow::Buttons(vec![CreateButton::new(
                    "fb:yes",
                )
                .label("Ja")])]),
        )
        .await
        .expect("message with a button");
    d.interaction_create(d.button(7004, USER, "Anna", DM_CHANNEL, None, "fb:yes", on.id.get()));
    http.create_interaction_response(
        InteractionId::new(7004),
        "itok-7004",
        &json!({"type": 7, "data": {"content": "Tack!", "components": []}}),
        vec![],
    )
    .await
    .expect("update message");
    let updated = d
        .messages()
        .into_iter()
        .find(|p| p.id == on.id.get())
        .expect("the message");
    assert_eq!(updated.content, "Tack!");
    assert!(updated.buttons.is_empty());
    assert_eq!(updated.edits, 1);
}

#[tokio::test]
async fn faults_hit_only_matching_routes_and_run_out() {
    {
        let d = DcDouble::start(DcConfig::default()).await;
        d.add_channel(TEXT_CHANNEL, "allmänt");
        let http = d.serenity_http();
        d.fault("POST /channels/*/messages", Fault::ServerError, 1);
        ChannelId::new(TEXT_CHANNEL)
            .broadcast_typing(&http)
            .await
            .expect("typing is another route");
        d.fault("/users/@me", Fault::Forbidden { code: 50001 }, 2);
        for _ in 0..2 {
            let e = http.get_current_user().await.expect_err("403");
            assert_eq!(discord_code(&e), (403, 50001));
        }
        http.get_current_user().await.expect("fault used up");
        assert_eq!(d.faults_served(), 2);
        // The first fault is still there (typing did not use it).
        d.clear_faults();
        // A final `*` covers the rest of the path; inner ones one segment.
        d.fault("POST /channels/*", Fault::ServerError, 1);
        let e = ChannelId::new(TEXT_CHANNEL)
            .say(&http, "x")
            .await
            .expect_err("prefix match");
        assert_eq!(discord_code(&e).0, 502);
        let m = ChannelId::new(TEXT_CHANNEL)
            .say(&http, "start")
            .await
            .expect("no fault left");
        d.fault("POST /channels/*/messages", Fault::ServerError, 1);
        ChannelId::new(TEXT_CHANNEL)
            .create_thread_from_message(&http, m.id, CreateThread::new("tråd"))
            .await
            .expect("…/messages/{id}/threads is another route");
        d.clear_faults();
        ChannelId::new(TEXT_CHANNEL)
            .say(&http, "hej")
            .await
            .expect("cleared");
    }
}
