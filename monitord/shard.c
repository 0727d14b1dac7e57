/*
 * Several pollers, one record.  With a `cluster` block, monitord shares
 * the hosts with the other monitord of its database: a host in a segment
 * this poller is pinned to is always its own, one in a segment another
 * live poller is pinned to never is, and any other belongs to the hash
 * shard of its name, one of 256, which is probed by whichever poller holds
 * the shard's advisory lock.  Every SHARD_SYNC_MS poller_sync() (migration
 * 015) rebalances the locks of this session and says which shards it now
 * holds.
 *
 * A check whose host is not ours is not probed; it goes back to PENDING so
 * that, should the host come back to us, its first result is recorded
 * whatever it is.  While the database is away the shards held last are
 * kept (their locks went with the connection, and another poller may take
 * them once it reconnects; the next sync settles it).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "monitord.h"
#include "timeutil.h"
#include "xmalloc.h"

#define SHARD_SYNC_MS 5000

/* The shard state of a clustered monitord. */
struct shard {
	struct monitord *md;
	struct event *ev;
	int busy; /* a sync is in flight */
	int synced; /* one answer at least */
	uint8_t owned[SHARD_COUNT];
	size_t nowned;
	unsigned pinned_elsewhere; /* bit per enum mon_segment */
	long members;
	char *pinned_param; /* this poller's pinned segments, "{a,b}" */
};

/* The shard of a host: FNV-1a of its name, modulo SHARD_COUNT. */
unsigned
shard_of(const char *name)
{
	uint32_t h = 2166136261u;

	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		h ^= *p;
		h *= 16777619u;
	}
	return h % SHARD_COUNT;
}

/* Whether this poller probes the host. */
int
shard_owns(const struct monitord *md, const struct mon_host *host)
{
	const struct shard *sh = md->shard;
	unsigned bit = 1u << host->segment;

	if (sh == NULL)
		return 1;
	if (md->conf->cluster_pinned & bit)
		return 1;
	if (sh->pinned_elsewhere & bit)
		return 0;
	return sh->owned[shard_of(host->name)];
}

/*
 * Parses a PostgreSQL array of integers ("{1,2,3}") into owned.  Returns
 * the count, or -1 if it is not one.
 */
int
shard_parse_set(const char *s, uint8_t owned[SHARD_COUNT])
{
	size_t n = 0;
	char *end;

	memset(owned, 0, SHARD_COUNT);
	if (*s++ != '{')
		return -1;
	while (*s != '}') {
		long v = strtol(s, &end, 10);

		if (end == s || v < 0 || v >= SHARD_COUNT)
			return -1;
		if (!owned[v])
			n++;
		owned[v] = 1;
		s = end;
		if (*s == ',')
			s++;
		else if (*s != '}')
			return -1;
	}
	return s[1] == '\0' ? (int)n : -1;
}

/* The segments of a PostgreSQL text array, as a bit mask. */
static unsigned
shard_parse_segments(const char *s)
{
	unsigned mask = 0;

	for (int seg = SEGMENT_CORE; seg <= SEGMENT_OTHER; seg++) {
		const char *name = segment_str((enum mon_segment)seg);
		size_t len = strlen(name);

		for (const char *p = strstr(s, name); p != NULL;
		     p = strstr(p + 1, name))
			if (p > s && (p[-1] == '{' || p[-1] == ',') &&
			    (p[len] == '}' || p[len] == ','))
				mask |= 1u << seg;
	}
	return mask;
}

/* A check of a host that is no longer ours forgets its state. */
static void
shard_forget(struct monitord *md)
{
	for (size_t i = 0; i < md->conf->nchecks; i++) {
		struct mon_check *c = md->conf->checks[i];

		if (!shard_owns(md, c->host) && c->recorded != CHECK_PENDING) {
			check_state_init(&c->state);
			c->recorded = CHECK_PENDING;
		}
	}
}

