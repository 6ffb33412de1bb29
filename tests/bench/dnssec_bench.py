#!/usr/bin/python3
"""DNSSEC benchmark: vnetdns validating ([dnssec] mode = "validate") against a validating
Unbound and against vnetdns with validation off, side by side in one run, loopback only.

    tests/bench/run.sh --dnssec [--rounds N] [--names N] [--duration S] ...
    /usr/bin/python3 tests/bench/dnssec_bench.py --binary build-bench/vnetdns [...]

The zones: tests/integration/signed_hierarchy.py (a fake root, vnet. and its child zones,
signed offline with ldns-signzone, served by one knotd, behind a NON-validating Unbound, the
"upstream"), plus one zone of our own, added by BenchHierarchy below (a subclass; the fixture
is not edited):
  bench.vnet.   ECDSAP256SHA256 (--alg RSASHA256: a 2048-bit RSA/SHA-256 key, the algorithm
                of the root and most TLDs; its checks cost a third of P-256's, which shifts the
                ratio towards what is not crypto) (one key, KSK flag, signs everything), NSEC,
                DS in vnet.;
                `h<N> A 192.0.2.x` for N = 0 .. names + CHECK_NAMES - 1 (default 200,000 + 100)
and every zone's TTL is one day (the fixture's is 300 s), so nothing warmed expires during the
run. wild.vnet. (the fixture's, ECDSAP384SHA384, NSEC, `* A 192.0.2.50`) gives the wildcard
names `w<N>.wild.vnet.`: each answer needs the wildcard's RRSIG and the NSEC that proves the
name itself does not exist, and that NSEC (and its RRSIG) is THE SAME for every name: a
validator that remembers checked signatures (Unbound's rrset cache keeps the NSEC as secure)
checks it once. That row is reported apart, labelled, and is not the headline.

The servers measured, each with ONE worker thread, pinned to CPU 0 (bench.py's pinning), each
forwarding "." to the same non-validating Unbound (pinned, with knotd, dnsperf and this
script, to CPU 1):
  vnetdns-validate  [dnssec] mode = "validate", trust_anchor_file = the fake root's DS
  vnetdns-off       the same binary, no [dnssec] section (mode off: the baseline)
  vnetdns-validate-pool  vnetdns-validate with [[forward]] source_ports = "pool" (issue 17's
                    shared source-port pool, the user's other choice; miss rows only, beside
                    the default, not instead of it)
  unbound-validate  validating_unbound_conf() of the fixture ("validator iterator", the same
                    anchor, forward-zone "." to the non-validating Unbound), with bench.py's
                    Unbound cache sizes
Workloads, in each of --rounds rounds (rounds interleaved like bench.py's miss rows: the order
of the load settings alternates, the servers' order rotates):
  misses    every run a fresh start of the server; its chain (root DNSKEY, vnet. and
            bench.vnet. DS/DNSKEY) warmed by one query of a check name; then --per-run miss
            names (default 40,000: round r asks the r-th slice of h0 .. h<names-1>, every
            server and setting of the round the same slice) once each with dnsperf -n 1,
            DO=1 (-D) and DO=0 (no EDNS, like bench.py), under both load settings of
            bench.py's miss rows (c8: dnsperf -c 8 -q 100, the project's; c10: dnsperf -c 10
            -q 100). A validated miss costs ~0.25 ms of CPU on the 2-core machine this was
            written on, so the whole 200,000 in every run would not fit the ~15 minutes that
            the benchmark may take (3 rounds x 12 validating runs). The upstream Unbound was
            warmed with every name first (and is checked to answer from its cache: its second
            pass is timed), so each miss is a real miss in the measured server and one
            signature check (vnetdns-validate, unbound-validate) of an answer the upstream
            has at hand.
  wildcard  the same for --wild-names names w<N>.wild.vnet., DO=1, load c8 (the labelled
            side row). Unbound's aggressive-nsec (on by default in 1.17) synthesizes these
            answers from the cached wildcard and NSEC without asking the upstream at all
            (see its "upstream µs/q": 0).
  hits      a fresh start, the hot set (HOT names h0 .. h999) asked twice to warm it, then
            dnsperf for --duration seconds (bench.py's hit setting: -c 8 -q 128), DO=1 and
            DO=0: vnetdns-validate against vnetdns-off (target: within 10 %); Unbound's for
            context.
Correctness, in every run of a validating server (else the numbers are meaningless and the
benchmark aborts): before the load, CHECK_SAMPLE fresh check names with DO=1 must come back
NOERROR with AD=1, the A record and its RRSIG; after it, a random sample of the names of the
run (DO=1) the same, and (after a DO=0 run) a DO=0 sample NOERROR with the A record. vnetdns's
own counters (admin endpoint, read after each run) give the answers judged secure/insecure/
bogus/indeterminate and the DS/DNSKEY subqueries; dnsperf's RCODE counts are recorded (a
SERVFAIL or a loss is reported, not hidden).

Measured per run (as bench.py's miss rows): dnsperf's q/s, lost, RCODEs; the server's CPU
per answered query (user, system); the upstream Unbound's and knotd's CPU; the server's
preemptions; "others": CPU used during the run by processes that are not ours (the machine is
shared), in cores; a run with others above --noisy is tried again (--retries), the quietest
try kept. Reported: medians and ranges of the rounds; ratios of the medians (vnetdns-validate
/ unbound-validate for misses; validate / off for hits) with the range of the per-round ratios.

Process rules (harness.py's): every server is a harness.Child of this script (nice and taskset
exec it in place: the PID is the server's), stopped by that PID (SIGTERM, bounded wait,
SIGKILL), also on failure; readiness is polled with queries against a deadline, never slept
for; every tool call has a timeout, and --max-seconds bounds the rounds (rounds not started in
time are left out and said so). Packets go to 127.0.0.0/8 only.

Writes tests/bench/results/dnssec-<short hash>.md and .json (--out to change).
"""
import argparse
import contextlib
import datetime
import json
import os
import platform
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import bench as b  # noqa: E402  (pinning, CPU accounting, medians: bench.py's helpers)
import dns.flags  # noqa: E402
import dns.rdatatype  # noqa: E402
import harness as h  # noqa: E402
import signed_hierarchy as shm  # noqa: E402

HIER_ADDR = "127.0.0.41"  # knotd and the non-validating Unbound (the fixture's default)
ADDR = {"vnetdns-validate": "127.0.0.42", "vnetdns-off": "127.0.0.43",
        "unbound-validate": "127.0.0.44", "vnetdns-validate-pool": "127.0.0.45"}
