/* log.c: streams, appending events with idempotent producers, reading. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int
stream_lookup(struct sess_store *st, const char *name, struct sess_stream *out,
    struct sess_err *e)
{
	sqlite3_stmt *s;
	const char *ct;
	int rc;

	s = sess_stmt(st, STMT_STREAM_GET, "SELECT id, tail, created, closed, "
	    "content_type, deleted FROM streams WHERE name = ?1", e);
	if (s == NULL)
		return e ? e->code : SESS_EIO;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(s);
		return sess_err_set(e, SESS_ENOENT, "%s: no such stream", name);
	}
	if (rc != SQLITE_ROW)
		return sess_dberr(st, rc, "read stream", e);
	out->id = sqlite3_column_int64(s, 0);
	out->tail = sqlite3_column_int64(s, 1);
	out->created = sqlite3_column_int64(s, 2);
	out->closed = sqlite3_column_int(s, 3);
	ct = (const char *)sqlite3_column_text(s, 4);
	snprintf(out->content_type, sizeof(out->content_type), "%s",
	    ct ? ct : "");
	/* Deleted while forks still read it: the name stays taken. */
	if (sqlite3_column_int(s, 5)) {
		sqlite3_reset(s);
		return sess_err_set(e, SESS_ECONFLICT, "%s: stream was deleted",
		    name);
	}
	sqlite3_reset(s);
	return 0;
}

int
sess_stream_get(struct sess_store *st, const char *name,
    struct sess_stream *out, struct sess_err *e)
{
	int rc;

	if ((rc = sess_name_check(name, strlen(name), e)) != 0)
		return rc;
	return stream_lookup(st, name, out, e);
}

static int
stream_create(struct sess_store *st, const char *name, struct sess_stream *out,
    struct sess_err *e)
{
	sqlite3_stmt *s;
	int rc;

	s = sess_stmt(st, STMT_STREAM_NEW, "INSERT INTO streams (name, "
	    "content_type, created) VALUES (?1, 'application/json', ?2)", e);
	if (s == NULL)
		return e ? e->code : SESS_EIO;
	memset(out, 0, sizeof(*out));
	out->created = sess_now();
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, out->created);
	if ((rc = sqlite3_step(s)) != SQLITE_DONE)
		return sess_dberr(st, rc, "create stream", e);
	out->id = sqlite3_last_insert_rowid(st->db);
	snprintf(out->content_type, sizeof(out->content_type),
	    "application/json");
	return 0;
}

/* Serializes v compactly into the store's scratch buffer. */
static int
serialize(struct sess_store *st, json_t *v, struct sess_err *e)
{
	size_t n;
	int rc;

	st->scratch.len = 0;
	n = json_dumpb(v, st->scratch.p, st->scratch.size,
	    JSON_COMPACT | JSON_ENCODE_ANY);
	if (n == 0)
		return sess_err_set(e, SESS_EINVAL, "value cannot be encoded");
	if (st->scratch.p == NULL || n >= st->scratch.size) {
		if ((rc = sess_buf_reserve(&st->scratch, n)) != 0)
			return sess_err_set(e, rc, "value too large");
		n = json_dumpb(v, st->scratch.p, st->scratch.size,
		    JSON_COMPACT | JSON_ENCODE_ANY);
	}
	st->scratch.len = n;
	return 0;
}

/* Inserts one event whose value is data[0..len), default the scratch. */
static int
event_put(struct sess_store *st, int64_t stream, int64_t seq, int64_t time,
    const char *type, size_t typelen, const struct sess_producer *pr,
    int64_t pseq, const char *data, size_t len, struct sess_err *e)
{
	sqlite3_stmt *s;
	int rc;

	s = sess_stmt(st, STMT_EVENT_PUT, "INSERT INTO events (stream, seq, "
	    "time, type, producer, epoch, pseq, data) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)", e);
	if (s == NULL)
		return e ? e->code : SESS_EIO;
	sqlite3_bind_int64(s, 1, stream);
	sqlite3_bind_int64(s, 2, seq);
	sqlite3_bind_int64(s, 3, time);
	if (type != NULL)
		sqlite3_bind_text(s, 4, type, (int)typelen, SQLITE_STATIC);
	if (pr != NULL) {
		sqlite3_bind_text(s, 5, pr->id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 6, pr->epoch);
		sqlite3_bind_int64(s, 7, pseq);
	}
	if (data == NULL) {
		data = st->scratch.p;
		len = st->scratch.len;
	}
	sqlite3_bind_text(s, 8, data, (int)len, SQLITE_STATIC);
	if ((rc = sqlite3_step(s)) != SQLITE_DONE)
		return sess_dberr(st, rc, "append", e);
	return 0;
}

