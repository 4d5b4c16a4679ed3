/* sessd-query.c: percent-decoding and the parameters of a request's query. */
#include <string.h>

#include "sessd.h"

/*
 * Percent-decodes p[0..n) into out (size bytes with room for a NUL);
 * '+' is a space when plus is set.  Returns the length, or -1 for a bad
 * escape or no room.  The result may hold NUL bytes.
 */
long
pct_decode(const char *p, size_t n, char *out, size_t size, int plus)
{
	size_t i, k = 0;
	int h, l;

	for (i = 0; i < n; i++) {
		if (k + 1 >= size)
			return -1;
		if (p[i] == '%') {
			if (i + 2 >= n)
				return -1;
			if ((h = sess_http_hexval((unsigned char)p[i + 1])) < 0 ||
			    (l = sess_http_hexval((unsigned char)p[i + 2])) < 0)
				return -1;
			out[k++] = (char)(h * 16 + l);
			i += 2;
		} else if (p[i] == '+' && plus) {
			out[k++] = ' ';
		} else {
			out[k++] = p[i];
		}
	}
	out[k] = '\0';
	return (long)k;
}

int
query_get(const char *q, const char *name, char *out, size_t size)
{
	const char *p, *amp, *eq;
	char key[64];
	long kl, vl;

	for (p = q; p != NULL && *p != '\0'; p = amp ? amp + 1 : NULL) {
		amp = strchr(p, '&');
		eq = memchr(p, '=', amp ? (size_t)(amp - p) : strlen(p));
		if (eq == NULL)
			continue;
		kl = pct_decode(p, (size_t)(eq - p), key, sizeof(key), 1);
		if (kl < 0 || strcmp(key, name) != 0)
			continue;
		vl = pct_decode(eq + 1, amp ? (size_t)(amp - eq - 1) :
		    strlen(eq + 1), out, size, 1);
		return vl < 0 || (size_t)vl != strlen(out) ? -1 : 0;
	}
	return -1;
}
