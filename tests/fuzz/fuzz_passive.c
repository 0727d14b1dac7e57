/*
 * libFuzzer target: the body of a passive result (POST /api/v1/results),
 * as anyone who can reach the listener may send it.
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
	struct passive_req req;
	char err[256];

	if (passive_parse((const char *)data, size, &req, err, sizeof(err)) ==
	    0) {
		if (req.host == NULL || req.check == NULL || req.status < 0 ||
		    req.status > 3 || req.output == NULL ||
		    req.output_len > PLUGIN_OUTPUT_MAX)
			__builtin_trap();
	} else if (strlen(err) >= sizeof(err)) {
		__builtin_trap();
	}
	passive_req_free(&req);
	return 0;
}
