#!/usr/bin/python3
"""DNS client cookies towards upstreams (RFC 7873 section 5.3, RFC 9018) on the real binary,
with the scriptable fake upstream (fake_upstream.py) and real BIND: every EDNS query carries a
COOKIE option whose client cookie is the same for one server and different between servers;
the server cookie a server returns is sent back on the next query to it; a reply whose COOKIE
does not echo our client cookie is ignored like a wrong ID (never accepted, never cached);
BADCOOKIE is retried at once with the fresh server cookie (a second BADCOOKIE goes to TCP); a
server without cookies keeps working; no cookie once EDNS fallback has turned EDNS off. BIND
with require-server-cookie answers BADCOOKIE to a query without its server cookie: vnetdns
gets its answers over UDP all the same, and BIND counts matching cookies.

Run: /usr/bin/python3 tests/integration/test_upstream_cookies.py --binary build/vnetdns --source .
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from fake_upstream import BOGUS_ADDRESS, FakeUpstream  # noqa: E402

import dns.rcode  # noqa: E402

REAL = "192.0.2.1"  # the fake's default A record
PROBE = ("probe.cookie.test", "A")
S1 = "51" * 16      # server cookies the fakes hand out (hex): 16, 24 and 8 bytes
S2 = "52" * 24
S3 = "53" * 8


def fake(ctx, addr):
    f = FakeUpstream(ctx.workdir, addr=addr)
    f.start()
    ctx.stack.callback(f.stop)
    return f


def vnetdns(ctx, forwards, **kw):
    v = ctx.vnetdns(forwards=forwards, probe=PROBE, **kw)
    return v


def fw(zone, upstream, **extra):
    rule = {"zone": zone, "upstreams": [upstream], "timeout": "1s", "deadline": "2s"}
    rule.update(extra)
    return rule


def ask(v, name, rdtype="A"):
    return h.udp(h.LOOPBACK4, v.port, name, rdtype, timeout=5)


def cookies(f, name):
    """[(proto, cookie hex or None)] of the queries `f` got for `name`, in order."""
    key = name.lower().rstrip(".") + "."
    return [(c[1], c[2]) for c in f.stats()["cookies"] if c[0] == key]


def client_part(c):
    return c[:16] if c else None


def check_server_cookie_learned(ctx, t):
    """one client cookie per server; the server cookie learned is sent back next time"""
    a = fake(ctx, "127.0.0.3")
    b = fake(ctx, "127.0.0.4")
    v = vnetdns(ctx, [fw(".", a.upstream()), fw("b.cookie.test", b.upstream())])
    for f in (a, b):
        f.reset()
    a.set("*", server_cookie=S1)
    b.set("*", server_cookie=S2)

    m = ask(v, "one.a.cookie.test")
    t.eq(h.answer_addresses(m), [REAL], "first query answered through a cookie-speaking upstream")
    m = ask(v, "two.a.cookie.test")
    t.eq(h.answer_addresses(m), [REAL], "second query answered")
    one = cookies(a, "one.a.cookie.test")
    two = cookies(a, "two.a.cookie.test")
    t.ok(len(one) == 1 and one[0][1] is not None and len(one[0][1]) == 16,
         "the first query carried a COOKIE with our 8-byte client cookie alone", one)
    client_a = client_part(one[0][1]) if one else None
    t.eq(two, [("udp", client_a + S1)] if client_a else None,
         "the next query carried the same client cookie and the server cookie learned")

    # The server hands out a new server cookie: the one after carries the newest.
    a.set("*", server_cookie=S3)
    ask(v, "three.a.cookie.test")
    ask(v, "four.a.cookie.test")
    t.eq(cookies(a, "three.a.cookie.test"), [("udp", client_a + S1)],
         "a query still carries the last server cookie learned (16 bytes)")
    t.eq(cookies(a, "four.a.cookie.test"), [("udp", client_a + S3)],
         "after a reply with a new (8-byte) server cookie, that one is sent")

    # Another server sees another client cookie, and gets its own server cookie back.
    ask(v, "one.b.cookie.test")
    ask(v, "two.b.cookie.test")
    b1 = cookies(b, "one.b.cookie.test")
    b2 = cookies(b, "two.b.cookie.test")
    client_b = client_part(b1[0][1]) if b1 and b1[0][1] else None
    t.ok(client_b is not None and len(b1[0][1]) == 16 and client_b != client_a,
         f"a second upstream gets its own client cookie ({client_b} != {client_a})", b1)
    t.eq(b2, [("udp", (client_b or "") + S2)],
         "the second upstream gets its own 24-byte server cookie back, not the first's")

    # TCP (TC=1 over UDP) carries the cookie as well, with the same client cookie.
    a.set("tc.a.cookie.test", tc=True, server_cookie=S3)
    m = ask(v, "tc.a.cookie.test")
    t.eq(h.answer_addresses(m), [REAL], "TC then TCP: answered")
    t.eq(cookies(a, "tc.a.cookie.test"), [("udp", client_a + S3), ("tcp", client_a + S3)],
         "the TCP retry carries the same COOKIE")
    t.ok(v.alive(), "vnetdns still running", v.tail())


def check_forged_cookie_ignored(ctx, t):
    """a reply whose COOKIE is not our client cookie is ignored like a wrong ID"""
    a = fake(ctx, "127.0.0.3")
    admin_port = h.free_port([h.LOOPBACK4])
    v = vnetdns(ctx, [fw(".", a.upstream())], extra_toml=h.admin_toml(admin_port))
    a.reset()
    a.set("*", server_cookie=S1)
    ask(v, "warm.cookie.test")  # the server cookie S1 is learned

    name = "forged.cookie.test."
    a.set(name, server_cookie=S1, before=["wrong_cookie"])
    m = ask(v, name)
    t.eq((m.rcode(), h.answer_addresses(m)), (dns.rcode.NOERROR, [REAL]),
         "a forged reply (right ID and question, wrong client cookie) first: the real one wins")
    n0 = a.count(name)
    m = ask(v, name)
    t.eq(h.answer_addresses(m), [REAL], "the cached answer is the real one")
    t.eq(a.count(name), n0, "  (from the cache)")

    only = "onlyforged.cookie.test."
    a.set(only, server_cookie=S1, before=["wrong_cookie"], only_before=True)
    m = ask(v, only)
    t.ok(m.rcode() == dns.rcode.SERVFAIL and BOGUS_ADDRESS not in h.answer_addresses(m),
         "only forged cookies: never accepted (SERVFAIL after the deadline)",
         f"rcode {dns.rcode.to_text(m.rcode())} answer {h.answer_addresses(m)}")
    sent = cookies(a, only)
    t.ok(sent and all(c == ("udp", client_part(sent[0][1]) + S1) for c in sent),
         f"the forged replies' server cookies were not learned ({len(sent)} tries, each "
         "with the real server cookie)", sent)
    _, body = h.http_request(h.LOOPBACK4, admin_port, "GET", "/metrics")
    mism = h.metric(h.parse_prometheus(body), "vnetdns_upstream_reply_mismatches_total")
    t.ok(mism >= 1 + len(sent), f"forged cookies counted as reply mismatches ({mism:.0f})")


def check_badcookie_retry(ctx, t):
    """BADCOOKIE: retried at once with the fresh server cookie; twice: then over TCP"""
    a = fake(ctx, "127.0.0.3")
    v = vnetdns(ctx, [fw(".", a.upstream())])
    a.reset()
    a.set("*", server_cookie=S1)
    ask(v, "warm.cookie.test")  # S1 learned
    client = client_part(cookies(a, "warm.cookie.test")[0][1])

    name = "strict.cookie.test."
    a.set(name, server_cookie=S2, require_cookie=True)
    m = ask(v, name)
    t.eq((m.rcode(), h.answer_addresses(m)), (dns.rcode.NOERROR, [REAL]),
         "BADCOOKIE then the retry: answered")
    t.eq(cookies(a, name), [("udp", client + S1), ("udp", client + S2)],
         "the retry carried the server cookie of the BADCOOKIE reply, over UDP")
    times = [e[0] for e in a.log() if e[1] == name]
    gap = times[1] - times[0] if len(times) == 2 else None
    t.ok(gap is not None and gap < 0.5, f"the retry went at once ({gap}s after, timeout 1s)")

    again = "strict2.cookie.test."
    a.set(again, server_cookie=S2, require_cookie=True)
    ask(v, again)
    t.eq(cookies(a, again), [("udp", client + S2)],
         "the next question carries that server cookie: no BADCOOKIE, one query")

    # BADCOOKIE to every UDP query (a server whose cookies do not hold): TCP after the retry.
    stubborn = "stubborn.cookie.test."
    a.set(stubborn, server_cookie=S3, require_cookie="always")
    m = ask(v, stubborn)
    t.eq((m.rcode(), h.answer_addresses(m)), (dns.rcode.NOERROR, [REAL]),
         "BADCOOKIE twice over UDP: answered over TCP")
    t.eq([c[0] for c in cookies(a, stubborn)], ["udp", "udp", "tcp"],
         "UDP, the retry with the fresh cookie, then TCP (RFC 7873 section 5.3)")
    t.ok(v.alive(), "vnetdns still running", v.tail())


def check_server_without_cookies(ctx, t):
    """no COOKIE in replies: works as before; EDNS turned off: no cookie sent"""
    a = fake(ctx, "127.0.0.3")
    b = fake(ctx, "127.0.0.4")
    v = vnetdns(ctx, [fw(".", a.upstream()), fw("old.cookie.test", b.upstream())])
    a.reset()
    for i in range(3):
        m = ask(v, f"plain{i}.cookie.test")
        t.eq(h.answer_addresses(m), [REAL], f"query {i} to a server without cookies: answered")
    sent = [c for i in range(3) for c in cookies(a, f"plain{i}.cookie.test")]
    t.ok(len(sent) == 3 and all(c[1] is not None and len(c[1]) == 16 for c in sent)
         and len({c[1] for c in sent}) == 1,
         "each query carried the same client cookie and no server cookie (none was given)",
         sent)

    # An upstream that answers FORMERR to EDNS: vnetdns falls back to no EDNS, so no cookie.
    b.reset()
    b.set("*", formerr_edns=True, server_cookie=S1)
    m = ask(v, "first.old.cookie.test")
    t.eq(h.answer_addresses(m), [REAL], "EDNS fallback: answered")
    first = cookies(b, "first.old.cookie.test")
    t.ok(len(first) == 2 and first[0][1] is not None and first[1][1] is None,
         "the fallback retry went without EDNS, so without a cookie", first)
    # Three distinct names that need the fallback make the server EDNS-less (for minutes).
    for name in ("second.old.cookie.test", "third.old.cookie.test"):
        m = ask(v, name)
        t.eq(h.answer_addresses(m), [REAL], f"{name}: answered after the fallback")
    m = ask(v, "fourth.old.cookie.test")
    t.eq(h.answer_addresses(m), [REAL], "after three fallbacks: answered")
    t.eq(cookies(b, "fourth.old.cookie.test"), [("udp", None)],
         "then queries to that upstream go without EDNS, so carry no cookie")


ZONE = """$TTL 300
@    SOA ns.cookie.test. host.cookie.test. 1 3600 600 86400 60
@    NS  ns.cookie.test.
ns   A   127.0.0.1
www  A   192.0.2.80
"""


def named_stats(port):
    status, body = h.http_request(h.LOOPBACK4, port, "GET", "/json/v1/server")
    if status != 200:
        raise RuntimeError(f"BIND statistics channel: HTTP {status}")
    return json.loads(body)


def check_bind_upstream(ctx, t):
    """real BIND (require-server-cookie): BADCOOKIE retried, answered over UDP, cookies match"""
    if not os.path.exists(h.NAMED):
        print("# skip - named not installed (Debian package bind9)")
        return
    port = h.free_port()
    stats_port = h.free_port([h.LOOPBACK4])
    rundir = os.path.join(ctx.workdir, f"named-cookies-{port}")
    os.makedirs(rundir)
    with open(os.path.join(rundir, "cookie.test.zone"), "w") as f:
        f.write(ZONE)
    named, _ = h.start_authoritative_named(
        ctx, "named-cookies", port,
        options=["allow-query { 127.0.0.0/8; };", "notify no;",
                 "require-server-cookie yes;"],  # BADCOOKIE over UDP without our server cookie
        body=[f"statistics-channels {{ inet 127.0.0.1 port {stats_port} allow {{ 127.0.0.1; }}; }};",
              f'zone "cookie.test" {{ type primary; file "{rundir}/cookie.test.zone"; }};'])
    h.wait_answered(h.LOOPBACK4, port, "cookie.test", "SOA", 15)
    before = named_stats(stats_port)

    v = ctx.vnetdns(forwards=[fw("cookie.test", f"{h.LOOPBACK4}:{port}")],
                    probe=("www.cookie.test", "A"))
    answered = 0
    for i in range(5):
        m = ask(v, "www.cookie.test" if i == 0 else f"nx{i}.cookie.test")
        want = [("192.0.2.80",), dns.rcode.NOERROR] if i == 0 else [(), dns.rcode.NXDOMAIN]
        answered += [tuple(h.answer_addresses(m)), m.rcode()] == want
    t.eq(answered, 5, "5 questions through BIND (require-server-cookie yes) answered right")
    after = named_stats(stats_port)

    def delta(section, key):
        return after.get(section, {}).get(key, 0) - before.get(section, {}).get(key, 0)
    bad = delta("rcodes", "BADCOOKIE")
    match = delta("nsstats", "CookieMatch")
    cookie_in = delta("nsstats", "CookieIn")
    tcp = delta("nsstats", "ReqTCP")
    print(f"# BIND: CookieIn {cookie_in}, CookieMatch {match}, BADCOOKIE sent {bad}, "
          f"TCP requests {tcp}", flush=True)
    t.ok(bad >= 1, f"BIND answered BADCOOKIE to the first query without its server cookie ({bad})")
    t.ok(match >= 5, f"BIND saw its own server cookie back (CookieMatch {match} >= 5)")
    t.eq(tcp, 0, "no TCP needed: the BADCOOKIE retry over UDP carried the fresh cookie")
    t.eq(named.stop(), 0, "named exits 0 on SIGTERM")


if __name__ == "__main__":
    sys.exit(h.main([check_server_cookie_learned, check_forged_cookie_ignored,
                     check_badcookie_retry, check_server_without_cookies, check_bind_upstream],
                    __doc__))
