"""The console's process holds no notification credential.

incidentd runs its HTTP side (the console, the API, the acknowledgement
links) in a process of its own, which gets the configuration with the SMTP
password and the credential headers of the webhooks blanked.  The test
reads both processes' memory through /proc (as root): the password and the
webhook token are in incidentd's memory and not in the console's.  The
console still works; the console's process is started again when it dies,
and goes when incidentd is killed with SIGKILL.
"""

import os
import re
import signal
import sys
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import harness  # noqa: E402
from harness import log, wait_for  # noqa: E402

PASSWORD = "smtp-Pw-7f3a9c1e5b"
TOKEN = "hook-Tk-0d8e6b2a4c"
SECRET = "ack-Sc-5e1f9a7c3b2d8e6f0a4c"


def incidentd_yaml(http_port):
    return """\
instance: incidentd-privsep
log_level: debug
smtp:
  url: smtp://127.0.0.1:1
  from: kanshi@city.example.jp
  username: kanshi
  password: %s
webhook:
  headers:
    - "Authorization: Bearer %s"
    - "Content-Type: application/json"
http:
  listen: 127.0.0.1:%d
  secure_cookies: false
ack:
  url: http://127.0.0.1:%d/
  secret: %s
contacts:
  - name: 当番
    email: toban@city.example.jp
    webhook: http://127.0.0.1:1/hook
""" % (PASSWORD, TOKEN, http_port, http_port, SECRET)


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def memory_has(pid, needle):
    """Whether any readable mapping of the process holds needle."""
    needle = needle.encode()
    with open("/proc/%d/maps" % pid) as maps, \
            open("/proc/%d/mem" % pid, "rb", 0) as mem:
        for line in maps:
            m = re.match(r"([0-9a-f]+)-([0-9a-f]+) r", line)
            if m is None or "[vsyscall]" in line or "[vvar]" in line:
                continue
            start, end = int(m.group(1), 16), int(m.group(2), 16)
            if end - start > (1 << 30):
                continue  # a sanitizer's shadow: reserved, never data
            pos, tail = start, b""
            while pos < end:
                try:
                    mem.seek(pos)
                    chunk = mem.read(min(1 << 20, end - pos))
                except (OSError, ValueError, OverflowError):
                    break
                if needle in tail + chunk:
                    return True
                tail = chunk[-len(needle):]
                pos += len(chunk) or (1 << 20)
    return False


def main():
    clean, work, pg = harness.test_setup("/tmp/monitord-privsep.")
    env = pg.env()
    try:
        port = harness.free_port()
        conf = os.path.join(work, "incidentd.yaml")
        with open(conf, "w") as f:
            f.write(incidentd_yaml(port))
        inc = harness.Daemon("incidentd", ["-f", conf], env,
                             os.path.join(work, "incidentd.log")).start()
        clean.add(inc.kill)
        kids = wait_for("the console's process", lambda: children(
            inc.proc.pid))
        assert len(kids) == 1, kids
        child = kids[0]
        with open("/proc/%d/cmdline" % child, "rb") as f:
            assert b"\0-H\0" in f.read()
        wait_for("the console answering", lambda: harness.port_open(
            "127.0.0.1", port))
        status, body = harness.http_json("http://127.0.0.1:%d" % port,
                                         "GET", "/api/v1/me")[:2]
        assert status == 401, (status, body)

        log("incidentd holds the credentials; the console's process not")
        assert memory_has(inc.proc.pid, PASSWORD)
        assert memory_has(inc.proc.pid, TOKEN)
        assert not memory_has(child, PASSWORD), "the SMTP password"
        assert not memory_has(child, TOKEN), "the webhook token"
        assert memory_has(child, SECRET), "it needs the ack secret"

        log("a console process that dies is started again")
        os.kill(child, signal.SIGKILL)
        # One reading of the list per try: the killed child can be reaped
        # between two readings, and an empty list is no new process.
        old = child
        kids = wait_for("a new console process", lambda: [
            k for k in children(inc.proc.pid) if k != old], timeout=10)
        child = kids[0]
        wait_for("the console answering again", lambda: harness.port_open(
            "127.0.0.1", port))

        log("incidentd killed -9: its console process goes too")
        inc.kill()
        t0 = time.monotonic()
        wait_for("the console process gone", lambda: not os.path.exists(
            "/proc/%d/cmdline" % child) or open(
            "/proc/%d/stat" % child).read().split()[2] == "Z", timeout=10)
        log("gone in %.1f s" % (time.monotonic() - t0))
        wait_for("the port free", lambda: not harness.port_open(
            "127.0.0.1", port))
        log("PASS")
        return 0
    except Exception:
        traceback.print_exc()
        path = os.path.join(work, "incidentd.log")
        if os.path.exists(path):
            with open(path, encoding="utf-8", errors="replace") as f:
                sys.stderr.write("".join(f.readlines()[-40:]))
        return 1
    finally:
        clean.run()


if __name__ == "__main__":
    sys.exit(main())
