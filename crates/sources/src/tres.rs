use rust_decimal::Decimal;

/// How a TRES value's unit suffix is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TresKind {
    /// Memory-like: normalised to MiB. A bare number means megabytes (old Slurm wrote
    /// `mem=168000`), suffixes K/M/G/T/P are powers of 1024.
    Memory,
    /// A count (cpu, node, gres/gpu, billing): a bare number is the count; a suffix scales
    /// by powers of 1024 as sacct's unit conversion does.
    Count,
}

impl TresKind {
    /// The largest quantity of this kind one job may hold (see [`tally_model::bounds`]):
    /// anything above is a damaged record, refused before it can reach a sum.
    pub fn max_quantity(self) -> Decimal {
        match self {
            TresKind::Memory => tally_model::bounds::MAX_MEMORY_MIB,
            TresKind::Count => tally_model::bounds::MAX_COUNT,
        }
    }

    /// Memory is the only TRES whose bare numbers carry a unit.
    pub fn of(name: &str) -> Self {
        if name == "mem" || name == "vmem" {
            TresKind::Memory
        } else {
            TresKind::Count
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QuantityError {
    #[error("{0:?} is not a number")]
    NotANumber(String),
    #[error("{value:?} has an unknown unit {unit:?} (known: K, M, G, T, P)")]
    UnknownUnit { value: String, unit: char },
    #[error("{0:?} is negative")]
    Negative(String),
    #[error("{value:?} is more than any job can hold (at most {max} {unit})")]
    TooLarge {
        value: String,
        max: Decimal,
        unit: &'static str,
    },
}

const KIB: i64 = 1024;

/// Parses one TRES value (`4`, `62.50G`, `3000M`, `2252800K`) into its quantity in the
/// kind's base unit, exactly.
pub fn parse_quantity(value: &str, kind: TresKind) -> Result<Decimal, QuantityError> {
    let (number, unit) = match value.as_bytes().last() {
        Some(c) if c.is_ascii_alphabetic() => (&value[..value.len() - 1], Some(*c as char)),
        _ => (value, None),
    };
    let n = parse_decimal(number).ok_or_else(|| QuantityError::NotANumber(value.to_string()))?;
    if n.is_sign_negative() && !n.is_zero() {
        return Err(QuantityError::Negative(value.to_string()));
    }
    // Exponent of 1024 relative to the kind's base unit.
    let base_exp: i32 = match kind {
        TresKind::Memory => 2, // MiB
        TresKind::Count => 0,
    };
    let exp: i32 = match unit {
        None => base_exp,
        Some(u) => match u.to_ascii_uppercase() {
            'K' => 1,
            'M' => 2,
            'G' => 3,
            'T' => 4,
            'P' => 5,
            _ => {
                return Err(QuantityError::UnknownUnit {
                    value: value.to_string(),
                    unit: u,
                })
            }
        },
    };
    let shift = exp - base_exp;
    let max = kind.max_quantity();
    let too_large = || QuantityError::TooLarge {
        value: value.to_string(),
        max,
        unit: match kind {
            TresKind::Memory => "MiB",
            TresKind::Count => "per job",
        },
    };
    // Refused before scaling, so that the multiplications below cannot overflow.
    if n > max {
        return Err(too_large());
    }
    let mut q = n;
    if shift > 0 {
        for _ in 0..shift {
            q = q.checked_mul(Decimal::from(KIB)).ok_or_else(too_large)?;
        }
        if q > max {
            return Err(too_large());
        }
    } else {
        for _ in 0..(-shift) {
            // Division by 1024 always terminates (2^10), so this stays exact.
            q /= Decimal::from(KIB);
        }
    }
    Ok(q.normalize())
}

/// Integers are by far the most common value: parse them without the general path.
fn parse_decimal(s: &str) -> Option<Decimal> {
    if !s.is_empty() && s.len() <= 18 && s.bytes().all(|b| b.is_ascii_digit()) {
        let mut v: i64 = 0;
        for b in s.bytes() {
            v = v * 10 + i64::from(b - b'0');
        }
        return Some(Decimal::from(v));
    }
    if s.is_empty() || s.starts_with('+') || s.contains(['e', 'E']) {
        return None;
    }
    Decimal::from_str_exact(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(v: &str, k: TresKind) -> String {
        parse_quantity(v, k).unwrap().to_string()
    }

    #[test]
    fn memory_is_normalised_to_mib() {
        assert_eq!(q("4G", TresKind::Memory), "4096");
        assert_eq!(q("62.50G", TresKind::Memory), "64000");
        assert_eq!(q("3000M", TresKind::Memory), "3000");
        assert_eq!(q("168000", TresKind::Memory), "168000");
        assert_eq!(q("2252800K", TresKind::Memory), "2200");
        assert_eq!(q("1294440K", TresKind::Memory), "1264.1015625");
        assert_eq!(q("1T", TresKind::Memory), "1048576");
        assert_eq!(q("0", TresKind::Memory), "0");
    }

    #[test]
    fn counts_stay_counts() {
        assert_eq!(q("8", TresKind::Count), "8");
        assert_eq!(q("2K", TresKind::Count), "2048");
    }

    #[test]
    fn bad_values_are_errors() {
        assert!(matches!(
            parse_quantity("four", TresKind::Count),
            Err(QuantityError::NotANumber(_))
        ));
        assert!(matches!(
            parse_quantity("4X", TresKind::Memory),
            Err(QuantityError::UnknownUnit { unit: 'X', .. })
        ));
        assert!(matches!(
            parse_quantity("-4", TresKind::Count),
            Err(QuantityError::Negative(_))
        ));
        assert!(parse_quantity("", TresKind::Count).is_err());
        assert!(parse_quantity("G", TresKind::Memory).is_err());
        assert!(parse_quantity("1e3", TresKind::Count).is_err());
        assert!(parse_quantity("99999999999999999999999999999999", TresKind::Count).is_err());
    }

    /// Issue 15: `cpu=100000000000000000000000000` reached the aggregator, whose product with
    /// the job's seconds overflowed a `Decimal` and panicked (exit 101).
    #[test]
    fn quantities_no_job_can_hold_are_refused() {
        for (v, kind) in [
            ("100000000000000000000000000", TresKind::Count),
            ("1000000001", TresKind::Count),
            ("1P", TresKind::Count),
            ("79228162514264337593543950335", TresKind::Memory),
            ("1000001T", TresKind::Memory),
            ("1000000000001", TresKind::Memory),
        ] {
            assert!(
                matches!(parse_quantity(v, kind), Err(QuantityError::TooLarge { .. })),
                "{v}"
            );
        }
        assert_eq!(q("1000000000", TresKind::Count), "1000000000");
        assert_eq!(q("931P", TresKind::Memory), "999653638144");
        assert_eq!(q("1000000000000", TresKind::Memory), "1000000000000");
    }
}
