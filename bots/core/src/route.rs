//! What a user's text message is for, decided in one place: which state
//! wins (a pending "delete everything?", an adviser who owns the
//! conversation, a needs analysis under way) is a table here, not the
//! order of early returns in the assistant. Pure: the assistant gathers
//! the [`Situation`] from its stores, asks [`route`], and carries out the
//! [`Route`].

use crate::intent::{Command, Intent};

/// Where the user stands when a text arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Situation {
    /// "Delete everything about you?" was asked and not yet answered.
    pub confirming_forget: bool,
    /// An adviser has taken the user's ticket.
    pub with_adviser: bool,
    /// A needs analysis is waiting for an answer.
    pub in_analysis: bool,
    /// The message came from the user's private chat with the bot.
    pub private_chat: bool,
}

/// How the text reads as an answer to a yes/no question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum YesNo {
    Yes,
    No,
    Neither,
}

/// What to do with the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// "Yes" to "delete everything?": delete.
    Forget,
    /// "No" to it: keep everything, say so.
    KeepData,
    /// "/start <token>" in a private chat: an adviser conversation from a
    /// group moves here.
    MoveToPrivate,
    /// The adviser owns the conversation: store, relay, acknowledge.
    RelayToAdviser,
    /// "/forget": ask for confirmation first.
    AskForget,
    /// Start (or resume) the needs analysis.
    Analysis,
    /// The text answers the needs analysis's current question.
    AnalysisAnswer,
    /// Everything else: handled by what the text means.
    Intent(Intent),
}

