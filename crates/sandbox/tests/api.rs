//! Pagination, field selection, auth, visibility, orders, provider actions, people, 7.x mode.

mod common;
use common::*;
use serde_json::json;
use tally_sandbox::SandboxOptions;

#[tokio::test]
async fn pagination_link_and_count_like_the_captures() {
    let t = sandbox();
    let o = offering();
    let base = format!("/api/marketplace-provider-resources/?offering_uuid={o}&page_size=2&field=uuid&field=backend_id");
    let p1 = t.get(&base, PROVIDER).await;
    assert_eq!(p1.status, 200);
    assert_eq!(p1.result_count(), "6");
    let q = format!("field=uuid&field=backend_id&offering_uuid={o}&page_size=2");
    assert_eq!(
        p1.header("link").unwrap(),
        format!(
            "<http://sandbox.test/api/marketplace-provider-resources/?{q}>; rel=\"first\", \
             <http://sandbox.test/api/marketplace-provider-resources/?field=uuid&field=backend_id&offering_uuid={o}&page=2&page_size=2>; rel=\"next\", \
             <http://sandbox.test/api/marketplace-provider-resources/?field=uuid&field=backend_id&offering_uuid={o}&page=3&page_size=2>; rel=\"last\""
        )
    );
    assert_eq!(
        p1.json(),
        json!([{"uuid": resource("alpha-alloc"), "backend_id": "proj_alpha"}, {"uuid": resource("beta-alloc"), "backend_id": "proj_beta"}])
    );
    let p2 = t.get(&format!("{base}&page=2"), PROVIDER).await;
    let link = p2.header("link").unwrap();
    assert!(
        link.contains(&format!(
            "<http://sandbox.test/api/marketplace-provider-resources/?{q}>; rel=\"prev\""
        )),
        "{link}"
    );
    let p9 = t.get(&format!("{base}&page=9"), PROVIDER).await;
    assert_eq!(p9.status, 404);
    assert_eq!(p9.json(), json!({"detail": "Invalid page."}));
    assert_eq!(t.get(&format!("{base}&page=x"), PROVIDER).await.status, 404);
    // default 10, max 300, empty list
    let all = t
        .get("/api/marketplace-provider-resources/", PROVIDER)
        .await;
    assert_eq!(all.json().as_array().unwrap().len(), 7);
    let big = t
        .get(
            "/api/marketplace-provider-resources/?page_size=100000",
            PROVIDER,
        )
        .await;
    assert_eq!(big.status, 200);
    let empty = t
        .get(
            &format!("/api/marketplace-resources/?offering_uuid={o}"),
            OUTSIDER,
        )
        .await;
    assert_eq!(empty.json(), json!([]));
    assert_eq!(empty.result_count(), "0");
    assert_eq!(
        empty.header("link").unwrap(),
        format!("<http://sandbox.test/api/marketplace-resources/?offering_uuid={o}>; rel=\"first\", <http://sandbox.test/api/marketplace-resources/?offering_uuid={o}>; rel=\"last\"")
    );
}

#[tokio::test]
async fn filters_and_fields() {
    let t = sandbox();
    let o = offering();
    let ok = t
        .get(
            &format!(
                "/api/marketplace-provider-resources/?offering_uuid={o}&state=OK&field=backend_id"
            ),
            PROVIDER,
        )
        .await
        .json();
    assert_eq!(
        ok,
        json!([{"backend_id": "proj_alpha"}, {"backend_id": "proj_beta"}, {"backend_id": "proj_gamma"}, {"backend_id": "hpc_x42"}])
    );
    let two = t
        .get(
            "/api/marketplace-provider-resources/?state=Erred&state=Creating&field=name",
            PROVIDER,
        )
        .await
        .json();
    assert_eq!(two.as_array().unwrap().len(), 3);
    let by_backend = t.get("/api/marketplace-provider-resources/?backend_id=proj_erred&field=state&field=no_such_field", PROVIDER).await.json();
    assert_eq!(
        by_backend,
        json!([{"state": "Erred"}]),
        "unknown field= ignored"
    );
    let bad = t
        .get("/api/marketplace-provider-resources/?state=Bogus", PROVIDER)
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(
        bad.json(),
        json!({"state": ["Select a valid choice. Bogus is not one of the available choices."]})
    );
    let org = tally_sandbox::seed_uuid("organization", "HPC Centre")
        .simple()
        .to_string();
    let by_provider = t
        .get(
            &format!("/api/marketplace-resources/?provider_uuid={org}&field=uuid"),
            STAFF,
        )
        .await;
    assert_eq!(by_provider.result_count(), "7");
    let bad_uuid = t
        .get("/api/marketplace-resources/?project_uuid=zzz", STAFF)
        .await;
    assert_eq!(
        bad_uuid.json(),
        json!({"project_uuid": ["Enter a valid UUID."]})
    );
    let full = t
        .get(
            &format!("/api/marketplace-resources/{}/", resource("alpha-alloc")),
            ALICE,
        )
        .await
        .json();
    for k in [
        "offering_uuid",
        "provider_uuid",
        "plan_uuid",
        "project_uuid",
        "customer_uuid",
        "limits",
        "current_usages",
        "offering_components",
        "report",
        "limit_usage",
    ] {
        assert!(full.get(k).is_some(), "missing {k}");
    }
    assert_eq!(full["limits"], json!({"storage": 100}));
    assert_eq!(full["uuid"].as_str().unwrap().len(), 32);
}

