#!/usr/bin/python3
"""The deployment of deploy/README.md in network namespaces created by this test.

    "vnet" namespace (10.1.0.0/16)                     "onprem" namespace (192.168.10.0/24)
      10.1.0.4   vnetdns A  ----.                        192.168.10.53  BIND (deploy/onprem
      10.1.0.5   vnetdns B  ----+-- veth v0 <====> o0 --                snippet, forwarders
      10.1.0.10  VM client      |                        192.168.10.20  client  A and B)
      10.1.0.100 Knot stand-in for Azure DNS (public view)

Each namespace has only its loopback, the veth end and a route to the other namespace's
prefix: no default route, nothing can leave. Both vnetdns instances serve the private zone
and forward "." to the stand-in; BIND forwards the public private-link zones (and ".") to
both. The guide's validation runs from the VM client (dig against each instance, `vnetdns
check`) and from the on-prem client (dig and `vnetdns check` through BIND). Then vnetdns A is
stopped: the VM client's stub resolver fails over to B, and BIND fails over to B for a name it
has not cached.

Needs root (ip netns add) and BIND; skipped with a clear message otherwise. Every process is
a child of this test (`ip netns exec` execs in place), stopped by PID and reaped; the
namespaces (and with them the veth pair) are deleted in the end, also on failure.

Run: /usr/bin/python3 tests/integration/test_topology.py --binary build/vnetdns --source .
"""

import ipaddress
import os
import secrets
import shutil
import subprocess
import sys
import time

import harness as h

VNET = ipaddress.ip_network("10.1.0.0/16")
ONPREM = ipaddress.ip_network("192.168.10.0/24")
VNETDNS_A, VNETDNS_B, VM, AZDNS = "10.1.0.4", "10.1.0.5", "10.1.0.10", "10.1.0.100"
BIND, ONPREM_CLIENT = "192.168.10.53", "192.168.10.20"
PRIVATE, PRIVATE_DATA, PUBLIC = "10.0.0.7", "10.0.0.6", "20.45.122.144"
IP = shutil.which("ip") or "/usr/sbin/ip"


def _in_test_ranges(addr):
    """Only the addresses this test puts inside its own namespaces may be named."""
    a = ipaddress.ip_address(addr)
    if a not in VNET and a not in ONPREM:
        raise ValueError(f"refusing address {addr} outside the test's namespaces")


def _run(argv, timeout=20.0, check=True):
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({r.returncode}): {r.stdout}{r.stderr}")
    return r


def netns_permitted():
    """(True, "") if this process may create a network namespace, else (False, why)."""
    if os.geteuid() != 0:
        return False, "not root"
    if not os.path.exists(IP):
        return False, "ip (iproute2) not installed"
    name = f"vnd-{secrets.token_hex(4)}-probe"
    try:
        r = _run([IP, "netns", "add", name], check=False)
        if r.returncode != 0:
            return False, (r.stderr or r.stdout).strip()
        r = _run([IP, "-n", name, "link", "add", "p0", "type", "veth", "peer", "name", "p1"],
                 check=False)
        if r.returncode != 0:
            return False, "veth pairs: " + (r.stderr or r.stdout).strip()
        return True, ""
    finally:
        _run([IP, "netns", "del", name], check=False)


