#!/usr/bin/python3
"""vnetdns against real scripted upstreams: NLnet Labs' ldns-testns (Debian ldnsutils) with a
few-line data file per behaviour: an upstream that answers after 1 s, after 2 s, after 5 s
(past the 4 s deadline), one that does not keep the 0x20 letter case of the question, one that
answers FORMERR to EDNS for one name only, and failover from an upstream that never answers
(a UDP socket of this test that reads and never replies) to one that does. Every check runs
vnetdns with the default `timeout` (1 s per try) and `deadline` (4 s).

ldns-testns binds the wildcard address (INADDR_ANY, it has no option to bind loopback), so
this script first moves itself into a private network namespace of its own (unshare
CLONE_NEWNET; where that needs it, inside a user namespace) that holds only `lo`: ldns-testns,
vnetdns and every client run there, so ldns-testns can only ever receive traffic from
loopback, and nothing else on the host can see its port. Skipped with a message where
namespaces are not permitted or ldns-testns is not installed. Every packet the test sends goes
to 127.0.0.1 (ldns-testns answers from 127.0.0.1 whatever 127.x address it was asked on, so
that is the address vnetdns is given).

ldns-testns is one process that answers one query at a time and sleeps (`ADJUST sleep=N`)
inside that: queries queue behind a sleeping one. Every entry matches `qname qtype`, so
vnetdns's start-up loop probe (HINFO) and its health probes (SOA) find no entry and are
dropped at once instead of occupying it.

Timing: the real clock; elapsed times are asserted as generous bounds around what the
upstream's sleep and the 1 s / 4 s settings dictate. Each check runs under an alarm (it cannot
hang) and stops what it started (ExitStack) also on failure.

Run: /usr/bin/python3 tests/integration/test_odd_upstreams.py --binary build/vnetdns --source .
"""

import ctypes
import fcntl
import functools
import os
import re
import shutil
import signal
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

import dns.exception  # noqa: E402
import dns.message  # noqa: E402
import dns.rcode  # noqa: E402
import dns.rdatatype  # noqa: E402

LDNS_TESTNS = shutil.which("ldns-testns") or "/usr/bin/ldns-testns"
HOST = h.LOOPBACK4            # every server here listens on, and is asked at, 127.0.0.1
ZONE = "odd.test"             # the forward rule of most checks
READY = "ready.odd-upstream.test."  # TXT, answered at once: ldns-testns's readiness poll
EDE_OPTION = 15               # RFC 8914
EDE_NO_REACHABLE_AUTHORITY = 22
DEADLINE_S = 4.0              # vnetdns's default `deadline`
TRY_TIMEOUT_S = 1.0           # vnetdns's default `timeout` (and initial per-try timeout)


def _assert_127(addr):
    if not re.fullmatch(r"127\.0\.0\.\d{1,3}", addr):
        raise ValueError(f"refusing address {addr!r}: this test sends only to 127.0.0.x")


# ---------------------------------------------------------------------------------------------
# The private network namespace


def enter_private_netns():
    """Moves this process (and so every child it starts) into a new network namespace with
    only `lo`, brought up here. Returns None, or why it could not (then nothing changed)."""
    libc = ctypes.CDLL(None, use_errno=True)
    clone_newnet, clone_newuser = 0x40000000, 0x10000000
    uid, gid = os.geteuid(), os.getegid()
    if libc.unshare(clone_newnet) != 0:
        first = os.strerror(ctypes.get_errno())
        # Not privileged: a user namespace (mapped to our own uid) may create one.
        if libc.unshare(clone_newuser | clone_newnet) != 0:
            return (f"unshare(CLONE_NEWNET): {first}; with CLONE_NEWUSER: "
                    f"{os.strerror(ctypes.get_errno())}")
        for path, text in (("/proc/self/setgroups", "deny"),
                           ("/proc/self/uid_map", f"0 {uid} 1"),
                           ("/proc/self/gid_map", f"0 {gid} 1")):
            with open(path, "w") as f:
                f.write(text)
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifr = fcntl.ioctl(s, siocgifflags, struct.pack("16sH14x", b"lo", 0))
        flags = struct.unpack("16sH", ifr[:18])[1]
        fcntl.ioctl(s, siocsifflags, struct.pack("16sH14x", b"lo", flags | iff_up))
    names = [n for _, n in socket.if_nameindex()]
    if names != ["lo"]:
        raise RuntimeError(f"the new network namespace has interfaces {names}, not just lo")
    return None


