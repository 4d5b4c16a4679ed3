/* sess-pub: append events to a stream, from arguments or stdin. */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tool.h"

#define BATCH_MAX 8192              /* values per transaction */
#define BATCH_BYTES (8 << 20)       /* input bytes per transaction */
#define DEFAULT_MAXLINE (1 << 20)
#define TEXT_CHUNK 65536

static void
usage(FILE *f)
{
	fprintf(f, "usage: sess-pub [-FNqT] [-d FILE | -u URL] [-e EPOCH] "
	    "[-L BYTES] [-m MSG]\n"
	    "                [-p PRODUCER] [-S MODE] [-t TYPE] STREAM "
	    "[VALUE ...]\n");
	exit(f == stdout ? 0 : EXIT_USAGE);
}

static const struct option longopts[] = {
	{ "db", required_argument, NULL, 'd' },
	{ "epoch", required_argument, NULL, 'e' },
	{ "help", no_argument, NULL, 'h' },
	{ "max-line", required_argument, NULL, 'L' },
	{ "msg", required_argument, NULL, 'm' },
	{ "no-create", no_argument, NULL, 'N' },
	{ "no-finish", no_argument, NULL, 'F' },
	{ "producer", required_argument, NULL, 'p' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "sync", required_argument, NULL, 'S' },
	{ "text", no_argument, NULL, 'T' },
	{ "type", required_argument, NULL, 't' },
	{ "url", required_argument, NULL, 'u' },
	{ NULL, 0, NULL, 0 },
};

struct pub {
	struct sess_conn *conn;
	const char *stream;
	struct sess_producer pr, *prp;
	const char *type, *msg;
	int flags, quiet;
	int created, nofinish;         /* -T: message created; -F */
	/* The pending batch. */
	struct sess_item items[BATCH_MAX];
	struct sess_ack acks[BATCH_MAX];
	size_t n, bytes;
	int64_t pseq;                  /* producer position of the next value */
	/* Compact texts of the batch's scanned values, and where each is. */
	struct sess_buf raw;
	struct sess_jscan scans[BATCH_MAX];
	size_t maxline;
};

/* Commits the pending batch and prints its acknowledgements. */
static void
flush_batch(struct pub *p)
{
	struct sess_err e;
	char line[128];
	size_t i;
	int len, rc;

	if (p->n == 0)
		return;
	/* Scanned texts are placed now that the buffer no longer moves. */
	for (i = 0; i < p->n; i++) {
		struct sess_jscan *js = &p->scans[i];

		if (js->len == 0)
			continue; /* no scanned text: the value is encoded */
		p->items[i].json = p->raw.p + js->at;
		p->items[i].len = js->len;
		if (p->items[i].value != NULL)
			continue; /* its conventions come from the value */
		p->items[i].type = js->has_type ? p->raw.p + js->type_at : NULL;
		p->items[i].typelen = js->type_len;
	}
	rc = sess_conn_append(p->conn, p->stream, p->flags, p->prp, p->items,
	    p->n, p->acks, &e);
	for (i = 0; i < p->n; i++)
		json_decref(p->items[i].value);
	if (rc != 0)
		tool_die(&e);
	for (i = 0; !p->quiet && i < p->n; i++) {
		len = snprintf(line, sizeof(line), "{\"offset\":\"%0*lld\","
		    "\"seq\":%lld%s}\n", SESS_OFFSET_LEN,
		    (long long)p->acks[i].seq, (long long)p->acks[i].seq,
		    p->acks[i].duplicate ? ",\"duplicate\":true" : "");
		if (tool_write(line, (size_t)len) != 0)
			break;
	}
	if (!p->quiet)
		tool_flush();
	p->n = p->bytes = 0;
	p->raw.len = 0;
}

/* Makes room in the batch for one more value of about bytes. */
static void
room(struct pub *p, size_t bytes)
{
	if (p->n == BATCH_MAX || p->bytes + bytes > BATCH_BYTES)
		flush_batch(p);
}

/* Adds a value; with scanned set, its scan is in p->scans[p->n]. */
static void
add(struct pub *p, json_t *v, int64_t units, size_t bytes, int scanned)
{
	struct sess_item *it;

	if (!scanned) {
		room(p, bytes);
		p->scans[p->n].len = 0;
	}
	it = &p->items[p->n];
	memset(it, 0, sizeof(*it));
	it->value = v;
	it->pseq = p->pseq;
	it->units = units;
	p->pseq += units;
	p->bytes += bytes;
	p->n++;
}

