#!/usr/bin/python3
"""Upstream stress (issue 16): vnetdns, Unbound and dnsdist, each a plain forwarder of "." with
its DEFAULT timeouts and retries, in front of an upstream that is slow, goes away, or is one
of two servers of which the first is dead.

    vnb-<tag>-fwd namespace                                    vnb-<tag>-up namespace
      lo: 198.18.2.1 vnetdns, 198.18.2.2 unbound,
          198.18.2.3 dnsdist, the querying client
      fa 198.18.0.1/24  <==== veth link A ====>  ua 198.18.0.2/24   the upstream (healthy)
      fb 198.18.1.1/24  <==== veth link B ====>  ub 198.18.1.2/24   the same upstream (the
                                                                     "dead first" one in (c))

No default route anywhere, permanent neighbour entries on both links (so a dead upstream
never turns into ARP failures, host-unreachable errors, on the forwarder's side). The upstream
is this script's own responder (`_upstream` below, dnspython, UDP and TCP on port 53 of both
addresses): every A query gets `192.0.2.1` (TTL 300), "." SOA/NS their records, anything else
NODATA with the SOA; it logs every query (time on CLOCK_MONOTONIC, local address, name, type),
which is how the tables count what each server sent upstream.

Faults, both on the upstream's side, so each forwarder sees the same thing: its queries arrive
(and are logged) and the replies are late or never come back:
  * latency L: every reply leaves the upstream L seconds late (the round trip grows by L).
    With `tc netem` available: `netem delay L` on `ua` (egress of the up namespace: replies
    only). Without netem (this kernel: CONFIG_NET_SCH_NETEM is not set) the responder holds
    each reply for L seconds itself (`--fault-mode responder`, chosen automatically).
  * outage / dead upstream: every reply to the fwd namespace is discarded: `netem loss 100%`
    on `ua`/`ub`, or without netem a blackhole route in the up namespace for the fwd side's
    addresses (198.18.0.0/24 resp. 198.18.1.0/24 as two /25s); sendto() there fails, the
    forwarder sees silence.

Phases (every server started fresh for each step, all three side by side, each answered once
through the upstream before the fault is set, so each has measured the upstream as fast):
  (a) latency 0, 0.5, 1, 1.5, 2 s: N distinct uncached names per server, `--concurrency` in
      flight per server, each query waits up to 10 s: NOERROR / SERVFAIL / unanswered, median
      time to answer.
  (b) outages of 10 s and 60 s: one fresh name every 100 ms per server; replies blocked after
      3 s, for D s; seconds from the upstream's return to the first NOERROR answer (any query)
      and to the first NOERROR for a query sent after the return.
  (c) upstreams [dead (198.18.1.2), healthy (198.18.0.2)]: both healthy at start (readiness),
      then the first dies (replies dropped) and 10 s of one fresh name every 100 ms per server:
      questions per second that took > 200 ms (or were never answered).

Process rules: every server is a child (`ip netns exec NS nice -n -5 server` execs in place:
the PID is the server's), stopped by that PID only (SIGTERM, bounded wait, SIGKILL) and
reaped; readiness is polled with a query and a deadline; each phase and the whole run are
bounded (`--max-seconds`); the namespaces are deleted at the end, also on failure (finally +
atexit). Packets go only to loopback or to 198.18.0.0/15 inside the namespaces created here.

Run: tests/bench/run.sh --upstream-stress   (or /usr/bin/python3 tests/bench/upstream_stress.py
--binary build-bench/vnetdns). Writes tests/bench/results/upstream-stress.md and .json.
"""
import argparse
import atexit
import ctypes
import datetime
import heapq
import ipaddress
import json
import os
import re
import secrets
import selectors
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
IP = shutil.which("ip") or "/usr/sbin/ip"
TC = shutil.which("tc") or "/usr/sbin/tc"
PY = "/usr/bin/python3"  # Debian's: dnspython is installed for it

BENCH_NET = ipaddress.ip_network("198.18.0.0/15")  # RFC 2544 benchmarking range
LOOP_NET = ipaddress.ip_network("127.0.0.0/8")
FWD_A, UP_A = "198.18.0.1", "198.18.0.2"  # link A: the healthy upstream
FWD_B, UP_B = "198.18.1.1", "198.18.1.2"  # link B: the "dead first" upstream of (c)
LINKS = {"a": ("fa", "ua", FWD_A, UP_A, "198.18.0"), "b": ("fb", "ub", FWD_B, UP_B, "198.18.1")}
SERVER_ADDR = {"vnetdns": "198.18.2.1", "unbound": "198.18.2.2", "dnsdist": "198.18.2.3"}
ADMIN = "127.0.0.1:9153"  # vnetdns metrics, on the fwd namespace's own loopback
ZONE = "bench.test."
ANSWER_A = "192.0.2.1"
SERVERS = ["vnetdns", "unbound", "dnsdist"]
SLOW_S = 0.200  # (c): a question that took longer paid a timeout
NICE = "-5"     # the machine is shared with builds: servers, upstream and client at nice -5


def log(*a):
    print(f"[{time.strftime('%H:%M:%S')}]", *a, file=sys.stderr, flush=True)


def check_addr(addr):
    """Only loopback and the benchmarking range inside our namespaces may ever be named."""
    a = ipaddress.ip_address(addr)
    if a not in BENCH_NET and a not in LOOP_NET:
        raise SystemExit(f"refusing address {addr}: outside 127.0.0.0/8 and {BENCH_NET}")
    return addr


for _a in [FWD_A, UP_A, FWD_B, UP_B, *SERVER_ADDR.values(), ADMIN.split(":")[0]]:
    check_addr(_a)


