/*
 * SMS: the short text of a notification and its delivery through an
 * smstools3 spool.  One Japanese SMS holds 70 UCS-2 characters, so the
 * text carries what the person on duty needs first (reference, priority,
 * state, host, check) and is cut to fit.  The spool file is written to a
 * temporary name beside the outgoing folder, synced, and renamed into it,
 * so that smsd never reads half a file; its name comes from the outbox
 * row, so a retry after a crash replaces a file smsd has not taken yet
 * instead of sending the message twice.  An HTTP gateway (Kannel's
 * sendsms, an LTE router's CGI) is described in the configuration instead:
 * the request is filled in from templates and the reply judged by status,
 * text and an optional message-id pattern.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "incidentd.h"
#include "xmalloc.h"

/* U+2026 HORIZONTAL ELLIPSIS, which marks a text that was cut. */
#define SMS_ELLIPSIS 0x2026

/*
 * Decodes one UTF-8 character at *p; returns it and advances *p, or
 * returns '?' for a malformed sequence (skipping one byte).
 */
static uint32_t
notify_sms_utf8_next(const unsigned char **p)
{
	const unsigned char *s = *p;
	uint32_t c;
	int n, i;

	if (s[0] < 0x80) {
		*p = s + 1;
		return s[0];
	}
	if ((s[0] & 0xe0) == 0xc0) {
		c = s[0] & 0x1f;
		n = 1;
	} else if ((s[0] & 0xf0) == 0xe0) {
		c = s[0] & 0x0f;
		n = 2;
	} else if ((s[0] & 0xf8) == 0xf0) {
		c = s[0] & 0x07;
		n = 3;
	} else {
		*p = s + 1;
		return '?';
	}
	for (i = 1; i <= n; i++) {
		if ((s[i] & 0xc0) != 0x80) {
			*p = s + 1;
			return '?';
		}
		c = (c << 6) | (s[i] & 0x3f);
	}
	*p = s + n + 1;
	/* overlong forms, surrogates and beyond Unicode */
	if ((n == 1 && c < 0x80) || (n == 2 && c < 0x800) ||
	    (n == 3 && c < 0x10000) || (c >= 0xd800 && c <= 0xdfff) ||
	    c > 0x10ffff)
		return '?';
	return c;
}

/*
 * Converts UTF-8 text to at most max UCS-2 characters, each a code unit
 * in out (which holds max).  Characters beyond the BMP, which UCS-2
 * cannot carry, and malformed bytes become '?'; control characters become
 * spaces.  A text longer than max ends in an ellipsis.  Returns the
 * number of units.
 */
size_t
notify_sms_ucs2(const char *utf8, uint16_t *out, size_t max)
{
	const unsigned char *p = (const unsigned char *)utf8;
	size_t n = 0;
	uint32_t c;

	if (max == 0)
		return 0;
	while (*p != '\0') {
		c = notify_sms_utf8_next(&p);
		if (c > 0xffff)
			c = '?';
		else if (c < 0x20 || c == 0x7f)
			c = ' ';
		if (n == max) {
			out[max - 1] = SMS_ELLIPSIS;
			return max;
		}
		out[n++] = (uint16_t)c;
	}
	return n;
}

/* UCS-2 units back to UTF-8, for logs and for the text that is kept. */
static char *
notify_sms_utf8(const uint16_t *u, size_t n)
{
	char *s = xmalloc(3 * n + 1), *q = s;

	for (size_t i = 0; i < n; i++) {
		if (u[i] < 0x80)
			*q++ = (char)u[i];
		else if (u[i] < 0x800) {
			*q++ = (char)(0xc0 | (u[i] >> 6));
			*q++ = (char)(0x80 | (u[i] & 0x3f));
		} else {
			*q++ = (char)(0xe0 | (u[i] >> 12));
			*q++ = (char)(0x80 | ((u[i] >> 6) & 0x3f));
			*q++ = (char)(0x80 | (u[i] & 0x3f));
		}
	}
	*q = '\0';
	return s;
}

static const char *
notify_sms_fact(json_t *facts, const char *key)
{
	const char *s = json_string_value(json_object_get(facts, key));

	return s != NULL ? s : "-";
}

/*
 * Writes the SMS of a notification from its facts, language and kind
 * ("opened" or "recovered"), already cut to SMS_MAX_CHARS UCS-2
 * characters.  Returns UTF-8 text, or NULL if the facts are unreadable.
 */
