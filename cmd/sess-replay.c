/* sess-replay: replay a recorded session, its messages, or check it. */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tool.h"

#define BATCH 4096
#define MAX_IMPORT_LINE (64 << 20)

static void
usage(FILE *f)
{
	fprintf(f, "usage: sess-replay [-ks] [-a STREAM] [-d FILE | -u URL] "
	    "[-x SPEED] STREAM\n"
	    "       sess-replay [-k] [-a STREAM] [-d FILE | -u URL] "
	    "[-x SPEED] -i FILE\n");
	exit(f == stdout ? 0 : EXIT_USAGE);
}

static const struct option longopts[] = {
	{ "append", required_argument, NULL, 'a' },
	{ "check", no_argument, NULL, 'k' },
	{ "db", required_argument, NULL, 'd' },
	{ "help", no_argument, NULL, 'h' },
	{ "import", required_argument, NULL, 'i' },
	{ "speed", required_argument, NULL, 'x' },
	{ "state", no_argument, NULL, 's' },
	{ "url", required_argument, NULL, 'u' },
	{ NULL, 0, NULL, 0 },
};

struct opts {
	const char *db, *url, *import, *stream;
	int state, check;
};

/* One recorded event, from a file. */
struct rec {
	json_t *value;      /* for -a */
	char *stream;       /* the recorded stream name */
	struct sess_event ev;
};

struct replay {
	struct sess_conn *conn;
	const char *dest;    /* -a */
	const char *src;     /* the stream or file replayed, for messages */
	char *sj;            /* source stream as JSON, for output */
	double speed;        /* 0: as fast as possible; <0: no timing */
	int64_t last;        /* time of the previous event replayed */
	struct sess_item *items;
	struct sess_ack *acks;
	size_t n, cap;       /* items waiting; a batch's size */
	size_t done;         /* events appended so far */
};

/* An import: the recording read, and checked, before anything is written. */
struct import {
	const char *name;    /* the file, or <stdin> */
	long lineno;
	int check;           /* -k: report every problem, write nothing */
	int parse;           /* keep the values, for -a */
	struct sess_rcheck *rc;
	struct rec *recs;
	size_t n, size;
};

static void
pace(struct replay *rp, int64_t t)
{
	struct timespec ts;
	double us;

	if (rp->speed > 0 && rp->last != 0 && t > rp->last) {
		us = (double)(t - rp->last) / rp->speed;
		if (rp->dest == NULL)
			tool_flush();
		ts.tv_sec = (time_t)(us / 1e6);
		ts.tv_nsec = (long)fmod(us * 1000, 1e9);
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
	}
	rp->last = t;
}

static void
batch_alloc(struct replay *rp, size_t cap)
{
	if ((rp->items = calloc(cap, sizeof(*rp->items))) == NULL ||
	    (rp->acks = calloc(cap, sizeof(*rp->acks))) == NULL)
		err(EXIT_TEMP, "out of memory");
	rp->cap = cap;
}

/*
 * The one place sess-replay writes: a batch is one transaction, all of
 * it or nothing.  An error after earlier batches says what they kept.
 */
static void
flush_dest(struct replay *rp)
{
	struct sess_err e;
	size_t i;
	int rc;

	if (rp->n == 0)
		return;
	rc = sess_conn_append(rp->conn, rp->dest, SESS_IMPORT, NULL, rp->items,
	    rp->n, rp->acks, &e);
	for (i = 0; i < rp->n; i++) {
		json_decref(rp->items[i].value);
		free((char *)rp->items[i].json);
	}
	if (rc != 0 && rp->done > 0)
		warnx("%s: the first %zu events were appended to %s before "
		    "this error", rp->src, rp->done, rp->dest);
	if (rc != 0)
		tool_die(&e);
	rp->done += rp->n;
	rp->n = 0;
}

/* Sends one event to stdout or into the -a stream. */
static int
emit(struct replay *rp, const char *sj, struct sess_event *ev, json_t *value)
{
	static struct sess_buf out;
	struct sess_item *it;
	struct sess_err e;

	pace(rp, ev->time);
	if (rp->dest != NULL) {
		if (value == NULL &&
		    (value = sess_json_parse(ev->data, ev->len, &e)) == NULL)
			errx(EXIT_USAGE, "seq %lld: %s", (long long)ev->seq,
			    e.msg);
		/* Values go on as written; the parse is for conventions. */
		it = &rp->items[rp->n];
		memset(it, 0, sizeof(*it));
		it->value = value;
		if ((it->json = strndup(ev->data, ev->len)) == NULL)
			err(EXIT_TEMP, "out of memory");
		it->len = ev->len;
		/* Timed replays happen now; untimed copies keep the times. */
		it->time = rp->speed > 0 ? 0 : ev->time;
		it->units = 1;
		if (++rp->n == rp->cap || rp->speed > 0)
			flush_dest(rp);
		return 0;
	}
	json_decref(value);
	if (out.cap == 0)
		sess_buf_init(&out, (size_t)1 << 31);
	out.len = 0;
	if (sess_event_format(&out, sj, ev) != 0)
		err(EXIT_TEMP, "out of memory");
	if (tool_write(out.p, out.len) != 0)
		return -1;
	if (rp->speed > 0)
		return tool_flush();
	return 0;
}

