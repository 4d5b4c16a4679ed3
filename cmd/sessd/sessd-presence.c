/* sessd-presence.c: presence leases, transitions to watchers, cursors, runs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sessd.h"
#include "tool.h"

/*
 * Presence rows of WebSocket connections are held by this sessd (its
 * holder id), which renews them all in one UPDATE every grace/3; a
 * connection that drops without a close loses its holder and expires
 * after the grace.  CLI holders in remote mode POST their transitions
 * and renew themselves, with the grace as lease.  A timer sweeps rows
 * whose lease ran out into leave/timeout, and closes runs whose lease
 * ran out with run.end/abandoned.  Every write goes through the
 * writer; the transitions come back, as anyone else's, by the wake-up
 * after the commit (presence_poll()), in the order of the log.
 *
 *   GET  /v1/presence/NAME              the current set (JSON array)
 *   GET  /v1/presence/NAME?live=sse     event: members, then presence
 *   GET  /v1/presence/NAME?log=1&after=N[&live=long-poll&timeout=MS]
 *                                       transitions as JSON lines
 *   POST /v1/presence/NAME              {"event","member","conn","data"}
 *   GET  /v1/cursors/NAME[?member=M]    [{"member","offset","unread","time"}]
 *   PUT  /v1/cursors/NAME?member=M      {"offset":O}
 */

#define TICK_MS 100                   /* sweep and run-lease checks */
#define LOG_MAX 1000                  /* transitions per answer or poll */
#define RUNS_MAX 64                   /* run leases closed per tick */
#define QUIET_MS 5000                 /* after a failed sweep or close */
#define BODY_MAX 65536 + 2048

/* A live reader of transitions: an SSE response or a long-poll. */
struct pwatch {
	struct pwatch *next;
	struct conn *c;
	char *stream;
	int64_t pos;                  /* has transitions up to here */
	int sse;
	int feeding;                  /* SSE: reading its backlog first */
};

static struct {
	int64_t grace_us;
	char holder[48];
	int64_t last;                 /* transitions pushed up to here */
	lws_sorted_usec_list_t tick, renew;
	int sweeping, ending, renewing; /* jobs in flight */
	int64_t quiet_until;          /* after a failed write: wait */
	struct pwatch *watchers;
	int inited;
} P;

const char *
presence_holder(void)
{
	return P.holder;
}

/* The writer's part of a job: fn runs on its thread in the batch. */
struct pjob {
	char *stream, *member, *conn, *event, *data;
	int64_t seq, lease;
	int clean;
	int held;                     /* this sessd holds the row */
	struct sess_cursor cur;
	void (*done)(void *arg, int rc, const char *msg);
	void (*cdone)(void *arg, int rc, int64_t unread, const char *msg);
	void *arg;
};

static void
pjob_free(struct pjob *p)
{
	if (p == NULL)
		return;
	free(p->stream);
	free(p->member);
	free(p->conn);
	free(p->event);
	free(p->data);
	free(p);
}

static char *
dup_or_null(const char *s, int *bad)
{
	char *p;

	if (s == NULL)
		return NULL;
	if ((p = strdup(s)) == NULL)
		*bad = 1;
	return p;
}

static struct pjob *
pjob_new(const char *stream, const char *member, const char *conn,
    const char *event, const char *data)
{
	struct pjob *p;
	int bad = 0;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->stream = dup_or_null(stream, &bad);
	p->member = dup_or_null(member, &bad);
	p->conn = dup_or_null(conn, &bad);
	p->event = dup_or_null(event, &bad);
	p->data = dup_or_null(data, &bad);
	if (bad) {
		pjob_free(p);
		return NULL;
	}
	return p;
}

static int
submit(struct pjob *p, struct conn *c, int (*fn)(struct sess_store *,
    struct job *), void (*done)(struct job *))
{
	struct job *j;

	if ((j = job_new(J_FUNC, c)) == NULL) {
		pjob_free(p);
		return -1;
	}
	j->fn = fn;
	j->arg = p;
	j->done = done;
	job_submit(j);
	return 0;
}

static int
set_fn(struct sess_store *st, struct job *j)
{
	struct pjob *p = j->arg;

	return sess_presence_set(st, p->stream, p->member, p->conn, p->event,
	    p->data, p->lease, p->held ? P.holder : NULL, &j->err);
}

