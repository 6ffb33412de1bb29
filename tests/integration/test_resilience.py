#!/usr/bin/python3
"""Fault injection (issue 4): vnetdns in front of scriptable fake upstreams (fake_upstream.py,
children of this test on 127.0.0.3/127.0.0.4): failover from a blackholed or failing upstream,
an upstream dying under load, health (down, probes, fail fast, back up), serve-stale with EDE,
coalescing of 1,000 identical queries, the outstanding and qps caps counted at the upstream,
prefetch, reply validation (spoofed/garbage replies never accepted or cached), TCP on TC,
EDNS fallback and failure caching.

Timing: the real clock. Elapsed times are asserted only as generous upper bounds ("within the
deadline"); waits for TTLs to run out are bounded and part of the behaviour under test.

Run: /usr/bin/python3 tests/integration/test_resilience.py --binary build/vnetdns --source .
"""

import math
import os
import selectors
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import fake_upstream as fu  # noqa: E402

import dns.exception  # noqa: E402
import dns.flags  # noqa: E402
import dns.message  # noqa: E402
import dns.rcode  # noqa: E402
import dns.rdatatype  # noqa: E402

FAKE_A = "127.0.0.3"
FAKE_B = "127.0.0.4"
ADDR_A = "192.0.2.1"   # what fake A answers
ADDR_B = "192.0.2.2"   # what fake B answers

EDE_OPTION = 15        # RFC 8914
EDE_STALE = 3
EDE_STALE_NXDOMAIN = 19


# ---------------------------------------------------------------------------------------------
# Helpers


def fake(ctx, addr, address, port=0, name=None):
    f = fu.FakeUpstream(ctx.workdir, addr=addr, port=port, address=address, name=name)
    ctx.servers.append(f)
    ctx.stack.callback(f.stop)
    return f.start()


def start_vnetdns(ctx, upstreams, cache=None, name="vnetdns", extra_toml="", threads=1,
                  **forward):
    """vnetdns forwarding "." to `upstreams`, with [forward] keys `forward` and extra [cache]
    keys `cache` (written into the harness's [cache] table)."""
    fw = {"zone": ".", "upstreams": [u.upstream() for u in upstreams]}
    fw.update(forward)
    v = ctx.vnetdns(start=False, zones=[h.private_zone()], forwards=[fw], name=name,
                    extra_toml=extra_toml, threads=threads)
    if cache:
        extra = "".join(f"{k} = {h._toml_value(val)}\n" for k, val in cache.items())
        marker = "[cache]\nmax_entries = "
        i = v.config_text.index(marker)
        j = v.config_text.index("\n", i + len(marker)) + 1
        v.config_text = v.config_text[:j] + extra + v.config_text[j:]
        with open(v.config, "w") as f:
            f.write(v.config_text)
    return v.start()


def ask(v, qname, rdtype="A", timeout=5.0, tcp=False, **kw):
    """(response or None on timeout, seconds taken)."""
    return h.timed_query(h.LOOPBACK4, v.port, qname, rdtype, timeout, over_tcp=tcp, **kw)


def rcode(m):
    return h.rcode_text(m)


def addrs(m):
    return [] if m is None else h.answer_addresses(m)


def ede_codes(m):
    return h.ede_codes(m)


def ttls(m):
    return [rr.ttl for sec in (m.answer, m.authority) for rr in sec] if m is not None else []


def blast(port, queries, deadline_s, resend_after=None):
    """Sends every (qname, rdtype) of `queries` at once, each from its own UDP socket (its own
    source port), and collects the replies until all came or `deadline_s` passed. With
    `resend_after`, queries still unanswered then are sent once more (a stub's retry).
    Returns [(response or None, seconds)] in the order of `queries`."""
    sel = selectors.DefaultSelector()
    socks, wires, out = [], [], [None] * len(queries)
    try:
        for i, (qname, rdtype) in enumerate(queries):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setblocking(False)
            socks.append(s)
            q = h.make_query(qname, rdtype)
            wires.append((q, q.to_wire()))
            sel.register(s, selectors.EVENT_READ, i)
        t0 = time.monotonic()
        for i, s in enumerate(socks):
            s.sendto(wires[i][1], (h.LOOPBACK4, port))
        left = len(queries)
        resent = resend_after is None
        end = t0 + deadline_s
        while left and time.monotonic() < end:
            now = time.monotonic()
            if not resent and now - t0 >= resend_after:
                resent = True
                for i, s in enumerate(socks):
                    if out[i] is None:
                        s.sendto(wires[i][1], (h.LOOPBACK4, port))
            wait = end - now if resent else min(end, t0 + resend_after) - now
            for key, _ in sel.select(timeout=max(0.0, wait)):
                i = key.data
                try:
                    data = key.fileobj.recv(65535)
                except OSError:
                    continue
                if out[i] is not None:
                    continue
                try:
                    m = dns.message.from_wire(data)
                except Exception:  # noqa: BLE001 - a reply we cannot read counts as none
                    continue
                if m.id != wires[i][0].id:
                    continue
                out[i] = (m, time.monotonic() - t0)
                left -= 1
        return [o if o is not None else (None, None) for o in out]
    finally:
        sel.close()
        for s in socks:
            s.close()


