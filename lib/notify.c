/* notify.c: the notification outbox: scan, away rule, claim, record. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/*
 * How events become outbox rows.  sess-notify scans each stream's new
 * events after a position kept in notify_scan, in the same transaction
 * as the rows it creates and the position it advances, instead of
 * hooking the append path: appends stay as fast as before for every
 * writer (sessd, sess-pub, remote), a store written by a build without
 * notifications is still notified when sess-notify first runs, and two
 * scanners serialize on the write lock, so each event is turned into
 * rows exactly once.  The cost is that a notification exists only once
 * a sess-notify has run; that is when it could be sent anyway.
 */
#define SCAN_BATCH 4096
#define NOTE_TO_MAX 100
#define LEASE_US (120 * 1000000LL)
#define BACKOFF_CAP_US (3600 * 1000000LL)

enum {
	Q_CLAIM, Q_LEASE, Q_AWAY, Q_SET, Q_FINISH, Q_CHANNELS, Q_INSERT,
	Q_STREAMS, Q_EVENTS, Q_SCANPOS, Q_NEXT, Q_MAX
};

static const char *const sql[Q_MAX] = {
	[Q_CLAIM] = "SELECT id, stream, seq, member, channel, kind, target, "
	    "note, attempts FROM notify_outbox WHERE state = 'pending' AND "
	    "next_try <= ?1 AND (?2 OR kind IS NOT 'stdout') "
	    "ORDER BY next_try, id LIMIT ?3",
	[Q_LEASE] = "UPDATE notify_outbox SET attempts = attempts + 1, "
	    "holder = ?2, lease = ?3, next_try = ?3, updated = ?4 "
	    "WHERE id = ?1",
	[Q_AWAY] = "SELECT "
	    "(SELECT count(*) FROM presence WHERE stream = ?1 AND member = ?2 "
	    "AND expires > ?3), "
	    "(SELECT max(expires) FROM presence WHERE stream = ?1 AND "
	    "member = ?2 AND expires <= ?3), "
	    "(SELECT max(time) FROM presence_log WHERE stream = ?1 AND "
	    "member = ?2 AND event = 'leave'), "
	    "(SELECT seq FROM cursors WHERE stream = ?1 AND member = ?2)",
	[Q_SET] = "UPDATE notify_outbox SET state = ?2, reason = ?3, "
	    "next_try = ?4, lease = NULL, holder = NULL, updated = ?5 "
	    "WHERE id = ?1",
	[Q_FINISH] = "UPDATE notify_outbox SET state = ?3, next_try = ?4, "
	    "lease = NULL, holder = NULL, last_error = ?5, updated = ?6 "
	    "WHERE id = ?1 AND holder = ?2 AND state = 'pending'",
	[Q_CHANNELS] = "SELECT id, kind, target FROM notify_channels "
	    "WHERE member = ?1 ORDER BY id",
	[Q_INSERT] = "INSERT OR IGNORE INTO notify_outbox (stream, seq, "
	    "member, channel, kind, target, note, state, reason, last_error, "
	    "next_try, created, updated) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12)",
	[Q_STREAMS] = "SELECT s.id, s.name, s.tail, coalesce(n.seq, 0) "
	    "FROM streams s LEFT JOIN notify_scan n ON n.stream = s.id "
	    "WHERE s.deleted = 0 AND s.content_type = 'application/json' "
	    "AND s.tail > coalesce(n.seq, 0)",
	[Q_EVENTS] = "SELECT seq, time, data FROM events WHERE stream = ?1 "
	    "AND seq > ?2 AND seq <= ?3 AND instr(data, '\"notify\"') > 0 "
	    "ORDER BY seq",
	[Q_SCANPOS] = "INSERT INTO notify_scan (stream, seq) VALUES (?1, ?2) "
	    "ON CONFLICT (stream) DO UPDATE SET seq = excluded.seq",
	[Q_NEXT] = "SELECT min(next_try) FROM notify_outbox WHERE "
	    "state = 'pending' AND (?1 OR kind IS NOT 'stdout')",
};

struct sess_notify {
	struct sess_store *st;
	struct sess_notify_cfg cfg;
	char holder[128];
	sqlite3_stmt *q[Q_MAX];
	uint64_t rng;
	int rescan;               /* scan for new events at the next claim */
};

/*
 * A transaction of its own (a commit touches the wake file), or a
 * savepoint inside the caller's (sessd's writer runs these in a batch).
 */
static int
tx_begin(struct sess_store *st, int *own, struct sess_err *e)
{
	return sess_write_begin(st, own, e);
}

static int
tx_commit(struct sess_store *st, int own, struct sess_err *e)
{
	return sess_write_end(st, own, 0, e);
}

/* Undoes everything since tx_begin(). */
static void
tx_undo(struct sess_store *st, int own)
{
	sess_write_end(st, own, SESS_EIO, NULL);
}

