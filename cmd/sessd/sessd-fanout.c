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

static void
end_waiter(struct waiter *w, const struct sess_ds_info *s, int gone)
{
	struct conn *c;

	if (w->att != NULL) {
		w->att->end(w->att, s, gone);
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
		resp_fail(c, SESS_ENOENT, s->gone ? SESS_WHY_GONE :
		    SESS_WHY_NONE, NULL, "the stream was deleted");
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

/*
 * What one read of a topic gives its readers, each kind's bytes made once
 * (sessd-deliver.c) and shared by every reader of that kind.
 */
struct round {
	const struct sess_ds_info *s;
	const struct fanout_batch *b;
	int64_t from;                 /* the topic's position before it */
	int uptodate, closed;
	struct sess_buf lp, sse, wsf, lines;
	int lp_made;
	size_t shared;                /* of sse: the data, before control */
	int64_t now;                  /* the cursor in sse's control */
	size_t total;                 /* queued on every connection */
};

/* A long-poll, or an event-lines long-poll: one answer, then it leaves. */
static void
give_answer(struct round *r, struct waiter *w, struct conn *c)
{
	struct sess_buf *body = &r->lp;
	size_t q;

	if (w->events) {
		/* Only the events of its types answer it. */
		body = &r->lines;
		body->len = 0;
		if (!ext_lines(body, w->sj, w->type, r->b->ev, r->b->n))
			return;
	} else if (!r->lp_made) {
		lp_body(&r->lp, r->s, r->b);
		r->lp_made = 1;
	}
	if (room(&r->total, c, body->len) != 0)
		return;
	q = conn_queued(c);
	fanout_leave(c);
	conn_timer(c, 0, NULL);
	lp_respond(c, r->s, r->b->last, body->p, body->len, r->uptodate,
	    r->closed, w->cursor, 200);
	r->total += conn_queued(c) - q;
}

/*
 * An SSE response: the data and its control event.  One that has not
 * read what it was given (LIVE_MAX) is cut off: it resumes from its
 * offset.
 */
static void
give_sse(struct round *r, struct waiter *w, struct conn *c)
{
	size_t q;
	int rc;

	if (room(&r->total, c, r->sse.len) != 0)
		return;
	q = conn_queued(c);
	if (q + r->sse.len > LIVE_MAX)
		rc = -1;
	else if (w->cursor <= r->now)
		rc = resp_body(c, r->sse.p, r->sse.len);
	else /* A cursor floor above now needs its own control. */
		rc = resp_body(c, r->sse.p, r->shared) != 0 ? -1 :
		    sse_control(c, r->b->last, w->cursor, r->uptodate,
		    r->closed);
	if (rc != 0) {
		fanout_leave(c);
		conn_close(c);
		return;
	}
	r->total += conn_queued(c) - q;
	if (r->closed) {
		fanout_leave(c);
		resp_finish(c);
	}
}

/* The bytes of each kind that some reader of t needs, made once. */
static void
round_make(struct round *r, struct topic *t)
{
	struct waiter *w;
	char ctl[256];
	int n, sse = 0, ws = 0;

	for (w = t->head; w != NULL; w = w->next) {
		if (w->att != NULL)
			ws = 1;
		else if (w->sse)
			sse = 1;
	}
	r->lp_made = 0;
	if (sse) {
		/* Data and control in one piece, for most readers. */
		batch_sse(&r->sse, r->s, r->b);
		r->shared = r->sse.len;
		r->now = cursor_value(0);
		n = control_fmt(ctl, sizeof(ctl), r->b->last, r->now,
		    r->uptodate, r->closed);
		sess_buf_add(&r->sse, ctl, (size_t)n);
	}
	if (ws) {
		/* One frame for every WebSocket attachment. */
		r->wsf.len = 0;
		ws_events_frame(&r->wsf, t->sj, r->s, r->b->ev, r->b->n);
	}
}

/* Gives every waiter of t the events after t->pos up to s->tail. */
static void
topic_deliver(struct topic *t, const struct sess_ds_info *s)
{
	struct waiter *w, *next;
	struct fanout_batch *b;
	struct round r;
	struct conn *c;

	memset(&r, 0, sizeof(r));
	r.s = s;
	r.total = conns_queued();
	sess_buf_init(&r.lp, (size_t)1 << 31);
	sess_buf_init(&r.sse, (size_t)1 << 31);
	sess_buf_init(&r.wsf, (size_t)1 << 31);
	sess_buf_init(&r.lines, (size_t)1 << 31);
	while (t->pos < s->tail && t->n > 0) {
		if ((b = fanout_read(s, t->pos, s->tail, CHUNK_READ)) == NULL)
			break;
		if (b->n == 0) {
			fanout_batch_free(b);
			break;
		}
		r.b = b;
		r.from = t->pos;
		r.uptodate = b->last >= s->tail;
		r.closed = r.uptodate && s->closed;
		round_make(&r, t);
		for (w = t->head; w != NULL; w = next) {
			next = w->next;
			if (w->att != NULL) {
				/* Behind: it leaves, to catch up on its own. */
				if (w->att->deliver(w->att, r.from, b->last,
				    r.wsf.p, r.wsf.len, &r.total) != 0)
					fanout_unlink(w);
				continue;
			}
			c = waiter_conn(w);
			w->pos = b->last;
			if (c->state == C_CLOSED)
				fanout_leave(c); /* culled for room: gone */
			else if (w->sse)
				give_sse(&r, w, c);
			else
				give_answer(&r, w, c);
		}
		t->pos = b->last;
		fanout_batch_free(b);
		if (t->n == 0)
			break;
	}
	sess_buf_release(&r.lp);
	sess_buf_release(&r.sse);
	sess_buf_release(&r.wsf);
	sess_buf_release(&r.lines);
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
				if (w->att != NULL) {
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

