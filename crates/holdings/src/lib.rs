//! tally-holdings: what Waldur holds for an offering, and which of it is tally's.
//!
//! Push plans from these and check compares with them, so both read Waldur the same way (one
//! resource listing, one usage listing per month, never a call per resource) and agree on which
//! cells tally owns: a check that counted another reporter's usage as "unexpected" would send
//! operators chasing figures push must never touch.
//!
//! - [`gather`] reads: server version, resources, components, usage per month, per-user usage,
//!   the offering's users.
//! - [`ownership()`] decides which (resource, month, component) cells tally owns. Pure.

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;
use serde::Serialize;
use tally_model::{BillingMonth, UsageCell};
use tally_waldur::{BillingType, ResourceState};
use uuid::Uuid;

pub mod gather;

/// A resource of the offering, as the provider listing shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WaldurResource {
    pub uuid: Uuid,
    /// `""` when the resource has none.
    pub backend_id: String,
    pub state: Option<ResourceState>,
    pub name: Option<String>,
}

/// An offering component and how it bills.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WaldurComponent {
    pub component: String,
    pub billing_type: Option<BillingType>,
}

/// One stored figure: resource, billing month, component.
pub type HoldingKey = (Uuid, BillingMonth, String);

/// What Waldur holds for the months read: the total per (resource, month, component).
pub type Holdings = BTreeMap<HoldingKey, Decimal>;

/// What Waldur holds for some months, read in one listing per month.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeldMonths {
    /// Keys held in exactly one row: that row's usage.
    pub holdings: Holdings,
    /// The usage record of each key (the newest of several).
    pub ids: UsageIds,
    /// Keys held in several rows (an older server's rows per plan period): each row's usage.
    /// Never summed into one figure.
    pub several_rows: BTreeMap<HoldingKey, Vec<Decimal>>,
}

/// Keys named as tally's cells name them (the resource's backend_id, the month, the
/// component), e.g. of [`HeldMonths::several_rows`]: such a month is never compared with one
/// figure. Keys of resources not in `backend_ids` (uuid -> backend_id) are left out.
pub fn keys_by_backend_id<'a, V>(
    keys: &'a BTreeMap<HoldingKey, V>,
    backend_ids: impl IntoIterator<Item = (Uuid, &'a str)>,
) -> BTreeSet<(&'a str, BillingMonth, &'a str)> {
    let backend_of: BTreeMap<Uuid, &str> = backend_ids.into_iter().collect();
    keys.keys()
        .filter_map(|(r, m, c)| backend_of.get(r).map(|b| (*b, *m, c.as_str())))
        .collect()
}

/// The server's version and what follows from it for past months.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerInfo {
    /// As `/api/version/` says it (`"unknown"` on unpackaged installs).
    pub version: String,
    /// `Some(true)` from 8.0 on; `Some(false)` before (the `date` field is silently dropped and
    /// the current month written); `None` when the version does not say.
    pub honours_date: Option<bool>,
}

/// One user's stored share, as the component-user-usages listing shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeldUser {
    /// Summed over rows of the same username (older servers keep one record per plan period).
    pub amount: Decimal,
    /// The offering user it is linked to (uuid taken from the `user` URL), if any.
    pub user: Option<Uuid>,
}

/// What Waldur holds per user: (resource, month, component) -> username -> share.
pub type UserHoldings = BTreeMap<HoldingKey, BTreeMap<String, HeldUser>>;

/// The component usage record of each (resource, month, component): the `{uuid}` of
/// `set_user_usages`, read from the same per-month listing the plan already makes.
pub type UsageIds = BTreeMap<HoldingKey, Uuid>;

/// Local username -> offering-user URL (`marketplace-offering-users/{uuid}/`), from the
/// offering's offering users. A username missing here is reported by username alone.
pub type UserDirectory = BTreeMap<String, String>;

/// The uuid at the end of an API detail URL (`.../marketplace-offering-users/<hex>/`).
pub fn uuid_of_url(url: &str) -> Option<Uuid> {
    url.trim_end_matches('/')
        .rsplit('/')
        .next()
        .and_then(|s| Uuid::parse_str(s).ok())
}

/// How tally decides which resources of the offering are its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OwnershipMode {
    /// tally is the only reporter of the offering's configured components (the default): it owns
    /// every resource its mapping can name, and every resource the ledger shows it wrote to.
    #[default]
    Offering,
    /// Another reporter writes to the same offering (`[push] shared_offering = true`): tally owns
    /// only the resources it computes a cell for in the window, and each (resource, month) the
    /// ledger shows it delivered a report to.
    Shared,
}

/// The backend_ids tally's account mapping can produce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MappingReach {
    /// `unlisted = "identity"`: any account is a backend_id, so every resource of the offering
    /// that has one.
    EveryBackendId,
    /// `unlisted = "unmapped"`: the targets of `[mapping.accounts]` only.
    Only(BTreeSet<String>),
}

/// What [`ownership`] is computed from.
#[derive(Debug, Clone)]
pub struct OwnershipInput<'a> {
    pub mode: OwnershipMode,
    pub reach: &'a MappingReach,
    pub resources: &'a [WaldurResource],
    /// The cells tally computes for the window.
    pub cells: &'a [UsageCell],
    /// (resource, month) pairs the ledger shows a delivered report for (this offering).
    pub written: &'a BTreeSet<(Uuid, BillingMonth)>,
    /// The components tally reports (the configured ones): other components are another
    /// reporter's business and never zeroed.
    pub components: &'a BTreeSet<String>,
}

/// The cells tally owns: for these, Waldur must end up holding tally's amount, 0.00 where
/// tally computes nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ownership {
    /// Resources owned in every month.
    pub resources: BTreeSet<Uuid>,
    /// Resources owned in one month only (shared offerings: what the ledger shows).
    pub resource_months: BTreeSet<(Uuid, BillingMonth)>,
    pub components: BTreeSet<String>,
}

impl Ownership {
    pub fn owns(&self, resource: Uuid, month: BillingMonth, component: &str) -> bool {
        self.components.contains(component)
            && (self.resources.contains(&resource)
                || self.resource_months.contains(&(resource, month)))
    }
}

/// Decides which cells tally owns. Pure.
pub fn ownership(input: &OwnershipInput<'_>) -> Ownership {
    let computed: BTreeSet<&str> = input.cells.iter().map(|c| c.resource.as_str()).collect();
    let by_computed = input
        .resources
        .iter()
        .filter(|r| !r.backend_id.is_empty() && computed.contains(r.backend_id.as_str()))
        .map(|r| r.uuid);
    let mut out = Ownership {
        components: input.components.clone(),
        ..Ownership::default()
    };
    match input.mode {
        OwnershipMode::Offering => {
            out.resources.extend(by_computed);
            out.resources.extend(
                input
                    .resources
                    .iter()
                    .filter(|r| match input.reach {
                        MappingReach::EveryBackendId => !r.backend_id.is_empty(),
                        MappingReach::Only(ids) => ids.contains(&r.backend_id),
                    })
                    .map(|r| r.uuid),
            );
            out.resources.extend(input.written.iter().map(|(u, _)| *u));
        }
        OwnershipMode::Shared => {
            out.resources.extend(by_computed);
            out.resource_months = input.written.clone();
        }
    }
    out
}
