//! Fitting the second stage ([`crate::rank`]) on the dev split: the kind
//! priors (counted), the feature weights (coordinate ascent on how often
//! the first source is right), and the confidence calibration (logistic
//! regression, answerable vs. not, shifted so that the shipped
//! `min_confidence` of 0.5 is the threshold chosen on dev).
//!
//! Nothing here looks at the test split: the caller hands in dev examples
//! only, and `kraft eval answers` reports test with what was fitted.

use std::collections::BTreeMap;

use crate::doc::Kind;
use crate::rank::{confidence_inputs, Calibration, Features, Intent, KindPriors, Query, RankModel};
use crate::section::{SectionModel, N as SECTION_FEATURES};

/// One candidate of one question, as fitting sees it.
#[derive(Debug, Clone)]
pub struct Cand {
    pub doc_path: String,
    pub kind: Kind,
    pub features: Features,
}

/// One dev question: its candidates, what is right, and whether it should
/// be answered (None: either is fine, not used for calibration).
#[derive(Debug, Clone)]
pub struct Example {
    pub query: Query,
    pub cands: Vec<Cand>,
    pub expect: Vec<String>,
    pub answerable: Option<bool>,
    /// How much this example counts in the ranking objective.
    pub weight: f32,
}

/// P(kind | intent) with add-`alpha` smoothing towards the overall kind
/// distribution of right documents, as natural logs.
pub fn fit_priors(examples: &[Example], alpha: f32) -> KindPriors {
    let mut by_intent: BTreeMap<Intent, BTreeMap<Kind, f32>> = BTreeMap::new();
    let mut overall: BTreeMap<Kind, f32> = BTreeMap::new();
    for e in examples.iter().filter(|e| !e.expect.is_empty()) {
        // The kinds of the right documents among the candidates (a path
        // not retrieved at all says nothing about kinds).
        let kinds: Vec<Kind> = e
            .expect
            .iter()
            .filter_map(|p| e.cands.iter().find(|c| &c.doc_path == p).map(|c| c.kind))
            .collect();
        if kinds.is_empty() {
            continue;
        }
        let w = 1.0 / kinds.len() as f32;
        for k in &kinds {
            *overall.entry(*k).or_insert(0.0) += w;
            for i in &e.query.intents {
                *by_intent.entry(*i).or_default().entry(*k).or_insert(0.0) += w;
            }
        }
    }
    let total: f32 = overall.values().sum::<f32>().max(1e-6);
    let n_kinds = Kind::ALL.len() as f32;
    let base = |k: Kind| (overall.get(&k).copied().unwrap_or(0.0) + 1.0) / (total + n_kinds);
    let mut out = BTreeMap::new();
    for i in Intent::ALL {
        let counts = by_intent.get(&i).cloned().unwrap_or_default();
        let n: f32 = counts.values().sum();
        let mut m = BTreeMap::new();
        for k in Kind::ALL {
            let c = counts.get(&k).copied().unwrap_or(0.0);
            m.insert(k, ((c + alpha * base(k)) / (n + alpha)).ln());
        }
        out.insert(i, m);
    }
    KindPriors(out)
}

/// Sets each candidate's `prior` feature from `priors`.
pub fn apply_priors(examples: &mut [Example], priors: &KindPriors) {
    for e in examples {
        for c in &mut e.cands {
            c.features.prior = priors.get(&e.query.intents, c.kind);
        }
    }
}

fn score(w: &[f32], f: &Features) -> f32 {
    f.to_array().iter().zip(w).map(|(x, w)| x * w).sum()
}

/// Documents in ranked order (best chunk per document).
fn ranking<'a>(w: &[f32], e: &'a Example) -> Vec<(&'a str, f32, usize)> {
    let mut s: Vec<(f32, usize)> = e
        .cands
        .iter()
        .enumerate()
        .map(|(i, c)| (score(w, &c.features), i))
        .collect();
    s.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut out: Vec<(&str, f32, usize)> = Vec::new();
    for (sc, i) in s {
        let p = e.cands[i].doc_path.as_str();
        if !out.iter().any(|(q, _, _)| *q == p) {
            out.push((p, sc, i));
        }
    }
    out
}

/// The ranking objective: first source right, plus a little of the
/// reciprocal rank so near-misses still pull (answerable questions only).
pub fn objective(w: &[f32], examples: &[Example]) -> f32 {
    let mut sum = 0.0;
    let mut n = 0.0;
    for e in examples.iter().filter(|e| !e.expect.is_empty()) {
        let r = ranking(w, e);
        let rank = r
            .iter()
            .take(10)
            .position(|(p, _, _)| e.expect.iter().any(|x| x == p));
        let v = match rank {
            Some(0) => 1.3,
            Some(k) => 0.3 / (k as f32 + 1.0),
            None => 0.0,
        };
        sum += e.weight * v;
        n += e.weight;
    }
    if n == 0.0 {
        0.0
    } else {
        sum / n
    }
}

