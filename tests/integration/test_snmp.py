"""SNMP end to end: monitord polls real snmpd agents on loopback (v1, v2c,
v3 authPriv) and receives traps from Debian's snmptrap.

Agent A answers normally on several addresses; agent B has overrides that
make an interface down, the CPU busy and a custom OID too high.  Asserted:
states and their texts, a wrong community and a wrong v3 password as a clear
UNKNOWN without the secret, metrics by COPY, agent B stopped mid-run as one
fault per device with the other checks holding their states, its restart as
a reboot without a traffic spike, and linkDown/linkUp/coldStart traps,
an inform acknowledged, a trap from an unknown sender counted."""

import os
import shutil
import signal
import subprocess
import sys
import time
import traceback
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import harness  # noqa: E402
from harness import log, wait_for  # noqa: E402

AGENT_A = ["127.63.0.1", "127.63.0.2", "127.63.0.3", "127.63.0.4"]
AGENT_B = ["127.63.1.1", "127.63.1.2"]
# C has its own engine ID: net-snmp keys SNMPv3 users by engine ID, so a
# wrong password must go to another engine than the right ones.
AGENT_C = ["127.63.2.1"]

COMMON = """rocommunity public 127.0.0.0/8
createUser mon SHA authpass123 AES privpass123
rouser mon priv
"""
# eth0 is ifIndex 4 on this machine kind (lo, ifb0, ifb1, eth0); the tests
# look the index up rather than trust that.
A_CONF = COMMON + """override .1.3.6.1.2.1.25.3.3.1.2.196608 integer 37
override .1.3.6.1.4.1.99999.1.0 integer 42
"""


def b_conf(eth0, in_octets):
    return COMMON + """override .1.3.6.1.2.1.25.3.3.1.2.196608 integer 97
override .1.3.6.1.4.1.99999.1.0 integer 142
override .1.3.6.1.2.1.2.2.1.8.%d integer 2
override .1.3.6.1.2.1.2.2.1.10.%d counter %d
""" % (eth0, eth0, in_octets)


def monitord_yaml(port_a, port_b, port_c, mport, tport):
    return """\
instance: snmp-test
log_level: debug
metrics: {listen: "127.0.0.1:%(mport)d"}
snmp:
  credentials:
    - {name: pub, version: 2c, community: public}
    - {name: v1pub, version: 1, community: public}
    - {name: v3sha, version: 3, user: mon, level: authPriv, auth: SHA,
       auth_password: authpass123, priv: AES, priv_password: privpass123}
    - {name: wrongcomm, version: 2c, community: notthisone}
    - {name: wrongpass, version: 3, user: mon, auth: SHA,
       auth_password: wrongpass99, priv: AES, priv_password: privpass123}
  traps:
    listen: "127.0.0.1:%(tport)d"
    communities: [public]
defaults: {interval: 2s, retry_interval: 1s, timeout: 500ms, max_attempts: 2}
hosts:
  - name: kikan-sw01
    address: 127.63.0.1
    segment: core
    snmp: {credential: pub, port: %(a)d}
    checks:
      - type: sysuptime
      - type: interfaces
        names: [lo, eth0]
      - type: storage
        names: ["/"]
      - type: cpu
      - type: oid
        name: custom
        oid: 1.3.6.1.4.1.99999.1.0
        warning: "~:90"
        critical: "~:100"
  - name: kikan-sw02
    address: 127.63.0.2
    segment: core
    snmp: {credential: v3sha, port: %(a)d}
    checks:
      - type: sysuptime
      - type: interfaces
        names: [lo]
  - name: jouhou-sw01
    address: 127.63.0.3
    segment: information
    snmp: {credential: v1pub, port: %(a)d}
    checks:
      - type: interfaces
        names: [lo]
  - name: wrong-comm
    address: 127.63.0.4
    snmp: {credential: wrongcomm, port: %(a)d, timeout: 200ms, retries: 1}
    checks:
      - type: sysuptime
  - name: wrong-pass
    address: 127.63.2.1
    snmp: {credential: wrongpass, port: %(c)d}
    checks:
      - type: sysuptime
  - name: zaimu-sw01
    address: 127.63.1.1
    segment: finance
    snmp: {credential: v3sha, port: %(b)d}
    checks:
      - type: sysuptime
      - type: interfaces
        names: [eth0]
      - type: cpu
      - type: oid
        name: custom
        oid: 1.3.6.1.4.1.99999.1.0
        critical: "~:100"
  - name: zaimu-sw02
    address: 127.63.1.2
    segment: finance
    snmp: {credential: v1pub, port: %(b)d}
    checks:
      - type: sysuptime
      - type: interfaces
        names: [eth0]
""" % {"a": port_a, "b": port_b, "c": port_c, "mport": mport,
       "tport": tport}


