/*
 * The SNMP trap receiver: its pure decoder on real datagrams from Debian's
 * snmptrap, on broken and random bytes, and the listener on 127.0.0.1 and
 * ::1 with snmptrap run by the test (no shell) and waited for from the
 * test's event loop.  Nothing leaves the loopback.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <iconv.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "monitord.h"

#define SNMPTRAP "/usr/bin/snmptrap"
#define MAX_SEEN 8
/* Every loop of a test ends by then, whatever happens. */
#define LOOP_DEADLINE_S 10

/*
 * Datagrams captured from Debian's snmptrap 5.9.3 (MIBS= snmptrap ...), so
 * that the decoder tests need no tool.
 */
/* -v1 -c public .1.3.6.1.4.1.8072 127.0.0.1 2 0 '' .1.3.6.1.2.1.2.2.1.1.3 i 3
 */
static const char hex_v1_linkdown[] =
    "303a02010004067075626c6963a42d06072b06010401bf0840047f0000010201020201"
    "0043030c57273011300f060a2b060102010202010103020103";
/* -v2c -c public '' .1.3.6.1.6.3.1.1.5.3 ifIndex.3 i 3 ifAdmin.3 i 1
 * ifOper.3 i 2 */
static const char hex_v2c_linkdown[] =
    "307802010104067075626c6963a76b02047f4f4d0c020100020100305d300f06082b06"
    "01020101030043030c57283017060a2b06010603010104010006092b06010603010105"
    "03300f060a2b060102010202010103020103300f060a2b060102010202010703020101"
    "300f060a2b060102010202010803020102";
/* -v1 -c public .1.3.6.1.4.1.9999 10.1.2.3 6 42 1234
 * .1.3.6.1.4.1.9999.1.1 s hello */
static const char hex_v1_enterprise[] =
    "303c02010004067075626c6963a42f06072b06010401ce0f40040a0102030201060201"
    "2a430204d23014301206092b06010401ce0f0101040568656c6c6f";
/* -Ci -v2c -c public '' .1.3.6.1.6.3.1.1.5.4 .1.3.6.1.2.1.2.2.1.1.3 i 3 */
static const char hex_v2c_inform[] =
    "305602010104067075626c6963a64902047716c838020100020100303b300f06082b06"
    "01020101030043030d67833017060a2b06010603010104010006092b06010603010105"
    "04300f060a2b060102010202010103020103";
/* -v3 -u u -l noAuthNoPriv -e 0x8000000001020304 '' .1.3.6.1.6.3.1.1.5.1 */
static const char hex_v3_coldstart[] =
    "308184020103301102047ee81680020300ffe3040100020103041b3019040880000000"
    "0102030402010102030c572b04017504000400304f041180001f888076524e27dacd09"
    "6b000000000400a738020422f83f1e020100020100302a300f06082b06010201010300"
    "43030c572b3017060a2b06010603010104010006092b0601060301010501";

static const char *const communities[] = { "public", "monitord-test" };

/* What the callback copied out of one trap. */
struct seen_trap {
	int version;
	int inform;
	enum snmp_trap_kind kind;
	int64_t if_index;
	int admin, oper;
	uint32_t uptime;
	char trap_oid[256];
	char enterprise[256];
	char agent[INET_ADDRSTRLEN];
	char sender[INET6_ADDRSTRLEN];
	int sender_family;
	size_t nvarbinds;
	char json[2048];
};

/* One test's loop, listener, child tool and what they did. */
struct harness {
	struct event_base *base;
	struct snmp_trap_listener *l;
	struct seen_trap seen[MAX_SEEN];
	int nseen;
	int want_seen; /* the loop ends when this many traps came */
	uint64_t want_received; /* and this many datagrams */
	int free_in_cb; /* the callback frees the listener */
	pid_t pid; /* the tool, or -1 */
	int status;
	int exited;
	struct timespec started, ended;
	struct event *poll;
	struct event *deadline;
	int timed_out;
	/* A bare socket standing in for the listener (ack test). */
	int fd;
	struct event *fd_ev;
	uint8_t dgram[2048];
	size_t dgram_len;
	int acked;
};

static struct harness H;
/* The tool's home and persistent dir, one per run, made by main(). */
static char tool_dir[64];

/* Writes an OID in dotted form. */
static void
oid_fmt(char *buf, size_t size, const struct snmp_oid *o)
{
	size_t i, off = 0;

	buf[0] = '\0';
	for (i = 0; i < o->len && off < size; i++)
		off += (size_t)snprintf(buf + off, size - off,
		    i == 0 ? "%u" : ".%u", o->n[i]);
}

/* Turns a hex constant into bytes; returns the length. */
static size_t
unhex(const char *hex, uint8_t *out, size_t size)
{
	size_t n = strlen(hex) / 2, i;
	unsigned v;

	ck_assert_uint_le(n, size);
	for (i = 0; i < n; i++) {
		ck_assert_int_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
	return n;
}

/* Copies what a test checks out of a trap, which dies with the call. */
static void
trap_cb(const struct snmp_trap *t, void *arg)
{
	struct harness *h = arg;
	struct seen_trap *s;
	char *json;

	ck_assert_int_lt(h->nseen, MAX_SEEN);
	s = &h->seen[h->nseen++];
	s->version = t->version;
	s->inform = t->inform;
	s->kind = t->kind;
	s->if_index = t->if_index;
	s->admin = t->if_admin_status;
	s->oper = t->if_oper_status;
	s->uptime = t->uptime;
	s->nvarbinds = t->nvarbinds;
	oid_fmt(s->trap_oid, sizeof(s->trap_oid), &t->trap_oid);
	oid_fmt(s->enterprise, sizeof(s->enterprise), &t->enterprise);
	if (t->agent_addr.ss_family == AF_INET)
		inet_ntop(AF_INET,
		    &((const struct sockaddr_in *)&t->agent_addr)->sin_addr,
		    s->agent, sizeof(s->agent));
	s->sender_family = t->from.ss_family;
	if (t->from.ss_family == AF_INET)
		inet_ntop(AF_INET,
		    &((const struct sockaddr_in *)&t->from)->sin_addr,
		    s->sender, sizeof(s->sender));
	else if (t->from.ss_family == AF_INET6)
		inet_ntop(AF_INET6,
		    &((const struct sockaddr_in6 *)&t->from)->sin6_addr,
		    s->sender, sizeof(s->sender));
	json = snmp_trap_varbinds_json(t);
	ck_assert_uint_lt(strlen(json), sizeof(s->json));
	strcpy(s->json, json);
	free(json);
	if (h->free_in_cb) {
		snmp_trap_free(h->l);
		h->l = NULL;
	}
}

/* Ends the loop once the tool exited and what the test waits for came. */
static void
poll_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct harness *h = arg;
	struct snmp_trap_stats st;
	pid_t r;

	(void)fd;
	(void)ev;
	if (h->pid != -1 && !h->exited) {
		r = waitpid(h->pid, &h->status, WNOHANG);
		if (r == h->pid) {
			h->exited = 1;
			clock_gettime(CLOCK_MONOTONIC, &h->ended);
		}
	}
	memset(&st, 0, sizeof(st));
	if (h->l != NULL)
		snmp_trap_stats(h->l, &st);
	if ((h->pid == -1 || h->exited) && h->nseen >= h->want_seen &&
	    (h->l == NULL || st.received >= h->want_received))
		event_base_loopbreak(h->base);
}

/* The safety net: no test loop runs longer than LOOP_DEADLINE_S. */
static void
deadline_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct harness *h = arg;

	(void)fd;
	(void)ev;
	h->timed_out = 1;
	event_base_loopbreak(h->base);
}

/* Removes one file of the tool's directory. */
static int
rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Opens the loop. */
static void
setup(void)
{
	struct timeval tick = { 0, 10000 };

	log_init("check_snmp_trap", 0, LOG_LEVEL_DEBUG);
	memset(&H, 0, sizeof(H));
	H.pid = -1;
	H.fd = -1;
	H.base = event_base_new();
	ck_assert_ptr_nonnull(H.base);
	H.poll = event_new(H.base, -1, EV_PERSIST, poll_cb, &H);
	event_add(H.poll, &tick);
	H.deadline = evtimer_new(H.base, deadline_cb, &H);
}

