#!/usr/bin/python3
"""The guide's "custom DNS" scenario, end to end: vnetdns serves privatelink.azurecr.io from
tests/integration/data and forwards everything else to the stand-in for Azure DNS (knotd with the
public view, deploy/standin). Checks what a VM inside the VNet sees (the private address) against
what the internet sees (the public chain), over UDP, TCP and IPv6, plus caching and letter case.

Run: /usr/bin/python3 tests/integration/test_guide_scenario.py --binary build/vnetdns --source .
"""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

import dns.flags  # noqa: E402
import dns.message  # noqa: E402
import dns.rcode  # noqa: E402
import dns.rdatatype  # noqa: E402

PUBLIC_MY = "20.45.122.144"
PUBLIC_OTHER = "20.45.122.145"


def start_pair(ctx, on_miss="nxdomain"):
    s = ctx.standin()
    v = ctx.vnetdns(zones=[h.private_zone(on_miss)],
                    forwards=[{"zone": ".", "upstreams": [s.upstream()]}])
    return s, v


def has_rr(msg, owner, rdtype, rdata=None, section="answer"):
    for rr in getattr(msg, section):
        if rr.name.to_text().lower() == owner.lower() and rr.rdtype == dns.rdatatype.from_text(
                rdtype):
            if rdata is None or any(rd.to_text().lower() == rdata.lower() for rd in rr):
                return True
    return False


def check_validation_dig(ctx, t):
    """(a) dig myregistry.azurecr.io: private chain via vnetdns, public chain from the stand-in"""
    s, v = start_pair(ctx)
    r = h.dig(h.LOOPBACK4, v.port, "myregistry.azurecr.io")
    ans = h.dig_section(r.stdout)
    t.eq(h.dig_status(r.stdout), "NOERROR", "vnetdns: myregistry.azurecr.io is NOERROR")
    t.ok(any(l.startswith("myregistry.azurecr.io. ") and l.endswith(
        "IN CNAME myregistry.privatelink.azurecr.io.") for l in ans),
        "vnetdns: answer has myregistry.azurecr.io CNAME myregistry.privatelink.azurecr.io.",
        r.stdout)
    t.ok("myregistry.privatelink.azurecr.io. 10 IN A 10.0.0.7" in ans,
         "vnetdns: answer has 'myregistry.privatelink.azurecr.io. 10 IN A 10.0.0.7'", r.stdout)
    t.ok(not any(PUBLIC_MY in l or "trafficmanager" in l or "cloudapp" in l for l in ans),
         "vnetdns: the public part of the chain is not in the answer", r.stdout)
    t.eq(len(ans), 2, "vnetdns: exactly the two records of the guide")

    r = h.dig(s.addr, s.port, "myregistry.azurecr.io")
    ans = h.dig_section(r.stdout)
    t.ok(bool(ans) and ans[-1].endswith(f"IN A {PUBLIC_MY}") and "10.0.0.7" not in r.stdout,
         f"stand-in: the same question ends in the public {PUBLIC_MY}", r.stdout)

    # kdig and drill read the same answer
    r = h.kdig(h.LOOPBACK4, v.port, "+short", "myregistry.azurecr.io")
    t.eq(r.stdout.split(), ["myregistry.privatelink.azurecr.io.", "10.0.0.7"],
         "kdig +short: CNAME then 10.0.0.7")
    r = h.run_tool(["drill", "-p", str(v.port), "myregistry.azurecr.io", f"@{h.LOOPBACK4}"])
    t.ok(r.returncode == 0 and "10.0.0.7" in r.stdout, "drill: 10.0.0.7", r.stdout + r.stderr)


def check_data_endpoint(ctx, t):
    """(b) the data endpoint of a replica answers from the private zone with AA"""
    s, v = start_pair(ctx)
    before = s.query_count()
    m = h.udp(h.LOOPBACK4, v.port, "myregistry.westeurope.data.privatelink.azurecr.io")
    t.eq(m.rcode(), dns.rcode.NOERROR, "data endpoint: NOERROR")
    t.eq(h.answer_addresses(m), ["10.0.0.6"], "data endpoint: A 10.0.0.6")
    t.ok(m.flags & dns.flags.AA, "data endpoint: AA=1 (local zone is authoritative)")
    t.ok(m.flags & dns.flags.QR and m.flags & dns.flags.RD, "data endpoint: QR=1, RD echoed")
    t.eq(s.query_count(), before, "data endpoint: the upstream was not asked")
    # and through the public name, as docker would ask it
    m = h.udp(h.LOOPBACK4, v.port, "myregistry.westeurope.data.azurecr.io")
    t.eq(h.answer_addresses(m), ["10.0.0.6"],
         "myregistry.westeurope.data.azurecr.io: spliced to 10.0.0.6")


