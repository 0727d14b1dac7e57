"""PostgreSQL outages and kill -9 lose nothing.

Four TCP services on loopback are watched with a journal.  PostgreSQL is
stopped; faults start and end while it is away; monitord is killed with
SIGKILL in the middle of the outage and restarted, and a torn record is left
at the end of its journal; a flapping service overruns the journal's small
cap.  When PostgreSQL is back, every change the journal held is in
state_event with its original sequence number and time, and each fault has
exactly one incident and one mail per event.  Then a storm of changes with
monitord and incidentd killed at random points: no duplicate incident, no
lost mail, no incident left open for a service that is up.
"""

import os
import random
import struct
import sys
import time
import traceback
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import harness  # noqa: E402
from harness import log, wait_for  # noqa: E402

HOSTS = {"kiban-ap11": "127.77.1.11", "kiban-ap12": "127.77.1.12",
         "kiban-ap13": "127.77.1.13", "kiban-ap14": "127.77.1.14"}


def write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def monitord_yaml(port, journal, max_size):
    hosts = "".join("""\
  - name: %s
    address: %s
    segment: core
    checks:
      - type: tcp
        port: %d
""" % (name, addr, port) for name, addr in sorted(HOSTS.items()))
    return """\
instance: monitord-outage
log_level: debug
journal:
  path: %s
  max_size: %s
defaults:
  interval: 500ms
  retry_interval: 200ms
  timeout: 200ms
  max_attempts: 1
  flap_detection: false
hosts:
%s""" % (journal, max_size, hosts)


def incidentd_yaml(smtp_port):
    return """\
instance: incidentd-outage
log_level: debug
poll_interval: 500ms
mail_domain: kanshi.city.example.jp
smtp:
  url: smtp://127.0.0.1:%d
  from: kanshi@city.example.jp
  timeout: 5s
notify:
  group_window: 0s
  retry_min: 1s
  retry_max: 2s
lifecycle:
  reopen_window: 0s
contacts:
  - name: 情報政策課 当番
    email: toban@city.example.jp
    lang: ja
""" % smtp_port


def read_journal(path):
    """The journal's records as (type, seq, host, check, json), read
    independently of monitord's reader: header "MJ", type, 0, length
    (LE32), seq (LE64), payload, CRC-32 (LE32) of header and payload."""
    with open(path, "rb") as f:
        data = f.read()
    out, off = [], 0
    while off + 20 <= len(data):
        magic, typ, zero, plen, seq = struct.unpack_from("<2sBBIQ", data,
                                                         off)
        end = off + 16 + plen
        if magic != b"MJ" or zero != 0 or end + 4 > len(data):
            break
        crc, = struct.unpack_from("<I", data, end)
        if crc != zlib.crc32(data[off:end]):
            break
        host = check = js = None
        if typ == ord("C"):
            host, check, js = data[off + 16:end].split(b"\0", 2)
            host, check = host.decode(), check.decode()
            js = js.decode()
        out.append((chr(typ), seq, host, check, js))
        off = end + 4
    return out, len(data) - off


def pending(path):
    """The changes of the journal not yet acknowledged."""
    recs, _ = read_journal(path)
    acked = max([r[1] for r in recs if r[0] == "A"], default=0)
    return [r for r in recs if r[0] == "C" and r[1] > acked]


def last_state(path, host):
    import json
    for r in reversed(pending(path)):
        if r[2] == host:
            return json.loads(r[4])["new"]
    return None


def mails(sink, prefix, host):
    return [m for m in sink.messages()
            if harness.subject_of(m).startswith(prefix) and
            (" %s " % host) in harness.subject_of(m)]


