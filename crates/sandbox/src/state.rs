//! The sandbox's data: every entity the fake Waldur knows, with the role rules used by the handlers.
//! The whole [`State`] serializes to JSON (that is what `--state FILE` stores).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// Anything stored in a [`Table`].
pub trait Keyed {
    fn key(&self) -> Uuid;
}

/// Rows in insertion order plus an index by uuid (rebuilt after loading).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
pub struct Table<T> {
    pub rows: Vec<T>,
    #[serde(skip)]
    idx: HashMap<Uuid, usize>,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Table {
            rows: Vec::new(),
            idx: HashMap::new(),
        }
    }
}

impl<T: Keyed> Table<T> {
    pub fn push(&mut self, row: T) {
        self.idx.insert(row.key(), self.rows.len());
        self.rows.push(row);
    }
    pub fn get(&self, id: &Uuid) -> Option<&T> {
        self.idx.get(id).and_then(|i| self.rows.get(*i))
    }
    /// The row the uuid text of a request path names (`None` when it is no uuid or no row).
    pub fn find(&self, id: &str) -> Option<&T> {
        parse_uuid(id).and_then(|id| self.get(&id))
    }
    pub fn get_mut(&mut self, id: &Uuid) -> Option<&mut T> {
        match self.idx.get(id) {
            Some(i) => self.rows.get_mut(*i),
            None => None,
        }
    }
    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.rows.iter()
    }
    pub fn len(&self) -> usize {
        self.rows.len()
    }
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
    pub fn reindex(&mut self) {
        self.idx = self
            .rows
            .iter()
            .enumerate()
            .map(|(i, r)| (r.key(), i))
            .collect();
    }
}

