#!/usr/bin/python3
"""One workload, A/B: one or more vnetdns binaries and a reference server in alternating
rounds, with the benchmark's setup (bench.py: same knotd upstream, names, configs, pinning,
dnsperf settings). A minute or two per round instead of the full benchmark's twenty, for
trying a change to one path. Reports per round and the medians: queries/s, µs of server CPU
per query (user and system), the upstream's CPU per query (knotd: it shares a core with
dnsperf, so a server that wakes it more often is slower there) and the server's involuntary
context switches.

  --workload miss   (default) the miss names once each from a fresh start; against dnsdist
                    (--reference dnsdist,unbound for both; --pool adds each binary in pool
                    mode too; --loads c8,c10 runs each round under bench.py's own dnsperf
                    setting and the independent run's -c 10; --knotd self leaves knotd's UDP
                    worker where knotd pins it, on the server's CPU, as before 2026-11-29;
                    --knotd ours,self alternates both placements in each round)
  --workload hit    cache hits under dnsperf (warmed); against the echo responder
  --workload local  local-zone answers under dnsperf; against the echo responder
  --workload batched  cache hits under the batched generator (loadgen); against the echo

    tests/bench/ab.py --rounds 3 build-bench/vnetdns /tmp/old/vnetdns
    tests/bench/ab.py --workload hit build-bench/vnetdns /tmp/old/vnetdns
    tests/bench/ab.py --pool --loads c8,c10 --reference dnsdist,unbound build-bench/vnetdns
    tests/bench/ab.py --loads c8,c10 build-bench/vnetdns:pool /tmp/old/vnetdns

Needs what tests/bench/run.sh installs (run that once). Loopback only; every process is a
child of this script, stopped by PID.
"""

import argparse
import glob
import os
import re
import signal
import subprocess
import shutil
import statistics
import sys
import tempfile

import bench as b


# The system calls counted one by one (--profile syscalls); "all" counts every one, "other"
# is the rest. Hundreds of tracepoints (syscalls:sys_enter_*) take perf many seconds to close.
PROFILE_DIR = None  # --profile-dir: where perf.data files are kept
SYSCALLS = ["socket", "bind", "connect", "close", "ioctl", "fcntl", "setsockopt", "getsockopt",
            "getsockname", "epoll_ctl", "epoll_wait", "epoll_pwait", "recvmmsg", "sendmmsg",
            "recvmsg", "sendmsg", "recvfrom", "sendto", "read", "write", "getrandom", "futex",
            "timerfd_settime", "mmap", "munmap", "brk", "madvise", "openat"]


