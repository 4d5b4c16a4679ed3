/* sess-sub: read and follow a stream as JSON lines. */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tool.h"

static void
usage(FILE *f)
{
	fprintf(f, "usage: sess-sub [-fPU] [-C COUNT] [-c CURSORFILE] "
	    "[-d FILE | -u URL] [-M MEMBER]\n"
	    "                [-o OFFSET] [-t TYPE] [-W SECS] STREAM\n");
	exit(f == stdout ? 0 : EXIT_USAGE);
}

static const struct option longopts[] = {
	{ "count", required_argument, NULL, 'C' },
	{ "cursor", required_argument, NULL, 'c' },
	{ "db", required_argument, NULL, 'd' },
	{ "follow", no_argument, NULL, 'f' },
	{ "help", no_argument, NULL, 'h' },
	{ "member", required_argument, NULL, 'M' },
	{ "offset", required_argument, NULL, 'o' },
	{ "payload", no_argument, NULL, 'P' },
	{ "timeout", required_argument, NULL, 'W' },
	{ "type", required_argument, NULL, 't' },
	{ "unread", no_argument, NULL, 'U' },
	{ "url", required_argument, NULL, 'u' },
	{ NULL, 0, NULL, 0 },
};

/*
 * A cursor file records the position after the last event written out
 * and, when stdout is a regular file, that file's size then.  A rerun
 * truncates stdout back to that size, so an event written just before a
 * kill, but not yet recorded, is written again exactly once.
 */
struct cursor {
	const char *path;
	char *tmp;
	int64_t seq;
	int regular;
	struct stat out;
};

static int
cursor_load(struct cursor *c, const char *stream)
{
	struct sess_err e;
	json_t *v, *s, *o;
	char buf[16384];
	ssize_t n;
	int fd;

	if ((fd = open(c->path, O_RDONLY | O_CLOEXEC)) < 0) {
		if (errno == ENOENT)
			return 0;
		err(EXIT_TEMP, "%s", c->path);
	}
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0)
		err(EXIT_TEMP, "%s", c->path);
	if ((v = sess_json_parse(buf, (size_t)n, &e)) == NULL)
		errx(EXIT_USAGE, "%s: not a cursor file: %s", c->path, e.msg);
	s = json_object_get(v, "stream");
	if (!json_is_string(s) || !json_is_integer(json_object_get(v, "seq")))
		errx(EXIT_USAGE, "%s: not a cursor file", c->path);
	if (strcmp(json_string_value(s), stream) != 0)
		errx(EXIT_USAGE, "%s: cursor is for stream '%s', not '%s'",
		    c->path, json_string_value(s), stream);
	c->seq = json_integer_value(json_object_get(v, "seq"));
	o = json_object_get(v, "out");
	if (c->regular && json_is_object(o) &&
	    json_integer_value(json_object_get(o, "dev")) ==
	    (json_int_t)c->out.st_dev &&
	    json_integer_value(json_object_get(o, "ino")) ==
	    (json_int_t)c->out.st_ino) {
		json_int_t size = json_integer_value(json_object_get(o,
		    "size"));

		if (size >= 0 && size < c->out.st_size &&
		    ftruncate(1, (off_t)size) != 0)
			err(EXIT_TEMP, "stdout: cannot drop an unrecorded "
			    "event");
		lseek(1, 0, SEEK_END);
	}
	json_decref(v);
	return 1;
}

static void
cursor_save(struct cursor *c, const char *stream_json, int64_t seq)
{
	struct stat sb;
	char *buf, out[128] = "";
	int fd, n;

	if (c->regular && fstat(1, &sb) == 0)
		snprintf(out, sizeof(out), ",\"out\":{\"dev\":%lld,\"ino\":%lld,"
		    "\"size\":%lld}", (long long)sb.st_dev,
		    (long long)sb.st_ino, (long long)sb.st_size);
	n = asprintf(&buf, "{\"stream\":%s,\"offset\":\"%0*lld\",\"seq\":%lld"
	    "%s}\n", stream_json, SESS_OFFSET_LEN, (long long)seq,
	    (long long)seq, out);
	if (n < 0)
		err(EXIT_TEMP, "out of memory");
	fd = open(c->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, buf, (size_t)n) != n || close(fd) != 0)
		err(EXIT_TEMP, "%s", c->tmp);
	free(buf);
	if (rename(c->tmp, c->path) != 0)
		err(EXIT_TEMP, "%s", c->path);
}

