//! Serenity's gateway events, reduced to what Kraft acts on. Pure: no I/O,
//! so the rules (who is an adviser, which messages are ours, what a slash
//! command means) are tested with real serenity types and no network.
//!
//! What is kept is the minimum: ids, a display name for advisers, the
//! text the user addressed to the bot and a short-lived interaction token.
//! Channel chatter that does not mention the bot is never stored.

use kraft_core::Input;
use serde::{Deserialize, Serialize};
use serenity::model::application::{
    CommandDataOptionValue, CommandInteraction, ComponentInteraction,
};
use serenity::model::channel::Message;

/// What the adapter knows about its own deployment.
#[derive(Debug, Clone, Default)]
pub struct Ctx {
    pub bot_id: u64,
    /// Members of this role may act on tickets (0: nobody can).
    pub adviser_role: u64,
}

/// Who did something. `adviser` is true only with the adviser role, read
/// from the event itself (Discord sends the member's roles with it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Who {
    pub id: u64,
    pub name: String,
    pub adviser: bool,
    /// The user's client language (interactions carry it; messages do not).
    #[serde(default)]
    pub locale: Option<String>,
}

/// An interaction to answer: its token is valid for 15 minutes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    pub id: u64,
    pub token: String,
    /// Unix seconds when it arrived.
    pub at: i64,
}

