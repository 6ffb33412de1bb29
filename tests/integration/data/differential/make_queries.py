#!/usr/bin/python3
"""Writes the query lists of tests/integration/test_differential.py (deterministic: no
randomness, the same files every run). Run from anywhere:

    /usr/bin/python3 tests/integration/data/differential/make_queries.py [CORPORA]

CORPORA defaults to /work/shared/corpora/querylists (subdomain-labels-top5000.txt and
dnsperf-top500-mix-10k.txt, MIT: LICENSE.top-sites.MIT kept beside the lists here). The lists
are committed; rerun only to change them.

Line format: NAME TYPE [VARIANT,VARIANT...]   ('#' starts a comment)
Variants: rd0 (RD=0), cd (CD=1), ad (AD=1 in the query), do (EDNS DO=1), noedns (no OPT),
bufsize512 (EDNS UDP size 512), tcp (over TCP), cookie (a client COOKIE option), nsid (an
empty NSID option), ednsv1 (EDNS version 1).
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CORPORA = sys.argv[1] if len(sys.argv) > 1 else "/work/shared/corpora/querylists"

# Unbound answers these from its built-in local zones (RFC 6761, RFC 6303, AS112): no name
# under them is queried, so that Unbound is a pure forwarder for every question of the list.
SPECIAL_TLDS = {"arpa", "localhost", "onion", "test", "invalid"}

# Every name the stand-in (deploy/standin/zones, one root zone) knows, with empty
# non-terminals (NODATA) and a few names just beside them (NXDOMAIN).
STANDIN_NAMES = [
    ".", "io", "azurecr.io", "ns1.azurecr.io", "myregistry.azurecr.io",
    "otherregistry.azurecr.io", "data.azurecr.io", "westeurope.data.azurecr.io",
    "myregistry.westeurope.data.azurecr.io", "big.azurecr.io", "many.azurecr.io",
    "privatelink.azurecr.io", "myregistry.privatelink.azurecr.io",
    "otherregistry.privatelink.azurecr.io", "myregistry.westeurope.data.privatelink.azurecr.io",
    "example", "trafficmanager.example", "azurecr-prod.trafficmanager.example",
    "westeurope.azurecr-prod.trafficmanager.example", "eastus.azurecr-prod.trafficmanager.example",
    "cloudapp.example", "weu-acr-reg.cloudapp.example", "eus-acr-reg.cloudapp.example",
    "standin.example", "ns1.standin.example", "nosuchregistry.azurecr.io",
    "sub.myregistry.azurecr.io", "x.weu-acr-reg.cloudapp.example",
]
STANDIN_TYPES = ["A", "AAAA", "CNAME", "TXT", "MX", "SOA", "NS"]
EXTRA_TYPES = {  # rarer types on a few names
    "myregistry.azurecr.io": ["HTTPS", "SRV", "CAA", "PTR", "ANY"],
    "ns1.azurecr.io": ["ANY", "HTTPS"],
    "azurecr.io": ["ANY", "DS", "DNSKEY"],
    ".": ["ANY", "DNSKEY"],
    "nosuchregistry.azurecr.io": ["ANY"],
    "weu-acr-reg.cloudapp.example": ["ANY", "SVCB"],
    "big.azurecr.io": ["ANY"],
}

# Flag and EDNS variants on representative questions (each asked plainly above first, so
# that a cache answers the RD=0 variant).
REPRESENTATIVE = [
    ("myregistry.azurecr.io", "A"), ("myregistry.azurecr.io", "AAAA"),
    ("ns1.azurecr.io", "A"), ("azurecr.io", "SOA"), (".", "NS"), (".", "SOA"),
    ("nosuchregistry.azurecr.io", "A"), ("big.azurecr.io", "TXT"), ("many.azurecr.io", "A"),
    ("otherregistry.azurecr.io", "A"), ("weu-acr-reg.cloudapp.example", "A"),
    ("myregistry.privatelink.azurecr.io", "TXT"),
]
VARIANTS = ["rd0", "cd", "ad", "do", "do,cd", "noedns", "bufsize512", "tcp", "tcp,do",
            "noedns,tcp", "cookie", "nsid"]

# Private-zone section: vnetdns serves tests/integration/data/privatelink.azurecr.io.zone.
PRIVATE_NAMES = [
    "privatelink.azurecr.io", "ns1.privatelink.azurecr.io", "myregistry.privatelink.azurecr.io",
    "myregistry.westeurope.data.privatelink.azurecr.io", "westeurope.data.privatelink.azurecr.io",
    "otherregistry.privatelink.azurecr.io", "myregistry.azurecr.io",
    "myregistry.westeurope.data.azurecr.io", "otherregistry.azurecr.io",
]
PRIVATE_TYPES = ["A", "AAAA", "CNAME", "TXT", "SOA", "NS"]
PRIVATE_VARIANTS = [("myregistry.azurecr.io", "A"), ("myregistry.privatelink.azurecr.io", "A"),
                    ("otherregistry.azurecr.io", "A"), ("myregistry.azurecr.io", "AAAA")]


def special(name):
    return name.rstrip(".").rsplit(".", 1)[-1].lower() in SPECIAL_TLDS


def labels(n):
    out = []
    with open(os.path.join(CORPORA, "subdomain-labels-top5000.txt")) as f:
        for line in f:
            lab = line.strip().lower()
            if lab and lab not in out:
                out.append(lab)
            if len(out) == n:
                break
    return out


def dnsperf(per_type):
    picked, seen, count = [], set(), {}
    with open(os.path.join(CORPORA, "dnsperf-top500-mix-10k.txt")) as f:
        for line in f:
            parts = line.split()
            if len(parts) != 2:
                continue
            name, rdtype = parts[0].lower(), parts[1].upper()
            if (name, rdtype) in seen or special(name):
                continue
            if count.get(rdtype, 0) >= per_type:
                continue
            seen.add((name, rdtype))
            count[rdtype] = count.get(rdtype, 0) + 1
            picked.append((name, rdtype))
    return picked


def mixed_case(name):
    return "".join(c.upper() if i % 2 == 0 else c for i, c in enumerate(name))


def forwarder_list():
    lines = ["# Generated by make_queries.py: both servers are pure forwarders to the stand-in.",
             "# 1. every stand-in name, common types"]
    for n in STANDIN_NAMES:
        for t in STANDIN_TYPES + EXTRA_TYPES.get(n, []):
            lines.append(f"{n} {t}")
    lines.append("# 2. names absent from the stand-in, built from common subdomain labels")
    types = ["A", "AAAA", "TXT", "MX", "CNAME"]
    for i, lab in enumerate(labels(60)):
        if lab == "ns1":
            continue  # ns1.azurecr.io exists: asked in part 1
        lines.append(f"{lab}.azurecr.io {types[i % len(types)]}")
    for i, lab in enumerate(labels(20)):
        lines.append(f"{lab}.privatelink.azurecr.io {types[(i + 2) % len(types)]}")
    lines.append("# 3. real names and types of a dnsperf mix (NXDOMAIN at the stand-in's root)")
    for n, t in dnsperf(10):
        lines.append(f"{n} {t}")
    lines.append("# 4. flag and EDNS variants of questions asked above")
    for n, t in REPRESENTATIVE:
        for v in VARIANTS:
            lines.append(f"{n} {t} {v}")
    lines.append("# 5. RD=0 for questions never asked before (no cache has them)")
    for lab in ("rd0-first", "rd0-second"):
        lines.append(f"{lab}.azurecr.io A rd0")
    lines.append("ns1.standin.example AAAA rd0")
    lines.append("# 6. letter case: the question's case is echoed")
    for n, t in [("myregistry.azurecr.io", "A"), ("ns1.azurecr.io", "A"),
                 ("nosuchregistry.azurecr.io", "AAAA"), ("weu-acr-reg.cloudapp.example", "A"),
                 ("azurecr.io", "SOA"), ("big.azurecr.io", "TXT")]:
        lines.append(f"{mixed_case(n)} {t}")
    lines.append("# 7. EDNS version 1: BADVERS")
    lines.append("ns1.azurecr.io A ednsv1")
    lines.append("nosuchregistry.azurecr.io A ednsv1")
    return lines


def private_list():
    lines = ["# Generated by make_queries.py: vnetdns serves privatelink.azurecr.io, Unbound",
             "# forwards to a Knot that serves it (Azure DNS seen from inside the VNet)."]
    for n in PRIVATE_NAMES:
        for t in PRIVATE_TYPES:
            lines.append(f"{n} {t}")
    for n, t in PRIVATE_VARIANTS:
        for v in ["do", "cd", "noedns", "tcp", "bufsize512", "rd0"]:
            lines.append(f"{n} {t} {v}")
    for n in ("privatelink.azurecr.io", "myregistry.privatelink.azurecr.io",
              "otherregistry.privatelink.azurecr.io", "myregistry.azurecr.io"):
        lines.append(f"{n} ANY")
    lines.append(f"{mixed_case('myregistry.azurecr.io')} A")
    lines.append(f"{mixed_case('myregistry.privatelink.azurecr.io')} A")
    return lines


def main():
    for fname, lines in (("queries-forwarder.txt", forwarder_list()),
                         ("queries-private-zone.txt", private_list())):
        with open(os.path.join(HERE, fname), "w") as f:
            f.write("\n".join(lines) + "\n")
        n = sum(1 for l in lines if l and not l.startswith("#"))
        print(f"{fname}: {n} queries")


if __name__ == "__main__":
    main()