static void
set_done(struct job *j)
{
	struct pjob *p = j->arg;

	if (j->rc != 0 && p->done == NULL)
		logx("presence %s of %s on %s: %s", p->event, p->member,
		    p->stream, j->err.msg);
	if (p->done != NULL)
		p->done(p->arg, j->rc, j->rc ? j->err.msg : NULL);
	pjob_free(p);
}

int
presence_set(const char *stream, const char *member, const char *conn,
    const char *event, const char *data, void (*done)(void *arg, int rc,
    const char *msg), void *arg)
{
	struct pjob *p;

	if ((p = pjob_new(stream, member, conn, event, data)) == NULL)
		return SESS_ENOMEM;
	p->lease = P.grace_us;
	p->held = 1;
	p->done = done;
	p->arg = arg;
	return submit(p, NULL, set_fn, set_done) == 0 ? 0 : SESS_ENOMEM;
}

static int
gone_fn(struct sess_store *st, struct job *j)
{
	struct pjob *p = j->arg;

	return sess_presence_conn(st, p->conn, p->clean ? -1 : P.grace_us,
	    &j->err);
}

static void
plain_done(struct job *j)
{
	if (j->rc != 0)
		logx("presence: %s", j->err.msg);
	pjob_free(j->arg);
}

void
presence_conn_gone(const char *conn, int clean)
{
	struct pjob *p;

	if ((p = pjob_new(NULL, NULL, conn, NULL, NULL)) == NULL) {
		logx("presence: out of memory; %s expires with its lease",
		    conn);
		return;
	}
	p->clean = clean;
	submit(p, NULL, gone_fn, plain_done);
}

json_t *
presence_members(const char *stream)
{
	struct sess_err e;
	json_t *v;

	if ((v = sess_presence_members(sd->rd, stream, &e)) == NULL)
		logx("presence of %s: %s", stream, e.msg);
	return v;
}

static int
cursor_fn(struct sess_store *st, struct job *j)
{
	struct pjob *p = j->arg;

	return sess_cursor_set(st, p->stream, p->member, p->seq, &p->cur,
	    &j->err);
}

static void
cursor_done(struct job *j)
{
	struct pjob *p = j->arg;

	if (p->cdone != NULL)
		p->cdone(p->arg, j->rc, p->cur.unread, j->rc ? j->err.msg :
		    NULL);
	pjob_free(p);
}

int
cursor_set(const char *stream, const char *member, int64_t seq,
    void (*done)(void *arg, int rc, int64_t unread, const char *msg),
    void *arg)
{
	struct pjob *p;

	if ((p = pjob_new(stream, member, NULL, NULL, NULL)) == NULL)
		return SESS_ENOMEM;
	p->seq = seq;
	p->cdone = done;
	p->arg = arg;
	return submit(p, NULL, cursor_fn, cursor_done) == 0 ? 0 : SESS_ENOMEM;
}

