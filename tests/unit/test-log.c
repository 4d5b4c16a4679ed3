/* test-log.c: the store, appends, producer rules, messages, the check. */
#include <fcntl.h>
#include <unistd.h>

#include "sess.h"
#include "unit.h"

static struct sess_store *st;
static char path[256];

/* Appends one JSON text, as producer pr at position pseq (units 1). */
static int
put(const char *stream, const struct sess_producer *pr, int64_t pseq,
    const char *text, struct sess_ack *ack, struct sess_err *e)
{
	struct sess_item it;
	int rc;

	memset(&it, 0, sizeof(it));
	it.value = sess_json_parse(text, strlen(text), e);
	if (it.value == NULL)
		return SESS_EINVAL;
	it.pseq = pseq;
	it.units = 1;
	rc = sess_append(st, stream, 0, pr, &it, 1, ack, e);
	json_decref(it.value);
	return rc;
}

static int64_t
count(const char *stream)
{
	struct sess_reader *r;
	struct sess_event ev;
	int64_t n = 0;

	r = sess_reader_open(st, stream, 0, NULL, NULL);
	while (sess_reader_next(r, &ev, NULL) == 1)
		n++;
	sess_reader_close(r);
	return n;
}

static void
appends(void)
{
	struct sess_item items[3];
	struct sess_ack acks[3];
	struct sess_stream ss;
	struct sess_err e;
	struct sess_reader *r;
	struct sess_event ev;
	int i;

	memset(items, 0, sizeof(items));
	ok(sess_stream_get(st, "a", &ss, &e) == SESS_ENOENT,
	    "a stream does not exist before its first append");
	for (i = 0; i < 3; i++) {
		items[i].value = json_integer(i);
		items[i].time = 1000000 + i;
		items[i].pseq = 0;
		items[i].units = 1;
	}
	ok(sess_append(st, "a", 0, NULL, items, 3, acks, &e) == 0,
	    "a batch of three appends");
	ok(acks[0].seq == 1 && acks[2].seq == 3, "seqs start at 1");
	ok(sess_stream_get(st, "a", &ss, &e) == 0 && ss.tail == 3,
	    "the tail is the last seq");
	ok(sess_append(st, "b", SESS_NOCREATE, NULL, items, 1, acks, &e) ==
	    SESS_ENOENT, "no-create refuses a missing stream");
	for (i = 0; i < 3; i++)
		json_decref(items[i].value);
	r = sess_reader_open(st, "a", 1, NULL, &e);
	ok(sess_reader_next(r, &ev, &e) == 1 && ev.seq == 2 &&
	    ev.len == 1 && ev.data[0] == '1' && ev.time == 1000001,
	    "reading after seq 1 starts at seq 2 with its time");
	ok(sess_reader_next(r, &ev, &e) == 1 && ev.seq == 3, "then seq 3");
	ok(sess_reader_next(r, &ev, &e) == 0, "then nothing");
	ok(put("a", NULL, 0, "{\"type\":\"x\"}", acks, &e) == 0,
	    "append after the reader caught up");
	sess_reader_reset(r);
	ok(sess_reader_next(r, &ev, &e) == 1 && ev.seq == 4 &&
	    strcmp(ev.type, "x") == 0, "a reset reader sees the new event");
	sess_reader_close(r);
	r = sess_reader_open(st, "a", 0, "x", &e);
	ok(sess_reader_next(r, &ev, &e) == 1 && ev.seq == 4 &&
	    sess_reader_next(r, &ev, &e) == 0, "a type filter");
	sess_reader_close(r);
	ok(put("a", NULL, 0, "{\"msg\":\"m\",\"op\":\"bogus\"}", acks, &e) ==
	    SESS_EINVAL && strstr(e.msg, "bogus") != NULL,
	    "an unknown op is refused");
	ok(put("a", NULL, 0, "{\"msg\":\"m\",\"op\":\"append\"}", acks, &e) ==
	    SESS_EINVAL, "append without text is refused");
	ok(put("a", NULL, 0, "{\"type\":5}", acks, &e) == SESS_EINVAL,
	    "a non-string type is refused");
	ok(count("a") == 4, "refused appends wrote nothing");
	ok(put("bad/../name", NULL, 0, "1", acks, &e) == SESS_EINVAL,
	    "a bad stream name is refused");
}

