/* check.c: integrity check of a stream, or of a recording, against itself. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/*
 * A check replays the events, one by one, into its own copy of the
 * materialized view (temp.check_messages, the columns of messages) and
 * a table of where each producer is (temp.check_producers), and reports
 * what does not follow: seq numbers, values, message ops, superseded
 * markers.  A stream's events say which producer wrote them; a
 * recording's do not, so there a marker can only be held against the
 * messages it names.
 */
struct sess_rcheck {
	struct sess_store *st;
	int own;                /* st is the check's own in-memory store */
	int64_t stream;         /* the stream's id, 0 for a recording */
	int attributed;         /* events carry their producer and epoch */
	int64_t prev;           /* seq of the previous event */
	int lost;               /* the previous line could not be read */
	char *name;             /* a recording's stream, from its first line */
	sqlite3_stmt *pget, *pput, *mine, *known;
	void (*report)(const char *what, void *arg);
	void *arg;
	int problems;
};

/* One event as the check sees it. */
struct row {
	int64_t seq;
	const char *data;
	size_t len;
	json_t *value;          /* parsed already, or NULL */
	int typecol;            /* a stored type column to compare */
	const char *type;       /* ... its value, NULL if none */
	const char *producer;   /* NULL if not attributed */
	int64_t epoch;
};

/* What the check knows of a producer. */
struct pstate {
	int found;
	int64_t epoch;          /* its latest epoch (a recording: by markers) */
	int64_t marker;         /* seq of a marker waiting for its epoch */
	int64_t next;           /* ... the epoch it announced */
};

static const char check_tables[] =
    "DROP TABLE IF EXISTS temp.check_messages;"
    "DROP TABLE IF EXISTS temp.check_producers;"
    "CREATE TEMP TABLE check_messages (stream INTEGER NOT NULL,"
    "  msg TEXT NOT NULL, text TEXT NOT NULL DEFAULT '',"
    "  status TEXT NOT NULL, producer TEXT,"
    "  attempt INTEGER NOT NULL DEFAULT 0, first INTEGER NOT NULL,"
    "  last INTEGER NOT NULL, PRIMARY KEY (stream, msg));"
    "CREATE TEMP TABLE check_producers (id TEXT PRIMARY KEY,"
    "  epoch INTEGER NOT NULL, marker INTEGER NOT NULL,"
    "  next INTEGER NOT NULL);"
    "BEGIN";

