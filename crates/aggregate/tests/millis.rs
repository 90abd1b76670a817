//! Milliseconds (Univa Grid Engine) are kept exactly, across month bounds, `--as-of` and
//! duplicate records.

mod common;

use chrono::DateTime;
use chrono_tz::Tz;
use common::{cpu_rule, options};
use rust_decimal::Decimal;
use tally_aggregate::*;
use tally_sources::{JobRecord, Millis, RecordSink};

fn opts(from: &str, to: &str, as_of: &str, tz: Tz) -> AggregateOptions {
    options(tz, vec![cpu_rule()], from, to, as_of)
}

/// Feeds one run of `slots` from `start_ms` to `end_ms` (Unix milliseconds).
fn feed(agg: &mut Aggregator, key: &str, slots: u32, start_ms: i64, end_ms: i64) {
    let q = [Some(Decimal::from(slots))];
    let r = JobRecord {
        cluster: "",
        key,
        job_id: key,
        submit: None,
        account: "proj",
        user: "u",
        start: start_ms.div_euclid(1000),
        end: Some(end_ms.div_euclid(1000)),
        quantities: &q,
        file_index: 0,
        line: 1,
    };
    agg.record_millis(
        &r,
        Millis {
            start: start_ms.rem_euclid(1000) as u16,
            end: end_ms.rem_euclid(1000) as u16,
        },
    );
}

fn amounts(agg: Aggregator) -> Vec<(String, String)> {
    agg.finish()
        .unwrap()
        .usages
        .into_iter()
        .map(|c| (c.period.to_string(), c.amount.to_string()))
        .collect()
}

/// The xdmod-uge GPU job: 16 slots for 12,837.318 s is 57.05 slot-hours (57.054746...);
/// cut to seconds (12,838 s from the second of start to the second of end) it is 57.06.
#[test]
fn a_uge_job_keeps_its_milliseconds() {
    let mut agg = Aggregator::new(opts("2022-05", "2022-05", "2022-06-01T00:00:00Z", Tz::UTC));
    // The same run written twice counts once, with the same milliseconds.
    for _ in 0..2 {
        feed(
            &mut agg,
            "4437956",
            16,
            1_652_111_622_875,
            1_652_124_460_193,
        );
    }
    assert_eq!(amounts(agg), [("2022-05".into(), "57.05".into())]);
}

/// A run across a month bound in a non-UTC zone: each side keeps its own fraction, and the
/// two months add up to the whole run (0.350 s, on 36,000 slots so that the cents show).
#[test]
fn fractions_stay_in_their_month_and_after_as_of_nothing_counts() {
    let tz: Tz = "Europe/Helsinki".parse().unwrap();
    // 2026-10-31T23:59:59.900+02:00 -> 2026-11-01T00:00:00.250+02:00 (EET after 25 Oct).
    let start = DateTime::parse_from_rfc3339("2026-10-31T21:59:59.900Z").unwrap();
    let end = DateTime::parse_from_rfc3339("2026-10-31T22:00:00.250Z").unwrap();
    // The run, collected as of `as_of`.
    let as_of = |as_of: &str| {
        let mut agg = Aggregator::new(opts("2026-10", "2026-11", as_of, tz));
        feed(
            &mut agg,
            "1",
            36_000,
            start.timestamp_millis(),
            end.timestamp_millis(),
        );
        amounts(agg)
    };
    // 36,000 slots x 0.100 s = 1.00 slot-hour in October, x 0.250 s = 2.50 in November.
    assert_eq!(
        as_of("2026-11-25T00:00:00Z"),
        [
            ("2026-10".into(), "1.00".into()),
            ("2026-11".into(), "2.50".into())
        ]
    );
    // --as-of inside the last second: its fraction is after --as-of.
    assert_eq!(
        as_of("2026-10-31T22:00:00.500Z"),
        [("2026-10".into(), "1.00".into())]
    );
    // A run inside one second: (250 - 100) ms.
    let mut agg = Aggregator::new(opts("2026-10", "2026-11", "2026-11-25T00:00:00Z", tz));
    feed(&mut agg, "2", 36_000, 1_792_022_400_100, 1_792_022_400_250);
    assert_eq!(amounts(agg), [("2026-10".into(), "1.50".into())]);
}
