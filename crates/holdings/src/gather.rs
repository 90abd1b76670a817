//! Reading what the plan needs from Waldur: the offering's resources (one paginated listing,
//! never a call per resource), its components, and the usage it holds per month.

use std::collections::{BTreeMap, BTreeSet};

use chrono::Datelike;
use rust_decimal::Decimal;
use tally_model::BillingMonth;
use tally_waldur::{
    ComponentUsageFilter, ComponentUserUsageFilter, Error, OfferingUserFilter, OfferingUserState,
    OfferingView, ResourceFilter, ServerVersion, WaldurClient,
};
use uuid::Uuid;

use crate::{
    uuid_of_url, HeldMonths, HeldUser, HoldingKey, Holdings, ServerInfo, UsageIds, UserDirectory,
    UserHoldings, WaldurComponent, WaldurResource,
};

/// `GET /api/version/`, and what it means for past months.
pub async fn server_info(client: &WaldurClient) -> Result<ServerInfo, Error> {
    let v: ServerVersion = client.version().await?;
    Ok(ServerInfo {
        honours_date: v.honours_usage_date(),
        version: v.version,
    })
}

/// The provider's resources of the offering, with only the fields the plan reads.
pub async fn resources(
    client: &WaldurClient,
    offering: Uuid,
) -> Result<Vec<WaldurResource>, Error> {
    let filter = ResourceFilter {
        fields: ["uuid", "backend_id", "state", "name"]
            .map(String::from)
            .to_vec(),
        ..ResourceFilter::provider_offering(offering)
    };
    Ok(client
        .resources(&filter)
        .await?
        .into_iter()
        .map(|r| WaldurResource {
            uuid: r.uuid,
            backend_id: r.backend_id.unwrap_or_default(),
            state: r.state,
            name: r.name,
        })
        .collect())
}

/// The offering's components and their billing types (provider view).
pub async fn components(
    client: &WaldurClient,
    offering: Uuid,
) -> Result<Vec<WaldurComponent>, Error> {
    let o = client
        .offering(OfferingView::Provider, offering, &["components".to_owned()])
        .await?;
    Ok(o.components
        .into_iter()
        .map(|c| WaldurComponent {
            component: c.component,
            billing_type: c.billing_type,
        })
        .collect())
}

/// What Waldur holds for the offering in `months`: one listing per month, filtered by offering
/// and billing period. A key held in several rows (older servers keep one per plan period) is
/// not in it: it is in [`HeldMonths::several_rows`] (see [`held_months`]).
pub async fn holdings(
    client: &WaldurClient,
    offering: Uuid,
    months: &BTreeSet<BillingMonth>,
) -> Result<Holdings, Error> {
    Ok(held_months(client, offering, months).await?.holdings)
}

/// [`holdings`], and the uuid of each component usage record from the same listing: the
/// `{uuid}` the per-user calls need, at no extra request. With several rows for one key the
/// first listed (the newest) is kept.
pub async fn holdings_and_ids(
    client: &WaldurClient,
    offering: Uuid,
    months: &BTreeSet<BillingMonth>,
) -> Result<(Holdings, UsageIds), Error> {
    let h = held_months(client, offering, months).await?;
    Ok((h.holdings, h.ids))
}

/// What Waldur holds for the offering in `months`, one listing per month, with the keys held
/// in several rows kept apart.
///
/// Why apart (issue 23, docs/plan-periods.md): an older server keys rows by plan period, and
/// each row is invoiced at its own plan's price. The sum of the rows says nothing about whether
/// each part is right (8 + 17 and 10 + 15 both make 25, and 10 + 25 is a double bill of a
/// month that used 25), so such a key is never compared with, nor overwritten by, one figure:
/// it is judged per plan period by the caller.
pub async fn held_months(
    client: &WaldurClient,
    offering: Uuid,
    months: &BTreeSet<BillingMonth>,
) -> Result<HeldMonths, Error> {
    let mut rows: BTreeMap<HoldingKey, Vec<Decimal>> = BTreeMap::new();
    let mut ids = UsageIds::new();
    for month in months {
        let filter = ComponentUsageFilter {
            offering_uuid: Some(offering),
            billing_period: Some(month.first_day()),
            fields: ["resource_uuid", "billing_period"]
                .map(String::from)
                .to_vec(),
            ..Default::default()
        };
        for u in client.component_usages(&filter).await? {
            let Some(resource) = u.resource_uuid else {
                tracing::warn!(usage = %u.uuid.simple(), "component usage without resource_uuid ignored");
                continue;
            };
            let key = (resource, *month, u.component.clone());
            ids.entry(key.clone()).or_insert(u.uuid);
            rows.entry(key).or_default().push(u.usage);
        }
    }
    let mut out = HeldMonths {
        ids,
        ..HeldMonths::default()
    };
    for (key, usages) in rows {
        if let [one] = usages[..] {
            out.holdings.insert(key, one);
        } else {
            tracing::info!(resource = %key.0.simple(), month = %key.1, component = %key.2, rows = usages.len(),
                "Waldur holds this month in several rows (one per plan period): judged per plan period, never as their sum");
            out.several_rows.insert(key, usages);
        }
    }
    Ok(out)
}

