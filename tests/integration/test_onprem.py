#!/usr/bin/python3
"""On-prem DNS servers forwarding the public private-link zones to vnetdns (deploy/onprem/).

Real BIND (named -g) and real Unbound (unbound -d), each on 127.0.0.1 with a free port, play
the on-prem DNS server: they include the shipped snippet (rendered for this vnetdns's address
and port) and forward everything else, "." included, to the Knot stand-in, so no query ever
goes to the root servers or leaves loopback (BIND also marks every server outside 127/8
bogus). A client asking the on-prem server for myregistry.azurecr.io gets the private answer
(10.0.0.7), which only vnetdns can give: the stand-in's public view ends in 20.45.122.144.

Also: the snippets are what deploy/onprem/generate.py writes, cover every public zone of
zones/azure-privatelink-zones.txt and no privatelink.* zone, and each parses with its
program's checker where that program is installed.

Run: /usr/bin/python3 tests/integration/test_onprem.py --binary build/vnetdns --source .
"""

import os
import re
import shutil
import subprocess
import sys

import harness as h

PRIVATE = "10.0.0.7"
PRIVATE_DATA = "10.0.0.6"


def _snippet_dir(ctx):
    return os.path.join(ctx.source, "deploy", "onprem")


def _public_zones(ctx):
    out = []
    with open(os.path.join(ctx.source, "zones", "azure-privatelink-zones.txt")) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                out.append(line.split()[0])
    return out


