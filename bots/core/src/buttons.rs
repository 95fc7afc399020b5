//! Every button Kraft shows, as one typed id with one encoding: the core
//! makes buttons from a [`ButtonId`] and reads presses back with
//! [`ButtonId::parse`], so no id string is written or taken apart anywhere
//! else. The encoding is the one buttons already on people's screens
//! carry ("fb:up:12", "claim:3"), and every id fits Telegram's 64-byte
//! callback limit (checked in the tests below for the longest values).

use crate::model::{Button, Lang};

/// What a press asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ButtonId {
    /// 👍/👎 under an answer (its message id).
    Feedback { up: bool, message: i64 },
    /// "Talk to an adviser".
    Human,
    /// "Introduce us" under match-making suggestions.
    MatchIntro,
    /// The answer to "delete everything about you?".
    Forget { yes: bool },
    /// The user withdraws their open ticket.
    CancelTicket,
    /// Language choice (/start, /lang).
    Lang(Lang),
    /// The one-tap question after a resolved ticket.
    Satisfaction { score: Score, ticket: i64 },
    /// A needs-analysis button.
    Analysis(AnalysisButton),
    /// An adviser's button under a ticket's note.
    Ticket { op: TicketOp, ticket: i64 },
}

/// How the user felt about an adviser's help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Score {
    Good,
    Ok,
    Bad,
}

impl Score {
    pub const ALL: [Score; 3] = [Score::Good, Score::Ok, Score::Bad];

    pub fn as_str(self) -> &'static str {
        match self {
            Score::Good => "good",
            Score::Ok => "ok",
            Score::Bad => "bad",
        }
    }

    fn parse(s: &str) -> Option<Score> {
        Score::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// What an adviser does with a ticket (a button or a command).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketOp {
    Claim,
    Resolve,
    Handback,
}

impl TicketOp {
    pub fn as_str(self) -> &'static str {
        match self {
            TicketOp::Claim => "claim",
            TicketOp::Resolve => "resolve",
            TicketOp::Handback => "handback",
        }
    }

    pub fn parse(s: &str) -> Option<TicketOp> {
        [TicketOp::Claim, TicketOp::Resolve, TicketOp::Handback]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// The needs analysis's buttons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnalysisButton {
    Start,
    Resume,
    Restart,
    Summary,
    Skip,
    Back,
    Pause,
    Quit,
    /// One of the current question's options (its code).
    Option(String),
}

impl ButtonId {
    /// The id as a platform carries it (a callback's data, a custom id).
    pub fn encode(&self) -> String {
        match self {
            ButtonId::Feedback { up, message } => {
                format!("fb:{}:{message}", if *up { "up" } else { "down" })
            }
            ButtonId::Human => "human".into(),
            ButtonId::MatchIntro => "match:intro".into(),
            ButtonId::Forget { yes } => format!("forget:{}", if *yes { "yes" } else { "no" }),
            ButtonId::CancelTicket => "ticket:cancel".into(),
            ButtonId::Lang(l) => format!(
                "lang:{}",
                match l {
                    Lang::Sv => "sv",
                    Lang::En => "en",
                }
            ),
            ButtonId::Satisfaction { score, ticket } => {
                format!("sat:{}:{ticket}", score.as_str())
            }
            ButtonId::Analysis(a) => match a {
                AnalysisButton::Start => "an:start".into(),
                AnalysisButton::Resume => "an:resume".into(),
                AnalysisButton::Restart => "an:restart".into(),
                AnalysisButton::Summary => "an:summary".into(),
                AnalysisButton::Skip => "an:skip".into(),
                AnalysisButton::Back => "an:back".into(),
                AnalysisButton::Pause => "an:pause".into(),
                AnalysisButton::Quit => "an:quit".into(),
                AnalysisButton::Option(code) => format!("an:opt:{code}"),
            },
            ButtonId::Ticket { op, ticket } => format!("{}:{ticket}", op.as_str()),
        }
    }

