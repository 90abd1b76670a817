//! Offering users, service providers, users, SSH keys, projects and project permissions.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::pagination::Query;
use crate::types::{label_enum, ser_uuid, simple, with_fields};

label_enum! {
    /// `OfferingUser.state`.
    OfferingUserState {
        Requested => "Requested",
        Creating => "Creating",
        PendingAccountLinking => "Pending account linking",
        PendingAdditionalValidation => "Pending additional validation",
        Ok => "OK",
        RequestedDeletion => "Requested deletion",
        Deleting => "Deleting",
        Deleted => "Deleted",
        ErrorCreating => "Error creating",
        ErrorDeleting => "Error deleting",
    }
}

/// An object named either by its API URL or by its uuid (the offering-user endpoint takes both).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectRef {
    Url(String),
    Uuid(Uuid),
}

impl ObjectRef {
    /// Reads what an operator typed: a uuid (hyphenated or 32-hex), else a URL.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if let Ok(u) = Uuid::parse_str(s) {
            return Ok(ObjectRef::Uuid(u));
        }
        match url::Url::parse(s) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(ObjectRef::Url(s.to_owned())),
            _ => Err(format!("{s:?} is neither a uuid nor an http(s) URL")),
        }
    }
}

/// Body of `POST marketplace-offering-users/`: exactly one of `offering`/`offering_uuid` and one of
/// `user`/`user_uuid`, which the enum makes impossible to get wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOfferingUser {
    pub offering: ObjectRef,
    pub user: ObjectRef,
    pub username: Option<String>,
}

impl Serialize for NewOfferingUser {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        match &self.offering {
            ObjectRef::Url(u) => m.serialize_entry("offering", u)?,
            ObjectRef::Uuid(u) => m.serialize_entry("offering_uuid", &simple(u))?,
        }
        match &self.user {
            ObjectRef::Url(u) => m.serialize_entry("user", u)?,
            ObjectRef::Uuid(u) => m.serialize_entry("user_uuid", &simple(u))?,
        }
        if let Some(n) = &self.username {
            m.serialize_entry("username", n)?;
        }
        m.end()
    }
}

/// A user's account on an offering (the local username a provider grants).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfferingUser {
    pub uuid: Uuid,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub user_uuid: Option<Uuid>,
    #[serde(default)]
    pub user_username: Option<String>,
    #[serde(default)]
    pub user_full_name: Option<String>,
    #[serde(default)]
    pub user_email: Option<String>,
    #[serde(default)]
    pub offering: Option<String>,
    #[serde(default)]
    pub offering_uuid: Option<Uuid>,
    #[serde(default)]
    pub offering_name: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub state: Option<OfferingUserState>,
    #[serde(default)]
    pub is_restricted: Option<bool>,
    #[serde(default)]
    pub created: Option<DateTime<Utc>>,
    #[serde(default)]
    pub modified: Option<DateTime<Utc>>,
    /// The provider organisation.
    #[serde(default)]
    pub customer_uuid: Option<Uuid>,
}

/// Filters of `GET marketplace-offering-users/`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OfferingUserFilter {
    pub offering_uuid: Option<Uuid>,
    pub user_uuid: Option<Uuid>,
    pub user_username: Option<String>,
    pub provider_uuid: Option<Uuid>,
    pub states: Vec<OfferingUserState>,
    pub is_restricted: Option<bool>,
    pub search: Option<String>,
    pub fields: Vec<String>,
    pub ordering: Option<String>,
}

impl OfferingUserFilter {
    pub fn query(&self) -> Query {
        let q = Query::new()
            .opt("offering_uuid", self.offering_uuid.as_ref().map(simple))
            .opt("user_uuid", self.user_uuid.as_ref().map(simple))
            .opt("user_username", self.user_username.as_ref())
            .opt("provider_uuid", self.provider_uuid.as_ref().map(simple))
            .repeated("state", self.states.iter().map(|s| s.as_str().to_owned()))
            .opt("is_restricted", self.is_restricted)
            .opt("query", self.search.as_ref())
            .opt("o", self.ordering.as_ref());
        with_fields(q, &["uuid"], &self.fields)
    }
}

/// The ServiceProvider record of an organisation. Its `uuid` (not the organisation's) is what the
/// `marketplace-service-providers/{uuid}/...` routes take.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceProvider {
    pub uuid: Uuid,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub created: Option<DateTime<Utc>>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub enable_notifications: Option<bool>,
    #[serde(default)]
    pub customer: Option<String>,
    #[serde(default)]
    pub customer_uuid: Option<Uuid>,
    #[serde(default)]
    pub customer_name: Option<String>,
    #[serde(default)]
    pub customer_abbreviation: Option<String>,
    #[serde(default)]
    pub customer_slug: Option<String>,
    #[serde(default)]
    pub customer_country: Option<String>,
    #[serde(default)]
    pub offering_count: Option<i64>,
}

