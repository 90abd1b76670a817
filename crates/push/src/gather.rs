//! Reading what the plan needs from Waldur: the offering's resources (one paginated listing,
//! never a call per resource), its components, and the usage it holds per month.

use std::collections::BTreeSet;

use rust_decimal::Decimal;
use tally_model::BillingMonth;
use tally_waldur::{
    ComponentUsageFilter, Error, OfferingView, ResourceFilter, ServerVersion, WaldurClient,
};
use uuid::Uuid;

use crate::plan::{Holdings, ServerInfo, WaldurComponent, WaldurResource};

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
/// and billing period. Several rows for one key (older servers keep one per plan period) are
/// summed, which is what invoicing sees; that is logged because tally can only set one of them.
pub async fn holdings(
    client: &WaldurClient,
    offering: Uuid,
    months: &BTreeSet<BillingMonth>,
) -> Result<Holdings, Error> {
    let mut out = Holdings::new();
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
            let entry = out.entry(key).or_insert(Decimal::ZERO);
            if !entry.is_zero() {
                tracing::warn!(resource = %resource.simple(), %month, component = %u.component,
                    "Waldur holds several usage rows for one resource, month and component; comparing with their sum");
            }
            *entry += u.usage;
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