/* Stops what the test started (only its own child) and frees it. */
static void
teardown(void)
{
	if (H.pid != -1 && !H.exited) {
		kill(H.pid, SIGKILL);
		waitpid(H.pid, &H.status, 0);
	}
	snmp_trap_free(H.l);
	if (H.fd_ev != NULL)
		event_free(H.fd_ev);
	if (H.fd != -1)
		close(H.fd);
	event_free(H.poll);
	event_free(H.deadline);
	event_base_free(H.base);
}

/* Opens the listener on addr with the test communities (or none). */
static void
listen_on(const char *addr, int any_community)
{
	H.l = snmp_trap_new(H.base, addr, communities, any_community ? 0 : 2,
	    trap_cb, &H);
	ck_assert_ptr_nonnull(H.l);
	ck_assert_int_gt(snmp_trap_port(H.l), 0);
}

/* Fills "127.0.0.1:PORT" or "udp6:[::1]:PORT" for the tool. */
static const char *
target(char *buf, size_t size, int v6, int port)
{
	snprintf(buf, size, v6 ? "udp6:[::1]:%d" : "127.0.0.1:%d", port);
	return buf;
}

/*
 * Runs snmptrap with args (no shell) in an environment of its own: no
 * MIBs, and home, config and persistent files in the test's directory.
 */
static void
spawn_tool(const char *const args[])
{
	char *argv[40], home[96], conf[96], pers[96];
	char *envp[] = { (char *)"MIBS=", (char *)"PATH=/usr/bin:/bin", home,
		conf, pers, NULL };
	size_t n;
	int rc;

	ck_assert_msg(access(SNMPTRAP, X_OK) == 0,
	    "%s is missing: install Debian's snmp package", SNMPTRAP);
	snprintf(home, sizeof(home), "HOME=%s", tool_dir);
	snprintf(conf, sizeof(conf), "SNMPCONFPATH=%s", tool_dir);
	snprintf(pers, sizeof(pers), "SNMP_PERSISTENT_DIR=%s", tool_dir);
	argv[0] = (char *)SNMPTRAP;
	for (n = 0; args[n] != NULL; n++) {
		ck_assert_uint_lt(n + 2, sizeof(argv) / sizeof(argv[0]));
		argv[n + 1] = (char *)args[n];
	}
	argv[n + 1] = NULL;
	clock_gettime(CLOCK_MONOTONIC, &H.started);
	rc = posix_spawn(&H.pid, SNMPTRAP, NULL, NULL, argv, envp);
	ck_assert_msg(rc == 0, "posix_spawn: %s", strerror(rc));
	H.exited = 0;
}

/* Runs the loop until the goals of the harness are met or time is up. */
static void
run_loop(void)
{
	struct timeval tv = { LOOP_DEADLINE_S, 0 };

	H.timed_out = 0;
	evtimer_add(H.deadline, &tv);
	event_base_dispatch(H.base);
	evtimer_del(H.deadline);
	if (H.timed_out && H.pid != -1 && !H.exited) {
		kill(H.pid, SIGKILL);
		waitpid(H.pid, &H.status, 0);
		H.pid = -1;
	}
	ck_assert_msg(!H.timed_out, "the loop timed out (%d of %d traps)",
	    H.nseen, H.want_seen);
}

/* Sends one trap with the tool and waits for it to be handled. */
static void
send_and_wait(const char *const args[], int want_seen, uint64_t want_received)
{
	H.want_seen = want_seen;
	H.want_received = want_received;
	spawn_tool(args);
	run_loop();
	ck_assert(H.exited);
	ck_assert_msg(WIFEXITED(H.status) && WEXITSTATUS(H.status) == 0,
	    "snmptrap failed (status %d)", H.status);
	H.pid = -1;
}

/* Returns the listener's counters. */
static struct snmp_trap_stats
stats(void)
{
	struct snmp_trap_stats st;

	snmp_trap_stats(H.l, &st);
	return st;
}

/* Milliseconds the tool ran. */
static long
tool_ms(void)
{
	return (H.ended.tv_sec - H.started.tv_sec) * 1000 +
	    (H.ended.tv_nsec - H.started.tv_nsec) / 1000000;
}

START_TEST(test_v1_link_down_is_decoded)
{
	char to[64];
	struct snmp_trap_stats st;

	listen_on("127.0.0.1:0", 0);
	send_and_wait((const char *[]) { "-v1", "-c", "public",
			  target(to, sizeof(to), 0, snmp_trap_port(H.l)),
			  ".1.3.6.1.4.1.8072", "127.0.0.1", "2", "0", "",
			  ".1.3.6.1.2.1.2.2.1.1.3", "i", "3", NULL },
	    1, 1);
	ck_assert_int_eq(H.seen[0].version, 1);
	ck_assert_int_eq(H.seen[0].inform, 0);
	ck_assert_int_eq(H.seen[0].kind, TRAP_KIND_LINKDOWN);
	ck_assert_str_eq(H.seen[0].trap_oid, "1.3.6.1.6.3.1.1.5.3");
	ck_assert_str_eq(H.seen[0].enterprise, "1.3.6.1.4.1.8072");
	ck_assert_str_eq(H.seen[0].agent, "127.0.0.1");
	ck_assert_str_eq(H.seen[0].sender, "127.0.0.1");
	ck_assert_int_eq(H.seen[0].if_index, 3);
	ck_assert_int_eq(H.seen[0].oper, 0);
	ck_assert_uint_gt(H.seen[0].uptime, 0);
	ck_assert_uint_eq(H.seen[0].nvarbinds, 1);
	ck_assert_str_eq(H.seen[0].json,
	    "[{\"oid\":\"1.3.6.1.2.1.2.2.1.1.3\",\"type\":\"integer\","
	    "\"value\":\"3\"}]");
	st = stats();
	ck_assert_uint_eq(st.received, 1);
	ck_assert_uint_eq(st.accepted, 1);
	ck_assert_uint_eq(st.informs_acked, 0);
}
END_TEST

START_TEST(test_v2c_link_down_is_decoded)
{
	char to[64];

	listen_on("127.0.0.1:0", 0);
	send_and_wait((const char *[]) { "-v2c", "-c", "public",
			  target(to, sizeof(to), 0, snmp_trap_port(H.l)), "",
			  ".1.3.6.1.6.3.1.1.5.3", ".1.3.6.1.2.1.2.2.1.1.3", "i",
			  "3", ".1.3.6.1.2.1.2.2.1.7.3", "i", "1",
			  ".1.3.6.1.2.1.2.2.1.8.3", "i", "2", NULL },
	    1, 1);
	ck_assert_int_eq(H.seen[0].version, 2);
	ck_assert_int_eq(H.seen[0].kind, TRAP_KIND_LINKDOWN);
	ck_assert_str_eq(H.seen[0].trap_oid, "1.3.6.1.6.3.1.1.5.3");
	ck_assert_str_eq(H.seen[0].enterprise, "");
	ck_assert_str_eq(H.seen[0].agent, "");
	ck_assert_int_eq(H.seen[0].if_index, 3);
	ck_assert_int_eq(H.seen[0].admin, 1);
	ck_assert_int_eq(H.seen[0].oper, 2);
	ck_assert_uint_gt(H.seen[0].uptime, 0);
	/* sysUpTime.0 and snmpTrapOID.0 are fields, not varbinds. */
	ck_assert_uint_eq(H.seen[0].nvarbinds, 3);
	ck_assert_str_eq(H.seen[0].json,
	    "[{\"oid\":\"1.3.6.1.2.1.2.2.1.1.3\",\"type\":\"integer\","
	    "\"value\":\"3\"},"
	    "{\"oid\":\"1.3.6.1.2.1.2.2.1.7.3\",\"type\":\"integer\","
	    "\"value\":\"1\"},"
	    "{\"oid\":\"1.3.6.1.2.1.2.2.1.8.3\",\"type\":\"integer\","
	    "\"value\":\"2\"}]");
}
END_TEST

