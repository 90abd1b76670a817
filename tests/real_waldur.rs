//! tally against a genuine Waldur (waldur-mastermind of `tests/real-waldur/`), and the same
//! scenarios against the embedded sandbox in both of its modes, so that a difference between the
//! real server and the sandbox shows up as a failing test here and not in production.
//!
//! Every scenario is written once, as a function of a [`World`]: a provider organisation with a
//! usage-billed offering (cpu/gpu/ram), a client organisation with two projects, four resources
//! made through the order flow (backend_ids of the demo dumps in `fixtures/demo`), two Create
//! orders left pending for the provider, offering users for the local usernames of the dumps and an
//! SSH key. On the real server each world is built through its REST API as a site agent would
//! (new organisations and offering per world, so no test sees another's usage); on the sandbox
//! the same world is its seed file. Each scenario runs the real `tally` binary with the provider
//! owner's token (staff's where that matters) and reads what the server then holds back through
//! the REST API itself, never through tally.
//!
//! "Now" is the server's own clock: the real server runs under libfaketime (its HTTP `Date`
//! header tells its time), the sandbox's clock is set to the same instant.
//!
//! Without the real server (no `/tmp/real-waldur/env.sh`, or it does not answer) the `real::`
//! tests print a SKIPPED line saying how to start it and return; with `CI` set they fail instead.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use chrono::{DateTime, Datelike, Utc};
use rust_decimal::Decimal;
use serde_json::{json, Value};

use crate::util::{root, run, tally, Run, Sandbox, TestDir};

const HOW: &str = "start it with `bash tests/real-waldur/start.sh` (root, Debian 12; it runs \
                   ../shared/real-waldur/setup.sh: 7-10 min the first time, about a second when \
                   it runs already; stop it with `bash tests/real-waldur/stop.sh`)";

/// Waldur usernames of the world's people (global on a real server, reused by every world).
const PROVIDER_USER: &str = "tly-provider";
/// Waldur username -> local (cluster) username in the demo dumps.
const PEOPLE: &[(&str, &str)] = &[
    ("tly-alice", "alice"),
    ("tly-bob", "bob"),
    ("tly-carol", "carol"),
];
/// People without an offering user: `offering-users create` makes theirs.
const NEWCOMERS: &[(&str, &str)] = &[("tly-dave", "dave"), ("tly-erin", "erin")];
/// The resources of every world: (name, backend_id, project).
const RESOURCES: &[(&str, &str, &str)] = &[
    ("alpha-alloc", "proj_alpha", "Alpha"),
    ("beta-alloc", "proj_beta", "Alpha"),
    ("gamma-alloc", "proj_gamma", "Gamma"),
    ("x42-alloc", "hpc_x42", "Gamma"),
];
/// Create orders left pending for the provider: (resource name, project, ordered by).
const PENDING: &[(&str, &str, &str)] = &[
    ("new-alloc", "Gamma", "tly-carol"),
    ("spare-alloc", "Alpha", "tly-alice"),
];
const COMPONENTS: &[(&str, &str, &str)] = &[
    ("cpu", "CPU", "hours"),
    ("gpu", "GPU", "hours"),
    ("ram", "RAM", "GB-hours"),
];
const ALICE_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPyGVOfUfmw27/F78v6TXWD0VBXaYwXWsfjVmmMwnLJ6 alice@laptop";
/// The sandbox's clock when no real server tells its own (the real server's FAKE_NOW).
const DEFAULT_NOW: &str = "2026-11-15T12:00:00Z";

// ---------------------------------------------------------------------------------------------
// Targets

/// Where a scenario runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The genuine waldur-mastermind of `tests/real-waldur/`.
    Real,
    /// The embedded sandbox answering as the older (7.x, pre-8.0) server generation.
    Sandbox7x,
    /// The embedded sandbox in its default 8.x mode.
    Sandbox8x,
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// The real server: its API base URL (ending in `/api/`) and staff token.
#[derive(Clone, Debug)]
pub(crate) struct RealServer {
    pub(crate) api: String,
    pub(crate) staff_token: String,
}

/// `TALLY_REAL_WALDUR_ENV` or /tmp/real-waldur/env.sh (written by setup.sh).
fn env_file() -> PathBuf {
    std::env::var_os("TALLY_REAL_WALDUR_ENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/real-waldur/env.sh"))
}

fn skip_or_fail(why: &str) -> Option<RealServer> {
    if in_ci() {
        panic!("{why} and CI is set: the real-Waldur tests must run in CI; {HOW}");
    }
    // Straight to stderr, not through the test harness's capture, so a plain `cargo test`
    // shows it.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {}: {why}; {HOW}",
        std::thread::current().name().unwrap_or("real_waldur")
    );
    None
}

/// The running real server, or None after printing the SKIPPED line (a panic under CI).
pub(crate) fn real_server() -> Option<RealServer> {
    static SERVER: OnceLock<Result<RealServer, String>> = OnceLock::new();
    let found = SERVER.get_or_init(|| {
        let path = env_file();
        let text = std::fs::read_to_string(&path)
            .map_err(|_| format!("real Waldur not set up ({} is missing)", path.display()))?;
        let vars: BTreeMap<&str, &str> = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim(), v.trim().trim_matches('"')))
            .collect();
        let url = vars
            .get("URL")
            .ok_or_else(|| format!("{} has no URL", path.display()))?;
        let token_file = vars
            .get("STAFF_TOKEN_FILE")
            .ok_or_else(|| format!("{} has no STAFF_TOKEN_FILE", path.display()))?;
        let staff_token = std::fs::read_to_string(token_file)
            .map_err(|e| format!("cannot read the staff token {token_file}: {e}"))?
            .trim()
            .to_owned();
        let api = format!("{}/api/", url.trim_end_matches('/'));
        let probe = Api::new(&api);
        match probe.probe("marketplace-public-offerings/") {
            Ok(200) => {}
            Ok(status) => {
                return Err(format!(
                    "real Waldur at {url} answers GET marketplace-public-offerings/ with {status}"
                ))
            }
            Err(e) => return Err(format!("real Waldur at {url} does not answer ({e})")),
        }
        Ok(RealServer { api, staff_token })
    });
    match found {
        Ok(s) => Some(s.clone()),
        Err(why) => skip_or_fail(why),
    }
}

// ---------------------------------------------------------------------------------------------
// A small REST client of its own, to read back what the server holds without tally's code

struct Reply {
    status: u16,
    body: Value,
    date: Option<String>,
    next: Option<String>,
}

struct Api {
    base: String,
    http: reqwest::Client,
    rt: tokio::runtime::Runtime,
}