static sqlite3_stmt *
q(struct sess_notify *n, int i, struct sess_err *e)
{
	int rc;

	if (n->q[i] == NULL) {
		rc = sqlite3_prepare_v3(n->st->db, sql[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &n->q[i], NULL);
		if (rc != SQLITE_OK) {
			sess_dberr(n->st, rc, "prepare", e);
			return NULL;
		}
	}
	sqlite3_reset(n->q[i]);
	sqlite3_clear_bindings(n->q[i]);
	return n->q[i];
}

/* The start time of process pid (clock ticks since boot), or -1. */
static long long
proc_start(long pid)
{
	char path[64], buf[1024], *p;
	long long v = -1;
	FILE *f;
	int i;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	if (fgets(buf, sizeof(buf), f) != NULL &&
	    (p = strrchr(buf, ')')) != NULL) {
		/* Field 22 is the start time; p is at the end of field 2. */
		for (i = 2; i < 22 && p != NULL; i++)
			p = strchr(p + 1, ' ');
		if (p != NULL)
			v = strtoll(p + 1, NULL, 10);
	}
	fclose(f);
	return v;
}

static void
host_name(char *out, size_t n)
{
	if (gethostname(out, n) != 0)
		snprintf(out, n, "localhost");
	out[n - 1] = '\0';
}

struct sess_notify *
sess_notify_open(struct sess_store *st, const struct sess_notify_cfg *cfg,
    struct sess_err *e)
{
	struct sess_notify *n;
	char host[64];

	if ((n = calloc(1, sizeof(*n))) == NULL) {
		sess_err_set(e, SESS_ENOMEM, "out of memory");
		return NULL;
	}
	n->st = st;
	n->cfg = *cfg;
	if (n->cfg.grace < 0)
		n->cfg.grace = 30 * 1000000LL;
	if (n->cfg.max_tries <= 0)
		n->cfg.max_tries = 8;
	if (n->cfg.backoff <= 0)
		n->cfg.backoff = 1000000;
	if (n->cfg.lease <= 0)
		n->cfg.lease = LEASE_US;
	host_name(host, sizeof(host));
	/*
	 * The holder names this process so that a rerun on the same host
	 * can tell that a lease's holder died (kill -9) and take its rows
	 * back at once rather than when the lease runs out.
	 */
	if (cfg->holder != NULL && *cfg->holder != '\0')
		snprintf(n->holder, sizeof(n->holder), "%s", cfg->holder);
	else
		snprintf(n->holder, sizeof(n->holder), "%s:%ld:%lld", host,
		    (long)getpid(), proc_start((long)getpid()));
	n->cfg.holder = NULL;
	n->rng = (uint64_t)sess_now() ^ ((uint64_t)getpid() << 32);
	n->rescan = 1;
	return n;
}

void
sess_notify_close(struct sess_notify *n)
{
	int i;

	if (n == NULL)
		return;
	for (i = 0; i < Q_MAX; i++)
		sqlite3_finalize(n->q[i]);
	free(n);
}

const char *
sess_notify_holder(const struct sess_notify *n)
{
	return n->holder;
}

void
sess_note_free(struct sess_note *no)
{
	if (no == NULL)
		return;
	free(no->stream);
	free(no->member);
	free(no->kind);
	free(no->target);
	free(no->note);
	memset(no, 0, sizeof(*no));
}

static char *
dup_col(sqlite3_stmt *s, int i)
{
	const char *p = (const char *)sqlite3_column_text(s, i);

	return strdup(p ? p : "");
}

/*
 * Appends an outcome event to stream in the running transaction.  A
 * stream that is gone, closed or not JSON gets none: the outbox row
 * still records the outcome.
 */
static int
outcome(struct sess_notify *n, const char *stream, const char *type,
    int64_t seq, const char *member, const char *kind, int attempts,
    const char *key, const char *why, struct sess_err *e)
{
	struct sess_stream ss;
	struct sess_item it;
	char off[SESS_OFFSET_LEN + 1];
	sqlite3_stmt *s;
	json_t *v;
	char *text;
	int64_t got;
	int rc;

	rc = sess_stream_get(n->st, stream, &ss, e);
	if (rc == SESS_ENOENT || rc == SESS_ECONFLICT || rc == SESS_EINVAL)
		return 0;
	if (rc != 0)
		return rc;
	if (ss.closed || strcmp(ss.content_type, "application/json") != 0 ||
	    ss.tail >= SESS_SEQ_MAX)
		return 0;
	sess_offset_fmt(seq, off);
	v = json_pack("{s:s, s:s, s:s?, s:s?, s:i}", "type", type, "offset",
	    off, "member", member && *member ? member : NULL, "channel", kind,
	    "attempts", attempts);
	if (v != NULL && key != NULL && why != NULL)
		json_object_set_new(v, key, json_string(why));
	text = v ? json_dumps(v, JSON_COMPACT) : NULL;
	json_decref(v);
	if (text == NULL)
		return sess_err_set(e, SESS_ENOMEM, "out of memory");
	memset(&it, 0, sizeof(it));
	it.json = text;
	it.len = strlen(text);
	it.type = type;
	it.typelen = strlen(type);
	it.units = 1;
	rc = sess_log_put_item(n->st, &ss, NULL, &it, 0, sess_now(), &got, e);
	free(text);
	if (rc != 0)
		return rc;
	/* The same statement as sess_append()'s, so the same slot. */
	s = sess_stmt(n->st, STMT_STREAM_TAIL,
	    "UPDATE streams SET tail = ?1 WHERE id = ?2", e);
	if (s == NULL)
		return e ? e->code : SESS_EIO;
	sqlite3_bind_int64(s, 1, ss.tail);
	sqlite3_bind_int64(s, 2, ss.id);
	if ((rc = sqlite3_step(s)) != SQLITE_DONE)
		return sess_dberr(n->st, rc, "append outcome", e);
	return 0;
}

static int
report(struct sess_notify *n, const char *action, const char *stream,
    int64_t seq, const char *member, const char *kind, const char *target,
    const char *why, int64_t when)
{
	char off[SESS_OFFSET_LEN + 1], t[32];
	json_t *v;
	char *text;

	if (n->cfg.report == NULL)
		return 0;
	sess_offset_fmt(seq, off);
	v = json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:s?, s:s?}", "action",
	    action, "stream", stream, "offset", off, "member",
	    member && *member ? member : NULL, "channel", kind, "target",
	    target, "reason", why);
	if (v != NULL && when > 0) {
		sess_time_fmt(when, t);
		json_object_set_new(v, "due", json_string(t));
	}
	text = v ? json_dumps(v, JSON_COMPACT) : NULL;
	json_decref(v);
	if (text == NULL)
		return SESS_ENOMEM;
	n->cfg.report(text, n->cfg.arg);
	free(text);
	return 0;
}

static int
insert_row(struct sess_notify *n, const char *stream, int64_t seq,
    const char *member, int64_t channel, const char *kind, const char *target,
    const char *note, const char *state, const char *reason,
    int64_t due, struct sess_err *e)
{
	sqlite3_stmt *s;
	int rc;

	if ((s = q(n, Q_INSERT, e)) == NULL)
		return e ? e->code : SESS_EIO;
	sqlite3_bind_text(s, 1, stream, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, seq);
	sqlite3_bind_text(s, 3, member, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, channel);
	if (kind != NULL)
		sqlite3_bind_text(s, 5, kind, -1, SQLITE_STATIC);
	if (target != NULL)
		sqlite3_bind_text(s, 6, target, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 7, note, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 8, state, -1, SQLITE_STATIC);
	if (strcmp(state, "failed") == 0)
		sqlite3_bind_text(s, 10, reason, -1, SQLITE_STATIC);
	else if (reason != NULL)
		sqlite3_bind_text(s, 9, reason, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 11, due);
	sqlite3_bind_int64(s, 12, sess_now());
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return sess_dberr(n->st, rc, "record notification", e);
	return 0;
}

/* A member name: 1 to 256 bytes of UTF-8 without control characters. */
static int
member_ok(const char *m)
{
	size_t len = strlen(m), i;
	long bad;

	if (len == 0 || len > SESS_MEMBER_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if ((unsigned char)m[i] < 0x20 || m[i] == 0x7f)
			return 0;
	return sess_utf8_prefix((const unsigned char *)m, len, &bad) == len &&
	    bad < 0;
}

static const char *
str_field(json_t *o, const char *key, size_t max, int *bad)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL || json_is_null(v))
		return NULL;
	if (!json_is_string(v) || json_string_length(v) > max) {
		*bad = 1;
		return NULL;
	}
	return json_string_value(v);
}

/*
 * Checks a notify field.  On success fills *note with the notification
 * as stored (new) and returns 0; otherwise puts the reason in why.
 */