# ---------------------------------------------------------------------------------------------
# Helpers


def bounded(seconds):
    """A check that raises TimeoutError (a failure; its ExitStack then stops every server)
    if it runs longer than `seconds`. The alarm is cancelled before that clean-up runs."""
    def wrap(check):
        @functools.wraps(check)
        def run(ctx, t):
            def on_alarm(_signum, _frame):
                raise TimeoutError(f"{check.__name__} ran past its {seconds} s bound")
            old = signal.signal(signal.SIGALRM, on_alarm)
            signal.alarm(seconds)
            try:
                check(ctx, t)
            finally:
                signal.alarm(0)
                signal.signal(signal.SIGALRM, old)
        return run
    return wrap


def entry(qname, qtype="A", answer=None, rcode="NOERROR", sleep=0, match="", question=None):
    """One ldns-testns data-file entry: a query for `qname`/`qtype` (letter case ignored) gets
    `rcode` with `answer` (rdata of one record of the question's type; none if None) after
    `sleep` whole seconds. `match`: more MATCH keywords (e.g. "noedns"); `question`: the name
    the reply's question section and answer carry (default `qname`)."""
    echo = question or qname
    lines = ["ENTRY_BEGIN", f"MATCH qname qtype {match}".rstrip(),
             f"REPLY QR RD RA {rcode}", "ADJUST copy_id"]
    if sleep:
        lines.append(f"ADJUST sleep={sleep}")
    lines += ["SECTION QUESTION", f"{echo} IN {qtype}"]
    if answer is not None:
        lines += ["SECTION ANSWER", f"{echo} 60 IN {qtype} {answer}"]
    lines.append("ENTRY_END")
    return "\n".join(lines) + "\n"


_QUERY_LINE = re.compile(r"^query \d+: id (\d+): (UDP|TCP) \d+ bytes: (\S+)\s+IN\s+(\S+)")


class LdnsTestns:
    """ldns-testns -v -p PORT DATAFILE as a child of the test (harness.Child: stopped by PID
    with SIGTERM, waited for), ready once it answers READY; `queries()` reads its -v log."""

    def __init__(self, ctx, name, entries):
        self.name = name
        self.port = h.free_port((HOST,))
        self.data = os.path.join(ctx.workdir, f"{name}-{self.port}.data")
        with open(self.data, "w") as f:
            f.write(entry(READY, "TXT", '"ready"'))
            f.write("".join(entries))
        self.child = h.Child(name, [LDNS_TESTNS, "-v", "-p", str(self.port), self.data],
                             os.path.join(ctx.workdir, f"{name}-{self.port}.log"))
        ctx.servers.append(self)
        ctx.stack.callback(self.child.stop)
        self.child.wait_for_line(r"Listening on port", 10)
        h.wait_answered(HOST, self.port, READY, "TXT", 10)

    def upstream(self):
        _assert_127(HOST)
        return f"{HOST}:{self.port}"

    def queries(self, qname=None, at_least=0, wait_s=3.0):
        """[(name as received, type, proto, edns)] in arrival order, from the -v log (each
        query is printed, then its header and sections, ";; EDNS: ..." among them if it has
        an OPT record, then "comparepkt" lines, all flushed before the reply is sent); only
        queries printed whole. `qname` filters on the name, case ignored. The log is read by
        a thread: with `at_least`, waits (up to `wait_s`) until that many are there."""
        want = None if qname is None else qname.rstrip(".").lower() + "."
        end = time.monotonic() + wait_s
        with self.child._cond:
            while True:
                rows = self._parse(self.child.lines, want)
                left = end - time.monotonic()
                if len(rows) >= at_least or left <= 0:
                    return rows
                self.child._cond.wait(min(left, 0.1))

    @staticmethod
    def _parse(lines, want):
        out, cur = [], None
        for line in lines:
            m = _QUERY_LINE.match(line)
            if m:
                cur = [m.group(3), m.group(4), m.group(2), False]
                continue
            if cur is None:
                continue
            if line.startswith(("comparepkt", "no answer packet", "Answer pkt")):
                if want is None or cur[0].lower() == want:
                    out.append(tuple(cur))
                cur = None
            elif line.startswith(";; EDNS:"):
                cur[3] = True
        return out


