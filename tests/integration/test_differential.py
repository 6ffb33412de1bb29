#!/usr/bin/python3
"""Differential test: vnetdns against Debian's Unbound, both forwarding to the same upstream.

The same fixed query list (tests/integration/data/differential/, made by make_queries.py there
from the shared query corpora; no randomness) goes to vnetdns and to Unbound configured as a
plain forwarder (forward-zone "." to the Knot stand-in of deploy/standin/, iterator only: no
validation, caching on). The answers are compared field by field with dnspython: RCODE, opcode,
the flags QR AA TC RD RA AD CD, the question (letter case included), the answer, authority and
additional sections (RRsets in order, the records of an RRset as a set, names without regard to
case, RFC 4343), TTLs, and EDNS (presence, version, UDP size, DO, other flags, options).
Every difference must be one of INTENDED below, which also checks that vnetdns's side of it is
exactly what its design says; any other difference fails with both answers printed.

Two sections:
1. forwarder: vnetdns with no local zone, "." forwarded to the stand-in; Unbound the same.
2. private-zone: the guide's scenario. vnetdns serves privatelink.azurecr.io from
   tests/integration/data and forwards "." to the stand-in (public view: the chain it gets back
   crosses into privatelink.azurecr.io and is cut there and completed from local data).
   Unbound forwards "." to a second Knot that serves the same private zone beside the public
   data (what Azure DNS answers inside a VNet linked to the zone), and follows the CNAME itself.

Only loopback (127.0.0.2 stand-in, 127.0.0.4 private-view Knot, 127.0.0.1 vnetdns, 127.0.0.3
Unbound). Every server is a child of this process, stopped by PID; readiness is polled with
queries. Unbound uses `access-control: allow_snoop` so that it answers RD=0 queries from its
cache (plain `allow` REFUSES them), which makes the RD=0 variants comparable.

Run: /usr/bin/python3 tests/integration/test_differential.py --binary build/vnetdns --source .
"""

import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

import dns.edns  # noqa: E402
import dns.exception  # noqa: E402
import dns.flags  # noqa: E402
import dns.message  # noqa: E402
import dns.name  # noqa: E402
import dns.query  # noqa: E402
import dns.rcode  # noqa: E402
import dns.rdata  # noqa: E402
import dns.rdataclass  # noqa: E402
import dns.rdatatype  # noqa: E402
import dns.rrset  # noqa: E402

# ---------------------------------------------------------------------------------------------
# Intended differences: the ONLY differences allowed between vnetdns and Unbound. Each entry
# names the compared fields it may excuse (a trailing "*" matches a prefix), when it applies
# (a check on the query and on both answers: vnetdns's side must be what its design says), and
# why. A difference no entry excuses fails the test.

TTL_TOLERANCE = 2  # seconds; see "ttl-aging"

