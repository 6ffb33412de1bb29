"""Integration harness: the real vnetdns binary on loopback, against a real upstream.

The upstream is the stand-in for Azure DNS: knotd serving the public view of azurecr.io from
deploy/standin/ (one root zone, so that whole CNAME chains come back as from a recursive
resolver). Every packet stays on loopback (127.0.0.0/8, ::1); nothing here may name another
address.

Process rules, kept by every class here:
- each server is a child of this process (subprocess.Popen, no shell in between), started with
  PR_SET_PDEATHSIG so that it dies with the test even if the test is killed outright;
- readiness is polled against a deadline (a log line, then a query that gets an answer), never
  slept for;
- stop = SIGTERM, wait with a timeout, then SIGKILL and wait again, so no zombie is left; every
  started server is also registered with atexit and with the test's ExitStack.

Test scripts use `main(checks)`: each check is a function `check(t)` that asserts through the
`Tap` object `t` ("ok - ..." / "not ok - ..." lines); the script exits 0 only if every
assertion passed. They are run as `/usr/bin/python3 tests/integration/test_X.py --binary PATH
--source REPO` (how CTest calls them).
"""

import argparse
import atexit
import contextlib
import ctypes
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import traceback

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.query
import dns.rcode
import dns.rdatatype

LOOPBACK4 = "127.0.0.1"
STANDIN4 = "127.0.0.2"  # Knot binds any 127.x address; a second address keeps roles apart.
LOOPBACK6 = "::1"

KNOTD = shutil.which("knotd") or "/usr/sbin/knotd"
KNOTC = shutil.which("knotc") or "/usr/sbin/knotc"

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")


def _assert_loopback(addr):
    """Refuses any address outside 127.0.0.0/8 and ::1 (the one hard rule of these tests)."""
    if addr == "::1" or addr.startswith("127."):
        return
    raise ValueError(f"refusing non-loopback address {addr!r}")


# ---------------------------------------------------------------------------------------------
# Free ports


def _ephemeral_low():
    """The lowest port the kernel hands out to client sockets (ip_local_port_range)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def rss_kib(pid):
    """Resident memory of process `pid` in KiB (VmRSS), or -1 when it cannot be read."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def free_port(hosts=(LOOPBACK4,), tries=200):
    """A random port that is free for both UDP and TCP on every host in `hosts`, chosen below
    the kernel's ephemeral range: tests running in parallel open thousands of client sockets,
    and one of them could take a port between our probe and the server's bind."""
    rng = random.SystemRandom()
    high = max(12000, _ephemeral_low() - 1)
    for _ in range(tries):
        port = rng.randint(10000, high)
        socks = []
        try:
            for h in hosts:
                _assert_loopback(h)
                fam = socket.AF_INET6 if ":" in h else socket.AF_INET
                for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                    s = socket.socket(fam, kind)
                    socks.append(s)
                    s.bind((h, port))
            return port
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port found")


# ---------------------------------------------------------------------------------------------
# Child processes


def _die_with_parent():
    """preexec_fn: the child gets SIGTERM when the test process dies (Linux prctl)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:  # not fatal: atexit and finally paths still stop it
        pass


class Child:
    """One server process: its stderr (and stdout) go to a log file read by a thread."""

    def __init__(self, name, argv, log_path, cwd=None, env=None):
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.lines = []
        self._cond = threading.Condition()
        self._log = open(log_path, "w", buffering=1)
        self.proc = subprocess.Popen(
            argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, preexec_fn=_die_with_parent, env=env)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        atexit.register(self.stop)

    def _read(self):
        for raw in iter(self.proc.stdout.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self._log.write(line + "\n")
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def line_count(self):
        with self._cond:
            return len(self.lines)

    def wait_for_line(self, pattern, deadline_s, after=0):
        """Waits until a log line (from index `after` on) matches `pattern` (regex, case
        ignored); returns it, or raises with the log's tail."""
        rx = re.compile(pattern, re.IGNORECASE)
        end = time.monotonic() + deadline_s
        seen = after
        with self._cond:
            while True:
                while seen < len(self.lines):
                    if rx.search(self.lines[seen]):
                        return self.lines[seen]
                    seen += 1
                if self.proc.poll() is not None and not self._reader.is_alive():
                    raise RuntimeError(f"{self.name} exited with {self.proc.returncode} before "
                                       f"logging /{pattern}/:\n{self.tail()}")
                left = end - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{self.name} did not log /{pattern}/ within "
                                       f"{deadline_s}s:\n{self.tail()}")
                self._cond.wait(min(left, 0.2))

    def tail(self, n=30):
        with self._cond:
            return "\n".join("    | " + l for l in self.lines[-n:])

    def signal(self, sig):
        if self.alive():
            self.proc.send_signal(sig)

    def stop(self, timeout=10.0):
        """SIGTERM, wait up to `timeout`, then SIGKILL and wait. Returns the exit status."""
        if self.proc.returncode is None:
            if self.proc.poll() is None:
                try:
                    self.proc.send_signal(signal.SIGTERM)
                    self.proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=timeout)
        self._reader.join(timeout=2)
        with contextlib.suppress(Exception):
            self._log.close()
        return self.proc.returncode


