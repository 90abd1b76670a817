//! Reads the genuine server captures in `fixtures/waldur-captures/` (see its PROVENANCE.md) with
//! the client's types and error rendering: what a real waldur-mastermind sent must decode and
//! read well.

use std::path::PathBuf;
use std::str::FromStr;

use reqwest::header::{HeaderMap, HeaderValue, LINK};
use rust_decimal::Decimal;
use serde_json::Value;
use tally_waldur::*;

fn exchanges() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/waldur-captures")
}

fn capture(name: &str) -> Value {
    let dir = exchanges();
    let path = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(name) && n.ends_with(".json"))
        })
        .unwrap_or_else(|| panic!("no capture {name}"));
    let text = std::fs::read_to_string(&path).expect("read capture");
    serde_json::from_str(&text).expect("capture is JSON")
}

/// The response body as the server sent it, with the recorded origin placeholder filled in.
fn body_text(c: &Value) -> String {
    serde_json::to_string(&c["response"]["body"])
        .expect("body")
        .replace("<API-URL>", "https://waldur.example.org")
}

fn decode<T: serde::de::DeserializeOwned>(name: &str) -> T {
    let c = capture(name);
    serde_json::from_str(&body_text(&c)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn rendered(name: &str) -> (u16, String) {
    let c = capture(name);
    let status = c["response"]["status"].as_u64().expect("status") as u16;
    let msg = ServerMessage::from_json(c["response"]["body"].clone());
    (status, msg.render())
}

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).expect("decimal")
}

#[test]
fn drf_errors_from_real_captures_render_readably() {
    let cases: &[(&str, u16, &str)] = &[
        ("14-", 400, "These components are invalid: foo."),
        ("15-", 400, "These components are invalid: bar, foo."),
        (
            "18-",
            400,
            "usages[0].amount: Ensure that there are no more than 2 decimal places.",
        ),
        ("20-", 400, "usages[0].amount: A valid number is required."),
        (
            "21-",
            400,
            "usages[0].amount: Ensure that there are no more than 20 digits in total.",
        ),
        (
            "22-",
            400,
            "resource: Object with uuid=00000000000000000000000000000000 does not exist.",
        ),
        (
            "23-",
            400,
            "Either plan_period or resource should be provided.",
        ),
        ("24-", 400, "usages: This field is required."),
        (
            "30-",
            400,
            "JSON parse error - Expecting value: line 1 column 61 (char 60)",
        ),
        ("35-", 400, "resource: Resource is not in valid state."),
        ("46-", 404, "Invalid page."),
        ("54-", 401, "Invalid token."),
        ("56-", 401, "Authentication credentials were not provided."),
        (
            "61-",
            403,
            "You do not have permission to perform this action.",
        ),
        ("65-", 404, "No Resource matches the given query."),
        ("67-", 404, "No Offering matches the given query."),
        ("70-", 405, "Method \"GET\" not allowed."),
    ];
    for (name, status, want) in cases {
        assert_eq!(rendered(name), (*status, (*want).to_owned()), "{name}");
    }
}

#[test]
fn structure_stays_accessible() {
    let c = capture("35-");
    let m = ServerMessage::from_json(c["response"]["body"].clone());
    assert_eq!(m.field("resource"), vec!["Resource is not in valid state."]);
    assert!(m.field("date").is_empty());
    let c = capture("18-");
    let m = ServerMessage::from_json(c["response"]["body"].clone());
    assert_eq!(
        m.messages(),
        vec![(
            "usages[0].amount".to_owned(),
            "Ensure that there are no more than 2 decimal places.".to_owned()
        )]
    );
    assert!(m.mentions("2 decimal places"));
}

