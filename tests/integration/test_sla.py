"""SLA and OLA figures of a month, worked out by hand and asserted exactly.

A real PostgreSQL with the schema, agreements configured through incidentd
(which stores them on connect), October 2026 written as monitord and the
lifecycle would have written it, pauses entered with incidentctl, and the
report read back as JSON, text and CSV.

The service juki depends on juki-ap01.  Its SLA with 住民課 runs on the
庁舎 calendar (08:30-17:15 on weekdays, 8 h 45 min = 31,500 s a day), with
planned maintenance removed from the agreed time; its OLA with the vendor
runs 24x7 with maintenance counted as available.  The service jinji has
an SLA and no data at all.

October 2026 has 22 weekdays; 10/12 (スポーツの日) is a holiday, so the SLA
agrees 21 x 31,500 = 661,500 s; the OLA 31 x 86,400 = 2,678,400 s.

juki-ap01 tcp/80 (OK since 9/30):
  (1) CRITICAL Fri 10/9 17:00 -> Tue 10/13 09:00, over a weekend and the
      holiday.  SLA: 17:00-17:15 + Tue 08:30-09:00 = 900 + 1,800 = 2,700 s.
      OLA: 88 h = 316,800 s.
  (2) CRITICAL Wed 10/14 16:45 -> Thu 10/15 08:45, across business hours.
      SLA: 16:45-17:15 + 08:30-08:45 = 1,800 + 900 = 2,700 s.
      OLA: 16 h = 57,600 s.
  (3) CRITICAL Wed 10/21 13:00 -> 15:00, inside the maintenance window
      12:00-14:00 (hosts: juki-ap01) until 14:00.  Planned 13:00-14:00
      (3,600 s), unplanned 14:00-15:00 (3,600 s).
SLA (exclude): excluded = the window, 7,200 s; down = 2,700 + 2,700 +
  3,600 = 9,000 s; availability = (661,500 - 7,200 - 9,000) /
  (661,500 - 7,200) = 645,300 / 654,300 = 98.6245 %; target 99.5: not met.
OLA (available): excluded 0; down = 316,800 + 57,600 + 3,600 = 378,000 s;
  availability = 2,300,400 / 2,678,400 = 85.8871 %; target 95: not met.
jinji: no state at all: no data 661,500 s, availability null (not 100).

Incidents of juki (targets SLA P1 15m/4h, P2 30m/8h, P3 1h/24h; OLA P1
30m/24h, P2 1h/24h, P3 2h/48h; times in each agreement's business time):
  A P1 10/9 17:00, ack 17:10, restored 10/13 09:00.
    SLA TTO 600, TTR 2,700.  OLA TTO 600, TTR 316,800 > 86,400: breach.
  B P2 10/14 16:45, ack 10/15 08:40, restored 08:45.
    SLA TTO 1,800 + 600 = 2,400 > 1,800: breach by 600; TTR 2,700.
    OLA TTO 57,300 > 3,600: breach by 53,700; TTR 57,600.
  C P2 Mon 10/19 10:00, ack 10:05, restored Tue 10/20 12:00; waiting on
    the department 10/19 13:00-15:00, on the outsourcer 10/20 09:00-10:00.
    SLA TTR: 26,100 (Mon 10:00-17:15) + 12,600 (Tue 08:30-12:00) - 7,200
    (the department's pause; the outsourcer's stops no clock) = 31,500 >
    28,800: breach by 2,700.  OLA TTR: 93,600 - 7,200 = 86,400, exactly
    the target: no breach.  Paused 10,800 s in all.
  D P3 Fri 10/30 16:00, ack 16:30, restored Mon 11/2 10:00: open across
    the month boundary.  October: open at month end, SLA TTR so far 4,500
    (16:00-17:15; Saturday closed), OLA 32 h = 115,200 < 172,800.
    November: SLA 4,500 + 5,400 (Mon 08:30-10:00) = 9,900; OLA 66 h =
    237,600 > 172,800: breach by 64,800.
SLA MTTA = (600 + 2,400 + 300 + 1,800) / 4 = 1,275 s; MTTR over the
  restored A, B, C = (2,700 + 2,700 + 31,500) / 3 = 12,300 s; MTBF =
  uptime 645,300 / 4 failures = 161,325 s.
OLA MTTA = (600 + 57,300 + 300 + 1,800) / 4 = 15,000 s; MTTR =
  (316,800 + 57,600 + 86,400) / 3 = 153,600 s; MTBF = 2,300,400 / 4 =
  575,100 s.

A breach belongs to the month in which its target ran out, and an
acknowledgement to the month it was made in; two incidents open at the end
of August show it (the rule: incidentd(8), SERVICE LEVELS):
  G (INC-000006) P3 Wed 8/26 09:00, ack 09:05, restored Tue 9/1 10:00.
    SLA TTR runs out on Fri 8/28 at 15:30 (29,700 + 31,500 + 25,200 =
    86,400).  August: 124,200 so far, breach by 37,800, open at the end.
    September: 129,600 in all, and no breach: it was August's.
    OLA TTR (48 h) runs out on 8/28 09:00.  August: 135 h = 486,000,
    breach by 313,200; September: 145 h = 522,000, no breach.
  F (INC-000007) P2 Mon 8/31 15:00, ack 15:10, waiting on the department
    8/31 16:00 - Mon 9/7 10:00, restored Tue 9/8 12:00.  August: 3,600 so
    far (SLA and OLA), no breach, paused 28,800 by the month's end.
    September: SLA 3,600 + 26,100 + 12,600 = 42,300; the 8 h ran out on
    9/7 at 17:00, a week after August ended: breach by 13,500.  OLA 3,600
    + 26 h = 97,200; the 24 h ran out on 9/8 09:00: breach by 10,800.
  August MTTA (both acknowledged in it) = (300 + 600) / 2 = 450 s, no
  MTTR; September no MTTA, SLA MTTR = (129,600 + 42,300) / 2 = 85,950 s,
  OLA MTTR = (522,000 + 97,200) / 2 = 309,600 s.
"""

