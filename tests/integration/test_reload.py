#!/usr/bin/python3
"""Live reload and the process lifecycle: POST /reload picks up a zone edit; a broken zone
keeps the old answers and counts a failure (with FILE:LINE in the reply); a zone edit on disk
is picked up without any signal; three reloads under a steady query load lose no query and
the cache keeps hitting; SIGTERM lets a query waiting on a slow upstream finish; systemd's
notify protocol (READY, RELOADING + MONOTONIC_USEC, WATCHDOG, STOPPING) over NOTIFY_SOCKET.

Run: /usr/bin/python3 tests/integration/test_reload.py --binary build/vnetdns --source .
"""

import os
import re
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

import dns.message  # noqa: E402
import dns.query  # noqa: E402
import dns.rcode  # noqa: E402
import dns.rrset  # noqa: E402

PUBLIC_MY = "20.45.122.144"
CACHED = "weu-acr-reg.cloudapp.example"
ZONE = "privatelink.azurecr.io"
DRAIN_BOUND_S = 2.0 + 1.5  # Application::kDrainTimeout plus slack for a loaded machine


def start_pair(ctx, **kw):
    s = ctx.standin()
    aport = h.free_port()
    v = ctx.vnetdns(zones=[h.private_zone()], forwards=[{"zone": ".", "upstreams": [s.upstream()]}],
                    extra_toml=h.admin_toml(aport), **kw)
    v.admin_port = aport
    return s, v


def metrics(v):
    status, body = h.http_request(h.LOOPBACK4, v.admin_port, "GET", "/metrics")
    assert status == 200, body
    return h.parse_prometheus(body)


def edit_zone(v, serial, extra_records):
    """Rewrites the served zone copy with a new serial and extra records (atomic rename)."""
    path = v.zone_files[ZONE]
    with open(os.path.join(h.DATA, "privatelink.azurecr.io.zone")) as f:
        text = f.read()
    text = text.replace(" 1 3600 600 86400 10", f" {serial} 3600 600 86400 10")
    text += "".join(f"{name:<29} 10 IN A    {addr}\n" for name, addr in extra_records)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def addresses(v, name):
    try:
        return h.answer_addresses(h.udp(h.LOOPBACK4, v.port, name, timeout=2))
    except Exception as e:  # noqa: BLE001
        return repr(e)


def poll_answer(v, name, want, deadline_s=10.0):
    end, got = time.monotonic() + deadline_s, None
    while time.monotonic() < end:
        got = addresses(v, name)
        if got == want:
            return got
        time.sleep(0.1)  # poll interval while the reload lands
    return got


def check_post_reload(ctx, t):
    """POST /reload applies a zone edit at once and counts the reload"""
    s, v = start_pair(ctx)
    m0 = metrics(v)
    edit_zone(v, 2, [("otherregistry", "10.0.0.8")])
    status, body = h.http_request(h.LOOPBACK4, v.admin_port, "POST", "/reload")
    t.eq((status, body), (200, "reloaded\n"), "POST /reload: 200 reloaded")
    # No polling: the reply comes after the new snapshot is published.
    t.eq(addresses(v, "otherregistry.privatelink.azurecr.io"), ["10.0.0.8"],
         "right after POST /reload: the new record is served")
    m1 = metrics(v)
    t.ok(h.metric(m1, "vnetdns_reloads_total") >= h.metric(m0, "vnetdns_reloads_total") + 1,
         "vnetdns_reloads_total went up")
    t.eq(h.metric(m1, "vnetdns_zone_serial", zone=ZONE + "."), 2.0, "zone serial 2 is loaded")
    t.eq(h.metric(m1, "vnetdns_reload_failures_total"), 0.0, "no reload failure")