INTENDED = {
    "ttl-aging": dict(
        fields=("ttl.*",),
        applies=lambda d: _ttls_within(d, lambda v, u, cap: abs(v - u) <= TTL_TOLERANCE),
        reason="Both caches count TTLs down in whole seconds from the moment each stored the "
               "answer (a few ms apart, rounded differently), so the same record can differ "
               f"by a second or two; TTLs are compared within +-{TTL_TOLERANCE} s, not exactly "
               "(a fresh answer carries the upstream's TTL in both)."),
    "ttl-per-question-cache": dict(
        fields=("ttl.answer", "ttl.authority"),
        applies=lambda d: _ttls_within(
            d, lambda v, u, cap: -TTL_TOLERANCE <= v - u <= d.elapsed + TTL_TOLERANCE),
        reason="Unbound keeps one copy of each RRset (its rrset cache) and puts it in every "
               "answer that holds it (the '.' SOA of every NXDOMAIN, CNAMEs shared by several "
               "questions, the DO=1 and CD=1 variants of a question), counting down from its "
               "first fetch; vnetdns caches whole answers per question (name, type, class, DO, "
               "CD: README pipeline steps 6-7), so a question it has not seen yet is a fresh "
               "upstream answer with the full TTL. vnetdns's TTL may be higher by at most the "
               "time since the section's first query."),
    "ttl-packet-cache-cap": dict(
        fields=("ttl.answer", "ttl.authority"),
        applies=lambda d: _ttls_within(
            d, lambda v, u, cap: -TTL_TOLERANCE <= v - min(u, cap) <= d.elapsed + TTL_TOLERANCE),
        reason="vnetdns caches a whole answer as one entry living as long as its smallest TTL "
               "and caps every TTL of a cached answer at the entry's remaining lifetime "
               "(resolver/cache/packet_cache.cpp), e.g. the CNAME myregistry.azurecr.io 1783 "
               "goes out as 300 with the rest of its chain; Unbound caches each RRset on its "
               "own. vnetdns only ever lowers a TTL this way (RFC 1035 section 7.3 allows "
               "it); the same per-question freshness slack as above applies."),
    "ttl-local-zone": dict(
        fields=("ttl.answer", "ttl.authority"),
        applies=lambda d: _local_ttls(d),
        reason="Records from vnetdns's local zone always go out with the zone file's TTL "
               "(local data is not aged); Unbound got them from a Knot serving the same zone "
               "and counts its cached copy down. So for a name in the local zone Unbound's "
               "TTL may be lower, never higher."),
    "rr-order": dict(
        fields=("answer.order", "authority.order", "additional.order"),
        applies=lambda d: True,
        reason="The order of the records inside one RRset carries no meaning (RFC 2181 section "
               "5, RFC 1034 section 3.6); Unbound rotates it (rrset-roundrobin: yes, its "
               "default), vnetdns relays the upstream's order. RRsets are compared as sets "
               "(the order of RRsets within a section is still compared)."),
    "additional-trimmed": dict(
        fields=("additional", "ttl.additional", "additional.order"),
        applies=lambda d: not d.v.additional and _only_glue(d.u),
        reason="vnetdns's scrubber keeps only the records on the question's CNAME chain and "
               "drops the whole additional section (README, pipeline step 9); Unbound adds "
               "the addresses of the name servers it knows (the glue of '. NS'). Accepted "
               "only when vnetdns's additional section is empty and Unbound's holds nothing "
               "but addresses of names the answer or authority section names."),
    "any-rfc8482": dict(
        fields=("rcode", "flag.TC", "answer", "authority", "ttl.*", "answer.order",
                "authority.order"),
        applies=lambda d: d.q.rdtype == dns.rdatatype.ANY and _is_rfc8482(d.v, d.q),
        reason="vnetdns answers a forwarded ANY itself with one synthesised HINFO \"RFC8482\" "
               "\"\" (RFC 8482 section 4.2; README pipeline step 5: no amplification through "
               "ANY) and does not ask the upstream, so even a name that does not exist gets "
               "NOERROR; Unbound relays what the stand-in answers to ANY (TC=1 for the "
               "2.3 kB TXT RRset of big.azurecr.io)."),
    "any-local-one-rrset": dict(
        fields=("answer", "ttl.answer", "answer.order"),
        applies=lambda d: (d.q.rdtype == dns.rdatatype.ANY and _in_local_zone(d.q.name) and
                           len(d.vv["answer.keys"]) == 1 and
                           d.vv["answer.keys"][0] in d.uv["answer.keys"]),
        reason="vnetdns answers ANY for a name of its local zone with one of the name's "
               "RRsets (RFC 8482 section 4.1; README pipeline step 5); the Knot behind Unbound "
               "returns every RRset of the name. Accepted when vnetdns's one RRset is one of "
               "Unbound's."),
    "rd0-unbound-sets-rd": dict(
        fields=("flag.RD",),
        applies=lambda d: (not d.q.flags & dns.flags.RD and not d.v.flags & dns.flags.RD and
                           d.u.flags & dns.flags.RD),
        reason="RFC 1035 section 4.1.1: RD is copied into the response. vnetdns does; Unbound "
               "1.17 answers an RD=0 query from its cache with RD=1 (the flags of its stored "
               "reply). An Unbound quirk, not a vnetdns fault."),
    "rd0-no-recursion": dict(
        fields=("rcode", "answer", "authority", "additional", "ttl.*", "answer.order",
                "authority.order", "additional.order"),
        applies=lambda d: (not d.q.flags & dns.flags.RD and _cache_miss_reply(d.u) and
                           d.v.rcode() != dns.rcode.SERVFAIL),
        reason="Unbound answers a non-recursive (RD=0) query from its cache only: on a miss "
               "it gives the closest delegation it has cached (a referral to '.': NOERROR, "
               "no answer, NS in authority) or, with nothing cached, SERVFAIL. vnetdns, a "
               "forwarder, resolves every query the same way whatever RD says (it only echoes "
               "RD). Accepted only for such cache-miss replies of Unbound to RD=0."),
    "ttl-fresh-per-do-cd": dict(
        fields=("ttl.answer", "ttl.authority"),
        applies=lambda d: ((d.q.msg.ednsflags & dns.flags.DO or d.q.flags & dns.flags.CD) and
                           _ttls_within(d, lambda v, u, cap: -TTL_TOLERANCE <= v - u <=
                                        d.elapsed + TTL_TOLERANCE)),
        reason="vnetdns keeps DO=1 and CD=1 answers apart in its cache (the DO and CD bits "
               "are part of its cache key, README pipeline steps 6-7), so the DO/CD variant of "
               "a question asked before is a fresh upstream answer with the full TTL, while "
               "Unbound serves its one cached copy, aged since: vnetdns's TTL may be higher by "
               "at most the time since the section started."),
    "aa-local-zone": dict(
        fields=("flag.AA",),
        applies=lambda d: (d.section == "private-zone" and d.v.flags & dns.flags.AA and
                           not d.u.flags & dns.flags.AA and _in_local_zone(d.q.name)),
        reason="vnetdns is the authority for its local zone and sets AA=1 on answers made "
               "wholly from it (README pipeline step 5); Unbound's answer came through "
               "recursion and has AA=0. Only for question names inside the local zone "
               "(a spliced answer to a public name has AA=0 in vnetdns too)."),
    "server-cookie": dict(
        fields=("edns.options",),
        applies=lambda d: d.q.cookie and _cookie_echoed(d.v) and not _options(d.u),
        reason="vnetdns answers a client COOKIE with its own server cookie (RFC 7873 section "
               "5.2, RFC 9018 format: our 8-byte client cookie + 16 bytes); Unbound 1.17.1 "
               "has no server-side cookies (answer-cookie arrived in 1.18) and returns no "
               "option."),
}

