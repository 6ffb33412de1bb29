#!/usr/bin/python3
"""The Debian package (`cpack -G DEB`) and the cloud-init custom data (deploy/).

Package: builds it with cpack from the build folder of --binary (or takes --deb FILE), checks
its control data (name, version, Depends, conffiles, maintainer scripts) and its files, then
installs it for real with `dpkg --root` into a throw-away root: a temporary folder whose /usr is
an overlay of this machine's /usr (writes go to a temporary upper layer) inside a private mount
namespace, so postinst really runs (chrooted, as dpkg runs it) and creates the system user
`vnetdns` in the throw-away /etc/passwd. Nothing on the real system changes. Then: `vnetdns
check-config` on the installed config (zones resolve relative to it), `systemd-analyze verify`
on the installed unit (ExecStart pointed at the installed binary), and a purge that removes the
conffiles. Where overlay mounts are not permitted, the files are checked from `dpkg -x` instead.

cloud-init: `cloud-init schema --config-file deploy/cloud-init/user-data.yaml`, and the config
and zone it writes pass `vnetdns check-config`. Nothing here sends a packet.

Skips (exit 0, with a message) where cpack/dpkg-deb, or cloud-init, are not installed.
Run: /usr/bin/python3 tests/integration/test_package.py --binary build/vnetdns --source .
"""

import argparse
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile

import harness as h

PKG_FILES = [
    "/usr/sbin/vnetdns",
    "/lib/systemd/system/vnetdns.service",
    "/etc/vnetdns/vnetdns.toml",
    "/etc/vnetdns/zones/privatelink.azurecr.io.zone",
    "/usr/share/doc/vnetdns/README.md",
    "/usr/share/doc/vnetdns/DEPLOY.md",
    "/usr/share/doc/vnetdns/docs/design.md",
    "/usr/share/doc/vnetdns/docs/configuration.md",
    "/usr/share/man/man8/vnetdns.8",
    "/usr/share/man/man5/vnetdns.toml.5",
]
CONFFILES = ["/etc/vnetdns/vnetdns.toml", "/etc/vnetdns/zones/privatelink.azurecr.io.zone"]
RUNTIME_LIBS = ["libldns3", "libc-ares2", "libspdlog1.10", "libtomlplusplus3", "libfmt9"]


def run(argv, timeout=120, **kw):
    return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout, **kw)


def build_deb(t, binary, tmp):
    """cpack -G DEB from the build folder of `binary`; returns the .deb path or None."""
    build = os.path.dirname(os.path.abspath(binary))
    if not os.path.exists(os.path.join(build, "CMakeCache.txt")):
        t.ok(False, f"{build} is a CMake build folder (CMakeCache.txt)")
        return None
    cfg = os.path.join(build, "CPackConfig.cmake")
    if not (os.path.exists(cfg) and "relocate.cmake" in open(cfg).read()):
        r = run(["cmake", build], timeout=300)  # regenerate: CPackConfig.cmake is stale
        if not t.ok(r.returncode == 0, "cmake regenerates the build folder", r.stdout + r.stderr):
            return None
    out = os.path.join(tmp, "pkg")
    r = run(["cpack", "-G", "DEB", "--config", cfg, "-B", out], timeout=600)
    debs = glob.glob(os.path.join(out, "*.deb"))
    if not t.ok(r.returncode == 0 and len(debs) == 1, "cpack -G DEB builds one .deb",
                r.stdout[-3000:] + r.stderr[-3000:]):
        return None
    return debs[0]


