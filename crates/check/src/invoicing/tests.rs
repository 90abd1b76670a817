//! One world, the genuine server's (captures pp-*): a resource switched mid-month from plan
//! "small" (cpu 0.50, gpu 2.00) to "large" (cpu 1.25, gpu 3.00); ram is limit-billed; storage was
//! added to the offering after the plans (no plan component).

use super::*;
use std::str::FromStr;
use tally_waldur::InvoiceItemDetails;

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}
fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}
fn nov() -> BillingMonth {
    "2026-11".parse().unwrap()
}

const R: Uuid = Uuid::from_u128(0x1177703b_6a7e_4fe9_9807_eea320d65271);
const SMALL_PERIOD: Uuid = Uuid::from_u128(0xc8d10454_a451_43c9_b3c5_357c121c5bfb);
const LARGE_PERIOD: Uuid = Uuid::from_u128(0xed44b265_ba18_4c73_ad8b_0642a30e5186);
const SMALL: Uuid = Uuid::from_u128(1);
const LARGE: Uuid = Uuid::from_u128(2);

struct World {
    periods: BTreeMap<Uuid, Vec<ResourcePeriod>>,
    pricing: OfferingPricing,
    expected: Vec<ExpectedFigure>,
    held: Vec<HeldRow>,
    items: InvoiceItemsRead,
}

fn prices(pairs: &[(&str, &str)]) -> BTreeMap<String, Decimal> {
    pairs.iter().map(|(c, p)| (c.to_string(), d(p))).collect()
}

fn figure(period: Option<Uuid>, component: &str, amount: &str) -> ExpectedFigure {
    ExpectedFigure {
        backend_id: "pp_alpha".into(),
        resource: R,
        month: nov(),
        component: component.into(),
        plan_period: period,
        amount: d(amount),
    }
}

fn row(period: Option<Uuid>, component: &str, usage: &str) -> HeldRow {
    HeldRow {
        resource: R,
        month: nov(),
        component: component.into(),
        plan_period: period,
        usage: d(usage),
    }
}

/// The cell of resource `R` in November.
fn cell(component: &str) -> FindingCell {
    FindingCell::new(R, nov(), component)
}

/// tally's cpu parts of November under the small and the large plan period.
fn cpu_parts(small: &str, large: &str) -> Vec<ExpectedFigure> {
    vec![
        figure(Some(SMALL_PERIOD), "cpu", small),
        figure(Some(LARGE_PERIOD), "cpu", large),
    ]
}

/// The cpu rows Waldur holds for November under the small and the large plan period.
fn cpu_rows(small: &str, large: &str) -> Vec<HeldRow> {
    vec![
        row(Some(SMALL_PERIOD), "cpu", small),
        row(Some(LARGE_PERIOD), "cpu", large),
    ]
}

fn item(
    n: u128,
    component: &str,
    quantity: &str,
    price: &str,
    start: &str,
    end: &str,
) -> InvoiceItem {
    InvoiceItem {
        uuid: Uuid::from_u128(0x1000 + n),
        name: None,
        resource: Some(format!(
            "https://w.example/api/marketplace-resources/{}/",
            R.simple()
        )),
        invoice: None,
        quantity: d(quantity),
        unit_price: d(price),
        unit: Some("quantity".into()),
        measured_unit: None,
        start: Some(at(start)),
        end: Some(at(end)),
        price: None,
        details: InvoiceItemDetails {
            offering_component_type: Some(component.into()),
            ..Default::default()
        },
    }
}

const SMALL_START: &str = "2026-11-15T12:04:36.055312Z";
const SMALL_END: &str = "2026-11-15T12:04:38.009602Z";
const LARGE_START: &str = "2026-11-15T12:04:38.011027Z";
const MONTH_END: &str = "2026-11-30T23:59:59.999999Z";

