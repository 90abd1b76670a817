//! One method per endpoint of the contract, on top of the HTTP core.

use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::client::{Idempotency, WaldurClient};
use crate::error::Error;
use crate::pagination::{Page, Query};
use crate::types::offerings::{
    Offering, OfferingFilter, OfferingView, PlanComponent, PlanComponentFilter,
};
use crate::types::orders::{ApproveRequest, Order, OrderActionResult, OrderFilter, RejectRequest};
use crate::types::people::{
    KeyFilter, NewOfferingUser, OfferingUser, OfferingUserFilter, Project, ProjectPermission,
    ProjectPermissionFilter, ServerVersion, ServiceProvider, ServiceProviderFilter,
    SetOfferingsUsernameRequest, SshKey, TokenLifetime, User, UserFilter, WhoAmI,
};
use crate::types::resources::{
    ActionStatus, BackendIdRequest, ErrorDetails, PlanPeriod, ReportRequest, ReportSection,
    Resource, ResourceFilter, ResourceView, TeamMember,
};
use crate::types::simple;
use crate::types::usage::{
    ComponentUsage, ComponentUsageFilter, ComponentUserUsage, ComponentUserUsageFilter,
    SetUsageRequest, UserUsageRequest, UserUsagesRequest,
};

/// A paginated listing: where it lives, how it is filtered, what its items are. Lets one pair of
/// methods ([`WaldurClient::list`], [`WaldurClient::page`]) serve every list endpoint.
/// The path of a usage record's per-user breakdown: `set_user_usages` (the whole breakdown at
/// once, 8.x) when `bulk`, else `set_user_usage` (one user). `record` is the record's uuid in
/// 32-hex form (or, in a dry run's listing, the words for a record not created yet).
pub fn user_usages_path(record: &str, bulk: bool) -> String {
    let action = if bulk {
        "set_user_usages"
    } else {
        "set_user_usage"
    };
    format!("marketplace-component-usages/{record}/{action}/")
}

pub trait ListRequest {
    type Item: DeserializeOwned;
    /// Relative to the API base, ending with `/`.
    fn path(&self) -> String;
    fn query(&self) -> Query;
}

macro_rules! listing {
    ($filter:ty, $item:ty, |$s:ident| $path:expr) => {
        impl ListRequest for $filter {
            type Item = $item;
            fn path(&self) -> String {
                let $s = self;
                $path
            }
            fn query(&self) -> Query {
                <$filter>::query(self)
            }
        }
    };
}

listing!(ComponentUsageFilter, ComponentUsage, |_s| {
    "marketplace-component-usages/".to_owned()
});
listing!(ComponentUserUsageFilter, ComponentUserUsage, |_s| {
    "marketplace-component-user-usages/".to_owned()
});
listing!(ResourceFilter, Resource, |s| s.view.prefix().to_owned());
listing!(OfferingFilter, Offering, |s| s.view.prefix().to_owned());
listing!(PlanComponentFilter, PlanComponent, |_s| {
    "marketplace-plan-components/".to_owned()
});
listing!(OrderFilter, Order, |_s| "marketplace-orders/".to_owned());
listing!(OfferingUserFilter, OfferingUser, |_s| {
    "marketplace-offering-users/".to_owned()
});
listing!(ServiceProviderFilter, ServiceProvider, |_s| {
    "marketplace-service-providers/".to_owned()
});
listing!(UserFilter, User, |_s| "users/".to_owned());
listing!(KeyFilter, SshKey, |_s| "keys/".to_owned());

/// The plan periods of a resource (a bare array on 8.0, paged on newer servers: both read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanPeriods {
    pub resource: Uuid,
    pub view: ResourceView,
}
listing!(PlanPeriods, PlanPeriod, |s| format!(
    "{}{}/plan_periods/",
    s.view.prefix(),
    simple(&s.resource)
));
impl PlanPeriods {
    fn query(&self) -> Query {
        Query::new()
    }
}

/// The team (project members) of a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Team {
    pub resource: Uuid,
    pub view: ResourceView,
}
listing!(Team, TeamMember, |s| format!(
    "{}{}/team/",
    s.view.prefix(),
    simple(&s.resource)
));
impl Team {
    fn query(&self) -> Query {
        Query::new()
    }
}

