/* sess-presence: list, hold, watch and wait for members present on a stream. */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tool.h"

#define DEFAULT_GRACE 15
#define WAIT_SLICE_MS 1000    /* embedded: look again at least this often */
#define POLL_SLICE_MS 20000   /* remote: one long-poll at most this long */
#define LOG_BATCH 1000

static void
usage(FILE *f)
{
	fprintf(f, "usage: sess-presence [-hnw] [-a] [-C COUNT] [-D JSON] "
	    "[-d FILE | -u URL] [-e MEMBER]\n"
	    "                     [-g SECS] [-o SEQ] [-W SECS] STREAM\n");
	exit(f == stdout ? 0 : EXIT_USAGE);
}

static const struct option longopts[] = {
	{ "await", no_argument, NULL, 'a' },
	{ "count", required_argument, NULL, 'C' },
	{ "data", required_argument, NULL, 'D' },
	{ "db", required_argument, NULL, 'd' },
	{ "enter", required_argument, NULL, 'e' },
	{ "grace", required_argument, NULL, 'g' },
	{ "help", no_argument, NULL, 'h' },
	{ "anyone", no_argument, NULL, 'n' },
	{ "after", required_argument, NULL, 'o' },
	{ "timeout", required_argument, NULL, 'W' },
	{ "url", required_argument, NULL, 'u' },
	{ "watch", no_argument, NULL, 'w' },
	{ NULL, 0, NULL, 0 },
};

static volatile sig_atomic_t stopping;

static void
on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static struct {
	struct sess_conn *c;
	struct sess_store *st;        /* embedded, else NULL */
	struct sess_remote *rm;       /* remote, else NULL */
	struct sess_watch *w;
	const char *stream, *member, *data;
	char conn[64];
	int64_t lease_us;             /* embedded: -g; remote: the server's */
	int entered;
} P;

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A POST /v1/presence/STREAM transition; remote mode. */
static int
remote_set(const char *event, struct sess_err *e)
{
	struct sess_buf out;
	json_t *v, *g;
	char *body;
	int rc;

	v = json_pack("{s:s, s:s, s:s}", "event", event, "member", P.member,
	    "conn", P.conn);
	if (v != NULL && P.data != NULL && strcmp(event, "leave") != 0)
		json_object_set_new(v, "data", json_loads(P.data, 0, NULL));
	body = v ? json_dumps(v, JSON_COMPACT) : NULL;
	json_decref(v);
	if (body == NULL)
		return sess_err_set(e, SESS_ENOMEM, "out of memory");
	sess_buf_init(&out, 1 << 20);
	rc = sess_remote_call(P.rm, "POST", "/v1/presence", P.stream, NULL,
	    body, strlen(body), 30000L, &out, NULL, e);
	free(body);
	if (rc == 0 && (v = json_loadb(out.p, out.len, 0, NULL)) != NULL) {
		/* The server's grace is the lease: renew well within it. */
		g = json_object_get(v, "grace");
		if (json_is_integer(g) && json_integer_value(g) > 0)
			P.lease_us = (int64_t)json_integer_value(g) * 1000000;
		json_decref(v);
	}
	sess_buf_release(&out);
	return rc;
}

static int
set(const char *event, struct sess_err *e)
{
	if (P.rm != NULL)
		return remote_set(event, e);
	return sess_presence_set(P.st, P.stream, P.member, P.conn, event,
	    P.data, P.lease_us, NULL, e);
}

/* Renews the lease; enters again if it ran out meanwhile. */
static void
renew(void)
{
	struct sess_err e;
	int rc;

	rc = set("renew", &e);
	if (rc == SESS_ENOENT)
		rc = set("enter", &e);
	if (rc != 0)
		warnx("%s", e.msg);
}

static void
leave(void)
{
	struct sess_err e;

	if (P.entered && set("leave", &e) != 0)
		warnx("%s", e.msg);
	P.entered = 0;
}

