/* ds.c: Durable Streams stream operations: create, fork, append, expire. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* A streams row as the protocol sees it. */
struct row {
	int64_t id, tail, created, ttl, expires, parent, fork_seq;
	int64_t fork_offset, fork_sub, closed_epoch, closed_pseq;
	int closed, deleted;
	int has_closed_by;
	char content_type[SESS_CT_MAX];
	char fork_from[SESS_NAME_MAX + 1];
	char writer_seq[SESS_NAME_MAX + 1];
	char closed_by[SESS_NAME_MAX + 1];
	char name[SESS_NAME_MAX + 1];
};

#define ROW_COLUMNS "id, tail, created, closed, deleted, content_type, ttl, " \
	"expires, parent, fork_seq, fork_from, fork_offset, fork_sub, " \
	"writer_seq, closed_by, closed_epoch, closed_pseq, name"

static int
is_json(const char *ct)
{
	return strcmp(ct, "application/json") == 0;
}

static void
text_col(sqlite3_stmt *s, int col, char *out, size_t size)
{
	const char *p = (const char *)sqlite3_column_text(s, col);

	snprintf(out, size, "%s", p ? p : "");
}

static int64_t
int_col(sqlite3_stmt *s, int col, int64_t null)
{
	if (sqlite3_column_type(s, col) == SQLITE_NULL)
		return null;
	return sqlite3_column_int64(s, col);
}

/* Reads the row by name (byid 0) or id; SESS_ENOENT if there is none. */
static int
row_load(struct sess_store *st, const char *name, int64_t id,
    struct row *r, struct sess_err *e)
{
	sqlite3_stmt *s;
	int rc;

	if (name != NULL)
		s = sess_stmt(st, STMT_DS_GET, "SELECT " ROW_COLUMNS " FROM "
		    "streams WHERE name = ?1", e);
	else
		s = sess_stmt(st, STMT_DS_PARENT, "SELECT " ROW_COLUMNS
		    " FROM streams WHERE id = ?1", e);
	if (s == NULL)
		return e ? e->code : SESS_EIO;
	if (name != NULL)
		sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	else
		sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(s);
		return sess_err_set(e, SESS_ENOENT, "%s: no such stream",
		    name ? name : "stream");
	}
	if (rc != SQLITE_ROW)
		return sess_dberr(st, rc, "read stream", e);
	memset(r, 0, sizeof(*r));
	r->id = sqlite3_column_int64(s, 0);
	r->tail = sqlite3_column_int64(s, 1);
	r->created = sqlite3_column_int64(s, 2);
	r->closed = sqlite3_column_int(s, 3);
	r->deleted = sqlite3_column_int(s, 4);
	text_col(s, 5, r->content_type, sizeof(r->content_type));
	r->ttl = int_col(s, 6, -1);
	r->expires = int_col(s, 7, 0);
	r->parent = int_col(s, 8, 0);
	r->fork_seq = sqlite3_column_int64(s, 9);
	text_col(s, 10, r->fork_from, sizeof(r->fork_from));
	r->fork_offset = int_col(s, 11, -1);
	r->fork_sub = int_col(s, 12, 0);
	text_col(s, 13, r->writer_seq, sizeof(r->writer_seq));
	r->has_closed_by = sqlite3_column_type(s, 14) != SQLITE_NULL;
	text_col(s, 14, r->closed_by, sizeof(r->closed_by));
	r->closed_epoch = int_col(s, 15, 0);
	r->closed_pseq = int_col(s, 16, 0);
	text_col(s, 17, r->name, sizeof(r->name));
	sqlite3_reset(s);
	return 0;
}

static int
expired(const struct row *r, int64_t now)
{
	return !r->deleted && r->expires != 0 && r->expires <= now;
}

static void
row_info(const struct row *r, struct sess_ds_info *out)
{
	memset(out, 0, sizeof(*out));
	out->id = r->id;
	out->created = r->created;
	out->tail = r->tail;
	out->ttl = r->ttl;
	out->expires = r->expires;
	out->parent = r->parent;
	out->fork_seq = r->fork_seq;
	out->closed = r->closed;
	out->gone = r->deleted;
	out->json = is_json(r->content_type);
	memcpy(out->content_type, r->content_type, sizeof(out->content_type));
}

int
sess_ds_get(struct sess_store *st, const char *name, struct sess_ds_info *out,
    struct sess_err *e)
{
	struct row r;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = sess_name_check(name, strlen(name), e)) != 0)
		return rc;
	if ((rc = row_load(st, name, 0, &r, e)) != 0)
		return rc;
	if (r.deleted) {
		out->gone = 1;
		return sess_err_set(e, SESS_ENOENT, "%s: stream is gone", name);
	}
	if (expired(&r, sess_now()))
		return sess_err_set(e, SESS_ENOENT, "%s: no such stream", name);
	row_info(&r, out);
	return 0;
}

/*
 * Where the events of a stream come from: its own events after its
 * fork_seq, and below that its parent's, and so on.  A segment gives
 * the events of stream id in (lo, hi].
 */
struct segment {
	int64_t id, lo, hi;
};

/* Fills seg[0..) from the oldest ancestor to s; returns the count. */
static int
segments(struct sess_store *st, int64_t id, int64_t parent, int64_t fork_seq,
    int64_t upto, struct segment *seg, struct sess_err *e)
{
	struct segment chain[SESS_FORK_DEPTH + 1];
	struct row r;
	int n = 0, i, rc;

	chain[n].id = id;
	chain[n].lo = fork_seq;
	chain[n].hi = upto;
	n++;
	while (parent != 0 && fork_seq > 0) {
		if (n > SESS_FORK_DEPTH)
			return sess_err_set(e, SESS_EIO, "fork chain deeper "
			    "than %d", SESS_FORK_DEPTH);
		if ((rc = row_load(st, NULL, parent, &r, e)) != 0)
			return rc == SESS_ENOENT ? sess_err_set(e, SESS_EIO,
			    "a fork's source is missing") : rc;
		chain[n].id = r.id;
		chain[n].lo = r.fork_seq;
		chain[n].hi = fork_seq;
		n++;
		parent = r.parent;
		fork_seq = r.fork_seq;
	}
	for (i = 0; i < n; i++)
		seg[i] = chain[n - 1 - i];
	return n;
}