SERVERS = list(ADDR)
VNETDNS = ("vnetdns-validate", "vnetdns-off", "vnetdns-validate-pool")
VALIDATE = ("vnetdns-validate", "vnetdns-validate-pool")
MISS_ONLY = ("vnetdns-validate-pool",)  # only changes the miss path: not in wildcard/hit rows
SERVER_CPU, LOAD_CPU = b.SERVER_CPU, b.LOAD_CPU  # "0", "1"
MISS_LOADS = b.MISS_LOADS  # c8 (the project's own), c10 (dnsperf -c 10 -q 100)
HIT_CLIENTS, HIT_OUTSTANDING = 8, 128  # bench.py's dnsperf() defaults for the hit runs
BENCH_ZONE = "bench.vnet."
BENCH_ALGS = ("ECDSAP256SHA256", "RSASHA256")  # --alg: bench.vnet.'s key (RSA: 2048 bits)
ZONE_TTL = 86400
CHECK_NAMES = 100  # h<names> .. h<names+99>: never in a load, asked by the checks
CHECK_SAMPLE = 10  # fresh check names per run (the first also warms the chain)
AFTER_SAMPLE = 50  # names of the run asked again after it
HOT = 1000
CACHE_ENTRIES = 300000  # bench.py's
# Unbound's caches as bench.py sizes them (the defaults, 4 MB, hold far fewer than 200k names)
UNBOUND_EXTRA = ["msg-cache-size: 256m", "rrset-cache-size: 512m",
                 "num-queries-per-thread: 4096", "outgoing-range: 8192", "so-rcvbuf: 4m",
                 "qname-minimisation: no", "prefetch: no", "minimal-responses: yes"]
TARGET_MISS = 2.0  # vnetdns-validate >= 2x unbound-validate q/s (misses)
TARGET_HIT = 0.90  # validate-mode hits >= 90 % of off-mode hits


def log(*a):
    print(f"[{time.strftime('%H:%M:%S')}]", *a, file=sys.stderr, flush=True)


for _a in [HIER_ADDR, *ADDR.values()]:
    h._assert_loopback(_a)


# ================================================================ the zones

class BenchHierarchy(shm.SignedHierarchy):
    """SignedHierarchy plus bench.vnet. (`names` + CHECK_NAMES signed A records, DS in vnet.),
    every zone with a TTL of one day, and an upstream Unbound with bench.py's cache sizes.
    Hooks used (the fixture's own methods): _write (the zone files: the TTL; for vnet., the
    delegation and DS of bench.vnet., whose zone is built and signed there, when vnet.'s
    records are final and before vnet. is signed) and _unbound_conf (cache sizes)."""

    def __init__(self, workdir, names, alg=BENCH_ALGS[0], **kw):
        super().__init__(workdir, addr=HIER_ADDR, **kw)
        self.n_names = names
        self.alg = alg
        self.timings = {}

    def _write(self, name, records):
        path = os.path.join(self.zonedir, (name.rstrip(".") or "root") + ".zone")
        ns = "ns" if name != "." else "ns."
        records = list(records)
        if name == "vnet.":
            records += self._bench_zone()
        # SOA minimum = ZONE_TTL too: it is the TTL of the NSEC records (RFC 4034 section 4),
        # and with it of every cached answer that carries one (the wildcard answers)
        head = [f"$ORIGIN {name}", f"$TTL {ZONE_TTL}",
                f"@ SOA {ns} hostmaster.vnet. 1 1800 900 604800 {ZONE_TTL}", f"@ NS {ns}",
                f"{ns} A {self.knot_addr}"]
        with open(path, "w") as f:
            f.write("\n".join(head + records) + "\n")
        return path

    def _bench_zone(self):
        """Builds and signs bench.vnet.; returns vnet.'s records for it (NS, glue, DS)."""
        t0 = time.monotonic()
        recs = (f"h{i} A 192.0.2.{i % 250 + 1}" for i in range(self.n_names + CHECK_NAMES))
        src = self._write(BENCH_ZONE, recs)
        t1 = time.monotonic()
        key = shm._Key(self.keydir, BENCH_ZONE, self.alg, ksk=True)
        now = int(time.time())
        # RSA signs ~4,000 RRsets/s here: a 2-record-per-name zone of 120k names takes a minute
        signed = self._sign(BENCH_ZONE, src, [key], "nsec", now - shm.DAY, now + 30 * shm.DAY,
                            timeout=600)
        t2 = time.monotonic()
        self.timings.update({"bench_zone_generate_s": t1 - t0, "bench_zone_sign_s": t2 - t1,
                             "bench_zone_signed_bytes": os.path.getsize(signed)})
        log(f"   {BENCH_ZONE}: {self.n_names + CHECK_NAMES:,} names written in {t1 - t0:.1f} s, "
            f"signed (ldns-signzone, {self.alg}, NSEC) in {t2 - t1:.1f} s, "
            f"{os.path.getsize(signed) / 1e6:.0f} MB")
        self.zones.append((BENCH_ZONE, signed))
        return ["bench NS ns.bench", f"ns.bench A {self.knot_addr}",
                f"bench DS {key.ds().to_text()}"]

    def _unbound_conf(self):
        text = super()._unbound_conf()
        assert text.startswith("server:\n")
        return "server:\n" + "".join(f"  {x}\n" for x in UNBOUND_EXTRA) + text[len("server:\n"):]


# ================================================================ processes

def renice_all(pid, nice):
    """Sets the nice value of every thread of `pid` (setpriority acts on one thread)."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.setpriority(os.PRIO_PROCESS, int(tid), nice)


class Server:
    """One measured server, a fresh start: config written, harness.Child started under
    `nice -n NICE taskset -c 0` (both exec: the Child's PID is the server's), ready when a
    query gets a reply (polled), threads pinned back to CPU 0 (bench.pin_threads)."""

    def __init__(self, kind, ctx, log_level="warn"):
        self.kind = kind
        self.addr = ADDR[kind]
        self.port = ctx["ports"][kind]
        self.admin_port = ctx["admin_ports"].get(kind)
        sh = ctx["sh"]
        if kind in VNETDNS:
            extra = h.admin_toml(self.admin_port, self.addr)
            if kind in VALIDATE:
                extra += ('\n[dnssec]\nmode = "validate"\n'
                          f"trust_anchor_file = {h._toml_value(sh.trust_anchor)}\n")
            v = h.Vnetdns(ctx["binary"], ctx["workdir"], name=kind, listen_addrs=(self.addr,),
                          port=self.port, threads=1, log_level=log_level,
                          cache_entries=CACHE_ENTRIES, allow=("127.0.0.0/8",),
                          forwards=[{"zone": ".",
                                     "upstreams": [f"{sh.unbound_addr}:{sh.unbound_port}"],
                                     # bench.py's forward settings: the defaults cap an
                                     # upstream at Azure DNS's limits; lifted here
                                     "timeout": "1s", "deadline": "2s",
                                     "max_qps": 1000000, "max_outstanding": 1000,
                                     **({"source_ports": "pool"} if kind == "vnetdns-validate-pool"
                                        else {})}],
                          extra_toml=extra)
            self.dir, self.config_text = v.dir, v.config_text
            argv = [ctx["binary"], "serve", "-c", v.config]
        else:
            self.dir = tempfile.mkdtemp(prefix=f"{kind}-", dir=ctx["workdir"])
            self.config_text = sh.validating_unbound_conf(self.dir, self.addr, self.port,
                                                          extra=UNBOUND_EXTRA)
            conf = os.path.join(self.dir, "unbound.conf")
            with open(conf, "w") as f:
                f.write(self.config_text)
            argv = [h.UNBOUND, "-d", "-c", conf]
        if h.raw_udp(self.addr, self.port, h.make_query(".", "SOA").to_wire(), timeout=0.2):
            raise RuntimeError(f"something already answers on {self.addr}:{self.port}")
        self.child = h.Child(kind, ["nice", "-n", str(ctx["nice"]), "taskset", "-c", SERVER_CPU]
                             + argv, os.path.join(self.dir, f"{kind}.log"), cwd=self.dir)
        self.pid = self.child.pid
        self.name = kind
        try:
            self._ready(ctx)
        except BaseException:
            self.child.stop()
            raise
        b.pin_threads(self, SERVER_CPU)

    def _ready(self, ctx, deadline_s=30.0):
        end = time.monotonic() + deadline_s
        q = h.make_query(ctx["check_names"][0], "A", want_dnssec=True)
        while True:
            if not self.child.alive():
                raise RuntimeError(f"{self.kind} exited:\n{self.child.tail()}")
            try:
                if h.raw_udp(self.addr, self.port, q.to_wire(), timeout=0.3):
                    return
            except OSError:
                time.sleep(0.05)  # poll interval (an error, not a readiness assumption)
            if time.monotonic() > end:
                raise TimeoutError(f"{self.kind} did not answer in {deadline_s} s:\n"
                                   f"{self.child.tail()}")

    def metrics(self):
        """vnetdns's DNSSEC and cache counters (admin endpoint); {} for Unbound."""
        if self.admin_port is None:
            return {}
        status, body = h.http_request(self.addr, self.admin_port, "GET", "/metrics", timeout=5)
        if status != 200:
            return {"error": f"HTTP {status}"}
        s = h.parse_prometheus(body)
        out = {}
        for (name, labels), v in s.items():
            if name.startswith("vnetdns_dnssec_") or name in (
                    "vnetdns_cache_hits_total", "vnetdns_upstream_queries_total"):
                key = name[len("vnetdns_"):] + ("{" + ",".join(f"{k}={x}" for k, x in labels)
                                                + "}" if labels else "")
                out[key] = v
        return out

    def stop(self):
        return self.child.stop()


