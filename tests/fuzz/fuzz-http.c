/* fuzz-http.c: HTTP/1.1 request heads and chunked bodies, pipelined. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sess.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What a connection made of the input: a digest of every event. */
struct run {
	uint64_t h;
	int requests, end;
};

static void
mix(struct run *o, uint64_t v)
{
	o->h = (o->h ^ v) * 1099511628211ULL;
}

static void
mixs(struct run *o, const char *s)
{
	mix(o, 0x100);
	while (s != NULL && *s != '\0')
		mix(o, (unsigned char)*s++);
}

/* A status a head may be refused with. */
static int
known(int status)
{
	return status == 400 || status == 414 || status == 417 ||
	    status == 431 || status == 501 || status == 505;
}

static void
check_head(const struct sess_http_req *r, long len, size_t n)
{
	int i;

	if (len <= 0 || (size_t)len > n || len > SESS_HTTP_HEAD_MAX)
		abort();
	if (r->method == NULL || r->target == NULL || (r->target[0] != '/' &&
	    strcmp(r->target, "*") != 0))
		abort();
	if (r->chunked && r->clen >= 0)
		abort();
	if (r->minor != 0 && r->minor != 1)
		abort();
	if (r->nfields < 0 || r->nfields > SESS_HTTP_FIELDS_MAX)
		abort();
	for (i = 0; i < r->nfields; i++)
		if (strlen(r->fields[i].value) != r->fields[i].len)
			abort();
}

/*
 * Reads requests end to end from p[0..n) as a connection would, the
 * input arriving step bytes at a time.
 */
static void
run(const uint8_t *u, size_t n, size_t step, struct run *o)
{
	const char *p = (const char *)u, *data;
	struct sess_http_req r;
	struct sess_http_chunked d;
	struct sess_err e;
	size_t pos = 0, avail = 0, used, len, i;
	int64_t left = 0;
	long hl;
	int state = 0, rc;

	memset(o, 0, sizeof(*o));
	sess_http_req_init(&r);
	while (avail < n) {
		avail = n - avail < step ? n : avail + step;
		for (;;) {
			if (state == 0) {
				hl = sess_http_head(&r, p + pos, avail - pos,
				    &e);
				if (hl < 0) {
					if (!known(r.status))
						abort();
					o->end = r.status;
					goto out;
				}
				if (hl == 0)
					break;
				check_head(&r, hl, avail - pos);
				pos += (size_t)hl;
				o->requests++;
				mixs(o, r.method);
				mixs(o, r.target);
				mixs(o, r.authority);
				mix(o, (uint64_t)r.clen);
				mix(o, (uint64_t)(r.close * 2 + r.expect));
				if (r.chunked) {
					sess_http_chunked_init(&d);
					state = 2;
				} else if (r.clen > 0) {
					left = r.clen;
					state = 1;
				} else {
					sess_http_req_release(&r);
				}
			} else if (state == 1) {
				len = avail - pos;
				if ((int64_t)len > left)
					len = (size_t)left;
				for (i = 0; i < len; i++)
					mix(o, u[pos + i]);
				pos += len;
				left -= (int64_t)len;
				if (left > 0)
					break;
				state = 0;
				sess_http_req_release(&r);
			} else {
				rc = sess_http_chunked(&d, p + pos,
				    avail - pos, &used, &data, &len, &e);
				if (used > avail - pos || (len > 0 &&
				    (data < p + pos || data + len > p + pos +
				    used)))
					abort();
				for (i = 0; i < len; i++)
					mix(o, (unsigned char)data[i]);
				pos += used;
				if (rc < 0) {
					o->end = 1;
					goto out;
				}
				if (rc == 1) {
					mix(o, 0x200);
					state = 0;
					sess_http_req_release(&r);
				} else if (pos == avail) {
					break;
				}
			}
		}
	}
	o->end = -state;
out:
	sess_http_req_release(&r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run whole, bytes, cuts;
	size_t step;

	if (size < 1)
		return 0;
	step = 1 + data[0] % 13;
	data++;
	size--;
	/* However the input is cut into reads, it means the same. */
	run(data, size, size > 0 ? size : 1, &whole);
	run(data, size, step, &cuts);
	if (whole.h != cuts.h || whole.end != cuts.end ||
	    whole.requests != cuts.requests)
		abort();
	if (size < 4096) {
		run(data, size, 1, &bytes);
		if (whole.h != bytes.h || whole.end != bytes.end)
			abort();
	}
	return 0;
}
