/* sessd-deliver.c: what each kind of live reader gets from the fan-out's reads: long-poll bodies, SSE events, event lines, WebSocket frames. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sessd.h"
#include "tool.h"

/*
 * The fan-out (sessd-fanout.c) reads a stream's new events once, as a
 * batch, and gives each reader the bytes of its kind, made here: the
 * Durable Streams long-poll body and SSE events (with the cursor that
 * CDNs key on), sess's event lines, and the WebSocket events frame.  The
 * catch-up paths (an SSE backlog, a WebSocket attachment behind) read
 * and format through the same functions.  Nothing here calls back up.
 */

#define CURSOR_EPOCH 1728432000LL /* 2024-10-09T00:00:00Z */
#define CURSOR_SECS 20

#define batch fanout_batch
#define OP_TEXT 1 /* RFC 6455 */

/* Batches. */

static int
collect(const struct sess_event *ev, void *arg)
{
	struct batch *b = arg;
	struct sess_event *e;
	size_t tl = ev->type ? strlen(ev->type) + 1 : 0;

	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 64;

		if ((e = realloc(b->ev, cap * sizeof(*e))) == NULL)
			return -1;
		b->ev = e;
		b->cap = cap;
	}
	e = &b->ev[b->n];
	*e = *ev;
	/* Offsets for now: the buffer may move.  The type follows the data. */
	e->data = (const char *)(uintptr_t)b->data.len;
	if (sess_buf_add(&b->data, ev->data, ev->len) != 0 ||
	    (tl > 0 && sess_buf_add(&b->data, ev->type, tl) != 0))
		return -1;
	e->type = tl > 0 ? "" : NULL;
	b->n++;
	b->last = ev->seq;
	return 0;
}

/* Turns the offsets collect() kept into pointers. */
static void
batch_fix(struct batch *b)
{
	size_t i, at;

	for (i = 0; i < b->n; i++) {
		at = (size_t)(uintptr_t)b->ev[i].data;
		b->ev[i].data = b->data.p + at;
		if (b->ev[i].type != NULL)
			b->ev[i].type = b->data.p + at + b->ev[i].len;
	}
}

static void
batch_release(struct batch *b)
{
	sess_buf_release(&b->data);
	free(b->ev);
	memset(b, 0, sizeof(*b));
}

struct fanout_batch *
fanout_read(const struct sess_ds_info *s, int64_t after, int64_t upto,
    size_t max)
{
	struct batch *b = calloc(1, sizeof(*b));
	struct sess_err e;

	if (b == NULL)
		return NULL;
	sess_buf_init(&b->data, (size_t)1 << 31);
	if (sess_ds_read(sd->rd, s, after, upto, max, collect, b, &e) < 0) {
		logx("read: %s", e.msg);
		fanout_batch_free(b);
		return NULL;
	}
	batch_fix(b);
	return b;
}

void
fanout_batch_free(struct fanout_batch *b)
{
	if (b == NULL)
		return;
	batch_release(b);
	free(b);
}

/* Durable Streams: cursors, long-polls, SSE. */

int64_t
cursor_floor(const char *client)
{
	int64_t cur = ((int64_t)time(NULL) - CURSOR_EPOCH) / CURSOR_SECS, c;

	if (client == NULL || (c = tool_num(client, (int64_t)1 << 53)) < 0)
		return cur;
	/* A cursor at or past ours moves on, by 1 s to an hour of jitter. */
	if (c >= cur)
		return c + 1 + (int64_t)(random() % (3600 / CURSOR_SECS));
	return cur;
}

int64_t
cursor_value(int64_t floor)
{
	int64_t cur = ((int64_t)time(NULL) - CURSOR_EPOCH) / CURSOR_SECS;

	return cur > floor ? cur : floor;
}

void
lp_respond(struct conn *c, const struct sess_ds_info *s, int64_t next,
    const void *body, size_t len, int uptodate, int closed, int64_t cursor,
    int status)
{
	char off[SESS_OFFSET_LEN + 1];

	sess_offset_fmt(next, off);
	resp_start(c, status);
	if (status == 200)
		resp_header(c, "Content-Type", "%s", s->content_type);
	resp_header(c, "Stream-Next-Offset", "%s", off);
	if (uptodate)
		resp_header(c, "Stream-Up-To-Date", "true");
	if (closed)
		resp_header(c, "Stream-Closed", "true");
	else
		resp_header(c, "Stream-Cursor", "%lld",
		    (long long)cursor_value(cursor));
	resp_header(c, "Cache-Control", "%s", status == 200 && len > 0 ?
	    "private, max-age=60, stale-while-revalidate=300" : "no-store");
	if (status == 204) {
		resp_head_end(c, B_NONE, 0);
	} else {
		resp_head_end(c, B_LENGTH, len);
		resp_body(c, body, len);
	}
	resp_finish(c);
}

