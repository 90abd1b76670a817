//! The provider operations (`tally orders|resources|offering-users|provider|users|keys|offerings|
//! usage`) run as the real binary against the sandbox on loopback, started in-process on a tokio
//! runtime that lives as long as the test. The world is the demo world plus orders in every state,
//! and the lists are read with small page sizes so that every listing spans several pages.
//! Server state is checked afterwards through the typed client with the staff token.

use std::path::PathBuf;

use serde_json::Value;
use tally_sandbox::{seed_uuid, RunningSandbox, SandboxOptions, World, DEMO_TOML};
use tally_waldur::{ClientSettings, Token, WaldurClient};
use uuid::Uuid;

use crate::util::{assert_no_secrets, run, tally, Run, TestDir};

const PROVIDER: &str = "demo-provider-token";
const STAFF: &str = "demo-staff-token";
const ALICE: &str = "demo-alice-token";
const OUTSIDER: &str = "demo-outsider-token";

/// Orders added to the demo world, one per state, with fixed uuids.
const PENDING_X42: &str = "0a000000000000000000000000000001";
const EXECUTING_BETA: &str = "0a000000000000000000000000000002";
const ERRED_GAMMA: &str = "0a000000000000000000000000000003";
const CANCELED_ALPHA: &str = "0a000000000000000000000000000004";
const REJECTED_BETA: &str = "0a000000000000000000000000000005";
const PENDING_CONSUMER_ALPHA: &str = "0a000000000000000000000000000006";

const EXTRA: &str = r#"
[[orders]]
uuid = "0a000000000000000000000000000001"
resource = "x42-alloc"
type = "Update"
state = "pending-provider"
created_by = "carol"

[[orders]]
uuid = "0a000000000000000000000000000002"
resource = "beta-alloc"
type = "Terminate"
state = "executing"
created_by = "bob"

[[orders]]
uuid = "0a000000000000000000000000000003"
resource = "gamma-alloc"
type = "Update"
state = "erred"
created_by = "carol"

[[orders]]
uuid = "0a000000000000000000000000000004"
resource = "alpha-alloc"
type = "Update"
state = "canceled"
created_by = "alice"

[[orders]]
uuid = "0a000000000000000000000000000005"
resource = "beta-alloc"
type = "Update"
state = "rejected"
created_by = "bob"

[[orders]]
uuid = "0a000000000000000000000000000006"
resource = "consulting-alloc"
type = "Update"
state = "pending-consumer"
created_by = "alice"

[[usages]]
resource = "alpha-alloc"
type = "cpu"
billing_period = "2025-02"
amount = "12.5"
description = "February"

[[usages]]
resource = "alpha-alloc"
type = "cpu"
billing_period = "2025-03"
amount = "3"

[[usages]]
resource = "alpha-alloc"
type = "gpu"
billing_period = "2025-03"
amount = "1.25"

[[ssh_keys]]
user = "alice"
name = "desktop"
public_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPyGVOfUfmw27/F78v6TXWD0VBXaYwXWsfjVmmMwnLJ7 alice@desktop"
"#;

/// A sandbox with the test world, a scratch directory and configs per token.
struct Env {
    world: World,
    sandbox: Option<RunningSandbox>,
    url: String,
    dir: TestDir,
    rt: tokio::runtime::Runtime,
}

/// Which server generation the sandbox plays: the 8.x schema, or the genuine 2024 server tally
/// was tried against (`legacy_7x`; see docs/sandbox.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gen {
    Current,
    Older,
}

/// Runs each listed `fn name(gen: Gen)` as two tests, `name::current` and `name::older`: the same
/// operations must work against both generations, and where the servers differ the test says how.
macro_rules! both_generations {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[test]
                fn current() {
                    super::$name(super::Gen::Current)
                }
                #[test]
                fn older() {
                    super::$name(super::Gen::Older)
                }
            }
        )*
    };
}

impl Env {
    fn new() -> Env {
        Env::of(Gen::Current)
    }

    fn of(gen: Gen) -> Env {
        let text = format!("{DEMO_TOML}\n{EXTRA}");
        let world = World::from_toml_str(&text, "ops-test").expect("test world");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let opts = SandboxOptions {
            now: Some("2025-03-15T12:00:00Z".parse().expect("now")),
            legacy_7x: gen == Gen::Older,
            ..Default::default()
        };
        let sandbox = rt
            .block_on(tally_sandbox::start(
                world.clone(),
                "127.0.0.1:0".parse().expect("addr"),
                opts,
            ))
            .expect("sandbox");
        Env {
            world,
            url: sandbox.url.clone(),
            sandbox: Some(sandbox),
            dir: TestDir::new(),
            rt,
        }
    }

    fn sandbox(&self) -> &RunningSandbox {
        self.sandbox.as_ref().expect("sandbox running")
    }

    fn org(&self) -> String {
        simple(self.world.organization_uuid("HPC Centre").expect("org"))
    }
    fn offering(&self, name: &str) -> String {
        simple(self.world.offering_uuid(name).expect("offering"))
    }
    fn resource(&self, name: &str) -> String {
        simple(self.world.resource_uuid(name).expect("resource"))
    }
    fn user(&self, name: &str) -> String {
        simple(self.world.user_uuid(name).expect("user"))
    }

    /// A config whose token file holds `token`; customer and offering of the demo provider.
    fn config(&self, token: &str) -> PathBuf {
        let name = format!(
            "{}.token",
            token.replace(|c: char| !c.is_alphanumeric(), "_")
        );
        self.dir.write(&name, &format!("{token}\n"));
        self.dir.write(
            &format!("{name}.toml"),
            &format!(
                r#"[[sources]]
format = "sacct"
paths = ["none.txt"]

[components.cpu]
tres = "cpu"

[waldur]
url = "{}"
token_file = "{name}"
customer_uuid = "{}"
offering_uuid = "{}"
max_retries = 0
"#,
                self.url,
                self.org(),
                self.offering("Cluster")
            ),
        )
    }

    /// `tally <args> --config <config for token>`.
    fn tally(&self, token: &str, args: &[&str]) -> Run {
        let cfg = self.config(token);
        let out = run(tally().args(args).arg("--config").arg(&cfg));
        // No token of the world, not only the one used, may appear in any output.
        assert_no_secrets(&out, &[token]);
        out
    }

