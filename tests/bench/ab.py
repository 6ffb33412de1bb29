#!/usr/bin/python3
"""One workload, A/B: one or more vnetdns binaries and a reference server in alternating
rounds, with the benchmark's setup (bench.py: same knotd upstream, names, configs, pinning,
dnsperf settings). A minute or two per round instead of the full benchmark's twenty, for
trying a change to one path. Reports per round and the medians: queries/s, µs of server CPU
per query (user and system), the upstream's CPU per query (knotd: it shares a core with
dnsperf, so a server that wakes it more often is slower there) and the server's involuntary
context switches.

  --workload miss   (default) the miss names once each from a fresh start; against dnsdist
  --workload hit    cache hits under dnsperf (warmed); against the echo responder
  --workload local  local-zone answers under dnsperf; against the echo responder
  --workload batched  cache hits under the batched generator (loadgen); against the echo

    tests/bench/ab.py --rounds 3 build-bench/vnetdns /tmp/old/vnetdns
    tests/bench/ab.py --workload hit build-bench/vnetdns /tmp/old/vnetdns

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


def one(label, server, d, opts, up, workload):
    p = b.start_server(server, d, opts)
    addr = b.ADDR[server]
    try:
        if workload == "miss":
            load = lambda: b.dnsperf(addr, opts["q_miss"], once=True, outstanding=100,  # noqa: E731
                                     seconds=opts["miss_cap"], nice=opts["nice"])
        else:
            qfile = opts["q_local"] if workload == "local" else opts["q_hit"]
            b.dnsperf(addr, qfile, once=True, nice=opts["nice"])  # warm
            if workload == "batched":
                load = lambda: b.loadgen(opts, addr, qfile, opts["duration"])  # noqa: E731
            else:
                load = lambda: b.dnsperf(addr, qfile, seconds=opts["duration"],  # noqa: E731
                                         nice=opts["nice"])
        k0, s0 = b.cpu_seconds(up.proc.pid), involuntary_switches(p.pid)
        us0 = user_system(p.pid)
        r = b.measured(p, up, load)
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
          f"answered {r['answered']:,.0f}", flush=True)
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("binaries", nargs="+", help="vnetdns binaries (Release builds)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workload", choices=["miss", "hit", "local", "batched"], default="miss")
    ap.add_argument("--misses", type=int, default=100000)
    ap.add_argument("--duration", type=float, default=5, help="seconds per hit or local run")
    ap.add_argument("--echo", default=os.path.join(os.path.dirname(os.path.dirname(b.HERE)),
                                                   "build-bench", "bench", "echo_responder"),
                    help="the echo responder binary (hit, local, batched)")
    ap.add_argument("--loadgen", default=os.path.join(os.path.dirname(os.path.dirname(b.HERE)),
                                                      "build-bench", "bench", "loadgen"),
                    help="the batched load generator binary (batched)")
    ap.add_argument("--no-reference", action="store_true", help="vnetdns binaries only")
    ap.add_argument("--nice", type=int, default=-10)
    ap.add_argument("--source", default=os.path.dirname(os.path.dirname(b.HERE)))
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="vnetdns-ab.")
    opts = {"local": b.write_data(d, a.misses), "nice": a.nice, "miss_cap": 40,
            "duration": a.duration, "echo_bin": os.path.abspath(a.echo),
            "loadgen_bin": os.path.abspath(a.loadgen),
            "q_miss": os.path.join(d, "q-miss.txt"), "q_hit": os.path.join(d, "q-hit.txt"),
            "q_local": os.path.join(d, "q-local.txt")}
    up = b.Upstream(d, a.source, a.nice)
    runs = [(os.path.abspath(x), "vnetdns", x) for x in a.binaries]
    reference = "dnsdist" if a.workload == "miss" else "echo"
    if not a.no_reference:
        runs.append((None, reference, reference))
    res = {label: [] for _, _, label in runs}
    try:
        up.start()
        for rnd in range(a.rounds):
            print(f"-- round {rnd + 1}/{a.rounds}", flush=True)
            for binary, server, label in runs:
                o = dict(opts, vnetdns_bin=binary) if binary else opts
                res[label].append(one(label, server, d, o, up, a.workload))
    finally:
        for p in list(b.Proc.live):
            p.stop()
        shutil.rmtree(d, ignore_errors=True)
    print("-- medians")
    # misses: rate against dnsdist's; hits and local: CPU per query against the echo's
    key = "qps" if a.workload == "miss" else "us_per_q"
    base = statistics.median(r[key] for r in res[reference]) if reference in res else None
    for label, rs in res.items():
        q = statistics.median(r["qps"] for r in rs)
        us = statistics.median(r["us_per_q"] for r in rs)
        mine = q if key == "qps" else us
        ratio = f"  {mine / base:.2f}x {reference} ({key})" if base else ""
        print(f"{label:40s} {q:9,.0f} q/s  {us:6.2f} µs/q{ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
