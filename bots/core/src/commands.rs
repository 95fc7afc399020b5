//! Every chat command, listed once: its name and aliases, what it is
//! called in Swedish and English, its option, and who may use it. Command
//! parsing ([`crate::intent::command`]), `/help`, the unknown-command
//! reply, Telegram's `setMyCommands` and Discord's application commands
//! are all made from this list, so the platforms offer the same commands
//! and the help never lists one a platform lacks.

use crate::intent::Command;
use crate::model::Lang;

/// Who a command is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Anyone who talks to the bot.
    Sme,
    /// Members of the adviser group or role, in the adviser room.
    Adviser,
}

/// A command's one text option (Discord shows it as a field; elsewhere it
/// is the rest of the message).
#[derive(Debug, Clone, Copy)]
pub struct Opt {
    pub name: &'static str,
    pub sv: &'static str,
    pub en: &'static str,
    pub required: bool,
    /// Fixed values (value, Swedish label, English label); empty = free text.
    pub choices: &'static [(&'static str, &'static str, &'static str)],
}

#[derive(Debug)]
pub struct Spec {
    /// What the core does with it.
    pub command: Command,
    /// The registered name (lower case, Telegram's and Discord's rules).
    pub name: &'static str,
    /// The name shown to English users where it differs (`/analysis`).
    pub name_en: Option<&'static str>,
    /// Other spellings the parser accepts.
    pub aliases: &'static [&'static str],
    pub sv: &'static str,
    pub en: &'static str,
    pub audience: Audience,
    pub option: Option<Opt>,
    /// Telegram has no slash-command form for a question: one types it.
    pub telegram: bool,
}

impl Spec {
    pub fn description(&self, lang: Lang) -> &'static str {
        match lang {
            Lang::Sv => self.sv,
            Lang::En => self.en,
        }
    }

    /// The name as the user sees it in `lang`.
    pub fn shown(&self, lang: Lang) -> &'static str {
        match lang {
            Lang::En => self.name_en.unwrap_or(self.name),
            Lang::Sv => self.name,
        }
    }

    fn answers_to(&self, word: &str) -> bool {
        self.name == word || self.name_en == Some(word) || self.aliases.contains(&word)
    }
}

const NO_CHOICES: &[(&str, &str, &str)] = &[];

/// The commands, in the order help lists them.
pub const COMMANDS: &[Spec] = &[
    Spec {
        command: Command::Start,
        name: "start",
        name_en: None,
        aliases: &[],
        sv: "Om mig och om hur dina uppgifter hanteras",
        en: "About me and how your data is handled",
        audience: Audience::Sme,
        option: None,
        telegram: true,
    },
    Spec {
        command: Command::Help,
        name: "help",
        name_en: None,
        aliases: &["hjalp", "hjälp"],
        sv: "Vad jag kan hjälpa till med",
        en: "What I can help with",
        audience: Audience::Sme,
        option: None,
        telegram: true,
    },
    Spec {
        command: Command::Ask,
        name: "ask",
        name_en: None,
        aliases: &["fraga", "fråga"],
        sv: "Ställ en fråga om AI-stöd för ert företag",
        en: "Ask a question about AI support for your company",
        audience: Audience::Sme,
        option: Some(Opt {
            name: "question",
            sv: "Din fråga",
            en: "Your question",
            required: true,
            choices: NO_CHOICES,
        }),
        telegram: false,
    },
    Spec {
        command: Command::Events,
        name: "events",
        name_en: None,
        aliases: &["evenemang"],
        sv: "Kommande evenemang",
        en: "Upcoming events",
        audience: Audience::Sme,
        option: None,
        telegram: true,
    },
    Spec {
        command: Command::Analysis,
        name: "analys",
        name_en: Some("analysis"),
        aliases: &["behovsanalys", "needs"],
        sv: "Behovsanalys: nio frågor om ert företag",
        en: "Needs analysis: nine questions about your company",
        audience: Audience::Sme,
        option: None,
        telegram: true,
    },
    Spec {
        command: Command::Match,
        name: "match",
        name_en: None,
        aliases: &["matcha", "matchning", "stod", "stöd"],
        sv: "Vem kan hjälpa oss med …? (aktörer, aktiviteter, evenemang)",
        en: "Who can help us with …? (actors, activities, events)",
        audience: Audience::Sme,
        option: Some(Opt {
            name: "what",
            sv: "Vad ni behöver hjälp med",
            en: "What you need help with",
            required: false,
            choices: NO_CHOICES,
        }),
        telegram: true,
    },
    Spec {
        command: Command::Human,
        name: "human",
        name_en: None,
        aliases: &["manniska", "människa", "radgivare", "rådgivare"],
        sv: "Prata med en rådgivare",
        en: "Talk to an adviser",
        audience: Audience::Sme,
        option: Some(Opt {
            name: "message",
            sv: "Vad gäller det? (valfritt)",
            en: "What is it about? (optional)",
            required: false,
            choices: NO_CHOICES,
        }),
        telegram: true,
    },
    Spec {
        command: Command::Lang,
        name: "lang",
        name_en: None,
        aliases: &["sprak", "språk", "language"],
        sv: "Välj språk: svenska eller engelska",
        en: "Choose the language: Swedish or English",
        audience: Audience::Sme,
        option: Some(Opt {
            name: "language",
            sv: "Språket jag svarar på",
            en: "The language I answer in",
            required: false,
            choices: &[("sv", "svenska", "Swedish"), ("en", "engelska", "English")],
        }),
        telegram: true,
    },
    Spec {
        command: Command::Privacy,
        name: "privacy",
        name_en: None,
        aliases: &["integritet"],
        sv: "Hur dina uppgifter sparas och raderas",
        en: "How your data is kept and deleted",
        audience: Audience::Sme,
        option: None,
        telegram: true,
    },
    Spec {
        command: Command::Forget,
        name: "forget",
        name_en: None,
        aliases: &["glom", "glöm", "radera"],
        sv: "Radera allt som sparats om dig",
        en: "Delete everything stored about you",
        audience: Audience::Sme,
        option: None,
        telegram: true,
    },
    Spec {
        command: Command::Reply,
        name: "reply",
        name_en: None,
        aliases: &[],
        sv: "Rådgivare: svara användaren i ärendets tråd",
        en: "Advisers: answer the user from a ticket thread",
        audience: Audience::Adviser,
        option: Some(Opt {
            name: "text",
            sv: "Svaret till användaren",
            en: "The answer for the user",
            required: true,
            choices: NO_CHOICES,
        }),
        telegram: false,
    },
];

