"""Runs what the seed guides do, with the official waldur-api-client, against a tally sandbox.

Usage: python seed_guides.py <origin>   (e.g. http://127.0.0.1:8000, the demo world loaded)
Every call is asserted on, including the error cases. Exit code 0 = all good.
"""
import sys
import uuid as uuidlib

from waldur_api_client import AuthenticatedClient, Client
from waldur_api_client import errors
from waldur_api_client.api.users import users_list, users_me_retrieve
from waldur_api_client.api.keys import keys_list
from waldur_api_client.api.marketplace_resources import (
    marketplace_resources_list,
    marketplace_resources_plan_periods_list,
    marketplace_resources_team_list,
)
from waldur_api_client.api.marketplace_provider_resources import (
    marketplace_provider_resources_list,
    marketplace_provider_resources_retrieve,
    marketplace_provider_resources_set_backend_id,
    marketplace_provider_resources_submit_report,
    marketplace_provider_resources_team_list,
    marketplace_provider_resources_plan_periods_list,
)
from waldur_api_client.api.marketplace_orders import (
    marketplace_orders_list,
    marketplace_orders_approve_by_provider,
    marketplace_orders_reject_by_provider,
    marketplace_orders_cancel,
)
from waldur_api_client.api.marketplace_public_offerings import marketplace_public_offerings_retrieve
from waldur_api_client.api.marketplace_provider_offerings import marketplace_provider_offerings_list
from waldur_api_client.api.marketplace_plan_components import marketplace_plan_components_list
from waldur_api_client.api.marketplace_component_usages import (
    marketplace_component_usages_set_usage,
    marketplace_component_usages_list,
    marketplace_component_usages_set_user_usage,
)
from waldur_api_client.api.marketplace_offering_users import (
    marketplace_offering_users_create,
    marketplace_offering_users_list,
)
from waldur_api_client.api.marketplace_service_providers import (
    marketplace_service_providers_list,
    marketplace_service_providers_set_offerings_username,
    marketplace_service_providers_users_list,
    marketplace_service_providers_keys_list,
    marketplace_service_providers_projects_list,
    marketplace_service_providers_project_permissions_list,
)
from waldur_api_client.models import (
    ComponentUsageCreateRequest,
    ComponentUsageItemRequest,
    ComponentUserUsageCreateRequest,
    OfferingUserRequest,
    OrderApproveByProviderRequest,
    OrderProviderRejectionRequest,
    ReportSectionRequest,
    ResourceBackendIDRequest,
    ResourceReportRequest,
    SetOfferingsUsernameRequest,
)
from waldur_api_client.models.order_state import OrderState as MarketplaceOrdersListStateItem
from waldur_api_client.models.resource_state import ResourceState
from waldur_api_client.models.resource_field_enum import ResourceFieldEnum
from waldur_api_client.models.service_provider_field_enum import ServiceProviderFieldEnum as MarketplaceServiceProvidersListFieldItem

ORIGIN = sys.argv[1].rstrip("/")
NS = uuidlib.UUID("6b1d7a3e-4c2f-5e89-9a0b-1c2d3e4f5061")


def seed_uuid(kind, name):
    return uuidlib.uuid5(NS, f"{kind}:{name}")


def client(token):
    return AuthenticatedClient(base_url=ORIGIN, token=token, prefix="Token")


staff = client("demo-staff-token")
provider = client("demo-provider-token")
alice = client("demo-alice-token")
carol = client("demo-carol-token")
outsider = client("demo-outsider-token")
anonymous = Client(base_url=ORIGIN)

OFFERING = seed_uuid("offering", "Cluster")
HPC = seed_uuid("organization", "HPC Centre")
ALPHA = seed_uuid("resource", "alpha-alloc")
checks = 0


def check(cond, what):
    global checks
    if not cond:
        raise AssertionError(what)
    checks += 1


def expect_status(status, fn, *args, **kwargs):
    """Call fn, expect errors.UnexpectedStatus with this status; return the parsed body."""
    try:
        fn(*args, **kwargs)
    except errors.UnexpectedStatus as e:
        check(e.status_code == status, f"{fn.__module__}: expected {status}, got {e.status_code} {e.content!r}")
        import json
        try:
            return json.loads(e.content)
        except ValueError:
            return e.content
    raise AssertionError(f"{fn.__module__}: expected HTTP {status}, the call succeeded")


