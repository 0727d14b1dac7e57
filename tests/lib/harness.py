"""Start and stop the real servers the integration tests and the demo need.

A private PostgreSQL cluster (initdb as the postgres user), an SMTP sink
(Debian's aiosmtpd writing a maildir), TCP listeners on 127.x addresses, and
the project's daemons.  Everything listens on loopback only and is stopped by
the PID it was started with.  Standard library only; run with
/usr/bin/python3 (Debian's Python, which has aiosmtpd).
"""

import email
import email.header
import email.policy
import mailbox
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

# The configs the tests write hold credentials, and the daemons refuse
# those that any user can read: what the tests create is not readable by
# others (directories stay traversable), as an installed config would be.
os.umask(0o026)


def _terminated(signum, frame):
    """SIGTERM (runtest.sh's time limit, say) unwinds the test, so that
    its finally clauses stop the servers it started."""
    print("[%s] terminated by signal %d: stopping what the test started"
          % (time.strftime("%H:%M:%S"), signum), flush=True)
    raise SystemExit(128 + signum)


signal.signal(signal.SIGTERM, _terminated)

PGBIN = "/usr/lib/postgresql/15/bin"
SYSTEM_PYTHON = "/usr/bin/python3"

SRCDIR = os.environ.get("MONITORD_SRCDIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
BUILDDIR = os.environ.get("MONITORD_BUILDDIR") or SRCDIR


def binary(name):
    """Path of a built program: monitord, incidentd or incidentctl."""
    path = os.path.join(BUILDDIR, name, name)
    if not os.access(path, os.X_OK):
        raise RuntimeError("%s is not built (looked for %s)" % (name, path))
    return path


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def wait_for(what, fn, timeout=30.0, interval=0.1):
    """Polls fn until it returns something true; fails after timeout.

    An AssertionError from fn counts as "not yet" (a row the daemon has
    not written yet, say) and is quoted if the wait times out."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            value = fn()
        except AssertionError as e:
            value, last = None, e
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.0f s waiting for %s%s"
                                 % (timeout, what,
                                    "" if last is None else
                                    " (last: %s)" % (last,)))
        time.sleep(interval)


def free_port(host="127.0.0.1"):
    """A TCP port that is free on host right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_open(host, port):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def make_workdir(prefix):
    """A scratch directory that the postgres user can traverse."""
    path = tempfile.mkdtemp(prefix=prefix)
    os.chmod(path, 0o755)
    return path


class Postgres:
    """A private PostgreSQL cluster under base, listening on a Unix socket
    in base/sock and on 127.0.0.1:port."""

    def __init__(self, base, port=None, dbname="incidentd"):
        self.base = os.path.abspath(base)
        self.port = port or free_port()
        self.dbname = dbname
        self.data = os.path.join(self.base, "data")
        self.sock = os.path.join(self.base, "sock")
        self.logfile = os.path.join(self.base, "postgresql.log")

    def _as_postgres(self, *args, **kw):
        if os.geteuid() != 0:
            raise RuntimeError("a private PostgreSQL cluster needs root "
                               "(initdb runs as the postgres user)")
        return subprocess.run(["runuser", "-u", "postgres", "--"] +
                              list(args), check=True,
                              stdout=subprocess.DEVNULL, **kw)

    def start(self):
        os.makedirs(self.base, exist_ok=True)
        os.chmod(self.base, 0o755)
        if not os.path.exists(os.path.join(self.data, "PG_VERSION")):
            for d in (self.data, self.sock):
                os.makedirs(d, exist_ok=True)
                shutil.chown(d, "postgres", "postgres")
            os.chmod(self.data, 0o700)
            self._as_postgres(os.path.join(PGBIN, "initdb"), "-D", self.data,
                              "-A", "trust", "-U", "postgres", "-E", "UTF8",
                              "--locale=C", "--no-sync")
        if not os.path.exists(self.logfile):
            with open(self.logfile, "w"):
                pass
            shutil.chown(self.logfile, "postgres", "postgres")
        self._as_postgres(
            os.path.join(PGBIN, "pg_ctl"), "-D", self.data, "-l",
            self.logfile, "-w", "-t", "60", "-o",
            "-k %s -p %d -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off"
            % (self.sock, self.port), "start")
        self.psql("postgres", "DO $$ BEGIN IF NOT EXISTS (SELECT FROM "
                  "pg_roles WHERE rolname = 'root') THEN CREATE ROLE root "
                  "LOGIN SUPERUSER; END IF; END $$", user="postgres")
        exists = self.psql("postgres", "SELECT 1 FROM pg_database WHERE "
                           "datname = '%s'" % self.dbname, user="postgres")
        if not exists.strip():
            self.psql("postgres", 'CREATE DATABASE "%s" OWNER root'
                      % self.dbname, user="postgres")
        # its now() and the test's clock agree, also when runtest.sh moves
        # the clock of both
        skew = float(self.psql("postgres", "SELECT extract(epoch FROM "
                               "now())", user="postgres")) - time.time()
        if abs(skew) > 30:
            raise RuntimeError("PostgreSQL's clock is %.0f s off the test's"
                               % skew)
        return self

    def stop(self, mode="fast"):
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            self._as_postgres(os.path.join(PGBIN, "pg_ctl"), "-D", self.data,
                              "-m", mode, "-w", "stop")

    def running(self):
        return os.path.exists(os.path.join(self.data, "postmaster.pid"))

    def env(self):
        """The libpq environment that points at this cluster."""
        env = dict(os.environ)
        env.update(PGHOST=self.sock, PGPORT=str(self.port),
                   PGDATABASE=self.dbname, PGUSER="root")
        return env

    def conninfo(self):
        return "host=%s port=%d dbname=%s user=root" % (
            self.sock, self.port, self.dbname)

    def psql(self, db, sql, user="root"):
        """Runs SQL and returns psql's unaligned, tab-separated output."""
        out = subprocess.run(
            [os.path.join(PGBIN, "psql"), "-X", "-q", "-At", "-F", "\t",
             "-v", "ON_ERROR_STOP=1", "-h", self.sock, "-p", str(self.port),
             "-U", user, "-d", db, "-c", sql],
            check=True, capture_output=True, text=True)
        return out.stdout

    def query(self, sql):
        """Rows of a query on the test database, as lists of strings."""
        out = self.psql(self.dbname, sql)
        return [line.split("\t") for line in out.splitlines() if line]


class SmtpSink:
    """Debian's aiosmtpd on 127.0.0.1:port, storing mail in a maildir."""

    def __init__(self, base, port=None, refuse=()):
        self.base = os.path.abspath(base)
        self.port = port or free_port()
        self.maildir = os.path.join(self.base, "maildir")
        self.refuse = list(refuse)  # recipients answered with 550
        self.proc = None

    def start(self):
        os.makedirs(self.base, exist_ok=True)
        # aiosmtpd's Mailbox wants a maildir that is whole or absent.
        if os.path.isdir(self.maildir):
            for sub in ("tmp", "new", "cur"):
                os.makedirs(os.path.join(self.maildir, sub), exist_ok=True)
        logf = open(os.path.join(self.base, "smtp-sink.log"), "ab")
        env = dict(os.environ)
        handler = "aiosmtpd.handlers.Mailbox"
        if self.refuse:
            handler = "refusing_sink.RefusingMailbox"
            env["PYTHONPATH"] = os.path.dirname(os.path.abspath(__file__))
            env["REFUSE_RCPT"] = ",".join(self.refuse)
        self.proc = subprocess.Popen(
            [SYSTEM_PYTHON, "-m", "aiosmtpd", "-n", "-l",
             "127.0.0.1:%d" % self.port, "-c", handler,
             self.maildir], stdout=logf, stderr=logf, env=env,
            start_new_session=True)
        logf.close()
        wait_for("the SMTP sink on port %d" % self.port,
                 lambda: self.proc.poll() is not None
                 or port_open("127.0.0.1", self.port), timeout=20)
        if self.proc.poll() is not None:
            raise RuntimeError("the SMTP sink exited at once; see %s"
                               % os.path.join(self.base, "smtp-sink.log"))
        return self

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def messages(self):
        """Every message received so far, parsed, oldest first."""
        if not os.path.isdir(os.path.join(self.maildir, "new")):
            return []
        box = mailbox.Maildir(self.maildir, factory=None, create=False)
        msgs = []
        for key in box.keys():
            with box.get_file(key) as f:
                msgs.append(email.message_from_binary_file(
                    f, policy=email.policy.default))
        msgs.sort(key=lambda m: m.get("Date").datetime
                  if m.get("Date") else 0)
        return msgs


def subject_of(msg):
    """A message's subject, decoded from its RFC 2047 words."""
    return str(email.header.make_header(email.header.decode_header(
        msg.get("Subject", ""))))


class HttpStub:
    """An HTTP server on 127.0.0.1 in a thread of the test, standing in for
    an SMS gateway or a chat tool's webhook.  Each path has a script of
    replies, used in order (the last one repeats): (status, body) or
    ("hang", seconds), which answers nothing for that long.  Every request
    is recorded as (method, path with query, headers, body bytes, reply)."""

    def __init__(self, scripts, port=None):
        import http.server

        self.scripts = {k: list(v) for k, v in scripts.items()}
        self.requests = []
        self.lock = threading.Lock()
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n > 0 else b""
                path = self.path.split("?", 1)[0]
                with stub.lock:
                    script = stub.scripts.get(path) or [(404, "no such path")]
                    reply = script.pop(0) if len(script) > 1 else script[0]
                    stub.requests.append((self.command, self.path,
                                          dict(self.headers), body, reply))
                if reply[0] == "hang":
                    time.sleep(reply[1])
                    self.close_connection = True
                    return
                data = reply[1].encode()
                self.send_response(reply[0])
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = _any

        self.server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", port or 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = None

    def start(self):
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.1},
                                       daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.thread is not None:
            self.server.shutdown()
            self.server.server_close()
            self.thread = None

    def seen(self, path):
        """The requests made to a path (without its query), in order."""
        with self.lock:
            return [r for r in self.requests
                    if r[1].split("?", 1)[0] == path]