#[test]
fn an_html_404_is_kept_short() {
    let c = capture("68-");
    let body = c["response"]["body"]
        .as_str()
        .expect("html text")
        .to_owned();
    let failure = ApiFailure {
        method: "GET".into(),
        path: "no-such-endpoint/".into(),
        status: 404,
        message: match serde_json::from_str::<Value>(&body) {
            Ok(v) => ServerMessage::Json(v),
            Err(_) => ServerMessage::Text(body.chars().take(300).collect()),
        },
        attempts: 1,
    };
    assert!(failure
        .to_string()
        .starts_with("GET no-such-endpoint/ answered 404"));
}

#[test]
fn usage_lists_read_exactly() {
    // Captured from a 7.x server that writes `usage` as a string.
    let usages: Vec<ComponentUsage> = decode("07-");
    let cpu = usages
        .iter()
        .find(|u| u.component == "cpu")
        .expect("cpu usage");
    assert_eq!(cpu.usage, d("130.75"));
    assert_eq!(
        cpu.billing_period,
        chrono::NaiveDate::from_ymd_opt(2026, 11, 1)
    );
    let beta: Vec<ComponentUsage> = decode("17-");
    assert!(beta.iter().any(|u| u.usage == d("-5.00")), "{beta:?}");
    // The same records as an 8.x server writes them: JSON numbers.
    let c = capture("07-");
    let mut body = body_text(&c);
    for (s, n) in [
        ("\"130.75\"", "130.75"),
        ("\"4.00\"", "4.0"),
        ("\"2048.25\"", "2048.25"),
    ] {
        body = body.replace(s, n);
    }
    let numeric: Vec<ComponentUsage> = serde_json::from_str(&body).expect("numeric usage");
    let cpu = numeric
        .iter()
        .find(|u| u.component == "cpu")
        .expect("cpu usage");
    assert_eq!(cpu.usage, d("130.75"));
}

#[test]
fn resources_read_with_nulls_and_field_selection() {
    let full: Vec<Resource> = decode("40-");
    assert_eq!(full.len(), 3);
    let alpha = &full[0];
    assert_eq!(alpha.backend_id.as_deref(), Some("proj_alpha"));
    assert_eq!(alpha.state, Some(ResourceState::Ok));
    assert!(
        alpha.limit_usage.is_none(),
        "null limit_usage reads as None"
    );
    assert!(alpha.report.is_none());
    assert!(alpha.options.is_none());
    assert_eq!(
        alpha.current_usages.as_ref().and_then(|m| m.get("gpu")),
        Some(&d("4.00"))
    );
    let some: Vec<Resource> = decode("39-");
    assert!(some.iter().all(|r| r.offering_name.is_none()));
    let provider: Vec<Resource> = decode("49-");
    assert!(!provider.is_empty());
    let one: Resource = decode("31-");
    assert_eq!(one.state, Some(ResourceState::Terminating));
    assert!(one.state.as_ref().is_some_and(ResourceState::accepts_usage));
    let gone: Resource = decode("34-");
    assert_eq!(gone.state, Some(ResourceState::Terminated));
    assert!(!gone
        .state
        .as_ref()
        .is_some_and(ResourceState::accepts_usage));
    let _: Resource = decode("72-");
    let _: Resource = decode("setup-14-");
}

#[test]
fn plan_periods_offerings_orders_providers() {
    let periods: Vec<PlanPeriod> = decode("37-");
    assert_eq!(periods[0].components.len(), 4);
    assert_eq!(periods[0].components[0].usage, d("130.75"));
    assert!(periods[0].end.is_none());
    let empty: Vec<PlanPeriod> = decode("01-");
    assert!(empty.iter().all(|p| p.components.is_empty()));

    for name in ["51-", "52-", "53-", "setup-09-"] {
        let o: Offering = decode(name);
        let cpu = o.component("cpu").unwrap_or_else(|| panic!("{name}: cpu"));
        assert_eq!(cpu.billing_type, Some(BillingType::Usage), "{name}");
        assert!(cpu
            .billing_type
            .as_ref()
            .is_some_and(BillingType::accepts_usage));
    }
    let o: Offering = decode("51-");
    let plan = &o.plans.as_ref().expect("plans")[0];
    assert_eq!(
        plan.prices.as_ref().and_then(|p| p.get("storage")),
        Some(&d("0.005"))
    );

    let order: Order = decode("setup-08-");
    assert_eq!(order.state, Some(OrderState::PendingProvider));
    assert_eq!(order.order_type, Some(OrderType::Create));
    let sp: ServiceProvider = decode("setup-02-");
    assert_eq!(sp.customer_name.as_deref(), Some("HPC Centre"));
    let status: ActionStatus = decode("setup-12-");
    assert_eq!(
        status.status.as_deref(),
        Some("Resource backend_id has been changed.")
    );
}

