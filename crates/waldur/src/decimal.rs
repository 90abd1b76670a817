//! Reading Waldur's amounts exactly.
//!
//! Waldur stores usage as `Decimal(20, 2)` but its list endpoint writes it through DRF's JSON
//! encoder as a JSON *number* (`12.5`); older servers send a string (`"12.50"`). Going through
//! `f64` would turn `0.1 + 0.2`-style values into near misses and make "already pushed?"
//! comparisons fail, so the number's text is taken from the JSON (`RawValue`) and parsed as a
//! decimal directly.

use std::collections::BTreeMap;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

/// Parses the text of a JSON number or JSON string as a decimal, without floating point.
pub fn parse_json_decimal(raw: &str) -> Result<Decimal, String> {
    let raw = raw.trim();
    let text: std::borrow::Cow<'_, str> = if raw.starts_with('"') {
        let s: String = serde_json::from_str(raw).map_err(|e| e.to_string())?;
        s.trim().to_owned().into()
    } else {
        raw.into()
    };
    if text.is_empty() {
        return Err("empty amount".to_owned());
    }
    let result = if text.contains(['e', 'E']) {
        Decimal::from_scientific(&text)
    } else {
        Decimal::from_str(&text)
    };
    result.map_err(|e| format!("{text:?} is not a decimal amount: {e}"))
}

/// A decimal read from a JSON number or string (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct JsonDecimal(pub Decimal);

impl<'de> Deserialize<'de> for JsonDecimal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(d)?;
        parse_json_decimal(raw.get())
            .map(JsonDecimal)
            .map_err(D::Error::custom)
    }
}

pub(crate) fn decimal<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
    JsonDecimal::deserialize(d).map(|j| j.0)
}

pub(crate) fn opt_decimal<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
    Option::<JsonDecimal>::deserialize(d).map(|o| o.map(|j| j.0))
}

/// `{component type: amount}` maps (`current_usages`, `limit_usage`, `limits`, `prices`); `null`
/// (older servers) reads as `None`, `null` values inside as absent.
pub(crate) fn opt_decimal_map<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<BTreeMap<String, Decimal>>, D::Error> {
    let m = Option::<BTreeMap<String, Option<JsonDecimal>>>::deserialize(d)?;
    Ok(m.map(|m| {
        m.into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v.0)))
            .collect()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).expect("decimal")
    }

    #[test]
    fn numbers_and_strings_without_f64() {
        for (raw, want) in [
            ("12.5", "12.5"),
            ("0", "0"),
            ("-5", "-5"),
            ("\"120.50\"", "120.50"),
            ("\"-5.00\"", "-5.00"),
            ("1e2", "100"),
            ("1.5E+3", "1500"),
            ("2.5e-1", "0.25"),
            // 0.1 + 0.2 as f64 would print 0.30000000000000004; as text it stays exact.
            ("0.3", "0.3"),
            ("123456789012345678.99", "123456789012345678.99"),
            ("99999999999999999999", "99999999999999999999"),
        ] {
            assert_eq!(parse_json_decimal(raw), Ok(d(want)), "{raw}");
        }
        for bad in [
            "\"abc\"",
            "\"\"",
            "1e40",
            "true",
            "null",
            "123456789012345678901234567890",
        ] {
            assert!(parse_json_decimal(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn odd_numbers_fail_or_parse_without_panicking() {
        for raw in [
            "1e-100",
            "1e99999999999",
            "1e-99999999999",
            "-0",
            "0e0",
            "1E+",
            "-",
            "0.000000000000000000000000000001",
            "79228162514264337593543950336",
        ] {
            let _ = parse_json_decimal(raw);
        }
        assert_eq!(parse_json_decimal("-0"), Ok(Decimal::ZERO));
        assert_eq!(parse_json_decimal("0e0"), Ok(Decimal::ZERO));
    }

    #[test]
    fn in_structs_and_maps() {
        #[derive(Deserialize)]
        struct T {
            #[serde(deserialize_with = "decimal")]
            usage: Decimal,
            #[serde(default, deserialize_with = "opt_decimal")]
            maybe: Option<Decimal>,
            #[serde(default, deserialize_with = "opt_decimal_map")]
            map: Option<BTreeMap<String, Decimal>>,
        }
        let t: T = serde_json::from_str(
            r#"{"usage": 0.30, "maybe": null, "map": {"cpu": 1.10, "gpu": "4.00", "x": null}}"#,
        )
        .expect("parse");
        assert_eq!(t.usage, d("0.30"));
        assert_eq!(t.maybe, None);
        let map = t.map.expect("map");
        assert_eq!(map.get("cpu"), Some(&d("1.10")));
        assert_eq!(map.get("gpu"), Some(&d("4.00")));
        assert!(!map.contains_key("x"));
        let t: T = serde_json::from_str(r#"{"usage": "7", "map": null}"#).expect("parse");
        assert_eq!(t.usage, d("7"));
        assert!(t.map.is_none());
    }
}
