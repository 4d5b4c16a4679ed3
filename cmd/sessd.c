/* sessd.c: the daemon: serves the store over HTTP (Durable Streams). */
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sessd.h"
#include "tool.h"

#define DEFAULT_LISTEN "127.0.0.1:4437"
#define DEFAULT_POLL_MS 30000
#define DEFAULT_MAX_BODY (16 * 1024 * 1024)
#define DEFAULT_MAX_CONNS 10000
#define DEFAULT_GRACE 15
#define EXPIRE_MS 1000
#define DRAIN_MS 10000
#define ACCEPT_BURST 64
#define WATCH_FALLBACK_MS 100

static void wake(void);
static struct sessd the = { .wake = wake };
struct sessd *sd = &the;

/* What a raw descriptor adopted into lws is for. */
struct fdh {
	void (*fn)(struct fdh *);
	int fd;
	struct lws *wsi;
};

static struct fdh listener, waker, signals;
static lws_sorted_usec_list_t expire_sul, drain_sul, watch_sul;
static int expiring, done;

static void
usage(FILE *f)
{
	fprintf(f, "usage: sessd [-1hIv] [-b bytes] [-c conns] [-d file] "
	    "[-g secs] [-k keyfile] [-l addr:port]\n"
	    "             [-P ms] [-S full|normal] [-t secs]\n");
	exit(f == stdout ? 0 : EXIT_USAGE);
}

void
logx(const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "sessd: %s\n", line);
}

static void
lws_log(int level, const char *line)
{
	size_t n = strlen(line);

	(void)level;
	while (n > 0 && line[n - 1] == '\n')
		n--;
	fprintf(stderr, "sessd: lws: %.*s\n", (int)n, line);
}

/* Splits ADDR:PORT or [ADDR6]:PORT, or exits 2. */
static void
split_addr(const char *spec, char *host, size_t hostsize, char *port,
    size_t portsize)
{
	const char *colon;

	if (spec[0] == '[') {
		const char *end = strchr(spec, ']');

		if (end == NULL || end[1] != ':')
			errx(EXIT_USAGE, "-l %s: expected [addr]:port", spec);
		snprintf(host, hostsize, "%.*s", (int)(end - spec - 1),
		    spec + 1);
		colon = end + 1;
	} else {
		if ((colon = strrchr(spec, ':')) == NULL)
			errx(EXIT_USAGE, "-l %s: expected addr:port", spec);
		snprintf(host, hostsize, "%.*s", (int)(colon - spec), spec);
	}
	if (tool_num(colon + 1, 65535) < 0)
		errx(EXIT_USAGE, "-l %s: bad port", spec);
	snprintf(port, portsize, "%s", colon + 1);
}

static int
loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >>
		    24) == 127;
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a =
		    &((const struct sockaddr_in6 *)sa)->sin6_addr;

		return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) &&
		    a->s6_addr[12] == 127);
	}
	return 0;
}

/*
 * Without a key, sessd serves anyone who can reach it: only on loopback
 * (or a unix socket), unless told --insecure.  Exits 2 otherwise.
 */
static void
check_exposure(const char *spec, int keyed, int insecure)
{
	struct addrinfo hints, *res = NULL, *ai;
	char host[256], port[16];
	int rc, local = 1;

	if (keyed || strncmp(spec, "unix:", 5) == 0)
		return;
	split_addr(spec, host, sizeof(host), port, sizeof(port));
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res)) != 0)
		errx(EXIT_USAGE, "-l %s: %s", spec, gai_strerror(rc));
	for (ai = res; ai != NULL; ai = ai->ai_next)
		if (!loopback(ai->ai_addr))
			local = 0;
	freeaddrinfo(res);
	if (local)
		return;
	if (!insecure)
		errx(EXIT_USAGE, "-l %s: not a loopback address: without a key "
		    "(-k KEYFILE) anyone who can reach it could read and write "
		    "every stream; give --insecure to serve it anyway", spec);
	logx("serving %s without auth (--insecure): anyone who can reach it "
	    "can read and write every stream", spec);
}

/*
 * ADDR:PORT, [ADDR6]:PORT, :PORT (every interface) or unix:PATH.
 * Returns a listening socket, and the URL clients use in url.
 */
