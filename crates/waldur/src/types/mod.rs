//! Request and response types of the endpoints in the contract.
//!
//! Responses read every field tally does not strictly need as optional: older servers omit some
//! (`offering_components`, `last_sync`) and send `null` for others (`limit_usage`, `options`,
//! `report`, `end_date`), and a `field=` selection drops the rest. Unknown keys are ignored, so
//! 8.0 and 8.1 servers both read. Amounts are `Decimal`, read from the JSON text, never via `f64`.

pub mod invoices;
pub mod offerings;
pub mod orders;
pub mod people;
pub mod resources;
pub mod usage;

use serde::{Deserialize, Deserializer, Serializer};
use uuid::Uuid;

/// Defines a Waldur label enum (states, types) that keeps labels this version does not know in
/// `Other`, so a new server-side state shows up in a report instead of failing a whole listing.
macro_rules! label_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $label:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(from = "String", into = "String")]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
            /// A label this version of tally does not know, kept verbatim.
            Other(String),
        }

        impl $name {
            /// Every label this version knows, in the contract's order.
            pub const KNOWN: &'static [$name] = &[$($name::$variant),*];

            /// The label as Waldur writes it (and expects it in filters).
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $label,)*
                    $name::Other(s) => s,
                }
            }

            /// Reads a label as an operator may type it: exact, or case-insensitively.
            pub fn parse_label(s: &str) -> Option<Self> {
                let s = s.trim();
                $name::KNOWN
                    .iter()
                    .find(|k| k.as_str().eq_ignore_ascii_case(s))
                    .cloned()
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                match s.as_str() {
                    $($label => $name::$variant,)*
                    _ => $name::Other(s),
                }
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.as_str().to_owned()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use label_enum;

/// Waldur emits the 32-hex form; sending the same keeps request bodies identical to the captures.
pub(crate) fn ser_uuid<S: Serializer>(u: &Uuid, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&u.simple().to_string())
}

pub(crate) fn ser_opt_uuid<S: Serializer>(u: &Option<Uuid>, s: S) -> Result<S::Ok, S::Error> {
    match u {
        Some(u) => ser_uuid(u, s),
        None => s.serialize_none(),
    }
}

/// Reads a field that tally only displays; a shape it does not expect reads as `None` instead of
/// failing the whole answer (the official SDK's failure mode on older servers).
pub(crate) fn lenient<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let v = Option::<serde_json::Value>::deserialize(d)?;
    Ok(v.and_then(|v| serde_json::from_value(v).ok()))
}

/// Adds `field=` parameters, plus the fields a typed item cannot be read without.
pub(crate) fn with_fields(
    q: crate::pagination::Query,
    required: &[&str],
    fields: &[String],
) -> crate::pagination::Query {
    if fields.is_empty() {
        return q;
    }
    let mut all: Vec<String> = required
        .iter()
        .filter(|r| !fields.iter().any(|f| f == *r))
        .map(|r| (*r).to_owned())
        .collect();
    all.extend(fields.iter().cloned());
    q.fields(all)
}

pub(crate) fn simple(u: &Uuid) -> String {
    u.simple().to_string()
}

/// `null` reads as the empty value (lists that older servers send as `null`).
pub(crate) fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}
