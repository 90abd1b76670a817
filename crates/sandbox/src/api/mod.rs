//! The Waldur endpoints. To add one: write a handler (extractors `Caller`/`MaybeCaller` for auth,
//! `Ctx` for query/pagination, `DrfJson` for the body; return `Result<Response, ApiError>`) and add
//! a `.route(...)` line below.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::routing::{get, post};
use axum::Router;

use crate::app::AppState;

mod billing;
mod offerings;
mod orders;
mod people;
mod resources;
mod site_agent;
pub(crate) mod usage;
pub(crate) mod views;

/// Which side of the marketplace a request looks from. Waldur serves the same objects under two
/// paths that differ only in who may see what and how much is shown (`marketplace-resources` and
/// `marketplace-provider-resources`, `marketplace-public-offerings` and
/// `marketplace-provider-offerings`): one handler serves both and reads the view from the path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum View {
    /// The customer's (resources) or the public's (offerings).
    Consumer,
    /// The service provider's.
    Provider,
}

impl<S: Send + Sync> FromRequestParts<S> for View {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(if parts.uri.path().contains("/marketplace-provider-") {
            View::Provider
        } else {
            View::Consumer
        })
    }
}

/// The routes of the server generation: the older one (`legacy`, as the 2024 develop server) has
/// no `set_user_usages`, `set_as_ok` or `set_state_ok`, so Django's router answers them with its
/// HTML 404 (the fallback), before any authentication.
pub(crate) fn routes(legacy: bool) -> Router<AppState> {
    let mut r = Router::new()
        // component usage
        .route(
            "/api/marketplace-component-usages/",
            get(usage::list_usages),
        )
        .route(
            "/api/marketplace-component-usages/set_usage/",
            post(usage::set_usage),
        )
        .route(
            "/api/marketplace-component-usages/{uuid}/",
            get(usage::get_usage),
        )
        .route(
            "/api/marketplace-component-usages/{uuid}/set_user_usage/",
            post(usage::set_user_usage),
        )
        .route(
            "/api/marketplace-component-user-usages/",
            get(usage::list_user_usages),
        )
        // plans, plan switches, invoices (api/billing.rs)
        .route(
            "/api/marketplace-plans/{uuid}/update_prices/",
            post(billing::update_prices),
        )
        .route(
            "/api/marketplace-resources/{uuid}/switch_plan/",
            post(billing::switch_plan),
        )
        .route("/api/invoice-items/", get(billing::invoice_items))
        .route(
            "/api/marketplace-provider-offerings/{uuid}/create_offering_component/",
            post(billing::create_offering_component),
        )
        .route(
            "/api/marketplace-provider-offerings/{uuid}/update_offering_component/",
            post(billing::update_offering_component),
        )
        // resources
        .route("/api/marketplace-resources/", get(resources::list))
        .route(
            "/api/marketplace-resources/{uuid}/",
            resources::read_one(resources::get),
        )
        .route(
            "/api/marketplace-resources/{uuid}/plan_periods/",
            resources::read_one(resources::plan_periods),
        )
        .route(
            "/api/marketplace-resources/{uuid}/team/",
            resources::read_one(resources::team),
        )
        .route("/api/marketplace-provider-resources/", get(resources::list))
        .route(
            "/api/marketplace-provider-resources/{uuid}/",
            resources::read_one(resources::get),
        )
        .route(
            "/api/marketplace-provider-resources/{uuid}/plan_periods/",
            resources::read_one(resources::plan_periods),
        )
        .route(
            "/api/marketplace-provider-resources/{uuid}/team/",
            resources::read_one(resources::team),
        )
        .route(
            "/api/marketplace-provider-resources/{uuid}/set_backend_id/",
            post(resources::set_backend_id),
        )
        .route(
            "/api/marketplace-provider-resources/{uuid}/submit_report/",
            post(resources::submit_report),
        )
        .route(
            "/api/marketplace-provider-resources/{uuid}/set_as_erred/",
            post(resources::set_as_erred),
        )
        // offerings
        .route("/api/marketplace-public-offerings/", get(offerings::list))
        .route(
            "/api/marketplace-public-offerings/{uuid}/",
            get(offerings::get),
        )
        .route("/api/marketplace-provider-offerings/", get(offerings::list))
        .route(
            "/api/marketplace-provider-offerings/{uuid}/",
            get(offerings::get),
        )
        .route(
            "/api/marketplace-provider-offerings/{uuid}/user-attribute-config/",
            get(site_agent::user_attribute_config),
        )
        // site-agent bookkeeping (waldur-site-agent calls these every cycle)
        .route(
            "/api/marketplace-site-agent-identities/",
            get(site_agent::list_identities).post(site_agent::create_identity),
        )
        .route(
            "/api/marketplace-site-agent-identities/{uuid}/",
            get(site_agent::get_identity)
                .put(site_agent::put_identity)
                .patch(site_agent::patch_identity),
        )
        .route(
            "/api/marketplace-site-agent-identities/{uuid}/register_service/",
            post(site_agent::register_service),
        )
        .route(
            "/api/marketplace-site-agent-services/{uuid}/",
            get(site_agent::get_service),
        )
        .route(
            "/api/marketplace-site-agent-services/{uuid}/register_processor/",
            post(site_agent::register_processor),
        )
        .route(
            "/api/marketplace-plan-components/",
            get(offerings::plan_components),
        )
        // orders
        .route("/api/marketplace-orders/", get(orders::list))
        .route("/api/marketplace-orders/{uuid}/", get(orders::retrieve))
        .route(
            "/api/marketplace-orders/{uuid}/approve_by_provider/",
            post(orders::approve_by_provider),
        )
        .route(
            "/api/marketplace-orders/{uuid}/reject_by_provider/",
            post(orders::reject_by_provider),
        )
        .route(
            "/api/marketplace-orders/{uuid}/cancel/",
            post(orders::cancel),
        )
        .route(
            "/api/marketplace-orders/{uuid}/set_state_executing/",
            post(orders::set_state_executing),
        )
        .route(
            "/api/marketplace-orders/{uuid}/set_state_done/",
            post(orders::set_state_done),
        )
        .route(
            "/api/marketplace-orders/{uuid}/set_state_erred/",
            post(orders::set_state_erred),
        )
        // people
        .route("/api/users/", get(people::list_users))
        .route("/api/users/me/", get(people::me))
        .route(
            "/api/users/{uuid}/",
            get(people::get_user).patch(people::patch_user),
        )
        .route("/api/keys/", get(people::list_keys))
        .route("/api/keys/{uuid}/", get(people::get_key))
        .route(
            "/api/marketplace-offering-users/",
            get(people::list_offering_users).post(people::create_offering_user),
        )
        .route(
            "/api/marketplace-offering-users/{uuid}/",
            get(people::get_offering_user),
        )
        .route("/api/marketplace-service-providers/", get(people::list_sps))
        .route(
            "/api/marketplace-service-providers/{uuid}/",
            get(people::get_sp),
        )
        .route(
            "/api/marketplace-service-providers/{uuid}/set_offerings_username/",
            post(people::set_offerings_username),
        );
    for list in [
        "users",
        "keys",
        "projects",
        "project_permissions",
        "customers",
    ] {
        r = r.route(
            &format!("/api/marketplace-service-providers/{{uuid}}/{list}/"),
            people::sp_list_route(list),
        );
    }
    if !legacy {
        r = r
            .route(
                "/api/marketplace-component-usages/{uuid}/set_user_usages/",
                post(usage::set_user_usages),
            )
            .route(
                "/api/marketplace-provider-resources/{uuid}/set_state_ok/",
                post(resources::set_state_ok),
            )
            .route(
                "/api/marketplace-provider-resources/{uuid}/set_as_ok/",
                post(resources::set_as_ok),
            );
    }
    r
}
