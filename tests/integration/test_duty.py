"""Teams, business-hours calendars with Japanese holidays, and the duty roster.

With a real PostgreSQL, incidentd and an aiosmtpd sink.  First the
calendar and roster functions at fixed moments, each figure worked out by
hand below: business hours 08:30-17:15 on weekdays, 勤労感謝の日
(2026-11-23, a Monday), an extra closed day, the 12/29-1/3 closure with an
open day inside it, the next opening over a weekend and a holiday, and a
weekly rotation before and after its start.  Then the delivery, with the
team's office closed now (closed today and tomorrow) and 鈴木 on duty:

- a fault of unknown priority goes at once to 鈴木 (on duty) and to the
  課長 (in no team), never to 佐藤;
- made P5 and recurring, its "opened" waits for the office's opening for
  both members (the exact time is asserted), the 課長 gets it at once,
  and its recovery is held to the same time, never before its start;
- when the opening comes (the held rows' time moved to now: a shortened
  clock), each member gets the start and the end;
- a P1 recurring at night goes at once to 鈴木 only: P1 overrides quiet
  hours;
- calendar and team mistakes are config errors with file:line:column.
"""

import datetime
import json
import os
import shutil
import sys
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import harness  # noqa: E402
from harness import log, run, wait_for  # noqa: E402

JST = datetime.timezone(datetime.timedelta(hours=9))

CONF = """\
instance: incidentd-duty
log_level: debug
poll_interval: 300ms
smtp:
  url: smtp://127.0.0.1:%(smtp)d
  from: kanshi@city.example.jp
  timeout: 5s
lifecycle:
  reopen_window: 1h
notify:
  group_window: 0s
  remind_after: 0s
  retry_min: 1s
  retry_max: 1s
contacts:
  - name: 佐藤
    email: sato@city.example.jp
  - name: 鈴木
    email: suzuki@city.example.jp
  - name: 課長
    email: kacho@city.example.jp
calendars:
  - name: 庁舎
    hours: "08:30-17:15"
    closed: [2026-12-28]
    open: [2027-01-02]
  - name: 今夜
    weekdays: [mon, tue, wed, thu, fri, sat, sun]
    hours: "00:00-24:00"
    holidays: false
    new_year: false
    closed: [%(today)s, %(tomorrow)s]
  - name: 常時
    always_open: true
teams:
  - name: 基盤担当
    calendar: 今夜
    members: [佐藤, 鈴木]
    duty:
      rotation: [佐藤, 鈴木]
      start: "%(start)s"
      every: 1d
      swaps:
        - from: "2026-01-01 00:00"
          to: "2026-01-02T08:30"
          contact: 佐藤
  - name: 窓口
    calendar: 庁舎
    members: []
    duty:
      rotation: []
      start: "2026-11-02 08:30"
      every: 7d
"""

BAD = """\
contacts:
  - name: a
    email: a@city.example.jp
  - name: b
    email: b@city.example.jp
calendars:
  - name: x
    hours: "17:15-08:30"
    weekdays: [mon, fri, holiday]
    closed: [2026-02-30]
  - name: x
teams:
  - name: t
    calendar: nowhere
    members: [a, nobody]
    duty:
      rotation: [a, b]
      start: "next monday"
      every: 1s
      swaps:
        - {from: "2026-12-28 17:15", to: "2026-12-28 08:00", contact: a}
        - {from: "2026-13-01 00:00", to: "2027-01-04 08:30", contact: a}
        - {from: "2026-12-28 17:15", to: "2027-01-04 08:30", contact: b}
        - {from: "2026-12-28 17:15", to: "2027-01-04 08:30"}
    after_hours: [P6]
  - name: u
    calendar: x
    members: [a]
"""


def one(pg, sql):
    rows = pg.query(sql)
    assert len(rows) == 1 and len(rows[0]) == 1, (sql, rows)
    return rows[0][0]


