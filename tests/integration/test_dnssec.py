#!/usr/bin/python3
"""DNSSEC validation (issue 19, docs/dnssec.md) against a signed hierarchy of real servers.

signed_hierarchy.py builds a fake root, vnet. and child zones signed with ldns-signzone (secure
NSEC and NSEC3 with opt-out, wildcards, an unsigned delegation, expired and not-yet-valid
signatures, a wrong key, missing RRSIGs, a DS without its DNSKEY, an unknown algorithm),
served by Knot, behind a plain non-validating recursive Unbound. vnetdns forwards "." to that
Unbound with [dnssec] mode = "validate" and the fake root's trust anchor. For every case of
signed_hierarchy.CASES (each checked against BIND's delv by data/dnssec/check_hierarchy.py)
and each of UDP and TCP, it asserts:
  - DO=1: the RCODE, AD=1 exactly for secure answers, the EDE of bogus ones (RFC 8914);
    RRSIGs present in a secure positive answer;
  - DO=0: the same RCODE and EDE, AD=0 and no DNSSEC records;
  - AD=1 without DO: AD=1 for secure answers (RFC 6840 section 5.8);
  - CD=1: bogus data is handed over unvalidated (NOERROR, AD=0);
  - asked again (a cache hit): the same answer.
Then: the guide's scenario in validate mode (a signed public azurecr.io. CNAME spliced into
the local privatelink.azurecr.io zone: the guide's answer, AD=0 even with DO=1; the public
part alone is AD=1); negative trust anchors (dnssec.insecure, [[forward]] dnssec = false);
mode off (DO passed through, never AD); an upstream that strips DNSSEC data (logged, counted,
shown in /readyz, names SERVFAIL); the metrics by validation state; an upstream that is down
when vnetdns starts (not reported as stripping; checked again, and validating, once it is
back, without a reload); TTLs of validated data no longer than its signatures allow (RFC 4035
section 5.3.3: long.soon.vnet., TTL 7200 s, signatures expiring within the hour).

Only loopback; every server is a child of this process, stopped by PID; readiness is polled.
Run: /usr/bin/python3 tests/integration/test_dnssec.py --binary build/vnetdns --source .
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import signed_hierarchy as sh  # noqa: E402

import dns.flags  # noqa: E402
import dns.rdatatype  # noqa: E402

DNSSEC_TYPES = {dns.rdatatype.RRSIG, dns.rdatatype.NSEC, dns.rdatatype.NSEC3}


def hierarchy(ctx, **kw):
    hier = sh.SignedHierarchy(ctx.workdir, **kw)
    ctx.stack.callback(hier.stop)
    hier.start()
    return hier


def validating(ctx, hier, *, extra="", forwards=None, zones=(), admin_port=None, answered=True):
    toml = (f'[dnssec]\nmode = "validate"\ntrust_anchor_file = "{hier.trust_anchor}"\n'
            + extra)
    if admin_port:
        toml += h.admin_toml(admin_port)
    fwd = forwards or [{"zone": ".", "upstreams": [f"{hier.unbound_addr}:{hier.unbound_port}"]}]
    v = ctx.vnetdns(forwards=fwd, zones=zones, extra_toml=toml, probe=None)
    if answered:
        h.wait_answered(v.addr, v.port, "vnet.", "SOA", 15.0)
    return v


def ask(v, name, rtype, tcp=False, **kw):
    fn = h.tcp if tcp else h.udp
    return fn(v.addr, v.port, name, rtype, timeout=8.0, **kw)


def ad(m):
    return bool(m.flags & dns.flags.AD)


def dnssec_records(m):
    return [rr for sec in (m.answer, m.authority) for rr in sec if rr.rdtype in DNSSEC_TYPES]


def summary(m):
    return f"{h.rcode_text(m)} AD={int(ad(m))} EDE={h.ede_codes(m)}\n{m.to_text()}"


def check_verdicts(ctx, t):
    """every case of the signed hierarchy: RCODE, AD and EDE with DO=0/1, AD=1, CD=1, UDP and TCP"""
    hier = hierarchy(ctx)
    v = validating(ctx, hier)
    for c in sh.CASES:
        name, rtype, verdict = c["name"], c["type"], c["verdict"]
        alt = c.get("alt_verdict")
        want_rcode = "SERVFAIL" if verdict == "bogus" else c["rcode"]
        edes = {c.get("expected_ede"), c.get("alt_ede")} - {None}
        for tcp in (False, True):
            how = f"{name} {rtype} over {'TCP' if tcp else 'UDP'}"
            m = ask(v, name, rtype, tcp, want_dnssec=True)
            t.eq(h.rcode_text(m), want_rcode, f"{how} DO=1: {verdict}: {want_rcode}", summary(m))
            # Opt-out spans: vnetdns reads RFC 5155 section 9.2 as Unbound does (insecure,
            # AD=0) where delv says secure (docs/dnssec.md); the table holds both readings.
            want_ad = verdict == "secure" and alt != "insecure"
            t.eq(ad(m), want_ad, f"  AD={int(want_ad)}", summary(m))
            if verdict == "bogus":
                t.ok(edes & set(h.ede_codes(m)), f"  EDE {sorted(edes)}", summary(m))
            if verdict == "secure" and c["rcode"] == "NOERROR" and m.answer:
                t.ok(any(rr.rdtype == dns.rdatatype.RRSIG for rr in m.answer),
                     "  RRSIGs in the answer", summary(m))
            m0 = ask(v, name, rtype, tcp)
            t.ok(h.rcode_text(m0) == want_rcode and not ad(m0) and not dnssec_records(m0),
                 f"{how} DO=0: {want_rcode}, AD=0, no DNSSEC records", summary(m0))
            if verdict == "bogus":
                t.ok(edes & set(h.ede_codes(m0)), f"  EDE {sorted(edes)} with DO=0", summary(m0))
            if not tcp:
                ma = ask(v, name, rtype, flags=dns.flags.RD | dns.flags.AD)
                t.eq(ad(ma), want_ad, f"{how} AD=1 DO=0: AD={int(want_ad)} (RFC 6840 5.8)",
                     summary(ma))
                again = ask(v, name, rtype, want_dnssec=True)
                t.ok((h.rcode_text(again), ad(again), h.ede_codes(again)) ==
                     (h.rcode_text(m), ad(m), h.ede_codes(m)),
                     f"{how} asked again (cached): the same answer", summary(again))
            if verdict == "bogus":
                mc = ask(v, name, rtype, tcp, want_dnssec=True,
                         flags=dns.flags.RD | dns.flags.CD)
                t.ok(h.rcode_text(mc) == c["rcode"] and not ad(mc) and mc.answer,
                     f"{how} CD=1: the data unvalidated ({c['rcode']}, AD=0)", summary(mc))
    t.ok(v.alive(), "vnetdns still running")


def check_guide_scenario(ctx, t):
    """the guide's answer in validate mode: signed public CNAME + local private A, AD=0"""
    hier = hierarchy(ctx, guide=True)
    v = validating(ctx, hier, zones=[h.private_zone()])
    for do in (False, True):
        m = ask(v, "myregistry.azurecr.io", "A", want_dnssec=do)
        text = h.rrsets_text(m)
        t.ok(h.rcode_text(m) == "NOERROR" and
             any("myregistry.azurecr.io." in x and "CNAME myregistry.privatelink.azurecr.io." in x
                 for x in text) and
             any("myregistry.privatelink.azurecr.io." in x and "A 10.0.0.7" in x for x in text),
             f"myregistry.azurecr.io DO={int(do)}: the guide's answer (CNAME + 10.0.0.7)",
             summary(m))
        t.ok(not ad(m), f"  AD=0 (the end of the chain is local data)", summary(m))
    r = h.dig(v.addr, v.port, "+dnssec", "myregistry.azurecr.io")
    flags = next((x for x in r.stdout.splitlines() if x.startswith(";; flags:")), "")
    t.ok("10.0.0.7" in r.stdout and flags and " ad" not in flags.split(";")[2],
         "dig +dnssec myregistry.azurecr.io: 10.0.0.7, no ad flag", r.stdout)
    m = ask(v, "myregistry.azurecr.io", "CNAME", want_dnssec=True)
    t.ok(h.rcode_text(m) == "NOERROR" and ad(m),
         "myregistry.azurecr.io CNAME alone (public, signed): AD=1", summary(m))
    m = ask(v, "myregistry.privatelink.azurecr.io", "A", want_dnssec=True)
    t.ok(h.answer_addresses(m) == ["10.0.0.7"] and not ad(m) and bool(m.flags & dns.flags.AA),
         "myregistry.privatelink.azurecr.io: local, AA=1, AD=0", summary(m))


