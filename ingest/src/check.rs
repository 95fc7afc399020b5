//! `kraft kb check`: validation of the whole knowledge base for the people
//! who curate it. Every finding is `path:line: severity: message`, so an
//! editor can jump to it.
//!
//! Errors: schema problems, broken internal links, duplicate titles,
//! near-duplicate sections, past events outside `events/archive/`, missing
//! or one-way English counterparts, Swedish pages of the kinds that must
//! have an English twin without one, factual pages whose only source is a
//! bare home page. Warnings: documents whose `reviewed` date is older than
//! the configured age.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::{Component, Path};

use chrono::NaiveDate;
use pulldown_cmark::{Event, Parser, Tag};
use serde::Serialize;

use crate::chunk::ChunkConfig;
use crate::doc::{Kind, Lang};
use crate::sync::{scan, LoadedDoc};
use crate::IndexError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Finding {
    pub path: String,
    pub line: usize,
    pub severity: Severity,
    /// A short stable code, e.g. `broken-link`, for scripts and tests.
    pub code: &'static str,
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{}:{}: {sev}[{}]: {}",
            self.path, self.line, self.code, self.message
        )
    }
}

#[derive(Debug, Clone)]
pub struct CheckOptions {
    pub today: NaiveDate,
    /// `reviewed` older than this many days is a warning.
    pub max_review_age_days: i64,
    /// Word-shingle Jaccard similarity at or above which two sections of
    /// different documents count as near-duplicates.
    pub near_duplicate: f64,
    pub max_file_bytes: u64,
    pub chunk: ChunkConfig,
    /// Swedish documents of these kinds must have an English twin
    /// (`translation:`), so English users get English sources.
    pub twins_required: Vec<Kind>,
}

/// Kinds whose Swedish pages must have an English twin in the shipped
/// knowledge base (`kraft kb check` and its test use this list): every
/// kind a user reads facts from. Example events are Swedish only.
pub const TWINS_REQUIRED: [Kind; 5] = [
    Kind::Project,
    Kind::Faq,
    Kind::Support,
    Kind::Guide,
    Kind::Case,
];

/// Kinds whose pages state facts, and so must cite something specific.
const FACTUAL: [Kind; 5] = [
    Kind::Project,
    Kind::Faq,
    Kind::Support,
    Kind::Guide,
    Kind::Case,
];

/// `https://www.mdu.se/`: a site's front page, which supports nothing in
/// particular.
fn is_home_page(url: &str) -> bool {
    let rest = url
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let path = rest.split_once('/').map_or("", |(_, p)| p);
    path.trim_matches('/').is_empty() && !rest.contains('?')
}

#[derive(Debug, Serialize)]
pub struct CheckReport {
    pub documents: usize,
    pub findings: Vec<Finding>,
}

impl CheckReport {
    pub fn errors(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count()
    }
    pub fn warnings(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Warning)
            .count()
    }
}