# ---------------------------------------------------------------------------------------------

HERE = os.path.dirname(os.path.abspath(__file__))
LISTS = os.path.join(HERE, "data", "differential")
VNETDNS_ADDR = h.LOOPBACK4      # 127.0.0.1
UNBOUND_ADDR = "127.0.0.3"
PRIVATE_VIEW_ADDR = "127.0.0.4"  # the second Knot (stand-in addresses: 127.0.0.2)
LOCAL_ZONE = dns.name.from_text("privatelink.azurecr.io")
CLIENT_COOKIE = bytes.fromhex("0123456789abcdef")
QUERY_TIMEOUT = 2.0
SECTION_DEADLINE = 45.0  # seconds for all the queries of one section
PROBE = ("differential-probe.invalid", "A")  # Unbound answers .invalid itself: no cache entry
MAX_PRINTED = 25         # failing queries printed in full


class Query:
    """One line of a query list: name, type and variants, as one dnspython Message."""

    def __init__(self, line, index):
        parts = line.split()
        self.line = line
        self.name_text = parts[0]
        self.name = dns.name.from_text(parts[0])
        self.rdtype = dns.rdatatype.from_text(parts[1])
        self.variants = set(parts[2].split(",")) if len(parts) > 2 else set()
        unknown = self.variants - {"rd0", "cd", "ad", "do", "noedns", "bufsize512", "tcp",
                                   "cookie", "nsid", "ednsv1"}
        if unknown:
            raise ValueError(f"unknown variants {unknown} in {line!r}")
        self.tcp = "tcp" in self.variants
        self.cookie = "cookie" in self.variants
        options = []
        if self.cookie:
            options.append(dns.edns.GenericOption(dns.edns.OptionType.COOKIE, CLIENT_COOKIE))
        if "nsid" in self.variants:
            options.append(dns.edns.GenericOption(dns.edns.OptionType.NSID, b""))
        self.msg = dns.message.make_query(
            self.name, self.rdtype, use_edns=-1 if "noedns" in self.variants else 0,
            payload=512 if "bufsize512" in self.variants else 1232,
            want_dnssec="do" in self.variants, options=options or None)
        if "ednsv1" in self.variants:  # (make_query reads use_edns=1 as "yes", version 0)
            self.msg.use_edns(1, self.msg.ednsflags, self.msg.payload, options=self.msg.options)
            assert self.msg.edns == 1
        flags = dns.flags.RD
        if "rd0" in self.variants:
            flags = 0
        if "cd" in self.variants:
            flags |= dns.flags.CD
        if "ad" in self.variants:
            flags |= dns.flags.AD
        self.msg.flags = flags
        self.flags = flags
        self.msg.id = (index * 7919 + 1) & 0xFFFF  # fixed IDs: the same bytes every run


def read_list(fname):
    out = []
    with open(os.path.join(LISTS, fname)) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                out.append(Query(line, len(out)))
    return out