def is_probe(entry):
    """A health probe: `health_probe` (probe.example in these tests) asked with type SOA."""
    return entry[1] == "probe.example." and entry[2] == "SOA"


def non_probe_after(log, t):
    """Log entries of a fake upstream received at or after monotonic time `t`, other than
    health probes."""
    return [e for e in log if e[0] >= t and not is_probe(e)]


def wait_until(t_abs, what_s_max=60.0):
    """Lets real time pass until monotonic `t_abs` (TTL expiry is the behaviour under test,
    not a readiness wait); bounded."""
    left = t_abs - time.monotonic()
    if left > what_s_max:
        raise RuntimeError(f"refusing to wait {left:.1f}s")
    if left > 0:
        time.sleep(left)


# ---------------------------------------------------------------------------------------------
# Failover


def check_blackholed_first(ctx, t):
    """first upstream blackholed: the answer comes from the second within one per-try timeout"""
    a = fake(ctx, FAKE_A, ADDR_A)
    b = fake(ctx, FAKE_B, ADDR_B)
    a.set("*", drop=True)
    v = start_vnetdns(ctx, [a, b], timeout="400ms", deadline="2s")
    m, took = ask(v, "hole1.example")
    t.eq((rcode(m), addrs(m)), ("NOERROR", [ADDR_B]), "blackholed first: answered by the second")
    t.ok(took < 0.4 + 0.6, f"answered within about one per-try timeout (400ms): {took:.3f}s")
    t.eq((a.count("hole1.example"), b.count("hole1.example")), (1, 1),
         "one query at the blackholed upstream, then one at the second")


def check_servfail_refused_failover(ctx, t):
    """SERVFAIL or REFUSED from the first upstream: the answer comes from the second"""
    a = fake(ctx, FAKE_A, ADDR_A)
    b = fake(ctx, FAKE_B, ADDR_B)
    a.set("sf.example", rcode="SERVFAIL")
    a.set("rf.example", rcode="REFUSED")
    v = start_vnetdns(ctx, [a, b], timeout="400ms", deadline="2s")
    for qname, what in (("sf.example", "SERVFAIL"), ("rf.example", "REFUSED")):
        m, took = ask(v, qname)
        t.eq((rcode(m), addrs(m)), ("NOERROR", [ADDR_B]), f"{what} from the first: answer from "
             "the second")
        t.eq((a.count(qname), b.count(qname)), (1, 1), f"{what}: one query at each upstream")
        t.ok(took < 1.0, f"{what}: no timeout waited ({took:.3f}s)")
    m, _ = ask(v, "ok.example")
    t.eq(addrs(m), [ADDR_A], "a name the first upstream answers still comes from the first")


