//! `kraft bench`: speed and size, measured rather than asserted.
//!
//! Corpora of 1k, 10k and 100k chunks are synthesised from real text (the
//! knowledge base and the SweFAQ answers, recombined sentence by sentence),
//! indexed into a fresh embedded index each, and queried with real
//! questions through the whole `kraft search` path (language detection,
//! BM25 vector, store query, payload decoding, de-duplication,
//! confidence). The raw store call is timed beside it for reference. All
//! sizes are measured in the same run, so the growth ratio is meaningful
//! even on a noisy machine.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use kraft_ingest::doc::Lang;
use kraft_ingest::eval::{index_passages, load_swefaq, percentile};
use kraft_ingest::index::edge::EdgeIndex;
use kraft_ingest::index::{IndexBackend, SearchFilter};
use kraft_ingest::KnowledgeSettings;

use crate::config::Settings;

/// A small deterministic generator (SplitMix64), so every run builds the
/// same corpora.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn sentences(text: &str) -> Vec<String> {
    text.split_inclusive(['.', '?', '!', '\n'])
        .map(|s| {
            s.trim()
                .trim_start_matches(['-', '*', '#', '|', ' '])
                .trim()
                .to_string()
        })
        .filter(|s| s.split_whitespace().count() >= 4)
        .collect()
}

