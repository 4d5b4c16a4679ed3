/* presence.c: members present on a stream, their leases and transitions. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/*
 * Statements here are prepared per call: presence writes are rare next
 * to appends, and the cache's slots are the hot path's.
 */
static int
prep(struct sess_store *st, const char *sql, sqlite3_stmt **s,
    struct sess_err *e)
{
	int rc = sqlite3_prepare_v2(st->db, sql, -1, s, NULL);

	return rc == SQLITE_OK ? 0 : sess_dberr(st, rc, "prepare", e);
}

static int
done(struct sess_store *st, sqlite3_stmt *s, const char *what,
    struct sess_err *e)
{
	int rc = sqlite3_step(s);

	sqlite3_finalize(s);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 :
	    sess_dberr(st, rc, what, e);
}

int
sess_member_check(const char *what, const char *s, struct sess_err *e)
{
	size_t n = s ? strlen(s) : 0, i;
	long bad;

	if (n == 0 || n > SESS_MEMBER_MAX)
		return sess_err_set(e, SESS_EINVAL, "%s must be 1 to %d bytes",
		    what, SESS_MEMBER_MAX);
	if (sess_utf8_prefix((const unsigned char *)s, n, &bad) != n ||
	    bad >= 0)
		return sess_err_set(e, SESS_EINVAL, "%s is not UTF-8", what);
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return sess_err_set(e, SESS_EINVAL, "%s has a control "
			    "character", what);
	return 0;
}

int
sess_pdata_check(const char *data, struct sess_err *e)
{
	struct sess_err pe;
	json_t *v;
	int obj;

	if (data == NULL)
		return 0;
	if (strlen(data) > SESS_PDATA_MAX)
		return sess_err_set(e, SESS_EINVAL, "data is larger than %d "
		    "bytes", SESS_PDATA_MAX);
	if ((v = sess_json_parse(data, strlen(data), &pe)) == NULL)
		return sess_err_set(e, SESS_EINVAL, "data is not JSON: %s",
		    pe.msg);
	obj = json_is_object(v);
	json_decref(v);
	if (!obj)
		return sess_err_set(e, SESS_EINVAL, "data is not a JSON object");
	return 0;
}

/* How many rows member has on stream. */
static int
rows_of(struct sess_store *st, const char *stream, const char *member,
    int *n, struct sess_err *e)
{
	sqlite3_stmt *s;
	int rc;

	if ((rc = prep(st, "SELECT count(*) FROM presence WHERE stream = ?1 "
	    "AND member = ?2", &s, e)) != 0)
		return rc;
	sqlite3_bind_text(s, 1, stream, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, member, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	*n = rc == SQLITE_ROW ? sqlite3_column_int(s, 0) : 0;
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 0 : sess_dberr(st, rc, "read presence", e);
}

static int
log_put(struct sess_store *st, const char *stream, const char *member,
    const char *conn, const char *event, const char *data,
    const char *reason, int first, int last, int64_t now, struct sess_err *e)
{
	sqlite3_stmt *s;
	int rc;

	if ((rc = prep(st, "INSERT INTO presence_log (stream, time, member, "
	    "conn, event, data, reason, first, last) VALUES (?1, ?2, ?3, ?4, "
	    "?5, ?6, ?7, ?8, ?9)", &s, e)) != 0)
		return rc;
	sqlite3_bind_text(s, 1, stream, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, now);
	sqlite3_bind_text(s, 3, member, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, conn, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, event, -1, SQLITE_STATIC);
	if (data != NULL)
		sqlite3_bind_text(s, 6, data, -1, SQLITE_STATIC);
	if (reason != NULL)
		sqlite3_bind_text(s, 7, reason, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 8, first);
	sqlite3_bind_int(s, 9, last);
	return done(st, s, "log presence", e);
}

/* Deletes one row and logs its leave; nothing if it is not there. */
static int
leave(struct sess_store *st, const char *stream, const char *member,
    const char *conn, const char *reason, int64_t now, struct sess_err *e)
{
	sqlite3_stmt *s;
	const char *d;
	char *data = NULL;
	int rc, n;

	if ((rc = prep(st, "DELETE FROM presence WHERE stream = ?1 AND "
	    "member = ?2 AND conn = ?3 RETURNING data", &s, e)) != 0)
		return rc;
	sqlite3_bind_text(s, 1, stream, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, member, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, conn, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		sqlite3_finalize(s);
		return 0;
	}
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(s);
		return sess_dberr(st, rc, "leave", e);
	}
	d = (const char *)sqlite3_column_text(s, 0);
	if (d != NULL && (data = strdup(d)) == NULL) {
		sqlite3_finalize(s);
		return sess_err_set(e, SESS_ENOMEM, "out of memory");
	}
	/* Finish the DELETE before counting what is left. */
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		;
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		rc = sess_dberr(st, rc, "leave", e);
	else if ((rc = rows_of(st, stream, member, &n, e)) == 0)
		rc = log_put(st, stream, member, conn, "leave", data, reason,
		    0, n == 0, now, e);
	free(data);
	return rc;
}

