#!/usr/bin/env python3
"""Capture how a GENUINE waldur-mastermind (2024) treats plan periods, prices, switch_plan and invoices.

usage: capture_plan_periods.py URL STAFF_TOKEN OUT_DIR

Builds a new world through the REST API only (Python standard library), then records every exchange
that shows something about plan periods as one JSON file per exchange in OUT_DIR (the format of
fixtures/waldur-captures/README.md; tokens replaced by <token> / <token-provider-owner>, the origin
by <API-URL>). Files are named pp-NN-*.json. Re-running makes a new world (new names, new uuids).

The world: provider organisation (owner: user tly-pp-owner), consumer organisation, offering
"PP Cluster" of type Marketplace.Slurm with components cpu, gpu (usage) and ram (limit), plans
"small" (cpu 0.50, gpu 2.00) and "large" (cpu 1.25, gpu 3.00), priced by staff before use; a second
offering of type SlurmInvoices.SlurmPackage (the older Slurm type whose registrator converts minutes
to hours); one resource on each through the order flow.
"""
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

PASSWORD = "Real-waldur-2026-owner"


class Recorder:
    def __init__(self, url, staff, out):
        self.base = url.rstrip("/")
        if self.base.endswith("/api"):
            self.base = self.base[:-4]
        self.staff = staff
        self.out = out
        self.n = 0
        self.secrets = {staff: "<token>"}

    def call(self, method, path, body=None, query=None, token=None, save=None, ok=(200, 201, 204), note=None):
        url = path if path.startswith("http") else self.base + path
        qs = "?" + urllib.parse.urlencode(query, doseq=True) if query else ""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url + qs, data=data, method=method)
        req.add_header("Accept", "application/json")
        tok = self.staff if token is None else token
        if tok:
            req.add_header("Authorization", "Token " + tok)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                status, raw, headers = r.status, r.read(), dict(r.headers)
        except urllib.error.HTTPError as e:
            status, raw, headers = e.code, e.read(), dict(e.headers)
        text = raw.decode(errors="replace")
        try:
            parsed = json.loads(raw) if raw.strip() else ""
        except ValueError:
            parsed = text
        if save:
            self.n += 1
            keep = ("Content-Type", "Link", "X-Result-Count", "Location", "WWW-Authenticate", "Allow")
            rec = {
                "request": {"method": method, "path": urllib.parse.urlsplit(url).path,
                            "query": query or {},
                            "headers": {"Accept": "application/json",
                                        **({"Authorization": "Token " + tok} if tok else {}),
                                        **({"Content-Type": "application/json"} if data is not None else {})},
                            "body": body},
                "response": {"status": status, "headers": {k: v for k, v in headers.items() if k in keep},
                             "body": parsed},
            }
            if note:
                rec["note"] = note
            s = json.dumps(rec, indent=2)
            for secret, ph in self.secrets.items():
                s = s.replace(secret, ph)
            s = s.replace(self.base, "<API-URL>")
            name = f"pp-{self.n:02d}-{save}.json"
            with open(os.path.join(self.out, name), "w") as f:
                f.write(s + "\n")
            print(f"{name}: {method} {path} -> {status}")
        if status not in ok:
            if save:
                return parsed
            raise SystemExit(f"{method} {path} -> {status}: {text[:400]}")
        return parsed

    def url(self, kind, uuid):
        return f"{self.base}/api/{kind}/{uuid}/"


def ensure_user(api, username):
    found = [u for u in api.call("GET", "/api/users/", query={"username": username}) if u["username"] == username]
    uuid = found[0]["uuid"] if found else api.call("POST", "/api/users/", {
        "username": username, "email": f"{username}@example.com", "full_name": username,
        "agree_with_policy": True})["uuid"]
    api.call("POST", f"/api/users/{uuid}/change_password/", {"new_password": PASSWORD})
    tok = api.call("POST", "/api-auth/password/", {"username": username, "password": PASSWORD}, token="")["token"]
    api.call("PATCH", f"/api/users/{uuid}/", {"token_lifetime": None, "agree_with_policy": True}, token=tok)
    return uuid, tok


def make_resource(api, owner, project, offering, plan, name, backend_id):
    order = api.call("POST", "/api/marketplace-orders/", {
        "project": project["url"], "offering": api.url("marketplace-public-offerings", offering["uuid"]),
        "plan": f"{api.base}/api/marketplace-public-offerings/{offering['uuid']}/plans/{plan['uuid']}/",
        "attributes": {"name": name}, "limits": {c["type"]: 100 for c in offering["components"] if c["billing_type"] == "limit"},
        "type": "Create", "accepting_terms_of_service": True})
    if order["state"] == "pending-consumer":
        api.call("POST", f"/api/marketplace-orders/{order['uuid']}/approve_by_consumer/")
    api.call("POST", f"/api/marketplace-orders/{order['uuid']}/approve_by_provider/", token=owner)
    ruuid = api.call("GET", f"/api/marketplace-orders/{order['uuid']}/")["marketplace_resource_uuid"]
    api.call("POST", f"/api/marketplace-provider-resources/{ruuid}/set_backend_id/", {"backend_id": backend_id}, token=owner)
    api.call("POST", f"/api/marketplace-orders/{order['uuid']}/set_state_done/", token=owner)
    return ruuid


