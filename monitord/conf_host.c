/*
 * monitord.yaml: hosts.  A host is read as soon as the parser has it
 * (cfg_hook), through its templates ("use:", nearest first), its address
 * resolved at load time; once all are read, "parents:" become the
 * topology and a loop in it is refused.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "conf_parts.h"
#include "monitord.h"
#include "xmalloc.h"

/* Template inheritance deeper than this is refused (and loops with it). */
#define MON_TEMPLATE_DEPTH 16

/* The keys a template may have. */
static const char *const template_keys[] = { "name", "use", "segment",
	"department", "tags", "parents", "host_check", "snmp", "description",
	"checks", NULL };

/* Where the templates of a host are gathered, nearest first. */
struct mon_layers {
	const struct cfg_node *node[MON_TEMPLATE_DEPTH * 4];
	size_t n;
	const struct cfg_node *path[MON_TEMPLATE_DEPTH + 1];
	size_t depth;
};

/*
 * Resolves an address at load time (never in the loop): a literal first,
 * then the resolver.  Returns 0 or -1 with the error recorded.
 */
static int
conf_host_resolve(struct cfg_doc *doc, const struct cfg_node *node,
    struct mon_host *host)
{
	struct addrinfo hints, *res = NULL;
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_flags = AI_NUMERICHOST;
	rc = getaddrinfo(host->address, NULL, &hints, &res);
	if (rc != 0) {
		hints.ai_flags = AI_ADDRCONFIG;
		rc = getaddrinfo(host->address, NULL, &hints, &res);
	}
	if (rc != 0 || res == NULL) {
		cfg_error(doc, node, "cannot resolve address '%s': %s",
		    host->address, gai_strerror(rc));
		return -1;
	}
	memcpy(&host->ss, res->ai_addr, res->ai_addrlen);
	host->sslen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

void
conf_host_free(struct mon_host *host)
{
	if (host == NULL)
		return;
	free(host->name);
	free(host->address);
	free(host->department);
	free(host->host_check_name);
	for (size_t i = 0; i < host->ntags; i++)
		free(host->tags[i]);
	free(host->tags);
	for (size_t i = 0; i < host->nparents; i++)
		free(host->parent_names[i]);
	free(host->parent_names);
	free(host->parent_pos);
	free(host->parents);
	free(host->children);
	if (host->snmp != NULL)
		free(host->snmp->cred_name);
	free(host->snmp);
	free(host);
}

/* The template named name (templates come before the hosts), or NULL. */
static const struct cfg_node *
conf_host_template_find(const struct cfg_doc *doc, const char *name)
{
	const struct cfg_node *seq = cfg_get(doc->root, "templates");
	const struct cfg_node *n;

	for (size_t i = 0; seq != NULL && seq->type == CFG_SEQ && i < seq->n;
	     i++) {
		n = cfg_get(seq->items[i], "name");
		if (n != NULL && n->type == CFG_SCALAR &&
		    strcmp(n->value, name) == 0)
			return seq->items[i];
	}
	return NULL;
}

/*
 * Adds the templates node uses ('use: name' or a list), each followed by
 * those it uses in turn.  A template reached twice (two templates that
 * share a base) counts once; one that uses itself is an error.
 */
static void
conf_host_template_chain(struct cfg_doc *doc, const struct cfg_node *node,
    struct mon_layers *ly)
{
	const struct cfg_node *use = cfg_get(node, "use");
	const struct cfg_node *const *names;
	const struct cfg_node *t;
	size_t n;
	int seen;