/// Coordinate ascent from `init`: each weight in turn tries a set of
/// steps; the best improvement is kept; steps halve when a whole pass
/// finds nothing. An L2 pull towards `init` keeps weights that the dev
/// data cannot tell apart where they were.
pub fn fit_weights(examples: &[Example], init: &[f32], rounds: usize) -> Vec<f32> {
    ascend(init, rounds, |w| objective(w, examples))
}

/// Coordinate ascent of `objective` from `init`, with a small L2 pull
/// towards `init`.
fn ascend(init: &[f32], rounds: usize, objective: impl Fn(&[f32]) -> f32) -> Vec<f32> {
    let l2 = 0.002;
    let loss = |w: &[f32]| {
        objective(w)
            - l2 * w
                .iter()
                .zip(init)
                .map(|(a, b)| (a - b) * (a - b))
                .sum::<f32>()
    };
    let mut w = init.to_vec();
    let mut best = loss(&w);
    let mut step = 1.0f32;
    for _ in 0..rounds {
        let mut improved = false;
        for i in 0..w.len() {
            let mut best_v = w[i];
            for d in [-2.0, -1.0, -0.5, -0.25, 0.25, 0.5, 1.0, 2.0] {
                let mut t = w.clone();
                t[i] = w[i] + d * step;
                let v = loss(&t);
                if v > best + 1e-6 {
                    best = v;
                    best_v = t[i];
                }
            }
            if best_v != w[i] {
                w[i] = best_v;
                improved = true;
            }
        }
        if !improved {
            step /= 2.0;
            if step < 0.03 {
                break;
            }
        }
    }
    w
}

/// The confidence inputs of each example's best result under `w`.
pub fn top_inputs(w: &[f32], e: &Example) -> Option<Vec<f32>> {
    let r = ranking(w, e);
    let (_, s1, i) = *r.first()?;
    Some(confidence_inputs(&e.cands[i].features, s1, &e.query))
}

/// Logistic regression (gradient descent on standardised inputs, L2),
/// then an intercept shift so that 0.5 is the dev threshold at which at
/// most `max_false` of answerable questions are abstained on.
pub fn fit_calibration(w: &[f32], examples: &[Example], max_false: f32) -> Calibration {
    let data: Vec<(Vec<f32>, f32)> = examples
        .iter()
        .filter_map(|e| {
            let y = e.answerable?;
            Some((top_inputs(w, e)?, if y { 1.0 } else { 0.0 }))
        })
        .collect();
    let Some(dim) = data.first().map(|d| d.0.len()) else {
        return Calibration::default();
    };
    let n = data.len() as f32;
    let mean: Vec<f32> = (0..dim)
        .map(|j| data.iter().map(|d| d.0[j]).sum::<f32>() / n)
        .collect();
    let sd: Vec<f32> = (0..dim)
        .map(|j| {
            let v = data.iter().map(|d| (d.0[j] - mean[j]).powi(2)).sum::<f32>() / n;
            v.sqrt().max(1e-3)
        })
        .collect();
    let z = |x: &[f32]| -> Vec<f32> { (0..dim).map(|j| (x[j] - mean[j]) / sd[j]).collect() };
    let xs: Vec<Vec<f32>> = data.iter().map(|d| z(&d.0)).collect();
    let mut beta = vec![0.0f32; dim + 1];
    let lr = 0.1;
    let l2 = 0.002;
    for _ in 0..3000 {
        let mut g = vec![0.0f32; dim + 1];
        for (x, (_, y)) in xs.iter().zip(&data) {
            let s: f32 = x.iter().zip(&beta).map(|(a, b)| a * b).sum::<f32>() + beta[dim];
            let p = 1.0 / (1.0 + (-s).exp());
            let err = p - y;
            for j in 0..dim {
                g[j] += err * x[j];
            }
            g[dim] += err;
        }
        for j in 0..=dim {
            let reg = if j < dim { l2 * beta[j] } else { 0.0 };
            beta[j] -= lr * (g[j] / n + reg);
        }
    }
    // Back to raw inputs: w_j = beta_j / sd_j; b = beta_0 - sum beta_j mean_j / sd_j.
    let mut weights: Vec<f32> = (0..dim).map(|j| beta[j] / sd[j]).collect();
    let mut b = beta[dim] - (0..dim).map(|j| beta[j] * mean[j] / sd[j]).sum::<f32>();
    // The dev threshold: the highest logit that keeps false abstentions
    // on answerable questions within `max_false`.
    let mut pos: Vec<f32> = data
        .iter()
        .filter(|d| d.1 > 0.5)
        .map(|d| d.0.iter().zip(&weights).map(|(a, b)| a * b).sum::<f32>() + b)
        .collect();
    pos.sort_by(f32::total_cmp);
    if !pos.is_empty() {
        let allowed = ((pos.len() as f32) * max_false).floor() as usize;
        // Abstain below the (allowed)-th smallest logit: just under it.
        let t = pos[allowed.min(pos.len() - 1)] - 1e-4;
        b -= t;
    }
    weights.push(b);
    Calibration { weights }
}