class Namespaces:
    """The two namespaces and the veth pair between them; delete() removes everything."""

    def __init__(self):
        tag = secrets.token_hex(3)
        self.vnet = f"vnd-{tag}-vnet"
        self.onprem = f"vnd-{tag}-onprem"
        self.created = []

    def create(self):
        for ns in (self.vnet, self.onprem):
            _run([IP, "netns", "add", ns])
            self.created.append(ns)
            _run([IP, "-n", ns, "link", "set", "lo", "up"])
        _run([IP, "-n", self.vnet, "link", "add", "v0", "type", "veth", "peer", "name", "o0",
              "netns", self.onprem])
        for a in (VNETDNS_A, VNETDNS_B, VM, AZDNS):
            _run([IP, "-n", self.vnet, "addr", "add", f"{a}/16", "dev", "v0"])
        for a in (BIND, ONPREM_CLIENT):
            _run([IP, "-n", self.onprem, "addr", "add", f"{a}/24", "dev", "o0"])
        _run([IP, "-n", self.vnet, "link", "set", "v0", "up"])
        _run([IP, "-n", self.onprem, "link", "set", "o0", "up"])
        # Only the other side's prefix, on the link: no default route anywhere.
        _run([IP, "-n", self.vnet, "route", "add", str(ONPREM), "dev", "v0"])
        _run([IP, "-n", self.onprem, "route", "add", str(VNET), "dev", "o0"])

    def routes(self, ns):
        return _run([IP, "-n", ns, "-4", "route", "show", "table", "all"]).stdout + \
            _run([IP, "-n", ns, "-6", "route", "show", "table", "all"]).stdout

    def delete(self):
        for ns in reversed(self.created):
            _run([IP, "netns", "del", ns], check=False)
        self.created = []

    def exec_argv(self, ns, argv):
        return [IP, "netns", "exec", ns, *argv]


def dig_in(nss, ns, server, *args, source=None, timeout=25.0):
    _in_test_ranges(server)
    argv = ["dig", f"@{server}", "+time=3", "+tries=2"]
    if source:
        _in_test_ranges(source)
        argv += ["-b", source]
    return _run(nss.exec_argv(ns, argv + list(args)), timeout=timeout, check=False)


def wait_answered_in(nss, ns, server, qname, deadline_s=20.0):
    """Polls (dig inside the namespace) until `server` answers NOERROR; raises on deadline."""
    end = time.monotonic() + deadline_s
    last = ""
    while time.monotonic() < end:
        r = dig_in(nss, ns, server, "+time=1", "+tries=1", qname, "SOA", timeout=10)
        if h.dig_status(r.stdout) == "NOERROR":
            return
        last = r.stdout + r.stderr
        time.sleep(0.1)  # poll interval, not a readiness assumption
    raise TimeoutError(f"{server} in {ns} did not answer {qname} SOA in {deadline_s}s:\n{last}")


def write_vnetdns_conf(ctx, name, addr, port=53):
    d = os.path.join(ctx.workdir, name)
    os.makedirs(d)
    shutil.copyfile(os.path.join(h.DATA, "privatelink.azurecr.io.zone"),
                    os.path.join(d, "privatelink.azurecr.io.zone"))
    conf = os.path.join(d, "vnetdns.toml")
    with open(conf, "w") as f:
        f.write(f"""[server]
listen = ["{addr}:{port}"]
threads = 1

[acl]
allow = ["10.0.0.0/8", "192.168.0.0/16", "127.0.0.0/8"]

[[zone]]
name = "privatelink.azurecr.io"
file = "privatelink.azurecr.io.zone"

[[forward]]
zone = "."
upstreams = ["{AZDNS}:53"]
timeout = "1s"
deadline = "4s"
""")
    return d, conf


def ok_private(t, what, r, addr):
    ans = h.dig_section(r.stdout)
    return t.ok(h.dig_status(r.stdout) == "NOERROR" and
                any(l.endswith(f"IN A {addr}") for l in ans) and
                not any(PUBLIC in l for l in ans), what, r.stdout + r.stderr)


STUB = """
import dns.resolver
r = dns.resolver.Resolver(configure=False)
r.nameservers = ["%s", "%s"]
r.timeout = 2.0
r.lifetime = 10.0
print(" ".join(sorted(x.address for x in r.resolve("myregistry.azurecr.io", "A"))))
""" % (VNETDNS_A, VNETDNS_B)


