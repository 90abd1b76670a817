//! The seed file (TOML) that describes a sandbox world, and its validation into a [`World`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use base64::Engine as _;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;
use uuid::Uuid;

use crate::faults::Faults;
use crate::state::{
    parse_uuid, Component, ComponentUsage, Member, Offering, OfferingUser, Order, Org, Plan,
    PlanPeriod, Project, Resource, SshKey, State, User, OFFERING_USER_STATES, ORDER_STATES,
    ORDER_TYPES, RESOURCE_STATES,
};

/// The bundled demo world (`fixtures/sandbox/demo.toml`).
pub const DEMO_TOML: &str = include_str!("../../../fixtures/sandbox/demo.toml");

/// Namespace of the deterministic (v5) uuids of seeded entities.
pub const SEED_NAMESPACE: Uuid = Uuid::from_u128(0x6b1d_7a3e_4c2f_5e89_9a0b_1c2d_3e4f_5061);

/// The uuid a seeded entity gets when the seed does not give one: uuid v5 of `"<kind>:<name>"` in
/// [`SEED_NAMESPACE`] (kinds: `user`, `organization`, `service-provider`, `project`, `offering`,
/// `resource`; components `component:<offering>:<type>`, plans `plan:<offering>:<name>`).
pub fn seed_uuid(kind: &str, name: &str) -> Uuid {
    Uuid::new_v5(&SEED_NAMESPACE, format!("{kind}:{name}").as_bytes())
}

/// Timestamp given to seeded entities (creation, plan period start).
pub fn seed_epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