START_TEST(test_v2c_link_up_without_if_index_takes_the_status_instance)
{
	char to[64];

	listen_on("127.0.0.1:0", 0);
	send_and_wait((const char *[]) { "-v2c", "-c", "monitord-test",
			  target(to, sizeof(to), 0, snmp_trap_port(H.l)), "",
			  ".1.3.6.1.6.3.1.1.5.4", ".1.3.6.1.2.1.2.2.1.8.17",
			  "i", "1", NULL },
	    1, 1);
	ck_assert_int_eq(H.seen[0].kind, TRAP_KIND_LINKUP);
	ck_assert_int_eq(H.seen[0].if_index, 17);
	ck_assert_int_eq(H.seen[0].oper, 1);
	ck_assert_int_eq(H.seen[0].admin, 0);
}
END_TEST

START_TEST(test_v2c_cold_start_is_decoded)
{
	char to[64];

	listen_on("127.0.0.1:0", 0);
	send_and_wait((const char *[]) { "-v2c", "-c", "public",
			  target(to, sizeof(to), 0, snmp_trap_port(H.l)),
			  "4242", ".1.3.6.1.6.3.1.1.5.1", NULL },
	    1, 1);
	ck_assert_int_eq(H.seen[0].kind, TRAP_KIND_COLDSTART);
	ck_assert_uint_eq(H.seen[0].uptime, 4242);
	ck_assert_int_eq(H.seen[0].if_index, -1);
	ck_assert_uint_eq(H.seen[0].nvarbinds, 0);
	ck_assert_str_eq(H.seen[0].json, "[]");
}
END_TEST

START_TEST(test_v1_generic_traps_map_to_snmp_traps)
{
	static const enum snmp_trap_kind kinds[] = { TRAP_KIND_COLDSTART,
		TRAP_KIND_WARMSTART, TRAP_KIND_LINKDOWN, TRAP_KIND_LINKUP,
		TRAP_KIND_AUTHFAIL, TRAP_KIND_OTHER };
	char to[64], generic[8], want[64];
	int g;

	listen_on("127.0.0.1:0", 0);
	target(to, sizeof(to), 0, snmp_trap_port(H.l));
	for (g = 0; g <= 5; g++) {
		snprintf(generic, sizeof(generic), "%d", g);
		send_and_wait((const char *[]) { "-v1", "-c", "public", to,
				  ".1.3.6.1.4.1.8072.3.2.10", "192.0.2.7",
				  generic, "0", "", NULL },
		    g + 1, (uint64_t)g + 1);
		snprintf(want, sizeof(want), "1.3.6.1.6.3.1.1.5.%d", g + 1);
		ck_assert_str_eq(H.seen[g].trap_oid, want);
		ck_assert_int_eq(H.seen[g].kind, kinds[g]);
		ck_assert_str_eq(H.seen[g].agent, "192.0.2.7");
		ck_assert_str_eq(H.seen[g].enterprise,
		    "1.3.6.1.4.1.8072.3.2.10");
	}
}
END_TEST

START_TEST(test_v1_enterprise_specific_trap_oid_is_enterprise_0_specific)
{
	char to[64];

	listen_on("127.0.0.1:0", 0);
	send_and_wait((const char *[]) { "-v1", "-c", "public",
			  target(to, sizeof(to), 0, snmp_trap_port(H.l)),
			  ".1.3.6.1.4.1.9999", "10.1.2.3", "6", "42", "1234",
			  ".1.3.6.1.4.1.9999.1.1", "s", "hello", NULL },
	    1, 1);
	ck_assert_str_eq(H.seen[0].trap_oid, "1.3.6.1.4.1.9999.0.42");
	ck_assert_int_eq(H.seen[0].kind, TRAP_KIND_OTHER);
	ck_assert_uint_eq(H.seen[0].uptime, 1234);
	ck_assert_str_eq(H.seen[0].agent, "10.1.2.3");
	ck_assert_str_eq(H.seen[0].json,
	    "[{\"oid\":\"1.3.6.1.4.1.9999.1.1\",\"type\":\"string\","
	    "\"value\":\"hello\"}]");
}
END_TEST

START_TEST(test_inform_is_acknowledged)
{
	char to[64];
	struct snmp_trap_stats st;

	listen_on("127.0.0.1:0", 0);
	/* snmptrap -Ci exits 0 only when our Response came; no retry. */
	send_and_wait((const char *[]) { "-Ci", "-t", "2", "-r", "0", "-v2c",
			  "-c", "public",
			  target(to, sizeof(to), 0, snmp_trap_port(H.l)), "",
			  ".1.3.6.1.6.3.1.1.5.4", ".1.3.6.1.2.1.2.2.1.1.3", "i",
			  "3", ".1.3.6.1.4.1.9999.1.1", "s", "ack me", NULL },
	    1, 1);
	ck_assert_msg(tool_ms() < 2000, "snmptrap ran %ld ms: it timed out",
	    tool_ms());
	ck_assert_int_eq(H.seen[0].inform, 1);
	ck_assert_int_eq(H.seen[0].kind, TRAP_KIND_LINKUP);
	ck_assert_int_eq(H.seen[0].if_index, 3);
	st = stats();
	ck_assert_uint_eq(st.informs_acked, 1);
	ck_assert_uint_eq(st.send_errors, 0);
}
END_TEST

START_TEST(test_inform_with_bad_community_is_not_acknowledged)
{
	char to[64];
	struct snmp_trap_stats st;

	listen_on("127.0.0.1:0", 0);
	H.want_seen = 0;
	H.want_received = 1;
	spawn_tool((const char *[]) { "-Ci", "-t", "1", "-r", "0", "-v2c", "-c",
	    "private", target(to, sizeof(to), 0, snmp_trap_port(H.l)), "",
	    ".1.3.6.1.6.3.1.1.5.4", NULL });
	run_loop();
	/* The control for the test above: without an ack the tool fails. */
	ck_assert(WIFEXITED(H.status) && WEXITSTATUS(H.status) != 0);
	ck_assert_int_ge(tool_ms(), 900);
	H.pid = -1;
	st = stats();
	ck_assert_int_eq(H.nseen, 0);
	ck_assert_uint_eq(st.bad_community, 1);
	ck_assert_uint_eq(st.informs_acked, 0);
}
END_TEST

START_TEST(test_bad_community_is_dropped_and_counted)
{
	char to[64];
	struct snmp_trap_stats st;

	listen_on("127.0.0.1:0", 0);
	target(to, sizeof(to), 0, snmp_trap_port(H.l));
	send_and_wait((const char *[]) { "-v2c", "-c", "private", to, "",
			  ".1.3.6.1.6.3.1.1.5.3", NULL },
	    0, 1);
	/* A prefix of an allowed community is another community. */
	send_and_wait((const char *[]) { "-v1", "-c", "publi", to,
			  ".1.3.6.1.4.1.1", "127.0.0.1", "0", "0", "", NULL },
	    0, 2);
	ck_assert_int_eq(H.nseen, 0);
	st = stats();
	ck_assert_uint_eq(st.received, 2);
	ck_assert_uint_eq(st.bad_community, 2);
	ck_assert_uint_eq(st.accepted, 0);
}
END_TEST

START_TEST(test_empty_community_list_accepts_any)
{
	char to[64];

	listen_on("127.0.0.1:0", 1);
	send_and_wait((const char *[]) { "-v2c", "-c", "anything-goes",
			  target(to, sizeof(to), 0, snmp_trap_port(H.l)), "",
			  ".1.3.6.1.6.3.1.1.5.2", NULL },
	    1, 1);
	ck_assert_int_eq(H.seen[0].kind, TRAP_KIND_WARMSTART);
}
END_TEST

