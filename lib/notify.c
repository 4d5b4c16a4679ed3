/* notify.c: the notification outbox: the away rule, claims, outcomes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "notify.h"

#define LEASE_US (120 * 1000000LL)
#define BACKOFF_CAP_US (3600 * 1000000LL)

/*
 * Held back for the grace.  A row whose recipient left less than the
 * grace ago stays pending with this reason and next_try set to when
 * they left, not to when the grace ends: each pass adds its own grace
 * (-g) when it decides whether the row is due, so a shorter grace
 * given later shortens the wait, and a pass can list what still waits.
 * A lease clears the reason; no other pending row has one.
 */
#define WAIT_REASON "left less than the grace ago"

/* The statements of the outbox, the scan's (notify-scan.c) among them. */
static const char *const sql[Q_MAX] = {
	[Q_CLAIM] = "SELECT id, stream, seq, member, channel, kind, target, "
	    "note, attempts FROM notify_outbox WHERE state = 'pending' AND "
	    "next_try <= ?1 AND (reason IS NULL OR next_try <= ?1 - ?4) AND "
	    "(?2 OR kind IS NOT 'stdout') ORDER BY next_try, id LIMIT ?3",
	[Q_LEASE] = "UPDATE notify_outbox SET attempts = attempts + 1, "
	    "holder = ?2, lease = ?3, next_try = ?3, reason = NULL, "
	    "updated = ?4 WHERE id = ?1",
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
	[Q_NEXT] = "SELECT min(CASE WHEN reason IS NULL THEN next_try ELSE "
	    "next_try + ?2 END) FROM notify_outbox WHERE state = 'pending' "
	    "AND (?1 OR kind IS NOT 'stdout')",
	[Q_WAITING] = "SELECT stream, seq, member, kind, target, "
	    "next_try + ?2 FROM notify_outbox WHERE state = 'pending' AND "
	    "reason IS NOT NULL AND next_try > ?1 - ?2 AND "
	    "(?3 OR kind IS NOT 'stdout') ORDER BY next_try, id",
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

sqlite3_stmt *
sess_notify_q(struct sess_notify *n, int i, struct sess_err *e)
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

char *
sess_notify_col(sqlite3_stmt *s, int i)
{
	const char *p = (const char *)sqlite3_column_text(s, i);

	return strdup(p ? p : "");
}

/*
 * Appends an outcome event to stream in the running transaction.  A
 * stream that is gone, closed or not JSON gets none: the outbox row
 * still records the outcome.
 */
int
sess_notify_outcome(struct sess_notify *n, const char *stream, const char *type,
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

int
sess_notify_report(struct sess_notify *n, const char *action,
    const char *stream, int64_t seq, const char *member, const char *kind,
    const char *target, const char *why, int64_t when)
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

/*
 * The away rule for member on stream and the event at seq, now.
 * Returns 0 (away: send), 1 (skip, why says so), or 2 (not yet: they
 * left less than the grace ago; *when is when they left).
 */
static int
away(struct sess_notify *n, const char *stream, const char *member,
    int64_t seq, int64_t now, int64_t *when, char *why, size_t whylen,
    struct sess_err *e)
{
	int64_t left = 0, t;
	sqlite3_stmt *s;
	int rc, present;

	if ((s = sess_notify_q(n, Q_AWAY, e)) == NULL)
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
		*when = left;
		snprintf(why, whylen, WAIT_REASON);
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

	if ((s = sess_notify_q(n, Q_SET, e)) == NULL)
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

/* Reads up to max due rows into c[0..*nc). */
static int
due_rows(struct sess_notify *n, int64_t now, size_t max, struct sess_note *c,
    size_t *nc, struct sess_err *e)
{
	sqlite3_stmt *s;
	int rc = SQLITE_DONE;

	if ((s = sess_notify_q(n, Q_CLAIM, e)) == NULL)
		return e ? e->code : SESS_EIO;
	sqlite3_bind_int64(s, 1, now);
	sqlite3_bind_int(s, 2, n->cfg.stdout_kind);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)max);
	sqlite3_bind_int64(s, 4, n->cfg.grace);
	while (*nc < max && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct sess_note *no = &c[(*nc)++];

		no->id = sqlite3_column_int64(s, 0);
		no->stream = sess_notify_col(s, 1);
		no->seq = sqlite3_column_int64(s, 2);
		no->member = sess_notify_col(s, 3);
		no->channel = sqlite3_column_int64(s, 4);
		no->kind = sess_notify_col(s, 5);
		no->target = sess_notify_col(s, 6);
		no->note = sess_notify_col(s, 7);
		no->attempts = sqlite3_column_int(s, 8);
	}
	sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sess_dberr(n->st, rc, "claim", e);
	return 0;
}

/* A row whose recipient is present or has read: skipped, with why. */
static int
skip_row(struct sess_notify *n, struct sess_note *no, const char *why,
    int64_t now, struct sess_err *e)
{
	int rc;

	if ((rc = set_state(n, no->id, "skipped", why, now, e)) != 0 ||
	    (rc = sess_notify_outcome(n, no->stream, "notify.skipped",
	    no->seq, no->member, no->kind, no->attempts, "reason", why,
	    e)) != 0)
		return rc;
	return sess_notify_report(n, "skip", no->stream, no->seq, no->member,
	    no->kind, no->target, why, 0);
}

/*
 * A row whose recipient left less than the grace ago, at left: it
 * keeps when they left and is due when a pass's grace after it is over.
 */
static int
wait_row(struct sess_notify *n, struct sess_note *no, int64_t left,
    struct sess_err *e)
{
	int rc;

	if ((rc = set_state(n, no->id, "pending", WAIT_REASON, left, e)) != 0)
		return rc;
	return sess_notify_report(n, "wait", no->stream, no->seq, no->member,
	    no->kind, no->target, WAIT_REASON, left + n->cfg.grace);
}

/*
 * Reports the rows held back for the grace that are not due yet, with
 * when they are: a pass shows each of them, not only the one that
 * first held it back.
 */
static int
waiting(struct sess_notify *n, int64_t now, struct sess_err *e)
{
	sqlite3_stmt *s;
	int rc;

	if (n->cfg.report == NULL)
		return 0;
	if ((s = sess_notify_q(n, Q_WAITING, e)) == NULL)
		return e ? e->code : SESS_EIO;
	sqlite3_bind_int64(s, 1, now);
	sqlite3_bind_int64(s, 2, n->cfg.grace);
	sqlite3_bind_int(s, 3, n->cfg.stdout_kind);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		if ((rc = sess_notify_report(n, "wait",
		    (const char *)sqlite3_column_text(s, 0),
		    sqlite3_column_int64(s, 1),
		    (const char *)sqlite3_column_text(s, 2),
		    (const char *)sqlite3_column_text(s, 3),
		    (const char *)sqlite3_column_text(s, 4), WAIT_REASON,
		    sqlite3_column_int64(s, 5))) != 0)
			break;
	sqlite3_reset(s);
	if (rc == SQLITE_DONE)
		return 0;
	return rc == SESS_ENOMEM ? sess_err_set(e, rc, "out of memory") :
	    sess_dberr(n->st, rc, "read the outbox", e);
}

/* A row to send: leased to this holder until now + the lease. */
static int
lease_row(struct sess_notify *n, struct sess_note *no, int64_t now,
    struct sess_err *e)
{
	sqlite3_stmt *s;
	int rc;

	if (n->cfg.dry && (rc = sess_notify_report(n, "send", no->stream,
	    no->seq, no->member, no->kind, no->target, "away", 0)) != 0)
		return rc;
	if ((s = sess_notify_q(n, Q_LEASE, e)) == NULL)
		return e ? e->code : SESS_EIO;
	sqlite3_bind_int64(s, 1, no->id);
	sqlite3_bind_text(s, 2, n->holder, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, now + n->cfg.lease);
	sqlite3_bind_int64(s, 4, now);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return sess_dberr(n->st, rc, "claim", e);
	no->attempts++;
	return 0;
}

/*
 * Applies the away rule to a due row: skips it, makes it wait, or
 * leases it and moves it to out[(*nout)++].
 */
static int
decide(struct sess_notify *n, struct sess_note *no, int64_t now,
    struct sess_note *out, size_t *nout, struct sess_err *e)
{
	int64_t when = 0;
	char why[128];
	int a, rc;

	a = away(n, no->stream, no->member, no->seq, now, &when, why,
	    sizeof(why), e);
	if (a < 0)
		return a;
	if (a == 1)
		rc = skip_row(n, no, why, now, e);
	else if (a == 2)
		rc = wait_row(n, no, when, e);
	else if ((rc = lease_row(n, no, now, e)) == 0) {
		out[(*nout)++] = *no;
		memset(no, 0, sizeof(*no));
	}
	sess_note_free(no);
	return rc;
}

static void
notes_free(struct sess_note *no, size_t n)
{
	size_t i;

	for (i = 0; no != NULL && i < n; i++)
		sess_note_free(&no[i]);
}

int
sess_notify_claim(struct sess_notify *n, size_t max, struct sess_note *out,
    size_t *nout, struct sess_err *e)
{
	struct sess_note *c = NULL;
	size_t nc = 0, i;
	int64_t now;
	int rc, changed = 0, own;

	*nout = 0;
	if ((rc = tx_begin(n->st, &own, e)) != 0)
		return rc;
	/* The scan looks at every stream: once per wake-up is enough. */
	if (n->rescan && (rc = sess_notify_scan(n, &changed, e)) != 0)
		goto fail;
	now = sess_now();
	/* So is the list of what waits; the claims after add to it. */
	if (n->rescan && (rc = waiting(n, now, e)) != 0)
		goto fail;
	if ((c = calloc(max ? max : 1, sizeof(*c))) == NULL) {
		rc = sess_err_set(e, SESS_ENOMEM, "out of memory");
		goto fail;
	}
	if ((rc = due_rows(n, now, max, c, &nc, e)) != 0)
		goto fail;
	for (i = 0; i < nc; i++)
		if ((rc = decide(n, &c[i], now, out, nout, e)) != 0)
			goto fail;
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
	if ((rc = tx_commit(n->st, own, e)) != 0) {
		notes_free(out, *nout);
		*nout = 0;
		return rc;
	}
	n->rescan = 0;
	return 0;
fail:
	tx_undo(n->st, own);
	notes_free(c, nc);
	free(c);
	notes_free(out, *nout);
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
		if ((s = sess_notify_q(n, Q_FINISH, e)) == NULL) {
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
		if (no->result == SESS_NOTE_GONE &&
		    (rc = sess_notify_channel_del(n->st, 0, no->channel, NULL,
		    NULL, NULL, e)) < 0)
			goto fail;
		rc = 0;
		if (type != NULL && (rc = sess_notify_outcome(n, no->stream,
		    type, no->seq, no->member, no->kind, no->attempts,
		    type[7] == 'f' ? "error" : NULL, type[7] == 'f' ?
		    no->error : NULL, e)) != 0)
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
	if ((s = sess_notify_q(n, Q_NEXT, e)) == NULL)
		return e ? e->code : SESS_EIO;
	sqlite3_bind_int(s, 1, n->cfg.stdout_kind);
	sqlite3_bind_int64(s, 2, n->cfg.grace);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
		*when = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	if (rc != SQLITE_ROW)
		return sess_dberr(n->st, rc, "read the outbox", e);
	return 0;
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
