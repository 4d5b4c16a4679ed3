/* base64.c: base64 (RFC 4648, 4) and base64url (5) encoding. */
#include <stdint.h>

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
