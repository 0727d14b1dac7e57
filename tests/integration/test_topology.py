"""First isolation and flapping on a private network built by the test.

Three network namespaces: the monitor, a core router, and the finance
segment behind it.  Addresses are from 198.18.0.0/15 and every interface
lives in a namespace this test creates, so no packet can leave the machine;
monitord itself runs inside the monitor's namespace (PostgreSQL is reached
through its Unix socket).

    monitor 198.18.1.2 -- 198.18.1.1 core router 198.18.2.1 -- 198.18.2.2
    finance switch, and behind it 198.18.3.1-220 (AnyIP): 220 finance hosts

Asserted:
  * cutting the router's downstream link gives exactly one DOWN root (the
    finance switch, one incident) and 220 UNREACHABLE hosts, and the TCP
    checks on some of them, all recorded with the switch as root cause and
    without an incident of their own;
  * restoring the link: every host and check recovers, and the recoveries
    are recorded;
  * 30 % loss (nftables, in the router) on the path to one host makes its
    check flap: one "flapping" change, one incident, no stream of changes;
    without the loss the flapping stops and the incident recovers.
"""

import os
import shutil
import subprocess
import sys
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import harness  # noqa: E402
from harness import log, wait_for  # noqa: E402

N_FIN = 220
N_TCP = 20          # finance hosts that also have a TCP check
TCP_PORT = 5432
FLAKY = "198.18.3.250"


class Lab:
    """The namespaces and links; every name carries a per-run prefix."""

    def __init__(self):
        p = "mt%d" % (os.getpid() % 100000)
        self.p = p
        self.mon, self.core, self.fin = p + "-mon", p + "-core", p + "-fin"
        self.up = False

    def sh(self, *args, check=True):
        return harness.run(list(args), check=check)

    def ns(self, ns, *args, check=True):
        return self.sh("ip", "netns", "exec", ns, *args, check=check)

    def create(self):
        p, m, c, f = self.p, self.mon, self.core, self.fin
        for n in (m, c, f):
            self.sh("ip", "netns", "add", n)
            self.up = True
            self.ns(n, "ip", "link", "set", "lo", "up")
        # Each veth pair is created inside a namespace of ours, so no link
        # ever appears in the machine's own namespace.
        self.ns(m, "ip", "link", "add", p + "-mc", "type", "veth", "peer",
                "name", p + "-cm", "netns", c)
        self.ns(c, "ip", "link", "add", p + "-cf", "type", "veth", "peer",
                "name", p + "-fc", "netns", f)
        self.ns(m, "ip", "addr", "add", "198.18.1.2/24", "dev", p + "-mc")
        self.ns(c, "ip", "addr", "add", "198.18.1.1/24", "dev", p + "-cm")
        self.ns(c, "ip", "addr", "add", "198.18.2.1/24", "dev", p + "-cf")
        self.ns(f, "ip", "addr", "add", "198.18.2.2/24", "dev", p + "-fc")
        for n, dev in ((m, "-mc"), (c, "-cm"), (c, "-cf"), (f, "-fc")):
            self.ns(n, "ip", "link", "set", p + dev, "up")
        self.ns(c, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        self.ns(m, "ip", "route", "add", "default", "via", "198.18.1.1")
        self.ns(f, "ip", "route", "add", "default", "via", "198.18.2.1")
        # AnyIP: every address of 198.18.3.0/24 answers inside fin
        self.ns(f, "ip", "route", "add", "local", "198.18.3.0/24", "dev",
                "lo")
        self.route_fin()

    def route_fin(self):
        self.ns(self.core, "ip", "route", "replace", "198.18.3.0/24", "via",
                "198.18.2.2")

    def cut(self):
        self.ns(self.core, "ip", "link", "set", self.p + "-cf", "down")

    def restore(self):
        self.ns(self.core, "ip", "link", "set", self.p + "-cf", "up")
        # Bringing the link down deleted the route through it.
        self.route_fin()

    def lossy(self, addr, pct):
        rules = ("table inet %s_flaky { chain lossy { type filter hook "
                 "forward priority 0; policy accept; ip daddr %s numgen "
                 "random mod 100 < %d counter drop; }; }" % (self.p, addr, pct))
        p = subprocess.run(["ip", "netns", "exec", self.core, "nft", "-f",
                            "-"], input=rules, text=True,
                           capture_output=True)
        if p.returncode != 0:
            raise AssertionError("nft: %s" % p.stderr)

    def clear_loss(self):
        self.ns(self.core, "nft", "delete", "table", "inet",
                self.p + "_flaky")

    def destroy(self):
        if not self.up:
            return
        for n in (self.mon, self.core, self.fin):
            # only our processes: those inside our namespaces
            rc, out, _ = self.sh("ip", "netns", "pids", n, check=False)
            for pid in out.split():
                try:
                    os.kill(int(pid), 9)
                except (OSError, ValueError):
                    pass
            self.sh("ip", "netns", "del", n, check=False)
        self.up = False


LISTENER = """
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", %d))
s.listen(512)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    c.close()
"""


class NsListener:
    """A TCP listener inside a namespace: every AnyIP address of it
    accepts on the port."""

    def __init__(self, ns, port):
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, "-c",
             LISTENER % port], stdout=subprocess.PIPE, text=True,
            start_new_session=True)
        if self.proc.stdout.readline().strip() != "ready":
            self.stop()
            raise AssertionError("no listener in %s" % ns)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def fin_addr(i):
    return "198.18.3.%d" % (i + 1)