def main():
    url, staff_token, out = sys.argv[1:4]
    os.makedirs(out, exist_ok=True)
    api = Recorder(url, staff_token, out)
    tag = time.strftime("%Y%m%dT%H%M%S")
    owner_uuid, owner = ensure_user(api, "tly-pp-owner")
    api.secrets[owner] = "<token-provider-owner>"

    prov = api.call("POST", "/api/customers/", {"name": f"PP Provider {tag}", "abbreviation": "PPP"})
    api.call("POST", f"/api/customers/{prov['uuid']}/add_user/", {"user": owner_uuid, "role": "CUSTOMER.OWNER"})
    api.call("POST", "/api/marketplace-service-providers/", {"customer": prov["url"], "description": "pp"})
    cons = api.call("POST", "/api/customers/", {"name": f"PP Consumer {tag}", "abbreviation": "PPC"})
    cats = api.call("GET", "/api/marketplace-categories/", query={"title": "HPC"})
    cat = next((x for x in cats if x["title"] == "HPC"), None) or \
        api.call("POST", "/api/marketplace-categories/", {"title": "HPC", "description": "HPC resources"})
    project = api.call("POST", "/api/projects/", {"name": f"PP Project {tag}", "customer": cons["url"]})

    comps = [{"type": "cpu", "name": "CPU", "measured_unit": "hours", "billing_type": "usage"},
             {"type": "gpu", "name": "GPU", "measured_unit": "hours", "billing_type": "usage"},
             {"type": "ram", "name": "RAM", "measured_unit": "GB", "billing_type": "limit", "limit_period": "month"}]
    plans = [{"name": "small", "unit": "month", "prices": {"cpu": 0.5, "gpu": 2, "ram": 0}, "quotas": {}},
             {"name": "large", "unit": "month", "prices": {"cpu": 1.25, "gpu": 3, "ram": 0}, "quotas": {}}]
    off = api.call("POST", "/api/marketplace-provider-offerings/", {
        "name": f"PP Cluster {tag}", "category": cat["url"], "customer": prov["url"], "type": "Marketplace.Slurm",
        "shared": True, "billable": True, "components": comps, "plans": plans}, save="create-offering-two-plans")
    api.call("POST", f"/api/marketplace-provider-offerings/{off['uuid']}/activate/")
    small = next(p for p in off["plans"] if p["name"] == "small")
    large = next(p for p in off["plans"] if p["name"] == "large")
    api.call("POST", f"/api/marketplace-plans/{small['uuid']}/update_prices/",
             {"prices": {"cpu": "0.50", "gpu": "2.00", "ram": "0.00"}}, save="update-prices-small")
    api.call("POST", f"/api/marketplace-plans/{large['uuid']}/update_prices/",
             {"prices": {"cpu": "1.25", "gpu": "3.00", "ram": "0.00"}}, save="update-prices-large")
    api.call("GET", f"/api/marketplace-public-offerings/{off['uuid']}/", token=owner,
             query={"field": ["uuid", "type", "components", "plans"]}, save="public-offering-plans-prices-provider")
    api.call("GET", f"/api/marketplace-plans/{small['uuid']}/", token=owner, save="get-plan-provider")
    api.call("GET", "/api/marketplace-plans/", token=owner, query={"offering_uuid": off["uuid"]}, save="list-plans-provider")

    r = make_resource(api, owner, project, off, small, f"pp-res-{tag}", f"pp_{tag}")
    api.call("GET", f"/api/marketplace-provider-resources/{r}/plan_periods/", token=owner, save="plan-periods-before-usage")
    api.call("POST", "/api/marketplace-component-usages/set_usage/", token=owner,
             body={"resource": r, "usages": [{"type": "cpu", "amount": "10"}, {"type": "gpu", "amount": "2"},
                                             {"type": "ram", "amount": "50"}]}, save="set-usage-before-switch")
    api.call("GET", "/api/marketplace-component-usages/", token=owner, query={"resource_uuid": r}, save="list-usages-before-switch")
    api.call("GET", "/api/invoice-items/", query={"resource_uuid": r}, save="invoice-items-staff-before-switch")
    api.call("GET", "/api/invoice-items/", token=owner, query={"resource_uuid": r}, save="invoice-items-provider-owner")
    api.call("GET", "/api/invoices/", token=owner, query={"customer_uuid": cons["uuid"]}, save="invoices-provider-owner")

    sw = api.call("POST", f"/api/marketplace-resources/{r}/switch_plan/",
                  {"plan": f"{api.base}/api/marketplace-public-offerings/{off['uuid']}/plans/{large['uuid']}/"},
                  save="switch-plan")
    api.call("POST", f"/api/marketplace-orders/{sw['order_uuid']}/approve_by_provider/", token=owner, save="switch-order-approve-by-provider")
    api.call("POST", f"/api/marketplace-orders/{sw['order_uuid']}/set_state_done/", token=owner, save="switch-order-set-state-done")
    periods = api.call("GET", f"/api/marketplace-provider-resources/{r}/plan_periods/", token=owner, save="plan-periods-after-switch")
    old = next(p for p in periods if p["end"])
    new = next(p for p in periods if not p["end"])
    api.call("GET", "/api/invoice-items/", query={"resource_uuid": r}, save="invoice-items-after-switch")

    api.call("POST", "/api/marketplace-component-usages/set_usage/", token=owner,
             body={"resource": r, "usages": [{"type": "cpu", "amount": "25"}, {"type": "gpu", "amount": "2"}]},
             save="set-usage-without-plan-period-after-switch")
    api.call("GET", "/api/marketplace-component-usages/", token=owner, query={"resource_uuid": r}, save="list-usages-two-rows")
    api.call("GET", f"/api/marketplace-provider-resources/{r}/plan_periods/", token=owner, save="plan-periods-two-rows")
    api.call("GET", "/api/invoice-items/", query={"resource_uuid": r}, save="invoice-items-two-rows")

    api.call("POST", "/api/marketplace-component-usages/set_usage/", token=owner,
             body={"plan_period": new["uuid"], "usages": [{"type": "cpu", "amount": "17"}, {"type": "gpu", "amount": "0"}]},
             save="set-usage-new-period")
    api.call("GET", "/api/invoice-items/", query={"resource_uuid": r}, save="invoice-items-after-new-period-part")
    api.call("POST", "/api/marketplace-component-usages/set_usage/", token=owner,
             body={"plan_period": old["uuid"], "usages": [{"type": "cpu", "amount": "8"}]},
             save="set-usage-old-period-correction")
    api.call("GET", "/api/marketplace-component-usages/", token=owner, query={"resource_uuid": r}, save="list-usages-after-correction")
    api.call("GET", f"/api/marketplace-provider-resources/{r}/plan_periods/", token=owner, save="plan-periods-after-correction")
    api.call("GET", "/api/invoice-items/", query={"resource_uuid": r}, save="invoice-items-after-correction")

    # the older Slurm type: its registrator converts the usage before invoicing
    comps2 = [{"type": "cpu", "name": "CPU", "measured_unit": "hours", "billing_type": "usage"},
              {"type": "ram", "name": "RAM", "measured_unit": "GB", "billing_type": "usage"}]
    off2 = api.call("POST", "/api/marketplace-provider-offerings/", {
        "name": f"PP Package {tag}", "category": cat["url"], "customer": prov["url"], "type": "SlurmInvoices.SlurmPackage",
        "shared": True, "billable": True, "components": comps2,
        "plans": [{"name": "package", "unit": "month", "prices": {}, "quotas": {}}]}, save="create-offering-slurm-package")
    api.call("POST", f"/api/marketplace-provider-offerings/{off2['uuid']}/activate/")
    api.call("POST", f"/api/marketplace-plans/{off2['plans'][0]['uuid']}/update_prices/",
             {"prices": {"cpu": "0.10", "ram": "0.01"}}, save="update-prices-package")
    # a SlurmInvoices.SlurmPackage offering needs a scope (SLURM service settings) before an order is
    # accepted; the conversion is read from the source (marketplace_slurm/registrators.py) instead
    api.call("POST", "/api/marketplace-orders/", {
        "project": project["url"], "offering": api.url("marketplace-public-offerings", off2["uuid"]),
        "plan": f"{api.base}/api/marketplace-public-offerings/{off2['uuid']}/plans/{off2['plans'][0]['uuid']}/",
        "attributes": {"name": f"pp-pkg-{tag}"}, "limits": {}, "type": "Create", "accepting_terms_of_service": True},
        save="order-slurm-package-without-scope", ok=(201,))
    r2 = None

    # a component added after the plans were made: the plans have no plan component for it
    api.call("POST", f"/api/marketplace-provider-offerings/{off['uuid']}/create_offering_component/", token=owner,
             body={"type": "storage", "name": "Storage", "measured_unit": "GB", "billing_type": "usage"},
             save="create-component-after-plans")
    api.call("GET", f"/api/marketplace-public-offerings/{off['uuid']}/", token=owner,
             query={"field": ["uuid", "components", "plans"]}, save="public-offering-plan-without-component")
    api.call("POST", "/api/marketplace-component-usages/set_usage/", token=owner,
             body={"plan_period": new["uuid"], "usages": [{"type": "storage", "amount": "40"}]},
             save="set-usage-unpriced-component")
    api.call("GET", "/api/invoice-items/", query={"resource_uuid": r}, save="invoice-items-unpriced-component")

    json.dump({"resource": r, "resource_package": r2, "offering": off["uuid"], "old_period": old["uuid"],
               "new_period": new["uuid"], "tag": tag}, open(os.path.join(out, "..", "pp-world.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