def die_with_parent():
    """preexec_fn: the child gets SIGTERM if this script dies (prctl PR_SET_PDEATHSIG)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except Exception:
        pass


def sh(argv, timeout=20.0, check=True):
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({r.returncode}): {r.stdout}{r.stderr}")
    return r


# =============================================================================== upstream
# `upstream_stress.py _upstream --listen A,B --log FILE`: runs inside the up namespace.
# Control on stdin, one command a line, each acknowledged on stdout with "ok ...":
#   delay SECONDS   hold every later reply this long (the fallback for netem delay)
#   sync            flush the query log

def upstream_main(argv):
    import dns.flags
    import dns.message
    import dns.name
    import dns.rcode
    import dns.rdataclass
    import dns.rdatatype
    import dns.rrset

    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", required=True)
    ap.add_argument("--log", required=True)
    a = ap.parse_args(argv)
    addrs = [check_addr(x) for x in a.listen.split(",")]
    qlog = open(a.log, "a", buffering=1 << 16)
    sel = selectors.DefaultSelector()
    for addr in addrs:
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        u.bind((addr, 53))
        u.setblocking(False)
        sel.register(u, selectors.EVENT_READ, ("udp", addr))
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        t.bind((addr, 53))
        t.listen(64)
        t.setblocking(False)
        sel.register(t, selectors.EVENT_READ, ("listen", addr))
    sel.register(sys.stdin, selectors.EVENT_READ, ("ctl", None))
    root = dns.name.root
    soa = dns.rrset.from_text(root, 300, "IN", "SOA",
                              "ns.bench-root. hostmaster.bench-root. 1 3600 600 86400 300")
    ns = dns.rrset.from_text(root, 300, "IN", "NS", "ns.bench-root.")
    delay = 0.0
    due = []  # heap of (time, seq, kind, sock, payload, peer)
    seq = 0
    tcp_buf = {}
    print("ready", flush=True)

    def answer(data):
        q = dns.message.from_wire(data)
        if q.flags & dns.flags.QR or len(q.question) != 1:
            return None, None, None
        question = q.question[0]
        r = dns.message.make_response(q)
        r.flags |= dns.flags.AA
        name, rdtype = question.name, question.rdtype
        if rdtype == dns.rdatatype.A and name != root:
            r.answer.append(dns.rrset.from_text(name, 300, "IN", "A", ANSWER_A))
        elif name == root and rdtype == dns.rdatatype.SOA:
            r.answer.append(soa)
        elif name == root and rdtype == dns.rdatatype.NS:
            r.answer.append(ns)
        else:
            r.authority.append(soa)
        return r.to_wire(), name.to_text().lower(), dns.rdatatype.to_text(rdtype)

    def schedule(kind, sock, payload, peer):
        nonlocal seq
        seq += 1
        heapq.heappush(due, (time.monotonic() + delay, seq, kind, sock, payload, peer))

    while True:
        timeout = max(0.0, due[0][0] - time.monotonic()) if due else 1.0
        for key, _ in sel.select(timeout):
            kind, addr = key.data
            if kind == "ctl":
                line = sys.stdin.readline()
                if not line:
                    return 0
                cmd = line.split()
                if cmd and cmd[0] == "delay":
                    delay = float(cmd[1])
                elif cmd and cmd[0] == "sync":
                    qlog.flush()
                print("ok " + line.strip(), flush=True)
            elif kind == "udp":
                while True:
                    try:
                        data, peer = key.fileobj.recvfrom(4096)
                    except BlockingIOError:
                        break
                    now = time.monotonic()
                    try:
                        wire, qn, qt = answer(data)
                    except Exception:
                        qlog.write(f"{now:.6f} udp {addr} {peer[0]}:{peer[1]} ? ?\n")
                        continue
                    qlog.write(f"{now:.6f} udp {addr} {peer[0]}:{peer[1]} {qn} {qt}\n")
                    if wire is not None:
                        schedule("udp", key.fileobj, wire, peer)
            elif kind == "listen":
                try:
                    c, peer = key.fileobj.accept()
                except BlockingIOError:
                    continue
                c.setblocking(False)
                tcp_buf[c] = b""
                qlog.write(f"{time.monotonic():.6f} tcpconn {addr} {peer[0]}:{peer[1]} - -\n")
                sel.register(c, selectors.EVENT_READ, ("tcp", addr))
            elif kind == "tcp":
                c = key.fileobj
                try:
                    chunk = c.recv(65536)
                except BlockingIOError:
                    continue
                except ConnectionError:
                    chunk = b""
                if not chunk:
                    sel.unregister(c)
                    tcp_buf.pop(c, None)
                    c.close()
                    continue
                buf = tcp_buf[c] + chunk
                while len(buf) >= 2 and len(buf) >= 2 + struct.unpack("!H", buf[:2])[0]:
                    n = struct.unpack("!H", buf[:2])[0]
                    msg, buf = buf[2:2 + n], buf[2 + n:]
                    now = time.monotonic()
                    try:
                        wire, qn, qt = answer(msg)
                    except Exception:
                        continue
                    qlog.write(f"{now:.6f} tcp {addr} - {qn} {qt}\n")
                    if wire is not None:
                        schedule("tcp", c, struct.pack("!H", len(wire)) + wire, None)
                tcp_buf[c] = buf
        now = time.monotonic()
        while due and due[0][0] <= now:
            _, _, kind, sock, payload, peer = heapq.heappop(due)
            try:
                if kind == "udp":
                    sock.sendto(payload, peer)
                elif sock.fileno() >= 0:
                    sock.sendall(payload)
            except OSError as e:  # a blackhole route answers EINVAL: the reply is discarded
                qlog.write(f"{now:.6f} dropped {kind} {peer[0] if peer else '-'} "
                           f"{e.errno}\n")


# =============================================================================== client
# `upstream_stress.py _client SPEC.json`: runs inside the fwd namespace; JSON on stdout.
# One UDP socket per query (its own port), no retries: each query waits up to `timeout`.
# burst:  {"mode": "burst", "targets": {srv: addr}, "names": {srv: [...]}, "concurrency": k}
# stream: {"mode": "stream", "targets": ..., "prefix": {srv: p}, "interval": s,
#          "duration": s (fixed) | null (stdin: "up T" = the upstream is back at monotonic T;
#          the stream then runs until every server has a NOERROR for a query sent after T,
#          or "post_cap" seconds)}

def client_main(argv):
    import dns.message
    import dns.rcode
    import dns.rdatatype

    spec = json.load(open(argv[0]))
    targets = {s: check_addr(a) for s, a in spec["targets"].items()}
    timeout = float(spec.get("timeout", 10.0))
    sel = selectors.DefaultSelector()
    records = []
    inflight = {s: 0 for s in targets}

    def send(srv, name):
        q = dns.message.make_query(name, "A", use_edns=0, payload=1232)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setblocking(False)
        s.connect((targets[srv], 53))
        rec = {"srv": srv, "name": name, "t0": time.monotonic(), "t1": None, "out": None,
               "id": q.id, "q": q}
        s.send(q.to_wire())
        sel.register(s, selectors.EVENT_READ, rec)
        inflight[srv] += 1
        return rec

    def finish(s, rec, out, t1=None):
        rec["out"], rec["t1"] = out, t1
        del rec["q"]
        sel.unregister(s)
        s.close()
        inflight[rec["srv"]] -= 1
        records.append(rec)

    def poll(wait):
        for key, _ in sel.select(wait):
            if key.data == "ctl":
                continue
            s, rec = key.fileobj, key.data
            try:
                data = s.recv(4096)
            except ConnectionRefusedError:
                finish(s, rec, "refused", time.monotonic())
                continue
            except BlockingIOError:
                continue
            t1 = time.monotonic()
            try:
                m = dns.message.from_wire(data)
            except Exception:
                continue
            if m.id != rec["id"] or not rec["q"].is_response(m):
                continue
            rc = dns.rcode.to_text(m.rcode())
            if rc == "NOERROR":
                ok = any(rr.rdtype == dns.rdatatype.A for rr in m.answer)
                rc = "NOERROR" if ok else "NODATA"
            finish(s, rec, rc, t1)
        now = time.monotonic()
        for key in list(sel.get_map().values()):
            if key.data == "ctl":
                continue
            if now - key.data["t0"] >= timeout:
                finish(key.fileobj, key.data, "timeout")

    out = {"start": time.monotonic()}
    if spec["mode"] == "burst":
        queues = {s: list(spec["names"][s]) for s in targets}
        k = int(spec["concurrency"])
        while any(queues.values()) or any(inflight.values()):
            for s in targets:
                while queues[s] and inflight[s] < k:
                    send(s, queues[s].pop(0))
            poll(0.05)
    else:
        interval = float(spec["interval"])
        duration = spec.get("duration")
        post_cap = float(spec.get("post_cap", 30.0))
        t_up = None
        recovered = {}
        if duration is None:
            os.set_blocking(sys.stdin.fileno(), True)
            sel.register(sys.stdin, selectors.EVENT_READ, "ctl")
        start = time.monotonic()
        nxt, i = start, 0
        sending = True
        while sending or any(inflight.values()):
            now = time.monotonic()
            if sending and now >= nxt:
                for s in targets:
                    send(s, f"{spec['prefix'][s]}{i}.{s}.{ZONE}")
                i += 1
                nxt += interval
            wait = max(0.0, min(nxt - time.monotonic(), 0.05)) if sending else 0.05
            if duration is None:
                ready = [k for k, _ in sel.select(0)]
                if any(k.data == "ctl" for k in ready):
                    line = sys.stdin.readline()
                    if not line:
                        sending = False
                    elif line.startswith("up "):
                        t_up = float(line.split()[1])
                        out["t_up"] = t_up
                    sel.unregister(sys.stdin)
            poll(wait)
            now = time.monotonic()
            if duration is not None and now - start >= float(duration):
                sending = False
            if t_up is not None and sending:
                for r in records:
                    if r["out"] == "NOERROR" and r["t0"] >= t_up:
                        recovered.setdefault(r["srv"], r["t1"])
                if len(recovered) == len(targets) or now - t_up >= post_cap:
                    sending = False  # what is in flight runs to its answer or its timeout
                    try:
                        sel.unregister(sys.stdin)
                    except (KeyError, ValueError):
                        pass
    out["records"] = [[r["srv"], r["name"], r["t0"], r["t1"], r["out"]] for r in records]
    json.dump(out, sys.stdout)
    return 0


def metrics_main(argv):
    import urllib.request
    host = check_addr(argv[0].split(":")[0])
    with urllib.request.urlopen(f"http://{host}:{argv[0].split(':')[1]}/metrics",
                                timeout=5) as r:
        text = r.read().decode()
    keep = ("vnetdns_upstream_", "vnetdns_forward", "vnetdns_responses_total",
            "vnetdns_answers_total")
    print("\n".join(l for l in text.splitlines()
                    if l.startswith(keep) and "_bucket{" not in l))
    return 0


# =============================================================================== the lab

class Child:
    """A server started by us: SIGTERM to its own PID, bounded wait, SIGKILL, always reaped."""

    def __init__(self, name, argv, log_path, stdin=subprocess.DEVNULL, stdout=None):
        self.name = name
        self.log_path = log_path
        self.logf = open(log_path, "ab")
        self.p = subprocess.Popen(argv, stdin=stdin, stdout=stdout or self.logf,
                                  stderr=self.logf, preexec_fn=die_with_parent)
        self.pid = self.p.pid

    def alive(self):
        return self.p.poll() is None

    def stop(self, timeout=10.0):
        if self.p.returncode is None and self.p.poll() is None:
            try:
                self.p.send_signal(signal.SIGTERM)
                self.p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(timeout=10)
        for f in (self.p.stdin, self.p.stdout):
            try:
                if f:
                    f.close()
            except OSError:
                pass
        self.logf.close()
        return self.p.returncode

    def tail(self, n=20):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""


class Lab:
    def __init__(self, workdir, fault_mode):
        tag = secrets.token_hex(3)
        self.fwd, self.up = f"vnb-{tag}-fwd", f"vnb-{tag}-up"
        self.workdir = workdir
        self.created = []
        self.children = []
        self.fault_mode = fault_mode
        self.upstream = None
        self.qlog = os.path.join(workdir, "upstream-queries.log")
        self.blocked = set()

    def ns_exec(self, ns, argv, nice=True):
        return [IP, "netns", "exec", ns] + (["nice", "-n", NICE] if nice else []) + argv

    # ---- namespaces
    def create(self):
        for ns in (self.fwd, self.up):
            sh([IP, "netns", "add", ns])
            self.created.append(ns)
            sh([IP, "-n", ns, "link", "set", "lo", "up"])
        for f, u, fa, ua, _ in LINKS.values():
            sh([IP, "-n", self.fwd, "link", "add", f, "type", "veth", "peer", "name", u,
                "netns", self.up])
            sh([IP, "-n", self.fwd, "addr", "add", f"{fa}/24", "dev", f])
            sh([IP, "-n", self.up, "addr", "add", f"{ua}/24", "dev", u])
            sh([IP, "-n", self.fwd, "link", "set", f, "up"])
            sh([IP, "-n", self.up, "link", "set", u, "up"])
            # permanent neighbours: a dead upstream stays silent, never an ARP failure
            mac_f = self.mac(self.fwd, f)
            mac_u = self.mac(self.up, u)
            sh([IP, "-n", self.fwd, "neigh", "replace", ua, "lladdr", mac_u, "dev", f,
                "nud", "permanent"])
            sh([IP, "-n", self.up, "neigh", "replace", fa, "lladdr", mac_f, "dev", u,
                "nud", "permanent"])
        for addr in SERVER_ADDR.values():
            sh([IP, "-n", self.fwd, "addr", "add", f"{addr}/32", "dev", "lo"])
        for ns in (self.fwd, self.up):
            routes = sh([IP, "-n", ns, "-4", "route", "show", "table", "all"]).stdout
            routes += sh([IP, "-n", ns, "-6", "route", "show", "table", "all"]).stdout
            if "default" in routes:
                raise RuntimeError(f"{ns} has a default route:\n{routes}")
            for m in re.finditer(r"\b(\d+\.\d+\.\d+\.\d+)", routes):
                if not m.group(1).startswith(("0.", "255.")):
                    check_addr(m.group(1))

    def mac(self, ns, dev):
        out = sh([IP, "-n", ns, "-o", "link", "show", dev]).stdout
        return re.search(r"link/ether ([0-9a-f:]{17})", out).group(1)

    def netem_available(self):
        r = sh([IP, "netns", "exec", self.up, TC, "qdisc", "replace", "dev", "ua", "root",
                "netem", "delay", "0ms"], check=False)
        if r.returncode != 0:
            return False, (r.stderr or r.stdout).strip()
        sh([IP, "netns", "exec", self.up, TC, "qdisc", "del", "dev", "ua", "root"], check=False)
        return True, ""

    # ---- faults, all on the upstream's side (replies only)
    def set_delay(self, seconds):
        if self.fault_mode == "netem":
            if seconds > 0:
                sh([IP, "netns", "exec", self.up, TC, "qdisc", "replace", "dev", "ua", "root",
                    "netem", "delay", f"{int(seconds * 1000)}ms", "limit", "100000"])
            else:
                sh([IP, "netns", "exec", self.up, TC, "qdisc", "del", "dev", "ua", "root"],
                   check=False)
        else:
            self.upstream_cmd(f"delay {seconds}")

    def set_blocked(self, link, on):
        f, u, fa, ua, prefix = LINKS[link]
        if self.fault_mode == "netem":
            if on:
                sh([IP, "netns", "exec", self.up, TC, "qdisc", "replace", "dev", u, "root",
                    "netem", "loss", "100%"])
            else:
                sh([IP, "netns", "exec", self.up, TC, "qdisc", "del", "dev", u, "root"],
                   check=False)
        else:
            for half in (f"{prefix}.0/25", f"{prefix}.128/25"):
                sh([IP, "-n", self.up, "route", "add" if on else "del", "blackhole", half],
                   check=on)
        if on:
            self.blocked.add(link)
        else:
            self.blocked.discard(link)

    # ---- upstream
    def start_upstream(self):
        argv = self.ns_exec(self.up, [PY, os.path.abspath(__file__), "_upstream", "--listen",
                                      f"{UP_A},{UP_B}", "--log", self.qlog])
        self.upstream = Child("upstream", argv, os.path.join(self.workdir, "upstream.log"),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.children.append(self.upstream)
        line = self._read_line(self.upstream, 15.0)
        if line != "ready":
            raise RuntimeError(f"upstream did not start: {line!r}\n{self.upstream.tail()}")
        for addr in (UP_A, UP_B):
            self.wait_answer(addr, f"ready-upstream.{ZONE}", 15.0)

    def _read_line(self, child, deadline_s):
        sel = selectors.DefaultSelector()
        sel.register(child.p.stdout, selectors.EVENT_READ)
        ok = sel.select(deadline_s)
        sel.close()
        if not ok:
            raise TimeoutError(f"{child.name}: no answer within {deadline_s}s\n{child.tail()}")
        return child.p.stdout.readline().decode().strip()

    def upstream_cmd(self, cmd):
        self.upstream.p.stdin.write((cmd + "\n").encode())
        self.upstream.p.stdin.flush()
        line = self._read_line(self.upstream, 10.0)
        if line != "ok " + cmd:
            raise RuntimeError(f"upstream: {cmd!r} answered {line!r}")

    def query_log_offset(self):
        self.upstream_cmd("sync")
        return os.path.getsize(self.qlog) if os.path.exists(self.qlog) else 0

    def query_log_since(self, offset):
        self.upstream_cmd("sync")
        with open(self.qlog) as f:
            f.seek(offset)
            return f.read().splitlines()

    # ---- queries from inside the fwd namespace
    def dig(self, addr, name, timeout_s=1):
        check_addr(addr)
        r = sh(self.ns_exec(self.fwd, ["dig", f"@{addr}", "+tries=1", f"+time={timeout_s}",
                                       "+noall", "+comments", "+answer", name, "A"], nice=False),
               timeout=timeout_s + 10, check=False)
        m = re.search(r"status: (\w+)", r.stdout)
        status = m.group(1) if m else "timeout"
        has_a = re.search(r"\sIN\s+A\s+" + re.escape(ANSWER_A), r.stdout) is not None
        return status, has_a

    def wait_answer(self, addr, name_fmt, deadline_s, child=None):
        """Polls until `addr` answers NOERROR with our A record (a fresh name each try, so a
        remembered failure is never what we read); raises on the deadline."""
        end = time.monotonic() + deadline_s
        k, last = 0, ""
        while time.monotonic() < end:
            if child is not None and not child.alive():
                raise RuntimeError(f"{child.name} exited:\n{child.tail()}")
            name = f"r{k}-{name_fmt}" if "{" not in name_fmt else name_fmt.format(k=k)
            status, has_a = self.dig(addr, name)
            if status == "NOERROR" and has_a:
                return time.monotonic()
            last = status
            k += 1
            time.sleep(0.1)  # poll interval, not a readiness assumption
        raise TimeoutError(f"{addr} did not answer within {deadline_s}s (last: {last})"
                           + (f"\n{child.tail()}" if child else ""))

    def run_client(self, spec, timeout_s, control=None):
        """control(proc) runs while the client does (it may write to the client's stdin)."""
        path = os.path.join(self.workdir, f"spec-{secrets.token_hex(4)}.json")
        with open(path, "w") as f:
            json.dump(spec, f)
        argv = self.ns_exec(self.fwd, [PY, os.path.abspath(__file__), "_client", path])
        p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, preexec_fn=die_with_parent)
        try:
            if control:
                control(p)
            out, err = p.communicate(timeout=timeout_s)
        except BaseException:
            p.kill()
            p.wait(timeout=10)
            raise
        if p.returncode != 0:
            raise RuntimeError(f"client failed ({p.returncode}): {err.decode()[-2000:]}")
        return json.loads(out)

    def vnetdns_metrics(self):
        r = sh(self.ns_exec(self.fwd, [PY, os.path.abspath(__file__), "_metrics", ADMIN],
                            nice=False), timeout=20, check=False)
        return r.stdout.strip().splitlines()

    # ---- cleanup
    def stop_children(self):
        for c in reversed(self.children):
            try:
                c.stop()
            except Exception as e:
                log(f"stopping {c.name}: {e}")
        self.children = []

    def cleanup(self):
        self.stop_children()
        for ns in reversed(self.created):
            sh([IP, "netns", "del", ns], check=False)
        self.created = []