/* 1 and its data if the row is there, else 0. */
static int
row_get(struct sess_store *st, const char *stream, const char *member,
    const char *conn, char **data, struct sess_err *e)
{
	sqlite3_stmt *s;
	const char *d;
	int rc;

	*data = NULL;
	if ((rc = prep(st, "SELECT data FROM presence WHERE stream = ?1 AND "
	    "member = ?2 AND conn = ?3", &s, e)) != 0)
		return rc;
	sqlite3_bind_text(s, 1, stream, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, member, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, conn, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		if ((d = (const char *)sqlite3_column_text(s, 0)) != NULL &&
		    (*data = strdup(d)) == NULL) {
			sqlite3_finalize(s);
			return sess_err_set(e, SESS_ENOMEM, "out of memory");
		}
		sqlite3_finalize(s);
		return 1;
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : sess_dberr(st, rc, "read presence", e);
}

static int
set(struct sess_store *st, const char *stream, const char *member,
    const char *conn, const char *event, const char *data, int64_t lease_us,
    const char *holder, int64_t now, struct sess_err *e)
{
	sqlite3_stmt *s;
	char *old = NULL;
	int rc, had, n;

	if (strcmp(event, "leave") == 0)
		return leave(st, stream, member, conn, "explicit", now, e);
	if ((had = row_get(st, stream, member, conn, &old, e)) < 0)
		return had;
	free(old);
	if (strcmp(event, "renew") == 0) {
		if (!had)
			return sess_err_set(e, SESS_ENOENT, "%s: %s is not "
			    "present on %s", conn, member, stream);
		if ((rc = prep(st, "UPDATE presence SET expires = ?4 WHERE "
		    "stream = ?1 AND member = ?2 AND conn = ?3", &s, e)) != 0)
			return rc;
	} else {
		if (!had && (rc = rows_of(st, stream, member, &n, e)) != 0)
			return rc;
		if ((rc = prep(st, "INSERT INTO presence (stream, member, "
		    "conn, data, since, expires, holder) VALUES (?1, ?2, ?3, "
		    "?5, ?6, ?4, ?7) ON CONFLICT (stream, member, conn) DO "
		    "UPDATE SET data = excluded.data, expires = "
		    "excluded.expires, holder = excluded.holder", &s, e)) != 0)
			return rc;
		if (data != NULL)
			sqlite3_bind_text(s, 5, data, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 6, now);
		if (holder != NULL)
			sqlite3_bind_text(s, 7, holder, -1, SQLITE_STATIC);
	}
	sqlite3_bind_text(s, 1, stream, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, member, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, conn, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, now + lease_us);
	if ((rc = done(st, s, "enter", e)) != 0)
		return rc;
	if (strcmp(event, "renew") == 0)
		return 0;
	return log_put(st, stream, member, conn, had ? "update" : "enter",
	    data, NULL, !had && n == 0, 0, now, e);
}

int
sess_presence_set(struct sess_store *st, const char *stream,
    const char *member, const char *conn, const char *event,
    const char *data, int64_t lease_us, const char *holder,
    struct sess_err *e)
{
	int rc, own;

	if ((rc = sess_name_check(stream, strlen(stream), e)) != 0 ||
	    (rc = sess_member_check("member", member, e)) != 0 ||
	    (rc = sess_member_check("connection id", conn, e)) != 0 ||
	    (rc = sess_pdata_check(data, e)) != 0)
		return rc;
	if (strcmp(event, "enter") != 0 && strcmp(event, "update") != 0 &&
	    strcmp(event, "leave") != 0 && strcmp(event, "renew") != 0)
		return sess_err_set(e, SESS_EINVAL, "'%s': not a presence "
		    "event (enter, update, leave or renew)", event);
	if ((rc = sess_write_begin(st, &own, e)) != 0)
		return rc;
	rc = set(st, stream, member, conn, event, data, lease_us, holder,
	    sess_now(), e);
	return sess_write_end(st, own, rc, e);
}

int
sess_presence_renew_holder(struct sess_store *st, const char *holder,
    int64_t lease_us, struct sess_err *e)
{
	sqlite3_stmt *s;
	int rc, own;

	if ((rc = sess_write_begin(st, &own, e)) != 0)
		return rc;
	if ((rc = prep(st, "UPDATE presence SET expires = ?2 WHERE holder = "
	    "?1", &s, e)) == 0) {
		sqlite3_bind_text(s, 1, holder, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 2, sess_now() + lease_us);
		rc = done(st, s, "renew presence", e);
	}
	return sess_write_end(st, own, rc, e);
}

/* (stream, member, conn) of rows, copied out of a query. */
struct rows {
	char **v;
	size_t n, cap;
};

static int
rows_add(struct rows *r, sqlite3_stmt *s)
{
	int k;

	if (r->n + 3 > r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 48;
		char **v = realloc(r->v, cap * sizeof(*v));

		if (v == NULL)
			return -1;
		r->v = v;
		r->cap = cap;
	}
	for (k = 0; k < 3; k++)
		if ((r->v[r->n++] = strdup((const char *)
		    sqlite3_column_text(s, k))) == NULL)
			return -1;
	return 0;
}

static void
rows_free(struct rows *r)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		free(r->v[i]);
	free(r->v);
}

