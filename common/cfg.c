/*
 * YAML config loader.  The document is read with libyaml's event parser into
 * a tree of cfg_node; each daemon's conf.c then walks the tree with the typed
 * getters below.  Nothing here knows any daemon's keys.  Every problem is
 * recorded as "file:line:column: message" so that a config check can print
 * all of them at once instead of stopping at the first.
 */
#include "config.h"

#include <sys/stat.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libpq-fe.h>
#include <yaml.h>

#include "cfg.h"
#include "log.h"
#include "timeutil.h"
#include "xmalloc.h"

/* Deeper documents are refused: no config needs them, and a fuzzer would. */
#define CFG_MAX_DEPTH 64
/* Larger files are refused before parsing. */
#define CFG_MAX_FILE (1024L * 1024 * 1024)

static void
cfg_node_free(struct cfg_node *node)
{
	if (node == NULL)
		return;
	for (size_t i = 0; i < node->n; i++) {
		if (node->keys != NULL)
			cfg_node_free(node->keys[i]);
		cfg_node_free(node->items[i]);
	}
	free(node->keys);
	free(node->items);
	free(node->value);
	free(node);
}

/*
 * A mapping that shows several layers as one: for each key, the value of
 * the first layer that has it (a check, then its template, then its
 * segment's defaults, say).  The keys and values stay the layers' own, so
 * errors name the line where the value was written.  only[i], if not
 * NULL, lists the keys layer i may give.  Free with cfg_merged_free.
 */
struct cfg_node *
cfg_merge(const struct cfg_node *const layers[],
    const char *const *const only[], size_t n)
{
	struct cfg_node *m = xcalloc(1, sizeof(*m));

	m->type = CFG_MAP;
	m->borrowed = 1;
	for (size_t l = 0; l < n; l++) {
		const struct cfg_node *layer = layers[l];

		if (layer == NULL || layer->type != CFG_MAP)
			continue;
		if (m->line == 0) {
			m->line = layer->line;
			m->col = layer->col;
		}
		for (size_t i = 0; i < layer->n; i++) {
			const char *key = layer->keys[i]->value;
			size_t k;

			if (only != NULL && only[l] != NULL) {
				for (k = 0; only[l][k] != NULL; k++)
					if (strcmp(only[l][k], key) == 0)
						break;
				if (only[l][k] == NULL)
					continue;
			}
			if (cfg_get(m, key) != NULL)
				continue;
			m->keys =
			    xreallocarray(m->keys, m->n + 1, sizeof(*m->keys));
			m->items = xreallocarray(m->items, m->n + 1,
			    sizeof(*m->items));
			m->keys[m->n] = layer->keys[i];
			m->items[m->n++] = layer->items[i];
		}
	}
	if (m->line == 0)
		m->line = m->col = 1;
	return m;
}

/* Frees what cfg_merge made, not the layers. */
void
cfg_merged_free(struct cfg_node *m)
{
	if (m == NULL)
		return;
	free(m->keys);
	free(m->items);
	free(m);
}

/* Frees a document; NULL is allowed. */
void
cfg_free(struct cfg_doc *doc)
{
	if (doc == NULL)
		return;
	cfg_node_free(doc->root);
	for (size_t i = 0; i < doc->nerrors; i++)
		free(doc->errors[i]);
	free(doc->errors);
	free(doc->file);
	free(doc->secret);
	free(doc->redact);
	free(doc);
}

static void cfg_verror_at(struct cfg_doc *, unsigned, unsigned, const char *,
    va_list) __attribute__((format(printf, 4, 0)));

static void
cfg_verror_at(struct cfg_doc *doc, unsigned line, unsigned col, const char *fmt,
    va_list ap)
{
	char msg[1024];

	char *full;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	full = xasprintf("%s:%u:%u: %s", doc->file, line, col, msg);
	/* A template's mistake would otherwise repeat for every host that
	 * uses it. */
	for (size_t i = doc->nerrors > 256 ? doc->nerrors - 256 : 0;
	     i < doc->nerrors; i++) {
		if (strcmp(doc->errors[i], full) == 0) {
			free(full);
			return;
		}
	}
	doc->errors =
	    xreallocarray(doc->errors, doc->nerrors + 1, sizeof(*doc->errors));
	doc->errors[doc->nerrors++] = full;
}