impl Api {
    fn new(base: &str) -> Api {
        Api {
            base: base.to_owned(),
            http: reqwest::Client::new(),
            // several test threads may call block_on at once on a shared world
            rt: tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("runtime"),
        }
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{}", self.base, path)
        }
    }

    /// The status of an anonymous GET, or why there was none (nothing listening, timeout).
    fn probe(&self, path: &str) -> Result<u16, String> {
        let req = self
            .http
            .get(self.url(path))
            .timeout(std::time::Duration::from_secs(10));
        // inside the runtime: send() arms its timeout at once
        self.rt
            .block_on(async move { req.send().await })
            .map(|r| r.status().as_u16())
            .map_err(|e| e.to_string())
    }

    fn send(&self, method: &str, path: &str, token: Option<&str>, body: Option<&Value>) -> Reply {
        let url = self.url(path);
        let method = reqwest::Method::from_str(method).expect("method");
        let mut req = self
            .http
            .request(method.clone(), &url)
            .header("Accept", "application/json");
        if let Some(t) = token {
            req = req.header("Authorization", format!("Token {t}"));
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        self.rt.block_on(async {
            let resp = req
                .send()
                .await
                .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
            let status = resp.status().as_u16();
            let header = |name: &str| {
                resp.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let date = header("date");
            let next = header("link").and_then(|l| {
                l.split(',').find_map(|part| {
                    let (target, rel) = part.split_once(';')?;
                    rel.contains("rel=\"next\"").then(|| {
                        target
                            .trim()
                            .trim_start_matches('<')
                            .trim_end_matches('>')
                            .to_owned()
                    })
                })
            });
            let text = resp.text().await.unwrap_or_default();
            let body = if text.trim().is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).unwrap_or(Value::String(text))
            };
            Reply {
                status,
                body,
                date,
                next,
            }
        })
    }

    /// A call that must succeed (any 2xx); its body.
    #[track_caller]
    fn ok(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> Value {
        let r = self.send(method, path, Some(token), body.as_ref());
        assert!(
            (200..300).contains(&r.status),
            "{method} {path} -> {}: {}",
            r.status,
            r.body
        );
        r.body
    }

    #[track_caller]
    fn get(&self, path: &str, token: &str) -> Value {
        self.ok("GET", path, token, None)
    }

    /// Every item of a list endpoint, following `Link: rel="next"`.
    #[track_caller]
    fn list(&self, path: &str, token: &str) -> Vec<Value> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut next = Some(format!("{path}{sep}page_size=100"));
        let mut items = Vec::new();
        while let Some(p) = next.take() {
            let r = self.send("GET", &p, Some(token), None);
            assert_eq!(r.status, 200, "GET {p}: {}", r.body);
            items.extend(r.body.as_array().cloned().unwrap_or_default());
            next = r.next;
        }
        items
    }
}