int
sess_ds_read(struct sess_store *st, const struct sess_ds_info *s,
    int64_t after, int64_t upto, size_t max,
    int (*fn)(const struct sess_event *ev, void *arg), void *arg,
    struct sess_err *e)
{
	struct segment seg[SESS_FORK_DEPTH + 1];
	struct sess_event ev;
	sqlite3_stmt *q;
	size_t bytes = 0;
	int64_t lo, hi;
	int n, i, rc, count = 0, stop = 0;

	if ((n = segments(st, s->id, s->parent, s->fork_seq, upto, seg,
	    e)) < 0)
		return n;
	for (i = 0; i < n && !stop; i++) {
		lo = seg[i].lo > after ? seg[i].lo : after;
		hi = seg[i].hi;
		if (hi <= lo)
			continue;
		q = sess_stmt(st, STMT_DS_READ, "SELECT seq, time, data, type "
		    "FROM events WHERE stream = ?1 AND seq > ?2 AND seq <= ?3 "
		    "ORDER BY seq", e);
		if (q == NULL)
			return e ? e->code : SESS_EIO;
		sqlite3_bind_int64(q, 1, seg[i].id);
		sqlite3_bind_int64(q, 2, lo);
		sqlite3_bind_int64(q, 3, hi);
		while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
			ev.seq = sqlite3_column_int64(q, 0);
			ev.time = sqlite3_column_int64(q, 1);
			ev.data = sqlite3_column_blob(q, 2);
			ev.len = (size_t)sqlite3_column_bytes(q, 2);
			ev.type = (const char *)sqlite3_column_text(q, 3);
			if (ev.data == NULL)
				ev.data = "";
			count++;
			bytes += ev.len;
			if (fn(&ev, arg) != 0 || bytes >= max) {
				stop = 1;
				break;
			}
		}
		sqlite3_reset(q);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			return sess_dberr(st, rc, "read", e);
	}
	return count;
}

/*
 * Appends the data of events (after, upto] of s to out, up to about max
 * bytes: end to end, or comma-separated if json (no comma before the
 * first if *first, which is then cleared).  *last is the seq of the last
 * event added.  Returns the events added, or a negative code.  The
 * statement is prepared per call: a call reads many rows.
 */
int
sess_ds_read_body(struct sess_store *st, const struct sess_ds_info *s,
    int64_t after, int64_t upto, size_t max, int json, int *first,
    struct sess_buf *out, int64_t *last, struct sess_err *e)
{
	struct segment seg[SESS_FORK_DEPTH + 1];
	sqlite3_stmt *q = NULL;
	size_t bytes = 0, len, comma;
	const void *data;
	int64_t lo, hi;
	int n, i, rc, count = 0, stop = 0;

	if ((n = segments(st, s->id, s->parent, s->fork_seq, upto, seg,
	    e)) < 0)
		return n;
	rc = sqlite3_prepare_v3(st->db, "SELECT seq, data FROM events "
	    "WHERE stream = ?1 AND seq > ?2 AND seq <= ?3 ORDER BY seq", -1,
	    0, &q, NULL);
	if (rc != SQLITE_OK)
		return sess_dberr(st, rc, "prepare", e);
	for (i = 0; i < n && !stop; i++) {
		lo = seg[i].lo > after ? seg[i].lo : after;
		hi = seg[i].hi;
		if (hi <= lo)
			continue;
		sqlite3_reset(q);
		sqlite3_bind_int64(q, 1, seg[i].id);
		sqlite3_bind_int64(q, 2, lo);
		sqlite3_bind_int64(q, 3, hi);
		while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
			data = sqlite3_column_blob(q, 1);
			len = (size_t)sqlite3_column_bytes(q, 1);
			comma = json && !*first;
			if (sess_buf_reserve(out, len + comma) != 0) {
				rc = sess_err_set(e, SESS_ENOMEM,
				    "read: out of memory");
				goto out;
			}
			if (comma)
				out->p[out->len++] = ',';
			if (len > 0)
				memcpy(out->p + out->len, data, len);
			out->len += len;
			*first = 0;
			*last = sqlite3_column_int64(q, 0);
			count++;
			bytes += len;
			if (bytes >= max) {
				stop = 1;
				break;
			}
		}
		if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
			rc = sess_dberr(st, rc, "read", e);
			goto out;
		}
	}
	rc = count;
out:
	if (out->p != NULL)
		out->p[out->len] = '\0';
	sqlite3_finalize(q);
	return rc;
}

/*
 * Not sqlite3_errcode(): the ROLLBACK TO and RELEASE after a failed
 * operation reset it.  sess_dberr() recorded it at the failure.
 */
int
sess_store_write_failure(struct sess_store *st)
{
	return st->failure;
}

int
sess_batch_begin(struct sess_store *st, struct sess_err *e)
{
	return sess_tx_begin(st, e);
}

int
sess_batch_commit(struct sess_store *st, struct sess_err *e)
{
	return sess_tx_commit(st, e);
}

void
sess_batch_rollback(struct sess_store *st)
{
	sess_tx_rollback(st);
}