# --- who am I / users and keys ---
me = users_me_retrieve.sync(client=provider)
check(me.username == "provider" and me.is_staff is False, "users/me")
users = users_list.sync(client=staff)
check(len(users) == 7 and {u.username for u in users} >= {"alice", "bob", "provider"}, "users_list as staff")
check(all(isinstance(u.uuid, uuidlib.UUID) for u in users), "user uuids parse")
keys = keys_list.sync(client=staff)
check(len(keys) == 3 and all(k.fingerprint_sha256.startswith("SHA256:") for k in keys), "keys_list")
check(len(keys_list.sync(client=alice)) == 1, "alice sees her own key only")
expect_status(401, users_me_retrieve.sync, client=AuthenticatedClient(base_url=ORIGIN, token="nope", prefix="Token"))
body = expect_status(401, users_list.sync, client=anonymous)
check(body == {"detail": "Authentication credentials were not provided."}, "missing token body")

# --- resources: provider view with filters and field ---
res = marketplace_provider_resources_list.sync(
    client=provider,
    provider_uuid=HPC,
    state=[ResourceState.OK],
    offering_uuid=[OFFERING],
    field=[ResourceFieldEnum.NAME, ResourceFieldEnum.STATE, ResourceFieldEnum.BACKEND_ID, ResourceFieldEnum.UUID, ResourceFieldEnum.LIMITS],
)
check(sorted(r.backend_id for r in res) == ["hpc_x42", "proj_alpha", "proj_beta", "proj_gamma"], "provider resources OK")
check(all(r.state == ResourceState.OK for r in res), "states")
creating = marketplace_provider_resources_list.sync(client=provider, offering_uuid=[OFFERING], state=[ResourceState.CREATING])
check([r.name for r in creating] == ["new-alloc"], "Creating filter")
check(marketplace_resources_list.sync(client=provider, offering_uuid=[OFFERING]) == [], "consumer view is empty for the provider owner")
check(len(marketplace_resources_list.sync(client=alice)) == 3, "alice's consumer view")
full = marketplace_provider_resources_retrieve.sync(uuid=ALPHA, client=provider)
check(full.backend_id == "proj_alpha" and full.limits.additional_properties.get("storage") == 100, "retrieve resource")

# --- paginate ---
page1 = marketplace_provider_resources_list.sync_detailed(client=provider, page=1, page_size=2)
check(page1.status_code == 200 and page1.headers["x-result-count"] == "7" and 'rel="next"' in page1.headers["link"], "page 1")
everything = marketplace_provider_resources_list.sync_all(client=provider)
check(len(everything) == 7, f"sync_all follows Link: {len(everything)}")
expect_status(404, marketplace_provider_resources_list.sync, client=provider, page=99, page_size=2)
offs = marketplace_provider_offerings_list.sync(client=provider, page=1, page_size=10)
check({o.name for o in offs} == {"Cluster", "Consulting"}, "provider offerings page")

# --- orders ---
pending = marketplace_orders_list.sync(client=provider, state=[MarketplaceOrdersListStateItem.PENDING_PROVIDER])
check(len(pending) == 2, f"pending orders: {len(pending)}")
by_name = {o.resource_name: o for o in pending}
new_order = by_name["new-alloc"].uuid
consulting_order = by_name["consulting-alloc"].uuid
expect_status(403, marketplace_orders_approve_by_provider.sync, uuid=new_order, client=carol, body=OrderApproveByProviderRequest())
approved = marketplace_orders_approve_by_provider.sync(uuid=new_order, client=provider, body=OrderApproveByProviderRequest())
check(approved.detail, "approve answer")
again = marketplace_orders_approve_by_provider.sync_detailed(uuid=new_order, client=provider, body=OrderApproveByProviderRequest())
check(again.status_code == 409, "approve twice is 409 (wrong state)")
executing = marketplace_orders_list.sync(client=provider, state=[MarketplaceOrdersListStateItem.EXECUTING], resource_uuid=seed_uuid("resource", "new-alloc"))
check(len(executing) == 1 and executing[0].uuid == new_order, "executing filter by resource")
rej = marketplace_orders_reject_by_provider.sync_detailed(uuid=new_order, client=provider, body=OrderProviderRejectionRequest())
check(rej.status_code == 409, "reject executing order is 409")
cancel = marketplace_orders_cancel.sync_detailed(uuid=consulting_order, client=alice)
check(cancel.status_code == 202, "cancel basic order")
expect_status(409, marketplace_orders_cancel.sync_detailed, uuid=consulting_order, client=alice)