/// Users with roles in projects that hold resources of a provider's offerings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderUsers {
    /// The ServiceProvider record's uuid.
    pub service_provider: Uuid,
    pub filter: UserFilter,
}
listing!(ProviderUsers, User, |s| format!(
    "marketplace-service-providers/{}/users/",
    simple(&s.service_provider)
));
impl ProviderUsers {
    fn query(&self) -> Query {
        self.filter.query()
    }
}

/// SSH keys of a provider's users.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderKeys {
    pub service_provider: Uuid,
    pub filter: KeyFilter,
}
listing!(ProviderKeys, SshKey, |s| format!(
    "marketplace-service-providers/{}/keys/",
    simple(&s.service_provider)
));
impl ProviderKeys {
    fn query(&self) -> Query {
        self.filter.query()
    }
}

/// Projects with non-terminated resources of a provider.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderProjects {
    pub service_provider: Uuid,
    pub fields: Vec<String>,
}
listing!(ProviderProjects, Project, |s| format!(
    "marketplace-service-providers/{}/projects/",
    simple(&s.service_provider)
));
impl ProviderProjects {
    fn query(&self) -> Query {
        crate::types::with_fields(Query::new(), &["uuid"], &self.fields)
    }
}

/// Active project roles in a provider's projects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderProjectPermissions {
    pub service_provider: Uuid,
    pub filter: ProjectPermissionFilter,
}
listing!(ProviderProjectPermissions, ProjectPermission, |s| format!(
    "marketplace-service-providers/{}/project_permissions/",
    simple(&s.service_provider)
));
impl ProviderProjectPermissions {
    fn query(&self) -> Query {
        self.filter.query()
    }
}

fn decode_or_default<T: DeserializeOwned + Default>(body: &[u8]) -> T {
    // Several actions answer with an empty body on older servers and a small JSON object on newer
    // ones; the status code already said it worked, so an unreadable body is not an error.
    if body.iter().all(u8::is_ascii_whitespace) {
        return T::default();
    }
    serde_json::from_slice(body).unwrap_or_default()
}

impl WaldurClient {
    // ---- generic listings ------------------------------------------------------------------

    /// Every item of a listing, all pages followed.
    pub async fn list<R: ListRequest>(&self, req: &R) -> Result<Vec<R::Item>, Error> {
        self.list_all(&req.path(), &req.query()).await
    }

    /// One page (1-based) of a listing; `page_size` defaults to the client's.
    pub async fn page<R: ListRequest>(
        &self,
        req: &R,
        page: u32,
        page_size: Option<u32>,
    ) -> Result<Page<R::Item>, Error> {
        self.list_page(&req.path(), &req.query(), page, page_size)
            .await
    }

    // ---- server -----------------------------------------------------------------------------

    /// `GET version/`, and whether `set_usage` honours `date` ([`ServerVersion::honours_usage_date`]).
    ///
    /// The version answers that question only when the server discloses a number: the 2024
    /// generation answers 403 to a provider's token and `"unknown"` to staff on a source install.
    /// Then the server itself is asked, without writing anything: a `set_usage` with an invalid
    /// `date` and no resource is refused (400) by every generation, and only a server that reads
    /// `date` names that field in its refusal (8.x: `"date": ["Datetime has wrong format..."]`;
    /// 2024: only `"Either plan_period or resource should be provided."`, `date` silently
    /// dropped). A 403 or a missing endpoint here is not an error; a 401 is.
    pub async fn version(&self) -> Result<ServerVersion, Error> {
        let mut v = match self
            .get_json::<ServerVersion>("version/", &Query::new())
            .await
        {
            Ok(v) => v,
            Err(e @ (Error::Forbidden(_) | Error::NotFound(_))) => {
                tracing::debug!("the server does not disclose its version ({e})");
                ServerVersion {
                    version: "unknown".to_owned(),
                    usage_date: None,
                }
            }
            Err(e) => return Err(e),
        };
        if v.numbers().is_none() {
            v.usage_date = self.probe_usage_date().await?;
            tracing::info!(
                version = %v.version,
                honours_date = ?v.usage_date,
                "the server's version says nothing; asked set_usage whether it reads `date`"
            );
        }
        Ok(v)
    }