def monitord_yaml():
    out = ["instance: topo-test",
           "log_level: info",
           "defaults: {interval: 5s, retry_interval: 1s, timeout: 800ms,",
           "           max_attempts: 3}",
           "segments:",
           "  finance:",
           "    icmp: {packets: 1, rtt_warning: 200ms, rtt_critical: 500ms}",
           "templates:",
           "  - name: network-device",
           "    checks:",
           "      - {type: icmp, packets: 2, packet_gap: 20ms}",
           "  - name: finance-host",
           "    segment: finance",
           "    department: 財政課",
           "    parents: [zaimu-sw01]",
           "    checks:",
           "      - type: icmp",
           "hosts:",
           "  - name: kikan-rt01",
           "    address: 198.18.1.1",
           "    segment: core",
           "    use: network-device",
           # Seldom checked on its own: only the children's first failures
           # make it look in time (on-demand checks).
           "  - name: zaimu-sw01",
           "    address: 198.18.2.2",
           "    segment: finance",
           "    use: network-device",
           "    parents: [kikan-rt01]",
           "    checks:",
           "      - {type: icmp, interval: 30s, retry_interval: 1s}"]
    for i in range(N_FIN):
        out += ["  - name: zaimu-%03d" % (i + 1),
                "    address: %s" % fin_addr(i),
                "    use: finance-host"]
        if i < N_TCP:
            out += ["    checks:",
                    "      - {type: tcp, port: %d}" % TCP_PORT]
    out += ["  - name: zaimu-flaky",
            "    address: %s" % FLAKY,
            "    use: finance-host",
            "    checks:",
            "      - {type: icmp, interval: 1s, retry_interval: 1s,",
            "         timeout: 500ms, packets: 3, packet_gap: 20ms,",
            "         loss_warning: 20, loss_critical: 60}"]
    return "\n".join(out) + "\n"


def ingest(pg):
    """What incidentd does: apply the new state changes to incidents."""
    while int(pg.query("SELECT incident_ingest('topo-test', '[]')")[0][0]):
        pass


def count(pg, where):
    return int(pg.query("SELECT count(*) FROM state_event WHERE " +
                        where)[0][0])


