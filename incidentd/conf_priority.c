/*
 * Priorities as incidentd.yaml lists them (escalation, SMS, after hours).
 */
#include "config.h"

#include <stdlib.h>

#include "cfg.h"
#include "incidentd.h"
#include "xmalloc.h"

/*
 * A list of priorities (1-5 or P1-P5) as "1,2" for the SQL functions;
 * NULL when there is no list.
 */
char *
conf_priority_list(struct cfg_doc *doc, const struct cfg_node *seq)
{
	char *out, *next;
	const char *s;

	if (seq == NULL)
		return NULL;
	out = xstrdup("");
	for (size_t i = 0; i < seq->n; i++) {
		if (cfg_node_str(doc, seq->items[i], "a priority", &s) == -1)
			continue;
		if (s[0] == 'P' || s[0] == 'p')
			s++;
		if (s[0] < '1' || s[0] > '5' || s[1] != '\0') {
			cfg_error(doc, seq->items[i],
			    "a priority is 1-5 (or P1-P5)");
			continue;
		}
		next = xasprintf("%s%s%s", out, *out ? "," : "", s);
		free(out);
		out = next;
	}
	return out;
}
