/* sessd-ws.c: the WebSocket protocol at /v1/ws (RFC 6455; see sess-ws(7)). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "sessd.h"

/*
 * One socket carries many streams.  Each attachment of a stream is a
 * waiter in that stream's topic while it is live, so new events are read
 * once per stream and the same frame bytes go to every reader.  An
 * attachment that is behind (just attached, or whose connection's send
 * queue filled up) leaves the topic and catches up from the store, a
 * piece at a time as the socket drains, and joins the topic again at the
 * topic's position: nothing is skipped and nothing is sent twice.
 */

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_MSG_MAX (1024 * 1024)  /* a client message, all fragments */
#define WS_QUEUE_MAX (1024 * 1024) /* queued output before catching up */
#define WS_LOW (64 * 1024)        /* catch up while below this */
#define WS_READ (64 * 1024)       /* event bytes read per catch-up piece */
#define WS_ATTACH_MAX 1000
#define WS_RATE 100               /* publishes per second ... */
#define WS_BURST 200              /* ... with bursts of this many */
#define WS_PING_MS 30000
#define WS_DEAD_MS 75000          /* silent this long: gone */

enum { OP_CONT = 0, OP_TEXT = 1, OP_BIN = 2, OP_CLOSE = 8, OP_PING = 9,
	OP_PONG = 10 };

struct wsconn;

struct wsatt {
	struct fanout_att fa;         /* first: what the fan-out calls */
	struct waiter w;              /* in the topic while live */
	struct wsconn *ws;
	struct wsatt *next;
	char *name;
	char *sj;                     /* the name as a JSON string */
	int64_t pos;                  /* delivered up to (seq) */
	int behind;                   /* catching up from the store */
	int pending;                  /* the stream does not exist yet */
};

/* A request at the writer, until it is answered. */
struct wsreq {
	struct wsreq *next, **pprev;
	struct wsconn *ws;            /* NULL once the connection went */
	json_t *id;
	char *stream;
	const char *re;
	int64_t seq;                  /* ack: the offset acknowledged */
};

struct wsconn {
	struct conn *c;
	char id[20];                  /* the connection id */
	char *member;
	struct auth *auth;
	struct wsatt *atts;
	int natts, nbehind;
	struct sess_buf msg;          /* a fragmented message so far */
	int msg_op;
	double tokens;                /* publish rate limit */
	int64_t tokens_at;
	int64_t last_rx;
	int clean;                    /* a close frame was seen */
	struct wsreq *reqs;
	char **present;               /* streams with our presence */
	int npresent;
};

static int nws;                   /* connections upgraded */
static int npending;              /* attachments waiting for a stream */

static void
set_pending(struct wsatt *a, int on)
{
	if (a->pending != on)
		npending += on ? 1 : -1;
	a->pending = on;
}

/* Frames. */

#define frame_head sess_wsframe_head

static int
send_frame(struct wsconn *ws, int op, const void *p, size_t len)
{
	unsigned char h[10];
	size_t hl = frame_head(h, op, len);

	if (conn_write(ws->c, h, hl) != 0 ||
	    (len > 0 && conn_write(ws->c, p, len) != 0))
		return -1;
	return 0;
}

static int
send_json(struct wsconn *ws, json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT);
	int rc;

	json_decref(v);
	if (s == NULL)
		return -1;
	rc = send_frame(ws, OP_TEXT, s, strlen(s));
	free(s);
	return rc;
}

static void
ws_close(struct wsconn *ws, int code, const char *why)
{
	unsigned char p[125];
	size_t n = strlen(why);

	if (ws->c->state == C_CLOSED)
		return;
	if (n > sizeof(p) - 2)
		n = sizeof(p) - 2;
	p[0] = (unsigned char)(code >> 8);
	p[1] = (unsigned char)code;
	memcpy(p + 2, why, n);
	send_frame(ws, OP_CLOSE, p, n + 2);
	conn_close_after(ws->c);
}

/* Replies. */

static json_t *
reply_new(const char *re, json_t *id)
{
	json_t *r = json_object();

	json_object_set_new(r, "op", json_string("ok"));
	json_object_set_new(r, "re", json_string(re));
	if (id != NULL)
		json_object_set(r, "id", id);
	return r;
}

/* The code of an error frame for a library error: the error table's. */
static const char *
err_code(int rc, int failure)
{
	return sess_status_of(rc, sess_status_why(rc, failure, 0, 0))->name;
}

