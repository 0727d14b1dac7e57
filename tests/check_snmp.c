/*
 * The SNMP engine (monitord/snmp_*.c, snmp_engine.h): real requests
 * against Debian's snmpd, which tests/integration/
 * test_snmp_engine.py starts on loopback addresses and describes in
 * MONITORD_TEST_SNMP_* variables; without them the live tests fail.  A
 * small in-test agent and proxy on 127.61.2.x covers what snmpd never
 * does (tooBig, endless or looping walks) and feeds the engine mutated
 * copies of snmpd's real answers.  Nothing leaves the loopback.
 */
#include "config.h"

#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "monitord.h"
#include "timeutil.h"

#define SAFETY_MS 20000
#define MAX_RESULTS 256
#define MAX_SECRETS 16
#define FAKE_ADDR "127.61.2.1"
#define FAKE_ROOT_LEN 8 /* of the roots walked on the in-test agent */

/* The agents the wrapper started, from the environment. */
struct env {
	char addrs[64][INET_ADDRSTRLEN];
	size_t naddrs;
	uint16_t port;
	uint16_t dead_port;
	char other[INET_ADDRSTRLEN]; /* another snmpd: its own engine ID */
	const char *community;
	const char *user, *auth, *priv;
	const char *user256, *auth256, *priv256;
};

/* A copy of one response, made in the callback. */
struct result {
	int got;
	int order;
	enum snmp_result result;
	long error_status, error_index;
	char reason[160];
	struct snmp_varbind *vb;
	size_t nvb;
	uint64_t rtt_us;
	uint64_t pdus_sent; /* the engine's count when it came */
};

/* One test's loop: its event base, the results, a safety timer. */
struct run {
	struct event_base *base;
	struct event *safety;
	struct snmp_engine *engine;
	int timed_out;
	int done, expected;
	struct result res[MAX_RESULTS];
	const char *secrets[MAX_SECRETS];
	size_t nsecrets;
	struct snmp_agent *free_in_cb; /* freed by the first callback */
};

static struct env env;
/* What no reason may ever contain. */
static const char *const *const env_secrets[] = { &env.community, &env.auth,
	&env.priv, &env.auth256, &env.priv256 };
static struct run *current; /* the running test's, for collect_cb */

/* Reads a variable the wrapper must set; fails the test without it. */
static const char *
env_get(const char *name)
{
	const char *v = getenv(name);

	ck_assert_msg(v != NULL && v[0] != '\0',
	    "%s is not set: run this suite through "
	    "tests/integration/test_snmp_engine.py",
	    name);
	return v;
}

/* Loads the agents' description from the environment. */
static void
env_load(void)
{
	char *list, *tok, *save = NULL;

	memset(&env, 0, sizeof(env));
	list = strdup(env_get("MONITORD_TEST_SNMP_ADDRS"));
	for (tok = strtok_r(list, ",", &save); tok != NULL && env.naddrs < 64;
	     tok = strtok_r(NULL, ",", &save))
		snprintf(env.addrs[env.naddrs++], INET_ADDRSTRLEN, "%s", tok);
	free(list);
	ck_assert_uint_ge(env.naddrs, 4);
	env.port = (uint16_t)atoi(env_get("MONITORD_TEST_SNMP_PORT"));
	env.dead_port = (uint16_t)atoi(env_get("MONITORD_TEST_SNMP_DEAD_PORT"));
	snprintf(env.other, sizeof(env.other), "%s",
	    env_get("MONITORD_TEST_SNMP_OTHER"));
	env.community = env_get("MONITORD_TEST_SNMP_COMMUNITY");
	env.user = env_get("MONITORD_TEST_SNMP_V3_USER");
	env.auth = env_get("MONITORD_TEST_SNMP_V3_AUTH");
	env.priv = env_get("MONITORD_TEST_SNMP_V3_PRIV");
	env.user256 = env_get("MONITORD_TEST_SNMP_V3_USER256");
	env.auth256 = env_get("MONITORD_TEST_SNMP_V3_AUTH256");
	env.priv256 = env_get("MONITORD_TEST_SNMP_V3_PRIV256");
}

/* Builds an IPv4 or IPv6 address with a port. */
static socklen_t
addr_of(const char *ip, uint16_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(ip, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		ck_assert_int_eq(inet_pton(AF_INET6, ip, &s6->sin6_addr), 1);
		return sizeof(*s6);
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

	s4->sin_family = AF_INET;
	s4->sin_port = htons(port);
	ck_assert_int_eq(inet_pton(AF_INET, ip, &s4->sin_addr), 1);
	return sizeof(*s4);
}

/* Parses an OID the test knows is good. */
static struct snmp_oid
O(const char *s) {
	struct snmp_oid oid;

	ck_assert_msg(snmp_oid_parse(s, &oid) == 0, "bad OID %s", s);
	return oid;
}

/* Stops the loop when the safety time is up. */
static void
safety_cb(evutil_socket_t fd, short what, void *arg)
{
	struct run *run = arg;

	(void)fd;
	(void)what;
	run->timed_out = 1;
	event_base_loopbreak(run->base);
}

/* Starts a test's loop and engine; the secrets may never show. */
static struct run *
run_new(void)
{
	struct run *run = calloc(1, sizeof(*run));

	ck_assert_ptr_nonnull(run);
	run->base = event_base_new();
	ck_assert_ptr_nonnull(run->base);
	run->safety = evtimer_new(run->base, safety_cb, run);
	run->engine = snmp_engine_new(run->base);
	ck_assert_ptr_nonnull(run->engine);
	return run;
}

/* Adds a string no reason may contain. */
static void
run_secret(struct run *run, const char *s)
{
	ck_assert_uint_lt(run->nsecrets, MAX_SECRETS);
	run->secrets[run->nsecrets++] = s;
}

/* Runs the loop until n callbacks came in all, or the safety time. */
static void
run_wait(struct run *run, int n, uint64_t safety_ms)
{
	struct timeval tv = timeutil_ms_to_tv(safety_ms);

	run->expected = n;
	if (run->done >= n)
		return;
	evtimer_add(run->safety, &tv);
	event_base_dispatch(run->base);
	evtimer_del(run->safety);
	ck_assert_msg(!run->timed_out,
	    "safety timeout: %d of %d callbacks after %llu ms", run->done, n,
	    (unsigned long long)safety_ms);
}

/* Runs the loop for a while, whatever happens. */
static void
run_for(struct run *run, uint64_t ms)
{
	struct timeval tv = timeutil_ms_to_tv(ms);

	run->expected = MAX_RESULTS + 1;
	evtimer_add(run->safety, &tv);
	event_base_dispatch(run->base);
	evtimer_del(run->safety);
	run->timed_out = 0;
}

/* Frees a copied result. */
static void
result_clear(struct result *r)
{
	size_t i;

	for (i = 0; i < r->nvb; i++)
		free(r->vb[i].str);
	free(r->vb);
	r->vb = NULL;
	r->nvb = 0;
}

/* Frees a test's loop, engine and results. */
static void
run_free(struct run *run)
{
	size_t i;

	snmp_engine_free(run->engine);
	event_free(run->safety);
	event_base_free(run->base);
	for (i = 0; i < MAX_RESULTS; i++)
		result_clear(&run->res[i]);
	free(run);
}

/* Copies a response into slot (int)arg of the test's run. */
static void
collect_cb(const struct snmp_response *resp, void *arg)
{
	struct run *run = current;
	struct result *r = &run->res[(intptr_t)arg];
	struct snmp_stats st;
	size_t i;

	ck_assert_msg(!r->got, "a second callback for request %d",
	    (int)(intptr_t)arg);
	r->got = 1;
	r->order = ++run->done;
	r->result = resp->result;
	r->error_status = resp->error_status;
	r->error_index = resp->error_index;
	snprintf(r->reason, sizeof(r->reason), "%s", resp->reason);
	r->rtt_us = resp->rtt_us;
	snmp_engine_stats(run->engine, &st);
	r->pdus_sent = st.pdus_sent;
	for (i = 0; i < run->nsecrets; i++)
		ck_assert_msg(strstr(resp->reason, run->secrets[i]) == NULL,
		    "a secret in the reason \"%s\"", resp->reason);
	for (i = 0; i < sizeof(env_secrets) / sizeof(env_secrets[0]); i++) {
		if (*env_secrets[i] != NULL)
			ck_assert_msg(strstr(resp->reason, *env_secrets[i]) ==
				NULL,
			    "a secret in the reason \"%s\"", resp->reason);
	}
	if (resp->result != SNMP_RESULT_OK)
		ck_assert_msg(resp->reason[0] != '\0', "no reason for %s",
		    snmp_agent_result_str(resp->result));
	r->nvb = resp->nvb;
	r->vb = resp->nvb ? calloc(resp->nvb, sizeof(*r->vb)) : NULL;
	for (i = 0; i < resp->nvb; i++) {
		r->vb[i] = resp->vb[i];
		if (resp->vb[i].str != NULL) {
			r->vb[i].str = malloc(resp->vb[i].str_len + 1);
			memcpy(r->vb[i].str, resp->vb[i].str,
			    resp->vb[i].str_len + 1);
		}
	}
	if (run->free_in_cb != NULL) {
		snmp_agent_free(run->free_in_cb);
		run->free_in_cb = NULL;
	}
	if (run->done >= run->expected)
		event_base_loopbreak(run->base);
}

/* A v1/v2c credential set. */
static struct snmp_cred
cred_community(enum snmp_version version, const char *community)
{
	struct snmp_cred c;

	memset(&c, 0, sizeof(c));
	c.name = (char *)"test";
	c.version = version;
	c.community = (char *)community;
	return c;
}

/* An SNMPv3 authPriv credential set. */
static struct snmp_cred
cred_v3(const char *user, enum snmp_auth auth, const char *ap, const char *pp)
{
	struct snmp_cred c;

	memset(&c, 0, sizeof(c));
	c.name = (char *)"test-v3";
	c.version = SNMP_VERSION_V3;
	c.user = (char *)user;
	c.level = SNMP_LEVEL_AUTHPRIV;
	c.auth = auth;
	c.auth_pass = (char *)ap;
	c.priv = SNMP_PRIV_AES;
	c.priv_pass = (char *)pp;
	return c;
}

/* Creates an agent at ip:port that must be accepted. */
static struct snmp_agent *
agent_at(struct run *run, const char *ip, uint16_t port,
    const struct snmp_cred *cred, uint64_t timeout_ms, unsigned retries)
{
	struct sockaddr_storage ss;
	socklen_t len = addr_of(ip, port, &ss);
	struct snmp_agent *a;

	a = snmp_agent_new(run->engine, (struct sockaddr *)&ss, len, cred,
	    timeout_ms, retries);
	ck_assert_ptr_nonnull(a);
	return a;
}

/* The value of an OID in a result, or NULL. */
static const struct snmp_varbind *
vb_find(const struct result *r, const char *oid)
{
	struct snmp_oid o = O(oid);
	size_t i;

	for (i = 0; i < r->nvb; i++) {
		if (snmp_oid_cmp(&r->vb[i].oid, &o) == 0)
			return &r->vb[i];
	}
	return NULL;
}

/* Asks a v2c agent for ifNumber.0: the rows ifTable has. */
static long
if_number(struct run *run, struct snmp_agent *a, int slot)
{
	struct snmp_oid o = O("1.3.6.1.2.1.2.1.0");

	ck_assert_int_eq(snmp_agent_get(a, &o, 1, collect_cb,
			     (void *)(intptr_t)slot),
	    0);
	run_wait(run, run->done + 1, SAFETY_MS);
	ck_assert_int_eq(run->res[slot].result, SNMP_RESULT_OK);
	ck_assert_int_eq(run->res[slot].vb[0].type, SNMP_VT_INTEGER);
	ck_assert_int_gt(run->res[slot].vb[0].i, 0);
	return (long)run->res[slot].vb[0].i;
}

/* Counts this process's open file descriptors. */
static int
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] != '.')
			n++;
	}
	closedir(d);
	return n - 1; /* opendir's own */
}