	if (use == NULL || cfg_is_null(use))
		return;
	if (use->type == CFG_SEQ) {
		names = (const struct cfg_node *const *)use->items;
		n = use->n;
	} else {
		names = &use;
		n = 1;
	}
	for (size_t i = 0; i < n; i++) {
		const struct cfg_node *u = names[i];

		if (u->type != CFG_SCALAR) {
			cfg_error(doc, u,
			    "'use' names templates: a name or a "
			    "list of names");
			continue;
		}
		if ((t = conf_host_template_find(doc, u->value)) == NULL) {
			cfg_error(doc, u,
			    "no template named '%s' (templates are defined "
			    "under 'templates', before 'hosts')",
			    u->value);
			continue;
		}
		seen = 0;
		for (size_t k = 0; k < ly->depth; k++)
			if (ly->path[k] == t)
				seen = 1;
		if (seen) {
			cfg_error(doc, u, "template '%s' uses itself",
			    u->value);
			continue;
		}
		if (ly->depth >= MON_TEMPLATE_DEPTH) {
			cfg_error(doc, u,
			    "templates nest deeper than %d levels",
			    MON_TEMPLATE_DEPTH);
			continue;
		}
		for (size_t k = 0; k < ly->n; k++)
			if (ly->node[k] == t)
				seen = 1;
		if (seen)
			continue;
		if (ly->n == sizeof(ly->node) / sizeof(ly->node[0])) {
			cfg_error(doc, u, "too many templates");
			return;
		}
		ly->node[ly->n++] = t;
		ly->path[ly->depth++] = t;
		conf_host_template_chain(doc, t, ly);
		ly->depth--;
	}
}

/* Adds the strings of a list under key to *out, without repeats. */
static void
conf_host_str_union(struct cfg_doc *doc, const struct cfg_node *map,
    const char *key, char ***out, size_t *n)
{
	const struct cfg_node *seq = cfg_seq(doc, map, key, 0);
	const char *v;
	size_t k;

	for (size_t i = 0; seq != NULL && i < seq->n; i++) {
		if (cfg_node_str(doc, seq->items[i], key, &v) == -1)
			continue;
		for (k = 0; k < *n && strcmp((*out)[k], v) != 0; k++)
			;
		if (k < *n)
			continue;
		*out = xreallocarray(*out, *n + 1, sizeof(**out));
		(*out)[(*n)++] = xstrdup(v);
	}
}

/* Reads a host's parents: names now, hosts once all are read. */
static void
conf_host_parents(struct cfg_doc *doc, const struct cfg_node *m,
    struct mon_host *host)
{
	const struct cfg_node *seq = cfg_get(m, "parents");
	const char *v;

	if (seq == NULL || cfg_is_null(seq))
		return;
	if (seq->type == CFG_SCALAR) {
		cfg_error(doc, seq,
		    "'parents' must be a list of host names, "
		    "such as [core-rt01]");
		return;
	}
	seq = cfg_seq(doc, m, "parents", 0);
	for (size_t i = 0; seq != NULL && i < seq->n; i++) {
		if (cfg_node_str(doc, seq->items[i], "parents", &v) == -1)
			continue;
		host->parent_names = xreallocarray(host->parent_names,
		    host->nparents + 1, sizeof(*host->parent_names));
		host->parent_pos = xreallocarray(host->parent_pos,
		    host->nparents + 1, sizeof(*host->parent_pos));
		host->parent_names[host->nparents] = xstrdup(v);
		host->parent_pos[host->nparents].line = seq->items[i]->line;
		host->parent_pos[host->nparents].col = seq->items[i]->col;
		host->nparents++;
	}
}

/* The check a host's state (UP, DOWN) follows; see conf_host_load. */
static void
conf_host_check_pick(struct cfg_doc *doc, struct mon_conf *conf,
    struct mon_host *host, size_t first, const struct cfg_node *at)
{
	struct mon_check *icmp = NULL, *agent = NULL;

	for (size_t i = first; i < conf->nchecks; i++) {
		struct mon_check *c = conf->checks[i];

		if (host->host_check_name != NULL) {
			if (strcmp(c->name, host->host_check_name) == 0) {
				host->host_check = c;
				return;
			}
			continue;
		}
		if (c->kind == CHECK_KIND_ICMP && icmp == NULL)
			icmp = c;
		if (c->kind == CHECK_KIND_SNMP_AGENT)
			agent = c;
	}
	if (host->host_check_name != NULL) {
		cfg_error(doc, at,
		    "host '%s': 'host_check' names '%s', which "
		    "is not one of its checks",
		    host->name, host->host_check_name);
		return;
	}
	host->host_check = icmp != NULL ? icmp :
	    agent != NULL		? agent :
	    first < conf->nchecks	? conf->checks[first] :
					  NULL;
}

/*
 * Reads one host and its checks into conf.  A host is seen through its
 * templates ('use'): for each key the host's own value, else the nearest
 * template's.  Its checks are the templates' (the farthest first) and its
 * own; a check named like one from a template replaces it.  Each check is
 * then seen through the defaults of the host's segment.
 */
static void
conf_host_load(struct cfg_doc *doc, const struct cfg_node *node,
    struct mon_conf *conf)
{
	static const char *const host_keys[] = { "name", "address", "use",
		"segment", "department", "tags", "parents", "host_check",
		"description", "snmp", "checks", NULL };
	const struct cfg_node *addr_node, *seg, *seq;
	const char *name = NULL, *address = NULL, *s;
	struct mon_layers ly;
	struct cfg_node *m;
	struct mon_host *host;
	size_t first, *level = NULL, nlevel = 0, given = 0, nerrors;
	int segment = SEGMENT_OTHER, told = 0;

