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

impl ObjectRef {
    /// The object's uuid: itself, or the last path segment of the URL that is a uuid
    /// (`.../api/marketplace-public-offerings/<uuid>/` gives `<uuid>`).
    pub fn uuid(&self) -> Result<Uuid, String> {
        match self {
            ObjectRef::Uuid(u) => Ok(*u),
            ObjectRef::Url(s) => url::Url::parse(s)
                .ok()
                .and_then(|u| {
                    u.path_segments()?
                        .filter_map(|seg| Uuid::parse_str(seg).ok())
                        .next_back()
                })
                .ok_or_else(|| format!("{s:?} does not name an object (no uuid in its path)")),
        }
    }
}

/// What `POST marketplace-offering-users/` creates: a user's account on an offering. The client
/// sends it in the form the server generation accepts ([`crate::WaldurClient::create_offering_user`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOfferingUser {
    pub offering: ObjectRef,
    pub user: ObjectRef,
    pub username: Option<String>,
}

/// The 2024 generation's refusal when the offering does not let its provider create offering
/// users (`secret_options.service_provider_can_create_offering_user` off).
pub const OFFERING_USERS_NOT_ALLOWED: &str =
    "It is not allowed to create users for current offering.";

/// What an operator must do about [`OFFERING_USERS_NOT_ALLOWED`].
pub const OFFERING_USERS_NOT_ALLOWED_HINT: &str = "ask the offering's owner (or staff) to enable \
`service_provider_can_create_offering_user` in the offering's secret options, which lets the \
provider create offering users";

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

/// Whether the caller's token expires after an idle spell, as `users/me/` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "seconds")]
pub enum TokenLifetime {
    /// `token_lifetime: null`: the token never expires (what a nightly job needs).
    Never,
    /// The token expires after this many seconds without use (Waldur's default is 3600).
    IdleSeconds(i64),
    /// The server's answer has no `token_lifetime`: it does not say.
    NotShown,
}

/// What [`crate::WaldurClient::whoami`] learns from one `users/me/`. Never holds the token
/// (the answer carries it; only these fields are kept).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WhoAmI {
    pub username: String,
    pub is_staff: Option<bool>,
    pub token_lifetime: TokenLifetime,
    /// The server's clock: the answer's HTTP `Date` header (whole seconds).
    pub server_date: Option<DateTime<Utc>>,
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

/// An active project role (`ProjectPermissionLog`; it has no uuid of its own). Every field may be
/// absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProjectPermission {
    pub created: Option<DateTime<Utc>>,
    pub expiration_time: Option<DateTime<Utc>>,
    pub project: Option<String>,
    pub project_uuid: Option<Uuid>,
    pub project_name: Option<String>,
    pub customer_uuid: Option<Uuid>,
    pub customer_name: Option<String>,
    /// `role` and `role_name`, at the top level of the JSON.
    #[serde(flatten)]
    pub role: ProjectRole,
    pub user: Option<String>,
    pub user_uuid: Option<Uuid>,
    pub user_username: Option<String>,
    pub user_full_name: Option<String>,
    pub user_email: Option<String>,
}

/// The role of a [`ProjectPermission`]. 8.x sends `role_name` (`PROJECT.ADMIN`) and `role` as a
/// URL; the 2024 generation sends only `role` as the name (`admin`, `member`). Read from either,
/// `role_name` holds the name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "ProjectRoleWire")]
pub struct ProjectRole {
    pub role: Option<String>,
    pub role_name: Option<String>,
}

/// [`ProjectRole`] as the server sent it.
#[derive(Deserialize)]
struct ProjectRoleWire {
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    role_name: Option<String>,
}

impl From<ProjectRoleWire> for ProjectRole {
    fn from(w: ProjectRoleWire) -> Self {
        let role_is_a_name = w
            .role
            .as_deref()
            .is_some_and(|r| !r.is_empty() && !r.contains("://"));
        let role_name = w
            .role_name
            .filter(|n| !n.is_empty())
            .or_else(|| w.role.clone().filter(|_| role_is_a_name));
        ProjectRole {
            role: w.role,
            role_name,
        }
    }
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

/// `GET version/`: `{"version": "8.0.5"}`, or `"unknown"` on unpackaged installs (and, from
/// [`crate::WaldurClient::version`], when the endpoint is closed to the token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerVersion {
    pub version: String,
    /// Whether `set_usage` reads `date`, as the server itself showed when its version said
    /// nothing (see [`crate::WaldurClient::version`]); `None` when not asked or not told.
    #[serde(skip)]
    pub usage_date: Option<bool>,
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