# --- backend_id, report, team ---
NEW = seed_uuid("resource", "new-alloc")
st = marketplace_provider_resources_set_backend_id.sync(uuid=NEW, client=provider, body=ResourceBackendIDRequest(backend_id="proj_new"))
check(st.status == "Resource backend_id has been changed.", "set_backend_id")
rep = marketplace_provider_resources_submit_report.sync(
    uuid=NEW, client=provider, body=ResourceReportRequest(report=[ReportSectionRequest(header="H1", body="B1"), ReportSectionRequest(header="H2", body="B2")])
)
check(rep.status == "Report is submitted", "submit_report")
expect_status(404, marketplace_provider_resources_set_backend_id.sync, uuid=NEW, client=outsider, body=ResourceBackendIDRequest(backend_id="x"))
team = marketplace_provider_resources_team_list.sync(uuid=ALPHA, client=provider)
check([m.username for m in team] == ["alice", "bob"] and team[0].offering_user_username == "alice_c", "team")
check(len(marketplace_resources_team_list.sync(uuid=ALPHA, client=alice)) == 2, "team as consumer")

# --- usage reporting as in the guide ---
offering = marketplace_public_offerings_retrieve.sync(uuid=OFFERING, client=anonymous)
check([c.type_ for c in offering.components] == ["cpu", "gpu", "ram", "storage"], "public offering components")
components = marketplace_plan_components_list.sync(offering_uuid=OFFERING, client=provider)
check(len(components) == 4, "plan components")
# The guide uses component_name as the type: Waldur rejects that (names are not types).
guide_usages = [ComponentUsageItemRequest(type_=c.component_name, amount="10", description="Usage") for c in components]
body = expect_status(400, marketplace_component_usages_set_usage.sync_detailed, client=provider, body=ComponentUsageCreateRequest(resource=ALPHA, usages=guide_usages))
check(body == {"non_field_errors": ["These components are invalid: CPU, GPU, RAM, Storage."]}, f"unknown component: {body}")
usages = [ComponentUsageItemRequest(type_=c.type_, amount="10.5", description="Usage") for c in offering.components]
check(marketplace_component_usages_set_usage.sync_detailed(client=provider, body=ComponentUsageCreateRequest(resource=ALPHA, usages=usages)).status_code == 201, "set_usage")
periods = marketplace_resources_plan_periods_list.sync(uuid=ALPHA, client=alice)
check(len(periods) == 1 and len(periods[0].components) == 4, "plan periods")
check({c.usage for c in periods[0].components} == {"10.50"}, f"plan period usage is a decimal string: {[c.usage for c in periods[0].components]}")
check(len(marketplace_provider_resources_plan_periods_list.sync(uuid=ALPHA, client=provider)) == 1, "provider plan periods")
listed = marketplace_component_usages_list.sync(client=provider, resource_uuid=ALPHA)
check(len(listed) == 4 and all(float(u.usage) == 10.5 for u in listed), "component usage list")
# error cases: closed month, wrong state, unknown component, missing token, wrong role
body = expect_status(400, marketplace_component_usages_set_usage.sync_detailed, client=provider,
                     body=ComponentUsageCreateRequest(resource=ALPHA, date=__import__("datetime").datetime(2026, 10, 15), usages=[ComponentUsageItemRequest(type_="cpu", amount="1")]))
check("date" in body, f"closed month: {body}")
body = expect_status(400, marketplace_component_usages_set_usage.sync_detailed, client=provider,
                     body=ComponentUsageCreateRequest(resource=seed_uuid("resource", "erred-alloc"), usages=[ComponentUsageItemRequest(type_="cpu", amount="1")]))
check(body == {"resource": ["Resource is not in valid state."]}, "wrong state")
body = expect_status(400, marketplace_component_usages_set_usage.sync_detailed, client=provider,
                     body=ComponentUsageCreateRequest(resource=ALPHA, usages=[ComponentUsageItemRequest(type_="fpga", amount="1")]))
