#!/usr/bin/python3
"""Self-check of the DNSSEC fixture tests/integration/signed_hierarchy.py, with BIND's delv as
the independent judge.

    /usr/bin/python3 tests/integration/data/dnssec/check_hierarchy.py [--keep] [-v]

Starts the signed hierarchy (knotd + a non-validating Unbound, on loopback) and checks:
- knotd, asked directly (kdig, dnspython), serves what the module promises: DS of a child
  apex from the parent, each broken zone broken the stated way, NSEC3 parameters, the
  opt-out span really containing unsigned.nsec3.vnet. (no NSEC3 matches it);
- every entry of CASES: `delv -a <BIND trust-anchors file> @unbound -p PORT NAME TYPE` must
  reach the table's verdict (secure / insecure / bogus) and print the table's status lines
  ("fully validated", "unsigned answer", "negative response, ...", or for bogus the reason
  after "resolution failed:"); the non-validating Unbound's RCODE must be the table's;
- the non-validating Unbound passes DNSSEC records through for DO=1 (RRSIG, NSEC, NSEC3,
  DNSKEY; DS answered by the parent with the parent's RRSIG) and strips RRSIGs for DO=0;
- the trust anchor files agree with each other and with the root's DNSKEY;
- Unbound (verbosity 4) sent every query to knotd and nowhere else; as a control, delv with
  an altered root anchor finds a secure name bogus;
- a validating Unbound written by validating_unbound_conf() (forwarding to the hierarchy's
  Unbound) reaches the same verdicts (or the case's alt_verdict); the EDE codes it gives are
  printed as comments and must be expected_ede or alt_ede (-v prints every result).
TAP-style output; exits non-zero on any mismatch. Bounded: every tool call has a timeout and
the whole run must finish within 60 s.
"""

import argparse
import base64
import contextlib
import os
import re
import shutil
import signal
import sys
import tempfile
import time
import traceback

import dns.dnssec
import dns.flags
import dns.rdata
import dns.rdatatype

INTEG = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, INTEG)
import harness as h  # noqa: E402
from signed_hierarchy import CASES, SignedHierarchy, validating_unbound_conf  # noqa: E402

DELV = shutil.which("delv") or "/usr/bin/delv"
_STATUS = re.compile(r"^; ((?:negative response, )?(?:fully validated|unsigned answer|"
                     r"answer not validated))\s*$", re.M)
_FAILED = re.compile(r"^;; resolution failed: (.*)$", re.M)


def delv(sh, name, rtype):
    """delv's whole output (stdout and stderr) for NAME TYPE through the hierarchy's Unbound."""
    r = h.run_tool([DELV, "-a", sh.bind_trust_anchors, "+root=.", f"@{sh.unbound_addr}",
                    "-p", str(sh.unbound_port), name, rtype], timeout=20)
    return r.stdout + r.stderr


def delv_verdict(out):
    """(verdict, summary): bogus when resolution failed for any reason other than a negative
    answer (ncache nxdomain / nxrrset) or nothing was validated; otherwise insecure if any
    RRset or negative response was unsigned, else secure. `summary` is the status lines
    joined by " + " (one per RRset of a CNAME chain), or "resolution failed: REASON"."""
    statuses = _STATUS.findall(out)
    bad = [f for f in _FAILED.findall(out) if f not in ("ncache nxdomain", "ncache nxrrset")]
    if bad or not statuses:
        return "bogus", "resolution failed" + (f": {bad[0]}" if bad else "")
    verdict = "insecure" if any("unsigned" in s for s in statuses) else "secure"
    return verdict, " + ".join(statuses)


# What delv prints on the way to each bogus verdict, by the case's expected EDE.
_EVIDENCE = {7: "RRSIG has expired", 8: "RRSIG validity period has not begun",
             9: "no valid signature found (DS)", 6: "no valid signature found",
             10: "insecurity proof failed"}