# =============================================================================== servers

def write_config(server, d, upstreams, opts):
    addr = check_addr(SERVER_ADDR[server])
    for u in upstreams:
        check_addr(u)
    os.makedirs(d, exist_ok=True)
    if server == "vnetdns":
        conf = os.path.join(d, "vnetdns.toml")
        ups = ", ".join(f'"{u}:53"' for u in upstreams)
        with open(conf, "w") as f:
            f.write(f"""# defaults for everything that decides timeouts and retries
[server]
listen = ["{addr}:53"]
threads = 1
[log]
level = "{opts.vnetdns_log}"
[acl]
allow = ["198.18.0.0/15", "127.0.0.0/8"]
[admin]
listen = "{ADMIN}"
[[forward]]
zone = "."
upstreams = [{ups}]
""")
        return [opts.binary, "serve", "-c", conf]
    if server == "unbound":
        hints = os.path.join(d, "root.hints")
        with open(hints, "w") as f:
            f.write(f".  3600000 IN NS ns.bench-root.\nns.bench-root. 3600000 IN A {UP_A}\n")
        conf = os.path.join(d, "unbound.conf")
        fwd = "".join(f"  forward-addr: {u}\n" for u in upstreams)
        with open(conf, "w") as f:
            f.write(f"""server:
  num-threads: 1
  interface: {addr}
  port: 53
  do-ip6: no
  access-control: 198.18.0.0/15 allow
  access-control: 127.0.0.0/8 allow
  username: ""
  chroot: ""
  directory: "{d}"
  pidfile: "{d}/unbound.pid"
  use-syslog: no
  logfile: ""
  verbosity: 1
  do-daemonize: no
  root-hints: "{hints}"
  module-config: "iterator"
  local-zone: "test." nodefault
remote-control:
  control-enable: no
forward-zone:
  name: "."
{fwd}""")
        return ["unbound", "-d", "-c", conf]
    if server == "dnsdist":
        conf = os.path.join(d, "dnsdist.conf")
        with open(conf, "w") as f:
            f.write(f"""-- defaults for timeouts, retries and health checks; no security polling (no
-- query of our own anywhere outside the lab)
setSecurityPollSuffix("")
setLocal("{addr}:53")
setACL({{"198.18.0.0/15", "127.0.0.0/8"}})
""")
            for i, u in enumerate(upstreams):
                f.write(f'newServer({{address="{u}:53", name="up{i}"}})\n')
        return ["dnsdist", "--supervised", "--disable-syslog", "-C", conf]
    raise ValueError(server)