def check_snippets_current(ctx, t):
    """the shipped snippets are generated from the zone list and forward only public zones"""
    r = subprocess.run([sys.executable, os.path.join(_snippet_dir(ctx), "generate.py"), "--check"],
                       capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    t.ok(r.returncode == 0, "deploy/onprem/* are what generate.py writes", r.stderr)
    zones = _public_zones(ctx)
    t.ok("azurecr.io" in zones and len(zones) > 20, f"zone list read ({len(zones)} public zones)")
    texts = {}
    for name in ("named.conf.vnetdns", "unbound-vnetdns.conf", "Corefile.vnetdns",
                 "dnsmasq-vnetdns.conf", "windows-dns.ps1"):
        with open(os.path.join(_snippet_dir(ctx), name), newline="") as f:
            texts[name] = f.read()
    patterns = {
        "named.conf.vnetdns": lambda z: f'zone "{z}" {{ type forward; forward only;',
        "unbound-vnetdns.conf": lambda z: f'forward-zone:\n  name: "{z}"\n',
        "Corefile.vnetdns": lambda z: f" {z} ",
        "dnsmasq-vnetdns.conf": lambda z: f"server=/{z}/",
        "windows-dns.ps1": lambda z: f'"{z}"',
    }
    for name, pat in patterns.items():
        text = texts[name]
        if name == "Corefile.vnetdns":  # the server block's first line: "zone zone ... {"
            text = " " + text.replace("\n", "\n ").replace("{", " {")
        missing = [z for z in zones if pat(z) not in text]
        t.ok(not missing, f"{name} forwards every public private-link zone", f"missing: {missing}")
        forwarded_private = re.findall(r'(?:zone "|name: "|server=/|^\s*")(privatelink\.[^"/]+)',
                                       texts[name], re.M)
        t.ok(not forwarded_private, f"{name} forwards no privatelink.* zone",
             f"{forwarded_private}")
    t.ok("-ForwarderTimeout $ForwarderTimeout" in texts["windows-dns.ps1"] and
         "[int]$ForwarderTimeout = 5" in texts["windows-dns.ps1"],
         "the Windows DNS script sets a forwarder timeout above 4 s (5 s)")
    t.ok(texts["named.conf.vnetdns"].count("forward only;") >= len(zones),
         "every BIND forward zone is `forward only`")
    t.ok(len(re.findall(r"^  forward-first: no$", texts["unbound-vnetdns.conf"], re.M)) == len(zones),
         "every Unbound forward zone has forward-first: no")


def check_snippets_parse(ctx, t):
    """each snippet is accepted by its own program's checker (BIND, Unbound, dnsmasq)"""
    d = _snippet_dir(ctx)
    ran = 0
    if shutil.which("named-checkconf"):
        r = subprocess.run(["named-checkconf", os.path.join(d, "named.conf.vnetdns")],
                           capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
        t.ok(r.returncode == 0, "named-checkconf accepts named.conf.vnetdns", r.stdout + r.stderr)
        ran += 1
    else:
        print("# skip - named-checkconf not installed (bind9-utils)")
    if shutil.which("unbound-checkconf"):
        conf = os.path.join(ctx.workdir, "unbound-check.conf")
        with open(conf, "w") as f:
            f.write('server:\n  module-config: "iterator"\n  chroot: ""\n  username: ""\n'
                    f'include: "{os.path.join(d, "unbound-vnetdns.conf")}"\n')
        r = subprocess.run(["unbound-checkconf", conf], capture_output=True, text=True,
                           timeout=30, stdin=subprocess.DEVNULL)
        t.ok(r.returncode == 0, "unbound-checkconf accepts unbound-vnetdns.conf",
             r.stdout + r.stderr)
        ran += 1
    else:
        print("# skip - unbound-checkconf not installed (unbound)")
    dnsmasq = shutil.which("dnsmasq") or ("/usr/sbin/dnsmasq" if os.path.exists("/usr/sbin/dnsmasq")
                                          else None)
    if dnsmasq:
        r = subprocess.run([dnsmasq, "--test", "-C", os.path.join(d, "dnsmasq-vnetdns.conf")],
                           capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
        t.ok(r.returncode == 0, "dnsmasq --test accepts dnsmasq-vnetdns.conf",
             r.stdout + r.stderr)
        ran += 1
    else:
        print("# skip - dnsmasq not installed (dnsmasq-base)")
    print(f"# {ran} snippet checkers ran (CoreDNS and Windows DNS are not in Debian 12)")


def _stack(ctx):
    """The stand-in (public view) and vnetdns (private zone, "." to the stand-in)."""
    standin = ctx.standin()
    v = ctx.vnetdns(zones=[h.private_zone()],
                    forwards=[{"zone": ".", "upstreams": [standin.upstream()]}])
    return standin, v


def _expect_private(t, who, server, port):
    r = h.dig(server, port, "myregistry.azurecr.io", "A")
    ans = h.dig_section(r.stdout)
    t.ok(h.dig_status(r.stdout) == "NOERROR" and
         any(l.endswith(f"IN A {PRIVATE}") for l in ans) and
         any("CNAME myregistry.privatelink.azurecr.io." in l for l in ans),
         f"{who}: myregistry.azurecr.io -> CNAME myregistry.privatelink.azurecr.io, A {PRIVATE}",
         r.stdout + r.stderr)
    t.ok(not any("20.45.122.144" in l for l in ans), f"{who}: not the public address",
         "\n".join(ans))
    r = h.dig(server, port, "+tcp", "myregistry.westeurope.data.azurecr.io", "A")
    ans = h.dig_section(r.stdout)
    t.ok(any(l.endswith(f"IN A {PRIVATE_DATA}") for l in ans),
         f"{who}: the data endpoint over TCP -> {PRIVATE_DATA}", r.stdout + r.stderr)
    # A name outside the forwarded zones goes to the stand-in directly (the "." forwarder).
    r = h.dig(server, port, "weu-acr-reg.cloudapp.example", "A")
    t.ok("20.45.122.144" in " ".join(h.dig_section(r.stdout)),
         f"{who}: other names still resolve through its own forwarders (public view)",
         r.stdout + r.stderr)


def check_bind_forwards_to_vnetdns(ctx, t):
    """BIND on loopback with the shipped snippet: the on-prem client gets the private answer"""
    if not os.path.exists(h.NAMED):
        print("# skip - named not installed (Debian package bind9)")
        return
    standin, v = _stack(ctx)
    port = h.free_port()
    rundir = os.path.join(ctx.workdir, f"named-{port}")
    os.makedirs(rundir)
    snippet = os.path.join(rundir, "named.conf.vnetdns")
    with open(snippet, "w") as f:
        f.write(h.onprem_snippets(ctx.source, [f"{v.addr} port {v.port}"])["named.conf.vnetdns"])
    conf = os.path.join(rundir, "named.conf")
    with open(conf, "w") as f:
        f.write(h.named_conf(rundir, h.LOOPBACK4, port, snippet,
                             [f"{standin.addr} port {standin.port}"]))
    named = h.Child("named", [h.NAMED, "-g", "-n", "1", "-c", conf],
                    os.path.join(rundir, "named.log"))
    ctx.stack.callback(named.stop)
    named.wait_for_line(r"running", 30)
    h.wait_answered(h.LOOPBACK4, port, "azurecr.io", "SOA", 15)
    _expect_private(t, "BIND", h.LOOPBACK4, port)
    t.ok(not any("priming" in l.lower() for l in named.lines),
         "BIND never primed the root (no root hints used)", named.tail())
    t.eq(named.stop(), 0, "named exits 0 on SIGTERM")


def check_unbound_forwards_to_vnetdns(ctx, t):
    """Unbound on loopback with the shipped snippet: the on-prem client gets the private answer"""
    if not os.path.exists(h.UNBOUND):
        print("# skip - unbound not installed (Debian package unbound)")
        return
    standin, v = _stack(ctx)
    port = h.free_port()
    rundir = os.path.join(ctx.workdir, f"unbound-{port}")
    os.makedirs(rundir)
    snippet = os.path.join(rundir, "unbound-vnetdns.conf")
    with open(snippet, "w") as f:
        f.write(h.onprem_snippets(ctx.source, [f"{v.addr}@{v.port}"])["unbound-vnetdns.conf"])
    conf = os.path.join(rundir, "unbound.conf")
    with open(conf, "w") as f:
        f.write(h.unbound_conf(rundir, h.LOOPBACK4, port, snippet,
                               [f"{standin.addr}@{standin.port}"]))
    ub = h.Child("unbound", [h.UNBOUND, "-d", "-c", conf], os.path.join(rundir, "unbound.log"))
    ctx.stack.callback(ub.stop)
    ub.wait_for_line(r"start of service", 30)
    h.wait_answered(h.LOOPBACK4, port, "azurecr.io", "SOA", 15)
    _expect_private(t, "Unbound", h.LOOPBACK4, port)

    # Without the snippet's private-domain lines, rebinding protection (private-address:
    # 10.0.0.0/8) would strip the private address: prove the lines are what lets it through.
    port2 = h.free_port()
    rundir2 = os.path.join(ctx.workdir, f"unbound-{port2}")
    os.makedirs(rundir2)
    bare = os.path.join(rundir2, "unbound-vnetdns.conf")
    with open(snippet) as f:
        text = f.read()
    with open(bare, "w") as f:
        f.write("\n".join(l for l in text.splitlines() if "private-domain:" not in l) + "\n")
    conf2 = os.path.join(rundir2, "unbound.conf")
    with open(conf2, "w") as f:
        f.write(h.unbound_conf(rundir2, h.LOOPBACK4, port2, bare,
                               [f"{standin.addr}@{standin.port}"]))
    ub2 = h.Child("unbound-bare", [h.UNBOUND, "-d", "-c", conf2],
                  os.path.join(rundir2, "unbound.log"))
    ctx.stack.callback(ub2.stop)
    ub2.wait_for_line(r"start of service", 30)
    h.wait_answered(h.LOOPBACK4, port2, "azurecr.io", "SOA", 15)
    r = h.dig(h.LOOPBACK4, port2, "myregistry.azurecr.io", "A")
    t.ok(PRIVATE not in r.stdout,
         "without private-domain lines Unbound's rebinding protection drops the private answer",
         r.stdout)
    t.eq(ub2.stop(), 0, "unbound (bare) exits 0 on SIGTERM")
    t.eq(ub.stop(), 0, "unbound exits 0 on SIGTERM")


def check_dnsmasq_forwards_to_vnetdns(ctx, t):
    """dnsmasq on loopback with the shipped snippet and stop-dns-rebind: the private answer"""
    dnsmasq = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
    if not os.path.exists(dnsmasq):
        print("# skip - dnsmasq not installed (Debian package dnsmasq-base)")
        return
    standin, v = _stack(ctx)
    port = h.free_port()
    rundir = os.path.join(ctx.workdir, f"dnsmasq-{port}")
    os.makedirs(rundir)
    snippet = os.path.join(rundir, "dnsmasq-vnetdns.conf")
    with open(snippet, "w") as f:
        f.write(h.onprem_snippets(ctx.source, [f"{v.addr}#{v.port}"])["dnsmasq-vnetdns.conf"])
    argv = [dnsmasq, "-k", "--conf-file=" + snippet, f"--port={port}",
            f"--listen-address={h.LOOPBACK4}", "--bind-interfaces", "--no-resolv", "--no-hosts",
            "--no-poll", f"--server={standin.addr}#{standin.port}", "--stop-dns-rebind",
            "--log-facility=-", "--user=root", "--group=root",
            f"--pid-file={os.path.join(rundir, 'dnsmasq.pid')}", "--cache-size=0"]
    dm = h.Child("dnsmasq", argv, os.path.join(rundir, "dnsmasq.log"))
    ctx.stack.callback(dm.stop)
    dm.wait_for_line(r"started, version", 30)
    h.wait_answered(h.LOOPBACK4, port, "azurecr.io", "SOA", 15)
    r = h.dig(h.LOOPBACK4, port, "myregistry.azurecr.io", "A")
    t.ok(f"IN A {PRIVATE}" in " ".join(h.dig_section(r.stdout)),
         f"dnsmasq: myregistry.azurecr.io -> {PRIVATE} (rebind-domain-ok lets it through)",
         r.stdout + r.stderr)
    t.eq(dm.stop(), 0, "dnsmasq exits 0 on SIGTERM")


def check_forwarding_loop_detected(ctx, t):
    """an on-prem Unbound that forwards everything back to vnetdns: the loop probe says so"""
    if not os.path.exists(h.UNBOUND):
        print("# skip - unbound not installed (unbound)")
        return
    uport = h.free_port()
    vport = h.free_port()
    rundir = os.path.join(ctx.workdir, f"unbound-loop-{uport}")
    os.makedirs(rundir)
    snippet = os.path.join(rundir, "empty.conf")
    with open(snippet, "w") as f:
        f.write("# nothing: every name goes to the '.' forwarder\n")
    conf = os.path.join(rundir, "unbound.conf")
    with open(conf, "w") as f:
        # The mistake this catches: "." forwarded to vnetdns, which forwards "." back here.
        f.write(h.unbound_conf(rundir, h.LOOPBACK4, uport, snippet, [f"{h.LOOPBACK4}@{vport}"]))
    ub = h.Child("unbound", [h.UNBOUND, "-d", "-c", conf], os.path.join(rundir, "unbound.log"))
    ctx.stack.callback(ub.stop)
    ub.wait_for_line(r"start of service", 30)
    aport = h.free_port()
    v = ctx.vnetdns(port=vport, listen_addrs=(h.LOOPBACK4,),
                    forwards=[{"zone": ".", "upstreams": [f"{h.LOOPBACK4}:{uport}"]}],
                    extra_toml=h.admin_toml(aport), probe=("privatelink.azurecr.io", "SOA"))
    line = v.child.wait_for_line(r"forwarding loop: our probe \S+vnetdns-loop-check\. came back", 15)
    t.ok(line is not None, "vnetdns logs the forwarding loop through Unbound", v.tail())
    status, body = h.http_request(h.LOOPBACK4, aport, "GET", "/metrics")
    t.ok(h.metric(h.parse_prometheus(body), "vnetdns_forwarding_loops_detected_total") >= 1,
         "vnetdns_forwarding_loops_detected_total counts it")
    t.ok(v.alive(), "vnetdns keeps running (answers the probe REFUSED, so it goes round once)")


if __name__ == "__main__":
    sys.exit(h.main([check_snippets_current, check_snippets_parse, check_bind_forwards_to_vnetdns,
                     check_unbound_forwards_to_vnetdns, check_dnsmasq_forwards_to_vnetdns,
                     check_forwarding_loop_detected],
                    __doc__))
