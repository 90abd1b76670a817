//! The progress bar a push shows on stderr while cells are sent.

use std::io::IsTerminal;
use std::sync::Mutex;

use tally_pipeline::SendProgress;

/// A bar of cells sent, drawn on stderr only when stderr is a terminal (a nightly job's log gets
/// none); cleared when the sending ends.
#[derive(Default)]
pub struct SendBar(Mutex<Option<indicatif::ProgressBar>>);

impl SendProgress for SendBar {
    fn start(&self, cells: u64) {
        if let Ok(mut bar) = self.0.lock() {
            *bar = bar_on_terminal(cells);
        }
    }
    fn advance(&self, cells: u64) {
        if let Ok(bar) = self.0.lock() {
            if let Some(b) = bar.as_ref() {
                b.inc(cells);
            }
        }
    }
    fn finish(&self) {
        if let Ok(mut bar) = self.0.lock() {
            if let Some(b) = bar.take() {
                b.finish_and_clear();
            }
        }
    }
}

fn bar_on_terminal(len: u64) -> Option<indicatif::ProgressBar> {
    if len == 0 || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} cells {elapsed} eta {eta}")
    {
        bar.set_style(style);
    }
    Some(bar)
}
