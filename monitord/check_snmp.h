/*
 * What the SNMP checks (check_snmp.c) share with the trap matcher
 * (snmp_trap_match.c): an interfaces check's rows, which a linkDown or
 * linkUp trap sets the state of.  Private to monitord/.
 */
#ifndef MONITORD_CHECK_SNMP_H
#define MONITORD_CHECK_SNMP_H

#include <stddef.h>
#include <stdint.h>

#include "monitord.h"

struct check_snmp_req;

/* One interface as last seen. */
struct snmp_if {
	uint32_t index;
	char *name; /* ifName, else ifDescr */
	char *alias; /* ifAlias */
	int selected;
	int seen; /* in the last walk */
	struct check_state state;
	char *check_name; /* "if:<name>" */
	int admin, oper;
	int has_hc; /* the 64-bit counters answer */
	uint64_t speed_bps;
	uint64_t in, out, in_err, out_err, disc;
	uint64_t at_us; /* real time of the counters above */
	int have_prev;
};

/* The run time of an SNMP check. */
struct snmp_check_rt {
	uint64_t last_ticks, last_us;
	int have_uptime;
	struct snmp_if *ifs;
	size_t nifs;
	unsigned polls;
	struct check_snmp_req *req; /* the request this check waits for */
};

#endif
