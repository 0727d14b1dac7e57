/*
 * libFuzzer target: the SNMP receive path.  A datagram from a known agent
 * with a request in flight goes through the engine exactly as one read from
 * the shared socket would: the framing check, net-snmp's parser for the
 * agent's session (community or USM, PDU, varbinds) and our conversion of
 * what it returns.  Another copy arrives from an unknown source and must
 * only be counted.
 */
#include "config.h"

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "log.h"
#include "monitord.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
fuzz_cb(const struct snmp_response *r, void *arg)
{
	(void)r;
	(void)arg;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct event_base *base;
	static struct snmp_engine *engine;
	static struct snmp_agent *agents[2];
	static struct sockaddr_in peers[2], stranger;
	static struct snmp_cred v2c = { .name = (char *)"f2",
		.version = SNMP_VERSION_V2C,
		.community = (char *)"public" };
	static struct snmp_cred v1 = { .name = (char *)"f1",
		.version = SNMP_VERSION_V1,
		.community = (char *)"public" };
	long version;

	if (base == NULL) {
		struct snmp_oid oid;

		log_init("fuzz", 0, LOG_LEVEL_ERROR);
		base = event_base_new();
		engine = snmp_engine_new(base);
		snmp_oid_parse("1.3.6.1.2.1.1.3.0", &oid);
		for (int i = 0; i < 2; i++) {
			peers[i].sin_family = AF_INET;
			/* Loopback only; nothing listens there, and the loop
			 * never runs, so the request stays in flight. */
			peers[i].sin_addr.s_addr = htonl(0x7f000001);
			peers[i].sin_port = htons((uint16_t)(9 + i));
			agents[i] = snmp_agent_new(engine,
			    (struct sockaddr *)&peers[i], sizeof(peers[i]),
			    i == 0 ? &v2c : &v1, 60000, 0);
			snmp_agent_get(agents[i], &oid, 1, fuzz_cb, NULL);
		}
		stranger = peers[0];
		stranger.sin_port = htons(7);
	}
	snmp_ber_packet_check(data, size, &version);
	for (int i = 0; i < 2; i++)
		snmp_engine_input(engine, data, size,
		    (struct sockaddr *)&peers[i], sizeof(peers[i]));
	snmp_engine_input(engine, data, size, (struct sockaddr *)&stranger,
	    sizeof(stranger));
	return 0;
}
