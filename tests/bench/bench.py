#!/usr/bin/python3
"""vnetdns benchmark driver (issue 3): vnetdns against Unbound, dnsdist, PowerDNS Recursor,
BIND, Knot Resolver, dnsmasq and a trivial batched echo responder, side by side in one run.

Everything listens on 127.0.0.x and forwards to one local upstream (knotd on 127.0.0.20:15300
serving bench.test with the miss and hit names, and the public view of azurecr.io from
deploy/standin/zones). Root hints, where a server takes them, point at 127.0.0.20 too, so no
packet leaves the machine even if a server tried to recurse. Every process is started here,
pinned with taskset (server: CPU 0; load generators and the upstream: CPU 1), stopped by PID
and waited for, also on failure. Every run is bounded in time.

Run through tests/bench/run.sh (which installs, builds and then calls this).
"""
import argparse
import datetime
import json
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CLK_TCK = os.sysconf("SC_CLK_TCK")
UPSTREAM = ("127.0.0.20", 15300)
PORT = 15353
ADDR = {"vnetdns": "127.0.0.21", "unbound": "127.0.0.22", "dnsdist": "127.0.0.23",
        "pdns-recursor": "127.0.0.24", "bind": "127.0.0.25", "kresd": "127.0.0.26",
        "dnsmasq": "127.0.0.27", "echo": "127.0.0.28", "vnetdns-pool": "127.0.0.29"}
# BIND binds only addresses configured on an interface (lo has 127.0.0.1 alone): its own port.
ADDR["bind"] = "127.0.0.1"
PORTS = {"bind": 15325}
# "vnetdns" runs with the default source_ports = "per-question" (a socket of its own per upstream
# query); "vnetdns-pool" is the same binary with source_ports = "pool" (32 shared slots). The
# pool variant only changes the miss path: it is in the miss rows (MISS_SERVERS), and in the
# other workloads only when --servers names it.
SERVERS = ["vnetdns", "vnetdns-pool", "unbound", "dnsdist", "pdns-recursor", "bind", "kresd",
           "dnsmasq", "echo"]
DEFAULT_SERVERS = [s for s in SERVERS if s != "vnetdns-pool"]
MISS_SERVERS = ["vnetdns", "vnetdns-pool", "dnsdist", "unbound"]
# The two dnsperf load settings of the miss rows (issue 17): the benchmark's own (8 sockets,
# 100 in flight) and the independent run's (`dnsperf -c 10 -T 1 -q 100 -n 1`).
MISS_LOADS = {"c8": {"clients": 8, "outstanding": 100, "label": "dnsperf -c 8 -q 100 (own)"},
              "c10": {"clients": 10, "outstanding": 100,
                      "label": "dnsperf -c 10 -q 100 (independent run)"}}
PEERS = ["unbound", "dnsdist", "pdns-recursor", "bind", "kresd", "dnsmasq"]
N_HIT = 1000
N_LOCAL = 1000
N_STALE = 200
CACHE_ENTRIES = 300000
SERVER_CPU, LOAD_CPU = "0", "1"


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- processes

class Proc:
    """A child started by us; stop() sends SIGTERM to its PID only, then waits for it."""
    live = []

    def __init__(self, name, argv, cpu, nice, logdir, env=None):
        self.name = name
        self.log_path = os.path.join(logdir, f"{name}.log")
        self.logf = open(self.log_path, "ab")
        cmd = ["taskset", "-c", cpu] + argv
        if nice:
            cmd = ["nice", "-n", str(nice)] + cmd
        # nice and taskset exec the server: self.p.pid is the server's own PID.
        self.p = subprocess.Popen(cmd, stdout=self.logf, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, env=env)
        self.pid = self.p.pid
        Proc.live.append(self)

    def alive(self):
        return self.p.poll() is None

    def stop(self, timeout=10):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(timeout=10)
        self.logf.close()
        if self in Proc.live:
            Proc.live.remove(self)

    def tail(self, n=15):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""


def pin_threads(proc, cpu):
    """Holds every thread of `proc` to `cpu` ("0" or "0,1"). taskset only sets the affinity
    the process starts with; a server may re-pin its own threads (knotd 3.2 pins its UDP
    workers itself: its only UDP worker landed on CPU 0, the server's, and preempted the
    server under test about once per cache miss). Logs which threads had moved."""
    cpus = {int(c) for c in cpu.split(",")}
    moved = []
    for tid in os.listdir(f"/proc/{proc.pid}/task"):
        try:
            if os.sched_getaffinity(int(tid)) != cpus:
                moved.append(tid)
                os.sched_setaffinity(int(tid), cpus)
        except (ProcessLookupError, PermissionError):
            pass
    if moved:
        log(f"   {proc.name}: {len(moved)} thread(s) had left CPU {cpu}; pinned back")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # utime, stime, cutime, cstime (fields 14-17): reaped children count too (dnsmasq forks
    # one child per TCP connection)
    return sum(int(x) for x in fields[11:15]) / CLK_TCK


def user_system(pid):
    """The process's user and system CPU seconds (its own threads only)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def involuntary_switches(pid):
    """Involuntary context switches of every thread of `pid` (preemptions)."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith("nonvoluntary_ctxt_switches:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def run(cmd, timeout, cpu=LOAD_CPU, nice=0):
    full = ["taskset", "-c", cpu] + cmd
    if nice:
        full = ["nice", "-n", str(nice)] + full
    return subprocess.run(full, capture_output=True, text=True, timeout=timeout)


def port_of(addr):
    for s, a in ADDR.items():
        if a == addr:
            return PORTS.get(s, PORT)
    return PORT


def dig(addr, name, qtype="A", tcp=False):
    cmd = ["dig", "+short", "+time=1", "+tries=1", "+retry=0", f"@{addr}", "-p", str(port_of(addr)), name,
           qtype]
    if tcp:
        cmd.insert(1, "+tcp")
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    # dig +short prints errors on stdout too: keep only answer lines
    return "\n".join(l for l in r.stdout.strip().splitlines() if l and not l.startswith(";"))


# ---------------------------------------------------------------- data

def write_data(d, n_miss):
    z = os.path.join(d, "zones")
    os.makedirs(z, exist_ok=True)
    with open(os.path.join(z, "bench.test.zone"), "w") as f:
        f.write("$ORIGIN bench.test.\n$TTL 86400\n"
                "@ IN SOA ns1.bench.test. hostmaster.bench.test. 1 3600 600 604800 3600\n"
                "@ IN NS ns1\nns1 IN A 127.0.0.20\n")
        for i in range(n_miss):
            f.write(f"n{i} IN A 192.0.2.{i % 250 + 1}\n")
        for i in range(N_HIT):
            f.write(f"h{i} IN A 198.51.100.{i % 250 + 1}\n")
        for i in range(N_STALE):  # short TTL: expired (stale) by the time of the outage
            f.write(f"s{i} 5 IN A 203.0.113.{i % 250 + 1}\n")
    local = [("myregistry", "10.0.0.7"), ("myregistry.westeurope.data", "10.0.0.6")]
    local += [(f"reg{i}", f"10.1.{i // 250}.{i % 250 + 1}") for i in range(N_LOCAL)]
    with open(os.path.join(d, "privatelink.azurecr.io.zone"), "w") as f:
        f.write("$ORIGIN privatelink.azurecr.io.\n$TTL 3600\n"
                "@ IN SOA @ hostmaster.invalid. 1 3600 300 2419200 10\n"
                "@ IN NS ns1\nns1 3600 IN A 10.0.0.2\n")
        for name, ip in local:
            f.write(f"{name} 3600 IN A {ip}\n")
    with open(os.path.join(d, "local.hosts"), "w") as f:
        for name, ip in local:
            f.write(f"{ip} {name}.privatelink.azurecr.io\n")
    with open(os.path.join(d, "root.hints"), "w") as f:
        f.write(".  3600000 IN NS ns.bench-root.\nns.bench-root. 3600000 IN A 127.0.0.20\n")
    with open(os.path.join(d, "q-hit.txt"), "w") as f:
        for i in range(N_HIT):
            f.write(f"h{i}.bench.test A\n")
    with open(os.path.join(d, "q-stale.txt"), "w") as f:
        for i in range(N_STALE):
            f.write(f"s{i}.bench.test A\n")
    with open(os.path.join(d, "q-miss.txt"), "w") as f:
        for i in range(n_miss):
            f.write(f"n{i}.bench.test A\n")
    with open(os.path.join(d, "q-local.txt"), "w") as f:
        for name, _ in local:
            f.write(f"{name}.privatelink.azurecr.io A\n")
    return local


