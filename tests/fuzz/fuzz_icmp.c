/*
 * libFuzzer target: ICMP reply parsing, with and without an IP header, and
 * the matcher of the engine fed from a plausible source.
 */
#include "config.h"

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "log.h"
#include "monitord.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct event_base *base;
	static struct probe_icmp *icmp;
	struct icmp_packet pkt;
	struct sockaddr_in from;

	log_init("fuzz", 0, LOG_LEVEL_ERROR);
	if (base == NULL) {
		base = event_base_new();
		/* No sockets: the matcher alone. */
		icmp = probe_icmp_new_kind(base, ICMP_SOCK_NONE);
	}
	icmp_packet_parse(data, size, AF_INET, ICMP_PACKET_IPHDR, &pkt);
	icmp_packet_parse(data, size, AF_INET, 0, &pkt);
	icmp_packet_parse(data, size, AF_INET6, 0, &pkt);
	memset(&from, 0, sizeof(from));
	from.sin_family = AF_INET;
	from.sin_addr.s_addr = htonl(0x7f000001);
	probe_icmp_handle_reply(icmp, AF_INET, data, size,
	    (struct sockaddr *)&from, 0);
	return 0;
}
