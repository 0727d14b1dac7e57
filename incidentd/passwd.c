/*
 * Password hashes for the console's users: yescrypt through libcrypt
 * (libxcrypt), with a fresh salt from the system's random source.  Only
 * hashes are stored; a password is compared by hashing it with the stored
 * setting, in time that does not depend on where the two differ.
 */
#include "config.h"

#include <crypt.h>
#include <stdlib.h>
#include <string.h>

#include "incidentd.h"
#include "xmalloc.h"

/* Returns the yescrypt hash of pw, or NULL if libcrypt fails. */
char *
passwd_hash(const char *pw)
{
	char *salt, *out = NULL;
	void *data = NULL;
	int size = 0;
	const char *h;

	if ((salt = crypt_gensalt_ra("$y$", 0, NULL, 0)) == NULL)
		return NULL;
	h = crypt_ra(pw, salt, &data, &size);
	if (h != NULL && h[0] == '$')
		out = xstrdup(h);
	free(salt);
	if (data != NULL) {
		explicit_bzero(data, (size_t)size);
		free(data);
	}
	return out;
}

/* Whether pw matches a stored hash; 0 for any malformed hash. */
int
passwd_verify(const char *pw, const char *hash)
{
	void *data = NULL;
	int size = 0, same = 0;
	const char *h;

	if (hash == NULL || hash[0] != '$')
		return 0;
	h = crypt_ra(pw, hash, &data, &size);
	if (h != NULL && h[0] == '$' && strlen(h) == strlen(hash)) {
		unsigned char d = 0;

		for (size_t i = 0; hash[i] != '\0'; i++)
			d |= (unsigned char)(h[i] ^ hash[i]);
		same = d == 0;
	}
	if (data != NULL) {
		explicit_bzero(data, (size_t)size);
		free(data);
	}
	return same;
}