static int
producer_get(struct sess_store *st, int64_t stream, const char *id,
    struct sess_pstate *ps, struct sess_err *e)
{
	sqlite3_stmt *s;
	int rc;

	s = sess_stmt(st, STMT_PRODUCER_GET, "SELECT epoch, next FROM "
	    "producers WHERE stream = ?1 AND id = ?2", e);
	if (s == NULL)
		return e ? e->code : SESS_EIO;
	sqlite3_bind_int64(s, 1, stream);
	sqlite3_bind_text(s, 2, id, -1, SQLITE_STATIC);
	memset(ps, 0, sizeof(*ps));
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		ps->found = 1;
		ps->epoch = sqlite3_column_int64(s, 0);
		ps->next = sqlite3_column_int64(s, 1);
	} else if (rc != SQLITE_DONE) {
		return sess_dberr(st, rc, "read producer", e);
	}
	sqlite3_reset(s);
	return 0;
}

static int
producer_put(struct sess_store *st, int64_t stream, const char *id,
    const struct sess_pstate *ps, struct sess_err *e)
{
	sqlite3_stmt *s;
	int rc;

	s = sess_stmt(st, STMT_PRODUCER_PUT, "INSERT INTO producers (stream, "
	    "id, epoch, next, updated) VALUES (?1, ?2, ?3, ?4, ?5) "
	    "ON CONFLICT (stream, id) DO UPDATE SET epoch = excluded.epoch, "
	    "next = excluded.next, updated = excluded.updated", e);
	if (s == NULL)
		return e ? e->code : SESS_EIO;
	sqlite3_bind_int64(s, 1, stream);
	sqlite3_bind_text(s, 2, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, ps->epoch);
	sqlite3_bind_int64(s, 4, ps->next);
	sqlite3_bind_int64(s, 5, sess_now());
	if ((rc = sqlite3_step(s)) != SQLITE_DONE)
		return sess_dberr(st, rc, "update producer", e);
	return 0;
}

/* The seq of the event that holds producer position pseq. */
static int
producer_dup(struct sess_store *st, int64_t stream,
    const struct sess_producer *pr, int64_t pseq, int64_t *seq,
    struct sess_err *e)
{
	sqlite3_stmt *s;
	int rc;

	s = sess_stmt(st, STMT_PRODUCER_DUP, "SELECT seq FROM events WHERE "
	    "stream = ?1 AND producer = ?2 AND epoch = ?3 AND pseq <= ?4 AND "
	    "producer IS NOT NULL ORDER BY pseq DESC LIMIT 1", e);
	if (s == NULL)
		return e ? e->code : SESS_EIO;
	sqlite3_bind_int64(s, 1, stream);
	sqlite3_bind_text(s, 2, pr->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, pr->epoch);
	sqlite3_bind_int64(s, 4, pseq);
	rc = sqlite3_step(s);
	*seq = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sess_dberr(st, rc, "read producer events", e);
	return 0;
}

/*
 * A new epoch of a producer supersedes the messages older epochs wrote:
 * they leave the materialized view, and a marker event tells live
 * readers to drop them too.  No marker when there is nothing to drop, so
 * plain streams never see one.
 */
static int
supersede(struct sess_store *st, struct sess_stream *ss,
    const struct sess_producer *pr, int64_t old, int64_t now,
    struct sess_err *e)
{
	sqlite3_stmt *s;
	json_t *marker = NULL, *msgs;
	size_t i;
	int rc;