def check_wrong_anchor(sh, t, workdir):
    """Control: with an anchor whose digest is altered, delv finds the secure zones bogus (so
    the verdicts above come from our anchor, not from somewhere else)."""
    path = os.path.join(workdir, "wrong-anchor.conf")
    with open(path, "w") as f:
        f.write(re.sub(r'"([0-9A-F])', lambda m: '"' + ("0" if m.group(1) != "0" else "1"),
                       sh.bind_anchor_text()))
    r = h.run_tool([DELV, "-a", path, "+root=.", f"@{sh.unbound_addr}", "-p",
                    str(sh.unbound_port), "www.secure.vnet.", "A"], timeout=20)
    t.eq(delv_verdict(r.stdout + r.stderr)[0], "bogus",
         "delv with a wrong root anchor: www.secure.vnet. A is bogus", r.stdout + r.stderr)


def check_cases(sh, t):
    """Every CASES entry: delv's verdict and status lines, the non-validating RCODE."""
    for c in CASES:
        what = f"{c['name']} {c['type']} ({c['what']})"
        out = delv(sh, c["name"], c["type"])
        verdict, summary = delv_verdict(out)
        print(f"# delv {c['name']} {c['type']}: {summary}", flush=True)
        t.eq(verdict, c["verdict"], f"delv says {c['verdict']}: {what}", out)
        t.eq(summary, c["delv"], f"delv's status for {c['name']} {c['type']}", out)
        why = _EVIDENCE.get(c["expected_ede"])
        if why:
            t.ok(why in out, f"delv's reason for {c['name']} {c['type']}: '{why}'", out)
        m = h.udp(sh.unbound_addr, sh.unbound_port, c["name"], c["type"], want_dnssec=True)
        t.eq(h.rcode_text(m), c["rcode"], f"non-validating Unbound: {c['name']} {c['type']} "
             f"is {c['rcode']}")


def _types(rrsets):
    return {(str(r.name), dns.rdatatype.to_text(r.rdtype),
             dns.rdatatype.to_text(r.covers) if r.rdtype == dns.rdatatype.RRSIG else "")
            for r in rrsets}


def _signers(rrsets):
    return {str(rd.signer) for r in rrsets if r.rdtype == dns.rdatatype.RRSIG for rd in r}


def check_passthrough(sh, t):
    """The non-validating Unbound returns what a validator needs for DO=1, nothing for DO=0."""
    a, p = sh.unbound_addr, sh.unbound_port
    m = h.udp(a, p, "www.secure.vnet.", "A", want_dnssec=True)
    t.ok(("www.secure.vnet.", "RRSIG", "A") in _types(m.answer), "DO=1: RRSIG with the A",
         m.to_text())
    m0 = h.udp(a, p, "www.secure.vnet.", "A")
    t.ok(m0.answer and not any(r.rdtype == dns.rdatatype.RRSIG for r in m0.answer),
         "DO=0: the A without RRSIG", m0.to_text())
    m = h.udp(a, p, "secure.vnet.", "DS", want_dnssec=True)
    t.ok(("secure.vnet.", "DS", "") in _types(m.answer) and _signers(m.answer) == {"vnet."},
         "DS secure.vnet. answered by the parent (RRSIG signer vnet.)", m.to_text())
    m = h.udp(a, p, "insecure.vnet.", "DS", want_dnssec=True)
    t.ok(not m.answer and ("insecure.vnet.", "NSEC", "") in _types(m.authority)
         and _signers(m.authority) == {"vnet."},
         "no DS for insecure.vnet.: vnet.'s signed NSEC in the authority section", m.to_text())
    m = h.udp(a, p, "unsigned.nsec3.vnet.", "DS", want_dnssec=True)
    kinds = {k[1] for k in _types(m.authority)}
    t.ok(not m.answer and "NSEC3" in kinds and _signers(m.authority) == {"nsec3.vnet."},
         "no DS for unsigned.nsec3.vnet.: nsec3.vnet.'s NSEC3 (opt-out) proof", m.to_text())
    m = h.udp(a, p, "secure.vnet.", "DNSKEY", want_dnssec=True)
    t.ok({k[1] for k in _types(m.answer)} == {"DNSKEY", "RRSIG"}, "DNSKEY with its RRSIG",
         m.to_text())
    m = h.udp(a, p, "nx.secure.vnet.", "A", want_dnssec=True)
    t.ok(h.rcode_text(m) == "NXDOMAIN" and {"NSEC", "RRSIG", "SOA"} <= {k[1] for k in
         _types(m.authority)}, "NXDOMAIN with NSEC and RRSIG in authority", m.to_text())
    m = h.udp(a, p, "nx.www.wild3.vnet.", "A", want_dnssec=True)
    t.ok(h.rcode_text(m) == "NXDOMAIN" and "NSEC3" in {k[1] for k in _types(m.authority)},
         "NXDOMAIN with NSEC3 in authority", m.to_text())
    m = h.udp(a, p, "foo.wild.vnet.", "A", want_dnssec=True)
    t.ok(any(rd.labels == 2 for r in m.answer if r.rdtype == dns.rdatatype.RRSIG for rd in r)
         and "NSEC" in {k[1] for k in _types(m.authority)},
         "wildcard answer: RRSIG labels 2 and the NSEC proving no closer match", m.to_text())
    r = h.kdig(a, p, "+dnssec", "www.nsec3.vnet.", "A")
    t.ok(re.search(r"RRSIG\s+A\s+15\s", r.stdout) is not None,
         "kdig +dnssec: RRSIG A (alg 15) from the NSEC3 zone", r.stdout + r.stderr)


