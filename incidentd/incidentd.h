/*
 * incidentd: incidents and their notifications.  Shared structs and one
 * prototype block per file.
 */
#ifndef INCIDENTD_H
#define INCIDENTD_H

#include <sys/queue.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "daemon.h"
#include "log.h"

struct cfg_doc;
struct db;
struct notify_smtp;
struct notify_http;
struct httpd;
struct upkeep;

/* How a notification is written: per contact. */
enum mail_lang { MAIL_LANG_JA, MAIL_LANG_EN };

/* Someone who receives notifications. */
struct inc_contact {
	char *name;
	char *email; /* NULL: no mail */
	char *sms; /* international digits, "819012345678"; NULL: none */
	char *sms_priorities; /* "1,2": SMS only for these; NULL: all */
	char *webhook; /* a URL that takes JSON; NULL: none */
	char *team; /* the team it belongs to; NULL: none */
	uint64_t escalate_after_ms; /* 0: told at once; else an escalation */
	enum mail_lang lang;
};

/* One day in milliseconds, for durations in the configuration. */
#define MS_DAY (86400ULL * 1000ULL)

/* What one SMS holds in Japanese: 70 UCS-2 characters. */
#define SMS_MAX_CHARS 70

/* How a value is written into a template, by where it stands. */
enum http_enc {
	HTTP_ENC_NONE, /* as it is */
	HTTP_ENC_URL, /* percent-encoded: URLs and form bodies */
	HTTP_ENC_JSON /* escaped for inside a JSON string */
};

/* An HTTP SMS gateway, as incidentd.yaml describes it. */
struct sms_gateway {
	char *method; /* GET, POST or PUT */
	char *url; /* a template; values percent-encoded */
	char *body; /* a template, or NULL */
	enum http_enc body_enc; /* from body_type: form, json or text */
	char **headers; /* "Name: value" */
	size_t nheaders;
	long *status; /* accepted statuses; none: any 2xx */
	size_t nstatus;
	void *success_body; /* regex_t the reply must match, or NULL */
	void *message_id; /* regex_t whose first group is the id, or NULL */
	uint64_t timeout_ms;
	int verify_tls;
};

/* How SMS leave incidentd: an smstools3 spool or an HTTP gateway. */
struct sms_conf {
	struct sms_gateway *gateway; /* NULL: the spool, if any */
	char *spool; /* the outgoing folder; NULL: no SMS */
	char *spool_tmp; /* where files are written before the rename */
	char *country_code; /* prefixed to numbers written 0... */
};

/* Where a contact's webhook goes: JSON POSTed for chat tools. */
struct webhook_conf {
	char **headers; /* added to every request */
	size_t nheaders;
	uint64_t timeout_ms;
	int verify_tls;
};

/* One-time acknowledgement links and the listener that takes them. */
struct ack_conf {
	char *listen; /* http.listen, loopback; NULL: no HTTP side */
	char *url; /* the links' base as staff reach it, no trailing / */
	char *secret; /* signs the tokens; NULL: no links */
	uint64_t valid_ms;
	int sms; /* links in SMS too */
};

/* The console's sessions. */
struct http_conf {
	uint64_t session_idle_ms; /* a session lapses after this idle */
	int secure_cookies; /* cookies only over HTTPS (the proxy's) */
	char *tls_cert; /* PEM chain: serve HTTPS; NULL: HTTP, loopback */
	char *tls_key;
	char *web_root; /* the console's files */
};

/* The SMTP relay incidentd sends through. */
struct smtp_conf {
	char *url; /* smtp://host:port or smtps://host:port */
	char *from; /* envelope and header address */
	char *from_name; /* display name, UTF-8 */
	char *username; /* AUTH, optional */
	char *password;
	int starttls; /* 0 never, 1 required */
	int verify_tls; /* certificate and host name checks */
	uint64_t timeout_ms;
};

/* A loaded incidentd.yaml. */
struct inc_conf {
	char *file;
	char *instance;
	char *database; /* libpq conninfo; NULL means the PG* environment */
	enum log_level log_level;
	uint64_t poll_interval_ms;
	char *console_url; /* shown in messages; optional */
	char *mail_domain; /* right-hand side of Message-IDs */
	char *timezone; /* for times in messages */
	struct smtp_conf smtp;
	struct sms_conf sms;
	struct webhook_conf webhook;
	struct ack_conf ack;
	struct http_conf http;
	uint64_t retry_min_ms, retry_max_ms;
	unsigned max_attempts;
	uint64_t group_window_ms; /* how long an "opened" waits for a storm */
	uint64_t remind_after_ms; /* unacknowledged P1/P2: again after */
	unsigned remind_max;
	unsigned rate_limit; /* messages per recipient and rate_window; 0 off */
	uint64_t rate_window_ms;
	char *escalate_priorities; /* "1,2"; NULL: every priority */
	struct inc_contact **contacts;
	size_t ncontacts;
	/* the contacts as incident_ingest() takes them */
	char *recipients_json;
	/* the services and windows as lifecycle_configure() takes them */
	char *lifecycle_json;
	size_t nservices;
	size_t nteams;
	size_t nagreements;
};