/* Applies -t and -m and the event conventions; NULL with e on error. */
static json_t *
prepare(struct pub *p, json_t *v, struct sess_err *e)
{
	struct sess_evinfo in;

	if (p->type != NULL || p->msg != NULL) {
		if (!json_is_object(v)) {
			sess_err_set(e, SESS_EINVAL, "%s needs a JSON object",
			    p->type ? "-t" : "-m");
			goto fail;
		}
		if ((p->type && json_object_set_new(v, "type",
		    json_string(p->type)) != 0) || (p->msg &&
		    json_object_set_new(v, "msg", json_string(p->msg)) != 0)) {
			sess_err_set(e, SESS_EINVAL, "-t or -m is not UTF-8");
			goto fail;
		}
	}
	if (sess_event_check(v, &in, e) != 0)
		goto fail;
	return v;
fail:
	json_decref(v);
	return NULL;
}

/* The store's own events are refused before anything is sent. */
static int
own(json_t *v, const char *raw, const struct sess_jscan *js,
    struct sess_err *e)
{
	if (v != NULL)
		return sess_event_own(v, NULL, 0, NULL, 0, e);
	return sess_event_own(NULL, raw + js->at, js->len, js->has_type ?
	    raw + js->type_at : NULL, js->type_len, e);
}

/*
 * Adds a hint to e when text, which is not JSON, looks like a bare word,
 * the commonest slip (sess-pub s hello): with shell quotes for an
 * argument, as it would be typed.
 */
static void
not_json(const char *text, size_t len, int arg, struct sess_err *e)
{
	size_t i, at, n = strlen(e->msg);

	for (at = 0; at < len && text[at] != '\0' && strchr(" \t\r", text[at]);
	    at++)
		;
	if (at == len || text[at] == '\0' || strchr("{[\"-0123456789",
	    text[at]))
		return;
	for (i = at; i < len && i - at <= 40; i++)
		if (strchr("\"\\'", text[i]) || (unsigned char)text[i] < 0x20)
			break;
	if (i < len)
		snprintf(e->msg + n, sizeof(e->msg) - n, " (not JSON; a string "
		    "needs quotes)");
	else
		snprintf(e->msg + n, sizeof(e->msg) - n, " (not JSON; a string "
		    "needs quotes: %s\"%.*s\"%s)", arg ? "'" : "",
		    (int)(len - at), text + at, arg ? "'" : "");
}

/*
 * Adds one JSON text to the batch.  The fast path validates and compacts
 * in one pass; values that -t or -m change, or that carry message ops,
 * go through the full parser.  On error nothing is added.
 */
static int
take(struct pub *p, const char *text, size_t len, struct sess_err *e)
{
	struct sess_jscan *js;
	json_t *v;
	int rc;

	room(p, len);
	js = &p->scans[p->n];
	if ((rc = sess_json_scan(text, len, &p->raw, js, e)) != 0) {
		not_json(text, len, 0, e);
		return rc;
	}
	if (!js->complex && !p->type && !p->msg) {
		struct sess_item *it = &p->items[p->n];

		if ((rc = own(NULL, p->raw.p, js, e)) != 0) {
			p->raw.len = js->at;
			return rc;
		}

		memset(it, 0, sizeof(*it));
		it->pseq = p->pseq++;
		it->units = 1;
		p->bytes += len;
		p->n++;
		return 0;
	}
	/* -t and -m change the value: it is encoded anew. */
	if (p->type || p->msg) {
		p->raw.len = js->at;
		js->len = 0;
	}
	if ((v = sess_json_parse(text, len, e)) == NULL ||
	    (v = prepare(p, v, e)) == NULL) {
		p->raw.len = js->at;
		return SESS_EINVAL;
	}
	if ((rc = own(v, NULL, NULL, e)) != 0) {
		json_decref(v);
		p->raw.len = js->at;
		return rc;
	}
	add(p, v, 1, len, 1);
	return 0;
}

/* Arguments: every one is checked before anything is written. */
static void
pub_args(struct pub *p, int argc, char **argv)
{
	struct sess_jscan js;
	struct sess_buf tmp;
	struct sess_err e;
	json_t *v;
	int i;

	sess_buf_init(&tmp, (size_t)1 << 30);
	for (i = 0; i < argc; i++) {
		tmp.len = 0;
		v = NULL;
		if (sess_json_scan(argv[i], strlen(argv[i]), &tmp, &js,
		    &e) != 0) {
			not_json(argv[i], strlen(argv[i]), 1, &e);
			errx(EXIT_USAGE, "argument %d: %s", i + 1, e.msg);
		}
		if (((js.complex || p->type || p->msg) &&
		    ((v = sess_json_parse(argv[i], strlen(argv[i]), &e)) ==
		    NULL || (v = prepare(p, v, &e)) == NULL)) ||
		    own(v, tmp.p, &js, &e) != 0)
			errx(EXIT_USAGE, "argument %d: %s", i + 1, e.msg);
		json_decref(v);
	}
	sess_buf_release(&tmp);
	for (i = 0; i < argc; i++)
		if (take(p, argv[i], strlen(argv[i]), &e) != 0)
			errx(EXIT_USAGE, "argument %d: %s", i + 1, e.msg);
	flush_batch(p);
}