    /// A press's id read back; `None` for anything Kraft never made (a
    /// stale id of an older version, or a forged one).
    pub fn parse(id: &str) -> Option<ButtonId> {
        let num = |s: &str| s.parse::<i64>().ok();
        Some(match id {
            "human" => ButtonId::Human,
            "match:intro" => ButtonId::MatchIntro,
            "forget:yes" => ButtonId::Forget { yes: true },
            "forget:no" => ButtonId::Forget { yes: false },
            "ticket:cancel" => ButtonId::CancelTicket,
            "lang:sv" => ButtonId::Lang(Lang::Sv),
            "lang:en" => ButtonId::Lang(Lang::En),
            "an:start" => ButtonId::Analysis(AnalysisButton::Start),
            "an:resume" => ButtonId::Analysis(AnalysisButton::Resume),
            "an:restart" => ButtonId::Analysis(AnalysisButton::Restart),
            "an:summary" => ButtonId::Analysis(AnalysisButton::Summary),
            "an:skip" => ButtonId::Analysis(AnalysisButton::Skip),
            "an:back" => ButtonId::Analysis(AnalysisButton::Back),
            "an:pause" => ButtonId::Analysis(AnalysisButton::Pause),
            "an:quit" => ButtonId::Analysis(AnalysisButton::Quit),
            _ => {
                if let Some(code) = id.strip_prefix("an:opt:") {
                    let ok = !code.is_empty()
                        && code
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                    return ok.then(|| ButtonId::Analysis(AnalysisButton::Option(code.into())));
                }
                let (head, rest) = id.split_once(':')?;
                match head {
                    "fb" => {
                        let (dir, m) = rest.split_once(':')?;
                        let up = match dir {
                            "up" => true,
                            "down" => false,
                            _ => return None,
                        };
                        ButtonId::Feedback {
                            up,
                            message: num(m)?,
                        }
                    }
                    "sat" => {
                        let (s, t) = rest.split_once(':')?;
                        ButtonId::Satisfaction {
                            score: Score::parse(s)?,
                            ticket: num(t)?,
                        }
                    }
                    op => ButtonId::Ticket {
                        op: TicketOp::parse(op)?,
                        ticket: num(rest)?,
                    },
                }
            }
        })
    }

    /// A button showing `label` that sends this id.
    pub fn button(&self, label: impl Into<String>) -> Button {
        Button::new(self.encode(), label)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_kind_at_its_longest() -> Vec<ButtonId> {
        let mut v = vec![
            ButtonId::Feedback {
                up: false,
                message: i64::MIN,
            },
            ButtonId::Feedback {
                up: true,
                message: i64::MAX,
            },
            ButtonId::Human,
            ButtonId::MatchIntro,
            ButtonId::Forget { yes: true },
            ButtonId::Forget { yes: false },
            ButtonId::CancelTicket,
            ButtonId::Lang(Lang::Sv),
            ButtonId::Lang(Lang::En),
        ];
        for score in Score::ALL {
            v.push(ButtonId::Satisfaction {
                score,
                ticket: i64::MIN,
            });
        }
        for op in [TicketOp::Claim, TicketOp::Resolve, TicketOp::Handback] {
            v.push(ButtonId::Ticket {
                op,
                ticket: i64::MIN,
            });
        }
        for a in [
            AnalysisButton::Start,
            AnalysisButton::Resume,
            AnalysisButton::Restart,
            AnalysisButton::Summary,
            AnalysisButton::Skip,
            AnalysisButton::Back,
            AnalysisButton::Pause,
            AnalysisButton::Quit,
        ] {
            v.push(ButtonId::Analysis(a));
        }
        // The longest option code the needs analysis has.
        let longest = crate::analysis::option_codes()
            .into_iter()
            .max_by_key(|c| c.len())
            .expect("options");
        v.push(ButtonId::Analysis(AnalysisButton::Option(longest.into())));
        v
    }

    #[test]
    fn every_id_round_trips_and_fits_telegrams_64_bytes() {
        for b in every_kind_at_its_longest() {
            let s = b.encode();
            assert!(s.len() <= 64, "{s} is {} bytes", s.len());
            assert_eq!(ButtonId::parse(&s), Some(b), "{s}");
        }
    }

    #[test]
    fn the_wire_format_is_the_one_on_peoples_screens() {
        for (s, b) in [
            (
                "fb:up:12",
                ButtonId::Feedback {
                    up: true,
                    message: 12,
                },
            ),
            (
                "claim:3",
                ButtonId::Ticket {
                    op: TicketOp::Claim,
                    ticket: 3,
                },
            ),
            (
                "sat:ok:9",
                ButtonId::Satisfaction {
                    score: Score::Ok,
                    ticket: 9,
                },
            ),
            (
                "an:opt:manufacturing",
                ButtonId::Analysis(AnalysisButton::Option("manufacturing".into())),
            ),
        ] {
            assert_eq!(ButtonId::parse(s), Some(b.clone()));
            assert_eq!(b.encode(), s);
        }
    }

    #[test]
    fn anything_else_is_refused() {
        for s in [
            "",
            "fb:sideways:1",
            "fb:up:",
            "fb:up:x",
            "claim:",
            "claim:1:2",
            "steal:1",
            "sat:great:1",
            "an:opt:",
            "an:opt:<script>",
            "lang:de",
            "human ",
        ] {
            assert_eq!(ButtonId::parse(s), None, "{s:?}");
        }
    }
}
