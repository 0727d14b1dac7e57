"""Runs the SNMP engine's Check suite (tests/check_snmp) against Debian's
snmpd: one agent on 64 loopback addresses and ::1, with v1/v2c
communities, SNMPv3 users (SHA/AES and SHA-256/AES) and an override; a
second agent, with its own engine ID, for the SNMPv3 failure tests.  The
suite learns about them from MONITORD_TEST_SNMP_* variables."""

import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import harness  # noqa: E402

ADDRS = ["127.61.0.%d" % i for i in range(1, 65)]
OTHER = "127.61.1.1"
SECRETS = {
    "community": "public",
    "user": "mon", "auth": "authpass123", "priv": "privpass123",
    "user256": "mon256", "auth256": "authpass256", "priv256": "privpass256",
}

CONF = """\
rocommunity  %(community)s 127.0.0.0/8
rocommunity6 %(community)s ::1/128
sysName monitord-test-agent
createUser %(user)s SHA %(auth)s AES %(priv)s
createUser %(user256)s SHA-256 %(auth256)s AES %(priv256)s
rouser %(user)s priv
rouser %(user256)s priv
override .1.3.6.1.2.1.2.2.1.8.2 integer 2
""" % SECRETS


def main():
    work = harness.make_workdir("/tmp/monitord-snmp.")
    cleanup = harness.Cleanup()
    try:
        port = harness.free_udp_port(ADDRS + [OTHER])
        dead = harness.free_udp_port(ADDRS[:4])
        while dead == port:
            dead = harness.free_udp_port(ADDRS[:4])
        agent = harness.Snmpd(os.path.join(work, "snmpd"), ADDRS + ["::1"],
                              CONF, port=port)
        other = harness.Snmpd(os.path.join(work, "snmpd-other"), [OTHER],
                              CONF, port=port)
        for a in (agent, other):
            a.start()
            cleanup.add(a.stop)
        # The suite relies on these; say so plainly if snmpd disagrees.
        checks = [
            (agent, ADDRS[0], ["-v2c", "-c", SECRETS["community"]]),
            (agent, "::1", ["-v1", "-c", SECRETS["community"]]),
            (other, OTHER, ["-v3", "-l", "authPriv", "-u", SECRETS["user"],
                            "-a", "SHA", "-A", SECRETS["auth"], "-x", "AES",
                            "-X", SECRETS["priv"]]),
            (agent, ADDRS[1], ["-v3", "-l", "authPriv", "-u",
                               SECRETS["user256"], "-a", "SHA-256", "-A",
                               SECRETS["auth256"], "-x", "AES", "-X",
                               SECRETS["priv256"]]),
        ]
        for a, addr, args in checks:
            rc, out = a.snmpget(addr, *(args + [".1.3.6.1.2.1.1.5.0"]))
            if rc != 0 or "monitord-test-agent" not in out:
                print("snmpd at %s does not answer %s: %s"
                      % (addr, " ".join(args[:2]), out.strip()))
                return 1
        env = dict(os.environ,
                   MONITORD_TEST_SNMP_ADDRS=",".join(ADDRS),
                   MONITORD_TEST_SNMP_PORT=str(port),
                   MONITORD_TEST_SNMP_DEAD_PORT=str(dead),
                   MONITORD_TEST_SNMP_OTHER=OTHER,
                   MONITORD_TEST_SNMP_COMMUNITY=SECRETS["community"],
                   MONITORD_TEST_SNMP_V3_USER=SECRETS["user"],
                   MONITORD_TEST_SNMP_V3_AUTH=SECRETS["auth"],
                   MONITORD_TEST_SNMP_V3_PRIV=SECRETS["priv"],
                   MONITORD_TEST_SNMP_V3_USER256=SECRETS["user256"],
                   MONITORD_TEST_SNMP_V3_AUTH256=SECRETS["auth256"],
                   MONITORD_TEST_SNMP_V3_PRIV256=SECRETS["priv256"])
        rc = subprocess.run([os.path.join(harness.BUILDDIR, "tests",
                                          "check_snmp")], env=env).returncode
        for a in (agent, other):
            if a.proc is None or a.proc.poll() is not None:
                print("snmpd died during the tests; its log:\n" + a.log())
                return 1
        return rc
    finally:
        cleanup.run()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