def states(pg):
    return dict(((r[0], r[1]), (r[2], r[3])) for r in pg.query(
        "SELECT host, check_name, state, output FROM current_state"))


def scrape(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port,
                                timeout=5) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return out


def snmptrap(args):
    env = dict(os.environ, MIBS="")
    return subprocess.run(["/usr/bin/snmptrap"] + args, env=env,
                          capture_output=True, text=True, timeout=20)


def eth0_index(port):
    """eth0's ifIndex on this machine, from agent A."""
    env = dict(os.environ, MIBS="")
    out = subprocess.run(["/usr/bin/snmpwalk", "-v2c", "-c", "public",
                          "-On", "127.63.0.1:%d" % port,
                          ".1.3.6.1.2.1.2.2.1.2"], env=env,
                         capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        if line.rstrip().endswith('"eth0"'):
            return int(line.split(" ")[0].rsplit(".", 1)[1])
    raise AssertionError("no eth0 in ifTable:\n" + out)


def main():
    clean = harness.Cleanup()
    work = harness.make_workdir("/tmp/monitord-snmp.")
    clean.add(lambda: shutil.rmtree(work, ignore_errors=True))
    mon = None
    try:
        pg = harness.Postgres(os.path.join(work, "pg")).start()
        clean.add(pg.stop)
        env = pg.env()
        harness.run([harness.binary("incidentctl"), "migrate"], env=env,
                    check=True)
        a = harness.Snmpd(os.path.join(work, "a"), AGENT_A, A_CONF).start()
        clean.add(a.stop)
        eth0 = eth0_index(a.port)
        b = harness.Snmpd(os.path.join(work, "b"), AGENT_B,
                          b_conf(eth0, 4000000000)).start()
        clean.add(lambda: b.stop())
        c = harness.Snmpd(os.path.join(work, "c"), AGENT_C, COMMON).start()
        clean.add(c.stop)
        mport = harness.free_port()
        tport = harness.free_port()
        conf = os.path.join(work, "monitord.yaml")
        with open(conf, "w") as f:
            f.write(monitord_yaml(a.port, b.port, c.port, mport, tport))
        mon = harness.Daemon("monitord", ["-f", conf], env,
                             os.path.join(work, "monitord.log")).start()
        clean.add(mon.kill)

        log("v2c, v1 and v3 authPriv agents answer; states are right")
        wait_for("the healthy checks", lambda: all(
            states(pg).get(k, ("",))[0] == "OK" for k in [
                ("kikan-sw01", "snmp"), ("kikan-sw01", "sysuptime"),
                ("kikan-sw01", "if:lo"), ("kikan-sw01", "if:eth0"),
                ("kikan-sw01", "storage"), ("kikan-sw01", "cpu"),
                ("kikan-sw01", "custom"), ("kikan-sw02", "snmp"),
                ("kikan-sw02", "sysuptime"), ("kikan-sw02", "if:lo"),
                ("jouhou-sw01", "snmp"), ("jouhou-sw01", "if:lo")]),
            timeout=30)
        st = states(pg)
        assert "CPU OK - load 37%" in st[("kikan-sw01", "cpu")][1], st
        assert "= 42" in st[("kikan-sw01", "custom")][1], st
        assert st[("kikan-sw01", "storage")][1].startswith("DISK OK - / "), st

        log("agent B's faults: interface down, CPU, custom OID")
        wait_for("agent B's faults", lambda: all(
            states(pg).get(k, ("",))[0] == "CRITICAL" for k in [
                ("zaimu-sw01", "if:eth0"), ("zaimu-sw01", "cpu"),
                ("zaimu-sw01", "custom"), ("zaimu-sw02", "if:eth0")]),
            timeout=30)
        st = states(pg)
        assert "eth0 down (operStatus 2), admin up" in \
            st[("zaimu-sw01", "if:eth0")][1], st
        assert st[("zaimu-sw01", "snmp")][0] == "OK"

        log("a wrong community and a wrong v3 password: UNKNOWN, with the "
            "reason and without the secret")
        wait_for("the two UNKNOWNs", lambda: states(pg).get(
            ("wrong-comm", "snmp"), ("",))[0] == "UNKNOWN" and states(
                pg).get(("wrong-pass", "snmp"), ("",))[0] == "UNKNOWN",
            timeout=30)
        st = states(pg)
        wc, wp = st[("wrong-comm", "snmp")][1], st[("wrong-pass", "snmp")][1]
        assert "no answer" in wc and "wrong community" in wc, wc
        assert "wrong digest" in wp, wp
        for secret in ("notthisone", "wrongpass99", "authpass123",
                       "privpass123"):
            assert secret not in mon.log(), "a secret is in the log"
            assert not pg.query("SELECT 1 FROM state_event WHERE output "
                                "LIKE '%%%s%%'" % secret), secret
        # The other checks of those hosts hold: no fault of their own.
        assert ("wrong-comm", "sysuptime") not in st

        log("measured values arrive by COPY")
        wait_for("metric samples", lambda: pg.query(
            "SELECT 1 FROM metric_sample WHERE host = 'kikan-sw01' AND "
            "check_name = 'if:lo' AND metric = 'in_bps' AND value > 0"),
            timeout=30)
        for host, check, metric in [
                ("kikan-sw01", "sysuptime", "uptime_s"),
                ("kikan-sw01", "cpu", "load_pct"),
                ("kikan-sw01", "storage", "/ used_pct"),
                ("kikan-sw01", "custom", "value"),
                ("kikan-sw02", "if:lo", "out_bps")]:
            assert pg.query("SELECT 1 FROM metric_sample WHERE host = '%s' "
                            "AND check_name = '%s' AND metric = '%s'"
                            % (host, check, metric)), (host, check, metric)

        log("traps: linkDown and linkUp, coldStart, an inform, an unknown "
            "sender")
        r = snmptrap(["-v2c", "-c", "public", "--clientaddr=127.63.0.1",
                      "127.0.0.1:%d" % tport, "", ".1.3.6.1.6.3.1.1.5.3",
                      ".1.3.6.1.2.1.2.2.1.1.1", "i", "1",
                      ".1.3.6.1.2.1.2.2.1.7.1", "i", "1",
                      ".1.3.6.1.2.1.2.2.1.8.1", "i", "2"])
        assert r.returncode == 0, r.stderr
        wait_for("the linkDown as a state change", lambda: pg.query(
            "SELECT 1 FROM state_event WHERE host = 'kikan-sw01' AND "
            "check_name = 'if:lo' AND new_state = 'CRITICAL' AND output "
            "LIKE '%linkDown trap%'"), timeout=15)
        r = snmptrap(["-v1", "-c", "public", "127.0.0.1:%d" % tport,
                      ".1.3.6.1.4.1.8072", "127.63.0.1", "3", "0", "",
                      ".1.3.6.1.2.1.2.2.1.1.1", "i", "1"])
        assert r.returncode == 0, r.stderr
        r = snmptrap(["-v2c", "-c", "public", "--clientaddr=127.63.0.1",
                      "127.0.0.1:%d" % tport, "", ".1.3.6.1.6.3.1.1.5.1"])
        assert r.returncode == 0, r.stderr
        wait_for("the coldStart as a reboot", lambda: pg.query(
            "SELECT 1 FROM state_event WHERE host = 'kikan-sw01' AND "
            "check_name = 'sysuptime' AND new_state = 'WARNING' AND output "
            "LIKE '%coldStart trap%'"), timeout=15)
        r = snmptrap(["-Ci", "-t", "2", "-r", "0", "-v2c", "-c", "public",
                      "--clientaddr=127.63.0.2", "127.0.0.1:%d" % tport, "",
                      ".1.3.6.1.4.1.99999.0.7", ".1.3.6.1.4.1.99999.2",
                      "s", "UPS on battery"])
        assert r.returncode == 0, "the inform was not acknowledged: " + \
            r.stderr
        r = snmptrap(["-v2c", "-c", "public", "--clientaddr=127.63.9.9",
                      "127.0.0.1:%d" % tport, "", ".1.3.6.1.6.3.1.1.5.5"])
        assert r.returncode == 0, r.stderr
        wait_for("the traps stored", lambda: len(pg.query(
            "SELECT 1 FROM trap_event")) >= 5, timeout=15)
        names = pg.query("SELECT coalesce(host, '-'), trap_name, inform "
                         "FROM trap_event ORDER BY id")
        assert ["kikan-sw01", "linkDown", "f"] in names, names
        assert ["kikan-sw01", "linkUp", "f"] in names, names
        assert ["kikan-sw02", "other", "t"] in names, names
        assert ["-", "authenticationFailure", "f"] in names, names
        ups = pg.query("SELECT varbinds::text FROM trap_event WHERE "
                       "trap_oid = '1.3.6.1.4.1.99999.0.7'")[0][0]
        assert "UPS on battery" in ups, ups
        m = scrape(mport)
        assert m["monitord_traps_unknown_sender_total"] == 1, m
        assert "which is no configured host" in mon.log()

        log("agent B stops: one fault per device, the rest hold")
        before = pg.query("SELECT count(*) FROM state_event WHERE host LIKE "
                          "'zaimu-%' AND check_name <> 'snmp'")[0][0]
        b.stop()
        wait_for("both devices' agent faults", lambda: states(pg).get(
            ("zaimu-sw01", "snmp"), ("",))[0] == "CRITICAL" and states(
                pg).get(("zaimu-sw02", "snmp"), ("",))[0] == "CRITICAL",
            timeout=30)
        st = states(pg)
        assert "stopped answering" in st[("zaimu-sw01", "snmp")][1], st
        time.sleep(3)
        after = pg.query("SELECT count(*) FROM state_event WHERE host LIKE "
                         "'zaimu-%' AND check_name <> 'snmp'")[0][0]
        assert before == after, "the device's other checks changed state"
        assert st[("zaimu-sw01", "if:eth0")][0] == "CRITICAL"
        assert pg.query("SELECT count(*) FROM state_event WHERE host LIKE "
                        "'zaimu-%' AND check_name = 'snmp' AND new_state = "
                        "'CRITICAL'") == [["2"]]

        log("agent B comes back (SNMPv3 too, after its engine rebooted): a "
            "reboot, and no traffic spike from its counter jumping back")
        b = harness.Snmpd(os.path.join(work, "b"), AGENT_B,
                          b_conf(eth0, 1000), port=b.port).start()
        clean.add(lambda: b.stop())
        wait_for("the agents answer again", lambda: states(pg).get(
            ("zaimu-sw01", "snmp"), ("",))[0] == "OK" and states(pg).get(
                ("zaimu-sw02", "snmp"), ("",))[0] == "OK", timeout=30)
        wait_for("the reboot seen", lambda: pg.query(
            "SELECT 1 FROM state_event WHERE host = 'zaimu-sw02' AND "
            "check_name = 'sysuptime' AND new_state = 'WARNING' AND output "
            "LIKE '%rebooted%'"), timeout=30)
        time.sleep(5)
        spike = pg.query("SELECT coalesce(max(value), 0) FROM metric_sample "
                         "WHERE host = 'zaimu-sw02' AND check_name = "
                         "'if:eth0' AND metric = 'in_bps'")[0][0]
        assert float(spike) < 1e6, "a traffic spike of %s bit/s" % spike

        log("SIGHUP with the same file keeps every SNMP check as it is")
        mon.proc.send_signal(signal.SIGHUP)
        wait_for("the reload", lambda: "0 started, 0 stopped" in mon.log())
        time.sleep(3)
        assert pg.query("SELECT count(*) FROM state_event WHERE old_state = "
                        "'PENDING' AND received_at > now() - interval "
                        "'3 seconds'") == [["0"]]

        log("SIGTERM stops cleanly")
        assert mon.stop() == 0
        log("PASS")
        return 0
    except Exception:
        traceback.print_exc()
        if mon is not None:
            print("----- monitord log -----\n%s" % mon.log()[-30000:])
            print("\n".join(l for l in mon.log().splitlines() if "debug" not in l)[-6000:])
        return 1
    finally:
        clean.run()


if __name__ == "__main__":
    sys.exit(main())