/// The command a word names ("analys", "hjälp"), if any.
pub fn find(word: &str) -> Option<&'static Spec> {
    COMMANDS.iter().find(|c| c.answers_to(word))
}

/// The SME commands a platform offers (`telegram`: without `/ask`, which
/// is typing a question there).
pub fn for_smes(telegram: bool) -> impl Iterator<Item = &'static Spec> {
    COMMANDS
        .iter()
        .filter(move |c| c.audience == Audience::Sme && (c.telegram || !telegram))
}

/// "/start – Om mig …" lines of the SME commands, for `/help`.
pub fn help_lines(lang: Lang) -> String {
    for_smes(true)
        .map(|c| format!("/{} – {}", c.shown(lang), c.description(lang)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// "/start, /help, … och /forget".
pub fn names(lang: Lang) -> String {
    let v: Vec<String> = for_smes(true)
        .map(|c| format!("/{}", c.shown(lang)))
        .collect();
    let and = match lang {
        Lang::Sv => "och",
        Lang::En => "and",
    };
    match v.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} {and} {last}", rest.join(", ")),
        _ => v.join(""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_valid_on_both_platforms() {
        let mut seen = std::collections::HashSet::new();
        for c in COMMANDS {
            for n in std::iter::once(c.name)
                .chain(c.name_en)
                .chain(c.aliases.iter().copied())
            {
                assert!(seen.insert(n), "{n} is used twice");
            }
            // Telegram: 1–32 of a-z, 0-9, _; Discord: the same here.
            assert!(
                !c.name.is_empty()
                    && c.name.len() <= 32
                    && c.name
                        .chars()
                        .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_'),
                "{}",
                c.name
            );
            // Telegram: descriptions of 1–256 characters; Discord: 1–100.
            for d in [c.sv, c.en] {
                assert!((1..=100).contains(&d.chars().count()), "{d}");
            }
        }
    }

    #[test]
    fn help_lists_every_sme_command_a_telegram_user_can_type() {
        let h = help_lines(Lang::En);
        for c in for_smes(true) {
            assert!(h.contains(&format!("/{} ", c.shown(Lang::En))), "{h}");
        }
        assert!(!h.contains("/reply") && !h.contains("/ask"), "{h}");
        assert!(
            names(Lang::Sv).ends_with("/privacy och /forget"),
            "{}",
            names(Lang::Sv)
        );
    }
}
