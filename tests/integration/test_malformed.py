#!/usr/bin/python3
"""Malformed and hostile input on the real binary: raw UDP junk, header-only and two-question
queries, replies sent as queries, unknown opcodes, EDNS version 1, compression loops, a corpus
of real-world packets (unbound's test packets), and junk over TCP. After all of it a normal
query must still be answered correctly and the process must still be alive, then stop cleanly
on SIGTERM.

Run: /usr/bin/python3 tests/integration/test_malformed.py --binary build/vnetdns --source .
"""

import glob
import os
import select
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

import dns.message  # noqa: E402
import dns.rcode  # noqa: E402

# Real and malformed packets kept in the tree (seeded from shared/corpora, see its README).
CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fuzz", "corpus",
                      "fuzz_message_parser")
NO_REPLY_WAIT_S = 1.0

RCODE = {"NOERROR": 0, "FORMERR": 1, "SERVFAIL": 2, "NXDOMAIN": 3, "NOTIMP": 4, "REFUSED": 5}


def header(qid=0x4242, flags=0x0100, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


def qname_wire(name):
    out = b""
    for label in name.strip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\x00"


def question(name="myregistry.privatelink.azurecr.io", qtype=1, qclass=1):
    return qname_wire(name) + struct.pack("!HH", qtype, qclass)


def parse_header(reply):
    qid, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", reply[:12])
    return {"id": qid, "qr": flags >> 15, "opcode": (flags >> 11) & 0xF, "rcode": flags & 0xF,
            "qd": qd, "an": an}


def expect_rcode(t, v, what, packet, want, qid=0x4242):
    reply = h.raw_udp(h.LOOPBACK4, v.port, packet, timeout=3)
    if not t.ok(reply is not None and len(reply) >= 12, f"{what}: got a reply"):
        return None
    hd = parse_header(reply)
    t.ok(hd["qr"] == 1 and hd["id"] == qid and hd["rcode"] == RCODE[want] and hd["an"] == 0,
         f"{what}: {want} with QR=1 and the query's ID", hd)
    return reply


def expect_silence(t, v, what, packet):
    reply = h.raw_udp(h.LOOPBACK4, v.port, packet, timeout=NO_REPLY_WAIT_S)
    t.ok(reply is None, f"{what}: no reply", reply)


def still_serving(t, v, what):
    m = h.udp(h.LOOPBACK4, v.port, "myregistry.azurecr.io", timeout=3)
    t.eq(h.answer_addresses(m), ["10.0.0.7"], f"{what}: a normal query is still answered")
    t.ok(v.alive(), f"{what}: vnetdns is still running", v.tail())


def start(ctx):
    s = ctx.standin()
    v = ctx.vnetdns(zones=[h.private_zone()], forwards=[{"zone": ".", "upstreams": [s.upstream()]}])
    return s, v


def check_sanitize(ctx, t):
    """each sanitizer reason: drop, FORMERR, NOTIMP, BADVERS"""
    s, v = start(ctx)
    expect_silence(t, v, "5-byte packet", b"\x12\x34\x01\x00\x00")
    expect_silence(t, v, "empty packet", b"")
    expect_rcode(t, v, "header only, QDCOUNT=0", header(qd=0), "FORMERR")
    expect_rcode(t, v, "QDCOUNT=2", header(qd=2) + question() + question(
        "myregistry.westeurope.data.privatelink.azurecr.io"), "FORMERR")
    expect_rcode(t, v, "QDCOUNT=1 but no question bytes", header(qd=1), "FORMERR")
    expect_rcode(t, v, "question cut inside the type", header() + qname_wire(
        "myregistry.privatelink.azurecr.io") + b"\x00", "FORMERR")
    expect_silence(t, v, "QR=1 (a reply sent as a query)", header(flags=0x8100) + question())
    expect_silence(t, v, "QR=1 header only", header(flags=0x8000, qd=0))
    expect_rcode(t, v, "opcode 2 (STATUS)", header(flags=(2 << 11) | 0x0100) + question(),
                 "NOTIMP")
    expect_rcode(t, v, "opcode 5 (UPDATE)", header(flags=(5 << 11)) + question(), "NOTIMP")
    # CD is defined for opcode QUERY only: NOTIMP to opcode 15 with CD set does not echo it
    # (dig +opcode=15 +cd), while RD is echoed as for every error.
    reply = expect_rcode(t, v, "opcode 15 with RD and CD", header(flags=(15 << 11) | 0x0110) +
                         question(), "NOTIMP")
    if reply is not None:
        flags = struct.unpack("!H", reply[2:4])[0]
        t.eq((flags & 0x0100 != 0, flags & 0x0010 != 0), (True, False),
             "opcode 15: RD echoed, CD not (CD is for opcode QUERY only)")
    reply = expect_rcode(t, v, "QUERY with CD and QDCOUNT=2", header(flags=0x0110, qd=2) +
                         question() + question(), "FORMERR")
    if reply is not None:
        t.ok(struct.unpack("!H", reply[2:4])[0] & 0x0010 != 0,
             "an error to opcode QUERY echoes CD")

    # EDNS version 1 -> BADVERS (extended RCODE 16: 0 in the header, 1 in the OPT TTL)
    # dnspython 2.3 writes version 0 whatever use_edns says, so set the version byte of the
    # OPT TTL by hand: the OPT RR (no options) is the last 11 bytes; its version is at -5.
    q = h.make_query("myregistry.privatelink.azurecr.io", "A")
    wire = bytearray(q.to_wire())
    assert wire[-10:-8] == b"\x00\x29", "expected the OPT record last"
    wire[-5] = 1
    reply = h.raw_udp(h.LOOPBACK4, v.port, bytes(wire), timeout=3)
    if t.ok(reply is not None, "EDNS version 1: got a reply"):
        m = dns.message.from_wire(reply)
        t.eq(m.rcode(), dns.rcode.BADVERS, "EDNS version 1: BADVERS (extended RCODE 16)")
        t.eq(m.edns, 0, "EDNS version 1: the reply's OPT says version 0")
        t.eq(len(m.answer), 0, "EDNS version 1: no answer")
        t.eq(m.id, q.id, "EDNS version 1: the query's ID")

    # two OPT records -> FORMERR (RFC 6891 6.1.1)
    opt = b"\x00" + struct.pack("!HHIH", 41, 1232, 0, 0)
    expect_rcode(t, v, "two OPT records", header(ar=2) + question() + opt + opt, "FORMERR")

    # compression loops in the question name
    expect_rcode(t, v, "qname pointing at itself", header() + b"\xc0\x0c" +
                 struct.pack("!HH", 1, 1), "FORMERR")
    expect_rcode(t, v, "qname loop through a label", header() + b"\x03abc\xc0\x0c" +
                 struct.pack("!HH", 1, 1), "FORMERR")
    expect_rcode(t, v, "qname pointer forward past the end", header() + b"\xc0\xff" +
                 struct.pack("!HH", 1, 1), "FORMERR")
    expect_rcode(t, v, "label type 0x40 (extended label)", header() + b"\x41abc\x00" +
                 struct.pack("!HH", 1, 1), "FORMERR")
    long_name = b"".join(b"\x3f" + b"a" * 63 for _ in range(5)) + b"\x00"  # 321 > 255 bytes
    expect_rcode(t, v, "qname longer than 255 bytes", header() + long_name +
                 struct.pack("!HH", 1, 1), "FORMERR")
    still_serving(t, v, "after the sanitizer checks")


def check_corpus(ctx, t):
    """unbound's test packets (some malformed) sent as queries: replies well formed, no crash"""
    s, v = start(ctx)
    files = sorted(glob.glob(os.path.join(CORPUS, "*")))
    files = [f for f in files if os.path.isfile(f) and not os.path.basename(f).startswith("LICENSE")]
    if not t.ok(len(files) > 100, f"corpus has packets ({len(files)} in {CORPUS})"):
        return
    sent_ids = set()
    bad = []
    replies = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)

        def drain(wait):
            nonlocal replies
            end = time.monotonic() + wait
            while True:
                left = end - time.monotonic()
                r, _, _ = select.select([sock], [], [], max(left, 0))
                if not r:
                    return
                data, _ = sock.recvfrom(65535)
                replies += 1
                if len(data) < 12:
                    bad.append(("short reply", data))
                    continue
                hd = parse_header(data)
                if hd["qr"] != 1 or hd["id"] not in sent_ids:
                    bad.append(("reply without QR or with an unknown ID", hd))

        for i, f in enumerate(files):
            with open(f, "rb") as fh:
                pkt = fh.read()[:65000]
            if len(pkt) >= 2:
                sent_ids.add(struct.unpack("!H", pkt[:2])[0])
            sock.sendto(pkt, (h.LOOPBACK4, v.port))
            if i % 16 == 15:
                drain(0.02)
        drain(3.0)  # forwarded ones may wait for the stand-in
    t.ok(not bad, f"every reply to the corpus is a reply ({replies} replies to {len(files)})",
         "\n".join(repr(b) for b in bad[:10]))
    still_serving(t, v, "after the corpus over UDP")

    # the same packets over TCP, each on its own connection, a few at a time
    tcp_bad = []
    for f in files[::8]:
        with open(f, "rb") as fh:
            pkt = fh.read()[:65000]
        try:
            with socket.create_connection((h.LOOPBACK4, v.port), timeout=2) as c:
                c.sendall(struct.pack("!H", len(pkt)) + pkt)
                c.shutdown(socket.SHUT_WR)
                data = b""
                while True:
                    chunk = c.recv(65535)
                    if not chunk:
                        break
                    data += chunk
                if data:
                    ln = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else -1
                    if ln != len(data) - 2 or ln < 12 or parse_header(data[2:])["qr"] != 1:
                        tcp_bad.append((os.path.basename(f), data[:16]))
        except socket.timeout:
            tcp_bad.append((os.path.basename(f), "timeout: connection neither answered nor closed"))
        except ConnectionError:
            pass  # closing on junk is fine
    t.ok(not tcp_bad, f"TCP: {len(files[::8])} corpus packets, each answered well or closed",
         "\n".join(repr(b) for b in tcp_bad[:10]))
    still_serving(t, v, "after the corpus over TCP")