START_TEST(test_v3_trap_is_counted_unsupported)
{
	char to[64];
	struct snmp_trap_stats st;

	listen_on("127.0.0.1:0", 0);
	send_and_wait((const char *[]) { "-v3", "-u", "monitord", "-l",
			  "noAuthNoPriv", "-e", "0x8000000001020304",
			  target(to, sizeof(to), 0, snmp_trap_port(H.l)), "",
			  ".1.3.6.1.6.3.1.1.5.1", NULL },
	    0, 1);
	st = stats();
	ck_assert_int_eq(H.nseen, 0);
	ck_assert_uint_eq(st.unsupported, 1);
	ck_assert_uint_eq(st.malformed, 0);
}
END_TEST

START_TEST(test_ipv6_listener_receives_traps_and_acks_informs)
{
	char to[64];

	listen_on("[::1]:0", 0);
	send_and_wait((const char *[]) { "-Ci", "-t", "2", "-r", "0", "-v2c",
			  "-c", "public",
			  target(to, sizeof(to), 1, snmp_trap_port(H.l)), "",
			  ".1.3.6.1.6.3.1.1.5.3", ".1.3.6.1.2.1.2.2.1.1.5", "i",
			  "5", NULL },
	    1, 1);
	ck_assert_msg(tool_ms() < 2000, "snmptrap ran %ld ms", tool_ms());
	ck_assert_int_eq(H.seen[0].sender_family, AF_INET6);
	ck_assert_str_eq(H.seen[0].sender, "::1");
	ck_assert_int_eq(H.seen[0].if_index, 5);
	ck_assert_uint_eq(stats().informs_acked, 1);
}
END_TEST

/* Sends raw bytes to the listener from a socket of the test's own. */
static void
send_raw(const uint8_t *buf, size_t len)
{
	struct sockaddr_in sin;
	int fd;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)snmp_trap_port(H.l));
	ck_assert_int_ne(fd = socket(AF_INET, SOCK_DGRAM, 0), -1);
	ck_assert_int_eq(sendto(fd, buf, len, 0, (struct sockaddr *)&sin,
			     sizeof(sin)),
	    (ssize_t)len);
	close(fd);
}

START_TEST(test_listener_counts_malformed_and_keeps_working)
{
	static const uint8_t get[] = { 0x30, 0x1a, 0x02, 0x01, 0x01, 0x04, 0x06,
		'p', 'u', 'b', 'l', 'i', 'c', 0xa0, 0x0d, 0x02, 0x01, 0x01,
		0x02, 0x01, 0x00, 0x02, 0x01, 0x00, 0x30, 0x02, 0x30, 0x00 };
	uint8_t buf[512];
	size_t len;
	char to[64];
	struct snmp_trap_stats st;

	listen_on("127.0.0.1:0", 0);
	send_raw((const uint8_t *)"junk", 4);
	send_raw((const uint8_t *)"", 0);
	len = unhex(hex_v2c_linkdown, buf, sizeof(buf));
	send_raw(buf, len - 1);
	send_raw(buf, len / 2);
	buf[len] = 0;
	send_raw(buf, len + 1); /* trailing garbage */
	send_raw(get, sizeof(get)); /* well formed, but a GetRequest */
	send_and_wait((const char *[]) { "-v2c", "-c", "public",
			  target(to, sizeof(to), 0, snmp_trap_port(H.l)), "",
			  ".1.3.6.1.6.3.1.1.5.1", NULL },
	    1, 7);
	st = stats();
	ck_assert_uint_eq(st.received, 7);
	ck_assert_uint_eq(st.malformed, 5);
	ck_assert_uint_eq(st.unsupported, 1);
	ck_assert_uint_eq(st.accepted, 1);
	ck_assert_int_eq(H.seen[0].kind, TRAP_KIND_COLDSTART);
}
END_TEST

START_TEST(test_string_varbind_is_escaped_in_json)
{
	char to[64];

	listen_on("127.0.0.1:0", 0);
	/* A " \ newline, 0x80 0xff NUL DEL (replaced), then 日 in UTF-8. */
	send_and_wait((const char *[]) { "-v2c", "-c", "public",
			  target(to, sizeof(to), 0, snmp_trap_port(H.l)), "",
			  ".1.3.6.1.4.1.9999.0.1", ".1.3.6.1.4.1.9999.1.2", "x",
			  "41 22 5C 0A 80 FF 00 7F E6 97 A5",
			  ".1.3.6.1.4.1.9999.1.3", "s", "tab\there", NULL },
	    1, 1);
	ck_assert_str_eq(H.seen[0].json,
	    "[{\"oid\":\"1.3.6.1.4.1.9999.1.2\",\"type\":\"string\","
	    "\"value\":\"A\\\"\\\\\\n\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
	    "\xef\xbf\xbd\xe6\x97\xa5\",\"hex\":\"41225c0a80ff007fe697a5\"},"
	    "{\"oid\":\"1.3.6.1.4.1.9999.1.3\",\"type\":\"string\","
	    "\"value\":\"tab\\there\"}]");
}
END_TEST

START_TEST(test_free_inside_the_callback_is_safe)
{
	char to[64];

	listen_on("127.0.0.1:0", 0);
	H.free_in_cb = 1;
	send_and_wait((const char *[]) { "-v2c", "-c", "public",
			  target(to, sizeof(to), 0, snmp_trap_port(H.l)), "",
			  ".1.3.6.1.6.3.1.1.5.1", NULL },
	    1, 0);
	ck_assert_ptr_null(H.l);
	ck_assert_int_eq(H.nseen, 1);
}
END_TEST

START_TEST(test_new_refuses_bad_addresses_and_busy_ports)
{
	struct snmp_trap_listener *other;
	char addr[64];

	ck_assert_ptr_null(snmp_trap_new(H.base, "localhost:1162", communities,
	    2, trap_cb, &H));
	ck_assert_ptr_null(
	    snmp_trap_new(H.base, "127.0.0.1", communities, 2, trap_cb, &H));
	ck_assert_ptr_null(
	    snmp_trap_new(H.base, "::1:162", communities, 2, trap_cb, &H));
	ck_assert_ptr_null(
	    snmp_trap_new(H.base, NULL, communities, 2, trap_cb, &H));
	listen_on("127.0.0.1:0", 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", snmp_trap_port(H.l));
	other = snmp_trap_new(H.base, addr, communities, 2, trap_cb, &H);
	ck_assert_ptr_null(other);
	snmp_trap_free(NULL);
}
END_TEST

/* Answers the inform the tool sent to our bare socket with the decoder. */
static void
bare_read_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct harness *h = arg;
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	struct snmp_trap t;
	uint8_t ack[2048];
	size_t acklen = sizeof(ack), i, diff = 0;
	const char *why;
	ssize_t n;

	(void)ev;
	n = recvfrom(fd, h->dgram, sizeof(h->dgram), 0, (struct sockaddr *)&ss,
	    &sslen);
	if (n <= 0)
		return;
	h->dgram_len = (size_t)n;
	ck_assert_int_eq(snmp_trap_decode(h->dgram, h->dgram_len, communities,
			     2, &t, ack, &acklen, &why),
	    0);
	ck_assert_int_eq(t.inform, 1);
	/*
	 * snmptrap sends error-status and error-index 0, so the Response is
	 * the inform itself with the PDU tag changed.
	 */
	ck_assert_uint_eq(acklen, h->dgram_len);
	for (i = 0; i < acklen; i++)
		if (ack[i] != h->dgram[i]) {
			ck_assert_uint_eq(h->dgram[i], 0xa6);
			ck_assert_uint_eq(ack[i], 0xa2);
			diff++;
		}
	ck_assert_uint_eq(diff, 1);
	snmp_trap_clear(&t);
	ck_assert_int_eq(sendto(fd, ack, acklen, 0, (struct sockaddr *)&ss,
			     sslen),
	    (ssize_t)acklen);
	h->acked = 1;
	h->nseen = 1;
}

