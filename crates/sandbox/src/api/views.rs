//! Serializers: state rows to Waldur-shaped JSON objects (key order follows the captures).

use rust_decimal::Decimal;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::json::{date, dec_str, dt, hex, odt, ohex, Obj};
use crate::seed::seed_uuid;
use crate::state::*;

/// Rendering context.
pub(crate) struct V<'a> {
    pub st: &'a State,
    pub base: &'a str,
    pub legacy: bool,
    pub now: chrono::DateTime<chrono::Utc>,
}

pub(crate) fn slug(name: &str) -> String {
    let s: String = name
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let s = s.trim_matches('-');
    format!("{}-1", &s[..s.len().min(8)])
}

fn dec_number(d: &Decimal) -> Value {
    serde_json::from_str::<Value>(&d.to_string()).unwrap_or(Value::Null)
}

fn role_name(role: &str) -> String {
    format!("PROJECT.{}", role.to_uppercase())
}

impl V<'_> {
    pub fn url(&self, kind: &str, id: &Uuid) -> Value {
        Value::String(format!("{}/api/{kind}/{}/", self.base, id.simple()))
    }

    fn category(&self) -> Uuid {
        seed_uuid("category", "HPC")
    }

    pub fn component(&self, c: &Component) -> Obj {
        let mut o = Obj::new()
            .f("uuid", hex(&c.uuid))
            .f("billing_type", c.billing_type.clone())
            .f("type", c.type_.clone())
            .f("name", c.name.clone())
            .f("description", c.description.clone())
            .f("measured_unit", c.measured_unit.clone())
            .f(
                "limit_period",
                c.limit_period
                    .clone()
                    .map(Value::String)
                    .unwrap_or(Value::Null),
            )
            .f(
                "limit_amount",
                c.limit_amount.map(Value::from).unwrap_or(Value::Null),
            )
            .f("article_code", "")
            .f("max_value", Value::Null)
            .f("min_value", Value::Null)
            .f("max_available_limit", Value::Null)
            .f("is_boolean", false)
            .f("default_limit", Value::Null)
            .f("factor", Value::Null)
            .f("is_builtin", false);
        if !self.legacy {
            o = o
                .f("unit_factor", 1)
                .f("is_prepaid", false)
                .f("overage_component", Value::Null)
                .f("min_prepaid_duration", Value::Null)
                .f("max_prepaid_duration", Value::Null);
        }
        o
    }

    pub fn plan(&self, off: &Offering, p: &Plan) -> Value {
        let mut prices = Map::new();
        let mut future = Map::new();
        let mut quotas = Map::new();
        // Only the plan's plan components: a component added to the offering after the plan
        // was made has none, and no price.
        for c in off
            .components
            .iter()
            .filter(|c| p.prices.contains_key(&c.type_))
        {
            prices.insert(
                c.type_.clone(),
                p.prices.get(&c.type_).map(dec_number).unwrap_or(json!(0)),
            );
            future.insert(c.type_.clone(), Value::Null);
            quotas.insert(c.type_.clone(), json!(0));
        }
        let count = self
            .st
            .resources
            .iter()
            .filter(|r| r.plan == Some(p.uuid))
            .count();
        json!({
            "url": format!("{}/api/marketplace-public-offerings/{}/plans/{}/", self.base, off.uuid.simple(), p.uuid.simple()),
            "uuid": p.uuid.simple().to_string(),
            "name": p.name,
            "description": "",
            "article_code": "",
            "max_amount": null,
            "archived": false,
            "is_active": true,
            "unit_price": "0.0000000000",
            "unit": "month",
            "init_price": 0,
            "switch_price": 0,
            "backend_id": "",
            "organization_groups": [],
            "prices": prices,
            "future_prices": future,
            "quotas": quotas,
            "resources_count": count,
            "plan_type": "usage-based",
            "minimal_price": 0,
        })
    }

    pub fn offering(&self, o: &Offering, provider_view: bool) -> Obj {
        let org = self.st.orgs.get(&o.org);
        let orders = self
            .st
            .orders
            .iter()
            .filter(|x| {
                self.st
                    .resources
                    .get(&x.resource)
                    .is_some_and(|r| r.offering == o.uuid)
            })
            .count();
        let kind = if provider_view {
            "marketplace-provider-offerings"
        } else {
            "marketplace-public-offerings"
        };
        let mut obj = Obj::new()
            .f("url", self.url(kind, &o.uuid))
            .f("uuid", hex(&o.uuid))
            .f("created", dt(&o.created))
            .f("name", o.name.clone())
            .f("slug", slug(&o.name))
            .f("description", o.description.clone())
            .f("full_description", "")
            .f("terms_of_service", "")
            .f("terms_of_service_link", "")
            .f("privacy_policy_link", "")
            .f("endpoints", json!([]))
            .f("roles", json!([]))
            .f("customer", self.url("customers", &o.org))
            .f("customer_uuid", hex(&o.org))
            .f(
                "customer_name",
                org.map(|x| x.name.clone()).unwrap_or_default(),
            )
            .f("project", Value::Null)
            .f(
                "category",
                self.url("marketplace-categories", &self.category()),
            )
            .f("category_uuid", hex(&self.category()))
            .f("category_title", "HPC")
            .f("rating", Value::Null)
            .f("attributes", json!({}))
            .f("options", json!({"order": [], "options": {}}))
            .f("resource_options", json!({"order": [], "options": {}}))
            .f(
                "components",
                Value::Array(
                    o.components
                        .iter()
                        .map(|c| self.component(c).into_value())
                        .collect(),
                ),
            )
            .f("plugin_options", json!({}))
            .f("state", o.state.clone())
            .f("native_name", "")
            .f("native_description", "")
            .f("vendor_details", "")
            .f("getting_started", "")
            .f("integration_guide", "")
            .f("thumbnail", Value::Null)
            .f("order_count", orders)
            .f(
                "plans",
                Value::Array(o.plans.iter().map(|p| self.plan(o, p)).collect()),
            )
            .f("screenshots", json!([]))
            .f("type", o.type_.clone())
            .f("shared", o.shared)
            .f("billable", o.billable)
            .f("scope", Value::Null)
            .f("files", json!([]))
            .f("paused_reason", "")
            .f("datacite_doi", "")
            .f("citation_count", -1)
            .f("latitude", Value::Null)
            .f("longitude", Value::Null)
            .f("country", "")
            .f("backend_id", "")
            .f("organization_groups", json!([]))
            .f("image", Value::Null)
            .f("backend_metadata", json!({}));
        if provider_view {
            let customers: std::collections::BTreeSet<Uuid> = self
                .st
                .resources
                .iter()
                .filter(|r| r.offering == o.uuid)
                .filter_map(|r| self.st.projects.get(&r.project).map(|p| p.org))
                .collect();
            obj = obj
                .f("secret_options", json!({"service_provider_can_create_offering_user": o.service_provider_can_create_offering_user}))
                .f("service_attributes", json!({}))
                .f("integration_status", json!([]))
                .f("total_customers", customers.len())
                .f("total_cost", 0)
                .f("total_cost_estimated", 0);
        } else {
            obj = obj
                .f("google_calendar_is_public", Value::Null)
                .f("google_calendar_link", Value::Null)
                .f("promotion_campaigns", json!([]));
        }
        if !self.legacy {
            obj = obj.f(
                "service_provider_can_create_offering_user",
                o.service_provider_can_create_offering_user,
            );
        }
        obj
    }

    /// Fields shared by resources and orders describing the offering and plan.
    fn offering_head(&self, obj: Obj, off: Option<&Offering>, plan: Option<Uuid>) -> Obj {
        let org = off.and_then(|o| self.st.orgs.get(&o.org));
        let plan_row = off.zip(plan).and_then(|(o, p)| o.plan(&p));
        obj.f(
            "offering",
            off.map(|o| self.url("marketplace-public-offerings", &o.uuid))
                .unwrap_or(Value::Null),
        )
        .f(
            "offering_name",
            off.map(|o| o.name.clone()).unwrap_or_default(),
        )
        .f("offering_uuid", ohex(&off.map(|o| o.uuid)))
        .f(
            "offering_description",
            off.map(|o| o.description.clone()).unwrap_or_default(),
        )
        .f("offering_image", Value::Null)
        .f("offering_thumbnail", Value::Null)
        .f(
            "offering_type",
            off.map(|o| o.type_.clone()).unwrap_or_default(),
        )
        .f("offering_terms_of_service", "")
        .f("offering_shared", off.is_some_and(|o| o.shared))
        .f("offering_billable", off.is_some_and(|o| o.billable))
        .f("offering_plugin_options", json!({}))
        .f(
            "provider_name",
            org.map(|x| x.name.clone()).unwrap_or_default(),
        )
        .f("provider_uuid", ohex(&org.map(|x| x.uuid)))
        .f("category_title", "HPC")
        .f("category_uuid", hex(&self.category()))
        .f("category_icon", Value::Null)
        .f(
            "plan",
            match (off, plan_row) {
                (Some(o), Some(p)) => Value::String(format!(
                    "{}/api/marketplace-public-offerings/{}/plans/{}/",
                    self.base,
                    o.uuid.simple(),
                    p.uuid.simple()
                )),
                _ => Value::Null,
            },
        )
        .f(
            "plan_unit",
            if plan_row.is_some() {
                json!("month")
            } else {
                Value::Null
            },
        )
        .f(
            "plan_name",
            plan_row
                .map(|p| Value::String(p.name.clone()))
                .unwrap_or(Value::Null),
        )
        .f("plan_uuid", ohex(&plan_row.map(|p| p.uuid)))
        .f(
            "plan_description",
            if plan_row.is_some() {
                json!("")
            } else {
                Value::Null
            },
        )
    }

    pub fn resource(&self, r: &Resource) -> Obj {
        let st = self.st;
        let off = st.offerings.get(&r.offering);
        let project = st.projects.get(&r.project);
        let consumer = project.and_then(|p| st.orgs.get(&p.org));
        let limits: Map<String, Value> = r
            .limits
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        let period = month_start(&self.now);
        let mut limit_usage = Map::new();
        if let Some(o) = off {
            for c in o.components.iter().filter(|c| c.billing_type == "limit") {
                if let Some(u) = st.usage_for(&r.uuid, &c.type_, period) {
                    limit_usage.insert(c.type_.clone(), dec_number(&u.usage));
                }
            }
        }
        let current: Map<String, Value> = r
            .current_usages
            .iter()
            .map(|(k, v)| {
                let val = if self.legacy {
                    Value::String(v.clone())
                } else {
                    serde_json::from_str::<Value>(v).unwrap_or(Value::String(v.clone()))
                };
                (k.clone(), val)
            })
            .collect();
        let report = match &r.report {
            Some(sections) => json!(sections
                .iter()
                .map(|s| json!({"header": s.header, "body": s.body}))
                .collect::<Vec<_>>()),
            None if self.legacy => Value::Null,
            None => json!([]),
        };
        let usage_based =
            off.is_some_and(|o| o.components.iter().any(|c| c.billing_type == "usage"));
        let limit_based =
            off.is_some_and(|o| o.components.iter().any(|c| c.billing_type == "limit"));
        let obj = self.offering_head(Obj::new(), off, r.plan);
        let mut obj = obj
            .f("attributes", r.attributes.clone())
            .f("limits", Value::Object(limits))
            .f("uuid", hex(&r.uuid))
            .f("created", dt(&r.created))
            .f("modified", dt(&r.modified))
            .f("url", self.url("marketplace-resources", &r.uuid))
            .f("scope", Value::Null)
            .f("description", "")
            .f("state", r.state.clone())
            .f("resource_uuid", Value::Null)
            .f("backend_id", r.backend_id.clone())
            .f("effective_id", "")
            .f("resource_type", Value::Null)
            .f("project", self.url("projects", &r.project))
            .f("project_uuid", hex(&r.project))
            .f(
                "project_name",
                project.map(|p| p.name.clone()).unwrap_or_default(),
            )
            .f("project_description", "")
            .f("project_end_date", Value::Null)
            .f("project_end_date_requested_by", Value::Null)
            .f("customer_uuid", ohex(&consumer.map(|c| c.uuid)))
            .f(
                "customer_name",
                consumer.map(|c| c.name.clone()).unwrap_or_default(),
            )
            .f("backend_metadata", json!({}))
            .f("is_usage_based", usage_based)
            .f("is_limit_based", limit_based)
            .f("name", r.name.clone())
            .f("slug", slug(&r.name))
            .f("current_usages", Value::Object(current))
            .f("can_terminate", r.state == "OK" || r.state == "Erred")
            .f("report", report)
            .f(
                "end_date",
                r.end_date.as_ref().map(date).unwrap_or(Value::Null),
            )
            .f("end_date_requested_by", Value::Null)
            .f("username", Value::Null)
            .f(
                "limit_usage",
                if self.legacy {
                    Value::Null
                } else {
                    Value::Object(limit_usage)
                },
            )
            .f("downscaled", false)
            .f("restrict_member_access", false)
            .f("paused", false)
            .f("endpoints", json!([]))
            .f("error_message", r.error_message.clone())
            .f("error_traceback", r.error_traceback.clone())
            .f("offering_customer_uuid", ohex(&off.map(|o| o.org)))
            .f("options", if self.legacy { Value::Null } else { json!({}) })
            .f("available_actions", json!([]))
            .f("order_in_progress", Value::Null);
        if !self.legacy {
            obj = obj
                .f(
                    "offering_slug",
                    off.map(|o| slug(&o.name)).unwrap_or_default(),
                )
                .f(
                    "offering_components",
                    Value::Array(
                        off.map(|o| {
                            o.components
                                .iter()
                                .map(|c| self.component(c).into_value())
                                .collect()
                        })
                        .unwrap_or_default(),
                    ),
                )
                .f("last_sync", dt(&r.modified));
        }
        obj
    }

    fn user_link(&self, u: &Option<Uuid>) -> Value {
        u.map(|id| self.url("users", &id)).unwrap_or(Value::Null)
    }

    fn username_of(&self, u: &Option<Uuid>) -> Value {
        u.and_then(|id| self.st.users.get(&id))
            .map(|x| Value::String(x.username.clone()))
            .unwrap_or(Value::Null)
    }

    fn fullname_of(&self, u: &Option<Uuid>) -> Value {
        u.and_then(|id| self.st.users.get(&id))
            .map(|x| Value::String(x.full_name.clone()))
            .unwrap_or(json!(""))
    }

    pub fn order(&self, o: &Order) -> Obj {
        let st = self.st;
        let r = st.resources.get(&o.resource);
        let off = r.and_then(|r| st.offerings.get(&r.offering));
        let project = r.and_then(|r| st.projects.get(&r.project));
        let consumer = project.and_then(|p| st.orgs.get(&p.org));
        let limits: Map<String, Value> = o
            .limits
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        let obj = self
            .offering_head(Obj::new(), off, o.plan)
            .f("attributes", o.attributes.clone())
            .f("limits", Value::Object(limits))
            .f("uuid", hex(&o.uuid))
            .f("created", dt(&o.created))
            .f("modified", dt(&o.modified))
            .f("type", o.type_.clone())
            .f("resource_uuid", Value::Null)
            .f("resource_type", Value::Null)
            .f(
                "resource_name",
                r.map(|r| r.name.clone()).unwrap_or_default(),
            )
            .f("cost", "0.0000000000")
            .f("state", o.state.clone())
            .f("output", "")
            .f("marketplace_resource_uuid", hex(&o.resource))
            .f("error_message", o.error_message.clone())
            .f("error_traceback", o.error_traceback.clone())
            .f("callback_url", Value::Null)
            .f("url", self.url("marketplace-orders", &o.uuid))
            .f("created_by", self.user_link(&o.created_by))
            .f("created_by_username", self.username_of(&o.created_by))
            .f("created_by_full_name", self.fullname_of(&o.created_by))
            .f("created_by_civil_number", Value::Null)
            .f(
                "consumer_reviewed_by",
                self.user_link(&o.consumer_reviewed_by),
            )
            .f("consumer_reviewed_at", odt(&o.consumer_reviewed_at))
            .f(
                "consumer_reviewed_by_username",
                self.username_of(&o.consumer_reviewed_by),
            )
            .f(
                "consumer_reviewed_by_full_name",
                self.fullname_of(&o.consumer_reviewed_by),
            )
            .f(
                "provider_reviewed_by",
                self.user_link(&o.provider_reviewed_by),
            )
            .f("provider_reviewed_at", odt(&o.provider_reviewed_at))
            .f(
                "provider_reviewed_by_username",
                self.username_of(&o.provider_reviewed_by),
            )
            .f(
                "provider_reviewed_by_full_name",
                self.fullname_of(&o.provider_reviewed_by),
            )
            .f("completed_at", odt(&o.completed_at))
            .f(
                "project",
                self.url("projects", &r.map(|r| r.project).unwrap_or_default()),
            )
            .f("project_uuid", ohex(&r.map(|r| r.project)))
            .f(
                "project_name",
                project.map(|p| p.name.clone()).unwrap_or_default(),
            )
            .f("project_description", "")
            .f(
                "project_slug",
                project.map(|p| slug(&p.name)).unwrap_or_default(),
            )
            .f(
                "customer_name",
                consumer.map(|c| c.name.clone()).unwrap_or_default(),
            )
            .f("customer_uuid", ohex(&consumer.map(|c| c.uuid)))
            .f(
                "customer_slug",
                consumer.map(|c| slug(&c.name)).unwrap_or_default(),
            )
            .f(
                "new_plan_name",
                o.plan
                    .and_then(|p| off.and_then(|x| x.plan(&p)))
                    .map(|p| Value::String(p.name.clone()))
                    .unwrap_or(Value::Null),
            )
            .f("new_plan_uuid", ohex(&o.plan))
            .f("old_plan_name", Value::Null)
            .f("old_plan_uuid", Value::Null)
            .f("new_cost_estimate", 0.0)
            .f("old_cost_estimate", 0.0)
            .f("can_terminate", false)
            .f("fixed_price", 0)
            .f("activation_price", 0)
            .f("termination_comment", Value::Null)
            .f("backend_id", "")
            .f("issue", Value::Null);
        // The older generation has no rejection comment at all.
        if self.legacy {
            obj
        } else {
            obj.f(
                "provider_rejection_comment",
                o.provider_rejection_comment.clone(),
            )
        }
    }

    pub fn user(&self, u: &User, show_token: bool, started: chrono::DateTime<chrono::Utc>) -> Obj {
        let (first, last) = match u.full_name.split_once(' ') {
            Some((a, b)) => (a.to_string(), b.to_string()),
            None => (u.full_name.clone(), String::new()),
        };
        let expires = crate::app::token_expires_at(u, started);
        Obj::new()
            .f("url", self.url("users", &u.uuid))
            .f("uuid", hex(&u.uuid))
            .f("username", u.username.clone())
            .f("slug", slug(&u.username))
            .f("full_name", u.full_name.clone())
            .f("native_name", "")
            .f("job_title", "")
            .f("email", u.email.clone())
            .f("phone_number", "")
            .f("organization", "")
            .f("civil_number", Value::Null)
            .f("description", "")
            .f("is_staff", u.is_staff)
            .f("is_active", u.is_active)
            .f("is_support", false)
            .f(
                "token",
                if show_token {
                    u.token.clone().map(Value::String).unwrap_or(Value::Null)
                } else {
                    Value::Null
                },
            )
            .f(
                "token_lifetime",
                u.token_lifetime.map(Value::from).unwrap_or(Value::Null),
            )
            .f("token_expires_at", odt(&expires))
            .f("registration_method", "default")
            .f("date_joined", dt(&u.date_joined))
            .f("agreement_date", dt(&u.date_joined))
            .f("preferred_language", "")
            .f("permissions", json!([]))
            .f("requested_email", Value::Null)
            .f("affiliations", json!([]))
            .f("first_name", first)
            .f("last_name", last)
            .f("identity_provider_name", "")
            .f("identity_provider_label", "")
            .f("identity_provider_management_url", "")
            .f("identity_provider_fields", json!([]))
            .f("image", Value::Null)
            .f("identity_source", "")
            .f("has_active_session", false)
    }

    pub fn key(&self, k: &SshKey) -> Obj {
        Obj::new()
            .f("url", self.url("keys", &k.uuid))
            .f("uuid", hex(&k.uuid))
            .f("name", k.name.clone())
            .f("public_key", k.public_key.clone())
            .f("fingerprint_md5", k.fingerprint_md5.clone())
            .f("fingerprint_sha256", k.fingerprint_sha256.clone())
            .f("fingerprint_sha512", k.fingerprint_sha512.clone())
            .f("user_uuid", hex(&k.user))
            .f("is_shared", k.is_shared)
            .f("type", k.type_.clone())
    }

    pub fn offering_user(&self, ou: &OfferingUser) -> Obj {
        let st = self.st;
        let u = st.users.get(&ou.user);
        let off = st.offerings.get(&ou.offering);
        let org = off.and_then(|o| st.orgs.get(&o.org));
        Obj::new()
            .f("url", self.url("marketplace-offering-users", &ou.uuid))
            .f("uuid", hex(&ou.uuid))
            .f("user", self.url("users", &ou.user))
            .f("user_uuid", hex(&ou.user))
            .f(
                "user_username",
                u.map(|u| u.username.clone()).unwrap_or_default(),
            )
            .f(
                "user_full_name",
                u.map(|u| u.full_name.clone()).unwrap_or_default(),
            )
            .f("user_email", u.map(|u| u.email.clone()).unwrap_or_default())
            .f(
                "offering",
                self.url("marketplace-provider-offerings", &ou.offering),
            )
            .f("offering_uuid", hex(&ou.offering))
            .f(
                "offering_name",
                off.map(|o| o.name.clone()).unwrap_or_default(),
            )
            .f(
                "username",
                ou.username
                    .clone()
                    .map(Value::String)
                    .unwrap_or(Value::Null),
            )
            // The older generation's offering users have no state.
            .f(
                "state",
                if self.legacy {
                    Value::Null
                } else {
                    Value::String(ou.state.clone())
                },
            )
            .f("is_restricted", ou.is_restricted)
            .f("created", dt(&ou.created))
            .f("modified", dt(&ou.modified))
            .f("customer_uuid", ohex(&org.map(|o| o.uuid)))
            .f(
                "customer_name",
                org.map(|o| o.name.clone()).unwrap_or_default(),
            )
            .f("service_provider_comment", "")
            .f("has_consent", true)
    }

    pub fn service_provider(&self, org: &Org, sp: &Uuid) -> Obj {
        let count = self
            .st
            .offerings
            .iter()
            .filter(|o| o.org == org.uuid)
            .count();
        Obj::new()
            .f("url", self.url("marketplace-service-providers", sp))
            .f("uuid", hex(sp))
            .f("created", dt(&org.created))
            .f("description", "")
            .f("enable_notifications", true)
            .f("customer", self.url("customers", &org.uuid))
            .f("customer_name", org.name.clone())
            .f("customer_uuid", hex(&org.uuid))
            .f("customer_image", Value::Null)
            .f("customer_abbreviation", org.abbreviation.clone())
            .f("customer_native_name", org.name.clone())
            .f("customer_country", "")
            .f("customer_slug", slug(&org.name))
            .f("image", Value::Null)
            .f("organization_groups", json!([]))
            .f("offering_count", count)
    }

    pub fn sp_user(&self, u: &User, org: &Uuid) -> Obj {
        let projects = self.st.sp_projects(org);
        let count = projects
            .iter()
            .filter(|p| p.members.iter().any(|m| m.user == u.uuid))
            .count();
        let (first, last) = match u.full_name.split_once(' ') {
            Some((a, b)) => (a.to_string(), b.to_string()),
            None => (u.full_name.clone(), String::new()),
        };
        Obj::new()
            .f("uuid", hex(&u.uuid))
            .f("username", u.username.clone())
            .f("full_name", u.full_name.clone())
            .f("first_name", first)
            .f("last_name", last)
            .f("organization", "")
            .f("email", u.email.clone())
            .f("phone_number", "")
            .f("projects_count", count)
            .f("registration_method", "default")
            .f("affiliations", json!([]))
            .f("is_active", u.is_active)
            .f("job_title", "")
    }

    pub fn project(&self, p: &Project) -> Obj {
        let org = self.st.orgs.get(&p.org);
        let count = self
            .st
            .resources
            .iter()
            .filter(|r| r.project == p.uuid && r.state != "Terminated")
            .count();
        Obj::new()
            .f("url", self.url("projects", &p.uuid))
            .f("uuid", hex(&p.uuid))
            .f("name", p.name.clone())
            .f("slug", slug(&p.name))
            .f("customer", self.url("customers", &p.org))
            .f("customer_uuid", hex(&p.org))
            .f(
                "customer_name",
                org.map(|o| o.name.clone()).unwrap_or_default(),
            )
            .f(
                "customer_slug",
                org.map(|o| slug(&o.name)).unwrap_or_default(),
            )
            .f(
                "customer_native_name",
                org.map(|o| o.name.clone()).unwrap_or_default(),
            )
            .f(
                "customer_abbreviation",
                org.map(|o| o.abbreviation.clone()).unwrap_or_default(),
            )
            .f("description", "")
            .f("created", dt(&p.created))
            .f("type", Value::Null)
            .f("type_name", Value::Null)
            .f("type_uuid", Value::Null)
            .f("backend_id", "")
            .f("start_date", Value::Null)
            .f("end_date", Value::Null)
            .f("end_date_requested_by", Value::Null)
            .f("oecd_fos_2007_code", Value::Null)
            .f("oecd_fos_2007_label", Value::Null)
            .f("is_industry", false)
            .f("image", Value::Null)
            .f("resources_count", count)
    }

    pub fn project_permission(&self, p: &Project, m: &Member) -> Obj {
        let org = self.st.orgs.get(&p.org);
        let u = self.st.users.get(&m.user);
        let o = Obj::new()
            .f("created", dt(&m.created))
            .f("expiration_time", Value::Null)
            .f("created_by", Value::Null)
            .f("created_by_full_name", Value::Null)
            .f("created_by_username", Value::Null)
            .f("project", self.url("projects", &p.uuid))
            .f("project_uuid", hex(&p.uuid))
            .f("project_name", p.name.clone())
            // `project_end_date` is omitted while unset: the 8.1.3 SDK cannot parse `null` there.
            .f("project_created", dt(&p.created))
            .f("customer_uuid", hex(&p.org))
            .f(
                "customer_name",
                org.map(|o| o.name.clone()).unwrap_or_default(),
            )
            // The older generation sends the role's name as `role` and no `role_name`.
            .f(
                "role",
                if self.legacy {
                    Value::String(m.role.clone())
                } else {
                    Value::Null
                },
            )
            .f("user", self.url("users", &m.user))
            .f(
                "user_full_name",
                u.map(|u| u.full_name.clone()).unwrap_or_default(),
            )
            .f("user_native_name", "")
            .f(
                "user_username",
                u.map(|u| u.username.clone()).unwrap_or_default(),
            )
            .f("user_uuid", hex(&m.user))
            .f("user_email", u.map(|u| u.email.clone()).unwrap_or_default());
        if self.legacy {
            o
        } else {
            o.f("role_name", role_name(&m.role))
        }
    }

    pub fn team_member(&self, r: &Resource, p: &Project, m: &Member) -> Obj {
        let u = self.st.users.get(&m.user);
        let ou = self
            .st
            .offering_users
            .iter()
            .find(|ou| ou.offering == r.offering && ou.user == m.user);
        let _ = p;
        Obj::new()
            .f("url", self.url("users", &m.user))
            .f("uuid", hex(&m.user))
            .f(
                "username",
                u.map(|u| u.username.clone()).unwrap_or_default(),
            )
            .f(
                "full_name",
                u.map(|u| u.full_name.clone()).unwrap_or_default(),
            )
            .f("email", u.map(|u| u.email.clone()).unwrap_or_default())
            .f(
                "role",
                if self.legacy {
                    m.role.clone()
                } else {
                    role_name(&m.role)
                },
            )
            .f("expiration_time", Value::Null)
            .f(
                "offering_user_username",
                ou.and_then(|o| o.username.clone())
                    .map(Value::String)
                    .unwrap_or(Value::Null),
            )
            .f(
                "offering_user_state",
                ou.map(|o| Value::String(o.state.clone()))
                    .unwrap_or(Value::Null),
            )
    }

    fn usage_context(&self, obj: Obj, r: Option<&Resource>) -> Obj {
        let off = r.and_then(|r| self.st.offerings.get(&r.offering));
        let project = r.and_then(|r| self.st.projects.get(&r.project));
        let consumer = project.and_then(|p| self.st.orgs.get(&p.org));
        obj.f(
            "resource_name",
            r.map(|r| r.name.clone()).unwrap_or_default(),
        )
        .f("resource_uuid", ohex(&r.map(|r| r.uuid)))
        .f(
            "offering_name",
            off.map(|o| o.name.clone()).unwrap_or_default(),
        )
        .f("offering_uuid", ohex(&off.map(|o| o.uuid)))
        .f(
            "project_name",
            project.map(|p| p.name.clone()).unwrap_or_default(),
        )
        .f("project_uuid", ohex(&project.map(|p| p.uuid)))
        .f(
            "customer_name",
            consumer.map(|c| c.name.clone()).unwrap_or_default(),
        )
        .f("customer_uuid", ohex(&consumer.map(|c| c.uuid)))
    }

    fn component_of(&self, r: Option<&Resource>, type_: &str) -> Option<&Component> {
        r.and_then(|r| self.st.offerings.get(&r.offering))
            .and_then(|o| o.component(type_))
    }

    /// `ComponentUsage` of the list endpoint: `usage` is a JSON number (a string in 7.x mode).
    pub fn usage(&self, u: &ComponentUsage) -> Obj {
        let r = self.st.resources.get(&u.resource);
        let c = self.component_of(r, &u.type_);
        let mut obj = Obj::new()
            .f("uuid", hex(&u.uuid))
            .f("created", dt(&u.created))
            .f("description", u.description.clone())
            .f("type", u.type_.clone())
            .f("name", c.map(|c| c.name.clone()).unwrap_or_default())
            .f(
                "measured_unit",
                c.map(|c| c.measured_unit.clone()).unwrap_or_default(),
            );
        obj = if self.legacy {
            obj.f("usage", dec_str(&u.usage))
        } else {
            obj.num("usage", &u.usage)
        };
        obj = obj.f("date", dt(&u.date)).f("recurring", u.recurring);
        obj = self.usage_context(obj, r);
        obj = obj.f("billing_period", date(&u.billing_period)).f(
            "modified_by",
            u.modified_by.map(Value::from).unwrap_or(Value::Null),
        );
        if !self.legacy {
            obj = obj.f(
                "missing_usage_policy",
                if u.recurring { "reuse" } else { "none" },
            );
        }
        obj
    }

    /// `BaseComponentUsage` of plan periods: `usage` is a decimal string.
    pub fn base_usage(&self, u: &ComponentUsage) -> Value {
        let r = self.st.resources.get(&u.resource);
        let c = self.component_of(r, &u.type_);
        json!({
            "uuid": u.uuid.simple().to_string(),
            "created": dt(&u.created),
            "description": u.description,
            "type": u.type_,
            "name": c.map(|c| c.name.clone()).unwrap_or_default(),
            "measured_unit": c.map(|c| c.measured_unit.clone()).unwrap_or_default(),
            "usage": u.usage.to_string(),
            "date": dt(&u.date),
            "recurring": u.recurring,
        })
    }

    pub fn plan_period(&self, p: &PlanPeriod) -> Obj {
        let off = self
            .st
            .resources
            .get(&p.resource)
            .and_then(|r| self.st.offerings.get(&r.offering));
        let plan = off.and_then(|o| o.plan(&p.plan));
        let period = month_start(&self.now);
        let comps: Vec<Value> = self
            .st
            .usages
            .iter()
            .filter(|u| u.plan_period == Some(p.uuid) && u.billing_period == period)
            .map(|u| self.base_usage(u))
            .collect();
        Obj::new()
            .f("uuid", hex(&p.uuid))
            .f(
                "plan_name",
                plan.map(|p| p.name.clone()).unwrap_or_default(),
            )
            .f("plan_uuid", hex(&p.plan))
            .f("start", odt(&p.start))
            .f("end", odt(&p.end))
            .f("components", Value::Array(comps))
    }

    pub fn user_usage(&self, x: &UserUsage) -> Obj {
        let cu = self.st.usages.get(&x.component_usage);
        let r = cu.and_then(|c| self.st.resources.get(&c.resource));
        let c = cu.and_then(|cu| self.component_of(r, &cu.type_));
        let obj = Obj::new()
            .f("uuid", hex(&x.uuid))
            .f(
                "user",
                x.user
                    .map(|u| self.url("marketplace-offering-users", &u))
                    .unwrap_or(Value::Null),
            )
            .f("username", x.username.clone())
            .f(
                "component_usage",
                self.url("marketplace-component-usages", &x.component_usage),
            );
        // The older generation renders the model's DecimalField: a string with 2 places.
        let obj = if self.legacy {
            let mut two = x.usage;
            two.rescale(2);
            obj.f("usage", two.to_string())
        } else {
            obj.num("usage", &x.usage)
        };
        let obj = obj
            .f(
                "measured_unit",
                c.map(|c| c.measured_unit.clone()).unwrap_or_default(),
            )
            .f("description", x.description.clone())
            .f("created", dt(&x.created))
            .f("modified", dt(&x.modified))
            .f("backend_id", x.backend_id.clone());
        let obj = self.usage_context(obj, r).f(
            "component_type",
            cu.map(|c| c.type_.clone()).unwrap_or_default(),
        );
        if self.legacy {
            // There: `date` is the component usage's, and there is no `billing_period`.
            obj.f("date", cu.map(|c| dt(&c.date)).unwrap_or(Value::Null))
        } else {
            obj.f("date", dt(&x.date)).f(
                "billing_period",
                cu.map(|c| date(&c.billing_period)).unwrap_or(Value::Null),
            )
        }
    }
}
