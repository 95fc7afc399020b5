//! Text and buttons for Discord: sources as masked links, splitting under
//! the 2000-character limit, and the core's buttons as message components.
//! Pure functions, no I/O.
//!
//! Discord renders Markdown itself, so the answer text is sent as it is;
//! only the source list is rewritten (a masked link per source, in angle
//! brackets so Discord shows no preview card). Nobody is ever pinged by
//! text: every message is sent with an empty `allowed_mentions` unless the
//! caller names who may be pinged.

use kraft_core::buttons::{ButtonId, TicketOp};
use kraft_core::sources::SourceLine;
use kraft_core::Button;
use serde_json::{json, Value};

/// Discord's limit for a message's content, in characters.
pub const MAX_MESSAGE: usize = 2000;
/// Discord: at most 5 buttons in a row and 5 rows in a message.
const ROW: usize = 5;
const ROWS: usize = 5;
/// Discord: a button label is at most 80 characters, a custom id 100.
const LABEL_MAX: usize = 80;
const CUSTOM_ID_MAX: usize = 100;

/// Message flag: no link previews (the sources would fill the screen).
pub const SUPPRESS_EMBEDS: u64 = 1 << 2;
/// Message flag: only the person who pressed sees it.
pub const EPHEMERAL: u64 = 1 << 6;

/// Escapes Markdown in text that must show literally (a source title).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if matches!(
            c,
            '\\' | '*' | '_' | '~' | '`' | '|' | '[' | ']' | '(' | ')' | '<' | '>' | '#'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The core's text for Discord: the sources heading in bold and every
/// `[n] Title – https://…` line as `[n] [Title](<https://…>)`.
pub fn to_discord(text: &str) -> String {
    let headings = kraft_core::sources::headings();
    let mut in_sources = false;
    text.split('\n')
        .map(|line| {
            if headings.contains(&line.trim()) {
                in_sources = true;
                return format!("**{}**", line.trim());
            }
            if in_sources {
                if let Some(l) = SourceLine::parse(line) {
                    return format!("[{}] [{}](<{}>){}", l.n, escape(l.title), l.url, l.tail);
                }
            }
            line.to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Splits Discord text into parts of at most `MAX_MESSAGE` characters,
/// at paragraphs, then lines, then words.
pub fn split(text: &str) -> Vec<String> {
    kraft_core::split::split_by(text, MAX_MESSAGE, &|s: &str| s.chars().count())
}

/// The core's buttons as action rows. Short labels (👍 👎) share the first
/// row; the rest follow five to a row. Buttons beyond Discord's 25 are
/// dropped (the core never offers that many).
pub fn components(buttons: &[Button]) -> Vec<Value> {
    let mut short = Vec::new();
    let mut long = Vec::new();
    for b in buttons {
        if b.id.is_empty() || b.id.len() > CUSTOM_ID_MAX {
            continue;
        }
        let label: String = b.label.chars().take(LABEL_MAX).collect();
        let primary = matches!(
            ButtonId::parse(&b.id),
            Some(
                ButtonId::Human
                    | ButtonId::Ticket {
                        op: TicketOp::Claim,
                        ..
                    }
            )
        );
        let style = if primary {
            1 // primary: the one action that matters most
        } else {
            2 // secondary
        };
        let btn = json!({"type": 2, "style": style, "label": label, "custom_id": b.id});
        if b.label.chars().count() <= 3 {
            short.push(btn);
        } else {
            long.push(btn);
        }
    }
    let mut rows: Vec<Value> = Vec::new();
    for chunk in short.chunks(ROW).chain(long.chunks(ROW)) {
        if rows.len() == ROWS {
            break;
        }
        rows.push(json!({"type": 1, "components": chunk}));
    }
    rows
}

/// A message body: content, buttons, no previews, and mentions limited
/// to `users` and `roles` (nobody when both are empty).
pub fn message(content: &str, buttons: &[Button], users: &[u64], roles: &[u64]) -> Value {
    json!({
        "content": content,
        "components": components(buttons),
        "flags": SUPPRESS_EMBEDS,
        "allowed_mentions": {
            "parse": [],
            "users": users.iter().map(|u| u.to_string()).collect::<Vec<_>>(),
            "roles": roles.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_lines_become_masked_links_without_previews() {
        let t = "Svar här.\n\nKällor:\n[1] Stöd_för *AI* [beta] – https://x.se/a_b\n[2] Utan länk";
        let d = to_discord(t);
        assert_eq!(
            d,
            "Svar här.\n\n**Källor:**\n[1] [Stöd\\_för \\*AI\\* \\[beta\\]](<https://x.se/a_b>)\n[2] Utan länk"
        );
    }

    #[test]
    fn lines_before_the_heading_are_untouched() {
        let t = "[1] Not a source – https://x.se\nKällor:";
        assert!(to_discord(t).starts_with("[1] Not a source – https://x.se\n"));
    }

    #[test]
    fn a_5600_char_answer_is_four_parts_of_whole_paragraphs() {
        let para = "Ord ".repeat(200);
        let text = [para.trim(); 7].join("\n\n");
        assert_eq!(text.chars().count(), 7 * 799 + 6 * 2);
        let parts = split(&text);
        assert_eq!(parts.len(), 4); // 2 + 2 + 2 + 1 paragraphs of 799
        assert!(parts.iter().all(|p| p.chars().count() <= MAX_MESSAGE));
        assert_eq!(parts.join("\n\n"), text);
    }

    #[test]
    fn buttons_become_rows_of_at_most_five() {
        let mut b = vec![Button::new("fb:up:1", "👍"), Button::new("fb:down:1", "👎")];
        b.push(Button::new("human", "Prata med en rådgivare"));
        for i in 0..7 {
            b.push(Button::new(
                format!("an:opt:{i}"),
                format!("Alternativ {i}"),
            ));
        }
        let rows = components(&b);
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0]["components"].as_array().map(Vec::len), Some(2));
        assert_eq!(rows[1]["components"].as_array().map(Vec::len), Some(5));
        assert_eq!(rows[1]["components"][0]["style"], 1);
        assert_eq!(rows[2]["components"].as_array().map(Vec::len), Some(3));
    }

    #[test]
    fn nobody_is_pinged_unless_named() {
        let m = message("@everyone hej", &[], &[], &[]);
        assert_eq!(m["allowed_mentions"]["parse"], json!([]));
        assert_eq!(m["allowed_mentions"]["users"], json!([]));
        let m = message("<@&7> nytt ärende", &[], &[], &[7]);
        assert_eq!(m["allowed_mentions"]["roles"], json!(["7"]));
    }
}
