"""A signed DNS hierarchy on loopback: the test fixture for DNSSEC validation.

    from signed_hierarchy import SignedHierarchy, CASES
    with SignedHierarchy(workdir) as sh:
        # sh.unbound_addr/sh.unbound_port: a NON-validating recursive Unbound in front of it;
        # sh.trust_anchor: the fake root's DS (".  IN DS ..." line, as /usr/share/dns/root.ds);
        # sh.trust_anchor_dnskey: the same key as a DNSKEY line (as /usr/share/dns/root.key);
        # sh.bind_trust_anchors: a BIND `trust-anchors { ... };` file (delv -a, named).
        ...

What runs (all on loopback, children of this process, stopped by PID):
- ONE knotd on `addr` (knot_addr:knot_port) serving every zone below from plain files that
  were signed offline here with ldns-keygen/ldns-signzone (keys fresh in `workdir` each run;
  no Knot signing). Knot, when it serves both the parent and the child, answers a DS query
  for the child's apex from the PARENT zone (with the parent's RRSIG, or the parent's NSEC/
  NSEC3 proof of no DS): so one server is enough, and no referral is ever followed.
- Unbound (unbound_addr:unbound_port), `module-config: "iterator"`, no trust anchor, whose only
  way to the hierarchy is knotd: one `stub-zone` per zone of the hierarchy ("." first), each
  `stub-addr: knot_addr@knot_port` (root hints and glue cannot carry a port). A "." stub
  alone is NOT enough: for a DS query whose NODATA answer carries the SOA of a zone below the
  stub (e.g. DS insecure.vnet. -> SOA vnet.), Unbound's iterator goes looking for that zone's
  NS (processDSNSFind) and asks ns.vnet.'s glue address on port 53, where nothing listens:
  SERVFAIL. With a stub at every cut it asks knotd. Unbound sets DO on its own queries, so
  for DO=1 clients it returns the RRSIG, NSEC, NSEC3, DS and DNSKEY records it got (and none
  of them for DO=0); a DS query is answered from the parent zone.

The zones (each child holds at least `www A 192.0.2.N`, `www AAAA 2001:db8::N`, `txt TXT`):
  .                 RSASHA256 KSK + ZSK (the trust anchor is the KSK); NSEC.
  vnet.             ECDSAP256SHA256, NSEC; delegates every zone below, with a DS unless noted.
  secure.vnet.      ECDSAP256SHA256, NSEC: positive, NXDOMAIN, NODATA; `alias` CNAME in zone,
                    `out` CNAME www.nsec3.vnet. (across zones), `ext` CNAME www.insecure.vnet.
  nsec3.vnet.       ED25519, NSEC3 opt-out (5 iterations, salt BEEF); `unsigned` is a
                    delegation without DS (NS + glue; that child is served too, unsigned) that
                    really lies in an opt-out span (ldns-signzone -p still gives it an NSEC3;
                    _opt_out() removes it), and a.b.nsec3.vnet. is an empty non-terminal
                    (c.a.b holds an A).
  wild.vnet.        ECDSAP384SHA384, NSEC, `*` A 192.0.2.50 and `*` TXT: wildcard answers/NODATA.
  wild3.vnet.       RSASHA512, NSEC3 (0 iterations, no salt, no opt-out), `*` A 192.0.2.51.
  insecure.vnet.    unsigned; vnet. has no DS for it (vnet.'s NSEC proves it): insecure.
  expired.vnet.     every RRSIG expired 30 days ago: bogus (EDE 7).
  notyet.vnet.      every RRSIG incepts in 30 days: bogus (EDE 8).
  wrongkey.vnet.    DNSKEY RRset (one key, matching the DS, signing the DNSKEY RRset) fine, but
                    every other RRset is signed by a key that is not published: bogus (EDE 6).
  nosig.vnet.       signed, then the RRSIGs of www A and www AAAA removed: bogus (EDE 10) for
                    those; txt is still secure.
  dsmismatch.vnet.  signed, but vnet.'s DS is of a key that is not published: bogus (EDE 9).
  unsupported.vnet. signed with ECDSAP256SHA256, but vnet.'s only DS says algorithm 200 (the
                    digest is over the DNSKEY with its algorithm field rewritten to 200): no
                    validator supports 200, so the zone is insecure (RFC 6840 section 5.2).
  soon.vnet.        ECDSAP256SHA256, NSEC, every RRSIG expires an hour after the build, and
                    `long` A 192.0.2.60 has a TTL of 7200 s: secure, but a validator may keep
                    and hand on that A for at most the hour left (RFC 4035 section 5.3.3).

CASES lists what a correct validator must conclude with the fake root's anchor; the verdicts
were checked against BIND's delv by data/dnssec/check_hierarchy.py (which see), which also
runs a validating Unbound (validating_unbound_conf()) as a second opinion.

Attributes: knot_addr, knot_port, unbound_addr, unbound_port; trust_anchor (". IN DS" line,
like Debian's /usr/share/dns/root.ds), trust_anchor_dnskey (". IN DNSKEY ... ; keytag N", like
/usr/share/dns/root.key), bind_trust_anchors (trust-anchors { . static-ds ...; }; for delv
-a and named; bind_anchor_text() gives the other kinds); zones [(name, served file)]; dir (the
run's folder: keys/, zones/, logs); knotd, unbound (harness.Child); cases (= CASES).
"""

