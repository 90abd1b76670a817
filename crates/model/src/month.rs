use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, LocalResult, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// A Waldur billing period: one calendar month in the server's zone.
///
/// Ordered chronologically; printed and parsed as `YYYY-MM`, the form operators type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BillingMonth {
    year: i32,
    month: u32,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MonthError {
    #[error("{0:?} is not a month: expected YYYY-MM, e.g. 2026-10")]
    Syntax(String),
    #[error("month {0} is out of range 1..=12")]
    Range(u32),
    /// Outside [`crate::bounds::MIN_YEAR`]..=[`crate::bounds::MAX_YEAR`]: no record can be
    /// there, and a range reaching that far would walk thousands of empty months.
    #[error("year {0} is out of range 1970..=2199")]
    Year(i32),
    #[error("the range {from}..{to} is empty: --from is after --to")]
    EmptyRange {
        from: BillingMonth,
        to: BillingMonth,
    },
}

impl BillingMonth {
    pub fn new(year: i32, month: u32) -> Result<Self, MonthError> {
        if !(1..=12).contains(&month) {
            return Err(MonthError::Range(month));
        }
        if !(crate::bounds::MIN_YEAR..=crate::bounds::MAX_YEAR).contains(&year) {
            return Err(MonthError::Year(year));
        }
        Ok(Self { year, month })
    }

    pub fn year(self) -> i32 {
        self.year
    }

    pub fn month(self) -> u32 {
        self.month
    }

    /// The month that contains `instant` when seen on a wall clock in `tz`.
    pub fn containing(instant: DateTime<Utc>, tz: Tz) -> Self {
        let local = instant.with_timezone(&tz);
        Self {
            year: local.year(),
            month: local.month(),
        }
    }

    pub fn next(self) -> Self {
        if self.month == 12 {
            Self {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Self {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    pub fn prev(self) -> Self {
        if self.month == 1 {
            Self {
                year: self.year - 1,
                month: 12,
            }
        } else {
            Self {
                year: self.year,
                month: self.month - 1,
            }
        }
    }

    /// The first calendar day, which is how Waldur stores `billing_period` (`2026-10-01`).
    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).expect("month is validated")
    }

    /// The first instant of the month in `tz`, as UTC.
    ///
    /// Midnight can be skipped by a DST change in a few zones (e.g. America/Santiago);
    /// then the month starts at the first instant that exists, as the zone's clocks do.
    pub fn start(self, tz: Tz) -> DateTime<Utc> {
        let midnight = self
            .first_day()
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists");
        match tz.from_local_datetime(&midnight) {
            LocalResult::Single(t) => t.with_timezone(&Utc),
            LocalResult::Ambiguous(earliest, _) => earliest.with_timezone(&Utc),
            LocalResult::None => {
                // Walk forward minute by minute until the wall clock exists (gaps are < 1 day).
                let mut probe = midnight;
                loop {
                    probe += chrono::Duration::minutes(1);
                    if let Some(t) = tz.from_local_datetime(&probe).earliest() {
                        return t.with_timezone(&Utc);
                    }
                }
            }
        }
    }

    /// The exclusive end: the first instant of the next month.
    pub fn end(self, tz: Tz) -> DateTime<Utc> {
        self.next().start(tz)
    }
}

impl fmt::Display for BillingMonth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl FromStr for BillingMonth {
    type Err = MonthError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let syntax = || MonthError::Syntax(s.to_string());
        let (y, m) = s.trim().split_once('-').ok_or_else(syntax)?;
        if y.len() != 4 || m.len() != 2 {
            return Err(syntax());
        }
        let year: i32 = y.parse().map_err(|_| syntax())?;
        let month: u32 = m.parse().map_err(|_| syntax())?;
        Self::new(year, month)
    }
}

impl Serialize for BillingMonth {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for BillingMonth {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An inclusive range of billing months, never empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MonthRange {
    pub from: BillingMonth,
    pub to: BillingMonth,
}

impl MonthRange {
    pub fn new(from: BillingMonth, to: BillingMonth) -> Result<Self, MonthError> {
        if from > to {
            return Err(MonthError::EmptyRange { from, to });
        }
        Ok(Self { from, to })
    }

    pub fn single(month: BillingMonth) -> Self {
        Self {
            from: month,
            to: month,
        }
    }

    pub fn contains(&self, m: BillingMonth) -> bool {
        self.from <= m && m <= self.to
    }

    pub fn iter(&self) -> impl Iterator<Item = BillingMonth> {
        let to = self.to;
        std::iter::successors(Some(self.from), move |m| (*m < to).then(|| m.next()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let m: BillingMonth = "2026-09".parse().unwrap();
        assert_eq!(m.to_string(), "2026-09");
        assert_eq!(m.next().to_string(), "2026-10");
        assert_eq!(
            "2026-12"
                .parse::<BillingMonth>()
                .unwrap()
                .next()
                .to_string(),
            "2027-01"
        );
        assert_eq!(
            "2027-01"
                .parse::<BillingMonth>()
                .unwrap()
                .prev()
                .to_string(),
            "2026-12"
        );
        assert!(matches!(
            "2026-13".parse::<BillingMonth>(),
            Err(MonthError::Range(13))
        ));
        assert!("2026-1".parse::<BillingMonth>().is_err());
        assert!("October".parse::<BillingMonth>().is_err());
        assert_eq!(
            "1969-12".parse::<BillingMonth>(),
            Err(MonthError::Year(1969))
        );
        assert_eq!(
            "2200-01".parse::<BillingMonth>(),
            Err(MonthError::Year(2200))
        );
        assert!("2199-12".parse::<BillingMonth>().is_ok());
    }

    #[test]
    fn month_bounds_follow_the_zone_including_dst() {
        let tz: Tz = "Europe/Amsterdam".parse().unwrap();
        // October 2026 in Amsterdam: starts at CEST (+02), ends at CET (+01).
        let oct: BillingMonth = "2026-10".parse().unwrap();
        assert_eq!(oct.start(tz).to_rfc3339(), "2026-09-30T22:00:00+00:00");
        assert_eq!(oct.end(tz).to_rfc3339(), "2026-10-31T23:00:00+00:00");
        // 31 days plus the hour gained at the autumn change.
        assert_eq!((oct.end(tz) - oct.start(tz)).num_hours(), 31 * 24 + 1);
    }

    #[test]
    fn skipped_midnight_starts_the_month_at_the_first_existing_instant() {
        // Cuba started DST on 2012-04-01 at 00:00 (clocks jumped to 01:00 CDT, UTC-4).
        let tz: Tz = "America/Havana".parse().unwrap();
        let m: BillingMonth = "2012-04".parse().unwrap();
        assert_eq!(m.start(tz).to_rfc3339(), "2012-04-01T05:00:00+00:00");
        assert_eq!(BillingMonth::containing(m.start(tz), tz), m);
    }

    #[test]
    fn range_iterates_inclusive() {
        let r = MonthRange::new("2026-11".parse().unwrap(), "2027-02".parse().unwrap()).unwrap();
        let v: Vec<String> = r.iter().map(|m| m.to_string()).collect();
        assert_eq!(v, ["2026-11", "2026-12", "2027-01", "2027-02"]);
        assert!(MonthRange::new("2026-11".parse().unwrap(), "2026-10".parse().unwrap()).is_err());
    }
}