def check_anchors(sh, t):
    """The three trust anchor files describe the root's KSK as served."""
    m = h.udp(sh.knot_addr, sh.knot_port, ".", "DNSKEY")
    ksks = [rd for r in m.answer for rd in r if rd.flags == 257]
    with open(sh.trust_anchor_dnskey) as f:
        owner, cls, typ, *rest = f.read().split(";")[0].split()
    key = dns.rdata.from_text("IN", "DNSKEY", " ".join(rest))
    t.ok((owner, cls, typ) == (".", "IN", "DNSKEY") and key in ksks,
         "trust_anchor_dnskey is '. IN DNSKEY' of the served root KSK")
    with open(sh.trust_anchor) as f:
        owner, cls, typ, *rest = f.read().split()
    ds = dns.rdata.from_text("IN", "DS", " ".join(rest))
    t.eq(ds, dns.dnssec.make_ds(".", key, "SHA256"), "trust_anchor is '. IN DS' of that KSK")
    with open(sh.bind_trust_anchors) as f:
        text = f.read()
    t.ok(f'. static-ds {ds.key_tag} 8 2 "{ds.digest.hex().upper()}";' in text,
         "bind_trust_anchors holds the same DS (static-ds)", text)
    t.ok(base64.b64encode(key.key).decode() in sh.bind_anchor_text("static-key"),
         "bind_anchor_text('static-key') holds the same DNSKEY")


def _knot(sh, name, rtype):
    return h.udp(sh.knot_addr, sh.knot_port, name, rtype, want_dnssec=True)


def _tags(m, rtype, section="answer"):
    """Key tags of the DNSKEYs (computed) or DS records (field) of one section."""
    return {dns.dnssec.key_id(rd) if rtype == "DNSKEY" else rd.key_tag
            for r in getattr(m, section) if r.rdtype == dns.rdatatype.from_text(rtype)
            for rd in r}


