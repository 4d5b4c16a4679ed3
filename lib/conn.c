/* conn.c: one interface over the embedded store and a remote sessd. */
#include <stdlib.h>
#include <string.h>

#include "sess.h"

struct sess_conn {
	struct sess_store *st;
	struct sess_remote *rm;
	int hup;                   /* see sess_conn_hangup(), or -1 */
};

struct sess_conn *
sess_conn_open(const char *db, const char *url, int flags, struct sess_err *e)
{
	struct sess_conn *c;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		sess_err_set(e, SESS_ENOMEM, "out of memory");
		return NULL;
	}
	c->hup = -1;
	if (url != NULL)
		c->rm = sess_remote_open(url, e);
	else
		c->st = sess_store_open(db, flags, e);
	if (c->rm == NULL && c->st == NULL) {
		free(c);
		return NULL;
	}
	return c;
}

void
sess_conn_close(struct sess_conn *c)
{
	if (c == NULL)
		return;
	sess_store_close(c->st);
	sess_remote_close(c->rm);
	free(c);
}

struct sess_store *
sess_conn_store(struct sess_conn *c)
{
	return c->st;
}

struct sess_remote *
sess_conn_remote(struct sess_conn *c)
{
	return c->rm;
}

void
sess_conn_hangup(struct sess_conn *c, int fd)
{
	c->hup = fd;
	if (c->rm != NULL)
		sess_remote_hangup(c->rm, fd);
}

int
sess_conn_append(struct sess_conn *c, const char *stream, int flags,
    const struct sess_producer *pr, struct sess_item *items, size_t n,
    struct sess_ack *acks, struct sess_err *e)
{
	if (c->rm != NULL)
		return sess_remote_append(c->rm, stream, flags, pr, items, n,
		    acks, e);
	return sess_append(c->st, stream, flags, pr, items, n, acks, e);
}

int
sess_conn_stream_get(struct sess_conn *c, const char *stream,
    struct sess_stream *out, struct sess_err *e)
{
	int rc;

	if ((rc = sess_name_check(stream, strlen(stream), e)) != 0)
		return rc;
	if (c->rm != NULL)
		return sess_remote_stream_get(c->rm, stream, out, e);
	return sess_stream_get(c->st, stream, out, e);
}

int
sess_conn_cursor(struct sess_conn *c, const char *stream, const char *member,
    int64_t seq, struct sess_cursor *out, struct sess_err *e)
{
	int rc;

	if ((rc = sess_name_check(stream, strlen(stream), e)) != 0 ||
	    (rc = sess_member_check("member", member, e)) != 0)
		return rc;
	if (c->rm != NULL)
		return sess_remote_cursor(c->rm, stream, member, seq, out, e);
	if (seq >= 0)
		return sess_cursor_set(c->st, stream, member, seq, out, e);
	return sess_cursor_get(c->st, stream, member, out, e);
}

/* The materialized messages of stream as JSON lines, appended to out. */
static int
message_line(const struct sess_message *m, void *arg)
{
	return sess_message_format(arg, m) != 0;
}

int
sess_conn_messages(struct sess_conn *c, const char *stream,
    struct sess_buf *out, struct sess_err *e)
{
	int rc;

	if ((rc = sess_name_check(stream, strlen(stream), e)) != 0)
		return rc;
	if (c->rm != NULL)
		return sess_remote_get(c->rm, "/v1/messages", stream, out, e);
	return sess_messages_each(c->st, stream, message_line, out, e);
}

/* Presence. */

int
sess_conn_presence_set(struct sess_conn *c, const char *stream,
    const char *member, const char *conn, const char *event,
    const char *data, int64_t lease_us, int64_t *grace_us,
    struct sess_err *e)
{
	if (c->rm != NULL)
		return sess_remote_presence_set(c->rm, stream, member, conn,
		    event, data, grace_us, e);
	return sess_presence_set(c->st, stream, member, conn, event, data,
	    lease_us, NULL, e);
}

json_t *
sess_conn_presence_members(struct sess_conn *c, const char *stream,
    struct sess_err *e)
{
	struct sess_err se;

	if (c->rm != NULL)
		return sess_remote_presence_members(c->rm, stream, e);
	(void)sess_presence_sweep(c->st, &se);
	return sess_presence_members(c->st, stream, e);
}

/* Embedded: each transition as the line sessd would send. */
struct plines {
	int (*fn)(int64_t seq, const char *line, size_t len, void *arg);
	void *arg;
	struct sess_buf line;
	int64_t last;
};

static int
pline(const struct sess_ptrans *t, void *arg)
{
	struct plines *p = arg;

	p->last = t->seq;
	p->line.len = 0;
	if (sess_ptrans_format(&p->line, t, 0) != 0 || p->line.len == 0)
		return -1;
	return p->fn(t->seq, p->line.p, p->line.len - 1, p->arg);
}

int
sess_conn_presence_log(struct sess_conn *c, const char *stream,
    int64_t after, int max, int wait_ms, int (*fn)(int64_t seq,
    const char *line, size_t len, void *arg), void *arg, int64_t *next,
    struct sess_err *e)
{
	struct sess_err se;
	struct plines p = { fn, arg, { 0 }, 0 };
	int n;