/// The right state: tally split the month 8 (small) + 17 (large), each period holds its part,
/// and the invoice bills each part at its own plan.
fn world() -> World {
    let mut periods = BTreeMap::new();
    periods.insert(
        R,
        vec![
            ResourcePeriod {
                uuid: SMALL_PERIOD,
                plan: Some(SMALL),
                plan_name: Some("small".into()),
                start: Some(at(SMALL_START)),
                end: Some(at(SMALL_END)),
            },
            ResourcePeriod {
                uuid: LARGE_PERIOD,
                plan: Some(LARGE),
                plan_name: Some("large".into()),
                start: Some(at(LARGE_START)),
                end: None,
            },
        ],
    );
    let mut plans = BTreeMap::new();
    plans.insert(
        SMALL,
        (
            Some("small".into()),
            prices(&[("cpu", "0.50"), ("gpu", "2.00"), ("ram", "0")]),
        ),
    );
    plans.insert(
        LARGE,
        (
            Some("large".into()),
            prices(&[("cpu", "1.25"), ("gpu", "3.00"), ("ram", "0")]),
        ),
    );
    let billing_types = [
        ("cpu", BillingType::Usage),
        ("gpu", BillingType::Usage),
        ("ram", BillingType::Limit),
        ("storage", BillingType::Usage),
    ]
    .into_iter()
    .map(|(c, b)| (c.to_string(), Some(b)))
    .collect();
    World {
        periods,
        pricing: OfferingPricing {
            offering: Uuid::from_u128(9),
            offering_type: Some("Marketplace.Slurm".into()),
            billing_types,
            plans,
        },
        expected: cpu_parts("8", "17"),
        held: cpu_rows("8", "17"),
        items: InvoiceItemsRead::Visible(vec![
            item(1, "cpu", "8", "0.5", SMALL_START, SMALL_END),
            item(2, "cpu", "17", "1.25", LARGE_START, MONTH_END),
        ]),
    }
}

fn run(w: &World) -> Vec<InvoicingFinding> {
    run_in(w, nov())
}

/// [`assess`] of the world when the server's current month is `current_month`.
fn run_in(w: &World, current_month: BillingMonth) -> Vec<InvoicingFinding> {
    assess(&InvoicingInput {
        current_month,
        billing_timezone: chrono_tz::UTC,
        expected: &w.expected,
        periods: &w.periods,
        pricing: &w.pricing,
        held: &w.held,
        invoice_items: Some(&w.items),
    })
}

fn kinds(f: &[InvoicingFinding]) -> Vec<String> {
    f.iter()
        .map(|x| {
            let kind = serde_json::to_value(x).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_owned();
            // The name the text output shows is the JSON `kind`.
            assert_eq!(x.kind(), kind);
            kind
        })
        .collect()
}

/// `check --format json` lists each finding with where to fix it and what to do.
#[test]
fn findings_in_json_carry_severity_fix_at_and_advice() {
    #[derive(serde::Serialize)]
    struct Doc {
        #[serde(serialize_with = "serialize_findings")]
        invoicing: Vec<InvoicingFinding>,
    }
    let f = InvoicingFinding::ComponentWithoutPrice {
        backend_id: "pp_alpha".into(),
        cell: FindingCell {
            resource: Uuid::nil(),
            month: nov(),
            component: "storage".into(),
        },
        plan: None,
        plan_name: Some("large".into()),
    };
    let v = serde_json::to_value(Doc { invoicing: vec![f] }).unwrap();
    let f = &v["invoicing"][0];
    assert_eq!(f["kind"], "component_without_price");
    assert_eq!(f["severity"], "error");
    assert_eq!(f["fix_at"], "offering_plan");
    assert!(f["advice"]
        .as_str()
        .unwrap()
        .contains("plan large has no price for storage"));
}

#[test]
fn a_month_split_and_billed_per_plan_period_has_no_findings() {
    assert_eq!(run(&world()), vec![]);
}