import base64
import contextlib
import os
import subprocess
import sys
import time

import dns.dnssec
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdataset
import dns.rrset
import dns.zone
from cryptography.hazmat.primitives.asymmetric import ed25519

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

LDNS_KEYGEN = "/usr/bin/ldns-keygen"
LDNS_SIGNZONE = "/usr/bin/ldns-signzone"
DAY = 86400
TTL = 300
SOON_TTL, SOON_EXPIRY = 7200, 3600  # soon.vnet.: long's TTL; its RRSIGs' life left at the build

# Each case (a dict): name, type; verdict (secure | insecure | bogus) as BIND's delv 9.18
# gives it with the fake root's anchor; rcode, what the non-validating Unbound returns (a
# validator turns bogus into SERVFAIL); expected_ede, the RFC 8914 INFO-CODE a validator
# should attach (None: no requirement); delv, delv's status line(s) (" + " between the RRsets
# of a CNAME chain) or "resolution failed: REASON" (the check script asserts both); alt_verdict
# and alt_ede, what another correct validator may answer instead (Unbound 1.17 does; see the
# case's `what`), None when there is no such latitude; what, what the case exercises.
_S, _I, _B = "secure", "insecure", "bogus"
_FULL, _NEG, _UNS = "fully validated", "negative response, fully validated", "unsigned answer"
_NEG_UNS = "negative response, unsigned answer"
_CHAIN = "resolution failed: broken trust chain"
_PROOF = "resolution failed: insecurity proof failed"


def _case(name, rtype, verdict, rcode="NOERROR", ede=None, delv=None, what="",
          alt_verdict=None, alt_ede=None):
    return {"name": name, "type": rtype, "verdict": verdict, "rcode": rcode,
            "expected_ede": ede, "delv": delv, "alt_verdict": alt_verdict, "alt_ede": alt_ede,
            "what": what}


