#!/usr/bin/env python3
"""Turns RESULT lines (from bench/run.sh) on stdin into comparison tables.

    python3 bench/report.py < results.txt

Results: per scenario/payload, one row per implementation: calls/s, p50 and p99
latency, CPU seconds (client+server) per million calls, server peak RSS.
Ratios: every implementation other than the baselines (netrpc, raw, grpc)
relative to them, and gRPC itself relative to netrpc and raw. Idle connections: the server's RSS with N idle connections.
Targets: the goals of the geerpc implementations, PASS/MISS with the numbers
(informational: the exit code does not depend on them). Standard library only.
Day 7: HTTP CONNECT vs TCP, XClient vs a plain Client, broadcast vs the slowest
of its servers called alone and vs the same three calls sent at once by plain
Clients, the registry, discovery to the first call; each against baselines of
the same run, with its target.
"""
import sys
from collections import defaultdict

BASELINES = ("netrpc", "raw", "grpc")
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
    transport = r.get("transport", "tcp")
    call, servers = r.get("call", "client"), int(r.get("servers", "1"))
    if call == "client":
        call = "" if servers == 1 else f'/server{int(r.get("target", "0")) + 1}of{servers}'
    else:
        call = f"/{call}{servers}" + (f'/{r["connections"]}conns' if "connections" in r else "")
    return (f'{r["impl"]}/{r["codec"]}' + ("" if methods == "plain" else f"/{methods}")
            + ("" if malloc == "tuned" else f"/{malloc}-malloc") + ("" if transport == "tcp" else f"/{transport}")
            + call)


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
    idle, registry, discovery, listed = [], [], [], []
    for r in parse(sys.stdin):
        if r.get("service") == "registry":
            registry.append(r)
        elif r.get("scenario") == "discovery-listed":
            listed.append(r)
        elif r.get("scenario") == "discovery":
            discovery.append(r)
        elif "calls_per_s" in r:
            runs[(r["scenario"], int(r["payload"]))].append(r)
        elif "connections" in r:
            idle.append(r)
    if not runs and not idle and not registry and not discovery and not listed:
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

    # gRPC is a peer, not only a baseline: its own row says where it stands against the others.
    compared = (["grpc"] if "grpc" in impls else []) + others
    if keys and compared:
        rows = []
        for key in keys:
            for impl in compared:
                if impl in cells[key]:
                    calls = get(key, impl, "calls_per_s")
                    vs_grpc = None if impl == "grpc" else ratio(calls, get(key, "grpc", "calls_per_s"))
                    rows.append([key[0], payload_name(key[1]), impl,
                                 fmt(ratio(calls, get(key, "netrpc", "calls_per_s")), 2),
                                 fmt(vs_grpc, 2),
                                 fmt(ratio(calls, get(key, "raw", "calls_per_s")), 2),
                                 fmt(ratio(get(key, impl, "p50_us"), get(key, "raw", "p50_us")), 2)])
        print_table("Ratios (calls/s: higher is better; p50 vs raw: lower is better)",
                    ["scenario", "payload", "impl", "calls/s vs netrpc", "calls/s vs grpc", "calls/s vs raw",
                     "p50 vs raw"], rows)

    if idle:
        rows = [[r["impl"], r.get("codec", "-"), r["connections"], fmt(int(r["server_rss_kb"]) / 1024, 1),
                 r.get("kb_per_conn", "-")] for r in idle]
        print_table("Idle connections (server VmRSS once all are connected)",
                    ["impl", "codec", "connections", "server rss MB", "kB/conn"], rows)

    day7_targets = print_day7(keys, get, metrics, cells, registry, discovery, listed)
    # Day 7's variants have targets of their own, against other baselines.
    print_targets([i for i in others if not any(tag in i for tag in DAY7_TAGS)], get, idle, day7_targets)


MSGPACK = "geerpc/msgpack"
DAY7_TAGS = ("/http", "/xclient", "/broadcast", "/parallel", "/server")