static void
problem(struct sess_rcheck *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
problem(struct sess_rcheck *c, const char *fmt, ...)
{
	char buf[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	c->problems++;
	c->report(buf, c->arg);
}

static int
prepare(struct sess_rcheck *c, sqlite3_stmt **s, const char *sql,
    struct sess_err *e)
{
	int rc = sqlite3_prepare_v2(c->st->db, sql, -1, s, NULL);

	return rc == SQLITE_OK ? 0 : sess_dberr(c->st, rc, "check", e);
}

/* Creates the check's tables, in a transaction it rolls back at the end. */
static int
check_open(struct sess_rcheck *c, struct sess_err *e)
{
	int rc;

	rc = sqlite3_exec(c->st->db, check_tables, NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return sess_dberr(c->st, rc, "check", e);
	if ((rc = prepare(c, &c->pget, "SELECT epoch, marker, next FROM "
	    "temp.check_producers WHERE id = ?1", e)) != 0 ||
	    (rc = prepare(c, &c->pput, "INSERT OR REPLACE INTO "
	    "temp.check_producers (id, epoch, marker, next) VALUES "
	    "(?1, ?2, ?3, ?4)", e)) != 0 ||
	    (rc = prepare(c, &c->mine, "SELECT msg FROM temp.check_messages "
	    "WHERE stream = ?1 AND producer = ?2 AND attempt < ?3 "
	    "ORDER BY first", e)) != 0 ||
	    (rc = prepare(c, &c->known, "SELECT 1 FROM temp.check_messages "
	    "WHERE stream = ?1 AND msg = ?2", e)) != 0)
		return rc;
	return 0;
}

static void
check_close(struct sess_rcheck *c)
{
	sqlite3_finalize(c->pget);
	sqlite3_finalize(c->pput);
	sqlite3_finalize(c->mine);
	sqlite3_finalize(c->known);
	c->pget = c->pput = c->mine = c->known = NULL;
	sqlite3_exec(c->st->db, "ROLLBACK; DROP TABLE IF EXISTS "
	    "temp.check_messages; DROP TABLE IF EXISTS temp.check_producers",
	    NULL, NULL, NULL);
}

static int
prod_get(struct sess_rcheck *c, const char *id, struct pstate *p,
    struct sess_err *e)
{
	int rc;

	memset(p, 0, sizeof(*p));
	sqlite3_reset(c->pget);
	sqlite3_bind_text(c->pget, 1, id, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(c->pget)) == SQLITE_ROW) {
		p->found = 1;
		p->epoch = sqlite3_column_int64(c->pget, 0);
		p->marker = sqlite3_column_int64(c->pget, 1);
		p->next = sqlite3_column_int64(c->pget, 2);
	}
	sqlite3_reset(c->pget);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sess_dberr(c->st, rc, "check", e);
	return 0;
}

static int
prod_put(struct sess_rcheck *c, const char *id, const struct pstate *p,
    struct sess_err *e)
{
	int rc;

	sqlite3_reset(c->pput);
	sqlite3_bind_text(c->pput, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(c->pput, 2, p->epoch);
	sqlite3_bind_int64(c->pput, 3, p->marker);
	sqlite3_bind_int64(c->pput, 4, p->next);
	rc = sqlite3_step(c->pput);
	sqlite3_reset(c->pput);
	return rc == SQLITE_DONE ? 0 : sess_dberr(c->st, rc, "check", e);
}

/*
 * A stream's marker must name exactly the messages that its producer
 * created in epochs before "by" and that are still in the view: what
 * the store lists when it supersedes them.
 */
static int
names_mine(struct sess_rcheck *c, int64_t seq, const char *id, int64_t by,
    json_t *msgs, struct sess_err *e)
{
	json_t *want = json_object(), *m;
	const char *k;
	size_t i;
	int rc;

	sqlite3_reset(c->mine);
	sqlite3_bind_int64(c->mine, 1, c->stream);
	sqlite3_bind_text(c->mine, 2, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(c->mine, 3, by);
	while ((rc = sqlite3_step(c->mine)) == SQLITE_ROW)
		json_object_set_new(want, (const char *)sqlite3_column_text(
		    c->mine, 0), json_true());
	sqlite3_reset(c->mine);
	if (rc != SQLITE_DONE) {
		json_decref(want);
		return sess_dberr(c->st, rc, "check", e);
	}
	json_array_foreach(msgs, i, m) {
		k = json_string_value(m);
		if (json_object_del(want, k) != 0)
			problem(c, "seq %lld: superseded marker names message "
			    "\"%.64s\", which producer '%.64s' did not write "
			    "before epoch %lld", (long long)seq, k, id,
			    (long long)by);
	}
	json_object_foreach(want, k, m)
		problem(c, "seq %lld: superseded marker leaves out message "
		    "\"%.64s\" of producer '%.64s'", (long long)seq, k, id);
	json_decref(want);
	return 0;
}

/* A recording's marker must name messages that are in the view. */
static int
names_known(struct sess_rcheck *c, int64_t seq, json_t *msgs,
    struct sess_err *e)
{
	json_t *m;
	size_t i;
	int rc;

	json_array_foreach(msgs, i, m) {
		sqlite3_reset(c->known);
		sqlite3_bind_int64(c->known, 1, c->stream);
		sqlite3_bind_text(c->known, 2, json_string_value(m), -1,
		    SQLITE_STATIC);
		rc = sqlite3_step(c->known);
		sqlite3_reset(c->known);
		if (rc == SQLITE_DONE)
			problem(c, "seq %lld: superseded marker names message "
			    "\"%.64s\", which no event before it created",
			    (long long)seq, json_string_value(m));
		else if (rc != SQLITE_ROW)
			return sess_dberr(c->st, rc, "check", e);
	}
	return 0;
}

static int
marker_shape(json_t *v, const char **id, int64_t *epoch, int64_t *by)
{
	json_t *msgs = json_object_get(v, "msgs"), *m;
	size_t i;

	*id = json_string_value(json_object_get(v, "producer"));
	if (*id == NULL || **id == '\0' ||
	    !json_is_integer(json_object_get(v, "epoch")) ||
	    !json_is_integer(json_object_get(v, "by")) ||
	    !json_is_array(msgs) || json_array_size(msgs) == 0)
		return -1;
	json_array_foreach(msgs, i, m)
		if (!json_is_string(m))
			return -1;
	*epoch = json_integer_value(json_object_get(v, "epoch"));
	*by = json_integer_value(json_object_get(v, "by"));
	return 0;
}

/*
 * The store writes a marker when a producer first writes with a new
 * epoch: just after events of an older epoch, just before the new
 * epoch's first.  One that its producer's epochs do not explain was
 * appended by someone else, and drops messages that are not theirs.
 */
static int
check_marker(struct sess_rcheck *c, int64_t seq, json_t *v,
    struct sess_err *e)
{
	struct pstate p;
	const char *id;
	int64_t epoch, by;
	int rc;

	if (marker_shape(v, &id, &epoch, &by) != 0) {
		problem(c, "seq %lld: superseded marker without a producer, "
		    "epoch, by and msgs (non-empty)", (long long)seq);
		return 0;
	}
	if (by <= epoch)
		problem(c, "seq %lld: superseded marker: by %lld is not after "
		    "epoch %lld", (long long)seq, (long long)by,
		    (long long)epoch);
	if ((rc = prod_get(c, id, &p, e)) != 0)
		return rc;
	if (c->attributed && !p.found)
		problem(c, "seq %lld: superseded marker: producer '%.64s' "
		    "wrote nothing before it", (long long)seq, id);
	else if (c->attributed && p.marker != 0)
		problem(c, "seq %lld: superseded marker: producer '%.64s' "
		    "wrote nothing since the marker at seq %lld",
		    (long long)seq, id, (long long)p.marker);
	else if (p.found && p.epoch > epoch)
		problem(c, "seq %lld: superseded marker: producer '%.64s' was "
		    "at epoch %lld already, not %lld", (long long)seq, id,
		    (long long)p.epoch, (long long)epoch);
	if (c->attributed)
		rc = names_mine(c, seq, id, by, json_object_get(v, "msgs"), e);
	else
		rc = names_known(c, seq, json_object_get(v, "msgs"), e);
	if (rc != 0)
		return rc;
	if (c->attributed) {
		p.marker = seq;
		p.next = by;
	} else
		p.epoch = by;
	p.found = 1;
	return prod_put(c, id, &p, e);
}

/* An attributed event: its producer's epochs never go back. */
static int
check_producer(struct sess_rcheck *c, const struct row *r,
    struct sess_err *e)
{
	struct pstate p;
	int rc;

	if ((rc = prod_get(c, r->producer, &p, e)) != 0)
		return rc;
	if (p.marker != 0 && r->epoch != p.next)
		problem(c, "seq %lld: superseded marker: producer '%.64s' goes "
		    "on at epoch %lld, not %lld", (long long)p.marker,
		    r->producer, (long long)r->epoch, (long long)p.next);
	else if (p.found && r->epoch < p.epoch)
		problem(c, "seq %lld: producer '%.64s' goes back from epoch "
		    "%lld to %lld", (long long)r->seq, r->producer,
		    (long long)p.epoch, (long long)r->epoch);
	p.found = 1;
	p.epoch = r->epoch;
	p.marker = p.next = 0;
	return prod_put(c, r->producer, &p, e);
}

static void
check_seq(struct sess_rcheck *c, int64_t seq)
{
	if (!c->lost && seq != c->prev + 1)
		problem(c, "seq %lld: follows %lld (%s)", (long long)seq,
		    (long long)c->prev, seq == c->prev ? "event repeated" :
		    seq < c->prev ? "events out of order" : "events missing");
	c->lost = 0;
	c->prev = seq;
}

/* Checks one event and applies it to the check's view. */
static int
check_event(struct sess_rcheck *c, const struct row *r, struct sess_err *e)
{
	struct sess_evinfo in;
	struct sess_err perr;
	json_t *v = r->value;
	char why[256];
	int rc = 0;

	check_seq(c, r->seq);
	if (v != NULL)
		json_incref(v);
	else if ((v = sess_json_parse(r->data, r->len, &perr)) == NULL) {
		problem(c, "seq %lld: value is not valid JSON: %s",
		    (long long)r->seq, perr.msg);
		return 0;
	}
	if (sess_event_check(v, &in, &perr) != 0) {
		problem(c, "seq %lld: %s", (long long)r->seq, perr.msg);
	} else if (r->typecol && ((r->type == NULL) != (in.type == NULL) ||
	    (r->type != NULL && strcmp(r->type, in.type) != 0))) {
		problem(c, "seq %lld: type column does not match the value",
		    (long long)r->seq);
	} else if (in.type != NULL && strcmp(in.type, "superseded") == 0 &&
	    in.op == SESS_OP_NONE) {
		if ((rc = check_marker(c, r->seq, v, e)) == 0)
			rc = sess_state_marker(c->st, STATE_CHECK, c->stream, v,
			    e);
	} else if (in.op != SESS_OP_NONE) {
		rc = sess_state_apply(c->st, STATE_CHECK, c->stream, &in,
		    r->producer, r->epoch, r->seq, why, sizeof(why), e);
		if (rc == 1)
			problem(c, "seq %lld: %s", (long long)r->seq, why);
		rc = rc == 1 ? 0 : rc;
	}
	if (rc == 0 && r->producer != NULL)
		rc = check_producer(c, r, e);
	json_decref(v);
	return rc;
}

/*
 * Markers whose producer never wrote the epoch they announced, unless
 * it closed the stream in that epoch (a close with no body writes none).
 */
static int
check_pending(struct sess_rcheck *c, struct sess_err *e)
{
	sqlite3_stmt *s;
	int rc;

	if ((rc = prepare(c, &s, "SELECT p.id, p.marker, p.next FROM "
	    "temp.check_producers p WHERE p.marker > 0 AND NOT EXISTS "
	    "(SELECT 1 FROM streams s WHERE s.id = ?1 AND s.closed AND "
	    "s.closed_by = p.id AND s.closed_epoch = p.next) "
	    "ORDER BY p.marker", e)) != 0)
		return rc;
	sqlite3_bind_int64(s, 1, c->stream);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		problem(c, "seq %lld: superseded marker: epoch %lld of producer "
		    "'%.64s' never follows it", (long long)sqlite3_column_int64(
		    s, 1), (long long)sqlite3_column_int64(s, 2),
		    (const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : sess_dberr(c->st, rc, "check", e);
}

static int
compare_views(struct sess_rcheck *c, struct sess_err *e)
{
	static const char *const sql[] = {
		"SELECT msg FROM (SELECT msg, text, status FROM messages "
		"WHERE stream = ?1 EXCEPT SELECT msg, text, status FROM "
		"temp.check_messages WHERE stream = ?1)",
		"SELECT msg FROM (SELECT msg, text, status FROM "
		"temp.check_messages WHERE stream = ?1 EXCEPT SELECT msg, "
		"text, status FROM messages WHERE stream = ?1)",
	};
	sqlite3_stmt *s;
	int i, rc;

	for (i = 0; i < 2; i++) {
		if ((rc = prepare(c, &s, sql[i], e)) != 0)
			return rc;
		sqlite3_bind_int64(s, 1, c->stream);
		while ((rc = sqlite3_step(s)) == SQLITE_ROW)
			problem(c, "message \"%.64s\": the materialized view "
			    "%s the log", sqlite3_column_text(s, 0),
			    i == 0 ? "differs from" : "is missing what is in");
		sqlite3_finalize(s);
		if (rc != SQLITE_DONE)
			return sess_dberr(c->st, rc, "check", e);
	}
	return 0;
}

/* The events of a stream, in order, through check_event(). */
static int
check_rows(struct sess_rcheck *c, struct sess_err *e)
{
	struct row r;
	sqlite3_stmt *s;
	int rc, bad = 0;

	if ((rc = prepare(c, &s, "SELECT seq, data, type, producer, epoch "
	    "FROM events WHERE stream = ?1 ORDER BY seq", e)) != 0)
		return rc;
	sqlite3_bind_int64(s, 1, c->stream);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		memset(&r, 0, sizeof(r));
		r.seq = sqlite3_column_int64(s, 0);
		r.data = sqlite3_column_blob(s, 1);
		r.len = (size_t)sqlite3_column_bytes(s, 1);
		if (r.data == NULL)
			r.data = "";
		r.typecol = 1;
		r.type = (const char *)sqlite3_column_text(s, 2);
		r.producer = (const char *)sqlite3_column_text(s, 3);
		r.epoch = sqlite3_column_int64(s, 4);
		if ((bad = check_event(c, &r, e)) != 0)
			break;
	}
	if (bad == 0 && rc != SQLITE_DONE)
		bad = sess_dberr(c->st, rc, "check", e);
	sqlite3_finalize(s);
	return bad;
}

int
sess_check(struct sess_store *st, const char *stream,
    void (*report)(const char *what, void *arg), void *arg,
    struct sess_err *e)
{
	struct sess_rcheck c;
	struct sess_stream ss;
	int rc;

	if ((rc = sess_stream_get(st, stream, &ss, e)) != 0)
		return rc;
	memset(&c, 0, sizeof(c));
	c.st = st;
	c.stream = ss.id;
	c.attributed = 1;
	c.report = report;
	c.arg = arg;
	if ((rc = check_open(&c, e)) != 0 || (rc = check_rows(&c, e)) != 0 ||
	    (rc = check_pending(&c, e)) != 0)
		goto out;
	if (c.prev != ss.tail)
		problem(&c, "stream tail is %lld but the last event is %lld",
		    (long long)ss.tail, (long long)c.prev);
	if ((rc = compare_views(&c, e)) != 0)
		goto out;
	rc = c.problems;
out:
	check_close(&c);
	return rc;
}

/* A store of the check's own, in memory, for a recording's view. */
static struct sess_store *
memory_store(struct sess_err *e)
{
	struct sess_store *st;
	int rc;

	if ((st = calloc(1, sizeof(*st))) == NULL ||
	    (st->path = strdup("recording")) == NULL) {
		free(st);
		sess_err_set(e, SESS_ENOMEM, "out of memory");
		return NULL;
	}
	st->wakefd = -1;
	sess_buf_init(&st->scratch, 0);
	rc = sqlite3_open_v2(":memory:", &st->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		sess_dberr(st, rc, "check", e);
		sess_store_close(st);
		return NULL;
	}
	return st;
}

struct sess_rcheck *
sess_rcheck_new(void (*report)(const char *what, void *arg), void *arg,
    struct sess_err *e)
{
	struct sess_rcheck *c;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		sess_err_set(e, SESS_ENOMEM, "out of memory");
		return NULL;
	}
	c->report = report;
	c->arg = arg;
	c->own = 1;
	if ((c->st = memory_store(e)) == NULL || check_open(c, e) != 0) {
		sess_rcheck_free(c);
		return NULL;
	}
	return c;
}

void
sess_rcheck_free(struct sess_rcheck *c)
{
	if (c == NULL)
		return;
	if (c->st != NULL)
		check_close(c);
	if (c->own)
		sess_store_close(c->st);
	free(c->name);
	free(c);
}

/* A line's offset, if it has one, is its seq's; its stream the first's. */
static void
check_line(struct sess_rcheck *c, const char *line, size_t len, int64_t seq)
{
	json_t *v = sess_json_parse(line, len, NULL), *off, *sn;
	const char *name;
	int64_t at;
	int kind;

	if (v == NULL)
		return;
	off = json_object_get(v, "offset");
	if (off != NULL && !json_is_string(off))
		problem(c, "seq %lld: offset is not a string", (long long)seq);
	else if (off != NULL && (sess_offset_parse(json_string_value(off),
	    &kind, &at, NULL) != 0 || kind != SESS_OFF_SEQ || at != seq))
		problem(c, "seq %lld: offset \"%.40s\" is not this seq's",
		    (long long)seq, json_string_value(off));
	sn = json_object_get(v, "stream");
	name = json_is_string(sn) ? json_string_value(sn) : "";
	if (c->name == NULL)
		c->name = strdup(name);
	else if (strcmp(c->name, name) != 0)
		problem(c, "seq %lld: stream \"%.64s\" is not the first "
		    "line's \"%.64s\" (a recording is of one stream)",
		    (long long)seq, name, c->name);
	json_decref(v);
}

int
sess_rcheck_line(struct sess_rcheck *c, const char *line, size_t len,
    const struct sess_event *ev, json_t *value, struct sess_err *e)
{
	struct row r;
	int before = c->problems, rc;

	memset(&r, 0, sizeof(r));
	r.seq = ev->seq;
	r.data = ev->data;
	r.len = ev->len;
	r.value = value;
	if ((rc = check_event(c, &r, e)) != 0)
		return rc;
	check_line(c, line, len, ev->seq);
	return c->problems - before;
}

void
sess_rcheck_lost(struct sess_rcheck *c)
{
	c->problems++;
	c->lost = 1;
}

int
sess_rcheck_end(struct sess_rcheck *c)
{
	return c->problems;
}