def check_dies_under_load(ctx, t):
    """the first upstream goes silent under steady load: no client fails, later queries go
    straight to the second"""
    a = fake(ctx, FAKE_A, ADDR_A)
    b = fake(ctx, FAKE_B, ADDR_B)
    timeout_s, deadline_s = 0.3, 1.5
    v = start_vnetdns(ctx, [a, b], timeout="300ms", deadline="1500ms",
                      health_probe="probe.example")
    results = []  # (sent at, rcode, addresses, seconds)
    lock = threading.Lock()
    stop = threading.Event()

    def client(k):
        i = 0
        while not stop.is_set():
            i += 1
            sent = time.monotonic()
            m, took = ask(v, f"load-{k}-{i}.example", timeout=deadline_s + 2.0)
            with lock:
                results.append((sent, rcode(m), addrs(m), took))
            stop.wait(0.02)

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(4)]
    for th in threads:
        th.start()
    try:
        stop.wait(1.0)
        t_cmd = time.monotonic()
        a.set("*", drop=True)  # A goes silent (Azure DNS drops what it will not answer)
        t_dead = time.monotonic()  # the fake has applied the rule
        stop.wait(3.0)
        t_end = time.monotonic()
    finally:
        stop.set()
        for th in threads:
            th.join(timeout=deadline_s + 5)
    # A query in flight when A went silent may be answered by either: only those answered
    # before that moment count as "before".
    before = [r for r in results if r[0] + r[3] < t_cmd]
    after = [r for r in results if r[0] >= t_dead]
    t.ok(len(before) >= 5 and all(r[2] == [ADDR_A] for r in before),
         f"before: every answer from the first upstream ({len(before)} queries)")
    bad = [r for r in results if r[1] != "NOERROR"]
    t.eq(len(bad), 0, f"no client saw a failure ({len(results)} queries)", repr(bad[:5]))
    slow = max((r[3] for r in results), default=0)
    t.ok(slow < deadline_s + 1.0, f"every answer within the deadline ({slow:.3f}s max)")
    t.ok(len(after) >= 10 and all(r[2] == [ADDR_B] for r in after if r[1] == "NOERROR"),
         f"after: answers from the second upstream ({len(after)} queries)")
    log = a.log()
    hit_dead = non_probe_after(log, t_cmd)
    t.ok(len(hit_dead) <= 12, f"the silent upstream got few queries before it was marked "
         f"down ({len(hit_dead)})")
    late = non_probe_after(log, t_end - 1.5)
    t.eq(len(late), 0, "in the last 1.5 s no query went to the silent upstream", repr(late[:5]))
    fast = [r[3] for r in after if r[0] >= t_end - 1.5]
    t.ok(fast and max(fast) < timeout_s,
         f"later queries go straight to the second (max {max(fast, default=0):.3f}s < "
         f"one per-try timeout)")


# ---------------------------------------------------------------------------------------------
# Health: all down, serve-stale, back up


