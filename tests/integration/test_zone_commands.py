#!/usr/bin/python3
"""The guide's workflow as commands, with the real binary: `vnetdns zone add-record` builds the
private zone, `vnetdns check` validates it through a running vnetdns in front of the stand-in
for Azure DNS (a good registry, a missing data endpoint, a public answer), `zone import` reads
Azure CLI JSON, `zone audit` finds the missing replica, concurrent edits lose nothing, invalid
edits are refused, and an edit asks the admin endpoint to reload.

Run: /usr/bin/python3 tests/integration/test_zone_commands.py --binary build/vnetdns --source .
"""

import http.server
import os
import re
import signal
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

ZONE = "privatelink.azurecr.io"
AZURE = os.path.join(h.DATA, "azure")

EMPTY_ZONE = """; privatelink.azurecr.io, before any registry: the operator adds records with
; `vnetdns zone add-record` (this comment must survive every edit).
$ORIGIN privatelink.azurecr.io.
$TTL 10
@     3600 IN SOA ns1.privatelink.azurecr.io. hostmaster.privatelink.azurecr.io. (
                  1          ; serial
                  3600 600 86400 10 )
@     3600 IN NS  ns1.privatelink.azurecr.io.
ns1   3600 IN A   10.0.0.53
"""


def run(argv, timeout=30, stdin=subprocess.DEVNULL):
    return subprocess.run(argv, stdin=stdin, capture_output=True, text=True, timeout=timeout)


def zone_cmd(ctx, *args):
    return run([ctx.binary, "zone", *args])


def check_cmd(ctx, *args):
    for i, a in enumerate(args):  # every server named here must be on loopback
        if a == "--server":
            h._assert_loopback(args[i + 1].rsplit(":", 1)[0].strip("[]"))
    return run([ctx.binary, "check", *args])


def serial_of(path):
    with open(path) as f:
        text = f.read()
    m = re.search(r"SOA\s+\S+\s+\S+\s+\(?\s*(\d+)", text)
    return int(m.group(1)) if m else None


def empty_zone_file(ctx, name="privatelink.azurecr.io.zone"):
    d = os.path.join(ctx.workdir, f"zones-{os.getpid()}-{id(ctx)}")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(EMPTY_ZONE)
    return path


def unstarted_vnetdns(ctx, on_miss="nxdomain", upstream="127.0.0.2:53", extra_toml=""):
    """A vnetdns config (not started) serving a fresh copy of EMPTY_ZONE."""
    v = ctx.vnetdns(start=False, zones=[{"name": ZONE, "file": empty_zone_file(ctx),
                                         "on_miss": on_miss}],
                    forwards=[{"zone": ".", "upstreams": [upstream]}], extra_toml=extra_toml)
    return v, v.zone_files[ZONE]


def add(ctx, config, name, addr, *extra):
    return zone_cmd(ctx, "add-record", "-c", config, "-z", ZONE, "-n", name, "-a", addr, *extra)


def out(r):
    return f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"


def sighup_and_wait(t, v):
    mark = v.child.line_count()
    v.child.signal(signal.SIGHUP)
    try:
        v.child.wait_for_line(r"reloaded", 10, after=mark)
        return True
    except Exception as e:  # noqa: BLE001
        t.ok(False, "vnetdns logs 'reloaded' after SIGHUP", e)
        return False