static void
pub_lines(struct pub *p)
{
	struct sess_lines *lr;
	struct sess_err e;
	const char *line;
	size_t len, i;
	long lineno;
	int rc;

	if ((lr = sess_lines_new(0, p->maxline)) == NULL)
		err(EXIT_TEMP, "out of memory");
	while (!sess_lines_done(lr)) {
		if (sess_lines_fill(lr, 1) < 0 && errno != EAGAIN)
			err(EXIT_TEMP, "<stdin>");
		/* Take whatever else is ready now: it shares the commit. */
		for (;;) {
			rc = sess_lines_next(lr, &line, &len, &lineno, &e);
			if (rc == 0) {
				if (sess_lines_done(lr) ||
				    sess_lines_fill(lr, 0) < 0)
					break;
				continue;
			}
			if (rc > 0) {
				for (i = 0; i < len && strchr(" \t\r", line[i]);
				    i++)
					;
				if (i == len)
					continue; /* blank: no value */
				rc = take(p, line, len, &e);
			}
			if (rc < 0) {
				/* Lines before this one are written. */
				flush_batch(p);
				errx(EXIT_USAGE, "<stdin>:%ld: %s", lineno,
				    e.msg);
			}
		}
		flush_batch(p);
	}
	sess_lines_free(lr);
}

static json_t *
textop(struct pub *p, const char *op)
{
	json_t *v = json_pack("{s:s, s:s}", "msg", p->msg, "op", op);

	if (v == NULL)
		errx(EXIT_USAGE, "-m: message name is not UTF-8");
	if (p->type != NULL)
		json_object_set_new(v, "type", json_string(p->type));
	return v;
}

/*
 * Appends len bytes of valid text to the message, creating it first if
 * this is the first text: a message exists only once it has some.
 */
static void
text_put(struct pub *p, const unsigned char *text, size_t len)
{
	json_t *v;

	if (!p->created) {
		/* A batch of its own: in remote mode only a lone value may
		 * take more than one producer position (Sess-Units). */
		add(p, textop(p, "create"), 1, 0, 0);
		flush_batch(p);
		p->created = 1;
	}
	if (len > 0) {
		v = textop(p, "append");
		json_object_set_new(v, "text", json_stringn((const char *)text,
		    len));
		add(p, v, (int64_t)len, len, 0);
	}
	flush_batch(p);
}

/*
 * Where the first byte in buf[0..held) that text cannot hold is, or -1;
 * *valid is the length of the complete UTF-8 before it, *why says what
 * is wrong with it.
 */
static long
text_bad(const unsigned char *buf, size_t held, size_t *valid,
    const char **why)
{
	const unsigned char *nul;
	long bad;

	*valid = sess_utf8_prefix(buf, held, &bad);
	*why = "invalid UTF-8";
	if ((nul = memchr(buf, '\0', bad >= 0 ? (size_t)bad : *valid)) !=
	    NULL) {
		bad = (long)(nul - buf);
		*why = "NUL byte in text";
	}
	if (bad >= 0)
		*valid = (size_t)bad;
	return bad;
}

/*
 * Text mode: raw stdin appended to one message as it arrives.  The
 * producer position counts bytes (plus one for create and one for
 * finish), so a rerun skips exactly the text already written whatever
 * its chunks.  A UTF-8 sequence split across reads waits for its end.
 * Input text cannot hold (invalid UTF-8, a NUL) ends it with status 2
 * after the valid text before it is appended, the message unfinished.
 */
static void
pub_text(struct pub *p)
{
	unsigned char buf[TEXT_CHUNK];
	size_t held = 0, valid;
	long long total = 0;
	const char *why;
	ssize_t n;
	long bad;

	for (;;) {
		do
			n = read(0, buf + held, sizeof(buf) - held);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			err(EXIT_TEMP, "<stdin>");
		if (n == 0)
			break;
		held += (size_t)n;
		bad = text_bad(buf, held, &valid, &why);
		if (valid > 0)
			text_put(p, buf, valid);
		if (bad >= 0)
			errx(EXIT_USAGE, "<stdin>: byte %lld: %s", total + bad +
			    1, why);
		total += (long long)valid;
		memmove(buf, buf + valid, held - valid);
		held -= valid;
	}
	if (held > 0)
		errx(EXIT_USAGE, "<stdin>: byte %lld: truncated UTF-8 sequence "
		    "at end of input", total + 1);
	if (!p->created)
		text_put(p, NULL, 0);
	if (!p->nofinish) {
		add(p, textop(p, "finish"), 1, 0, 0);
		flush_batch(p);
	}
}

/*
 * The producer id from SESS_PRODUCER and -p, and its epoch from -e or
 * SESS_EPOCH, into p; returns the id (new, to free) or NULL if none.
 */
