"""Several pollers, one record: three monitord share 3,000 targets.

Three monitord run on one database with the same 3,000 TCP targets
(127.88.x.y, one listener that counts the connections each address gets).
100 of them are in the finance segment, which poller C is pinned to; the
rest are spread over 256 hash shards leased with advisory locks.  In the
steady state every target is probed at its interval by exactly one poller.
Poller A is then killed with SIGKILL: within the rebalance time B and C
hold all the shards and every target is probed again, still once; the
finance targets stay with C.  A restarted A gets its share back.
"""

import os
import selectors
import socket
import sys
import threading
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import harness  # noqa: E402
from harness import log, wait_for  # noqa: E402

N, FINANCE = 3000, 100
INTERVAL = 5  # seconds
REBALANCE = 30  # seconds: the target for a poller's death


def target(i):
    return "127.88.%d.%d" % (i // 250, i % 250 + 1)


class CountingSink:
    """Accepts TCP connections on every 127.x address at one port and counts
    them by the address they were made to and the poller that made them:
    each poller's probe sends its name, and the sink answers "ok"."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("0.0.0.0", 0))
        self.sock.listen(1024)
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.counts = None
        self.lock = threading.Lock()
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        sel = selectors.DefaultSelector()
        sel.register(self.sock, selectors.EVENT_READ)
        pending = {}  # connection -> (address, bytes so far, deadline)
        while self.running:
            for key, _ in sel.select(0.2):
                if key.fileobj is self.sock:
                    self._accept(sel, pending)
                else:
                    self._read(sel, pending, key.fileobj)
            now = time.monotonic()
            for conn in [c for c, p in pending.items() if p[2] < now]:
                sel.unregister(conn)
                conn.close()
                del pending[conn]
        for conn in pending:
            conn.close()
        sel.close()

    def _accept(self, sel, pending):
        while True:
            try:
                conn, peer = self.sock.accept()
            except (BlockingIOError, OSError):
                return
            if not peer[0].startswith("127."):
                conn.close()
                continue
            conn.setblocking(False)
            pending[conn] = (conn.getsockname()[0], b"",
                             time.monotonic() + 2)
            sel.register(conn, selectors.EVENT_READ)

    def _read(self, sel, pending, conn):
        dst, got, deadline = pending[conn]
        try:
            data = conn.recv(256)
        except OSError:
            data = b""
        got += data
        if data and b"\n" not in got and len(got) < 256:
            pending[conn] = (dst, got, deadline)
            return
        sel.unregister(conn)
        del pending[conn]
        if b"\n" in got:
            who = got.split(b"\n", 1)[0].decode(errors="replace")
            try:
                conn.send(b"ok\n")
            except OSError:
                pass
            with self.lock:
                if self.counts is not None:
                    per = self.counts.setdefault(dst, {})
                    per[who] = per.get(who, 0) + 1
        conn.close()

    def window(self, seconds):
        """The connections per target address and poller over the next
        seconds: {address: {poller: count}}."""
        with self.lock:
            self.counts = {}
        time.sleep(seconds)
        with self.lock:
            counts, self.counts = self.counts, None
        return counts

    def stop(self):
        self.running = False
        self.thread.join(2)
        self.sock.close()


def monitord_yaml(name, port, metrics_port, pinned):
    hosts = []
    for i in range(N):
        hosts.append("  - {name: h%04d, address: %s, segment: %s, "
                     "checks: [{type: tcp, port: %d, send: \"%s\\n\", "
                     "expect: ok}]}"
                     % (i, target(i), "finance" if i < FINANCE else "core",
                        port, name))
    return """\
instance: %s
log_level: info
cluster:
  pinned: [%s]
metrics:
  listen: 127.0.0.1:%d
defaults:
  interval: %ds
  retry_interval: 1s
  timeout: 1s
  max_attempts: 1
  store_samples: false
hosts:
%s
""" % (name, pinned, metrics_port, INTERVAL, "\n".join(hosts))


def metric(port, name):
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
    finally:
        conn.close()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError("no %s in /metrics" % name)


def main():
    clean, work, pg = harness.test_setup("/tmp/monitord-shards.")
    env = pg.env()
    try:
        sink = CountingSink()
        clean.add(sink.stop)
        mons, ports = {}, {}

        def start(name, pinned=""):
            ports[name] = ports.get(name) or harness.free_port()
            conf = os.path.join(work, name + ".yaml")
            with open(conf, "w") as f:
                f.write(monitord_yaml(name, sink.port, ports[name], pinned))
            mons[name] = harness.Daemon("monitord", ["-f", conf], env,
                                        os.path.join(work, name + ".log"))
            mons[name].start()
            clean.add(mons[name].kill)

        def members():
            return {r[0]: set(int(x) for x in r[1].strip("{}").split(",")
                              if x)
                    for r in pg.query("SELECT instance, shards::text FROM "
                                      "poller_member")}

        def settled(live):
            """The live pollers' shards split all 256 between them, each
            its share, and their checks add up to every target."""
            m = members()
            shards = [m.get(n, set()) for n in live]
            if sum(len(s) for s in shards) != 256 or \
                    len(set().union(*shards)) != 256 or \
                    min(len(s) for s in shards) < 256 // len(live) - 2:
                return False
            owned = sum(metric(ports[n], "monitord_checks_owned")
                        for n in live)
            return owned == N

        def probed_once(label):
            by = sink.window(2 * INTERVAL + 2)
            counts = {a: sum(p.values()) for a, p in by.items()}
            missing = [target(i) for i in range(N)
                       if counts.get(target(i), 0) < 2]
            twice = [a for a, c in counts.items() if c > 3]
            shared = [a for a, p in by.items() if len(p) > 1]
            log("%s: %d targets probed, %d probed too little, %d too "
                "often, %d by two pollers" % (label, len(counts),
                                              len(missing), len(twice),
                                              len(shared)))
            if missing:
                hist = {}
                for a in missing:
                    hist[counts.get(a, 0)] = hist.get(counts.get(a, 0), 0) + 1
                for n in sorted(mons):
                    if mons[n].alive():
                        log("%s: %s" % (n, {k: metric(ports[n], k) for k in (
                            "monitord_checks_owned",
                            "monitord_probes_skipped_total",
                            "monitord_probes_deferred_total",
                            "monitord_probes_in_flight")}))
                log("probes per missing target: %s" % hist)
            assert missing == [], "not probed: %s" % missing[:10]
            assert twice == [], "probed twice: %s" % twice[:10]
            assert shared == [], "probed by two pollers: %s" % [
                (a, by[a]) for a in shared[:10]]
            # the finance segment is C's alone, whoever else lives
            finance = {p for i in range(FINANCE)
                       for p in by.get(target(i), {})}
            assert finance == {"monitord-c"}, finance
            return by

        log("three pollers share %d targets; C is pinned to finance" % N)
        start("monitord-a")
        start("monitord-b")
        start("monitord-c", "finance")
        wait_for("the shards split three ways", lambda: settled(
            ["monitord-a", "monitord-b", "monitord-c"]), timeout=60)
        m = members()
        log("shards: %s" % {n: len(s) for n, s in sorted(m.items())})
        assert all(80 <= len(s) <= 90 for s in m.values()), m
        wait_for("every target OK once", lambda: pg.query(
            "SELECT count(*) FROM current_state WHERE state = 'OK'")
            == [[str(N)]], timeout=60)
        by = probed_once("steady, three pollers")
        # and the rest is spread over all three
        spread = {}
        for p in by.values():
            for who in p:
                spread[who] = spread.get(who, 0) + 1
        log("targets per poller: %s" % spread)
        assert set(spread) == {"monitord-a", "monitord-b", "monitord-c"} \
            and min(spread.values()) > (N - FINANCE) // 3 // 2, spread
        a_shards = m["monitord-a"]

        log("poller A is killed -9")
        mons["monitord-a"].kill()
        t0 = time.monotonic()
        wait_for("B and C take A's shards", lambda: settled(
            ["monitord-b", "monitord-c"]), timeout=REBALANCE)
        took = time.monotonic() - t0
        log("rebalanced in %.1f s" % took)
        m = members()
        assert a_shards <= m["monitord-b"] | m["monitord-c"]
        assert metric(ports["monitord-c"], "monitord_pollers_live") == 2
        by = probed_once("after A's death, two pollers")
        assert not any("monitord-a" in p for p in by.values())
        # the finance targets are C's alone: B never probes them
        b_checks = metric(ports["monitord-b"], "monitord_checks_owned")
        c_checks = metric(ports["monitord-c"], "monitord_checks_owned")
        assert b_checks + c_checks == N and c_checks >= FINANCE, \
            (b_checks, c_checks)

        log("A comes back and gets its share again")
        start("monitord-a")
        wait_for("the shards split three ways again", lambda: settled(
            ["monitord-a", "monitord-b", "monitord-c"]), timeout=REBALANCE)
        probed_once("after A's return")
        events = pg.query("SELECT count(*) FROM state_event WHERE "
                          "new_state <> 'OK'")
        assert events == [["0"]], "a false alarm: %s" % events
        for name in ("monitord-a", "monitord-b", "monitord-c"):
            assert mons[name].stop() == 0, name
        log("PASS")
        return 0
    except Exception:
        traceback.print_exc()
        for name in ("monitord-a", "monitord-b", "monitord-c"):
            path = os.path.join(work, name + ".log")
            if os.path.exists(path):
                with open(path, encoding="utf-8", errors="replace") as f:
                    lines = [ln for ln in f if "cluster" in ln or
                             "error" in ln or "warn" in ln]
                sys.stderr.write("--- %s\n%s\n" % (name,
                                                   "".join(lines[-30:])))
        return 1
    finally:
        clean.run()


if __name__ == "__main__":
    sys.exit(main())
