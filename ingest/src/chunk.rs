//! Markdown chunking along the heading structure.
//!
//! A chunk is (part of) one section: the blocks under one heading, carrying
//! the heading path and the document title as context. Long sections are
//! split between top-level blocks, so a list, table, code block or block
//! quote is never cut in half; a single block larger than the target size
//! becomes a chunk of its own rather than being broken.

use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Sizes in characters (not bytes, so Swedish text is not penalised).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChunkConfig {
    /// A section longer than this is split at block boundaries.
    pub max_chars: usize,
    /// A trailing piece shorter than this is merged into the previous one.
    pub min_chars: usize,
}

impl Default for ChunkConfig {
    fn default() -> Self {
        Self {
            max_chars: 1200,
            min_chars: 200,
        }
    }
}

/// One chunk of a document, before it gets vectors.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    /// Stable id: UUIDv5 of document path, heading path and ordinal.
    pub id: Uuid,
    pub heading_path: Vec<String>,
    /// Index of this chunk among chunks with the same heading path.
    pub ordinal: usize,
    /// The Markdown of the blocks, as written.
    pub text: String,
    /// 1-based line in the source file where the chunk starts.
    pub line: usize,
    /// blake3 of the text plus its context.
    pub content_hash: String,
}

impl Chunk {
    /// The text that gets embedded and BM25-indexed: title and heading path
    /// first, because "Vad kostar det?" only means something under its heading.
    pub fn indexed_text(&self, title: &str, tags: &[String]) -> String {
        indexed_text(title, &self.heading_path, tags, &self.text)
    }
}

/// See [`Chunk::indexed_text`]. The document's tags are curated search
/// words (synonyms, English terms for a Swedish page), so they go in too;
/// the text of links to other pages stays out
/// ([`crate::passage::without_internal_links`]).
pub fn indexed_text(title: &str, heading_path: &[String], tags: &[String], text: &str) -> String {
    let mut s = String::with_capacity(title.len() + text.len() + 64);
    s.push_str(title);
    for h in heading_path {
        if h != title {
            s.push_str(" > ");
            s.push_str(h);
        }
    }
    if !tags.is_empty() {
        s.push('\n');
        s.push_str(&tags.join(", "));
    }
    s.push_str("\n\n");
    s.push_str(&crate::passage::without_internal_links(text));
    s
}

/// Namespace for chunk ids, so ids never collide with other UUIDv5 users.
const CHUNK_NS: Uuid = Uuid::from_bytes([
    0x6b, 0x72, 0x61, 0x66, 0x74, 0x2d, 0x4b, 0x42, 0x80, 0x11, 0x20, 0x25, 0x20, 0x28, 0x00, 0x01,
]);

pub fn chunk_id(doc_path: &str, heading_path: &[String], ordinal: usize) -> Uuid {
    let key = format!(
        "{doc_path}\u{1f}{}\u{1f}{ordinal}",
        heading_path.join("\u{1e}")
    );
    Uuid::new_v5(&CHUNK_NS, key.as_bytes())
}

/// A top-level block with its byte range in the body.
struct Block {
    start: usize,
    end: usize,
}

struct Section {
    heading_path: Vec<String>,
    blocks: Vec<Block>,
}

/// Splits a Markdown body into chunks. `first_line` is the file line where
/// the body starts, so chunk lines point into the real file.
pub fn chunk_markdown(
    doc_path: &str,
    body: &str,
    first_line: usize,
    cfg: &ChunkConfig,
) -> Vec<Chunk> {
    let sections = sections(body);
    let mut out: Vec<Chunk> = Vec::new();
    // Ordinals count per *id key*, not per heading path: two paths that join
    // to the same key (an image-only heading is "", a heading may contain
    // the separator) then get different ordinals, so ids stay unique, while
    // every ordinary document keeps exactly the ids it had.
    let mut seen: std::collections::HashMap<String, usize> = Default::default();
    // (byte offset, 1-based body line) of the last piece.
    let mut line_at: (usize, usize) = (0, 1);
    for sec in sections {
        for piece in pack(&sec.blocks, body, cfg) {
            let text = body[piece.0..piece.1].trim().to_string();
            if text.is_empty() {
                continue;
            }
            let ordinal = seen.entry(sec.heading_path.join("\u{1e}")).or_insert(0);
            let id = chunk_id(doc_path, &sec.heading_path, *ordinal);
            // Lines are counted on from the previous piece (pieces come in
            // document order): counting from the start for every chunk was
            // quadratic, 51 s for a 1 MB file in a debug build (found by
            // the fuzz tests).
            let (from, at) = line_at;
            let body_line = if piece.0 >= from {
                at + body.as_bytes()[from..piece.0]
                    .iter()
                    .filter(|&&b| b == b'\n')
                    .count()
            } else {
                crate::doc::line_of(body.as_bytes(), piece.0)
            };
            line_at = (piece.0, body_line);
            let line = first_line - 1 + body_line;
            let mut h = blake3::Hasher::new();
            h.update(sec.heading_path.join("\u{1e}").as_bytes());
            h.update(b"\x1f");
            h.update(text.as_bytes());
            out.push(Chunk {
                id,
                heading_path: sec.heading_path.clone(),
                ordinal: *ordinal,
                text,
                line,
                content_hash: h.finalize().to_hex().to_string(),
            });
            *ordinal += 1;
        }
    }
    out
}

