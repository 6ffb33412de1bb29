#!/usr/bin/python3
"""The JSON query log ([query_log] table): one line per query, written off the hot path,
whose fields match the query (time, client, transport, name, type, rcode, answer source,
upstream, latency); `sample = N` logs one query in N.

Run: /usr/bin/python3 tests/integration/test_query_log.py --binary build/vnetdns --source .
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402


def read_lines(path, want, names, deadline_s=10.0):
    """The JSON lines of `path` for the query names in `names`, once there are at least `want`
    of them (bounded poll: the writer thread flushes on its own schedule; the harness's
    readiness probes, for other names, are left out)."""
    until = time.monotonic() + deadline_s
    lines = []
    while time.monotonic() < until:
        if os.path.exists(path):
            with open(path) as f:
                lines = [json.loads(l) for l in f if l.strip()]
            lines = [l for l in lines if l["name"] in names]
            if len(lines) >= want:
                return lines
        time.sleep(0.05)  # polling a file the server writes; bounded by the deadline above
    return lines


def start(ctx, sample=1):
    s = ctx.standin()
    log = os.path.join(ctx.workdir, f"queries-{sample}.log")
    toml = f'[query_log]\nfile = "{log}"\nsample = {sample}\n'
    v = ctx.vnetdns(zones=[h.private_zone("nxdomain")],
                    forwards=[{"zone": ".", "upstreams": [s.upstream()]}], extra_toml=toml)
    return s, v, log


def check_lines_match_queries(ctx, t):
    """each answered query gives one JSON line with its name, type, rcode, source, upstream"""
    s, v, log = start(ctx)
    names = ["myregistry.privatelink.azurecr.io.", "otherregistry.azurecr.io.",
             "nope.privatelink.azurecr.io."]
    h.udp(h.LOOPBACK4, v.port, names[0], "A")
    h.udp(h.LOOPBACK4, v.port, names[1], "A")
    h.tcp(h.LOOPBACK4, v.port, names[2], "AAAA")
    lines = read_lines(log, 3, names)
    t.eq([l["name"] for l in lines], names, "one line per query, in order")
    if len(lines) != 3:
        return
    local, fwd, nx = lines
    t.eq((local["name"], local["type"], local["rcode"], local["source"], local["upstream"]),
         ("myregistry.privatelink.azurecr.io.", "A", "NOERROR", "local", None),
         "local answer: name, type, rcode, source, no upstream")
    t.eq((local["transport"], local["client"].startswith("127.0.0.1:")), ("udp", True),
         "local answer: transport and client")
    t.eq((fwd["name"], fwd["source"], fwd["upstream"]),
         ("otherregistry.azurecr.io.", "upstream", s.upstream()),
         "forwarded answer: source upstream, the stand-in's address")
    t.eq((nx["name"], nx["type"], nx["rcode"], nx["transport"]),
         ("nope.privatelink.azurecr.io.", "AAAA", "NXDOMAIN", "tcp"), "NXDOMAIN over TCP")
    t.ok(all(isinstance(l["latency_ms"], (int, float)) and l["latency_ms"] >= 0 for l in lines),
         "every line has a latency")
    t.ok(all(l["time"].endswith("Z") for l in lines), "every line has a UTC time")


def check_sample(ctx, t):
    """sample = 4 logs one query in four"""
    _, v, log = start(ctx, sample=4)
    name = "myregistry.privatelink.azurecr.io."
    for _ in range(40):
        h.udp(h.LOOPBACK4, v.port, name, "A")
    lines = read_lines(log, 11, [name], 3.0)  # wait for an 11th that must not come
    t.eq(len(lines), 10, "40 queries, sample = 4: 10 lines")


if __name__ == "__main__":
    sys.exit(h.main([check_lines_match_queries, check_sample], __doc__))
