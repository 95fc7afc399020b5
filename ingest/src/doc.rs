//! Knowledge documents: reading a Markdown file, splitting off and validating
//! its YAML front matter. The schema is documented in `knowledge/README.md`;
//! this module is its single source of truth in code.
//!
//! Every failure names the file and, where known, the line, because the
//! people who fix these files are curators working in a text editor.

use std::fmt;
use std::path::Path;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// What kind of knowledge a document holds. Filters and the assistant's
/// wording ("this is an example", "upcoming events") depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Project,
    Case,
    Support,
    Event,
    Faq,
    Guide,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Project,
        Kind::Case,
        Kind::Support,
        Kind::Event,
        Kind::Faq,
        Kind::Guide,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Project => "project",
            Kind::Case => "case",
            Kind::Support => "support",
            Kind::Event => "event",
            Kind::Faq => "faq",
            Kind::Guide => "guide",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The two languages the assistant speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Lang {
    #[default]
    Sv,
    En,
}

impl Lang {
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::Sv => "sv",
            Lang::En => "en",
        }
    }

    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "sv" => Some(Lang::Sv),
            "en" => Some(Lang::En),
            _ => None,
        }
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Allowed values of `region`.
pub const REGIONS: [&str; 4] = ["vastmanland", "sormland", "national", "other"];
/// Allowed values of `audience`.
pub const AUDIENCES: [&str; 3] = ["sme", "adviser", "team"];
/// Allowed values of `sectors`.
pub const SECTORS: [&str; 12] = [
    "manufacturing",
    "engineering",
    "logistics",
    "retail",
    "construction",
    "energy",
    "agriculture",
    "professional_services",
    "care",
    "hospitality",
    "public",
    "all",
];
/// Allowed values of `event.type`.
pub const EVENT_TYPES: [&str; 6] = [
    "network",
    "study_visit",
    "lecture",
    "workshop",
    "webinar",
    "conference",
];

/// Event details, required for `kind: event`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventInfo {
    pub date: NaiveDate,
    #[serde(default)]
    pub time: Option<String>,
    pub place: String,
    #[serde(rename = "type")]
    pub event_type: String,
    #[serde(default)]
    pub registration_url: Option<String>,
}

/// The YAML front matter of a knowledge document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrontMatter {
    pub title: String,
    pub kind: Kind,
    pub language: Lang,
    #[serde(default)]
    pub region: Vec<String>,
    #[serde(default)]
    pub audience: Vec<String>,
    #[serde(default)]
    pub sectors: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub source_url: Option<String>,
    /// The source the page rests on when it is not (only) a web page: a
    /// decision document, a report. `kraft kb check` accepts a bare home
    /// page as `source_url` only beside this.
    #[serde(default)]
    pub source_title: Option<String>,
    pub reviewed: NaiveDate,
    #[serde(default)]
    pub example: bool,
    #[serde(default)]
    pub translation: Option<String>,
    #[serde(default)]
    pub needs_translation: bool,
    #[serde(default)]
    pub event: Option<EventInfo>,
}

/// Why a document could not be read. Each variant says what the curator
/// should fix; `line` is 1-based in the original file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DocError {
    #[error("empty file")]
    Empty,
    #[error("file is {size} bytes, over the {limit}-byte limit (split it into several documents)")]
    TooLarge { size: u64, limit: u64 },
    #[error("looks like a binary file (NUL byte at line {line}), not Markdown")]
    Binary { line: usize },
    #[error("not valid UTF-8 at line {line} (byte {byte}); save the file as UTF-8")]
    NotUtf8 { line: usize, byte: usize },
    #[error("line 1: missing front matter; the file must start with a `---` line")]
    MissingFrontMatter,
    #[error("line {line}: front matter is not closed with a `---` line")]
    UnclosedFrontMatter { line: usize },
    #[error("line {line}: invalid front matter: {message}")]
    InvalidFrontMatter { line: usize, message: String },
    #[error("line {line}: {message}")]
    Schema { line: usize, message: String },
    #[error("no content after the front matter")]
    NoBody,
    #[error("cannot read file: {0}")]
    Io(String),
}

/// A parsed document: validated metadata plus the Markdown body.
#[derive(Debug, Clone)]
pub struct Document {
    /// Path relative to the knowledge root, with `/` separators. It is the
    /// document's identity in the index, so it must not depend on the OS.
    pub path: String,
    pub meta: FrontMatter,
    pub body: String,
    /// 1-based line of the first body line in the file.
    pub body_line: usize,
    /// blake3 of the raw bytes.
    pub raw_hash: String,
}