/*
 * With -M, the member's read cursor in the store (or sessd) follows what
 * is printed: it is set when the reader has caught up, every
 * MARK_EVERY events in between, and at the end.
 */
#define MARK_EVERY 256

struct mark {
	const char *member;
	int64_t printed, saved;
	int pending;
};

static void
mark_save(struct sess_conn *conn, const char *stream, struct mark *m)
{
	struct sess_cursor c;
	struct sess_err e;

	if (m->member == NULL || m->printed <= m->saved)
		return;
	if (sess_conn_cursor(conn, stream, m->member, m->printed, &c,
	    &e) != 0) {
		/* A daemon away for a moment: the next save catches up. */
		if (e.code != SESS_EIO && e.code != SESS_EBUSY)
			tool_die(&e);
		warnx("%s", e.msg);
		return;
	}
	m->saved = m->printed;
	m->pending = 0;
}

/* -U: prints the member's cursor and unread count. */
static int
unread(struct sess_conn *conn, const char *stream, const char *sj,
    const char *member)
{
	struct sess_cursor c;
	struct sess_err e;
	char *mj, line[256];
	int n;

	if (sess_conn_cursor(conn, stream, member, -1, &c, &e) != 0)
		tool_die(&e);
	mj = tool_json_string(member);
	n = snprintf(line, sizeof(line), "\"offset\":\"%0*lld\","
	    "\"unread\":%lld}\n", SESS_OFFSET_LEN, (long long)c.seq,
	    (long long)c.unread);
	if (tool_write("{\"stream\":", 10) == 0 && tool_write(sj,
	    strlen(sj)) == 0 && tool_write(",\"member\":", 10) == 0 &&
	    tool_write(mj, strlen(mj)) == 0 && tool_write(",", 1) == 0)
		tool_write(line, (size_t)n);
	free(mj);
	return 0;
}
static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#define MAX_TYPES 64
#define ABSENT_MS 250      /* remote: looks again for a missing stream */

struct opts {
	const char *db, *url, *offset, *stream, *cursor, *member;
	const char *types[MAX_TYPES + 1];  /* NULL-terminated */
	int ntypes;
	long long count;
	int64_t deadline;
	int follow, payload, unread, has_offset;
};

/* What a run holds, from the first read to the end of the output. */
struct sub {
	const struct opts *o;
	struct sess_conn *conn;
	struct sess_feed *feed;
	struct cursor cur;
	struct mark mk;
	struct sess_buf out;
	char *sj;
	long long seen;
	int backoff;
};

/*
 * Waits before reconnecting to a daemon that went away: exponential
 * backoff from 100 ms to 5 s with jitter, within the -W deadline.  A
 * stream that does not exist yet is no failure: it is looked for again
 * every ABSENT_MS, silently, as embedded mode waits for it.  Returns 0
 * to try again, or 1 to end with *status: EXIT_NO once the deadline
 * has passed, 0 if the reader of stdout went away meanwhile.
 */
static int
retry(struct sub *s, const struct sess_err *e, int *status)
{
	int64_t deadline = s->o->deadline;
	int ms;

	if (e->code == SESS_ENOENT) {
		ms = ABSENT_MS;
	} else {
		if (s->backoff == 0)
			warnx("%s; retrying", e->msg);
		s->backoff = s->backoff ? (s->backoff * 2 > 5000 ? 5000 :
		    s->backoff * 2) : 100;
		ms = s->backoff / 2 + (int)(random() % (s->backoff / 2 + 1));
	}
	if (deadline >= 0 && now_ms() + ms > deadline) {
		ms = (int)(deadline - now_ms());
		if (ms <= 0) {
			*status = EXIT_NO;
			return 1;
		}
	}
	*status = 0;
	return sess_hangup_wait(1, ms);
}