static void
shard_sync_cb(struct db *db, const PGresult *res, void *arg)
{
	struct shard *sh = arg;
	struct monitord *md = sh->md;
	uint8_t owned[SHARD_COUNT];
	size_t gained = 0, lost = 0;
	unsigned elsewhere;
	long members;
	int n;

	(void)db;
	sh->busy = 0;
	if (res == NULL)
		return;
	if (!db_result_ok(res) || PQntuples(res) != 1 || PQnfields(res) != 3) {
		log_warnx("cluster: poller_sync failed: %s",
		    PQresultErrorMessage(res));
		return;
	}
	if ((n = shard_parse_set(PQgetvalue(res, 0, 0), owned)) < 0) {
		log_warnx("cluster: poller_sync gave shards '%s'",
		    PQgetvalue(res, 0, 0));
		return;
	}
	members = strtol(PQgetvalue(res, 0, 1), NULL, 10);
	elsewhere = shard_parse_segments(PQgetvalue(res, 0, 2)) &
	    ~md->conf->cluster_pinned;
	for (size_t i = 0; i < SHARD_COUNT; i++) {
		gained += owned[i] && !sh->owned[i];
		lost += !owned[i] && sh->owned[i];
	}
	if (!sh->synced || gained > 0 || lost > 0 || members != sh->members ||
	    elsewhere != sh->pinned_elsewhere)
		log_notice("cluster: %ld poller%s live; this one holds %d "
			   "shard%s (%zu taken, %zu given up)%s%s",
		    members, members == 1 ? "" : "s", n, n == 1 ? "" : "s",
		    gained, lost,
		    elsewhere ? "; segments pinned elsewhere: " : "",
		    elsewhere ? PQgetvalue(res, 0, 2) : "");
	memcpy(sh->owned, owned, sizeof(owned));
	sh->nowned = (size_t)n;
	sh->members = members;
	sh->pinned_elsewhere = elsewhere;
	sh->synced = 1;
	if (lost > 0 || elsewhere != 0)
		shard_forget(md);
}

/* Asks poller_sync for this poller's share, unless a call is in flight. */
static void
shard_sync(struct shard *sh)
{
	const char *params[2];

	if (sh->busy || !db_connected(sh->md->db))
		return;
	sh->busy = 1;
	params[0] = sh->md->conf->instance;
	params[1] = sh->pinned_param;
	db_query(sh->md->db,
	    "SELECT shards::text, members, pinned_elsewhere::text "
	    "FROM poller_sync($1, $2::text[])",
	    2, params, 0, shard_sync_cb, sh);
}

static void
shard_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	shard_sync(arg);
}

/*
 * Joins the pool when the config has a cluster block: nothing but the
 * pinned segments is probed until the first sync answers.  Call after
 * db_start.
 */
void
shard_start(struct monitord *md)
{
	struct shard *sh;
	struct timeval tv = timeutil_ms_to_tv(SHARD_SYNC_MS);
	struct evbuffer *buf;
	size_t len;
	int first = 1;

	if (!md->conf->cluster)
		return;
	sh = md->shard = xcalloc(1, sizeof(*sh));
	sh->md = md;
	if ((buf = evbuffer_new()) == NULL)
		fatalx("shard: evbuffer_new failed");
	evbuffer_add(buf, "{", 1);
	for (int seg = SEGMENT_CORE; seg <= SEGMENT_OTHER; seg++) {
		if (!(md->conf->cluster_pinned & (1u << seg)))
			continue;
		evbuffer_add_printf(buf, "%s%s", first ? "" : ",",
		    segment_str((enum mon_segment)seg));
		first = 0;
	}
	evbuffer_add(buf, "}", 2);
	len = evbuffer_get_length(buf);
	sh->pinned_param = xmalloc(len);
	evbuffer_remove(buf, sh->pinned_param, len);
	evbuffer_free(buf);
	sh->ev = event_new(md->base, -1, EV_PERSIST, shard_timer_cb, sh);
	if (sh->ev == NULL || event_add(sh->ev, &tv) == -1)
		fatalx("cannot arm the cluster timer");
	log_notice("cluster: sharing the hosts with the other pollers%s%s",
	    first ? "" : "; pinned to ", first ? "" : sh->pinned_param);
}

/* Called on every (re)connect: a new session holds no lock yet. */
void
shard_connected(struct monitord *md)
{
	if (md->shard != NULL)
		shard_sync(md->shard);
}

/* Figures for /metrics: shards held, live pollers, checks probed here. */
void
shard_figures(const struct monitord *md, size_t *held, long *members,
    size_t *checks)
{
	*held = md->shard != NULL ? md->shard->nowned : SHARD_COUNT;
	*members = md->shard != NULL ? md->shard->members : 1;
	*checks = 0;
	for (size_t i = 0; i < md->conf->nchecks; i++)
		*checks += shard_owns(md, md->conf->checks[i]->host) &&
		    md->conf->checks[i]->kind != CHECK_KIND_SNMP_AGENT;
}

/* NULL-safe. */
void
shard_free(struct monitord *md)
{
	struct shard *sh = md->shard;

	if (sh == NULL)
		return;
	if (sh->ev != NULL)
		event_free(sh->ev);
	free(sh->pinned_param);
	free(sh);
	md->shard = NULL;
}