/* ---- a small BER writer and reader for the in-test agent ---- */

/* A message being built. */
struct ber {
	uint8_t b[65536];
	size_t len;
};

/* Appends one TLV. */
static void
ber_put(struct ber *o, uint8_t tag, const void *data, size_t len)
{
	ck_assert_uint_lt(o->len + len + 6, sizeof(o->b));
	o->b[o->len++] = tag;
	if (len < 128)
		o->b[o->len++] = (uint8_t)len;
	else if (len < 256) {
		o->b[o->len++] = 0x81;
		o->b[o->len++] = (uint8_t)len;
	} else {
		o->b[o->len++] = 0x82;
		o->b[o->len++] = (uint8_t)(len >> 8);
		o->b[o->len++] = (uint8_t)len;
	}
	memcpy(o->b + o->len, data, len);
	o->len += len;
}

/* Appends an INTEGER (or an application type with its tag). */
static void
ber_int(struct ber *o, uint8_t tag, long v)
{
	uint8_t b[9];
	int n = 8, i;

	for (i = 0; i < 8; i++)
		b[i + 1] = (uint8_t)((unsigned long)v >> (8 * (7 - i)));
	/* drop redundant leading bytes */
	i = 1;
	while (n > 1 &&
	    ((b[i] == 0 && !(b[i + 1] & 0x80)) ||
		(b[i] == 0xff && (b[i + 1] & 0x80)))) {
		i++;
		n--;
	}
	ber_put(o, tag, b + i, (size_t)n);
}

/* Appends an OBJECT IDENTIFIER. */
static void
ber_oid(struct ber *o, const struct snmp_oid *oid)
{
	uint8_t b[SNMP_OID_MAX * 5 + 5];
	size_t len = 0, i;
	uint64_t v;
	int k;

	for (i = 1; i < oid->len; i++) {
		v = i == 1 ? (uint64_t)oid->n[0] * 40 + oid->n[1] : oid->n[i];
		for (k = 4; k > 0; k--) {
			if (v >> (7 * k))
				b[len++] =
				    (uint8_t)(0x80 | ((v >> (7 * k)) & 0x7f));
		}
		b[len++] = (uint8_t)(v & 0x7f);
	}
	ber_put(o, 0x06, b, len);
}

/* Wraps what o holds into one TLV of tag. */
static void
ber_wrap(struct ber *o, uint8_t tag)
{
	static struct ber tmp;

	tmp.len = 0;
	ber_put(&tmp, tag, o->b, o->len);
	memcpy(o->b, tmp.b, tmp.len);
	o->len = tmp.len;
}

/* Reads one TLV at *p; -1 at the end or on bad framing. */
static int
ber_get(const uint8_t **p, size_t *n, uint8_t *tag, const uint8_t **val,
    size_t *vlen)
{
	size_t h = 2, l, i, nl;

	if (*n < 2)
		return -1;
	*tag = (*p)[0];
	l = (*p)[1];
	if (l & 0x80) {
		nl = l & 0x7f;
		if (nl == 0 || nl > 3 || *n < 2 + nl)
			return -1;
		for (l = 0, i = 0; i < nl; i++)
			l = (l << 8) | (*p)[2 + i];
		h += nl;
	}
	if (l > *n - h)
		return -1;
	*val = *p + h;
	*vlen = l;
	*p += h + l;
	*n -= h + l;
	return 0;
}

/* Decodes an INTEGER's contents. */
static long
ber_long(const uint8_t *v, size_t len)
{
	long x = (len > 0 && (v[0] & 0x80)) ? -1 : 0;
	size_t i;

	for (i = 0; i < len && i < sizeof(long); i++)
		x = (long)(((unsigned long)x << 8) | v[i]);
	return x;
}

/* Decodes an OBJECT IDENTIFIER's contents. */
static void
ber_decode_oid(const uint8_t *v, size_t len, struct snmp_oid *oid)
{
	uint64_t x = 0;
	size_t i;

	oid->len = 0;
	for (i = 0; i < len && oid->len < SNMP_OID_MAX - 1; i++) {
		x = (x << 7) | (v[i] & 0x7f);
		if (v[i] & 0x80)
			continue;
		if (oid->len == 0) {
			oid->n[0] = x < 80 ? (uint32_t)(x / 40) : 2;
			oid->n[1] = (uint32_t)(x - oid->n[0] * 40);
			oid->len = 2;
		} else
			oid->n[oid->len++] = (uint32_t)x;
		x = 0;
	}
}

/* A v1/v2c request as the in-test agent sees it. */
struct fake_req {
	long version;
	uint8_t pdu;
	long reqid;
	long max_rep;
	struct snmp_oid oids[512];
	size_t n;
};

/* Parses a v1/v2c request; -1 for anything else (SNMPv3, garbage). */
static int
fake_parse(const uint8_t *buf, size_t len, struct fake_req *q)
{
	const uint8_t *p = buf, *v, *pp, *vv, *vb, *x;
	size_t n = len, vl, pn, vvl, vbl, xl;
	uint8_t tag;

	if (ber_get(&p, &n, &tag, &v, &vl) == -1 || tag != 0x30)
		return -1;
	p = v;
	n = vl;
	if (ber_get(&p, &n, &tag, &v, &vl) == -1 || tag != 0x02)
		return -1;
	q->version = ber_long(v, vl);
	if (q->version > 1 || ber_get(&p, &n, &tag, &v, &vl) == -1 ||
	    tag != 0x04)
		return -1;
	if (ber_get(&p, &n, &tag, &v, &vl) == -1)
		return -1;
	q->pdu = tag;
	pp = v;
	pn = vl;
	if (ber_get(&pp, &pn, &tag, &v, &vl) == -1)
		return -1;
	q->reqid = ber_long(v, vl);
	if (ber_get(&pp, &pn, &tag, &v, &vl) == -1)
		return -1;
	if (ber_get(&pp, &pn, &tag, &v, &vl) == -1)
		return -1;
	q->max_rep = ber_long(v, vl);
	if (ber_get(&pp, &pn, &tag, &vv, &vvl) == -1 || tag != 0x30)
		return -1;
	q->n = 0;
	while (vvl > 0 && q->n < 512) {
		if (ber_get(&vv, &vvl, &tag, &vb, &vbl) == -1)
			return -1;
		if (ber_get(&vb, &vbl, &tag, &x, &xl) == -1 || tag != 0x06)
			return -1;
		ber_decode_oid(x, xl, &q->oids[q->n++]);
	}
	return 0;
}