/* Embedded mode sweeps expired leases before it reads, where it can. */
static void
sweep(void)
{
	struct sess_err e;

	if (P.st != NULL)
		(void)sess_presence_sweep(P.st, &e);
}

/* The current set as a JSON array (new). */
static json_t *
members(void)
{
	struct sess_err e;
	struct sess_buf out;
	json_t *v;

	if (P.st != NULL) {
		sweep();
		if ((v = sess_presence_members(P.st, P.stream, &e)) == NULL)
			tool_die(&e);
		return v;
	}
	sess_buf_init(&out, (size_t)64 << 20);
	if (sess_remote_call(P.rm, "GET", "/v1/presence", P.stream, NULL, NULL,
	    0, 30000L, &out, NULL, &e) != 0)
		tool_die(&e);
	v = json_loadb(out.p, out.len, 0, NULL);
	sess_buf_release(&out);
	if (!json_is_array(v))
		errx(EXIT_TEMP, "%s: the server's answer is not a list of "
		    "members", P.stream);
	return v;
}

/* Whether anyone other than the caller (the -e member) is present. */
static int
anyone(void)
{
	json_t *v = members(), *m;
	size_t i;
	int yes = 0;

	json_array_foreach(v, i, m) {
		const char *who = json_string_value(json_object_get(m,
		    "member"));

		if (P.member == NULL || who == NULL || strcmp(who,
		    P.member) != 0)
			yes = 1;
	}
	json_decref(v);
	return yes;
}

struct printer {
	struct sess_buf out;
	int64_t last;
	long long seen, count;
};

static int
print_one(const struct sess_ptrans *t, void *arg)
{
	struct printer *p = arg;

	p->last = t->seq;
	p->out.len = 0;
	if (sess_ptrans_format(&p->out, t, 0) != 0)
		err(EXIT_TEMP, "out of memory");
	if (tool_write(p->out.p, p->out.len) != 0)
		return 1;
	return ++p->seen == p->count;
}

/*
 * Transitions after p->last: prints them, returns 1 when done (the
 * count reached or stdout gone), 0 if more may come.
 */
static int
watch_step(struct printer *p, int wait_ms)
{
	struct sess_err e;
	struct sess_buf body;
	const char *line, *nl;
	char q[128];
	int64_t next = -1;
	int rc;

	if (P.st != NULL) {
		sweep();
		do {
			rc = sess_presence_log(P.st, P.stream, p->last,
			    LOG_BATCH, print_one, p, &e);
			if (rc < 0)
				tool_die(&e);
			if (p->seen == p->count || tool_flush() != 0)
				return 1;
		} while (rc == LOG_BATCH);
		return 0;
	}
	snprintf(q, sizeof(q), "?log=1&after=%lld%s%d", (long long)p->last,
	    wait_ms > 0 ? "&live=long-poll&timeout=" : "&x=", wait_ms);
	sess_buf_init(&body, (size_t)64 << 20);
	if (sess_remote_call(P.rm, "GET", "/v1/presence", P.stream, q, NULL,
	    0, 30000L + wait_ms, &body, &next, &e) != 0)
		tool_die(&e);
	for (line = body.p; line != NULL && line < body.p + body.len;
	    line = nl + 1) {
		json_t *v;

		if ((nl = memchr(line, '\n', (size_t)(body.p + body.len -
		    line))) == NULL)
			nl = body.p + body.len;
		if (nl == line)
			continue;
		v = json_loadb(line, (size_t)(nl - line), 0, NULL);
		if (json_is_integer(json_object_get(v, "seq")))
			p->last = json_integer_value(json_object_get(v,
			    "seq"));
		json_decref(v);
		if (tool_write(line, (size_t)(nl - line)) != 0 ||
		    tool_write("\n", 1) != 0 || ++p->seen == p->count) {
			sess_buf_release(&body);
			tool_flush();
			return 1;
		}
	}
	sess_buf_release(&body);
	if (next > p->last)
		p->last = next;
	return tool_flush() != 0;
}