static int
listen_on(const char *spec, char *url, size_t urlsize)
{
	struct addrinfo hints, *res = NULL, *ai;
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	char host[256], port[16], name[INET6_ADDRSTRLEN];
	int fd = -1, one = 1, rc;

	if (strncmp(spec, "unix:", 5) == 0) {
		struct sockaddr_un un;

		memset(&un, 0, sizeof(un));
		un.sun_family = AF_UNIX;
		if (strlen(spec + 5) == 0 || strlen(spec + 5) >=
		    sizeof(un.sun_path))
			errx(EXIT_USAGE, "-l %s: bad socket path", spec);
		memcpy(un.sun_path, spec + 5, strlen(spec + 5));
		unlink(un.sun_path);
		if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0)) < 0 ||
		    bind(fd, (struct sockaddr *)&un, sizeof(un)) != 0 ||
		    listen(fd, 1024) != 0)
			err(EXIT_TEMP, "%s", spec);
		snprintf(url, urlsize, "%s", spec);
		return fd;
	}
	split_addr(spec, host, sizeof(host), port, sizeof(port));
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res)) != 0)
		errx(EXIT_USAGE, "-l %s: %s", spec, gai_strerror(rc));
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, 1024) == 0)
			break;
		close(fd);
		fd = -1;
	}
	if (fd < 0)
		err(EXIT_TEMP, "cannot listen on %s", spec);
	freeaddrinfo(res);
	/* Port 0 asks for any free port: say which one it is. */
	getsockname(fd, (struct sockaddr *)&ss, &sslen);
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &a->sin6_addr, name, sizeof(name));
		snprintf(url, urlsize, "http://[%s]:%d", name,
		    ntohs(a->sin6_port));
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &a->sin_addr, name, sizeof(name));
		snprintf(url, urlsize, "http://%s:%d", name,
		    ntohs(a->sin_port));
	}
	return fd;
}

static void
on_accept(struct fdh *h)
{
	lws_sock_file_fd_type u;
	int fd, i, one = 1;

	for (i = 0; i < ACCEPT_BURST; i++) {
		fd = accept4(h->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR && errno != ECONNABORTED)
				logx("accept: %s", strerror(errno));
			return;
		}
		if (sd->stopping) {
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		u.sockfd = fd;
		/* On failure lws closes fd itself. */
		if (lws_adopt_descriptor_vhost(sd->vh, LWS_ADOPT_SOCKET, u,
		    http_protocol.name, NULL) == NULL)
			logx("cannot take a connection (%d open)", sd->nconns);
	}
}

/*
 * The store changed (our commit, or another process's): every live
 * reader looks, event readers, WebSocket attachments waiting for a stream
 * to exist, and presence watchers.
 */
static void
wake(void)
{
	fanout_poll();
	ws_poll();
	presence_poll();
}

static void
on_wake(struct fdh *h)
{
	(void)h;
	sess_watch_drain(sd->watch);
	wake();
}

/* While draining, the loop looks often whether it is done. */
static void
drain_tick(lws_sorted_usec_list_t *sul)
{
	lws_sul_schedule(sd->ctx, 0, sul, drain_tick, 20 * 1000);
}

/* Without inotify, the store is looked at on a timer instead. */
static void
watch_tick(lws_sorted_usec_list_t *sul)
{
	wake();
	lws_sul_schedule(sd->ctx, 0, sul, watch_tick,
	    (lws_usec_t)WATCH_FALLBACK_MS * 1000);
}

static void
stop(void)
{
	if (sd->stopping)
		return;
	sd->stopping = 1;
	drain_tick(&drain_sul);
	if (listener.wsi != NULL)
		lws_set_timeout(listener.wsi, PENDING_TIMEOUT_USER_OK,
		    LWS_TO_KILL_ASYNC);
	conns_stop();
}

static void
on_signal(struct fdh *h)
{
	struct signalfd_siginfo si;

	while (read(h->fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGHUP:
			/* Logs go to stderr, which is not ours to reopen. */
			if (sd->verbose)
				logx("hangup: nothing to reload");
			break;
		default:
			if (sd->verbose)
				logx("%s: stopping",
				    strsignal((int)si.ssi_signo));
			stop();
			break;
		}
	}
}

static int
file_cb(struct lws *wsi, enum lws_callback_reasons why, void *user, void *in,
    size_t len)
{
	struct fdh *h = lws_get_opaque_user_data(wsi);

	(void)user;
	(void)in;
	(void)len;
	switch (why) {
	case LWS_CALLBACK_RAW_RX_FILE:
		if (h != NULL)
			h->fn(h);
		conns_flush();
		return 0;
	case LWS_CALLBACK_RAW_CLOSE_FILE:
		/* lws closes the descriptor itself. */
		if (h != NULL)
			h->wsi = NULL;
		return 0;
	default:
		return 0;
	}
}