def check_all_down_stale_and_back(ctx, t):
    """all upstreams silent: marked down after three failed questions; then one client question
    a second still goes through and the others fail at once (EDE 22); cached names answered
    stale (TTL 30, EDE 3/19); probes (SOA probe.example) once a second; an upstream back:
    fresh answers again within about a second"""
    a = fake(ctx, FAKE_A, ADDR_A)
    b = fake(ctx, FAKE_B, ADDR_B)
    for f in (a, b):
        f.set("cached.example", ttl=2)
        f.set("gone.example", rcode="NXDOMAIN", ttl=2)
    v = start_vnetdns(ctx, [a, b], timeout="300ms", deadline="1500ms",
                      health_probe="probe.example",
                      cache={"serve_stale": "1h", "stale_answer_timeout": "500ms"})
    m, _ = ask(v, "cached.example")
    got_pos = time.monotonic()
    t.eq((rcode(m), addrs(m)), ("NOERROR", [ADDR_A]), "cached.example fetched (TTL 2)")
    m, _ = ask(v, "gone.example")
    got_neg = time.monotonic()
    t.eq(rcode(m), "NXDOMAIN", "gone.example fetched: NXDOMAIN (SOA TTL 2)")

    for f in (a, b):  # a name's own rule wins over "*": silence those too
        for name in ("*", "cached.example", "gone.example"):
            f.set(name, drop=True)
    t_down = time.monotonic()
    # Three questions in a row that end at the deadline with no answer mark both down.
    for i in range(3):
        m, took = ask(v, f"down-{i}.example", timeout=5)
        t.ok(rcode(m) == "SERVFAIL" and took < 1.5 + 0.5,
             f"down-{i}.example: SERVFAIL by the deadline ({took:.3f}s)", rcode(m))
    # All down: of questions asked at once, at most one (this second's passthrough) waits for
    # the upstreams; the rest fail at once.
    res = blast(v.port, [(f"uncached-{i}.example", "A") for i in range(6)], deadline_s=4.0)
    fast = [(m, s) for m, s in res if m is not None and s < 0.3]
    t.ok(len(fast) >= 5 and all(rcode(m) == "SERVFAIL" for m, _ in res if m is not None),
         f"all down: {len(fast)} of 6 questions asked at once SERVFAIL at once (deadline 1.5s)",
         repr([(rcode(m), s) for m, s in res]))
    t.ok(all(ede_codes(m) == [22] for m, _ in fast), "  with EDE 22 (No Reachable Authority)",
         repr([ede_codes(m) for m, _ in fast]))
    t.ok(all(m is not None for m, _ in res), "  and the one let through ends by the deadline",
         repr([(rcode(m), s) for m, s in res]))

    wait_until(max(got_pos, got_neg) + 2.1)
    m, took = ask(v, "cached.example")
    t_stale = time.monotonic()
    t.eq((rcode(m), addrs(m)), ("NOERROR", [ADDR_A]), "expired cached.example answered stale")
    t.eq(ttls(m), [30], "  stale answer TTL 30 (RFC 8767)")
    t.eq(ede_codes(m), [EDE_STALE], "  EDE option 15 with INFO-CODE 3 (Stale Answer)")
    t.ok(took < 0.5 + 0.5, f"  within stale_answer_timeout (500ms): {took:.3f}s")
    m, took = ask(v, "gone.example")
    t.eq(rcode(m), "NXDOMAIN", "expired gone.example answered stale: NXDOMAIN")
    t.eq(ttls(m), [30], "  stale NXDOMAIN: SOA TTL 30")
    t.eq(ede_codes(m), [EDE_STALE_NXDOMAIN], "  EDE INFO-CODE 19 (Stale NXDOMAIN Answer)")
    # The refresh may have been this second's passthrough: it ends by the deadline (1.5 s).
    wait_until(t_stale + 1.6)
    m, took = ask(v, "cached.example")
    t.ok(rcode(m) == "NOERROR" and ede_codes(m) == [EDE_STALE] and took < 0.3,
         f"again stale, at once (refresh failed recently): {took:.3f}s")
    b_before = b.count("cached.example")

    # Stay down until two probes were seen (questions start due probes).
    end = time.monotonic() + 8.0
    i = 0
    while time.monotonic() < end and len([e for e in a.log() if is_probe(e)]) < 2:
        i += 1
        m, took = ask(v, f"still-down-{i}.example", timeout=3)
        if rcode(m) != "SERVFAIL" or took >= 1.5 + 0.5:
            t.ok(False, f"still down: still-down-{i}.example SERVFAIL by the deadline",
                 f"{rcode(m)} in {took:.3f}s")
            break
        time.sleep(0.1)  # poll interval
    probes = [e for e in a.log() if is_probe(e)]
    t.ok(len(probes) >= 2, f"the down upstream is probed with SOA probe.example ({len(probes)})")
    gaps = [round(y[0] - x[0], 2) for x, y in zip(probes, probes[1:])]
    t.ok(all(g >= 0.9 for g in gaps), f"  at most one probe a second (gaps {gaps} s)")
    t.ok(all(e[0] >= t_down for e in probes), "  probes only after the upstream fell silent")

    # A comes back; B stays silent. A probe or this second's passthrough marks A up.
    a.clear()
    t_back = time.monotonic()
    fresh, polls = None, 0
    end = t_back + 6.0
    while time.monotonic() < end:
        polls += 1
        m, _ = ask(v, f"back-{polls}.example", timeout=3)
        if rcode(m) == "NOERROR":
            fresh = m
            break
        time.sleep(0.1)  # poll interval
    back_s = time.monotonic() - t_back
    t.ok(fresh is not None and addrs(fresh) == [ADDR_A],
         f"upstream back: fresh answers again ({back_s:.1f}s, {polls} polls)",
         fresh.to_text() if fresh else "no NOERROR before the deadline")
    # At most a second to the next probe or passthrough, plus one poll's question (1.5 s).
    t.ok(back_s < 1.0 + 1.5 + 0.5, f"  within about a second of its return ({back_s:.1f}s)")
    t.eq(b.count("cached.example"), b_before, "no query for the stale name reached the silent B")


def check_stale_on_slow_refresh(ctx, t):
    """refresh slower than stale_answer_timeout: the stale answer goes out at that timeout;
    the refresh still lands and replaces it"""
    a = fake(ctx, FAKE_A, ADDR_A)
    a.set("slow.example", ttl=2, address="10.8.0.{n}")
    v = start_vnetdns(ctx, [a], timeout="2s", deadline="3s",
                      cache={"serve_stale": "1h", "stale_answer_timeout": "400ms"})
    m, _ = ask(v, "slow.example")
    got = time.monotonic()
    t.eq(addrs(m), ["10.8.0.1"], "slow.example cached (TTL 2)")
    a.set("slow.example", ttl=60, address="10.8.0.{n}", delay_ms=1200)
    wait_until(got + 2.1)
    m, took = ask(v, "slow.example")
    t.ok(rcode(m) == "NOERROR" and addrs(m) == ["10.8.0.1"] and ede_codes(m) == [EDE_STALE],
         f"stale answer with EDE 3 ({took:.3f}s)", m.to_text() if m else "no reply")
    t.eq(ttls(m), [30], "  stale answer TTL 30 (RFC 8767)")
    t.ok(took < 0.4 + 0.6, f"  sent at stale_answer_timeout (400ms), not after the refresh "
         f"({took:.3f}s)")
    end = time.monotonic() + 5
    m = None
    while time.monotonic() < end:
        m, _ = ask(v, "slow.example")
        if addrs(m) == ["10.8.0.2"]:
            break
        time.sleep(0.1)
    t.ok(addrs(m) == ["10.8.0.2"] and not ede_codes(m),
         "the refresh replaced the stale entry (fresh answer, no EDE)",
         m.to_text() if m else "no reply")
    # One refresh question: its tries back off from the RTT-based timeout (the first answer
    # took about a millisecond: 100 ms floor, then 200, 400, 800 ms) until the 1.2 s reply to
    # the first try is accepted.
    n = a.count("slow.example")
    t.ok(2 <= n <= 1 + 5, f"one refresh question at the upstream ({n - 1} tries)")