    /// Whether `set_usage` reads `date` (see [`WaldurClient::version`]); `None` when the answer
    /// does not tell. Sends a body that no server can store: no resource, no usages.
    async fn probe_usage_date(&self) -> Result<Option<bool>, Error> {
        let body = serde_json::json!({ "usages": [], "date": "not-a-date" });
        match self
            .post(
                "marketplace-component-usages/set_usage/",
                Some(&body),
                Idempotency::Safe,
            )
            .await
        {
            Err(Error::Validation(f)) => Ok(Some(!f.message.field("date").is_empty())),
            Err(e @ Error::Unauthorized(_)) => Err(e),
            Err(e) => {
                tracing::warn!("cannot tell whether set_usage reads `date` ({e})");
                Ok(None)
            }
            Ok(a) => {
                tracing::warn!(
                    status = a.status.as_u16(),
                    "set_usage accepted a body without a resource; cannot tell whether it reads `date`"
                );
                Ok(None)
            }
        }
    }

    /// `GET users/me/`: the cheapest check that the token works, and whose it is.
    pub async fn me(&self) -> Result<User, Error> {
        self.get_json("users/me/", &Query::new()).await
    }

    /// `GET users/me/` read for a health check: whose the token is, whether it expires after an
    /// idle spell, and the server's clock from the answer's `Date` header. One request.
    ///
    /// Waldur (2024 generation and 8.x alike) shows `token_lifetime` only to the user herself
    /// (`UserSerializer._can_see_token`), which `me` always is: `null` there means the token
    /// never expires, a number the idle seconds after which it does. A server that leaves the
    /// key out says nothing either way ([`TokenLifetime::NotShown`]).
    pub async fn whoami(&self) -> Result<WhoAmI, Error> {
        let (user, headers) = self
            .get_json_with_headers::<serde_json::Value>("users/me/", &Query::new())
            .await?;
        let token_lifetime = match user.get("token_lifetime") {
            None => TokenLifetime::NotShown,
            Some(serde_json::Value::Null) => TokenLifetime::Never,
            Some(v) => match v.as_i64() {
                Some(n) if n > 0 => TokenLifetime::IdleSeconds(n),
                // 0 or a value that is no number: Waldur treats a falsy lifetime as none.
                Some(_) => TokenLifetime::Never,
                None => TokenLifetime::NotShown,
            },
        };
        let server_date = headers
            .get(reqwest::header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok())
            .map(chrono::DateTime::<chrono::Utc>::from);
        let username = user
            .get("username")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned();
        let is_staff = user.get("is_staff").and_then(serde_json::Value::as_bool);
        Ok(WhoAmI {
            username,
            is_staff,
            token_lifetime,
            server_date,
        })
    }

    // ---- usage ------------------------------------------------------------------------------

    /// `POST marketplace-component-usages/set_usage/` (201, empty body).
    ///
    /// Retried on timeouts, dropped connections, 429 and 5xx: SET semantics make a repeated
    /// request write the same value again, never a second amount.
    pub async fn set_usage(&self, req: &SetUsageRequest) -> Result<(), Error> {
        req.check().map_err(Error::InvalidRequest)?;
        self.post(
            "marketplace-component-usages/set_usage/",
            Some(req),
            Idempotency::Safe,
        )
        .await
        .map(drop)
    }

    /// `GET marketplace-component-usages/`, all pages.
    pub async fn component_usages(
        &self,
        filter: &ComponentUsageFilter,
    ) -> Result<Vec<ComponentUsage>, Error> {
        self.list(filter).await
    }

    /// `GET marketplace-component-usages/{uuid}/`.
    pub async fn component_usage(&self, uuid: Uuid) -> Result<ComponentUsage, Error> {
        self.get_json(
            &format!("marketplace-component-usages/{}/", simple(&uuid)),
            &Query::new(),
        )
        .await
    }