static char *
producer(struct pub *p, const char *name, const char *epoch)
{
	const char *prefix = getenv("SESS_PRODUCER");
	char *id = NULL;

	/* SESS_PRODUCER names the activity, -p the invocation inside it. */
	if (prefix != NULL && *prefix == '\0')
		prefix = NULL;
	if (prefix && name) {
		if (asprintf(&id, "%s/%s", prefix, name) < 0)
			err(EXIT_TEMP, "out of memory");
	} else if (prefix || name) {
		if ((id = strdup(prefix ? prefix : name)) == NULL)
			err(EXIT_TEMP, "out of memory");
	}
	if (epoch == NULL && id != NULL)
		epoch = getenv("SESS_EPOCH");
	if (epoch != NULL && *epoch != '\0' && id == NULL)
		errx(EXIT_USAGE, "-e needs a producer (-p or SESS_PRODUCER)");
	if (id == NULL)
		return NULL;
	p->pr.id = id;
	p->pr.epoch = 0;
	if (epoch != NULL && *epoch != '\0' &&
	    (p->pr.epoch = tool_num(epoch, (1LL << 53) - 1)) < 0)
		errx(EXIT_USAGE, "%s: epoch '%s' is not a whole number",
		    getenv("SESS_EPOCH") == epoch ? "SESS_EPOCH" : "-e", epoch);
	p->prp = &p->pr;
	return id;
}

/* Opens the store or the daemon; with -N, STREAM must exist already. */
static void
pub_open(struct pub *p, const char *db, const char *url, const char *sync)
{
	struct sess_stream ss;
	struct sess_err e;

	p->conn = tool_conn(db, url, tool_sync(sync) |
	    (p->flags & SESS_NOCREATE ? SESS_RDONLY : 0));
	/* Refused now, even when there turns out to be no input. */
	if ((p->flags & SESS_NOCREATE) &&
	    sess_conn_stream_get(p->conn, p->stream, &ss, &e) != 0)
		tool_die(&e);
}

int
main(int argc, char **argv)
{
	static struct pub p;
	struct sess_err e;
	const char *db = NULL, *url = NULL, *sync = NULL;
	const char *name = NULL;
	const char *epoch = NULL;
	struct sess_err te;
	size_t maxline = DEFAULT_MAXLINE;
	long long v;
	int c, text = 0, stdout_closed;
	char *id = NULL;

	stdout_closed = tool_init();
	while ((c = getopt_long(argc, argv, "+d:e:FhL:m:Np:qS:Tt:u:", longopts,
	    NULL)) != -1) {
		switch (c) {
		case 'd':
			db = optarg;
			break;
		case 'e':
			epoch = optarg;
			break;
		case 'F':
			p.nofinish = 1;
			break;
		case 'h':
			usage(stdout);
			break;
		case 'L':
			if ((v = tool_num(optarg, 1LL << 30)) < 1)
				errx(EXIT_USAGE, "-L: '%s' is not a size from "
				    "1 to 1073741824", optarg);
			maxline = (size_t)v;
			break;
		case 'm':
			p.msg = optarg;
			break;
		case 'N':
			p.flags |= SESS_NOCREATE;
			break;
		case 'p':
			name = optarg;
			break;
		case 'q':
			p.quiet = 1;
			break;
		case 'S':
			sync = optarg;
			break;
		case 'T':
			text = 1;
			break;
		case 't':
			p.type = optarg;
			if (sess_event_own(NULL, NULL, 0, optarg,
			    strlen(optarg), &te) != 0)
				errx(EXIT_USAGE, "-t: %s", te.msg);
			break;
		case 'u':
			url = optarg;
			break;
		default:
			usage(stderr);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage(stderr);
	if (text && (argc > 1 || p.msg == NULL)) {
		warnx("-T reads text from stdin into the message named by -m");
		usage(stderr);
	}
	if (p.nofinish && !text) {
		warnx("-F needs -T: it leaves the text's message unfinished");
		usage(stderr);
	}
	p.stream = argv[0];
	if (sess_name_check(p.stream, strlen(p.stream), &e) != 0)
		errx(EXIT_USAGE, "%s", e.msg);
	id = producer(&p, name, epoch);
	if (stdout_closed && !p.quiet)
		errx(EXIT_TEMP, "stdout: %s", strerror(EBADF));
	p.maxline = maxline;
	sess_buf_init(&p.raw, BATCH_BYTES + maxline + 16);
	pub_open(&p, db, url, sync);
	if (text)
		pub_text(&p);
	else if (argc > 1)
		pub_args(&p, argc - 1, argv + 1);
	else
		pub_lines(&p);
	sess_conn_close(p.conn);
	sess_buf_release(&p.raw);
	free(id);
	return tool_finish(0);
}
