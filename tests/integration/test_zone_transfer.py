#!/usr/bin/python3
"""Several instances kept in sync: zone transfers (AXFR/IXFR, NOTIFY, TSIG) on loopback.

- vnetdns as primary feeding two vnetdns secondaries: a record added on the primary reaches
  both within the NOTIFY round trip; with the primary down they keep answering, and a
  restarted secondary serves its persisted copy at once.
- A secondary without a copy answers SERVFAIL with EDE 14 (Not Ready), never forwards.
- BIND (named, Debian bind9) as primary with ixfr-from-differences: vnetdns takes the zone,
  then applies BIND's incremental IXFR after an edit and NOTIFY.
- BIND as secondary of vnetdns: takes the zone with TSIG and follows vnetdns's NOTIFY.
- The primary's access rules: allow_transfer (REFUSED), TSIG required (NOTAUTH), AXFR over
  UDP (NOTIMP), IXFR with a current serial (one SOA), NOTIFY from a stranger (REFUSED).

Every server is a child of this script on 127.0.0.1, stopped by PID and reaped.
Run: /usr/bin/python3 tests/integration/test_zone_transfer.py --binary build/vnetdns
"""

import os
import re
import struct
import subprocess
import time
import unittest.mock

import dns.edns
import dns.message
import dns.opcode
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsig
import dns.tsigkeyring

import harness as h

ZONE = "privatelink.azurecr.io"
KEY_NAME = "xfr-key"
KEY_SECRET = "bTBjazNkLXNlY3JldC1mb3ItdGVzdHMtb25seQ=="  # test-only
KEY_TOML = f'[[key]]\nname = "{KEY_NAME}"\nalgorithm = "hmac-sha256"\nsecret = "{KEY_SECRET}"\n'
KEYRING = dns.tsigkeyring.from_text({KEY_NAME: ("hmac-sha256", KEY_SECRET)})


def zone_text(serial, extra=()):
    lines = [f"$ORIGIN {ZONE}.", "$TTL 300",
             f"@ IN SOA ns1 hostmaster {serial} 3600 600 86400 300",
             "@ IN NS ns1", "ns1 IN A 10.0.0.53", "myregistry IN A 10.0.0.7",
             "myregistry.westeurope.data IN A 10.0.0.6"]
    return "\n".join(list(lines) + list(extra)) + "\n"


def write(path, text):
    tmp = path + ".new"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def ask(port, name, rdtype="A", tcp=False):
    q = h.make_query(name, rdtype)
    return (dns.query.tcp if tcp else dns.query.udp)(q, h.LOOPBACK4, port=port, timeout=2)


def addresses(port, name):
    try:
        return h.answer_addresses(ask(port, name))
    except Exception:  # noqa: BLE001 - not answering (yet) counts as "no address"
        return []


def wait_for(cond, deadline_s, what):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)  # poll interval
    print(f"# timed out after {deadline_s}s waiting for {what}")
    return False


def primary(ctx, serial, notify=(), allow=("127.0.0.0/8",), key=True, name="primary"):
    v = h.Vnetdns(ctx.binary, ctx.workdir, listen_addrs=(h.LOOPBACK4,), name=name)
    zfile = os.path.join(v.dir, "primary.zone")
    write(zfile, zone_text(serial))
    lines = [KEY_TOML, "[[zone]]", f'name = "{ZONE}"', 'file = "primary.zone"',
             f"allow_transfer = {h._toml_value(list(allow))}"]
    if notify:
        lines.append(f"notify = {h._toml_value(list(notify))}")
    if key:
        lines.append(f'key = "{KEY_NAME}"')
    with open(v.config, "a") as f:
        f.write("\n".join(lines) + "\n")
    ctx.servers.append(v)
    ctx.stack.callback(v.stop)
    v.start()
    return v, zfile


def secondary(ctx, primaries, port=None, key=True, name="secondary", start=True):
    v = h.Vnetdns(ctx.binary, ctx.workdir, listen_addrs=(h.LOOPBACK4,), port=port, name=name)
    lines = [KEY_TOML, "[[zone]]", f'name = "{ZONE}"', 'file = "copy.zone"',
             f"primaries = {h._toml_value(list(primaries))}"]
    if key:
        lines.append(f'key = "{KEY_NAME}"')
    with open(v.config, "a") as f:
        f.write("\n".join(lines) + "\n")
    v.copy = os.path.join(v.dir, "copy.zone")
    ctx.servers.append(v)
    ctx.stack.callback(v.stop)
    if start:
        v.start(probe=("example.invalid", "SOA"))
    return v


