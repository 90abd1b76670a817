//! The largest values tally accepts from any input, and why an operator can defend each.
//!
//! A value outside these bounds is not something a scheduler, an export or a sane config can
//! produce: it is a damaged record (a flipped byte, a runaway script, a typo). Sources treat
//! it as an invalid line (file, line, field; counted; `--strict` fails) and the config
//! loader as an invalid key, so that nothing downstream ever meets a number that could
//! overflow a `Decimal` or walk millennia of months. The bounds are far above anything real
//! and far below what the exact arithmetic can hold:
//!
//! - a quantity per job is at most [`MAX_COUNT`] (10^9) for counts (the largest machines
//!   have about 10^7 cores; a billion leaves two orders of magnitude) and
//!   [`MAX_MEMORY_MIB`] (10^12 MiB, about an exbibyte) for memory;
//! - a job lasts at most [`MAX_TIME`] - [`MIN_TIME`] seconds, and one month of one job is
//!   under 2.7 x 10^6 s, so one job adds at most 2.7 x 10^18 quantity-seconds to a cell:
//!   billions of such jobs still fit in a `Decimal` (7.9 x 10^28), and the aggregator
//!   checks every sum anyway;
//! - times are between 1970 (no accounting record is older than Unix time) and 2200 (a
//!   clock that far ahead is wrong): a job's span covers at most 2,760 months.

use rust_decimal::Decimal;

/// 1970-01-01T00:00:00Z: the earliest instant any record may carry.
pub const MIN_TIME: i64 = 0;

/// 2200-01-01T00:00:00Z (exclusive): the latest instant any record may carry.
pub const MAX_TIME: i64 = 7_258_118_400;

/// The first year a billing month may be in (see [`MIN_TIME`]).
pub const MIN_YEAR: i32 = 1970;

/// The last year a billing month may be in (see [`MAX_TIME`]).
pub const MAX_YEAR: i32 = 2199;

/// The largest count (cores, GPUs, nodes, billing units) one job may hold: 10^9.
pub const MAX_COUNT: Decimal = Decimal::from_parts(1_000_000_000, 0, 0, false, 0);

/// The largest memory one job may hold, in MiB: 10^12 (about 1 EiB).
pub const MAX_MEMORY_MIB: Decimal = Decimal::from_parts(0xd4a5_1000, 0xe8, 0, false, 0);

/// The largest amount one CSV amount row may carry, in the component's unit: 10^12. A
/// trillion units of anything in one row is a damaged export.
pub const MAX_ROW_AMOUNT: Decimal = Decimal::from_parts(0xd4a5_1000, 0xe8, 0, false, 0);

/// The largest amount one cell may reach: Waldur stores usage as `Decimal(20, 2)`, so
/// 10^18 and above cannot be reported at all. Also keeps the per-user split (which works in
/// cents) well inside a `Decimal`.
pub const MAX_CELL_AMOUNT: Decimal = Decimal::from_parts(0xa764_0000, 0x0de0_b6b3, 0, false, 0);

/// The largest `factor` of a component: 10^6 (a price per unit, a unit conversion; a
/// million is already beyond any conversion between the units schedulers use).
pub const MAX_FACTOR: Decimal = Decimal::from_parts(1_000_000, 0, 0, false, 0);

/// The longest `unit_seconds` of a component: a leap year. A longer unit is a typo.
pub const MAX_UNIT_SECONDS: u64 = 366 * 86_400;

/// Whether `t` (Unix seconds) is an instant a record may carry.
pub fn time_in_range(t: i64) -> bool {
    (MIN_TIME..MAX_TIME).contains(&t)
}

/// What [`time_in_range`] refuses, for messages.
pub const TIME_RANGE_TEXT: &str = "1970-01-01T00:00:00Z..2200-01-01T00:00:00Z";

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    #[test]
    fn constants_are_what_their_names_say() {
        assert_eq!(MAX_COUNT, Decimal::from(1_000_000_000i64));
        assert_eq!(MAX_MEMORY_MIB, Decimal::from(1_000_000_000_000i64));
        assert_eq!(MAX_ROW_AMOUNT, Decimal::from(1_000_000_000_000i64));
        assert_eq!(MAX_CELL_AMOUNT, Decimal::from(1_000_000_000_000_000_000i64));
        assert_eq!(MAX_FACTOR, Decimal::from(1_000_000i64));
        assert_eq!(
            MAX_TIME,
            Utc.with_ymd_and_hms(2200, 1, 1, 0, 0, 0)
                .unwrap()
                .timestamp()
        );
        assert!(time_in_range(MIN_TIME) && !time_in_range(MAX_TIME) && !time_in_range(-1));
    }
}
