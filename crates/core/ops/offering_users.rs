//! `tally offering-users create|list`: granting a user access to an offering under a local
//! username (`marketplace_offering_users_create`) and listing those grants.

use tally_waldur::{ObjectRef, OfferingUserFilter, OfferingUserState};

use tally_cli::ops::offering_users::{CreateArgs, OfferingUsersCommand};

use crate::exit::Exit;
use crate::ops::{self, Ctx};

const COLUMNS: &str = "uuid offering_name user_username username state user_uuid created";

pub fn run(cmd: &OfferingUsersCommand) -> anyhow::Result<Exit> {
    match cmd {
        OfferingUsersCommand::Create(a) => create(a),
        OfferingUsersCommand::List(a) => ops::list(&a.list, COLUMNS, |ctx| {
            let states = ops::labels(
                "offering user state",
                &a.state,
                OfferingUserState::parse_label,
                OfferingUserState::KNOWN,
            )?;
            Ok(OfferingUserFilter {
                offering_uuid: a.offering,
                user_uuid: a.user,
                user_username: a.user_username.clone(),
                provider_uuid: ctx.opt_customer(&a.customer)?,
                states,
                ..Default::default()
            })
        }),
    }
}

fn create(a: &CreateArgs) -> anyhow::Result<Exit> {
    let ctx = Ctx::new(&a.common, None)?;
    let offering = match &a.offering {
        Some(o) => o.clone(),
        None => ObjectRef::Uuid(ctx.offering(None)?),
    };
    let batch = ctx.block_on(tally_ops::offering_users::create(
        &ctx.client,
        &offering,
        &a.user,
        &a.username,
    ));
    ops::finish(&ctx, "create", "offering users", batch)
}