static void
options(int argc, char **argv, struct opts *o)
{
	long long v;
	int c;

	while ((c = getopt_long(argc, argv, "C:c:d:fhM:o:PW:t:Uu:", longopts,
	    NULL)) != -1) {
		switch (c) {
		case 'C':
			if ((o->count = tool_num(optarg, 1LL << 62)) < 1)
				errx(EXIT_USAGE, "-C: '%s' is not a positive "
				    "count", optarg);
			break;
		case 'c':
			o->cursor = optarg;
			break;
		case 'd':
			o->db = optarg;
			break;
		case 'f':
			o->follow = 1;
			break;
		case 'h':
			usage(stdout);
			break;
		case 'M':
			o->member = optarg;
			break;
		case 'o':
			o->offset = optarg;
			o->has_offset = 1;
			break;
		case 'P':
			o->payload = 1;
			break;
		case 't':
			if (o->ntypes == MAX_TYPES)
				errx(EXIT_USAGE, "-t: at most %d types",
				    MAX_TYPES);
			o->types[o->ntypes++] = optarg;
			break;
		case 'U':
			o->unread = 1;
			break;
		case 'u':
			o->url = optarg;
			break;
		case 'W':
			if ((v = tool_num(optarg, 1LL << 31)) < 0)
				errx(EXIT_USAGE, "-W: '%s' is not a number of "
				    "seconds", optarg);
			o->deadline = now_ms() + v * 1000;
			break;
		default:
			usage(stderr);
		}
	}
}

/*
 * Where reading starts: after -o, or the member's cursor (-M) without
 * it, or the position a cursor file (-c) records over both.  A follower
 * waits for a daemon that is not there yet, and for the stream.
 */
static int64_t
start_at(struct sub *s)
{
	const struct opts *o = s->o;
	struct sess_stream ss;
	struct sess_cursor mc;
	struct sess_err e;
	int64_t start;
	int kind, rc, st;

	if (sess_offset_parse(o->offset, &kind, &start, &e) != 0)
		errx(EXIT_USAGE, "%s", e.msg);
	while ((rc = sess_conn_stream_get(s->conn, o->stream, &ss, &e)) ==
	    SESS_EIO && o->follow && sess_conn_remote(s->conn) != NULL)
		if (retry(s, &e, &st))
			exit(tool_finish(st));
	if (rc == SESS_ENOENT && o->follow)
		memset(&ss, 0, sizeof(ss));
	else if (rc != 0)
		tool_die(&e);
	if (kind == SESS_OFF_NOW)
		start = ss.tail;
	if (kind == SESS_OFF_SEQ && start > ss.tail)
		errx(EXIT_USAGE, "offset %s is beyond the tail of %s (%lld)",
		    o->offset, o->stream, (long long)ss.tail);
	if (s->mk.member != NULL && rc == 0) {
		/* Without -o, a member reads on from its cursor. */
		if (sess_conn_cursor(s->conn, o->stream, s->mk.member, -1, &mc,
		    &e) != 0)
			tool_die(&e);
		s->mk.saved = s->mk.printed = mc.seq;
		if (!o->has_offset && o->cursor == NULL)
			start = mc.seq;
	}
	if (o->cursor != NULL) {
		struct stat sb;

		s->cur.path = o->cursor;
		if (asprintf(&s->cur.tmp, "%s.tmp", o->cursor) < 0)
			err(EXIT_TEMP, "out of memory");
		s->cur.regular = fstat(1, &sb) == 0 && S_ISREG(sb.st_mode);
		s->cur.out = sb;
		if (cursor_load(&s->cur, o->stream))
			start = s->cur.seq;
		/*
		 * Record the start and stdout's size before the first event
		 * goes out, so a kill before the first save is undone too.
		 */
		cursor_save(&s->cur, s->sj, start);
	}
	return start;
}

/* Writes one event out; -1 once stdout is gone or the count is reached. */
static int
put(struct sub *s, const struct sess_event *ev)
{
	s->out.len = 0;
	if (s->o->payload) {
		if (sess_buf_add(&s->out, ev->data, ev->len) != 0 ||
		    sess_buf_add(&s->out, "\n", 1) != 0)
			err(EXIT_TEMP, "out of memory");
	} else if (sess_event_format(&s->out, s->sj, ev) != 0) {
		err(EXIT_TEMP, "out of memory");
	}
	if (tool_write(s->out.p, s->out.len) != 0)
		return -1;
	if (s->cur.path != NULL) {
		if (tool_flush() != 0)
			return -1;
		cursor_save(&s->cur, s->sj, ev->seq);
	}
	if (s->mk.member != NULL) {
		s->mk.printed = ev->seq;
		if (++s->mk.pending >= MARK_EVERY) {
			if (tool_flush() != 0)
				return -1;
			mark_save(s->conn, s->o->stream, &s->mk);
		}
	}
	return ++s->seen == s->o->count ? -1 : 0;
}

/*
 * With -f, once caught up: waits for more, until -W or until the reader
 * of stdout goes away.  Returns 0 to read on, or 1 to end with *status.
 */
