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
    // Integer arithmetic throughout (issue 22: Decimal operations per part and per sort
    // comparison were a third of a large collection's instructions). A part of mantissa m and
    // scale s is m x 10^(2-s) cents: its floor and remainder are one integer division, and
    // the remainder, scaled to 10^-28 of a cent, compares exactly as an integer.
    let (floors, remainders): (Vec<i128>, Vec<u128>) = parts
        .iter()
        .map(|p| {
            let (m, s) = (p.mantissa(), p.scale());
            if s <= AMOUNT_DECIMALS {
                (m * 10i128.pow(AMOUNT_DECIMALS - s), 0)
            } else {
                let d = 10i128.pow(s - AMOUNT_DECIMALS);
                let r = m.rem_euclid(d) as u128;
                (m.div_euclid(d), r * 10u128.pow(28 - s))
            }
        })
        .unzip();
    let total_cents = (total * Decimal::ONE_HUNDRED).round().mantissa();
    let missing = total_cents - floors.iter().sum::<i128>();
    let mut cents = floors;
    let n = parts.len();
    if n > 0 && missing != 0 {
        let step = missing.signum();
        let k = missing.unsigned_abs();
        // Every part gets k / n cents, and the k % n parts with the largest remainders
        // (ties to the earlier part) one more.
        let (each, rest) = ((k / n as u128) as i128, (k % n as u128) as usize);
        if each != 0 {
            cents.iter_mut().for_each(|c| *c += each * step);
        }
        if rest > 0 {
            let mut order: Vec<usize> = (0..n).collect();
            order.select_nth_unstable_by(rest - 1, |&a, &b| {
                remainders[b].cmp(&remainders[a]).then(a.cmp(&b))
            });
            for &i in &order[..rest] {
                cents[i] += step;
            }
        }
    }
    cents
        .into_iter()
        .map(|c| Decimal::from_i128_with_scale(c, AMOUNT_DECIMALS))
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
        // More cents missing than parts: everyone gets the same, the rest by remainder.
        assert_eq!(s("0.05", &["0.001", "0.002"]), ["0.02", "0.03"]);
        assert_eq!(s("12", &["4", "8"]), ["4.00", "8.00"]);
    }

    /// The split as first written (Decimal arithmetic, a full sort, one cent at a time): the
    /// integer version must give the same cents for every input.
    fn reference_split(total: Decimal, parts: &[Decimal]) -> Vec<Decimal> {
        let scaled: Vec<Decimal> = parts.iter().map(|p| *p * Decimal::ONE_HUNDRED).collect();
        let mut floors: Vec<Decimal> = scaled.iter().map(|s| s.floor()).collect();
        let assigned: Decimal = floors.iter().sum();
        let mut missing = (total * Decimal::ONE_HUNDRED - assigned).round();
        let mut order: Vec<usize> = (0..parts.len()).collect();
        order.sort_by(|&a, &b| {
            (scaled[b] - floors[b])
                .cmp(&(scaled[a] - floors[a]))
                .then(a.cmp(&b))
        });
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
                let mut v = f * Decimal::new(1, 2);
                v.rescale(2);
                v
            })
            .collect()
    }

    proptest::proptest! {
        #[test]
        fn split_matches_the_reference_cent_for_cent(
            parts in proptest::collection::vec((0i64..1_000_000_000_000, 0u32..29), 0..40),
            total_shift in -300i64..300,
        ) {
            let parts: Vec<Decimal> =
                parts.into_iter().map(|(m, s)| Decimal::new(m, s)).collect();
            let sum: Decimal = parts.iter().copied().sum();
            // The rounded sum, or a total some cents away from it (more cents than parts).
            let total = round_amount(sum) + Decimal::new(total_shift, 2);
            let got = split_exactly(total, &parts);
            let text = |v: &[Decimal]| v.iter().map(|d| d.to_string()).collect::<Vec<_>>();
            proptest::prop_assert_eq!(text(&got), text(&reference_split(total, &parts)));
            if !parts.is_empty() {
                proptest::prop_assert_eq!(got.iter().copied().sum::<Decimal>(), total);
            }
        }
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
