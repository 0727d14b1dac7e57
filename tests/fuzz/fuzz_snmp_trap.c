/*
 * libFuzzer target: the trap decoder (the datagram an attacker on the
 * management network controls first), its inform acknowledgement and the
 * JSON of its varbinds.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "log.h"
#include "monitord.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const communities[] = { "public" };
	struct snmp_trap t;
	uint8_t ack[65536];
	size_t acklen = sizeof(ack);
	const char *why;

	log_init("fuzz", 0, LOG_LEVEL_ERROR);
	if (snmp_trap_decode(data, size, communities, 1, &t, ack, &acklen,
		&why) == 0) {
		free(snmp_trap_varbinds_json(&t));
		snmp_trap_clear(&t);
	}
	acklen = sizeof(ack);
	if (snmp_trap_decode(data, size, NULL, 0, &t, ack, &acklen, &why) == 0)
		snmp_trap_clear(&t);
	return 0;
}