    /// The typed client with the staff token, to check the server state.
    fn staff(&self) -> WaldurClient {
        let _g = self.rt.enter();
        WaldurClient::new(ClientSettings::new(
            self.url.parse().expect("url"),
            Token::new(STAFF).expect("token"),
        ))
        .expect("client")
    }

    fn order_state(&self, uuid: &str) -> String {
        let c = self.staff();
        let o = self
            .rt
            .block_on(c.order(uuid.parse().expect("uuid")))
            .expect("order");
        o.state.expect("state").to_string()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some(s) = self.sandbox.take() {
            self.rt.block_on(s.shutdown());
        }
    }
}

fn simple(u: Uuid) -> String {
    u.simple().to_string()
}

fn uuids(v: &Value) -> Vec<String> {
    v["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["uuid"].as_str().expect("uuid").to_owned())
        .collect()
}

fn results(v: &Value) -> Vec<(String, bool, Value, Value, String)> {
    v["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            (
                r["uuid"].as_str().expect("uuid").to_owned(),
                r["ok"].as_bool().expect("ok"),
                r["state"].clone(),
                r["status"].clone(),
                r["message"].as_str().expect("message").to_owned(),
            )
        })
        .collect()
}

/// The demo's pending-provider Create orders (uuids derived as the seed derives them).
fn demo_order(resource: &str, index: usize) -> String {
    simple(seed_uuid("order", &format!("{resource}:Create:{index}")))
}

both_generations!(
    orders_list_fetches_every_page_by_default,
    orders_list_one_page_when_asked,
    orders_list_filters_by_state_type_and_resource,
    orders_list_table_and_csv,
    orders_approve_several_reports_each_and_fails_when_one_failed,
    orders_approve_done_order_fails_with_the_servers_message_in_the_table,
    orders_reject_moves_to_rejected,
    orders_cancel_is_for_the_consumer_and_basic_offerings,
    orders_approve_wrong_role_is_403_and_unknown_is_404,
    resources_list_every_page_filters_and_fields,
    resources_set_backend_id_and_show,
    resources_report_from_sections_and_from_file,
    resources_team_and_plan_periods,
    resources_set_state_ok_and_erred,
    offering_users_create_by_uuid_or_url_and_list,
    provider_show_and_its_errors,
    provider_set_username_on_every_offering,
    provider_users_keys_projects_permissions_every_page,
    users_list_every_page_and_filters,
    keys_list_every_page_and_by_user,
    offerings_show_components_with_billing_types,
    usage_list_by_resource_and_month,
);

// ---- orders ----------------------------------------------------------------------------------

fn orders_list_fetches_every_page_by_default(gen: Gen) {
    let env = Env::of(gen);
    let all = env
        .tally(
            PROVIDER,
            &["orders", "list", "--format", "json", "--page-size", "2"],
        )
        .expect_code(0)
        .json();
    // 3 demo orders + 6 added, all on the provider's offerings.
    assert_eq!(all["count"], 9, "{all:#}");
    assert_eq!(all["total"], 9);
    assert_eq!(all["page"], Value::Null);
    assert_eq!(all["has_next"], false);
    let mut got = uuids(&all);
    got.sort();
    got.dedup();
    assert_eq!(got.len(), 9, "no order twice");
    // Several pages were requested.
    assert!(
        env.sandbox().count("GET", "/api/marketplace-orders/", 200) >= 5,
        "{:?}",
        env.sandbox().counters()
    );
    let first = &all["items"][0];
    for key in [
        "uuid",
        "type",
        "state",
        "marketplace_resource_uuid",
        "created",
    ] {
        assert!(first.get(key).is_some(), "{key} missing in {first:#}");
    }
    assert_eq!(
        first["uuid"].as_str().map(str::len),
        Some(32),
        "32-hex uuids"
    );
}

fn orders_list_one_page_when_asked(gen: Gen) {
    let env = Env::of(gen);
    let p2 = env
        .tally(
            PROVIDER,
            &[
                "orders",
                "list",
                "--format",
                "json",
                "--page",
                "2",
                "--page-size",
                "4",
            ],
        )
        .expect_code(0)
        .json();
    assert_eq!(p2["count"], 4);
    assert_eq!(p2["total"], 9);
    assert_eq!(p2["page"], 2);
    assert_eq!(p2["has_next"], true);
    let p3 = env.tally(
        PROVIDER,
        &["orders", "list", "--page", "3", "--page-size", "4"],
    );
    p3.expect_code(0);
    assert_eq!(
        p3.stdout.lines().count(),
        2,
        "header + 1 row:\n{}",
        p3.stdout
    );
    assert!(p3.stderr.contains("page 3: 1 items of 9"), "{}", p3.stderr);
    // Past the end: the server's 404 and its words.
    let past = env.tally(
        PROVIDER,
        &["orders", "list", "--page", "9", "--page-size", "4"],
    );
    past.expect_code(1);
    assert!(past.stderr.contains("Invalid page."), "{}", past.stderr);
}

fn orders_list_filters_by_state_type_and_resource(gen: Gen) {
    let env = Env::of(gen);
    let pending = env
        .tally(
            PROVIDER,
            &[
                "orders",
                "list",
                "--state",
                "pending-provider",
                "--format",
                "json",
            ],
        )
        .expect_code(0)
        .json();
    let mut got = uuids(&pending);
    got.sort();
    let mut want = vec![
        PENDING_X42.to_owned(),
        demo_order("new-alloc", 1),
        demo_order("consulting-alloc", 2),
    ];
    want.sort();
    assert_eq!(got, want);

    let two = env
        .tally(
            PROVIDER,
            &[
                "orders",
                "list",
                "--state",
                "executing,Erred",
                "--format",
                "json",
            ],
        )
        .expect_code(0)
        .json();
    let mut got = uuids(&two);
    got.sort();
    assert_eq!(got, vec![EXECUTING_BETA, ERRED_GAMMA]);

    let closed = env
        .tally(
            PROVIDER,
            &[
                "orders",
                "list",
                "--state",
                "canceled,rejected",
                "--type",
                "update",
                "--format",
                "json",
            ],
        )
        .expect_code(0)
        .json();
    let mut got = uuids(&closed);
    got.sort();
    assert_eq!(got, vec![CANCELED_ALPHA, REJECTED_BETA]);

    let beta = env.resource("beta-alloc");
    let by_resource = env
        .tally(
            PROVIDER,
            &[
                "orders",
                "list",
                "--resource",
                &beta,
                "--type",
                "terminate",
                "--format",
                "json",
            ],
        )
        .expect_code(0)
        .json();
    assert_eq!(uuids(&by_resource), vec![EXECUTING_BETA]);
    assert_eq!(by_resource["items"][0]["type"], "Terminate");
}