CASES = [
    _case(".", "SOA", _S, delv=_FULL, what="the root itself"),
    _case("vnet.", "SOA", _S, delv=_FULL, what="the TLD"),
    _case("www.secure.vnet.", "A", _S, delv=_FULL, what="positive, NSEC zone"),
    _case("www.secure.vnet.", "AAAA", _S, delv=_FULL, what="positive AAAA"),
    _case("txt.secure.vnet.", "TXT", _S, delv=_FULL, what="positive TXT"),
    _case("secure.vnet.", "DNSKEY", _S, delv=_FULL, what="the child's DNSKEY"),
    _case("secure.vnet.", "DS", _S, delv=_FULL, what="DS, answered from the parent vnet."),
    _case("nx.secure.vnet.", "A", _S, "NXDOMAIN", delv=_NEG, what="NXDOMAIN, NSEC"),
    _case("www.secure.vnet.", "MX", _S, delv=_NEG, what="NODATA, NSEC"),
    _case("alias.secure.vnet.", "A", _S, delv=_FULL, what="CNAME inside the zone"),
    _case("out.secure.vnet.", "A", _S, delv=_FULL, what="CNAME to nsec3.vnet. (across zones)"),
    _case("ext.secure.vnet.", "A", _I, delv=f"{_FULL} + {_UNS}",
          what="CNAME (secure) from secure.vnet. to www.insecure.vnet. (insecure)"),
    _case("www.nsec3.vnet.", "A", _S, delv=_FULL, what="positive, NSEC3 opt-out zone"),
    _case("txt.nsec3.vnet.", "TXT", _S, delv=_FULL, what="positive TXT, NSEC3"),
    _case("www.nsec3.vnet.", "MX", _S, delv=_NEG, what="NODATA, NSEC3 (matching NSEC3)"),
    _case("c.a.b.nsec3.vnet.", "A", _S, delv=_FULL, what="below the empty non-terminal"),
    _case("a.b.nsec3.vnet.", "A", _S, delv=_NEG, what="empty non-terminal: NODATA, NSEC3"),
    _case("nx.nsec3.vnet.", "A", _S, "NXDOMAIN", delv=_NEG, alt_verdict=_I,
          what="NXDOMAIN proven by a closest encloser proof whose next-closer NSEC3 has "
               "opt-out set: delv says validated; RFC 5155 section 9.2 says do not set AD "
               "(the name may exist as an unsigned delegation), which Unbound follows"),
    _case("unsigned.nsec3.vnet.", "DS", _S, delv=_NEG, alt_verdict=_I,
          what="no DS at an unsigned delegation inside an opt-out span (no NSEC3 matches it; "
               "closest encloser + covering opt-out NSEC3, RFC 5155 section 8.6): delv says "
               "validated, Unbound clears AD (RFC 5155 section 9.2)"),
    _case("www.unsigned.nsec3.vnet.", "A", _I, delv=_UNS,
          what="under the unsigned delegation of an NSEC3 opt-out zone"),
    _case("foo.wild.vnet.", "A", _S, delv=_FULL, what="wildcard answer, NSEC"),
    _case("foo.wild.vnet.", "TXT", _S, delv=_FULL, what="wildcard TXT answer, NSEC"),
    _case("foo.wild.vnet.", "AAAA", _S, delv=_NEG, what="wildcard NODATA, NSEC"),
    _case("www.wild.vnet.", "A", _S, delv=_FULL, what="a name the wildcard does not cover"),
    _case("nx.www.wild.vnet.", "A", _S, "NXDOMAIN", delv=_NEG,
          what="NXDOMAIN below an existing name (the wildcard does not apply), NSEC"),
    _case("foo.wild3.vnet.", "A", _S, delv=_FULL, what="wildcard answer, NSEC3"),
    _case("foo.wild3.vnet.", "AAAA", _S, delv=_NEG, what="wildcard NODATA, NSEC3"),
    _case("www.wild3.vnet.", "A", _S, delv=_FULL, what="positive, NSEC3 zone"),
    _case("nx.www.wild3.vnet.", "A", _S, "NXDOMAIN", delv=_NEG, what="NXDOMAIN, NSEC3"),
    _case("insecure.vnet.", "DS", _S, delv=_NEG,
          what="vnet.'s NSEC proves there is no DS: the delegation is provably insecure"),
    _case("www.insecure.vnet.", "A", _I, delv=_UNS, what="under an insecure delegation"),
    _case("nx.insecure.vnet.", "A", _I, "NXDOMAIN", delv=_NEG_UNS,
          what="NXDOMAIN under an insecure delegation"),
    _case("www.expired.vnet.", "A", _B, "NOERROR", 7, delv=_CHAIN,
          what="signatures expired"),
    _case("www.notyet.vnet.", "A", _B, "NOERROR", 8, delv=_CHAIN,
          what="signatures not yet valid"),
    _case("www.wrongkey.vnet.", "A", _B, "NOERROR", 6, delv=_CHAIN, alt_ede=9,
          what="signed by a key that is not in the DNSKEY RRset (Unbound: EDE 9)"),
    _case("www.nosig.vnet.", "A", _B, "NOERROR", 10, delv=_PROOF,
          what="RRSIGs removed"),
    _case("www.nosig.vnet.", "AAAA", _B, "NOERROR", 10, delv=_PROOF,
          what="RRSIGs removed"),
    _case("txt.nosig.vnet.", "TXT", _S, delv=_FULL, what="the RRset of nosig.vnet. left signed"),
    _case("www.dsmismatch.vnet.", "A", _B, "NOERROR", 9, delv=_CHAIN,
          what="the DS matches no DNSKEY of the child"),
    _case("www.unsupported.vnet.", "A", _I, delv=_UNS,
          what="the only DS has algorithm 200: unsupported, so insecure (RFC 6840 5.2)"),
    _case("long.soon.vnet.", "A", _S, delv=_FULL,
          what="a 7200 s TTL under signatures that expire in an hour"),
]

