"""Runs the sample municipal network: the README's first command.

    devenv.py demo --builddir BUILD   start everything, show a live incident,
                                      run until Ctrl-C
    devenv.py stop                    stop a demo running elsewhere

Everything lives under var/ in the work tree: the PostgreSQL cluster
(var/pg), the SMTP sink's maildir (var/smtp/maildir), the daemons' logs
(var/log) and the PIDs (var/demo.pids).  Running it again reuses the cluster
and stops a previous demo first.
"""

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

TOP = harness.SRCDIR
VAR = os.path.join(TOP, "var")
PIDFILE = os.path.join(VAR, "demo.pids")
PG_PORT = 55432
SMTP_PORT = 2525
CONSOLE_PORT = 8026
# The service that is down in the sample network, so that the demo shows a
# live incident: the finance network's accounting application server.
DOWN = ["zaimu-ap01:18443"]
# The sample network's switches answer SNMP through one snmpd (port 16161),
# with the credentials of conf/monitord.yaml.
SNMP_ADDRS = ["127.10.0.2", "127.20.0.2"]
SNMP_PORT = 16161
SNMPD_CONF = """rocommunity jouhou-ro 127.0.0.0/8
createUser kanshi SHA kanshi-auth-2026 AES kanshi-priv-2026
rouser kanshi priv
sysName sample-switch
"""


def stop_previous():
    """Stops the processes a previous demo recorded, by their PIDs."""
    try:
        with open(PIDFILE) as f:
            pids = json.load(f)
    except (OSError, ValueError):
        pids = {}
    for name, pid in pids.get("processes", {}).items():
        try:
            os.kill(pid, signal.SIGTERM)
            print("stopped %s (pid %d)" % (name, pid))
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 15
    for pid in pids.get("processes", {}).values():
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
                time.sleep(0.1)
            except ProcessLookupError:
                break
    if pids.get("pg"):
        pg = harness.Postgres(os.path.join(VAR, "pg"), PG_PORT)
        if pg.running():
            try:
                pg.stop()
            except subprocess.CalledProcessError:
                # the demo, told to stop, may be stopping it right now
                time.sleep(2)
                if pg.running():
                    raise
            print("stopped PostgreSQL")
    try:
        os.unlink(PIDFILE)
    except FileNotFoundError:
        pass


def console_login(env):
    """A console account for the demo: kanri, an administrator, with a new
    password each run.  Returns the password."""
    password = secrets.token_urlsafe(12)
    ctl = [harness.binary("incidentctl")]
    admin = ["--as", "demo", "--role", "administrator"]
    rc, _, _ = harness.run(ctl + ["user", "add", "kanri", "--user-role",
                                  "administrator", "--display-name",
                                  "情報システム課 管理者"] + admin,
                           env=env, input=password + "\n")
    if rc != 0:
        harness.run(ctl + ["user", "passwd", "kanri"] + admin, env=env,
                    input=password + "\n", check=True)
    return password