#[test]
fn orders_list_refuses_unknown_labels() {
    let env = Env::new();
    let r = env.tally(PROVIDER, &["orders", "list", "--state", "approved"]);
    r.expect_code(2);
    assert!(
        r.stderr.contains("\"approved\" is not one of") && r.stderr.contains("pending-provider"),
        "{}",
        r.stderr
    );
    assert_eq!(
        env.sandbox().count("GET", "/api/marketplace-orders/", 200),
        0
    );
}

fn orders_list_table_and_csv(gen: Gen) {
    let env = Env::of(gen);
    let t = env
        .tally(PROVIDER, &["orders", "list", "--state", "pending-provider"])
        .expect_code(0)
        .stdout
        .clone();
    let lines: Vec<&str> = t.lines().collect();
    assert!(lines[0].starts_with("UUID"), "{t}");
    assert!(lines[0].contains("STATE"), "{t}");
    assert_eq!(lines.len(), 4, "{t}");
    // Aligned: STATE starts at the same column on every row.
    let col = lines[0].find("STATE").expect("STATE");
    for l in &lines[1..] {
        assert_eq!(
            &l[col..col + "pending-provider".len()],
            "pending-provider",
            "{t}"
        );
    }
    let c = env
        .tally(
            PROVIDER,
            &["orders", "list", "--state", "executing", "--format", "csv"],
        )
        .expect_code(0)
        .stdout
        .clone();
    let mut rows = c.lines();
    assert_eq!(
        rows.next(),
        Some("uuid,type,state,resource_name,marketplace_resource_uuid,project_name,created_by_username,created")
    );
    let row = rows.next().expect("row");
    assert!(
        row.starts_with(&format!("{EXECUTING_BETA},Terminate,executing,beta-alloc,")),
        "{row}"
    );
}

fn orders_approve_several_reports_each_and_fails_when_one_failed(gen: Gen) {
    let env = Env::of(gen);
    let new_alloc = demo_order("new-alloc", 1);
    let done = demo_order("alpha-alloc", 0);
    let r = env.tally(
        PROVIDER,
        &[
            "orders",
            "approve",
            &new_alloc,
            PENDING_X42,
            &done,
            "--format",
            "json",
        ],
    );
    r.expect_code(4);
    let v = r.json();
    assert_eq!(v["action"], "approve");
    assert_eq!(v["done"], 2);
    assert_eq!(v["failed"], 1);
    let res = results(&v);
    assert_eq!(res[0].0, new_alloc);
    assert!(res[0].1);
    assert_eq!(res[0].2, "executing");
    // 8.x answers with words of its own; the 2024 server with an empty 200, and tally says so
    // in words marked as its own.
    let approved = match gen {
        Gen::Current => "Order has been approved.",
        Gen::Older => "tally: approved (Waldur answered without a message)",
    };
    assert_eq!(res[0].4, approved);
    assert_eq!(res[1].0, PENDING_X42);
    assert!(res[1].1);
    assert_eq!(res[2].0, done);
    assert!(!res[2].1);
    assert_eq!(res[2].3, 409);
    assert_eq!(res[2].2, "done");
    assert_eq!(
        res[2].4,
        "Valid states for operation: pending-provider. (tally: the order is done)"
    );
    assert!(r.stderr.contains("1 of 3 orders failed"), "{}", r.stderr);
    // Server state afterwards: approved ones executing, the done one unchanged.
    assert_eq!(env.order_state(&new_alloc), "executing");
    assert_eq!(env.order_state(PENDING_X42), "executing");
    assert_eq!(env.order_state(&done), "done");
}

fn orders_approve_done_order_fails_with_the_servers_message_in_the_table(gen: Gen) {
    let env = Env::of(gen);
    let done = demo_order("alpha-alloc", 0);
    let r = env.tally(PROVIDER, &["orders", "approve", &done]);
    r.expect_code(4);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(lines[0].starts_with("UUID"), "{}", r.stdout);
    assert!(
        lines[1].contains("approve  FAILED  done   409"),
        "{}",
        r.stdout
    );
    assert!(
        lines[1]
            .contains("Valid states for operation: pending-provider. (tally: the order is done)"),
        "{}",
        r.stdout
    );
    assert_eq!(env.order_state(&done), "done");
}