START_TEST(test_decoder_ack_is_accepted_by_snmptrap)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	char to[64];

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_ne(H.fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0),
	    -1);
	ck_assert_int_eq(bind(H.fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(H.fd, (struct sockaddr *)&sin, &len), 0);
	H.fd_ev =
	    event_new(H.base, H.fd, EV_READ | EV_PERSIST, bare_read_cb, &H);
	event_add(H.fd_ev, NULL);
	snprintf(to, sizeof(to), "127.0.0.1:%u", ntohs(sin.sin_port));
	send_and_wait((const char *[]) { "-Ci", "-t", "2", "-r", "0", "-v2c",
			  "-c", "monitord-test", to, "",
			  ".1.3.6.1.4.1.9999.0.7", ".1.3.6.1.4.1.9999.1.1", "s",
			  "x", ".1.3.6.1.4.1.9999.1.2", "c", "4000000000",
			  ".1.3.6.1.4.1.9999.1.3", "a", "10.0.0.1",
			  ".1.3.6.1.4.1.9999.1.4", "o", ".1.3.6.1.4.1", NULL },
	    1, 0);
	ck_assert(H.acked);
	ck_assert_msg(tool_ms() < 2000, "snmptrap ran %ld ms", tool_ms());
}
END_TEST

START_TEST(test_real_datagrams_decode)
{
	uint8_t buf[512], ack[512];
	size_t len, acklen;
	struct snmp_trap t;
	const char *why;
	char oid[256], *json;

	len = unhex(hex_v1_linkdown, buf, sizeof(buf));
	acklen = sizeof(ack);
	ck_assert_int_eq(snmp_trap_decode(buf, len, communities, 2, &t, ack,
			     &acklen, &why),
	    0);
	ck_assert_ptr_null(why);
	ck_assert_uint_eq(acklen, 0);
	ck_assert_int_eq(t.version, 1);
	ck_assert_int_eq(t.kind, TRAP_KIND_LINKDOWN);
	ck_assert_int_eq(t.if_index, 3);
	snmp_trap_clear(&t);
	snmp_trap_clear(&t);

	len = unhex(hex_v1_enterprise, buf, sizeof(buf));
	ck_assert_int_eq(snmp_trap_decode(buf, len, communities, 2, &t, NULL,
			     NULL, NULL),
	    0);
	oid_fmt(oid, sizeof(oid), &t.trap_oid);
	ck_assert_str_eq(oid, "1.3.6.1.4.1.9999.0.42");
	ck_assert_uint_eq(t.uptime, 1234);
	ck_assert_uint_eq(t.varbinds[0].type, SNMP_VT_STRING);
	ck_assert_uint_eq(t.varbinds[0].str_len, 5);
	ck_assert_str_eq(t.varbinds[0].str, "hello");
	snmp_trap_clear(&t);

	len = unhex(hex_v2c_linkdown, buf, sizeof(buf));
	ck_assert_int_eq(snmp_trap_decode(buf, len, communities, 2, &t, ack,
			     &acklen, &why),
	    0);
	ck_assert_int_eq(t.if_admin_status, 1);
	ck_assert_int_eq(t.if_oper_status, 2);
	ck_assert_int_eq(t.request_id, 0x7f4f4d0c);
	snmp_trap_clear(&t);

	/* An inform whose ack buffer is too small still decodes, unacked. */
	len = unhex(hex_v2c_inform, buf, sizeof(buf));
	acklen = len - 1;
	ck_assert_int_eq(snmp_trap_decode(buf, len, communities, 2, &t, ack,
			     &acklen, &why),
	    0);
	ck_assert_uint_eq(acklen, 0);
	json = snmp_trap_varbinds_json(&t);
	ck_assert_str_eq(json,
	    "[{\"oid\":\"1.3.6.1.2.1.2.2.1.1.3\",\"type\":\"integer\","
	    "\"value\":\"3\"}]");
	free(json);
	snmp_trap_clear(&t);
	acklen = len;
	ck_assert_int_eq(snmp_trap_decode(buf, len, communities, 2, &t, ack,
			     &acklen, &why),
	    0);
	ck_assert_uint_eq(acklen, len);
	snmp_trap_clear(&t);

	len = unhex(hex_v3_coldstart, buf, sizeof(buf));
	ck_assert_int_eq(snmp_trap_decode(buf, len, communities, 2, &t, ack,
			     &acklen, &why),
	    -1);
	ck_assert_str_eq(why, "unsupported version");
	ck_assert_uint_eq(acklen, 0);
	snmp_trap_clear(&t);
}
END_TEST

START_TEST(test_every_truncation_is_malformed)
{
	static const char *const hexes[] = { hex_v1_linkdown, hex_v2c_linkdown,
		hex_v1_enterprise, hex_v2c_inform };
	uint8_t buf[512], ack[512];
	size_t len, cut, acklen, i;
	struct snmp_trap t;
	const char *why;

	for (i = 0; i < sizeof(hexes) / sizeof(hexes[0]); i++) {
		len = unhex(hexes[i], buf, sizeof(buf));
		for (cut = 0; cut < len; cut++) {
			acklen = sizeof(ack);
			ck_assert_int_eq(snmp_trap_decode(buf, cut, communities,
					     2, &t, ack, &acklen, &why),
			    -1);
			ck_assert_str_eq(why, "malformed");
			ck_assert_uint_eq(acklen, 0);
			ck_assert_ptr_null(t.varbinds);
		}
		ck_assert_int_eq(snmp_trap_decode(buf, len, communities, 2, &t,
				     ack, &acklen, &why),
		    0);
		snmp_trap_clear(&t);
	}
}
END_TEST

/* One hand-made datagram and the reason it must be refused with. */
struct bad_case {
	const char *name;
	const char *hex;
	const char *why;
};

