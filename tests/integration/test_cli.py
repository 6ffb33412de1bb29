#!/usr/bin/python3
"""The command line contract: --version, check-config (exit 0, or exit 1 with FILE:LINE:
messages), serve refusing a bad config at startup, and SIGTERM/SIGINT stopping it cleanly.

Run: /usr/bin/python3 tests/integration/test_cli.py --binary build/vnetdns --source .
"""

import os
import re
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402


def run(argv, timeout=20):
    return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout)


def check_version(ctx, t):
    """vnetdns --version prints a version and exits 0"""
    r = run([ctx.binary, "--version"])
    t.eq(r.returncode, 0, "--version exits 0")
    t.ok(re.search(r"\d+\.\d+", r.stdout + r.stderr), "--version prints a version number",
         r.stdout + r.stderr)


def check_check_config(ctx, t):
    """check-config accepts a good file and points at the bad line of a broken one"""
    good = h.Vnetdns(ctx.binary, ctx.workdir, zones=[h.private_zone()],
                     forwards=[{"zone": ".", "upstreams": ["127.0.0.2:53"]}])
    r = run([ctx.binary, "check-config", "-c", good.config])
    t.eq(r.returncode, 0, "check-config: a good config exits 0", r.stdout + r.stderr)

    lines = good.config_text.splitlines()
    idx = next(i for i, l in enumerate(lines) if l.startswith("on_miss"))
    lines[idx] = 'on_miss = "sometimes"'
    bad = os.path.join(good.dir, "bad.toml")
    with open(bad, "w") as f:
        f.write("\n".join(lines) + "\n")
    r = run([ctx.binary, "check-config", "-c", bad])
    out = r.stdout + r.stderr
    t.eq(r.returncode, 1, "check-config: a bad on_miss exits 1")
    t.ok(re.search(rf"{re.escape(bad)}:{idx + 1}:", out) or re.search(
        rf"bad\.toml:{idx + 1}:", out), f"check-config: message names bad.toml:{idx + 1}", out)

    lines = good.config_text.splitlines()
    idx = next(i for i, l in enumerate(lines) if l.startswith("upstreams"))
    lines[idx] = 'upstreams = ["not an address"]'
    with open(bad, "w") as f:
        f.write("\n".join(lines) + "\n")
    r = run([ctx.binary, "check-config", "-c", bad])
    out = r.stdout + r.stderr
    t.eq(r.returncode, 1, "check-config: a bad upstream exits 1")
    t.ok(f"bad.toml:{idx + 1}:" in out, f"check-config: message names bad.toml:{idx + 1}", out)

    with open(bad, "w") as f:
        f.write("[server\nlisten = 1\n")
    r = run([ctx.binary, "check-config", "-c", bad])
    t.eq(r.returncode, 1, "check-config: a TOML syntax error exits 1")
    t.ok("bad.toml:1" in r.stdout + r.stderr, "check-config: syntax error at bad.toml:1",
         r.stdout + r.stderr)

    # serve refuses the same bad config: exits non-zero quickly, without listening
    r = run([ctx.binary, "serve", "-c", bad], timeout=20)
    t.ok(r.returncode != 0 and "listening" not in (r.stdout + r.stderr).lower(),
         "serve: a bad config is fatal at startup", r.stdout + r.stderr)


def check_signals(ctx, t):
    """SIGTERM and SIGINT stop a serving vnetdns with exit status 0"""
    for sig in (signal.SIGTERM, signal.SIGINT):
        v = ctx.vnetdns(zones=[h.private_zone()],
                        forwards=[{"zone": ".", "upstreams": ["127.0.0.2:9"]}])
        m = h.udp(h.LOOPBACK4, v.port, "myregistry.privatelink.azurecr.io")
        t.eq(h.answer_addresses(m), ["10.0.0.7"], f"serving before {sig.name}")
        v.child.signal(sig)
        try:
            rc = v.child.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            rc = None
        t.eq(rc, 0, f"{sig.name}: exits 0 within 10 s")
        v.stop()


if __name__ == "__main__":
    sys.exit(h.main([check_version, check_check_config, check_signals], __doc__))