# ---------------------------------------------------------------------------------------------
# Coalescing and caps


def check_coalescing_1000(ctx, t):
    """1,000 clients ask one uncached name at once: one upstream query"""
    a = fake(ctx, FAKE_A, ADDR_A)
    a.set("hot.example", delay_ms=1500)
    v = start_vnetdns(ctx, [a], timeout="3s", deadline="4s")
    res = blast(v.port, [("hot.example", "A")] * 1000, deadline_s=8.0, resend_after=3.0)
    good = sum(1 for m, _ in res if m is not None and rcode(m) == "NOERROR" and
               addrs(m) == [ADDR_A])
    first = sum(1 for _, s in res if s is not None and s < 3.0)
    t.eq(good, 1000, f"all 1,000 clients answered with the upstream's address "
         f"({first} before any retry)")
    # One question: its first try (unmeasured server: 1 s) and at most one retry before the
    # 1.5 s reply to the first try is accepted.
    n = a.count("hot.example")
    t.ok(1 <= n <= 2, f"one question reached the upstream ({n} tries)")


def check_max_outstanding(ctx, t):
    """max_outstanding = 5, a slow upstream, 50 distinct names at once: never more than 5
    outstanding at the upstream; the rest are not sent (SERVFAIL)"""
    a = fake(ctx, FAKE_A, ADDR_A)
    a.set("*", delay_ms=500)
    v = start_vnetdns(ctx, [a], timeout="2s", deadline="3s", max_outstanding=5)
    a.reset()
    names = [f"cap-{i}.example" for i in range(50)]
    res = blast(v.port, [(n, "A") for n in names], deadline_s=6.0)
    st = a.stats()
    t.ok(st["max_outstanding"] <= 5, f"at most 5 outstanding at the upstream "
         f"(max {st['max_outstanding']})")
    t.ok(st["max_outstanding"] >= 2, f"the cap was reached (max {st['max_outstanding']})")
    answered = sum(1 for m, _ in res if rcode(m) == "NOERROR")
    servfail = sum(1 for m, _ in res if rcode(m) == "SERVFAIL")
    t.eq(answered + servfail, 50, f"every client got an answer or SERVFAIL ({answered} answered, "
         f"{servfail} SERVFAIL)")
    t.eq(st["total"], answered, "queries over the cap were never sent")
    t.ok(max((s for _, s in res if s is not None), default=99) < 3.0 + 1.0,
         "all within the deadline")


def check_max_outstanding_failover(ctx, t):
    """max_outstanding = 5 on a slow first upstream: queries over its cap fail over to the
    second (or SERVFAIL), never sent to the first"""
    a = fake(ctx, FAKE_A, ADDR_A)
    b = fake(ctx, FAKE_B, ADDR_B)
    a.set("*", delay_ms=500)
    v = start_vnetdns(ctx, [a, b], timeout="2s", deadline="3s", max_outstanding=5)
    a.reset()
    res = blast(v.port, [(f"capfo-{i}.example", "A") for i in range(30)], deadline_s=6.0)
    sa, sb = a.stats(), b.stats()
    t.ok(sa["max_outstanding"] <= 5, f"at most 5 outstanding at the first ({sa['max_outstanding']})")
    from_a = sum(1 for m, _ in res if addrs(m) == [ADDR_A])
    from_b = sum(1 for m, _ in res if addrs(m) == [ADDR_B])
    servfail = sum(1 for m, _ in res if rcode(m) == "SERVFAIL")
    t.eq(from_a + from_b + servfail, 30, f"every client answered ({from_a} from the first, "
         f"{from_b} from the second, {servfail} SERVFAIL)")
    t.ok(from_b >= 1, "queries over the first's cap went to the second")
    t.eq((sa["total"], sb["total"]), (from_a, from_b), "no query was sent that was not answered")