/// The route for a text with meaning `kind`. `yes_no` is how it reads as
/// an answer, and `start_token` whether it is "/start <token>". Whenever
/// `confirming_forget` is set, the caller clears it: any message answers
/// the question, and only a yes deletes.
pub fn route(s: Situation, kind: &Intent, yes_no: YesNo, start_token: bool) -> Route {
    if s.confirming_forget {
        match yes_no {
            YesNo::Yes => return Route::Forget,
            YesNo::No => return Route::KeepData,
            // Anything else is a new message, handled as if not asked.
            YesNo::Neither => {}
        }
    }
    // The link from a group is never a message for the adviser.
    if start_token && s.private_chat && *kind == Intent::Command(Command::Start) {
        return Route::MoveToPrivate;
    }
    if s.with_adviser {
        // Only /forget keeps its meaning: the user can always leave.
        return if *kind == Intent::Command(Command::Forget) {
            Route::AskForget
        } else {
            Route::RelayToAdviser
        };
    }
    if matches!(kind, Intent::Analysis | Intent::Command(Command::Analysis)) {
        return Route::Analysis;
    }
    // During a needs analysis, commands, a request for a person and abuse
    // keep their meaning; anything else answers the current question.
    if s.in_analysis && !matches!(kind, Intent::Command(_) | Intent::Human | Intent::Abuse) {
        return Route::AnalysisAnswer;
    }
    match kind {
        Intent::Command(Command::Forget) => Route::AskForget,
        k => Route::Intent(k.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDLE: Situation = Situation {
        confirming_forget: false,
        with_adviser: false,
        in_analysis: false,
        private_chat: true,
    };

    fn with(f: impl Fn(&mut Situation)) -> Situation {
        let mut s = IDLE;
        f(&mut s);
        s
    }

    /// The precedence, as a table: situation, message, route.
    #[test]
    fn which_state_wins() {
        let q = Intent::Question;
        let forget = Intent::Command(Command::Forget);
        let start = Intent::Command(Command::Start);
        let help = Intent::Command(Command::Help);
        let analysis = Intent::Command(Command::Analysis);
        let confirming = with(|s| s.confirming_forget = true);
        let adviser = with(|s| s.with_adviser = true);
        let analysing = with(|s| s.in_analysis = true);
        let all = with(|s| {
            s.confirming_forget = true;
            s.with_adviser = true;
            s.in_analysis = true;
        });
        let group = with(|s| s.private_chat = false);
        use YesNo::*;
        let table: Vec<(Situation, &Intent, YesNo, bool, Route)> = vec![
            // Idle: the meaning decides.
            (IDLE, &q, Neither, false, Route::Intent(q.clone())),
            (IDLE, &forget, Neither, false, Route::AskForget),
            (IDLE, &analysis, Neither, false, Route::Analysis),
            (IDLE, &Intent::Analysis, Neither, false, Route::Analysis),
            // "ja" with nothing asked is just a message.
            (IDLE, &q, Yes, false, Route::Intent(q.clone())),
            // A pending confirmation wins over everything, adviser included.
            (confirming, &q, Yes, false, Route::Forget),
            (confirming, &q, No, false, Route::KeepData),
            (all, &q, Yes, false, Route::Forget),
            (all, &q, No, false, Route::KeepData),
            // Anything else drops the question and is handled as usual.
            (confirming, &q, Neither, false, Route::Intent(q.clone())),
            (
                with(|s| {
                    s.confirming_forget = true;
                    s.with_adviser = true;
                }),
                &q,
                Neither,
                false,
                Route::RelayToAdviser,
            ),
            // The adviser owns the conversation: everything is relayed …
            (adviser, &q, Neither, false, Route::RelayToAdviser),
            (adviser, &help, Neither, false, Route::RelayToAdviser),
            (adviser, &analysis, Neither, false, Route::RelayToAdviser),
            (
                adviser,
                &Intent::Human,
                Neither,
                false,
                Route::RelayToAdviser,
            ),
            // … except /forget, and the link from a group.
            (adviser, &forget, Neither, false, Route::AskForget),
            (adviser, &start, Neither, true, Route::MoveToPrivate),
            (IDLE, &start, Neither, true, Route::MoveToPrivate),
            // In a group, "/start x" is only /start.
            (group, &start, Neither, true, Route::Intent(start.clone())),
            (IDLE, &start, Neither, false, Route::Intent(start.clone())),
            // A needs analysis takes answers; commands, people and abuse
            // keep their meaning.
            (analysing, &q, Neither, false, Route::AnalysisAnswer),
            (
                analysing,
                &Intent::Greeting,
                Neither,
                false,
                Route::AnalysisAnswer,
            ),
            (
                analysing,
                &Intent::Match,
                Neither,
                false,
                Route::AnalysisAnswer,
            ),
            (
                analysing,
                &help,
                Neither,
                false,
                Route::Intent(help.clone()),
            ),
            (analysing, &forget, Neither, false, Route::AskForget),
            (analysing, &analysis, Neither, false, Route::Analysis),
            (
                analysing,
                &Intent::Human,
                Neither,
                false,
                Route::Intent(Intent::Human),
            ),
            (
                analysing,
                &Intent::Abuse,
                Neither,
                false,
                Route::Intent(Intent::Abuse),
            ),
        ];
        for (i, (s, kind, yn, token, want)) in table.into_iter().enumerate() {
            assert_eq!(
                route(s, kind, yn, token),
                want,
                "row {i}: {s:?} {kind:?} {yn:?}"
            );
        }
    }

    /// Every situation × every meaning × yes/no × "/start <token>": the
    /// precedence stated once more as rules, each pair checked.
    #[test]
    fn every_state_and_meaning_pair_follows_the_precedence() {
        let mut kinds: Vec<Intent> = [
            Command::Start,
            Command::Help,
            Command::Human,
            Command::Events,
            Command::Forget,
            Command::Analysis,
            Command::Match,
            Command::Ask,
            Command::Lang,
            Command::Privacy,
            Command::Reply,
            Command::Unknown("/x".into()),
        ]
        .into_iter()
        .map(Intent::Command)
        .collect();
        kinds.extend([
            Intent::Human,
            Intent::Analysis,
            Intent::Match,
            Intent::Greeting,
            Intent::Thanks,
            Intent::Abuse,
            Intent::Question,
        ]);
        let mut n = 0;
        for bits in 0..16u8 {
            let s = Situation {
                confirming_forget: bits & 1 != 0,
                with_adviser: bits & 2 != 0,
                in_analysis: bits & 4 != 0,
                private_chat: bits & 8 != 0,
            };
            for kind in &kinds {
                for yn in [YesNo::Yes, YesNo::No, YesNo::Neither] {
                    for token in [false, true] {
                        let got = route(s, kind, yn, token);
                        let is = |c: Command| *kind == Intent::Command(c);
                        let want = if s.confirming_forget && yn == YesNo::Yes {
                            Route::Forget
                        } else if s.confirming_forget && yn == YesNo::No {
                            Route::KeepData
                        } else if token && s.private_chat && is(Command::Start) {
                            Route::MoveToPrivate
                        } else if s.with_adviser {
                            if is(Command::Forget) {
                                Route::AskForget
                            } else {
                                Route::RelayToAdviser
                            }
                        } else if is(Command::Analysis) || *kind == Intent::Analysis {
                            Route::Analysis
                        } else if s.in_analysis
                            && !matches!(kind, Intent::Command(_) | Intent::Human | Intent::Abuse)
                        {
                            Route::AnalysisAnswer
                        } else if is(Command::Forget) {
                            Route::AskForget
                        } else {
                            Route::Intent(kind.clone())
                        };
                        assert_eq!(got, want, "{s:?} {kind:?} {yn:?} token={token}");
                        n += 1;
                    }
                }
            }
        }
        assert_eq!(n, 16 * 19 * 3 * 2);
    }
}
