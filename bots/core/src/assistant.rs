//! The conversation logic: `handle(incoming) -> actions`. It decides, per
//! message, between a command, small talk, a relay to the adviser who owns
//! the conversation, and a grounded answer; it keeps the dialogue state
//! (language, low-confidence streak, a pending 👎 or /forget) and opens
//! tickets when a trigger fires.
//!
//! Order matters for "nothing is lost": the user's message is stored
//! before any answer is made, a ticket and its notification are stored in
//! one transaction before anyone is notified, and deliveries leave the
//! outbox only when the front-end confirms them.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::mpsc::UnboundedSender;

use kraft_ingest::doc::Kind;
use kraft_ingest::index::{ChunkPayload, SearchFilter};
use kraft_ingest::rank::Query;
use kraft_ingest::search::{Found, Pipeline, Retriever};
use kraft_ingest::section::{self, SectionTerms};
use kraft_ingest::Knowledge;

mod guide;

use crate::buttons::ButtonId;
use crate::desk::Desk;
use crate::extract;
use crate::flood::{Flood, Verdict};
use crate::intent::{self, Command, Intent};
use crate::llm::{Llm, Passage};
use crate::model::{
    Action, Button, ChatRef, Clock, Incoming, Input, Lang, Platform, Privately, SourceRef, UserRef,
};
use crate::route::{route, Route, Situation, YesNo};
use crate::store::prelude::*;
use crate::store::{
    Delivery, Dialogue, MessageRow, NewDelivery, NewMessage, NewStat, Opened, Role, Target,
    TicketRow, TicketStatus, UserRow,
};
use crate::texts;
use crate::{CoreError, CoreSettings};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerKind {
    Answered,
    /// Related to the programme's themes, but not covered: "I don't know".
    Abstained,
    /// Nothing in the knowledge base comes close.
    OffTopic,
}

impl AnswerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AnswerKind::Answered => "answered",
            AnswerKind::Abstained => "abstained",
            AnswerKind::OffTopic => "off_topic",
        }
    }
}

/// A grounded answer (or an honest "I don't know").
#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    pub kind: AnswerKind,
    pub lang: Lang,
    /// The body, without the sources list.
    pub text: String,
    pub sources: Vec<SourceRef>,
    pub confidence: f32,
    /// The retrieval query (the question, or for a follow-up the previous
    /// question plus this one).
    pub query: String,
    pub follow_up: bool,
    /// Written by the LLM (false: extractive).
    pub generated: bool,
    /// Why the LLM was not used although configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub llm_fallback: Option<String>,
    /// A retriever failed (the embeddings endpoint, say): the answer came
    /// from the others alone.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub degraded: bool,
    /// Streamed text was shown and is replaced by this answer.
    #[serde(skip)]
    pub replaces_draft: bool,
}

impl Answer {
    /// The whole message: body, a next step, then the numbered sources
    /// (linked as `crate::sources` says, with `knowledge_url`).
    pub fn render(&self, knowledge_url: &str) -> String {
        if self.sources.is_empty() {
            return self.text.clone();
        }
        format!(
            "{}\n\n{}\n\n{}",
            self.text,
            texts::next_step(self.lang),
            crate::sources::render(&self.sources, knowledge_url, self.lang)
        )
    }
}

/// What `kraft ask` reports about escalation for a single message.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Escalation {
    /// Reason a ticket would be opened at once (fresh conversation).
    pub would_open_ticket: Option<String>,
    /// The answer offers an adviser (a second such answer opens a ticket).
    pub offers_adviser: bool,
}

pub struct Assistant {
    knowledge: Arc<Knowledge>,
    /// Replaced when a sync writes the index again with new mean lengths
    /// (see [`Assistant::retriever`]).
    retriever: std::sync::RwLock<Arc<Retriever>>,
    store: Arc<dyn State>,
    desk: Desk,
    llm: Option<Llm>,
    settings: CoreSettings,
    min_confidence: f32,
    clock: Arc<dyn Clock>,
    last_purge: Mutex<Option<DateTime<Utc>>>,
    flood: Flood,
    sections: Mutex<std::collections::HashMap<String, Arc<SectionTerms>>>,
    hours: crate::hours::OpeningHours,
}

impl std::fmt::Debug for Assistant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Assistant")
            .field("knowledge", &self.knowledge)
            .field("llm", &self.llm)
            .finish()
    }
}

fn source_of(c: &ChunkPayload) -> SourceRef {
    SourceRef {
        title: c.title.clone(),
        path: c.doc_path.clone(),
        url: c.source_url.clone(),
        example: c.example,
    }
}

fn feedback_buttons(msg_id: i64) -> Vec<Button> {
    vec![
        ButtonId::Feedback {
            up: true,
            message: msg_id,
        }
        .button(texts::btn_up()),
        ButtonId::Feedback {
            up: false,
            message: msg_id,
        }
        .button(texts::btn_down()),
    ]
}

impl Assistant {
    pub async fn new(
        knowledge: Arc<Knowledge>,
        store: Arc<dyn State>,
        settings: CoreSettings,
        llm_api_key: Option<String>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, CoreError> {
        let retriever = knowledge.retriever().await?;
        let llm = if settings.llm.enabled() {
            Some(
                Llm::new(settings.llm.clone(), llm_api_key)
                    .map_err(|e| CoreError::Config(e.to_string()))?,
            )
        } else {
            None
        };
        let hours = crate::hours::OpeningHours::parse(
            &settings.escalation.opening_hours,
            &settings.escalation.timezone,
        )
        .map_err(|e| CoreError::Config(e.to_string()))?;
        let desk = Desk::new(store.clone(), clock.clone(), settings.escalation.clone());
        let min_confidence = knowledge.settings().search.min_confidence;
        // Several processes on one state share the limit through it.
        let flood = if store.shared() {
            Flood::in_store(
                settings.assistant.flood_per_minute,
                settings.assistant.flood_burst,
                clock.clone(),
                store.clone(),
            )
        } else {
            Flood::new(
                settings.assistant.flood_per_minute,
                settings.assistant.flood_burst,
                clock.clone(),
            )
        };
        Ok(Self {
            knowledge,
            retriever: std::sync::RwLock::new(Arc::new(retriever)),
            store,
            desk,
            llm,
            settings,
            min_confidence,
            clock,
            last_purge: Mutex::new(None),
            flood,
            sections: Mutex::new(Default::default()),
            hours,
        })
    }

    pub fn store(&self) -> &Arc<dyn State> {
        &self.store
    }

    pub fn settings(&self) -> &CoreSettings {
        &self.settings
    }

    pub fn desk(&self) -> &Desk {
        &self.desk
    }

    pub fn knowledge(&self) -> &Arc<Knowledge> {
        &self.knowledge
    }

    /// The retriever for this turn. When a sync (the folder follower of
    /// `kraft serve`) has written every chunk again with new mean lengths,
    /// the knowledge holds a new analyzer; the second stage's term weights
    /// must use it too, or a running bot answers differently from one
    /// started afresh on the same index until it is restarted.
    fn retriever(&self) -> Arc<Retriever> {
        let current = match self.retriever.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        };
        match self.knowledge.current_analyzer() {
            Some(a) if !current.uses(&a) => {
                let fresh = Arc::new(current.with_analyzer(a));
                match self.retriever.write() {
                    Ok(mut g) => *g = fresh.clone(),
                    Err(p) => *p.into_inner() = fresh.clone(),
                }
                tracing::info!("the index was written again with new mean lengths; searches use them from now on");
                fresh
            }
            _ => current,
        }
    }

    fn lease(&self) -> Duration {
        Duration::from_secs(self.settings.assistant.delivery_lease_secs.max(1))
    }

    pub async fn handle(&self, inc: &Incoming) -> Result<Vec<Action>, CoreError> {
        self.handle_streaming(inc, None).await
    }

    /// Like `handle`, but sends `Typing` and streamed `Delta`s to
    /// `progress` while the answer is being made.
    pub async fn handle_streaming(
        &self,
        inc: &Incoming,
        progress: Option<UnboundedSender<Action>>,
    ) -> Result<Vec<Action>, CoreError> {
        match self.flood_check(&inc.user)? {
            Some(refused) => Ok(refused),
            None => self.handle_admitted(inc, progress).await,
        }
    }

    /// The per-user flood limit, which `handle` applies first (a flood
    /// costs no database writes). `None`: go on, with `handle_admitted`.
    /// `Some(actions)`: the answer instead, a "please slow down" once a
    /// minute and then nothing. A front-end that does work of its own per
    /// message (Discord makes a thread) checks this before that work.
    pub fn flood_check(&self, who: &UserRef) -> Result<Option<Vec<Action>>, CoreError> {
        let key = format!("{}:{}", who.platform.as_str(), who.user_id);
        match self.flood.check(&key) {
            Verdict::Allow => Ok(None),
            Verdict::Warn => {
                tracing::info!(
                    platform = who.platform.as_str(),
                    "flood limit reached; user asked to slow down"
                );
                let lang = self
                    .store
                    .find_user(who.platform, &who.user_id)?
                    .map(|u| u.lang)
                    .unwrap_or_default();
                let chat = ChatRef {
                    platform: who.platform,
                    chat_id: who.chat_id.clone(),
                };
                Ok(Some(vec![reply(&chat, texts::slow_down(lang), vec![])]))
            }
            Verdict::Drop => Ok(Some(Vec::new())),
        }
    }

