"""Plays the services of the sample municipal network on loopback.

Reads the checks of a monitord.yaml through `monitord -n -v` and listens on
every TCP port it names, on the host's own 127.x address, except those given
with --down (host:port).  ICMP needs nothing: every 127.x address answers.

    samplenet.py MONITORD_BINARY CONFIG [--down HOST:PORT ...]

Stops on SIGTERM or SIGINT.
"""

import argparse
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


def targets(monitord, config):
    out = subprocess.run([monitord, "-n", "-v", "-f", config], check=True,
                         capture_output=True, text=True).stdout
    for line in out.splitlines():
        fields = line.split("\t")
        if len(fields) == 6 and fields[4] == "tcp":
            yield fields[0], fields[1], int(fields[5])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("monitord")
    ap.add_argument("config")
    ap.add_argument("--down", action="append", default=[],
                    help="host:port to leave closed")
    args = ap.parse_args()

    listeners = []
    for host, addr, port in targets(args.monitord, args.config):
        if "%s:%d" % (host, port) in args.down:
            print("samplenet: %s %s port %d left down" % (host, addr, port),
                  flush=True)
            continue
        listeners.append(harness.TcpListener(addr, port).start())
    print("samplenet: %d services up" % len(listeners), flush=True)

    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    signal.signal(signal.SIGINT, lambda *a: stop.append(1))
    while not stop:
        time.sleep(0.5)
    for listener in listeners:
        listener.stop()


if __name__ == "__main__":
    main()
