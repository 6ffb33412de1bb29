#!/usr/bin/python3
"""A small scriptable fake upstream DNS server for fault-injection tests (loopback only).

Run as a child process of a test (see `FakeUpstream` below, which starts it through
harness.Child, so it is stopped by PID and reaped like every other server):

    /usr/bin/python3 fake_upstream.py --addr 127.0.0.3 [--port P] [--address 192.0.2.1]

It serves UDP and TCP on ADDR:PORT (PORT 0 or absent: a free port, the same for both) and a
control channel on a second TCP port of ADDR; once every socket is bound it prints one line
    fake-upstream ready addr=ADDR port=PORT control=CPORT
The control channel speaks one JSON object per line, one reply line per request:
    {"cmd": "set", "name": "x.example.", "rule": {...}}   rule for one name ("*" = every name
                                                          without a rule of its own)
    {"cmd": "clear"}                                      drop every rule (default behaviour)
    {"cmd": "stats"}                                      counters (below)
    {"cmd": "reset"}                                      zero the counters and the log
Replies: {"ok": true, ...} or {"ok": false, "error": "..."}.

A rule (every key optional):
    drop: true            blackhole: never answer (the query is counted, not outstanding)
    rcode: "SERVFAIL"     "NOERROR" (default), "SERVFAIL", "REFUSED", "NXDOMAIN", "FORMERR"
    delay_ms: 500         answer after this long (the query is outstanding meanwhile)
    ttl: 300              TTL of the answer records (and of the SOA of negative answers)
    address: "10.0.0.{n}" the A record; "{n}" = how many queries this name has received
    tc: true              over UDP answer TC=1 with no records; over TCP the full answer
    formerr_edns: true    a query with an OPT record gets FORMERR without OPT
    before: [...]         bogus replies sent (to the same client) before the real one:
                          "wrong_id", "wrong_port" (right ID, from another source port),
                          "wrong_question" (right ID, question evil.example. A),
                          "wrong_type" (right ID and name, another type: AAAA ::6, or A
                          for an AAAA query), "garbage" (random
                          bytes), "garbage_header" (right ID, a valid-looking header, junk),
                          "wrong_cookie" (right ID and question, a COOKIE whose client cookie
                          is not the query's, RFC 7873 section 5.3);
                          all that carry an address carry 6.6.6.6
    only_before: true     send the bogus replies and no real one
    extra: [{...}]        records added to the real reply, e.g. out-of-bailiwick ones:
                          {"section": "answer"|"authority"|"additional", "name": "x.example.",
                           "type": "A", "data": "6.6.6.6", "ttl": 3600}
    case: "swap"          the real reply's question (and answer owner) in swapped letter
                          case (an upstream, or a forger, that does not echo 0x20 case)
    server_cookie: "HEX"  DNS cookies (RFC 7873): a query with a COOKIE option gets it back
                          as its client cookie followed by this server cookie (8..32 bytes);
                          without this key replies carry no COOKIE (a server without cookies)
    require_cookie: true  with server_cookie, over UDP (as BIND's require-server-cookie):
                          a query whose COOKIE does not carry exactly that server cookie gets
                          BADCOOKIE (extended RCODE 23) with it; "always": every UDP query
                          with a COOKIE gets BADCOOKIE (only TCP is answered)
Answers: A -> the address (default --address); NS -> ns.fake-upstream.; TXT -> "fake";
anything else NODATA with an SOA. Answers to a query with EDNS carry an OPT (1232).

Counters ("stats"): total, per name {"udp", "tcp", "edns", "noedns", "types": {TYPE: n}},
tcp_connections (accepted), outstanding (received, to be answered, not yet answered),
max_outstanding, dropped, a log
of [monotonic time, name, type, proto, edns] per query and one of [time, name, type, proto]
per real reply sent, "sources": [name as received (case kept), proto, client source
port, query ID] per query, and "cookies": [name, proto, COOKIE option as hex or null] per
query (times are time.monotonic(), i.e.
CLOCK_MONOTONIC, the clock vnetdns's steady_clock reads, so times compare across processes).
"""

import argparse
import heapq
import json
import os
import socket
import struct
import sys
import threading
import time

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

BOGUS_ADDRESS = "6.6.6.6"
COOKIE_OPTION = 10  # EDNS option code (RFC 7873)
BADCOOKIE = 23      # extended RCODE (RFC 7873 section 8)
EVIL_NAME = "evil.example."
MAX_LOG = 200000


