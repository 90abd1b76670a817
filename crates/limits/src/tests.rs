use std::str::FromStr;

use super::*;

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn m(s: &str) -> BillingMonth {
    s.parse().unwrap()
}

fn cap(component: &str, period: Option<&str>, amount: Option<&str>) -> ComponentCap {
    ComponentCap {
        component: component.into(),
        billing_type: Some(BillingType::Usage),
        limit_period: period.map(String::from),
        limit_amount: amount.map(d),
    }
}

fn cell(resource: &str, month: &str, component: &str, amount: &str) -> UsageCell {
    UsageCell {
        resource: resource.into(),
        period: m(month),
        component: component.into(),
        amount: d(amount),
    }
}

const A: Uuid = Uuid::from_u128(0xa);
const B: Uuid = Uuid::from_u128(0xb);

/// Two resources: `proj_a` sold 1000 cpu and 40 gpu, `proj_b` without limits; cpu capped
/// annually at 1000, gpu monthly at 40, ram monthly at 100, storage over all time at 500, and
/// `misc` without any cap.
fn offering() -> Offering {
    let mut held = Holdings::new();
    for (r, month, c, v) in [
        (A, "2025-12", "cpu", "999"), // another year: not in the annual period
        (A, "2026-03", "cpu", "300"),
        (A, "2026-10", "cpu", "200"),
        (A, "2026-11", "cpu", "100"), // superseded by the records of the current month
        (A, "2025-06", "storage", "400"),
        (B, "2026-11", "cpu", "5"),
    ] {
        held.insert((r, m(month), c.into()), d(v));
    }
    Offering {
        allocations: vec![
            Allocation {
                uuid: A,
                backend_id: "proj_a".into(),
                name: Some("alpha".into()),
                state: None,
                limits: Some([("cpu".to_owned(), d("1000")), ("gpu".into(), d("40"))].into()),
            },
            Allocation {
                uuid: B,
                backend_id: "proj_b".into(),
                name: None,
                state: None,
                limits: None,
            },
        ],
        components: vec![
            cap("cpu", Some("annual"), Some("1000")),
            cap("gpu", Some("month"), Some("40")),
            cap("ram", Some("month"), Some("100")),
            cap("storage", Some("total"), Some("500")),
            cap("misc", None, None),
        ],
        held,
    }
}

fn run(cells: &[UsageCell]) -> Vec<ResourceStanding> {
    let o = offering();
    standings(&StandingInput {
        offering: &o,
        computed: cells,
        computed_months: MonthRange::new(m("2026-11"), m("2026-11")).unwrap(),
        // 15 days into November
        as_of: "2026-11-16T00:00:00Z".parse().unwrap(),
        billing_timezone: chrono_tz::UTC,
    })
}

fn find<'a>(s: &'a [ResourceStanding], r: &str, c: &str) -> &'a ComponentStanding {
    s.iter()
        .find(|x| x.backend_id == r)
        .unwrap()
        .components
        .iter()
        .find(|x| x.component == c)
        .unwrap()
}

fn limit(c: &ComponentStanding, kind: LimitKind) -> &LimitStanding {
    c.limits.iter().find(|l| l.kind == kind).unwrap()
}

fn cells() -> Vec<UsageCell> {
    vec![
        cell("proj_a", "2026-11", "cpu", "150"),
        cell("proj_a", "2026-11", "gpu", "30"),
        cell("proj_a", "2026-11", "ram", "30"),
        cell("proj_b", "2026-11", "cpu", "150"),
    ]
}

#[test]
fn annual_period_sums_waldurs_earlier_months_and_the_records_current_one() {
    let s = run(&cells());
    let cpu = find(&s, "proj_a", "cpu");
    assert_eq!(cpu.summed_over, Period::Annual);
    assert_eq!(
        (cpu.period_start, cpu.period_end),
        (Some(m("2026-01")), Some(m("2026-12")))
    );
    let months: Vec<(String, String, Source)> = cpu
        .months
        .iter()
        .map(|u| (u.month.to_string(), u.amount.to_string(), u.source))
        .collect();
    assert_eq!(
        months,
        [
            ("2026-03".into(), "300".into(), Source::Waldur),
            ("2026-10".into(), "200".into(), Source::Waldur),
            ("2026-11".into(), "150.00".into(), Source::Records),
        ]
    );
    assert_eq!(cpu.used, d("650"));
    assert_eq!(cpu.note, None);
    // 150 in 15 days is 10 a day: the 350 left last 35 days from 2026-11-16
    for kind in [LimitKind::Resource, LimitKind::Component] {
        let l = limit(cpu, kind);
        assert_eq!(l.limit, Some(d("1000")));
        assert_eq!(l.share_percent, Some(d("65.00")));
        assert_eq!(l.remaining, Some(d("350")));
        assert_eq!(
            l.reach,
            Reach::On {
                date: NaiveDate::from_ymd_opt(2026, 12, 21).unwrap(),
                at: "2026-12-21T00:00:00Z".parse().unwrap()
            }
        );
    }
}

