//! The library calls against the sandbox playing the genuine 2024 server (`legacy_7x`), where a
//! provider has no `set_as_ok` and `set_as_erred` is staff-only: the sequencing of
//! `resources::set_state` (resource action, else the executing order, else a plain refusal) and
//! the per-object results of `orders::act`, without the binary.

use tally_ops::orders::Action;
use tally_ops::resources::{set_state, SetState};
use tally_sandbox::{seed_uuid, RunningSandbox, SandboxOptions, World, DEMO_TOML};
use tally_waldur::{ClientSettings, Token, WaldurClient};
use uuid::Uuid;

const PROVIDER: &str = "demo-provider-token";

async fn legacy() -> (World, RunningSandbox, WaldurClient) {
    let world = World::from_toml_str(DEMO_TOML, "ops-lib-test").expect("demo world");
    let opts = SandboxOptions {
        now: Some("2025-03-15T12:00:00Z".parse().expect("now")),
        legacy_7x: true,
        ..Default::default()
    };
    let sandbox = tally_sandbox::start(world.clone(), "127.0.0.1:0".parse().expect("addr"), opts)
        .await
        .expect("sandbox");
    let mut settings = ClientSettings::new(
        sandbox.url.parse().expect("url"),
        Token::new(PROVIDER).expect("token"),
    );
    settings.max_retries = 0;
    let client = WaldurClient::new(settings).expect("client");
    (world, sandbox, client)
}

fn create_order(resource: &str) -> Uuid {
    seed_uuid("order", &format!("{resource}:Create:1"))
}

#[tokio::test]
async fn set_state_ok_completes_the_executing_create_order_where_the_server_has_no_set_as_ok() {
    let (world, sandbox, client) = legacy().await;
    let resource = world.resource_uuid("new-alloc").expect("resource");
    let order = create_order("new-alloc");

    let approved = tally_ops::orders::act(&client, &[order], Action::Approve).await;
    assert!(approved.all_done("orders").is_ok(), "{approved:?}");
    assert_eq!(approved.outcomes[0].state.as_deref(), Some("executing"));

    let batch = set_state(&client, resource, SetState::Ok).await;
    assert!(batch.fatal.is_none());
    assert!(batch.all_done("resources").is_ok(), "{batch:?}");
    let o = &batch.outcomes[0];
    assert_eq!(o.state.as_deref(), Some("OK"));
    assert_eq!(
        o.message,
        format!(
            "tally: this server has no set_as_ok; completed the resource's executing Create order {} with set_state_done instead",
            order.simple()
        )
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn set_state_without_an_executing_order_is_a_failure_that_says_why() {
    let (world, sandbox, client) = legacy().await;
    let resource = world.resource_uuid("alpha-alloc").expect("resource");

    let batch = set_state(
        &client,
        resource,
        SetState::Erred {
            error_message: Some("disk"),
        },
    )
    .await;
    let not_done = batch.all_done("resources").expect_err("refused");
    assert_eq!((not_done.failed, not_done.total), (1, 1));
    let o = &batch.outcomes[0];
    assert_eq!(o.status, Some(403));
    assert_eq!(o.state.as_deref(), Some("OK"));
    assert!(
        o.message.ends_with("(tally: set_as_erred is refused to this token (servers of 2024 keep it for staff), and the resource has no executing Create or Update order to complete instead: a provider cannot set this state here; ask the server's staff)"),
        "{o:?}"
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_refused_token_stops_a_batch_at_the_first_order() {
    let (_world, sandbox, _client) = legacy().await;
    let client = WaldurClient::new(ClientSettings::new(
        sandbox.url.parse().expect("url"),
        Token::new("no-such-token").expect("token"),
    ))
    .expect("client");
    let orders = [create_order("new-alloc"), create_order("alpha-alloc")];

    let batch = tally_ops::orders::act(&client, &orders, Action::Approve).await;
    assert!(matches!(
        batch.fatal,
        Some(tally_waldur::Error::Unauthorized(_))
    ));
    assert_eq!(batch.outcomes.len(), 1, "the second order is not tried");
    assert_eq!(batch.total, 2);
    sandbox.shutdown().await;
}
