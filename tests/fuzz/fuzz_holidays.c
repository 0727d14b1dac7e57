/*
 * libFuzzer target: a holiday file for incidentctl holidays import, in
 * UTF-8 or Shift_JIS.  What is accepted must be well-formed.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "incidentd.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	size_t n;
	struct holiday *h;

	h = holidays_parse((const char *)data, size, &n, err, sizeof(err));
	for (size_t i = 0; h != NULL && i < n; i++)
		if (strlen(h[i].day) != 10 || h[i].name[0] == '\0' ||
		    strchr(h[i].name, ',') != NULL)
			__builtin_trap();
	if (h == NULL && strlen(err) >= sizeof(err))
		__builtin_trap();
	free(h);
	return 0;
}