static int
wait_more(struct sub *s, int *status)
{
	struct sess_err e;
	int64_t left = -1;
	int rc;

	if (s->o->deadline >= 0 && (left = s->o->deadline - now_ms()) <= 0) {
		*status = EXIT_NO;
		return 1;
	}
	/*
	 * Wake on a commit (or a long-poll answer), and at least once a
	 * second regardless in embedded mode.
	 */
	rc = sess_feed_wait(s->feed, sess_conn_remote(s->conn) ?
	    (left < 0 || left > 20000 ? 20000 : (int)left) :
	    (left < 0 || left > 1000 ? 1000 : (int)left), &e);
	if (rc == SESS_EPIPE) {
		*status = 0;
		return 1;
	}
	if (rc < 0 && (rc != SESS_EIO && rc != SESS_ENOENT))
		tool_die(&e);
	if (rc < 0)
		return retry(s, &e, status);
	return 0;
}

/* Writes the events after start; the exit status. */
static int
run(struct sub *s, int64_t start)
{
	struct sess_event ev;
	struct sess_err e;
	int rc, status;

	if ((s->feed = sess_feed_open(s->conn, s->o->stream, start,
	    s->o->ntypes > 0 ? s->o->types : NULL, &e)) == NULL)
		tool_die(&e);
	/* A follower stops once nobody reads what it writes. */
	if (s->o->follow)
		sess_conn_hangup(s->conn, 1);
	for (;;) {
		rc = sess_feed_next(s->feed, &ev, &e);
		if (rc == SESS_EPIPE)
			return 0;
		if (rc < 0 && s->o->follow && sess_conn_remote(s->conn) !=
		    NULL && (rc == SESS_EIO || rc == SESS_ENOENT)) {
			/* The daemon went away: resume where we are. */
			if (tool_flush() != 0)
				return 0;
			if (retry(s, &e, &status))
				return status;
			continue;
		}
		if (rc < 0)
			tool_die(&e);
		s->backoff = 0;
		if (rc == 1) {
			if (put(s, &ev) != 0)
				return 0;
			continue;
		}
		/* Caught up: what was read goes out before any wait. */
		if (tool_flush() != 0)
			return 0;
		mark_save(s->conn, s->o->stream, &s->mk);
		if (!s->o->follow)
			return s->o->count > 0 ? EXIT_NO : 0;
		if (wait_more(s, &status))
			return status;
	}
}

int
main(int argc, char **argv)
{
	struct opts o = { .offset = "-1", .count = -1, .deadline = -1 };
	struct sub s = { .o = &o };
	struct sess_err e;
	int kind, status;
	int64_t start;

	if (tool_init() != 0)
		errx(EXIT_TEMP, "stdout: %s", strerror(EBADF));
	srandom((unsigned)getpid() ^ (unsigned)time(NULL));
	options(argc, argv, &o);
	if (argc - optind != 1)
		usage(stderr);
	o.stream = argv[optind];
	if (sess_name_check(o.stream, strlen(o.stream), &e) != 0 ||
	    sess_offset_parse(o.offset, &kind, &start, &e) != 0)
		errx(EXIT_USAGE, "%s", e.msg);
	if (o.member != NULL && sess_member_check("-M: member", o.member,
	    &e) != 0)
		errx(EXIT_USAGE, "%s", e.msg);
	if (o.unread && o.member == NULL)
		errx(EXIT_USAGE, "-U goes with -M MEMBER");
	s.sj = tool_json_string(o.stream);
	s.mk.member = o.member;
	if (o.unread) {
		s.conn = tool_conn(o.db, o.url, SESS_RDONLY);
		unread(s.conn, o.stream, s.sj, o.member);
		sess_conn_close(s.conn);
		free(s.sj);
		return tool_finish(0);
	}
	/* A follower may start before any writer: it creates the store. */
	s.conn = tool_conn(o.db, o.url, o.follow ? 0 : SESS_RDONLY);
	sess_buf_init(&s.out, (size_t)1 << 31);
	status = run(&s, start_at(&s));
	/* What went out is read; what stdout refused is not. */
	if (tool_flush() == 0)
		mark_save(s.conn, o.stream, &s.mk);
	sess_buf_release(&s.out);
	sess_feed_close(s.feed);
	sess_conn_close(s.conn);
	free(s.sj);
	free(s.cur.tmp);
	return tool_finish(status);
}
