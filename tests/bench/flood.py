#!/usr/bin/python3
"""Water-torture flood: N random names (<random>.flood.test, NXDOMAIN at the upstream) at a
bounded rate against vnetdns forwarding to the Knot stand-in, with the rate limit off and on.
Reports vnetdns's RSS (VmRSS) before, during (peak) and after, and what was answered.

Not part of CTest (minutes of load). Loopback only; every server is a child of this process
(harness.Child: PDEATHSIG, stopped by PID and reaped).

    /usr/bin/python3 tests/bench/flood.py [--binary build/vnetdns] [--count 1000000 | --quick]
        [--rate 1000] [--phases off,on] [--max-seconds S]
"""

import argparse
import contextlib
import json
import os
import random
import select
import shutil
import socket
import struct
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import harness as h  # noqa: E402

RCODES = {0: "NOERROR", 2: "SERVFAIL", 3: "NXDOMAIN", 5: "REFUSED"}
RATE_TOML = "[rate_limit]\nqps = {qps}\nburst = {burst}\nslip = 2\n"


def query(rng, qid):
    label = b"%012x" % rng.getrandbits(48)
    return (struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + bytes([12]) + label +
            b"\x05flood\x04test\x00" + b"\x00\x01\x00\x01")


def flood(v, count, rate, max_seconds, log):
    """Sends `count` queries at `rate`/s (bounded by max_seconds); returns the counters."""
    rng = random.Random(0x5EED)
    pid = v.child.pid
    out = {"sent": 0, "replies": 0, "tc": 0, "rcodes": {}, "rss_before_kib": h.rss_kib(pid)}
    peak = out["rss_before_kib"]
    samples = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        s.setblocking(False)
        start = time.monotonic()
        end = start + max_seconds
        next_sample = start
        tick = 0.005
        while out["sent"] < count and time.monotonic() < end:
            now = time.monotonic()
            due = min(count, int((now - start) * rate) + 1)
            while out["sent"] < due:
                try:
                    s.sendto(query(rng, out["sent"] & 0xFFFF), (h.LOOPBACK4, v.port))
                except BlockingIOError:
                    break
                out["sent"] += 1
            for _ in range(100000):
                try:
                    data = s.recv(4096)
                except BlockingIOError:
                    break
                out["replies"] += 1
                if len(data) >= 4:
                    if data[2] & 0x02:
                        out["tc"] += 1
                    rc = RCODES.get(data[3] & 0x0F, str(data[3] & 0x0F))
                    out["rcodes"][rc] = out["rcodes"].get(rc, 0) + 1
            if now >= next_sample:
                r = h.rss_kib(pid)
                peak = max(peak, r)
                samples.append((round(now - start, 1), out["sent"], r))
                if len(samples) % 10 == 1:
                    log(f"  t={now - start:6.1f}s sent={out['sent']} replies={out['replies']} "
                        f"rss={r} KiB")
                next_sample = now + 1.0
            select.select([s], [], [], tick)
        out["send_seconds"] = round(time.monotonic() - start, 1)
        # Collect the stragglers (bounded).
        settle = time.monotonic() + 5
        while time.monotonic() < settle:
            r, _, _ = select.select([s], [], [], max(0.0, settle - time.monotonic()))
            if not r:
                break
            with contextlib.suppress(BlockingIOError):
                data = s.recv(4096)
                out["replies"] += 1
                if data[2] & 0x02:
                    out["tc"] += 1
                rc = RCODES.get(data[3] & 0x0F, str(data[3] & 0x0F))
                out["rcodes"][rc] = out["rcodes"].get(rc, 0) + 1
    out["rss_peak_kib"] = peak
    out["rss_after_kib"] = h.rss_kib(pid)
    out["dropped"] = out["sent"] - out["replies"]
    out["rss_samples"] = samples[:: max(1, len(samples) // 20)]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "vnetdns"))
    ap.add_argument("--source", default=ROOT)
    ap.add_argument("--count", type=int, default=1_000_000)
    ap.add_argument("--quick", action="store_true", help="50,000 queries per phase")
    ap.add_argument("--rate", type=int, default=1000, help="queries per second (bounded)")
    ap.add_argument("--phases", default="off,on", help="rate limit off and/or on")
    ap.add_argument("--rl-qps", type=int, default=1000, help="[rate_limit] qps when on")
    ap.add_argument("--max-seconds", type=float, default=None,
                    help="bound per phase (default: count/rate * 1.5 + 10)")
    ap.add_argument("--cache-entries", type=int, default=100000)
    ap.add_argument("--json", default=None, help="write the results here")
    args = ap.parse_args()
    count = 50_000 if args.quick else args.count
    max_seconds = args.max_seconds or count / args.rate * 1.5 + 10

    def log(msg):
        print(msg, flush=True)

    workdir = tempfile.mkdtemp(prefix="vnetdns-flood-")
    results = {"count": count, "rate": args.rate, "phases": {}}
    try:
        with contextlib.ExitStack() as stack:
            s = h.StandIn(args.source, workdir)
            stack.callback(s.stop)
            s.start()
            for phase in args.phases.split(","):
                extra = RATE_TOML.format(qps=args.rl_qps, burst=2 * args.rl_qps) \
                    if phase == "on" else ""
                v = h.Vnetdns(os.path.abspath(args.binary), workdir, zones=[h.private_zone()],
                              forwards=[{"zone": ".", "upstreams": [s.upstream()],
                                         "max_qps": 1000000, "max_outstanding": 5000}],
                              cache_entries=args.cache_entries, extra_toml=extra,
                              name=f"vnetdns-{phase}")
                stack.callback(v.stop)
                v.start()
                log(f"# phase rate_limit={phase}: {count} queries at {args.rate}/s "
                    f"(bound {max_seconds:.0f}s), vnetdns PID {v.child.pid}")
                r = flood(v, count, args.rate, max_seconds, log)
                m = h.udp(h.LOOPBACK4, v.port, "myregistry.azurecr.io", timeout=3,
                          source="127.0.9.1")
                r["still_answers"] = h.answer_addresses(m) == ["10.0.0.7"]
                r["alive"] = v.alive()
                r["rss_after_stop_kib"] = None
                results["phases"][phase] = r
                log(f"# phase {phase}: sent {r['sent']} in {r['send_seconds']}s, replies "
                    f"{r['replies']} ({r['rcodes']}, TC {r['tc']}), no reply {r['dropped']}; "
                    f"RSS before {r['rss_before_kib']} KiB, peak {r['rss_peak_kib']} KiB, "
                    f"after {r['rss_after_kib']} KiB; normal query after: "
                    f"{'ok' if r['still_answers'] else 'FAILED'}")
                v.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(results, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    ok = all(p["still_answers"] and p["alive"] for p in results["phases"].values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