# ---------------------------------------------------------------- upstream (knotd)

class Upstream:
    def __init__(self, d, source, nice, pin=True):
        """pin=False leaves knotd's threads where knotd puts them (knotd 3.2 pins its UDP
        worker to CPU 0, the server's): the setup of the runs before 2026-11-29."""
        self.pin = pin
        self.d = d
        self.run = os.path.join(d, "knot")
        os.makedirs(self.run, exist_ok=True)
        self.conf = os.path.join(self.run, "knot.conf")
        standin = os.path.join(source, "deploy", "standin", "zones")
        with open(self.conf, "w") as f:
            f.write(f"""server:
    rundir: "{self.run}"
    pidfile: "{self.run}/knot.pid"
    listen: [ {UPSTREAM[0]}@{UPSTREAM[1]} ]
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
    udp-max-payload: 1232
control:
    listen: "{self.run}/knot.sock"
log:
  - target: stderr
    any: warning
database:
    storage: "{self.run}"
mod-stats:
  - id: counters
    request-protocol: on
template:
  - id: default
    storage: "{standin}"
    file: "%s.zone"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
    semantic-checks: off
    global-module: mod-stats/counters
zone:
  - domain: .
    file: "root.zone"
  - domain: bench.test.
    file: "{d}/zones/bench.test.zone"
""")
        self.nice = nice
        self.proc = None

    def start(self):
        if self._ready():
            raise RuntimeError(f"something already answers on {UPSTREAM[0]}:{UPSTREAM[1]}")
        self.proc = Proc("knotd", ["knotd", "-c", self.conf], LOAD_CPU, self.nice, self.d)
        deadline = time.time() + 60
        while time.time() < deadline:
            if not self.proc.alive():
                raise RuntimeError("knotd exited:\n" + self.proc.tail())
            if self._ready():
                # where knotd put its threads itself (repin("self") puts them back there)
                self.own_affinity = {}
                for tid in os.listdir(f"/proc/{self.proc.pid}/task"):
                    try:
                        self.own_affinity[int(tid)] = os.sched_getaffinity(int(tid))
                    except ProcessLookupError:
                        pass
                if self.pin:
                    pin_threads(self.proc, LOAD_CPU)
                else:
                    log("   knotd threads left where knotd put them: "
                        + ", ".join(f"{t}:{sorted(os.sched_getaffinity(int(t)))}"
                                    for t in os.listdir(f"/proc/{self.proc.pid}/task")))
                return
            time.sleep(0.3)
        raise RuntimeError("knotd not ready:\n" + self.proc.tail())

    def repin(self, how):
        """how = "ours": every knotd thread on LOAD_CPU; "self": each where knotd put it."""
        if how == "ours":
            pin_threads(self.proc, LOAD_CPU)
            return
        for tid, cpus in self.own_affinity.items():
            try:
                os.sched_setaffinity(tid, cpus)
            except ProcessLookupError:
                pass

    def _ready(self):
        r = subprocess.run(["dig", "+short", "+time=1", "+retry=0", "+tries=1", f"@{UPSTREAM[0]}", "-p",
                            str(UPSTREAM[1]), "h0.bench.test", "A"],
                           capture_output=True, text=True, timeout=10)
        return r.stdout.strip().startswith("198.51.100.")

    def stop(self):
        if self.proc:
            self.proc.stop()
            self.proc = None

    def count(self):
        r = subprocess.run(["knotc", "-c", self.conf, "-t", "5", "stats"], capture_output=True,
                           text=True, timeout=20)
        total = 0
        for line in r.stdout.splitlines():
            m = re.match(r"mod-stats\.request-protocol\[\w+\] = (\d+)", line.strip())
            if m:
                total += int(m.group(1))
        return total


# ---------------------------------------------------------------- servers under test

def configure(name, d, opts):
    """Writes the config of one server; returns its argv."""
    addr = ADDR[name]
    up = f"{UPSTREAM[0]}"
    rd = os.path.join(d, name)
    shutil.rmtree(rd, ignore_errors=True)
    os.makedirs(rd)
    zone = os.path.join(d, "privatelink.azurecr.io.zone")
    hosts = os.path.join(d, "local.hosts")
    hints = os.path.join(d, "root.hints")
    stale = opts.get("stale", False)
    if name in ("vnetdns", "vnetdns-pool"):
        conf = os.path.join(rd, "vnetdns.toml")
        with open(conf, "w") as f:
            f.write(f"""[server]
listen = ["{addr}:{PORT}"]
threads = {opts.get("threads", 1)}
[log]
level = "warn"
[acl]
allow = ["127.0.0.0/8"]
[cache]
max_entries = {CACHE_ENTRIES}
{'serve_stale = "1d"' if stale else ''}
[[zone]]
name = "privatelink.azurecr.io"
file = "{zone}"
[[forward]]
zone = "."
upstreams = ["{up}:{UPSTREAM[1]}"]
timeout = "1s"
deadline = "2s"
{'source_ports = "pool"' if name == "vnetdns-pool" else '# source_ports: "per-question", the default'}
# the defaults cap an upstream at Azure DNS's limits (1,000 q/s, 200 in flight): lifted here
max_qps = 1000000
max_outstanding = 1000
""")
        return [opts["vnetdns_bin"], "serve", "-c", conf]
    if name == "unbound":
        conf = os.path.join(rd, "unbound.conf")
        local = "".join(f'  local-data: "{n}.privatelink.azurecr.io. 3600 IN A {ip}"\n'
                        for n, ip in opts["local"])
        with open(conf, "w") as f:
            f.write(f"""server:
  num-threads: 1
  interface: {addr}@{PORT}
  port: {PORT}
  do-ip6: no
  access-control: 127.0.0.0/8 allow
  username: ""
  chroot: ""
  directory: "{rd}"
  pidfile: "{rd}/unbound.pid"
  use-syslog: no
  logfile: ""
  verbosity: 0
  do-daemonize: no
  do-not-query-localhost: no
  root-hints: "{hints}"
  module-config: "iterator"
  msg-cache-size: 256m
  rrset-cache-size: 512m
  num-queries-per-thread: 4096
  outgoing-range: 8192
  so-rcvbuf: 4m
  qname-minimisation: no
  prefetch: no
  minimal-responses: yes
  {'serve-expired: yes' if stale else ''}
  local-zone: "test." nodefault
  local-zone: "privatelink.azurecr.io." static
{local}remote-control:
  control-enable: no
forward-zone:
  name: "."
  forward-addr: {up}@{UPSTREAM[1]}
""")
        return ["unbound", "-d", "-c", conf]
    if name == "dnsdist":
        conf = os.path.join(rd, "dnsdist.conf")
        interval = 1 if stale else 3600
        with open(conf, "w") as f:
            f.write(f"""setLocal("{addr}:{PORT}")
setACL({{"127.0.0.0/8"}})
setMaxUDPOutstanding(65535)
newServer({{address="{up}:{UPSTREAM[1]}", name="knot", checkName="h0.bench.test.",
           checkInterval={interval}, maxCheckFailures=1}})
pc = newPacketCache({CACHE_ENTRIES}, {{maxTTL=86400, minTTL=0, temporaryFailureTTL=5,
                    staleTTL=86400, dontAge=false}})
getPool(""):setCache(pc)
{'setStaleCacheEntriesTTL(86400)' if stale else ''}
-- dnsdist serves no zones: the local names get one spoofed address (SpoofAction).
addAction({{"privatelink.azurecr.io."}}, SpoofAction({{"10.0.0.7"}}))
""")
        return ["dnsdist", "--supervised", "--disable-syslog", "-C", conf]
    if name == "pdns-recursor":
        with open(os.path.join(rd, "recursor.conf"), "w") as f:
            f.write(f"""local-address={addr}
local-port={PORT}
allow-from=127.0.0.0/8
threads=1
pdns-distributes-queries=no
forward-zones-recurse=.={up}:{UPSTREAM[1]}
auth-zones=privatelink.azurecr.io={zone}
hint-file={hints}
max-cache-entries={CACHE_ENTRIES}
max-packetcache-entries={CACHE_ENTRIES}
socket-dir={rd}
daemon=no
write-pid=no
disable-syslog=yes
loglevel=3
quiet=yes
dnssec=off
qname-minimization=no
max-mthreads=4096
""")
        return ["pdns_recursor", f"--config-dir={rd}"]
    if name == "bind":
        conf = os.path.join(rd, "named.conf")
        with open(conf, "w") as f:
            f.write(f"""options {{
  directory "{rd}";
  pid-file "{rd}/named.pid";
  session-keyfile "{rd}/session.key";
  managed-keys-directory "{rd}";
  listen-on port {PORTS['bind']} {{ {addr}; }};
  listen-on-v6 {{ none; }};
  recursion yes;
  allow-query {{ 127.0.0.0/8; }};
  allow-recursion {{ 127.0.0.0/8; }};
  forwarders {{ {up} port {UPSTREAM[1]}; }};
  forward only;
  dnssec-validation no;
  max-cache-size 512m;
  minimal-responses yes;
  qname-minimization off;
  notify no;
  recursive-clients 10000;
  {'stale-answer-enable yes; stale-cache-enable yes; max-stale-ttl 86400;' if stale else ''}
}};
controls {{ }};
zone "." {{ type hint; file "{hints}"; }};
zone "privatelink.azurecr.io" {{ type primary; file "{zone}"; }};
""")
        return ["named", "-g", "-n", "1", "-c", conf]
    if name == "kresd":
        conf = os.path.join(rd, "kresd.conf")
        with open(conf, "w") as f:
            f.write(f"""net.ipv6 = false
net.listen('{addr}', {PORT}, {{ kind = 'dns' }})
trust_anchors.remove('.')
modules.unload('priming')
modules.unload('detect_time_skew')
modules.unload('ta_signal_query')
modules.unload('ta_sentinel')
modules.load('hints > iterate')
hints.root({{['ns.bench-root.'] = '127.0.0.20'}})
hints.add_hosts('{hosts}')
hints.ttl(3600)
cache.open(300 * MB, 'lmdb://{rd}/cache')
policy.add(policy.suffix(policy.FORWARD({{'{up}@{UPSTREAM[1]}'}}), {{todname('.')}}))
""")
        return ["kresd", "-n", "-c", conf, rd]
    if name == "dnsmasq":
        conf = os.path.join(rd, "dnsmasq.conf")
        with open(conf, "w") as f:
            f.write(f"""port={PORT}
listen-address={addr}
bind-interfaces
no-resolv
no-hosts
no-poll
server={up}#{UPSTREAM[1]}
local=/privatelink.azurecr.io/
addn-hosts={hosts}
local-ttl=3600
cache-size={CACHE_ENTRIES}
dns-forward-max=10000
pid-file={rd}/dnsmasq.pid
user=root
""")
        return ["dnsmasq", "-k", f"--conf-file={conf}"]
    if name == "echo":
        return [opts["echo_bin"], addr, str(PORT)]
    raise ValueError(name)


