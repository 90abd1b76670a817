//! Granting a user access to an offering under a local username
//! (`marketplace_offering_users_create`).

use tally_waldur::{
    NewOfferingUser, ObjectRef, WaldurClient, OFFERING_USERS_NOT_ALLOWED,
    OFFERING_USERS_NOT_ALLOWED_HINT,
};

use crate::{tally_says, Batch, Outcome};

/// How an object given by hyperlink or uuid is named in a result.
pub fn describe(r: &ObjectRef) -> String {
    match r {
        ObjectRef::Url(u) => u.clone(),
        ObjectRef::Uuid(u) => u.simple().to_string(),
    }
}

/// Creates the offering user `username` for `user` on `offering` (each a hyperlink or a uuid).
/// A failure is reported against the user; a refusal because the offering does not allow
/// offering users gets the hint of who can change that (the offering's owner).
pub async fn create(
    client: &WaldurClient,
    offering: &ObjectRef,
    user: &ObjectRef,
    username: &str,
) -> Batch {
    let req = NewOfferingUser {
        offering: offering.clone(),
        user: user.clone(),
        username: Some(username.to_owned()),
    };
    match client.create_offering_user(&req).await {
        Ok(ou) => {
            let message = tally_says(format!(
                "user {} has username {} on offering {}",
                ou.user_username.clone().unwrap_or_else(|| describe(user)),
                ou.username.clone().unwrap_or_else(|| username.to_owned()),
                ou.offering_name
                    .clone()
                    .unwrap_or_else(|| describe(offering)),
            ));
            Batch::single(
                Outcome::done(ou.uuid, ou.state.map(|s| s.to_string()), message),
                None,
            )
        }
        Err(e) => {
            let mut o = Outcome::failed_for(describe(user), &e, None);
            // The refusal names the rule, not who can change it: the offering's owner.
            if e.failure()
                .is_some_and(|f| f.message.mentions(OFFERING_USERS_NOT_ALLOWED))
            {
                o = o.explained(OFFERING_USERS_NOT_ALLOWED_HINT);
            }
            Batch::single(o, Some(e))
        }
    }
}