    /// `POST marketplace-component-usages/{uuid}/set_user_usage/` (upsert by username).
    pub async fn set_user_usage(
        &self,
        component_usage: Uuid,
        req: &UserUsageRequest,
    ) -> Result<(), Error> {
        crate::types::usage::check_amount(&req.username, req.usage)
            .map_err(Error::InvalidRequest)?;
        self.post(
            &user_usages_path(&simple(&component_usage), false),
            Some(req),
            Idempotency::Safe,
        )
        .await
        .map(drop)
    }

    /// The whole per-user breakdown of one usage record: `POST
    /// marketplace-component-usages/{uuid}/set_user_usages/` (8.x, atomic, non-empty) where the
    /// server has it, else one `set_user_usage` per user (the 2024 generation answers the bulk
    /// call with Django's HTML 404).
    ///
    /// Which one the server has is learnt on the first call of this client and kept: concurrent
    /// first callers wait for that answer, so a run spends at most one 404 on it. Without the bulk
    /// endpoint the users are written one by one, in order, and the first failure stops the
    /// rest; each call is an upsert by username, so sending the breakdown again completes it.
    pub async fn set_user_usages(
        &self,
        component_usage: Uuid,
        usages: &[UserUsageRequest],
    ) -> Result<(), Error> {
        if usages.is_empty() {
            return Err(Error::InvalidRequest(
                "set_user_usages needs at least one usage".to_owned(),
            ));
        }
        for u in usages {
            crate::types::usage::check_amount(&u.username, u.usage)
                .map_err(Error::InvalidRequest)?;
        }
        let learnt = self.learnt();
        match learnt.bulk_user_usages() {
            Some(true) => return self.bulk_user_usages(component_usage, usages).await,
            Some(false) => return self.user_usages_one_by_one(component_usage, usages).await,
            None => {}
        }
        let guard = learnt.learning.lock().await;
        match learnt.bulk_user_usages() {
            Some(true) => {
                drop(guard);
                return self.bulk_user_usages(component_usage, usages).await;
            }
            Some(false) => {
                drop(guard);
                return self.user_usages_one_by_one(component_usage, usages).await;
            }
            None => {}
        }
        let answer = self.bulk_user_usages(component_usage, usages).await;
        match &answer {
            Err(e) if e.is_missing_endpoint() => {
                learnt.set_bulk_user_usages(false);
                drop(guard);
                tracing::info!(
                    "this server has no set_user_usages; per-user usage is sent with one set_user_usage per user"
                );
                return self.user_usages_one_by_one(component_usage, usages).await;
            }
            // The endpoint's own view answered (success, or a JSON refusal of this record).
            Ok(()) => learnt.set_bulk_user_usages(true),
            Err(e)
                if e.failure()
                    .is_some_and(|f| f.message.is_json() && f.status < 500) =>
            {
                learnt.set_bulk_user_usages(true)
            }
            Err(_) => {}
        }
        answer
    }

    async fn bulk_user_usages(
        &self,
        component_usage: Uuid,
        usages: &[UserUsageRequest],
    ) -> Result<(), Error> {
        self.post(
            &user_usages_path(&simple(&component_usage), true),
            Some(&UserUsagesRequest { usages }),
            Idempotency::Safe,
        )
        .await
        .map(drop)
    }

    async fn user_usages_one_by_one(
        &self,
        component_usage: Uuid,
        usages: &[UserUsageRequest],
    ) -> Result<(), Error> {
        for u in usages {
            self.set_user_usage(component_usage, u).await?;
        }
        Ok(())
    }

    /// `GET marketplace-component-user-usages/`, all pages.
    pub async fn component_user_usages(
        &self,
        filter: &ComponentUserUsageFilter,
    ) -> Result<Vec<ComponentUserUsage>, Error> {
        self.list(filter).await
    }

    // ---- resources --------------------------------------------------------------------------

    /// Resource listing (provider or consumer view), all pages.
    pub async fn resources(&self, filter: &ResourceFilter) -> Result<Vec<Resource>, Error> {
        self.list(filter).await
    }

    /// `GET marketplace-(provider-)resources/{uuid}/`, optionally restricted to `fields`.
    pub async fn resource(
        &self,
        view: ResourceView,
        uuid: Uuid,
        fields: &[String],
    ) -> Result<Resource, Error> {
        self.get_json(
            &format!("{}{}/", view.prefix(), simple(&uuid)),
            &crate::types::with_fields(Query::new(), &["uuid"], fields),
        )
        .await
    }

