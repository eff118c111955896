#!/usr/bin/env python3
"""The summary of Scripts/bench-overload.sh: one row per run, the medians, and the goal verdicts.

    Scripts/bench-overload-summary.py OUT_DIR RUNS BEFORE_S SURGE_S AFTER_S > OUT_DIR/summary.md

Reads capacity-N.json, overload-N.json, load-N.txt, threads-{before,after}-N.txt and rankd-N.log in OUT_DIR.
Medians and verdicts count only the runs that measured the server: a run whose load generator fell behind
(INVALID) or whose capacity C is only a lower bound (its search was cut short by the generator) is listed but not
counted.
"""
import json
import os
import statistics
import sys

out, runs = sys.argv[1], int(sys.argv[2])
before_s, surge_s, after_s = (float(arg) for arg in sys.argv[3:6])


def load(name):
    try:
        with open(os.path.join(out, name)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def text(name):
    try:
        with open(os.path.join(out, name)) as f:
            return f.read()
    except OSError:
        return ""


def fmt(value, digits=2):
    return "-" if value is None else f"{value:,.{digits}f}"


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def thread_cpu(run):
    """CPU seconds of rankd's threads during the overload run, by role (where the thread waits at rest)."""
    before = {}
    for line in text(f"threads-before-{run}.txt").splitlines():
        parts = line.split()
        if len(parts) >= 2:
            before[parts[0]] = int(parts[1])
    roles = {}
    for line in text(f"threads-after-{run}.txt").splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        used = (int(parts[1]) - before.get(parts[0], 0)) / os.sysconf("SC_CLK_TCK")
        if used >= 0.1:
            role = "I/O" if "epoll" in parts[2] else "worker" if "futex" in parts[2] else parts[2]
            roles[role] = roles.get(role, 0) + used
    return roles


rows = []
for run in range(1, runs + 1):
    capacity, report = load(f"capacity-{run}.json"), load(f"overload-{run}.json")
    if not capacity or not report or not capacity["find_max_rps"].get("max_rps"):
        continue
    search = capacity["find_max_rps"]
    measured = [p for p in report["phases"] if p["name"] != "warm-up"]
    before, surge = measured[0], measured[1]
    by_status = surge.get("latency_by_status_ms", {})
    ok, shed = by_status.get("OK", {}), by_status.get("RESOURCE_EXHAUSTED", {})
    other = {k: v for k, v in surge["status_counts"].items() if k not in ("OK", "RESOURCE_EXHAUSTED")}
    drop = before_s + surge_s
    after = [w for w in report.get("windows") or [] if w["start_s"] >= drop - 1e-9][:3]
    stats = [line for line in text(f"rankd-{run}.log").splitlines() if "stats:" in line]
    rejected = next((p.split("=")[1] for p in (stats[-1].split() if stats else []) if p.startswith("rejected_overload=")),
                    None)
    total = sum(surge["status_counts"].values())
    rows.append({
        "run": run, "load": (text(f"load-{run}.txt").split() or ["-"])[0],
        "c": search["max_rps"], "c_limited": search.get("limited_by_generator", False),
        "offered": surge["target_rps"], "goodput": surge["goodput_rps"],
        "ratio": surge["goodput_rps"] / search["max_rps"],
        "shed_share": shed.get("count", 0) / total if total else None, "other": other,
        "ok_p50": ok.get("p50"), "ok_p99": ok.get("p99"), "ok_p999": ok.get("p999"),
        "shed_p50": shed.get("p50"), "shed_p99": shed.get("p99"), "shed_p999": shed.get("p999"),
        "before_p99": before["latency_ms"]["p99"],
        "after_p99": [w["latency_ms"]["p99"] for w in after],
        "after_ok_p99": [w.get("latency_by_status_ms", {}).get("OK", {}).get("p99") for w in after],
        "valid": report["valid"], "invalid": report["invalid_reasons"], "rejected_overload": rejected,
        "cpu": thread_cpu(run),
    })

print("# Overload: rankd on one core at twice its capacity\n")
print(text("machine.txt").strip().replace("\n", "  \n"))
print()
if not rows:
    print("No run produced both a capacity and an overload report; see the run files.")
    sys.exit(0)

print("| run | load avg | C req/s | offered | goodput OK/s | goodput / C | OK p50 / p99 / p99.9 ms "
      "| RESOURCE_EXHAUSTED p50 / p99 / p99.9 ms | refused | p99 before | p99 1st / 2nd / 3rd s after the drop "
      "| valid |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    others = "".join(f", {k} {v}" for k, v in r["other"].items())
    print(f"| {r['run']} | {r['load']} | {'≥ ' if r['c_limited'] else ''}{fmt(r['c'], 0)} | {fmt(r['offered'], 0)} "
          f"| {fmt(r['goodput'], 0)} | {fmt(r['ratio'] * 100, 0)}% "
          f"| {fmt(r['ok_p50'], 3)} / {fmt(r['ok_p99'], 3)} / {fmt(r['ok_p999'], 3)} "
          f"| {fmt(r['shed_p50'], 3)} / {fmt(r['shed_p99'], 3)} / {fmt(r['shed_p999'], 3)} "
          f"| {fmt(None if r['shed_share'] is None else r['shed_share'] * 100, 1)}%{others} "
          f"| {fmt(r['before_p99'], 3)} | {' / '.join(fmt(v, 3) for v in r['after_p99'])} "
          f"| {'yes' if r['valid'] else 'no: ' + '; '.join(r['invalid'])} |")

counted = [r for r in rows if r["valid"] and not r["c_limited"]]
left_out = [str(r["run"]) for r in rows if r not in counted]
if counted:
    m = {key: median([r[key] for r in counted]) for key in
         ("c", "offered", "goodput", "ratio", "ok_p50", "ok_p99", "ok_p999", "shed_p50", "shed_p99", "shed_p999",
          "before_p99")}
    first_after = median([r["after_p99"][0] if r["after_p99"] else None for r in counted])
    first_after_ok = median([r["after_ok_p99"][0] if r["after_ok_p99"] else None for r in counted])
    print(f"| **median of {len(counted)}** | | {fmt(m['c'], 0)} | {fmt(m['offered'], 0)} | {fmt(m['goodput'], 0)} "
          f"| {fmt(m['ratio'] * 100, 0)}% | {fmt(m['ok_p50'], 3)} / {fmt(m['ok_p99'], 3)} / {fmt(m['ok_p999'], 3)} "
          f"| {fmt(m['shed_p50'], 3)} / {fmt(m['shed_p99'], 3)} / {fmt(m['shed_p999'], 3)} | "
          f"| {fmt(m['before_p99'], 3)} | {fmt(first_after, 3)} (OK calls only: {fmt(first_after_ok, 3)}) | |")
print()
if left_out:
    print(f"Not in the medians: run {', '.join(left_out)} (INVALID, or C only a lower bound).\n")
span = before_s + surge_s + after_s + 1
print(f"rankd's CPU during the overload run ({span:.0f} s with the warm-up; threads named by where they wait at rest): "
      + "; ".join(f"run {r['run']}: " + (", ".join(f"{k} {v:.1f} s" for k, v in sorted(r["cpu"].items())) or "-")
                  for r in rows))
print()
print("Calls rankd refused for overload by its own count (`kill -USR1`, the whole run with the search): "
      + ", ".join(f"run {r['run']}: {r['rejected_overload'] or '-'}" for r in rows))
print()
if not counted:
    print("No run was valid with a measured C: no medians, no verdicts.")
    sys.exit(0)


def verdict(value, bound, at_least=False):
    if value is None:
        return "not measured"
    return "**met**" if (value >= bound if at_least else value <= bound) else "**not met**"


def runs_of(key, scale=1.0, digits=3, suffix=""):
    return ", ".join(fmt(None if r[key] is None else r[key] * scale, digits) + suffix for r in counted)


print("| goal | median (counted runs) | verdict |")
print("|---|---|---|")
print(f"| admitted (OK) calls hold p99 <= 10 ms at 2C | {fmt(m['ok_p99'], 3)} ms ({runs_of('ok_p99')}) "
      f"| {verdict(m['ok_p99'], 10)} |")
print(f"| refusals answered within 1 ms at p99 | {fmt(m['shed_p99'], 3)} ms ({runs_of('shed_p99')}) "
      f"| {verdict(m['shed_p99'], 1)} |")
print(f"| goodput >= 90% of C | {fmt(m['ratio'] * 100, 0)}% ({runs_of('ratio', 100, 0, '%')}) "
      f"| {verdict(m['ratio'], 0.9, at_least=True)} |")
firsts = ", ".join(fmt(r["after_p99"][0] if r["after_p99"] else None, 3) for r in counted)
print(f"| p99 back under 10 ms in the first second after the drop | {fmt(first_after, 3)} ms ({firsts}) "
      f"| {verdict(first_after, 10)} |")