/// Why a seed was refused: the file, the entry and the reason.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("{origin}: cannot read the seed file: {source}")]
    Io {
        origin: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{origin}: not a valid seed file: {message}")]
    Parse { origin: String, message: String },
    #[error("{origin}: {entry}: {reason}")]
    Invalid {
        origin: String,
        entry: String,
        reason: String,
    },
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SeedFile {
    #[serde(default)]
    users: Vec<SeedUser>,
    #[serde(default)]
    organizations: Vec<SeedOrg>,
    #[serde(default)]
    projects: Vec<SeedProject>,
    #[serde(default)]
    offerings: Vec<SeedOffering>,
    #[serde(default)]
    resources: Vec<SeedResource>,
    #[serde(default)]
    orders: Vec<SeedOrder>,
    #[serde(default)]
    ssh_keys: Vec<SeedKey>,
    #[serde(default)]
    offering_users: Vec<SeedOfferingUser>,
    #[serde(default)]
    usages: Vec<SeedUsage>,
    #[serde(default)]
    faults: Option<Faults>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedUser {
    username: String,
    uuid: Option<String>,
    full_name: Option<String>,
    email: Option<String>,
    #[serde(default)]
    is_staff: bool,
    is_active: Option<bool>,
    token: Option<String>,
    token_lifetime: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedOrg {
    name: String,
    uuid: Option<String>,
    abbreviation: Option<String>,
    #[serde(default)]
    owners: Vec<String>,
    #[serde(default)]
    managers: Vec<String>,
    #[serde(default)]
    service_provider: bool,
    service_provider_uuid: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedMember {
    user: String,
    role: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedProject {
    name: String,
    uuid: Option<String>,
    organization: String,
    #[serde(default)]
    members: Vec<SeedMember>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedComponent {
    #[serde(rename = "type")]
    type_: String,
    name: Option<String>,
    description: Option<String>,
    measured_unit: Option<String>,
    billing_type: String,
    limit_period: Option<String>,
    limit_amount: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedPlan {
    name: String,
    uuid: Option<String>,
    #[serde(default)]
    prices: BTreeMap<String, toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedOffering {
    name: String,
    uuid: Option<String>,
    organization: String,
    #[serde(rename = "type")]
    type_: String,
    description: Option<String>,
    state: Option<String>,
    shared: Option<bool>,
    billable: Option<bool>,
    #[serde(default)]
    managers: Vec<String>,
    #[serde(default)]
    components: Vec<SeedComponent>,
    #[serde(default)]
    plans: Vec<SeedPlan>,
    service_provider_can_create_offering_user: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedResource {
    name: String,
    uuid: Option<String>,
    offering: String,
    project: String,
    plan: Option<String>,
    #[serde(default)]
    backend_id: String,
    state: Option<String>,
    #[serde(default)]
    limits: BTreeMap<String, i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedOrder {
    resource: String,
    uuid: Option<String>,
    #[serde(rename = "type")]
    type_: String,
    state: String,
    created_by: Option<String>,
    #[serde(default)]
    limits: BTreeMap<String, i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedKey {
    user: String,
    name: String,
    public_key: String,
    #[serde(default)]
    is_shared: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedOfferingUser {
    offering: String,
    user: String,
    username: Option<String>,
    state: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedUsage {
    resource: String,
    #[serde(rename = "type")]
    type_: String,
    /// `YYYY-MM-01` (or `YYYY-MM`).
    billing_period: String,
    amount: toml::Value,
    #[serde(default)]
    description: String,
}

/// A parsed and validated seed: the initial [`State`] plus the seed's `[faults]` table.
#[derive(Debug, Clone)]
pub struct World {
    pub(crate) state: State,
    /// Faults from the seed's `[faults]` table (the options may override them).
    pub faults: Option<Faults>,
    /// Where the world came from (file path or `demo`).
    pub origin: String,
}

impl World {
    /// Parse and validate a seed; `origin` names it in errors (e.g. the file path).
    pub fn from_toml_str(text: &str, origin: &str) -> Result<World, SeedError> {
        let seed: SeedFile = toml::from_str(text).map_err(|e| SeedError::Parse {
            origin: origin.to_string(),
            message: e.to_string(),
        })?;
        build(seed, origin)
    }

    /// Read and validate a seed file.
    pub fn load(path: impl AsRef<Path>) -> Result<World, SeedError> {
        let path = path.as_ref();
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| SeedError::Io {
            origin: origin.clone(),
            source,
        })?;
        Self::from_toml_str(&text, &origin)
    }

    /// The bundled demo world.
    pub fn demo() -> World {
        match Self::from_toml_str(DEMO_TOML, "demo") {
            Ok(w) => w,
            // The demo is validated by a unit test; an empty world is the only sane fallback.
            Err(_) => World {
                state: State::default(),
                faults: None,
                origin: "demo".into(),
            },
        }
    }

    /// uuid of the offering called `name`.
    pub fn offering_uuid(&self, name: &str) -> Option<Uuid> {
        self.state
            .offerings
            .iter()
            .find(|o| o.name == name)
            .map(|o| o.uuid)
    }
    /// uuid of the resource called `name`.
    pub fn resource_uuid(&self, name: &str) -> Option<Uuid> {
        self.state
            .resources
            .iter()
            .find(|o| o.name == name)
            .map(|o| o.uuid)
    }
    /// uuid of the organisation called `name`.
    pub fn organization_uuid(&self, name: &str) -> Option<Uuid> {
        self.state
            .orgs
            .iter()
            .find(|o| o.name == name)
            .map(|o| o.uuid)
    }
    /// uuid of the user called `username`.
    pub fn user_uuid(&self, username: &str) -> Option<Uuid> {
        self.state
            .users
            .iter()
            .find(|o| o.username == username)
            .map(|o| o.uuid)
    }
    /// Read-only access to the initial state.
    pub fn state(&self) -> &State {
        &self.state
    }
}

struct Ctx<'a> {
    origin: &'a str,
}

impl Ctx<'_> {
    fn err(&self, entry: String, reason: impl Into<String>) -> SeedError {
        SeedError::Invalid {
            origin: self.origin.to_string(),
            entry,
            reason: reason.into(),
        }
    }
    fn uuid(
        &self,
        entry: &str,
        given: &Option<String>,
        kind: &str,
        name: &str,
    ) -> Result<Uuid, SeedError> {
        match given {
            Some(s) => parse_uuid(s)
                .ok_or_else(|| self.err(entry.to_string(), format!("`{s}` is not a valid uuid"))),
            None => Ok(seed_uuid(kind, name)),
        }
    }
}

fn lookup(
    ctx: &Ctx<'_>,
    map: &HashMap<String, Uuid>,
    entry: &str,
    what: &str,
    name: &str,
) -> Result<Uuid, SeedError> {
    map.get(name)
        .copied()
        .ok_or_else(|| ctx.err(entry.to_string(), format!("unknown {what} `{name}`")))
}

fn toml_decimal(v: &toml::Value) -> Option<Decimal> {
    match v {
        toml::Value::String(s) => s.trim().parse().ok(),
        toml::Value::Integer(i) => Some(Decimal::from(*i)),
        toml::Value::Float(f) => f.to_string().parse().ok(),
        _ => None,
    }
}

/// OpenSSH fingerprints (md5 colon hex, `SHA256:`/`SHA512:` base64 without padding).
pub fn fingerprints(public_key: &str) -> Option<(String, String, String, String)> {
    use md5::Digest as _;
    let mut parts = public_key.split_whitespace();
    let kind = parts.next()?.to_string();
    let blob = base64::engine::general_purpose::STANDARD
        .decode(parts.next()?)
        .ok()?;
    let md5 = md5::Md5::digest(&blob);
    let md5 = md5
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":");
    let nopad = base64::engine::general_purpose::STANDARD_NO_PAD;
    let s256 = format!("SHA256:{}", nopad.encode(sha2::Sha256::digest(&blob)));
    let s512 = format!("SHA512:{}", nopad.encode(sha2::Sha512::digest(&blob)));
    Some((kind, md5, s256, s512))
}

fn build(seed: SeedFile, origin: &str) -> Result<World, SeedError> {
    let ctx = Ctx { origin };
    let epoch = seed_epoch();
    let mut st = State::default();

    let mut users = HashMap::new();
    let mut tokens = HashSet::new();
    for (i, u) in seed.users.iter().enumerate() {
        let entry = format!("users[{i}] ({})", u.username);
        if u.username.trim().is_empty() {
            return Err(ctx.err(entry, "username must not be empty"));
        }
        let id = ctx.uuid(&entry, &u.uuid, "user", &u.username)?;
        if users.insert(u.username.clone(), id).is_some() {
            return Err(ctx.err(entry, "duplicate username"));
        }
        if let Some(t) = &u.token {
            if t.is_empty() || t.contains(char::is_whitespace) {
                return Err(ctx.err(entry, "token must be non-empty and contain no spaces"));
            }
            if !tokens.insert(t.clone()) {
                return Err(ctx.err(entry, "token already used by another user"));
            }
        }
        if u.token_lifetime.is_some_and(|l| l <= 0) {
            return Err(ctx.err(entry, "token_lifetime must be a positive number of seconds"));
        }
        st.users.push(User {
            id: i as i64 + 1,
            uuid: id,
            username: u.username.clone(),
            full_name: u.full_name.clone().unwrap_or_default(),
            email: u.email.clone().unwrap_or_default(),
            is_staff: u.is_staff,
            is_active: u.is_active.unwrap_or(true),
            token: u.token.clone(),
            token_lifetime: u.token_lifetime,
            token_created: epoch,
            date_joined: epoch,
        });
    }

    let mut orgs = HashMap::new();
    for (i, o) in seed.organizations.iter().enumerate() {
        let entry = format!("organizations[{i}] ({})", o.name);
        let id = ctx.uuid(&entry, &o.uuid, "organization", &o.name)?;
        if orgs.insert(o.name.clone(), id).is_some() {
            return Err(ctx.err(entry, "duplicate organization name"));
        }
        let owners = o
            .owners
            .iter()
            .map(|n| lookup(&ctx, &users, &entry, "user", n))
            .collect::<Result<Vec<_>, _>>()?;
        let managers = o
            .managers
            .iter()
            .map(|n| lookup(&ctx, &users, &entry, "user", n))
            .collect::<Result<Vec<_>, _>>()?;
        let sp = if o.service_provider || o.service_provider_uuid.is_some() {
            Some(ctx.uuid(
                &entry,
                &o.service_provider_uuid,
                "service-provider",
                &o.name,
            )?)
        } else {
            None
        };
        let abbreviation = o.abbreviation.clone().unwrap_or_else(|| {
            o.name
                .split_whitespace()
                .filter_map(|w| w.chars().next())
                .collect::<String>()
                .to_uppercase()
        });
        st.orgs.push(Org {
            uuid: id,
            name: o.name.clone(),
            abbreviation,
            owners,
            managers,
            service_provider: sp,
            created: epoch,
        });
    }

    let mut projects = HashMap::new();
    for (i, p) in seed.projects.iter().enumerate() {
        let entry = format!("projects[{i}] ({})", p.name);
        let id = ctx.uuid(&entry, &p.uuid, "project", &p.name)?;
        if projects.insert(p.name.clone(), id).is_some() {
            return Err(ctx.err(entry, "duplicate project name"));
        }
        let org = lookup(&ctx, &orgs, &entry, "organization", &p.organization)?;
        let mut members = Vec::new();
        for m in &p.members {
            let user = lookup(&ctx, &users, &entry, "user", &m.user)?;
            if !["admin", "manager", "member"].contains(&m.role.as_str()) {
                return Err(ctx.err(
                    entry,
                    format!("role `{}` is not one of admin, manager, member", m.role),
                ));
            }
            members.push(Member {
                user,
                role: m.role.clone(),
                created: epoch,
            });
        }
        st.projects.push(Project {
            uuid: id,
            name: p.name.clone(),
            org,
            members,
            created: epoch,
        });
    }

    let mut offerings = HashMap::new();
    for (i, o) in seed.offerings.iter().enumerate() {
        let entry = format!("offerings[{i}] ({})", o.name);
        let id = ctx.uuid(&entry, &o.uuid, "offering", &o.name)?;
        if offerings.insert(o.name.clone(), id).is_some() {
            return Err(ctx.err(entry, "duplicate offering name"));
        }
        let org = lookup(&ctx, &orgs, &entry, "organization", &o.organization)?;
        let managers = o
            .managers
            .iter()
            .map(|n| lookup(&ctx, &users, &entry, "user", n))
            .collect::<Result<Vec<_>, _>>()?;
        let state = o.state.clone().unwrap_or_else(|| "Active".into());
        if !["Draft", "Active", "Paused", "Archived", "Unavailable"].contains(&state.as_str()) {
            return Err(ctx.err(
                entry,
                format!(
                    "state `{state}` is not one of Draft, Active, Paused, Archived, Unavailable"
                ),
            ));
        }
        let mut components = Vec::new();
        for c in &o.components {
            if c.type_.is_empty()
                || c.type_.len() > 50
                || !c
                    .type_
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || "_-/:".contains(ch))
            {
                return Err(ctx.err(
                    entry,
                    format!(
                        "component type `{}` must match ^[a-zA-Z0-9_\\-/:]+$ (at most 50)",
                        c.type_
                    ),
                ));
            }
            if !["fixed", "usage", "limit", "one", "few"].contains(&c.billing_type.as_str()) {
                return Err(ctx.err(entry, format!("component `{}`: billing_type `{}` is not one of fixed, usage, limit, one, few", c.type_, c.billing_type)));
            }
            if let Some(lp) = &c.limit_period {
                if !["month", "quarterly", "annual", "total"].contains(&lp.as_str()) {
                    return Err(ctx.err(entry, format!("component `{}`: limit_period `{lp}` is not one of month, quarterly, annual, total", c.type_)));
                }
            }
            if components.iter().any(|x: &Component| x.type_ == c.type_) {
                return Err(ctx.err(entry, format!("duplicate component `{}`", c.type_)));
            }
            components.push(Component {
                uuid: seed_uuid("component", &format!("{}:{}", o.name, c.type_)),
                type_: c.type_.clone(),
                name: c.name.clone().unwrap_or_else(|| c.type_.clone()),
                description: c.description.clone().unwrap_or_default(),
                measured_unit: c.measured_unit.clone().unwrap_or_default(),
                billing_type: c.billing_type.clone(),
                limit_period: c.limit_period.clone(),
                limit_amount: c.limit_amount,
            });
        }
        let mut plans = Vec::new();
        for p in &o.plans {
            let pid = ctx.uuid(&entry, &p.uuid, "plan", &format!("{}:{}", o.name, p.name))?;
            let mut prices = BTreeMap::new();
            for (k, v) in &p.prices {
                if !components.iter().any(|c| &c.type_ == k) {
                    return Err(ctx.err(
                        entry,
                        format!("plan `{}`: price for unknown component `{k}`", p.name),
                    ));
                }
                let d = toml_decimal(v).ok_or_else(|| {
                    ctx.err(
                        entry.clone(),
                        format!("plan `{}`: price of `{k}` is not a number", p.name),
                    )
                })?;
                prices.insert(k.clone(), d);
            }
            // A plan made with its offering has a plan component for every component (priced
            // 0.00 unless said); only a component added later has none (docs/plan-periods.md).
            for c in &components {
                prices.entry(c.type_.clone()).or_insert(Decimal::ZERO);
            }
            plans.push(Plan {
                uuid: pid,
                name: p.name.clone(),
                prices,
            });
        }
        st.offerings.push(Offering {
            uuid: id,
            name: o.name.clone(),
            description: o.description.clone().unwrap_or_default(),
            org,
            type_: o.type_.clone(),
            state,
            shared: o.shared.unwrap_or(true),
            billable: o.billable.unwrap_or(true),
            managers,
            components,
            plans,
            service_provider_can_create_offering_user: o
                .service_provider_can_create_offering_user
                .unwrap_or(true),
            created: epoch,
        });
    }

    let mut resources = HashMap::new();
    for (i, r) in seed.resources.iter().enumerate() {
        let entry = format!("resources[{i}] ({})", r.name);
        let id = ctx.uuid(&entry, &r.uuid, "resource", &r.name)?;
        if resources.insert(r.name.clone(), id).is_some() {
            return Err(ctx.err(entry, "duplicate resource name"));
        }
        let offering_id = lookup(&ctx, &offerings, &entry, "offering", &r.offering)?;
        let project = lookup(&ctx, &projects, &entry, "project", &r.project)?;
        let offering = st
            .offerings
            .get(&offering_id)
            .ok_or_else(|| ctx.err(entry.clone(), "offering vanished"))?;
        let plan = match &r.plan {
            Some(p) => Some(
                offering
                    .plans
                    .iter()
                    .find(|x| &x.name == p)
                    .map(|x| x.uuid)
                    .ok_or_else(|| {
                        ctx.err(
                            entry.clone(),
                            format!("offering `{}` has no plan `{p}`", r.offering),
                        )
                    })?,
            ),
            None => None,
        };
        let state = r.state.clone().unwrap_or_else(|| "OK".into());
        if !RESOURCE_STATES.contains(&state.as_str()) {
            return Err(ctx.err(
                entry,
                format!(
                    "state `{state}` is not one of {}",
                    RESOURCE_STATES.join(", ")
                ),
            ));
        }
        for k in r.limits.keys() {
            if offering.component(k).is_none() {
                return Err(ctx.err(entry, format!("limit for unknown component `{k}`")));
            }
        }
        if let Some(plan) = plan {
            if state != "Creating" {
                let end = (state == "Terminated").then(|| epoch + chrono::Duration::days(1));
                st.plan_periods.push(PlanPeriod {
                    uuid: seed_uuid("plan-period", &r.name),
                    resource: id,
                    plan,
                    start: Some(epoch),
                    end,
                });
            }
        }
        st.resources.push(Resource {
            uuid: id,
            name: r.name.clone(),
            offering: offering_id,
            project,
            plan,
            backend_id: r.backend_id.clone(),
            state,
            limits: r.limits.clone(),
            current_usages: BTreeMap::new(),
            report: None,
            attributes: serde_json::json!({ "name": r.name }),
            error_message: String::new(),
            error_traceback: String::new(),
            created: epoch,
            modified: epoch,
            end_date: None,
        });
    }

    for (i, o) in seed.orders.iter().enumerate() {
        let entry = format!("orders[{i}] ({} {})", o.type_, o.resource);
        let resource = lookup(&ctx, &resources, &entry, "resource", &o.resource)?;
        if !ORDER_TYPES.contains(&o.type_.as_str()) {
            return Err(ctx.err(
                entry,
                format!(
                    "type `{}` is not one of {}",
                    o.type_,
                    ORDER_TYPES.join(", ")
                ),
            ));
        }
        if !ORDER_STATES.contains(&o.state.as_str()) {
            return Err(ctx.err(
                entry,
                format!(
                    "state `{}` is not one of {}",
                    o.state,
                    ORDER_STATES.join(", ")
                ),
            ));
        }
        let created_by = match &o.created_by {
            Some(u) => Some(lookup(&ctx, &users, &entry, "user", u)?),
            None => None,
        };
        let id = ctx.uuid(
            &entry,
            &o.uuid,
            "order",
            &format!("{}:{}:{i}", o.resource, o.type_),
        )?;
        let plan = st.resources.get(&resource).and_then(|r| r.plan);
        st.orders.push(Order {
            uuid: id,
            resource,
            type_: o.type_.clone(),
            state: o.state.clone(),
            plan,
            attributes: serde_json::json!({ "name": o.resource }),
            limits: o.limits.clone(),
            created_by,
            created: epoch,
            modified: epoch,
            error_message: String::new(),
            error_traceback: String::new(),
            provider_rejection_comment: String::new(),
            consumer_reviewed_at: None,
            consumer_reviewed_by: None,
            provider_reviewed_at: None,
            provider_reviewed_by: None,
            completed_at: None,
        });
    }

    for (i, k) in seed.ssh_keys.iter().enumerate() {
        let entry = format!("ssh_keys[{i}] ({})", k.name);
        let user = lookup(&ctx, &users, &entry, "user", &k.user)?;
        let (type_, md5, s256, s512) = fingerprints(&k.public_key).ok_or_else(|| {
            ctx.err(
                entry.clone(),
                "public_key is not an OpenSSH public key (`<type> <base64> [comment]`)",
            )
        })?;
        st.ssh_keys.push(SshKey {
            uuid: seed_uuid("ssh-key", &format!("{}:{}", k.user, k.name)),
            user,
            name: k.name.clone(),
            public_key: k.public_key.clone(),
            type_,
            fingerprint_md5: md5,
            fingerprint_sha256: s256,
            fingerprint_sha512: s512,
            is_shared: k.is_shared,
        });
    }

    for (i, ou) in seed.offering_users.iter().enumerate() {
        let entry = format!("offering_users[{i}] ({} in {})", ou.user, ou.offering);
        let offering = lookup(&ctx, &offerings, &entry, "offering", &ou.offering)?;
        let user = lookup(&ctx, &users, &entry, "user", &ou.user)?;
        let state = ou.state.clone().unwrap_or_else(|| "OK".into());
        if !OFFERING_USER_STATES.contains(&state.as_str()) {
            return Err(ctx.err(
                entry,
                format!("state `{state}` is not an offering user state"),
            ));
        }
        if st
            .offering_users
            .iter()
            .any(|x| x.offering == offering && x.user == user)
        {
            return Err(ctx.err(entry, "duplicate offering user"));
        }
        st.offering_users.push(OfferingUser {
            uuid: seed_uuid("offering-user", &format!("{}:{}", ou.offering, ou.user)),
            offering,
            user,
            username: ou.username.clone(),
            state,
            is_restricted: false,
            created: epoch,
            modified: epoch,
        });
    }

    for (i, u) in seed.usages.iter().enumerate() {
        let entry = format!(
            "usages[{i}] ({} {} {})",
            u.resource, u.type_, u.billing_period
        );
        let resource = lookup(&ctx, &resources, &entry, "resource", &u.resource)?;
        let r = st
            .resources
            .get(&resource)
            .ok_or_else(|| ctx.err(entry.clone(), "resource vanished"))?;
        let has_component = st
            .offerings
            .get(&r.offering)
            .is_some_and(|o| o.component(&u.type_).is_some());
        if !has_component {
            return Err(ctx.err(entry, format!("unknown component `{}`", u.type_)));
        }
        let bp = parse_period(&u.billing_period).ok_or_else(|| {
            ctx.err(
                entry.clone(),
                "billing_period must be YYYY-MM-01 or YYYY-MM",
            )
        })?;
        let mut amount = toml_decimal(&u.amount)
            .ok_or_else(|| ctx.err(entry.clone(), "amount is not a number"))?;
        amount.rescale(2);
        let when = Utc.from_utc_datetime(&bp.and_hms_opt(0, 0, 0).unwrap_or_default());
        st.upsert_usage(ComponentUsage {
            uuid: seed_uuid("usage", &format!("{}:{}:{bp}", u.resource, u.type_)),
            resource,
            type_: u.type_.clone(),
            billing_period: bp,
            usage: amount,
            date: when,
            created: when,
            modified: when,
            description: u.description.clone(),
            recurring: false,
            plan_period: None,
            modified_by: None,
        });
    }

    st.reindex();
    Ok(World {
        state: st,
        faults: seed.faults,
        origin: origin.to_string(),
    })
}

/// `YYYY-MM-01`, `YYYY-MM-DD` (any day: its month) or `YYYY-MM`.
pub fn parse_period(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(&format!("{s}-01"), "%Y-%m-%d"))
        .ok()?;
    d.with_day0(0)
}

use chrono::Datelike as _;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_world_is_valid() {
        let w = World::from_toml_str(DEMO_TOML, "demo").expect("demo seed must be valid");
        assert!(w.offering_uuid("Cluster").is_some());
        assert_eq!(
            w.offering_uuid("Cluster"),
            Some(seed_uuid("offering", "Cluster"))
        );
    }

    #[test]
    fn unknown_reference_names_file_entry_and_reason() {
        let err = World::from_toml_str(
            "[[organizations]]\nname = \"A\"\nowners = [\"ghost\"]\n",
            "world.toml",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "world.toml: organizations[0] (A): unknown user `ghost`"
        );
    }

    #[test]
    fn bad_toml_is_a_parse_error() {
        let err = World::from_toml_str("[[users]\n", "x.toml").unwrap_err();
        assert!(matches!(err, SeedError::Parse { .. }));
    }
}
