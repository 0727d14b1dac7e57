/*
 * monitord.yaml: the shipped sample loads, and each kind of mistake is
 * reported with its line and column.
 */
#include "config.h"

#include <sys/stat.h>

#include <arpa/inet.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "monitord.h"

static char path[64];

/* Writes text to a fresh temporary file; its name is in path. */
static void
write_conf(const char *text)
{
	int fd;

	strcpy(path, "/tmp/check_monitord_conf.XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(write(fd, text, strlen(text)), (int)strlen(text));
	close(fd);
}

/* Loads text; returns the conf (or NULL) and leaves errors in *docp. */
static struct mon_conf *
load(const char *text, struct cfg_doc **docp)
{
	struct mon_conf *conf;

	write_conf(text);
	conf = conf_load(path, docp);
	unlink(path);
	return conf;
}

/* Asserts that errors[i] is "path:" followed by want. */
static void
assert_error(const struct cfg_doc *doc, size_t i, const char *want)
{
	char full[1024];

	snprintf(full, sizeof(full), "%s:%s", path, want);
	ck_assert_msg(i < doc->nerrors, "only %zu errors, wanted: %s",
	    doc->nerrors, want);
	ck_assert_str_eq(doc->errors[i], full);
}

START_TEST(test_sample_config_loads)
{
	struct cfg_doc *doc;
	struct mon_conf *conf;

	static char text[65536];
	FILE *f = fopen(TEST_SRCDIR "/conf/monitord.yaml", "r");
	size_t n;

	ck_assert_ptr_nonnull(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	/* A private copy: the sample holds SNMP credentials. */
	conf = load(text, &doc);
	ck_assert_msg(conf != NULL, "%s", doc->nerrors ? doc->errors[0] : "");
	ck_assert_uint_ge(conf->nhosts, 8);
	ck_assert_str_eq(conf->instance, "monitord-honcho");
	conf_free(conf);
	cfg_free(doc);
}
END_TEST

/* Loads text from a file of the given mode. */
static struct mon_conf *
load_mode(const char *text, mode_t mode, struct cfg_doc **docp)
{
	struct mon_conf *conf;

	write_conf(text);
	ck_assert_int_eq(chmod(path, mode), 0);
	conf = conf_load(path, docp);
	unlink(path);
	return conf;
}

START_TEST(test_credentials_readable_by_others_are_refused)
{
	static const char *const text =
	    "snmp:\n"
	    "  credentials:\n"
	    "    - {name: v2, version: 2c, community: jouhou-ro}\n"
	    "hosts:\n"
	    "  - name: a\n"
	    "    address: 127.0.0.1\n"
	    "    checks: [{type: icmp}]\n";
	struct cfg_doc *doc;
	struct mon_conf *conf;
	char *warn;

	conf = load_mode(text, 0644, &doc);
	ck_assert_ptr_null(conf);
	ck_assert_uint_eq(doc->nerrors, 1);
	ck_assert_ptr_nonnull(strstr(doc->errors[0],
	    ":3:42: an SNMP community in a file that any user can read "
	    "(mode 0644): chmod o-r "));
	cfg_free(doc);
	/* The group may read it; so may others with a config without one. */
	conf = load_mode(text, 0640, &doc);
	ck_assert_ptr_nonnull(conf);
	conf_free(conf);
	cfg_free(doc);
	conf = load_mode(strstr(text, "hosts:"), 0644, &doc);
	ck_assert_ptr_nonnull(conf);
	conf_free(conf);
	cfg_free(doc);
	/* readable_secrets: warn lets it pass. */
	warn = malloc(strlen(text) + 32);
	ck_assert_ptr_nonnull(warn);
	strcpy(warn, "readable_secrets: warn\n");
	strcat(warn, text);
	conf = load_mode(warn, 0644, &doc);
	ck_assert_ptr_nonnull(conf);
	conf_free(conf);
	cfg_free(doc);
	conf = load_mode("readable_secrets: maybe\n"
			 "hosts: [{name: a, address: 127.0.0.1, checks: "
			 "[{type: icmp}]}]\n",
	    0600, &doc);
	ck_assert_ptr_null(conf);
	ck_assert_ptr_nonnull(strstr(doc->errors[0],
	    "1:19: 'readable_secrets' "
	    "must be one of"));
	cfg_free(doc);
	free(warn);
}
END_TEST

START_TEST(test_good_config_fills_structs_and_defaults)
{
	struct cfg_doc *doc;
	struct mon_conf *conf = load("instance: mon-test\n"
				     "defaults:\n"
				     "  interval: 30s\n"
				     "  timeout: 2s\n"
				     "hosts:\n"
				     "  - name: juki-db01\n"
				     "    address: 127.10.1.12\n"
				     "    segment: core\n"
				     "    checks:\n"
				     "      - type: tcp\n"
				     "        port: 15432\n"
				     "        max_attempts: 5\n"
				     "      - type: icmp\n"
				     "        interval: 10s\n"
				     "        rtt_warning: 20ms\n"
				     "  - name: v6\n"
				     "    address: \"::1\"\n"
				     "    checks:\n"
				     "      - type: icmp\n",
	    &doc);
	const struct mon_check *tcp, *icmp;

	ck_assert_msg(conf != NULL, "%s", doc->nerrors ? doc->errors[0] : "");
	ck_assert_uint_eq(conf->nhosts, 2);
	ck_assert_uint_eq(conf->nchecks, 3);
	tcp = conf->checks[0];
	icmp = conf->checks[1];
	ck_assert_str_eq(tcp->name, "tcp/15432");
	ck_assert_uint_eq(tcp->tcp.port, 15432);
	ck_assert_uint_eq(tcp->interval_ms, 30000);
	ck_assert_uint_eq(tcp->retry_interval_ms, 30000);
	ck_assert_uint_eq(tcp->timeout_ms, 2000);
	ck_assert_uint_eq(tcp->max_attempts, 5);
	ck_assert_int_eq(tcp->host->segment, SEGMENT_CORE);
	ck_assert_int_eq(tcp->host->ss.ss_family, AF_INET);
	ck_assert_str_eq(icmp->name, "icmp");
	ck_assert_uint_eq(icmp->interval_ms, 10000);
	ck_assert_uint_eq(icmp->max_attempts, 3);
	ck_assert_uint_eq(icmp->icmp.packets, 3);
	ck_assert(icmp->icmp.rtt_warn_ms == 20.0);
	ck_assert_int_eq(conf->checks[2]->host->ss.ss_family, AF_INET6);
	ck_assert_int_eq(conf->checks[2]->host->segment, SEGMENT_OTHER);
	conf_free(conf);
	cfg_free(doc);
}
END_TEST

START_TEST(test_unknown_key_in_host_is_reported_with_position)
{
	struct cfg_doc *doc;
	struct mon_conf *conf = load("hosts:\n"
				     "  - name: a\n"
				     "    address: 127.0.0.1\n"
				     "    segmnet: core\n"
				     "    checks: [{type: icmp}]\n",
	    &doc);

	ck_assert_ptr_null(conf);
	ck_assert_uint_eq(doc->nerrors, 1);
	assert_error(doc, 0,
	    "4:5: unknown key 'segmnet' in a host (known: "
	    "name, address, use, segment, department, tags, parents, "
	    "host_check, description, snmp, checks)");
	cfg_free(doc);
}
END_TEST

START_TEST(test_key_of_other_check_type_is_unknown)
{
	struct cfg_doc *doc;
	struct mon_conf *conf = load("hosts:\n"
				     "  - name: a\n"
				     "    address: 127.0.0.1\n"
				     "    checks:\n"
				     "      - type: icmp\n"
				     "        port: 22\n",
	    &doc);

	ck_assert_ptr_null(conf);
	ck_assert_uint_eq(doc->nerrors, 1);
	ck_assert_msg(strstr(doc->errors[0],
			  ":6:9: unknown key 'port' in an "
			  "icmp check") != NULL,
	    "got %s", doc->errors[0]);
	cfg_free(doc);
}
END_TEST

START_TEST(test_wrong_type_is_reported_with_position)
{
	struct cfg_doc *doc;
	struct mon_conf *conf = load("hosts:\n"
				     "  - name: a\n"
				     "    address: 127.0.0.1\n"
				     "    checks:\n"
				     "      - type: tcp\n"
				     "        port: https\n"
				     "        interval: fast\n",
	    &doc);

	ck_assert_ptr_null(conf);
	ck_assert_uint_eq(doc->nerrors, 2);
	assert_error(doc, 0, "6:15: 'port' must be an integer, not 'https'");
	assert_error(doc, 1,
	    "7:19: 'interval' must be a duration such as "
	    "500ms, 10s, 5m or 1h, not 'fast'");
	cfg_free(doc);
}
END_TEST

START_TEST(test_missing_fields_are_reported_at_their_mapping)
{
	struct cfg_doc *doc;
	struct mon_conf *conf = load("hosts:\n"
				     "  - name: a\n"
				     "    checks:\n"
				     "      - type: tcp\n",
	    &doc);

	ck_assert_ptr_null(conf);
	ck_assert_uint_eq(doc->nerrors, 1);
	assert_error(doc, 0, "2:5: missing required key 'address'");
	cfg_free(doc);
}
END_TEST

START_TEST(test_missing_port_is_reported)
{
	struct cfg_doc *doc;
	struct mon_conf *conf = load("hosts:\n"
				     "  - name: a\n"
				     "    address: 127.0.0.1\n"
				     "    checks:\n"
				     "      - type: tcp\n",
	    &doc);

	ck_assert_ptr_null(conf);
	ck_assert_uint_eq(doc->nerrors, 1);
	assert_error(doc, 0, "5:9: missing required key 'port'");
	cfg_free(doc);
}
END_TEST

START_TEST(test_missing_hosts_is_reported)
{
	struct cfg_doc *doc;
	struct mon_conf *conf = load("instance: x\n", &doc);

	ck_assert_ptr_null(conf);
	ck_assert_uint_eq(doc->nerrors, 1);
	assert_error(doc, 0, "1:1: missing required key 'hosts'");
	cfg_free(doc);
}
END_TEST

START_TEST(test_broken_yaml_is_reported_with_position)
{
	struct cfg_doc *doc;
	struct mon_conf *conf = load("hosts:\n"
				     "  - name: a\n"
				     "   address: 127.0.0.1\n",
	    &doc);

	ck_assert_ptr_null(conf);
	ck_assert_uint_eq(doc->nerrors, 1);
	assert_error(doc, 0,
	    "3:4: YAML syntax error: did not find expected '-' "
	    "indicator while parsing a block collection "
	    "started at line 2, column 3");
	cfg_free(doc);
}
END_TEST

START_TEST(test_timeout_not_shorter_than_interval_is_an_error)
{
	struct cfg_doc *doc;
	struct mon_conf *conf = load("hosts:\n"
				     "  - name: a\n"
				     "    address: 127.0.0.1\n"
				     "    checks:\n"
				     "      - type: tcp\n"
				     "        port: 80\n"
				     "        interval: 5s\n"
				     "        timeout: 5s\n",
	    &doc);

	ck_assert_ptr_null(conf);
	ck_assert_uint_ge(doc->nerrors, 1);
	assert_error(doc, 0,
	    "5:9: check 'tcp/80' of host 'a': timeout (5000ms) "
	    "must be shorter than interval (5000ms)");
	cfg_free(doc);
}
END_TEST

START_TEST(test_duplicate_host_and_check_are_errors)
{
	struct cfg_doc *doc;
	struct mon_conf *conf = load("hosts:\n"
				     "  - name: a\n"
				     "    address: 127.0.0.1\n"
				     "    checks:\n"
				     "      - type: tcp\n"
				     "        port: 80\n"
				     "      - type: tcp\n"
				     "        port: 80\n"
				     "  - name: a\n"
				     "    address: 127.0.0.2\n"
				     "    checks: [{type: icmp}]\n",
	    &doc);

	ck_assert_ptr_null(conf);
	ck_assert_uint_eq(doc->nerrors, 2);
	assert_error(doc, 0,
	    "7:9: host 'a' has two checks named 'tcp/80' (first at line 5); "
	    "give one a name");
	assert_error(doc, 1, "9:11: duplicate host 'a' (first at line 2)");
	cfg_free(doc);

	conf = load("hosts:\n"
		    "  - name: a\n"
		    "    address: 127.0.0.1\n"
		    "    checks:\n"
		    "      - type: tcp\n"
		    "        port: 80\n"
		    "      - type: tcp\n"
		    "        port: 80\n",
	    &doc);
	ck_assert_ptr_null(conf);
	ck_assert_uint_eq(doc->nerrors, 1);
	assert_error(doc, 0,
	    "7:9: host 'a' has two checks named 'tcp/80' "
	    "(first at line 5); give one a name");
	cfg_free(doc);
}
END_TEST

START_TEST(test_bad_segment_and_type_list_the_choices)
{
	struct cfg_doc *doc;
	struct mon_conf *conf = load("hosts:\n"
				     "  - name: a\n"
				     "    address: 127.0.0.1\n"
				     "    segment: 基幹系\n"
				     "    checks:\n"
				     "      - type: snmp\n",
	    &doc);

	ck_assert_ptr_null(conf);
	ck_assert_uint_eq(doc->nerrors, 2);
	assert_error(doc, 0,
	    "4:14: 'segment' must be one of core, "
	    "information, finance, other, not '基幹系'");
	assert_error(doc, 1,
	    "6:15: 'type' must be one of icmp, tcp, sysuptime, "
	    "interfaces, storage, cpu, oid, plugin, passive, not 'snmp'");
	cfg_free(doc);
}
END_TEST

START_TEST(test_icmp_threshold_order_is_checked)
{
	struct cfg_doc *doc;
	struct mon_conf *conf = load("hosts:\n"
				     "  - name: a\n"
				     "    address: 127.0.0.1\n"
				     "    checks:\n"
				     "      - type: icmp\n"
				     "        rtt_warning: 500ms\n"
				     "        rtt_critical: 100ms\n",
	    &doc);

	ck_assert_ptr_null(conf);
	ck_assert_uint_eq(doc->nerrors, 1);
	assert_error(doc, 0,
	    "5:9: check 'icmp' of host 'a': rtt_warning "
	    "exceeds rtt_critical");
	cfg_free(doc);
}
END_TEST

START_TEST(test_bad_host_name_is_refused)
{
	struct cfg_doc *doc;
	struct mon_conf *conf = load("hosts:\n"
				     "  - name: juki ap\n"
				     "    address: 127.0.0.1\n"
				     "    checks: [{type: icmp}]\n",
	    &doc);

	ck_assert_ptr_null(conf);
	ck_assert_uint_eq(doc->nerrors, 1);
	assert_error(doc, 0,
	    "2:11: host name 'juki ap' may only hold letters, "
	    "digits, '-', '_' and '.'");
	cfg_free(doc);
}
END_TEST

START_TEST(test_journal_keys_are_checked)
{
	struct cfg_doc *doc;
	struct mon_conf *conf = load("journal:\n"
				     "  path: var/journal\n"
				     "  max_size: 10 MiB\n"
				     "  fsync: always\n"
				     "hosts:\n"
				     "  - name: a\n"
				     "    address: 127.0.0.1\n"
				     "    checks: [{type: icmp}]\n",
	    &doc);

	ck_assert_ptr_null(conf);
	ck_assert_uint_eq(doc->nerrors, 3);
	assert_error(doc, 0, "2:9: journal path 'var/journal' is not absolute");
	assert_error(doc, 1,
	    "3:13: journal max_size '10 MiB' is not a size of at least 4KiB "
	    "(a number with KiB, MiB or GiB)");
	assert_error(doc, 2,
	    "4:3: unknown key 'fsync' in journal (known: path, max_size)");
	cfg_free(doc);
	conf = load("journal: {path: /var/lib/monitord/journal, max_size: "
		    "1GiB}\n"
		    "hosts: [{name: a, address: 127.0.0.1, checks: [{type: "
		    "icmp}]}]\n",
	    &doc);
	ck_assert_ptr_nonnull(conf);
	ck_assert_str_eq(conf->journal_path, "/var/lib/monitord/journal");
	ck_assert_uint_eq(conf->journal_max, 1ull << 30);
	conf_free(conf);
	cfg_free(doc);
}
END_TEST

START_TEST(test_cluster_keys_are_checked)
{
	struct cfg_doc *doc;
	struct mon_conf *conf = load("cluster:\n"
				     "  pinned: [finance, zaimu]\n"
				     "  size: 3\n"
				     "hosts: [{name: a, address: 127.0.0.1, "
				     "checks: [{type: icmp}]}]\n",
	    &doc);

	ck_assert_ptr_null(conf);
	ck_assert_uint_eq(doc->nerrors, 2);
	assert_error(doc, 0,
	    "2:21: 'zaimu' is not a segment (core, information, finance or "
	    "other)");
	assert_error(doc, 1,
	    "3:3: unknown key 'size' in cluster (known: pinned)");
	cfg_free(doc);
	conf = load("cluster: {pinned: [finance, other]}\n"
		    "hosts: [{name: a, address: 127.0.0.1, checks: [{type: "
		    "icmp}]}]\n",
	    &doc);
	ck_assert_ptr_nonnull(conf);
	ck_assert_int_eq(conf->cluster, 1);
	ck_assert_uint_eq(conf->cluster_pinned,
	    (1u << SEGMENT_FINANCE) | (1u << SEGMENT_OTHER));
	conf_free(conf);
	cfg_free(doc);
	conf = load("cluster:\n"
		    "hosts: [{name: a, address: 127.0.0.1, checks: [{type: "
		    "icmp}]}]\n",
	    &doc);
	ck_assert_msg(conf != NULL, "%s", doc->nerrors ? doc->errors[0] : "");
	ck_assert_int_eq(conf->cluster, 1);
	ck_assert_uint_eq(conf->cluster_pinned, 0);
	conf_free(conf);
	cfg_free(doc);
}
END_TEST

START_TEST(test_shard_sets_are_parsed)
{
	uint8_t owned[SHARD_COUNT];

	ck_assert_int_eq(shard_parse_set("{}", owned), 0);
	ck_assert_int_eq(shard_parse_set("{0,7,255}", owned), 3);
	ck_assert_int_eq(owned[7], 1);
	ck_assert_int_eq(owned[8], 0);
	ck_assert_int_eq(shard_parse_set("{256}", owned), -1);
	ck_assert_int_eq(shard_parse_set("{-1}", owned), -1);
	ck_assert_int_eq(shard_parse_set("{1,,2}", owned), -1);
	ck_assert_int_eq(shard_parse_set("{1", owned), -1);
	ck_assert_int_eq(shard_parse_set("{1}x", owned), -1);
	ck_assert_int_eq(shard_parse_set("", owned), -1);
	/* the same name always lands in the same shard */
	ck_assert_uint_eq(shard_of("juki-ap01"), shard_of("juki-ap01"));
	ck_assert_uint_lt(shard_of("zaimu-db01"), SHARD_COUNT);
}
END_TEST

START_TEST(test_all_errors_are_reported_not_just_the_first)
{
	struct cfg_doc *doc;
	struct mon_conf *conf = load("bogus: 1\n"
				     "hosts:\n"
				     "  - name: a\n"
				     "  - address: 127.0.0.1\n",
	    &doc);

	ck_assert_ptr_null(conf);
	ck_assert_uint_eq(doc->nerrors, 5);
	assert_error(doc, 0,
	    "1:1: unknown key 'bogus' in the top level "
	    "(known: instance, database, log_level, user, "
	    "metrics, journal, scheduler, snmp, defaults, segments, "
	    "templates, "
	    "plugins, hosts, downtimes, readable_secrets, cluster)");
	assert_error(doc, 1, "3:5: missing required key 'address'");
	assert_error(doc, 2, "3:5: missing required key 'checks'");
	assert_error(doc, 3, "4:5: missing required key 'name'");
	assert_error(doc, 4, "4:5: missing required key 'checks'");
	cfg_free(doc);
}
END_TEST

START_TEST(test_tcp_send_expect_and_thresholds_are_read)
{
	struct cfg_doc *doc;
	struct mon_conf *conf =
	    load("user: nobody\n"
		 "metrics:\n"
		 "  listen: 127.0.0.1:9810\n"
		 "scheduler:\n"
		 "  max_rate: 5000\n"
		 "  max_in_flight: 2000\n"
		 "hosts:\n"
		 "  - name: gw01\n"
		 "    address: 127.20.1.21\n"
		 "    checks:\n"
		 "      - type: tcp\n"
		 "        port: 18080\n"
		 "        send: \"HEAD / HTTP/1.0\\r\\n\\r\\n\"\n"
		 "        expect: \"HTTP/1.\"\n"
		 "        connect_warning: 200ms\n"
		 "        connect_critical: 1s\n"
		 "        interval: 1005ms\n"
		 "        timeout: 1s\n",
		&doc);
	const struct mon_check *c;

	ck_assert_msg(conf != NULL, "%s", doc->nerrors ? doc->errors[0] : "");
	c = conf->checks[0];
	ck_assert_str_eq(c->tcp.send, "HEAD / HTTP/1.0\r\n\r\n");
	ck_assert_str_eq(c->tcp.expect, "HTTP/1.");
	ck_assert_uint_eq(c->tcp.connect_warn_ms, 200);
	ck_assert_uint_eq(c->tcp.connect_crit_ms, 1000);
	/* Periods are rounded up to the scheduler's 10 ms grid. */
	ck_assert_uint_eq(c->interval_ms, 1010);
	ck_assert_str_eq(conf->user, "nobody");
	ck_assert_str_eq(conf->metrics_listen, "127.0.0.1:9810");
	ck_assert(conf->max_rate == 5000.0);
	ck_assert_uint_eq(conf->max_in_flight, 2000);
	conf_free(conf);
	cfg_free(doc);
}
END_TEST

START_TEST(test_tcp_thresholds_out_of_order_are_an_error)
{
	struct cfg_doc *doc;
	struct mon_conf *conf = load("hosts:\n"
				     "  - name: gw01\n"
				     "    address: 127.20.1.21\n"
				     "    checks:\n"
				     "      - type: tcp\n"
				     "        port: 18080\n"
				     "        expect: \"\"\n"
				     "        connect_warning: 2s\n"
				     "        connect_critical: 1s\n",
	    &doc);

	ck_assert_ptr_null(conf);
	ck_assert_uint_eq(doc->nerrors, 1);
	assert_error(doc, 0, "7:17: 'expect' must hold 1 to 1024 bytes");
	cfg_free(doc);
	conf = load("hosts:\n"
		    "  - name: gw01\n"
		    "    address: 127.20.1.21\n"
		    "    checks:\n"
		    "      - type: tcp\n"
		    "        port: 18080\n"
		    "        connect_warning: 2s\n"
		    "        connect_critical: 1s\n",
	    &doc);
	ck_assert_ptr_null(conf);
	ck_assert_uint_eq(doc->nerrors, 1);
	assert_error(doc, 0,
	    "5:9: check 'tcp/18080' of host 'gw01': "
	    "connect_warning exceeds connect_critical");
	cfg_free(doc);
}
END_TEST

/* The check named name of host h, or NULL. */
static struct mon_check *
find_check(struct mon_conf *conf, const char *h, const char *name)
{
	for (size_t i = 0; i < conf->nchecks; i++)
		if (strcmp(conf->checks[i]->host->name, h) == 0 &&
		    strcmp(conf->checks[i]->name, name) == 0)
			return conf->checks[i];
	return NULL;
}

static struct mon_host *
find_host(struct mon_conf *conf, const char *name)
{
	for (size_t i = 0; i < conf->nhosts; i++)
		if (strcmp(conf->hosts[i]->name, name) == 0)
			return conf->hosts[i];
	return NULL;
}

/* A check defined once in a template, segment criteria, and overrides. */
START_TEST(test_templates_and_segment_defaults_apply)
{
	struct cfg_doc *doc;
	struct mon_check *c;
	struct mon_host *h;
	struct mon_conf *conf = load(
	    "defaults: {interval: 60s, max_attempts: 3}\n"
	    "segments:\n"
	    "  core:\n"
	    "    interval: 30s\n"
	    "    retry_interval: 10s\n"
	    "    icmp: {rtt_warning: 20ms, rtt_critical: 80ms}\n"
	    "  finance:\n"
	    "    max_attempts: 5\n"
	    "templates:\n"
	    "  - name: base\n"
	    "    tags: [monitored]\n"
	    "    checks:\n"
	    "      - type: icmp\n"
	    "      - {type: tcp, port: 22, name: ssh}\n"
	    "  - name: core-switch\n"
	    "    use: base\n"
	    "    segment: core\n"
	    "    department: \xe6\x83\x85\xe5\xa0\xb1\xe6\x94\xbf\xe7\xad\x96\xe8\xaa\xb2\n"
	    "    tags: [switch, core]\n"
	    "    checks:\n"
	    "      - {type: tcp, port: 443}\n"
	    "hosts:\n"
	    "  - name: kikan-sw01\n"
	    "    address: 127.0.0.1\n"
	    "    use: core-switch\n"
	    "    tags: [floor3]\n"
	    "    checks:\n"
	    "      - {type: icmp, packets: 5}\n"
	    "  - name: zaimu-sv01\n"
	    "    address: 127.0.0.2\n"
	    "    use: [base]\n"
	    "    segment: finance\n",
	    &doc);

	ck_assert_msg(conf != NULL, "%s", doc->nerrors ? doc->errors[0] : "");
	h = find_host(conf, "kikan-sw01");
	ck_assert_int_eq(h->segment, SEGMENT_CORE);
	ck_assert_str_eq(h->department,
	    "\xe6\x83\x85\xe5\xa0\xb1\xe6\x94\xbf\xe7\xad\x96\xe8\xaa\xb2");
	ck_assert_uint_eq(h->ntags, 4);
	ck_assert_str_eq(h->tags[0], "floor3");
	ck_assert_str_eq(h->tags[1], "switch");
	ck_assert_str_eq(h->tags[3], "monitored");
	/* the host's icmp replaced the template's; the segment's criteria */
	c = find_check(conf, "kikan-sw01", "icmp");
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(c->icmp.packets, 5);
	ck_assert_double_eq(c->icmp.rtt_warn_ms, 20);
	ck_assert_double_eq(c->icmp.rtt_crit_ms, 80);
	ck_assert_uint_eq(c->interval_ms, 30000);
	ck_assert_uint_eq(c->retry_interval_ms, 10000);
	ck_assert_uint_eq(c->max_attempts, 3);
	ck_assert_int_eq(c->flap.enabled, 1);
	ck_assert_ptr_nonnull(find_check(conf, "kikan-sw01", "ssh"));
	ck_assert_ptr_nonnull(find_check(conf, "kikan-sw01", "tcp/443"));
	ck_assert_ptr_eq(h->host_check, c);
	/* another segment, another criterion; the defaults elsewhere */
	c = find_check(conf, "zaimu-sv01", "icmp");
	ck_assert_uint_eq(c->max_attempts, 5);
	ck_assert_uint_eq(c->interval_ms, 60000);
	ck_assert_double_eq(c->icmp.rtt_warn_ms, 100);
	ck_assert_ptr_null(find_check(conf, "zaimu-sv01", "tcp/443"));
	conf_free(conf);
	cfg_free(doc);
}
END_TEST

START_TEST(test_template_mistakes_are_reported_where_written)
{
	struct cfg_doc *doc;
	struct mon_conf *conf =
	    load("templates:\n"
		 "  - name: a\n"
		 "    use: b\n"
		 "    checks: [{type: icmp, pakets: 2}]\n"
		 "  - name: b\n"
		 "    use: a\n"
		 "hosts:\n"
		 "  - {name: h1, address: 127.0.0.1, use: a}\n"
		 "  - {name: h2, address: 127.0.0.1, use: a}\n"
		 "  - {name: h3, address: 127.0.0.1, use: c}\n",
		&doc);

	ck_assert_ptr_null(conf);
	/* once for all hosts, not once per host */
	ck_assert_uint_eq(doc->nerrors, 3);
	assert_error(doc, 0,
	    "4:27: unknown key 'pakets' in an icmp check (known: type, "
	    "name, interval, retry_interval, timeout, max_attempts, "
	    "flap_detection, flap_start, flap_stop, store_samples, packets, "
	    "packet_gap, "
	    "rtt_warning, rtt_critical, loss_warning, loss_critical)");
	assert_error(doc, 1, "6:10: template 'a' uses itself");
	assert_error(doc, 2,
	    "10:41: no template named 'c' (templates are defined under "
	    "'templates', before 'hosts')");
	cfg_free(doc);
}
END_TEST

START_TEST(test_templates_after_hosts_are_refused)
{
	struct cfg_doc *doc;
	struct mon_conf *conf =
	    load("hosts:\n"
		 "  - {name: h1, address: 127.0.0.1, use: t}\n"
		 "templates:\n"
		 "  - {name: t, checks: [{type: icmp}]}\n",
		&doc);

	ck_assert_ptr_null(conf);
	ck_assert_uint_eq(doc->nerrors, 2);
	assert_error(doc, 0,
	    "2:41: no template named 't' (templates are defined under "
	    "'templates', before 'hosts')");
	assert_error(doc, 1,
	    "3:1: 'templates' must come before 'hosts' (hosts are read as "
	    "the file is, and use it)");
	cfg_free(doc);
}
END_TEST

START_TEST(test_segment_keys_are_checked)
{
	struct cfg_doc *doc;
	struct mon_conf *conf = load("segments:\n"
				     "  core: {intervl: 30s}\n"
				     "  dmz: {}\n"
				     "  finance:\n"
				     "    tcp: {rtt_warning: 1s}\n"
				     "hosts:\n"
				     "  - {name: h1, address: 127.0.0.1, "
				     "checks: [{type: icmp}]}\n",
	    &doc);

	ck_assert_ptr_null(conf);
	ck_assert_uint_eq(doc->nerrors, 3);
	ck_assert_msg(strstr(doc->errors[0],
			  ":2:10: unknown key 'intervl' in segment 'core'") !=
		NULL,
	    "%s", doc->errors[0]);
	ck_assert_msg(strstr(doc->errors[1],
			  ":3:3: unknown key 'dmz' in segments (known: core, "
			  "information, finance, other)") != NULL,
	    "%s", doc->errors[1]);
	ck_assert_msg(strstr(doc->errors[2],
			  ":5:11: unknown key 'rtt_warning' in tcp") != NULL,
	    "%s", doc->errors[2]);
	cfg_free(doc);
}
END_TEST

/* Redundant uplinks, and the children lists built from them. */
START_TEST(test_parents_resolve_into_a_graph)
{
	struct cfg_doc *doc;
	struct mon_host *rt1, *rt2, *sw, *pc;
	struct mon_conf *conf = load(
	    "templates:\n"
	    "  - {name: t, checks: [{type: icmp}, {type: tcp, port: 22}]}\n"
	    "hosts:\n"
	    "  - {name: pc01, address: 127.0.0.4, use: t, parents: [sw01]}\n"
	    "  - {name: sw01, address: 127.0.0.3, use: t, "
	    "parents: [rt01, rt02], host_check: tcp/22}\n"
	    "  - {name: rt01, address: 127.0.0.1, use: t}\n"
	    "  - {name: rt02, address: 127.0.0.2, use: t}\n",
	    &doc);

	ck_assert_msg(conf != NULL, "%s", doc->nerrors ? doc->errors[0] : "");
	rt1 = find_host(conf, "rt01");
	rt2 = find_host(conf, "rt02");
	sw = find_host(conf, "sw01");
	pc = find_host(conf, "pc01");
	ck_assert_uint_eq(sw->nparents, 2);
	ck_assert_ptr_eq(sw->parents[0], rt1);
	ck_assert_ptr_eq(sw->parents[1], rt2);
	ck_assert_ptr_eq(pc->parents[0], sw);
	ck_assert_uint_eq(rt1->nchildren, 1);
	ck_assert_ptr_eq(rt1->children[0], sw);
	ck_assert_uint_eq(sw->nchildren, 1);
	ck_assert_ptr_eq(sw->host_check, find_check(conf, "sw01", "tcp/22"));
	ck_assert_ptr_eq(pc->host_check, find_check(conf, "pc01", "icmp"));
	conf_free(conf);
	cfg_free(doc);
}
END_TEST

START_TEST(test_parent_loops_and_unknown_parents_are_errors)
{
	struct cfg_doc *doc;
	struct mon_conf *conf = load(
	    "templates:\n"
	    "  - {name: t, checks: [{type: icmp}]}\n"
	    "hosts:\n"
	    "  - {name: a, address: 127.0.0.1, use: t, parents: [c]}\n"
	    "  - {name: b, address: 127.0.0.1, use: t, parents: [a]}\n"
	    "  - {name: c, address: 127.0.0.1, use: t, parents: [x, b]}\n"
	    "  - {name: d, address: 127.0.0.1, use: t, parents: [d]}\n"
	    "  - {name: e, address: 127.0.0.1, use: t, parents: rt01}\n"
	    "  - {name: f, address: 127.0.0.1, use: t, host_check: ping}\n",
	    &doc);

	ck_assert_ptr_null(conf);
	ck_assert_uint_eq(doc->nerrors, 5);
	assert_error(doc, 0,
	    "5:53: loop in the parents: a -> c -> b -> a (each is a parent "
	    "of the one before)");
	assert_error(doc, 1, "6:53: host 'c': parent 'x' is not a host");
	assert_error(doc, 2, "7:53: host 'd' is its own parent");
	assert_error(doc, 3,
	    "8:52: 'parents' must be a list of host names, such as "
	    "[core-rt01]");
	assert_error(doc, 4,
	    "9:55: host 'f': 'host_check' names 'ping', which is not one of "
	    "its checks");
	cfg_free(doc);
}
END_TEST

START_TEST(test_downtime_mistakes_are_reported)
{
	struct cfg_doc *doc;
	struct mon_conf *conf = load(
	    "hosts:\n"
	    "  - {name: h1, address: 127.0.0.1, checks: [{type: icmp}]}\n"
	    "downtimes:\n"
	    "  - {name: a, hosts: [h2], start: '2026-12-01 22:00', "
	    "end: '2026-12-01 21:00'}\n"
	    "  - {name: b, segments: [dmz], every: month, nth: 2, at: '25:00', "
	    "duration: 1h}\n"
	    "  - {name: c, every: week, at: '22:00', duration: 4h, "
	    "hosts: [h1], timezone: Mars/Olympus}\n",
	    &doc);

	ck_assert_ptr_null(conf);
	ck_assert_uint_eq(doc->nerrors, 8);
	assert_error(doc, 0, "4:22: downtime 'a': no host 'h2'");
	assert_error(doc, 1, "4:60: downtime 'a' ends before it starts");
	assert_error(doc, 2,
	    "5:5: downtime 'b' covers nothing: give hosts, checks or "
	    "segments");
	assert_error(doc, 3,
	    "5:26: no segment 'dmz' (core, information, finance, other)");
	assert_error(doc, 4, "5:51: 'nth' needs a 'weekday'");
	assert_error(doc, 5, "5:58: 'at' must be HH:MM, not '25:00'");
	assert_error(doc, 6, "6:5: missing required key 'weekday'");
	assert_error(doc, 7,
	    "6:78: unknown time zone 'Mars/Olympus' (such as Asia/Tokyo)");
	cfg_free(doc);
}
END_TEST

static Suite *
monitord_conf_suite(void)
{
	Suite *s = suite_create("monitord_conf");
	TCase *tc = tcase_create("load");

	tcase_add_test(tc, test_sample_config_loads);
	tcase_add_test(tc, test_good_config_fills_structs_and_defaults);
	tcase_add_test(tc, test_unknown_key_in_host_is_reported_with_position);
	tcase_add_test(tc, test_key_of_other_check_type_is_unknown);
	tcase_add_test(tc, test_wrong_type_is_reported_with_position);
	tcase_add_test(tc, test_missing_fields_are_reported_at_their_mapping);
	tcase_add_test(tc, test_missing_port_is_reported);
	tcase_add_test(tc, test_missing_hosts_is_reported);
	tcase_add_test(tc, test_broken_yaml_is_reported_with_position);
	tcase_add_test(tc, test_timeout_not_shorter_than_interval_is_an_error);
	tcase_add_test(tc, test_duplicate_host_and_check_are_errors);
	tcase_add_test(tc, test_bad_segment_and_type_list_the_choices);
	tcase_add_test(tc, test_icmp_threshold_order_is_checked);
	tcase_add_test(tc, test_bad_host_name_is_refused);
	tcase_add_test(tc, test_journal_keys_are_checked);
	tcase_add_test(tc, test_cluster_keys_are_checked);
	tcase_add_test(tc, test_shard_sets_are_parsed);
	tcase_add_test(tc, test_credentials_readable_by_others_are_refused);
	tcase_add_test(tc, test_all_errors_are_reported_not_just_the_first);
	tcase_add_test(tc, test_tcp_send_expect_and_thresholds_are_read);
	tcase_add_test(tc, test_tcp_thresholds_out_of_order_are_an_error);
	tcase_add_test(tc, test_templates_and_segment_defaults_apply);
	tcase_add_test(tc, test_template_mistakes_are_reported_where_written);
	tcase_add_test(tc, test_templates_after_hosts_are_refused);
	tcase_add_test(tc, test_segment_keys_are_checked);
	tcase_add_test(tc, test_parents_resolve_into_a_graph);
	tcase_add_test(tc, test_parent_loops_and_unknown_parents_are_errors);
	tcase_add_test(tc, test_downtime_mistakes_are_reported);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(monitord_conf_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