def check_other_registry(ctx, t):
    """(c) a registry absent from the private zone: NXDOMAIN, or the public answer on_miss=forward"""
    s, v = start_pair(ctx, "nxdomain")
    m = h.udp(h.LOOPBACK4, v.port, "otherregistry.privatelink.azurecr.io")
    t.eq(dns.rcode.to_text(m.rcode()), "NXDOMAIN",
         "on_miss=nxdomain: otherregistry.privatelink.azurecr.io is NXDOMAIN")
    t.ok(m.flags & dns.flags.AA, "on_miss=nxdomain: the NXDOMAIN is authoritative (AA=1)")
    t.ok(has_rr(m, "privatelink.azurecr.io.", "SOA", section="authority"),
         "on_miss=nxdomain: SOA of the private zone in authority", m.to_text())
    m = h.udp(h.LOOPBACK4, v.port, "otherregistry.azurecr.io")
    t.eq(dns.rcode.to_text(m.rcode()), "NXDOMAIN",
         "on_miss=nxdomain: otherregistry.azurecr.io (CNAME into the private zone) is NXDOMAIN")
    t.ok(PUBLIC_OTHER not in m.to_text(), "on_miss=nxdomain: no public address leaks",
         m.to_text())
    v.stop()

    v2 = ctx.vnetdns(zones=[h.private_zone("forward")],
                     forwards=[{"zone": ".", "upstreams": [s.upstream()]}], name="vnetdns-fwd")
    for q in ("otherregistry.privatelink.azurecr.io", "otherregistry.azurecr.io"):
        m = h.udp(h.LOOPBACK4, v2.port, q)
        t.eq(dns.rcode.to_text(m.rcode()), "NOERROR", f"on_miss=forward: {q} is NOERROR")
        t.eq(h.answer_addresses(m), [PUBLIC_OTHER], f"on_miss=forward: {q} ends in the public "
             f"{PUBLIC_OTHER}")
    m = h.udp(h.LOOPBACK4, v2.port, "myregistry.azurecr.io")
    t.eq(h.answer_addresses(m), ["10.0.0.7"], "on_miss=forward: myregistry is still private")
    m = h.udp(h.LOOPBACK4, v2.port, "myregistry.westeurope.data.privatelink.azurecr.io")
    t.eq(h.answer_addresses(m), ["10.0.0.6"], "on_miss=forward: data endpoint still private")


def check_nodata(ctx, t):
    """(d) AAAA for a name with only an A record: NODATA with the SOA"""
    s, v = start_pair(ctx)
    m = h.udp(h.LOOPBACK4, v.port, "myregistry.privatelink.azurecr.io", "AAAA")
    t.eq(dns.rcode.to_text(m.rcode()), "NOERROR", "AAAA myregistry.privatelink: NOERROR")
    t.eq(len(m.answer), 0, "AAAA myregistry.privatelink: empty answer")
    t.ok(has_rr(m, "privatelink.azurecr.io.", "SOA", section="authority"),
         "AAAA myregistry.privatelink: SOA in authority", m.to_text())
    t.ok(m.flags & dns.flags.AA, "AAAA myregistry.privatelink: AA=1")
    soa = [rr for rr in m.authority if rr.rdtype == dns.rdatatype.SOA]
    if soa:
        t.ok(soa[0].ttl <= 10, "NODATA SOA TTL is capped by the SOA minimum (10)", soa[0].ttl)


