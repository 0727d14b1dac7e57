/*
 * Calendars and teams from incidentd.yaml, as the JSON that
 * lifecycle_configure() stores (sql/func/notify.sql decides from them who is
 * told, and when):
 *
 *   calendars:
 *     - name: 庁舎                  # business hours
 *       hours: "08:30-17:15"
 *       weekdays: [mon, tue, wed, thu, fri]
 *       holidays: true              # closed on national holidays
 *       new_year: true              # closed 12/29-1/3
 *       closed: [2026-12-28]        # and on these days
 *       open: [2027-01-04]          # open on these days after all
 *       timezone: Asia/Tokyo
 *     - name: 常時
 *       always_open: true           # 24x7
 *   teams:
 *     - name: 基盤担当
 *       calendar: 庁舎
 *       members: [佐藤, 鈴木, 高橋]
 *       duty:                        # outside business hours, in turn
 *         rotation: [佐藤, 鈴木]
 *         start: "2026-11-02 08:30"  # local time of the calendar
 *         every: 7d
 *         swaps:                     # whoever the rotation names
 *           - {from: "2026-12-28 17:15", to: "2027-01-04 08:30",
 *              contact: 高橋}
 *       after_hours: [P1]            # what wakes the member on duty
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cfg.h"
#include "incidentd.h"
#include "timeutil.h"
#include "xmalloc.h"

/* A calendar date "YYYY-MM-DD" that exists. */
static int
conf_duty_date_valid(const char *s)
{
	struct tm tm;
	int y, m, d, n = 0;
	time_t t;

	if (sscanf(s, "%4d-%2d-%2d%n", &y, &m, &d, &n) != 3 || n != 10 ||
	    s[n] != '\0' || y < 1970 || y > 9999 || m < 1 || m > 12 || d < 1)
		return 0;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = m - 1;
	tm.tm_mday = d;
	tm.tm_hour = 12;
	t = timegm(&tm);
	if (t == (time_t)-1 || gmtime_r(&t, &tm) == NULL)
		return 0;
	return tm.tm_mday == d && tm.tm_mon == m - 1;
}

/* "HH:MM" as minutes since midnight, or -1. */
static int
conf_duty_hhmm(const char *s, size_t len)
{
	int h, m;

	if (len != 5 || s[2] != ':' || sscanf(s, "%2d:%2d", &h, &m) != 2 ||
	    h < 0 || h > 24 || m < 0 || m > 59 || (h == 24 && m != 0))
		return -1;
	return h * 60 + m;
}

/*
 * A local time "YYYY-MM-DD HH:MM" (or with a T) under key; returns it, or
 * NULL (with an error when it is there but wrong, or required).
 */
static const char *
conf_duty_local_time(struct cfg_doc *doc, const struct cfg_node *map,
    const char *key, int required)
{
	const char *s;
	char day[16];
	int y, mo, d, h, mi, n = 0;

	if (cfg_str(doc, map, key, required, &s) != 0)
		return NULL;
	if (sscanf(s, "%4d-%2d-%2d%*1[ T]%2d:%2d%n", &y, &mo, &d, &h, &mi,
		&n) != 5 ||
	    s[n] != '\0' || h > 23 || mi > 59) {
		cfg_error(doc, cfg_get(map, key),
		    "%s is a local time, as '2026-11-02 08:30', not '%s'", key,
		    s);
		return NULL;
	}
	snprintf(day, sizeof(day), "%.10s", s);
	if (!conf_duty_date_valid(day)) {
		cfg_error(doc, cfg_get(map, key), "'%s' is not a date", day);
		return NULL;
	}
	return s;
}

