/* check.c: integrity check of a stream against its own log. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

struct ctx {
	void (*report)(const char *what, void *arg);
	void *arg;
	int problems;
};

static void
problem(struct ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
problem(struct ctx *c, const char *fmt, ...)
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
compare_views(struct sess_store *st, int64_t stream, struct ctx *c,
    struct sess_err *e)
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
		rc = sqlite3_prepare_v2(st->db, sql[i], -1, &s, NULL);
		if (rc != SQLITE_OK)
			return sess_dberr(st, rc, "check", e);
		sqlite3_bind_int64(s, 1, stream);
		while ((rc = sqlite3_step(s)) == SQLITE_ROW)
			problem(c, "message \"%.64s\": the materialized view "
			    "%s the log", sqlite3_column_text(s, 0),
			    i == 0 ? "differs from" : "is missing what is in");
		sqlite3_finalize(s);
		if (rc != SQLITE_DONE)
			return sess_dberr(st, rc, "check", e);
	}
	return 0;
}

int
sess_check(struct sess_store *st, const char *stream,
    void (*report)(const char *what, void *arg), void *arg,
    struct sess_err *e)
{
	struct ctx c = { report, arg, 0 };
	struct sess_stream ss;
	struct sess_evinfo in;
	struct sess_err perr;
	sqlite3_stmt *s = NULL;
	int64_t prev = 0, seq;
	char why[256];
	int rc;

	if ((rc = sess_stream_get(st, stream, &ss, e)) != 0)
		return rc;
	rc = sqlite3_exec(st->db, "DROP TABLE IF EXISTS temp.check_messages;"
	    "CREATE TEMP TABLE check_messages AS SELECT * FROM messages "
	    "WHERE 0; CREATE UNIQUE INDEX temp.check_messages_key ON "
	    "check_messages (stream, msg); BEGIN", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return sess_dberr(st, rc, "check", e);
	rc = sqlite3_prepare_v2(st->db, "SELECT seq, data, type, producer, "
	    "epoch FROM events WHERE stream = ?1 ORDER BY seq", -1, &s, NULL);
	if (rc != SQLITE_OK) {
		rc = sess_dberr(st, rc, "check", e);
		goto out;
	}
	sqlite3_bind_int64(s, 1, ss.id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *data = sqlite3_column_blob(s, 1);
		const char *type = (const char *)sqlite3_column_text(s, 2);
		json_t *v;

		seq = sqlite3_column_int64(s, 0);
		if (seq != prev + 1)
			problem(&c, "seq %lld: follows %lld (events %s)",
			    (long long)seq, (long long)prev, seq <= prev ?
			    "out of order" : "missing");
		prev = seq;
		v = sess_json_parse(data ? data : "",
		    (size_t)sqlite3_column_bytes(s, 1), &perr);
		if (v == NULL) {
			problem(&c, "seq %lld: value is not valid JSON: %s",
			    (long long)seq, perr.msg);
			continue;
		}
		if (sess_event_check(v, &in, &perr) != 0) {
			problem(&c, "seq %lld: %s", (long long)seq, perr.msg);
		} else if ((type == NULL) != (in.type == NULL) ||
		    (type != NULL && strcmp(type, in.type) != 0)) {
			problem(&c, "seq %lld: type column does not match the "
			    "value", (long long)seq);
		} else if (in.type != NULL && strcmp(in.type, "superseded") ==
		    0 && in.op == SESS_OP_NONE) {
			rc = sess_state_marker(st, STATE_CHECK, ss.id, v, e);
		} else if (in.op != SESS_OP_NONE) {
			rc = sess_state_apply(st, STATE_CHECK, ss.id, &in,
			    (const char *)sqlite3_column_text(s, 3),
			    sqlite3_column_int64(s, 4), seq, why, sizeof(why),
			    e);
			if (rc == 1)
				problem(&c, "seq %lld: %s", (long long)seq,
				    why);
			rc = rc == 1 ? 0 : rc;
		}
		json_decref(v);
		if (rc < 0)
			goto out;
	}
	if (rc != SQLITE_DONE) {
		rc = sess_dberr(st, rc, "check", e);
		goto out;
	}
	if (prev != ss.tail)
		problem(&c, "stream tail is %lld but the last event is %lld",
		    (long long)ss.tail, (long long)prev);
	if ((rc = compare_views(st, ss.id, &c, e)) != 0)
		goto out;
	rc = c.problems;
out:
	sqlite3_finalize(s);
	sqlite3_exec(st->db, "ROLLBACK; DROP TABLE IF EXISTS "
	    "temp.check_messages", NULL, NULL, NULL);
	return rc;
}
