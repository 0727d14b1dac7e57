/*
 * libFuzzer target: the outage journal's reader, over whatever bytes a
 * crash, a full disk or a stray write may have left, and the split of each
 * change it accepts.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>

#include "log.h"
#include "monitord.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
fuzz_journal_cb(int type, uint64_t seq, const char *p, size_t len, void *arg)
{
	const char *host, *check, *json;
	size_t jlen, *total = arg;

	(void)seq;
	if (type == JOURNAL_CHANGE &&
	    journal_change_split(p, len, &host, &check, &json, &jlen) == 0)
		*total += jlen + (size_t)(check - host);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct journal_parse_stats st;
	size_t total = 0, n;

	log_init("fuzz", 0, LOG_LEVEL_ERROR);
	n = journal_parse(data, size, fuzz_journal_cb, &total, &st);
	if (st.skipped > size || total > size || n > size / 20)
		__builtin_trap();
	return 0;
}