static int
note_check(json_t *nf, char **note, char *why, size_t whylen)
{
	static const char *const prios[] = { "min", "low", "default", "high",
		"urgent" };
	const char *title, *body, *url, *prio;
	json_t *to, *m, *v;
	size_t i;
	int bad = 0, ok;

	*note = NULL;
	if (!json_is_object(nf)) {
		snprintf(why, whylen, "notify: not an object");
		return -1;
	}
	to = json_object_get(nf, "to");
	if (!json_is_array(to) || json_array_size(to) == 0 ||
	    json_array_size(to) > NOTE_TO_MAX) {
		snprintf(why, whylen, "notify: \"to\" must be a list of 1 to "
		    "%d member names", NOTE_TO_MAX);
		return -1;
	}
	json_array_foreach(to, i, m)
		if (!json_is_string(m) || !member_ok(json_string_value(m))) {
			snprintf(why, whylen, "notify: \"to\" must be a list "
			    "of member names (strings of 1 to %d bytes)",
			    SESS_MEMBER_MAX);
			return -1;
		}
	title = str_field(nf, "title", SESS_NOTIFY_TITLE_MAX, &bad);
	if (bad) {
		snprintf(why, whylen, "notify: \"title\" must be a string of "
		    "at most %d bytes", SESS_NOTIFY_TITLE_MAX);
		return -1;
	}
	body = str_field(nf, "body", SESS_NOTIFY_BODY_MAX, &bad);
	if (bad) {
		snprintf(why, whylen, "notify: \"body\" must be a string of "
		    "at most %d bytes", SESS_NOTIFY_BODY_MAX);
		return -1;
	}
	url = str_field(nf, "url", SESS_NOTIFY_URL_MAX, &bad);
	if (bad || (url != NULL && strncmp(url, "https://", 8) != 0 &&
	    strncmp(url, "http://", 7) != 0)) {
		snprintf(why, whylen, "notify: \"url\" must be an http(s) URL "
		    "of at most %d bytes", SESS_NOTIFY_URL_MAX);
		return -1;
	}
	prio = str_field(nf, "priority", 16, &bad);
	ok = prio == NULL;
	for (i = 0; prio != NULL && i < sizeof(prios) / sizeof(prios[0]); i++)
		ok |= strcmp(prio, prios[i]) == 0;
	if (bad || !ok) {
		snprintf(why, whylen, "notify: \"priority\" must be min, low, "
		    "default, high or urgent");
		return -1;
	}
	v = json_pack("{s:s?, s:s?, s:s?, s:s?}", "title", title, "body",
	    body, "url", url, "priority", prio);
	*note = v ? json_dumps(v, JSON_COMPACT) : NULL;
	json_decref(v);
	if (*note == NULL) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	return 0;
}

/* Creates the rows for one event's notify field. */
static int
scan_event(struct sess_notify *n, const char *stream, int64_t seq,
    int64_t time, json_t *nf, struct sess_err *e)
{
	char why[256], *note = NULL;
	sqlite3_stmt *s;
	json_t *m, *seen;
	size_t i;
	int rc = 0, found;

	if (note_check(nf, &note, why, sizeof(why)) != 0) {
		if ((rc = insert_row(n, stream, seq, "", 0, NULL, NULL, "{}",
		    "failed", why, time, e)) == 0 && sqlite3_changes(n->st->db))
			rc = outcome(n, stream, "notify.failed", seq, NULL,
			    NULL, 0, "error", why, e);
		if (rc == 0)
			rc = report(n, "fail", stream, seq, NULL, NULL, NULL,
			    why, 0);
		return rc;
	}
	seen = json_object();
	json_array_foreach(json_object_get(nf, "to"), i, m) {
		const char *member = json_string_value(m);

		if (json_object_get(seen, member) != NULL)
			continue;
		json_object_set_new(seen, member, json_true());
		if ((s = q(n, Q_CHANNELS, e)) == NULL) {
			rc = e ? e->code : SESS_EIO;
			break;
		}
		sqlite3_bind_text(s, 1, member, -1, SQLITE_STATIC);
		found = 0;
		/*
		 * The channels are read whole first: inserting while
		 * stepping would reuse statements under the cursor.
		 */
		{
			struct { int64_t id; char *kind, *target; } ch[64];
			int k, nch = 0;

			while ((rc = sqlite3_step(s)) == SQLITE_ROW &&
			    nch < 64) {
				ch[nch].id = sqlite3_column_int64(s, 0);
				ch[nch].kind = dup_col(s, 1);
				ch[nch].target = dup_col(s, 2);
				nch++;
			}
			sqlite3_reset(s);
			rc = 0;
			for (k = 0; k < nch; k++) {
				found = 1;
				if (rc == 0)
					rc = insert_row(n, stream, seq, member,
					    ch[k].id, ch[k].kind, ch[k].target,
					    note, "pending", NULL, time, e);
				free(ch[k].kind);
				free(ch[k].target);
			}
		}
		if (rc != 0)
			break;
		if (!found) {
			snprintf(why, sizeof(why), "unknown member: no channel "
			    "registered for '%s'", member);
			if ((rc = insert_row(n, stream, seq, member, 0, NULL,
			    NULL, note, "skipped", why, time, e)) == 0 &&
			    sqlite3_changes(n->st->db))
				rc = outcome(n, stream, "notify.skipped", seq,
				    member, NULL, 0, "reason", why, e);
			if (rc == 0)
				rc = report(n, "skip", stream, seq, member,
				    NULL, NULL, why, 0);
			if (rc != 0)
				break;
		}
	}
	json_decref(seen);
	free(note);
	return rc;
}

struct scan_stream {
	int64_t id, tail, pos;
	char *name;
};

/* Turns the notify fields of new events into rows; in a transaction. */
static int
scan(struct sess_notify *n, int *changed, struct sess_err *e)
{
	struct scan_stream *ss = NULL, *tmp;
	size_t nss = 0, cap = 0, i;
	sqlite3_stmt *s;
	int rc = 0;

	if ((s = q(n, Q_STREAMS, e)) == NULL)
		return e ? e->code : SESS_EIO;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (nss == cap) {
			cap = cap ? 2 * cap : 16;
			if ((tmp = realloc(ss, cap * sizeof(*ss))) == NULL) {
				rc = sess_err_set(e, SESS_ENOMEM,
				    "out of memory");
				goto out;
			}
			ss = tmp;
		}
		ss[nss].id = sqlite3_column_int64(s, 0);
		ss[nss].name = dup_col(s, 1);
		ss[nss].tail = sqlite3_column_int64(s, 2);
		ss[nss].pos = sqlite3_column_int64(s, 3);
		nss++;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		rc = sess_dberr(n->st, rc, "scan streams", e);
		goto out;
	}
	rc = 0;
	if (nss > 0)
		*changed = 1;
	for (i = 0; i < nss && rc == 0; i++) {
		while (ss[i].pos < ss[i].tail && rc == 0) {
			int64_t upto = ss[i].tail;
			struct { int64_t seq, time; json_t *nf; } *ev = NULL;
			size_t nev = 0, k;

			if (upto - ss[i].pos > SCAN_BATCH)
				upto = ss[i].pos + SCAN_BATCH;
			if ((s = q(n, Q_EVENTS, e)) == NULL) {
				rc = e ? e->code : SESS_EIO;
				break;
			}
			sqlite3_bind_int64(s, 1, ss[i].id);
			sqlite3_bind_int64(s, 2, ss[i].pos);
			sqlite3_bind_int64(s, 3, upto);
			if ((ev = calloc(SCAN_BATCH, sizeof(*ev))) == NULL) {
				rc = sess_err_set(e, SESS_ENOMEM,
				    "out of memory");
				break;
			}
			while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
				const char *d = sqlite3_column_blob(s, 2);
				int len = sqlite3_column_bytes(s, 2);
				json_t *v, *type;

				v = json_loadb(d ? d : "", (size_t)len, 0,
				    NULL);
				type = json_object_get(v, "type");
				/* Outcome events never notify. */
				if (json_is_object(v) && json_object_get(v,
				    "notify") != NULL && !(json_is_string(type)
				    && strncmp(json_string_value(type),
				    "notify.", 7) == 0)) {
					ev[nev].seq = sqlite3_column_int64(s,
					    0);
					ev[nev].time = sqlite3_column_int64(s,
					    1);
					ev[nev].nf = json_incref(
					    json_object_get(v, "notify"));
					nev++;
				}
				json_decref(v);
			}
			sqlite3_reset(s);
			rc = rc == SQLITE_DONE ? 0 :
			    sess_dberr(n->st, rc, "scan events", e);
			for (k = 0; k < nev; k++) {
				if (rc == 0)
					rc = scan_event(n, ss[i].name,
					    ev[k].seq, ev[k].time, ev[k].nf, e);
				json_decref(ev[k].nf);
			}
			free(ev);
			ss[i].pos = upto;
		}
		if (rc != 0)
			break;
		if ((s = q(n, Q_SCANPOS, e)) == NULL) {
			rc = e ? e->code : SESS_EIO;
			break;
		}
		sqlite3_bind_int64(s, 1, ss[i].id);
		sqlite3_bind_int64(s, 2, ss[i].pos);
		rc = sqlite3_step(s);
		sqlite3_reset(s);
		rc = rc == SQLITE_DONE ? 0 :
		    sess_dberr(n->st, rc, "scan position", e);
	}
