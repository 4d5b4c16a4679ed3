/* base64.c: base64 (RFC 4648, 4) and base64url (5), both ways. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sess.h"

int
sess_base64(struct sess_buf *out, const void *data, size_t n, int url)
{
	static const char std[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	static const char web[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	const unsigned char *p = data;
	const char *a = url ? web : std;
	char q[4];
	size_t i, k;
	uint32_t v;

	for (i = 0; i < n; i += 3) {
		v = (uint32_t)p[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		q[0] = a[v >> 18 & 63];
		q[1] = a[v >> 12 & 63];
		q[2] = i + 1 < n ? a[v >> 6 & 63] : '=';
		q[3] = i + 2 < n ? a[v & 63] : '=';
		/* base64url goes without padding. */
		k = url ? (i + 2 < n ? 4 : i + 1 < n ? 3 : 2) : 4;
		if (sess_buf_add(out, q, k) != 0)
			return SESS_ENOMEM;
	}
	return 0;
}

char *
sess_b64url_encode(const unsigned char *p, size_t n)
{
	struct sess_buf b;

	sess_buf_init(&b, n / 3 * 4 + 5);
	if (sess_base64(&b, p, n, 1) != 0 || sess_buf_add(&b, "", 1) != 0) {
		sess_buf_release(&b);
		return NULL;
	}
	return b.p;
}

static int
b64url_value(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

long
sess_b64url_decode_n(const char *s, size_t len, unsigned char *out,
    size_t max, int strict)
{
	size_t i, n = 0;
	uint32_t acc = 0;
	int d, bits = 0;

	/* Padding is tolerated at the end only, as browsers never send it. */
	while (!strict && len > 0 && s[len - 1] == '=')
		len--;
	if (len % 4 == 1)
		return -1;
	for (i = 0; i < len; i++) {
		if ((d = b64url_value((unsigned char)s[i])) < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)d;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n == max)
				return -1;
			out[n++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	/* Leftover bits (2 or 4) must be zero: one encoding per string. */
	if (acc != 0)
		return -1;
	return (long)n;
}

long
sess_b64url_decode(const char *s, unsigned char *out, size_t max)
{
	return sess_b64url_decode_n(s, strlen(s), out, max, 0);
}
