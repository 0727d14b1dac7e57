/*
 * monitord.yaml: one check of a host.  The kinds its "type:" may name, the
 * keys every check has (interval, timeout, ...), and reading a check
 * through its segment's defaults into its kind's settings.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "conf_parts.h"
#include "monitord.h"
#include "xmalloc.h"

/* The kinds a check's "type:" may name (not the implicit agent check). */
static const struct check_kind_ops *const mon_check_types[] = { &check_icmp_ops,
	&check_tcp_ops, &check_snmp_uptime_ops, &check_snmp_if_ops,
	&check_snmp_storage_ops, &check_snmp_cpu_ops, &check_snmp_oid_ops,
	&check_plugin_ops, &check_passive_ops };
#define MON_NCHECK_TYPES (sizeof(mon_check_types) / sizeof(mon_check_types[0]))

/* The keys every check may have, and that defaults and segments set. */
const char *const mon_check_common_keys[] = { "interval", "retry_interval",
	"timeout", "max_attempts", "flap_detection", "flap_start", "flap_stop",
	"store_samples", NULL };

/* The names of mon_check_types, as "type:" writes them; NULL-terminated. */
const char *const *
conf_check_type_names(void)
{
	static const char *names[MON_NCHECK_TYPES + 1];

	if (names[0] == NULL)
		for (size_t i = 0; i < MON_NCHECK_TYPES; i++)
			names[i] = check_kind_str(mon_check_types[i]->kind);
	return names;
}

/* Frees one check's settings; it must be stopped.  NULL is allowed. */
void
conf_check_free(struct mon_check *check)
{
	if (check == NULL)
		return;
	free(check->name);
	free(check->suppressed_by);
	free(check->last_output);
	if (check->ops != NULL && check->ops->free != NULL)
		check->ops->free(check);
	free(check);
}

/* Host names become keys in the database and in mail: keep them simple. */
int
conf_check_name_ok(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > 128)
		return 0;
	for (const char *p = name; *p != '\0'; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' ||
		    *p == '.')
			continue;
		return 0;
	}
	return 1;
}

/*
 * Reads the keys common to every check.  What is absent stays 0 and is
 * filled from the defaults once the whole file is read (conf_apply_defaults):
 * the defaults may come after the hosts in the file.
 */
static void
conf_check_timing(struct cfg_doc *doc, const struct cfg_node *node,
    struct mon_check *check)
{
	uint64_t v;
	int on;

	cfg_duration(doc, node, "interval", 0, 100, MS_DAY,
	    &check->interval_ms);
	cfg_duration(doc, node, "retry_interval", 0, 100, MS_DAY,
	    &check->retry_interval_ms);
	cfg_duration(doc, node, "timeout", 0, MS_MIN, MS_DAY,
	    &check->timeout_ms);
	if (cfg_uint(doc, node, "max_attempts", 0, 1, 100, &v) == 0)
		check->max_attempts = (unsigned)v;
	check->flap.enabled = -1;
	if (cfg_bool(doc, node, "flap_detection", 0, &on) == 0)
		check->flap.enabled = on;
	check->store_samples = -1;
	if (cfg_bool(doc, node, "store_samples", 0, &on) == 0)
		check->store_samples = on;
	cfg_double(doc, node, "flap_start", 0, 1, 100, &check->flap.start_pct);
	cfg_double(doc, node, "flap_stop", 0, 1, 100, &check->flap.stop_pct);
}

/*
 * Checks the keys of a check: the common ones, and those of its type.
 */
void
conf_check_keys(struct cfg_doc *doc, const struct cfg_node *node,
    const char *what, const char *const specific[])
{
	static const char *const none[] = { NULL };

	const char *keys[64];
	size_t n = 0;

	keys[n++] = "type";
	keys[n++] = "name";
	for (size_t i = 0; mon_check_common_keys[i] != NULL; i++)
		keys[n++] = mon_check_common_keys[i];
	if (specific == NULL)
		specific = none;
	for (size_t i = 0; specific[i] != NULL && n < 63; i++)
		keys[n++] = specific[i];
	keys[n] = NULL;
	cfg_check_keys(doc, node, what, keys);
}

/* Reads one check from its merged view; NULL after recording an error. */
static struct mon_check *
conf_check_load_merged(struct cfg_doc *doc, const struct cfg_node *node,
    struct mon_host *host, int type)
{
	const struct check_kind_ops *ops = mon_check_types[type];
	struct mon_check *check;
	const char *name = NULL;

	check = xcalloc(1, sizeof(*check));
	check->host = host;
	check->ops = ops;
	check->kind = ops->kind;
	check->line = node->line;
	check->col = node->col;
	conf_check_timing(doc, node, check);
	cfg_str(doc, node, "name", 0, &name);
	conf_check_keys(doc, node, ops->what, ops->keys);
	ops->load(doc, node, check, name);
	return check;
}

/*
 * Reads one check of a host, seen through its segment's defaults (the
 * segment's settings for its type, then those for every check).
 */
struct mon_check *
conf_check_load(struct cfg_doc *doc, const struct cfg_node *node,
    struct mon_host *host, const struct cfg_node *seg)
{
	const struct cfg_node *layers[3];
	const char *const *only[3] = { NULL, NULL, mon_check_common_keys };
	const char *const *names = conf_check_type_names();
	struct cfg_node *m;
	struct mon_check *check;
	int kind;

	if (cfg_expect_map(doc, node, "a check") == -1)
		return NULL;
	if (cfg_enum(doc, node, "type", 1, names, &kind) != 0)
		return NULL;
	layers[0] = node;
	layers[1] = cfg_get(seg, names[kind]);
	layers[2] = seg;
	m = cfg_merge(layers, only, 3);
	m->line = node->line;
	m->col = node->col;
	check = conf_check_load_merged(doc, m, host, kind);
	cfg_merged_free(m);
	return check;
}

/*
 * Checks the segments block: per segment (core, information, finance,
 * other) the settings every check of the segment gets, and per check type
 * those of its type.  These are the department's monitoring criteria
 * (運用監視基準): intervals and thresholds differ by network.
 */
void
conf_check_segments(struct cfg_doc *doc, const struct cfg_node *root)
{
	const struct cfg_node *segs = cfg_map(doc, root, "segments", 0);
	const char *const *types = conf_check_type_names();
	const char *keys[32];
	size_t n = 0;

	if (segs == NULL)
		return;
	cfg_check_keys(doc, segs, "segments", segment_names);
	for (size_t i = 0; mon_check_common_keys[i] != NULL; i++)
		keys[n++] = mon_check_common_keys[i];
	for (size_t i = 0; types[i] != NULL; i++)
		keys[n++] = types[i];
	keys[n] = NULL;
	for (size_t i = 0; i < segs->n; i++) {
		const struct cfg_node *seg = segs->items[i];
		char what[64];

		snprintf(what, sizeof(what), "segment '%s'",
		    segs->keys[i]->value);
		if (cfg_expect_map(doc, seg, what) == -1)
			continue;
		cfg_check_keys(doc, seg, what, keys);
		for (size_t t = 0; types[t] != NULL; t++) {
			const struct cfg_node *tm =
			    cfg_map(doc, seg, types[t], 0);

			if (tm != NULL)
				conf_check_keys(doc, tm, types[t],
				    mon_check_types[t]->keys);
		}
	}
}