def check_tcp(ctx, t):
    """(e) the same answers over TCP: dig +tcp and two queries on one dnspython connection"""
    s, v = start_pair(ctx)
    r = h.dig(h.LOOPBACK4, v.port, "+tcp", "myregistry.azurecr.io")
    ans = h.dig_section(r.stdout)
    t.ok("(TCP)" in r.stdout, "dig +tcp used TCP", r.stdout)
    t.ok("myregistry.privatelink.azurecr.io. 10 IN A 10.0.0.7" in ans and any(
        "IN CNAME myregistry.privatelink.azurecr.io." in l for l in ans),
        "dig +tcp: CNAME and 10.0.0.7", r.stdout)
    qs = [h.make_query("myregistry.azurecr.io", "A"),
          h.make_query("myregistry.westeurope.data.privatelink.azurecr.io", "A"),
          h.make_query("otherregistry.privatelink.azurecr.io", "A")]
    rs = h.tcp_session(h.LOOPBACK4, v.port, qs)
    t.eq(len(rs), 3, "one TCP connection carried three queries")
    t.ok(all(q.id == r.id for q, r in zip(qs, rs)), "TCP: each reply carries its query's ID")
    t.eq(h.answer_addresses(rs[0]), ["10.0.0.7"], "TCP #1: myregistry -> 10.0.0.7")
    t.eq(h.answer_addresses(rs[1]), ["10.0.0.6"], "TCP #2: data endpoint -> 10.0.0.6")
    t.eq(dns.rcode.to_text(rs[2].rcode()), "NXDOMAIN", "TCP #3: otherregistry -> NXDOMAIN")


def check_ipv6(ctx, t):
    """(f) the [::1] listener answers the same, with dig -6 and dnspython"""
    s, v = start_pair(ctx)
    m = h.udp(h.LOOPBACK6, v.port, "myregistry.azurecr.io")
    t.eq(h.answer_addresses(m), ["10.0.0.7"], "[::1] UDP: myregistry.azurecr.io -> 10.0.0.7")
    m = h.tcp(h.LOOPBACK6, v.port, "myregistry.westeurope.data.privatelink.azurecr.io")
    t.eq(h.answer_addresses(m), ["10.0.0.6"], "[::1] TCP: data endpoint -> 10.0.0.6")
    r = h.dig(h.LOOPBACK6, v.port, "-6", "myregistry.azurecr.io")
    t.ok("myregistry.privatelink.azurecr.io. 10 IN A 10.0.0.7" in h.dig_section(r.stdout)
         and "SERVER: ::1#" in r.stdout, "dig @::1: 10.0.0.7", r.stdout)


def check_cache(ctx, t):
    """(g) a second identical forwarded query is served from the cache"""
    s, v = start_pair(ctx)
    name = "weu-acr-reg.cloudapp.example"
    c0 = s.query_count()
    m1 = h.udp(h.LOOPBACK4, v.port, name)
    c1 = s.query_count()
    t.eq(h.answer_addresses(m1), [PUBLIC_MY], f"{name} forwarded: {PUBLIC_MY}")
    t.ok(c1 > c0, "first query reached the stand-in", f"count {c0} -> {c1}")
    m2 = h.udp(h.LOOPBACK4, v.port, name)
    c2 = s.query_count()
    t.eq(h.answer_addresses(m2), [PUBLIC_MY], "second query: same answer")
    t.eq(c2, c1, "second identical query did not reach the stand-in (cache hit)")
    ttl1, ttl2 = m1.answer[0].ttl, m2.answer[0].ttl
    t.ok(ttl2 <= ttl1 <= 300, "cached TTL does not grow", f"{ttl1} then {ttl2}")
    # the same over TCP and over IPv6 share the cache
    m3 = h.tcp(h.LOOPBACK6, v.port, name)
    t.eq((h.answer_addresses(m3), s.query_count()), ([PUBLIC_MY], c1),
         "same question over TCP/[::1]: answered from the cache")
    # a spliced answer is cached too, and stays private
    h.udp(h.LOOPBACK4, v.port, "myregistry.azurecr.io")
    c3 = s.query_count()
    m4 = h.udp(h.LOOPBACK4, v.port, "myregistry.azurecr.io")
    t.eq((h.answer_addresses(m4), s.query_count()), (["10.0.0.7"], c3),
         "myregistry.azurecr.io again: 10.0.0.7 without asking the stand-in")


def _question_bytes(wire):
    """The raw question section (name, type, class) of a message with an uncompressed qname."""
    i = 12
    while wire[i] != 0:
        i += wire[i] + 1
    return wire[12:i + 5]


