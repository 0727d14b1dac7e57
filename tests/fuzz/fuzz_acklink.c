/*
 * libFuzzer target: the token of an acknowledgement link (GET/POST
 * /a/<token>), as anyone who can reach incidentd's listener may send it.
 * Nothing but a token made with the secret may be accepted.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "incidentd.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), again[ACK_TOKEN_LEN + 1];
	uint64_t id;
	time_t exp;

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (acklink_check("fuzz-secret-0123456789", s, 0, &id, &exp) ==
	    ACK_OK) {
		/* only a token the secret made: making it again gives s */
		if (acklink_make("fuzz-secret-0123456789", id, exp, again,
			sizeof(again)) != 0 ||
		    strcmp(again, s) != 0)
			__builtin_trap();
	}
	free(s);
	return 0;
}