	s = sess_stmt(st, STMT_MSG_SUPERSEDED, "SELECT msg FROM messages "
	    "WHERE stream = ?1 AND producer = ?2 AND attempt < ?3 "
	    "ORDER BY first", e);
	if (s == NULL)
		return e ? e->code : SESS_EIO;
	sqlite3_bind_int64(s, 1, ss->id);
	sqlite3_bind_text(s, 2, pr->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, pr->epoch);
	msgs = json_array();
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		json_array_append_new(msgs, json_string(
		    (const char *)sqlite3_column_text(s, 0)));
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		rc = sess_dberr(st, rc, "read messages", e);
		goto out;
	}
	rc = 0;
	if (json_array_size(msgs) == 0)
		goto out;
	for (i = 0; i < json_array_size(msgs); i++)
		if ((rc = sess_state_drop(st, STATE_MAIN, ss->id,
		    json_string_value(json_array_get(msgs, i)), e)) != 0)
			goto out;
	marker = json_pack("{s:s, s:s, s:I, s:I, s:O}", "type", "superseded",
	    "producer", pr->id, "epoch", (json_int_t)old, "by",
	    (json_int_t)pr->epoch, "msgs", msgs);
	if (marker == NULL) {
		rc = sess_err_set(e, SESS_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = serialize(st, marker, e)) != 0)
		goto out;
	rc = event_put(st, ss->id, ++ss->tail, now, "superseded", 10, NULL, 0,
	    NULL, 0, e);
out:
	json_decref(marker);
	json_decref(msgs);
	return rc;
}

/* Drops the first k bytes of a text chunk's "text" (a partial rerun). */
static int
trim_text(json_t *v, size_t k, struct sess_err *e)
{
	json_t *t = json_object_get(v, "text");

	if (!json_is_string(t) || k > json_string_length(t))
		return sess_err_set(e, SESS_EINVAL,
		    "producer position is inside a value that is not text");
	if (json_object_set_new(v, "text", json_stringn(json_string_value(t) +
	    k, json_string_length(t) - k)) != 0)
		return sess_err_set(e, SESS_EINVAL, "rerun text is not UTF-8 "
		    "at the point already written");
	return 0;
}

/*
 * A message the producer's current epoch already finished takes no more
 * text: a rerun whose input differs from the first run's must come as a
 * new epoch, or its bytes would be spliced into the old text.
 */
static int
finished_by(struct sess_store *st, int64_t stream, const char *msg,
    const struct sess_producer *pr, struct sess_err *e)
{
	sqlite3_stmt *s;
	int rc, done = 0;

	s = sess_stmt(st, STMT_MSG_FINISHED, "SELECT 1 FROM messages WHERE "
	    "stream = ?1 AND msg = ?2 AND producer = ?3 AND attempt = ?4 AND "
	    "status = 'complete'", e);
	if (s == NULL)
		return e ? e->code : SESS_EIO;
	sqlite3_bind_int64(s, 1, stream);
	sqlite3_bind_text(s, 2, msg, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, pr->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, pr->epoch);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		done = 1;
	sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sess_dberr(st, rc, "read messages", e);
	if (done)
		return sess_err_set(e, SESS_ECONFLICT, "producer '%s' already "
		    "finished message \"%s\" in epoch %lld; input that differs "
		    "from the first run needs a new epoch", pr->id, msg,
		    (long long)pr->epoch);
	return 0;
}

/*
 * Run leases: {"type":"run.start","run":R,"lease":SECS} starts (or
 * restarts) a lease on run R of the stream until now + SECS; any later
 * event carrying "run":R renews it by the same length; "run.end" ends
 * it.  sessd closes a run whose lease ran out (sess_runs_expired()).
 */
static int
run_lease(struct sess_store *st, int64_t stream, json_t *v, int64_t now,
    struct sess_err *e)
{
	json_t *run = json_object_get(v, "run"), *lease;
	const char *type = json_string_value(json_object_get(v, "type"));
	sqlite3_stmt *s;
	double secs = 0;
	int rc;