# ================================================================ load and checks

def dnsperf_cmd(addr, port, qfile, *, do, clients, outstanding, once=False, seconds=None,
                timeout_s=3):
    cmd = ["dnsperf", "-s", addr, "-p", str(port), "-d", qfile, "-T", "1",
           "-c", str(clients), "-q", str(outstanding), "-t", str(timeout_s)]
    if do:
        cmd.append("-D")
    if once:
        cmd += ["-n", "1"]
    if seconds:
        cmd += ["-l", str(seconds)]
    return cmd


def dnsperf(cmd, nice, limit):
    """Runs dnsperf (on CPU 1, like bench.py's) and parses its summary."""
    h._assert_loopback(cmd[cmd.index("-s") + 1])
    r = b.run(cmd, timeout=limit, nice=nice)
    out = r.stdout + r.stderr

    def num(pat):
        m = re.search(pat, out)
        return float(m.group(1)) if m else 0.0
    res = {"sent": num(r"Queries sent:\s+(\d+)"), "answered": num(r"Queries completed:\s+(\d+)"),
           "lost": num(r"Queries lost:\s+(\d+)"), "qps": num(r"Queries per second:\s+([\d.]+)"),
           "avg_us": num(r"Average Latency \(s\):\s+([\d.]+)") * 1e6,
           "runtime": num(r"Run time \(s\):\s+([\d.]+)")}
    m = re.search(r"Response codes:\s+(.*)", out)
    res["rcodes"] = {k: int(v) for k, v in re.findall(r"([A-Z]+) (\d+)", m.group(1))} if m else {}
    if res["answered"] == 0:
        log("   dnsperf output:\n" + out[-1500:])
    return res


def minor_faults(pid):
    """Minor page faults of the process (/proc/PID/stat field 10): kernel time that shows as
    system CPU (memory touched for the first time, or given back and taken again)."""
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[7])


def measure(server, sh, fn):
    """fn() (a dnsperf run) with bench.py's accounting: the server's CPU (user, system) per
    answered query and its preemptions; the upstream Unbound's and knotd's CPU; "others":
    the CPU that processes not ours used meanwhile, in cores."""
    sp, up, kn = server.pid, sh.unbound.pid, sh.knotd.pid
    c0, us0, s0 = b.cpu_seconds(sp), b.user_system(sp), b.involuntary_switches(sp)
    f0 = minor_faults(sp)
    u0, k0, bz0, o0, t0 = b.cpu_seconds(up), b.cpu_seconds(kn), b.busy_seconds(), \
        b.own_seconds(), time.time()
    r = fn()
    wall = time.time() - t0
    c1, us1, s1 = b.cpu_seconds(sp), b.user_system(sp), b.involuntary_switches(sp)
    f1 = minor_faults(sp)
    u1, k1 = b.cpu_seconds(up), b.cpu_seconds(kn)
    ours = (c1 - c0) + (u1 - u0) + (k1 - k0) + (b.own_seconds() - o0)
    n = max(r["answered"], 1)
    r.update({"wall": wall, "cpu_s": c1 - c0, "us_per_q": (c1 - c0) * 1e6 / n,
              "user_us_per_q": (us1[0] - us0[0]) * 1e6 / n,
              "sys_us_per_q": (us1[1] - us0[1]) * 1e6 / n,
              "preempted_per_q": (s1 - s0) / n, "server_busy": (c1 - c0) / max(wall, 1e-3),
              "minflt_per_q": (f1 - f0) / n,
              "upstream_us_per_q": (u1 - u0) * 1e6 / n, "knot_cpu_s": k1 - k0,
              "others_cores": max(0.0, b.busy_seconds() - bz0 - ours) / max(wall, 1e-3)})
    return r


class CheckFailed(RuntimeError):
    pass


def check_answer(server, name, do, want_ad, what):
    """One query; NOERROR with an A record (and with DO=1 its RRSIG), AD=1 if want_ad."""
    m, _ = h.timed_query(server.addr, server.port, name, "A", timeout=3.0,
                         edns=0 if do else -1, want_dnssec=do)
    problems = []
    if m is None:
        problems.append("no answer in 3 s")
    else:
        if m.rcode() != 0:
            problems.append(f"RCODE {h.rcode_text(m)} (EDE {h.ede_codes(m)})")
        types = {rr.rdtype for rr in m.answer}
        if dns.rdatatype.A not in types:
            problems.append("no A record")
        if do and dns.rdatatype.RRSIG not in types:
            problems.append("no RRSIG")
        if want_ad and not m.flags & dns.flags.AD:
            problems.append("AD=0")
    if problems:
        raise CheckFailed(f"{server.kind}: {what}: {name} A (DO={int(do)}): "
                          + ", ".join(problems) + f"\n{server.child.tail(15)}")
    return bool(m.flags & dns.flags.AD)