#[tokio::test]
async fn auth_errors() {
    let t = sandbox();
    let none = t
        .req("GET", "/api/marketplace-resources/", None, None)
        .await;
    assert_eq!(none.status, 401);
    assert_eq!(none.header("www-authenticate").unwrap(), "Token");
    assert_eq!(
        none.json(),
        json!({"detail": "Authentication credentials were not provided."})
    );
    let bad = t
        .get("/api/users/me/", "0000000000000000000000000000000000000000")
        .await;
    assert_eq!(bad.status, 401);
    assert_eq!(bad.json(), json!({"detail": "Invalid token."}));
    let bearer = axum::http::Request::builder()
        .uri("/api/users/me/")
        .header("authorization", format!("Bearer {STAFF}"))
        .body(axum::body::Body::empty())
        .unwrap();
    let resp = tower::ServiceExt::oneshot(t.router.clone(), bearer)
        .await
        .unwrap();
    assert_eq!(resp.status(), 401, "Bearer is not accepted");
    let q = t
        .req(
            "GET",
            &format!("/api/users/me/?x-auth-token={PROVIDER}"),
            None,
            None,
        )
        .await;
    assert_eq!(q.json()["username"], "provider");
    // public offering is readable anonymously, but a bad token still fails
    let anon = t
        .req(
            "GET",
            &format!("/api/marketplace-public-offerings/{}/", offering()),
            None,
            None,
        )
        .await;
    assert_eq!(anon.status, 200);
    assert_eq!(anon.json()["components"].as_array().unwrap().len(), 4);
    let missing = t
        .req(
            "GET",
            "/api/marketplace-public-offerings/00000000000000000000000000000000/",
            None,
            None,
        )
        .await;
    assert_eq!(
        missing.json(),
        json!({"detail": "No Offering matches the given query."})
    );
}

#[tokio::test]
async fn token_expiry_and_me() {
    let seed = tally_sandbox::DEMO_TOML.replace(
        "token = \"demo-manager-token\"",
        "token = \"demo-manager-token\"\ntoken_lifetime = 3600",
    );
    let t = sandbox_from_seed(&seed);
    let me = t.get("/api/users/me/", MANAGER).await.json();
    assert_eq!(me["username"], "manager");
    assert_eq!(me["token_lifetime"], 3600);
    assert_eq!(me["token_expires_at"], "2026-11-24T13:00:00.000000Z");
    assert!(t.get("/api/users/me/", PROVIDER).await.json()["token_expires_at"].is_null());
    t.app.set_now(Some("2026-11-24T13:00:01Z".parse().unwrap()));
    let expired = t.get("/api/users/me/", MANAGER).await;
    assert_eq!(expired.status, 401);
    assert_eq!(expired.json(), json!({"detail": "Token has expired."}));
}

