//! Adviser conversations stay private. A ticket remembers where it was
//! opened and where the adviser conversation goes: a private chat only,
//! never the chat the user happened to write in last. From a public
//! chat (a Telegram group, a Discord channel) the user gets only a
//! pointer; on Telegram a link moves the conversation to the private
//! chat, and nothing for the user leaves the outbox before that.
use kraft_core::model::Privately;
use kraft_core::{Action, Platform, UserRef};
use kraft_tests::bot::{default_core_settings, real_kb, reply_text, TestBot};

/// Where the deliveries ready to go are headed: (chat id, text).
fn ready(bot: &TestBot) -> Vec<(String, String)> {
    bot.deliver()
        .into_iter()
        .filter_map(|a| match a {
            Action::RelayToUser { chat, text, .. } => Some((chat.chat_id, text)),
            _ => None,
        })
        .collect()
}

fn ticket_no(reply: &str) -> i64 {
    let i = reply.find('#').expect("a ticket number") + 1;
    reply[i..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .expect("number")
}

#[tokio::test]
async fn a_dm_ticket_stays_in_the_dm_when_the_user_writes_in_a_channel() {
    let bot = TestBot::start(&real_kb(), default_core_settings()).await;
    let dm = UserRef::new(Platform::Discord, "42", "dm-42");
    let opened = reply_text(&bot.say(&dm, "/human").await);
    let id = ticket_no(&opened);
    assert!(opened.contains("här i chatten"), "{opened}");
    bot.deliver();

    // The same person asks in a server channel (a public thread).
    let channel =
        UserRef::new(Platform::Discord, "42", "thread-9").in_public(Privately::At("dm:42".into()));
    let a = bot.say(&channel, "Vad kostar det att delta?").await;
    assert!(a
        .iter()
        .any(|x| matches!(x, Action::Reply { chat, .. } if chat.chat_id == "thread-9")));
    bot.deliver();

    let desk = bot.assistant.desk();
    desk.claim(id, "Karin", false).expect("claim");
    desk.reply(id, "Karin", "Hej, jag ringer i morgon.", None)
        .expect("reply");
    desk.resolve(id, None).expect("resolve");
    let out = ready(&bot);
    assert_eq!(out.len(), 3, "{out:#?}");
    for (chat, text) in &out {
        assert_eq!(chat, "dm-42", "{text:?} went to {chat}");
    }
    let t = bot
        .assistant
        .store()
        .ticket(id)
        .expect("db")
        .expect("ticket");
    assert_eq!(t.chat_id.as_deref(), Some("dm-42"));
    assert_eq!(t.relay_chat.as_deref(), Some("dm-42"));
}

#[tokio::test]
async fn human_in_a_channel_gets_a_pointer_and_the_adviser_writes_to_the_dm() {
    let bot = TestBot::start(&real_kb(), default_core_settings()).await;
    let channel =
        UserRef::new(Platform::Discord, "43", "thread-7").in_public(Privately::At("dm:43".into()));
    let a = bot.say(&channel, "/human").await;
    let pointer = reply_text(&a);
    assert!(
        pointer.contains("fortsätter i ett privat meddelande"),
        "{pointer}"
    );
    assert!(!pointer.contains("här i chatten"), "{pointer}");
    let id = ticket_no(&pointer);
    // The DM is opened at once with where the conversation goes on (sent
    // by the front-end now, like the reply).
    let first: Vec<(String, String)> = a
        .iter()
        .filter_map(|x| match x {
            Action::RelayToUser { chat, text, .. } => Some((chat.chat_id.clone(), text.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(first.len(), 1, "{a:#?}");
    assert_eq!(first[0].0, "dm:43");
    assert!(first[0].1.contains(&format!("#{id}")), "{}", first[0].1);
    for x in &a {
        if let Action::RelayToUser { delivery, .. } = x {
            bot.assistant.delivered(*delivery).expect("confirm");
        }
    }

    let desk = bot.assistant.desk();
    desk.reply(id, "Karin", "Vi hörs i DM.", None)
        .expect("reply");
    let out = ready(&bot);
    assert_eq!(out.len(), 2, "joined + reply: {out:#?}");
    assert!(out.iter().all(|(c, _)| c == "dm:43"), "{out:#?}");
}

#[tokio::test]
async fn a_telegram_group_member_moves_to_the_private_chat_by_the_link() {
    let bot = TestBot::start(&real_kb(), default_core_settings()).await;
    let link = "https://t.me/KraftBot?start=";
    let member = |user: &str| {
        UserRef::new(Platform::Telegram, format!("{user}@-500"), "-500")
            .in_public(Privately::Link(link.into()))
    };
    let a = bot.say(&member("7"), "/human").await;
    let pointer = reply_text(&a);
    assert!(
        pointer.contains("fortsätter i ett privat meddelande"),
        "{pointer}"
    );
    let at = pointer.find(link).expect("the deep link") + link.len();
    let token: String = pointer[at..]
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect();
    assert!(token.len() >= 32, "{pointer}");
    let id = ticket_no(&pointer);
    assert!(ready(&bot).is_empty(), "nothing for the user yet");

    // The adviser answers before the user has opened the private chat:
    // it waits, and nothing goes to the group.
    let desk = bot.assistant.desk();
    desk.reply(id, "Anna", "Hej! Jag hjälper dig gärna.", None)
        .expect("reply");
    assert!(ready(&bot).is_empty(), "held until the private chat exists");
    // Writing again in the group: passed on, and the pointer again, with
    // the link.
    let again = bot.say(&member("7"), "/human").await;
    let ack = again
        .iter()
        .find_map(|a| match a {
            Action::Ack { text, .. } => Some(text.clone()),
            _ => None,
        })
        .expect("a receipt");
    assert!(ack.contains(&token), "{ack}");
    assert!(ack.contains("privat"), "{ack}");

    // Another member of the group follows the (public) link: refused.
    let other = UserRef::new(Platform::Telegram, "8", "8");
    let no = reply_text(&bot.say(&other, &format!("/start {token}")).await);
    assert!(no.contains("gäller inte"), "{no}");
    assert!(ready(&bot).is_empty(), "nothing moved to a stranger");

    // The member follows it: the conversation continues privately.
    let private = UserRef::new(Platform::Telegram, "7", "7");
    let here = reply_text(&bot.say(&private, &format!("/start {token}")).await);
    assert!(here.contains(&format!("#{id}")), "{here}");
    let out = ready(&bot);
    assert_eq!(out.len(), 2, "joined + reply: {out:#?}");
    assert!(out.iter().all(|(c, _)| c == "7"), "{out:#?}");
    assert!(out.iter().any(|(_, t)| t.contains("Jag hjälper dig gärna")));
    // What the user writes privately now reaches the adviser.
    let a = bot
        .say(&private, "Tack, vi behöver hjälp med offerter.")
        .await;
    assert!(
        a.iter()
            .any(|x| matches!(x, Action::NotifyAdvisers { text, .. } if text.contains("offerter"))),
        "{a:#?}"
    );
    // Following the link again (the adviser owns the conversation now)
    // changes nothing and is not passed on to the adviser.
    let twice = bot.say(&private, &format!("/start {token}")).await;
    assert!(reply_text(&twice).contains(&format!("#{id}")), "{twice:#?}");
    assert!(
        !twice
            .iter()
            .any(|a| matches!(a, Action::NotifyAdvisers { .. })),
        "{twice:#?}"
    );
    assert!(ready(&bot).is_empty());
}
