/*
 * The notification sender.  Rows of the notification outbox are claimed in
 * PostgreSQL (notification_claim: FOR UPDATE SKIP LOCKED, under a lease),
 * written as mail from the facts frozen in each row, sent through
 * notify_smtp, and marked with notification_done, which schedules a retry
 * with backoff when the relay refused or was down.  A row is only ever
 * marked sent after the relay accepted it, so an outage loses nothing.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "db.h"
#include "incidentd.h"
#include "xmalloc.h"

/* Mails in flight at once. */
#define NOTIFY_MAX_SENDING 16

/* One claimed row on its way through the relay. */
struct notify_job {
	TAILQ_ENTRY(notify_job) link; /* while the relay has it */
	struct incidentd *idd;
	char *id;
	char *what; /* "INC-000001 opened to a@example.jp" for logs */
	const char *channel; /* "email", "sms" or "webhook" */
};

static void
notify_job_free(struct notify_job *job)
{
	if (job == NULL)
		return;
	free(job->id);
	free(job->what);
	free(job);
}

/*
 * Parses a timestamp as PostgreSQL writes it in JSON
 * ("2026-11-27T16:30:43.429723+00:00", or with a space, or "Z").
 */
int
notify_parse_time(const char *s, time_t *out)
{
	struct tm tm;
	int off = 0, n = 0;
	long t;
	const char *p;

	memset(&tm, 0, sizeof(tm));
	if (sscanf(s, "%4d-%2d-%2d%*1[T ]%2d:%2d:%2d%n", &tm.tm_year,
		&tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec,
		&n) != 6 ||
	    n == 0)
		return -1;
	p = s + n;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	if (*p == '+' || *p == '-') {
		int hh = 0, mm = 0, sign = *p == '-' ? -1 : 1;

		if (sscanf(p + 1, "%2d:%2d", &hh, &mm) < 1)
			return -1;
		off = sign * (hh * 3600 + mm * 60);
	} else if (*p != 'Z' && *p != '\0')
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	t = (long)timegm(&tm);
	if (t == -1)
		return -1;
	*out = (time_t)(t - off);
	return 0;
}

/* Formats a timestamp from the facts in the configured time zone. */
static void
notify_fmt_time(const char *iso, char *buf, size_t len)
{
	struct tm tm;
	time_t t;

	if (iso == NULL || notify_parse_time(iso, &t) == -1 ||
	    localtime_r(&t, &tm) == NULL) {
		snprintf(buf, len, "%s", iso ? iso : "-");
		return;
	}
	strftime(buf, len, "%Y-%m-%d %H:%M:%S %Z", &tm);
}

/* Formats the time between two timestamps of the facts. */
static void
notify_fmt_duration(const char *from, const char *to, enum mail_lang lang,
    char *buf, size_t len)
{
	time_t a, b;
	long d, h, m, s;

	if (from == NULL || to == NULL || notify_parse_time(from, &a) == -1 ||
	    notify_parse_time(to, &b) == -1 || b < a) {
		snprintf(buf, len, "-");
		return;
	}
	d = (long)(b - a);
	h = d / 3600;
	m = d / 60 % 60;
	s = d % 60;
	if (lang == MAIL_LANG_JA) {
		if (h > 0)
			snprintf(buf, len, "%ld時間%ld分%ld秒", h, m, s);
		else if (m > 0)
			snprintf(buf, len, "%ld分%ld秒", m, s);
		else
			snprintf(buf, len, "%ld秒", s);
	} else {
		if (h > 0)
			snprintf(buf, len, "%ld h %ld min %ld s", h, m, s);
		else if (m > 0)
			snprintf(buf, len, "%ld min %ld s", m, s);
		else
			snprintf(buf, len, "%ld s", s);
	}
}