class TcpListener:
    """A TCP service on addr:port that accepts and closes connections; stop
    it and connects are refused, which is how a service goes down."""

    def __init__(self, addr, port):
        self.addr, self.port = addr, port
        self.sock = None
        self.thread = None

    def start(self):
        family = socket.AF_INET6 if ":" in self.addr else socket.AF_INET
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((self.addr, self.port))
        s.listen(128)
        s.settimeout(0.2)
        self.sock = s
        self.thread = threading.Thread(target=self._serve, args=(s,),
                                       daemon=True)
        self.thread.start()
        return self

    def _serve(self, s):
        while self.sock is s:
            try:
                conn, _ = s.accept()
                conn.close()
            except socket.timeout:
                continue
            except OSError:
                return

    def stop(self):
        s, self.sock = self.sock, None
        if s is not None:
            s.close()
        if self.thread is not None:
            self.thread.join(2)


class Daemon:
    """One of the project's daemons, run in the foreground with its log in a
    file."""

    def __init__(self, name, args, env, logpath, prefix=()):
        self.name, self.args, self.env, self.logpath = name, args, env, logpath
        # e.g. ("ip", "netns", "exec", NS): it execs the daemon, whose
        # PID stays the one we signal
        self.prefix = list(prefix)
        self.proc = None

    def start(self):
        logf = open(self.logpath, "ab")
        self.proc = subprocess.Popen(self.prefix + [binary(self.name)] +
                                     self.args,
                                     env=self.env, stdout=logf, stderr=logf,
                                     start_new_session=True)
        logf.close()
        time.sleep(0.2)
        if self.proc.poll() is not None:
            raise RuntimeError("%s exited at once (%d):\n%s" % (
                self.name, self.proc.returncode, self.log()))
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=20):
        """SIGTERM, and the daemon must exit cleanly within timeout."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("%s did not stop within %d s after "
                                     "SIGTERM" % (self.name, timeout))
        rc, self.proc = self.proc.returncode, None
        return rc

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def log(self):
        try:
            with open(self.logpath, encoding="utf-8",
                      errors="replace") as f:
                return f.read()
        except OSError:
            return ""


CHROMIUM = "/usr/bin/chromium"


def http_json(base, method, path, body=None, cookie=None, csrf=None,
              ctype="application/json", cafile=None):
    """(status, JSON or None, headers) of one request to incidentd's API;
    over HTTPS, the server's certificate must be signed by cafile."""
    import json
    import ssl
    import urllib.error
    import urllib.request
    ctx = ssl.create_default_context(cafile=cafile) if cafile else None
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(base + path, method=method, data=data)
    if data is not None and ctype:
        req.add_header("Content-Type", ctype)
    if cookie:
        req.add_header("Cookie", cookie)
    if csrf:
        req.add_header("X-CSRF-Token", csrf)
    try:
        with urllib.request.urlopen(req, timeout=30, context=ctx) as r:
            raw, status, headers = r.read(), r.status, r.headers
    except urllib.error.HTTPError as e:
        raw, status, headers = e.read(), e.code, e.headers
    try:
        body = json.loads(raw) if raw.strip() else None
    except ValueError:
        body = raw.decode(errors="replace")    # not ours: libevent's
    return status, body, headers