import html.parser
import json
import os
import shutil
import subprocess
import sys
import time
import traceback
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import harness  # noqa: E402
from harness import log, run, wait_for  # noqa: E402

CONF = """\
instance: incidentd-sla
poll_interval: 300ms
lifecycle:
  reopen_window: 0s
services:
  - name: juki
    title: 住民記録
    operator: outsourcer
    departments: [住民課]
    depends: [juki-ap01]
  - name: jinji
    title: 人事給与
    departments: [人事課]
    depends: [jinji-db01]
calendars:
  - name: 庁舎
    hours: "08:30-17:15"
  - name: 常時
    always_open: true
agreements:
  - name: juki-sla
    kind: sla
    service: juki
    party: 住民課
    calendar: 庁舎
    availability: 99.5
    maintenance: exclude
    targets:
      P1: {tto: 15m, ttr: 4h}
      P2: {tto: 30m, ttr: 8h}
      P3: {tto: 1h, ttr: 24h}
  - name: juki-ola
    kind: ola
    service: juki
    party: ベンダー
    calendar: 常時
    availability: 95
    maintenance: available
    targets:
      P1: {tto: 30m, ttr: 24h}
      P2: {tto: 1h, ttr: 24h}
      P3: {tto: 2h, ttr: 48h}
  - name: jinji-sla
    kind: sla
    service: jinji
    party: 人事課
    calendar: 庁舎
    availability: 99.5
"""

BAD = """\
services:
  - name: juki
    departments: [住民課]
calendars:
  - name: 庁舎
agreements:
  - name: a
    kind: xla
    service: nosuch
    party: x
  - name: b
    kind: sla
    service: juki
    party: 税務課
    calendar: 夜間
    availability: 101
    maintenance: sometimes
    targets:
      P7: {tto: 1h}
      P1: {tto: 10s, ttd: 1h}
  - name: b
    kind: ola
    service: juki
"""

FIXTURE = """
SET TimeZone = 'Asia/Tokyo';
INSERT INTO state_event (source, source_seq, host, check_name, check_kind,
    segment, old_state, new_state, observed_at) VALUES
 ('t', 1, 'juki-ap01', 'tcp/80', 'tcp', 'core', 'PENDING', 'OK',
  '2026-09-30 23:00'),
 ('t', 2, 'juki-ap01', 'tcp/80', 'tcp', 'core', 'OK', 'CRITICAL',
  '2026-10-09 17:00'),
 ('t', 3, 'juki-ap01', 'tcp/80', 'tcp', 'core', 'CRITICAL', 'OK',
  '2026-10-13 09:00'),
 ('t', 4, 'juki-ap01', 'tcp/80', 'tcp', 'core', 'OK', 'CRITICAL',
  '2026-10-14 16:45'),
 ('t', 5, 'juki-ap01', 'tcp/80', 'tcp', 'core', 'CRITICAL', 'OK',
  '2026-10-15 08:45'),
 ('t', 6, 'juki-ap01', 'tcp/80', 'tcp', 'core', 'OK', 'CRITICAL',
  '2026-10-21 13:00'),
 ('t', 7, 'juki-ap01', 'tcp/80', 'tcp', 'core', 'CRITICAL', 'OK',
  '2026-10-21 15:00');
INSERT INTO downtime_window (source, name, targets, starts_at, ends_at)
VALUES ('t', 'juki-patch', 'hosts: juki-ap01', '2026-10-21 12:00',
        '2026-10-21 14:00'),
       ('t', 'other', 'hosts: zaimu-db01; segments: finance',
        '2026-10-22 09:00', '2026-10-22 17:00');
INSERT INTO incident (dedup_key, host, check_name, segment, severity,
    summary, source, detected_at, status, recovered_at, acknowledged_at,
    priority, affected_services, fault_start, fault_end, cause) VALUES
 ('a', 'juki-ap01', 'tcp/80', 'core', 'CRITICAL', 'A', 't',
  '2026-10-09 17:00', 'recovered', '2026-10-13 09:00', '2026-10-09 17:10',
  1, '{juki}', '2026-10-09 17:00', '2026-10-13 09:00', 'ハードウェア故障'),
 ('b', 'juki-ap01', 'tcp/80', 'core', 'CRITICAL', 'B', 't',
  '2026-10-14 16:45', 'recovered', '2026-10-15 08:45', '2026-10-15 08:40',
  2, '{juki}', '2026-10-14 16:45', '2026-10-15 08:45', 'ソフトウェア不具合'),
 ('c', 'juki-ap02', 'app', 'core', 'CRITICAL', 'C', 't',
  '2026-10-19 10:00', 'recovered', '2026-10-20 12:00', '2026-10-19 10:05',
  2, '{juki}', '2026-10-19 10:00', '2026-10-20 12:00', 'ソフトウェア不具合'),
 ('d', 'juki-ap03', 'app', 'core', 'CRITICAL', 'D', 't',
  '2026-10-30 16:00', 'recovered', '2026-11-02 10:00', '2026-10-30 16:30',
  3, '{juki}', '2026-10-30 16:00', '2026-11-02 10:00', NULL),
 ('e', 'jinji-db01', 'pg', 'information', 'CRITICAL', 'E', 't',
  '2026-09-29 10:00', 'recovered', '2026-09-29 11:00', '2026-09-29 10:10',
  1, '{jinji}', '2026-09-29 10:00', '2026-09-29 11:00', NULL),
 ('g', 'juki-ap04', 'app', 'core', 'CRITICAL', 'G', 't',
  '2026-08-26 09:00', 'recovered', '2026-09-01 10:00', '2026-08-26 09:05',
  3, '{juki}', '2026-08-26 09:00', '2026-09-01 10:00', NULL),
 ('f', 'juki-ap05', 'app', 'core', 'CRITICAL', 'F', 't',
  '2026-08-31 15:00', 'recovered', '2026-09-08 12:00', '2026-08-31 15:10',
  2, '{juki}', '2026-08-31 15:00', '2026-09-08 12:00', NULL);
INSERT INTO incident_pause (incident_id, party, started_at, ended_at, reason)
VALUES (7, 'department', '2026-08-31 16:00', '2026-09-07 10:00',
        '庁内調整待ち');
"""