def record(pg, seq, new, old):
    change = [dict(seq=seq, host="kikan-ap01", check="tcp/443", kind="tcp",
                   segment="core", old=old, new=new,
                   output="TCP %s" % new,
                   observed=datetime.datetime.now(JST).isoformat())]
    pg.query("SELECT monitord_record_changes('duty-test', '%s')"
             % json.dumps(change))


def test_config_errors(work):
    log("calendar and team mistakes name file:line:column")
    bad = os.path.join(work, "bad.yaml")
    with open(bad, "w", encoding="utf-8") as f:
        f.write(BAD)
    rc, _, err = run([harness.binary("incidentd"), "-n", "-f", bad])
    assert rc == 1, err
    for want in (
            ":8:12: hours are 'HH:MM-HH:MM' within one day",
            ":9:26: a weekday is mon, tue, wed, thu, fri, sat or sun, "
            "not 'holiday'",
            ":10:14: '2026-02-30' is not a date (YYYY-MM-DD)",
            ":11:11: calendar 'x' is defined twice",
            ":14:15: no calendar named 'nowhere'",
            ":15:18: no contact named 'nobody'",
            ":17:21: 'b' is on the rotation but not a member of the team",
            ":18:14: start is a local time, as '2026-11-02 08:30', not "
            "'next monday'",
            ":19:14: 'every' must be between 1m and ",
            ":21:42: a swap ends after it starts",
            ":22:18: '2026-13-01' is not a date",
            ":23:71: 'b' takes a turn but is not a member of the team",
            ":24:11: a swap needs a contact",
            ":25:19: a priority is 1-5 (or P1-P5)",
            ":28:15: contact 'a' is already in team 't'"):
        assert bad + want in err, (want, err)


