//! The two server generations side by side: the default mode (the 8.x schema) and the older mode
//! (`legacy_7x`), which answers as the genuine waldur-mastermind of 2024 (develop 2024-10, the
//! server of the captures in fixtures and of `../shared/real-waldur/`) was seen to answer.

mod common;

use common::*;
use serde_json::json;
use tally_sandbox::{seed_uuid, SandboxOptions};

fn older() -> T {
    sandbox_with(SandboxOptions {
        now: Some(now()),
        legacy_7x: true,
        ..Default::default()
    })
}

fn is_html_404(r: &Resp) -> bool {
    r.status == 404
        && r.header("content-type")
            .is_some_and(|c| c.starts_with("text/html"))
        && r.text.contains("<title>Not Found</title>")
}

/// Real server: 403 to a provider's token, `{"version": "unknown"}` to staff on a source install.
#[tokio::test]
async fn version_is_closed_to_non_staff_on_the_older_generation() {
    let old = older();
    let p = old.get("/api/version/", PROVIDER).await;
    assert_eq!(p.status, 403);
    assert_eq!(
        p.json(),
        json!({"detail": "You do not have permission to perform this action."})
    );
    assert_eq!(
        old.get("/api/version/", STAFF).await.json(),
        json!({"version": "unknown"})
    );
    assert_eq!(
        old.req("GET", "/api/version/", None, None).await.status,
        401
    );
    let new = sandbox();
    assert_eq!(
        new.get("/api/version/", PROVIDER).await.json(),
        json!({"version": "8.0.5"})
    );
    // An explicit version is served to everyone in either mode.
    let pinned = sandbox_with(SandboxOptions {
        now: Some(now()),
        legacy_7x: true,
        version: Some("7.0.8".into()),
        ..Default::default()
    });
    assert_eq!(
        pinned.get("/api/version/", PROVIDER).await.json(),
        json!({"version": "7.0.8"})
    );
}

/// What `tally` asks when the version says nothing: only a server that reads `date` names it.
#[tokio::test]
async fn a_set_usage_without_resource_names_date_only_where_date_is_read() {
    let body = json!({"usages": [], "date": "not-a-date"});
    let new = sandbox().set_usage(PROVIDER, body.clone()).await;
    assert_eq!(new.status, 400);
    assert!(new.json().get("date").is_some(), "{}", new.text);
    let old = older().set_usage(PROVIDER, body).await;
    assert_eq!(old.status, 400);
    assert_eq!(
        old.json(),
        json!({"non_field_errors": ["Either plan_period or resource should be provided."]})
    );
}

/// The older generation has no `set_user_usages` (Django's HTML 404, before authentication),
/// only `set_user_usage`, one user per call, which both generations have.
#[tokio::test]
async fn per_user_usage_one_call_per_user_on_the_older_generation() {
    for (t, legacy) in [(sandbox(), false), (older(), true)] {
        let r = resource("alpha-alloc");
        let set = t
            .set_usage(
                PROVIDER,
                json!({"resource": r, "usages": [{"type": "cpu", "amount": "15"}]}),
            )
            .await;
        assert_eq!(set.status, 201, "{}", set.text);
        let cu = t.usages(&r).await[0]["uuid"]
            .as_str()
            .expect("uuid")
            .to_owned();
        let bulk_path = format!("/api/marketplace-component-usages/{cu}/set_user_usages/");
        let bulk = t
            .post(
                &bulk_path,
                PROVIDER,
                json!({"usages": [{"username": "alice_c", "usage": "12"}]}),
            )
            .await;
        if legacy {
            assert!(is_html_404(&bulk), "{} {}", bulk.status, bulk.text);
            let anonymous = t.req("POST", &bulk_path, None, Some("{}")).await;
            assert!(is_html_404(&anonymous), "the router answers before auth");
        } else {
            assert_eq!(bulk.status, 201, "{}", bulk.text);
        }
        for (user, amount) in [("alice_c", "12"), ("bob_c", "3")] {
            let one = t
                .post(
                    &format!("/api/marketplace-component-usages/{cu}/set_user_usage/"),
                    PROVIDER,
                    json!({"username": user, "usage": amount}),
                )
                .await;
            assert_eq!(one.status, 201, "{}", one.text);
        }
        let listed = t
            .get(
                &format!("/api/marketplace-component-user-usages/?resource_uuid={r}&component_usage__billing_period=2026-11-01"),
                PROVIDER,
            )
            .await
            .json();
        let mut users: Vec<String> = listed
            .as_array()
            .expect("list")
            .iter()
            .map(|u| {
                format!(
                    "{}={}",
                    u["username"].as_str().expect("username"),
                    u["usage"]
                )
            })
            .collect();
        users.sort();
        assert_eq!(users.len(), 2, "legacy={legacy}: {users:?}");
    }
}