def check_max_qps(ctx, t):
    """max_qps = 10: the upstream never gets more than 10 queries in one second"""
    a = fake(ctx, FAKE_A, ADDR_A)
    cap = 10
    v = start_vnetdns(ctx, [a], timeout="1s", deadline="2s", max_qps=cap)
    a.reset()
    names = [f"qps-{i}.example" for i in range(60)]
    res = blast(v.port, [(n, "A") for n in names], deadline_s=4.0)
    log = a.log()
    per_second = {}
    for e in log:
        per_second[math.floor(e[0])] = per_second.get(math.floor(e[0]), 0) + 1
    # vnetdns counts per steady-clock second, the clock time.monotonic() reads; +1 allows
    # for a query sent just before a second boundary and received just after it.
    t.ok(max(per_second.values(), default=0) <= cap + 1,
         f"at most {cap} queries per second at the upstream ({sorted(per_second.values())})")
    answered = sum(1 for m, _ in res if rcode(m) == "NOERROR")
    servfail = sum(1 for m, _ in res if rcode(m) == "SERVFAIL")
    t.eq(answered + servfail, 60, f"every client answered ({answered} NOERROR, {servfail} "
         "SERVFAIL)")
    t.eq(len(log), answered, "queries over the cap were never sent")
    t.ok(answered >= cap, f"the cap was used ({answered} >= {cap})")
    wait_until(math.floor(time.monotonic()) + 1.05)
    m, _ = ask(v, "qps-later.example")
    t.eq(addrs(m), [ADDR_A], "the next second's budget lets a new query through")


# ---------------------------------------------------------------------------------------------
# Prefetch


def check_prefetch(ctx, t):
    """prefetch: a name hit in the last tenth of its TTL is refreshed once before it expires;
    clients never see a miss. (TTL 10: TTLs are whole seconds, so the last tenth of a shorter
    TTL is under a second and cannot be told apart from expiry.)"""
    ttl, delay = 10, 0.6
    a = fake(ctx, FAKE_A, ADDR_A)
    a.set("pre.example", ttl=ttl, address="10.9.0.{n}", delay_ms=int(delay * 1000))
    v = start_vnetdns(ctx, [a], timeout="2s", deadline="3s", cache={"prefetch": True})
    m, _ = ask(v, "pre.example")
    received = time.monotonic()
    t.eq(addrs(m), ["10.9.0.1"], "pre.example cached (TTL 10)")
    st = a.stats()
    sent = [r[0] for r in st["replies"] if r[1] == "pre.example."][0]
    # The entry was inserted between the fake's reply and our receipt; it expires at the
    # start of second (insert second + TTL) of the steady clock (time.monotonic()).
    expiry_low = math.floor(sent) + ttl
    expiry_high = math.floor(received) + ttl
    wait_until(received + ttl - 2.5)
    seen = []
    end = expiry_high + 1.5
    while time.monotonic() < end:
        m, took = ask(v, "pre.example", timeout=3)
        seen.append((time.monotonic(), rcode(m), addrs(m), ttls(m), took))
        time.sleep(0.1)  # a hot name: ten queries a second
    log = [e for e in a.log() if e[1] == "pre.example."]
    t.eq(len(log), 2, "exactly one refresh query (the prefetch) reached the upstream",
         repr(log))
    if len(log) >= 2:
        t.ok(log[1][0] < expiry_high,
             f"the refresh reached the upstream before expiry ({log[1][0] - received:.2f}s "
             f"after the first answer; expiry at {expiry_low - received:.2f}.."
             f"{expiry_high - received:.2f}s)")
    bad = [s for s in seen if s[1] != "NOERROR" or not s[2]]
    t.eq(len(bad), 0, f"every client query answered ({len(seen)} queries)", repr(bad[:3]))
    slow = [s for s in seen if s[4] >= delay - 0.1]
    t.eq(len(slow), 0, f"no client waited for the upstream (a miss takes >= {delay}s)",
         repr(slow[:3]))
    t.ok(seen and seen[-1][2] == ["10.9.0.2"], "the refreshed answer is served",
         repr(seen[-1:]))


# ---------------------------------------------------------------------------------------------
# Reply validation, TCP on TC, EDNS fallback, failure caching


