//! The Telegram Bot API double checked against the real teloxide client:
//! each rule the double enforces for the adviser group reaches teloxide as
//! the error Telegram's own JSON would give (so the front-end's handling
//! is tested against what it will really see).
use kraft_tests::tg::{Fault, Limits, TgDouble, TOKEN};
use teloxide::payloads::SendMessageSetters;
use teloxide::prelude::Requester;
use teloxide::types::{ChatId, InlineKeyboardButton, InlineKeyboardMarkup, MessageId, ThreadId};
use teloxide::{ApiError, Bot, RequestError};

const GROUP: i64 = -100_4242;

/// Rate limits out of the way: these tests send back to back.
async fn double() -> TgDouble {
    let l = Limits {
        per_chat_per_sec: 100,
        per_chat_per_min: 1000,
        per_group_per_min: 1000,
        overall_per_sec: 1000,
        ..Limits::default()
    };
    TgDouble::with_limits(TOKEN, l).await
}

fn bot(tg: &TgDouble) -> Bot {
    Bot::new(TOKEN).set_api_url(tg.api_url().parse().expect("url"))
}

fn unknown(e: RequestError) -> String {
    match e {
        RequestError::Api(ApiError::Unknown(d)) => d,
        other => panic!("expected an unrecognised API error, got {other:?}"),
    }
}

#[tokio::test]
async fn closed_and_deleted_topics_are_refused_as_telegram_does() {
    let tg = double().await;
    tg.set_forum(GROUP);
    let b = bot(&tg);
    let g = ChatId(GROUP);
    let topic = b.create_forum_topic(g, "#1 x").await.expect("topic");
    let th = topic.thread_id;
    b.send_message(g, "in the topic")
        .message_thread_id(th)
        .await
        .expect("an open topic takes messages");

    tg.close_topic(GROUP, th.0 .0 as i64);
    let e = b
        .send_message(g, "closed")
        .message_thread_id(th)
        .await
        .expect_err("a closed topic refuses");
    assert_eq!(unknown(e), "Bad Request: TOPIC_CLOSED");
    b.reopen_forum_topic(g, th).await.expect("reopened");
    b.send_message(g, "open again")
        .message_thread_id(th)
        .await
        .expect("a reopened topic takes messages");
    let e = b.reopen_forum_topic(g, th).await.expect_err("not closed");
    assert_eq!(unknown(e), "Bad Request: TOPIC_NOT_MODIFIED");

    tg.delete_topic_by_hand(GROUP, th.0 .0 as i64);
    let e = b
        .send_message(g, "gone")
        .message_thread_id(th)
        .await
        .expect_err("a deleted topic refuses");
    assert_eq!(unknown(e), "Bad Request: message thread not found");
    let e = b
        .send_message(g, "never was")
        .message_thread_id(ThreadId(MessageId(99_999)))
        .await
        .expect_err("an unknown topic refuses");
    assert_eq!(unknown(e), "Bad Request: message thread not found");
}

#[tokio::test]
async fn a_migrated_group_answers_with_its_new_id() {
    let tg = double().await;
    let b = bot(&tg);
    tg.migrate(-4242, GROUP);
    match b.send_message(ChatId(-4242), "hej").await {
        Err(RequestError::MigrateToChatId(to)) => assert_eq!(to, ChatId(GROUP)),
        other => panic!("expected MigrateToChatId, got {other:?}"),
    }
    match b.get_chat(ChatId(-4242)).await {
        Err(RequestError::MigrateToChatId(to)) => assert_eq!(to, ChatId(GROUP)),
        other => panic!("expected MigrateToChatId, got {other:?}"),
    }
    b.send_message(ChatId(GROUP), "hej").await.expect("new id");
    assert_eq!(tg.count_to(GROUP), 1);
    assert_eq!(tg.count_to(-4242), 0);
}

#[tokio::test]
async fn a_kicked_bot_is_told_so() {
    let tg = double().await;
    let b = bot(&tg);
    tg.kick(GROUP, true);
    let e = b
        .send_message(ChatId(GROUP), "hej")
        .await
        .expect_err("kicked");
    assert!(
        matches!(e, RequestError::Api(ApiError::BotKickedFromSupergroup)),
        "{e:?}"
    );
    tg.kick(GROUP, false);
    b.send_message(ChatId(GROUP), "hej").await.expect("back in");
}

#[tokio::test]
async fn callback_data_over_64_bytes_is_refused_and_64_is_not() {
    let tg = double().await;
    let b = bot(&tg);
    let kb =
        |d: String| InlineKeyboardMarkup::new(vec![vec![InlineKeyboardButton::callback("x", d)]]);
    let e = b
        .send_message(ChatId(7), "hej")
        .reply_markup(kb("a".repeat(65)))
        .await
        .expect_err("65 bytes");
    assert!(
        matches!(e, RequestError::Api(ApiError::ButtonDataInvalid)),
        "{e:?}"
    );
    // Bytes, not characters: 33 "å" are 66 bytes.
    let e = b
        .send_message(ChatId(7), "hej")
        .reply_markup(kb("å".repeat(33)))
        .await
        .expect_err("66 bytes");
    assert!(
        matches!(e, RequestError::Api(ApiError::ButtonDataInvalid)),
        "{e:?}"
    );
    b.send_message(ChatId(7), "hej")
        .reply_markup(kb("a".repeat(64)))
        .await
        .expect("64 bytes fit");
    assert_eq!(tg.count_to(7), 1);
}

#[tokio::test]
async fn a_response_lost_after_the_topic_was_made_leaves_the_topic() {
    let tg = double().await;
    tg.set_forum(GROUP);
    let b = bot(&tg);
    tg.fault("createForumTopic", Fault::DropAfter, 1);
    let e = b
        .create_forum_topic(ChatId(GROUP), "#1 x")
        .await
        .expect_err("the response is lost");
    assert!(
        matches!(e, RequestError::Network(_) | RequestError::Io(_)),
        "{e:?}"
    );
    assert_eq!(tg.topics().len(), 1, "but the topic was made");
}

#[tokio::test]
async fn get_updates_is_refused_while_a_webhook_is_set() {
    let tg = double().await;
    let bot = bot(&tg);
    tg.user_says(42, "hej");
    bot.set_webhook("https://example.org/hook".parse().expect("url"))
        .await
        .expect("setWebhook");
    match bot.get_updates().await {
        Err(RequestError::Api(ApiError::Unknown(text))) => {
            assert!(text.contains("webhook is active"), "{text}")
        }
        other => panic!("expected Telegram's 409 conflict, got {other:?}"),
    }
    // Removed elsewhere (or by deleteWebhook): polling works, nothing lost.
    bot.delete_webhook().await.expect("deleteWebhook");
    let got = bot.get_updates().await.expect("getUpdates");
    assert_eq!(got.len(), 1);
    tg.set_webhook_elsewhere(Some("https://other.example/hook"));
    assert!(bot.get_updates().await.is_err());
}