/* A list of dates under key, checked, into a JSON array. */
static json_t *
conf_duty_dates(struct cfg_doc *doc, const struct cfg_node *map,
    const char *key)
{
	const struct cfg_node *seq = cfg_seq(doc, map, key, 0);
	json_t *arr = json_array();
	const char *s;

	for (size_t i = 0; seq != NULL && i < seq->n; i++) {
		if (cfg_node_str(doc, seq->items[i], "a date", &s) == -1)
			continue;
		if (!conf_duty_date_valid(s))
			cfg_error(doc, seq->items[i],
			    "'%s' is not a date (YYYY-MM-DD)", s);
		else
			json_array_append_new(arr, json_string(s));
	}
	return arr;
}

static json_t *
conf_duty_calendar(struct cfg_doc *doc, const struct cfg_node *node,
    const char *default_tz)
{
	static const char *const keys[] = { "name", "hours", "weekdays",
		"holidays", "new_year", "closed", "open", "timezone",
		"always_open", NULL };
	static const char *const days[] = { "mon", "tue", "wed", "thu", "fri",
		"sat", "sun", NULL };
	const struct cfg_node *seq;
	const char *name = NULL, *hours = "08:30-17:15", *tz = default_tz;
	int always = 0, holidays = 1, new_year = 1, opens, closes;
	json_t *wd = json_array();
	char open_s[16], close_s[24];

	cfg_check_keys(doc, node, "a calendar", keys);
	cfg_str(doc, node, "name", 1, &name);
	cfg_bool(doc, node, "always_open", 0, &always);
	cfg_bool(doc, node, "holidays", 0, &holidays);
	cfg_bool(doc, node, "new_year", 0, &new_year);
	if (cfg_str(doc, node, "timezone", 0, &tz) == 0)
		cfg_timezone(doc, cfg_get(node, "timezone"), tz);
	cfg_str(doc, node, "hours", 0, &hours);
	opens = conf_duty_hhmm(hours, strcspn(hours, "-"));
	closes = hours[strcspn(hours, "-")] == '-' ?
	    conf_duty_hhmm(hours + strcspn(hours, "-") + 1,
		strlen(hours + strcspn(hours, "-") + 1)) :
	    -1;
	if (opens < 0 || closes < 0 || opens >= closes) {
		cfg_error(doc, cfg_get(node, "hours"),
		    "hours are 'HH:MM-HH:MM' within one day, as 08:30-17:15, "
		    "not '%s'",
		    hours);
		opens = 0;
		closes = 1;
	}
	if ((seq = cfg_seq(doc, node, "weekdays", 0)) == NULL)
		for (int d = 1; d <= 5; d++)
			json_array_append_new(wd, json_integer(d));
	for (size_t i = 0; seq != NULL && i < seq->n; i++) {
		const char *s;
		int d;

		if (cfg_node_str(doc, seq->items[i], "a weekday", &s) == -1)
			continue;
		for (d = 0; days[d] != NULL; d++)
			if (strcmp(s, days[d]) == 0)
				break;
		if (days[d] == NULL)
			cfg_error(doc, seq->items[i],
			    "a weekday is mon, tue, wed, thu, fri, sat or "
			    "sun, not '%s'",
			    s);
		else
			json_array_append_new(wd, json_integer(d + 1));
	}
	snprintf(open_s, sizeof(open_s), "%02d:%02d", opens / 60, opens % 60);
	if (closes == 24 * 60)
		snprintf(close_s, sizeof(close_s), "23:59:59.999999");
	else
		snprintf(close_s, sizeof(close_s), "%02d:%02d", closes / 60,
		    closes % 60);
	return json_pack("{s:s?, s:s, s:b, s:o, s:s, s:s, s:b, s:b, s:o, s:o}",
	    "name", name, "tz", tz, "always_open", always, "weekdays", wd,
	    "opens", open_s, "closes", close_s, "holidays", holidays,
	    "new_year", new_year, "closed",
	    conf_duty_dates(doc, node, "closed"), "open",
	    conf_duty_dates(doc, node, "open"));
}