struct notify_job;
TAILQ_HEAD(notify_jobs, notify_job);

/* The running daemon. */
struct incidentd {
	struct event_base *base;
	struct inc_conf *conf;
	struct db *db;
	struct upkeep *upkeep; /* the metric store's, NULL in the console */
	struct notify_smtp *smtp;
	struct notify_http *sms_http; /* NULL: no SMS gateway */
	struct notify_http *webhook; /* NULL: no contact has a webhook */
	struct httpd *httpd; /* the ack links' listener, or NULL */
	struct privsep *privsep; /* the console's process, seen from here */
	int console_only; /* this is the console's process (-H) */
	struct ssl_ctx_st *tls; /* its TLS context, or NULL */
	struct event *poll_ev;
	int ingest_busy, ingest_again;
	int release_busy;
	int notify_busy, notify_again;
	int sla_busy; /* sla_refresh() in flight */
	time_t sla_next; /* when to run it next */
	size_t sending;
	struct notify_jobs jobs; /* mails handed to notify_smtp */
	int stopping;
	/* Holds the active lock on the current connection (014_standby):
	 * only then does it ingest, remind, escalate and send. */
	int active;
	int active_busy; /* the lock is being asked for */
	int standby_logged; /* "standby" said since the last change */
	struct daemon_stop stop;
	uint64_t events_applied;
	uint64_t mails_sent, mails_failed;
	uint64_t sms_sent, sms_failed;
	uint64_t webhooks_sent, webhooks_failed;
};

/* conf.c */
struct cfg_node;
struct inc_conf *conf_load(const char *, struct cfg_doc **);
struct inc_conf *
conf_load_doc(const char *, struct cfg_doc *, struct cfg_doc **);
void conf_free(struct inc_conf *);
const char *conf_mail_lang_str(enum mail_lang);

/* acklink.c: tokens of one-time acknowledgement links */
#define ACK_TOKEN_LEN 27
enum ack_check { ACK_OK, ACK_MALFORMED, ACK_FORGED, ACK_EXPIRED };
int acklink_make(const char *, uint64_t, time_t, char *, size_t);
enum ack_check
acklink_check(const char *, const char *, time_t, uint64_t *, time_t *);

/* api.c */
struct evhttp_request;
void api_handle(struct incidentd *, struct evhttp_request *, const char *);
#define API_ALLOW_GET 0x1
#define API_ALLOW_POST 0x2
struct json_t;
int api_route_find(int, const char *, int *);
int api_route_args(int, const char *, struct json_t *);
int api_body_parse(const char *, const char *, size_t, int, struct json_t **,
    char *, size_t);
int api_query_merge(struct json_t *, const char *, const char **);

/* http.c */
int http_start(struct incidentd *);
void http_stop(struct incidentd *);
char *http_ack_url(const struct inc_conf *, const char *);

/* privsep.c */
struct privsep;
int privsep_start(struct incidentd *, const char *, char *, size_t, int, int);
void privsep_stop(struct incidentd *);
char *privsep_read_config(size_t *);

/* passwd.c: the console users' password hashes */
char *passwd_hash(const char *);
int passwd_verify(const char *, const char *);

/* holidays.c: the Cabinet Office's holiday CSV */
struct holiday {
	char day[11]; /* YYYY-MM-DD */
	char name[64]; /* UTF-8 */
};
struct holiday *holidays_parse(const char *, size_t, size_t *, char *, size_t);

/* conf_priority.c */
char *conf_priority_list(struct cfg_doc *, const struct cfg_node *);

/* conf_duty.c: calendars and teams */
struct json_t;
void conf_duty_load(struct cfg_doc *, const struct cfg_node *,
    struct inc_conf *, struct json_t *);

/* conf_sla.c: agreements */
void conf_sla_load(struct cfg_doc *, const struct cfg_node *, struct json_t *);

/* sla.c */
void sla_refresh_run(struct incidentd *);

/* upkeep.c: the metric store kept to its retention */
struct upkeep *upkeep_new(struct incidentd *);
void upkeep_kick(struct upkeep *);
void upkeep_free(struct upkeep *);