def add_users(env, users):
    """Adds console accounts: {name: (role, password)}."""
    for name, (role, password) in users.items():
        p = subprocess.run([binary("incidentctl"), "user", "add", name,
                            "--user-role", role, "--as", "課長", "--role",
                            "administrator"], env=env, input=password + "\n",
                           capture_output=True, text=True)
        assert p.returncode == 0, (name, p.stdout, p.stderr)


def artifact(name):
    """A path for a file the tests leave for people to look at
    (screenshots, rendered pages): tests/artifacts/ in the build tree."""
    d = os.path.join(BUILDDIR, "tests", "artifacts")
    os.makedirs(d, exist_ok=True)
    return os.path.join(d, name)


def pdf_pages(path):
    """The page count and the first page's size (points) of a PDF that
    Chromium printed (it writes its page objects uncompressed)."""
    with open(path, "rb") as f:
        data = f.read()
    assert data.startswith(b"%PDF-"), data[:16]
    pages = re.findall(rb"/Type\s*/Page\b", data)
    box = re.search(rb"/MediaBox\s*\[\s*0\s+0\s+([0-9.]+)\s+([0-9.]+)",
                    data)
    assert box, "no /MediaBox in " + path
    return len(pages), (float(box.group(1)), float(box.group(2)))


# What keeps Chromium on this machine: every request that is not to
# loopback goes to a dead proxy, no name is resolved, nothing runs in the
# background.  The console's end-to-end test starts it with these too.
CHROMIUM_FENCE = [
    "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update",
    "--disable-default-apps", "--disable-sync", "--disable-extensions",
    "--disable-domain-reliability", "--no-pings",
    "--disable-features=OptimizationHints,MediaRouter,Translate",
    "--proxy-server=127.0.0.1:9",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, "
    "EXCLUDE 127.0.0.1"]