def test_calendar_functions(pg):
    log("the calendar and the roster at fixed moments")

    def is_open(at):
        return one(pg, "SELECT calendar_is_open('庁舎', '%s')" % at)

    def next_open(at):
        return one(pg, "SELECT to_char(calendar_next_open('庁舎', '%s') "
                   "AT TIME ZONE 'Asia/Tokyo', 'YYYY-MM-DD HH24:MI')" % at)

    # Friday 2026-11-27: open from 08:30 up to (not at) 17:15
    assert is_open("2026-11-27 10:00+09") == "t"
    assert is_open("2026-11-27 08:29:59+09") == "f"
    assert is_open("2026-11-27 08:30+09") == "t"
    assert is_open("2026-11-27 17:14:59+09") == "t"
    assert is_open("2026-11-27 17:15+09") == "f"
    # the same moment in UTC is the same answer
    assert is_open("2026-11-27 01:00+00") == "t"
    assert is_open("2026-11-28 10:00+09") == "f"    # Saturday
    assert is_open("2026-11-23 10:00+09") == "f"    # 勤労感謝の日, Monday
    assert is_open("2026-11-24 10:00+09") == "t"
    assert is_open("2026-12-28 10:00+09") == "f"    # extra closed day
    assert is_open("2026-12-29 10:00+09") == "f"    # New Year closure
    assert is_open("2027-01-02 10:00+09") == "t"    # opened inside it
    assert is_open("2027-01-03 10:00+09") == "f"
    assert is_open("2027-01-11 10:00+09") == "f"    # 成人の日
    # Friday evening -> Monday 08:30
    assert next_open("2026-11-27 18:00+09") == "2026-11-30 08:30"
    # Saturday before the holiday Monday -> Tuesday 08:30
    assert next_open("2026-11-21 12:00+09") == "2026-11-24 08:30"
    # early on a working day -> the same day
    assert next_open("2026-11-24 07:00+09") == "2026-11-24 08:30"
    # open now -> now
    assert next_open("2026-11-24 09:00+09") == "2026-11-24 09:00"
    # the 12/25 evening: 12/28 closed, 12/29-1/1 closure, 1/2 open
    assert next_open("2026-12-25 18:00+09") == "2027-01-02 08:30"
    assert one(pg, "SELECT count(*) FROM national_holiday WHERE "
               "day BETWEEN '2026-01-01' AND '2026-12-31'") == "18"

    def business(cal, a, b):
        return int(one(pg, "SELECT calendar_business_seconds('%s', '%s', "
                       "'%s')" % (cal, a, b)))
    # Thu 16:00 -> Fri 09:00: 16:00-17:15 (75 min) + 08:30-09:00 (30 min)
    assert business("庁舎", "2026-11-26 16:00+09",
                    "2026-11-27 09:00+09") == 105 * 60
    # Fri 17:00 -> Tue 09:00 over a weekend and 勤労感謝の日 (Mon 11/23):
    # 17:00-17:15 (15 min) + Tue 08:30-09:00 (30 min)
    assert business("庁舎", "2026-11-20 17:00+09",
                    "2026-11-24 09:00+09") == 45 * 60
    # inside one business day, given in UTC: 10:00-12:00 JST
    assert business("庁舎", "2026-11-24 01:00+00",
                    "2026-11-24 03:00+00") == 2 * 3600
    # Saturday to Sunday, and backwards: none
    assert business("庁舎", "2026-11-28 10:00+09",
                    "2026-11-29 10:00+09") == 0
    assert business("庁舎", "2026-11-24 12:00+09",
                    "2026-11-24 10:00+09") == 0
    # 12/25 18:00 -> 1/4 10:00: 12/28 closed, 12/29-1/3 closed but 1/2
    # open (08:30-17:15, 8 h 45 min), then 1/4 08:30-10:00 (1 h 30 min)
    assert business("庁舎", "2026-12-25 18:00+09",
                    "2027-01-04 10:00+09") == (8 * 60 + 45 + 90) * 60
    # 24x7 counts every second
    assert business("常時", "2026-11-28 10:00+09",
                    "2026-11-29 10:00+09") == 86400

    # 窓口 has an empty rotation: nobody is on duty
    assert one(pg, "SELECT coalesce(team_on_duty('窓口', now()), '-')") \
        == "-"
    pg.query("UPDATE team SET duty = '{佐藤,鈴木}' WHERE name = '窓口'")

    def on_duty(at):
        return one(pg, "SELECT team_on_duty('窓口', '%s')" % at)
    # weekly from Monday 2026-11-02 08:30 JST: 佐藤, 鈴木, 佐藤, ...
    assert on_duty("2026-11-02 08:30+09") == "佐藤"
    assert on_duty("2026-11-09 08:29+09") == "佐藤"
    assert on_duty("2026-11-09 08:30+09") == "鈴木"
    assert on_duty("2026-11-16 09:00+09") == "佐藤"
    # before the start the rotation runs backwards: the week before is 鈴木
    assert on_duty("2026-11-01 12:00+09") == "鈴木"
    # a swap wins over the rotation while it lasts
    pg.query("INSERT INTO team_duty_override VALUES ('窓口', "
             "'2026-11-10 08:30+09', '2026-11-11 08:30+09', '佐藤')")
    assert on_duty("2026-11-10 08:29+09") == "鈴木"
    assert on_duty("2026-11-10 08:30+09") == "佐藤"
    assert on_duty("2026-11-11 08:29+09") == "佐藤"
    assert on_duty("2026-11-11 08:30+09") == "鈴木"
    pg.query("DELETE FROM team_duty_override WHERE team = '窓口'")
    pg.query("UPDATE team SET duty = '{}' WHERE name = '窓口'")
    # the configured swap, in the calendar's time zone
    assert pg.query("SELECT contact, starts_at AT TIME ZONE 'UTC', "
                    "ends_at AT TIME ZONE 'UTC' FROM team_duty_override") \
        == [["佐藤", "2025-12-31 15:00:00", "2026-01-01 23:30:00"]], \
        pg.query("SELECT * FROM team_duty_override")
    assert one(pg, "SELECT team_on_duty('基盤担当', "
               "'2026-01-01 12:00+09')") == "佐藤"


