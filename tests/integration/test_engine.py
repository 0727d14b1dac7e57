"""The probe engine with many targets: 2,000 loopback targets for a few
intervals with no false failure; /metrics and /healthz; privileges dropped;
a SIGHUP with a broken file keeps the old targets running; a SIGHUP with one
target removed stops exactly that one, and the others keep their state and
their phase."""

import os
import re
import shutil
import signal
import socket
import sys
import threading
import time
import traceback
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import harness  # noqa: E402
from harness import log, wait_for  # noqa: E402

N_ICMP = 1990
N_TCP = 10
INTERVAL_S = 2


class CountingListener:
    """A TCP listener on addr:port that counts accepted connections."""

    def __init__(self, addr, port):
        self.count = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((addr, port))
        self.sock.listen(128)
        self.sock.settimeout(0.2)
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while self.running:
            try:
                conn, _ = self.sock.accept()
                self.count += 1
                conn.close()
            except socket.timeout:
                continue
            except OSError:
                return

    def stop(self):
        self.running = False
        self.thread.join(2)
        self.sock.close()


def config(metrics_port, tcp_ports, drop=None, extra=""):
    lines = ["instance: engine-test",
             "log_level: info",
             "user: nobody",
             "metrics:",
             "  listen: 127.0.0.1:%d" % metrics_port,
             "defaults:",
             "  interval: %ds" % INTERVAL_S,
             "  retry_interval: 1s",
             "  timeout: 500ms",
             "  max_attempts: 2",
             "hosts:"]
    for i in range(N_ICMP):
        name = "p%04d" % i
        if name == drop:
            continue
        lines += ["  - name: %s" % name,
                  "    address: 127.78.%d.%d" % (i // 250, i % 250 + 1),
                  "    segment: other",
                  "    checks:",
                  "      - type: icmp",
                  "        packets: 1"]
    for i, port in enumerate(tcp_ports):
        name = "w%02d" % i
        if name == drop:
            continue
        lines += ["  - name: %s" % name,
                  "    address: 127.79.0.%d" % (i + 1),
                  "    checks:",
                  "      - type: tcp",
                  "        port: %d" % port]
    return "\n".join(lines) + "\n" + extra


def scrape(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port,
                                timeout=5) as r:
        assert r.status == 200
        text = r.read().decode()
    values = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, value = line.rsplit(" ", 1)
        values[name] = float(value)
    return values


def main():
    clean = harness.Cleanup()
    work = harness.make_workdir("/tmp/monitord-engine.")
    clean.add(lambda: shutil.rmtree(work, ignore_errors=True))
    mon = None
    try:
        pg = harness.Postgres(os.path.join(work, "pg")).start()
        clean.add(pg.stop)
        env = pg.env()
        harness.run([harness.binary("incidentctl"), "migrate"], env=env,
                    check=True)
        listeners = []
        tcp_ports = []
        for i in range(N_TCP):
            port = harness.free_port("127.79.0.%d" % (i + 1))
            listeners.append(CountingListener("127.79.0.%d" % (i + 1), port))
            tcp_ports.append(port)
        clean.add(lambda: [lsn.stop() for lsn in listeners])
        mport = harness.free_port()
        conf = os.path.join(work, "monitord.yaml")
        with open(conf, "w") as f:
            f.write(config(mport, tcp_ports))
        os.chmod(conf, 0o644)
        mon = harness.Daemon("monitord", ["-f", conf], env,
                             os.path.join(work, "monitord.log")).start()
        clean.add(mon.kill)

        log("2,000 targets come up; monitord runs as nobody")
        wait_for("2000 OK states", lambda: pg.query(
            "SELECT count(*) FROM current_state WHERE state = 'OK'")
            == [["2000"]], timeout=60)
        with open("/proc/%d/status" % mon.proc.pid) as f:
            uid = re.search(r"^Uid:\s+(\d+)", f.read(), re.M).group(1)
        import pwd
        assert int(uid) == pwd.getpwnam("nobody").pw_uid, uid

        log("a few intervals with no false failure")
        m0 = scrape(mport)
        time.sleep(3 * INTERVAL_S + 0.5)
        m1 = scrape(mport)
        sent = (m1['monitord_probes_sent_total{kind="icmp"}'] -
                m0['monitord_probes_sent_total{kind="icmp"}'])
        assert sent >= 2.5 * N_ICMP, "only %d ICMP probes in 3 intervals" \
            % sent
        for r in ("warning", "critical", "unknown"):
            key = 'monitord_check_results_total{result="%s"}' % r
            assert m1.get(key, 0) == 0, "%s results: %s" % (r, m1.get(key))
        assert m1['monitord_checks{state="ok"}'] == 2000, m1
        assert m1.get("monitord_probes_skipped_total", 0) == 0
        assert m1["monitord_checks_configured"] == 2000
        with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % mport,
                                    timeout=5) as r:
            body = r.read().decode()
            assert r.status == 200 and '"database":"connected"' in body, \
                body
        events_before = pg.query("SELECT count(*) FROM state_event")[0][0]

        log("SIGHUP with a broken file: refused, old targets keep running")
        good = open(conf).read()
        with open(conf, "w") as f:
            f.write(good.replace("    segment: other\n",
                                 "    segment: elsewhere\n", 1))
        mon.proc.send_signal(signal.SIGHUP)
        wait_for("the reload refused", lambda: "keeping the running "
                 "configuration" in mon.log())
        assert re.search(r"monitord\.yaml:\d+:\d+: 'segment' must be one of",
                         mon.log()), mon.log()[-2000:]
        m2 = scrape(mport)
        time.sleep(INTERVAL_S + 0.5)
        m3 = scrape(mport)
        assert m3['monitord_config_reloads_total{result="failed"}'] == 1
        assert (m3['monitord_probes_sent_total{kind="icmp"}'] -
                m2['monitord_probes_sent_total{kind="icmp"}']) >= N_ICMP * 0.9
        assert m3["monitord_checks_configured"] == 2000

        log("SIGHUP with one target removed: exactly that one stops")
        with open(conf, "w") as f:
            f.write(config(mport, tcp_ports, drop="w03"))
        before = [lsn.count for lsn in listeners]
        mon.proc.send_signal(signal.SIGHUP)
        wait_for("the reload", lambda: "1999 checks kept, 0 started, 1 "
                 "stopped" in mon.log())
        time.sleep(0.5)
        mid = [lsn.count for lsn in listeners]
        time.sleep(2 * INTERVAL_S + 0.5)
        after = [lsn.count for lsn in listeners]
        assert after[3] == mid[3], "the removed target is still probed"
        for i in range(N_TCP):
            if i != 3:
                assert after[i] >= mid[i] + 2, \
                    "target w%02d stopped: %s %s %s" % (i, before, mid,
                                                        after)
        m4 = scrape(mport)
        assert m4["monitord_checks_configured"] == 1999
        assert m4['monitord_config_reloads_total{result="ok"}'] == 1
        # Kept checks keep their state: no new PENDING -> OK events.
        assert pg.query("SELECT count(*) FROM state_event")[0][0] == \
            events_before, "a reload re-announced kept checks"
        for r in ("warning", "critical", "unknown"):
            key = 'monitord_check_results_total{result="%s"}' % r
            assert m4.get(key, 0) == 0, "%s results: %s" % (r, m4.get(key))

        log("SIGTERM stops cleanly")
        assert mon.stop() == 0
        log("PASS")
        return 0
    except Exception:
        traceback.print_exc()
        if mon is not None:
            print("----- monitord log -----\n%s" % mon.log()[-20000:])
        return 1
    finally:
        clean.run()


if __name__ == "__main__":
    sys.exit(main())
