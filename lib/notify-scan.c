/* notify-scan.c: turning the notify fields of new events into outbox rows. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "notify.h"

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

static int
insert_row(struct sess_notify *n, const char *stream, int64_t seq,
    const char *member, int64_t channel, const char *kind, const char *target,
    const char *note, const char *state, const char *reason,
    int64_t due, struct sess_err *e)
{
	sqlite3_stmt *s;
	int rc;

	if ((s = sess_notify_q(n, Q_INSERT, e)) == NULL)
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
		if (!json_is_string(m) ||
		    !sess_notify_member_ok(json_string_value(m))) {
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
			rc = sess_notify_outcome(n, stream, "notify.failed",
			    seq, NULL, NULL, 0, "error", why, e);
		if (rc == 0)
			rc = sess_notify_report(n, "fail", stream, seq, NULL,
			    NULL, NULL, why, 0);
		return rc;
	}
	seen = json_object();
	json_array_foreach(json_object_get(nf, "to"), i, m) {
		const char *member = json_string_value(m);

		if (json_object_get(seen, member) != NULL)
			continue;
		json_object_set_new(seen, member, json_true());
		if ((s = sess_notify_q(n, Q_CHANNELS, e)) == NULL) {
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
				ch[nch].kind = sess_notify_col(s, 1);
				ch[nch].target = sess_notify_col(s, 2);
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
				rc = sess_notify_outcome(n, stream,
				    "notify.skipped", seq, member, NULL, 0,
				    "reason", why, e);
			if (rc == 0)
				rc = sess_notify_report(n, "skip", stream, seq,
				    member, NULL, NULL, why, 0);
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

/* The streams with events the scan has not seen: *out, *nout of them. */
static int
scan_streams(struct sess_notify *n, struct scan_stream **out, size_t *nout,
    struct sess_err *e)
{
	struct scan_stream *ss = NULL, *tmp;
	size_t nss = 0, cap = 0;
	sqlite3_stmt *s;
	int rc;

	if ((s = sess_notify_q(n, Q_STREAMS, e)) == NULL)
		return e ? e->code : SESS_EIO;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (nss == cap) {
			cap = cap ? 2 * cap : 16;
			if ((tmp = realloc(ss, cap * sizeof(*ss))) == NULL) {
				rc = SQLITE_NOMEM;
				break;
			}
			ss = tmp;
		}
		ss[nss].id = sqlite3_column_int64(s, 0);
		ss[nss].name = sess_notify_col(s, 1);
		ss[nss].tail = sqlite3_column_int64(s, 2);
		ss[nss].pos = sqlite3_column_int64(s, 3);
		nss++;
	}
	sqlite3_reset(s);
	*out = ss;
	*nout = nss;
	if (rc == SQLITE_NOMEM)
		return sess_err_set(e, SESS_ENOMEM, "out of memory");
	return rc == SQLITE_DONE ? 0 : sess_dberr(n->st, rc, "scan streams",
	    e);
}

/* An event of a batch that asks for a notification. */
struct scan_ev {
	int64_t seq, time;
	json_t *nf;
};

/*
 * One batch of stream ss after ss->pos (SCAN_BATCH events at most): the
 * events with a notify field, outcome events aside, made into rows.
 */
static int
scan_batch(struct sess_notify *n, struct scan_stream *ss, struct sess_err *e)
{
	int64_t upto = ss->tail;
	struct scan_ev *ev;
	sqlite3_stmt *s;
	size_t nev = 0, k;
	int rc;

	if (upto - ss->pos > SCAN_BATCH)
		upto = ss->pos + SCAN_BATCH;
	if ((s = sess_notify_q(n, Q_EVENTS, e)) == NULL)
		return e ? e->code : SESS_EIO;
	if ((ev = calloc(SCAN_BATCH, sizeof(*ev))) == NULL)
		return sess_err_set(e, SESS_ENOMEM, "out of memory");
	sqlite3_bind_int64(s, 1, ss->id);
	sqlite3_bind_int64(s, 2, ss->pos);
	sqlite3_bind_int64(s, 3, upto);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *d = sqlite3_column_blob(s, 2);
		int len = sqlite3_column_bytes(s, 2);
		json_t *v, *type;

		v = json_loadb(d ? d : "", (size_t)len, 0, NULL);
		type = json_object_get(v, "type");
		/* Outcome events never notify. */
		if (json_is_object(v) && json_object_get(v, "notify") != NULL &&
		    !(json_is_string(type) && strncmp(json_string_value(type),
		    "notify.", 7) == 0)) {
			ev[nev].seq = sqlite3_column_int64(s, 0);
			ev[nev].time = sqlite3_column_int64(s, 1);
			ev[nev].nf = json_incref(json_object_get(v, "notify"));
			nev++;
		}
		json_decref(v);
	}
	sqlite3_reset(s);
	rc = rc == SQLITE_DONE ? 0 : sess_dberr(n->st, rc, "scan events", e);
	for (k = 0; k < nev; k++) {
		if (rc == 0)
			rc = scan_event(n, ss->name, ev[k].seq, ev[k].time,
			    ev[k].nf, e);
		json_decref(ev[k].nf);
	}
	free(ev);
	if (rc == 0)
		ss->pos = upto;
	return rc;
}

/* Where the scan of stream ss is now, kept for the next one. */
static int
scan_save(struct sess_notify *n, const struct scan_stream *ss,
    struct sess_err *e)
{
	sqlite3_stmt *s;
	int rc;

	if ((s = sess_notify_q(n, Q_SCANPOS, e)) == NULL)
		return e ? e->code : SESS_EIO;
	sqlite3_bind_int64(s, 1, ss->id);
	sqlite3_bind_int64(s, 2, ss->pos);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : sess_dberr(n->st, rc, "scan position",
	    e);
}

/* Turns the notify fields of new events into rows; in a transaction. */
int
sess_notify_scan(struct sess_notify *n, int *changed, struct sess_err *e)
{
	struct scan_stream *ss = NULL;
	size_t nss = 0, i;
	int rc;

	rc = scan_streams(n, &ss, &nss, e);
	if (rc == 0 && nss > 0)
		*changed = 1;
	for (i = 0; i < nss && rc == 0; i++) {
		while (ss[i].pos < ss[i].tail && rc == 0)
			rc = scan_batch(n, &ss[i], e);
		if (rc == 0)
			rc = scan_save(n, &ss[i], e);
	}
	for (i = 0; i < nss; i++)
		free(ss[i].name);
	free(ss);
	return rc;
}