/* Runs a cached statement without parameters. */
static int
step0(struct sess_store *st, int slot, const char *sql, struct sess_err *e)
{
	sqlite3_stmt *s = sess_stmt(st, slot, sql, e);
	int rc;

	if (s == NULL)
		return e ? e->code : SESS_EIO;
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : sess_dberr(st, rc, "savepoint", e);
}

/* Each operation is a savepoint inside the batch: all or nothing. */
static int
op_begin(struct sess_store *st, struct sess_err *e)
{
	st->failure = 0;
	return step0(st, STMT_DS_SAVE, "SAVEPOINT ds", e);
}

static int
op_end(struct sess_store *st, int rc)
{
	if (rc != 0)
		step0(st, STMT_DS_ROLLBACK, "ROLLBACK TO ds", NULL);
	step0(st, STMT_DS_RELEASE, "RELEASE ds", NULL);
	return rc;
}

static int
exec1(struct sess_store *st, int slot, const char *sql, int64_t a,
    const char *what, struct sess_err *e)
{
	sqlite3_stmt *s = sess_stmt(st, slot, sql, e);
	int rc;

	if (s == NULL)
		return e ? e->code : SESS_EIO;
	sqlite3_bind_int64(s, 1, a);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return sess_dberr(st, rc, what, e);
	return 0;
}

static int
children(struct sess_store *st, int64_t id, int64_t *n, struct sess_err *e)
{
	sqlite3_stmt *s;
	int rc;

	s = sess_stmt(st, STMT_DS_CHILDREN, "SELECT count(*) FROM streams "
	    "WHERE parent = ?1", e);
	if (s == NULL)
		return e ? e->code : SESS_EIO;
	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	*n = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_reset(s);
	if (rc != SQLITE_ROW)
		return sess_dberr(st, rc, "count forks", e);
	return 0;
}

/* Removes one stream and everything it holds. */
static int
purge(struct sess_store *st, int64_t id, struct sess_err *e)
{
	static const char *const sql[] = {
		"DELETE FROM events WHERE stream = ?1",
		"DELETE FROM producers WHERE stream = ?1",
		"DELETE FROM messages WHERE stream = ?1",
		"DELETE FROM streams WHERE id = ?1",
	};
	sqlite3_stmt *s;
	size_t i;
	int rc;

	/* Rare enough not to keep these prepared. */
	for (i = 0; i < sizeof(sql) / sizeof(sql[0]); i++) {
		rc = sqlite3_prepare_v2(st->db, sql[i], -1, &s, NULL);
		if (rc != SQLITE_OK)
			return sess_dberr(st, rc, "delete", e);
		sqlite3_bind_int64(s, 1, id);
		rc = sqlite3_step(s);
		sqlite3_finalize(s);
		if (rc != SQLITE_DONE)
			return sess_dberr(st, rc, "delete", e);
	}
	return 0;
}

/*
 * Deletes r: marks it gone while forks read from it, else removes it
 * and then any gone ancestors this was the last fork of.
 */
static int
remove_row(struct sess_store *st, const struct row *r, struct sess_err *e)
{
	struct row p;
	int64_t n, parent;
	int rc;

	if ((rc = children(st, r->id, &n, e)) != 0)
		return rc;
	if (n > 0)
		return exec1(st, STMT_DS_DELETED, "UPDATE streams SET "
		    "deleted = 1 WHERE id = ?1", r->id, "delete", e);
	if ((rc = purge(st, r->id, e)) != 0)
		return rc;
	for (parent = r->parent; parent != 0; parent = p.parent) {
		if ((rc = row_load(st, NULL, parent, &p, e)) != 0)
			return rc == SESS_ENOENT ? 0 : rc;
		if (!p.deleted)
			break;
		if ((rc = children(st, p.id, &n, e)) != 0)
			return rc;
		if (n > 0)
			break;
		if ((rc = purge(st, p.id, e)) != 0)
			return rc;
	}
	return 0;
}

/* Writes the protocol state of r back. */
static int
row_store(struct sess_store *st, const struct row *r, struct sess_err *e)
{
	sqlite3_stmt *s;
	int rc;

	s = sess_stmt(st, STMT_DS_PUT, "UPDATE streams SET tail = ?2, "
	    "closed = ?3, expires = ?4, writer_seq = ?5, closed_by = ?6, "
	    "closed_epoch = ?7, closed_pseq = ?8 WHERE id = ?1", e);
	if (s == NULL)
		return e ? e->code : SESS_EIO;
	sqlite3_bind_int64(s, 1, r->id);
	sqlite3_bind_int64(s, 2, r->tail);
	sqlite3_bind_int(s, 3, r->closed);
	if (r->expires != 0)
		sqlite3_bind_int64(s, 4, r->expires);
	if (r->writer_seq[0] != '\0')
		sqlite3_bind_text(s, 5, r->writer_seq, -1, SQLITE_STATIC);
	if (r->has_closed_by) {
		sqlite3_bind_text(s, 6, r->closed_by, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 7, r->closed_epoch);
		sqlite3_bind_int64(s, 8, r->closed_pseq);
	}
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return sess_dberr(st, rc, "update stream", e);
	return 0;
}

/* One event of bytes (not JSON: no conventions), as seq ++r->tail. */
static int
put_bytes(struct sess_store *st, struct row *r, const void *p, size_t n,
    int64_t now, const char *producer, int64_t epoch, int64_t pseq,
    struct sess_err *e)
{
	sqlite3_stmt *s;
	int rc;