/// The per-user usage Waldur holds for the offering in `months`: one listing per month,
/// filtered by offering and billing period (never one per resource or per record).
pub async fn user_holdings(
    client: &WaldurClient,
    offering: Uuid,
    months: &BTreeSet<BillingMonth>,
) -> Result<UserHoldings, Error> {
    let mut out = UserHoldings::new();
    for month in months {
        let filter = ComponentUserUsageFilter {
            offering_uuid: Some(offering),
            billing_period: Some(month.first_day()),
            fields: [
                "username",
                "usage",
                "user",
                "resource_uuid",
                "component_type",
            ]
            .map(String::from)
            .to_vec(),
            ..Default::default()
        };
        for u in client.component_user_usages(&filter).await? {
            let (Some(resource), Some(component), Some(username)) =
                (u.resource_uuid, u.component_type, u.username)
            else {
                tracing::warn!(usage = %u.uuid.simple(), "user usage without resource, component or username ignored");
                continue;
            };
            let held = out
                .entry((resource, *month, component))
                .or_default()
                .entry(username)
                .or_insert(HeldUser {
                    amount: Decimal::ZERO,
                    user: None,
                });
            held.amount += u.usage.unwrap_or_default();
            if let Some(link) = u.user.as_deref().and_then(uuid_of_url) {
                held.user = Some(link);
            }
        }
    }
    Ok(out)
}

/// The offering's users: local username -> offering-user URL, one paginated listing.
///
/// An account being deleted is not linked to; of several accounts with one username, the one
/// in state OK wins; if that still leaves more than one, none is linked (the usage is reported
/// by username alone, as for an unknown one) rather than guessing whose it is.
pub async fn user_directory(client: &WaldurClient, offering: Uuid) -> Result<UserDirectory, Error> {
    let filter = OfferingUserFilter {
        offering_uuid: Some(offering),
        fields: ["url", "username", "state"].map(String::from).to_vec(),
        ..Default::default()
    };
    let mut best: std::collections::BTreeMap<String, (u8, BTreeSet<String>)> =
        std::collections::BTreeMap::new();
    for ou in client.offering_users(&filter).await? {
        let (Some(name), Some(url)) = (ou.username.filter(|n| !n.is_empty()), ou.url) else {
            continue;
        };
        let rank = match ou.state {
            Some(OfferingUserState::Ok) => 0,
            Some(
                OfferingUserState::Deleted
                | OfferingUserState::Deleting
                | OfferingUserState::RequestedDeletion
                | OfferingUserState::ErrorDeleting,
            ) => continue,
            _ => 1,
        };
        let entry = best.entry(name).or_insert((rank, BTreeSet::new()));
        if rank < entry.0 {
            *entry = (rank, BTreeSet::new());
        }
        if rank == entry.0 {
            entry.1.insert(url);
        }
    }
    let mut out = UserDirectory::new();
    for (name, (_, urls)) in best {
        if urls.len() == 1 {
            out.extend(urls.into_iter().map(|u| (name.clone(), u)));
        } else {
            tracing::warn!(username = %name, accounts = urls.len(),
                "several offering users have this username; its usage is reported by username alone");
        }
    }
    Ok(out)
}

/// What Waldur holds for one resource in one month, per component.
pub async fn resource_month(
    client: &WaldurClient,
    resource: Uuid,
    month: BillingMonth,
) -> Result<std::collections::BTreeMap<String, Decimal>, Error> {
    let filter = ComponentUsageFilter {
        resource_uuid: Some(resource),
        billing_period: Some(month.first_day()),
        ..Default::default()
    };
    let mut out = std::collections::BTreeMap::new();
    for u in client.component_usages(&filter).await? {
        *out.entry(u.component).or_insert(Decimal::ZERO) += u.usage;
    }
    Ok(out)
}

/// Everything Waldur holds for the offering, every month: one paginated listing filtered by
/// offering alone, keyed by each row's `billing_period`. For what spans months (a limit's annual
/// or total period), where a listing per month would need to know the months first. Rows
/// without a resource or billing period are skipped with a warning; several rows for one key
/// are summed, as invoicing and the server's limit check see them.
pub async fn holdings_all_months(client: &WaldurClient, offering: Uuid) -> Result<Holdings, Error> {
    let filter = ComponentUsageFilter {
        offering_uuid: Some(offering),
        fields: ["resource_uuid", "billing_period"]
            .map(String::from)
            .to_vec(),
        ..Default::default()
    };
    let mut out = Holdings::new();
    for u in client.component_usages(&filter).await? {
        let (Some(resource), Some(period)) = (u.resource_uuid, u.billing_period) else {
            tracing::warn!(usage = %u.uuid.simple(), "component usage without resource_uuid or billing_period ignored");
            continue;
        };
        let Ok(month) = BillingMonth::new(period.year(), period.month()) else {
            continue;
        };
        *out.entry((resource, month, u.component.clone()))
            .or_insert(Decimal::ZERO) += u.usage;
    }
    Ok(out)
}