static int
replay_stream(struct replay *rp, const char *stream)
{
	struct sess_feed *f;
	struct sess_stream ss;
	struct sess_event ev;
	struct sess_err e;
	int rc;

	if (rp->dest != NULL && strcmp(stream, rp->dest) == 0)
		errx(EXIT_USAGE, "-a: cannot replay %s into itself", stream);
	if (sess_conn_stream_get(rp->conn, stream, &ss, &e) != 0 ||
	    (f = sess_feed_open(rp->conn, stream, 0, NULL, &e)) == NULL)
		tool_die(&e);
	rp->src = stream;
	batch_alloc(rp, BATCH);
	rp->sj = tool_json_string(stream);
	while ((rc = sess_feed_next(f, &ev, &e)) == 1)
		if (emit(rp, rp->sj, &ev, NULL) != 0)
			break;
	if (rc < 0)
		tool_die(&e);
	sess_feed_close(f);
	flush_dest(rp);
	free(rp->sj);
	return 0;
}

/* A problem the check found on the current line: -k lists, import stops. */
static void
line_problem(const char *what, void *arg)
{
	struct import *im = arg;

	if (!im->check)
		errx(EXIT_USAGE, "%s:%ld: %s", im->name, im->lineno, what);
	warnx("%s:%ld: %s", im->name, im->lineno, what);
}

/* A line that is not an event: the end of an import, one problem of -k. */
static void
bad_line(struct import *im, const char *why)
{
	line_problem(why, im);
	sess_rcheck_lost(im->rc);
}

static struct rec *
rec_new(struct import *im)
{
	struct rec *p;

	if (im->n == im->size) {
		im->size = im->size ? im->size * 2 : 1024;
		if ((p = reallocarray(im->recs, im->size, sizeof(*p))) == NULL)
			err(EXIT_TEMP, "out of memory");
		im->recs = p;
	}
	p = &im->recs[im->n++];
	memset(p, 0, sizeof(*p));
	return p;
}

/* Parses and checks one line, and keeps its event. */
static void
read_line(struct import *im, const char *line, size_t len,
    struct sess_buf *scratch, struct sess_buf *streamname)
{
	struct sess_event ev;
	struct sess_err e;
	struct rec *r;
	json_t *v = NULL;

	if (sess_event_parse_line(line, len, &ev, scratch, streamname,
	    &e) != 0) {
		bad_line(im, e.msg);
		return;
	}
	if (im->parse && (v = sess_json_parse(ev.data, ev.len, &e)) == NULL) {
		bad_line(im, e.msg);
		return;
	}
	if (sess_rcheck_line(im->rc, line, len, &ev, v, &e) < 0)
		tool_die(&e);
	if (im->check) {
		json_decref(v);
		return;
	}
	r = rec_new(im);
	r->value = v;
	r->ev = ev;
	r->ev.type = NULL;
	if ((r->ev.data = strndup(ev.data, ev.len)) == NULL ||
	    (r->stream = strdup(streamname->p ? streamname->p : "")) == NULL)
		err(EXIT_TEMP, "out of memory");
}

/*
 * Reads every line of the file and checks it as a recording, before the
 * first is replayed, so that a bad file replays nothing.
 */
static void
read_file(struct import *im, const char *path)
{
	struct sess_lines *lr;
	struct sess_buf scratch, streamname;
	struct sess_err e;
	const char *line;
	size_t len;
	int fd, rc = 0;

	sess_buf_init(&scratch, MAX_IMPORT_LINE);
	sess_buf_init(&streamname, SESS_NAME_MAX * 6 + 1);
	im->name = strcmp(path, "-") == 0 ? "<stdin>" : path;
	fd = strcmp(path, "-") == 0 ? 0 : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		err(errno == ENOENT ? EXIT_USAGE : EXIT_TEMP, "%s", path);
	if ((lr = sess_lines_new(fd, MAX_IMPORT_LINE)) == NULL ||
	    (im->rc = sess_rcheck_new(line_problem, im, &e)) == NULL)
		err(EXIT_TEMP, "out of memory");
	while (rc >= 0 && !sess_lines_done(lr)) {
		if (sess_lines_fill(lr, 1) < 0)
			err(EXIT_TEMP, "%s", im->name);
		while ((rc = sess_lines_next(lr, &line, &len, &im->lineno,
		    &e)) == 1)
			if (len > 0)
				read_line(im, line, len, &scratch,
				    &streamname);
		/* A line over the limit cannot be skipped: the end. */
		if (rc < 0)
			bad_line(im, e.msg);
	}
	sess_lines_free(lr);
	sess_buf_release(&scratch);
	sess_buf_release(&streamname);
	if (fd != 0)
		close(fd);
}

