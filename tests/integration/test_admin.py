#!/usr/bin/python3
"""The admin endpoint ([admin]): /metrics moves by exactly what a known sequence of queries
should move it by, and is valid Prometheus text (checked here, and by `promtool check
metrics` when installed); /healthz; /readyz (503 once the only upstream is marked down);
cache flush by name and zone, and dump; 403 outside [admin] allow; `vnetdns ctl`.
All on loopback, against the stand-in for Azure DNS (knotd).

Run: /usr/bin/python3 tests/integration/test_admin.py --binary build/vnetdns --source .
"""

import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

import dns.rcode  # noqa: E402

PUBLIC_MY = "20.45.122.144"
CACHED = "weu-acr-reg.cloudapp.example"


def start_pair(ctx, allow=None, admin_addr=h.LOOPBACK4, upstream=None, **kw):
    s = ctx.standin() if upstream is None else None
    aport = h.free_port((admin_addr,))
    v = ctx.vnetdns(zones=[h.private_zone()],
                    forwards=[{"zone": ".", "upstreams": [upstream or s.upstream()], **kw}],
                    extra_toml=h.admin_toml(aport, admin_addr, allow))
    v.admin_port = aport
    return s, v


def scrape(v, t=None):
    status, body = h.http_request(h.LOOPBACK4, v.admin_port, "GET", "/metrics")
    if status != 200:
        raise RuntimeError(f"/metrics answered {status}: {body}")
    return h.parse_prometheus(body), body


def check_metrics_exact(ctx, t):
    """a known sequence of queries moves each counter by exactly the expected amount"""
    s, v = start_pair(ctx)
    m0, _ = scrape(v)
    c0 = s.query_count()
    # 3 local answers
    for name in ("myregistry.privatelink.azurecr.io", "ns1.privatelink.azurecr.io",
                 "myregistry.westeurope.data.privatelink.azurecr.io"):
        t.eq(dns.rcode.to_text(h.udp(h.LOOPBACK4, v.port, name).rcode()), "NOERROR",
             f"local: {name} NOERROR")
    # 2 forwarded questions, the second answered from the cache
    for _ in range(2):
        t.eq(h.answer_addresses(h.udp(h.LOOPBACK4, v.port, CACHED)), [PUBLIC_MY],
             f"forwarded: {CACHED} -> {PUBLIC_MY}")
    # 1 REFUSED (class CH is never served)
    q = h.make_query("version.bind", "TXT")
    q.question[0].rdclass = 3
    t.eq(dns.rcode.to_text(h.udp(h.LOOPBACK4, v.port, q).rcode()), "REFUSED",
         "version.bind CH TXT: REFUSED")
    m1, text = scrape(v)

    def d(name, **labels):
        return h.metric(m1, name, **labels) - h.metric(m0, name, **labels)

    want = [
        (("vnetdns_queries_total", {"transport": "udp"}), 6),
        (("vnetdns_queries_total", {"transport": "tcp"}), 0),
        (("vnetdns_queries_by_type_total", {"qtype": "A"}), 5),
        (("vnetdns_queries_by_type_total", {"qtype": "TXT"}), 1),
        (("vnetdns_responses_total", {"rcode": "NOERROR"}), 5),
        (("vnetdns_responses_total", {"rcode": "REFUSED"}), 1),
        (("vnetdns_responses_total", {"rcode": "SERVFAIL"}), 0),
        (("vnetdns_answers_total", {"source": "local"}), 3),
        (("vnetdns_answers_total", {"source": "cache"}), 1),
        (("vnetdns_answers_total", {"source": "upstream"}), 1),
        (("vnetdns_answers_total", {"source": "synthesized"}), 1),
        (("vnetdns_forwarded_total", {}), 1),
        (("vnetdns_cache_hits_total", {}), 1),
        (("vnetdns_cache_inserts_total", {}), 1),
        (("vnetdns_cache_entries", {}), 1),
        (("vnetdns_upstream_queries_total", {"rule": ".", "upstream": s.upstream()}), 1),
        (("vnetdns_upstream_errors_total", {"rule": ".", "upstream": s.upstream()}), 0),
        (("vnetdns_dropped_total", {"reason": "acl"}), 0),
        (("vnetdns_reloads_total", {}), 0),
    ]
    for (name, labels), n in want:
        shown = name + ("{" + ",".join(f'{k}="{v_}"' for k, v_ in labels.items()) + "}"
                        if labels else "")
        t.eq(d(name, **labels), n, f"{shown} moved by {n}")
    t.eq(h.metric(m1, "vnetdns_upstream_up", rule=".", upstream=s.upstream()), 1.0,
         "vnetdns_upstream_up is 1 for the stand-in")
    t.eq(s.query_count() - c0, 1, "the stand-in saw exactly one query")
    t.eq(h.metric(m1, "vnetdns_zone_serial", zone="privatelink.azurecr.io."), 1.0,
         "vnetdns_zone_serial shows the zone's serial")

    promtool = shutil.which("promtool")
    if promtool is None:
        print("# SKIP promtool check: promtool not installed (Debian package 'prometheus'); "
              "the format was checked by harness.parse_prometheus above", flush=True)
    else:
        r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                           text=True, timeout=30)
        t.eq(r.returncode, 0, "promtool check metrics accepts /metrics", r.stdout + r.stderr)