def demo(builddir):
    os.environ["MONITORD_BUILDDIR"] = builddir
    harness.BUILDDIR = builddir
    stop_previous()
    os.makedirs(os.path.join(VAR, "log"), exist_ok=True)
    conf = os.path.join(TOP, "conf")
    procs = {}

    def record():
        with open(PIDFILE, "w") as f:
            json.dump({"pg": True, "processes": {
                n: p.pid for n, p in procs.items()}}, f)

    pg = harness.Postgres(os.path.join(VAR, "pg"), PG_PORT).start()
    record()
    env = pg.env()
    harness.run([harness.binary("incidentctl"), "migrate"], env=env,
                check=True)
    # the sample config, with its journal in var/
    mon_conf = os.path.join(VAR, "monitord.yaml")
    with open(os.path.join(conf, "monitord.yaml"), encoding="utf-8") as f:
        text = f.read()
    jpath = "path: /var/lib/monitord/journal"
    assert jpath in text, "conf/monitord.yaml has no journal path"
    # it holds SNMP credentials: only its owner may read it
    with open(os.open(mon_conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                      0o600), "w", encoding="utf-8") as f:
        f.write(text.replace(jpath, "path: %s" % os.path.join(
            VAR, "monitord", "journal")))
    os.chmod(mon_conf, 0o600)
    harness.run([harness.binary("monitord"), "-n", "-f", mon_conf],
                check=True)
    harness.run([harness.binary("monitord"), "-J", "-f", mon_conf],
                check=True)
    harness.run([harness.binary("incidentd"), "-n", "-f",
                 os.path.join(conf, "incidentd.yaml")], check=True)
    # the sample config, with the console's files from this tree and
    # cookies over plain HTTP (the demo has no certificate)
    inc_conf = os.path.join(VAR, "incidentd.yaml")
    with open(os.path.join(conf, "incidentd.yaml"), encoding="utf-8") as f:
        text = f.read()
    listen = "http:\n  listen: 127.0.0.1:%d\n" % CONSOLE_PORT
    assert listen in text, "conf/incidentd.yaml has no http section"
    with open(inc_conf, "w", encoding="utf-8") as f:
        f.write(text.replace(listen, listen + "  web_root: %s\n"
                             "  secure_cookies: false\n"
                             % os.path.join(TOP, "web")))
    password = console_login(env)

    sink = harness.SmtpSink(os.path.join(VAR, "smtp"), SMTP_PORT).start()
    procs["smtp-sink"] = sink.proc
    snmpd = harness.Snmpd(os.path.join(VAR, "snmpd"), SNMP_ADDRS,
                          SNMPD_CONF, port=SNMP_PORT).start()
    procs["snmpd"] = snmpd.proc
    args = [harness.SYSTEM_PYTHON,
            os.path.join(TOP, "tests", "lib", "samplenet.py"),
            harness.binary("monitord"), mon_conf]
    for d in DOWN:
        args += ["--down", d]
    logf = open(os.path.join(VAR, "log", "samplenet.log"), "ab")
    procs["samplenet"] = subprocess.Popen(args, stdout=logf, stderr=logf,
                                          start_new_session=True)
    logf.close()
    record()
    mon = harness.Daemon("monitord", ["-f", mon_conf], env, os.path.join(
        VAR, "log", "monitord.log")).start()
    procs["monitord"] = mon.proc
    inc = harness.Daemon("incidentd", ["-f", inc_conf], env, os.path.join(
        VAR, "log", "incidentd.log")).start()
    procs["incidentd"] = inc.proc
    record()

    print("waiting for the first checks (up to a minute)...", flush=True)
    try:
        harness.wait_for("an open incident", lambda: pg.query(
            "SELECT ref FROM incident WHERE status = 'open'"), timeout=90)
        harness.wait_for("the first alert mail", sink.messages, timeout=30)
    except AssertionError as e:
        print("demo: %s; see %s" % (e, os.path.join(VAR, "log")))
    ctl = [harness.binary("incidentctl")]
    print()
    print("$ incidentctl list")
    print(harness.run(ctl + ["list"], env=env)[1])
    msgs = sink.messages()
    if msgs:
        print("mail received by the SMTP sink (%s):" % sink.maildir)
        for m in msgs:
            print("  To: %s  Subject: %s" % (m["To"], harness.subject_of(m)))
    print("""
The sample network is running (monitord, incidentd, PostgreSQL on port %d,
an SMTP sink on port %d, an snmpd for the switches).  In another terminal,
as root:

  export PGHOST=%s PGPORT=%d PGDATABASE=incidentd
  export PATH=%s:$PATH
  incidentctl list               the incidents
  incidentctl show INC-000001    one incident, its history and its mail
  incidentctl ack INC-000001     take it; then carry it through the phases:
  incidentctl advance INC-000001 isolation
                                 (see incidentctl(1) for each phase's fields)
  incidentctl history INC-000001 every move and field change, with who and why
  ls %s/new
                                 the mailbox of the sink
  tail -f %s/log/*.log
                                 what the daemons say
  curl http://127.0.0.1:9810/metrics
                                 monitord's own figures (also /healthz)
  MIBS= snmptrap -v2c -c jouhou-ro --clientaddr=127.20.0.2 127.0.0.1:1162 \\
      '' .1.3.6.1.6.3.1.1.5.3 .1.3.6.1.2.1.2.2.1.1.1 i 1
                                 a linkDown trap from jouhou-sw01

The console: http://127.0.0.1:%d/  user kanri, password %s
  (an administrator; incidentctl user add makes more, see incidentctl(1))
Ctrl-C here (or `tests/lib/devenv.sh stop`) stops everything.
""" % (PG_PORT, SMTP_PORT, pg.sock, PG_PORT, os.path.dirname(ctl[0]),
       sink.maildir, VAR, CONSOLE_PORT, password), flush=True)

    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    signal.signal(signal.SIGINT, lambda *a: stop.append(1))
    try:
        while not stop:
            time.sleep(0.5)
            for name, p in procs.items():
                if p.poll() is not None:
                    print("demo: %s exited (%s); stopping" % (
                        name, p.returncode))
                    stop.append(1)
                    break
    finally:
        print("stopping...")
        inc.stop()
        mon.stop()
        procs["samplenet"].terminate()
        procs["samplenet"].wait(10)
        snmpd.stop()
        sink.stop()
        pg.stop()
        try:
            os.unlink(PIDFILE)
        except FileNotFoundError:
            pass
        print("stopped.")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("command", choices=["demo", "stop"])
    ap.add_argument("--builddir", default=os.path.join(TOP, "build"))
    args = ap.parse_args()
    if args.command == "demo":
        demo(os.path.abspath(args.builddir))
    else:
        stop_previous()


if __name__ == "__main__":
    main()
