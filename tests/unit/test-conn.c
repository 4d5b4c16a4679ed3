/* test-conn.c: sess_conn in both modes, the remote one against a real sessd. */
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sess.h"
#include "unit.h"

static char dir[] = "/tmp/test-conn.XXXXXX";
static char db[PATH_MAX], url[128];
static pid_t sessd = -1;

/*
 * Starts $BUILD/bin/sessd (beside this test's directory) on db, on a
 * loopback port of its choosing, and reads its URL off its first line.
 */
static int
start_sessd(const char *argv0)
{
	char self[PATH_MAX], bin[PATH_MAX], line[256];
	int fd[2];
	FILE *f;

	snprintf(self, sizeof(self), "%s", argv0);
	snprintf(bin, sizeof(bin), "%s/../bin/sessd", dirname(self));
	if (pipe(fd) != 0 || (sessd = fork()) < 0)
		return -1;
	if (sessd == 0) {
		dup2(fd[1], 1);
		close(fd[0]);
		close(fd[1]);
		execl(bin, "sessd", "-1", "-d", db, "-l", "127.0.0.1:0", "-P", "500",
		    (char *)NULL);
		_exit(127);
	}
	close(fd[1]);
	if ((f = fdopen(fd[0], "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "sessd: listening on %127s", url) == 1)
			return 0; /* the pipe stays open: sessd may write on */
	return -1;
}

static void
stop_sessd(void)
{
	int st;

	if (sessd > 0) {
		kill(sessd, SIGTERM);
		waitpid(sessd, &st, 0);
		ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "sessd stops cleanly");
	}
}

static void
cleanup(void)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "# could not remove %s\n", dir);
}

static int
append(struct sess_conn *c, const char *stream, const char *json,
    struct sess_err *e)
{
	struct sess_item it;
	struct sess_ack ack;
	int rc;

	memset(&it, 0, sizeof(it));
	it.value = json_loads(json, 0, NULL);
	it.units = 1;
	if (it.value == NULL)
		return sess_err_set(e, SESS_EINVAL, "bad test JSON");
	rc = sess_conn_append(c, stream, 0, NULL, &it, 1, &ack, e);
	json_decref(it.value);
	return rc < 0 ? rc : (int)ack.seq;
}

static int
collect(int64_t seq, const char *line, size_t len, void *arg)
{
	struct sess_buf *b = arg;
	char n[32];

	snprintf(n, sizeof(n), "%lld ", (long long)seq);
	sess_buf_add(b, n, strlen(n));
	sess_buf_add(b, line, len);
	sess_buf_add(b, "\n", 1);
	return 0;
}

/* What one mode sees of the same store: the caller compares the two. */
struct seen {
	int64_t tail;
	char messages[4096];
	char members[4096];
	char log[8192];
	int log_n;
	int64_t cursor;
	int closed_rc, missing_rc;
};

static void
look(struct sess_conn *c, const char *mode, struct seen *s)
{
	struct sess_stream ss;
	struct sess_cursor cur;
	struct sess_err e;
	struct sess_buf b;
	int64_t next = 0;
	json_t *v;
	char *t;
	int rc;

	rc = sess_conn_stream_get(c, "room", &ss, &e);
	ok(rc == 0, "%s: the stream is there (%s)", mode, rc ? e.msg : "");
	s->tail = ss.tail;
	sess_buf_init(&b, 1 << 20);
	rc = sess_conn_messages(c, "room", &b, &e);
	ok(rc == 0, "%s: its messages (%s)", mode, rc ? e.msg : "");
	snprintf(s->messages, sizeof(s->messages), "%.*s", (int)b.len,
	    b.p ? b.p : "");
	sess_buf_release(&b);
	v = sess_conn_presence_members(c, "room", &e);
	ok(json_is_array(v), "%s: the members", mode);
	t = v ? json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	snprintf(s->members, sizeof(s->members), "%s", t ? t : "");
	free(t);
	json_decref(v);
	sess_buf_init(&b, 1 << 20);
	s->log_n = sess_conn_presence_log(c, "room", 0, 1000, 0, collect, &b,
	    &next, &e);
	ok(s->log_n >= 0, "%s: the transitions", mode);
	snprintf(s->log, sizeof(s->log), "%.*s", (int)b.len, b.p ? b.p : "");
	sess_buf_release(&b);
	rc = sess_conn_cursor(c, "room", "alice", -1, &cur, &e);
	ok(rc == 0, "%s: alice's cursor (%s)", mode, rc ? e.msg : "");
	s->cursor = cur.seq;
	s->closed_rc = append(c, "shut", "{\"late\":1}", &e);
	s->missing_rc = sess_conn_stream_get(c, "nowhere", &ss, &e);
}