	if (r->tail >= SESS_SEQ_MAX)
		return sess_err_set(e, SESS_EINVAL, "stream is full");
	s = sess_stmt(st, STMT_DS_EVENT, "INSERT INTO events (stream, seq, "
	    "time, producer, epoch, pseq, data) VALUES (?1, ?2, ?3, ?4, ?5, "
	    "?6, ?7)", e);
	if (s == NULL)
		return e ? e->code : SESS_EIO;
	sqlite3_bind_int64(s, 1, r->id);
	sqlite3_bind_int64(s, 2, r->tail + 1);
	sqlite3_bind_int64(s, 3, now);
	if (producer != NULL) {
		sqlite3_bind_text(s, 4, producer, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 5, epoch);
		sqlite3_bind_int64(s, 6, pseq);
	}
	sqlite3_bind_blob(s, 7, n ? p : "", (int)n, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return sess_dberr(st, rc, "append", e);
	r->tail++;
	return 0;
}

/* The end of the JSON value starting at p[i] in compact text. */
static size_t
value_end(const char *p, size_t n, size_t i)
{
	int depth = 0, str = 0;

	for (; i < n; i++) {
		char c = p[i];

		if (str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				str = 0;
			continue;
		}
		if (c == '"')
			str = 1;
		else if (c == '[' || c == '{')
			depth++;
		else if (c == ']' || c == '}') {
			if (depth == 0)
				return i;
			depth--;
		} else if (c == ',' && depth == 0)
			return i;
	}
	return n;
}

void
sess_ds_items_free(struct sess_item *items, size_t n)
{
	size_t i;

	for (i = 0; items != NULL && i < n; i++)
		json_decref(items[i].value);
	free(items);
}

/*
 * One value of a split body that is of the store's own types, unless
 * own (the store's own append): the value's place is named when there
 * are several.
 */
static int
split_own(const struct sess_item *it, size_t k, size_t n, int own,
    struct sess_err *e)
{
	struct sess_err oe;

	if (own || sess_event_own(it->value, it->json, it->len, it->type,
	    it->typelen, &oe) == 0)
		return 0;
	if (n == 1)
		return sess_err_set(e, SESS_EOWN, "%s", oe.msg);
	return sess_err_set(e, SESS_EOWN, "value %zu: %s", k + 1, oe.msg);
}

static int
split(const char *body, size_t len, int strict, int own,
    struct sess_buf *text, struct sess_item **itemsp, size_t *np,
    struct sess_err *e)
{
	struct sess_buf whole;
	struct sess_jscan js, *scan = NULL;
	struct sess_item *items = NULL;
	struct sess_evinfo in;
	struct sess_err ign;
	size_t i, j, k, n = 0, cap;
	int rc, array;

	*itemsp = NULL;
	*np = 0;
	sess_buf_init(&whole, len + 16);
	if ((rc = sess_json_scan(body, len, &whole, &js, &ign)) != 0) {
		rc = sess_err_set(e, SESS_EINVAL, "body is not JSON: %s",
		    ign.msg);
		goto out;
	}
	/* Count the values first: commas at depth one part them. */
	array = whole.p[0] == '[';
	cap = 1;
	if (array)
		for (i = 1, cap = 0; i < whole.len - 1; i = j + 1, cap++)
			j = value_end(whole.p, whole.len - 1, i);
	if (cap > 0 && ((items = calloc(cap, sizeof(*items))) == NULL ||
	    (scan = calloc(cap, sizeof(*scan))) == NULL)) {
		rc = sess_err_set(e, SESS_ENOMEM, "out of memory");
		goto out;
	}
	for (i = array ? 1 : 0; n < cap; i = j + 1) {
		j = array ? value_end(whole.p, whole.len - 1, i) : whole.len;
		if ((rc = sess_json_scan(whole.p + i, j - i, text, &scan[n],
		    e)) != 0)
			goto out;
		n++;
	}
	/* Pointers are set once the buffer no longer moves. */
	for (k = 0; k < n; k++) {
		struct sess_item *it = &items[k];
		struct sess_jscan *sc = &scan[k];

		it->json = text->p + sc->at;
		it->len = sc->len;
		it->type = sc->has_type ? text->p + sc->type_at : NULL;
		it->typelen = sc->type_len;
		it->units = 1;
		if (!sc->complex) {
			if ((rc = split_own(it, k, n, own, e)) != 0)
				goto out;
			continue;
		}
		if ((it->value = sess_json_parse(it->json, it->len, e)) ==
		    NULL) {
			rc = SESS_EINVAL;
			goto out;
		}
		/* Before the conventions: a broken value is kept as text. */
		if ((rc = split_own(it, k, n, own, e)) != 0)
			goto out;
		if (sess_event_check(it->value, &in, strict ? e : &ign) != 0) {
			if (strict) {
				rc = SESS_EINVAL;
				goto out;
			}
			/* Not the conventions: a plain value. */
			json_decref(it->value);
			it->value = NULL;
			it->type = NULL;
		}
	}
	*itemsp = items;
	*np = n;
	items = NULL;
	rc = 0;
out:
	sess_ds_items_free(items, n);
	free(scan);
	sess_buf_release(&whole);
	return rc;
}

int
sess_ds_split(const char *body, size_t len, int strict, struct sess_buf *text,
    struct sess_item **itemsp, size_t *np, struct sess_err *e)
{
	return split(body, len, strict, 0, text, itemsp, np, e);
}

/* The messages of a JSON body, compact, in a buffer they point into. */
struct messages {
	struct sess_buf text;
	struct sess_item *items;
	size_t n;
	int done;                     /* split already */
	int own;                      /* the store's own append */
};

static void
messages_free(struct messages *m)
{
	sess_ds_items_free(m->items, m->n);
	sess_buf_release(&m->text);
}

/*
 * Any JSON may be appended: values that use the session conventions
 * (msg/op) correctly get them, others are stored as they are.
 */
static int
messages_split(const char *body, size_t len, struct messages *m,
    struct sess_err *e)
{
	int own = m->own;