# label: (N of www's addresses, algorithm or None (unsigned), denial: "nsec" or ("nsec3",
# iterations, salt in hex, opt-out)). What is special about each: SignedHierarchy._child.
CHILDREN = {
    "secure": (1, "ECDSAP256SHA256", "nsec"),
    "nsec3": (2, "ED25519", ("nsec3", 5, "beef", True)),
    "wild": (3, "ECDSAP384SHA384", "nsec"),
    "wild3": (4, "RSASHA512", ("nsec3", 0, "", False)),
    "insecure": (5, None, None),
    "expired": (6, "ECDSAP256SHA256", "nsec"),
    "notyet": (7, "ECDSAP256SHA256", "nsec"),
    "wrongkey": (8, "ECDSAP256SHA256", "nsec"),
    "nosig": (9, "ECDSAP256SHA256", "nsec"),
    "dsmismatch": (10, "ECDSAP256SHA256", "nsec"),
    "unsupported": (11, "ECDSAP256SHA256", "nsec"),
    "soon": (12, "ECDSAP256SHA256", "nsec"),
}


# The public side of the guide's scenario (guide=True), relative to azurecr.io.: the registry
# and its data endpoint are CNAMEs into privatelink.azurecr.io., whose public answers are
# public addresses (what a VM outside the VNet gets).
GUIDE_PUBLIC = [
    "myregistry CNAME myregistry.privatelink",
    "myregistry.privatelink A 20.62.128.1",
    "myregistry.westeurope.data CNAME myregistry.westeurope.data.privatelink",
    "myregistry.westeurope.data.privatelink A 20.62.128.2",
]


def validating_unbound_conf(rundir, listen_addr, port, trust_anchor_file, forward_addr,
                            forward_port, extra=()):
    """An unbound.conf for a VALIDATING Unbound (module-config "validator iterator", EDE on)
    whose only trust anchor is `trust_anchor_file` (the fake root's, e.g.
    SignedHierarchy.trust_anchor) and which forwards "." to forward_addr@forward_port (the
    hierarchy's non-validating Unbound): a reference validator, e.g. for benchmarks or to
    compare verdicts and EDE codes. `extra`: more server: lines. Run: unbound -d -c FILE."""
    for a in (listen_addr, forward_addr):
        h._assert_loopback(a)
    lines = ["server:", "  verbosity: 1", f"  interface: {listen_addr}@{port}",
             f"  port: {port}", "  do-ip6: no", "  do-daemonize: no", '  username: ""',
             '  chroot: ""', f'  directory: "{rundir}"', f'  pidfile: "{rundir}/unbound.pid"',
             "  use-syslog: no", '  logfile: ""', "  num-threads: 1",
             "  do-not-query-localhost: no", '  module-config: "validator iterator"',
             f'  trust-anchor-file: "{trust_anchor_file}"', "  ede: yes",
             "  val-log-level: 2", "  access-control: 127.0.0.0/8 allow",
             *[f"  {e}" for e in extra],
             "remote-control:", "  control-enable: no",
             "forward-zone:", '  name: "."', f"  forward-addr: {forward_addr}@{forward_port}",
             "  forward-first: no"]
    return "\n".join(lines) + "\n"


def _run(argv, cwd, timeout=60):
    r = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({r.returncode}):\n{r.stdout}{r.stderr}")
    return r.stdout


