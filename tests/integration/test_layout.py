#!/usr/bin/env python3
"""The files of each daemon call each other without a circle, and each
function is named for its file.

For monitord/, incidentd/, incidentctl/ and common/: every function or
object a file defines without `static` is its export; a file that names
another file's export depends on it.  The graph of those dependencies must
have no cycle, so that each file can be read after the ones it uses.

Every function a file defines, static or not, starts with the file's name
(check_snmp.c: check_snmp_...), so that a name says where to look.  The
exceptions are few and fixed: a daemon's main.c names its functions for
the daemon (monitord_..., incidentd_...) and has usage(); xmalloc.c's x...
and log.c's fatal() follow the C library's names; snmp_agent_new lives in
snmp_engine.c, whose timers it needs.
"""
import collections
import glob
import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import harness  # noqa: E402
from harness import log  # noqa: E402

DEF = re.compile(r"^([a-z_][a-z0-9_]*)\(", re.M)
DATA = re.compile(r"^(?:const )?struct [a-z_]+ ([a-z_][a-z0-9_]*) =", re.M)
COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*|\"(?:[^\"\\\n]|\\.)*\"", re.S)


def exports(src):
    out = set()
    for m in DEF.finditer(src):
        start = src.rfind("\n", 0, m.start() - 1)
        head = src[src.rfind("\n", 0, start) + 1:start]
        if "static" not in head:
            out.add(m.group(1))
    out.update(DATA.findall(src))
    return out


def graph(dirs):
    files = sorted(f for d in dirs
                   for f in glob.glob(os.path.join(harness.SRCDIR, d, "*.c")))
    text = {f: COMMENT.sub(" ", open(f, encoding="utf-8").read())
            for f in files}
    home = {}
    for f in files:
        for name in exports(text[f]):
            home.setdefault(name, f)
    g = collections.defaultdict(set)
    word = re.compile(r"\b[a-z_][a-z0-9_]*\b")
    for f in files:
        for w in set(word.findall(text[f])):
            h = home.get(w)
            if h is not None and h != f:
                g[f].add(h)
    return files, g


def cycles(files, g):
    """The strongly connected components of more than one file."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in g.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))
    for f in files:
        if f not in index:
            visit(f)
    return out


NAME_EXCEPTIONS = {
    "common/xmalloc.c": {"xcalloc", "xreallocarray", "xstrdup", "xstrndup",
                         "xasprintf"},
    "common/log.c": {"fatal", "fatalx"},
    "monitord/snmp_engine.c": {"snmp_agent_new"},
}


def misnamed(path):
    """The functions of a file that do not carry its name."""
    rel = os.path.relpath(path, harness.SRCDIR)
    base = os.path.basename(path)[:-2]
    prefixes = [base]
    allowed = set(NAME_EXCEPTIONS.get(rel, ()))
    if base == "main":
        prefixes = [os.path.dirname(rel)]
        allowed |= {"main", "usage"}
    if rel == "incidentctl/incidentctl.c":
        allowed |= {"main", "usage"}
    src = COMMENT.sub(" ", open(path, encoding="utf-8").read())
    return sorted(n for n in DEF.findall(src) if n not in allowed and not any(
        n == p or n.startswith(p + "_") for p in prefixes))


def main():
    bad = 0
    for d in ("monitord", "incidentd", "incidentctl", "common"):
        for f in sorted(glob.glob(os.path.join(harness.SRCDIR, d, "*.c"))):
            wrong = misnamed(f)
            if wrong:
                log("%s: functions not named for the file: %s"
                    % (os.path.relpath(f, harness.SRCDIR), ", ".join(wrong)))
                bad += 1
    for d in ("monitord", "incidentd", "incidentctl", "common"):
        dirs = [d] if d == "common" else [d, "common"]
        files, g = graph(dirs)
        assert len(files) > 3, (d, files)
        found = cycles(files, g)
        for comp in found:
            names = [os.path.relpath(f, harness.SRCDIR) for f in comp]
            log("%s: these files call each other in a circle: %s"
                % (d, ", ".join(names)))
            for f in comp:
                for h in sorted(g[f] & set(comp)):
                    log("  %s -> %s" % (os.path.relpath(f, harness.SRCDIR),
                                        os.path.relpath(h, harness.SRCDIR)))
            bad += 1
        log("%s: %d files, no circle" % (d, len(files)) if not found else
            "%s: %d circles" % (d, len(found)))
    # The check can fail: a file that calls back into one that calls it.
    files, g = graph(["monitord", "common"])
    check = os.path.join(harness.SRCDIR, "monitord", "check.c")
    kind = os.path.join(harness.SRCDIR, "monitord", "check_icmp.c")
    assert check in g[kind], "check_icmp.c should depend on check.c"
    g[check].add(kind)
    assert cycles(files, g), "a circle added by hand was not found"
    # And the naming check can fail: a function named for another file.
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "probe_tcp.c")
        with open(path, "w", encoding="utf-8") as f:
            f.write("static void\nprobe_tcp_ok(void)\n{\n}\n\n"
                    "static void\nicmp_wrong(void)\n{\n}\n")
        assert misnamed(path) == ["icmp_wrong"], misnamed(path)
    if bad:
        return 1
    log("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
