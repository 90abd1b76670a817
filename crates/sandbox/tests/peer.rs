//! What waldur-site-agent (the peer) needs from the server for one report cycle: agent identity and
//! service registration, the offering detail it reads, user-attribute config, offering users. The
//! shapes are the ones waldur-api-client 8.1.x parses (`AgentIdentity`, `AgentService`,
//! `AgentProcessor`, `OfferingUserAttributeConfig`); the whole peer runs against the sandbox in
//! `tests/peer_smoke.rs` at the repository root.

mod common;
use common::*;
use serde_json::{json, Value};

const IDENTITIES: &str = "/api/marketplace-site-agent-identities/";

fn identity_body(name: &str) -> Value {
    json!({
        "offering": offering(),
        "name": name,
        "version": "1.0.7",
        "last_restarted": "2026-11-24T11:00:00+00:00",
        "dependencies": [{"package": "waldur-api-client", "version": "8.1.2"}],
        "config_file_path": "",
        "config_file_content": "",
    })
}

fn has_keys(v: &Value, keys: &[&str]) {
    for k in keys {
        assert!(v.get(*k).is_some(), "missing {k} in {v}");
    }
}

#[tokio::test]
async fn identity_service_processor_lifecycle_as_the_peer_does_it() {
    let t = sandbox();
    let name = format!("agent-{}", offering());
    // 1. nothing registered yet
    let r = t.get(&format!("{IDENTITIES}?name={name}"), PROVIDER).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json(), json!([]));
    // 2. create: 201 with every field the client requires
    let r = t.post(IDENTITIES, PROVIDER, identity_body(&name)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.json();
    has_keys(
        &id,
        &[
            "uuid",
            "url",
            "offering",
            "created_by",
            "name",
            "created",
            "modified",
            "services",
        ],
    );
    assert_eq!(id["offering"], json!(offering()));
    assert_eq!(id["name"], json!(name));
    assert_eq!(id["version"], "1.0.7");
    assert_eq!(id["services"], json!([]));
    assert_eq!(
        id["dependencies"],
        json!([{"package": "waldur-api-client", "version": "8.1.2"}])
    );
    let uuid = id["uuid"].as_str().unwrap().to_string();
    assert_eq!(uuid.len(), 32);
    assert!(id["url"]
        .as_str()
        .unwrap()
        .ends_with(&format!("{IDENTITIES}{uuid}/")));
    // same name twice in one offering: 400
    let r = t.post(IDENTITIES, PROVIDER, identity_body(&name)).await;
    assert_eq!(r.status, 400, "{}", r.text);
    // 3. the next cycle finds it by name and PUTs it
    let r = t.get(&format!("{IDENTITIES}?name={name}"), PROVIDER).await;
    assert_eq!(r.json().as_array().unwrap().len(), 1);
    assert_eq!(r.json()[0]["uuid"], json!(uuid));
    let r = t.get(&format!("{IDENTITIES}?name=other"), PROVIDER).await;
    assert_eq!(r.json(), json!([]));
    let mut body = identity_body(&name);
    body["version"] = json!("1.0.8");
    let r = t.put(&format!("{IDENTITIES}{uuid}/"), PROVIDER, body).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["version"], "1.0.8");
    assert_eq!(r.json()["uuid"], json!(uuid));
    // 4. register_service: 201 first, 200 after, state Active
    let path = format!("{IDENTITIES}{uuid}/register_service/");
    let r = t
        .post(
            &path,
            PROVIDER,
            json!({"name": "OfferingReportProcessor", "mode": "report"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let svc = r.json();
    has_keys(
        &svc,
        &[
            "uuid",
            "url",
            "identity",
            "identity_name",
            "name",
            "state",
            "created",
            "modified",
            "processors",
        ],
    );
    assert_eq!(svc["state"], "Active");
    assert_eq!(svc["identity"], json!(uuid));
    assert_eq!(svc["identity_name"], json!(name));
    assert_eq!(svc["mode"], "report");
    let r = t
        .post(
            &path,
            PROVIDER,
            json!({"name": "OfferingReportProcessor", "mode": "report"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["uuid"], svc["uuid"]);
    // 5. register_processor: 201 first, 200 after
    let svc_uuid = svc["uuid"].as_str().unwrap();
    let ppath = format!("/api/marketplace-site-agent-services/{svc_uuid}/register_processor/");
    let pbody = json!({"name": "OfferingReportProcessor", "backend_type": "slurm", "backend_version": "23.11.0"});
    let r = t.post(&ppath, PROVIDER, pbody.clone()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let p = r.json();
    has_keys(
        &p,
        &[
            "uuid",
            "url",
            "service",
            "service_name",
            "name",
            "backend_type",
            "created",
            "modified",
        ],
    );
    assert_eq!(p["service"], json!(svc_uuid));
    assert_eq!(p["service_name"], "OfferingReportProcessor");
    assert_eq!(p["backend_type"], "slurm");
    let r = t.post(&ppath, PROVIDER, pbody).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["uuid"], p["uuid"]);
    // 6. the identity and the service show what hangs under them
    let r = t.get(&format!("{IDENTITIES}{uuid}/"), PROVIDER).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["services"][0]["uuid"], svc["uuid"]);
    assert_eq!(r.json()["services"][0]["state"], "Active");
    let r = t
        .get(
            &format!("/api/marketplace-site-agent-services/{svc_uuid}/"),
            PROVIDER,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["processors"][0]["uuid"], p["uuid"]);
    // the offering manager sees it too; field= selection applies
    let r = t
        .get(&format!("{IDENTITIES}?field=uuid&field=name"), MANAGER)
        .await;
    assert_eq!(r.json(), json!([{"uuid": uuid, "name": name}]));
}

#[tokio::test]
async fn identity_validation_then_permission() {
    let t = sandbox();
    let r = t.post(IDENTITIES, PROVIDER, json!({})).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["offering"], json!(["This field is required."]));
    assert_eq!(r.json()["name"], json!(["This field is required."]));
    let r = t
        .post(
            IDENTITIES,
            PROVIDER,
            json!({"offering": "00000000000000000000000000000000", "name": "a"}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.json()["offering"][0]
        .as_str()
        .unwrap()
        .contains("does not exist"));
    let r = t
        .post(
            IDENTITIES,
            PROVIDER,
            json!({"offering": "nope", "name": "a", "last_restarted": "yesterday"}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["offering"], json!(["Must be a valid UUID."]));
    assert!(r.json().get("last_restarted").is_some());
    // a good body from someone who cannot manage the offering: 403
    let r = t.post(IDENTITIES, OUTSIDER, identity_body("x")).await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = t.post(IDENTITIES, ALICE, identity_body("x")).await;
    assert_eq!(r.status, 403, "{}", r.text);
    // no token: 401
    let r = t
        .req(
            "POST",
            IDENTITIES,
            None,
            Some(&identity_body("x").to_string()),
        )
        .await;
    assert_eq!(r.status, 401);
    // what the outsider cannot manage, it cannot see
    let r = t.post(IDENTITIES, PROVIDER, identity_body("mine")).await;
    assert_eq!(r.status, 201);
    let uuid = r.json()["uuid"].as_str().unwrap().to_string();
    assert_eq!(t.get(IDENTITIES, OUTSIDER).await.json(), json!([]));
    let r = t.get(&format!("{IDENTITIES}{uuid}/"), OUTSIDER).await;
    assert_eq!(r.status, 404);
    let r = t
        .post(
            &format!("{IDENTITIES}{uuid}/register_service/"),
            OUTSIDER,
            json!({"name": "s"}),
        )
        .await;
    assert_eq!(r.status, 404);
    let r = t
        .put(
            &format!("{IDENTITIES}{uuid}/"),
            OUTSIDER,
            identity_body("mine"),
        )
        .await;
    assert_eq!(r.status, 404);
    // register_service needs a name; PUT needs offering and name; PATCH does not
    let r = t
        .post(
            &format!("{IDENTITIES}{uuid}/register_service/"),
            PROVIDER,
            json!({"mode": "report"}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["name"], json!(["This field is required."]));
    let r = t
        .put(
            &format!("{IDENTITIES}{uuid}/"),
            PROVIDER,
            json!({"version": "2"}),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = t
        .req(
            "PATCH",
            &format!("{IDENTITIES}{uuid}/"),
            Some(PROVIDER),
            Some(r#"{"version": "2"}"#),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["version"], "2");
    assert_eq!(r.json()["name"], "mine");
    // unknown identity / service
    let r = t
        .post(
            "/api/marketplace-site-agent-services/00000000000000000000000000000000/register_processor/",
            PROVIDER,
            json!({"name": "p", "backend_type": "slurm"}),
        )
        .await;
    assert_eq!(r.status, 404);
    let r = t.get(&format!("{IDENTITIES}not-a-uuid/"), PROVIDER).await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn identities_belong_to_one_sandbox() {
    let a = sandbox();
    let b = sandbox();
    let r = a
        .post(IDENTITIES, PROVIDER, identity_body("only-in-a"))
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(
        a.get(IDENTITIES, PROVIDER)
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(b.get(IDENTITIES, PROVIDER).await.json(), json!([]));
}

#[tokio::test]
async fn user_attribute_config_is_the_default() {
    let t = sandbox();
    let path = format!(
        "/api/marketplace-provider-offerings/{}/user-attribute-config/",
        offering()
    );
    let r = t.get(&path, PROVIDER).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let c = r.json();
    has_keys(
        &c,
        &[
            "uuid",
            "created",
            "modified",
            "exposed_fields",
            "is_default",
            "offering_uuid",
            "offering_name",
        ],
    );
    assert_eq!(c["is_default"], true);
    assert_eq!(c["offering_uuid"], json!(offering()));
    assert_eq!(c["offering_name"], "Cluster");
    assert_eq!(c["expose_username"], true);
    assert_eq!(c["expose_civil_number"], false);
    assert_eq!(t.get(&path, OUTSIDER).await.status, 404);
    assert_eq!(
        t.get(&format!("{path}?field=is_default"), MANAGER)
            .await
            .json(),
        json!({"is_default": true})
    );
}

/// The rest of the peer's "minimum responses" table, served by endpoints that existed before.
#[tokio::test]
async fn the_other_reads_of_a_peer_cycle() {
    let t = sandbox();
    let r = t.get("/api/users/me/", PROVIDER).await;
    assert_eq!(r.status, 200);
    let r = t
        .get(
            &format!(
                "/api/marketplace-provider-offerings/{}/?field=components,customer_uuid,partitions,plugin_options",
                offering()
            ),
            PROVIDER,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let o = r.json();
    assert!(o["customer_uuid"].is_string());
    assert!(o["components"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["type"] == "cpu"));
    let customer = o["customer_uuid"].as_str().unwrap();
    let r = t
        .get(
            &format!("/api/marketplace-service-providers/?customer_uuid={customer}"),
            PROVIDER,
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(r.json()[0]["uuid"].is_string());
    let r = t
        .get(
            &format!(
                "/api/marketplace-provider-resources/?offering_uuid={}&state=OK&state=Erred&field=uuid&field=backend_id&page_size=100",
                offering()
            ),
            PROVIDER,
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(!r.json().as_array().unwrap().is_empty());
    let r = t
        .get(
            &format!(
                "/api/marketplace-offering-users/?offering_uuid={}&is_restricted=false",
                offering()
            ),
            PROVIDER,
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(r.json().is_array());
    let r = t
        .get(
            "/api/marketplace-component-user-usages/?resource_uuid=00000000000000000000000000000000",
            PROVIDER,
        )
        .await;
    assert_eq!(r.status, 200);
}
