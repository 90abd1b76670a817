//! The short constructors the unit tests of plan, users and plan periods share.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use tally_holdings::ServerInfo;
use tally_model::{BillingMonth, UsageCell};
use uuid::Uuid;

pub fn d(s: &str) -> Decimal {
    Decimal::from_str(s).expect("decimal")
}

pub fn m(s: &str) -> BillingMonth {
    s.parse().expect("month")
}

pub fn u(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

/// tally's figure for resource `r` (backend_id), month `p`, component `c`.
pub fn cell(r: &str, p: &str, c: &str, a: &str) -> UsageCell {
    UsageCell {
        resource: r.into(),
        period: m(p),
        component: c.into(),
        amount: d(a),
    }
}

/// A server of `version`; `honours` says whether it honours `date`.
pub fn server(version: &str, honours: Option<bool>) -> ServerInfo {
    ServerInfo {
        version: version.into(),
        honours_date: honours,
    }
}

/// The clock of the plan tests: late in November 2026, well before the month-end margin.
pub fn now() -> DateTime<Utc> {
    "2026-11-25T00:00:00Z".parse().expect("time")
}
