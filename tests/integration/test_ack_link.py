"""One-time acknowledgement links in mail and SMS, served by incidentd.

A real PostgreSQL, incidentd listening on loopback, Debian's aiosmtpd and
an smstools3 spool.  Asserted: the fault's mail carries a link under
ack.url and its SMS carries one within 70 characters; opening a link (GET,
HEAD: what mail scanners do) acknowledges nothing and shows the incident
with a button; the POST acknowledges as the contact the message went to,
once: the same link again says it was used, another contact's link says
who was first; a changed token is 404, an expired one (made here with the
secret, which also proves the token format) 410, a PUT 405, another path
404, a large body 413; with the database down the page is 503 and it
comes back with the database; acknowledging stops the reminders; a
non-loopback listen address and a short secret are config errors with
file:line:column.
"""

import base64
import hashlib
import hmac
import os
import re
import shutil
import struct
import sys
import time
import traceback
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import harness  # noqa: E402
from harness import log, run, wait_for  # noqa: E402

SECRET = "kanshi-test-secret-2026"

CONF = """\
instance: incidentd-ack
log_level: debug
poll_interval: 300ms
smtp:
  url: smtp://127.0.0.1:%(smtp)d
  from: kanshi@city.example.jp
  timeout: 5s
sms:
  spool: %(spool)s
http:
  listen: 127.0.0.1:%(http)d
ack:
  url: http://127.0.0.1:%(http)d/
  secret: %(secret)s
  valid_for: 2h
lifecycle:
  reopen_window: 0s
notify:
  group_window: 0s
  remind_after: 2s
  remind_max: 5
  retry_min: 1s
  retry_max: 1s
contacts:
  - name: 当番 佐藤
    email: toban@city.example.jp
    sms: 090-1234-5678
  - name: Vendor
    email: vendor@example.co.jp
    lang: en
"""

BAD = """\
http:
  listen: 0.0.0.0:8026
ack:
  url: ftp://x/
  secret: short
"""


def one(pg, sql):
    rows = pg.query(sql)
    assert len(rows) == 1 and len(rows[0]) == 1, (sql, rows)
    return rows[0][0]


def token(row_id, expires, secret=SECRET):
    raw = struct.pack(">Q", row_id)[2:] + struct.pack(">I", expires)
    mac = hmac.new(secret.encode(), raw, hashlib.sha256).digest()[:10]
    return base64.urlsafe_b64encode(raw + mac).decode().rstrip("=")


def fetch(url, method="GET", data=None):
    """(status, body text) of one request; errors are answers too."""
    req = urllib.request.Request(url, method=method, data=data)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode("utf-8"), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace"), dict(e.headers)


def record(pg, seq, new, old):
    import json
    change = [dict(seq=seq, host="zaimu-db01", check="tcp/5432",
                   kind="tcp", segment="finance", old=old, new=new,
                   output="TCP %s" % new, observed="2026-11-27 21:00+09")]
    pg.query("SELECT monitord_record_changes('ack-test', '%s')"
             % json.dumps(change))


