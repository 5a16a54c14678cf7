#!/usr/bin/env python3
"""Turns RESULT lines (from bench/run.sh) on stdin into comparison tables.

    python3 bench/report.py < results.txt

Results: per scenario/payload, one row per implementation: calls/s, p50 and p99
latency, CPU seconds (client+server) per million calls, server peak RSS.
Ratios: every implementation other than the baselines (netrpc, raw) relative
to them. Idle connections: the server's RSS with N idle connections.
Targets: the goals of the geerpc implementations, PASS/MISS with the numbers
(informational: the exit code does not depend on them). Standard library only.
"""
import sys
from collections import defaultdict

BASELINES = ("netrpc", "raw")
SCENARIO_ORDER = {"seq": 0, "shared": 1, "multi": 2}
MIB = 1 << 20


def parse(lines):
    for line in lines:
        if line.startswith("RESULT "):
            yield dict(field.split("=", 1) for field in line.split()[1:])


def label(r):
    # Baselines have one codec each; others may be run once per codec (and kind of method).
    if r["impl"] in BASELINES:
        return r["impl"]
    methods = r.get("methods", "plain")
    malloc = r.get("malloc", "tuned")
    return (f'{r["impl"]}/{r["codec"]}' + ("" if methods == "plain" else f"/{methods}")
            + ("" if malloc == "tuned" else f"/{malloc}-malloc"))


def payload_name(n):
    n = int(n)
    if n == 0:
        return "sum"
    for unit, size in (("MiB", MIB), ("KiB", 1 << 10)):
        if n >= size and n % size == 0:
            return f"{n // size}{unit}"
    return f"{n}B"


def fmt(x, digits=0):
    return "-" if x is None else f"{x:,.{digits}f}"