def _assert_loopback(addr):
    if addr == "::1" or addr.startswith("127."):
        return
    raise ValueError(f"refusing non-loopback address {addr!r}")


def query_cookie(msg):
    """The COOKIE option's bytes of a message (client cookie + server cookie), or None."""
    for o in msg.options:
        if o.otype == COOKIE_OPTION:
            data = getattr(o, "data", None)
            if data is None:  # dnspython >= 2.5 parses it: CookieOption(client, server)
                data = o.client + o.server
            return bytes(data)
    return None


def with_cookie(r, cookie):
    """Gives response `r` EDNS (if it has none) with exactly one COOKIE option `cookie`."""
    flags = r.ednsflags if r.edns >= 0 else 0
    r.use_edns(0, flags, 1232, options=[dns.edns.GenericOption(COOKIE_OPTION, cookie)])


# ---------------------------------------------------------------------------------------------
# The server (child process)


class Scheduler:
    """Runs callables at monotonic times, in one thread."""

    def __init__(self):
        self._heap = []
        self._seq = 0
        self._cond = threading.Condition()
        threading.Thread(target=self._run, daemon=True).start()

    def at(self, when, fn):
        with self._cond:
            self._seq += 1
            heapq.heappush(self._heap, (when, self._seq, fn))
            self._cond.notify()

    def _run(self):
        while True:
            with self._cond:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    timeout = None if not self._heap else self._heap[0][0] - time.monotonic()
                    self._cond.wait(timeout)
                _, _, fn = heapq.heappop(self._heap)
            try:
                fn()
            except Exception as e:  # noqa: BLE001 - keep serving
                print(f"fake-upstream: scheduled action failed: {e!r}", flush=True)