/// Filters of `GET marketplace-service-providers/`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceProviderFilter {
    /// The organisation whose ServiceProvider record is wanted.
    pub customer_uuid: Option<Uuid>,
    pub customer_keyword: Option<String>,
    pub fields: Vec<String>,
}

impl ServiceProviderFilter {
    pub fn query(&self) -> Query {
        let q = Query::new()
            .opt("customer_uuid", self.customer_uuid.as_ref().map(simple))
            .opt("customer_keyword", self.customer_keyword.as_ref());
        with_fields(q, &["uuid"], &self.fields)
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct SetOfferingsUsernameRequest<'a> {
    #[serde(serialize_with = "ser_uuid")]
    pub user_uuid: Uuid,
    pub username: &'a str,
}

/// A Waldur user (`/api/users/`, `/api/users/me/`, provider users).
///
/// Deliberately has no `token` field: `users/me/` returns the caller's own API token, which must
/// not end up in memory structures that get printed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub uuid: Uuid,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub full_name: Option<String>,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub organization: Option<String>,
    #[serde(default)]
    pub job_title: Option<String>,
    #[serde(default)]
    pub phone_number: Option<String>,
    #[serde(default)]
    pub is_active: Option<bool>,
    #[serde(default)]
    pub is_staff: Option<bool>,
    #[serde(default)]
    pub is_support: Option<bool>,
    #[serde(default)]
    pub registration_method: Option<String>,
    #[serde(default)]
    pub date_joined: Option<DateTime<Utc>>,
    /// Seconds; `None` means the token does not expire (what a nightly job needs).
    #[serde(default)]
    pub token_lifetime: Option<i64>,
    #[serde(default)]
    pub token_expires_at: Option<DateTime<Utc>>,
    /// Provider users only.
    #[serde(default)]
    pub projects_count: Option<i64>,
}

/// Filters of `GET users/` and of a provider's users.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserFilter {
    pub username: Option<String>,
    pub email: Option<String>,
    pub full_name: Option<String>,
    pub project_uuid: Option<Uuid>,
    pub customer_uuid: Option<Uuid>,
    pub is_active: Option<bool>,
    pub search: Option<String>,
    pub fields: Vec<String>,
    pub ordering: Option<String>,
}

impl UserFilter {
    pub fn query(&self) -> Query {
        let q = Query::new()
            .opt("username", self.username.as_ref())
            .opt("email", self.email.as_ref())
            .opt("full_name", self.full_name.as_ref())
            .opt("project_uuid", self.project_uuid.as_ref().map(simple))
            .opt("customer_uuid", self.customer_uuid.as_ref().map(simple))
            .opt("is_active", self.is_active)
            .opt("query", self.search.as_ref())
            .opt("o", self.ordering.as_ref());
        // Never ask for `token`, even if a caller lists it.
        let fields: Vec<String> = self
            .fields
            .iter()
            .filter(|f| f.as_str() != "token")
            .cloned()
            .collect();
        with_fields(q, &["uuid"], &fields)
    }
}

/// An SSH public key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SshKey {
    pub uuid: Uuid,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub public_key: Option<String>,
    #[serde(default)]
    pub fingerprint_md5: Option<String>,
    #[serde(default)]
    pub fingerprint_sha256: Option<String>,
    #[serde(default)]
    pub fingerprint_sha512: Option<String>,
    #[serde(default)]
    pub user_uuid: Option<Uuid>,
    #[serde(default)]
    pub is_shared: Option<bool>,
    #[serde(default, rename = "type")]
    pub key_type: Option<String>,
}

/// Filters of `GET keys/` and of a provider's keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyFilter {
    pub user_uuid: Option<Uuid>,
    pub name: Option<String>,
    pub fingerprint_sha256: Option<String>,
    pub is_shared: Option<bool>,
    pub fields: Vec<String>,
    pub ordering: Option<String>,
}

impl KeyFilter {
    pub fn query(&self) -> Query {
        let q = Query::new()
            .opt("user_uuid", self.user_uuid.as_ref().map(simple))
            .opt("name", self.name.as_ref())
            .opt("fingerprint_sha256", self.fingerprint_sha256.as_ref())
            .opt("is_shared", self.is_shared)
            .opt("o", self.ordering.as_ref());
        with_fields(q, &["uuid"], &self.fields)
    }
}