START_TEST(test_bad_datagrams_are_refused_with_a_reason)
{
	/* Made by a small BER encoder; each has one defect. */
	static const struct bad_case cases[] = {
		{ "empty", "", "malformed" },
		{ "not a sequence", "0400", "malformed" },
		{ "indefinite length", "3080020101", "malformed" },
		{ "length beyond the datagram", "3005020101", "malformed" },
		{ "127 length bytes", "30ff", "malformed" },
		{ "five length bytes", "30850000000003020101", "malformed" },
		{ "version not an integer", "3003040101", "malformed" },
		{ "version 2 (v2u)", "3003020102", "unsupported version" },
		{ "version 3", "3003020103", "unsupported version" },
		{ "negative version", "30030201ff", "unsupported version" },
		{ "huge version", "300b0209010000000000000000", "malformed" },
		{ "community not a string", "3006020101020100", "malformed" },
		{ "other community", "3011020101040770726976617465a7030201ff",
		    "bad community" },
		{ "no PDU", "300b02010104067075626c6963", "malformed" },
		{ "GetRequest",
		    "301a02010104067075626c6963a00d020101020100020100300230"
		    "00",
		    "unsupported pdu" },
		{ "Report",
		    "301a02010104067075626c6963a80d020101020100020100300230"
		    "00",
		    "unsupported pdu" },
		{ "unknown PDU tag",
		    "301a02010104067075626c6963ab0d020101020100020100300230"
		    "00",
		    "malformed" },
		{ "v2 trap in a v1 message",
		    "301a02010004067075626c6963a70d020101020100020100300230"
		    "00",
		    "malformed" },
		{ "v1 trap in a v2c message",
		    "302802010104067075626c6963a41b06072b06010401bf0840047f00"
		    "0001020102020100430204d23000",
		    "malformed" },
		{ "no snmpTrapOID.0",
		    "302902010104067075626c6963a71c0201010201000201003011300f"
		    "06082b0601020101030043030c5728",
		    "malformed" },
		{ "snmpTrapOID.0 not an OID",
		    "302a02010104067075626c6963a71d02010102010002010030123010"
		    "060a2b0601060301010401000402abcd",
		    "malformed" },
		{ "v1 generic-trap 7",
		    "302802010004067075626c6963a41b06072b06010401bf0840047f00"
		    "0001020107020100430204d23000",
		    "malformed" },
		{ "v1 negative specific-trap",
		    "302802010004067075626c6963a41b06072b06010401bf0840047f00"
		    "0001020106020180430204d23000",
		    "malformed" },
		{ "v1 agent-addr of 5 bytes",
		    "302902010004067075626c6963a41c06072b06010401bf0840057f00"
		    "000101020102020100430204d23000",
		    "malformed" },
		{ "v1 enterprise not an OID",
		    "302102010004067075626c6963a41404017840047f00000102010002"
		    "01004301013000",
		    "malformed" },
		{ "v1 with trailing bytes in the PDU",
		    "302a02010004067075626c6963a41d06072b06010401bf0840047f00"
		    "0001020102020100430204d230000500",
		    "malformed" },
		{ "sub-identifier beyond 32 bits",
		    "303002010104067075626c6963a72302010102010002010030183016"
		    "060a2b06010603010104010006082b06818080808000",
		    "malformed" },
		{ "sub-identifier of exactly 2^32",
		    "302f02010104067075626c6963a72202010102010002010030173015"
		    "060a2b06010603010104010006072b069080808000",
		    "malformed" },
		{ "OID ending inside a sub-identifier",
		    "302b02010104067075626c6963a71e02010102010002010030133011"
		    "060a2b06010603010104010006032b0681",
		    "malformed" },
		{ "empty OID",
		    "302802010104067075626c6963a71b0201010201000201003010300e"
		    "060a2b0601060301010401000600",
		    "malformed" },
		{ "NULL with a value",
		    "303702010104067075626c6963a72a020101020100020100301f3010"
		    "060a2b06010603010104010006022b06300b06062b06010401010501"
		    "00",
		    "malformed" },
		{ "IpAddress of 3 bytes",
		    "303902010104067075626c6963a72c02010102010002010030213010"
		    "060a2b06010603010104010006022b06300d06062b06010401014003"
		    "0a0000",
		    "malformed" },
		{ "Counter32 beyond 32 bits",
		    "303b02010104067075626c6963a72e02010102010002010030233010"
		    "060a2b06010603010104010006022b06300f06062b06010401014105"
		    "0100000000",
		    "malformed" },
		{ "Counter64 beyond 64 bits",
		    "303f02010104067075626c6963a73202010102010002010030273010"
		    "060a2b06010603010104010006022b06301306062b06010401014609"
		    "010000000000000000",
		    "malformed" },
		{ "empty INTEGER",
		    "303602010104067075626c6963a729020101020100020100301e3010"
		    "060a2b06010603010104010006022b06300a06062b06010401010200",
		    "malformed" },
		{ "unknown value tag",
		    "303702010104067075626c6963a72a020101020100020100301f3010"
		    "060a2b06010603010104010006022b06300b06062b06010401014701"
		    "00",
		    "malformed" },
		{ "high tag number",
		    "303702010104067075626c6963a72a020101020100020100301f3010"
		    "060a2b06010603010104010006022b06300b06062b06010401011f01"
		    "00",
		    "malformed" },
		{ "varbind with a third element",
		    "303902010104067075626c6963a72c02010102010002010030213010"
		    "060a2b06010603010104010006022b06300d06062b06010401010201"
		    "010500",
		    "malformed" },
		{ "varbind name not an OID",
		    "303202010104067075626c6963a725020101020100020100301a3010"
		    "060a2b06010603010104010006022b063006040178020101",
		    "malformed" },
		{ "varbind not a sequence",
		    "302d02010104067075626c6963a72002010102010002010030153010"
		    "060a2b06010603010104010006022b06020105",
		    "malformed" },
		{ "request-id beyond 32 bits",
		    "302e02010104067075626c6963a72102050100000000020100020100"
		    "30123010060a2b06010603010104010006022b06",
		    "malformed" },
		{ "trailing bytes inside the PDU",
		    "302c02010104067075626c6963a71f02010102010002010030123010"
		    "060a2b06010603010104010006022b060000",
		    "malformed" },
		{ "trailing bytes inside the message",
		    "302c02010104067075626c6963a71d02010102010002010030123010"
		    "060a2b06010603010104010006022b060000",
		    "malformed" },
	};
	uint8_t buf[512], ack[512];
	size_t len, acklen, i;
	struct snmp_trap t;
	const char *why;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		len = unhex(cases[i].hex, buf, sizeof(buf));
		acklen = sizeof(ack);
		why = NULL;
		ck_assert_msg(snmp_trap_decode(buf, len, communities, 2, &t,
				  ack, &acklen, &why) == -1,
		    "%s: accepted", cases[i].name);
		ck_assert_msg(why != NULL && strcmp(why, cases[i].why) == 0,
		    "%s: \"%s\", not \"%s\"", cases[i].name,
		    why != NULL ? why : "(null)", cases[i].why);
		ck_assert_uint_eq(acklen, 0);
	}
}
END_TEST

START_TEST(test_minimal_v2c_trap_decodes)
{
	/*
	 * The base of the hand-made cases above: snmpTrapOID.0 = 1.3.6.1.1
	 * alone, no sysUpTime.0, request-id 1.
	 */
	uint8_t buf[128];
	size_t len;
	struct snmp_trap t;
	char oid[64];

	len = unhex("302a02010104067075626c6963a71d02010102010002010030123010"
		    "060a2b06010603010104010006022b06",
	    buf, sizeof(buf));
	ck_assert_int_eq(snmp_trap_decode(buf, len, NULL, 0, &t, NULL, NULL,
			     NULL),
	    0);
	oid_fmt(oid, sizeof(oid), &t.trap_oid);
	ck_assert_str_eq(oid, "1.3.6");
	ck_assert_uint_eq(t.uptime, 0);
	ck_assert_int_eq(t.kind, TRAP_KIND_OTHER);
	snmp_trap_clear(&t);
}
END_TEST

START_TEST(test_too_many_varbinds_is_malformed)
{
	/* SNMP_TRAP_MAX_VARBINDS + 1 NULL varbinds after snmpTrapOID.0. */
	static uint8_t buf[16384];
	static const uint8_t vb[] = { 0x30, 0x07, 0x06, 0x03, 0x2b, 0x06, 0x01,
		0x05, 0x00 };
	static const uint8_t trapoid[] = { 0x30, 0x10, 0x06, 0x0a, 0x2b, 0x06,
		0x01, 0x06, 0x03, 0x01, 0x01, 0x04, 0x01, 0x00, 0x06, 0x02,
		0x2b, 0x06 };
	size_t n, vbl_len, pdu_len, msg_len, off = 0;
	struct snmp_trap t;
	const char *why;
	int extra;

	for (extra = 0; extra <= 1; extra++) {
		n = SNMP_TRAP_MAX_VARBINDS - 1 + (size_t)extra;
		vbl_len = sizeof(trapoid) + n * sizeof(vb);
		pdu_len = 9 + 4 + vbl_len;
		msg_len = 3 + 8 + 4 + pdu_len;
		off = 0;
		buf[off++] = 0x30;
		buf[off++] = 0x82;
		buf[off++] = (uint8_t)(msg_len >> 8);
		buf[off++] = (uint8_t)msg_len;
		memcpy(buf + off, "\x02\x01\x01\x04\x06public", 11);
		off += 11;
		buf[off++] = 0xa7;
		buf[off++] = 0x82;
		buf[off++] = (uint8_t)(pdu_len >> 8);
		buf[off++] = (uint8_t)pdu_len;
		memcpy(buf + off, "\x02\x01\x01\x02\x01\x00\x02\x01\x00", 9);
		off += 9;
		buf[off++] = 0x30;
		buf[off++] = 0x82;
		buf[off++] = (uint8_t)(vbl_len >> 8);
		buf[off++] = (uint8_t)vbl_len;
		memcpy(buf + off, trapoid, sizeof(trapoid));
		off += sizeof(trapoid);
		for (; n > 0; n--) {
			memcpy(buf + off, vb, sizeof(vb));
			off += sizeof(vb);
		}
		ck_assert_uint_le(off, sizeof(buf));
		if (extra == 0) {
			ck_assert_int_eq(snmp_trap_decode(buf, off, communities,
					     2, &t, NULL, NULL, &why),
			    0);
			ck_assert_uint_eq(t.nvarbinds,
			    SNMP_TRAP_MAX_VARBINDS - 1);
			snmp_trap_clear(&t);
		} else {
			ck_assert_int_eq(snmp_trap_decode(buf, off, communities,
					     2, &t, NULL, NULL, &why),
			    -1);
			ck_assert_str_eq(why, "malformed");
		}
	}
}
END_TEST

