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
const char *const *conf_check_type_names(void);
int conf_check_name_ok(const char *);
void conf_check_keys(struct cfg_doc *, const struct cfg_node *, const char *,
    const char *const[]);
struct mon_check *conf_check_load(struct cfg_doc *, const struct cfg_node *,
    struct mon_host *, const struct cfg_node *);
void conf_check_segments(struct cfg_doc *, const struct cfg_node *);

/* conf_snmp.c */
void conf_snmp_cred_free(struct snmp_cred *);
void
conf_snmp_load(struct cfg_doc *, const struct cfg_node *, struct mon_conf *);
void conf_snmp_host_load(struct cfg_doc *, const struct cfg_node *,
    struct mon_host *);
void conf_snmp_agent_check_add(struct mon_conf *, struct mon_host *,
    const struct cfg_node *);
void conf_snmp_resolve(struct cfg_doc *, struct mon_conf *);

/* conf_host.c */
void conf_host_free(struct mon_host *);
void conf_host_topology_resolve(struct cfg_doc *, struct mon_conf *);
struct mon_host *conf_host_named(const struct mon_conf *, const char *);
void conf_host_hook(struct cfg_doc *, const struct cfg_node *, void *);

/* conf_downtime.c */
void conf_downtime_load(struct cfg_doc *, const struct cfg_node *,
    struct mon_conf *);

#endif
