//! The assistant's guided work beyond single answers: running the needs
//! analysis dialogue (state in the `analyses` table, questions and parsing
//! in `crate::analysis`) and match-making ("vem kan hjälpa oss med …?").
//! Both draw their suggestions from the knowledge base with metadata
//! filters (kind, region, sector), and both can hand an adviser a ready
//! profile through the normal ticket path.

use std::collections::HashMap;

use chrono::NaiveDate;
use kraft_ingest::doc::Kind;
use kraft_ingest::index::{ChunkPayload, SearchFilter};

use super::{reply, Assistant};
use crate::analysis::{self, Field, Nav, Profile, Status, STEPS};
use crate::buttons::{AnalysisButton, ButtonId};
use crate::model::{Action, Button, Lang};
use crate::store::{AnalysisRow, NewMessage, NewStat, UserRow};
use crate::texts::guide as T;
use crate::texts::{self, pick};
use crate::CoreError;

/// Swedish search words for English (and colloquial Swedish) process
/// words: the use-case library is written in Swedish, and BM25 matches
/// stems, not meanings.
const GLOSSARY: &[(&str, &str)] = &[
    ("quality", "kvalitetskontroll"),
    ("inspect", "kvalitetskontroll inspektion"),
    ("defect", "defekter kassation"),
    ("scrap", "kassation"),
    ("camera", "kamera datorseende"),
    ("kontroll", "kvalitetskontroll"),
    ("maintenance", "underhåll"),
    ("breakdown", "stillestånd haveri"),
    ("downtime", "stillestånd"),
    ("machine", "maskin"),
    ("forecast", "prognos efterfrågan"),
    ("demand", "efterfrågan prognos"),
    ("stock", "lager"),
    ("inventory", "lager"),
    ("warehouse", "lager"),
    ("quote", "offert"),
    ("quotation", "offert"),
    ("pricing", "offert kalkyl"),
    ("tender", "anbud upphandling"),
    ("bid", "anbud"),
    ("invoice", "faktura fakturahantering"),
    ("bookkeeping", "bokföring"),
    ("accounting", "bokföring"),
    ("customer", "kund kundtjänst"),
    ("support", "kundtjänst"),
    ("email", "e-post kundtjänst"),
    ("mejl", "e-post kundtjänst"),
    ("energy", "energi energioptimering"),
    ("electricity", "energi el"),
    ("heating", "energi värme"),
    ("route", "ruttplanering"),
    ("delivery", "leveranser ruttplanering"),
    ("deliveries", "leveranser ruttplanering"),
    ("transport", "transport ruttplanering"),
    ("drawing", "ritningar"),
    ("specification", "specifikationer ritningar"),
    ("document", "dokument"),
    ("crop", "gröda odling"),
    ("forest", "skog"),
    ("product", "produkt"),
    ("planning", "planering"),
    ("offert", "offerthantering"),
    ("faktur", "fakturahantering"),
    ("prognos", "efterfrågeprognoser"),
    ("underhåll", "prediktivt underhåll"),
];

fn sector_words(code: &str) -> &'static str {
    match code {
        "manufacturing" => "tillverkning produktion",
        "engineering" => "teknikkonsult konstruktion",
        "logistics" => "logistik transport lager",
        "retail" => "handel e-handel",
        "construction" => "bygg fastighet",
        "energy" => "energi",
        "agriculture" => "jordbruk skog",
        "professional_services" => "tjänsteföretag administration",
        "care" => "omsorg hemtjänst",
        "hospitality" => "hotell restaurang",
        _ => "",
    }
}

fn region_name(code: &str, lang: Lang) -> &'static str {
    match code {
        "vastmanland" => "Västmanland",
        "sormland" => "Sörmland",
        _ => T::other_region(lang),
    }
}

fn sector_name(code: &str, lang: Lang) -> String {
    analysis::options(Field::Sector)
        .iter()
        .find(|(c, _, _)| *c == code)
        .map(|(_, sv, en)| pick(lang, sv, en).to_lowercase())
        .unwrap_or_default()
}

/// Knowledge-base paths linked from a Markdown text ("../support/rise.md"
/// → "support/rise.md").
fn linked_paths(markdown: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in markdown.split("](").skip(1) {
        let Some(target) = part.split(')').next() else {
            continue;
        };
        let t = target.split('#').next().unwrap_or(target).trim();
        if !t.ends_with(".md") || t.contains("://") {
            continue;
        }
        let clean = t
            .trim_start_matches("./")
            .trim_start_matches("../")
            .to_string();
        if !out.contains(&clean) {
            out.push(clean);
        }
    }
    out
}

