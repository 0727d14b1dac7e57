/*
 * libFuzzer target: what a TCP server sends back: the expect matcher and
 * the banner cleaner.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "monitord.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char banner[128];
	size_t half = size / 2;

	probe_tcp_match((const char *)data, size, "SSH-", 4);
	if (half > 0)
		probe_tcp_match((const char *)data + half, size - half,
		    (const char *)data, half);
	probe_tcp_banner(banner, sizeof(banner), (const char *)data, size);
	if (strlen(banner) >= sizeof(banner))
		__builtin_trap();
	return 0;
}