class _Key:
    """One key made by ldns-keygen: `base` (path without .key/.private) and its DNSKEY."""

    def __init__(self, keydir, zone, alg, ksk):
        argv = [LDNS_KEYGEN, "-r", "/dev/urandom", "-a", alg]
        if alg.startswith("RSA"):
            argv += ["-b", "2048"]
        if ksk:
            argv.append("-k")
        name = _run(argv + [zone], keydir).strip().splitlines()[-1]
        self.base = os.path.join(keydir, name)
        with open(self.base + ".key") as f:
            fields = f.read().split(";")[0].split()
        # fields: owner [ttl] IN DNSKEY flags proto alg key...
        i = fields.index("DNSKEY")
        self.dnskey = dns.rdata.from_text("IN", "DNSKEY", " ".join(fields[i + 1:]))
        self.zone = zone

    def tag(self):
        return dns.dnssec.key_id(self.dnskey)

    def ds(self, algorithm=None):
        """The SHA-256 DS of this key; with `algorithm`, of this key with its algorithm field
        rewritten (a DS no validator can use when the number is unassigned)."""
        key = self.dnskey
        if algorithm is not None:
            key = key.replace(algorithm=algorithm)
        return dns.dnssec.make_ds(self.zone, key, "SHA256")

    def dnskey_text(self):
        return self.dnskey.to_text()