def checks_before(server, ctx, names):
    """The chain warmed (the first name) and fresh misses checked: AD=1 for validators."""
    validating = server.kind != "vnetdns-off"
    ads = [check_answer(server, n, True, validating, "fresh miss before the load")
           for n in names]
    return {"before_checked": len(names), "before_ad": sum(ads)}


def checks_after(server, run_names, do, rng):
    validating = server.kind != "vnetdns-off"
    sample = rng.sample(run_names, min(AFTER_SAMPLE, len(run_names)))
    ads = [check_answer(server, n, True, validating, "a name of the run, after it")
           for n in sample]
    if not do:  # the DO=0 answers themselves (what the run cached)
        for n in sample[:10]:
            check_answer(server, n, False, False, "a name of the DO=0 run, after it")
    return {"after_checked": len(sample), "after_ad": sum(ads)}


# ================================================================ one run

def one_run(ctx, kind, server_kind, load, do, rnd):
    """A fresh start of `server_kind`, the checks, the load, the checks; returns a record."""
    sh, nice = ctx["sh"], ctx["nice"]
    rec = {"round": rnd, "kind": kind, "load": load, "do": int(do), "server": server_kind,
           "time": datetime.datetime.now(datetime.timezone.utc).strftime("%H:%M:%S"),
           "loadavg": float(open("/proc/loadavg").read().split()[0])}
    checks = ctx["rng"].sample(ctx["check_names"], CHECK_SAMPLE)
    t_run = time.monotonic()
    srv = Server(server_kind, ctx)
    ctx["configs"].setdefault(server_kind, srv.config_text)
    try:
        rec.update(checks_before(srv, ctx, checks))
        m0 = srv.metrics()
        if kind == "hit":
            qfile, names = ctx["q_hot"], ctx["hot_names"]
            warm = dnsperf_cmd(srv.addr, srv.port, qfile, do=do, clients=4, outstanding=50,
                               once=True)
            for _ in range(2):
                dnsperf(warm, nice, 60)
            cmd = dnsperf_cmd(srv.addr, srv.port, qfile, do=do, clients=HIT_CLIENTS,
                              outstanding=HIT_OUTSTANDING, seconds=ctx["duration"])
            limit = ctx["duration"] + 60
        else:
            qfile, names = ctx["q_round"][rnd] if kind == "miss" else \
                (ctx["q_wild"], ctx["wild_names"])
            ls = MISS_LOADS[load]
            cmd = dnsperf_cmd(srv.addr, srv.port, qfile, do=do, clients=ls["clients"],
                              outstanding=ls["outstanding"], once=True,
                              seconds=ctx["miss_cap"])
            limit = ctx["miss_cap"] + 60
        ctx["commands"].setdefault(f"{kind} {load} DO={int(do)}",
                                   " ".join(cmd).replace(srv.addr, "ADDR")
                                   .replace(f"-p {srv.port}", "-p PORT"))
        r = measure(srv, sh, lambda: dnsperf(cmd, nice, limit))
        if not srv.child.alive():
            raise RuntimeError(f"{server_kind} died during the run:\n{srv.child.tail()}")
        rec.update(r)
        m1 = srv.metrics()
        rec["metrics"] = {k: v - m0.get(k, 0.0) for k, v in m1.items()
                          if isinstance(v, float)}
        rec.update(checks_after(srv, names, do, ctx["rng"]))
    finally:
        rec["exit"] = srv.stop()
        rec["total_s"] = time.monotonic() - t_run  # start, checks, load, checks, stop
        ctx["logs"][server_kind] = srv.child.log_path
    bad = {k: v for k, v in rec.get("rcodes", {}).items() if k != "NOERROR"}
    if bad or rec.get("lost"):
        ctx["odd"].append(f"round {rnd} {kind} {load} DO={int(do)} {server_kind}: "
                          f"RCODEs {rec['rcodes']}, lost {rec['lost']:.0f}")
    mt = rec.get("metrics", {})
    sec = mt.get("dnssec_answers_total{state=secure}")
    log(f"   {rec['qps']:,.0f} q/s, {rec['us_per_q']:.2f} µs/q (user {rec['user_us_per_q']:.2f}, "
        f"sys {rec['sys_us_per_q']:.2f}), upstream {rec['upstream_us_per_q']:.2f} µs/q, "
        f"answered {rec['answered']:,.0f}, lost {rec['lost']:,.0f}, {rec['rcodes']}"
        + (f", secure {sec:,.0f}" if sec is not None else "")
        + f"; others {rec['others_cores']:.2f} cores")
    return rec


def run_with_retries(ctx, kind, server_kind, load, do, rnd):
    tries = []
    for attempt in range(1 + max(ctx["retries"], 0)):
        log(f"== round {rnd}/{ctx['rounds']}: {kind} {load} DO={int(do)}: {server_kind}"
            + (f" (try {attempt + 1})" if attempt else ""))
        rec = one_run(ctx, kind, server_kind, load, do, rnd)
        tries.append(rec)
        if not ctx["noisy"] or rec["others_cores"] <= ctx["noisy"]:
            break
        # another try only if the runs still to come (at the mean time per run so far) and
        # this one again fit before the deadline
        ctx["runs_done"] += 1
        mean = (time.monotonic() - ctx["t_rounds"]) / ctx["runs_done"]
        left = ctx["planned_runs"] - ctx["runs_done"]
        ctx["runs_done"] -= 1
        if time.monotonic() + mean * (left + 1) > ctx["deadline"]:
            ctx["retries_skipped"] += 1
            break
    ctx["runs_done"] += 1
    best = dict(min(tries, key=lambda t: t["others_cores"]))
    best["tries"] = [{k: t[k] for k in ("time", "qps", "us_per_q", "others_cores")}
                     for t in tries]
    return best


# ================================================================ setup

def write_queries(d, n_names, n_wild, per_run, rounds):
    """The query files: all miss names (to warm the upstream), each round's slice of them
    (per_run names, the slices following each other through the zone, wrapping around), the
    check names, the wildcard names, the hot set. Returns (checks, wild, hot, files, slices:
    {round: (file, names)})."""
    miss = [f"h{i}.{BENCH_ZONE}" for i in range(n_names)]
    checks = [f"h{i}.{BENCH_ZONE}" for i in range(n_names, n_names + CHECK_NAMES)]
    wild = [f"w{i}.wild.vnet." for i in range(n_wild)]
    hot = miss[:HOT]
    files = {}
    for label, names in (("miss", miss), ("check", checks), ("wild", wild), ("hot", hot)):
        files[label] = os.path.join(d, f"q-{label}.txt")
        with open(files[label], "w") as f:
            f.writelines(f"{n} A\n" for n in names)
    slices = {}
    for rnd in range(1, rounds + 1):
        start = ((rnd - 1) * per_run) % n_names
        names = [miss[(start + i) % n_names] for i in range(per_run)]
        path = os.path.join(d, f"q-miss-round{rnd}.txt")
        with open(path, "w") as f:
            f.writelines(f"{n} A\n" for n in names)
        slices[rnd] = (path, names)
    return checks, wild, hot, files, slices