	if (!json_is_string(run))
		return 0;
	if (type != NULL && strcmp(type, "run.start") == 0) {
		lease = json_object_get(v, "lease");
		if (json_is_number(lease))
			secs = json_number_value(lease);
		if (!(secs > 0 && secs <= 31536000))
			return 0;
		s = sess_stmt(st, STMT_RUN_START, "INSERT INTO runs (stream, "
		    "run, expires, lease) VALUES (?1, ?2, ?3, ?4) ON CONFLICT "
		    "(stream, run) DO UPDATE SET expires = excluded.expires, "
		    "lease = excluded.lease", e);
	} else if (type != NULL && strcmp(type, "run.end") == 0) {
		s = sess_stmt(st, STMT_RUN_END, "DELETE FROM runs WHERE "
		    "stream = ?1 AND run = ?2", e);
	} else {
		s = sess_stmt(st, STMT_RUN_RENEW, "UPDATE runs SET expires = "
		    "?3 + lease WHERE stream = ?1 AND run = ?2", e);
	}
	if (s == NULL)
		return e ? e->code : SESS_EIO;
	sqlite3_bind_int64(s, 1, stream);
	sqlite3_bind_text(s, 2, json_string_value(run), -1, SQLITE_STATIC);
	if (sqlite3_bind_parameter_count(s) >= 3)
		sqlite3_bind_int64(s, 3, secs > 0 ? now + (int64_t)(secs *
		    1e6) : now);
	if (sqlite3_bind_parameter_count(s) >= 4)
		sqlite3_bind_int64(s, 4, (int64_t)(secs * 1e6));
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return sess_dberr(st, rc, "run lease", e);
	return 0;
}

/*
 * Writes one admitted item as event ++ss->tail and applies its
 * conventions.  The stored text is the caller's compact text where it
 * has one, so values are kept as written; otherwise the value encoded.
 */
static int
put_item(struct sess_store *st, struct sess_stream *ss,
    const struct sess_producer *pr, struct sess_item *it, int64_t start,
    int64_t now, int trimmed, int64_t *seq, struct sess_err *e)
{
	struct sess_evinfo in;
	json_t *parsed = NULL, *v = it->value;
	const char *type = it->type, *data = it->json;
	size_t typelen = it->typelen, len = it->len;
	int rc;

	memset(&in, 0, sizeof(in));
	if (v != NULL) {
		if ((rc = sess_event_check(v, &in, e)) != 0)
			return rc;
		type = in.type;
		typelen = type ? strlen(type) : 0;
		if (data == NULL || trimmed) {
			if ((rc = serialize(st, v, e)) != 0)
				return rc;
			data = NULL;
		}
	}
	if (pr != NULL && in.op != SESS_OP_NONE && in.op != SESS_OP_FINISH &&
	    (rc = finished_by(st, ss->id, in.msg, pr, e)) != 0)
		return rc;
	*seq = ++ss->tail;
	if ((rc = event_put(st, ss->id, ss->tail, it->time ? it->time : now,
	    type, typelen, pr, start, data, len, e)) != 0)
		return rc;
	/* Only an object naming "run" can touch a lease. */
	if (v == NULL && it->json != NULL && it->len > 0 &&
	    it->json[0] == '{' && memmem(it->json, it->len, "\"run\"", 5) !=
	    NULL && (v = parsed = sess_json_parse(it->json, it->len, e)) ==
	    NULL)
		return SESS_EINVAL;
	if (json_is_object(v) && (rc = run_lease(st, ss->id, v, now, e)) != 0) {
		json_decref(parsed);
		return rc;
	}
	if (parsed != NULL && it->value == NULL) {
		json_decref(parsed);
		parsed = NULL;
		v = NULL;
	}
	if (in.op != SESS_OP_NONE)
		return sess_state_apply(st, STATE_MAIN, ss->id, &in,
		    pr ? pr->id : NULL, pr ? pr->epoch : 0, ss->tail, NULL, 0,
		    e);
	if (type != NULL && typelen == 10 && memcmp(type, "superseded",
	    10) == 0) {
		if (v == NULL && (v = parsed = sess_json_parse(it->json,
		    it->len, e)) == NULL)
			return SESS_EINVAL;
		rc = sess_state_marker(st, STATE_MAIN, ss->id, v, e);
		json_decref(parsed);
		return rc;
	}
	return 0;
}