	if (c->rm != NULL)
		return sess_remote_presence_log(c->rm, stream, after, wait_ms,
		    fn, arg, next, e);
	(void)sess_presence_sweep(c->st, &se);
	if (after < 0) {
		if ((*next = sess_presence_last(c->st, e)) < 0)
			return (int)*next;
		return 0;
	}
	p.last = after;
	sess_buf_init(&p.line, (size_t)1 << 20);
	n = sess_presence_log(c->st, stream, after, max, pline, &p, e);
	sess_buf_release(&p.line);
	*next = p.last;
	return n;
}

struct sess_feed {
	struct sess_conn *c;
	struct sess_reader *r;     /* embedded */
	struct sess_watch *w;
	const char *const *types;  /* embedded: when more than one */
	char *stream;              /* remote */
	const char *const *rtypes; /* remote */
	struct sess_buf lines, scratch;
	size_t at;                 /* next unread line in lines */
	int64_t pos;
	int uptodate;
};

struct sess_feed *
sess_feed_open(struct sess_conn *c, const char *stream, int64_t after,
    const char *const *types, struct sess_err *e)
{
	struct sess_feed *f;
	const char *one = NULL;

	if ((f = calloc(1, sizeof(*f))) == NULL) {
		sess_err_set(e, SESS_ENOMEM, "out of memory");
		return NULL;
	}
	f->c = c;
	f->pos = after;
	sess_buf_init(&f->lines, (size_t)128 << 20);
	sess_buf_init(&f->scratch, (size_t)128 << 20);
	if (c->st != NULL) {
		/* The store selects one type; several, the feed does. */
		if (types != NULL && types[0] != NULL && types[1] == NULL)
			one = types[0];
		else if (types != NULL && types[0] != NULL)
			f->types = types;
		if ((f->r = sess_reader_open(c->st, stream, after, one,
		    e)) == NULL)
			goto fail;
	} else if (sess_name_check(stream, strlen(stream), e) != 0) {
		goto fail;
	} else if ((f->stream = strdup(stream)) == NULL) {
		sess_err_set(e, SESS_ENOMEM, "out of memory");
		goto fail;
	} else {
		f->rtypes = types != NULL && types[0] != NULL ? types : NULL;
	}
	return f;
fail:
	sess_feed_close(f);
	return NULL;
}

void
sess_feed_close(struct sess_feed *f)
{
	if (f == NULL)
		return;
	sess_reader_close(f->r);
	sess_watch_close(f->w);
	sess_buf_release(&f->lines);
	sess_buf_release(&f->scratch);
	free(f->stream);
	free(f);
}

int64_t
sess_feed_position(const struct sess_feed *f)
{
	return f->r ? sess_reader_position(f->r) : f->pos;
}

/* Fetches the events after the position, waiting up to wait_ms. */
static int
fetch(struct sess_feed *f, int wait_ms, struct sess_err *e)
{
	f->lines.len = 0;
	f->at = 0;
	return sess_remote_events(f->c->rm, f->stream, f->pos, f->rtypes,
	    wait_ms, &f->lines, &f->uptodate, e);
}

/* Whether an embedded event is of one of several types asked for. */
static int
wanted(const struct sess_feed *f, const struct sess_event *ev)
{
	const char *const *t;

	if (f->types == NULL)
		return 1;
	if (ev->type == NULL)
		return 0;
	for (t = f->types; *t != NULL; t++)
		if (strcmp(*t, ev->type) == 0)
			return 1;
	return 0;
}

int
sess_feed_next(struct sess_feed *f, struct sess_event *ev, struct sess_err *e)
{
	char *line, *nl;
	int rc;

	if (f->r != NULL) {
		while ((rc = sess_reader_next(f->r, ev, e)) == 1 &&
		    !wanted(f, ev))
			;
		return rc;
	}
	for (;;) {
		if (f->at < f->lines.len) {
			line = f->lines.p + f->at;
			nl = memchr(line, '\n', f->lines.len - f->at);
			if (nl == NULL)
				nl = f->lines.p + f->lines.len;
			f->at = (size_t)(nl - f->lines.p) + 1;
			if (nl == line)
				continue;
			if ((rc = sess_event_parse_line(line, (size_t)(nl -
			    line), ev, &f->scratch, NULL, e)) != 0)
				return rc;
			f->pos = ev->seq;
			return 1;
		}
		if (f->uptodate)
			return 0;
		if ((rc = fetch(f, 0, e)) != 0)
			return rc;
		if (f->lines.len == 0)
			return 0;
	}
}

int
sess_feed_wait(struct sess_feed *f, int ms, struct sess_err *e)
{
	int rc;

	if (f->r != NULL) {
		sess_reader_reset(f->r);
		if (f->w == NULL && (f->w = sess_watch_open(f->c->st,
		    e)) == NULL)
			return e ? e->code : SESS_ENOMEM;
		if ((rc = sess_watch_wait(f->w, ms, f->c->hup)) == SESS_EPIPE)
			return sess_err_set(e, SESS_EPIPE, "the output's "
			    "reader has gone");
		return rc;
	}
	/* A long-poll: the server answers as soon as there is something. */
	if ((rc = fetch(f, ms > 0 ? ms : 1, e)) != 0)
		return rc;
	f->uptodate = 0;
	return f->lines.len > 0;
}
