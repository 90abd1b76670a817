use rust_decimal::{Decimal, RoundingStrategy};

/// Waldur stores usage as `Decimal(20, 2)` and rejects more decimals (no rounding on its
/// side), so every amount tally reports is rounded exactly once, here.
pub const AMOUNT_DECIMALS: u32 = 2;

/// Rounds a cell's exact total to what Waldur stores: 2 decimals, half-even (banker's
/// rounding), so that systematic .005 cases do not bias invoices upwards.
pub fn round_amount(exact: Decimal) -> Decimal {
    let mut r =
        exact.round_dp_with_strategy(AMOUNT_DECIMALS, RoundingStrategy::MidpointNearestEven);
    // Always carry exactly two decimals so "12" prints as "12.00", as Waldur renders it.
    r.rescale(AMOUNT_DECIMALS);
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn rounds_half_even_and_keeps_two_decimals() {
        assert_eq!(round_amount(d("1.005")).to_string(), "1.00");
        assert_eq!(round_amount(d("1.015")).to_string(), "1.02");
        assert_eq!(round_amount(d("1.0151")).to_string(), "1.02");
        assert_eq!(round_amount(d("12")).to_string(), "12.00");
        assert_eq!(round_amount(d("-0.125")).to_string(), "-0.12");
        assert_eq!(
            round_amount(d("0.3333333333333333333333333333")).to_string(),
            "0.33"
        );
    }
}