def check_vnetdns_primary_two_secondaries(ctx, t):
    """a record added on a vnetdns primary reaches two vnetdns secondaries via NOTIFY"""
    ports = [h.free_port(), h.free_port()]
    p, zfile = primary(ctx, 2026112901, notify=[f"127.0.0.1:{x}" for x in ports])
    secs = [secondary(ctx, [f"127.0.0.1:{p.port}"], port=x, name=f"secondary{i}")
            for i, x in enumerate(ports)]
    for i, s in enumerate(secs):
        t.ok(wait_for(lambda s=s: addresses(s.port, f"myregistry.{ZONE}") == ["10.0.0.7"], 15,
                      "first transfer"),
             f"secondary {i}: first transfer done, myregistry answers 10.0.0.7", s.tail())
        r = ask(s.port, f"myregistry.{ZONE}")
        t.ok(r.flags & dns.flags.AA, f"secondary {i}: answers authoritatively (AA)")
    t0 = time.monotonic()
    write(zfile, zone_text(2026112902, ["newreplica IN A 10.0.0.9"]))  # the primary's file watcher reloads
    for i, s in enumerate(secs):
        t.ok(wait_for(lambda s=s: addresses(s.port, f"newreplica.{ZONE}") == ["10.0.0.9"], 15,
                      "the new record"),
             f"secondary {i}: the record added on the primary answers", s.tail())
    dt = time.monotonic() - t0
    print(f"# edit on the primary -> answered by both secondaries in {dt:.2f}s")
    t.ok(dt < 5.0, f"propagation within the NOTIFY round trip, not a refresh timer ({dt:.2f}s)")
    t.ok(any(re.search(r"NOTIFY for privatelink.azurecr.io. serial 2026112902 acknowledged", l)
             for l in p.child.lines), "the primary logged each NOTIFY acknowledged", p.tail())
    with open(secs[0].copy) as f:
        persisted = f.read()
    t.ok("2026112902" in persisted and "10.0.0.9" in persisted,
         "the secondary persisted the new copy to its zone file", persisted)

    # The primary goes away: the secondaries keep their last good copy.
    t.eq(p.stop(), 0, "primary stops cleanly")
    for i, s in enumerate(secs):
        t.eq(addresses(s.port, f"newreplica.{ZONE}"), ["10.0.0.9"],
             f"secondary {i}: still answers with the primary down")
    # A restart while the primary is down serves the copy from disk at once.
    s = secs[1]
    s.stop()
    s.start(probe=("example.invalid", "SOA"))
    t.eq(addresses(s.port, f"newreplica.{ZONE}"), ["10.0.0.9"],
         "restarted secondary serves its persisted copy with the primary down")
    t.ok(wait_for(lambda: any("refresh failed" in l for l in s.child.lines), 10, "a failed refresh"),
         "restarted secondary logs that the refresh failed", s.tail())
    t.ok(s.alive(), "secondary keeps running")


def check_unready_secondary(ctx, t):
    """a secondary with no copy and no primary answers SERVFAIL EDE 14, and does not forward"""
    s = secondary(ctx, [f"127.0.0.1:{h.free_port()}"])
    q = h.make_query(f"myregistry.{ZONE}", "A", edns=0)
    r = dns.query.udp(q, h.LOOPBACK4, port=s.port, timeout=2)
    t.eq(dns.rcode.to_text(r.rcode()), "SERVFAIL", "no copy yet: SERVFAIL")
    codes = [o.code for o in r.options if isinstance(o, dns.edns.EDEOption)]
    t.eq(codes, [14], "with EDE 14 (Not Ready)")
    t.ok(not os.path.exists(s.copy), "no zone file is made up")


