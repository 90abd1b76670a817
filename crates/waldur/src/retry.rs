//! Deciding whether to retry (a pure classifier) apart from deciding how long to wait (the policy).

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::StatusCode;

/// What one attempt's outcome means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Success,
    /// Trying again may succeed; `after` is the server's `Retry-After`, when it sent one.
    Retry {
        after: Option<Duration>,
    },
    /// Trying again cannot help (the request itself, the token or the object's state is wrong).
    Fatal,
}

/// Classifies an HTTP answer. Reads the clock only for an HTTP-date `Retry-After`.
pub fn classify(status: StatusCode, headers: &HeaderMap) -> Verdict {
    classify_at(status, headers, SystemTime::now())
}

/// [`classify`] with the clock passed in, so the table test is deterministic.
pub fn classify_at(status: StatusCode, headers: &HeaderMap, now: SystemTime) -> Verdict {
    match status.as_u16() {
        200..=299 => Verdict::Success,
        // Throttling and the answers of reverse proxies in front of a restarting or overloaded
        // Waldur: the request was not, or not fully, handled, and may be on a second try.
        408 | 429 | 500 | 502 | 503 | 504 => Verdict::Retry {
            after: headers
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, now)),
        },
        // 400/401/403/404/405/409 and anything unexpected (a 301 means a path lost its trailing
        // slash: following it would turn a POST into a GET). Retrying cannot change the answer.
        _ => Verdict::Fatal,
    }
}

/// Parses `Retry-After` as delay-seconds or as an HTTP date (RFC 9110 §10.2.3). A date in the past
/// means "now" (zero), garbage means no hint.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Absurdly long digit strings saturate rather than fail: the policy caps the wait anyway.
        return Some(Duration::from_secs(
            value.parse::<u64>().unwrap_or(u64::MAX),
        ));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

/// How an attempt failed before an HTTP answer arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportFailure {
    /// No connection could be made: the request surely never reached the server.
    Connect,
    /// The timeout fired; the server may or may not have acted on the request.
    Timeout,
    /// The connection broke while sending or receiving; the server may have acted on it.
    Interrupted,
    /// The request could not be built or the answer not decoded; the same thing happens again.
    Other,
}

/// Classifies a failure without an HTTP answer.
pub fn classify_transport(failure: TransportFailure) -> Verdict {
    match failure {
        TransportFailure::Connect | TransportFailure::Timeout | TransportFailure::Interrupted => {
            Verdict::Retry { after: None }
        }
        TransportFailure::Other => Verdict::Fatal,
    }
}

pub(crate) fn transport_failure(err: &reqwest::Error) -> TransportFailure {
    if err.is_timeout() {
        TransportFailure::Timeout
    } else if err.is_connect() {
        TransportFailure::Connect
    } else if err.is_request() || err.is_body() {
        TransportFailure::Interrupted
    } else {
        TransportFailure::Other
    }
}

/// Exponential backoff with full jitter, capped, honouring `Retry-After`.
///
/// A small type of our own rather than `backon`: `backon`'s jitter is additive (a delay in
/// `[d, 2d)`), not full jitter (`[0, d]`), which spreads a fleet of nightly jobs hitting a
/// recovering server far less; its `adjust` hook can replace a delay with `Retry-After` but then
/// the next delays continue from the replaced one, and retrying on *responses* (a 503 is not an
/// `Err`) means turning answers into errors and back. Here the loop in the client classifies each
/// attempt, takes a rate-limit permit per attempt, and asks this type only "how long, or give up".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Upper bound of the first retry's jittered wait; doubles per retry.
    pub base: Duration,
    /// Upper bound of any backoff wait.
    pub cap: Duration,
    /// A `Retry-After` longer than this makes the client give up instead of sleeping: a nightly job
    /// should fail loudly rather than hang for hours on a maintenance page.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 8,
            base: Duration::from_millis(500),
            cap: Duration::from_secs(60),
            max_retry_after: Duration::from_secs(600),
        }
    }
}

impl RetryPolicy {
    /// The ceiling of the wait before retry number `retry` (1-based), without jitter.
    pub fn ceiling(&self, retry: u32) -> Duration {
        let exp = retry.saturating_sub(1).min(31);
        self.base.saturating_mul(1u32 << exp).min(self.cap)
    }

