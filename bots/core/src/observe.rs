//! What front-ends report for operations (metrics), without the core or
//! the front-ends knowing how it is exported. The binary implements
//! `Observer` with Prometheus counters; tests and the terminal use `Quiet`.
use std::time::Duration;

use crate::model::{Action, Platform};

pub trait Observer: Send + Sync + std::fmt::Debug {
    /// A user event was handled by the core in `took`; the actions say
    /// what came of it (answer kind, ticket opened…).
    fn handled(&self, platform: Platform, actions: &[Action], took: Duration);
    /// A message went out (`what`: "reply", "adviser", "relay"…).
    fn sent(&self, platform: Platform, what: &'static str);
    /// Something failed; `kind` is a short, stable label (never content).
    fn error(&self, platform: Platform, kind: &'static str);
}

/// Reports nothing.
#[derive(Debug, Default)]
pub struct Quiet;

impl Observer for Quiet {
    fn handled(&self, _: Platform, _: &[Action], _: Duration) {}
    fn sent(&self, _: Platform, _: &'static str) {}
    fn error(&self, _: Platform, _: &'static str) {}
}