class Server:
    def __init__(self, addr, port, address):
        _assert_loopback(addr)
        self.addr = addr
        self.default_address = address
        self.fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
        self.lock = threading.Lock()
        self.rules = {}
        self._reset_counters()
        self.sched = Scheduler()
        self.udp, self.tcp, self.port = self._bind(port)
        self.other = socket.socket(self.fam, socket.SOCK_DGRAM)  # the "wrong port" socket
        self.other.bind((addr, 0))
        self.control = socket.socket(self.fam, socket.SOCK_STREAM)
        self.control.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.control.bind((addr, 0))
        self.control.listen(16)
        self.udp_lock = threading.Lock()

    def _bind(self, port):
        for _ in range(100):
            u = socket.socket(self.fam, socket.SOCK_DGRAM)
            t = socket.socket(self.fam, socket.SOCK_STREAM)
            try:
                u.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
                t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                u.bind((self.addr, port))
                p = u.getsockname()[1]
                t.bind((self.addr, p))
                t.listen(128)
                return u, t, p
            except OSError:
                u.close()
                t.close()
                if port:
                    raise
        raise RuntimeError("no free port")

    def _reset_counters(self):
        self.total = 0
        self.names = {}
        self.outstanding = 0
        self.max_outstanding = 0
        self.dropped = 0
        self.log = []
        self.replies = []
        self.sources = []
        self.cookies = []
        self.tcp_connections = 0

    # --- control ---

    def serve_control(self):
        while True:
            conn, _ = self.control.accept()
            threading.Thread(target=self._control_conn, args=(conn,), daemon=True).start()

    def _control_conn(self, conn):
        with conn:
            f = conn.makefile("rwb")
            for line in f:
                try:
                    req = json.loads(line)
                    rep = self._command(req)
                except Exception as e:  # noqa: BLE001 - report it to the test
                    rep = {"ok": False, "error": repr(e)}
                f.write((json.dumps(rep) + "\n").encode())
                f.flush()

    def _command(self, req):
        cmd = req.get("cmd")
        with self.lock:
            if cmd == "set":
                name = req["name"]
                key = "*" if name == "*" else dns.name.from_text(name).to_text().lower()
                self.rules[key] = dict(req.get("rule") or {})
                return {"ok": True}
            if cmd == "clear":
                self.rules.clear()
                return {"ok": True}
            if cmd == "reset":
                self._reset_counters()
                return {"ok": True}
            if cmd == "stats":
                return {"ok": True, "total": self.total, "names": self.names,
                        "outstanding": self.outstanding,
                        "max_outstanding": self.max_outstanding, "dropped": self.dropped,
                        "log": self.log, "replies": self.replies, "sources": self.sources,
                        "cookies": self.cookies, "tcp_connections": self.tcp_connections}
        raise ValueError(f"unknown command {cmd!r}")

    # --- queries ---

    def serve_udp(self):
        while True:
            data, peer = self.udp.recvfrom(65535)
            self._handle(data, "udp", lambda out, p=peer: self._send_udp(out, p),
                         lambda out, p=peer: self.other.sendto(out, p), peer_port=peer[1])

    def _send_udp(self, out, peer):
        with self.udp_lock:
            self.udp.sendto(out, peer)

    def serve_tcp(self):
        while True:
            conn, peer = self.tcp.accept()
            with self.lock:
                self.tcp_connections += 1
            threading.Thread(target=self._tcp_conn, args=(conn, peer[1]), daemon=True).start()

    def _tcp_conn(self, conn, peer_port=0):
        wlock = threading.Lock()

        def send(out):
            with wlock:
                try:
                    conn.sendall(struct.pack("!H", len(out)) + out)
                except OSError:
                    pass

        try:
            conn.settimeout(30)
            while True:
                hdr = self._recv_exact(conn, 2)
                if hdr is None:
                    break
                data = self._recv_exact(conn, struct.unpack("!H", hdr)[0])
                if data is None:
                    break
                self._handle(data, "tcp", send, send, peer_port=peer_port)
        except OSError:
            pass
        finally:
            # Delayed answers may still be due on this connection: close it a bit later.
            self.sched.at(time.monotonic() + 10, conn.close)

    @staticmethod
    def _recv_exact(conn, n):
        buf = b""
        while len(buf) < n:
            chunk = conn.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return buf

    def _rule(self, name):
        return self.rules.get(name) or self.rules.get("*") or {}

    def _handle(self, data, proto, send, send_other, peer_port=0):
        try:
            q = dns.message.from_wire(data)
        except Exception:  # noqa: BLE001 - not a query we can read: ignore it
            return
        if not q.question:
            return
        qrr = q.question[0]
        name = qrr.name.to_text().lower()
        qtype = dns.rdatatype.to_text(qrr.rdtype)
        edns = q.edns >= 0
        if ".vnetdns-loop-check." in name:
            # vnetdns's start-up loop probe (pipeline/loop_guard.hpp): answered, never counted,
            # so the counters hold only what a test's clients caused.
            r = dns.message.make_response(q)
            r.set_rcode(dns.rcode.NXDOMAIN)
            send(r.to_wire())
            return
        with self.lock:
            self.total += 1
            c = self.names.setdefault(name, {"udp": 0, "tcp": 0, "edns": 0, "noedns": 0,
                                              "types": {}})
            c[proto] += 1
            c["edns" if edns else "noedns"] += 1
            c["types"][qtype] = c["types"].get(qtype, 0) + 1
            n = sum(c["types"].values())
            if len(self.log) < MAX_LOG:
                self.log.append([time.monotonic(), name, qtype, proto, edns])
            if len(self.sources) < MAX_LOG:
                self.sources.append([qrr.name.to_text(), proto, peer_port, q.id])
            if len(self.cookies) < MAX_LOG:
                c = query_cookie(q)
                self.cookies.append([name, proto, c.hex() if c is not None else None])
            rule = dict(self._rule(name))
            answers = not rule.get("drop") and not rule.get("only_before")
            if answers:
                self.outstanding += 1
                self.max_outstanding = max(self.max_outstanding, self.outstanding)
            else:
                self.dropped += 1
        # Bogus replies model an off-path attacker, who cannot inject into a TCP stream.
        for kind in (rule.get("before", []) if proto == "udp" else []):
            try:
                self._bogus(kind, q, send, send_other)
            except OSError:
                pass
        if not answers:
            return
        out = self._answer(q, rule, proto, n)
        delay = rule.get("delay_ms", 0) / 1000.0
        # Bogus replies first: the real one follows them a little later.
        if rule.get("before") and delay < 0.05:
            delay = 0.05

        def reply():
            with self.lock:
                self.outstanding -= 1  # answered: no longer outstanding (before the send)
                if len(self.replies) < MAX_LOG:
                    self.replies.append([time.monotonic(), name, qtype, proto])
            try:
                send(out)
            except OSError:
                pass

        if delay > 0:
            self.sched.at(time.monotonic() + delay, reply)
        else:
            reply()

    def _answer(self, q, rule, proto, n):
        qrr = q.question[0]
        r = dns.message.make_response(q)
        r.flags |= dns.flags.RA
        ttl = int(rule.get("ttl", 300))
        if rule.get("formerr_edns") and q.edns >= 0:
            r = dns.message.make_response(q)
            r.use_edns(False)
            r.set_rcode(dns.rcode.FORMERR)
            return r.to_wire()
        # DNS cookies (RFC 7873): echo the client cookie with our server cookie; BADCOOKIE
        # (section 5.2.3) when the rule requires that server cookie and the query lacks it.
        client_cookie = query_cookie(q)
        server_cookie = rule.get("server_cookie")
        cookie = None
        if server_cookie and client_cookie is not None and len(client_cookie) >= 8:
            server_cookie = bytes.fromhex(server_cookie)
            cookie = client_cookie[:8] + server_cookie
            required = rule.get("require_cookie")
            if proto == "udp" and (required == "always" or
                                   (required and client_cookie[8:] != server_cookie)):
                r = dns.message.make_response(q)
                with_cookie(r, cookie)
                r.set_rcode(BADCOOKIE)
                return r.to_wire()
        r = self._records(q, r, rule, proto, n, ttl)
        if cookie is not None:
            with_cookie(r, cookie)
        return r.to_wire(max_size=65535)

    def _records(self, q, r, rule, proto, n, ttl):
        """The real reply `r` to `q` with its rcode and records (as a Message)."""
        qrr = q.question[0]
        rcode = dns.rcode.from_text(rule.get("rcode", "NOERROR"))
        r.set_rcode(rcode)
        if rcode in (dns.rcode.SERVFAIL, dns.rcode.REFUSED, dns.rcode.FORMERR):
            return r
        if rule.get("tc") and proto == "udp":
            r.flags |= dns.flags.TC
            return r
        apex = qrr.name.parent() if len(qrr.name) > 2 else qrr.name
        soa = dns.rrset.from_text(apex, ttl, "IN", "SOA",
                                  f"ns.fake-upstream. host.fake-upstream. 1 60 60 3600 {ttl}")
        if rcode == dns.rcode.NXDOMAIN:
            r.authority.append(soa)
            return r
        if qrr.rdtype == dns.rdatatype.A:
            addr = str(rule.get("address", self.default_address)).replace("{n}", str(n % 256))
            r.answer.append(dns.rrset.from_text(qrr.name, ttl, "IN", "A", addr))
        elif qrr.rdtype == dns.rdatatype.NS:
            r.answer.append(dns.rrset.from_text(qrr.name, ttl, "IN", "NS", "ns.fake-upstream."))
        elif qrr.rdtype == dns.rdatatype.TXT:
            rrs = [f'"fake {i:03d} ' + "x" * 80 + '"' for i in range(int(rule.get("txt", 1)))]
            r.answer.append(dns.rrset.from_text_list(qrr.name, ttl, "IN", "TXT", rrs))
        else:
            r.authority.append(soa)
        for x in rule.get("extra", []):
            rrset = dns.rrset.from_text(x["name"], int(x.get("ttl", 3600)), "IN",
                                        x.get("type", "A"), x.get("data", BOGUS_ADDRESS))
            getattr(r, x.get("section", "additional")).append(rrset)
        if rule.get("case") == "swap":
            swapped = dns.name.from_text(qrr.name.to_text().swapcase())
            r.question = [dns.rrset.RRset(swapped, qrr.rdclass, qrr.rdtype)]
            for rrset in r.answer:
                if rrset.name == qrr.name:
                    rrset.name = swapped
        return r

    def _bogus(self, kind, q, send, send_other):
        qrr = q.question[0]
        if kind in ("garbage", "garbage_header"):
            junk = os.urandom(40)
            if kind == "garbage_header":
                junk = struct.pack("!HHHHHH", q.id, 0x8180, 1, 1, 0, 0) + os.urandom(7)
            send(junk)
            return
        if kind == "wrong_question":
            fake_q = dns.message.make_query(EVIL_NAME, "A")
            fake_q.id = q.id
            r = dns.message.make_response(fake_q)
            r.answer.append(dns.rrset.from_text(EVIL_NAME, 3600, "IN", "A", BOGUS_ADDRESS))
        elif kind == "wrong_type":
            # The same name with another type (A for an A query would be the right question).
            if qrr.rdtype == dns.rdatatype.AAAA:
                fake_q = dns.message.make_query(qrr.name, "A")
                rr = dns.rrset.from_text(qrr.name, 3600, "IN", "A", BOGUS_ADDRESS)
            else:
                fake_q = dns.message.make_query(qrr.name, "AAAA")
                rr = dns.rrset.from_text(qrr.name, 3600, "IN", "AAAA", "::6")
            fake_q.id = q.id
            r = dns.message.make_response(fake_q)
            r.answer.append(rr)
        else:
            r = dns.message.make_response(q)
            if qrr.rdtype == dns.rdatatype.A:
                r.answer.append(dns.rrset.from_text(qrr.name, 3600, "IN", "A", BOGUS_ADDRESS))
            if kind == "wrong_id":
                r.id = (q.id + 1) & 0xFFFF
            if kind == "wrong_cookie":
                # Right ID and question, but not the client cookie the query carried.
                c = query_cookie(q) or os.urandom(8)
                forged = bytes([c[0] ^ 0xFF]) + c[1:8]
                with_cookie(r, forged + os.urandom(16))
        out = r.to_wire()
        if kind == "wrong_port":
            send_other(out)
        else:
            send(out)