def check_spoofed_replies(ctx, t):
    """wrong ID, wrong source port, wrong question, wrong type and garbage before the real
    reply: all ignored, the real one accepted, nothing bogus cached"""
    a = fake(ctx, FAKE_A, ADDR_A)
    b = fake(ctx, FAKE_B, ADDR_B)
    bogus = ["wrong_id", "wrong_port", "wrong_question", "wrong_type", "garbage",
             "garbage_header"]
    a.set("victim.example", before=bogus)
    a.set("onlybogus.example", before=bogus, only_before=True)
    admin_port = h.free_port([h.LOOPBACK4])
    v = start_vnetdns(ctx, [a, b], timeout="500ms", deadline="2s",
                      extra_toml=h.admin_toml(admin_port))
    m, _ = ask(v, "victim.example")
    t.eq((rcode(m), addrs(m)), ("NOERROR", [ADDR_A]), "the real reply is accepted")
    t.ok(fu.BOGUS_ADDRESS not in addrs(m), "no bogus address in the answer")
    # The burst of mismatching replies moved the question to TCP: one UDP try, one TCP try.
    asked = a.count("victim.example")
    t.ok(asked in (1, 2), f"  one question upstream ({asked} tries: UDP, then TCP after the burst)")
    m, _ = ask(v, "victim.example")
    t.eq(addrs(m), [ADDR_A], "the cached answer is the real one")
    t.eq(a.count("victim.example"), asked, "  (from the cache: no further upstream query)")
    m, _ = ask(v, "evil.example")
    t.eq(addrs(m), [ADDR_A], "the wrong-question reply was not cached (evil.example)")
    t.eq(a.count("evil.example"), 1, "  evil.example was asked upstream")
    m, _ = ask(v, "victim.example", "AAAA")
    t.ok(rcode(m) == "NOERROR" and not m.answer, "the wrong-type reply was not cached (AAAA "
         "NODATA from upstream)", m.to_text() if m else "")
    m, took = ask(v, "onlybogus.example")
    t.eq((rcode(m), addrs(m)), ("NOERROR", [ADDR_B]),
         f"only bogus replies from the first: timeout, then the second ({took:.3f}s)")
    status, body = h.http_request(h.LOOPBACK4, admin_port, "GET", "/metrics")
    mism = h.metric(h.parse_prometheus(body), "vnetdns_upstream_reply_mismatches_total")
    t.ok(mism >= 15, f"mismatching replies counted ({mism:.0f} >= 15: 5 for each of 3 queries; "
         "the wrong port is dropped by the connected socket)")


def check_truncated_tcp(ctx, t):
    """TC=1 over UDP from the upstream: retried over TCP, the full answer goes to the client"""
    a = fake(ctx, FAKE_A, ADDR_A)
    a.set("tc.example", tc=True)
    a.set("bigtc.example", tc=True, txt=20)
    v = start_vnetdns(ctx, [a], timeout="500ms", deadline="2s")
    m, _ = ask(v, "tc.example")
    t.ok(rcode(m) == "NOERROR" and addrs(m) == [ADDR_A] and not (m.flags & dns.flags.TC),
         "a truncated UDP reply: the full answer (over TCP) to a UDP client")
    t.eq((a.count("tc.example", proto="udp"), a.count("tc.example", proto="tcp")), (1, 1),
         "one UDP and one TCP query at the upstream")
    m, _ = ask(v, "bigtc.example", "TXT", tcp=True)
    n = sum(len(rr) for rr in m.answer) if m is not None else 0
    t.eq(n, 20, "a large answer: all 20 TXT records over TCP")
    m, _ = ask(v, "tc.example")
    t.eq(a.count("tc.example"), 2, "the TCP answer was cached (no further query)")