def check_primary_rules(ctx, t):
    """allow_transfer, TSIG, AXFR over UDP, IXFR at the current serial, NOTIFY from strangers"""
    p, _ = primary(ctx, 7, allow=["127.0.0.1"], key=True)
    # Signed AXFR from an allowed address: the whole zone.
    r = h.dig(h.LOOPBACK4, p.port, "-b", "127.0.0.1", "-y", f"hmac-sha256:{KEY_NAME}:{KEY_SECRET}",
              ZONE, "AXFR")
    recs = [l for l in r.stdout.splitlines() if l and not l.startswith(";") and "TSIG" not in l]
    t.ok(any("TSIG" in l for l in r.stdout.splitlines()), "the AXFR answer is signed", r.stdout)
    t.ok(len(recs) == 6 and "SOA" in recs[0] and "SOA" in recs[-1],
         "signed AXFR: SOA, 4 records, SOA", r.stdout)
    # Unsigned: NOTAUTH (the zone has a key).
    r = h.dig(h.LOOPBACK4, p.port, "-b", "127.0.0.1", ZONE, "AXFR")
    t.ok("Transfer failed" in r.stdout, "unsigned AXFR of a zone with a key fails", r.stdout)
    q = dns.message.make_query(ZONE, "AXFR")
    resp = dns.query.tcp(q, h.LOOPBACK4, port=p.port, timeout=3, source="127.0.0.1")
    t.eq(dns.rcode.to_text(resp.rcode()), "NOTAUTH", "unsigned AXFR: NOTAUTH")
    # From 127.0.0.2 (not in allow_transfer): REFUSED even when signed.
    q = dns.message.make_query(ZONE, "AXFR")
    q.use_tsig(KEYRING, KEY_NAME)
    resp = dns.query.tcp(q, h.LOOPBACK4, port=p.port, timeout=3, source="127.0.0.2")
    t.eq(dns.rcode.to_text(resp.rcode()), "REFUSED", "AXFR from outside allow_transfer: REFUSED")
    # AXFR over UDP: NOTIMP.
    q = dns.message.make_query(ZONE, "AXFR")
    q.use_tsig(KEYRING, KEY_NAME)
    resp = dns.query.udp(q, h.LOOPBACK4, port=p.port, timeout=3, source="127.0.0.1")
    t.eq(dns.rcode.to_text(resp.rcode()), "NOTIMP", "AXFR over UDP: NOTIMP")
    # IXFR at the current serial: one SOA.
    r = h.dig(h.LOOPBACK4, p.port, "-b", "127.0.0.1", "-y", f"hmac-sha256:{KEY_NAME}:{KEY_SECRET}",
              ZONE, "IXFR=7")
    recs = [l for l in r.stdout.splitlines() if l and not l.startswith(";") and "TSIG" not in l]
    t.ok(len(recs) == 1 and "SOA" in recs[0], "IXFR at the current serial: one SOA", r.stdout)
    # A zone we do not serve: NOTAUTH.
    q = dns.message.make_query("example.org", "AXFR")
    resp = dns.query.tcp(q, h.LOOPBACK4, port=p.port, timeout=3, source="127.0.0.1")
    t.eq(dns.rcode.to_text(resp.rcode()), "NOTAUTH", "AXFR of a zone not served: NOTAUTH")
    # NOTIFY for a zone that is not a secondary here: NOTAUTH, and nothing else happens.
    n = dns.message.make_query(ZONE, "SOA")
    n.set_opcode(dns.opcode.NOTIFY)
    resp = dns.query.udp(n, h.LOOPBACK4, port=p.port, timeout=3)
    t.eq(dns.rcode.to_text(resp.rcode()), "NOTAUTH", "NOTIFY to a primary zone: NOTAUTH")
    # A signed ordinary query gets a signed answer (what a BIND secondary's SOA check needs).
    q = dns.message.make_query(ZONE, "SOA")
    q.use_tsig(KEYRING, KEY_NAME)
    resp = dns.query.udp(q, h.LOOPBACK4, port=p.port, timeout=3)
    t.ok(resp.had_tsig and resp.answer, "a signed SOA query gets a signed answer (dnspython verified it)")
    bad = dns.tsigkeyring.from_text({KEY_NAME: ("hmac-sha256", "d3Jvbmcta2V5LXdyb25nLWtleQ==")})
    q = dns.message.make_query(ZONE, "SOA")
    q.use_tsig(bad, KEY_NAME)
    wire = q.to_wire()
    raw = h.raw_udp(h.LOOPBACK4, p.port, wire)
    t.ok(raw is not None and len(raw) >= 12 and (raw[3] & 0xF) == 9,
         "a query signed with a wrong secret: NOTAUTH")
    check_tsig_errors(t, p.port, q, raw)
    # Ordinary queries still answer.
    t.eq(addresses(p.port, f"myregistry.{ZONE}"), ["10.0.0.7"], "queries still answer")


def tsig_error_of(raw, keyring, request_mac):
    """The TSIG error a client sees in `raw` (dnspython's exception name), or the rcode."""
    try:
        m = dns.message.from_wire(raw, keyring=keyring, request_mac=request_mac)
    except dns.tsig.PeerError as e:
        return type(e).__name__
    except Exception as e:  # noqa: BLE001 - any other failure is reported as such
        return f"{type(e).__name__}: {e}"
    return dns.rcode.to_text(m.rcode())