static void
send_error(struct wsconn *ws, const char *re, json_t *id,
    const char *stream, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static void
send_error(struct wsconn *ws, const char *re, json_t *id,
    const char *stream, const char *code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	json_t *r = json_object();

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_object_set_new(r, "op", json_string("error"));
	json_object_set_new(r, "re", re ? json_string(re) : json_null());
	json_object_set(r, "id", id ? id : json_null());
	if (stream != NULL)
		json_object_set_new(r, "stream", json_string(stream));
	json_object_set_new(r, "code", json_string(code));
	json_object_set_new(r, "message", json_string(msg));
	send_json(ws, r);
}

/* Events. */

static void
want_writeable(struct wsconn *ws)
{
	conn_kick(ws->c);
	conn_want_write(ws->c);
}

/* a catches up from the store (the fan-out has let it go). */
static void
fall_behind(struct wsatt *a)
{
	if (!a->behind) {
		a->behind = 1;
		a->ws->nbehind++;
	}
	want_writeable(a->ws);
}

/*
 * From the fan-out: the frame with t's new events, which a has up to
 * from.  Returns 0, or -1 if a was switched to catching up.
 */
static int
ws_deliver(struct fanout_att *fa, int64_t from, int64_t last,
    const void *frame, size_t len, size_t *total)
{
	struct wsatt *a = (struct wsatt *)fa;
	struct conn *c = a->ws->c;

	if (c->state == C_CLOSED)
		return -1;
	if (a->pos != from || conn_queued(c) + len > WS_QUEUE_MAX ||
	    *total + len > LIVE_TOTAL_MAX) {
		fall_behind(a);
		return -1;
	}
	if (conn_write(c, frame, len) != 0) {
		fall_behind(a);
		return -1;
	}
	*total += len;
	a->pos = last;
	return 0;
}

static void
att_push(struct wsatt *a, const char *op, int64_t seq)
{
	json_t *r = json_object();

	json_object_set_new(r, "op", json_string(op));
	json_object_set_new(r, "stream", json_string(a->name));
	if (seq >= 0) {
		char off[SESS_OFFSET_LEN + 1];

		sess_offset_fmt(seq, off);
		json_object_set_new(r, "offset", json_string(off));
	}
	send_json(a->ws, r);
}

static void
att_free(struct wsatt *a)
{
	struct wsatt **pp;

	for (pp = &a->ws->atts; *pp != NULL; pp = &(*pp)->next)
		if (*pp == a) {
			*pp = a->next;
			break;
		}
	fanout_unlink(&a->w);
	if (a->behind)
		a->ws->nbehind--;
	set_pending(a, 0);
	a->ws->natts--;
	free(a->name);
	free(a->sj);
	free(a);
}

/* From the fan-out: a's stream was closed (gone 0) or deleted. */
static void
ws_end(struct fanout_att *fa, const struct sess_ds_info *s, int gone)
{
	struct wsatt *a = (struct wsatt *)fa;

	if (gone)
		att_push(a, "gone", -1);
	else
		att_push(a, "closed", a->pos);
	att_free(a);
}

/*
 * One piece of a's catch-up: the events after a->pos, or joining the
 * topic when there are none.  Returns 1 if a is still behind.
 */
static int
catch_up(struct wsatt *a)
{
	struct sess_ds_info s;
	struct sess_err e;
	struct sess_buf f;
	struct fanout_batch *b;
	int rc;

	rc = sess_ds_get(sd->rd, a->name, &s, &e);
	if (rc == SESS_ENOENT) {
		if (s.gone) {
			ws_end(&a->fa, &s, 1);
			return 0;
		}
		/* Not there yet: fanout_poll() looks again. */
		set_pending(a, 1);
		a->behind = 0;
		a->ws->nbehind--;
		return 0;
	}
	if (rc != 0) {
		logx("%s: %s", a->name, e.msg);
		return 1;
	}
	set_pending(a, 0);
	if (a->pos < s.tail) {
		if ((b = fanout_read(&s, a->pos, s.tail, WS_READ)) == NULL)
			return 1;
		sess_buf_init(&f, (size_t)1 << 31);
		if (b->n > 0) {
			ws_events_frame(&f, a->sj, &s, b->ev, b->n);
			if (conn_write(a->ws->c, f.p, f.len) == 0)
				a->pos = b->last;
		} else {
			a->pos = s.tail; /* nothing there (a fork's gap) */
		}
		sess_buf_release(&f);
		fanout_batch_free(b);
		return 1;
	}
	if (s.closed) {
		ws_end(&a->fa, &s, 0);
		return 0;
	}
	if (fanout_join(&a->w, &s, a->name, a->pos) != 0)
		return 1;
	a->behind = 0;
	a->ws->nbehind--;
	return 0;
}

/* From conn_writeable(): attachments behind catch up as room allows. */
void
ws_writeable(struct conn *c)
{
	struct wsconn *ws = c->ws;
	struct wsatt *a, *next;
	int rounds = 0, more = 1;

	while (ws->nbehind > 0 && more && rounds++ < 16 &&
	    conn_queued(c) < WS_LOW && c->state != C_CLOSED) {
		more = 0;
		for (a = ws->atts; a != NULL; a = next) {
			next = a->next;
			if (a->behind && catch_up(a))
				more = 1;
			if (conn_queued(c) >= WS_LOW)
				break;
		}
	}
	if (ws->nbehind > 0)
		conn_want_write(c);
}

/* After every wake-up: attachments waiting for their stream look again. */
void
ws_poll(void)
{
	struct conn *c;
	struct wsatt *a;

	if (npending == 0)
		return;
	for (c = sd->conns; c != NULL; c = c->next) {
		if (c->ws == NULL || c->state == C_CLOSED)
			continue;
		for (a = c->ws->atts; a != NULL; a = a->next)
			if (a->pending) {
				struct sess_ds_info s;
				struct sess_err e;

				if (sess_ds_get(sd->rd, a->name, &s, &e) != 0)
					continue;
				set_pending(a, 0);
				a->behind = 1;
				c->ws->nbehind++;
				want_writeable(c->ws);
			}
	}
}

/* Operations. */

static const char *
str_field(json_t *req, const char *key)
{
	json_t *v = json_object_get(req, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* The stream a request names, checked; NULL after an error frame. */
static const char *
stream_of(struct wsconn *ws, const char *op, json_t *id, json_t *req,
    int cap)
{
	const char *name = str_field(req, "stream");
	struct sess_err e;

	if (name == NULL) {
		send_error(ws, op, id, NULL, "BAD_REQUEST",
		    "%s needs a \"stream\" string", op);
		return NULL;
	}
	if (sess_name_check(name, strlen(name), &e) != 0) {
		send_error(ws, op, id, name, "BAD_STREAM_NAME", "%s", e.msg);
		return NULL;
	}
	if (ws->auth != NULL && !auth_allows(ws->auth, name, cap)) {
		send_error(ws, op, id, name, "FORBIDDEN",
		    "the token does not allow %s on this stream",
		    cap == SESS_CAP_READ ? "reading" : cap == SESS_CAP_WRITE ?
		    "writing" : cap == SESS_CAP_PRESENCE ? "presence" : "that");
		return NULL;
	}
	return name;
}

static struct wsatt *
att_find(struct wsconn *ws, const char *name)
{
	struct wsatt *a;

	for (a = ws->atts; a != NULL; a = a->next)
		if (strcmp(a->name, name) == 0)
			return a;
	return NULL;
}

static void
op_attach(struct wsconn *ws, json_t *id, json_t *req)
{
	const char *name, *off = str_field(req, "offset");
	struct sess_ds_info s;
	struct sess_err e;
	struct wsatt *a;
	json_t *r, *jname;
	int64_t seq = 0;
	int kind = SESS_OFF_START, rc;
	char o[SESS_OFFSET_LEN + 1];

	if ((name = stream_of(ws, "attach", id, req, SESS_CAP_READ)) == NULL)
		return;
	if (json_object_get(req, "offset") != NULL && off == NULL) {
		send_error(ws, "attach", id, name, "BAD_OFFSET",
		    "\"offset\" must be a string");
		return;
	}
	if (off != NULL && sess_offset_parse(off, &kind, &seq, &e) != 0) {
		send_error(ws, "attach", id, name, "BAD_OFFSET", "%s", e.msg);
		return;
	}
	rc = sess_ds_get(sd->rd, name, &s, &e);
	if (rc != 0 && rc != SESS_ENOENT) {
		send_error(ws, "attach", id, name, err_code(rc, 0), "%s",
		    e.msg);
		return;
	}
	if (rc == SESS_ENOENT) {
		s.tail = 0;
		s.closed = 0;
	}
	if (kind == SESS_OFF_NOW)
		seq = s.tail;
	else if (kind == SESS_OFF_START)
		seq = 0;
	else if (seq > s.tail) {
		send_error(ws, "attach", id, name, "BAD_OFFSET",
		    "offset %s is beyond the tail of %s", off, name);
		return;
	}
	if ((a = att_find(ws, name)) != NULL) {
		att_free(a); /* attached again: from the new offset */
	} else if (ws->natts >= WS_ATTACH_MAX) {
		send_error(ws, "attach", id, name, "ATTACH_LIMIT", "at most %d "
		    "streams are attached on one connection", WS_ATTACH_MAX);
		return;
	}
	if ((a = calloc(1, sizeof(*a))) == NULL ||
	    (a->name = strdup(name)) == NULL ||
	    (jname = json_string(name)) == NULL) {
		if (a != NULL)
			free(a->name);
		free(a);
		send_error(ws, "attach", id, name, "OUT_OF_MEMORY",
		    "out of memory");
		return;
	}
	a->sj = json_dumps(jname, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(jname);
	a->ws = ws;
	a->fa.deliver = ws_deliver;
	a->fa.end = ws_end;
	a->w.att = &a->fa;
	a->pos = seq;
	a->next = ws->atts;
	ws->atts = a;
	ws->natts++;
	r = reply_new("attach", id);
	json_object_set_new(r, "stream", json_string(name));
	sess_offset_fmt(seq, o);
	json_object_set_new(r, "offset", json_string(o));
	sess_offset_fmt(s.tail, o);
	json_object_set_new(r, "tail", json_string(o));
	json_object_set_new(r, "exists", json_boolean(rc == 0));
	send_json(ws, r);
	r = json_object();
	json_object_set_new(r, "op", json_string("members"));
	json_object_set_new(r, "stream", json_string(name));
	json_object_set_new(r, "members", presence_members(name));
	send_json(ws, r);
	if (rc == SESS_ENOENT) {
		set_pending(a, 1);
		return;
	}
	a->behind = 1;
	ws->nbehind++;
	want_writeable(ws);
}

static void
op_detach(struct wsconn *ws, json_t *id, json_t *req)
{
	const char *name = str_field(req, "stream");
	struct wsatt *a;
	json_t *r;

	if (name == NULL || (a = att_find(ws, name)) == NULL) {
		send_error(ws, "detach", id, name, "NOT_ATTACHED",
		    "%s is not attached", name ? name : "that stream");
		return;
	}
	att_free(a);
	r = reply_new("detach", id);
	json_object_set_new(r, "stream", json_string(name));
	send_json(ws, r);
}

/* Requests at the writer. */

static struct wsreq *
wsreq_new(struct wsconn *ws, const char *re, json_t *id, const char *stream)
{
	struct wsreq *q = calloc(1, sizeof(*q));

	if (q == NULL || (q->stream = strdup(stream)) == NULL) {
		free(q);
		return NULL;
	}
	q->ws = ws;
	q->re = re;
	q->id = id ? json_incref(id) : NULL;
	q->next = ws->reqs;
	if (ws->reqs != NULL)
		ws->reqs->pprev = &q->next;
	q->pprev = &ws->reqs;
	ws->reqs = q;
	return q;
}

/* Takes q off its connection's list; returns the connection or NULL. */
static struct wsconn *
wsreq_end(struct wsreq *q)
{
	struct wsconn *ws = q->ws;

	if (ws != NULL) {
		*q->pprev = q->next;
		if (q->next != NULL)
			q->next->pprev = q->pprev;
	}
	return ws;
}

static void
wsreq_free(struct wsreq *q)
{
	json_decref(q->id);
	free(q->stream);
	free(q);
}

static void
publish_done(struct job *j)
{
	struct wsreq *q = j->arg;
	struct wsconn *ws = wsreq_end(q);
	char o[SESS_OFFSET_LEN + 1];
	json_t *r;

	if (j->rc == 0)
		sub_notify(q->stream);
	if (ws != NULL && j->rc != 0) {
		send_error(ws, "publish", q->id, q->stream,
		    err_code(j->rc, j->failure), "%s", j->err.msg);
	} else if (ws != NULL) {
		r = reply_new("publish", q->id);
		json_object_set_new(r, "stream", json_string(q->stream));
		sess_offset_fmt(j->acks[0].seq, o);
		json_object_set_new(r, "offset", json_string(o));
		json_object_set_new(r, "duplicate",
		    json_boolean(j->acks[0].duplicate));
		send_json(ws, r);
	}
	wsreq_free(q);
}

/* A token bucket: 1 if one more publish may go now. */
static int
rate_ok(struct wsconn *ws)
{
	int64_t now = lws_now_usecs();

	ws->tokens += (double)(now - ws->tokens_at) * WS_RATE / 1e6;
	ws->tokens_at = now;
	if (ws->tokens > WS_BURST)
		ws->tokens = WS_BURST;
	if (ws->tokens < 1)
		return 0;
	ws->tokens -= 1;
	return 1;
}

static void
op_publish(struct wsconn *ws, json_t *id, json_t *req)
{
	const char *name, *mid;
	json_t *data = json_object_get(req, "data"), *midv;
	struct sess_err e;
	struct wsreq *q;
	struct job *j;
	char *text, *body;
	size_t n;
	int rc;

	if ((name = stream_of(ws, "publish", id, req, SESS_CAP_WRITE)) == NULL)
		return;
	midv = json_object_get(req, "mid");
	mid = json_is_string(midv) ? json_string_value(midv) : NULL;
	if (data == NULL || (midv != NULL && (mid == NULL || *mid == '\0' ||
	    strlen(mid) > ID_MAX - 8))) {
		send_error(ws, "publish", id, name, "BAD_REQUEST", data == NULL ?
		    "publish needs \"data\"" : "\"mid\" must be a string of "
		    "1 to %d bytes", ID_MAX - 8);
		return;
	}
	if (!rate_ok(ws)) {
		send_error(ws, "publish", id, name, "RATE_LIMITED", "more than "
		    "%d publishes a second on this connection", WS_RATE);
		return;
	}
	if ((text = json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY)) ==
	    NULL || (j = job_new(J_SESS_APPEND, NULL)) == NULL) {
		free(text);
		send_error(ws, "publish", id, name, "OUT_OF_MEMORY",
		    "out of memory");
		return;
	}
	/* One value, whatever it is: an array is not split. */
	n = strlen(text);
	body = malloc(n + 3);
	if (body != NULL) {
		body[0] = '[';
		memcpy(body + 1, text, n);
		body[n + 1] = ']';
		body[n + 2] = '\0';
	}
	free(text);
	sess_buf_init(&j->body, n + 16);
	rc = body == NULL ? SESS_ENOMEM : sess_ds_split(body, n + 2, 1,
	    &j->body, &j->items, &j->n, &e);
	if (rc != 0 || j->n != 1 ||
	    (j->acks = calloc(1, sizeof(*j->acks))) == NULL) {
		send_error(ws, "publish", id, name, rc == SESS_EOWN ?
		    err_code(rc, 0) : "BAD_REQUEST", "%s",
		    rc == SESS_ENOMEM || (rc == 0 && j->n == 1) ?
		    "out of memory" : rc != 0 ? e.msg : "one value");
		free(body);
		job_free(j);
		return;
	}
	free(body);
	j->items[0].pseq = 0;
	j->items[0].units = 1;
	if (mid != NULL) {
		/* Each message id is a producer of one value. */
		char pid[ID_MAX];

		snprintf(pid, sizeof(pid), "mid:%s", mid);
		j->has_pr = 1;
		j->pr.id = job_str(j, pid);
		j->pr.epoch = 0;
	}
	j->req.stream = job_str(j, name);
	if ((q = wsreq_new(ws, "publish", id, name)) == NULL) {
		job_free(j);
		send_error(ws, "publish", id, name, "OUT_OF_MEMORY",
		    "out of memory");
		return;
	}
	j->arg = q;
	j->done = publish_done;
	job_submit(j);
}

static void
presence_done(void *arg, int rc, const char *msg)
{
	struct wsreq *q = arg;
	struct wsconn *ws = wsreq_end(q);
	json_t *r;

	if (ws != NULL && rc != 0) {
		send_error(ws, q->re, q->id, q->stream, err_code(rc, 0), "%s",
		    msg ? msg : "presence was not recorded");
	} else if (ws != NULL) {
		r = reply_new(q->re, q->id);
		json_object_set_new(r, "stream", json_string(q->stream));
		send_json(ws, r);
	}
	wsreq_free(q);
}

static int
present_add(struct wsconn *ws, const char *name)
{
	char **v;
	int i;

	for (i = 0; i < ws->npresent; i++)
		if (strcmp(ws->present[i], name) == 0)
			return 0;
	if ((v = realloc(ws->present, (size_t)(ws->npresent + 1) *
	    sizeof(*v))) == NULL)
		return -1;
	ws->present = v;
	if ((v[ws->npresent] = strdup(name)) == NULL)
		return -1;
	ws->npresent++;
	return 0;
}

static void
present_del(struct wsconn *ws, const char *name)
{
	int i;

	for (i = 0; i < ws->npresent; i++)
		if (strcmp(ws->present[i], name) == 0) {
			free(ws->present[i]);
			ws->present[i] = ws->present[--ws->npresent];
			return;
		}
}

static void
op_presence(struct wsconn *ws, const char *op, json_t *id, json_t *req)
{
	const char *name;
	json_t *data = json_object_get(req, "data");
	char *text = NULL;
	struct wsreq *q;

	if ((name = stream_of(ws, op, id, req, SESS_CAP_PRESENCE)) == NULL)
		return;
	if (ws->member == NULL) {
		send_error(ws, op, id, name, "NO_MEMBER", "presence needs a "
		    "member: send hello first, or connect with ?member=");
		return;
	}
	if (data != NULL && !json_is_object(data) && !json_is_null(data)) {
		send_error(ws, op, id, name, "BAD_REQUEST",
		    "\"data\" must be an object");
		return;
	}
	if (strcmp(op, "leave") != 0 && !rate_ok(ws)) {
		send_error(ws, op, id, name, "RATE_LIMITED", "more than %d "
		    "updates a second on this connection", WS_RATE);
		return;
	}
	if (json_is_object(data) && (text = json_dumps(data, JSON_COMPACT)) ==
	    NULL) {
		send_error(ws, op, id, name, "OUT_OF_MEMORY", "out of memory");
		return;
	}
	if (strcmp(op, "leave") == 0)
		present_del(ws, name);
	else if (present_add(ws, name) != 0) {
		free(text);
		send_error(ws, op, id, name, "OUT_OF_MEMORY", "out of memory");
		return;
	}
	/* q outlives the request, and op points into it: keep a literal. */
	op = strcmp(op, "enter") == 0 ? "enter" : strcmp(op, "update") == 0 ?
	    "update" : "leave";
	if ((q = wsreq_new(ws, op, id, name)) == NULL ||
	    presence_set(name, ws->member, ws->id, op, text, presence_done,
	    q) != 0) {
		if (q != NULL) {
			wsreq_end(q);
			wsreq_free(q);
		}
		send_error(ws, op, id, name, err_code(SESS_ENOMEM, 0),
		    "presence was not recorded");
	}
	free(text);
}

static void
op_members(struct wsconn *ws, json_t *id, json_t *req)
{
	const char *name;
	json_t *r;

	if ((name = stream_of(ws, "members", id, req, SESS_CAP_READ)) == NULL)
		return;
	r = reply_new("members", id);
	json_object_set_new(r, "stream", json_string(name));
	json_object_set_new(r, "members", presence_members(name));
	send_json(ws, r);
}

static void
ack_done(void *arg, int rc, int64_t unread, const char *msg)
{
	struct wsreq *q = arg;
	struct wsconn *ws = wsreq_end(q);
	json_t *r;

	if (ws != NULL && rc != 0) {
		send_error(ws, "ack", q->id, q->stream, rc == SESS_EINVAL ?
		    "BAD_OFFSET" : err_code(rc, 0), "%s",
		    msg ? msg : "the read position was not recorded");
	} else if (ws != NULL) {
		char o[SESS_OFFSET_LEN + 1];

		r = reply_new("ack", q->id);
		json_object_set_new(r, "stream", json_string(q->stream));
		sess_offset_fmt(q->seq, o);
		json_object_set_new(r, "offset", json_string(o));
		json_object_set_new(r, "unread", json_integer(unread));
		send_json(ws, r);
	}
	wsreq_free(q);
}

static void
op_ack(struct wsconn *ws, json_t *id, json_t *req)
{
	const char *name, *off = str_field(req, "offset");
	struct sess_err e;
	struct wsreq *q;
	int64_t seq;
	int kind;

	if ((name = stream_of(ws, "ack", id, req, SESS_CAP_READ)) == NULL)
		return;
	if (ws->member == NULL) {
		send_error(ws, "ack", id, name, "NO_MEMBER", "a read position "
		    "needs a member: send hello first, or connect with "
		    "?member=");
		return;
	}
	if (off == NULL || sess_offset_parse(off, &kind, &seq, &e) != 0 ||
	    kind != SESS_OFF_SEQ) {
		send_error(ws, "ack", id, name, "BAD_OFFSET", "ack needs an "
		    "\"offset\" like \"0000000000000007\"");
		return;
	}
	if ((q = wsreq_new(ws, "ack", id, name)) != NULL)
		q->seq = seq;
	if (q == NULL || cursor_set(name, ws->member, seq, ack_done, q) != 0) {
		if (q != NULL) {
			wsreq_end(q);
			wsreq_free(q);
		}
		send_error(ws, "ack", id, name, err_code(SESS_ENOMEM, 0),
		    "the read position was not recorded");
	}
}

static int
member_ok(const char *m)
{
	size_t i, n = strlen(m);

	if (n == 0 || n > 256)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)m[i] < 0x20 || m[i] == 0x7f)
			return 0;
	return 1;
}

static void
op_hello(struct wsconn *ws, json_t *id, json_t *req)
{
	const char *m = str_field(req, "member");
	json_t *r;

	if (m != NULL && ws->auth != NULL) {
		if (strcmp(m, auth_subject(ws->auth)) != 0) {
			send_error(ws, "hello", id, NULL, "FORBIDDEN", "the "
			    "member is the token's subject");
			return;
		}
	} else if (m != NULL) {
		if (!member_ok(m)) {
			send_error(ws, "hello", id, NULL, "BAD_REQUEST",
			    "\"member\" must be 1 to 256 bytes without "
			    "control characters");
			return;
		}
		if (ws->npresent > 0 && ws->member != NULL &&
		    strcmp(ws->member, m) != 0) {
			send_error(ws, "hello", id, NULL, "BAD_REQUEST",
			    "leave every stream before changing member");
			return;
		}
		free(ws->member);
		ws->member = strdup(m);
	}
	r = reply_new("hello", id);
	json_object_set_new(r, "member",
	    ws->member ? json_string(ws->member) : json_null());
	json_object_set_new(r, "conn", json_string(ws->id));
	send_json(ws, r);
}

static void
message(struct wsconn *ws, const char *p, size_t n)
{
	json_error_t je;
	json_t *req, *id;
	const char *op;

	req = json_loadb(p, n, JSON_REJECT_DUPLICATES, &je);
	if (req == NULL || !json_is_object(req)) {
		if (req == NULL)
			send_error(ws, NULL, NULL, NULL, "BAD_FRAME",
			    "not JSON: column %d: %s", je.column, je.text);
		else
			send_error(ws, NULL, NULL, NULL, "BAD_FRAME",
			    "a frame is one JSON object");
		json_decref(req);
		return;
	}
	id = json_object_get(req, "id");
	if (id != NULL && !json_is_string(id) && !json_is_number(id) &&
	    !json_is_null(id)) {
		send_error(ws, NULL, NULL, NULL, "BAD_REQUEST",
		    "\"id\" must be a string or a number");
		json_decref(req);
		return;
	}
	op = str_field(req, "op");
	if (op == NULL)
		send_error(ws, NULL, id, NULL, "BAD_REQUEST",
		    "a frame needs an \"op\" string");
	else if (strcmp(op, "attach") == 0)
		op_attach(ws, id, req);
	else if (strcmp(op, "detach") == 0)
		op_detach(ws, id, req);
	else if (strcmp(op, "publish") == 0)
		op_publish(ws, id, req);
	else if (strcmp(op, "enter") == 0 || strcmp(op, "update") == 0 ||
	    strcmp(op, "leave") == 0)
		op_presence(ws, op, id, req);
	else if (strcmp(op, "members") == 0)
		op_members(ws, id, req);
	else if (strcmp(op, "ack") == 0)
		op_ack(ws, id, req);
	else if (strcmp(op, "hello") == 0)
		op_hello(ws, id, req);
	else if (strcmp(op, "ping") == 0) {
		json_t *r = json_object();

		json_object_set_new(r, "op", json_string("pong"));
		if (id != NULL)
			json_object_set(r, "id", id);
		send_json(ws, r);
	} else
		send_error(ws, op, id, NULL, "UNKNOWN_OP",
		    "unknown op \"%.64s\"", op);
	json_decref(req);
}

/* Input. */

static int
utf8_ok(const char *p, size_t n)
{
	long bad;

	return sess_utf8_prefix((const unsigned char *)p, n, &bad) == n;
}

/*
 * After a 1009: lets the rest of the refused frame in (within bounds)
 * before closing.  Closing with unread input resets the connection, and
 * the client may then never read the close frame.
 */
static void
drain(struct conn *c, uint64_t frame)
{
	if (frame > c->in.len && frame - c->in.len <= 4 * (uint64_t)WS_MSG_MAX) {
		c->discard = (int64_t)(frame - c->in.len);
		conn_timer(c, sd->req_ms, conn_close);
	}
}

/*
 * Takes whole frames from c->in.  Returns 0, or -1 once the connection
 * is closing.
 */
static int
frames(struct wsconn *ws)
{
	struct conn *c = ws->c;
	struct sess_wsframe f;
	struct sess_err e;
	unsigned char *p;
	int rc, code;

	while (c->in.len >= 2 && c->state != C_CLOSED) {
		rc = sess_wsframe_parse((unsigned char *)c->in.p, c->in.len,
		    WS_MSG_MAX, &f, &e);
		if (rc == 0)
			return 0;
		if (rc < 0 || (f.op == OP_CONT &&
		    ws->msg.len + f.len > WS_MSG_MAX)) {
			code = rc < 0 ? f.close : 1009;
			ws_close(ws, code, rc < 0 ? e.msg :
			    "message over the limit of 1 MiB");
			if (code == 1009)
				drain(c, f.head + f.len);
			return -1;
		}
		if (c->in.len < f.head + f.len)
			return 0;
		p = (unsigned char *)c->in.p + f.head;
		sess_wsframe_unmask(p, f.len, f.mask);
		switch (f.op) {
		case OP_TEXT:
		case OP_BIN:
			if (ws->msg_op != 0) {
				ws_close(ws, 1002, "a new message inside a "
				    "fragmented one");
				return -1;
			}
			if (f.op == OP_BIN) {
				ws_close(ws, 1003, "frames are JSON text");
				return -1;
			}
			if (f.fin) {
				if (!utf8_ok((char *)p, f.len)) {
					ws_close(ws, 1007, "not UTF-8");
					return -1;
				}
				message(ws, (char *)p, f.len);
			} else {
				ws->msg_op = f.op;
				ws->msg.len = 0;
				sess_buf_add(&ws->msg, p, f.len);
			}
			break;
		case OP_CONT:
			if (ws->msg_op == 0) {
				ws_close(ws, 1002, "a continuation of nothing");
				return -1;
			}
			sess_buf_add(&ws->msg, p, f.len);
			if (f.fin) {
				ws->msg_op = 0;
				if (!utf8_ok(ws->msg.p, ws->msg.len)) {
					ws_close(ws, 1007, "not UTF-8");
					return -1;
				}
				message(ws, ws->msg.p, ws->msg.len);
				sess_buf_release(&ws->msg);
			}
			break;
		case OP_PING:
			send_frame(ws, OP_PONG, p, f.len);
			break;
		case OP_PONG:
			break;
		case OP_CLOSE:
			ws->clean = 1;
			if (sess_wsframe_close(p, f.len, &code, &e) != 0)
				ws_close(ws, strstr(e.msg, "UTF-8") ? 1007 :
				    1002, e.msg);
			else
				ws_close(ws, 1000, "");
			return -1;
		}
		sess_buf_consume(&c->in, f.head + f.len);
	}
	return 0;
}

int
ws_rx(struct conn *c, const void *p, size_t n)
{
	struct wsconn *ws = c->ws;

	ws->last_rx = lws_now_usecs();
	if (n > 0 && sess_buf_add(&c->in, p, n) != 0) {
		ws_close(ws, 1009, "message larger than 1 MiB");
		return 0;
	}
	frames(ws);
	return 0;
}

/* Keep-alive: a ping every WS_PING_MS; a peer silent for long is gone. */
static void
ws_tick(lws_sorted_usec_list_t *sul)
{
	struct conn *c = lws_container_of(sul, struct conn, ping);

	if (c->ws == NULL || c->state == C_CLOSED)
		return;
	if (lws_now_usecs() - c->ws->last_rx > (int64_t)WS_DEAD_MS * 1000) {
		conn_close(c);
		return;
	}
	send_frame(c->ws, OP_PING, "", 0);
	lws_sul_schedule(sd->ctx, 0, &c->ping, ws_tick,
	    (lws_usec_t)WS_PING_MS * 1000);
}

static void
token_expired(struct conn *c)
{
	if (c->ws != NULL)
		ws_close(c->ws, 1008, "the token expired");
}

/* The upgrade. */

static int
bad_upgrade(struct conn *c, int status, const char *why)
{
	if (status == 426)
		return resp_fail(c, SESS_EINVAL, SESS_WHY_UPGRADE,
		    "Sec-WebSocket-Version: 13\r\n", "%s", why);
	return resp_fail(c, SESS_EINVAL, SESS_WHY_NONE, NULL, "%s", why);
}

static int
has_word(const char *list, const char *w)
{
	size_t n = strlen(w);
	const char *p;

	for (p = list; p != NULL && *p != '\0'; p++) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (strncasecmp(p, w, n) == 0 && (p[n] == '\0' ||
		    p[n] == ',' || p[n] == ' ' || p[n] == '\t'))
			return 1;
		if ((p = strchr(p, ',')) == NULL)
			break;
	}
	return 0;
}