/* The index of a contact by name, or -1 (with an error at node). */
static int
conf_duty_contact(struct cfg_doc *doc, const struct cfg_node *node,
    const struct inc_conf *conf, const char **namep)
{
	if (cfg_node_str(doc, node, "a contact", namep) == -1)
		return -1;
	for (size_t c = 0; c < conf->ncontacts; c++)
		if (strcmp(conf->contacts[c]->name, *namep) == 0)
			return (int)c;
	cfg_error(doc, node, "no contact named '%s'", *namep);
	return -1;
}

/* One swap: {from, to, contact}, the contact a member of the team. */
static void
conf_duty_swap(struct cfg_doc *doc, const struct cfg_node *node,
    const struct inc_conf *conf, const char *team, json_t *out)
{
	static const char *const keys[] = { "from", "to", "contact", NULL };
	const char *from, *to, *who = NULL;
	int c;

	if (cfg_expect_map(doc, node, "a swap") == -1)
		return;
	cfg_check_keys(doc, node, "a swap", keys);
	from = conf_duty_local_time(doc, node, "from", 1);
	to = conf_duty_local_time(doc, node, "to", 1);
	if (cfg_get(node, "contact") == NULL) {
		cfg_error(doc, node, "a swap needs a contact");
		return;
	}
	c = conf_duty_contact(doc, cfg_get(node, "contact"), conf, &who);
	if (c >= 0 &&
	    (team == NULL || conf->contacts[c]->team == NULL ||
		strcmp(conf->contacts[c]->team, team) != 0)) {
		cfg_error(doc, cfg_get(node, "contact"),
		    "'%s' takes a turn but is not a member of the team", who);
		return;
	}
	/* both are "YYYY-MM-DD?HH:MM": the date, then the time */
	if (from != NULL && to != NULL &&
	    (strncmp(from, to, 10) > 0 ||
		(strncmp(from, to, 10) == 0 &&
		    strcmp(from + 11, to + 11) >= 0))) {
		cfg_error(doc, cfg_get(node, "to"),
		    "a swap ends after it starts");
		return;
	}
	if (c >= 0 && from != NULL && to != NULL)
		json_array_append_new(out,
		    json_pack("{s:s, s:s, s:s}", "from", from, "to", to,
			"contact", who));
}

static json_t *
conf_duty_team(struct cfg_doc *doc, const struct cfg_node *node,
    struct inc_conf *conf, json_t *calendars)
{
	static const char *const keys[] = { "name", "calendar", "members",
		"duty", "after_hours", NULL };
	static const char *const dkeys[] = { "rotation", "start", "every",
		"swaps", NULL };
	const struct cfg_node *members, *duty, *rot, *swaps;
	json_t *swaplist = json_array();
	const char *name = NULL, *cal = NULL, *start = NULL, *s;
	json_t *team, *list = json_array(), *after = json_array();
	uint64_t every = 7 * MS_DAY;
	char *prios, buf[64];
	size_t i;

