#!/usr/bin/python3
"""The shipped systemd unit: `systemd-analyze verify` accepts it (with ExecStart pointed at the
binary under test, since nothing is installed here), and `systemd-analyze security --offline`
rates its exposure below 2.0. Starts no service and sends no packet.

Run: /usr/bin/python3 tests/integration/test_systemd_unit.py --binary build/vnetdns --source .
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--source", required=True)
    args = ap.parse_args()
    passed = failed = 0

    def check(cond, what, detail=""):
        nonlocal passed, failed
        if cond:
            passed += 1
            print(f"ok - {what}")
        else:
            failed += 1
            print(f"not ok - {what}\n#   {detail}")

    if shutil.which("systemd-analyze") is None:
        print("# systemd-analyze not installed: skipped")
        print("0 passed, 0 failed")
        return 0
    unit = open(os.path.join(args.source, "systemd", "vnetdns.service")).read()
    check("ExecStart=/usr/sbin/vnetdns serve -c /etc/vnetdns/vnetdns.toml" in unit,
          "the unit runs `vnetdns serve -c /etc/vnetdns/vnetdns.toml`")
    check(re.search(r"^AmbientCapabilities=CAP_NET_BIND_SERVICE$", unit, re.M) is not None and
          re.search(r"^CapabilityBoundingSet=CAP_NET_BIND_SERVICE$", unit, re.M) is not None,
          "only CAP_NET_BIND_SERVICE")
    check(re.search(r"^(DynamicUser=yes|User=)", unit, re.M) is not None, "runs unprivileged")
    binary = os.path.abspath(args.binary)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "vnetdns.service")
        with open(path, "w") as f:
            f.write(unit.replace("/usr/sbin/vnetdns", binary))
        v = subprocess.run(["systemd-analyze", "verify", path], capture_output=True, text=True,
                           timeout=60)
        check(v.returncode == 0 and v.stderr.strip() == "", "systemd-analyze verify is clean",
              v.stderr.strip())
        s = subprocess.run(["systemd-analyze", "security", "--offline=yes", path],
                           capture_output=True, text=True, timeout=60)
        m = re.search(r"Overall exposure level for vnetdns.service: ([0-9.]+)", s.stdout)
        check(m is not None and float(m.group(1)) < 2.0,
              f"systemd-analyze security exposure below 2.0 ({m.group(1) if m else '?'})",
              s.stdout[-500:] + s.stderr[-500:])
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