def check_guide_workflow(ctx, t):
    """add-record builds the zone; check passes for the registry, names the missing replica,
    and passes once it is added and the server reloaded"""
    s = ctx.standin()
    v, zfile = unstarted_vnetdns(ctx, upstream=s.upstream())
    r = add(ctx, v.config, "myregistry", "10.0.0.7")
    t.eq(r.returncode, 0, "add-record myregistry exits 0", out(r))
    t.ok("+myregistry.privatelink.azurecr.io. A 10.0.0.7" in r.stdout,
         "add-record prints the record it added", out(r))
    t.ok("systemctl reload vnetdns" in r.stdout,
         "without [admin], add-record says how to reload a running server", out(r))
    r = add(ctx, v.config, "myregistry.westeurope.data", "10.0.0.6")
    t.eq(r.returncode, 0, "add-record myregistry.westeurope.data exits 0", out(r))
    with open(zfile) as f:
        text = f.read()
    t.ok("this comment must survive every edit" in text, "the zone's comments are kept", text)
    t.eq(serial_of(zfile) > 1, True, "the SOA serial moved on", text)
    r = run([ctx.binary, "check-config", "-c", v.config])
    t.eq(r.returncode, 0, "check-config accepts the edited zone", out(r))

    v.start()
    server = f"{h.LOOPBACK4}:{v.port}"
    r = check_cmd(ctx, "myregistry.azurecr.io", "--server", server, "--expect", "10.0.0.0/24")
    t.eq(r.returncode, 0, "check myregistry.azurecr.io: exit 0", out(r))
    t.ok("myregistry.azurecr.io. CNAME myregistry.privatelink.azurecr.io." in r.stdout,
         "check prints the CNAME chain", out(r))
    t.ok(re.search(r"myregistry\.privatelink\.azurecr\.io\. A 10\.0\.0\.7\s+private", r.stdout),
         "check prints the private address 10.0.0.7", out(r))

    r = check_cmd(ctx, "--registry", "myregistry", "--regions", "westeurope,northeurope",
                  "--server", server)
    t.eq(r.returncode, 1, "check --registry with a missing replica: exit 1", out(r))
    t.ok(re.search(r"not ok: MISSING myregistry\.northeurope\.data\.azurecr\.io", r.stdout),
         "check names the missing data endpoint myregistry.northeurope.data.azurecr.io", out(r))
    t.ok("MISSING myregistry.westeurope.data" not in r.stdout and
         "MISSING myregistry.azurecr.io" not in r.stdout,
         "check does not blame the registry or the westeurope endpoint", out(r))

    r = check_cmd(ctx, "myregistry.azurecr.io", "--server", server, "--expect", "192.168.0.0/16")
    t.eq(r.returncode, 1, "check --expect 192.168.0.0/16: exit 1 (outside)", out(r))
    t.ok("OUTSIDE" in r.stdout, "check says OUTSIDE", out(r))

    # The public view has otherregistry.azurecr.io CNAME otherregistry.privatelink.azurecr.io
    # (as Azure DNS has for every registry and replica), but the private zone lacks the record:
    # the chain ends in the local zone's NXDOMAIN.
    r = check_cmd(ctx, "otherregistry.azurecr.io", "--server", server)
    t.eq(r.returncode, 1, "check of a registry the private zone lacks: exit 1", out(r))
    t.ok("otherregistry.azurecr.io. CNAME otherregistry.privatelink.azurecr.io." in r.stdout and
         "MISSING: NXDOMAIN for otherregistry.privatelink.azurecr.io." in r.stdout,
         "check shows the public CNAME and the private zone's NXDOMAIN", out(r))

    r = add(ctx, v.config, "myregistry.northeurope.data", "10.0.0.5")
    t.eq(r.returncode, 0, "add-record of the missing replica exits 0", out(r))
    r = add(ctx, v.config, "otherregistry", "10.0.0.8")
    t.eq(r.returncode, 0, "add-record of the missing registry exits 0", out(r))
    if sighup_and_wait(t, v):
        # The stand-in's public view has no CNAME for a northeurope replica, so its private
        # name is checked directly; otherregistry goes through the public CNAME.
        r = check_cmd(ctx, "myregistry.azurecr.io", "myregistry.westeurope.data.azurecr.io",
                      "myregistry.northeurope.data.privatelink.azurecr.io",
                      "otherregistry.azurecr.io", "--server", server, "--expect", "10.0.0.0/24")
        t.eq(r.returncode, 0, "after add-record + reload: check exits 0", out(r))
        t.ok("4 names, 4 ok" in r.stdout, "all four names are ok", out(r))
        t.ok(re.search(r"otherregistry\.privatelink\.azurecr\.io\. A 10\.0\.0\.8\s+private",
                       r.stdout), "otherregistry now ends in 10.0.0.8", out(r))


def check_public_answer(ctx, t):
    """a registry the private zone lacks (on_miss = forward) and the stand-in itself end in a
    public address: check exits 1 and says PUBLIC"""
    s = ctx.standin()
    v = ctx.vnetdns(zones=[h.private_zone("forward")],
                    forwards=[{"zone": ".", "upstreams": [s.upstream()]}])
    r = check_cmd(ctx, "otherregistry.azurecr.io", "--server", f"{h.LOOPBACK4}:{v.port}")
    t.eq(r.returncode, 1, "check otherregistry.azurecr.io via vnetdns: exit 1", out(r))
    t.ok("PUBLIC" in r.stdout and "20.45.122.145" in r.stdout,
         "check says PUBLIC and shows 20.45.122.145", out(r))
    t.ok("hint:" in r.stdout and "-n otherregistry" in r.stdout,
         "check hints at the add-record that fixes it", out(r))
    r = check_cmd(ctx, "myregistry.azurecr.io", "--server", f"{s.addr}:{s.port}")
    t.eq(r.returncode, 1, "check against the public view (the stand-in): exit 1", out(r))
    t.ok("PUBLIC" in r.stdout and "20.45.122.144" in r.stdout,
         "the public view: PUBLIC 20.45.122.144", out(r))
    r = check_cmd(ctx, "myregistry.azurecr.io", "--server", f"[{h.LOOPBACK6}]:{v.port}")
    t.eq(r.returncode, 0, "check over IPv6 ([::1]:port): the guide's registry is private", out(r))