out:
	for (i = 0; i < nss; i++)
		free(ss[i].name);
	free(ss);
	return rc;
}

/*
 * The away rule for member on stream and the event at seq, now.
 * Returns 0 (away: send), 1 (skip, why says so), or 2 (not yet: they
 * left less than the grace ago; *when is when they will be away).
 */
static int
away(struct sess_notify *n, const char *stream, const char *member,
    int64_t seq, int64_t now, int64_t *when, char *why, size_t whylen,
    struct sess_err *e)
{
	int64_t left = 0, t;
	sqlite3_stmt *s;
	int rc, present;

	if ((s = q(n, Q_AWAY, e)) == NULL)
		return e ? e->code : SESS_EIO;
	sqlite3_bind_text(s, 1, stream, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, member, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, now);
	if ((rc = sqlite3_step(s)) != SQLITE_ROW) {
		sqlite3_reset(s);
		return sess_dberr(n->st, rc, "read presence", e);
	}
	present = sqlite3_column_int(s, 0) > 0;
	/* A lease that ran out unswept is a leave at its expiry. */
	if (sqlite3_column_type(s, 1) != SQLITE_NULL)
		left = sqlite3_column_int64(s, 1);
	if (sqlite3_column_type(s, 2) != SQLITE_NULL &&
	    (t = sqlite3_column_int64(s, 2)) > left)
		left = t;
	if (present) {
		snprintf(why, whylen, "present");
		rc = 1;
	} else if (sqlite3_column_type(s, 3) != SQLITE_NULL &&
	    sqlite3_column_int64(s, 3) >= seq) {
		snprintf(why, whylen, "read");
		rc = 1;
	} else if (left > 0 && now < left + n->cfg.grace) {
		*when = left + n->cfg.grace;
		snprintf(why, whylen, "left less than the grace ago");
		rc = 2;
	} else
		rc = 0;
	sqlite3_reset(s);
	return rc;
}

static int
set_state(struct sess_notify *n, int64_t id, const char *state,
    const char *why, int64_t next, struct sess_err *e)
{
	sqlite3_stmt *s;
	int rc;

	if ((s = q(n, Q_SET, e)) == NULL)
		return e ? e->code : SESS_EIO;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_text(s, 2, state, -1, SQLITE_STATIC);
	if (why != NULL)
		sqlite3_bind_text(s, 3, why, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, next);
	sqlite3_bind_int64(s, 5, sess_now());
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : sess_dberr(n->st, rc, "update", e);
}

int
sess_notify_reclaim(struct sess_notify *n, struct sess_err *e)
{
	char host[64], **dead = NULL, **tmp;
	size_t nd = 0, i;
	sqlite3_stmt *s;
	int64_t now = sess_now();
	int rc, count = 0, own;

	host_name(host, sizeof(host));
	if ((rc = tx_begin(n->st, &own, e)) != 0)
		return rc;
	rc = sqlite3_prepare_v2(n->st->db, "SELECT DISTINCT holder FROM "
	    "notify_outbox WHERE state = 'pending' AND next_try > ?1 AND "
	    "holder IS NOT NULL", -1, &s, NULL);
	if (rc != SQLITE_OK) {
		rc = sess_dberr(n->st, rc, "reclaim", e);
		goto fail;
	}
	sqlite3_bind_int64(s, 1, now);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *h = (const char *)sqlite3_column_text(s, 0);
		size_t hl = strlen(host);
		long pid;
		long long start;
		char *end;

		if (h == NULL || strncmp(h, host, hl) != 0 || h[hl] != ':')
			continue;
		pid = strtol(h + hl + 1, &end, 10);
		if (*end != ':')
			continue;
		start = strtoll(end + 1, NULL, 10);
		if (proc_start(pid) == start && start != -1)
			continue;
		if ((tmp = realloc(dead, (nd + 1) * sizeof(*dead))) == NULL)
			break;
		dead = tmp;
		if ((dead[nd] = strdup(h)) != NULL)
			nd++;
	}
	sqlite3_finalize(s);
	rc = 0;
	for (i = 0; i < nd; i++) {
		if (rc == 0) {
			rc = sqlite3_prepare_v2(n->st->db, "UPDATE "
			    "notify_outbox SET next_try = ?1, lease = NULL, "
			    "holder = NULL WHERE holder = ?2 AND "
			    "state = 'pending'", -1, &s, NULL);
			if (rc == SQLITE_OK) {
				sqlite3_bind_int64(s, 1, now);
				sqlite3_bind_text(s, 2, dead[i], -1,
				    SQLITE_STATIC);
				rc = sqlite3_step(s);
				count += sqlite3_changes(n->st->db);
				sqlite3_finalize(s);
				rc = rc == SQLITE_DONE ? 0 : rc;
			}
			if (rc != 0)
				rc = sess_dberr(n->st, rc, "reclaim", e);
		}
		free(dead[i]);
	}
	free(dead);
	if (rc != 0)
		goto fail;
	if ((rc = tx_commit(n->st, own, e)) != 0)
		return rc;
	return count;
fail:
	tx_undo(n->st, own);
	return rc;
}

