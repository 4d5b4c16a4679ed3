/* sessd-fanout.c: live readers: one read per stream, shared by all. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sessd.h"

/*
 * Readers that have caught up (long-polls and SSE responses) wait in the
 * topic of their stream, all at the topic's position.  When the store
 * changes (a commit by our writer, or by another process, which the
 * watch reports), each topic with readers reads its new events once and
 * writes the same bytes to every reader.  A reader whose queued output
 * passes LIVE_MAX is cut off: it resumes from its offset.
 */

#define TOPICS 1024

struct topic {
	struct topic *next;
	char *name;
	char *sj;                     /* the name as a JSON string */
	struct sess_ds_info s;        /* the stream as last seen */
	int64_t pos;                  /* every waiter has events up to here */
	struct waiter *head;
	int n;
};

static struct topic *tab[TOPICS];

/* One read's worth of new events. */
#define batch fanout_batch

static unsigned
hash(const char *s)
{
	unsigned h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h % TOPICS;
}

static struct conn *
waiter_conn(struct waiter *w)
{
	return lws_container_of(w, struct conn, w);
}

static struct topic *
topic_find(const char *name, int create)
{
	struct topic *t;
	unsigned h = hash(name);

	for (t = tab[h]; t != NULL; t = t->next)
		if (strcmp(t->name, name) == 0)
			return t;
	if (!create)
		return NULL;
	if ((t = calloc(1, sizeof(*t))) == NULL ||
	    (t->name = strdup(name)) == NULL) {
		free(t);
		return NULL;
	}
	{
		json_t *j = json_string(name);

		t->sj = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) :
		    NULL;
		json_decref(j);
		if (t->sj == NULL) {
			free(t->name);
			free(t);
			return NULL;
		}
	}
	t->next = tab[h];
	tab[h] = t;
	return t;
}

static void
topic_free(struct topic *t)
{
	struct topic **pp;

	for (pp = &tab[hash(t->name)]; *pp != NULL; pp = &(*pp)->next)
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	free(t->name);
	free(t->sj);
	free(t);
}

static void
unlink_waiter(struct waiter *w)
{
	struct topic *t = w->t;

	if (t == NULL)
		return;
	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		t->head = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	w->next = w->prev = NULL;
	w->t = NULL;
	t->n--;
}

void
fanout_leave(struct conn *c)
{
	/* An emptied topic is freed by the next fanout_poll(). */
	unlink_waiter(&c->w);
	lws_sul_cancel(&c->ping);
	free(c->w.type);
	free(c->w.sj);
	c->w.type = c->w.sj = NULL;
	c->w.events = 0;
}

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

/* The body a long-poll gets: a JSON array, or the bytes end to end. */
static void
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

static void
batch_sse(struct sess_buf *out, const struct sess_ds_info *s,
    const struct batch *b)
{
	out->len = 0;
	sse_frames(out, s, b->ev, b->n);
}

/* The control event after data up to next, in buf (256 bytes). */
static int
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

static void
end_waiter(struct waiter *w, const struct sess_ds_info *s, int gone)
{
	struct conn *c;

	if (w->ws != NULL) {
		ws_end(w->ws, s, gone);
		return;
	}
	c = waiter_conn(w);

	fanout_leave(c);
	conn_timer(c, 0, NULL);
	if (w->sse) {
		if (!gone && s->closed)
			sse_control(c, w->pos, w->cursor, 1, 1);
		resp_finish(c);
		return;
	}
	if (gone)
		resp_error(c, s->gone ? 410 : 404, s->gone ? "GONE" :
		    "NOT_FOUND", "the stream was deleted");
	else
		lp_respond(c, s, w->pos, NULL, 0, 1, s->closed, w->cursor, 204);
}

/* Gives every waiter of t the events after t->pos up to s->tail. */
/*
 * Every waiter gets its own copy of an answer, so one large event to
 * many readers that do not read adds up: past LIVE_TOTAL_MAX queued in
 * all, the slowest readers are closed, c too if that does not make room
 * for n more bytes (it resumes from its offset).  Returns 0 if c may
 * have them.
 */
static int
room(size_t *total, struct conn *c, size_t n)
{
	if (*total + n <= LIVE_TOTAL_MAX)
		return 0;
	*total = conns_cull(n);
	if (c->state != C_CLOSED && *total + n <= LIVE_TOTAL_MAX)
		return 0;
	fanout_leave(c);
	conn_close(c);
	return -1;
}