    /// The resource's plan periods with the current month's usage.
    pub async fn plan_periods(
        &self,
        view: ResourceView,
        resource: Uuid,
    ) -> Result<Vec<PlanPeriod>, Error> {
        self.list(&PlanPeriods { resource, view }).await
    }

    /// The resource's team.
    pub async fn team(&self, view: ResourceView, resource: Uuid) -> Result<Vec<TeamMember>, Error> {
        self.list(&Team { resource, view }).await
    }

    /// `POST marketplace-provider-resources/{uuid}/set_backend_id/` (idempotent: a SET).
    pub async fn set_backend_id(
        &self,
        resource: Uuid,
        backend_id: &str,
    ) -> Result<ActionStatus, Error> {
        if backend_id.chars().count() > 255 {
            return Err(Error::InvalidRequest(
                "backend_id is longer than 255 characters".to_owned(),
            ));
        }
        let a = self
            .post(
                &format!(
                    "marketplace-provider-resources/{}/set_backend_id/",
                    simple(&resource)
                ),
                Some(&BackendIdRequest { backend_id }),
                Idempotency::Safe,
            )
            .await?;
        Ok(decode_or_default(&a.body))
    }

    /// `POST marketplace-provider-resources/{uuid}/submit_report/` (replaces the report).
    pub async fn submit_report(
        &self,
        resource: Uuid,
        report: &[ReportSection],
    ) -> Result<ActionStatus, Error> {
        if report.is_empty() {
            return Err(Error::InvalidRequest(
                "a report needs at least one section".to_owned(),
            ));
        }
        let a = self
            .post(
                &format!(
                    "marketplace-provider-resources/{}/submit_report/",
                    simple(&resource)
                ),
                Some(&ReportRequest { report }),
                Idempotency::Safe,
            )
            .await?;
        Ok(decode_or_default(&a.body))
    }

    /// `POST marketplace-provider-resources/{uuid}/set_state_ok/` (8.0+).
    pub async fn set_state_ok(&self, resource: Uuid) -> Result<ActionStatus, Error> {
        let a = self
            .post::<()>(
                &format!(
                    "marketplace-provider-resources/{}/set_state_ok/",
                    simple(&resource)
                ),
                None,
                Idempotency::Unsafe,
            )
            .await?;
        Ok(decode_or_default(&a.body))
    }

    /// `POST marketplace-provider-resources/{uuid}/set_as_ok/`.
    pub async fn set_as_ok(&self, resource: Uuid) -> Result<(), Error> {
        self.post::<()>(
            &format!(
                "marketplace-provider-resources/{}/set_as_ok/",
                simple(&resource)
            ),
            None,
            Idempotency::Unsafe,
        )
        .await
        .map(drop)
    }

    /// `POST marketplace-provider-resources/{uuid}/set_as_erred/`.
    pub async fn set_as_erred(&self, resource: Uuid, details: &ErrorDetails) -> Result<(), Error> {
        self.post(
            &format!(
                "marketplace-provider-resources/{}/set_as_erred/",
                simple(&resource)
            ),
            Some(details),
            Idempotency::Unsafe,
        )
        .await
        .map(drop)
    }

    // ---- offerings --------------------------------------------------------------------------

    /// `GET marketplace-public-offerings/{uuid}/` or the provider view; components carry their
    /// `billing_type`.
    pub async fn offering(
        &self,
        view: OfferingView,
        uuid: Uuid,
        fields: &[String],
    ) -> Result<Offering, Error> {
        self.get_json(
            &format!("{}{}/", view.prefix(), simple(&uuid)),
            &crate::types::with_fields(Query::new(), &["uuid"], fields),
        )
        .await
    }

    // ---- orders -----------------------------------------------------------------------------

    /// `GET marketplace-orders/{uuid}/`.
    pub async fn order(&self, uuid: Uuid) -> Result<Order, Error> {
        self.get_json(
            &format!("marketplace-orders/{}/", simple(&uuid)),
            &Query::new(),
        )
        .await
    }