class Blackhole:
    """A UDP socket of this test on 127.0.0.1 that reads what it is sent and never replies."""

    def __init__(self, ctx):
        self.port = h.free_port((HOST,))
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, self.port))
        self.sock.setblocking(False)
        self.seen = []
        ctx.stack.callback(self.sock.close)

    def upstream(self):
        return f"{HOST}:{self.port}"

    def queries(self, qname=None):
        """[(name as received, type)] of everything received so far (read now)."""
        while True:
            try:
                data = self.sock.recv(65535)
            except BlockingIOError:
                break
            try:
                q = dns.message.from_wire(data)
                self.seen.append((q.question[0].name.to_text(),
                                  dns.rdatatype.to_text(q.question[0].rdtype)))
            except Exception:  # noqa: BLE001 - not a query we can read: recorded as such
                self.seen.append(("?", "?"))
        if qname is None:
            return list(self.seen)
        want = qname.rstrip(".").lower() + "."
        return [q for q in self.seen if q[0].lower() == want]


def start_vnetdns(ctx, rules):
    """vnetdns (debug log) serving the private zone (its readiness probe) and forwarding each
    (zone, [upstream objects], {extra [forward] keys}) of `rules`; 127.0.0.1 only."""
    fws = []
    for zone, ups, extra in rules:
        fw = {"zone": zone, "upstreams": [u.upstream() for u in ups]}
        fw.update(extra)
        fws.append(fw)
    return ctx.vnetdns(zones=[h.private_zone()], forwards=fws, listen_addrs=(HOST,),
                       log_level="debug")


def ask(v, qname, rdtype="A", timeout=8.0):
    """(response or None on timeout, seconds taken): one UDP query with EDNS to vnetdns."""
    _assert_127(v.addr)
    return h.timed_query(v.addr, v.port, qname, rdtype, timeout)


def rcode(m):
    return h.rcode_text(m)


def addrs(m):
    return [] if m is None else h.answer_addresses(m)


def ede_codes(m):
    return h.ede_codes(m)


def evidence(v, *upstreams):
    """The vnetdns debug log's tail and what each upstream received, for a failure."""
    text = f"vnetdns log ({v.child.log_path}):\n{v.tail()}"
    for u in upstreams:
        text += f"\n{getattr(u, 'name', 'blackhole')} received: {u.queries()!r}"
    return text


def stopped_cleanly(t, v):
    """vnetdns exits 0 on SIGTERM: no crash, no sanitizer report on the way out."""
    t.eq(v.stop(), 0, "vnetdns exits 0 on SIGTERM (no sanitizer report)", v.tail())


# ---------------------------------------------------------------------------------------------
# Checks


@bounded(60)
def check_answers_after_1s(ctx, t):
    """an upstream that answers every query after 1 s: answered NOERROR in about 1-2 s"""
    name = f"slow1.{ZONE}"
    up = LdnsTestns(ctx, "ldns-slow1", [entry(name, answer="192.0.2.11", sleep=1)])
    v = start_vnetdns(ctx, [(ZONE, [up], {})])
    m, took = ask(v, name)
    t.eq((rcode(m), addrs(m)), ("NOERROR", ["192.0.2.11"]),
         "1 s upstream: answered NOERROR (not SERVFAIL)", evidence(v, up))
    t.ok(0.9 <= took <= 2.5, f"1 s upstream: answered after its 1 s, within 2.5 s "
         f"({took:.3f}s)", evidence(v, up))
    stopped_cleanly(t, v)