check(body == {"non_field_errors": ["These components are invalid: fpga."]}, "unknown component")
body = expect_status(401, marketplace_component_usages_set_usage.sync_detailed, client=anonymous,
                     body=ComponentUsageCreateRequest(resource=ALPHA, usages=[ComponentUsageItemRequest(type_="cpu", amount="1")]))
check(body == {"detail": "Authentication credentials were not provided."}, "missing token")
body = expect_status(403, marketplace_component_usages_set_usage.sync_detailed, client=outsider,
                     body=ComponentUsageCreateRequest(resource=ALPHA, usages=[ComponentUsageItemRequest(type_="cpu", amount="1")]))
check(body == {"detail": "You do not have permission to perform this action."}, "wrong role")
cpu_usage = next(u for u in listed if u.type_ == "cpu")
check(marketplace_component_usages_set_user_usage.sync_detailed(uuid=cpu_usage.uuid, client=provider, body=ComponentUserUsageCreateRequest(username="alice_c", usage="4.5")).status_code == 201, "set_user_usage")

# --- offering users ---
bob = seed_uuid("user", "bob")
ou = marketplace_offering_users_create.sync(
    client=provider,
    body=OfferingUserRequest(user=f"{ORIGIN}/api/users/{bob.hex}/", offering=f"{ORIGIN}/api/marketplace-public-offerings/{OFFERING.hex}/", username="bob_c"),
)
check(ou.username == "bob_c" and ou.offering_uuid == OFFERING and ou.user_uuid == bob, "offering user created")
body = expect_status(400, marketplace_offering_users_create.sync, client=provider,
                     body=OfferingUserRequest(user=f"{ORIGIN}/api/users/{bob.hex}/", offering=f"{ORIGIN}/api/marketplace-public-offerings/{OFFERING.hex}/", username="again"))
check(body == {"non_field_errors": ["The fields offering, user must make a unique set."]}, "duplicate offering user")
expect_status(403, marketplace_offering_users_create.sync, client=outsider,
              body=OfferingUserRequest(user=f"{ORIGIN}/api/users/{seed_uuid('user', 'staff').hex}/", offering=f"{ORIGIN}/api/marketplace-public-offerings/{OFFERING.hex}/"))
check(len(marketplace_offering_users_list.sync(client=provider, offering_uuid=[OFFERING])) == 3, "offering users list")

# --- service provider ---
sps = marketplace_service_providers_list.sync(client=provider, customer_uuid=HPC)
check(len(sps) == 1 and sps[0].customer_name == "HPC Centre", "service provider by customer_uuid")
sp = sps[0].uuid
fields = marketplace_service_providers_list.sync(client=provider, field=[MarketplaceServiceProvidersListFieldItem.CUSTOMER_NAME, MarketplaceServiceProvidersListFieldItem.OFFERING_COUNT])
check(fields[0].customer_name == "HPC Centre" and fields[0].offering_count == 2, "service provider fields")
check(marketplace_service_providers_set_offerings_username.sync_detailed(uuid=sp, client=provider, body=SetOfferingsUsernameRequest(user_uuid=bob, username="bob_batch")).status_code == 201, "set_offerings_username")
check({o.username for o in marketplace_offering_users_list.sync(client=provider, user_uuid=bob)} == {"bob_batch"}, "usernames set in batch")
expect_status(400, marketplace_service_providers_set_offerings_username.sync_detailed, uuid=sp, client=provider, body=SetOfferingsUsernameRequest(user_uuid=uuidlib.UUID(int=0), username="x"))
sp_users = marketplace_service_providers_users_list.sync(service_provider_uuid=sp, client=provider)
check(sorted(u.username for u in sp_users) == ["alice", "bob", "carol"], "sp users")
check(len(marketplace_service_providers_keys_list.sync(service_provider_uuid=sp, client=provider)) == 3, "sp keys")
projects = marketplace_service_providers_projects_list.sync(service_provider_uuid=sp, client=provider)
check(sorted(p.name for p in projects) == ["Alpha", "Beta", "Gamma", "X42"], "sp projects")
perms = marketplace_service_providers_project_permissions_list.sync(service_provider_uuid=sp, client=provider)
check(len(perms) == 6 and all(p.role_name.startswith("PROJECT.") for p in perms), "sp project permissions")
expect_status(403, marketplace_service_providers_users_list.sync, service_provider_uuid=sp, client=outsider)

print(f"seed guides OK: {checks} checks")
