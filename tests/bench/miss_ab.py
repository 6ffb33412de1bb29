#!/usr/bin/python3
"""Cache misses only, A/B: one or more vnetdns binaries and dnsdist in alternating rounds,
with the benchmark's setup (bench.py: same knotd upstream, names, configs, pinning, dnsperf
settings). About a minute per round instead of the full benchmark's twenty, for trying a
change to the miss path. Reports per round and the medians: queries/s, µs of server CPU per
miss, the upstream's CPU per miss (knotd: it shares a core with dnsperf, so a server that
wakes it more often is slower there) and the server's involuntary context switches.

    tests/bench/miss_ab.py --rounds 3 build-bench/vnetdns /tmp/old/vnetdns

Needs what tests/bench/run.sh installs (run that once). Loopback only; every process is a
child of this script, stopped by PID.
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile

import bench as b


def involuntary_switches(pid):
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith("nonvoluntary_ctxt_switches:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def user_system(pid):
    """The process's user and system CPU seconds (own threads only)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / b.CLK_TCK, int(fields[12]) / b.CLK_TCK


def one(label, server, d, opts, up, n):
    p = b.start_server(server, d, opts)
    try:
        k0, s0 = b.cpu_seconds(up.proc.pid), involuntary_switches(p.pid)
        us0 = user_system(p.pid)
        r = b.measured(p, up, lambda: b.dnsperf(b.ADDR[server], opts["q_miss"], once=True,
                                                  outstanding=100, seconds=opts["miss_cap"],
                                                  nice=opts["nice"]))
        r["knot_us_per_q"] = (b.cpu_seconds(up.proc.pid) - k0) * 1e6 / max(r["answered"], 1)
        r["preempted_per_q"] = (involuntary_switches(p.pid) - s0) / max(r["answered"], 1)
        us1 = user_system(p.pid)
        r["user_us_per_q"] = (us1[0] - us0[0]) * 1e6 / max(r["answered"], 1)
        r["sys_us_per_q"] = (us1[1] - us0[1]) * 1e6 / max(r["answered"], 1)
    finally:
        p.stop()
    print(f"{label:40s} {r['qps']:9,.0f} q/s  {r['us_per_q']:6.2f} µs/q (user {r['user_us_per_q']:5.2f} "
          f"sys {r['sys_us_per_q']:5.2f})  knotd "
          f"{r['knot_us_per_q']:5.2f} µs/q  preempted {r['preempted_per_q']:.3f}/q  "
          f"answered {r['answered']:,.0f}/{n:,}", flush=True)
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("binaries", nargs="+", help="vnetdns binaries (Release builds)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--misses", type=int, default=100000)
    ap.add_argument("--no-dnsdist", action="store_true")
    ap.add_argument("--nice", type=int, default=-10)
    ap.add_argument("--source", default=os.path.dirname(os.path.dirname(b.HERE)))
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="vnetdns-miss-ab.")
    opts = {"local": b.write_data(d, a.misses), "nice": a.nice, "miss_cap": 40,
            "q_miss": os.path.join(d, "q-miss.txt")}
    up = b.Upstream(d, a.source, a.nice)
    runs = [(os.path.abspath(x), "vnetdns", x) for x in a.binaries]
    if not a.no_dnsdist:
        runs.append((None, "dnsdist", "dnsdist"))
    res = {label: [] for _, _, label in runs}
    try:
        up.start()
        for rnd in range(a.rounds):
            print(f"-- round {rnd + 1}/{a.rounds}", flush=True)
            for binary, server, label in runs:
                o = dict(opts, vnetdns_bin=binary) if binary else opts
                res[label].append(one(label, server, d, o, up, a.misses))
    finally:
        for p in list(b.Proc.live):
            p.stop()
        shutil.rmtree(d, ignore_errors=True)
    print("-- medians")
    base = statistics.median(r["qps"] for r in res["dnsdist"]) if "dnsdist" in res else None
    for label, rs in res.items():
        q = statistics.median(r["qps"] for r in rs)
        us = statistics.median(r["us_per_q"] for r in rs)
        ratio = f"  {q / base:.2f}x dnsdist" if base else ""
        print(f"{label:40s} {q:9,.0f} q/s  {us:6.2f} µs/q{ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