	if (m->done)
		return 0;
	memset(m, 0, sizeof(*m));
	m->done = 1;
	m->own = own;
	sess_buf_init(&m->text, len + 16);
	return split(body, len, 0, own, &m->text, &m->items, &m->n, e);
}

static int64_t
sliding(int64_t ttl, int64_t now)
{
	return now + ttl * 1000000;
}

/*
 * Appends the body to r (JSON messages or one chunk of bytes), as the
 * producer's request (producer may be NULL).
 */
static int
put_body(struct sess_store *st, struct row *r, const struct sess_ds_req *q,
    struct messages *m, int64_t now, struct sess_err *e)
{
	struct sess_producer pr, *prp = NULL;
	struct sess_stream ss;
	int64_t seq;
	size_t i;
	int rc;

	if (q->len == 0)
		return 0;
	if (q->producer != NULL) {
		pr.id = q->producer;
		pr.epoch = q->epoch;
		prp = &pr;
	}
	if (!is_json(r->content_type))
		return put_bytes(st, r, q->body, q->len, now, q->producer,
		    q->epoch, q->seq, e);
	if ((rc = messages_split(q->body, q->len, m, e)) != 0)
		return rc;
	memset(&ss, 0, sizeof(ss));
	ss.id = r->id;
	ss.tail = r->tail;
	for (i = 0; i < m->n; i++) {
		if (ss.tail >= SESS_SEQ_MAX)
			return sess_err_set(e, SESS_EINVAL, "stream is full");
		m->items[i].time = now;
		if ((rc = sess_log_put_item(st, &ss, prp, &m->items[i], q->seq,
		    now, &seq, e)) != 0)
			return rc;
	}
	r->tail = ss.tail;
	return 0;
}

static int
insert_row(struct sess_store *st, const char *name, const char *ct,
    int64_t ttl, int64_t expires, const struct row *src, int64_t fork_seq,
    const struct sess_ds_req *q, int64_t now, struct row *r,
    struct sess_err *e)
{
	sqlite3_stmt *s;
	int rc;

	s = sess_stmt(st, STMT_DS_INSERT, "INSERT INTO streams (name, "
	    "content_type, created, ttl, expires, tail, parent, fork_seq, "
	    "fork_from, fork_offset, fork_sub) VALUES (?1, ?2, ?3, ?4, ?5, "
	    "?6, ?7, ?6, ?8, ?9, ?10)", e);
	if (s == NULL)
		return e ? e->code : SESS_EIO;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, ct, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, now);
	if (ttl >= 0)
		sqlite3_bind_int64(s, 4, ttl);
	if (expires != 0)
		sqlite3_bind_int64(s, 5, expires);
	sqlite3_bind_int64(s, 6, fork_seq);
	if (src != NULL) {
		sqlite3_bind_int64(s, 7, src->id);
		sqlite3_bind_text(s, 8, q->fork_from, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 9, q->fork_offset >= 0 ? q->fork_offset :
		    src->tail);
		sqlite3_bind_int64(s, 10, q->fork_sub);
	}
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return sess_dberr(st, rc, "create stream", e);
	return row_load(st, name, 0, r, e);
}

static int
copy_event(const struct sess_event *ev, void *arg)
{
	struct sess_buf *b = arg;

	if (sess_buf_add(b, ev->data, ev->len) != 0)
		return -1;
	return 1;
}

/*
 * The fork point in src for a request: the events it inherits whole
 * (*fork_seq) and the bytes it takes of the next one (*part, 0 if
 * none, with the bytes in partbuf).
 */
static int
fork_point(struct sess_store *st, const struct row *src,
    const struct sess_ds_req *q, int64_t *fork_seq, size_t *part,
    struct sess_buf *partbuf, struct sess_err *e)
{
	struct sess_ds_info s;
	int64_t anchor = q->fork_offset >= 0 ? q->fork_offset : src->tail;
	int rc;

	*part = 0;
	*fork_seq = anchor;
	if (anchor > src->tail)
		return sess_err_set(e, SESS_EINVAL, "fork offset is beyond "
		    "the end of %s", src->name);
	if (q->fork_sub == 0)
		return 0;
	if (is_json(src->content_type)) {
		/* Whole messages: each is an event of its own. */
		if (q->fork_sub > src->tail - anchor)
			return sess_err_set(e, SESS_EINVAL, "fork sub-offset "
			    "%lld is past the last message of %s",
			    (long long)q->fork_sub, src->name);
		*fork_seq = anchor + q->fork_sub;
		return 0;
	}
	if (anchor >= src->tail)
		return sess_err_set(e, SESS_EINVAL, "fork sub-offset %lld is "
		    "past the end of %s", (long long)q->fork_sub, src->name);
	row_info(src, &s);
	partbuf->len = 0;
	rc = sess_ds_read(st, &s, anchor, anchor + 1, (size_t)-1, copy_event,
	    partbuf, e);
	if (rc < 0)
		return rc;
	if (rc != 1)
		return sess_err_set(e, SESS_EIO, "%s: event %lld is missing",
		    src->name, (long long)anchor + 1);
	if ((size_t)q->fork_sub > partbuf->len)
		return sess_err_set(e, SESS_EINVAL, "fork sub-offset %lld is "
		    "past the end of the append (%zu bytes)",
		    (long long)q->fork_sub, partbuf->len);
	if ((size_t)q->fork_sub == partbuf->len)
		*fork_seq = anchor + 1;
	else
		*part = (size_t)q->fork_sub;
	return 0;
}

static void
ack_row(struct sess_ds_ack *a, const struct row *r)
{
	a->tail = r->tail;
	a->closed = r->closed;
	a->gone = r->deleted;
	memcpy(a->content_type, r->content_type, sizeof(a->content_type));
}

