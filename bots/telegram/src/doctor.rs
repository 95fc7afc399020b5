//! `kraft doctor` for Telegram: is the token accepted, and can the bot do
//! in the adviser group what tickets need (be there, post, and in a forum
//! group create topics and delete them for `/forget`)? Read-only calls
//! only (`getMe`, `getChat`, `getChatMember`); nothing is sent.

use kraft_core::doctor::Check;
use teloxide::prelude::Requester;
use teloxide::types::{ChatFullInfoKind, ChatFullInfoPublicKind, ChatId, ChatMemberKind};
use teloxide::{ApiError, Bot, RequestError};

use crate::{error_kind, TelegramSettings};

fn api_host(settings: &TelegramSettings) -> String {
    if settings.api_url.is_empty() {
        "api.telegram.org".into()
    } else {
        settings.api_url.clone()
    }
}

/// Every Telegram check, in order; later ones are skipped when an earlier
/// one makes them meaningless (no group checks without a working token).
pub async fn doctor(token: &str, settings: &TelegramSettings) -> Vec<Check> {
    let mut out = Vec::new();
    if token.trim().is_empty() || token.contains(char::is_whitespace) {
        out.push(Check::fail(
            "telegram token",
            "KRAFT_TELEGRAM_TOKEN is empty or malformed",
        ));
        return out;
    }
    let mut bot = Bot::new(token.trim());
    if !settings.api_url.is_empty() {
        match url::Url::parse(&settings.api_url) {
            Ok(u) => bot = bot.set_api_url(u),
            Err(e) => {
                out.push(Check::fail(
                    "telegram api_url",
                    format!("telegram.api_url {:?} is not a URL: {e}", settings.api_url),
                ));
                return out;
            }
        }
    }
    let me = match bot.get_me().await {
        Ok(me) => {
            out.push(Check::ok(
                "telegram token",
                format!(
                    "accepted; the bot is @{}",
                    me.username.as_deref().unwrap_or("?")
                ),
            ));
            me
        }
        // Telegram answers 401 for an unknown token and 404 for one that
        // is not shaped like a token at all.
        Err(RequestError::Api(ApiError::InvalidToken)) => {
            out.push(Check::fail(
                "telegram token",
                "refused by Telegram (401 Unauthorized): check KRAFT_TELEGRAM_TOKEN with @BotFather",
            ));
            return out;
        }
        Err(RequestError::Api(ApiError::Unknown(d))) if d.contains("Not Found") => {
            out.push(Check::fail(
                "telegram token",
                "not a bot token Telegram knows (404 Not Found): check KRAFT_TELEGRAM_TOKEN with @BotFather",
            ));
            return out;
        }
        Err(e) => {
            out.push(Check::fail(
                "telegram token",
                format!(
                    "cannot reach {} ({}): check the network or telegram.api_url",
                    api_host(settings),
                    error_kind(&e)
                ),
            ));
            return out;
        }
    };
    let g = settings.adviser_group;
    if g == 0 {
        out.push(Check::warn(
            "telegram adviser group",
            "none configured (telegram.adviser_group): tickets are handled only with `kraft tickets`",
        ));
        return out;
    }
    let what = format!("telegram adviser group {g}");
    let chat = match bot.get_chat(ChatId(g)).await {
        Ok(c) => c,
        Err(RequestError::MigrateToChatId(to)) => {
            out.push(Check::warn(
                what,
                format!(
                    "was upgraded to a supergroup with id {}: set telegram.adviser_group = {} (Kraft follows it meanwhile)",
                    to.0, to.0
                ),
            ));
            return out;
        }
        Err(e) => {
            let why = match error_kind(&e) {
                "chat_not_found" => {
                    "not found: check the id, and that the bot was added to the group".to_string()
                }
                "kicked" => "the bot was removed from the group: add it again".to_string(),
                k => format!("cannot be read ({k})"),
            };
            out.push(Check::fail(what, why));
            return out;
        }
    };
    let forum = matches!(&chat.kind, ChatFullInfoKind::Public(p)
        if matches!(&p.kind, ChatFullInfoPublicKind::Supergroup(s) if s.is_forum));
    let member = match bot.get_chat_member(ChatId(g), me.id).await {
        Ok(m) => m,
        Err(e) => {
            out.push(Check::fail(
                what,
                format!("the bot's rights cannot be read ({})", error_kind(&e)),
            ));
            return out;
        }
    };
    let layout = if forum {
        "a forum group (a topic per ticket)"
    } else {
        "a group without topics (tickets share the group, one reply thread each)"
    };
    match &member.kind {
        ChatMemberKind::Left | ChatMemberKind::Banned(_) => out.push(Check::fail(
            what,
            "the bot is not a member: add it to the group",
        )),
        ChatMemberKind::Restricted(r) if !r.can_send_messages => out.push(Check::fail(
            what,
            "the bot may not post there: lift its restriction",
        )),
        ChatMemberKind::Owner(_) => out.push(Check::ok(what, format!("{layout}; the bot owns it"))),
        ChatMemberKind::Administrator(a) => {
            if forum && !a.can_manage_topics {
                out.push(Check::fail(
                    what,
                    "a forum group, but the bot lacks the administrator right \"Manage topics\": tickets cannot get their own topic",
                ));
            } else if forum && !a.can_delete_messages {
                out.push(Check::warn(
                    what,
                    "a forum group; the bot lacks \"Delete messages\": /forget cannot delete a ticket's topic (advisers are asked to)",
                ));
            } else {
                out.push(Check::ok(
                    what,
                    format!("{layout}; the bot is an administrator with the rights it needs"),
                ));
            }
        }
        ChatMemberKind::Member(_) | ChatMemberKind::Restricted(_) => {
            if forum {
                out.push(Check::fail(
                    what,
                    "a forum group, but the bot is not an administrator with \"Manage topics\": tickets cannot get their own topic",
                ));
            } else {
                out.push(Check::ok(
                    what,
                    format!("{layout}; the bot is a member (it can delete its own notes for /forget within 48 hours)"),
                ));
            }
        }
    }
    out
}