#[tokio::test]
async fn consumer_and_provider_views() {
    let t = sandbox();
    let o = offering();
    assert_eq!(
        t.get(
            &format!("/api/marketplace-resources/?offering_uuid={o}"),
            PROVIDER
        )
        .await
        .json(),
        json!([]),
        "provider owner: consumer view empty"
    );
    assert_eq!(
        t.count_of(
            &format!("/api/marketplace-provider-resources/?offering_uuid={o}"),
            PROVIDER
        )
        .await,
        "6"
    );
    assert_eq!(
        t.count_of(
            &format!("/api/marketplace-provider-resources/?offering_uuid={o}"),
            MANAGER
        )
        .await,
        "6"
    );
    assert_eq!(
        t.count_of(
            &format!("/api/marketplace-resources/?offering_uuid={o}"),
            ALICE
        )
        .await,
        "2"
    );
    let hidden = t
        .get(
            &format!("/api/marketplace-resources/{}/", resource("alpha-alloc")),
            OUTSIDER,
        )
        .await;
    assert_eq!(hidden.status, 404);
    assert_eq!(
        hidden.json(),
        json!({"detail": "No Resource matches the given query."})
    );
    let team = t
        .get(
            &format!(
                "/api/marketplace-provider-resources/{}/team/",
                resource("alpha-alloc")
            ),
            PROVIDER,
        )
        .await
        .json();
    assert_eq!(team.as_array().unwrap().len(), 2);
    assert_eq!(team[0]["username"], "alice");
    assert_eq!(team[0]["offering_user_username"], "alice_c");
    assert_eq!(team[0]["role"], "PROJECT.ADMIN");
}

#[tokio::test]
async fn provider_resource_actions() {
    let t = sandbox();
    let r = resource("new-alloc");
    let path = |a: &str| format!("/api/marketplace-provider-resources/{r}/{a}/");
    let set = t
        .post(
            &path("set_backend_id"),
            PROVIDER,
            json!({"backend_id": "proj_new"}),
        )
        .await;
    assert_eq!(
        set.json(),
        json!({"status": "Resource backend_id has been changed."})
    );
    let same = t
        .post(
            &path("set_backend_id"),
            PROVIDER,
            json!({"backend_id": "proj_new"}),
        )
        .await;
    assert_eq!(
        same.json(),
        json!({"status": "Resource backend_id is not changed."})
    );
    assert_eq!(
        t.post(&path("set_backend_id"), PROVIDER, json!({}))
            .await
            .json(),
        json!({"backend_id": ["This field is required."]})
    );
    assert_eq!(
        t.post(
            &path("set_backend_id"),
            OUTSIDER,
            json!({"backend_id": "x"})
        )
        .await
        .status,
        404
    );
    let empty = t
        .post(&path("submit_report"), PROVIDER, json!({"report": []}))
        .await;
    assert_eq!(
        empty.json(),
        json!({"report": ["Report object should contain at least one section."]})
    );
    let rep = t
        .post(
            &path("submit_report"),
            PROVIDER,
            json!({"report": [{"header": "Access", "body": "ssh hpc"}]}),
        )
        .await;
    assert_eq!(rep.json(), json!({"status": "Report is submitted"}));
    assert_eq!(
        t.post(&path("set_as_ok"), PROVIDER, json!({})).await.status,
        200
    );
    let detail = t.get(&format!("/api/marketplace-provider-resources/{r}/?field=state&field=backend_id&field=report"), PROVIDER).await.json();
    assert_eq!(
        detail,
        json!({"state": "OK", "backend_id": "proj_new", "report": [{"header": "Access", "body": "ssh hpc"}]})
    );
    // becoming OK opened a plan period: usage is accepted now
    t.set_usage_created(
        PROVIDER,
        json!({"resource": r, "usages": [{"type": "cpu", "amount": "1"}]}),
    )
    .await;
    assert_eq!(
        t.post(
            &path("set_as_erred"),
            PROVIDER,
            json!({"error_message": "node down"})
        )
        .await
        .status,
        200
    );
    let st = t
        .get(
            &format!("/api/marketplace-provider-resources/{r}/?field=state&field=error_message"),
            PROVIDER,
        )
        .await
        .json();
    assert_eq!(st, json!({"state": "Erred", "error_message": "node down"}));
}

