//! The config's fuzz entry point, and the registry of every fuzz target (this crate sees all
//! the others): `fuzz/` calls these, and the stable test `tests/fuzz_corpus.rs` replays every
//! corpus and regression input through the same functions.

use std::path::Path;

use tally_model::bounds::{MAX_FACTOR, MAX_UNIT_SECONDS};
use tally_sources::fuzzing::Violation;

use crate::Config;

/// A fuzz target's entry point: arbitrary bytes in, a broken invariant out.
pub type Entry = fn(&[u8]) -> Result<(), Violation>;

/// Every fuzz target by name (the name of its file in `fuzz/fuzz_targets/` and of its
/// directories under `fuzz/corpus/` and `fuzz/regressions/`), with its entry point.
pub const TARGETS: [(&str, Entry); 9] = [
    ("sacct", |d| tally_sources::fuzzing::sacct(d).map(drop)),
    ("pbs", |d| tally_sources::fuzzing::pbs(d).map(drop)),
    ("sge", |d| tally_sources::fuzzing::sge(d).map(drop)),
    ("lsf", |d| tally_sources::fuzzing::lsf(d).map(drop)),
    ("csv", |d| tally_sources::fuzzing::csv(d).map(drop)),
    ("tres", tally_sources::fuzzing::tres),
    ("timestamp", tally_sources::fuzzing::timestamp),
    ("collection", tally_aggregate::fuzzing::collection),
    ("config", config),
];

/// A config file from arbitrary bytes: it is refused with an error, or every number in it
/// is within its bound (so that nothing downstream can overflow on it).
pub fn config(data: &[u8]) -> Result<(), Violation> {
    let Ok(text) = std::str::from_utf8(data) else {
        return Ok(());
    };
    let Ok(c) = Config::from_toml(text, Path::new("/fuzz/tally.toml")) else {
        return Ok(());
    };
    for r in &c.rules {
        if r.factor <= rust_decimal::Decimal::ZERO || r.factor > MAX_FACTOR {
            return Err(Violation(format!("factor {} of {}", r.factor, r.component)));
        }
        if r.unit_seconds == 0 || r.unit_seconds > MAX_UNIT_SECONDS {
            return Err(Violation(format!(
                "unit_seconds {} of {}",
                r.unit_seconds, r.component
            )));
        }
    }
    if let Some(w) = &c.waldur {
        let ok = (1..=100_000).contains(&w.rate_per_second)
            && (1..=100_000).contains(&w.burst)
            && (1..=1024).contains(&w.concurrency)
            && (1..=86_400).contains(&w.timeout_seconds)
            && w.max_retries <= 100;
        if !ok {
            return Err(Violation(format!("waldur numbers out of bounds: {w:?}")));
        }
    }
    if c.previous_month_days > 28 {
        return Err(Violation(format!(
            "previous_month_days {}",
            c.previous_month_days
        )));
    }
    Ok(())
}