/// Peak and current resident memory of this process, in MiB.
fn memory_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
            .unwrap_or(0.0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

struct Row {
    size: usize,
    ingest_s: f64,
    chunks_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    store_p50_ms: f64,
    peak_mib: f64,
    rss_mib: f64,
}

pub async fn run(
    settings: &Settings,
    sizes: &[usize],
    n_queries: usize,
    swefaq: &Path,
    handle_messages: usize,
) -> Result<ExitCode> {
    if !sizes.is_empty() {
        corpus_sizes(settings, sizes, n_queries, swefaq).await?;
    }
    if handle_messages > 0 {
        handle_latency(settings, handle_messages).await?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `Assistant::handle` without an LLM on the real knowledge base: the
/// knowledge base's eval questions, sent by users in turn (one per 15
/// messages, at least 20; so dialogue
/// state, follow-ups, abstentions and tickets all happen), against a real
/// SQLite file. The bare retrieval of the same questions is timed in the
/// same run as the baseline; the difference is the core's own cost
/// (intent, extraction, state writes).
async fn handle_latency(settings: &Settings, n: usize) -> Result<()> {
    use kraft_core::model::{Incoming, Platform, SystemClock, UserRef};
    let kb = &settings.knowledge.knowledge_dir;
    let questions: Vec<String> =
        kraft_ingest::eval::load_questions(&kb.join("eval-questions.jsonl"))
            .with_context(|| {
                format!(
                    "the handle benchmark needs {}",
                    kb.join("eval-questions.jsonl").display()
                )
            })?
            .into_iter()
            .map(|q| q.question)
            .collect();
    anyhow::ensure!(!questions.is_empty(), "no questions");
    let dir = tempfile::tempdir()?;
    let mut ks: KnowledgeSettings = settings.knowledge.clone();
    ks.embeddings.base_url.clear();
    ks.data_dir = dir.path().to_path_buf();
    let k = kraft_ingest::Knowledge::open(ks, kraft_ingest::Secrets::default()).await?;
    k.ingest(
        kb,
        kraft_ingest::IngestOptions::default(),
        &kraft_ingest::sync::NoProgress,
    )
    .await?;
    let k = Arc::new(k);
    let retriever = k.retriever().await?;
    // The bare retrieval baseline: the first stage alone, as shipped
    // before the second stage (BM25 words, one store query, coverage).
    let bare = retriever.with_settings(kraft_ingest::search::SearchSettings {
        pipeline: kraft_ingest::search::Pipeline::Baseline,
        ..retriever.settings().clone()
    });
    let mut core = settings.core.clone();
    core.llm.base_url.clear();
    let store = Arc::new(kraft_core::Store::open(&dir.path().join("kraft.sqlite"))?);
    let a = kraft_core::Assistant::new(k.clone(), store, core, None, Arc::new(SystemClock)).await?;
    let filter = SearchFilter::default();
    // Each user sends at most 15 messages, half the flood limit's burst,
    // so that however long the run, it times answers and not the flood
    // limit's refusals.
    let n_users = n.div_ceil(15).max(20);
    let users: Vec<UserRef> = (0..n_users)
        .map(|i| {
            UserRef::new(
                Platform::Telegram,
                format!("bench-{i}"),
                format!("bench-{i}"),
            )
        })
        .collect();
    // As `serve` and `chat` do at start (in the background there); the
    // second-stage row's own retriever gets the same.
    a.warm().await;
    retriever.warm().await?;
    // Warm-up, untimed.
    for q in questions.iter().take(20) {
        retriever.search(q, &filter, 5).await?;
        bare.search(q, &filter, 5).await?;
    }
    let (mut bare_t, mut search_t, mut handle_t) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let mut answered = 0usize;
    for i in 0..n {
        let q = &questions[i % questions.len()];
        let t = Instant::now();
        std::hint::black_box(bare.search(q, &filter, 5).await?);
        bare_t.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        std::hint::black_box(retriever.search(q, &filter, 5).await?);
        search_t.push(t.elapsed().as_secs_f64() * 1000.0);
        let inc = Incoming::text(&users[i % users.len()], q.clone());
        let t = Instant::now();
        let actions = a.handle(&inc).await?;
        handle_t.push(t.elapsed().as_secs_f64() * 1000.0);
        for act in &actions {
            if let kraft_core::Action::NotifyAdvisers { delivery, .. } = act {
                a.delivered(*delivery)?;
            }
        }
        if actions.iter().any(|x| matches!(x, kraft_core::Action::Reply { text, .. } if text.contains("Källor:") || text.contains("Sources:"))) {
            answered += 1;
        }
    }
    bare_t.sort_by(f64::total_cmp);
    search_t.sort_by(f64::total_cmp);
    handle_t.sort_by(f64::total_cmp);
    println!(
        "\nAssistant `handle` without an LLM: {n} messages ({} distinct questions, {n_users} users), real knowledge base ({} chunks), SQLite state.",
        questions.len(),
        k.backend().count().await?
    );
    println!("| path | messages | p50 ms | p99 ms | max ms |");
    println!("|---|---|---|---|---|");
    for (name, v) in [
        ("bare retrieval (first stage, baseline)", &bare_t),
        ("retrieval with the second stage", &search_t),
        ("handle (whole turn)", &handle_t),
    ] {
        println!(
            "| {name} | {} | {:.3} | {:.3} | {:.3} |",
            v.len(),
            percentile(v, 0.5),
            percentile(v, 0.99),
            v.last().copied().unwrap_or(0.0)
        );
    }
    println!(
        "handle p99 = {:.1}× bare retrieval p99 (p50 {:.1}×); the second stage adds {:.3} ms at p50, {:.3} ms at p99; {answered} of {n} turns answered with sources.",
        percentile(&handle_t, 0.99) / percentile(&bare_t, 0.99).max(1e-9),
        percentile(&handle_t, 0.5) / percentile(&bare_t, 0.5).max(1e-9),
        percentile(&search_t, 0.5) - percentile(&bare_t, 0.5),
        percentile(&search_t, 0.99) - percentile(&bare_t, 0.99),
    );
    Ok(())
}

async fn corpus_sizes(
    settings: &Settings,
    sizes: &[usize],
    n_queries: usize,
    swefaq: &Path,
) -> Result<()> {
    // Real text: SweFAQ answers and questions, plus the knowledge base.
    let sf = load_swefaq(swefaq).with_context(|| {
        format!(
            "the benchmark needs SweFAQ as a source of real Swedish text ({}); pass --swefaq",
            swefaq.display()
        )
    })?;
    let mut pool: Vec<String> = sf.passages.iter().flat_map(|p| sentences(p)).collect();
    let mut questions: Vec<String> = sf.queries.iter().map(|(q, _)| q.clone()).collect();
    if let Ok(scan) = kraft_ingest::sync::scan(
        &settings.knowledge.knowledge_dir,
        settings.knowledge.max_file_bytes,
        &settings.knowledge.chunk,
    ) {
        for d in &scan.docs {
            for c in &d.chunks {
                pool.extend(sentences(&c.text));
            }
        }
    }
    if let Ok(qs) = kraft_ingest::eval::load_questions(
        &settings
            .knowledge
            .knowledge_dir
            .join("eval-questions.jsonl"),
    ) {
        questions.extend(qs.into_iter().map(|q| q.question));
    }
    anyhow::ensure!(pool.len() > 50, "not enough source text to build a corpus");
    println!(
        "Source text: {} sentences; {} distinct questions; {} timed queries per size (after 100 warm-up).",
        pool.len(),
        questions.len(),
        n_queries
    );

    // Dense retrieval would make this a benchmark of the embeddings server.
    let mut ks: KnowledgeSettings = settings.knowledge.clone();
    ks.embeddings.base_url.clear();
    let mut rows = Vec::new();
    for &size in sizes {
        let mut rng = Rng(size as u64);
        let passages: Vec<String> = (0..size)
            .map(|_| {
                let n = 3 + rng.below(4);
                (0..n)
                    .map(|_| pool[rng.below(pool.len())].as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        let dir = tempfile::tempdir()?;
        let backend: Arc<dyn IndexBackend> = Arc::new(EdgeIndex::open(&dir.path().join("index"))?);
        let bar = crate::progress::Bar::new();
        bar.set(size as u64, &format!("{size}"));
        let t = Instant::now();
        let retriever = index_passages(
            backend.clone(),
            &ks,
            &settings.secrets,
            &passages,
            1000,
            |n| bar.position(n as u64),
        )
        .await?;
        let ingest_s = t.elapsed().as_secs_f64();
        bar.done();

        let filter = SearchFilter::default();
        for q in questions.iter().take(100) {
            retriever.search(q, &filter, 5).await?;
        }
        let mut times = Vec::with_capacity(n_queries);
        let mut store_times = Vec::with_capacity(n_queries);
        for i in 0..n_queries {
            let q = &questions[i % questions.len()];
            let t = Instant::now();
            let r = retriever.search(q, &filter, 5).await?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            std::hint::black_box(r);
            // The store call alone, for reference.
            let qv = retriever.analyzer().query_vector(q, Lang::Sv);
            let t = Instant::now();
            let h = backend.search_sparse(&qv, &filter, 20).await?;
            store_times.push(t.elapsed().as_secs_f64() * 1000.0);
            std::hint::black_box(h);
        }
        times.sort_by(f64::total_cmp);
        store_times.sort_by(f64::total_cmp);
        let (peak, rss) = memory_mib();
        rows.push(Row {
            size,
            ingest_s,
            chunks_per_s: size as f64 / ingest_s.max(1e-9),
            p50_ms: percentile(&times, 0.5),
            p99_ms: percentile(&times, 0.99),
            store_p50_ms: percentile(&store_times, 0.5),
            peak_mib: peak,
            rss_mib: rss,
        });
        drop(retriever);
        drop(backend);
    }
    println!();
    println!("| chunks | ingest s | chunks/s | search p50 ms | search p99 ms | store p50 ms | peak RSS MiB | RSS MiB |");
    println!("|---|---|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {:.2} | {:.0} | {:.3} | {:.3} | {:.3} | {:.0} | {:.0} |",
            r.size,
            r.ingest_s,
            r.chunks_per_s,
            r.p50_ms,
            r.p99_ms,
            r.store_p50_ms,
            r.peak_mib,
            r.rss_mib
        );
    }
    if let (Some(first), Some(last)) = (rows.first(), rows.last()) {
        if last.size > first.size {
            println!(
                "\nGrowth: {}× the data → search p50 {:.1}× ({:.3} → {:.3} ms), store p50 {:.1}×.",
                last.size / first.size.max(1),
                last.p50_ms / first.p50_ms.max(1e-9),
                first.p50_ms,
                last.p50_ms,
                last.store_p50_ms / first.store_p50_ms.max(1e-9)
            );
        }
    }
    Ok(())
}