#[test]
fn monthly_period_is_the_current_month_and_a_late_date_is_not_within_it() {
    let s = run(&cells());
    let gpu = find(&s, "proj_a", "gpu");
    assert_eq!(gpu.used, d("30"));
    // 2 a day, 10 left: 5 days
    assert_eq!(
        limit(gpu, LimitKind::Component).reach.to_string(),
        "2026-11-21"
    );
    assert_eq!(
        limit(gpu, LimitKind::Resource).share_percent,
        Some(d("75.00"))
    );
    let ram = find(&s, "proj_a", "ram");
    // 70 left at 2 a day: 35 days, after the month ends
    assert_eq!(
        limit(ram, LimitKind::Component).reach,
        Reach::NotWithinPeriod
    );
    assert_eq!(
        limit(ram, LimitKind::Component).share_percent,
        Some(d("30.00"))
    );
    // no own limit for ram: shown as such, never 0 %
    assert_eq!(limit(ram, LimitKind::Resource).limit, None);
    assert_eq!(limit(ram, LimitKind::Resource).share_percent, None);
    assert_eq!(limit(ram, LimitKind::Resource).reach, Reach::NoLimit);
}

#[test]
fn total_period_counts_every_month_held_and_no_usage_this_month_never_reaches() {
    let s = run(&cells());
    let st = find(&s, "proj_a", "storage");
    assert_eq!((st.summed_over, st.period_start), (Period::Total, None));
    assert_eq!(st.used, d("400"));
    assert_eq!(st.current_month, d("0"));
    let l = limit(st, LimitKind::Component);
    assert_eq!(l.share_percent, Some(d("80.00")));
    assert_eq!(l.reach, Reach::NotWithinPeriod);
    assert_eq!(st.note, None);
}

#[test]
fn missing_limits_and_missing_history_are_said() {
    let s = run(&cells());
    let b = s.iter().find(|r| r.backend_id == "proj_b").unwrap();
    assert!(!b.has_limits);
    let misc = find(&s, "proj_b", "misc");
    assert!(misc.period_assumed);
    assert!(misc
        .limits
        .iter()
        .all(|l| l.limit.is_none() && l.share_percent.is_none()));
    // the annual period began before the records and Waldur holds nothing earlier for proj_b
    let cpu = find(&s, "proj_b", "cpu");
    assert_eq!(
        cpu.used,
        d("150"),
        "records replace Waldur's figure of the month"
    );
    assert!(
        cpu.note.as_deref().unwrap().contains("2026-01..2026-10"),
        "{:?}",
        cpu.note
    );
}

#[test]
fn over_the_limit_is_reached_and_crosses_every_threshold_up_to_its_share() {
    let mut c = cells();
    c.push(cell("proj_a", "2026-11", "storage", "150"));
    let s = run(&c);
    let st = find(&s, "proj_a", "storage");
    assert_eq!(st.used, d("550"));
    let l = limit(st, LimitKind::Component);
    assert_eq!(l.reach, Reach::Reached);
    assert_eq!(l.share_percent, Some(d("110.00")));
    assert_eq!(l.remaining, Some(d("-50")));
    let crossed = crossings(&s, &[d("80"), d("100")]);
    let storage: Vec<_> = crossed
        .iter()
        .filter(|x| x.component == "storage")
        .collect();
    assert_eq!(storage.len(), 1);
    assert_eq!(storage[0].threshold_percent, d("100"));
    // gpu at 75 % crosses nothing, cpu at 65 % nothing
    assert!(crossed.iter().all(|x| x.component == "storage"));
    assert!(crossings(&s, &[d("111")]).is_empty());
}

#[test]
fn quarters_and_years() {
    assert_eq!(
        Period::Quarterly.months(m("2026-11")),
        Some((m("2026-10"), m("2026-12")))
    );
    assert_eq!(
        Period::Quarterly.months(m("2026-01")),
        Some((m("2026-01"), m("2026-03")))
    );
    assert_eq!(
        Period::Annual.months(m("2026-05")),
        Some((m("2026-01"), m("2026-12")))
    );
    assert_eq!(Period::parse(Some("")), None);
    assert_eq!(Period::parse(Some("total")), Some(Period::Total));
}