def check_negative_trust_anchors(ctx, t):
    """dnssec.insecure and [[forward]] dnssec = false: names there are not validated"""
    hier = hierarchy(ctx)
    up = f"{hier.unbound_addr}:{hier.unbound_port}"
    v = validating(ctx, hier, extra='insecure = ["expired.vnet"]\n',
                   forwards=[{"zone": ".", "upstreams": [up]},
                             {"zone": "notyet.vnet", "upstreams": [up], "dnssec": False}])
    for name in ("www.expired.vnet.", "www.notyet.vnet."):
        m = ask(v, name, "A", want_dnssec=True)
        t.ok(h.rcode_text(m) == "NOERROR" and not ad(m) and m.answer,
             f"{name}: not validated (NOERROR, AD=0)", summary(m))
    m = ask(v, "www.secure.vnet.", "A", want_dnssec=True)
    t.ok(ad(m), "www.secure.vnet. still validated (AD=1)", summary(m))
    m = ask(v, "www.nosig.vnet.", "A", want_dnssec=True)
    t.eq(h.rcode_text(m), "SERVFAIL", "www.nosig.vnet. still bogus", summary(m))


def check_mode_off(ctx, t):
    """mode off (the default): DNSSEC records pass through with DO=1, never AD, bogus served"""
    hier = hierarchy(ctx)
    v = ctx.vnetdns(forwards=[{"zone": ".",
                               "upstreams": [f"{hier.unbound_addr}:{hier.unbound_port}"]}],
                    probe=None)
    h.wait_answered(v.addr, v.port, "vnet.", "SOA", 15.0)
    m = ask(v, "www.secure.vnet.", "A", want_dnssec=True)
    t.ok(not ad(m) and any(rr.rdtype == dns.rdatatype.RRSIG for rr in m.answer),
         "www.secure.vnet. DO=1: RRSIGs passed through, AD=0", summary(m))
    m = ask(v, "www.expired.vnet.", "A", want_dnssec=True)
    t.ok(h.rcode_text(m) == "NOERROR" and m.answer, "www.expired.vnet.: answered (not validated)",
         summary(m))