int
sess_notify_claim(struct sess_notify *n, size_t max, struct sess_note *out,
    size_t *nout, struct sess_err *e)
{
	struct sess_note *c = NULL;
	size_t nc = 0, i;
	sqlite3_stmt *s;
	int64_t now, when;
	char why[128];
	int rc, changed = 0, own;

	*nout = 0;
	if ((rc = tx_begin(n->st, &own, e)) != 0)
		return rc;
	/* The scan looks at every stream: once per wake-up is enough. */
	if (n->rescan && (rc = scan(n, &changed, e)) != 0)
		goto fail;
	now = sess_now();
	if ((c = calloc(max ? max : 1, sizeof(*c))) == NULL) {
		rc = sess_err_set(e, SESS_ENOMEM, "out of memory");
		goto fail;
	}
	if ((s = q(n, Q_CLAIM, e)) == NULL) {
		rc = e ? e->code : SESS_EIO;
		goto fail;
	}
	sqlite3_bind_int64(s, 1, now);
	sqlite3_bind_int(s, 2, n->cfg.stdout_kind);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)max);
	while (nc < max && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		c[nc].id = sqlite3_column_int64(s, 0);
		c[nc].stream = dup_col(s, 1);
		c[nc].seq = sqlite3_column_int64(s, 2);
		c[nc].member = dup_col(s, 3);
		c[nc].channel = sqlite3_column_int64(s, 4);
		c[nc].kind = dup_col(s, 5);
		c[nc].target = dup_col(s, 6);
		c[nc].note = dup_col(s, 7);
		c[nc].attempts = sqlite3_column_int(s, 8);
		nc++;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		rc = sess_dberr(n->st, rc, "claim", e);
		goto fail;
	}
	rc = 0;
	for (i = 0; i < nc; i++) {
		struct sess_note *no = &c[i];
		int a;

		when = 0;
		a = away(n, no->stream, no->member, no->seq, now, &when, why,
		    sizeof(why), e);
		if (a < 0) {
			rc = a;
			goto fail;
		}
		if (a == 1) {
			if ((rc = set_state(n, no->id, "skipped", why, now,
			    e)) != 0 || (rc = outcome(n, no->stream,
			    "notify.skipped", no->seq, no->member, no->kind,
			    no->attempts, "reason", why, e)) != 0 ||
			    (rc = report(n, "skip", no->stream, no->seq,
			    no->member, no->kind, no->target, why, 0)) != 0)
				goto fail;
			sess_note_free(no);
			continue;
		}
		if (a == 2) {
			if ((rc = set_state(n, no->id, "pending", NULL, when,
			    e)) != 0 || (rc = report(n, "wait", no->stream,
			    no->seq, no->member, no->kind, no->target, why,
			    when)) != 0)
				goto fail;
			sess_note_free(no);
			continue;
		}
		if (n->cfg.dry) {
			if ((rc = report(n, "send", no->stream, no->seq,
			    no->member, no->kind, no->target, "away", 0)) != 0)
				goto fail;
		}
		if ((s = q(n, Q_LEASE, e)) == NULL) {
			rc = e ? e->code : SESS_EIO;
			goto fail;
		}
		sqlite3_bind_int64(s, 1, no->id);
		sqlite3_bind_text(s, 2, n->holder, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 3, now + n->cfg.lease);
		sqlite3_bind_int64(s, 4, now);
		rc = sqlite3_step(s);
		sqlite3_reset(s);
		if (rc != SQLITE_DONE) {
			rc = sess_dberr(n->st, rc, "claim", e);
			goto fail;
		}
		rc = 0;
		no->attempts++;
		out[(*nout)++] = *no;
		memset(no, 0, sizeof(*no));
	}
	free(c);
	/*
	 * A dry run changes nothing: everything it did is rolled back.  So
	 * is a claim that found nothing to do: a commit would touch the wake
	 * file, and a follower would wake itself up forever.
	 */
	if (n->cfg.dry || (!changed && nc == 0)) {
		tx_undo(n->st, own);
		n->rescan = 0;
		return 0;
	}
	if ((rc = tx_commit(n->st, own, e)) == 0)
		n->rescan = 0;
	else {
		for (i = 0; i < *nout; i++)
			sess_note_free(&out[i]);
		*nout = 0;
	}
	return rc;
fail:
	tx_undo(n->st, own);
	for (i = 0; c != NULL && i < nc; i++)
		sess_note_free(&c[i]);
	free(c);
	for (i = 0; i < *nout; i++)
		sess_note_free(&out[i]);
	*nout = 0;
	return rc;
}

/* Exponential backoff with jitter: between half and all of base * 2^k. */
static int64_t
backoff(struct sess_notify *n, int attempts)
{
	int64_t d = n->cfg.backoff;
	int k;

	for (k = 1; k < attempts && d < BACKOFF_CAP_US; k++)
		d *= 2;
	if (d > BACKOFF_CAP_US)
		d = BACKOFF_CAP_US;
	n->rng = n->rng * 6364136223846793005ULL + 1442695040888963407ULL;
	return d / 2 + (int64_t)((n->rng >> 33) % (uint64_t)(d / 2 + 1));
}

int
sess_notify_finish(struct sess_notify *n, struct sess_note *notes, size_t nn,
    struct sess_err *e)
{
	sqlite3_stmt *s;
	int64_t now, next;
	const char *state, *type;
	size_t i;
	int rc, own;

	if (nn == 0)
		return 0;
	if ((rc = tx_begin(n->st, &own, e)) != 0)
		return rc;
	now = sess_now();
	for (i = 0; i < nn; i++) {
		struct sess_note *no = &notes[i];

		next = now;
		type = NULL;
		switch (no->result) {
		case SESS_NOTE_SENT:
			state = "sent";
			type = "notify.sent";
			break;
		case SESS_NOTE_RETRY:
			if (no->attempts < n->cfg.max_tries) {
				state = "pending";
				next = now + backoff(n, no->attempts);
				if (no->retry_after > 0 &&
				    now + no->retry_after > next)
					next = now + no->retry_after;
				break;
			}
			/* FALLTHROUGH */
		default:
			state = "failed";
			type = "notify.failed";
			break;
		}
		if ((s = q(n, Q_FINISH, e)) == NULL) {
			rc = e ? e->code : SESS_EIO;
			goto fail;
		}
		sqlite3_bind_int64(s, 1, no->id);
		sqlite3_bind_text(s, 2, n->holder, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, state, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 4, next);
		if (no->result != SESS_NOTE_SENT)
			sqlite3_bind_text(s, 5, no->error, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 6, now);
		rc = sqlite3_step(s);
		sqlite3_reset(s);
		if (rc != SQLITE_DONE) {
			rc = sess_dberr(n->st, rc, "record outcome", e);
			goto fail;
		}
		rc = 0;
		/* The lease was lost to another worker: its outcome counts. */
		if (sqlite3_changes(n->st->db) == 0) {
			no->lost = 1;
			continue;
		}
		no->next_try = strcmp(state, "pending") == 0 ? next : 0;
		if (no->result == SESS_NOTE_GONE && (rc = sess_notify_channel_del(
		    n->st, 0, no->channel, NULL, NULL, NULL, e)) < 0)
			goto fail;
		rc = 0;
		if (type != NULL && (rc = outcome(n, no->stream, type, no->seq,
		    no->member, no->kind, no->attempts, type[7] == 'f' ?
		    "error" : NULL, type[7] == 'f' ? no->error : NULL, e)) != 0)
			goto fail;
	}
	return tx_commit(n->st, own, e);
fail:
	tx_undo(n->st, own);
	return rc;
}

