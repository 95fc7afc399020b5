//! Text for Telegram: HTML escaping and splitting long messages under the
//! 4096-character limit at paragraph boundaries. Pure functions, no I/O.
//!
//! HTML rather than MarkdownV2: HTML needs only `&`, `<` and `>` escaped,
//! so a source title full of `_*[]()` cannot break a message.

/// Telegram's limit, counted in UTF-16 code units of the text after entity
/// parsing. We count the escaped text, which is never shorter, so every
/// part is safe.
pub const MAX_MESSAGE: usize = 4096;

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

/// Escapes the text and makes the sources heading bold, so the list of
/// sources stands apart from the answer.
pub fn to_html(s: &str, headings: &[&str]) -> String {
    s.split('\n')
        .map(|line| {
            let e = escape(line);
            if headings.iter().any(|h| line.trim() == *h) {
                format!("<b>{e}</b>")
            } else {
                e
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn cost(s: &str) -> usize {
    escape(s).encode_utf16().count() + 7 // room for <b></b> on a heading
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
        let h = to_html(t, &[]);
        assert_eq!(
            h,
            "[1] Stöd_för *AI* [beta] (v2) &lt;script&gt; &amp; co – https://x.se/a_b"
        );
        assert_eq!(to_html("Källor:\nx", &["Källor:"]), "<b>Källor:</b>\nx");
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