/* Tells whether s is valid UTF-8, by glibc's iconv rather than our code. */
static int
valid_utf8(const char *s)
{
	static iconv_t cd = (iconv_t)-1;
	char *in = (char *)s, out[4096], *op;
	size_t inleft = strlen(s), outleft, rc;

	if (cd == (iconv_t)-1)
		cd = iconv_open("UTF-32LE", "UTF-8");
	ck_assert(cd != (iconv_t)-1);
	iconv(cd, NULL, NULL, NULL, NULL);
	while (inleft > 0) {
		op = out;
		outleft = sizeof(out);
		rc = iconv(cd, &in, &inleft, &op, &outleft);
		if (rc == (size_t)-1 && errno != E2BIG)
			return 0;
	}
	return 1;
}

/* A v2c trap with one string varbind holding the bytes 0x00 to 0xff. */
static const char hex_every_byte[] =
    "3082013d02010104067075626c6963a782012e02010102010002010030820121"
    "3010060a2b06010603010104010006022b063082010b06052b06010401048201"
    "00000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e"
    "1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e"
    "3f404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e"
    "5f606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e"
    "7f808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e"
    "9fa0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbe"
    "bfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcddde"
    "dfe0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfe"
    "ff";

START_TEST(test_json_is_valid_utf8_for_every_byte)
{
	uint8_t buf[512];
	size_t len;
	struct snmp_trap t;
	char *json;
	const char *p;

	len = unhex(hex_every_byte, buf, sizeof(buf));
	ck_assert_int_eq(snmp_trap_decode(buf, len, NULL, 0, &t, NULL, NULL,
			     NULL),
	    0);
	ck_assert_uint_eq(t.nvarbinds, 1);
	ck_assert_uint_eq(t.varbinds[0].str_len, 256);
	json = snmp_trap_varbinds_json(&t);
	ck_assert(valid_utf8(json));
	for (p = json; *p != '\0'; p++)
		ck_assert_int_ge((unsigned char)*p, 0x20);
	ck_assert_ptr_nonnull(
	    strstr(json, "\"value\":\"\xef\xbf\xbd\xef\xbf\xbd"));
	ck_assert_ptr_nonnull(strstr(json, "\\t\\n"));
	ck_assert_ptr_nonnull(strstr(json, " !\\\"#$%&'()*+,-./0123456789"));
	ck_assert_ptr_nonnull(strstr(json, "[\\\\]^_`abc"));
	ck_assert_ptr_nonnull(strstr(json, "\"hex\":\"000102"));
	ck_assert_ptr_nonnull(strstr(json, "fdfeff\"}]"));
	free(json);
	snmp_trap_clear(&t);
}
END_TEST

/*
 * A string of overlong forms (C0 80, E0 80 80), a UTF-16 surrogate
 * (ED A0 80), a code point beyond U+10FFFF (F4 90 80 80), a valid emoji,
 * "/" and a sequence cut short at the end (E6 97).
 */
static const char hex_bad_utf8[] =
    "304802010104067075626c6963a73b02010102010002010030303010060a2b060106"
    "03010104010006022b06301c06052b060104010413c080e08080eda080f4908080f0"
    "9f98802fe697";

START_TEST(test_json_replaces_each_invalid_utf8_byte)
{
	uint8_t buf[128];
	size_t len;
	struct snmp_trap t;
	char *json;

	len = unhex(hex_bad_utf8, buf, sizeof(buf));
	ck_assert_int_eq(snmp_trap_decode(buf, len, NULL, 0, &t, NULL, NULL,
			     NULL),
	    0);
	json = snmp_trap_varbinds_json(&t);
	ck_assert(valid_utf8(json));
	ck_assert_str_eq(json,
	    "[{\"oid\":\"1.3.6.1.4.1\",\"type\":\"string\",\"value\":\""
	    "\xef\xbf\xbd\xef\xbf\xbd"
	    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
	    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
	    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
	    "\xf0\x9f\x98\x80/"
	    "\xef\xbf\xbd\xef\xbf\xbd\","
	    "\"hex\":\"c080e08080eda080f4908080f09f98802fe697\"}]");
	free(json);
	snmp_trap_clear(&t);
}
END_TEST

/* A v2c trap with a varbind of every value type SNMPv2 knows. */
static const char hex_every_type[] =
    "3082013602010104067075626c6963a78201270201010201000201003082011a"
    "301106082b06010201010300430500ffffffff3017060a2b0601060301010401"
    "0006092b06010401ce0f0001300e06092b06010401ce0f01010201fb30110609"
    "2b06010401ce0f01024104ffffffff300e06092b06010401ce0f010342012a30"
    "1606092b06010401ce0f0104460900ffffffffffffffff301106092b06010401"
    "ce0f01054004c0a80102301406092b06010401ce0f0106060788378fffffff7f"
    "300d06092b06010401ce0f01070500301406092b06010401ce0f010844079f78"
    "043f800000300d06092b06010401ce0f01098000300d06092b06010401ce0f01"
    "0a8100300d06092b06010401ce0f010b8200301506092b06010401ce0f010c02"
    "088000000000000000300f060a2b060102010202010709020102";

START_TEST(test_every_value_type_decodes)
{
	uint8_t buf[512];
	size_t len;
	struct snmp_trap t;
	char *json;

	len = unhex(hex_every_type, buf, sizeof(buf));
	ck_assert_int_eq(snmp_trap_decode(buf, len, NULL, 0, &t, NULL, NULL,
			     NULL),
	    0);
	/* TimeTicks 2^32 - 1 with its leading zero byte. */
	ck_assert_uint_eq(t.uptime, UINT32_MAX);
	ck_assert_uint_eq(t.nvarbinds, 13);
	ck_assert_int_eq(t.if_index, 9);
	ck_assert_int_eq(t.if_admin_status, 2);
	ck_assert_int_eq(t.if_oper_status, 0);
	json = snmp_trap_varbinds_json(&t);
	ck_assert_str_eq(json,
	    "[{\"oid\":\"1.3.6.1.4.1.9999.1.1\",\"type\":\"integer\","
	    "\"value\":\"-5\"},"
	    "{\"oid\":\"1.3.6.1.4.1.9999.1.2\",\"type\":\"counter32\","
	    "\"value\":\"4294967295\"},"
	    "{\"oid\":\"1.3.6.1.4.1.9999.1.3\",\"type\":\"gauge32\","
	    "\"value\":\"42\"},"
	    "{\"oid\":\"1.3.6.1.4.1.9999.1.4\",\"type\":\"counter64\","
	    "\"value\":\"18446744073709551615\"},"
	    "{\"oid\":\"1.3.6.1.4.1.9999.1.5\",\"type\":\"ipaddress\","
	    "\"value\":\"192.168.1.2\"},"
	    "{\"oid\":\"1.3.6.1.4.1.9999.1.6\",\"type\":\"oid\","
	    "\"value\":\"2.999.4294967295\"},"
	    "{\"oid\":\"1.3.6.1.4.1.9999.1.7\",\"type\":\"null\","
	    "\"value\":\"\"},"
	    "{\"oid\":\"1.3.6.1.4.1.9999.1.8\",\"type\":\"opaque\","
	    "\"value\":\"9f78043f800000\"},"
	    "{\"oid\":\"1.3.6.1.4.1.9999.1.9\",\"type\":\"noSuchObject\","
	    "\"value\":\"\"},"
	    "{\"oid\":\"1.3.6.1.4.1.9999.1.10\",\"type\":\"noSuchInstance\","
	    "\"value\":\"\"},"
	    "{\"oid\":\"1.3.6.1.4.1.9999.1.11\",\"type\":\"endOfMibView\","
	    "\"value\":\"\"},"
	    "{\"oid\":\"1.3.6.1.4.1.9999.1.12\",\"type\":\"integer\","
	    "\"value\":\"-9223372036854775808\"},"
	    "{\"oid\":\"1.3.6.1.2.1.2.2.1.7.9\",\"type\":\"integer\","
	    "\"value\":\"2\"}]");
	free(json);
	snmp_trap_clear(&t);
}
END_TEST