static void cfg_error_at(struct cfg_doc *doc, unsigned line, unsigned col,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
cfg_error_at(struct cfg_doc *doc, unsigned line, unsigned col, const char *fmt,
    ...)
{
	va_list ap;

	va_start(ap, fmt);
	cfg_verror_at(doc, line, col, fmt, ap);
	va_end(ap);
}

/* Records an error at a node's position (or 1:1 when there is no node). */
void
cfg_error(struct cfg_doc *doc, const struct cfg_node *node, const char *fmt,
    ...)
{
	va_list ap;

	va_start(ap, fmt);
	cfg_verror_at(doc, node ? node->line : 1, node ? node->col : 1, fmt,
	    ap);
	va_end(ap);
}

static struct cfg_node *
cfg_node_new(enum cfg_type type, const yaml_mark_t *mark)
{
	struct cfg_node *node = xcalloc(1, sizeof(*node));

	node->type = type;
	node->line = (unsigned)mark->line + 1;
	node->col = (unsigned)mark->column + 1;
	return node;
}

/*
 * Appends child to a sequence, or as the next key or value of a map.
 * Returns -1 (and frees child) for a key that is not a string: such a
 * document is refused.
 */
static int
cfg_node_append(struct cfg_doc *doc, struct cfg_node *parent,
    struct cfg_node *child, struct cfg_node **pending_key)
{
	if (parent->type == CFG_SEQ) {
		parent->items = xreallocarray(parent->items, parent->n + 1,
		    sizeof(*parent->items));
		parent->items[parent->n++] = child;
		return 0;
	}
	if (*pending_key == NULL) {
		if (child->type != CFG_SCALAR) {
			cfg_error(doc, child,
			    "a mapping key must be a plain "
			    "string, not a %s",
			    cfg_type_str(child));
			cfg_node_free(child);
			return -1;
		}
		for (size_t i = 0; i < parent->n; i++) {
			if (strcmp(parent->keys[i]->value, child->value) == 0) {
				cfg_error(doc, child,
				    "duplicate key '%s' (first at line %u)",
				    child->value, parent->keys[i]->line);
				break;
			}
		}
		*pending_key = child;
		return 0;
	}
	parent->keys =
	    xreallocarray(parent->keys, parent->n + 1, sizeof(*parent->keys));
	parent->items =
	    xreallocarray(parent->items, parent->n + 1, sizeof(*parent->items));
	parent->keys[parent->n] = *pending_key;
	parent->items[parent->n++] = child;
	*pending_key = NULL;
	return 0;
}

/*
 * Whether seq, at depth 1 under the root mapping, is the value of the key
 * the hook wants.  It is then the last value appended to the root.
 */
static int
cfg_hooked(const struct cfg_doc *doc, const struct cfg_node *root,
    const struct cfg_node *seq, const struct cfg_hook *hook)
{
	(void)doc;
	return hook != NULL && root->type == CFG_MAP && seq->type == CFG_SEQ &&
	    root->n > 0 && root->items[root->n - 1] == seq &&
	    strcmp(root->keys[root->n - 1]->value, hook->key) == 0;
}

/*
 * Hands the item just completed (the last of seq) to the hook and drops
 * it from the tree, so that a file of 100,000 hosts never exists as one
 * tree of 100,000 hosts.
 */
static void
cfg_hook_item(struct cfg_doc *doc, struct cfg_node *seq,
    const struct cfg_hook *hook)
{
	struct cfg_node *item = seq->items[seq->n - 1];
	char **errors = doc->errors;
	size_t nerrors = doc->nerrors;

	/* What the hook finds is kept apart until the whole file parses:
	 * after a syntax error it would only be noise. */
	doc->errors = doc->hook_errors;
	doc->nerrors = doc->nhook_errors;
	hook->cb(doc, item, hook->arg);
	doc->hook_errors = doc->errors;
	doc->nhook_errors = doc->nerrors;
	doc->errors = errors;
	doc->nerrors = nerrors;
	seq->n--;
	cfg_node_free(item);
}

/* Builds the tree from parser events.  Returns 0, or -1 after an error. */
static int
cfg_build(struct cfg_doc *doc, yaml_parser_t *parser,
    const struct cfg_hook *hook)
{
	struct cfg_node *stack[CFG_MAX_DEPTH];
	struct cfg_node *pending[CFG_MAX_DEPTH];
	int depth = 0, ndocs = 0, done = 0, rc = 0;
	yaml_event_t ev;

	while (!done) {
		if (!yaml_parser_parse(parser, &ev)) {
			cfg_error_at(doc,
			    (unsigned)parser->problem_mark.line + 1,
			    (unsigned)parser->problem_mark.column + 1,
			    "YAML syntax error: %s",
			    parser->problem ? parser->problem : "unknown");
			if (parser->context != NULL) {
				char *e = doc->errors[doc->nerrors - 1];

				doc->errors[doc->nerrors - 1] = xasprintf(
				    "%s %s started at line %zu, column %zu", e,
				    parser->context,
				    parser->context_mark.line + 1,
				    parser->context_mark.column + 1);
				free(e);
			}
			rc = -1;
			break;
		}

		struct cfg_node *node = NULL;

		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = 1;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++ndocs > 1) {
				cfg_error_at(doc,
				    (unsigned)ev.start_mark.line + 1,
				    (unsigned)ev.start_mark.column + 1,
				    "only one YAML document is allowed");
				rc = -1;
				done = 1;
			}
			break;
		case YAML_ALIAS_EVENT:
			cfg_error_at(doc, (unsigned)ev.start_mark.line + 1,
			    (unsigned)ev.start_mark.column + 1,
			    "YAML aliases (*%s) are not supported",
			    (const char *)ev.data.alias.anchor);
			rc = -1;
			done = 1;
			break;
		case YAML_SCALAR_EVENT:
			node = cfg_node_new(CFG_SCALAR, &ev.start_mark);
			node->start = ev.start_mark.index;
			node->end = ev.end_mark.index;
			node->value =
			    xstrndup((const char *)ev.data.scalar.value,
				ev.data.scalar.length);
			if (strlen(node->value) != ev.data.scalar.length) {
				cfg_error(doc, node, "NUL byte in a string");
				rc = -1;
			}
			node->plain =
			    ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			node =
			    cfg_node_new(ev.type == YAML_SEQUENCE_START_EVENT ?
				    CFG_SEQ :
				    CFG_MAP,
				&ev.start_mark);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			depth--;
			if (depth == 2 &&
			    cfg_hooked(doc, stack[0], stack[1], hook))
				cfg_hook_item(doc, stack[1], hook);
			break;
		default:
			break;
		}

		if (node != NULL) {
			if (depth == 0)
				doc->root = node;
			else if (cfg_node_append(doc, stack[depth - 1], node,
				     &pending[depth - 1]) == -1) {
				node = NULL;
				rc = -1;
				done = 1;
			}
			if (node != NULL && node->type == CFG_SCALAR &&
			    depth == 2 &&
			    cfg_hooked(doc, stack[0], stack[1], hook))
				cfg_hook_item(doc, stack[1], hook);
			else if (node != NULL && node->type != CFG_SCALAR) {
				if (depth == CFG_MAX_DEPTH) {
					cfg_error(doc, node,
					    "nesting deeper than %d levels",
					    CFG_MAX_DEPTH);
					rc = -1;
					done = 1;
				} else {
					pending[depth] = NULL;
					stack[depth++] = node;
				}
			}
		}
		yaml_event_delete(&ev);
	}
	/* After an error, keys still waiting for their value are not in the
	 * tree yet. */
	for (int d = 0; d < depth; d++)
		if (stack[d]->type == CFG_MAP)
			cfg_node_free(pending[d]);
	return rc;
}