# ---------------------------------------------------------------------------------------------
# Queries


def make_query(qname, rdtype="A", edns=0, payload=1232, want_dnssec=False, flags=None):
    q = dns.message.make_query(qname, rdtype, use_edns=edns, payload=payload,
                               want_dnssec=want_dnssec)
    if flags is not None:
        q.flags = flags
    return q


def udp(addr, port, qname, rdtype="A", timeout=3.0, source=None, **kw):
    """One UDP query with dnspython; returns the response Message (raises on timeout)."""
    _assert_loopback(addr)
    q = make_query(qname, rdtype, **kw) if not isinstance(qname, dns.message.Message) else qname
    return dns.query.udp(q, addr, port=port, timeout=timeout, source=source,
                         ignore_unexpected=True)


def tcp(addr, port, qname, rdtype="A", timeout=3.0, source=None, **kw):
    _assert_loopback(addr)
    q = make_query(qname, rdtype, **kw) if not isinstance(qname, dns.message.Message) else qname
    return dns.query.tcp(q, addr, port=port, timeout=timeout, source=source)


def tcp_session(addr, port, queries, timeout=3.0):
    """Several queries, one after another, on ONE TCP connection; returns the responses."""
    _assert_loopback(addr)
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    out = []
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect((addr, port))
        for q in queries:
            exp = time.time() + timeout
            dns.query.send_tcp(s, q, exp)
            r, _ = dns.query.receive_tcp(s, exp)
            out.append(r)
    return out


def raw_udp(addr, port, payload, timeout=1.0, source=None):
    """Sends raw bytes over UDP; returns the reply bytes, or None if none came in `timeout`."""
    _assert_loopback(addr)
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    with socket.socket(fam, socket.SOCK_DGRAM) as s:
        if source:
            s.bind((source, 0))
        s.settimeout(timeout)
        s.sendto(payload, (addr, port))
        try:
            data, _ = s.recvfrom(65535)
            return data
        except socket.timeout:
            return None


def rrsets_text(msg, section="answer"):
    """Lines 'owner ttl class type rdata' of one section, for messages and asserts."""
    return [line for rr in getattr(msg, section) for line in rr.to_text().splitlines()]


def timed_query(addr, port, qname, rdtype="A", timeout=5.0, over_tcp=False, **kw):
    """(response or None on timeout, seconds taken): one query over UDP or TCP."""
    t0 = time.monotonic()
    try:
        m = (tcp if over_tcp else udp)(addr, port, qname, rdtype, timeout=timeout, **kw)
    except dns.exception.Timeout:
        m = None
    return m, time.monotonic() - t0


def rcode_text(m):
    """The RCODE of a response as text, or "TIMEOUT" for None (no response)."""
    return "TIMEOUT" if m is None else dns.rcode.to_text(m.rcode())


def ede_codes(m):
    """INFO-CODEs of the EDE options (RFC 8914, option code 15) of a response (None: none)."""
    out = []
    for opt in (m.options if m is not None else []):
        if opt.otype != 15:
            continue
        code = getattr(opt, "code", None)
        if code is None:
            code = struct.unpack("!H", opt.to_wire()[:2])[0]
        out.append(int(code))
    return out


def answer_addresses(msg):
    return sorted(rd.address for rr in msg.answer if rr.rdtype in (1, 28) for rd in rr)


