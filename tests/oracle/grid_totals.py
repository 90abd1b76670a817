#!/usr/bin/env python3
"""Independent oracle for tally's Grid Engine (sge) and LSF (lsf) totals.

Shares no code with tally and takes another road: Python's decimal at 50 digits, times as
exact Decimal seconds (milliseconds included), month bounds from zoneinfo, and usage summed
per month as the overlap of [start, end) with each month, cut at as-of.

Usage: grid_totals.py SPEC.json -> {"usages": [...], "user_usages": [...], "records": {...}}
SPEC: {"format": "sge"|"lsf", "files": [...], "billing_timezone": "Europe/Helsinki",
       "resource_field": "project", "cluster": "",
       "components": {"cpu": {"tres": "cpu", "unit_seconds": 3600, "factor": "1"}},
       "from": "2017-08", "to": "2017-10", "as_of": "2017-11-01T00:00:00Z"}

Rules (from accounting(5), lsb.acct(5) and the issue):
- sge: '#' lines are headers; 45 colon-separated fields (more only on millisecond lines,
  Univa); a time of 10^10 or more is milliseconds; start_time 0 never ran; pe_taskid other
  than NONE is a per-task record (not billed, counted as a step); NONE means no value;
  a run is (cluster, job_number, task_number, submission_time, start_time).
- lsf: only "JOB_FINISH" records; numProcessors x (eventTime - startTime); the two host
  lists are count-prefixed; a run is (cluster, jobId, idx, submitTime, startTime).
- A run seen again counts once (the record with the later end; the first on a tie).
"""
import json
import re
import sys
from datetime import datetime, timezone
from decimal import Decimal, getcontext, ROUND_HALF_EVEN, ROUND_FLOOR
from zoneinfo import ZoneInfo

getcontext().prec = 50
SGE_NAMES = ("qname hostname group owner job_name job_number account priority submission_time "
             "start_time end_time failed exit_status ru_wallclock ru_utime ru_stime ru_maxrss "
             "ru_ixrss ru_ismrss ru_idrss ru_isrss ru_minflt ru_majflt ru_nswap ru_inblock "
             "ru_oublock ru_msgsnd ru_msgrcv ru_nsignals ru_nvcsw ru_nivcsw project department "
             "granted_pe slots task_number cpu mem io category iow pe_taskid maxvmem arid "
             "ar_submission_time").split()
assert len(SGE_NAMES) == 45
TOKEN = re.compile(r'"((?:[^"]|"")*)"(?=\s|$)|([^\s"]\S*)')


def sge_runs(path, spec, counts):
    field = spec.get("resource_field", "project")
    for raw in open(path, encoding="utf-8", errors="replace").read().split("\n"):
        line = raw.rstrip("\r")
        if not line.strip():
            continue
        counts["lines"] += 1
        if line.startswith("#"):
            counts["headers"] += 1
            continue
        parts = line.split(":")
        try:
            rec = dict(zip(SGE_NAMES, parts))
            times = [int(rec[n]) for n in ("submission_time", "start_time", "end_time")]
            millis = max(times) >= 10 ** 10
            if len(parts) < 45 or (len(parts) != 45 and not millis):
                raise ValueError("field count")
            scale = Decimal(1000) if millis else Decimal(1)
            submit, start, end = (Decimal(t) / scale for t in times)
            slots = int(rec["slots"])
        except (ValueError, KeyError):
            counts["invalid"] += 1
            continue
        if start == 0:
            counts["not_started"] += 1
            continue
        if rec["pe_taskid"] not in ("NONE", "none"):
            counts["steps"] += 1
            continue
        account = rec[field]
        if account in ("NONE", "none"):
            account = ""
        user = rec["owner"]
        key = (spec.get("cluster", ""), int(rec["job_number"]), int(rec["task_number"]),
               int(submit), start)
        yield key, (account, user, start, end, Decimal(slots))


