//! What the load runs share: a run's latencies, percentiles, and the
//! Markdown table they print beside a baseline measured in the same run
//! (absolute times on shared machines are noisy; the ratio is what to
//! compare).
use std::io::Write;
use std::time::{Duration, Instant};

/// What the simulated SMEs ask, in turn: answerable from the knowledge
/// base, Swedish and English.
pub const QUESTIONS: [&str; 10] = [
    "Vad kostar det att delta?",
    "Hur anmäler jag mitt företag?",
    "Vad är en behovsanalys?",
    "Vilka län omfattar projektet?",
    "What is Kraftsamling AI Mälardalen?",
    "Hur lång tid tar en behovsanalys?",
    "Vad är matchmaking med akademin?",
    "Vem driver projektet?",
    "How much does it cost to take part?",
    "Vad händer efter behovsanalysen?",
];

/// One measured run: every answer's latency, sorted.
#[derive(Debug)]
pub struct Run {
    pub label: String,
    pub users: usize,
    pub messages: usize,
    pub wall: Duration,
    pub latencies: Vec<Duration>,
}

impl Run {
    /// The run of `users` simulated users started at `t0`, each asking
    /// `per_user` questions and returning its answers' latencies.
    pub async fn gather(
        label: &str,
        t0: Instant,
        per_user: usize,
        users: Vec<tokio::task::JoinHandle<Vec<Duration>>>,
    ) -> Run {
        let count = users.len();
        let mut latencies = Vec::new();
        for u in users {
            latencies.extend(u.await.expect("simulated user"));
        }
        latencies.sort();
        Run {
            label: label.into(),
            users: count,
            messages: count * per_user,
            wall: t0.elapsed(),
            latencies,
        }
    }
}

/// The `p` quantile (0..=1) of sorted latencies.
pub fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// p99 under load over the baseline's p99.
pub fn p99_ratio(load: &Run, base: &Run) -> f64 {
    pct(&load.latencies, 0.99).as_secs_f64() / pct(&base.latencies, 0.99).as_secs_f64().max(1e-6)
}

/// Prints the table to stderr, so it shows in `./tests/run` output.
pub fn print_table(title: &str, runs: &[&Run]) {
    let mut err = std::io::stderr();
    let _ = writeln!(
        err,
        "\n{title}\n\
         | run | messages | wall s | answers/s | p50 ms | p99 ms | max ms |\n\
         |---|---:|---:|---:|---:|---:|---:|"
    );
    for r in runs {
        let _ = writeln!(
            err,
            "| {} | {} | {:.1} | {:.1} | {} | {} | {} |",
            r.label,
            r.messages,
            r.wall.as_secs_f64(),
            r.messages as f64 / r.wall.as_secs_f64(),
            pct(&r.latencies, 0.5).as_millis(),
            pct(&r.latencies, 0.99).as_millis(),
            pct(&r.latencies, 1.0).as_millis(),
        );
    }
}