/* Runs the parser over its input; the document keeps the errors. */
static struct cfg_doc *
cfg_load(struct cfg_doc *doc, yaml_parser_t *parser,
    const struct cfg_hook *hook)
{
	if (cfg_build(doc, parser, hook) == -1) {
		cfg_node_free(doc->root);
		doc->root = NULL;
		for (size_t i = 0; i < doc->nhook_errors; i++)
			free(doc->hook_errors[i]);
	} else if (doc->nhook_errors > 0) {
		doc->errors = xreallocarray(doc->errors,
		    doc->nerrors + doc->nhook_errors, sizeof(*doc->errors));
		memcpy(doc->errors + doc->nerrors, doc->hook_errors,
		    doc->nhook_errors * sizeof(*doc->errors));
		doc->nerrors += doc->nhook_errors;
	}
	free(doc->hook_errors);
	doc->hook_errors = NULL;
	doc->nhook_errors = 0;
	yaml_parser_delete(parser);
	return doc;
}

/*
 * Parses text; always returns a document, with errors if it failed.  With
 * a hook, each item of the top-level sequence hook->key goes to hook->cb as
 * soon as it is complete and is not kept in the tree.
 */
struct cfg_doc *
cfg_load_string(const char *name, const char *text, size_t len,
    const struct cfg_hook *hook)
{
	struct cfg_doc *doc = xcalloc(1, sizeof(*doc));
	yaml_parser_t parser;

	doc->file = xstrdup(name);
	if (!yaml_parser_initialize(&parser))
		fatalx("yaml_parser_initialize failed");
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	return cfg_load(doc, &parser, hook);
}

/*
 * Reads and parses a file, streaming it through the parser; always returns
 * a document, with errors if any.  The hook is as for cfg_load_string.
 */
