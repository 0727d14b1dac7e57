/*
 * One-time acknowledgement links: a token names one notification (so the
 * person it went to) and when it expires, signed with HMAC-SHA256 under a
 * secret only incidentd holds.  It is short enough for an SMS: 6 bytes of
 * outbox row id, 4 of expiry (Unix seconds), the first 10 of the MAC, in
 * unpadded base64url: 27 characters.  Whether it was used already is the
 * database's business (ack_link_use), which makes it one-time.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "incidentd.h"

#define ACK_ID_BYTES 6
#define ACK_EXP_BYTES 4
#define ACK_MAC_BYTES 10
#define ACK_RAW_BYTES (ACK_ID_BYTES + ACK_EXP_BYTES + ACK_MAC_BYTES)

static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* The MAC of the id and expiry bytes, cut to ACK_MAC_BYTES. */
static int
acklink_mac(const char *secret, const unsigned char *msg, size_t len,
    unsigned char *out)
{
	unsigned char full[EVP_MAX_MD_SIZE];
	unsigned int flen = 0;

	if (HMAC(EVP_sha256(), secret, (int)strlen(secret), msg, len, full,
		&flen) == NULL ||
	    flen < ACK_MAC_BYTES)
		return -1;
	memcpy(out, full, ACK_MAC_BYTES);
	OPENSSL_cleanse(full, sizeof(full));
	return 0;
}

/*
 * Writes the token for a notification row, valid until expires, into out
 * (ACK_TOKEN_LEN + 1 bytes at least).  Returns -1 if the id does not fit
 * in 48 bits, the expiry in 32, or HMAC fails.
 */
int
acklink_make(const char *secret, uint64_t id, time_t expires, char *out,
    size_t len)
{
	unsigned char raw[ACK_RAW_BYTES];
	uint32_t bits = 0;
	size_t n = 0, o = 0;
	int have = 0;

	if (len < ACK_TOKEN_LEN + 1 || id >= (1ULL << 48) || expires < 0 ||
	    (uint64_t)expires > UINT32_MAX)
		return -1;
	for (int i = 0; i < ACK_ID_BYTES; i++)
		raw[i] = (unsigned char)(id >> (8 * (ACK_ID_BYTES - 1 - i)));
	for (int i = 0; i < ACK_EXP_BYTES; i++)
		raw[ACK_ID_BYTES + i] = (unsigned char)((uint64_t)expires >>
		    (8 * (ACK_EXP_BYTES - 1 - i)));
	if (acklink_mac(secret, raw, ACK_ID_BYTES + ACK_EXP_BYTES,
		raw + ACK_ID_BYTES + ACK_EXP_BYTES) == -1)
		return -1;
	for (n = 0; n < ACK_RAW_BYTES; n++) {
		bits = (bits << 8) | raw[n];
		have += 8;
		while (have >= 6) {
			have -= 6;
			out[o++] = b64url[(bits >> have) & 63];
		}
	}
	if (have > 0)
		out[o++] = b64url[(bits << (6 - have)) & 63];
	out[o] = '\0';
	return 0;
}

/*
 * Reads a token.  Returns ACK_OK with the row id and expiry, or why it is
 * refused: ACK_MALFORMED (not a token at all), ACK_FORGED (the signature
 * does not match), ACK_EXPIRED.  The signature is compared in constant
 * time, and checked before the expiry is believed.
 */
enum ack_check
acklink_check(const char *secret, const char *token, time_t now, uint64_t *id,
    time_t *expires)
{
	unsigned char raw[ACK_RAW_BYTES + 1], mac[ACK_MAC_BYTES];
	uint32_t bits = 0;
	size_t n = 0, len;
	uint64_t exp = 0;
	int have = 0;

	if (token == NULL || (len = strlen(token)) != ACK_TOKEN_LEN)
		return ACK_MALFORMED;
	for (size_t i = 0; i < len; i++) {
		const char *p = strchr(b64url, token[i]);

		if (token[i] == '\0' || p == NULL)
			return ACK_MALFORMED;
		bits = (bits << 6) | (uint32_t)(p - b64url);
		have += 6;
		if (have >= 8) {
			have -= 8;
			if (n < sizeof(raw))
				raw[n++] = (unsigned char)(bits >> have);
		}
	}
	/* the spare low bits of the last character must be zero */
	if (n != ACK_RAW_BYTES || (bits & ((1u << have) - 1)) != 0)
		return ACK_MALFORMED;
	if (acklink_mac(secret, raw, ACK_ID_BYTES + ACK_EXP_BYTES, mac) == -1 ||
	    CRYPTO_memcmp(mac, raw + ACK_ID_BYTES + ACK_EXP_BYTES,
		ACK_MAC_BYTES) != 0)
		return ACK_FORGED;
	*id = 0;
	for (int i = 0; i < ACK_ID_BYTES; i++)
		*id = (*id << 8) | raw[i];
	for (int i = 0; i < ACK_EXP_BYTES; i++)
		exp = (exp << 8) | raw[ACK_ID_BYTES + i];
	*expires = (time_t)exp;
	if ((time_t)exp < now)
		return ACK_EXPIRED;
	return ACK_OK;
}