def check_case(ctx, t):
    """(h) the question's letter case is echoed, on a miss and on a cache hit"""
    s, v = start_pair(ctx)
    for label, qname in (("forwarded", "MyReGiStRy.AzureCR.io"),
                         ("cache hit", "mYrEgIsTrY.aZUREcr.IO"),
                         ("local zone", "MyReGiStRy.PrivateLink.AzureCR.io")):
        q = h.make_query(qname, "A")
        wire = q.to_wire()
        reply = h.raw_udp(h.LOOPBACK4, v.port, wire, timeout=3)
        t.ok(reply is not None, f"{label}: {qname} answered")
        if reply is None:
            continue
        t.eq(_question_bytes(reply), _question_bytes(wire),
             f"{label}: question echoed byte for byte ({qname})")
        m = dns.message.from_wire(reply)
        t.eq(h.answer_addresses(m), ["10.0.0.7"], f"{label}: {qname} -> 10.0.0.7")


def check_reload(ctx, t):
    """SIGHUP reloads an edited zone without a restart and without losing the cache; a broken
    zone keeps the old data"""
    s, v = start_pair(ctx)
    name = "weu-acr-reg.cloudapp.example"
    h.udp(h.LOOPBACK4, v.port, name)
    m = h.udp(h.LOOPBACK4, v.port, "otherregistry.privatelink.azurecr.io")
    t.eq(dns.rcode.to_text(m.rcode()), "NXDOMAIN", "before reload: otherregistry is NXDOMAIN")
    m = h.udp(h.LOOPBACK4, v.port, "otherregistry.azurecr.io")
    t.eq(dns.rcode.to_text(m.rcode()), "NXDOMAIN",
         "before reload: otherregistry.azurecr.io (spliced) is NXDOMAIN")
    c1 = s.query_count()
    pid = v.child.pid

    path = v.zone_files["privatelink.azurecr.io"]
    with open(path) as f:
        good = f.read()
    edited = good.replace(" 1 3600 600 86400 10", " 2 3600 600 86400 10")
    edited += "otherregistry                 10 IN A    10.0.0.8\n"
    with open(path, "w") as f:
        f.write(edited)
    mark = v.child.line_count()
    v.child.signal(signal.SIGHUP)
    end, got = time.monotonic() + 10, None
    while time.monotonic() < end:
        got = h.answer_addresses(h.udp(h.LOOPBACK4, v.port, "otherregistry.privatelink.azurecr.io"))
        if got == ["10.0.0.8"]:
            break
        time.sleep(0.1)  # poll interval while the reload lands
    t.eq(got, ["10.0.0.8"], "after SIGHUP: the new record otherregistry -> 10.0.0.8 is served")
    t.eq(v.child.pid if v.alive() else None, pid, "SIGHUP: same process, not a restart")
    t.eq(h.answer_addresses(h.udp(h.LOOPBACK4, v.port, "otherregistry.azurecr.io")),
         ["10.0.0.8"], "after SIGHUP: otherregistry.azurecr.io is spliced to 10.0.0.8 "
         "(no stale spliced NXDOMAIN)")
    c2 = s.query_count()
    t.ok(c2 <= c1 + 1, "after SIGHUP: the spliced name cost at most one upstream query",
         f"{c1} -> {c2}")
    h.udp(h.LOOPBACK4, v.port, name)
    t.eq(s.query_count(), c2, "after SIGHUP: the cache survived (no new upstream query)")
    try:
        v.child.wait_for_line(r"reload", 5, after=mark)
        t.ok(True, "SIGHUP: a log line says 'reload'")
    except TimeoutError as e:
        t.ok(False, "SIGHUP: a log line says 'reload'", e)

    with open(path, "w") as f:
        f.write(edited + "this is not a record\n")
    mark = v.child.line_count()
    v.child.signal(signal.SIGHUP)
    try:
        line = v.child.wait_for_line(r"reload", 10, after=mark)
        t.ok(True, f"broken zone: the failed reload is logged ({line.strip()[:100]})")
    except TimeoutError as e:
        t.ok(False, "broken zone: the failed reload is logged (a line with 'reload')", e)
    t.ok(v.alive(), "broken zone: vnetdns keeps running")
    t.eq(h.answer_addresses(h.udp(h.LOOPBACK4, v.port, "otherregistry.privatelink.azurecr.io")),
         ["10.0.0.8"], "broken zone: the last good data is still served")


if __name__ == "__main__":
    sys.exit(h.main([check_validation_dig, check_data_endpoint, check_other_registry,
                     check_nodata, check_tcp, check_ipv6, check_cache, check_case,
                     check_reload], __doc__))
