/*
 * The passive check kind: results submitted over HTTP (passive.c), read
 * like a plugin's output, and a heartbeat that turns silence into a state.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "monitord.h"
#include "text.h"
#include "timeutil.h"
#include "xmalloc.h"

static const char *const check_passive_keys[] = { "token", "heartbeat",
	"heartbeat_state", NULL };

/*
 * A result submitted for a passive check: its text is read like a
 * plugin's output.
 */
void
check_passive_result(struct mon_check *c, enum check_status status,
    const char *in, size_t len)
{
	struct plugin_output po;
	char text[CHECK_OUTPUT_MAX];

	if (c->md == NULL)
		return;
	c->passive.last_ms = timeutil_mono_ms();
	plugin_output_parse(in, len, &po);
	snprintf(text, sizeof(text), "%s",
	    po.summary[0] != '\0' ? po.summary : "(no output)");
	if (po.long_output[0] != '\0') {
		check_plugin_text_add(text, sizeof(text), "\n");
		check_plugin_text_add(text, sizeof(text), po.long_output);
	}
	if (c->store_samples)
		check_plugin_perf_store(c, &po);
	plugin_output_free(&po);
	text_clean_lines(text);
	check_result(c, status, text);
}

/*
 * A passive check falls due: nothing is sent.  Without a result within its
 * heartbeat, the job behind it is taken to have stopped.
 */
static int
check_passive_start(struct mon_check *c, enum check_status *result, char *text,
    size_t len)
{
	uint64_t now = timeutil_mono_ms(), quiet;

	if (c->passive.heartbeat_ms == 0)
		return 0;
	quiet = now - c->passive.last_ms;
	if (quiet < c->passive.heartbeat_ms)
		return 0;
	*result = c->passive.heartbeat_state;
	snprintf(text, len,
	    "HEARTBEAT %s - no result for %llu s (expected every %llu s)",
	    check_state_status_str(c->passive.heartbeat_state),
	    (unsigned long long)(quiet / 1000),
	    (unsigned long long)(c->passive.heartbeat_ms / 1000));
	return 0;
}

/* A heartbeat of grace from the start. */
static void
check_passive_init(struct mon_check *c)
{
	c->passive.last_ms = timeutil_mono_ms();
}

static void
check_passive_load(struct cfg_doc *doc, const struct cfg_node *node,
    struct mon_check *check, const char *name)
{
	const char *s;
	int st = CHECK_CRITICAL;

	if (cfg_str(doc, node, "token", 1, &s) == 0) {
		if (strlen(s) < 16)
			cfg_error(doc, cfg_get(node, "token"),
			    "a token must be at least 16 characters");
		check->passive.token = xstrdup(s);
		cfg_secret(doc, cfg_get(node, "token"),
		    "a passive check's token");
	}
	cfg_duration(doc, node, "heartbeat", 0, 1000, 366 * CHECK_MS_DAY,
	    &check->passive.heartbeat_ms);
	cfg_enum(doc, node, "heartbeat_state", 0, check_status_config_names,
	    &st);
	check->passive.heartbeat_state = (enum check_status)st;
	check->name = xstrdup(name ? name : "passive");
}

static void
check_passive_free(struct mon_check *c)
{
	if (c->passive.token != NULL) {
		explicit_bzero(c->passive.token, strlen(c->passive.token));
		free(c->passive.token);
	}
}

const struct check_kind_ops check_passive_ops = {
	.kind = CHECK_KIND_PASSIVE,
	.what = "a passive check",
	.keys = check_passive_keys,
	.flags = CHECK_OPS_NO_PROBE,
	.load = check_passive_load,
	.init = check_passive_init,
	.start = check_passive_start,
	.free = check_passive_free,
};
