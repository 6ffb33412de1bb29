#!/usr/bin/python3
"""Enforces the layers of docs/design.md ("Layers"): every `#include "resolver/X/..."` in
resolver/Y/ must name Y itself or a library Y reaches through the `vnetdns_library(Y deps...)`
declarations of resolver/CMakeLists.txt (transitively: a library's dependencies are PUBLIC).
Header-only code never fails to link, so linking alone cannot catch a wrong-way include;
this does. Prints one `not ok` line per undeclared edge and `N passed, M failed`.

Run: /usr/bin/python3 tests/check_layers.py [SOURCE_DIR]
"""

import os
import re
import sys


def declared(cmake_text):
    """{library: set(direct project dependencies)} from vnetdns_library(...) calls."""
    deps = {}
    for m in re.finditer(r"^vnetdns_library\((\w+)([^)]*)\)", cmake_text, re.M):
        deps[m.group(1)] = set(re.findall(r"vnetdns_(\w+)", m.group(2)))
    return deps


def closure(deps, lib, seen=None):
    seen = set() if seen is None else seen
    for d in deps.get(lib, ()):
        if d not in seen:
            seen.add(d)
            closure(deps, d, seen)
    return seen


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))
    resolver = os.path.join(root, "resolver")
    with open(os.path.join(resolver, "CMakeLists.txt")) as f:
        deps = declared(f.read())
    include = re.compile(r'^\s*#\s*include\s+"resolver/(\w+)/')
    passed, failed = 0, 0
    for lib in sorted(os.listdir(resolver)):
        folder = os.path.join(resolver, lib)
        if not os.path.isdir(folder):
            continue
        if lib not in deps:
            print(f"not ok - resolver/{lib}/ is not declared with vnetdns_library()")
            failed += 1
            continue
        allowed = closure(deps, lib) | {lib}
        bad = []
        for dirpath, _, files in os.walk(folder):
            for name in sorted(files):
                if not name.endswith((".hpp", ".cpp")):
                    continue
                path = os.path.join(dirpath, name)
                with open(path) as f:
                    for n, line in enumerate(f, 1):
                        m = include.match(line)
                        if m and m.group(1) not in allowed:
                            bad.append(f"{os.path.relpath(path, root)}:{n} includes "
                                       f"resolver/{m.group(1)}/")
        if bad:
            failed += 1
            print(f"not ok - {lib} may include {sorted(allowed)} only:")
            for b in bad:
                print(f"#   {b}")
        else:
            passed += 1
            print(f"ok - {lib}: includes within {sorted(allowed)}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