def ask(q, addr, port):
    """The reply to q from addr:port (UDP or TCP per its variants), or the exception text."""
    h._assert_loopback(addr)
    try:
        if q.tcp:
            return dns.query.tcp(q.msg, addr, port=port, timeout=QUERY_TIMEOUT)
        return dns.query.udp(q.msg, addr, port=port, timeout=QUERY_TIMEOUT,
                             ignore_unexpected=True)
    except (dns.exception.DNSException, OSError) as e:
        return f"no answer: {type(e).__name__}: {e}"


# ---------------------------------------------------------------------------------------------
# Field-by-field view of an answer

FLAGS = [("QR", dns.flags.QR), ("AA", dns.flags.AA), ("TC", dns.flags.TC),
         ("RD", dns.flags.RD), ("RA", dns.flags.RA), ("AD", dns.flags.AD),
         ("CD", dns.flags.CD)]
SECTIONS = ("answer", "authority", "additional")


def _rrset_key(rrset):
    return (rrset.name.canonicalize().to_text(), dns.rdataclass.to_text(rrset.rdclass),
            dns.rdatatype.to_text(rrset.rdtype), dns.rdatatype.to_text(rrset.covers),
            tuple(sorted(rd.to_digestable(rrset.name).hex() for rd in rrset)))


def _canonical_text(rrset, rd):
    """A record's data in canonical form (RFC 4034 section 6.2: names in it lowercased) as
    text: letter case in names is not a difference (RFC 4343)."""
    wire = rd.to_digestable(rrset.name)
    return dns.rdata.from_wire(rrset.rdclass, rrset.rdtype, wire, 0, len(wire)).to_text()


def _rrset_text(rrset):
    """Owner, type and the records as canonical text (no TTL): what is compared."""
    return (f"{rrset.name.canonicalize().to_text()} {dns.rdatatype.to_text(rrset.rdtype)} "
            f"[{' | '.join(sorted(_canonical_text(rrset, rd) for rd in rrset))}]")


def _options(m):
    return [(int(o.otype), o.to_wire().hex()) for o in (m.options if m.edns >= 0 else [])]


def view(m):
    """A dict field -> value of one answer."""
    v = {"rcode": dns.rcode.to_text(m.rcode()), "opcode": m.opcode()}
    for name, bit in FLAGS:
        v[f"flag.{name}"] = bool(m.flags & bit)
    v["flag.Z"] = bool(m.flags & 0x0040)
    v["question"] = [(r.name.to_text(), dns.rdataclass.to_text(r.rdclass),
                      dns.rdatatype.to_text(r.rdtype)) for r in m.question]
    for sec in SECTIONS:
        rrsets = getattr(m, sec)
        keyed = [(_rrset_key(r), r) for r in rrsets]
        if sec != "answer":  # RRsets of authority and additional in any order
            keyed.sort(key=lambda kr: kr[0])
        v[sec] = [_rrset_text(r) for _, r in keyed]
        v[f"{sec}.keys"] = [k for k, _ in keyed]
        v[f"{sec}.order"] = [[_canonical_text(r, rd) for rd in r] for _, r in keyed]
        v[f"ttl.{sec}"] = [r.ttl for _, r in keyed]
    v["edns.present"] = m.edns >= 0
    if m.edns >= 0:
        v["edns.version"] = m.edns
        v["edns.payload"] = m.payload
        v["edns.DO"] = bool(m.ednsflags & dns.flags.DO)
        v["edns.other_flags"] = m.ednsflags & 0x7FFF
        v["edns.options"] = _options(m)
    return v


class Diff:
    """One field that differs for one query; what the INTENDED checks look at."""

    def __init__(self, section, q, v, u, vv, uv, field, elapsed):
        self.section, self.q, self.v, self.u, self.vv, self.uv, self.field = (
            section, q, v, u, vv, uv, field)
        self.elapsed = elapsed  # seconds since the section's first query


def _field_matches(pattern, field):
    return field.startswith(pattern[:-1]) if pattern.endswith("*") else field == pattern


