//! Splitting time at plan switches, as months split it at their boundaries.
//!
//! A Waldur resource has plan periods: the plan it was on from `start` to `end` (see
//! docs/plan-periods.md). A 2024 server keys usage rows by plan period, so a month in which the
//! plan changed must be reported in parts, each part the usage of the time its plan was active
//! (job time before the switch belongs to the old plan). This module cuts an interval at the
//! switch instants and says which period each piece belongs to; the aggregator sums quantity x
//! the piece's seconds per piece, so the parts add up exactly to the month's whole.
//!
//! Waldur stamps periods to the microsecond and leaves a gap of about a millisecond between the
//! old period's `end` and the new one's `start` (captures pp-16). A piece of time must belong to
//! exactly one part, so the timeline here is a partition: each period runs from its own start
//! to the next period's start (the gap stays with the old plan: the new one is active from its
//! own start, not before);
//! time before the first period, or after the `end` of the last one, belongs to no period (Waldur's
//! `get_plan_period` finds none there either).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

/// Microseconds per second: the resolution of Waldur's timestamps.
pub const MICROS_PER_SECOND: i64 = 1_000_000;

/// One plan period of a resource, as Waldur lists it: a key (its uuid, or whatever the caller
/// needs), and its bounds (`start` null means "since ever", `end` null "still active").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanPeriodSpan<K> {
    pub key: K,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
}

/// Why a list of plan periods is not a timeline.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanTimelineError {
    /// A period ends before (or when) it starts.
    #[error("plan period {index} ends ({end}) before it starts ({start})")]
    EndBeforeStart {
        index: usize,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    },
    /// Two periods start at the same instant (or both have no start): which plan applies
    /// there cannot be told.
    #[error("plan periods {first} and {second} start at the same instant")]
    SameStart { first: usize, second: usize },
    /// A period that is not the last one has no end, yet a later one starts: Waldur closes
    /// the old period when the switch is done, so the list is damaged.
    #[error("plan period {index} starts while an earlier one ({earlier}) is still open")]
    Overlap { index: usize, earlier: usize },
}

/// The plan periods of one resource as a partition of time (see the module doc).
#[derive(Clone, Debug)]
pub struct PlanTimeline<K> {
    /// Sorted by start; `starts[i]` in microseconds (`i64::MIN` for no start).
    periods: Vec<PlanPeriodSpan<K>>,
    starts: Vec<i64>,
    /// The end of the last period in microseconds (`i64::MAX` when still active).
    last_end: i64,
}

/// One piece of an interval: the period it belongs to (`None`: no plan period there) and its
/// bounds in microseconds since the Unix epoch, `start < end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlanSegment<'a, K> {
    pub period: Option<&'a K>,
    pub start_micros: i64,
    pub end_micros: i64,
}

impl<K> PlanSegment<'_, K> {
    /// The piece's length in seconds, exactly (6 decimal places at most).
    pub fn seconds(&self) -> Decimal {
        micros_to_seconds(self.end_micros - self.start_micros)
    }
}

/// An instant as microseconds since the Unix epoch.
pub fn to_micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// Microseconds as exact decimal seconds.
pub fn micros_to_seconds(micros: i64) -> Decimal {
    Decimal::new(micros, 6).normalize()
}

