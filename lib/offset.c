/* offset.c: fixed-width offsets and their parsing. */
#include <stdio.h>
#include <string.h>

#include "sess.h"

void
sess_offset_fmt(int64_t seq, char *out)
{
	snprintf(out, SESS_OFFSET_LEN + 1, "%0*lld", SESS_OFFSET_LEN,
	    (long long)seq);
}

int
sess_offset_parse(const char *s, int *kind, int64_t *seq, struct sess_err *e)
{
	size_t i, n;
	int64_t v = 0;

	if (strcmp(s, "-1") == 0) {
		*kind = SESS_OFF_START;
		*seq = 0;
		return 0;
	}
	if (strcmp(s, "now") == 0) {
		*kind = SESS_OFF_NOW;
		*seq = 0;
		return 0;
	}
	n = strlen(s);
	if (n == 0)
		return sess_err_set(e, SESS_EINVAL, "empty offset");
	if (s[0] == '-')
		return sess_err_set(e, SESS_EINVAL,
		    "offset '%.40s': negative (only -1 means the start)", s);
	if (n > SESS_OFFSET_LEN)
		return sess_err_set(e, SESS_EINVAL,
		    "offset '%.40s': longer than %d digits", s,
		    SESS_OFFSET_LEN);
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return sess_err_set(e, SESS_EINVAL,
			    "offset '%.40s': not -1, now, an offset or a "
			    "sequence number", s);
		v = v * 10 + (s[i] - '0');
	}
	*kind = SESS_OFF_SEQ;
	*seq = v;
	return 0;
}
