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
	    "       sess-replay [-a STREAM] [-d FILE | -u URL] [-x SPEED] "
	    "-i FILE\n");
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

/* One recorded event, from the store or from a file. */
struct rec {
	json_t *value;      /* for files and -a */
	char *stream;       /* the recorded stream name, for files */
	struct sess_event ev;
};

struct replay {
	struct sess_conn *conn;
	const char *dest;    /* -a */
	char *sj;            /* source stream as JSON, for output */
	double speed;        /* 0: as fast as possible; <0: no timing */
	int64_t last;        /* time of the previous event replayed */
	struct sess_item items[BATCH];
	struct sess_ack acks[BATCH];
	size_t n;
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
flush_dest(struct replay *rp)
{
	struct sess_err e;
	size_t i;
	int rc;

	if (rp->n == 0)
		return;
	rc = sess_conn_append(rp->conn, rp->dest, 0, NULL, rp->items, rp->n,
	    rp->acks, &e);
	for (i = 0; i < rp->n; i++) {
		json_decref(rp->items[i].value);
		free((char *)rp->items[i].json);
	}
	rp->n = 0;
	if (rc != 0)
		tool_die(&e);
}

/* Sends one event to stdout or into the -a stream. */
static int
emit(struct replay *rp, const char *sj, struct sess_event *ev, json_t *value)
{
	static struct sess_buf out;
	struct sess_err e;

	pace(rp, ev->time);
	if (rp->dest != NULL) {
		if (value == NULL &&
		    (value = sess_json_parse(ev->data, ev->len, &e)) == NULL)
			errx(EXIT_USAGE, "seq %lld: %s", (long long)ev->seq,
			    e.msg);
		/* Values go on as written; the parse is for conventions. */
		memset(&rp->items[rp->n], 0, sizeof(rp->items[rp->n]));
		rp->items[rp->n].value = value;
		if ((rp->items[rp->n].json = strndup(ev->data, ev->len)) ==
		    NULL)
			err(EXIT_TEMP, "out of memory");
		rp->items[rp->n].len = ev->len;
		/* Timed replays happen now; untimed copies keep the times. */
		rp->items[rp->n].time = rp->speed > 0 ? 0 : ev->time;
		rp->items[rp->n].pseq = 0;
		rp->items[rp->n].units = 1;
		if (++rp->n == BATCH || rp->speed > 0)
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
	while ((rc = sess_feed_next(f, &ev, &e)) == 1)
		if (emit(rp, rp->sj, &ev, NULL) != 0)
			break;
	if (rc < 0)
		tool_die(&e);
	sess_feed_close(f);
	flush_dest(rp);
	return 0;
}

/*
 * Import: every line of the file must be a sess-sub event line; all are
 * read and checked before the first is appended, so a bad file writes
 * nothing.
 */
static int
replay_file(struct replay *rp, const char *path)
{
	struct sess_lines *lr;
	struct sess_err e;
	struct rec *recs = NULL;
	size_t n = 0, size = 0, len, i;
	const char *line, *name;
	struct sess_buf scratch, streamname;
	char *sj;
	long lineno;
	int fd, rc = 0;

	sess_buf_init(&scratch, MAX_IMPORT_LINE);
	sess_buf_init(&streamname, SESS_NAME_MAX * 6 + 1);
	name = strcmp(path, "-") == 0 ? "<stdin>" : path;
	fd = strcmp(path, "-") == 0 ? 0 : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		err(errno == ENOENT ? EXIT_USAGE : EXIT_TEMP, "%s", path);
	if ((lr = sess_lines_new(fd, MAX_IMPORT_LINE)) == NULL)
		err(EXIT_TEMP, "out of memory");
	while (!sess_lines_done(lr)) {
		if (sess_lines_fill(lr, 1) < 0)
			err(EXIT_TEMP, "%s", name);
		while ((rc = sess_lines_next(lr, &line, &len, &lineno,
		    &e)) == 1) {
			struct sess_event ev;

			if (len == 0)
				continue;
			if (sess_event_parse_line(line, len, &ev, &scratch,
			    &streamname, &e) != 0)
				errx(EXIT_USAGE, "%s:%ld: %s", name, lineno,
				    e.msg);
			if (n == size) {
				struct rec *p;

				size = size ? size * 2 : 1024;
				if ((p = reallocarray(recs, size,
				    sizeof(*recs))) == NULL)
					err(EXIT_TEMP, "out of memory");
				recs = p;
			}
			memset(&recs[n], 0, sizeof(recs[n]));
			/* Into a stream: the value must pass its rules too. */
			if (rp->dest != NULL) {
				struct sess_evinfo in;
				json_t *v = sess_json_parse(ev.data, ev.len,
				    &e);

				if (v == NULL || sess_event_check(v, &in,
				    &e) != 0)
					errx(EXIT_USAGE, "%s:%ld: %s", name,
					    lineno, e.msg);
				recs[n].value = v;
			}
			recs[n].ev = ev;
			recs[n].ev.type = NULL;
			if ((recs[n].ev.data = strndup(ev.data, ev.len)) ==
			    NULL || (recs[n].stream = strdup(streamname.p ?
			    streamname.p : "")) == NULL)
				err(EXIT_TEMP, "out of memory");
			n++;
		}
		if (rc < 0)
			errx(EXIT_USAGE, "%s:%ld: %s", name, lineno, e.msg);
	}
	sess_lines_free(lr);
	sess_buf_release(&scratch);
	sess_buf_release(&streamname);
	if (fd != 0)
		close(fd);
	for (i = 0; i < n; i++) {
		char *text = NULL;

		sj = NULL;
		text = (char *)recs[i].ev.data;
		if (rp->dest == NULL)
			sj = tool_json_string(recs[i].stream ? recs[i].stream :
			    "");
		rc = emit(rp, sj, &recs[i].ev, recs[i].value);
		free(text);
		free(sj);
		free(recs[i].stream);
		if (rc != 0) {
			for (i++; i < n; i++) {
				json_decref(recs[i].value);
				free(recs[i].stream);
				free((char *)recs[i].ev.data);
			}
			break;
		}
	}
	flush_dest(rp);
	free(recs);
	return 0;
}

static int
print_message(const struct sess_message *m, void *arg)
{
	struct sess_buf *b = arg;

	b->len = 0;
	if (sess_message_format(b, m) != 0)
		errx(EXIT_TEMP, "message \"%s\" cannot be encoded", m->msg);
	return tool_write(b->p, b->len) != 0;
}

static void
report(const char *what, void *arg)
{
	warnx("%s: %s", (const char *)arg, what);
}

int
main(int argc, char **argv)
{
	struct replay rp = { .speed = -1 };
	const char *db = NULL, *url = NULL, *import = NULL, *stream = NULL;
	struct sess_err e;
	char *end;
	int c, state = 0, check = 0, rc, status = 0;

	if (tool_init() != 0)
		errx(EXIT_TEMP, "stdout: %s", strerror(EBADF));
	while ((c = getopt_long(argc, argv, "a:d:hi:ksu:x:", longopts,
	    NULL)) != -1) {
		switch (c) {
		case 'a':
			rp.dest = optarg;
			break;
		case 'd':
			db = optarg;
			break;
		case 'h':
			usage(stdout);
			break;
		case 'i':
			import = optarg;
			break;
		case 'k':
			check = 1;
			break;
		case 's':
			state = 1;
			break;
		case 'u':
			url = optarg;
			break;
		case 'x':
			errno = 0;
			rp.speed = strtod(optarg, &end);
			if (*optarg == '\0' || *end != '\0' || errno != 0 ||
			    !(rp.speed >= 0) || isinf(rp.speed))
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
	if (import != NULL ? argc != 0 : argc != 1)
		usage(stderr);
	if (argc == 1)
		stream = argv[0];
	if (state + check + (rp.speed >= 0 || rp.dest != NULL) > 1 ||
	    (import != NULL && (state || check))) {
		warnx("-s, -k and replaying (-x, -a, -i) go one at a time");
		usage(stderr);
	}
	if ((stream && sess_name_check(stream, strlen(stream), &e) != 0) ||
	    (rp.dest && sess_name_check(rp.dest, strlen(rp.dest), &e) != 0))
		errx(EXIT_USAGE, "%s", e.msg);
	/* Printing a recording needs no store; writing follows SESS_SYNC. */
	if (import == NULL || rp.dest != NULL)
		rp.conn = tool_conn(db, url, rp.dest ? tool_sync(NULL) :
		    SESS_RDONLY);
	if (check && sess_conn_store(rp.conn) == NULL)
		errx(EXIT_USAGE, "-k reads the store file itself: use -d, "
		    "not -u");
	if (state && sess_conn_remote(rp.conn) != NULL) {
		struct sess_buf b;

		sess_buf_init(&b, (size_t)1 << 30);
		if (sess_remote_get(sess_conn_remote(rp.conn), "/v1/messages",
		    stream, &b, &e) != 0)
			tool_die(&e);
		tool_write(b.p, b.len);
		sess_buf_release(&b);
	} else if (state) {
		struct sess_buf b;

		sess_buf_init(&b, (size_t)1 << 31);
		if ((rc = sess_messages_each(sess_conn_store(rp.conn), stream,
		    print_message, &b, &e)) != 0)
			tool_die(&e);
		sess_buf_release(&b);
	} else if (check) {
		rc = sess_check(sess_conn_store(rp.conn), stream, report,
		    (void *)stream, &e);
		if (rc < 0)
			tool_die(&e);
		if (rc > 0) {
			warnx("%s: %d problem%s", stream, rc, rc > 1 ? "s" :
			    "");
			status = EXIT_NO;
		}
	} else if (import != NULL) {
		replay_file(&rp, import);
	} else {
		rp.sj = tool_json_string(stream);
		replay_stream(&rp, stream);
		free(rp.sj);
	}
	sess_conn_close(rp.conn);
	return tool_finish(status);
}