/* Builds a v1/v2c response: varbinds already in vbl (SEQUENCEs). */
static void
fake_response(struct ber *out, const struct fake_req *q, const char *comm,
    long errstat, long errindex, const struct ber *vbl)
{
	static struct ber pdu, list;

	pdu.len = 0;
	ber_int(&pdu, 0x02, q->reqid);
	ber_int(&pdu, 0x02, errstat);
	ber_int(&pdu, 0x02, errindex);
	list = *vbl;
	ber_wrap(&list, 0x30);
	memcpy(pdu.b + pdu.len, list.b, list.len);
	pdu.len += list.len;
	ber_wrap(&pdu, 0xa2);
	out->len = 0;
	ber_int(out, 0x02, q->version);
	ber_put(out, 0x04, comm, strlen(comm));
	memcpy(out->b + out->len, pdu.b, pdu.len);
	out->len += pdu.len;
	ber_wrap(out, 0x30);
}

/* Appends one varbind: an OID and an INTEGER. */
static void
fake_vb_int(struct ber *vbl, const struct snmp_oid *oid, long value)
{
	static struct ber vb;

	vb.len = 0;
	ber_oid(&vb, oid);
	ber_int(&vb, 0x02, value);
	ber_wrap(&vb, 0x30);
	memcpy(vbl->b + vbl->len, vb.b, vb.len);
	vbl->len += vb.len;
}

/* How the in-test agent answers. */
enum fake_mode {
	FAKE_TOOBIG, /* GETs of more than toobig_over varbinds: tooBig */
	FAKE_SAME_OID, /* walks: the same row again and again */
	FAKE_ENDLESS, /* walks: rows without end */
	FAKE_PROXY /* relays to a real agent, mutating its answers */
};

/* The in-test agent: a UDP socket on 127.61.2.1, maybe a proxy. */
struct fake {
	struct run *run;
	enum fake_mode mode;
	int fd, up;
	struct event *ev, *upev;
	struct sockaddr_storage engine; /* where requests come from */
	socklen_t engine_len;
	struct sockaddr_storage target; /* the real agent, when proxying */
	socklen_t target_len;
	uint16_t port;
	size_t toobig_over;
	long max_rep; /* the most repetitions a GETBULK asked for */
	unsigned requests;
	unsigned mutations; /* mutated copies sent before each answer */
	uint32_t rng;
	unsigned long sent_mutated;
};

/* A small deterministic random generator (xorshift). */
static uint32_t
rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* Damages a copy of a datagram in one of several ways. */
static size_t
mutate(uint32_t *rng, const uint8_t *in, size_t len, uint8_t *out, size_t size)
{
	size_t n = len < size ? len : size, i, pos, k;

	memcpy(out, in, n);
	switch (rnd(rng) % 7) {
	case 0: /* flip a few bytes */
		for (k = 1 + rnd(rng) % 8; k > 0 && n > 0; k--)
			out[rnd(rng) % n] ^= (uint8_t)(1 + rnd(rng) % 255);
		break;
	case 1: /* cut */
		n = n ? rnd(rng) % n : 0;
		break;
	case 2: /* grow with random bytes */
		for (k = rnd(rng) % 64; k > 0 && n < size; k--)
			out[n++] = (uint8_t)rnd(rng);
		break;
	case 3: /* a length byte set to something large */
		if (n > 1) {
			pos = 1 + rnd(rng) % (n - 1);
			out[pos] = (uint8_t)(0x80 | (rnd(rng) % 5));
		}
		break;
	case 4: /* a length byte off by a little */
		if (n > 1) {
			pos = 1 + rnd(rng) % (n - 1);
			out[pos] = (uint8_t)(out[pos] + (rnd(rng) % 5) - 2);
		}
		break;
	case 5: /* a run of bytes overwritten */
		if (n > 0) {
			pos = rnd(rng) % n;
			for (i = pos; i < n && i < pos + 16; i++)
				out[i] = (uint8_t)rnd(rng);
		}
		break;
	default: /* all random */
		n = rnd(rng) % (size < 600 ? size : 600);
		for (i = 0; i < n; i++)
			out[i] = (uint8_t)rnd(rng);
		break;
	}
	return n;
}

/* Answers one request as the mode says. */
static void
fake_answer(struct fake *f, const uint8_t *buf, size_t len)
{
	static struct ber vbl, out;
	static struct fake_req q;
	struct snmp_oid oid;
	size_t i, k, rows;

	if (fake_parse(buf, len, &q) == -1)
		return;
	f->requests++;
	if (q.pdu == 0xa5 && q.max_rep > f->max_rep)
		f->max_rep = q.max_rep;
	vbl.len = 0;
	switch (f->mode) {
	case FAKE_TOOBIG:
		if (q.n > f->toobig_over) {
			for (i = 0; i < q.n; i++)
				fake_vb_int(&vbl, &q.oids[i], 0);
			fake_response(&out, &q, "fake", 1, 0, &vbl);
			break;
		}
		for (i = 0; i < q.n; i++)
			fake_vb_int(&vbl, &q.oids[i],
			    (long)q.oids[i].n[q.oids[i].len - 1]);
		fake_response(&out, &q, "fake", 0, 0, &vbl);
		break;
	case FAKE_SAME_OID:
		/* always the first row, whatever was asked */
		for (i = 0; i < q.n; i++) {
			oid = q.oids[i];
			oid.len = FAKE_ROOT_LEN;
			oid.n[oid.len++] = 1;
			fake_vb_int(&vbl, &oid, 1);
		}
		fake_response(&out, &q, "fake", 0, 0, &vbl);
		break;
	case FAKE_ENDLESS:
		rows = q.max_rep > 0 ? (size_t)q.max_rep : 1;
		for (k = 0; k < rows; k++) {
			for (i = 0; i < q.n; i++) {
				oid = q.oids[i];
				if (oid.len == FAKE_ROOT_LEN)
					oid.n[oid.len++] = 0;
				oid.n[oid.len - 1] += 1;
				q.oids[i] = oid;
				fake_vb_int(&vbl, &oid, (long)k);
			}
		}
		fake_response(&out, &q, "fake", 0, 0, &vbl);
		break;
	case FAKE_PROXY:
		return;
	}
	sendto(f->fd, out.b, out.len, 0, (struct sockaddr *)&f->engine,
	    f->engine_len);
}

/* The in-test agent's socket: requests from the engine. */
static void
fake_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fake *f = arg;
	static uint8_t buf[65536];
	ssize_t n;

	(void)what;
	for (;;) {
		f->engine_len = sizeof(f->engine);
		n = recvfrom(fd, buf, sizeof(buf), 0,
		    (struct sockaddr *)&f->engine, &f->engine_len);
		if (n < 0)
			return;
		if (f->mode == FAKE_PROXY) {
			f->requests++;
			sendto(f->up, buf, (size_t)n, 0,
			    (struct sockaddr *)&f->target, f->target_len);
		} else
			fake_answer(f, buf, (size_t)n);
	}
}

/* The proxy's upstream socket: the real agent's answers, mutated. */
static void
fake_up_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fake *f = arg;
	static uint8_t buf[65536], m[65536];
	ssize_t n;
	size_t ml;
	unsigned i;

	(void)what;
	for (;;) {
		n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0)
			return;
		for (i = 0; i < f->mutations; i++) {
			ml = mutate(&f->rng, buf, (size_t)n, m, sizeof(m));
			sendto(f->fd, m, ml, 0, (struct sockaddr *)&f->engine,
			    f->engine_len);
			f->sent_mutated++;
		}
		/* and the real answer, most of the time */
		if (f->mutations == 0 || rnd(&f->rng) % 8 != 0)
			sendto(f->fd, buf, (size_t)n, 0,
			    (struct sockaddr *)&f->engine, f->engine_len);
	}
}

/* Binds a UDP socket to ip, any port. */
static int
udp_socket(const char *ip, uint16_t *port)
{
	struct sockaddr_storage ss;
	socklen_t len = addr_of(ip, 0, &ss);
	int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&ss, len), 0);
	if (port != NULL) {
		ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&ss, &len),
		    0);
		*port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	}
	return fd;
}

/* Starts the in-test agent on the run's loop. */
static struct fake *
fake_new(struct run *run, enum fake_mode mode)
{
	struct fake *f = calloc(1, sizeof(*f));

	ck_assert_ptr_nonnull(f);
	f->run = run;
	f->mode = mode;
	f->rng = 0x9e3779b9u;
	f->up = -1;
	f->fd = udp_socket(FAKE_ADDR, &f->port);
	f->ev =
	    event_new(run->base, f->fd, EV_READ | EV_PERSIST, fake_read_cb, f);
	event_add(f->ev, NULL);
	return f;
}

/* Makes the in-test agent a proxy to a real agent. */
static void
fake_proxy_to(struct fake *f, const char *ip, uint16_t port)
{
	f->target_len = addr_of(ip, port, &f->target);
	f->up = udp_socket("127.0.0.1", NULL);
	f->upev =
	    event_new(f->run->base, f->up, EV_READ | EV_PERSIST, fake_up_cb, f);
	event_add(f->upev, NULL);
}

/* Stops the in-test agent. */
static void
fake_free(struct fake *f)
{
	event_free(f->ev);
	close(f->fd);
	if (f->up != -1) {
		event_free(f->upev);
		close(f->up);
	}
	free(f);
}