fn orders_reject_moves_to_rejected(gen: Gen) {
    let env = Env::of(gen);
    let r = env.tally(
        PROVIDER,
        &[
            "orders",
            "reject",
            PENDING_X42,
            "--comment",
            "no quota left",
        ],
    );
    r.expect_code(0);
    assert!(r.stdout.contains("reject  ok"), "{}", r.stdout);
    assert!(r.stdout.contains("rejected"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("tally: rejected (Waldur answered without a message)"),
        "{}",
        r.stdout
    );
    // The 2024 server drops the comment: never silently.
    assert_eq!(
        r.stdout.contains("the comment was not stored"),
        gen == Gen::Older,
        "{}",
        r.stdout
    );
    assert_eq!(env.order_state(PENDING_X42), "rejected");
    // Rejecting it again: 409, nothing changes.
    let again = env.tally(
        PROVIDER,
        &["orders", "reject", PENDING_X42, "--format", "json"],
    );
    again.expect_code(4);
    let res = results(&again.json());
    assert_eq!(res[0].3, 409);
    assert!(
        res[0].4.contains("(tally: the order is rejected)"),
        "{:?}",
        res[0]
    );
}

fn orders_cancel_is_for_the_consumer_and_basic_offerings(gen: Gen) {
    let env = Env::of(gen);
    let consulting = demo_order("consulting-alloc", 2);
    let cluster = demo_order("new-alloc", 1);
    // alice administers project Alpha (consulting-alloc); the Cluster order is carol's Gamma.
    let r = env.tally(
        ALICE,
        &[
            "orders",
            "cancel",
            &consulting,
            PENDING_CONSUMER_ALPHA,
            "--format",
            "json",
        ],
    );
    r.expect_code(0);
    let res = results(&r.json());
    assert!(res.iter().all(|x| x.1), "{res:?}");
    assert_eq!(res[0].2, "canceled");
    assert_eq!(env.order_state(&consulting), "canceled");
    assert_eq!(env.order_state(PENDING_CONSUMER_ALPHA), "canceled");
    // Staff may cancel, but not on a SLURM offering: the server's 409 text.
    let r = env.tally(STAFF, &["orders", "cancel", &cluster, "--format", "json"]);
    r.expect_code(4);
    let res = results(&r.json());
    assert_eq!(res[0].3, 409);
    assert!(
        res[0].4.contains("only for basic and support offerings"),
        "{res:?}"
    );
    assert_eq!(env.order_state(&cluster), "pending-provider");
}

fn orders_approve_wrong_role_is_403_and_unknown_is_404(gen: Gen) {
    let env = Env::of(gen);
    let consulting = demo_order("consulting-alloc", 2);
    // alice sees the order (her project) but is no provider.
    let r = env.tally(
        ALICE,
        &["orders", "approve", &consulting, "--format", "json"],
    );
    r.expect_code(4);
    let res = results(&r.json());
    assert_eq!(res[0].3, 403);
    assert_eq!(
        res[0].4,
        "You do not have permission to perform this action."
    );
    assert_eq!(env.order_state(&consulting), "pending-provider");
    // An order nobody has: 404, and the other one is still done.
    let unknown = "0b000000000000000000000000000099";
    let r = env.tally(PROVIDER, &["orders", "approve", unknown, &consulting]);
    r.expect_code(4);
    assert!(r.stdout.contains(unknown), "{}", r.stdout);
    assert!(r.stdout.contains("404"), "{}", r.stdout);
    assert!(r.stderr.contains("1 of 2 orders failed"), "{}", r.stderr);
    assert_eq!(env.order_state(&consulting), "executing");
    // The outsider does not even see the order.
    let r = env.tally(
        OUTSIDER,
        &["orders", "reject", PENDING_X42, "--format", "json"],
    );
    r.expect_code(4);
    assert_eq!(results(&r.json())[0].3, 404);
}

#[test]
fn bad_token_is_exit_6_with_a_clear_message() {
    let env = Env::new();
    let bad = "0123456789abcdef0123456789abcdef01234567";
    let r = env.tally(bad, &["orders", "list"]);
    r.expect_code(6);
    assert!(
        r.stderr.contains("Waldur refused the API token") && r.stderr.contains("Invalid token."),
        "{}",
        r.stderr
    );
    // Several orders: the first 401 stops the run.
    let r = env.tally(
        bad,
        &[
            "orders",
            "approve",
            PENDING_X42,
            EXECUTING_BETA,
            "--format",
            "json",
        ],
    );
    r.expect_code(6);
    assert_eq!(results(&r.json()).len(), 1);
    assert_eq!(env.order_state(PENDING_X42), "pending-provider");
}

#[test]
fn config_without_waldur_or_token_is_exit_2() {
    let env = Env::new();
    let cfg = env.dir.write(
        "nowaldur.toml",
        "[[sources]]\nformat = \"sacct\"\npaths = [\"x\"]\n[components.cpu]\ntres = \"cpu\"\n",
    );
    let r = run(tally().args(["orders", "list", "--config"]).arg(&cfg));
    r.expect_code(2);
    assert!(r.stderr.contains("no [waldur] table"), "{}", r.stderr);
    let cfg = env.dir.write(
        "notoken.toml",
        &format!(
            "[[sources]]\nformat = \"sacct\"\npaths = [\"x\"]\n[components.cpu]\ntres = \"cpu\"\n[waldur]\nurl = \"{}\"\n",
            env.url
        ),
    );
    let r = run(tally().args(["orders", "list", "--config"]).arg(&cfg));
    r.expect_code(2);
    assert!(r.stderr.contains("TALLY_WALDUR_TOKEN"), "{}", r.stderr);
    // The same config with the token in the environment works.
    let r = run(tally()
        .args(["orders", "list", "--config"])
        .arg(&cfg)
        .env("TALLY_WALDUR_TOKEN", PROVIDER));
    r.expect_code(0);
}

// ---- resources -------------------------------------------------------------------------------

impl Env {
    fn resource_now(&self, name: &str) -> tally_waldur::Resource {
        let c = self.staff();
        self.rt
            .block_on(c.resource(
                tally_waldur::ResourceView::Provider,
                self.world.resource_uuid(name).expect("resource"),
                &[],
            ))
            .expect("resource")
    }
}

fn names(v: &Value, key: &str) -> Vec<String> {
    let mut n: Vec<String> = v["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i[key].as_str().unwrap_or_default().to_owned())
        .collect();
    n.sort();
    n
}

fn resources_list_every_page_filters_and_fields(gen: Gen) {
    let env = Env::of(gen);
    let all = env
        .tally(
            PROVIDER,
            &["resources", "list", "--page-size", "3", "--format", "json"],
        )
        .expect_code(0)
        .json();
    assert_eq!(all["count"], 7, "{all:#}");
    assert!(
        env.sandbox()
            .count("GET", "/api/marketplace-provider-resources/", 200)
            >= 3
    );
    let creating = env
        .tally(
            PROVIDER,
            &[
                "resources",
                "list",
                "--state",
                "creating",
                "--format",
                "json",
            ],
        )
        .expect_code(0)
        .json();
    assert_eq!(
        names(&creating, "name"),
        vec!["consulting-alloc", "new-alloc"]
    );
    let consulting = env.offering("Consulting");
    let by_offering = env
        .tally(
            PROVIDER,
            &[
                "resources",
                "list",
                "--offering",
                &consulting,
                "--format",
                "json",
            ],
        )
        .expect_code(0)
        .json();
    assert_eq!(names(&by_offering, "name"), vec!["consulting-alloc"]);
    // --field: the server is asked for those fields, the output has exactly them (+ uuid).
    let f = env
        .tally(
            PROVIDER,
            &[
                "resources",
                "list",
                "--field",
                "name,state",
                "--backend-id",
                "proj_beta",
                "--format",
                "json",
            ],
        )
        .expect_code(0)
        .json();
    let item = f["items"][0].as_object().expect("object");
    let mut keys: Vec<&str> = item.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, vec!["name", "state", "uuid"]);
    assert_eq!(item["name"], "beta-alloc");
    let t = env
        .tally(
            PROVIDER,
            &[
                "resources",
                "list",
                "--field",
                "name,state,backend_id",
                "--state",
                "Erred",
            ],
        )
        .expect_code(0)
        .stdout
        .clone();
    let lines: Vec<&str> = t.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        vec!["UUID", "NAME", "STATE", "BACKEND_ID"]
    );
    assert!(
        lines[1].contains("erred-alloc") && lines[1].ends_with("proj_erred"),
        "{t}"
    );
    // A customer who is no provider sees none of them.
    let lab = simple(env.world.organization_uuid("Research Lab").expect("org"));
    let none = env
        .tally(PROVIDER, &["resources", "list", "--customer", &lab])
        .expect_code(0)
        .stdout
        .clone();
    assert!(none.ends_with("(none)\n"), "{none}");
}