def run_tool(argv, timeout=15.0):
    """Runs a client (dig, kdig, drill) and returns CompletedProcess with text output."""
    for a in argv:
        if a.startswith("@"):
            _assert_loopback(a[1:])
    return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout)


def dig(server, port, *args, timeout=15.0):
    return run_tool(["dig", f"@{server}", "-p", str(port), "+time=3", "+tries=1", *args],
                    timeout=timeout)


def kdig(server, port, *args, timeout=15.0):
    return run_tool(["kdig", f"@{server}", "-p", str(port), "+time=3", "+retry=0", *args],
                    timeout=timeout)


def dig_section(output, section="ANSWER"):
    """The records of one section of dig's default output, whitespace-normalised."""
    lines, inside = [], False
    for line in output.splitlines():
        if line.startswith(f";; {section} SECTION:"):
            inside = True
            continue
        if inside:
            if not line.strip() or line.startswith(";;"):
                break
            lines.append(" ".join(line.split()))
    return lines


def dig_status(output):
    m = re.search(r"status: ([A-Z]+)", output)
    return m.group(1) if m else None


def wait_answered(addr, port, qname, rdtype="SOA", deadline_s=10.0, source=None, tcp_too=False):
    """Polls until a UDP (and TCP) query gets any reply; raises with the last error."""
    end = time.monotonic() + deadline_s
    last = None
    while time.monotonic() < end:
        try:
            udp(addr, port, qname, rdtype, timeout=0.5, source=source)
            if tcp_too:
                tcp(addr, port, qname, rdtype, timeout=0.5, source=source)
            return
        except Exception as e:  # noqa: BLE001 - any failure means "not yet"
            last = e
            time.sleep(0.05)  # poll interval, not a readiness assumption
    raise TimeoutError(f"no answer from {addr}:{port} for {qname}/{rdtype} in {deadline_s}s: "
                       f"{last!r}")


# ---------------------------------------------------------------------------------------------
# The stand-in for Azure DNS (knotd, public view)