char *
notify_sms_text(const char *facts_json, enum mail_lang lang, const char *kind)
{
	json_t *facts, *prio;
	const char *ref, *state, *host, *check, *tag;
	char p[16] = "", *full, *text;
	uint16_t units[SMS_MAX_CHARS];
	int recovered = strcmp(kind, "recovered") == 0;
	json_int_t round = 0, kids;
	char more[32] = "";
	size_t n;

	if ((facts = json_loads(facts_json, 0, NULL)) == NULL ||
	    !json_is_object(facts)) {
		json_decref(facts);
		return NULL;
	}
	ref = notify_sms_fact(facts, "ref");
	state = notify_sms_fact(facts, "state");
	host = notify_sms_fact(facts, "host");
	check = notify_sms_fact(facts, "check");
	prio = json_object_get(facts, "priority");
	if (json_is_integer(prio))
		snprintf(p, sizeof(p), " P%lld",
		    (long long)json_integer_value(prio));
	if (json_is_integer(json_object_get(facts, "round")))
		round = json_integer_value(json_object_get(facts, "round"));
	if (strcmp(kind, "reminder") == 0)
		tag = lang == MAIL_LANG_JA ? "【未応答】" : "REMINDER ";
	else if (strcmp(kind, "escalated") == 0)
		tag = lang == MAIL_LANG_JA ? "【上位通知】" : "ESCALATED ";
	else if (lang == MAIL_LANG_JA)
		tag = recovered ? "【復旧】" :
		    round > 0	? "【再発】" :
				  "【障害】";
	else
		tag = recovered ? "RECOVERED " :
		    round > 0	? "RECURRED " :
				  "FAULT ";
	/* a storm: how many checks are behind this fault */
	kids = json_integer_value(json_object_get(facts, "children_now"));
	if (kids > 0 && !recovered)
		snprintf(more, sizeof(more), "(+%lld)", (long long)kids);
	full = xasprintf("%s%s%s %s%s %s %s", tag, ref, recovered ? "" : p,
	    state, more, host, check);
	n = notify_sms_ucs2(full, units, SMS_MAX_CHARS);
	text = notify_sms_utf8(units, n);
	free(full);
	json_decref(facts);
	return text;
}

/*
 * Appends " tail" (a link) to an SMS text, cutting the text, never the
 * tail, so that the whole stays within SMS_MAX_CHARS.  Returns a new
 * string, or NULL if the tail alone leaves no room for 10 characters.
 */
char *
notify_sms_append(const char *text, const char *tail)
{
	uint16_t units[SMS_MAX_CHARS];
	size_t tn = notify_sms_ucs2(tail, units, SMS_MAX_CHARS), n;
	char *head, *out;

	if (tn + 1 + 10 > SMS_MAX_CHARS)
		return NULL;
	n = notify_sms_ucs2(text, units, SMS_MAX_CHARS - 1 - tn);
	head = notify_sms_utf8(units, n);
	out = xasprintf("%s %s", head, tail);
	free(head);
	return out;
}

/* Writes all of buf, or fails with errno set. */
static int
notify_sms_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t w;

	while (len > 0) {
		if ((w = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/*
 * Puts one SMS into the smstools3 spool: "To:" the number, alphabet UCS2
 * (big-endian units after the blank line), named after the outbox row id.
 * Returns 0, or -1 with a readable reason in err.
 */
int
notify_sms_spool(const struct sms_conf *conf, const char *id,
    const char *number, const char *text, char *err, size_t errlen)
{
	uint16_t units[SMS_MAX_CHARS];
	unsigned char body[2 * SMS_MAX_CHARS];
	char *head, *tmp, *dst;
	size_t n;
	int fd = -1, dfd, rc = -1;

	n = notify_sms_ucs2(text, units, SMS_MAX_CHARS);
	for (size_t i = 0; i < n; i++) {
		body[2 * i] = (unsigned char)(units[i] >> 8);
		body[2 * i + 1] = (unsigned char)(units[i] & 0xff);
	}
	head = xasprintf("To: %s\nAlphabet: UCS2\n\n", number);
	tmp = xasprintf("%s/.incidentd-%s.tmp", conf->spool_tmp, id);
	dst = xasprintf("%s/incidentd-%s", conf->spool, id);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) ==
	    -1) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		goto done;
	}
	if (notify_sms_write_all(fd, head, strlen(head)) == -1 ||
	    notify_sms_write_all(fd, body, 2 * n) == -1 || fsync(fd) == -1) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		goto done;
	}
	if (close(fd) == -1) {
		fd = -1;
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		goto done;
	}
	fd = -1;
	if (rename(tmp, dst) == -1) {
		snprintf(err, errlen, "cannot move %s into %s: %s", tmp,
		    conf->spool, strerror(errno));
		goto done;
	}
	/* The rename itself must survive a crash of the machine. */
	if ((dfd = open(conf->spool, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) !=
	    -1) {
		(void)fsync(dfd);
		close(dfd);
	}
	rc = 0;
done:
	if (fd != -1)
		close(fd);
	if (rc == -1)
		(void)unlink(tmp);
	free(head);
	free(tmp);
	free(dst);
	return rc;
}

