//! The dashboard's pages as server-rendered HTML: what each page reads
//! from the state database and the knowledge folder, and how it shows it.
//! Numbers come from the same functions as `kraft report`, so a page and
//! the command line never disagree.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{Datelike, NaiveDate, Utc};
use futures::StreamExt;
use kraft_core::report::{self, FollowUp};
use kraft_core::store::TicketStatus;
use kraft_core::Lang;
use kraft_ingest::doc::Document;

use crate::svg::{self, Series};
use crate::words::{self as w, t, Pair};
use crate::{esc, Dashboard};

const CSS: &str = r#"
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1b1b1b;background:#fafafa}
header{background:#1f3a5f;color:#fff;padding:.6rem 1.2rem;display:flex;gap:1.2rem;align-items:center;flex-wrap:wrap}
header a{color:#fff;text-decoration:none}header a.on{text-decoration:underline;font-weight:bold}
header .right{margin-left:auto;display:flex;gap:.8rem;align-items:center}
header form{margin:0}header button{background:none;border:1px solid #fff;color:#fff;border-radius:3px;cursor:pointer}
main{max-width:1100px;margin:0 auto;padding:1rem 1.2rem}
h1{font-size:1.4rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0;background:#fff}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(480px,1fr));gap:1rem}
.chart{width:100%;height:auto;background:#fff;border:1px solid #ddd}
figure{margin:0}figcaption{font-size:.85rem}
.note{color:#555;font-size:.9rem}.bad{color:#a11}.ok{color:#2a6}
form.range{display:flex;gap:.6rem;align-items:end;flex-wrap:wrap}
.doc{background:#fff;border:1px solid #ddd;padding:1rem 1.5rem}
@media print{header,form,.noprint{display:none}body{background:#fff}.chart{border:none}main{max-width:none}}
"#;

fn q(lang: Lang, from: Option<NaiveDate>, to: Option<NaiveDate>) -> String {
    let mut s = format!("?lang={}", lang.as_str());
    if let (Some(f), Some(t)) = (from, to) {
        s.push_str(&format!("&from={f}&to={t}"));
    }
    s
}

/// The page frame. `here` is the current path (for the language switch
/// and the highlighted menu entry); `range` travels with every link.
fn layout(
    lang: Lang,
    title: &str,
    here: &str,
    range: Option<(NaiveDate, NaiveDate)>,
    logged_in: bool,
    body: &str,
) -> String {
    let (f, to) = (range.map(|r| r.0), range.map(|r| r.1));
    let other = match lang {
        Lang::Sv => Lang::En,
        Lang::En => Lang::Sv,
    };
    let mut nav = String::new();
    if logged_in {
        for (path, label) in [
            ("/dashboard/followup", w::FOLLOW_UP),
            ("/dashboard/knowledge", w::KNOWLEDGE),
            ("/dashboard/tickets", w::TICKETS),
            ("/kb", w::KB),
        ] {
            nav.push_str(&format!(
                r#"<a href="{path}{}"{}>{}</a>"#,
                esc(&q(lang, f, to)),
                if here.starts_with(path) {
                    r#" class="on""#
                } else {
                    ""
                },
                t(lang, label)
            ));
        }
    }
    let logout = if logged_in {
        format!(
            r#"<form method="post" action="/dashboard/logout"><button type="submit">{}</button></form>"#,
            t(lang, w::LOG_OUT)
        )
    } else {
        String::new()
    };
    format!(
        r#"<!doctype html><html lang="{l}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>{title} · {site}</title><style>{CSS}</style></head><body><header><strong>{site}</strong>{nav}<span class="right"><a href="{here}{switch}">{other_name}</a>{logout}</span></header><main>{body}</main></body></html>"#,
        l = lang.as_str(),
        title = esc(title),
        site = t(lang, w::TITLE),
        here = esc(here),
        switch = esc(&q(other, f, to)),
        other_name = match other {
            Lang::Sv => "Svenska",
            Lang::En => "English",
        },
    )
}

pub fn login(lang: Lang, error: Option<Pair>) -> String {
    let err = error
        .map(|e| format!(r#"<p class="bad" role="alert">{}</p>"#, t(lang, e)))
        .unwrap_or_default();
    let body = format!(
        r#"<h1>{title}</h1>{err}<form method="post" action="/dashboard/login"><input type="hidden" name="lang" value="{l}"><label>{tok}<br><input type="password" name="token" id="token" autocomplete="current-password" required size="40"></label> <button type="submit" id="login">{title}</button></form>"#,
        title = t(lang, w::LOG_IN),
        tok = t(lang, w::TOKEN),
        l = lang.as_str(),
    );
    layout(
        lang,
        t(lang, w::LOG_IN),
        "/dashboard/login",
        None,
        false,
        &body,
    )
}

pub fn message(lang: Lang, m: Pair) -> String {
    layout(
        lang,
        t(lang, m),
        "/dashboard",
        None,
        false,
        &format!("<p>{}</p>", t(lang, m)),
    )
}

fn range_form(lang: Lang, action: &str, from: NaiveDate, to: NaiveDate) -> String {
    format!(
        r#"<form class="range" method="get" action="{action}"><input type="hidden" name="lang" value="{l}"><label>{fl}<br><input type="date" name="from" value="{from}"></label><label>{tl}<br><input type="date" name="to" value="{to}"></label><button type="submit">{show}</button></form>"#,
        l = lang.as_str(),
        fl = t(lang, w::FROM),
        tl = t(lang, w::TO),
        show = t(lang, w::SHOW),
    )
}

/// A follow-up report's numbers by metric key and column.
fn cell(r: &FollowUp, key: &str, column: &str) -> f64 {
    let Some(c) = r.columns.iter().position(|c| c == column) else {
        return 0.0;
    };
    r.rows
        .iter()
        .find(|m| m.key == key)
        .and_then(|m| m.cells.get(c))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// The periods a range is shown in: weeks (Monday to Sunday, cut to the
/// range), or months when that would be more than 26 weeks.
fn periods(
    lang: Lang,
    from: NaiveDate,
    to: NaiveDate,
) -> (Pair, Vec<(String, NaiveDate, NaiveDate)>) {
    let mut out = Vec::new();
    if (to - from).num_days() <= 26 * 7 {
        let mut start = from - chrono::Duration::days(from.weekday().num_days_from_monday() as i64);
        while start <= to {
            let end = start + chrono::Duration::days(6);
            let wk = start.iso_week().week();
            let label = match lang {
                Lang::Sv => format!("v.{wk}"),
                Lang::En => format!("w{wk}"),
            };
            out.push((label, start.max(from), end.min(to)));
            start = end + chrono::Duration::days(1);
        }
        (w::BY_PERIOD, out)
    } else {
        let mut start = from.with_day(1).unwrap_or(from);
        while start <= to {
            let next = if start.month() == 12 {
                NaiveDate::from_ymd_opt(start.year() + 1, 1, 1)
            } else {
                NaiveDate::from_ymd_opt(start.year(), start.month() + 1, 1)
            }
            .unwrap_or(to + chrono::Duration::days(1));
            let end = next - chrono::Duration::days(1);
            out.push((
                format!("{}-{:02}", start.year(), start.month()),
                start.max(from),
                end.min(to),
            ));
            start = next;
        }
        (w::BY_MONTH, out)
    }
}

/// A chart and, beside it, the same numbers as a table.
fn figure(lang: Lang, title: &str, labels: &[String], series: &[Series], stacked: bool) -> String {
    let mut table = format!("<table><tr><th>{}</th>", t(lang, w::PERIOD));
    for s in series {
        table.push_str(&format!("<th>{}</th>", esc(&s.name)));
    }
    table.push_str("</tr>");
    for (i, l) in labels.iter().enumerate() {
        table.push_str(&format!("<tr><td>{}</td>", esc(l)));
        for s in series {
            let v = s.values.get(i).copied().unwrap_or(0.0);
            table.push_str(&format!(r#"<td class="n">{}</td>"#, v));
        }
        table.push_str("</tr>");
    }
    table.push_str("</table>");
    format!(
        r#"<figure>{}<figcaption><details><summary>{}</summary>{table}</details></figcaption></figure>"#,
        svg::bars(title, labels, series, stacked),
        esc(title)
    )
}

pub fn followup(
    d: &Dashboard,
    lang: Lang,
    from: NaiveDate,
    to: NaiveDate,
    print: bool,
) -> Result<String, String> {
    let rows = d.store.stats(from, to).map_err(|e| e.to_string())?;
    let r = report::follow_up(&rows, from, to);
    let mut b = format!("<h1>{} {from} – {to}</h1>", t(lang, w::FOLLOW_UP));
    if !print {
        b.push_str(&range_form(lang, "/dashboard/followup", from, to));
        let qs = esc(&q(lang, Some(from), Some(to)));
        b.push_str(&format!(
            r#"<p class="noprint"><a href="/dashboard/followup/print{qs}">{}</a> · {} <a href="/dashboard/followup.csv{qs}">CSV</a> · <a href="/dashboard/followup.json{qs}">JSON</a></p>"#,
            t(lang, w::PRINT),
            t(lang, w::DOWNLOAD),
        ));
    }
    // The numbers, as `kraft report followup` gives them.
    b.push_str(&format!(
        r#"<table id="followup"><tr><th>{}</th>"#,
        t(lang, w::METRIC)
    ));
    for c in &r.columns {
        b.push_str(&format!("<th>{}</th>", esc(&w::column(lang, c))));
    }
    b.push_str("</tr>");
    for m in &r.rows {
        b.push_str(&format!(
            "<tr><th>{}</th>",
            esc(w::metric(lang, m.key, m.label))
        ));
        for (c, v) in r.columns.iter().zip(&m.values) {
            b.push_str(&format!(
                r#"<td class="n" data-metric="{}" data-column="{}">{}</td>"#,
                m.key,
                esc(c),
                esc(v)
            ));
        }
        b.push_str("</tr>");
    }
    b.push_str(&format!(
        r#"</table><p class="note">{}</p>"#,
        t(lang, w::AGGREGATES)
    ));

    // Over time.
    let (per, ps) = periods(lang, from, to);
    let labels: Vec<String> = ps.iter().map(|p| p.0.clone()).collect();
    let by: Vec<FollowUp> = ps
        .iter()
        .map(|(_, a, z)| report::follow_up(&rows, *a, *z))
        .collect();
    let series = |name: Pair, color: &'static str, key: &str| Series {
        name: t(lang, name).to_string(),
        color,
        values: by.iter().map(|f| cell(f, key, "all")).collect(),
    };
    b.push_str(&format!(r#"<h2>{}</h2><div class="charts">"#, t(lang, per)));
    b.push_str(&figure(
        lang,
        t(lang, w::QUESTIONS_CHART),
        &labels,
        &[
            series(w::ANSWERED, svg::BLUE, "answered"),
            series(w::ABSTAINED, svg::ORANGE, "abstained"),
        ],
        true,
    ));
    b.push_str(&figure(
        lang,
        t(lang, w::COMPANIES_CHART),
        &labels,
        &[series(w::COMPANIES_CHART, svg::GREEN, "companies")],
        false,
    ));
    b.push_str(&figure(
        lang,
        t(lang, w::ESCALATIONS_CHART),
        &labels,
        &[
            series(w::ESCALATIONS, svg::ORANGE, "escalations"),
            series(w::ANALYSES, svg::BLUE, "analyses_started"),
            series(w::MATCHES, svg::GREY, "matchmaking"),
        ],
        false,
    ));
    b.push_str(&figure(
        lang,
        t(lang, w::FEEDBACK_CHART),
        &labels,
        &[
            series(("👍", "👍"), svg::GREEN, "feedback_up"),
            series(("👎", "👎"), svg::ORANGE, "feedback_down"),
        ],
        false,
    ));
    // Across regions and platforms, for the whole range.
    let split = |cols: &[&str], key: &str, name: Pair, color: &'static str| {
        let labels: Vec<String> = cols.iter().map(|c| w::column(lang, c)).collect();
        let s = Series {
            name: t(lang, name).to_string(),
            color,
            values: cols.iter().map(|c| cell(&r, key, c)).collect(),
        };
        (labels, s)
    };
    let (rl, rs) = split(
        &report::REGIONS,
        "companies",
        w::COMPANIES_CHART,
        svg::GREEN,
    );
    b.push_str(&figure(lang, t(lang, w::REGION_CHART), &rl, &[rs], false));
    let platforms: Vec<&str> = r
        .columns
        .iter()
        .skip(1)
        .map(String::as_str)
        .filter(|c| !report::REGIONS.contains(c))
        .collect();
    let (pl, psr) = split(&platforms, "questions", w::QUESTIONS_CHART, svg::BLUE);
    b.push_str(&figure(
        lang,
        t(lang, w::PLATFORM_CHART),
        &pl,
        &[psr],
        false,
    ));
    b.push_str("</div>");

    b.push_str(&format!("<h2>{}</h2>", t(lang, w::TOP_TOPICS)));
    if r.topics.is_empty() {
        b.push_str(&format!("<p>{}</p>", t(lang, w::NONE)));
    } else {
        b.push_str(&format!(
            "<table><tr><th>{}</th><th>{}</th></tr>",
            t(lang, w::DOCUMENT),
            t(lang, w::ANSWERS)
        ));
        for (path, n) in &r.topics {
            b.push_str(&format!(
                r#"<tr><td>{}</td><td class="n">{n}</td></tr>"#,
                doc_link(lang, path)
            ));
        }
        b.push_str("</table>");
    }
    let here = if print {
        "/dashboard/followup/print"
    } else {
        "/dashboard/followup"
    };
    Ok(layout(
        lang,
        t(lang, w::FOLLOW_UP),
        here,
        Some((from, to)),
        !print,
        &b,
    ))
}

fn doc_link(lang: Lang, path: &str) -> String {
    format!(
        r#"<a href="/kb/{}?lang={}">{}</a>"#,
        esc(path),
        lang.as_str(),
        esc(path)
    )
}

/// Every document of the knowledge folder that parses (by path).
fn documents(d: &Dashboard) -> Vec<Document> {
    let Ok(files) = kraft_ingest::sync::markdown_files(&d.knowledge_dir) else {
        return Vec::new();
    };
    files
        .iter()
        .filter_map(|(abs, rel)| kraft_ingest::doc::load(abs, rel, d.check.max_file_bytes).ok())
        .collect()
}

/// One checked source link.
#[derive(Debug, Clone)]
pub struct SourceCheck {
    pub url: String,
    pub documents: Vec<String>,
    pub ok: bool,
    pub outcome: String,
}

/// Fetches every document's source URL (HEAD, then GET where HEAD is not
/// allowed), eight at a time, each within the configured timeout.
pub async fn check_sources(d: &Dashboard) -> Vec<SourceCheck> {
    let mut by_url: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for doc in documents(d) {
        if let Some(u) = &doc.meta.source_url {
            if u.starts_with("http://") || u.starts_with("https://") {
                by_url.entry(u.clone()).or_default().push(doc.path.clone());
            }
        }
    }
    let client = match kraft_ingest::http::client_builder()
        .timeout(std::time::Duration::from_secs(
            d.settings.link_timeout_secs.max(1),
        ))
        .user_agent("kraft-dashboard link check")
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the link-check client");
            return Vec::new();
        }
    };
    let checks = by_url.into_iter().map(|(url, documents)| {
        let client = client.clone();
        async move {
            let mut r = client.head(&url).send().await;
            if matches!(&r, Ok(resp) if resp.status().as_u16() == 405 || resp.status().as_u16() == 501)
            {
                r = client.get(&url).send().await;
            }
            let (ok, outcome) = match r {
                Ok(resp) => {
                    let s = resp.status();
                    (s.is_success() || s.is_redirection(), s.as_u16().to_string())
                }
                Err(e) if e.is_timeout() => (false, "timeout".into()),
                Err(e) if e.is_connect() => (false, "unreachable".into()),
                Err(_) => (false, "error".into()),
            };
            SourceCheck {
                url,
                documents,
                ok,
                outcome,
            }
        }
    });
    let mut out: Vec<SourceCheck> = futures::stream::iter(checks)
        .buffer_unordered(8)
        .collect()
        .await;
    out.sort_by(|a, b| a.ok.cmp(&b.ok).then(a.url.cmp(&b.url)));
    out
}

pub fn knowledge(
    d: &Dashboard,
    lang: Lang,
    from: NaiveDate,
    to: NaiveDate,
    sources: Option<Vec<SourceCheck>>,
) -> Result<String, String> {
    let mut b = format!("<h1>{} {from} – {to}</h1>", t(lang, w::KNOWLEDGE));
    b.push_str(&range_form(lang, "/dashboard/knowledge", from, to));

    // Gaps: masked example questions, grouped.
    let since = from
        .and_hms_opt(0, 0, 0)
        .map(|x| x.and_utc())
        .unwrap_or_else(Utc::now);
    let qs = d.store.gap_questions(since).map_err(|e| e.to_string())?;
    let qs: Vec<_> = qs.into_iter().filter(|g| g.day <= to).collect();
    let gaps = report::gaps(&qs, &d.analyzer, 0.5);
    b.push_str(&format!(
        r#"<h2 id="gaps">{}</h2><p class="note">{}</p>"#,
        t(lang, w::GAPS),
        t(lang, w::GAPS_NOTE)
    ));
    if gaps.is_empty() {
        b.push_str(&format!("<p>{}</p>", t(lang, w::NONE)));
    } else {
        b.push_str(&format!(
            "<table><tr><th>{}</th><th>{}</th><th>👎</th><th>{}</th></tr>",
            t(lang, w::COUNT),
            t(lang, w::ABSTAINED),
            t(lang, w::EXAMPLES)
        ));
        for g in gaps.iter().take(30) {
            let ex: Vec<String> = g.examples.iter().map(|e| esc(e)).collect();
            b.push_str(&format!(
                r#"<tr><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td>{}</td></tr>"#,
                g.count,
                g.abstained,
                g.downvoted,
                ex.join("<br>")
            ));
        }
        b.push_str("</table>");
    }

    // 👎 per document, from the statistics (kept when the messages go).
    let rows = d.store.stats(from, to).map_err(|e| e.to_string())?;
    let mut votes: HashMap<&str, (usize, usize)> = HashMap::new();
    for r in rows.iter().filter(|r| r.kind == "feedback_doc") {
        let Some((dir, path)) = r.detail.as_deref().and_then(|x| x.split_once(':')) else {
            continue;
        };
        let e = votes.entry(path).or_default();
        if dir == "down" {
            e.0 += 1;
        } else {
            e.1 += 1;
        }
    }
    let mut down: Vec<(&str, usize, usize)> = votes
        .into_iter()
        .filter(|(_, (d, _))| *d > 0)
        .map(|(p, (d, u))| (p, d, u))
        .collect();
    down.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    b.push_str(&format!(
        r#"<h2 id="downvoted">{}</h2>"#,
        t(lang, w::DOWN_PER_DOC)
    ));
    if down.is_empty() {
        b.push_str(&format!("<p>{}</p>", t(lang, w::NONE)));
    } else {
        b.push_str(&format!(
            "<table><tr><th>{}</th><th>👎</th><th>👍</th></tr>",
            t(lang, w::DOCUMENT)
        ));
        for (p, dn, up) in &down {
            b.push_str(&format!(
                r#"<tr><td>{}</td><td class="n">{dn}</td><td class="n">{up}</td></tr>"#,
                doc_link(lang, p)
            ));
        }
        b.push_str("</table>");
    }

    // Never the source of an answer in the range.
    let cited: HashSet<&str> = rows
        .iter()
        .filter(|r| r.kind == "topic")
        .filter_map(|r| r.detail.as_deref())
        .collect();
    let docs = documents(d);
    let never: Vec<&Document> = docs
        .iter()
        .filter(|doc| !cited.contains(doc.path.as_str()))
        .collect();
    b.push_str(&format!(
        r#"<h2 id="never-cited">{} ({})</h2><p class="note">{}</p>"#,
        t(lang, w::NEVER_CITED),
        never.len(),
        t(lang, w::NEVER_CITED_NOTE)
    ));
    b.push_str(&format!(
        "<details><summary>{} / {}</summary><table><tr><th>{}</th><th>{}</th></tr>",
        never.len(),
        docs.len(),
        t(lang, w::DOCUMENT),
        t(lang, w::KIND)
    ));
    for doc in &never {
        b.push_str(&format!(
            "<tr><td>{}</td><td>{}</td></tr>",
            doc_link(lang, &doc.path),
            doc.meta.kind.as_str()
        ));
    }
    b.push_str("</table></details>");

    // What `kraft kb check` finds: review dates, broken internal links.
    let mut opts = d.check.clone();
    opts.today = d.today();
    let findings = kraft_ingest::check::check(&d.knowledge_dir, &opts)
        .map(|r| r.findings)
        .unwrap_or_default();
    for (code, title, id) in [
        ("stale-review", w::STALE, "stale"),
        ("broken-link", w::BROKEN_LINKS, "broken-links"),
    ] {
        let found: Vec<_> = findings.iter().filter(|f| f.code == code).collect();
        b.push_str(&format!(
            r#"<h2 id="{id}">{} ({})</h2>"#,
            t(lang, title),
            found.len()
        ));
        if found.is_empty() {
            b.push_str(&format!(r#"<p class="ok">{}</p>"#, t(lang, w::ALL_GOOD)));
        } else {
            b.push_str("<ul>");
            for f in found {
                b.push_str(&format!(
                    "<li>{}:{} – {}</li>",
                    doc_link(lang, &f.path),
                    f.line,
                    esc(&f.message)
                ));
            }
            b.push_str("</ul>");
        }
    }

    b.push_str(&format!(
        r#"<h2 id="sources">{}</h2><p class="note">{}</p><form method="post" action="/dashboard/knowledge/links{}"><button type="submit" id="check-sources">{}</button></form>"#,
        t(lang, w::SOURCES),
        t(lang, w::SOURCES_NOTE),
        esc(&q(lang, Some(from), Some(to))),
        t(lang, w::CHECK_SOURCES)
    ));
    if let Some(checked) = sources {
        b.push_str(&format!(
            r#"<table id="source-results"><tr><th>{}</th><th>{}</th><th>{}</th></tr>"#,
            t(lang, w::SOURCE),
            t(lang, w::STATUS),
            t(lang, w::DOCUMENT)
        ));
        for c in &checked {
            let docs: Vec<String> = c.documents.iter().map(|p| doc_link(lang, p)).collect();
            b.push_str(&format!(
                r#"<tr><td>{}</td><td class="{}">{}</td><td>{}</td></tr>"#,
                esc(&c.url),
                if c.ok { "ok" } else { "bad" },
                esc(&c.outcome),
                docs.join("<br>")
            ));
        }
        b.push_str("</table>");
    }
    Ok(layout(
        lang,
        t(lang, w::KNOWLEDGE),
        "/dashboard/knowledge",
        Some((from, to)),
        true,
        &b,
    ))
}

fn duration(lang: Lang, secs: i64) -> String {
    let m = secs.max(0) / 60;
    let (h, m) = (m / 60, m % 60);
    let (d, h) = (h / 24, h % 24);
    match (d, h, lang) {
        (0, 0, _) => format!("{m} min"),
        (0, _, Lang::Sv) => format!("{h} h {m} min"),
        (0, _, Lang::En) => format!("{h} h {m} min"),
        (_, _, Lang::Sv) => format!("{d} d {h} h"),
        (_, _, Lang::En) => format!("{d} d {h} h"),
    }
}

pub fn tickets(d: &Dashboard, lang: Lang) -> Result<String, String> {
    let open = d
        .store
        .tickets(&[TicketStatus::Waiting, TicketStatus::Active], 1000)
        .map_err(|e| e.to_string())?;
    let now = Utc::now();
    let mut b = format!(
        r#"<h1>{} ({})</h1><p class="note">{}</p>"#,
        t(lang, w::OPEN_TICKETS),
        open.len(),
        t(lang, w::NO_TICKET_TEXT)
    );
    let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
    for tk in &open {
        *reasons.entry(tk.reason.as_str()).or_default() += 1;
    }
    b.push_str(&format!(
        "<h2>{}</h2><table><tr><th>{}</th><th>{}</th></tr>",
        t(lang, w::BY_REASON),
        t(lang, w::REASON),
        t(lang, w::COUNT)
    ));
    for (r, n) in &reasons {
        b.push_str(&format!(
            r#"<tr><td>{}</td><td class="n">{n}</td></tr>"#,
            esc(r)
        ));
    }
    b.push_str("</table>");
    b.push_str(&format!(
        r#"<h2>{}</h2><table id="tickets"><tr><th>#</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>"#,
        t(lang, w::OPEN_TICKETS),
        t(lang, w::STATUS),
        t(lang, w::REASON),
        t(lang, w::PLATFORM),
        t(lang, w::OPENED),
        t(lang, w::WAITED),
        t(lang, w::CLAIMED),
        t(lang, w::REMINDERS),
    ));
    for tk in &open {
        let waited = match tk.claimed_at {
            Some(c) => (c - tk.created_at).num_seconds(),
            None => (now - tk.created_at).num_seconds(),
        };
        b.push_str(&format!(
            r#"<tr><td class="n">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class="n">{}</td><td>{}</td><td class="n">{}</td></tr>"#,
            tk.id,
            t(
                lang,
                if tk.status == TicketStatus::Waiting {
                    w::WAITING
                } else {
                    w::ACTIVE
                }
            ),
            esc(&tk.reason),
            tk.platform.label(),
            tk.created_at.format("%Y-%m-%d %H:%M UTC"),
            duration(lang, waited),
            t(lang, if tk.claimed_at.is_some() { w::YES } else { w::NO }),
            tk.reminders
        ));
    }
    b.push_str("</table>");
    Ok(layout(
        lang,
        t(lang, w::TICKETS),
        "/dashboard/tickets",
        None,
        true,
        &b,
    ))
}

pub fn kb_index(d: &Dashboard, lang: Lang, logged_in: bool) -> Result<String, String> {
    let docs = documents(d);
    let mut by_kind: BTreeMap<&str, Vec<&Document>> = BTreeMap::new();
    for doc in &docs {
        by_kind.entry(doc.meta.kind.as_str()).or_default().push(doc);
    }
    let mut b = format!("<h1>{} ({})</h1>", t(lang, w::KB), docs.len());
    for (kind, list) in &by_kind {
        b.push_str(&format!(
            "<h2>{}</h2><table><tr><th>{}</th><th>{}</th><th>{}</th></tr>",
            esc(kind),
            t(lang, w::DOCUMENT),
            t(lang, w::LANGUAGE),
            t(lang, w::REVIEWED)
        ));
        for doc in list {
            b.push_str(&format!(
                r#"<tr><td><a href="/kb/{}?lang={}">{}</a></td><td>{}</td><td>{}</td></tr>"#,
                esc(&doc.path),
                lang.as_str(),
                esc(&doc.meta.title),
                doc.meta.language.as_str(),
                doc.meta.reviewed
            ));
        }
        b.push_str("</table>");
    }
    Ok(layout(lang, t(lang, w::KB), "/kb", None, logged_in, &b))
}

/// `base/../x.md` → `x.md`, within the knowledge root (None if it leaves it).
fn resolve(base: &str, link: &str) -> Option<String> {
    let mut parts: Vec<&str> = base.split('/').collect();
    parts.pop();
    for seg in link.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    Some(parts.join("/"))
}

pub fn kb_page(d: &Dashboard, lang: Lang, path: &str, logged_in: bool) -> Option<String> {
    use pulldown_cmark::{CowStr, Event, Parser, Tag};
    let files = kraft_ingest::sync::markdown_files(&d.knowledge_dir).ok()?;
    // Only a path the folder listing has: nothing outside the root.
    let (abs, rel) = files.into_iter().find(|(_, rel)| rel == path)?;
    let doc = kraft_ingest::doc::load(&abs, &rel, d.check.max_file_bytes).ok()?;
    let l = lang.as_str();
    let events = Parser::new(&doc.body).map(|e| match e {
        // The knowledge base is Markdown; raw HTML in it is shown as text.
        Event::Html(h) | Event::InlineHtml(h) => Event::Text(h),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => {
            let url = dest_url.to_string();
            let (file, anchor) = url.split_once('#').unwrap_or((&url, ""));
            let dest = if !url.contains("://") && file.ends_with(".md") {
                match resolve(&rel, file) {
                    Some(p) => {
                        let a = if anchor.is_empty() {
                            String::new()
                        } else {
                            format!("#{anchor}")
                        };
                        CowStr::from(format!("/kb/{p}?lang={l}{a}"))
                    }
                    None => dest_url,
                }
            } else {
                dest_url
            };
            Event::Start(Tag::Link {
                link_type,
                dest_url: dest,
                title,
                id,
            })
        }
        e => e,
    });
    let mut body = String::new();
    pulldown_cmark::html::push_html(&mut body, events);
    let m = &doc.meta;
    let mut meta = format!(
        "<p class=\"note\">{}: {} · {}: {} · {}: {}",
        t(lang, w::KIND),
        m.kind.as_str(),
        t(lang, w::LANGUAGE),
        m.language.as_str(),
        t(lang, w::REVIEWED),
        m.reviewed
    );
    if let Some(u) = &m.source_url {
        let label = m.source_title.as_deref().unwrap_or(u);
        meta.push_str(&format!(
            r#" · {}: <a href="{}" rel="noopener noreferrer">{}</a>"#,
            t(lang, w::SOURCE),
            esc(u),
            esc(label)
        ));
    }
    if let Some(tr) = &m.translation {
        if let Some(p) = resolve(&rel, tr) {
            meta.push_str(&format!(
                r#" · <a href="/kb/{}?lang={l}">{}</a>"#,
                esc(&p),
                match m.language {
                    Lang::Sv => "English",
                    Lang::En => "Svenska",
                }
            ));
        }
    }
    meta.push_str("</p>");
    let html = format!(
        r#"<h1>{}</h1>{meta}<article class="doc">{body}</article>"#,
        esc(&m.title)
    );
    Some(layout(
        lang,
        &m.title,
        &format!("/kb/{rel}"),
        None,
        logged_in,
        &html,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_resolve_within_the_root_only() {
        assert_eq!(
            resolve("usecases/a.md", "../guides/b.md").as_deref(),
            Some("guides/b.md")
        );
        assert_eq!(resolve("faq/x.md", "y.md").as_deref(), Some("faq/y.md"));
        assert_eq!(resolve("x.md", "../../etc/passwd"), None);
    }

    #[test]
    fn weeks_cover_the_range_and_long_ranges_go_by_month() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date");
        let (_, w) = periods(Lang::Sv, d("2026-11-04"), d("2026-11-29"));
        assert_eq!(w.first().map(|p| p.1), Some(d("2026-11-04")));
        assert_eq!(w.last().map(|p| p.2), Some(d("2026-11-29")));
        assert_eq!(w.len(), 4, "{w:?}");
        assert!(w[0].0.starts_with("v."));
        let (per, m) = periods(Lang::En, d("2026-01-15"), d("2026-11-29"));
        assert_eq!(per, w::BY_MONTH);
        assert_eq!(m.len(), 11);
        assert_eq!(m[0].1, d("2026-01-15"));
    }
}
