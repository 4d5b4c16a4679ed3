/* buf.c: growable byte buffers with a hard cap. */
#include <stdlib.h>
#include <string.h>

#include "sess.h"

void
sess_buf_init(struct sess_buf *b, size_t cap)
{
	b->p = NULL;
	b->len = b->size = 0;
	b->cap = cap;
}

void
sess_buf_release(struct sess_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->size = 0;
}

/* Makes room for n more bytes (plus a NUL), within the cap. */
int
sess_buf_reserve(struct sess_buf *b, size_t n)
{
	size_t want, size;
	char *p;

	if (n > b->cap || b->len > b->cap - n)
		return SESS_EINVAL;
	want = b->len + n + 1;
	if (want <= b->size)
		return 0;
	size = b->size ? b->size : 256;
	while (size < want)
		size *= 2;
	if (size > b->cap + 1)
		size = b->cap + 1;
	if ((p = realloc(b->p, size)) == NULL)
		return SESS_ENOMEM;
	b->p = p;
	b->size = size;
	return 0;
}

int
sess_buf_add(struct sess_buf *b, const void *p, size_t n)
{
	int rc;

	if ((rc = sess_buf_reserve(b, n)) != 0)
		return rc;
	if (n > 0)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

void
sess_buf_consume(struct sess_buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
	} else {
		memmove(b->p, b->p + n, b->len - n);
		b->len -= n;
	}
	if (b->p != NULL)
		b->p[b->len] = '\0';
}