def warm_upstream(ctx, files):
    """Every name through the non-validating Unbound (which asks knotd), DO=1; then again,
    timed, to show it answers from its cache (the measured servers' upstream capacity)."""
    sh, nice = ctx["sh"], ctx["nice"]
    allq = os.path.join(ctx["workdir"], "q-all.txt")
    with open(allq, "w") as out:
        for label in ("miss", "check", "wild"):
            with open(files[label]) as f:
                shutil.copyfileobj(f, out)
    res = {}
    for label, do in (("first pass (from knotd), DO=1", True),
                      ("second pass (from its cache), DO=1", True),
                      ("third pass (from its cache), DO=0", False)):
        cmd = dnsperf_cmd(sh.unbound_addr, sh.unbound_port, allq, do=do, clients=10,
                          outstanding=100, once=True, seconds=300)
        t0 = time.monotonic()
        k0 = b.cpu_seconds(sh.knotd.pid)
        r = dnsperf(cmd, nice, 400)
        r["knot_cpu_s"] = b.cpu_seconds(sh.knotd.pid) - k0
        r["wall"] = time.monotonic() - t0
        res[label] = r
        log(f"   upstream {label}: {r['answered']:,.0f} answered at {r['qps']:,.0f} q/s, "
            f"lost {r['lost']:,.0f}, {r['rcodes']}, knotd CPU {r['knot_cpu_s']:.2f} s")
        if r["rcodes"].get("NOERROR", 0) != r["sent"] or r["lost"]:
            raise RuntimeError(f"the upstream Unbound did not answer every name with NOERROR "
                               f"({label}): {r}\n{sh.unbound.tail()}")
    return res


def versions():
    out = {}
    for name, cmd in (("unbound", [h.UNBOUND, "-V"]), ("knotd", [h.KNOTD, "--version"]),
                      ("dnsperf", ["dnsperf", "-h"]), ("ldns-signzone", [shm.LDNS_SIGNZONE, "-v"])):
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=10,
                               stdin=subprocess.DEVNULL)
            m = re.search(r"(\d+\.\d+(\.\d+)?)", r.stdout + r.stderr)
            out[name] = m.group(1) if m else "?"
        except OSError:
            out[name] = "?"
    try:
        import ssl
        out["openssl (python's)"] = ssl.OPENSSL_VERSION.split()[1]
    except Exception:  # noqa: BLE001
        pass
    return out


# ================================================================ report

def med(v):
    return b.med(v)


def fmt(t, digits=0):
    return b.fmt(*t, digits=digits)


def ratio_t(runs, sel, num, den, key="qps", inverse=False):
    """(ratio of the medians, min, max of the per-round ratios). inverse: den/num (µs/q)."""
    a = med([r[key] for r in sel(num)])[0]
    c = med([r[key] for r in sel(den)])[0]
    if not a or not c:
        return None, None, None
    f = (lambda x, y: y / x) if inverse else (lambda x, y: x / y)
    per = []
    for rnd in sorted({r["round"] for r in runs}):
        x = [r[key] for r in sel(num) if r["round"] == rnd]
        y = [r[key] for r in sel(den) if r["round"] == rnd]
        if x and y and x[0] and y[0]:
            per.append(f(x[0], y[0]))
    return f(a, c), (min(per) if per else None), (max(per) if per else None)


def fr(t):
    v, lo, hi = t
    if v is None:
        return "n/a"
    return f"{v:.2f}" + (f" ({lo:.2f}–{hi:.2f})" if lo is not None and hi > lo else "")