/* Refuses the store's own events from writers (sess_event_own()). */
static int
own_check(const struct sess_item *items, size_t n, struct sess_err *e)
{
	struct sess_err oe;
	size_t i;

	for (i = 0; i < n; i++)
		if (sess_event_own(items[i].value, items[i].json, items[i].len,
		    items[i].type, items[i].typelen, &oe) != 0)
			return n == 1 ? sess_err_set(e, SESS_EOWN, "%s",
			    oe.msg) : sess_err_set(e, SESS_EOWN, "value %zu: "
			    "%s", i + 1, oe.msg);
	return 0;
}

int
sess_append(struct sess_store *st, const char *stream, int flags,
    const struct sess_producer *pr, struct sess_item *items, size_t n,
    struct sess_ack *acks, struct sess_err *e)
{
	struct sess_stream ss;
	struct sess_pstate ps = { 0 };
	struct sess_admit ad;
	int64_t now, start;
	size_t i;
	int rc, trimmed;

	if ((rc = sess_name_check(stream, strlen(stream), e)) != 0)
		return rc;
	if (!(flags & SESS_IMPORT) && (rc = own_check(items, n, e)) != 0)
		return rc;
	if ((rc = sess_tx_begin(st, e)) != 0)
		return rc;
	rc = stream_lookup(st, stream, &ss, e);
	if (rc == SESS_ENOENT && !(flags & SESS_NOCREATE))
		rc = stream_create(st, stream, &ss, e);
	if (rc != 0)
		goto fail;
	if (ss.closed) {
		rc = sess_err_set(e, SESS_ECONFLICT, "%s: stream is closed",
		    stream);
		goto fail;
	}
	if (strcmp(ss.content_type, "application/json") != 0) {
		rc = sess_err_set(e, SESS_ECONFLICT, "%s: stream holds %s, "
		    "not JSON", stream, ss.content_type);
		goto fail;
	}
	if (pr != NULL && (rc = producer_get(st, ss.id, pr->id, &ps, e)) != 0)
		goto fail;
	now = sess_now();
	for (i = 0; i < n; i++) {
		struct sess_item *it = &items[i];

		acks[i].duplicate = 0;
		start = 0;
		trimmed = 0;
		if (pr != NULL) {
			if ((rc = sess_producer_admit(&ps, pr->id, pr->epoch,
			    it->pseq, it->units, &ad, e)) != 0)
				goto fail;
			if (ad.supersede && (rc = supersede(st, &ss, pr,
			    ad.old_epoch, now, e)) != 0)
				goto fail;
			if (ad.verdict == SESS_ADMIT_DUPLICATE) {
				if ((rc = producer_dup(st, ss.id, pr, it->pseq,
				    &acks[i].seq, e)) != 0)
					goto fail;
				acks[i].duplicate = 1;
				continue;
			}
			trimmed = ad.skip > 0;
			if (trimmed && (rc = trim_text(it->value,
			    (size_t)ad.skip, e)) != 0)
				goto fail;
			start = it->pseq + ad.skip;
		}
		if (ss.tail >= SESS_SEQ_MAX) {
			rc = sess_err_set(e, SESS_EINVAL, "%s: stream is full",
			    stream);
			goto fail;
		}
		if ((rc = put_item(st, &ss, pr, it, start, now, trimmed,
		    &acks[i].seq, e)) != 0)
			goto fail;
	}
	{
		sqlite3_stmt *s = sess_stmt(st, STMT_STREAM_TAIL,
		    "UPDATE streams SET tail = ?1 WHERE id = ?2", e);

		if (s == NULL) {
			rc = e ? e->code : SESS_EIO;
			goto fail;
		}
		sqlite3_bind_int64(s, 1, ss.tail);
		sqlite3_bind_int64(s, 2, ss.id);
		if ((rc = sqlite3_step(s)) != SQLITE_DONE) {
			rc = sess_dberr(st, rc, "append", e);
			goto fail;
		}
	}
	if (pr != NULL && (rc = producer_put(st, ss.id, pr->id, &ps, e)) != 0)
		goto fail;
	return sess_tx_commit(st, e);
fail:
	sess_tx_rollback(st);
	return rc;
}

#define READ_BATCH 1024

struct sess_reader {
	struct sess_store *st;
	char *stream;
	char *type;
	int64_t id;         /* 0 until the stream exists */
	int64_t pos;        /* seq of the last event returned */
	int rows;           /* rows returned by the running query */
	int running;
	sqlite3_stmt *q;
};

