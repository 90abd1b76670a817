#!/usr/bin/env python3
"""Explains, cell by cell, why waldur-site-agent's amounts differ from the exact ones.

Independent of tally (Python decimal, straightforward loops). For every (account, month,
component) it computes the amount under five models, each one changing ONE rule from the
previous one, so the differences between consecutive models are the reasons:

  exact      AllocTRES x seconds over [Start, End) split at month starts, End Unknown = as_of,
             memory in MiB with decimals (`2.50G` = 2560 MiB)   (= tests/oracle/sacct_totals.py)
  requested  the same with ReqTRES instead of AllocTRES            -> "requested vs allocated"
  window     + the peer's month windows [01T00:00:00, <last>T23:59:59] (sacct --truncate)
                                                                   -> "lost last second of the month"
  parsing    + the peer's TRES parsing: integer prefix only (`2.50G` = 2 bytes), memory floored
             to MB-minutes line by line                             -> "TRES parsing"
  peer       + the peer's rounding: total / unit_factor rounded to 2 decimals (float)
                                                                   -> "rounding"

Usage: explain.py SPEC.json -> JSON {"cells": [{resource, period, component, exact, requested,
window, parsing, peer}], ...} on stdout (decimal strings, in the component's unit).
SPEC: {"dump": path, "as_of": "2026-11-25T00:00:00", "months": ["2026-10", "2026-11"],
       "components": {"cpu": {"tres": "cpu", "unit_factor": 60000}, ...}}
"""
import calendar
import json
import re
import sys
from datetime import datetime, timedelta
from decimal import Decimal, getcontext

getcontext().prec = 60
SUFFIX = {"K": 1, "M": 2, "G": 3, "T": 4, "P": 5}
PEER_UNIT = re.compile(r"(\d+)([KMGTP]?)")
PEER_UNITS = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def ts(v):
    v = (v or "").strip()
    if v in ("", "Unknown", "None", "N/A"):
        return None
    return datetime.fromisoformat(v)


def exact_quantity(value, is_mem):
    """tally's reading: counts; memory in MiB (suffix powers of 1024, decimals, bare = MB)."""
    unit = None
    if value and value[-1].isalpha():
        unit, value = value[-1].upper(), value[:-1]
    n = Decimal(value)
    if not is_mem:
        return n * (Decimal(1024) ** SUFFIX[unit]) if unit else n
    return n * (Decimal(1024) ** (SUFFIX[unit] - 2)) if unit else n


def peer_quantity(value):
    """waldur_site_agent_slurm.parser.parse_int: integer prefix, K/M/G/T binary."""
    m = re.match(PEER_UNIT, value)
    if not m:
        return 0
    return int(m.group(1)) * (PEER_UNITS[m.group(2)] if m.group(2) else 1)


def tres(field):
    out = {}
    for pair in field.split(","):
        if "=" in pair:
            k, v = pair.split("=", 1)
            out[k] = v
    return out


def month_bounds(period):
    y, m = (int(x) for x in period.split("-"))
    start = datetime(y, m, 1)
    nxt = datetime(y + 1, 1, 1) if m == 12 else datetime(y, m + 1, 1)
    last = calendar.monthrange(y, m)[1]
    return start, nxt, datetime(y, m, last, 23, 59, 59)


def main():
    spec = json.load(open(sys.argv[1]))
    as_of = datetime.fromisoformat(spec["as_of"])
    months = spec["months"]
    comps = spec["components"]
    with open(spec["dump"], encoding="utf-8") as fh:
        lines = [l.rstrip("\r\n") for l in fh if l.strip()]
    head = [h.strip().lower() for h in lines[0].split("|")]
    col = {h: i for i, h in enumerate(head)}
    sums = {}  # (model, account, period, tres) -> Decimal (TRES-seconds or peer units)
    peer_users = {}  # (account, period, user, tres) -> peer MB-minutes / TRES-minutes

    def add(model, key, v):
        sums[(model,) + key] = sums.get((model,) + key, Decimal(0)) + v

    for line in lines[1:]:
        p = line.split("|")
        g = lambda n: p[col[n]] if n in col and col[n] < len(p) else ""
        if "." in g("jobid"):
            continue  # steps are never billed
        start = ts(g("start"))
        if start is None or g("state").startswith("PENDING"):
            continue
        end = ts(g("end"))
        acct, user = g("account"), g("user")
        alloc, req = tres(g("alloctres")), tres(g("reqtres"))
        for period in months:
            ms, nxt, last = month_bounds(period)
            # exact: [start, min(end, as_of)) within [ms, nxt)
            stop = min(end, as_of) if end is not None else as_of
            a, b = max(start, ms), min(stop, nxt)
            secs = Decimal(max(0, int((b - a).total_seconds())))
            for c in comps.values():
                t = c["tres"]
                if t in alloc:
                    add("exact", (acct, period, t), exact_quantity(alloc[t], t == "mem") * secs)
                if t in req:
                    add("requested", (acct, period, t), exact_quantity(req[t], t == "mem") * secs)
            # the peer's window: what the fake sacct serves for --starttime/--endtime --truncate
            pen = end
            if pen is None:
                running = g("state").split(" ")[0] in ("RUNNING", "SUSPENDED", "COMPLETING", "")
                pen = as_of if running or not g("elapsed") else start  # no such rows here
            if start > last or pen < ms:
                continue
            a, b = max(start, ms), min(pen, last)
            wsecs = max(0, int((b - a).total_seconds()))
            minutes = Decimal(wsecs) / 60
            for c in comps.values():
                t = c["tres"]
                if t not in req:
                    continue
                add("window", (acct, period, t), exact_quantity(req[t], t == "mem") * Decimal(wsecs))
                raw = Decimal(peer_quantity(req[t])) * minutes
                if t == "mem":
                    raw = raw // (2**20)  # bytes x minutes -> MB-minutes, floored per line
                add("parsing", (acct, period, t), raw)
                k = (acct, period, user, t)
                peer_users[k] = peer_users.get(k, Decimal(0)) + raw

    keys = sorted({k[1:] for k in sums})
    cells = []
    for acct, period, t in keys:
        for name, c in comps.items():
            if c["tres"] != t:
                continue
            unit_seconds = Decimal(60) * Decimal(c["unit_factor"])
            mem_to_mib = Decimal(1)  # exact models count MiB x seconds; the peer MB x minutes
            get = lambda m: sums.get((m, acct, period, t), Decimal(0))
            exact = get("exact") * mem_to_mib / unit_seconds
            requested = get("requested") / unit_seconds
            window = get("window") / unit_seconds
            parsing = get("parsing") / Decimal(c["unit_factor"])
            peer = round(float(get("parsing")) / float(c["unit_factor"]), 2)
            cells.append({
                "resource": acct, "period": period, "component": name,
                "exact": str(exact), "requested": str(requested), "window": str(window),
                "parsing": str(parsing), "peer": "%.2f" % peer,
            })
    json.dump({"cells": cells}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
