/*
 * The names of the check kinds: a check's "type:" in the config (the
 * implicit agent check is "snmp"), and its kind in the journal, the API
 * and the metrics.
 */
#include "config.h"

#include "monitord.h"

/* By enum check_kind. */
static const char *const check_kind_names[] = { "icmp", "tcp", "snmp",
	"sysuptime", "interfaces", "storage", "cpu", "oid", "plugin", "passive",
	NULL };

const char *
check_kind_str(enum check_kind kind)
{
	if ((unsigned)kind >= CHECK_KIND_COUNT)
		return "?";
	return check_kind_names[kind];
}
