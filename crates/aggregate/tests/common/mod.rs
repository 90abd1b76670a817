//! What the aggregation tests share: short constructors for instants, amounts, months, rules,
//! options and records. Each test file uses part of it.
#![allow(dead_code)]

use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use tally_aggregate::{AccountMapping, AggregateOptions, ComponentRule};
use tally_model::{BillingMonth, MonthRange};
use tally_sources::JobRecord;

/// An RFC 3339 instant.
pub fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// An RFC 3339 instant in Unix seconds, as the sources give it.
pub fn t(s: &str) -> i64 {
    at(s).timestamp()
}

pub fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

pub fn m(s: &str) -> BillingMonth {
    s.parse().unwrap()
}

/// An hourly component: `factor` units of `tres` per hour.
pub fn rule(component: &str, tres: &str, factor: Decimal) -> ComponentRule {
    ComponentRule {
        component: component.into(),
        tres: tres.into(),
        unit_seconds: 3600,
        factor,
    }
}

/// Core-hours.
pub fn cpu_rule() -> ComponentRule {
    rule("cpu", "cpu", Decimal::ONE)
}

/// GiB-hours of `mem` (MiB).
pub fn ram_rule() -> ComponentRule {
    rule("ram", "mem", d("0.0009765625"))
}

/// cpu, gpu (`gres/gpu`) and ram: the TRES order of the records' quantities.
pub fn cpu_gpu_ram_rules() -> Vec<ComponentRule> {
    vec![
        cpu_rule(),
        rule("gpu", "gres/gpu", Decimal::ONE),
        ram_rule(),
    ]
}

/// Options over the months `from`..=`to` as of `as_of` (RFC 3339), accounts billed to
/// themselves, the per-user breakdown on, ten invalid records kept.
pub fn options(
    billing_timezone: Tz,
    rules: Vec<ComponentRule>,
    from: &str,
    to: &str,
    as_of: &str,
) -> AggregateOptions {
    AggregateOptions {
        billing_timezone,
        rules,
        mapping: AccountMapping::default(),
        range: MonthRange::new(m(from), m(to)).unwrap(),
        as_of: at(as_of),
        keep_invalid: 10,
        user_usage: true,
    }
}

/// A job record of cluster `c` from the first file, its job id its key.
pub fn record<'a>(
    key: &'a str,
    account: &'a str,
    user: &'a str,
    start: i64,
    end: Option<i64>,
    quantities: &'a [Option<Decimal>],
    line: u64,
) -> JobRecord<'a> {
    JobRecord {
        cluster: "c",
        key,
        job_id: key,
        submit: None,
        account,
        user,
        start,
        end,
        quantities,
        file_index: 0,
        line,
    }
}