def check_stripping_upstream_and_metrics(ctx, t):
    """an upstream that strips DNSSEC: logged, in /readyz and /metrics; metrics by state"""
    hier = hierarchy(ctx)
    s = ctx.standin()  # Knot with unsigned zones only: no root DNSKEY, no signatures
    admin = h.free_port()
    up = f"{hier.unbound_addr}:{hier.unbound_port}"
    v = validating(ctx, hier, admin_port=admin,
                   forwards=[{"zone": ".", "upstreams": [up]},
                             {"zone": "azurecr.io", "upstreams": [s.upstream()]}])
    line = v.child.wait_for_line(r"dnssec: upstream .* strips DNSSEC data", 15.0)
    t.ok(line, "the stripping upstream is logged at start", v.tail())
    code, body = h.http_request(h.LOOPBACK4, admin, "GET", "/readyz")[:2]
    t.ok(code == 200 and s.upstream().split(":")[0] in body and "DNSSEC" in body,
         "/readyz: still ready, names the stripping upstream", f"{code} {body}")
    ask(v, "www.secure.vnet.", "A", want_dnssec=True)
    ask(v, "www.insecure.vnet.", "A", want_dnssec=True)
    ask(v, "www.expired.vnet.", "A", want_dnssec=True)
    code, body = h.http_request(h.LOOPBACK4, admin, "GET", "/metrics")[:2]
    samples = h.parse_prometheus(body)
    for state in ("secure", "insecure", "bogus"):
        t.ok(h.metric(samples, "vnetdns_dnssec_answers_total", state=state) >= 1,
             f"vnetdns_dnssec_answers_total{{state={state}}} >= 1", body[-3000:])
    t.ok(h.metric(samples, "vnetdns_dnssec_bogus_total", reason="signature_expired") >= 1,
         "vnetdns_dnssec_bogus_total{reason=signature_expired} >= 1")
    t.ok(h.metric(samples, "vnetdns_dnssec_subqueries_total") >= 2,
         "vnetdns_dnssec_subqueries_total counts DS/DNSKEY questions")
    t.eq(h.metric(samples, "vnetdns_upstream_dnssec", rule="azurecr.io.",
                  upstream=s.upstream()), 0, "vnetdns_upstream_dnssec = 0 for the stripper")
    t.eq(h.metric(samples, "vnetdns_upstream_dnssec_strips_total", rule="azurecr.io.",
                  upstream=s.upstream()), 1, "vnetdns_upstream_dnssec_strips_total = 1 for it")
    t.eq(h.metric(samples, "vnetdns_upstream_dnssec", rule=".", upstream=up), 1,
         "vnetdns_upstream_dnssec = 1 for the validating path's upstream")


