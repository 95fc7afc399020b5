//! Text for Telegram: HTML escaping and splitting long messages under the
//! 4096-character limit at paragraph boundaries. Pure functions, no I/O.
//!
//! HTML rather than MarkdownV2: HTML needs only `&`, `<` and `>` escaped,
//! so a source title full of `_*[]()` cannot break a message.

/// Telegram's limit, counted in UTF-16 code units of the text after entity
/// parsing. We count the escaped text, which is never shorter, so every
/// part is safe.
pub const MAX_MESSAGE: usize = 4096;

use kraft_core::sources::SourceLine;

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes the text, makes the sources heading bold and each source's
/// title a link to its page, so the list reads as titles, not addresses.
pub fn to_html(s: &str) -> String {
    let headings = kraft_core::sources::headings();
    let mut in_sources = false;
    s.split('\n')
        .map(|line| {
            if headings.contains(&line.trim()) {
                in_sources = true;
                return format!("<b>{}</b>", escape(line));
            }
            if in_sources {
                if let Some(l) = SourceLine::parse(line) {
                    return format!(
                        "[{}] <a href=\"{}\">{}</a>{}",
                        l.n,
                        escape(l.url),
                        escape(l.title),
                        escape(l.tail)
                    );
                }
            }
            escape(line)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// What a part costs against the limit. Telegram counts the text after
/// entity parsing, so a link's address is free; counting the markup too
/// only makes parts a little shorter than they could be.
fn cost(s: &str) -> usize {
    to_html(s).encode_utf16().count()
}

/// Splits `text` into parts whose escaped length is at most `max` (see
/// `kraft_core::split`).
pub fn split(text: &str, max: usize) -> Vec<String> {
    kraft_core::split::split_by(text, max, &cost)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_titles_are_escaped_for_html() {
        let t = "[1] Stöd_för *AI* [beta] (v2) <script> & co – https://x.se/a_b";
        let h = to_html(t);
        assert_eq!(
            h,
            "[1] Stöd_för *AI* [beta] (v2) &lt;script&gt; &amp; co – https://x.se/a_b"
        );
        assert_eq!(to_html("Källor:\nx"), "<b>Källor:</b>\nx");
        // Under the heading, the same line is a linked title.
        assert_eq!(
            to_html(&format!("Svar.\n\nKällor:\n{t}\n[2] Utan länk")),
            "Svar.\n\n<b>Källor:</b>\n[1] <a href=\"https://x.se/a_b\">Stöd_för *AI* [beta] (v2) &lt;script&gt; &amp; co</a>\n[2] Utan länk"
        );
    }

    #[test]
    fn a_6000_char_answer_becomes_two_parts_at_a_paragraph_boundary() {
        let para = "Ord ".repeat(250); // 1000 chars
        let text: Vec<String> = (0..6).map(|i| format!("{i}. {}", para.trim())).collect();
        let text = text.join("\n\n");
        assert!(text.chars().count() > 6000);
        let parts = split(&text, MAX_MESSAGE);
        assert_eq!(
            parts.len(),
            2,
            "{:?}",
            parts.iter().map(|p| p.len()).collect::<Vec<_>>()
        );
        for p in &parts {
            assert!(cost(p) <= MAX_MESSAGE);
            assert!(
                p.starts_with(|c: char| c.is_ascii_digit()),
                "starts mid-paragraph"
            );
        }
        assert_eq!(parts.join("\n\n"), text);
    }

    #[test]
    fn escaping_counts_towards_the_limit_and_nothing_is_lost() {
        let text = "<&>".repeat(3000); // 9000 chars, 27000 escaped
        let parts = split(&text, MAX_MESSAGE);
        assert!(parts.len() >= 7);
        assert!(parts.iter().all(|p| cost(p) <= MAX_MESSAGE));
        assert_eq!(parts.concat(), text);
    }

    #[test]
    fn long_lines_split_at_words_and_emoji_count_as_two_units() {
        let text = "😀 ".repeat(3000);
        let parts = split(text.trim(), 1000);
        assert!(parts.iter().all(|p| cost(p) <= 1000));
        assert_eq!(parts.join(" "), text.trim());
    }

    #[test]
    fn short_text_is_one_part() {
        assert_eq!(split("Hej!", MAX_MESSAGE), vec!["Hej!".to_string()]);
    }
}
