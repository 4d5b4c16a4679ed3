/* test-presence.c: presence leases and transitions, cursors, run leases. */
#include <unistd.h>

#include "sess.h"
#include "unit.h"

static struct sess_store *st;
static char path[256];

static int
collect(const struct sess_ptrans *t, void *arg)
{
	struct sess_buf *b = arg;

	return sess_ptrans_format(b, t, 0);
}

/* The transitions of stream after seq as lines. */
static char *
translog(const char *stream, int64_t after)
{
	static struct sess_buf b;

	sess_buf_release(&b);
	sess_buf_init(&b, 1 << 20);
	sess_presence_log(st, stream, after, 1000, collect, &b, NULL);
	sess_buf_add(&b, "", 1);
	return b.p;
}

static int
has(const char *hay, const char *needle)
{
	return hay != NULL && strstr(hay, needle) != NULL;
}

static void
presence(void)
{
	struct sess_err e;
	json_t *m;
	char *log;

	ok(sess_presence_set(st, "s", "alice", "c1", "enter", "{\"a\":1}",
	    60000000, "h", &e) == 0, "enter");
	ok(sess_presence_set(st, "s", "alice", "c2", "enter", NULL, 60000000,
	    "h", &e) == 0, "a second connection enters");
	ok(sess_presence_set(st, "s", "bob", "c3", "update", "{\"b\":2}",
	    60000000, NULL, &e) == 0, "an update of a missing row enters");
	m = sess_presence_members(st, "s", &e);
	ok(json_array_size(m) == 2, "two members, three connections");
	ok(json_array_size(json_object_get(json_array_get(m, 0), "conns")) ==
	    2, "alice has two connections");
	json_decref(m);
	log = translog("s", 0);
	ok(has(log, "\"seq\":1,\"stream\":\"s\",\"event\":\"enter\","
	    "\"member\":\"alice\",\"conn\":\"c1\",\"data\":{\"a\":1}"),
	    "the first enter is logged with its data: %s", log);
	ok(has(log, "\"first\":true") && has(log, "\"conn\":\"c2\",\"data\":"
	    "null,\"time\""), "first flags: %s", log);
	ok(sess_presence_set(st, "s", "alice", "c1", "leave", NULL, 0, NULL,
	    &e) == 0, "leave");
	log = translog("s", 3);
	ok(has(log, "\"event\":\"leave\"") && has(log, "\"reason\":"
	    "\"explicit\"") && has(log, "\"last\":false"),
	    "a leave that leaves another connection is not last: %s", log);
	ok(sess_presence_set(st, "s", "alice", "c1", "leave", NULL, 0, NULL,
	    &e) == 0 && *translog("s", 4) == '\0',
	    "leaving twice logs nothing");
	ok(sess_presence_set(st, "s", "alice", "c1", "renew", NULL, 1, NULL,
	    &e) == SESS_ENOENT, "renewing a row that left: %s", e.msg);
	ok(sess_presence_conn(st, "c2", -1, &e) == 0 &&
	    has(translog("s", 4), "\"last\":true"),
	    "a clean close leaves at once, last");
	ok(sess_presence_set(st, "s", "carol", "c4", "enter", NULL, 0, NULL,
	    &e) == 0, "enter with a lease that runs out at once");
	usleep(2000);
	ok(sess_presence_sweep(st, &e) == 1, "the sweep finds it");
	log = translog("s", 6);
	ok(has(log, "\"member\":\"carol\"") && has(log, "\"reason\":"
	    "\"timeout\""), "timeout: %s", log);
	ok(sess_presence_sweep(st, &e) == 0, "nothing left to sweep");
	ok(sess_presence_conn(st, "c3", 0, &e) == 0, "an abrupt close");
	usleep(2000);
	ok(sess_presence_sweep(st, &e) == 1, "expires after the grace");
	ok(sess_presence_set(st, "s", "", "c1", "enter", NULL, 1, NULL, &e) ==
	    SESS_EINVAL, "%s", e.msg);
	ok(sess_presence_set(st, "s", "a", "c1", "enter", "[1]", 1, NULL,
	    &e) == SESS_EINVAL && strcmp(e.msg, "data is not a JSON object") ==
	    0, "%s", e.msg);
	ok(sess_presence_set(st, "s", "a", "c1", "enter", "{", 1, NULL, &e) ==
	    SESS_EINVAL, "%s", e.msg);
	ok(sess_presence_set(st, "s", "a", "c1", "stay", NULL, 1, NULL, &e) ==
	    SESS_EINVAL, "%s", e.msg);
	ok(sess_presence_set(st, "s", "a\n", "c1", "enter", NULL, 1, NULL,
	    &e) == SESS_EINVAL, "%s", e.msg);
	ok(sess_presence_last(st, &e) == 8, "eight transitions");
	ok(sess_presence_set(st, "s", "h1", "c9", "enter", NULL, 0, "me",
	    &e) == 0 && sess_presence_renew_holder(st, "me", 60000000, &e) ==
	    0, "renew by holder");
	usleep(2000);
	ok(sess_presence_sweep(st, &e) == 0, "a renewed row stays");
}