def check_topology(ctx, t):
    """two vnetdns instances in a "vnet" namespace, BIND in an "onprem" one; one instance stops"""
    nss = Namespaces()
    ctx.stack.callback(nss.delete)  # registered first: runs after every process is stopped
    nss.create()
    for ns in (nss.vnet, nss.onprem):
        routes = nss.routes(ns)
        t.ok("default" not in routes, f"{ns}: no default route", routes)

    # The stand-in for Azure DNS, inside the vnet namespace.
    sdir = os.path.join(ctx.workdir, "standin")
    os.makedirs(sdir)
    with open(os.path.join(ctx.source, "deploy", "standin", "knot.conf.in")) as f:
        text = f.read()
    text = (text.replace("@RUNDIR@", sdir)
            .replace("@ZONEDIR@", os.path.join(ctx.source, "deploy", "standin", "zones"))
            .replace("@LISTEN@", f"{AZDNS}@53"))
    kconf = os.path.join(sdir, "knot.conf")
    with open(kconf, "w") as f:
        f.write(text)
    knot = h.Child("knotd", nss.exec_argv(nss.vnet, [h.KNOTD, "-c", kconf]),
                   os.path.join(sdir, "knotd.log"))
    ctx.stack.callback(knot.stop)
    knot.wait_for_line(r"server started", 20)
    wait_answered_in(nss, nss.vnet, AZDNS, ".")

    # Two vnetdns instances.
    inst = {}
    for name, addr in (("vnetdns-a", VNETDNS_A), ("vnetdns-b", VNETDNS_B)):
        d, conf = write_vnetdns_conf(ctx, name, addr)
        c = h.Child(name, nss.exec_argv(nss.vnet, [ctx.binary, "serve", "-c", conf]),
                    os.path.join(d, "vnetdns.log"), cwd=d)
        ctx.stack.callback(c.stop)
        inst[addr] = c
    for addr, c in inst.items():
        c.wait_for_line(r"listening", 20)
        wait_answered_in(nss, nss.vnet, addr, "privatelink.azurecr.io")

    # BIND on-prem, with the shipped snippet forwarding to both instances.
    bdir = os.path.join(ctx.workdir, "bind")
    os.makedirs(bdir)
    snippet = os.path.join(bdir, "named.conf.vnetdns")
    with open(snippet, "w") as f:
        f.write(h.onprem_snippets(ctx.source, [VNETDNS_A, VNETDNS_B])["named.conf.vnetdns"])
    bconf = os.path.join(bdir, "named.conf")
    with open(bconf, "w") as f:
        f.write(h.named_conf(bdir, BIND, 53, snippet, [VNETDNS_A, VNETDNS_B],
                             clients=(str(ONPREM), "127.0.0.0/8"), servers_allowed=(str(VNET),)))
    named = h.Child("named", nss.exec_argv(nss.onprem, [h.NAMED, "-g", "-n", "1", "-c", bconf]),
                    os.path.join(bdir, "named.log"))
    ctx.stack.callback(named.stop)
    named.wait_for_line(r"running", 30)
    wait_answered_in(nss, nss.onprem, BIND, "privatelink.azurecr.io")

    # The guide's validation from the VM client, against each instance.
    for addr in (VNETDNS_A, VNETDNS_B):
        r = dig_in(nss, nss.vnet, addr, "myregistry.azurecr.io", source=VM)
        ok_private(t, f"VM client: dig @{addr} myregistry.azurecr.io -> {PRIVATE}", r, PRIVATE)
    chk = _run(nss.exec_argv(nss.vnet, [ctx.binary, "check", "--registry", "myregistry",
                                        "--regions", "westeurope", "--server", VNETDNS_A,
                                        "--expect", "10.0.0.0/24"]), timeout=30, check=False)
    t.eq(chk.returncode, 0, "VM client: vnetdns check --registry myregistry --regions westeurope",
         chk.stdout + chk.stderr)

    # From on-prem, through BIND.
    r = dig_in(nss, nss.onprem, BIND, "myregistry.azurecr.io", source=ONPREM_CLIENT)
    ok_private(t, f"on-prem client: dig @{BIND} myregistry.azurecr.io -> {PRIVATE}", r, PRIVATE)
    t.ok(any("CNAME myregistry.privatelink.azurecr.io." in l for l in h.dig_section(r.stdout)),
         "on-prem client: the answer carries the public CNAME", r.stdout)
    chk = _run(nss.exec_argv(nss.onprem, [ctx.binary, "check", "myregistry.azurecr.io",
                                          "--server", BIND, "--expect", "10.0.0.0/24"]),
               timeout=30, check=False)
    t.eq(chk.returncode, 0, "on-prem client: vnetdns check myregistry.azurecr.io --server BIND",
         chk.stdout + chk.stderr)
    r = dig_in(nss, nss.onprem, BIND, "weu-acr-reg.cloudapp.example", source=ONPREM_CLIENT)
    t.ok(PUBLIC in " ".join(h.dig_section(r.stdout)),
         "on-prem client: other names resolve too (BIND -> vnetdns -> stand-in)", r.stdout)

    # Stop instance A.
    t.eq(inst[VNETDNS_A].stop(), 0, "vnetdns A stopped (SIGTERM, exit 0)")
    r = dig_in(nss, nss.vnet, VNETDNS_A, "+time=1", "+tries=1", "myregistry.azurecr.io",
               source=VM)
    t.ok(h.dig_status(r.stdout) is None, "VM client: A no longer answers", r.stdout)
    r = dig_in(nss, nss.vnet, VNETDNS_B, "myregistry.azurecr.io", source=VM)
    ok_private(t, f"VM client: dig @{VNETDNS_B} still -> {PRIVATE}", r, PRIVATE)
    stub = _run(nss.exec_argv(nss.vnet, ["/usr/bin/python3", "-c", STUB]), timeout=30,
                check=False)
    t.eq(stub.stdout.strip(), PRIVATE,
         "VM client: a stub resolver with both instances as nameservers fails over to B",
         stub.stderr)
    # A name BIND has not cached: it must reach a forwarder, and only B is left.
    r = dig_in(nss, nss.onprem, BIND, "+time=8", "+tries=1", "myregistry.westeurope.data.azurecr.io",
               source=ONPREM_CLIENT)
    ok_private(t, f"on-prem client: BIND fails over to B (data endpoint -> {PRIVATE_DATA})", r,
               PRIVATE_DATA)
    t.ok(inst[VNETDNS_B].alive() and knot.alive() and named.alive(),
         "B, the stand-in and BIND still run")
    t.eq(named.stop(), 0, "named exits 0 on SIGTERM")
    t.eq(inst[VNETDNS_B].stop(), 0, "vnetdns B exits 0 on SIGTERM")