def version_of(cmd):
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except OSError:
        return "?"
    m = re.search(r"(\d+\.\d+(\.\d+)?)", r.stdout + r.stderr)
    return m.group(1) if m else "?"


class Servers:
    """The servers under test for one step, all side by side in the fwd namespace."""

    def __init__(self, lab, step, upstreams, opts):
        self.lab, self.step, self.opts = lab, step, opts
        self.children = {}
        for s in opts.servers:
            d = os.path.join(lab.workdir, step, s)
            argv = write_config(s, d, upstreams, opts)
            c = Child(s, lab.ns_exec(lab.fwd, argv), os.path.join(d, f"{s}.log"))
            lab.children.append(c)
            self.children[s] = c

    def wait_ready(self, deadline_s=30.0):
        for s, c in self.children.items():
            self.lab.wait_answer(SERVER_ADDR[s], f"ready{{k}}-{self.step}.{s}.{ZONE}",
                                 deadline_s, child=c)

    def stop(self):
        out = {}
        if "vnetdns" in self.children:
            try:
                out["vnetdns_metrics"] = self.lab.vnetdns_metrics()
            except Exception as e:
                out["vnetdns_metrics"] = [f"error: {e}"]
        for s, c in self.children.items():
            rc = c.stop()
            if s == "vnetdns":
                out["vnetdns_log_notable"] = notable_log_lines(c.log_path)
            if c in self.lab.children:
                self.lab.children.remove(c)
            out[f"{s}_exit"] = rc
        return out