def check_tsig_errors(t, port, bad_query, bad_raw):
    """RFC 8945 sections 5.2 / 5.3.2: NOTAUTH with a TSIG record naming the error (BADSIG,
    BADKEY, BADTIME) and an empty MAC, so a client can tell them apart."""
    bad = dns.tsigkeyring.from_text({KEY_NAME: ("hmac-sha256", "d3Jvbmcta2V5LXdyb25nLWtleQ==")})
    t.eq(tsig_error_of(bad_raw, bad, bad_query.mac), "PeerBadSignature",
         "wrong secret: TSIG error BADSIG (16)")
    unknown_ring = dns.tsigkeyring.from_text({"no-such-key.": ("hmac-sha256", KEY_SECRET)})
    q = dns.message.make_query(ZONE, "SOA")
    q.use_tsig(unknown_ring, "no-such-key.")
    raw = h.raw_udp(h.LOOPBACK4, port, q.to_wire())
    t.ok(raw is not None and (raw[3] & 0xF) == 9, "unknown key: NOTAUTH")
    t.eq(tsig_error_of(raw, unknown_ring, q.mac), "PeerBadKey",
         "unknown key: TSIG error BADKEY (17), not a bare NOTAUTH")
    if raw is not None and len(raw) > 20:
        # The TSIG RDATA ends in MAC size (0, no MAC), original ID, error, other length (0).
        mac_size, orig_id, error, other_len = struct.unpack("!HHHH", raw[-8:])
        t.eq((mac_size, orig_id, error, other_len), (0, q.id, 17, 0),
             "  its TSIG record: empty MAC, the original ID, error 17, no other data")
    # Signed with the right key an hour ago (outside the 300 s fudge): BADTIME.
    q = dns.message.make_query(ZONE, "SOA")
    q.use_tsig(KEYRING, KEY_NAME)
    real_time = time.time
    with unittest.mock.patch("time.time", lambda: real_time() - 3600):
        wire = q.to_wire()
    raw = h.raw_udp(h.LOOPBACK4, port, wire)
    t.eq(tsig_error_of(raw, KEYRING, q.mac), "PeerBadTime",
         "signed an hour ago: TSIG error BADTIME (18)")
    # dig -y, as an operator would try it: the TSIG pseudo-section names the error.
    r = subprocess.run(["dig", f"@{h.LOOPBACK4}", "-p", str(port), "+time=3", "+tries=1",
                        "-y", f"hmac-sha256:no-such-key:{KEY_SECRET}", ZONE, "SOA"],
                       capture_output=True, text=True, timeout=20, check=False)
    t.ok("NOTAUTH" in r.stdout and "BADKEY" in r.stdout,
         "dig -y with an unknown key: NOTAUTH, TSIG error BADKEY", r.stdout[-600:])
    r = subprocess.run(["kdig", f"@{h.LOOPBACK4}", "-p", str(port), "+time=3", "+retry=0",
                        "-y", f"hmac-sha256:no-such-key:{KEY_SECRET}", ZONE, "SOA"],
                       capture_output=True, text=True, timeout=20, check=False)
    t.ok(re.search(r"TSIG\s+hmac-sha256\.\s+\d+\s+300\s+0\s+\d+\s+BADKEY", r.stdout) is not None,
         "kdig -y with an unknown key: a TSIG record with no MAC and error BADKEY",
         r.stdout[-600:])


def check_notify_acl(ctx, t):
    """a secondary acts on NOTIFY from its primaries only"""
    s = secondary(ctx, ["127.0.0.5:53"], key=False)
    n = dns.message.make_query(ZONE, "SOA")
    n.set_opcode(dns.opcode.NOTIFY)
    resp = dns.query.udp(n, h.LOOPBACK4, port=s.port, timeout=3, source="127.0.0.1")
    t.eq(dns.rcode.to_text(resp.rcode()), "REFUSED", "NOTIFY from a non-primary: REFUSED")
    resp = dns.query.udp(n, h.LOOPBACK4, port=s.port, timeout=3, source="127.0.0.5")
    t.eq(dns.rcode.to_text(resp.rcode()), "NOERROR", "NOTIFY from the primary's address: NOERROR")
    t.eq(resp.opcode(), dns.opcode.NOTIFY, "the answer is a NOTIFY response")
    t.ok(resp.flags & dns.flags.AA, "with AA")


