/* sessd-ds.c: the Durable Streams protocol at /v1/stream/NAME. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "sessd.h"

#define PREFIX "/v1/stream/"
#define PREFIX_LEN (sizeof(PREFIX) - 1)
#define CURSOR_EPOCH 1728432000LL /* 2024-10-09T00:00:00Z */
#define CURSOR_SECS 20
#define TOUCH_SLACK_US 1000000LL

/* The query parameters the protocol reads. */
struct query {
	char offset[80];
	int noffset, offset_bad;
	char live[16];
	char cursor[32];
	int has_live, has_cursor;
};

static void
parse_query(const char *q, struct query *out)
{
	const char *p, *amp, *eq;
	char name[32], val[sizeof(out->offset)];
	long nl, vl;

	memset(out, 0, sizeof(*out));
	for (p = q; p != NULL && *p != '\0'; p = amp ? amp + 1 : NULL) {
		amp = strchr(p, '&');
		eq = memchr(p, '=', amp ? (size_t)(amp - p) : strlen(p));
		nl = pct_decode(p, eq ? (size_t)(eq - p) : (amp ? (size_t)(amp -
		    p) : strlen(p)), name, sizeof(name), 1);
		if (nl < 0)
			continue;
		vl = -1;
		if (eq != NULL)
			vl = pct_decode(eq + 1, amp ? (size_t)(amp - eq - 1) :
			    strlen(eq + 1), val, sizeof(val), 1);
		if (strcmp(name, "offset") == 0) {
			out->noffset++;
			if (vl < 0 || (size_t)vl != strlen(val))
				out->offset_bad = 1;
			else
				memcpy(out->offset, val, (size_t)vl + 1);
		} else if (strcmp(name, "live") == 0) {
			out->has_live = 1;
			if (vl > 0 && (size_t)vl < sizeof(out->live))
				memcpy(out->live, val, (size_t)vl + 1);
		} else if (strcmp(name, "cursor") == 0) {
			out->has_cursor = 1;
			if (vl > 0 && (size_t)vl < sizeof(out->cursor))
				memcpy(out->cursor, val, (size_t)vl + 1);
		}
	}
}

enum { OFF_START, OFF_NOW, OFF_SEQ };

static int
digits(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return n > 0;
}

/*
 * Offsets are the event seq in SESS_OFFSET_LEN digits.  The form
 * "0000000000000000_NNNNNNNNNNNNNNNN" of other servers is read too, as
 * clients and test suites spell the start that way.
 */