/* The rows a query (one parameter: text a or integer now) selects. */
static int
select_rows(struct sess_store *st, const char *sql, const char *a,
    int64_t now, struct rows *r, struct sess_err *e)
{
	sqlite3_stmt *s;
	int rc;

	if ((rc = prep(st, sql, &s, e)) != 0)
		return rc;
	if (a != NULL)
		sqlite3_bind_text(s, 1, a, -1, SQLITE_STATIC);
	else
		sqlite3_bind_int64(s, 1, now);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		if (rows_add(r, s) != 0) {
			sqlite3_finalize(s);
			return sess_err_set(e, SESS_ENOMEM, "out of memory");
		}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : sess_dberr(st, rc, "read presence", e);
}

int
sess_presence_conn(struct sess_store *st, const char *conn, int64_t lease_us,
    struct sess_err *e)
{
	struct rows r = { 0 };
	sqlite3_stmt *s;
	int64_t now = sess_now();
	size_t i;
	int rc, own;

	if ((rc = sess_write_begin(st, &own, e)) != 0)
		return rc;
	if (lease_us >= 0) {
		if ((rc = prep(st, "UPDATE presence SET holder = NULL, "
		    "expires = ?2 WHERE conn = ?1", &s, e)) == 0) {
			sqlite3_bind_text(s, 1, conn, -1, SQLITE_STATIC);
			sqlite3_bind_int64(s, 2, now + lease_us);
			rc = done(st, s, "orphan presence", e);
		}
		return sess_write_end(st, own, rc, e);
	}
	rc = select_rows(st, "SELECT stream, member, conn FROM presence WHERE "
	    "conn = ?1 ORDER BY since", conn, 0, &r, e);
	for (i = 0; rc == 0 && i < r.n; i += 3)
		rc = leave(st, r.v[i], r.v[i + 1], r.v[i + 2], "explicit", now,
		    e);
	rows_free(&r);
	return sess_write_end(st, own, rc, e);
}