/*
 * The token of an upgrade: the Authorization header, or the token query
 * parameter (browsers cannot set headers on a WebSocket).  Answers 401
 * and returns -1 if there is none or it is not valid.
 */
static int
ws_token(struct conn *c, const char *qs, struct auth **out)
{
	char tok[4096], why[256];

	(void)qs;
	if (auth_token(c, tok, sizeof(tok)) != 0) {
		resp_fail(c, SESS_EINVAL, SESS_WHY_AUTH,
		    "WWW-Authenticate: Bearer realm=\"sessd\"\r\n",
		    "a token is required (Authorization: Bearer TOKEN, or "
		    "?token=TOKEN)");
		return -1;
	}
	if (auth_parse(tok, out, why, sizeof(why)) != 0) {
		resp_fail(c, SESS_EINVAL, SESS_WHY_AUTH,
		    "WWW-Authenticate: Bearer realm=\"sessd\", "
		    "error=\"invalid_token\"\r\n",
		    "%s", why);
		return -1;
	}
	return 0;
}

int
ws_upgrade(struct conn *c, const char *path, const char *qs)
{
	struct req *r = &c->req;
	const char *key = req_header(r, "Sec-WebSocket-Key");
	const char *ver = req_header(r, "Sec-WebSocket-Version");
	const char *up = req_header(r, "Upgrade");
	const char *cn = req_header(r, "Connection");
	const char *proto = req_header(r, "Sec-WebSocket-Protocol");
	unsigned char raw[64], sha[SHA_DIGEST_LENGTH];
	char acc[64], kbuf[128], member[512];
	struct auth *auth = NULL;
	struct wsconn *ws;
	json_t *w, *lim;
	int n;

	if (r->method != M_GET)
		return resp_fail(c, SESS_EINVAL, SESS_WHY_METHOD,
		    "Allow: GET\r\n", "WebSocket upgrades are GET requests");
	if (up == NULL || !has_word(up, "websocket") || cn == NULL ||
	    !has_word(cn, "upgrade"))
		return bad_upgrade(c, 426, "this is a WebSocket endpoint: "
		    "send Upgrade: websocket");
	if (ver == NULL || strcmp(ver, "13") != 0)
		return bad_upgrade(c, 426, "Sec-WebSocket-Version must be 13");
	if (key == NULL || strlen(key) != 24 ||
	    EVP_DecodeBlock(raw, (const unsigned char *)key, 24) != 18)
		return bad_upgrade(c, 400, "Sec-WebSocket-Key must be 16 "
		    "bytes in base64");
	if (r->minor != 1)
		return bad_upgrade(c, 400, "WebSocket needs HTTP/1.1");
	if (auth_enabled() && ws_token(c, qs, &auth) != 0)
		return 0; /* answered 401 */
	member[0] = '\0';
	if (auth == NULL && qs != NULL &&
	    query_get(qs, "member", member, sizeof(member)) == 0 &&
	    !member_ok(member))
		return resp_fail(c, SESS_EINVAL, SESS_WHY_NONE, NULL,
		    "member must be 1 to "
		    "256 bytes without control characters");
	if ((ws = calloc(1, sizeof(*ws))) == NULL) {
		auth_free(auth);
		return resp_fail(c, SESS_ENOMEM, SESS_WHY_NONE, NULL,
		    "out of memory");
	}
	ws->c = c;
	ws->auth = auth;
	if (auth != NULL)
		ws->member = strdup(auth_subject(auth));
	else if (member[0] != '\0')
		ws->member = strdup(member);
	ws->id[0] = 'c';
	hook_random(ws->id + 1, 8);
	ws->tokens = WS_BURST;
	ws->tokens_at = ws->last_rx = lws_now_usecs();
	sess_buf_init(&ws->msg, WS_MSG_MAX + 16);

	n = snprintf(kbuf, sizeof(kbuf), "%s%s", key, WS_GUID);
	SHA1((const unsigned char *)kbuf, (size_t)n, sha);
	EVP_EncodeBlock((unsigned char *)acc, sha, sizeof(sha));
	resp_start(c, 101);
	resp_header(c, "Upgrade", "websocket");
	resp_header(c, "Connection", "Upgrade");
	resp_header(c, "Sec-WebSocket-Accept", "%s", acc);
	if (proto != NULL && has_word(proto, "sess.v1"))
		resp_header(c, "Sec-WebSocket-Protocol", "sess.v1");
	conn_upgraded(c, ws);
	nws++;

	w = json_object();
	json_object_set_new(w, "op", json_string("welcome"));
	json_object_set_new(w, "conn", json_string(ws->id));
	json_object_set_new(w, "member",
	    ws->member ? json_string(ws->member) : json_null());
	lim = json_object();
	json_object_set_new(lim, "attachments", json_integer(WS_ATTACH_MAX));
	json_object_set_new(lim, "message", json_integer(WS_MSG_MAX));
	json_object_set_new(lim, "publish_per_sec", json_integer(WS_RATE));
	json_object_set_new(lim, "publish_burst", json_integer(WS_BURST));
	json_object_set_new(w, "limits", lim);
	json_object_set_new(w, "grace", json_integer(presence_grace_ms() / 1000));
	send_json(ws, w);
	lws_sul_schedule(sd->ctx, 0, &c->ping, ws_tick,
	    (lws_usec_t)WS_PING_MS * 1000);
	if (auth != NULL) {
		/* auth_expires() is the token's exp, in seconds. */
		int64_t left = auth_expires(auth) * 1000000 - sess_now();

		conn_timer(c, left > 0 ? left / 1000 + 1 : 1, token_expired);
	}
	/* Frames that came with the head. */
	if (c->in.len > 0)
		frames(ws);
	if (c->in.len == 0)
		sess_buf_release(&c->in);
	return 0;
}

