#!/usr/bin/python3
"""Forwarding edges against real servers on loopback: a large upstream answer (TC over UDP,
complete over TCP, vnetdns retrying over TCP itself), an upstream that is down or silent
(SERVFAIL within the deadline), a query no rule routes (REFUSED), and a client outside the ACL
(REFUSED).

Run: /usr/bin/python3 tests/integration/test_forwarding.py --binary build/vnetdns --source .
"""

import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

import dns.exception  # noqa: E402
import dns.flags  # noqa: E402
import dns.rcode  # noqa: E402
import dns.rdatatype  # noqa: E402

BIG_TXT = 15     # TXT records at big.azurecr.io in deploy/standin/zones/azurecr.io.zone
MANY_A = 100     # A records at many.azurecr.io
SERVFAIL_WITHIN_S = 5.0


def rcode(m):
    return dns.rcode.to_text(m.rcode())


def count_rdata(m, rdtype):
    return sum(len(rr) for rr in m.answer if rr.rdtype == dns.rdatatype.from_text(rdtype))


def check_truncation(ctx, t):
    """a large upstream answer: TC=1 (or a fitting answer) over UDP, complete over TCP"""
    s = ctx.standin()
    v = ctx.vnetdns(zones=[h.private_zone()], forwards=[{"zone": ".", "upstreams": [s.upstream()]}])
    tcp0 = s.tcp_count()

    m = h.udp(h.LOOPBACK4, v.port, "big.azurecr.io", "TXT", payload=1232)
    size = len(m.to_wire())
    t.ok((m.flags & dns.flags.TC) or count_rdata(m, "TXT") == BIG_TXT,
         "UDP (EDNS 1232): TC=1 or the whole RRset", m.to_text()[:400])
    t.ok(size <= 1232, f"UDP (EDNS 1232): reply fits 1232 bytes ({size})")
    t.ok(not (m.flags & dns.flags.TC) or count_rdata(m, "TXT") < BIG_TXT,
         "UDP: TC=1 is only set on a reply that lacks records")

    m = h.udp(h.LOOPBACK4, v.port, "big.azurecr.io", "TXT", edns=-1)
    t.ok(len(m.to_wire()) <= 512 and (m.flags & dns.flags.TC),
         f"UDP without EDNS: TC=1 within 512 bytes ({len(m.to_wire())})")

    m = h.tcp(h.LOOPBACK4, v.port, "big.azurecr.io", "TXT")
    t.eq(rcode(m), "NOERROR", "TCP: big.azurecr.io TXT is NOERROR")
    t.eq(count_rdata(m, "TXT"), BIG_TXT, f"TCP: all {BIG_TXT} TXT records")
    t.ok(not (m.flags & dns.flags.TC), "TCP: TC=0")
    t.ok(s.tcp_count() > tcp0, "vnetdns retried over TCP to the stand-in",
         f"stand-in TCP queries {tcp0} -> {s.tcp_count()}")

    tcp1 = s.tcp_count()
    m = h.tcp(h.LOOPBACK4, v.port, "many.azurecr.io", "A")
    t.eq(count_rdata(m, "A"), MANY_A, f"TCP: all {MANY_A} A records of many.azurecr.io")
    t.ok(s.tcp_count() > tcp1, "many.azurecr.io: fetched over TCP from the stand-in")
    m = h.udp(h.LOOPBACK6, v.port, "many.azurecr.io", "A", payload=1232)
    t.ok((m.flags & dns.flags.TC) and len(m.to_wire()) <= 1232,
         "[::1] UDP: the cached large answer is truncated to the client's size")
    r = h.dig(h.LOOPBACK4, v.port, "big.azurecr.io", "TXT")
    t.ok("Truncated, retrying in TCP mode" in r.stdout and
         f"ANSWER: {BIG_TXT}," in r.stdout, "dig: truncated over UDP, complete over TCP",
         r.stdout[:600])


def _time_query(port, qname):
    t0 = time.monotonic()
    try:
        m = h.udp(h.LOOPBACK4, port, qname, timeout=SERVFAIL_WITHIN_S + 3)
    except dns.exception.Timeout:
        m = None
    return m, time.monotonic() - t0