static void
topic_deliver(struct topic *t, const struct sess_ds_info *s)
{
	struct waiter *w, *next;
	struct sess_buf lp, sse, wsf;
	struct batch b;
	struct sess_err e;
	char ctl[256];
	size_t shared = 0, total, q;
	int64_t now = 0;
	int rc, n, any_lp, any_sse, any_ws, uptodate, closed;
	int64_t from;

	total = conns_queued();

	sess_buf_init(&lp, (size_t)1 << 31);
	sess_buf_init(&sse, (size_t)1 << 31);
	sess_buf_init(&wsf, (size_t)1 << 31);
	while (t->pos < s->tail && t->n > 0) {
		memset(&b, 0, sizeof(b));
		sess_buf_init(&b.data, (size_t)1 << 31);
		rc = sess_ds_read(sd->rd, s, t->pos, s->tail, CHUNK_READ,
		    collect, &b, &e);
		if (rc <= 0) {
			if (rc < 0)
				logx("%s: %s", t->name, e.msg);
			batch_release(&b);
			break;
		}
		batch_fix(&b);
		uptodate = b.last >= s->tail;
		closed = uptodate && s->closed;
		any_lp = any_sse = any_ws = 0;
		for (w = t->head; w != NULL; w = w->next) {
			if (w->ws != NULL)
				any_ws = 1;
			else if (w->sse)
				any_sse = 1;
			else if (!w->events)
				any_lp = 1;
		}
		if (any_sse) {
			/* Data and control in one piece, for most readers. */
			batch_sse(&sse, s, &b);
			shared = sse.len;
			now = cursor_value(0);
			n = control_fmt(ctl, sizeof(ctl), b.last, now,
			    uptodate, closed);
			sess_buf_add(&sse, ctl, (size_t)n);
		}
		if (any_ws) {
			/* One frame for every WebSocket attachment. */
			wsf.len = 0;
			ws_events_frame(&wsf, t->sj, s, b.ev, b.n);
		}
		from = t->pos;
		for (w = t->head; w != NULL; w = next) {
			struct conn *c;

			next = w->next;
			if (w->ws != NULL) {
				ws_deliver(w->ws, from, b.last, wsf.p, wsf.len,
				    &total);
				continue;
			}
			c = waiter_conn(w);
			w->pos = b.last;
			if (c->state == C_CLOSED) {
				/* Culled for room: it has gone. */
				fanout_leave(c);
				continue;
			}
			if (w->events) {
				/* Only the events of its types answer it. */
				lp.len = 0;
				if (!ext_lines(&lp, w->sj, w->type, b.ev, b.n))
					continue;
				if (room(&total, c, lp.len) != 0)
					continue;
				q = conn_queued(c);
				fanout_leave(c);
				conn_timer(c, 0, NULL);
				lp_respond(c, s, b.last, lp.p, lp.len, uptodate,
				    closed, w->cursor, 200);
				total += conn_queued(c) - q;
				continue;
			}
			if (!w->sse) {
				if (any_lp) {
					lp_body(&lp, s, &b);
					any_lp = 0;
				}
				if (room(&total, c, lp.len) != 0)
					continue;
				q = conn_queued(c);
				fanout_leave(c);
				conn_timer(c, 0, NULL);
				lp_respond(c, s, b.last, lp.p, lp.len,
				    uptodate, closed, w->cursor, 200);
				total += conn_queued(c) - q;
				continue;
			}
			if (room(&total, c, sse.len) != 0)
				continue;
			q = conn_queued(c);
			/* A cursor floor above now needs its own control. */
			if (conn_queued(c) + sse.len > LIVE_MAX ||
			    (w->cursor <= now ? resp_body(c, sse.p, sse.len) :
			    (resp_body(c, sse.p, shared) != 0 ? -1 :
			    sse_control(c, b.last, w->cursor, uptodate,
			    closed))) != 0) {
				/* Too slow: it resumes from its offset. */
				fanout_leave(c);
				conn_close(c);
				continue;
			}
			total += conn_queued(c) - q;
			if (closed) {
				fanout_leave(c);
				resp_finish(c);
			}
		}
		t->pos = b.last;
		batch_release(&b);
		if (t->n == 0)
			break;
	}
	sess_buf_release(&lp);
	sess_buf_release(&sse);
	sess_buf_release(&wsf);
}

/*
 * Looks at t's stream again and serves its waiters.  Returns 0 if the
 * topic is still there.
 */
static int
topic_poll(struct topic *t)
{
	struct sess_ds_info s;
	struct sess_err e;
	struct waiter *w, *next;
	int rc;

	rc = sess_ds_get(sd->rd, t->name, &s, &e);
	if (rc != 0 || s.id != t->s.id || s.created != t->s.created) {
		/* Deleted, expired or made anew: its readers are done. */
		if (rc != 0 && rc != SESS_ENOENT)
			return 0; /* try again at the next wake-up */
		if (rc == 0)
			s.gone = 0;
		s.closed = 0;
		for (w = t->head; w != NULL; w = next) {
			next = w->next;
			end_waiter(w, &s, 1);
		}
		return -1;
	}
	t->s = s;
	if (s.tail > t->pos)
		topic_deliver(t, &s);
	if (s.closed && t->pos >= s.tail)
		for (w = t->head; w != NULL; w = next) {
			next = w->next;
			end_waiter(w, &s, 0);
		}
	return 0;
}