def compare(section, q, v, u, elapsed):
    """([(field, vnetdns value, unbound value)] not excused, {intended name: 1} used)."""
    if isinstance(v, str) or isinstance(u, str):
        return [("reply", v if isinstance(v, str) else "an answer",
                 u if isinstance(u, str) else "an answer")], {}
    vv, uv = view(v), view(u)
    fields = [f for f in vv if not f.endswith(".keys")] + [
        f for f in uv if f not in vv and not f.endswith(".keys")]
    unexplained, used = [], {}
    for f in fields:
        a, b = vv.get(f), uv.get(f)
        if f.startswith("ttl.") or f.endswith(".order"):
            sec = f.split(".")[1] if f.startswith("ttl.") else f.split(".")[0]
            if vv[f"{sec}.keys"] != uv[f"{sec}.keys"]:
                continue  # the RRsets differ: that is the difference to report
        if a == b:
            continue
        d = Diff(section, q, v, u, vv, uv, f, elapsed)
        excuse = next((name for name, rule in INTENDED.items()
                       if any(_field_matches(p, f) for p in rule["fields"])
                       and rule["applies"](d)), None)
        if excuse:
            used[excuse] = 1
        else:
            unexplained.append((f, a, b))
    return unexplained, used


# Helpers of the INTENDED checks -------------------------------------------------------------


def _ttls_within(d, ok):
    """Every TTL pair of the section of d.field passes ok(v_ttl, u_ttl, cap), where cap is the
    smallest TTL of Unbound's answer and authority sections."""
    sec = d.field.split(".", 1)[1]
    if d.vv[f"{sec}.keys"] != d.uv[f"{sec}.keys"]:
        return False
    uttls = d.uv["ttl.answer"] + d.uv["ttl.authority"]
    cap = min(uttls) if uttls else 0
    return all(ok(a, b, cap) for a, b in zip(d.vv[d.field], d.uv[d.field]))


def _local_ttls(d):
    """Each TTL pair is within tolerance, or the record lies in the local zone and vnetdns
    has the zone file's TTL while Unbound's cached copy is lower."""
    sec = d.field.split(".", 1)[1]
    if d.section != "private-zone" or d.vv[f"{sec}.keys"] != d.uv[f"{sec}.keys"]:
        return False
    zone_ttls = _zone_ttls()
    for key, a, b in zip(d.vv[f"{sec}.keys"], d.vv[d.field], d.uv[d.field]):
        if abs(a - b) <= TTL_TOLERANCE:
            continue
        owner = dns.name.from_text(key[0])
        want = zone_ttls.get((owner, key[2]))
        if key[2] == "SOA" and sec == "authority" and owner == LOCAL_ZONE:
            want = _negative_ttl()
        if not owner.is_subdomain(LOCAL_ZONE) or want is None or a != want or b > a:
            return False
    return True


_ZONE = {}


def _zone_ttls():
    if "ttls" not in _ZONE:
        import dns.zone
        z = dns.zone.from_file(h.private_zone()["file"], origin=LOCAL_ZONE, relativize=False)
        _ZONE["ttls"] = {(name, dns.rdatatype.to_text(rds.rdtype)): rds.ttl
                         for name, node in z.nodes.items() for rds in node.rdatasets}
        soa = z.get_rdataset(LOCAL_ZONE, "SOA")
        _ZONE["neg"] = min(soa.ttl, soa[0].minimum)  # RFC 2308 section 3
    return _ZONE["ttls"]


def _negative_ttl():
    _zone_ttls()
    return _ZONE["neg"]


def _only_glue(m):
    named = set()
    for rrset in m.answer + m.authority:
        for rd in rrset:
            for attr in ("target", "exchange"):
                if hasattr(rd, attr):
                    named.add(getattr(rd, attr))
    return all(r.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA) and r.name in named
               for r in m.additional)


def _is_rfc8482(m, q):
    return (m.rcode() == dns.rcode.NOERROR and not m.authority and len(m.answer) == 1 and
            m.answer[0].name == q.name and m.answer[0].rdtype == dns.rdatatype.HINFO and
            [(rd.cpu, rd.os) for rd in m.answer[0]] == [(b"RFC8482", b"")])


def _cache_miss_reply(m):
    """Unbound's reply to RD=0 when it has no answer cached: SERVFAIL with empty sections, or
    a referral (NOERROR, no answer, only NS RRsets in authority)."""
    if m.answer or m.flags & dns.flags.TC:
        return False
    if m.rcode() == dns.rcode.SERVFAIL:
        return not m.authority
    return (m.rcode() == dns.rcode.NOERROR and bool(m.authority) and
            all(r.rdtype == dns.rdatatype.NS for r in m.authority))


def _in_local_zone(name):
    return name.is_subdomain(LOCAL_ZONE)


def _cookie_echoed(m):
    opts = [o for o in (m.options if m.edns >= 0 else [])]
    if len(opts) != 1 or opts[0].otype != dns.edns.OptionType.COOKIE:
        return False
    data = opts[0].to_wire()
    return data[:8] == CLIENT_COOKIE and len(data) == 24