def check_tcp_junk(ctx, t):
    """TCP framing abuse: short length, huge length then close, zero length, pipelined junk"""
    s, v = start(ctx)
    cases = {
        "length 5 with 5 junk bytes": struct.pack("!H", 5) + b"\x12\x34\x01\x00\x00",
        "length 65535 then close": struct.pack("!H", 65535) + b"\x00" * 100,
        "length 0": struct.pack("!H", 0),
        "one byte of length": b"\x00",
    }
    for what, data in cases.items():
        try:
            with socket.create_connection((h.LOOPBACK4, v.port), timeout=3) as c:
                c.sendall(data)
                c.shutdown(socket.SHUT_WR)
                got = c.recv(65535)
                t.ok(got == b"" or (len(got) >= 14 and parse_header(got[2:])["qr"] == 1),
                     f"TCP {what}: closed or a well-formed reply", got[:16])
        except socket.timeout:
            t.ok(False, f"TCP {what}: closed or a well-formed reply (it hung)")
        except ConnectionError:
            t.ok(True, f"TCP {what}: connection reset")
    # a good query after junk on one connection: either answered or the connection is closed
    m = h.tcp(h.LOOPBACK4, v.port, "myregistry.privatelink.azurecr.io")
    t.eq(h.answer_addresses(m), ["10.0.0.7"], "TCP: a fresh connection is answered")
    still_serving(t, v, "after TCP junk")
    rc = v.stop()
    t.eq(rc, 0, "SIGTERM: vnetdns exits 0")


if __name__ == "__main__":
    sys.exit(h.main([check_sanitize, check_corpus, check_tcp_junk], __doc__))