def test_holiday_import(pg, env, work):
    log("the Cabinet Office's file (Shift_JIS) updates the holidays")
    ctl = harness.binary("incidentctl")
    days = [r[0] for r in pg.query(
        "SELECT to_char(day, 'YYYY/FMMM/FMDD') || ',' || name FROM "
        "national_holiday WHERE day BETWEEN '2026-01-01' AND '2026-12-31' "
        "ORDER BY day")]
    assert len(days) == 18 and "2026/9/22,休日" in days, days
    # 9/22 gone, 11/23 renamed, 11/27 added: the year 2026 only
    days.remove("2026/9/22,休日")
    days[days.index("2026/11/23,勤労感謝の日")] = "2026/11/23,勤労感謝の日（改）"
    days.append("2026/11/27,臨時休日")
    path = os.path.join(work, "syukujitsu.csv")
    with open(path, "wb") as f:
        f.write(("国民の祝日・休日月日,国民の祝日・休日名称\r\n" +
                 "".join(d + "\r\n" for d in days)).encode("cp932"))
    rc, out, err = run([ctl, "holidays", "import", path], env=env)
    assert rc == 0, err
    assert out == "imported 18 holidays for 2026-2026: 1 added, 1 removed, " \
        "1 renamed\n", out
    assert one(pg, "SELECT count(*) FROM national_holiday WHERE "
               "extract(year FROM day) = 2027") == "17"
    assert one(pg, "SELECT calendar_is_open('庁舎', "
               "'2026-11-27 10:00+09')") == "f"
    rc, out, err = run([ctl, "holidays", "--year", "2026"], env=env)
    assert rc == 0 and "2026-11-27  Fri      臨時休日" in out, out
    assert "2026-09-22" not in out, out
    # the same file again changes nothing
    rc, out, err = run([ctl, "holidays", "import", path], env=env)
    assert out.endswith(": 0 added, 0 removed, 0 renamed\n"), out

    log("a year not published yet: its holidays by the holiday law")
    assert pg.query("SELECT to_char(day, 'MM-DD'), name FROM "
                    "national_holiday WHERE by_law AND day BETWEEN "
                    "'2029-01-01' AND '2029-12-31' ORDER BY day") == [
        ["01-01", "元日"], ["01-08", "成人の日"], ["02-11", "建国記念の日"],
        ["02-12", "休日"], ["02-23", "天皇誕生日"], ["03-20", "春分の日"],
        ["04-29", "昭和の日"], ["04-30", "休日"], ["05-03", "憲法記念日"],
        ["05-04", "みどりの日"], ["05-05", "こどもの日"], ["07-16", "海の日"],
        ["08-11", "山の日"], ["09-17", "敬老の日"], ["09-23", "秋分の日"],
        ["09-24", "休日"], ["10-08", "スポーツの日"], ["11-03", "文化の日"],
        ["11-23", "勤労感謝の日"]]
    # the law gives the years published with the schema exactly (2026
    # is the test's own now)
    assert pg.query("SELECT count(*) FROM (SELECT l.* FROM unnest('{2025,"
                    "2027}'::integer[]) y, national_holidays_by_law(y) l) l "
                    "FULL JOIN (SELECT * FROM national_holiday WHERE "
                    "extract(year FROM day) IN (2025, 2027)) h USING (day, "
                    "name) WHERE l.day IS NULL OR h.day IS NULL") == [["0"]]
    assert one(pg, "SELECT calendar_is_open('庁舎', "
               "'2029-03-20 10:00+09')") == "f"
    rc, out, err = run([ctl, "holidays", "--year", "2029"], env=env)
    assert rc == 0 and "2029-03-20  Tue      春分の日      by law" in out \
        and "not yet published" in out, out
    # once published, the file's year replaces them
    with open(path, "wb") as f:
        f.write("h\r\n2029/1/1,元日\r\n2029/3/21,春分の日\r\n"
                .encode("cp932"))
    rc, out, err = run([ctl, "holidays", "import", path], env=env)
    assert rc == 0 and out == "imported 2 holidays for 2029-2029: 1 " \
        "added, 18 removed, 0 renamed\n", (out, err)
    assert pg.query("SELECT to_char(day, 'MM-DD'), by_law FROM "
                    "national_holiday WHERE extract(year FROM day) = 2029 "
                    "ORDER BY day") == [["01-01", "f"], ["03-21", "f"]]
    assert one(pg, "SELECT count(*) FROM national_holiday WHERE by_law "
               "AND extract(year FROM day) = 2030") == "19"
    with open(path, "wb") as f:
        f.write("h\r\n2026/1/1,元日\r\n2026/2/30,x\r\n".encode("cp932"))
    rc, out, err = run([ctl, "holidays", "import", path], env=env)
    assert rc == 1 and err == "incidentctl: holidays: %s: line 3: " \
        "'2026/2/30' is not a date (YYYY/M/D)\n" % path, err
    rc, out, err = run([ctl, "holidays", "--year", "twenty"], env=env)
    assert rc == 2 and "--year is a year" in err, err