impl<K> PlanTimeline<K> {
    /// Orders the periods by start and checks that they do not overlap.
    pub fn new(mut periods: Vec<PlanPeriodSpan<K>>) -> Result<Self, PlanTimelineError> {
        for (index, p) in periods.iter().enumerate() {
            if let (Some(start), Some(end)) = (p.start, p.end) {
                if end <= start {
                    return Err(PlanTimelineError::EndBeforeStart { index, start, end });
                }
            }
        }
        periods.sort_by_key(|p| p.start.map_or(i64::MIN, to_micros));
        let starts: Vec<i64> = periods
            .iter()
            .map(|p| p.start.map_or(i64::MIN, to_micros))
            .collect();
        for i in 1..periods.len() {
            if starts[i] == starts[i - 1] {
                return Err(PlanTimelineError::SameStart {
                    first: i - 1,
                    second: i,
                });
            }
            if let Some(end) = periods[i - 1].end {
                // The old end may lie a little after the new start only if Waldur's gap was
                // negative, which it never is; a later end than the next start is an overlap.
                if to_micros(end) > starts[i] {
                    return Err(PlanTimelineError::Overlap {
                        index: i,
                        earlier: i - 1,
                    });
                }
            } else {
                return Err(PlanTimelineError::Overlap {
                    index: i,
                    earlier: i - 1,
                });
            }
        }
        let last_end = periods
            .last()
            .and_then(|p| p.end)
            .map_or(i64::MAX, to_micros);
        Ok(Self {
            periods,
            starts,
            last_end,
        })
    }

    /// The periods, ordered by start.
    pub fn periods(&self) -> &[PlanPeriodSpan<K>] {
        &self.periods
    }

    /// Whether the plan changed inside `[start, end)` (microseconds): then the interval has
    /// more than one part.
    pub fn switches_within(&self, start_micros: i64, end_micros: i64) -> bool {
        self.split(start_micros, end_micros).len() > 1
    }

    /// The period the instant belongs to (see the module doc), `None` where there is none.
    pub fn period_at(&self, t_micros: i64) -> Option<&K> {
        self.index_at(t_micros).map(|i| &self.periods[i].key)
    }

    fn index_at(&self, t: i64) -> Option<usize> {
        if self.periods.is_empty() || t >= self.last_end {
            return None;
        }
        // The last period whose start is <= t.
        let after = self.starts.partition_point(|&s| s <= t);
        after.checked_sub(1)
    }

    /// The instant (microseconds) at which the piece containing `t` ends: the next period's
    /// start, the last period's end, or `i64::MAX`. An aggregator walking a job's time cuts at
    /// `min(month end, piece_end(t))`, as [`Self::split`] does, without a `Vec` per job.
    pub fn piece_end(&self, t: i64) -> i64 {
        let next = self.starts.partition_point(|&s| s <= t);
        if let Some(&s) = self.starts.get(next) {
            if t < self.last_end {
                return s.min(self.last_end);
            }
            return s;
        }
        if t < self.last_end {
            self.last_end
        } else {
            i64::MAX
        }
    }

