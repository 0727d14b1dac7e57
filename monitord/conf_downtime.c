/*
 * monitord.yaml: scheduled downtimes, one-off or recurring, for hosts,
 * single checks or whole segments.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "conf_parts.h"
#include "monitord.h"
#include "xmalloc.h"

/* Reads one downtime; its targets must exist. */
static void
conf_downtime_load_one(struct cfg_doc *doc, const struct cfg_node *node,
    struct mon_conf *conf)
{
	static const char *const keys[] = { "name", "comment", "hosts",
		"checks", "segments", "every", "start", "end", "weekday", "nth",
		"day", "at", "duration", "timezone", NULL };
	static const char *const every_names[] = { "once", "day", "week",
		"month", NULL };
	static const char *const wday_names[] = { "sun", "mon", "tue", "wed",
		"thu", "fri", "sat", NULL };
	struct downtime *d;
	const struct cfg_node *seq;
	const char *s, *e;
	char text[512];
	size_t off = 0;
	int every = DOWNTIME_ONCE, wday = 0;
	uint64_t v;
	double x;

	if (cfg_expect_map(doc, node, "a downtime") == -1)
		return;
	cfg_check_keys(doc, node, "a downtime", keys);
	d = xcalloc(1, sizeof(*d));
	d->line = node->line;
	d->col = node->col;
	conf->downtimes = xreallocarray(conf->downtimes, conf->ndowntimes + 1,
	    sizeof(*conf->downtimes));
	conf->downtimes[conf->ndowntimes++] = d;
	if (cfg_str(doc, node, "name", 1, &s) == 0)
		d->name = xstrdup(s);
	if (cfg_str(doc, node, "comment", 0, &s) == 0)
		d->comment = xstrdup(s);
	d->timezone = xstrdup("Asia/Tokyo");
	if (cfg_str(doc, node, "timezone", 0, &s) == 0) {
		cfg_timezone(doc, cfg_get(node, "timezone"), s);
		free(d->timezone);
		d->timezone = xstrdup(s);
	}
	cfg_str_list(doc, node, "hosts", &d->hosts, &d->nhosts);
	cfg_str_list(doc, node, "checks", &d->checks, &d->nchecks);
	if ((seq = cfg_seq(doc, node, "segments", 0)) != NULL) {
		for (size_t i = 0; i < seq->n; i++) {
			int k;

			if (cfg_node_str(doc, seq->items[i], "segments", &s) ==
			    -1)
				continue;
			for (k = 0; segment_names[k] != NULL; k++)
				if (strcmp(segment_names[k], s) == 0)
					break;
			if (segment_names[k] == NULL) {
				cfg_error(doc, seq->items[i],
				    "no segment '%s' (core, information, "
				    "finance, other)",
				    s);
				continue;
			}
			d->segments = xreallocarray(d->segments,
			    d->nsegments + 1, sizeof(*d->segments));
			d->segments[d->nsegments++] = k;
		}
	}
	if (d->nhosts + d->nchecks + d->nsegments == 0)
		cfg_error(doc, node,
		    "downtime '%s' covers nothing: give hosts, "
		    "checks or segments",
		    d->name ? d->name : "?");
	for (size_t i = 0; i < d->nhosts; i++)
		if (conf_host_named(conf, d->hosts[i]) == NULL)
			cfg_error(doc, cfg_get(node, "hosts"),
			    "downtime '%s': no host '%s'", d->name,
			    d->hosts[i]);
	for (size_t i = 0; i < d->nchecks; i++)
		if (strchr(d->checks[i], '/') == NULL)
			cfg_error(doc, cfg_get(node, "checks"),
			    "downtime '%s': '%s' must be host/check", d->name,
			    d->checks[i]);
	off += (size_t)snprintf(text + off, sizeof(text) - off, "%s",
	    d->nhosts ? "hosts:" : "");
	for (size_t i = 0; i < d->nhosts && off < sizeof(text); i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off, " %s",
		    d->hosts[i]);
	if (d->nchecks && off < sizeof(text))
		off += (size_t)snprintf(text + off, sizeof(text) - off,
		    "%schecks:", off ? "; " : "");
	for (size_t i = 0; i < d->nchecks && off < sizeof(text); i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off, " %s",
		    d->checks[i]);
	if (d->nsegments && off < sizeof(text))
		off += (size_t)snprintf(text + off, sizeof(text) - off,
		    "%ssegments:", off ? "; " : "");
	for (size_t i = 0; i < d->nsegments && off < sizeof(text); i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off, " %s",
		    segment_names[d->segments[i]]);
	d->targets_text = xstrdup(text);

	cfg_enum(doc, node, "every", 0, every_names, &every);
	d->every = (enum downtime_every)every;
	if (d->every == DOWNTIME_ONCE) {
		if (cfg_str(doc, node, "start", 1, &s) == 0 &&
		    downtime_parse_local(s, d->timezone, &d->once_start) == -1)
			cfg_error(doc, cfg_get(node, "start"),
			    "'start' must be YYYY-MM-DD HH:MM, not '%s'", s);
		if (cfg_str(doc, node, "end", 1, &e) == 0 &&
		    downtime_parse_local(e, d->timezone, &d->once_end) == -1)
			cfg_error(doc, cfg_get(node, "end"),
			    "'end' must be YYYY-MM-DD HH:MM, not '%s'", e);
		if (d->once_start != 0 && d->once_end != 0 &&
		    d->once_end <= d->once_start)
			cfg_error(doc, cfg_get(node, "end"),
			    "downtime '%s' ends before it starts", d->name);
		return;
	}
	if (cfg_str(doc, node, "at", 1, &s) == 0) {
		unsigned hh, mm;
		char c;

		if (sscanf(s, "%u:%u%c", &hh, &mm, &c) != 2 || hh > 23 ||
		    mm > 59)
			cfg_error(doc, cfg_get(node, "at"),
			    "'at' must be HH:MM, not '%s'", s);
		else
			d->at_min = (int)(hh * 60 + mm);
	}
	if (cfg_duration(doc, node, "duration", 1, 60000, 31 * MS_DAY, &v) == 0)
		d->duration_s = v / 1000;
	if (cfg_enum(doc, node, "weekday", d->every == DOWNTIME_WEEK,
		wday_names, &wday) == 0)
		d->wday = wday;
	if (d->every == DOWNTIME_MONTH) {
		const struct cfg_node *nth = cfg_get(node, "nth");

		if (nth != NULL) {
			if (cfg_double(doc, node, "nth", 1, -5, 5, &x) == 0) {
				if (x == 0 || x != (int)x)
					cfg_error(doc, nth,
					    "'nth' is 1 to 5, or -1 (the last) "
					    "to -5");
				d->nth = (int)x;
			}
			if (cfg_get(node, "weekday") == NULL)
				cfg_error(doc, nth, "'nth' needs a 'weekday'");
		} else if (cfg_double(doc, node, "day", 1, -31, 31, &x) == 0) {
			if (x == 0 || x != (int)x)
				cfg_error(doc, cfg_get(node, "day"),
				    "'day' is 1 to 31, or -1 (the last day) "
				    "to -31");
			d->mday = (int)x;
		}
	}
}

/* Reads the downtimes, once every host is known. */
void
conf_downtime_load(struct cfg_doc *doc, const struct cfg_node *root,
    struct mon_conf *conf)
{
	const struct cfg_node *seq = cfg_seq(doc, root, "downtimes", 0);

	for (size_t i = 0; seq != NULL && i < seq->n; i++)
		conf_downtime_load_one(doc, seq->items[i], conf);
}