	if (cfg_expect_map(doc, node, "a host") == -1)
		return;
	cfg_check_keys(doc, node, "a host", host_keys);
	cfg_str(doc, node, "name", 1, &name);
	cfg_str(doc, node, "address", 1, &address);
	if (cfg_get(node, "checks") == NULL && cfg_get(node, "use") == NULL) {
		cfg_error(doc, node, "missing required key 'checks'");
		told = 1;
	}
	if (name == NULL || address == NULL)
		return;
	if (!conf_check_name_ok(name)) {
		cfg_error(doc, cfg_get(node, "name"),
		    "host name '%s' may only "
		    "hold letters, digits, "
		    "'-', '_' and '.'",
		    name);
		return;
	}
	memset(&ly, 0, sizeof(ly));
	ly.node[ly.n++] = node;
	nerrors = doc->nerrors;
	conf_host_template_chain(doc, node, &ly);
	told |= doc->nerrors != nerrors;
	for (size_t i = 1; i < ly.n; i++)
		cfg_check_keys(doc, ly.node[i], "a template", template_keys);
	m = cfg_merge(ly.node, NULL, ly.n);

	host = xcalloc(1, sizeof(*host));
	host->name = xstrdup(name);
	host->address = xstrdup(address);
	cfg_enum(doc, m, "segment", 0, segment_names, &segment);
	host->segment = (enum mon_segment)segment;
	if (cfg_str(doc, m, "department", 0, &s) == 0)
		host->department = xstrdup(s);
	if (cfg_str(doc, m, "host_check", 0, &s) == 0)
		host->host_check_name = xstrdup(s);
	cfg_str(doc, m, "description", 0, &s);
	for (size_t i = 0; i < ly.n; i++)
		conf_host_str_union(doc, ly.node[i], "tags", &host->tags,
		    &host->ntags);
	conf_host_parents(doc, m, host);
	host->line = node->line;
	host->col = node->col;
	host->name_line = cfg_get(node, "name")->line;
	host->name_col = cfg_get(node, "name")->col;
	conf->hosts =
	    xreallocarray(conf->hosts, conf->nhosts + 1, sizeof(*conf->hosts));
	conf->hosts[conf->nhosts++] = host;
	addr_node = cfg_get(node, "address");
	conf_host_resolve(doc, addr_node, host);
	conf_snmp_host_load(doc, cfg_map(doc, m, "snmp", 0), host);
	seg = cfg_get(cfg_get(doc->root, "segments"), segment_names[segment]);