@bounded(60)
def check_answers_after_2s(ctx, t):
    """an upstream that answers after 2 s: answered within the 4 s deadline

    The reply to the first try, which timed out after 1 s, still counts."""
    name = f"slow2.{ZONE}"
    up = LdnsTestns(ctx, "ldns-slow2", [entry(name, answer="192.0.2.12", sleep=2)])
    v = start_vnetdns(ctx, [(ZONE, [up], {})])
    m, took = ask(v, name)
    t.eq((rcode(m), addrs(m)), ("NOERROR", ["192.0.2.12"]),
         "2 s upstream: answered NOERROR", evidence(v, up))
    t.ok(1.9 <= took <= DEADLINE_S + 0.5, f"2 s upstream: answered after its 2 s, within the "
         f"deadline ({took:.3f}s)", evidence(v, up))
    stopped_cleanly(t, v)


@bounded(60)
def check_answers_after_5s(ctx, t):
    """an upstream that answers after 5 s: SERVFAIL with EDE 22 at the 4 s deadline

    vnetdns then still answers a name of another rule (another ldns-testns) at once."""
    name = f"slow5.{ZONE}"
    slow = LdnsTestns(ctx, "ldns-slow5", [entry(name, answer="192.0.2.15", sleep=5)])
    fast_name = "www.fast.test"
    fast = LdnsTestns(ctx, "ldns-fast", [entry(fast_name, answer="192.0.2.16")])
    v = start_vnetdns(ctx, [(ZONE, [slow], {}), ("fast.test", [fast], {})])
    m, took = ask(v, name, timeout=DEADLINE_S + 6)
    t.eq((rcode(m), ede_codes(m)), ("SERVFAIL", [EDE_NO_REACHABLE_AUTHORITY]),
         "5 s upstream: SERVFAIL with EDE 22 (No Reachable Authority)", evidence(v, slow))
    t.ok(m is not None and DEADLINE_S - 0.5 <= took <= DEADLINE_S + 1.0,
         f"5 s upstream: the SERVFAIL comes at the 4 s deadline, not before, not hanging "
         f"({took:.3f}s)", evidence(v, slow))
    m, took = ask(v, fast_name, timeout=5)
    t.ok((rcode(m), addrs(m)) == ("NOERROR", ["192.0.2.16"]) and took < 1.0,
         f"afterwards another rule's name is answered at once ({rcode(m)} {addrs(m)}, "
         f"{took:.3f}s)", evidence(v, slow, fast))
    stopped_cleanly(t, v)


@bounded(60)
def check_case_mangling(ctx, t):
    """randomize_case and an upstream that does not echo the letter case: answered

    Its replies carry the question in lower case whatever case it was asked in: the question
    is retried without 0x20 at once."""
    name = f"case-mangling-upstream.{ZONE}"  # 26 letters: 0x20 leaves it all lower 1 in 2^26
    up = LdnsTestns(ctx, "ldns-case", [entry(name, answer="192.0.2.14")])
    v = start_vnetdns(ctx, [(ZONE, [up], {"randomize_case": True})])
    m, took = ask(v, name)
    got = up.queries(name, at_least=2)
    t.eq((rcode(m), addrs(m)), ("NOERROR", ["192.0.2.14"]),
         "case-mangling upstream with randomize_case: answered NOERROR", evidence(v, up))
    t.ok(took < TRY_TIMEOUT_S, f"  without waiting for a try to time out ({took:.3f}s)",
         evidence(v, up))
    want = name + "."
    t.ok(len(got) >= 2 and got[0][0] != want and got[-1][0] == want,
         "  the upstream was asked in mixed case (0x20), then as the client asked",
         f"queries at the upstream: {got!r}\n{evidence(v, up)}")
    stopped_cleanly(t, v)