def one(pg, sql):
    rows = pg.query(sql)
    assert len(rows) == 1 and len(rows[0]) == 1, (sql, rows)
    return rows[0][0]


def report(env, *args):
    rc, out, err = run([harness.binary("incidentctl"), "report", "sla"] +
                       list(args), env=env)
    assert rc == 0, err
    return out


def agreement(doc, name):
    got = [a for a in doc["agreements"] if a["agreement"] == name]
    assert len(got) == 1, doc
    return got[0]


def incidents(a):
    return {i["ref"]: i for i in a["incidents"]}


class Page(html.parser.HTMLParser):
    """The elements of a page, with their attributes, and its text."""

    def __init__(self):
        super().__init__()
        self.elements = []
        self.text = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    def handle_startendtag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def kept(pg, env, doc):
    """The figures kept by sla_refresh() are the ones worked out live."""
    log("kept figures: October worked out in the background, the same")
    got = pg.query("SELECT * FROM sla_refresh('Asia/Tokyo', 100000, "
                   "'2026-10-01')")
    # every agreement's days from October 1st to yesterday; each
    # restored incident of each agreement (A-D, F and G twice, E once)
    assert int(got[0][0]) >= 3 * 31 and got[0][1] == "13", got
    assert one(pg, "SELECT count(*) FROM sla_day WHERE starts_at >= "
               "'2026-10-01 00:00+09' AND ends_at <= "
               "'2026-11-01 00:00+09'") == "93"
    assert one(pg, "SELECT count(*) FROM sla_incident WHERE done_at IS "
               "NULL") == "0"
    # October is over: each agreement's kept incidents added up, and the
    # month's incidents counted
    assert pg.query("SELECT agreement, n, failures, tto_breaches, "
                    "ttr_breaches, spread FROM sla_incident_month WHERE "
                    "starts_at = '2026-10-01 00:00+09' ORDER BY 1") == [
        ["jinji-sla", "0", "0", "0", "0", "{0,0,0,0,0}"],
        # A-D, D open at the end of October; the breaches as listed
        ["juki-ola", "4", "4", "1", "1", "{0,0,0,2,1}"],
        ["juki-sla", "4", "4", "1", "1", "{2,0,0,1,0}"]], pg.query(
            "SELECT * FROM sla_incident_month")
    assert pg.query("SELECT agreement, ref, metric FROM sla_month_breach "
                    "WHERE starts_at = '2026-10-01 00:00+09' "
                    "ORDER BY 2, 1, 3") == [
        ["juki-ola", "INC-000001", "ttr"], ["juki-ola", "INC-000002", "tto"],
        ["juki-sla", "INC-000002", "tto"], ["juki-sla", "INC-000003", "ttr"]]
    # November: D's OLA breach, which ran out on 11/1, is November's
    assert pg.query("SELECT agreement, ref, metric FROM sla_month_breach "
                    "WHERE starts_at = '2026-11-01 00:00+09' "
                    "ORDER BY 2, 1, 3") == [
        ["juki-ola", "INC-000004", "ttr"]]
    assert one(pg, "SELECT count(*) FROM sla_count_month WHERE starts_at "
               "= '2026-10-01 00:00+09' AND kind = '*'") == "1"
    again = json.loads(report(env, "--month", "2026-10", "--format",
                              "json"))
    assert again == doc, (again, doc)
    # nothing left to do
    assert pg.query("SELECT * FROM sla_refresh('Asia/Tokyo', 100000, "
                    "'2026-10-01')") == [["0", "0"]]


def across_month_end(pg, env):
    """G and F, open at the end of August: each breach in one month."""
    log("open across a month's end: a breach counts where it ran out")

    def month(m):
        doc = json.loads(report(env, "--month", m, "--json", "--service",
                                "juki"))
        figs = {a["agreement"]: a for a in doc["agreements"]}
        inc = {name: {r: (i["tto_s"], i["ttr_s"], i["tto_breach"],
                          i["ttr_breach"], i["open_at_end"])
                      for r, i in incidents(a).items()}
               for name, a in figs.items()}
        return doc, figs, inc

    def breaches(doc):
        return [(b["agreement"], b["ref"], b["metric"], b["over_s"],
                 b["open_at_end"]) for b in doc["breaches"]]

    pg.query("DELETE FROM sla_incident_month")
    pg.query("DELETE FROM sla_month_breach")
    pg.query("UPDATE sla_incident SET done_at = NULL")
    aug, figs, inc = month("2026-08")
    assert inc == {
        "juki-sla": {"INC-000006": (300, 124200, False, True, True),
                     "INC-000007": (600, 3600, False, False, True)},
        "juki-ola": {"INC-000006": (300, 486000, False, True, True),
                     "INC-000007": (600, 3600, False, False, True)}}, inc
    assert incidents(figs["juki-sla"])["INC-000007"]["paused_s"] == 28800
    assert breaches(aug) == [
        ("juki-ola", "INC-000006", "ttr", 313200, True),
        ("juki-sla", "INC-000006", "ttr", 37800, True)], breaches(aug)
    for name in ("juki-sla", "juki-ola"):
        a = figs[name]
        assert (a["count"], a["ttr_breaches"], a["mtta_s"], a["mttr_s"]) \
            == (2, 1, 450, None), a
    sep, figs, inc = month("2026-09")
    assert inc == {
        "juki-sla": {"INC-000006": (300, 129600, False, False, False),
                     "INC-000007": (600, 42300, False, True, False)},
        "juki-ola": {"INC-000006": (300, 522000, False, False, False),
                     "INC-000007": (600, 97200, False, True, False)}}, inc
    assert breaches(sep) == [
        ("juki-ola", "INC-000007", "ttr", 10800, False),
        ("juki-sla", "INC-000007", "ttr", 13500, False)], breaches(sep)
    assert (figs["juki-sla"]["mtta_s"], figs["juki-sla"]["mttr_s"],
            figs["juki-ola"]["mttr_s"]) == (None, 85950, 309600), figs
    assert sep["counts"]["by_priority"] == {}, sep["counts"]

    # kept in the background, the months read the same
    pg.query("SELECT sla_refresh('Asia/Tokyo', 100000, '2026-08-01')")
    assert pg.query("SELECT to_char(starts_at AT TIME ZONE 'Asia/Tokyo', "
                    "'YYYY-MM'), agreement, ref FROM sla_month_breach WHERE "
                    "starts_at < '2026-10-01 00:00+09' AND agreement LIKE "
                    "'juki-%' ORDER BY 1, 2, 3") == [
        ["2026-08", "juki-ola", "INC-000006"],
        ["2026-08", "juki-sla", "INC-000006"],
        ["2026-09", "juki-ola", "INC-000007"],
        ["2026-09", "juki-sla", "INC-000007"]]
    assert month("2026-08")[0] == aug and month("2026-09")[0] == sep


