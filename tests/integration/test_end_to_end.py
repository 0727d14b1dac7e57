"""One fault carried end to end, with real parts only.

A TCP service on 127.77.0.10 goes down; monitord sees it; the state change
lands in PostgreSQL; incidentd opens an incident; mail reaches an SMTP sink;
the service comes back; the incident is recovered and a second mail says so.
Then the same with the SMTP sink down while the fault happens: the mail is
retried and arrives once the sink is back.  Finally both daemons stop on
SIGTERM and a restart does not duplicate anything.
"""

import os
import shutil
import time
import sys
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import harness  # noqa: E402
from harness import log, wait_for  # noqa: E402

SERVICE_ADDR = "127.77.0.10"


def write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def monitord_yaml(port):
    return """\
instance: monitord-test
log_level: debug
defaults:
  interval: 1s
  retry_interval: 300ms
  timeout: 250ms
  max_attempts: 2
hosts:
  - name: juki-ap01
    description: 住民記録システム AP サーバ
    address: %s
    segment: core
    checks:
      - type: tcp
        port: %d
      - type: icmp
        packets: 3
        packet_gap: 10ms
  - name: kanshi01
    address: "::1"
    segment: other
    checks:
      - type: icmp
""" % (SERVICE_ADDR, port)


def incidentd_yaml(smtp_port):
    return """\
instance: incidentd-test
log_level: debug
poll_interval: 500ms
mail_domain: kanshi.city.example.jp
smtp:
  url: smtp://127.0.0.1:%d
  from: kanshi@city.example.jp
  from_name: 監視システム
  timeout: 5s
notify:
  group_window: 0s
  retry_min: 1s
  retry_max: 2s
lifecycle:
  reopen_window: 0s                # each fault here is a new incident
contacts:
  - name: 情報政策課 当番
    email: toban@city.example.jp
    lang: ja
  - name: Vendor desk
    email: ops@vendor.example.com
    lang: en
""" % smtp_port


def mails_with(sink, prefix):
    return [m for m in sink.messages()
            if harness.subject_of(m).startswith(prefix)]


def check_pair(msgs, ref, kind_ja, kind_en, state, check):
    """The two mails of one event: Japanese to the duty desk, English to the
    vendor, each naming the incident, host, check and state."""
    assert len(msgs) == 2, "expected 2 mails, got %d" % len(msgs)
    by_rcpt = {m["X-RcptTo"]: m for m in msgs}
    assert set(by_rcpt) == {"toban@city.example.jp",
                            "ops@vendor.example.com"}, by_rcpt.keys()
    ja, en = by_rcpt["toban@city.example.jp"], by_rcpt["ops@vendor.example.com"]
    want_ja = "%s%s %s juki-ap01 %s（基幹系）" % (kind_ja, ref, state, check)
    want_en = "%s %s %s juki-ap01 %s (core network)" % (kind_en, ref, state,
                                                        check)
    assert harness.subject_of(ja) == want_ja, harness.subject_of(ja)
    assert harness.subject_of(en) == want_en, harness.subject_of(en)
    for m in (ja, en):
        assert m["X-MailFrom"] == "kanshi@city.example.jp", m["X-MailFrom"]
        assert m["Date"] is not None
        assert ref in m["Message-ID"], m["Message-ID"]
        assert m.get_content_type() == "text/plain"
        assert m.get_content_charset() == "utf-8"
    assert "juki-ap01" in ja.get_content()
    assert "監視項目: %s" % check in ja.get_content(), ja.get_content()
    assert "Check: %s" % check in en.get_content(), en.get_content()
    return ja, en