def notable_log_lines(path, limit=40):
    """vnetdns's lines about upstream health (down/suspect/up), at most `limit`."""
    keep = []
    try:
        with open(path, errors="replace") as f:
            for line in f:
                if re.search(r"is (down|suspect|up again)|answers again|marked|deadline|probe",
                             line, re.IGNORECASE):
                    keep.append(line.rstrip()[:300])
    except OSError:
        pass
    return keep[:limit] + ([f"... {len(keep) - limit} more"] if len(keep) > limit else [])


# =============================================================================== analysis

def upstream_counts(lines, step_prefix):
    """Per server: queries the upstream saw for this step's names (and per address), probes."""
    per = {}
    probes = {}
    dropped = 0
    for line in lines:
        f = line.split()
        if len(f) < 2:
            continue
        if f[1] == "dropped":
            dropped += 1
            continue
        if len(f) < 6:
            continue
        local, qn, qt = f[2], f[4], f[5]
        m = re.match(r"^([\w-]+)\.(vnetdns|unbound|dnsdist)\.bench\.test\.$", qn)
        if m:
            srv, label = m.group(2), m.group(1)
            kind = ("ready" if label.startswith("ready") else
                    "names" if label.startswith(step_prefix + "n") else "other")
            d = per.setdefault(srv, {"names": 0, "ready": 0, "other": 0, "by_addr": {},
                                     "tcp": 0})
            d[kind] += 1
            if kind == "names":
                d["by_addr"][local] = d["by_addr"].get(local, 0) + 1
                if f[1] == "tcp":
                    d["tcp"] += 1
            continue
        key = f"{qn} {qt} @{local}"
        if qn == "." or "vnetdns-loop-check" in qn:
            who = "vnetdns"
        elif qn == "a.root-servers.net.":
            who = "dnsdist"
        else:
            who = "other"
        probes.setdefault(who, {}).setdefault(key if who == "other" else f"{qt} @{local}", 0)
        probes[who][key if who == "other" else f"{qt} @{local}"] += 1
    return {"per_server": per, "probes": probes, "replies_dropped": dropped}


def summarize_burst(records, servers):
    out = {}
    for s in servers:
        rs = [r for r in records if r[0] == s]
        ok = [r[3] - r[2] for r in rs if r[4] == "NOERROR"]
        sf = [r[3] - r[2] for r in rs if r[4] == "SERVFAIL"]
        other = [r[4] for r in rs if r[4] not in ("NOERROR", "SERVFAIL", "timeout")]
        out[s] = {"sent": len(rs), "noerror": len(ok), "servfail": len(sf),
                  "unanswered": sum(1 for r in rs if r[4] == "timeout"),
                  "other": other,
                  "median_answer_s": round(statistics.median(ok), 3) if ok else None,
                  "max_answer_s": round(max(ok), 3) if ok else None,
                  "median_servfail_s": round(statistics.median(sf), 3) if sf else None}
    return out


def summarize_outage(records, servers, t_block, t_up):
    out = {}
    for s in servers:
        rs = sorted((r for r in records if r[0] == s), key=lambda r: r[2])
        first_any = min((r[3] for r in rs if r[4] == "NOERROR" and r[3] >= t_up), default=None)
        first_new = min((r[3] for r in rs if r[4] == "NOERROR" and r[2] >= t_up), default=None)
        during = [r for r in rs if t_block <= r[2] < t_up]
        after = [r for r in rs if r[2] >= t_up]
        # queries sent after the return that still failed before the first good one
        fails_after = [r for r in after if r[4] != "NOERROR" and
                       (first_new is None or r[2] < first_new)]
        sf = [r[3] - r[2] for r in during if r[4] == "SERVFAIL"]
        out[s] = {
            "recovery_any_s": round(first_any - t_up, 3) if first_any else None,
            "recovery_new_name_s": round(first_new - t_up, 3) if first_new else None,
            "during": {"sent": len(during),
                       "noerror": sum(1 for r in during if r[4] == "NOERROR"),
                       "servfail": len(sf),
                       "unanswered": sum(1 for r in during if r[4] == "timeout"),
                       "median_servfail_s": round(statistics.median(sf), 3) if sf else None,
                       "servfail_over_1s": sum(1 for x in sf if x > 1.0)},
            "after": {"sent": len(after),
                      "noerror": sum(1 for r in after if r[4] == "NOERROR"),
                      "failed_before_first_good": len(fails_after),
                      "outcomes_before_first_good": sorted({r[4] for r in fails_after})},
        }
    return out


def summarize_dead_first(records, servers, t_start, seconds):
    out = {}
    for s in servers:
        rs = [r for r in records if r[0] == s]
        per_sec = [0] * int(seconds)
        slow = []
        for r in rs:
            took = (r[3] - r[2]) if r[3] is not None else None
            if took is None or took > SLOW_S or r[4] != "NOERROR":
                slow.append(r)
                b = int(r[2] - t_start)
                if 0 <= b < len(per_sec):
                    per_sec[b] += 1
        lat = sorted(r[3] - r[2] for r in rs if r[3] is not None and r[4] == "NOERROR")
        out[s] = {"sent": len(rs), "noerror": sum(1 for r in rs if r[4] == "NOERROR"),
                  "servfail": sum(1 for r in rs if r[4] == "SERVFAIL"),
                  "unanswered": sum(1 for r in rs if r[4] == "timeout"),
                  "over_50ms": sum(1 for r in rs if r[3] is None or r[3] - r[2] > 0.050),
                  "slow_total": len(slow), "slow_per_second": per_sec,
                  "slow_worst_second": max(per_sec) if per_sec else 0,
                  "slow_after_first_second": sum(per_sec[1:]),
                  "median_answer_s": round(statistics.median(lat), 4) if lat else None,
                  "p90_answer_s": round(lat[int(0.9 * (len(lat) - 1))], 4) if lat else None}
    return out


