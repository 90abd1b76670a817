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

/// Splits a rounded total over exact parts so that the 2-decimal parts add up to the total
/// exactly: each part is floored to the cent and the cents still missing go to the parts
/// with the largest remainders (ties to the earlier part). Rounding every part on its own,
/// as the existing peer does, makes the per-user figures disagree with the total.
///
/// It lives beside [`round_amount`] because the two are the money rules: a cell is rounded
/// once, and its per-user breakdown is this split of the rounded cell.
pub fn split_exactly(total: Decimal, parts: &[Decimal]) -> Vec<Decimal> {
    let cent = Decimal::new(1, 2);
    let scaled: Vec<Decimal> = parts.iter().map(|p| *p * Decimal::ONE_HUNDRED).collect();
    let mut floors: Vec<Decimal> = scaled.iter().map(|s| s.floor()).collect();
    let assigned: Decimal = floors.iter().sum();
    let mut missing = (total * Decimal::ONE_HUNDRED - assigned).round();
    // Each remainder (in [0, 1), at most 28 decimals) as a whole number of 10^-28: compared
    // as integers, exactly, instead of a Decimal subtraction per comparison (that was a third
    // of a large collection's instructions, issue 22).
    let remainders: Vec<u128> = scaled
        .iter()
        .zip(&floors)
        .map(|(s, f)| {
            let r = *s - *f;
            r.mantissa().unsigned_abs() * 10u128.pow(28 - r.scale())
        })
        .collect();
    let mut order: Vec<usize> = (0..parts.len()).collect();
    order.sort_unstable_by(|&a, &b| remainders[b].cmp(&remainders[a]).then(a.cmp(&b)));
    let step = if missing.is_sign_negative() {
        -Decimal::ONE
    } else {
        Decimal::ONE
    };
    let mut i = 0;
    while !missing.is_zero() && !order.is_empty() {
        floors[order[i % order.len()]] += step;
        missing -= step;
        i += 1;
    }
    floors
        .into_iter()
        .map(|f| {
            let mut v = f * cent;
            v.rescale(AMOUNT_DECIMALS);
            v
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn split_gives_the_missing_cents_to_the_largest_remainders_ties_to_the_first() {
        let s = |total: &str, parts: &[&str]| -> Vec<String> {
            split_exactly(d(total), &parts.iter().map(|p| d(p)).collect::<Vec<_>>())
                .iter()
                .map(|x| x.to_string())
                .collect()
        };
        assert_eq!(
            s("1.00", &["0.3333", "0.3333", "0.3334"]),
            ["0.33", "0.33", "0.34"]
        );
        // Equal remainders: the earlier parts get the cents.
        assert_eq!(
            s("1.00", &["0.3333", "0.3333", "0.3333"]),
            ["0.34", "0.33", "0.33"]
        );
        // Remainders that differ only in the 28th digit are told apart.
        assert_eq!(
            s(
                "0.01",
                &[
                    "0.0050000000000000000000000000",
                    "0.0050000000000000000000000001"
                ]
            ),
            ["0.00", "0.01"]
        );
        assert_eq!(s("0.00", &["0.004", "0.001"]), ["0.00", "0.00"]);
        assert_eq!(s("-1.00", &["-0.5", "-0.5"]), ["-0.50", "-0.50"]);
        assert_eq!(s("-0.01", &["-0.004", "-0.006"]), ["0.00", "-0.01"]);
        assert!(split_exactly(d("0.00"), &[]).is_empty());
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