void
fanout_poll(void)
{
	struct topic *t, *next;
	int i;

	for (i = 0; i < TOPICS; i++)
		for (t = tab[i]; t != NULL; t = next) {
			next = t->next;
			if (t->n == 0 || topic_poll(t) != 0 || t->n == 0)
				topic_free(t);
		}
	ws_poll();
	presence_poll();
}

static void
lp_timeout(struct conn *c)
{
	struct waiter *w = &c->w;
	struct sess_ds_info s;

	if (w->t == NULL)
		return;
	s = w->t->s;
	end_waiter(w, &s, 0);
}

static void
sse_tick(lws_sorted_usec_list_t *sul)
{
	struct conn *c = lws_container_of(sul, struct conn, ping);
	static const char ping[] = ": ping\n\n";

	if (lws_now_usecs() >= c->sse_until) {
		fanout_leave(c);
		resp_finish(c);
		return;
	}
	resp_body(c, ping, sizeof(ping) - 1);
	lws_sul_schedule(sd->ctx, 0, &c->ping, sse_tick,
	    (lws_usec_t)SSE_PING_MS * 1000);
}

/*
 * c waits at pos (the tail it was shown) for the stream s names.  New
 * events are delivered by fanout_poll(); a long-poll ends after the
 * poll timeout, an SSE response after SSE_MAX_MS.  Returns 0 when c
 * waits, 1 if there are events after pos already (read them first).
 */
static int
join(struct waiter *w, const struct sess_ds_info *s, const char *name,
    int64_t pos)
{
	struct topic *t;

	if ((t = topic_find(name, 1)) == NULL)
		return -1;
	if (t->n == 0) {
		t->s = *s;
		t->pos = s->tail;
	} else if (t->s.id != s->id || t->s.created != s->created ||
	    t->pos < pos) {
		/* The topic is behind what this reader saw: catch it up. */
		if (topic_poll(t) != 0 || t->n == 0) {
			t->s = *s;
			t->pos = s->tail;
		}
	}
	if (t->pos != pos) {
		if (t->n == 0)
			topic_free(t);
		return 1;
	}
	w->pos = pos;
	w->t = t;
	w->prev = NULL;
	w->next = t->head;
	if (t->head != NULL)
		t->head->prev = w;
	t->head = w;
	t->n++;
	return 0;
}

int
fanout_wait(struct conn *c, const struct sess_ds_info *s, const char *name,
    int64_t pos, int sse, int64_t cursor)
{
	struct waiter *w = &c->w;
	int rc;

	memset(w, 0, sizeof(*w));
	w->sse = sse;
	w->cursor = cursor;
	if ((rc = join(w, s, name, pos)) != 0)
		return rc;
	if (sse) {
		c->sse_until = lws_now_usecs() + (int64_t)SSE_MAX_MS * 1000;
		lws_sul_schedule(sd->ctx, 0, &c->ping, sse_tick,
		    (lws_usec_t)SSE_PING_MS * 1000);
	} else {
		conn_timer(c, sd->poll_ms, lp_timeout);
	}
	return 0;
}

int
fanout_wait_events(struct conn *c, const struct sess_ds_info *s,
    const char *name, int64_t pos, char *type, char *sj, int64_t ms)
{
	struct waiter *w = &c->w;
	int rc;

	memset(w, 0, sizeof(*w));
	w->cursor = cursor_floor(NULL);
	if ((rc = join(w, s, name, pos)) != 0) {
		free(type);
		free(sj);
		return rc;
	}
	w->events = 1;
	w->type = type;
	w->sj = sj;
	conn_timer(c, ms, lp_timeout);
	return 0;
}

/* At shutdown: every live reader is answered and let go. */
void
fanout_stop(void)
{
	struct topic *t;
	struct waiter *w, *next;
	struct sess_ds_info s;
	int i;

	for (i = 0; i < TOPICS; i++)
		for (t = tab[i]; t != NULL; t = t->next)
			for (w = t->head; w != NULL; w = next) {
				next = w->next;
				if (w->ws != NULL) {
					unlink_waiter(w);
					continue;
				}
				s = t->s;
				s.closed = 0;
				end_waiter(w, &s, 0);
			}
}

/* How many readers wait, in how many topics. */
int
fanout_count(int *topics)
{
	struct topic *t;
	int i, n = 0, k = 0;

	for (i = 0; i < TOPICS; i++)
		for (t = tab[i]; t != NULL; t = t->next) {
			n += t->n;
			k++;
		}
	if (topics != NULL)
		*topics = k;
	return n;
}

int
fanout_join(struct waiter *w, const struct sess_ds_info *s, const char *name,
    int64_t pos)
{
	return join(w, s, name, pos);
}

void
fanout_unlink(struct waiter *w)
{
	unlink_waiter(w);
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
