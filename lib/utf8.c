/* utf8.c: UTF-8 validation, with incomplete trailing sequences held back. */
#include "sess.h"

/* Length of the sequence a lead byte starts, or 0 if it cannot lead. */
static int
seqlen(unsigned char c)
{
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return 2;
	if (c >= 0xe0 && c <= 0xef)
		return 3;
	if (c >= 0xf0 && c <= 0xf4)
		return 4;
	return 0;
}

size_t
sess_utf8_prefix(const unsigned char *p, size_t n, long *bad)
{
	size_t i = 0, j;
	int len;

	*bad = -1;
	while (i < n) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		if ((len = seqlen(p[i])) == 0) {
			*bad = (long)i;
			return i;
		}
		for (j = 1; j < (size_t)len; j++) {
			unsigned char lo = 0x80, hi = 0xbf;

			if (i + j >= n)
				return i; /* incomplete: wait for more */
			/* Overlongs, surrogates and values past U+10FFFF. */
			if (j == 1 && p[i] == 0xe0)
				lo = 0xa0;
			else if (j == 1 && p[i] == 0xed)
				hi = 0x9f;
			else if (j == 1 && p[i] == 0xf0)
				lo = 0x90;
			else if (j == 1 && p[i] == 0xf4)
				hi = 0x8f;
			if (p[i + j] < lo || p[i + j] > hi) {
				*bad = (long)i;
				return i;
			}
		}
		i += (size_t)len;
	}
	return i;
}
