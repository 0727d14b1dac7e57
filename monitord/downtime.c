/*
 * Scheduled downtime: one-off windows and recurring ones (every day, every
 * week on a weekday, every month on a day or on the n-th weekday, counted
 * from the end too), in the department's time zone (Asia/Tokyo unless
 * set).  A downtime covers hosts, checks or whole segments.  During it
 * everything is still probed and recorded; the changes are flagged with
 * the downtime's name, and its windows are written to PostgreSQL
 * (downtime_window) so that the SLA reports can see planned work.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "monitord.h"
#include "timeutil.h"
#include "xmalloc.h"

/* Runs fn with TZ set to tz (the process is single-threaded). */
static time_t
downtime_mktime(struct tm *tm, const char *tz)
{
	char *old = getenv("TZ");
	char *saved = old != NULL ? xstrdup(old) : NULL;
	time_t t;

	setenv("TZ", tz, 1);
	tzset();
	tm->tm_isdst = -1;
	t = mktime(tm);
	if (saved != NULL) {
		setenv("TZ", saved, 1);
		free(saved);
	} else
		unsetenv("TZ");
	tzset();
	return t;
}

/* The local calendar date of t in tz. */
static void
downtime_localtime(time_t t, const char *tz, struct tm *tm)
{
	char *old = getenv("TZ");
	char *saved = old != NULL ? xstrdup(old) : NULL;

	setenv("TZ", tz, 1);
	tzset();
	localtime_r(&t, tm);
	if (saved != NULL) {
		setenv("TZ", saved, 1);
		free(saved);
	} else
		unsetenv("TZ");
	tzset();
}

/*
 * Reads "YYYY-MM-DD HH:MM" as a time in tz.  Returns 0, or -1 for text
 * that is not such a time.
 */
int
downtime_parse_local(const char *s, const char *tz, time_t *out)
{
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%d %H:%M", &tm);
	if (end == NULL || *end != '\0')
		return -1;
	*out = downtime_mktime(&tm, tz);
	return *out == (time_t)-1 ? -1 : 0;
}

static int
downtime_days_in_month(int year, int mon)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30,
		31 };

	if (mon == 1 && ((year % 4 == 0 && year % 100 != 0) || year % 400 == 0))
		return 29;
	return days[mon];
}

/*
 * The day of month the rule picks in a month (tm_year, tm_mon of tm), or
 * 0 when it picks none (the 31st in a short month).
 */
static int
downtime_month_day(const struct downtime *d, int year, int mon)
{
	int ndays = downtime_days_in_month(year + 1900, mon);
	struct tm first;
	int wday1, day;

	if (d->nth == 0) {
		day = d->mday > 0 ? d->mday : ndays + 1 + d->mday;
		return day >= 1 && day <= ndays ? day : 0;
	}
	/* the n-th (or n-th last) weekday */
	memset(&first, 0, sizeof(first));
	first.tm_year = year;
	first.tm_mon = mon;
	first.tm_mday = 1;
	first.tm_hour = 12;
	timegm(&first); /* fills tm_wday */
	wday1 = first.tm_wday;
	day = 1 + (d->wday - wday1 + 7) % 7;
	if (d->nth > 0)
		day += 7 * (d->nth - 1);
	else {
		while (day + 7 <= ndays)
			day += 7;
		day -= 7 * (-d->nth - 1);
	}
	return day >= 1 && day <= ndays ? day : 0;
}

/*
 * The window of the rule that contains t, or else the first to start
 * after t: [*start, *end).  Returns -1 when there is none (a one-off
 * window in the past).
 */
int
downtime_window(const struct downtime *d, time_t t, time_t *start, time_t *end)
{
	struct tm lt, cand;
	time_t s;

	if (d->every == DOWNTIME_ONCE) {
		if (d->once_end <= t)
			return -1;
		*start = d->once_start;
		*end = d->once_end;
		return 0;
	}
	/* Look back far enough for a window that started before t and
	 * still runs, then forward to the next one. */
	downtime_localtime(t - (time_t)(d->duration_s + 86400 * 32),
	    d->timezone, &lt);
	for (int i = 0; i < 800; i++) {
		memset(&cand, 0, sizeof(cand));
		cand.tm_year = lt.tm_year;
		cand.tm_mon = lt.tm_mon;
		cand.tm_hour = d->at_min / 60;
		cand.tm_min = d->at_min % 60;
		switch (d->every) {
		case DOWNTIME_DAY:
			cand.tm_mday = lt.tm_mday + i;
			break;
		case DOWNTIME_WEEK:
			cand.tm_mday = lt.tm_mday + i;
			/* normalise to learn the weekday */
			s = downtime_mktime(&cand, d->timezone);
			if (cand.tm_wday != d->wday)
				continue;
			break;
		case DOWNTIME_MONTH: {
			int y = lt.tm_year + (lt.tm_mon + i) / 12;
			int m = (lt.tm_mon + i) % 12;
			int day = downtime_month_day(d, y, m);

			if (day == 0)
				continue;
			cand.tm_year = y;
			cand.tm_mon = m;
			cand.tm_mday = day;
			break;
		}
		case DOWNTIME_ONCE:
			break;
		}
		s = downtime_mktime(&cand, d->timezone);
		if (s == (time_t)-1)
			continue;
		if (s + (time_t)d->duration_s > t) {
			*start = s;
			*end = s + (time_t)d->duration_s;
			return 0;
		}
	}
	return -1;
}