def check_health_ready(ctx, t):
    """/healthz is 200; /readyz is 200 with a live upstream and 503 once the only one is down"""
    s, v = start_pair(ctx)
    t.eq(h.http_request(h.LOOPBACK4, v.admin_port, "GET", "/healthz"), (200, "ok\n"),
         "/healthz: 200 ok")
    status, body = h.http_request(h.LOOPBACK4, v.admin_port, "GET", "/readyz")
    t.eq(status, 200, "/readyz with the stand-in up: 200", body)

    dead = f"{h.LOOPBACK4}:{h.free_port()}"  # nothing listens there: refused at once
    _, w = start_pair(ctx, upstream=dead, timeout="200ms", deadline="600ms")
    status, body = h.http_request(h.LOOPBACK4, w.admin_port, "GET", "/readyz")
    t.eq(status, 200, "/readyz before any failure: 200 (no upstream marked down yet)", body)
    got = None
    for i in range(6):  # a few failed queries mark the only upstream down
        m = h.udp(h.LOOPBACK4, w.port, f"q{i}.example", timeout=3)
        t.eq(dns.rcode.to_text(m.rcode()), "SERVFAIL", f"q{i}.example via a dead upstream: SERVFAIL")
        got = h.http_request(h.LOOPBACK4, w.admin_port, "GET", "/readyz")
        if got[0] == 503:
            break
    t.eq(got[0], 503, "/readyz once the only upstream is down: 503", got)
    t.ok("not ready" in got[1] and dead in got[1], "/readyz says why and names the upstream",
         got[1])
    m, _ = scrape(w)
    t.eq(h.metric(m, "vnetdns_upstream_up", rule=".", upstream=dead), 0.0,
         "vnetdns_upstream_up is 0 for the dead upstream")
    t.ok(h.metric(m, "vnetdns_upstream_errors_total", rule=".", upstream=dead) >= 3,
         "vnetdns_upstream_errors_total counts the failures")


def check_flush_and_dump(ctx, t):
    """flush by name makes the next query go upstream; dump shows the entry; flush by zone"""
    s, v = start_pair(ctx)
    h.udp(h.LOOPBACK4, v.port, CACHED)
    status, body = h.http_request(h.LOOPBACK4, v.admin_port, "GET", f"/cache/dump?name={CACHED}")
    t.eq(status, 200, "dump: 200")
    import json
    dump = json.loads(body)
    t.eq(dump.get("name"), CACHED + ".", "dump: the name")
    rows = [(e["type"], e["kind"], e["dnssec_ok"]) for e in dump.get("entries", [])]
    t.eq(rows, [("A", "positive", False)], "dump: one positive A entry", body)
    ttl = dump["entries"][0]["ttl"] if dump.get("entries") else -1
    t.ok(0 < ttl <= 300, "dump: a remaining TTL within the record's 300 s", body)

    c1 = s.query_count()
    h.udp(h.LOOPBACK4, v.port, CACHED)
    t.eq(s.query_count(), c1, "cached: the repeat did not reach the stand-in")
    t.eq(h.http_request(h.LOOPBACK4, v.admin_port, "POST", f"/cache/flush?name={CACHED}"),
         (200, "flushed 1 entries\n"), "POST /cache/flush?name=: flushed 1 entry")
    status, body = h.http_request(h.LOOPBACK4, v.admin_port, "GET", f"/cache/dump?name={CACHED}")
    t.eq(json.loads(body).get("entries"), [], "dump after the flush: nothing")
    t.eq(h.answer_addresses(h.udp(h.LOOPBACK4, v.port, CACHED)), [PUBLIC_MY],
         "after the flush: same answer")
    t.eq(s.query_count(), c1 + 1, "after the flush: the query went to the stand-in once")

    # flush by zone: the name and everything below the suffix
    status, body = h.http_request(h.LOOPBACK4, v.admin_port, "POST",
                                  "/cache/flush?zone=cloudapp.example")
    t.eq((status, body), (200, "flushed 1 entries\n"), "POST /cache/flush?zone=: 1 entry")
    h.udp(h.LOOPBACK4, v.port, CACHED)
    t.eq(s.query_count(), c1 + 2, "after the zone flush: upstream again")
    # everything
    status, body = h.http_request(h.LOOPBACK4, v.admin_port, "POST", "/cache/flush")
    t.ok(status == 200 and body.startswith("flushed "), "POST /cache/flush: 200", body)
    m, _ = scrape(v)
    t.eq(h.metric(m, "vnetdns_cache_entries"), 0.0, "after flushing all: cache is empty")