#[tokio::test]
async fn orders_state_rules() {
    let t = sandbox();
    let list = t
        .get(
            "/api/marketplace-orders/?state=pending-provider&field=uuid&field=resource_name",
            PROVIDER,
        )
        .await
        .json();
    assert_eq!(list.as_array().unwrap().len(), 2);
    let find = |name: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|o| o["resource_name"] == name)
            .unwrap()["uuid"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let new = find("new-alloc");
    let consulting = find("consulting-alloc");
    let p = |u: &str, a: &str| format!("/api/marketplace-orders/{u}/{a}/");
    // consumer may not approve
    assert_eq!(
        t.post(&p(&new, "approve_by_provider"), ALICE, json!({}))
            .await
            .status,
        404,
        "alice does not see carol's order"
    );
    let carol = "demo-carol-token";
    assert_eq!(
        t.post(&p(&new, "approve_by_provider"), carol, json!({}))
            .await
            .status,
        403
    );
    let ok = t
        .post(&p(&new, "approve_by_provider"), PROVIDER, json!({}))
        .await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.json()["detail"], "Order has been approved.");
    let again = t
        .post(&p(&new, "approve_by_provider"), PROVIDER, json!({}))
        .await;
    assert_eq!(again.status, 409);
    assert_eq!(
        again.json(),
        json!({"detail": "Valid states for operation: pending-provider."})
    );
    assert_eq!(
        t.post(&p(&new, "reject_by_provider"), PROVIDER, json!({}))
            .await
            .status,
        409
    );
    // cancel: Slurm offering is not cancellable; Basic is
    assert_eq!(
        t.post(&p(&new, "cancel"), carol, json!({})).await.status,
        409
    );
    assert_eq!(
        t.post(&p(&consulting, "cancel"), OUTSIDER, json!({}))
            .await
            .status,
        404
    );
    let c = t.post(&p(&consulting, "cancel"), ALICE, json!({})).await;
    assert_eq!(c.status, 202);
    assert_eq!(c.text, "");
    assert_eq!(
        t.post(&p(&consulting, "cancel"), ALICE, json!({}))
            .await
            .json(),
        json!({"detail": "Valid states for operation: pending-consumer, pending-provider, executing."})
    );
    // done → resource OK
    assert_eq!(
        t.post(&p(&new, "set_state_done"), PROVIDER, json!({}))
            .await
            .status,
        200
    );
    let res = t
        .get(
            &format!(
                "/api/marketplace-provider-resources/{}/?field=state",
                resource("new-alloc")
            ),
            PROVIDER,
        )
        .await
        .json();
    assert_eq!(res, json!({"state": "OK"}));
    let executing = t
        .get("/api/marketplace-orders/?state=executing", PROVIDER)
        .await;
    assert_eq!(executing.result_count(), "0");
    let bad = t.get("/api/marketplace-orders/?type=Bogus", PROVIDER).await;
    assert_eq!(bad.status, 400);
}

#[tokio::test]
async fn reject_terminates_the_resource() {
    let t = sandbox();
    let rid = resource("new-alloc");
    let o = t
        .get(
            &format!("/api/marketplace-orders/?resource_uuid={rid}"),
            PROVIDER,
        )
        .await
        .json();
    let ou = o[0]["uuid"].as_str().unwrap().to_string();
    assert_eq!(
        t.post(
            &format!("/api/marketplace-orders/{ou}/reject_by_provider/"),
            PROVIDER,
            json!({"provider_rejection_comment": "no"})
        )
        .await
        .status,
        200
    );
    let r = t
        .get(
            &format!("/api/marketplace-provider-resources/{rid}/?field=state"),
            PROVIDER,
        )
        .await
        .json();
    assert_eq!(r, json!({"state": "Terminated"}));
}