/* ---- against snmpd ---- */

START_TEST(test_v2c_get_returns_sysuptime_and_sysname)
{
	struct run *run = current = run_new();
	struct snmp_cred c;
	struct snmp_agent *a;
	struct snmp_oid o[2];
	const struct result *r = &run->res[0];

	env_load();
	c = cred_community(SNMP_VERSION_V2C, env.community);
	a = agent_at(run, env.addrs[0], env.port, &c, 2000, 1);
	o[0] = O("1.3.6.1.2.1.1.3.0");
	o[1] = O("1.3.6.1.2.1.1.5.0");
	ck_assert_int_eq(snmp_agent_get(a, o, 2, collect_cb, (void *)0), 0);
	/* never called back from inside snmp_agent_get */
	ck_assert_int_eq(run->done, 0);
	run_wait(run, 1, SAFETY_MS);
	ck_assert_int_eq(r->result, SNMP_RESULT_OK);
	ck_assert_int_eq(r->error_status, 0);
	ck_assert_uint_eq(r->nvb, 2);
	ck_assert_int_eq(snmp_oid_cmp(&r->vb[0].oid, &o[0]), 0);
	ck_assert_int_eq(r->vb[0].type, SNMP_VT_TIMETICKS);
	ck_assert_uint_gt(r->vb[0].u, 0);
	ck_assert_int_eq(r->vb[1].type, SNMP_VT_STRING);
	ck_assert_str_eq(r->vb[1].str, "monitord-test-agent");
	ck_assert_uint_eq(r->vb[1].str_len, strlen("monitord-test-agent"));
	ck_assert_uint_gt(r->rtt_us, 0);
	run_free(run);
}
END_TEST

START_TEST(test_ipv6_agent_answers_on_the_ipv6_socket)
{
	struct run *run = current = run_new();
	struct snmp_cred c;
	struct snmp_agent *a;
	struct snmp_oid o = O("1.3.6.1.2.1.1.5.0");

	env_load();
	c = cred_community(SNMP_VERSION_V2C, env.community);
	a = agent_at(run, "::1", env.port, &c, 2000, 1);
	ck_assert_int_eq(snmp_agent_get(a, &o, 1, collect_cb, (void *)0), 0);
	run_wait(run, 1, SAFETY_MS);
	ck_assert_int_eq(run->res[0].result, SNMP_RESULT_OK);
	ck_assert_str_eq(run->res[0].vb[0].str, "monitord-test-agent");
	run_free(run);
}
END_TEST

START_TEST(test_get_of_200_oids_is_split_into_pdus_and_merged_in_order)
{
	struct run *run = current = run_new();
	struct snmp_cred c;
	struct snmp_agent *a;
	struct snmp_oid o[200];
	struct snmp_stats st;
	const struct result *r = &run->res[0];
	char buf[64];
	size_t n = 0, i, col, row;

	env_load();
	c = cred_community(SNMP_VERSION_V2C, env.community);
	a = agent_at(run, env.addrs[1], env.port, &c, 2000, 1);
	/* ifTable columns 1-22 of rows 1-4 interleaved with the system
	 * group and with rows that do not exist */
	for (i = 1; i <= 7; i++) {
		snprintf(buf, sizeof(buf), "1.3.6.1.2.1.1.%zu.0", i);
		o[n++] = O(buf);
	}
	for (col = 1; col <= 22; col++) {
		for (row = 1; row <= 4; row++) {
			snprintf(buf, sizeof(buf), "1.3.6.1.2.1.2.2.1.%zu.%zu",
			    col, row);
			o[n++] = O(buf);
		}
		snprintf(buf, sizeof(buf), "1.3.6.1.2.1.2.2.1.%zu.%zu", col,
		    1000 + col);
		o[n++] = O(buf);
	}
	while (n < 200) {
		snprintf(buf, sizeof(buf), "1.3.6.1.4.1.99999.%zu.0", n);
		o[n++] = O(buf);
	}
	ck_assert_int_eq(snmp_agent_get(a, o, n, collect_cb, (void *)0), 0);
	run_wait(run, 1, SAFETY_MS);
	ck_assert_int_eq(r->result, SNMP_RESULT_OK);
	ck_assert_uint_eq(r->nvb, 200);
	for (i = 0; i < 200; i++)
		ck_assert_msg(snmp_oid_cmp(&r->vb[i].oid, &o[i]) == 0,
		    "varbind %zu out of order", i);
	ck_assert_int_eq(r->vb[4].type, SNMP_VT_STRING); /* sysName.0 */
	ck_assert_str_eq(r->vb[4].str, "monitord-test-agent");
	/* ifDescr.1 (lo) is a string, ifDescr.1002 is not there */
	ck_assert_int_eq(r->vb[7 + 5].type, SNMP_VT_STRING);
	ck_assert_str_eq(r->vb[7 + 5].str, "lo");
	ck_assert_int_eq(r->vb[7 + 5 + 4].type, SNMP_VT_NOSUCHINSTANCE);
	ck_assert_int_eq(r->vb[199].type, SNMP_VT_NOSUCHOBJECT);
	snmp_engine_stats(run->engine, &st);
	ck_assert_msg(st.pdus_sent >= 4, "200 OIDs in %llu PDUs",
	    (unsigned long long)st.pdus_sent);
	ck_assert_uint_eq(st.responses, st.pdus_sent);
	run_free(run);
}
END_TEST

START_TEST(test_walk_of_iftable_columns_returns_every_row)
{
	struct run *run = current = run_new();
	struct snmp_cred c;
	struct snmp_agent *a;
	struct snmp_oid roots[4];
	const struct result *r = &run->res[1];
	const struct snmp_varbind *v;
	struct snmp_stats st;
	long rows;
	size_t i, k;

	env_load();
	c = cred_community(SNMP_VERSION_V2C, env.community);
	a = agent_at(run, env.addrs[2], env.port, &c, 2000, 1);
	rows = if_number(run, a, 0);
	roots[0] = O("1.3.6.1.2.1.2.2.1.1"); /* ifIndex */
	roots[1] = O("1.3.6.1.2.1.2.2.1.2"); /* ifDescr */
	roots[2] = O("1.3.6.1.2.1.2.2.1.8"); /* ifOperStatus */
	roots[3] = O("1.3.6.1.2.1.2.2.1.10"); /* ifInOctets */
	/* two rows per PDU: several GETBULKs */
	ck_assert_int_eq(snmp_agent_walk(a, roots, 4, 2, collect_cb, (void *)1),
	    0);
	run_wait(run, 2, SAFETY_MS);
	ck_assert_int_eq(r->result, SNMP_RESULT_OK);
	ck_assert_uint_eq(r->nvb, 4 * (size_t)rows);
	for (k = 0; k < 4; k++) {
		for (i = 0; i < (size_t)rows; i++) {
			v = &r->vb[k * (size_t)rows + i];
			ck_assert(snmp_oid_has_prefix(&v->oid, &roots[k]));
			ck_assert_uint_eq(v->oid.len, roots[k].len + 1);
			if (i > 0)
				ck_assert_int_gt(snmp_oid_cmp(&v->oid,
						     &v[-1].oid),
				    0);
		}
	}
	ck_assert_int_eq(r->vb[0].type, SNMP_VT_INTEGER);
	ck_assert_int_eq(r->vb[rows].type, SNMP_VT_STRING);
	ck_assert_int_eq(r->vb[3 * rows].type, SNMP_VT_COUNTER32);
	/* the override in snmpd.conf */
	v = vb_find(r, "1.3.6.1.2.1.2.2.1.8.2");
	ck_assert_ptr_nonnull(v);
	ck_assert_int_eq(v->i, 2);
	snmp_engine_stats(run->engine, &st);
	ck_assert_msg(st.pdus_sent >= 3, "walk in %llu PDUs",
	    (unsigned long long)st.pdus_sent);
	run_free(run);
}
END_TEST

START_TEST(test_v1_get_and_walk_use_getnext)
{
	struct run *run = current = run_new();
	struct snmp_cred c;
	struct snmp_agent *a;
	struct snmp_oid o[2], roots[2];
	const struct result *g = &run->res[1], *w = &run->res[2];
	long rows;
	size_t i;

	env_load();
	c = cred_community(SNMP_VERSION_V1, env.community);
	a = agent_at(run, env.addrs[3], env.port, &c, 2000, 1);
	rows = if_number(run, a, 0);
	o[0] = O("1.3.6.1.2.1.1.5.0");
	o[1] = O("1.3.6.1.2.1.1.3.0");
	roots[0] = O("1.3.6.1.2.1.2.2.1.2");
	roots[1] = O("1.3.6.1.2.1.2.2.1.8");
	ck_assert_int_eq(snmp_agent_get(a, o, 2, collect_cb, (void *)1), 0);
	ck_assert_int_eq(snmp_agent_walk(a, roots, 2, 10, collect_cb,
			     (void *)2),
	    0);
	run_wait(run, 3, SAFETY_MS);
	ck_assert_int_eq(g->result, SNMP_RESULT_OK);
	ck_assert_str_eq(g->vb[0].str, "monitord-test-agent");
	ck_assert_int_eq(g->vb[1].type, SNMP_VT_TIMETICKS);
	ck_assert_int_eq(w->result, SNMP_RESULT_OK);
	ck_assert_uint_eq(w->nvb, 2 * (size_t)rows);
	for (i = 0; i < (size_t)rows; i++) {
		ck_assert(snmp_oid_has_prefix(&w->vb[i].oid, &roots[0]));
		ck_assert(snmp_oid_has_prefix(&w->vb[rows + i].oid, &roots[1]));
	}
	run_free(run);
}
END_TEST

