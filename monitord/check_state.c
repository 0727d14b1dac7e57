/*
 * The soft/hard state machine of a check and its flapping history: pure
 * functions of a state and a result, with no I/O (tests/check_check.c).
 */
#include "config.h"

#include <string.h>

#include "monitord.h"

static const char *const check_status_names[] = {
	[CHECK_OK] = "OK",
	[CHECK_WARNING] = "WARNING",
	[CHECK_CRITICAL] = "CRITICAL",
	[CHECK_UNKNOWN] = "UNKNOWN",
	[CHECK_PENDING] = "PENDING",
};

const char *
check_state_status_str(enum check_status status)
{
	if ((unsigned)status > CHECK_PENDING)
		return "?";
	return check_status_names[status];
}

const char *
check_state_type_str(enum check_state_type type)
{
	return type == CHECK_HARD ? "HARD" : "SOFT";
}

/* A check starts PENDING: nothing is known until its first result. */
void
check_state_init(struct check_state *st)
{
	st->status = CHECK_PENDING;
	st->hard_status = CHECK_PENDING;
	st->type = CHECK_HARD;
	st->attempt = 0;
}

/*
 * Applies one result.  A problem becomes hard only after max_attempts
 * consecutive non-OK results; a recovery from a hard problem, and a move
 * between two problem states while hard, are hard at once.  PENDING counts
 * as OK for the attempts, so a target that is down at start-up still needs
 * its retries before it raises an incident.
 */
enum check_transition
check_state_apply(struct check_state *st, enum check_status result,
    unsigned max_attempts)
{
	int hard_problem =
	    st->hard_status != CHECK_OK && st->hard_status != CHECK_PENDING;

	if (result == CHECK_OK) {
		if (st->hard_status != CHECK_OK) {
			st->status = st->hard_status = CHECK_OK;
			st->type = CHECK_HARD;
			st->attempt = 0;
			return CHECK_HARD_CHANGE;
		}
		if (st->status != CHECK_OK) {
			/* A soft problem went away: no one was told. */
			st->status = CHECK_OK;
			st->type = CHECK_HARD;
			st->attempt = 0;
			return CHECK_SOFT_CHANGE;
		}
		return CHECK_NO_CHANGE;
	}

	if (hard_problem) {
		if (result == st->hard_status)
			return CHECK_NO_CHANGE;
		st->status = st->hard_status = result;
		return CHECK_HARD_CHANGE;
	}

	st->attempt = st->type == CHECK_SOFT ? st->attempt + 1 : 1;
	if (st->attempt >= max_attempts) {
		st->status = st->hard_status = result;
		st->type = CHECK_HARD;
		st->attempt = max_attempts;
		return CHECK_HARD_CHANGE;
	}
	st->status = result;
	st->type = CHECK_SOFT;
	return CHECK_SOFT_CHANGE;
}

/*
 * Adds a result to a flapping history (a ring of CHECK_FLAP_HISTORY, which
 * the first result fills) and returns the weighted share of state changes
 * in it, in percent, in *pct.  Newer changes weigh more (1.2) than older
 * ones (0.8), as in Nagios, so that flapping is seen to start and to stop
 * sooner.  Returns 1 when the result changed the state.
 */
int
check_state_flap_push(uint8_t *hist, uint8_t *n, uint8_t *pos,
    enum check_status result, double *pct)
{
	const size_t len = CHECK_FLAP_HISTORY;
	double changes = 0;
	uint8_t prev;
	size_t i, k;
	int changed;

	if (*n == 0) {
		memset(hist, (int)result, len);
		*n = (uint8_t)len;
		*pos = 0;
	}
	prev = hist[(*pos + len - 1) % len];
	changed = prev != (uint8_t)result;
	hist[*pos] = (uint8_t)result;
	*pos = (uint8_t)((*pos + 1) % len);
	/* oldest first: the ring's next slot is its oldest */
	for (i = 1; i < len; i++) {
		k = (*pos + i) % len;
		if (hist[k] != hist[(k + len - 1) % len])
			changes +=
			    0.8 + 0.4 * (double)(i - 1) / (double)(len - 2);
	}
	*pct = changes * 100.0 / (double)(len - 1);
	return changed;
}

/* The states as a config names them (timeout_state, heartbeat_state). */
const char *const check_status_config_names[] = { "ok", "warning", "critical",
	"unknown", NULL };