/* The body a long-poll gets: a JSON array, or the bytes end to end. */
void
lp_body(struct sess_buf *out, const struct sess_ds_info *s,
    const struct batch *b)
{
	size_t i;

	out->len = 0;
	if (!s->json) {
		for (i = 0; i < b->n; i++)
			sess_buf_add(out, b->ev[i].data, b->ev[i].len);
		return;
	}
	sess_buf_add(out, "[", 1);
	for (i = 0; i < b->n; i++) {
		if (i > 0)
			sess_buf_add(out, ",", 1);
		sess_buf_add(out, b->ev[i].data, b->ev[i].len);
	}
	sess_buf_add(out, "]", 1);
}

/*
 * Writes text as the data lines of one SSE event.  Every line break in
 * it (CRLF, LF or CR) starts a new data line, so no payload can end the
 * event early or forge another.
 */
static void
data_lines(struct sess_buf *out, const char *p, size_t n)
{
	size_t i = 0, j;

	sess_buf_add(out, "event: data\n", 12);
	for (;;) {
		for (j = i; j < n && p[j] != '\n' && p[j] != '\r'; j++)
			;
		/* A leading space would be eaten by the reader: add one. */
		if (j > i && p[i] == ' ')
			sess_buf_add(out, "data: ", 6);
		else
			sess_buf_add(out, "data:", 5);
		sess_buf_add(out, p + i, j - i);
		sess_buf_add(out, "\n", 1);
		if (j >= n)
			break;
		if (p[j] == '\r' && j + 1 < n && p[j + 1] == '\n')
			j++;
		i = j + 1;
		if (i >= n) {
			/* The text ended with a line break. */
			sess_buf_add(out, "data:\n", 6);
			break;
		}
	}
	sess_buf_add(out, "\n", 1);
}

static int
is_text(const char *ct)
{
	return strncmp(ct, "text/", 5) == 0;
}

void
sse_frames(struct sess_buf *out, const struct sess_ds_info *s,
    const struct sess_event *evs, size_t n)
{
	struct sess_buf t;
	size_t i;

	sess_buf_init(&t, (size_t)1 << 31);
	if (s->json) {
		sess_buf_add(&t, "[", 1);
		for (i = 0; i < n; i++) {
			if (i > 0)
				sess_buf_add(&t, ",", 1);
			sess_buf_add(&t, evs[i].data, evs[i].len);
		}
		sess_buf_add(&t, "]", 1);
	} else if (is_text(s->content_type)) {
		for (i = 0; i < n; i++)
			sess_buf_add(&t, evs[i].data, evs[i].len);
	} else {
		struct sess_buf raw;

		sess_buf_init(&raw, (size_t)1 << 31);
		for (i = 0; i < n; i++)
			sess_buf_add(&raw, evs[i].data, evs[i].len);
		sess_base64(&t, raw.p, raw.len, 0);
		sess_buf_release(&raw);
	}
	data_lines(out, t.p ? t.p : "", t.len);
	sess_buf_release(&t);
}

void
batch_sse(struct sess_buf *out, const struct sess_ds_info *s,
    const struct batch *b)
{
	out->len = 0;
	sse_frames(out, s, b->ev, b->n);
}

/* The control event after data up to next, in buf (256 bytes). */
int
control_fmt(char *buf, size_t size, int64_t next, int64_t cursor,
    int uptodate, int closed)
{
	int n;

	if (closed)
		n = snprintf(buf, size, "event: control\ndata:{"
		    "\"streamNextOffset\":\"%0*lld\",\"streamClosed\":true,"
		    "\"upToDate\":true}\n\n", SESS_OFFSET_LEN,
		    (long long)next);
	else
		n = snprintf(buf, size, "event: control\ndata:{"
		    "\"streamNextOffset\":\"%0*lld\",\"streamCursor\":"
		    "\"%lld\"%s}\n\n", SESS_OFFSET_LEN, (long long)next,
		    (long long)cursor_value(cursor),
		    uptodate ? ",\"upToDate\":true" : "");
	return n;
}

int
sse_control(struct conn *c, int64_t next, int64_t cursor, int uptodate,
    int closed)
{
	char buf[256];
	int n = control_fmt(buf, sizeof(buf), next, cursor, uptodate, closed);

	return resp_body(c, buf, (size_t)n);
}

