/* jsonl.c: bounded line reading and strict JSON-value parsing. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sess.h"

#define READ_CHUNK 65536

struct sess_lines {
	int fd;
	int eof;
	size_t maxline;
	size_t pos;     /* start of the pending line in buf */
	size_t scan;    /* bytes of the pending line known to hold no '\n' */
	long lineno;
	struct sess_buf buf;
};

struct sess_lines *
sess_lines_new(int fd, size_t maxline)
{
	struct sess_lines *lr;

	if ((lr = calloc(1, sizeof(*lr))) == NULL)
		return NULL;
	lr->fd = fd;
	lr->maxline = maxline;
	/* A full line, its newline, and one read beyond it. */
	sess_buf_init(&lr->buf, maxline + 1 + READ_CHUNK);
	return lr;
}

void
sess_lines_free(struct sess_lines *lr)
{
	if (lr == NULL)
		return;
	sess_buf_release(&lr->buf);
	free(lr);
}

long
sess_lines_fill(struct sess_lines *lr, int wait)
{
	struct pollfd pfd;
	size_t room;
	ssize_t n;

	if (lr->eof)
		return 0;
	if (lr->pos > 0) {
		sess_buf_consume(&lr->buf, lr->pos);
		lr->pos = 0;
	}
	if (!wait) {
		pfd.fd = lr->fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 0) <= 0) {
			errno = EAGAIN;
			return -1;
		}
	}
	room = lr->buf.cap - lr->buf.len;
	if (room > READ_CHUNK)
		room = READ_CHUNK;
	if (room == 0) {
		/* The pending line is over the cap; next() reports it. */
		errno = EAGAIN;
		return -1;
	}
	if (sess_buf_reserve(&lr->buf, room) != 0) {
		errno = ENOMEM;
		return -1;
	}
	do
		n = read(lr->fd, lr->buf.p + lr->buf.len, room);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	if (n == 0)
		lr->eof = 1;
	lr->buf.len += (size_t)n;
	lr->buf.p[lr->buf.len] = '\0';
	return (long)n;
}

int
sess_lines_next(struct sess_lines *lr, const char **line, size_t *len,
    long *lineno, struct sess_err *e)
{
	char *start = lr->buf.p + lr->pos, *nl;
	size_t have = lr->buf.len - lr->pos;

	if (have == 0)
		return 0;
	nl = memchr(start + lr->scan, '\n', have - lr->scan);
	if (nl == NULL) {
		lr->scan = have;
		if (have > lr->maxline) {
			*lineno = lr->lineno + 1;
			return sess_err_set(e, SESS_EINVAL,
			    "line longer than %zu bytes", lr->maxline);
		}
		if (!lr->eof)
			return 0;
		nl = start + have; /* final line without a newline */
	}
	if ((size_t)(nl - start) > lr->maxline) {
		*lineno = lr->lineno + 1;
		return sess_err_set(e, SESS_EINVAL,
		    "line longer than %zu bytes", lr->maxline);
	}
	*line = start;
	*len = (size_t)(nl - start);
	*lineno = ++lr->lineno;
	lr->pos += *len + (nl < start + have ? 1 : 0);
	lr->scan = 0;
	return 1;
}

int
sess_lines_done(const struct sess_lines *lr)
{
	return lr->eof && lr->pos == lr->buf.len;
}

size_t
sess_lines_pending(const struct sess_lines *lr)
{
	return lr->buf.len - lr->pos;
}

json_t *
sess_json_parse(const char *p, size_t n, struct sess_err *e)
{
	json_error_t jerr;
	json_t *v;

	if (memchr(p, '\0', n) != NULL) {
		sess_err_set(e, SESS_EINVAL, "NUL byte in JSON text");
		return NULL;
	}
	v = json_loadb(p, n, JSON_DECODE_ANY, &jerr);
	if (v == NULL)
		sess_err_set(e, SESS_EINVAL, "column %d: %s", jerr.column,
		    jerr.text);
	return v;
}