struct cfg_doc *
cfg_load_file(const char *path, const struct cfg_hook *hook)
{
	struct cfg_doc *doc = xcalloc(1, sizeof(*doc));
	yaml_parser_t parser;
	struct stat st;
	FILE *fp;

	doc->file = xstrdup(path);
	if ((fp = fopen(path, "r")) == NULL) {
		cfg_error_at(doc, 1, 1, "cannot open: %s", strerror(errno));
		return doc;
	}
	if (fstat(fileno(fp), &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > CFG_MAX_FILE) {
		fclose(fp);
		cfg_error_at(doc, 1, 1,
		    "not a regular file, or larger than %ld bytes",
		    CFG_MAX_FILE);
		return doc;
	}
	doc->mode = (unsigned)st.st_mode & 07777;
	if (!yaml_parser_initialize(&parser))
		fatalx("yaml_parser_initialize failed");
	yaml_parser_set_input_file(&parser, fp);
	cfg_load(doc, &parser, hook);
	if (ferror(fp))
		cfg_error_at(doc, 1, 1, "read error");
	fclose(fp);
	return doc;
}

/* True for an absent node or a plain "", "~", "null" scalar. */
int
cfg_is_null(const struct cfg_node *node)
{
	if (node == NULL)
		return 1;
	if (node->type != CFG_SCALAR || !node->plain)
		return 0;
	return node->value[0] == '\0' || strcmp(node->value, "~") == 0 ||
	    strcmp(node->value, "null") == 0 ||
	    strcmp(node->value, "Null") == 0 ||
	    strcmp(node->value, "NULL") == 0;
}

const char *
cfg_type_str(const struct cfg_node *node)
{
	if (node == NULL || cfg_is_null(node))
		return "null";
	switch (node->type) {
	case CFG_SCALAR:
		return "scalar";
	case CFG_MAP:
		return "mapping";
	case CFG_SEQ:
		return "sequence";
	}
	return "?";
}

/* Checks that node is a mapping; what names it in the error. */
int
cfg_expect_map(struct cfg_doc *doc, const struct cfg_node *node,
    const char *what)
{
	if (node != NULL && node->type == CFG_MAP)
		return 0;
	cfg_error(doc, node, "%s must be a mapping, not a %s", what,
	    cfg_type_str(node));
	return -1;
}

/*
 * Reports every key of a mapping that is not in known[] (NULL-terminated):
 * a misspelt key silently ignored is a fault waiting to happen.
 */
int
cfg_check_keys(struct cfg_doc *doc, const struct cfg_node *map,
    const char *what, const char *const known[])
{
	int rc = 0;

	if (map == NULL || map->type != CFG_MAP)
		return 0;
	for (size_t i = 0; i < map->n; i++) {
		const char *key = map->keys[i]->value;
		size_t k;

		for (k = 0; known[k] != NULL; k++)
			if (strcmp(key, known[k]) == 0)
				break;
		if (known[k] != NULL)
			continue;

		char list[512];
		size_t off = 0;

		list[0] = '\0';
		for (k = 0; known[k] != NULL && off < sizeof(list); k++) {
			int n = snprintf(list + off, sizeof(list) - off, "%s%s",
			    k ? ", " : "", known[k]);
			if (n < 0)
				break;
			off += (size_t)n;
		}
		cfg_error(doc, map->keys[i],
		    "unknown key '%s' in %s (known: %s)", key, what, list);
		rc = -1;
	}
	return rc;
}

/* The value under key in a mapping, or NULL. */
const struct cfg_node *
cfg_get(const struct cfg_node *map, const char *key)
{
	if (map == NULL || map->type != CFG_MAP)
		return NULL;
	for (size_t i = 0; i < map->n; i++)
		if (strcmp(map->keys[i]->value, key) == 0)
			return map->items[i];
	return NULL;
}

/*
 * Common start of every getter: finds key, handles absence.  Returns the
 * node, or NULL with *rc set to 1 (absent, optional) or -1 (error).
 */
static const struct cfg_node *
cfg_lookup(struct cfg_doc *doc, const struct cfg_node *map, const char *key,
    int required, int *rc)
{
	const struct cfg_node *node = cfg_get(map, key);

	if (node == NULL || cfg_is_null(node)) {
		if (required) {
			if (node == NULL)
				cfg_error(doc, map, "missing required key '%s'",
				    key);
			else
				cfg_error(doc, node, "'%s' must not be empty",
				    key);
			*rc = -1;
		} else
			*rc = 1;
		return NULL;
	}
	return node;
}

/* A scalar's text (a string item of a sequence, for instance). */
int
cfg_node_str(struct cfg_doc *doc, const struct cfg_node *node, const char *what,
    const char **out)
{
	if (node == NULL || node->type != CFG_SCALAR || cfg_is_null(node)) {
		cfg_error(doc, node, "%s must be a string, not a %s", what,
		    cfg_type_str(node));
		return -1;
	}
	*out = node->value;
	return 0;
}

/* Gets a string.  Returns 0 (set), 1 (absent, optional) or -1 (error). */
int
cfg_str(struct cfg_doc *doc, const struct cfg_node *map, const char *key,
    int required, const char **out)
{
	const struct cfg_node *node;
	int rc;

	if ((node = cfg_lookup(doc, map, key, required, &rc)) == NULL)
		return rc;
	return cfg_node_str(doc, node, key, out);
}

/* Gets an unsigned integer in [min, max]. */
int
cfg_uint(struct cfg_doc *doc, const struct cfg_node *map, const char *key,
    int required, uint64_t min, uint64_t max, uint64_t *out)
{
	const struct cfg_node *node;
	unsigned long long v;
	char *end;
	int rc;

	if ((node = cfg_lookup(doc, map, key, required, &rc)) == NULL)
		return rc;
	if (node->type != CFG_SCALAR) {
		cfg_error(doc, node, "'%s' must be an integer, not a %s", key,
		    cfg_type_str(node));
		return -1;
	}
	errno = 0;
	v = strtoull(node->value, &end, 10);
	if (node->value[0] < '0' || node->value[0] > '9' || *end != '\0' ||
	    errno != 0) {
		cfg_error(doc, node, "'%s' must be an integer, not '%s'", key,
		    node->value);
		return -1;
	}
	if (v < min || v > max) {
		cfg_error(doc, node,
		    "'%s' must be between %llu and %llu, not "
		    "%llu",
		    key, (unsigned long long)min, (unsigned long long)max, v);
		return -1;
	}
	*out = v;
	return 0;
}

/* Gets a number in [min, max]. */
int
cfg_double(struct cfg_doc *doc, const struct cfg_node *map, const char *key,
    int required, double min, double max, double *out)
{
	const struct cfg_node *node;
	char *end;
	double v;
	int rc;

	if ((node = cfg_lookup(doc, map, key, required, &rc)) == NULL)
		return rc;
	if (node->type != CFG_SCALAR) {
		cfg_error(doc, node, "'%s' must be a number, not a %s", key,
		    cfg_type_str(node));
		return -1;
	}
	errno = 0;
	v = strtod(node->value, &end);
	if (end == node->value || *end != '\0' || errno != 0 || !isfinite(v)) {
		cfg_error(doc, node, "'%s' must be a number, not '%s'", key,
		    node->value);
		return -1;
	}
	if (v < min || v > max) {
		cfg_error(doc, node, "'%s' must be between %g and %g, not %g",
		    key, min, max, v);
		return -1;
	}
	*out = v;
	return 0;
}

/* Gets a boolean: true/false, yes/no, on/off. */
int
cfg_bool(struct cfg_doc *doc, const struct cfg_node *map, const char *key,
    int required, int *out)
{
	static const char *const yes[] = { "true", "yes", "on", "True", "Yes",
		"On", "TRUE", "YES", "ON", NULL };
	static const char *const no[] = { "false", "no", "off", "False", "No",
		"Off", "FALSE", "NO", "OFF", NULL };
	const struct cfg_node *node;
	int rc;

	if ((node = cfg_lookup(doc, map, key, required, &rc)) == NULL)
		return rc;
	if (node->type == CFG_SCALAR) {
		for (int i = 0; yes[i] != NULL; i++) {
			if (strcmp(node->value, yes[i]) == 0) {
				*out = 1;
				return 0;
			}
			if (strcmp(node->value, no[i]) == 0) {
				*out = 0;
				return 0;
			}
		}
	}
	cfg_error(doc, node, "'%s' must be true or false, not '%s'", key,
	    node->type == CFG_SCALAR ? node->value : cfg_type_str(node));
	return -1;
}

/*
 * Parses a duration into milliseconds: "250ms", "10s", "1.5s", "5m", "1h",
 * or a bare number of seconds.  Returns 0 or -1.
 */
int
cfg_parse_duration(const char *s, uint64_t *ms)
{
	static const struct {
		const char *suffix;
		double scale;
	} units[] = {
		{ "ms", 1 },
		{ "s", 1000 },
		{ "m", 60000 },
		{ "h", 3600000 },
		{ "d", 86400000 },
		{ "", 1000 },
	};
	char *end;
	double v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || !isfinite(v) || v < 0)
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].suffix) == 0) {
			double r = v * units[i].scale;

			if (r > 1e15)
				return -1;
			*ms = (uint64_t)(r + 0.5);
			return 0;
		}
	}
	return -1;
}