def main():
    clean = harness.Cleanup()
    work = harness.make_workdir("/tmp/monitord-topo.")
    clean.add(lambda: shutil.rmtree(work, ignore_errors=True))
    lab = Lab()
    mon = None
    try:
        for tool in ("/usr/sbin/ip", "/usr/sbin/nft"):
            if not os.path.exists(tool):
                raise AssertionError("%s is missing (apt-get install "
                                     "iproute2 nftables)" % tool)
        clean.add(lab.destroy)
        lab.create()
        listener = NsListener(lab.fin, TCP_PORT)
        clean.add(listener.stop)
        pg = harness.Postgres(os.path.join(work, "pg")).start()
        clean.add(pg.stop)
        env = pg.env()
        harness.run([harness.binary("incidentctl"), "migrate"], env=env,
                    check=True)
        conf = os.path.join(work, "monitord.yaml")
        with open(conf, "w") as f:
            f.write(monitord_yaml())
        mon = harness.Daemon("monitord", ["-f", conf], env,
                             os.path.join(work, "monitord.log"),
                             prefix=("ip", "netns", "exec", lab.mon))
        mon.start()
        clean.add(mon.kill)
        total = 2 + N_FIN + 1

        log("all %d hosts and %d TCP checks come up OK" % (total, N_TCP))
        wait_for("every check OK", lambda: pg.query(
            "SELECT count(*) FILTER (WHERE state = 'OK'), count(*) FROM "
            "current_state") == [[str(total + N_TCP), str(total + N_TCP)]],
            timeout=45)
        ups = pg.query("SELECT count(*) FROM current_state WHERE "
                       "host_state = 'UP'")[0][0]
        assert int(ups) == total, "%s hosts UP, not %d" % (ups, total)
        ingest(pg)
        start_id = int(pg.query("SELECT coalesce(max(id), 0) FROM "
                                "state_event")[0][0])

        log("cut the router's link to the finance segment")
        t_cut = time.monotonic()
        lab.cut()
        since = "id > %d" % start_id
        wait_for("the switch and every finance host recorded down",
                 lambda: count(pg, since + " AND new_state = 'CRITICAL'")
                 >= 1 + N_FIN + 1 + N_TCP, timeout=60)
        log("recorded in %.1f s" % (time.monotonic() - t_cut))
        time.sleep(2)
        rows = pg.query("SELECT host, check_name, host_state, "
                        "coalesce(root_cause, '-') FROM state_event WHERE "
                        + since + " AND new_state <> 'OK' ORDER BY id")
        down = [r for r in rows if r[2] == "DOWN"]
        unreach = [r for r in rows if r[2] == "UNREACHABLE"]
        assert [r[0] for r in down] == ["zaimu-sw01"], down
        assert down[0][3] == "-", down
        assert len(unreach) == N_FIN + 1, len(unreach)
        assert all(r[3] == "zaimu-sw01" for r in unreach), \
            [r for r in unreach if r[3] != "zaimu-sw01"][:5]
        tcp = [r for r in rows if r[1] == "tcp/%d" % TCP_PORT]
        assert len(tcp) == N_TCP, len(tcp)
        assert all(r[3] == "zaimu-sw01" for r in tcp), tcp[:5]
        assert not [r for r in rows if r[0] == "kikan-rt01"], \
            "the router itself answers on its near side"
        ingest(pg)
        inc = pg.query("SELECT host, check_name FROM incident WHERE "
                       "status = 'open'")
        assert inc == [["zaimu-sw01", "icmp"]], inc
        # the children's rows in current_state point at the root too
        assert pg.query(
            "SELECT count(*) FROM current_state WHERE root_cause = "
            "'zaimu-sw01' AND host_state = 'UNREACHABLE'") == \
            [[str(N_FIN + 1)]]

        log("restore the link: everything recovers, and that is recorded")
        mark = int(pg.query("SELECT max(id) FROM state_event")[0][0])
        lab.restore()
        wait_for("every check OK again", lambda: pg.query(
            "SELECT count(*) FROM current_state WHERE state = 'OK' AND "
            "root_cause IS NULL") == [[str(total + N_TCP)]], timeout=90)
        rec = count(pg, "id > %d AND new_state = 'OK'" % mark)
        assert rec == 1 + N_FIN + 1 + N_TCP, rec
        ingest(pg)
        assert pg.query("SELECT count(*) FROM incident WHERE status = "
                        "'open'") == [["0"]]
        assert pg.query("SELECT count(*) FROM incident") == [["1"]]

        log("30 % loss on the path to one host: it flaps, once")
        mark = int(pg.query("SELECT max(id) FROM state_event")[0][0])
        lab.lossy(FLAKY, 30)
        flaky = "host = 'zaimu-flaky' AND id > %d" % mark
        wait_for("flapping recorded", lambda: count(
            pg, flaky + " AND flapping"), timeout=90)
        ingest(pg)
        started = int(pg.query("SELECT min(id) FROM state_event WHERE " +
                               flaky + " AND flapping")[0][0])
        before = count(pg, flaky + " AND id < %d" % started)
        log("%d changes recorded before it was seen to flap" % before)
        # keep the loss on: no further change may be recorded
        time.sleep(25)
        assert count(pg, flaky + " AND flapping") == 1
        changes = count(pg, flaky + " AND id > %d" % started)
        assert changes == 0, "%d changes recorded while flapping" % changes
        assert pg.query("SELECT flapping FROM current_state WHERE host = "
                        "'zaimu-flaky'") == [["t"]]
        ingest(pg)
        # Changes before it was seen to flap may have opened (and
        # closed) incidents of their own.  The flapping change opens one,
        # or joins the one still open; either way one is open, and no
        # other opens while it flaps.
        inc = pg.query("SELECT count(*), coalesce(min(summary), '') FROM "
                       "incident WHERE host = 'zaimu-flaky' AND "
                       "open_event_id >= %d" % started)
        assert inc[0][0] in ("0", "1"), inc
        assert inc[0][0] == "0" or "flapping" in inc[0][1], inc
        assert pg.query("SELECT count(*) FROM incident WHERE host = "
                        "'zaimu-flaky' AND status = 'open'") == [["1"]]
        others = count(pg, "id > %d AND host <> 'zaimu-flaky'" % mark)
        assert others == 0, "%d changes on other hosts" % others

        log("loss removed: the flapping stops, the incident recovers")
        lab.clear_loss()
        wait_for("flapping cleared", lambda: count(
            pg, flaky + " AND flapping = false"), timeout=60)
        assert pg.query("SELECT state, flapping FROM current_state WHERE "
                        "host = 'zaimu-flaky'") == [["OK", "f"]]
        ingest(pg)
        assert pg.query("SELECT count(*) FROM incident WHERE host = "
                        "'zaimu-flaky' AND status = 'open'") == [["0"]]

        log("every ICMP result left its round trip and loss")
        assert pg.query("SELECT count(DISTINCT host) FROM metric_sample "
                        "WHERE metric = 'rta[ms]'") == [[str(total)]]
        assert int(pg.query("SELECT count(*) FROM metric_sample WHERE "
                            "metric = 'pl[%]' AND value = 100")[0][0]) > 0

        log("SIGTERM stops cleanly")
        assert mon.stop() == 0
        log("PASS")
        return 0
    except Exception:
        traceback.print_exc()
        if mon is not None:
            print("----- monitord log (tail) -----\n%s"
                  % mon.log()[-8000:])
        return 1
    finally:
        clean.run()


if __name__ == "__main__":
    sys.exit(main())
