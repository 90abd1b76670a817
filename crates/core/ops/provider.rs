//! `tally provider show|set-username|users|keys|projects|permissions`: the service-provider
//! operations of the SDK guide. They address the ServiceProvider record of the configured
//! organisation (`waldur.customer_uuid`), looked up once per command as the guide does.

use tally_cli::ops::provider::{ProviderCommand, SetUsernameArgs};
use tally_cli::ops::Customer;
use tally_ops::provider::RecordError;
use tally_waldur::{
    ProviderKeys, ProviderProjectPermissions, ProviderProjects, ProviderUsers, ServiceProvider,
};

use crate::exit::{Exit, UsageError};
use tally_render as render;

use crate::ops::{self, Ctx};

const SHOW: &str = "uuid customer_name customer_uuid customer_abbreviation offering_count created \
    description url";

const USERS: &str = "uuid username full_name email organization projects_count is_active";

const PROJECTS: &str = "uuid name customer_name backend_id start_date end_date";

const PERMISSIONS: &str = "project_name user_username user_full_name role_name expiration_time \
    project_uuid user_uuid";

pub fn run(cmd: &ProviderCommand) -> anyhow::Result<Exit> {
    match cmd {
        ProviderCommand::Show(a) => {
            let ctx = Ctx::new(&a.common, None)?;
            let sp = record(&ctx, &a.customer)?;
            ops::print(|out| render::object(out, ctx.render_format(), &sp, &render::cols(SHOW)))?;
            Ok(Exit::Ok)
        }
        ProviderCommand::SetUsername(a) => set_username(a),
        ProviderCommand::Users(a) => ops::list(&a.list, USERS, |ctx| {
            let service_provider = record(ctx, &a.filter)?.uuid;
            Ok(ProviderUsers {
                service_provider,
                filter: Default::default(),
            })
        }),
        ProviderCommand::Keys(a) => ops::list(&a.list, ops::lists::KEY_COLUMNS, |ctx| {
            let service_provider = record(ctx, &a.filter)?.uuid;
            Ok(ProviderKeys {
                service_provider,
                filter: Default::default(),
            })
        }),
        ProviderCommand::Projects(a) => ops::list(&a.list, PROJECTS, |ctx| {
            let service_provider = record(ctx, &a.filter)?.uuid;
            Ok(ProviderProjects {
                service_provider,
                fields: Vec::new(),
            })
        }),
        ProviderCommand::Permissions(a) => ops::list(&a.list, PERMISSIONS, |ctx| {
            let service_provider = record(ctx, &a.filter)?.uuid;
            Ok(ProviderProjectPermissions {
                service_provider,
                filter: Default::default(),
            })
        }),
    }
}

/// The ServiceProvider record of the organisation.
fn record(ctx: &Ctx, customer: &Customer) -> anyhow::Result<ServiceProvider> {
    let customer = ctx.customer(customer.customer)?;
    ctx.block_on(tally_ops::provider::record(&ctx.client, customer))
        .map_err(record_error)
}

/// An organisation that is no provider is a configuration mistake (exit 2).
fn record_error(e: RecordError) -> anyhow::Error {
    match e {
        RecordError::Api(e) => ops::api(e),
        e @ RecordError::NoRecord(_) => UsageError(e.to_string()).into(),
    }
}

fn set_username(a: &SetUsernameArgs) -> anyhow::Result<Exit> {
    if a.username.trim().is_empty() {
        return Err(UsageError("--username is empty".into()).into());
    }
    let ctx = Ctx::new(&a.show.common, None)?;
    let customer = ctx.customer(a.show.customer.customer)?;
    let set = tally_ops::provider::set_username_of(&ctx.client, customer, a.user, &a.username);
    let batch = ctx.block_on(set).map_err(record_error)?;
    ops::finish(&ctx, "set-username", "users", batch)
}
