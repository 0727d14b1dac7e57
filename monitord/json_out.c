/*
 * JSON text written into an evbuffer: monitord's journal lines, its
 * change batches and its API answers.
 */
#include "config.h"

#include <stdlib.h>

#include "monitord.h"
#include "text.h"
#include "xmalloc.h"

/*
 * Appends s to buf as a JSON string.  Bytes that are not valid UTF-8, and
 * control characters other than newline and tab (which are escaped),
 * become '?': PostgreSQL refuses invalid UTF-8, and one bad banner must
 * not cost the whole batch.
 */
void
json_out_string(struct evbuffer *buf, const char *s)
{
	char *clean = xstrdup(s);

	text_clean_lines(clean);
	evbuffer_add(buf, "\"", 1);
	for (const char *p = clean; *p != '\0'; p++) {
		if (*p == '\n')
			evbuffer_add(buf, "\\n", 2);
		else if (*p == '\t')
			evbuffer_add(buf, "\\t", 2);
		else {
			if (*p == '"' || *p == '\\')
				evbuffer_add(buf, "\\", 1);
			evbuffer_add(buf, p, 1);
		}
	}
	evbuffer_add(buf, "\"", 1);
	free(clean);
}