struct sess_reader *
sess_reader_open(struct sess_store *st, const char *stream, int64_t after,
    const char *type, struct sess_err *e)
{
	struct sess_reader *r;
	const char *sql;
	int rc;

	if (sess_name_check(stream, strlen(stream), e) != 0)
		return NULL;
	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (r->stream = strdup(stream)) == NULL ||
	    (type != NULL && (r->type = strdup(type)) == NULL)) {
		sess_err_set(e, SESS_ENOMEM, "out of memory");
		goto fail;
	}
	r->st = st;
	r->pos = after;
	sql = type != NULL ?
	    "SELECT seq, time, data, type FROM events WHERE stream = ?1 AND "
	    "seq > ?2 AND type = ?4 ORDER BY seq LIMIT ?3" :
	    "SELECT seq, time, data, type FROM events WHERE stream = ?1 AND "
	    "seq > ?2 ORDER BY seq LIMIT ?3";
	rc = sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
	    &r->q, NULL);
	if (rc != SQLITE_OK) {
		sess_dberr(st, rc, "prepare", e);
		goto fail;
	}
	return r;
fail:
	sess_reader_close(r);
	return NULL;
}

void
sess_reader_close(struct sess_reader *r)
{
	if (r == NULL)
		return;
	sqlite3_finalize(r->q);
	free(r->stream);
	free(r->type);
	free(r);
}

void
sess_reader_reset(struct sess_reader *r)
{
	sqlite3_reset(r->q);
	r->running = 0;
}

int64_t
sess_reader_position(const struct sess_reader *r)
{
	return r->pos;
}

int
sess_reader_next(struct sess_reader *r, struct sess_event *ev,
    struct sess_err *e)
{
	struct sess_stream ss;
	int rc;

	if (r->id == 0) {
		rc = stream_lookup(r->st, r->stream, &ss, e);
		if (rc == SESS_ENOENT)
			return 0;
		if (rc != 0)
			return rc;
		r->id = ss.id;
	}
	for (;;) {
		if (!r->running) {
			sqlite3_reset(r->q);
			sqlite3_bind_int64(r->q, 1, r->id);
			sqlite3_bind_int64(r->q, 2, r->pos);
			sqlite3_bind_int(r->q, 3, READ_BATCH);
			if (r->type != NULL)
				sqlite3_bind_text(r->q, 4, r->type, -1,
				    SQLITE_STATIC);
			r->running = 1;
			r->rows = 0;
		}
		rc = sqlite3_step(r->q);
		if (rc == SQLITE_ROW)
			break;
		r->running = 0;
		sqlite3_reset(r->q);
		if (rc != SQLITE_DONE)
			return sess_dberr(r->st, rc, "read", e);
		if (r->rows < READ_BATCH)
			return 0;
	}
	r->rows++;
	ev->seq = r->pos = sqlite3_column_int64(r->q, 0);
	ev->time = sqlite3_column_int64(r->q, 1);
	ev->data = sqlite3_column_blob(r->q, 2);
	ev->len = (size_t)sqlite3_column_bytes(r->q, 2);
	ev->type = (const char *)sqlite3_column_text(r->q, 3);
	if (ev->data == NULL)
		ev->data = "";
	return 1;
}

/* The pieces ds.c shares (internal.h). */
int
sess_log_producer_get(struct sess_store *st, int64_t stream, const char *id,
    struct sess_pstate *ps, struct sess_err *e)
{
	return producer_get(st, stream, id, ps, e);
}

int
sess_log_producer_put(struct sess_store *st, int64_t stream, const char *id,
    const struct sess_pstate *ps, struct sess_err *e)
{
	return producer_put(st, stream, id, ps, e);
}

int
sess_log_put_item(struct sess_store *st, struct sess_stream *ss,
    const struct sess_producer *pr, struct sess_item *it, int64_t start,
    int64_t now, int64_t *seq, struct sess_err *e)
{
	return put_item(st, ss, pr, it, start, now, 0, seq, e);
}