# ---------------------------------------------------------------------------------------------
# Servers


def start_unbound(ctx, upstream_addr, upstream_port, name):
    """Unbound as a plain forwarder: forward-zone "." to the given server, iterator only."""
    port = h.free_port((UNBOUND_ADDR,))
    rundir = os.path.join(ctx.workdir, f"{name}-{port}")
    os.makedirs(rundir)
    conf = os.path.join(rundir, "unbound.conf")
    with open(conf, "w") as f:
        # A plain forwarder, iterator only (no validator: no DNSSEC, no trust anchor);
        # allow_snoop: RD=0 queries are answered from the cache (plain allow REFUSES them).
        f.write(h.unbound_conf(rundir, UNBOUND_ADDR, port, None,
                               [f"{upstream_addr}@{upstream_port}"], private_address=(),
                               access="allow_snoop", extra=("qname-minimisation: no",),
                               logfile=os.path.join(rundir, "unbound.log")))
    r = h.run_tool(["unbound-checkconf", conf]) if shutil.which("unbound-checkconf") else None
    if r is not None and r.returncode != 0:
        raise RuntimeError(f"unbound-checkconf rejects {conf}:\n{r.stdout}{r.stderr}")
    child = h.Child(name, [h.UNBOUND, "-d", "-c", conf], os.path.join(rundir, "stdio.log"))
    ctx.stack.callback(child.stop)
    child.unbound_log = os.path.join(rundir, "unbound.log")
    h.wait_answered(UNBOUND_ADDR, port, PROBE[0], PROBE[1], 15, tcp_too=True)
    return child, port


def start_private_view(ctx):
    """A second Knot: the stand-in's public data without its public privatelink.azurecr.io
    names, plus tests/integration/data/privatelink.azurecr.io.zone as a zone of its own:
    Azure DNS as a VM in a VNet linked to the private zone sees it."""
    fake_source = os.path.join(ctx.workdir, "private-view-source")
    standin = os.path.join(ctx.source, "deploy", "standin")
    zones = os.path.join(fake_source, "deploy", "standin", "zones")
    os.makedirs(zones)
    for fname in ("azurecr.io.zone", "trafficmanager.example.zone", "cloudapp.example.zone"):
        shutil.copyfile(os.path.join(standin, "zones", fname), os.path.join(zones, fname))
    with open(os.path.join(standin, "zones", "root.zone")) as f:
        root = [l for l in f.read().splitlines() if "privatelink.azurecr.io" not in l]
    with open(os.path.join(zones, "root.zone"), "w") as f:
        f.write("\n".join(root) + "\n")
    shutil.copyfile(h.private_zone()["file"], os.path.join(zones, "privatelink.azurecr.io.zone"))
    with open(os.path.join(standin, "knot.conf.in")) as f:
        conf = f.read()
    with open(os.path.join(fake_source, "deploy", "standin", "knot.conf.in"), "w") as f:
        f.write(conf.rstrip("\n") + "\n  - domain: privatelink.azurecr.io\n")
    s = h.StandIn(fake_source, ctx.workdir, addr=PRIVATE_VIEW_ADDR)
    ctx.servers.append(s)
    ctx.stack.callback(s.stop)
    s.start()
    # the private zone is loaded (not only the root)
    h.wait_answered(s.addr, s.port, "privatelink.azurecr.io", "SOA", 15)
    return s


# ---------------------------------------------------------------------------------------------
# The comparison