static void
producers(void)
{
	struct sess_producer p = { "p1", 0 };
	struct sess_item items[2];
	struct sess_ack ack[2];
	struct sess_err e;

	ok(put("p", &p, 0, "\"a\"", ack, &e) == 0 && !ack[0].duplicate,
	    "producer seq 0 accepted");
	ok(put("p", &p, 1, "\"b\"", ack, &e) == 0 && ack[0].seq == 2,
	    "seq 1 accepted");
	ok(put("p", &p, 1, "\"b\"", ack, &e) == 0 && ack[0].duplicate &&
	    ack[0].seq == 2, "seq 1 again is a duplicate of seq 2");
	ok(put("p", &p, 0, "\"a\"", ack, &e) == 0 && ack[0].duplicate &&
	    ack[0].seq == 1, "seq 0 again is a duplicate of seq 1");
	ok(put("p", &p, 5, "\"x\"", ack, &e) == SESS_EGAP &&
	    strstr(e.msg, "expected 2") != NULL, "a gap names the expected seq");
	p.epoch = 3;
	ok(put("p", &p, 1, "\"x\"", ack, &e) == SESS_EINVAL,
	    "a new epoch must start at 0 (SESS_EINVAL, as in ds.c)");
	ok(put("p", &p, 0, "\"c\"", ack, &e) == 0 && !ack[0].duplicate,
	    "a new epoch at 0 is accepted");
	p.epoch = 2;
	ok(put("p", &p, 1, "\"x\"", ack, &e) == SESS_ESTALE &&
	    strstr(e.msg, "current epoch is 3") != NULL,
	    "an older epoch is fenced and told the current one");
	ok(count("p") == 3, "only accepted values were written");
	/* A batch that straddles the written point. */
	memset(items, 0, sizeof(items));
	p.epoch = 3;
	items[0].value = json_string("c");
	items[1].value = json_string("d");
	items[0].pseq = 0;
	items[1].pseq = 1;
	items[0].units = items[1].units = 1;
	items[0].time = items[1].time = 0;
	ok(sess_append(st, "p", 0, &p, items, 2, ack, &e) == 0 &&
	    ack[0].duplicate && !ack[1].duplicate && ack[1].seq == 4,
	    "a batch writes only its new part");
	json_decref(items[0].value);
	json_decref(items[1].value);
}

static int
getmsg(const struct sess_message *m, void *arg)
{
	char *out = arg;

	snprintf(out + strlen(out), 256 - strlen(out), "%s=%.*s(%s,%lld);",
	    m->msg, (int)m->textlen, m->text, m->status,
	    (long long)m->attempt);
	return 0;
}

static void
report(const char *what, void *arg)
{
	printf("#   check: %s\n", what);
	(*(int *)arg)++;
}

