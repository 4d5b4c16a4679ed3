/* cursor.c: members' read positions per stream, and unread counts. */
#include <string.h>

#include "internal.h"

/* The stream's tail, or SESS_ENOENT. */
static int
tail_of(struct sess_store *st, const char *stream, int64_t *tail,
    struct sess_err *e)
{
	struct sess_stream ss;
	int rc;

	if ((rc = sess_stream_get(st, stream, &ss, e)) != 0)
		return rc;
	*tail = ss.tail;
	return 0;
}

static int
get(struct sess_store *st, const char *stream, const char *member,
    int64_t tail, struct sess_cursor *out, struct sess_err *e)
{
	sqlite3_stmt *s;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = sqlite3_prepare_v2(st->db, "SELECT seq, time FROM cursors WHERE "
	    "stream = ?1 AND member = ?2", -1, &s, NULL);
	if (rc != SQLITE_OK)
		return sess_dberr(st, rc, "read cursor", e);
	sqlite3_bind_text(s, 1, stream, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, member, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		out->seq = sqlite3_column_int64(s, 0);
		out->time = sqlite3_column_int64(s, 1);
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sess_dberr(st, rc, "read cursor", e);
	out->unread = tail > out->seq ? tail - out->seq : 0;
	return 0;
}

int
sess_cursor_get(struct sess_store *st, const char *stream,
    const char *member, struct sess_cursor *out, struct sess_err *e)
{
	int64_t tail;
	int rc;

	if ((rc = sess_member_check("member", member, e)) != 0 ||
	    (rc = tail_of(st, stream, &tail, e)) != 0)
		return rc;
	return get(st, stream, member, tail, out, e);
}

int
sess_cursor_set(struct sess_store *st, const char *stream,
    const char *member, int64_t seq, struct sess_cursor *out,
    struct sess_err *e)
{
	struct sess_cursor cur;
	sqlite3_stmt *s;
	int64_t tail;
	int rc, own;

	if ((rc = sess_member_check("member", member, e)) != 0)
		return rc;
	if (seq < 0)
		return sess_err_set(e, SESS_EINVAL, "offset %lld is negative",
		    (long long)seq);
	if ((rc = sess_write_begin(st, &own, e)) != 0)
		return rc;
	/* Under the write lock: the tail only grows after this. */
	if ((rc = tail_of(st, stream, &tail, e)) != 0)
		goto out;
	if (seq > tail) {
		rc = sess_err_set(e, SESS_EINVAL, "offset %0*lld is beyond the "
		    "tail of %s (%0*lld)", SESS_OFFSET_LEN, (long long)seq,
		    stream, SESS_OFFSET_LEN, (long long)tail);
		goto out;
	}
	rc = sqlite3_prepare_v2(st->db, "INSERT INTO cursors (stream, member, "
	    "seq, time) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (stream, member) "
	    "DO UPDATE SET seq = excluded.seq, time = excluded.time "
	    "WHERE excluded.seq > cursors.seq", -1, &s, NULL);
	if (rc != SQLITE_OK) {
		rc = sess_dberr(st, rc, "write cursor", e);
		goto out;
	}
	sqlite3_bind_text(s, 1, stream, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, member, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, seq);
	sqlite3_bind_int64(s, 4, sess_now());
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	rc = rc == SQLITE_DONE ? 0 : sess_dberr(st, rc, "write cursor", e);
	if (rc == 0)
		rc = get(st, stream, member, tail, &cur, e);
out:
	rc = sess_write_end(st, own, rc, e);
	if (rc == 0 && out != NULL)
		*out = cur;
	return rc;
}

int
sess_cursors_each(struct sess_store *st, const char *stream,
    const char *member, void (*fn)(const char *member,
    const struct sess_cursor *c, void *arg), void *arg, struct sess_err *e)
{
	struct sess_cursor c;
	sqlite3_stmt *s;
	int64_t tail;
	int rc, n = 0;

	if ((member != NULL && (rc = sess_member_check("member", member,
	    e)) != 0) || (rc = tail_of(st, stream, &tail, e)) != 0)
		return rc;
	rc = sqlite3_prepare_v2(st->db, member != NULL ? "SELECT member, seq, "
	    "time FROM cursors WHERE stream = ?1 AND member = ?2" :
	    "SELECT member, seq, time FROM cursors WHERE stream = ?1 "
	    "ORDER BY member", -1, &s, NULL);
	if (rc != SQLITE_OK)
		return sess_dberr(st, rc, "read cursors", e);
	sqlite3_bind_text(s, 1, stream, -1, SQLITE_STATIC);
	if (member != NULL)
		sqlite3_bind_text(s, 2, member, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		c.seq = sqlite3_column_int64(s, 1);
		c.time = sqlite3_column_int64(s, 2);
		c.unread = tail > c.seq ? tail - c.seq : 0;
		fn((const char *)sqlite3_column_text(s, 0), &c, arg);
		n++;
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? n : sess_dberr(st, rc, "read cursors", e);
}