def check_broken_reload(ctx, t):
    """a broken zone file on reload keeps the old answers, says FILE:LINE, counts a failure"""
    s, v = start_pair(ctx)
    m0 = metrics(v)
    path = v.zone_files[ZONE]
    with open(path, "a") as f:
        f.write("this is not a record\n")
    status, body = h.http_request(h.LOOPBACK4, v.admin_port, "POST", "/reload")
    t.eq(status, 500, "POST /reload of a broken zone: 500", body)
    t.ok(re.search(re.escape(os.path.basename(path)) + r":\d+: ", body) is not None,
         "the reply names FILE:LINE of the error", body)
    t.eq(addresses(v, "myregistry.privatelink.azurecr.io"), ["10.0.0.7"],
         "the old answers are still served")
    m1 = metrics(v)
    t.ok(h.metric(m1, "vnetdns_reload_failures_total") >=
         h.metric(m0, "vnetdns_reload_failures_total") + 1,
         "vnetdns_reload_failures_total went up")
    t.eq(h.metric(m1, "vnetdns_reloads_total"), h.metric(m0, "vnetdns_reloads_total"),
         "no successful reload counted")
    v.child.wait_for_line(r"reload failed: .*:\d+: ", 5)
    t.ok(True, "the log has 'reload failed: FILE:LINE: reason'")
    t.ok(v.alive(), "still running")


def answers_at(addr, port, tcp=False):
    try:
        m = (h.tcp if tcp else h.udp)(addr, port, "myregistry.privatelink.azurecr.io", timeout=1)
        return h.answer_addresses(m)
    except Exception as e:  # noqa: BLE001 - no answer is a result here
        return repr(e)


def set_listen(v, listen):
    v.config_text = re.sub(r"(?m)^listen = .*$", f"listen = {h._toml_value(listen)}", v.config_text,
                           count=1)  # the [server] one, not [admin]
    with open(v.config, "w") as f:
        f.write(v.config_text)
    return h.http_request(h.LOOPBACK4, v.admin_port, "POST", "/reload")


def check_listen_change(ctx, t):
    """a reload adds and removes listen addresses live; a taken address fails the reload"""
    s, v = start_pair(ctx, listen_addrs=(h.LOOPBACK4,))
    first = f"127.0.0.1:{v.port}"
    port2 = h.free_port(hosts=("127.0.0.2",))
    second = f"127.0.0.2:{port2}"
    held = socket.create_connection((h.LOOPBACK4, v.port), timeout=3)
    try:
        status, body = set_listen(v, [first, second])
        t.eq((status, body), (200, "reloaded\n"), "reload adding 127.0.0.2: 200", body)
        t.eq(answers_at("127.0.0.2", port2), ["10.0.0.7"], "the added address answers over UDP")
        t.eq(answers_at("127.0.0.2", port2, tcp=True), ["10.0.0.7"], "and over TCP")
        t.eq(answers_at(h.LOOPBACK4, v.port), ["10.0.0.7"], "the first address still answers")
        q = h.make_query("myregistry.privatelink.azurecr.io", "A")
        dns.query.send_tcp(held, q, expiration=time.time() + 3)
        r = dns.query.receive_tcp(held, expiration=time.time() + 3)[0]
        t.eq(h.answer_addresses(r), ["10.0.0.7"],
             "a TCP connection opened before the reload keeps working")
        t.ok(v.child.wait_for_line(r"now listening on 127\.0\.0\.2:", 5) is not None,
             "the log says 'now listening on 127.0.0.2:...'")

        status, body = set_listen(v, [second])
        t.eq(status, 200, "reload removing 127.0.0.1: 200", body)
        t.eq(answers_at("127.0.0.2", port2), ["10.0.0.7"], "the remaining address answers")
        t.ok(answers_at(h.LOOPBACK4, v.port) != ["10.0.0.7"], "the removed address answers no more (UDP)")
        try:
            socket.create_connection((h.LOOPBACK4, v.port), timeout=2).close()
            refused = False
        except OSError:
            refused = True
        t.ok(refused, "the removed address refuses TCP connections")
    finally:
        held.close()

    # An address someone else holds (no SO_REUSEPORT): the reload fails, nothing changes.
    port3 = h.free_port(hosts=("127.0.0.3",))
    blocker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    blocker.bind(("127.0.0.3", port3))
    try:
        m0 = metrics(v)
        status, body = set_listen(v, [second, f"127.0.0.3:{port3}"])
        t.eq(status, 500, "reload adding a taken address: 500", body)
        t.ok(f"cannot listen on 127.0.0.3:{port3}" in body, "the reply names the address", body)
        t.eq(answers_at("127.0.0.2", port2), ["10.0.0.7"], "the running listener still answers")
        t.ok(h.metric(metrics(v), "vnetdns_reload_failures_total") >=
             h.metric(m0, "vnetdns_reload_failures_total") + 1, "the failure is counted")
    finally:
        blocker.close()
    t.ok(v.alive(), "still running")


