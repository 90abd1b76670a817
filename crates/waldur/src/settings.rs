//! Client settings and their validation, done once when the client is built.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use url::{Host, Url};

use crate::retry::RetryPolicy;
use crate::token::Token;

/// The page size the official SDK uses; the contract asks clients to stay at or below it.
pub const DEFAULT_PAGE_SIZE: u32 = 100;
/// The server clamps larger page sizes to this, so asking for more would silently mean fewer.
pub const MAX_PAGE_SIZE: u32 = 300;

/// Everything needed to talk to one Waldur deployment.
#[derive(Clone, Debug)]
pub struct ClientSettings {
    /// Base of the API, e.g. `https://waldur.example.org/api/` (a missing trailing slash is added).
    pub url: Url,
    pub token: Token,
    /// Whole-request timeout (connect, send, wait, read the body).
    pub timeout: Duration,
    /// Connect timeout; kept separate so an unreachable host fails fast even with a long `timeout`.
    pub connect_timeout: Duration,
    /// Sustained request rate agreed with the Waldur operator; every attempt, retries included,
    /// takes a permit.
    pub rate_per_second: NonZeroU32,
    pub burst: NonZeroU32,
    /// Retries after the first attempt (so `max_retries = 8` means at most 9 attempts).
    pub max_retries: u32,
    /// Allows `http://` to a non-loopback host. Off by default because the token travels in a header.
    pub allow_insecure_http: bool,
    pub user_agent: String,
    /// Items per page for list calls (1..=300).
    pub page_size: u32,
    /// Backoff shape; `max_retries` above overrides `retry.max_retries`.
    pub retry: RetryPolicy,
}

impl ClientSettings {
    /// Settings with the defaults suggested in the issue (30 s timeout, 5/s, burst 10, 8 retries).
    pub fn new(url: Url, token: Token) -> Self {
        ClientSettings {
            url,
            token,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            rate_per_second: NonZeroU32::new(5).unwrap_or(NonZeroU32::MIN),
            burst: NonZeroU32::new(10).unwrap_or(NonZeroU32::MIN),
            max_retries: 8,
            allow_insecure_http: false,
            user_agent: format!("tally/{}", env!("CARGO_PKG_VERSION")),
            page_size: DEFAULT_PAGE_SIZE,
            retry: RetryPolicy::default(),
        }
    }
}

/// Why settings were refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SettingsError {
    #[error("Waldur URL {url} uses plain http to a non-loopback host; the token would travel unencrypted (use https, or set allow_insecure_http = true if you really mean it)")]
    InsecureHttp { url: String },
    #[error("Waldur URL {url} must use https (or http to loopback)")]
    UnsupportedScheme { url: String },
    #[error("Waldur URL {url} has no host")]
    NoHost { url: String },
    #[error("Waldur URL {url} must not contain a query, fragment or credentials")]
    ExtraParts { url: String },
    #[error("{what} must be greater than zero")]
    Zero { what: &'static str },
    #[error("page_size must be between 1 and {MAX_PAGE_SIZE}, got {got}")]
    PageSize { got: u32 },
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
}

/// Whether the host is a loopback address, where plain http cannot be sniffed off the network.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// Checks the scheme rule and normalises the base so that `Url::join` of a relative path keeps the
/// `/api/` prefix (joining onto `.../api` would replace `api`).
pub fn normalise_base(url: &Url, allow_insecure_http: bool) -> Result<Url, SettingsError> {
    let shown = url.as_str().to_owned();
    if url.host().is_none() {
        return Err(SettingsError::NoHost { url: shown });
    }
    if url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(SettingsError::ExtraParts {
            url: redact_userinfo(url),
        });
    }
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(url) || allow_insecure_http => {}
        "http" => return Err(SettingsError::InsecureHttp { url: shown }),
        _ => return Err(SettingsError::UnsupportedScheme { url: shown }),
    }
    let mut base = url.clone();
    if !base.path().ends_with('/') {
        let path = format!("{}/", base.path());
        base.set_path(&path);
    }
    Ok(base)
}

fn redact_userinfo(url: &Url) -> String {
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.as_str().to_owned()
}

impl ClientSettings {
    pub(crate) fn validate(&self) -> Result<Url, SettingsError> {
        if self.page_size == 0 || self.page_size > MAX_PAGE_SIZE {
            return Err(SettingsError::PageSize {
                got: self.page_size,
            });
        }
        if self.timeout.is_zero() {
            return Err(SettingsError::Zero { what: "timeout" });
        }
        if self.connect_timeout.is_zero() {
            return Err(SettingsError::Zero {
                what: "connect_timeout",
            });
        }
        normalise_base(&self.url, self.allow_insecure_http)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(s: &str, insecure: bool) -> Result<String, SettingsError> {
        normalise_base(&Url::parse(s).expect("test url"), insecure).map(|u| u.to_string())
    }

    #[test]
    fn https_gets_a_trailing_slash() {
        assert_eq!(
            base("https://waldur.example.org/api", false).as_deref(),
            Ok("https://waldur.example.org/api/")
        );
        assert_eq!(
            base("https://waldur.example.org/api/", false).as_deref(),
            Ok("https://waldur.example.org/api/")
        );
    }

    #[test]
    fn http_only_to_loopback_unless_allowed() {
        for ok in [
            "http://127.0.0.1:8000/api/",
            "http://127.3.4.5/api/",
            "http://[::1]:8080/api/",
            "http://localhost/api/",
            "http://LOCALHOST:1/api/",
        ] {
            assert!(base(ok, false).is_ok(), "{ok}");
        }
        for bad in [
            "http://waldur.example.org/api/",
            "http://10.0.0.1/api/",
            "http://[::2]/api/",
            "http://localhost.evil.org/api/",
        ] {
            assert!(
                matches!(base(bad, false), Err(SettingsError::InsecureHttp { .. })),
                "{bad}"
            );
            assert!(base(bad, true).is_ok(), "{bad} with allow_insecure_http");
        }
        assert!(matches!(
            base("ftp://waldur.example.org/api/", true),
            Err(SettingsError::UnsupportedScheme { .. })
        ));
    }

    #[test]
    fn credentials_in_the_url_are_refused_without_echoing_them() {
        let err = base("https://user:s3cr3t@waldur.example.org/api/", false).unwrap_err();
        assert!(!err.to_string().contains("s3cr3t"), "{err}");
    }
}