    /// Whether the person behind `who` may open no more tickets today
    /// (`escalation.max_tickets_per_day`), so a front-end need not make a
    /// thread for a request that will be refused.
    pub fn ticket_cap_reached(&self, who: &UserRef) -> Result<bool, CoreError> {
        Ok(self.store.ticket_cap_reached(
            who,
            self.settings.escalation.max_tickets_per_day,
            self.clock.now(),
        )?)
    }

    /// `handle` for a message that passed `flood_check`. The first time a
    /// person writes, from whichever chat and however (a private message,
    /// a mention, a slash command), the privacy notice comes with the
    /// reply; `/start` and `/privacy` carry it themselves.
    #[tracing::instrument(level = "debug", skip_all, fields(platform = inc.user.platform.as_str()))]
    pub async fn handle_admitted(
        &self,
        inc: &Incoming,
        progress: Option<UnboundedSender<Action>>,
    ) -> Result<Vec<Action>, CoreError> {
        let now = self.clock.now();
        let user = self.store.touch_user(&inc.user, now)?;
        // A button press is never a first contact: it answers something
        // the bot sent (or is forged, and refused).
        let first =
            !matches!(inc.input, Input::Button(_)) && self.store.first_notice(&user, now)?;
        let mut actions = self.handle_user(inc, user, progress).await?;
        let carries_it = matches!(&inc.input, Input::Text(t)
            if matches!(intent::command(t), Some(Command::Start | Command::Privacy)));
        if first && !carries_it {
            // In the language of the reply it comes with.
            let lang = self
                .store
                .find_user(inc.user.platform, &inc.user.user_id)?
                .map(|u| u.lang)
                .unwrap_or_default();
            let notice = texts::privacy(lang, self.settings.privacy.retention_days);
            let first_reply = actions.iter_mut().find_map(|a| match a {
                Action::Reply { text, .. } => Some(text),
                _ => None,
            });
            match first_reply {
                // After the answer, so a streamed draft still grows into
                // the final text, and the answer comes first.
                Some(text) => *text = format!("{text}\n\n{notice}"),
                None => {
                    if let Some(chat) = actions.iter().find_map(|a| match a {
                        Action::Ack { chat, .. } => Some(chat.clone()),
                        _ => None,
                    }) {
                        actions.insert(0, reply(&chat, &notice, vec![]));
                    }
                }
            }
        }
        Ok(actions)
    }

    async fn handle_user(
        &self,
        inc: &Incoming,
        mut user: UserRow,
        progress: Option<UnboundedSender<Action>>,
    ) -> Result<Vec<Action>, CoreError> {
        let now = self.clock.now();
        // A conversation starts after half an hour of silence.
        if user
            .seen_before
            .is_none_or(|t| now - t >= chrono::Duration::minutes(30))
        {
            self.store.stat(&user, now, "conversation", None, None)?;
        }
        let raw = match &inc.input {
            Input::Button(id) => return self.on_button(&mut user, id).await,
            Input::Unsupported(kind) => {
                tracing::debug!(kind = kind.as_str(), "non-text message");
                return Ok(vec![reply(
                    &user.chat(),
                    texts::text_only(user.lang),
                    vec![],
                )]);
            }
            Input::Text(t) => t,
        };
        let chat = user.chat();
        let text = intent::sanitize(raw);
        let lang = self.detect_lang(&text, &user);
        if text.is_empty() {
            return Ok(vec![reply(&chat, texts::empty(lang), vec![])]);
        }
        let n = text.chars().count();
        let max = self.settings.assistant.max_message_chars;
        if n > max {
            return Ok(vec![reply(&chat, &texts::too_long(lang, n, max), vec![])]);
        }
        user.lang = lang;

        let mut kind = intent::classify(&text);
        let mut text = text;
        // "/ask <question>" (Discord's slash command) is the question
        // itself, with its own meaning ("/ask can I talk to a person?").
        if kind == Intent::Command(Command::Ask) {
            let rest = rest_of(&text).to_string();
            if rest.is_empty() {
                kind = Intent::Command(Command::Help);
            } else {
                kind = intent::classify(&rest);
                text = rest;
            }
        }
        let open = self.store.open_ticket_of(user.id)?;
        let active = open
            .as_ref()
            .filter(|t| t.status == TicketStatus::Active)
            .cloned();
        let analysis = self.active_analysis(&user)?;
        let situation = Situation {
            confirming_forget: user.dialogue.confirming_forget(),
            with_adviser: active.is_some(),
            in_analysis: analysis.is_some(),
            private_chat: user.privately == Privately::Here,
        };
        let yes_no = if intent::is_yes(&text) {
            YesNo::Yes
        } else if intent::is_no(&text) {
            YesNo::No
        } else {
            YesNo::Neither
        };
        let token = text.split_whitespace().nth(1).map(str::to_string);
        // Any message answers "delete everything?"; only a yes deletes.
        if user.dialogue.confirming_forget() {
            user.dialogue = Dialogue::default();
            self.store.save_dialogue(&user)?;
        }
        // (The route only relays with an active ticket and only answers an
        // analysis under way; were that ever not so, the message would be
        // handled by its meaning.)
        let kind = match route(situation, &kind, yes_no, token.is_some()) {
            Route::Forget => return self.forget(&user),
            Route::KeepData => {
                self.store.save_dialogue(&user)?;
                return Ok(vec![reply(&chat, texts::forget_kept(lang), vec![])]);
            }
            Route::MoveToPrivate => {
                self.store.save_dialogue(&user)?;
                let said = self
                    .desk
                    .move_to_private(token.as_deref().unwrap_or_default(), &user)?;
                return Ok(vec![reply(&chat, &said, vec![])]);
            }
            Route::AskForget => return self.ask_forget(&mut user),
            Route::RelayToAdviser => match active {
                Some(t) => return self.relay(&user, &t, &text, lang, now),
                None => kind,
            },
            Route::Analysis => return self.analysis_command(&mut user).await,
            Route::AnalysisAnswer => match analysis {
                Some((row, profile)) => {
                    return self.analysis_turn(&mut user, row, profile, &text).await
                }
                None => kind,
            },
            Route::Intent(kind) => kind,
        };

        match kind {
            Intent::Analysis | Intent::Command(Command::Analysis) => {
                self.analysis_command(&mut user).await
            }
            Intent::Match => self.matchmaking(&mut user, &text).await,
            Intent::Command(Command::Match) => {
                let rest = text
                    .split_once(char::is_whitespace)
                    .map(|(_, r)| r.trim())
                    .unwrap_or("");
                if rest.is_empty() {
                    self.store.save_dialogue(&user)?;
                    Ok(vec![reply(&chat, texts::match_how(lang), vec![])])
                } else {
                    self.matchmaking(&mut user, rest).await
                }
            }
            Intent::Command(Command::Start) => {
                self.store.save_dialogue(&user)?;
                Ok(vec![reply(
                    &chat,
                    &texts::welcome(lang, self.settings.privacy.retention_days),
                    lang_buttons(),
                )])
            }
            Intent::Command(Command::Help) => {
                self.store.save_dialogue(&user)?;
                Ok(vec![reply(&chat, &texts::help(lang), vec![])])
            }
            Intent::Command(Command::Privacy) => {
                self.store.save_dialogue(&user)?;
                Ok(vec![reply(
                    &chat,
                    &texts::privacy(lang, self.settings.privacy.retention_days),
                    vec![],
                )])
            }
            Intent::Command(Command::Lang) => {
                let choice = rest_of(&text).to_lowercase();
                let chosen = match choice.as_str() {
                    "sv" | "svenska" | "swedish" => Some(Lang::Sv),
                    "en" | "engelska" | "english" => Some(Lang::En),
                    _ => None,
                };
                match chosen {
                    Some(l) => self.choose_lang(&mut user, l),
                    None => {
                        self.store.save_dialogue(&user)?;
                        Ok(vec![reply(&chat, texts::lang_choose(lang), lang_buttons())])
                    }
                }
            }
            Intent::Command(Command::Reply) | Intent::Command(Command::Ask) => {
                // /reply belongs to advisers in their room; a bare /ask was
                // made /help above.
                self.store.save_dialogue(&user)?;
                Ok(vec![reply(
                    &chat,
                    &texts::unknown_command(lang, text.split_whitespace().next().unwrap_or("")),
                    vec![],
                )])
            }
            Intent::Command(Command::Events) => {
                self.store.save_dialogue(&user)?;
                Ok(vec![reply(&chat, &self.events(lang).await, vec![])])
            }
            Intent::Command(Command::Forget) => self.ask_forget(&mut user),
            Intent::Command(Command::Unknown(c)) => {
                self.store.save_dialogue(&user)?;
                Ok(vec![reply(
                    &chat,
                    &texts::unknown_command(lang, &c),
                    vec![],
                )])
            }
            Intent::Command(Command::Human) | Intent::Human => {
                self.remember(&user, &text, lang, None, now)?;
                self.escalate(&mut user, "user_request", String::new(), vec![], None)
            }
            Intent::Greeting => {
                self.store.save_dialogue(&user)?;
                Ok(vec![reply(&chat, texts::greeting(lang), vec![])])
            }
            Intent::Thanks => {
                self.store.save_dialogue(&user)?;
                Ok(vec![reply(&chat, texts::thanks(lang), vec![])])
            }
            Intent::Abuse => {
                self.store.save_dialogue(&user)?;
                Ok(vec![reply(&chat, texts::boundary(lang), vec![])])
            }
            Intent::Question => self.question(&mut user, &text, open, progress).await,
        }
    }