/* Whether d covers the check c (its host, its name, or its segment). */
int
downtime_covers(const struct downtime *d, const struct mon_check *c)
{
	for (size_t i = 0; i < d->nhosts; i++)
		if (strcmp(d->hosts[i], c->host->name) == 0)
			return 1;
	for (size_t i = 0; i < d->nchecks; i++) {
		const char *slash = strchr(d->checks[i], '/');

		if (slash != NULL &&
		    strncmp(d->checks[i], c->host->name,
			(size_t)(slash - d->checks[i])) == 0 &&
		    c->host->name[slash - d->checks[i]] == '\0' &&
		    strcmp(slash + 1, c->name) == 0)
			return 1;
	}
	for (size_t i = 0; i < d->nsegments; i++)
		if (d->segments[i] == (int)c->host->segment)
			return 1;
	return 0;
}

/* The downtime c is in now, or NULL. */
const struct downtime *
downtime_of(struct mon_conf *conf, const struct mon_check *c, time_t now)
{
	for (size_t i = 0; i < conf->ndowntimes; i++) {
		struct downtime *d = conf->downtimes[i];

		if (!downtime_covers(d, c))
			continue;
		/* the window is kept until it ends */
		if (d->cur_end <= now &&
		    downtime_window(d, now, &d->cur_start, &d->cur_end) == -1) {
			d->cur_start = d->cur_end = 0;
			continue;
		}
		if (d->cur_start <= now && now < d->cur_end)
			return d;
	}
	return NULL;
}

void
downtime_free(struct downtime *d)
{
	if (d == NULL)
		return;
	free(d->name);
	free(d->comment);
	free(d->timezone);
	free(d->targets_text);
	for (size_t i = 0; i < d->nhosts; i++)
		free(d->hosts[i]);
	free(d->hosts);
	for (size_t i = 0; i < d->nchecks; i++)
		free(d->checks[i]);
	free(d->checks);
	free(d->segments);
	free(d);
}

static void
downtime_publish_cb(struct db *db, const PGresult *res, void *arg)
{
	(void)db;
	(void)arg;
	if (res != NULL && !db_result_ok(res))
		log_warnx("downtime windows not written: %s",
		    PQresultErrorMessage(res));
}

/*
 * Writes the windows of the coming horizon_days to downtime_window (one
 * statement; the database replaces what this instance planned before for
 * the future, and keeps the past).
 */
void
downtime_publish(struct monitord *md, unsigned horizon_days)
{
	struct evbuffer *buf = evbuffer_new();
	time_t now = time(NULL), s, e, from;
	const char *params[2];
	char *json;
	size_t len;
	int first = 1;

	if (buf == NULL)
		fatalx("downtime: evbuffer_new failed");
	evbuffer_add(buf, "[", 1);
	for (size_t i = 0; i < md->conf->ndowntimes; i++) {
		struct downtime *d = md->conf->downtimes[i];

		from = now;
		for (int k = 0; k < 400; k++) {
			char a[40], b[40];

			if (downtime_window(d, from, &s, &e) == -1 ||
			    s > now + (time_t)horizon_days * 86400)
				break;
			timeutil_format_iso((uint64_t)s * 1000000, a,
			    sizeof(a));
			timeutil_format_iso((uint64_t)e * 1000000, b,
			    sizeof(b));
			evbuffer_add_printf(buf,
			    "%s{\"name\":", first ? "" : ",");
			json_out_string(buf, d->name);
			evbuffer_add(buf, ",\"comment\":", 11);
			json_out_string(buf, d->comment ? d->comment : "");
			evbuffer_add(buf, ",\"targets\":", 11);
			json_out_string(buf, d->targets_text);
			evbuffer_add_printf(buf,
			    ",\"starts\":\"%s\",\"ends\":\"%s\"}", a, b);
			first = 0;
			if (d->every == DOWNTIME_ONCE)
				break;
			from = e;
		}
	}
	evbuffer_add(buf, "]", 2); /* with the NUL */
	len = evbuffer_get_length(buf);
	json = xmalloc(len);
	evbuffer_remove(buf, json, len);
	evbuffer_free(buf);
	params[0] = md->conf->instance;
	params[1] = json;
	db_query(md->db, "SELECT monitord_publish_downtime($1, $2::jsonb)", 2,
	    params, DB_RETRY, downtime_publish_cb, NULL);
	free(json);
}