/* Replays what read_file() kept; an untimed -a writes it in one batch. */
static void
replay_recs(struct replay *rp, struct import *im)
{
	char *sj;
	size_t i;
	int rc = 0;

	rp->src = im->name;
	batch_alloc(rp, rp->speed > 0 || im->n == 0 ? 1 : im->n);
	for (i = 0; i < im->n; i++) {
		sj = rp->dest == NULL ? tool_json_string(im->recs[i].stream) :
		    NULL;
		if (rc == 0)
			rc = emit(rp, sj, &im->recs[i].ev, im->recs[i].value);
		else
			json_decref(im->recs[i].value);
		free(sj);
		free(im->recs[i].stream);
		free((char *)im->recs[i].ev.data);
	}
	flush_dest(rp);
	free(im->recs);
}

static int
run_import(struct replay *rp, const struct opts *o)
{
	struct import im;
	int n;

	memset(&im, 0, sizeof(im));
	im.check = o->check;
	im.parse = rp->dest != NULL;
	read_file(&im, o->import);
	n = sess_rcheck_end(im.rc);
	sess_rcheck_free(im.rc);
	if (n > 0) {
		warnx("%s: %d problem%s", im.name, n, n > 1 ? "s" : "");
		return EXIT_NO;
	}
	if (!o->check)
		replay_recs(rp, &im);
	return 0;
}

/* -s: the materialized messages, as JSON lines, in either mode. */
static int
run_state(struct replay *rp, const char *stream)
{
	struct sess_buf b;
	struct sess_err e;

	sess_buf_init(&b, (size_t)1 << 31);
	if (sess_conn_messages(rp->conn, stream, &b, &e) != 0)
		tool_die(&e);
	if (b.len > 0)
		tool_write(b.p, b.len);
	sess_buf_release(&b);
	return 0;
}

static void
report(const char *what, void *arg)
{
	warnx("%s: %s", (const char *)arg, what);
}

static int
run_check(struct replay *rp, const char *stream)
{
	struct sess_err e;
	int rc;

	if (sess_conn_store(rp->conn) == NULL)
		errx(EXIT_USAGE, "-k reads the store file itself: use -d, "
		    "not -u");
	rc = sess_check(sess_conn_store(rp->conn), stream, report,
	    (void *)stream, &e);
	if (rc < 0)
		tool_die(&e);
	if (rc == 0)
		return 0;
	warnx("%s: %d problem%s", stream, rc, rc > 1 ? "s" : "");
	return EXIT_NO;
}

static void
parse_options(int argc, char **argv, struct opts *o, struct replay *rp)
{
	char *end;
	int c;

	while ((c = getopt_long(argc, argv, "a:d:hi:ksu:x:", longopts,
	    NULL)) != -1) {
		switch (c) {
		case 'a':
			rp->dest = optarg;
			break;
		case 'd':
			o->db = optarg;
			break;
		case 'h':
			usage(stdout);
			break;
		case 'i':
			o->import = optarg;
			break;
		case 'k':
			o->check = 1;
			break;
		case 's':
			o->state = 1;
			break;
		case 'u':
			o->url = optarg;
			break;
		case 'x':
			errno = 0;
			rp->speed = strtod(optarg, &end);
			if (*optarg == '\0' || *end != '\0' || errno != 0 ||
			    !(rp->speed >= 0) || isinf(rp->speed))
				errx(EXIT_USAGE, "-x: '%s' is not a speed "
				    "(0 for no delays, 1 for real time)",
				    optarg);
			break;
		default:
			usage(stderr);
		}
	}
	argc -= optind;
	argv += optind;
	if (o->import != NULL ? argc != 0 : argc != 1)
		usage(stderr);
	if (argc == 1)
		o->stream = argv[0];
}

/* -s, -k and replaying go one at a time; -k takes a stream or a file. */
static void
check_options(const struct opts *o, const struct replay *rp)
{
	struct sess_err e;

	if (o->state + o->check + (rp->speed >= 0 || rp->dest != NULL) > 1 ||
	    (o->import != NULL && o->state)) {
		warnx("-s, -k and replaying (-x, -a, -i) go one at a time");
		usage(stderr);
	}
	if ((o->stream && sess_name_check(o->stream, strlen(o->stream),
	    &e) != 0) || (rp->dest && sess_name_check(rp->dest,
	    strlen(rp->dest), &e) != 0))
		errx(EXIT_USAGE, "%s", e.msg);
}

int
main(int argc, char **argv)
{
	struct replay rp = { .speed = -1 };
	struct opts o = { 0 };
	int status = 0;

	if (tool_init() != 0)
		errx(EXIT_TEMP, "stdout: %s", strerror(EBADF));
	parse_options(argc, argv, &o, &rp);
	check_options(&o, &rp);
	/*
	 * A recording is printed or checked without a store; writing
	 * follows SESS_SYNC.
	 */
	if (o.import == NULL || rp.dest != NULL)
		rp.conn = tool_conn(o.db, o.url, rp.dest ? tool_sync(NULL) :
		    SESS_RDONLY);
	if (o.import != NULL)
		status = run_import(&rp, &o);
	else if (o.state)
		status = run_state(&rp, o.stream);
	else if (o.check)
		status = run_check(&rp, o.stream);
	else
		replay_stream(&rp, o.stream);
	free(rp.items);
	free(rp.acks);
	sess_conn_close(rp.conn);
	return tool_finish(status);
}