/*
 * Builds the request an HTTP gateway wants for one SMS: vals are the
 * placeholders' values ({to}, {text}, {ref}, {priority}, {kind}).  *url
 * and *body are allocated here (body NULL when the gateway has none) and
 * req points into them and into the gateway.
 */
void
notify_sms_gateway_request(const struct sms_gateway *gw,
    const char *const vals[5], struct http_req *req, char **url, char **body)
{
	memset(req, 0, sizeof(*req));
	*url = notify_http_template(gw->url, vals, HTTP_ENC_URL);
	*body = gw->body != NULL ?
	    notify_http_template(gw->body, vals, gw->body_enc) :
	    NULL;
	req->method = gw->method;
	req->url = *url;
	req->headers = (const char *const *)gw->headers;
	req->nheaders = gw->nheaders;
	req->body = *body;
	req->body_len = *body != NULL ? strlen(*body) : 0;
	req->timeout_ms = gw->timeout_ms;
	req->verify_tls = gw->verify_tls;
}

/* Copies a reply into err as one short line: controls become spaces. */
static void
notify_sms_gateway_snippet(const char *reply, char *out, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len && i < 120 && reply[i] != '\0'; i++)
		out[i] = (unsigned char)reply[i] < 0x20 ? ' ' : reply[i];
	out[i] = '\0';
}

/*
 * Applies the gateway's success test to a reply.  Returns 1 if the SMS
 * was accepted (with the gateway's message id in id when it has a
 * message_id pattern that matched, else ""), 0 with the reason in err.
 */
int
notify_sms_gateway_accepts(const struct sms_gateway *gw, long status,
    const char *reply, char *id, size_t idlen, char *err, size_t errlen)
{
	char snippet[128];
	regmatch_t m[2];
	int ok = 0;

	id[0] = '\0';
	notify_sms_gateway_snippet(reply, snippet, sizeof(snippet));
	if (gw->nstatus == 0)
		ok = status >= 200 && status <= 299;
	for (size_t i = 0; i < gw->nstatus; i++)
		ok |= gw->status[i] == status;
	if (!ok) {
		snprintf(err, errlen, "the gateway answered %ld: %s", status,
		    snippet);
		return 0;
	}
	if (gw->success_body != NULL &&
	    regexec(gw->success_body, reply, 0, NULL, 0) != 0) {
		snprintf(err, errlen,
		    "the gateway answered %ld without the success text: %s",
		    status, snippet);
		return 0;
	}
	if (gw->message_id != NULL &&
	    regexec(gw->message_id, reply, 2, m, 0) == 0 && m[1].rm_so >= 0) {
		size_t n = (size_t)(m[1].rm_eo - m[1].rm_so);

		if (n >= idlen)
			n = idlen - 1;
		memcpy(id, reply + m[1].rm_so, n);
		id[n] = '\0';
	}
	return 1;
}

void
notify_sms_gateway_free(struct sms_gateway *gw)
{
	if (gw == NULL)
		return;
	free(gw->method);
	free(gw->url);
	free(gw->body);
	for (size_t i = 0; i < gw->nheaders; i++)
		free(gw->headers[i]);
	free(gw->headers);
	free(gw->status);
	if (gw->success_body != NULL)
		regfree(gw->success_body);
	free(gw->success_body);
	if (gw->message_id != NULL)
		regfree(gw->message_id);
	free(gw->message_id);
	free(gw);
}