class SignedHierarchy:
    """The signed hierarchy (see the module docstring): start() builds the keys and zones in
    `workdir`, starts knotd and the non-validating Unbound; stop() stops both (by PID)."""

    def __init__(self, workdir, addr="127.0.0.41", port=None, unbound_port=None,
                 unbound_verbosity=1, guide=False):
        h._assert_loopback(addr)
        self.knot_addr = self.unbound_addr = addr
        self.knot_port = port or h.free_port((addr,))
        self.unbound_port = unbound_port or h.free_port((addr,))
        while self.unbound_port == self.knot_port:
            self.unbound_port = h.free_port((addr,))
        self.dir = os.path.join(workdir, f"signed-hierarchy-{self.knot_port}")
        self.zonedir = os.path.join(self.dir, "zones")
        self.keydir = os.path.join(self.dir, "keys")
        self.trust_anchor = os.path.join(self.dir, "root.ds")
        self.trust_anchor_dnskey = os.path.join(self.dir, "root.key")
        self.bind_trust_anchors = os.path.join(self.dir, "bind-trust-anchors.conf")
        self.cases = CASES
        self.zones = []  # zone names served, parents last
        self.knotd = self.unbound = None
        self.unbound_verbosity = unbound_verbosity  # 4 logs every target Unbound queries
        # guide=True adds the public side of the guide's scenario, signed: io. (RSASHA256)
        # and azurecr.io. (P256) with myregistry CNAME myregistry.privatelink.azurecr.io.
        # and the public A records behind it (GUIDE_PUBLIC), like Azure's public DNS.
        self.guide = guide
        self._stack = None

    # -- zones ---------------------------------------------------------------------------

    def _write(self, name, records):
        """Writes the unsigned zone file of `name` (records: lines relative to the origin)."""
        path = os.path.join(self.zonedir, (name.rstrip(".") or "root") + ".zone")
        ns = "ns" if name != "." else "ns."
        head = [f"$ORIGIN {name}", f"$TTL {TTL}",
                f"@ SOA {ns} hostmaster.vnet. 1 1800 900 604800 60", f"@ NS {ns}",
                f"{ns} A {self.knot_addr}"]
        with open(path, "w") as f:
            f.write("\n".join(head + list(records)) + "\n")
        return path

    def _sign(self, name, src, keys, denial, inception, expiration, no_add=False, timeout=60):
        """ldns-signzone `src` with `keys` (the KSK signs DNSKEY, the ZSK the rest, a lone
        key everything) into NAME.signed; returns the path. `timeout`: seconds (the
        benchmark's large zones take longer)."""
        out = src[:-len(".zone")] + ".signed"
        argv = [LDNS_SIGNZONE, "-i", str(int(inception)), "-e", str(int(expiration)),
                "-o", name, "-f", out]
        if no_add:
            argv.append("-d")
        if denial != "nsec":
            _, iterations, salt, optout = denial
            argv += ["-n", "-a", "1", "-t", str(iterations)] + (["-s", salt] if salt else [])
            if optout:
                argv.append("-p")
        _run(argv + [src] + [k.base for k in keys], self.zonedir, timeout)
        return out

    def _child(self, label, now):
        """Builds and signs LABEL.vnet.; returns (served file, DS lines for vnet., glue)."""
        n, alg, denial = CHILDREN[label]
        name = f"{label}.vnet."
        recs = [f"www A 192.0.2.{n}", f"www AAAA 2001:db8::{n}", f'txt TXT "{label}"']
        glue = [f"{label} NS ns.{label}", f"ns.{label} A {self.knot_addr}"]
        if label == "secure":
            recs += ["alias CNAME www", "out CNAME www.nsec3.vnet.",
                     "ext CNAME www.insecure.vnet."]
        elif label == "nsec3":
            recs += ["unsigned NS ns.unsigned", f"ns.unsigned A {self.knot_addr}",
                     "c.a.b A 192.0.2.12"]
            self.zones.append(("unsigned.nsec3.vnet.", self._write("unsigned.nsec3.vnet.", [
                "www A 192.0.2.13", "www AAAA 2001:db8::13", 'txt TXT "unsigned"'])))
        elif label == "wild":
            recs += ["* A 192.0.2.50", '* TXT "wildcard"']
        elif label == "wild3":
            recs += ["* A 192.0.2.51"]
        elif label == "soon":
            recs += [f"long {SOON_TTL} A 192.0.2.60"]
        if alg is None:  # insecure.vnet.: no keys, no DS
            return self._write(name, recs), [], glue
        key = _Key(self.keydir, name, alg, ksk=True)
        inc, exp = now - DAY, now + 30 * DAY
        if label == "expired":
            inc, exp = now - 60 * DAY, now - 30 * DAY
        elif label == "notyet":
            inc, exp = now + 30 * DAY, now + 60 * DAY
        elif label == "soon":
            inc, exp = now - DAY, now + SOON_EXPIRY
        ds = [key.ds()]
        if label == "wrongkey":
            # The published (KSK) key signs only the DNSKEY RRset; the ZSK that signs the rest
            # is not added to the zone (-d), so no DNSKEY matches those RRSIGs.
            zsk = _Key(self.keydir, name, alg, ksk=False)
            src = self._write(name, recs + [f"@ DNSKEY {key.dnskey_text()}"])
            return self._sign(name, src, [key, zsk], denial, inc, exp, no_add=True), ds, glue
        if label == "dsmismatch":
            ds = [_Key(self.keydir, name, alg, ksk=True).ds()]  # never published
        elif label == "unsupported":
            ds = [key.ds(algorithm=200)]
        signed = self._sign(name, self._write(name, recs), [key], denial, inc, exp)
        if label == "nsec3":
            self._opt_out(signed, name, f"unsigned.{name}", key, inc, exp)
        if label == "nosig":
            z = dns.zone.from_file(signed, origin=name, relativize=False)
            node = z.get_node(f"www.{name}")
            for covered in (dns.rdatatype.A, dns.rdatatype.AAAA):
                node.delete_rdataset(dns.rdataclass.IN, dns.rdatatype.RRSIG, covered)
            z.to_file(signed, relativize=False)
        return signed, ds, glue

    @staticmethod
    def _opt_out(signed, zone, delegation, key, inception, expiration):
        """ldns-signzone -p sets the opt-out flag but still gives an unsigned delegation its
        own NSEC3 (bitmap: NS). Removes that NSEC3, links its predecessor to its successor
        and re-signs the predecessor (dnspython, the zone's Ed25519 key), so the delegation
        really lies inside an opt-out span (RFC 5155 section 6) and no NSEC3 matches it."""
        with open(key.base + ".private") as f:
            fields = dict(line.split(": ", 1) for line in f.read().splitlines() if ": " in line)
        private = ed25519.Ed25519PrivateKey.from_private_bytes(
            base64.b64decode(fields["PrivateKey"]))
        z = dns.zone.from_file(signed, origin=zone, relativize=False)
        param = z.find_rdataset(zone, "NSEC3PARAM")[0]
        hashed = dns.dnssec.nsec3_hash(delegation, param.salt, param.iterations,
                                       param.algorithm).lower()
        gone = dns.name.from_text(hashed, dns.name.from_text(zone))
        successor = z.find_rdataset(gone, "NSEC3")[0].next
        z.delete_node(gone)
        for owner, node in z.nodes.items():
            rds = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.NSEC3)
            if rds is None or rds[0].to_text().split()[4].lower() != hashed:
                continue
            rrset = dns.rrset.from_rdata(owner, rds.ttl, rds[0].replace(next=successor))
            sig = dns.dnssec.sign(rrset, private, dns.name.from_text(zone), key.dnskey,
                                  inception=inception, expiration=expiration, verify=True)
            node.replace_rdataset(rrset.to_rdataset())
            node.replace_rdataset(dns.rdataset.from_rdata(rds.ttl, sig))
            break
        else:
            raise RuntimeError(f"no NSEC3 points at the NSEC3 of {delegation} in {signed}")
        z.to_file(signed, relativize=False)

    def _build(self):
        for d in (self.zonedir, self.keydir):
            os.makedirs(d, exist_ok=True)
        now = int(time.time())
        inc, exp = now - DAY, now + 30 * DAY
        children, vnet_recs = [], []
        for label in CHILDREN:
            path, ds, glue = self._child(label, now)
            children.append((f"{label}.vnet.", path))
            vnet_recs += glue + [f"{label} DS {d.to_text()}" for d in ds]
        root_extra = []
        if self.guide:
            root_extra = self._guide_zones(inc, exp)
        vnet_key = _Key(self.keydir, "vnet.", "ECDSAP256SHA256", ksk=True)
        vnet = self._sign("vnet.", self._write("vnet.", vnet_recs), [vnet_key], "nsec", inc, exp)
        ksk = _Key(self.keydir, ".", "RSASHA256", ksk=True)
        zsk = _Key(self.keydir, ".", "RSASHA256", ksk=False)
        root_recs = ["vnet. NS ns.vnet.", f"ns.vnet. A {self.knot_addr}",
                     f"vnet. DS {vnet_key.ds().to_text()}"] + root_extra
        root = self._sign(".", self._write(".", root_recs), [ksk, zsk], "nsec", inc, exp)
        self.zones += children + [("vnet.", vnet), (".", root)]
        self.root_ksk = ksk
        ds = ksk.ds()
        with open(self.trust_anchor, "w") as f:
            f.write(f". IN DS {ds.to_text().upper()}\n")
        with open(self.trust_anchor_dnskey, "w") as f:
            f.write(f". IN DNSKEY {ksk.dnskey_text()} ; keytag {ksk.tag()}\n")
        with open(self.bind_trust_anchors, "w") as f:
            f.write(self.bind_anchor_text())

    def _guide_zones(self, inc, exp):
        """Signs azurecr.io. and io. (guide=True); returns the root's records for io."""
        acr_key = _Key(self.keydir, "azurecr.io.", "ECDSAP256SHA256", ksk=True)
        acr = self._sign("azurecr.io.", self._write("azurecr.io.", GUIDE_PUBLIC), [acr_key],
                         "nsec", inc, exp)
        io_key = _Key(self.keydir, "io.", "RSASHA256", ksk=True)
        io_recs = ["azurecr NS ns.azurecr", f"ns.azurecr A {self.knot_addr}",
                   f"azurecr DS {acr_key.ds().to_text()}"]
        io = self._sign("io.", self._write("io.", io_recs), [io_key], "nsec", inc, exp)
        self.zones += [("azurecr.io.", acr), ("io.", io)]
        return ["io. NS ns.io.", f"ns.io. A {self.knot_addr}", f"io. DS {io_key.ds().to_text()}"]

    def bind_anchor_text(self, kind="static-ds"):
        """The fake root's anchor in BIND's `trust-anchors` syntax (delv -a, named.conf):
        kind static-ds/initial-ds (the KSK's DS) or static-key/initial-key (its DNSKEY)."""
        if kind.endswith("-ds"):
            d = self.root_ksk.ds()
            body = f'{d.key_tag} {d.algorithm} {d.digest_type} "{d.digest.hex().upper()}"'
        else:
            k = self.root_ksk.dnskey
            body = (f'{k.flags} {k.protocol} {k.algorithm} '
                    f'"{base64.b64encode(k.key).decode()}"')
        return f"trust-anchors {{\n  . {kind} {body};\n}};\n"

    # -- servers -------------------------------------------------------------------------

    def _knot_conf(self):
        lines = ["server:", f'  rundir: "{self.dir}"', f'  pidfile: "{self.dir}/knot.pid"',
                 f"  listen: {self.knot_addr}@{self.knot_port}", "  udp-max-payload: 1232",
                 "control:", f'  listen: "{self.dir}/knot.sock"',
                 "log:", "  - target: stderr", "    any: info",
                 "database:", f'  storage: "{self.dir}"',
                 "template:", "  - id: default", f'    storage: "{self.zonedir}"',
                 "    zonefile-sync: -1", "    zonefile-load: whole",
                 "    journal-content: none", "    semantic-checks: off",
                 "zone:"]
        for name, path in self.zones:
            lines += [f"  - domain: {name}", f'    file: "{path}"']
        return "\n".join(lines) + "\n"

    def _unbound_conf(self):
        lines = ["server:", f"  verbosity: {self.unbound_verbosity}",
                 f"  interface: {self.unbound_addr}@{self.unbound_port}",
                 f"  port: {self.unbound_port}", "  do-ip6: no", "  do-daemonize: no",
                 '  username: ""', '  chroot: ""', f'  directory: "{self.dir}"',
                 f'  pidfile: "{self.dir}/unbound.pid"', "  use-syslog: no", '  logfile: ""',
                 "  num-threads: 1", "  do-not-query-localhost: no",
                 '  module-config: "iterator"', "  access-control: 127.0.0.0/8 allow",
                 "remote-control:", "  control-enable: no"]
        for name, _ in reversed(self.zones):  # "." first
            lines += ["stub-zone:", f'  name: "{name}"',
                      f"  stub-addr: {self.knot_addr}@{self.knot_port}", "  stub-prime: no"]
        return "\n".join(lines) + "\n"

    def start(self, deadline_s=20.0):
        os.makedirs(self.dir, exist_ok=True)
        with contextlib.ExitStack() as stack:
            self._build()
            knot_conf = os.path.join(self.dir, "knot.conf")
            with open(knot_conf, "w") as f:
                f.write(self._knot_conf())
            self.knotd = h.Child("knotd", [h.KNOTD, "-c", knot_conf],
                                 os.path.join(self.dir, "knotd.log"))
            stack.callback(self.knotd.stop)
            self.knotd.wait_for_line(r"server started", deadline_s)
            for name, _ in self.zones:  # every zone loaded (SOA answered with AA)
                self._wait_zone(name, deadline_s)
            with open(os.path.join(self.dir, "unbound.conf"), "w") as f:
                f.write(self._unbound_conf())
            stack.callback(self.stop_unbound)
            self.start_unbound(deadline_s)
            self._stack = stack.pop_all()
        return self

    def start_unbound(self, deadline_s=20.0):
        """Starts the upstream Unbound (start() does; again after stop_unbound()), on the same
        address and port; returns once it answers over UDP and TCP."""
        self.unbound = h.Child("unbound", [h.UNBOUND, "-d", "-c",
                                           os.path.join(self.dir, "unbound.conf")],
                               os.path.join(self.dir, "unbound.log"))
        h.wait_answered(self.unbound_addr, self.unbound_port, ".", "SOA", deadline_s,
                        tcp_too=True)

    def stop_unbound(self):
        """Stops the upstream Unbound alone (an outage of the upstream; knotd stays)."""
        if self.unbound is not None:
            self.unbound.stop()

    def _wait_zone(self, name, deadline_s):
        end = time.monotonic() + deadline_s
        while True:
            try:
                r = h.udp(self.knot_addr, self.knot_port, name, "SOA", timeout=0.5)
                if r.rcode() == 0 and r.answer:
                    return
            except Exception:  # noqa: BLE001 - not answering yet
                pass
            if time.monotonic() > end or not self.knotd.alive():
                raise TimeoutError(f"knotd did not serve {name} in {deadline_s}s:\n"
                                   f"{self.knotd.tail()}")
            time.sleep(0.05)  # poll interval

    def stop(self):
        if self._stack is not None:
            self._stack.close()
            self._stack = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def validating_unbound_conf(self, rundir, listen_addr, port, extra=()):
        """validating_unbound_conf() forwarding to this hierarchy's Unbound, with its anchor."""
        return validating_unbound_conf(rundir, listen_addr, port, self.trust_anchor,
                                       self.unbound_addr, self.unbound_port, extra)