/* Watchers of transitions. */
static void
watch_drop(struct pwatch *w)
{
	struct pwatch **pp;

	for (pp = &P.watchers; *pp != NULL; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	free(w->stream);
	free(w);
}

static struct pwatch *
watch_of(struct conn *c)
{
	struct pwatch *w;

	for (w = P.watchers; w != NULL; w = w->next)
		if (w->c == c)
			return w;
	return NULL;
}

void
presence_conn_free(struct conn *c)
{
	struct pwatch *w;

	if ((w = watch_of(c)) != NULL)
		watch_drop(w);
}

static void
lp_end(struct conn *c, int64_t next, const void *body, size_t len)
{
	resp_start(c, 200);
	resp_header(c, "Content-Type", "application/x-ndjson");
	resp_header(c, "Cache-Control", "no-store");
	resp_header(c, "Stream-Next-Offset", "%lld", (long long)next);
	resp_head_end(c, B_LENGTH, len);
	resp_body(c, body, len);
	resp_finish(c);
}

static void
lp_timeout(struct conn *c)
{
	struct pwatch *w = watch_of(c);
	int64_t last = P.last;

	if (w == NULL)
		return;
	if (w->pos > last)
		last = w->pos;
	watch_drop(w);
	lp_end(c, last, "", 0);
}

static void
sse_tick(lws_sorted_usec_list_t *sul)
{
	struct conn *c = lws_container_of(sul, struct conn, ping);
	static const char ping[] = ": ping\n\n";
	struct pwatch *w;

	if (lws_now_usecs() >= c->sse_until) {
		if ((w = watch_of(c)) != NULL)
			watch_drop(w);
		resp_finish(c);
		return;
	}
	resp_body(c, ping, sizeof(ping) - 1);
	lws_sul_schedule(sd->ctx, 0, &c->ping, sse_tick,
	    (lws_usec_t)SSE_PING_MS * 1000);
}

struct push {
	struct sess_buf line, frame, sse;
};

/*
 * One transition as an SSE event.  Its id is its seq, so a reader cut
 * off (or one that lost its connection) resumes after the last it read,
 * with Last-Event-ID.
 */
static int
sse_event(struct sess_buf *b, const struct sess_ptrans *t,
    const struct sess_buf *line)
{
	char id[48];
	int n = snprintf(id, sizeof(id), "id: %lld\n", (long long)t->seq);

	b->len = 0;
	if (sess_buf_add(b, id, (size_t)n) != 0 ||
	    sess_buf_add(b, "event: presence\ndata: ", 22) != 0 ||
	    sess_buf_add(b, line->p, line->len - 1) != 0 ||
	    sess_buf_add(b, "\n\n", 2) != 0)
		return -1;
	return 0;
}

/*
 * Gives an SSE reader one event, or cuts it off if it has not read what
 * it was given (LIVE_MAX): it resumes from the last id it read, as a
 * slow event reader resumes from its offset.  Returns 0, or -1 if cut.
 */
static int
sse_give(struct pwatch *w, const struct sess_buf *ev)
{
	struct conn *c = w->c;

	if (conn_queued(c) + ev->len <= LIVE_MAX &&
	    resp_body(c, ev->p, ev->len) == 0)
		return 0;
	watch_drop(w);
	conn_close(c);
	return -1;
}

static int
push_one(const struct sess_ptrans *t, void *arg)
{
	struct push *pu = arg;
	struct pwatch *w, *next;

	P.last = t->seq;
	pu->frame.len = 0;
	if (sess_ptrans_format(&pu->frame, t, 1) == 0)
		ws_presence(t->stream, pu->frame.p, pu->frame.len);
	pu->line.len = 0;
	if (sess_ptrans_format(&pu->line, t, 0) != 0 ||
	    sse_event(&pu->sse, t, &pu->line) != 0)
		return 0;
	for (w = P.watchers; w != NULL; w = next) {
		next = w->next;
		/* One reading its backlog gets this from the store too. */
		if (w->feeding || w->pos >= t->seq ||
		    strcmp(w->stream, t->stream) != 0)
			continue;
		w->pos = t->seq;
		if (w->sse) {
			(void)sse_give(w, &pu->sse);
		} else {
			/* A long-poll answers with the first it gets. */
			struct conn *c = w->c;

			watch_drop(w);
			conn_timer(c, 0, NULL);
			lp_end(c, t->seq, pu->line.p, pu->line.len);
		}
	}
	return 0;
}

void
presence_poll(void)
{
	struct sess_err e;
	struct push pu;
	int n;

	if (!P.inited)
		return;
	sess_buf_init(&pu.line, (size_t)1 << 20);
	sess_buf_init(&pu.frame, (size_t)1 << 20);
	sess_buf_init(&pu.sse, (size_t)1 << 20);
	do {
		n = sess_presence_log(sd->rd, NULL, P.last, LOG_MAX, push_one,
		    &pu, &e);
		if (n < 0)
			logx("presence: %s", e.msg);
	} while (n == LOG_MAX);
	sess_buf_release(&pu.line);
	sess_buf_release(&pu.frame);
	sess_buf_release(&pu.sse);
}

/* Timers: renew this sessd's rows, sweep, close runs. */
/*
 * A store that cannot be written (read-only, full) is not tried again
 * for a while, so the log gets one line per failure, not ten a second.
 */
static void
failed(const char *what, const struct sess_err *e)
{
	logx("%s: %s", what, e->msg);
	P.quiet_until = sess_now() + (int64_t)QUIET_MS * 1000;
}

static void
renew_done(struct job *j)
{
	P.renewing = 0;
	if (j->rc != 0)
		failed("presence: renewing", &j->err);
}

static int
renew_fn(struct sess_store *st, struct job *j)
{
	return sess_presence_renew_holder(st, P.holder, P.grace_us, &j->err);
}

static void
renew_tick(lws_sorted_usec_list_t *sul)
{
	struct job *j;

	if (!P.renewing && sess_presence_next_expiry(sd->rd, P.holder) != 0 &&
	    (j = job_new(J_FUNC, NULL)) != NULL) {
		P.renewing = 1;
		j->fn = renew_fn;
		j->done = renew_done;
		job_submit(j);
	}
	lws_sul_schedule(sd->ctx, 0, sul, renew_tick,
	    (lws_usec_t)(P.grace_us / 3));
}

static int
sweep_fn(struct sess_store *st, struct job *j)
{
	int rc = sess_presence_sweep(st, &j->err);

	return rc < 0 ? rc : 0;
}

static void
sweep_done(struct job *j)
{
	P.sweeping = 0;
	if (j->rc != 0)
		failed("presence: sweeping", &j->err);
}

static int
abandon_fn(struct sess_store *st, struct job *j)
{
	struct pjob *p = j->arg;
	int rc = sess_run_abandon(st, p->stream, p->member, &j->err);

	p->clean = rc == 1;
	return rc < 0 ? rc : 0;
}

static void
abandon_done(struct job *j)
{
	struct pjob *p = j->arg;

	P.ending--;
	if (j->rc != 0) {
		logx("run %s of %s: %s", p->member, p->stream, j->err.msg);
		P.quiet_until = sess_now() + (int64_t)QUIET_MS * 1000;
	} else if (p->clean) {
		if (sd->verbose)
			logx("run %s of %s abandoned", p->member, p->stream);
		sub_notify(p->stream);
	}
	pjob_free(p);
}

static void
abandon(const char *stream, const char *run, void *arg)
{
	struct pjob *p;

	(void)arg;
	if ((p = pjob_new(stream, run, NULL, NULL, NULL)) == NULL)
		return;
	if (submit(p, NULL, abandon_fn, abandon_done) == 0)
		P.ending++;
}

static void
tick(lws_sorted_usec_list_t *sul)
{
	struct sess_err e;
	struct job *j;
	int64_t now = sess_now(), next;

	if (now < P.quiet_until)
		goto out;
	next = sess_presence_next_expiry(sd->rd, NULL);
	if (!P.sweeping && next != 0 && next < now &&
	    (j = job_new(J_FUNC, NULL)) != NULL) {
		P.sweeping = 1;
		j->fn = sweep_fn;
		j->done = sweep_done;
		job_submit(j);
	}
	next = sess_runs_next(sd->rd);
	if (P.ending == 0 && next != 0 && next < now &&
	    sess_runs_expired(sd->rd, RUNS_MAX, abandon, NULL, &e) < 0)
		logx("runs: %s", e.msg);
out:
	lws_sul_schedule(sd->ctx, 0, sul, tick, (lws_usec_t)TICK_MS * 1000);
}

int
presence_init(int64_t grace_ms)
{
	struct sess_err e;
	int64_t last;

	P.grace_us = grace_ms * 1000;
	snprintf(P.holder, sizeof(P.holder), "sessd-");
	hook_random(P.holder + 6, 12);
	/* Transitions before we started are history, not news. */
	if ((last = sess_presence_last(sd->rd, &e)) < 0) {
		logx("presence: %s", e.msg);
		last = 0;
	}
	P.last = last;
	P.inited = 1;
	lws_sul_schedule(sd->ctx, 0, &P.tick, tick,
	    (lws_usec_t)TICK_MS * 1000);
	lws_sul_schedule(sd->ctx, 0, &P.renew, renew_tick,
	    (lws_usec_t)(P.grace_us / 3));
	return 0;
}

void
presence_fini(void)
{
	if (!P.inited)
		return;
	lws_sul_cancel(&P.tick);
	lws_sul_cancel(&P.renew);
	while (P.watchers != NULL)
		watch_drop(P.watchers);
	P.inited = 0;
}

/* At shutdown: every watcher is answered and let go. */
void
presence_stop(void)
{
	struct pwatch *w;
	struct conn *c;
	int sse;

	while ((w = P.watchers) != NULL) {
		c = w->c;
		sse = w->sse;
		watch_drop(w);
		if (sse) {
			lws_sul_cancel(&c->ping);
			resp_finish(c);
		} else {
			conn_timer(c, 0, NULL);
			lp_end(c, P.last, "", 0);
		}
	}
}

int64_t
presence_grace_ms(void)
{
	return P.grace_us / 1000;
}

/* HTTP. */
static void
json_respond(struct conn *c, int status, json_t *v)
{
	char *text = v ? json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER |
	    JSON_ENCODE_ANY) : NULL;

	if (text == NULL) {
		resp_fail(c, SESS_ENOMEM, SESS_WHY_NONE, NULL, "out of memory");
		return;
	}
	resp_simple(c, status, "application/json", text, strlen(text));
	free(text);
}

