//! Service-provider operations of the SDK guide: they address the ServiceProvider record of an
//! organisation, looked up once per operation as the guide does.

use tally_waldur::{ServiceProvider, WaldurClient};
use uuid::Uuid;

use crate::{tally_says, Batch, Outcome};

/// Why the provider record could not be had.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// An organisation that is no provider: a configuration mistake, said in those words rather
    /// than as an empty list.
    #[error(
        "organisation {} has no service-provider record (or the token's user cannot see it)",
        .0.simple()
    )]
    NoRecord(Uuid),
    #[error(transparent)]
    Api(#[from] tally_waldur::Error),
}

/// The ServiceProvider record of organisation `customer`.
pub async fn record(client: &WaldurClient, customer: Uuid) -> Result<ServiceProvider, RecordError> {
    client
        .service_provider_of(customer)
        .await?
        .ok_or(RecordError::NoRecord(customer))
}

/// [`set_username`] on the provider record of organisation `customer`, looked up first.
pub async fn set_username_of(
    client: &WaldurClient,
    customer: Uuid,
    user: Uuid,
    username: &str,
) -> Result<Batch, RecordError> {
    let provider = record(client, customer).await?;
    Ok(set_username(client, &provider, user, username).await)
}

/// Sets `user`'s local username on every offering of the provider where the user has a
/// resource (creates or updates the offering users); the result is reported against the user.
pub async fn set_username(
    client: &WaldurClient,
    provider: &ServiceProvider,
    user: Uuid,
    username: &str,
) -> Batch {
    match client
        .set_offerings_username(provider.uuid, user, username)
        .await
    {
        Ok(()) => Batch::single(
            Outcome::done(
                user,
                None,
                tally_says(format!(
                    "username {username} set on the offerings of {}",
                    provider.customer_name.as_deref().unwrap_or("the provider")
                )),
            ),
            None,
        ),
        Err(e) => Batch::single(Outcome::failed(user, &e, None), Some(e)),
    }
}