void
sess_notify_rescan(struct sess_notify *n)
{
	n->rescan = 1;
}

int
sess_notify_next(struct sess_notify *n, int64_t *when, struct sess_err *e)
{
	sqlite3_stmt *s;
	int rc;

	*when = 0;
	if ((s = q(n, Q_NEXT, e)) == NULL)
		return e ? e->code : SESS_EIO;
	sqlite3_bind_int(s, 1, n->cfg.stdout_kind);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
		*when = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	if (rc != SQLITE_ROW)
		return sess_dberr(n->st, rc, "read the outbox", e);
	return 0;
}

/* Channels. */

static int
http_url(const char *u)
{
	size_t i;

	if (strncasecmp(u, "http://", 7) != 0 &&
	    strncasecmp(u, "https://", 8) != 0)
		return 0;
	if (u[u[4] == ':' ? 7 : 8] == '\0' || strlen(u) > SESS_NOTIFY_URL_MAX)
		return 0;
	for (i = 0; u[i]; i++)
		if ((unsigned char)u[i] <= 0x20 || u[i] == 0x7f)
			return 0;
	return 1;
}

/* A bare address: local@domain, printable ASCII, no specials. */
static const char *
email_bad(const char *a)
{
	const char *at = strchr(a, '@');
	size_t i;

	if (strchr(a, '\r') || strchr(a, '\n'))
		return "contains CR or LF";
	if (strlen(a) > 254)
		return "is longer than 254 bytes";
	for (i = 0; a[i]; i++)
		if ((unsigned char)a[i] <= 0x20 || (unsigned char)a[i] >= 0x7f
		    || strchr("<>()[],;:\\\"", a[i]) != NULL)
			return "has a character not allowed in an address";
	if (at == NULL || at == a || at[1] == '\0' || strchr(at + 1, '@'))
		return "is not of the form local@domain";
	return NULL;
}

static int
b64url_len(const char *s, size_t want)
{
	unsigned char buf[128];
	long n = sess_b64url_decode(s, buf, sizeof(buf));

	return n >= 0 && (size_t)n == want;
}

int
sess_notify_channel_check(const char *kind, const char *target, char **canon,
    struct sess_err *e)
{
	const char *why;

	*canon = NULL;
	if (strcmp(kind, "webhook") == 0 || strcmp(kind, "ntfy") == 0) {
		if (!http_url(target))
			return sess_err_set(e, SESS_EINVAL, "%s: '%s' is not "
			    "an http(s) URL", kind, target);
	} else if (strcmp(kind, "email") == 0) {
		if ((why = email_bad(target)) != NULL)
			return sess_err_set(e, SESS_EINVAL, "email: address "
			    "%s", why);
	} else if (strcmp(kind, "webpush") == 0) {
		json_t *v, *keys, *ep, *p, *a;
		struct sess_err pe;

		if ((v = sess_json_parse(target, strlen(target), &pe)) ==
		    NULL)
			return sess_err_set(e, SESS_EINVAL, "webpush: not a "
			    "PushSubscription: %s", pe.msg);
		ep = json_object_get(v, "endpoint");
		keys = json_object_get(v, "keys");
		p = json_object_get(keys, "p256dh");
		a = json_object_get(keys, "auth");
		if (!json_is_string(ep) || !http_url(json_string_value(ep)))
			why = "\"endpoint\" must be an http(s) URL";
		else if (!json_is_string(p) || !json_is_string(a))
			why = "\"keys\" must have \"p256dh\" and \"auth\"";
		else if (!b64url_len(json_string_value(p), 65) ||
		    json_string_value(p)[0] != 'B' ||
		    sess_push_key_check(json_string_value(p)) != 0)
			why = "\"p256dh\" must be a P-256 public key in "
			    "base64url (65 bytes)";
		else if (!b64url_len(json_string_value(a), 16))
			why = "\"auth\" must be 16 bytes in base64url";
		else
			why = NULL;
		if (why == NULL) {
			json_t *c = json_pack("{s:O, s:{s:O, s:O}}",
			    "endpoint", ep, "keys", "p256dh", p, "auth", a);

			*canon = c ? json_dumps(c, JSON_COMPACT) : NULL;
			json_decref(c);
		}
		json_decref(v);
		if (why != NULL)
			return sess_err_set(e, SESS_EINVAL, "webpush: %s", why);
		if (*canon == NULL)
			return sess_err_set(e, SESS_ENOMEM, "out of memory");
		return 0;
	} else if (strcmp(kind, "stdout") == 0) {
		if (*target == '\0')
			return sess_err_set(e, SESS_EINVAL, "stdout: give a "
			    "target (any label, such as -)");
	} else
		return sess_err_set(e, SESS_EINVAL, "'%s': unknown channel "
		    "kind (webhook, ntfy, email, webpush or stdout)", kind);
	if ((*canon = strdup(target)) == NULL)
		return sess_err_set(e, SESS_ENOMEM, "out of memory");
	return 0;
}

int
sess_notify_channel_add(struct sess_store *st, int own_tx, const char *member,
    const char *kind, const char *target, struct sess_err *e)
{
	sqlite3_stmt *s;
	char *canon;
	int rc;

	if (!member_ok(member))
		return sess_err_set(e, SESS_EINVAL, "'%s': not a member name "
		    "(1 to %d bytes, no control characters)", member,
		    SESS_MEMBER_MAX);
	if ((rc = sess_notify_channel_check(kind, target, &canon, e)) != 0)
		return rc;
	/* Registered by hand, a channel from the channel file stays. */
	rc = sqlite3_prepare_v2(st->db, "INSERT INTO notify_channels (member, "
	    "kind, target, created) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO "
	    "UPDATE SET config = 0 WHERE config = 1", -1, &s, NULL);
	if (rc != SQLITE_OK) {
		free(canon);
		return sess_dberr(st, rc, "register", e);
	}
	sqlite3_bind_text(s, 1, member, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, canon, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, sess_now());
	if (own_tx && (rc = sess_tx_begin(st, e)) != 0) {
		sqlite3_finalize(s);
		free(canon);
		return rc;
	}
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	free(canon);
	if (rc != SQLITE_DONE) {
		rc = sess_dberr(st, rc, "register", e);
		if (own_tx)
			sess_tx_rollback(st);
		return rc;
	}
	rc = sqlite3_changes(st->db);
	if (own_tx && sess_tx_commit(st, e) != 0)
		return e ? e->code : SESS_EIO;
	return rc;
}

int
sess_notify_channel_del(struct sess_store *st, int own_tx, int64_t id,
    const char *member, const char *kind, const char *target,
    struct sess_err *e)
{
	sqlite3_stmt *s;
	char *canon = NULL;
	int rc;