/*
 * Waits up to ms for a change (a commit) or a signal.  In embedded mode
 * the signals are blocked but here, so one that comes while we work
 * ends the wait at once instead of being missed.
 */
static void
nap(int ms)
{
	struct sess_err e;
	struct pollfd pfd;
	struct timespec ts;
	sigset_t none;

	if (ms <= 0)
		return;
	if (P.st != NULL && P.w == NULL && (P.w = sess_watch_open(P.st,
	    &e)) == NULL)
		tool_die(&e);
	pfd.fd = P.w != NULL ? sess_watch_fd(P.w) : -1;
	pfd.events = POLLIN;
	pfd.revents = 0;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (long)(ms % 1000) * 1000000;
	sigemptyset(&none);
	if (ppoll(&pfd, 1, &ts, &none) > 0 && P.w != NULL)
		sess_watch_drain(P.w);
}

static int64_t
last_seq(void)
{
	struct sess_err e;
	struct sess_buf body;
	int64_t v, next = -1;

	if (P.st != NULL) {
		if ((v = sess_presence_last(P.st, &e)) < 0)
			tool_die(&e);
		return v;
	}
	sess_buf_init(&body, (size_t)64 << 20);
	if (sess_remote_call(P.rm, "GET", "/v1/presence", P.stream,
	    "?log=1&after=now", NULL, 0, 30000L, &body, &next, &e) != 0)
		tool_die(&e);
	sess_buf_release(&body);
	return next > 0 ? next : 0;
}