def report(meta, runs, upstream_warm, odd, failures):
    L = ["# DNSSEC benchmark: vnetdns validating vs Unbound validating vs vnetdns off\n",
         f"- date: {meta['date']}; vnetdns build: {meta['vnetdns_rev']} (git HEAD "
         f"{meta['git_head']}{', tree dirty' if meta['git_dirty'] else ''})",
         f"- machine: {meta['nproc']} CPUs, {meta['cpu']}, kernel {meta['kernel']}, "
         f"{meta['mem_gib']:.0f} GiB; load average at start {meta['loadavg']}; the machine is "
         "shared (see 'others' below); the hypervisor's steal time is not visible",
         "- pinning: the measured server on CPU 0 (1 worker thread each: vnetdns threads = 1, "
         "Unbound num-threads: 1); dnsperf, the upstream Unbound, knotd and this script on CPU 1; "
         f"servers, dnsperf at nice {meta['nice']}",
         "- versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()),
         f"- rounds: {meta['rounds_done']} of {meta['rounds']} (median and, in parentheses, "
         "min–max over the rounds; ratios: of the medians, in parentheses the range of the "
         "per-round ratios)",
         f"- run time: {meta['run_s'] / 60:.1f} min in all (setup {meta['setup_s']:.0f} s: keys, "
         f"zones, signing, knotd, upstream warm-up)",
         f"- command: {meta['command']}", ""]
    L.append("## Setup\n")
    t = meta["timings"]
    L.append(f"- zones: tests/integration/signed_hierarchy.py (fake root RSASHA256, vnet. and its "
             f"children) plus {BENCH_ZONE} ({meta['alg']}, NSEC, one key, DS in vnet.) with "
             f"{meta['names']:,} miss names h0..h{meta['names'] - 1} and {CHECK_NAMES} check "
             f"names; every TTL {ZONE_TTL} s. {BENCH_ZONE}: generated in "
             f"{t.get('bench_zone_generate_s', 0):.1f} s, signed by ldns-signzone in "
             f"{t.get('bench_zone_sign_s', 0):.1f} s "
             f"({t.get('bench_zone_signed_bytes', 0) / 1e6:.0f} MB signed); the whole "
             f"hierarchy (keys, {len(meta['zones'])} zones, knotd loading them, the upstream "
             f"Unbound) up in {t.get('hierarchy_s', 0):.1f} s.")
    L.append(f"- miss runs: {meta['per_run']:,} names each, asked once (dnsperf -n 1); round r "
             f"asks the r-th slice of the {meta['names']:,} (every server and setting of a round "
             "the same names); each run a fresh start of the server.")
    L.append(f"- wildcard names: {meta['wild_names']:,} w<N>.wild.vnet. (the fixture's wild.vnet.: "
             "ECDSAP384SHA384, NSEC, `* A 192.0.2.50`): each answer needs the wildcard A's RRSIG "
             "and the NSEC that proves the name does not exist, the same NSEC for every name. "
             "Unbound's aggressive-nsec (default yes in 1.17) answers them from its cache "
             "without asking its upstream (its upstream µs/q below is ~0).")
    L.append("- every measured server forwards \".\" to the same non-validating Unbound "
             "(signed_hierarchy's, iterator only, with stubs to knotd; cache sizes as bench.py's "
             "Unbound). It was warmed with every name before the rounds:")
    for label, r in upstream_warm.items():
        L.append(f"  - {label}: {r['answered']:,.0f} names at {r['qps']:,.0f} q/s "
                 f"(knotd CPU {r['knot_cpu_s']:.1f} s), RCODEs {r['rcodes']}")
    L.append("  The cache passes' rate is the ceiling the upstream puts on every miss row (it "
             "shares CPU 1 with dnsperf).")
    L.append("- vnetdns: threads = 1, [cache] max_entries = 300000, [[forward]] \".\" with "
             "bench.py's settings (timeout 1s, deadline 2s, max_qps 1000000, max_outstanding "
             "1000), log level warn, [admin] on loopback (read after each run); "
             "vnetdns-validate adds `[dnssec] mode = \"validate\"`, `trust_anchor_file` = the "
             "fake root's DS. unbound-validate: signed_hierarchy.validating_unbound_conf() "
             "(\"validator iterator\", the same anchor, forward-zone \".\", num-threads 1) plus "
             + ", ".join(UNBOUND_EXTRA) + ". Configs in the .json.")
    L.append("- each run: a fresh start of the server; "
             f"{CHECK_SAMPLE} fresh check names with DO=1 (the first warms the chain of trust: "
             "root DNSKEY, vnet. and bench.vnet. DS and DNSKEY) must be NOERROR with A, RRSIG "
             f"and AD=1 (validators); after the load, {AFTER_SAMPLE} names of the run again "
             "(DO=1: AD=1; after a DO=0 run also 10 with DO=0). Any failure aborts the benchmark.")
    L.append("- commands (ADDR/PORT: the server's; dnsperf on CPU 1 via taskset):")
    for k, c in sorted(meta["commands"].items()):
        L.append(f"  - {k}: `{c}`")
    L.append("")

    def sel_f(kind, load, do):
        def sel(s):
            return [r for r in runs if r["kind"] == kind and r["load"] == load
                    and r["do"] == do and r["server"] == s and r["answered"]]
        return sel

    def settings(kind):
        return sorted({(r["load"], r["do"]) for r in runs if r["kind"] == kind},
                      key=lambda x: (list(MISS_LOADS).index(x[0]) if x[0] in MISS_LOADS else 9,
                                     -x[1]))

    def label(load, do):
        lab = MISS_LOADS[load]["label"] if load in MISS_LOADS else load
        return f"{lab}, DO={do}"

    for kind, title in (("miss", "Cache misses (the headline): names in bench.vnet., each asked "
                                 "once"),
                        ("wild", "Wildcard misses (w<N>.wild.vnet.; FAVOURS A SIGNATURE CACHE: "
                                 "every answer carries the same NSEC; not the headline)")):
        if not any(r["kind"] == kind for r in runs):
            continue
        L.append(f"## {title}\n")
        L.append("q/s: dnsperf's queries per second; ratio: vnetdns-validate / unbound-validate "
                 "(target ≥ 2); validate/off: vnetdns-validate / vnetdns-off; pool: "
                 "vnetdns-validate-pool (source_ports = \"pool\"), its ratio to "
                 "unbound-validate.\n")
        L.append("| setting | vnetdns-validate q/s | unbound-validate q/s | ratio | "
                 "vnetdns-off q/s | validate/off | pool q/s | pool ratio |")
        L.append("|---|---|---|---|---|---|---|---|")
        for load, do in settings(kind):
            sel = sel_f(kind, load, do)
            L.append(f"| {label(load, do)} | "
                     f"{fmt(med([r['qps'] for r in sel('vnetdns-validate')]))} | "
                     f"{fmt(med([r['qps'] for r in sel('unbound-validate')]))} | "
                     f"{fr(ratio_t(runs, sel, 'vnetdns-validate', 'unbound-validate'))} | "
                     f"{fmt(med([r['qps'] for r in sel('vnetdns-off')]))} | "
                     f"{fr(ratio_t(runs, sel, 'vnetdns-validate', 'vnetdns-off'))} | "
                     f"{fmt(med([r['qps'] for r in sel('vnetdns-validate-pool')]))} | "
                     f"{fr(ratio_t(runs, sel, 'vnetdns-validate-pool', 'unbound-validate'))} |")
        L.append("")
        L.append("CPU per miss (µs of the server's CPU per answered query, user+system; capacity "
                 "ratio: unbound's µs/q over vnetdns-validate's, the q/s ratio when the server's "
                 "core is the bottleneck, steadier on a shared machine; server busy: its CPU "
                 "over the run's wall time, 1.00 = its core saturated; page faults /q: the "
                 "server's minor page faults per answered query; upstream µs/q: the "
                 "non-validating Unbound's CPU per answered query; knotd CPU s: knotd's CPU "
                 "over all the runs of the row, ~0 when the upstream answered from its cache):\n")
        L.append("| setting | server | q/s | µs/q | user | sys | page faults /q | server busy | "
                 "upstream µs/q | knotd CPU s | lost | RCODEs (all runs) |")
        L.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for load, do in settings(kind):
            sel = sel_f(kind, load, do)
            for s in SERVERS:
                rs = sel(s)
                if not rs:
                    continue
                rc = {}
                for r in rs:
                    for k, v in r["rcodes"].items():
                        rc[k] = rc.get(k, 0) + v
                L.append(f"| {label(load, do)} | {s} | {fmt(med([r['qps'] for r in rs]))} | "
                         f"{fmt(med([r['us_per_q'] for r in rs]), 2)} | "
                         f"{med([r['user_us_per_q'] for r in rs])[0]:.2f} | "
                         f"{med([r['sys_us_per_q'] for r in rs])[0]:.2f} | "
                         f"{med([r['minflt_per_q'] for r in rs])[0]:.2f} | "
                         f"{med([r['server_busy'] for r in rs])[0]:.2f} | "
                         f"{med([r['upstream_us_per_q'] for r in rs])[0]:.2f} | "
                         f"{sum(r['knot_cpu_s'] for r in rs):.2f} | "
                         f"{fmt(med([r['lost'] for r in rs]))} | "
                         + ", ".join(f"{k} {v:,}" for k, v in rc.items()) + " |")
            cap = ratio_t(runs, sel, "vnetdns-validate", "unbound-validate", "us_per_q", True)
            L.append(f"| {label(load, do)} | capacity ratio validate/unbound | | {fr(cap)}"
                     " | | | | | | | | |")
            if sel("vnetdns-validate-pool"):
                cap = ratio_t(runs, sel, "vnetdns-validate-pool", "unbound-validate", "us_per_q",
                              True)
                L.append(f"| {label(load, do)} | capacity ratio validate-pool/unbound | | "
                         f"{fr(cap)} | | | | | | | | |")
        L.append("")

    if any(r["kind"] == "hit" for r in runs):
        L.append(f"## Cache hits: validate mode vs off (same binary; hot set of {HOT} names, "
                 f"dnsperf -c {HIT_CLIENTS} -q {HIT_OUTSTANDING} for {meta['duration']} s)\n")
        L.append("q/s ratio: validate / off (the target's measure); µs/q: the server's CPU per "
                 "answered query; CPU capacity: off's µs/q over validate's (what the q/s ratio "
                 "would be with the server's core saturated); server busy: the server's CPU "
                 "over the run's wall time. With busy well under 1.00, the single dnsperf "
                 "thread on CPU 1 is the limit, and the q/s ratio mostly measures dnsperf's "
                 "run-to-run noise, not the server.\n")
        L.append("| DO | vnetdns-validate q/s | vnetdns-off q/s | validate/off (target ≥ 0.90) | "
                 "µs/q validate | µs/q off | CPU capacity validate/off | server busy validate, "
                 "off | unbound-validate q/s (context) |")
        L.append("|---|---|---|---|---|---|---|---|---|")
        for load, do in settings("hit"):
            sel = sel_f("hit", load, do)
            L.append(f"| {do} | {fmt(med([r['qps'] for r in sel('vnetdns-validate')]))} | "
                     f"{fmt(med([r['qps'] for r in sel('vnetdns-off')]))} | "
                     f"{fr(ratio_t(runs, sel, 'vnetdns-validate', 'vnetdns-off'))} | "
                     f"{fmt(med([r['us_per_q'] for r in sel('vnetdns-validate')]), 2)} | "
                     f"{fmt(med([r['us_per_q'] for r in sel('vnetdns-off')]), 2)} | "
                     f"{fr(ratio_t(runs, sel, 'vnetdns-validate', 'vnetdns-off', 'us_per_q', 1))}"
                     " | "
                     f"{med([r['server_busy'] for r in sel('vnetdns-validate')])[0] or 0:.2f}, "
                     f"{med([r['server_busy'] for r in sel('vnetdns-off')])[0] or 0:.2f} | "
                     f"{fmt(med([r['qps'] for r in sel('unbound-validate')]))} |")
        L.append("")

    L.append("## Targets (the issue's; measured, not tuned)\n")
    L.append("| target | setting | measured (median ratio, per-round range) | met |")
    L.append("|---|---|---|---|")
    for srv in VALIDATE:
        for load, do in settings("miss"):
            t = ratio_t(runs, sel_f("miss", load, do), srv, "unbound-validate")
            if t[0] is None and srv in MISS_ONLY:
                continue
            L.append(f"| misses: {srv} ≥ {TARGET_MISS}× unbound-validate q/s | "
                     f"{label(load, do)} | {fr(t)} | "
                     f"{'n/a' if t[0] is None else ('yes' if t[0] >= TARGET_MISS else 'NO')} |")
    for load, do in settings("hit"):
        t = ratio_t(runs, sel_f("hit", load, do), "vnetdns-validate", "vnetdns-off")
        L.append(f"| hits: validate within 10% of off (≥ {TARGET_HIT}) | DO={do} | {fr(t)} | "
                 f"{'n/a' if t[0] is None else ('yes' if t[0] >= TARGET_HIT else 'NO')} |")
    L.append("")

    L.append("## Correctness during the run\n")
    val = [r for r in runs if r["server"] in VALIDATE]
    L.append(f"- vnetdns-validate(-pool): {sum(r['before_checked'] for r in val)} fresh misses and "
             f"{sum(r['after_checked'] for r in val)} names of the runs asked with DO=1: every one "
             f"NOERROR with AD=1 (otherwise the run would have aborted).")
    sums = {}
    for r in val:
        for k, v in r.get("metrics", {}).items():
            sums.setdefault(r["kind"], {}).setdefault(k, 0.0)
            sums[r["kind"]][k] += v
    for kind, m in sums.items():
        nz = {k: int(v) for k, v in m.items() if v}
        L.append(f"- vnetdns-validate counters over the {kind} runs' loads (sum of the runs): "
                 + (", ".join(f"{k} {v:,}" for k, v in sorted(nz.items())) or "none"))
    ub = [r for r in runs if r["server"] == "unbound-validate"]
    L.append(f"- unbound-validate: {sum(r['before_checked'] + r['after_checked'] for r in ub)} "
             "checked answers, every one NOERROR with AD=1.")
    L.append("- oddities (non-NOERROR RCODEs, lost queries): "
             + ("; ".join(odd) if odd else "none") + "\n")

    L.append("## Every run\n")
    L.append("UTC time; load average at the run's start; others: CPU used during the run by "
             "processes not ours, in cores of 2 (a run above "
             f"{meta['noisy']} was tried again, at most {meta['retries']} time(s), the quietest "
             "try kept; tries in parentheses; retries left out to stay within --max-seconds: "
             f"{meta.get('retries_skipped', 0)}).\n")
    L.append("| round | kind | load | DO | server | time | loadavg | others | q/s | µs/q | "
             "server busy | answered | lost | RCODEs |")
    L.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in runs:
        extra = ""
        if len(r.get("tries", [])) > 1:
            extra = " (" + ", ".join(f"{t['time']}: {t['qps']:,.0f}, others "
                                     f"{t['others_cores']:.2f}" for t in r["tries"]) + ")"
        L.append(f"| {r['round']} | {r['kind']} | {r['load']} | {r['do']} | {r['server']} | "
                 f"{r['time']}{extra} | {r['loadavg']:.2f} | {r['others_cores']:.2f} | "
                 f"{r['qps']:,.0f} | {r['us_per_q']:.2f} | {r['server_busy']:.2f} | "
                 f"{r['answered']:,.0f} | {r['lost']:,.0f} | "
                 + ", ".join(f"{k} {v:,}" for k, v in r["rcodes"].items()) + " |")
    L.append("")
    if failures:
        L.append("## Failures\n")
        L += [f"- {f}" for f in failures]
        L.append("")
    return "\n".join(L)


