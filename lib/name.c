/* name.c: stream name rules. */
#include <string.h>

#include "sess.h"

/*
 * A name is 1 to SESS_NAME_MAX bytes of UTF-8 without control
 * characters, made of '/'-separated segments none of which is empty,
 * "." or "..": it must never escape a namespace when used as a path.
 */
int
sess_name_check(const char *name, size_t len, struct sess_err *e)
{
	size_t i, seg = 0;
	long bad;

	if (len == 0)
		return sess_err_set(e, SESS_EINVAL, "empty stream name");
	if (len > SESS_NAME_MAX)
		return sess_err_set(e, SESS_EINVAL,
		    "stream name longer than %d bytes", SESS_NAME_MAX);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c < 0x20 || c == 0x7f)
			return sess_err_set(e, SESS_EINVAL,
			    "stream name has a control character at byte %zu",
			    i + 1);
	}
	if (sess_utf8_prefix((const unsigned char *)name, len, &bad) != len)
		return sess_err_set(e, SESS_EINVAL,
		    "stream name is not valid UTF-8 (byte %ld)",
		    bad < 0 ? (long)len : bad + 1);
	for (i = 0; i <= len; i++) {
		if (i < len && name[i] != '/')
			continue;
		if (i == seg)
			return sess_err_set(e, SESS_EINVAL,
			    "stream name '%.*s' has an empty segment",
			    (int)(len < 64 ? len : 64), name);
		if ((i - seg == 1 && name[seg] == '.') ||
		    (i - seg == 2 && memcmp(name + seg, "..", 2) == 0))
			return sess_err_set(e, SESS_EINVAL,
			    "stream name '%.*s' has a '.' or '..' segment",
			    (int)(len < 64 ? len : 64), name);
		seg = i + 1;
	}
	return 0;
}