def chromium(*args, timeout=120):
    """Runs Debian's Chromium headless with what keeps it on this machine:
    every request outside loopback goes to a dead proxy, no name is
    resolved, nothing runs in the background.  Returns (rc, out, err)."""
    if not os.access(CHROMIUM, os.X_OK):
        raise RuntimeError("Chromium is needed (apt-get install chromium; "
                           "tests/lib/devenv.sh installs it)")
    profile = tempfile.mkdtemp(prefix="chromium-profile.")
    try:
        p = subprocess.run(
            [CHROMIUM, "--headless=new", "--user-data-dir=" + profile,
             "--proxy-bypass-list=<-loopback>"] + CHROMIUM_FENCE
            + list(args), capture_output=True, text=True, timeout=timeout)
        return p.returncode, p.stdout, p.stderr
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def run(args, env=None, check=False, input=None):
    """Runs a command, returning (exit code, stdout, stderr) as text."""
    p = subprocess.run(args, env=env, capture_output=True, text=True,
                       input=input)
    if check and p.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s%s" % (
            " ".join(args), p.returncode, p.stdout, p.stderr))
    return p.returncode, p.stdout, p.stderr


class Cleanup:
    """Stops what a test started, in reverse order, even when it fails."""

    def __init__(self):
        self.actions = []

    def add(self, fn):
        self.actions.append(fn)
        return fn

    def run(self):
        while self.actions:
            fn = self.actions.pop()
            try:
                fn()
            except Exception as e:  # keep stopping the rest
                print("cleanup: %s" % e, file=sys.stderr)