fn s(v: &Value, key: &str) -> String {
    match &v[key] {
        Value::String(x) => x.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn simple(uuid: &str) -> String {
    uuid.replace('-', "")
}

fn dec(v: &Value) -> Decimal {
    match v {
        Value::String(x) => Decimal::from_str(x).unwrap_or_else(|e| panic!("{x}: {e}")),
        Value::Number(n) => Decimal::from_str(&n.to_string())
            .or_else(|_| Decimal::from_scientific(&n.to_string()))
            .unwrap_or_else(|e| panic!("{n}: {e}")),
        other => panic!("not a number: {other}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Worlds

/// One world on one target, and a scratch directory for tally's configs and ledger.
pub struct World {
    kind: Kind,
    api: Api,
    /// Keeps the in-process sandbox serving (None on the real server).
    _sandbox: Option<Sandbox>,
    staff: String,
    owner: String,
    /// The provider organisation (`customer_uuid` of the configs).
    provider_customer: String,
    offering: String,
    /// backend_id -> resource uuid.
    resources: BTreeMap<String, String>,
    /// (order uuid, resource uuid) of the Create orders pending for the provider.
    pending: Vec<(String, String)>,
    /// Waldur username -> user uuid.
    users: BTreeMap<String, String>,
    /// The server's clock when the world was made.
    now: DateTime<Utc>,
    dir: TestDir,
}

impl World {
    /// A new world on `kind`; None when the real server is absent (SKIPPED, or a panic under CI).
    pub fn new(kind: Kind, test: &str) -> Option<World> {
        let started = Instant::now();
        let world = match kind {
            Kind::Real => seed_real(&real_server()?, test),
            Kind::Sandbox7x | Kind::Sandbox8x => seed_sandbox(kind, sandbox_now()),
        };
        let _ = writeln!(
            std::io::stderr(),
            "{test}: {kind:?} world ready in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        Some(world)
    }

    /// One world per target for the scenarios that only read, or change what no other reads; None
    /// when the real server is absent (SKIPPED for each test, or a panic under CI).
    pub fn shared(kind: Kind) -> Option<&'static World> {
        static REAL: OnceLock<Option<World>> = OnceLock::new();
        static SANDBOX_7X: OnceLock<Option<World>> = OnceLock::new();
        static SANDBOX_8X: OnceLock<Option<World>> = OnceLock::new();
        let cell = match kind {
            Kind::Real => {
                real_server()?;
                &REAL
            }
            Kind::Sandbox7x => &SANDBOX_7X,
            Kind::Sandbox8x => &SANDBOX_8X,
        };
        cell.get_or_init(|| World::new(kind, "shared")).as_ref()
    }

    fn resource(&self, backend_id: &str) -> &str {
        &self.resources[backend_id]
    }

    fn user(&self, username: &str) -> &str {
        &self.users[username]
    }

    /// The server's current month, as tally names it.
    fn month(&self) -> String {
        format!("{:04}-{:02}", self.now.year(), self.now.month())
    }

    /// The server's clock now (the real server: its `Date` header; it runs under libfaketime).
    fn server_now(&self) -> DateTime<Utc> {
        match (&self._sandbox, self.kind) {
            (Some(sb), _) => sb.now(),
            (None, kind) => {
                assert_eq!(kind, Kind::Real);
                let r = self
                    .api
                    .send("GET", "marketplace-public-offerings/", None, None);
                let date = r.date.expect("the server sends a Date header");
                DateTime::parse_from_rfc2822(&date)
                    .unwrap_or_else(|e| panic!("Date {date:?}: {e}"))
                    .with_timezone(&Utc)
            }
        }
    }

    /// A config whose token file holds `token`: the demo dumps, the world's offering and provider.
    /// A new pair of files per call: tests sharing a world run at the same time.
    fn config(&self, token: &str) -> PathBuf {
        static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let who = if token == self.staff {
            "staff"
        } else {
            "owner"
        };
        let name = format!("{who}-{n}");
        self.dir
            .write(&format!("{name}.token"), &format!("{token}\n"));
        let demo = std::fs::read_to_string(root().join("fixtures/demo/tally.toml"))
            .expect("fixtures/demo/tally.toml");
        let records = root().join("fixtures/demo/records");
        let sources = demo.replace(
            "paths = [\"records/*.txt\"]",
            &format!("paths = [\"{}/*.txt\"]", records.display()),
        );
        assert_ne!(
            sources, demo,
            "fixtures/demo/tally.toml changed its paths line"
        );
        self.dir.write(
            &format!("{name}.toml"),
            &format!(
                r#"{sources}

[waldur]
url = "{}"
token_file = "{name}.token"
offering_uuid = "{}"
customer_uuid = "{}"
ledger = "ledger.db"
max_retries = 1
"#,
                self.api.base, self.offering, self.provider_customer
            ),
        )
    }

    /// `tally <args> --config <config for token>`; no token may appear in its output.
    fn tally(&self, token: &str, args: &[&str]) -> Run {
        let cfg = self.config(token);
        let out = run(tally().args(args).arg("--config").arg(&cfg));
        for secret in [&self.staff, &self.owner] {
            assert!(
                !out.stdout.contains(secret.as_str()) && !out.stderr.contains(secret.as_str()),
                "a token appears in the output of {args:?}\n--- stdout\n{}\n--- stderr\n{}",
                out.stdout,
                out.stderr
            );
        }
        out
    }

    fn owner(&self, args: &[&str]) -> Run {
        self.tally(&self.owner.clone(), args)
    }

    fn staff(&self, args: &[&str]) -> Run {
        self.tally(&self.staff.clone(), args)
    }

    // ---- what the server holds, read through its REST API with the staff token ----

    fn resource_now(&self, uuid: &str) -> Value {
        self.api
            .get(&format!("marketplace-resources/{uuid}/"), &self.staff)
    }

    fn order_state(&self, uuid: &str) -> String {
        s(
            &self
                .api
                .get(&format!("marketplace-orders/{uuid}/"), &self.staff),
            "state",
        )
    }

    /// (backend_id, component) -> usage of the current month, as the server holds them.
    fn held_usages(&self) -> BTreeMap<(String, String), Decimal> {
        let by_uuid: BTreeMap<&str, &str> = self
            .resources
            .iter()
            .map(|(b, u)| (u.as_str(), b.as_str()))
            .collect();
        let period = format!("{}-01", self.month());
        self.api
            .list(
                &format!(
                    "marketplace-component-usages/?offering_uuid={}&billing_period={period}",
                    self.offering
                ),
                &self.staff,
            )
            .iter()
            .map(|u| {
                let resource = simple(&s(u, "resource_uuid"));
                let backend = by_uuid
                    .get(resource.as_str())
                    .unwrap_or_else(|| panic!("usage of a resource not in the world: {u}"));
                ((backend.to_string(), s(u, "type")), dec(&u["usage"]))
            })
            .collect()
    }

    /// (backend_id, component, local username) -> usage, as the server holds them.
    fn held_user_usages(&self) -> BTreeMap<(String, String, String), Decimal> {
        let by_uuid: BTreeMap<&str, &str> = self
            .resources
            .iter()
            .map(|(b, u)| (u.as_str(), b.as_str()))
            .collect();
        self.api
            .list(
                &format!(
                    "marketplace-component-user-usages/?offering_uuid={}",
                    self.offering
                ),
                &self.staff,
            )
            .iter()
            .map(|u| {
                let resource = simple(&s(u, "resource_uuid"));
                let backend = by_uuid
                    .get(resource.as_str())
                    .unwrap_or_else(|| panic!("user usage of a resource not in the world: {u}"));
                (
                    (
                        backend.to_string(),
                        s(u, "component_type"),
                        s(u, "username"),
                    ),
                    dec(&u["usage"]),
                )
            })
            .collect()
    }

    /// Every usage record of the world with its identity and its stamps (`date` of a component
    /// usage, which `set_usage` sets to the server's now on every write; `modified` of a user's
    /// share): unchanged when nothing was re-sent.
    fn usage_records(&self) -> BTreeSet<(String, String, String, String)> {
        let mut out = BTreeSet::new();
        for path in [
            "marketplace-component-usages",
            "marketplace-component-user-usages",
        ] {
            for u in self.api.list(
                &format!("{path}/?offering_uuid={}", self.offering),
                &self.staff,
            ) {
                out.insert((
                    s(&u, "uuid"),
                    s(&u, "usage"),
                    s(&u, "date"),
                    s(&u, "modified"),
                ));
            }
        }
        out
    }
}

fn sandbox_now() -> DateTime<Utc> {
    DEFAULT_NOW.parse().expect("now")
}

// ---- the world on the sandbox: its seed file --------------------------------------------------

fn sandbox_token(username: &str) -> String {
    format!("rw-{username}-token")
}

fn world_toml() -> String {
    let mut t = String::new();
    let mut user = |name: &str, staff: bool| {
        t.push_str(&format!(
            "[[users]]\nusername = \"{name}\"\nfull_name = \"{name}\"\nemail = \"{name}@example.org\"\ntoken = \"{}\"\n{}\n",
            sandbox_token(name),
            if staff { "is_staff = true\n" } else { "" }
        ));
    };
    user("tly-staff", true);
    user(PROVIDER_USER, false);
    for (u, _) in PEOPLE.iter().chain(NEWCOMERS) {
        user(u, false);
    }
    t.push_str(&format!(
        r#"[[organizations]]
name = "HPC Centre"
owners = ["{PROVIDER_USER}"]
service_provider = true

[[organizations]]
name = "University"

[[projects]]
name = "Alpha"
organization = "University"
members = [{{ user = "tly-alice", role = "admin" }}, {{ user = "tly-bob", role = "member" }}]

[[projects]]
name = "Gamma"
organization = "University"
members = [{{ user = "tly-carol", role = "admin" }}]

[[offerings]]
name = "Cluster"
organization = "HPC Centre"
type = "Marketplace.Slurm"
components = [
"#
    ));
    for (ty, name, unit) in COMPONENTS {
        t.push_str(&format!(
            "  {{ type = \"{ty}\", name = \"{name}\", measured_unit = \"{unit}\", billing_type = \"usage\" }},\n"
        ));
    }
    t.push_str("]\nplans = [{ name = \"default\" }]\n\n");
    for (name, backend, project) in RESOURCES {
        t.push_str(&format!(
            "[[resources]]\nname = \"{name}\"\noffering = \"Cluster\"\nproject = \"{project}\"\nplan = \"default\"\nbackend_id = \"{backend}\"\nstate = \"OK\"\n\n"
        ));
    }
    for (i, (name, project, by)) in PENDING.iter().enumerate() {
        t.push_str(&format!(
            "[[resources]]\nname = \"{name}\"\noffering = \"Cluster\"\nproject = \"{project}\"\nplan = \"default\"\nstate = \"Creating\"\n\n\
             [[orders]]\nuuid = \"{}\"\nresource = \"{name}\"\ntype = \"Create\"\nstate = \"pending-provider\"\ncreated_by = \"{by}\"\n\n",
            pending_order_uuid(i)
        ));
    }
    for (user, local) in PEOPLE {
        t.push_str(&format!(
            "[[offering_users]]\noffering = \"Cluster\"\nuser = \"{user}\"\nusername = \"{local}\"\n\n"
        ));
    }
    t.push_str(&format!(
        "[[ssh_keys]]\nuser = \"tly-alice\"\nname = \"laptop\"\npublic_key = \"{ALICE_KEY}\"\n"
    ));
    t
}

fn pending_order_uuid(i: usize) -> String {
    format!("0d0000000000000000000000000000{:02}", i + 1)
}

fn seed_sandbox(kind: Kind, now: DateTime<Utc>) -> World {
    let text = world_toml();
    let world = tally_sandbox::World::from_toml_str(&text, "real-waldur scenario world")
        .unwrap_or_else(|e| panic!("the scenario world does not load: {e}\n{text}"));
    let uuid = |u: Option<uuid::Uuid>| u.expect("seeded").simple().to_string();
    let resources = RESOURCES
        .iter()
        .map(|(name, backend, _)| (backend.to_string(), uuid(world.resource_uuid(name))))
        .collect();
    let pending = PENDING
        .iter()
        .enumerate()
        .map(|(i, (name, _, _))| (pending_order_uuid(i), uuid(world.resource_uuid(name))))
        .collect();
    let users = std::iter::once(PROVIDER_USER)
        .chain(PEOPLE.iter().chain(NEWCOMERS).map(|(u, _)| *u))
        .map(|u| (u.to_owned(), uuid(world.user_uuid(u))))
        .collect();
    let provider_customer = uuid(world.organization_uuid("HPC Centre"));
    let offering = uuid(world.offering_uuid("Cluster"));
    let sandbox = Sandbox::start(
        world,
        tally_sandbox::SandboxOptions {
            now: Some(now),
            legacy_7x: kind == Kind::Sandbox7x,
            ..Default::default()
        },
    );
    World {
        kind,
        api: Api::new(&sandbox.url),
        _sandbox: Some(sandbox),
        staff: sandbox_token("tly-staff"),
        owner: sandbox_token(PROVIDER_USER),
        provider_customer,
        offering,
        resources,
        pending,
        users,
        now,
        dir: TestDir::new(),
    }
}

// ---- the world on the real server: its REST API, as a site agent builds it ---------------------

const PASSWORD: &str = "Real-waldur-2026-tally";

/// (uuid, token) of a non-staff user, created on first use; cached for the test process.
fn real_user(api: &Api, staff: &str, username: &str) -> (String, String) {
    static USERS: OnceLock<Mutex<BTreeMap<String, (String, String)>>> = OnceLock::new();
    // held throughout: two tests must not create the same user at once
    let mut cache = USERS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(found) = cache.get(username) {
        return found.clone();
    }
    let existing = api.list(&format!("users/?username={username}"), staff);
    let uuid = match existing.iter().find(|u| s(u, "username") == username) {
        Some(u) => s(u, "uuid"),
        None => s(
            &api.ok(
                "POST",
                "users/",
                staff,
                Some(
                    json!({"username": username, "email": format!("{username}@example.org"),
                            "full_name": username, "agree_with_policy": true}),
                ),
            ),
            "uuid",
        ),
    };
    api.ok(
        "POST",
        &format!("users/{uuid}/change_password/"),
        staff,
        Some(json!({"new_password": PASSWORD})),
    );
    let login = api.send(
        "POST",
        &format!("{}api-auth/password/", api.base.trim_end_matches("api/")),
        None,
        Some(&json!({"username": username, "password": PASSWORD})),
    );
    assert_eq!(login.status, 200, "login of {username}: {}", login.body);
    let token = s(&login.body, "token");
    // a user's token expires after an idle hour unless she clears token_lifetime herself
    api.ok(
        "PATCH",
        &format!("users/{uuid}/"),
        &token,
        Some(json!({"token_lifetime": null, "agree_with_policy": true})),
    );
    let simple_uuid = simple(&uuid);
    cache.insert(username.to_owned(), (simple_uuid.clone(), token.clone()));
    (simple_uuid, token)
}

fn seed_real(server: &RealServer, test: &str) -> World {
    let api = Api::new(&server.api);
    let staff = server.staff_token.as_str();
    let tag = format!(
        "{test} {}-{}",
        std::process::id(),
        Utc::now().format("%H%M%S%3f")
    );
    let mut users = BTreeMap::new();
    let mut tokens = BTreeMap::new();
    for u in std::iter::once(PROVIDER_USER).chain(PEOPLE.iter().chain(NEWCOMERS).map(|(u, _)| *u)) {
        let (uuid, token) = real_user(&api, staff, u);
        users.insert(u.to_owned(), uuid);
        tokens.insert(u.to_owned(), token);
    }
    let now_reply = api.send("GET", "marketplace-public-offerings/", None, None);

    let provider = api.ok(
        "POST",
        "customers/",
        staff,
        Some(json!({"name": format!("HPC Centre {tag}"), "abbreviation": "HPCC"})),
    );
    api.ok(
        "POST",
        &format!("customers/{}/add_user/", s(&provider, "uuid")),
        staff,
        Some(json!({"user": users[PROVIDER_USER], "role": "CUSTOMER.OWNER"})),
    );
    api.ok(
        "POST",
        "marketplace-service-providers/",
        staff,
        Some(json!({"customer": s(&provider, "url"), "description": "tally test provider"})),
    );
    let client = api.ok(
        "POST",
        "customers/",
        staff,
        Some(json!({"name": format!("University {tag}"), "abbreviation": "UNI"})),
    );
    let category = {
        static CATEGORY: OnceLock<String> = OnceLock::new();
        CATEGORY
            .get_or_init(|| {
                let found = api.list("marketplace-categories/?title=HPC", staff);
                match found.iter().find(|c| s(c, "title") == "HPC") {
                    Some(c) => s(c, "url"),
                    None => s(
                        &api.ok(
                            "POST",
                            "marketplace-categories/",
                            staff,
                            Some(json!({"title": "HPC", "description": "HPC resources"})),
                        ),
                        "url",
                    ),
                }
            })
            .clone()
    };
    let mut projects = BTreeMap::new();
    for name in ["Alpha", "Gamma"] {
        let p = api.ok(
            "POST",
            "projects/",
            staff,
            Some(json!({"name": name, "customer": s(&client, "url")})),
        );
        projects.insert(name, p);
    }
    let components: Vec<Value> = COMPONENTS
        .iter()
        .map(|(ty, name, unit)| {
            json!({"type": ty, "name": name, "measured_unit": unit, "billing_type": "usage"})
        })
        .collect();
    let offering = api.ok(
        "POST",
        "marketplace-provider-offerings/",
        staff,
        Some(json!({
            "name": format!("Cluster {tag}"), "category": category, "customer": s(&provider, "url"),
            "type": "Marketplace.Slurm", "shared": true, "billable": true,
            "components": components,
            "plans": [{"name": "default", "unit": "month", "prices": {}, "quotas": {}}],
            // lets the provider create offering users (off by default on this server)
            "secret_options": {"service_provider_can_create_offering_user": true},
        })),
    );
    let offering_uuid = s(&offering, "uuid");
    api.ok(
        "POST",
        &format!("marketplace-provider-offerings/{offering_uuid}/activate/"),
        staff,
        None,
    );
    let plan = &offering["plans"][0];
    let plan_url = format!(
        "{}marketplace-public-offerings/{offering_uuid}/plans/{}/",
        api.base,
        s(plan, "uuid")
    );
    let order = |name: &str, project: &str, token: &str| -> Value {
        let o = api.ok(
            "POST",
            "marketplace-orders/",
            token,
            Some(json!({
                "project": s(&projects[project], "url"),
                "offering": format!("{}marketplace-public-offerings/{offering_uuid}/", api.base),
                "plan": plan_url, "attributes": {"name": name}, "limits": {},
                "type": "Create", "accepting_terms_of_service": true,
            })),
        );
        if s(&o, "state") == "pending-consumer" {
            api.ok(
                "POST",
                &format!("marketplace-orders/{}/approve_by_consumer/", s(&o, "uuid")),
                staff,
                None,
            );
        }
        o
    };
    let mut resources = BTreeMap::new();
    for (name, backend, project) in RESOURCES {
        let o = order(name, project, staff);
        let ou = s(&o, "uuid");
        api.ok(
            "POST",
            &format!("marketplace-orders/{ou}/approve_by_provider/"),
            staff,
            None,
        );
        let ru = s(
            &api.get(&format!("marketplace-orders/{ou}/"), staff),
            "marketplace_resource_uuid",
        );
        api.ok(
            "POST",
            &format!("marketplace-provider-resources/{ru}/set_backend_id/"),
            staff,
            Some(json!({"backend_id": backend})),
        );
        api.ok(
            "POST",
            &format!("marketplace-orders/{ou}/set_state_done/"),
            staff,
            None,
        );
        resources.insert(backend.to_string(), simple(&ru));
    }
    let mut pending = Vec::new();
    for (name, project, _) in PENDING {
        let o = order(name, project, staff);
        let ou = s(&o, "uuid");
        let ru = s(
            &api.get(&format!("marketplace-orders/{ou}/"), staff),
            "marketplace_resource_uuid",
        );
        pending.push((simple(&ou), simple(&ru)));
    }
    // offering users before project membership: a new member of a project with resources of an
    // offering that lets providers create offering users gets one with a generated username
    for (user, local) in PEOPLE {
        api.ok(
            "POST",
            "marketplace-offering-users/",
            staff,
            Some(json!({
                "offering": format!("{}marketplace-provider-offerings/{offering_uuid}/", api.base),
                "user": format!("{}users/{}/", api.base, users[*user]),
                "username": local,
            })),
        );
    }
    for (project, user, role) in [
        ("Alpha", "tly-alice", "PROJECT.ADMIN"),
        ("Alpha", "tly-bob", "PROJECT.MEMBER"),
        ("Gamma", "tly-carol", "PROJECT.ADMIN"),
    ] {
        api.ok(
            "POST",
            &format!("projects/{}/add_user/", s(&projects[project], "uuid")),
            staff,
            Some(json!({"user": users[user], "role": role})),
        );
    }
    let alice_keys = api.list(
        &format!("keys/?user_uuid={}&name=laptop", users["tly-alice"]),
        staff,
    );
    if alice_keys.is_empty() {
        api.ok(
            "POST",
            "keys/",
            &tokens["tly-alice"],
            Some(json!({"name": "laptop", "public_key": ALICE_KEY})),
        );
    }
    let now = now_reply
        .date
        .as_deref()
        .and_then(|d| DateTime::parse_from_rfc2822(d).ok())
        .expect("the server's Date header")
        .with_timezone(&Utc);
    World {
        kind: Kind::Real,
        api,
        _sandbox: None,
        staff: staff.to_owned(),
        owner: tokens[PROVIDER_USER].clone(),
        provider_customer: simple(&s(&provider, "uuid")),
        offering: simple(&offering_uuid),
        resources,
        pending,
        users,
        now,
        dir: TestDir::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers on tally's output

/// The per-object results of a mutating command: (uuid, ok, state, status, message).
fn results(r: &Run) -> Vec<(String, bool, Value, Value, String)> {
    r.json()["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results in {}", r.stdout))
        .iter()
        .map(|x| {
            (
                s(x, "uuid"),
                x["ok"].as_bool().unwrap_or(false),
                x["state"].clone(),
                x["status"].clone(),
                s(x, "message"),
            )
        })
        .collect()
}

fn items(r: &Run) -> Vec<Value> {
    r.json()["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {}", r.stdout))
        .clone()
}

fn set_of(values: &[Value], key: &str) -> BTreeSet<String> {
    values.iter().map(|v| simple(&s(v, key))).collect()
}

/// A refusal must say why in words, never as an HTML page, and what to do.
#[track_caller]
fn says_why_not(r: &Run, what: &str) {
    let text = format!("{}{}", r.stdout, r.stderr);
    assert!(
        !text.contains("<html") && !text.contains("<!DOCTYPE"),
        "{what}: an HTML page shown as a message\n{text}"
    );
    let messages: Vec<String> = r
        .json()
        .get("results")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|x| s(x, "message")).collect())
        .unwrap_or_default();
    assert!(
        messages.iter().all(|m| !m.trim().is_empty()),
        "{what}: an empty message\n{text}"
    );
}

/// A CSV output as header -> column, for checking that a column is filled.
fn csv_column(csv: &str, column: &str) -> Vec<String> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let at = header
        .iter()
        .position(|h| *h == column)
        .unwrap_or_else(|| panic!("no column {column} in {csv}"));
    lines
        .map(|l| l.split(',').nth(at).unwrap_or_default().to_owned())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The scenarios

/// What `tally collect` computes for the server's current month: cells and per-user shares.
type Computed = (
    BTreeMap<(String, String), Decimal>,
    BTreeMap<(String, String, String), Decimal>,
);

fn collected(w: &World, as_of: &str) -> Computed {
    let month = w.month();
    let r = w.owner(&[
        "collect", "--from", &month, "--to", &month, "--as-of", as_of, "--format", "json",
    ]);
    r.expect_code(0);
    let v = r.json();
    let cells = v["usages"]
        .as_array()
        .expect("usages")
        .iter()
        .map(|u| ((s(u, "resource"), s(u, "component")), dec(&u["amount"])))
        .collect();
    let users = v["user_usages"]
        .as_array()
        .expect("user_usages")
        .iter()
        .map(|u| {
            (
                (s(u, "resource"), s(u, "component"), s(u, "user")),
                dec(&u["amount"]),
            )
        })
        .collect();
    (cells, users)
}

/// push with per-user usage: exit 0, the server holds exactly what collect computes (per cell and
/// per user); a second push sends nothing (no record changes) and exits 0; check exits 0; `usage
/// list` shows what the server holds.
fn push_per_user_then_nothing_then_check(w: &World) {
    let now = w.server_now().to_rfc3339();
    let (cells, users) = collected(w, &now);
    assert!(
        cells.len() >= 4 && users.len() >= 4,
        "the demo dumps give usage in {}: {cells:?}",
        w.month()
    );
    let first = w.owner(&["push", "--now", &now, "--as-of", &now]);
    first.expect_code(0);
    assert_eq!(
        w.held_usages(),
        cells,
        "cells held after push\n{}",
        first.stderr
    );
    assert_eq!(
        w.held_user_usages(),
        users,
        "per-user usage held after push\n{}",
        first.stderr
    );
    let before = w.usage_records();
    let second = w.owner(&["push", "--now", &now, "--as-of", &now]);
    second.expect_code(0);
    assert_eq!(
        w.usage_records(),
        before,
        "the second push changed what the server holds\n{}",
        second.stderr
    );
    if let Some(sb) = &w._sandbox {
        sb.reset_counters();
        w.owner(&["push", "--now", &now, "--as-of", &now])
            .expect_code(0);
        // Nothing the server accepted; a refused probe (`set_usage` without a resource, asking
        // whether the server reads `date`) writes nothing.
        let stored: Vec<_> = sb
            .counters()
            .into_iter()
            .filter(|c| c.method == "POST" && (200..300).contains(&c.status))
            .collect();
        assert!(stored.is_empty(), "a third push sent {stored:?}");
    }
    let check = w.owner(&["check", "--as-of", &now, "--from", &w.month()]);
    check.expect_code(0);

    let alpha = w.resource("proj_alpha");
    let listed = w.owner(&[
        "usage",
        "list",
        "--resource",
        alpha,
        "--month",
        &w.month(),
        "--format",
        "json",
    ]);
    listed.expect_code(0);
    let shown: BTreeMap<String, Decimal> = items(&listed)
        .iter()
        .map(|u| (s(u, "type"), dec(&u["usage"])))
        .collect();
    let held: BTreeMap<String, Decimal> = w
        .held_usages()
        .into_iter()
        .filter(|((b, _), _)| b == "proj_alpha")
        .map(|((_, c), v)| (c, v))
        .collect();
    assert_eq!(shown, held, "usage list of proj_alpha");
}

/// The nightly job: exit 0, the server holds what collect computes, a second run changes nothing.
fn run_pushes_and_checks(w: &World) {
    let now = w.server_now().to_rfc3339();
    let (cells, users) = collected(w, &now);
    let first = w.owner(&["run", "--now", &now]);
    first.expect_code(0);
    assert_eq!(
        w.held_usages(),
        cells,
        "cells held after run\n{}",
        first.stderr
    );
    assert_eq!(w.held_user_usages(), users, "per-user usage after run");
    let before = w.usage_records();
    let second = w.owner(&["run", "--now", &now]);
    second.expect_code(0);
    assert_eq!(
        w.usage_records(),
        before,
        "a second run re-sent\n{}",
        second.stderr
    );
}

/// orders list shows what the server lists; approve and reject move the orders on the server.
fn orders_list_approve_reject(w: &World) {
    let listed = w.owner(&[
        "orders",
        "list",
        "--state",
        "pending-provider",
        "--format",
        "json",
    ]);
    listed.expect_code(0);
    let on_server = w.api.list(
        &format!(
            "marketplace-orders/?offering_uuid={}&state=pending-provider",
            w.offering
        ),
        &w.staff,
    );
    let expected = set_of(&on_server, "uuid");
    assert_eq!(set_of(&items(&listed), "uuid"), expected);
    let wanted: BTreeSet<String> = w.pending.iter().map(|(o, _)| o.clone()).collect();
    assert_eq!(expected, wanted, "the world's pending orders");

    let (approve, _) = &w.pending[0];
    let r = w.owner(&["orders", "approve", approve, "--format", "json"]);
    r.expect_code(0);
    let state = w.order_state(approve);
    assert!(
        state == "executing" || state == "done",
        "approved order is {state}"
    );
    assert_eq!(results(&r)[0].2, state, "the state tally reports");

    let (reject, _) = &w.pending[1];
    let r = w.owner(&[
        "orders",
        "reject",
        reject,
        "--comment",
        "no capacity this month",
        "--format",
        "json",
    ]);
    r.expect_code(0);
    assert_eq!(w.order_state(reject), "rejected");
    assert_eq!(results(&r)[0].2, "rejected");
    if matches!(w.kind, Kind::Real | Kind::Sandbox7x) {
        // The 2024 server answers an empty 200: words shown are tally's own and say so.
        let message = &results(&r)[0].4;
        assert!(
            message.is_empty() || message.starts_with("tally:"),
            "a message of tally's own shown as the server's: {message:?}"
        );
    }
    // Approving it now fails with the server's own words.
    let again = w.owner(&["orders", "approve", reject, "--format", "json"]);
    again.expect_code(4);
    says_why_not(&again, "approving a rejected order");
}

/// resources list/show agree with the server; set-backend-id is stored.
fn resources_list_show_set_backend_id(w: &World) {
    let listed = w.owner(&["resources", "list", "--format", "json"]);
    listed.expect_code(0);
    let on_server = w.api.list(
        &format!(
            "marketplace-provider-resources/?offering_uuid={}",
            w.offering
        ),
        &w.owner,
    );
    let pairs = |v: &[Value]| -> BTreeSet<(String, String, String)> {
        v.iter()
            .map(|r| (simple(&s(r, "uuid")), s(r, "backend_id"), s(r, "state")))
            .collect()
    };
    assert_eq!(pairs(&items(&listed)), pairs(&on_server));
    assert_eq!(on_server.len(), RESOURCES.len() + PENDING.len());

    let x42 = w.resource("hpc_x42");
    let shown = w.owner(&["resources", "show", x42, "--format", "json"]);
    shown.expect_code(0);
    let v = shown.json();
    let held = w.resource_now(x42);
    for key in ["backend_id", "state", "name", "project_uuid"] {
        assert_eq!(simple(&s(&v, key)), simple(&s(&held, key)), "{key}");
    }

    let r = w.owner(&[
        "resources",
        "set-backend-id",
        x42,
        "hpc_x42_renamed",
        "--format",
        "json",
    ]);
    r.expect_code(0);
    assert_eq!(s(&w.resource_now(x42), "backend_id"), "hpc_x42_renamed");
    let by_id = w.owner(&[
        "resources",
        "list",
        "--backend-id",
        "hpc_x42_renamed",
        "--format",
        "json",
    ]);
    by_id.expect_code(0);
    assert_eq!(
        set_of(&items(&by_id), "uuid"),
        BTreeSet::from([x42.to_owned()])
    );
}

/// report is stored; team and plan-periods show what the server lists, with every role filled.
fn resources_report_team_plan_periods(w: &World) {
    let alpha = w.resource("proj_alpha");
    let r = w.owner(&[
        "resources",
        "report",
        alpha,
        "--section",
        "Access=ssh login.hpc.example.org",
        "--section",
        "Quota=1000 core-hours",
        "--format",
        "json",
    ]);
    r.expect_code(0);
    assert_eq!(
        w.resource_now(alpha)["report"],
        json!([{"header": "Access", "body": "ssh login.hpc.example.org"},
               {"header": "Quota", "body": "1000 core-hours"}])
    );

    let team = w.owner(&["resources", "team", alpha, "--format", "json"]);
    team.expect_code(0);
    let on_server = w
        .api
        .list(&format!("marketplace-resources/{alpha}/team/"), &w.staff);
    let usernames =
        |v: &[Value]| -> BTreeSet<String> { v.iter().map(|m| s(m, "username")).collect() };
    assert_eq!(usernames(&items(&team)), usernames(&on_server));
    assert_eq!(
        usernames(&on_server),
        BTreeSet::from(["tly-alice".to_owned(), "tly-bob".to_owned()])
    );
    let csv = w.owner(&["resources", "team", alpha, "--format", "csv"]);
    csv.expect_code(0);
    for role in csv_column(&csv.stdout, "role") {
        assert!(!role.is_empty(), "an empty role in\n{}", csv.stdout);
    }

    let periods = w.owner(&["resources", "plan-periods", alpha, "--format", "json"]);
    periods.expect_code(0);
    let on_server = w.api.list(
        &format!("marketplace-resources/{alpha}/plan_periods/"),
        &w.staff,
    );
    assert_eq!(set_of(&items(&periods), "uuid"), set_of(&on_server, "uuid"));
    assert_eq!(
        items(&periods)
            .iter()
            .map(|p| s(p, "plan_name"))
            .collect::<Vec<_>>(),
        vec!["default".to_owned()]
    );
}

/// set-state ok/erred as the provider owner, erred as staff: done and stored, or refused with a
/// reason (never an HTML page), the server's state unchanged by a refusal.
fn resources_set_state(w: &World) {
    // The resource of a Create order the provider has approved: Creating until it says so.
    let (order, resource) = &w.pending[0];
    w.owner(&["orders", "approve", order]).expect_code(0);
    let r = w.owner(&["resources", "set-state", resource, "ok", "--format", "json"]);
    r.expect_code(0);
    assert_eq!(s(&w.resource_now(resource), "state"), "OK", "{}", r.stdout);

    let (_, other) = &w.pending[1];
    let before = s(&w.resource_now(other), "state");
    let r = w.owner(&[
        "resources",
        "set-state",
        other,
        "erred",
        "--error-message",
        "no nodes left",
        "--format",
        "json",
    ]);
    let held = w.resource_now(other);
    match r.code {
        0 => {
            assert_eq!(s(&held, "state"), "Erred", "{}", r.stdout);
            let stored = s(&held, "error_message") == "no nodes left";
            assert!(
                stored || format!("{}{}", r.stdout, r.stderr).contains("error message"),
                "the error message was dropped without a word\n{}{}",
                r.stdout,
                r.stderr
            );
        }
        4 => {
            says_why_not(&r, "set-state erred as the provider");
            assert_eq!(s(&held, "state"), before, "a refusal changed the state");
        }
        other => panic!("set-state erred exit {other}\n{}{}", r.stdout, r.stderr),
    }

    // Staff may always mark a resource erred.
    let beta = w.resource("proj_beta");
    let r = w.staff(&[
        "resources",
        "set-state",
        beta,
        "erred",
        "--error-message",
        "node failure",
        "--format",
        "json",
    ]);
    r.expect_code(0);
    let held = w.resource_now(beta);
    assert_eq!(s(&held, "state"), "Erred");
    assert!(
        s(&held, "error_message") == "node failure"
            || format!("{}{}", r.stdout, r.stderr).contains("error message"),
        "the error message was dropped without a word\n{}{}",
        r.stdout,
        r.stderr
    );
}

/// offering-users create in both documented forms (uuid; URLs as in the guide) lands on the
/// server; list shows what the server lists.
fn offering_users_create_and_list(w: &World) {
    let (dave, dave_local) = NEWCOMERS[0];
    let r = w.owner(&[
        "offering-users",
        "create",
        "--user",
        w.user(dave),
        "--username",
        dave_local,
        "--format",
        "json",
    ]);
    r.expect_code(0);
    let (erin, erin_local) = NEWCOMERS[1];
    let offering_url = format!("{}marketplace-public-offerings/{}/", w.api.base, w.offering);
    let user_url = format!("{}users/{}/", w.api.base, w.user(erin));
    let r = w.owner(&[
        "offering-users",
        "create",
        "--offering",
        &offering_url,
        "--user",
        &user_url,
        "--username",
        erin_local,
        "--format",
        "json",
    ]);
    r.expect_code(0);
    let on_server = w.api.list(
        &format!("marketplace-offering-users/?offering_uuid={}", w.offering),
        &w.staff,
    );
    let pairs = |v: &[Value]| -> BTreeSet<(String, String)> {
        v.iter()
            .map(|o| (s(o, "user_username"), s(o, "username")))
            .collect()
    };
    let expected: BTreeSet<(String, String)> = PEOPLE
        .iter()
        .chain(NEWCOMERS)
        .map(|(u, l)| (u.to_string(), l.to_string()))
        .collect();
    assert_eq!(pairs(&on_server), expected);
    let listed = w.owner(&["offering-users", "list", "--format", "json"]);
    listed.expect_code(0);
    assert_eq!(pairs(&items(&listed)), expected);
}

/// provider show/users/keys/projects/permissions: what the server lists for the provider.
fn provider_listings(w: &World) {
    let shown = w.owner(&["provider", "show", "--format", "json"]);
    shown.expect_code(0);
    let v = shown.json();
    assert_eq!(simple(&s(&v, "customer_uuid")), w.provider_customer);
    let sp = w.api.list(
        &format!(
            "marketplace-service-providers/?customer_uuid={}",
            w.provider_customer
        ),
        &w.owner,
    );
    assert_eq!(sp.len(), 1);
    let sp = s(&sp[0], "uuid");
    assert_eq!(simple(&s(&v, "uuid")), simple(&sp));

    for (what, path, key) in [
        ("users", "users", "username"),
        ("keys", "keys", "uuid"),
        ("projects", "projects", "uuid"),
        ("permissions", "project_permissions", "uuid"),
    ] {
        let r = w.owner(&["provider", what, "--format", "json"]);
        r.expect_code(0);
        let on_server = w.api.list(
            &format!("marketplace-service-providers/{sp}/{path}/"),
            &w.owner,
        );
        assert_eq!(
            set_of(&items(&r), key),
            set_of(&on_server, key),
            "provider {what}"
        );
        assert!(!on_server.is_empty(), "provider {what}: the world has some");
    }
    let csv = w.owner(&["provider", "permissions", "--format", "csv"]);
    csv.expect_code(0);
    for role in csv_column(&csv.stdout, "role_name") {
        assert!(!role.is_empty(), "an empty ROLE_NAME in\n{}", csv.stdout);
    }
}

/// users, keys and offerings: what the server shows the same token.
fn users_keys_offerings(w: &World) {
    let alice = w.owner(&[
        "users",
        "list",
        "--username",
        "tly-alice",
        "--format",
        "json",
    ]);
    alice.expect_code(0);
    let on_server = w.api.list("users/?username=tly-alice", &w.owner);
    assert_eq!(set_of(&items(&alice), "uuid"), set_of(&on_server, "uuid"));
    let as_staff = w.staff(&[
        "users",
        "list",
        "--username",
        "tly-alice",
        "--format",
        "json",
    ]);
    as_staff.expect_code(0);
    assert_eq!(
        set_of(&items(&as_staff), "uuid"),
        BTreeSet::from([w.user("tly-alice").to_owned()])
    );

    let keys = w.owner(&[
        "keys",
        "list",
        "--user",
        w.user("tly-alice"),
        "--format",
        "json",
    ]);
    keys.expect_code(0);
    let on_server = w.api.list(
        &format!("keys/?user_uuid={}", w.user("tly-alice")),
        &w.owner,
    );
    assert_eq!(set_of(&items(&keys), "uuid"), set_of(&on_server, "uuid"));

    let shown = w.owner(&["offerings", "show", "--format", "json"]);
    shown.expect_code(0);
    let v = shown.json();
    let held = w.api.get(
        &format!("marketplace-public-offerings/{}/", w.offering),
        &w.owner,
    );
    let comps = |v: &Value| -> BTreeSet<(String, String)> {
        v["components"]
            .as_array()
            .expect("components")
            .iter()
            .map(|c| (s(c, "type"), s(c, "billing_type")))
            .collect()
    };
    assert_eq!(comps(&v), comps(&held));
    assert_eq!(comps(&held).len(), COMPONENTS.len());
    let provider_view = w.owner(&["offerings", "show", "--provider-view", "--format", "json"]);
    provider_view.expect_code(0);
    assert_eq!(comps(&provider_view.json()), comps(&held));
}

/// A past month never lands in the current one: after the current month is pushed, a push of the
/// previous month alone is skipped (a server that ignores `date`) or refused (a closed month) with
/// its reason, exit 4, and no usage record of any month changes.
fn past_month_never_lands_in_the_current_month(w: &World) {
    let now = w.server_now().to_rfc3339();
    w.owner(&["push", "--now", &now, "--as-of", &now])
        .expect_code(0);
    let records = w.usage_records();
    let first = w.now.date_naive().with_day(1).expect("first of the month");
    let previous = first
        .pred_opt()
        .expect("a day before")
        .format("%Y-%m")
        .to_string();
    let r = w.owner(&[
        "push", "--from", &previous, "--to", &previous, "--now", &now, "--as-of", &now,
    ]);
    r.expect_code(4);
    assert!(
        r.stderr.contains(&previous),
        "the summary names the month it did not deliver\n{}",
        r.stderr
    );
    assert_eq!(
        w.usage_records(),
        records,
        "a push of {previous} changed what the server holds\n{}",
        r.stderr
    );
}

/// A component capped over its `limit_period` (`OfferingComponent.validate_amount`): the server
/// refuses a report that would take the period over the cap with a bare list naming the period's
/// total with the report (the row it overwrites included) and the cap, keeping the items of the
/// request before the refused one (not atomic); tally reports such a push as over the component's limit with both figures, and
/// `tally limits` shows the allocation at its cap (`--fail-at 100%`: exit 8).
fn push_over_the_components_limit(w: &World) {
    let now = w.server_now().to_rfc3339();
    let (cells, _) = collected(w, &now);
    let gpu = cells[&("proj_alpha".to_owned(), "gpu".to_owned())];
    assert!(
        gpu > Decimal::from(4),
        "the demo dumps give proj_alpha gpu hours: {gpu}"
    );
    let offering = w.api.get(
        &format!("marketplace-provider-offerings/{}/", w.offering),
        &w.staff,
    );
    let gpu_component = offering["components"]
        .as_array()
        .expect("components")
        .iter()
        .find(|c| s(c, "type") == "gpu")
        .map(|c| s(c, "uuid"))
        .expect("a gpu component");
    w.api.ok(
        "POST",
        &format!(
            "marketplace-provider-offerings/{}/update_offering_component/",
            w.offering
        ),
        &w.staff,
        Some(json!({"uuid": gpu_component, "limit_period": "total", "limit_amount": 10})),
    );
    let alpha = w.resource("proj_alpha").to_owned();
    let set = |usages: Value| {
        w.api.send(
            "POST",
            "marketplace-component-usages/set_usage/",
            Some(&w.owner),
            Some(&json!({"resource": alpha, "usages": usages})),
        )
    };
    let first = set(json!([{"type": "gpu", "amount": "6"}]));
    assert_eq!(first.status, 201, "{}", first.body);
    // 6 held + 5 sent = 11: the row being overwritten counts (SEMANTICS.md §4)
    let over = set(json!([{"type": "cpu", "amount": "1"}, {"type": "gpu", "amount": "5"}]));
    assert_eq!(over.status, 400, "{}", over.body);
    assert_eq!(
        over.body,
        json!(["Total amount exceeds limit. Total amount: 11.00, limit: 10."])
    );
    // not atomic: the cpu listed before the refused gpu is written all the same
    let held = w.held_usages();
    assert_eq!(
        held.get(&("proj_alpha".to_owned(), "cpu".to_owned())),
        Some(&Decimal::from(1)),
        "the server keeps the items before the refused one: {held:?}"
    );
    assert_eq!(
        held[&("proj_alpha".to_owned(), "gpu".to_owned())],
        Decimal::from(6)
    );

    let r = w.owner(&["push", "--now", &now, "--as-of", &now]);
    r.expect_code(4);
    let mut total = Decimal::new(600, 2) + gpu;
    total.rescale(2);
    let expected = format!(
        "over the component's limit: the period would hold {total} with this report, the limit is 10"
    );
    assert!(
        r.stderr.contains(&expected),
        "expected {expected:?} in\n{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("Refused by Waldur as over the component's limit"),
        "{}",
        r.stderr
    );
    assert_eq!(
        w.held_usages()[&("proj_alpha".to_owned(), "gpu".to_owned())],
        Decimal::from(6),
        "nothing of the refused report was written"
    );

    let limits = w.owner(&[
        "limits",
        "--as-of",
        &now,
        "--format",
        "json",
        "--fail-at",
        "100%",
    ]);
    limits.expect_code(8);
    let v = limits.json();
    let alpha_gpu = v["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .find(|r| s(r, "backend_id") == "proj_alpha")
        .and_then(|r| {
            r["components"]
                .as_array()
                .expect("components")
                .iter()
                .find(|c| s(c, "component") == "gpu")
        })
        .cloned()
        .expect("proj_alpha gpu");
    assert_eq!(s(&alpha_gpu, "summed_over"), "total");
    // tally's figure for the current month replaces the 6.00 Waldur holds
    assert_eq!(dec(&alpha_gpu["used"]), gpu);
    let component = alpha_gpu["limits"]
        .as_array()
        .expect("limits")
        .iter()
        .find(|l| s(l, "kind") == "component")
        .cloned()
        .expect("the component's limit");
    assert_eq!(dec(&component["limit"]), Decimal::from(10));
    assert_eq!(s(&component["reach"], "state"), "reached");
    let mut share = gpu * Decimal::from(10);
    share.rescale(2);
    assert_eq!(dec(&component["share_percent"]), share);
}

/// Each scenario as a test on each target: `real_waldur::real::NAME`,
/// `real_waldur::sandbox_7x::NAME`, `real_waldur::sandbox_8x::NAME`. Scenarios under `own` build
/// a world each (they write usage or change what others read); those under `shared` share one
/// world per target (seeding a world on the real server costs 20-30 s of a loaded 2-core machine).
macro_rules! on_every_target {
    (own: [$($own:ident),* $(,)?], shared: [$($shared:ident),* $(,)?] $(,)?) => {
        on_every_target!(@target real, Real, [$($own),*], [$($shared),*]);
        on_every_target!(@target sandbox_7x, Sandbox7x, [$($own),*], [$($shared),*]);
        on_every_target!(@target sandbox_8x, Sandbox8x, [$($own),*], [$($shared),*]);
    };
    (@target $module:ident, $kind:ident, [$($own:ident),*], [$($shared:ident),*]) => {
        mod $module {
            $(#[test]
            fn $own() {
                if let Some(w) = super::World::new(super::Kind::$kind, stringify!($own)) {
                    super::$own(&w);
                }
            })*
            $(#[test]
            fn $shared() {
                if let Some(w) = super::World::shared(super::Kind::$kind) {
                    super::$shared(w);
                }
            })*
        }
    };
}

on_every_target!(
    own: [
        push_per_user_then_nothing_then_check,
        run_pushes_and_checks,
        past_month_never_lands_in_the_current_month,
        push_over_the_components_limit,
        orders_list_approve_reject,
        resources_list_show_set_backend_id,
        resources_set_state,
        offering_users_create_and_list,
    ],
    shared: [
        resources_report_team_plan_periods,
        provider_listings,
        users_keys_offerings,
    ],
);

/// `tally doctor` on the same targets and worlds.
#[path = "real_waldur_doctor.rs"]
pub(crate) mod doctor;