def check_import_and_audit(ctx, t):
    """zone import --dry-run prints the diff and writes nothing; import writes; again is a
    no-op; audit finds the missing replica before and nothing after"""
    v, zfile = unstarted_vnetdns(ctx)
    inventory = os.path.join(AZURE, "inventory.json")
    r = zone_cmd(ctx, "audit", "-c", v.config, "--inventory", inventory,
                 "--expect", "10.0.0.0/24")
    t.eq(r.returncode, 1, "audit of the empty zone: exit 1", out(r))
    t.ok("MISSING myregistry.northeurope.data.privatelink.azurecr.io" in r.stdout,
         "audit names the missing northeurope data endpoint", out(r))

    with open(zfile) as f:
        before = f.read()
    fixture = os.path.join(AZURE, "private-endpoint-show.json")
    r = zone_cmd(ctx, "import", "--from", fixture, "-c", v.config, "--dry-run")
    t.eq(r.returncode, 0, "import --dry-run exits 0", out(r))
    for line in ("+myregistry.privatelink.azurecr.io. A 10.0.0.7",
                 "+myregistry.westeurope.data.privatelink.azurecr.io. A 10.0.0.6",
                 "+myregistry.northeurope.data.privatelink.azurecr.io. A 10.0.0.5"):
        t.ok(line in r.stdout, f"dry run diff has {line}", out(r))
    with open(zfile) as f:
        t.eq(f.read(), before, "dry run wrote nothing")

    r = zone_cmd(ctx, "import", "--from", fixture, "-c", v.config)
    t.eq(r.returncode, 0, "import exits 0", out(r))
    r = run([ctx.binary, "check-config", "-c", v.config])
    t.eq(r.returncode, 0, "check-config accepts the imported zone", out(r))
    serial = serial_of(zfile)
    r = zone_cmd(ctx, "import", "--from", os.path.join(AZURE, "nic-show.json"), "-c", v.config)
    t.eq(r.returncode, 0, "importing the same endpoint's NIC exits 0", out(r))
    t.ok("unchanged" in r.stdout, "... and changes nothing", out(r))
    t.eq(serial_of(zfile), serial, "... not even the serial")

    r = zone_cmd(ctx, "import", "--from", os.path.join(AZURE, "private-endpoint-keyvault.json"),
                 "-c", v.config)
    t.eq(r.returncode, 1, "import of a Key Vault endpoint into a config without its zone: exit 1",
         out(r))
    t.ok("privatelink.vaultcore.azure.net" in r.stderr, "... naming the zone it lacks", out(r))

    r = zone_cmd(ctx, "audit", "-c", v.config, "--inventory", inventory,
                 "--expect", "10.0.0.0/24")
    t.eq(r.returncode, 0, "audit after the import: exit 0", out(r))
    r = zone_cmd(ctx, "list", "-c", v.config, "-z", ZONE)
    t.eq(r.returncode, 0, "zone list exits 0", out(r))
    t.ok(re.search(r"myregistry\.northeurope\.data\.privatelink\.azurecr\.io\.\s+\S+\s+IN\s+A\s+"
                   r"10\.0\.0\.5", r.stdout), "zone list shows the imported record", out(r))