def check_zones(sh, t):
    """knotd (asked directly, kdig and dnspython) serves each zone as its docstring says."""
    r = h.kdig(sh.knot_addr, sh.knot_port, "+dnssec", "+norec", "secure.vnet.", "DS")
    t.ok(re.search(r"^secure\.vnet\.\s+\d+\s+IN\s+DS\s+\d+ 13 2 ", r.stdout, re.M)
         and re.search(r"RRSIG\s+DS 13 2 .* vnet\. ", r.stdout)
         and re.search(r"flags: qr aa", r.stdout, re.I),
         "kdig: knotd answers DS secure.vnet. from the parent vnet. (serving both)", r.stdout)
    m = _knot(sh, "insecure.vnet.", "DS")
    t.ok(not m.answer and {str(x.name) for x in m.authority} >= {"vnet.", "insecure.vnet."},
         "knotd: DS insecure.vnet. is vnet.'s NODATA (SOA vnet., NSEC)", m.to_text())
    sigs = lambda m, cov: [rd for r in m.answer if r.rdtype == dns.rdatatype.RRSIG  # noqa: E731
                           for rd in r if rd.type_covered == dns.rdatatype.from_text(cov)]
    now = time.time()
    keys, ds = _knot(sh, "wrongkey.vnet.", "DNSKEY"), _knot(sh, "wrongkey.vnet.", "DS")
    www = _knot(sh, "www.wrongkey.vnet.", "A")
    t.ok(_tags(keys, "DNSKEY") == _tags(ds, "DS") == {s.key_tag for s in sigs(keys, "DNSKEY")}
         and not {s.key_tag for s in sigs(www, "A")} & _tags(keys, "DNSKEY"),
         "wrongkey: one DNSKEY = the DS, signs DNSKEY; www A signed by an unpublished key",
         keys.to_text() + ds.to_text() + www.to_text())
    keys, ds = _knot(sh, "dsmismatch.vnet.", "DNSKEY"), _knot(sh, "dsmismatch.vnet.", "DS")
    t.ok(_tags(ds, "DS") and not _tags(ds, "DS") & _tags(keys, "DNSKEY"),
         "dsmismatch: vnet.'s DS matches no published DNSKEY", keys.to_text() + ds.to_text())
    ds = _knot(sh, "unsupported.vnet.", "DS")
    t.ok([rd.algorithm for r in ds.answer if r.rdtype == dns.rdatatype.DS for rd in r] == [200],
         "unsupported: vnet.'s only DS has algorithm 200", ds.to_text())
    t.ok(not sigs(_knot(sh, "www.nosig.vnet.", "A"), "A")
         and not sigs(_knot(sh, "www.nosig.vnet.", "AAAA"), "AAAA")
         and sigs(_knot(sh, "txt.nosig.vnet.", "TXT"), "TXT"),
         "nosig: www A/AAAA without RRSIG, txt TXT with")
    t.ok(all(s.expiration < now for s in sigs(_knot(sh, "www.expired.vnet.", "A"), "A")),
         "expired: RRSIG expiration in the past")
    t.ok(all(s.inception > now for s in sigs(_knot(sh, "www.notyet.vnet.", "A"), "A")),
         "notyet: RRSIG inception in the future")
    m = _knot(sh, "nsec3.vnet.", "NSEC3PARAM")
    p = [rd for r in m.answer if r.rdtype == dns.rdatatype.NSEC3PARAM for rd in r]
    t.ok(p and p[0].iterations == 5 and p[0].salt == b"\xbe\xef", "nsec3: 5 iterations, "
         "salt BEEF", m.to_text())
    m = _knot(sh, "unsigned.nsec3.vnet.", "DS")
    n3 = [rd for r in m.authority if r.rdtype == dns.rdatatype.NSEC3 for rd in r]
    hashed = dns.dnssec.nsec3_hash("unsigned.nsec3.vnet.", b"\xbe\xef", 5, 1).lower()
    t.ok(n3 and all(rd.flags & 1 for rd in n3) and not any(
        str(r.name).startswith(hashed) for r in m.authority),
        "nsec3: opt-out NSEC3s, none of them matching unsigned.nsec3.vnet.", m.to_text())
    m = _knot(sh, "www.wild3.vnet.", "MX")
    n3 = [rd for r in m.authority if r.rdtype == dns.rdatatype.NSEC3 for rd in r]
    t.ok(n3 and all(rd.flags == 0 and rd.iterations == 0 for rd in n3),
         "wild3: NSEC3 without opt-out, 0 iterations", m.to_text())
    m = _knot(sh, "insecure.vnet.", "DNSKEY")
    t.ok(m.rcode() == 0 and not m.answer, "insecure: no DNSKEY", m.to_text())


def check_only_knot(sh, t):
    """Every query the non-validating Unbound sent went to knotd (verbosity 4 log)."""
    rx = re.compile(r"sending to target: <[^>]*> (\S+)#(\d+)")
    with sh.unbound._cond:
        targets = {m.groups() for line in sh.unbound.lines for m in [rx.search(line)] if m}
    t.ok(targets == {(sh.knot_addr, str(sh.knot_port))},
         f"Unbound queried only {sh.knot_addr}#{sh.knot_port}", f"targets: {sorted(targets)}")


def _unbound_verdict(m):
    if m is None or m.rcode() == 2:
        return "bogus"
    return "secure" if m.flags & dns.flags.AD else "insecure"