fn clip_sentences(text: &str, max: usize) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        return flat;
    }
    let cut: String = flat.chars().take(max).collect();
    match cut.rfind(". ") {
        Some(i) if i > max / 3 => cut[..=i].to_string(),
        _ => format!("{}…", cut.trim_end()),
    }
}

/// Body text of a chunk without its leading heading line(s).
fn body(c: &ChunkPayload) -> String {
    c.text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A document suggested to the user, with why and where to read more.
#[derive(Debug, Clone)]
pub(crate) struct Suggestion {
    pub path: String,
    pub title: String,
    pub url: Option<String>,
    pub kind: Kind,
    pub example: bool,
    pub language: Lang,
    pub reasons: Vec<String>,
    pub score: f32,
    pub event: Option<(NaiveDate, Option<String>, Option<String>)>,
}

impl Suggestion {
    fn from_chunk(c: &ChunkPayload) -> Self {
        Suggestion {
            path: c.doc_path.clone(),
            title: c.title.clone(),
            url: c.registration_url.clone().or_else(|| c.source_url.clone()),
            kind: c.kind,
            example: c.example,
            language: c.language,
            reasons: Vec::new(),
            score: 0.0,
            event: c
                .event_date
                .map(|d| (d, c.event_time.clone(), c.event_place.clone())),
        }
    }

    fn line(&self, lang: Lang, n: usize, knowledge_url: &str) -> String {
        let mut s = format!("{n}. {}", self.title);
        if let Some((d, t, p)) = &self.event {
            s.push_str(&format!(" – 📅 {d}"));
            if let Some(t) = t {
                s.push_str(&format!(" {t}"));
            }
            if let Some(p) = p {
                s.push_str(&format!(", {p}"));
            }
        }
        let lower = self.title.to_lowercase();
        if self.example && !lower.contains("exempel") && !lower.contains("example") {
            s.push_str(texts::example_marker(lang));
        }
        if !self.reasons.is_empty() {
            s.push_str(&format!(" – {}", self.reasons.join("; ")));
        }
        if self.language != lang {
            s.push_str(T::in_the_other_language(lang));
        }
        if let Some(u) = self.link(lang, knowledge_url) {
            s.push_str(&format!("\n   {u}"));
        }
        s
    }

    /// Where the suggestion's line links: Kraft's page about it when the
    /// knowledge pages are public, else its registration or source page.
    fn link(&self, lang: Lang, knowledge_url: &str) -> Option<String> {
        let src = crate::model::SourceRef {
            title: self.title.clone(),
            path: self.path.clone(),
            url: self.url.clone(),
            example: self.example,
        };
        crate::sources::link(&src, knowledge_url, lang)
    }
}

/// What match-making found: ranked actors, then activities and events.
#[derive(Debug, Clone, Default)]
pub(crate) struct Matches {
    pub actors: Vec<Suggestion>,
    pub activities: Vec<Suggestion>,
    pub region: Option<String>,
    pub sector: Option<String>,
}

impl Assistant {
    fn load_analysis(&self, user: &UserRow) -> Result<Option<(AnalysisRow, Profile)>, CoreError> {
        Ok(self.store.analysis(user.id)?.map(|row| {
            let p: Profile = serde_json::from_str(&row.answers).unwrap_or_default();
            (row, p)
        }))
    }

    fn save_analysis(
        &self,
        user: &UserRow,
        status: Status,
        step: usize,
        profile: &Profile,
        started: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<(), CoreError> {
        let now = self.clock.now();
        self.store.save_analysis(&AnalysisRow {
            user_id: user.id,
            status: status.as_str().to_string(),
            step: step as i64,
            answers: serde_json::to_string(profile).unwrap_or_else(|_| "{}".into()),
            started_at: started.unwrap_or(now),
            updated_at: now,
        })?;
        Ok(())
    }

    /// `/analys` or "vi vill göra en behovsanalys": start, resume, or offer
    /// the finished one.
    pub(super) async fn analysis_command(
        &self,
        user: &mut UserRow,
    ) -> Result<Vec<Action>, CoreError> {
        self.store.save_dialogue(user)?;
        let lang = user.lang;
        let chat = user.chat();
        match self.load_analysis(user)? {
            Some((row, _))
                if matches!(Status::parse(&row.status), Status::Active | Status::Paused) =>
            {
                let step = (row.step.max(0) as usize).min(STEPS.len() - 1);
                let p: Profile = serde_json::from_str(&row.answers).unwrap_or_default();
                self.save_analysis(user, Status::Active, step, &p, Some(row.started_at))?;
                let (q, b) = analysis::prompt(step, lang);
                Ok(vec![reply(
                    &chat,
                    &format!("{}\n\n{q}", analysis::resumed(lang)),
                    b,
                )])
            }
            Some((row, _)) if Status::parse(&row.status) == Status::Completed => Ok(vec![reply(
                &chat,
                &analysis::already_done(lang, &row.updated_at.date_naive().to_string()),
                vec![
                    ButtonId::Analysis(AnalysisButton::Summary).button(analysis::btn_summary(lang)),
                    ButtonId::Analysis(AnalysisButton::Restart).button(analysis::btn_restart(lang)),
                ],
            )]),
            _ => self.analysis_start(user),
        }
    }

    fn analysis_start(&self, user: &UserRow) -> Result<Vec<Action>, CoreError> {
        let lang = user.lang;
        self.save_analysis(user, Status::Active, 0, &Profile::default(), None)?;
        self.store
            .stat(user, self.clock.now(), "analysis", Some("started"), None)?;
        tracing::info!(platform = user.platform.as_str(), "needs analysis started");
        let (q, b) = analysis::prompt(0, lang);
        Ok(vec![reply(
            &user.chat(),
            &format!("{}\n\n{q}", analysis::intro(lang)),
            b,
        )])
    }

    /// The user's active analysis, if a text should be read as its answer.
    pub(super) fn active_analysis(
        &self,
        user: &UserRow,
    ) -> Result<Option<(AnalysisRow, Profile)>, CoreError> {
        Ok(self
            .load_analysis(user)?
            .filter(|(row, _)| Status::parse(&row.status) == Status::Active))
    }

    /// A message while an analysis is active: navigation, a question on
    /// the side (answered, then the analysis goes on), or an answer.
    pub(super) async fn analysis_turn(
        &self,
        user: &mut UserRow,
        row: AnalysisRow,
        mut profile: Profile,
        text: &str,
    ) -> Result<Vec<Action>, CoreError> {
        let lang = user.lang;
        let step = (row.step.max(0) as usize).min(STEPS.len() - 1);
        if let Some(n) = analysis::nav(text) {
            return self.analysis_nav(user, row, profile, n).await;
        }
        let is_side_question =
            text.trim_end().ends_with('?') && text.split_whitespace().count() >= 3;
        if is_side_question && !matches!(STEPS[step], Field::Processes | Field::Goals | Field::Data)
        {
            let open = self.store.open_ticket_of(user.id)?;
            let mut actions = self.question(user, text, open, None).await?;
            let (q, b) = analysis::prompt(step, lang);
            actions.push(reply(
                &user.chat(),
                &format!("{}\n{q}", analysis::answer_then_continue(lang)),
                b,
            ));
            return Ok(actions);
        }
        self.store.save_dialogue(user)?;
        let answer = analysis::read(STEPS[step], text, lang);
        self.analysis_answer(user, row, &mut profile, step, Some(answer))
            .await
    }

    async fn analysis_answer(
        &self,
        user: &mut UserRow,
        row: AnalysisRow,
        profile: &mut Profile,
        step: usize,
        answer: Option<analysis::Reply>,
    ) -> Result<Vec<Action>, CoreError> {
        let lang = user.lang;
        let f = STEPS[step];
        if f == Field::Region {
            if let Some(code) = answer.as_ref().and_then(|a| a.code.clone()) {
                self.store.set_region(user.id, &code)?;
                user.region = Some(code);
            }
        }
        let skipped = answer.is_none();
        if answer.is_some() {
            profile.set(f, answer);
        }
        let next = step + 1;
        if next >= STEPS.len() {
            return self.analysis_complete(user, row, profile).await;
        }
        self.save_analysis(user, Status::Active, next, profile, Some(row.started_at))?;
        let (q, b) = analysis::prompt(next, lang);
        let text = if skipped {
            format!("{}\n\n{q}", analysis::skipped_note(lang))
        } else {
            q
        };
        Ok(vec![reply(&user.chat(), &text, b)])
    }

    async fn analysis_nav(
        &self,
        user: &mut UserRow,
        row: AnalysisRow,
        mut profile: Profile,
        n: Nav,
    ) -> Result<Vec<Action>, CoreError> {
        let lang = user.lang;
        let chat = user.chat();
        let step = (row.step.max(0) as usize).min(STEPS.len() - 1);
        self.store.save_dialogue(user)?;
        match n {
            Nav::Skip => {
                self.analysis_answer(user, row, &mut profile, step, None)
                    .await
            }
            Nav::Back => {
                let (prev, note) = if step == 0 {
                    (0, format!("{}\n\n", analysis::back_at_start(lang)))
                } else {
                    (step - 1, String::new())
                };
                self.save_analysis(user, Status::Active, prev, &profile, Some(row.started_at))?;
                let (q, b) = analysis::prompt(prev, lang);
                // Show what was answered, so the user can keep or change it.
                let had = profile
                    .text(STEPS[prev])
                    .map(|t| T::answer_so_far(lang, t))
                    .unwrap_or_default();
                Ok(vec![reply(&chat, &format!("{note}{q}{had}"), b)])
            }
            Nav::Pause => {
                self.save_analysis(user, Status::Paused, step, &profile, Some(row.started_at))?;
                Ok(vec![reply(
                    &chat,
                    &analysis::paused(lang, self.settings.privacy.retention_days),
                    vec![ButtonId::Analysis(AnalysisButton::Resume)
                        .button(analysis::btn_resume(lang))],
                )])
            }
            Nav::Quit => {
                // Nothing kept: the answers were only for this analysis.
                self.save_analysis(
                    user,
                    Status::Quit,
                    0,
                    &Profile::default(),
                    Some(row.started_at),
                )?;
                Ok(vec![reply(&chat, analysis::quit(lang), vec![])])
            }
        }
    }

    /// The needs analysis's buttons.
    pub(super) async fn analysis_button(
        &self,
        user: &mut UserRow,
        pressed: AnalysisButton,
    ) -> Result<Vec<Action>, CoreError> {
        let lang = user.lang;
        let chat = user.chat();
        match pressed {
            AnalysisButton::Start | AnalysisButton::Resume => {
                return self.analysis_command(user).await
            }
            AnalysisButton::Restart => return self.analysis_start(user),
            AnalysisButton::Summary => {
                return match self.load_analysis(user)? {
                    Some((row, p)) if Status::parse(&row.status) == Status::Completed => {
                        let (text, _) = self.analysis_summary(user, p).await;
                        Ok(vec![reply(&chat, &text, summary_buttons(lang))])
                    }
                    _ => Ok(vec![reply(&chat, texts::stale_button(lang), vec![])]),
                };
            }
            _ => {}
        }
        let Some((row, mut profile)) = self.active_analysis(user)? else {
            return Ok(vec![reply(&chat, texts::stale_button(lang), vec![])]);
        };
        let step = (row.step.max(0) as usize).min(STEPS.len() - 1);
        match pressed {
            AnalysisButton::Skip => self.analysis_nav(user, row, profile, Nav::Skip).await,
            AnalysisButton::Back => self.analysis_nav(user, row, profile, Nav::Back).await,
            AnalysisButton::Pause => self.analysis_nav(user, row, profile, Nav::Pause).await,
            AnalysisButton::Quit => self.analysis_nav(user, row, profile, Nav::Quit).await,
            AnalysisButton::Option(code) => match analysis::read_option(STEPS[step], &code, lang) {
                // A button from an earlier question pressed late is stale,
                // not an answer to the current one.
                Some(answer) => {
                    self.analysis_answer(user, row, &mut profile, step, Some(answer))
                        .await
                }
                None => Ok(vec![reply(&chat, texts::stale_button(lang), vec![])]),
            },
            AnalysisButton::Start
            | AnalysisButton::Resume
            | AnalysisButton::Restart
            | AnalysisButton::Summary => Ok(vec![reply(&chat, texts::stale_button(lang), vec![])]),
        }
    }

    async fn analysis_complete(
        &self,
        user: &mut UserRow,
        row: AnalysisRow,
        profile: &mut Profile,
    ) -> Result<Vec<Action>, CoreError> {
        let (text, suggested) = self.analysis_summary(user, profile.clone()).await;
        profile.suggested = suggested;
        self.save_analysis(
            user,
            Status::Completed,
            STEPS.len(),
            profile,
            Some(row.started_at),
        )?;
        self.store
            .stat(user, self.clock.now(), "analysis", Some("completed"), None)?;
        tracing::info!(
            platform = user.platform.as_str(),
            "needs analysis completed"
        );
        Ok(vec![reply(&user.chat(), &text, summary_buttons(user.lang))])
    }

    /// The readable result: the profile, 2–3 AI opportunities from the
    /// use-case library, a first step, and matching activities and actors,
    /// each with its source. Returns the text and the suggested use cases.
    pub(crate) async fn analysis_summary(
        &self,
        user: &UserRow,
        profile: Profile,
    ) -> (String, Vec<(String, String)>) {
        let lang = user.lang;
        let region = profile.region().map(str::to_string).or(user.region.clone());
        let sector = profile.sector().map(str::to_string);
        let mut need = String::new();
        for f in [Field::Processes, Field::Goals, Field::Data, Field::Digital] {
            if let Some(t) = profile.text(f) {
                need.push_str(t);
                need.push(' ');
            }
        }
        let cases = self.use_cases(&need, sector.as_deref(), lang, 3).await;
        let matches = self
            .find_matches(&need, region.as_deref(), sector.as_deref(), lang, &cases)
            .await;

        let mut s = String::new();
        s.push_str(T::summary_heading(lang));
        for l in profile.lines(lang) {
            s.push_str(&l);
            s.push('\n');
        }
        if profile.answers.is_empty() {
            s.push_str(T::no_answers(lang));
        }
        let mut n = 0;
        if cases.is_empty() {
            s.push_str(T::no_pattern(lang));
        } else {
            s.push_str(T::opportunities_heading(lang));
            for (c, _) in &cases {
                n += 1;
                s.push_str(&c.line(lang, n, &self.settings.assistant.knowledge_url));
                s.push('\n');
            }
            if let Some((top, Some(fs))) = cases.first() {
                s.push_str(&T::first_step(lang, &top.title, fs));
            }
        }
        let rest: Vec<&Suggestion> = matches
            .actors
            .iter()
            .take(3)
            .chain(matches.activities.iter().take(3))
            .collect();
        if !rest.is_empty() {
            s.push_str(T::fitting_support_heading(lang));
            for sug in rest {
                n += 1;
                s.push_str(&sug.line(lang, n, &self.settings.assistant.knowledge_url));
                s.push('\n');
            }
        }
        s.push_str(T::take_it_further(lang));
        let suggested = cases
            .iter()
            .map(|(c, _)| (c.path.clone(), c.title.clone()))
            .collect();
        (s, suggested)
    }

    /// Use-case documents for a need, best first, with the document's
    /// "first step" passage. Filtered to the sector when known (falling
    /// back to all sectors if that leaves too few).
    async fn use_cases(
        &self,
        need: &str,
        sector: Option<&str>,
        lang: Lang,
        limit: usize,
    ) -> Vec<(Suggestion, Option<String>)> {
        let mut query = String::new();
        let lower = need.to_lowercase();
        if lang == Lang::Sv {
            query.push_str(need);
            query.push(' ');
        }
        for (k, v) in GLOSSARY {
            if lower.contains(k) {
                query.push_str(v);
                query.push(' ');
            }
        }
        if let Some(sec) = sector {
            query.push_str(sector_words(sec));
        }
        if query.trim().is_empty() {
            return Vec::new();
        }
        let mut found: Vec<ChunkPayload> = Vec::new();
        let mut filters = Vec::new();
        if let Some(sec) = sector {
            filters.push(SearchFilter {
                kinds: vec![Kind::Case],
                sectors: vec![sec.to_string(), "all".into()],
                ..Default::default()
            });
        }
        filters.push(SearchFilter {
            kinds: vec![Kind::Case],
            ..Default::default()
        });
        for f in filters {
            if found.len() >= limit {
                break;
            }
            match self.retriever().search(&query, &f, limit + 2).await {
                Ok(r) => {
                    for hit in r.results {
                        // Retrieval noise: a case must share some words.
                        if hit.score <= 0.0 {
                            continue;
                        }
                        if !found.iter().any(|c| c.doc_path == hit.chunk.doc_path) {
                            found.push(hit.chunk);
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "use-case search failed"),
            }
        }
        found.truncate(limit);
        let mut out = Vec::new();
        for c in found {
            let mut sug = Suggestion::from_chunk(&c);
            if let Some(sec) = sector {
                if c.sectors.iter().any(|s| s == sec) {
                    sug.reasons
                        .push(T::common_in(lang, &sector_name(sec, lang)));
                }
            }
            let first = self
                .section(&c.doc_path, &["första steg", "first step"])
                .await
                .map(|t| clip_sentences(&crate::extract::plain(&t), 450));
            out.push((sug, first));
        }
        out
    }

    /// The body of the first section of `path` whose heading contains one
    /// of `headings` (lower case).
    async fn section(&self, path: &str, headings: &[&str]) -> Option<String> {
        let chunks = self.doc_chunks(path).await?;
        let texts: Vec<String> = chunks
            .iter()
            .filter(|c| {
                c.heading_path.last().is_some_and(|hd| {
                    let l = hd.to_lowercase();
                    headings.iter().any(|w| l.contains(w))
                })
            })
            .map(body)
            .collect();
        (!texts.is_empty()).then(|| texts.join("\n"))
    }

    /// One document's first chunk (title, kind, region…), if indexed.
    async fn doc(&self, path: &str) -> Option<ChunkPayload> {
        self.doc_chunks(path).await?.into_iter().next()
    }

    /// A document's chunks in document order (ordinals count per heading
    /// key, so the line is what orders them).
    async fn doc_chunks(&self, path: &str) -> Option<Vec<ChunkPayload>> {
        let filter = SearchFilter {
            doc_path: Some(path.to_string()),
            ..Default::default()
        };
        let mut chunks: Vec<ChunkPayload> = self
            .knowledge
            .backend()
            .list(&filter, 200)
            .await
            .ok()?
            .into_iter()
            .map(|h| std::sync::Arc::unwrap_or_clone(h.payload))
            .collect();
        chunks.sort_by_key(|c| c.line);
        Some(chunks)
    }

    /// Actors, programme activities and events for a need, ranked: named
    /// as support by a matching use case, in the user's region, matching
    /// the text, working with the sector.
    pub(crate) async fn find_matches(
        &self,
        need: &str,
        region: Option<&str>,
        sector: Option<&str>,
        lang: Lang,
        cases: &[(Suggestion, Option<String>)],
    ) -> Matches {
        let in_region = |c: &ChunkPayload| match region {
            Some(r) if r != "other" => {
                c.region.is_empty() || c.region.iter().any(|x| x == r || x == "national")
            }
            // Outside the two counties: national actors and the programme.
            Some(_) => c.region.is_empty() || c.region.iter().any(|x| x == "national"),
            None => true,
        };
        let mut cand: HashMap<String, Suggestion> = HashMap::new();
        let mut payloads: HashMap<String, ChunkPayload> = HashMap::new();

        // 1. Named in the "Vilket stöd passar" section of matching cases.
        for (rank, (case, _)) in cases.iter().enumerate() {
            let Some(sec) = self
                .section(&case.path, &["vilket stöd", "which support", "stöd passar"])
                .await
            else {
                continue;
            };
            for p in linked_paths(&sec) {
                let Some(c) = self.doc(&p).await else {
                    continue;
                };
                if !matches!(c.kind, Kind::Support | Kind::Project) || !in_region(&c) {
                    continue;
                }
                let e = cand
                    .entry(p.clone())
                    .or_insert_with(|| Suggestion::from_chunk(&c));
                if e.reasons.is_empty() {
                    e.reasons.push(T::named_in_pattern(lang, &case.title));
                }
                e.score += if rank == 0 { 2.0 } else { 1.0 };
                payloads.insert(p, c);
            }
        }
        // 2. Support actors matching the text, within the region.
        let regions: Vec<String> = match region {
            Some(r) if r != "other" => vec![r.to_string(), "national".into()],
            Some(_) => vec!["national".into()],
            None => vec![],
        };
        let mut query = need.to_string();
        for (k, v) in GLOSSARY {
            if need.to_lowercase().contains(k) {
                query.push(' ');
                query.push_str(v);
            }
        }
        let filter = SearchFilter {
            kinds: vec![Kind::Support],
            regions: regions.clone(),
            ..Default::default()
        };
        if let Ok(r) = self.retriever().search(&query, &filter, 8).await {
            let top = r.results.first().map(|f| f.score).unwrap_or(0.0).max(1e-6);
            for hit in r.results.into_iter().filter(|h| h.score > 0.0) {
                let c = hit.chunk;
                let e = cand
                    .entry(c.doc_path.clone())
                    .or_insert_with(|| Suggestion::from_chunk(&c));
                e.score += hit.score / top;
                if hit.score / top > 0.5 {
                    e.reasons.push(T::matches_question(lang).into());
                }
                payloads.insert(c.doc_path.clone(), c);
            }
        }
        // 3. Every support actor in the region is a candidate.
        if let Ok(list) = self.knowledge.backend().list(&filter, 2_000).await {
            for h in list {
                let c = std::sync::Arc::unwrap_or_clone(h.payload);
                cand.entry(c.doc_path.clone())
                    .or_insert_with(|| Suggestion::from_chunk(&c));
                payloads.entry(c.doc_path.clone()).or_insert(c);
            }
        }
        // Region and sector signals.
        for (p, sug) in cand.iter_mut() {
            let Some(c) = payloads.get(p) else { continue };
            if let Some(r) = region.filter(|r| *r != "other") {
                if c.region.iter().any(|x| x == r) {
                    sug.score += 1.0;
                    sug.reasons.push(T::works_in(lang, region_name(r, lang)));
                } else if c.region.iter().any(|x| x == "national") {
                    sug.score += 0.3;
                    sug.reasons.push(T::national_actor(lang).into());
                }
            }
            if let Some(s) = sector {
                if c.sectors.iter().any(|x| x == s) {
                    sug.score += 1.0;
                    sug.reasons.push(T::works_with(lang, &sector_name(s, lang)));
                }
            }
        }
        let mut all: Vec<Suggestion> = cand.into_values().collect();
        // The user's language version of a document, where there is one.
        for sug in all.iter_mut().filter(|s| s.language != lang) {
            let Some(t) = payloads.get(&sug.path).and_then(|c| c.translation.clone()) else {
                continue;
            };
            if let Some(c) = self.doc(&t).await {
                sug.path = c.doc_path.clone();
                sug.title = c.title.clone();
                sug.url = c.source_url.clone().or(sug.url.clone());
                sug.language = c.language;
            }
        }
        all.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.title.cmp(&b.title)));
        let (mut activities, actors): (Vec<Suggestion>, Vec<Suggestion>) =
            all.into_iter().partition(|s| s.kind == Kind::Project);
        // 4. Upcoming events in the region, the sector's first.
        let today = self.clock.now().date_naive();
        let ev_filter = SearchFilter {
            kinds: vec![Kind::Event],
            regions,
            upcoming_from: Some(today),
            ..Default::default()
        };
        if let Ok(list) = self.knowledge.backend().list(&ev_filter, 500).await {
            let mut evs: Vec<(bool, Suggestion)> = Vec::new();
            for h in list {
                let c = h.payload;
                if evs.iter().any(|(_, e)| e.path == c.doc_path) {
                    continue;
                }
                let mut e = Suggestion::from_chunk(&c);
                let sector_fit = sector.is_some_and(|s| c.sectors.iter().any(|x| x == s));
                if let Some(r) = region.filter(|r| *r != "other") {
                    if c.region.iter().any(|x| x == r) {
                        e.reasons.push(T::in_region(lang, region_name(r, lang)));
                    }
                }
                if sector_fit {
                    if let Some(s) = sector {
                        e.reasons.push(T::for_sector(lang, &sector_name(s, lang)));
                    }
                }
                // One language version of an event is enough.
                if c.language != lang && c.translation.is_some() {
                    continue;
                }
                evs.push((sector_fit, e));
            }
            evs.sort_by(|a, b| {
                b.0.cmp(&a.0).then(
                    a.1.event
                        .as_ref()
                        .map(|e| e.0)
                        .cmp(&b.1.event.as_ref().map(|e| e.0)),
                )
            });
            activities.extend(evs.into_iter().take(2).map(|(_, e)| e));
        }
        Matches {
            actors,
            activities,
            region: region.map(str::to_string),
            sector: sector.map(str::to_string),
        }
    }

    /// "Vem kan hjälpa oss med …?": ranked actors, activities and events,
    /// each with a reason and a link, and an introduction button.
    pub(super) async fn matchmaking(
        &self,
        user: &mut UserRow,
        text: &str,
    ) -> Result<Vec<Action>, CoreError> {
        let lang = user.lang;
        let now = self.clock.now();
        self.remember(user, text, lang, None, now)?;
        let body = self.match_text(user, text).await;
        self.store.add_reply(
            user,
            &NewMessage {
                text: &body,
                lang: Some(lang),
                outcome: Some("match"),
                query: Some(text),
                ..Default::default()
            },
            &[NewStat {
                kind: "match",
                detail: None,
                value: None,
            }],
            now,
        )?;
        Ok(vec![reply(
            &user.chat(),
            &body,
            vec![
                ButtonId::MatchIntro.button(T::btn_ask_intro(lang)),
                ButtonId::Human.button(texts::btn_human(lang)),
            ],
        )])
    }

    /// The match-making text for `need`, using the user's analysis profile
    /// for region and sector when the text does not say.
    pub(crate) async fn match_text(&self, user: &UserRow, need: &str) -> String {
        let lang = user.lang;
        let profile = self.load_analysis(user).ok().flatten().map(|(_, p)| p);
        let region = analysis::region_in(need)
            .map(str::to_string)
            .or_else(|| user.region.clone())
            .or_else(|| {
                profile
                    .as_ref()
                    .and_then(|p| p.region().map(str::to_string))
            });
        let sector = analysis::sector_in(need).map(str::to_string).or_else(|| {
            profile
                .as_ref()
                .and_then(|p| p.sector().map(str::to_string))
        });
        let cases = self.use_cases(need, sector.as_deref(), lang, 2).await;
        let m = self
            .find_matches(need, region.as_deref(), sector.as_deref(), lang, &cases)
            .await;
        let mut s = String::new();
        let mut ctx = Vec::new();
        if let Some(r) = &m.region {
            ctx.push(region_name(r, lang).to_string());
        }
        if let Some(sec) = &m.sector {
            ctx.push(sector_name(sec, lang));
        }
        s.push_str(T::these_can_help(lang));
        if !ctx.is_empty() {
            s.push_str(&format!(" ({})", ctx.join(" · ")));
        }
        s.push_str(":\n");
        let mut n = 0;
        for a in m.actors.iter().take(4) {
            n += 1;
            s.push_str(&a.line(lang, n, &self.settings.assistant.knowledge_url));
            s.push('\n');
        }
        if !m.activities.is_empty() {
            s.push_str(T::activities_heading(lang));
            for a in m.activities.iter().take(3) {
                n += 1;
                s.push_str(&a.line(lang, n, &self.settings.assistant.knowledge_url));
                s.push('\n');
            }
        }
        if let Some((c, _)) = cases.first() {
            s.push_str(&T::read_more_pattern(lang, &c.title));
            if let Some(u) = c.link(lang, &self.settings.assistant.knowledge_url) {
                s.push_str(&format!(" – {u}"));
            }
            s.push('\n');
        }
        if region.is_none() {
            s.push_str(T::tell_where(lang));
        }
        s.push_str(T::want_intro(lang));
        s
    }

    /// The adviser-facing profile a ticket carries: the needs analysis
    /// (finished or not) in the advisers' language.
    pub(super) fn profile_for_advisers(&self, user: &UserRow) -> Option<String> {
        let (row, p) = self.load_analysis(user).ok().flatten()?;
        let status = Status::parse(&row.status);
        if p.answers.is_empty() || status == Status::Quit {
            return None;
        }
        let l = self.settings.escalation.adviser_language;
        let mut s = T::profile_heading(
            l,
            status == Status::Completed,
            &row.updated_at.date_naive().to_string(),
        );
        for line in p.lines(l) {
            s.push_str(&line);
            s.push('\n');
        }
        if !p.suggested.is_empty() {
            s.push_str(T::suggested_patterns(l));
            let titles: Vec<String> = p
                .suggested
                .iter()
                .map(|(path, title)| format!("{title} ({path})"))
                .collect();
            s.push_str(&titles.join("; "));
            s.push('\n');
        }
        Some(s)
    }
}

fn summary_buttons(lang: Lang) -> Vec<Button> {
    vec![
        ButtonId::Human.button(texts::btn_human(lang)),
        ButtonId::Analysis(AnalysisButton::Restart).button(analysis::btn_restart(lang)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_to_other_documents_are_read_relative_to_the_base() {
        let md = "- [MITC](../support/mitc.md) och [ShiftLabs](../support/shiftlabs-edih.md#x)\n- [web](https://example.org/a.md) [prog](../programme/aktiviteter.md)";
        assert_eq!(
            linked_paths(md),
            vec![
                "support/mitc.md",
                "support/shiftlabs-edih.md",
                "programme/aktiviteter.md"
            ]
        );
    }

    #[test]
    fn clipping_ends_at_a_sentence() {
        let t = "Första meningen är här. Andra meningen är längre och fortsätter. Tredje.";
        assert_eq!(clip_sentences(t, 40), "Första meningen är här.");
    }
}