/// Fits a whole model on dev examples.
pub fn fit(examples: &mut [Example], init: &RankModel, max_false: f32) -> RankModel {
    let priors = fit_priors(examples, 4.0);
    apply_priors(examples, &priors);
    // A feature newer than the shipped weights starts at 0.
    let mut start = init.weights.clone();
    start.resize(Features::NAMES.len(), 0.0);
    let weights = fit_weights(examples, &start, 12);
    let calibration = fit_calibration(&weights, examples, max_false);
    RankModel {
        weights,
        priors,
        calibration,
    }
}

/// One dev question's sections of the top page, as the section choice
/// sees them: each section's features, and whether the question's facts
/// are in it (in what the answer can quote from it).
#[derive(Debug, Clone)]
pub struct SectionExample {
    pub features: Vec<[f32; SECTION_FEATURES]>,
    pub has_facts: Vec<bool>,
}

/// How often the chosen section holds the facts, plus a little for the
/// rank of the first one that does, so near-misses still pull.
/// ([`fit_sections`] leaves out examples where every section or none
/// holds the facts: they say nothing about the choice.)
pub fn section_objective(m: &SectionModel, examples: &[SectionExample]) -> f32 {
    let mut sum = 0.0;
    for e in examples {
        let Some(c) = m.choose(&e.features) else {
            continue;
        };
        if e.has_facts[c] {
            sum += 1.0;
            continue;
        }
        let mine = e
            .features
            .iter()
            .zip(&e.has_facts)
            .filter(|(_, h)| **h)
            .map(|(f, _)| m.score(f))
            .fold(f32::MIN, f32::max);
        let above = e.features.iter().filter(|f| m.score(f) > mine).count();
        sum += 0.2 / (above as f32 + 1.0);
    }
    sum / examples.len().max(1) as f32
}

/// Fits the section choice on dev from `init` (coordinate ascent).
pub fn fit_sections(examples: &[SectionExample], init: &SectionModel) -> SectionModel {
    let informative: Vec<SectionExample> = examples
        .iter()
        .filter(|e| e.has_facts.iter().any(|h| *h) && !e.has_facts.iter().all(|h| *h))
        .cloned()
        .collect();
    let weights = ascend(&init.weights, 30, |w| {
        section_objective(
            &SectionModel {
                weights: w.to_vec(),
            },
            &informative,
        )
    });
    SectionModel { weights }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::Lang;
    use crate::text::{Analyzer, Bm25Params};

    fn cand(path: &str, kind: Kind, title: f32, sparse: f32) -> Cand {
        Cand {
            doc_path: path.into(),
            kind,
            features: Features {
                title,
                sparse,
                ..Default::default()
            },
        }
    }

    #[test]
    fn fitting_learns_that_titles_matter_when_they_do() {
        // In every example the right page has the matching title but a
        // lower first-stage score: the fitted weights must put it first.
        let a = Analyzer::new(Bm25Params::default()).expect("analyzer");
        let mut ex: Vec<Example> = (0..20)
            .map(|i| Example {
                query: Query::new(&a, "Vad gör Almi?", Lang::Sv),
                cands: vec![
                    cand(&format!("wrong{i}"), Kind::Guide, 0.0, 1.0),
                    cand(&format!("right{i}"), Kind::Support, 1.0, 0.7),
                ],
                expect: vec![format!("right{i}")],
                answerable: Some(true),
                weight: 1.0,
            })
            .collect();
        let init = RankModel::untrained();
        let mut flat = init.clone();
        flat.weights = vec![0.0; Features::NAMES.len()];
        flat.weights[0] = 1.0;
        assert!(
            objective(&flat.weights, &ex) < 0.2,
            "sparse alone puts the wrong page first"
        );
        let m = fit(&mut ex, &flat, 0.05);
        assert!(objective(&m.weights, &ex) > 1.2, "{:?}", m.weights);
        // Support pages were right for this intent: their prior is higher.
        let i = Query::new(&a, "Vad gör Almi?", Lang::Sv).intents;
        assert!(m.priors.get(&i, Kind::Support) > m.priors.get(&i, Kind::Guide));
    }
}