    /// The wait before retry number `retry` (1-based), or `None` to give up. With a server hint the
    /// wait is at least the hint (never earlier than the server asked), else a uniform draw in
    /// `[0, ceiling]`.
    pub fn delay(
        &self,
        retry: u32,
        server_hint: Option<Duration>,
        rng: &mut fastrand::Rng,
    ) -> Option<Duration> {
        if retry == 0 || retry > self.max_retries {
            return None;
        }
        let ceiling = self.ceiling(retry);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        let jittered = Duration::from_nanos(rng.u64(0..=nanos));
        match server_hint {
            Some(hint) if hint > self.max_retry_after => None,
            Some(hint) => Some(hint.max(jittered)),
            None => Some(jittered),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(retry_after: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(v) = retry_after {
            h.insert(RETRY_AFTER, HeaderValue::from_str(v).expect("header"));
        }
        h
    }

    #[test]
    fn classifier_table() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480); // Wed, 21 Oct 2015 07:28:00 GMT
        let s = |n| Verdict::Retry {
            after: Some(Duration::from_secs(n)),
        };
        let none = Verdict::Retry { after: None };
        #[rustfmt::skip]
        let table: &[(u16, Option<&str>, Verdict)] = &[
            (200, None, Verdict::Success),
            (201, None, Verdict::Success),
            (202, None, Verdict::Success),
            (204, None, Verdict::Success),
            (301, None, Verdict::Fatal),
            (400, None, Verdict::Fatal),
            (400, Some("5"), Verdict::Fatal),
            (401, None, Verdict::Fatal),
            (403, None, Verdict::Fatal),
            (404, None, Verdict::Fatal),
            (405, None, Verdict::Fatal),
            (409, None, Verdict::Fatal),
            (413, None, Verdict::Fatal),
            (408, None, none),
            (429, None, none),
            (429, Some("7"), s(7)),
            (429, Some(" 0 "), s(0)),
            (429, Some("Wed, 21 Oct 2015 07:28:30 GMT"), s(30)),
            (429, Some("Wed, 21 Oct 2015 07:00:00 GMT"), s(0)),
            (429, Some("soon"), none),
            (429, Some("-3"), none),
            (500, None, none),
            (501, None, Verdict::Fatal),
            (502, None, none),
            (503, Some("120"), s(120)),
            (504, None, none),
        ];
        for (status, ra, want) in table {
            let got = classify_at(
                StatusCode::from_u16(*status).expect("status"),
                &headers(*ra),
                now,
            );
            assert_eq!(got, *want, "status {status} retry-after {ra:?}");
        }
    }

    #[test]
    fn transport_table() {
        use TransportFailure::*;
        for (f, want) in [
            (Connect, Verdict::Retry { after: None }),
            (Timeout, Verdict::Retry { after: None }),
            (Interrupted, Verdict::Retry { after: None }),
            (Other, Verdict::Fatal),
        ] {
            assert_eq!(classify_transport(f), want, "{f:?}");
        }
    }

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        let p = |v| parse_retry_after(v, now);
        assert_eq!(p("120"), Some(Duration::from_secs(120)));
        assert_eq!(p("0"), Some(Duration::ZERO));
        assert_eq!(
            p("Sun, 06 Nov 1994 08:49:47 GMT"),
            Some(Duration::from_secs(10))
        );
        // The two obsolete date forms HTTP still requires recipients to accept.
        assert_eq!(
            p("Sunday, 06-Nov-94 08:49:57 GMT"),
            Some(Duration::from_secs(20))
        );
        assert_eq!(p("Sun Nov  6 08:50:37 1994"), Some(Duration::from_secs(60)));
        assert_eq!(p("Sun, 06 Nov 1994 08:00:00 GMT"), Some(Duration::ZERO));
        assert_eq!(
            p("99999999999999999999999"),
            Some(Duration::from_secs(u64::MAX))
        );
        assert_eq!(p(""), None);
        assert_eq!(p("1.5"), None);
        assert_eq!(p("tomorrow"), None);
    }

    #[test]
    fn policy_full_jitter_is_capped_and_honours_hints() {
        let policy = RetryPolicy {
            max_retries: 5,
            base: Duration::from_millis(100),
            cap: Duration::from_millis(1000),
            max_retry_after: Duration::from_secs(60),
        };
        assert_eq!(policy.ceiling(1), Duration::from_millis(100));
        assert_eq!(policy.ceiling(2), Duration::from_millis(200));
        assert_eq!(policy.ceiling(4), Duration::from_millis(800));
        assert_eq!(policy.ceiling(5), Duration::from_millis(1000));
        assert_eq!(policy.ceiling(u32::MAX), Duration::from_millis(1000));
        let mut rng = fastrand::Rng::with_seed(7);
        for retry in 1..=5 {
            for _ in 0..200 {
                let d = policy.delay(retry, None, &mut rng).expect("within budget");
                assert!(d <= policy.ceiling(retry), "{retry}: {d:?}");
            }
        }
        assert_eq!(policy.delay(6, None, &mut rng), None);
        assert_eq!(policy.delay(0, None, &mut rng), None);
        let hint = Duration::from_secs(7);
        assert!(policy.delay(1, Some(hint), &mut rng).expect("hint") >= hint);
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(61)), &mut rng),
            None,
            "a Retry-After beyond max_retry_after gives up"
        );
    }
}
