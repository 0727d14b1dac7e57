/*
 * The municipality's network segments: their names in the config, the
 * journal and the metrics.
 */
#include "config.h"

#include "monitord.h"

const char *const segment_names[] = { "core", "information", "finance", "other",
	NULL };

const char *
segment_str(enum mon_segment segment)
{
	if ((unsigned)segment > SEGMENT_OTHER)
		return "?";
	return segment_names[segment];
}