/* Does an existing stream have the configuration a create asks for? */
static int
same_config(struct sess_store *st, const struct row *r,
    const struct sess_ds_req *q, struct sess_err *e)
{
	const char *ct = q->content_type;
	struct row src;

	if (ct == NULL && q->fork_from != NULL && r->fork_from[0] != '\0')
		ct = r->content_type;
	if (ct == NULL)
		ct = "application/octet-stream";
	if (strcmp(ct, r->content_type) != 0)
		return sess_err_set(e, SESS_ECONFLICT, "%s exists with content "
		    "type %s", r->name, r->content_type);
	/* A fork that asks for no lifetime of its own inherits one. */
	if ((q->fork_from == NULL || q->ttl >= 0 || q->expires_at != 0) &&
	    (q->ttl != r->ttl || (r->ttl < 0 && q->expires_at != r->expires)))
		return sess_err_set(e, SESS_ECONFLICT, "%s exists with another "
		    "TTL or expiry", r->name);
	if (q->close != r->closed)
		return sess_err_set(e, SESS_ECONFLICT, "%s exists and is %s",
		    r->name, r->closed ? "closed" : "open");
	if (q->fork_from == NULL)
		return 0;
	if (strcmp(q->fork_from, r->fork_from) != 0 || q->fork_sub !=
	    r->fork_sub)
		return sess_err_set(e, SESS_ECONFLICT, "%s exists and is not "
		    "that fork", r->name);
	if (q->fork_offset >= 0 ? q->fork_offset != r->fork_offset :
	    (row_load(st, q->fork_from, 0, &src, NULL) != 0 ||
	    src.tail != r->fork_offset))
		return sess_err_set(e, SESS_ECONFLICT, "%s exists as a fork at "
		    "another offset", r->name);
	return 0;
}

static int
create(struct sess_store *st, const struct sess_ds_req *q,
    struct messages *m, struct sess_ds_ack *a, struct sess_err *e)
{
	struct row r, src, *srcp = NULL;
	struct sess_buf part;
	const char *ct = q->content_type;
	int64_t now = sess_now(), ttl = q->ttl, expires = 0, fork_seq = 0;
	size_t partlen = 0;
	int rc;

	sess_buf_init(&part, (size_t)1 << 30);
	rc = row_load(st, q->stream, 0, &r, e);
	if (rc == 0 && expired(&r, now)) {
		if ((rc = remove_row(st, &r, e)) != 0)
			goto out;
		rc = row_load(st, q->stream, 0, &r, e);
	}
	if (rc == 0) {
		ack_row(a, &r);
		if (r.deleted) {
			rc = sess_err_set(e, SESS_ECONFLICT, "%s was deleted "
			    "and forks still read it", q->stream);
			goto out;
		}
		rc = same_config(st, &r, q, e);
		goto out;
	}
	if (rc != SESS_ENOENT)
		goto out;
	if (q->fork_from != NULL) {
		if ((rc = sess_name_check(q->fork_from, strlen(q->fork_from),
		    e)) != 0)
			goto out;
		rc = row_load(st, q->fork_from, 0, &src, e);
		if (rc == 0 && expired(&src, now))
			rc = sess_err_set(e, SESS_ENOENT, "%s: no such stream",
			    q->fork_from);
		if (rc != 0)
			goto out;
		if (src.deleted) {
			rc = sess_err_set(e, SESS_ECONFLICT, "%s was deleted",
			    q->fork_from);
			goto out;
		}
		if (ct != NULL && strcmp(ct, src.content_type) != 0) {
			rc = sess_err_set(e, SESS_ECONFLICT, "%s holds %s, not "
			    "%s", q->fork_from, src.content_type, ct);
			goto out;
		}
		ct = src.content_type;
		if ((rc = fork_point(st, &src, q, &fork_seq, &partlen, &part,
		    e)) != 0)
			goto out;
		/* Without its own, a fork keeps its source's lifetime. */
		if (ttl < 0 && q->expires_at == 0) {
			ttl = src.ttl;
			if (ttl < 0)
				expires = src.expires;
		}
		srcp = &src;
	}
	if (ct == NULL)
		ct = "application/octet-stream";
	if (q->expires_at != 0)
		expires = q->expires_at;
	if (ttl >= 0)
		expires = sliding(ttl, now);
	/* A bad body is refused before anything is written. */
	if (q->len > 0 && is_json(ct) && (rc = messages_split(q->body, q->len,
	    m, e)) != 0)
		goto out;
	if ((rc = insert_row(st, q->stream, ct, ttl, expires, srcp, fork_seq,
	    q, now, &r, e)) != 0)
		goto out;
	if (partlen > 0 && (rc = put_bytes(st, &r, part.p, partlen, now, NULL,
	    0, 0, e)) != 0)
		goto out;
	if ((rc = put_body(st, &r, q, m, now, e)) != 0)
		goto out;
	r.closed = q->close;
	if ((rc = row_store(st, &r, e)) != 0)
		goto out;
	a->created = 1;
	ack_row(a, &r);
out:
	sess_buf_release(&part);
	return rc;
}

/* Runs one request's operation fn in its own savepoint. */
static int
run_op(struct sess_store *st, const struct sess_ds_req *q, int own,
    struct sess_ds_ack *a, struct sess_err *e,
    int (*fn)(struct sess_store *, const struct sess_ds_req *,
    struct messages *, struct sess_ds_ack *, struct sess_err *))
{
	struct messages m;
	int rc;

	memset(a, 0, sizeof(*a));
	a->pseq = -1;
	if ((rc = sess_name_check(q->stream, strlen(q->stream), e)) != 0)
		return rc;
	if ((rc = op_begin(st, e)) != 0)
		return rc;
	memset(&m, 0, sizeof(m));
	m.own = own;
	rc = op_end(st, fn(st, q, &m, a, e));
	messages_free(&m);
	return rc;
}

