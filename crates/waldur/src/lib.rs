//! Typed client for the parts of the Waldur API that tally uses: usage reporting and the
//! provider operations of the seed guides.
//!
//! - [`WaldurClient`] (cheap to clone, `Send + Sync`) from [`ClientSettings`]; plain `http://`
//!   only to loopback unless explicitly allowed; request and connect timeouts always set.
//! - Every attempt, retries included, takes a permit of one client-wide rate limiter; whether to
//!   retry is a pure [`classify`] of the answer, how long to wait is [`RetryPolicy`].
//! - List endpoints follow `Link: rel="next"` to the end ([`WaldurClient::list`]) or return one
//!   page ([`WaldurClient::page`]).
//! - Server errors keep Waldur's message and structure ([`Error`], [`ServerMessage`]); the token
//!   ([`Token`]) never appears in any output.
//!
//! Bounded concurrency is the caller's: clones share one connection pool and one rate limiter.
//!
//! ```no_run
//! # async fn demo(settings: tally_waldur::ClientSettings,
//! #               work: Vec<tally_waldur::SetUsageRequest>) -> Result<(), tally_waldur::Error> {
//! use std::sync::Arc;
//! let client = tally_waldur::WaldurClient::new(settings)?;
//! let gate = Arc::new(tokio::sync::Semaphore::new(4));
//! let mut tasks = tokio::task::JoinSet::new();
//! for req in work {
//!     let (client, gate) = (client.clone(), gate.clone());
//!     tasks.spawn(async move {
//!         let _permit = gate.acquire_owned().await;
//!         client.set_usage(&req).await
//!     });
//! }
//! while let Some(done) = tasks.join_next().await {
//!     if let Ok(Err(e)) = done {
//!         eprintln!("{e}");
//!     }
//! }
//! # Ok(()) }
//! ```

mod billing;
mod client;
mod decimal;
mod endpoints;
mod error;
mod pagination;
mod ratelimit;
mod retry;
mod settings;
mod token;
pub mod types;

pub use client::{RequestPreview, WaldurClient};
pub use decimal::parse_json_decimal;
pub use endpoints::{
    user_usages_path, ListRequest, PlanPeriods, ProviderKeys, ProviderProjectPermissions,
    ProviderProjects, ProviderUsers, Team,
};
pub use error::{
    ApiFailure, Error, LimitExceeded, ServerMessage, TOKEN_EXPIRED, TOKEN_EXPIRED_HINT,
};
pub use pagination::{next_link, parse_link_header, result_count, LinkEntry, Page, Query};
pub use retry::{
    classify, classify_at, classify_transport, parse_retry_after, RetryPolicy, TransportFailure,
    Verdict,
};
pub use settings::{
    is_loopback, normalise_base, ClientSettings, SettingsError, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE,
};
pub use token::{Token, TokenError, TOKEN_ENV_VAR};

pub use types::invoices::{
    attach_plan_periods, HeldUsage, InvoiceItem, InvoiceItemDetails, InvoiceItemFilter,
    InvoiceItemsRead, OfferingPricing,
};
pub use types::offerings::{
    BillingType, Offering, OfferingComponent, OfferingFilter, OfferingState, OfferingView, Plan,
    PlanComponent, PlanComponentFilter,
};
pub use types::orders::{Order, OrderActionResult, OrderFilter, OrderState, OrderType};
pub use types::people::{
    KeyFilter, NewOfferingUser, ObjectRef, OfferingUser, OfferingUserFilter, OfferingUserState,
    Project, ProjectPermission, ProjectPermissionFilter, ProjectRole, ServerVersion,
    ServiceProvider, ServiceProviderFilter, SshKey, TokenLifetime, User, UserFilter, WhoAmI,
    OFFERING_USERS_NOT_ALLOWED, OFFERING_USERS_NOT_ALLOWED_HINT,
};
pub use types::resources::{
    ActionStatus, ErrorDetails, PeriodUsage, PlanPeriod, ReportSection, Resource, ResourceFilter,
    ResourceState, ResourceView, TeamMember,
};
pub use types::usage::{
    check_amount, ComponentUsage, ComponentUsageFilter, ComponentUserUsage,
    ComponentUserUsageFilter, SetUsageRequest, UsageItem, UserUsageRequest,
};