fn resources_set_backend_id_and_show(gen: Gen) {
    let env = Env::of(gen);
    let new_alloc = env.resource("new-alloc");
    let r = env.tally(
        PROVIDER,
        &[
            "resources",
            "set-backend-id",
            &new_alloc,
            "proj_new",
            "--format",
            "json",
        ],
    );
    r.expect_code(0);
    let res = results(&r.json());
    assert_eq!(res[0].0, new_alloc);
    assert_eq!(res[0].4, "Resource backend_id has been changed.");
    assert_eq!(res[0].2, "Creating");
    assert_eq!(
        env.resource_now("new-alloc").backend_id.as_deref(),
        Some("proj_new")
    );
    let again = env.tally(
        PROVIDER,
        &["resources", "set-backend-id", &new_alloc, "proj_new"],
    );
    again.expect_code(0);
    assert!(
        again.stdout.contains("Resource backend_id is not changed."),
        "{}",
        again.stdout
    );
    // Someone who does not see the resource as provider: 404, nothing changes.
    let r = env.tally(ALICE, &["resources", "set-backend-id", &new_alloc, "mine"]);
    r.expect_code(4);
    assert!(r.stdout.contains("404"), "{}", r.stdout);
    assert_eq!(
        env.resource_now("new-alloc").backend_id.as_deref(),
        Some("proj_new")
    );
    let shown = env
        .tally(
            PROVIDER,
            &["resources", "show", &new_alloc, "--format", "json"],
        )
        .expect_code(0)
        .json();
    assert_eq!(shown["backend_id"], "proj_new");
    assert_eq!(shown["uuid"], new_alloc.as_str());
    let table = env
        .tally(PROVIDER, &["resources", "show", &new_alloc])
        .expect_code(0)
        .stdout
        .clone();
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("backend_id") && l.ends_with("proj_new")),
        "{table}"
    );
    // Too long for Waldur: refused before sending (exit 2).
    let long = "x".repeat(256);
    env.tally(
        PROVIDER,
        &["resources", "set-backend-id", &new_alloc, &long],
    )
    .expect_code(2);
}

fn resources_report_from_sections_and_from_file(gen: Gen) {
    let env = Env::of(gen);
    let alpha = env.resource("alpha-alloc");
    let r = env.tally(
        PROVIDER,
        &[
            "resources",
            "report",
            &alpha,
            "--section",
            "Login=ssh alice_c@hpc.example.org",
            "--section",
            "Docs=https://docs.hpc.example.org/?a=b",
        ],
    );
    r.expect_code(0);
    assert!(r.stdout.contains("Report is submitted"), "{}", r.stdout);
    let report = env.resource_now("alpha-alloc").report.expect("report");
    assert_eq!(report.len(), 2);
    assert_eq!(report[0].header, "Login");
    assert_eq!(report[0].body, "ssh alice_c@hpc.example.org");
    assert_eq!(report[1].body, "https://docs.hpc.example.org/?a=b");
    let file = env.dir.write(
        "report.json",
        r#"{"report": [{"header": "Quota", "body": "100 TB"}]}"#,
    );
    env.tally(
        PROVIDER,
        &[
            "resources",
            "report",
            &alpha,
            "--from-file",
            file.to_str().expect("path"),
        ],
    )
    .expect_code(0);
    let report = env.resource_now("alpha-alloc").report.expect("report");
    assert_eq!(report.len(), 1, "replaced, not appended");
    assert_eq!(report[0].header, "Quota");
    // Malformed input is refused before anything is sent.
    env.tally(
        PROVIDER,
        &["resources", "report", &alpha, "--section", "no equals sign"],
    )
    .expect_code(2);
    env.tally(PROVIDER, &["resources", "report", &alpha])
        .expect_code(2);
    // A section the server refuses (blank body): its message, per field.
    let r = env.tally(
        PROVIDER,
        &["resources", "report", &alpha, "--section", "Empty="],
    );
    r.expect_code(4);
    assert!(
        r.stdout
            .contains("report[0].body: This field may not be blank."),
        "{}",
        r.stdout
    );
}

