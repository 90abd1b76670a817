use chrono::{NaiveDateTime, Offset, TimeZone};
use chrono_tz::Tz;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TimeError {
    #[error("{0:?} is not a timestamp of the form YYYY-MM-DDTHH:MM:SS")]
    Syntax(String),
    #[error("{0:?} is not a real date or time")]
    Impossible(String),
    #[error("{value:?} does not exist in {zone} (the clocks skipped it at a DST change)")]
    Skipped { value: String, zone: String },
    /// Outside [`tally_model::bounds::TIME_RANGE_TEXT`]: no accounting record is dated there.
    #[error("{0:?} is outside the accepted range 1970-01-01T00:00:00Z..2200-01-01T00:00:00Z")]
    OutOfRange(String),
}

/// Turns sacct's naive local timestamps into Unix seconds with the zone's rules at each
/// instant (never the current offset: that moves jobs across a DST change by an hour).
///
/// Keeps the offset of the last hour it converted: dumps are mostly in time order, so
/// almost every conversion is a cache hit instead of a search of the zone's transitions.
pub struct LocalTimeParser {
    tz: Tz,
    is_utc: bool,
    /// (local seconds truncated to the hour, offset in seconds) of the last unambiguous hour.
    cached: Option<(i64, i64)>,
}

impl LocalTimeParser {
    pub fn new(tz: Tz) -> Self {
        Self {
            tz,
            is_utc: matches!(
                tz,
                Tz::UTC | Tz::Etc__UTC | Tz::Etc__UCT | Tz::UCT | Tz::Zulu
            ),
            cached: None,
        }
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS`. A wall time that occurs twice (the hour repeated when
    /// clocks go back) is read as its first occurrence: sacct prints no offset, so nothing
    /// tells the two apart, and the first is what a job starting then would show.
    ///
    /// Instants outside [`tally_model::bounds::time_in_range`] are refused: a record dated
    /// there is damaged, and accepting it would make the aggregator walk every month since.
    pub fn parse(&mut self, s: &str) -> Result<i64, TimeError> {
        let t = self.parse_unbounded(s)?;
        if tally_model::bounds::time_in_range(t) {
            Ok(t)
        } else {
            Err(TimeError::OutOfRange(s.to_string()))
        }
    }

    fn parse_unbounded(&mut self, s: &str) -> Result<i64, TimeError> {
        let local = parse_naive_seconds(s)?;
        if self.is_utc {
            return Ok(local);
        }
        let hour = local.div_euclid(3600);
        if let Some((h, off)) = self.cached {
            if h == hour {
                return Ok(local - off);
            }
        }
        let naive = NaiveDateTime::from_timestamp_opt_compat(local)
            .ok_or_else(|| TimeError::Impossible(s.to_string()))?;
        match self.tz.from_local_datetime(&naive) {
            chrono::LocalResult::Single(t) => {
                let off = i64::from(t.offset().fix().local_minus_utc());
                // Cache only when the whole hour maps with this offset (no change inside it).
                let hour_start = hour * 3600;
                let hour_end = hour_start + 3599;
                let same = |x: i64| {
                    NaiveDateTime::from_timestamp_opt_compat(x)
                        .and_then(|n| self.tz.from_local_datetime(&n).single())
                        .map(|t| i64::from(t.offset().fix().local_minus_utc()) == off)
                        .unwrap_or(false)
                };
                if same(hour_start) && same(hour_end) {
                    self.cached = Some((hour, off));
                }
                Ok(local - off)
            }
            chrono::LocalResult::Ambiguous(first, _) => {
                Ok(local - i64::from(first.offset().fix().local_minus_utc()))
            }
            chrono::LocalResult::None => Err(TimeError::Skipped {
                value: s.to_string(),
                zone: self.tz.name().to_string(),
            }),
        }
    }
}

trait FromLocalSeconds: Sized {
    fn from_timestamp_opt_compat(secs: i64) -> Option<Self>;
}

impl FromLocalSeconds for NaiveDateTime {
    fn from_timestamp_opt_compat(secs: i64) -> Option<Self> {
        chrono::DateTime::from_timestamp(secs, 0).map(|d| d.naive_utc())
    }
}

fn digits(b: &[u8]) -> Option<u32> {
    let mut v = 0u32;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a valid proleptic Gregorian date (H. Hinnant's algorithm):
/// this runs for every timestamp of every job, so it avoids a general date library call.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Seconds since the epoch of the wall-clock reading, as if it were UTC.
fn parse_naive_seconds(s: &str) -> Result<i64, TimeError> {
    let b = s.as_bytes();
    let syntax = || TimeError::Syntax(s.to_string());
    if b.len() != 19
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return Err(syntax());
    }
    let year = digits(&b[0..4]).ok_or_else(syntax)?;
    let month = digits(&b[5..7]).ok_or_else(syntax)?;
    let day = digits(&b[8..10]).ok_or_else(syntax)?;
    let hour = digits(&b[11..13]).ok_or_else(syntax)?;
    let min = digits(&b[14..16]).ok_or_else(syntax)?;
    let sec = digits(&b[17..19]).ok_or_else(syntax)?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return Err(TimeError::Impossible(s.to_string()));
    }
    if hour > 23 || min > 59 || sec > 59 {
        return Err(TimeError::Impossible(s.to_string()));
    }
    let days = days_from_civil(i64::from(year), month, day);
    Ok(days * 86_400 + i64::from(hour * 3600 + min * 60 + sec))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Datelike;

    fn utc(s: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp()
    }

    #[test]
    fn utc_and_zones() {
        let mut p = LocalTimeParser::new(Tz::UTC);
        assert_eq!(
            p.parse("2026-10-01T02:00:00").unwrap(),
            utc("2026-10-01T02:00:00Z")
        );
        let mut p = LocalTimeParser::new("Europe/Amsterdam".parse().unwrap());
        assert_eq!(
            p.parse("2026-07-01T12:00:00").unwrap(),
            utc("2026-07-01T10:00:00Z")
        );
        assert_eq!(
            p.parse("2026-07-01T12:30:00").unwrap(),
            utc("2026-07-01T10:30:00Z")
        );
        assert_eq!(
            p.parse("2026-12-01T12:00:00").unwrap(),
            utc("2026-12-01T11:00:00Z")
        );
    }

    #[test]
    fn dst_changes_use_the_rules_at_each_instant() {
        let mut p = LocalTimeParser::new("Europe/Amsterdam".parse().unwrap());
        // Autumn 2026: 03:00 CEST -> 02:00 CET on 25 October; 02:30 happens twice.
        assert_eq!(
            p.parse("2026-10-25T01:59:59").unwrap(),
            utc("2026-10-24T23:59:59Z")
        );
        assert_eq!(
            p.parse("2026-10-25T02:30:00").unwrap(),
            utc("2026-10-25T00:30:00Z")
        );
        assert_eq!(
            p.parse("2026-10-25T03:00:00").unwrap(),
            utc("2026-10-25T02:00:00Z")
        );
        // Spring 2026: 02:00 CET -> 03:00 CEST on 29 March; 02:30 never happens.
        assert!(matches!(
            p.parse("2026-03-29T02:30:00"),
            Err(TimeError::Skipped { .. })
        ));
        assert_eq!(
            p.parse("2026-03-29T03:00:00").unwrap(),
            utc("2026-03-29T01:00:00Z")
        );
        assert_eq!(
            p.parse("2026-03-29T01:59:59").unwrap(),
            utc("2026-03-29T00:59:59Z")
        );
    }

    #[test]
    fn civil_days_agree_with_chrono_over_centuries() {
        use chrono::NaiveDate;
        let mut d = NaiveDate::from_ymd_opt(1890, 1, 1).unwrap();
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        while d.year() < 2110 {
            let ours = days_from_civil(i64::from(d.year()), d.month(), d.day());
            assert_eq!(ours, (d - epoch).num_days(), "{d}");
            assert_eq!(days_in_month(d.year() as u32, d.month()), {
                let next = if d.month() == 12 {
                    NaiveDate::from_ymd_opt(d.year() + 1, 1, 1)
                } else {
                    NaiveDate::from_ymd_opt(d.year(), d.month() + 1, 1)
                }
                .unwrap();
                (next - NaiveDate::from_ymd_opt(d.year(), d.month(), 1).unwrap()).num_days() as u32
            });
            d = d.succ_opt().unwrap();
        }
    }

    #[test]
    fn rejects_impossible_dates() {
        let mut p = LocalTimeParser::new(Tz::UTC);
        assert!(matches!(
            p.parse("2026-13-01T00:00:00"),
            Err(TimeError::Impossible(_))
        ));
        assert!(matches!(
            p.parse("2026-02-30T00:00:00"),
            Err(TimeError::Impossible(_))
        ));
        assert!(matches!(
            p.parse("2026-02-01T24:00:00"),
            Err(TimeError::Impossible(_))
        ));
        assert!(matches!(
            p.parse("2026-02-01 10:00:00"),
            Err(TimeError::Syntax(_))
        ));
        assert!(matches!(p.parse("Unknown"), Err(TimeError::Syntax(_))));
    }

    /// Issue 15: thirty rows dated 260,000 years ago took 23 s, every month since walked.
    #[test]
    fn refuses_instants_outside_1970_to_2200() {
        let mut p = LocalTimeParser::new(Tz::UTC);
        for s in [
            "0001-01-01T00:00:00",
            "1969-12-31T23:59:59",
            "2200-01-01T00:00:00",
            "9999-12-31T23:59:59",
        ] {
            assert!(matches!(p.parse(s), Err(TimeError::OutOfRange(_))), "{s}");
        }
        assert_eq!(p.parse("1970-01-01T00:00:00").unwrap(), 0);
        assert_eq!(
            p.parse("2199-12-31T23:59:59").unwrap(),
            tally_model::bounds::MAX_TIME - 1
        );
        // Local midnight of 1 January 1970 in Amsterdam is still 1969 in UTC.
        let mut p = LocalTimeParser::new("Europe/Amsterdam".parse().unwrap());
        assert!(matches!(
            p.parse("1970-01-01T00:30:00"),
            Err(TimeError::OutOfRange(_))
        ));
    }
}