static const char *
notify_segment_name(const char *segment, enum mail_lang lang)
{
	static const struct {
		const char *key, *ja, *en;
	} names[] = {
		{ "core", "基幹系", "core network" },
		{ "information", "情報系", "information network" },
		{ "finance", "財務系", "finance network" },
		{ "other", "その他", "other network" },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (segment != NULL && strcmp(segment, names[i].key) == 0)
			return lang == MAIL_LANG_JA ? names[i].ja : names[i].en;
	return segment ? segment : "-";
}

static const char *
notify_fact(json_t *facts, const char *key)
{
	const char *s = json_string_value(json_object_get(facts, key));

	return s != NULL ? s : "-";
}

/*
 * Turns an "opened" message into a reminder, or an escalation, that nobody
 * has acknowledged the incident yet.  Takes body and *subjectp and returns
 * their replacements.
 */
static char *
notify_as_reminder(char *body, char **subjectp, json_t *facts,
    enum mail_lang lang, int escalated)
{
	const char *ja = "【障害発生】", *en = "[FAULT] ";
	const char *ref = notify_fact(facts, "ref");
	const char *rest = *subjectp;
	json_int_t prio =
	    json_integer_value(json_object_get(facts, "priority"));
	char *subject, *out;

	if (strncmp(rest, ja, strlen(ja)) == 0)
		rest += strlen(ja);
	else if (strncmp(rest, en, strlen(en)) == 0)
		rest += strlen(en);
	if (lang == MAIL_LANG_JA) {
		subject = xasprintf("%s%s",
		    escalated ? "【エスカレーション】" : "【未応答】", rest);
		out = xasprintf(
		    "%sこの障害（P%lld）はまだ誰も受け付けていません。"
		    "受け付けるには: incidentctl ack %s\n\n%s",
		    escalated ? "受付がないため、上位の連絡先に通知します。\n" :
				"",
		    (long long)prio, ref, body);
	} else {
		subject = xasprintf("%s%s",
		    escalated ? "[ESCALATED] " : "[REMINDER] ", rest);
		out =
		    xasprintf("%sNobody has acknowledged this P%lld fault yet. "
			      "To acknowledge: incidentctl ack %s\n\n%s",
			escalated ? "Escalated: nobody took it in time.\n" : "",
			(long long)prio, ref, body);
	}
	free(*subjectp);
	*subjectp = subject;
	free(body);
	return out;
}

/*
 * Lists, above the signature, the checks attached to the incident when the
 * message left: a storm behind one fault is one message that names them.
 * Takes body and returns its replacement.
 */
static char *
notify_add_children(char *body, json_t *facts, enum mail_lang lang)
{
	json_t *list = json_object_get(facts, "children_list");
	json_int_t total =
	    json_integer_value(json_object_get(facts, "children_now"));
	size_t shown = json_array_size(list), i, len;
	char *sig, *out, *names;

	if (total <= 0 || shown == 0 || (sig = strstr(body, "\n-- \n")) == NULL)
		return body;
	names = xstrdup("");
	for (i = 0; i < shown; i++) {
		const char *n = json_string_value(json_array_get(list, i));
		char *next = xasprintf("%s  %s\n", names, n != NULL ? n : "-");

		free(names);
		names = next;
	}
	len = (size_t)(sig - body);
	if (lang == MAIL_LANG_JA)
		out =
		    xasprintf("%.*s\nこの障害の配下で到達不能または抑止中の監視"
			      "項目: %lld件\n%s%s%s",
			(int)len, body, (long long)total, names,
			(json_int_t)shown < total ? "  ...\n" : "", sig);
	else
		out = xasprintf("%.*s\nChecks unreachable or suppressed behind "
				"this fault: %lld\n%s%s%s",
		    (int)len, body, (long long)total, names,
		    (json_int_t)shown < total ? "  ...\n" : "", sig);
	free(names);
	free(body);
	return out;
}

/*
 * Writes the subject (*subjectp) and body of a notification from its facts
 * (the JSON frozen in the outbox row), its language and kind ("opened" or
 * "recovered").  Returns the body, or NULL if the facts are unreadable.
 */
char *
notify_render(const char *facts_json, enum mail_lang lang, const char *kind,
    const char *console_url, char **subjectp)
{
	json_error_t jerr;
	json_t *facts;
	const char *ref, *host, *check, *state, *old, *output, *segment;
	const char *maint;
	char detected[64], recovered[64], duration[64], more[512];
	int is_recovery = strcmp(kind, "recovered") == 0;
	char *body;

	if ((facts = json_loads(facts_json, 0, &jerr)) == NULL ||
	    !json_is_object(facts)) {
		log_warnx("notification facts are not a JSON object: %s",
		    jerr.text);
		json_decref(facts);
		return NULL;
	}
	ref = notify_fact(facts, "ref");
	host = notify_fact(facts, "host");
	check = notify_fact(facts, "check");
	state = notify_fact(facts, "state");
	old = notify_fact(facts, "old_state");
	output = notify_fact(facts, "output");
	segment = notify_segment_name(json_string_value(
					  json_object_get(facts, "segment")),
	    lang);
	notify_fmt_time(json_string_value(
			    json_object_get(facts, "detected_at")),
	    detected, sizeof(detected));
	notify_fmt_time(json_string_value(
			    json_object_get(facts, "recovered_at")),
	    recovered, sizeof(recovered));
	notify_fmt_duration(json_string_value(
				json_object_get(facts, "detected_at")),
	    json_string_value(json_object_get(facts, "recovered_at")), lang,
	    duration, sizeof(duration));

	if (lang == MAIL_LANG_JA) {
		if (console_url != NULL)
			snprintf(more, sizeof(more),
			    "対応状況: %s/incidents/%s\n"
			    "または: incidentctl show %s\n",
			    console_url, ref, ref);
		else
			snprintf(more, sizeof(more),
			    "対応状況: incidentctl show %s\n", ref);
		if (is_recovery) {
			*subjectp = xasprintf("【復旧】%s %s %s %s（%s）", ref,
			    state, host, check, segment);
			body = xasprintf(
			    "障害が復旧しました。\n\n"
			    "インシデント番号: %s\n"
			    "状態: %s（直前: %s）\n"
			    "ホスト: %s\n"
			    "監視項目: %s\n"
			    "ネットワーク: %s\n"
			    "検知時刻: %s\n"
			    "復旧時刻: %s\n"
			    "障害継続時間: %s\n"
			    "詳細: %s\n\n"
			    "障害記録の作成をお願いします。\n%s\n"
			    "-- \n監視システム (monitord/incidentd)\n",
			    ref, state, old, host, check, segment, detected,
			    recovered, duration, output, more);
		} else {
			*subjectp = xasprintf("【障害発生】%s %s %s %s（%s）",
			    ref, state, host, check, segment);
			body = xasprintf(
			    "障害を検知しました。一次切り分けを開始して"
			    "ください。\n\n"
			    "インシデント番号: %s\n"
			    "状態: %s（直前: %s）\n"
			    "ホスト: %s\n"
			    "監視項目: %s\n"
			    "ネットワーク: %s\n"
			    "検知時刻: %s\n"
			    "詳細: %s\n\n%s\n"
			    "-- \n監視システム (monitord/incidentd)\n",
			    ref, state, old, host, check, segment, detected,
			    output, more);
		}
	} else {
		if (console_url != NULL)
			snprintf(more, sizeof(more),
			    "Status: %s/incidents/%s\n"
			    "or: incidentctl show %s\n",
			    console_url, ref, ref);
		else
			snprintf(more, sizeof(more),
			    "Status: incidentctl show %s\n", ref);
		if (is_recovery) {
			*subjectp = xasprintf("[RECOVERED] %s %s %s %s (%s)",
			    ref, state, host, check, segment);
			body = xasprintf("The fault has recovered.\n\n"
					 "Incident: %s\n"
					 "State: %s (was %s)\n"
					 "Host: %s\n"
					 "Check: %s\n"
					 "Network: %s\n"
					 "Detected: %s\n"
					 "Recovered: %s\n"
					 "Duration: %s\n"
					 "Details: %s\n\n"
					 "Please write the fault record.\n%s\n"
					 "-- \nmonitord/incidentd\n",
			    ref, state, old, host, check, segment, detected,
			    recovered, duration, output, more);
		} else {
			*subjectp = xasprintf("[FAULT] %s %s %s %s (%s)", ref,
			    state, host, check, segment);
			body = xasprintf("A fault was detected. Please start "
					 "first isolation.\n\n"
					 "Incident: %s\n"
					 "State: %s (was %s)\n"
					 "Host: %s\n"
					 "Check: %s\n"
					 "Network: %s\n"
					 "Detected: %s\n"
					 "Details: %s\n\n%s\n"
					 "-- \nmonitord/incidentd\n",
			    ref, state, old, host, check, segment, detected,
			    output, more);
		}
	}
	if (!is_recovery)
		body = notify_add_children(body, facts, lang);
	if (strcmp(kind, "reminder") == 0 || strcmp(kind, "escalated") == 0)
		body = notify_as_reminder(body, subjectp, facts, lang,
		    kind[0] == 'e');
	maint = json_string_value(json_object_get(facts, "after_maintenance"));
	if (maint != NULL && !is_recovery) {
		char *full = xasprintf(lang == MAIL_LANG_JA ?
			"メンテナンス「%s」の終了後も障害が続いています。\n%s" :
			"The fault is still there after maintenance '%s' "
			"ended.\n%s",
		    maint, body);

		free(body);
		body = full;
	}
	json_decref(facts);
	return body;
}

static void
notify_done_cb(struct db *db, const PGresult *res, void *arg)
{
	struct notify_job *job = arg;
	struct incidentd *idd = job->idd;

	(void)db;
	if (res != NULL && !db_result_ok(res))
		log_warnx("notification %s: cannot record the outcome: %s",
		    job->what, PQresultErrorMessage(res));
	else if (res != NULL && strcmp(PQgetvalue(res, 0, 0), "failed") == 0)
		log_errorx("notification %s: giving up after %u attempts",
		    job->what, idd->conf->max_attempts);
	notify_job_free(job);
	/* A slot is free again: there may be more waiting. */
	if (res != NULL)
		notify_run(idd);
}

/*
 * Records the outcome of one attempt in the outbox, with what the far end
 * called the message (ref, may be NULL) when it took it.
 */
static void
notify_record_ref(struct notify_job *job, int ok, const char *error,
    const char *ref)
{
	struct incidentd *idd = job->idd;
	char min[32], max[32], attempts[16];
	const char *params[7];

	snprintf(min, sizeof(min), "%llu milliseconds",
	    (unsigned long long)idd->conf->retry_min_ms);
	snprintf(max, sizeof(max), "%llu milliseconds",
	    (unsigned long long)idd->conf->retry_max_ms);
	snprintf(attempts, sizeof(attempts), "%u", idd->conf->max_attempts);
	params[0] = job->id;
	params[1] = ok ? "true" : "false";
	params[2] = ok ? NULL : error;
	params[3] = min;
	params[4] = max;
	params[5] = attempts;
	params[6] = ok ? ref : NULL;
	db_query(idd->db,
	    "SELECT notification_result($1, $2, $3, $7, $4::interval, "
	    "$5::interval, $6)",
	    7, params, DB_RETRY, notify_done_cb, job);
}

static void
notify_record(struct notify_job *job, int ok, const char *error)
{
	notify_record_ref(job, ok, error, NULL);
}

/* A job handed to an asynchronous sender until its callback comes. */
static void
notify_job_start(struct notify_job *job)
{
	job->idd->sending++;
	TAILQ_INSERT_TAIL(&job->idd->jobs, job, link);
}

static void
notify_job_end(struct notify_job *job)
{
	job->idd->sending--;
	TAILQ_REMOVE(&job->idd->jobs, job, link);
}

static void
notify_sent_cb(enum smtp_outcome outcome, const char *error, void *arg)
{
	struct notify_job *job = arg;
	struct incidentd *idd = job->idd;

	notify_job_end(job);
	if (outcome == SMTP_SENT) {
		idd->mails_sent++;
		log_info("notification %s: sent: %s", job->what,
		    error ? error : "");
		/* the relay's reply, which often names its queue id */
		notify_record_ref(job, 1, NULL, error);
	} else {
		idd->mails_failed++;
		log_warnx("notification %s: %s: %s (will retry)", job->what,
		    notify_smtp_outcome_str(outcome), error ? error : "");
		notify_record(job, 0,
		    error ? error : notify_smtp_outcome_str(outcome));
	}
}

/* Whether a kind of message asks to be acknowledged. */
static int
notify_wants_ack(const char *kind)
{
	return strcmp(kind, "opened") == 0 || strcmp(kind, "reminder") == 0 ||
	    strcmp(kind, "escalated") == 0;
}

/*
 * Adds the one-time acknowledgement link above the signature.  Takes body
 * and returns its replacement.
 */
static char *
notify_add_ack_link(char *body, enum mail_lang lang, const char *url,
    uint64_t valid_ms)
{
	char *sig = strstr(body, "\n-- \n"), *out;
	unsigned long long h = (unsigned long long)(valid_ms / 3600000);

	if (sig == NULL)
		return body;
	out = xasprintf(lang == MAIL_LANG_JA ?
		"%.*s\n受け付ける（一度だけ使えるリンク、%llu時間有効）:\n%s\n%s" :
		"%.*s\nAcknowledge (a one-time link, valid for %llu h):\n%s\n%s",
	    (int)(sig - body), body, h, url, sig);
	free(body);
	return out;
}

/* The gateway or the webhook answered, or did not. */
static void
notify_http_done(long status, const char *reply, size_t len, const char *error,
    void *arg)
{
	struct notify_job *job = arg;
	struct incidentd *idd = job->idd;
	int is_sms = strcmp(job->channel, "sms") == 0;
	char id[128], err[512];
	int ok;

	(void)len;
	notify_job_end(job);
	id[0] = '\0';
	if (error != NULL) {
		snprintf(err, sizeof(err), "%s", error);
		ok = 0;
	} else if (is_sms)
		ok = notify_sms_gateway_accepts(idd->conf->sms.gateway, status,
		    reply, id, sizeof(id), err, sizeof(err));
	else if (!(ok = status >= 200 && status <= 299))
		snprintf(err, sizeof(err), "the webhook answered %ld", status);
	if (is_sms)
		*(ok ? &idd->sms_sent : &idd->sms_failed) += 1;
	else
		*(ok ? &idd->webhooks_sent : &idd->webhooks_failed) += 1;
	if (ok) {
		log_info("notification %s: sent%s%s", job->what,
		    id[0] ? ", message id " : "", id);
		notify_record_ref(job, 1, NULL, id[0] ? id : NULL);
	} else {
		log_warnx("notification %s: %s (will retry)", job->what, err);
		notify_record(job, 0, err);
	}
}

/* Hands a request to an HTTP sender; the outcome comes to notify_http_done. */
static void
notify_http_start(struct notify_job *job, struct notify_http *nh,
    const struct http_req *req)
{
	if (notify_http_send(nh, req, notify_http_done, job) == -1) {
		notify_record(job, 0, "the request could not be started");
		return;
	}
	notify_job_start(job);
}

/* Sends an SMS through the configured HTTP gateway. */
static void
notify_send_sms_http(struct notify_job *job, const char *facts,
    const char *text, const char *kind, const char *number)
{
	struct incidentd *idd = job->idd;
	json_t *j = json_loads(facts, 0, NULL);
	json_int_t prio = json_integer_value(json_object_get(j, "priority"));
	char prio_s[24], *url, *body;
	const char *vals[5];
	struct http_req req;

	prio_s[0] = '\0';
	if (prio > 0)
		snprintf(prio_s, sizeof(prio_s), "P%lld", (long long)prio);
	vals[0] = number;
	vals[1] = text;
	vals[2] = json_string_value(json_object_get(j, "ref"));
	vals[3] = prio_s;
	vals[4] = kind;
	notify_sms_gateway_request(idd->conf->sms.gateway, vals, &req, &url,
	    &body);
	/* not the URL: gateways take their password in it */
	log_debug("notification %s: %s to the gateway", job->what, req.method);
	notify_http_start(job, idd->sms_http, &req);
	free(url);
	free(body);
	json_decref(j);
}

/*
 * Posts a notification to a contact's webhook as JSON: "text" for chat
 * tools that show only that, and the facts for those that read more.
 */
static void
notify_send_webhook(struct notify_job *job, const char *facts,
    enum mail_lang lang, const char *kind, const char *contact)
{
	struct incidentd *idd = job->idd;
	const struct inc_contact *c = NULL;
	char *subject = NULL, *body, *text, *payload, *sig;
	json_t *j, *f;
	struct http_req req;

	for (size_t i = 0; i < idd->conf->ncontacts; i++)
		if (strcmp(idd->conf->contacts[i]->name, contact) == 0)
			c = idd->conf->contacts[i];
	if (c == NULL || c->webhook == NULL || idd->webhook == NULL) {
		notify_record(job, 0,
		    "the contact has no webhook in the configuration");
		return;
	}
	body =
	    notify_render(facts, lang, kind, idd->conf->console_url, &subject);
	if (body == NULL) {
		notify_record(job, 0, "the message could not be written");
		return;
	}
	if ((sig = strstr(body, "\n-- \n")) != NULL)
		sig[1] = '\0';
	text = xasprintf("%s\n%s", subject, body);
	f = json_loads(facts, 0, NULL);
	j = json_pack("{s:s, s:s, s:s, s:O?}", "text", text, "kind", kind,
	    "subject", subject, "incident", f);
	payload = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	json_decref(f);
	free(text);
	free(subject);
	free(body);
	if (payload == NULL) {
		notify_record(job, 0, "the message could not be written");
		return;
	}
	{
		const char *hdrs[32];
		size_t n = 0;

		hdrs[n++] = "Content-Type: application/json; charset=utf-8";
		for (size_t i = 0; i < idd->conf->webhook.nheaders && n < 32;
		     i++)
			hdrs[n++] = idd->conf->webhook.headers[i];
		memset(&req, 0, sizeof(req));
		req.method = "POST";
		req.url = c->webhook;
		req.headers = hdrs;
		req.nheaders = n;
		req.body = payload;
		req.body_len = strlen(payload);
		req.timeout_ms = idd->conf->webhook.timeout_ms;
		req.verify_tls = idd->conf->webhook.verify_tls;
		notify_http_start(job, idd->webhook, &req);
	}
	free(payload);
}

/* Sends an SMS through the gateway, or puts it into the spool. */
static void
notify_send_sms(struct notify_job *job, const char *facts, enum mail_lang lang,
    const char *kind, const char *number)
{
	struct incidentd *idd = job->idd;
	char err[512];
	char *text, *link;

	if (idd->conf->sms.spool == NULL && idd->sms_http == NULL) {
		notify_record(job, 0, "no sms section in the configuration");
		return;
	}
	if ((text = notify_sms_text(facts, lang, kind)) == NULL) {
		notify_record(job, 0, "the message could not be written");
		return;
	}
	if (idd->conf->ack.sms && notify_wants_ack(kind) &&
	    (link = http_ack_url(idd->conf, job->id)) != NULL) {
		char *with = notify_sms_append(text, link);

		if (with != NULL) {
			free(text);
			text = with;
		} else
			log_warnx("notification %s: the link is too long for "
				  "an SMS; sent without it",
			    job->what);
		free(link);
	}
	if (idd->sms_http != NULL) {
		notify_send_sms_http(job, facts, text, kind, number);
		free(text);
		return;
	}
	if (notify_sms_spool(&idd->conf->sms, job->id, number, text, err,
		sizeof(err)) == -1) {
		idd->sms_failed++;
		log_warnx("notification %s: %s (will retry)", job->what, err);
		notify_record(job, 0, err);
	} else {
		idd->sms_sent++;
		/* not the text: it may carry an acknowledgement link */
		log_info("notification %s: spooled (%zu bytes)", job->what,
		    strlen(text));
		notify_record(job, 1, NULL);
	}
	free(text);
}

/* Writes and sends one claimed row; the outcome comes back to sent_cb. */
static void
notify_send_row(struct incidentd *idd, const PGresult *res, int row)
{
	const char *id = PQgetvalue(res, row, 0);
	const char *kind = PQgetvalue(res, row, 1);
	const char *rcpt = PQgetvalue(res, row, 2);
	const char *name = PQgetvalue(res, row, 3);
	const char *lang_s = PQgetvalue(res, row, 4);
	const char *facts = PQgetvalue(res, row, 5);
	const char *ref = PQgetvalue(res, row, 6);
	const char *round = PQgetvalue(res, row, 7);
	const char *channel = PQgetvalue(res, row, 8);
	enum mail_lang lang =
	    strcmp(lang_s, "en") == 0 ? MAIL_LANG_EN : MAIL_LANG_JA;
	struct notify_job *job = xcalloc(1, sizeof(*job));
	char *subject = NULL, *body, *msg = NULL, *msgid, *parent = NULL;
	char *link;
	const char *to[1] = { rcpt };
	struct mail_msg m;
	size_t len = 0;

	(void)name;
	job->idd = idd;
	job->id = xstrdup(id);
	job->what = xasprintf("%s %s %s to %s", ref, kind, channel, rcpt);
	if (strcmp(channel, "sms") == 0) {
		job->channel = "sms";
		notify_send_sms(job, facts, lang, kind, rcpt);
		return;
	}
	if (strcmp(channel, "webhook") == 0) {
		job->channel = "webhook";
		notify_send_webhook(job, facts, lang, kind, rcpt);
		return;
	}
	job->channel = "email";
	if (strcmp(channel, "email") != 0 || idd->smtp == NULL) {
		notify_record(job, 0,
		    strcmp(channel, "email") == 0 ?
			"no smtp section in the configuration" :
			"unknown channel");
		return;
	}
	body =
	    notify_render(facts, lang, kind, idd->conf->console_url, &subject);
	if (body != NULL && notify_wants_ack(kind) &&
	    (link = http_ack_url(idd->conf, id)) != NULL) {
		body = notify_add_ack_link(body, lang, link,
		    idd->conf->ack.valid_ms);
		free(link);
	}
	/* A reopened incident's messages are a new round of the thread. */
	if (strcmp(round, "0") == 0) {
		msgid =
		    xasprintf("%s.%s@%s", ref, kind, idd->conf->mail_domain);
		if (strcmp(kind, "recovered") == 0)
			parent = xasprintf("%s.opened@%s", ref,
			    idd->conf->mail_domain);
	} else {
		msgid = xasprintf("%s.%s.%s@%s", ref, kind, round,
		    idd->conf->mail_domain);
		parent = xasprintf("%s.opened@%s", ref, idd->conf->mail_domain);
	}
	if (body != NULL) {
		memset(&m, 0, sizeof(m));
		m.from = idd->conf->smtp.from;
		m.from_name = idd->conf->smtp.from_name;
		m.to = to;
		m.nto = 1;
		m.subject = subject;
		m.body = body;
		m.message_id = msgid;
		m.in_reply_to = parent;
		m.date = time(NULL);
		msg = mail_build(&m, &len);
	}
	free(subject);
	free(body);
	free(msgid);
	free(parent);
	if (msg == NULL) {
		notify_record(job, 0, "the message could not be written");
		return;
	}
	if (notify_smtp_send(idd->smtp, to, 1, msg, len, notify_sent_cb, job) ==
	    -1) {
		free(msg);
		notify_record(job, 0, "the mail could not be queued");
		return;
	}
	free(msg);
	notify_job_start(job);
}

static void
notify_claim_cb(struct db *db, const PGresult *res, void *arg)
{
	struct incidentd *idd = arg;
	int n;

	(void)db;
	idd->notify_busy = 0;
	if (res == NULL)
		return;
	if (!db_result_ok(res)) {
		log_warnx("cannot claim notifications: %s",
		    PQresultErrorMessage(res));
		return;
	}
	n = PQntuples(res);
	for (int i = 0; i < n; i++)
		notify_send_row(idd, res, i);
	if (idd->notify_again)
		notify_run(idd);
}

void
notify_init(struct incidentd *idd)
{
	TAILQ_INIT(&idd->jobs);
}

/*
 * Forgets the mails still with the relay when the daemon stops (after
 * notify_smtp_free, which calls no callbacks).  Their rows stay 'sending'
 * until the lease runs out and are then sent again: a mail may arrive
 * twice, but none is lost.
 */
void
notify_shutdown(struct incidentd *idd)
{
	struct notify_job *job;

	while ((job = TAILQ_FIRST(&idd->jobs)) != NULL) {
		TAILQ_REMOVE(&idd->jobs, job, link);
		log_warnx("notification %s: interrupted by the stop; it will "
			  "be sent again when its lease ends",
		    job->what);
		notify_job_free(job);
	}
	idd->sending = 0;
}

/* The longest time one attempt on any channel can take. */
static uint64_t
notify_longest_timeout(const struct inc_conf *conf)
{
	uint64_t t = conf->smtp.timeout_ms;

	if (conf->sms.gateway != NULL && conf->sms.gateway->timeout_ms > t)
		t = conf->sms.gateway->timeout_ms;
	if (conf->webhook.timeout_ms > t)
		t = conf->webhook.timeout_ms;
	return t;
}

/*
 * Claims and sends due notifications, up to the number of free sending
 * slots.  Called on NOTIFY, on the poll timer and whenever a send ends;
 * calls made while a claim is running are merged into one more claim.
 */
void
notify_run(struct incidentd *idd)
{
	char limit[16], lease[32];
	const char *params[2];
	size_t free_slots;

	if (idd->stopping || !idd->active || !db_connected(idd->db) ||
	    (idd->smtp == NULL && idd->conf->sms.spool == NULL &&
		idd->sms_http == NULL && idd->webhook == NULL))
		return;
	if (idd->notify_busy) {
		idd->notify_again = 1;
		return;
	}
	if (idd->sending >= NOTIFY_MAX_SENDING)
		return;
	free_slots = NOTIFY_MAX_SENDING - idd->sending;
	idd->notify_busy = 1;
	idd->notify_again = 0;
	snprintf(limit, sizeof(limit), "%zu", free_slots);
	/* The lease outlives one attempt: the longest timeout and a margin. */
	snprintf(lease, sizeof(lease), "%llu milliseconds",
	    (unsigned long long)(2 * notify_longest_timeout(idd->conf) +
		60000));
	params[0] = limit;
	params[1] = lease;
	db_query(idd->db,
	    "SELECT n.id, n.kind, n.recipient, n.recipient_name, n.lang, "
	    /* an "opened" message lists the checks attached by now */
	    "CASE WHEN n.kind = 'opened' THEN n.facts || jsonb_build_object("
	    " 'children_now', (SELECT count(*) FROM incident_child c"
	    "  WHERE c.incident_id = n.incident_id AND c.recovered_at IS NULL),"
	    " 'children_list', coalesce((SELECT jsonb_agg(x.name) FROM"
	    "  (SELECT c.host || '/' || c.check_name AS name"
	    "   FROM incident_child c WHERE c.incident_id = n.incident_id"
	    "   AND c.recovered_at IS NULL ORDER BY 1 LIMIT 20) x), '[]'))"
	    " ELSE n.facts END::text, i.ref, n.round, n.channel "
	    "FROM notification_claim_limited($1, $2::interval) AS n "
	    "JOIN incident AS i ON i.id = n.incident_id ORDER BY n.id",
	    2, params, DB_RETRY, notify_claim_cb, idd);
}
