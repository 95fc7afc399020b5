//! How an answer's sources read: a numbered title, linked to a page about
//! that document (Kraft's own knowledge page when its public address is
//! configured, else the document's `source_url`), never a repository file
//! path (curators get paths from `kraft ask --json`). Front-ends parse the
//! lines back ([`SourceLine::parse`]) to make real links in their markup.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::model::SourceRef;
use crate::{texts, Lang};

/// A path segment keeps only what needs no escaping anywhere.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_');

/// Both languages' sources headings, for front-ends that style them.
pub fn headings() -> [&'static str; 2] {
    [
        texts::sources_heading(Lang::Sv),
        texts::sources_heading(Lang::En),
    ]
}

/// The page a source links to: `{knowledge_url}/kb/{path}` (in the
/// reader's language) when Kraft's knowledge pages are public, else the
/// document's own `source_url`.
pub fn link(src: &SourceRef, knowledge_url: &str, lang: Lang) -> Option<String> {
    let base = knowledge_url.trim().trim_end_matches('/');
    if base.is_empty() {
        return src.url.clone();
    }
    let path: String = src
        .path
        .split('/')
        .map(|seg| utf8_percent_encode(seg, SEGMENT).to_string())
        .collect::<Vec<_>>()
        .join("/");
    let l = match lang {
        Lang::Sv => "sv",
        Lang::En => "en",
    };
    Some(format!("{base}/kb/{path}?lang={l}"))
}

/// The numbered list under the heading: `[n] Title – https://…`, or only
/// the title when there is nothing to link to.
pub fn render(sources: &[SourceRef], knowledge_url: &str, lang: Lang) -> String {
    let mut s = texts::sources_heading(lang).to_string();
    for (i, src) in sources.iter().enumerate() {
        s.push_str(&format!("\n[{}] {}", i + 1, src.title.trim()));
        if src.example {
            s.push_str(texts::example_marker(lang));
        }
        if let Some(u) = link(src, knowledge_url, lang) {
            s.push_str(&format!(" – {u}"));
        }
    }
    s
}

/// One rendered source line, taken apart again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLine<'a> {
    pub n: &'a str,
    pub title: &'a str,
    pub url: &'a str,
    /// Anything after the URL (older messages carried the file path).
    pub tail: &'a str,
}

impl<'a> SourceLine<'a> {
    /// `[n] Title – https://… tail`; `None` for any other line (a title
    /// without a link stays plain text).
    pub fn parse(line: &'a str) -> Option<SourceLine<'a>> {
        let rest = line.strip_prefix('[')?;
        let (n, rest) = rest.split_once("] ")?;
        if n.is_empty() || !n.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let at = rest
            .rfind(" – https://")
            .or_else(|| rest.rfind(" – http://"))?;
        let title = &rest[..at];
        let after = &rest[at + " – ".len()..];
        let (url, tail) = match after.find(' ') {
            Some(i) => (&after[..i], &after[i..]),
            None => (after, ""),
        };
        // Characters no link of ours has, and that would end a link early
        // in either front-end's markup.
        if url.contains(['<', '>', '(', ')', '"', '\'']) {
            return None;
        }
        Some(SourceLine {
            n,
            title,
            url,
            tail,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(path: &str, url: Option<&str>) -> SourceRef {
        SourceRef {
            title: "Vad kostar det?".into(),
            path: path.into(),
            url: url.map(str::to_string),
            example: false,
        }
    }

    #[test]
    fn kraft_pages_win_over_source_urls_and_paths_never_show() {
        let s = [
            src("faq/kostar-det-nagot.md", Some("https://www.mdu.se/")),
            src("faq/utan-lank.md", None),
        ];
        let with = render(&s, "https://kraft.example.se/", Lang::Sv);
        assert_eq!(
            with,
            "Källor:\n[1] Vad kostar det? – https://kraft.example.se/kb/faq/kostar-det-nagot.md?lang=sv\n[2] Vad kostar det? – https://kraft.example.se/kb/faq/utan-lank.md?lang=sv"
        );
        let without = render(&s, "", Lang::En);
        assert_eq!(
            without,
            "Sources:\n[1] Vad kostar det? – https://www.mdu.se/\n[2] Vad kostar det?"
        );
        assert!(!without.contains("faq/"));
    }

    #[test]
    fn rendered_lines_parse_back() {
        let s = [src("faq/x y.md", None)];
        let r = render(&s, "https://k.se", Lang::Sv);
        let line = r.lines().nth(1).unwrap_or_default();
        let p = SourceLine::parse(line).expect("parses");
        assert_eq!(p.n, "1");
        assert_eq!(p.title, "Vad kostar det?");
        assert_eq!(p.url, "https://k.se/kb/faq/x%20y.md?lang=sv");
        assert_eq!(SourceLine::parse("[1] Bara titel"), None);
        assert_eq!(SourceLine::parse("Text – https://x.se"), None);
        assert_eq!(SourceLine::parse("[1] T – https://x.se/\"><b>"), None);
    }
}