#[tokio::test]
async fn people_keys_offering_users_service_providers() {
    let t = sandbox();
    let users = t.get("/api/users/?field=username", STAFF).await;
    assert_eq!(users.result_count(), "7");
    let me = t.get("/api/users/?username=alice", ALICE).await.json();
    assert_eq!(me[0]["token"], "demo-alice-token");
    let keys = t.get("/api/keys/", STAFF).await.json();
    assert_eq!(keys.as_array().unwrap().len(), 3);
    assert!(keys[0]["fingerprint_sha256"]
        .as_str()
        .unwrap()
        .starts_with("SHA256:"));
    assert_eq!(
        keys[0]["fingerprint_md5"]
            .as_str()
            .unwrap()
            .split(':')
            .count(),
        16
    );
    assert_eq!(t.count_of("/api/keys/", ALICE).await, "1");
    let org = tally_sandbox::seed_uuid("organization", "HPC Centre")
        .simple()
        .to_string();
    let sps = t
        .get(
            &format!("/api/marketplace-service-providers/?customer_uuid={org}"),
            PROVIDER,
        )
        .await
        .json();
    assert_eq!(sps.as_array().unwrap().len(), 1);
    let sp = sps[0]["uuid"].as_str().unwrap().to_string();
    assert_ne!(
        sp, org,
        "the ServiceProvider uuid is not the organisation uuid"
    );
    let spu = t
        .get(
            &format!("/api/marketplace-service-providers/{sp}/users/"),
            PROVIDER,
        )
        .await
        .json();
    let names: Vec<_> = spu
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["alice", "bob", "carol"]);
    assert_eq!(
        t.count_of(
            &format!("/api/marketplace-service-providers/{sp}/keys/"),
            PROVIDER
        )
        .await,
        "3"
    );
    assert_eq!(
        t.count_of(
            &format!("/api/marketplace-service-providers/{sp}/projects/"),
            PROVIDER
        )
        .await,
        "4"
    );
    assert_eq!(
        t.count_of(
            &format!("/api/marketplace-service-providers/{sp}/project_permissions/"),
            PROVIDER
        )
        .await,
        "6"
    );
    assert_eq!(
        t.get(
            &format!("/api/marketplace-service-providers/{sp}/users/"),
            OUTSIDER
        )
        .await
        .status,
        403
    );
    // offering users
    let bob = tally_sandbox::seed_uuid("user", "bob").simple().to_string();
    let created = t
        .post(
            "/api/marketplace-offering-users/",
            PROVIDER,
            json!({"offering_uuid": offering(), "user_uuid": bob, "username": "bob_c"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.json()["username"], "bob_c");
    let dup = t.post("/api/marketplace-offering-users/", PROVIDER, json!({"offering": format!("http://x/api/marketplace-public-offerings/{}/", offering()), "user": format!("http://x/api/users/{bob}/")})).await;
    assert_eq!(
        dup.json(),
        json!({"non_field_errors": ["The fields offering, user must make a unique set."]})
    );
    let both = t
        .post(
            "/api/marketplace-offering-users/",
            PROVIDER,
            json!({"offering_uuid": offering(), "offering": "x", "user_uuid": bob}),
        )
        .await;
    assert_eq!(both.status, 400);
    let denied = t.post("/api/marketplace-offering-users/", OUTSIDER, json!({"offering_uuid": offering(), "user_uuid": tally_sandbox::seed_uuid("user", "staff").simple().to_string()})).await;
    assert_eq!(denied.status, 403);
    // set usernames in batch
    let set = t
        .post(
            &format!("/api/marketplace-service-providers/{sp}/set_offerings_username/"),
            PROVIDER,
            json!({"user_uuid": bob, "username": "bob_batch"}),
        )
        .await;
    assert_eq!(set.status, 201, "{}", set.text);
    let ous = t
        .get(
            &format!("/api/marketplace-offering-users/?user_uuid={bob}&field=username"),
            PROVIDER,
        )
        .await
        .json();
    assert_eq!(
        ous,
        json!([{"username": "bob_batch"}, {"username": "bob_batch"}]),
        "Cluster (updated) and Consulting (created)"
    );
    let unknown = t
        .post(
            &format!("/api/marketplace-service-providers/{sp}/set_offerings_username/"),
            PROVIDER,
            json!({"user_uuid": "00000000000000000000000000000000", "username": "x"}),
        )
        .await;
    assert_eq!(
        unknown.json(),
        json!(["A user with the uuid [00000000000000000000000000000000] is not found."])
    );
}

#[tokio::test]
async fn version_and_legacy_7x_mode() {
    let t = sandbox();
    assert_eq!(
        t.get("/api/version/", STAFF).await.json(),
        json!({"version": "8.0.5"})
    );
    let old = sandbox_with(SandboxOptions {
        now: Some(now()),
        legacy_7x: true,
        ..Default::default()
    });
    // The genuine server of 2024 does not know its number (see tests/generations.rs).
    assert_eq!(
        old.get("/api/version/", STAFF).await.json(),
        json!({"version": "unknown"})
    );
    let r = resource("alpha-alloc");
    // date is ignored: the current month is written (SEMANTICS §3, captures 08/09)
    let resp = old.set_usage(STAFF, json!({"resource": r, "date": "2026-10-01", "usages": [{"type": "gpu", "amount": "7"}]})).await;
    assert_eq!(resp.status, 201);
    let rows = old.usages(&r).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["billing_period"], "2026-11-01");
    assert_eq!(
        rows[0]["usage"], "7.00",
        "7.x renders usage as a decimal string"
    );
    // even future/garbage dates are ignored
    old.set_usage_created(
        MANAGER,
        json!({"resource": r, "date": "garbage", "usages": []}),
    )
    .await;
    let prev = old
        .get(
            &format!(
                "/api/marketplace-component-usages/?resource_uuid={r}&billing_period=2026-10-01"
            ),
            STAFF,
        )
        .await;
    assert_eq!(prev.json(), json!([]));
    let res = old
        .get(&format!("/api/marketplace-resources/{r}/"), ALICE)
        .await
        .json();
    assert!(res["limit_usage"].is_null() && res.get("offering_components").is_none());
}

