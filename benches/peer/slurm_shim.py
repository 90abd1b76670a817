#!/usr/bin/env python3
"""Stands in for `sacct` and `sacctmgr` when the peer (waldur-site-agent) runs a report cycle:
answers from a `sacct --parsable2` dump (header line required) instead of a live cluster.

Installed by run-peer.sh as bin/sacct and bin/sacctmgr (symlinks; the program name picks the
role). Environment: SACCT_DUMP (the dump), SHIM_LOG (every call is appended there, one line),
PEER_NOW (the instant a still-running job ends at; default the real clock), SHIM_TRES_COLUMN
(the dump column served as ReqTRES, default ReqTRES), SHIM_DELIMITER (default "|").

sacct honours what the peer passes: --accounts, --starttime/--endtime (a job overlapping the
window is listed), --truncate (its Start/End/Elapsed clipped to the window, as sacct -T does),
--allocations (steps, JobIDs with a dot, left out), --format and --noheader.
sacctmgr answers `show account NAME` (one line when the dump has that account) and
`list/show associations [account=NAME]` (the account line, then one line per user).
"""
import datetime
import os
import sys

DELIMITER = os.environ.get("SHIM_DELIMITER", "|")
TRES_COLUMN = os.environ.get("SHIM_TRES_COLUMN", "ReqTRES").lower()
NOT_A_TIME = {"", "Unknown", "None", "N/A"}
STILL_RUNNING = {"RUNNING", "SUSPENDED", "COMPLETING", ""}


def record_call(program, args):
    log = os.environ.get("SHIM_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as out:
            out.write(" ".join([program, *args]) + "\n")


def instant(text):
    text = (text or "").strip()
    return None if text in NOT_A_TIME else datetime.datetime.fromisoformat(text)


def peer_now():
    text = os.environ.get("PEER_NOW")
    if not text:
        return datetime.datetime.now()
    # the dump's times are naive wall-clock times, as sacct prints them
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=None)


def as_elapsed(seconds):
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    clock = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{days}-{clock}" if days else clock


def from_elapsed(text):
    days, _, clock = text.rpartition("-")
    parts = clock.split(":")
    while len(parts) < 3:
        parts.insert(0, "0")
    hours, minutes, secs = parts[-3:]
    return datetime.timedelta(days=int(days or 0), hours=int(hours), minutes=int(minutes),
                              seconds=float(secs))


def load_dump():
    """-> (lower-case column names, rows as dicts keyed by them)"""
    with open(os.environ["SACCT_DUMP"], encoding="utf-8") as dump:
        lines = [line.rstrip("\r\n") for line in dump if line.strip()]
    columns = [c.strip().lower() for c in lines[0].split(DELIMITER)]
    if columns and not columns[-1]:
        columns.pop()  # a trailing delimiter
    rows = []
    for line in lines[1:]:
        values = line.split(DELIMITER)
        row = {c: values[i] if i < len(values) else "" for i, c in enumerate(columns)}
        row["reqtres"] = row.get(TRES_COLUMN, "")
        rows.append(row)
    return columns, rows


def parse_options(args):
    """--key=value pairs (keys lower-case) and bare flags (without dashes)."""
    values, flags = {}, set()
    for arg in args:
        if arg.startswith("--") and "=" in arg:
            key, value = arg[2:].split("=", 1)
            values[key.lower()] = value
        elif arg.startswith("-"):
            flags.add(arg.lstrip("-").lower())
    return values, flags


def sacct(args):
    values, flags = parse_options(args)
    columns, rows = load_dump()
    accounts = {a.lower() for a in values.get("accounts", "").split(",") if a}
    window_start, window_end = instant(values.get("starttime")), instant(values.get("endtime"))
    requested = values.get("format", ",".join(columns))
    fields = [f.strip().lower() for f in requested.split(",")]
    if not flags & {"noheader", "n"}:
        print("|".join(requested.split(",")))
    allocations_only = bool(flags & {"allocations", "x"})
    truncate = bool(flags & {"truncate", "t"})
    for row in rows:
        if allocations_only and "." in row.get("jobid", ""):
            continue
        if accounts and row.get("account", "").lower() not in accounts:
            continue
        if "start" in row and "end" in row:
            start = instant(row["start"])
            if start is None:
                continue  # never started: nothing to account
            end = instant(row["end"])
            if end is None:
                state = row.get("state", "RUNNING").split(" ")[0]
                if state in STILL_RUNNING or not row.get("elapsed"):
                    end = peer_now()
                else:
                    end = start + from_elapsed(row["elapsed"])
            if (window_end and start > window_end) or (window_start and end < window_start):
                continue
            if truncate:
                if window_start:
                    start = max(start, window_start)
                if window_end:
                    end = min(end, window_end)
            row = dict(row, start=start.isoformat(), end=end.isoformat(),
                       elapsed=as_elapsed((end - start).total_seconds()))
        print("|".join(row.get(f, "") for f in fields))


def sacctmgr(args):
    if "--version" in args or "-V" in args:
        print("slurm 23.11.0")
        return
    words = [a for a in args if not a.startswith("-")]
    lower = [w.lower() for w in words]
    _, rows = load_dump()
    users_of = {}
    for row in rows:
        users_of.setdefault(row.get("account", ""), set()).add(row.get("user", ""))
    if lower[:2] == ["show", "account"] and len(words) > 2:
        if words[2] in users_of:
            print(f"{words[2]}|{words[2]}|{words[2]}")
        return
    if len(lower) > 1 and lower[0] in ("list", "show") and lower[1].startswith("assoc"):
        only = next((w.split("=", 1)[1] for w in words if w.lower().startswith("account=")), None)
        for account in sorted(users_of):
            if only and account != only:
                continue
            print(f"{account}|")
            for user in sorted(u for u in users_of[account] if u):
                print(f"{account}|{user}")
    # anything else (sinfo, scancel, other sacctmgr verbs): succeed without output


def main():
    program = os.path.basename(sys.argv[0])
    record_call(program, sys.argv[1:])
    if program == "sacct":
        sacct(sys.argv[1:])
    elif program == "sacctmgr":
        sacctmgr(sys.argv[1:])


if __name__ == "__main__":
    main()