/* Gets a duration in milliseconds within [min, max]. */
/* ms as the config writes it: in the largest unit that holds it whole. */
static const char *
cfg_duration_str(char *buf, size_t len, uint64_t ms)
{
	static const struct {
		const char *unit;
		uint64_t ms;
	} units[] = { { "d", 86400000 }, { "h", 3600000 }, { "m", 60000 },
		{ "s", 1000 } };

	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (ms > 0 && ms % units[i].ms == 0) {
			snprintf(buf, len, "%llu%s",
			    (unsigned long long)(ms / units[i].ms),
			    units[i].unit);
			return buf;
		}
	snprintf(buf, len, "%llums", (unsigned long long)ms);
	return buf;
}

int
cfg_duration(struct cfg_doc *doc, const struct cfg_node *map, const char *key,
    int required, uint64_t min, uint64_t max, uint64_t *out)
{
	const struct cfg_node *node;
	uint64_t v;
	int rc;
	char lo[32], hi[32];

	if ((node = cfg_lookup(doc, map, key, required, &rc)) == NULL)
		return rc;
	if (node->type != CFG_SCALAR ||
	    cfg_parse_duration(node->value, &v) == -1) {
		cfg_error(doc, node,
		    "'%s' must be a duration such as 500ms, "
		    "10s, 5m or 1h, not '%s'",
		    key,
		    node->type == CFG_SCALAR ? node->value :
					       cfg_type_str(node));
		return -1;
	}
	if (v < min || v > max) {
		cfg_error(doc, node, "'%s' must be between %s and %s, not %s",
		    key, cfg_duration_str(lo, sizeof(lo), min),
		    cfg_duration_str(hi, sizeof(hi), max), node->value);
		return -1;
	}
	*out = v;
	return 0;
}