int
sess_ds_create(struct sess_store *st, const struct sess_ds_req *q,
    struct sess_ds_ack *a, struct sess_err *e)
{
	return run_op(st, q, 0, a, e, create);
}

/* Producer checks for one request; *dup set for a retry. */
static int
producer_check(struct sess_store *st, struct row *r,
    const struct sess_ds_req *q, struct sess_pstate *ps, int *dup,
    int64_t now, struct sess_ds_ack *a, struct sess_err *e)
{
	struct sess_producer pr;
	struct sess_stream ss;
	struct sess_admit ad;
	int rc;

	*dup = 0;
	if ((rc = sess_log_producer_get(st, r->id, q->producer, ps, e)) != 0)
		return rc;
	rc = sess_producer_admit(ps, q->producer, q->epoch, q->seq, 1, &ad,
	    e);
	a->epoch = rc == SESS_ESTALE ? ps->epoch : q->epoch;
	if (rc == SESS_EGAP)
		a->expected = ad.expected;
	if (rc != 0)
		return rc;
	if (ad.supersede && is_json(r->content_type)) {
		memset(&ss, 0, sizeof(ss));
		ss.id = r->id;
		ss.tail = r->tail;
		pr.id = q->producer;
		pr.epoch = q->epoch;
		if ((rc = sess_log_supersede(st, &ss, &pr, ad.old_epoch, now,
		    e)) != 0)
			return rc;
		r->tail = ss.tail;
	}
	if (ad.verdict == SESS_ADMIT_DUPLICATE) {
		*dup = 1;
		a->duplicate = 1;
		a->pseq = ps->next - 1;
		return 0;
	}
	a->pseq = q->seq;
	return 0;
}

static int
append(struct sess_store *st, const struct sess_ds_req *q,
    struct messages *m, struct sess_ds_ack *a, struct sess_err *e)
{
	struct sess_pstate ps;
	struct row r;
	int64_t now = sess_now();
	int rc, dup = 0;

	if ((rc = row_load(st, q->stream, 0, &r, e)) != 0)
		return rc;
	ack_row(a, &r);
	if (r.deleted)
		return sess_err_set(e, SESS_ENOENT, "%s: stream is gone",
		    q->stream);
	if (expired(&r, now))
		return sess_err_set(e, SESS_ENOENT, "%s: no such stream",
		    q->stream);
	if (r.closed) {
		/* Closing again is idempotent; so is the closer's retry. */
		if (q->close && q->len == 0)
			return 0;
		if (q->producer != NULL && r.has_closed_by &&
		    strcmp(q->producer, r.closed_by) == 0 &&
		    q->epoch == r.closed_epoch && q->seq == r.closed_pseq) {
			a->duplicate = 1;
			a->epoch = q->epoch;
			a->pseq = q->seq;
			return 0;
		}
		return sess_err_set(e, SESS_ECONFLICT, "%s: stream is closed",
		    q->stream);
	}
	if (q->len > 0 && (q->content_type == NULL ||
	    strcmp(q->content_type, r.content_type) != 0))
		return sess_err_set(e, SESS_ECONFLICT, "%s holds %s, not %s",
		    q->stream, r.content_type, q->content_type ?
		    q->content_type : "(none)");
	if (q->len > 0 && is_json(r.content_type)) {
		if ((rc = messages_split(q->body, q->len, m, e)) != 0)
			return rc;
		if (m->n == 0)
			return sess_err_set(e, SESS_EINVAL, "an empty JSON "
			    "array appends nothing");
	}
	if (q->producer != NULL && (rc = producer_check(st, &r, q, &ps, &dup,
	    now, a, e)) != 0)
		return rc;
	if (dup) {
		a->tail = r.tail;
		return 0;
	}
	if (q->writer_seq != NULL) {
		if (r.writer_seq[0] != '\0' && strcmp(q->writer_seq,
		    r.writer_seq) <= 0)
			return sess_err_set(e, SESS_ECONFLICT, "Stream-Seq "
			    "'%.64s' is not after '%.64s'", q->writer_seq,
			    r.writer_seq);
		snprintf(r.writer_seq, sizeof(r.writer_seq), "%s",
		    q->writer_seq);
	}
	if ((rc = put_body(st, &r, q, m, now, e)) != 0)
		return rc;
	if (q->producer != NULL && (rc = sess_log_producer_put(st, r.id,
	    q->producer, &ps, e)) != 0)
		return rc;
	if (q->close) {
		r.closed = 1;
		if (q->producer != NULL) {
			r.has_closed_by = 1;
			snprintf(r.closed_by, sizeof(r.closed_by), "%s",
			    q->producer);
			r.closed_epoch = q->epoch;
			r.closed_pseq = q->seq;
		}
	}
	if (r.ttl >= 0)
		r.expires = sliding(r.ttl, now);
	if ((rc = row_store(st, &r, e)) != 0)
		return rc;
	ack_row(a, &r);
	return 0;
}

int
sess_ds_append(struct sess_store *st, const struct sess_ds_req *q,
    struct sess_ds_ack *a, struct sess_err *e)
{
	return run_op(st, q, 0, a, e, append);
}

int
sess_ds_append_own(struct sess_store *st, const struct sess_ds_req *q,
    struct sess_ds_ack *a, struct sess_err *e)
{
	return run_op(st, q, 1, a, e, append);
}

static int
delete(struct sess_store *st, const char *name, struct sess_ds_ack *a,
    struct sess_err *e)
{
	struct row r;
	int rc;