# ================================================================ main

def git(*args):
    r = subprocess.run(["git", "-C", ROOT, *args], capture_output=True, text=True, timeout=20)
    return r.stdout.strip()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", required=True, help="vnetdns (a Release build, no sanitizers)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--names", type=int, default=200000, help="miss names in bench.vnet.")
    ap.add_argument("--alg", default=BENCH_ALGS[0], choices=BENCH_ALGS,
                    help="bench.vnet.'s algorithm (RSA signs slowly: use fewer --names)")
    ap.add_argument("--per-run", type=int, default=40000,
                    help="miss names asked (once each) in each miss run: a slice of the "
                         "--names, the next slice each round")
    ap.add_argument("--wild-names", type=int, default=5000,
                    help="wildcard names w<N>.wild.vnet. (0: no wildcard row)")
    ap.add_argument("--wild-loads", default="c8", help="load settings of the wildcard row")
    ap.add_argument("--miss-loads", default=",".join(MISS_LOADS))
    ap.add_argument("--duration", type=float, default=5.0, help="seconds per hit run")
    ap.add_argument("--no-hits", action="store_true")
    ap.add_argument("--servers", default=",".join(SERVERS))
    ap.add_argument("--miss-cap", type=float, default=40.0,
                    help="seconds a miss run may take at most (dnsperf -l)")
    ap.add_argument("--noisy", type=float, default=0.3,
                    help="a run during which processes not ours used more CPU (cores) is "
                         "tried again (0: never)")
    ap.add_argument("--retries", type=int, default=1)
    ap.add_argument("--nice", type=int, default=-10)
    ap.add_argument("--max-seconds", type=float, default=900.0,
                    help="no round starts after this many seconds from the start")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", action="store_true", help="keep the work dir (zones, logs)")
    ap.add_argument("--out", help="default: tests/bench/results/dnssec-<short hash>.md")
    a = ap.parse_args()
    for x in a.miss_loads.split(",") + a.wild_loads.split(","):
        if x and x not in MISS_LOADS:
            ap.error(f"load {x} is not one of {', '.join(MISS_LOADS)}")
    servers = [s for s in a.servers.split(",") if s]
    for s in servers:
        if s not in ADDR:
            ap.error(f"--servers: {s} is not one of {', '.join(ADDR)}")
    binary = os.path.abspath(a.binary)
    if not os.access(binary, os.X_OK):
        ap.error(f"no vnetdns binary at {binary}")

    def on_term(signum, _frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)

    t_start = time.monotonic()
    head = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    suffix = "" if a.alg == BENCH_ALGS[0] else f"-{a.alg.lower()}"
    out = a.out or os.path.join(HERE, "results", f"dnssec{suffix}-{head}.md")
    meta = {"date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
            "nproc": os.cpu_count(), "kernel": platform.release(),
            "cpu": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                         if l.startswith("model name")), "?"),
            "mem_gib": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30,
            "loadavg": open("/proc/loadavg").read().split()[0], "nice": a.nice,
            "rounds": a.rounds, "names": a.names, "alg": a.alg, "wild_names": a.wild_names,
            "per_run": min(a.per_run, a.names),
            "duration": a.duration, "noisy": a.noisy, "retries": a.retries,
            "vnetdns_rev": os.environ.get("VNETDNS_REV", f"prebuilt {a.binary}"),
            "git_head": head, "git_dirty": dirty, "binary": binary,
            "command": "dnssec_bench.py " + " ".join(sys.argv[1:]), "versions": versions()}
    workdir = tempfile.mkdtemp(prefix="vnetdns-dnssec-bench.")
    log(f"work dir {workdir}")
    rng = random.Random(a.seed)
    runs, failures, odd = [], [], []
    ctx = None
    ok = False
    try:
        with contextlib.ExitStack() as stack:
            per_run = min(a.per_run, a.names)
            checks, wild, hot, files, slices = write_queries(workdir, a.names, a.wild_names,
                                                             per_run, a.rounds)
            t0 = time.monotonic()
            sh = BenchHierarchy(workdir, a.names, a.alg)
            stack.callback(sh.stop)
            sh.start(deadline_s=180.0)
            sh.timings["hierarchy_s"] = time.monotonic() - t0
            for child in (sh.knotd, sh.unbound):  # the upstream side: CPU 1, like bench.py's
                b.pin_threads(child, LOAD_CPU)
                renice_all(child.pid, a.nice)
            log(f"hierarchy up in {sh.timings['hierarchy_s']:.1f} s: knotd {sh.knot_addr}:"
                f"{sh.knot_port}, upstream Unbound {sh.unbound_addr}:{sh.unbound_port}")
            ports = {s: h.free_port((ADDR[s],)) for s in SERVERS}
            admin_ports = {s: h.free_port((ADDR[s],)) for s in VNETDNS}
            for s in VNETDNS:
                while admin_ports[s] == ports[s]:
                    admin_ports[s] = h.free_port((ADDR[s],))
            ctx = {"sh": sh, "binary": binary, "workdir": workdir, "nice": a.nice,
                   "ports": ports, "admin_ports": admin_ports, "rng": rng,
                   "check_names": checks, "q_round": slices, "wild_names": wild,
                   "hot_names": hot, "q_wild": files["wild"],
                   "q_hot": files["hot"], "duration": a.duration, "miss_cap": a.miss_cap,
                   "noisy": a.noisy, "retries": a.retries, "rounds": a.rounds,
                   "commands": {}, "logs": {}, "odd": odd, "configs": {},
                   "deadline": t_start + a.max_seconds}
            upstream_warm = warm_upstream(ctx, files)
            meta["setup_s"] = time.monotonic() - t_start
            miss_loads = [x for x in a.miss_loads.split(",") if x]
            wild_loads = [x for x in a.wild_loads.split(",") if x] if a.wild_names else []
            rounds_done, last_round_s = 0, 0.0
            full = len([s for s in servers if s not in MISS_ONLY])
            ctx["planned_runs"] = a.rounds * (len(servers) * 2 * len(miss_loads) + full * (
                len(wild_loads) + (0 if a.no_hits else 2)))
            ctx["runs_done"], ctx["retries_skipped"] = 0, 0
            ctx["t_rounds"] = time.monotonic()
            for rnd in range(1, a.rounds + 1):
                # a round starts only if one more as long as the last fits in --max-seconds
                if time.monotonic() + last_round_s > ctx["deadline"]:
                    failures.append(f"--max-seconds {a.max_seconds:.0f} would be passed: rounds "
                                    f"{rnd}..{a.rounds} not run")
                    break
                t_round = time.monotonic()
                k = (rnd - 1) % len(servers)
                order = servers[k:] + servers[:k]
                loads = miss_loads if rnd % 2 else miss_loads[::-1]
                dos = (True, False) if rnd % 2 else (False, True)
                for load in loads:
                    for do in dos:
                        for s in order:
                            runs.append(run_with_retries(ctx, "miss", s, load, do, rnd))
                for load in wild_loads:
                    for s in order:
                        if s in MISS_ONLY:
                            continue
                        runs.append(run_with_retries(ctx, "wild", s, load, True, rnd))
                if not a.no_hits:
                    for do in dos:
                        for s in order:
                            if s in MISS_ONLY:
                                continue
                            runs.append(run_with_retries(ctx, "hit", s, "hit", do, rnd))
                rounds_done = rnd
                last_round_s = time.monotonic() - t_round
                log(f"round {rnd} took {last_round_s:.0f} s")
                if not (sh.unbound.alive() and sh.knotd.alive()):
                    raise RuntimeError("the upstream side died:\n" + sh.unbound.tail()
                                       + sh.knotd.tail())
            meta["rounds_done"] = rounds_done
            meta["retries_skipped"] = ctx["retries_skipped"]
            meta["commands"] = ctx["commands"]
            meta["timings"] = sh.timings
            meta["configs"] = ctx["configs"]
            meta["zones"] = [z for z, _ in sh.zones]
            ok = True
    except CheckFailed as e:
        log(f"ABORTED: a validating server gave a wrong answer, the numbers would be "
            f"meaningless:\n{e}")
        log(f"logs kept in {workdir}")
        return 2
    finally:
        if not ok and ctx is not None:
            log(f"server logs: {ctx['logs']}")
    meta["run_s"] = time.monotonic() - t_start
    text = report(meta, runs, upstream_warm, odd, failures)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        f.write(text + "\n")
    with open(os.path.splitext(out)[0] + ".json", "w") as f:
        json.dump({"meta": meta, "upstream_warm": upstream_warm, "runs": runs, "odd": odd,
                   "failures": failures}, f, indent=1, default=str)
    print(text)
    log(f"wrote {out} (and .json) in {meta['run_s'] / 60:.1f} min")
    if a.keep:
        log(f"work dir kept: {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