/* Gets one of names[] (NULL-terminated); *out is its index. */
int
cfg_enum(struct cfg_doc *doc, const struct cfg_node *map, const char *key,
    int required, const char *const names[], int *out)
{
	const struct cfg_node *node;
	char list[512];
	size_t off = 0;
	int rc;

	if ((node = cfg_lookup(doc, map, key, required, &rc)) == NULL)
		return rc;
	if (node->type == CFG_SCALAR) {
		for (int i = 0; names[i] != NULL; i++) {
			if (strcmp(node->value, names[i]) == 0) {
				*out = i;
				return 0;
			}
		}
	}
	list[0] = '\0';
	for (int i = 0; names[i] != NULL && off < sizeof(list); i++) {
		int n = snprintf(list + off, sizeof(list) - off, "%s%s",
		    i ? ", " : "", names[i]);
		if (n < 0)
			break;
		off += (size_t)n;
	}
	cfg_error(doc, node, "'%s' must be one of %s, not '%s'", key, list,
	    node->type == CFG_SCALAR ? node->value : cfg_type_str(node));
	return -1;
}

static const struct cfg_node *
cfg_typed(struct cfg_doc *doc, const struct cfg_node *map, const char *key,
    int required, enum cfg_type type, const char *tname)
{
	const struct cfg_node *node;
	int rc;

	if ((node = cfg_lookup(doc, map, key, required, &rc)) == NULL)
		return NULL;
	if (node->type != type) {
		cfg_error(doc, node, "'%s' must be a %s, not a %s", key, tname,
		    cfg_type_str(node));
		return NULL;
	}
	return node;
}

/* Gets a sequence; NULL when absent or wrong (the latter is recorded). */
const struct cfg_node *
cfg_seq(struct cfg_doc *doc, const struct cfg_node *map, const char *key,
    int required)
{
	return cfg_typed(doc, map, key, required, CFG_SEQ, "sequence");
}

/* Gets a mapping; NULL when absent or wrong (the latter is recorded). */
const struct cfg_node *
cfg_map(struct cfg_doc *doc, const struct cfg_node *map, const char *key,
    int required)
{
	return cfg_typed(doc, map, key, required, CFG_MAP, "mapping");
}

/*
 * Checks a libpq conninfo string ("host=... dbname=..." or a postgresql://
 * URI) now, so that a typo is a config error and not an endless reconnect.
 */