def print_table(title, header, rows):
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    line = lambda cells: "  ".join(str(c).rjust(w) for c, w in zip(cells, widths))
    print(f"\n{title}\n{line(header)}\n{'  '.join('-' * w for w in widths)}")
    for row in rows:
        print(line(row))


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def main():
    runs = defaultdict(list)  # (scenario, payload) -> [result]
    idle = []
    for r in parse(sys.stdin):
        if "calls_per_s" in r:
            runs[(r["scenario"], int(r["payload"]))].append(r)
        elif "connections" in r:
            idle.append(r)
    if not runs and not idle:
        sys.exit("report.py: no RESULT lines on stdin")

    # With repeated runs of one cell, keep the median by throughput: robust
    # against one noisy run on a small machine.
    cells = {}
    for key, results in runs.items():
        by_impl = defaultdict(list)
        for r in results:
            by_impl[label(r)].append(r)
        cells[key] = {
            impl: sorted(rs, key=lambda r: float(r["calls_per_s"]))[len(rs) // 2]
            for impl, rs in by_impl.items()
        }
    keys = sorted(cells, key=lambda k: (SCENARIO_ORDER.get(k[0], 9), k[0], k[1]))
    impls = sorted({i for c in cells.values() for i in c},
                   key=lambda i: (i not in BASELINES, BASELINES.index(i) if i in BASELINES else 0, i))
    others = [i for i in impls if i not in BASELINES]

    def get(key, impl, field):
        r = cells.get(key, {}).get(impl)
        return float(r[field]) if r and field in r else None

    def metrics(r):
        calls = float(r["calls"])
        cpu = float(r["client_cpu_s"]) + float(r.get("server_cpu_s", "nan"))
        rss = r.get("server_rss_kb")
        return (float(r["calls_per_s"]), float(r["p50_us"]), float(r["p99_us"]),
                cpu / calls * 1e6 if calls else None, int(rss) / 1024 if rss else None)

    if keys:
        rows = []
        for key in keys:
            for impl in impls:
                if impl in cells[key]:
                    m = metrics(cells[key][impl])
                    rows.append([key[0], payload_name(key[1]), impl, fmt(m[0]), fmt(m[1], 1), fmt(m[2], 1),
                                 fmt(m[3], 2), fmt(m[4], 1)])
        print_table("Results (cpu = client + server CPU seconds per million calls)",
                    ["scenario", "payload", "impl", "calls/s", "p50 us", "p99 us", "cpu s/Mcall", "rss MB"], rows)

    if keys and others:
        rows = []
        for key in keys:
            for impl in others:
                if impl in cells[key]:
                    calls = get(key, impl, "calls_per_s")
                    rows.append([key[0], payload_name(key[1]), impl,
                                 fmt(ratio(calls, get(key, "netrpc", "calls_per_s")), 2),
                                 fmt(ratio(calls, get(key, "raw", "calls_per_s")), 2),
                                 fmt(ratio(get(key, impl, "p50_us"), get(key, "raw", "p50_us")), 2)])
        print_table("Ratios (calls/s: higher is better; p50 vs raw: lower is better)",
                    ["scenario", "payload", "impl", "calls/s vs netrpc", "calls/s vs raw", "p50 vs raw"], rows)

    if idle:
        rows = [[r["impl"], r.get("codec", "-"), r["connections"], fmt(int(r["server_rss_kb"]) / 1024, 1),
                 r.get("kb_per_conn", "-")] for r in idle]
        print_table("Idle connections (server VmRSS once all are connected)",
                    ["impl", "codec", "connections", "server rss MB", "kB/conn"], rows)

    print_targets(others, get, idle)


def print_targets(others, get, idle):
    """One row per goal, one column per non-baseline implementation: PASS/MISS and the numbers."""
    def check(value, ok, text):
        return "n/a" if value is None else f'{"PASS" if ok(value) else "MISS"} {text}'

    def calls_vs(impl, scenario, payload, base):
        return ratio(get((scenario, payload), impl, "calls_per_s"), get((scenario, payload), base, "calls_per_s"))

    def at_least(scenario, factor):
        def goal(impl):
            x = calls_vs(impl, scenario, 0, "netrpc")
            return check(x, lambda v: v >= factor, f"{x:.2f}x" if x else "")
        return goal

    def seq_p50(impl):
        mine, raw = get(("seq", 0), impl, "p50_us"), get(("seq", 0), "raw", "p50_us")
        x = ratio(mine, raw)
        return check(x, lambda v: v <= 1.2, f"{x:.2f}x ({mine:.1f} vs {raw:.1f} us)" if x else "")

    def mib(impl):
        found = {s: calls_vs(impl, s, MIB, "netrpc") for s in SCENARIO_ORDER}
        found = {s: x for s, x in found.items() if x is not None}
        worst = min(found.values()) if found else None
        return check(worst, lambda v: v >= 1.0, " ".join(f"{s} {x:.2f}x" for s, x in found.items()))

    def idle_rss(impl):
        r = next((r for r in idle if label(r) == impl), None)
        kb = int(r["server_rss_kb"]) if r else None
        return check(kb, lambda v: v < 100 * 1024, f'{kb / 1024:.1f} MB, {r["connections"]} conns' if r else "")

    goals = [("seq calls/s >= 1.25x netrpc (sum)", at_least("seq", 1.25)),
             ("seq p50 <= 1.2x raw p50 (sum)", seq_p50),
             ("shared calls/s >= 3x netrpc (sum)", at_least("shared", 3.0)),
             ("multi calls/s >= 3x netrpc (sum)", at_least("multi", 3.0)),
             ("1 MiB calls/s >= netrpc (worst scenario)", mib),
             ("idle server RSS < 100 MB", idle_rss)]
    impls = others or sorted({label(r) for r in idle})
    if not impls:
        return
    rows = [[name] + [goal(impl) for impl in impls] for name, goal in goals]
    print_table("Targets (informational, not an exit status)", ["goal"] + impls, rows)


if __name__ == "__main__":
    main()