int
sess_presence_sweep(struct sess_store *st, struct sess_err *e)
{
	struct rows r = { 0 };
	int64_t now = sess_now();
	size_t i;
	int rc, own;

	/* Nothing to do is the common case: look before taking the lock. */
	if ((rc = select_rows(st, "SELECT stream, member, conn FROM presence "
	    "WHERE expires < ?1 LIMIT 1", NULL, now, &r, e)) != 0 || r.n == 0) {
		rows_free(&r);
		return rc;
	}
	rows_free(&r);
	memset(&r, 0, sizeof(r));
	if ((rc = sess_write_begin(st, &own, e)) != 0)
		return rc;
	rc = select_rows(st, "SELECT stream, member, conn FROM presence WHERE "
	    "expires < ?1 ORDER BY expires LIMIT 1000", NULL, now, &r, e);
	for (i = 0; rc == 0 && i < r.n; i += 3)
		rc = leave(st, r.v[i], r.v[i + 1], r.v[i + 2], "timeout", now,
		    e);
	rc = sess_write_end(st, own, rc, e);
	i = r.n / 3;
	rows_free(&r);
	return rc != 0 ? rc : (int)i;
}

/* data as a JSON value (new), null if none. */
static json_t *
data_value(const char *data)
{
	json_t *v = data ? json_loads(data, JSON_DECODE_ANY, NULL) : NULL;

	return v ? v : json_null();
}

static json_t *
time_value(int64_t us)
{
	char t[32];

	sess_time_fmt(us, t);
	return json_string(t);
}

json_t *
sess_presence_members(struct sess_store *st, const char *stream,
    struct sess_err *e)
{
	sqlite3_stmt *s = NULL;
	json_t *out = json_array(), *m = NULL, *conns = NULL;
	const char *member, *last = NULL;
	int64_t since;
	int rc;

	if (sess_name_check(stream, strlen(stream), e) != 0)
		goto fail;
	/* Members in order of arrival, each one's connections likewise. */
	if (prep(st, "SELECT p.member, p.conn, p.data, p.since FROM presence "
	    "p JOIN (SELECT member, min(since) AS first FROM presence WHERE "
	    "stream = ?1 AND expires >= ?2 GROUP BY member) f ON f.member = "
	    "p.member WHERE p.stream = ?1 AND p.expires >= ?2 ORDER BY "
	    "f.first, p.member, p.since, p.conn", &s, e) != 0)
		goto fail;
	sqlite3_bind_text(s, 1, stream, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, sess_now());
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		member = (const char *)sqlite3_column_text(s, 0);
		since = sqlite3_column_int64(s, 3);
		if (last == NULL || strcmp(last, member) != 0) {
			m = json_object();
			conns = json_array();
			json_object_set_new(m, "member", json_string(member));
			json_object_set_new(m, "since", time_value(since));
			json_object_set_new(m, "data", json_null());
			json_object_set_new(m, "conns", conns);
			json_array_append_new(out, m);
			last = json_string_value(json_object_get(m, "member"));
		}
		/* The member's data is its latest connection's. */
		json_object_set_new(m, "data", data_value((const char *)
		    sqlite3_column_text(s, 2)));
		json_array_append_new(conns, json_pack("{s:s, s:o, s:o}",
		    "conn", (const char *)sqlite3_column_text(s, 1), "since",
		    time_value(since), "data", data_value((const char *)
		    sqlite3_column_text(s, 2))));
	}
	if (rc != SQLITE_DONE) {
		sess_dberr(st, rc, "read presence", e);
		goto fail;
	}
	sqlite3_finalize(s);
	return out;