/// A project (consumer side) that has resources of the provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Project {
    pub uuid: Uuid,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub slug: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub customer_uuid: Option<Uuid>,
    #[serde(default)]
    pub customer_name: Option<String>,
    #[serde(default)]
    pub backend_id: Option<String>,
    #[serde(default)]
    pub created: Option<DateTime<Utc>>,
    #[serde(default)]
    pub start_date: Option<NaiveDate>,
    #[serde(default)]
    pub end_date: Option<NaiveDate>,
}

/// An active project role (`ProjectPermissionLog`; it has no uuid of its own).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectPermission {
    #[serde(default)]
    pub created: Option<DateTime<Utc>>,
    #[serde(default)]
    pub expiration_time: Option<DateTime<Utc>>,
    #[serde(default)]
    pub project: Option<String>,
    #[serde(default)]
    pub project_uuid: Option<Uuid>,
    #[serde(default)]
    pub project_name: Option<String>,
    #[serde(default)]
    pub customer_uuid: Option<Uuid>,
    #[serde(default)]
    pub customer_name: Option<String>,
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub role_name: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub user_uuid: Option<Uuid>,
    #[serde(default)]
    pub user_username: Option<String>,
    #[serde(default)]
    pub user_full_name: Option<String>,
    #[serde(default)]
    pub user_email: Option<String>,
}

/// Filters of a provider's project permissions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectPermissionFilter {
    pub username: Option<String>,
    pub role_name: Option<String>,
    /// A project uuid.
    pub scope_uuid: Option<Uuid>,
}

impl ProjectPermissionFilter {
    pub fn query(&self) -> Query {
        Query::new()
            .opt("username", self.username.as_ref())
            .opt("role_name", self.role_name.as_ref())
            .opt("scope_uuid", self.scope_uuid.as_ref().map(simple))
    }
}

/// `GET version/`: `{"version": "8.0.5"}`, or `"unknown"` on unpackaged installs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerVersion {
    pub version: String,
}

impl ServerVersion {
    /// `(major, minor, patch)` when the version starts with numbers (`8.0.5`, `7.9`, `8.1.3rc1`).
    pub fn numbers(&self) -> Option<(u64, u64, u64)> {
        let v = self.version.trim().trim_start_matches(['v', 'V']);
        let mut parts = v.split('.').map(|p| {
            let digits: String = p.chars().take_while(|c| c.is_ascii_digit()).collect();
            digits.parse::<u64>().ok()
        });
        let major = parts.next().flatten()?;
        let minor = parts.next().flatten().unwrap_or(0);
        let patch = parts.next().flatten().unwrap_or(0);
        Some((major, minor, patch))
    }

    /// Whether `set_usage` honours `date` (8.0 and later). `None` when the server does not say
    /// (`"unknown"`): the caller decides, since older servers silently write the current month.
    pub fn honours_usage_date(&self) -> Option<bool> {
        self.numbers().map(|(major, _, _)| major >= 8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        let v = |s: &str| ServerVersion { version: s.into() };
        assert_eq!(v("8.0.5").numbers(), Some((8, 0, 5)));
        assert_eq!(v("7.9").honours_usage_date(), Some(false));
        assert_eq!(v("8.1.3rc1").honours_usage_date(), Some(true));
        assert_eq!(v("v8.0.0").honours_usage_date(), Some(true));
        assert_eq!(v("unknown").honours_usage_date(), None);
        assert_eq!(v("").honours_usage_date(), None);
    }

    #[test]
    fn offering_user_body_uses_one_key_per_object() {
        let u = uuid::Uuid::nil();
        let b = NewOfferingUser {
            offering: ObjectRef::Uuid(u),
            user: ObjectRef::Url("https://w/api/users/x/".into()),
            username: Some("alice".into()),
        };
        assert_eq!(
            serde_json::to_value(&b).expect("json"),
            serde_json::json!({
                "offering_uuid": "00000000000000000000000000000000",
                "user": "https://w/api/users/x/",
                "username": "alice"
            })
        );
        assert!(ObjectRef::parse("not a thing").is_err());
        assert_eq!(
            ObjectRef::parse("49f75862116146d7bdc8a99ce8c611bc"),
            Ok(ObjectRef::Uuid(
                uuid::Uuid::parse_str("49f75862116146d7bdc8a99ce8c611bc").expect("uuid")
            ))
        );
    }
}