#[test]
fn usage_under_no_plan_period_is_named_with_where_to_fix_it() {
    let mut w = world();
    w.held.push(row(None, "gpu", "3"));
    w.expected.push(figure(Some(LARGE_PERIOD), "gpu", "3"));
    let f = run(&w);
    assert!(f.contains(&InvoicingFinding::UsageWithoutPlanPeriod {
        cell: cell("gpu"),
        held: d("3"),
    }));
    let found = f
        .iter()
        .find(|x| matches!(x, InvoicingFinding::UsageWithoutPlanPeriod { .. }))
        .unwrap();
    assert_eq!(found.fix_at(), FixAt::ResourcePlanPeriod);
    assert_eq!(found.severity(), Severity::Error);
}

#[test]
fn a_component_the_plans_do_not_price_is_an_error_and_a_zero_price_a_warning() {
    let mut w = world();
    w.expected.push(figure(Some(LARGE_PERIOD), "storage", "40"));
    w.held.push(row(Some(LARGE_PERIOD), "storage", "40"));
    w.pricing
        .plans
        .get_mut(&LARGE)
        .unwrap()
        .1
        .insert("gpu".into(), Decimal::ZERO);
    w.expected.push(figure(Some(LARGE_PERIOD), "gpu", "2"));
    w.held.push(row(Some(LARGE_PERIOD), "gpu", "2"));
    if let InvoiceItemsRead::Visible(items) = &mut w.items {
        items.push(item(3, "gpu", "2", "0", LARGE_START, MONTH_END));
    }
    let f = run(&w);
    let unpriced: Vec<_> = f
        .iter()
        .filter(|x| matches!(x, InvoicingFinding::ComponentWithoutPrice { .. }))
        .collect();
    // tally's storage is all under the large period: only large is named.
    assert_eq!(unpriced.len(), 1, "{f:?}");
    assert!(
        matches!(unpriced[0], InvoicingFinding::ComponentWithoutPrice { plan_name: Some(n), .. } if n == "large")
    );
    assert!(unpriced.iter().all(|x| x.fix_at() == FixAt::OfferingPlan));
    let zero: Vec<_> = f
        .iter()
        .filter(|x| matches!(x, InvoicingFinding::ZeroPrice { .. }))
        .collect();
    assert_eq!(zero.len(), 1);
    assert_eq!(zero[0].severity(), Severity::Warning);
    assert!(zero[0].advice().contains("plan large prices gpu at 0.00"));
    // A month not split over the periods: both plans of the month bill it, both lack storage.
    let mut w2 = world();
    w2.expected.push(figure(None, "storage", "40"));
    let f2 = run(&w2);
    let unpriced2 = f2
        .iter()
        .filter(|x| matches!(x, InvoicingFinding::ComponentWithoutPrice { .. }))
        .count();
    assert_eq!(unpriced2, 2, "{f2:?}");
    // small prices gpu at 2.00: only large is named.
    assert!(
        matches!(zero[0], InvoicingFinding::ZeroPrice { plan_name: Some(n), .. } if n == "large")
    );
}

#[test]
fn a_limit_component_reported_as_usage_is_named() {
    let mut w = world();
    w.expected.push(figure(Some(LARGE_PERIOD), "ram", "50"));
    let f = run(&w);
    assert_eq!(kinds(&f), ["limit_component_reported"]);
    assert_eq!(f[0].fix_at(), FixAt::TallyConfig);
}

#[test]
fn a_row_under_a_period_that_does_not_cover_its_month_is_named() {
    let mut w = world();
    // December: the small period ended in November, yet a December row sits under it.
    let dec: BillingMonth = "2026-12".parse().unwrap();
    w.held = vec![HeldRow {
        month: dec,
        ..row(Some(SMALL_PERIOD), "cpu", "4")
    }];
    w.expected = vec![ExpectedFigure {
        month: dec,
        ..figure(Some(SMALL_PERIOD), "cpu", "4")
    }];
    w.items = InvoiceItemsRead::Visible(vec![]);
    let f = run_in(&w, dec);
    assert!(f.iter().any(|x| matches!(x, InvoicingFinding::PeriodOutsideMonth { plan_period, .. } if *plan_period == SMALL_PERIOD)), "{f:?}");
}

