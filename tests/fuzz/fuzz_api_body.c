/*
 * libFuzzer target: what a client sends to a route of the API besides its
 * path, the query string and the JSON body, merged into the arguments of
 * api_call() the way api.c does.  Input: a flags byte (bit 0: POST, bit
 * 1: an empty body is {}), then path, query, Content-Type and body,
 * separated by NUL bytes.  Whatever comes in, the arguments stay one JSON
 * object, the path's fields win, and the dump reads back.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <jansson.h>

#include "incidentd.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* The next NUL-terminated field of the input, or the rest. */
static const char *
fuzz_field(const char **p, const char *end, size_t *len)
{
	const char *start = *p,
		   *nul = memchr(start, '\0', (size_t)(end - start));

	*len = (size_t)((nul != NULL ? nul : end) - start);
	*p = nul != NULL ? nul + 1 : end;
	return start;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p, *end, *path, *query, *type, *body, *why;
	size_t plen, qlen, tlen, blen;
	char *cpath, *cquery, *ctype, *dump, reason[200];
	json_t *args, *in = NULL, *back;
	int cmd, allow, route, status;

	if (size < 1)
		return 0;
	cmd = data[0] & 1 ? EVHTTP_REQ_POST : EVHTTP_REQ_GET;
	p = (const char *)data + 1;
	end = (const char *)data + size;
	path = fuzz_field(&p, end, &plen);
	query = fuzz_field(&p, end, &qlen);
	type = fuzz_field(&p, end, &tlen);
	body = p;
	blen = (size_t)(end - p);
	cpath = strndup(path, plen);
	cquery = strndup(query, qlen);
	ctype = strndup(type, tlen);
	args = json_object();
	if (cpath == NULL || cquery == NULL || ctype == NULL || args == NULL)
		goto out;
	route = api_route_find(cmd, cpath, &allow);
	if (route != -1 && api_route_args(route, cpath, args) == -1)
		goto out;
	back = json_deep_copy(args);
	if (cmd == EVHTTP_REQ_POST) {
		status = api_body_parse(tlen > 0 ? ctype : NULL, body, blen,
		    data[0] & 2, &in, reason, sizeof(reason));
		if ((status == 0) != (in != NULL) ||
		    (status != 0 && status != 400 && status != 413 &&
			status != 415) ||
		    (in != NULL && !json_is_object(in)))
			__builtin_trap();
		if (in != NULL)
			json_object_update_missing(args, in);
	} else if (api_query_merge(args, cquery, &why) == -1 && why == NULL)
		__builtin_trap();
	/* The path's fields are as the path gave them. */
	if (back != NULL) {
		const char *key;
		json_t *v;

		json_object_foreach(back, key, v)
		{
			if (!json_equal(v, json_object_get(args, key)))
				__builtin_trap();
		}
		json_decref(back);
	}
	if ((dump = json_dumps(args, JSON_COMPACT)) != NULL) {
		json_t *again = json_loads(dump, 0, NULL);

		if (again == NULL || !json_is_object(again))
			__builtin_trap();
		json_decref(again);
		free(dump);
	}
out:
	json_decref(in);
	json_decref(args);
	free(cpath);
	free(cquery);
	free(ctype);
	return 0;
}
