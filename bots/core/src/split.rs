//! Splitting a long message into parts under a platform's size limit.
//! Shared by the front-ends; each brings its own measure (Telegram counts
//! UTF-16 units of escaped HTML, Discord counts characters). Pure.

/// Splits `text` into parts whose `cost` is at most `max`:
/// whole paragraphs where possible, then lines, then words, and only a
/// single over-long word is cut. Separators at a cut are dropped; nothing
/// else is lost or reordered.
pub fn split_by(text: &str, max: usize, cost: &dyn Fn(&str) -> usize) -> Vec<String> {
    let max = max.max(16);
    if cost(text) <= max {
        return vec![text.to_string()];
    }
    let mut parts = Vec::new();
    let mut cur = String::new();
    for para in text.split("\n\n") {
        push_piece(&mut parts, &mut cur, para, "\n\n", max, 0, cost);
    }
    if !cur.trim().is_empty() {
        parts.push(cur);
    }
    parts
}

const SEPARATORS: [&str; 3] = ["\n\n", "\n", " "];

fn push_piece(
    parts: &mut Vec<String>,
    cur: &mut String,
    piece: &str,
    sep: &str,
    max: usize,
    level: usize,
    cost: &dyn Fn(&str) -> usize,
) {
    let joined = if cur.is_empty() {
        piece.to_string()
    } else {
        format!("{cur}{sep}{piece}")
    };
    if cost(&joined) <= max {
        *cur = joined;
        return;
    }
    if !cur.trim().is_empty() {
        parts.push(std::mem::take(cur));
    } else {
        cur.clear();
    }
    if cost(piece) <= max {
        *cur = piece.to_string();
        return;
    }
    // The piece alone is too long: split it at the next finer separator.
    if level + 1 < SEPARATORS.len() {
        let finer = SEPARATORS[level + 1];
        for sub in piece.split(finer) {
            push_piece(parts, cur, sub, finer, max, level + 1, cost);
        }
    } else {
        // One word longer than a message: cut by characters.
        let mut chunk = String::new();
        for c in piece.chars() {
            chunk.push(c);
            if cost(&chunk) > max {
                chunk.pop();
                parts.push(std::mem::take(&mut chunk));
                chunk.push(c);
            }
        }
        *cur = chunk;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chars(s: &str) -> usize {
        s.chars().count()
    }

    #[test]
    fn paragraphs_stay_whole_and_nothing_is_lost() {
        let para = "Ord ".repeat(100); // 400 chars
        let text: Vec<String> = (0..6).map(|i| format!("{i}. {}", para.trim())).collect();
        let text = text.join("\n\n");
        let parts = split_by(&text, 2000, &chars);
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| chars(p) <= 2000));
        assert!(parts
            .iter()
            .all(|p| p.starts_with(|c: char| c.is_ascii_digit())));
        assert_eq!(parts.join("\n\n"), text);
    }

    #[test]
    fn one_long_word_is_cut_by_characters() {
        let text = "å".repeat(4500);
        let parts = split_by(&text, 2000, &chars);
        assert_eq!(
            parts.iter().map(|p| chars(p)).collect::<Vec<_>>(),
            [2000, 2000, 500]
        );
        assert_eq!(parts.concat(), text);
    }

    #[test]
    fn a_tiny_limit_is_raised_to_a_floor() {
        let parts = split_by("a b c d e f g h i j k l m n o p q r s t", 1, &chars);
        assert!(parts.iter().all(|p| chars(p) <= 16));
    }
}
