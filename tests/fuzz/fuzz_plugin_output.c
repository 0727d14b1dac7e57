/*
 * libFuzzer target: whatever a plugin prints.  The summary, the long
 * output and every item of performance data must come out bounded and
 * NUL-terminated, and nothing may crash.
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
	struct plugin_output po;

	if (size > PLUGIN_OUTPUT_MAX)
		size = PLUGIN_OUTPUT_MAX;
	plugin_output_parse((const char *)data, size, &po);
	if (strlen(po.summary) > size || strlen(po.long_output) > size ||
	    po.nperf > PLUGIN_PERF_MAX)
		__builtin_trap();
	for (size_t i = 0; i < po.nperf; i++)
		if (strlen(po.perf[i].label) >= PLUGIN_LABEL_MAX ||
		    po.perf[i].label[0] == '\0' ||
		    strlen(po.perf[i].uom) >= sizeof(po.perf[i].uom))
			__builtin_trap();
	plugin_output_free(&po);
	return 0;
}
