//! Readable units of a Markdown passage: sentences of paragraphs and whole
//! list items, with Markdown markup removed. Ranking scores them (the best
//! sentence of a passage says more about it than its average) and the
//! assistant quotes them, so both see the same text.

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

/// One readable piece of a passage: a sentence of a paragraph, or a whole
/// list item.
#[derive(Debug, Clone, PartialEq)]
pub struct Unit {
    pub text: String,
    pub list_item: bool,
    /// Index of the block (paragraph or list) the unit belongs to.
    pub block: usize,
    /// For a list item that opens with bold text ("**Bilder** på
    /// produkterna …"), that text: the item in a word, for a list too long
    /// to quote whole.
    pub head: Option<String>,
}

/// Plain text of a Markdown passage, split into units. Headings are
/// dropped (the heading path is context, not content); links keep their
/// text; code and emphasis keep their words.
pub fn units(markdown: &str) -> Vec<Unit> {
    let mut out = Vec::new();
    let mut buf = String::new();
    let mut in_heading = false;
    let mut item_depth = 0usize;
    let mut block = 0usize;
    // The bold opening of the current list item, while it is read.
    let mut head: Option<String> = None;
    let mut in_head = false;
    let flush = |buf: &mut String,
                 out: &mut Vec<Unit>,
                 list: bool,
                 block: usize,
                 head: &mut Option<String>| {
        let t = buf.split_whitespace().collect::<Vec<_>>().join(" ");
        buf.clear();
        let h = head
            .take()
            .map(|h| h.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|h| !h.is_empty());
        if t.is_empty() {
            return;
        }
        if list {
            out.push(Unit {
                text: t,
                list_item: true,
                block,
                head: h,
            });
        } else {
            for s in sentences(&t) {
                out.push(Unit {
                    text: s,
                    list_item: false,
                    block,
                    head: None,
                });
            }
        }
    };
    // A table row becomes one list item ("Region Sörmland: 1,5 miljoner
    // kronor"); its header row says nothing on its own and is dropped.
    let mut cells: Vec<String> = Vec::new();
    for ev in Parser::new_ext(markdown, Options::ENABLE_TABLES) {
        match ev {
            Event::Start(Tag::Heading { .. }) => in_heading = true,
            Event::End(TagEnd::Heading(_)) => {
                in_heading = false;
                buf.clear();
            }
            Event::Start(Tag::Item) => {
                if item_depth == 0 {
                    flush(&mut buf, &mut out, false, block, &mut None);
                    head = None;
                }
                item_depth += 1;
            }
            Event::End(TagEnd::Item) => {
                item_depth = item_depth.saturating_sub(1);
                if item_depth == 0 {
                    flush(&mut buf, &mut out, true, block, &mut head);
                } else {
                    buf.push(' ');
                }
            }
            Event::Start(Tag::Strong) if item_depth == 1 && buf.trim().is_empty() => {
                in_head = true;
                head = Some(String::new());
            }
            Event::End(TagEnd::Strong) if in_head => in_head = false,
            Event::Start(Tag::List(_)) if item_depth == 0 => block += 1,
            Event::End(TagEnd::List(_)) if item_depth == 0 => block += 1,
            Event::End(TagEnd::Paragraph) if item_depth == 0 => {
                flush(&mut buf, &mut out, false, block, &mut None);
                block += 1;
            }
            Event::End(TagEnd::Paragraph) => buf.push(' '),
            Event::Text(t) | Event::Code(t) if !in_heading => {
                if in_head {
                    if let Some(h) = head.as_mut() {
                        h.push_str(&t);
                    }
                }
                buf.push_str(&t)
            }
            Event::SoftBreak | Event::HardBreak => buf.push(' '),
            Event::Start(Tag::Table(_)) => {
                flush(&mut buf, &mut out, false, block, &mut None);
                block += 1;
            }
            Event::End(TagEnd::Table) => block += 1,
            Event::End(TagEnd::TableCell) => {
                let c = buf.split_whitespace().collect::<Vec<_>>().join(" ");
                buf.clear();
                cells.push(c);
            }
            Event::End(TagEnd::TableHead) => {
                cells.clear();
                buf.clear();
            }
            Event::End(TagEnd::TableRow) => {
                cells.retain(|c| !c.is_empty());
                let sep = if cells.len() == 2 { ": " } else { " – " };
                buf.push_str(&cells.join(sep));
                cells.clear();
                flush(&mut buf, &mut out, true, block, &mut None);
            }
            _ => {}
        }
    }
    flush(&mut buf, &mut out, item_depth > 0, block, &mut head);
    out
}

