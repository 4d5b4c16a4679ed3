/* sess-sub: read and follow a stream as JSON lines. */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
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

/*
 * Waits before reconnecting to a daemon that went away: exponential
 * backoff from 100 ms to 5 s with jitter, within the -W deadline.
 * Returns -1 once the deadline has passed.
 */
static int
retry(int *backoff, int64_t deadline, const struct sess_err *e)
{
	int ms;

	if (*backoff == 0)
		warnx("%s; retrying", e->msg);
	*backoff = *backoff ? (*backoff * 2 > 5000 ? 5000 : *backoff * 2) :
	    100;
	ms = *backoff / 2 + (int)(random() % (*backoff / 2 + 1));
	if (deadline >= 0 && now_ms() + ms > deadline) {
		ms = (int)(deadline - now_ms());
		if (ms <= 0)
			return -1;
	}
	poll(NULL, 0, ms);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *db = NULL, *url = NULL, *offset = "-1", *type = NULL;
	const char *stream;
	struct cursor cur = { 0 };
	struct mark mk = { 0 };
	struct sess_cursor mc;
	struct sess_conn *conn;
	struct sess_feed *feed;
	struct sess_stream ss;
	struct sess_event ev;
	struct sess_err e;
	struct sess_buf out;
	long long count = -1, seen = 0, v;
	int64_t start, deadline = -1, left;
	int c, follow = 0, payload = 0, kind, rc, status = 0, backoff = 0;
	int show_unread = 0, has_offset = 0;
	char *sj;

	if (tool_init() != 0)
		errx(EXIT_TEMP, "stdout: %s", strerror(EBADF));
	srandom((unsigned)getpid() ^ (unsigned)time(NULL));
	while ((c = getopt_long(argc, argv, "C:c:d:fhM:o:PW:t:Uu:", longopts,
	    NULL)) != -1) {
		switch (c) {
		case 'C':
			if ((count = tool_num(optarg, 1LL << 62)) < 1)
				errx(EXIT_USAGE, "-C: '%s' is not a positive "
				    "count", optarg);
			break;
		case 'c':
			cur.path = optarg;
			break;
		case 'd':
			db = optarg;
			break;
		case 'f':
			follow = 1;
			break;
		case 'h':
			usage(stdout);
			break;
		case 'M':
			mk.member = optarg;
			break;
		case 'o':
			offset = optarg;
			has_offset = 1;
			break;
		case 'P':
			payload = 1;
			break;
		case 't':
			type = optarg;
			break;
		case 'U':
			show_unread = 1;
			break;
		case 'u':
			url = optarg;
			break;
		case 'W':
			if ((v = tool_num(optarg, 1LL << 31)) < 0)
				errx(EXIT_USAGE, "-W: '%s' is not a number of "
				    "seconds", optarg);
			deadline = now_ms() + v * 1000;
			break;
		default:
			usage(stderr);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 1)
		usage(stderr);
	stream = argv[0];
	if (sess_name_check(stream, strlen(stream), &e) != 0 ||
	    sess_offset_parse(offset, &kind, &start, &e) != 0)
		errx(EXIT_USAGE, "%s", e.msg);
	if (mk.member != NULL && sess_member_check("-M: member", mk.member,
	    &e) != 0)
		errx(EXIT_USAGE, "%s", e.msg);
	if (show_unread && mk.member == NULL)
		errx(EXIT_USAGE, "-U goes with -M MEMBER");
	sj = tool_json_string(stream);
	if (show_unread) {
		conn = tool_conn(db, url, SESS_RDONLY);
		unread(conn, stream, sj, mk.member);
		sess_conn_close(conn);
		free(sj);
		return tool_finish(0);
	}
	/* A follower may start before any writer: it creates the store. */
	conn = tool_conn(db, url, follow ? 0 : SESS_RDONLY);
	while ((rc = sess_conn_stream_get(conn, stream, &ss, &e)) == SESS_EIO &&
	    follow && sess_conn_remote(conn) != NULL)
		if (retry(&backoff, deadline, &e) != 0)
			return tool_finish(EXIT_NO);
	if (rc == SESS_ENOENT)
		memset(&ss, 0, sizeof(ss));
	else if (rc != 0)
		tool_die(&e);
	if (rc == SESS_ENOENT && !follow)
		tool_die(&e);
	if (kind == SESS_OFF_NOW)
		start = ss.tail;
	if (kind == SESS_OFF_SEQ && start > ss.tail)
		errx(EXIT_USAGE, "offset %s is beyond the tail of %s (%lld)",
		    offset, stream, (long long)ss.tail);
	if (mk.member != NULL && rc == 0) {
		/* Without -o, a member reads on from its cursor. */
		if (sess_conn_cursor(conn, stream, mk.member, -1, &mc,
		    &e) != 0)
			tool_die(&e);
		mk.saved = mk.printed = mc.seq;
		if (!has_offset && cur.path == NULL)
			start = mc.seq;
	}
	if (cur.path != NULL) {
		struct stat sb;

		if (asprintf(&cur.tmp, "%s.tmp", cur.path) < 0)
			err(EXIT_TEMP, "out of memory");
		cur.regular = fstat(1, &sb) == 0 && S_ISREG(sb.st_mode);
		cur.out = sb;
		if (cursor_load(&cur, stream))
			start = cur.seq;
		/*
		 * Record the start and stdout's size before the first event
		 * goes out, so a kill before the first save is undone too.
		 */
		cursor_save(&cur, sj, start);
	}
	if ((feed = sess_feed_open(conn, stream, start, type, &e)) == NULL)
		tool_die(&e);
	sess_buf_init(&out, (size_t)1 << 31);
	for (;;) {
		rc = sess_feed_next(feed, &ev, &e);
		if (rc < 0 && follow && sess_conn_remote(conn) != NULL &&
		    (rc == SESS_EIO || rc == SESS_ENOENT)) {
			/* The daemon went away: resume where we are. */
			if (tool_flush() != 0)
				break;
			if (retry(&backoff, deadline, &e) != 0) {
				status = EXIT_NO;
				break;
			}
			continue;
		}
		if (rc < 0)
			tool_die(&e);
		if (rc == 1) {
			backoff = 0;
			out.len = 0;
			if (payload) {
				if (sess_buf_add(&out, ev.data, ev.len) != 0 ||
				    sess_buf_add(&out, "\n", 1) != 0)
					err(EXIT_TEMP, "out of memory");
			} else if (sess_event_format(&out, sj, &ev) != 0) {
				err(EXIT_TEMP, "out of memory");
			}
			if (tool_write(out.p, out.len) != 0)
				break;
			if (cur.path != NULL) {
				if (tool_flush() != 0)
					break;
				cursor_save(&cur, sj, ev.seq);
			}
			if (mk.member != NULL) {
				mk.printed = ev.seq;
				if (++mk.pending >= MARK_EVERY) {
					if (tool_flush() != 0)
						break;
					mark_save(conn, stream, &mk);
				}
			}
			if (++seen == count)
				break;
			continue;
		}
		/* Caught up: what was read goes out before any wait. */
		if (tool_flush() != 0)
			break;
		mark_save(conn, stream, &mk);
		if (!follow) {
			status = count > 0 ? EXIT_NO : 0;
			break;
		}
		left = -1;
		if (deadline >= 0 && (left = deadline - now_ms()) <= 0) {
			status = EXIT_NO;
			break;
		}
		/*
		 * Wake on a commit (or a long-poll answer), and at least
		 * once a second regardless in embedded mode.
		 */
		rc = sess_feed_wait(feed, sess_conn_remote(conn) ?
		    (left < 0 || left > 20000 ? 20000 : (int)left) :
		    (left < 0 || left > 1000 ? 1000 : (int)left), &e);
		if (rc < 0 && (rc != SESS_EIO && rc != SESS_ENOENT))
			tool_die(&e);
		if (rc < 0 && retry(&backoff, deadline, &e) != 0) {
			status = EXIT_NO;
			break;
		}
	}
	/* What went out is read; what stdout refused is not. */
	if (tool_flush() == 0)
		mark_save(conn, stream, &mk);
	sess_buf_release(&out);
	sess_feed_close(feed);
	sess_conn_close(conn);
	free(sj);
	free(cur.tmp);
	return tool_finish(status);
}