    /// Stores what the user wrote (with their ticket, if the message
    /// belongs to one).
    pub(crate) fn remember(
        &self,
        user: &UserRow,
        text: &str,
        lang: Lang,
        ticket: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<i64, CoreError> {
        Ok(self.store.add_message(
            user.id,
            Role::User,
            &NewMessage {
                text,
                lang: Some(lang),
                ticket_id: ticket,
                ..Default::default()
            },
            now,
        )?)
    }

    /// A message while an adviser owns the conversation: stored with the
    /// ticket, relayed to the adviser, and acknowledged (nothing else).
    fn relay(
        &self,
        user: &UserRow,
        t: &crate::store::TicketRow,
        text: &str,
        lang: Lang,
        now: DateTime<Utc>,
    ) -> Result<Vec<Action>, CoreError> {
        self.store.save_dialogue(user)?;
        self.remember(user, text, lang, Some(t.id), now)?;
        let ack = match &user.privately {
            Privately::Here => texts::relayed(lang).to_string(),
            p => texts::relayed_elsewhere(lang, self.desk.private_link(t, p).as_deref()),
        };
        let mut actions = vec![Action::Ack {
            chat: user.chat(),
            text: ack,
        }];
        if let Some(d) = self
            .desk
            .relay_to_adviser(t, user, text, Some(self.lease()))?
        {
            actions.push(delivery_action(d));
        }
        Ok(actions)
    }

    /// The language to answer `text` in: a clear message's own; for one
    /// too short to tell, a word that gives it away ("hello"), else the
    /// language chosen with /lang, else the user's so far (for a new user,
    /// what the platform said their app uses).
    fn detect_lang(&self, text: &str, user: &UserRow) -> Lang {
        if intent::too_short_to_detect(text) {
            return intent::lang_hint(text)
                .or(user.lang_pref)
                .unwrap_or(user.lang);
        }
        self.retriever().analyzer().detect(text)
    }

    /// A tap on "how satisfied are you?" after a resolved ticket: one
    /// statistic per ticket (a second tap changes nothing), only for the
    /// ticket's own user.
    fn satisfaction(
        &self,
        user: &UserRow,
        score: crate::buttons::Score,
        ticket: i64,
    ) -> Result<Vec<Action>, CoreError> {
        let chat = user.chat();
        let stale = || Ok(vec![reply(&chat, texts::stale_button(user.lang), vec![])]);
        let score = score.as_str();
        let Some(t) = self.store.ticket(ticket)? else {
            return stale();
        };
        let mine = self.store.user(t.user_id)?.is_some_and(|owner| {
            owner.platform == user.platform
                && crate::model::person_of(&owner.external_id)
                    == crate::model::person_of(&user.external_id)
        });
        if !mine || t.status != TicketStatus::Resolved {
            return stale();
        }
        if self.store.rate_ticket(ticket, score)? {
            self.store
                .stat(user, self.clock.now(), "satisfaction", Some(score), None)?;
        }
        Ok(vec![reply(
            &chat,
            texts::satisfaction_thanks(user.lang),
            vec![],
        )])
    }

    fn choose_lang(&self, user: &mut UserRow, l: Lang) -> Result<Vec<Action>, CoreError> {
        user.lang = l;
        user.lang_pref = Some(l);
        self.store.save_dialogue(user)?;
        Ok(vec![reply(&user.chat(), texts::lang_set(l), vec![])])
    }

    async fn question(
        &self,
        user: &mut UserRow,
        text: &str,
        open: Option<crate::store::TicketRow>,
        progress: Option<UnboundedSender<Action>>,
    ) -> Result<Vec<Action>, CoreError> {
        let now = self.clock.now();
        let chat = user.chat();
        let lang = user.lang;
        let prev_q = self.store.last_query(user.id, 10)?;
        // Stored first: whatever happens next, the question is not lost.
        self.remember(user, text, lang, open.as_ref().map(|t| t.id), now)?;
        if let Some(p) = &progress {
            let _ = p.send(Action::Typing { chat: chat.clone() });
        }
        let on_delta = progress.clone().map(|p| {
            let chat = chat.clone();
            move |piece: &str| {
                let _ = p.send(Action::Delta {
                    chat: chat.clone(),
                    text: piece.to_string(),
                });
            }
        });
        // A transient index failure (a Qdrant server restarting, a network
        // blip) is retried twice with a short back-off before the user
        // hears "try again later".
        let mut attempt = 0u32;
        let result = loop {
            let r = self
                .answer(
                    text,
                    prev_q.as_deref(),
                    lang,
                    on_delta
                        .as_ref()
                        .map(|f| f as &(dyn Fn(&str) + Send + Sync)),
                )
                .await;
            match r {
                Err(CoreError::Index(e)) if e.is_transient() && attempt < 2 => {
                    attempt += 1;
                    tracing::warn!(error = %e, attempt, "index unavailable; retrying");
                    tokio::time::sleep(Duration::from_millis(250 * u64::from(attempt * attempt)))
                        .await;
                }
                other => break other,
            }
        };
        let answer = match result {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(error = %e, "retrieval failed; the question is stored");
                self.store.save_dialogue(user)?;
                return Ok(vec![reply(&chat, texts::trouble(lang), vec![])]);
            }
        };

        let mut stats = vec![NewStat {
            kind: "answer",
            detail: Some(answer.kind.as_str()),
            value: None,
        }];
        if answer.kind == AnswerKind::Answered {
            if let Some(top) = answer.sources.first() {
                stats.push(NewStat {
                    kind: "topic",
                    detail: Some(&top.path),
                    value: None,
                });
            }
        }
        let mut reason: Option<String> = None;
        let mut low_streak = user.dialogue.low_streak();
        match answer.kind {
            AnswerKind::Answered => low_streak = 0,
            AnswerKind::Abstained => {
                low_streak += 1;
                if low_streak >= self.settings.escalation.low_confidence_in_a_row.max(1) {
                    reason = Some("low_confidence".into());
                }
            }
            AnswerKind::OffTopic => {}
        }
        if matches!(user.dialogue, Dialogue::AfterDownvote { .. }) {
            reason.get_or_insert_with(|| "downvote".into());
        }
        user.dialogue = Dialogue::Idle { low_streak };
        if let Some(t) = intent::topic(text, &self.settings.escalation.topics) {
            reason = Some(format!("topic:{t}"));
        }

        let body = match answer.kind {
            AnswerKind::Answered => answer.render(&self.settings.assistant.knowledge_url),
            AnswerKind::Abstained => texts::abstain(lang).to_string(),
            AnswerKind::OffTopic => texts::off_topic(lang).to_string(),
        };
        // The reply, the turn's statistics and the dialogue state (the
        // new low-confidence streak) in one commit.
        let bot_id = self.store.add_reply(
            user,
            &NewMessage {
                text: &body,
                lang: Some(lang),
                outcome: Some(answer.kind.as_str()),
                confidence: Some(answer.confidence),
                sources: answer.sources.iter().map(|s| s.path.clone()).collect(),
                query: Some(&answer.query),
                ticket_id: open.as_ref().map(|t| t.id),
            },
            &stats,
            now,
        )?;
        let outcome = Action::Answered {
            kind: answer.kind.as_str().to_string(),
            confidence: answer.confidence,
            llm_fallback: answer.llm_fallback.is_some(),
            degraded: answer.degraded,
        };
        let buttons = match answer.kind {
            AnswerKind::Answered => {
                let mut b = feedback_buttons(bot_id);
                if open.is_none() {
                    b.push(ButtonId::Human.button(texts::btn_human(lang)));
                }
                b
            }
            AnswerKind::Abstained => vec![ButtonId::Human.button(texts::btn_human(lang))],
            AnswerKind::OffTopic => vec![],
        };

        if let Some(t) = open {
            // Already with the advisers: answer, and let them see the question.
            let mut actions = vec![
                outcome,
                Action::Reply {
                    chat: chat.clone(),
                    text: format!("{body}\n\n{}", texts::waiting_note(lang, t.id)),
                    buttons,
                    replaces_draft: answer.replaces_draft,
                },
            ];
            if let Some(d) = self
                .desk
                .relay_to_adviser(&t, user, text, Some(self.lease()))?
            {
                actions.push(delivery_action(d));
            }
            return Ok(actions);
        }
        match reason {
            Some(r) => {
                // An answer stays; the ticket notice follows it.
                let keep = if answer.kind == AnswerKind::Answered {
                    body
                } else {
                    String::new()
                };
                self.escalate(user, &r, keep, vec![outcome], None)
            }
            None => Ok(vec![
                outcome,
                Action::Reply {
                    chat,
                    text: body,
                    buttons,
                    replaces_draft: answer.replaces_draft,
                },
            ]),
        }
    }