# =============================================================================== phases

def phase_latency(lab, opts, results):
    res = results.setdefault("latency", {})
    for lat in opts.latencies:
        step = f"lat{int(lat * 1000)}"
        log(f"(a) latency {lat} s: starting {', '.join(opts.servers)}")
        srv = Servers(lab, step, [UP_A], opts)
        try:
            srv.wait_ready()
            off = lab.query_log_offset()
            lab.set_delay(lat)
            names = {s: [f"{step}n{i}.{s}.{ZONE}" for i in range(opts.names)]
                     for s in opts.servers}
            t0 = time.monotonic()
            spec = {"mode": "burst", "targets": {s: SERVER_ADDR[s] for s in opts.servers},
                    "names": names, "concurrency": opts.concurrency, "timeout": opts.timeout}
            waves = -(-opts.names // opts.concurrency)
            out = lab.run_client(spec, timeout_s=waves * (opts.timeout + 2) + 30)
            elapsed = time.monotonic() - t0
            lab.set_delay(0)
            lines = lab.query_log_since(off)
        finally:
            lab.set_delay(0)
            extra = srv.stop()
        summary = summarize_burst(out["records"], opts.servers)
        counts = upstream_counts(lines, step)
        for s in opts.servers:
            summary[s]["upstream_queries"] = counts["per_server"].get(s, {}).get("names", 0)
            summary[s]["upstream_tcp"] = counts["per_server"].get(s, {}).get("tcp", 0)
        res[str(lat)] = {"summary": summary, "probes": counts["probes"],
                         "elapsed_s": round(elapsed, 1), "records": out["records"], **extra}
        log("   " + "; ".join(f"{s}: {v['noerror']} ok {v['servfail']} SF {v['unanswered']} "
                              f"none, median {v['median_answer_s']}"
                              for s, v in summary.items()) + f" ({elapsed:.0f} s)")


def phase_outage(lab, opts, results):
    res = results.setdefault("outage", {})
    for dur in opts.outages:
        step = f"out{int(dur)}"
        log(f"(b) outage {dur} s: starting {', '.join(opts.servers)}")
        srv = Servers(lab, step, [UP_A], opts)
        marks = {}
        try:
            srv.wait_ready()
            off = lab.query_log_offset()
            spec = {"mode": "stream", "targets": {s: SERVER_ADDR[s] for s in opts.servers},
                    "prefix": {s: f"{step}n" for s in opts.servers}, "interval": opts.interval,
                    "duration": None, "post_cap": opts.post_cap, "timeout": opts.timeout}

            def control(p):
                # schedule, not readiness: the stream runs 3 s, the outage `dur` s
                time.sleep(3.0)
                lab.set_blocked("a", True)
                marks["t_block"] = time.monotonic()
                log(f"   replies from the upstream blocked for {dur} s")
                time.sleep(dur)
                lab.set_blocked("a", False)
                marks["t_up"] = time.monotonic()
                p.stdin.write(f"up {marks['t_up']:.6f}\n".encode())
                p.stdin.flush()
                log("   upstream back")

            out = lab.run_client(spec, timeout_s=3 + dur + opts.post_cap + opts.timeout + 30,
                                 control=control)
            lines = lab.query_log_since(off)
        finally:
            if "a" in lab.blocked:
                lab.set_blocked("a", False)
            extra = srv.stop()
        summary = summarize_outage(out["records"], opts.servers, marks["t_block"], marks["t_up"])
        counts = upstream_counts(lines, step)
        # what each server sent upstream while blocked, and after
        for s in opts.servers:
            ts = [float(f[0]) for f in (l.split() for l in lines)
                  if len(f) >= 6 and f[1] in ("udp", "tcp")
                  and f[4].startswith(step + "n") and f[4].endswith(f".{s}.{ZONE}")]
            summary[s]["upstream_queries_during"] = sum(
                1 for t in ts if marks["t_block"] <= t < marks["t_up"])
            summary[s]["upstream_queries_total"] = len(ts)
            firsts = [t for t in ts if t >= marks["t_up"]]
            summary[s]["first_query_after_return_s"] = (round(min(firsts) - marks["t_up"], 3)
                                                        if firsts else None)
        res[str(dur)] = {"summary": summary, "probes": counts["probes"],
                         "replies_dropped": counts["replies_dropped"],
                         "t_block": marks["t_block"], "t_up": marks["t_up"],
                         "records": out["records"], **extra}
        log("   " + "; ".join(f"{s}: recovery {v['recovery_any_s']} s (new name "
                              f"{v['recovery_new_name_s']} s)" for s, v in summary.items()))


def phase_dead_first(lab, opts, results):
    step = "dead"
    log(f"(c) first upstream dead, second healthy: starting {', '.join(opts.servers)}")
    srv = Servers(lab, step, [UP_B, UP_A], opts)
    try:
        srv.wait_ready()
        off = lab.query_log_offset()
        lab.set_blocked("b", True)
        t_start = time.monotonic()
        spec = {"mode": "stream", "targets": {s: SERVER_ADDR[s] for s in opts.servers},
                "prefix": {s: f"{step}n" for s in opts.servers}, "interval": opts.interval,
                "duration": opts.dead_seconds, "timeout": opts.timeout}
        out = lab.run_client(spec, timeout_s=opts.dead_seconds + opts.timeout + 30)
        lines = lab.query_log_since(off)
    finally:
        if "b" in lab.blocked:
            lab.set_blocked("b", False)
        extra = srv.stop()
    summary = summarize_dead_first(out["records"], opts.servers, t_start, opts.dead_seconds)
    counts = upstream_counts(lines, step)
    for s in opts.servers:
        summary[s]["upstream_queries_by_addr"] = counts["per_server"].get(s, {}).get("by_addr", {})
    results["dead_first"] = {"summary": summary, "probes": counts["probes"], "t_start": t_start,
                             "replies_dropped": counts["replies_dropped"],
                             "records": out["records"], **extra}
    log("   " + "; ".join(f"{s}: {v['slow_total']} slow/unanswered of {v['sent']}, worst "
                          f"second {v['slow_worst_second']}" for s, v in summary.items()))


# =============================================================================== report

def fmt(v, unit=""):
    return "-" if v is None else f"{v}{unit}"


def report_md(results, meta, opts):
    L = []
    L.append("# Upstream stress: slow, vanishing and half-dead upstreams (issue 16)\n")
    L.append(f"Run {meta['date']} at commit `{meta['commit']}`; vnetdns {meta['versions']['vnetdns']}"
             f" ({meta['binary']}), Unbound {meta['versions']['unbound']}, dnsdist "
             f"{meta['versions']['dnsdist']}; kernel {meta['kernel']}, {meta['cpus']} CPUs (shared). "
             f"Command: `{meta['command']}` ({meta['wall_s']} s). Each server a plain forwarder "
             "of \".\" with its default timeouts, retries and health checks, all three side by "
             "side in one network namespace, the upstream (this script's responder) in another; "
             "every server started fresh for each step and answered once through the healthy "
             "upstream before the fault was set.\n")
    L.append(f"Faults: **{meta['fault_mode']}**. " + meta["fault_note"] + "\n")
    if meta.get("aborted"):
        L.append(f"**The run was cut short: {meta['aborted']}.** Tables hold what finished.\n")
    lat = results.get("latency", {})
    if lat:
        L.append(f"## (a) Slow upstream: {opts.names} distinct names per server, "
                 f"{opts.concurrency} in flight, each query waits up to {opts.timeout:g} s\n")
        L.append("Cells: answered (NOERROR) / SERVFAIL / unanswered; median seconds to an "
                 "answer; queries the upstream received for those names.\n")
        L.append("| upstream latency | " + " | ".join(opts.servers) + " |")
        L.append("|---|" + "---|" * len(opts.servers))
        for k, v in lat.items():
            cells = []
            for s in opts.servers:
                x = v["summary"][s]
                cells.append(f"{x['noerror']} / {x['servfail']} / {x['unanswered']}; "
                             f"{fmt(x['median_answer_s'], ' s')}; {x['upstream_queries']} up")
            L.append(f"| {float(k):g} s | " + " | ".join(cells) + " |")
        L.append("")
    out = results.get("outage", {})
    if out:
        L.append(f"## (b) Outage: one fresh name every {opts.interval:g} s per server; every "
                 "reply dropped for D seconds, then the upstream returns\n")
        L.append("Recovery: seconds from the return to the first NOERROR (any query; in "
                 "parentheses: for a query sent after the return). During: what the queries "
                 "sent during the outage got: NOERROR / SERVFAIL (median s to it; how many "
                 "took over 1 s) / unanswered within the client's "
                 f"{opts.timeout:g} s. '-' = no NOERROR within {opts.post_cap:g} s.\n")
        L.append("| outage | server | recovery | during the outage | upstream queries "
                 "during / first after return |")
        L.append("|---|---|---|---|---|")
        for k, v in out.items():
            for s in opts.servers:
                x = v["summary"][s]
                d = x["during"]
                L.append(f"| {float(k):g} s | {s} | {fmt(x['recovery_any_s'], ' s')} "
                         f"({fmt(x['recovery_new_name_s'], ' s')}) | {d['noerror']} / "
                         f"{d['servfail']} ({fmt(d['median_servfail_s'], ' s')}; "
                         f"{d.get('servfail_over_1s', '-')} > 1 s) / "
                         f"{d['unanswered']} of {d['sent']} | {x['upstream_queries_during']} / "
                         f"{fmt(x['first_query_after_return_s'], ' s')} |")
        L.append("")
    dead = results.get("dead_first")
    if dead:
        L.append(f"## (c) Two upstreams, the first dead: {opts.dead_seconds:g} s of one fresh "
                 f"name every {opts.interval:g} s per server\n")
        L.append("Both upstreams healthy at start; the first one's replies dropped from the "
                 f"first question on. Slow: took > {int(SLOW_S * 1000)} ms, or not NOERROR, or "
                 "never answered.\n")
        L.append("| server | questions | slow in all | worst second | slow after the first "
                 "second | slow per second | > 50 ms | median / p90 answer | upstream queries "
                 "(dead, healthy) |")
        L.append("|---|---|---|---|---|---|---|---|---|")
        for s in opts.servers:
            x = dead["summary"][s]
            by = x["upstream_queries_by_addr"]
            L.append(f"| {s} | {x['sent']} | {x['slow_total']} | {x['slow_worst_second']} | "
                     f"{x['slow_after_first_second']} | "
                     f"{' '.join(map(str, x['slow_per_second']))} | {x['over_50ms']} | "
                     f"{fmt(x['median_answer_s'], ' s')} / {fmt(x['p90_answer_s'], ' s')} | "
                     f"{by.get(UP_B, 0)}, {by.get(UP_A, 0)} |")
        L.append("")
    L.append("## vnetdns against its targets\n")
    for line in verdicts(results, opts):
        L.append(f"- {line}")
    L.append("")
    L.append("Raw numbers (every query: server, name, sent, answered, outcome on "
             "CLOCK_MONOTONIC), probes the upstream saw and vnetdns's upstream metrics: "
             "`upstream-stress.json`. Script: `tests/bench/upstream_stress.py`.\n")
    return "\n".join(L)


def verdicts(results, opts):
    v = []
    lat = results.get("latency", {})
    if "vnetdns" in opts.servers and lat:
        for k, x in lat.items():
            if 1.0 < float(k) < 4.0:
                s = x["summary"]["vnetdns"]
                ok = s["noerror"] == s["sent"]
                v.append(f"{'met' if ok else 'MISSED'}: latency {float(k):g} s (slower than 1 s, "
                         f"within the 4 s deadline): {s['noerror']}/{s['sent']} answered")
        miss_low = [k for k, x in lat.items() if float(k) <= 1.0 and
                    x["summary"]["vnetdns"]["noerror"] != x["summary"]["vnetdns"]["sent"]]
        if miss_low:
            v.append("MISSED also at latency " + ", ".join(f"{float(k):g} s" for k in miss_low))
    for k, x in results.get("outage", {}).items():
        if "vnetdns" in opts.servers:
            r = x["summary"]["vnetdns"]["recovery_any_s"]
            rn = x["summary"]["vnetdns"]["recovery_new_name_s"]
            ok = r is not None and r <= 1.0
            v.append(f"{'met' if ok else 'MISSED'}: recovery within 1 s after a {float(k):g} s "
                     f"outage: {fmt(r, ' s')} (for a name sent after the return: "
                     f"{fmt(rn, ' s')})")
    dead = results.get("dead_first")
    if dead and "vnetdns" in opts.servers:
        s = dead["summary"]["vnetdns"]
        ok = s["slow_worst_second"] <= 1
        v.append(f"{'met' if ok else 'MISSED'}: at most one question a second pays a timeout "
                 f"with the first upstream dead: worst second {s['slow_worst_second']}, "
                 f"{s['slow_total']} in {opts.dead_seconds:g} s")
    return v


# =============================================================================== main

def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", default=os.path.join(ROOT, "build-bench", "vnetdns"))
    ap.add_argument("--servers", default=",".join(SERVERS))
    ap.add_argument("--latencies", default="0,0.5,1,1.5,2")
    ap.add_argument("--outages", default="10,60")
    ap.add_argument("--names", type=int, default=24, help="(a) names per server and latency")
    ap.add_argument("--concurrency", type=int, default=8, help="(a) in flight per server")
    ap.add_argument("--timeout", type=float, default=10.0, help="client wait per query")
    ap.add_argument("--interval", type=float, default=0.1, help="(b), (c) seconds per name")
    ap.add_argument("--post-cap", type=float, default=30.0,
                    help="(b) seconds after the return to wait for a NOERROR")
    ap.add_argument("--dead-seconds", type=float, default=10.0)
    ap.add_argument("--phases", default="a,b,c")
    ap.add_argument("--fault-mode", choices=["auto", "netem", "responder"], default="auto")
    ap.add_argument("--vnetdns-log", default="debug")
    ap.add_argument("--max-seconds", type=int, default=840, help="bound on the whole run")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "upstream-stress"),
                    help="writes OUT.md and OUT.json")
    ap.add_argument("--keep-workdir", action="store_true")
    ap.add_argument("--render", metavar="JSON",
                    help="run nothing: write OUT.md again from a results JSON of this script "
                         "(summaries recomputed from its raw records)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke test: latencies 0,2; outage 5 s; 8 names; 5 s of (c)")
    o = ap.parse_args(argv)
    if o.quick:
        o.latencies, o.outages, o.names, o.dead_seconds, o.post_cap = "0,2", "5", 8, 5.0, 15.0
    o.servers = [s for s in o.servers.split(",") if s]
    for s in o.servers:
        if s not in SERVERS:
            ap.error(f"unknown server {s}")
    o.latencies = [float(x) for x in o.latencies.split(",") if x]
    o.outages = [float(x) for x in o.outages.split(",") if x]
    o.phases = set(o.phases.split(","))
    o.binary = os.path.abspath(o.binary)
    return o