def lsf_runs(path, spec, counts):
    field = spec.get("resource_field", "projectName")
    for raw in open(path, encoding="utf-8").read().split("\n"):
        line = raw.rstrip("\r")
        if not line.strip():
            continue
        counts["lines"] += 1
        # A token is "..." (with "" for a quote) followed by a blank or the end, or a bare
        # word; anything else left over makes the line invalid.
        if TOKEN.sub("", line).strip():
            counts["invalid"] += 1
            continue
        tokens = [mt.group(1).replace('""', '"') if mt.group(1) is not None else mt.group(2)
                  for mt in TOKEN.finditer(line)]
        if tokens[0] != "JOB_FINISH":
            counts["other"] += 1
            continue
        event, job_id, nproc, submit, start = (int(tokens[i]) for i in (2, 3, 6, 7, 10))
        user, queue = tokens[11], tokens[12]
        asked = int(tokens[22])
        i = 23 + asked
        ex = int(tokens[i])
        base = i + 1 + ex
        project = tokens[base + 24]
        idx = int(tokens[base + 29])
        if start == 0:
            counts["not_started"] += 1
            continue
        account = {"projectName": project, "queue": queue, "userName": user}[field]
        key = (spec.get("cluster", ""), job_id, idx, submit, start)
        yield key, (account, user, Decimal(start), Decimal(event), Decimal(nproc))


def month_start(y, m, tz):
    return Decimal(int(datetime(y, m, 1, tzinfo=tz).astimezone(timezone.utc).timestamp()))


def split_cents(total, parts):
    """Floors each part to the cent; the missing cents go to the largest remainders."""
    cents = [p * 100 for p in parts]
    floors = [c.to_integral_value(rounding=ROUND_FLOOR) for c in cents]
    missing = int(total * 100 - sum(floors))
    order = sorted(range(len(parts)), key=lambda i: (-(cents[i] - floors[i]), i))
    for k in range(missing):
        floors[order[k % len(order)]] += 1
    return [(f / 100).quantize(Decimal("0.01")) for f in floors]


def main():
    spec = json.load(open(sys.argv[1]))
    tz = ZoneInfo(spec.get("billing_timezone", "UTC"))
    comps = spec["components"]
    as_of = Decimal(int(datetime.fromisoformat(spec["as_of"].replace("Z", "+00:00")).timestamp()))
    first = tuple(int(x) for x in spec["from"].split("-"))
    last = tuple(int(x) for x in spec["to"].split("-"))
    counts = dict(lines=0, headers=0, jobs=0, steps=0, not_started=0, invalid=0, duplicates=0,
                  other=0)
    reader = {"sge": sge_runs, "lsf": lsf_runs}[spec["format"]]
    runs = {}
    for path in spec["files"]:
        for key, run in reader(path, spec, counts):
            if key in runs:
                counts["duplicates"] += 1
                if run[3] > runs[key][3]:
                    runs[key] = run
            else:
                runs[key] = run
    counts["jobs"] = len(runs)
    # The months asked for, as [start, end) in Unix seconds.
    months = []
    y, m = first
    while (y, m) <= last:
        ny, nm = (y + 1, 1) if m == 12 else (y, m + 1)
        months.append(("%04d-%02d" % (y, m), month_start(y, m, tz), month_start(ny, nm, tz)))
        y, m = ny, nm
    sums = {}  # (resource, period, user) -> slot-seconds
    for account, user, start, end, slots in runs.values():
        if not account or slots == 0:
            continue
        for period, lo, hi in months:
            overlap = min(end, hi, as_of) - max(start, lo)
            if overlap > 0:
                k = (account, period, user)
                sums[k] = sums.get(k, Decimal(0)) + slots * overlap
    usages, user_usages = [], []
    for comp, c in comps.items():
        if c["tres"] != "cpu":
            continue
        unit = Decimal(c.get("unit_seconds", 3600))
        factor = Decimal(c.get("factor", "1"))
        cells = {}
        for (account, period, user), s in sums.items():
            cells.setdefault((account, period), {})[user] = s * factor / unit
        for (account, period), users in cells.items():
            exact = sum(users.values())
            amount = exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
            usages.append({"resource": account, "period": period, "component": comp,
                           "amount": str(amount)})
            names = sorted(users, key=lambda u: u.encode())
            for name, share in zip(names, split_cents(amount, [users[n] for n in names])):
                user_usages.append({"resource": account, "period": period, "component": comp,
                                    "user": name or "(unknown)", "amount": str(share)})
    usages.sort(key=lambda u: (u["resource"], u["period"], u["component"]))
    user_usages.sort(key=lambda u: (u["resource"], u["period"], u["component"], u["user"]))
    json.dump({"usages": usages, "user_usages": user_usages, "records": counts}, sys.stdout,
              indent=1, ensure_ascii=False)
    print()


if __name__ == "__main__":
    main()