	/* The farthest template's checks first; the host's own last. */
	first = conf->nchecks;
	for (size_t l = ly.n; l-- > 0;) {
		seq = cfg_get(ly.node[l], "checks");
		if (seq == NULL || cfg_is_null(seq))
			continue;
		if (seq->type != CFG_SEQ) {
			cfg_error(doc, seq, "'checks' must be a list");
			continue;
		}
		for (size_t i = 0; i < seq->n; i++) {
			struct mon_check *check;

			given++;
			check = conf_check_load(doc, seq->items[i], host, seg);
			if (check == NULL)
				continue;
			/* A nearer layer's check replaces a farther one's. */
			for (size_t k = first; k < conf->nchecks; k++) {
				if (level[k - first] == l ||
				    strcmp(conf->checks[k]->name,
					check->name) != 0)
					continue;
				conf_check_free(conf->checks[k]);
				conf->checks[k] = check;
				level[k - first] = l;
				check = NULL;
				break;
			}
			if (check == NULL)
				continue;
			conf->checks = xreallocarray(conf->checks,
			    conf->nchecks + 1, sizeof(*conf->checks));
			conf->checks[conf->nchecks++] = check;
			level =
			    xreallocarray(level, nlevel + 1, sizeof(*level));
			level[nlevel++] = l;
			if (check->snmp != NULL && host->snmp == NULL) {
				cfg_error(doc, seq->items[i],
				    "host '%s' has SNMP checks but no snmp "
				    "block to say how to reach its agent",
				    name);
				/* Once is enough for a host. */
				host->snmp = xcalloc(1, sizeof(*host->snmp));
			}
		}
	}
	free(level);
	if (given == 0 && !told)
		cfg_error(doc, node,
		    "host '%s' has no checks (of its own or "
		    "from a template)",
		    name);
	conf_snmp_agent_check_add(conf, host, node);
	host->first_check = first;
	host->nchecks = conf->nchecks - first;
	conf_host_check_pick(doc, conf, host, first,
	    cfg_get(m, "host_check") ? cfg_get(m, "host_check") : node);
	cfg_merged_free(m);
}

/* Takes each host as soon as the parser has it (see cfg_hook). */
void
conf_host_hook(struct cfg_doc *doc, const struct cfg_node *node, void *arg)
{
	conf_host_load(doc, node, arg);
}

/* Orders hosts by name, for the lookup of parents. */
static int
conf_host_name_cmp(const void *a, const void *b)
{
	return strcmp((*(struct mon_host *const *)a)->name,
	    (*(struct mon_host *const *)b)->name);
}

/*
 * Resolves parents to hosts, builds the children lists and refuses loops:
 * a host cannot be, however indirectly, its own parent.
 */
void
conf_host_topology_resolve(struct cfg_doc *doc, struct mon_conf *conf)
{
	struct mon_host **sorted, key, *kp = &key, **found;
	/* 0 not visited, 1 on the path, 2 done */
	unsigned char *color;
	size_t *stack, *next, sp;

	if (conf->nhosts == 0)
		return;
	sorted = xreallocarray(NULL, conf->nhosts, sizeof(*sorted));
	memcpy(sorted, conf->hosts, conf->nhosts * sizeof(*sorted));
	qsort(sorted, conf->nhosts, sizeof(*sorted), conf_host_name_cmp);
	for (size_t i = 0; i < conf->nhosts; i++) {
		struct mon_host *h = conf->hosts[i];

		h->index = i;
		if (h->nparents > 0)
			h->parents = xcalloc(h->nparents, sizeof(*h->parents));
	}
	for (size_t i = 0; i < conf->nhosts; i++) {
		struct mon_host *h = conf->hosts[i];

		for (size_t j = 0; j < h->nparents; j++) {
			struct cfg_node at = { .line = h->parent_pos[j].line,
				.col = h->parent_pos[j].col };
			struct mon_host *p;

			key.name = h->parent_names[j];
			found = bsearch(&kp, sorted, conf->nhosts,
			    sizeof(*sorted), conf_host_name_cmp);
			if (found == NULL) {
				cfg_error(doc, &at,
				    "host '%s': parent '%s' is not a host",
				    h->name, h->parent_names[j]);
				continue;
			}
			p = *found;
			if (p == h) {
				cfg_error(doc, &at,
				    "host '%s' is its own parent", h->name);
				continue;
			}
			h->parents[j] = p;
			p->children = xreallocarray(p->children,
			    p->nchildren + 1, sizeof(*p->children));
			p->children[p->nchildren++] = h;
		}
	}
	free(sorted);

	/* Depth-first over parent edges, without recursion. */
	color = xcalloc(conf->nhosts, 1);
	stack = xreallocarray(NULL, conf->nhosts, sizeof(*stack));
	next = xcalloc(conf->nhosts, sizeof(*next));
	for (size_t r = 0; r < conf->nhosts; r++) {
		if (color[r] != 0)
			continue;
		sp = 0;
		stack[sp++] = r;
		color[r] = 1;
		while (sp > 0) {
			size_t v = stack[sp - 1];
			struct mon_host *h = conf->hosts[v];
			struct mon_host *p = NULL;

			while (next[v] < h->nparents &&
			    (p = h->parents[next[v]]) == NULL)
				next[v]++;
			if (next[v] >= h->nparents) {
				color[v] = 2;
				sp--;
				continue;
			}
			next[v]++;
			if (color[p->index] == 0) {
				color[p->index] = 1;
				stack[sp++] = p->index;
			} else if (color[p->index] == 1) {
				char path[512];
				size_t off = 0, k = sp;
				struct cfg_node at = {
					.line = h->parent_pos[next[v] - 1].line,
					.col = h->parent_pos[next[v] - 1].col
				};

				/* The loop: from p up the stack to h, then p.
				 */
				while (k > 0 && stack[k - 1] != p->index)
					k--;
				path[0] = '\0';
				for (size_t q = k > 0 ? k - 1 : 0; q < sp; q++)
					off += (size_t)snprintf(path + off,
					    off < sizeof(path) ?
						sizeof(path) - off :
						0,
					    "%s -> ",
					    conf->hosts[stack[q]]->name);
				if (off < sizeof(path))
					snprintf(path + off, sizeof(path) - off,
					    "%s", p->name);
				cfg_error(doc, &at,
				    "loop in the parents: %s (each is a "
				    "parent of the one before)",
				    path);
				/* Cut it, so that the rest is still checked. */
				h->parents[next[v] - 1] = NULL;
			}
		}
	}
	free(color);
	free(stack);
	free(next);
}

/* The host named name, or NULL (hosts sorted by conf_host_topology_resolve's
 * order are not kept: a scan is fine for a handful of downtimes). */
struct mon_host *
conf_host_named(const struct mon_conf *conf, const char *name)
{
	for (size_t i = 0; i < conf->nhosts; i++)
		if (strcmp(conf->hosts[i]->name, name) == 0)
			return conf->hosts[i];
	return NULL;
}