/* A resumed SSE reader's backlog, read and written in pieces. */
struct backlog {
	struct pwatch *w;
	struct sess_buf line, ev;
	int stop;                     /* 1: enough for now, -1: cut */
};

#define PIECE_MAX (256 * 1024)        /* backlog queued per piece */

static int
backlog_one(const struct sess_ptrans *t, void *arg)
{
	struct backlog *bl = arg;
	struct conn *c = bl->w->c;

	bl->w->pos = t->seq;
	bl->line.len = 0;
	if (sess_ptrans_format(&bl->line, t, 0) != 0 ||
	    sse_event(&bl->ev, t, &bl->line) != 0)
		return 0;
	if (resp_body(c, bl->ev.p, bl->ev.len) != 0)
		return bl->stop = -1;
	if (conn_queued(c) >= PIECE_MAX)
		return bl->stop = 1;
	return 0;
}

/*
 * The writeable callback's: the next piece of the backlog.  Once it has
 * read all there is, live transitions come as they are logged.
 */
static int
backlog_more(struct conn *c)
{
	struct backlog bl = { 0 };
	struct sess_err e;
	int n;

	if ((bl.w = watch_of(c)) == NULL) {
		c->feeding = 0;
		return 0;
	}
	sess_buf_init(&bl.line, (size_t)1 << 20);
	sess_buf_init(&bl.ev, (size_t)1 << 20);
	n = sess_presence_log(sd->rd, bl.w->stream, bl.w->pos, LOG_MAX,
	    backlog_one, &bl, &e);
	sess_buf_release(&bl.line);
	sess_buf_release(&bl.ev);
	if (n < 0 || bl.stop < 0) {
		if (n < 0)
			logx("presence: %s", e.msg);
		watch_drop(bl.w);
		c->feeding = 0;
		conn_close(c);
		return -1;
	}
	if (bl.stop == 0 && n < LOG_MAX)
		c->feeding = bl.w->feeding = 0;
	return 0;
}