def main():
    clean, work, pg = harness.test_setup("/tmp/monitord-outage.")
    env = pg.env()
    try:
        sink = harness.SmtpSink(os.path.join(work, "smtp")).start()
        clean.add(sink.stop)
        port = harness.free_port(HOSTS["kiban-ap11"])
        svc = {}
        for name, addr in HOSTS.items():
            svc[name] = harness.TcpListener(addr, port).start()
            clean.add(lambda s=svc, n=name: s[n].stop())
        check = "tcp/%d" % port

        jdir = os.path.join(work, "journal")
        journal = os.path.join(jdir, "monitord.journal")
        mconf = write(os.path.join(work, "monitord.yaml"),
                      monitord_yaml(port, journal, "4KiB"))
        iconf = write(os.path.join(work, "incidentd.yaml"),
                      incidentd_yaml(sink.port))
        log("monitord -J makes the journal's directory")
        rc, _, err = harness.run([harness.binary("monitord"), "-J", "-f",
                                  mconf])
        assert rc == 0 and os.path.isdir(jdir), err
        assert os.stat(jdir).st_mode & 0o777 == 0o700

        mlog = os.path.join(work, "monitord.log")
        procs = {}

        def start_mon():
            procs["mon"] = harness.Daemon("monitord", ["-f", mconf], env,
                                          mlog).start()
            clean.add(procs["mon"].kill)

        def start_inc():
            procs["inc"] = harness.Daemon("incidentd", ["-f", iconf], env,
                                          os.path.join(work,
                                                       "incidentd.log")
                                          ).start()
            clean.add(procs["inc"].kill)

        start_mon()
        start_inc()
        wait_for("four OK states", lambda: pg.query(
            "SELECT count(*) FROM current_state WHERE state = 'OK'")
            == [["4"]])
        wait_for("an empty journal once all is recorded",
                 lambda: os.path.getsize(journal) == 0)

        log("PostgreSQL stops; kiban-ap11 and kiban-ap12 go down")
        pg.stop()
        svc["kiban-ap11"].stop()
        svc["kiban-ap12"].stop()
        wait_for("both faults in the journal", lambda: all(
            last_state(journal, h) == "CRITICAL"
            for h in ("kiban-ap11", "kiban-ap12")))
        log("kiban-ap11 comes back while the database is away")
        svc["kiban-ap11"] = harness.TcpListener(HOSTS["kiban-ap11"],
                                                port).start()
        wait_for("its recovery in the journal",
                 lambda: last_state(journal, "kiban-ap11") == "OK")

        log("monitord is killed -9 mid-outage; a torn record is left")
        seen = {r[1]: r for r in pending(journal)}
        procs["mon"].kill()
        recs, tail = read_journal(journal)
        assert tail == 0, "a clean journal has no tail"
        with open(journal, "rb") as f:
            whole = f.read()
        with open(journal, "ab") as f:
            f.write(whole[:30])  # the first 30 bytes of a record
        start_mon()
        wait_for("the torn tail reported", lambda: "damaged or torn" in
                 procs["mon"].log())
        assert "replaying" in procs["mon"].log(), procs["mon"].log()
        log("kiban-ap13 goes down after the restart, still no database")
        svc["kiban-ap13"].stop()
        wait_for("its fault in the journal",
                 lambda: last_state(journal, "kiban-ap13") == "CRITICAL")

        log("kiban-ap14 flaps past the journal's 4 KiB cap")
        flips = 0
        deadline = time.monotonic() + 60
        while "collapsed" not in procs["mon"].log():
            assert time.monotonic() < deadline, "no collapse in 60 s"
            want = "CRITICAL" if svc["kiban-ap14"].sock else "OK"
            if want == "CRITICAL":
                svc["kiban-ap14"].stop()
            else:
                svc["kiban-ap14"] = harness.TcpListener(
                    HOSTS["kiban-ap14"], port).start()
            wait_for("kiban-ap14 %s in the journal" % want,
                     lambda: last_state(journal, "kiban-ap14") == want or
                     "collapsed" in procs["mon"].log(), timeout=10)
            flips += 1
        if not svc["kiban-ap14"].sock:
            svc["kiban-ap14"] = harness.TcpListener(HOSTS["kiban-ap14"],
                                                    port).start()
        wait_for("kiban-ap14 OK in the journal",
                 lambda: last_state(journal, "kiban-ap14") == "OK")
        log("%d flips; the journal collapsed to %d bytes" % (
            flips, os.path.getsize(journal)))
        for h in ("kiban-ap11", "kiban-ap12", "kiban-ap13"):
            assert last_state(journal, h) is not None, \
                "the collapse dropped %s's last state" % h
        for r in pending(journal):
            seen[r[1]] = r
        time.sleep(1.5)  # the once-a-second fsync

        log("PostgreSQL is back: the journal is replayed")
        pg.start()
        wait_for("the journal emptied", lambda: os.path.getsize(journal)
                 == 0, timeout=60)
        import json
        rows = {int(r[0]): r[1:] for r in pg.query(
            "SELECT source_seq, host, new_state, "
            "to_char(observed_at AT TIME ZONE 'UTC', "
            "'YYYY-MM-DD\"T\"HH24:MI:SS.US') FROM state_event "
            "WHERE source = 'monitord-outage'")}
        kept = 0
        for seq, r in seen.items():
            if seq not in rows:
                continue
            want = json.loads(r[4])
            host, new, observed = rows[seq]
            assert (host, new) == (want["host"], want["new"]), (rows[seq],
                                                                 want)
            assert observed == want["observed"][:26], (observed, want)
            kept += 1
        # the changes before the restart were all pending; none of ap11-13
        # was collapsed away (only ap14's superseded flips were)
        missing = [r for s, r in seen.items() if s not in rows and
                   r[2] != "kiban-ap14"]
        assert missing == [], missing
        log("%d journal changes found in state_event with their time" %
            kept)
        wait_for("the current states", lambda: pg.query(
            "SELECT host, state FROM current_state ORDER BY host") == [
            ["kiban-ap11", "OK"], ["kiban-ap12", "CRITICAL"],
            ["kiban-ap13", "CRITICAL"], ["kiban-ap14", "OK"]], timeout=30)

        log("one incident per fault, one mail per event")
        wait_for("incidents", lambda: pg.query(
            "SELECT host, status FROM incident WHERE host <> 'kiban-ap14' "
            "ORDER BY host") == [["kiban-ap11", "recovered"],
                                 ["kiban-ap12", "open"],
                                 ["kiban-ap13", "open"]], timeout=30)
        wait_for("the mails", lambda: (
            len(mails(sink, "【障害発生】", "kiban-ap11")),
            len(mails(sink, "【復旧】", "kiban-ap11")),
            len(mails(sink, "【障害発生】", "kiban-ap12")),
            len(mails(sink, "【障害発生】", "kiban-ap13"))) == (1, 1, 1, 1),
            timeout=30)
        detected = pg.query(
            "SELECT to_char(i.detected_at AT TIME ZONE 'UTC', "
            "'YYYY-MM-DD\"T\"HH24:MI:SS.US') FROM incident i "
            "WHERE host = 'kiban-ap12'")[0][0]
        ap12 = [json.loads(r[4])["observed"][:26] for r in seen.values()
                if r[2] == "kiban-ap12" and
                json.loads(r[4])["new"] == "CRITICAL"]
        assert detected in ap12, (detected, ap12)
        ap14 = pg.query("SELECT count(*) FROM incident WHERE host = "
                        "'kiban-ap14' AND status NOT IN ('recovered', "
                        "'closed') AND recovered_at IS NULL")
        assert ap14 == [["0"]], ap14

        storm(pg, sink, svc, port, procs, start_mon, start_inc, check)

        log("both daemons stop cleanly")
        assert procs["inc"].stop() == 0
        assert procs["mon"].stop() == 0
        log("PASS")
        return 0
    except Exception:
        traceback.print_exc()
        for name in ("monitord.log", "incidentd.log"):
            path = os.path.join(work, name)
            if os.path.exists(path):
                with open(path, encoding="utf-8", errors="replace") as f:
                    sys.stderr.write("--- %s (tail)\n%s\n" % (
                        name, "".join(f.readlines()[-60:])))
        return 1
    finally:
        clean.run()


