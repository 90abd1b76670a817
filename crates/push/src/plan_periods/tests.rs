use serde_json::json;

use super::*;
use crate::test_values::d;

fn u(n: u8) -> Uuid {
    Uuid::from_bytes([n; 16])
}

const R: u8 = 1;
const SMALL: u8 = 2;
const LARGE: u8 = 3;

fn month() -> BillingMonth {
    "2026-11".parse().expect("month")
}

fn now() -> DateTime<Utc> {
    "2026-11-20T00:00:00Z".parse().expect("now")
}

/// small until the 15th noon, large since (the genuine server's switch, pp-16).
fn periods() -> Vec<PlanPeriod> {
    serde_json::from_value(json!([
        {"uuid": u(SMALL), "plan_name": "small", "start": "2026-11-01T00:00:00Z", "end": "2026-11-15T12:04:38.009602Z", "components": []},
        {"uuid": u(LARGE), "plan_name": "large", "start": "2026-11-15T12:04:38.011027Z", "end": null, "components": []},
    ]))
    .expect("periods")
}

fn row(period: Option<u8>, component: &str, usage: &str) -> HeldUsage {
    HeldUsage {
        row: serde_json::from_value(
            json!({"uuid": Uuid::new_v4(), "type": component, "usage": usage}),
        )
        .expect("row"),
        plan_period: period.map(u),
    }
}

fn part(period: Option<u8>, component: &str, amount: &str) -> PlanPartCell {
    PlanPartCell {
        resource: "alpha".into(),
        period: month(),
        component: component.into(),
        plan_period: period.map(u),
        amount: d(amount),
    }
}

fn plan(parts: &[PlanPartCell], held: &[HeldUsage]) -> PeriodPlan {
    plan_guarded(parts, held, DropGuard::default())
}

fn plan_guarded(parts: &[PlanPartCell], held: &[HeldUsage], drop_guard: DropGuard) -> PeriodPlan {
    plan_periods(&PeriodPlanInput {
        resource: u(R),
        backend_id: "alpha",
        month: month(),
        now: now(),
        parts,
        periods: &periods(),
        held,
        drop_guard,
    })
}

#[test]
fn each_part_goes_to_its_own_period_and_a_final_old_part_is_not_resent() {
    // Reported 8 before the switch (still right); after it, large's part 17 is new.
    let p = plan(
        &[
            part(Some(SMALL), "cpu", "8.00"),
            part(Some(LARGE), "cpu", "17.00"),
        ],
        &[row(Some(SMALL), "cpu", "8")],
    );
    assert_eq!(p.unchanged.len(), 1);
    assert_eq!(p.unchanged[0].plan_period, Some(u(SMALL)));
    assert_eq!(p.requests.len(), 1);
    assert_eq!(p.requests[0].plan_period, u(LARGE));
    assert_eq!(p.requests[0].items, vec![("cpu".to_string(), d("17.00"))]);
    assert_eq!(p.requests[0].plan_name.as_deref(), Some("large"));
    assert!(p.refused.is_empty());
    // Once both are held, nothing is sent.
    let p = plan(
        &[
            part(Some(SMALL), "cpu", "8.00"),
            part(Some(LARGE), "cpu", "17.00"),
        ],
        &[row(Some(SMALL), "cpu", "8"), row(Some(LARGE), "cpu", "17")],
    );
    assert!(p.requests.is_empty() && p.refused.is_empty());
    assert_eq!(p.unchanged.len(), 2);
}

