/*
 * What the parts of monitord.yaml's reader share (conf_check.c,
 * conf_snmp.c, conf_host.c, conf_downtime.c, and conf.c on top, which
 * reads the whole file).  Private to monitord/.
 */
#ifndef MONITORD_CONF_PARTS_H
#define MONITORD_CONF_PARTS_H

#include <stdint.h>

#include "cfg.h"
#include "monitord.h"

#define MS_MIN 10ULL
#define MS_DAY CHECK_MS_DAY

/* conf_check.c */
/* The keys every check may have, and that defaults and segments set. */
extern const char *const mon_check_common_keys[];
const char *const *mon_check_type_names(void);
int mon_name_ok(const char *);
void mon_check_keys(struct cfg_doc *, const struct cfg_node *, const char *,
    const char *const[]);
struct mon_check *mon_check_load(struct cfg_doc *, const struct cfg_node *,
    struct mon_host *, const struct cfg_node *);
void mon_segments_check(struct cfg_doc *, const struct cfg_node *);

/* conf_snmp.c */
void mon_cred_free(struct snmp_cred *);
void
mon_snmp_load(struct cfg_doc *, const struct cfg_node *, struct mon_conf *);
void mon_host_snmp_load(struct cfg_doc *, const struct cfg_node *,
    struct mon_host *);
void mon_agent_check_add(struct mon_conf *, struct mon_host *,
    const struct cfg_node *);
void mon_snmp_resolve(struct cfg_doc *, struct mon_conf *);

/* conf_host.c */
void mon_host_free(struct mon_host *);
void mon_topology_resolve(struct cfg_doc *, struct mon_conf *);
struct mon_host *mon_host_named(const struct mon_conf *, const char *);
void mon_host_hook(struct cfg_doc *, const struct cfg_node *, void *);

/* conf_downtime.c */
void mon_downtimes_load(struct cfg_doc *, const struct cfg_node *,
    struct mon_conf *);

#endif