/// How an SME reached the bot, i.e. where the answer goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Via {
    /// A slash command or button: the answer is the (deferred) response.
    Interaction(Token),
    /// A direct message.
    Dm { message: u64 },
    /// An @mention in a server channel or thread: a channel gets a thread
    /// started from the message, a thread gets a reply.
    Mention { message: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AdviserAct {
    /// A claim / resolve / hand-back button (`claim:12`).
    Button(String),
    /// Text for the user: `/reply`, or a message in the ticket thread.
    Text(String),
    /// A message in the ticket thread whose text the bot cannot read
    /// (no MESSAGE_CONTENT intent and no mention).
    Unreadable,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DcEvent {
    Sme {
        who: Who,
        channel: u64,
        guild: bool,
        input: Input,
        via: Via,
    },
    Adviser {
        who: Who,
        /// The channel it happened in (a ticket thread, normally).
        channel: u64,
        act: AdviserAct,
        token: Option<Token>,
        /// Stable id of what the adviser sent, so a redelivered event
        /// relays once.
        key: String,
    },
}

impl DcEvent {
    /// Interactions from advisers are answered privately (ephemeral).
    pub fn token(&self) -> Option<&Token> {
        match self {
            DcEvent::Sme {
                via: Via::Interaction(t),
                ..
            } => Some(t),
            DcEvent::Adviser { token, .. } => token.as_ref(),
            _ => None,
        }
    }

    pub fn channel(&self) -> u64 {
        match self {
            DcEvent::Sme { channel, .. } | DcEvent::Adviser { channel, .. } => *channel,
        }
    }
}

fn display_name(user: &serenity::model::user::User, nick: Option<&str>) -> String {
    let n = nick
        .or(user.global_name.as_deref())
        .unwrap_or(user.name.as_str());
    n.chars().filter(|c| !c.is_control()).take(40).collect()
}

/// The text without mentions of the bot (`<@id>` and the legacy `<@!id>`).
pub fn strip_mention(text: &str, bot: u64) -> String {
    text.replace(&format!("<@{bot}>"), " ")
        .replace(&format!("<@!{bot}>"), " ")
        .trim()
        .to_string()
}

/// A gateway message. `ticket_thread`: the channel is a ticket's thread in
/// the adviser channel (the caller looks that up in the store).
pub fn from_message(m: &Message, ctx: &Ctx, ticket_thread: bool) -> Option<DcEvent> {
    let member = m.member.as_ref().map(|p| Member {
        roles: p.roles.iter().map(|r| r.get()).collect(),
        nick: p.nick.clone(),
    });
    from_history(m, ctx, ticket_thread, m.guild_id.is_some(), member.as_ref())
}

/// What a gateway message says of its author in a server, and what a
/// message read over REST lacks (the caller looks the member up).
#[derive(Debug, Clone, Default)]
pub struct Member {
    pub roles: Vec<u64>,
    pub nick: Option<String>,
}

/// A message read back with `GET /channels/{id}/messages` (catching up
/// after a new session) goes here directly: REST messages carry neither
/// `guild_id` nor `member`, so the caller says whether the channel is in a
/// server and who the author is there.
pub fn from_history(
    m: &Message,
    ctx: &Ctx,
    ticket_thread: bool,
    in_guild: bool,
    member: Option<&Member>,
) -> Option<DcEvent> {
    if m.author.bot || m.author.id.get() == ctx.bot_id || m.webhook_id.is_some() {
        return None;
    }
    let mentioned = m.mentions.iter().any(|u| u.id.get() == ctx.bot_id);
    let text = strip_mention(&m.content, ctx.bot_id);
    let has_media = !m.attachments.is_empty() || !m.sticker_items.is_empty();
    let roles: &[u64] = member.map_or(&[], |p| &p.roles);
    let nick = member.and_then(|p| p.nick.as_deref());
    let who = Who {
        id: m.author.id.get(),
        name: display_name(&m.author, nick),
        adviser: in_guild && ctx.adviser_role != 0 && roles.contains(&ctx.adviser_role),
        locale: None,
    };
    let channel = m.channel_id.get();
    if ticket_thread {
        let act = if !text.is_empty() {
            AdviserAct::Text(text)
        } else if m.content.is_empty() && !has_media {
            AdviserAct::Unreadable
        } else {
            return None; // a bare mention or a picture: nothing to relay
        };
        return Some(DcEvent::Adviser {
            who,
            channel,
            act,
            token: None,
            key: format!("dc:m:{}", m.id.get()),
        });
    }
    let input = if !text.is_empty() {
        Input::Text(text)
    } else if has_media {
        Input::Unsupported("attachment".into())
    } else if mentioned {
        Input::Text("/help".into())
    } else {
        return None;
    };
    let via = match in_guild {
        false => Via::Dm {
            message: m.id.get(),
        },
        true if mentioned => Via::Mention {
            message: m.id.get(),
        },
        // Server chatter not addressed to the bot is not ours to read.
        true => return None,
    };
    Some(DcEvent::Sme {
        who,
        channel,
        guild: in_guild,
        input,
        via,
    })
}

fn roles_of(member: Option<&serenity::model::guild::Member>) -> Vec<u64> {
    member
        .map(|m| m.roles.iter().map(|r| r.get()).collect())
        .unwrap_or_default()
}

/// A slash command. `/ask`, `/human`, `/events`, `/forget`, `/help` are the
/// SME's; `/reply` is the adviser's.
pub fn from_command(c: &CommandInteraction, ctx: &Ctx, now: i64) -> DcEvent {
    let member = c.member.as_deref();
    let who = Who {
        id: c.user.id.get(),
        name: display_name(&c.user, member.and_then(|m| m.nick.as_deref())),
        adviser: c.guild_id.is_some()
            && ctx.adviser_role != 0
            && roles_of(member).contains(&ctx.adviser_role),
        locale: Some(c.locale.clone()),
    };
    let token = Token {
        id: c.id.get(),
        token: c.token.clone(),
        at: now,
    };
    let option = |name: &str| -> String {
        c.data
            .options
            .iter()
            .find(|o| o.name == name)
            .and_then(|o| match &o.value {
                CommandDataOptionValue::String(s) => Some(s.trim().to_string()),
                _ => None,
            })
            .unwrap_or_default()
    };
    let channel = c.channel_id.get();
    let text = match c.data.name.as_str() {
        "reply" => {
            return DcEvent::Adviser {
                who,
                channel,
                act: AdviserAct::Text(option("text")),
                token: Some(token),
                key: format!("dc:i:{}", c.id.get()),
            }
        }
        name => match kraft_core::commands::find(name) {
            // "/<name> <option>" as a person would type it; the core's
            // parser and the registry give it its meaning.
            Some(spec) => {
                let arg = spec.option.map(|o| option(o.name)).unwrap_or_default();
                if spec.command == kraft_core::intent::Command::Ask {
                    // The question itself, as if typed (a question asked in
                    // a channel gets its own thread); none: the help.
                    if arg.is_empty() {
                        "/help".to_string()
                    } else {
                        arg
                    }
                } else if arg.is_empty() {
                    format!("/{}", spec.name)
                } else {
                    format!("/{} {arg}", spec.name)
                }
            }
            // A command registered by an older version: the core says it
            // does not know it, and lists what it does know.
            None => format!(
                "/{}",
                name.chars()
                    .filter(|c| c.is_alphanumeric() || *c == '_' || *c == '-')
                    .take(32)
                    .collect::<String>()
            ),
        },
    };
    DcEvent::Sme {
        who,
        channel,
        guild: c.guild_id.is_some(),
        input: Input::Text(text),
        via: Via::Interaction(token),
    }
}

/// A button. `claim:`, `resolve:` and `handback:` are the advisers'
/// (whoever presses them is checked); the rest go to the core as presses.
pub fn from_component(b: &ComponentInteraction, ctx: &Ctx, now: i64) -> DcEvent {
    let member = b.member.as_ref();
    let who = Who {
        id: b.user.id.get(),
        name: display_name(&b.user, member.and_then(|m| m.nick.as_deref())),
        adviser: b.guild_id.is_some()
            && ctx.adviser_role != 0
            && roles_of(member).contains(&ctx.adviser_role),
        locale: Some(b.locale.clone()),
    };
    let token = Token {
        id: b.id.get(),
        token: b.token.clone(),
        at: now,
    };
    let id = b.data.custom_id.clone();
    let channel = b.channel_id.get();
    if is_ticket_button(&id) {
        return DcEvent::Adviser {
            who,
            channel,
            act: AdviserAct::Button(id),
            token: Some(token),
            key: format!("dc:i:{}", b.id.get()),
        };
    }
    DcEvent::Sme {
        who,
        channel,
        guild: b.guild_id.is_some(),
        input: Input::Button(id),
        via: Via::Interaction(token),
    }
}

pub fn is_ticket_button(id: &str) -> bool {
    matches!(
        kraft_core::buttons::ButtonId::parse(id),
        Some(kraft_core::buttons::ButtonId::Ticket { .. })
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const BOT: u64 = 900;
    const ROLE: u64 = 77;

    fn ctx() -> Ctx {
        Ctx {
            bot_id: BOT,
            adviser_role: ROLE,
        }
    }

    fn user(id: u64, name: &str) -> serde_json::Value {
        json!({"id": id.to_string(), "username": name, "discriminator": "0", "global_name": null, "avatar": null})
    }

    fn message(content: &str, guild: bool, mentions: &[u64], roles: &[u64]) -> Message {
        let mut m = json!({
            "id": "5001", "channel_id": "300", "author": user(42, "anna"),
            "content": content, "timestamp": "2026-11-27T10:00:00.000000+00:00",
            "edited_timestamp": null, "tts": false, "mention_everyone": false,
            "mentions": mentions.iter().map(|u| user(*u, "x")).collect::<Vec<_>>(),
            "mention_roles": [], "attachments": [], "embeds": [], "pinned": false, "type": 0,
        });
        if guild {
            m["guild_id"] = json!("10");
            m["member"] = json!({"roles": roles.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
                "joined_at": "2026-01-01T00:00:00+00:00", "deaf": false, "mute": false, "flags": 0});
        }
        serde_json::from_value(m).expect("a valid serenity Message")
    }

    #[test]
    fn a_dm_is_an_sme_question() {
        let e = from_message(&message("Vad kostar det?", false, &[], &[]), &ctx(), false);
        match e {
            Some(DcEvent::Sme {
                input: Input::Text(t),
                via: Via::Dm { message: 5001 },
                guild: false,
                ..
            }) => assert_eq!(t, "Vad kostar det?"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn server_chatter_is_not_read_and_a_mention_is() {
        assert_eq!(
            from_message(&message("lunch?", true, &[], &[]), &ctx(), false),
            None
        );
        let e = from_message(
            &message("<@900> Vilka stöd finns?", true, &[BOT], &[]),
            &ctx(),
            false,
        );
        match e {
            Some(DcEvent::Sme {
                input: Input::Text(t),
                via: Via::Mention { message: 5001 },
                ..
            }) => assert_eq!(t, "Vilka stöd finns?"),
            other => panic!("{other:?}"),
        }
        // A bare mention asks for help.
        let e = from_message(&message("<@!900>", true, &[BOT], &[]), &ctx(), false);
        assert!(matches!(e, Some(DcEvent::Sme { input: Input::Text(t), .. }) if t == "/help"));
    }

    #[test]
    fn in_a_ticket_thread_only_the_role_makes_an_adviser() {
        let e = from_message(
            &message("Hej, jag hjälper er", true, &[], &[ROLE]),
            &ctx(),
            true,
        );
        assert!(
            matches!(&e, Some(DcEvent::Adviser { who, act: AdviserAct::Text(_), .. }) if who.adviser)
        );
        let e = from_message(&message("Hej", true, &[], &[1, 2]), &ctx(), true);
        assert!(matches!(&e, Some(DcEvent::Adviser { who, .. }) if !who.adviser));
        // Without MESSAGE_CONTENT a plain message arrives empty.
        let e = from_message(&message("", true, &[], &[ROLE]), &ctx(), true);
        assert!(matches!(
            e,
            Some(DcEvent::Adviser {
                act: AdviserAct::Unreadable,
                ..
            })
        ));
    }

    #[test]
    fn the_bots_own_messages_are_ignored() {
        let mut m = message("<@900> loop", true, &[BOT], &[]);
        m.author.bot = true;
        assert_eq!(from_message(&m, &ctx(), false), None);
    }

    #[test]
    fn ticket_buttons_are_recognised_and_forged_ids_are_not() {
        assert!(is_ticket_button("claim:12"));
        assert!(is_ticket_button("handback:3"));
        assert!(!is_ticket_button("claim:"));
        assert!(!is_ticket_button("claim:x"));
        assert!(!is_ticket_button("fb:up:3"));
    }
}