/* A small deterministic PRNG (xorshift64*), so a failure repeats. */
static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dULL;
}

/* Decodes buf and checks what a success promises. */
static int
fuzz_one(const uint8_t *buf, size_t len)
{
	uint8_t ack[1024];
	size_t acklen = sizeof(ack);
	struct snmp_trap t;
	const char *why;
	char *json;

	if (snmp_trap_decode(buf, len, communities, 2, &t, ack, &acklen,
		&why) == -1) {
		ck_assert_ptr_nonnull(why);
		ck_assert_uint_eq(acklen, 0);
		ck_assert_ptr_null(t.varbinds);
		return 0;
	}
	ck_assert_uint_le(acklen, len);
	ck_assert(t.version == 1 || t.version == 2);
	ck_assert_uint_le(t.nvarbinds, SNMP_TRAP_MAX_VARBINDS);
	json = snmp_trap_varbinds_json(&t);
	ck_assert(valid_utf8(json));
	free(json);
	snmp_trap_clear(&t);
	return 1;
}

START_TEST(test_decoder_survives_random_and_mutated_input)
{
	static const char *const seeds[] = { hex_v1_linkdown, hex_v2c_linkdown,
		hex_v1_enterprise, hex_v2c_inform, hex_v3_coldstart };
	uint8_t seed[5][512], buf[1024];
	size_t seedlen[5], len, pos, i, k, n;
	uint64_t s = 0x6d6f6e69746f7264ULL; /* "monitord" */
	unsigned ok = 0, iter;

	for (i = 0; i < 5; i++)
		seedlen[i] = unhex(seeds[i], seed[i], sizeof(seed[i]));
	/* Random bytes, mostly stopped early, but a few deeper. */
	for (iter = 0; iter < 20000; iter++) {
		len = rnd(&s) % 200;
		for (i = 0; i < len; i++)
			buf[i] = (uint8_t)rnd(&s);
		if (len > 2 && iter % 2 == 0) {
			buf[0] = 0x30; /* a sequence of the right length */
			buf[1] = (uint8_t)(len - 2 < 0x80 ? len - 2 : 0x7f);
		}
		ok += (unsigned)fuzz_one(buf, len);
	}
	/* Mutations of real datagrams reach every field. */
	for (iter = 0; iter < 200000; iter++) {
		memcpy(buf, seed[iter % 5], seedlen[iter % 5]);
		len = seedlen[iter % 5];
		n = 1 + rnd(&s) % 4;
		for (k = 0; k < n; k++) {
			pos = len > 0 ? rnd(&s) % len : 0;
			switch (rnd(&s) % 6) {
			case 0: /* flip a bit */
				if (len > 0)
					buf[pos] ^= (uint8_t)(1 << rnd(&s) % 8);
				break;
			case 1: /* any byte */
				if (len > 0)
					buf[pos] = (uint8_t)rnd(&s);
				break;
			case 2: /* an interesting byte */
				if (len > 0)
					buf[pos] = (uint8_t[]) { 0x00, 0x7f,
						0x80, 0x81, 0x82, 0x84, 0xff,
						0x30 }[rnd(&s) % 8];
				break;
			case 3: /* cut */
				len = pos;
				break;
			case 4: /* insert a byte */
				if (len < sizeof(buf) - 1) {
					memmove(buf + pos + 1, buf + pos,
					    len - pos);
					buf[pos] = (uint8_t)rnd(&s);
					len++;
				}
				break;
			case 5: /* remove a byte */
				if (len > 0) {
					memmove(buf + pos, buf + pos + 1,
					    len - pos - 1);
					len--;
				}
				break;
			}
		}
		ok += (unsigned)fuzz_one(buf, len);
	}
	/* The fuzzer got past the parser's front door often enough. */
	ck_assert_uint_gt(ok, 1000);
}
END_TEST

START_TEST(test_kind_names)
{
	ck_assert_str_eq(snmp_trap_kind_str(TRAP_KIND_COLDSTART), "coldStart");
	ck_assert_str_eq(snmp_trap_kind_str(TRAP_KIND_WARMSTART), "warmStart");
	ck_assert_str_eq(snmp_trap_kind_str(TRAP_KIND_LINKDOWN), "linkDown");
	ck_assert_str_eq(snmp_trap_kind_str(TRAP_KIND_LINKUP), "linkUp");
	ck_assert_str_eq(snmp_trap_kind_str(TRAP_KIND_AUTHFAIL),
	    "authenticationFailure");
	ck_assert_str_eq(snmp_trap_kind_str(TRAP_KIND_OTHER), "other");
}
END_TEST

/* The suite: the pure decoder, then the listener with snmptrap. */
static Suite *
snmp_trap_suite(void)
{
	Suite *s = suite_create("snmp_trap");
	TCase *tc;

	tc = tcase_create("decode");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_real_datagrams_decode);
	tcase_add_test(tc, test_every_truncation_is_malformed);
	tcase_add_test(tc, test_bad_datagrams_are_refused_with_a_reason);
	tcase_add_test(tc, test_minimal_v2c_trap_decodes);
	tcase_add_test(tc, test_too_many_varbinds_is_malformed);
	tcase_add_test(tc, test_json_is_valid_utf8_for_every_byte);
	tcase_add_test(tc, test_json_replaces_each_invalid_utf8_byte);
	tcase_add_test(tc, test_every_value_type_decodes);
	tcase_add_test(tc, test_decoder_survives_random_and_mutated_input);
	tcase_add_test(tc, test_kind_names);
	suite_add_tcase(s, tc);

	tc = tcase_create("listener");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_v1_link_down_is_decoded);
	tcase_add_test(tc, test_v2c_link_down_is_decoded);
	tcase_add_test(tc,
	    test_v2c_link_up_without_if_index_takes_the_status_instance);
	tcase_add_test(tc, test_v2c_cold_start_is_decoded);
	tcase_add_test(tc, test_v1_generic_traps_map_to_snmp_traps);
	tcase_add_test(tc,
	    test_v1_enterprise_specific_trap_oid_is_enterprise_0_specific);
	tcase_add_test(tc, test_inform_is_acknowledged);
	tcase_add_test(tc, test_inform_with_bad_community_is_not_acknowledged);
	tcase_add_test(tc, test_bad_community_is_dropped_and_counted);
	tcase_add_test(tc, test_empty_community_list_accepts_any);
	tcase_add_test(tc, test_v3_trap_is_counted_unsupported);
	tcase_add_test(tc, test_ipv6_listener_receives_traps_and_acks_informs);
	tcase_add_test(tc, test_listener_counts_malformed_and_keeps_working);
	tcase_add_test(tc, test_string_varbind_is_escaped_in_json);
	tcase_add_test(tc, test_free_inside_the_callback_is_safe);
	tcase_add_test(tc, test_new_refuses_bad_addresses_and_busy_ports);
	tcase_add_test(tc, test_decoder_ack_is_accepted_by_snmptrap);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	char path[96];
	int failed;

	/* Made here, so that it goes away even when a test failed. */
	snprintf(tool_dir, sizeof(tool_dir), "/tmp/check_snmp_trap.XXXXXX");
	if (mkdtemp(tool_dir) == NULL) {
		perror("mkdtemp");
		return EXIT_FAILURE;
	}
	/* snmptrap says "Created directory" on stderr otherwise. */
	snprintf(path, sizeof(path), "%s/cert_indexes", tool_dir);
	if (mkdir(path, 0700) == -1) {
		perror(path);
		return EXIT_FAILURE;
	}
	sr = srunner_create(snmp_trap_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	nftw(tool_dir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
