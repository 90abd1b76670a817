#!/usr/bin/env python3
"""Independent oracle for tally's sacct totals.

Written separately from the Rust code, in another language and with another approach
(Python's decimal at 50 digits, zoneinfo, straightforward loops), so that the expected
totals in tests/expected/ do not come from the code they check.

Usage: sacct_totals.py SPEC.json  -> prints {"usages": [...], "records": {...}} on stdout.
SPEC: {"files": [...], "delimiter": "|", "fields": [...]|null, "timezone": "UTC",
       "billing_timezone": "UTC", "resource_field": "Account",
       "components": {"cpu": {"tres": "cpu", "unit_seconds": 3600, "factor": "1"}},
       "from": "2026-10", "to": "2026-11", "as_of": "2026-11-25T00:00:00Z"}
"""
import json
import sys
from datetime import datetime, timezone
from decimal import Decimal, getcontext, ROUND_HALF_EVEN
from zoneinfo import ZoneInfo

getcontext().prec = 50
UNITS = {"K": 1, "M": 2, "G": 3, "T": 4, "P": 5}


def quantity(value, is_mem):
    unit = None
    if value and value[-1].isalpha():
        unit, value = value[-1].upper(), value[:-1]
    number = Decimal(value)
    base = 2 if is_mem else 0
    exp = UNITS[unit] if unit else base
    return number * (Decimal(1024) ** (exp - base))


def parse_time(s, tz):
    if s in ("", "Unknown", "None", "N/A"):
        return None
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=tz, fold=0).astimezone(timezone.utc)


def month_start(y, m, tz):
    return datetime(y, m, 1, tzinfo=tz).astimezone(timezone.utc)


def main():
    spec = json.load(open(sys.argv[1]))
    src_tz = ZoneInfo(spec.get("timezone", "UTC"))
    bill_tz = ZoneInfo(spec.get("billing_timezone", "UTC"))
    delim = spec.get("delimiter", "|")
    comps = spec["components"]
    wanted = {c["tres"] for c in comps.values()}
    as_of = datetime.fromisoformat(spec["as_of"].replace("Z", "+00:00"))
    first = tuple(int(x) for x in spec["from"].split("-"))
    last = tuple(int(x) for x in spec["to"].split("-"))
    counts = dict(jobs=0, steps=0, not_started=0, invalid=0, duplicates=0)
    jobs = {}
    for path in spec["files"]:
        names = spec.get("fields")
        header_seen = False
        with open(path, encoding="utf-8", errors="replace") as fh:
            text = fh.read()
        for raw in text.split("\n"):
            line = raw.rstrip("\r")
            if not line.strip():
                continue
            parts = line.split(delim)
            if not header_seen:
                header_seen = True
                if any(p.strip().lower() == "jobid" for p in parts):
                    names = parts[:-1] if parts[-1] == "" else parts
                    continue
            idx = {n.strip().lower(): i for i, n in enumerate(names)}
            if not (len(parts) == len(names) or (len(parts) == len(names) + 1 and parts[-1] == "")):
                counts["invalid"] += 1
                continue
            get = lambda n: parts[idx[n.lower()]] if n.lower() in idx else ""
            jobid = get("JobID")
            if "." in jobid:
                counts["steps"] += 1
                continue
            if jobid.lower() == "jobid":
                continue
            if "_[" in jobid or get("Start") in ("", "Unknown", "None", "N/A") or get("State").startswith("PENDING"):
                counts["not_started"] += 1
                continue
            try:
                start = parse_time(get("Start"), src_tz)
                end = parse_time(get("End"), src_tz)
                submit = parse_time(get("Submit"), src_tz)
                q = {}
                for pair in get("AllocTRES").split(","):
                    if "=" not in pair:
                        continue
                    name, value = pair.split("=", 1)
                    if name in wanted:
                        q[name] = quantity(value, name in ("mem", "vmem"))
                if end is not None and end < start:
                    raise ValueError("end before start")
            except Exception:
                counts["invalid"] += 1
                continue
            key = (get("Cluster"), get("JobIDRaw") or jobid, submit)
            rec = (get(spec.get("resource_field", "Account")), start, end, q)
            if key in jobs:
                counts["duplicates"] += 1
                old_end = jobs[key][2]
                if old_end is None or (end is not None and end > old_end):
                    jobs[key] = rec
            else:
                jobs[key] = rec
    counts["jobs"] = len(jobs)
    sums = {}
    for account, start, end, q in jobs.values():
        if not account:
            continue
        stop = min(end, as_of) if end is not None else as_of
        if start >= as_of:
            continue
        local = start.astimezone(bill_tz)
        y, m = local.year, local.month
        t = start
        while t < stop:
            ny, nm = (y + 1, 1) if m == 12 else (y, m + 1)
            boundary = month_start(ny, nm, bill_tz)
            seg = min(stop, boundary)
            secs = Decimal(int((seg - t).total_seconds()))
            if first <= (y, m) <= last:
                for tres, v in q.items():
                    if v != 0:
                        k = (account, "%04d-%02d" % (y, m), tres)
                        sums[k] = sums.get(k, Decimal(0)) + v * secs
            t, y, m = seg, ny, nm
    usages = []
    for (account, period, tres), total in sums.items():
        for comp, c in comps.items():
            if c["tres"] == tres:
                exact = total / Decimal(c.get("unit_seconds", 3600)) * Decimal(c.get("factor", "1"))
                amount = exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
                usages.append({"resource": account, "period": period, "component": comp, "amount": str(amount)})
    usages.sort(key=lambda u: (u["resource"], u["period"], u["component"]))
    json.dump({"usages": usages, "records": counts}, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
