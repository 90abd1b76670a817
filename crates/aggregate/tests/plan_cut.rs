//! The cut at plan switches (issue 23): a month in which a resource changed plan is split into
//! one part per plan period, exactly, and nothing else changes.

mod common;

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use common::{at, cpu_rule, d, options, ram_rule, record};
use proptest::prelude::*;
use rust_decimal::Decimal;
use tally_aggregate::*;
use tally_model::{BillingMonth, PlanPeriodSpan, PlanTimeline};
use tally_sources::RecordSink;
use uuid::Uuid;

fn opts() -> AggregateOptions {
    options(
        Tz::UTC,
        vec![cpu_rule(), ram_rule()],
        "2026-10",
        "2026-12",
        "2027-01-01T00:00:00Z",
    )
}

fn small() -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_OID, b"small")
}

fn large() -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_OID, b"large")
}

/// "small" from `first_start` to `switch`, "large" from `switch` + `gap_micros` on.
fn timeline(
    first_start: Option<DateTime<Utc>>,
    switch: DateTime<Utc>,
    gap_micros: i64,
) -> PlanTimeline<Uuid> {
    PlanTimeline::new(vec![
        PlanPeriodSpan {
            key: small(),
            start: first_start,
            end: Some(switch),
        },
        PlanPeriodSpan {
            key: large(),
            start: Some(switch + chrono::Duration::microseconds(gap_micros)),
            end: None,
        },
    ])
    .unwrap()
}

#[derive(Debug)]
struct Job {
    account: &'static str,
    user: &'static str,
    start: i64,
    end: i64,
    cpu: Decimal,
    mem: Decimal,
}

fn run(jobs: &[Job], timelines: Option<BTreeMap<String, PlanTimeline<Uuid>>>) -> Collection {
    let mut agg = Aggregator::new(opts());
    if let Some(t) = timelines {
        agg.cut_at_plan_switches(t);
    }
    for (i, j) in jobs.iter().enumerate() {
        let key = i.to_string();
        agg.record(&record(
            &key,
            j.account,
            j.user,
            j.start,
            Some(j.end),
            &[Some(j.cpu), Some(j.mem)],
            i as u64 + 1,
        ));
    }
    agg.finish().unwrap()
}

/// The genuine server's switch (captures pp-16): "small" ends at 12:04:38.009602, "large"
/// starts 1.425 ms later; the gap stays with "small".
#[test]
fn a_job_over_the_switch_is_cut_at_the_new_periods_start_and_the_parts_add_up() {
    let switch = at("2026-11-15T12:04:38.009602Z");
    let jobs = [Job {
        account: "pp_alpha",
        user: "ann",
        start: at("2026-11-15T10:00:00Z").timestamp(),
        end: at("2026-11-15T14:00:00Z").timestamp(),
        cpu: Decimal::from(2),
        mem: Decimal::ZERO,
    }];
    let tl = BTreeMap::from([(
        "pp_alpha".to_string(),
        timeline(Some(at("2026-10-01T00:00:00Z")), switch, 1425),
    )]);
    let c = run(&jobs, Some(tl));
    assert_eq!(c.usages.len(), 1);
    assert_eq!(c.usages[0].amount, d("8.00"));
    let parts: Vec<(Option<Uuid>, Decimal)> = c
        .plan_parts
        .iter()
        .map(|p| (p.plan_period, p.amount))
        .collect();
    // small: 2 x 7478.011027 s = 4.1544... h; large: 2 x 6921.988973 s = 3.8455... h.
    let mut expected = vec![(Some(small()), d("4.15")), (Some(large()), d("3.85"))];
    expected.sort();
    assert_eq!(parts, expected);
    assert!(c
        .plan_parts
        .iter()
        .all(|p| p.resource == "pp_alpha" && p.component == "cpu"));
}

#[test]
fn months_without_a_switch_and_resources_without_a_timeline_have_no_parts() {
    let switch = at("2026-11-15T12:00:00Z");
    let jobs = [
        // October: "small" all month.
        Job {
            account: "pp_alpha",
            user: "ann",
            start: at("2026-10-02T00:00:00Z").timestamp(),
            end: at("2026-10-02T01:00:00Z").timestamp(),
            cpu: Decimal::ONE,
            mem: Decimal::ZERO,
        },
        // November, another resource with no timeline.
        Job {
            account: "pp_beta",
            user: "bob",
            start: at("2026-11-15T00:00:00Z").timestamp(),
            end: at("2026-11-16T00:00:00Z").timestamp(),
            cpu: Decimal::ONE,
            mem: Decimal::ZERO,
        },
    ];
    let tl = BTreeMap::from([(
        "pp_alpha".to_string(),
        timeline(Some(at("2026-10-01T00:00:00Z")), switch, 0),
    )]);
    let c = run(&jobs, Some(tl));
    assert_eq!(c.usages.len(), 2);
    assert!(c.plan_parts.is_empty(), "{:?}", c.plan_parts);
}