static void
messages(void)
{
	struct sess_producer p = { "run", 1 };
	struct sess_item it;
	struct sess_ack ack;
	struct sess_err e;
	char view[256] = "";
	int n = 0;

	put("m", NULL, 0, "{\"msg\":\"a\",\"op\":\"create\",\"text\":\"he\"}",
	    &ack, &e);
	put("m", NULL, 0, "{\"msg\":\"a\",\"op\":\"append\",\"text\":\"llo\"}",
	    &ack, &e);
	put("m", NULL, 0, "{\"msg\":\"b\",\"op\":\"create\"}", &ack, &e);
	put("m", NULL, 0, "{\"msg\":\"b\",\"op\":\"replace\",\"text\":\"B\"}",
	    &ack, &e);
	put("m", NULL, 0, "{\"msg\":\"a\",\"op\":\"finish\"}", &ack, &e);
	put("m", NULL, 0, "{\"msg\":\"b\",\"op\":\"delete\"}", &ack, &e);
	sess_messages_each(st, "m", getmsg, view, &e);
	ok(strcmp(view, "a=hello(complete,0);b=(deleted,0);") == 0,
	    "ops materialize: %s", view);
	/* Attempt 1 streams half a message; attempt 2 supersedes it. */
	put("m", &p, 0, "{\"msg\":\"ans\",\"op\":\"create\"}", &ack, &e);
	put("m", &p, 1, "{\"msg\":\"ans\",\"op\":\"append\",\"text\":\"old\"}",
	    &ack, &e);
	p.epoch = 2;
	ok(put("m", &p, 0, "{\"msg\":\"ans\",\"op\":\"create\"}", &ack, &e) == 0,
	    "attempt 2 starts");
	memset(&it, 0, sizeof(it));
	it.value = json_pack("{s:s,s:s,s:s}", "msg", "ans", "op", "append",
	    "text", "new");
	it.pseq = 1;
	it.units = 3; /* text: positions count bytes */
	it.time = 0;
	sess_append(st, "m", 0, &p, &it, 1, &ack, &e);
	json_decref(it.value);
	view[0] = '\0';
	sess_messages_each(st, "m", getmsg, view, &e);
	ok(strstr(view, "ans=new(streaming,2)") != NULL &&
	    strstr(view, "old") == NULL, "attempt 2 replaces attempt 1: %s",
	    view);
	{
		struct sess_reader *r = sess_reader_open(st, "m", 0,
		    "superseded", &e);
		struct sess_event ev;

		ok(sess_reader_next(r, &ev, &e) == 1 && strstr(ev.data,
		    "\"msgs\":[\"ans\"]") != NULL && strstr(ev.data,
		    "\"epoch\":1,\"by\":2") != NULL, "a superseded marker");
		sess_reader_close(r);
	}
	/* Text units: a rerun chunk straddling the written point is trimmed. */
	it.value = json_pack("{s:s,s:s,s:s}", "msg", "ans", "op", "append",
	    "text", "newer");
	it.pseq = 1;
	it.units = 5;
	it.time = 0;
	ok(sess_append(st, "m", 0, &p, &it, 1, &ack, &e) == 0 &&
	    !ack.duplicate, "a straddling text chunk is accepted");
	json_decref(it.value);
	view[0] = '\0';
	sess_messages_each(st, "m", getmsg, view, &e);
	ok(strstr(view, "ans=newer(") != NULL, "only its new bytes are added: "
	    "%s", view);
	ok(sess_check(st, "m", report, &n, &e) == 0 && n == 0,
	    "the check passes on a consistent stream");
	put("m", NULL, 0, "{\"msg\":\"zz\",\"op\":\"append\",\"text\":\"x\"}",
	    &ack, &e);
	n = 0;
	ok(sess_check(st, "m", report, &n, &e) == 1 && n == 1,
	    "the check reports an op on an unknown message");
}

/* Feeds one recording line, "seq N, value V", to the check c. */
static int
rline(struct sess_rcheck *c, int64_t seq, const char *v)
{
	struct sess_event ev;
	struct sess_err e;
	char line[256];

	snprintf(line, sizeof(line), "{\"stream\":\"r\",\"seq\":%lld,"
	    "\"data\":%s}", (long long)seq, v);
	memset(&ev, 0, sizeof(ev));
	ev.seq = seq;
	ev.data = v;
	ev.len = strlen(v);
	return sess_rcheck_line(c, line, strlen(line), &ev, NULL, &e);
}

static void
recordings(void)
{
	struct sess_rcheck *c;
	struct sess_err e;
	int n = 0;

	c = sess_rcheck_new(report, &n, &e);
	ok(c != NULL, "a recording check");
	if (c == NULL)
		return;
	ok(rline(c, 1, "{\"msg\":\"m\",\"op\":\"create\"}") == 0 &&
	    rline(c, 2, "2") == 0, "lines in order pass");
	ok(rline(c, 2, "2") == 1, "a repeated seq is a problem");
	ok(rline(c, 3, "{\"type\":\"superseded\",\"producer\":\"P\","
	    "\"epoch\":0,\"by\":1,\"msgs\":[\"m\"]}") == 0,
	    "a marker naming a message in the view passes");
	ok(rline(c, 4, "{\"msg\":\"m\",\"op\":\"append\",\"text\":"
	    "\"x\"}") == 1, "the message it dropped is gone");
	ok(rline(c, 5, "{\"type\":\"superseded\",\"producer\":\"P\","
	    "\"epoch\":0,\"by\":2,\"msgs\":[\"m\"]}") == 1,
	    "a marker cannot go back to an older epoch");
	sess_rcheck_lost(c);
	ok(rline(c, 9, "9") == 0, "after a lost line the seq is not compared");
	ok(sess_rcheck_end(c) == 4 && n == 3, "problems in all: %d, "
	    "reported %d", sess_rcheck_end(c), n);
	sess_rcheck_free(c);
}