#[test]
fn link_header_of_a_real_capture() {
    let c = capture("43-");
    let link = c["response"]["headers"]["Link"]
        .as_str()
        .expect("Link")
        .replace("<API-URL>", "https://waldur.example.org");
    let mut h = HeaderMap::new();
    h.insert(LINK, HeaderValue::from_str(&link).expect("header"));
    let next = next_link(&h).expect("next");
    assert_eq!(
        next,
        "https://waldur.example.org/api/marketplace-resources/?field=uuid&field=backend_id&field=state&offering_uuid=e8c632838ace4e93ba932a06ccbb63c6&page=2&page_size=1"
    );
    let last = capture("45-");
    let link = last["response"]["headers"]["Link"]
        .as_str()
        .expect("Link")
        .replace("<API-URL>", "https://waldur.example.org");
    let mut h = HeaderMap::new();
    h.insert(LINK, HeaderValue::from_str(&link).expect("header"));
    assert_eq!(next_link(&h), None, "the last page has no next");
    let rels: Vec<String> = parse_link_header(&link)
        .into_iter()
        .flat_map(|l| l.rels)
        .collect();
    assert_eq!(rels, vec!["first", "prev", "last"]);
}

#[test]
fn request_bodies_match_the_captures() {
    let c = capture("02-");
    let sent = &c["request"]["body"];
    let ours = SetUsageRequest::current_month(
        uuid::Uuid::parse_str("49f75862116146d7bdc8a99ce8c611bc").expect("uuid"),
        vec![
            UsageItem {
                description: Some("CPU hours for current month".into()),
                ..UsageItem::new("cpu", d("120.50"))
            },
            UsageItem::new("gpu", d("4")),
            UsageItem::new("ram", d("2048.25")),
            UsageItem::new("storage", d("100")),
        ],
    );
    assert_eq!(&serde_json::to_value(&ours).expect("json"), sent);
}

// ---- plan periods, prices and invoice items (captures pp-*, docs/plan-periods.md) -------------

fn uuid(s: &str) -> uuid::Uuid {
    uuid::Uuid::try_parse(s).expect("uuid")
}

#[test]
fn rows_after_a_switch_attach_to_their_own_plan_periods() {
    // After a mid-month switch and a set_usage without plan_period, the genuine server holds two
    // cpu rows for the month: 10 under the old period (small), 25 under the new one (large).
    let periods: Vec<PlanPeriod> = decode("pp-20-");
    let rows: Vec<ComponentUsage> = decode("pp-19-");
    assert_eq!(periods.len(), 2);
    let old = periods
        .iter()
        .find(|p| p.end.is_some())
        .expect("closed period");
    let new = periods
        .iter()
        .find(|p| p.end.is_none())
        .expect("open period");
    assert_eq!(old.plan_name.as_deref(), Some("small"));
    assert_eq!(new.plan_name.as_deref(), Some("large"));
    assert!(old.end.unwrap() < new.start.unwrap(), "Waldur leaves a gap");
    let held = attach_plan_periods(rows, &periods);
    let cpu: Vec<(Decimal, Option<uuid::Uuid>)> = held
        .iter()
        .filter(|h| h.row.component == "cpu")
        .map(|h| (h.row.usage, h.plan_period))
        .collect();
    assert_eq!(cpu.len(), 2);
    assert!(cpu.contains(&(d("10"), Some(old.uuid))));
    assert!(cpu.contains(&(d("25"), Some(new.uuid))));
    assert!(held.iter().all(|h| h.plan_period.is_some()));
}