/// No `set_as_ok`/`set_state_ok` there; `set_as_erred` is staff-only and stores no message.
#[tokio::test]
async fn resource_states_on_the_older_generation() {
    let new_alloc = resource("new-alloc");
    let path = |a: &str| format!("/api/marketplace-provider-resources/{new_alloc}/{a}/");
    let old = older();
    for action in ["set_as_ok", "set_state_ok"] {
        assert!(is_html_404(
            &old.post(&path(action), PROVIDER, json!({})).await
        ));
    }
    let erred = old
        .post(
            &path("set_as_erred"),
            PROVIDER,
            json!({"error_message": "no nodes"}),
        )
        .await;
    assert_eq!(erred.status, 403, "{}", erred.text);
    let staff = old
        .post(
            &path("set_as_erred"),
            STAFF,
            json!({"error_message": "no nodes"}),
        )
        .await;
    assert_eq!(staff.status, 200, "{}", staff.text);
    let r = old
        .get(
            &format!("/api/marketplace-provider-resources/{new_alloc}/"),
            STAFF,
        )
        .await
        .json();
    assert_eq!(r["state"], "Erred");
    assert_eq!(
        r["error_message"], "",
        "the older generation stores no message"
    );
    // 8.x: the provider may, and the message is kept.
    let new = sandbox();
    assert_eq!(
        new.post(&path("set_as_ok"), PROVIDER, json!({}))
            .await
            .status,
        200
    );
    assert_eq!(
        new.post(
            &path("set_as_erred"),
            PROVIDER,
            json!({"error_message": "no nodes"})
        )
        .await
        .status,
        200
    );
    let r = new
        .get(
            &format!("/api/marketplace-provider-resources/{new_alloc}/"),
            STAFF,
        )
        .await
        .json();
    assert_eq!(r["error_message"], "no nodes");
}

/// Offering users: the older generation takes only hyperlinks, the offering as its
/// provider-offerings URL; 8.x also takes uuids.
#[tokio::test]
async fn offering_users_by_hyperlink_on_the_older_generation() {
    let offering = offering();
    let bob = seed_uuid("user", "bob").simple().to_string();
    let base = "http://sandbox.test/api";
    let old = older();
    let by_uuid = old
        .post(
            "/api/marketplace-offering-users/",
            PROVIDER,
            json!({"offering_uuid": offering, "user_uuid": bob, "username": "bob_c"}),
        )
        .await;
    assert_eq!(by_uuid.status, 400);
    assert_eq!(
        by_uuid.json(),
        json!({"offering": ["This field is required."], "user": ["This field is required."]})
    );
    let public = old
        .post(
            "/api/marketplace-offering-users/",
            PROVIDER,
            json!({
                "offering": format!("{base}/marketplace-public-offerings/{offering}/"),
                "user": format!("{base}/users/{bob}/"),
                "username": "bob_c"
            }),
        )
        .await;
    assert_eq!(public.status, 400);
    assert_eq!(
        public.json(),
        json!({"offering": ["Invalid hyperlink - Incorrect URL match."]})
    );
    let made = old
        .post(
            "/api/marketplace-offering-users/",
            PROVIDER,
            json!({
                "offering": format!("{base}/marketplace-provider-offerings/{offering}/"),
                "user": format!("{base}/users/{bob}/"),
                "username": "bob_c"
            }),
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.text);
    assert_eq!(made.json()["username"], "bob_c");
    // 8.x: uuids are fine, and so is the hyperlink form tally sends to both.
    let new = sandbox();
    let made = new
        .post(
            "/api/marketplace-offering-users/",
            PROVIDER,
            json!({"offering_uuid": offering, "user_uuid": bob, "username": "bob_c"}),
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.text);
    let consulting = seed_uuid("offering", "Consulting").simple().to_string();
    let made = new
        .post(
            "/api/marketplace-offering-users/",
            PROVIDER,
            json!({
                "offering": format!("{base}/marketplace-provider-offerings/{consulting}/"),
                "user": format!("{base}/users/{bob}/"),
                "username": "bob_k"
            }),
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.text);
}

/// Permissions and teams: `role` is the name there, and there is no `role_name`.
#[tokio::test]
async fn roles_are_named_by_role_on_the_older_generation() {
    for (t, legacy) in [(sandbox(), false), (older(), true)] {
        let sps = t
            .get("/api/marketplace-service-providers/", PROVIDER)
            .await
            .json();
        let sp = sps
            .as_array()
            .expect("list")
            .iter()
            .find(|s| s["customer_name"] == "HPC Centre")
            .and_then(|s| s["uuid"].as_str())
            .expect("sp")
            .to_owned();
        let perms = t
            .get(
                &format!(
                    "/api/marketplace-service-providers/{sp}/project_permissions/?page_size=50"
                ),
                PROVIDER,
            )
            .await
            .json();
        let first = &perms[0];
        if legacy {
            assert!(first.get("role_name").is_none(), "{first}");
            assert!(
                ["admin", "manager", "member"].contains(&first["role"].as_str().expect("role")),
                "{first}"
            );
        } else {
            assert!(first["role_name"]
                .as_str()
                .expect("role_name")
                .starts_with("PROJECT."));
        }
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
        let role = team[0]["role"].as_str().expect("role");
        assert_eq!(role.starts_with("PROJECT."), !legacy, "{role}");
    }
}