def check_upstream_down(ctx, t):
    """upstream down (closed port) or silent (bound, never answers): SERVFAIL within 5 s"""
    dead = h.free_port([h.LOOPBACK4])  # nobody listens there
    v = ctx.vnetdns(zones=[h.private_zone()],
                    forwards=[{"zone": ".", "upstreams": [f"{h.LOOPBACK4}:{dead}"]}],
                    name="vnetdns-dead")
    m, took = _time_query(v.port, "weu-acr-reg.cloudapp.example")
    t.ok(m is not None and rcode(m) == "SERVFAIL" and took < SERVFAIL_WITHIN_S,
         f"closed upstream port: SERVFAIL in {took:.2f}s (< {SERVFAIL_WITHIN_S}s)",
         m.to_text() if m else "no reply")
    m = h.udp(h.LOOPBACK4, v.port, "myregistry.privatelink.azurecr.io")
    t.eq(h.answer_addresses(m), ["10.0.0.7"], "the local zone still answers with upstream down")
    v.stop()

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind((h.LOOPBACK4, 0))  # receives queries, never answers
        sport = silent.getsockname()[1]
        v = ctx.vnetdns(zones=[h.private_zone()],
                        forwards=[{"zone": ".", "upstreams": [f"{h.LOOPBACK4}:{sport}"]}],
                        name="vnetdns-silent")
        m, took = _time_query(v.port, "eus-acr-reg.cloudapp.example")
        t.ok(m is not None and rcode(m) == "SERVFAIL" and took < SERVFAIL_WITHIN_S,
             f"silent upstream: SERVFAIL in {took:.2f}s (< {SERVFAIL_WITHIN_S}s)",
             m.to_text() if m else "no reply")
        silent.settimeout(0.5)
        try:
            silent.recvfrom(65535)
            got = True
        except socket.timeout:
            got = False
        t.ok(got, "the silent upstream did receive the forwarded query")
        v.stop()

    # the stand-in stops under a running vnetdns: SERVFAIL, and nothing hangs
    s = ctx.standin()
    v = ctx.vnetdns(zones=[h.private_zone()], forwards=[{"zone": ".", "upstreams": [s.upstream()]}],
                    name="vnetdns-stop")
    m = h.udp(h.LOOPBACK4, v.port, "otherregistry.azurecr.io")
    t.eq(rcode(m), "NXDOMAIN", "with the stand-in up: otherregistry.azurecr.io NXDOMAIN")
    s.stop()
    m, took = _time_query(v.port, "weu-acr-reg.cloudapp.example")
    t.ok(m is not None and rcode(m) == "SERVFAIL" and took < SERVFAIL_WITHIN_S,
         f"stand-in stopped: SERVFAIL in {took:.2f}s", m.to_text() if m else "no reply")
    t.ok(v.alive(), "vnetdns still running")


def check_no_route(ctx, t):
    """a query that no rule routes is REFUSED; a routed one is forwarded"""
    s = ctx.standin()
    v = ctx.vnetdns(forwards=[{"zone": "example.net", "upstreams": [s.upstream()]}],
                    probe=("probe.example.net", "A"), name="vnetdns-noroute")
    c0 = s.query_count()
    m = h.udp(h.LOOPBACK4, v.port, "myregistry.azurecr.io")
    t.eq(rcode(m), "REFUSED", "no rule for azurecr.io: REFUSED")
    t.eq(len(m.answer), 0, "REFUSED carries no answer")
    m = h.tcp(h.LOOPBACK4, v.port, "www.example.com")
    t.eq(rcode(m), "REFUSED", "no rule for example.com (TCP): REFUSED")
    t.eq(s.query_count(), c0, "refused queries never reached the upstream")
    m = h.udp(h.LOOPBACK4, v.port, "host.example.net")
    t.eq(rcode(m), "NXDOMAIN", "example.net is forwarded (the stand-in says NXDOMAIN)")
    t.ok(s.query_count() > c0, "example.net query reached the upstream")


def check_acl(ctx, t):
    """a client outside the ACL is REFUSED; one inside is answered"""
    s = ctx.standin()
    v = ctx.vnetdns(zones=[h.private_zone()], forwards=[{"zone": ".", "upstreams": [s.upstream()]}],
                    allow=["127.0.0.2/32"], listen_addrs=[h.LOOPBACK4], probe_source="127.0.0.2",
                    name="vnetdns-acl")
    c0 = s.query_count()
    for qname in ("myregistry.privatelink.azurecr.io", "weu-acr-reg.cloudapp.example"):
        try:
            m = h.udp(h.LOOPBACK4, v.port, qname, timeout=2)
            got = rcode(m)
            t.ok(got == "REFUSED" and not m.answer,
                 f"from 127.0.0.1 (outside the ACL): {qname} REFUSED", m.to_text())
        except dns.exception.Timeout:
            t.ok(False, f"from 127.0.0.1 (outside the ACL): {qname} REFUSED (got no reply)")
    try:
        m = h.tcp(h.LOOPBACK4, v.port, "myregistry.privatelink.azurecr.io", timeout=2)
        t.ok(rcode(m) == "REFUSED" and not m.answer, "TCP from 127.0.0.1: REFUSED")
    except dns.exception.Timeout:
        t.ok(False, "TCP from 127.0.0.1: REFUSED or connection closed (it hung instead)")
    except (EOFError, ConnectionError) as e:  # closing the connection is a fair refusal too
        t.ok(True, f"TCP from 127.0.0.1: connection closed without an answer ({type(e).__name__})")
    t.eq(s.query_count(), c0, "refused clients caused no upstream query")
    m = h.udp(h.LOOPBACK4, v.port, "myregistry.privatelink.azurecr.io", source="127.0.0.2")
    t.eq(h.answer_addresses(m), ["10.0.0.7"], "from 127.0.0.2 (inside the ACL): answered")


if __name__ == "__main__":
    sys.exit(h.main([check_truncation, check_upstream_down, check_no_route, check_acl], __doc__))