/*
 * Where an SSE reader resumes: after=SEQ, else the Last-Event-ID an
 * EventSource sends when it connects again; -1 for a new reader, -2 if
 * either is not a seq (answered).
 */
static int64_t
resume_at(struct conn *c, const char *q)
{
	const char *id = req_header(&c->req, "Last-Event-ID");
	char after[32];
	int64_t n;

	if (query_get(q, "after", after, sizeof(after)) == 0)
		id = after;
	else if (id == NULL)
		return -1;
	if ((n = tool_num(id, SESS_SEQ_MAX)) < 0)
		return resp_fail(c, SESS_EINVAL, SESS_WHY_NONE, NULL,
		    "'%.32s' is not a transition seq to resume after", id), -2;
	return n;
}

/* The members event: the set now, as of transition last. */
static int
members_event(struct conn *c, const char *name, int64_t last)
{
	struct sess_err e;
	struct sess_buf b;
	json_t *v;
	char *text, id[48];
	int n;

	if ((v = sess_presence_members(sd->rd, name, &e)) == NULL)
		return -1;
	text = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(v);
	if (text == NULL)
		return -1;
	n = snprintf(id, sizeof(id), "id: %lld\n", (long long)last);
	sess_buf_init(&b, strlen(text) + 96);
	sess_buf_add(&b, id, (size_t)n);
	sess_buf_add(&b, "event: members\ndata: ", 21);
	sess_buf_add(&b, text, strlen(text));
	sess_buf_add(&b, "\n\n", 2);
	resp_body(c, b.p, b.len);
	sess_buf_release(&b);
	free(text);
	return 0;
}

/*
 * GET /v1/presence/NAME?live=sse: a new reader gets the members event,
 * then each transition; one that resumes gets each transition after
 * the one it names, from the log, then the live ones.
 */