/* ingest.c */
void ingest_run(struct incidentd *);
void ingest_release(struct incidentd *);

/* notify.c */
void notify_init(struct incidentd *);
void notify_shutdown(struct incidentd *);
void notify_run(struct incidentd *);
char *notify_render(const char *, enum mail_lang, const char *, const char *,
    char **);
int notify_parse_time(const char *, time_t *);

/* One HTTP request to make. */
struct http_req {
	const char *method;
	const char *url;
	const char *const *headers;
	size_t nheaders;
	const char *body; /* NULL: none */
	size_t body_len;
	uint64_t timeout_ms; /* 0: the default */
	int verify_tls;
};

/*
 * Called once per accepted notify_http_send(): the status (0 when no
 * reply came), the start of the reply (NUL-terminated) and, when the
 * transfer failed, a readable error.
 */
typedef void (
    *notify_http_cb)(long, const char *, size_t, const char *, void *);

/* notify_http.c */
struct notify_http *notify_http_new(struct event_base *, const char *);
void notify_http_free(struct notify_http *);
size_t notify_http_in_flight(const struct notify_http *);
int notify_http_send(struct notify_http *, const struct http_req *,
    notify_http_cb, void *);
char *notify_http_template_check(const char *);
char *notify_http_template(const char *, const char *const[5], enum http_enc);

/* notify_sms.c */
size_t notify_sms_ucs2(const char *, uint16_t *, size_t);
char *notify_sms_text(const char *, enum mail_lang, const char *);
char *notify_sms_append(const char *, const char *);
int notify_sms_spool(const struct sms_conf *, const char *, const char *,
    const char *, char *, size_t);
void notify_sms_gateway_request(const struct sms_gateway *,
    const char *const[5], struct http_req *, char **, char **);
int notify_sms_gateway_accepts(const struct sms_gateway *, long, const char *,
    char *, size_t, char *, size_t);
void notify_sms_gateway_free(struct sms_gateway *);

/* One message to build; strings are UTF-8, addresses plain addr-specs. */
struct mail_msg {
	const char *from; /* required */
	const char *from_name; /* display name, optional */
	const char *const *to; /* at least one */
	size_t nto;
	const char *subject;
	const char *body; /* LF or CRLF line breaks */
	const char *message_id; /* with or without <>; NULL: none */
	const char *in_reply_to; /* NULL: a first message */
	time_t date;
};

/* mail.c */
char *mail_build(const struct mail_msg *, size_t *);
char *mail_header(const char *, const char *);
int mail_address_valid(const char *);
char *mail_base64(const void *, size_t, size_t);
int mail_format_date(time_t, char *, size_t);

/* How an SMTP transfer ended. */
enum smtp_outcome {
	SMTP_SENT, /* the server accepted the message */
	SMTP_REFUSED, /* a 4xx/5xx reply */
	SMTP_UNREACHABLE, /* no connection could be made */
	SMTP_TIMEOUT, /* connected, then the server went quiet */
	SMTP_ERROR /* TLS, protocol or local failure */
};

/*
 * Called once per accepted notify_smtp_send(), never from inside it.  text
 * is never NULL: the server's final reply for SMTP_SENT (it often names
 * the relay's queue id), otherwise a readable error with the reply code.
 */
typedef void (*notify_smtp_cb)(enum smtp_outcome, const char *, void *);

/* The latest SMTP reply seen, one line of text, for error messages. */
struct smtp_reply {
	int code; /* 0: none yet */
	int complete; /* the last line of a multi-line reply was seen */
	size_t len;
	char text[256]; /* "550 5.1.1 <x@y>: unknown", controls removed */
};

/* curlev.c: libcurl's multi interface on a libevent loop */
struct curlev;
typedef void (*curlev_done_fn)(CURL *, CURLcode, int, void *);
int curlev_global_init(void);
struct curlev *curlev_new(struct event_base *, const char *);
int curlev_add(struct curlev *, CURL *, curlev_done_fn, void *);
size_t curlev_in_flight(const struct curlev *);
void curlev_free(struct curlev *);

/* notify_smtp.c */
struct notify_smtp *
notify_smtp_new(struct event_base *, const struct smtp_conf *);
void notify_smtp_free(struct notify_smtp *);
int notify_smtp_send(struct notify_smtp *, const char *const *, size_t,
    const char *, size_t, notify_smtp_cb, void *);
size_t notify_smtp_in_flight(const struct notify_smtp *);
const char *notify_smtp_outcome_str(enum smtp_outcome);
enum smtp_outcome notify_smtp_classify(int, long, int);
void notify_smtp_reply_feed(struct smtp_reply *, const char *, size_t);

#endif