#[test]
fn offering_pricing_reads_prices_and_billing_types_of_the_real_server() {
    let o: Offering = decode("pp-04-");
    let p = OfferingPricing::from_offering(&o);
    assert_eq!(p.offering_type.as_deref(), Some("Marketplace.Slurm"));
    assert_eq!(p.billing_types["cpu"], Some(BillingType::Usage));
    assert_eq!(p.billing_types["ram"], Some(BillingType::Limit));
    let small = p
        .plans
        .iter()
        .find(|(_, (n, _))| n.as_deref() == Some("small"))
        .map(|(u, _)| *u)
        .expect("plan small");
    assert_eq!(p.price(small, "cpu"), Some(d("0.5")));
    assert_eq!(p.price(small, "gpu"), Some(d("2")));
    // A component added after the plans were made has no plan component: no price at all.
    // (that capture asked for `components` and `plans` only; the client always adds `uuid`)
    let mut later = capture("pp-32-")["response"]["body"].clone();
    later["uuid"] = Value::from(o.uuid.simple().to_string());
    let later: Offering = serde_json::from_value(later).expect("offering");
    let p = OfferingPricing::from_offering(&later);
    assert!(p.billing_types.contains_key("storage"));
    assert!(p
        .plans
        .keys()
        .all(|plan| p.price(*plan, "storage").is_none()));
}

#[test]
fn invoice_items_read_exactly_including_the_correction_after_a_switch() {
    let items: Vec<InvoiceItem> = decode("pp-27-");
    let old_period = uuid("c8d10454a45143c9b3c5357c121c5bfb");
    let periods: Vec<PlanPeriod> = decode("pp-26-");
    let old = periods.iter().find(|p| p.uuid == old_period).expect("old");
    let cpu: Vec<&InvoiceItem> = items
        .iter()
        .filter(|i| i.details.offering_component_type.as_deref() == Some("cpu"))
        .collect();
    // Three cpu items: the old period's original (10 @ 0.50, end a few ms past the period's
    // end), its correction (8 @ 0.50, named after the NEW plan) and the new period's 17 @ 1.25.
    assert_eq!(cpu.len(), 3);
    let at_old_price: Vec<&&InvoiceItem> =
        cpu.iter().filter(|i| i.unit_price == d("0.5")).collect();
    assert_eq!(at_old_price.len(), 2);
    assert!(at_old_price
        .iter()
        .any(|i| i.quantity == d("10") && i.end > old.end));
    assert!(at_old_price.iter().any(|i| i.quantity == d("8")
        && i.end == old.end
        && i.details.plan_name.as_deref() == Some("large")));
    assert!(cpu
        .iter()
        .any(|i| i.quantity == d("17") && i.unit_price == d("1.25")));
    assert!(cpu.iter().all(|i| i.is_usage_item()));
    // The limit component's items bill the ordered limit per month, not usage.
    let ram: Vec<&InvoiceItem> = items
        .iter()
        .filter(|i| i.details.offering_component_type.as_deref() == Some("ram"))
        .collect();
    assert!(
        !ram.is_empty()
            && ram
                .iter()
                .all(|i| !i.is_usage_item() && i.quantity == d("100"))
    );
    assert!(items
        .iter()
        .all(|i| i.resource_uuid() == Some(uuid("1177703b6a7e4fe99807eea320d65271"))));
    // A provider owner's token lists none, without an error (pp-11).
    let hidden: Vec<InvoiceItem> = decode("pp-11-");
    assert!(hidden.is_empty());
}