def main():
    clean = harness.Cleanup()
    work = harness.make_workdir("/tmp/monitord-e2e.")
    clean.add(lambda: shutil.rmtree(work, ignore_errors=True))
    daemons = []
    try:
        pg = harness.Postgres(os.path.join(work, "pg")).start()
        clean.add(pg.stop)
        env = pg.env()
        harness.run([harness.binary("incidentctl"), "migrate"], env=env,
                    check=True)

        sink = harness.SmtpSink(os.path.join(work, "smtp")).start()
        clean.add(sink.stop)
        port = harness.free_port(SERVICE_ADDR)
        service = harness.TcpListener(SERVICE_ADDR, port).start()
        clean.add(service.stop)
        check = "tcp/%d" % port

        mconf = write(os.path.join(work, "monitord.yaml"),
                      monitord_yaml(port))
        iconf = write(os.path.join(work, "incidentd.yaml"),
                      incidentd_yaml(sink.port))
        mon = harness.Daemon("monitord", ["-f", mconf], env,
                             os.path.join(work, "monitord.log")).start()
        daemons.append(mon)
        clean.add(mon.kill)
        inc = harness.Daemon("incidentd", ["-f", iconf], env,
                             os.path.join(work, "incidentd.log")).start()
        daemons.append(inc)
        clean.add(inc.kill)

        log("every check reports OK: TCP, ICMP on IPv4 and on IPv6")
        wait_for("three OK states", lambda: len(pg.query(
            "SELECT 1 FROM current_state WHERE state = 'OK'")) == 3)
        rows = dict((r[0], r[1]) for r in pg.query(
            "SELECT host || ' ' || check_name, output FROM current_state"))
        assert rows["juki-ap01 %s" % check].startswith("TCP OK"), rows
        assert rows["juki-ap01 icmp"].startswith("PING OK"), rows
        assert rows["kanshi01 icmp"].startswith("PING OK - ::1"), rows
        assert pg.query("SELECT count(*) FROM incident") == [["0"]]

        log("the service goes down: one incident, two mails")
        service.stop()
        wait_for("an open incident", lambda: pg.query(
            "SELECT ref, severity, segment, check_name FROM incident "
            "WHERE status = 'open'"))
        ref, severity, segment, chk = pg.query(
            "SELECT ref, severity, segment, check_name FROM incident")[0]
        assert (ref, severity, segment, chk) == (
            "INC-000001", "CRITICAL", "core", check)
        events = pg.query("SELECT old_state, new_state FROM state_event "
                          "WHERE check_name = '%s' ORDER BY id" % check)
        assert events == [["PENDING", "OK"], ["OK", "CRITICAL"]], events
        opened = wait_for("two alert mails",
                          lambda: len(mails_with(sink, "")) >= 2 and
                          mails_with(sink, ""))
        ja, en = check_pair(opened, ref, "【障害発生】", "[FAULT]",
                            "CRITICAL", check)
        assert "障害を検知しました" in ja.get_content()
        assert "TCP CRITICAL - connection refused" in ja.get_content()
        assert ja["Message-ID"] == "<INC-000001.opened@kanshi.city." \
                                   "example.jp>", ja["Message-ID"]
        assert pg.query("SELECT count(*) FROM notification WHERE status = "
                        "'sent'") == [["2"]]

        log("the service comes back: recovered, two more mails")
        service = harness.TcpListener(SERVICE_ADDR, port).start()
        clean.add(service.stop)
        wait_for("the incident recovered", lambda: pg.query(
            "SELECT 1 FROM incident WHERE ref = 'INC-000001' AND status = "
            "'recovered' AND recovered_at IS NOT NULL"))
        recovered = wait_for("two recovery mails",
                             lambda: len(mails_with(sink, "【復旧】") +
                                         mails_with(sink, "[RECOVERED]")) == 2
                             and mails_with(sink, "【復旧】") +
                             mails_with(sink, "[RECOVERED]"))
        ja, en = check_pair(recovered, ref, "【復旧】", "[RECOVERED]", "OK",
                            check)
        assert "障害が復旧しました" in ja.get_content()
        assert ja["In-Reply-To"] == "<INC-000001.opened@kanshi.city." \
                                    "example.jp>", ja["In-Reply-To"]
        trans = pg.query("SELECT coalesce(from_status, '-'), to_status "
                         "FROM incident_transition ORDER BY id")
        assert trans == [["-", "open"], ["open", "recovered"]], trans
        assert len(sink.messages()) == 4

        log("the SMTP sink is down while the next fault happens")
        sink.stop()
        service.stop()
        wait_for("a second incident", lambda: pg.query(
            "SELECT 1 FROM incident WHERE ref = 'INC-000002' AND status = "
            "'open'"))
        wait_for("failed attempts recorded", lambda: pg.query(
            "SELECT 1 FROM notification n JOIN incident i ON i.id = "
            "n.incident_id WHERE i.ref = 'INC-000002' AND n.status = "
            "'pending' AND n.attempts >= 1 AND n.last_error IS NOT NULL "
            "GROUP BY i.id HAVING count(*) = 2"), timeout=30)
        assert len(sink.messages()) == 4
        log("the service recovers while mail is still down")
        service = harness.TcpListener(SERVICE_ADDR, port).start()
        clean.add(service.stop)
        wait_for("the second incident recovered", lambda: pg.query(
            "SELECT 1 FROM incident WHERE ref = 'INC-000002' AND status = "
            "'recovered'"))
        log("the sink is back: the queued mails arrive, in order")
        sink.start()
        wait_for("all eight mails", lambda: len(sink.messages()) == 8,
                 timeout=30)
        second = [m for m in sink.messages() if "INC-000002" in
                  harness.subject_of(m)]
        check_pair([m for m in second if "opened" in m["Message-ID"]],
                   "INC-000002", "【障害発生】", "[FAULT]", "CRITICAL",
                   check)
        check_pair([m for m in second if "recovered" in m["Message-ID"]],
                   "INC-000002", "【復旧】", "[RECOVERED]", "OK", check)
        wait_for("every notification sent", lambda: pg.query(
            "SELECT count(*) FROM notification WHERE status = 'sent'")
            == [["8"]])
        overtaken = pg.query(
            "SELECT r.recipient FROM notification o JOIN notification r "
            "ON r.incident_id = o.incident_id AND r.recipient = o.recipient "
            "WHERE o.kind = 'opened' AND r.kind = 'recovered' "
            "AND r.sent_at < o.sent_at")
        assert overtaken == [], "recovered sent before opened: %s" % \
            overtaken

        log("both daemons stop cleanly on SIGTERM")
        assert inc.stop() == 0, "incidentd exit status"
        assert mon.stop() == 0, "monitord exit status"

        log("a restart duplicates nothing")
        mon = harness.Daemon("monitord", ["-f", mconf], env,
                             os.path.join(work, "monitord.log")).start()
        daemons.append(mon)
        clean.add(mon.kill)
        inc = harness.Daemon("incidentd", ["-f", iconf], env,
                             os.path.join(work, "incidentd.log")).start()
        daemons.append(inc)
        clean.add(inc.kill)
        wait_for("the restarted monitord's first states", lambda: pg.query(
            "SELECT 1 FROM state_event WHERE old_state = 'PENDING' "
            "GROUP BY source HAVING count(*) >= 6"))
        wait_for("incidentd to catch up", lambda: pg.query(
            "SELECT 1 FROM incidentd_cursor WHERE last_event_id = "
            "(SELECT max(id) FROM state_event)"))
        assert pg.query("SELECT count(*) FROM incident") == [["2"]]
        assert pg.query("SELECT count(*) FROM notification") == [["8"]]
        assert len(sink.messages()) == 8

        log("PostgreSQL is down while a fault starts: nothing is lost")
        pg.stop()
        service.stop()
        # The log holds both runs: two hard faults before, this is the third.
        wait_for("monitord to see the hard fault",
                 lambda: mon.log().count("OK -> CRITICAL (HARD)") == 3)
        time.sleep(2)
        assert mon.alive() and inc.alive(), "a daemon died with the database"
        pg.start()
        wait_for("the third incident", lambda: pg.query(
            "SELECT 1 FROM incident WHERE ref = 'INC-000003' AND status = "
            "'open'"), timeout=60)
        service = harness.TcpListener(SERVICE_ADDR, port).start()
        clean.add(service.stop)
        wait_for("its four mails", lambda: len(sink.messages()) == 12,
                 timeout=60)
        events = pg.query("SELECT new_state FROM state_event WHERE "
                          "check_name = '%s' ORDER BY id" % check)
        assert [e[0] for e in events][-2:] == ["CRITICAL", "OK"], events
        assert pg.query("SELECT count(*) FROM incident") == [["3"]]
        assert inc.stop() == 0
        assert mon.stop() == 0
        log("PASS")
        return 0
    except Exception:
        traceback.print_exc()
        for d in daemons[-2:]:
            print("----- %s log -----\n%s" % (d.name, d.log()[-20000:]))
        return 1
    finally:
        clean.run()


if __name__ == "__main__":
    sys.exit(main())