    /// Opens a ticket (or points to the open one) and tells the user. The
    /// ticket carries `extra` (e.g. match-making suggestions) and the
    /// user's needs-analysis profile, so the adviser starts informed.
    fn escalate(
        &self,
        user: &mut UserRow,
        reason: &str,
        answer_first: String,
        mut actions: Vec<Action>,
        extra: Option<String>,
    ) -> Result<Vec<Action>, CoreError> {
        let lang = user.lang;
        let chat = user.chat();
        user.dialogue = Dialogue::default();
        self.store.save_dialogue(user)?;
        let history = self.store.recent_messages(user.id, 20)?;
        let extra = [extra, self.profile_for_advisers(user)]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("\n");
        let extra = Some(extra.as_str()).filter(|x| !x.is_empty());
        let opened = self
            .desk
            .open(user, reason, &history, extra, self.lease())?;
        let head = if answer_first.is_empty() {
            String::new()
        } else {
            format!("{answer_first}\n\n")
        };
        match opened {
            Opened::New(id, deliveries) => {
                self.store
                    .stat(user, self.clock.now(), "escalation", Some(reason), None)?;
                let why = match reason {
                    "low_confidence" => texts::why_low_confidence(lang),
                    "downvote" => texts::why_downvote(lang),
                    "user_request" | "introduction" => "",
                    _ => texts::why_topic(lang),
                };
                // In a public chat only a pointer: the adviser conversation
                // goes on privately.
                let opened = match &user.privately {
                    Privately::Here => texts::ticket_opened(lang, id, why),
                    p => {
                        let link = self
                            .store
                            .ticket(id)?
                            .and_then(|t| self.desk.private_link(&t, p));
                        texts::ticket_opened_elsewhere(lang, id, why, link.as_deref())
                    }
                };
                // Outside the advisers' hours: when to expect them.
                let later = self
                    .hours
                    .next_open(self.clock.now())
                    .map(|t| {
                        format!(
                            "\n\n{}",
                            texts::outside_hours(lang, &crate::hours::when(lang, t))
                        )
                    })
                    .unwrap_or_default();
                actions.push(Action::Reply {
                    chat,
                    text: format!("{head}{opened}{later}"),
                    buttons: vec![ButtonId::CancelTicket.button(texts::btn_cancel_ticket(lang))],
                    replaces_draft: false,
                });
                actions.push(Action::TicketOpened {
                    ticket: id,
                    reason: reason.to_string(),
                });
                actions.extend(deliveries.into_iter().map(delivery_action));
            }
            Opened::AlreadyOpen => {
                let waiting = match self.store.open_ticket_of(user.id)? {
                    Some(t) => self.already_waiting(user, &t),
                    None => texts::already_waiting(lang, 0),
                };
                actions.push(reply(&chat, &format!("{head}{waiting}"), vec![]));
            }
            Opened::Capped => {
                let max = self.settings.escalation.max_tickets_per_day;
                actions.push(reply(
                    &chat,
                    &format!("{head}{}", texts::ticket_limit(lang, max)),
                    vec![],
                ));
            }
        }
        Ok(actions)
    }

    /// "Your request is already with the advisers", pointing to the
    /// private chat when asked from a public one.
    fn already_waiting(&self, user: &UserRow, t: &TicketRow) -> String {
        match &user.privately {
            Privately::Here => texts::already_waiting(user.lang, t.id),
            p => texts::already_waiting_elsewhere(
                user.lang,
                t.id,
                self.desk.private_link(t, p).as_deref(),
            ),
        }
    }

    fn ask_forget(&self, user: &mut UserRow) -> Result<Vec<Action>, CoreError> {
        user.dialogue = Dialogue::ConfirmForget;
        self.store.save_dialogue(user)?;
        let lang = user.lang;
        Ok(vec![reply(
            &user.chat(),
            &format!(
                "{}\n{}",
                texts::forget_confirm(lang),
                texts::forget_pending_hint(lang)
            ),
            vec![
                ButtonId::Forget { yes: true }.button(texts::btn_forget_yes(lang)),
                ButtonId::Forget { yes: false }.button(texts::btn_forget_no(lang)),
            ],
        )])
    }

    /// Deletes everything about the person (every identity) and says
    /// exactly what: the front-end then deletes what was posted on the
    /// adviser side (`Action::Redact`) and adds that to the reply.
    fn forget(&self, user: &UserRow) -> Result<Vec<Action>, CoreError> {
        let chat = user.chat();
        let f = self.store.forget(user.id)?;
        tracing::info!(
            identities = f.identities,
            tickets = f.tickets,
            tickets_open = f.open.len(),
            adviser_threads = f.redactions.len(),
            "user data deleted on request"
        );
        let mut actions = vec![reply(&chat, &texts::forget_report(user.lang, &f), vec![])];
        for d in self.desk.announce_forgotten(&f.open, Some(self.lease()))? {
            actions.push(delivery_action(d));
        }
        actions.extend(f.redactions.into_iter().map(|redaction| Action::Redact {
            redaction,
            lang: user.lang,
        }));
        Ok(actions)
    }

    async fn on_button(&self, user: &mut UserRow, id: &str) -> Result<Vec<Action>, CoreError> {
        let chat = user.chat();
        let lang = user.lang;
        let now = self.clock.now();
        let stale = || Ok(vec![reply(&chat, texts::stale_button(lang), vec![])]);
        let Some(pressed) = ButtonId::parse(id) else {
            return stale();
        };
        match pressed {
            ButtonId::Feedback { up, message } => self.feedback(user, up, message, now),
            ButtonId::Analysis(a) => self.analysis_button(user, a).await,
            ButtonId::Lang(l) => self.choose_lang(user, l),
            ButtonId::Satisfaction { score, ticket } => self.satisfaction(user, score, ticket),
            ButtonId::Human | ButtonId::MatchIntro => {
                if let Some(t) = self.store.open_ticket_of(user.id)? {
                    return Ok(vec![reply(&chat, &self.already_waiting(user, &t), vec![])]);
                }
                if pressed == ButtonId::MatchIntro {
                    // The suggestions the user saw, as the adviser's brief.
                    let shown = self
                        .store
                        .recent_messages(user.id, 20)?
                        .into_iter()
                        .rev()
                        .find(|m| m.role == Role::Bot && m.outcome.as_deref() == Some("match"));
                    let Some(shown) = shown else { return stale() };
                    let brief = format!(
                        "{}\n{}\n",
                        texts::guide::suggestions_shown(self.settings.escalation.adviser_language),
                        shown.text
                    );
                    return self.escalate(user, "introduction", String::new(), vec![], Some(brief));
                }
                self.escalate(user, "user_request", String::new(), vec![], None)
            }
            ButtonId::Forget { yes: true } if user.dialogue.confirming_forget() => {
                self.forget(user)
            }
            ButtonId::Forget { yes: false } if user.dialogue.confirming_forget() => {
                user.dialogue = Dialogue::default();
                self.store.save_dialogue(user)?;
                Ok(vec![reply(&chat, texts::forget_kept(lang), vec![])])
            }
            ButtonId::CancelTicket => match self.store.open_ticket_of(user.id)? {
                Some(t) => {
                    let mut actions = vec![reply(&chat, texts::ticket_cancelled(lang), vec![])];
                    actions.extend(
                        self.desk
                            .cancel_by_user(t.id, Some(self.lease()))?
                            .into_iter()
                            .map(delivery_action),
                    );
                    Ok(actions)
                }
                None => stale(),
            },
            // A stale confirmation, or an adviser's button outside the
            // adviser room.
            ButtonId::Forget { .. } | ButtonId::Ticket { .. } => stale(),
        }
    }

    /// 👍/👎 on answer `msg_id`: stored, counted (with the documents it
    /// cited), and a 👎 offers an adviser.
    fn feedback(
        &self,
        user: &mut UserRow,
        up: bool,
        msg_id: i64,
        now: DateTime<Utc>,
    ) -> Result<Vec<Action>, CoreError> {
        let chat = user.chat();
        let lang = user.lang;
        let Some(answer) = self
            .store
            .message(msg_id)?
            .filter(|m| m.user_id == user.id && m.role == Role::Bot)
        else {
            return Ok(vec![reply(&chat, texts::stale_button(lang), vec![])]);
        };
        let vote: i8 = if up { 1 } else { -1 };
        self.store.set_feedback(user.id, msg_id, vote, now)?;
        let dir = if up { "up" } else { "down" };
        self.store.stat(user, now, "feedback", Some(dir), None)?;
        // Which documents the rated answer cited, kept as statistics
        // (the message itself goes with retention): the dashboard's
        // 👎 per document.
        for path in &answer.sources {
            self.store.stat(
                user,
                now,
                "feedback_doc",
                Some(&format!("{dir}:{path}")),
                None,
            )?;
        }
        if !up {
            user.dialogue = user.dialogue.downvoted();
            self.store.save_dialogue(user)?;
            return Ok(vec![reply(
                &chat,
                texts::thanks_down(lang),
                vec![ButtonId::Human.button(texts::btn_human(lang))],
            )]);
        }
        Ok(vec![reply(&chat, texts::thanks_up(lang), vec![])])
    }

