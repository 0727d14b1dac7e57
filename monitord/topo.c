/*
 * Topology and first isolation (一次切り分け, its automatic half).  Hosts
 * name their parents: the routers, switches and firewalls in front of
 * them.  A host whose host check fails while every parent is failing too is
 * UNREACHABLE, not DOWN: its fault and those of its checks are recorded
 * with the root-cause host, and raise no incident of their own.  Recoveries
 * are never suppressed.
 *
 * "Failing" is the latest result of the host check, soft or hard: a parent
 * that has just started failing is already the likelier cause.  To make
 * that latest result fresh, the first failure of a check asks for an
 * immediate run of its host's host check, and the first failure of a host
 * check asks the same of its parents' (topo_check_soon): by the time a
 * child's problem is confirmed (max_attempts), its parents have spoken.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "monitord.h"
#include "timeutil.h"
#include "xmalloc.h"

static const char *const host_state_names[] = {
	[HOST_PENDING] = "PENDING",
	[HOST_UP] = "UP",
	[HOST_DOWN] = "DOWN",
	[HOST_UNREACHABLE] = "UNREACHABLE",
};

const char *
topo_host_state_str(enum host_state s)
{
	if ((unsigned)s > HOST_UNREACHABLE)
		return "?";
	return host_state_names[s];
}

/* Whether a result means the host does not answer (WARNING is up). */
static int
topo_status_failing(enum check_status s)
{
	return s == CHECK_CRITICAL || s == CHECK_UNKNOWN;
}

/* Whether the latest result of h's host check, soft or hard, fails. */
int
topo_host_failing(const struct mon_host *h)
{
	return h->host_check != NULL &&
	    topo_status_failing(h->host_check->state.status);
}

/*
 * Whether every parent of h is failing, so that h cannot be reached
 * whatever its own state.  *root is then the host to blame: the first
 * parent that is itself reachable (DOWN), or the root it is blocked by.
 * The parent graph has no loops (the config refuses them).
 */
int
topo_host_blocked(const struct mon_host *h, const struct mon_host **root)
{
	const struct mon_host *first = NULL, *r;

	for (size_t i = 0; i < h->nparents; i++) {
		const struct mon_host *p = h->parents[i];

		if (p == NULL)
			continue;
		if (!topo_host_failing(p))
			return 0;
		if (first == NULL)
			first = topo_host_blocked(p, &r) ? r : p;
	}
	if (first == NULL)
		return 0;
	*root = first;
	return 1;
}

/* The state of h from the hard state of its host check and its parents. */
enum host_state
topo_host_state(const struct mon_host *h, const struct mon_host **root)
{
	const struct mon_check *c = h->host_check;

	*root = NULL;
	if (c == NULL || c->state.hard_status == CHECK_PENDING)
		return HOST_PENDING;
	if (!topo_status_failing(c->state.hard_status))
		return HOST_UP;
	return topo_host_blocked(h, root) ? HOST_UNREACHABLE : HOST_DOWN;
}

/*
 * The host whose fault covers a problem of check c, or NULL when the
 * problem is its own: for the host check, the root it is unreachable
 * through; for another check, its host when the host is failing (or that
 * host's root when the host is unreachable too).
 */
const struct mon_host *
topo_suppressor(const struct mon_check *c)
{
	const struct mon_host *h = c->host, *root;

	if (c == h->host_check)
		return topo_host_blocked(h, &root) ? root : NULL;
	if (h->host_check == NULL || !topo_host_failing(h))
		return NULL;
	return topo_host_blocked(h, &root) ? root : h;
}

/*
 * Runs c's check at the next tick, unless it ran lately, is running, or
 * is due soon anyway: a fresh opinion from a host check that others
 * depend on.
 */
void
topo_check_soon(struct mon_check *c)
{
	struct monitord *md;
	uint64_t now;

	if (c == NULL || (md = c->md) == NULL || c->in_flight ||
	    !c->sched.queued || c->kind == CHECK_KIND_SNMP_AGENT)
		return;
	now = timeutil_mono_ms();
	if (c->last_deadline + c->retry_interval_ms / 2 > now ||
	    c->sched.deadline <= now + SCHED_TICK_MS)
		return;
	md->stats.on_demand++;
	sched_add(md->sched, &c->sched, now);
}

/*
 * h's host check answers again: if a parent is failing, a path through it
 * works after all, so ask the parent now rather than at its next interval
 * (a hard problem is checked at the normal interval, which may be long).
 */
void
topo_host_answers(struct mon_host *h)
{
	for (size_t i = 0; i < h->nparents; i++)
		if (h->parents[i] != NULL && topo_host_failing(h->parents[i]))
			topo_check_soon(h->parents[i]->host_check);
}

/* A check of h had its first failure: ask for fresh host check results. */
void
topo_first_failure(struct mon_check *c)
{
	struct mon_host *h = c->host;

	if (c != h->host_check) {
		topo_check_soon(h->host_check);
		return;
	}
	for (size_t i = 0; i < h->nparents; i++)
		if (h->parents[i] != NULL)
			topo_check_soon(h->parents[i]->host_check);
}

/*
 * The cover of h's suppressed problems may be gone: each is checked again
 * soon, and the first result taken after now decides (check_apply): a
 * check that still fails is then a fault of its own.  Deciding now, on
 * results taken while the path was down, would turn every child into a
 * fault of its own the moment its parent answers.
 */
static void
topo_recheck_host(struct mon_host *h, uint64_t now)
{
	struct monitord *md;

	if (h->host_check == NULL || (md = h->host_check->md) == NULL)
		return;
	for (size_t i = h->first_check; i < h->first_check + h->nchecks; i++) {
		struct mon_check *c = md->conf->checks[i];

		if (c->suppressed_by == NULL || c->md == NULL)
			continue;
		c->cover_lost_ms = now;
		topo_check_soon(c);
	}
}

/*
 * The host check of h moved between failing and answering (soft or hard).
 * When it answers again, h's own checks and everything behind it with a
 * suppressed problem are looked at again (topo_recheck_host).
 */
void
topo_host_changed(struct mon_host *h, int was_failing)
{
	struct mon_host **todo;
	size_t n = 0, cap;
	unsigned char *seen;
	struct monitord *md = h->host_check ? h->host_check->md : NULL;
	uint64_t now = timeutil_mono_ms();

	if (md == NULL || !was_failing || topo_host_failing(h))
		return;
	cap = md->conf->nhosts;
	todo = xreallocarray(NULL, cap, sizeof(*todo));
	seen = xcalloc(cap, 1);
	todo[n++] = h;
	seen[h->index] = 1;
	while (n > 0) {
		struct mon_host *x = todo[--n];

		topo_recheck_host(x, now);
		for (size_t i = 0; i < x->nchildren; i++) {
			struct mon_host *ch = x->children[i];

			if (seen[ch->index])
				continue;
			seen[ch->index] = 1;
			todo[n++] = ch;
		}
	}
	free(seen);
	free(todo);
}
