//! `kraft doctor` for Discord: is the token accepted, is the bot in the
//! configured server, and can it do in the adviser channel what tickets
//! need (see it, post, open private threads and write in them; manage
//! threads so `/forget` can delete one)? Read-only REST calls through
//! serenity's client; the gateway is not opened and nothing is sent.

use kraft_core::doctor::Check;
use serenity::all::{Channel, ChannelId, ChannelType, GuildId, HttpBuilder, Permissions, RoleId};

use crate::{http_client, kind_of, DiscordSettings};

/// What a ticket thread needs in the adviser channel, and what it is
/// called in Discord's settings.
const NEEDED: [(Permissions, &str); 4] = [
    (Permissions::VIEW_CHANNEL, "View Channel"),
    (Permissions::SEND_MESSAGES, "Send Messages"),
    (
        Permissions::CREATE_PRIVATE_THREADS,
        "Create Private Threads",
    ),
    (
        Permissions::SEND_MESSAGES_IN_THREADS,
        "Send Messages in Threads",
    ),
];

fn why(e: &serenity::Error) -> String {
    let (kind, status, _) = kind_of(e);
    if status == 0 {
        kind.to_string()
    } else {
        format!("{status} {kind}")
    }
}

/// Every Discord check, in order; later ones are skipped when an earlier
/// one makes them meaningless.
pub async fn doctor(token: &str, settings: &DiscordSettings) -> Vec<Check> {
    let mut out = Vec::new();
    if token.trim().is_empty() || token.contains(char::is_whitespace) {
        out.push(Check::fail(
            "discord token",
            "KRAFT_DISCORD_TOKEN is empty or malformed",
        ));
        return out;
    }
    let client = match http_client(settings) {
        Ok(c) => c,
        Err(e) => {
            out.push(Check::fail("discord connection", e.to_string()));
            return out;
        }
    };
    let http = HttpBuilder::new(token.trim()).client(client).build();
    let me = match http.get_current_user().await {
        Ok(me) => {
            out.push(Check::ok(
                "discord token",
                format!("accepted; the bot is {}", me.name),
            ));
            me
        }
        Err(e) if kind_of(&e).1 == 401 => {
            out.push(Check::fail(
                "discord token",
                "refused by Discord (401 Unauthorized): check KRAFT_DISCORD_TOKEN in the developer portal",
            ));
            return out;
        }
        Err(e) => {
            out.push(Check::fail(
                "discord token",
                format!(
                    "cannot reach Discord ({}): check the network or discord.connect_to",
                    why(&e)
                ),
            ));
            return out;
        }
    };
    if settings.guild != 0 {
        let what = format!("discord server {}", settings.guild);
        match http.get_guild(GuildId::new(settings.guild)).await {
            Ok(g) => out.push(Check::ok(
                what,
                format!(
                    "{}: the bot is a member; slash commands are registered there",
                    g.name
                ),
            )),
            Err(e) => out.push(Check::fail(
                what,
                format!(
                    "cannot be read ({}): invite the bot to the server, or fix discord.guild",
                    why(&e)
                ),
            )),
        }
    }
    if settings.adviser_channel == 0 {
        out.push(Check::warn(
            "discord adviser channel",
            "none configured (discord.adviser_channel): tickets are handled only with `kraft tickets`",
        ));
        return out;
    }
    let what = format!("discord adviser channel {}", settings.adviser_channel);
    let channel = match http
        .get_channel(ChannelId::new(settings.adviser_channel))
        .await
    {
        Ok(Channel::Guild(c)) if c.kind == ChannelType::Text => c,
        Ok(_) => {
            out.push(Check::fail(
                what,
                "is not a server text channel: tickets need one for their private threads",
            ));
            return out;
        }
        Err(e) => {
            out.push(Check::fail(
                what,
                format!(
                    "cannot be read ({}): check the id, and that the bot can see the channel",
                    why(&e)
                ),
            ));
            return out;
        }
    };
    let (guild, member) = match tokio::join!(
        http.get_guild(channel.guild_id),
        http.get_member(channel.guild_id, me.id)
    ) {
        (Ok(g), Ok(m)) => (g, m),
        (Err(e), _) | (_, Err(e)) => {
            out.push(Check::fail(
                what,
                format!("the bot's rights cannot be read ({})", why(&e)),
            ));
            return out;
        }
    };
    let perms = guild.user_permissions_in(&channel, &member);
    let missing: Vec<&str> = NEEDED
        .iter()
        .filter(|(p, _)| !perms.contains(*p))
        .map(|(_, name)| *name)
        .collect();
    if !missing.is_empty() {
        out.push(Check::fail(
            what,
            format!(
                "#{}: the bot lacks {}: tickets cannot get their private thread",
                channel.name,
                missing.join(", ")
            ),
        ));
    } else if !perms.contains(Permissions::MANAGE_THREADS) {
        out.push(Check::warn(
            what,
            format!(
                "#{}: the bot lacks Manage Threads: /forget cannot delete a ticket's thread (advisers are asked to)",
                channel.name
            ),
        ));
    } else {
        out.push(Check::ok(
            what,
            format!("#{}: the bot has the rights tickets need", channel.name),
        ));
    }
    let what = "discord adviser role";
    if settings.adviser_role == 0 {
        out.push(Check::warn(
            what,
            "none configured (discord.adviser_role): nobody can claim or answer tickets in Discord",
        ));
    } else if guild
        .roles
        .contains_key(&RoleId::new(settings.adviser_role))
    {
        out.push(Check::ok(
            what,
            format!("{} exists in the server", settings.adviser_role),
        ));
    } else {
        out.push(Check::fail(
            what,
            format!(
                "{} is not a role of the server: fix discord.adviser_role",
                settings.adviser_role
            ),
        ));
    }
    out
}