/// Groups consecutive blocks into pieces of at most `max_chars`, never
/// splitting a block. Returns byte ranges.
fn pack(blocks: &[Block], body: &str, cfg: &ChunkConfig) -> Vec<(usize, usize)> {
    let chars = |a: usize, b: usize| body[a..b].chars().count();
    let mut pieces: Vec<(usize, usize)> = Vec::new();
    for b in blocks {
        match pieces.last_mut() {
            Some(last) if chars(last.0, b.end) <= cfg.max_chars => last.1 = b.end,
            _ => pieces.push((b.start, b.end)),
        }
    }
    // A short tail reads better merged back than standing alone, as long as
    // the merged piece stays within a generous bound.
    if pieces.len() >= 2 {
        let n = pieces.len();
        let tail = pieces[n - 1];
        let prev = pieces[n - 2];
        if chars(tail.0, tail.1) < cfg.min_chars && chars(prev.0, tail.1) <= cfg.max_chars * 3 / 2 {
            pieces[n - 2].1 = tail.1;
            pieces.pop();
        }
    }
    pieces
}

fn level_index(level: HeadingLevel) -> usize {
    match level {
        HeadingLevel::H1 => 0,
        HeadingLevel::H2 => 1,
        HeadingLevel::H3 => 2,
        HeadingLevel::H4 => 3,
        HeadingLevel::H5 => 4,
        HeadingLevel::H6 => 5,
    }
}