	if ((rc = row_load(st, name, 0, &r, e)) != 0)
		return rc;
	ack_row(a, &r);
	if (r.deleted)
		return sess_err_set(e, SESS_ENOENT, "%s: stream is gone", name);
	if (expired(&r, sess_now())) {
		if ((rc = remove_row(st, &r, e)) != 0)
			return rc;
		return sess_err_set(e, SESS_ENOENT, "%s: no such stream", name);
	}
	return remove_row(st, &r, e);
}

int
sess_ds_delete(struct sess_store *st, const char *name, struct sess_ds_ack *a,
    struct sess_err *e)
{
	int rc;

	memset(a, 0, sizeof(*a));
	a->pseq = -1;
	if ((rc = sess_name_check(name, strlen(name), e)) != 0)
		return rc;
	if ((rc = op_begin(st, e)) != 0)
		return rc;
	rc = delete(st, name, a, e);
	/* An expired stream found on the way is removed all the same. */
	if (rc == SESS_ENOENT && !a->gone) {
		op_end(st, 0);
		return rc;
	}
	return op_end(st, rc);
}

int
sess_ds_touch(struct sess_store *st, const char *name, struct sess_err *e)
{
	struct row r;
	int64_t now = sess_now();
	int rc;

	if ((rc = row_load(st, name, 0, &r, e)) != 0)
		return rc == SESS_ENOENT ? 0 : rc;
	if (r.deleted || r.ttl < 0 || expired(&r, now))
		return 0;
	r.expires = sliding(r.ttl, now);
	return row_store(st, &r, e);
}

int
sess_ds_expire(struct sess_store *st, int max,
    void (*fn)(const char *name, void *arg), void *arg, struct sess_err *e)
{
	sqlite3_stmt *s;
	struct row r;
	int64_t ids[256];
	int n = 0, i, rc;

	if (max > 256)
		max = 256;
	rc = sqlite3_prepare_v2(st->db, "SELECT id FROM streams WHERE "
	    "expires IS NOT NULL AND expires <= ?1 AND deleted = 0 LIMIT ?2",
	    -1, &s, NULL);
	if (rc != SQLITE_OK)
		return sess_dberr(st, rc, "read expiry", e);
	sqlite3_bind_int64(s, 1, sess_now());
	sqlite3_bind_int(s, 2, max);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		ids[n++] = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return sess_dberr(st, rc, "read expiry", e);
	for (i = 0; i < n; i++) {
		if ((rc = op_begin(st, e)) != 0)
			return rc;
		rc = row_load(st, NULL, ids[i], &r, e);
		if (rc == 0)
			rc = remove_row(st, &r, e);
		if ((rc = op_end(st, rc == SESS_ENOENT ? 0 : rc)) != 0)
			return rc;
		if (fn != NULL)
			fn(r.name, arg);
	}
	return n;
}

int64_t
sess_ds_next_expiry(struct sess_store *st)
{
	sqlite3_stmt *s;
	int64_t when = 0;

	if (sqlite3_prepare_v2(st->db, "SELECT min(expires) FROM streams "
	    "WHERE expires IS NOT NULL AND deleted = 0", -1, &s, NULL) !=
	    SQLITE_OK)
		return 0;
	if (sqlite3_step(s) == SQLITE_ROW)
		when = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return when;
}

int
sess_ds_each(struct sess_store *st, const char *glob,
    void (*fn)(const char *name, int64_t tail, void *arg), void *arg,
    struct sess_err *e)
{
	sqlite3_stmt *s;
	int rc, n = 0;

	rc = sqlite3_prepare_v2(st->db, "SELECT name, tail FROM streams WHERE "
	    "name GLOB ?1 AND deleted = 0 AND (expires IS NULL OR expires > "
	    "?2) ORDER BY name", -1, &s, NULL);
	if (rc != SQLITE_OK)
		return sess_dberr(st, rc, "list streams", e);
	sqlite3_bind_text(s, 1, glob, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, sess_now());
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		fn((const char *)sqlite3_column_text(s, 0),
		    sqlite3_column_int64(s, 1), arg);
		n++;
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return sess_dberr(st, rc, "list streams", e);
	return n;
}

int
sess_ds_record_put(struct sess_store *st, const char *kind, const char *key,
    const char *json, struct sess_err *e)
{
	sqlite3_stmt *s;
	int rc;

	rc = sqlite3_prepare_v2(st->db, json != NULL ? "INSERT INTO records "
	    "(kind, key, value) VALUES (?1, ?2, ?3) ON CONFLICT (kind, key) "
	    "DO UPDATE SET value = excluded.value" : "DELETE FROM records "
	    "WHERE kind = ?1 AND key = ?2", -1, &s, NULL);
	if (rc != SQLITE_OK)
		return sess_dberr(st, rc, "write record", e);
	sqlite3_bind_text(s, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, key, -1, SQLITE_STATIC);
	if (json != NULL)
		sqlite3_bind_text(s, 3, json, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return sess_dberr(st, rc, "write record", e);
	return 0;
}

int
sess_ds_records(struct sess_store *st, const char *kind,
    void (*fn)(const char *key, const char *json, void *arg), void *arg,
    struct sess_err *e)
{
	sqlite3_stmt *s;
	int rc, n = 0;

	rc = sqlite3_prepare_v2(st->db, "SELECT key, value FROM records WHERE "
	    "kind = ?1 ORDER BY key", -1, &s, NULL);
	if (rc != SQLITE_OK)
		return sess_dberr(st, rc, "read records", e);
	sqlite3_bind_text(s, 1, kind, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		fn((const char *)sqlite3_column_text(s, 0),
		    (const char *)sqlite3_column_text(s, 1), arg);
		n++;
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return sess_dberr(st, rc, "read records", e);
	return n;
}