fn resources_team_and_plan_periods(gen: Gen) {
    let env = Env::of(gen);
    let alpha = env.resource("alpha-alloc");
    let team = env
        .tally(
            PROVIDER,
            &[
                "resources",
                "team",
                &alpha,
                "--format",
                "json",
                "--page-size",
                "1",
            ],
        )
        .expect_code(0)
        .json();
    assert_eq!(names(&team, "username"), vec!["alice", "bob"]);
    let alice = team["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|m| m["username"] == "alice")
        .expect("alice");
    let admin = match gen {
        Gen::Current => "PROJECT.ADMIN",
        Gen::Older => "admin",
    };
    assert_eq!(alice["role"], admin);
    assert_eq!(alice["offering_user_username"], "alice_c");
    let t = env
        .tally(PROVIDER, &["resources", "team", &alpha])
        .expect_code(0)
        .stdout
        .clone();
    assert!(t.starts_with("UUID"), "{t}");
    assert!(t.contains("alice_c"), "{t}");

    let periods = env
        .tally(
            PROVIDER,
            &["resources", "plan-periods", &alpha, "--format", "json"],
        )
        .expect_code(0)
        .json();
    assert_eq!(periods["count"], 1, "{periods:#}");
    assert_eq!(periods["items"][0]["plan_name"], "default");
    env.tally(
        PROVIDER,
        &["resources", "plan-periods", &alpha, "--format", "csv"],
    )
    .expect_code(0);
    let unknown = "0c000000000000000000000000000001";
    let r = env.tally(PROVIDER, &["resources", "team", unknown]);
    r.expect_code(1);
    assert!(r.stderr.contains("404"), "{}", r.stderr);
}

fn resources_set_state_ok_and_erred(gen: Gen) {
    let env = Env::of(gen);
    let new_alloc = env.resource("new-alloc");
    // The Create order first: on the 2024 server it is what a provider completes.
    env.tally(
        PROVIDER,
        &["orders", "approve", &demo_order("new-alloc", 1)],
    )
    .expect_code(0);
    let r = env.tally(
        PROVIDER,
        &[
            "resources",
            "set-state",
            &new_alloc,
            "ok",
            "--format",
            "json",
        ],
    );
    r.expect_code(0);
    let res = results(&r.json());
    assert_eq!(res[0].2, "OK");
    let how = match gen {
        Gen::Current => "tally: set_as_ok done (Waldur answered without a message)".to_owned(),
        Gen::Older => format!(
            "tally: this server has no set_as_ok; completed the resource's executing Create order {} with set_state_done instead",
            demo_order("new-alloc", 1)
        ),
    };
    assert_eq!(res[0].4, how);
    assert_eq!(
        env.resource_now("new-alloc")
            .state
            .expect("state")
            .to_string(),
        "OK"
    );
    // `--error-message` goes with erred only: never dropped silently.
    env.tally(
        PROVIDER,
        &[
            "resources",
            "set-state",
            &new_alloc,
            "ok",
            "--error-message",
            "x",
        ],
    )
    .expect_code(2);

    let consulting = env.resource("consulting-alloc");
    env.tally(
        PROVIDER,
        &["orders", "approve", &demo_order("consulting-alloc", 2)],
    )
    .expect_code(0);
    let r = env.tally(
        PROVIDER,
        &[
            "resources",
            "set-state",
            &consulting,
            "erred",
            "--error-message",
            "no nodes",
            "--format",
            "json",
        ],
    );
    r.expect_code(0);
    let res = results(&r.json());
    assert_eq!(res[0].2, "Erred");
    match gen {
        Gen::Current => {
            assert_eq!(
                res[0].4,
                "tally: set_as_erred done (Waldur answered without a message)"
            );
            assert_eq!(
                env.resource_now("consulting-alloc").error_message.as_deref(),
                Some("no nodes")
            );
        }
        Gen::Older => assert!(
            res[0].4.starts_with(
                "tally: set_as_erred is refused to this token (servers of 2024 keep it for staff); completed the resource's executing Create order"
            ) && res[0].4.ends_with("with set_state_erred instead; the error message is stored on the order"),
            "{res:?}"
        ),
    }
    // No resource action and no executing order: said plainly, the server's words first.
    let alpha = env.resource("alpha-alloc");
    let r = env.tally(
        PROVIDER,
        &[
            "resources",
            "set-state",
            &alpha,
            "erred",
            "--error-message",
            "disk",
            "--format",
            "json",
        ],
    );
    match gen {
        Gen::Current => {
            r.expect_code(0);
            assert_eq!(
                env.resource_now("alpha-alloc").error_message.as_deref(),
                Some("disk")
            );
        }
        Gen::Older => {
            r.expect_code(4);
            let res = results(&r.json());
            assert_eq!(res[0].3, 403);
            assert_eq!(res[0].2, "OK");
            assert_eq!(
                res[0].4,
                "You do not have permission to perform this action. (tally: set_as_erred is refused to this token (servers of 2024 keep it for staff), and the resource has no executing Create or Update order to complete instead: a provider cannot set this state here; ask the server's staff)"
            );
            let r = env.tally(
                PROVIDER,
                &["resources", "set-state", &alpha, "ok", "--format", "json"],
            );
            r.expect_code(4);
            let res = results(&r.json());
            assert_eq!(res[0].3, 404);
            assert!(
                res[0].4.starts_with(
                    "HTTP 404 (not JSON): this server has no marketplace-provider-resources/{uuid}/set_as_ok/ (tally: this server has no set_as_ok"
                ),
                "{res:?}"
            );
            assert!(!res[0].4.contains('<'), "no HTML in a message: {res:?}");
            // An executing Terminate order is never completed for `ok`: that would end it.
            let beta = env.resource("beta-alloc");
            env.tally(PROVIDER, &["resources", "set-state", &beta, "ok"])
                .expect_code(4);
            assert_eq!(env.order_state(EXECUTING_BETA), "executing");
            assert_eq!(
                env.resource_now("beta-alloc")
                    .state
                    .expect("state")
                    .to_string(),
                "OK"
            );
            // Staff may: the resource becomes Erred, but that server keeps no message.
            let r = env.tally(
                STAFF,
                &[
                    "resources",
                    "set-state",
                    &alpha,
                    "erred",
                    "--error-message",
                    "disk",
                    "--format",
                    "json",
                ],
            );
            r.expect_code(0);
            let res = results(&r.json());
            assert_eq!(res[0].2, "Erred");
            assert!(
                res[0].4.ends_with("; the server did not store the error message (it keeps the resource's error_message only from its own processing)"),
                "{res:?}"
            );
        }
    }
    env.sandbox()
        .set_resource_state("gamma-alloc", "Terminated")
        .expect("planted");
    let gamma = env.resource("gamma-alloc");
    if gen == Gen::Current {
        let r = env.tally(
            PROVIDER,
            &["resources", "set-state", &gamma, "ok", "--format", "json"],
        );
        r.expect_code(4);
        let res = results(&r.json());
        assert_eq!(res[0].3, 409);
        assert_eq!(res[0].2, "Terminated");
        assert!(
            res[0].4.starts_with("Valid states for operation:"),
            "{res:?}"
        );
    }
    // "terminated" is not a state a provider sets: rejecting the Create order does that.
    env.tally(PROVIDER, &["resources", "set-state", &gamma, "terminated"])
        .expect_code(2);
}

// ---- offering users, provider ----------------------------------------------------------------

impl Env {
    fn offering_users_of(&self, user: &str) -> Vec<(String, String)> {
        let v = self
            .tally(
                PROVIDER,
                &[
                    "offering-users",
                    "list",
                    "--user",
                    &self.user(user),
                    "--format",
                    "json",
                ],
            )
            .expect_code(0)
            .json();
        let mut out: Vec<(String, String)> = v["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| {
                (
                    i["offering_name"].as_str().unwrap_or_default().to_owned(),
                    i["username"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        out.sort();
        out
    }
}

fn offering_users_create_by_uuid_or_url_and_list(gen: Gen) {
    let env = Env::of(gen);
    let bob = env.user("bob");
    // Offering from the config, user by uuid.
    let r = env.tally(
        PROVIDER,
        &[
            "offering-users",
            "create",
            "--user",
            &bob,
            "--username",
            "bob_c",
            "--format",
            "json",
        ],
    );
    r.expect_code(0);
    let res = results(&r.json());
    assert!(res[0].1);
    assert_eq!(
        res[0].4,
        "tally: user bob has username bob_c on offering Cluster"
    );
    // The 2024 server's offering users have no state.
    let created_state = match gen {
        Gen::Current => Value::from("OK"),
        Gen::Older => Value::Null,
    };
    assert_eq!(res[0].2, created_state);
    // Both by URL, as in the guide.
    let offering_url = format!(
        "{}marketplace-public-offerings/{}/",
        env.url,
        env.offering("Consulting")
    );
    let user_url = format!("{}users/{bob}/", env.url);
    env.tally(
        PROVIDER,
        &[
            "offering-users",
            "create",
            "--offering",
            &offering_url,
            "--user",
            &user_url,
            "--username",
            "bob_k",
        ],
    )
    .expect_code(0);
    assert_eq!(
        env.offering_users_of("bob"),
        vec![
            ("Cluster".to_owned(), "bob_c".to_owned()),
            ("Consulting".to_owned(), "bob_k".to_owned())
        ]
    );
    // A second one for the same pair: the server's 400, exit 4.
    let r = env.tally(
        PROVIDER,
        &[
            "offering-users",
            "create",
            "--user",
            &bob,
            "--username",
            "other",
            "--format",
            "json",
        ],
    );
    r.expect_code(4);
    let res = results(&r.json());
    assert_eq!(res[0].3, 400);
    assert_eq!(
        res[0].4,
        "The fields offering, user must make a unique set."
    );
    // Not a uuid nor a URL: refused by the command line.
    env.tally(
        PROVIDER,
        &[
            "offering-users",
            "create",
            "--user",
            "bob",
            "--username",
            "x",
        ],
    )
    .expect_code(2);
    // Every page, and one page.
    let all = env
        .tally(
            PROVIDER,
            &[
                "offering-users",
                "list",
                "--page-size",
                "1",
                "--format",
                "json",
            ],
        )
        .expect_code(0)
        .json();
    assert_eq!(all["count"], 4);
    assert_eq!(
        names(&all, "username"),
        vec!["alice_c", "bob_c", "bob_k", "carol_c"]
    );
    let csv = env
        .tally(
            PROVIDER,
            &["offering-users", "list", "--format", "csv", "--state", "OK"],
        )
        .expect_code(0)
        .stdout
        .clone();
    assert!(
        csv.starts_with("uuid,offering_name,user_username,username,state,user_uuid,created\n"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 5, "{csv}");
}

fn provider_show_and_its_errors(gen: Gen) {
    let env = Env::of(gen);
    let v = env
        .tally(PROVIDER, &["provider", "show", "--format", "json"])
        .expect_code(0)
        .json();
    assert_eq!(v["customer_name"], "HPC Centre");
    assert_eq!(v["customer_uuid"], env.org().as_str());
    assert_eq!(v["uuid"].as_str().map(str::len), Some(32));
    let t = env
        .tally(PROVIDER, &["provider", "show"])
        .expect_code(0)
        .stdout
        .clone();
    assert!(
        t.lines()
            .any(|l| l.starts_with("customer_name") && l.ends_with("HPC Centre")),
        "{t}"
    );
    let lab = simple(env.world.organization_uuid("Research Lab").expect("org"));
    let r = env.tally(PROVIDER, &["provider", "show", "--customer", &lab]);
    r.expect_code(2);
    assert!(
        r.stderr.contains("has no service-provider record"),
        "{}",
        r.stderr
    );
}

fn provider_set_username_on_every_offering(gen: Gen) {
    let env = Env::of(gen);
    let bob = env.user("bob");
    let r = env.tally(
        PROVIDER,
        &[
            "provider",
            "set-username",
            "--user",
            &bob,
            "--username",
            "bob_hpc",
        ],
    );
    r.expect_code(0);
    assert!(
        r.stdout
            .contains("tally: username bob_hpc set on the offerings of HPC Centre"),
        "{}",
        r.stdout
    );
    // bob is in Alpha (Cluster, Consulting) and Beta (Cluster).
    assert_eq!(
        env.offering_users_of("bob"),
        vec![
            ("Cluster".to_owned(), "bob_hpc".to_owned()),
            ("Consulting".to_owned(), "bob_hpc".to_owned())
        ]
    );
    // Not a provider manager: 403, nothing changes.
    let r = env.tally(
        ALICE,
        &[
            "provider",
            "set-username",
            "--user",
            &bob,
            "--username",
            "hijack",
            "--format",
            "json",
        ],
    );
    r.expect_code(4);
    assert_eq!(results(&r.json())[0].3, 403);
    assert_eq!(env.offering_users_of("bob")[0].1, "bob_hpc");
    // Unknown user: the server's 400 names it.
    let nobody = "0d000000000000000000000000000001";
    let r = env.tally(
        PROVIDER,
        &[
            "provider",
            "set-username",
            "--user",
            nobody,
            "--username",
            "x",
            "--format",
            "json",
        ],
    );
    r.expect_code(4);
    let res = results(&r.json());
    assert_eq!(res[0].3, 400);
    assert!(res[0].4.contains(nobody), "{res:?}");
}

fn provider_users_keys_projects_permissions_every_page(gen: Gen) {
    let env = Env::of(gen);
    let list = |what: &str| {
        env.tally(
            PROVIDER,
            &["provider", what, "--page-size", "2", "--format", "json"],
        )
        .expect_code(0)
        .json()
    };
    let users = list("users");
    assert_eq!(names(&users, "username"), vec!["alice", "bob", "carol"]);
    let keys = list("keys");
    assert_eq!(
        names(&keys, "name"),
        vec!["desktop", "hpc", "laptop", "workstation"]
    );
    assert!(keys["items"][0]["public_key"]
        .as_str()
        .is_some_and(|k| k.starts_with("ssh-")));
    let projects = list("projects");
    assert_eq!(
        names(&projects, "name"),
        vec!["Alpha", "Beta", "Gamma", "X42"]
    );
    let perms = list("permissions");
    assert_eq!(perms["count"], 6, "{perms:#}");
    assert!(perms["items"][0]["user_username"].is_string());
    // `role_name` on 8.x, `role` on the 2024 server: the table's ROLE_NAME is filled on both.
    let roles = names(&perms, "role_name");
    let known: &[&str] = match gen {
        Gen::Current => &["PROJECT.ADMIN", "PROJECT.MANAGER", "PROJECT.MEMBER"],
        Gen::Older => &["admin", "manager", "member"],
    };
    assert!(
        roles.iter().all(|r| known.contains(&r.as_str())),
        "{roles:?}"
    );
    // One page of users.
    let p = env
        .tally(
            PROVIDER,
            &[
                "provider",
                "users",
                "--page",
                "2",
                "--page-size",
                "2",
                "--format",
                "json",
            ],
        )
        .expect_code(0)
        .json();
    assert_eq!(p["count"], 1);
    assert_eq!(p["total"], 3);
    // Tables: aligned headers.
    let t = env
        .tally(PROVIDER, &["provider", "permissions"])
        .expect_code(0)
        .stdout
        .clone();
    assert!(t.starts_with("PROJECT_NAME  USER_USERNAME"), "{t}");
    let t = env
        .tally(PROVIDER, &["provider", "keys"])
        .expect_code(0)
        .stdout
        .clone();
    assert!(!t.contains("AAAAC3"), "no public key in the table:\n{t}");
    assert!(t.contains("SHA256:"), "{t}");
}

// ---- users, keys, offerings, usage -----------------------------------------------------------

fn users_list_every_page_and_filters(gen: Gen) {
    let env = Env::of(gen);
    let all = env
        .tally(
            STAFF,
            &["users", "list", "--page-size", "3", "--format", "json"],
        )
        .expect_code(0)
        .json();
    assert_eq!(all["count"], 7);
    assert!(all["items"]
        .as_array()
        .expect("items")
        .iter()
        .all(|u| u.get("token").is_none()));
    let alice = env
        .tally(
            STAFF,
            &["users", "list", "--username", "alice", "--format", "json"],
        )
        .expect_code(0)
        .json();
    assert_eq!(uuids(&alice), vec![env.user("alice")]);
    let t = env
        .tally(STAFF, &["users", "list", "--query", "uni.example"])
        .expect_code(0)
        .stdout
        .clone();
    assert_eq!(t.lines().count(), 3, "header + alice + bob:\n{t}");
    assert!(t.contains("alice@uni.example.org"), "{t}");
}

fn keys_list_every_page_and_by_user(gen: Gen) {
    let env = Env::of(gen);
    let all = env
        .tally(
            STAFF,
            &["keys", "list", "--page-size", "1", "--format", "json"],
        )
        .expect_code(0)
        .json();
    assert_eq!(all["count"], 4);
    let alice = env
        .tally(
            STAFF,
            &[
                "keys",
                "list",
                "--user",
                &env.user("alice"),
                "--format",
                "csv",
            ],
        )
        .expect_code(0)
        .stdout
        .clone();
    let mut lines = alice.lines();
    assert_eq!(
        lines.next(),
        Some("uuid,name,user_uuid,type,fingerprint_sha256,is_shared,public_key")
    );
    assert_eq!(lines.count(), 2, "{alice}");
}

fn offerings_show_components_with_billing_types(gen: Gen) {
    let env = Env::of(gen);
    let t = env
        .tally(PROVIDER, &["offerings", "show"])
        .expect_code(0)
        .stdout
        .clone();
    assert!(
        t.lines()
            .any(|l| l.starts_with("name") && l.ends_with("Cluster")),
        "{t}"
    );
    let storage = t
        .lines()
        .find(|l| l.starts_with("storage"))
        .expect("storage row");
    assert!(storage.contains("limit"), "{t}");
    let consulting = env.offering("Consulting");
    let csv = env
        .tally(
            PROVIDER,
            &["offerings", "show", &consulting, "--format", "csv"],
        )
        .expect_code(0)
        .stdout
        .clone();
    assert_eq!(
        csv,
        "type,name,measured_unit,billing_type,limit_period,limit_amount\nhours,Consulting hours,hours,usage,,\n"
    );
    let v = env
        .tally(
            PROVIDER,
            &["offerings", "show", "--provider-view", "--format", "json"],
        )
        .expect_code(0)
        .json();
    let types: Vec<(String, String)> = v["components"]
        .as_array()
        .expect("components")
        .iter()
        .map(|c| {
            (
                c["type"].as_str().unwrap_or_default().to_owned(),
                c["billing_type"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        types,
        vec![
            ("cpu".to_owned(), "usage".to_owned()),
            ("gpu".to_owned(), "usage".to_owned()),
            ("ram".to_owned(), "usage".to_owned()),
            ("storage".to_owned(), "limit".to_owned())
        ]
    );
    let r = env.tally(
        PROVIDER,
        &["offerings", "show", "0e000000000000000000000000000001"],
    );
    r.expect_code(1);
    assert!(r.stderr.contains("not found"), "{}", r.stderr);
}

fn usage_list_by_resource_and_month(gen: Gen) {
    let env = Env::of(gen);
    let alpha = env.resource("alpha-alloc");
    let all = env
        .tally(
            PROVIDER,
            &[
                "usage",
                "list",
                "--resource",
                &alpha,
                "--page-size",
                "1",
                "--format",
                "json",
            ],
        )
        .expect_code(0)
        .json();
    assert_eq!(all["count"], 3, "{all:#}");
    let feb = env
        .tally(
            PROVIDER,
            &[
                "usage",
                "list",
                "--resource",
                &alpha,
                "--month",
                "2025-02",
                "--format",
                "json",
            ],
        )
        .expect_code(0)
        .json();
    assert_eq!(feb["count"], 1);
    assert_eq!(feb["items"][0]["usage"], "12.50");
    assert_eq!(feb["items"][0]["billing_period"], "2025-02-01");
    let gpu = env
        .tally(
            PROVIDER,
            &[
                "usage",
                "list",
                "--resource",
                &alpha,
                "--month",
                "2025-03",
                "--component",
                "gpu",
            ],
        )
        .expect_code(0)
        .stdout
        .clone();
    let lines: Vec<&str> = gpu.lines().collect();
    assert_eq!(lines.len(), 2, "{gpu}");
    let cells: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        &cells[..4],
        &["2025-03-01", "gpu", "1.25", "hours"],
        "{gpu}"
    );
    assert_eq!(
        lines[0].find("TYPE"),
        lines[1].find("gpu"),
        "aligned:\n{gpu}"
    );
    env.tally(
        PROVIDER,
        &["usage", "list", "--resource", &alpha, "--month", "March"],
    )
    .expect_code(2);
}
