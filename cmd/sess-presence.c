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
	int64_t renew_at;             /* when the held lease is renewed */
	int entered;
	int hup;                      /* 1 (stdout) when watching, else -1 */
} P;

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


static int
set(const char *event, struct sess_err *e)
{
	return sess_conn_presence_set(P.c, P.stream, P.member, P.conn, event,
	    P.data, P.lease_us, &P.lease_us, e);
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


/* The current set as a JSON array (new). */
static json_t *
members(void)
{
	struct sess_err e;
	json_t *v;

	if ((v = sess_conn_presence_members(P.c, P.stream, &e)) == NULL)
		tool_die(&e);
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
	int64_t last;
	long long seen, count;
	int gone;                     /* stdout could not be written */
};

static int
print_line(int64_t seq, const char *line, size_t len, void *arg)
{
	struct printer *p = arg;

	p->last = seq;
	if (tool_write(line, len) != 0 || tool_write("\n", 1) != 0) {
		p->gone = 1;
		return 1;
	}
	return ++p->seen == p->count;
}

/*
 * Transitions after p->last: prints them, returns 1 when done (the
 * count reached or stdout gone), 0 if more may come.  Remote, the first
 * read waits up to wait_ms for one.
 */
static int
watch_step(struct printer *p, int wait_ms)
{
	struct sess_err e;
	int64_t next = -1;
	int rc;

	do {
		rc = sess_conn_presence_log(P.c, P.stream, p->last, LOG_BATCH,
		    wait_ms, print_line, p, &next, &e);
		if (rc == SESS_EPIPE)
			return 1; /* nobody reads what we write any more */
		if (rc < 0)
			tool_die(&e);
		if (next > p->last)
			p->last = next;
		if (p->gone || p->seen == p->count || tool_flush() != 0)
			return 1;
		wait_ms = 0;
	} while (rc == LOG_BATCH);
	return 0;
}

/*
 * Waits up to ms for a change (a commit), a signal, or (when watching)
 * the reader of stdout going away, which returns 1.  In embedded mode
 * the signals are blocked but here, so one that comes while we work
 * ends the wait at once instead of being missed.
 */
static int
nap(int ms)
{
	struct sess_err e;
	struct pollfd pfd[2];
	struct timespec ts;
	sigset_t none;

	if (ms <= 0)
		return 0;
	if (P.st != NULL && P.w == NULL && (P.w = sess_watch_open(P.st,
	    &e)) == NULL)
		tool_die(&e);
	pfd[0].fd = P.w != NULL ? sess_watch_fd(P.w) : -1;
	pfd[0].events = POLLIN;
	pfd[0].revents = 0;
	pfd[1].fd = P.hup;
	pfd[1].events = 0;     /* the errors are reported whatever is asked */
	pfd[1].revents = 0;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (long)(ms % 1000) * 1000000;
	sigemptyset(&none);
	if (ppoll(pfd, 2, &ts, &none) <= 0)
		return 0;
	if (pfd[0].revents != 0 && P.w != NULL)
		sess_watch_drain(P.w);
	return pfd[1].revents != 0 && sess_hangup_wait(P.hup, 0);
}

/* Where the log of the stream is now: transitions after it are new. */
static int64_t
last_seq(void)
{
	struct sess_err e;
	int64_t next = 0;

	if (sess_conn_presence_log(P.c, P.stream, -1, 0, 0, NULL, NULL,
	    &next, &e) < 0)
		tool_die(&e);
	return next > 0 ? next : 0;
}

struct opts {
	const char *db, *url;
	long long after, grace;
	int64_t deadline;
	int await, any, watch;
};

static void
options(int argc, char **argv, struct opts *o, struct printer *pr)
{
	long long v;
	int c;

	while ((c = getopt_long(argc, argv, "aC:D:d:e:g:hno:u:W:w", longopts,
	    NULL)) != -1) {
		switch (c) {
		case 'a':
			o->await = 1;
			break;
		case 'C':
			if ((pr->count = tool_num(optarg, 1LL << 62)) < 1)
				errx(EXIT_USAGE, "-C: '%s' is not a positive "
				    "count", optarg);
			break;
		case 'D':
			P.data = optarg;
			break;
		case 'd':
			o->db = optarg;
			break;
		case 'e':
			P.member = optarg;
			break;
		case 'g':
			if ((o->grace = tool_num(optarg, 86400)) < 1)
				errx(EXIT_USAGE, "-g: '%s' is not seconds from "
				    "1 to 86400", optarg);
			break;
		case 'h':
			usage(stdout);
			break;
		case 'n':
			o->any = 1;
			break;
		case 'o':
			if (strcmp(optarg, "-1") == 0)
				o->after = 0;
			else if ((o->after = tool_num(optarg,
			    SESS_SEQ_MAX)) < 0)
				errx(EXIT_USAGE, "-o: '%s' is not a transition "
				    "seq (or -1)", optarg);
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
		case 'w':
			o->watch = 1;
			break;
		default:
			usage(stderr);
		}
	}
}

/* The combinations of options that make no sense are usage errors. */
static void
check(const struct opts *o, const struct printer *pr)
{
	struct sess_err e;

	if (o->await + o->any + o->watch > 1)
		errx(EXIT_USAGE, "-a, -n and -w are alternatives: give one");
	if (P.data != NULL && P.member == NULL)
		errx(EXIT_USAGE, "-D goes with -e MEMBER");
	if ((pr->count > 0 || o->after != -2) && !o->watch)
		errx(EXIT_USAGE, "-C and -o go with -w");
	if (sess_name_check(P.stream, strlen(P.stream), &e) != 0 ||
	    (P.member != NULL && sess_member_check("-e: member", P.member,
	    &e) != 0) || (P.data != NULL && sess_pdata_check(P.data, &e) != 0))
		errx(EXIT_USAGE, "%s%s", P.data != NULL && strncmp(e.msg,
		    "data", 4) == 0 ? "-D: " : "", e.msg);
}

/* Without -a, -n, -w or -e: prints the members present, one a line. */
static void
list(void)
{
	json_t *v = members(), *m;
	size_t i;

	json_array_foreach(v, i, m) {
		char *text = json_dumps(m, JSON_COMPACT | JSON_PRESERVE_ORDER);

		if (text == NULL)
			err(EXIT_TEMP, "out of memory");
		if (tool_write(text, strlen(text)) != 0 ||
		    tool_write("\n", 1) != 0) {
			free(text);
			break;
		}
		free(text);
	}
	json_decref(v);
}

/* From here on, a signal ends the wait (and leaves, if entered). */
static void
catch_signals(void)
{
	struct sigaction sa;
	sigset_t mask;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	if (P.st != NULL) {
		sigemptyset(&mask);
		sigaddset(&mask, SIGTERM);
		sigaddset(&mask, SIGINT);
		sigaddset(&mask, SIGHUP);
		sigprocmask(SIG_BLOCK, &mask, NULL);
	}
}

/* -e: enters, with a connection id of its own: this process's rows. */
static void
enter(void)
{
	struct sess_err e;
	unsigned long r;
	char h[17];

	srandom((unsigned)getpid() ^ (unsigned)time(NULL) ^
	    (unsigned)now_ms());
	r = (unsigned long)random();
	snprintf(h, sizeof(h), "%08lx", r & 0xffffffffUL);
	snprintf(P.conn, sizeof(P.conn), "cli-%ld-%s", (long)getpid(), h);
	if (set("enter", &e) != 0)
		tool_die(&e);
	P.entered = 1;
	P.renew_at = now_ms() + P.lease_us / 3000;
}

static int
ignore_line(int64_t seq, const char *line, size_t len, void *arg)
{
	return 1;
}

/* -a, remote: a long-poll on the transitions after mark wakes us. */
static void
remote_wait(int64_t mark, int ms)
{
	struct sess_err e;
	int64_t next;

	if (sess_conn_presence_log(P.c, P.stream, mark, 1, ms, ignore_line,
	    NULL, &next, &e) < 0)
		tool_die(&e);
}

/* How long to sleep at most: until the renewal, or the deadline. */
static int
slice(int64_t t, int64_t deadline)
{
	int64_t left = deadline >= 0 ? deadline - t : -1;
	int ms = P.rm != NULL ? POLL_SLICE_MS : WAIT_SLICE_MS;

	if (left >= 0 && left < ms)
		ms = (int)left;
	if (P.entered && P.renew_at - t < ms)
		ms = (int)(P.renew_at - t);
	return ms < 1 ? 1 : ms;
}

/*
 * Holds, waits or watches until done: someone present (-a), the count
 * (-C), a signal, -W, or the reader of what -w writes gone.  Returns the
 * exit status.
 */
static int
hold(const struct opts *o, struct printer *pr)
{
	int64_t t, mark;
	int ms;

	while (!stopping) {
		/* Remote: mark the log first, so nothing slips in between. */
		mark = P.rm != NULL && o->await ? last_seq() : 0;
		if (o->await && anyone())
			break;
		if (o->watch && watch_step(pr, 0))
			break;
		t = now_ms();
		if (o->deadline >= 0 && t >= o->deadline)
			return EXIT_NO;
		if (P.entered && t >= P.renew_at) {
			renew();
			P.renew_at = t + P.lease_us / 3000;
		}
		/* Sleep until a change, the renewal, or the deadline. */
		ms = slice(t, o->deadline);
		if (P.rm != NULL && o->watch) {
			if (watch_step(pr, ms))
				break;
		} else if (P.rm != NULL && o->await) {
			remote_wait(mark, ms);
		} else if (nap(ms)) {
			break;
		}
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct opts o = { .after = -2, .grace = DEFAULT_GRACE,
	    .deadline = -1 };
	struct printer pr;
	int status = 0;

	if (tool_init() != 0)
		errx(EXIT_TEMP, "stdout: %s", strerror(EBADF));
	memset(&pr, 0, sizeof(pr));
	pr.count = -1;
	P.hup = -1;
	options(argc, argv, &o, &pr);
	if (argc - optind != 1)
		usage(stderr);
	P.stream = argv[optind];
	check(&o, &pr);
	P.lease_us = o.grace * 1000000;
	/* Holders, waiters and watchers may come before the store does. */
	P.c = tool_conn(o.db, o.url, P.member != NULL || o.await || o.watch ?
	    0 : SESS_RDONLY);
	P.st = sess_conn_store(P.c);
	P.rm = sess_conn_remote(P.c);
	if (o.any) {
		status = anyone() ? 0 : EXIT_NO;
	} else if (!o.await && !o.watch && P.member == NULL) {
		list();
	} else {
		catch_signals();
		if (o.watch)
			pr.last = o.after >= 0 ? o.after : last_seq();
		if (P.member != NULL)
			enter();
		/* A watcher stops once nobody reads what it writes. */
		if (o.watch) {
			P.hup = 1;
			sess_conn_hangup(P.c, 1);
		}
		status = hold(&o, &pr);
		leave();
	}
	sess_watch_close(P.w);
	sess_conn_close(P.c);
	return tool_finish(status);
}
