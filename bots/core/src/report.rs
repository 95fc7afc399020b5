//! Reports for the project team, computed from the store without platform
//! I/O: the follow-up report (anonymous statistics only: counts per
//! platform and region for a date range) and the knowledge-gap report
//! (questions the bot abstained on or that got 👎, grouped by similarity).
//!
//! The follow-up report reads only `stats` rows (day, platform, region,
//! a random subject token, a category), never messages, so its numbers do
//! not change when the retention purge deletes conversation text, and it
//! cannot print a user identifier because it never sees one.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDate;
use kraft_ingest::text::Analyzer;
use serde::Serialize;

use crate::model::Lang;
use crate::store::{GapQuestion, StatRow};

/// The regions the programme reports on, plus the two fallbacks.
pub const REGIONS: [&str; 4] = ["vastmanland", "sormland", "other", "unknown"];
const PLATFORMS: [&str; 3] = ["telegram", "discord", "terminal"];

/// Writing a report failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    #[error("writing CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("writing CSV: {0}")]
    Io(#[from] std::io::Error),
}

/// Follow-up figures: one row per metric, one column per split.
#[derive(Debug, Clone, Serialize)]
pub struct FollowUp {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub columns: Vec<String>,
    pub rows: Vec<Metric>,
    /// Most-cited knowledge documents in answers: (path, answers).
    pub topics: Vec<(String, usize)>,
    /// The same topics' answers per column (parallel to `topics`).
    pub topic_counts: Vec<Vec<usize>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Metric {
    pub key: &'static str,
    pub label: &'static str,
    /// As people read them: "–" when there is nothing to compute from,
    /// "67 %".
    pub values: Vec<String>,
    /// As spreadsheets read them: plain numbers, empty when missing.
    pub cells: Vec<String>,
}

/// A figure for reading (`–` when missing) and for a spreadsheet (empty
/// when missing).
fn figure(v: Option<String>, unit: &str) -> (String, String) {
    match v {
        Some(x) => (format!("{x}{unit}"), x),
        None => ("–".into(), String::new()),
    }
}

fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

fn figures(rows: &[&StatRow]) -> Vec<(String, String)> {
    let count = |kind: &str, detail: Option<&str>| {
        rows.iter()
            .filter(|r| r.kind == kind && detail.is_none_or(|d| r.detail.as_deref() == Some(d)))
            .count()
    };
    let companies: HashSet<&str> = rows.iter().map(|r| r.subject.as_str()).collect();
    let mut waits: Vec<f64> = rows
        .iter()
        .filter(|r| r.kind == "first_reply")
        .filter_map(|r| r.value)
        .collect();
    let up = count("feedback", Some("up"));
    let down = count("feedback", Some("down"));
    let n = |v: usize| figure(Some(v.to_string()), "");
    vec![
        n(companies.len()),
        n(count("conversation", None)),
        n(count("answer", None)),
        n(count("answer", Some("answered"))),
        n(count("answer", Some("abstained"))),
        n(count("analysis", Some("started"))),
        n(count("analysis", Some("completed"))),
        n(count("match", None)),
        n(count("escalation", None)),
        figure(median(&mut waits).map(|s| format!("{:.1}", s / 60.0)), ""),
        n(up),
        n(down),
        figure(
            (up + down > 0).then(|| format!("{:.0}", 100.0 * up as f64 / (up + down) as f64)),
            " %",
        ),
        n(count("satisfaction", Some("good"))),
        n(count("satisfaction", Some("ok"))),
        n(count("satisfaction", Some("bad"))),
    ]
}

const METRICS: [(&str, &str); 16] = [
    ("companies", "Companies reached (distinct users)"),
    ("conversations", "Conversations"),
    ("questions", "Questions"),
    ("answered", "… answered from the knowledge base"),
    ("abstained", "… abstained (\"I don't know\")"),
    ("analyses_started", "Needs analyses started"),
    ("analyses_completed", "Needs analyses completed"),
    ("matchmaking", "Match-making requests"),
    ("escalations", "Escalations to an adviser"),
    (
        "median_first_reply_min",
        "Median time to adviser's first reply (min)",
    ),
    ("feedback_up", "Feedback 👍"),
    ("feedback_down", "Feedback 👎"),
    ("feedback_ratio", "Share of feedback that is 👍 (%)"),
    ("satisfied", "After an adviser: satisfied 😊"),
    ("so_so", "After an adviser: so-so 😐"),
    ("dissatisfied", "After an adviser: dissatisfied 🙁"),
];

/// Builds the follow-up report for `from..=to` from statistics rows.
pub fn follow_up(stats: &[StatRow], from: NaiveDate, to: NaiveDate) -> FollowUp {
    let in_range: Vec<&StatRow> = stats
        .iter()
        .filter(|r| r.day >= from && r.day <= to)
        .collect();
    let mut columns = vec!["all".to_string()];
    let mut splits: Vec<Vec<&StatRow>> = vec![in_range.clone()];
    // Platforms: the ones Kraft has, plus any other found in the data.
    let mut platforms: Vec<String> = PLATFORMS.iter().map(|p| p.to_string()).collect();
    for r in &in_range {
        if !platforms.contains(&r.platform) {
            platforms.push(r.platform.clone());
        }
    }
    for p in &platforms {
        columns.push(p.clone());
        splits.push(
            in_range
                .iter()
                .copied()
                .filter(|r| &r.platform == p)
                .collect(),
        );
    }
    for g in REGIONS {
        columns.push(g.to_string());
        splits.push(
            in_range
                .iter()
                .copied()
                .filter(|r| {
                    r.region == g || (g == "unknown" && !REGIONS.contains(&r.region.as_str()))
                })
                .collect(),
        );
    }
    let per_split: Vec<Vec<(String, String)>> = splits.iter().map(|s| figures(s)).collect();
    let rows = METRICS
        .iter()
        .enumerate()
        .map(|(i, (key, label))| Metric {
            key,
            label,
            values: per_split.iter().map(|f| f[i].0.clone()).collect(),
            cells: per_split.iter().map(|f| f[i].1.clone()).collect(),
        })
        .collect();
    let mut topics: HashMap<&str, usize> = HashMap::new();
    for r in in_range.iter().filter(|r| r.kind == "topic") {
        if let Some(d) = &r.detail {
            *topics.entry(d.as_str()).or_default() += 1;
        }
    }
    let mut topics: Vec<(String, usize)> = topics
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    topics.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    topics.truncate(10);
    let topic_counts = topics
        .iter()
        .map(|(path, _)| {
            splits
                .iter()
                .map(|rows| {
                    rows.iter()
                        .filter(|r| r.kind == "topic" && r.detail.as_deref() == Some(path))
                        .count()
                })
                .collect()
        })
        .collect();
    FollowUp {
        from,
        to,
        columns,
        rows,
        topics,
        topic_counts,
    }
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

impl FollowUp {
    pub fn markdown(&self) -> String {
        let mut s = format!(
            "## Kraft follow-up {} – {}\n\n| metric | {} |\n|---|{}\n",
            self.from,
            self.to,
            self.columns.join(" | "),
            "---:|".repeat(self.columns.len())
        );
        for m in &self.rows {
            s.push_str(&format!("| {} | {} |\n", m.label, m.values.join(" | ")));
        }
        s.push_str("\n### Top topics (most-cited documents)\n\n");
        if self.topics.is_empty() {
            s.push_str("(none in this period)\n");
        } else {
            s.push_str("| document | answers |\n|---|---:|\n");
            for (t, n) in &self.topics {
                s.push_str(&format!("| {} | {n} |\n", md_cell(t)));
            }
        }
        s.push_str(
            "\nCounts only; no user identifiers. \"Companies reached\" counts distinct chat users.\n",
        );
        s
    }

    /// One CSV table, every row as wide as the header:
    /// `metric,<columns…>`, a row per metric (plain numbers; an empty cell
    /// where there is nothing to compute from; the feedback ratio in
    /// percent), then a row per top topic, `topic:<path>`, with its
    /// answers per column.
    pub fn csv(&self) -> Result<String, ReportError> {
        let mut w = csv::Writer::from_writer(Vec::new());
        let mut head = vec!["metric".to_string()];
        head.extend(self.columns.iter().cloned());
        w.write_record(&head)?;
        for m in &self.rows {
            let mut rec = vec![m.key.to_string()];
            rec.extend(m.cells.iter().cloned());
            w.write_record(&rec)?;
        }
        for ((t, _), counts) in self.topics.iter().zip(&self.topic_counts) {
            let mut rec = vec![format!("topic:{t}")];
            rec.extend(counts.iter().map(usize::to_string));
            w.write_record(&rec)?;
        }
        into_string(w)
    }
}

/// A group of similar questions the knowledge base does not cover well.
#[derive(Debug, Clone, Serialize)]
pub struct Gap {
    pub count: usize,
    pub abstained: usize,
    pub downvoted: usize,
    pub languages: Vec<Lang>,
    pub first: NaiveDate,
    pub last: NaiveDate,
    /// Up to three example questions, contact details masked.
    pub examples: Vec<String>,
}

/// Masks what looks like contact details in an example question:
/// e-mail addresses, and number runs with 6+ digits even when written with
/// spaces or dashes (phone, personal or organisation numbers).
pub fn mask(text: &str) -> String {
    let words: Vec<String> = text
        .split_whitespace()
        .map(|w| {
            if w.contains('@') && w.contains('.') {
                "[e-post]".to_string()
            } else {
                w.to_string()
            }
        })
        .collect();
    let joined = words.join(" ");
    // Runs of digits and separators; a run with 6+ digits is masked.
    let chars: Vec<char> = joined.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_digit()
            || (chars[i] == '+' && chars.get(i + 1).is_some_and(|c| c.is_ascii_digit()))
        {
            let mut j = i;
            let mut digits = 0;
            let mut last_digit = i;
            while j < chars.len() && (chars[j].is_ascii_digit() || " -+()/".contains(chars[j])) {
                if chars[j].is_ascii_digit() {
                    digits += 1;
                    last_digit = j;
                }
                j += 1;
            }
            if digits >= 6 {
                out.push_str("[nummer]");
            } else {
                out.extend(&chars[i..=last_digit]);
            }
            i = last_digit + 1;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    if out.chars().count() > 200 {
        format!("{}…", out.chars().take(200).collect::<String>())
    } else {
        out
    }
}

/// Groups questions whose stemmed terms overlap (Jaccard ≥ `threshold`
/// with the group's first question), largest groups first.
pub fn gaps(questions: &[GapQuestion], analyzer: &Analyzer, threshold: f64) -> Vec<Gap> {
    struct G {
        terms: HashSet<u32>,
        gap: Gap,
    }
    let mut groups: Vec<G> = Vec::new();
    for q in questions {
        let terms = analyzer.query_terms(&q.text, q.lang);
        let best = groups
            .iter_mut()
            .map(|g| {
                let inter = g.terms.intersection(&terms).count() as f64;
                let union = g.terms.union(&terms).count().max(1) as f64;
                (inter / union, g)
            })
            .filter(|(j, _)| *j >= threshold)
            .max_by(|a, b| a.0.total_cmp(&b.0));
        let g = match best {
            Some((_, g)) => g,
            None => {
                groups.push(G {
                    terms: terms.clone(),
                    gap: Gap {
                        count: 0,
                        abstained: 0,
                        downvoted: 0,
                        languages: Vec::new(),
                        first: q.day,
                        last: q.day,
                        examples: Vec::new(),
                    },
                });
                let n = groups.len() - 1;
                &mut groups[n]
            }
        };
        let gap = &mut g.gap;
        gap.count += 1;
        if q.why == "abstained" {
            gap.abstained += 1;
        } else {
            gap.downvoted += 1;
        }
        if !gap.languages.contains(&q.lang) {
            gap.languages.push(q.lang);
        }
        gap.first = gap.first.min(q.day);
        gap.last = gap.last.max(q.day);
        let ex = mask(&q.text);
        if gap.examples.len() < 3 && !gap.examples.contains(&ex) {
            gap.examples.push(ex);
        }
    }
    let mut out: Vec<Gap> = groups.into_iter().map(|g| g.gap).collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then(b.last.cmp(&a.last)));
    out
}

pub fn gaps_markdown(gaps: &[Gap], since: NaiveDate) -> String {
    let total: usize = gaps.iter().map(|g| g.count).sum();
    let mut s = format!(
        "## Kraft knowledge gaps since {since}\n\n{total} questions in {} groups (abstained or 👎), most frequent first. Write these next.\n\n| # | questions | abstained | 👎 | languages | last seen | examples |\n|---:|---:|---:|---:|---|---|---|\n",
        gaps.len()
    );
    for (i, g) in gaps.iter().enumerate() {
        let langs: Vec<&str> = g.languages.iter().map(|l| l.as_str()).collect();
        let ex: Vec<String> = g.examples.iter().map(|e| md_cell(e)).collect();
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            i + 1,
            g.count,
            g.abstained,
            g.downvoted,
            langs.join(", "),
            g.last,
            ex.join(" · ")
        ));
    }
    s.push_str("\nExamples are kept only as long as the retention period allows; contact details are masked.\n");
    s
}