#[test]
fn one_figure_against_several_rows_is_a_split_mismatch_even_when_the_sum_is_right() {
    let mut w = world();
    // What a plain set_usage after the switch leaves (pp-19): 10 under small, 25 under large,
    // while tally computed 25 for the month and did not split it. 8 + 17 would sum right too.
    w.expected = vec![figure(None, "cpu", "25")];
    for held in [["10", "25"], ["8", "17"]] {
        w.held = cpu_rows(held[0], held[1]);
        w.items = InvoiceItemsRead::EmptyMaybeHidden;
        let f = run(&w);
        assert_eq!(kinds(&f), ["split_mismatch"], "{held:?}");
        assert_eq!(f[0].fix_at(), FixAt::TallyPush);
    }
    // Split figures against the wrong rows.
    w.expected = cpu_parts("8", "17");
    w.held = cpu_rows("10", "25");
    let f = run(&w);
    assert_eq!(kinds(&f), ["split_mismatch"]);
    match &f[0] {
        InvoicingFinding::SplitMismatch { held, expected, .. } => {
            assert_eq!(
                held,
                &vec![(Some(SMALL_PERIOD), d("10")), (Some(LARGE_PERIOD), d("25"))]
            );
            assert_eq!(
                expected,
                &vec![(Some(SMALL_PERIOD), d("8")), (Some(LARGE_PERIOD), d("17"))]
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_invoice_item_that_does_not_bill_tallys_part_is_named_with_its_price() {
    let mut w = world();
    w.items = InvoiceItemsRead::Visible(vec![
        item(1, "cpu", "10", "0.5", SMALL_START, SMALL_END),
        item(2, "cpu", "17", "1.25", LARGE_START, MONTH_END),
    ]);
    let f = run(&w);
    assert_eq!(
        f,
        vec![InvoicingFinding::InvoiceQuantityDiffers {
            cell: cell("cpu"),
            plan_period: Some(SMALL_PERIOD),
            item: Uuid::from_u128(0x1001),
            quantity: d("10"),
            expected_quantity: d("8"),
            unit_price: d("0.5"),
        }]
    );
}

#[test]
fn the_correction_after_a_switch_shows_as_a_duplicate_item_billed_twice() {
    let mut w = world();
    // pp-27: the old period's original item (10, ending a few ms past the period) and the
    // correction's (8, named after the new plan) both bill the small period.
    w.items = InvoiceItemsRead::Visible(vec![
        item(
            1,
            "cpu",
            "10",
            "0.5",
            SMALL_START,
            "2026-11-15T12:04:38.030436Z",
        ),
        item(4, "cpu", "8", "0.5", SMALL_START, SMALL_END),
        item(2, "cpu", "17", "1.25", LARGE_START, MONTH_END),
    ]);
    let f = run(&w);
    assert_eq!(
        kinds(&f),
        ["invoice_quantity_differs", "duplicate_invoice_item"]
    );
    assert!(
        matches!(&f[0], InvoicingFinding::InvoiceQuantityDiffers { quantity, expected_quantity, .. }
        if *quantity == d("18") && *expected_quantity == d("8"))
    );
    assert_eq!(f[1].fix_at(), FixAt::WaldurStaff);
}

#[test]
fn items_hidden_from_the_token_are_not_judged() {
    let mut w = world();
    w.items = InvoiceItemsRead::EmptyMaybeHidden;
    assert_eq!(run(&w), vec![]);
    w.items = InvoiceItemsRead::NotPermitted;
    assert_eq!(run(&w), vec![]);
    // Only the items listed are compared: an absent item (not yet made, or another
    // organisation's invoice) is no finding of its own.
    w.items = InvoiceItemsRead::Visible(vec![item(2, "cpu", "17", "1.25", LARGE_START, MONTH_END)]);
    assert_eq!(run(&w), vec![]);
}

#[test]
fn the_slurm_package_type_bills_minutes_as_hours_rounded_up() {
    let pkg = Some(SLURM_PACKAGE_TYPE);
    assert_eq!(invoiced_quantity(pkg, "cpu", d("90")), d("2"));
    assert_eq!(invoiced_quantity(pkg, "cpu", d("60")), d("1"));
    assert_eq!(invoiced_quantity(pkg, "cpu", d("60.01")), d("2"));
    assert_eq!(invoiced_quantity(pkg, "cpu", d("0")), d("0"));
    assert_eq!(invoiced_quantity(pkg, "ram", d("61440")), d("1"));
    assert_eq!(invoiced_quantity(pkg, "ram", d("61441")), d("2"));
    assert_eq!(
        invoiced_quantity(Some("Marketplace.Slurm"), "cpu", d("90.25")),
        d("90.25")
    );
    // The package type's items compared through the conversion.
    let mut w = world();
    w.pricing.offering_type = Some(SLURM_PACKAGE_TYPE.into());
    w.expected = cpu_parts("90", "121");
    w.held = cpu_rows("90", "121");
    w.items = InvoiceItemsRead::Visible(vec![
        item(1, "cpu", "2", "0.5", SMALL_START, SMALL_END),
        item(2, "cpu", "121", "1.25", LARGE_START, MONTH_END),
    ]);
    let f = run(&w);
    assert!(
        matches!(&f[..], [InvoicingFinding::InvoiceQuantityDiffers { plan_period: Some(p), expected_quantity, .. }]
        if *p == LARGE_PERIOD && *expected_quantity == d("3")),
        "{f:?}"
    );
}

/// `tally check --format json` is a documented contract (docs/plan-periods.md, README): every
/// kind of finding, as the report prints it, to the byte.
#[test]
fn the_json_of_every_finding_is_pinned() {
    let (u1, u2, u3) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
    let findings = vec![
        InvoicingFinding::UsageWithoutPlanPeriod {
            cell: cell("gpu"),
            held: d("3"),
        },
        InvoicingFinding::ComponentWithoutPrice {
            backend_id: "pp_alpha".into(),
            cell: cell("storage"),
            plan: Some(LARGE),
            plan_name: Some("large".into()),
        },
        InvoicingFinding::ZeroPrice {
            backend_id: "pp_alpha".into(),
            cell: cell("gpu"),
            plan: None,
            plan_name: None,
        },
        InvoicingFinding::LimitComponentReported {
            backend_id: "pp_alpha".into(),
            cell: cell("ram"),
            amount: d("50"),
        },
        InvoicingFinding::PeriodOutsideMonth {
            cell: FindingCell {
                resource: R,
                month: "2026-12".parse().unwrap(),
                component: "cpu".into(),
            },
            plan_period: SMALL_PERIOD,
            start: Some(at(SMALL_START)),
            end: None,
        },
        InvoicingFinding::SplitMismatch {
            backend_id: "pp_alpha".into(),
            cell: cell("cpu"),
            held: vec![(Some(SMALL_PERIOD), d("10")), (Some(LARGE_PERIOD), d("25"))],
            expected: vec![(None, d("25.00"))],
        },
        InvoicingFinding::InvoiceQuantityDiffers {
            cell: cell("cpu"),
            plan_period: Some(SMALL_PERIOD),
            item: u1,
            quantity: d("18"),
            expected_quantity: d("8"),
            unit_price: d("0.5"),
        },
        InvoicingFinding::DuplicateInvoiceItem {
            cell: cell("cpu"),
            plan_period: None,
            items: vec![u2, u3],
            quantities: vec![d("10"), d("8")],
        },
    ];
    let report = crate::CheckReport {
        invoicing: findings,
        ..Default::default()
    };
    let json = serde_json::to_string_pretty(&report).unwrap();
    let pinned = r#"{
  "months": [],
  "agreeing": 0,
  "differences": [],
  "users_compared": false,
  "agreeing_users": 0,
  "user_differences": [],
  "invoicing": [
    {
      "advice": "the resource had no plan period when the usage was stored: Waldur keeps it and never invoices it; give the resource a plan (a plan period covering the month) and report again",
      "component": "gpu",
      "fix_at": "resource_plan_period",
      "held": "3",
      "kind": "usage_without_plan_period",
      "month": "2026-11",
      "resource": "1177703b-6a7e-4fe9-9807-eea320d65271",
      "severity": "error"
    },
    {
      "advice": "plan large has no price for storage: add the component to the plan (update_prices) or drop it from tally's [components]",
      "backend_id": "pp_alpha",
      "component": "storage",
      "fix_at": "offering_plan",
      "kind": "component_without_price",
      "month": "2026-11",
      "plan": "00000000-0000-0000-0000-000000000002",
      "plan_name": "large",
      "resource": "1177703b-6a7e-4fe9-9807-eea320d65271",
      "severity": "error"
    },
    {
      "advice": "plan ? prices gpu at 0.00: the invoice item bills nothing",
      "backend_id": "pp_alpha",
      "component": "gpu",
      "fix_at": "offering_plan",
      "kind": "zero_price",
      "month": "2026-11",
      "plan": null,
      "plan_name": null,
      "resource": "1177703b-6a7e-4fe9-9807-eea320d65271",
      "severity": "warning"
    },
    {
      "advice": "ram is billed from its limit, not from usage: remove it from tally's [components] or make the offering component usage-billed",
      "amount": "50",
      "backend_id": "pp_alpha",
      "component": "ram",
      "fix_at": "tally_config",
      "kind": "limit_component_reported",
      "month": "2026-11",
      "resource": "1177703b-6a7e-4fe9-9807-eea320d65271",
      "severity": "error"
    },
    {
      "advice": "the row is stored under a plan period that does not cover its month: report the month under the period active in it",
      "component": "cpu",
      "end": null,
      "fix_at": "tally_push",
      "kind": "period_outside_month",
      "month": "2026-12",
      "plan_period": "c8d10454-a451-43c9-b3c5-357c121c5bfb",
      "resource": "1177703b-6a7e-4fe9-9807-eea320d65271",
      "severity": "error",
      "start": "2026-11-15T12:04:36.055312Z"
    },
    {
      "advice": "the month is held in several plan-period rows that do not carry tally's parts: report each part under its own plan period (set_usage with plan_period)",
      "backend_id": "pp_alpha",
      "component": "cpu",
      "expected": [
        [
          null,
          "25.00"
        ]
      ],
      "fix_at": "tally_push",
      "held": [
        [
          "c8d10454-a451-43c9-b3c5-357c121c5bfb",
          "10"
        ],
        [
          "ed44b265-ba18-4c73-ad8b-0642a30e5186",
          "25"
        ]
      ],
      "kind": "split_mismatch",
      "month": "2026-11",
      "resource": "1177703b-6a7e-4fe9-9807-eea320d65271",
      "severity": "error"
    },
    {
      "advice": "the invoice item does not bill tally's figure: report the figure again under that plan period",
      "component": "cpu",
      "expected_quantity": "8",
      "fix_at": "tally_push",
      "item": "00000000-0000-0000-0000-000000000001",
      "kind": "invoice_quantity_differs",
      "month": "2026-11",
      "plan_period": "c8d10454-a451-43c9-b3c5-357c121c5bfb",
      "quantity": "18",
      "resource": "1177703b-6a7e-4fe9-9807-eea320d65271",
      "severity": "error",
      "unit_price": "0.5"
    },
    {
      "advice": "the old plan period was changed after the switch and Waldur billed it twice: it cannot correct this itself; ask Waldur staff to remove the extra item",
      "component": "cpu",
      "fix_at": "waldur_staff",
      "items": [
        "00000000-0000-0000-0000-000000000002",
        "00000000-0000-0000-0000-000000000003"
      ],
      "kind": "duplicate_invoice_item",
      "month": "2026-11",
      "plan_period": null,
      "quantities": [
        "10",
        "8"
      ],
      "resource": "1177703b-6a7e-4fe9-9807-eea320d65271",
      "severity": "error"
    }
  ]
}"#;
    assert_eq!(json, pinned, "{json}");
}