@bounded(60)
def check_formerr_to_edns_one_name(ctx, t):
    """FORMERR to EDNS for one name only: that name answered, other names keep EDNS

    The name is retried without EDNS; one name's FORMERR does not mark the server."""
    bad = f"formerr-edns.{ZONE}"
    others = [f"plain1.{ZONE}", f"plain2.{ZONE}"]
    up = LdnsTestns(ctx, "ldns-formerr", [
        entry(bad, answer="192.0.2.13", match="noedns"),  # without EDNS: the answer
        entry(bad, rcode="FORMERR"),                      # with EDNS: FORMERR, no OPT
        *[entry(o, answer="192.0.2.17") for o in others]])
    v = start_vnetdns(ctx, [(ZONE, [up], {})])
    m, _ = ask(v, bad)
    t.eq((rcode(m), addrs(m)), ("NOERROR", ["192.0.2.13"]),
         "FORMERR to EDNS: the name is answered", evidence(v, up))
    edns = [q[3] for q in up.queries(bad, at_least=2)]
    t.ok(len(edns) >= 2 and edns[0] and not edns[-1],
         "  asked with EDNS (FORMERR), then without", f"EDNS per query: {edns}")
    for o in others:
        m, _ = ask(v, o)
        edns = [q[3] for q in up.queries(o, at_least=1)]
        t.ok((rcode(m), addrs(m)) == ("NOERROR", ["192.0.2.17"]) and edns and all(edns),
             f"{o}: answered, asked with EDNS only (one name's FORMERR is not the server's)",
             f"{rcode(m)} {addrs(m)}; EDNS per query: {edns}\n{evidence(v, up)}")
    stopped_cleanly(t, v)


@bounded(60)
def check_first_never_answers(ctx, t):
    """two upstreams, the first never answers: answered by the second, the next at once

    The first question waits one 1 s try timeout at the silent one (a socket of this test
    that reads and never replies); the next question goes to the second first."""
    hole = Blackhole(ctx)
    second = LdnsTestns(ctx, "ldns-second", [entry(f"first.{ZONE}", answer="192.0.2.21"),
                                             entry(f"next.{ZONE}", answer="192.0.2.22")])
    v = start_vnetdns(ctx, [(ZONE, [hole, second], {})])
    m, took = ask(v, f"first.{ZONE}")
    t.eq((rcode(m), addrs(m)), ("NOERROR", ["192.0.2.21"]),
         "first upstream silent: answered by the second", evidence(v, hole, second))
    t.ok(took < TRY_TIMEOUT_S + 1.0, f"  after about one 1 s try timeout ({took:.3f}s)",
         evidence(v, hole, second))
    t.eq(len(hole.queries(f"first.{ZONE}")), 1, "  the silent upstream was asked once",
         evidence(v, hole, second))
    m, took = ask(v, f"next.{ZONE}")
    t.ok((rcode(m), addrs(m)) == ("NOERROR", ["192.0.2.22"]) and took < 0.5,
         f"the next question is answered by the second at once ({rcode(m)} {addrs(m)}, "
         f"{took:.3f}s)", evidence(v, hole, second))
    t.eq(hole.queries(f"next.{ZONE}"), [], "  the silent upstream was not asked it",
         evidence(v, hole, second))
    stopped_cleanly(t, v)


CHECKS = [check_answers_after_1s, check_answers_after_2s, check_answers_after_5s,
          check_case_mangling, check_formerr_to_edns_one_name, check_first_never_answers]


if __name__ == "__main__":
    if not os.path.exists(LDNS_TESTNS):
        print("# skip - ldns-testns not installed (Debian package ldnsutils)")
        print("# 0 passed, 0 failed")
        sys.exit(0)
    why = enter_private_netns()
    if why:
        print(f"# skip - no private network namespace for ldns-testns, which binds the "
              f"wildcard address ({why})")
        print("# 0 passed, 0 failed")
        sys.exit(0)
    sys.exit(h.main(CHECKS, __doc__))