def late_state_change(pg, env):
    """A state change dated in a kept day drops the days it reaches."""
    log("kept figures: a late state change drops what it reaches")
    before = json.loads(report(env, "--month", "2026-10", "--format",
                               "json", "--service", "juki"))
    pg.query("SELECT sla_refresh('Asia/Tokyo', 100000, '2026-10-01')")
    pg.query("INSERT INTO state_event (source, source_seq, host, "
             "check_name, check_kind, segment, old_state, new_state, "
             "observed_at) VALUES ('late', 1, 'juki-ap01', 'tcp/80', 'tcp', "
             "'core', 'OK', 'CRITICAL', '2026-10-20 03:00+09'), ('late', 2, "
             "'juki-ap01', 'tcp/80', 'tcp', 'core', 'CRITICAL', 'OK', "
             "'2026-10-20 04:00+09')")
    assert one(pg, "SELECT count(*) FROM sla_day WHERE agreement LIKE "
               "'juki-%' AND ends_at > '2026-10-20 03:00+09' AND starts_at "
               "< '2026-11-01 00:00+09'") == "0"
    assert one(pg, "SELECT count(*) FROM sla_day WHERE agreement LIKE "
               "'juki-%' AND ends_at <= '2026-10-20 00:00+09' AND "
               "starts_at >= '2026-10-01 00:00+09'") == "38"
    assert one(pg, "SELECT count(*) FROM sla_day WHERE agreement = "
               "'jinji-sla' AND starts_at >= '2026-10-01 00:00+09' AND "
               "ends_at <= '2026-11-01 00:00+09'") == "31"
    partly = json.loads(report(env, "--month", "2026-10", "--format",
                               "json", "--service", "juki"))
    pg.query("DELETE FROM sla_day")
    live = json.loads(report(env, "--month", "2026-10", "--format", "json",
                             "--service", "juki"))
    assert partly == live, (partly, live)
    # an hour at night: down for the 24x7 OLA only
    b, a = agreement(before, "juki-ola"), agreement(live, "juki-ola")
    assert a["down_s"] == b["down_s"] + 3600, (a, b)
    b, a = agreement(before, "juki-sla"), agreement(live, "juki-sla")
    assert a["down_s"] == b["down_s"], (a, b)

    log("kept figures: a maintenance window, an incident changed")
    pg.query("SELECT sla_refresh('Asia/Tokyo', 100000, '2026-10-01')")
    pg.query("UPDATE downtime_window SET ends_at = '2026-10-21 15:00+09' "
             "WHERE name = 'juki-patch'")
    assert one(pg, "SELECT string_agg(DISTINCT to_char(starts_at AT TIME "
               "ZONE 'Asia/Tokyo', 'MM-DD'), ',') FROM sla_day WHERE starts_at >= "
               "'2026-10-20 00:00+09' AND ends_at <= "
               "'2026-10-23 00:00+09'") == "10-20,10-22"
    pg.query("UPDATE incident SET acknowledged_at = acknowledged_at "
             "- interval '1 minute' WHERE id = 1")
    assert pg.query("SELECT agreement, done_at IS NULL FROM sla_incident "
                    "WHERE incident_id = 1 ORDER BY 1") == [
        ["juki-ola", "t"], ["juki-sla", "t"]]
    # its month's sums and counts go with it; the others stay
    assert pg.query("SELECT agreement FROM sla_incident_month WHERE "
                    "starts_at = '2026-10-01 00:00+09'") == [["jinji-sla"]]
    assert one(pg, "SELECT count(*) FROM sla_count_month WHERE starts_at "
               "= '2026-10-01 00:00+09'") == "0"
    partly = json.loads(report(env, "--month", "2026-10", "--format",
                               "json", "--service", "juki"))
    pg.query("DELETE FROM sla_day")
    pg.query("UPDATE sla_incident SET done_at = NULL")
    live = json.loads(report(env, "--month", "2026-10", "--format", "json",
                             "--service", "juki"))
    assert partly == live, (partly, live)
    assert incidents(agreement(live, "juki-ola"))["INC-000001"]["tto_s"] \
        == incidents(agreement(before, "juki-ola"))["INC-000001"][
            "tto_s"] - 60


def in_browser(text, work):
    """The page as Chromium prints it on A4, and a screenshot of it."""
    log("the HTML report in Chromium: printed on A4, and a screenshot")
    page = os.path.join(work, "sla-2026-10.html")
    with open(page, "w", encoding="utf-8") as f:
        f.write(text)
    pdf = harness.artifact("sla-report-2026-10.pdf")
    png = harness.artifact("sla-report-2026-10.png")
    for path in (pdf, png):
        if os.path.exists(path):
            os.unlink(path)
    rc, out, err = harness.chromium("--no-pdf-header-footer",
                                    "--print-to-pdf=" + pdf,
                                    "file://" + page)
    assert rc == 0 and os.path.exists(pdf), (rc, err[-2000:])
    pages, (w, h) = harness.pdf_pages(pdf)
    # A4 is 595 x 842 points; three agreements and four breaches with
    # the charts (which never break) take two sheets at most
    assert pages in (1, 2) and abs(w - 595.3) < 1 and abs(h - 841.9) < 1, \
        (pages, w, h)
    rc, out, err = harness.chromium("--screenshot=" + png,
                                    "--window-size=1240,1754",
                                    "file://" + page)
    assert rc == 0 and os.path.getsize(png) > 10000, (rc, err[-2000:])