class Aborted(Exception):
    pass


def render(opts):
    """OUT.md (and OUT.json's summaries) again from the raw records of an earlier run."""
    with open(opts.render) as f:
        data = json.load(f)
    meta, results = data["meta"], data["results"]
    saved = meta["options"]
    for k in ("servers", "names", "concurrency", "timeout", "interval", "post_cap",
              "dead_seconds"):
        setattr(opts, k, saved[k])

    def merge(old, new):
        for s, v in new.items():
            old[s] = {**old.get(s, {}), **v}

    for v in results.get("latency", {}).values():
        merge(v["summary"], summarize_burst(v["records"], opts.servers))
    for v in results.get("outage", {}).values():
        merge(v["summary"], summarize_outage(v["records"], opts.servers, v["t_block"],
                                             v["t_up"]))
    dead = results.get("dead_first")
    if dead and "t_start" in dead:
        t_start = dead["t_start"]
        merge(dead["summary"], summarize_dead_first(dead["records"], opts.servers, t_start,
                                                    opts.dead_seconds))
    md = report_md(results, meta, opts)
    with open(opts.out + ".md", "w") as f:
        f.write(md)
    with open(opts.out + ".json", "w") as f:
        json.dump({"meta": meta, "results": results}, f, indent=1)
    print(md)
    return 0