class Profile:
    """Counts what one vnetdns run does, from just before its load to just after:
    - "syscalls": every system call, by name, with perf's syscalls:sys_enter_* tracepoints
      (in-kernel counters: no stop per call, so the server's batching is the real one);
    - "strace": `strace -c -f -p PID` (a stop per call: the server runs slower, which changes
      its batches; also gives the time per call as seen under strace);
    - "callgrind": the server runs under valgrind --tool=callgrind; the counters are zeroed
      before the load and dumped after it (callgrind_control): user-space instructions only.
    Every helper is a child of this script, stopped by PID."""

    def __init__(self, kind, d, label):
        self.kind, self.d = kind, d
        self.tag = "".join(c if c.isalnum() else "_" for c in label)[-60:]
        self.out = os.path.join(d, f"profile-{kind}-{self.tag}.txt")
        self.child = None

    def wrap(self):
        if self.kind != "callgrind":
            return []
        self.cg_base = os.path.join(PROFILE_DIR or self.d, f"callgrind-{self.tag}.out")
        return ["valgrind", "--tool=callgrind", f"--callgrind-out-file={self.cg_base}.%p"]

    def start(self, pid):
        self.pid = pid
        if self.kind == "syscalls":
            ctl, ack = os.path.join(self.d, "perf-ctl"), os.path.join(self.d, "perf-ack")
            for f in (ctl, ack):
                if os.path.exists(f):
                    os.unlink(f)
                os.mkfifo(f)
            self.child = subprocess.Popen(
                ["perf", "stat", "-D", "-1", "--control", f"fifo:{ctl},{ack}", "-x", ",",
                 "-o", self.out, "-e", "raw_syscalls:sys_enter", "-e",
                 ",".join(f"syscalls:sys_enter_{c}" for c in SYSCALLS), "-p", str(pid)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE, text=True)
            self.ctl = open(ctl, "w")  # returns once perf has opened it
            self.ack = open(ack)
            self._command("enable")
        elif self.kind == "perf":
            ctl, ack = os.path.join(self.d, "perf-ctl"), os.path.join(self.d, "perf-ack")
            for f in (ctl, ack):
                if os.path.exists(f):
                    os.unlink(f)
                os.mkfifo(f)
            self.data = os.path.join(PROFILE_DIR or self.d, f"perf-{self.tag}.data")
            self.child = subprocess.Popen(
                ["perf", "record", "-D", "-1", "--control", f"fifo:{ctl},{ack}", "-a", "-g",
                 "-e", "cpu-clock", "-F", "4000", "-o", self.data],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                text=True)
            self.ctl = open(ctl, "w")
            self.ack = open(ack)
            self._command("enable")
        elif self.kind == "strace":
            self.child = subprocess.Popen(["strace", "-c", "-f", "-p", str(pid), "-o", self.out],
                                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.PIPE, text=True)
            # "strace: Process N attached with M threads" once every thread is traced
            for line in self.child.stderr:
                if "attached" in line:
                    break
                if self.child.poll() is not None:
                    raise RuntimeError("strace failed: " + line)
        elif self.kind == "callgrind":
            subprocess.run(["callgrind_control", "-z", str(pid)], capture_output=True,
                           timeout=60, check=True)

    def kill(self):
        """Stops a helper still running (after a failure), by its PID."""
        if self.child and self.child.poll() is None:
            self.child.kill()
            self.child.wait(timeout=60)

    def _command(self, cmd):
        self.ctl.write(cmd + "\n")
        self.ctl.flush()
        reply = self.ack.readline().strip("\x00\n ")  # perf writes "ack\n\0"
        if reply != "ack":
            raise RuntimeError(f"perf stat: {cmd!r} answered {reply!r}")

    def stop(self, answered):
        """Returns {"name": count per answered query, ...} (callgrind: {"Ir": per query})."""
        n = max(answered, 1)
        res = {}
        if self.kind == "syscalls":
            self._command("disable")
            self.child.send_signal(signal.SIGINT)
            self.child.wait(timeout=30)
            self.ctl.close()
            self.ack.close()
            with open(self.out) as f:
                for line in f:
                    parts = line.strip().split(",")
                    if len(parts) < 3 or not parts[0].isdigit() or int(parts[0]) == 0:
                        continue
                    name = parts[2].replace("syscalls:sys_enter_", "")
                    name = "all" if name == "raw_syscalls:sys_enter" else name
                    res[name] = int(parts[0]) / n
            if "all" in res:
                res["other"] = res["all"] - sum(v for k, v in res.items() if k != "all")
        elif self.kind == "perf":
            self._command("disable")
            self.child.send_signal(signal.SIGINT)
            self.child.wait(timeout=120)
            self.ctl.close()
            self.ack.close()
            # samples by process name (comm), per answered query: 1 sample = 250 µs of CPU
            r = subprocess.run(["perf", "report", "-i", self.data, "--stdio", "--no-children",
                                "--sort", "comm", "-F", "sample,comm"],
                               capture_output=True, text=True, timeout=300)
            for line in r.stdout.splitlines():
                m = re.match(r"\s*(\d+)\s+(\S.*)$", line)
                if m and not line.lstrip().startswith("#"):
                    res[m.group(2).strip() + " µs"] = int(m.group(1)) * 250 / n
            print(f"    perf data: {self.data} (perf report -i {self.data} --no-children "
                  "--sort comm,dso,sym)", flush=True)
        elif self.kind == "strace":
            self.child.send_signal(signal.SIGINT)
            self.child.wait(timeout=30)
            with open(self.out) as f:
                for line in f:
                    m = re.match(r"\s*([\d.]+)\s+([\d.]+)\s+(\d+)\s+(\d+)\s+(?:(\d+)\s+)?(\w+)$",
                                 line.rstrip())
                    if m:
                        res[m.group(6)] = int(m.group(4)) / n
                        res[m.group(6) + " µs/call"] = int(m.group(3))
        elif self.kind == "callgrind":
            subprocess.run(["callgrind_control", "-d", str(self.pid)], capture_output=True,
                           timeout=120, check=True)
            dumps = sorted(glob.glob(f"{self.cg_base}.{self.pid}.*"))
            if not dumps:
                raise RuntimeError("callgrind wrote no dump")
            with open(dumps[-1]) as f:
                for line in f:
                    if line.startswith(("summary:", "totals:")):
                        res["Ir"] = int(line.split()[1]) / n
                        break
        return res


def one(label, server, d, opts, up, workload, miss_load="c8", profile=None):
    # callgrind: vnetdns only (valgrind and the others' threads or JIT: not worth it)
    prof = (Profile(profile, d, label)
            if profile and (profile != "callgrind" or server.startswith("vnetdns")) else None)
    if prof:
        opts = dict(opts, wrap=prof.wrap())
    p = b.start_server(server, d, opts)
    addr = b.ADDR[server]
    try:
        if workload == "miss":
            load = lambda: b.miss_load(addr, opts, miss_load)  # noqa: E731
        else:
            qfile = opts["q_local"] if workload == "local" else opts["q_hit"]
            b.dnsperf(addr, qfile, once=True, nice=opts["nice"])  # warm
            if workload == "batched":
                load = lambda: b.loadgen(opts, addr, qfile, opts["duration"])  # noqa: E731
            else:
                load = lambda: b.dnsperf(addr, qfile, seconds=opts["duration"],  # noqa: E731
                                         nice=opts["nice"])
        r = None
        if prof:
            prof.start(p.pid)
        try:
            r = b.measured_detail(p, up, load)
        finally:
            counts = prof.stop(r["answered"] if r else 0) if prof else None
        if counts is not None:
            r["profile"] = counts
    finally:
        if prof:
            prof.kill()
        p.stop()
    print(f"{label:40s} {r['qps']:9,.0f} q/s  {r['us_per_q']:6.2f} µs/q (user {r['user_us_per_q']:5.2f} "
          f"sys {r['sys_us_per_q']:5.2f})  knotd "
          f"{r['knot_us_per_q']:5.2f} µs/q  preempted {r['preempted_per_q']:.3f}/q  "
          f"busy {r['cpu_s'] / max(r['wall'], 1e-3):.2f}  others {r['others_cores']:.2f}  "
          f"answered {r['answered']:,.0f}", flush=True)
    if r.get("profile"):
        items = sorted(((k, v) for k, v in r["profile"].items() if "µs/call" not in k),
                       key=lambda kv: -kv[1])
        print(f"    {profile} per answered query: " + ", ".join(
            f"{k} {v:,.2f}" + (f" ({r['profile'][k + ' µs/call']} µs/call)"
                               if k + " µs/call" in r["profile"] else "")
            for k, v in items if v >= 0.005), flush=True)
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("binaries", nargs="+",
                    help="vnetdns binaries (Release builds); BINARY:pool for pool mode only")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workload", choices=["miss", "hit", "local", "batched"], default="miss")
    ap.add_argument("--misses", type=int, default=100000)
    ap.add_argument("--duration", type=float, default=5, help="seconds per hit or local run")
    ap.add_argument("--echo", default=os.path.join(os.path.dirname(os.path.dirname(b.HERE)),
                                                   "build-bench", "bench", "echo_responder"),
                    help="the echo responder binary (hit, local, batched)")
    ap.add_argument("--loadgen", default=os.path.join(os.path.dirname(os.path.dirname(b.HERE)),
                                                      "build-bench", "bench", "loadgen"),
                    help="the batched load generator binary (batched)")
    ap.add_argument("--no-reference", action="store_true", help="vnetdns binaries only")
    ap.add_argument("--reference", help="reference servers, comma-separated (default: dnsdist "
                    "for misses, echo otherwise)")
    ap.add_argument("--pool", action="store_true",
                    help="each binary also with source_ports = \"pool\" (misses)")
    ap.add_argument("--loads", default="c8",
                    help="miss load settings, comma-separated, of " + ", ".join(
                        f"{k} ({v['label']})" for k, v in b.MISS_LOADS.items()))
    ap.add_argument("--profile-dir", help="keep the perf.data files (--profile perf) or callgrind "
                    "dumps (--profile callgrind: callgrind_annotate FILE) here")
    ap.add_argument("--profile", choices=["syscalls", "strace", "callgrind", "perf"],
                    help="count each run's system calls (perf tracepoints or strace -c) or "
                         "user-space instructions (callgrind, vnetdns only) per answered query, "
                         "or CPU time by process, both CPUs (perf record -a, cpu-clock at 4 kHz)")
    ap.add_argument("--knotd", default="ours",
                    help="where knotd's threads run, comma-separated to alternate both ways in "
                         "each round: 'ours' (all on the load generator's CPU, as bench.py), "
                         "'self' (where knotd 3.2 pins them: its UDP worker on CPU 0, the "
                         "server's, as before 2026-11-29)")
    ap.add_argument("--nice", type=int, default=-10)
    ap.add_argument("--source", default=os.path.dirname(os.path.dirname(b.HERE)))
    a = ap.parse_args()
    global PROFILE_DIR
    PROFILE_DIR = os.path.abspath(a.profile_dir) if a.profile_dir else None
    if PROFILE_DIR:
        os.makedirs(PROFILE_DIR, exist_ok=True)
    d = tempfile.mkdtemp(prefix="vnetdns-ab.")
    opts = {"local": b.write_data(d, a.misses), "nice": a.nice, "miss_cap": 40,
            "duration": a.duration, "echo_bin": os.path.abspath(a.echo),
            "loadgen_bin": os.path.abspath(a.loadgen),
            "q_miss": os.path.join(d, "q-miss.txt"), "q_hit": os.path.join(d, "q-hit.txt"),
            "q_local": os.path.join(d, "q-local.txt")}
    knotd = [x for x in a.knotd.split(",") if x]
    if not knotd or set(knotd) - {"ours", "self"}:
        ap.error("--knotd: 'ours', 'self' or both")
    up = b.Upstream(d, a.source, a.nice, pin=knotd[0] == "ours")
    # BINARY:pool runs that binary with source_ports = "pool" (--pool: every binary, in both
    # modes); a binary from before source_ports (b8c4e9c) knows only the pool, and rejects
    # the key: name it plainly
    runs = []
    for x in a.binaries:
        path, _, mode = x.partition(":")
        if mode not in ("", "pool"):
            ap.error(f"{x}: the mode after ':' can only be 'pool'")
        if mode != "pool":
            runs.append((os.path.abspath(path), "vnetdns", path))
        if mode == "pool" or a.pool:
            runs.append((os.path.abspath(path), "vnetdns-pool", f"{path} (pool)"))
    references = (a.reference or ("dnsdist" if a.workload == "miss" else "echo")).split(",")
    if not a.no_reference:
        runs += [(None, r, r) for r in references]
    loads = a.loads.split(",") if a.workload == "miss" else ["-"]
    # a "load" here is a dnsperf setting, with the knotd placement when both are asked for
    cells = [(ld, k) for ld in loads for k in knotd]
    name = {c: c[0] if len(knotd) == 1 else f"{c[0]}/knotd-{c[1]}" for c in cells}
    res = {(label, name[c]): [] for _, _, label in runs for c in cells}
    try:
        up.start()
        for rnd in range(a.rounds):
            print(f"-- round {rnd + 1}/{a.rounds}", flush=True)
            # alternate the order of the load settings, rotate the servers' order
            k = rnd % len(runs)
            for cell in (cells if rnd % 2 == 0 else cells[::-1]):
                up.repin(cell[1])
                load = cell[0]
                for binary, server, label in runs[k:] + runs[:k]:
                    o = dict(opts, vnetdns_bin=binary) if binary else opts
                    tag = f" [{name[cell]}]" if a.workload == "miss" else ""
                    res[(label, name[cell])].append(one(f"{label}{tag}", server, d, o,
                                                        up, a.workload, load, a.profile))
    finally:
        for p in list(b.Proc.live):
            p.stop()
        shutil.rmtree(d, ignore_errors=True)
    print("-- medians")
    # misses: rate against dnsdist's; hits and local: CPU per query against the echo's
    key = "qps" if a.workload == "miss" else "us_per_q"
    for (label, load), rs in res.items():
        q = statistics.median(r["qps"] for r in rs)
        us = statistics.median(r["us_per_q"] for r in rs)
        mine = q if key == "qps" else us
        ratios = ""
        for ref in ([] if a.no_reference else references):
            if ref == label or not res.get((ref, load)):
                continue
            base = statistics.median(r[key] for r in res[(ref, load)])
            per_round = [x[key] / y[key] for x, y in zip(rs, res[(ref, load)]) if y[key]]
            ratios += (f"  {mine / base:.2f}x {ref} ({key}; rounds "
                       f"{min(per_round):.2f}-{max(per_round):.2f})")
        tag = f" [{load}]" if a.workload == "miss" else ""
        print(f"{label + tag:40s} {q:9,.0f} q/s  {us:6.2f} µs/q{ratios}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