def check_concurrent_and_refused_edits(ctx, t):
    """eight add-record processes at once lose nothing; invalid edits are refused and leave
    the file as it was"""
    zfile = empty_zone_file(ctx)
    procs = [subprocess.Popen([ctx.binary, "zone", "add-record", "-f", zfile, "-z", ZONE, "-n",
                               f"reg{i}", "-a", f"10.0.1.{i + 1}"], stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(8)]
    codes = []
    for p in procs:
        try:
            p.communicate(timeout=60)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        codes.append(p.returncode)
    t.eq(codes, [0] * 8, "eight concurrent add-record processes all exit 0")
    r = zone_cmd(ctx, "list", "-f", zfile, "-z", ZONE)
    got = sorted(re.findall(r"^(reg\d)\.privatelink", r.stdout, re.M))
    t.eq(got, [f"reg{i}" for i in range(8)], "all eight records are in the zone", out(r))
    with open(zfile) as f:
        before = f.read()

    cases = [
        (["-n", "reg0", "-a", "10.0.0.300"], 1, "not an IPv4 or IPv6 address"),
        (["-n", "reg0", "-a", "10.0.0.0/24"], 1, "not an IPv4 or IPv6 address"),
        (["-n", "myregistry.azurecr.io.", "-a", "10.0.0.9"], 1, "not a name in"),
        (["-n", "reg0"], 2, "needs -a"),
        (["-n", "reg0", "-a", "10.0.0.9", "-t", "soon"], 2, "TTL"),
    ]
    for args, code, msg in cases:
        r = zone_cmd(ctx, "add-record", "-f", zfile, "-z", ZONE, *args)
        t.eq(r.returncode, code, f"add-record {' '.join(args)}: exit {code}", out(r))
        t.ok(msg in r.stderr, f"... and says '{msg}'", out(r))
    with open(zfile, "a") as f:
        f.write("alias IN CNAME reg0\n")
    with open(zfile) as f:
        before = f.read()
    r = zone_cmd(ctx, "add-record", "-f", zfile, "-z", ZONE, "-n", "alias", "-a", "10.0.0.9")
    t.eq(r.returncode, 1, "an A record beside a CNAME is refused", out(r))
    t.ok("CNAME" in r.stderr, "... naming the CNAME", out(r))
    r = zone_cmd(ctx, "remove-record", "-f", zfile, "-z", ZONE, "-n", "nosuch")
    t.eq(r.returncode, 1, "remove-record of a name without addresses: exit 1", out(r))
    with open(zfile) as f:
        t.eq(f.read(), before, "refused edits leave the file untouched")
    r = zone_cmd(ctx, "remove-record", "-f", zfile, "-z", ZONE, "-n", "reg7", "-a", "10.0.1.8")
    t.eq(r.returncode, 0, "remove-record reg7 exits 0", out(r))
    t.ok("-reg7.privatelink.azurecr.io. A 10.0.1.8" in r.stdout, "... printing what went", out(r))
    r = zone_cmd(ctx, "frobnicate")
    t.eq(r.returncode, 2, "an unknown zone command: exit 2", out(r))
    r = check_cmd(ctx, "myregistry.azurecr.io")
    t.eq(r.returncode, 2, "check without --server: exit 2", out(r))


class _ReloadHandler(http.server.BaseHTTPRequestHandler):
    seen = []

    def do_POST(self):  # noqa: N802 - the http.server API
        _ReloadHandler.seen.append(self.path)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def check_admin_reload(ctx, t):
    """with [admin] in the config, an edit POSTs /reload to it; an unreachable admin endpoint
    is a warning, not a failure"""
    srv = http.server.HTTPServer((h.LOOPBACK4, 0), _ReloadHandler)
    port = srv.server_address[1]
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        _ReloadHandler.seen = []
        v, _ = unstarted_vnetdns(ctx, extra_toml=f'[admin]\nlisten = "{h.LOOPBACK4}:{port}"\n')
        r = add(ctx, v.config, "myregistry", "10.0.0.7")
        t.eq(r.returncode, 0, "add-record with [admin]: exit 0", out(r))
        t.eq(_ReloadHandler.seen, ["/reload"], "the admin endpoint got POST /reload", out(r))
        t.ok("200" in r.stdout, "add-record reports the reload's status", out(r))
    finally:
        srv.shutdown()
        srv.server_close()
        th.join(timeout=5)
    free = h.free_port()
    v, _ = unstarted_vnetdns(ctx, extra_toml=f'[admin]\nlisten = "{h.LOOPBACK4}:{free}"\n')
    r = add(ctx, v.config, "myregistry", "10.0.0.7")
    t.eq(r.returncode, 0, "add-record with an unreachable admin endpoint still exits 0", out(r))
    t.ok("warning" in r.stderr and "systemctl reload vnetdns" in r.stderr,
         "... and warns how to reload by hand", out(r))


if __name__ == "__main__":
    sys.exit(h.main([check_guide_workflow, check_public_answer, check_import_and_audit,
                     check_concurrent_and_refused_edits, check_admin_reload], __doc__))
