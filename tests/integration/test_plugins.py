"""Plugins: Debian's monitoring-plugins and the project's check_backup_age
run by monitord, and scripts that misbehave.

Asserted: exit codes 0-3 give OK/WARNING/CRITICAL/UNKNOWN and anything
else UNKNOWN with the reason; the first line is the summary; performance
data is stored as measured values; output is cut at 8 KiB; a plugin sees
only descriptors 0-2; a hanging plugin is killed with its whole process
group at its timeout; a child left behind holding the pipes is killed; a
grandchild that escaped the group is reaped when it ends (no zombie);
concurrency stays within plugins.max_concurrent; nothing of ours is left
running after SIGTERM."""

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import traceback
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import harness  # noqa: E402
from harness import log, wait_for  # noqa: E402

PLUGINS = "/usr/lib/nagios/plugins"
MARK = "mdplugintest%d" % os.getpid()
MAX = 4
TOKEN = "s3cr3t-token-0123456789"
SLEEPERS = 8
START = time.time()

# %(sleep)s and %(yes)s are copies of sleep and yes whose names carry the
# marker, so that pgrep finds what the plugins left.
SCRIPTS = {
    "hang": "echo starting\n%(sleep)s 300\n",
    "forever": "%(yes)s\n",
    "flood": "head -c 1000000 /dev/zero | tr '\\0' x\necho\nexit 0\n",
    "linger": "%(sleep)s 300 &\necho 'LINGER OK - left a child'\n"
              "exit 0\n",
    "escape": "setsid %(sleep)s 2 </dev/null >/dev/null 2>&1 &\n"
              "echo 'ESCAPE OK'\nexit 0\n",
    "exit137": "echo 'died'\nexit 137\n",
    "signal": "echo 'about to die'\nkill -9 $$\n",
    "stderr": "echo oops >&2\nexit 2\n",
    "fds": "exec /bin/ls -1 /proc/self/fd\n",
    "sleeper": "sleep 4\necho 'SLEPT OK'\n",
}


def write_scripts(d):
    progs = {}
    for prog in ("sleep", "yes"):
        progs[prog] = os.path.join(d, "%s-%s" % (MARK, prog))
        shutil.copy(shutil.which(prog), progs[prog])
    for name, body in SCRIPTS.items():
        path = os.path.join(d, name + ".sh")
        with open(path, "w") as f:
            f.write("#!/bin/sh\n" + body % progs)
        os.chmod(path, 0o755)


