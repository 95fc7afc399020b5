//! Progress bars for long runs (indicatif), drawn on stderr and hidden
//! automatically when stderr is not a terminal, so scripts and tests get
//! clean output.

use indicatif::{ProgressBar, ProgressStyle};
use kraft_ingest::sync::Progress;

#[derive(Debug)]
pub struct Bar {
    bar: ProgressBar,
}

impl Bar {
    pub fn new() -> Self {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} ({per_sec}, {eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        Self { bar }
    }

    pub fn set(&self, total: u64, what: &str) {
        self.bar.set_length(total);
        self.bar.set_position(0);
        self.bar.set_message(what.to_string());
    }

    pub fn position(&self, n: u64) {
        self.bar.set_position(n);
    }

    pub fn done(&self) {
        self.bar.finish_and_clear();
    }
}

impl Progress for Bar {
    fn start(&self, total: u64, what: &str) {
        self.set(total, what);
    }
    fn advance(&self, n: u64) {
        self.bar.inc(n);
    }
    fn note(&self, msg: &str) {
        self.bar.println(msg);
    }
    fn finish(&self) {
        self.done();
    }
}