static void
opening(const char *dir)
{
	struct sess_err e;
	char p[300];
	int fd;

	snprintf(p, sizeof(p), "%s/text.db", dir);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ok(write(fd, "hello, this is not sqlite, not at all, no.\n", 43) == 43,
	    "write a text file");
	close(fd);
	ok(sess_store_open(p, 0, &e) == NULL && e.code == SESS_ENOTSTORE,
	    "a text file is not a store: %s", e.msg);
	snprintf(p, sizeof(p), "%s/missing.db", dir);
	ok(sess_store_open(p, SESS_RDONLY, &e) == NULL &&
	    e.code == SESS_ENOENT, "read-only open of a missing file");
	ok(access(p, F_OK) != 0, "does not create it");
	ok(sess_store_open("", 0, &e) == NULL && e.code == SESS_EINVAL,
	    "an empty path is refused");
	ok(sess_sync_flags("normal") == SESS_SYNC_NORMAL &&
	    sess_sync_flags("full") == 0 && sess_sync_flags("x") == -1,
	    "sync modes");
	ok(sess_err_exit(SESS_EINVAL) == 2 && sess_err_exit(SESS_EBUSY) ==
	    111 && sess_err_exit(SESS_ENOENT) == 1, "exit statuses");
}

/* Writers cannot append the store's own events; an import can. */
static void
own_events(void)
{
	const char *marker = "{\"type\":\"superseded\",\"producer\":\"x\","
	    "\"epoch\":0,\"by\":1,\"msgs\":[\"m1\"]}";
	struct sess_item items[2];
	struct sess_ack acks[2];
	struct sess_err e;
	char view[256] = "";

	put("o", NULL, 0, "{\"msg\":\"m1\",\"op\":\"create\",\"text\":\"x\"}",
	    acks, &e);
	memset(items, 0, sizeof(items));
	items[0].value = json_string("fine");
	items[1].json = marker;
	items[1].len = strlen(marker);
	items[1].type = "superseded";
	items[1].typelen = 10;
	items[0].units = items[1].units = 1;
	ok(sess_append(st, "o", 0, NULL, items, 2, acks, &e) == SESS_EOWN &&
	    strcmp(e.msg, "value 2: type \"superseded\" is the store's own: "
	    "writers cannot append it") == 0, "a marker from a writer is "
	    "SESS_EOWN, naming the value: %s", e.msg);
	sess_messages_each(st, "o", getmsg, view, &e);
	ok(count("o") == 1 && strcmp(view, "m1=x(streaming,0);") == 0,
	    "nothing of the batch was written, the message stays: %s", view);
	ok(sess_append(st, "o", SESS_IMPORT, NULL, items, 2, acks, &e) == 0 &&
	    count("o") == 3, "an import writes it");
	view[0] = '\0';
	sess_messages_each(st, "o", getmsg, view, &e);
	ok(strcmp(view, "") == 0, "and the imported marker has its meaning");
	json_decref(items[0].value);
}

int
main(void)
{
	const char *dir = unit_tmpdir();
	struct sess_err e;
	char cmd[300];

	snprintf(path, sizeof(path), "%s/t.db", dir);
	st = sess_store_open(path, 0, &e);
	ok(st != NULL, "open a new store");
	if (st == NULL)
		return unit_done();
	appends();
	producers();
	messages();
	own_events();
	recordings();
	sess_store_close(st);
	st = sess_store_open(path, SESS_RDONLY, &e);
	ok(st != NULL && count("a") == 4, "reopen finds the events");
	sess_store_close(st);
	opening(dir);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		return 111;
	return unit_done();
}