def check_validating_unbound(sh, t, workdir, verbose):
    """validating_unbound_conf(): same verdicts as delv; EDE compared where Unbound gives one.
    Also with the DNSKEY-format anchor (one query)."""
    results = {}
    for fmt, anchor in (("DS", sh.trust_anchor), ("DNSKEY", sh.trust_anchor_dnskey)):
        rundir = tempfile.mkdtemp(prefix=f"vub-{fmt}-", dir=workdir)
        port = h.free_port((sh.unbound_addr,))
        conf = os.path.join(rundir, "unbound.conf")
        with open(conf, "w") as f:
            f.write(validating_unbound_conf(rundir, sh.unbound_addr, port, anchor,
                                            sh.unbound_addr, sh.unbound_port))
        with contextlib.ExitStack() as stack:
            child = h.Child(f"unbound-validating-{fmt}", [h.UNBOUND, "-d", "-c", conf],
                            os.path.join(rundir, "unbound.log"))
            stack.callback(child.stop)
            h.wait_answered(sh.unbound_addr, port, ".", "SOA", 10)
            cases = CASES if fmt == "DS" else CASES[2:3]
            for c in cases:
                m, _ = h.timed_query(sh.unbound_addr, port, c["name"], c["type"], timeout=5,
                                     want_dnssec=True)
                got, ede = _unbound_verdict(m), h.ede_codes(m)
                results[(fmt, c["name"], c["type"])] = (got, ede)
                if verbose or ede:
                    print(f"# validating Unbound ({fmt} anchor) {c['name']} {c['type']}: "
                          f"{got}, EDE {ede}", flush=True)
                want = [c["verdict"]] + ([c["alt_verdict"]] if c["alt_verdict"] else [])
                if got != c["verdict"] and got in want:
                    print(f"# validating Unbound: {c['name']} {c['type']} is {got} (the "
                          "case's alt_verdict)", flush=True)
                t.ok(got in want, f"validating Unbound ({fmt} anchor) says "
                     f"{' or '.join(want)}: {c['name']} {c['type']}",
                     f"got {got}, EDE {ede}\n{child.tail(15)}")
                codes = {c["expected_ede"], c["alt_ede"]} - {None}
                if codes and ede:
                    t.ok(codes & set(ede), f"validating Unbound's EDE for {c['name']} "
                         f"{c['type']} is one of {sorted(codes)}", f"got {ede}")
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", action="store_true", help="keep the temp folder")
    ap.add_argument("-v", action="store_true", dest="verbose", help="print every EDE result")
    args = ap.parse_args()

    def on_term(signum, _frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)

    t = h.Tap()
    for tool in (DELV, h.KNOTD, h.UNBOUND, "/usr/bin/ldns-signzone", "/usr/bin/ldns-keygen"):
        if not os.path.exists(tool):
            t.ok(False, f"{tool} is installed (deploy/install-deps.sh test)")
            return 1
    t0 = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="vnetdns-dnssec-")
    try:
        with contextlib.ExitStack() as stack:
            sh = SignedHierarchy(workdir, unbound_verbosity=4)
            stack.callback(sh.stop)
            sh.start()
            print(f"# knotd {sh.knot_addr}:{sh.knot_port}, Unbound {sh.unbound_addr}:"
                  f"{sh.unbound_port}, started in {time.monotonic() - t0:.1f}s", flush=True)
            checks = [(c, c.__doc__.splitlines()[0], (sh, t)) for c in
                      (check_anchors, check_zones, check_passthrough, check_cases,
                       check_only_knot)]
            checks += [(check_wrong_anchor, "a control", (sh, t, workdir)),
                       (check_validating_unbound, "the reference validator",
                        (sh, t, workdir, args.verbose))]
            for check, what, check_args in checks:
                print(f"# {check.__name__}: {what}", flush=True)
                try:
                    check(*check_args)
                except Exception as e:  # noqa: BLE001 - a crashed check is a failure
                    t.ok(False, f"{check.__name__} ran to the end ({e!r})",
                         traceback.format_exc())
        # Reported, not asserted: speed belongs in benchmarks; CTest's timeout bounds the run.
        print(f"# finished in {time.monotonic() - t0:.1f}s", flush=True)
    finally:
        if args.keep or t.failed:
            print(f"# logs, zones and keys kept in {workdir}", flush=True)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"# {t.passed} passed, {t.failed} failed", flush=True)
    return 0 if t.failed == 0 and t.passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
