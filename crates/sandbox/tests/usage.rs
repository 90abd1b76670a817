//! SEMANTICS.md §10 checklist, one test per rule, plus the captured behaviours of set_usage.

mod common;
use common::*;
use serde_json::json;

#[tokio::test]
async fn rule1_keyed_by_resource_component_month_and_overwritten() {
    let t = sandbox();
    let r = resource("alpha-alloc");
    let body = json!({"resource": r, "usages": [{"type": "cpu", "amount": "120.50", "description": "CPU"}, {"type": "gpu", "amount": "4"}]});
    let a = t.set_usage(PROVIDER, body.clone()).await;
    assert_eq!(a.status, 201);
    assert_eq!(a.text, "");
    assert!(a.header("content-type").is_none());
    let first = t.usages(&r).await;
    assert_eq!(first.len(), 2);
    assert_eq!(t.set_usage(PROVIDER, body).await.status, 201);
    let again = t.usages(&r).await;
    assert_eq!(again.len(), 2, "repeat must not add rows");
    let uuids = |v: &Vec<serde_json::Value>| {
        let mut u: Vec<_> = v.iter().map(|x| x["uuid"].clone()).collect();
        u.sort_by_key(|x| x.to_string());
        u
    };
    assert_eq!(uuids(&first), uuids(&again), "same records are overwritten");
    t.set_usage_created(
        PROVIDER,
        json!({"resource": r, "usages": [{"type": "cpu", "amount": "130.75"}]}),
    )
    .await;
    let rows = t.usages(&r).await;
    let cpu = rows.iter().find(|x| x["type"] == "cpu").unwrap();
    assert_eq!(cpu["usage"].as_f64().unwrap(), 130.75, "SET, not ADD");
    let gpu = rows.iter().find(|x| x["type"] == "gpu").unwrap();
    assert_eq!(gpu["usage"].as_f64().unwrap(), 4.00);
    assert_eq!(cpu["billing_period"], "2026-11-01");
    // hyphenated uuids are accepted too
    let hy = uuid::Uuid::parse_str(&r).unwrap().hyphenated().to_string();
    t.set_usage_created(
        PROVIDER,
        json!({"resource": hy, "usages": [{"type": "cpu", "amount": "131"}]}),
    )
    .await;
    assert_eq!(t.usages(&r).await.len(), 2);
}

#[tokio::test]
async fn rule2_billing_month_is_utc_month_of_date_or_now() {
    let t = sandbox();
    let r = resource("alpha-alloc");
    // offset date converted to UTC first: 2026-11-01T01:00+02:00 is still October in UTC
    let resp = t.set_usage(STAFF, json!({"resource": r, "date": "2026-11-01T01:00:00+02:00", "usages": [{"type": "cpu", "amount": "5"}]})).await;
    assert_eq!(resp.status, 201, "{}", resp.text);
    let rows = t.usages(&r).await;
    assert_eq!(rows[0]["billing_period"], "2026-10-01");
    // server clock moves: December
    t.app.set_now(Some("2026-12-01T00:00:01Z".parse().unwrap()));
    t.set_usage_created(
        PROVIDER,
        json!({"resource": r, "usages": [{"type": "cpu", "amount": "1"}]}),
    )
    .await;
    let periods: Vec<_> = t
        .usages(&r)
        .await
        .iter()
        .map(|x| x["billing_period"].as_str().unwrap().to_string())
        .collect();
    assert!(periods.contains(&"2026-12-01".to_string()), "{periods:?}");
    let r2 = t
        .get(
            &format!(
                "/api/marketplace-component-usages/?resource_uuid={r}&billing_period=2026-10-01"
            ),
            STAFF,
        )
        .await;
    assert_eq!(r2.result_count(), "1");
}

