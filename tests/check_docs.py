#!/usr/bin/python3
"""Checks that the documentation agrees with itself, with the example config and with the binary.

  a. every ```toml block in README.md and docs/*.md parses (tomllib);
  b. every key of config/examples/all-options.toml is in docs/configuration.md and in
     man/vnetdns.toml.5 (under its table), and every key the loader accepts is in the man page;
  c. `mandoc -T lint -W warning` reports nothing on the man pages;
  d. the commands of `vnetdns --help` are exactly those of vnetdns(8)'s COMMANDS section
     (and the ctl and zone subcommands those of its nested lists);
  e. every relative link in README.md and docs/*.md points to an existing file.

Usage: check_docs.py --binary PATH/vnetdns --source SOURCE_DIR
Prints `ok - ...` / `not ok - ...` per check and `N passed, M failed`; exit 1 on any failure.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

results = []  # (ok, message)


def check(ok, message):
    results.append((bool(ok), message))
    print(("ok - " if ok else "not ok - ") + message, flush=True)


# ---- markdown ---------------------------------------------------------------------------------

FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([^\s`]*)")


def fenced_blocks(text):
    """Yields (info, first_line_number_of_body, body) for each fenced code block."""
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, info = m.group(2), m.group(3).lower()
        start = i + 1
        j = start
        while j < len(lines):
            c = re.match(r"^\s*(`{3,}|~{3,})\s*$", lines[j])
            if c and c.group(1)[0] == fence[0] and len(c.group(1)) >= len(fence):
                break
            j += 1
        yield info, start + 1, "\n".join(lines[start:j])
        i = j + 1


def prose_lines(text):
    """Yields (line_number, line) for lines outside fenced code blocks."""
    in_fence = None
    for n, line in enumerate(text.split("\n"), 1):
        m = re.match(r"^\s*(`{3,}|~{3,})", line)
        if m:
            if in_fence is None:
                in_fence = m.group(1)
                continue
            if m.group(1)[0] == in_fence[0] and len(m.group(1)) >= len(in_fence) \
                    and line.strip() == m.group(1):
                in_fence = None
                continue
        if in_fence is None:
            yield n, line


def markdown_files(src):
    return [src / "README.md"] + sorted((src / "docs").glob("*.md"))


def rel(path, src):
    try:
        return str(path.relative_to(src))
    except ValueError:
        return str(path)


# ---- roff -------------------------------------------------------------------------------------

def roff_text(line):
    """The words of a roff line with macros, fonts and common escapes removed."""
    line = line.rstrip("\n")
    if line.startswith((".", "'")):
        parts = line.split(None, 1)
        line = parts[1] if len(parts) > 1 else ""
    line = re.sub(r"\\f(\[[^\]]*\]|\(..|.)", "", line)
    line = re.sub(r"\\\((lq|rq|dq)", '"', line)
    line = line.replace("\\-", "-").replace("\\&", "").replace("\\c", "").replace("\\e", "\\")
    return line.replace('"', " ").strip()


def roff_section(lines, name):
    """The lines of `.SH name` up to the next .SH."""
    out, inside = [], False
    for line in lines:
        if line.startswith(".SH"):
            inside = roff_text(line) == name
            continue
        if inside:
            out.append(line)
    return out


def tp_tags(lines):
    """(depth, first_word, tag_text) of each .TP tag; depth counts .RS nesting."""
    tags, depth, i = [], 0, 0
    while i < len(lines):
        line = lines[i]
        if line.startswith(".RS"):
            depth += 1
        elif line.startswith(".RE"):
            depth = max(0, depth - 1)
        elif line.startswith(".TP") and i + 1 < len(lines):
            text = roff_text(lines[i + 1])
            words = text.split()
            if words:
                tags.append((depth, words[0], text))
            i += 1
        i += 1
    return tags


# ---- a. toml blocks ---------------------------------------------------------------------------

def check_toml_blocks(src):
    for path in markdown_files(src):
        if not path.exists():
            check(False, f"{rel(path, src)}: missing")
            continue
        n, bad = 0, 0
        for info, line, body in fenced_blocks(path.read_text(encoding="utf-8")):
            if info != "toml":
                continue
            n += 1
            try:
                tomllib.loads(body)
            except tomllib.TOMLDecodeError as e:
                bad += 1
                check(False, f"{rel(path, src)}:{line}: toml block does not parse: {e}")
        if bad == 0:
            check(True, f"{rel(path, src)}: {n} toml block(s) parse")


# ---- b. keys ----------------------------------------------------------------------------------

def table_keys(doc):
    """{(table, key)} of a parsed TOML document (arrays of tables: the union of their keys)."""
    out = set()
    for table, value in doc.items():
        rows = value if isinstance(value, list) and all(isinstance(v, dict) for v in value) \
            else [value]
        for row in rows:
            if isinstance(row, dict):
                out.update((table, k) for k in row)
            else:
                out.add(("", table))
    return out


def man_config_keys(man_lines):
    """{(table, key)} documented in vnetdns.toml(5): `.TP` tags under `.SS [table]`."""
    out, table, depth = set(), None, 0
    lines = roff_section(man_lines, "KEYS")
    for i, line in enumerate(lines):
        if line.startswith(".SS"):
            m = re.fullmatch(r"\[+([a-z_]+)\]+", roff_text(line))
            table = m.group(1) if m else None
        elif line.startswith(".RS"):
            depth += 1
        elif line.startswith(".RE"):
            depth -= 1
        elif line.startswith(".TP") and table and depth == 0 and i + 1 < len(lines):
            words = roff_text(lines[i + 1]).split()
            if words:
                out.add((table, words[0]))
    return out


def loader_keys(src):
    """{(table, key)} of the check_keys() calls of resolver/settings/loader.cpp."""
    path = src / "resolver/settings/loader.cpp"
    if not path.exists():
        return None
    out = set()
    text = path.read_text(encoding="utf-8")
    for m in re.finditer(r'check_keys\(\s*\*?\w+,\s*"([^"]+)",\s*\{([^}]*)\}', text):
        section = m.group(1)
        if not section.startswith("["):
            continue  # "the top level": the tables themselves
        table = section.strip("[]")
        out.update((table, k) for k in re.findall(r'"([^"]+)"', m.group(2)))
    return out


def check_keys(src):
    example = src / "config/examples/all-options.toml"
    try:
        keys = table_keys(tomllib.loads(example.read_text(encoding="utf-8")))
    except (OSError, tomllib.TOMLDecodeError) as e:
        check(False, f"config/examples/all-options.toml: cannot read: {e}")
        return
    check(len(keys) > 0, f"config/examples/all-options.toml: {len(keys)} keys")

    conf = src / "docs/configuration.md"
    text = conf.read_text(encoding="utf-8") if conf.exists() else ""
    spans = set()
    for _, line in prose_lines(text):
        spans.update(s.strip() for s in re.findall(r"`([^`\n]+)`", line))
    in_blocks = set()
    for info, _, body in fenced_blocks(text):
        if info == "toml":
            try:
                in_blocks |= table_keys(tomllib.loads(body))
            except tomllib.TOMLDecodeError:
                pass  # reported by check a
    missing = sorted(f"{t}.{k}" for t, k in keys
                     if (t, k) not in in_blocks and k not in spans and f"{t}.{k}" not in spans)
    check(conf.exists() and not missing,
          "docs/configuration.md documents every key of all-options.toml"
          + (f"; missing: {', '.join(missing)}" if missing else ""))

    man = src / "man/vnetdns.toml.5"
    man_lines = man.read_text(encoding="utf-8").split("\n") if man.exists() else []
    documented = man_config_keys(man_lines)
    missing = sorted(f"{t}.{k}" for t, k in keys if (t, k) not in documented)
    check(man.exists() and not missing,
          "man/vnetdns.toml.5 documents every key of all-options.toml"
          + (f"; missing: {', '.join(missing)}" if missing else ""))

    accepted = loader_keys(src)
    if accepted is None:
        check(False, "resolver/settings/loader.cpp: missing")
        return
    missing = sorted(f"{t}.{k}" for t, k in accepted if (t, k) not in documented)
    unknown = sorted(f"{t}.{k}" for t, k in documented if (t, k) not in accepted)
    check(accepted and not missing and not unknown,
          "man/vnetdns.toml.5 documents exactly the keys the loader accepts (check_keys)"
          + (f"; missing: {', '.join(missing)}" if missing else "")
          + (f"; not accepted: {', '.join(unknown)}" if unknown else ""))


# ---- c. mandoc --------------------------------------------------------------------------------

def check_mandoc(src):
    pages = [src / "man/vnetdns.8", src / "man/vnetdns.toml.5"]
    mandoc = shutil.which("mandoc")
    ci = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
    if mandoc is None:
        if ci:
            check(False, "mandoc is not installed (required under CI; deploy/install-deps.sh test)")
        else:
            check(True, "skipped: mandoc lint (mandoc not installed, CI unset)")
        return
    for page in pages:
        if not page.exists():
            check(False, f"{rel(page, src)}: missing")
            continue
        p = subprocess.run([mandoc, "-T", "lint", "-W", "warning", str(page)],
                           capture_output=True, text=True, timeout=60)
        out = (p.stdout + p.stderr).strip()
        check(p.returncode == 0 and not out,
              f"mandoc -T lint -W warning {rel(page, src)}" + (f":\n{out}" if out else ""))


# ---- d. commands ------------------------------------------------------------------------------

def run_help(binary, *args):
    p = subprocess.run([binary, *args], capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout + p.stderr


def check_commands(src, binary):
    try:
        rc, help_text = run_help(binary, "--help")
    except OSError as e:
        check(False, f"{binary} --help: {e}")
        return
    check(rc == 0, f"vnetdns --help exits 0 (got {rc})")
    commands, ctl_subs = [], set()
    for line in help_text.split("\n"):
        m = re.match(r"^\s+vnetdns\s+(\S+)(.*)$", line)
        if not m:
            continue
        if m.group(1) not in commands:
            commands.append(m.group(1))
        if m.group(1) == "ctl":
            ctl_subs = {alt.split()[0] for alt in m.group(2).split("[-")[0].split("|")
                        if alt.strip()}
    core = {"serve", "check-config", "ctl", "zone", "check"}
    check(core <= set(commands), f"vnetdns --help lists {', '.join(commands) or 'nothing'}")

    man = src / "man/vnetdns.8"
    if not man.exists():
        check(False, "man/vnetdns.8: missing")
        return
    section = roff_section(man.read_text(encoding="utf-8").split("\n"), "COMMANDS")
    tags = tp_tags(section)

    def command_of(text):
        words = text.split()
        return words[1] if words and words[0] == "vnetdns" and len(words) > 1 else \
            (words[0] if words else "")

    in_man = []
    for depth, _, text in tags:
        if depth == 0 and command_of(text) not in in_man:
            in_man.append(command_of(text))
    missing = [c for c in commands if c not in in_man]
    extra = [c for c in in_man if c not in commands]
    check(section and not missing and not extra,
          "vnetdns.8 COMMANDS has exactly the commands of --help"
          + (f"; missing: {', '.join(missing)}" if missing else "")
          + (f"; not in --help: {', '.join(extra)}" if extra else ""))

    def nested(command):
        """First words of the .TP tags nested under `command`'s entry."""
        out, owner = set(), None
        for depth, first, text in tags:
            if depth == 0:
                owner = command_of(text)
            elif depth == 1 and owner == command:
                out.add(first)
        return out

    try:
        _, zone_help = run_help(binary, "zone", "--help")
    except OSError as e:
        zone_help = ""
        check(False, f"{binary} zone --help: {e}")
    zone_subs = set(re.findall(r"^  ([a-z][a-z-]+)\s", zone_help, re.M))
    for command, subs in (("ctl", ctl_subs), ("zone", zone_subs)):
        have = nested(command)
        missing = sorted(subs - have)
        extra = sorted(have - subs)
        check(subs and not missing and not extra,
              f"vnetdns.8 lists exactly the {command} subcommands of --help "
              f"({', '.join(sorted(subs))})"
              + (f"; missing: {', '.join(missing)}" if missing else "")
              + (f"; not in --help: {', '.join(extra)}" if extra else ""))


