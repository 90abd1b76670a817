//! Reads that answer "will it be invoiced?": plan periods with their usage rows, the offering's
//! plans and prices, invoice items. See docs/plan-periods.md.

use uuid::Uuid;

use crate::client::WaldurClient;
use crate::error::Error;
use crate::types::invoices::{
    attach_plan_periods, HeldUsage, InvoiceItem, InvoiceItemFilter, InvoiceItemsRead,
    OfferingPricing,
};
use crate::types::offerings::OfferingView;
use crate::types::resources::ResourceView;
use crate::types::usage::ComponentUsageFilter;

impl WaldurClient {
    /// The resource's usage rows of the current month, each with the plan period it is stored
    /// under (joined through `plan_periods`, which lists each period's current-month rows).
    ///
    /// On a server that keys rows by plan period (2024) a month with a switch has one row per
    /// period and component; on 8.x one row per component whose period is the last written.
    pub async fn held_usage_by_plan_period(
        &self,
        view: ResourceView,
        resource: Uuid,
    ) -> Result<Vec<HeldUsage>, Error> {
        let periods = self.plan_periods(view, resource).await?;
        let rows = self
            .component_usages(&ComponentUsageFilter {
                resource_uuid: Some(resource),
                ..Default::default()
            })
            .await?;
        Ok(attach_plan_periods(rows, &periods))
    }

    /// The offering's plans with their prices and its components' billing types
    /// (`GET marketplace-public-offerings/{uuid}/?field=type&field=components&field=plans`).
    pub async fn offering_pricing(
        &self,
        view: OfferingView,
        offering: Uuid,
    ) -> Result<OfferingPricing, Error> {
        let fields = ["type", "components", "plans"].map(str::to_owned);
        let o = self.offering(view, offering, &fields).await?;
        Ok(OfferingPricing::from_offering(&o))
    }

    /// `GET invoice-items/`, all pages, with what the token may see made explicit: 403 is
    /// [`InvoiceItemsRead::NotPermitted`]; an empty list to a token that is neither staff nor
    /// support is [`InvoiceItemsRead::EmptyMaybeHidden`] (the 2024 server shows a provider
    /// nothing, without an error).
    pub async fn invoice_items(
        &self,
        filter: &InvoiceItemFilter,
    ) -> Result<InvoiceItemsRead, Error> {
        let items: Vec<InvoiceItem> = match self.list_all("invoice-items/", &filter.query()).await {
            Ok(items) => items,
            Err(Error::Forbidden(_)) => return Ok(InvoiceItemsRead::NotPermitted),
            Err(e) => return Err(e),
        };
        if !items.is_empty() {
            return Ok(InvoiceItemsRead::Visible(items));
        }
        let me = self.me().await?;
        if me.is_staff == Some(true) || me.is_support == Some(true) {
            Ok(InvoiceItemsRead::Visible(items))
        } else {
            Ok(InvoiceItemsRead::EmptyMaybeHidden)
        }
    }
}