def check_control(t, deb, tmp, source):
    arch = run(["dpkg", "--print-architecture"]).stdout.strip()
    version = re.search(r"project\(vnetdns VERSION ([0-9.]+)",
                        open(os.path.join(source, "CMakeLists.txt")).read()).group(1)
    t.eq(os.path.basename(deb), f"vnetdns_{version}_{arch}.deb", "package file name")
    info = run(["dpkg-deb", "-f", deb]).stdout
    fields = dict(re.findall(r"^([A-Za-z-]+): (.*)$", info, re.M))
    t.eq(fields.get("Package"), "vnetdns", "Package: vnetdns")
    t.eq(fields.get("Version"), version, "Version from project()")
    depends = fields.get("Depends", "")
    missing = [p for p in RUNTIME_LIBS + ["adduser"] if not re.search(rf"\b{re.escape(p)}\b",
                                                                       depends)]
    t.ok(not missing, "Depends names the runtime libraries and adduser", f"{depends}\nmissing: "
         f"{missing}")
    ctl = os.path.join(tmp, "control")
    run(["dpkg-deb", "-e", deb, ctl])
    conff = open(os.path.join(ctl, "conffiles")).read().split() if os.path.exists(
        os.path.join(ctl, "conffiles")) else []
    t.eq(sorted(conff), sorted(CONFFILES), "conffiles: the config and the zone")
    for s in ("postinst", "prerm", "postrm"):
        p = os.path.join(ctl, s)
        ok = os.path.exists(p) and os.access(p, os.X_OK) and run(["sh", "-n", p]).returncode == 0
        t.ok(ok, f"{s} is an executable, syntactically valid sh script")
    post = open(os.path.join(ctl, "postinst")).read()
    t.ok("adduser --system --group --no-create-home" in post and "vnetdns" in post,
         "postinst creates the system user vnetdns")
    t.ok(re.search(r"\[ -d /run/systemd/system \].*\n\s*systemctl daemon-reload", post) is not None,
         "postinst guards systemctl daemon-reload (chroots, image builds)")
    listing = run(["dpkg-deb", "-c", deb]).stdout
    paths = [re.sub(r"^\./", "/", l.split()[-1]).rstrip("/") for l in listing.splitlines()
             if l.split()]
    for f in PKG_FILES:
        t.ok(f in paths, f"the package has {f}")
    stray = [p for p in paths if p.startswith(("/usr/local", "/usr/etc", "/usr/lib/systemd"))]
    t.ok(not stray, "nothing under /usr/local, /usr/etc or /usr/lib/systemd", "\n".join(stray))
    m = re.search(r"^(\S+) \S+\s+\d+ \S+ \S+ \./etc/vnetdns/vnetdns\.toml$", listing, re.M)
    t.ok(m is not None and m.group(1) == "-rw-r--r--", "the config is mode 0644",
         m.group(0) if m else listing)