    /// Cuts `[start, end)` (microseconds) at every plan switch inside it. The pieces are
    /// contiguous, in order, non-empty, and cover the interval exactly; an empty interval
    /// gives none.
    pub fn split(&self, start_micros: i64, end_micros: i64) -> Vec<PlanSegment<'_, K>> {
        let mut out = Vec::new();
        let mut t = start_micros;
        while t < end_micros {
            let piece_end = self.piece_end(t).min(end_micros);
            let period = self.index_at(t).map(|i| &self.periods[i].key);
            match out.last_mut() {
                // Two pieces of "no period" in a row (before the first start cannot be
                // followed by another "none", but keep the output minimal anyway).
                Some(PlanSegment {
                    period: None,
                    end_micros,
                    ..
                }) if period.is_none() => *end_micros = piece_end,
                _ => out.push(PlanSegment {
                    period,
                    start_micros: t,
                    end_micros: piece_end,
                }),
            }
            t = piece_end;
        }
        out
    }

    /// [`Self::split`] for an interval in whole seconds, as accounting records carry.
    pub fn split_seconds(&self, start_secs: i64, end_secs: i64) -> Vec<PlanSegment<'_, K>> {
        self.split(
            start_secs.saturating_mul(MICROS_PER_SECOND),
            end_secs.saturating_mul(MICROS_PER_SECOND),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BillingMonth;
    use proptest::prelude::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// The periods of the genuine server's switch (captures pp-16): small until
    /// 12:04:38.009602, large from 12:04:38.011027.
    fn captured() -> PlanTimeline<&'static str> {
        PlanTimeline::new(vec![
            PlanPeriodSpan {
                key: "large",
                start: Some(at("2026-11-15T12:04:38.011027Z")),
                end: None,
            },
            PlanPeriodSpan {
                key: "small",
                start: Some(at("2026-11-15T12:04:36.055312Z")),
                end: Some(at("2026-11-15T12:04:38.009602Z")),
            },
        ])
        .unwrap()
    }

    #[test]
    fn a_job_over_the_switch_is_cut_at_the_new_periods_start() {
        let tl = captured();
        let start = at("2026-11-15T12:00:00Z").timestamp();
        let end = at("2026-11-15T13:00:00Z").timestamp();
        let parts = tl.split_seconds(start, end);
        let summary: Vec<(Option<&str>, Decimal)> = parts
            .iter()
            .map(|p| (p.period.copied(), p.seconds()))
            .collect();
        // Before the first period began (the resource had no plan period yet), then small
        // (with the 1.4 ms gap up to large's start), then large from its start.
        assert_eq!(
            summary,
            vec![
                (None, "276.055312".parse().unwrap()),
                (Some("small"), "1.955715".parse().unwrap()),
                (Some("large"), "3321.988973".parse().unwrap()),
            ]
        );
        let total: Decimal = parts.iter().map(PlanSegment::seconds).sum();
        assert_eq!(total, Decimal::from(3600));
    }

    #[test]
    fn time_after_the_last_period_ended_belongs_to_none() {
        let tl = PlanTimeline::new(vec![PlanPeriodSpan {
            key: 1,
            start: None,
            end: Some(at("2026-11-10T00:00:00Z")),
        }])
        .unwrap();
        let p = tl.split_seconds(
            at("2026-11-09T00:00:00Z").timestamp(),
            at("2026-11-11T00:00:00Z").timestamp(),
        );
        assert_eq!(p.len(), 2);
        assert_eq!(
            (p[0].period, p[0].seconds()),
            (Some(&1), Decimal::from(86_400))
        );
        assert_eq!((p[1].period, p[1].seconds()), (None, Decimal::from(86_400)));
        assert!(tl.switches_within(p[0].start_micros, p[1].end_micros));
    }

    #[test]
    fn damaged_period_lists_are_refused_naming_the_period() {
        let open_then_later = PlanTimeline::new(vec![
            PlanPeriodSpan {
                key: 'a',
                start: Some(at("2026-11-01T00:00:00Z")),
                end: None,
            },
            PlanPeriodSpan {
                key: 'b',
                start: Some(at("2026-11-05T00:00:00Z")),
                end: None,
            },
        ]);
        assert_eq!(
            open_then_later.unwrap_err(),
            PlanTimelineError::Overlap {
                index: 1,
                earlier: 0
            }
        );
        let backwards = PlanTimeline::new(vec![PlanPeriodSpan {
            key: 'a',
            start: Some(at("2026-11-05T00:00:00Z")),
            end: Some(at("2026-11-01T00:00:00Z")),
        }]);
        assert!(matches!(
            backwards,
            Err(PlanTimelineError::EndBeforeStart { index: 0, .. })
        ));
        assert!(matches!(
            PlanTimeline::new(vec![
                PlanPeriodSpan {
                    key: 'a',
                    start: None,
                    end: Some(at("2026-11-05T00:00:00Z"))
                },
                PlanPeriodSpan {
                    key: 'b',
                    start: None,
                    end: None
                },
            ]),
            Err(PlanTimelineError::SameStart { .. })
        ));
    }

    /// A month of November 2026 in microseconds, and switch offsets inside it.
    fn month_bounds() -> (i64, i64) {
        let m: BillingMonth = "2026-11".parse().unwrap();
        let tz = chrono_tz::UTC;
        (to_micros(m.start(tz)), to_micros(m.end(tz)))
    }

    proptest! {
        /// Splitting a month at any instants into plan periods conserves every cell exactly:
        /// each job's seconds and exact TRES-seconds, summed over the parts, equal the whole;
        /// the parts are contiguous and each lies in the period the timeline names for it.
        #[test]
        fn splitting_a_month_into_plan_periods_conserves_every_cell(
            switch_offsets in proptest::collection::btree_set(1i64..2_592_000_000_000, 0..6),
            first_has_start in any::<bool>(),
            last_has_end in any::<bool>(),
            gap_micros in 0i64..5_000,
            jobs in proptest::collection::vec(
                (0i64..2_592_000, 0i64..2_592_000, 1i64..1_000_000_000, 0u32..6), 1..40),
        ) {
            let (m_start, m_end) = month_bounds();
            let mut instants: Vec<i64> = switch_offsets.iter().map(|o| m_start + o).collect();
            instants.insert(0, m_start - 86_400 * MICROS_PER_SECOND);
            let n = instants.len();
            let periods: Vec<PlanPeriodSpan<usize>> = (0..n).map(|i| {
                let start = (i > 0 || first_has_start)
                    .then(|| DateTime::from_timestamp_micros(instants[i]).unwrap());
                let end = if i + 1 < n {
                    // Waldur's gap between the old end and the new start.
                    let e = (instants[i + 1] - gap_micros).max(instants[i] + 1);
                    Some(DateTime::from_timestamp_micros(e).unwrap())
                } else if last_has_end {
                    // An hour before the month ends, or just after a later switch.
                    let e = (m_end - 3_600 * MICROS_PER_SECOND).max(instants[i] + 1);
                    Some(DateTime::from_timestamp_micros(e).unwrap())
                } else {
                    None
                };
                PlanPeriodSpan { key: i, start, end }
            }).collect();
            let tl = PlanTimeline::new(periods).unwrap();
            let mut cell_whole = Decimal::ZERO;
            let mut cell_parts = Decimal::ZERO;
            for (a, b, qty_milli, scale) in jobs {
                let (s, e) = (a.min(b), a.max(b));
                let start = m_start / MICROS_PER_SECOND + s;
                let end = m_start / MICROS_PER_SECOND + e;
                let qty = Decimal::new(qty_milli, scale);
                let parts = tl.split_seconds(start, end);
                let seconds: Decimal = parts.iter().map(PlanSegment::seconds).sum();
                prop_assert_eq!(seconds, Decimal::from(end - start));
                let mut t = start * MICROS_PER_SECOND;
                for p in &parts {
                    prop_assert_eq!(p.start_micros, t);
                    prop_assert!(p.start_micros < p.end_micros);
                    prop_assert_eq!(p.period, tl.period_at(p.start_micros));
                    prop_assert_eq!(p.period, tl.period_at(p.end_micros - 1));
                    t = p.end_micros;
                    cell_parts += qty * p.seconds();
                }
                prop_assert_eq!(t, end * MICROS_PER_SECOND);
                cell_whole += qty * Decimal::from(end - start);
            }
            prop_assert_eq!(cell_parts, cell_whole);
        }
    }

    #[test]
    fn period_at_follows_waldurs_get_plan_period_outside_the_gap() {
        let tl = captured();
        let t = |s: &str| to_micros(at(s));
        assert_eq!(tl.period_at(t("2026-11-15T12:04:36.055311Z")), None);
        assert_eq!(
            tl.period_at(t("2026-11-15T12:04:36.055312Z")),
            Some(&"small")
        );
        assert_eq!(
            tl.period_at(t("2026-11-15T12:04:38.009601Z")),
            Some(&"small")
        );
        // In Waldur's gap no period is active; here it is still small's piece until large starts.
        assert_eq!(
            tl.period_at(t("2026-11-15T12:04:38.010000Z")),
            Some(&"small")
        );
        assert_eq!(
            tl.period_at(t("2026-11-15T12:04:38.011027Z")),
            Some(&"large")
        );
    }
}
