/*
 * Varbinds: the engine's own copy of what net-snmp hands back, the names
 * of their value types, and OIDs to net-snmp's form.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "snmp_engine.h"
#include "xmalloc.h"

static const char *const snmp_vtype_names[] = {
	[SNMP_VT_NULL] = "NULL",
	[SNMP_VT_INTEGER] = "INTEGER",
	[SNMP_VT_UNSIGNED] = "Gauge32",
	[SNMP_VT_COUNTER32] = "Counter32",
	[SNMP_VT_COUNTER64] = "Counter64",
	[SNMP_VT_TIMETICKS] = "TimeTicks",
	[SNMP_VT_STRING] = "OCTET STRING",
	[SNMP_VT_OID] = "OBJECT IDENTIFIER",
	[SNMP_VT_IPADDRESS] = "IpAddress",
	[SNMP_VT_NOSUCHOBJECT] = "noSuchObject",
	[SNMP_VT_NOSUCHINSTANCE] = "noSuchInstance",
	[SNMP_VT_ENDOFMIBVIEW] = "endOfMibView",
	[SNMP_VT_OTHER] = "other",
};

/* Names a value type for messages. */
const char *
snmp_vb_vtype_str(enum snmp_vtype type)
{
	if ((unsigned)type > SNMP_VT_OTHER)
		return "unknown";
	return snmp_vtype_names[type];
}

/* Frees the varbinds net-snmp's callback converted. */
void
snmp_vb_free(struct snmp_varbind *vb, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(vb[i].str);
	free(vb);
}

/* Copies a net-snmp OID; sub-identifiers past ours are cut. */
static void
snmp_vb_oid_from_netsnmp(struct snmp_oid *dst, const oid *src, size_t len)
{
	size_t i;

	if (src == NULL)
		len = 0;
	if (len > SNMP_OID_MAX)
		len = SNMP_OID_MAX;
	for (i = 0; i < len; i++)
		dst->n[i] = (uint32_t)src[i];
	dst->len = len;
}

/* An empty varbind for oid. */
void
snmp_vb_init(struct snmp_varbind *vb, const struct snmp_oid *oid)
{
	vb->type = SNMP_VT_NULL;
	vb->i = 0;
	vb->u = 0;
	vb->str = NULL;
	vb->str_len = 0;
	vb->oidval.len = 0;
	if (oid != NULL)
		snmp_oid_copy(&vb->oid, oid);
	else
		vb->oid.len = 0;
}

/* Moves src's value (not its OID) into dst; src keeps no string. */
void
snmp_vb_move(struct snmp_varbind *dst, struct snmp_varbind *src)
{
	dst->type = src->type;
	dst->i = src->i;
	dst->u = src->u;
	dst->str = src->str;
	dst->str_len = src->str_len;
	snmp_oid_copy(&dst->oidval, &src->oidval);
	src->str = NULL;
	src->str_len = 0;
}

/* Copies bytes into a NUL-terminated string of the varbind. */
static void
snmp_vb_set_string(struct snmp_varbind *vb, const u_char *s, size_t len)
{
	vb->str = xmalloc(len + 1);
	if (len > 0 && s != NULL)
		memcpy(vb->str, s, len);
	else
		len = 0;
	vb->str[len] = '\0';
	vb->str_len = len;
}

/* Converts one of net-snmp's varbinds. */
void
snmp_vb_convert(struct snmp_varbind *vb, const netsnmp_variable_list *v)
{
	snmp_vb_init(vb, NULL);
	snmp_vb_oid_from_netsnmp(&vb->oid, v->name, v->name_length);
	switch (v->type) {
	case ASN_NULL:
		vb->type = SNMP_VT_NULL;
		break;
	case ASN_INTEGER:
		vb->type = SNMP_VT_INTEGER;
		if (v->val.integer != NULL)
			vb->i = *v->val.integer;
		break;
	case ASN_GAUGE: /* also Unsigned32 */
		vb->type = SNMP_VT_UNSIGNED;
		if (v->val.integer != NULL)
			vb->u = (uint32_t)*v->val.integer;
		break;
	case ASN_COUNTER:
		vb->type = SNMP_VT_COUNTER32;
		if (v->val.integer != NULL)
			vb->u = (uint32_t)*v->val.integer;
		break;
	case ASN_TIMETICKS:
		vb->type = SNMP_VT_TIMETICKS;
		if (v->val.integer != NULL)
			vb->u = (uint32_t)*v->val.integer;
		break;
	case ASN_COUNTER64:
		vb->type = SNMP_VT_COUNTER64;
		if (v->val.counter64 != NULL)
			vb->u =
			    ((uint64_t)(uint32_t)v->val.counter64->high << 32) |
			    (uint32_t)v->val.counter64->low;
		break;
	case ASN_OCTET_STR:
		vb->type = SNMP_VT_STRING;
		snmp_vb_set_string(vb, v->val.string, v->val_len);
		break;
	case ASN_OBJECT_ID:
		vb->type = SNMP_VT_OID;
		snmp_vb_oid_from_netsnmp(&vb->oidval, v->val.objid,
		    v->val_len / sizeof(oid));
		break;
	case ASN_IPADDRESS:
		vb->type = SNMP_VT_IPADDRESS;
		if (v->val.string != NULL && v->val_len == 4)
			vb->u = (uint64_t)v->val.string[0] << 24 |
			    (uint64_t)v->val.string[1] << 16 |
			    (uint64_t)v->val.string[2] << 8 | v->val.string[3];
		break;
	case SNMP_NOSUCHOBJECT:
		vb->type = SNMP_VT_NOSUCHOBJECT;
		break;
	case SNMP_NOSUCHINSTANCE:
		vb->type = SNMP_VT_NOSUCHINSTANCE;
		break;
	case SNMP_ENDOFMIBVIEW:
		vb->type = SNMP_VT_ENDOFMIBVIEW;
		break;
	default:
		/* Opaque, floats, NsapAddress...: the raw bytes. */
		vb->type = SNMP_VT_OTHER;
		snmp_vb_set_string(vb, v->val.string, v->val_len);
		break;
	}
}

/* Converts one of our OIDs for net-snmp. */
size_t
snmp_vb_oid_to_netsnmp(const struct snmp_oid *src, oid *dst)
{
	size_t i;

	for (i = 0; i < src->len; i++)
		dst[i] = src->n[i];
	return src->len;
}