int
main(int argc, char **argv)
{
	struct sess_conn *emb, *rem;
	struct sess_cursor cur;
	struct sess_err e;
	struct seen a, b;
	int rc;

	(void)argc;
	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(db, sizeof(db), "%s/conn.db", dir);
	emb = sess_conn_open(db, NULL, 0, &e);
	ok(emb != NULL, "embedded: open %s", db);
	if (emb == NULL)
		return unit_done();
	ok(append(emb, "room", "{\"msg\":\"m1\",\"op\":\"create\","
	    "\"text\":\"hello\"}", &e) == 1, "embedded: an append");
	ok(append(emb, "shut", "{\"x\":1}", &e) == 1, "embedded: another");
	ok(start_sessd(argv[0]) == 0, "sessd is listening at %s", url);
	rem = sess_conn_open(NULL, url, 0, &e);
	ok(rem != NULL, "remote: open %s", url);
	if (rem == NULL) {
		stop_sessd();
		return unit_done();
	}
	/* Writes through each mode, read back through both. */
	rc = append(rem, "room", "{\"msg\":\"m1\",\"op\":\"finish\"}", &e);
	ok(rc == 2, "remote: an append is the second event (%d)", rc);
	rc = sess_conn_presence_set(rem, "room", "alice", "c1", "enter",
	    "{\"tab\":1}", 0, NULL, &e);
	ok(rc == 0, "remote: alice enters (%s)", rc ? e.msg : "");
	rc = sess_conn_presence_set(emb, "room", "bob", "c2", "enter", NULL,
	    60000000, NULL, &e);
	ok(rc == 0, "embedded: bob enters (%s)", rc ? e.msg : "");
	rc = sess_conn_cursor(rem, "room", "alice", 1, &cur, &e);
	ok(rc == 0 && cur.seq == 1 && cur.unread == 1,
	    "remote: alice's cursor at 1, one unread");
	{
		struct sess_ds_req r = { .stream = "shut", .close = 1 };
		struct sess_ds_ack ack;

		rc = sess_ds_append(sess_conn_store(emb), &r, &ack, &e);
		ok(rc == 0, "embedded: shut is closed (%s)", rc ? e.msg : "");
	}
	look(emb, "embedded", &a);
	look(rem, "remote", &b);
	ok(a.tail == 2 && b.tail == 2, "both: two events");
	ok(strcmp(a.messages, b.messages) == 0 && strstr(a.messages,
	    "\"status\":\"complete\"") != NULL,
	    "both: the same messages, m1 complete");
	ok(strcmp(a.members, b.members) == 0 && strstr(a.members,
	    "\"alice\"") != NULL && strstr(a.members, "\"bob\"") != NULL,
	    "both: the same members, alice and bob");
	ok(a.log_n == 2 && b.log_n == 2 && strcmp(a.log, b.log) == 0,
	    "both: the same two transition lines");
	ok(a.cursor == 1 && b.cursor == 1, "both: the cursor at 1");
	ok(a.closed_rc == SESS_ECONFLICT && b.closed_rc == SESS_ECONFLICT,
	    "both: an append to a closed stream is a conflict (%d, %d)",
	    a.closed_rc, b.closed_rc);
	ok(a.missing_rc == SESS_ENOENT && b.missing_rc == SESS_ENOENT,
	    "both: a missing stream is ENOENT (%d, %d)", a.missing_rc,
	    b.missing_rc);
	sess_conn_close(rem);
	sess_conn_close(emb);
	stop_sessd();
	cleanup();
	return unit_done();
}