def print_day7(keys, get, metrics, cells, registry, discovery, listed):
    """Day 7's tables; returns its target rows (goal, PASS/MISS text) for the Targets table."""
    targets = []

    def verdict(ok, text):
        return f'{"PASS" if ok else "MISS"} {text}'

    # HTTP CONNECT vs TCP: the same server and client, the connection opened by CONNECT.
    rows = []
    for key in keys:
        http = MSGPACK + "/http"
        if http not in cells[key]:
            continue
        tcp_c, http_c = get(key, MSGPACK, "calls_per_s"), get(key, http, "calls_per_s")
        tcp_p, http_p = get(key, MSGPACK, "p50_us"), get(key, http, "p50_us")
        x = ratio(http_c, tcp_c)
        rows.append([key[0], payload_name(key[1]), fmt(tcp_c), fmt(http_c), fmt(x, 3), fmt(tcp_p, 1), fmt(http_p, 1),
                     fmt(ratio(http_p, tcp_p), 3)])
        if x is not None:
            targets.append((f"http@ calls/s >= 0.95x tcp@ ({key[0]} {payload_name(key[1])})",
                            verdict(x >= 0.95, f"{x:.3f}x")))
    if rows:
        print_table("HTTP CONNECT vs TCP (msgpack; ratio = http / tcp, same run)",
                    ["scenario", "payload", "tcp calls/s", "http calls/s", "calls/s ratio", "tcp p50 us",
                     "http p50 us", "p50 ratio"], rows)

    # XClient round robin over two listeners vs a plain Client to one server; in multi also with
    # 8 XClients, as many connections (16) as the plain Client's.
    rows = []
    pairs = ((MSGPACK + "/xclient2", MSGPACK, ""),
             (MSGPACK + "/xclient2/16conns", MSGPACK, ", 16 connections as the client's"))
    for key in keys:
        for xc, base, note in pairs:
            if xc not in cells[key]:
                continue
            c_c, x_c = get(key, base, "calls_per_s"), get(key, xc, "calls_per_s")
            c_p, x_p = get(key, base, "p50_us"), get(key, xc, "p50_us")
            xr, pr = ratio(x_c, c_c), ratio(x_p, c_p)
            rows.append([key[0], payload_name(key[1]), xc[len(MSGPACK) + 1:], fmt(c_c), fmt(x_c), fmt(xr, 3),
                         fmt(c_p, 1), fmt(x_p, 1), fmt(pr, 3)])
            if key[0] == "seq" and pr is not None:
                targets.append((f"XClient seq per-call overhead <= 5% (p50, {payload_name(key[1])})",
                                verdict(pr <= 1.05, f"{(pr - 1) * 100:+.1f}% ({x_p:.1f} vs {c_p:.1f} us)")))
            elif key[0] != "seq" and xr is not None:
                targets.append((f"XClient {key[0]} calls/s over 2 servers >= 1 server ({payload_name(key[1])}{note})",
                                verdict(xr >= 1.0, f"{xr:.3f}x")))
    if rows:
        print_table("XClient (round robin, 2 listeners of one server) vs a plain Client to one server (msgpack)",
                    ["scenario", "payload", "xclient", "client calls/s", "xclient calls/s", "calls/s ratio",
                     "client p50 us", "xclient p50 us", "p50 ratio"], rows)

    # Broadcast to 3 vs the slowest of the 3 called alone (max over servers of the single-call p50),
    # and vs the same three calls sent at once by plain Clients: on a machine whose cores the client
    # and the three servers share, the latter is the floor a broadcast can reach.
    rows = []
    for key in keys:
        bc = MSGPACK + "/broadcast3"
        if bc not in cells[key]:
            continue
        singles = [get(key, f"{MSGPACK}/server{i}of3", "p50_us") for i in (1, 2, 3)]
        slowest = max(s for s in singles if s is not None) if any(s is not None for s in singles) else None
        b_p, par_p = get(key, bc, "p50_us"), get(key, MSGPACK + "/parallel3", "p50_us")
        x, xp = ratio(b_p, slowest), ratio(b_p, par_p)
        rows.append([key[0], payload_name(key[1]), fmt(b_p, 1)] + [fmt(s, 1) for s in singles]
                    + [fmt(slowest, 1), fmt(x, 3), fmt(par_p, 1), fmt(xp, 3), fmt(get(key, bc, "p99_us"), 1)])
        if x is not None:
            targets.append((f"broadcast p50 <= 1.2x slowest single p50 ({key[0]} {payload_name(key[1])})",
                            verdict(x <= 1.2, f"{x:.2f}x ({b_p:.1f} vs {slowest:.1f} us)")))
        if xp is not None:
            targets.append((f"broadcast p50 <= 1.2x three plain calls at once ({key[0]} {payload_name(key[1])})",
                            verdict(xp <= 1.2, f"{xp:.2f}x ({b_p:.1f} vs {par_p:.1f} us)")))
    if rows:
        print_table("Broadcast to 3 servers vs the slowest single call (p50; singles: a plain Client to each alone;"
                    " parallel: a plain Client to each, the three calls sent at once)",
                    ["scenario", "payload", "broadcast p50", "server1 p50", "server2 p50", "server3 p50",
                     "slowest", "ratio", "parallel p50", "ratio", "broadcast p99"], rows)

    # The registry: heartbeats on one-shot connections, GETs of the whole list.
    rows = []
    for r in registry:
        m = metrics(r)
        if r["scenario"] == "heartbeat":
            base_name = "geerpc/msgpack multi sum calls/s"
            base = get(("multi", 0), MSGPACK, "calls_per_s")
            x = ratio(m[0], base)
        else:
            size = int(r.get("bytes", "0"))
            near = min((k[1] for k in keys if k[0] == "seq" and k[1] > 0 and get(k, "raw", "p50_us")),
                       key=lambda p: abs(p - size), default=None)
            base_name = f"raw seq {payload_name(near)} p50" if near else "raw seq p50"
            base = get(("seq", near), "raw", "p50_us") if near else None
            x = ratio(m[1], base)
        rows.append([r["scenario"], r["servers"], r["window"], fmt(m[0]), fmt(m[1], 1), fmt(m[2], 1),
                     fmt(m[3], 2), fmt(m[4], 1), r.get("bytes", "0"), base_name, fmt(base, 1),
                     fmt(x, 3)])
    if rows:
        print_table("Registry (one Registry, 2 threads; heartbeats each on a new connection, as the real one; "
                    "GET ?format=json)",
                    ["scenario", "servers", "in flight", "req/s", "p50 us", "p99 us", "cpu s/Mreq", "rss MB",
                     "bytes", "baseline", "baseline", "ratio"], rows)

    # Discovery to the first call: etcd's watch vs the registry's poll.
    rows, called = [], {}
    for r in discovery:
        called[r["via"]] = float(r["called_mean_ms"])
        rows.append([r["via"], r["rounds"], r["refresh_ms"] if r["via"] == "registry" else "watch",
                     r["registered_p50_ms"], r["listed_p50_ms"], r["listed_mean_ms"], r["listed_max_ms"],
                     r["called_p50_ms"], r["called_mean_ms"], r["called_max_ms"]])
    if rows:
        x = ratio(called.get("registry"), called.get("etcd"))
        print_table("Discovery to the first call (ms from a server starting to register)"
                    + (f"; registry / etcd mean = {x:,.0f}x" if x else ""),
                    ["via", "rounds", "refresh ms", "registered p50", "listed p50", "listed mean", "listed max",
                     "called p50", "called mean", "called max"], rows)

    # A new discovery reading a long list: how long until it has all of it, and what it adds.
    rows = [[r["via"], r["listed"], r["rounds"], r["full_list_p50_ms"], r["full_list_max_ms"],
             f'{float(r["rss_growth_p50_kb"]) / 1024:.1f}', f'{float(r["rss_growth_max_kb"]) / 1024:.1f}']
            for r in listed]
    if rows:
        print_table("A new discovery reading the whole list (each round's discovery kept alive)",
                    ["via", "servers", "rounds", "full list p50 ms", "max ms", "rss added p50 MB", "max MB"], rows)
    return targets


def print_targets(others, get, idle, day7_targets=()):
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
    if impls:
        rows = [[name] + [goal(impl) for impl in impls] for name, goal in goals]
        print_table("Targets (informational, not an exit status)", ["goal"] + impls, rows)
    if day7_targets:
        print_table("Day 7 targets (same-run baselines; informational)", ["goal", "result"],
                    [list(t) for t in day7_targets])


if __name__ == "__main__":
    main()