/// Resolves `target` relative to the directory of `from` (both relative to
/// the knowledge root). None when it escapes the root.
fn resolve(from: &str, target: &str) -> Option<String> {
    let base = Path::new(from).parent().unwrap_or(Path::new(""));
    let mut out: Vec<String> = Vec::new();
    for c in base.join(target).components() {
        match c {
            Component::Normal(s) => out.push(s.to_string_lossy().into_owned()),
            Component::ParentDir => {
                out.pop()?;
            }
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(out.join("/"))
}

/// Markdown links of a body with their file line.
fn links(d: &LoadedDoc) -> Vec<(String, usize)> {
    let body = &d.doc.body;
    Parser::new(body)
        .into_offset_iter()
        .filter_map(|(ev, range)| match ev {
            Event::Start(Tag::Link { dest_url, .. }) => Some((
                dest_url.to_string(),
                d.doc.body_line - 1 + crate::doc::line_of(body.as_bytes(), range.start),
            )),
            _ => None,
        })
        .collect()
}

fn shingles(text: &str) -> HashSet<String> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    words.windows(3).map(|w| w.join(" ")).collect()
}

fn key_line(root: &Path, rel: &str, key: &str) -> usize {
    std::fs::read_to_string(root.join(rel))
        .ok()
        .and_then(|t| {
            t.lines()
                .position(|l| l.starts_with(&format!("{key}:")))
                .map(|i| i + 1)
        })
        .unwrap_or(1)
}

pub fn check(root: &Path, opts: &CheckOptions) -> Result<CheckReport, IndexError> {
    let scanned = scan(root, opts.max_file_bytes, &opts.chunk)?;
    let mut findings = Vec::new();
    for s in &scanned.skipped {
        findings.push(Finding {
            path: s.path.clone(),
            line: s.line.unwrap_or(1),
            severity: Severity::Error,
            code: "schema",
            message: s.reason.clone(),
        });
    }
    let docs = &scanned.docs;
    let by_path: HashMap<&str, &LoadedDoc> =
        docs.iter().map(|d| (d.doc.path.as_str(), d)).collect();
    let all_files: HashSet<String> = crate::sync::markdown_files(root)?
        .into_iter()
        .map(|(_, rel)| rel)
        .collect();
    let err = |d: &str, line: usize, code: &'static str, message: String| Finding {
        path: d.to_string(),
        line,
        severity: Severity::Error,
        code,
        message,
    };

    // Broken internal links.
    for d in docs {
        for (url, line) in links(d) {
            if url.contains("://")
                || url.starts_with("mailto:")
                || url.starts_with('#')
                || url.is_empty()
            {
                continue;
            }
            let file = url.split('#').next().unwrap_or_default();
            let ok = match resolve(&d.doc.path, file) {
                Some(t) => all_files.contains(&t) || root.join(&t).exists(),
                None => false,
            };
            if !ok {
                findings.push(err(
                    &d.doc.path,
                    line,
                    "broken-link",
                    format!("link to `{url}` does not resolve to a file in the knowledge base"),
                ));
            }
        }
    }

    // Duplicate titles.
    let mut titles: BTreeMap<String, Vec<&LoadedDoc>> = BTreeMap::new();
    for d in docs {
        titles
            .entry(d.doc.meta.title.trim().to_lowercase())
            .or_default()
            .push(d);
    }
    for group in titles.values().filter(|g| g.len() > 1) {
        for d in group {
            let others: Vec<&str> = group
                .iter()
                .filter(|o| o.doc.path != d.doc.path)
                .map(|o| o.doc.path.as_str())
                .collect();
            findings.push(err(
                &d.doc.path,
                key_line(root, &d.doc.path, "title"),
                "duplicate-title",
                format!(
                    "title `{}` is also used by {}",
                    d.doc.meta.title,
                    others.join(", ")
                ),
            ));
        }
    }

    // Near-duplicate sections across documents.
    let sections: Vec<(&LoadedDoc, usize, HashSet<String>)> = docs
        .iter()
        .flat_map(|d| d.chunks.iter().map(move |c| (d, c.line, shingles(&c.text))))
        .filter(|(_, _, s)| s.len() >= 8)
        .collect();
    for i in 0..sections.len() {
        for j in (i + 1)..sections.len() {
            let (a, la, sa) = &sections[i];
            let (b, lb, sb) = &sections[j];
            if a.doc.path == b.doc.path {
                continue;
            }
            let inter = sa.intersection(sb).count() as f64;
            let jaccard = inter / (sa.len() as f64 + sb.len() as f64 - inter);
            if jaccard >= opts.near_duplicate {
                findings.push(err(
                    &b.doc.path,
                    *lb,
                    "near-duplicate",
                    format!(
                        "section is {:.0} % the same as {}:{}; keep one and link to it",
                        jaccard * 100.0,
                        a.doc.path,
                        la
                    ),
                ));
            }
        }
    }

    for d in docs {
        let m = &d.doc.meta;
        // Past events still listed as upcoming.
        if let (Kind::Event, Some(ev)) = (m.kind, &m.event) {
            if ev.date < opts.today && !d.doc.path.contains("/archive/") {
                findings.push(err(
                    &d.doc.path,
                    key_line(root, &d.doc.path, "  date").max(key_line(root, &d.doc.path, "event")),
                    "past-event",
                    format!("event on {} has passed but is still listed; delete it or move it to events/archive/", ev.date),
                ));
            }
        }
        // Review age.
        let age = (opts.today - m.reviewed).num_days();
        if age > opts.max_review_age_days {
            findings.push(Finding {
                path: d.doc.path.clone(),
                line: key_line(root, &d.doc.path, "reviewed"),
                severity: Severity::Warning,
                code: "stale-review",
                message: format!(
                    "last reviewed {} ({age} days ago, limit {})",
                    m.reviewed, opts.max_review_age_days
                ),
            });
        }
        // A source that says where the facts come from.
        if FACTUAL.contains(&m.kind) && !m.example && m.source_title.is_none() {
            let bare = match m.source_url.as_deref() {
                None => Some("no source: give `source_url` (the page it rests on) or `source_title` (a document that is not on the web)".to_string()),
                Some(u) if is_home_page(u) => Some(format!(
                    "`{u}` is a home page, which supports nothing in particular; cite the page the facts come from, or add `source_title`"
                )),
                Some(_) => None,
            };
            if let Some(message) = bare {
                findings.push(err(
                    &d.doc.path,
                    key_line(root, &d.doc.path, "source_url").max(key_line(
                        root,
                        &d.doc.path,
                        "title",
                    )),
                    "bare-source",
                    message,
                ));
            }
        }
        // A twin for pages English users need in English.
        if m.language == Lang::Sv
            && m.translation.is_none()
            && opts.twins_required.contains(&m.kind)
        {
            findings.push(err(
                &d.doc.path,
                key_line(root, &d.doc.path, "title"),
                "missing-translation",
                format!(
                    "a Swedish {} page needs an English twin (`translation:`)",
                    m.kind.as_str()
                ),
            ));
        }
        // Translations.
        match (&m.translation, m.needs_translation) {
            (None, true) => findings.push(err(
                &d.doc.path,
                key_line(root, &d.doc.path, "needs_translation"),
                "missing-translation",
                "needs_translation is set but there is no `translation:` counterpart".into(),
            )),
            (Some(t), _) => {
                let line = key_line(root, &d.doc.path, "translation");
                match by_path.get(t.as_str()) {
                    None => findings.push(err(
                        &d.doc.path,
                        line,
                        "missing-translation",
                        format!("translation `{t}` does not exist (or does not parse)"),
                    )),
                    Some(other) => {
                        if other.doc.meta.language == m.language {
                            findings.push(err(
                                &d.doc.path,
                                line,
                                "missing-translation",
                                format!(
                                    "translation `{t}` is in the same language ({})",
                                    m.language
                                ),
                            ));
                        }
                        if other.doc.meta.translation.as_deref() != Some(d.doc.path.as_str()) {
                            findings.push(err(
                                &d.doc.path,
                                line,
                                "missing-translation",
                                format!(
                                    "`{t}` does not point back with `translation: {}`",
                                    d.doc.path
                                ),
                            ));
                        }
                        if m.needs_translation
                            && m.language == Lang::Sv
                            && other.doc.meta.language != Lang::En
                        {
                            findings.push(err(
                                &d.doc.path,
                                line,
                                "missing-translation",
                                "the required counterpart must be in English".into(),
                            ));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    findings.sort();
    findings.dedup();
    Ok(CheckReport {
        documents: docs.len() + scanned.skipped.len(),
        findings,
    })
}

#[cfg(test)]
mod tests {
    use super::is_home_page;

    #[test]
    fn a_home_page_is_a_site_with_no_path() {
        for u in [
            "https://www.mdu.se/",
            "https://www.mdu.se",
            "http://almi.se//",
        ] {
            assert!(is_home_page(u), "{u}");
        }
        for u in [
            "https://www.mdu.se/en/samverkan",
            "https://www.almi.se/lan/",
            "https://www.mdu.se/?page=5",
        ] {
            assert!(!is_home_page(u), "{u}");
        }
    }
}
