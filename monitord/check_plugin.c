/*
 * The plugin check kind: a Nagios-compatible plugin run by plugin.c, its
 * exit code the state, its output the text and its performance data the
 * samples.  Passive results are read the same way (check_passive.c).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "monitord.h"
#include "text.h"
#include "xmalloc.h"

/* Where a plugin named without a path is looked for, by default. */
#define CHECK_PLUGIN_DIR "/usr/lib/nagios/plugins"

static const char *const check_plugin_keys[] = { "command", "timeout_state",
	NULL };

/* Appends text to out (of size cap), cut at its end. */
void
check_plugin_text_add(char *out, size_t cap, const char *text)
{
	size_t len = strlen(out);

	if (len + 1 < cap)
		snprintf(out + len, cap - len, "%s", text);
}

/* Performance data: every value, as a measured value. */
void
check_plugin_perf_store(struct mon_check *c, const struct plugin_output *po)
{
	for (size_t i = 0; i < po->nperf; i++) {
		char metric[PLUGIN_LABEL_MAX + 16];

		if (po->perf[i].uom[0] != '\0')
			snprintf(metric, sizeof(metric), "%s[%s]",
			    po->perf[i].label, po->perf[i].uom);
		else
			snprintf(metric, sizeof(metric), "%s",
			    po->perf[i].label);
		text_clean(metric);
		metric_store_add(c->md->store, c->host->name, c->name, metric,
		    po->perf[i].value);
	}
}

static void
check_plugin_cb(const struct plugin_result *r, void *arg)
{
	struct mon_check *c = arg;
	struct plugin_output po;
	enum check_status status;
	char note[160], text[CHECK_OUTPUT_MAX];

	c->plugin_run = NULL;
	plugin_output_parse(r->out, r->out_len, &po);
	if (r->spawn_error != 0) {
		status = CHECK_UNKNOWN;
		snprintf(text, sizeof(text),
		    "PLUGIN UNKNOWN - cannot run %s: %s", c->plugin.argv[0],
		    strerror(r->spawn_error));
	} else if (r->timed_out) {
		status = c->plugin.timeout_state;
		snprintf(text, sizeof(text),
		    "PLUGIN %s - %s timed out after %.1f s (its process "
		    "group was killed)",
		    check_state_status_str(status), c->plugin.argv[0],
		    (double)c->timeout_ms / 1000);
	} else {
		if (r->signo != 0) {
			status = CHECK_UNKNOWN;
			snprintf(note, sizeof(note),
			    "killed by signal %d: ", r->signo);
		} else if (r->code < 0 || r->code > 3) {
			status = CHECK_UNKNOWN;
			snprintf(note, sizeof(note),
			    "exit code %d (not 0-3): ", r->code);
		} else {
			status = plugin_output_exit_status(r->code);
			note[0] = '\0';
		}
		snprintf(text, sizeof(text), "%s", note);
		if (po.summary[0] != '\0')
			check_plugin_text_add(text, sizeof(text), po.summary);
		else {
			check_plugin_text_add(text, sizeof(text),
			    "(no output on stdout)");
			if (r->err[0] != '\0') {
				char line[256];

				/* its first line */
				snprintf(line, sizeof(line), "%.*s",
				    (int)strcspn(r->err, "\r\n"), r->err);
				check_plugin_text_add(text, sizeof(text),
				    " stderr: ");
				check_plugin_text_add(text, sizeof(text), line);
			}
		}
		if (po.long_output[0] != '\0') {
			check_plugin_text_add(text, sizeof(text), "\n");
			check_plugin_text_add(text, sizeof(text),
			    po.long_output);
		}
		if (r->truncated) {
			static const char cut[] = " (output cut at 8 KiB)";
			size_t len = strlen(text);

			if (len + sizeof(cut) > sizeof(text))
				text[sizeof(text) - sizeof(cut)] = '\0';
			check_plugin_text_add(text, sizeof(text), cut);
		}
	}
	if (c->store_samples)
		check_plugin_perf_store(c, &po);
	plugin_output_free(&po);
	text_clean_lines(text);
	check_finish(c, status, text);
}

static int
check_plugin_start(struct mon_check *c, enum check_status *result, char *text,
    size_t len)
{
	(void)result;
	(void)text;
	(void)len;
	c->plugin_run = plugin_start(c->md->plugins, c->plugin.argv,
	    c->timeout_ms, check_plugin_cb, c);
	return 1;
}