#[tokio::test]
async fn rule3_resource_states_and_component_types() {
    let t = sandbox();
    let erred = t.set_usage(PROVIDER, json!({"resource": resource("erred-alloc"), "usages": [{"type": "cpu", "amount": "1"}]})).await;
    assert_eq!(erred.status, 400);
    assert_eq!(
        erred.json(),
        json!({"resource": ["Resource is not in valid state."]})
    );
    let creating = t
        .set_usage(
            PROVIDER,
            json!({"resource": resource("new-alloc"), "usages": [{"type": "cpu", "amount": "1"}]}),
        )
        .await;
    assert_eq!(
        creating.json(),
        json!({"resource": ["Resource is not in valid state."]})
    );
    t.app.read(|_| ());
    tally_sandbox_set_state(&t, "beta-alloc", "Terminating").await;
    t.set_usage_created(
        PROVIDER,
        json!({"resource": resource("beta-alloc"), "usages": [{"type": "cpu", "amount": "1"}]}),
    )
    .await;
    tally_sandbox_set_state(&t, "beta-alloc", "Terminated").await;
    assert_eq!(
        t.set_usage(
            PROVIDER,
            json!({"resource": resource("beta-alloc"), "usages": [{"type": "cpu", "amount": "1"}]})
        )
        .await
        .json(),
        json!({"resource": ["Resource is not in valid state."]})
    );
    let unknown = t.set_usage(PROVIDER, json!({"resource": resource("alpha-alloc"), "usages": [{"type": "cpu", "amount": "1"}, {"type": "foo", "amount": "1"}, {"type": "bar", "amount": "1"}]})).await;
    assert_eq!(unknown.status, 400);
    assert_eq!(
        unknown.json(),
        json!({"non_field_errors": ["These components are invalid: bar, foo."]})
    );
    assert!(
        t.usages(&resource("alpha-alloc")).await.is_empty(),
        "whole request rejected"
    );
    // limit components accept usage
    t.set_usage_created(PROVIDER, json!({"resource": resource("alpha-alloc"), "usages": [{"type": "storage", "amount": "80"}]})).await;
}