static const struct lws_protocols protocols[] = {
	{ "sessd-http", NULL, 0, 0, 0, NULL, 0 },
	{ "sessd-file", file_cb, 0, 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};
static struct lws_protocols protos[3];

static void
adopt_fd(struct fdh *h, int fd, void (*fn)(struct fdh *))
{
	lws_adopt_desc_t d;

	memset(&d, 0, sizeof(d));
	h->fd = fd;
	h->fn = fn;
	d.vh = sd->vh;
	d.type = LWS_ADOPT_RAW_FILE_DESC;
	d.fd.filefd = fd;
	d.vh_prot_name = "sessd-file";
	d.opaque = h;
	if ((h->wsi = lws_adopt_descriptor_vhost_via_info(&d)) == NULL)
		errx(EXIT_TEMP, "cannot watch descriptor %d", fd);
}

static void expire_tick(lws_sorted_usec_list_t *);

static void
expire_done(struct job *j)
{
	(void)j;
	expiring = 0;
}

/*
 * Expired streams are removed off the loop, when the first of them is
 * due; reads treat them as gone already.  The store is looked at again
 * at least once a second, as other processes may set expiries too.
 */
static void
expire_tick(lws_sorted_usec_list_t *sul)
{
	struct job *j;
	int64_t now = sess_now(), next, wait = (int64_t)EXPIRE_MS * 1000;

	next = sess_ds_next_expiry(sd->rd);
	if (next != 0 && next <= now && !expiring && !sd->stopping &&
	    (j = job_new(J_EXPIRE, NULL)) != NULL) {
		j->done = expire_done;
		expiring = 1;
		job_submit(j);
	} else if (next > now && next - now < wait) {
		wait = next - now;
	}
	if (wait < 20000)
		wait = 20000;
	lws_sul_schedule(sd->ctx, 0, sul, expire_tick, (lws_usec_t)wait);
}

/* Descriptors for a thousand connections and more. */
static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (rl.rlim_cur > 1 << 20)
			rl.rlim_cur = 1 << 20;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* What the command line sets beyond sd's own fields. */
struct opts {
	const char *db, *sync, *addr, *keyfile;
	int ready, insecure;
	long long grace;
};

static long long
num(const char *opt, const char *arg, long long lo, long long hi,
    const char *what)
{
	long long v = tool_num(arg, hi);

	if (v < lo)
		errx(EXIT_USAGE, "-%s %s: not %s from %lld to %lld", opt, arg,
		    what, lo, hi);
	return v;
}

static void
options(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "ready", no_argument, NULL, '1' },
		{ "max-body", required_argument, NULL, 'b' },
		{ "max-conns", required_argument, NULL, 'c' },
		{ "db", required_argument, NULL, 'd' },
		{ "grace", required_argument, NULL, 'g' },
		{ "help", no_argument, NULL, 'h' },
		{ "insecure", no_argument, NULL, 'I' },
		{ "key", required_argument, NULL, 'k' },
		{ "listen", required_argument, NULL, 'l' },
		{ "poll-timeout", required_argument, NULL, 'P' },
		{ "sync", required_argument, NULL, 'S' },
		{ "timeout", required_argument, NULL, 't' },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 }
	};
	int c;

	while ((c = getopt_long(argc, argv, "1b:c:d:g:hIk:l:P:S:t:v", longopts,
	    NULL)) != -1) {
		switch (c) {
		case '1':
			o->ready = 1;
			break;
		case 'b':
			sd->max_body = (size_t)num("b", optarg, 1,
			    (long long)1 << 30, "a size");
			break;
		case 'c':
			sd->max_conns = (int)num("c", optarg, 1, 1000000,
			    "a count");
			break;
		case 'd':
			o->db = optarg;
			break;
		case 'g':
			o->grace = num("g", optarg, 1, 3600, "seconds");
			break;
		case 'h':
			usage(stdout);
			break;
		case 'I':
			o->insecure = 1;
			break;
		case 'k':
			o->keyfile = optarg;
			break;
		case 'l':
			o->addr = optarg;
			break;
		case 'P':
			sd->poll_ms = num("P", optarg, 1, 3600000,
			    "milliseconds");
			break;
		case 'S':
			o->sync = optarg;
			break;
		case 't':
			sd->req_ms = num("t", optarg, 1, 3600, "seconds") *
			    1000;
			break;
		case 'v':
			sd->verbose = 1;
			break;
		default:
			usage(stderr);
		}
	}
	if (optind != argc)
		usage(stderr);
}

/* Signals are read from a descriptor; the writer inherits the mask. */
static int
signal_fd(void)
{
	sigset_t mask;
	int sfd;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) != 0 ||
	    (sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC)) < 0)
		err(EXIT_TEMP, "signalfd");
	return sfd;
}