#[test]
fn time_before_the_first_period_is_a_part_of_no_plan_period() {
    // The resource got its first plan period on Nov 10 at noon: a job from Nov 10 00:00 to
    // Nov 11 00:00 used 12 h outside any period (Waldur would not invoice them).
    let jobs = [Job {
        account: "pp_alpha",
        user: "ann",
        start: at("2026-11-10T00:00:00Z").timestamp(),
        end: at("2026-11-11T00:00:00Z").timestamp(),
        cpu: Decimal::ONE,
        mem: Decimal::ZERO,
    }];
    let tl = PlanTimeline::new(vec![PlanPeriodSpan {
        key: small(),
        start: Some(at("2026-11-10T12:00:00Z")),
        end: None,
    }])
    .unwrap();
    let c = run(&jobs, Some(BTreeMap::from([("pp_alpha".to_string(), tl)])));
    let parts: Vec<(Option<Uuid>, Decimal)> = c
        .plan_parts
        .iter()
        .map(|p| (p.plan_period, p.amount))
        .collect();
    assert_eq!(parts, vec![(None, d("12.00")), (Some(small()), d("12.00"))]);
}

fn arb_jobs() -> impl Strategy<Value = Vec<Job>> {
    let base = at("2026-10-20T00:00:00Z").timestamp();
    prop::collection::vec(
        (
            0usize..2,
            0usize..3,
            0i64..(50 * 86_400),
            0i64..(20 * 86_400),
            1u32..64,
            0u32..300_000,
        ),
        1..30,
    )
    .prop_map(move |v| {
        v.into_iter()
            .map(|(a, u, s, dur, cpu, mem)| Job {
                account: ["pp_alpha", "pp_beta"][a],
                user: ["ann", "bob", "cid"][u],
                start: base + s,
                end: base + s + dur,
                cpu: Decimal::from(cpu),
                mem: Decimal::from(mem) / Decimal::from(1024),
            })
            .collect()
    })
}

proptest! {
    /// Splitting a month at any instant into plan periods conserves every cell exactly: the
    /// cells and the per-user shares are those of a run without plan periods, the parts of each
    /// cell add up to it to the cent, and each part is within a cent of the exact usage of its
    /// plan's time (computed here job by job, independently of the aggregator).
    #[test]
    fn splitting_a_month_at_any_instant_conserves_every_cell(
        jobs in arb_jobs(),
        switch_micros in 0i64..(30 * 86_400 * 1_000_000),
        gap_micros in 0i64..5_000,
        first_in_november in any::<bool>(),
    ) {
        let switch = Utc.timestamp_opt(at("2026-11-01T00:00:00Z").timestamp(), 0).unwrap()
            + chrono::Duration::microseconds(switch_micros);
        let first_start = if first_in_november { at("2026-11-01T00:00:00Z") } else { at("2026-09-01T00:00:00Z") };
        prop_assume!(first_start < switch);
        let tl = timeline(Some(first_start), switch, gap_micros);
        let plain = run(&jobs, None);
        let cut = run(&jobs, Some(BTreeMap::from([("pp_alpha".to_string(), tl.clone())])));
        prop_assert_eq!(&plain.usages, &cut.usages);
        prop_assert_eq!(&plain.user_usages, &cut.user_usages);
        prop_assert!(plain.plan_parts.is_empty());
        let november: BillingMonth = "2026-11".parse().unwrap();
        for cell in &cut.usages {
            let parts: Vec<_> = cut.plan_parts.iter()
                .filter(|p| (&p.resource, p.period, &p.component) == (&cell.resource, cell.period, &cell.component))
                .collect();
            if cell.resource != "pp_alpha" || cell.period != november {
                prop_assert!(parts.is_empty());
                continue;
            }
            prop_assert!(!parts.is_empty());
            prop_assert_eq!(parts.iter().map(|p| p.amount).sum::<Decimal>(), cell.amount);
            if cell.component != "cpu" {
                continue;
            }
            // The exact cpu-hours of each period's time in November, job by job.
            let (m0, m1) = (at("2026-11-01T00:00:00Z").timestamp_micros(), at("2026-12-01T00:00:00Z").timestamp_micros());
            for part in &parts {
                let mut exact = Decimal::ZERO;
                for j in jobs.iter().filter(|j| j.account == "pp_alpha") {
                    for seg in tl.split(j.start * 1_000_000, j.end * 1_000_000) {
                        let (s, e) = (seg.start_micros.max(m0), seg.end_micros.min(m1));
                        if s < e && seg.period.copied() == part.plan_period {
                            exact += j.cpu * Decimal::new(e - s, 6) / Decimal::from(3600);
                        }
                    }
                }
                prop_assert!((part.amount - exact).abs() < d("0.01"), "{:?} vs {}", part, exact);
            }
        }
    }
}