#[test]
fn an_ended_period_holding_another_figure_is_refused_not_sent() {
    // 10 was reported before the switch; the job time up to the switch made it 12: the server
    // would bill 12 as a second item beside 10.
    let p = plan(
        &[
            part(Some(SMALL), "cpu", "12.00"),
            part(Some(LARGE), "cpu", "13.00"),
        ],
        &[row(Some(SMALL), "cpu", "10")],
    );
    assert_eq!(p.requests.len(), 1, "{p:?}");
    assert_eq!(p.requests[0].plan_period, u(LARGE));
    match &p.refused[..] {
        [PeriodRefusal::OldPeriodFinal {
            part,
            held,
            plan_name,
        }] => {
            assert_eq!(part.plan_period, Some(u(SMALL)));
            assert_eq!(*held, d("10"));
            assert_eq!(part.amount, d("12.00"));
            assert_eq!(plan_name.as_deref(), Some("small"));
        }
        other => panic!("{other:?}"),
    }
    assert!(p.refused[0].why().contains("second invoice item"));
}

#[test]
fn an_ended_period_without_a_row_is_written_once() {
    // Nothing was reported before the switch: the old period's first row is billed right.
    let p = plan(
        &[
            part(Some(SMALL), "cpu", "12.00"),
            part(Some(LARGE), "cpu", "13.00"),
        ],
        &[],
    );
    let periods: Vec<Uuid> = p.requests.iter().map(|r| r.plan_period).collect();
    assert_eq!(periods, vec![u(SMALL), u(LARGE)]);
    assert!(p.refused.is_empty());
}

#[test]
fn time_in_no_plan_period_is_refused_and_zero_parts_need_no_row() {
    let p = plan(
        &[part(None, "cpu", "3.00"), part(Some(LARGE), "cpu", "0.00")],
        &[],
    );
    assert!(p.requests.is_empty());
    assert!(
        matches!(&p.refused[..], [PeriodRefusal::NoPlanPeriod { part }] if part.amount == d("3.00"))
    );
    assert_eq!(p.unchanged.len(), 1);
}

#[test]
fn a_part_falling_past_the_drop_guard_is_held_back_unless_allowed() {
    // The open period's row holds 100; the records now give 90 (-10 %, past the 5 % default):
    // held back like a whole-month cell. 96 (-4 %) passes; --allow-decrease sends 90.
    let held = [row(Some(SMALL), "cpu", "8"), row(Some(LARGE), "cpu", "100")];
    let parts = |large: &str| {
        [
            part(Some(SMALL), "cpu", "8.00"),
            part(Some(LARGE), "cpu", large),
        ]
    };
    let p = plan(&parts("90.00"), &held);
    assert!(p.requests.is_empty(), "{p:?}");
    match &p.refused[..] {
        [PeriodRefusal::DecreaseHeldBack {
            part,
            held,
            limit,
            plan_name,
        }] => {
            assert_eq!(part.plan_period, Some(u(LARGE)));
            assert_eq!(
                (*held, part.amount, *limit),
                (d("100"), d("90.00"), d("0.05"))
            );
            assert_eq!(plan_name.as_deref(), Some("large"));
        }
        other => panic!("{other:?}"),
    }
    let why = p.refused[0].why();
    assert!(
        why.contains("-10%") && why.contains("--allow-decrease"),
        "{why}"
    );
    assert_eq!(
        serde_json::to_value(&p.refused[0]).expect("json")["kind"],
        "decrease_held_back"
    );

    let small_fall = plan(&parts("96.00"), &held);
    assert!(small_fall.refused.is_empty(), "{small_fall:?}");
    assert_eq!(
        small_fall.requests[0].items,
        vec![("cpu".to_owned(), d("96.00"))]
    );

    let allowed = DropGuard {
        allow: true,
        ..DropGuard::default()
    };
    let p = plan_guarded(&parts("90.00"), &held, allowed);
    assert!(p.refused.is_empty(), "{p:?}");
    assert_eq!(p.requests[0].plan_period, u(LARGE));
    assert_eq!(p.requests[0].items, vec![("cpu".to_owned(), d("90.00"))]);

    // An increase is never held back.
    let up = plan(&parts("150.00"), &held);
    assert!(up.refused.is_empty() && up.requests.len() == 1, "{up:?}");
}