def run_section(t, section, queries, vport, uport, vnetdns, unbound):
    t0 = time.monotonic()
    failures, used, answered_records, rcodes = [], {}, 0, {}
    for q in queries:
        if time.monotonic() - t0 > SECTION_DEADLINE:
            t.ok(False, f"{section}: all {len(queries)} queries asked within "
                        f"{SECTION_DEADLINE:.0f} s", f"stopped at {q.line!r}")
            break
        v = ask(q, VNETDNS_ADDR, vport)
        u = ask(q, UNBOUND_ADDR, uport)
        unexplained, u_used = compare(section, q, v, u, time.monotonic() - t0)
        for k in u_used:
            used[k] = used.get(k, 0) + 1
        if not isinstance(v, str):
            answered_records += bool(v.answer)
            rc = dns.rcode.to_text(v.rcode())
            rcodes[rc] = rcodes.get(rc, 0) + 1
        if unexplained:
            failures.append((q, v, u, unexplained))
    elapsed = time.monotonic() - t0
    print(f"# {section}: {len(queries)} queries in {elapsed:.1f} s, {len(failures)} with "
          f"unintended differences, {answered_records} with records in the answer", flush=True)
    print(f"#   vnetdns rcodes: {', '.join(f'{k} {n}' for k, n in sorted(rcodes.items()))}",
          flush=True)
    for name in INTENDED:
        if used.get(name):
            print(f"#   intended {name}: {used[name]} queries", flush=True)
    detail = []
    for q, v, u, unexplained in failures[:MAX_PRINTED]:
        detail.append(f"=== {q.line}")
        for f, a, b in unexplained:
            detail.append(f"  {f}:")
            detail.append(f"    vnetdns: {a!r}")
            detail.append(f"    unbound: {b!r}")
        detail.append("  --- vnetdns:")
        detail += ["    " + l for l in (v if isinstance(v, str) else v.to_text()).splitlines()]
        detail.append("  --- unbound:")
        detail += ["    " + l for l in (u if isinstance(u, str) else u.to_text()).splitlines()]
    if len(failures) > MAX_PRINTED:
        detail.append(f"... and {len(failures) - MAX_PRINTED} more: "
                      + ", ".join(q.line for q, _, _, _ in failures[MAX_PRINTED:]))
    t.ok(not failures, f"{section}: vnetdns and Unbound give the same {len(queries)} answers "
                       "but for the intended differences", "\n".join(detail))
    t.ok(vnetdns.alive() and unbound.alive(), f"{section}: both servers still running",
         vnetdns.tail() + "\n" + unbound.tail())
    return used, answered_records


def _reply(q, answer=(), authority=()):
    """A reply to q as Unbound would give it, from 'name ttl class type rdata' lines."""
    r = dns.message.make_response(q.msg)
    r.flags |= dns.flags.RA
    for sec, lines in ((r.answer, answer), (r.authority, authority)):
        for line in lines:
            name, ttl, rdclass, rdtype, rdata = line.split(None, 4)
            sec.append(dns.rrset.from_text(name, int(ttl), rdclass, rdtype, rdata))
    return r


def check_comparator(ctx, t):
    """the comparison is not blind: planted differences fail, intended ones stay confined"""
    q = Query("myregistry.azurecr.io A", 0)
    chain = ["myregistry.azurecr.io. 300 IN CNAME myregistry.privatelink.azurecr.io.",
             "myregistry.privatelink.azurecr.io. 300 IN A 20.45.122.144"]
    u = _reply(q, chain)
    unexplained, _ = compare("forwarder", q, _reply(q, chain), u, 0.0)
    t.eq(unexplained, [], "comparator: identical answers compare equal")

    def planted(what, mutate, query=q, unbound=u):
        v = _reply(query, chain)
        mutate(v)
        unexplained, _ = compare("forwarder", query, v, unbound, 0.0)
        t.ok(unexplained, f"comparator: {what} is reported", repr(unexplained))

    planted("AD=1", lambda v: setattr(v, "flags", v.flags | dns.flags.AD))
    planted("AA=1 on a forwarded answer", lambda v: setattr(v, "flags", v.flags | dns.flags.AA))
    planted("another RCODE", lambda v: v.set_rcode(dns.rcode.NXDOMAIN))
    planted("a record more in an RRset", lambda v: v.answer[1].add(
        dns.rdata.from_text("IN", "A", "20.45.122.145")))
    planted("another address", lambda v: v.answer.__setitem__(1, dns.rrset.from_text(
        "myregistry.privatelink.azurecr.io.", 300, "IN", "A", "10.0.0.7")))
    planted("a TTL 100 s higher", lambda v: setattr(v.answer[1], "ttl", 400))
    planted("the question's letter case", lambda v: v.question.__setitem__(0, dns.rrset.RRset(
        dns.name.from_text("MyRegistry.azurecr.io"), dns.rdataclass.IN, dns.rdatatype.A)))
    planted("another EDNS UDP size", lambda v: v.use_edns(0, v.ednsflags, 4096))
    planted("an EDE option", lambda v: v.use_edns(0, v.ednsflags, v.payload, options=[
        dns.edns.GenericOption(dns.edns.OptionType.EDE, b"\x00\x03")]))
    planted("an additional record", lambda v: v.additional.append(dns.rrset.from_text(
        "ns1.azurecr.io.", 300, "IN", "A", "127.0.0.2")))
    qany = Query("myregistry.azurecr.io ANY", 1)
    planted("an ANY answer other than RFC 8482's HINFO",
            lambda v: v.answer.__setitem__(1, dns.rrset.from_text(
                "myregistry.azurecr.io.", 300, "IN", "A", "10.0.0.7")),
            query=qany, unbound=_reply(qany, chain[:1]))
    # Local-zone rules: vnetdns's zone TTL against Unbound's aged copy passes, not the reverse.
    qp = Query("myregistry.privatelink.azurecr.io A", 2)
    local = "myregistry.privatelink.azurecr.io. {} IN A 10.0.0.7"
    v = _reply(qp, [local.format(10)])
    v.flags |= dns.flags.AA
    unexplained, used = compare("private-zone", qp, v, _reply(qp, [local.format(5)]), 0.0)
    t.ok(not unexplained and set(used) == {"aa-local-zone", "ttl-local-zone"},
         "comparator: AA=1 and the zone's TTL on a local answer are intended",
         repr((unexplained, used)))
    v = _reply(qp, [local.format(5)])
    unexplained, _ = compare("private-zone", qp, v, _reply(qp, [local.format(10)]), 0.0)
    t.ok(unexplained, "comparator: a local TTL below Unbound's is reported")