def monitord_yaml(d, mport, tport, backups):
    s = lambda n: os.path.join(d, n + ".sh")  # noqa: E731
    bk = os.path.join(harness.BUILDDIR, "plugins", "check_backup_age")
    checks = [
        ("ok", "{type: plugin, command: [check_dummy, '0', hello]}"),
        ("warn", "{type: plugin, command: [check_dummy, '1', careful]}"),
        ("crit", "{type: plugin, command: [check_dummy, '2', broken]}"),
        ("unk", "{type: plugin, command: [check_dummy, '3', unsure]}"),
        ("tcp", "{type: plugin, command: [check_tcp, -H, $HOSTADDRESS$, "
                "-p, '%d']}" % tport),
        ("disk", "{type: plugin, command: [check_disk, -w, '1%%', -c, "
                 "'1%%', -p, /]}"),
        ("hang", "{type: plugin, command: [%s], timeout: 2s}" % s("hang")),
        ("hangcrit", "{type: plugin, command: [%s], timeout: 2s, "
                     "timeout_state: critical}" % s("hang")),
        ("forever", "{type: plugin, command: [%s], timeout: 2s}"
         % s("forever")),
        ("flood", "{type: plugin, command: [%s]}" % s("flood")),
        ("linger", "{type: plugin, command: [%s]}" % s("linger")),
        ("escape", "{type: plugin, command: [%s]}" % s("escape")),
        ("exit137", "{type: plugin, command: [%s]}" % s("exit137")),
        ("signal", "{type: plugin, command: [%s]}" % s("signal")),
        ("stderr", "{type: plugin, command: [%s]}" % s("stderr")),
        ("fds", "{type: plugin, command: [%s]}" % s("fds")),
        ("missing", "{type: plugin, command: [%s]}" % s("fds")),
        ("bk-fresh", "{type: plugin, command: [%s, -d, %s, -p, '*.dump']}"
         % (bk, backups[0])),
        ("bk-old", "{type: plugin, command: [%s, -d, %s, -w, 1h, -c, 2d]}"
         % (bk, backups[1])),
        ("bk-empty", "{type: plugin, command: [%s, -d, %s]}"
         % (bk, backups[2])),
    ]
    lines = ["instance: plugin-test",
             "log_level: info",
             "metrics: {listen: '127.0.0.1:%d'}" % mport,
             "plugins: {max_concurrent: %d}" % MAX,
             "defaults: {interval: 5s, retry_interval: 5s, timeout: 4500ms,",
             "           max_attempts: 1}",
             "hosts:",
             "  - name: shisetsu-sv01",
             "    address: 127.0.0.1",
             "    checks:"]
    for name, body in checks:
        lines.append("      - %s" % body.replace("{", "{name: %s, " % name,
                                                   1))
    lines += ["  - name: batch01",
              "    address: 127.0.0.3",
              "    checks:",
              "      - {name: nightly-backup, type: passive, token: %s,"
              % TOKEN,
              "         heartbeat: 4s, interval: 1s, retry_interval: 1s,",
              "         timeout: 500ms}",
              "  - name: sleepers",
              "    address: 127.0.0.2",
              "    checks:"]
    for i in range(SLEEPERS):
        lines.append("      - {name: sleep%d, type: plugin, command: [%s]}"
                     % (i, s("sleeper")))
    # A daily window that began an hour ago (Tokyo time) covers batch01
    # now; a one-off one in three weeks covers the finance segment.
    jst = time.gmtime(time.time() + 9 * 3600 - 3600)
    lines += ["downtimes:",
              "  - name: nightly-batch",
              "    comment: 夜間バッチ",
              "    hosts: [batch01]",
              "    every: day",
              "    at: '%02d:%02d'" % (jst.tm_hour, jst.tm_min),
              "    duration: 2h",
              "  - name: zaimu-upgrade",
              "    segments: [finance]",
              "    start: '%s 22:00'" % upgrade_day(0),
              "    end: '%s 06:00'" % upgrade_day(1)]
    return "\n".join(lines) + "\n"


def upgrade_day(n):
    """The Tokyo date of the one-off window's start (n = 0), three weeks
    ahead of the day the test runs, and of the days after it."""
    return time.strftime("%Y-%m-%d", time.gmtime(
        START + 9 * 3600 + (21 + n) * 86400))


def states(pg):
    return {r[0]: (r[1], r[2].replace("<NL>", "\n")) for r in pg.query(
        "SELECT check_name, state, replace(output, E'\\n', '<NL>') FROM "
        "current_state WHERE host = 'shisetsu-sv01'")}


def metric(port, name):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port,
                                timeout=5) as r:
        text = r.read().decode()
    m = re.search(r"^%s (\d+)" % name, text, re.M)
    return int(m.group(1)) if m else None


def submit(port, body, token=TOKEN, method="POST", raw=None):
    """POSTs a passive result; returns (status, decoded JSON)."""
    import http.client
    import json
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    hdrs = {"Content-Type": "application/json"}
    if token is not None:
        hdrs["Authorization"] = "Bearer " + token
    data = raw if raw is not None else json.dumps(body).encode()
    c.request(method, "/api/v1/results", body=data, headers=hdrs)
    r = c.getresponse()
    text = r.read().decode()
    c.close()
    try:
        return r.status, json.loads(text)
    except ValueError:
        return r.status, text


def ours():
    """PIDs of processes carrying this run's marker."""
    rc, out, _ = harness.run(["pgrep", "-f", MARK])
    return [int(p) for p in out.split()]