def test_setup(prefix):
    """A test's usual start: a Cleanup, a work directory it removes, and a
    private PostgreSQL with the schema.  Returns (clean, work, pg)."""
    clean = Cleanup()
    work = make_workdir(prefix)
    clean.add(lambda: shutil.rmtree(work, ignore_errors=True))
    try:
        pg = Postgres(os.path.join(work, "pg")).start()
    except Exception:
        clean.run()
        raise
    clean.add(pg.stop)
    run([binary("incidentctl"), "migrate"], env=pg.env(), check=True)
    return clean, work, pg


def free_udp_port(addrs=("127.0.0.1",)):
    """A UDP port that is free on every one of addrs right now."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((addrs[0], 0))
            port = s.getsockname()[1]
        if all(not udp_bound(a, port) for a in addrs):
            return port
    raise RuntimeError("no UDP port free on %d addresses" % len(addrs))


def udp_bound(addr, port):
    """Whether some process holds UDP addr:port (our bind fails)."""
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        try:
            s.bind((addr, port))
        except OSError:
            return True
    return False


class Snmpd:
    """Debian's snmpd answering on UDP port on each of addrs (127.x.y.z
    addresses, and "::1" for IPv6), configured by the snmpd.conf text
    conf (communities, createUser and rouser lines, override lines), with
    its persistent state in a private directory under base.  Stopped by
    the PID it was started with.

    Each instance has its own engine ID, kept in its directory."""

    SNMPD = "/usr/sbin/snmpd"

    def __init__(self, base, addrs, conf, port=None):
        self.base = os.path.abspath(base)
        self.addrs = list(addrs)
        self.conf = conf
        self.port = port or free_udp_port(
            [a for a in self.addrs if ":" not in a] or ["127.0.0.1"])
        self.persist = os.path.join(self.base, "persist")
        self.conffile = os.path.join(self.base, "snmpd.conf")
        self.logfile = os.path.join(self.base, "snmpd.log")
        self.proc = None

    def endpoints(self):
        """snmpd's transport list: udp:A:P for each IPv4 address,
        udp6:[A]:P for each IPv6 one."""
        return ",".join(("udp6:[%s]:%d" if ":" in a else "udp:%s:%d")
                        % (a, self.port) for a in self.addrs)

    def start(self):
        os.makedirs(self.persist, exist_ok=True)
        with open(self.conffile, "w") as f:
            f.write(self.conf.rstrip("\n") + "\n")
            f.write("dontLogTCPWrappersConnects yes\n")
            # A bare persistentDir line is an unknown token to snmpd.
            f.write("[snmp] persistentDir %s\n" % self.persist)
        env = dict(os.environ, MIBS="", SNMP_PERSISTENT_DIR=self.persist)
        logf = open(self.logfile, "ab")
        # -C: only our config; -I -smux: no SMUX port, so that several
        # agents can run; -f: stay in the foreground, stopped by PID.
        self.proc = subprocess.Popen(
            [self.SNMPD, "-f", "-Lo", "-C", "-c", self.conffile, "-I",
             "-smux", self.endpoints()], env=env, stdout=logf, stderr=logf,
            stdin=subprocess.DEVNULL, start_new_session=True)
        logf.close()
        wait_for("snmpd on %d addresses at port %d" % (len(self.addrs),
                                                      self.port),
                 lambda: self.proc.poll() is not None
                 or all(udp_bound(a, self.port) for a in self.addrs),
                 timeout=30)
        if self.proc.poll() is not None:
            raise RuntimeError("snmpd exited at once (%d); see %s"
                               % (self.proc.returncode, self.logfile))
        return self

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def log(self):
        try:
            with open(self.logfile, encoding="utf-8",
                      errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def snmpget(self, addr, *args):
        """Runs Debian's snmpget against addr with the given options and
        OIDs; returns (exit code, output)."""
        host = ("udp6:[%s]:%d" if ":" in addr else "udp:%s:%d") % (
            addr, self.port)
        p = subprocess.run(["snmpget", "-On", "-t", "1", "-r", "1"] +
                           list(args[:-1]) + [host, args[-1]],
                           env=dict(os.environ, MIBS=""),
                           capture_output=True, text=True)
        return p.returncode, p.stdout + p.stderr