fail:
	sqlite3_finalize(s);
	json_decref(out);
	return NULL;
}

int
sess_presence_log(struct sess_store *st, const char *stream, int64_t after,
    int max, int (*fn)(const struct sess_ptrans *t, void *arg), void *arg,
    struct sess_err *e)
{
	struct sess_ptrans t;
	sqlite3_stmt *s;
	int rc, n = 0;

	if (stream != NULL && (rc = sess_name_check(stream, strlen(stream),
	    e)) != 0)
		return rc;
	if ((rc = prep(st, stream != NULL ? "SELECT seq, time, stream, "
	    "member, conn, event, data, reason, first, last FROM presence_log "
	    "WHERE stream = ?3 AND seq > ?1 ORDER BY seq LIMIT ?2" :
	    "SELECT seq, time, stream, member, conn, event, data, reason, "
	    "first, last FROM presence_log WHERE seq > ?1 ORDER BY seq "
	    "LIMIT ?2", &s, e)) != 0)
		return rc;
	sqlite3_bind_int64(s, 1, after);
	sqlite3_bind_int(s, 2, max);
	if (stream != NULL)
		sqlite3_bind_text(s, 3, stream, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		t.seq = sqlite3_column_int64(s, 0);
		t.time = sqlite3_column_int64(s, 1);
		t.stream = (const char *)sqlite3_column_text(s, 2);
		t.member = (const char *)sqlite3_column_text(s, 3);
		t.conn = (const char *)sqlite3_column_text(s, 4);
		t.event = (const char *)sqlite3_column_text(s, 5);
		t.data = (const char *)sqlite3_column_text(s, 6);
		t.reason = (const char *)sqlite3_column_text(s, 7);
		t.first = sqlite3_column_int(s, 8);
		t.last = sqlite3_column_int(s, 9);
		n++;
		if (fn(&t, arg) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? n : sess_dberr(st, rc, "read presence", e);
}

int64_t
sess_presence_last(struct sess_store *st, struct sess_err *e)
{
	sqlite3_stmt *s;
	int64_t v;
	int rc;

	if ((rc = prep(st, "SELECT coalesce(max(seq), 0) FROM presence_log",
	    &s, e)) != 0)
		return rc;
	rc = sqlite3_step(s);
	v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? v : sess_dberr(st, rc, "read presence", e);
}

int
sess_ptrans_format(struct sess_buf *b, const struct sess_ptrans *t, int ws)
{
	json_t *v, *rest;
	char *text;
	int rc;

	v = json_object();
	if (ws)
		json_object_set_new(v, "op", json_string("presence"));
	else
		json_object_set_new(v, "seq", json_integer(t->seq));
	rest = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:b, s:b}",
	    "stream", t->stream, "event", t->event, "member", t->member,
	    "conn", t->conn, "data", data_value(t->data), "time",
	    time_value(t->time), "reason", t->reason ? json_string(t->reason) :
	    json_null(), "first", t->first, "last", t->last);
	if (v == NULL || rest == NULL || json_object_update(v, rest) != 0) {
		json_decref(v);
		json_decref(rest);
		return SESS_ENOMEM;
	}
	json_decref(rest);
	text = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(v);
	if (text == NULL)
		return SESS_ENOMEM;
	rc = sess_buf_add(b, text, strlen(text));
	if (rc == 0 && !ws)
		rc = sess_buf_add(b, "\n", 1);
	free(text);
	return rc;
}

int64_t
sess_presence_next_expiry(struct sess_store *st, const char *holder)
{
	sqlite3_stmt *s;
	int64_t v = 0;

	if (sqlite3_prepare_v2(st->db, holder != NULL ? "SELECT min(expires) "
	    "FROM presence WHERE holder = ?1" : "SELECT min(expires) FROM "
	    "presence", -1, &s, NULL) != SQLITE_OK)
		return 0;
	if (holder != NULL)
		sqlite3_bind_text(s, 1, holder, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}