static int
parse_offset(const char *s, int *kind, int64_t *seq)
{
	size_t n = strlen(s), i;
	int64_t v = 0;

	*seq = 0;
	if (strcmp(s, "-1") == 0) {
		*kind = OFF_START;
		return 0;
	}
	if (strcmp(s, "now") == 0) {
		*kind = OFF_NOW;
		return 0;
	}
	if (n == 2 * SESS_OFFSET_LEN + 1 && s[SESS_OFFSET_LEN] == '_' &&
	    digits(s, SESS_OFFSET_LEN) && digits(s + SESS_OFFSET_LEN + 1,
	    SESS_OFFSET_LEN)) {
		for (i = 0; i < SESS_OFFSET_LEN; i++)
			if (s[i] != '0')
				return -2; /* beyond anything we hand out */
		s += SESS_OFFSET_LEN + 1;
		n = SESS_OFFSET_LEN;
	}
	if (n > SESS_OFFSET_LEN || !digits(s, n))
		return -1;
	for (i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	*kind = OFF_SEQ;
	*seq = v;
	return 0;
}

/* A non-negative integer without sign or leading zeros, up to max. */
static int
parse_uint(const char *s, int64_t max, int64_t *out)
{
	int64_t v = 0;
	size_t n = strlen(s), i;

	if (n == 0 || n > 18 || (n > 1 && s[0] == '0') || !digits(s, n))
		return -1;
	for (i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	if (v > max)
		return -1;
	*out = v;
	return 0;
}

/* The media type of a Content-Type value, lower case, or NULL. */
static const char *
media_type(const char *v, char *out, size_t size)
{
	size_t n = 0;

	if (v == NULL)
		return NULL;
	while (*v == ' ' || *v == '\t')
		v++;
	for (; *v != '\0' && *v != ';' && *v != ' ' && *v != '\t' &&
	    n + 1 < size; v++)
		out[n++] = (char)(*v >= 'A' && *v <= 'Z' ? *v + 32 : *v);
	out[n] = '\0';
	return n > 0 ? out : NULL;
}

static int
header_true(const struct req *r, const char *name)
{
	const char *v = req_header(r, name);

	return v != NULL && strcasecmp(v, "true") == 0;
}

static void
offset_fmt(int64_t seq, char *out)
{
	sess_offset_fmt(seq, out);
}

static void
stream_headers(struct conn *c, const struct sess_ds_info *s)
{
	char when[32];

	if (s->ttl >= 0)
		resp_header(c, "Stream-TTL", "%lld", (long long)s->ttl);
	else if (s->expires != 0) {
		sess_time_fmt(s->expires, when);
		resp_header(c, "Stream-Expires-At", "%s", when);
	}
}

/* Sliding TTLs are renewed by reads too, off the loop, now and then. */
static void
touch(const char *name, const struct sess_ds_info *s)
{
	struct job *j;
	int64_t slack;

	if (s->ttl < 0)
		return;
	slack = s->ttl * 500000;
	if (slack > TOUCH_SLACK_US)
		slack = TOUCH_SLACK_US;
	if (sess_now() + s->ttl * 1000000 - s->expires < slack)
		return;
	if ((j = job_new(J_TOUCH, NULL)) == NULL)
		return;
	j->req.stream = job_str(j, name);
	if (j->req.stream == NULL) {
		job_free(j);
		return;
	}
	job_submit(j);
}

static void
etag_fmt(const struct sess_ds_info *s, int64_t start, int64_t end,
    char *out, size_t size)
{
	snprintf(out, size, "\"%llx.%llx:%0*lld:%0*lld%s\"",
	    (unsigned long long)s->id, (unsigned long long)s->created,
	    SESS_OFFSET_LEN, (long long)start, SESS_OFFSET_LEN,
	    (long long)end, s->closed ? ":c" : "");
}

static int
etag_matches(const char *inm, const char *etag)
{
	const char *p = inm, *q;
	size_t n = strlen(etag);

	while (*p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '*')
			return 1;
		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		q = p;
		while (*q != '\0' && *q != ',')
			q++;
		while (q > p && (q[-1] == ' ' || q[-1] == '\t'))
			q--;
		if ((size_t)(q - p) == n && strncmp(p, etag, n) == 0)
			return 1;
		p = q;
		while (*p != '\0' && *p != ',')
			p++;
	}
	return 0;
}

/*
 * A catch-up body is read in bigger steps than live reads: one read
 * and one write per megabyte cost less than four of each.
 */
#define FEED_READ (4 * CHUNK_READ)

/* A read's body: events (pos, end] appended to b, up to FEED_READ. */
static int
fill(struct conn *c, struct sess_buf *b, int64_t *pos, int64_t end)
{
	struct sess_err e;
	int64_t last = *pos;
	int rc;

	rc = sess_ds_read_body(sd->rd, &c->feed.s, *pos, end, FEED_READ,
	    c->feed.json, &c->feed.first, b, &last, &e);
	if (rc < 0) {
		logx("read %s: %s", c->feed.name ? c->feed.name : "", e.msg);
		return rc;
	}
	*pos = last;
	return rc;
}

static void
feed_done(struct conn *c)
{
	free(c->feed.name);
	c->feed.name = NULL;
	c->feeding = 0;
}

/* SSE: from catch-up to waiting, or to the end if the stream closed. */
static void
sse_caught_up(struct conn *c)
{
	struct feed *f = &c->feed;
	struct sess_ds_info s;
	struct sess_err e;
	int rc, tries;

	for (tries = 0; tries < 3; tries++) {
		if (f->s.closed && f->pos >= f->s.tail) {
			if (!f->ended)
				sse_control(c, f->pos, f->cursor, 1, 1);
			feed_done(c);
			resp_finish(c);
			return;
		}
		rc = fanout_wait(c, &f->s, f->name, f->pos, 1, f->cursor);
		if (rc == 0) {
			c->feeding = 0;
			return;
		}
		if (rc < 0 || sess_ds_get(sd->rd, f->name, &s, &e) != 0 ||
		    s.id != f->s.id) {
			feed_done(c);
			resp_finish(c);
			return;
		}
		/* More came meanwhile: read on from where it is. */
		f->s = s;
		f->end = s.tail;
		if (f->pos < f->end) {
			c->feeding = 1;
			conn_kick(c);
			return;
		}
	}
	/* The store keeps failing: the client resumes later. */
	feed_done(c);
	resp_finish(c);
}

/* Writes more of a catch-up body or SSE backlog; 0, or -1 closed. */
static int
feed_more(struct conn *c)
{
	struct feed *f = &c->feed;
	struct sess_buf b, *out;
	size_t mark;
	int rc;

	if (!c->feeding)
		return 0;
	if (f->sse) {
		if (f->pos < f->end && sse_backlog(c, &f->s, &f->pos, f->end,
		    f->cursor, &f->ended) < 0) {
			feed_done(c);
			conn_close(c);
			return -1;
		}
		if (f->pos >= f->end)
			sse_caught_up(c);
		return 0;
	}
	if ((out = resp_piece_begin(c, &mark)) != NULL) {
		/* Straight into the output, without a copy between. */
		rc = fill(c, out, &f->pos, f->end);
		if (rc < 0 || resp_piece_end(c, mark) != 0) {
			feed_done(c);
			conn_close(c);
			return -1;
		}
	} else {
		sess_buf_init(&b, (size_t)1 << 31);
		rc = fill(c, &b, &f->pos, f->end);
		if (rc < 0 || resp_body(c, b.p, b.len) != 0) {
			sess_buf_release(&b);
			feed_done(c);
			conn_close(c);
			return -1;
		}
		sess_buf_release(&b);
	}
	if (f->pos >= f->end || rc == 0) {
		if (f->json)
			resp_body(c, "]", 1);
		feed_done(c);
		resp_finish(c);
	}
	return 0;
}

/* SSE: the head now, then the backlog, then live events. */
static void
read_sse(struct conn *c, const char *name, const struct sess_ds_info *s,
    int64_t cursor)
{
	struct feed *f = &c->feed;

	if (f->pos > s->tail)
		f->pos = s->tail;
	if ((f->name = strdup(name)) == NULL) {
		resp_fail(c, SESS_ENOMEM, SESS_WHY_NONE, NULL, "out of memory");
		return;
	}
	f->sse = 1;
	resp_start(c, 200);
	resp_header(c, "Content-Type", "text/event-stream");
	resp_header(c, "Cache-Control", "no-cache");
	resp_header(c, "X-Accel-Buffering", "no");
	if (!s->json && strncmp(s->content_type, "text/", 5) != 0)
		resp_header(c, "Stream-SSE-Data-Encoding", "base64");
	resp_head_end(c, B_CHUNKED, 0);
	if (f->pos >= f->end) {
		if (!s->closed)
			sse_control(c, f->pos, cursor, 1, 0);
		sse_caught_up(c);
		return;
	}
	c->feeding = 1;
	c->feed.more = feed_more;
	conn_kick(c);
}

/* Long-poll: answer now if there is anything, else wait. */
static void
read_poll(struct conn *c, const char *name, const struct sess_ds_info *s,
    int64_t cursor)
{
	struct feed *f = &c->feed;
	struct sess_buf b;
	int rc, done;

	if (f->pos > s->tail)
		f->pos = s->tail;
	if (f->pos >= s->tail) {
		if (s->closed) {
			lp_respond(c, s, s->tail, NULL, 0, 1, 1, cursor, 204);
			return;
		}
		if ((rc = fanout_wait(c, s, name, f->pos, 0, cursor)) == 0)
			return;
		if (rc < 0) {
			resp_fail(c, SESS_ENOMEM, SESS_WHY_NONE, NULL,
			    "out of memory");
			return;
		}
		/* Events came meanwhile: look again. */
		if (sess_ds_get(sd->rd, name, &f->s, NULL) != 0) {
			resp_fail(c, SESS_ENOENT, SESS_WHY_NONE, NULL,
			    "%s: no such stream", name);
			return;
		}
		f->end = f->s.tail;
	}
	sess_buf_init(&b, (size_t)1 << 31);
	if (f->json)
		sess_buf_add(&b, "[", 1);
	if (fill(c, &b, &f->pos, f->end) < 0) {
		sess_buf_release(&b);
		resp_fail(c, SESS_EIO, SESS_WHY_NONE, NULL, "cannot read %s",
		    name);
		return;
	}
	if (f->json)
		sess_buf_add(&b, "]", 1);
	done = f->pos >= f->s.tail;
	lp_respond(c, &f->s, f->pos, b.p, b.len, done, done && f->s.closed,
	    cursor, 200);
	sess_buf_release(&b);
}

/* Catch-up at the tail: no events; offset=now shows the tail alone. */
static void
read_tail(struct conn *c, const struct sess_ds_info *s, int kind)
{
	struct feed *f = &c->feed;
	char off[SESS_OFFSET_LEN + 1], etag[128];

	offset_fmt(f->pos, off);
	resp_start(c, 200);
	resp_header(c, "Content-Type", "%s", s->content_type);
	resp_header(c, "Stream-Next-Offset", "%s", off);
	resp_header(c, "Stream-Up-To-Date", "true");
	if (s->closed && f->pos >= s->tail)
		resp_header(c, "Stream-Closed", "true");
	if (kind != OFF_NOW) {
		etag_fmt(s, f->pos, f->pos, etag, sizeof(etag));
		resp_header(c, "ETag", "%s", etag);
	}
	resp_header(c, "Cache-Control", "no-store");
	resp_head_end(c, B_LENGTH, s->json ? 2 : 0);
	if (s->json)
		resp_body(c, "[]", 2);
	resp_finish(c);
}

/*
 * Catch-up: the events from f->pos, cacheable, 304 for an ETag the
 * client has; a body too large to hold follows in pieces.
 */
static void
read_catchup(struct conn *c, const char *name, const struct sess_ds_info *s)
{
	struct feed *f = &c->feed;
	struct sess_buf b;
	char off[SESS_OFFSET_LEN + 1], etag[128];
	const char *inm;
	int rc, done;

	etag_fmt(s, f->pos, s->tail, etag, sizeof(etag));
	offset_fmt(s->tail, off);
	inm = req_header(&c->req, "If-None-Match");
	if (inm != NULL && etag_matches(inm, etag)) {
		resp_start(c, 304);
		resp_header(c, "ETag", "%s", etag);
		resp_header(c, "Stream-Next-Offset", "%s", off);
		resp_header(c, "Cache-Control",
		    "private, max-age=60, stale-while-revalidate=300");
		resp_head_end(c, B_NONE, 0);
		resp_finish(c);
		return;
	}
	sess_buf_init(&b, (size_t)1 << 31);
	if (f->json)
		sess_buf_add(&b, "[", 1);
	if ((rc = fill(c, &b, &f->pos, f->end)) < 0) {
		sess_buf_release(&b);
		resp_fail(c, SESS_EIO, SESS_WHY_NONE, NULL, "cannot read %s",
		    name);
		return;
	}
	done = f->pos >= f->end || rc == 0;
	if (done && f->json)
		sess_buf_add(&b, "]", 1);
	resp_start(c, 200);
	resp_header(c, "Content-Type", "%s", s->content_type);
	resp_header(c, "Stream-Next-Offset", "%s", off);
	resp_header(c, "Stream-Up-To-Date", "true");
	if (s->closed)
		resp_header(c, "Stream-Closed", "true");
	resp_header(c, "ETag", "%s", etag);
	resp_header(c, "Cache-Control",
	    "private, max-age=60, stale-while-revalidate=300");
	if (done) {
		resp_head_end(c, B_LENGTH, b.len);
		resp_body(c, b.p, b.len);
		resp_finish(c);
	} else {
		/* Too much to hold at once: the rest follows in pieces. */
		resp_head_end(c, B_CHUNKED, 0);
		resp_body(c, b.p, b.len);
		c->feeding = 1;
		c->feed.more = feed_more;
		conn_kick(c);
	}
	sess_buf_release(&b);
}

/* A read of stream s from start (kind), live 0, 1 (long-poll) or 2 (SSE). */
static void
read_stream(struct conn *c, const char *name, const struct sess_ds_info *s,
    int kind, int64_t start, int live, int64_t cursor)
{
	struct feed *f = &c->feed;

	free(f->name);
	memset(f, 0, sizeof(*f));
	f->s = *s;
	f->json = s->json;
	f->first = 1;
	f->cursor = cursor;
	f->pos = kind == OFF_NOW ? s->tail : start;
	f->end = s->tail;
	if (live == 2)
		read_sse(c, name, s, cursor);
	else if (live == 1)
		read_poll(c, name, s, cursor);
	else if (kind == OFF_NOW || f->pos >= s->tail)
		read_tail(c, s, kind);
	else
		read_catchup(c, name, s);
}

static int
ds_get(struct conn *c, const char *name, const struct query *q, int head)
{
	struct sess_ds_info s;
	struct sess_err e;
	char off[SESS_OFFSET_LEN + 1];
	int64_t start = 0, cursor;
	int kind = OFF_START, live = 0, rc;

	if (!head) {
		if (q->noffset > 1)
			return resp_fail(c, SESS_EINVAL, SESS_WHY_NONE, NULL,
			    "more than one offset parameter");
		if (q->noffset == 1 && (q->offset_bad ||
		    parse_offset(q->offset, &kind, &start) != 0))
			return resp_fail(c, SESS_EINVAL, SESS_WHY_NONE, NULL,
			    "offset '%.64s' is not -1, now or an offset",
			    q->offset_bad ? "" : q->offset);
		if (q->has_live) {
			if (strcmp(q->live, "long-poll") == 0)
				live = 1;
			else if (strcmp(q->live, "sse") == 0)
				live = 2;
			else
				return resp_fail(c, SESS_EINVAL, SESS_WHY_NONE,
				    NULL, "live is long-poll or sse");
			if (q->noffset == 0)
				return resp_fail(c, SESS_EINVAL, SESS_WHY_NONE,
				    NULL, "live reads need an offset");
		}
	}
	if ((rc = sess_ds_get(sd->rd, name, &s, &e)) != 0)
		return resp_fail(c, rc, sess_status_why(rc, 0, s.gone, 0),
		    NULL, "%s", e.msg);
	if (head) {
		offset_fmt(s.tail, off);
		resp_start(c, 200);
		resp_header(c, "Content-Type", "%s", s.content_type);
		resp_header(c, "Stream-Next-Offset", "%s", off);
		stream_headers(c, &s);
		if (s.closed)
			resp_header(c, "Stream-Closed", "true");
		resp_header(c, "Cache-Control", "no-store");
		resp_head_end(c, B_NONE, 0);
		resp_finish(c);
		return 0;
	}
	touch(name, &s);
	cursor = cursor_floor(q->has_cursor ? q->cursor : NULL);
	read_stream(c, name, &s, kind, start, live, cursor);
	return 0;
}

static int
producer_headers(struct conn *c, struct job *j)
{
	const char *id = req_header(&c->req, "Producer-Id");
	const char *ep = req_header(&c->req, "Producer-Epoch");
	const char *sq = req_header(&c->req, "Producer-Seq");
	const int64_t max = ((int64_t)1 << 53) - 1;

	if (id == NULL && ep == NULL && sq == NULL)
		return 0;
	if (id == NULL || ep == NULL || sq == NULL) {
		resp_fail(c, SESS_EINVAL, SESS_WHY_NONE, NULL, "Producer-Id, "
		    "Producer-Epoch and Producer-Seq go together");
		return -1;
	}
	if (*id == '\0' || strlen(id) > ID_MAX) {
		resp_fail(c, SESS_EINVAL, SESS_WHY_NONE, NULL,
		    "Producer-Id must be 1 to %d "
		    "bytes", ID_MAX);
		return -1;
	}
	if (parse_uint(ep, max, &j->req.epoch) != 0) {
		resp_fail(c, SESS_EINVAL, SESS_WHY_NONE, NULL,
		    "Producer-Epoch '%.32s' is "
		    "not an integer from 0 to 2^53-1", ep);
		return -1;
	}
	if (parse_uint(sq, max, &j->req.seq) != 0) {
		resp_fail(c, SESS_EINVAL, SESS_WHY_NONE, NULL,
		    "Producer-Seq '%.32s' is not "
		    "an integer from 0 to 2^53-1", sq);
		return -1;
	}
	if ((j->req.producer = job_str(j, id)) == NULL) {
		resp_fail(c, SESS_ENOMEM, SESS_WHY_NONE, NULL, "out of memory");
		return -1;
	}
	return 1;
}

/* Moves the request body into the job. */
static void
take_body(struct conn *c, struct job *j)
{
	j->body = c->req.body;
	sess_buf_init(&c->req.body, 0);
	j->req.body = j->body.p;
	j->req.len = j->body.len;
}

/*
 * A write that failed, with the headers the protocol gives each case:
 * where a closed stream ends, the producer's epoch, the seq expected.
 */
static void
write_failed(struct conn *c, struct job *j, const char *off)
{
	struct sess_ds_ack *a = &j->ack;
	char extra[256];
	int closed = a->closed && j->kind == J_APPEND;

	extra[0] = '\0';
	if (j->rc == SESS_ECONFLICT && closed)
		snprintf(extra, sizeof(extra), "Stream-Closed: true\r\n"
		    "Stream-Next-Offset: %s\r\n", off);
	else if (j->rc == SESS_ESTALE)
		snprintf(extra, sizeof(extra), "Producer-Epoch: %lld\r\n",
		    (long long)a->epoch);
	else if (j->rc == SESS_EGAP)
		snprintf(extra, sizeof(extra), "Producer-Expected-Seq: %lld\r\n"
		    "Producer-Received-Seq: %lld\r\n", (long long)a->expected,
		    (long long)j->req.seq);
	resp_fail(c, j->rc, sess_status_why(j->rc, j->failure, a->gone,
	    closed), extra[0] != '\0' ? extra : NULL, "%s", j->err.msg);
}

static void
write_done(struct job *j)
{
	struct conn *c = j->c;
	struct sess_ds_ack *a = &j->ack;
	char off[SESS_OFFSET_LEN + 1];

	if (j->rc == 0 && (j->kind == J_CREATE || j->kind == J_APPEND))
		sub_notify(j->req.stream);
	if (c == NULL)
		return;
	offset_fmt(a->tail, off);
	if (j->rc != 0) {
		write_failed(c, j, off);
		return;
	}
	switch (j->kind) {
	case J_CREATE:
		resp_start(c, a->created ? 201 : 200);
		if (a->created) {
			const char *host = req_header(&c->req, "Host");

			if (host != NULL)
				resp_header(c, "Location", "http://%s%s", host,
				    c->req.target);
			else
				resp_header(c, "Location", "%s%s",
				    sd->listen_url, c->req.target);
		}
		resp_header(c, "Content-Type", "%s", a->content_type);
		resp_header(c, "Stream-Next-Offset", "%s", off);
		if (a->closed)
			resp_header(c, "Stream-Closed", "true");
		resp_head_end(c, B_LENGTH, 0);
		resp_finish(c);
		break;
	case J_APPEND:
		resp_start(c, j->req.producer != NULL && !a->duplicate &&
		    j->req.len > 0 ? 200 : 204);
		resp_header(c, "Stream-Next-Offset", "%s", off);
		if (a->closed)
			resp_header(c, "Stream-Closed", "true");
		if (j->req.producer != NULL) {
			resp_header(c, "Producer-Epoch", "%lld",
			    (long long)a->epoch);
			if (a->pseq >= 0)
				resp_header(c, "Producer-Seq", "%lld",
				    (long long)a->pseq);
		}
		if (j->req.producer != NULL && !a->duplicate && j->req.len > 0)
			resp_head_end(c, B_LENGTH, 0);
		else
			resp_head_end(c, B_NONE, 0);
		resp_finish(c);
		break;
	case J_DELETE:
		resp_simple(c, 204, NULL, NULL, 0);
		break;
	}
}

int
ds_post(struct conn *c, const char *name, const char *qs)
{
	char ct[SESS_CT_MAX];
	const char *seq;
	struct job *j;

	if ((j = job_new(J_APPEND, c)) == NULL)
		return resp_fail(c, SESS_ENOMEM, SESS_WHY_NONE, NULL,
		    "out of memory");
	j->req.close = header_true(&c->req, "Stream-Closed");
	if (c->req.body.len == 0 && !j->req.close) {
		job_free(j);
		return resp_fail(c, SESS_EINVAL, SESS_WHY_NONE, NULL,
		    "empty body (only a "
		    "close with Stream-Closed: true may have none)");
	}
	j->req.content_type = job_str(j, media_type(req_header(&c->req,
	    "Content-Type"), ct, sizeof(ct)));
	if (c->req.body.len > 0 && j->req.content_type == NULL) {
		job_free(j);
		return resp_fail(c, SESS_EINVAL, SESS_WHY_NONE, NULL,
		    "a body needs a Content-Type");
	}
	if (producer_headers(c, j) < 0) {
		job_free(j);
		return 0;
	}
	if ((seq = req_header(&c->req, "Stream-Seq")) != NULL) {
		if (strlen(seq) > ID_MAX) {
			job_free(j);
			return resp_fail(c, SESS_EINVAL, SESS_WHY_NONE, NULL,
			    "Stream-Seq longer than %d bytes", ID_MAX);
		}
		if (*seq != '\0')
			j->req.writer_seq = job_str(j, seq);
	}
	j->req.stream = job_str(j, name);
	take_body(c, j);
	j->done = write_done;
	job_submit(j);
	return 0;
}

/* The stream a Stream-Forked-From header names: a path or a URL. */
static int
fork_source(const char *v, char *out, size_t size)
{
	const char *p = v;
	long n;

	if (strncmp(p, "http://", 7) == 0 || strncmp(p, "https://", 8) == 0) {
		p = strchr(p + 8, '/');
		if (p == NULL)
			return -1;
	}
	if (strncmp(p, PREFIX, PREFIX_LEN) == 0)
		p += PREFIX_LEN;
	else if (*p == '/')
		return -1;
	n = pct_decode(p, strlen(p), out, size, 0);
	if (n < 0 || (size_t)n != strlen(out) ||
	    sess_name_check(out, (size_t)n, NULL) != 0)
		return -1;
	return 0;
}

int
ds_put(struct conn *c, const char *name, const char *qs)
{
	char ct[SESS_CT_MAX], src[SESS_NAME_MAX + 1];
	const char *ttl, *exp, *from, *off, *sub;
	int64_t us;
	int kind;
	struct job *j;

	if ((j = job_new(J_CREATE, c)) == NULL)
		return resp_fail(c, SESS_ENOMEM, SESS_WHY_NONE, NULL,
		    "out of memory");
	ttl = req_header(&c->req, "Stream-TTL");
	exp = req_header(&c->req, "Stream-Expires-At");
	from = req_header(&c->req, "Stream-Forked-From");
	off = req_header(&c->req, "Stream-Fork-Offset");
	sub = req_header(&c->req, "Stream-Fork-Sub-Offset");
	if (ttl != NULL && exp != NULL) {
		job_free(j);
		return resp_fail(c, SESS_EINVAL, SESS_WHY_NONE, NULL,
		    "Stream-TTL and Stream-Expires-At exclude each other");
	}
	if (ttl != NULL && parse_uint(ttl, (int64_t)1 << 40, &j->req.ttl) !=
	    0) {
		job_free(j);
		return resp_fail(c, SESS_EINVAL, SESS_WHY_NONE, NULL,
		    "Stream-TTL '%.32s' "
		    "is not a number of seconds", ttl);
	}
	if (exp != NULL) {
		if (sess_time_parse(exp, &us) != 0) {
			job_free(j);
			return resp_fail(c, SESS_EINVAL, SESS_WHY_NONE, NULL,
			    "Stream-Expires-At '%.64s' is not RFC 3339", exp);
		}
		j->req.expires_at = us > 0 ? us : 1;
	}
	if ((off != NULL || sub != NULL) && from == NULL) {
		job_free(j);
		return resp_fail(c, SESS_EINVAL, SESS_WHY_NONE, NULL,
		    "Stream-Fork-Offset "
		    "and Stream-Fork-Sub-Offset need Stream-Forked-From");
	}
	if (from != NULL) {
		if (fork_source(from, src, sizeof(src)) != 0) {
			job_free(j);
			return resp_fail(c, SESS_EINVAL, SESS_WHY_NONE, NULL,
			    "Stream-Forked-From '%.64s' is not a stream", from);
		}
		/* A fork reads its source: that needs read there. */
		if (auth_http(c, src, SESS_CAP_READ) != 0) {
			job_free(j);
			return 0;
		}
		j->req.fork_from = job_str(j, src);
		if (off != NULL) {
			int rc = parse_offset(off, &kind, &j->req.fork_offset);

			if (rc == -2) {
				j->req.fork_offset = SESS_SEQ_MAX;
			} else if (rc != 0 || kind == OFF_NOW) {
				job_free(j);
				return resp_fail(c, SESS_EINVAL, SESS_WHY_NONE,
				    NULL,
				    "Stream-Fork-Offset '%.64s' is not an "
				    "offset", off);
			}
		}
		if (sub != NULL && parse_uint(sub, SESS_SEQ_MAX,
		    &j->req.fork_sub) != 0) {
			job_free(j);
			return resp_fail(c, SESS_EINVAL, SESS_WHY_NONE, NULL,
			    "Stream-Fork-Sub-Offset '%.32s' is not a count",
			    sub);
		}
	}
	j->req.content_type = job_str(j, media_type(req_header(&c->req,
	    "Content-Type"), ct, sizeof(ct)));
	j->req.close = header_true(&c->req, "Stream-Closed");
	j->req.stream = job_str(j, name);
	take_body(c, j);
	j->done = write_done;
	job_submit(j);
	return 0;
}

int
ds_delete(struct conn *c, const char *name, const char *qs)
{
	struct job *j;

	if ((j = job_new(J_DELETE, c)) == NULL)
		return resp_fail(c, SESS_ENOMEM, SESS_WHY_NONE, NULL,
		    "out of memory");
	j->req.stream = job_str(j, name);
	j->done = write_done;
	job_submit(j);
	return 0;
}

int
ds_options(struct conn *c, const char *path, const char *qs)
{
	const char *h = req_header(&c->req, "Access-Control-Request-Headers");

	resp_start(c, 204);
	resp_header(c, "Access-Control-Allow-Methods",
	    "GET, HEAD, POST, PUT, DELETE, OPTIONS");
	resp_header(c, "Access-Control-Allow-Headers", "%s", h != NULL &&
	    strlen(h) < 1024 ? h : "Content-Type, If-None-Match, "
	    "Stream-Seq, Stream-TTL, Stream-Expires-At, Stream-Closed, "
	    "Stream-Forked-From, Stream-Fork-Offset, Stream-Fork-Sub-Offset, "
	    "Producer-Id, Producer-Epoch, Producer-Seq, Authorization");
	resp_header(c, "Access-Control-Max-Age", "86400");
	resp_head_end(c, B_NONE, 0);
	resp_finish(c);
	return 0;
}

int
ds_read(struct conn *c, const char *name, const char *qs)
{
	struct query q;

	parse_query(qs, &q);
	return ds_get(c, name, &q, c->req.method == M_HEAD);
}