def storm(pg, sink, svc, port, procs, start_mon, start_inc, check):
    """Services flap while the daemons are killed -9 at random points."""
    rng = random.Random(int(os.environ.get("STORM_SEED", "10")))
    hosts = ["kiban-ap12", "kiban-ap13", "kiban-ap14"]
    log("a storm: %s flap, the daemons are killed -9 at random" % hosts)
    deadline = time.monotonic() + 40
    for i in range(24):
        if time.monotonic() > deadline:
            break
        h = rng.choice(hosts)
        if svc[h].sock:
            svc[h].stop()
        else:
            svc[h] = harness.TcpListener(HOSTS[h], port).start()
        time.sleep(rng.uniform(0.1, 1.2))
        if i % 6 == 5:
            victim = rng.choice(["mon", "inc"])
            procs[victim].kill()
            time.sleep(rng.uniform(0, 0.5))
            (start_mon if victim == "mon" else start_inc)()
    for h in hosts:
        if not svc[h].sock:
            svc[h] = harness.TcpListener(HOSTS[h], port).start()
    log("all services up: every incident ends recovered")
    wait_for("every check OK", lambda: pg.query(
        "SELECT count(*) FROM current_state WHERE state = 'OK'") == [["4"]],
        timeout=30)
    wait_for("no open incident", lambda: pg.query(
        "SELECT count(*) FROM incident WHERE recovered_at IS NULL")
        == [["0"]], timeout=30)
    dup = pg.query("SELECT host, count(*) FROM incident WHERE status <> "
                   "'closed' GROUP BY host, check_name, detected_at "
                   "HAVING count(*) > 1")
    assert dup == [], "duplicate incidents: %s" % dup
    incidents = pg.query("SELECT ref, host FROM incident ORDER BY id")

    def mail_counts():
        subjects = [harness.subject_of(m) for m in sink.messages()]
        return {ref: (sum(1 for s in subjects if s.startswith("【障害発生】"
                                                              + ref + " ")),
                      sum(1 for s in subjects if s.startswith("【復旧】" +
                                                              ref + " ")))
                for ref, _ in incidents}
    wait_for("one fault and one recovery mail per incident", lambda: all(
        c == (1, 1) for c in mail_counts().values()), timeout=60)
    log("%d incidents in all, each with its two mails" % len(incidents))
    time.sleep(2)
    assert all(c == (1, 1) for c in mail_counts().values()), mail_counts()


if __name__ == "__main__":
    sys.exit(main())
