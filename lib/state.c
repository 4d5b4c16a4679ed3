/* state.c: materialize mutable messages from msg/op events. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const char *const tables[] = {
	[STATE_MAIN] = "messages",
	[STATE_CHECK] = "temp.check_messages",
};

/*
 * One upsert per op.  ?1 stream, ?2 msg, ?3 text, ?4 producer,
 * ?5 attempt, ?6 seq.  Every op on an unknown message creates it, so the
 * view never loses text; the integrity check reports such ops.
 */
static const char *const opsql[] = {
	[SESS_OP_CREATE] = "INSERT INTO %s (stream, msg, text, status, "
	    "producer, attempt, first, last) VALUES (?1, ?2, ?3, 'streaming', "
	    "?4, ?5, ?6, ?6) ON CONFLICT (stream, msg) DO UPDATE SET "
	    "text = excluded.text, status = 'streaming', producer = "
	    "excluded.producer, attempt = excluded.attempt, first = "
	    "excluded.first, last = excluded.last",
	[SESS_OP_APPEND] = "INSERT INTO %s (stream, msg, text, status, "
	    "producer, attempt, first, last) VALUES (?1, ?2, ?3, 'streaming', "
	    "?4, ?5, ?6, ?6) ON CONFLICT (stream, msg) DO UPDATE SET "
	    "text = text || excluded.text, last = excluded.last",
	[SESS_OP_REPLACE] = "INSERT INTO %s (stream, msg, text, status, "
	    "producer, attempt, first, last) VALUES (?1, ?2, ?3, 'streaming', "
	    "?4, ?5, ?6, ?6) ON CONFLICT (stream, msg) DO UPDATE SET "
	    "text = excluded.text, last = excluded.last",
	[SESS_OP_FINISH] = "INSERT INTO %s (stream, msg, text, status, "
	    "producer, attempt, first, last) VALUES (?1, ?2, ?3, 'complete', "
	    "?4, ?5, ?6, ?6) ON CONFLICT (stream, msg) DO UPDATE SET "
	    "text = text || excluded.text, status = 'complete', "
	    "last = excluded.last",
	[SESS_OP_DELETE] = "INSERT INTO %s (stream, msg, text, status, "
	    "producer, attempt, first, last) VALUES (?1, ?2, '', 'deleted', "
	    "?4, ?5, ?6, ?6) ON CONFLICT (stream, msg) DO UPDATE SET "
	    "text = '', status = 'deleted', last = excluded.last",
};
#define SLOT_STATUS 6
#define SLOT_DROP 7

/* The statement text holds one %s, for the table. */
static sqlite3_stmt *
stmt(struct sess_store *st, int table, int slot, const char *fmt,
    struct sess_err *e)
{
	char sql[640];
	const char *p = strstr(fmt, "%s");
	size_t n = (size_t)(p - fmt);

	snprintf(sql, sizeof(sql), "%.*s%s%s", (int)n, fmt, tables[table],
	    p + 2);
	return sess_stmt(st, STMT_STATE + table * 8 + slot, sql, e);
}

/* Says why op is inconsistent with the message's status, or NULL. */
static const char *
inconsistent(int op, const char *status)
{
	if (status == NULL)
		return op == SESS_OP_CREATE ? NULL : "on an unknown message";
	if (op == SESS_OP_CREATE)
		return strcmp(status, "deleted") == 0 ? NULL :
		    "on an existing message";
	if (strcmp(status, "streaming") != 0)
		return strcmp(status, "complete") == 0 ?
		    "after finish" : "after delete";
	return NULL;
}