def check_errors(ctx, t):
    """unknown paths, wrong methods and bad names get 404, 405 and 400"""
    s, v = start_pair(ctx)
    r = lambda m, p: h.http_request(h.LOOPBACK4, v.admin_port, m, p)[0]  # noqa: E731
    t.eq(r("GET", "/nope"), 404, "GET /nope: 404")
    t.eq(r("POST", "/metrics"), 405, "POST /metrics: 405")
    t.eq(r("GET", "/reload"), 405, "GET /reload: 405")
    t.eq(r("GET", "/cache/flush"), 405, "GET /cache/flush: 405")
    t.eq(r("POST", "/cache/flush?name=a..b"), 400, "flush of a bad name: 400")
    t.eq(r("POST", "/cache/flush?color=red"), 400, "flush with an unknown parameter: 400")
    t.eq(r("GET", "/cache/dump"), 400, "dump without name=: 400")
    t.ok(v.alive(), "still running")


def check_forbidden(ctx, t):
    """a client outside [admin] allow gets 403; an allowed one gets 200"""
    s, v = start_pair(ctx, allow=["127.0.0.1/32"])
    status, body = h.http_request(h.LOOPBACK4, v.admin_port, "GET", "/metrics", source="127.0.0.2")
    t.eq(status, 403, "/metrics from 127.0.0.2 (not allowed): 403", body)
    status, _ = h.http_request(h.LOOPBACK4, v.admin_port, "POST", "/cache/flush",
                               source="127.0.0.2")
    t.eq(status, 403, "POST /cache/flush from 127.0.0.2: 403")
    status, _ = h.http_request(h.LOOPBACK4, v.admin_port, "GET", "/healthz", source="127.0.0.1")
    t.eq(status, 200, "/healthz from 127.0.0.1 (allowed): 200")


def ctl(ctx, v, *args):
    return subprocess.run([ctx.binary, "ctl", *args], capture_output=True, text=True,
                          timeout=30, stdin=subprocess.DEVNULL)


def check_ctl(ctx, t):
    """vnetdns ctl stats|reload|flush|dump talk to the admin endpoint named in the config"""
    s, v = start_pair(ctx)
    h.udp(h.LOOPBACK4, v.port, CACHED)
    r = ctl(ctx, v, "stats", "-c", v.config)
    t.eq(r.returncode, 0, "ctl stats: exit 0", r.stderr)
    t.ok('vnetdns_queries_total{transport="udp"}' in r.stdout and "# " not in r.stdout,
         "ctl stats: prints the samples", r.stdout[:400])
    r = ctl(ctx, v, "dump", CACHED, "-c", v.config)
    t.ok(r.returncode == 0 and '"type":"A"' in r.stdout, "ctl dump NAME: shows the A entry",
         r.stdout + r.stderr)
    r = ctl(ctx, v, "flush", CACHED, "-c", v.config)
    t.eq((r.returncode, r.stdout), (0, "flushed 1 entries\n"), "ctl flush NAME", r.stderr)
    c = s.query_count()
    h.udp(h.LOOPBACK4, v.port, CACHED)
    t.eq(s.query_count(), c + 1, "after ctl flush NAME: the next query went upstream")
    r = ctl(ctx, v, "flush", "--admin", f"{h.LOOPBACK4}:{v.admin_port}")
    t.ok(r.returncode == 0 and r.stdout.startswith("flushed "), "ctl flush --admin ADDR (all)",
         r.stdout + r.stderr)
    mark = v.child.line_count()
    r = ctl(ctx, v, "reload", "-c", v.config)
    t.eq((r.returncode, r.stdout), (0, "reloaded\n"), "ctl reload: exit 0, 'reloaded'", r.stderr)
    v.child.wait_for_line(r"reloaded", 5, after=mark)
    r = ctl(ctx, v, "ready", "-c", v.config)
    t.eq(r.returncode, 0, "ctl ready: exit 0", r.stdout + r.stderr)
    r = ctl(ctx, v, "stats", "--admin", f"{h.LOOPBACK4}:{h.free_port()}")
    t.ok(r.returncode == 1 and "cannot connect" in r.stderr, "ctl against a closed port: exit 1",
         r.stderr)
    r = ctl(ctx, v, "frobnicate")
    t.eq(r.returncode, 2, "ctl with an unknown subcommand: exit 2")


if __name__ == "__main__":
    sys.exit(h.main([check_metrics_exact, check_health_ready, check_flush_and_dump,
                     check_errors, check_forbidden, check_ctl], __doc__))