	if (member != NULL && (rc = sess_notify_channel_check(kind, target,
	    &canon, e)) != 0) {
		/* A target that was never valid cannot be registered. */
		return sess_err_set(e, SESS_ENOENT, "%s: no %s channel '%s'",
		    member, kind, target);
	}
	rc = sqlite3_prepare_v2(st->db, member != NULL ? "DELETE FROM "
	    "notify_channels WHERE member = ?1 AND kind = ?2 AND target = ?3" :
	    "DELETE FROM notify_channels WHERE id = ?4", -1, &s, NULL);
	if (rc != SQLITE_OK) {
		free(canon);
		return sess_dberr(st, rc, "remove channel", e);
	}
	if (member != NULL) {
		sqlite3_bind_text(s, 1, member, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, kind, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, canon, -1, SQLITE_STATIC);
	} else
		sqlite3_bind_int64(s, 4, id);
	if (own_tx && (rc = sess_tx_begin(st, e)) != 0) {
		sqlite3_finalize(s);
		free(canon);
		return rc;
	}
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	free(canon);
	if (rc != SQLITE_DONE) {
		rc = sess_dberr(st, rc, "remove channel", e);
		if (own_tx)
			sess_tx_rollback(st);
		return rc;
	}
	rc = sqlite3_changes(st->db);
	if (own_tx && sess_tx_commit(st, e) != 0)
		return e ? e->code : SESS_EIO;
	if (rc == 0 && member != NULL)
		return sess_err_set(e, SESS_ENOENT, "%s: no %s channel '%s'",
		    member, kind, target);
	return rc;
}

int
sess_notify_key(struct sess_store *st, int own_tx, const char *name,
    char *(*make)(void), char **out, struct sess_err *e)
{
	sqlite3_stmt *s;
	char *v = NULL;
	int rc;

	*out = NULL;
	if (own_tx && (rc = sess_tx_begin(st, e)) != 0)
		return rc;
	rc = sqlite3_prepare_v2(st->db, "SELECT value FROM notify_keys "
	    "WHERE name = ?1", -1, &s, NULL);
	if (rc != SQLITE_OK) {
		rc = sess_dberr(st, rc, "read key", e);
		goto fail;
	}
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW)
		v = dup_col(s, 0);
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		rc = sess_dberr(st, rc, "read key", e);
		goto fail;
	}
	if (v == NULL) {
		/* Generated on first use, under the write lock: one wins. */
		if (make == NULL) {
			rc = sess_err_set(e, SESS_ENOENT, "no %s key yet",
			    name);
			goto fail;
		}
		if ((v = make()) == NULL) {
			rc = sess_err_set(e, SESS_EIO, "cannot generate the "
			    "%s key", name);
			goto fail;
		}
		rc = sqlite3_prepare_v2(st->db, "INSERT INTO notify_keys "
		    "(name, value) VALUES (?1, ?2)", -1, &s, NULL);
		if (rc != SQLITE_OK) {
			rc = sess_dberr(st, rc, "store key", e);
			goto fail;
		}
		sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, v, -1, SQLITE_STATIC);
		rc = sqlite3_step(s);
		sqlite3_finalize(s);
		if (rc != SQLITE_DONE) {
			rc = sess_dberr(st, rc, "store key", e);
			goto fail;
		}
	}
	if (own_tx && (rc = sess_tx_commit(st, e)) != 0) {
		free(v);
		return rc;
	}
	*out = v;
	return 0;
fail:
	free(v);
	if (own_tx)
		sess_tx_rollback(st);
	return rc;
}

/* The channel file. */

struct cfg_line {
	char *member, *kind, *target;     /* target canonical */
};

static void
cfg_free(struct cfg_line *l, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(l[i].member);
		free(l[i].kind);
		free(l[i].target);
	}
	free(l);
}

/* Splits off the next word of *p (ends it with a NUL); NULL at the end. */
static char *
word(char **p)
{
	char *w = *p + strspn(*p, " \t");

	if (*w == '\0')
		return NULL;
	*p = w + strcspn(w, " \t");
	if (**p != '\0')
		*(*p)++ = '\0';
	return w;
}

/*
 * Reads and checks the whole channel file: the lines, or an error
 * naming the file and line.  A file that does not exist has no lines.
 */
static int
cfg_read(const char *path, struct cfg_line **out, size_t *nout,
    struct sess_err *e)
{
	struct cfg_line *l = NULL, *tmp;
	size_t n = 0, cap = 0, len;
	char *line = NULL, *p, *member, *kind, *canon;
	ssize_t got;
	size_t lsize = 0;
	long lineno = 0;
	struct sess_err ce;
	FILE *f;
	int rc = 0;

	*out = NULL;
	*nout = 0;
	if ((f = fopen(path, "r")) == NULL) {
		if (errno == ENOENT)
			return 0;
		return sess_err_set(e, SESS_EIO, "%s: %s", path,
		    strerror(errno));
	}
	while ((got = getline(&line, &lsize, f)) != -1) {
		lineno++;
		len = (size_t)got;
		if (memchr(line, '\0', len) != NULL) {
			rc = sess_err_set(e, SESS_EINVAL, "%s:%ld: a NUL byte",
			    path, lineno);
			break;
		}
		while (len > 0 && strchr(" \t\r\n", line[len - 1]) != NULL)
			line[--len] = '\0';
		p = line + strspn(line, " \t");
		if (*p == '\0' || *p == '#')
			continue;
		member = word(&p);
		kind = word(&p);
		p += strspn(p, " \t");
		if (kind == NULL || *p == '\0') {
			rc = sess_err_set(e, SESS_EINVAL, "%s:%ld: expected "
			    "MEMBER KIND TARGET", path, lineno);
			break;
		}
		if (!member_ok(member)) {
			rc = sess_err_set(e, SESS_EINVAL, "%s:%ld: '%.256s': "
			    "not a member name", path, lineno, member);
			break;
		}
		if (sess_notify_channel_check(kind, p, &canon, &ce) != 0) {
			rc = sess_err_set(e, SESS_EINVAL, "%s:%ld: %s", path,
			    lineno, ce.msg);
			break;
		}
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			if ((tmp = realloc(l, cap * sizeof(*l))) == NULL) {
				free(canon);
				rc = sess_err_set(e, SESS_ENOMEM,
				    "out of memory");
				break;
			}
			l = tmp;
		}
		l[n].member = strdup(member);
		l[n].kind = strdup(kind);
		l[n].target = canon;
		n++;
		if (l[n - 1].member == NULL || l[n - 1].kind == NULL) {
			rc = sess_err_set(e, SESS_ENOMEM, "out of memory");
			break;
		}
	}
	if (rc == 0 && ferror(f))
		rc = sess_err_set(e, SESS_EIO, "%s: %s", path,
		    strerror(errno));
	free(line);
	fclose(f);
	if (rc != 0) {
		cfg_free(l, n);
		return rc;
	}
	*out = l;
	*nout = n;
	return 0;
}

/* The key of a channel in the set of the file's: member, kind, target. */
static char *
cfg_key(const char *member, const char *kind, const char *target)
{
	size_t len = strlen(member) + strlen(kind) + strlen(target) + 3;
	char *k = malloc(len);

	if (k != NULL)
		snprintf(k, len, "%s\n%s\n%s", member, kind, target);
	return k;
}