int
sess_state_apply(struct sess_store *st, int table, int64_t stream,
    const struct sess_evinfo *in, const char *producer, int64_t attempt,
    int64_t seq, char *why, size_t whylen, struct sess_err *e)
{
	sqlite3_stmt *s;
	const char *bad = NULL;
	int rc;

	if (why != NULL) {
		s = stmt(st, table, SLOT_STATUS, "SELECT status FROM %s WHERE "
		    "stream = ?1 AND msg = ?2", e);
		if (s == NULL)
			return e ? e->code : SESS_EIO;
		sqlite3_bind_int64(s, 1, stream);
		sqlite3_bind_text(s, 2, in->msg, -1, SQLITE_STATIC);
		rc = sqlite3_step(s);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			return sess_dberr(st, rc, "read messages", e);
		bad = inconsistent(in->op, rc == SQLITE_ROW ?
		    (const char *)sqlite3_column_text(s, 0) : NULL);
		if (bad != NULL)
			snprintf(why, whylen, "op %s %s \"%.64s\"",
			    sess_op_name(in->op), bad, in->msg);
		sqlite3_reset(s);
	}
	s = stmt(st, table, in->op, opsql[in->op], e);
	if (s == NULL)
		return e ? e->code : SESS_EIO;
	sqlite3_bind_int64(s, 1, stream);
	sqlite3_bind_text(s, 2, in->msg, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, in->text ? in->text : "",
	    in->text ? (int)in->textlen : 0, SQLITE_STATIC);
	if (producer != NULL)
		sqlite3_bind_text(s, 4, producer, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, attempt);
	sqlite3_bind_int64(s, 6, seq);
	if ((rc = sqlite3_step(s)) != SQLITE_DONE)
		return sess_dberr(st, rc, "update messages", e);
	return bad != NULL;
}

int
sess_state_drop(struct sess_store *st, int table, int64_t stream,
    const char *msg, struct sess_err *e)
{
	sqlite3_stmt *s;
	int rc;

	s = stmt(st, table, SLOT_DROP, "DELETE FROM %s WHERE stream = ?1 AND "
	    "msg = ?2", e);
	if (s == NULL)
		return e ? e->code : SESS_EIO;
	sqlite3_bind_int64(s, 1, stream);
	sqlite3_bind_text(s, 2, msg, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(s)) != SQLITE_DONE)
		return sess_dberr(st, rc, "update messages", e);
	return 0;
}

int
sess_state_marker(struct sess_store *st, int table, int64_t stream, json_t *v,
    struct sess_err *e)
{
	json_t *msgs = json_object_get(v, "msgs"), *m;
	size_t i;
	int rc;

	json_array_foreach(msgs, i, m)
		if (json_is_string(m) && (rc = sess_state_drop(st, table,
		    stream, json_string_value(m), e)) != 0)
			return rc;
	return 0;
}

int
sess_message_format(struct sess_buf *b, const struct sess_message *m)
{
	char first[SESS_OFFSET_LEN + 1], last[SESS_OFFSET_LEN + 1], *t;
	json_t *v;
	int rc = SESS_EINVAL;

	sess_offset_fmt(m->first, first);
	sess_offset_fmt(m->last, last);
	v = json_pack("{s:s, s:s%, s:s, s:I, s:s, s:s}", "msg", m->msg,
	    "text", m->text, m->textlen, "status", m->status, "attempt",
	    (json_int_t)m->attempt, "first", first, "last", last);
	if (v != NULL && m->producer != NULL)
		json_object_set_new(v, "producer", json_string(m->producer));
	t = v ? json_dumps(v, JSON_COMPACT) : NULL;
	json_decref(v);
	if (t != NULL && sess_buf_add(b, t, strlen(t)) == 0 &&
	    sess_buf_add(b, "\n", 1) == 0)
		rc = 0;
	free(t);
	return rc;
}

int
sess_messages_each(struct sess_store *st, const char *stream,
    int (*fn)(const struct sess_message *m, void *arg), void *arg,
    struct sess_err *e)
{
	struct sess_stream ss;
	struct sess_message m;
	sqlite3_stmt *s;
	int rc;

	if ((rc = sess_stream_get(st, stream, &ss, e)) != 0)
		return rc;
	s = sess_stmt(st, STMT_MSG_EACH, "SELECT msg, text, status, producer, "
	    "attempt, first, last FROM messages WHERE stream = ?1 "
	    "ORDER BY first", e);
	if (s == NULL)
		return e ? e->code : SESS_EIO;
	sqlite3_bind_int64(s, 1, ss.id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		m.msg = (const char *)sqlite3_column_text(s, 0);
		m.text = (const char *)sqlite3_column_text(s, 1);
		m.textlen = (size_t)sqlite3_column_bytes(s, 1);
		m.status = (const char *)sqlite3_column_text(s, 2);
		m.producer = (const char *)sqlite3_column_text(s, 3);
		m.attempt = sqlite3_column_int64(s, 4);
		m.first = sqlite3_column_int64(s, 5);
		m.last = sqlite3_column_int64(s, 6);
		if (fn(&m, arg) != 0)
			break;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sess_dberr(st, rc, "read messages", e);
	return 0;
}
