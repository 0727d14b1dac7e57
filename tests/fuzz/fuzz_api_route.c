/*
 * libFuzzer target: the path of an API request, as anyone who can reach
 * incidentd's listener may send it (the first byte picks GET or POST).
 * A path matches at most as a route of the method, and the arguments it
 * gives are strings that came from the path's segments.
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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int cmd, allow, route;
	const char *key;
	json_t *args, *v;
	char *path;

	if (size < 1)
		return 0;
	cmd = data[0] & 1 ? EVHTTP_REQ_POST : EVHTTP_REQ_GET;
	if ((path = malloc(size)) == NULL)
		return 0;
	memcpy(path, data + 1, size - 1);
	path[size - 1] = '\0';
	route = api_route_find(cmd, path, &allow);
	if (route != -1 &&
	    !(allow & (cmd == EVHTTP_REQ_GET ? API_ALLOW_GET : API_ALLOW_POST)))
		__builtin_trap();
	if (route != -1 && (args = json_object()) != NULL) {
		if (api_route_args(route, path, args) == 0)
			json_object_foreach(args, key, v)
			{
				if (!json_is_string(v) ||
				    json_string_length(v) == 0 ||
				    json_string_length(v) > 600)
					__builtin_trap();
			}
		json_decref(args);
	}
	free(path);
	return 0;
}