int
cfg_check_conninfo(struct cfg_doc *doc, const struct cfg_node *node,
    const char *conninfo)
{
	PQconninfoOption *opts;
	char *err = NULL;

	if ((opts = PQconninfoParse(conninfo, &err)) == NULL) {
		char *nl;

		if (err != NULL && (nl = strchr(err, '\n')) != NULL)
			*nl = '\0';
		cfg_error(doc, node,
		    "'database' is not a valid libpq "
		    "connection string: %s",
		    err != NULL ? err : "out of memory");
		PQfreemem(err);
		return -1;
	}
	for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
		if (strcmp(o->keyword, "password") == 0 && o->val != NULL &&
		    o->val[0] != '\0')
			cfg_secret(doc, node, "a database password");
	PQconninfoFree(opts);
	return 0;
}

const char *const cfg_secrets_names[] = { "refuse", "warn", NULL };

/*
 * Marks a scalar that a process with fewer privileges must not see: see
 * cfg_redacted.
 */
void
cfg_redact(struct cfg_doc *doc, const struct cfg_node *node)
{
	if (node == NULL || node->type != CFG_SCALAR ||
	    node->end <= node->start)
		return;
	doc->redact = xreallocarray(doc->redact, doc->nredact + 1,
	    2 * sizeof(*doc->redact));
	doc->redact[2 * doc->nredact] = node->start;
	doc->redact[2 * doc->nredact + 1] = node->end;
	doc->nredact++;
}

/*
 * Loads a config file as cfg_load_file does, but reads it whole first and
 * gives the text to the caller (NUL-terminated, to free), for
 * cfg_redacted; *textp is NULL if the file could not be read.
 */