    /// `GET marketplace-orders/`, all pages.
    pub async fn orders(&self, filter: &OrderFilter) -> Result<Vec<Order>, Error> {
        self.list(filter).await
    }

    /// `POST marketplace-orders/{uuid}/approve_by_provider/`: `pending-provider` → `executing`;
    /// any other state answers 409 ([`Error::Conflict`]) naming the valid state.
    pub async fn approve_order(
        &self,
        uuid: Uuid,
        attributes: Option<&serde_json::Value>,
    ) -> Result<OrderActionResult, Error> {
        let path = format!("marketplace-orders/{}/approve_by_provider/", simple(&uuid));
        let a = match attributes {
            Some(attributes) => {
                self.post(
                    &path,
                    Some(&ApproveRequest { attributes }),
                    Idempotency::Unsafe,
                )
                .await?
            }
            None => self.post::<()>(&path, None, Idempotency::Unsafe).await?,
        };
        Ok(decode_or_default(&a.body))
    }

    /// `POST marketplace-orders/{uuid}/reject_by_provider/`: `pending-provider` → `rejected`.
    pub async fn reject_order(&self, uuid: Uuid, comment: Option<&str>) -> Result<(), Error> {
        let path = format!("marketplace-orders/{}/reject_by_provider/", simple(&uuid));
        match comment {
            Some(c) => {
                self.post(
                    &path,
                    Some(&RejectRequest {
                        provider_rejection_comment: c,
                    }),
                    Idempotency::Unsafe,
                )
                .await?
            }
            None => self.post::<()>(&path, None, Idempotency::Unsafe).await?,
        };
        Ok(())
    }

    /// `POST marketplace-orders/{uuid}/cancel/` (202): consumer-side, basic/support offerings only.
    pub async fn cancel_order(&self, uuid: Uuid) -> Result<(), Error> {
        self.post::<()>(
            &format!("marketplace-orders/{}/cancel/", simple(&uuid)),
            None,
            Idempotency::Unsafe,
        )
        .await
        .map(drop)
    }

    /// `POST marketplace-orders/{uuid}/set_state_executing/`.
    pub async fn set_order_executing(&self, uuid: Uuid) -> Result<(), Error> {
        self.post::<()>(
            &format!("marketplace-orders/{}/set_state_executing/", simple(&uuid)),
            None,
            Idempotency::Unsafe,
        )
        .await
        .map(drop)
    }

    /// `POST marketplace-orders/{uuid}/set_state_done/` (only from `executing`).
    pub async fn set_order_done(&self, uuid: Uuid) -> Result<(), Error> {
        self.post::<()>(
            &format!("marketplace-orders/{}/set_state_done/", simple(&uuid)),
            None,
            Idempotency::Unsafe,
        )
        .await
        .map(drop)
    }

    /// `POST marketplace-orders/{uuid}/set_state_erred/`.
    ///
    /// Both keys are always sent (empty when not given): the 2024 generation reads
    /// `validated_data["error_traceback"]` unconditionally and answers a body without it with a
    /// 500 (seen on the genuine server).
    pub async fn set_order_erred(&self, uuid: Uuid, details: &ErrorDetails) -> Result<(), Error> {
        let body = ErrorDetails {
            error_message: Some(details.error_message.clone().unwrap_or_default()),
            error_traceback: Some(details.error_traceback.clone().unwrap_or_default()),
        };
        self.post(
            &format!("marketplace-orders/{}/set_state_erred/", simple(&uuid)),
            Some(&body),
            Idempotency::Unsafe,
        )
        .await
        .map(drop)
    }

    // ---- offering users, providers, people ----------------------------------------------------