async fn tally_sandbox_set_state(t: &T, name: &str, state: &str) {
    let r = t
        .req(
            "POST",
            &format!("/__sandbox/resources/{}/state", resource(name)),
            None,
            Some(&json!({"state": state}).to_string()),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
}

#[tokio::test]
async fn rule4_date_rules() {
    let t = sandbox();
    let r = resource("alpha-alloc");
    let future = t.set_usage(STAFF, json!({"resource": r, "date": "2026-11-25T00:00:00Z", "usages": [{"type": "cpu", "amount": "1"}]})).await;
    assert_eq!(
        future.json(),
        json!({"date": ["Cannot submit usage for future dates. Date must be current date or earlier."]})
    );
    // provider owner: current month ok, past month only for limit components
    t.set_usage_created(
        PROVIDER,
        json!({"resource": r, "date": "2026-11-02", "usages": [{"type": "cpu", "amount": "1"}]}),
    )
    .await;
    let past = t.set_usage(PROVIDER, json!({"resource": r, "date": "2026-10-15", "usages": [{"type": "cpu", "amount": "1"}]})).await;
    assert_eq!(
        past.json(),
        json!({"date": ["Service providers can only specify date for limit-based billing components when backfilling past billing periods."]})
    );
    let past_limit = t.set_usage(PROVIDER, json!({"resource": r, "date": "2026-10-15", "usages": [{"type": "storage", "amount": "90"}]})).await;
    assert_eq!(past_limit.status, 201);
    // staff: any past date
    t.set_usage_created(STAFF, json!({"resource": r, "date": "2026-09-30T23:59:59Z", "usages": [{"type": "cpu", "amount": "7"}]})).await;
    // offering manager: any date rejected, even today; without date accepted
    let mgr = t.set_usage(MANAGER, json!({"resource": r, "date": "2026-11-24T10:00:00Z", "usages": [{"type": "cpu", "amount": "1"}]})).await;
    assert_eq!(
        mgr.json(),
        json!({"date": ["Only staff users and service providers can specify date for backfilling."]})
    );
    t.set_usage_created(
        MANAGER,
        json!({"resource": r, "usages": [{"type": "cpu", "amount": "2"}]}),
    )
    .await;
    let periods: Vec<_> = t
        .usages(&r)
        .await
        .iter()
        .map(|x| {
            (
                x["type"].as_str().unwrap().to_string(),
                x["billing_period"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(periods.contains(&("storage".into(), "2026-10-01".into())));
    assert!(periods.contains(&("cpu".into(), "2026-09-01".into())));
    let bad = t
        .set_usage(
            STAFF,
            json!({"resource": r, "date": "yesterday", "usages": []}),
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.json()["date"][0]
        .as_str()
        .unwrap()
        .starts_with("Datetime has wrong format."));
}

#[tokio::test]
async fn rule5_amount_validation() {
    let t = sandbox();
    let r = resource("beta-alloc");
    let cases = [
        (
            json!("1.234"),
            "Ensure that there are no more than 2 decimal places.",
        ),
        (json!("abc"), "A valid number is required."),
        (
            json!("123456789012345678901"),
            "Ensure that there are no more than 20 digits in total.",
        ),
        (
            json!(0.30000000000000004),
            "Ensure that there are no more than 2 decimal places.",
        ),
    ];
    for (amount, msg) in cases {
        let resp = t
            .set_usage(
                PROVIDER,
                json!({"resource": r, "usages": [{"type": "cpu", "amount": amount}]}),
            )
            .await;
        assert_eq!(resp.status, 400);
        assert_eq!(
            resp.json(),
            json!({"usages": [{"amount": [msg]}]}),
            "{amount}"
        );
    }
    let aligned = t.set_usage(PROVIDER, json!({"resource": r, "usages": [{"type": "cpu", "amount": "1"}, {"type": "gpu", "amount": "1.001"}]})).await;
    assert_eq!(
        aligned.json(),
        json!({"usages": [{}, {"amount": ["Ensure that there are no more than 2 decimal places."]}]})
    );
    t.set_usage_created(
        PROVIDER,
        json!({"resource": r, "usages": [{"type": "cpu", "amount": "-5"}]}),
    )
    .await;
    t.set_usage_created(PROVIDER, json!({"resource": r, "usages": [{"type": "gpu", "amount": 12.5}, {"type": "ram", "amount": 0}]})).await;
    let rows = t.usages(&r).await;
    let by = |k: &str| {
        rows.iter().find(|x| x["type"] == k).unwrap()["usage"]
            .as_f64()
            .unwrap()
    };
    assert_eq!(by("cpu"), -5.0);
    assert_eq!(by("gpu"), 12.5);
    assert_eq!(by("ram"), 0.0);
}

#[tokio::test]
async fn rule6_permission_checked_after_validation() {
    let t = sandbox();
    let r = resource("alpha-alloc");
    let bad_body = t
        .set_usage(
            OUTSIDER,
            json!({"resource": r, "usages": [{"type": "cpu", "amount": "x"}]}),
        )
        .await;
    assert_eq!(bad_body.status, 400, "validation first");
    let unknown = t
        .set_usage(
            OUTSIDER,
            json!({"resource": r, "usages": [{"type": "nope", "amount": "1"}]}),
        )
        .await;
    assert_eq!(unknown.status, 400);
    let denied = t
        .set_usage(
            OUTSIDER,
            json!({"resource": r, "usages": [{"type": "cpu", "amount": "999"}]}),
        )
        .await;
    assert_eq!(denied.status, 403);
    assert_eq!(
        denied.json(),
        json!({"detail": "You do not have permission to perform this action."})
    );
    assert_eq!(
        t.set_usage(
            ALICE,
            json!({"resource": r, "usages": [{"type": "cpu", "amount": "1"}]})
        )
        .await
        .status,
        403,
        "consumers cannot report"
    );
    assert!(t.usages(&r).await.is_empty());
}

#[tokio::test]
async fn rule7_empty_201_number_in_list_string_in_plan_periods() {
    let t = sandbox();
    let r = resource("alpha-alloc");
    let resp = t
        .set_usage(
            PROVIDER,
            json!({"resource": r, "usages": [{"type": "cpu", "amount": "120.50"}]}),
        )
        .await;
    assert_eq!((resp.status.as_u16(), resp.text.as_str()), (201, ""));
    let list = t
        .get(
            &format!("/api/marketplace-component-usages/?resource_uuid={r}"),
            PROVIDER,
        )
        .await;
    assert!(list.text.contains("\"usage\":120.50"), "{}", list.text);
    let pp = t
        .get(
            &format!("/api/marketplace-resources/{r}/plan_periods/"),
            ALICE,
        )
        .await;
    assert_eq!(pp.status, 200);
    assert!(pp.header("link").is_none(), "plan_periods is not paginated");
    let body = pp.json();
    assert_eq!(body[0]["components"][0]["usage"], json!("120.50"));
    assert_eq!(body[0]["plan_name"], "default");
    assert!(body[0]["end"].is_null());
    // plan_period instead of resource
    let pp_uuid = body[0]["uuid"].as_str().unwrap().to_string();
    t.set_usage_created(
        PROVIDER,
        json!({"plan_period": pp_uuid, "usages": [{"type": "gpu", "amount": "4"}]}),
    )
    .await;
    assert_eq!(t.usages(&r).await.len(), 2);
    // current_usages follows the last request
    let res = t
        .get(
            &format!("/api/marketplace-resources/{r}/?field=current_usages"),
            ALICE,
        )
        .await
        .json();
    assert_eq!(res, json!({"current_usages": {"gpu": 4.00}}));
}

#[tokio::test]
async fn captured_request_shape_errors() {
    let t = sandbox();
    let r = resource("alpha-alloc");
    let none = t
        .set_usage(
            PROVIDER,
            json!({"usages": [{"type": "cpu", "amount": "1"}]}),
        )
        .await;
    assert_eq!(
        none.json(),
        json!({"non_field_errors": ["Either plan_period or resource should be provided."]})
    );
    let missing = t.set_usage(PROVIDER, json!({"resource": r})).await;
    assert_eq!(
        missing.json(),
        json!({"usages": ["This field is required."]})
    );
    let nobody = t
        .req(
            "POST",
            "/api/marketplace-component-usages/set_usage/",
            Some(PROVIDER),
            None,
        )
        .await;
    assert_eq!(
        nobody.json(),
        json!({"usages": ["This field is required."]})
    );
    let zero = t
        .set_usage(
            PROVIDER,
            json!({"resource": "00000000000000000000000000000000", "usages": []}),
        )
        .await;
    assert_eq!(
        zero.json(),
        json!({"resource": ["Object with uuid=00000000000000000000000000000000 does not exist."]})
    );
    let junk = t
        .set_usage(PROVIDER, json!({"resource": "not-a-uuid", "usages": []}))
        .await;
    assert_eq!(
        junk.json(),
        json!({"resource": ["Object with uuid=not-a-uuid does not exist."]})
    );
    let malformed = t
        .req(
            "POST",
            "/api/marketplace-component-usages/set_usage/",
            Some(PROVIDER),
            Some("{\"resource\": \"x\", \"usages\": ["),
        )
        .await;
    assert_eq!(malformed.status, 400);
    assert!(malformed.json()["detail"]
        .as_str()
        .unwrap()
        .starts_with("JSON parse error - "));
    let empty = t
        .set_usage(PROVIDER, json!({"resource": r, "usages": []}))
        .await;
    assert_eq!(empty.status, 201, "empty usages accepted");
    let dup = t.set_usage(PROVIDER, json!({"resource": r, "usages": [{"type": "ram", "amount": "10"}, {"type": "ram", "amount": "20"}]})).await;
    assert_eq!(dup.status, 201);
    let rows = t.usages(&r).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0]["usage"].as_f64().unwrap(),
        20.00,
        "last repeated component wins"
    );
    let wrong_method = t
        .get("/api/marketplace-component-usages/set_usage/", PROVIDER)
        .await;
    assert_eq!(wrong_method.status, 405);
    assert_eq!(
        wrong_method.json(),
        json!({"detail": "Method \"GET\" not allowed."})
    );
    let no_slash = t
        .post(
            "/api/marketplace-component-usages/set_usage",
            PROVIDER,
            json!({}),
        )
        .await;
    assert_eq!(no_slash.status, 301);
    assert_eq!(
        no_slash.header("location").unwrap(),
        "/api/marketplace-component-usages/set_usage/"
    );
    let unknown = t.get("/api/no-such-endpoint/", PROVIDER).await;
    assert_eq!(unknown.status, 404);
    assert!(unknown
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
}

#[tokio::test]
async fn usage_limit_is_a_bare_list() {
    let seed = tally_sandbox::DEMO_TOML.replace(
        "{ type = \"gpu\", name = \"GPU\", measured_unit = \"hours\", billing_type = \"usage\" }",
        "{ type = \"gpu\", name = \"GPU\", measured_unit = \"hours\", billing_type = \"usage\", limit_period = \"total\", limit_amount = 100 }",
    );
    let t = sandbox_from_seed(&seed);
    let r = resource("alpha-alloc");
    t.set_usage_created(
        PROVIDER,
        json!({"resource": r, "usages": [{"type": "gpu", "amount": "60"}]}),
    )
    .await;
    let over = t.set_usage(PROVIDER, json!({"resource": r, "usages": [{"type": "cpu", "amount": "1"}, {"type": "gpu", "amount": "50"}]})).await;
    assert_eq!(over.status, 400);
    assert_eq!(
        over.json(),
        json!(["Total amount exceeds limit. Total amount: 110.00, limit: 100."])
    );
    // not atomic, as the genuine server: the cpu before the refused gpu is written
    let held: Vec<(String, String)> = t
        .usages(&r)
        .await
        .iter()
        .map(|u| {
            (
                u["type"].as_str().unwrap().to_owned(),
                u["usage"].to_string(),
            )
        })
        .collect();
    assert_eq!(held.len(), 2, "{held:?}");
    assert!(held.iter().any(|(c, _)| c == "cpu"), "{held:?}");
}

#[tokio::test]
async fn user_usages() {
    let t = sandbox();
    let r = resource("alpha-alloc");
    t.set_usage_created(
        PROVIDER,
        json!({"resource": r, "usages": [{"type": "cpu", "amount": "0"}]}),
    )
    .await;
    let cu = t.usages(&r).await[0]["uuid"].as_str().unwrap().to_string();
    let one = t
        .post(
            &format!("/api/marketplace-component-usages/{cu}/set_user_usage/"),
            PROVIDER,
            json!({"username": "alice_c", "usage": "10.5"}),
        )
        .await;
    assert_eq!(one.status, 201, "{}", one.text);
    let bulk = t.post(&format!("/api/marketplace-component-usages/{cu}/set_user_usages/"), PROVIDER, json!({"usages": [{"username": "alice_c", "usage": "12"}, {"username": "bob_c", "usage": 3}]})).await;
    assert_eq!(bulk.status, 201, "{}", bulk.text);
    let empty = t
        .post(
            &format!("/api/marketplace-component-usages/{cu}/set_user_usages/"),
            PROVIDER,
            json!({"usages": []}),
        )
        .await;
    assert_eq!(
        empty.json(),
        json!({"usages": ["At least one usage item is required."]})
    );
    let bad = t
        .post(
            &format!("/api/marketplace-component-usages/{cu}/set_user_usages/"),
            PROVIDER,
            json!({"usages": [{"username": "x", "usage": "1"}, {"usage": "1.111"}]}),
        )
        .await;
    assert_eq!(
        bad.json(),
        json!({"usages": [{}, {"username": ["This field is required."], "usage": ["Ensure that there are no more than 2 decimal places."]}]})
    );
    let denied = t
        .post(
            &format!("/api/marketplace-component-usages/{cu}/set_user_usage/"),
            OUTSIDER,
            json!({"username": "a", "usage": "1"}),
        )
        .await;
    assert_eq!(denied.status, 403);
    let list = t
        .get(
            &format!("/api/marketplace-component-user-usages/?resource_uuid={r}"),
            PROVIDER,
        )
        .await;
    assert_eq!(list.result_count(), "2");
    assert!(list.text.contains("\"usage\":12.00"));
    // parent was 0: set to the sum
    let parent = &t.usages(&r).await[0];
    assert_eq!(
        parent["usage"].as_f64().unwrap(),
        10.5,
        "set from the first user usage while it was 0"
    );
    let missing = t
        .post(
            "/api/marketplace-component-usages/00000000000000000000000000000000/set_user_usage/",
            PROVIDER,
            json!({"username": "a", "usage": "1"}),
        )
        .await;
    assert_eq!(missing.status, 404);
}