def check_tcp_reuse(ctx, t):
    """protocol = "tcp": queries share one pipelined connection per worker (RFC 7766), also
    a burst of 200 at once; a connection the upstream drops is replaced"""
    a = fake(ctx, FAKE_A, ADDR_A)
    a.set("*", delay_ms=50)  # answers out of order and overlapping
    v = start_vnetdns(ctx, [a], timeout="2s", deadline="4s", protocol="tcp")
    res = blast(v.port, [(f"tcp{i}.example", "A") for i in range(200)], deadline_s=10)
    answered = sum(1 for m, _ in res if m is not None and addrs(m) == [ADDR_A])
    t.eq(answered, 200, "200 distinct names at once over protocol = tcp: all answered")
    st = a.stats()
    t.eq(sum(c.get("tcp", 0) for c in st["names"].values()), 200, "200 TCP queries at the upstream")
    t.ok(st["tcp_connections"] == 1, f"over one TCP connection ({st['tcp_connections']})")
    for i in range(5):
        m, _ = ask(v, f"seq{i}.example")
        t.eq(addrs(m), [ADDR_A], f"sequential query {i} answered")
    t.eq(a.stats()["tcp_connections"], 1, "the connection is reused by later queries")
    # The upstream goes away and comes back: the dead connection is replaced.
    port = a.port
    a.stop()
    b = fake(ctx, FAKE_A, ADDR_A, port=port, name="fake-again")
    m, _ = ask(v, "after-restart.example")
    t.eq(addrs(m), [ADDR_A], "after the upstream restarted: answered on a new connection")
    t.eq(b.stats()["tcp_connections"], 1, "one new connection to the restarted upstream")
    # A connection on which nothing comes back any more is not kept for later queries.
    b.set("stuck.example", drop=True)
    m, _ = ask(v, "stuck.example")
    t.eq(rcode(m), "SERVFAIL", "a query the upstream never answers: SERVFAIL after the deadline")
    m, _ = ask(v, "unstuck.example")
    t.eq(addrs(m), [ADDR_A], "the next query is answered")
    n = b.stats()["tcp_connections"]
    t.ok(n >= 2, f"over a new connection: the silent one was closed when its query timed out "
         f"({n} connections in all: one per try of the stuck query, then one)")


def check_formerr_edns(ctx, t):
    """FORMERR to EDNS: that question retried without EDNS; other names keep EDNS until three
    distinct names needed the fallback, then the upstream is asked without EDNS"""
    a = fake(ctx, FAKE_A, ADDR_A)
    for i in (1, 2, 3):
        a.set(f"noedns{i}.example", formerr_edns=True)
    v = start_vnetdns(ctx, [a], timeout="500ms", deadline="2s")

    def counts(name):
        c = a.stats()["names"].get(name + ".", {})
        return c.get("edns", 0), c.get("noedns", 0)

    m, _ = ask(v, "noedns1.example")
    t.eq((rcode(m), addrs(m)), ("NOERROR", [ADDR_A]), "answered after the EDNS fallback")
    t.eq(counts("noedns1.example"), (1, 1), "one query with EDNS (FORMERR), one without")
    m, _ = ask(v, "fine1.example")
    t.eq(addrs(m), [ADDR_A], "another name is answered")
    t.eq(counts("fine1.example"), (1, 0), "  with EDNS: one name's FORMERR is not the server's")
    for name in ("noedns2.example", "noedns3.example"):
        m, _ = ask(v, name)
        t.eq(addrs(m), [ADDR_A], f"{name}: answered after the EDNS fallback")
    m, _ = ask(v, "fine2.example")
    t.eq(addrs(m), [ADDR_A], "after three names failed with EDNS: answered")
    t.eq(counts("fine2.example"), (0, 1), "  without EDNS: the upstream is marked EDNS-less")


def check_failure_cached(ctx, t):
    """a failure (SERVFAIL) is cached for about 5 s: a second query within 5 s does not reach
    the upstream, one after it does"""
    a = fake(ctx, FAKE_A, ADDR_A)
    a.set("fail.example", rcode="SERVFAIL")
    v = start_vnetdns(ctx, [a], timeout="500ms", deadline="2s")
    m, _ = ask(v, "fail.example")
    first = time.monotonic()
    t.eq(rcode(m), "SERVFAIL", "SERVFAIL from the only upstream")
    t.eq(a.count("fail.example"), 1, "one upstream query")
    m, _ = ask(v, "fail.example")
    t.eq(rcode(m), "SERVFAIL", "asked again at once: SERVFAIL")
    wait_until(first + 3.0)
    m, _ = ask(v, "fail.example")
    t.eq(rcode(m), "SERVFAIL", "asked again 3 s later: SERVFAIL")
    t.eq(a.count("fail.example"), 1, "  from the failure cache (no upstream query)")
    a.clear()
    wait_until(first + 6.1)
    m, _ = ask(v, "fail.example")
    t.eq((rcode(m), addrs(m)), ("NOERROR", [ADDR_A]), "after 5 s: asked upstream again, answered")
    t.eq(a.count("fail.example"), 2, "  (a second upstream query)")


CHECKS = [check_blackholed_first, check_servfail_refused_failover, check_dies_under_load,
          check_all_down_stale_and_back, check_stale_on_slow_refresh, check_coalescing_1000,
          check_max_outstanding, check_max_outstanding_failover, check_max_qps, check_prefetch, check_spoofed_replies,
          check_truncated_tcp, check_tcp_reuse, check_formerr_edns, check_failure_cached]

if __name__ == "__main__":
    sys.exit(h.main(CHECKS, __doc__))