int
sess_notify_config_sync(struct sess_store *st, const char *path, int check,
    struct sess_err *e)
{
	struct cfg_line *l;
	size_t n, i;
	sqlite3_stmt *s = NULL, *add = NULL;
	json_t *want = NULL;
	int64_t *gone = NULL, *tmp;
	size_t ngone = 0, cap = 0;
	int rc, changes = 0, own;
	char *k;

	if ((rc = cfg_read(path, &l, &n, e)) != 0 || check) {
		cfg_free(l, n);
		return rc;
	}
	if ((want = json_object()) == NULL) {
		cfg_free(l, n);
		return sess_err_set(e, SESS_ENOMEM, "out of memory");
	}
	for (i = 0; i < n; i++) {
		if ((k = cfg_key(l[i].member, l[i].kind, l[i].target)) ==
		    NULL || json_object_set_new(want, k, json_true()) != 0) {
			free(k);
			rc = sess_err_set(e, SESS_ENOMEM, "out of memory");
			goto out;
		}
		free(k);
	}
	if ((rc = tx_begin(st, &own, e)) != 0)
		goto out;
	/* A channel there already, from the file or not, is left as it is. */
	rc = sqlite3_prepare_v2(st->db, "INSERT INTO notify_channels (member, "
	    "kind, target, created, config) VALUES (?1, ?2, ?3, ?4, 1) "
	    "ON CONFLICT DO NOTHING", -1, &add, NULL);
	for (i = 0; i < n && rc == SQLITE_OK; i++) {
		sqlite3_reset(add);
		sqlite3_bind_text(add, 1, l[i].member, -1, SQLITE_STATIC);
		sqlite3_bind_text(add, 2, l[i].kind, -1, SQLITE_STATIC);
		sqlite3_bind_text(add, 3, l[i].target, -1, SQLITE_STATIC);
		sqlite3_bind_int64(add, 4, sess_now());
		if ((rc = sqlite3_step(add)) == SQLITE_DONE) {
			changes += sqlite3_changes(st->db);
			rc = SQLITE_OK;
		}
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(st->db, "SELECT id, member, kind, "
		    "target FROM notify_channels WHERE config = 1", -1, &s,
		    NULL);
	while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		k = cfg_key((const char *)sqlite3_column_text(s, 1),
		    (const char *)sqlite3_column_text(s, 2),
		    (const char *)sqlite3_column_text(s, 3));
		if (k == NULL) {
			rc = SQLITE_NOMEM;
			break;
		}
		if (json_object_get(want, k) == NULL) {
			if (ngone == cap) {
				cap = cap ? 2 * cap : 16;
				if ((tmp = realloc(gone, cap * sizeof(*gone)))
				    == NULL) {
					free(k);
					rc = SQLITE_NOMEM;
					break;
				}
				gone = tmp;
			}
			gone[ngone++] = sqlite3_column_int64(s, 0);
		}
		free(k);
		rc = SQLITE_OK;
	}
	if (rc == SQLITE_DONE)
		rc = SQLITE_OK;
	sqlite3_finalize(s);
	sqlite3_finalize(add);
	if (rc != SQLITE_OK) {
		rc = sess_dberr(st, rc, "channel file", e);
		tx_undo(st, own);
		goto out;
	}
	for (i = 0; i < ngone; i++) {
		if ((rc = sess_notify_channel_del(st, 0, gone[i], NULL, NULL,
		    NULL, e)) < 0) {
			tx_undo(st, own);
			goto out;
		}
		changes += rc;
	}
	/* No commit without a change: it would wake every follower. */
	if (changes == 0) {
		tx_undo(st, own);
		rc = 0;
	} else if ((rc = tx_commit(st, own, e)) == 0)
		rc = changes;
out:
	free(gone);
	json_decref(want);
	cfg_free(l, n);
	return rc;
}

void
sess_notify_self(char *out, size_t size)
{
	char host[64];

	host_name(host, sizeof(host));
	snprintf(out, size, "%s:%ld:%lld", host, (long)getpid(),
	    proc_start((long)getpid()));
}

/* Notes as JSON, for sess-notify -u and sessd's /v1/notify/. */

json_t *
sess_note_to_json(const struct sess_note *no)
{
	json_t *v = json_pack("{s:I, s:s, s:I, s:s, s:I, s:s, s:s, s:s, s:i}",
	    "id", (json_int_t)no->id, "stream", no->stream ? no->stream : "",
	    "seq", (json_int_t)no->seq, "member", no->member ? no->member : "",
	    "channel", (json_int_t)no->channel, "kind", no->kind ? no->kind :
	    "", "target", no->target ? no->target : "", "note", no->note ?
	    no->note : "{}", "attempts", no->attempts);

	if (v == NULL)
		return NULL;
	if (no->result != 0) {
		json_object_set_new(v, "result", json_integer(no->result));
		json_object_set_new(v, "retry_after",
		    json_integer(no->retry_after));
		json_object_set_new(v, "error", json_string(no->error));
	}
	if (no->lost)
		json_object_set_new(v, "lost", json_true());
	if (no->next_try)
		json_object_set_new(v, "next_try", json_integer(no->next_try));
	return v;
}

static char *
json_dup(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? strdup(s) : NULL;
}

int
sess_note_from_json(json_t *v, struct sess_note *no, struct sess_err *e)
{
	const char *err;

	memset(no, 0, sizeof(*no));
	if (!json_is_object(v) || !json_is_integer(json_object_get(v, "id")) ||
	    !json_is_integer(json_object_get(v, "seq")) ||
	    !json_is_integer(json_object_get(v, "channel")) ||
	    !json_is_integer(json_object_get(v, "attempts")))
		return sess_err_set(e, SESS_EINVAL, "not a notification");
	no->id = json_integer_value(json_object_get(v, "id"));
	no->seq = json_integer_value(json_object_get(v, "seq"));
	no->channel = json_integer_value(json_object_get(v, "channel"));
	no->attempts = (int)json_integer_value(json_object_get(v,
	    "attempts"));
	no->stream = json_dup(v, "stream");
	no->member = json_dup(v, "member");
	no->kind = json_dup(v, "kind");
	no->target = json_dup(v, "target");
	no->note = json_dup(v, "note");
	if (no->stream == NULL || no->member == NULL || no->kind == NULL ||
	    no->target == NULL || no->note == NULL) {
		sess_note_free(no);
		return sess_err_set(e, SESS_EINVAL, "not a notification");
	}
	no->result = (int)json_integer_value(json_object_get(v, "result"));
	if (no->result < 0 || no->result > SESS_NOTE_GONE)
		no->result = SESS_NOTE_FAIL;
	no->retry_after = json_integer_value(json_object_get(v,
	    "retry_after"));
	if ((err = json_string_value(json_object_get(v, "error"))) != NULL)
		snprintf(no->error, sizeof(no->error), "%s", err);
	no->lost = json_is_true(json_object_get(v, "lost"));
	no->next_try = json_integer_value(json_object_get(v, "next_try"));
	return 0;
}