def fake_root(tmp):
    """A root for dpkg --root: minimal /etc copied from this machine, merged-usr links, an
    empty dpkg database. /usr is mounted (overlay) by the caller inside a mount namespace."""
    root = os.path.join(tmp, "root")
    for d in ("etc", "usr", "var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers",
              "var/log", "tmp", "dev", "run", "var/cache", "var/tmp"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    for f in ("status", "available"):
        open(os.path.join(root, "var/lib/dpkg", f), "w").close()
    for link in ("bin", "sbin", "lib", "lib64"):
        if os.path.islink("/" + link):
            os.symlink(os.readlink("/" + link), os.path.join(root, link))
    for f in ("passwd", "group", "shadow", "gshadow", "nsswitch.conf", "login.defs",
              "adduser.conf", "default/useradd"):
        src = os.path.join("/etc", f)
        if os.path.exists(src):
            os.makedirs(os.path.dirname(os.path.join(root, "etc", f)), exist_ok=True)
            try:
                shutil.copy2(src, os.path.join(root, "etc", f))
            except PermissionError:  # not root: only dpkg -x follows, which needs none of it
                pass
    open(os.path.join(root, "dev", "null"), "w").close()
    return root


def in_namespace(root, upper, work, commands, timeout=300):
    """Runs `commands` (sh) in a private mount namespace with root/usr = overlay(/usr, upper)
    and root/dev/null bound; the mounts vanish with the namespace."""
    script = ("set -e\n"
              f"mount -t overlay overlay -o lowerdir=/usr,upperdir={upper},workdir={work} "
              f"{root}/usr\n"
              f"mount --bind /dev/null {root}/dev/null\n" + commands)
    return run(["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", script],
               timeout=timeout)


def check_install(t, deb, tmp, source):
    root = fake_root(tmp)
    upper, work = os.path.join(tmp, "usr-upper"), os.path.join(tmp, "usr-work")
    os.makedirs(upper)
    os.makedirs(work)
    dpkg = f"dpkg --root={root} --force-depends --force-unsafe-io"
    real = False
    if os.geteuid() != 0 or not shutil.which("unshare"):
        print("# not root (or no unshare): no dpkg --root install, checking dpkg -x instead")
    else:
        probe = in_namespace(root, upper, work, "true\n", timeout=60)
        if probe.returncode != 0:
            print(f"# overlay mounts not permitted here ({probe.stderr.strip()}): "
                  "no dpkg --root install, checking dpkg -x instead")
        else:
            r = in_namespace(root, upper, work, f"{dpkg} -i {deb}\n")
            real = t.ok(r.returncode == 0, "dpkg --root -i installs it (postinst run chrooted)",
                        r.stdout + r.stderr)
    if real:
        usr = upper  # what the package wrote under /usr
        pw = open(os.path.join(root, "etc", "passwd")).read()
        m = re.search(r"^vnetdns:x:(\d+):(\d+):[^:]*:([^:]*):([^:\n]*)$", pw, re.M)
        t.ok(m is not None and int(m.group(1)) < 1000 and m.group(3) == "/nonexistent" and
             m.group(4).endswith("nologin"),
             "postinst created the system user vnetdns (uid < 1000, no home, nologin)",
             m.group(0) if m else pw[-500:])
        t.ok(re.search(r"^vnetdns:x:\d+:", open(os.path.join(root, "etc", "group")).read(), re.M)
             is not None, "and its group vnetdns")
        st = run(["dpkg", f"--root={root}", "-s", "vnetdns"]).stdout
        t.ok("Status: install ok installed" in st, "dpkg records it as installed", st)
    else:
        ex = os.path.join(tmp, "extract")
        r = run(["dpkg", "-x", deb, ex])
        t.ok(r.returncode == 0, "dpkg -x extracts it", r.stderr)
        root, usr = ex, os.path.join(ex, "usr")
    binary = os.path.join(usr, "sbin", "vnetdns")
    conf = os.path.join(root, "etc", "vnetdns", "vnetdns.toml")
    unit = os.path.join(usr if real else root, "lib", "systemd", "system", "vnetdns.service")
    for p in (binary, conf, os.path.join(root, "etc/vnetdns/zones/privatelink.azurecr.io.zone"),
              unit):
        t.ok(os.path.isfile(p), f"installed: {os.path.relpath(p, tmp)}")
    t.ok(os.access(binary, os.X_OK), "the installed binary is executable")
    v = run([binary, "--version"], timeout=30)
    t.ok(v.returncode == 0 and "vnetdns" in v.stdout + v.stderr, "installed vnetdns --version",
         v.stdout + v.stderr)
    c = run([binary, "check-config", "-c", conf], timeout=30)
    t.eq(c.returncode, 0, "installed vnetdns check-config -c <root>/etc/vnetdns/vnetdns.toml",
         c.stdout + c.stderr)
    with open(os.path.join(source, "systemd", "vnetdns.service")) as f:
        t.eq(open(unit).read(), f.read(), "the installed unit is systemd/vnetdns.service")
    if shutil.which("systemd-analyze"):
        u = os.path.join(tmp, "verify", "vnetdns.service")
        os.makedirs(os.path.dirname(u))
        text = open(unit).read().replace("/usr/sbin/vnetdns", binary)
        text = text.replace("/etc/vnetdns/vnetdns.toml", conf)
        with open(u, "w") as f:
            f.write(text)
        s = run(["systemd-analyze", "verify", u], timeout=60)
        t.ok(s.returncode == 0 and s.stderr.strip() == "", "systemd-analyze verify on the "
             "installed unit (ExecStart -> the installed binary)", s.stderr)
    else:
        print("# skip - systemd-analyze not installed")
    if real:
        r = in_namespace(root, upper, work, f"{dpkg} -P vnetdns\n")
        t.ok(r.returncode == 0, "dpkg --root -P (purge) removes it", r.stdout + r.stderr)
        t.ok(not os.path.exists(conf) and not os.path.exists(binary),
             "after purge the conffiles and the binary are gone")


def check_cloud_init(t, binary, source, tmp):
    path = os.path.join(source, "deploy", "cloud-init", "user-data.yaml")
    if not shutil.which("cloud-init"):
        print("# skip - cloud-init not installed: schema not validated")
    else:
        r = run(["cloud-init", "schema", "--config-file", path], timeout=120)
        t.ok(r.returncode == 0 and "Valid cloud-config" in r.stdout,
             "cloud-init schema accepts deploy/cloud-init/user-data.yaml", r.stdout + r.stderr)
    try:
        import yaml
    except ImportError:
        print("# skip - python3-yaml not installed: cloud-init files not checked")
        return
    text = open(path).read()
    t.ok(text.startswith("#cloud-config\n"), "user-data starts with #cloud-config")
    doc = yaml.safe_load(text)
    files = {f["path"]: f for f in doc.get("write_files", [])}
    d = os.path.join(tmp, "cloud-init", "etc", "vnetdns")
    os.makedirs(os.path.join(d, "zones"))
    for p in ("/etc/vnetdns/vnetdns.toml", "/etc/vnetdns/zones/privatelink.azurecr.io.zone"):
        if t.ok(p in files, f"user-data writes {p}"):
            with open(os.path.join(d, os.path.relpath(p, "/etc/vnetdns")), "w") as f:
                f.write(files[p]["content"])
    c = run([binary, "check-config", "-c", os.path.join(d, "vnetdns.toml")], timeout=30)
    t.eq(c.returncode, 0, "the config and zone it writes pass vnetdns check-config (parse only)",
         c.stdout + c.stderr)
    setup = files.get("/usr/local/sbin/vnetdns-setup", {}).get("content", "")
    sp = os.path.join(tmp, "cloud-init", "vnetdns-setup")
    with open(sp, "w") as f:
        f.write(setup)
    t.ok(setup and run(["sh", "-n", sp]).returncode == 0, "its setup script is valid sh")
    for what in ("apt-get install", "--force-confold", "systemctl enable vnetdns.service",
                 "systemctl restart vnetdns.service", "vnetdns check", "sha256sum --check"):
        t.ok(what in setup, f"the setup script runs `{what}`")
    t.ok(any("vnetdns-setup" in " ".join(map(str, c)) for c in doc.get("runcmd", [])),
         "runcmd runs the setup script")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--binary", required=True)
    ap.add_argument("--source", default=os.path.dirname(os.path.dirname(h.HERE)))
    ap.add_argument("--deb", help="a prebuilt .deb (default: cpack in the binary's build folder)")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()

    def on_term(signum, _frame):  # CTest's timeout: unwind through the finally below
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, on_term)
    t = h.Tap()
    source = os.path.abspath(args.source)
    tmp = tempfile.mkdtemp(prefix="vnetdns-pkg-")
    try:
        check_cloud_init(t, os.path.abspath(args.binary), source, tmp)
        tools = ["dpkg", "dpkg-deb"] + ([] if args.deb else ["cpack"])
        missing = [x for x in tools if not shutil.which(x)]
        if missing:
            print(f"# skip - package not built/checked: {', '.join(missing)} not installed")
        else:
            deb = os.path.abspath(args.deb) if args.deb else build_deb(t, args.binary, tmp)
            if deb:
                check_control(t, deb, tmp, source)
                check_install(t, deb, tmp, source)
    finally:
        if args.keep or t.failed:
            print(f"# kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"# {t.passed} passed, {t.failed} failed")
    return 0 if t.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
