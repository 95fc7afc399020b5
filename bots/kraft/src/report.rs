//! `kraft report`: the project team's reports from the state database
//! (never the knowledge index, so it runs beside a live `kraft serve`).
//! `followup` prints anonymous counts for a date range; `gaps` prints the
//! questions the bot could not answer well, grouped. Markdown for status
//! reports, CSV for spreadsheets; `--out` writes a file instead of stdout.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use chrono::{Datelike, NaiveDate, Utc};
use clap::{Subcommand, ValueEnum};
use kraft_core::report;
use kraft_ingest::text::{Analyzer, Bm25Params};

use crate::config::Settings;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Md,
    Csv,
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Follow-up numbers for a date range (default: the current month so
    /// far): companies reached, conversations, needs analyses, escalations,
    /// median time to an adviser's first reply, feedback, top topics; split
    /// by platform and region. Aggregates only.
    Followup {
        /// First day, YYYY-MM-DD (default: the 1st of this month).
        #[arg(long)]
        from: Option<NaiveDate>,
        /// Last day, YYYY-MM-DD, inclusive (default: today).
        #[arg(long)]
        to: Option<NaiveDate>,
        #[arg(long, value_enum, default_value = "md")]
        format: Format,
        /// Write to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Knowledge gaps: questions abstained on or voted 👎, grouped by
    /// similarity, most frequent first, with masked examples.
    Gaps {
        /// Only questions since this day (default: 30 days ago).
        #[arg(long)]
        since: Option<NaiveDate>,
        /// How similar questions must be to share a group (0–1 word overlap).
        #[arg(long, default_value_t = 0.5)]
        similarity: f64,
        #[arg(long, value_enum, default_value = "md")]
        format: Format,
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn emit(text: &str, out: Option<PathBuf>) -> Result<()> {
    match out {
        Some(p) => {
            std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))?;
            eprintln!("report written to {}", p.display());
        }
        None => print!("{text}"),
    }
    Ok(())
}

pub fn run(settings: &Settings, cmd: ReportCommand) -> Result<ExitCode> {
    let path = crate::tickets::state_path(settings);
    let sqlite = settings.state.engine == crate::config::StateEngine::Sqlite;
    if sqlite && !path.exists() {
        anyhow::bail!(
            "no state database at {} yet: nothing has been recorded (run `kraft serve` or `kraft chat` first, or check knowledge.data_dir)",
            path.display()
        );
    }
    let store = crate::knowledge::open_state(settings, &path)?;
    let today = Utc::now().date_naive();
    match cmd {
        ReportCommand::Followup {
            from,
            to,
            format,
            out,
        } => {
            let from = from.unwrap_or_else(|| today.with_day(1).unwrap_or(today));
            let to = to.unwrap_or(today);
            if from > to {
                anyhow::bail!("--from {from} is after --to {to}");
            }
            let rows = store.stats(from, to)?;
            let r = report::follow_up(&rows, from, to);
            emit(
                &match format {
                    Format::Md => r.markdown(),
                    Format::Csv => r.csv()?,
                },
                out,
            )?;
        }
        ReportCommand::Gaps {
            since,
            similarity,
            format,
            out,
        } => {
            if !(0.0..=1.0).contains(&similarity) {
                anyhow::bail!("--similarity must be between 0 and 1, got {similarity}");
            }
            let since = since.unwrap_or(today - chrono::Duration::days(30));
            let start = since
                .and_hms_opt(0, 0, 0)
                .map(|d| d.and_utc())
                .unwrap_or_else(Utc::now);
            let qs = store.gap_questions(start)?;
            let analyzer = Analyzer::new(Bm25Params::default())?;
            let gaps = report::gaps(&qs, &analyzer, similarity);
            emit(
                &match format {
                    Format::Md => report::gaps_markdown(&gaps, since),
                    Format::Csv => report::gaps_csv(&gaps)?,
                },
                out,
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