START_TEST(test_v1_nosuchname_is_removed_and_the_rest_asked_again)
{
	struct run *run = current = run_new();
	struct snmp_cred c;
	struct snmp_agent *a;
	struct snmp_oid o[5];
	const struct result *r = &run->res[0];

	env_load();
	c = cred_community(SNMP_VERSION_V1, env.community);
	a = agent_at(run, env.addrs[0], env.port, &c, 2000, 1);
	o[0] = O("1.3.6.1.2.1.1.5.0");
	o[1] = O("1.3.6.1.2.1.1.99.0"); /* no such name */
	o[2] = O("1.3.6.1.2.1.1.3.0");
	o[3] = O("1.3.6.1.4.1.99999.1.0"); /* no such name either */
	o[4] = O("1.3.6.1.2.1.2.1.0");
	ck_assert_int_eq(snmp_agent_get(a, o, 5, collect_cb, (void *)0), 0);
	run_wait(run, 1, SAFETY_MS);
	ck_assert_int_eq(r->result, SNMP_RESULT_OK);
	ck_assert_int_eq(r->error_status, 0);
	ck_assert_uint_eq(r->nvb, 5);
	ck_assert_str_eq(r->vb[0].str, "monitord-test-agent");
	ck_assert_int_eq(r->vb[1].type, SNMP_VT_NOSUCHOBJECT);
	ck_assert_int_eq(snmp_oid_cmp(&r->vb[1].oid, &o[1]), 0);
	ck_assert_int_eq(r->vb[2].type, SNMP_VT_TIMETICKS);
	ck_assert_int_eq(r->vb[3].type, SNMP_VT_NOSUCHOBJECT);
	ck_assert_int_eq(r->vb[4].type, SNMP_VT_INTEGER);
	run_free(run);
}
END_TEST

START_TEST(test_v3_authpriv_sha_aes_get_after_asynchronous_discovery)
{
	struct run *run = current = run_new();
	struct snmp_cred c;
	struct snmp_agent *a;
	struct snmp_oid o[2], roots[1];
	struct snmp_stats st;
	const struct result *r = &run->res[0];

	env_load();
	c = cred_v3(env.user, SNMP_AUTH_SHA, env.auth, env.priv);
	run_secret(run, env.auth);
	run_secret(run, env.priv);
	a = agent_at(run, env.addrs[0], env.port, &c, 2000, 1);
	o[0] = O("1.3.6.1.2.1.1.3.0");
	o[1] = O("1.3.6.1.2.1.1.5.0");
	roots[0] = O("1.3.6.1.2.1.2.2.1.2");
	ck_assert_int_eq(snmp_agent_get(a, o, 2, collect_cb, (void *)0), 0);
	ck_assert_int_eq(snmp_agent_walk(a, roots, 1, 5, collect_cb, (void *)1),
	    0);
	/* nothing sent, nothing blocked, until the loop runs */
	snmp_engine_stats(run->engine, &st);
	ck_assert_uint_eq(st.pdus_sent, 0);
	run_wait(run, 2, SAFETY_MS);
	ck_assert_msg(r->result == SNMP_RESULT_OK, "%s: %s",
	    snmp_agent_result_str(r->result), r->reason);
	ck_assert_str_eq(r->vb[1].str, "monitord-test-agent");
	ck_assert_int_eq(run->res[1].result, SNMP_RESULT_OK);
	ck_assert_uint_gt(run->res[1].nvb, 0);
	snmp_engine_stats(run->engine, &st);
	ck_assert_uint_eq(st.discoveries, 1);
	ck_assert_uint_eq(st.keys_computed, 2);
	/* the probe, then the GET: no notInTimeWindow round trip */
	ck_assert_uint_eq(r->pdus_sent, 2);
	run_free(run);
}
END_TEST

START_TEST(test_v3_sha256_authpriv_get)
{
	struct run *run = current = run_new();
	struct snmp_cred c;
	struct snmp_agent *a;
	struct snmp_oid o = O("1.3.6.1.2.1.1.5.0");

	env_load();
	c = cred_v3(env.user256, SNMP_AUTH_SHA256, env.auth256, env.priv256);
	run_secret(run, env.auth256);
	run_secret(run, env.priv256);
	a = agent_at(run, "::1", env.port, &c, 2000, 1);
	ck_assert_int_eq(snmp_agent_get(a, &o, 1, collect_cb, (void *)0), 0);
	run_wait(run, 1, SAFETY_MS);
	ck_assert_msg(run->res[0].result == SNMP_RESULT_OK, "%s: %s",
	    snmp_agent_result_str(run->res[0].result), run->res[0].reason);
	ck_assert_str_eq(run->res[0].vb[0].str, "monitord-test-agent");
	run_free(run);
}
END_TEST

START_TEST(test_wrong_community_times_out_with_a_reason)
{
	struct run *run = current = run_new();
	struct snmp_cred c;
	struct snmp_agent *a;
	struct snmp_oid o = O("1.3.6.1.2.1.1.5.0");
	const struct result *r = &run->res[0];
	uint64_t t0;

	env_load();
	c = cred_community(SNMP_VERSION_V2C, "s3cret-Community");
	run_secret(run, "s3cret-Community");
	a = agent_at(run, env.addrs[1], env.port, &c, 300, 2);
	t0 = timeutil_mono_ms();
	ck_assert_int_eq(snmp_agent_get(a, &o, 1, collect_cb, (void *)0), 0);
	run_wait(run, 1, SAFETY_MS);
	ck_assert_int_eq(r->result, SNMP_RESULT_TIMEOUT);
	ck_assert_str_eq(r->reason, "no response after 3 tries (0.9 s)");
	ck_assert_uint_eq(r->nvb, 0);
	ck_assert_uint_ge(timeutil_mono_ms() - t0, 800);
	ck_assert_uint_eq(r->pdus_sent, 3);
	run_free(run);
}
END_TEST

START_TEST(test_wrong_v3_auth_password_is_a_wrong_digest)
{
	struct run *run = current = run_new();
	struct snmp_cred c;
	struct snmp_agent *a;
	struct snmp_oid o = O("1.3.6.1.2.1.1.5.0");
	struct snmp_stats st;
	const struct result *r = &run->res[0];

	env_load();
	c = cred_v3(env.user, SNMP_AUTH_SHA, "Wrong-auth-pass", env.priv);
	run_secret(run, "Wrong-auth-pass");
	run_secret(run, env.priv);
	a = agent_at(run, env.other, env.port, &c, 1000, 1);
	ck_assert_int_eq(snmp_agent_get(a, &o, 1, collect_cb, (void *)0), 0);
	run_wait(run, 1, SAFETY_MS);
	ck_assert_int_eq(r->result, SNMP_RESULT_AUTH);
	ck_assert_str_eq(r->reason,
	    "SNMPv3: wrong digest (auth password or protocol?)");
	snmp_engine_stats(run->engine, &st);
	ck_assert_uint_eq(st.auth_errors, 1);
	run_free(run);
}
END_TEST

START_TEST(test_unknown_v3_user_is_reported)
{
	struct run *run = current = run_new();
	struct snmp_cred c;
	struct snmp_agent *a;
	struct snmp_oid o = O("1.3.6.1.2.1.1.5.0");
	const struct result *r = &run->res[0];

	env_load();
	c = cred_v3("nosuchuser", SNMP_AUTH_SHA, env.auth, env.priv);
	run_secret(run, env.auth);
	run_secret(run, env.priv);
	a = agent_at(run, env.other, env.port, &c, 1000, 1);
	ck_assert_int_eq(snmp_agent_get(a, &o, 1, collect_cb, (void *)0), 0);
	run_wait(run, 1, SAFETY_MS);
	ck_assert_int_eq(r->result, SNMP_RESULT_AUTH);
	ck_assert_str_eq(r->reason, "SNMPv3: unknown user name");
	run_free(run);
}
END_TEST

START_TEST(test_wrong_v3_priv_password_times_out)
{
	struct run *run = current = run_new();
	struct snmp_cred c;
	struct snmp_agent *a;
	struct snmp_oid o = O("1.3.6.1.2.1.1.5.0");
	const struct result *r = &run->res[0];

	/* snmpd drops what it cannot decrypt, silently */
	env_load();
	c = cred_v3(env.user, SNMP_AUTH_SHA, env.auth, "Wrong-priv-pass");
	run_secret(run, env.auth);
	run_secret(run, "Wrong-priv-pass");
	a = agent_at(run, env.other, env.port, &c, 300, 0);
	ck_assert_int_eq(snmp_agent_get(a, &o, 1, collect_cb, (void *)0), 0);
	run_wait(run, 1, SAFETY_MS);
	ck_assert_int_eq(r->result, SNMP_RESULT_TIMEOUT);
	ck_assert_str_eq(r->reason,
	    "no response after 1 try (0.3 s); the engine ID probe was "
	    "answered: wrong priv password?");
	run_free(run);
}
END_TEST