int
sse_backlog(struct conn *c, const struct sess_ds_info *s, int64_t *pos,
    int64_t end, int64_t cursor, int *ended)
{
	struct sess_buf frames;
	struct sess_err e;
	struct batch b;
	int rc, uptodate, closed;

	memset(&b, 0, sizeof(b));
	sess_buf_init(&b.data, (size_t)1 << 31);
	sess_buf_init(&frames, (size_t)1 << 31);
	rc = sess_ds_read(sd->rd, s, *pos, end, CHUNK_READ, collect, &b, &e);
	if (rc < 0)
		logx("read: %s", e.msg);
	if (rc > 0) {
		uptodate = b.last >= s->tail;
		closed = uptodate && s->closed;
		batch_fix(&b);
		batch_sse(&frames, s, &b);
		if (resp_body(c, frames.p, frames.len) != 0 ||
		    sse_control(c, b.last, cursor, uptodate, closed) != 0)
			rc = -1;
		*pos = b.last;
		if (closed)
			*ended = 1;
	} else if (rc == 0) {
		*pos = end; /* nothing there: skip to the end */
	}
	sess_buf_release(&frames);
	batch_release(&b);
	return rc;
}

/* sess event lines (GET /v1/events). */

/* Whether type is one of list (see types_of() in sessd-ext.c). */
static int
type_in(const char *list, const char *type)
{
	const char *t;

	if (type == NULL)
		return 0;
	for (t = list; *t == '='; t += strlen(t) + 1)
		if (strcmp(t + 1, type) == 0)
			return 1;
	return 0;
}

int
ext_lines(struct sess_buf *out, const char *sj, const char *types,
    const struct sess_event *evs, size_t n)
{
	size_t i;
	int any = 0;

	for (i = 0; i < n; i++) {
		if (types != NULL && !type_in(types, evs[i].type))
			continue;
		if (sess_event_format(out, sj, &evs[i]) == 0)
			any = 1;
	}
	return any;
}

/* WebSocket events frames. */

/* Appends a whole frame to b. */
int
ws_frame_add(struct sess_buf *b, int op, const void *p, size_t len)
{
	unsigned char h[10];
	size_t hl = sess_wsframe_head(h, op, len);

	if (sess_buf_add(b, h, hl) != 0)
		return -1;
	return len > 0 ? sess_buf_add(b, p, len) : 0;
}

static void
offset_add(struct sess_buf *b, int64_t seq)
{
	char off[SESS_OFFSET_LEN + 1];

	sess_offset_fmt(seq, off);
	sess_buf_add(b, "\"", 1);
	sess_buf_add(b, off, SESS_OFFSET_LEN);
	sess_buf_add(b, "\"", 1);
}

/*
 * The text of an events push for evs[0..n) of stream s (sj: its name as
 * a JSON string).  JSON streams give each value as it is; other streams
 * give the bytes as a string (base64 if they are not UTF-8).
 */
static void
ws_events_text(struct sess_buf *b, const char *sj,
    const struct sess_ds_info *s, const struct sess_event *evs, size_t n)
{
	char t[32];
	size_t i;
	long bad;

	sess_buf_add(b, "{\"op\":\"events\",\"stream\":", 24);
	sess_buf_add(b, sj, strlen(sj));
	sess_buf_add(b, ",\"events\":[", 11);
	for (i = 0; i < n; i++) {
		if (i > 0)
			sess_buf_add(b, ",", 1);
		sess_buf_add(b, "{\"offset\":", 10);
		offset_add(b, evs[i].seq);
		sess_buf_add(b, ",\"time\":\"", 9);
		sess_buf_add(b, t, sess_time_fmt(evs[i].time, t));
		sess_buf_add(b, "\",\"data\":", 9);
		if (s->json) {
			sess_buf_add(b, evs[i].data, evs[i].len);
		} else if (sess_utf8_prefix((const unsigned char *)
		    evs[i].data, evs[i].len, &bad) == evs[i].len) {
			json_t *v = json_stringn(evs[i].data, evs[i].len);
			char *e = v ? json_dumps(v, JSON_COMPACT |
			    JSON_ENCODE_ANY) : NULL;

			if (e != NULL)
				sess_buf_add(b, e, strlen(e));
			free(e);
			json_decref(v);
		} else {
			sess_buf_add(b, "\"", 1);
			sess_base64(b, evs[i].data, evs[i].len, 0);
			sess_buf_add(b, "\",\"encoding\":\"base64\"", 22);
		}
		sess_buf_add(b, "}", 1);
	}
	sess_buf_add(b, "],\"next\":", 9);
	offset_add(b, n > 0 ? evs[n - 1].seq : 0);
	sess_buf_add(b, "}", 1);
}

void
ws_events_frame(struct sess_buf *out, const char *sj,
    const struct sess_ds_info *s, const struct sess_event *evs, size_t n)
{
	struct sess_buf t;

	sess_buf_init(&t, (size_t)1 << 31);
	ws_events_text(&t, sj, s, evs, n);
	ws_frame_add(out, OP_TEXT, t.p, t.len);
	sess_buf_release(&t);
}