def serve(argv):
    ap = argparse.ArgumentParser(description="fake upstream DNS server (loopback only)")
    ap.add_argument("--addr", default="127.0.0.3")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--address", default="192.0.2.1", help="default A record of answers")
    args = ap.parse_args(argv)
    s = Server(args.addr, args.port, args.address)
    for target in (s.serve_udp, s.serve_tcp, s.serve_control):
        threading.Thread(target=target, daemon=True).start()
    print(f"fake-upstream ready addr={s.addr} port={s.port} control={s.control.getsockname()[1]}",
          flush=True)
    threading.Event().wait()  # until SIGTERM/SIGKILL


# ---------------------------------------------------------------------------------------------
# The test side


class FakeUpstream:
    """Starts fake_upstream.py as a child (harness.Child: stopped by PID and reaped) and talks
    to its control channel. `upstream()` is the "addr:port" string for a vnetdns config."""

    def __init__(self, workdir, addr="127.0.0.3", port=0, address="192.0.2.1", name=None):
        _assert_loopback(addr)
        self.addr = addr
        self.port = port
        self.address = address
        self.workdir = workdir
        self.name = name or f"fake-{addr}"
        self.control_port = None
        self.child = None

    def start(self, deadline_s=10.0):
        import harness  # the test's harness (same folder), for Child
        log = os.path.join(self.workdir, f"{self.name}-{int(time.monotonic() * 1000)}.log")
        self.child = harness.Child(self.name, [sys.executable, os.path.abspath(__file__),
                                               "--addr", self.addr, "--port", str(self.port),
                                               "--address", self.address], log)
        line = self.child.wait_for_line(r"fake-upstream ready", deadline_s)
        fields = dict(kv.split("=", 1) for kv in line.split()[2:])
        self.port = int(fields["port"])
        self.control_port = int(fields["control"])
        return self

    def stop(self):
        if self.child:
            return self.child.stop()

    def kill(self):
        """SIGKILL (an upstream that dies), then reap it."""
        if self.child and self.child.alive():
            self.child.proc.kill()
        return self.stop()

    def alive(self):
        return self.child is not None and self.child.alive()

    def upstream(self):
        return f"[{self.addr}]:{self.port}" if ":" in self.addr else f"{self.addr}:{self.port}"

    def command(self, req, timeout=5.0):
        with socket.create_connection((self.addr, self.control_port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall((json.dumps(req) + "\n").encode())
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = s.recv(1 << 20)
                if not chunk:
                    break
                buf += chunk
        rep = json.loads(buf)
        if not rep.get("ok"):
            raise RuntimeError(f"{self.name}: {req.get('cmd')} failed: {rep.get('error')}")
        return rep

    def set(self, name, **rule):
        return self.command({"cmd": "set", "name": name, "rule": rule})

    def clear(self):
        return self.command({"cmd": "clear"})

    def reset(self):
        return self.command({"cmd": "reset"})

    def stats(self):
        return self.command({"cmd": "stats"})

    def count(self, name, qtype=None, proto=None):
        """Queries received for `name` (of `qtype`, over `proto`)."""
        key = dns.name.from_text(name).to_text().lower()
        c = self.stats()["names"].get(key)
        if not c:
            return 0
        if qtype:
            return c["types"].get(qtype, 0)
        if proto:
            return c[proto]
        return sum(c["types"].values())

    def log(self):
        return self.stats()["log"]


if __name__ == "__main__":
    serve(sys.argv[1:])