class StandIn:
    """knotd on loopback serving deploy/standin/ zones, with query counters (mod-stats)."""

    def __init__(self, source_dir, workdir, addr=STANDIN4, port=None, extra_addrs=()):
        self.addr = addr
        self.addrs = [addr, *extra_addrs]
        for a in self.addrs:
            _assert_loopback(a)
        self.port = port or free_port(self.addrs)
        self.dir = os.path.join(workdir, f"standin-{self.port}")
        os.makedirs(self.dir, exist_ok=True)
        template = os.path.join(source_dir, "deploy", "standin", "knot.conf.in")
        zonedir = os.path.join(source_dir, "deploy", "standin", "zones")
        with open(template) as f:
            text = f.read()
        listen = ", ".join(f"{a}@{self.port}" for a in self.addrs)
        text = (text.replace("@RUNDIR@", self.dir).replace("@ZONEDIR@", zonedir)
                .replace("@LISTEN@", listen))
        self.conf = os.path.join(self.dir, "knot.conf")
        with open(self.conf, "w") as f:
            f.write(text)
        self.child = None

    def start(self, deadline_s=15.0):
        self.child = Child("knotd", [KNOTD, "-c", self.conf],
                           os.path.join(self.dir, "knotd.log"))
        self.child.wait_for_line(r"server started", deadline_s)
        wait_answered(self.addr, self.port, ".", "SOA", deadline_s, tcp_too=True)
        return self

    def stop(self):
        if self.child:
            return self.child.stop()

    def stats(self):
        """Knot's counters as a dict {'mod-stats.request-protocol[udp4]': n, ...}."""
        r = subprocess.run([KNOTC, "-c", self.conf, "-t", "5", "stats"], capture_output=True,
                           text=True, timeout=10, stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            raise RuntimeError(f"knotc stats failed: {r.stdout}{r.stderr}")
        out = {}
        for line in r.stdout.splitlines():
            m = re.match(r"\s*(\S+)\s*=\s*(\d+)\s*$", line)
            if m:
                out[m.group(1)] = int(m.group(2))
        return out

    def query_count(self):
        """How many queries the stand-in has received (UDP and TCP, v4 and v6)."""
        s = self.stats()
        return sum(v for k, v in s.items() if k.startswith("mod-stats.request-protocol["))

    def tcp_count(self):
        s = self.stats()
        return sum(v for k, v in s.items()
                   if k.startswith("mod-stats.request-protocol[tcp"))

    def upstream(self):
        return f"{self.addr}:{self.port}"


# ---------------------------------------------------------------------------------------------
# vnetdns


def _toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(v)


def fmt_listen(addr, port):
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"


class Vnetdns:
    """vnetdns serve -c CONFIG, with a config written here; listens on 127.0.0.1 and ::1."""

    def __init__(self, binary, workdir, *, zones=(), forwards=(), allow=("127.0.0.0/8", "::1/128"),
                 listen_addrs=(LOOPBACK4, LOOPBACK6), port=None, threads=1, log_level=os.environ.get("VNETDNS_TEST_LOG", "info"),
                 cache_entries=100000, extra_toml="", name="vnetdns", log_toml=""):
        for a in listen_addrs:
            _assert_loopback(a)
        for fw in forwards:
            for u in fw["upstreams"]:
                host = u.rsplit(":", 1)[0].strip("[]")
                _assert_loopback(host)
        self.binary = binary
        self.addrs = list(listen_addrs)
        self.addr = self.addrs[0]
        self.port = port or free_port(self.addrs)
        self.dir = tempfile.mkdtemp(prefix=f"{name}-", dir=workdir)
        self.name = name
        self.zone_files = {}  # zone name -> the copy this instance serves (edit it, then SIGHUP)
        lines = ["[server]",
                 f"listen = {_toml_value([fmt_listen(a, self.port) for a in self.addrs])}",
                 f"threads = {threads}", "",
                 "[log]", f"level = {_toml_value(log_level)}", log_toml, "",
                 "[acl]", f"allow = {_toml_value(list(allow))}", "",
                 "[cache]", f"max_entries = {cache_entries}", ""]
        for z in zones:
            zfile = z["file"]
            local = os.path.join(self.dir, os.path.basename(zfile))
            shutil.copyfile(zfile, local)
            self.zone_files[z["name"]] = local
            lines += ["[[zone]]", f"name = {_toml_value(z['name'])}",
                      f"file = {_toml_value(os.path.basename(zfile))}",
                      f"on_miss = {_toml_value(z.get('on_miss', 'nxdomain'))}", ""]
        for fw in forwards:
            lines += ["[[forward]]", f"zone = {_toml_value(fw['zone'])}",
                      f"upstreams = {_toml_value(list(fw['upstreams']))}"]
            for k, v in fw.items():
                if k not in ("zone", "upstreams"):
                    lines.append(f"{k} = {_toml_value(v)}")
            lines.append("")
        if extra_toml:
            lines.append(extra_toml)
        self.config_text = "\n".join(lines) + "\n"
        self.config = os.path.join(self.dir, "vnetdns.toml")
        with open(self.config, "w") as f:
            f.write(self.config_text)
        self.child = None

    def start(self, deadline_s=15.0, probe=("privatelink.azurecr.io", "SOA"), probe_source=None,
              env=None):
        """Starts it and waits for the "listening" log line, then (unless probe is None) for
        a reply on every listen address over UDP and TCP. `env`: the child's environment
        (default: this process's)."""
        self.child = Child(self.name, [self.binary, "serve", "-c", self.config],
                           os.path.join(self.dir, "vnetdns.log"), cwd=self.dir, env=env)
        self.child.wait_for_line(r"listening", deadline_s)
        if probe:
            for a in self.addrs:
                src = probe_source if probe_source and (":" in a) == (":" in probe_source) else None
                wait_answered(a, self.port, probe[0], probe[1], deadline_s, source=src,
                              tcp_too=True)
        return self

    def alive(self):
        return self.child is not None and self.child.alive()

    def stop(self):
        if self.child:
            return self.child.stop()

    def tail(self):
        return self.child.tail() if self.child else ""


def private_zone(on_miss="nxdomain", file=None):
    return {"name": "privatelink.azurecr.io",
            "file": file or os.path.join(DATA, "privatelink.azurecr.io.zone"),
            "on_miss": on_miss}


# ---------------------------------------------------------------------------------------------
# The admin endpoint (HTTP) and its Prometheus text


def admin_toml(port, addr=LOOPBACK4, allow=None):
    """An [admin] table for Vnetdns(extra_toml=...)."""
    _assert_loopback(addr)
    lines = ["[admin]", f"listen = {_toml_value(fmt_listen(addr, port))}"]
    if allow is not None:
        lines.append(f"allow = {_toml_value(list(allow))}")
    return "\n".join(lines) + "\n"


def http_request(addr, port, method, path, source=None, timeout=10.0):
    """One HTTP/1.1 request; returns (status, body text). `source` binds the client address."""
    import http.client
    _assert_loopback(addr)
    if source:
        _assert_loopback(source)
    conn = http.client.HTTPConnection(addr, port, timeout=timeout,
                                      source_address=(source, 0) if source else None)
    try:
        conn.request(method, path)
        r = conn.getresponse()
        return r.status, r.read().decode("utf-8", "replace")
    finally:
        conn.close()


_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\["\\n])*)"')


def parse_prometheus(text):
    """Parses (and strictly checks) Prometheus text format 0.0.4 as vnetdns writes it.
    Returns {(name, ((label, value), ...)): float}; raises ValueError naming the bad line.
    Checks: every line is HELP, TYPE or a sample; each family has one HELP and one TYPE
    before its samples and its samples are contiguous; counters end in _total; label
    syntax and escapes; no duplicate series; values parse as floats; text ends with \\n."""
    if text and not text.endswith("\n"):
        raise ValueError("the exposition does not end with a newline")
    samples, types, helps, closed = {}, {}, set(), set()
    current = None
    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith("# HELP "):
            name = line.split(" ", 3)[2]
            if name in helps:
                raise ValueError(f"line {n}: second HELP for {name}")
            helps.add(name)
            if current and current != name:
                closed.add(current)
            current = name
            continue
        if line.startswith("# TYPE "):
            parts = line.split(" ")
            if len(parts) != 4 or parts[3] not in ("counter", "gauge", "histogram", "summary",
                                                   "untyped"):
                raise ValueError(f"line {n}: bad TYPE line {line!r}")
            name = parts[2]
            if name in types:
                raise ValueError(f"line {n}: second TYPE for {name}")
            if parts[3] == "counter" and not name.endswith("_total"):
                raise ValueError(f"line {n}: counter {name} does not end in _total")
            types[name] = parts[3]
            current = name
            continue
        if line.startswith("#") or not line.strip():
            raise ValueError(f"line {n}: unexpected line {line!r}")
        m = _SAMPLE.match(line)
        if not m:
            raise ValueError(f"line {n}: not a sample: {line!r}")
        series_name, _, labels, value = m.groups()
        name = series_name
        for suffix in ("_bucket", "_sum", "_count"):
            # A histogram's samples carry suffixes of its family name.
            base = series_name[: -len(suffix)] if series_name.endswith(suffix) else None
            if base and types.get(base) in ("histogram", "summary") and base == current:
                name = base
        if name not in types or name in closed or name != current:
            raise ValueError(f"line {n}: sample of {name} outside its family (TYPE first, "
                             "samples contiguous)")
        if name not in helps:
            raise ValueError(f"line {n}: {name} has no HELP")
        pairs = []
        if labels:
            pos = 0
            while pos < len(labels):
                lm = _LABEL.match(labels, pos)
                if not lm:
                    raise ValueError(f"line {n}: bad labels {labels!r}")
                pairs.append((lm.group(1), lm.group(2)))
                pos = lm.end()
                if pos < len(labels):
                    if labels[pos] != ",":
                        raise ValueError(f"line {n}: bad labels {labels!r}")
                    pos += 1
        key = (series_name, tuple(sorted(pairs)))
        if key in samples:
            raise ValueError(f"line {n}: duplicate series {line!r}")
        samples[key] = float(value)
    return samples


def metric(samples, name, **labels):
    """One value from parse_prometheus() output (0.0 when the series is absent)."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


# ---------------------------------------------------------------------------------------------
# On-prem forwarders (BIND, Unbound) in front of vnetdns, configured from deploy/onprem/


NAMED = shutil.which("named") or "/usr/sbin/named"
UNBOUND = shutil.which("unbound") or "/usr/sbin/unbound"


def onprem_snippets(source_dir, servers):
    """deploy/onprem/generate.py's snippets rendered for `servers` (a list of strings written
    as each program wants them, e.g. "127.0.0.1 port 5353" for BIND, "127.0.0.1@5353" for
    Unbound): {file name: text}."""
    import importlib.util
    path = os.path.join(source_dir, "deploy", "onprem", "generate.py")
    spec = importlib.util.spec_from_file_location("vnetdns_onprem_generate", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.render(servers, mod.public_zones(
        os.path.join(source_dir, "zones", "azure-privatelink-zones.txt")))


def named_conf(rundir, listen_addr, port, snippet_path, root_forwarders, clients=("127.0.0.0/8",),
               servers_allowed=("127.0.0.0/8",)):
    """A named.conf for a forwarding BIND that includes `snippet_path` (the BIND snippet of
    deploy/onprem/) and forwards everything else ("." included, `forward only`) to
    `root_forwarders` ("ADDR port N" strings): it never iterates from the root hints. Every
    server outside `servers_allowed` is marked bogus, so BIND sends nothing anywhere else."""
    fw = " ".join(f"{f};" for f in root_forwarders)
    allow = " ".join(f"{c};" for c in clients)
    lines = [
        "options {",
        f'  directory "{rundir}";',
        f'  pid-file "{rundir}/named.pid";',
        f'  session-keyfile "{rundir}/session.key";',
        f'  managed-keys-directory "{rundir}";',
        f"  listen-on port {port} {{ {listen_addr}; }};",
        "  listen-on-v6 { none; };",
        "  recursion yes;",
        f"  allow-query {{ {allow} }};",
        f"  allow-recursion {{ {allow} }};",
        "  dnssec-validation no;",
        "  forward only;",
        f"  forwarders {{ {fw} }};",
        "  notify no;",
        "  automatic-interface-scan no;",
        "};",
        "controls { };",
        "server 0.0.0.0/0 { bogus yes; };",
        "server ::/0 { bogus yes; };",
    ]
    lines += [f"server {p} {{ bogus no; }};" for p in servers_allowed]
    lines.append(f'include "{snippet_path}";')
    return "\n".join(lines) + "\n"


def start_authoritative_named(ctx, name, port, options=(), body=()):
    """An authoritative BIND (`named -g`, no recursion, no control channel) on 127.0.0.1:`port`
    in its own folder under ctx.workdir, with extra `options` lines and top-level `body`
    lines (zones, keys, statistics). Started as a child of the test and stopped by PID.
    Returns (Child, rundir)."""
    rundir = os.path.join(ctx.workdir, f"{name}-{port}")
    os.makedirs(rundir, exist_ok=True)
    conf = os.path.join(rundir, "named.conf")
    with open(conf, "w") as f:
        f.write("\n".join([
            "options {",
            f'  directory "{rundir}";',
            f'  pid-file "{rundir}/named.pid";',
            f'  session-keyfile "{rundir}/session.key";',
            f'  managed-keys-directory "{rundir}";',
            f"  listen-on port {port} {{ 127.0.0.1; }};",
            "  listen-on-v6 { none; };",
            "  recursion no;",
            "  dnssec-validation no;",
            "  automatic-interface-scan no;",
            *[f"  {o}" for o in options],
            "};",
            "controls { };",
            "server 0.0.0.0/0 { bogus yes; };",
            "server 127.0.0.0/8 { bogus no; };",
            *body]) + "\n")
    child = Child(name, [NAMED, "-g", "-n", "1", "-c", conf], os.path.join(rundir, "named.log"))
    ctx.stack.callback(child.stop)
    child.wait_for_line(r"running", 30)
    return child, rundir


def unbound_conf(rundir, listen_addr, port, snippet_path, root_forwarders,
                 clients=("127.0.0.0/8",), private_address=("10.0.0.0/8",), access="allow",
                 extra=(), logfile=""):
    """An unbound.conf (foreground, iterator only: no DNSSEC, no trust anchor) that includes
    `snippet_path` (the Unbound snippet of deploy/onprem/) and forwards "." to
    `root_forwarders` ("ADDR@PORT"), forward-first no: the root hints are never used.
    `private_address` turns on DNS-rebinding protection for those ranges, which the
    snippet's private-domain lines must lift for the private-link zones. Without a snippet
    (None) it is a plain forwarder; `access` is the access-control action for `clients`,
    `extra` more server: lines, `logfile` where Unbound logs ("": stderr)."""
    lines = [
        "server:",
        "  verbosity: 1",
        f"  interface: {listen_addr}@{port}",
        f"  port: {port}",
        "  do-ip6: no",
        "  do-daemonize: no",
        '  username: ""',
        '  chroot: ""',
        f'  directory: "{rundir}"',
        f'  pidfile: "{rundir}/unbound.pid"',
        "  use-syslog: no",
        f'  logfile: "{logfile}"',
        "  num-threads: 1",
        "  do-not-query-localhost: no",
        '  module-config: "iterator"',
    ]
    lines += [f"  {line}" for line in extra]
    lines += [f"  access-control: {c} {access}" for c in clients]
    lines += [f"  private-address: {a}" for a in private_address]
    lines += ["remote-control:", "  control-enable: no",
              "forward-zone:", '  name: "."']
    lines += [f"  forward-addr: {f}" for f in root_forwarders]
    lines += ["  forward-first: no"]
    if snippet_path is not None:
        lines += [f'include: "{snippet_path}"']
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# Reporting and the script entry point


class Tap:
    """Prints one "ok - ..." / "not ok - ..." line per assertion and counts failures."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def ok(self, cond, what, detail=""):
        if cond:
            self.passed += 1
            print(f"ok - {what}", flush=True)
        else:
            self.failed += 1
            print(f"not ok - {what}", flush=True)
            if detail:
                for line in str(detail).splitlines():
                    print(f"#   {line}", flush=True)
        return bool(cond)

    def eq(self, got, want, what, detail=""):
        extra = f"\n{detail}" if detail else ""
        return self.ok(got == want, what, f"got:  {got!r}\nwant: {want!r}{extra}")


class Context:
    """What a check needs: paths, a temp folder, and an ExitStack that stops every server."""

    def __init__(self, binary, source, workdir, stack):
        self.binary = binary
        self.source = source
        self.workdir = workdir
        self.stack = stack
        self.servers = []

    def standin(self, **kw):
        s = StandIn(self.source, self.workdir, **kw)
        self.servers.append(s)
        self.stack.callback(s.stop)
        return s.start()

    def vnetdns(self, start=True, probe=("privatelink.azurecr.io", "SOA"), probe_source=None,
                **kw):
        v = Vnetdns(self.binary, self.workdir, **kw)
        self.servers.append(v)
        self.stack.callback(v.stop)
        return v.start(probe=probe, probe_source=probe_source) if start else v


def main(checks, description=""):
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--binary", required=True, help="path to the vnetdns binary")
    ap.add_argument("--source", default=os.path.dirname(os.path.dirname(HERE)),
                    help="repository root (for deploy/standin)")
    ap.add_argument("--keep", action="store_true", help="keep the temp folder (logs, configs)")
    ap.add_argument("-k", dest="only", default=None, help="run only checks whose name has this")
    args = ap.parse_args()

    # SIGTERM (e.g. CTest's timeout) unwinds through the finally paths below.
    def on_term(signum, _frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)

    t = Tap()
    binary = os.path.abspath(args.binary)
    source = os.path.abspath(args.source)
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        t.ok(False, f"vnetdns binary exists at {binary}")
        return 1
    if not os.path.exists(KNOTD):
        t.ok(False, f"knotd is installed ({KNOTD}); run deploy/install-deps.sh test")
        return 1
    workdir = tempfile.mkdtemp(prefix="vnetdns-it-")
    try:
        for check in checks:
            if args.only and args.only not in check.__name__:
                continue
            print(f"# {check.__name__}: {(check.__doc__ or '').strip().splitlines()[0]}",
                  flush=True)
            with contextlib.ExitStack() as stack:
                ctx = Context(binary, source, workdir, stack)
                try:
                    check(ctx, t)
                except Exception as e:  # noqa: BLE001 - a crashed check is a failure
                    detail = traceback.format_exc()
                    for srv in ctx.servers:
                        if srv.child:
                            detail += f"\n{srv.child.name} log ({srv.child.log_path}):\n"
                            detail += srv.child.tail()
                    t.ok(False, f"{check.__name__} ran to the end ({type(e).__name__}: {e})",
                         detail)
    finally:
        if args.keep or t.failed:
            print(f"# logs and configs kept in {workdir}", flush=True)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"# {t.passed} passed, {t.failed} failed", flush=True)
    return 0 if t.failed == 0 and t.passed > 0 else 1