static int
members_sse(struct conn *c, const char *name, const char *q)
{
	struct pwatch *w;
	struct sess_err e;
	int64_t last, from;

	if ((from = resume_at(c, q)) == -2)
		return 0;
	if ((last = sess_presence_last(sd->rd, &e)) < 0)
		return resp_err(c, (int)last, &e);
	if ((w = calloc(1, sizeof(*w))) == NULL ||
	    (w->stream = strdup(name)) == NULL) {
		free(w);
		return resp_fail(c, SESS_ENOMEM, SESS_WHY_NONE, NULL,
		    "out of memory");
	}
	w->c = c;
	w->pos = from >= 0 ? from : last;
	w->sse = 1;
	resp_start(c, 200);
	resp_header(c, "Content-Type", "text/event-stream");
	resp_header(c, "Cache-Control", "no-cache");
	resp_header(c, "X-Accel-Buffering", "no");
	resp_head_end(c, B_CHUNKED, 0);
	if (from < 0 && members_event(c, name, last) != 0) {
		free(w->stream);
		free(w);
		resp_finish(c);
		return 0;
	}
	w->next = P.watchers;
	P.watchers = w;
	if (sd->stopping) {
		presence_conn_free(c);
		resp_finish(c);
		return 0;
	}
	if (from >= 0) {
		w->feeding = c->feeding = 1;
		c->feed.more = backlog_more;
		conn_kick(c);
	}
	c->sse_until = lws_now_usecs() + (int64_t)SSE_MAX_MS * 1000;
	lws_sul_schedule(sd->ctx, 0, &c->ping, sse_tick,
	    (lws_usec_t)SSE_PING_MS * 1000);
	return 0;
}

struct lines {
	struct sess_buf out;
	int64_t last;
};

static int
line_one(const struct sess_ptrans *t, void *arg)
{
	struct lines *l = arg;

	l->last = t->seq;
	return sess_ptrans_format(&l->out, t, 0) != 0;
}

static int
log_get(struct conn *c, const char *name, const char *q)
{
	struct sess_err e;
	struct lines l;
	struct pwatch *w;
	char after[32], live[16], tmo[16];
	int64_t ms = sd->poll_ms, v, last;
	int n;

	if ((last = sess_presence_last(sd->rd, &e)) < 0)
		return resp_fail(c, SESS_EIO, SESS_WHY_NONE, NULL, "%s", e.msg);
	l.last = 0;
	if (query_get(q, "after", after, sizeof(after)) == 0) {
		if (strcmp(after, "now") == 0)
			l.last = last;
		else if (strcmp(after, "-1") == 0)
			l.last = 0;
		else if ((l.last = tool_num(after, SESS_SEQ_MAX)) < 0)
			return resp_fail(c, SESS_EINVAL, SESS_WHY_NONE, NULL,
			    "after: '%s' "
			    "is not a transition seq, -1 or now", after);
	}
	if (query_get(q, "timeout", tmo, sizeof(tmo)) == 0 &&
	    (v = tool_num(tmo, 3600000)) > 0 && v < ms)
		ms = v;
	sess_buf_init(&l.out, (size_t)64 << 20);
	n = sess_presence_log(sd->rd, name, l.last, LOG_MAX, line_one, &l,
	    &e);
	if (n < 0) {
		sess_buf_release(&l.out);
		return resp_fail(c, SESS_EIO, SESS_WHY_NONE, NULL, "%s", e.msg);
	}
	if (n == 0 && query_get(q, "live", live, sizeof(live)) == 0 &&
	    strcmp(live, "long-poll") == 0 && !sd->stopping) {
		sess_buf_release(&l.out);
		if ((w = calloc(1, sizeof(*w))) == NULL ||
		    (w->stream = strdup(name)) == NULL) {
			free(w);
			return resp_fail(c, SESS_ENOMEM, SESS_WHY_NONE, NULL,
			    "out of memory");
		}
		w->c = c;
		/* Transitions up to last are read: none of them are ours. */
		w->pos = l.last > last ? l.last : last;
		w->next = P.watchers;
		P.watchers = w;
		conn_timer(c, ms, lp_timeout);
		return 0;
	}
	/* Nothing more for this stream up to last: skip there. */
	lp_end(c, n < LOG_MAX && last > l.last ? last : l.last, l.out.p,
	    l.out.len);
	sess_buf_release(&l.out);
	return 0;
}