def named(ctx, name, body, port):
    return h.start_authoritative_named(
        ctx, name, port, options=["notify-source 127.0.0.1;", "transfer-source 127.0.0.1;"],
        body=[f'key "{KEY_NAME}" {{ algorithm hmac-sha256; secret "{KEY_SECRET}"; }};', body])


def check_bind_primary(ctx, t):
    """BIND as primary (ixfr-from-differences): vnetdns takes AXFR, then BIND's incremental IXFR"""
    if not os.path.exists(h.NAMED):
        print("# skip - named not installed (Debian package bind9)")
        return
    vport = h.free_port()
    bport = h.free_port()
    rundir = os.path.join(ctx.workdir, "bind-primary-zone")
    os.makedirs(rundir)
    zfile = os.path.join(rundir, "primary.db")
    write(zfile, zone_text(100))
    body = "\n".join([
        f'zone "{ZONE}" {{ type primary; file "{zfile}"; ixfr-from-differences yes;',
        '  max-ixfr-ratio unlimited;',
        f'  notify explicit; also-notify {{ 127.0.0.1 port {vport} key {KEY_NAME}; }};',
        f'  allow-transfer {{ key {KEY_NAME}; }}; }};'])
    bind, _ = named(ctx, "named-primary", body, bport)
    h.wait_answered(h.LOOPBACK4, bport, ZONE, "SOA", 15)
    s = secondary(ctx, [f"127.0.0.1:{bport}"], port=vport)
    t.ok(wait_for(lambda: addresses(s.port, f"myregistry.{ZONE}") == ["10.0.0.7"], 15, "transfer"),
         "vnetdns secondary of BIND: first copy answers", s.tail())
    t.ok(any("(AXFR," in l for l in s.child.lines), "the first copy came by AXFR", s.tail())
    # Edit: one record changed, one added; BIND keeps the difference and sends NOTIFY.
    write(zfile, zone_text(101, ["newreplica IN A 10.0.0.9"]).replace("10.0.0.6", "10.0.0.66"))
    bind.signal(__import__("signal").SIGHUP)
    t.ok(wait_for(lambda: addresses(s.port, f"newreplica.{ZONE}") == ["10.0.0.9"], 20, "IXFR"),
         "after BIND's reload and NOTIFY: the added record answers", s.tail() + "\n" + bind.tail())
    t.eq(addresses(s.port, f"myregistry.westeurope.data.{ZONE}"), ["10.0.0.66"],
         "the changed record answers its new address")
    t.ok(any("serial 101 transferred" in l and "(IXFR," in l for l in s.child.lines),
         "the change came as an incremental IXFR", s.tail())


def check_bind_secondary(ctx, t):
    """BIND as secondary of vnetdns (TSIG): takes the zone and follows vnetdns's NOTIFY"""
    if not os.path.exists(h.NAMED):
        print("# skip - named not installed (Debian package bind9)")
        return
    bport = h.free_port()
    p, zfile = primary(ctx, 500, notify=[f"127.0.0.1:{bport}"])
    body = "\n".join([
        f'zone "{ZONE}" {{ type secondary; file "secondary.db";',
        f'  primaries {{ 127.0.0.1 port {p.port} key {KEY_NAME}; }}; }};'])
    bind, rundir = named(ctx, "named-secondary", body, bport)
    t.ok(wait_for(lambda: addresses(bport, f"myregistry.{ZONE}") == ["10.0.0.7"], 20, "BIND's copy"),
         "BIND secondary answers from the zone it took from vnetdns", bind.tail())
    write(zfile, zone_text(501, ["newreplica IN A 10.0.0.9"]))
    t.ok(wait_for(lambda: addresses(bport, f"newreplica.{ZONE}") == ["10.0.0.9"], 20, "NOTIFY"),
         "after vnetdns's NOTIFY, BIND answers the added record", bind.tail() + "\n" + p.tail())
    t.ok(any(re.search(r"transfer of .privatelink.azurecr.io/IN. from 127.0.0.1#\d+: "
                       r"Transfer status: success", l) for l in bind.lines),
         "BIND logged a successful transfer", bind.tail())


if __name__ == "__main__":
    import dns.flags  # noqa: F401 - used through dns.flags above
    raise SystemExit(h.main([check_primary_rules, check_notify_acl, check_unready_secondary,
                             check_vnetdns_primary_two_secondaries, check_bind_primary,
                             check_bind_secondary], __doc__))