static void
check_plugin_cancel(struct mon_check *c)
{
	if (c->plugin_run != NULL) {
		plugin_cancel(c->plugin_run);
		c->plugin_run = NULL;
	}
}

/* The last part of a path. */
static const char *
check_plugin_basename(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash != NULL ? slash + 1 : path;
}

/* Replaces the macros a plugin's arguments may hold. */
static char *
check_plugin_expand(const char *arg, const struct mon_host *host)
{
	static const char *const names[] = { "$HOSTADDRESS$", "$HOSTNAME$",
		NULL };
	const char *values[] = { host->address, host->name };
	size_t len = 0, cap = strlen(arg) + 1;
	char *out = xmalloc(cap);

	while (*arg != '\0') {
		size_t k, vl;

		for (k = 0; names[k] != NULL; k++)
			if (strncmp(arg, names[k], strlen(names[k])) == 0)
				break;
		if (names[k] == NULL) {
			out[len++] = *arg++;
			continue;
		}
		vl = strlen(values[k]);
		cap += vl;
		out = xreallocarray(out, cap, 1);
		memcpy(out + len, values[k], vl);
		len += vl;
		arg += strlen(names[k]);
	}
	out[len] = '\0';
	return out;
}

/*
 * Reads a plugin check: its command (a list: the program, then each
 * argument; no shell), found in plugins.directory unless it holds a '/'.
 */
static void
check_plugin_load_command(struct cfg_doc *doc, const struct cfg_node *node,
    struct mon_check *check)
{
	const struct cfg_node *seq = cfg_get(node, "command");
	const struct cfg_node *pl = cfg_get(doc->root, "plugins");
	const struct cfg_node *dn = cfg_get(pl, "directory");
	const char *dir = CHECK_PLUGIN_DIR, *v;
	int st = CHECK_UNKNOWN;
	size_t n = 0;

	if (dn != NULL && dn->type == CFG_SCALAR)
		dir = dn->value;
	if (cfg_enum(doc, node, "timeout_state", 0, check_status_config_names,
		&st) == 0)
		check->plugin.timeout_state = (enum check_status)st;
	else
		check->plugin.timeout_state = CHECK_UNKNOWN;
	if (seq != NULL && seq->type == CFG_SCALAR) {
		cfg_error(doc, seq,
		    "'command' must be a list: the program, "
		    "then each argument, such as [check_disk, "
		    "-w, 20%%, -p, /] (there is no shell)");
		return;
	}
	if ((seq = cfg_seq(doc, node, "command", 1)) == NULL)
		return;
	if (seq->n == 0) {
		cfg_error(doc, seq, "'command' is empty");
		return;
	}
	check->plugin.argv = xreallocarray(NULL, seq->n + 1, sizeof(char *));
	for (size_t i = 0; i < seq->n; i++) {
		if (cfg_node_str(doc, seq->items[i], "command", &v) == -1)
			v = "";
		if (i == 0 && strchr(v, '/') == NULL)
			check->plugin.argv[n++] = xasprintf("%s/%s", dir, v);
		else
			check->plugin.argv[n++] =
			    check_plugin_expand(v, check->host);
	}
	check->plugin.argv[n] = NULL;
	if (access(check->plugin.argv[0], X_OK) == -1)
		cfg_error(doc, seq->items[0], "plugin '%s': %s",
		    check->plugin.argv[0], strerror(errno));
}

static void
check_plugin_load(struct cfg_doc *doc, const struct cfg_node *node,
    struct mon_check *check, const char *name)
{
	check_plugin_load_command(doc, node, check);
	check->name = name ? xstrdup(name) :
	    check->plugin.argv != NULL ?
			     xasprintf("plugin/%s",
				 check_plugin_basename(check->plugin.argv[0])) :
			     xstrdup("plugin");
}

static void
check_plugin_free(struct mon_check *c)
{
	for (char **a = c->plugin.argv; a != NULL && *a != NULL; a++)
		free(*a);
	free(c->plugin.argv);
}

const struct check_kind_ops check_plugin_ops = {
	.kind = CHECK_KIND_PLUGIN,
	.what = "a plugin check",
	.keys = check_plugin_keys,
	.load = check_plugin_load,
	.start = check_plugin_start,
	.cancel = check_plugin_cancel,
	.free = check_plugin_free,
};