START_TEST(test_corrected_v3_password_works_once_the_old_agent_is_freed)
{
	struct run *run = current = run_new();
	struct snmp_cred bad, good;
	struct snmp_agent *a;
	struct snmp_oid o = O("1.3.6.1.2.1.1.5.0");

	/* a reload: the agent with the wrong password goes, a new one
	 * with the right one comes, for the same engine ID and user */
	env_load();
	bad = cred_v3(env.user, SNMP_AUTH_SHA, "Wrong-auth-pass", env.priv);
	good = cred_v3(env.user, SNMP_AUTH_SHA, env.auth, env.priv);
	a = agent_at(run, env.other, env.port, &bad, 1000, 1);
	ck_assert_int_eq(snmp_agent_get(a, &o, 1, collect_cb, (void *)0), 0);
	run_wait(run, 1, SAFETY_MS);
	ck_assert_int_eq(run->res[0].result, SNMP_RESULT_AUTH);
	snmp_agent_free(a);
	a = agent_at(run, env.other, env.port, &good, 1000, 1);
	ck_assert_int_eq(snmp_agent_get(a, &o, 1, collect_cb, (void *)1), 0);
	run_wait(run, 2, SAFETY_MS);
	ck_assert_msg(run->res[1].result == SNMP_RESULT_OK, "%s",
	    run->res[1].reason);
	run_free(run);
}
END_TEST

START_TEST(test_shared_engine_id_with_other_keys_is_reported)
{
	struct run *run = current = run_new();
	struct snmp_cred bad, good;
	struct snmp_agent *a, *b;
	struct snmp_oid o = O("1.3.6.1.2.1.1.5.0");

	/* one snmpd on two addresses looks like two cloned devices with
	 * one engine ID; net-snmp can hold one set of keys per user */
	env_load();
	good = cred_v3(env.user, SNMP_AUTH_SHA, env.auth, env.priv);
	bad = cred_v3(env.user, SNMP_AUTH_SHA, "Wrong-auth-pass", env.priv);
	run_secret(run, "Wrong-auth-pass");
	a = agent_at(run, env.addrs[0], env.port, &good, 1000, 1);
	b = agent_at(run, env.addrs[1], env.port, &bad, 1000, 1);
	ck_assert_int_eq(snmp_agent_get(a, &o, 1, collect_cb, (void *)0), 0);
	run_wait(run, 1, SAFETY_MS);
	ck_assert_int_eq(snmp_agent_get(b, &o, 1, collect_cb, (void *)1), 0);
	ck_assert_int_eq(snmp_agent_get(a, &o, 1, collect_cb, (void *)2), 0);
	run_wait(run, 3, SAFETY_MS);
	ck_assert_int_eq(run->res[0].result, SNMP_RESULT_OK);
	ck_assert_int_eq(run->res[1].result, SNMP_RESULT_AUTH);
	ck_assert_str_eq(run->res[1].reason,
	    "SNMPv3: engine ID shared with another agent that uses other "
	    "keys for this user");
	ck_assert_int_eq(run->res[2].result, SNMP_RESULT_OK);
	run_free(run);
}
END_TEST

START_TEST(test_changed_engine_id_is_discovered_again)
{
	struct run *run = current = run_new();
	struct fake *px = fake_new(run, FAKE_PROXY);
	struct snmp_cred c;
	struct snmp_agent *a;
	struct snmp_oid o = O("1.3.6.1.2.1.1.5.0");
	struct snmp_stats st;

	env_load();
	c = cred_v3(env.user, SNMP_AUTH_SHA, env.auth, env.priv);
	fake_proxy_to(px, env.addrs[0], env.port);
	a = agent_at(run, FAKE_ADDR, px->port, &c, 1000, 1);
	ck_assert_int_eq(snmp_agent_get(a, &o, 1, collect_cb, (void *)0), 0);
	run_wait(run, 1, SAFETY_MS);
	ck_assert_int_eq(run->res[0].result, SNMP_RESULT_OK);
	/* the device behind the address is replaced: its engine ID too */
	px->target_len = addr_of(env.other, env.port, &px->target);
	ck_assert_int_eq(snmp_agent_get(a, &o, 1, collect_cb, (void *)1), 0);
	run_wait(run, 2, SAFETY_MS);
	ck_assert_msg(run->res[1].result == SNMP_RESULT_OK, "%s: %s",
	    snmp_agent_result_str(run->res[1].result), run->res[1].reason);
	snmp_engine_stats(run->engine, &st);
	ck_assert_uint_eq(st.discoveries, 2);
	fake_free(px);
	run_free(run);
}
END_TEST

START_TEST(test_closed_port_is_unreachable_at_once)
{
	struct run *run = current = run_new();
	struct snmp_cred c, c3;
	struct snmp_agent *a, *b, *v6;
	struct snmp_oid o = O("1.3.6.1.2.1.1.5.0");
	struct snmp_stats st;
	uint64_t t0;
	int i;

	env_load();
	c = cred_community(SNMP_VERSION_V2C, env.community);
	c3 = cred_v3(env.user, SNMP_AUTH_SHA, env.auth, env.priv);
	a = agent_at(run, env.addrs[0], env.dead_port, &c, 3000, 3);
	b = agent_at(run, env.addrs[1], env.dead_port, &c3, 3000, 3);
	v6 = agent_at(run, "::1", env.dead_port, &c, 3000, 3);
	t0 = timeutil_mono_ms();
	ck_assert_int_eq(snmp_agent_get(a, &o, 1, collect_cb, (void *)0), 0);
	ck_assert_int_eq(snmp_agent_get(b, &o, 1, collect_cb, (void *)1), 0);
	ck_assert_int_eq(snmp_agent_get(v6, &o, 1, collect_cb, (void *)2), 0);
	/* and the agent stays usable: a second request, also unreachable */
	ck_assert_int_eq(snmp_agent_get(a, &o, 1, collect_cb, (void *)3), 0);
	run_wait(run, 4, SAFETY_MS);
	ck_assert_uint_lt(timeutil_mono_ms() - t0, 1000);
	for (i = 0; i < 4; i++) {
		ck_assert_msg(run->res[i].result == SNMP_RESULT_UNREACHABLE,
		    "request %d: %s: %s", i,
		    snmp_agent_result_str(run->res[i].result),
		    run->res[i].reason);
		ck_assert_str_eq(run->res[i].reason, "port unreachable");
	}
	snmp_engine_stats(run->engine, &st);
	ck_assert_uint_eq(st.unreachable, 4);
	run_free(run);
}
END_TEST

START_TEST(test_requests_to_one_agent_go_one_at_a_time_in_order)
{
	struct run *run = current = run_new();
	struct snmp_cred c;
	struct snmp_agent *a;
	struct snmp_oid o[2], roots[1];
	int i;

	env_load();
	c = cred_community(SNMP_VERSION_V2C, env.community);
	a = agent_at(run, env.addrs[2], env.port, &c, 2000, 1);
	o[0] = O("1.3.6.1.2.1.1.3.0");
	o[1] = O("1.3.6.1.2.1.1.5.0");
	roots[0] = O("1.3.6.1.2.1.2.2.1.2");
	ck_assert_int_eq(snmp_agent_get(a, &o[0], 1, collect_cb, (void *)0), 0);
	ck_assert_int_eq(snmp_agent_walk(a, roots, 1, 1, collect_cb, (void *)1),
	    0);
	ck_assert_int_eq(snmp_agent_get(a, &o[1], 1, collect_cb, (void *)2), 0);
	run_wait(run, 3, SAFETY_MS);
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(run->res[i].result, SNMP_RESULT_OK);
		ck_assert_int_eq(run->res[i].order, i + 1);
	}
	/* when the first answer came, only its PDU had gone out; the walk
	 * (one row per PDU) had all its PDUs out before the last GET */
	ck_assert_uint_eq(run->res[0].pdus_sent, 1);
	ck_assert_uint_ge(run->res[1].pdus_sent, 3);
	ck_assert_uint_eq(run->res[2].pdus_sent, run->res[1].pdus_sent + 1);
	run_free(run);
}
END_TEST

START_TEST(test_fifty_agents_share_one_socket)
{
	struct run *run = current = run_new();
	struct snmp_cred c, c3;
	struct snmp_agent *a[50];
	struct snmp_oid o = O("1.3.6.1.2.1.1.5.0");
	struct snmp_engine *warm;
	int n0, n1, n2, i;

	env_load();
	ck_assert_uint_ge(env.naddrs, 50);
	/* a first engine, so that net-snmp's own start-up is not counted */
	snmp_engine_free(run->engine);
	run->engine = NULL;
	n0 = count_fds();
	warm = snmp_engine_new(run->base);
	n1 = count_fds();
	ck_assert_int_le(n1 - n0, 2);
	run->engine = warm;
	c = cred_community(SNMP_VERSION_V2C, env.community);
	c3 = cred_v3(env.user, SNMP_AUTH_SHA, env.auth, env.priv);
	for (i = 0; i < 50; i++) {
		a[i] = agent_at(run, env.addrs[i], env.port,
		    i % 5 == 0 ? &c3 : &c, 2000, 1);
		ck_assert_int_eq(snmp_agent_get(a[i], &o, 1, collect_cb,
				     (void *)(intptr_t)i),
		    0);
	}
	run_wait(run, 50, SAFETY_MS);
	n2 = count_fds();
	ck_assert_int_eq(n2, n1);
	for (i = 0; i < 50; i++) {
		ck_assert_msg(run->res[i].result == SNMP_RESULT_OK,
		    "agent %d: %s", i, run->res[i].reason);
		ck_assert_str_eq(run->res[i].vb[0].str, "monitord-test-agent");
	}
	run_free(run);
}
END_TEST