macro_rules! keyed {
    ($($t:ty),*) => { $(impl Keyed for $t { fn key(&self) -> Uuid { self.uuid } })* };
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    pub id: i64,
    pub uuid: Uuid,
    pub username: String,
    pub full_name: String,
    pub email: String,
    pub is_staff: bool,
    pub is_active: bool,
    pub token: Option<String>,
    /// Seconds from `token_created`; `None` = the token never expires.
    pub token_lifetime: Option<i64>,
    pub token_created: DateTime<Utc>,
    pub date_joined: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Org {
    pub uuid: Uuid,
    pub name: String,
    pub abbreviation: String,
    pub owners: Vec<Uuid>,
    pub managers: Vec<Uuid>,
    /// The ServiceProvider record's uuid when the organisation is a provider.
    pub service_provider: Option<Uuid>,
    pub created: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Member {
    pub user: Uuid,
    pub role: String,
    pub created: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Project {
    pub uuid: Uuid,
    pub name: String,
    pub org: Uuid,
    pub members: Vec<Member>,
    pub created: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Component {
    pub uuid: Uuid,
    pub type_: String,
    pub name: String,
    pub description: String,
    pub measured_unit: String,
    pub billing_type: String,
    pub limit_period: Option<String>,
    pub limit_amount: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    pub uuid: Uuid,
    pub name: String,
    pub prices: BTreeMap<String, Decimal>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Offering {
    pub uuid: Uuid,
    pub name: String,
    pub description: String,
    pub org: Uuid,
    pub type_: String,
    pub state: String,
    pub shared: bool,
    pub billable: bool,
    pub managers: Vec<Uuid>,
    pub components: Vec<Component>,
    pub plans: Vec<Plan>,
    pub service_provider_can_create_offering_user: bool,
    pub created: DateTime<Utc>,
}

impl Offering {
    pub fn component(&self, type_: &str) -> Option<&Component> {
        self.components.iter().find(|c| c.type_ == type_)
    }
    pub fn plan(&self, id: &Uuid) -> Option<&Plan> {
        self.plans.iter().find(|p| &p.uuid == id)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReportSection {
    pub header: String,
    pub body: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Resource {
    pub uuid: Uuid,
    pub name: String,
    pub offering: Uuid,
    pub project: Uuid,
    pub plan: Option<Uuid>,
    pub backend_id: String,
    pub state: String,
    pub limits: BTreeMap<String, i64>,
    pub current_usages: BTreeMap<String, String>,
    pub report: Option<Vec<ReportSection>>,
    pub attributes: Value,
    pub error_message: String,
    pub error_traceback: String,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
    pub end_date: Option<NaiveDate>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanPeriod {
    pub uuid: Uuid,
    pub resource: Uuid,
    pub plan: Uuid,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Order {
    pub uuid: Uuid,
    pub resource: Uuid,
    pub type_: String,
    pub state: String,
    pub plan: Option<Uuid>,
    pub attributes: Value,
    pub limits: BTreeMap<String, i64>,
    pub created_by: Option<Uuid>,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
    pub error_message: String,
    pub error_traceback: String,
    pub provider_rejection_comment: String,
    pub consumer_reviewed_at: Option<DateTime<Utc>>,
    pub consumer_reviewed_by: Option<Uuid>,
    pub provider_reviewed_at: Option<DateTime<Utc>>,
    pub provider_reviewed_by: Option<Uuid>,
    pub completed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SshKey {
    pub uuid: Uuid,
    pub user: Uuid,
    pub name: String,
    pub public_key: String,
    pub type_: String,
    pub fingerprint_md5: String,
    pub fingerprint_sha256: String,
    pub fingerprint_sha512: String,
    pub is_shared: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OfferingUser {
    pub uuid: Uuid,
    pub offering: Uuid,
    pub user: Uuid,
    pub username: Option<String>,
    pub state: String,
    pub is_restricted: bool,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ComponentUsage {
    pub uuid: Uuid,
    pub resource: Uuid,
    pub type_: String,
    pub billing_period: NaiveDate,
    pub usage: Decimal,
    pub date: DateTime<Utc>,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
    pub description: String,
    pub recurring: bool,
    pub plan_period: Option<Uuid>,
    pub modified_by: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserUsage {
    pub uuid: Uuid,
    pub component_usage: Uuid,
    pub username: String,
    /// OfferingUser uuid.
    pub user: Option<Uuid>,
    pub usage: Decimal,
    pub description: String,
    pub backend_id: String,
    pub date: DateTime<Utc>,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
}

/// An invoice item made from a usage row (`MarketplaceRegistrator.
/// update_invoice_when_usage_is_reported`, see `crate::invoicing`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InvoiceItem {
    pub uuid: Uuid,
    pub resource: Uuid,
    /// The consumer organisation the invoice belongs to.
    pub customer: Uuid,
    pub project: Uuid,
    /// The invoice's month (first day).
    pub billing_period: NaiveDate,
    pub component: String,
    pub component_name: String,
    pub measured_unit: String,
    pub quantity: Decimal,
    pub unit_price: Decimal,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// The resource's plan when the item was made (not necessarily the period's).
    pub plan: Option<Uuid>,
    pub plan_name: String,
    pub offering: Uuid,
    pub offering_type: String,
}

keyed!(
    User,
    Org,
    Project,
    Offering,
    Resource,
    PlanPeriod,
    Order,
    SshKey,
    OfferingUser,
    ComponentUsage,
    UserUsage,
    InvoiceItem
);

/// Everything the sandbox stores.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    pub users: Table<User>,
    pub orgs: Table<Org>,
    pub projects: Table<Project>,
    pub offerings: Table<Offering>,
    pub resources: Table<Resource>,
    pub plan_periods: Table<PlanPeriod>,
    pub orders: Table<Order>,
    pub ssh_keys: Table<SshKey>,
    pub offering_users: Table<OfferingUser>,
    pub usages: Table<ComponentUsage>,
    pub user_usages: Table<UserUsage>,
    #[serde(default)]
    pub invoice_items: Table<InvoiceItem>,
    /// (resource, component, month) -> its rows: one on 8.x, one per plan period on the older
    /// generation (2024), which keys rows by plan period too.
    #[serde(skip)]
    usage_key: HashMap<(Uuid, String, NaiveDate), Vec<Uuid>>,
    #[serde(skip)]
    token_index: HashMap<String, Uuid>,
}

/// First day of the UTC month of `t`.
pub fn month_start(t: &DateTime<Utc>) -> NaiveDate {
    NaiveDate::from_ymd_opt(t.year(), t.month(), 1).unwrap_or(t.date_naive())
}

/// The first instant of the UTC month of `t`.
pub fn month_start_instant(t: &DateTime<Utc>) -> DateTime<Utc> {
    Utc.from_utc_datetime(&month_start(t).and_hms_opt(0, 0, 0).unwrap_or_default())
}

pub const RESOURCE_STATES: &[&str] = &[
    "Creating",
    "OK",
    "Erred",
    "Updating",
    "Terminating",
    "Terminated",
];
pub const ORDER_STATES: &[&str] = &[
    "pending-consumer",
    "pending-provider",
    "pending-project",
    "pending-start-date",
    "executing",
    "done",
    "erred",
    "canceled",
    "rejected",
];
pub const ORDER_TYPES: &[&str] = &["Create", "Update", "Terminate", "Restore"];
pub const OFFERING_USER_STATES: &[&str] = &[
    "Requested",
    "Creating",
    "Pending account linking",
    "Pending additional validation",
    "OK",
    "Requested deletion",
    "Deleting",
    "Deleted",
    "Error creating",
    "Error deleting",
];

impl State {
    /// Rebuild every index (after deserializing).
    pub fn reindex(&mut self) {
        self.users.reindex();
        self.orgs.reindex();
        self.projects.reindex();
        self.offerings.reindex();
        self.resources.reindex();
        self.plan_periods.reindex();
        self.orders.reindex();
        self.ssh_keys.reindex();
        self.offering_users.reindex();
        self.usages.reindex();
        self.user_usages.reindex();
        self.invoice_items.reindex();
        self.usage_key = HashMap::new();
        for u in self.usages.iter() {
            self.usage_key
                .entry((u.resource, u.type_.clone(), u.billing_period))
                .or_default()
                .push(u.uuid);
        }
        self.token_index = self
            .users
            .iter()
            .filter_map(|u| u.token.clone().map(|t| (t, u.uuid)))
            .collect();
    }

    pub fn user_by_token(&self, token: &str) -> Option<&User> {
        self.token_index.get(token).and_then(|u| self.users.get(u))
    }

    pub fn user_by_id(&self, id: i64) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }

    /// The component usage row for (resource, component type, billing month); where the older
    /// generation holds several (one per plan period), the one written last.
    pub fn usage_for(
        &self,
        resource: &Uuid,
        type_: &str,
        period: NaiveDate,
    ) -> Option<&ComponentUsage> {
        self.usage_rows(resource, type_, period)
            .max_by_key(|u| (u.date, u.created))
    }

    /// Every row of (resource, component type, billing month).
    pub fn usage_rows<'a>(
        &'a self,
        resource: &Uuid,
        type_: &str,
        period: NaiveDate,
    ) -> impl Iterator<Item = &'a ComponentUsage> + 'a {
        self.usage_key
            .get(&(*resource, type_.to_string(), period))
            .into_iter()
            .flatten()
            .filter_map(|id| self.usages.get(id))
    }

    /// Insert or overwrite the usage keyed by (resource, component, billing month), as 8.x does.
    pub fn upsert_usage(&mut self, row: ComponentUsage) -> Uuid {
        self.upsert_usage_keyed(row, false).0
    }

    /// Insert or overwrite a usage row. `by_plan_period`: the older generation's key
    /// (resource, component, plan period, month), so a report under another plan period adds a
    /// row; otherwise 8.x's (resource, component, month), whose plan period is overwritten.
    /// Returns the row and whether it is new or its amount changed (what makes the invoice step
    /// run).
    pub fn upsert_usage_keyed(
        &mut self,
        row: ComponentUsage,
        by_plan_period: bool,
    ) -> (Uuid, bool) {
        let key = (row.resource, row.type_.clone(), row.billing_period);
        let ids = self.usage_key.get(&key).cloned().unwrap_or_default();
        let found = ids.iter().copied().find(|id| {
            !by_plan_period
                || self
                    .usages
                    .get(id)
                    .is_some_and(|u| u.plan_period == row.plan_period)
        });
        if let Some(id) = found {
            if let Some(existing) = self.usages.get_mut(&id) {
                let changed = existing.usage != row.usage;
                existing.usage = row.usage;
                existing.date = row.date;
                existing.modified = row.modified;
                existing.description = row.description;
                existing.recurring = row.recurring;
                existing.plan_period = row.plan_period;
                existing.modified_by = row.modified_by;
                return (id, changed);
            }
        }
        let id = row.uuid;
        self.usage_key.entry(key).or_default().push(id);
        self.usages.push(row);
        (id, true)
    }

    pub fn resource_offering(&self, r: &Resource) -> Option<&Offering> {
        self.offerings.get(&r.offering)
    }

    pub fn service_provider_org(&self, sp: &Uuid) -> Option<&Org> {
        self.orgs
            .iter()
            .find(|o| o.service_provider.as_ref() == Some(sp))
    }

    pub fn is_org_owner(&self, user: &User, org: &Uuid) -> bool {
        self.orgs
            .get(org)
            .is_some_and(|o| o.owners.contains(&user.uuid))
    }

    pub fn is_org_manager(&self, user: &User, org: &Uuid) -> bool {
        self.orgs
            .get(org)
            .is_some_and(|o| o.managers.contains(&user.uuid))
    }

    pub fn is_offering_manager(&self, user: &User, offering: &Uuid) -> bool {
        self.offerings
            .get(offering)
            .is_some_and(|o| o.managers.contains(&user.uuid))
    }

    /// `RESOURCE.SET_USAGE` on the offering's organisation (owner) — the "service provider" of the
    /// date rules.
    pub fn can_set_usage_org(&self, user: &User, offering: &Offering) -> bool {
        user.is_staff || self.is_org_owner(user, &offering.org)
    }

    /// `RESOURCE.SET_USAGE` on the organisation or on the offering.
    pub fn can_set_usage(&self, user: &User, offering: &Offering) -> bool {
        self.can_set_usage_org(user, offering) || offering.managers.contains(&user.uuid)
    }

    /// Provider-side management (orders, backend_id, report, states, offering users): staff,
    /// owners and service managers of the provider organisation, offering managers.
    pub fn can_manage_offering(&self, user: &User, offering: &Offering) -> bool {
        user.is_staff
            || self.is_org_owner(user, &offering.org)
            || self.is_org_manager(user, &offering.org)
            || offering.managers.contains(&user.uuid)
    }

    /// Provider view: resources of offerings the user manages.
    pub fn provider_visible(&self, user: &User, r: &Resource) -> bool {
        user.is_staff
            || self
                .offerings
                .get(&r.offering)
                .is_some_and(|o| self.can_manage_offering(user, o))
    }

    /// Consumer view: resources of projects the user is a member of, or of organisations they own.
    pub fn consumer_visible(&self, user: &User, r: &Resource) -> bool {
        user.is_staff || self.project_role(user, &r.project).is_some()
    }

    /// The user's role in a project (`admin|manager|member`), or `owner` via the organisation.
    pub fn project_role(&self, user: &User, project: &Uuid) -> Option<String> {
        let p = self.projects.get(project)?;
        if let Some(m) = p.members.iter().find(|m| m.user == user.uuid) {
            return Some(m.role.clone());
        }
        if self.is_org_owner(user, &p.org) {
            return Some("owner".into());
        }
        None
    }

    /// Whether the user may act for the project as its consumer (admin, manager or owner: the
    /// roles that approve and change orders; a plain member may not).
    pub fn manages_project(&self, user: &User, project: &Uuid) -> bool {
        self.project_role(user, project)
            .is_some_and(|role| role == "admin" || role == "manager" || role == "owner")
    }

    /// Resources of the provider organisation's shared offerings that are not terminated.
    pub fn sp_resources(&self, org: &Uuid) -> Vec<&Resource> {
        self.resources
            .iter()
            .filter(|r| r.state != "Terminated")
            .filter(|r| {
                self.offerings
                    .get(&r.offering)
                    .is_some_and(|o| &o.org == org && o.shared)
            })
            .collect()
    }

    /// Projects holding those resources, in creation order.
    pub fn sp_projects(&self, org: &Uuid) -> Vec<&Project> {
        let res = self.sp_resources(org);
        self.projects
            .iter()
            .filter(|p| res.iter().any(|r| r.project == p.uuid))
            .collect()
    }

    /// Users holding a role in those projects.
    pub fn sp_users(&self, org: &Uuid) -> Vec<&User> {
        let projects = self.sp_projects(org);
        self.users
            .iter()
            .filter(|u| {
                projects
                    .iter()
                    .any(|p| p.members.iter().any(|m| m.user == u.uuid))
            })
            .collect()
    }

    /// Users connected to `user` (same organisation or project, or users of their provider).
    pub fn connected_users(&self, user: &User) -> Vec<Uuid> {
        let mut out = vec![user.uuid];
        for o in self.orgs.iter() {
            if o.owners.contains(&user.uuid) || o.managers.contains(&user.uuid) {
                out.extend(o.owners.iter().chain(o.managers.iter()).copied());
                for p in self.projects.iter().filter(|p| p.org == o.uuid) {
                    out.extend(p.members.iter().map(|m| m.user));
                }
                if o.service_provider.is_some() {
                    out.extend(self.sp_users(&o.uuid).iter().map(|u| u.uuid));
                }
            }
        }
        for p in self.projects.iter() {
            if p.members.iter().any(|m| m.user == user.uuid) {
                out.extend(p.members.iter().map(|m| m.user));
            }
        }
        for of in self
            .offerings
            .iter()
            .filter(|o| o.managers.contains(&user.uuid))
        {
            for r in self.resources.iter().filter(|r| r.offering == of.uuid) {
                if let Some(p) = self.projects.get(&r.project) {
                    out.extend(p.members.iter().map(|m| m.user));
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }

    /// The plan period active at `t` (latest with start <= t and end > t or open).
    pub fn plan_period_at(&self, resource: &Uuid, t: &DateTime<Utc>) -> Option<Uuid> {
        self.plan_periods
            .iter()
            .filter(|p| &p.resource == resource)
            .filter(|p| p.start.is_none_or(|s| s <= *t) && p.end.is_none_or(|e| e > *t))
            .max_by_key(|p| p.start)
            .map(|p| p.uuid)
    }

    /// Open a plan period for a resource that just became OK (if it has a plan and none is open).
    pub fn open_plan_period(&mut self, resource: &Uuid, now: DateTime<Utc>) {
        let Some(r) = self.resources.get(resource) else {
            return;
        };
        let Some(plan) = r.plan else { return };
        if self
            .plan_periods
            .iter()
            .any(|p| &p.resource == resource && p.end.is_none())
        {
            return;
        }
        self.plan_periods.push(PlanPeriod {
            uuid: Uuid::new_v4(),
            resource: *resource,
            plan,
            start: Some(now),
            end: None,
        });
    }

    /// Close the open plan periods of a resource that became Terminated.
    pub fn close_plan_periods(&mut self, resource: &Uuid, now: DateTime<Utc>) {
        for p in self.plan_periods.rows.iter_mut() {
            if &p.resource == resource && p.end.is_none() {
                p.end = Some(now);
            }
        }
    }

    /// Register a user's token in the lookup index.
    pub fn index_token(&mut self, token: &str, user: Uuid) {
        self.token_index.insert(token.to_string(), user);
    }
}

/// Parse a uuid in 32-hex or hyphenated form.
/// The uuid a related object's URL ends in (`.../offerings/<uuid>/`); a bare uuid is taken too.
pub fn uuid_of_url(url: &str) -> Option<Uuid> {
    parse_uuid(url.trim_end_matches('/').rsplit('/').next().unwrap_or(url))
}

pub fn parse_uuid(s: &str) -> Option<Uuid> {
    let s = s.trim();
    if s.len() != 32 && s.len() != 36 {
        return None;
    }
    Uuid::try_parse(s).ok()
}