    /// Whether `set_usage` honours `date`: 8.0 and later do; when the version is not a number,
    /// what the server showed ([`ServerVersion::usage_date`]). `None` when neither tells: the
    /// caller decides, since older servers silently write the current month.
    pub fn honours_usage_date(&self) -> Option<bool> {
        self.numbers()
            .map(|(major, _, _)| major >= 8)
            .or(self.usage_date)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        let v = |s: &str| ServerVersion {
            version: s.into(),
            usage_date: None,
        };
        assert_eq!(v("8.0.5").numbers(), Some((8, 0, 5)));
        assert_eq!(v("7.9").honours_usage_date(), Some(false));
        assert_eq!(v("8.1.3rc1").honours_usage_date(), Some(true));
        assert_eq!(v("v8.0.0").honours_usage_date(), Some(true));
        assert_eq!(v("unknown").honours_usage_date(), None);
        assert_eq!(v("").honours_usage_date(), None);
        // A version that says nothing defers to what the server showed; a number wins.
        let shown = |s: &str, d: bool| ServerVersion {
            version: s.into(),
            usage_date: Some(d),
        };
        assert_eq!(shown("unknown", false).honours_usage_date(), Some(false));
        assert_eq!(shown("unknown", true).honours_usage_date(), Some(true));
        assert_eq!(shown("8.0.5", false).honours_usage_date(), Some(true));
    }

    #[test]
    fn permissions_read_the_role_name_of_either_generation() {
        let read = |v: serde_json::Value| -> ProjectPermission {
            serde_json::from_value(v).expect("permission")
        };
        // 2024: `role` is the name.
        let old = read(serde_json::json!({"role": "admin", "user_username": "alice"}));
        assert_eq!(old.role.role_name.as_deref(), Some("admin"));
        assert_eq!(old.role.role.as_deref(), Some("admin"));
        // Written back flat, as the server's keys (the ops tables pick `role_name`).
        let written = serde_json::to_value(&old).expect("json");
        assert_eq!(written["role_name"], "admin");
        assert_eq!(written["user_username"], "alice");
        assert!(written.get("role").is_some_and(|r| r == "admin"));
        // 8.x: `role_name` is the name, `role` a URL.
        let new = read(serde_json::json!({
            "role": "https://w/api/roles/1f/", "role_name": "PROJECT.ADMIN"
        }));
        assert_eq!(new.role.role_name.as_deref(), Some("PROJECT.ADMIN"));
        let url_only = read(serde_json::json!({"role": "https://w/api/roles/1f/"}));
        assert_eq!(url_only.role.role_name, None);
    }

    #[test]
    fn object_refs_name_their_uuid() {
        let hex = "49f75862116146d7bdc8a99ce8c611bc";
        let want = uuid::Uuid::parse_str(hex).expect("uuid");
        for given in [
            hex.to_owned(),
            format!("https://w.example.org/api/marketplace-public-offerings/{hex}/"),
            format!("http://10.0.0.1:8000/api/marketplace-provider-offerings/{hex}/?x=1"),
            "https://w/api/users/49f75862-1161-46d7-bdc8-a99ce8c611bc/".to_owned(),
        ] {
            assert_eq!(
                ObjectRef::parse(&given).and_then(|r| r.uuid()),
                Ok(want),
                "{given}"
            );
        }
        assert!(ObjectRef::parse("https://w/api/users/me/")
            .expect("url")
            .uuid()
            .is_err());
        assert!(ObjectRef::parse("not a thing").is_err());
        assert_eq!(
            ObjectRef::parse("49f75862116146d7bdc8a99ce8c611bc"),
            Ok(ObjectRef::Uuid(
                uuid::Uuid::parse_str("49f75862116146d7bdc8a99ce8c611bc").expect("uuid")
            ))
        );
    }
}