static int
put(const char *stream, const char *text)
{
	struct sess_item it;
	struct sess_ack ack;
	struct sess_err e;
	int rc;

	memset(&it, 0, sizeof(it));
	it.json = text;
	it.len = strlen(text);
	it.units = 1;
	rc = sess_append(st, stream, 0, NULL, &it, 1, &ack, &e);
	return rc;
}

static void
cursors(void)
{
	struct sess_cursor c;
	struct sess_err e;

	ok(sess_cursor_set(st, "nope", "m", 0, &c, &e) == SESS_ENOENT,
	    "%s", e.msg);
	put("k", "1");
	put("k", "2");
	put("k", "3");
	ok(sess_cursor_get(st, "k", "m", &c, &e) == 0 && c.seq == 0 &&
	    c.unread == 3, "no cursor: everything unread");
	ok(sess_cursor_set(st, "k", "m", 2, &c, &e) == 0 && c.seq == 2 &&
	    c.unread == 1, "set");
	ok(sess_cursor_set(st, "k", "m", 1, &c, &e) == 0 && c.seq == 2,
	    "a cursor only moves forward");
	ok(sess_cursor_set(st, "k", "m", 4, &c, &e) == SESS_EINVAL &&
	    strcmp(e.msg, "offset 0000000000000004 is beyond the tail of k "
	    "(0000000000000003)") == 0, "%s", e.msg);
}

static void
each(const char *s, const char *run, void *arg)
{
	snprintf(arg, 64, "%s %s", s, run);
}

static void
runs(void)
{
	struct sess_err e;
	char got[64] = "";
	int64_t next;

	put("r", "{\"type\":\"run.start\",\"run\":\"r1\",\"lease\":0.001}");
	usleep(3000);
	ok(sess_runs_expired(st, 10, each, got, &e) == 1 &&
	    strcmp(got, "r r1") == 0, "an expired run: %s", got);
	next = sess_runs_next(st);
	put("r", "{\"type\":\"token\",\"run\":\"r1\"}");
	ok(sess_runs_next(st) > next, "renewed");
	usleep(3000);
	ok(sess_run_abandon(st, "r", "r1", &e) == 1, "abandoned");
	ok(sess_runs_expired(st, 10, each, got, &e) == 0, "and gone");
	put("r", "{\"type\":\"run.start\",\"run\":\"r2\",\"lease\":0.001}");
	put("r", "{\"type\":\"run.end\",\"run\":\"r2\"}");
	usleep(3000);
	ok(sess_runs_expired(st, 10, each, got, &e) == 0, "run.end ends it");
	ok(sess_run_abandon(st, "r", "r2", &e) == 0, "nothing to abandon");
}

/* Inside an open batch (sessd's writer) each write is a savepoint. */
static void
batched(void)
{
	struct sess_cursor c;
	struct sess_err e;
	int64_t last = sess_presence_last(st, &e);

	ok(sess_batch_begin(st, &e) == 0, "a batch");
	ok(sess_presence_set(st, "b", "m", "c", "enter", NULL, 60000000,
	    NULL, &e) == 0, "enter in the batch");
	ok(sess_presence_set(st, "b", "m", "c", "stay", NULL, 1, NULL, &e) ==
	    SESS_EINVAL, "a failed write in the batch");
	ok(sess_cursor_set(st, "k", "z", 9, &c, &e) == SESS_EINVAL,
	    "another: %s", e.msg);
	ok(sess_cursor_set(st, "k", "z", 1, &c, &e) == 0 && c.unread == 2,
	    "a cursor in the batch");
	ok(sess_batch_commit(st, &e) == 0, "commit");
	ok(sess_presence_last(st, &e) == last + 1, "the enter is there");
	ok(sess_cursor_get(st, "k", "z", &c, &e) == 0 && c.seq == 1,
	    "the cursor is there");
	ok(sess_batch_begin(st, &e) == 0 && sess_presence_set(st, "b", "m",
	    "c", "leave", NULL, 0, NULL, &e) == 0, "a leave in a batch");
	sess_batch_rollback(st);
	ok(sess_presence_last(st, &e) == last + 1, "rolled back with it");
}

int
main(void)
{
	struct sess_err e;

	snprintf(path, sizeof(path), "%s/p.db", unit_tmpdir());
	if ((st = sess_store_open(path, 0, &e)) == NULL) {
		printf("Bail out! %s\n", e.msg);
		return 1;
	}
	presence();
	cursors();
	runs();
	batched();
	sess_store_close(st);
	return unit_done();
}