	cfg_check_keys(doc, node, "a team", keys);
	cfg_str(doc, node, "name", 1, &name);
	if (cfg_str(doc, node, "calendar", 1, &cal) == 0) {
		for (i = 0; i < json_array_size(calendars); i++) {
			const char *n = json_string_value(
			    json_object_get(json_array_get(calendars, i),
				"name"));

			if (n != NULL && strcmp(n, cal) == 0)
				break;
		}
		if (i == json_array_size(calendars)) {
			cfg_error(doc, cfg_get(node, "calendar"),
			    "no calendar named '%s'", cal);
			cal = NULL;
		}
	}
	members = cfg_seq(doc, node, "members", 1);
	for (i = 0; members != NULL && i < members->n; i++) {
		int c = conf_duty_contact(doc, members->items[i], conf, &s);

		if (c < 0 || name == NULL)
			continue;
		if (conf->contacts[c]->team != NULL)
			cfg_error(doc, members->items[i],
			    "contact '%s' is already in team '%s'", s,
			    conf->contacts[c]->team);
		else
			conf->contacts[c]->team = xstrdup(name);
	}
	if ((duty = cfg_map(doc, node, "duty", 0)) != NULL) {
		cfg_check_keys(doc, duty, "duty", dkeys);
		rot = cfg_seq(doc, duty, "rotation", 1);
		for (i = 0; rot != NULL && i < rot->n; i++) {
			int c = conf_duty_contact(doc, rot->items[i], conf, &s);

			if (c < 0)
				continue;
			if (conf->contacts[c]->team == NULL || name == NULL ||
			    strcmp(conf->contacts[c]->team, name) != 0)
				cfg_error(doc, rot->items[i],
				    "'%s' is on the rotation but not a member "
				    "of the team",
				    s);
			json_array_append_new(list, json_string(s));
		}
		start = conf_duty_local_time(doc, duty, "start", 1);
		swaps = cfg_seq(doc, duty, "swaps", 0);
		for (i = 0; swaps != NULL && i < swaps->n; i++)
			conf_duty_swap(doc, swaps->items[i], conf, name,
			    swaplist);
		cfg_duration(doc, duty, "every", 0, 60000, 365 * MS_DAY,
		    &every);
	}
	prios = conf_priority_list(doc, cfg_seq(doc, node, "after_hours", 0));
	if (prios == NULL)
		json_array_append_new(after, json_integer(1));
	for (char *p = prios; p != NULL && *p;
	     p += strcspn(p, ","), p += *p == ',')
		json_array_append_new(after, json_integer(atoi(p)));
	free(prios);
	snprintf(buf, sizeof(buf), "%llu milliseconds",
	    (unsigned long long)every);
	team = json_pack("{s:s?, s:s?, s:o, s:s?, s:s, s:o, s:o}", "name", name,
	    "calendar", cal, "duty", list, "duty_start", start, "duty_every",
	    buf, "after_hours", after, "swaps", swaplist);
	return team;
}

/*
 * Loads calendars and teams into j ("calendars", "teams"), marking each
 * member contact with its team.  Needs the contacts loaded.
 */
void
conf_duty_load(struct cfg_doc *doc, const struct cfg_node *root,
    struct inc_conf *conf, json_t *j)
{
	const struct cfg_node *cals = cfg_seq(doc, root, "calendars", 0);
	const struct cfg_node *teams = cfg_seq(doc, root, "teams", 0);
	json_t *carr = json_array(), *tarr = json_array();
	size_t i;

	for (i = 0; cals != NULL && i < cals->n; i++) {
		const struct cfg_node *name;

		if (cfg_expect_map(doc, cals->items[i], "a calendar") == -1)
			continue;
		name = cfg_get(cals->items[i], "name");
		for (size_t k = 0; name != NULL && k < i; k++) {
			const struct cfg_node *o =
			    cfg_get(cals->items[k], "name");

			if (o != NULL && o->type == CFG_SCALAR &&
			    name->type == CFG_SCALAR &&
			    strcmp(o->value, name->value) == 0)
				cfg_error(doc, name,
				    "calendar '%s' is defined twice",
				    name->value);
		}
		json_array_append_new(carr,
		    conf_duty_calendar(doc, cals->items[i], conf->timezone));
	}
	for (i = 0; teams != NULL && i < teams->n; i++) {
		const struct cfg_node *name;

		if (cfg_expect_map(doc, teams->items[i], "a team") == -1)
			continue;
		name = cfg_get(teams->items[i], "name");
		for (size_t k = 0; name != NULL && k < i; k++) {
			const struct cfg_node *o =
			    cfg_get(teams->items[k], "name");

			if (o != NULL && o->type == CFG_SCALAR &&
			    name->type == CFG_SCALAR &&
			    strcmp(o->value, name->value) == 0)
				cfg_error(doc, name,
				    "team '%s' is defined twice", name->value);
		}
		json_array_append_new(tarr,
		    conf_duty_team(doc, teams->items[i], conf, carr));
	}
	conf->nteams = json_array_size(tarr);
	json_object_set_new(j, "calendars", carr);
	json_object_set_new(j, "teams", tarr);
}