int
main(int argc, char **argv)
{
	const char *db = NULL, *url = NULL;
	struct printer pr;
	struct sigaction sa;
	struct sess_err e;
	long long v, after = -2;
	int64_t deadline = -1, renew_at = 0, left, t, mark;
	int c, await = 0, any = 0, watch = 0, status = 0, ms, rc;
	struct sess_buf b;
	char qs[96];
	long long grace = DEFAULT_GRACE;
	json_t *list, *m;
	size_t i;

	if (tool_init() != 0)
		errx(EXIT_TEMP, "stdout: %s", strerror(EBADF));
	memset(&pr, 0, sizeof(pr));
	pr.count = -1;
	while ((c = getopt_long(argc, argv, "aC:D:d:e:g:hno:u:W:w", longopts,
	    NULL)) != -1) {
		switch (c) {
		case 'a':
			await = 1;
			break;
		case 'C':
			if ((pr.count = tool_num(optarg, 1LL << 62)) < 1)
				errx(EXIT_USAGE, "-C: '%s' is not a positive "
				    "count", optarg);
			break;
		case 'D':
			P.data = optarg;
			break;
		case 'd':
			db = optarg;
			break;
		case 'e':
			P.member = optarg;
			break;
		case 'g':
			if ((grace = tool_num(optarg, 86400)) < 1)
				errx(EXIT_USAGE, "-g: '%s' is not seconds from "
				    "1 to 86400", optarg);
			break;
		case 'h':
			usage(stdout);
			break;
		case 'n':
			any = 1;
			break;
		case 'o':
			if (strcmp(optarg, "-1") == 0)
				after = 0;
			else if ((after = tool_num(optarg, SESS_SEQ_MAX)) < 0)
				errx(EXIT_USAGE, "-o: '%s' is not a transition "
				    "seq (or -1)", optarg);
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
		case 'w':
			watch = 1;
			break;
		default:
			usage(stderr);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 1)
		usage(stderr);
	P.stream = argv[0];
	if (await + any + watch > 1)
		errx(EXIT_USAGE, "-a, -n and -w are alternatives: give one");
	if (P.data != NULL && P.member == NULL)
		errx(EXIT_USAGE, "-D goes with -e MEMBER");
	if ((pr.count > 0 || after != -2) && !watch)
		errx(EXIT_USAGE, "-C and -o go with -w");
	if (sess_name_check(P.stream, strlen(P.stream), &e) != 0 ||
	    (P.member != NULL && sess_member_check("-e: member", P.member,
	    &e) != 0) || (P.data != NULL && sess_pdata_check(P.data, &e) != 0))
		errx(EXIT_USAGE, "%s%s", P.data != NULL && strncmp(e.msg,
		    "data", 4) == 0 ? "-D: " : "", e.msg);

	P.lease_us = grace * 1000000;
	/* Holders, waiters and watchers may come before the store does. */
	P.c = tool_conn(db, url, P.member != NULL || await || watch ? 0 :
	    SESS_RDONLY);
	P.st = sess_conn_store(P.c);
	P.rm = sess_conn_remote(P.c);
	sess_buf_init(&pr.out, 1 << 20);

	if (any) {
		status = anyone() ? 0 : EXIT_NO;
		goto out;
	}
	if (!await && !watch && P.member == NULL) {
		list = members();
		json_array_foreach(list, i, m) {
			char *text = json_dumps(m, JSON_COMPACT |
			    JSON_PRESERVE_ORDER);

			if (text == NULL)
				err(EXIT_TEMP, "out of memory");
			if (tool_write(text, strlen(text)) != 0 ||
			    tool_write("\n", 1) != 0) {
				free(text);
				break;
			}
			free(text);
		}
		json_decref(list);
		goto out;
	}

	/* From here on, a signal ends the wait (and leaves, if entered). */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	if (P.st != NULL) {
		sigset_t mask;

		sigemptyset(&mask);
		sigaddset(&mask, SIGTERM);
		sigaddset(&mask, SIGINT);
		sigaddset(&mask, SIGHUP);
		sigprocmask(SIG_BLOCK, &mask, NULL);
	}
	if (watch)
		pr.last = after >= 0 ? after : last_seq();
	if (P.member != NULL) {
		/* A connection id of its own: this process's rows. */
		char h[17];
		unsigned long r;

		srandom((unsigned)getpid() ^ (unsigned)time(NULL) ^
		    (unsigned)now_ms());
		r = (unsigned long)random();
		snprintf(h, sizeof(h), "%08lx", r & 0xffffffffUL);
		snprintf(P.conn, sizeof(P.conn), "cli-%ld-%s", (long)getpid(),
		    h);
		if (set("enter", &e) != 0)
			tool_die(&e);
		P.entered = 1;
		renew_at = now_ms() + P.lease_us / 3000;
	}
	while (!stopping) {
		/* Remote: mark the log first, so nothing slips in between. */
		mark = P.rm != NULL && await ? last_seq() : 0;
		if (await && anyone())
			break;
		if (watch && watch_step(&pr, 0))
			break;
		t = now_ms();
		if (deadline >= 0 && t >= deadline) {
			status = EXIT_NO;
			break;
		}
		if (P.entered && t >= renew_at) {
			renew();
			renew_at = t + P.lease_us / 3000;
		}
		/* Sleep until a change, the renewal, or the deadline. */
		ms = P.rm != NULL ? POLL_SLICE_MS : WAIT_SLICE_MS;
		left = deadline >= 0 ? deadline - t : -1;
		if (left >= 0 && left < ms)
			ms = (int)left;
		if (P.entered && renew_at - t < ms)
			ms = (int)(renew_at - t);
		if (ms < 1)
			ms = 1;
		if (P.rm != NULL && watch) {
			if (watch_step(&pr, ms))
				break;
		} else if (P.rm != NULL && await) {
			/* A long-poll on the transitions wakes us. */
			snprintf(qs, sizeof(qs), "?log=1&after=%lld&live="
			    "long-poll&timeout=%d", (long long)mark, ms);
			sess_buf_init(&b, (size_t)64 << 20);
			rc = sess_remote_call(P.rm, "GET", "/v1/presence",
			    P.stream, qs, NULL, 0, 30000L + ms, &b, NULL, &e);
			sess_buf_release(&b);
			if (rc != 0)
				tool_die(&e);
		} else {
			nap(ms);
		}
	}
	leave();
out:
	sess_buf_release(&pr.out);
	sess_watch_close(P.w);
	sess_conn_close(P.c);
	return tool_finish(status);
}