def check_forwarder(ctx, t):
    """pure forwarders: vnetdns and Unbound, both "." to the stand-in, give the same answers"""
    if not os.path.exists(h.UNBOUND):
        print("# skip - unbound not installed (Debian package unbound)")
        return
    queries = read_list("queries-forwarder.txt")
    s = ctx.standin()
    v = ctx.vnetdns(forwards=[{"zone": ".", "upstreams": [s.upstream()]}],
                    listen_addrs=(VNETDNS_ADDR,), probe=PROBE)
    ub, uport = start_unbound(ctx, s.addr, s.port, "unbound-forwarder")
    before = s.query_count()
    used, with_records = run_section(t, "forwarder", queries, v.port, uport, v, ub)
    t.ok(s.query_count() > before + 100, "forwarder: both really asked the stand-in",
         f"{before} -> {s.query_count()}")
    t.ok(with_records > 150, f"forwarder: {with_records} answers carry records (not all "
                             "negative)")
    for name in ("rr-order", "any-rfc8482", "rd0-unbound-sets-rd", "rd0-no-recursion",
                 "server-cookie", "additional-trimmed", "ttl-packet-cache-cap"):
        t.ok(used.get(name, 0) > 0, f"forwarder: the list exercises intended difference {name}")
    t.eq(v.stop(), 0, "forwarder: vnetdns exits 0 on SIGTERM")
    t.eq(ub.stop(), 0, "forwarder: unbound exits 0 on SIGTERM")


def check_private_zone(ctx, t):
    """guide scenario: vnetdns with the private zone, Unbound via a Knot serving it"""
    if not os.path.exists(h.UNBOUND):
        print("# skip - unbound not installed (Debian package unbound)")
        return
    queries = read_list("queries-private-zone.txt")
    s = ctx.standin()
    pv = start_private_view(ctx)
    v = ctx.vnetdns(zones=[h.private_zone("nxdomain")],
                    forwards=[{"zone": ".", "upstreams": [s.upstream()]}],
                    listen_addrs=(VNETDNS_ADDR,), probe=PROBE, name="vnetdns-private")
    ub, uport = start_unbound(ctx, pv.addr, pv.port, "unbound-private-view")
    # The scenario holds: the public stand-in ends in a public address, the private view and
    # vnetdns in the private one.
    pub = h.udp(s.addr, s.port, "myregistry.azurecr.io")
    t.ok("20.45.122.144" in h.answer_addresses(pub), "private-zone: the stand-in (vnetdns's "
         "upstream) gives the public chain", pub.to_text())
    used, with_records = run_section(t, "private-zone", queries, v.port, uport, v, ub)
    m = h.udp(UNBOUND_ADDR, uport, "myregistry.azurecr.io")
    t.eq(h.answer_addresses(m), ["10.0.0.7"], "private-zone: Unbound via the private view "
         "gets the private address (the comparison compared the guide's answer)")
    for name in ("aa-local-zone", "any-local-one-rrset"):
        t.ok(used.get(name, 0) > 0, f"private-zone: the list exercises intended difference {name}")
    t.eq(v.stop(), 0, "private-zone: vnetdns exits 0 on SIGTERM")
    t.eq(ub.stop(), 0, "private-zone: unbound exits 0 on SIGTERM")


if __name__ == "__main__":
    sys.exit(h.main([check_comparator, check_forwarder, check_private_zone], __doc__))