def check_html(text):
    assert text.startswith("<!DOCTYPE html>\n<html lang=\"ja\">"), text[:80]
    assert "@page { size: A4;" in text, text[:800]
    # the network is closed: no script, no link, no remote anything
    for bad in ("<script", "<link", "src=", "href=", "url(", "@import"):
        assert bad not in text, bad
    page = Page()
    page.feed(text)
    words = "".join(page.text)
    assert "SLA/OLA 月次報告 2026-10" in words and "速報値（未確定）" in \
        words, words[:300]
    assert "98.6245%" in words and "85.8871%" in words and "データなし" in \
        words, words
    assert [a["id"] for t, a in page.elements if t == "svg"] == [
        "availability", "weeks", "ttr"]
    bars = {a["data-agreement"]: a["data-value"] for t, a in page.elements
            if t == "rect" and "data-agreement" in a}
    assert bars == {"juki-sla": "98.6245", "juki-ola": "85.8871"}, bars
    targets = [a["data-target"] for t, a in page.elements
               if t == "line" and "data-target" in a]
    # jinji-sla, juki-sla, juki-ola: by service, SLA first
    assert targets == ["99.5000", "99.5000", "95.0000"], targets
    counts = [a["data-count"] for t, a in page.elements
              if t == "rect" and "data-count" in a]
    # weeks from Monday: 10/1-10/4, 10/5-11 (A), 12-18 (B), 19-25 (C),
    # 26-31 (D); then SLA times to restore: A and B within 1 h, C 8-24 h
    assert counts == ["0", "1", "1", "1", "1", "2", "0", "0", "1", "0"], \
        counts
    assert "10/26-10/31" in words and "8-24時間" in words, words
    # the breaches, with the open-at-end state in words
    assert words.count("復旧済み") == 4, words


