"""phase_sweep.py: one pass over 127.1.0.0/16, `fping -c1 -i 0 -q -f
LIST` against `monitord -S LIST` (probe_bench.py --only sweep).
"""
import os
import re
import statistics
import time
from benchlib import (FPING, TARGET_SWEEP_RATIO, cpu_children, fmt, harness,
    run_timed, table)


# ------------------------------------------------------------------- sweep

def phase_sweep(ctx):
    listfile = ctx.path("sweep-127.1.0.0-16.txt")
    with open(listfile, "w") as f:
        f.write("# 127.1.0.1 - 127.1.255.254\n")
        for i in range(1, 65535):
            f.write("127.1.%d.%d\n" % (i >> 8, i & 255))
    n = 65534
    res = {"targets": n, "list": listfile, "fping": [], "monitord": []}
    ctx.results["sweep"] = res

    # Does the binary have a sweep mode at all?  A one-address list tells.
    probe = ctx.path("sweep-probe.txt")
    with open(probe, "w") as f:
        f.write("127.0.0.1\n")
    have_sweep = os.access(ctx.args.monitord, os.X_OK)
    if not have_sweep:
        ctx.note_missing("monitord is not built (%s)" % ctx.args.monitord)
    else:
        rc, _, out, err = run_timed([ctx.args.monitord, "-S", probe], 30)
        if rc != 0 or "sweep:" not in out:
            have_sweep = False
            first = (err.strip() or out.strip() or "exit %d" % rc)
            ctx.note_missing("monitord has no sweep mode (-S): %s"
                             % first.splitlines()[0])

    for trial in range(ctx.p["sweep_trials"]):
        # Alternate who goes first, so neither always gets a warm cache.
        order = ["fping", "monitord"] if trial % 2 == 0 else \
            ["monitord", "fping"]
        for who in order:
            if who == "fping":
                res["fping"].append(sweep_fping(listfile, n))
            elif have_sweep:
                res["monitord"].append(sweep_monitord(ctx, listfile, n))
            time.sleep(1)  # let the last replies and sockets settle
    summarize_sweep(res)
    print_sweep(res)
    return res


def sweep_fping(listfile, n):
    c0 = cpu_children()
    rc, wall, out, err = run_timed(
        [FPING, "-c1", "-i", "0", "-q", "-f", listfile], 120)
    cpu = cpu_children() - c0
    alive, seen = 0, 0
    for m in re.finditer(r"^(\S+)\s*:\s*xmt/rcv/%loss = (\d+)/(\d+)/", err,
                         re.M):
        seen += 1
        if int(m.group(3)) > 0:
            alive += 1
    harness.log("fping: %.3f s, %d/%d alive (rc %d)" % (wall, alive, n, rc))
    return dict(wall_s=wall, cpu_s=cpu, alive=alive, lost=n - alive,
                reported=seen, rc=rc)


def sweep_monitord(ctx, listfile, n):
    c0 = cpu_children()
    rc, wall, out, err = run_timed([ctx.args.monitord, "-S", listfile], 120)
    cpu = cpu_children() - c0
    m = re.search(r"sweep: (\d+) targets, (\d+) alive, (\d+) unreachable, "
                  r"(\d+) errors, ([\d.]+) s", out)
    if m is None:
        harness.log("monitord -S printed no summary (rc %d): %s"
                    % (rc, (out + err)[-300:]))
        return dict(wall_s=wall, cpu_s=cpu, rc=rc, error="no summary line")
    targets, alive = int(m.group(1)), int(m.group(2))
    harness.log("monitord -S: %.3f s, %d/%d alive (rc %d)"
                % (wall, alive, targets, rc))
    return dict(wall_s=wall, cpu_s=cpu, alive=alive, lost=n - alive,
                unreachable=int(m.group(3)), errors=int(m.group(4)),
                own_s=float(m.group(5)), targets_read=targets, rc=rc)


def summarize_sweep(res):
    for who in ("fping", "monitord"):
        ok = [t for t in res[who] if "error" not in t]
        if ok:
            res[who + "_median_s"] = statistics.median(t["wall_s"]
                                                       for t in ok)
            res[who + "_lost"] = max(t["lost"] for t in ok)
    if res.get("fping_median_s") and res.get("monitord_median_s"):
        res["ratio"] = res["monitord_median_s"] / res["fping_median_s"]
        res["equal_loss"] = res["fping_lost"] == res["monitord_lost"]


def print_sweep(res):
    rows = []
    for who, label in (("fping", "fping -c1 -i 0 -q -f LIST"),
                       ("monitord", "monitord -S LIST")):
        trials = res[who]
        if not trials:
            rows.append([label, "not run", "", "", "", ""])
            continue
        for i, t in enumerate(trials):
            if "error" in t:
                rows.append([label, "#%d" % (i + 1), fmt(t["wall_s"], 3),
                             "", t["error"], ""])
                continue
            rows.append([label, "#%d" % (i + 1), fmt(t["wall_s"], 3),
                         fmt(t["cpu_s"], 3), "%d/%d" % (t["alive"],
                                                        res["targets"]),
                         fmt(t["lost"])])
    table("Sweep of 127.1.0.1-127.1.255.254 (%d addresses, 1 echo each)"
          % res["targets"],
          ["command", "trial", "wall s", "CPU s", "alive", "lost"], rows)
    print("  median wall: fping %s s, monitord %s s; ratio monitord/fping "
          "%s (target <= %.1f); loss %s"
          % (fmt(res.get("fping_median_s"), 3),
             fmt(res.get("monitord_median_s"), 3),
             fmt(res.get("ratio"), 3), TARGET_SWEEP_RATIO,
             "equal" if res.get("equal_loss") else
             ("DIFFERENT" if "equal_loss" in res else "n/a")))