def marker_ages():
    """(pid, age in s, command line) of processes with the marker."""
    with open("/proc/uptime") as f:
        uptime = float(f.read().split()[0])
    hz = os.sysconf("SC_CLK_TCK")
    out = []
    for p in ours():
        try:
            with open("/proc/%d/stat" % p) as f:
                st = f.read()
            with open("/proc/%d/cmdline" % p, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "pgrep" in cmd:
            continue
        start = int(st[st.rindex(")") + 2:].split()[19]) / hz
        out.append((p, uptime - start, cmd))
    return out


def zombies_of(pid):
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        if fields[0] == "Z" and int(fields[1]) == pid:
            found.append(int(d))
    return found


def main():
    clean = harness.Cleanup()
    work = harness.make_workdir("/tmp/monitord-plugins.")
    clean.add(lambda: shutil.rmtree(work, ignore_errors=True))
    mon = None
    try:
        if not os.path.exists(os.path.join(PLUGINS, "check_dummy")):
            raise AssertionError("monitoring-plugins is not installed")
        write_scripts(work)
        backups = [os.path.join(work, "bk%d" % i) for i in range(3)]
        for b in backups:
            os.makedirs(b)
        fresh = os.path.join(backups[0], "zaimu-20261127.dump")
        with open(fresh, "wb") as f:
            f.write(b"x" * 4096)
        old = os.path.join(backups[1], "jinji-20261120.tar")
        with open(old, "wb") as f:
            f.write(b"y" * 100)
        # three hours older than the kernel stamped it: plugins run with a
        # fixed environment, so under a moved clock (runtest.sh) they see
        # the real time, as the kernel does, not the test's
        t = os.stat(old).st_mtime - 3 * 3600
        os.utime(old, (t, t))
        listener = harness.TcpListener("127.0.0.1", harness.free_port())
        listener.start()
        clean.add(listener.stop)

        pg = harness.Postgres(os.path.join(work, "pg")).start()
        clean.add(pg.stop)
        env = pg.env()
        harness.run([harness.binary("incidentctl"), "migrate"], env=env,
                    check=True)
        mport = harness.free_port()
        conf = os.path.join(work, "monitord.yaml")
        with open(conf, "w") as f:
            f.write(monitord_yaml(work, mport, listener.port, backups))

        log("a plugin that does not exist is a config error")
        bad = os.path.join(work, "bad.yaml")
        with open(bad, "w") as f:
            f.write(monitord_yaml(work, mport, listener.port, backups)
                    .replace(os.path.join(work, "fds.sh") + "]}",
                             os.path.join(work, "nope.sh") + "]}", 1))
        rc, out, err = harness.run([harness.binary("monitord"), "-n", "-f",
                                    bad])
        assert rc != 0 and "nope.sh': No such file or directory" in err, \
            (rc, out, err)

        mon = harness.Daemon("monitord", ["-f", conf], env,
                             os.path.join(work, "monitord.log"))
        mon.start()
        clean.add(mon.kill)
        clean.add(lambda: [os.kill(p, 9) for p in ours()])

        log("every plugin check gets its state")
        want = 20
        wait_for("%d plugin checks recorded" % want,
                 lambda: len(states(pg)) >= want, timeout=40)
        st = states(pg)
        assert st["ok"] == ("OK", "OK: hello"), st["ok"]
        assert st["warn"][0] == "WARNING" and "careful" in st["warn"][1]
        assert st["crit"][0] == "CRITICAL"
        assert st["unk"][0] == "UNKNOWN"
        assert st["tcp"][0] == "OK" and st["tcp"][1].startswith("TCP OK"), \
            st["tcp"]
        assert st["disk"][0] in ("OK", "WARNING", "CRITICAL"), st["disk"]
        assert st["hang"][0] == "UNKNOWN" and "timed out after 2.0 s" in \
            st["hang"][1], st["hang"]
        assert st["hangcrit"][0] == "CRITICAL", st["hangcrit"]
        assert st["forever"][0] == "UNKNOWN", st["forever"]
        assert st["flood"][0] == "OK" and "cut at 8 KiB" in st["flood"][1]
        assert st["linger"] == ("OK", "LINGER OK - left a child"), \
            st["linger"]
        assert st["escape"] == ("OK", "ESCAPE OK"), st["escape"]
        assert st["exit137"] == ("UNKNOWN", "exit code 137 (not 0-3): died"), \
            st["exit137"]
        assert st["signal"][0] == "UNKNOWN" and \
            st["signal"][1].startswith("killed by signal 9"), st["signal"]
        assert st["stderr"] == ("CRITICAL",
                                "(no output on stdout) stderr: oops"), \
            st["stderr"]
        # ls shows its own 0, 1, 2 and the descriptor of the listing
        assert st["fds"] == ("OK", "0\n1\n2\n3"), st["fds"]
        assert st["bk-fresh"][0] == "OK", st["bk-fresh"]
        assert st["bk-old"][0] == "WARNING" and "3h" in st["bk-old"][1], \
            st["bk-old"]
        assert st["bk-empty"][0] == "CRITICAL", st["bk-empty"]

        log("GET /api/v1/checks shows every latest result")
        import json
        with urllib.request.urlopen(
                "http://127.0.0.1:%d/api/v1/checks?host=shisetsu-sv01"
                % mport, timeout=5) as r:
            checks = {c["check"]: c for c in json.loads(r.read())}
        assert len(checks) == 20, len(checks)
        assert checks["fds"]["output"] == "0\n1\n2\n3", checks["fds"]
        assert checks["ok"]["state"] == "OK" and \
            checks["ok"]["state_type"] == "HARD" and \
            checks["ok"]["last_result"] > time.time() - 60, checks["ok"]
        assert checks["crit"]["hard_state"] == "CRITICAL"

        log("performance data became measured values")
        # every one of them: the samples of different checks reach the
        # table in different batches
        wait_for("samples", lambda: pg.query(
            "SELECT bool_or(check_name = 'tcp' AND metric = 'time[s]') "
            "AND bool_or(check_name = 'bk-fresh' AND metric = 'age[s]') "
            "AND bool_or(check_name = 'bk-fresh' AND metric = 'size[B]') "
            "AND bool_or(check_name = 'disk' AND metric LIKE '/%') "
            "FROM metric_sample")[0][0] == "t", timeout=30)
        ms = {(r[0], r[1]) for r in pg.query(
            "SELECT check_name, metric FROM metric_sample")}
        assert ("tcp", "time[s]") in ms, sorted(ms)[:20]
        assert ("bk-fresh", "age[s]") in ms and ("bk-fresh", "size[B]") in ms
        assert any(c == "disk" and m.startswith("/") for c, m in ms)
        # each at the time it was taken (binary COPY counts from 2000)
        assert pg.query("SELECT bool_and(ts > now() - interval '10 "
                        "minutes' AND ts < now() + interval '5 seconds') "
                        "FROM metric_sample") == [["t"]]

        log("concurrency stays within max_concurrent, the rest queue")
        peak_run = peak_queue = 0
        zombies = []
        t_end = time.monotonic() + 12
        while time.monotonic() < t_end:
            peak_run = max(peak_run, metric(mport, "monitord_plugins_running"))
            peak_queue = max(peak_queue,
                             metric(mport, "monitord_plugins_queued"))
            zombies += zombies_of(mon.proc.pid)
            time.sleep(0.1)
        log("peak running %d, peak queued %d" % (peak_run, peak_queue))
        assert peak_run <= MAX and peak_run >= MAX - 1, peak_run
        assert peak_queue >= 1, peak_queue
        # a zombie may exist between its exit and the next SIGCHLD; one
        # that stays is a leak
        lasting = [z for z in set(zombies) if z in zombies_of(mon.proc.pid)]
        assert not lasting, "zombies: %s" % lasting
        assert metric(mport, "monitord_plugins_timed_out_total") >= 3

        log("killed plugins leave nothing behind")
        # A hang or forever run lives 2 s (its timeout), a lingering child
        # 0.2 s past its plugin, an escaped one its own 2 s: anything of
        # ours older than 3 s was not killed or not reaped.
        for _ in range(30):
            old = [x for x in marker_ages() if x[1] > 3.0]
            assert not old, "not killed: %s" % old
            time.sleep(0.2)

        log("passive results: accepted with the token, refused without")
        good = {"host": "batch01", "check": "nightly-backup", "status": 0,
                "output": "BACKUP OK - 12 GB in 41 min | size=12GB;;;0\n"
                          "zaimu.dump done"}
        assert submit(mport, good) == (202, {"state": "OK"})
        assert submit(mport, good, token="wrong-token-0123456789")[0] == 401
        assert submit(mport, good, token=None)[0] == 401
        assert submit(mport, dict(good, check="nope"))[0] == 404
        assert submit(mport, dict(good, status=7))[0] == 400
        assert submit(mport, None, raw=b"{not json")[0] == 400
        assert submit(mport, None, raw=b"[]")[0] == 400
        assert submit(mport, good, method="GET")[0] == 405
        assert submit(mport, dict(good, output="x" * 20000))[0] == 413
        wait_for("the passive result recorded", lambda: pg.query(
            "SELECT state, replace(output, E'\\n', '/') FROM current_state "
            "WHERE host = 'batch01'") ==
            [["OK", "BACKUP OK - 12 GB in 41 min/zaimu.dump done"]],
            timeout=10)
        st, body = submit(mport, dict(good, status="CRITICAL",
                                      output="BACKUP CRITICAL - disk full"))
        assert st == 202, (st, body)
        wait_for("CRITICAL recorded", lambda: pg.query(
            "SELECT state FROM current_state WHERE host = 'batch01'") ==
            [["CRITICAL"]], timeout=10)
        submit(mport, good)
        wait_for("size stored", lambda: pg.query(
            "SELECT count(*) FROM metric_sample WHERE host = 'batch01' "
            "AND metric = 'size[GB]'")[0][0] != "0", timeout=10)
        log("no result for the heartbeat: CRITICAL, the dead man's switch")
        wait_for("heartbeat missed", lambda: pg.query(
            "SELECT state, output LIKE 'HEARTBEAT CRITICAL - no result for "
            "%' FROM current_state WHERE host = 'batch01'") ==
            [["CRITICAL", "t"]], timeout=15)
        assert submit(mport, good)[0] == 202
        wait_for("back to OK", lambda: pg.query(
            "SELECT state FROM current_state WHERE host = 'batch01'") ==
            [["OK"]], timeout=10)

        log("downtime: changes flagged, windows written for the SLA")
        flagged = pg.query("SELECT count(*), count(downtime) FROM "
                           "state_event WHERE host = 'batch01'")[0]
        assert flagged[0] == flagged[1] and int(flagged[0]) >= 3, flagged
        assert pg.query("SELECT DISTINCT downtime FROM state_event WHERE "
                        "host = 'batch01'") == [["nightly-batch"]]
        assert pg.query("SELECT count(*) FROM state_event WHERE host <> "
                        "'batch01' AND downtime IS NOT NULL") == [["0"]]
        win = pg.query("SELECT name, targets, starts_at < now(), "
                       "ends_at > now() FROM downtime_window ORDER BY "
                       "starts_at LIMIT 1")
        assert win == [["nightly-batch", "hosts: batch01", "t", "t"]], win
        n = int(pg.query("SELECT count(*) FROM downtime_window WHERE name "
                         "= 'nightly-batch'")[0][0])
        assert 60 <= n <= 64, n
        assert pg.query("SELECT targets, starts_at AT TIME ZONE "
                        "'Asia/Tokyo', ends_at AT TIME ZONE 'Asia/Tokyo' "
                        "FROM downtime_window WHERE name = "
                        "'zaimu-upgrade'") == \
            [["segments: finance", "%s 22:00:00" % upgrade_day(0),
              "%s 06:00:00" % upgrade_day(1)]]

        log("SIGTERM stops cleanly and leaves no plugin running")
        assert mon.stop() == 0
        # an escaped grandchild (setsid sleep 2) may finish its 2 s
        try:
            wait_for("nothing of ours left", lambda: not ours(), timeout=3)
        except AssertionError:
            raise AssertionError("left running: %s" % marker_ages())
        log("PASS")
        return 0
    except Exception:
        traceback.print_exc()
        if mon is not None:
            print("----- monitord log (tail) -----\n%s" % mon.log()[-6000:])
        return 1
    finally:
        clean.run()


if __name__ == "__main__":
    sys.exit(main())