#[tokio::test]
async fn counters_clock_and_planting_over_http() {
    let t = sandbox();
    let r = resource("alpha-alloc");
    t.set_usage(
        PROVIDER,
        json!({"resource": r, "usages": [{"type": "cpu", "amount": "1"}]}),
    )
    .await;
    t.set_usage(
        OUTSIDER,
        json!({"resource": r, "usages": [{"type": "cpu", "amount": "1"}]}),
    )
    .await;
    let counters = t.req("GET", "/__sandbox/counters", None, None).await.json();
    let c = |status: u64| {
        counters
            .as_array()
            .unwrap()
            .iter()
            .find(|c| {
                c["endpoint"] == "/api/marketplace-component-usages/set_usage/"
                    && c["status"] == status
            })
            .map(|c| c["count"].as_u64().unwrap())
    };
    assert_eq!(c(201), Some(1));
    assert_eq!(c(403), Some(1));
    let clock = t
        .req(
            "POST",
            "/__sandbox/clock",
            None,
            Some(r#"{"now": "2027-01-05T00:00:00Z"}"#),
        )
        .await
        .json();
    assert!(clock["now"]
        .as_str()
        .unwrap()
        .starts_with("2027-01-05T00:00:0"));
    let planted = t.req("POST", "/__sandbox/usages", None, Some(r#"{"resource": "proj_beta", "type": "cpu", "billing_period": "2026-12-01", "amount": "42.5"}"#)).await;
    assert_eq!(planted.status, 201, "{}", planted.text);
    let all = t.req("GET", "/__sandbox/usages", None, None).await.json();
    assert!(all
        .as_array()
        .unwrap()
        .iter()
        .any(|u| u["backend_id"] == "proj_beta"
            && u["usage"] == "42.50"
            && u["billing_period"] == "2026-12-01"));
}

/// One handler serves both views of offerings and of resources; the path decides who may see
/// what and which URL the objects carry.
#[tokio::test]
async fn one_handler_serves_the_public_and_the_provider_view() {
    let t = sandbox();
    let o = offering();
    let public = t
        .req(
            "GET",
            &format!("/api/marketplace-public-offerings/{o}/"),
            None,
            None,
        )
        .await;
    assert_eq!(public.status, 200);
    assert!(public.json()["url"]
        .as_str()
        .unwrap()
        .contains("/marketplace-public-offerings/"));
    let anonymous = t
        .req(
            "GET",
            &format!("/api/marketplace-provider-offerings/{o}/"),
            None,
            None,
        )
        .await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(
        t.req("GET", "/api/marketplace-provider-offerings/", None, None)
            .await
            .status,
        401
    );
    let provider = t
        .get(
            &format!("/api/marketplace-provider-offerings/{o}/"),
            PROVIDER,
        )
        .await;
    assert_eq!(provider.status, 200);
    assert!(provider.json()["url"]
        .as_str()
        .unwrap()
        .contains("/marketplace-provider-offerings/"));
    // An outsider sees the public offering but not the provider's.
    let outsider = t
        .get(
            &format!("/api/marketplace-provider-offerings/{o}/"),
            OUTSIDER,
        )
        .await;
    assert_eq!(outsider.status, 404);
    let listed = t.get("/api/marketplace-public-offerings/", OUTSIDER).await;
    assert!(listed
        .json()
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["uuid"] == o.as_str()));
    // Resources: the provider's staff see the offering's resources in the provider view only.
    let alpha = resource("alpha-alloc");
    let as_provider = t
        .get(
            &format!("/api/marketplace-provider-resources/{alpha}/"),
            PROVIDER,
        )
        .await;
    assert_eq!(as_provider.status, 200);
    assert_eq!(as_provider.json()["backend_id"], "proj_alpha");
    let as_consumer = t
        .get(&format!("/api/marketplace-resources/{alpha}/"), OUTSIDER)
        .await;
    assert_eq!(as_consumer.status, 404);
}