/// Walks the top-level events and groups blocks under their heading path.
fn sections(body: &str) -> Vec<Section> {
    let opts = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let parser = Parser::new_ext(body, opts).into_offset_iter();
    let mut stack: [Option<String>; 6] = Default::default();
    let mut sections = vec![Section {
        heading_path: Vec::new(),
        blocks: Vec::new(),
    }];
    let mut depth = 0usize;
    let mut in_heading: Option<(usize, String)> = None;
    for (event, range) in parser {
        match event {
            Event::Start(Tag::Heading { level, .. }) if depth == 0 => {
                in_heading = Some((level_index(level), String::new()));
                depth += 1;
            }
            Event::End(TagEnd::Heading(_)) if depth == 1 && in_heading.is_some() => {
                depth -= 1;
                if let Some((lvl, text)) = in_heading.take() {
                    stack[lvl] = Some(text.trim().to_string());
                    for s in stack.iter_mut().skip(lvl + 1) {
                        *s = None;
                    }
                    sections.push(Section {
                        heading_path: stack.iter().flatten().cloned().collect(),
                        blocks: Vec::new(),
                    });
                }
            }
            Event::Text(t) | Event::Code(t) if in_heading.is_some() => {
                if let Some((_, h)) = in_heading.as_mut() {
                    h.push_str(&t);
                }
            }
            Event::Start(_) => {
                if depth == 0 {
                    if let Some(sec) = sections.last_mut() {
                        sec.blocks.push(Block {
                            start: range.start,
                            end: range.end,
                        });
                    }
                }
                depth += 1;
            }
            Event::End(_) => depth = depth.saturating_sub(1),
            // Leaf blocks at top level (rules, raw HTML lines).
            Event::Html(_) | Event::Rule | Event::Text(_) if depth == 0 => {
                if let Some(sec) = sections.last_mut() {
                    sec.blocks.push(Block {
                        start: range.start,
                        end: range.end,
                    });
                }
            }
            _ => {}
        }
    }
    sections.retain(|s| !s.blocks.is_empty());
    sections
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(max: usize) -> ChunkConfig {
        ChunkConfig {
            max_chars: max,
            min_chars: 0,
        }
    }

    #[test]
    fn chunks_follow_headings_and_keep_path() {
        let md = "# Titel\n\nIntro.\n\n## Vad kostar det?\n\nInget.\n\n### Moms\n\nNej.\n\n## Vem kan delta?\n\nSMF.\n";
        let c = chunk_markdown("a.md", md, 1, &cfg(1000));
        let paths: Vec<String> = c.iter().map(|c| c.heading_path.join(" > ")).collect();
        assert_eq!(
            paths,
            vec![
                "Titel",
                "Titel > Vad kostar det?",
                "Titel > Vad kostar det? > Moms",
                "Titel > Vem kan delta?"
            ]
        );
        assert_eq!(c[1].text, "Inget.");
        assert_eq!(c[1].line, 7);
        assert!(c[1]
            .indexed_text("Titel", &[])
            .starts_with("Titel > Vad kostar det?"));
    }

    #[test]
    fn lists_tables_and_code_are_never_cut() {
        let list: String = (0..40)
            .map(|i| format!("- punkt nummer {i} med lite text\n"))
            .collect();
        let table = "| a | b |\n|---|---|\n| 1 | 2 |\n| 3 | 4 |\n| 5 | 6 |\n";
        let code = "```\nfn main() {\n    println!(\"hej\");\n}\n```\n";
        let md = format!("## S\n\nFörsta stycket.\n\n{list}\n{table}\n{code}\nSista stycket.\n");
        let c = chunk_markdown("a.md", &md, 1, &cfg(60));
        assert!(c.len() >= 4, "{c:#?}");
        assert!(
            c.iter().any(|c| c.text.contains(list.trim())),
            "list kept whole"
        );
        assert!(
            c.iter().any(|c| c.text.contains(table.trim())),
            "table kept whole"
        );
        assert!(
            c.iter().any(|c| c.text.contains(code.trim())),
            "code kept whole"
        );
        for ch in &c {
            assert_eq!(ch.heading_path, vec!["S".to_string()]);
        }
        let ords: Vec<usize> = c.iter().map(|c| c.ordinal).collect();
        assert_eq!(ords, (0..c.len()).collect::<Vec<_>>());
    }

    #[test]
    fn paragraphs_are_packed_up_to_the_limit() {
        let para = "Ett stycke med ungefär femtio tecken i sig, ja.\n\n";
        let md = format!("## S\n\n{}", para.repeat(10));
        let c = chunk_markdown("a.md", &md, 1, &cfg(200));
        assert!(c.len() >= 3);
        for ch in &c {
            assert!(ch.text.chars().count() <= 200, "{}", ch.text.len());
        }
    }

    #[test]
    fn ids_are_stable_and_change_with_path() {
        let md = "## A\n\nx\n\n## B\n\ny\n";
        let a = chunk_markdown("a.md", md, 1, &cfg(100));
        let b = chunk_markdown("a.md", md, 1, &cfg(100));
        assert_eq!(a, b);
        let c = chunk_markdown("b.md", md, 1, &cfg(100));
        assert_ne!(a[0].id, c[0].id);
        assert_eq!(a[0].content_hash, c[0].content_hash);
    }

    #[test]
    fn editing_one_section_changes_only_its_hash() {
        let a = chunk_markdown("a.md", "## A\n\nx\n\n## B\n\ny\n", 1, &cfg(100));
        let b = chunk_markdown("a.md", "## A\n\nx\n\n## B\n\nz\n", 1, &cfg(100));
        assert_eq!(a[0].content_hash, b[0].content_hash);
        assert_ne!(a[1].content_hash, b[1].content_hash);
        assert_eq!(a[1].id, b[1].id);
    }

    #[test]
    fn duplicate_headings_get_distinct_ids() {
        let c = chunk_markdown("a.md", "## A\n\nx\n\n## A\n\ny\n", 1, &cfg(100));
        assert_eq!(c.len(), 2);
        assert_ne!(c[0].id, c[1].id);
    }
}