/* The writer opens (and creates, and migrates) the store first. */
static void
open_store(void)
{
	struct sess_err e;

	if (writer_start(sd->db, sd->sync, &e) != 0)
		tool_die(&e);
	if ((sd->rd = sess_store_open(sd->db, sd->sync | SESS_RDFALLBACK,
	    &e)) == NULL)
		tool_die(&e);
	if ((sd->watch = sess_watch_open(sd->rd, &e)) == NULL)
		tool_die(&e);
}

/* The event loop, with the listener, the signals and the store's watch. */
static void
start_loop(int lfd, int sfd)
{
	struct lws_context_creation_info info;
	int wfd;

	lws_set_log_level(LLL_ERR | LLL_WARN, lws_log);
	memcpy(protos, protocols, sizeof(protos));
	protos[0] = http_protocol;
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protos;
	info.gid = -1;
	info.uid = -1;
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
	if ((sd->ctx = lws_create_context(&info)) == NULL)
		errx(EXIT_TEMP, "cannot start the event loop");
	info.vhost_name = "sessd";
	if ((sd->vh = lws_create_vhost(sd->ctx, &info)) == NULL)
		errx(EXIT_TEMP, "cannot start the event loop");
	adopt_fd(&listener, lfd, on_accept);
	adopt_fd(&signals, sfd, on_signal);
	if (sess_watch_fd(sd->watch) >= 0) {
		/* A copy: lws closes what it adopts, the watch its own. */
		if ((wfd = fcntl(sess_watch_fd(sd->watch), F_DUPFD_CLOEXEC,
		    3)) < 0)
			err(EXIT_TEMP, "watch");
		adopt_fd(&waker, wfd, on_wake);
	} else {
		logx("no inotify: looking for other writers' appends every "
		    "%d ms", WATCH_FALLBACK_MS);
		watch_tick(&watch_sul);
	}
	lws_sul_schedule(sd->ctx, 0, &expire_sul, expire_tick,
	    (lws_usec_t)EXPIRE_MS * 1000);
}

/* Serves until stopped, then drains: each write answered, clients gone. */
static void
serve(void)
{
	int64_t deadline = 0;

	while (!done) {
		if (lws_service(sd->ctx, 0) < 0)
			break;
		if (!sd->stopping)
			continue;
		if (deadline == 0)
			deadline = lws_now_usecs() + (int64_t)DRAIN_MS * 1000;
		if ((writer_idle() && sd->nconns == 0) ||
		    lws_now_usecs() > deadline)
			done = 1;
	}
}

static void
stop_all(const char *addr)
{
	lws_sul_cancel(&expire_sul);
	lws_sul_cancel(&drain_sul);
	lws_sul_cancel(&watch_sul);
	sub_fini();
	presence_fini();
	writer_stop();
	lws_context_destroy(sd->ctx);
	sess_watch_close(sd->watch);
	sess_store_close(sd->rd);
	auth_fini();
	if (strncmp(addr, "unix:", 5) == 0)
		unlink(addr + 5);
}

int
main(int argc, char **argv)
{
	struct opts o = { .addr = DEFAULT_LISTEN, .grace = DEFAULT_GRACE };
	struct sess_err e;
	int sfd, lfd;

	if (tool_init() != 0)
		errx(EXIT_TEMP, "stdout: %s", strerror(EBADF));
	sd->poll_ms = DEFAULT_POLL_MS;
	sd->max_body = DEFAULT_MAX_BODY;
	sd->max_conns = DEFAULT_MAX_CONNS;
	sd->req_ms = REQ_TIMEOUT_MS;
	options(argc, argv, &o);
	sd->db = tool_db(o.db);
	sd->sync = tool_sync(o.sync);
	/* A bad key or an exposed address stop sessd before the store. */
	if (o.keyfile != NULL && auth_init(o.keyfile, &e) != 0)
		tool_die(&e);
	check_exposure(o.addr, o.keyfile != NULL, o.insecure);
	srandom((unsigned)time(NULL) ^ (unsigned)getpid());
	raise_nofile();
	sfd = signal_fd();
	open_store();
	lfd = listen_on(o.addr, sd->listen_url, sizeof(sd->listen_url));
	start_loop(lfd, sfd);
	if (sub_init() != 0)
		errx(EXIT_TEMP, "cannot start the subscriptions");
	if (presence_init(o.grace * 1000) != 0)
		errx(EXIT_TEMP, "cannot start presence");
	if (o.ready) {
		printf("sessd: listening on %s\n", sd->listen_url);
		if (fflush(stdout) != 0)
			err(EXIT_TEMP, "stdout");
	}
	if (sd->verbose)
		logx("serving %s on %s", sd->db, sd->listen_url);
	serve();
	stop_all(o.addr);
	return tool_finish(0);
}