def version_of(name, opts):
    cmds = {"vnetdns": [opts["vnetdns_bin"], "--version"],
            "vnetdns-pool": [opts["vnetdns_bin"], "--version"], "unbound": ["unbound", "-V"],
            "dnsdist": ["dnsdist", "--version"], "pdns-recursor": ["pdns_recursor", "--version"],
            "bind": ["named", "-v"], "kresd": ["kresd", "--version"],
            "dnsmasq": ["dnsmasq", "--version"], "knotd": ["knotd", "--version"],
            "dnsperf": ["dnsperf", "-h"]}
    if name not in cmds:
        return ""
    try:
        r = subprocess.run(cmds[name], capture_output=True, text=True, timeout=10)
    except OSError:
        return "?"
    out = (r.stdout + r.stderr)
    m = re.search(r"(\d+\.\d+(\.\d+)?)", out)
    return m.group(1) if m else "?"


def start_server(name, d, opts, cpu=SERVER_CPU):
    # opts["wrap"]: a command the server runs under (valgrind: ab.py --profile callgrind)
    argv = opts.get("wrap", []) + configure(name, d, opts)
    if dig(ADDR[name], "myregistry.privatelink.azurecr.io"):
        raise RuntimeError(f"something already answers on {ADDR[name]}:{port_of(ADDR[name])}")
    p = Proc(name, argv, cpu, opts["nice"], d)
    probe = "myregistry.privatelink.azurecr.io"
    deadline = time.time() + 60
    while time.time() < deadline:
        if not p.alive():
            raise RuntimeError(f"{name} exited:\n" + p.tail())
        try:
            if dig(ADDR[name], probe):
                pin_threads(p, cpu)
                return p
        except subprocess.TimeoutExpired:
            pass
        time.sleep(0.3)
    p.stop()
    raise RuntimeError(f"{name} not ready after 60 s:\n" + p.tail())


def verify(name, p):
    """One dig per kind of answer before timing: local name, forwarded name, TCP."""
    local = dig(ADDR[name], "myregistry.privatelink.azurecr.io")
    fwd = dig(ADDR[name], "h0.bench.test")
    tcp = dig(ADDR[name], "h1.bench.test", tcp=True) if name != "echo" else "(n/a)"
    ok_local = local == "10.0.0.7" or name == "echo"
    ok_fwd = fwd.startswith("198.51.100.") or name == "echo"
    ok_tcp = tcp.startswith("198.51.100.") or name == "echo"
    log(f"   verify {name}: local={local!r} forwarded={fwd!r} tcp={tcp!r}")
    if not (ok_local and ok_fwd and ok_tcp):
        raise RuntimeError(f"{name} answered wrongly: local={local!r} fwd={fwd!r} tcp={tcp!r}\n"
                           + p.tail())


# ---------------------------------------------------------------- load

def dnsperf(addr, qfile, seconds=None, once=False, tcp=False, clients=8, outstanding=128,
            rate=None, timeout_s=3, nice=0):
    cmd = ["dnsperf", "-s", addr, "-p", str(port_of(addr)), "-d", qfile, "-T", "1",
           "-c", str(clients), "-q", str(outstanding), "-t", str(timeout_s)]
    if once:
        cmd += ["-n", "1"]
    if seconds:
        cmd += ["-l", str(seconds)]  # with -n: whichever comes first
    if tcp:
        cmd += ["-m", "tcp"]
    if rate:
        cmd += ["-Q", str(rate)]
    limit = (seconds or 120) + timeout_s + 60
    r = run(cmd, timeout=limit, nice=nice)
    out = r.stdout + r.stderr

    def num(pat, default=0.0):
        m = re.search(pat, out)
        return float(m.group(1)) if m else default
    res = {"sent": num(r"Queries sent:\s+(\d+)"), "answered": num(r"Queries completed:\s+(\d+)"),
           "lost": num(r"Queries lost:\s+(\d+)"), "qps": num(r"Queries per second:\s+([\d.]+)"),
           "avg_us": num(r"Average Latency \(s\):\s+([\d.]+)") * 1e6,
           "runtime": num(r"Run time \(s\):\s+([\d.]+)")}
    rc = re.search(r"Response codes:\s+(.*)", out)
    res["rcodes"] = rc.group(1).strip() if rc else ""
    if res["answered"] == 0:
        log("   dnsperf output:\n" + out[-1500:])
    return res


