//! The whole-collection fuzz entry point: `fuzz/` calls it, and the stable test
//! `crates/config/tests/fuzz_corpus.rs` replays its corpus and regression inputs through it
//! (the registry of every target is `tally_config::fuzzing::TARGETS`).

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use tally_model::MonthRange;
use tally_sources::fuzzing::{
    csv_options, is_reportable_amount, pbs_options, sacct_options, Violation,
};
use tally_sources::{csv, pbs, sacct, RecordSink, SourceError, SourceStats};

use crate::{AccountMapping, AggregateOptions, Aggregator, ComponentRule, UnlistedAccounts};

fn rule(component: &str, tres: &str, unit_seconds: u64, factor: Decimal) -> ComponentRule {
    ComponentRule {
        component: component.into(),
        tres: tres.into(),
        unit_seconds,
        factor,
    }
}

/// The fixed configuration of the collection target: every source's quantities, hours and
/// seconds, a factor below one and the largest factor the config accepts, months cut in a
/// zone with DST changes, eleven years reported.
pub fn collection_options() -> AggregateOptions {
    let from = "2020-01".parse().expect("a valid month");
    let to = "2030-12".parse().expect("a valid month");
    AggregateOptions {
        billing_timezone: Tz::Europe__Amsterdam,
        rules: vec![
            rule("cpu", "cpu", 3600, Decimal::ONE),
            rule("cpu_seconds", "cpu", 1, tally_model::bounds::MAX_FACTOR),
            rule("gpu", "gres/gpu", 3600, Decimal::ONE),
            rule("ram", "mem", 3600, Decimal::new(9765625, 10)),
            rule("pbs_cpu", "ncpus", 3600, Decimal::ONE),
            rule("pbs_gpu", "ngpus", 60, Decimal::ONE),
        ],
        mapping: AccountMapping {
            table: BTreeMap::from([("mapped".to_string(), "resource-1".to_string())]),
            unlisted: UnlistedAccounts::Identity,
        },
        range: MonthRange::new(from, to).expect("from before to"),
        as_of: DateTime::<Utc>::from_timestamp(1_924_992_000, 0).expect("2031-01-01T00:00:00Z"),
        keep_invalid: 10,
        user_usage: true,
    }
}

/// A whole collection from arbitrary bytes: the first byte chooses the source (sacct, PBS,
/// or one of the CSV shapes), the rest is its one input file, aggregated with
/// [`collection_options`]. Checks: every line read is in exactly one bucket of the
/// collection's counts; every cell is a reportable amount (two decimals, non-negative,
/// below what Waldur stores); the users' shares of each cell add up to it exactly. A
/// collection that fails with an [`crate::AggregateError`] (a cell too large) is fine: it
/// names the cell instead of panicking.
pub fn collection(data: &[u8]) -> Result<(), Violation> {
    let Some((&selector, file)) = data.split_first() else {
        return Ok(());
    };
    let mut agg = Aggregator::new(collection_options());
    let path = Path::new("fuzz");
    let sink = &mut agg as &mut dyn RecordSink;
    let stats: Result<SourceStats, SourceError> = match selector % 3 {
        0 => sacct::read(file, path, 0, &sacct_options(), sink),
        1 => pbs::read(file, path, 0, &pbs_options(), sink),
        _ => csv::read(file, path, 0, &csv_options(selector / 3), sink),
    };
    match stats {
        Ok(s) => agg.add_source_stats(s),
        Err(SourceError::Format { .. }) => return Ok(()),
        Err(e) => return Err(Violation(format!("unexpected error: {e}"))),
    }
    let Ok(c) = agg.finish() else {
        return Ok(());
    };
    if c.records.accounted() != c.records.lines {
        return Err(Violation(format!(
            "{} lines read but {} in buckets: {:?}",
            c.records.lines,
            c.records.accounted(),
            c.records
        )));
    }
    let mut shares: BTreeMap<(&str, tally_model::BillingMonth, &str), Decimal> = BTreeMap::new();
    for u in &c.user_usages {
        if !is_reportable_amount(u.amount) {
            return Err(Violation(format!("user share {u:?} is not reportable")));
        }
        *shares
            .entry((&*u.resource, u.period, &*u.component))
            .or_default() += u.amount;
    }
    for cell in &c.usages {
        if !is_reportable_amount(cell.amount) {
            return Err(Violation(format!("cell {cell:?} is not reportable")));
        }
        let users = shares
            .remove(&(cell.resource.as_str(), cell.period, cell.component.as_str()))
            .unwrap_or_default();
        if users != cell.amount {
            return Err(Violation(format!(
                "the users' shares of {cell:?} add up to {users}"
            )));
        }
    }
    if let Some((cell, sum)) = shares.into_iter().next() {
        return Err(Violation(format!(
            "shares {sum} of a cell {cell:?} not reported"
        )));
    }
    Ok(())
}