struct cfg_doc *
cfg_load_file_text(const char *path, char **textp, size_t *lenp)
{
	struct cfg_doc *doc;
	struct stat st;
	char *text;
	size_t len;
	FILE *fp;

	*textp = NULL;
	*lenp = 0;
	if ((fp = fopen(path, "r")) == NULL) {
		doc = cfg_load_string(path, "", 0, NULL);
		cfg_error_at(doc, 1, 1, "cannot open: %s", strerror(errno));
		return doc;
	}
	if (fstat(fileno(fp), &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > CFG_MAX_FILE) {
		fclose(fp);
		doc = cfg_load_string(path, "", 0, NULL);
		cfg_error_at(doc, 1, 1,
		    "not a regular file, or larger than %ld bytes",
		    CFG_MAX_FILE);
		return doc;
	}
	text = xmalloc((size_t)st.st_size + 1);
	len = fread(text, 1, (size_t)st.st_size, fp);
	if (ferror(fp)) {
		fclose(fp);
		free(text);
		doc = cfg_load_string(path, "", 0, NULL);
		cfg_error_at(doc, 1, 1, "read error");
		return doc;
	}
	fclose(fp);
	text[len] = '\0';
	doc = cfg_load_string(path, text, len, NULL);
	doc->mode = (unsigned)st.st_mode & 07777;
	*textp = text;
	*lenp = len;
	return doc;
}

/* The byte offset of the character at index ci of UTF-8 text. */
static size_t
cfg_char_offset(const char *text, size_t len, size_t ci)
{
	size_t off = 0;

	for (; off < len; off++)
		if (((unsigned char)text[off] & 0xc0) != 0x80 && ci-- == 0)
			break;
	return off;
}

/*
 * The text the document was parsed from with every scalar marked by
 * cfg_redact replaced by "Redacted: x" (a valid header as well as a
 * string).  The caller frees it.
 */
char *
cfg_redacted(const struct cfg_doc *doc, const char *text, size_t len,
    size_t *outlen)
{
	static const char repl[] = "\"Redacted: x\"";
	char *out;
	size_t n = 0, pos = 0;
	size_t *r = xreallocarray(NULL, doc->nredact + 1, 2 * sizeof(*r));

	if (doc->nredact > 0)
		memcpy(r, doc->redact, doc->nredact * 2 * sizeof(*r));
	/* in the order of the text */
	for (size_t i = 1; i < doc->nredact; i++)
		for (size_t j = i; j > 0 && r[2 * j] < r[2 * (j - 1)]; j--) {
			size_t a = r[2 * j], b = r[2 * j + 1];

			r[2 * j] = r[2 * (j - 1)];
			r[2 * j + 1] = r[2 * (j - 1) + 1];
			r[2 * (j - 1)] = a;
			r[2 * (j - 1) + 1] = b;
		}
	out = xmalloc(len + doc->nredact * (sizeof(repl) + 1) + 1);
	for (size_t i = 0; i < doc->nredact; i++) {
		size_t s = cfg_char_offset(text, len, r[2 * i]);
		size_t e = cfg_char_offset(text, len, r[2 * i + 1]);

		if (s < pos || e < s)
			continue; /* overlapping: cannot happen for scalars */
		memcpy(out + n, text + pos, s - pos);
		n += s - pos;
		memcpy(out + n, repl, sizeof(repl) - 1);
		n += sizeof(repl) - 1;
		/* a block scalar (| or >) ends after its last line break */
		if (e > s && text[e - 1] == '\n')
			out[n++] = '\n';
		pos = e;
	}
	memcpy(out + n, text + pos, len - pos);
	n += len - pos;
	out[n] = '\0';
	free(r);
	*outlen = n;
	return out;
}

/* Notes that node holds a credential (what it is, for the message); the
 * first in the file is the one reported. */
void
cfg_secret(struct cfg_doc *doc, const struct cfg_node *node, const char *what)
{
	if (node == NULL ||
	    (doc->secret != NULL &&
		(doc->secret_line < node->line ||
		    (doc->secret_line == node->line &&
			doc->secret_col <= node->col))))
		return;
	free(doc->secret);
	doc->secret = xstrdup(what);
	doc->secret_line = node->line;
	doc->secret_col = node->col;
}

/*
 * A file that others may read must hold no credential: refused with an
 * error at the first one, or, with readable_secrets: warn in root, a
 * warning.  Returns -1 if refused, else 0.
 */
int
cfg_check_secrets(struct cfg_doc *doc, const struct cfg_node *root)
{
	int policy = CFG_SECRETS_REFUSE;

	if (root != NULL && root->type == CFG_MAP)
		cfg_enum(doc, root, "readable_secrets", 0, cfg_secrets_names,
		    &policy);
	if (doc->secret == NULL || (doc->mode & S_IROTH) == 0)
		return 0;
	if (policy == CFG_SECRETS_WARN) {
		log_warnx("%s:%u:%u: %s in a file that any user can read "
			  "(mode %04o); readable_secrets: warn lets it pass",
		    doc->file, doc->secret_line, doc->secret_col, doc->secret,
		    doc->mode);
		return 0;
	}
	cfg_error_at(doc, doc->secret_line, doc->secret_col,
	    "%s in a file that any user can read (mode %04o): chmod o-r %s, "
	    "or set 'readable_secrets: warn'",
	    doc->secret, doc->mode, doc->file);
	return -1;
}

/* The line and column an error message starts with, after the file name. */
static void
cfg_error_pos(const struct cfg_doc *doc, const char *msg, unsigned long *line,
    unsigned long *col)
{
	const char *p = msg + strlen(doc->file);

	*line = *col = 0;
	if (strncmp(msg, doc->file, strlen(doc->file)) != 0 || *p != ':')
		return;
	*line = strtoul(p + 1, (char **)&p, 10);
	if (*p == ':')
		*col = strtoul(p + 1, NULL, 10);
}

/* An error with its position, for sorting. */
struct cfg_sorted_error {
	unsigned long line, col;
	size_t idx;
	char *msg;
};

static int
cfg_sorted_error_cmp(const void *a, const void *b)
{
	const struct cfg_sorted_error *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/*
 * Puts the errors in the order of the file (stable for one position), so
 * that what a streaming load reports reads top to bottom.
 */
void
cfg_sort_errors(struct cfg_doc *doc)
{
	struct cfg_sorted_error *v;

	if (doc->nerrors < 2)
		return;
	v = xreallocarray(NULL, doc->nerrors, sizeof(*v));
	for (size_t i = 0; i < doc->nerrors; i++) {
		cfg_error_pos(doc, doc->errors[i], &v[i].line, &v[i].col);
		v[i].idx = i;
		v[i].msg = doc->errors[i];
	}
	qsort(v, doc->nerrors, sizeof(*v), cfg_sorted_error_cmp);
	for (size_t i = 0; i < doc->nerrors; i++)
		doc->errors[i] = v[i].msg;
	free(v);
}

/* Reads a list of strings (a YAML sequence) under key into *out. */
void
cfg_str_list(struct cfg_doc *doc, const struct cfg_node *map, const char *key,
    char ***out, size_t *n)
{
	const struct cfg_node *seq = cfg_seq(doc, map, key, 0);
	const char *v;

	for (size_t i = 0; seq != NULL && i < seq->n; i++) {
		if (cfg_node_str(doc, seq->items[i], key, &v) == -1)
			continue;
		*out = xreallocarray(*out, *n + 1, sizeof(**out));
		(*out)[(*n)++] = xstrdup(v);
	}
}

/* Insists on a time zone the system knows (timeutil_zone_known). */
void
cfg_timezone(struct cfg_doc *doc, const struct cfg_node *node, const char *tz)
{
	if (!timeutil_zone_known(tz))
		cfg_error(doc, node,
		    "unknown time zone '%s' (such as Asia/Tokyo)", tz);
}