/// Splits at ". ", "? ", "! " followed by an upper-case letter or digit, so
/// "t.ex. AI" and "ca. 2 timmar" stay whole.
fn sentences(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if matches!(c, '.' | '?' | '!')
            && chars.get(i + 1) == Some(&' ')
            && chars
                .get(i + 2)
                .is_some_and(|n| n.is_uppercase() || n.is_ascii_digit())
        {
            // Skip abbreviations like "t.ex." / "bl.a." (a short word before).
            let word_start = chars[..i]
                .iter()
                .rposition(|ch| *ch == ' ')
                .map(|p| p + 1)
                .unwrap_or(0);
            let word: String = chars[word_start..i].iter().collect();
            if !(word.contains('.') && word.len() <= 5) {
                let s: String = chars[start..=i].iter().collect();
                out.push(s.trim().to_string());
                start = i + 2;
            }
        }
        i += 1;
    }
    let rest: String = chars[start.min(chars.len())..].iter().collect();
    if !rest.trim().is_empty() {
        out.push(rest.trim().to_string());
    }
    out
}

/// Lower-cased text with whitespace collapsed and Markdown markup removed:
/// what "this sentence is in the source" is checked against.
pub fn plain(markdown: &str) -> String {
    units(markdown)
        .iter()
        .map(|u| u.text.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The passage without the text of its links to other pages of the
/// knowledge base ("Se [Ruttplanering och transportoptimering](ruttplanering.md)"):
/// a page is not about the pages it points to, and a pointer's words made
/// the haulage page win a route-planning question that it says it leaves
/// to another page. Links out of the knowledge base (`https://…`) keep
/// their text: it names the source the page rests on.
pub fn without_internal_links(markdown: &str) -> String {
    let mut out = String::with_capacity(markdown.len());
    let mut rest = markdown;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        let link = after.find("](").and_then(|close| {
            let text = &after[..close];
            if text.contains(['[', '\n']) {
                return None;
            }
            let target_from = close + 2;
            let end = after[target_from..].find(')')? + target_from;
            let target = &after[target_from..end];
            let internal = !target.contains("://")
                && !target.starts_with("mailto:")
                && !target.contains(char::is_whitespace);
            internal.then_some(end + 1)
        });
        match link {
            Some(len) => {
                out.push_str(&rest[..open]);
                rest = &after[len..];
            }
            None => {
                out.push_str(&rest[..=open]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_row_reads_as_one_item_without_pipes() {
        let md = "Fyra parter finansierar projektet:\n\n| Finansiär | Belopp |\n|---|---|\n| Region Sörmland | 1,5 miljoner kronor |\n| **Totalt** | cirka 7,2 miljoner kronor |\n\nSlut.";
        let u = units(md);
        let t: Vec<&str> = u.iter().map(|u| u.text.as_str()).collect();
        assert_eq!(
            t,
            [
                "Fyra parter finansierar projektet:",
                "Region Sörmland: 1,5 miljoner kronor",
                "Totalt: cirka 7,2 miljoner kronor",
                "Slut."
            ]
        );
        assert!(u[1].list_item && u[2].list_item && !u[3].list_item);
        assert_eq!(u[1].block, u[2].block);
        assert_ne!(u[2].block, u[3].block);
    }

    #[test]
    fn links_to_other_pages_lose_their_text_and_sources_keep_theirs() {
        let md = "Rutter beskrivs i [Ruttplanering](ruttplanering.md). Se [GDPR](../guides/gdpr.md#lag) och [IMY](https://www.imy.se/). Inget [hakparentes] här, [a](b c).";
        assert_eq!(
            without_internal_links(md),
            "Rutter beskrivs i . Se  och [IMY](https://www.imy.se/). Inget [hakparentes] här, [a](b c)."
        );
        assert_eq!(without_internal_links("[x](y.md"), "[x](y.md");
        assert_eq!(without_internal_links("ä[ö](å.md)ü"), "äü");
    }
}