/* A POST from a CLI holder: answered once committed. */
static void
post_done(struct job *j)
{
	struct pjob *p = j->arg;
	struct conn *c = j->c;
	json_t *v;

	if (c != NULL) {
		if (j->rc != 0)
			resp_err(c, j->rc, &j->err);
		else {
			v = json_pack("{s:s, s:s, s:s, s:s, s:I}", "stream",
			    p->stream, "member", p->member, "conn", p->conn,
			    "event", p->event, "grace",
			    (json_int_t)(P.grace_us / 1000000));
			json_respond(c, 200, v);
			json_decref(v);
		}
	}
	pjob_free(p);
}

int
presence_post(struct conn *c, const char *name, const char *qs)
{
	struct sess_err e;
	json_t *v, *d;
	const char *ev, *member, *conn;
	char *data = NULL;
	struct pjob *p;

	if ((v = sess_json_parse(c->req.body.p ? c->req.body.p : "",
	    c->req.body.len, &e)) == NULL)
		return resp_fail(c, SESS_EINVAL, SESS_WHY_NONE, NULL,
		    "body is not JSON: %s",
		    e.msg);
	ev = json_string_value(json_object_get(v, "event"));
	member = json_string_value(json_object_get(v, "member"));
	conn = json_string_value(json_object_get(v, "conn"));
	d = json_object_get(v, "data");
	if (!json_is_object(v) || ev == NULL || member == NULL ||
	    conn == NULL) {
		json_decref(v);
		return resp_fail(c, SESS_EINVAL, SESS_WHY_NONE, NULL,
		    "expected "
		    "{\"event\",\"member\",\"conn\"[,\"data\"]}");
	}
	if (d != NULL && !json_is_null(d) && (!json_is_object(d) ||
	    (data = json_dumps(d, JSON_COMPACT)) == NULL)) {
		json_decref(v);
		return resp_fail(c, SESS_EINVAL, SESS_WHY_NONE, NULL,
		    "data is not a JSON object");
	}
	if ((strcmp(ev, "enter") != 0 && strcmp(ev, "update") != 0 &&
	    strcmp(ev, "leave") != 0 && strcmp(ev, "renew") != 0 &&
	    sess_err_set(&e, SESS_EINVAL, "'%s': not a presence event "
	    "(enter, update, leave or renew)", ev)) ||
	    sess_member_check("member", member, &e) != 0 ||
	    sess_member_check("conn", conn, &e) != 0 ||
	    sess_pdata_check(data, &e) != 0) {
		json_decref(v);
		free(data);
		return resp_fail(c, SESS_EINVAL, SESS_WHY_NONE, NULL, "%s",
		    e.msg);
	}
	/* A token holds presence for its own subject (or admin's anyone). */
	if (auth_http_member(c, name, SESS_CAP_PRESENCE, member) != 0) {
		json_decref(v);
		free(data);
		return 0;
	}
	p = pjob_new(name, member, conn, ev, data);
	json_decref(v);
	free(data);
	if (p == NULL)
		return resp_fail(c, SESS_ENOMEM, SESS_WHY_NONE, NULL,
		    "out of memory");
	/* The holder is the CLI: no holder id, it renews itself. */
	p->lease = P.grace_us;
	if (submit(p, c, set_fn, post_done) != 0)
		return resp_fail(c, SESS_ENOMEM, SESS_WHY_NONE, NULL,
		    "out of memory");
	return 0;
}

int
presence_get(struct conn *c, const char *name, const char *q)
{
	char buf[16];
	json_t *v;

	if (query_get(q, "log", buf, sizeof(buf)) == 0 &&
	    strcmp(buf, "0") != 0)
		return log_get(c, name, q);
	if (query_get(q, "live", buf, sizeof(buf)) == 0) {
		if (strcmp(buf, "sse") != 0)
			return resp_fail(c, SESS_EINVAL, SESS_WHY_NONE,
			    NULL, "live: '%s': the set is live as sse",
			    buf);
		return members_sse(c, name, q);
	}
	if ((v = presence_members(name)) == NULL)
		return resp_fail(c, SESS_EIO, SESS_WHY_NONE, NULL,
		    "cannot read the presence of %s", name);
	json_respond(c, 200, v);
	json_decref(v);
	return 0;
}

