//! `kraft tickets`: the adviser loop without any chat platform. Works on
//! the state database only (never the knowledge index), so it runs beside
//! a live `kraft chat` or `kraft serve`; what it queues for the user is
//! delivered by that process's outbox loop.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;
use clap::Subcommand;
use kraft_core::desk::Desk;
use kraft_core::model::SystemClock;
use kraft_core::store::{Role, TicketStatus};
use kraft_core::DeskError;

use crate::config::Settings;

#[derive(Debug, Subcommand)]
pub enum TicketsCommand {
    /// Open tickets (waiting and active), newest first.
    List {
        /// Include resolved tickets.
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// One ticket: handoff summary and the conversation.
    Show {
        id: i64,
        #[arg(long)]
        json: bool,
    },
    /// Take a ticket: the bot goes quiet and the user is told.
    Claim {
        id: i64,
        /// Your name as the user will see it, e.g. "Anna" (or set KRAFT_ADVISER).
        #[arg(long = "as", env = "KRAFT_ADVISER")]
        adviser: String,
        /// Take over a ticket another adviser holds.
        #[arg(long)]
        force: bool,
    },
    /// Send the user a message (claims a waiting ticket).
    Reply {
        id: i64,
        text: String,
        /// Your name as the user will see it, e.g. "Anna" (or set KRAFT_ADVISER).
        #[arg(long = "as", env = "KRAFT_ADVISER")]
        adviser: String,
        /// An id for this reply; sending the same id twice delivers once.
        #[arg(long)]
        key: Option<String>,
    },
    /// Close a ticket; the user is back with the bot.
    Resolve {
        id: i64,
        /// A note kept with the ticket.
        #[arg(long)]
        note: Option<String>,
    },
}

pub fn state_path(settings: &Settings) -> std::path::PathBuf {
    settings.knowledge.data_dir.join("kraft.sqlite")
}

pub fn run(settings: &Settings, cmd: TicketsCommand) -> Result<ExitCode> {
    // The configured engine: advisers on PostgreSQL see the tickets the
    // running instances share.
    let store = crate::knowledge::open_state(settings, &state_path(settings))?;
    let desk = Desk::new(
        store.clone(),
        Arc::new(SystemClock),
        settings.core.escalation.clone(),
    );
    let res = match cmd {
        TicketsCommand::List { all, json } => {
            let statuses: &[TicketStatus] = if all {
                &[]
            } else {
                &[TicketStatus::Waiting, TicketStatus::Active]
            };
            let ts = desk.list(statuses, 200)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&ts)?);
            } else if ts.is_empty() {
                println!("Inga öppna ärenden. / No open tickets.");
            } else {
                println!(
                    "{:>5}  {:<9} {:<10} {:<4} {:<17} {:<14} reason",
                    "#", "status", "platform", "lang", "opened (UTC)", "adviser"
                );
                for t in ts {
                    println!(
                        "{:>5}  {:<9} {:<10} {:<4} {:<17} {:<14} {}",
                        t.id,
                        t.status.as_str(),
                        t.platform.as_str(),
                        t.lang.as_str(),
                        t.created_at.format("%Y-%m-%d %H:%M"),
                        t.adviser.as_deref().unwrap_or("-"),
                        t.reason
                    );
                }
            }
            Ok(())
        }
        TicketsCommand::Show { id, json } => desk.show(id).map(|v| {
            if json {
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
                return;
            }
            let t = &v.ticket;
            println!(
                "Ticket #{} · {} · {} · {} · adviser: {} · waited {} min",
                t.id,
                t.status.as_str(),
                t.platform.as_str(),
                t.lang.as_str(),
                t.adviser.as_deref().unwrap_or("-"),
                v.waited_mins
            );
            println!("\n{}", t.summary);
            println!("Conversation:");
            for m in &v.messages {
                let who = match m.role {
                    Role::User => "user",
                    Role::Bot => "bot",
                    Role::Adviser => "adviser",
                };
                println!(
                    "  [{}] {who}: {}",
                    m.created_at.format("%H:%M"),
                    m.text.replace('\n', "\n      ")
                );
            }
        }),
        TicketsCommand::Claim { id, adviser, force } => desk.claim(id, &adviser, force).map(|t| {
            println!(
                "Ticket #{} is yours ({}). The bot is quiet; the user has been told.",
                t.id,
                t.adviser.as_deref().unwrap_or("")
            )
        }),
        TicketsCommand::Reply {
            id,
            text,
            adviser,
            key,
        } => desk.reply(id, &adviser, &text, key.as_deref()).map(|r| {
            if r.queued {
                println!(
                    "Queued for the user of ticket #{}{}.",
                    r.ticket.id,
                    if r.claimed { " (ticket claimed)" } else { "" }
                );
            } else {
                println!("Already sent (same --key); not sent again.");
            }
        }),
        TicketsCommand::Resolve { id, note } => desk
            .resolve(id, note.as_deref())
            .map(|t| println!("Ticket #{} resolved; the user is back with the bot.", t.id)),
    };
    match res {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e @ DeskError::Store(_)) => Err(e.into()),
        Err(e) => {
            eprintln!("kraft: {e}");
            Ok(ExitCode::from(1))
        }
    }
}