int
sess_log_supersede(struct sess_store *st, struct sess_stream *ss,
    const struct sess_producer *pr, int64_t old, int64_t now,
    struct sess_err *e)
{
	return supersede(st, ss, pr, old, now, e);
}

/* Run leases (sess.h). */
int
sess_runs_expired(struct sess_store *st, int max,
    void (*fn)(const char *stream, const char *run, void *arg), void *arg,
    struct sess_err *e)
{
	sqlite3_stmt *s;
	int rc, n = 0;

	rc = sqlite3_prepare_v2(st->db, "SELECT s.name, r.run FROM runs r "
	    "JOIN streams s ON s.id = r.stream WHERE r.expires < ?1 AND "
	    "s.deleted = 0 "
	    "ORDER BY r.expires LIMIT ?2", -1, &s, NULL);
	if (rc != SQLITE_OK)
		return sess_dberr(st, rc, "read runs", e);
	sqlite3_bind_int64(s, 1, sess_now());
	sqlite3_bind_int(s, 2, max);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		fn((const char *)sqlite3_column_text(s, 0),
		    (const char *)sqlite3_column_text(s, 1), arg);
		n++;
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? n : sess_dberr(st, rc, "read runs", e);
}

int64_t
sess_runs_next(struct sess_store *st)
{
	sqlite3_stmt *s;
	int64_t v = 0;

	if (sqlite3_prepare_v2(st->db, "SELECT min(expires) FROM runs", -1,
	    &s, NULL) != SQLITE_OK)
		return 0;
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

/* Whether run's lease on stream (by id) has run out; deletes it if asked. */
static int
run_expired(struct sess_store *st, int64_t stream, const char *run, int drop,
    int *expired, struct sess_err *e)
{
	sqlite3_stmt *s;
	int rc;

	rc = sqlite3_prepare_v2(st->db, drop ? "DELETE FROM runs WHERE "
	    "stream = ?1 AND run = ?2" : "SELECT 1 FROM runs WHERE "
	    "stream = ?1 AND run = ?2 AND expires < ?3", -1, &s, NULL);
	if (rc != SQLITE_OK)
		return sess_dberr(st, rc, "read runs", e);
	sqlite3_bind_int64(s, 1, stream);
	sqlite3_bind_text(s, 2, run, -1, SQLITE_STATIC);
	if (!drop)
		sqlite3_bind_int64(s, 3, sess_now());
	rc = sqlite3_step(s);
	*expired = rc == SQLITE_ROW;
	sqlite3_finalize(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 :
	    sess_dberr(st, rc, "read runs", e);
}

int
sess_run_abandon(struct sess_store *st, const char *stream, const char *run,
    struct sess_err *e)
{
	struct sess_ds_req q;
	struct sess_ds_ack a;
	struct sess_stream ss;
	json_t *v;
	char *body = NULL;
	int rc, own, expired = 0;

	if ((rc = sess_write_begin(st, &own, e)) != 0)
		return rc;
	if ((rc = stream_lookup(st, stream, &ss, e)) != 0 ||
	    (rc = run_expired(st, ss.id, run, 0, &expired, e)) != 0 ||
	    !expired)
		goto out;
	v = json_pack("{s:s, s:s, s:s}", "type", "run.end", "run", run,
	    "reason", "abandoned");
	body = v ? json_dumps(v, JSON_COMPACT) : NULL;
	json_decref(v);
	if (body == NULL) {
		rc = sess_err_set(e, SESS_ENOMEM, "out of memory");
		goto out;
	}
	memset(&q, 0, sizeof(q));
	q.stream = stream;
	q.content_type = "application/json";
	q.body = body;
	q.len = strlen(body);
	q.ttl = -1;
	q.fork_offset = -1;
	rc = sess_ds_append_own(st, &q, &a, e);
	/* A closed stream takes no run.end: the lease just goes. */
	if (rc == SESS_ECONFLICT || rc == SESS_ENOENT)
		rc = run_expired(st, ss.id, run, 1, &expired, e);
out:
	free(body);
	/* A stream gone altogether takes its leases with it. */
	if (rc == SESS_ENOENT || rc == SESS_ECONFLICT)
		rc = 0;
	rc = sess_write_end(st, own, rc, e);
	return rc != 0 ? rc : expired;
}
