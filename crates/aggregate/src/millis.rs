//! Milliseconds beyond whole seconds, for the sources that write them (Univa/Altair Grid
//! Engine). Kept apart from the job table, which holds whole seconds: almost no collection
//! has any, and those that do keep one small entry per job that has them.
//!
//! A run lasts from `start + a/1000` to `end + b/1000`. The job table sums whole seconds
//! over `[start, end)`; with month bounds and the window at whole seconds, the exact usage of
//! any month `X` (already cut to the window) differs from that by `-a/1000` when second
//! `start` lies in `X` and `+b/1000` when second `end` lies in `X`. That holds for `start ==
//! end` too (then the job lasted `(b - a)/1000` s inside one second).

use rustc_hash::FxHashMap;
use tally_sources::Millis;

use crate::jobs::{JobKey, JobTable, Upsert, RUNNING};

#[derive(Default)]
pub(crate) struct SubSeconds {
    parts: FxHashMap<JobKey, Millis>,
}

impl SubSeconds {
    /// Follows the job table: the kept record's milliseconds are the ones that count.
    pub(crate) fn note(&mut self, key: JobKey, outcome: &Upsert, millis: Millis) {
        if *outcome == Upsert::Kept {
            return;
        }
        if millis == Millis::default() {
            if !self.parts.is_empty() {
                self.parts.remove(&key);
            }
        } else {
            self.parts.insert(key, millis);
        }
    }

    /// The corrections to the whole-second sums: (job slot, the second they belong to,
    /// signed milliseconds), for seconds inside `[lo, hi)` (the window, cut at `--as-of`).
    pub(crate) fn corrections(&self, jobs: &JobTable, lo: i64, hi: i64) -> Vec<(usize, i64, i64)> {
        let mut out = Vec::with_capacity(self.parts.len() * 2);
        for (key, m) in &self.parts {
            let Some(slot) = jobs.slot(key) else { continue };
            let (start, end) = jobs.span(slot);
            if end == RUNNING {
                continue;
            }
            if (lo..hi).contains(&start) && m.start != 0 {
                out.push((slot, start, -i64::from(m.start)));
            }
            if (lo..hi).contains(&end) && m.end != 0 {
                out.push((slot, end, i64::from(m.end)));
            }
        }
        // A fixed order, so that a run's sums never depend on hashing.
        out.sort_by_key(|(slot, t, _)| (*slot, *t));
        out
    }
}