static json_t *
cursor_json(const char *member, const struct sess_cursor *cur, int with_time)
{
	char off[SESS_OFFSET_LEN + 1], t[32];
	json_t *v;

	sess_offset_fmt(cur->seq, off);
	v = json_pack("{s:s, s:s, s:I}", "member", member, "offset", off,
	    "unread", (json_int_t)cur->unread);
	if (v != NULL && with_time) {
		if (cur->time > 0)
			sess_time_fmt(cur->time, t);
		json_object_set_new(v, "time", cur->time > 0 ? json_string(t) :
		    json_null());
	}
	return v;
}

static void
cursor_one(const char *member, const struct sess_cursor *cur, void *arg)
{
	json_array_append_new(arg, cursor_json(member, cur, 1));
}

static void
put_done(struct job *j)
{
	struct pjob *p = j->arg;
	struct conn *c = j->c;
	json_t *v;

	if (c != NULL) {
		if (j->rc != 0)
			resp_err(c, j->rc, &j->err);
		else {
			v = cursor_json(p->member, &p->cur, 0);
			json_respond(c, 200, v);
			json_decref(v);
		}
	}
	pjob_free(p);
}

int
cursors_http(struct conn *c, const char *name, const char *q)
{
	struct sess_cursor cur;
	struct sess_stream ss;
	struct sess_err e;
	struct pjob *p;
	char member[SESS_MEMBER_MAX + 8];
	json_t *v, *o;
	int has, rc, kind;
	int64_t seq;

	has = query_get(q, "member", member, sizeof(member)) == 0;
	if (has && sess_member_check("member", member, &e) != 0)
		return resp_fail(c, SESS_EINVAL, SESS_WHY_NONE, NULL, "%s",
		    e.msg);
	if (c->req.method == M_GET || c->req.method == M_HEAD) {
		if ((v = json_array()) == NULL)
			return resp_fail(c, SESS_ENOMEM, SESS_WHY_NONE, NULL,
			    "out of memory");
		if (has) {
			/* One member: its cursor, at the start if none. */
			rc = sess_cursor_get(sd->rd, name, member, &cur, &e);
			if (rc == 0)
				json_array_append_new(v, cursor_json(member,
				    &cur, 1));
		} else {
			rc = sess_cursors_each(sd->rd, name, NULL, cursor_one,
			    v, &e);
		}
		if (rc < 0) {
			json_decref(v);
			return resp_err(c, rc, &e);
		}
		json_respond(c, 200, v);
		json_decref(v);
		return 0;
	}
	if (c->req.method != M_PUT)
		return resp_fail(c, SESS_EINVAL, SESS_WHY_METHOD,
		    "Allow: GET, HEAD, PUT, OPTIONS\r\n",
		    "%s is not served on cursors", c->req.method_name);
	if (!has)
		return resp_fail(c, SESS_EINVAL, SESS_WHY_NONE, NULL,
		    "member: a ?member= is required");
	/* A token moves its own subject's cursor (or admin's anyone's). */
	if (auth_http_member(c, name, SESS_CAP_READ, member) != 0)
		return 0;
	if ((v = sess_json_parse(c->req.body.p ? c->req.body.p : "",
	    c->req.body.len, &e)) == NULL)
		return resp_fail(c, SESS_EINVAL, SESS_WHY_NONE, NULL,
		    "body is not JSON: %s",
		    e.msg);
	o = json_object_get(v, "offset");
	if (!json_is_string(o)) {
		json_decref(v);
		return resp_fail(c, SESS_EINVAL, SESS_WHY_NONE, NULL,
		    "expected {\"offset\":OFFSET}");
	}
	rc = sess_offset_parse(json_string_value(o), &kind, &seq, &e);
	json_decref(v);
	if (rc != 0)
		return resp_fail(c, SESS_EINVAL, SESS_WHY_NONE, NULL, "%s",
		    e.msg);
	if (kind == SESS_OFF_START)
		seq = 0;
	if (kind == SESS_OFF_NOW) {
		if ((rc = sess_stream_get(sd->rd, name, &ss, &e)) != 0)
			return resp_err(c, rc, &e);
		seq = ss.tail;
	}
	if ((p = pjob_new(name, member, NULL, NULL, NULL)) == NULL)
		return resp_fail(c, SESS_ENOMEM, SESS_WHY_NONE, NULL,
		    "out of memory");
	p->seq = seq;
	if (submit(p, c, cursor_fn, put_done) != 0)
		return resp_fail(c, SESS_ENOMEM, SESS_WHY_NONE, NULL,
		    "out of memory");
	return 0;
}
