/*
 * Agreements from incidentd.yaml, as the JSON that lifecycle_configure()
 * stores (sql/func/sla.sql works out their figures):
 *
 *   agreements:
 *     - name: juki-sla
 *       kind: sla                 # sla (with a department) or ola
 *       service: juki
 *       party: 住民課             # the department, or the outsourcer
 *       calendar: 庁舎            # agreed service time; default 24x7
 *       availability: 99.5        # percent
 *       maintenance: exclude      # exclude (from the agreed time) or
 *                                 # available (counted as up)
 *       targets:                  # business time of the calendar
 *         P1: {tto: 15m, ttr: 4h}
 *         P2: {tto: 30m, ttr: 8h}
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cfg.h"
#include "incidentd.h"

/* The entry of an array of objects whose "name" is name, or NULL. */
static json_t *
conf_sla_named(json_t *arr, const char *name)
{
	for (size_t i = 0; i < json_array_size(arr); i++) {
		json_t *o = json_array_get(arr, i);
		const char *n = json_string_value(json_object_get(o, "name"));

		if (n != NULL && strcmp(n, name) == 0)
			return o;
	}
	return NULL;
}

/* The targets of one agreement: {"1": {"tto": "900 s", ...}, ...}. */
static json_t *
conf_sla_targets(struct cfg_doc *doc, const struct cfg_node *node)
{
	static const char *const tkeys[] = { "tto", "ttr", NULL };
	json_t *out = json_object();
	char prio[2], buf[64];

	for (size_t i = 0; node != NULL && i < node->n; i++) {
		const struct cfg_node *k = node->keys[i], *v = node->items[i];
		const char *p = k->value;
		json_t *t = json_object();
		uint64_t ms;

		if (p[0] == 'P' || p[0] == 'p')
			p++;
		if (p[0] < '1' || p[0] > '5' || p[1] != '\0') {
			cfg_error(doc, k,
			    "a priority is 1-5 (or P1-P5), not '%s'", k->value);
			json_decref(t);
			continue;
		}
		if (cfg_expect_map(doc, v, "a target") == -1) {
			json_decref(t);
			continue;
		}
		cfg_check_keys(doc, v, "a target", tkeys);
		for (int m = 0; tkeys[m] != NULL; m++) {
			if (cfg_duration(doc, v, tkeys[m], 0, 60000,
				365 * MS_DAY, &ms) != 0)
				continue;
			snprintf(buf, sizeof(buf), "%llu milliseconds",
			    (unsigned long long)ms);
			json_object_set_new(t, tkeys[m], json_string(buf));
		}
		prio[0] = p[0];
		prio[1] = '\0';
		json_object_set_new(out, prio, t);
	}
	return out;
}

/*
 * Loads the agreements into j ("agreements"), checking them against the
 * services and calendars already in j.
 */
void
conf_sla_load(struct cfg_doc *doc, const struct cfg_node *root, json_t *j)
{
	static const char *const keys[] = { "name", "kind", "service", "party",
		"calendar", "availability", "maintenance", "targets", NULL };
	static const char *const kinds[] = { "sla", "ola", NULL };
	static const char *const rules[] = { "exclude", "available", NULL };
	const struct cfg_node *seq = cfg_seq(doc, root, "agreements", 0);
	json_t *arr = json_array();

	for (size_t i = 0; seq != NULL && i < seq->n; i++) {
		const struct cfg_node *node = seq->items[i];
		const char *name = NULL, *service = NULL, *party = NULL;
		const char *cal = NULL;
		json_t *svc = NULL, *a;
		int kind = 0, rule = 0;
		double avail = -1;

		if (cfg_expect_map(doc, node, "an agreement") == -1)
			continue;
		cfg_check_keys(doc, node, "an agreement", keys);
		if (cfg_str(doc, node, "name", 1, &name) == 0 &&
		    conf_sla_named(arr, name) != NULL)
			cfg_error(doc, cfg_get(node, "name"),
			    "agreement '%s' is defined twice", name);
		cfg_enum(doc, node, "kind", 1, kinds, &kind);
		if (cfg_str(doc, node, "service", 1, &service) == 0 &&
		    (svc = conf_sla_named(json_object_get(j, "services"),
			 service)) == NULL)
			cfg_error(doc, cfg_get(node, "service"),
			    "no service named '%s'", service);
		if (cfg_str(doc, node, "party", 1, &party) == 0 && kind == 0 &&
		    svc != NULL) {
			json_t *deps = json_object_get(svc, "departments");
			size_t k;

			for (k = 0; k < json_array_size(deps); k++)
				if (strcmp(json_string_value(
					       json_array_get(deps, k)),
					party) == 0)
					break;
			if (k == json_array_size(deps))
				cfg_error(doc, cfg_get(node, "party"),
				    "'%s' is not a department of service '%s'",
				    party, service);
		}
		if (cfg_str(doc, node, "calendar", 0, &cal) == 0 &&
		    conf_sla_named(json_object_get(j, "calendars"), cal) ==
			NULL)
			cfg_error(doc, cfg_get(node, "calendar"),
			    "no calendar named '%s'", cal);
		if (cfg_get(node, "availability") != NULL)
			cfg_double(doc, node, "availability", 0, 0.0, 100.0,
			    &avail);
		cfg_enum(doc, node, "maintenance", 0, rules, &rule);
		if (name == NULL || service == NULL || party == NULL)
			continue;
		a = json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s, s:o}", "name",
		    name, "kind", kinds[kind], "service", service, "party",
		    party, "calendar", cal, "maintenance", rules[rule],
		    "targets",
		    conf_sla_targets(doc, cfg_map(doc, node, "targets", 0)));
		if (avail >= 0)
			json_object_set_new(a, "availability",
			    json_real(avail));
		json_array_append_new(arr, a);
	}
	json_object_set_new(j, "agreements", arr);
}