/// `reject_by_provider`: an empty 200 in both; only 8.x keeps the comment.
#[tokio::test]
async fn a_rejection_comment_is_kept_only_by_8x() {
    for (t, legacy) in [(sandbox(), false), (older(), true)] {
        let order = seed_uuid("order", "new-alloc:Create:1")
            .simple()
            .to_string();
        let r = t
            .post(
                &format!("/api/marketplace-orders/{order}/reject_by_provider/"),
                PROVIDER,
                json!({"provider_rejection_comment": "no quota"}),
            )
            .await;
        assert_eq!((r.status.as_u16(), r.text.as_str()), (200, ""));
        let o = t
            .get(&format!("/api/marketplace-orders/{order}/"), PROVIDER)
            .await
            .json();
        assert_eq!(o["state"], "rejected");
        if legacy {
            assert!(o.get("provider_rejection_comment").is_none(), "{o}");
        } else {
            assert_eq!(o["provider_rejection_comment"], "no quota");
        }
    }
}

/// The default mode is as strict as the 8.x schema: every field a request schema of
/// `openapi-subset.yaml` lists as required is refused when missing, with DRF's words, in both
/// modes (the 2024 server requires them too).
#[tokio::test]
async fn fields_the_schema_requires_are_required() {
    for (t, legacy) in [(sandbox(), false), (older(), true)] {
        let r = resource("alpha-alloc");
        t.set_usage(
            PROVIDER,
            json!({"resource": r, "usages": [{"type": "cpu", "amount": "1"}]}),
        )
        .await;
        let cu = t.usages(&r).await[0]["uuid"]
            .as_str()
            .expect("uuid")
            .to_owned();
        let sp = t
            .get("/api/marketplace-service-providers/", PROVIDER)
            .await
            .json()[0]["uuid"]
            .as_str()
            .expect("sp")
            .to_owned();
        let mut cases = vec![
            (
                "/api/marketplace-component-usages/set_usage/".to_owned(),
                vec!["usages"],
            ),
            (
                format!("/api/marketplace-component-usages/{cu}/set_user_usage/"),
                vec!["username"],
            ),
            (
                format!("/api/marketplace-provider-resources/{r}/submit_report/"),
                vec!["report"],
            ),
            (
                format!("/api/marketplace-service-providers/{sp}/set_offerings_username/"),
                vec!["user_uuid", "username"],
            ),
        ];
        if !legacy {
            cases.push((
                format!("/api/marketplace-component-usages/{cu}/set_user_usages/"),
                vec!["usages"],
            ));
        }
        for (path, required) in cases {
            let answer = t.post(&path, PROVIDER, json!({})).await;
            assert_eq!(answer.status, 400, "{path}: {}", answer.text);
            let body = answer.json();
            for field in required {
                assert_eq!(
                    body[field],
                    json!(["This field is required."]),
                    "legacy={legacy} {path}: {body}"
                );
            }
        }
    }
}

/// The 2024 server's order `set_state_erred` reads both keys unconditionally: without
/// `error_traceback` it crashes (500, seen on the genuine server); with both it works and keeps
/// the message. 8.x takes either.
#[tokio::test]
async fn order_set_state_erred_needs_both_keys_on_the_older_generation() {
    for (t, legacy) in [(sandbox(), false), (older(), true)] {
        let order = seed_uuid("order", "new-alloc:Create:1")
            .simple()
            .to_string();
        let path = |a: &str| format!("/api/marketplace-orders/{order}/{a}/");
        assert_eq!(
            t.post(&path("approve_by_provider"), PROVIDER, json!({}))
                .await
                .status,
            200
        );
        let short = t
            .post(
                &path("set_state_erred"),
                PROVIDER,
                json!({"error_message": "x"}),
            )
            .await;
        if legacy {
            assert_eq!(short.status, 500);
            assert!(short.text.contains("Server Error (500)"), "{}", short.text);
            let full = t
                .post(
                    &path("set_state_erred"),
                    PROVIDER,
                    json!({"error_message": "no nodes", "error_traceback": ""}),
                )
                .await;
            assert_eq!(full.status, 200, "{}", full.text);
        } else {
            assert_eq!(short.status, 200, "{}", short.text);
        }
        let o = t
            .get(&format!("/api/marketplace-orders/{order}/"), PROVIDER)
            .await
            .json();
        assert_eq!(o["state"], "erred");
        let r = t
            .get(
                &format!(
                    "/api/marketplace-provider-resources/{}/",
                    resource("new-alloc")
                ),
                PROVIDER,
            )
            .await
            .json();
        assert_eq!(r["state"], "Erred");
        let kept = if legacy { "" } else { "x" };
        assert_eq!(
            r["error_message"], kept,
            "the older generation keeps it on the order only"
        );
    }
}