def test_api(pg, env, work):
    log("the same report through incidentd's API, by role")
    ctl = harness.binary("incidentctl")
    for name, role in (("kansa", "viewer"), ("vendor", "outsourcer")):
        p = subprocess.run([ctl, "user", "add", name, "--user-role", role,
                            "--as", "課長", "--role", "administrator"],
                           env=env, input="a long enough password\n",
                           capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
    port = harness.free_port()
    conf = os.path.join(work, "api.yaml")
    with open(conf, "w", encoding="utf-8") as f:
        f.write(CONF + "http:\n  listen: 127.0.0.1:%d\n"
                "  secure_cookies: false\n" % port)
    # nothing kept: incidentd works it out again
    pg.query("DELETE FROM sla_day")
    inc = harness.Daemon("incidentd", ["-f", conf], env,
                         os.path.join(work, "api.log")).start()
    try:
        harness.wait_for("the listener", lambda: harness.port_open(
            "127.0.0.1", port))
        # in the background, incidentd keeps every agreement's days from
        # the first of last month to yesterday
        want = one(pg, "SELECT 3 * ((now() AT TIME ZONE 'Asia/Tokyo')::date"
                   " - date_trunc('month', (now() AT TIME ZONE 'Asia/Tokyo')"
                   " - interval '1 month')::date)")
        harness.wait_for("incidentd to keep %s agreement days" % want,
                         lambda: one(pg, "SELECT count(*) FROM sla_day "
                                     "WHERE starts_at >= date_trunc('month',"
                                     " now() - interval '1 month', "
                                     "'Asia/Tokyo')") == want)
        base = "http://127.0.0.1:%d/api/v1" % port

        def get(path, cookie=None):
            req = urllib.request.Request(base + path)
            if cookie:
                req.add_header("Cookie", cookie)
            try:
                with urllib.request.urlopen(req, timeout=30) as r:
                    return r.status, json.loads(r.read())
            except urllib.error.HTTPError as e:
                return e.code, json.loads(e.read())

        def login(user):
            time.sleep(0.25)
            req = urllib.request.Request(
                base + "/login", method="POST", data=json.dumps(
                    {"user": user, "password": "a long enough password"})
                .encode(), headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.headers["Set-Cookie"].split(";")[0]
        assert get("/sla?month=2026-10")[0] == 401
        viewer = login("kansa")
        st, doc = get("/sla?month=2026-10", viewer)
        assert st == 200, doc
        cli = json.loads(report(env, "--month", "2026-10", "--json"))
        assert doc["agreements"] == cli["agreements"], "API and CLI differ"
        assert doc["breaches"] == cli["breaches"]
        st, doc = get("/sla?month=2026-10&version=1", viewer)
        assert st == 200 and doc["version"] == 1 and doc["approved_by"] \
            == "課長", doc
        assert get("/sla?month=2026-10&version=7", viewer)[0] == 404
        st, doc = get("/sla?month=2026-10&department=%E4%BD%8F%E6%B0%91"
                      "%E8%AA%B2", viewer)
        assert [a["agreement"] for a in doc["agreements"]] == \
            ["juki-sla"], doc
        for q in ("", "?month=2026-13", "?month=2026-10&service=a&"
                  "provider=b", "?month=2026-10&version=x"):
            assert get("/sla" + q, viewer)[0] == 400, q
        vendor = login("vendor")
        st, doc = get("/sla?month=2026-10", vendor)
        assert st == 200 and [a["agreement"] for a in doc["agreements"]] \
            == ["juki-ola"], doc
        assert {b["agreement"] for b in doc["breaches"]} == {"juki-ola"}
        assert "counts" not in doc, doc
        assert get("/sla?month=2026-10&version=1", vendor)[0] == 403
        assert inc.stop() == 0
    except Exception:
        print("----- incidentd log -----\n%s" % inc.log()[-5000:])
        raise


def test_config_errors(work):
    log("agreement mistakes name file:line:column")
    bad = os.path.join(work, "bad.yaml")
    with open(bad, "w", encoding="utf-8") as f:
        f.write(BAD)
    rc, _, err = run([harness.binary("incidentd"), "-n", "-f", bad])
    assert rc == 1, err
    for want in (":8:11: 'kind' must be one of sla, ola, not 'xla'",
                 ":9:14: no service named 'nosuch'",
                 ":14:12: '税務課' is not a department of service 'juki'",
                 ":15:15: no calendar named '夜間'",
                 ":16:19: 'availability' must be between 0 and 100, not "
                 "101",
                 ":17:18: 'maintenance' must be one of exclude, available",
                 ":19:7: a priority is 1-5 (or P1-P5), not 'P7'",
                 ":20:17: 'tto' must be between 1m and ",
                 ":20:22: unknown key 'ttd' in a target",
                 ":21:11: agreement 'b' is defined twice",
                 ":21:5: missing required key 'party'"):
        assert bad + want in err, (want, err)


def not_over(pg, ctl, env):
    """This month, whichever it is, cannot be closed before its end."""
    for _ in range(3):
        this, end = pg.query(
            "SELECT to_char(now() AT TIME ZONE 'Asia/Tokyo', 'YYYY-MM'), "
            "to_char(date_trunc('month', now() AT TIME ZONE 'Asia/Tokyo') "
            "+ interval '1 month', 'YYYY-MM-DD HH24:MI')")[0]
        rc, out, err = run([ctl, "report", "sla", "--month", this, "--close",
                            "--as", "課長", "--role", "administrator"],
                           env=env)
        again = one(pg, "SELECT to_char(now() AT TIME ZONE 'Asia/Tokyo', "
                    "'YYYY-MM')")
        if again != this:
            continue  # the month ended meanwhile: ask about the new one
        assert rc == 3 and "%s is not over until %s" % (this, end) in err, \
            (this, rc, out, err)
        return
    raise AssertionError("the month kept changing")


def pauses(env, pg):
    log("pauses entered after the fact, with their refusals")
    ctl = harness.binary("incidentctl")

    def expect(args, rc, text):
        r, out, err = run([ctl] + args, env=env)
        assert r == rc and text in (out + err), (args, r, out, err)
    expect(["pause", "INC-000003", "--waiting-on", "department", "--at",
            "2026-10-19 13:00"], 3, "a pause needs a reason")
    expect(["pause", "INC-000003", "--waiting-on", "nobody", "--reason",
            "x"], 3, "wait on the department, in-house or outsourcer")
    expect(["pause", "INC-000003", "--reason", "x"], 2, "--waiting-on")
    expect(["pause", "INC-000003", "--waiting-on", "department",
            "--reason", "x", "--at", "2026-10-19 09:00"], 3,
           "a pause starts between its detection (2026-10-19 10:00) and "
           "now")
    expect(["resume", "INC-000003"], 3, "INC-000003 is not paused")
    expect(["pause", "INC-000003", "--waiting-on", "department", "--reason",
            "住民課の確認待ち", "--at", "2026-10-19 13:00", "--as", "鈴木"],
           0, "INC-000003 paused, waiting on the department")
    expect(["pause", "INC-000003", "--waiting-on", "outsourcer", "--reason",
            "x"], 3, "INC-000003 is already paused since 2026-10-19 13:00, "
           "waiting on the department")
    expect(["resume", "INC-000003", "--at", "2026-10-19 12:00"], 3,
           "the pause ends after its start")
    expect(["resume", "INC-000003", "--at", "2026-10-19 15:00", "--as",
            "鈴木"], 0, "INC-000003 resumed after a pause of 02:00:00")
    expect(["pause", "INC-000003", "--waiting-on", "outsourcer", "--reason",
            "ベンダーの部品待ち", "--at", "2026-10-19 14:00"], 3,
           "the pause would overlap an earlier one")
    expect(["pause", "INC-000003", "--waiting-on", "outsourcer", "--reason",
            "ベンダーの部品待ち", "--at", "2026-10-20 09:00"], 0, "paused")
    expect(["resume", "INC-000003", "--at", "2026-10-20 10:00"], 0,
           "resumed after a pause of 01:00:00")
    notes = pg.query("SELECT actor, body FROM incident_note ORDER BY id")
    assert notes[:2] == [
        ["鈴木", "paused from 2026-10-19 13:00, waiting on the department: "
         "住民課の確認待ち"],
        ["鈴木", "resumed at 2026-10-19 15:00 after waiting 02:00 on the "
         "department"]], notes


def main():
    clean = harness.Cleanup()
    work = harness.make_workdir("/tmp/monitord-sla.")
    clean.add(lambda: shutil.rmtree(work, ignore_errors=True))
    inc = None
    try:
        test_config_errors(work)
        pg = harness.Postgres(os.path.join(work, "pg")).start()
        clean.add(pg.stop)
        env = pg.env()
        run([harness.binary("incidentctl"), "migrate"], env=env,
            check=True)
        conf = os.path.join(work, "incidentd.yaml")
        with open(conf, "w", encoding="utf-8") as f:
            f.write(CONF)
        rc, out, err = run([harness.binary("incidentd"), "-n", "-f", conf])
        assert rc == 0 and "3 agreements" in out, (out, err)
        # before incidentd ever ran, a report says why it has none
        rc, out, err = run([harness.binary("incidentctl"), "-f", conf,
                            "report", "sla", "--month", "2026-10"], env=env)
        assert rc == 0 and "no agreements" in out and conf + " defines 3 " \
            "agreements that the database does not hold yet (jinji-sla, " \
            "juki-ola, juki-sla): incidentd stores them when it connects" \
            in err, (rc, out, err)
        inc = harness.Daemon("incidentd", ["-f", conf], env,
                             os.path.join(work, "incidentd.log")).start()
        clean.add(inc.kill)
        wait_for("the agreements stored", lambda: one(
            pg, "SELECT count(*) FROM agreement") == "3")
        assert inc.stop() == 0
        assert pg.query("SELECT agreement, priority, tto, ttr FROM "
                        "agreement_target ORDER BY 1, 2") == [
            ["juki-ola", "1", "00:30:00", "24:00:00"],
            ["juki-ola", "2", "01:00:00", "24:00:00"],
            ["juki-ola", "3", "02:00:00", "48:00:00"],
            ["juki-sla", "1", "00:15:00", "04:00:00"],
            ["juki-sla", "2", "00:30:00", "08:00:00"],
            ["juki-sla", "3", "01:00:00", "24:00:00"]]
        pg.psql(pg.dbname, FIXTURE)
        pauses(env, pg)

        log("October as JSON: every figure as worked out above")
        rc, out, err = run([harness.binary("incidentctl"), "-f", conf,
                            "report", "sla", "--month", "2026-10"], env=env)
        assert rc == 0 and err == "", err  # stored now: nothing to say
        doc = json.loads(report(env, "--month", "2026-10", "--format",
                                "json"))
        sla = agreement(doc, "juki-sla")
        assert (sla["agreed_s"], sla["excluded_s"], sla["nodata_s"],
                sla["down_s"], sla["planned_s"]) == (661500, 7200, 0, 9000,
                                                     3600), sla
        assert sla["availability"] == 98.6245 and sla["met"] is False, sla
        assert (sla["count"], sla["tto_breaches"], sla["ttr_breaches"]) == \
            (4, 1, 1), sla
        assert (sla["mtta_s"], sla["mttr_s"], sla["mtbf_s"]) == \
            (1275, 12300, 161325), sla
        got = {r: (i["tto_s"], i["ttr_s"], i["tto_breach"], i["ttr_breach"],
                   i["open_at_end"], i["paused_s"])
               for r, i in incidents(sla).items()}
        assert got == {
            "INC-000001": (600, 2700, False, False, False, 0),
            "INC-000002": (2400, 2700, True, False, False, 0),
            "INC-000003": (300, 31500, False, True, False, 10800),
            "INC-000004": (1800, 4500, False, False, True, 0)}, got
        # the drill-down: the intervals behind those sums (in JST)
        assert all(i["starts_at"].endswith("+09:00")
                   for i in sla["intervals"]), sla["intervals"]
        got = [(i["kind"], i["starts_at"][5:16], i["ends_at"][11:16],
                i["seconds"]) for i in sla["intervals"]]
        assert got == [
            ("down", "10-09T17:00", "17:15", 900),
            ("down", "10-13T08:30", "09:00", 1800),
            ("down", "10-14T16:45", "17:15", 1800),
            ("down", "10-15T08:30", "08:45", 900),
            ("excluded", "10-21T12:00", "14:00", 7200),
            ("planned", "10-21T13:00", "14:00", 3600),
            ("down", "10-21T14:00", "15:00", 3600)], got
        assert sum(i["seconds"] for i in sla["intervals"]
                   if i["kind"] == "down") == sla["down_s"]
        ola = agreement(doc, "juki-ola")
        assert (ola["agreed_s"], ola["excluded_s"], ola["nodata_s"],
                ola["down_s"], ola["planned_s"]) == (2678400, 0, 0, 378000,
                                                     3600), ola
        assert ola["availability"] == 85.8871 and ola["met"] is False, ola
        assert (ola["mtta_s"], ola["mttr_s"], ola["mtbf_s"]) == \
            (15000, 153600, 575100), ola
        got = {r: (i["tto_s"], i["ttr_s"], i["tto_breach"],
                   i["ttr_breach"], i["open_at_end"])
               for r, i in incidents(ola).items()}
        assert got == {
            "INC-000001": (600, 316800, False, True, False),
            "INC-000002": (57300, 57600, True, False, False),
            "INC-000003": (300, 86400, False, False, False),
            "INC-000004": (1800, 115200, False, False, True)}, got
        jinji = agreement(doc, "jinji-sla")
        assert (jinji["agreed_s"], jinji["nodata_s"], jinji["down_s"],
                jinji["availability"], jinji["met"], jinji["count"],
                jinji["mtbf_s"]) == (661500, 661500, 0, None, None, 0,
                                     None), jinji
        assert [(b["agreement"], b["ref"], b["metric"], b["over_s"])
                for b in doc["breaches"]] == [
            ("juki-ola", "INC-000001", "ttr", 230400),
            ("juki-ola", "INC-000002", "tto", 53700),
            ("juki-sla", "INC-000002", "tto", 600),
            ("juki-sla", "INC-000003", "ttr", 2700)], doc["breaches"]
        assert doc["counts"] == {
            "by_priority": {"1": 1, "2": 2, "3": 1},
            "by_segment": {"core": 4},
            "by_cause": {"-": 1, "ソフトウェア不具合": 2,
                         "ハードウェア故障": 1},
            "by_day": {"09": 1, "14": 1, "19": 1, "30": 1}}, doc["counts"]
        kept(pg, env, doc)
        across_month_end(pg, env)

        log("November: the incident open across the boundary, whole")
        doc = json.loads(report(env, "--month", "2026-11", "--json",
                                "--service", "juki"))
        assert [a["agreement"] for a in doc["agreements"]] == [
            "juki-sla", "juki-ola"], doc
        d = incidents(agreement(doc, "juki-sla"))
        assert list(d) == ["INC-000004"] and (
            d["INC-000004"]["ttr_s"], d["INC-000004"]["open_at_end"]) == \
            (9900, False), d
        d = incidents(agreement(doc, "juki-ola"))
        assert (d["INC-000004"]["ttr_s"], d["INC-000004"]["ttr_breach"]) \
            == (237600, True), d
        assert [(b["agreement"], b["ref"], b["over_s"])
                for b in doc["breaches"]] == [
            ("juki-ola", "INC-000004", 64800)], doc["breaches"]
        # detected in October: not counted again in November
        assert doc["counts"]["by_priority"] == {}, doc["counts"]

        log("filters, text and CSV")
        doc = json.loads(report(env, "--month", "2026-10", "--json",
                                "--department", "住民課"))
        assert [a["agreement"] for a in doc["agreements"]] == ["juki-sla"]
        doc = json.loads(report(env, "--month", "2026-10", "--json",
                                "--provider", "ベンダー"))
        assert [a["agreement"] for a in doc["agreements"]] == ["juki-ola"]
        text = report(env, "--month", "2026-10")
        lines = text.splitlines()
        assert lines[0] == "SLA/OLA report for 2026-10 (Asia/Tokyo); " \
            "times in H:MM:SS of agreed service time", text
        row = [l for l in lines if l.startswith("juki-sla")][0].split()
        assert row == ["juki-sla", "SLA", "juki", "住民課", "庁舎",
                       "183:45:00", "2:00:00", "0:00:00", "2:30:00",
                       "98.6245%", "99.5000%", "NO", "4", "1", "1",
                       "0:21:15", "3:25:00", "44:48:45"], row
        row = [l for l in lines if l.startswith("jinji-sla")][0].split()
        assert row[9] == "no" and row[10] == "data", row
        assert "Breaches: 4" in text, text
        assert "  by priority: P1 1, P2 2, P3 1" in text, text
        # bytes as they are: the byte order mark and CRLF for Excel
        p = subprocess.run([harness.binary("incidentctl"), "report", "sla",
                            "--month", "2026-10", "--format", "csv"],
                           env=env, stdout=subprocess.PIPE, check=True)
        raw = p.stdout
        assert raw.startswith(b"\xef\xbb\xbfagreement,kind,service,"), raw
        rows = raw[3:].decode("utf-8").split("\r\n")
        assert rows[-1] == "" and len(rows) == 5, rows
        juki = [r for r in rows if r.startswith("juki-sla,")][0].split(",")
        assert juki[:14] == ["juki-sla", "sla", "juki", "住民課", "庁舎",
                             "exclude", "661500", "7200", "0", "9000",
                             "3600", "98.6245", "99.5000", "false"], juki
        jinji = [r for r in rows if r.startswith("jinji-sla,")][0]
        # no data: empty availability and "met", never 100
        assert jinji == "jinji-sla,sla,jinji,人事課,庁舎,exclude,661500,0," \
            "661500,0,0,,99.5000,,0,0,0,,,", jinji

        log("HTML for A4 with its SVG charts, nothing fetched")
        html = report(env, "--month", "2026-10", "--format", "html")
        check_html(html)
        in_browser(html, work)

        log("closing October: an administrator's approval, in versions")
        ctl = harness.binary("incidentctl")

        def expect(args, rc, text):
            r, out, err = run([ctl] + args, env=env)
            assert r == rc and text in (out + err), (args, r, out, err)
            return out
        month = ["report", "sla", "--month", "2026-10"]
        expect(month + ["--close", "--as", "鈴木"], 3,
               "closing a month is an administrator's approval, not the "
               "operator role's")
        not_over(pg, ctl, env)
        expect(month + ["--close", "--as", "課長", "--role",
                        "administrator"], 0,
               "closed 2026-10 as version 1, approved by 課長")
        expect(month + ["--close", "--as", "課長", "--role",
                        "administrator"], 3,
               "2026-10 was closed as version 1 by 課長 on ")
        # a late correction: D waited on the department 16:15-16:45, which
        # nobody had entered; the figures change, version 1 does not
        pg.query("INSERT INTO incident_pause (incident_id, party, "
                 "started_at, ended_at, reason) VALUES (4, 'department', "
                 "'2026-10-30 16:15+09', '2026-10-30 16:45+09', '確認待ち')")
        expect(month + ["--close", "--as", "課長", "--role",
                        "administrator", "--reason",
                        "INC-000004 の保留を追記"], 0,
               "closed 2026-10 as version 2")
        out = expect(month + ["--versions"], 0, "INC-000004 の保留を追記")
        assert [l.split()[:2] for l in out.splitlines()[1:]] == [
            ["1", "課長"], ["2", "課長"]], out
        v1 = json.loads(expect(month + ["--version", "1", "--json"], 0, ""))
        v2 = json.loads(expect(month + ["--version", "2", "--json"], 0, ""))
        assert (v1["version"], v1["approved_by"], v1["reason"]) == \
            (1, "課長", ""), v1
        d1 = incidents(agreement(v1, "juki-sla"))["INC-000004"]
        d2 = incidents(agreement(v2, "juki-sla"))["INC-000004"]
        assert (d1["ttr_s"], d2["ttr_s"]) == (4500, 4500 - 1800), (d1, d2)
        assert (d1["tto_s"], d2["tto_s"]) == (1800, 1800 - 900), (d1, d2)
        out = expect(month + ["--version", "1"], 0,
                     "closed: version 1 approved by 課長 at ")
        out = expect(month + ["--version", "2", "--format", "html"], 0,
                     "確定 第2版（承認: 課長 ")
        assert "理由: INC-000004 の保留を追記" in out, out[:600]
        out = expect(month, 0, "live figures; closed as version 2, see "
                     "--version")
        expect(month + ["--version", "9"], 5, "2026-10 has no version 9")
        expect(month + ["--version", "1", "--service", "juki"], 2,
               "--version go alone")
        for sql in ("UPDATE sla_report_version SET approved_by = 'x'",
                    "DELETE FROM sla_report_version",
                    "TRUNCATE sla_report_version"):
            try:
                pg.query(sql)
            except subprocess.CalledProcessError as e:
                assert "sla_report_version is append-only" in e.stderr, \
                    e.stderr
            else:
                raise AssertionError("%s was allowed" % sql)
        assert one(pg, "SELECT count(*) FROM sla_report_version WHERE month "
                   "= '2026-10'") == "2"

        test_api(pg, env, work)
        late_state_change(pg, env)

        log("bad arguments")
        ctl = harness.binary("incidentctl")
        for args, want in (
                (["report", "sla"], "--month YYYY-MM is needed"),
                (["report", "sla", "--month", "2026-13"], "--month"),
                (["report", "sla", "--month", "2026-10", "--format",
                  "xml"], "--format is text, csv, json or html"),
                (["report", "sla", "--month", "2026-10", "--service", "a",
                  "--provider", "b"], "one of --service"),
                (["report", "ola", "--month", "2026-10"], "report sla")):
            rc, out, err = run([ctl] + args, env=env)
            assert rc == 2 and want in err, (args, rc, err)
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