/* The connection is going: its requests and attachments end. */
void
ws_free(struct conn *c)
{
	struct wsconn *ws = c->ws;
	struct wsreq *q;
	int i;

	if (ws == NULL)
		return;
	for (q = ws->reqs; q != NULL; q = q->next)
		q->ws = NULL;
	while (ws->atts != NULL)
		att_free(ws->atts);
	if (ws->npresent > 0)
		presence_conn_gone(ws->id, ws->clean || sd->stopping);
	for (i = 0; i < ws->npresent; i++)
		free(ws->present[i]);
	free(ws->present);
	sess_buf_release(&ws->msg);
	auth_free(ws->auth);
	free(ws->member);
	free(ws);
	c->ws = NULL;
	nws--;
}

/* At shutdown: every WebSocket is told the server is going away. */
void
ws_stop(void)
{
	struct conn *c;

	for (c = sd->conns; c != NULL; c = c->next)
		if (c->ws != NULL && c->state != C_CLOSED) {
			c->ws->clean = 1;
			ws_close(c->ws, 1001, "sessd is stopping");
		}
}

int
ws_count(void)
{
	return nws;
}

/* A presence transition goes to every connection attached to its stream. */
void
ws_presence(const char *stream, const char *frame, size_t len)
{
	struct sess_buf f;
	struct conn *c;

	if (nws == 0)
		return;
	sess_buf_init(&f, (size_t)1 << 31);
	if (ws_frame_add(&f, OP_TEXT, frame, len) != 0) {
		sess_buf_release(&f);
		return;
	}
	for (c = sd->conns; c != NULL; c = c->next)
		if (c->ws != NULL && c->state == C_WS &&
		    att_find(c->ws, stream) != NULL)
			conn_write(c, f.p, f.len);
	sess_buf_release(&f);
}
