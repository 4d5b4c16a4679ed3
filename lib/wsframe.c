/* wsframe.c: WebSocket frame heads (RFC 6455, section 5.2). */
#include <stdint.h>
#include <string.h>

#include "sess.h"

/* Close codes a peer may send (RFC 6455, 7.4). */
static int
close_code_ok(int code)
{
	return (code >= 1000 && code <= 1003) || (code >= 1007 &&
	    code <= 1014) || (code >= 3000 && code <= 4999);
}

int
sess_wsframe_parse(const unsigned char *p, size_t n, uint64_t max,
    struct sess_wsframe *f, struct sess_err *e)
{
	uint64_t len;
	size_t i;

	memset(f, 0, sizeof(*f));
	if (n < 2)
		return 0;
	f->fin = (p[0] & 0x80) != 0;
	f->op = p[0] & 0x0f;
	f->masked = (p[1] & 0x80) != 0;
	len = p[1] & 0x7f;
	f->head = 2;
	if (p[0] & 0x70) {
		f->close = 1002;
		return sess_err_set(e, SESS_EINVAL, "no extension was agreed");
	}
	if ((f->op > 2 && f->op < 8) || f->op > 10) {
		f->close = 1002;
		return sess_err_set(e, SESS_EINVAL, "unknown opcode %d", f->op);
	}
	if (!f->masked) {
		f->close = 1002;
		return sess_err_set(e, SESS_EINVAL,
		    "client frames must be masked");
	}
	if (len == 126) {
		if (n < 4)
			return 0;
		len = (uint64_t)p[2] << 8 | p[3];
		f->head = 4;
		if (len < 126) {
			f->close = 1002;
			return sess_err_set(e, SESS_EINVAL,
			    "length not in its shortest form");
		}
	} else if (len == 127) {
		if (n < 10)
			return 0;
		for (len = 0, i = 0; i < 8; i++)
			len = len << 8 | p[2 + i];
		f->head = 10;
		if (len >> 63 || len < 65536) {
			f->close = 1002;
			return sess_err_set(e, SESS_EINVAL, len >> 63 ?
			    "length with its top bit set" :
			    "length not in its shortest form");
		}
	}
	if (f->op >= 8 && (len > 125 || !f->fin)) {
		f->close = 1002;
		return sess_err_set(e, SESS_EINVAL, "control frames are whole "
		    "and at most 125 bytes");
	}
	if (len > max) {
		/* The whole frame's size, for a server that drains it. */
		f->head += 4;
		f->len = len;
		f->close = 1009;
		return sess_err_set(e, SESS_EINVAL, "frame of %llu bytes is "
		    "over the limit of %llu", (unsigned long long)len,
		    (unsigned long long)max);
	}
	if (n < f->head + 4)
		return 0;
	memcpy(f->mask, p + f->head, 4);
	f->head += 4;
	f->len = len;
	return 1;
}

void
sess_wsframe_unmask(unsigned char *p, uint64_t n, const unsigned char mask[4])
{
	uint64_t i;

	for (i = 0; i < n; i++)
		p[i] ^= mask[i & 3];
}

size_t
sess_wsframe_head(unsigned char *h, int op, uint64_t len)
{
	int i;

	h[0] = (unsigned char)(0x80 | op);
	if (len < 126) {
		h[1] = (unsigned char)len;
		return 2;
	}
	if (len < 65536) {
		h[1] = 126;
		h[2] = (unsigned char)(len >> 8);
		h[3] = (unsigned char)len;
		return 4;
	}
	h[1] = 127;
	for (i = 0; i < 8; i++)
		h[2 + i] = (unsigned char)(len >> (56 - 8 * i));
	return 10;
}

int
sess_wsframe_close(const unsigned char *p, size_t n, int *code,
    struct sess_err *e)
{
	long bad;

	*code = 1005; /* none given */
	if (n == 0)
		return 0;
	if (n == 1)
		return sess_err_set(e, SESS_EINVAL, "a close payload of one "
		    "byte");
	*code = p[0] << 8 | p[1];
	if (!close_code_ok(*code))
		return sess_err_set(e, SESS_EINVAL, "close code %d may not be "
		    "sent", *code);
	if (sess_utf8_prefix(p + 2, n - 2, &bad) != n - 2)
		return sess_err_set(e, SESS_EINVAL, "close reason not UTF-8");
	return 0;
}