/// Converts a byte offset into a 1-based line number.
pub fn line_of(bytes: &[u8], offset: usize) -> usize {
    1 + bytes[..offset.min(bytes.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}

/// Reads and parses one file. `rel` is the path relative to the knowledge root.
pub fn load(path: &Path, rel: &str, max_bytes: u64) -> Result<Document, DocError> {
    let size = std::fs::metadata(path)
        .map_err(|e| DocError::Io(e.to_string()))?
        .len();
    // Checked before reading so a 50 MB upload is never pulled into memory.
    if size > max_bytes {
        return Err(DocError::TooLarge {
            size,
            limit: max_bytes,
        });
    }
    let bytes = std::fs::read(path).map_err(|e| DocError::Io(e.to_string()))?;
    parse_bytes(&bytes, rel)
}

/// Parses raw bytes as a knowledge document.
/// Largest front matter block parsed, in bytes.
pub const MAX_FRONT_MATTER_BYTES: usize = 16 * 1024;

pub fn parse_bytes(bytes: &[u8], rel: &str) -> Result<Document, DocError> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(DocError::Empty);
    }
    if let Some(pos) = bytes.iter().position(|&b| b == 0) {
        return Err(DocError::Binary {
            line: line_of(bytes, pos),
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| DocError::NotUtf8 {
        line: line_of(bytes, e.valid_up_to()),
        byte: e.valid_up_to(),
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let (yaml, body, body_line) = split_front_matter(text)?;
    // Real front matter is a few hundred bytes. The YAML parser is
    // quadratic in nesting depth (100k levels took 24 s, found by the fuzz
    // tests), so a block this large is refused before it is parsed.
    if yaml.len() > MAX_FRONT_MATTER_BYTES {
        return Err(DocError::InvalidFrontMatter {
            line: 2,
            message: format!(
                "the front matter is {} bytes, over the {MAX_FRONT_MATTER_BYTES}-byte limit",
                yaml.len()
            ),
        });
    }
    let meta: FrontMatter = serde_norway::from_str(yaml).map_err(|e| {
        // serde_norway reports lines inside the YAML block; the block starts
        // on line 2 of the file.
        let line = e.location().map(|l| l.line() + 1).unwrap_or(2);
        DocError::InvalidFrontMatter {
            line,
            message: first_line(&e.to_string()),
        }
    })?;
    validate(&meta, yaml)?;
    if body.trim().is_empty() {
        return Err(DocError::NoBody);
    }
    Ok(Document {
        path: rel.to_string(),
        meta,
        body: body.to_string(),
        body_line,
        raw_hash: blake3::hash(bytes).to_hex().to_string(),
    })
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_string()
}

/// Splits `---\n yaml \n---\n body`. Returns (yaml, body, first body line).
fn split_front_matter(text: &str) -> Result<(&str, &str, usize), DocError> {
    let mut lines = text.split_inclusive('\n');
    let first = lines.next().unwrap_or_default();
    if first.trim_end() != "---" {
        return Err(DocError::MissingFrontMatter);
    }
    let start = first.len();
    let mut offset = start;
    let mut line_no = 1;
    for line in lines {
        line_no += 1;
        if line.trim_end() == "---" || line.trim_end() == "..." {
            let yaml = &text[start..offset];
            let body = &text[offset + line.len()..];
            return Ok((yaml, body, line_no + 1));
        }
        offset += line.len();
    }
    Err(DocError::UnclosedFrontMatter { line: 1 })
}

/// Finds the line of a top-level key in the YAML block, for schema errors.
fn key_line(yaml: &str, key: &str) -> usize {
    yaml.lines()
        .position(|l| l.starts_with(&format!("{key}:")))
        .map(|i| i + 2)
        .unwrap_or(2)
}

fn check_values(
    yaml: &str,
    key: &str,
    values: &[String],
    allowed: &[&str],
) -> Result<(), DocError> {
    for v in values {
        if !allowed.contains(&v.as_str()) {
            return Err(DocError::Schema {
                line: key_line(yaml, key),
                message: format!("unknown {key} value `{v}`; allowed: {}", allowed.join(", ")),
            });
        }
    }
    Ok(())
}

fn validate(meta: &FrontMatter, yaml: &str) -> Result<(), DocError> {
    if meta.title.trim().is_empty() {
        return Err(DocError::Schema {
            line: key_line(yaml, "title"),
            message: "title is empty".into(),
        });
    }
    check_values(yaml, "region", &meta.region, &REGIONS)?;
    check_values(yaml, "audience", &meta.audience, &AUDIENCES)?;
    check_values(yaml, "sectors", &meta.sectors, &SECTORS)?;
    match (&meta.event, meta.kind) {
        (None, Kind::Event) => {
            return Err(DocError::Schema {
                line: key_line(yaml, "kind"),
                message: "kind `event` needs an `event:` block with date, place and type".into(),
            })
        }
        (Some(_), k) if k != Kind::Event => {
            return Err(DocError::Schema {
                line: key_line(yaml, "event"),
                message: format!("an `event:` block is only allowed with kind `event`, not `{k}`"),
            })
        }
        (Some(ev), _) => {
            check_values(
                yaml,
                "event",
                std::slice::from_ref(&ev.event_type),
                &EVENT_TYPES,
            )?;
        }
        _ => {}
    }
    if meta
        .source_title
        .as_deref()
        .is_some_and(|t| t.trim().is_empty())
    {
        return Err(DocError::Schema {
            line: key_line(yaml, "source_title"),
            message: "source_title is empty; name the document the page rests on, or drop the key"
                .into(),
        });
    }
    if let Some(url) = &meta.source_url {
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(DocError::Schema {
                line: key_line(yaml, "source_url"),
                message: format!("source_url `{url}` is not an http(s) URL"),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str =
        "---\ntitle: Test\nkind: guide\nlanguage: sv\nreviewed: 2026-11-01\n---\n# Test\n\nHej.\n";

    #[test]
    fn parses_a_valid_document() {
        let d = parse_bytes(GOOD.as_bytes(), "a.md").expect("valid");
        assert_eq!(d.meta.title, "Test");
        assert_eq!(d.meta.kind, Kind::Guide);
        assert_eq!(d.body_line, 7);
        assert!(d.body.contains("Hej."));
    }

    #[test]
    fn unknown_kind_names_the_line() {
        let s = GOOD.replace("kind: guide", "kind: blogpost");
        let e = parse_bytes(s.as_bytes(), "a.md").unwrap_err();
        match e {
            DocError::InvalidFrontMatter { line, message } => {
                assert_eq!(line, 3, "{message}");
                assert!(message.contains("blogpost"), "{message}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn unknown_key_is_rejected() {
        let s = GOOD.replace("language: sv", "language: sv\nlanguge: en");
        let e = parse_bytes(s.as_bytes(), "a.md").unwrap_err();
        assert!(matches!(e, DocError::InvalidFrontMatter { .. }), "{e:?}");
        assert!(e.to_string().contains("languge"), "{e}");
    }

    #[test]
    fn empty_binary_and_non_utf8_are_named() {
        assert_eq!(parse_bytes(b"", "a.md").unwrap_err(), DocError::Empty);
        assert_eq!(parse_bytes(b" \n\n", "a.md").unwrap_err(), DocError::Empty);
        let bin = b"---\ntitle: x\n\x00\x01";
        assert_eq!(
            parse_bytes(bin, "a.md").unwrap_err(),
            DocError::Binary { line: 3 }
        );
        let mut latin1 = GOOD.as_bytes().to_vec();
        latin1.extend_from_slice(b"\nR\xe4ksm\xf6rg\xe5s\n");
        match parse_bytes(&latin1, "a.md").unwrap_err() {
            DocError::NotUtf8 { line, .. } => assert_eq!(line, 11),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn missing_and_unclosed_front_matter() {
        assert_eq!(
            parse_bytes(b"# Hej\n", "a.md").unwrap_err(),
            DocError::MissingFrontMatter
        );
        assert!(matches!(
            parse_bytes(b"---\ntitle: x\n", "a.md").unwrap_err(),
            DocError::UnclosedFrontMatter { .. }
        ));
    }

    #[test]
    fn event_rules() {
        let s = GOOD.replace("kind: guide", "kind: event");
        assert!(matches!(
            parse_bytes(s.as_bytes(), "a.md").unwrap_err(),
            DocError::Schema { line: 3, .. }
        ));
        let s = GOOD.replace(
            "kind: guide",
            "kind: event\nevent:\n  date: 2027-01-02\n  place: Västerås\n  type: network",
        );
        let d = parse_bytes(s.as_bytes(), "a.md").expect("valid event");
        assert_eq!(
            d.meta.event.map(|e| e.date),
            NaiveDate::from_ymd_opt(2027, 1, 2)
        );
    }

    #[test]
    fn bad_region_value() {
        let s = GOOD.replace("language: sv", "language: sv\nregion: [uppsala]");
        let e = parse_bytes(s.as_bytes(), "a.md").unwrap_err();
        assert!(matches!(e, DocError::Schema { line: 5, .. }), "{e:?}");
    }
}