    /// `POST marketplace-offering-users/` (201 with the new record). Not retried after an
    /// ambiguous failure: a duplicate answers 400 "must make a unique set".
    ///
    /// Sent in the one form every generation accepts: `offering` and `user` as hyperlinks, the
    /// offering as its `marketplace-provider-offerings/<uuid>/` URL on this client's base (the
    /// 2024 generation refuses `offering_uuid`/`user_uuid` and a public-offerings URL). A URL
    /// given by the caller is reduced to its uuid first, so a public-offerings URL or one on
    /// another host name of the same server works too.
    pub async fn create_offering_user(&self, req: &NewOfferingUser) -> Result<OfferingUser, Error> {
        let offering = req.offering.uuid().map_err(Error::InvalidRequest)?;
        let user = req.user.uuid().map_err(Error::InvalidRequest)?;
        let mut body = serde_json::Map::new();
        body.insert(
            "offering".into(),
            self.api_url(&format!(
                "marketplace-provider-offerings/{}/",
                simple(&offering)
            ))?
            .as_str()
            .into(),
        );
        body.insert(
            "user".into(),
            self.api_url(&format!("users/{}/", simple(&user)))?
                .as_str()
                .into(),
        );
        if let Some(n) = &req.username {
            body.insert("username".into(), n.as_str().into());
        }
        self.post_json(
            "marketplace-offering-users/",
            Some(&body),
            Idempotency::Unsafe,
        )
        .await
    }

    /// `GET marketplace-offering-users/`, all pages.
    pub async fn offering_users(
        &self,
        filter: &OfferingUserFilter,
    ) -> Result<Vec<OfferingUser>, Error> {
        self.list(filter).await
    }

    /// `GET marketplace-service-providers/`, all pages (filter by `customer_uuid` to find an
    /// organisation's record).
    pub async fn service_providers(
        &self,
        filter: &ServiceProviderFilter,
    ) -> Result<Vec<ServiceProvider>, Error> {
        self.list(filter).await
    }

    /// The ServiceProvider record of an organisation, if it is a provider.
    pub async fn service_provider_of(
        &self,
        customer_uuid: Uuid,
    ) -> Result<Option<ServiceProvider>, Error> {
        let all = self
            .list(&ServiceProviderFilter {
                customer_uuid: Some(customer_uuid),
                ..Default::default()
            })
            .await?;
        Ok(all
            .into_iter()
            .find(|sp| sp.customer_uuid.is_none_or(|c| c == customer_uuid)))
    }

    /// `POST marketplace-service-providers/{uuid}/set_offerings_username/`: the user's username on
    /// every offering of the provider (a SET, safe to repeat).
    pub async fn set_offerings_username(
        &self,
        service_provider: Uuid,
        user_uuid: Uuid,
        username: &str,
    ) -> Result<(), Error> {
        if username.trim().is_empty() {
            return Err(Error::InvalidRequest("username is empty".to_owned()));
        }
        self.post(
            &format!(
                "marketplace-service-providers/{}/set_offerings_username/",
                simple(&service_provider)
            ),
            Some(&SetOfferingsUsernameRequest {
                user_uuid,
                username,
            }),
            Idempotency::Safe,
        )
        .await
        .map(drop)
    }

    /// A provider's users, all pages.
    pub async fn provider_users(&self, req: &ProviderUsers) -> Result<Vec<User>, Error> {
        self.list(req).await
    }

    /// A provider's users' SSH keys, all pages.
    pub async fn provider_keys(&self, req: &ProviderKeys) -> Result<Vec<SshKey>, Error> {
        self.list(req).await
    }

    /// A provider's projects, all pages.
    pub async fn provider_projects(&self, req: &ProviderProjects) -> Result<Vec<Project>, Error> {
        self.list(req).await
    }

    /// A provider's project permissions, all pages.
    pub async fn provider_project_permissions(
        &self,
        req: &ProviderProjectPermissions,
    ) -> Result<Vec<ProjectPermission>, Error> {
        self.list(req).await
    }

    /// `GET users/`, all pages.
    pub async fn users(&self, filter: &UserFilter) -> Result<Vec<User>, Error> {
        self.list(filter).await
    }

    /// `GET keys/`, all pages.
    pub async fn keys(&self, filter: &KeyFilter) -> Result<Vec<SshKey>, Error> {
        self.list(filter).await
    }

    /// `GET marketplace-plan-components/`, all pages.
    pub async fn plan_components(
        &self,
        filter: &PlanComponentFilter,
    ) -> Result<Vec<PlanComponent>, Error> {
        self.list(filter).await
    }
}