def main():
    clean = harness.Cleanup()
    work = harness.make_workdir("/tmp/monitord-ack.")
    clean.add(lambda: shutil.rmtree(work, ignore_errors=True))
    inc = None
    try:
        log("config errors name file:line:column")
        bad = os.path.join(work, "bad.yaml")
        with open(bad, "w", encoding="utf-8") as f:
            f.write(BAD)
        rc, _, err = run([harness.binary("incidentd"), "-n", "-f", bad])
        assert rc == 1, err
        for want in (":2:11: incidentd serves plain HTTP on loopback only",
                     ":4:8: the links' url must start with http://",
                     ":5:11: the secret must be at least 16 characters"):
            assert bad + want in err, (want, err)

        pg = harness.Postgres(os.path.join(work, "pg")).start()
        clean.add(pg.stop)
        env = pg.env()
        run([harness.binary("incidentctl"), "migrate"], env=env,
            check=True)
        sink = harness.SmtpSink(os.path.join(work, "smtp")).start()
        clean.add(sink.stop)
        spool = os.path.join(work, "sms", "outgoing")
        os.makedirs(spool)
        port = harness.free_port()
        base = "http://127.0.0.1:%d" % port
        conf = os.path.join(work, "incidentd.yaml")
        with open(conf, "w", encoding="utf-8") as f:
            f.write(CONF % dict(smtp=sink.port, spool=spool, http=port,
                                secret=SECRET))
        inc = harness.Daemon("incidentd", ["-f", conf], env,
                             os.path.join(work, "incidentd.log")).start()
        clean.add(inc.kill)
        wait_for("the listener", lambda: harness.port_open("127.0.0.1",
                                                           port))

        log("a fault: the mail and the SMS carry their links")
        record(pg, 1, "CRITICAL", "OK")
        wait_for("two mails", lambda: len(sink.messages()) >= 2)
        mails = {str(m["To"]): m.get_content() for m in sink.messages()
                 if "INC-000001.opened@" in m["Message-ID"]}
        links = {}
        for to, body in mails.items():
            m = re.search(r"^(%s/a/[A-Za-z0-9_-]{27})\r?$"
                          % re.escape(base), body, re.M)
            assert m, body
            links[to] = m.group(1)
        mails = {k: v.replace("\r\n", "\n") for k, v in mails.items()}
        assert "受け付ける（一度だけ使えるリンク、2時間有効）:\n" + \
            links["toban@city.example.jp"] + "\n\n-- \n" in \
            mails["toban@city.example.jp"], mails
        assert "Acknowledge (a one-time link, valid for 2 h):\n" + \
            links["vendor@example.co.jp"] + "\n\n-- \n" in \
            mails["vendor@example.co.jp"], mails
        ids = dict(pg.query("SELECT recipient, id FROM notification WHERE "
                            "kind = 'opened' AND channel = 'email'"))
        for to, link in links.items():
            tok = link.rsplit("/", 1)[1]
            raw = base64.urlsafe_b64decode(tok + "=")
            assert struct.unpack(">Q", b"\0\0" + raw[:6])[0] == \
                int(ids[to]), (to, tok)
            expires = struct.unpack(">I", raw[6:10])[0]
            assert 7100 < expires - time.time() <= 7200, expires
            assert tok == token(int(ids[to]), expires), "not our HMAC"
        wait_for("the SMS", lambda: len(os.listdir(spool)) == 1)
        with open(os.path.join(spool, os.listdir(spool)[0]), "rb") as f:
            text = f.read().partition(b"\n\n")[2].decode("utf-16-be")
        assert len(text) <= 70, (len(text), text)
        m = re.fullmatch(r"(【障害】INC-000001 \S.*) (%s/a/\S{27})"
                         % re.escape(base), text)
        assert m, text
        sms_link = m.group(2)

        log("opening a link acknowledges nothing")
        status, page, headers = fetch(links["toban@city.example.jp"])
        assert status == 200, (status, page)
        assert "INC-000001" in page and "zaimu-db01" in page and \
            "当番 佐藤" in page and "<form method=\"post\">" in page and \
            "受け付ける</button>" in page, page
        assert headers.get("Referrer-Policy") == "no-referrer", headers
        assert headers.get("Cache-Control") == "no-store", headers
        status, _, _ = fetch(links["toban@city.example.jp"], "HEAD")
        assert status == 200
        assert one(pg, "SELECT acknowledged_at IS NULL FROM incident "
                   "WHERE ref = 'INC-000001'") == "t"

        log("made P1, a reminder goes while nobody acknowledges")
        run([harness.binary("incidentctl"), "set", "INC-000001", "--set",
             "impact=1", "--set", "urgency=1", "--as", "課長"], env=env,
            check=True)
        wait_for("a reminder", lambda: any(
            "reminder" in m["Message-ID"] for m in sink.messages()),
            timeout=20)

        log("the button: acknowledged as the contact, once")
        status, page, _ = fetch(sms_link, "POST", b"")
        assert status == 200 and "INC-000001 を受け付けました" in page, \
            (status, page)
        assert pg.query("SELECT acknowledged_by FROM incident WHERE "
                        "ref = 'INC-000001'") == [["当番 佐藤"]]
        used = pg.query("SELECT n.channel, u.remote FROM ack_link_use u "
                        "JOIN notification n ON n.id = u.notification_id")
        assert used == [["sms", "127.0.0.1"]], used
        status, page, _ = fetch(sms_link, "POST", b"")
        assert status == 200 and "このリンクは使用済みです" in page and \
            "当番 佐藤" in page, page
        status, page, _ = fetch(sms_link)
        assert status == 200 and "使用済み" in page and "<form" not in \
            page, page
        status, page, _ = fetch(links["vendor@example.co.jp"], "POST", b"")
        assert status == 200 and "INC-000001 was acknowledged by 当番 佐藤 " \
            "already" in page, page
        changes = one(pg, "SELECT count(*) FROM incident_field_change c "
                      "JOIN incident i ON i.id = c.incident_id WHERE "
                      "i.ref = 'INC-000001' AND c.field = 'acknowledged_by'")
        assert changes == "1", changes
        n = len([m for m in sink.messages()
                 if "reminder" in m["Message-ID"]])
        time.sleep(4)
        assert len([m for m in sink.messages()
                    if "reminder" in m["Message-ID"]]) == n, \
            "a reminder after the acknowledgement"

        log("forged, expired, wrong method, wrong path, too large")
        tok = links["toban@city.example.jp"].rsplit("/", 1)[1]
        forged = tok[:5] + ("A" if tok[5] != "A" else "B") + tok[6:]
        assert fetch(base + "/a/" + forged)[0] == 404
        assert fetch(base + "/a/" + forged, "POST", b"")[0] == 404
        row = int(ids["toban@city.example.jp"])
        expired = token(row, int(time.time()) - 60)
        status, page, _ = fetch(base + "/a/" + expired, "POST", b"")
        assert status == 410 and "有効期限" in page, (status, page)
        assert fetch(base + "/a/" + token(row, int(time.time()) + 60,
                                          "another-secret-xxxx"))[0] == 404
        assert fetch(base + "/a/" + tok, "PUT", b"x")[0] == 405
        assert fetch(base + "/")[0] == 404
        assert fetch(base + "/a/")[0] == 404
        assert fetch(base + "/a/" + tok + "/x")[0] == 404
        assert fetch(base + "/a/" + tok, "POST", b"x" * 70000)[0] == 413
        # a token for a row that does not exist
        status, page, _ = fetch(base + "/a/" + token(999999, int(
            time.time()) + 60), "POST", b"")
        assert status == 404, (status, page)

        log("the database is down: 503; then the page comes back")
        pg.stop()
        wait_for("incidentd to notice", lambda: "connection" in inc.log()
                 and fetch(base + "/a/" + tok)[0] == 503, timeout=20)
        pg.start()
        wait_for("the page again", lambda: fetch(base + "/a/" + tok)[0]
                 == 200, timeout=30)
        assert inc.alive()
        assert inc.stop() == 0
        log("PASS")
        return 0
    except Exception:
        traceback.print_exc()
        if inc is not None:
            print("----- incidentd log -----\n%s" % inc.log()[-20000:])
        return 1
    finally:
        clean.run()


if __name__ == "__main__":
    sys.exit(main())
