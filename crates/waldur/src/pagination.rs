//! Query strings and `Link`-header pagination.

use std::fmt::Display;

use reqwest::header::{HeaderMap, LINK};

/// Query parameters in order, with repeated keys allowed (`state=OK&state=Updating`,
/// `field=uuid&field=state`), which is how Waldur reads multi-value filters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn new() -> Self {
        Query::default()
    }

    pub fn push(&mut self, key: &str, value: impl Display) -> &mut Self {
        self.0.push((key.to_owned(), value.to_string()));
        self
    }

    /// Adds `key=value`.
    pub fn with(mut self, key: &str, value: impl Display) -> Self {
        self.push(key, value);
        self
    }

    /// Adds `key=value` when there is a value.
    pub fn opt(mut self, key: &str, value: Option<impl Display>) -> Self {
        if let Some(v) = value {
            self.push(key, v);
        }
        self
    }

    /// Adds `key=a&key=b` (Waldur's form for multi-value enum filters and `field`).
    pub fn repeated<I, V>(mut self, key: &str, values: I) -> Self
    where
        I: IntoIterator<Item = V>,
        V: Display,
    {
        for v in values {
            self.push(key, v);
        }
        self
    }

    /// Adds `key=a,b` (Waldur's form for `offering_uuid` on resources); nothing when empty.
    pub fn comma<I, V>(mut self, key: &str, values: I) -> Self
    where
        I: IntoIterator<Item = V>,
        V: Display,
    {
        let joined: Vec<String> = values.into_iter().map(|v| v.to_string()).collect();
        if !joined.is_empty() {
            self.push(key, joined.join(","));
        }
        self
    }

    /// Restricts the answer to these fields (repeated `field=`).
    pub fn fields<I, V>(self, fields: I) -> Self
    where
        I: IntoIterator<Item = V>,
        V: Display,
    {
        self.repeated("field", fields)
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }

    pub(crate) fn without(&self, key: &str) -> Query {
        Query(self.0.iter().filter(|(k, _)| k != key).cloned().collect())
    }
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// `X-Result-Count`: the total over all pages, when the server sent it.
    pub total: Option<u64>,
    /// Whether a `rel="next"` link was present.
    pub has_next: bool,
}

/// One entry of a `Link` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkEntry {
    pub target: String,
    /// Relation types, lower-cased (`rel="next last"` gives two).
    pub rels: Vec<String>,
}

/// Parses a `Link` header value (RFC 8288): `<uri>; rel="next", <uri>; rel=last; title="a, b"`.
/// Commas inside `<...>` and quoted strings do not split entries; malformed entries are skipped.
pub fn parse_link_header(value: &str) -> Vec<LinkEntry> {
    let mut out = Vec::new();
    let mut rest = value;
    loop {
        rest = rest.trim_start_matches(|c: char| c == ',' || c.is_whitespace());
        if rest.is_empty() {
            return out;
        }
        let Some(after_lt) = rest.strip_prefix('<') else {
            rest = skip_entry(rest);
            continue;
        };
        let Some(end) = after_lt.find('>') else {
            return out;
        };
        let target = after_lt[..end].trim().to_owned();
        rest = &after_lt[end + 1..];
        let mut rels = Vec::new();
        // Parameters up to the next entry.
        loop {
            rest = rest.trim_start();
            let Some(p) = rest.strip_prefix(';') else {
                break;
            };
            rest = p.trim_start();
            let name_end = rest.find(['=', ';', ',']).unwrap_or(rest.len());
            let name = rest[..name_end].trim().to_ascii_lowercase();
            rest = &rest[name_end..];
            let mut val = String::new();
            if let Some(p) = rest.strip_prefix('=') {
                rest = p.trim_start();
                if let Some(q) = rest.strip_prefix('"') {
                    let mut chars = q.char_indices();
                    let mut consumed = q.len();
                    while let Some((i, c)) = chars.next() {
                        match c {
                            '\\' => {
                                if let Some((_, n)) = chars.next() {
                                    val.push(n);
                                }
                            }
                            '"' => {
                                consumed = i + 1;
                                break;
                            }
                            c => val.push(c),
                        }
                    }
                    rest = &q[consumed..];
                } else {
                    let end = rest.find([';', ',']).unwrap_or(rest.len());
                    val = rest[..end].trim().to_owned();
                    rest = &rest[end..];
                }
            }
            // Only the first rel parameter counts (RFC 8288 §3.3).
            if name == "rel" && rels.is_empty() {
                rels = val
                    .split_ascii_whitespace()
                    .map(|r| r.to_ascii_lowercase())
                    .collect();
            }
        }
        out.push(LinkEntry { target, rels });
        rest = skip_entry(rest);
    }
}

/// Skips to the comma that ends the current entry, ignoring commas in quotes or angle brackets.
fn skip_entry(s: &str) -> &str {
    let mut in_quotes = false;
    let mut in_angle = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if in_quotes => escaped = true,
            '"' if !in_angle => in_quotes = !in_quotes,
            '<' if !in_quotes => in_angle = true,
            '>' if !in_quotes => in_angle = false,
            ',' if !in_quotes && !in_angle => return &s[i..],
            _ => {}
        }
    }
    ""
}

/// The `rel="next"` target over all `Link` headers of an answer.
pub fn next_link(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(parse_link_header)
        .find(|l| l.rels.iter().any(|r| r == "next"))
        .map(|l| l.target)
}

/// `X-Result-Count`, when present and numeric.
pub fn result_count(headers: &HeaderMap) -> Option<u64> {
    headers
        .get("x-result-count")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waldur_form() {
        let h = "<https://w.example/api/r/?page_size=1>; rel=\"first\", \
                 <https://w.example/api/r/?page=2&page_size=1>; rel=\"next\", \
                 <https://w.example/api/r/?page=3&page_size=1>; rel=\"last\"";
        let links = parse_link_header(h);
        assert_eq!(links.len(), 3);
        assert_eq!(
            links[1].target,
            "https://w.example/api/r/?page=2&page_size=1"
        );
        assert_eq!(links[1].rels, vec!["next"]);
    }

    #[test]
    fn tricky_forms() {
        let h = r#"<https://a/x?q=1,2>; title="a, \"b\"; c"; rel="prev NEXT", <https://a/y>;rel=last , junk, <https://a/z>; REL=first; rel=next"#;
        let links = parse_link_header(h);
        assert_eq!(
            links,
            vec![
                LinkEntry {
                    target: "https://a/x?q=1,2".into(),
                    rels: vec!["prev".into(), "next".into()]
                },
                LinkEntry {
                    target: "https://a/y".into(),
                    rels: vec!["last".into()]
                },
                LinkEntry {
                    target: "https://a/z".into(),
                    rels: vec!["first".into()]
                },
            ]
        );
        assert!(parse_link_header("").is_empty());
        assert!(parse_link_header("<unterminated; rel=next").is_empty());
    }

    #[test]
    fn query_forms() {
        let q = Query::new()
            .comma("offering_uuid", ["a", "b"])
            .repeated("state", ["OK", "Updating"])
            .fields(["uuid", "name", "state"])
            .opt("backend_id", None::<&str>);
        let pairs: Vec<(&str, &str)> = q
            .pairs()
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            pairs,
            vec![
                ("offering_uuid", "a,b"),
                ("state", "OK"),
                ("state", "Updating"),
                ("field", "uuid"),
                ("field", "name"),
                ("field", "state"),
            ]
        );
    }
}