    /// Retrieval plus answer composition for one question. `prev` is the
    /// previous retrieval query, used when this one is a follow-up.
    pub async fn answer(
        &self,
        question: &str,
        prev: Option<&str>,
        lang: Lang,
        on_delta: Option<&(dyn Fn(&str) + Send + Sync)>,
    ) -> Result<Answer, CoreError> {
        let limit = self.knowledge.settings().search.limit.max(3);
        let filter = SearchFilter::default();
        let retriever = self.retriever();
        let standalone = || retriever.search(question, &filter, limit);
        let (resp, query, follow_up) = match prev {
            Some(p) if intent::is_follow_up(question) => {
                let combined_q = format!("{p} {question}");
                let combined = retriever.search(&combined_q, &filter, limit).await?;
                // The combined result must still be about *this* message:
                // "Finns det parkering?" after a question on needs analyses
                // must not be answered with the needs-analysis passage.
                let own = combined
                    .results
                    .first()
                    .map(|top| self.own_coverage(question, top))
                    .unwrap_or(0.0);
                if own >= self.min_confidence {
                    if intent::continues(question) {
                        (combined, combined_q, true)
                    } else {
                        let alone = standalone().await?;
                        if combined.confidence + 0.1 >= alone.confidence {
                            (combined, combined_q, true)
                        } else {
                            (alone, question.to_string(), false)
                        }
                    }
                } else {
                    (standalone().await?, question.to_string(), false)
                }
            }
            _ => (standalone().await?, question.to_string(), false),
        };
        if let Some(w) = &resp.warning {
            // E.g. the embeddings endpoint is down: answers still come, from
            // BM25 alone, and operations should know.
            tracing::warn!(warning = %w, "retrieval degraded");
        }
        let mut a = Answer {
            kind: AnswerKind::Abstained,
            lang,
            text: String::new(),
            sources: Vec::new(),
            confidence: resp.confidence,
            query: query.clone(),
            follow_up,
            generated: false,
            llm_fallback: None,
            degraded: resp.warning.is_some(),
            replaces_draft: false,
        };
        // A question for a person ("vad har ni för telefonnummer?") is in
        // the programme's domain however low its confidence: it gets "I
        // don't know, talk to an adviser", never the off-topic boundary.
        let for_a_person = self.knowledge.settings().search.pipeline == Pipeline::Ranked
            && kraft_ingest::rank::asks_specific(&question.to_lowercase()) > 0.0;
        if resp.results.is_empty()
            || (resp.confidence < self.settings.assistant.off_topic_below && !for_a_person)
        {
            a.kind = AnswerKind::OffTopic;
            return Ok(a);
        }
        if resp.confidence < self.min_confidence {
            return Ok(a);
        }
        let analysed = resp.query.clone();
        let mut results = resp.results;
        if let Some(first) = results.first().cloned() {
            if let Some(t) = self.translated(&first, &query, lang).await {
                results[0] = t;
            }
        }
        let Some((body, sources)) = self.extractive(&query, analysed.as_deref(), &results).await
        else {
            return Ok(a);
        };
        a.kind = AnswerKind::Answered;
        a.text = body;
        a.sources = sources;
        if lang == Lang::En && results[0].chunk.language == Lang::Sv {
            a.text = format!("{}\n{}", texts::source_in_swedish(lang), a.text);
        }
        if let Some(llm) = &self.llm {
            let n = llm.settings().context_passages.max(1);
            let ctx: Vec<&Found> = results.iter().take(n).collect();
            let passages: Vec<Passage> = ctx
                .iter()
                .map(|f| Passage {
                    title: f.chunk.title.clone(),
                    text: extract::plain(&f.chunk.text),
                })
                .collect();
            let history: Vec<String> = match (follow_up, prev) {
                (true, Some(p)) => vec![p.to_string()],
                _ => vec![],
            };
            let streamed = std::sync::atomic::AtomicBool::new(false);
            let wrapped = |piece: &str| {
                streamed.store(true, std::sync::atomic::Ordering::Relaxed);
                if let Some(f) = on_delta {
                    f(piece);
                }
            };
            match llm
                .answer(question, &history, &passages, lang, Some(&wrapped))
                .await
            {
                Ok(text) => {
                    let cited = crate::llm::citations(&text, passages.len());
                    let picks: Vec<usize> = if cited.is_empty() {
                        (1..=passages.len()).collect()
                    } else {
                        cited
                    };
                    let was_streamed = streamed.load(std::sync::atomic::Ordering::Relaxed);
                    if was_streamed {
                        // The user already saw these numbers: keep them, and
                        // list every passage so each number resolves.
                        a.sources = ctx.iter().map(|f| source_of(&f.chunk)).collect();
                        a.text = text;
                    } else {
                        // Renumber citations to match the (shorter) printed list.
                        a.sources = picks
                            .iter()
                            .map(|&i| source_of(&ctx[i - 1].chunk))
                            .collect();
                        let mut t = text;
                        for (new, old) in picks.iter().enumerate() {
                            t = t.replace(&format!("[{old}]"), &format!("[§{}]", new + 1));
                        }
                        a.text = t.replace("[§", "[");
                    }
                    a.generated = true;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "LLM failed; using the extractive answer");
                    a.llm_fallback = Some(e.to_string());
                    a.replaces_draft = streamed.load(std::sync::atomic::Ordering::Relaxed);
                }
            }
        }
        Ok(a)
    }

    /// How well a result covers the message's own words, by the same
    /// measure as the retrieval confidence.
    fn own_coverage(&self, text: &str, f: &Found) -> f32 {
        let retriever = self.retriever();
        let analyzer = retriever.analyzer();
        kraft_ingest::search::coverage(analyzer, text, analyzer.detect(text), &f.chunk)
    }

    /// The same document in the user's language, if the knowledge base has it.
    /// None when `f` is already in `lang` or has no twin in it.
    async fn translated(&self, f: &Found, query: &str, lang: Lang) -> Option<Found> {
        if f.chunk.language == lang {
            return None;
        }
        let path = f.chunk.translation.clone()?;
        let filter = SearchFilter {
            doc_path: Some(path),
            ..Default::default()
        };
        let r = self.retriever().search(query, &filter, 1).await.ok()?;
        r.results
            .into_iter()
            .next()
            .filter(|x| x.chunk.language == lang)
    }

    /// What `kraft eval fit` fits the section choice on: for a question,
    /// the page the answer would quote (after the switch to the user's
    /// language), each section's features and the text an answer from
    /// that section can quote. None when no page is found or the page's
    /// opening is quoted whatever the sections say (eligibility).
    pub async fn section_sample(&self, question: &str) -> Option<SectionSample> {
        let question = intent::sanitize(question);
        let question = question.as_str();
        let lang = self.retriever().analyzer().detect(question);
        let limit = self.knowledge.settings().search.limit.max(3);
        let resp = self
            .retriever()
            .search(question, &SearchFilter::default(), limit)
            .await
            .ok()?;
        let mut top = resp.results.first()?.clone();
        if let Some(t) = self.translated(&top, question, lang).await {
            top = t;
        }
        let retriever = self.retriever();
        let analyzer = retriever.analyzer();
        let q = Query::new(analyzer, question, lang);
        let (chunks, ranked) = self.page_of(&top).await;
        let terms: Vec<Arc<SectionTerms>> = chunks.iter().map(|c| self.section_terms(c)).collect();
        let features = section::features(&q, &terms, ranked);
        if Self::eligibility_opening(&q, &top.chunk, &features) {
            return None;
        }
        let quotable = (0..chunks.len())
            .map(|i| {
                let own = extract::plain(&chunks[i].text);
                match chunks.get(i + 1) {
                    Some(next) if brings_next(&terms[i]) => {
                        format!("{own} {}", extract::plain(&next.text))
                    }
                    _ => own,
                }
            })
            .collect();
        Some(SectionSample {
            doc_path: top.chunk.doc_path.clone(),
            features,
            quotable,
        })
    }

    /// The top document's chunks in page order, and where the ranker's
    /// chunk is among them.
    async fn page_of(&self, top: &Found) -> (Vec<ChunkPayload>, Option<usize>) {
        let filter = SearchFilter {
            doc_path: Some(top.chunk.doc_path.clone()),
            ..Default::default()
        };
        let mut chunks: Vec<ChunkPayload> = match self.knowledge.backend().list(&filter, 64).await {
            Ok(h) if !h.is_empty() => h
                .into_iter()
                .map(|h| Arc::unwrap_or_clone(h.payload))
                .collect(),
            _ => vec![top.chunk.clone()],
        };
        chunks.sort_by_key(|c| c.line);
        let ranked = chunks.iter().position(|c| c.line == top.chunk.line);
        (chunks, ranked)
    }

    /// "Kan vi vara med?" is answered by who the page says may take part,
    /// which pages about it say first; a later section that happens to
    /// share a word of the company's story ("anställda" in the SME
    /// definition) is not the answer. Unless a heading asks the question.
    fn eligibility_opening(q: &Query, top: &ChunkPayload, feats: &[[f32; section::N]]) -> bool {
        !feats.iter().any(section::heading_asks)
            && (q.intents == [kraft_ingest::rank::Intent::Eligibility]
                || (q.intents.contains(&kraft_ingest::rank::Intent::Eligibility)
                    && matches!(top.kind, Kind::Faq | Kind::Project)))
    }

    /// "Kan AI hjälpa oss med X?" asks about a use case as a whole: what
    /// AI does there, what it takes and how to begin. A later section that
    /// shares the question's words ("sales history" in the data section)
    /// answers only part of it. Unless that section's heading asks the
    /// question.
    fn whole_use_case(
        q: &Query,
        top: &ChunkPayload,
        feats: &[[f32; section::N]],
        at: usize,
    ) -> bool {
        const WHOLE: [&str; 6] = [
            "kan ai hjälpa",
            "kan ni hjälpa",
            "can ai help",
            "could ai help",
            "can ai be used",
            "kan man använda ai",
        ];
        top.kind == Kind::Case
            && at > 1
            && !feats.get(at).is_some_and(section::heading_asks)
            && WHOLE.iter().any(|c| q.lower.contains(c))
    }

    /// The section an answer is quoted from, and its units: of the top
    /// document's chunks, the one the section model ([`section`], fitted
    /// on dev) scores best, with the section after it when it is only a
    /// short opening ("Ett mönster för …" above a use case's sections).
    /// Also the document's opening sentence, for "what is …" questions.
    async fn answer_window(&self, q: &Query, parts: Option<&[Query; 2]>, top: &Found) -> Window {
        let (chunks, ranked) = self.page_of(top).await;
        let terms: Vec<Arc<SectionTerms>> = chunks.iter().map(|c| self.section_terms(c)).collect();
        let feats = section::features(q, &terms, ranked);
        if Self::eligibility_opening(q, &top.chunk, &feats) {
            let first = 0;
            let units = terms[first].parsed.clone();
            return Window {
                section: chunks[first].clone(),
                units,
                opening: None,
                second: Vec::new(),
                third: Vec::new(),
                second_part: None,
                next_step: Vec::new(),
                data: Vec::new(),
            };
        }
        let retriever = self.retriever();
        let model = &retriever.ranker().section;
        let mut at = model.choose(&feats).or(ranked).unwrap_or(0);
        if Self::whole_use_case(q, &top.chunk, &feats, at) {
            // The opening or the problem section, whichever the model
            // prefers; how to begin and the data are added below.
            at = usize::from(chunks.len() > 1 && model.score(&feats[1]) > model.score(&feats[0]));
        }
        // A question about a use case as a whole ("can AI help us plan
        // routes?") lands on its opening or problem section, which say
        // whom the pattern suits and what AI does there; how to begin (the
        // first-step section every use case has) completes the answer.
        let mut next_step = Vec::new();
        let mut data = Vec::new();
        if top.chunk.kind == Kind::Case && at <= 1 && chunks.len() > 2 {
            if let Some(i) = chunks.iter().position(|c| is_first_step(&c.heading_path)) {
                next_step = terms[i].parsed.clone();
            }
            // And what it takes: the data section's items, in a word each.
            if let Some(i) = chunks.iter().position(|c| is_data_needed(&c.heading_path)) {
                data = extract::list_heads(&terms[i].parsed);
            }
        }
        let chosen = chunks[at].clone();
        let mut units = terms[at].parsed.clone();
        if brings_next(&terms[at]) {
            if let Some(next) = terms.get(at + 1) {
                let offset = units.iter().map(|u| u.block + 1).max().unwrap_or(0);
                units.extend(next.parsed.iter().cloned().map(|mut u| {
                    u.block += offset;
                    u
                }));
            }
        }
        let opening = (at > 0)
            .then(|| terms.first())
            .flatten()
            .and_then(|t| t.parsed.first().cloned())
            .filter(|u| !u.list_item && !extract::is_lead_in(u));
        // The runner-up section of the same page, for a sentence the
        // chosen one leaves out ("what do we need – cameras, lighting?" is
        // half in the problem, half in "what data is needed").
        let window_end = if units.len() > terms[at].parsed.len() {
            at + 1
        } else {
            at
        };
        let rest: Vec<usize> = (0..chunks.len())
            .filter(|i| *i < at || *i > window_end)
            .collect();
        let rest_terms: Vec<Arc<SectionTerms>> = rest.iter().map(|&i| terms[i].clone()).collect();
        // A two-part question whose second ask the chosen section leaves
        // out ("When does it apply, and what changes for machines with
        // AI?"): the runner-up is the section that best answers that ask.
        let second_part = parts.and_then(|p| {
            let covered = |part: &Query| {
                let t = &terms[at];
                let hits: Vec<bool> = part
                    .hits_in(&t.heading, t.lang)
                    .into_iter()
                    .zip(t.units.iter().fold(vec![false; part.len()], |acc, u| {
                        acc.iter()
                            .zip(part.hits_in(u, t.lang))
                            .map(|(a, b)| *a || b)
                            .collect()
                    }))
                    .map(|(h, u)| h || u)
                    .collect();
                hits.iter().filter(|h| **h).count() as f32 / hits.len().max(1) as f32
            };
            let (c0, c1) = (covered(&p[0]), covered(&p[1]));
            let left = if c0 < c1 { 0 } else { 1 };
            (c0.min(c1) < 0.5 && c0.max(c1) >= 0.5).then(|| p[left].clone())
        });
        let rest_feats = section::features(second_part.as_ref().unwrap_or(q), &rest_terms, None);
        let runner_up = model.choose(&rest_feats);
        let second = runner_up
            .map(|i| terms[rest[i]].parsed.clone())
            .unwrap_or_default();
        // And the section the model ranks next, for a one-part question:
        // the fact is often under a third heading that words the question
        // otherwise ("forget" against "Which costs are usually
        // forgotten?").
        let third = match (runner_up, &second_part) {
            (Some(r), None) => {
                let others: Vec<usize> = (0..rest.len()).filter(|i| *i != r).collect();
                let feats: Vec<_> = others.iter().map(|&i| rest_feats[i]).collect();
                model
                    .choose(&feats)
                    .map(|j| terms[rest[others[j]]].parsed.clone())
                    .unwrap_or_default()
            }
            _ => Vec::new(),
        };
        Window {
            section: chosen,
            units,
            opening,
            second,
            third,
            second_part,
            next_step,
            data,
        }
    }

    /// Analyses every chunk for the ranker and the section choice ahead of
    /// the first question (both otherwise analyse a chunk the first time it
    /// comes up), so the first users after a start wait no longer than
    /// later ones. `serve` and `chat` run it in the background at start.
    pub async fn warm(&self) {
        let t = std::time::Instant::now();
        match self.retriever().warm().await {
            Ok(hits) => {
                for h in &hits {
                    self.section_terms(&h.payload);
                }
                tracing::info!(
                    chunks = hits.len(),
                    ms = t.elapsed().as_millis() as u64,
                    "answer caches warmed"
                );
            }
            Err(e) => {
                tracing::warn!(error = %e, "warming the answer caches failed; they fill as questions come");
            }
        }
    }

    /// [`SectionTerms`] of a chunk, from the cache when its
    /// content was seen before (emptied when it grows past its bound).
    fn section_terms(&self, c: &ChunkPayload) -> Arc<SectionTerms> {
        let key = format!("{}\u{1f}{}\u{1f}{}", c.doc_path, c.line, c.content_hash);
        if let Ok(m) = self.sections.lock() {
            if let Some(t) = m.get(&key) {
                return t.clone();
            }
        }
        let t = Arc::new(SectionTerms::of(self.retriever().analyzer(), c));
        if let Ok(mut m) = self.sections.lock() {
            if m.len() >= 20_000 {
                m.clear();
            }
            m.insert(key, t.clone());
        }
        t
    }

    /// `analysed` is the retriever's analysis of `query`, when it made one.
    async fn extractive(
        &self,
        query: &str,
        analysed: Option<&Query>,
        results: &[Found],
    ) -> Option<(String, Vec<SourceRef>)> {
        let retriever = self.retriever();
        let analyzer = retriever.analyzer();
        if self.knowledge.settings().search.pipeline == Pipeline::Baseline {
            for f in results.iter().take(2) {
                let units = extract::units(&f.chunk.text);
                let sel = extract::select(
                    analyzer,
                    query,
                    f.chunk.language,
                    &units,
                    self.settings.assistant.answer_max_chars,
                );
                let text = extract::render(&sel);
                if !text.trim().is_empty() {
                    return Some((text, vec![source_of(&f.chunk)]));
                }
            }
            return None;
        }
        let fresh;
        let q = match analysed {
            Some(q) => q,
            None => {
                fresh = Query::new(analyzer, query, analyzer.detect(query));
                &fresh
            }
        };
        let max = self.settings.assistant.answer_max_chars;
        let top = results.first()?;
        let parts = extract::question_parts(query).map(|(a, b)| {
            [
                Query::new(analyzer, &a, q.lang),
                Query::new(analyzer, &b, q.lang),
            ]
        });
        let Window {
            section,
            units,
            opening,
            second,
            third,
            second_part,
            next_step,
            data,
        } = self.answer_window(q, parts.as_ref(), top).await;
        let heading_answers = {
            let h = q.word_hits(analyzer, &section.heading_path.join(" "), section.language);
            let n = h.iter().filter(|x| **x).count();
            !h.is_empty() && n * 5 >= h.len() * 3
        };
        // "Vad är …?", "What does … do?": the page's opening sentence says
        // what the thing is, whichever section answers the rest.
        let opening = opening.filter(|_| extract::asks_what(&q.lower));
        let mut budget =
            max.saturating_sub(opening.as_ref().map_or(0, |u| u.text.chars().count() + 1));
        if !next_step.is_empty() {
            budget = budget.min(max / 2);
        }
        // Room for the other ask of a two-part question.
        if second_part.is_some() && !second.is_empty() {
            budget = budget.min(max * 3 / 5);
        }
        let mut sel = match extract::led_list(&units).filter(|_| !next_step.is_empty()) {
            // A use case as a whole: what the problem is, in a sentence or
            // two, then what AI does about it (the list the problem
            // section introduces), its items that match the question in
            // full and the rest in a word each.
            Some(list) => {
                let mut s = extract::select_answer(
                    analyzer,
                    q,
                    section.language,
                    &units[..list.start],
                    max / 4,
                    heading_answers,
                );
                s.extend(extract::select_answer(
                    analyzer,
                    q,
                    section.language,
                    &units[list],
                    max / 3,
                    true,
                ));
                s
            }
            None => extract::select_answer(
                analyzer,
                q,
                section.language,
                &units,
                budget,
                heading_answers,
            ),
        };
        // A page's "Nej." answers the page's own question; quoted to a
        // different one ("Hur kan vi börja?", "Behöver vi en AI-policy?"
        // under "Behöver vi förkunskaper om AI?") it says something false.
        // It stays only when the question covers every term of the
        // section's heading or of the page's title (an FAQ's question).
        let own = {
            let t = self.section_terms(&section);
            let title = analyzer.text_terms(&section.title, section.language);
            let covers = |ids: &std::collections::HashSet<u32>| {
                !ids.is_empty() && q.covered_terms(ids, section.language) == ids.len()
            };
            covers(&t.heading) || covers(&title)
        };
        if !own {
            sel.retain(|u| !extract::is_bare_verdict(u));
        }
        if let Some(o) = opening {
            if !sel.iter().any(|u| u.text == o.text) {
                sel.insert(0, o);
            }
        }
        let mut text = extract::render(&sel);
        if text.trim().is_empty() {
            return None;
        }
        // What data it takes, in a line, when it leaves room to say how to
        // begin (the first-step section's opening sentences, as many as
        // fit).
        let mut data_line = String::new();
        if !data.is_empty() {
            let items: Vec<String> = data.iter().map(|h| lower_first(h)).collect();
            data_line = format!(
                "{} {}.",
                texts::data_needed(section.language),
                items.join(", ")
            );
            if text.chars().count() + data_line.chars().count() + 100 > max {
                data_line.clear();
            }
        }
        let mut step = String::new();
        let used = text.chars().count() + data_line.chars().count() + 4;
        for u in next_step.iter().take_while(|u| !u.list_item) {
            if used + step.chars().count() + u.text.chars().count() + 1 > max {
                break;
            }
            if !step.is_empty() {
                step.push(' ');
            }
            step.push_str(&u.text);
        }
        if !data_line.is_empty() {
            text = format!("{text}\n\n{data_line}");
        }
        if !step.is_empty() {
            text = format!("{text}\n\n{step}");
        }
        // The other ask of a two-part question: its section's sentences
        // that answer it, in the room left.
        let room = max.saturating_sub(text.chars().count() + 2);
        if let Some(part) = second_part.as_ref().filter(|_| room >= 120) {
            let sel =
                extract::select_answer(analyzer, part, section.language, &second, room, false);
            let extra = extract::render(&sel);
            if !extra.trim().is_empty() && extra.chars().count() <= room {
                text = format!("{text}\n\n{extra}");
            }
        }
        // Room left: the runner-up section's best sentences, then the next
        // section's, one at a time while each brings a question word the
        // answer does not have yet.
        // Each sentence is analysed once, and the answer's words grow by
        // the words of the sentence taken (analysing the whole answer again
        // on every round was a tenth of a turn).
        let mut text_hits = None;
        if second_part.is_none() && max.saturating_sub(text.chars().count()) >= 120 {
            let mut have = q.word_hits(analyzer, &text, section.language);
            for second in [&second, &third] {
                Self::add_new_words(
                    analyzer,
                    q,
                    section.language,
                    second,
                    &mut have,
                    &mut text,
                    max,
                );
            }
            text_hits = Some(have);
        }
        let top = &Found {
            chunk: section,
            ..top.clone()
        };
        let mut sources = vec![source_of(&top.chunk)];
        // When the passage leaves some of the question's words unanswered,
        // the next document's best sentence for them is added, with its
        // source: "Vad kostar det och hur anmäler vi oss?" needs two pages.
        // The words of the title and headings, and of the text: those of
        // the text are known already when sentences were added above (a
        // text's words are its parts' words), which saves analysing the
        // whole answer again.
        let lang = top.chunk.language;
        let context = format!("{} {}", top.chunk.title, top.chunk.heading_path.join(" "));
        let text_hits = text_hits.unwrap_or_else(|| q.word_hits(analyzer, &text, lang));
        let hits: Vec<bool> = q
            .word_hits(analyzer, &context, lang)
            .into_iter()
            .zip(text_hits)
            .map(|(a, b)| a || b)
            .collect();
        let covered = hits.iter().filter(|h| **h).count();
        if q.len() >= 2 && covered * 3 < hits.len() * 2 {
            if let Some((extra, src)) = self.complement(q, results, &hits, &top.chunk, max) {
                text = format!("{text}\n\n{extra}");
                sources.push(src);
            }
        }
        Some((text, sources))
    }

    /// Appends `units`' sentences to `text`, best first, while each brings
    /// a question word `have` (the words `text` already has) lacks and
    /// fits in `max`; `have` grows with each sentence taken.
    fn add_new_words(
        analyzer: &kraft_ingest::text::Analyzer,
        q: &Query,
        lang: kraft_ingest::doc::Lang,
        units: &[extract::Unit],
        have: &mut [bool],
        text: &mut String,
        max: usize,
    ) {
        let unit_hits: Vec<Vec<bool>> = units
            .iter()
            .map(|u| q.word_hits(analyzer, &u.text, lang))
            .collect();
        let mut taken: Vec<usize> = Vec::new();
        loop {
            let room = max.saturating_sub(text.chars().count());
            if room < 120 {
                break;
            }
            let best = units
                .iter()
                .zip(&unit_hits)
                .enumerate()
                .filter(|(i, _)| !taken.contains(i))
                .filter(|(_, (u, _))| !u.list_item && !extract::is_lead_in(u))
                .filter(|(_, (u, _))| u.text.chars().count() < room)
                .map(|(i, (_, h))| {
                    let new = h
                        .iter()
                        .zip(have.iter())
                        .filter(|(n, o)| **n && !**o)
                        .count();
                    (new, i)
                })
                .filter(|(new, _)| *new > 0)
                .max_by_key(|(new, i)| (*new, std::cmp::Reverse(*i)));
            let Some((_, i)) = best else { break };
            taken.push(i);
            for (a, b) in have.iter_mut().zip(&unit_hits[i]) {
                *a |= *b;
            }
            *text = format!("{text}\n\n{}", units[i].text);
        }
    }

    /// The best sentence of the next result that covers a question word
    /// the first passage left out; None when nothing close enough does.
    fn complement(
        &self,
        q: &Query,
        results: &[Found],
        hits: &[bool],
        first: &ChunkPayload,
        max: usize,
    ) -> Option<(String, SourceRef)> {
        let retriever = self.retriever();
        let analyzer = retriever.analyzer();
        let top_score = results.first()?.score;
        let second = results.get(1)?;
        // Only a near-equal second: a far weaker one is more likely noise.
        if second.chunk.doc_path == first.doc_path
            || second.chunk.translation.as_deref() == Some(first.doc_path.as_str())
            || second.score < top_score - 0.35 * top_score.abs().max(0.5)
        {
            return None;
        }
        let units = extract::units(&second.chunk.text);
        let mut best: Option<(f32, &extract::Unit)> = None;
        for u in &units {
            if u.list_item || extract::is_lead_in(u) {
                continue;
            }
            let h = q.word_hits(analyzer, &u.text, second.chunk.language);
            let new = h
                .iter()
                .zip(hits)
                .filter(|(now, before)| **now && !**before)
                .count();
            if new == 0 {
                continue;
            }
            let sc = new as f32 + extract::unit_score(analyzer, q, u, second.chunk.language);
            if best.is_none_or(|(b, _)| sc > b) {
                best = Some((sc, u));
            }
        }
        let (sc, u) = best?;
        // The sentence must itself match about half the question: another
        // page's opening line that shares one word only is noise.
        if sc < 1.5 || u.text.chars().count() > max / 2 {
            return None;
        }
        Some((u.text.clone(), source_of(&second.chunk)))
    }

    /// Upcoming events from the knowledge base, by date, one per event
    /// (the user's language preferred when an event has a translation).
    pub async fn events(&self, lang: Lang) -> String {
        let today = self.clock.now().date_naive();
        let filter = SearchFilter {
            kinds: vec![Kind::Event],
            upcoming_from: Some(today),
            ..Default::default()
        };
        let hits = match self.knowledge.backend().list(&filter, 500).await {
            Ok(h) => h,
            Err(e) => {
                tracing::error!(error = %e, "listing events failed");
                return texts::trouble(lang).to_string();
            }
        };
        let mut docs: Vec<ChunkPayload> = Vec::new();
        for h in hits {
            if !docs.iter().any(|d| d.doc_path == h.payload.doc_path) {
                docs.push(Arc::unwrap_or_clone(h.payload));
            }
        }
        let paths: Vec<String> = docs.iter().map(|d| d.doc_path.clone()).collect();
        docs.retain(|d| {
            d.language == lang || !d.translation.as_ref().is_some_and(|t| paths.contains(t))
        });
        docs.sort_by(|a, b| {
            (a.event_date, a.event_time.as_deref()).cmp(&(b.event_date, b.event_time.as_deref()))
        });
        docs.truncate(self.settings.assistant.events_limit.max(1));
        if docs.is_empty() {
            return texts::no_events(lang).to_string();
        }
        let mut s = texts::events_heading(lang).to_string();
        for d in &docs {
            let date = d.event_date.map(|x| x.to_string()).unwrap_or_default();
            let mut line = format!("\n📅 {date}");
            if let Some(t) = &d.event_time {
                line.push_str(&format!(" {t}"));
            }
            if let Some(p) = &d.event_place {
                line.push_str(&format!(" · {p}"));
            }
            line.push_str(&format!(" – {}", d.title));
            let lower = d.title.to_lowercase();
            if d.example && !lower.contains("exempel") && !lower.contains("example") {
                line.push_str(texts::example_marker(lang));
            }
            match &d.registration_url {
                Some(u) => line.push_str(&format!("\n   {}: {u}", texts::register(lang))),
                None => line.push_str(&format!("\n   ({})", d.doc_path)),
            }
            s.push_str(&line);
        }
        s
    }

    /// One-shot evaluation for `kraft ask`: the answer, and what a fresh
    /// conversation would do about escalation. Stores nothing.
    pub async fn ask(&self, text: &str) -> Result<(Answer, Escalation), CoreError> {
        let text = intent::sanitize(text);
        let lang = self.retriever().analyzer().detect(&text);
        let kind = intent::classify(&text);
        let human = matches!(kind, Intent::Human | Intent::Command(Command::Human));
        let answer = self.answer(&text, None, lang, None).await?;
        let topic = intent::topic(&text, &self.settings.escalation.topics);
        let would = if human {
            Some("user_request".to_string())
        } else {
            topic.map(|t| format!("topic:{t}"))
        };
        let offers = answer.kind == AnswerKind::Abstained;
        Ok((
            answer,
            Escalation {
                would_open_ticket: would,
                offers_adviser: offers,
            },
        ))
    }

    /// Undelivered outbox messages (adviser replies from another process,
    /// notifications a crashed front-end never confirmed), leased to the
    /// caller. Confirm each with `delivered`, or `failed` to retry later.
    pub fn pending(&self, limit: usize) -> Result<Vec<Action>, CoreError> {
        self.pending_for(&Platform::ALL, limit)
    }

    /// Like `pending`, for a front-end that serves only these platforms.
    pub fn pending_for(
        &self,
        platforms: &[Platform],
        limit: usize,
    ) -> Result<Vec<Action>, CoreError> {
        Ok(self
            .store
            .lease_pending(self.clock.now(), self.lease(), limit, platforms)?
            .into_iter()
            .map(delivery_action)
            .collect())
    }

    /// Completes a platform event from the inbox: queues the replies among
    /// `actions` (answers, acks) as outbox deliveries leased to the caller
    /// and marks the event handled, in one transaction. A crash after this
    /// resends from the outbox; a crash before it handles the event again.
    /// `None`: the event was already handled (a duplicate).
    pub fn commit(
        &self,
        inbox_id: i64,
        actions: &[Action],
        meta: Option<&str>,
        lease: Duration,
    ) -> Result<Option<Vec<Delivery>>, CoreError> {
        self.commit_replacing(inbox_id, actions, meta, None, lease)
    }

    /// Like [`commit`](Self::commit), but the first reply carries
    /// `first_meta` instead of `meta`: the front-end's note that this reply
    /// replaces a streamed draft (`crate::draft`), which no other reply of
    /// the event may touch.
    pub fn commit_replacing(
        &self,
        inbox_id: i64,
        actions: &[Action],
        meta: Option<&str>,
        first_meta: Option<&str>,
        lease: Duration,
    ) -> Result<Option<Vec<Delivery>>, CoreError> {
        let replies: Vec<NewDelivery<'_>> = actions
            .iter()
            .filter_map(|a| match a {
                Action::Reply {
                    chat,
                    text,
                    buttons,
                    ..
                } => Some((chat, text, buttons.as_slice())),
                Action::Ack { chat, text } => Some((chat, text, &[][..])),
                _ => None,
            })
            .enumerate()
            .map(|(i, (chat, text, buttons))| NewDelivery {
                // No user id: a reply to /forget outlives the user's row.
                user_id: None,
                ticket_id: None,
                target: Target::User(chat.clone()),
                text,
                buttons,
                dedupe_key: None,
                meta: match first_meta {
                    Some(m) if i == 0 => Some(m),
                    _ => meta,
                },
            })
            .collect();
        Ok(self
            .store
            .inbox_done(inbox_id, &replies, self.clock.now(), lease)?)
    }

    /// Undelivered outbox entries for a front-end: messages to its users,
    /// and adviser notes about users on `advisers_for` (empty when it hosts
    /// no advisers), leased for `lease`.
    pub fn lease_deliveries(
        &self,
        users_on: &[Platform],
        advisers_for: &[Platform],
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<Delivery>, CoreError> {
        Ok(self
            .store
            .lease_for(self.clock.now(), lease, limit, users_on, advisers_for)?)
    }

    /// Tries a delivery again after `delay`.
    pub fn retry_later(&self, delivery: i64, delay: Duration) -> Result<(), CoreError> {
        Ok(self.store.retry_later(delivery, self.clock.now(), delay)?)
    }

    /// Gives up on a delivery that can never arrive.
    pub fn dead_letter(&self, delivery: i64, error: &str) -> Result<(), CoreError> {
        Ok(self.store.dead_letter(delivery, self.clock.now(), error)?)
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn delivered(&self, delivery: i64) -> Result<(), CoreError> {
        Ok(self.store.mark_delivered(delivery, self.clock.now())?)
    }

    pub fn failed(&self, delivery: i64) -> Result<(), CoreError> {
        Ok(self.store.release(delivery)?)
    }

    /// Periodic work: reminders for unclaimed tickets, and (hourly) the
    /// retention purge. Call every few seconds to minutes.
    pub fn tick(&self) -> Result<(), CoreError> {
        self.desk.remind()?;
        self.flood.prune();
        let now = self.clock.now();
        let due = {
            let mut last = self
                .last_purge
                .lock()
                .map_err(|_| CoreError::Config("purge bookkeeping poisoned".into()))?;
            let due = last.is_none_or(|t| now - t >= chrono::Duration::hours(1));
            if due {
                *last = Some(now);
            }
            due
        };
        if due {
            let p = self.store.purge(
                now,
                chrono::Duration::days(self.settings.privacy.retention_days.max(1)),
            )?;
            tracing::info!(?p, "retention purge");
        }
        Ok(())
    }

    /// The conversation so far (for `kraft tickets show` and tests).
    pub fn history(
        &self,
        user: &crate::UserRef,
        limit: usize,
    ) -> Result<Vec<MessageRow>, CoreError> {
        match self.store.find_user(user.platform, &user.user_id)? {
            Some(u) => Ok(self.store.recent_messages(u.id, limit)?),
            None => Ok(Vec::new()),
        }
    }
}

/// The text after a command's name ("/lang en" → "en").
fn rest_of(text: &str) -> &str {
    text.split_once(char::is_whitespace)
        .map(|(_, r)| r.trim())
        .unwrap_or("")
}

/// The two language buttons (/start, /lang).
fn lang_buttons() -> Vec<Button> {
    vec![
        ButtonId::Lang(Lang::Sv).button(texts::btn_swedish()),
        ButtonId::Lang(Lang::En).button(texts::btn_english()),
    ]
}

fn reply(chat: &ChatRef, text: &str, buttons: Vec<Button>) -> Action {
    Action::Reply {
        chat: chat.clone(),
        text: text.to_string(),
        buttons,
        replaces_draft: false,
    }
}

/// One question's sections of the page its answer quotes, for fitting
/// the section choice ([`Assistant::section_sample`]).
#[derive(Debug, Clone)]
pub struct SectionSample {
    pub doc_path: String,
    pub features: Vec<[f32; section::N]>,
    /// Per section, the plain text an answer from it can quote (a short
    /// section brings the next one, as answers do).
    pub quotable: Vec<String>,
}

fn delivery_action(d: Delivery) -> Action {
    match d.target {
        Target::User(chat) => Action::RelayToUser {
            delivery: d.id,
            chat,
            ticket: d.ticket_id,
            text: d.text,
        },
        Target::Advisers => Action::NotifyAdvisers {
            delivery: d.id,
            ticket: d.ticket_id,
            text: d.text,
            buttons: d.buttons,
        },
    }
}

/// A section this short (an opening line, a pointer) is quoted together
/// with the section after it.
fn brings_next(t: &SectionTerms) -> bool {
    t.plain_chars() < 300
}

/// What an extractive answer is quoted from: the chosen section and its
/// units, the page's opening sentence (for "what is …"), the runner-up
/// section's units, and for a use case its first-step section.
struct Window {
    section: ChunkPayload,
    units: Vec<extract::Unit>,
    opening: Option<extract::Unit>,
    second: Vec<extract::Unit>,
    /// The section the model ranks after `second` (one-part questions
    /// only), for a sentence neither of the two has.
    third: Vec<extract::Unit>,
    /// The ask of a two-part question that `second` answers, when the
    /// chosen section leaves it out.
    second_part: Option<Query>,
    next_step: Vec<extract::Unit>,
    /// For a use case: the items of its data section, in a word each.
    data: Vec<String>,
}

/// The "Vilka data behövs?" / "What data is needed?" section every use
/// case in `knowledge/usecases/` has.
fn is_data_needed(heading_path: &[String]) -> bool {
    heading_path.last().is_some_and(|h| {
        let h = h.to_lowercase();
        h.contains("data behövs") || h.contains("data is needed")
    })
}

/// "Sales history" → "sales history", inside a sentence; an acronym or a
/// name ("ERP", "IoT-sensorer") keeps its case.
fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match (c.next(), c.next()) {
        (Some(a), Some(b)) if a.is_uppercase() && b.is_lowercase() => {
            a.to_lowercase().chain(s.chars().skip(1)).collect()
        }
        _ => s.to_string(),
    }
}

/// The use-case template's "Ett realistiskt första steg" / "A realistic
/// first step" section (knowledge/README.md).
fn is_first_step(heading_path: &[String]) -> bool {
    heading_path.last().is_some_and(|h| {
        let h = h.to_lowercase();
        h.contains("första steg") || h.contains("first step")
    })
}