def rows(pg, ref, kind=None):
    return pg.query(
        "SELECT n.kind, n.round, n.recipient, n.status, "
        "to_char(n.next_attempt_at AT TIME ZONE 'Asia/Tokyo', "
        "'YYYY-MM-DD HH24:MI') FROM notification n JOIN incident i ON "
        "i.id = n.incident_id WHERE i.ref = '%s'%s ORDER BY n.id"
        % (ref, " AND n.kind = '%s'" % kind if kind else ""))


def main():
    clean = harness.Cleanup()
    work = harness.make_workdir("/tmp/monitord-duty.")
    clean.add(lambda: shutil.rmtree(work, ignore_errors=True))
    inc = None
    try:
        test_config_errors(work)
        pg = harness.Postgres(os.path.join(work, "pg")).start()
        clean.add(pg.stop)
        env = pg.env()
        run([harness.binary("incidentctl"), "migrate"], env=env,
            check=True)
        sink = harness.SmtpSink(os.path.join(work, "smtp")).start()
        clean.add(sink.stop)
        now = datetime.datetime.now(JST)
        today = now.date()
        opening = (today + datetime.timedelta(days=2)).strftime(
            "%Y-%m-%d 00:00")
        # 36 hours into a daily rotation of two: the second, 鈴木
        start = (now - datetime.timedelta(hours=36)).strftime(
            "%Y-%m-%d %H:%M")
        conf = os.path.join(work, "incidentd.yaml")
        with open(conf, "w", encoding="utf-8") as f:
            f.write(CONF % dict(
                smtp=sink.port, today=today.isoformat(),
                tomorrow=(today + datetime.timedelta(days=1)).isoformat(),
                start=start))
        rc, out, err = run([harness.binary("incidentd"), "-n", "-f", conf])
        assert rc == 0, err
        assert "3 contacts, 0 services, 2 teams, 0 agreements" in out, out
        inc = harness.Daemon("incidentd", ["-f", conf], env,
                             os.path.join(work, "incidentd.log")).start()
        clean.add(inc.kill)
        wait_for("the calendars configured", lambda: one(
            pg, "SELECT count(*) FROM calendar") == "3")
        test_calendar_functions(pg)
        assert one(pg, "SELECT team_on_duty('基盤担当', now())") == "鈴木"

        test_holiday_import(pg, env, work)

        log("incidentctl duty says the same, now and at another moment")
        ctl = harness.binary("incidentctl")
        rc, out, err = run([ctl, "duty"], env=env)
        assert rc == 0, err
        lines = [l.split() for l in out.splitlines()]
        assert lines[0] == ["TEAM", "CALENDAR", "OFFICE", "OPENS", "ON",
                            "DUTY", "AFTER", "HOURS"], out
        assert lines[1][:5] == ["基盤担当", "今夜", "closed",
                                opening.split()[0], opening.split()[1]], out
        assert lines[1][5:] == ["鈴木", "P1"], out
        # (Friday 11/27 is a holiday since the import above)
        rc, out, err = run([ctl, "duty", "--json", "--at",
                            "2026-11-26 10:00+09"], env=env)
        assert rc == 0, err
        teams = {r["team"]: r for r in json.loads(out)}
        t = teams["窓口"]
        assert (t["office"], t["opens"], t["on_duty"]) == ("open", "", ""), \
            teams
        rc, out, err = run([ctl, "duty", "--at", "2026-11-23 10:00"],
                           env=env)
        assert rc == 0 and "窓口" in out and "2026-11-24 08:30" in out, out
        rc, out, err = run([ctl, "duty", "--at", "yesterday-ish"], env=env)
        assert rc == 2 and "--at 'yesterday-ish' is not a time" in err, err
        assert one(pg, "SELECT calendar_is_open('今夜', now())") == "f"
        assert one(pg, "SELECT calendar_is_open('常時', now())") == "t"

        log("a fault of unknown priority after hours: the member on duty "
            "and the 課長, at once")
        record(pg, 1, "CRITICAL", "OK")
        wait_for("two mails", lambda: len(sink.messages()) == 2)
        got = sorted(str(m["To"]) for m in sink.messages())
        assert got == ["kacho@city.example.jp", "suzuki@city.example.jp"], \
            got
        assert [r[2] for r in rows(pg, "INC-000001")] == [
            "suzuki@city.example.jp", "kacho@city.example.jp"], \
            rows(pg, "INC-000001")

        log("made P5, it recurs: the team's start and end wait for the "
            "opening")
        run([harness.binary("incidentctl"), "set", "INC-000001", "--set",
             "impact=3", "--set", "urgency=3", "--as", "鈴木"], env=env,
            check=True)
        prio = one(pg, "SELECT priority FROM incident WHERE ref = "
                   "'INC-000001'")
        assert prio == "5", prio
        record(pg, 2, "OK", "CRITICAL")
        wait_for("the recovery to both told", lambda: len(
            sink.messages()) == 4)
        record(pg, 3, "CRITICAL", "OK")
        wait_for("the recurrence queued", lambda: len(
            rows(pg, "INC-000001", "opened")) == 5)
        opened = [r for r in rows(pg, "INC-000001", "opened")
                  if r[1] == "1"]
        assert sorted((r[2], r[3], r[4]) for r in opened
                      if r[2] != "kacho@city.example.jp") == [
            ("sato@city.example.jp", "pending", opening),
            ("suzuki@city.example.jp", "pending", opening)], opened
        wait_for("the 課長's at once", lambda: len(sink.messages()) == 5)
        record(pg, 4, "OK", "CRITICAL")
        wait_for("the recovery queued", lambda: len(
            [r for r in rows(pg, "INC-000001", "recovered")
             if r[1] == "1"]) == 3)
        held = sorted((r[2], r[3], r[4])
                      for r in rows(pg, "INC-000001", "recovered")
                      if r[1] == "1" and r[2] != "kacho@city.example.jp")
        assert held == [("sato@city.example.jp", "pending", opening),
                        ("suzuki@city.example.jp", "pending", opening)], \
            held
        wait_for("the 課長's recovery", lambda: len(sink.messages()) == 6)

        log("the opening comes (a shortened clock): start and end go")
        pg.query("UPDATE notification SET next_attempt_at = now() "
                 "WHERE status = 'pending' AND next_attempt_at > now()")
        wait_for("the held four", lambda: len(sink.messages()) == 10)
        for who in ("sato", "suzuki"):
            subjects = [harness.subject_of(m) for m in sink.messages()
                        if str(m["To"]) == who + "@city.example.jp" and
                        m["Message-ID"].endswith(".1@incidentd.invalid>")]
            assert sorted(s.split("INC-")[0] for s in subjects) == [
                "【復旧】", "【障害発生】"], subjects

        log("a P1 at night: at once, to the member on duty only")
        run([harness.binary("incidentctl"), "set", "INC-000001", "--set",
             "impact=1", "--set", "urgency=1", "--reason", "全庁に影響",
             "--as", "鈴木"], env=env, check=True)
        record(pg, 5, "CRITICAL", "OK")
        wait_for("two more mails", lambda: len(sink.messages()) == 12)
        p1 = [(r[2], r[3]) for r in rows(pg, "INC-000001", "opened")
              if r[1] == "2"]
        assert sorted(p1) == [("kacho@city.example.jp", "sent"),
                              ("suzuki@city.example.jp", "sent")], p1
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