# ---- e. links ---------------------------------------------------------------------------------

INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REF_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)")


def check_links(src):
    for path in markdown_files(src):
        if not path.exists():
            continue
        n, bad = 0, 0
        for line_no, line in prose_lines(path.read_text(encoding="utf-8")):
            line = re.sub(r"`[^`]*`", "", line)  # code spans are not links
            targets = INLINE_LINK.findall(line) + REF_LINK.findall(line)
            for target in targets:
                if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("#"):
                    continue  # http(s), mailto, ... and anchors in the same file
                n += 1
                file_part = target.split("#", 1)[0].split("?", 1)[0]
                resolved = (src / file_part.lstrip("/")) if file_part.startswith("/") \
                    else (path.parent / file_part)
                if not resolved.exists():
                    bad += 1
                    check(False, f"{rel(path, src)}:{line_no}: broken link {target} "
                                 f"({rel(resolved.resolve(), src.resolve())} does not exist)")
        if bad == 0:
            check(True, f"{rel(path, src)}: {n} relative link(s) resolve")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", required=True, help="the vnetdns executable")
    ap.add_argument("--source", required=True, help="the source tree")
    args = ap.parse_args()
    src = Path(args.source).resolve()
    binary = str(Path(args.binary).resolve())

    check_toml_blocks(src)
    check_keys(src)
    check_mandoc(src)
    check_commands(src, binary)
    check_links(src)

    failed = sum(1 for ok, _ in results if not ok)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