START_TEST(test_freed_agent_calls_nothing_back)
{
	struct run *run = current = run_new();
	struct snmp_cred c, c3;
	struct snmp_agent *a, *b, *d;
	struct snmp_oid o = O("1.3.6.1.2.1.1.5.0");
	struct snmp_stats st;
	uint16_t port;
	int silent;

	env_load();
	c = cred_community(SNMP_VERSION_V2C, env.community);
	c3 = cred_v3(env.user, SNMP_AUTH_SHA, env.auth, env.priv);
	/* freed with requests queued, before the loop ran */
	a = agent_at(run, env.addrs[0], env.port, &c, 2000, 1);
	ck_assert_int_eq(snmp_agent_get(a, &o, 1, collect_cb, (void *)10), 0);
	ck_assert_int_eq(snmp_agent_get(a, &o, 1, collect_cb, (void *)11), 0);
	snmp_agent_free(a);
	/* freed from its own first callback, with two more queued */
	b = agent_at(run, env.addrs[1], env.port, &c3, 2000, 1);
	ck_assert_int_eq(snmp_agent_get(b, &o, 1, collect_cb, (void *)0), 0);
	ck_assert_int_eq(snmp_agent_get(b, &o, 1, collect_cb, (void *)12), 0);
	ck_assert_int_eq(snmp_agent_get(b, &o, 1, collect_cb, (void *)13), 0);
	run->free_in_cb = b;
	/* freed with its PDU in flight, to a socket that never answers */
	silent = udp_socket(FAKE_ADDR, &port);
	d = agent_at(run, FAKE_ADDR, port, &c, 5000, 1);
	ck_assert_int_eq(snmp_agent_get(d, &o, 1, collect_cb, (void *)14), 0);
	run_wait(run, 1, SAFETY_MS);
	ck_assert_int_eq(run->res[0].result, SNMP_RESULT_OK);
	snmp_engine_stats(run->engine, &st);
	ck_assert_uint_eq(st.queued, 1);
	snmp_agent_free(d);
	/* a freed address may be used again */
	a = agent_at(run, env.addrs[0], env.port, &c, 2000, 1);
	run_for(run, 300);
	ck_assert_int_eq(run->done, 1);
	snmp_engine_stats(run->engine, &st);
	ck_assert_uint_eq(st.queued, 0);
	ck_assert_uint_eq(st.agents, 1);
	close(silent);
	run_free(run);
}
END_TEST

START_TEST(test_second_agent_for_one_address_and_port_is_refused)
{
	struct run *run = current = run_new();
	struct snmp_cred c, c3;
	struct sockaddr_storage ss;
	socklen_t len;

	env_load();
	c = cred_community(SNMP_VERSION_V2C, env.community);
	c3 = cred_v3(env.user, SNMP_AUTH_SHA, env.auth, env.priv);
	agent_at(run, env.addrs[0], env.port, &c, 1000, 1);
	len = addr_of(env.addrs[0], env.port, &ss);
	ck_assert_ptr_null(snmp_agent_new(run->engine, (struct sockaddr *)&ss,
	    len, &c3, 1000, 1));
	/* another port of the same address is another agent */
	agent_at(run, env.addrs[0], env.dead_port, &c, 1000, 1);
	/* a short passphrase, an empty community */
	c3.auth_pass = (char *)"short";
	len = addr_of(env.addrs[3], env.port, &ss);
	ck_assert_ptr_null(snmp_agent_new(run->engine, (struct sockaddr *)&ss,
	    len, &c3, 1000, 1));
	c.community = (char *)"";
	ck_assert_ptr_null(snmp_agent_new(run->engine, (struct sockaddr *)&ss,
	    len, &c, 1000, 1));
	run_free(run);
}
END_TEST

START_TEST(test_keys_are_computed_once_per_credential_set)
{
	struct run *run = current = run_new();
	struct snmp_cred c1, c2, c256;
	struct snmp_agent *a[20];
	struct snmp_oid o = O("1.3.6.1.2.1.1.5.0");
	struct snmp_stats st;
	int i;

	env_load();
	c1 = cred_v3(env.user, SNMP_AUTH_SHA, env.auth, env.priv);
	/* another struct with the same passphrases: a reloaded config */
	c2 = c1;
	c2.name = (char *)"reloaded";
	c256 = cred_v3(env.user256, SNMP_AUTH_SHA256, env.auth256, env.priv256);
	for (i = 0; i < 20; i++) {
		a[i] = agent_at(run, env.addrs[i], env.port,
		    i < 8      ? &c1 :
			i < 16 ? &c2 :
				 &c256,
		    2000, 1);
		ck_assert_int_eq(snmp_agent_get(a[i], &o, 1, collect_cb,
				     (void *)(intptr_t)i),
		    0);
	}
	snmp_engine_stats(run->engine, &st);
	ck_assert_uint_eq(st.keys_computed, 4);
	run_wait(run, 20, SAFETY_MS);
	for (i = 0; i < 20; i++)
		ck_assert_msg(run->res[i].result == SNMP_RESULT_OK,
		    "agent %d: %s", i, run->res[i].reason);
	snmp_engine_stats(run->engine, &st);
	ck_assert_uint_eq(st.keys_computed, 4);
	run_free(run);
}
END_TEST

/* ---- against the in-test agent ---- */

START_TEST(test_toobig_splits_the_get_further)
{
	struct run *run = current = run_new();
	struct fake *f = fake_new(run, FAKE_TOOBIG);
	struct snmp_cred c = cred_community(SNMP_VERSION_V2C, "fake");
	struct snmp_agent *a;
	struct snmp_oid o[40];
	const struct result *r = &run->res[0];
	char buf[64];
	size_t i;

	f->toobig_over = 3;
	for (i = 0; i < 40; i++) {
		snprintf(buf, sizeof(buf), "1.3.6.1.4.1.99999.%zu.0", i + 100);
		o[i] = O(buf);
	}
	a = agent_at(run, FAKE_ADDR, f->port, &c, 2000, 1);
	ck_assert_int_eq(snmp_agent_get(a, o, 40, collect_cb, (void *)0), 0);
	run_wait(run, 1, SAFETY_MS);
	ck_assert_msg(r->result == SNMP_RESULT_OK, "%s", r->reason);
	ck_assert_int_eq(r->error_status, 0);
	ck_assert_uint_eq(r->nvb, 40);
	for (i = 0; i < 40; i++) {
		ck_assert_int_eq(r->vb[i].type, SNMP_VT_INTEGER);
		ck_assert_int_eq(r->vb[i].i, 0);
		ck_assert_int_eq(snmp_oid_cmp(&r->vb[i].oid, &o[i]), 0);
	}
	/* one OID alone that is too big: the agent's error status */
	f->toobig_over = 0;
	ck_assert_int_eq(snmp_agent_get(a, o, 1, collect_cb, (void *)1), 0);
	run_wait(run, 2, SAFETY_MS);
	ck_assert_int_eq(run->res[1].result, SNMP_RESULT_OK);
	ck_assert_int_eq(run->res[1].error_status, 1);
	ck_assert_int_eq(run->res[1].error_index, 1);
	ck_assert_ptr_nonnull(strstr(run->res[1].reason, "tooBig"));
	ck_assert_uint_eq(run->res[1].nvb, 0);
	fake_free(f);
	run_free(run);
}
END_TEST

START_TEST(test_walk_stops_when_the_agent_goes_backwards)
{
	struct run *run = current = run_new();
	struct fake *f = fake_new(run, FAKE_SAME_OID);
	struct snmp_cred c = cred_community(SNMP_VERSION_V2C, "fake");
	struct snmp_agent *a;
	struct snmp_oid root = O("1.3.6.1.4.1.99999.1");

	a = agent_at(run, FAKE_ADDR, f->port, &c, 2000, 1);
	ck_assert_int_eq(snmp_agent_walk(a, &root, 1, 10, collect_cb,
			     (void *)0),
	    0);
	run_wait(run, 1, SAFETY_MS);
	ck_assert_int_eq(run->res[0].result, SNMP_RESULT_ERROR);
	ck_assert_ptr_nonnull(strstr(run->res[0].reason, "non-increasing"));
	ck_assert_uint_le(f->requests, 3);
	fake_free(f);
	run_free(run);
}
END_TEST