def check_wildcard_bind(ctx, t):
    """on a wildcard bind (0.0.0.0) each UDP answer leaves from the address its query went to"""
    nss = Namespaces()
    ctx.stack.callback(nss.delete)
    nss.create()
    d, conf = write_vnetdns_conf(ctx, "vnetdns-wildcard", "0.0.0.0", port=5353)
    c = h.Child("vnetdns-wildcard", nss.exec_argv(nss.vnet, [ctx.binary, "serve", "-c", conf]),
                os.path.join(d, "vnetdns.log"), cwd=d)
    ctx.stack.callback(c.stop)
    c.wait_for_line(r"listening", 20)
    # dig waits on for a reply from the address it asked (it reports and ignores one from
    # elsewhere), so an answer here proves the source address; the host has four addresses.
    for addr in (VNETDNS_A, VNETDNS_B, AZDNS):
        end = time.monotonic() + 20
        r = None
        while time.monotonic() < end:
            r = dig_in(nss, nss.vnet, addr, "-p", "5353", "+time=1", "+tries=1",
                       "myregistry.privatelink.azurecr.io", source=VM, timeout=10)
            if h.dig_status(r.stdout) is not None:
                break
            time.sleep(0.1)  # poll interval, not a readiness assumption
        ok_private(t, f"wildcard bind: dig @{addr} -p 5353 answered from {addr}", r, PRIVATE)
        t.ok("unexpected source" not in r.stdout + r.stderr,
             f"wildcard bind: no reply from another address than {addr}", r.stdout + r.stderr)
    t.eq(c.stop(), 0, "wildcard-bound vnetdns exits 0 on SIGTERM")


if __name__ == "__main__":
    permitted, why = netns_permitted()
    if not permitted:
        print(f"# skip - network namespaces are not permitted here ({why}); "
              "the topology test needs root and `ip netns add`")
        print("# 0 passed, 0 failed")
        sys.exit(0)
    if not os.path.exists(h.NAMED):
        print("# skip - named not installed (Debian package bind9); the on-prem side needs it")
        print("# 0 passed, 0 failed")
        sys.exit(0)
    sys.exit(h.main([check_topology, check_wildcard_bind], __doc__))