def check_file_change(ctx, t):
    """a zone edit on disk is picked up without a signal, and so is a config edit"""
    s, v = start_pair(ctx)
    edit_zone(v, 3, [("thirdregistry", "10.0.0.9")])
    t.eq(poll_answer(v, "thirdregistry.privatelink.azurecr.io", ["10.0.0.9"]), ["10.0.0.9"],
         "the edited zone is served without SIGHUP or POST /reload")
    v.child.wait_for_line(r"changed on disk", 5)
    t.ok(True, "the log says the file changed on disk")
    # A config edit too: forward a new zone to the stand-in... by turning on_miss = forward.
    with open(v.config) as f:
        text = f.read()
    with open(v.config, "w") as f:
        f.write(text.replace('on_miss = "nxdomain"', 'on_miss = "forward"'))
    m = None
    end = time.monotonic() + 10
    while time.monotonic() < end:
        m = h.udp(h.LOOPBACK4, v.port, "nosuchregistry.privatelink.azurecr.io")
        if not m.flags & 0x0400:  # no longer the local zone's authoritative NXDOMAIN
            break
        time.sleep(0.1)  # poll interval while the reload lands
    t.ok(m is not None and not m.flags & 0x0400,
         "the config edit (on_miss = forward) is applied without a signal",
         m.to_text() if m else None)


def check_reload_under_load(ctx, t):
    """three reloads under a steady query load: no query lost, cache hits keep rising"""
    s, v = start_pair(ctx)
    h.udp(h.LOOPBACK4, v.port, CACHED)  # cached from now on
    stop = threading.Event()
    results = {"ok": 0, "bad": []}

    def load():
        names = [("myregistry.privatelink.azurecr.io", ["10.0.0.7"]), (CACHED, [PUBLIC_MY])]
        i = 0
        while not stop.is_set():
            name, want = names[i % 2]
            i += 1
            try:
                got = h.answer_addresses(h.udp(h.LOOPBACK4, v.port, name, timeout=2))
                if got == want:
                    results["ok"] += 1
                else:
                    results["bad"].append((name, got))
            except Exception as e:  # noqa: BLE001 - a lost query is the failure we look for
                results["bad"].append((name, repr(e)))

    c0 = s.query_count()
    m0 = metrics(v)
    th = threading.Thread(target=load, daemon=True)
    th.start()
    try:
        hits = [h.metric(m0, "vnetdns_cache_hits_total")]
        for i in range(3):
            time.sleep(0.3)  # let queries run between reloads (load, not readiness)
            edit_zone(v, 10 + i, [(f"load{i}", f"10.0.1.{i}")])
            status, body = h.http_request(h.LOOPBACK4, v.admin_port, "POST", "/reload")
            t.eq(status, 200, f"reload {i + 1} under load: 200", body)
            hits.append(h.metric(metrics(v), "vnetdns_cache_hits_total"))
        time.sleep(0.3)
    finally:
        stop.set()
        th.join(timeout=10)
    t.ok(not th.is_alive(), "the load thread stopped")
    t.eq(results["bad"], [], "no query lost or wrong during the reloads")
    t.ok(results["ok"] > 20, f"the load ran ({results['ok']} answers)")
    t.ok(all(b > a for a, b in zip(hits, hits[1:])), "cache hits kept rising across reloads",
         hits)
    t.eq(s.query_count(), c0, "the cached name never went upstream again (cache survived)")
    t.eq(addresses(v, "load2.privatelink.azurecr.io"), ["10.0.1.2"], "the last edit is served")


class SlowUpstream:
    """A UDP DNS server on loopback that answers every query after `delay` seconds."""

    def __init__(self, addr="127.0.0.3", delay=1.0):
        self.addr = addr
        self.port = h.free_port((addr,))
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((addr, self.port))
        self.sock.settimeout(0.1)
        self.delay = delay
        self.received = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            self.received += 1
            q = dns.message.from_wire(data)
            r = dns.message.make_response(q)
            r.answer.append(dns.rrset.from_text(q.question[0].name, 60, "IN", "A", "192.0.2.1"))
            threading.Timer(self.delay, self.sock.sendto, (r.to_wire(), peer)).start()

    def close(self):
        self.stop.set()
        self.thread.join(timeout=5)
        self.sock.close()