START_TEST(test_endless_walk_stops_at_the_bound)
{
	struct run *run = current = run_new();
	struct fake *f = fake_new(run, FAKE_ENDLESS);
	struct snmp_cred c = cred_community(SNMP_VERSION_V2C, "fake");
	struct snmp_agent *a;
	struct snmp_oid roots[2] = { O("1.3.6.1.4.1.99999.1"),
		O("1.3.6.1.4.1.99999.2") };

	a = agent_at(run, FAKE_ADDR, f->port, &c, 2000, 1);
	ck_assert_int_eq(snmp_agent_walk(a, roots, 2, 100, collect_cb,
			     (void *)0),
	    0);
	run_wait(run, 1, 60000);
	ck_assert_int_eq(run->res[0].result, SNMP_RESULT_ERROR);
	ck_assert_str_eq(run->res[0].reason,
	    "walk stopped after 50000 "
	    "varbinds");
	/* GETBULKs kept under the budget: never 100 rows at once */
	ck_assert_int_gt(f->max_rep, 1);
	ck_assert_int_lt(f->max_rep, 100);
	fake_free(f);
	run_free(run);
}
END_TEST

START_TEST(test_receive_path_survives_random_and_mutated_datagrams)
{
	struct run *run = current = run_new();
	struct fake *px[3];
	struct snmp_cred c1, c2, c3;
	const struct snmp_cred *cs[3] = { &c1, &c2, &c3 };
	struct snmp_agent *a[3], *direct;
	struct snmp_oid o[3], roots[2];
	struct sockaddr_storage ss;
	struct snmp_stats st;
	socklen_t len;
	uint8_t buf[2048];
	uint32_t rng = 424242;
	int round, i, k, n, total = 0;

	env_load();
	c1 = cred_community(SNMP_VERSION_V1, env.community);
	c2 = cred_community(SNMP_VERSION_V2C, env.community);
	c3 = cred_v3(env.user, SNMP_AUTH_SHA, env.auth, env.priv);
	o[0] = O("1.3.6.1.2.1.1.5.0");
	o[1] = O("1.3.6.1.2.1.1.3.0");
	o[2] = O("1.3.6.1.2.1.2.2.1.2.1");
	roots[0] = O("1.3.6.1.2.1.2.2.1.2");
	roots[1] = O("1.3.6.1.2.1.2.2.1.10");
	/* proxies to snmpd that send mutated copies of each real answer */
	for (i = 0; i < 3; i++) {
		px[i] = fake_new(run, FAKE_PROXY);
		fake_proxy_to(px[i], env.addrs[i], env.port);
		px[i]->mutations = 8;
		px[i]->rng = 1000u + (uint32_t)i;
		a[i] = agent_at(run, FAKE_ADDR, px[i]->port, cs[i], 100, 1);
	}
	/* random bytes straight into the engine, from a known agent */
	direct = agent_at(run, env.addrs[3], env.port, &c2, 100, 0);
	len = addr_of(env.addrs[3], env.port, &ss);
	for (round = 0; round < 60; round++) {
		for (i = 0; i < 3; i++) {
			ck_assert_int_eq(snmp_agent_get(a[i], o, 3, collect_cb,
					     (void *)(intptr_t)(total++ %
						 MAX_RESULTS)),
			    0);
			ck_assert_int_eq(
			    snmp_agent_walk(a[i], roots, 2, 5, collect_cb,
				(void *)(intptr_t)(total++ % MAX_RESULTS)),
			    0);
		}
		ck_assert_int_eq(snmp_agent_get(direct, o, 1, collect_cb,
				     (void *)(intptr_t)(total++ % MAX_RESULTS)),
		    0);
		for (k = 0; k < 500; k++) {
			n = (int)(rnd(&rng) % sizeof(buf));
			for (i = 0; i < n; i++)
				buf[i] = (uint8_t)rnd(&rng);
			if (k % 2 == 0 && n > 2) {
				buf[0] = 0x30; /* make it look framed */
				buf[1] = (uint8_t)(n - 2 < 128 ? n - 2 : 0x81);
			}
			snmp_engine_input(run->engine, buf, (size_t)n,
			    (struct sockaddr *)&ss, len);
		}
		run_wait(run, total, SAFETY_MS);
		for (i = 0; i < MAX_RESULTS; i++) {
			result_clear(&run->res[i]);
			run->res[i].got = 0;
		}
	}
	/* nothing left behind, and the agents still work */
	snmp_engine_stats(run->engine, &st);
	ck_assert_uint_eq(st.queued, 0);
	ck_assert_uint_gt(st.undecodable, 0);
	ck_assert_uint_gt(px[0]->sent_mutated + px[1]->sent_mutated +
		px[2]->sent_mutated,
	    1000);
	for (i = 0; i < 3; i++)
		px[i]->mutations = 0;
	for (i = 0; i < 3; i++)
		snmp_agent_free(a[i]);
	for (i = 0; i < 3; i++) {
		a[i] = agent_at(run, env.addrs[i], env.port, cs[i], 2000, 1);
		ck_assert_int_eq(snmp_agent_get(a[i], o, 3, collect_cb,
				     (void *)(intptr_t)i),
		    0);
	}
	total += 3;
	run_wait(run, total, SAFETY_MS);
	for (i = 0; i < 3; i++)
		ck_assert_msg(run->res[i].result == SNMP_RESULT_OK,
		    "agent %d: %s", i, run->res[i].reason);
	for (i = 0; i < 3; i++)
		fake_free(px[i]);
	run_free(run);
}
END_TEST

START_TEST(test_datagrams_from_unknown_sources_are_dropped_and_counted)
{
	struct run *run = current = run_new();
	struct snmp_cred c;
	struct sockaddr_storage ss;
	struct snmp_stats st;
	socklen_t len;
	static const uint8_t junk[] = { 0x30, 0x03, 0x02, 0x01, 0x01 };

	env_load();
	c = cred_community(SNMP_VERSION_V2C, env.community);
	agent_at(run, env.addrs[0], env.port, &c, 1000, 1);
	/* same address, other port: unknown */
	len = addr_of(env.addrs[0], env.port + 1, &ss);
	ck_assert_int_eq(snmp_engine_input(run->engine, junk, sizeof(junk),
			     (struct sockaddr *)&ss, len),
	    -1);
	len = addr_of("127.61.3.3", env.port, &ss);
	ck_assert_int_eq(snmp_engine_input(run->engine, junk, sizeof(junk),
			     (struct sockaddr *)&ss, len),
	    -1);
	/* from the agent, but a v1 message to a v2c agent */
	len = addr_of(env.addrs[0], env.port, &ss);
	ck_assert_int_eq(snmp_engine_input(run->engine, junk, sizeof(junk),
			     (struct sockaddr *)&ss, len),
	    -1);
	snmp_engine_stats(run->engine, &st);
	ck_assert_uint_eq(st.unknown_source, 2);
	ck_assert_uint_eq(st.undecodable, 1);
	run_free(run);
}
END_TEST

/* Puts the suite together. */
static Suite *
snmp_suite(void)
{
	Suite *s = suite_create("snmp");
	TCase *tc;

	tc = tcase_create("snmpd");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_v2c_get_returns_sysuptime_and_sysname);
	tcase_add_test(tc, test_ipv6_agent_answers_on_the_ipv6_socket);
	tcase_add_test(tc,
	    test_get_of_200_oids_is_split_into_pdus_and_merged_in_order);
	tcase_add_test(tc, test_walk_of_iftable_columns_returns_every_row);
	tcase_add_test(tc, test_v1_get_and_walk_use_getnext);
	tcase_add_test(tc,
	    test_v1_nosuchname_is_removed_and_the_rest_asked_again);
	tcase_add_test(tc,
	    test_v3_authpriv_sha_aes_get_after_asynchronous_discovery);
	tcase_add_test(tc, test_v3_sha256_authpriv_get);
	tcase_add_test(tc, test_wrong_community_times_out_with_a_reason);
	tcase_add_test(tc, test_wrong_v3_auth_password_is_a_wrong_digest);
	tcase_add_test(tc, test_unknown_v3_user_is_reported);
	tcase_add_test(tc, test_wrong_v3_priv_password_times_out);
	tcase_add_test(tc,
	    test_corrected_v3_password_works_once_the_old_agent_is_freed);
	tcase_add_test(tc, test_shared_engine_id_with_other_keys_is_reported);
	tcase_add_test(tc, test_changed_engine_id_is_discovered_again);
	tcase_add_test(tc, test_closed_port_is_unreachable_at_once);
	tcase_add_test(tc,
	    test_requests_to_one_agent_go_one_at_a_time_in_order);
	tcase_add_test(tc, test_fifty_agents_share_one_socket);
	tcase_add_test(tc, test_freed_agent_calls_nothing_back);
	tcase_add_test(tc,
	    test_second_agent_for_one_address_and_port_is_refused);
	tcase_add_test(tc, test_keys_are_computed_once_per_credential_set);
	tcase_add_test(tc,
	    test_datagrams_from_unknown_sources_are_dropped_and_counted);
	suite_add_tcase(s, tc);

	tc = tcase_create("fake");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_toobig_splits_the_get_further);
	tcase_add_test(tc, test_walk_stops_when_the_agent_goes_backwards);
	tcase_add_test(tc, test_endless_walk_stops_at_the_bound);
	tcase_add_test(tc,
	    test_receive_path_survives_random_and_mutated_datagrams);
	suite_add_tcase(s, tc);
	return s;
}

int main(void);

int
main(void)
{
	SRunner *sr;
	int failed;

	log_init("check_snmp", 0,
	    getenv("CHECK_SNMP_DEBUG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN);
	sr = srunner_create(snmp_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
