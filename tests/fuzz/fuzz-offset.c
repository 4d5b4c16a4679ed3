/* fuzz-offset.c: the offset, stream name, time and UTF-8 parsers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sess.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[SESS_OFFSET_LEN + 1], *s;
	struct sess_err e;
	int64_t seq, us;
	long bad;
	int kind;

	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (sess_offset_parse(s, &kind, &seq, &e) == 0 &&
	    kind == SESS_OFF_SEQ) {
		/* Whatever parses must format back to the same number. */
		int64_t again;

		sess_offset_fmt(seq, out);
		if (sess_offset_parse(out, &kind, &again, &e) != 0 ||
		    again != seq)
			abort();
	}
	sess_name_check((const char *)data, size, &e);
	if (sess_utf8_prefix(data, size, &bad) > size)
		abort();
	sess_time_parse(s, &us);
	free(s);
	return 0;
}