def check_graceful_stop(ctx, t):
    """SIGTERM while a query waits on a slow upstream: it is answered, then exit 0"""
    up = SlowUpstream(delay=1.0)
    ctx.stack.callback(up.close)
    v = ctx.vnetdns(zones=[h.private_zone()],
                    forwards=[{"zone": ".", "upstreams": [f"{up.addr}:{up.port}"],
                               "timeout": "3s", "deadline": "4s"}])
    box = {}

    def ask():
        try:
            box["m"] = h.udp(h.LOOPBACK4, v.port, "slow.example", timeout=5)
        except Exception as e:  # noqa: BLE001
            box["e"] = e

    th = threading.Thread(target=ask, daemon=True)
    th.start()
    end = time.monotonic() + 3
    while time.monotonic() < end and up.received == 0:
        time.sleep(0.02)  # poll until the query is in flight at the slow upstream
    t.eq(up.received, 1, "the query reached the slow upstream")
    started = time.monotonic()
    v.child.signal(signal.SIGTERM)
    rc = v.child.proc.wait(timeout=10)
    took = time.monotonic() - started
    th.join(timeout=6)
    t.eq(rc, 0, "exit status 0 after SIGTERM")
    t.ok("m" in box and h.answer_addresses(box["m"]) == ["192.0.2.1"],
         "the in-flight query was answered before the process stopped", box)
    t.ok(took < DRAIN_BOUND_S, f"stopped within the drain bound ({took:.2f}s < {DRAIN_BOUND_S}s)")
    v.child.wait_for_line(r"STOPPED", 2)
    t.ok(True, "logged 'stopped'")


def check_systemd_notify(ctx, t):
    """NOTIFY_SOCKET: READY=1 once listening, RELOADING=1+MONOTONIC_USEC then READY=1 around
    a reload, WATCHDOG=1 when WATCHDOG_USEC is set, STOPPING=1 on SIGTERM (abstract socket)"""
    s = ctx.standin()
    name = f"vnetdns-test-notify-{os.getpid()}-{time.monotonic_ns()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(0.2)
    ctx.stack.callback(sock.close)
    env = dict(os.environ, NOTIFY_SOCKET="@" + name, WATCHDOG_USEC="400000")
    env.pop("WATCHDOG_PID", None)
    v = ctx.vnetdns(start=False, zones=[h.private_zone()],
                    forwards=[{"zone": ".", "upstreams": [s.upstream()]}])
    v.start(env=env)
    msgs = []

    def wait_msg(pred, deadline_s=5.0):
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            for m in msgs:
                if pred(m):
                    return m
            try:
                msgs.append(sock.recv(4096).decode())
            except socket.timeout:
                pass
        return None

    t.ok(wait_msg(lambda m: m.startswith("READY=1")) is not None, "READY=1 once listening", msgs)
    t.ok(wait_msg(lambda m: m == "WATCHDOG=1") is not None, "WATCHDOG=1 with WATCHDOG_USEC", msgs)
    msgs.clear()
    v.child.signal(signal.SIGHUP)
    rl = wait_msg(lambda m: m.startswith("RELOADING=1"))
    t.ok(rl is not None and re.search(r"\nMONOTONIC_USEC=\d+$", rl or "") is not None,
         "SIGHUP: RELOADING=1 with MONOTONIC_USEC", msgs)
    idx = msgs.index(rl) if rl in msgs else -1
    t.ok(wait_msg(lambda m: m.startswith("READY=1") and msgs.index(m) > idx) is not None,
         "then READY=1", msgs)
    v.child.signal(signal.SIGTERM)
    t.ok(wait_msg(lambda m: m.startswith("STOPPING=1")) is not None, "SIGTERM: STOPPING=1", msgs)
    t.eq(v.child.proc.wait(timeout=10), 0, "exit status 0")


if __name__ == "__main__":
    sys.exit(h.main([check_post_reload, check_broken_reload, check_listen_change, check_file_change,
                     check_reload_under_load, check_graceful_stop, check_systemd_notify],
                    __doc__))