def check_upstream_down_at_start(ctx, t):
    """the upstream down when vnetdns starts: not reported as stripping; checked and validating once it is back"""
    hier = hierarchy(ctx)
    hier.stop_unbound()  # the outage: knotd stays, the resolver vnetdns forwards to is gone
    admin = h.free_port()
    up = f"{hier.unbound_addr}:{hier.unbound_port}"
    v = validating(ctx, hier, admin_port=admin, answered=False)
    line = v.child.wait_for_line(r"dnssec: could not check whether upstream .* returns DNSSEC",
                                 15.0)
    t.ok(up in line, "the unanswered check is logged as such", line)

    def states():
        code, body = h.http_request(h.LOOPBACK4, admin, "GET", "/metrics")[:2]
        samples = h.parse_prometheus(body)
        return (h.metric(samples, "vnetdns_upstream_dnssec", rule=".", upstream=up),
                h.metric(samples, "vnetdns_upstream_dnssec_strips_total", rule=".",
                         upstream=up))
    t.eq(states(), (-1, 0), "while it is down: vnetdns_upstream_dnssec -1, no strips counted")
    code, body = h.http_request(h.LOOPBACK4, admin, "GET", "/readyz")[:2]
    t.ok("DNSSEC" not in body, "/readyz does not report it as stripping DNSSEC", body)
    t.ok(not any("strips DNSSEC" in line for line in v.child.lines),
         "no 'strips DNSSEC data' error logged", v.tail())
    m = ask(v, "www.secure.vnet.", "A", want_dnssec=True)
    t.eq(h.rcode_text(m), "SERVFAIL", "www.secure.vnet. during the outage: SERVFAIL", summary(m))

    mark = v.child.line_count()
    hier.start_unbound()
    back = time.monotonic()
    line = v.child.wait_for_line(r"dnssec: upstream .* returns DNSSEC data", 60.0, after=mark)
    t.ok(up in line, f"checked again once it is back ({time.monotonic() - back:.1f} s), "
         "without a reload", line)
    t.eq(states(), (1, 0), "vnetdns_upstream_dnssec 1, still no strips counted")
    # And the names validate again: the failure answered during the outage is remembered
    # only briefly (RFC 9520; pipeline.hpp's kFailureTtl, 5 s).
    end = time.monotonic() + 30.0
    while True:
        m = ask(v, "www.secure.vnet.", "A", want_dnssec=True)
        if (h.rcode_text(m), ad(m)) == ("NOERROR", True) or time.monotonic() > end:
            break
        time.sleep(0.2)  # poll interval while the remembered failures expire
    t.ok((h.rcode_text(m), ad(m)) == ("NOERROR", True),
         f"www.secure.vnet. validated again ({time.monotonic() - back:.1f} s after the "
         "upstream's return)", summary(m))


def check_signature_expiry_caps_ttl(ctx, t):
    """RFC 4035 5.3.3: a validated answer lives no longer than its signatures allow"""
    hier = hierarchy(ctx)
    name = "long.soon.vnet."  # TTL SOON_TTL (7200 s); its RRSIG expires SOON_EXPIRY after the build
    direct = h.udp(hier.unbound_addr, hier.unbound_port, name, "A", timeout=8.0,
                   want_dnssec=True)
    up_ttl = max(rrset.ttl for rrset in direct.answer)
    t.ok(up_ttl > sh.SOON_EXPIRY, f"the upstream hands on TTL {up_ttl} (> {sh.SOON_EXPIRY})",
         summary(direct))
    v = validating(ctx, hier)
    for do, asked in ((True, "DO=1"), (False, "DO=0"), (True, "DO=1 again (cached)")):
        m = ask(v, name, "A", want_dnssec=do)
        ttls = [rrset.ttl for rrset in m.answer]
        t.ok(h.rcode_text(m) == "NOERROR" and ad(m) == do and ttls and
             0 < max(ttls) <= sh.SOON_EXPIRY,
             f"{name} {asked}: every TTL at most the {sh.SOON_EXPIRY} s its signature has "
             f"left, not {sh.SOON_TTL} ({ttls})", summary(m))


CHECKS = [check_verdicts, check_guide_scenario, check_negative_trust_anchors, check_mode_off,
          check_stripping_upstream_and_metrics, check_upstream_down_at_start,
          check_signature_expiry_caps_ttl]


if __name__ == "__main__":
    sys.exit(h.main(CHECKS, __doc__))