def loadgen(opts, addr, qfile, seconds, rate=None, flows=16, window=16, passes=None,
            timeout_ms=None, cpu=LOAD_CPU):
    # closed loop: a lost query holds its slot until the timeout, so keep that short
    timeout_ms = timeout_ms or (1000 if rate else 300)
    cmd = [opts["loadgen_bin"], "-s", addr, "-p", str(port_of(addr)), "-f", qfile, "-l", str(seconds),
           "-c", str(flows), "-w", str(window), "-t", str(timeout_ms)]
    if rate:
        cmd += ["-Q", str(rate)]
    if passes:
        cmd += ["-n", str(passes)]
    r = run(cmd, timeout=seconds + 30, cpu=cpu, nice=opts["nice"])
    try:
        return json.loads(r.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        log("   loadgen failed: " + r.stdout + r.stderr)
        return {"qps": 0, "answered": 0, "lost": 0, "sent": 0, "avg_us": 0, "p99_us": 0}


def measured(p, up, fn):
    """Runs fn() and adds the server's CPU seconds, µs per answered query and upstream delta."""
    c0, u0 = cpu_seconds(p.pid), up.count()
    t0 = time.time()
    res = fn()
    c1, u1 = cpu_seconds(p.pid), up.count()
    res["wall"] = time.time() - t0
    res["cpu_s"] = c1 - c0
    res["us_per_q"] = (c1 - c0) * 1e6 / res["answered"] if res["answered"] else float("nan")
    res["upstream"] = u1 - u0
    return res


def one_round(name, d, opts, up):
    """One fresh start of one server and every workload; returns {workload: result}."""
    out = {}
    p = start_server(name, d, opts)
    try:
        verify(name, p)
        time.sleep(0.5)
        out["rss_idle"] = rss_kib(p.pid)
        dur = opts["duration"]
        addr = ADDR[name]
        nice = opts["nice"]
        if name != "echo":
            # 3. cache misses: every name once, from a fresh start.
            # capped at miss_cap seconds: a slow server answers fewer names (reported).
            r = measured(p, up, lambda: dnsperf(addr, opts["q_miss"], once=True, outstanding=100,
                                                seconds=opts["miss_cap"], nice=nice))
            out["miss"] = r
            time.sleep(0.5)
            out["rss_full"] = rss_kib(p.pid)
            m = re.search(r"NOERROR (\d+)", r["rcodes"])
            out["names_cached"] = int(m.group(1)) if m else 0  # positive answers only
        # warm the hit names (twice through the list), then let stragglers settle.
        loadgen(opts, addr, opts["q_hit"], 30, flows=4, window=8, passes=2)
        time.sleep(0.3)
        # 1. cache hits, UDP: dnsperf and the batched generator.
        out["hit_dnsperf"] = measured(p, up, lambda: dnsperf(addr, opts["q_hit"], seconds=dur,
                                                             nice=nice))
        out["hit_batch"] = measured(p, up, lambda: loadgen(opts, addr, opts["q_hit"], dur))
        # 2. local-zone answers, UDP.
        out["local_dnsperf"] = measured(p, up, lambda: dnsperf(addr, opts["q_local"],
                                                               seconds=dur, nice=nice))
        out["local_batch"] = measured(p, up, lambda: loadgen(opts, addr, opts["q_local"], dur))
        if name != "echo":
            # 4. cache hits over TCP, several connections with queries pipelined. Warmed over
            # TCP first: some caches (dnsdist) key TCP and UDP answers apart.
            dnsperf(addr, opts["q_hit"], once=True, tcp=True, clients=2, nice=nice)
            out["hit_tcp"] = measured(p, up, lambda: dnsperf(addr, opts["q_hit"], seconds=dur,
                                                             tcp=True, clients=8,
                                                             outstanding=128, nice=nice))
        # 5. latency at a fixed 10k queries/s (cache hits).
        out["latency"] = measured(p, up, lambda: loadgen(opts, addr, opts["q_hit"], dur,
                                                         rate=10000, flows=16))
        if not p.alive():
            raise RuntimeError(f"{name} died during the run:\n" + p.tail())
    finally:
        p.stop()
    return out


# ---------------------------------------------------------------- misses, two load settings

def miss_load(addr, opts, load):
    """The miss names once each under one of MISS_LOADS (capped at miss_cap seconds)."""
    ls = MISS_LOADS[load]
    return dnsperf(addr, opts["q_miss"], once=True, clients=ls["clients"],
                   outstanding=ls["outstanding"], seconds=opts["miss_cap"], nice=opts["nice"])


def busy_seconds():
    """CPU seconds the whole machine has been busy, all CPUs (/proc/stat)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v) - v[3] - v[4]) / CLK_TCK  # all but idle and iowait


def own_seconds():
    """CPU seconds of this script and of its children already waited for (dnsperf, dig)."""
    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def measured_detail(p, up, fn):
    """measured() plus the server's user and system CPU apart, the upstream's (knotd's) CPU
    and the server's involuntary context switches, per answered query; and "others_cores":
    the CPU that processes other than ours (server, knotd, dnsperf, this script) used during
    the run, in cores (a shared machine: how noisy this run was)."""
    k0, s0, us0 = cpu_seconds(up.proc.pid), involuntary_switches(p.pid), user_system(p.pid)
    b0, o0, c0 = busy_seconds(), own_seconds(), cpu_seconds(p.pid)
    r = measured(p, up, fn)
    n = max(r["answered"], 1)
    ours = (cpu_seconds(p.pid) - c0) + (cpu_seconds(up.proc.pid) - k0) + (own_seconds() - o0)
    r["others_cores"] = max(0.0, busy_seconds() - b0 - ours) / max(r["wall"], 1e-3)
    us1 = user_system(p.pid)
    r["user_us_per_q"] = (us1[0] - us0[0]) * 1e6 / n
    r["sys_us_per_q"] = (us1[1] - us0[1]) * 1e6 / n
    r["knot_us_per_q"] = (cpu_seconds(up.proc.pid) - k0) * 1e6 / n
    r["preempted_per_q"] = (involuntary_switches(p.pid) - s0) / n
    return r


def wait_quiet(up, budget, threshold):
    """Waits, at most `budget` seconds, for a second during which processes not ours used
    under `threshold` cores (each second is a measurement window of /proc/stat, not a guess
    at readiness); returns the seconds spent."""
    t0 = time.time()
    while time.time() - t0 < budget:
        b0, o0, k0, w0 = busy_seconds(), own_seconds(), cpu_seconds(up.proc.pid), time.time()
        time.sleep(1.0)
        others = (busy_seconds() - b0 - (own_seconds() - o0)
                  - (cpu_seconds(up.proc.pid) - k0)) / (time.time() - w0)
        if others <= threshold:
            break
    return time.time() - t0


def miss_rows(d, opts, up, servers, rounds, loads, noisy=0.3, retries=1, quiet_budget=0.0):
    """The miss workload alone: for each round, each load setting and each server, a fresh
    start, the miss names once each, stop. Interleaved: the order of the load settings
    alternates from round to round and the servers' order rotates, so no server always runs
    right after the same one or at the same point of a round. A run during which processes
    not ours used more than `noisy` cores (the machine is shared) is run again, at most
    `retries` times; the quietest try counts (all are kept in "tries"). With `quiet_budget`
    seconds, each try first waits for a quiet second (wait_quiet), until the budget, shared by
    all tries, is spent. Returns one record per run."""
    runs = []
    budget = quiet_budget
    for rnd in range(rounds):
        order_loads = list(loads) if rnd % 2 == 0 else list(loads)[::-1]
        k = rnd % len(servers)
        order = servers[k:] + servers[:k]
        for load in order_loads:
            for s in order:
                tries = []
                for attempt in range(1 + max(retries, 0)):
                    log(f"== miss round {rnd + 1}/{rounds}, {MISS_LOADS[load]['label']}: {s}"
                        + (f" (try {attempt + 1})" if attempt else ""))
                    waited = wait_quiet(up, budget, noisy) if budget > 0 and noisy else 0.0
                    budget -= waited
                    rec = {"round": rnd + 1, "load": load, "server": s, "waited_s": waited,
                           "time": datetime.datetime.now(datetime.timezone.utc).strftime(
                               "%H:%M:%S"),
                           "loadavg": float(open("/proc/loadavg").read().split()[0])}
                    p = start_server(s, d, opts)
                    try:
                        verify(s, p)  # h0, h1 and a local name: none of the miss names
                        r = measured_detail(p, up, lambda: miss_load(ADDR[s], opts, load))
                        if not p.alive():
                            raise RuntimeError(f"{s} died during the miss run:\n" + p.tail())
                    finally:
                        p.stop()
                    rec.update(r)
                    tries.append(rec)
                    log(f"   {r['qps']:,.0f} q/s, {r['us_per_q']:.2f} µs/q (user "
                        f"{r['user_us_per_q']:.2f}, sys {r['sys_us_per_q']:.2f}), knotd "
                        f"{r['knot_us_per_q']:.2f} µs/q, answered {r['answered']:,.0f}, lost "
                        f"{r['lost']:,.0f}; others {r['others_cores']:.2f} cores")
                    if not noisy or r["others_cores"] <= noisy:
                        break
                best = dict(min(tries, key=lambda t: t["others_cores"]))
                best["tries"] = [{k: t[k] for k in ("time", "qps", "us_per_q", "others_cores")}
                                 for t in tries]
                runs.append(best)
                if not up.proc.alive():
                    raise RuntimeError("knotd died:\n" + up.proc.tail())
    return runs


MISS_TARGETS = [  # (server, reference, factor): issue 17
    ("vnetdns", "unbound", 2.0), ("vnetdns", "dnsdist", 0.9), ("vnetdns-pool", "dnsdist", 1.2)]


def miss_report(runs, loads, rounds, noisy_cores=0.3, retries=1):
    """Tables of the miss rows, per load setting: each server's median q/s (range) and its
    ratio to dnsdist and to Unbound; µs of server CPU per query and the capacity ratio it
    gives (the reference's µs/q over the server's: what the q/s ratio is when the server's
    core is the bottleneck, and much steadier on a shared machine); the targets by both; and
    the runs. Ratios are of the medians; in parentheses the range of the ratios within each
    round (whose runs were a minute or two apart)."""
    L = []
    servers = [s for s in MISS_SERVERS if any(r["server"] == s for r in runs)]
    servers += sorted({r["server"] for r in runs} - set(servers))

    def sel(load, s, quiet=False):
        return [r for r in runs if r["load"] == load and r["server"] == s and r["answered"]
                and (not quiet or r.get("others_cores", 0) <= noisy_cores)]

    def cell(load, s, key, quiet=False):
        return [r[key] for r in sel(load, s, quiet)]

    def ratio(load, s, ref, key="qps", quiet=False):
        """s / ref for q/s; ref / s for µs per query (higher is better either way)."""
        a, b = med(cell(load, s, key, quiet))[0], med(cell(load, ref, key, quiet))[0]
        if not a or not b:
            return None, None, None
        f = (lambda x, y: x / y) if key == "qps" else (lambda x, y: y / x)
        per_round = []
        for rnd in range(1, rounds + 1):
            x = [r[key] for r in sel(load, s, quiet) if r["round"] == rnd]
            y = [r[key] for r in sel(load, ref, quiet) if r["round"] == rnd]
            if x and y and x[0] and y[0]:
                per_round.append(f(x[0], y[0]))
        return f(a, b), (min(per_round) if per_round else None), (max(per_round) if per_round
                                                                   else None)

    def fr(t):
        v, lo, hi = t
        if v is None:
            return "n/a"
        return f"{v:.2f}" + (f" ({lo:.2f}–{hi:.2f})" if lo is not None and hi > lo else "")

    def num(v, digits=2):
        return "n/a" if v is None else f"{v:.{digits}f}"

    L.append("Throughput (dnsperf's queries per second; server busy: its CPU over the run's "
             "wall time, 1.00 = its core saturated):\n")
    L.append("| server | load | q/s | × dnsdist | × unbound | server busy | lost |")
    L.append("|---|---|---|---|---|---|---|")
    for load in loads:
        for s in servers:
            busy = med([r["cpu_s"] / max(r["wall"], 1e-3) for r in sel(load, s)])[0]
            lost = med([r["lost"] for r in runs if r["load"] == load and r["server"] == s])
            L.append(f"| {s} | {load} | {fmt(*med(cell(load, s, 'qps')))} | "
                     f"{fr(ratio(load, s, 'dnsdist'))} | {fr(ratio(load, s, 'unbound'))} | "
                     f"{num(busy)} | {fmt(*lost)} |")
    L.append("")
    L.append("CPU per miss (µs of server CPU per answered query, user and system apart; capacity "
             "× ref = ref's µs/q over the server's; knotd µs/q: the upstream's CPU per query; "
             "preempted /q: the server's involuntary context switches per query):\n")
    L.append("| server | load | server µs/q | user | sys | capacity × dnsdist | × unbound "
             "| knotd µs/q | preempted /q |")
    L.append("|---|---|---|---|---|---|---|---|---|")
    for load in loads:
        for s in servers:
            L.append(f"| {s} | {load} | {fmt(*med(cell(load, s, 'us_per_q')), 2)} | "
                     f"{num(med(cell(load, s, 'user_us_per_q'))[0])} | "
                     f"{num(med(cell(load, s, 'sys_us_per_q'))[0])} | "
                     f"{fr(ratio(load, s, 'dnsdist', 'us_per_q'))} | "
                     f"{fr(ratio(load, s, 'unbound', 'us_per_q'))} | "
                     f"{num(med(cell(load, s, 'knot_us_per_q'))[0])} | "
                     f"{num(med(cell(load, s, 'preempted_per_q'))[0], 3)} |")
    L.append("")
    L.append("Targets (issue 17), each under each load setting: by q/s (all rounds; in brackets "
             f"the runs with other processes under {noisy_cores} cores only, their count) and by "
             "CPU per miss:\n")
    L.append("| target | by | " + " | ".join(MISS_LOADS[x]["label"] for x in loads) + " |")
    L.append("|---|---|" + "---|" * len(loads))
    for s, ref, factor in MISS_TARGETS:
        for by, key in (("q/s", "qps"), ("CPU per miss", "us_per_q")):
            cells = []
            for load in loads:
                t = ratio(load, s, ref, key)
                if t[0] is None:
                    cells.append("n/a")
                    continue
                c = f"{fr(t)}×: {'met' if t[0] >= factor else 'NOT met'}"
                if key == "qps":
                    qt = ratio(load, s, ref, key, quiet=True)[0]
                    n = min(len(sel(load, s, True)), len(sel(load, ref, True)))
                    c += (f" [quiet: {qt:.2f}×, n={n}: {'met' if qt >= factor else 'NOT met'}]"
                          if qt else " [quiet: none]")
                cells.append(c)
            L.append(f"| {s} ≥ {factor}× {ref} | {by} | " + " | ".join(cells) + " |")
    L.append("")
    spread = []
    for load in loads:
        for s in servers:
            q = cell(load, s, "qps")
            if len(q) > 1 and min(q) > 0 and max(q) / min(q) > 1.15:
                spread.append(f"{s} ({load}): {min(q):,.0f}–{max(q):,.0f}")
    if spread:
        L.append("Spread over 15% between rounds (noisy): " + "; ".join(spread) + ".\n")
    loud = [r for r in runs if r.get("others_cores", 0) > noisy_cores]
    retried = sum(len(r.get("tries", [])) - 1 for r in runs)
    L.append(f"Runs during which other processes used over {noisy_cores} cores (each was tried "
             f"up to {1 + retries} times, the quietest try kept): {len(loud)} of {len(runs)}"
             + (": " + "; ".join(f"round {r['round']} {r['load']} {r['server']} "
                                 f"({r['others_cores']:.2f})" for r in loud) if loud else "")
             + f". Tries repeated for noise: {retried}; seconds waited for a quiet start: "
             f"{sum(r.get('waited_s', 0) for r in runs):.0f}.\n")
    L.append("Every run (UTC time; load average at its start; others: CPU used during the run by "
             "processes not ours, in cores, of 2; server busy: the server's CPU over the run's "
             "wall time, 1.00 = its core saturated):\n")
    L.append("| round | load | server | time | loadavg | others, cores | q/s | µs/q | server busy, "
             "cores | answered |")
    L.append("|---|---|---|---|---|---|---|---|---|---|")
    for r in runs:
        extra = ""
        if len(r.get("tries", [])) > 1:
            extra = " (" + ", ".join(f"{t['time']}: {t['qps']:,.0f} q/s, others "
                                     f"{t['others_cores']:.2f}" for t in r["tries"]) + ")"
        L.append(f"| {r['round']} | {r['load']} | {r['server']} | {r['time']}{extra} | "
                 f"{r['loadavg']:.2f} | {r.get('others_cores', float('nan')):.2f} | "
                 f"{r['qps']:,.0f} | {r['us_per_q']:.2f} | "
                 f"{r['cpu_s'] / max(r['wall'], 1e-3):.2f} | {r['answered']:,.0f} |")
    L.append("")
    return "\n".join(L)


# ---------------------------------------------------------------- threads = 1 vs 2

def scaling(d, opts, up, rounds):
    """vnetdns with threads = 1 and threads = 2, server and batched load generator both free
    to use both CPUs (there is no third core to keep them apart): cache hits over UDP. Each
    worker has its own SO_REUSEPORT socket; the generator's 32 flows are spread over them by
    the kernel's hash. Returns {threads: [result per round]}."""
    both = f"{SERVER_CPU},{LOAD_CPU}"
    addr = ADDR["vnetdns"]
    res = {}
    for rnd in range(rounds):
        for n in (1, 2):
            log(f"== scaling round {rnd + 1}/{rounds}: vnetdns threads = {n}")
            o = dict(opts, threads=n)
            p = start_server("vnetdns", d, o, cpu=both)
            try:
                loadgen(o, addr, opts["q_hit"], 30, flows=4, window=8, passes=2, cpu=both)
                time.sleep(0.3)
                r = measured(p, up, lambda: loadgen(o, addr, opts["q_hit"], opts["duration"],
                                                    flows=32, cpu=both))
                r["cores_busy"] = r["cpu_s"] / r["wall"] if r["wall"] else 0.0
                res.setdefault(n, []).append(r)
            finally:
                p.stop()
    return res


# ---------------------------------------------------------------- outage (issue 4)

def outage(d, opts, up, servers):
    """Steady load while the upstream is stopped for 10 s. Three sets of names, each at a fixed
    rate in turn: fresh (cached, TTL 1 d), stale (cached, TTL 5 s, expired before the outage)
    and uncached (never asked before)."""
    res = {}
    q_stale = os.path.join(d, "q-stale.txt")
    for name in servers:
        o = dict(opts, stale=True)
        p = start_server(name, d, o)
        try:
            loadgen(o, ADDR[name], o["q_hit"], 30, flows=4, window=8, passes=2)
            loadgen(o, ADDR[name], q_stale, 30, flows=4, window=8, passes=2)
            time.sleep(6)  # the stale set expires
            phases = {}
            for phase, secs in (("before", 5), ("during", 10), ("after", 6)):
                if phase == "during":
                    up.stop()
                if phase == "after":
                    up.start()
                r = {}
                sets = [("fresh", o["q_hit"], 2000), ("uncached", mixed_tail(d, phase, opts), 500)]
                if phase != "before":  # asking the stale set before would refresh it
                    sets.insert(1, ("stale", q_stale, 1000))
                for label, qf, rate in sets:
                    r[label] = loadgen(o, ADDR[name], qf, secs / len(sets), rate=rate, flows=8)
                phases[phase] = r
            res[name] = phases
        finally:
            p.stop()
            if not up.proc:
                up.start()
    return res


def mixed_tail(d, phase, opts):
    """A file of names never asked before in this server's life (one slice per phase)."""
    base = {"before": 0, "during": 1, "after": 2}[phase]
    path = os.path.join(d, f"q-outage-{phase}.txt")
    n = opts["n_miss"] // 3
    with open(path, "w") as f:
        for i in range(base * n, base * n + n):
            f.write(f"n{i}.bench.test A\n")
    return path


# ---------------------------------------------------------------- report

def med(vals):
    vals = [v for v in vals if v == v]  # drop NaN
    if not vals:
        return None, None, None
    return statistics.median(vals), min(vals), max(vals)


def fmt(v, lo, hi, digits=0, show_range=True):
    if v is None:
        return "n/a"
    f = f"{{:,.{digits}f}}"
    s = f.format(v)
    if show_range and lo is not None and hi is not None and hi > lo:
        s += f" ({f.format(lo)}–{f.format(hi)})"
    return s


def miss_header(meta):
    L = [f"# vnetdns benchmark ({meta['mode']})\n",
         f"- date: {meta['date']}",
         f"- machine: {meta['nproc']} CPUs, {meta['cpu']}, {meta['kernel']}; "
         f"load average at start {meta['loadavg']}",
         "- pinning: server on CPU 0, load generator and upstream (knotd, 1 UDP worker) on "
         f"CPU 1; knotd's threads: {meta.get('knotd_pinned', '?')}; nice {meta['nice']}",
         "- versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
         + f"; vnetdns build: {meta.get('vnetdns_rev', '?')}",
         f"- {meta['rounds']} round(s), {meta['n_miss']:,} miss names",
         f"- command: {meta.get('command', '?')}", ""]
    return "\n".join(L)


def report(results, meta, outage_res, scaling_res=None):
    L = []
    L.append(f"# vnetdns benchmark ({meta['mode']})\n")
    L.append(f"- date: {meta['date']}")
    L.append(f"- machine: {meta['nproc']} CPUs, {meta['cpu']}, {meta['kernel']}; "
             f"load average at start {meta['loadavg']}")
    L.append("- pinning: server on CPU 0, load generator and upstream (knotd, 1 UDP worker) on "
             f"CPU 1; nice {meta['nice']}")
    L.append("- versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
             + f"; vnetdns build: {meta.get('vnetdns_rev', '?')}")
    L.append(f"- runs: {meta['rounds']} fresh start(s) per server; median (min–max); "
             f"{meta['duration']} s per timed run; {meta['n_miss']:,} miss names")
    L.append("- µs/q = server CPU time (user+system, /proc/PID/stat) per answered query; "
             "'up Δ' = queries the upstream received during the timed hit runs (0 = all from cache)\n")

    def col(name, wl, key):
        vals = [r[wl][key] for r in results.get(name, []) if wl in r and key in r[wl]]
        return med(vals)

    def best_peer(wl, key, lower=True):
        best = None
        for s in PEERS:
            v = col(s, wl, key)[0]
            if v is None:
                continue
            if best is None or (v < best[1] if lower else v > best[1]):
                best = (s, v)
        return best

    echo_hit = col("echo", "hit_batch", "qps")[0]
    echo_local = col("echo", "local_batch", "qps")[0]
    for wl, title, echo_ref in (("hit", "1. Cache hits, UDP", echo_hit),
                                ("local", "2. Local-zone answers, UDP", echo_local)):
        bp = best_peer(f"{wl}_dnsperf", "us_per_q")
        L.append(f"## {title}\n")
        L.append(f"Best peer by µs/q under dnsperf: {bp[0] if bp else 'n/a'}.\n")
        L.append("| server | dnsperf q/s | µs/q | × best peer | batched q/s | µs/q (batched) "
                 "| % of echo | lost | up Δ |")
        L.append("|---|---|---|---|---|---|---|---|---|")
        for s in SERVERS:
            if s not in results:
                continue
            q = col(s, f"{wl}_dnsperf", "qps")
            u = col(s, f"{wl}_dnsperf", "us_per_q")
            bq = col(s, f"{wl}_batch", "qps")
            bu = col(s, f"{wl}_batch", "us_per_q")
            lost = col(s, f"{wl}_batch", "lost")[0]
            upd = max([r[f"{wl}_dnsperf"]["upstream"] + r[f"{wl}_batch"]["upstream"]
                       for r in results[s] if f"{wl}_batch" in r] or [0])
            ratio = f"{u[0] / bp[1]:.2f}" if (bp and u[0]) else "n/a"
            pct = f"{100 * bq[0] / echo_ref:.0f}%" if (echo_ref and bq[0] is not None) else "n/a"
            L.append(f"| {s} | {fmt(*q)} | {fmt(*u, 2)} | {ratio} | {fmt(*bq)} | {fmt(*bu, 2)} "
                     f"| {pct} | {fmt(lost, None, None)} | {upd} |")
        L.append("")

    L.append("## 3. Cache misses, UDP (each name once, fresh start, dnsperf -q 100)\n")
    bp = best_peer("miss", "qps", lower=False)
    L.append(f"Best peer: {bp[0] if bp else 'n/a'}.\n")
    L.append("| server | q/s | × best peer | µs/q | lost | rcodes (last run) |")
    L.append("|---|---|---|---|---|---|")
    for s in SERVERS:
        if s == "echo" or s not in results:
            continue
        q = col(s, "miss", "qps")
        u = col(s, "miss", "us_per_q")
        lost = col(s, "miss", "lost")
        rc = results[s][-1].get("miss", {}).get("rcodes", "")
        ratio = f"{q[0] / bp[1]:.2f}" if (bp and q[0]) else "n/a"
        L.append(f"| {s} | {fmt(*q)} | {ratio} | {fmt(*u, 2)} | {fmt(*lost)} | {rc} |")
    L.append("")

    L.append("## 4. Cache hits, TCP (dnsperf -m tcp, 8 connections, 128 outstanding)\n")
    bp = best_peer("hit_tcp", "us_per_q")
    L.append(f"Best peer by µs/q: {bp[0] if bp else 'n/a'}.\n")
    L.append("| server | q/s | µs/q | × best peer | up Δ |")
    L.append("|---|---|---|---|---|")
    for s in SERVERS:
        if s == "echo" or s not in results:
            continue
        q = col(s, "hit_tcp", "qps")
        u = col(s, "hit_tcp", "us_per_q")
        upd = max([r["hit_tcp"]["upstream"] for r in results[s] if "hit_tcp" in r] or [0])
        ratio = f"{u[0] / bp[1]:.2f}" if (bp and u[0]) else "n/a"
        L.append(f"| {s} | {fmt(*q)} | {fmt(*u, 2)} | {ratio} | {upd} |")
    L.append("")

    L.append("## 5. Latency at a fixed 10,000 q/s (cache hits, batched generator, open loop)\n")
    bp = best_peer("latency", "p99_us")
    L.append(f"Best peer by p99: {bp[0] if bp else 'n/a'}.\n")
    L.append("| server | avg µs | p50 µs | p99 µs | × best peer p99 | lost |")
    L.append("|---|---|---|---|---|---|")
    for s in SERVERS:
        if s not in results:
            continue
        a = col(s, "latency", "avg_us")
        p50 = col(s, "latency", "p50_us")
        p99 = col(s, "latency", "p99_us")
        lost = col(s, "latency", "lost")
        ratio = f"{p99[0] / bp[1]:.2f}" if (bp and p99[0] is not None and bp[1]) else "n/a"
        L.append(f"| {s} | {fmt(*a)} | {fmt(*p50)} | {fmt(*p99)} | {ratio} | {fmt(*lost)} |")
    L.append("")

    L.append("## 6. Memory (VmRSS)\n")
    L.append("| server | idle MiB | with misses cached MiB | names cached | KiB/name above idle |")
    L.append("|---|---|---|---|---|")
    for s in SERVERS:
        if s == "echo" or s not in results:
            continue
        idle = med([r["rss_idle"] / 1024 for r in results[s]])
        full = med([r["rss_full"] / 1024 for r in results[s] if "rss_full" in r])
        names = med([r["names_cached"] for r in results[s] if "names_cached" in r])
        per = med([(r["rss_full"] - r["rss_idle"]) / r["names_cached"] for r in results[s]
                   if r.get("names_cached")])
        L.append(f"| {s} | {fmt(*idle, 1)} | {fmt(*full, 1)} | {fmt(*names)} | {fmt(*per, 2)} |")
    L.append("")

    # vnetdns against the targets of issue 3
    L.append("## vnetdns against the targets (issue 3)\n")
    L.append("| workload | target | measured | met |")
    L.append("|---|---|---|---|")

    def tgt(label, target, measured_s, ok):
        L.append(f"| {label} | {target} | {measured_s} | {'yes' if ok else 'no'} |")
    if "vnetdns" in results:
        for wl, label, ref in (("hit", "cache hit, UDP", echo_hit),
                               ("local", "local zone, UDP", echo_local)):
            bp = best_peer(f"{wl}_dnsperf", "us_per_q")
            v = col("vnetdns", f"{wl}_dnsperf", "us_per_q")[0]
            if bp and v:
                tgt(label, "≤ 0.6× best peer µs/q", f"{v:.2f} µs vs {bp[0]} {bp[1]:.2f} "
                    f"({v / bp[1]:.2f}×)", v / bp[1] <= 0.6)
            bq = col("vnetdns", f"{wl}_batch", "qps")[0]
            if ref and bq is not None:
                tgt(label, "≥ 90% of echo rate (batched)", f"{100 * bq / ref:.0f}%",
                    bq / ref >= 0.9)
        dd = col("dnsdist", "miss", "qps")[0]
        v = col("vnetdns", "miss", "qps")[0]
        if dd and v:
            tgt("cache miss, UDP", "≥ 1.0× dnsdist q/s", f"{v:,.0f} vs {dd:,.0f} ({v / dd:.2f}×)",
                v >= dd)
        bp = best_peer("hit_tcp", "us_per_q")
        v = col("vnetdns", "hit_tcp", "us_per_q")[0]
        if bp and v:
            tgt("cache hit, TCP", "≤ 0.7× best peer µs/q",
                f"{v:.2f} µs vs {bp[0]} {bp[1]:.2f} ({v / bp[1]:.2f}×)", v / bp[1] <= 0.7)
        bp = best_peer("latency", "p99_us")
        v = col("vnetdns", "latency", "p99_us")[0]
        if bp and v is not None:
            tgt("p99 at 10k q/s", "≤ best peer", f"{v:.0f} µs vs {bp[0]} {bp[1]:.0f} µs",
                v <= bp[1])
        per = med([(r["rss_full"] - r["rss_idle"]) / r["names_cached"]
                   for r in results["vnetdns"] if r.get("names_cached")])[0]
        if per is not None:
            tgt("memory, names cached", "≤ 0.2 KiB/name", f"{per:.2f} KiB/name", per <= 0.2)
    L.append("")

    if scaling_res:
        L.append("\n## threads = 1 vs 2 (cache hits, UDP, batched generator, 32 flows; server and "
                 "generator share both CPUs)\n")
        L.append("| threads | q/s | × threads = 1 | server CPU, cores busy | µs/q | lost |")
        L.append("|---|---|---|---|---|---|")
        base = med([r["qps"] for r in scaling_res.get(1, [])])[0]
        for n in sorted(scaling_res):
            rs = scaling_res[n]
            q, lo, hi = med([r["qps"] for r in rs])
            ratio = f"{q / base:.2f}" if base else "–"
            L.append(f"| {n} | {fmt(q, lo, hi)} | {ratio} | "
                     f"{fmt(*med([r['cores_busy'] for r in rs]), digits=2)} | "
                     f"{fmt(*med([r['us_per_q'] for r in rs]), digits=2)} | "
                     f"{fmt(*med([r['lost'] for r in rs]), show_range=False)} |")
    if outage_res:
        L.append("## Outage: upstream stopped for 10 s (serve-stale configs)\n")
        L.append("In each phase, in turn at a fixed rate: fresh cached names (TTL 1 d, 2,000 q/s), "
                 "stale ones (TTL 5 s, expired before the outage, 1,000 q/s; not asked before "
                 "it) and never-seen names (500 q/s). Cells: NOERROR / SERVFAIL / unanswered. "
                 "The upstream restarts at the start of 'after' (knotd reloads its zones in "
                 "about 2 s).\n")
        L.append("| server | phase | fresh | stale | uncached |")
        L.append("|---|---|---|---|---|")

        def cell(c):
            if not c:
                return "–"
            return f"{c.get('noerror', 0)} / {c.get('servfail', 0)} / {c.get('lost', 0)}"
        for s, phases in outage_res.items():
            for ph, r in phases.items():
                L.append(f"| {s} | {ph} | {cell(r.get('fresh'))} | {cell(r.get('stale'))} | "
                         f"{cell(r.get('uncached'))} |")
        L.append("")
    return "\n".join(L)


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--source", default=os.path.dirname(os.path.dirname(HERE)))
    ap.add_argument("--vnetdns", required=True)
    ap.add_argument("--loadgen", required=True)
    ap.add_argument("--echo", required=True)
    ap.add_argument("--servers", default=None,
                    help="default: every server but vnetdns-pool (with --miss-only: "
                         + ",".join(MISS_SERVERS) + ")")
    ap.add_argument("--miss-only", action="store_true",
                    help="only the miss rows (issue 17): vnetdns per-question and pool, dnsdist "
                         "and Unbound under each of --miss-loads, fresh starts, interleaved "
                         "rounds (a few minutes); writes results/miss-<rev>.md")
    ap.add_argument("--miss-loads", default=",".join(MISS_LOADS),
                    help="load settings of the miss rows, of " + ", ".join(
                        f"{k}: {v['label']}" for k, v in MISS_LOADS.items()))
    ap.add_argument("--noisy", type=float, default=0.3,
                    help="miss rows: a run during which processes not ours used more CPU than "
                         "this (cores) is tried again (0: never)")
    ap.add_argument("--retries", type=int, default=1, help="miss rows: tries again at most")
    ap.add_argument("--wait-quiet", type=float, default=0,
                    help="miss rows: seconds, in all, that tries may wait for a quiet second "
                         "(other processes under --noisy cores) before they start")
    ap.add_argument("--no-miss-rows", action="store_true",
                    help="full run without the miss rows under both load settings")
    ap.add_argument("--knotd-self-pinned", action="store_true",
                    help="leave knotd's threads where knotd puts them (before 2026-11-29)")
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--duration", type=float)
    ap.add_argument("--misses", type=int)
    ap.add_argument("--nice", type=int, default=-10)
    ap.add_argument("--keep", action="store_true", help="keep the work dir (configs, logs)")
    ap.add_argument("--outage", action="store_true", help="also run the outage scenario")
    ap.add_argument("--scaling", action="store_true",
                    help="also run vnetdns with threads = 1 and 2 on both CPUs")
    ap.add_argument("--out", help="default: tests/bench/results/latest.md (quick.md with --quick)")
    a = ap.parse_args()
    rounds = a.rounds or (1 if a.quick else 3)
    duration = a.duration or (2 if a.quick else 5)
    n_miss = a.misses or (20000 if a.quick else 200000)
    servers = [s for s in (a.servers or ",".join(MISS_SERVERS if a.miss_only else
                                                 DEFAULT_SERVERS)).split(",") if s]
    miss_loads = [x for x in a.miss_loads.split(",") if x]
    for x in miss_loads:
        if x not in MISS_LOADS:
            ap.error(f"--miss-loads: {x} is not one of {', '.join(MISS_LOADS)}")
    rev = os.environ.get("VNETDNS_REV", "?")
    if a.miss_only:
        tag = re.sub(r"[^0-9A-Za-z.-]", "_", rev.split()[0]) if rev != "?" else "unknown"
        a.out = a.out or os.path.join(HERE, "results", f"miss-{tag}.md")
    a.out = a.out or os.path.join(HERE, "results", "quick.md" if a.quick else "latest.md")
    # the miss rows: the four miss servers among those asked for (vnetdns brings its pool
    # variant along)
    miss_servers = [s for s in MISS_SERVERS if s in servers
                    or (s == "vnetdns-pool" and "vnetdns" in servers)]
    if a.no_miss_rows:
        miss_servers = []

    d = tempfile.mkdtemp(prefix="vnetdns-bench.")
    local = write_data(d, n_miss)
    opts = {"vnetdns_bin": os.path.abspath(a.vnetdns), "loadgen_bin": os.path.abspath(a.loadgen),
            "echo_bin": os.path.abspath(a.echo), "local": local, "duration": duration,
            "nice": a.nice, "n_miss": n_miss, "miss_cap": 20 if a.quick else 40,
            "q_hit": os.path.join(d, "q-hit.txt"), "q_miss": os.path.join(d, "q-miss.txt"),
            "q_local": os.path.join(d, "q-local.txt")}
    meta = {"mode": "misses only" if a.miss_only else ("quick" if a.quick else "full"),
            "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
            "nproc": os.cpu_count(), "kernel": platform.release(),
            "cpu": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                         if l.startswith("model name")), "?"),
            "loadavg": open("/proc/loadavg").read().split()[0], "nice": a.nice,
            "rounds": rounds, "duration": duration, "n_miss": n_miss,
            "vnetdns_rev": rev, "miss_loads": miss_loads,
            "command": "bench.py " + " ".join(sys.argv[1:]),
            "knotd_pinned": "knotd's own" if a.knotd_self_pinned else "CPU 1 (pinned back)",
            "versions": {s: version_of(s, opts) for s in servers + ["knotd", "dnsperf"]
                         if s != "echo"}}
    up = Upstream(d, a.source, a.nice, pin=not a.knotd_self_pinned)
    miss_runs = []
    results, failures = {}, {}
    outage_res = None
    scaling_res = None
    deadline = time.time() + (1800 if a.quick else 5400)
    try:
        up.start()
        log(f"upstream knotd ready on {UPSTREAM[0]}:{UPSTREAM[1]}; work dir {d}")
        for rnd in range(0 if a.miss_only else rounds):
            for s in servers:
                if time.time() > deadline:
                    raise RuntimeError("benchmark time budget exhausted")
                log(f"== round {rnd + 1}/{rounds}: {s}")
                t0 = time.time()
                try:
                    results.setdefault(s, []).append(one_round(s, d, opts, up))
                except Exception as e:  # noqa: BLE001 - one server failing must not stop the rest
                    log(f"   {s} FAILED: {e}")
                    failures[s] = str(e)[:2000]
                log(f"   {s} round took {time.time() - t0:.0f} s")
                if not up.proc.alive():
                    raise RuntimeError("knotd died:\n" + up.proc.tail())
        if miss_servers and miss_loads:
            try:
                miss_runs = miss_rows(d, opts, up, miss_servers, rounds, miss_loads,
                                      a.noisy, a.retries, a.wait_quiet)
            except Exception as e:  # noqa: BLE001 - keep what the other parts measured
                log(f"   miss rows FAILED: {e}")
                failures["miss rows"] = str(e)[:2000]
        if a.outage:
            names = [s for s in ("vnetdns", "unbound", "dnsdist") if s in servers]
            outage_res = outage(d, opts, up, names)
        if a.scaling and "vnetdns" in servers:
            scaling_res = scaling(d, opts, up, rounds)
    finally:
        for p in list(Proc.live):
            p.stop()
    results = {s: r for s, r in results.items() if r}
    if a.miss_only:
        text = miss_header(meta)
    else:
        text = report(results, meta, outage_res, scaling_res)
    if miss_runs:
        text += ("\n## 3b. Cache misses under two load settings (issue 17)\n\n"
                 f"{rounds} round{'s' if rounds != 1 else ''}; each run a fresh start of the server, the {n_miss:,} miss "
                 "names once each (dnsperf -T 1 -n 1, capped at "
                 f"{opts['miss_cap']} s). vnetdns: source_ports = \"per-question\" (default); "
                 "vnetdns-pool: the same binary with source_ports = \"pool\". knotd µs/q: the "
                 "upstream's CPU per answered query; preempted /q: the server's involuntary "
                 "context switches per query.\n\n"
                 + miss_report(miss_runs, miss_loads, rounds, a.noisy, a.retries))
    if failures:
        text += "\n## Failures\n\n" + "\n".join(f"- {s}: {e.splitlines()[0]}"
                                               for s, e in failures.items()) + "\n"
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        f.write(text + "\n")
    with open(os.path.splitext(a.out)[0] + ".json", "w") as f:
        json.dump({"meta": meta, "results": results, "outage": outage_res, "scaling": scaling_res,
                   "miss_rows": miss_runs, "failures": failures}, f, indent=1, default=str)
    print(text)
    if not a.keep:
        shutil.rmtree(d, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
