//! The short constructors the unit tests of plan and users share.

use std::str::FromStr;

use rust_decimal::Decimal;
use tally_model::BillingMonth;
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