/// The finished CSV text of a writer (errors surfaced, not dropped).
fn into_string(w: csv::Writer<Vec<u8>>) -> Result<String, ReportError> {
    let bytes = w
        .into_inner()
        .map_err(|e| ReportError::Io(e.into_error()))?;
    // Every field written was a Rust string: valid UTF-8.
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

pub fn gaps_csv(gaps: &[Gap]) -> Result<String, ReportError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "group",
        "questions",
        "abstained",
        "downvoted",
        "languages",
        "first_seen",
        "last_seen",
        "examples",
    ])?;
    for (i, g) in gaps.iter().enumerate() {
        let langs: Vec<&str> = g.languages.iter().map(|l| l.as_str()).collect();
        w.write_record([
            (i + 1).to_string(),
            g.count.to_string(),
            g.abstained.to_string(),
            g.downvoted.to_string(),
            langs.join(" "),
            g.first.to_string(),
            g.last.to_string(),
            g.examples.join(" | "),
        ])?;
    }
    into_string(w)
}

/// Per-region counts of anything, kept in a stable order (used by tests
/// and the CLI's summary line).
pub fn by_region(stats: &[StatRow], kind: &str) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for r in stats.iter().filter(|r| r.kind == kind) {
        *m.entry(r.region.clone()).or_default() += 1;
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(
        day: &str,
        platform: &str,
        region: &str,
        subject: &str,
        kind: &str,
        detail: Option<&str>,
        value: Option<f64>,
    ) -> StatRow {
        StatRow {
            day: NaiveDate::parse_from_str(day, "%Y-%m-%d").expect("day"),
            platform: platform.into(),
            region: region.into(),
            subject: subject.into(),
            kind: kind.into(),
            detail: detail.map(str::to_string),
            value,
        }
    }

    #[test]
    fn counts_split_by_platform_and_region_and_respect_the_range() {
        let rows = vec![
            row(
                "2027-01-01",
                "telegram",
                "sormland",
                "a",
                "conversation",
                None,
                None,
            ),
            row(
                "2027-01-01",
                "telegram",
                "sormland",
                "a",
                "answer",
                Some("answered"),
                None,
            ),
            row(
                "2027-01-02",
                "discord",
                "vastmanland",
                "b",
                "conversation",
                None,
                None,
            ),
            row(
                "2027-01-02",
                "discord",
                "vastmanland",
                "b",
                "answer",
                Some("abstained"),
                None,
            ),
            row(
                "2027-01-02",
                "discord",
                "vastmanland",
                "b",
                "escalation",
                Some("low_confidence"),
                None,
            ),
            row(
                "2027-01-02",
                "discord",
                "vastmanland",
                "b",
                "first_reply",
                None,
                Some(600.0),
            ),
            row(
                "2027-01-03",
                "telegram",
                "unknown",
                "c",
                "first_reply",
                None,
                Some(1200.0),
            ),
            row(
                "2027-01-03",
                "telegram",
                "unknown",
                "c",
                "feedback",
                Some("up"),
                None,
            ),
            row(
                "2027-01-03",
                "telegram",
                "unknown",
                "c",
                "feedback",
                Some("down"),
                None,
            ),
            row(
                "2027-01-03",
                "telegram",
                "unknown",
                "c",
                "feedback",
                Some("up"),
                None,
            ),
            row(
                "2027-02-01",
                "telegram",
                "sormland",
                "d",
                "conversation",
                None,
                None,
            ),
        ];
        let r = follow_up(
            &rows,
            "2027-01-01".parse().expect("d"),
            "2027-01-31".parse().expect("d"),
        );
        let col = |c: &str| r.columns.iter().position(|x| x == c).expect("column");
        let val = |k: &str, c: &str| {
            r.rows.iter().find(|m| m.key == k).expect("metric").values[col(c)].clone()
        };
        assert_eq!(val("companies", "all"), "3");
        assert_eq!(
            val("conversations", "all"),
            "2",
            "February is outside the range"
        );
        assert_eq!(val("conversations", "telegram"), "1");
        assert_eq!(val("answered", "sormland"), "1");
        assert_eq!(val("abstained", "vastmanland"), "1");
        assert_eq!(val("median_first_reply_min", "all"), "15.0");
        assert_eq!(val("median_first_reply_min", "sormland"), "–");
        assert_eq!(val("feedback_ratio", "all"), "67 %");
        let csv = r.csv().expect("csv");
        assert!(csv.starts_with(
            "metric,all,telegram,discord,terminal,vastmanland,sormland,other,unknown\n"
        ));
        assert!(csv.contains("companies,3,2,1,0,1,1,0,1\n"), "{csv}");
    }

    #[test]
    fn the_csv_is_one_well_formed_table_with_empty_cells_for_missing_values() {
        let mut rows = Vec::new();
        for (i, (platform, region, path)) in [
            ("telegram", "sormland", "faq/kostnad.md"),
            ("telegram", "sormland", "faq/kostnad.md"),
            ("discord", "vastmanland", "guides/behovsanalys, steg.md"),
        ]
        .into_iter()
        .enumerate()
        {
            let subject = format!("s{i}");
            rows.push(row(
                "2027-01-01",
                platform,
                region,
                &subject,
                "answer",
                Some("answered"),
                None,
            ));
            rows.push(row(
                "2027-01-01",
                platform,
                region,
                &subject,
                "topic",
                Some(path),
                None,
            ));
        }
        rows.push(row(
            "2027-01-01",
            "telegram",
            "sormland",
            "s0",
            "feedback",
            Some("up"),
            None,
        ));
        rows.push(row(
            "2027-01-01",
            "telegram",
            "sormland",
            "s0",
            "first_reply",
            None,
            Some(90.0),
        ));
        let r = follow_up(
            &rows,
            "2027-01-01".parse().expect("d"),
            "2027-01-31".parse().expect("d"),
        );
        let text = r.csv().expect("csv");
        assert!(text.ends_with('\n'), "every record is terminated");
        // Parsed by a strict reader: every record as wide as the header.
        let mut rd = csv::ReaderBuilder::new()
            .flexible(false)
            .from_reader(text.as_bytes());
        let head: Vec<String> = rd
            .headers()
            .expect("header")
            .iter()
            .map(str::to_string)
            .collect();
        assert_eq!(head[0], "metric");
        assert_eq!(&head[1..], r.columns.as_slice());
        let recs: Vec<csv::StringRecord> = rd
            .records()
            .collect::<Result<_, _>>()
            .expect("every record parses with the header's width");
        let cell = |key: &str, col: &str| -> String {
            let c = head.iter().position(|h| h == col).expect("column");
            recs.iter()
                .find(|r| &r[0] == key)
                .unwrap_or_else(|| panic!("no row {key}: {text}"))[c]
                .to_string()
        };
        assert_eq!(recs.len(), METRICS.len() + 2, "{text}");
        assert_eq!(cell("answered", "all"), "3");
        // Missing values are empty cells, numbers are plain.
        assert_eq!(cell("median_first_reply_min", "discord"), "");
        assert_eq!(cell("median_first_reply_min", "telegram"), "1.5");
        assert_eq!(cell("feedback_ratio", "telegram"), "100");
        assert_eq!(cell("feedback_ratio", "discord"), "");
        assert!(!text.contains('–'), "{text}");
        // Topics, per column too; a comma in a path is quoted.
        assert_eq!(cell("topic:faq/kostnad.md", "all"), "2");
        assert_eq!(cell("topic:faq/kostnad.md", "sormland"), "2");
        assert_eq!(cell("topic:faq/kostnad.md", "discord"), "0");
        assert_eq!(
            cell("topic:guides/behovsanalys, steg.md", "vastmanland"),
            "1"
        );
        // The Markdown still reads "–" and "100 %".
        let md = r.markdown();
        assert!(md.contains("100 %") && md.contains('–'), "{md}");
    }

    #[test]
    fn masks_contact_details_in_examples() {
        assert_eq!(
            mask("ring mig på 070-123 45 67 eller +46701234567, anna@foretag.se. Vi har 25 anställda"),
            "ring mig på [nummer] eller [nummer], [e-post] Vi har 25 anställda"
        );
    }
}