def main(argv):
    opts = parse_args(argv)
    if opts.render:
        return render(opts)
    if os.geteuid() != 0:
        raise SystemExit("needs root (ip netns, tc)")
    for tool in ("dig", *(["unbound"] if "unbound" in opts.servers else []),
                 *(["dnsdist"] if "dnsdist" in opts.servers else [])):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} not installed (deploy/install-deps.sh bench)")
    if "vnetdns" in opts.servers and not os.access(opts.binary, os.X_OK):
        raise SystemExit(f"no vnetdns binary at {opts.binary} (build it: tests/bench/run.sh)")
    t_begin = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="vnb-upstream-stress-")
    os.chmod(workdir, 0o755)
    lab = Lab(workdir, "responder")
    atexit.register(lab.cleanup)

    def on_signal(signum, _frame):
        raise SystemExit(f"signal {signum}")

    def on_alarm(_signum, _frame):
        raise Aborted(f"--max-seconds {opts.max_seconds} reached")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(opts.max_seconds)
    results, aborted = {}, None
    try:
        lab.create()
        netem, why = lab.netem_available()
        if opts.fault_mode == "netem" and not netem:
            raise SystemExit(f"tc netem unavailable here: {why}")
        lab.fault_mode = "netem" if (netem and opts.fault_mode != "responder") else "responder"
        log(f"namespaces {lab.fwd} and {lab.up}; faults: {lab.fault_mode}"
            + ("" if netem else f" (tc netem: {why})"))
        lab.start_upstream()
        if "a" in opts.phases:
            phase_latency(lab, opts, results)
        if "b" in opts.phases:
            phase_outage(lab, opts, results)
        if "c" in opts.phases:
            phase_dead_first(lab, opts, results)
    except Aborted as e:
        aborted = str(e)
        log(f"aborted: {e}")
    finally:
        signal.alarm(0)
        lab.cleanup()
        if not opts.keep_workdir:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            log(f"work directory kept: {workdir}")
    wall = round(time.monotonic() - t_begin)
    commit = sh(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], check=False).stdout.strip()
    dirty = sh(["git", "-C", ROOT, "status", "--porcelain", "--", "resolver", "CMakeLists.txt"],
               check=False).stdout.rstrip("\n")
    diff = subprocess.run(["git", "-C", ROOT, "diff", "HEAD", "--", "resolver", "CMakeLists.txt"],
                          capture_output=True, timeout=20).stdout
    import hashlib
    try:
        built = datetime.datetime.fromtimestamp(os.path.getmtime(opts.binary),
                                                datetime.timezone.utc).strftime("%H:%M UTC")
    except OSError:
        built = "?"

    if lab.fault_mode == "netem":
        note = ("latency = `tc netem delay` on the upstream's veth (its replies), outage = "
                "`tc netem loss 100%` there: queries reach the upstream, replies are lost.")
    else:
        note = ("`tc netem` is not available in this kernel (CONFIG_NET_SCH_NETEM is not set), "
                "so: latency L = the upstream holds every reply L seconds before sending it (the "
                "round trip grows by L, as with netem delay on its veth); outage / dead "
                "upstream = a blackhole route in the up namespace for the forwarders' side, "
                "so every reply is discarded there (queries still arrive and are counted) and "
                "the forwarders see silence, never an error (neighbour entries are permanent).")
    meta = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "commit": commit + (f" + uncommitted changes in resolver/ (`git diff HEAD -- "
                                f"resolver CMakeLists.txt` sha1 "
                                f"{hashlib.sha1(diff).hexdigest()[:12]}: "
                                f"{', '.join(l[3:] for l in dirty.splitlines())})"
                                if dirty else ""),
            "binary": f"{opts.binary} (built {built})",
            "versions": {"vnetdns": version_of([opts.binary, "--version"]),
                         "unbound": version_of(["unbound", "-V"]),
                         "dnsdist": version_of(["dnsdist", "--version"]),
                         "python3-dnspython": version_of([PY, "-c",
                                                          "import dns.version as v; "
                                                          "print(v.version)"])},
            "kernel": os.uname().release, "cpus": os.cpu_count(),
            "fault_mode": lab.fault_mode, "fault_note": note,
            "command": "tests/bench/upstream_stress.py " + " ".join(argv) if argv else
            "tests/bench/upstream_stress.py",
            "wall_s": wall, "aborted": aborted,
            "options": {k: (sorted(v) if isinstance(v, set) else v)
                        for k, v in vars(opts).items()}}
    md = report_md(results, meta, opts)
    os.makedirs(os.path.dirname(opts.out), exist_ok=True)
    with open(opts.out + ".md", "w") as f:
        f.write(md)
    with open(opts.out + ".json", "w") as f:
        json.dump({"meta": meta, "results": results}, f, indent=1)
    print(md)
    log(f"wrote {opts.out}.md and .json in {wall} s")
    return 1 if aborted else 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_upstream":
        sys.exit(upstream_main(sys.argv[2:]))
    if len(sys.argv) > 1 and sys.argv[1] == "_client":
        sys.exit(client_main(sys.argv[2:]))
    if len(sys.argv) > 1 and sys.argv[1] == "_metrics":
        sys.exit(metrics_main(sys.argv[2:]))
    sys.exit(main(sys.argv[1:]))
